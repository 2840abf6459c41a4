//! Option values per (expiry, scenario): pm.md §2–§3 and the pricing part of §4.
//!
//! This is the one place where option values are computed. [`ExpiryContext`] holds everything
//! an expiry needs (τ, clamped rate, discount factor, forward split, vol multipliers, static
//! discounts, skew caps); [`option_unit_value`] prices one option under one [`Shock`];
//! [`ExpiryValues`] is the per-expiry column of the instrument × scenario table (mark, the two
//! basis moves and one value per scenario) that the aggregation in `engine` consumes. A batch
//! engine can fill [`ExpiryValues`] from its own table instead of calling
//! [`ExpiryValues::compute`].

use super::error::PmError;
use super::params::PmParams;
use super::scenario::{Scenario, VolDirection};
use super::types::{ExpiryMarket, PmOption};
use ale_core::OptionKind;
use ale_pricing::{Black76, VOL_MAX};

/// Seconds in a year: 365 days exactly (pm.md §2).
pub const YEAR_S: u64 = 31_536_000;
/// Seconds in the 30-day reference month of the vol-shock term scaling.
pub const MONTH_S: u64 = 2_592_000;
/// Seconds before expiry during which the forward freezes linearly (30 minutes).
pub const FORWARD_FREEZE_S: u64 = 1_800;
/// Seconds in a day.
const DAY_S: f64 = 86_400.0;

/// Everything one expiry needs to value its options (pm.md §2–§3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpiryContext {
    /// Whole seconds to expiry T_e.
    pub sec_to_expiry: u64,
    /// τ_e = T_e / 31 536 000.
    pub expiry_years: f64,
    /// The rate after the clamp r ← max(r, 0).
    pub rate_clamped: f64,
    /// D_e = exp(−r·τ).
    pub discount: f64,
    /// Unshocked forward F_e.
    pub forward: f64,
    /// Part of the forward that moves with spot, F_var.
    pub forward_var: f64,
    /// Frozen part of the forward, F_fix (non-zero only in the last 30 minutes).
    pub forward_fix: f64,
    /// up_e = 1 + vol_range_up·w.
    pub vol_up_multiplier: f64,
    /// down_e = max(0, 1 − vol_range_down·w).
    pub vol_down_multiplier: f64,
    /// sd⁺_e, applied to non-negative shocked values.
    pub static_discount_pos: f64,
    /// sd⁻_e (capped at 1/D_e), applied to negative shocked values.
    pub static_discount_neg: f64,
    /// `Linear` skew cap: linear_c_base·√τ + linear_base_cap.
    pub skew_cap_linear: f64,
    /// `Abs` skew cap: abs_c_base·√τ + abs_base_cap.
    pub skew_cap_abs: f64,
    /// k* = max(min_k_star, √τ·width_scale·(vol_param_static + √τ·vol_param_scale)).
    pub k_star: f64,
    /// min_vol_up_shock (copied here so that pricing needs only the context).
    pub min_vol_up_shock: f64,
}

