//! Derive PMRM_2 conformance cases (pm.md §10): wire types, conversion into `ale_risk::pm`
//! domain types, the output line of `ale pm replay` and the `--check` comparison.
//!
//! A case file holds one case object or `{"vectors": [case, ...]}`. Errors name the field path
//! (`market.expiries[0].forward: missing field`, `params.margin.mm_factor: ...`).

use std::collections::BTreeMap;

use ale_core::OptionKind;
use ale_risk::pm::{
    self, Collateral, ExpiryMarket, Limits, PmAccount, PmConfig, PmEvaluation, PmMarket, PmOption,
    PmParams, Scenario, ScenarioList, UnderlyingMarket, VolDirection, PARAM_SPECS,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Relative tolerance of `--check`.
pub const CHECK_REL_TOL: f64 = 1e-8;
/// Absolute tolerance floor of `--check` (USD).
pub const CHECK_ABS_TOL: f64 = 1e-6;

/// A case that could not be read or evaluated: the message names the field and the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CaseError {
    /// The field path and reason, e.g. `market.spot: missing field`.
    pub message: String,
}

impl CaseError {
    fn new(message: impl Into<String>) -> Self {
        CaseError {
            message: message.into(),
        }
    }
}

impl From<pm::PmError> for CaseError {
    fn from(e: pm::PmError) -> Self {
        CaseError::new(e.to_string())
    }
}

// ------------------------------------------------------------------------------------------
// Wire types (pm.md §10, "The case schema"). Unknown keys are ignored.

/// A case as it appears on the wire (`expected` is read separately, by `--check` only).
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a case object")]
pub struct CaseWire {
    /// Unique name.
    pub id: String,
    /// Market snapshot.
    pub market: MarketWire,
    /// The account.
    pub portfolio: PortfolioWire,
    /// The five parameter groups, every key given.
    pub params: ParamsWire,
    /// The scenario list.
    pub scenarios: Vec<ScenarioWire>,
}

/// `market` of a case (`stable_confidence` is unused and ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a market object")]
pub struct MarketWire {
    /// Spot S.
    pub spot: f64,
    /// Confidence of S.
    pub spot_confidence: f64,
    /// Stable-coin price P.
    pub stable_price: f64,
    /// Perp mark.
    pub perp_price: f64,
    /// Perp confidence.
    pub perp_confidence: f64,
    /// Per-expiry data.
    pub expiries: Vec<ExpiryWire>,
}

/// One `market.expiries[]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "an expiry object")]
pub struct ExpiryWire {
    /// Whole seconds to expiry.
    #[serde(deserialize_with = "whole_seconds")]
    pub sec_to_expiry: u64,
    /// Forward.
    pub forward: f64,
    /// Forward confidence.
    pub forward_confidence: f64,
    /// Raw rate (may be negative).
    pub rate: f64,
    /// Rate confidence.
    pub rate_confidence: f64,
    /// Vol confidence.
    pub vol_confidence: f64,
}

/// `portfolio` of a case.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a portfolio object")]
pub struct PortfolioWire {
    /// Cash (USD stable units).
    pub cash: f64,
    /// Perp position q.
    pub perp_position: f64,
    /// Unrealised perp P&L.
    pub perp_unrealised_pnl: f64,
    /// Unrealised perp funding.
    pub perp_unrealised_funding: f64,
    /// Options.
    pub options: Vec<OptionWire>,
    /// Collaterals.
    pub collaterals: Vec<CollateralWire>,
}

/// One `portfolio.options[]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "an option object")]
pub struct OptionWire {
    /// Links to `market.expiries[].sec_to_expiry`.
    #[serde(deserialize_with = "whole_seconds")]
    pub sec_to_expiry: u64,
    /// Strike.
    pub strike: f64,
    /// Call (true) or put.
    pub is_call: bool,
    /// Signed amount.
    pub amount: f64,
    /// Mark vol.
    pub mark_vol: f64,
}

