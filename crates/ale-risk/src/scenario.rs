//! The `ramm` scenario grid: adaptive spot range, term-scaled vol shocks, extremes (ramm.md §1–2).

use ale_market::UnderlyingMarket;

use crate::params::RammParams;

/// Days in the ACT/365 year.
const DAYS_PER_YEAR: f64 = 365.0;

/// Direction of a scenario's vol shock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolMove {
    /// Vol lowered by the term-scaled down shock (floored at `vol_floor`).
    Down,
    /// The surface as it is (moved with spot, sticky-moneyness).
    None,
    /// Vol raised by the term-scaled up shock.
    Up,
}

impl VolMove {
    /// `"down"`, `"none"`, `"up"`.
    pub fn name(self) -> &'static str {
        match self {
            VolMove::Down => "down",
            VolMove::None => "none",
            VolMove::Up => "up",
        }
    }
}

/// One joint move of spot and implied vol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    /// Relative spot move: the shocked spot is S·(1 + spot_move).
    pub spot_move: f64,
    /// The vol shock.
    pub vol: VolMove,
    /// Share of the scenario's loss that counts: 1 on the grid, `extreme_weight` for extremes.
    pub weight: f64,
    /// True for the two extreme moves beyond the grid.
    pub extreme: bool,
}

/// The grid of one underlying, with the numbers it was built from.
#[derive(Debug, Clone, PartialEq)]
pub struct RammGrid {
    /// σ_ref = max(ATM vol of the nearest expiry ≥ atm_min_days, realised vol).
    pub sigma_ref: f64,
    /// R, the half-width of the spot range.
    pub range: f64,
    /// Grid scenarios (spot steps × {none, up, down}), then the two extremes.
    pub scenarios: Vec<Scenario>,
    /// The scenarios' weights, in order (the margin's scan reads them as one array).
    pub(crate) weights: Vec<f64>,
    /// Indices of the scenarios without a vol shock (the `price` component's), extremes included.
    pub(crate) price_ix: Vec<u32>,
    /// Number of grid scenarios (the extremes follow them; `gamma` reads the grid alone).
    pub(crate) n_grid: usize,
}

/// The ATM vol `ramm` and `oracle-adjusted` read: at the nearest listed expiry at least
/// `min_days` away (the surface's listed expiries), or at `min_days` when none is listed so far.
pub fn reference_atm_vol(market: &UnderlyingMarket, min_days: f64) -> f64 {
    let min_years = min_days / DAYS_PER_YEAR;
    let expiry = market
        .surface()
        .slices()
        .iter()
        .map(|s| s.expiry_years())
        .find(|t| *t >= min_years)
        .unwrap_or(min_years.max(1.0 / DAYS_PER_YEAR));
    market.atm_vol(expiry)
}

/// The additive vol shift of `vol` at expiry `expiry_years`: ±clamp(v·√(T_ref/T), min, max).
#[inline]
pub fn vol_shift(params: &RammParams, vol: VolMove, expiry_years: f64) -> f64 {
    let t = expiry_years.max(1.0 / (DAYS_PER_YEAR * 24.0 * 60.0));
    let scale = (params.vol_ref_days / DAYS_PER_YEAR / t).sqrt();
    match vol {
        VolMove::None => 0.0,
        VolMove::Up => (params.vol_up * scale).clamp(params.vol_up_min, params.vol_up_max),
        VolMove::Down => -(params.vol_down * scale).clamp(params.vol_down_min, params.vol_down_max),
    }
}

/// A vol after a scenario's shock: the base vol plus the shift, floored at `vol_floor` when
/// shocked down (an unshocked vol is the market's own).
#[inline]
pub fn shocked_vol(params: &RammParams, base_vol: f64, vol: VolMove, expiry_years: f64) -> f64 {
    match vol {
        VolMove::None => base_vol,
        VolMove::Up => base_vol + vol_shift(params, vol, expiry_years),
        VolMove::Down => (base_vol + vol_shift(params, vol, expiry_years)).max(params.vol_floor),
    }
}

