//! Parameters of the `ramm`, `static` and `oracle-adjusted` policies: meaning, unit, default,
//! admissible range, and their TOML form (`ale params default --policy P` prints it commented;
//! `--params FILE` reads it back, any key overriding its default).

use serde::{Deserialize, Serialize};

use crate::error::RiskError;

/// Most scenarios a grid may have (spot steps × 3 vol shocks + 2 extremes): a bound on the
/// per-account scratch space.
pub const MAX_SCENARIOS: usize = 256;

/// One documented parameter: its TOML key, default value as TOML text, unit and meaning.
#[derive(Debug, Clone, Copy)]
pub struct ParamDoc {
    /// TOML key.
    pub key: &'static str,
    /// Unit of the value.
    pub unit: &'static str,
    /// What it means.
    pub meaning: &'static str,
}

/// Renders parameters as commented TOML, one `key = value` a line with its meaning and unit,
/// in the order of `docs`.
fn render<T: Serialize>(title: &str, docs: &[ParamDoc], params: &T) -> String {
    let table = toml::Table::try_from(params).unwrap_or_default();
    let mut out = format!(
        "# {title}\n# Every key is optional in a --params file: a missing key keeps this default.\n\n"
    );
    for doc in docs {
        let value = table
            .get(doc.key)
            .map(|v| v.to_string())
            .unwrap_or_default();
        out.push_str(&format!(
            "# {} [{}]\n{} = {}\n\n",
            doc.meaning, doc.unit, doc.key, value
        ));
    }
    out
}

/// The keys of `params` as TOML sees them (for the test that every key is documented).
#[cfg(test)]
fn keys<T: Serialize>(params: &T) -> Vec<String> {
    let mut k: Vec<String> = toml::Table::try_from(params)
        .unwrap_or_default()
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn parse_toml<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, RiskError> {
    toml::from_str(text).map_err(|e| RiskError::Params(e.message().to_string()))
}

fn ensure(key: &str, ok: bool, rule: &str, value: f64) -> Result<(), RiskError> {
    if ok {
        Ok(())
    } else {
        Err(RiskError::Params(format!(
            "invalid '{key}': must be {rule}, got {value}"
        )))
    }
}

fn positive(key: &str, value: f64) -> Result<(), RiskError> {
    ensure(
        key,
        value.is_finite() && value > 0.0,
        "finite and > 0",
        value,
    )
}

fn non_negative(key: &str, value: f64) -> Result<(), RiskError> {
    ensure(
        key,
        value.is_finite() && value >= 0.0,
        "finite and >= 0",
        value,
    )
}

/// The liquidation-price solver's step and tolerance, shared by every policy.
fn liquidation_scan(step: f64, rel_tol: f64) -> Result<(), RiskError> {
    ensure(
        "liq_scan_step",
        (1e-4..=0.25).contains(&step),
        "in [0.0001, 0.25]",
        step,
    )?;
    ensure(
        "liq_rel_tol",
        (1e-12..=1e-2).contains(&rel_tol),
        "in [1e-12, 0.01]",
        rel_tol,
    )
}

fn fraction(key: &str, value: f64) -> Result<(), RiskError> {
    ensure(key, (0.0..=1.0).contains(&value), "in [0, 1]", value)
}

/// Parameters of `ramm`, the risk-adjusted maintenance margin (ramm.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RammParams {
    pub z_price: f64,
    pub scan_days: f64,
    pub range_min: f64,
    pub range_max: f64,
    pub spot_steps: u32,
    pub extreme_multiple: f64,
    pub extreme_weight: f64,
    pub max_down_move: f64,
    pub atm_min_days: f64,
    pub vol_ref_days: f64,
    pub vol_up: f64,
    pub vol_up_min: f64,
    pub vol_up_max: f64,
    pub vol_down: f64,
    pub vol_down_min: f64,
    pub vol_down_max: f64,
    pub vol_floor: f64,
    pub gamma_horizon_hours: f64,
    pub z_horizon: f64,
    pub auction_minutes: f64,
    pub slippage_delta_one: f64,
    pub slippage_option: f64,
    pub im_buffer: f64,
    pub tail_enabled: bool,
    pub tail_alpha: f64,
    pub tail_paths: u32,
    pub tail_seed: u64,
    pub liq_scan_step: f64,
    pub liq_rel_tol: f64,
}

