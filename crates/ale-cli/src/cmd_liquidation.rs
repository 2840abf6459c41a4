//! `ale auction quote` (formats.md: the Dutch auction at one moment, streamed) and
//! `ale liquidate` (one account through the tiers; the event log and the final ledger).
//!
//! The bidders file, the venue file and the output lines are this module's wire formats
//! (documented in docs/formats.md, "ale liquidate"); they are converted to and from the domain
//! types of `ale-liquidation` here, at one boundary.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use ale_core::{Account, AccountId, Amount, Asset};
use ale_format::portfolio::{account_from_file, PortfolioFile};
use ale_format::{parse_market, parse_portfolio};
use ale_liquidation::{
    driver, quote, AuctionKind, AuctionParams, Bidder, DepthLevel, DepthModel, Engine, Holder,
    LiquidationParams, LossMode, NotionalCap, QuoteInput, Record, SealedPricing, Stage,
};
use ale_risk::policy_by_name;
use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use crate::json_fields::{number, optional_number, parse_object};
use crate::output::stream_json_lines;
use crate::Outcome;

/// The tier-2 Dutch auction of the liquidation: its price rule at any moment.
#[derive(Subcommand, Debug)]
pub enum AuctionCommand {
    /// The auction's price at one moment, one JSON line in, one out (formats.md).
    ///
    /// Reads `{"equity":E,"maintenance_margin":M,"elapsed_s":S,"reserved_cash":R,"params":{...}}`
    /// lines and writes `{"phase","discount","buffer_margin","max_fraction","bid_price"}` for
    /// each. A bad line gives `{"error":"...","line":N}` in its place; the exit status is then 1.
    #[command(
        after_help = "Example:\n  echo '{\"equity\":90,\"maintenance_margin\":100,\"elapsed_s\":300}' | ale auction quote\n\n\
params (any subset): start_fraction 0.95, fast_cutoff_fraction 0.70, fast_s 900, slow_s 43200,\n\
insolvent_s 3600, liquidator_fee_rate 0.10, buffer_fraction 0.15."
    )]
    Quote(QuoteArgs),
}

/// Arguments of `ale auction quote` (none: it reads stdin).
#[derive(Args, Debug)]
pub struct QuoteArgs {}

pub fn run_auction(cmd: AuctionCommand) -> anyhow::Result<Outcome> {
    match cmd {
        AuctionCommand::Quote(_) => {
            stream_json_lines(io::stdin().lock(), io::stdout().lock(), quote_line)
        }
    }
}

const AUCTION_PARAM_KEYS: [&str; 7] = [
    "start_fraction",
    "fast_cutoff_fraction",
    "fast_s",
    "slow_s",
    "insolvent_s",
    "liquidator_fee_rate",
    "buffer_fraction",
];

/// Overrides the auction parameters present in `obj` (other keys are refused by the caller when
/// `strict`).
fn auction_params(
    obj: &Map<String, Value>,
    prefix: &str,
    strict: bool,
) -> Result<AuctionParams, String> {
    if strict {
        if let Some(k) = obj
            .keys()
            .find(|k| !AUCTION_PARAM_KEYS.contains(&k.as_str()))
        {
            return Err(format!(
                "unknown '{prefix}{k}': expected one of {}",
                AUCTION_PARAM_KEYS.join(", ")
            ));
        }
    }
    let mut p = AuctionParams::default();
    let field =
        |k: &str| optional_number(obj, k).map_err(|e| e.replacen('\'', &format!("'{prefix}"), 1));
    for (key, slot) in [
        ("start_fraction", &mut p.start_fraction),
        ("fast_cutoff_fraction", &mut p.fast_cutoff_fraction),
        ("fast_s", &mut p.fast_s),
        ("slow_s", &mut p.slow_s),
        ("insolvent_s", &mut p.insolvent_s),
        ("liquidator_fee_rate", &mut p.liquidator_fee_rate),
        ("buffer_fraction", &mut p.buffer_fraction),
    ] {
        if let Some(v) = field(key)? {
            *slot = v;
        }
    }
    p.validate().map_err(|e| {
        e.to_string()
            .replacen("invalid '", &format!("invalid '{prefix}"), 1)
    })?;
    Ok(p)
}