impl ExpiryContext {
    /// The context of `market` under `params` (inputs assumed validated).
    pub fn new(market: &ExpiryMarket, params: &PmParams) -> ExpiryContext {
        let vs = &params.vol_shock;
        let mg = &params.margin;
        let sk = &params.skew_shock;
        let t = market.sec_to_expiry;
        let tau = t as f64 / YEAR_S as f64;
        // Rate clamp before anything else uses the rate (pm.md §2, §8 item 7).
        let r = market.rate.max(0.0);
        let discount = (-r * tau).exp();
        let forward = market.forward;
        let (forward_var, forward_fix) = if t < FORWARD_FREEZE_S {
            let freeze = FORWARD_FREEZE_S as f64;
            (
                forward * t as f64 / freeze,
                forward * (FORWARD_FREEZE_S - t) as f64 / freeze,
            )
        } else {
            (forward, 0.0)
        };
        // Term scaling: the DTE floor enters the multiplier only, the power switch uses the
        // true T (pm.md §3 item 3, §8 item 9).
        let floor_s = vs.dte_floor_days * DAY_S;
        let power = if t <= MONTH_S {
            vs.short_term_power
        } else {
            vs.long_term_power
        };
        let denominator = (t as f64).max(floor_s);
        // With T = 0 and a zero floor the weight is unbounded, but then every option of the
        // expiry is worth its intrinsic value and no vol is used: report a neutral weight.
        let weight = if denominator > 0.0 {
            (MONTH_S as f64 / denominator).powf(power)
        } else {
            1.0
        };
        let vol_up_multiplier = 1.0 + vs.vol_range_up * weight;
        let vol_down_multiplier = (1.0 - vs.vol_range_down * weight).max(0.0);
        let static_discount_pos = mg.long_base_static_discount
            * (-tau * (r * mg.long_rate_mult_scale + mg.long_rate_add_scale)).exp();
        let static_discount_neg = (1.0 / discount).min(
            mg.short_base_static_discount
                / (-tau * (r * mg.short_rate_mult_scale + mg.short_rate_add_scale)).exp(),
        );
        let sqrt_tau = tau.sqrt();
        let skew_cap_linear = sk.linear_c_base * sqrt_tau + sk.linear_base_cap;
        let skew_cap_abs = sk.abs_c_base * sqrt_tau + sk.abs_base_cap;
        let k_star = sk
            .min_k_star
            .max(sqrt_tau * sk.width_scale * (sk.vol_param_static + sqrt_tau * sk.vol_param_scale));
        ExpiryContext {
            sec_to_expiry: t,
            expiry_years: tau,
            rate_clamped: r,
            discount,
            forward,
            forward_var,
            forward_fix,
            vol_up_multiplier,
            vol_down_multiplier,
            static_discount_pos,
            static_discount_neg,
            skew_cap_linear,
            skew_cap_abs,
            k_star,
            min_vol_up_shock: vs.min_vol_up_shock,
        }
    }

    /// The forward under spot multiplier `spot_shock`: F_var·s + F_fix.
    pub fn forward_shocked(&self, spot_shock: f64) -> f64 {
        self.forward_var * spot_shock + self.forward_fix
    }

    /// disc_e(x): x·sd⁺ for x ≥ 0, x·sd⁻ otherwise (pm.md §3 item 4).
    pub fn static_discount(&self, value: f64) -> f64 {
        if value >= 0.0 {
            value * self.static_discount_pos
        } else {
            value * self.static_discount_neg
        }
    }

    /// The vol multiplier of a skew scenario for an option struck at `strike` (pm.md §4).
    fn skew_vol_multiplier(&self, direction: SkewKind, strike: f64) -> f64 {
        let log_moneyness = (strike / self.forward).ln();
        let (k, cap) = match direction {
            SkewKind::Linear => (log_moneyness, self.skew_cap_linear),
            SkewKind::Abs => (log_moneyness.abs(), self.skew_cap_abs),
        };
        let ratio = if self.k_star > 0.0 {
            k * cap / self.k_star
        } else if k == 0.0 || cap == 0.0 {
            // k* = 0 (only with min_k_star = 0): the limit of k·cap/k* for k or cap = 0.
            0.0
        } else {
            f64::INFINITY * k.signum() * cap.signum()
        };
        // The two-branch form of pm.md §4 (also right for cap < 0).
        if k >= 0.0 {
            1.0 + cap.min(ratio)
        } else {
            1.0 + (-cap).max(ratio)
        }
    }
}

/// The two skew scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkewKind {
    /// Tilt in log-moneyness.
    Linear,
    /// Bend in |log-moneyness|.
    Abs,
}

/// Which value of an option is wanted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shock {
    /// Today's mark: unshocked forward, the option's own mark vol.
    Mark,
    /// Spot multiplier with a parallel vol move (`Up`, `None` or `Down`), used by the regular
    /// scenarios and the basis floor.
    Spot {
        /// Spot multiplier s.
        spot_shock: f64,
        /// `Up`, `None` or `Down` (a skew direction here is treated as `None`).
        vol: VolDirection,
    },
    /// A skew scenario at the unshocked forward.
    Skew(SkewKind),
}

impl Shock {
    /// The shock of a scenario.
    pub fn of_scenario(scenario: &Scenario) -> Shock {
        match scenario.vol_shock {
            VolDirection::Linear => Shock::Skew(SkewKind::Linear),
            VolDirection::Abs => Shock::Skew(SkewKind::Abs),
            vol => Shock::Spot {
                spot_shock: scenario.spot_shock,
                vol,
            },
        }
    }
}

