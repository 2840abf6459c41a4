//! Parameters of the `pm` policy (pm.md §6): the five groups, the two named sets and the
//! admissible ranges.

use super::error::PmError;

/// `vol_shock` group: size and term structure of the `Up` / `Down` vol shocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VolShockParams {
    /// Size of the vol-up shock at 30 days (fraction of vol).
    pub vol_range_up: f64,
    /// Size of the vol-down shock at 30 days (fraction of vol).
    pub vol_range_down: f64,
    /// Term exponent for T ≤ 30 days.
    pub short_term_power: f64,
    /// Term exponent for T > 30 days.
    pub long_term_power: f64,
    /// Shortest time to expiry used in the term scaling (days).
    pub dte_floor_days: f64,
    /// Lowest vol after an `Up` shock (decimal vol).
    pub min_vol_up_shock: f64,
}

/// `margin` group: factors on the worst loss and the static discounts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarginParams {
    /// Share of the worst loss required for IM.
    pub im_factor: f64,
    /// Share of the worst loss required for MM.
    pub mm_factor: f64,
    /// Rate multiplier in sd⁻.
    pub short_rate_mult_scale: f64,
    /// Rate multiplier in sd⁺.
    pub long_rate_mult_scale: f64,
    /// Constant rate added in sd⁻ (1/year).
    pub short_rate_add_scale: f64,
    /// Constant rate added in sd⁺ (1/year).
    pub long_rate_add_scale: f64,
    /// Base of sd⁻ (applied to negative shocked values).
    pub short_base_static_discount: f64,
    /// Base of sd⁺ (applied to positive shocked values).
    pub long_base_static_discount: f64,
}

/// `basis_contingency` group: the basis floor scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BasisParams {
    /// Up move of the basis floor (multiplier, in (1, 3)).
    pub scenario_spot_up: f64,
    /// Down move of the basis floor (multiplier, in (0, 1)).
    pub scenario_spot_down: f64,
    /// Constant weight of the basis loss.
    pub add_factor: f64,
    /// Weight per year to expiry (1/year).
    pub mult_factor: f64,
}

/// `other_contingency` group: peg, confidence, perp and option contingencies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OtherContingencyParams {
    /// Stable price below which IM grows (USD).
    pub peg_loss_threshold: f64,
    /// IM factor added per USD of de-peg (1/USD).
    pub peg_loss_factor: f64,
    /// Confidence below which the confidence charge applies.
    pub conf_threshold: f64,
    /// Charge per unit of missing confidence (fraction of notional).
    pub conf_margin: f64,
    /// MM per perp notional (fraction).
    pub mm_perp_percent: f64,
    /// Extra IM per perp notional (fraction).
    pub im_perp_percent: f64,
    /// MM per naked short, times spot (fraction).
    pub mm_option_percent: f64,
    /// Extra IM per naked short, times spot (fraction).
    pub im_option_percent: f64,
}

/// `skew_shock` group: the `Linear` and `Abs` smile shocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkewShockParams {
    /// Largest `Linear` vol-multiplier change at τ = 0.
    pub linear_base_cap: f64,
    /// Largest `Abs` vol-multiplier change at τ = 0.
    pub abs_base_cap: f64,
    /// Change of the `Linear` cap per √year.
    pub linear_c_base: f64,
    /// Change of the `Abs` cap per √year.
    pub abs_c_base: f64,
    /// Smallest k* (log-moneyness).
    pub min_k_star: f64,
    /// k* width factor.
    pub width_scale: f64,
    /// Vol level in k*.
    pub vol_param_static: f64,
    /// Vol change per √year in k*.
    pub vol_param_scale: f64,
}

/// All parameters of the `pm` policy (the five groups of pm.md §6).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PmParams {
    /// `vol_shock` group.
    pub vol_shock: VolShockParams,
    /// `margin` group.
    pub margin: MarginParams,
    /// `basis_contingency` group.
    pub basis_contingency: BasisParams,
    /// `other_contingency` group.
    pub other_contingency: OtherContingencyParams,
    /// `skew_shock` group.
    pub skew_shock: SkewShockParams,
}

/// The two named parameter sets of pm.md §6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ParamSet {
    /// Derive's mainnet configuration, close to Deribit's published portfolio margin. The default.
    #[default]
    DeribitLike,
    /// The values most of Derive's published test cases use.
    DeriveTest,
}

