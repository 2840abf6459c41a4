//! `ale price` and `ale iv`: Black-76 streamed over JSON lines (formats.md).

use std::io;

use ale_core::OptionKind;
use ale_pricing::{implied_vol, Black76};
use clap::Args;
use serde_json::{json, Map, Value};

use crate::json_fields::{number, optional_number, parse_object, string};
use crate::output::stream_json_lines;
use crate::Outcome;

/// Black-76 price and Greeks, one JSON line in, one out.
///
/// Reads `{"kind":"call"|"put","forward":F,"strike":K,"t":T,"vol":V,"rate":R}` lines on stdin
/// (`rate` optional, 0) and writes `{"price","delta","gamma","vega","theta","vanna","volga"}`
/// for each, in order. A bad line gives `{"error":"...","line":N}` in its place; the exit status
/// is then 1.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  echo '{\"kind\":\"call\",\"forward\":100,\"strike\":110,\"t\":0.5,\"vol\":0.6}' | ale price\n\n\
Price = e^(-rate·t)·Black(F,K,t,vol); delta, gamma on the forward; vega per 1.00 of vol;\n\
theta = -∂price/∂t per year; vanna = ∂²price/∂F∂vol; volga = ∂²price/∂vol²."
)]
pub struct PriceArgs {}

/// Implied vol of Black-76 prices, one JSON line in, one out.
///
/// Reads `{"kind":"call"|"put","forward":F,"strike":K,"t":T,"price":P,"rate":R}` lines on stdin
/// and writes `{"vol":V}` for each, or `{"error":"...","line":N}` where no vol gives that price
/// (below intrinsic, above the upper bound, non-finite input); the exit status is then 1.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  echo '{\"kind\":\"put\",\"forward\":100,\"strike\":90,\"t\":0.25,\"price\":2.5}' | ale iv"
)]
pub struct IvArgs {}

fn option_kind(obj: &Map<String, Value>) -> Result<OptionKind, String> {
    match string(obj, "kind")? {
        "call" => Ok(OptionKind::Call),
        "put" => Ok(OptionKind::Put),
        other => Err(format!(
            "invalid 'kind': must be \"call\" or \"put\", got \"{other}\""
        )),
    }
}

/// Answers one `ale price` line.
pub fn price_line(line: &str) -> Result<Value, String> {
    let obj = parse_object(line)?;
    let kind = option_kind(&obj)?;
    let forward = number(&obj, "forward")?;
    let strike = number(&obj, "strike")?;
    let t = number(&obj, "t")?;
    let vol = number(&obj, "vol")?;
    let rate = optional_number(&obj, "rate")?.unwrap_or(0.0);
    let option = Black76::new(kind, forward, strike, t, vol, rate).map_err(|e| e.to_string())?;
    let g = option.greeks();
    Ok(json!({
        "price": g.price, "delta": g.delta, "gamma": g.gamma, "vega": g.vega,
        "theta": g.theta, "vanna": g.vanna, "volga": g.volga,
    }))
}

/// Answers one `ale iv` line.
pub fn iv_line(line: &str) -> Result<Value, String> {
    let obj = parse_object(line)?;
    let kind = option_kind(&obj)?;
    let forward = number(&obj, "forward")?;
    let strike = number(&obj, "strike")?;
    let t = number(&obj, "t")?;
    let price = number(&obj, "price")?;
    let rate = optional_number(&obj, "rate")?.unwrap_or(0.0);
    let vol = implied_vol(kind, forward, strike, t, price, rate).map_err(|e| e.to_string())?;
    Ok(json!({ "vol": vol }))
}

pub fn run_price(_args: PriceArgs) -> anyhow::Result<Outcome> {
    stream_json_lines(io::stdin().lock(), io::stdout().lock(), price_line)
}

pub fn run_iv(_args: IvArgs) -> anyhow::Result<Outcome> {
    stream_json_lines(io::stdin().lock(), io::stdout().lock(), iv_line)
}