/// One `portfolio.collaterals[]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a collateral object")]
pub struct CollateralWire {
    /// Asset name.
    pub name: String,
    /// Amount n.
    pub amount: f64,
    /// Price p (USD).
    pub price: f64,
    /// Confidence of p.
    pub confidence: f64,
    /// Moves with the underlying.
    pub is_risk_cancelling: bool,
    /// MM haircut.
    pub mm_haircut: f64,
    /// IM haircut.
    pub im_haircut: f64,
}

/// `params`: the five groups; each key of pm.md §6 must be present (checked on conversion).
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a params object with the five groups")]
pub struct ParamsWire {
    /// `vol_shock` group.
    pub vol_shock: BTreeMap<String, f64>,
    /// `margin` group.
    pub margin: BTreeMap<String, f64>,
    /// `basis_contingency` group.
    pub basis_contingency: BTreeMap<String, f64>,
    /// `other_contingency` group.
    pub other_contingency: BTreeMap<String, f64>,
    /// `skew_shock` group.
    pub skew_shock: BTreeMap<String, f64>,
}

/// One `scenarios[]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a scenario object")]
pub struct ScenarioWire {
    /// Spot multiplier.
    pub spot_shock: f64,
    /// Vol direction.
    pub vol_shock: VolShockWire,
    /// Dampening.
    pub dampening: f64,
}

/// `"Up" | "None" | "Down" | "Linear" | "Abs"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum VolShockWire {
    /// Vol up.
    Up,
    /// Vol unchanged.
    None,
    /// Vol down.
    Down,
    /// Linear skew.
    Linear,
    /// Abs skew.
    Abs,
}

impl From<VolShockWire> for VolDirection {
    fn from(w: VolShockWire) -> Self {
        match w {
            VolShockWire::Up => VolDirection::Up,
            VolShockWire::None => VolDirection::None,
            VolShockWire::Down => VolDirection::Down,
            VolShockWire::Linear => VolDirection::Linear,
            VolShockWire::Abs => VolDirection::Abs,
        }
    }
}

/// A non-negative whole number of seconds, given as a JSON integer (or a float with no
/// fractional part, e.g. `794852.0`).
fn whole_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    use serde::de::Error;
    let value = serde_json::Number::deserialize(deserializer)?;
    if let Some(n) = value.as_u64() {
        return Ok(n);
    }
    match value.as_f64() {
        Some(x) if x >= 0.0 && x.fract() == 0.0 && x <= u64::MAX as f64 => Ok(x as u64),
        _ => Err(D::Error::custom(format!(
            "expected a non-negative whole number of seconds, got {value}"
        ))),
    }
}

/// The `expected` block (only the checked fields).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(expecting = "an expected object")]
pub struct Expected {
    /// Expected MM surplus.
    #[serde(rename = "MM")]
    pub mm: f64,
    /// Expected IM surplus.
    #[serde(rename = "IM")]
    pub im: f64,
    /// Expected Σ_e MtM_e.
    pub option_mtm: f64,
    /// Expected scenario P&Ls.
    pub scenario_pnl: Vec<f64>,
}

// ------------------------------------------------------------------------------------------
// Conversion.

/// A case converted to domain types, ready for [`pm::evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct PmCase {
    /// The case id.
    pub id: String,
    /// Market.
    pub market: PmMarket,
    /// Account.
    pub account: PmAccount,
    /// Parameters and scenarios (no profile caps).
    pub config: PmConfig,
}

/// Deserializes `value` as `T`, naming the failing field path in the error.
fn from_value<'de, T: Deserialize<'de>>(value: &'de Value, prefix: &str) -> Result<T, CaseError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.inner().to_string();
        let mut segments: Vec<String> = Vec::new();
        if !prefix.is_empty() {
            segments.push(prefix.to_string());
        }
        if path != "." {
            segments.push(path);
        }
        // serde reports a missing field at its parent: name the field itself.
        let reason = match inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            Some(field) => {
                segments.push(field.to_string());
                "missing field".to_string()
            }
            None => inner,
        };
        let field = if segments.is_empty() {
            "case".to_string()
        } else {
            segments.join(".")
        };
        CaseError::new(format!("{field}: {reason}"))
    })
}

