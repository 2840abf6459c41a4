//! `ale auction quote` (formats.md: the Dutch auction at one moment, streamed) and
//! `ale liquidate` (one account through the tiers; the event log and the final ledger).
//!
//! The bidders file and the venue file are read by `ale_format::liquidation` (their wire types)
//! and converted to the domain types of `ale-liquidation` here; the output lines are written
//! here (docs/formats.md, "ale liquidate").

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use ale_certify::{CertPolicy, CertifyError};
use ale_core::{Account, AccountId, Amount, Asset};
use ale_format::liquidation::{
    parse_bidders, parse_venue, AuctionChoice, DepthFile, LiquidationFile, LossChoice, VenueFile,
    AUCTION_PARAM_KEYS,
};
use ale_format::{parse_market, parse_portfolio};
use ale_liquidation::{
    driver, quote, AuctionKind, AuctionParams, Bidder, CertificateGate, DepthLevel, DepthModel,
    Engine, Holder, LiquidationParams, LossMode, NotionalCap, QuoteInput, Record, RecordKind,
    SealedPricing, Stage,
};
use ale_risk::policy_by_name;
use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use crate::cmd_verify::{dev_certificate, dev_verifying_keys, DEV_QUORUM};
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
    /// Start the liquidation without a certificate (the gate off; also `"certificate_gate":
    /// false` in the venue file's `liquidation`).
    #[arg(long)]
    pub no_certificate_gate: bool,
    /// The portfolio file.
    pub portfolio: PathBuf,
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The bidders of a bidders file (`ale_format::liquidation`), as the engine registers them.
fn bidders_from_file(text: &str, source: &str) -> anyhow::Result<Vec<(Bidder, Account)>> {
    let (files, ignored) = parse_bidders(text, source)?;
    for key in ignored {
        eprintln!("ale: warning: {source}: unknown key '{key}' ignored");
    }
    files
        .iter()
        .map(|b| {
            let bidder = Bidder {
                name: b.name.clone(),
                owner: b.owner().to_string(),
                max_price_fraction: b.max_price_fraction,
                insolvent_premium_fraction: b.insolvent_premium_fraction(),
                max_share: b.max_share(),
            };
            Ok((bidder, b.capital().map_err(|e| anyhow!("{source}: {e}"))?))
        })
        .collect()
}

/// The venue side of a run (from the venue file).
struct Venue {
    fund: Account,
    fund_max_notional: Option<Amount>,
    pools: Vec<(String, Account, Option<Amount>)>,
    providers: Vec<(String, Amount)>,
    params: LiquidationParams,
}

