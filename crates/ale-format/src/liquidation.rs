//! The files of `ale liquidate` (formats.md, "ale liquidate"): the bidders file (`--bidders
//! B.json`) and the venue file (`--fund F.json`).
//!
//! Parsing checks the structure, the types and the domains of every field and names the file and
//! the field in any error (`bidders file B.json: invalid 'bidders[0].max_share': must be in (0,
//! 1], got 1.5`). The wire types are converted to `ale-liquidation`'s domain types by the caller
//! (`ale-format` sits below `ale-liquidation` and cannot see them): every value a parsed file
//! holds converts.
//!
//! Strictness, as the format has always had it: unknown keys are errors in a bidder, in the
//! venue file, in its `insurance_fund`, `backstop_pools[]`, `credit_providers[]` and
//! `liquidation` objects; inside `depth`, `depth.levels[]` and `notional_cap` (and beside
//! `bidders` in the object form of the bidders file) they are ignored and returned, for the
//! caller to warn about. Inside `collateral` and `positions` the portfolio file's rules apply.

use ale_core::{Account, Amount, Asset, Rounding};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::portfolio::{account_from_file, CollateralBalanceFile, PortfolioFile, PositionFile};
use crate::wire::{FormatError, WireAmount};

/// The seven parameters of the Dutch auction (`ale auction quote`'s `params`), also keys of the
/// venue file's `liquidation` object.
pub const AUCTION_PARAM_KEYS: [&str; 7] = [
    "start_fraction",
    "fast_cutoff_fraction",
    "fast_s",
    "slow_s",
    "insolvent_s",
    "liquidator_fee_rate",
    "buffer_fraction",
];

/// One registered liquidator of the bidders file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BidderFile {
    /// Its name (required).
    pub name: String,
    /// Its owner (default: the name); a bidder never takes an account of the same owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// In a solvent auction the most it pays, a fraction of the value taken, [0, 1] (required).
    pub max_price_fraction: f64,
    /// In the insolvent auction it bids once the price is ≤ E − fraction·M, [0, 1] (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insolvent_premium_fraction: Option<f64>,
    /// The largest share of an account it takes in one fill, (0, 1] (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_share: Option<f64>,
    /// Its collateral, as in a portfolio file.
    pub collateral: Vec<CollateralBalanceFile>,
    /// Its positions, as in a portfolio file.
    pub positions: Vec<PositionFile>,
}

impl BidderFile {
    /// The owner, defaulting to the name.
    pub fn owner(&self) -> &str {
        self.owner.as_deref().unwrap_or(&self.name)
    }
    /// The insolvent premium fraction, default 0.
    pub fn insolvent_premium_fraction(&self) -> f64 {
        self.insolvent_premium_fraction.unwrap_or(0.0)
    }
    /// The largest share, default 1.
    pub fn max_share(&self) -> f64 {
        self.max_share.unwrap_or(1.0)
    }
    /// Its own account (named like the bidder).
    pub fn capital(&self) -> Result<Account, FormatError> {
        holdings_account(&self.name, &self.collateral, &self.positions)
    }
}

/// The venue file: the insurance fund, backstop pools, backstop-credit providers and the
/// liquidation parameters (every part optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VenueFile {
    /// The insurance fund's account and tier-1 capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insurance_fund: Option<FundFile>,
    /// Tier-1 backstop pools, in order (after the fund).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backstop_pools: Vec<PoolFile>,
    /// Backstop credit committed in advance, in the settlement asset.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credit_providers: Vec<CreditProviderFile>,
    /// The liquidation parameters (every key optional: the defaults otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liquidation: Option<LiquidationFile>,
}

impl VenueFile {
    /// The insurance fund's account (`insurance_fund`; empty without one).
    pub fn insurance_fund_account(&self) -> Result<Account, FormatError> {
        match &self.insurance_fund {
            Some(f) => holdings_account("insurance_fund", &f.collateral, &f.positions),
            None => holdings_account("insurance_fund", &[], &[]),
        }
    }
    /// The most notional the fund takes as the tier-1 backstop (None: its margin alone).
    pub fn insurance_fund_max_notional(&self) -> Option<Amount> {
        self.insurance_fund
            .as_ref()
            .and_then(|f| f.max_notional)
            .map(|a| a.0)
    }
}