impl ParamSet {
    /// Both sets, in documentation order.
    pub const ALL: [ParamSet; 2] = [ParamSet::DeribitLike, ParamSet::DeriveTest];

    /// The name used in TOML (`set = "deribit-like"`).
    pub fn name(self) -> &'static str {
        match self {
            ParamSet::DeribitLike => "deribit-like",
            ParamSet::DeriveTest => "derive-test",
        }
    }

    /// The set called `name`, if any.
    pub fn from_name(name: &str) -> Option<ParamSet> {
        ParamSet::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The set's parameter values (every value of the pm.md §6 table).
    pub fn params(self) -> PmParams {
        match self {
            ParamSet::DeribitLike => PmParams {
                vol_shock: VolShockParams {
                    vol_range_up: 0.5,
                    vol_range_down: 0.3,
                    short_term_power: 0.3,
                    long_term_power: 0.13,
                    dte_floor_days: 1.0,
                    min_vol_up_shock: 0.4,
                },
                margin: MarginParams {
                    im_factor: 1.0,
                    mm_factor: 0.8,
                    short_rate_mult_scale: 0.0,
                    long_rate_mult_scale: 0.0,
                    short_rate_add_scale: 0.16,
                    long_rate_add_scale: 0.16,
                    short_base_static_discount: 0.95,
                    long_base_static_discount: 1.05,
                },
                basis_contingency: BasisParams {
                    scenario_spot_up: 1.045,
                    scenario_spot_down: 0.955,
                    add_factor: 0.5,
                    mult_factor: 2.0,
                },
                other_contingency: OtherContingencyParams {
                    peg_loss_threshold: 0.99,
                    peg_loss_factor: 4.0,
                    conf_threshold: 0.55,
                    conf_margin: 1.0,
                    mm_perp_percent: 0.03,
                    im_perp_percent: 0.01,
                    mm_option_percent: 0.003,
                    im_option_percent: 0.002,
                },
                skew_shock: SkewShockParams {
                    linear_base_cap: 0.25,
                    abs_base_cap: 0.25,
                    linear_c_base: -0.1,
                    abs_c_base: -0.1,
                    min_k_star: 0.01,
                    width_scale: 4.0,
                    vol_param_static: 0.6,
                    vol_param_scale: 0.0,
                },
            },
            ParamSet::DeriveTest => PmParams {
                vol_shock: VolShockParams {
                    vol_range_up: 0.5,
                    vol_range_down: 0.275,
                    short_term_power: 0.3,
                    long_term_power: 0.13,
                    dte_floor_days: 1.0,
                    min_vol_up_shock: 0.45,
                },
                margin: MarginParams {
                    im_factor: 1.0,
                    mm_factor: 0.8,
                    short_rate_mult_scale: 0.5,
                    long_rate_mult_scale: 1.0,
                    short_rate_add_scale: 0.08,
                    long_rate_add_scale: 0.08,
                    short_base_static_discount: 1.04,
                    long_base_static_discount: 0.95,
                },
                basis_contingency: BasisParams {
                    scenario_spot_up: 1.045,
                    scenario_spot_down: 0.955,
                    add_factor: 0.5,
                    mult_factor: 2.0,
                },
                other_contingency: OtherContingencyParams {
                    peg_loss_threshold: 0.98,
                    peg_loss_factor: 2.0,
                    conf_threshold: 0.55,
                    conf_margin: 1.0,
                    mm_perp_percent: 0.015,
                    im_perp_percent: 0.005,
                    mm_option_percent: 0.003,
                    im_option_percent: 0.002,
                },
                skew_shock: SkewShockParams {
                    linear_base_cap: 0.15,
                    abs_base_cap: 0.15,
                    linear_c_base: -0.05,
                    abs_c_base: -0.05,
                    min_k_star: 0.01,
                    width_scale: 4.0,
                    vol_param_static: 0.6,
                    vol_param_scale: -0.1,
                },
            },
        }
    }
}

impl Default for PmParams {
    /// The `deribit-like` set.
    fn default() -> Self {
        ParamSet::DeribitLike.params()
    }
}

/// Admissible range of one parameter (pm.md §6, "Admissible values").
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admissible {
    /// `lo <= x <= hi`.
    Closed(f64, f64),
    /// `lo < x < hi`.
    Open(f64, f64),
}