/// Answers one `ale auction quote` line.
pub fn quote_line(line: &str) -> Result<Value, String> {
    let obj = parse_object(line)?;
    let params = match obj.get("params") {
        None | Some(Value::Null) => AuctionParams::default(),
        Some(Value::Object(p)) => auction_params(p, "params.", true)?,
        Some(_) => return Err("invalid 'params': expected an object".into()),
    };
    let input = QuoteInput {
        equity: number(&obj, "equity")?,
        maintenance_margin: number(&obj, "maintenance_margin")?,
        elapsed_s: number(&obj, "elapsed_s")?,
        reserved_cash: optional_number(&obj, "reserved_cash")?.unwrap_or(0.0),
    };
    let q = quote(&input, &params).map_err(|e| e.to_string())?;
    Ok(json!({
        "phase": q.phase.name(),
        "discount": q.discount,
        "buffer_margin": q.buffer_margin,
        "max_fraction": q.max_fraction,
        "bid_price": q.bid_price,
    }))
}

/// Runs one account through the liquidation tiers and prints the event log and the final
/// ledger.
///
/// The account is the portfolio file's first (or `--account`); the file's other accounts are
/// the rest of the venue (they bear any socialised loss). Bidders come from the bidders file,
/// the insurance fund, backstop pools, backstop-credit providers and the liquidation
/// parameters from the venue file (docs/formats.md, "ale liquidate"). Time starts at the market
/// file's `time`; the auction runs in simulated time.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ale liquidate --market market.json --policy ramm --bidders bidders.json --fund venue.json --json alice.json\n\n\
Output with --json: one JSON line per event ({\"type\":\"event\",...}), then one with the final\n\
ledger ({\"type\":\"ledger\",...}), then a summary ({\"type\":\"outcome\",...})."
)]
pub struct LiquidateArgs {
    /// The market file (formats.md).
    #[arg(long)]
    pub market: PathBuf,
    /// The margin policy: ramm, static, oracle-adjusted.
    #[arg(long, default_value = "ramm")]
    pub policy: String,
    /// A TOML file of the policy's parameters.
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// The bidders file (registered liquidators).
    #[arg(long)]
    pub bidders: PathBuf,
    /// The venue file: insurance fund, backstop pools, credit providers, liquidation parameters.
    #[arg(long)]
    pub fund: Option<PathBuf>,
    /// Which account of the portfolio file to liquidate (default: the first).
    #[arg(long)]
    pub account: Option<String>,
    /// JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The portfolio file.
    pub portfolio: PathBuf,
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn parse_json(text: &str, what: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).map_err(|e| anyhow!("{what}: not valid JSON: {e}"))
}

fn amount_field(obj: &Map<String, Value>, path: &str, key: &str) -> anyhow::Result<Option<Amount>> {
    let bad = |m: String| anyhow!("invalid '{path}{key}': {m}");
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Amount::parse_decimal(s)
            .map(Some)
            .map_err(|e| bad(e.to_string())),
        Some(Value::Number(n)) => Amount::parse_decimal(&n.to_string())
            .map(Some)
            .map_err(|e| bad(e.to_string())),
        Some(_) => Err(bad("expected a decimal string or a number".into())),
    }
}

fn num_field(obj: &Map<String, Value>, path: &str, key: &str) -> anyhow::Result<Option<f64>> {
    optional_number(obj, key).map_err(|e| anyhow!("{}", e.replacen('\'', &format!("'{path}"), 1)))
}

fn object<'a>(v: &'a Value, path: &str) -> anyhow::Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| anyhow!("invalid '{path}': expected an object"))
}

