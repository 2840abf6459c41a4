//! The Black-76 formula: discounted price on the forward and its Greeks, computed together.
//!
//! Notation: `x = ln(F/K)`, `s = σ·√T` (total vol), `D = e^(−R·T)`, `θ = ±1` (call / put),
//! `d1,2 = x/s ± s/2`. The price is `D·(intrinsic + OTM)` where `intrinsic = max(θ(F − K), 0)`
//! and `OTM` is the undiscounted price of the out-of-the-money option of the pair (put-call
//! parity), `OTM = √(FK)·b(−|x|, s)` with Jäckel's normalised Black function
//! `b(x, s) = e^(x/2)·N(x/s + s/2) − e^(−x/2)·N(x/s − s/2)` for `x ≤ 0`.
//!
//! `b` is evaluated without the cancellation of `F·N(d1) − K·N(d2)`: with `m = |x|/(s√2)`,
//! `δ = s/(2√2)` and `E = exp(−m² − δ²)`, the identity `e^(x/2)·N(d1) = ½·E·erfcx(m − δ)`
//! gives
//! - `b = ½·E·(erfcx(m − δ) − erfcx(m + δ))` when `m ≥ δ` (both terms in the lower tail);
//! - `b = e^(x/2) − ½·E·(erfcx(δ − m) + erfcx(m + δ))` when `m < δ` (large total vol: no
//!   cancellation, since then `b` is a sizeable part of `e^(x/2)`);
//! - for small total vol (`δ < 0.03·max(m, 1)` and `m < 8`) the difference
//!   `erfcx(m − δ) − erfcx(m + δ)` is summed as the odd part of the Taylor series of erfcx
//!   about `m` (see `special::erfcx_central_difference`), which loses nothing to cancellation.
//!   Above that threshold the direct difference loses at most `log2(max(m, 1)/(2δ)) ≈ 4`
//!   bits.
//!
//! `x` itself is computed as `ln(q) + (F − q·K)/F` with `q = fl(F/K)`, the remainder exact and
//! `ln` accurate relative to its result near `q = 1` (the crate's own kernel, `ln_1p` quality), so that near the money `x` is accurate relative to itself, not to 1 — the price of a
//! one-minute option near the money depends on `x/s` with `s` ~ 1e-5.
//!
//! Greeks reuse the same pieces: `F·φ(d1) = K·φ(d2) = √(FK)·E/√(2π)` and
//! `N(−|d1|) = ½·(√(FK)·E/F)·erfcx(|d1|/√2)`, where `erfcx(|d1|/√2)` is one of the two values
//! already computed for the price.

use crate::error::{check_range, InvalidInput, PricingError};
use crate::special::{
    erfcx_central_difference, erfcx_nonneg, exp_kernel, ln_kernel, max_sel, min_sel,
    two_product_error, INV_SQRT_2PI,
};
use ale_core::OptionKind;

/// Smallest accepted forward and strike.
pub const PRICE_MIN: f64 = 1e-100;
/// Largest accepted forward and strike.
pub const PRICE_MAX: f64 = 1e100;
/// Largest accepted time to expiry, in years.
pub const EXPIRY_YEARS_MAX: f64 = 100.0;
/// Largest accepted vol (10 000 %).
pub const VOL_MAX: f64 = 100.0;
/// Largest accepted `|rate|` (continuously compounded, 100 %).
pub const RATE_ABS_MAX: f64 = 1.0;
/// Total vol `σ·√T` below which the option is priced as at zero vol (its limit): the time value
/// there is below `4e-101·√(FK)`.
pub const TOTAL_VOL_MIN: f64 = 1e-100;

const REQ_PRICE: &str = "finite and in [1e-100, 1e100]";
const REQ_T: &str = "finite and in [0, 100] (years)";
const REQ_VOL: &str = "finite and in [0, 100]";
const REQ_RATE: &str = "finite and in [-1, 1]";

/// Price and Greeks of one option, all discounted, per 1.00 of vol and per year.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Greeks {
    /// `e^(−R·T)·Black(F, K, T, σ)`.
    pub price: f64,
    /// `∂price/∂F`.
    pub delta: f64,
    /// `∂²price/∂F²`.
    pub gamma: f64,
    /// `∂price/∂σ`, per 1.00 of vol.
    pub vega: f64,
    /// `−∂price/∂T`, per year, including the discount factor's dependence on `T`.
    pub theta: f64,
    /// `∂²price/∂F∂σ`.
    pub vanna: f64,
    /// `∂²price/∂σ²`.
    pub volga: f64,
}