/// The insurance fund of the venue file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FundFile {
    /// Its collateral.
    pub collateral: Vec<CollateralBalanceFile>,
    /// Its positions.
    pub positions: Vec<PositionFile>,
    /// The most notional it takes as the tier-1 backstop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_notional: Option<WireAmount>,
}

/// A backstop pool of the venue file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolFile {
    /// Its name (required).
    pub name: String,
    /// Its collateral.
    pub collateral: Vec<CollateralBalanceFile>,
    /// Its positions.
    pub positions: Vec<PositionFile>,
    /// The most notional it takes as a tier-1 backstop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_notional: Option<WireAmount>,
}

impl PoolFile {
    /// Its account (named like the pool).
    pub fn capital(&self) -> Result<Account, FormatError> {
        holdings_account(&self.name, &self.collateral, &self.positions)
    }
}

/// A backstop-credit provider of the venue file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreditProviderFile {
    /// Its name (required).
    pub name: String,
    /// What it commits, in the settlement asset (required, ≥ 0).
    pub amount: WireAmount,
}

/// The tier-2 auction of a solvent account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuctionChoice {
    /// `dutch` (the default).
    #[serde(rename = "dutch")]
    Dutch,
    /// `sealed-first`: sealed bids, the winner pays its own.
    #[serde(rename = "sealed-first")]
    SealedFirst,
    /// `sealed-second`: sealed bids, the winner pays the next-highest.
    #[serde(rename = "sealed-second")]
    SealedSecond,
}

/// The last step of the loss waterfall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LossChoice {
    /// `socialised` (the default): pro rata to settlement cash.
    #[serde(rename = "socialised")]
    Socialised,
    /// `adl`: auto-deleveraging.
    #[serde(rename = "adl")]
    Adl,
}

/// The tier-3 order-book model.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DepthFile {
    /// Explicit levels, walked in order.
    Levels {
        /// The levels.
        levels: Vec<LevelFile>,
    },
    /// Linear impact with a spread (a missing key takes its default: 0.001, 1e-7).
    Linear {
        /// Half the spread, a fraction of the mark.
        #[serde(skip_serializing_if = "Option::is_none")]
        half_spread: Option<f64>,
        /// Slippage per unit of notional.
        #[serde(skip_serializing_if = "Option::is_none")]
        impact_per_notional: Option<f64>,
    },
}

/// One level of an explicit book.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LevelFile {
    /// Distance from the mark, a fraction of it.
    pub slippage: f64,
    /// Notional offered there.
    pub notional: f64,
}

/// The per-underlying cap on market-sale notional per window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NotionalCapFile {
    /// The window, seconds (a fraction is dropped).
    pub window_s: f64,
    /// Notional per underlying per window.
    pub max_notional: WireAmount,
}

/// The venue file's `liquidation` object: every key optional (`None`: the engine's default).
/// Domains other than the types (rates in [0, 1), levels non-decreasing …) are the engine's
/// parameter checks, which name the field too.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LiquidationFile {
    /// Dutch auction: start of the price, a fraction of the value (0.95).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_fraction: Option<f64>,
    /// Dutch auction: the price at the end of the fast phase (0.70).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fast_cutoff_fraction: Option<f64>,
    /// Dutch auction: length of the fast phase, seconds (900).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fast_s: Option<f64>,
    /// Dutch auction: length of the slow phase, seconds (43 200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_s: Option<f64>,
    /// Insolvent auction: length, seconds (3 600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insolvent_s: Option<f64>,
    /// The liquidator's fee, a share of its discount gain (0.10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liquidator_fee_rate: Option<f64>,
    /// The buffer above maintenance an account is restored to (0.15).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffer_fraction: Option<f64>,
    /// The auction of a solvent account (`dutch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auction: Option<AuctionChoice>,
    /// Sealed bids are taken within this many seconds of the start (60).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed_window_s: Option<f64>,
    /// Tier-1 fee, a fraction of the notional taken (0.005).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backstop_fee_rate: Option<f64>,
    /// Accounts below this gross notional are closed whole (10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dust_notional: Option<WireAmount>,
    /// The smallest fill, unless it closes a position (1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_fill_notional: Option<WireAmount>,
    /// The tier-3 book (linear, 0.001 and 1e-7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<DepthFile>,
    /// Tier-3 slippage cap (0.05).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_slippage: Option<f64>,
    /// Per-underlying cap on market sales (none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notional_cap: Option<NotionalCapFile>,
    /// The last step of the loss waterfall (`socialised`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss_mode: Option<LossChoice>,
    /// The credit providers' share of the fees (0.10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credit_premium_rate: Option<f64>,
    /// The asset payments are made in (USDC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement_asset: Option<String>,
    /// The certificate gate: a liquidation starts only with a certificate that verifies (true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_gate: Option<bool>,
}