/// An account from `{"collateral":[...],"positions":[...]}` (the portfolio file's fields).
fn holdings(obj: &Map<String, Value>, name: &str, path: &str) -> anyhow::Result<Account> {
    let mut fields = Map::new();
    fields.insert("account".into(), Value::String(name.into()));
    for k in ["collateral", "positions"] {
        if let Some(v) = obj.get(k) {
            fields.insert(k.into(), v.clone());
        }
    }
    let file: PortfolioFile = serde_json::from_value(Value::Object(fields))
        .map_err(|e| anyhow!("invalid '{path}': {e}"))?;
    account_from_file(&file).map_err(|e| anyhow!("{path}: {e}"))
}

fn known_keys(obj: &Map<String, Value>, path: &str, keys: &[&str]) -> anyhow::Result<()> {
    match obj.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(anyhow!(
            "unknown '{path}{k}': expected one of {}",
            keys.join(", ")
        )),
        None => Ok(()),
    }
}

/// The bidders file: an array of bidders, or `{"bidders":[...]}`.
fn parse_bidders(text: &str) -> anyhow::Result<Vec<(Bidder, Account)>> {
    let doc = parse_json(text, "bidders file")?;
    let list = match &doc {
        Value::Array(a) => a.clone(),
        Value::Object(o) => match o.get("bidders") {
            Some(Value::Array(a)) => a.clone(),
            _ => return Err(anyhow!("invalid 'bidders': expected an array")),
        },
        _ => {
            return Err(anyhow!(
                "bidders file: expected an array or {{\"bidders\": [...]}}"
            ))
        }
    };
    let mut out = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let path = format!("bidders[{i}].");
        let o = object(v, &format!("bidders[{i}]"))?;
        known_keys(
            o,
            &path,
            &[
                "name",
                "owner",
                "max_price_fraction",
                "insolvent_premium_fraction",
                "max_share",
                "collateral",
                "positions",
            ],
        )?;
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("missing '{path}name'"))?
            .to_string();
        let owner = match o.get("owner") {
            None | Some(Value::Null) => name.clone(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(anyhow!("invalid '{path}owner': expected a string")),
        };
        let bidder = Bidder {
            owner,
            max_price_fraction: num_field(o, &path, "max_price_fraction")?
                .ok_or_else(|| anyhow!("missing '{path}max_price_fraction'"))?,
            insolvent_premium_fraction: num_field(o, &path, "insolvent_premium_fraction")?
                .unwrap_or(0.0),
            max_share: num_field(o, &path, "max_share")?.unwrap_or(1.0),
            name: name.clone(),
        };
        let capital = holdings(o, &name, &format!("bidders[{i}]"))?;
        out.push((bidder, capital));
    }
    Ok(out)
}

/// The venue side of a run (from the venue file).
struct Venue {
    fund: Account,
    fund_max_notional: Option<Amount>,
    pools: Vec<(String, Account, Option<Amount>)>,
    providers: Vec<(String, Amount)>,
    params: LiquidationParams,
}