/// One European option under Black-76 (discounted, on the forward).
///
/// Build it with [`Black76::new`], which checks the domain; the fields are public for reading
/// and for struct-literal construction by callers that validated themselves (a value outside
/// the domain then gives unspecified but never panicking results).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Black76 {
    /// Call or put.
    pub kind: OptionKind,
    /// Forward `F` of the underlying to the expiry, in `[1e-100, 1e100]`.
    pub forward: f64,
    /// Strike `K`, in `[1e-100, 1e100]`.
    pub strike: f64,
    /// Time to expiry `T` in years (ACT/365), in `[0, 100]`.
    pub expiry_years: f64,
    /// Vol `σ` as a decimal (0.65 = 65 %), in `[0, 100]`.
    pub vol: f64,
    /// Continuously compounded discount rate `R`, in `[−1, 1]`.
    pub rate: f64,
}

/// Check the six inputs of Black-76 (the batch API calls this per element).
#[inline]
pub fn validate_inputs(
    forward: f64,
    strike: f64,
    expiry_years: f64,
    vol: f64,
    rate: f64,
) -> Result<(), InvalidInput> {
    check_range("forward", forward, PRICE_MIN, PRICE_MAX, REQ_PRICE)?;
    check_range("strike", strike, PRICE_MIN, PRICE_MAX, REQ_PRICE)?;
    check_range("t", expiry_years, 0.0, EXPIRY_YEARS_MAX, REQ_T)?;
    check_range("vol", vol, 0.0, VOL_MAX, REQ_VOL)?;
    check_range("rate", rate, -RATE_ABS_MAX, RATE_ABS_MAX, REQ_RATE)?;
    Ok(())
}

impl Black76 {
    /// Checked constructor: every field finite and within the documented range, else an error
    /// naming the field, e.g. `invalid 'vol': must be finite and in [0, 100], got NaN`.
    ///
    /// Within this domain every output of [`price`](Self::price) and [`greeks`](Self::greeks)
    /// is finite.
    pub fn new(
        kind: OptionKind,
        forward: f64,
        strike: f64,
        expiry_years: f64,
        vol: f64,
        rate: f64,
    ) -> Result<Black76, PricingError> {
        validate_inputs(forward, strike, expiry_years, vol, rate)?;
        Ok(Black76 {
            kind,
            forward,
            strike,
            expiry_years,
            vol,
            rate,
        })
    }

    /// The discounted price `e^(−R·T)·Black(F, K, T, σ)`.
    ///
    /// At `T = 0` or `σ = 0` (total vol below [`TOTAL_VOL_MIN`]) it is the discounted intrinsic
    /// value. Always within `[D·intrinsic, D·F]` (call) or `[D·intrinsic, D·K]` (put).
    #[inline]
    pub fn price(&self) -> f64 {
        price_kernel(
            self.kind.sign(),
            self.forward,
            self.strike,
            self.expiry_years,
            self.vol,
            self.rate,
        )
    }

    /// Price and the six Greeks together.
    ///
    /// At `T = 0` or zero total vol the option is worth its discounted intrinsic value and the
    /// Greeks are the limits of the Black-76 Greeks:
    /// - away from the kink (`F ≠ K`): `delta = D·θ` in the money, 0 out of it; gamma, vega,
    ///   vanna, volga 0; `theta = R·price` (the discount factor's decay only);
    /// - at the kink `F = K`: `delta = D·θ/2` (the limit as `σ → 0` of `D·θ·N(θ·s/2)`);
    ///   `gamma = 0` (its limit is a Dirac mass, which has no finite value);
    ///   `vega = D·F·√T/√(2π)` and `vanna = D·√T/(2√(2π))` (their limits as `σ → 0`, zero at
    ///   `T = 0`); `theta = R·price = 0` (the limit as `σ → 0`; as `T → 0` the true value tends
    ///   to −∞, which has no finite value); `volga = 0`.
    #[inline]
    pub fn greeks(&self) -> Greeks {
        greeks_kernel(
            self.kind.sign(),
            self.forward,
            self.strike,
            self.expiry_years,
            self.vol,
            self.rate,
        )
    }
}