/// The venue file's `liquidation` object as the engine's parameters (the defaults where a key is
/// absent); the engine's checks name the field under `liquidation.`.
fn liquidation_params(l: &LiquidationFile) -> anyhow::Result<LiquidationParams> {
    let prefix = |e: String| e.replacen("invalid '", "invalid 'liquidation.", 1);
    let mut auction = AuctionParams::default();
    for (value, slot) in [
        (l.start_fraction, &mut auction.start_fraction),
        (l.fast_cutoff_fraction, &mut auction.fast_cutoff_fraction),
        (l.fast_s, &mut auction.fast_s),
        (l.slow_s, &mut auction.slow_s),
        (l.insolvent_s, &mut auction.insolvent_s),
        (l.liquidator_fee_rate, &mut auction.liquidator_fee_rate),
        (l.buffer_fraction, &mut auction.buffer_fraction),
    ] {
        if let Some(v) = value {
            *slot = v;
        }
    }
    auction
        .validate()
        .map_err(|e| anyhow!(prefix(e.to_string())))?;
    let mut p = LiquidationParams {
        auction,
        ..LiquidationParams::default()
    };
    let window_s = l.sealed_window_s.unwrap_or(60.0);
    p.auction_kind = match l.auction {
        None | Some(AuctionChoice::Dutch) => AuctionKind::Dutch,
        Some(AuctionChoice::SealedFirst) => AuctionKind::Sealed {
            window_s,
            pricing: SealedPricing::FirstPrice,
        },
        Some(AuctionChoice::SealedSecond) => AuctionKind::Sealed {
            window_s,
            pricing: SealedPricing::SecondPrice,
        },
    };
    if let Some(x) = l.backstop_fee_rate {
        p.backstop_fee_rate = x;
    }
    if let Some(x) = l.dust_notional {
        p.dust_notional = x.0;
    }
    if let Some(x) = l.min_fill_notional {
        p.min_fill_notional = x.0;
    }
    if let Some(x) = l.max_slippage {
        p.max_slippage = x;
    }
    if let Some(x) = l.credit_premium_rate {
        p.credit_premium_rate = x;
    }
    if let Some(s) = &l.settlement_asset {
        p.settlement_asset =
            Asset::new(s).map_err(|e| anyhow!("invalid 'liquidation.settlement_asset': {e}"))?;
    }
    if let Some(on) = l.certificate_gate {
        p.certificate_gate.enabled = on;
    }
    p.loss_mode = match l.loss_mode {
        None | Some(LossChoice::Socialised) => LossMode::SocialisedProRata,
        Some(LossChoice::Adl) => LossMode::AutoDeleverage,
    };
    match &l.depth {
        None => {}
        Some(DepthFile::Levels { levels }) => {
            p.depth = DepthModel::Levels(
                levels
                    .iter()
                    .map(|x| DepthLevel {
                        slippage: x.slippage,
                        notional: x.notional,
                    })
                    .collect(),
            );
        }
        Some(DepthFile::Linear {
            half_spread,
            impact_per_notional,
        }) => {
            p.depth = DepthModel::Linear {
                half_spread: half_spread.unwrap_or(0.001),
                impact_per_notional: impact_per_notional.unwrap_or(1e-7),
            };
        }
    }
    if let Some(c) = l.notional_cap {
        p.notional_cap = Some(NotionalCap {
            window_s: c.window_s as i64,
            max_notional: c.max_notional.0,
        });
    }
    p.validate().map_err(|e| anyhow!(prefix(e.to_string())))?;
    Ok(p)
}