fn parse_liquidation_params(o: &Map<String, Value>) -> anyhow::Result<LiquidationParams> {
    let path = "liquidation.";
    let mut keys: Vec<&str> = AUCTION_PARAM_KEYS.to_vec();
    keys.extend([
        "auction",
        "sealed_window_s",
        "backstop_fee_rate",
        "dust_notional",
        "min_fill_notional",
        "depth",
        "max_slippage",
        "notional_cap",
        "loss_mode",
        "credit_premium_rate",
        "settlement_asset",
    ]);
    known_keys(o, path, &keys)?;
    let mut p = LiquidationParams {
        auction: auction_params(o, path, false).map_err(|e| anyhow!(e))?,
        ..LiquidationParams::default()
    };
    let window_s = num_field(o, path, "sealed_window_s")?.unwrap_or(60.0);
    p.auction_kind = match o.get("auction").and_then(Value::as_str) {
        None | Some("dutch") => AuctionKind::Dutch,
        Some("sealed-first") => AuctionKind::Sealed { window_s, pricing: SealedPricing::FirstPrice },
        Some("sealed-second") => AuctionKind::Sealed { window_s, pricing: SealedPricing::SecondPrice },
        Some(other) => {
            return Err(anyhow!(
                "invalid '{path}auction': expected dutch, sealed-first or sealed-second, got \"{other}\""
            ))
        }
    };
    if let Some(x) = num_field(o, path, "backstop_fee_rate")? {
        p.backstop_fee_rate = x;
    }
    if let Some(x) = amount_field(o, path, "dust_notional")? {
        p.dust_notional = x;
    }
    if let Some(x) = amount_field(o, path, "min_fill_notional")? {
        p.min_fill_notional = x;
    }
    if let Some(x) = num_field(o, path, "max_slippage")? {
        p.max_slippage = x;
    }
    if let Some(x) = num_field(o, path, "credit_premium_rate")? {
        p.credit_premium_rate = x;
    }
    if let Some(s) = o.get("settlement_asset").and_then(Value::as_str) {
        p.settlement_asset =
            Asset::new(s).map_err(|e| anyhow!("invalid '{path}settlement_asset': {e}"))?;
    }
    p.loss_mode = match o.get("loss_mode").and_then(Value::as_str) {
        None | Some("socialised") => LossMode::SocialisedProRata,
        Some("adl") => LossMode::AutoDeleverage,
        Some(other) => {
            return Err(anyhow!(
                "invalid '{path}loss_mode': expected socialised or adl, got \"{other}\""
            ))
        }
    };
    if let Some(d) = o.get("depth") {
        let d = object(d, "liquidation.depth")?;
        p.depth = if let Some(levels) = d.get("levels") {
            let levels = levels
                .as_array()
                .ok_or_else(|| anyhow!("invalid 'liquidation.depth.levels': expected an array"))?;
            let mut out = Vec::new();
            for (i, l) in levels.iter().enumerate() {
                let lp = format!("liquidation.depth.levels[{i}].");
                let l = object(l, &lp)?;
                out.push(DepthLevel {
                    slippage: num_field(l, &lp, "slippage")?
                        .ok_or_else(|| anyhow!("missing '{lp}slippage'"))?,
                    notional: num_field(l, &lp, "notional")?
                        .ok_or_else(|| anyhow!("missing '{lp}notional'"))?,
                });
            }
            DepthModel::Levels(out)
        } else {
            let dp = "liquidation.depth.";
            DepthModel::Linear {
                half_spread: num_field(d, dp, "half_spread")?.unwrap_or(0.001),
                impact_per_notional: num_field(d, dp, "impact_per_notional")?.unwrap_or(1e-7),
            }
        };
    }
    if let Some(c) = o.get("notional_cap") {
        let c = object(c, "liquidation.notional_cap")?;
        let cp = "liquidation.notional_cap.";
        let window =
            num_field(c, cp, "window_s")?.ok_or_else(|| anyhow!("missing '{cp}window_s'"))?;
        p.notional_cap = Some(NotionalCap {
            window_s: window as i64,
            max_notional: amount_field(c, cp, "max_notional")?
                .ok_or_else(|| anyhow!("missing '{cp}max_notional'"))?,
        });
    }
    p.validate().map_err(|e| anyhow!("venue file: {e}"))?;
    Ok(p)
}