/// Reads a bidders file: an array of bidders, or `{"bidders": [...]}`. `source` names the file
/// in errors (`bidders file B.json`). Returns the bidders and the keys ignored beside
/// `bidders`.
pub fn parse_bidders(
    text: &str,
    source: &str,
) -> Result<(Vec<BidderFile>, Vec<String>), FormatError> {
    let at = |e: FormatError| FormatError(format!("{source}: {}", e.0));
    let doc = parse_json(text).map_err(at)?;
    let mut ignored = Vec::new();
    let list = match &doc {
        Value::Array(a) => a,
        Value::Object(o) => {
            ignored.extend(o.keys().filter(|k| *k != "bidders").cloned());
            match o.get("bidders") {
                Some(Value::Array(a)) => a,
                _ => return Err(at(bad("bidders", "expected an array"))),
            }
        }
        _ => {
            return Err(at(FormatError(
                "expected an array of bidders or {\"bidders\": [...]}".into(),
            )))
        }
    };
    let bidders = list
        .iter()
        .enumerate()
        .map(|(i, v)| bidder(v, &format!("bidders[{i}]")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(at)?;
    Ok((bidders, ignored))
}

/// Reads a venue file. `source` names the file in errors (`venue file F.json`). Returns the file
/// and the keys ignored inside `depth` and `notional_cap`.
pub fn parse_venue(text: &str, source: &str) -> Result<(VenueFile, Vec<String>), FormatError> {
    let at = |e: FormatError| FormatError(format!("{source}: {}", e.0));
    let doc = parse_json(text).map_err(at)?;
    venue(&doc).map_err(at)
}

fn parse_json(text: &str) -> Result<Value, FormatError> {
    serde_json::from_str(text).map_err(|e| FormatError(format!("not valid JSON: {e}")))
}

fn bad(path: &str, message: impl std::fmt::Display) -> FormatError {
    FormatError::at(path, message)
}

fn missing(path: &str) -> FormatError {
    FormatError(format!("missing '{path}'"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, FormatError> {
    v.as_object()
        .ok_or_else(|| bad(path, format!("expected an object, got {}", kind(v))))
}

fn array<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, FormatError> {
    v.as_array()
        .ok_or_else(|| bad(path, format!("expected an array, got {}", kind(v))))
}

/// `path` is the object's own path ("" at the top).
fn known_keys(obj: &Map<String, Value>, path: &str, keys: &[&str]) -> Result<(), FormatError> {
    match obj.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(FormatError(format!(
            "unknown '{}': expected one of {}",
            join(path, k),
            keys.join(", ")
        ))),
        None => Ok(()),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The value of `key`, `None` when absent or `null`.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn number(obj: &Map<String, Value>, path: &str, key: &str) -> Result<Option<f64>, FormatError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| bad(&join(path, key), "not a finite number")),
        Some(v) => Err(bad(
            &join(path, key),
            format!("expected a number, got {}", kind(v)),
        )),
    }
}

fn string(obj: &Map<String, Value>, path: &str, key: &str) -> Result<Option<String>, FormatError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(bad(
            &join(path, key),
            format!("expected a string, got {}", kind(v)),
        )),
    }
}

fn boolean(obj: &Map<String, Value>, path: &str, key: &str) -> Result<Option<bool>, FormatError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(bad(
            &join(path, key),
            format!("expected true or false, got {}", kind(v)),
        )),
    }
}