/// The venue of a run: the venue file (`ale_format::liquidation`), or an empty fund and the
/// default parameters without one.
fn venue_from_file(text: Option<&str>, source: &str) -> anyhow::Result<Venue> {
    let (file, ignored) = match text {
        Some(text) => parse_venue(text, source)?,
        None => (VenueFile::default(), Vec::new()),
    };
    for key in ignored {
        eprintln!("ale: warning: {source}: unknown key '{key}' ignored");
    }
    let at = |e: ale_format::FormatError| anyhow!("{source}: {e}");
    let params = match &file.liquidation {
        Some(l) => liquidation_params(l).map_err(|e| anyhow!("{source}: {e}"))?,
        None => LiquidationParams::default(),
    };
    Ok(Venue {
        fund: file.insurance_fund_account().map_err(at)?,
        fund_max_notional: file.insurance_fund_max_notional(),
        pools: file
            .backstop_pools
            .iter()
            .map(|p| {
                Ok((
                    p.name.clone(),
                    p.capital().map_err(at)?,
                    p.max_notional.map(|a| a.0),
                ))
            })
            .collect::<anyhow::Result<_>>()?,
        providers: file
            .credit_providers
            .iter()
            .map(|c| (c.name.clone(), c.amount.0))
            .collect(),
        params,
    })
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

/// What became of the certificate of the account liquidated by `ale liquidate`.
enum CertificateStatus {
    /// Built and checked by the verifier; the engine's gate checks it again.
    Verified { bytes: usize, cost: u64 },
    /// The certificate builder finds the account not liquidatable: none is needed (and the
    /// engine, finding the same, does nothing).
    NotNeeded(String),
    /// No certificate can be built (too close to call, not provable at one scenario, a policy
    /// or account format v1 does not certify): the gate refuses the liquidation.
    NotCertifiable(String),
    /// The gate is off.
    Off,
}

impl CertificateStatus {
    fn json(&self) -> Value {
        match self {
            CertificateStatus::Verified { bytes, cost } => {
                json!({"status": "verified", "bytes": bytes, "cost": cost})
            }
            CertificateStatus::NotNeeded(reason) => {
                json!({"status": "not_needed", "reason": reason})
            }
            CertificateStatus::NotCertifiable(reason) => {
                json!({"status": "not_certifiable", "reason": reason})
            }
            CertificateStatus::Off => json!({"status": "off"}),
        }
    }

    fn text(&self) -> String {
        match self {
            CertificateStatus::Verified { bytes, cost } => {
                format!("verified ({bytes} bytes, verifier cost {cost})")
            }
            CertificateStatus::NotNeeded(reason) => format!("not needed: {reason}"),
            CertificateStatus::NotCertifiable(reason) => {
                format!("not certifiable, the liquidation is refused: {reason}")
            }
            CertificateStatus::Off => "gate off".into(),
        }
    }
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
    let bidders = bidders_from_file(
        &read(&args.bidders)?,
        &format!("bidders file {}", args.bidders.display()),
    )?;
    let venue_text = args.fund.as_ref().map(read).transpose()?;
    let venue = venue_from_file(
        venue_text.as_deref(),
        &format!(
            "venue file {}",
            args.fund
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string())
        ),
    )?;
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
    // The certificate gate: the liquidation starts only with a certificate that verifies. The
    // CLI builds it itself (as `ale certify` does: development keys, 2 of 3) and the engine
    // checks it with those keys.
    let mut params = venue.params;
    let gate_on = params.certificate_gate.enabled && !args.no_certificate_gate;
    let mut certificate = None;
    let status = if gate_on {
        let (oracle, venue_keys) = dev_verifying_keys();
        params.certificate_gate = CertificateGate::new(oracle, venue_keys, DEV_QUORUM);
        let target_account = accounts
            .iter()
            .find(|a| a.id == target)
            .ok_or_else(|| anyhow!("account '{target}' is not in the portfolio file"))?;
        let built =
            CertPolicy::from_name(&args.policy, policy_params.as_deref()).and_then(|cert_policy| {
                dev_certificate(&cert_policy, &loaded.snapshot, &accounts, target_account, 1)
            });
        match built {
            Ok(cert) => {
                let status = CertificateStatus::Verified {
                    bytes: cert.bytes.len(),
                    cost: cert.verdict.cost.total(),
                };
                certificate = Some(cert.bytes);
                status
            }
            Err(e @ CertifyError::NotLiquidatable { .. }) => {
                CertificateStatus::NotNeeded(e.to_string())
            }
            Err(e) => CertificateStatus::NotCertifiable(e.to_string()),
        }
    } else {
        params.certificate_gate = CertificateGate::off();
        CertificateStatus::Off
    };
    let mut engine = Engine::new(policy, loaded.snapshot, params)?;
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
    driver::run_with_certificates(&mut engine, &[(target.clone(), certificate)], start)?;
    let after = engine.health(&Holder::Trader(target.clone()))?;
    let stage = engine.case(&target).map(|c| c.stage);
    let refused = engine.log().iter().find(|r| {
        r.kind == RecordKind::Refused
            && r.account.as_ref() == Some(&target)
            && r.details
                .iter()
                .any(|(k, v)| *k == "gate" && v == "certificate")
    });
    let outcome = match (stage, refused) {
        (None, Some(_)) => "refused",
        _ => stage_name(stage),
    };
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
                "outcome": outcome,
                "equity_before": before.equity.to_string(),
                "maintenance_margin_before": before.maintenance.to_string(),
                "equity_after": after.equity.to_string(),
                "maintenance_margin_after": after.maintenance.to_string(),
                "certificate": status.json(),
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
        writeln!(out, "certificate: {}", status.text())?;
        writeln!(
            out,
            "{target}: {} (equity {} / maintenance {} before; {} / {} after)",
            outcome, before.equity, before.maintenance, after.equity, after.maintenance
        )?;
    }
    out.flush()?;
    Ok(Outcome::Ok)
}