fn parse_venue(text: Option<&str>) -> anyhow::Result<Venue> {
    let fund_id = || AccountId::new("insurance_fund").unwrap_or_else(|_| unreachable!("valid"));
    let mut venue = Venue {
        fund: Account::new(fund_id()),
        fund_max_notional: None,
        pools: Vec::new(),
        providers: Vec::new(),
        params: LiquidationParams::default(),
    };
    let Some(text) = text else {
        return Ok(venue);
    };
    let doc = parse_json(text, "venue file")?;
    let o = object(&doc, "venue file")?;
    known_keys(
        o,
        "",
        &[
            "insurance_fund",
            "backstop_pools",
            "credit_providers",
            "liquidation",
        ],
    )?;
    if let Some(f) = o.get("insurance_fund") {
        let f = object(f, "insurance_fund")?;
        known_keys(
            f,
            "insurance_fund.",
            &["collateral", "positions", "max_notional"],
        )?;
        venue.fund = holdings(f, "insurance_fund", "insurance_fund")?;
        venue.fund_max_notional = amount_field(f, "insurance_fund.", "max_notional")?;
    }
    if let Some(pools) = o.get("backstop_pools") {
        let pools = pools
            .as_array()
            .ok_or_else(|| anyhow!("invalid 'backstop_pools': expected an array"))?;
        for (i, p) in pools.iter().enumerate() {
            let path = format!("backstop_pools[{i}]");
            let p = object(p, &path)?;
            known_keys(
                p,
                &format!("{path}."),
                &["name", "collateral", "positions", "max_notional"],
            )?;
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("missing '{path}.name'"))?
                .to_string();
            let account = holdings(p, &name, &path)?;
            let max = amount_field(p, &format!("{path}."), "max_notional")?;
            venue.pools.push((name, account, max));
        }
    }
    if let Some(cps) = o.get("credit_providers") {
        let cps = cps
            .as_array()
            .ok_or_else(|| anyhow!("invalid 'credit_providers': expected an array"))?;
        for (i, c) in cps.iter().enumerate() {
            let path = format!("credit_providers[{i}].");
            let c = object(c, &path)?;
            known_keys(c, &path, &["name", "amount"])?;
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("missing '{path}name'"))?
                .to_string();
            let amount = amount_field(c, &path, "amount")?
                .ok_or_else(|| anyhow!("missing '{path}amount'"))?;
            venue.providers.push((name, amount));
        }
    }
    if let Some(l) = o.get("liquidation") {
        venue.params = parse_liquidation_params(object(l, "liquidation")?)?;
    }
    Ok(venue)
}

fn record_json(engine: &Engine, r: &Record) -> Value {
    let details: Map<String, Value> = r
        .details
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::String(v.clone())))
        .collect();
    let legs: Vec<Value> = r
        .op
        .iter()
        .flat_map(|op| op.legs.iter())
        .map(|leg| {
            let name_h = |h| engine.ledger().holder_of(h).map_or(String::new(), ToString::to_string);
            json!({
                "from": name_h(leg.from),
                "to": name_h(leg.to),
                "unit": engine.ledger().unit_of(leg.unit).map_or(String::new(), ToString::to_string),
                "amount": leg.amount.to_string(),
            })
        })
        .collect();
    json!({
        "type": "event",
        "seq": r.seq,
        "at": r.at.to_string(),
        "account": r.account.as_ref().map(AccountId::as_str),
        "kind": r.kind.name(),
        "reason": r.reason,
        "details": details,
        "op": r.op.as_ref().map(|o| o.id.0),
        "legs": legs,
    })
}

fn stage_name(stage: Option<Stage>) -> &'static str {
    match stage {
        None => "healthy",
        Some(Stage::Frozen) => "frozen",
        Some(Stage::Auction) => "auction",
        Some(Stage::Restored) => "restored",
        Some(Stage::Closed) => "closed",
    }
}

