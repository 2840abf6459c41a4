//! Scenarios (pm.md §4) and the default lists (pm.md §7).

use super::error::PmError;
use super::params::ParamSet;

/// How a scenario moves the vols (pm.md §4).
///
/// `Up`, `None` and `Down` shift every vol of an expiry by the term-scaled multipliers of
/// pm.md §3; `Linear` and `Abs` tilt or bend the smile at the unshocked forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VolDirection {
    /// Vols up by `up_e`, floored at `min_vol_up_shock`.
    Up,
    /// Vols unchanged.
    None,
    /// Vols down by `down_e` (floored at 0).
    Down,
    /// Smile tilted in log-moneyness (skew scenario, must sit at s = 1).
    Linear,
    /// Smile bent in |log-moneyness| (skew scenario, must sit at s = 1).
    Abs,
}

impl VolDirection {
    /// All five directions.
    pub const ALL: [VolDirection; 5] = [
        VolDirection::Up,
        VolDirection::None,
        VolDirection::Down,
        VolDirection::Linear,
        VolDirection::Abs,
    ];

    /// The name used in case files and TOML (`"Up"`, `"None"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            VolDirection::Up => "Up",
            VolDirection::None => "None",
            VolDirection::Down => "Down",
            VolDirection::Linear => "Linear",
            VolDirection::Abs => "Abs",
        }
    }

    /// The direction called `name` (exact, case-sensitive), if any.
    pub fn from_name(name: &str) -> Option<VolDirection> {
        VolDirection::ALL.into_iter().find(|d| d.name() == name)
    }

    /// True for the skew scenarios `Linear` and `Abs`.
    pub fn is_skew(self) -> bool {
        matches!(self, VolDirection::Linear | VolDirection::Abs)
    }
}

/// One scenario: spot multiplier, vol direction and dampening (pm.md §4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    /// Spot multiplier s > 0 (1.18 = +18 %), not a move.
    pub spot_shock: f64,
    /// Vol direction.
    pub vol_shock: VolDirection,
    /// Fraction d ≥ 0 of the simulated P&L that counts.
    pub dampening: f64,
}

impl Scenario {
    /// A scenario with the given multiplier, direction and dampening (unchecked; a
    /// [`ScenarioList`] checks it).
    pub const fn new(spot_shock: f64, vol_shock: VolDirection, dampening: f64) -> Self {
        Scenario {
            spot_shock,
            vol_shock,
            dampening,
        }
    }
}

/// Caps of a profile: Derive caps the scenario list at 40 and an account at 30 expiries; the
/// `deribit-like` profile keeps them, explicit case parameters have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Most scenarios in the list.
    pub max_scenarios: Option<usize>,
    /// Most expiries an account (per underlying) may hold options in.
    pub max_expiries: Option<usize>,
}

impl Limits {
    /// No caps.
    pub const NONE: Limits = Limits {
        max_scenarios: None,
        max_expiries: None,
    };
    /// Derive's caps: 40 scenarios, 30 expiries.
    pub const DERIVE: Limits = Limits {
        max_scenarios: Some(40),
        max_expiries: Some(30),
    };
}

/// A validated, non-empty scenario list (pm.md §6): every s > 0, every d ≥ 0, at most one
/// `Linear` and one `Abs`, both at s = 1 exactly, and within the profile's cap.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioList {
    scenarios: Vec<Scenario>,
}