impl Default for RammParams {
    fn default() -> Self {
        RammParams {
            z_price: 5.0,
            scan_days: 1.0,
            range_min: 0.08,
            range_max: 0.50,
            spot_steps: 21,
            extreme_multiple: 2.0,
            extreme_weight: 0.33,
            max_down_move: 0.95,
            atm_min_days: 7.0,
            vol_ref_days: 30.0,
            vol_up: 0.15,
            vol_up_min: 0.05,
            vol_up_max: 0.60,
            vol_down: 0.10,
            vol_down_min: 0.03,
            vol_down_max: 0.40,
            vol_floor: 0.05,
            gamma_horizon_hours: 1.0,
            z_horizon: 2.33,
            auction_minutes: 15.0,
            slippage_delta_one: 0.005,
            slippage_option: 0.01,
            im_buffer: 0.3,
            tail_enabled: false,
            tail_alpha: 0.99,
            tail_paths: 4_000,
            tail_seed: 1,
            liq_scan_step: 0.01,
            liq_rel_tol: 1e-6,
        }
    }
}

const RAMM_DOCS: &[ParamDoc] = &[
    ParamDoc { key: "z_price", unit: "standard deviations", meaning: "width of the spot scan range in daily-vol units: R = clamp(z_price·σ_ref·√T_scan, range_min, range_max)" },
    ParamDoc { key: "scan_days", unit: "days", meaning: "T_scan, the horizon the spot range covers" },
    ParamDoc { key: "range_min", unit: "fraction of spot", meaning: "R_min, the narrowest spot range (calm markets)" },
    ParamDoc { key: "range_max", unit: "fraction of spot", meaning: "R_max, the widest spot range (storms)" },
    ParamDoc { key: "spot_steps", unit: "count, odd", meaning: "spot shocks evenly from −R to +R, 0 included; each crossed with vol down/none/up" },
    ParamDoc { key: "extreme_multiple", unit: "× R", meaning: "k_ext: the two extreme moves ±k_ext·R (no vol shock)" },
    ParamDoc { key: "extreme_weight", unit: "fraction", meaning: "w_ext: the share of an extreme move's loss that counts" },
    ParamDoc { key: "max_down_move", unit: "fraction of spot", meaning: "largest fall any scenario takes (keeps the shocked spot > 0 when k_ext·R ≥ 1)" },
    ParamDoc { key: "atm_min_days", unit: "days", meaning: "σ_ref is the ATM vol of the nearest listed expiry at least this far away" },
    ParamDoc { key: "vol_ref_days", unit: "days", meaning: "T_ref of the term scaling √(T_ref/T) of vol shocks" },
    ParamDoc { key: "vol_up", unit: "vol (decimal)", meaning: "v_up: vol added at T_ref in the up scenarios" },
    ParamDoc { key: "vol_up_min", unit: "vol (decimal)", meaning: "smallest term-scaled vol-up shock" },
    ParamDoc { key: "vol_up_max", unit: "vol (decimal)", meaning: "largest term-scaled vol-up shock" },
    ParamDoc { key: "vol_down", unit: "vol (decimal)", meaning: "v_dn: vol removed at T_ref in the down scenarios" },
    ParamDoc { key: "vol_down_min", unit: "vol (decimal)", meaning: "smallest term-scaled vol-down shock" },
    ParamDoc { key: "vol_down_max", unit: "vol (decimal)", meaning: "largest term-scaled vol-down shock" },
    ParamDoc { key: "vol_floor", unit: "vol (decimal)", meaning: "σ_min: no shocked vol goes below it" },
    ParamDoc { key: "gamma_horizon_hours", unit: "hours", meaning: "h, the liquidation horizon over which short gamma bleeds" },
    ParamDoc { key: "z_horizon", unit: "standard deviations", meaning: "z_h, the move over h (and over the auction) that gamma and horizon cover" },
    ParamDoc { key: "auction_minutes", unit: "minutes", meaning: "T_auction, how long the delta is exposed while the auction runs" },
    ParamDoc { key: "slippage_delta_one", unit: "fraction of mark", meaning: "cost of closing futures, perpetuals and spot" },
    ParamDoc { key: "slippage_option", unit: "fraction of mark", meaning: "cost of closing options" },
    ParamDoc { key: "im_buffer", unit: "fraction of MM", meaning: "IM = MM·(1 + im_buffer)" },
    ParamDoc { key: "tail_enabled", unit: "bool", meaning: "add the `tail` component: the excess of the Monte Carlo expected shortfall over T_scan above price+vega (docs/tail-risk.md); off by default" },
    ParamDoc { key: "tail_alpha", unit: "probability", meaning: "confidence level of the `tail` expected shortfall" },
    ParamDoc { key: "tail_paths", unit: "count", meaning: "Monte Carlo paths of the `tail` component (Student-t returns, vol moving against spot)" },
    ParamDoc { key: "tail_seed", unit: "seed", meaning: "seed of the `tail` paths (ChaCha8): the same seed gives the same margin" },
    ParamDoc { key: "liq_scan_step", unit: "fraction of spot", meaning: "step of the outward scan for liquidation prices" },
    ParamDoc { key: "liq_rel_tol", unit: "fraction of spot", meaning: "Brent tolerance of a liquidation price" },
];