/// The value of ONE unit of `option` (amount ignored) under `shock`: discounted Black-76 on the
/// (shocked) forward with the (shocked) vol (pm.md §2, §3 item 2, §4). An expired option
/// (τ = 0) is worth its intrinsic value whatever its vol.
pub fn option_unit_value(
    ctx: &ExpiryContext,
    option: &PmOption,
    shock: Shock,
) -> Result<f64, PmError> {
    let sigma = option.mark_vol;
    let (forward, vol) = match shock {
        Shock::Mark => (ctx.forward, sigma),
        Shock::Spot { spot_shock, vol } => {
            let vol = match vol {
                // The min-vol floor applies to `Up` only (pm.md §8 item 8).
                VolDirection::Up => ctx.min_vol_up_shock.max(sigma * ctx.vol_up_multiplier),
                VolDirection::Down => sigma * ctx.vol_down_multiplier,
                _ => sigma,
            };
            (ctx.forward_shocked(spot_shock), vol)
        }
        Shock::Skew(kind) => {
            // No min-vol floor for skew scenarios (pm.md §8 item 4).
            let m = ctx.skew_vol_multiplier(kind, option.strike);
            (ctx.forward, sigma * m.max(0.0))
        }
    };
    // At τ = 0 the vol is irrelevant (and may be absurd): price the intrinsic value.
    let vol = if ctx.expiry_years > 0.0 { vol } else { 0.0 };
    black76_value(
        option.kind,
        forward,
        option.strike,
        ctx.expiry_years,
        vol,
        ctx.rate_clamped,
    )
}

/// Discounted Black-76 value D·Black(F, K, τ, σ) with D = e^(−rate·τ); the discounted
/// intrinsic value at τ = 0 or σ = 0.
///
/// Prices through `ale_pricing::Black76` (the one pricing formula of the codebase) at zero rate
/// and applies the discount factor here, so that the clamped rate may be anything ≥ 0. Black
/// depends on τ and σ only through σ√τ: a vol above `ale_pricing::VOL_MAX` (possible only under
/// extreme vol-up parameters) is priced at the same total vol with a longer τ.
fn black76_value(
    kind: OptionKind,
    forward: f64,
    strike: f64,
    expiry_years: f64,
    vol: f64,
    rate: f64,
) -> Result<f64, PmError> {
    let discount = (-rate * expiry_years).exp();
    let (t, v) = if vol > VOL_MAX {
        let scale = vol / VOL_MAX;
        (expiry_years * scale * scale, VOL_MAX)
    } else {
        (expiry_years, vol)
    };
    let black = Black76::new(kind, forward, strike, t, v, 0.0).map_err(|e| {
        PmError::invalid(
            format!("option (strike {strike}, {expiry_years} years)"),
            format!("cannot be priced: {e}"),
        )
    })?;
    Ok(discount * black.price())
}

/// One expiry's column of the instrument × scenario value table: Σ a·price under the mark,
/// the two basis moves and every scenario (before static discount and dampening).
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiryValues {
    /// MtM_e = Σ a·price at the mark.
    pub mark: f64,
    /// V_e(scenario_spot_up, None).
    pub basis_up: f64,
    /// V_e(scenario_spot_down, None).
    pub basis_down: f64,
    /// V_e under each scenario, in scenario order.
    pub scenarios: Vec<f64>,
}