pub fn run_liquidate(args: LiquidateArgs) -> anyhow::Result<Outcome> {
    let policy_params = args.params.as_ref().map(read).transpose()?;
    let policy = policy_by_name(&args.policy, policy_params.as_deref())?;
    let loaded = parse_market(&read(&args.market)?)
        .with_context(|| format!("market file {}", args.market.display()))?;
    for key in &loaded.ignored_keys {
        eprintln!(
            "ale: warning: {}: unknown key '{key}' ignored",
            args.market.display()
        );
    }
    let start = loaded.snapshot.time();
    let (accounts, ignored) = parse_portfolio(&read(&args.portfolio)?)
        .map_err(|e| anyhow!("{}: {e}", args.portfolio.display()))?;
    for key in ignored {
        eprintln!(
            "ale: warning: {}: unknown key '{key}' ignored",
            args.portfolio.display()
        );
    }
    let bidders = parse_bidders(&read(&args.bidders)?)
        .with_context(|| format!("bidders file {}", args.bidders.display()))?;
    let venue_text = args.fund.as_ref().map(read).transpose()?;
    let venue = parse_venue(venue_text.as_deref()).with_context(|| {
        format!(
            "venue file {}",
            args.fund
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string())
        )
    })?;
    let target = match &args.account {
        Some(name) => AccountId::new(name).map_err(|e| anyhow!(e))?,
        None => accounts
            .first()
            .map(|a| a.id.clone())
            .ok_or_else(|| anyhow!("{}: no account", args.portfolio.display()))?,
    };
    if !accounts.iter().any(|a| a.id == target) {
        return Err(anyhow!(
            "account '{target}' is not in {}",
            args.portfolio.display()
        ));
    }
    let mut engine = Engine::new(policy, loaded.snapshot, venue.params)?;
    for a in &accounts {
        engine.register_trader(a, a.id.as_str(), start)?;
    }
    engine.fund_insurance(&venue.fund, venue.fund_max_notional, start)?;
    for (name, account, max) in &venue.pools {
        engine.register_pool(name, account, *max, start)?;
    }
    for (name, amount) in &venue.providers {
        engine.register_credit_provider(name, *amount, start)?;
    }
    for (bidder, capital) in bidders {
        engine.register_bidder(bidder, &capital, start)?;
    }
    let before = engine.health(&Holder::Trader(target.clone()))?;
    driver::run(&mut engine, std::slice::from_ref(&target), start)?;
    let after = engine.health(&Holder::Trader(target.clone()))?;
    let stage = engine.case(&target).map(|c| c.stage);
    let mut out = io::stdout().lock();
    if args.json {
        for r in engine.log() {
            serde_json::to_writer(&mut out, &record_json(&engine, r))?;
            out.write_all(b"\n")?;
        }
        let balances: Vec<Value> = engine
            .ledger()
            .entries()
            .into_iter()
            .map(|(h, u, a)| json!({"holder": h.to_string(), "unit": u.to_string(), "amount": a.to_string()}))
            .collect();
        serde_json::to_writer(
            &mut out,
            &json!({"type": "ledger", "format": "ale.liquidation.v1", "balances": balances}),
        )?;
        out.write_all(b"\n")?;
        serde_json::to_writer(
            &mut out,
            &json!({
                "type": "outcome",
                "account": target.as_str(),
                "policy": engine.policy_name(),
                "outcome": stage_name(stage),
                "equity_before": before.equity.to_string(),
                "maintenance_margin_before": before.maintenance.to_string(),
                "equity_after": after.equity.to_string(),
                "maintenance_margin_after": after.maintenance.to_string(),
            }),
        )?;
        out.write_all(b"\n")?;
    } else {
        writeln!(
            out,
            "{:>4}  {:<20}  {:<20}  {:<10}  reason",
            "seq", "at", "event", "account"
        )?;
        for r in engine.log() {
            let details: Vec<String> = r.details.iter().map(|(k, v)| format!("{k}={v}")).collect();
            writeln!(
                out,
                "{:>4}  {:<20}  {:<20}  {:<10}  {}{}{}",
                r.seq,
                r.at.to_string(),
                r.kind.name(),
                r.account.as_ref().map_or("-", AccountId::as_str),
                r.reason,
                if details.is_empty() { "" } else { "; " },
                details.join(", ")
            )?;
        }
        writeln!(out)?;
        writeln!(out, "{:<32} {:<32} {:>24}", "holder", "unit", "balance")?;
        let mut by_holder: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (h, u, a) in engine.ledger().entries() {
            by_holder
                .entry(h.to_string())
                .or_default()
                .push((u.to_string(), a.to_string()));
        }
        for (h, rows) in by_holder {
            for (u, a) in rows {
                writeln!(out, "{h:<32} {u:<32} {a:>24}")?;
            }
        }
        writeln!(out)?;
        writeln!(
            out,
            "{target}: {} (equity {} / maintenance {} before; {} / {} after)",
            stage_name(stage),
            before.equity,
            before.maintenance,
            after.equity,
            after.maintenance
        )?;
    }
    out.flush()?;
    Ok(Outcome::Ok)
}