impl RammParams {
    /// Reads a TOML parameter file (any subset of the keys) and checks it.
    pub fn from_toml(text: &str) -> Result<RammParams, RiskError> {
        let params: RammParams = parse_toml(text)?;
        params.validate()?;
        Ok(params)
    }

    /// The defaults as commented TOML.
    pub fn default_toml() -> String {
        render(
            "ramm: Risk-Adjusted Maintenance Margin (ramm.md)",
            RAMM_DOCS,
            &RammParams::default(),
        )
    }

    /// Checks every value against its admissible range.
    pub fn validate(&self) -> Result<(), RiskError> {
        positive("z_price", self.z_price)?;
        positive("scan_days", self.scan_days)?;
        ensure(
            "range_min",
            self.range_min > 0.0 && self.range_min <= self.range_max,
            "> 0 and <= range_max",
            self.range_min,
        )?;
        ensure(
            "range_max",
            self.range_max.is_finite() && self.range_max <= 5.0,
            "<= 5",
            self.range_max,
        )?;
        let steps = self.spot_steps as usize;
        ensure(
            "spot_steps",
            steps >= 3 && steps % 2 == 1 && steps * 3 + 2 <= MAX_SCENARIOS,
            "odd, >= 3 and at most 83",
            f64::from(self.spot_steps),
        )?;
        ensure(
            "extreme_multiple",
            self.extreme_multiple >= 1.0 && self.extreme_multiple <= 10.0,
            "in [1, 10]",
            self.extreme_multiple,
        )?;
        fraction("extreme_weight", self.extreme_weight)?;
        ensure(
            "max_down_move",
            self.max_down_move > 0.0 && self.max_down_move < 1.0,
            "in (0, 1)",
            self.max_down_move,
        )?;
        non_negative("atm_min_days", self.atm_min_days)?;
        positive("vol_ref_days", self.vol_ref_days)?;
        for (key, v) in [
            ("vol_up", self.vol_up),
            ("vol_up_min", self.vol_up_min),
            ("vol_up_max", self.vol_up_max),
            ("vol_down", self.vol_down),
            ("vol_down_min", self.vol_down_min),
            ("vol_down_max", self.vol_down_max),
        ] {
            ensure(key, (0.0..=5.0).contains(&v), "in [0, 5]", v)?;
        }
        ensure(
            "vol_up_max",
            self.vol_up_max >= self.vol_up_min,
            ">= vol_up_min",
            self.vol_up_max,
        )?;
        ensure(
            "vol_down_max",
            self.vol_down_max >= self.vol_down_min,
            ">= vol_down_min",
            self.vol_down_max,
        )?;
        positive("vol_floor", self.vol_floor)?;
        non_negative("gamma_horizon_hours", self.gamma_horizon_hours)?;
        non_negative("z_horizon", self.z_horizon)?;
        non_negative("auction_minutes", self.auction_minutes)?;
        fraction("slippage_delta_one", self.slippage_delta_one)?;
        fraction("slippage_option", self.slippage_option)?;
        ensure(
            "im_buffer",
            (0.0..=10.0).contains(&self.im_buffer),
            "in [0, 10]",
            self.im_buffer,
        )?;
        ensure(
            "tail_alpha",
            self.tail_alpha > 0.5 && self.tail_alpha < 1.0,
            "in (0.5, 1)",
            self.tail_alpha,
        )?;
        ensure(
            "tail_paths",
            (100..=1_000_000).contains(&self.tail_paths),
            "in [100, 1000000]",
            f64::from(self.tail_paths),
        )?;
        liquidation_scan(self.liq_scan_step, self.liq_rel_tol)
    }
}