/// The `id` of a case value, when it has a string one (for error lines).
pub fn case_id(value: &Value) -> Option<&str> {
    value.get("id").and_then(Value::as_str)
}

/// The case values of a parsed file: the file itself when it is one case, or the elements of
/// its `vectors` array (other top-level keys ignored).
pub fn case_values(document: &Value) -> Result<Vec<&Value>, CaseError> {
    match document {
        Value::Object(map) => match map.get("vectors") {
            Some(Value::Array(cases)) => Ok(cases.iter().collect()),
            Some(_) => Err(CaseError::new("vectors: expected an array of cases")),
            None => Ok(vec![document]),
        },
        _ => Err(CaseError::new(
            "expected a case object or {\"vectors\": [case, ...]}",
        )),
    }
}

/// Reads and converts one case (everything but `expected`), validating parameters and
/// scenarios.
pub fn parse_case(value: &Value) -> Result<PmCase, CaseError> {
    if !value.is_object() {
        return Err(CaseError::new("case: expected a JSON object"));
    }
    let wire: CaseWire = from_value(value, "")?;
    wire.into_domain()
}

impl CaseWire {
    /// Converts to domain types: parameters from the five groups (every key required),
    /// scenario list validated (no profile caps).
    pub fn into_domain(self) -> Result<PmCase, CaseError> {
        let mut params = PmParams::default();
        let groups = [
            ("vol_shock", &self.params.vol_shock),
            ("margin", &self.params.margin),
            ("basis_contingency", &self.params.basis_contingency),
            ("other_contingency", &self.params.other_contingency),
            ("skew_shock", &self.params.skew_shock),
        ];
        for spec in &PARAM_SPECS {
            let group = groups
                .iter()
                .find(|(name, _)| *name == spec.group)
                .map(|(_, g)| *g)
                .ok_or_else(|| CaseError::new(format!("params.{}: missing group", spec.group)))?;
            let value = group.get(spec.key).ok_or_else(|| {
                CaseError::new(format!("params.{}.{}: missing field", spec.group, spec.key))
            })?;
            (spec.set)(&mut params, *value);
        }
        params.validate().map_err(|e| e.prefixed("params"))?;
        let scenarios = self
            .scenarios
            .iter()
            .map(|s| Scenario::new(s.spot_shock, s.vol_shock.into(), s.dampening))
            .collect();
        let scenarios = ScenarioList::new(scenarios, &Limits::NONE)?;
        let config = PmConfig::new(params, scenarios, Limits::NONE)?;
        let m = self.market;
        let market = PmMarket {
            stable_price: m.stable_price,
            underlying: UnderlyingMarket {
                spot: m.spot,
                spot_confidence: m.spot_confidence,
                perp_price: m.perp_price,
                perp_confidence: m.perp_confidence,
                expiries: m
                    .expiries
                    .into_iter()
                    .map(|e| ExpiryMarket {
                        sec_to_expiry: e.sec_to_expiry,
                        forward: e.forward,
                        forward_confidence: e.forward_confidence,
                        rate: e.rate,
                        rate_confidence: e.rate_confidence,
                        vol_confidence: e.vol_confidence,
                    })
                    .collect(),
            },
        };
        let p = self.portfolio;
        let account = PmAccount {
            cash: p.cash,
            perp_position: p.perp_position,
            perp_unrealised_pnl: p.perp_unrealised_pnl,
            perp_unrealised_funding: p.perp_unrealised_funding,
            options: p
                .options
                .into_iter()
                .map(|o| PmOption {
                    sec_to_expiry: o.sec_to_expiry,
                    strike: o.strike,
                    kind: if o.is_call {
                        OptionKind::Call
                    } else {
                        OptionKind::Put
                    },
                    amount: o.amount,
                    mark_vol: o.mark_vol,
                })
                .collect(),
            collaterals: p
                .collaterals
                .into_iter()
                .map(|c| Collateral {
                    name: c.name,
                    amount: c.amount,
                    price: c.price,
                    confidence: c.confidence,
                    is_risk_cancelling: c.is_risk_cancelling,
                    mm_haircut: c.mm_haircut,
                    im_haircut: c.im_haircut,
                })
                .collect(),
        };
        Ok(PmCase {
            id: self.id,
            market,
            account,
            config,
        })
    }
}