impl RammGrid {
    /// Builds the grid of `market` (ramm.md §1–2).
    pub fn new(params: &RammParams, market: &UnderlyingMarket) -> RammGrid {
        let atm = reference_atm_vol(market, params.atm_min_days);
        let sigma_ref = atm.max(market.realized_vol().unwrap_or(0.0));
        RammGrid::with_sigma_ref(params, sigma_ref)
    }

    /// Builds the grid for a given σ_ref.
    pub fn with_sigma_ref(params: &RammParams, sigma_ref: f64) -> RammGrid {
        let raw = params.z_price * sigma_ref * (params.scan_days / DAYS_PER_YEAR).sqrt();
        // NaN-safe: a NaN σ_ref takes the widest range.
        let range = if raw.is_nan() {
            params.range_max
        } else {
            raw.clamp(params.range_min, params.range_max)
        };
        let steps = params.spot_steps as usize;
        let half = (steps / 2) as f64;
        let mut scenarios = Vec::with_capacity(steps * 3 + 2);
        for i in 0..steps {
            let spot_move = (range * (i as f64 - half) / half).max(-params.max_down_move);
            // No shock first, so that a tie (a book without vega) reports the plain move.
            for vol in [VolMove::None, VolMove::Up, VolMove::Down] {
                scenarios.push(Scenario {
                    spot_move,
                    vol,
                    weight: 1.0,
                    extreme: false,
                });
            }
        }
        let extreme = params.extreme_multiple * range;
        for spot_move in [(-extreme).max(-params.max_down_move), extreme] {
            scenarios.push(Scenario {
                spot_move,
                vol: VolMove::None,
                weight: params.extreme_weight,
                extreme: true,
            });
        }
        RammGrid {
            sigma_ref,
            range,
            weights: scenarios.iter().map(|s| s.weight).collect(),
            price_ix: (0u32..)
                .zip(&scenarios)
                .filter(|(_, s)| s.vol == VolMove::None)
                .map(|(i, _)| i)
                .collect(),
            n_grid: steps * 3,
            scenarios,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_has_the_documented_shape() {
        let p = RammParams::default();
        let g = RammGrid::with_sigma_ref(&p, 0.55);
        assert_eq!(g.scenarios.len(), 65);
        // R = 5·0.55·√(1/365)
        let r = 5.0 * 0.55 * (1.0f64 / 365.0).sqrt();
        assert!((g.range - r).abs() < 1e-15);
        assert_eq!(g.scenarios[0].spot_move, -r);
        assert_eq!(g.scenarios[30].spot_move, 0.0);
        assert_eq!(g.scenarios[62].spot_move, r);
        assert!(g.scenarios[63].extreme && g.scenarios[63].spot_move == -2.0 * r);
        assert_eq!(g.scenarios[64].weight, 0.33);
    }

    #[test]
    fn range_is_clamped() {
        let p = RammParams::default();
        assert_eq!(RammGrid::with_sigma_ref(&p, 0.01).range, 0.08);
        assert_eq!(RammGrid::with_sigma_ref(&p, 20.0).range, 0.5);
        assert_eq!(RammGrid::with_sigma_ref(&p, f64::NAN).range, 0.5);
        // Extremes never take spot to zero or below.
        let g = RammGrid::with_sigma_ref(&p, 20.0);
        assert!(g.scenarios.iter().all(|s| s.spot_move >= -0.95));
    }

    #[test]
    fn vol_shocks_are_term_scaled_and_clamped() {
        let p = RammParams::default();
        let t_ref = 30.0 / 365.0;
        assert!((vol_shift(&p, VolMove::Up, t_ref) - 0.15).abs() < 1e-15);
        assert!((vol_shift(&p, VolMove::Up, 4.0 * t_ref) - 0.075).abs() < 1e-15);
        assert_eq!(vol_shift(&p, VolMove::Up, 1e-6), 0.60);
        assert_eq!(vol_shift(&p, VolMove::Up, 100.0), 0.05);
        assert!((vol_shift(&p, VolMove::Down, t_ref) + 0.10).abs() < 1e-15);
        assert_eq!(shocked_vol(&p, 0.08, VolMove::Down, t_ref), 0.05);
        assert_eq!(shocked_vol(&p, 0.5, VolMove::None, t_ref), 0.5);
    }
}