/// `ln(F/K)`, accurate relative to itself even when `F/K` is within a few ulps of 1.
#[inline(always)]
pub(crate) fn log_moneyness(forward: f64, strike: f64) -> f64 {
    let q = forward / strike;
    let p = q * strike;
    // F − q·K exactly: F − p is exact (Sterbenz: p is within an ulp or two of F), the product's
    // rounding error is exact from Dekker's algorithm.
    let remainder = (forward - p) - two_product_error(q, strike, p);
    ln_kernel(q) + remainder / forward
}

/// The undiscounted out-of-the-money price `√(FK)·b(−|x|, s)` and the pieces the Greeks reuse.
#[derive(Clone, Copy)]
pub(crate) struct OtmParts {
    /// Undiscounted OTM price, in `[0, min(F, K)]`.
    pub otm: f64,
    /// `E = exp(−m² − δ²)`.
    pub e: f64,
    /// `erfcx(|m − δ|)`, NaN where the small-vol series was used (it does not need it).
    pub y_near: f64,
    /// `erfcx(m + δ)`, NaN where the small-vol series was used.
    pub y_far: f64,
}

/// See the module documentation for the three regimes. Requires `s ≥ TOTAL_VOL_MIN`.
#[inline(always)]
pub(crate) fn otm_parts(forward: f64, strike: f64, abs_x: f64, s: f64, sqrt_fk: f64) -> OtmParts {
    const SQRT_2: f64 = std::f64::consts::SQRT_2;
    let m = abs_x / (s * SQRT_2);
    let delta = s * (0.25 * SQRT_2);
    let e = exp_kernel(-(m * m + delta * delta));
    let lower = min_sel(forward, strike);
    let half_scale = 0.5 * sqrt_fk * e;
    let (otm, y_near, y_far) = if m < 8.0 && delta < 0.03 * max_sel(m, 1.0) {
        let otm = half_scale * erfcx_central_difference(m, delta);
        (otm, f64::NAN, f64::NAN)
    } else {
        let y_near = erfcx_nonneg((m - delta).abs());
        let y_far = erfcx_nonneg(m + delta);
        // selected rather than branched on: the two cases alternate unpredictably in a book
        let both_below = half_scale * (y_near - y_far);
        let straddling = lower - half_scale * (y_near + y_far);
        let otm = if m >= delta { both_below } else { straddling };
        (otm, y_near, y_far)
    };
    OtmParts {
        otm: min_sel(max_sel(otm, 0.0), lower),
        e,
        y_near,
        y_far,
    }
}

/// Price kernel on validated inputs; `sign` is `+1` for a call, `−1` for a put.
#[inline(always)]
pub(crate) fn price_kernel(
    sign: f64,
    forward: f64,
    strike: f64,
    expiry_years: f64,
    vol: f64,
    rate: f64,
) -> f64 {
    let discount = exp_kernel(-rate * expiry_years);
    price_kernel_discounted(sign, forward, strike, expiry_years.sqrt(), vol, discount)
}

/// [`price_kernel`] with `√T` and the discount factor `e^(−R·T)` already computed (the scenario
/// loop computes them once for all its scenarios; the result is the same to the bit).
#[inline(always)]
pub(crate) fn price_kernel_discounted(
    sign: f64,
    forward: f64,
    strike: f64,
    sqrt_t: f64,
    vol: f64,
    discount: f64,
) -> f64 {
    let intrinsic = max_sel(sign * (forward - strike), 0.0);
    let s = vol * sqrt_t;
    let has_time_value = s >= TOTAL_VOL_MIN; // NaN-proof: a NaN total vol fails
    if !has_time_value {
        return discount * intrinsic;
    }
    let x = log_moneyness(forward, strike);
    let sqrt_fk = (forward * strike).sqrt();
    let parts = otm_parts(forward, strike, x.abs(), s, sqrt_fk);
    let bound = if sign > 0.0 { forward } else { strike };
    discount * min_sel(max_sel(intrinsic + parts.otm, intrinsic), bound)
}