impl ScenarioList {
    /// Checks and wraps `scenarios`. Errors name the entry, e.g.
    /// `invalid 'scenarios[29].spot_shock': a Linear scenario must have spot_shock = 1, got 1.1`.
    pub fn new(scenarios: Vec<Scenario>, limits: &Limits) -> Result<Self, PmError> {
        if scenarios.is_empty() {
            return Err(PmError::invalid(
                "scenarios",
                "at least one scenario is required",
            ));
        }
        if let Some(max) = limits.max_scenarios {
            if scenarios.len() > max {
                return Err(PmError::invalid(
                    "scenarios",
                    format!(
                        "at most {max} scenarios in this profile, got {}",
                        scenarios.len()
                    ),
                ));
            }
        }
        let mut linear_seen = false;
        let mut abs_seen = false;
        for (i, sc) in scenarios.iter().enumerate() {
            let s = sc.spot_shock;
            if !(s.is_finite() && s > 0.0) {
                return Err(PmError::invalid(
                    format!("scenarios[{i}].spot_shock"),
                    format!("must be finite and > 0, got {s}"),
                ));
            }
            let d = sc.dampening;
            if !(d.is_finite() && d >= 0.0) {
                return Err(PmError::invalid(
                    format!("scenarios[{i}].dampening"),
                    format!("must be finite and >= 0, got {d}"),
                ));
            }
            if sc.vol_shock.is_skew() {
                let seen = match sc.vol_shock {
                    VolDirection::Linear => &mut linear_seen,
                    _ => &mut abs_seen,
                };
                if *seen {
                    return Err(PmError::invalid(
                        format!("scenarios[{i}].vol_shock"),
                        format!("at most one {} scenario", sc.vol_shock.name()),
                    ));
                }
                *seen = true;
                if s != 1.0 {
                    return Err(PmError::invalid(
                        format!("scenarios[{i}].spot_shock"),
                        format!(
                            "a {} scenario must have spot_shock = 1, got {s}",
                            sc.vol_shock.name()
                        ),
                    ));
                }
            }
        }
        Ok(ScenarioList { scenarios })
    }

    /// The scenarios, in input order.
    pub fn as_slice(&self) -> &[Scenario] {
        &self.scenarios
    }

    /// Number of scenarios (≥ 1).
    pub fn len(&self) -> usize {
        self.scenarios.len()
    }

    /// Always false: a list holds at least one scenario.
    pub fn is_empty(&self) -> bool {
        self.scenarios.is_empty()
    }

    /// The default list of a named set (pm.md §7).
    pub fn default_for(set: ParamSet) -> ScenarioList {
        ScenarioList {
            scenarios: default_scenarios(set),
        }
    }
}

/// The regular ±18 % grid in 4.5 % steps between the two outermost `Up` scenarios.
const GRID: [f64; 7] = [1.135, 1.09, 1.045, 1.0, 0.955, 0.91, 0.865];

/// The raw default scenarios of a named set (pm.md §7), in reporting order.
fn default_scenarios(set: ParamSet) -> Vec<Scenario> {
    use VolDirection as V;
    let mut out = vec![Scenario::new(1.18, V::Up, 1.0)];
    match set {
        ParamSet::DeribitLike => {
            for s in GRID {
                for dir in [V::Up, V::None, V::Down] {
                    out.push(Scenario::new(s, dir, 1.0));
                }
            }
            out.push(Scenario::new(0.82, V::Up, 1.0));
            // Tails: dampening 0.1386 / |s − 1|, as listed in pm.md §7.
            for (s, d) in [
                (0.34, 0.21),
                (0.67, 0.42),
                (1.5, 0.2772),
                (2.0, 0.1386),
                (3.0, 0.0693),
                (4.0, 0.0462),
                (5.0, 0.03465),
                (6.0, 0.02772),
            ] {
                out.push(Scenario::new(s, V::Up, d));
            }
        }
        ParamSet::DeriveTest => {
            for s in GRID {
                for dir in [V::Down, V::None, V::Up] {
                    out.push(Scenario::new(s, dir, 1.0));
                }
            }
            out.push(Scenario::new(0.82, V::Up, 1.0));
            // Tails: dampening 0.036 / |s − 1|.
            for s in [0.34, 0.67, 1.5, 2.0, 3.0, 4.0] {
                let s: f64 = s;
                out.push(Scenario::new(s, V::Up, 0.036 / (s - 1.0).abs()));
            }
        }
    }
    out.push(Scenario::new(1.0, V::Linear, 1.0));
    out.push(Scenario::new(1.0, V::Abs, 1.0));
    out
}