/// Parameters of `static`, the legacy baseline (ramm.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaticParams {
    pub mm_rate: f64,
    pub im_rate: f64,
    pub liq_scan_step: f64,
    pub liq_rel_tol: f64,
}

impl Default for StaticParams {
    fn default() -> Self {
        StaticParams {
            mm_rate: 0.10,
            im_rate: 0.15,
            liq_scan_step: 0.01,
            liq_rel_tol: 1e-6,
        }
    }
}

const STATIC_DOCS: &[ParamDoc] = &[
    ParamDoc { key: "mm_rate", unit: "fraction of spot notional", meaning: "m: MM = Σ m·|size|·S over futures, perpetuals and spot + Σ |size|·(mark + m·S) over short options" },
    ParamDoc { key: "im_rate", unit: "fraction of spot notional", meaning: "i: IM is the same formula with i in place of m" },
    ParamDoc { key: "liq_scan_step", unit: "fraction of spot", meaning: "step of the outward scan for liquidation prices" },
    ParamDoc { key: "liq_rel_tol", unit: "fraction of spot", meaning: "Brent tolerance of a liquidation price" },
];

impl StaticParams {
    /// Reads a TOML parameter file and checks it.
    pub fn from_toml(text: &str) -> Result<StaticParams, RiskError> {
        let params: StaticParams = parse_toml(text)?;
        params.validate()?;
        Ok(params)
    }

    /// The defaults as commented TOML.
    pub fn default_toml() -> String {
        render(
            "static: the legacy per-leg baseline (ramm.md)",
            STATIC_DOCS,
            &StaticParams::default(),
        )
    }

    /// Checks every value against its admissible range.
    pub fn validate(&self) -> Result<(), RiskError> {
        ensure(
            "mm_rate",
            (0.0..=10.0).contains(&self.mm_rate),
            "in [0, 10]",
            self.mm_rate,
        )?;
        ensure(
            "im_rate",
            (self.mm_rate..=10.0).contains(&self.im_rate),
            "in [mm_rate, 10]",
            self.im_rate,
        )?;
        liquidation_scan(self.liq_scan_step, self.liq_rel_tol)
    }
}

/// Parameters of `oracle-adjusted`: `static` with m scaled by implied vol (ramm.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OracleAdjustedParams {
    pub mm_rate: f64,
    pub im_rate: f64,
    pub vol_base: f64,
    pub factor_max: f64,
    pub atm_min_days: f64,
    pub liq_scan_step: f64,
    pub liq_rel_tol: f64,
}

impl Default for OracleAdjustedParams {
    fn default() -> Self {
        OracleAdjustedParams {
            mm_rate: 0.10,
            im_rate: 0.15,
            vol_base: 0.50,
            factor_max: 3.0,
            atm_min_days: 7.0,
            liq_scan_step: 0.01,
            liq_rel_tol: 1e-6,
        }
    }
}