/// Price and Greeks kernel on validated inputs; `sign` is `+1` for a call, `−1` for a put.
#[inline(always)]
pub(crate) fn greeks_kernel(
    sign: f64,
    forward: f64,
    strike: f64,
    expiry_years: f64,
    vol: f64,
    rate: f64,
) -> Greeks {
    let discount = exp_kernel(-rate * expiry_years);
    let intrinsic = max_sel(sign * (forward - strike), 0.0);
    let sqrt_t = expiry_years.sqrt();
    let s = vol * sqrt_t;
    let has_time_value = s >= TOTAL_VOL_MIN; // NaN-proof: a NaN total vol fails
    if !has_time_value {
        return degenerate_greeks(sign, forward, strike, sqrt_t, rate, discount, intrinsic);
    }
    let x = log_moneyness(forward, strike);
    let sqrt_fk = (forward * strike).sqrt();
    let parts = otm_parts(forward, strike, x.abs(), s, sqrt_fk);
    let bound = if sign > 0.0 { forward } else { strike };
    let price = discount * min_sel(max_sel(intrinsic + parts.otm, intrinsic), bound);

    let h = x / s;
    let d1 = h + 0.5 * s;
    let d2 = h - 0.5 * s;
    // F·φ(d1) = K·φ(d2)
    let f_phi = sqrt_fk * parts.e * INV_SQRT_2PI;
    // erfcx(|d1|/√2): for x ≤ 0 it is erfcx(|m − δ|), for x > 0 erfcx(m + δ).
    let y_d1 = if parts.y_near.is_nan() {
        erfcx_nonneg(d1.abs() * std::f64::consts::FRAC_1_SQRT_2)
    } else if x <= 0.0 {
        parts.y_near
    } else {
        parts.y_far
    };
    // N(−|d1|) = ½·e^(−d1²/2)·erfcx(|d1|/√2), e^(−d1²/2) = √(FK)·E/F
    let tail = 0.5 * (sqrt_fk * parts.e / forward) * y_d1;
    let delta_undiscounted = match (sign > 0.0, d1 > 0.0) {
        (true, false) => tail,
        (true, true) => 1.0 - tail,
        (false, true) => -tail,
        (false, false) => tail - 1.0,
    };
    let dv = discount * f_phi; // D·F·φ(d1)
    Greeks {
        price,
        delta: discount * delta_undiscounted,
        gamma: dv / (forward * forward * s),
        vega: dv * sqrt_t,
        theta: rate * price - dv * vol / (2.0 * sqrt_t),
        vanna: -(dv / forward) * d2 / vol,
        volga: dv * sqrt_t * d1 * d2 / vol,
    }
}