impl Admissible {
    /// True when `x` lies in the range (NaN never does).
    pub fn contains(self, x: f64) -> bool {
        match self {
            Admissible::Closed(lo, hi) => lo <= x && x <= hi,
            Admissible::Open(lo, hi) => lo < x && x < hi,
        }
    }
}

impl std::fmt::Display for Admissible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Admissible::Closed(lo, hi) => write!(f, "[{lo}, {hi}]"),
            Admissible::Open(lo, hi) => write!(f, "({lo}, {hi})"),
        }
    }
}

/// Description of one parameter: where it lives, what it means, its unit and admissible range,
/// and how to read and write it. [`PARAM_SPECS`] lists all 34, in the order of pm.md §6.
#[derive(Clone, Copy)]
pub struct ParamSpec {
    /// TOML / case group (`vol_shock`, `margin`, ...).
    pub group: &'static str,
    /// Key inside the group.
    pub key: &'static str,
    /// Meaning, as in pm.md §6.
    pub meaning: &'static str,
    /// Unit, as in pm.md §6 (`-` when dimensionless).
    pub unit: &'static str,
    /// Admissible range.
    pub admissible: Admissible,
    /// Reads the value from a parameter set.
    pub get: fn(&PmParams) -> f64,
    /// Writes the value into a parameter set.
    pub set: fn(&mut PmParams, f64),
}

impl std::fmt::Debug for ParamSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ParamSpec({}.{})", self.group, self.key)
    }
}

impl ParamSpec {
    /// `group.key`.
    pub fn path(&self) -> String {
        format!("{}.{}", self.group, self.key)
    }
}

macro_rules! spec {
    ($group:ident . $key:ident, $meaning:expr, $unit:expr, $adm:expr) => {
        ParamSpec {
            group: stringify!($group),
            key: stringify!($key),
            meaning: $meaning,
            unit: $unit,
            admissible: $adm,
            get: |p: &PmParams| p.$group.$key,
            set: |p: &mut PmParams, v: f64| p.$group.$key = v,
        }
    };
}

use Admissible::{Closed, Open};