/// An exact amount: a decimal string or a number (as `WireAmount` reads them).
fn amount(
    obj: &Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<WireAmount>, FormatError> {
    let p = join(path, key);
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Amount::parse_decimal(s)
            .map(|a| Some(WireAmount(a)))
            .map_err(|e| bad(&p, e)),
        Some(Value::Number(n)) => match Amount::parse_decimal(&n.to_string()) {
            Ok(a) => Ok(Some(WireAmount(a))),
            // Exponent notation: as `WireAmount`, rounded down.
            Err(e) => n
                .as_f64()
                .and_then(|x| Amount::from_f64(x, Rounding::Down).ok())
                .map(|a| Some(WireAmount(a)))
                .ok_or_else(|| bad(&p, e)),
        },
        Some(v) => Err(bad(
            &p,
            format!("expected a decimal string or a number, got {}", kind(v)),
        )),
    }
}

fn required<T>(v: Option<T>, path: &str, key: &str) -> Result<T, FormatError> {
    v.ok_or_else(|| missing(&join(path, key)))
}

fn in_range(
    v: Option<f64>,
    path: &str,
    key: &str,
    ok: impl Fn(f64) -> bool,
    domain: &str,
) -> Result<Option<f64>, FormatError> {
    match v {
        Some(x) if !ok(x) => Err(bad(
            &join(path, key),
            format!("must be in {domain}, got {x}"),
        )),
        other => Ok(other),
    }
}

/// `collateral` and `positions` of an object, read as the portfolio file reads them.
fn holdings(
    obj: &Map<String, Value>,
    path: &str,
) -> Result<(Vec<CollateralBalanceFile>, Vec<PositionFile>), FormatError> {
    let mut fields = Map::new();
    fields.insert("account".into(), Value::String("holdings".into()));
    for k in ["collateral", "positions"] {
        if let Some(v) = obj.get(k) {
            fields.insert(k.into(), v.clone());
        }
    }
    let file: PortfolioFile =
        serde_path_to_error::deserialize(Value::Object(fields)).map_err(|e| {
            let inner = e.path().to_string();
            let at = if inner == "." || inner.is_empty() {
                path.to_string()
            } else {
                join(path, &inner)
            };
            bad(&at, e.into_inner())
        })?;
    Ok((file.collateral, file.positions))
}

/// The account of a bidder, fund or pool (errors name the field relative to it).
fn holdings_account(
    name: &str,
    collateral: &[CollateralBalanceFile],
    positions: &[PositionFile],
) -> Result<Account, FormatError> {
    account_from_file(&PortfolioFile {
        account: name.to_string(),
        collateral: collateral.to_vec(),
        positions: positions.to_vec(),
    })
}

/// Checks that the holdings make an account; errors are placed under `path`.
fn check_account(
    name: &str,
    collateral: &[CollateralBalanceFile],
    positions: &[PositionFile],
    path: &str,
) -> Result<(), FormatError> {
    holdings_account(name, collateral, positions)
        .map(|_| ())
        .map_err(|e| {
            let msg = e.0;
            // The account is named after the bidder or pool: its id is the `name` field.
            if let Some(rest) = msg.strip_prefix("invalid 'account'") {
                FormatError(format!("invalid '{path}.name'{rest}"))
            } else if let Some(rest) = msg.strip_prefix("invalid '") {
                FormatError(format!("invalid '{path}.{rest}"))
            } else {
                FormatError(format!("{path}: {msg}"))
            }
        })
}

const BIDDER_KEYS: [&str; 7] = [
    "name",
    "owner",
    "max_price_fraction",
    "insolvent_premium_fraction",
    "max_share",
    "collateral",
    "positions",
];

fn bidder(v: &Value, path: &str) -> Result<BidderFile, FormatError> {
    let o = object(v, path)?;
    known_keys(o, path, &BIDDER_KEYS)?;
    let name = required(string(o, path, "name")?, path, "name")?;
    let unit = |x: f64| (0.0..=1.0).contains(&x);
    let max_price_fraction = required(
        in_range(
            number(o, path, "max_price_fraction")?,
            path,
            "max_price_fraction",
            unit,
            "[0, 1]",
        )?,
        path,
        "max_price_fraction",
    )?;
    let insolvent_premium_fraction = in_range(
        number(o, path, "insolvent_premium_fraction")?,
        path,
        "insolvent_premium_fraction",
        unit,
        "[0, 1]",
    )?;
    let max_share = in_range(
        number(o, path, "max_share")?,
        path,
        "max_share",
        |x| x > 0.0 && x <= 1.0,
        "(0, 1]",
    )?;
    let (collateral, positions) = holdings(o, path)?;
    check_account(&name, &collateral, &positions, path)?;
    Ok(BidderFile {
        owner: string(o, path, "owner")?,
        name,
        max_price_fraction,
        insolvent_premium_fraction,
        max_share,
        collateral,
        positions,
    })
}