/// The limits documented on [`Black76::greeks`] at zero total vol.
#[cold]
fn degenerate_greeks(
    sign: f64,
    forward: f64,
    strike: f64,
    sqrt_t: f64,
    rate: f64,
    discount: f64,
    intrinsic: f64,
) -> Greeks {
    let price = discount * intrinsic;
    let at_kink = forward == strike;
    let moneyness = sign * (forward - strike);
    let delta = if moneyness > 0.0 {
        discount * sign
    } else if at_kink {
        0.5 * discount * sign
    } else {
        0.0
    };
    let (vega, vanna) = if at_kink {
        (
            discount * forward * sqrt_t * INV_SQRT_2PI,
            0.5 * discount * sqrt_t * INV_SQRT_2PI,
        )
    } else {
        (0.0, 0.0)
    };
    Greeks {
        price,
        delta,
        gamma: 0.0,
        vega,
        theta: rate * price,
        vanna,
        volga: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OptionKind::{Call, Put};

    fn opt(kind: OptionKind, f: f64, k: f64, t: f64, v: f64, r: f64) -> Black76 {
        Black76::new(kind, f, k, t, v, r).unwrap()
    }

    #[test]
    fn constructor_rejects_each_field_by_name() {
        let cases = [
            (f64::NAN, 100.0, 1.0, 0.5, 0.0, "forward"),
            (100.0, 0.0, 1.0, 0.5, 0.0, "strike"),
            (100.0, 100.0, -1.0, 0.5, 0.0, "t"),
            (100.0, 100.0, 1.0, f64::INFINITY, 0.0, "vol"),
            (100.0, 100.0, 1.0, 0.5, f64::NAN, "rate"),
        ];
        for (f, k, t, v, r, field) in cases {
            let err = Black76::new(Call, f, k, t, v, r).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("invalid '{field}': must be ")),
                "{msg}"
            );
        }
        assert_eq!(
            Black76::new(Call, 100.0, 100.0, 1.0, f64::NAN, 0.0)
                .unwrap_err()
                .to_string(),
            "invalid 'vol': must be finite and in [0, 100], got NaN"
        );
    }

    #[test]
    fn log_moneyness_is_accurate_near_one() {
        // F/K = 1 + 2^-40 exactly representable: ln = 2^-40 − 2^-81 + ...
        let f = 1.0 + 2f64.powi(-40);
        let x = log_moneyness(f, 1.0);
        let exact = 2f64.powi(-40) - 2f64.powi(-81);
        assert!((x / exact - 1.0).abs() < 1e-15);
        // A quotient that is not representable: F = 100.000001, K = 100
        let x = log_moneyness(100.000_001, 100.0);
        let exact = (100.000_001_f64 - 100.0) / 100.0; // first order; second order ~5e-17 relative
        assert!((x / exact - 1.0).abs() < 1e-8);
        assert_eq!(log_moneyness(7.0, 7.0), 0.0);
    }

    #[test]
    fn atm_price_matches_closed_form() {
        // ATM undiscounted call = F·(2N(s/2) − 1) = F·erf(s/(2√2))
        let o = opt(Call, 100.0, 100.0, 1.0, 0.2, 0.0);
        // erf(0.1/√2) = 0.0796556745 ... (mpmath: 0.07965567455405795...)
        let expected = 100.0 * 0.079_655_674_554_057_96;
        assert!((o.price() / expected - 1.0).abs() < 1e-14);
    }

    #[test]
    fn degenerate_cases_give_discounted_intrinsic_and_limit_greeks() {
        let g = opt(Call, 110.0, 100.0, 1.0, 0.0, 0.05).greeks();
        let d = (-0.05f64).exp();
        assert!((g.price - d * 10.0).abs() <= 2.0 * f64::EPSILON * g.price);
        assert!((g.delta - d).abs() <= 2.0 * f64::EPSILON);
        assert_eq!(g.gamma, 0.0);
        assert_eq!(g.vega, 0.0);
        assert_eq!(g.theta, 0.05 * g.price);
        let g = opt(Put, 100.0, 100.0, 0.0, 0.5, 0.05).greeks();
        assert_eq!(g.price, 0.0);
        assert_eq!(g.delta, -0.5);
        assert_eq!(g.vega, 0.0);
        assert_eq!(g.theta, 0.0);
        let g = opt(Call, 100.0, 100.0, 0.25, 0.0, 0.0).greeks();
        assert_eq!(g.delta, 0.5);
        assert!((g.vega - 100.0 * 0.5 * INV_SQRT_2PI).abs() < 1e-14);
        // the vol → 0 limit of vega at the kink is continuous with a tiny positive vol
        let tiny = opt(Call, 100.0, 100.0, 0.25, 1e-9, 0.0).greeks();
        assert!((tiny.vega / g.vega - 1.0).abs() < 1e-12);
        assert!((tiny.vanna / g.vanna - 1.0).abs() < 1e-12);
        assert!((tiny.delta - g.delta).abs() < 1e-9);
    }

    #[test]
    fn extreme_domain_corners_are_finite() {
        for kind in [Call, Put] {
            for (f, k) in [
                (1e-100, 1e100),
                (1e100, 1e-100),
                (1e100, 1e100),
                (1e-100, 1e-100),
            ] {
                for t in [0.0, 1e-300, 1e-12, 100.0] {
                    for v in [0.0, 1e-300, 1e-60, 1e-9, 100.0] {
                        for r in [-1.0, 0.0, 1.0] {
                            let g = opt(kind, f, k, t, v, r).greeks();
                            for (name, val) in [
                                ("price", g.price),
                                ("delta", g.delta),
                                ("gamma", g.gamma),
                                ("vega", g.vega),
                                ("theta", g.theta),
                                ("vanna", g.vanna),
                                ("volga", g.volga),
                            ] {
                                assert!(
                                    val.is_finite(),
                                    "{name} = {val} for {kind} F={f} K={k} t={t} v={v} r={r}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