impl ExpiryValues {
    /// Prices every option of the expiry under every shock it needs.
    pub fn compute(
        ctx: &ExpiryContext,
        options: &[&PmOption],
        params: &PmParams,
        scenarios: &[Scenario],
    ) -> Result<ExpiryValues, PmError> {
        let value = |shock: Shock| -> Result<f64, PmError> {
            let mut total = 0.0;
            for option in options {
                total += option.amount * option_unit_value(ctx, option, shock)?;
            }
            Ok(total)
        };
        let basis = &params.basis_contingency;
        Ok(ExpiryValues {
            mark: value(Shock::Mark)?,
            basis_up: value(Shock::Spot {
                spot_shock: basis.scenario_spot_up,
                vol: VolDirection::None,
            })?,
            basis_down: value(Shock::Spot {
                spot_shock: basis.scenario_spot_down,
                vol: VolDirection::None,
            })?,
            scenarios: scenarios
                .iter()
                .map(|sc| value(Shock::of_scenario(sc)))
                .collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::ParamSet;

    fn ctx_with(k_star: f64, cap: f64) -> ExpiryContext {
        let params = ParamSet::DeriveTest.params();
        let market = ExpiryMarket {
            sec_to_expiry: 30 * 86_400,
            forward: 100.0,
            forward_confidence: 1.0,
            rate: 0.0,
            rate_confidence: 1.0,
            vol_confidence: 1.0,
        };
        let mut ctx = ExpiryContext::new(&market, &params);
        ctx.k_star = k_star;
        ctx.skew_cap_linear = cap;
        ctx.skew_cap_abs = cap;
        ctx
    }

    #[test]
    fn skew_multiplier_two_branch_form() {
        // cap ≥ 0: 1 + clamp(k·cap/k*, −cap, cap).
        let ctx = ctx_with(0.5, 0.2);
        let up = ctx.skew_vol_multiplier(SkewKind::Linear, 100.0 * 0.1_f64.exp());
        assert!((up - (1.0 + 0.1 * 0.2 / 0.5)).abs() < 1e-15);
        assert_eq!(ctx.skew_vol_multiplier(SkewKind::Linear, 1000.0), 1.2);
        assert_eq!(ctx.skew_vol_multiplier(SkewKind::Linear, 10.0), 0.8);
        // Abs uses |k|: a low strike moves the vol up, like a high one.
        assert_eq!(ctx.skew_vol_multiplier(SkewKind::Abs, 10.0), 1.2);
        // cap < 0: the two-branch form, 1 + min(cap, k·cap/k*) for k ≥ 0 and
        // 1 + max(−cap, k·cap/k*) for k < 0 (not a clamp any more).
        let neg = ctx_with(0.5, -0.3);
        let k = 10.0_f64.ln();
        let up = neg.skew_vol_multiplier(SkewKind::Linear, 1000.0);
        assert!((up - (1.0 + (-0.3_f64).min(k * -0.3 / 0.5))).abs() < 1e-15);
        let down = neg.skew_vol_multiplier(SkewKind::Linear, 10.0);
        assert!((down - (1.0 + 0.3_f64.max(-k * -0.3 / 0.5))).abs() < 1e-15);
    }

    #[test]
    fn skew_multiplier_with_zero_k_star_is_finite() {
        let ctx = ctx_with(0.0, 0.2);
        assert_eq!(ctx.skew_vol_multiplier(SkewKind::Linear, 100.0), 1.0);
        assert_eq!(ctx.skew_vol_multiplier(SkewKind::Linear, 101.0), 1.2);
        assert_eq!(ctx.skew_vol_multiplier(SkewKind::Linear, 99.0), 0.8);
    }

    #[test]
    fn vol_above_pricing_domain_is_priced_at_the_same_total_vol() {
        let a = black76_value(OptionKind::Call, 100.0, 110.0, 0.01, 150.0, 0.05).expect("big vol");
        let b =
            black76_value(OptionKind::Call, 100.0, 110.0, 2.25, 10.0, 0.0).expect("same total vol");
        let d = (-0.05_f64 * 0.01).exp();
        assert!((a - d * b).abs() <= 1e-12 * a);
    }

    #[test]
    fn expired_expiry_with_zero_floor_reports_finite_multipliers() {
        let mut params = ParamSet::DeriveTest.params();
        params.vol_shock.dte_floor_days = 0.0;
        let market = ExpiryMarket {
            sec_to_expiry: 0,
            forward: 100.0,
            forward_confidence: 1.0,
            rate: 0.1,
            rate_confidence: 1.0,
            vol_confidence: 1.0,
        };
        let ctx = ExpiryContext::new(&market, &params);
        assert!(ctx.vol_up_multiplier.is_finite() && ctx.vol_down_multiplier.is_finite());
        assert_eq!(ctx.discount, 1.0);
        assert_eq!((ctx.forward_var, ctx.forward_fix), (0.0, 100.0));
        let o = PmOption {
            sec_to_expiry: 0,
            strike: 90.0,
            kind: OptionKind::Put,
            amount: 1.0,
            mark_vol: f64::MAX,
        };
        let v = option_unit_value(
            &ctx,
            &o,
            Shock::Spot {
                spot_shock: 0.5,
                vol: VolDirection::Up,
            },
        );
        assert_eq!(v, Ok(0.0));
    }
}