fn venue(doc: &Value) -> Result<(VenueFile, Vec<String>), FormatError> {
    let o = doc
        .as_object()
        .ok_or_else(|| FormatError(format!("expected an object, got {}", kind(doc))))?;
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
    let mut out = VenueFile::default();
    let mut ignored = Vec::new();
    if let Some(f) = o.get("insurance_fund") {
        let path = "insurance_fund";
        let f = object(f, path)?;
        known_keys(f, path, &["collateral", "positions", "max_notional"])?;
        let (collateral, positions) = holdings(f, path)?;
        check_account(path, &collateral, &positions, path)?;
        out.insurance_fund = Some(FundFile {
            collateral,
            positions,
            max_notional: amount(f, path, "max_notional")?,
        });
    }
    if let Some(pools) = o.get("backstop_pools") {
        for (i, p) in array(pools, "backstop_pools")?.iter().enumerate() {
            let path = format!("backstop_pools[{i}]");
            let p = object(p, &path)?;
            known_keys(
                p,
                &path,
                &["name", "collateral", "positions", "max_notional"],
            )?;
            let name = required(string(p, &path, "name")?, &path, "name")?;
            let (collateral, positions) = holdings(p, &path)?;
            check_account(&name, &collateral, &positions, &path)?;
            out.backstop_pools.push(PoolFile {
                name,
                collateral,
                positions,
                max_notional: amount(p, &path, "max_notional")?,
            });
        }
    }
    if let Some(cps) = o.get("credit_providers") {
        for (i, c) in array(cps, "credit_providers")?.iter().enumerate() {
            let path = format!("credit_providers[{i}]");
            let c = object(c, &path)?;
            known_keys(c, &path, &["name", "amount"])?;
            let name = required(string(c, &path, "name")?, &path, "name")?;
            let amount = required(amount(c, &path, "amount")?, &path, "amount")?;
            if amount.0.is_negative() {
                return Err(bad(
                    &join(&path, "amount"),
                    format!("must be >= 0, got {}", amount.0),
                ));
            }
            out.credit_providers
                .push(CreditProviderFile { name, amount });
        }
    }
    if let Some(l) = o.get("liquidation") {
        out.liquidation = Some(liquidation(object(l, "liquidation")?, &mut ignored)?);
    }
    Ok((out, ignored))
}

/// The keys of `liquidation` besides the seven auction parameters.
const LIQUIDATION_KEYS: [&str; 12] = [
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
    "certificate_gate",
];