const ORACLE_DOCS: &[ParamDoc] = &[
    ParamDoc {
        key: "mm_rate",
        unit: "fraction of spot notional",
        meaning: "m before scaling, as in static",
    },
    ParamDoc {
        key: "im_rate",
        unit: "fraction of spot notional",
        meaning: "i before scaling, as in static",
    },
    ParamDoc {
        key: "vol_base",
        unit: "vol (decimal)",
        meaning: "σ_base: m_eff = m·clamp(σ_ATM/σ_base, 1, factor_max)",
    },
    ParamDoc {
        key: "factor_max",
        unit: "×",
        meaning: "f_max, the largest scaling of m",
    },
    ParamDoc {
        key: "atm_min_days",
        unit: "days",
        meaning: "σ_ATM is the ATM vol of the nearest listed expiry at least this far away",
    },
    ParamDoc {
        key: "liq_scan_step",
        unit: "fraction of spot",
        meaning: "step of the outward scan for liquidation prices",
    },
    ParamDoc {
        key: "liq_rel_tol",
        unit: "fraction of spot",
        meaning: "Brent tolerance of a liquidation price",
    },
];

impl OracleAdjustedParams {
    /// Reads a TOML parameter file and checks it.
    pub fn from_toml(text: &str) -> Result<OracleAdjustedParams, RiskError> {
        let params: OracleAdjustedParams = parse_toml(text)?;
        params.validate()?;
        Ok(params)
    }

    /// The defaults as commented TOML.
    pub fn default_toml() -> String {
        render(
            "oracle-adjusted: static with m scaled by implied vol (ramm.md)",
            ORACLE_DOCS,
            &OracleAdjustedParams::default(),
        )
    }

    /// Checks every value against its admissible range.
    pub fn validate(&self) -> Result<(), RiskError> {
        StaticParams {
            mm_rate: self.mm_rate,
            im_rate: self.im_rate,
            liq_scan_step: self.liq_scan_step,
            liq_rel_tol: self.liq_rel_tol,
        }
        .validate()?;
        positive("vol_base", self.vol_base)?;
        ensure(
            "factor_max",
            self.factor_max >= 1.0 && self.factor_max <= 100.0,
            "in [1, 100]",
            self.factor_max,
        )?;
        non_negative("atm_min_days", self.atm_min_days)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_toml_parses_back_to_the_defaults() {
        assert_eq!(
            RammParams::from_toml(&RammParams::default_toml()).unwrap(),
            RammParams::default()
        );
        assert_eq!(
            StaticParams::from_toml(&StaticParams::default_toml()).unwrap(),
            StaticParams::default()
        );
        assert_eq!(
            OracleAdjustedParams::from_toml(&OracleAdjustedParams::default_toml()).unwrap(),
            OracleAdjustedParams::default()
        );
    }

    fn doc_keys(docs: &[ParamDoc]) -> Vec<String> {
        let mut k: Vec<String> = docs.iter().map(|d| d.key.to_string()).collect();
        k.sort();
        k
    }

    #[test]
    fn every_key_is_documented_exactly_once() {
        assert_eq!(doc_keys(RAMM_DOCS), keys(&RammParams::default()));
        assert_eq!(doc_keys(STATIC_DOCS), keys(&StaticParams::default()));
        assert_eq!(
            doc_keys(ORACLE_DOCS),
            keys(&OracleAdjustedParams::default())
        );
    }

    #[test]
    fn overrides_and_errors() {
        let p = RammParams::from_toml("z_price = 3.0\nspot_steps = 11").unwrap();
        assert_eq!(p.z_price, 3.0);
        assert_eq!(p.spot_steps, 11);
        assert_eq!(p.range_max, RammParams::default().range_max);
        let err = RammParams::from_toml("spot_steps = 10")
            .unwrap_err()
            .to_string();
        assert!(err.contains("spot_steps"), "{err}");
        let err = RammParams::from_toml("z_pricee = 3.0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("z_pricee"), "{err}");
        let err = RammParams::from_toml("z_price = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid type"), "{err}");
        let err = StaticParams::from_toml("mm_rate = -0.1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mm_rate"), "{err}");
    }
}