impl PmCase {
    /// Evaluates the case with [`pm::evaluate`].
    pub fn evaluate(&self) -> Result<PmEvaluation, CaseError> {
        Ok(pm::evaluate(&self.market, &self.account, &self.config)?)
    }
}

/// Reads the `expected` block of a case value.
pub fn parse_expected(value: &Value) -> Result<Expected, CaseError> {
    match value.get("expected") {
        Some(expected) => from_value(expected, "expected"),
        None => Err(CaseError::new("expected: missing field")),
    }
}

// ------------------------------------------------------------------------------------------
// Output.

/// The output line of `ale pm replay` for an evaluated case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseOutput {
    /// Case id.
    pub id: String,
    /// Σ_e MtM_e.
    pub option_mtm: f64,
    /// MM surplus.
    pub mm: f64,
    /// IM surplus.
    pub im: f64,
    /// Scenario P&Ls in the case's order.
    pub scenario_pnl: Vec<f64>,
}

impl CaseOutput {
    /// The output of `evaluation` for case `id`.
    pub fn new(id: &str, evaluation: &PmEvaluation) -> Self {
        CaseOutput {
            id: id.to_string(),
            option_mtm: evaluation.option_mtm,
            mm: evaluation.mm_surplus,
            im: evaluation.im_surplus,
            scenario_pnl: evaluation.scenario_pnl.clone(),
        }
    }
}

/// The output line of a case that could not be evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseErrorOutput {
    /// Case id (null when the case has no string id).
    pub id: Option<String>,
    /// Field and reason.
    pub error: String,
}

/// The first field where `got` and `want` differ beyond tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// `option_mtm`, `scenario_pnl.len`, `scenario_pnl[7]`, `mm` or `im`.
    pub field: String,
    /// Computed value.
    pub got: f64,
    /// Expected value.
    pub want: f64,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} got {} want {}", self.field, self.got, self.want)
    }
}

/// True when |got − want| ≤ max(1e-8·|want|, 1e-6) (NaN never matches).
pub fn matches(got: f64, want: f64) -> bool {
    (got - want).abs() <= (CHECK_REL_TOL * want.abs()).max(CHECK_ABS_TOL)
}

/// Compares in the order of pm.md §10: `option_mtm`, the number of scenario P&Ls, each
/// `scenario_pnl[i]`, `mm`, `im`; returns the first mismatch.
pub fn first_mismatch(got: &CaseOutput, want: &Expected) -> Option<Mismatch> {
    let mismatch = |field: String, g: f64, w: f64| Mismatch {
        field,
        got: g,
        want: w,
    };
    if !matches(got.option_mtm, want.option_mtm) {
        return Some(mismatch(
            "option_mtm".into(),
            got.option_mtm,
            want.option_mtm,
        ));
    }
    if got.scenario_pnl.len() != want.scenario_pnl.len() {
        return Some(mismatch(
            "scenario_pnl.len".into(),
            got.scenario_pnl.len() as f64,
            want.scenario_pnl.len() as f64,
        ));
    }
    for (i, (g, w)) in got.scenario_pnl.iter().zip(&want.scenario_pnl).enumerate() {
        if !matches(*g, *w) {
            return Some(mismatch(format!("scenario_pnl[{i}]"), *g, *w));
        }
    }
    if !matches(got.mm, want.mm) {
        return Some(mismatch("mm".into(), got.mm, want.mm));
    }
    if !matches(got.im, want.im) {
        return Some(mismatch("im".into(), got.im, want.im));
    }
    None
}