fn liquidation(
    o: &Map<String, Value>,
    ignored: &mut Vec<String>,
) -> Result<LiquidationFile, FormatError> {
    let path = "liquidation";
    let keys: Vec<&str> = AUCTION_PARAM_KEYS
        .iter()
        .chain(LIQUIDATION_KEYS.iter())
        .copied()
        .collect();
    known_keys(o, path, &keys)?;
    let n = |key: &str| number(o, path, key);
    let auction = match string(o, path, "auction")?.as_deref() {
        None => None,
        Some("dutch") => Some(AuctionChoice::Dutch),
        Some("sealed-first") => Some(AuctionChoice::SealedFirst),
        Some("sealed-second") => Some(AuctionChoice::SealedSecond),
        Some(other) => {
            return Err(bad(
                "liquidation.auction",
                format!("expected dutch, sealed-first or sealed-second, got \"{other}\""),
            ))
        }
    };
    let loss_mode = match string(o, path, "loss_mode")?.as_deref() {
        None => None,
        Some("socialised") => Some(LossChoice::Socialised),
        Some("adl") => Some(LossChoice::Adl),
        Some(other) => {
            return Err(bad(
                "liquidation.loss_mode",
                format!("expected socialised or adl, got \"{other}\""),
            ))
        }
    };
    let settlement_asset = string(o, path, "settlement_asset")?;
    if let Some(s) = &settlement_asset {
        Asset::new(s).map_err(|e| bad("liquidation.settlement_asset", e))?;
    }
    let depth = match field(o, "depth") {
        None => None,
        Some(d) => {
            let dp = "liquidation.depth";
            let d = object(d, dp)?;
            if let Some(levels) = d.get("levels") {
                ignored.extend(d.keys().filter(|k| *k != "levels").map(|k| join(dp, k)));
                let mut out = Vec::new();
                for (i, l) in array(levels, "liquidation.depth.levels")?
                    .iter()
                    .enumerate()
                {
                    let lp = format!("liquidation.depth.levels[{i}]");
                    let l = object(l, &lp)?;
                    ignored.extend(
                        l.keys()
                            .filter(|k| *k != "slippage" && *k != "notional")
                            .map(|k| join(&lp, k)),
                    );
                    out.push(LevelFile {
                        slippage: required(number(l, &lp, "slippage")?, &lp, "slippage")?,
                        notional: required(number(l, &lp, "notional")?, &lp, "notional")?,
                    });
                }
                Some(DepthFile::Levels { levels: out })
            } else {
                ignored.extend(
                    d.keys()
                        .filter(|k| *k != "half_spread" && *k != "impact_per_notional")
                        .map(|k| join(dp, k)),
                );
                Some(DepthFile::Linear {
                    half_spread: number(d, dp, "half_spread")?,
                    impact_per_notional: number(d, dp, "impact_per_notional")?,
                })
            }
        }
    };
    let notional_cap = match field(o, "notional_cap") {
        None => None,
        Some(c) => {
            let cp = "liquidation.notional_cap";
            let c = object(c, cp)?;
            ignored.extend(
                c.keys()
                    .filter(|k| *k != "window_s" && *k != "max_notional")
                    .map(|k| join(cp, k)),
            );
            Some(NotionalCapFile {
                window_s: required(number(c, cp, "window_s")?, cp, "window_s")?,
                max_notional: required(amount(c, cp, "max_notional")?, cp, "max_notional")?,
            })
        }
    };
    Ok(LiquidationFile {
        start_fraction: n("start_fraction")?,
        fast_cutoff_fraction: n("fast_cutoff_fraction")?,
        fast_s: n("fast_s")?,
        slow_s: n("slow_s")?,
        insolvent_s: n("insolvent_s")?,
        liquidator_fee_rate: n("liquidator_fee_rate")?,
        buffer_fraction: n("buffer_fraction")?,
        auction,
        sealed_window_s: n("sealed_window_s")?,
        backstop_fee_rate: n("backstop_fee_rate")?,
        dust_notional: amount(o, path, "dust_notional")?,
        min_fill_notional: amount(o, path, "min_fill_notional")?,
        depth,
        max_slippage: n("max_slippage")?,
        notional_cap,
        loss_mode,
        credit_premium_rate: n("credit_premium_rate")?,
        settlement_asset,
        certificate_gate: boolean(o, path, "certificate_gate")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Amount {
        Amount::parse_decimal(s).unwrap()
    }

    #[test]
    fn bidders_in_both_forms_with_their_defaults() {
        let one = r#"[{"name":"lp1","max_price_fraction":0.9,
            "collateral":[{"asset":"USDC","amount":"500000"}],
            "positions":[{"instrument":"BTC-PERP","size":-1,"entry_price":94000}]}]"#;
        let (a, ignored) = parse_bidders(one, "B.json").unwrap();
        assert!(ignored.is_empty());
        let (b, ignored) =
            parse_bidders(&format!(r#"{{"bidders":{one},"comment":"x"}}"#), "B.json").unwrap();
        assert_eq!(ignored, ["comment"]);
        assert_eq!(a, b);
        let lp = &a[0];
        assert_eq!(lp.owner(), "lp1");
        assert_eq!(lp.max_share(), 1.0);
        assert_eq!(lp.insolvent_premium_fraction(), 0.0);
        let capital = lp.capital().unwrap();
        assert_eq!(capital.id.as_str(), "lp1");
        assert_eq!(capital.positions.len(), 1);
    }

    #[test]
    fn bidder_errors_name_the_file_and_the_field() {
        for (text, needle) in [
            (
                r#"[{"name":"lp"}]"#,
                "B.json: missing 'bidders[0].max_price_fraction'",
            ),
            (
                r#"[{"name":"lp","max_price_fraction":1.5}]"#,
                "B.json: invalid 'bidders[0].max_price_fraction': must be in [0, 1], got 1.5",
            ),
            (
                r#"[{"name":"lp","max_price_fraction":0.5,"max_share":0}]"#,
                "invalid 'bidders[0].max_share'",
            ),
            (
                r#"[{"name":"lp","max_price_fraction":"0.5"}]"#,
                "invalid 'bidders[0].max_price_fraction': expected a number, got a string",
            ),
            (
                r#"[{"max_price_fraction":0.5}]"#,
                "missing 'bidders[0].name'",
            ),
            (
                r#"[{"name":"lp","max_price_fraction":0.5,"colateral":[]}]"#,
                "unknown 'bidders[0].colateral'",
            ),
            (
                r#"[{"name":"lp","max_price_fraction":0.5,"collateral":[{"asset":"USDC","amount":"-1"}]}]"#,
                "invalid 'bidders[0].collateral[0].amount'",
            ),
            (
                r#"[{"name":"lp","max_price_fraction":0.5,"positions":[{"instrument":"BTC-XYZ","size":1}]}]"#,
                "invalid 'bidders[0].positions[0].instrument'",
            ),
            (
                r#"[{"name":"lp","max_price_fraction":0.5,"positions":[{"size":1}]}]"#,
                "invalid 'bidders[0].positions[0]'",
            ),
            (r#"{"bidders":3}"#, "invalid 'bidders': expected an array"),
            (r#"[3]"#, "invalid 'bidders[0]': expected an object"),
            (
                r#"[{"name":"","max_price_fraction":0.5}]"#,
                "invalid 'bidders[0].name'",
            ),
            ("[", "not valid JSON"),
        ] {
            let e = parse_bidders(text, "B.json").unwrap_err().to_string();
            assert!(e.starts_with("B.json: "), "{e}");
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    const VENUE: &str = r#"{"insurance_fund": {"collateral": [{"asset": "USDC", "amount": "1000000"}], "positions": [],
                    "max_notional": "500000"},
 "backstop_pools": [{"name": "pool1", "collateral": [{"asset": "USDC", "amount": "200000"}],
                     "max_notional": "100000"}],
 "credit_providers": [{"name": "cp1", "amount": "50000"}],
 "liquidation": {"buffer_fraction": 0.15, "auction": "dutch", "sealed_window_s": 60,
                 "backstop_fee_rate": 0.005, "dust_notional": "10", "min_fill_notional": "1",
                 "depth": {"half_spread": 0.001, "impact_per_notional": 1e-7},
                 "max_slippage": 0.05, "notional_cap": {"window_s": 3600, "max_notional": "1000000"},
                 "loss_mode": "socialised", "credit_premium_rate": 0.1, "settlement_asset": "USDC"}}"#;

    #[test]
    fn the_venue_file_of_formats_md() {
        let (v, ignored) = parse_venue(VENUE, "F.json").unwrap();
        assert!(ignored.is_empty());
        assert_eq!(
            v.insurance_fund_max_notional(),
            Some(Amount::from_units(500_000))
        );
        assert_eq!(
            v.insurance_fund_account().unwrap().id.as_str(),
            "insurance_fund"
        );
        assert_eq!(v.backstop_pools[0].name, "pool1");
        assert_eq!(v.credit_providers[0].amount.0, Amount::from_units(50_000));
        let l = v.liquidation.as_ref().unwrap();
        assert_eq!(l.auction, Some(AuctionChoice::Dutch));
        assert_eq!(l.loss_mode, Some(LossChoice::Socialised));
        assert_eq!(
            l.depth,
            Some(DepthFile::Linear {
                half_spread: Some(0.001),
                impact_per_notional: Some(1e-7)
            })
        );
        assert_eq!(l.notional_cap.unwrap().window_s, 3600.0);
        assert_eq!(l.certificate_gate, None);
        // Written back and read again: the same file.
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(parse_venue(&text, "F.json").unwrap().0, v);
        // Nothing at all: every default.
        let (empty, _) = parse_venue("{}", "F.json").unwrap();
        assert_eq!(empty, VenueFile::default());
        assert!(empty.insurance_fund_account().unwrap().positions.is_empty());
    }

    #[test]
    fn levels_and_ignored_keys() {
        let (v, ignored) = parse_venue(
            r#"{"liquidation":{"depth":{"levels":[{"slippage":0.002,"notional":100000,"note":1}],"half_spread":1},
                "notional_cap":{"window_s":60,"max_notional":5,"x":0},"certificate_gate":false,
                "auction":"sealed-second","loss_mode":"adl","dust_notional":2.5}}"#,
            "F.json",
        )
        .unwrap();
        assert_eq!(
            ignored,
            [
                "liquidation.depth.half_spread",
                "liquidation.depth.levels[0].note",
                "liquidation.notional_cap.x"
            ]
        );
        let l = v.liquidation.unwrap();
        assert_eq!(
            l.depth,
            Some(DepthFile::Levels {
                levels: vec![LevelFile {
                    slippage: 0.002,
                    notional: 100_000.0
                }]
            })
        );
        assert_eq!(l.certificate_gate, Some(false));
        assert_eq!(l.auction, Some(AuctionChoice::SealedSecond));
        assert_eq!(l.loss_mode, Some(LossChoice::Adl));
        assert_eq!(l.dust_notional, Some(WireAmount(d("2.5"))));
    }

    #[test]
    fn venue_errors_name_the_file_and_the_field() {
        for (text, needle) in [
            (
                r#"{"liquidation":{"auction":"english"}}"#,
                "invalid 'liquidation.auction'",
            ),
            (
                r#"{"liquidation":{"loss_mode":"all"}}"#,
                "invalid 'liquidation.loss_mode'",
            ),
            (
                r#"{"liquidation":{"spead":1}}"#,
                "unknown 'liquidation.spead'",
            ),
            (
                r#"{"liquidation":{"certificate_gate":"no"}}"#,
                "invalid 'liquidation.certificate_gate'",
            ),
            (
                r#"{"liquidation":{"max_slippage":"x"}}"#,
                "invalid 'liquidation.max_slippage'",
            ),
            (
                r#"{"liquidation":{"dust_notional":"ten"}}"#,
                "invalid 'liquidation.dust_notional'",
            ),
            (
                r#"{"liquidation":{"settlement_asset":""}}"#,
                "invalid 'liquidation.settlement_asset'",
            ),
            (
                r#"{"liquidation":{"notional_cap":{"window_s":60}}}"#,
                "missing 'liquidation.notional_cap.max_notional'",
            ),
            (
                r#"{"liquidation":{"depth":{"levels":[{"slippage":0.1}]}}}"#,
                "missing 'liquidation.depth.levels[0].notional'",
            ),
            (
                r#"{"liquidation":{"depth":{"levels":{}}}}"#,
                "invalid 'liquidation.depth.levels': expected an array",
            ),
            (r#"{"fund":{}}"#, "unknown 'fund'"),
            (
                r#"{"insurance_fund":null}"#,
                "invalid 'insurance_fund': expected an object",
            ),
            (
                r#"{"insurance_fund":{"max_notional":[]}}"#,
                "invalid 'insurance_fund.max_notional'",
            ),
            (
                r#"{"insurance_fund":{"cash":1}}"#,
                "unknown 'insurance_fund.cash'",
            ),
            (
                r#"{"insurance_fund":{"collateral":[{"asset":"USDC"}]}}"#,
                "invalid 'insurance_fund.collateral[0]'",
            ),
            (
                r#"{"backstop_pools":[{"collateral":[]}]}"#,
                "missing 'backstop_pools[0].name'",
            ),
            (
                r#"{"backstop_pools":{}}"#,
                "invalid 'backstop_pools': expected an array",
            ),
            (
                r#"{"credit_providers":[{"name":"cp"}]}"#,
                "missing 'credit_providers[0].amount'",
            ),
            (
                r#"{"credit_providers":[{"name":"cp","amount":"-5"}]}"#,
                "invalid 'credit_providers[0].amount'",
            ),
            ("[]", "expected an object"),
        ] {
            let e = parse_venue(text, "F.json").unwrap_err().to_string();
            assert!(e.starts_with("F.json: "), "{e}");
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