/// Every parameter of pm.md §6, in table order, with its admissible range.
pub const PARAM_SPECS: [ParamSpec; 34] = [
    spec!(
        vol_shock.vol_range_up,
        "size of the vol-up shock at 30 days",
        "fraction of vol",
        Closed(0.0, 10.0)
    ),
    spec!(
        vol_shock.vol_range_down,
        "size of the vol-down shock at 30 days",
        "fraction of vol",
        Closed(0.0, 10.0)
    ),
    spec!(
        vol_shock.short_term_power,
        "term exponent for T <= 30 d",
        "-",
        Closed(0.0, 10.0)
    ),
    spec!(
        vol_shock.long_term_power,
        "term exponent for T > 30 d",
        "-",
        Closed(0.0, 10.0)
    ),
    spec!(
        vol_shock.dte_floor_days,
        "shortest T used in the term scaling",
        "days",
        Closed(0.0, 400.0)
    ),
    spec!(
        vol_shock.min_vol_up_shock,
        "lowest vol after an `Up` shock",
        "vol (decimal)",
        Closed(0.0, 20.0)
    ),
    spec!(
        margin.im_factor,
        "share of the worst loss required for IM",
        "-",
        Closed(0.5, 10.0)
    ),
    spec!(
        margin.mm_factor,
        "share of the worst loss required for MM",
        "-",
        Closed(0.1, 10.0)
    ),
    spec!(
        margin.short_rate_mult_scale,
        "rate multiplier in sd- (static discount of negative shocked values)",
        "-",
        Closed(0.0, 10.0)
    ),
    spec!(
        margin.long_rate_mult_scale,
        "rate multiplier in sd+ (static discount of positive shocked values)",
        "-",
        Closed(0.0, 10.0)
    ),
    spec!(
        margin.short_rate_add_scale,
        "constant rate added in sd-",
        "1/year",
        Closed(0.0, 10.0)
    ),
    spec!(
        margin.long_rate_add_scale,
        "constant rate added in sd+",
        "1/year",
        Closed(0.0, 10.0)
    ),
    spec!(
        margin.short_base_static_discount,
        "base of sd- (negative shocked values)",
        "-",
        Closed(0.0, 4.0)
    ),
    spec!(
        margin.long_base_static_discount,
        "base of sd+ (positive shocked values)",
        "-",
        Closed(0.0, 4.0)
    ),
    spec!(
        basis_contingency.scenario_spot_up,
        "up move of the basis floor",
        "multiplier",
        Open(1.0, 3.0)
    ),
    spec!(
        basis_contingency.scenario_spot_down,
        "down move of the basis floor",
        "multiplier",
        Open(0.0, 1.0)
    ),
    spec!(
        basis_contingency.add_factor,
        "constant weight of the basis loss",
        "-",
        Closed(0.0, 20.0)
    ),
    spec!(
        basis_contingency.mult_factor,
        "weight of the basis loss per year to expiry",
        "1/year",
        Closed(0.0, 20.0)
    ),
    spec!(
        other_contingency.peg_loss_threshold,
        "stable price below which IM grows",
        "USD",
        Closed(0.0, 100.0)
    ),
    spec!(
        other_contingency.peg_loss_factor,
        "IM factor added per USD of de-peg",
        "1/USD",
        Closed(0.0, 10.0)
    ),
    spec!(
        other_contingency.conf_threshold,
        "confidence below which the confidence charge applies",
        "-",
        Closed(0.0, 1.0)
    ),
    spec!(
        other_contingency.conf_margin,
        "charge per unit of missing confidence",
        "fraction of notional",
        Closed(0.0, 20.0)
    ),
    spec!(
        other_contingency.mm_perp_percent,
        "MM per perp notional (|q| x spot)",
        "fraction",
        Closed(0.0, 3.0)
    ),
    spec!(
        other_contingency.im_perp_percent,
        "extra IM per perp notional (|q| x spot)",
        "fraction",
        Closed(0.0, 3.0)
    ),
    spec!(
        other_contingency.mm_option_percent,
        "MM per naked short, x spot",
        "fraction",
        Closed(0.0, 2.0)
    ),
    spec!(
        other_contingency.im_option_percent,
        "extra IM per naked short, x spot",
        "fraction",
        Closed(0.0, 2.0)
    ),
    spec!(
        skew_shock.linear_base_cap,
        "largest Linear vol-multiplier change at tau = 0",
        "-",
        Closed(0.0, 10.0)
    ),
    spec!(
        skew_shock.abs_base_cap,
        "largest Abs vol-multiplier change at tau = 0",
        "-",
        Closed(0.0, 10.0)
    ),
    spec!(
        skew_shock.linear_c_base,
        "change of the Linear cap per sqrt(year)",
        "-",
        Closed(-10.0, 10.0)
    ),
    spec!(
        skew_shock.abs_c_base,
        "change of the Abs cap per sqrt(year)",
        "-",
        Closed(-10.0, 10.0)
    ),
    spec!(
        skew_shock.min_k_star,
        "smallest k*",
        "log-moneyness",
        Closed(0.0, 10.0)
    ),
    spec!(
        skew_shock.width_scale,
        "k* width factor",
        "-",
        Closed(0.0, 10.0)
    ),
    spec!(
        skew_shock.vol_param_static,
        "vol level in k*",
        "vol",
        Closed(0.0, 10.0)
    ),
    spec!(
        skew_shock.vol_param_scale,
        "vol change per sqrt(year) in k*",
        "vol",
        Closed(-20.0, 20.0)
    ),
];

/// The five group names, in order.
pub const PARAM_GROUPS: [&str; 5] = [
    "vol_shock",
    "margin",
    "basis_contingency",
    "other_contingency",
    "skew_shock",
];

impl PmParams {
    /// Checks every parameter against its admissible range (pm.md §6). The error names the
    /// key: `invalid 'margin.mm_factor': must be in [0.1, 10], got 12`.
    pub fn validate(&self) -> Result<(), PmError> {
        for spec in &PARAM_SPECS {
            let value = (spec.get)(self);
            if !spec.admissible.contains(value) {
                return Err(PmError::invalid(
                    spec.path(),
                    format!("must be in {}, got {value}", spec.admissible),
                ));
            }
        }
        Ok(())
    }

    /// The spec of `group.key`, if it names a parameter.
    pub fn spec(group: &str, key: &str) -> Option<&'static ParamSpec> {
        PARAM_SPECS
            .iter()
            .find(|s| s.group == group && s.key == key)
    }
}
