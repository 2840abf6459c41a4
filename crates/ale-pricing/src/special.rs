//! The normal distribution and the scaled complementary error function, to about one ulp
//! relative in both tails.
//!
//! Everything rests on [`erfcx`], `erfcx(z) = exp(z²)·erfc(z)`, evaluated for `z ≥ 0` by a
//! piecewise polynomial (30 intervals, degree 12, fitted with 60-digit arithmetic by
//! `tools/erfcx_coefficients.py`; worst relative error 2.5e-16 including the binary64 Horner
//! evaluation) and beyond `z = 64` by its asymptotic series. The tails of the normal
//! distribution are then `N(−|x|) = ½·exp(−x²/2)·erfcx(|x|/√2)`, with `x²` split exactly so that
//! the exponential does not amplify the rounding of the square.

use crate::erfcx_table::{CENTRE, COEFFICIENTS, DEGREE, INTERVALS, INV_HALF_WIDTH};

/// `1/√(2π)`.
pub(crate) const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
/// `2/√π`.
const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
/// `1/√π`.
const INV_SQRT_PI: f64 = 0.564_189_583_547_756_3;
/// Beyond this `|x|`, `N(−|x|)` is below the smallest subnormal.
const NORM_TAIL_UNDERFLOW: f64 = 39.0;

/// `erfcx(z) = exp(z²)·erfc(z)` for `z ≥ 0` (no check: the caller guarantees the sign; NaN or a
/// negative argument gives an unspecified value, never a panic).
///
/// The polynomial is evaluated by Estrin's scheme (four levels of multiply-add instead of
/// twelve): the price kernels are latency-bound and evaluate two of these in sequence with an
/// exponential.
#[inline(always)]
pub(crate) fn erfcx_nonneg(z: f64) -> f64 {
    if z < 64.0 {
        // z in [0.5, 64): biased exponent in [1022, 1028]; the two top mantissa bits pick the
        // quarter of the binade. Both candidates are computed and one selected (no branch).
        let bits = z.to_bits();
        let binade = ((bits >> 52) as usize).wrapping_sub(1022);
        // (wrapping: below 0.5 this candidate is garbage, and not selected)
        let upper = binade
            .wrapping_mul(4)
            .wrapping_add(2 + ((bits >> 50) & 3) as usize)
            .min(INTERVALS - 1);
        let lower = usize::from(z >= 0.25);
        let idx = if z < 0.5 { lower } else { upper };
        let t = (z - CENTRE[idx]) * INV_HALF_WIDTH[idx];
        let c = &COEFFICIENTS[idx];
        const _: () = assert!(DEGREE == 12, "the Estrin scheme below is written for degree 12");
        let t2 = t * t;
        let t4 = t2 * t2;
        let t8 = t4 * t4;
        let q0 = (c[0] + c[1] * t) + (c[2] + c[3] * t) * t2;
        let q1 = (c[4] + c[5] * t) + (c[6] + c[7] * t) * t2;
        let q2 = (c[8] + c[9] * t) + (c[10] + c[11] * t) * t2;
        (q0 + q1 * t4) + (q2 + c[12] * t4) * t8
    } else {
        // Asymptotic series: 1/(z√π)·(1 − 1/(2z²) + 3/(4z⁴) − 15/(8z⁶) + 105/(16z⁸)); the first
        // omitted term is below 3e-17 relative at z = 64.
        let u = 1.0 / (z * z);
        let series = 1.0 + u * (-0.5 + u * (0.75 + u * (-1.875 + u * 6.5625)));
        INV_SQRT_PI / z * series
    }
}

/// The scaled complementary error function `erfcx(z) = exp(z²)·erfc(z)`.
///
/// Accurate to about one ulp relative for `z ≥ 0`. For `z < 0` it is
/// `2·exp(z²) − erfcx(−z)`, which overflows to `+inf` below about `z = −26.6`. NaN gives NaN.
pub fn erfcx(z: f64) -> f64 {
    if z >= 0.0 {
        erfcx_nonneg(z)
    } else if z < 0.0 {
        2.0 * exp_sq(-z) - erfcx_nonneg(-z)
    } else {
        f64::NAN
    }
}

/// `exp(z²)` with the square split exactly (for `erfcx` of a negative argument).
fn exp_sq(z: f64) -> f64 {
    let p = z * z;
    let e = two_product_error(z, z, p);
    (p.exp()) * (1.0 + e)
}

/// The error `e` of the rounded product `p = fl(a·b)`, so that `a·b = p + e` exactly (Dekker's
/// algorithm with Veltkamp splitting; no FMA, so that every target gives the same bits).
#[inline(always)]
pub(crate) fn two_product_error(a: f64, b: f64, p: f64) -> f64 {
    const SPLIT: f64 = 134_217_729.0; // 2^27 + 1
    let ca = SPLIT * a;
    let a_hi = ca - (ca - a);
    let a_lo = a - a_hi;
    let cb = SPLIT * b;
    let b_hi = cb - (cb - b);
    let b_lo = b - b_hi;
    ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
}

/// `exp(−x²/2)` with the square split exactly, so that the result keeps about one ulp relative
/// accuracy even where `x²/2` is several hundred.
#[inline(always)]
fn exp_neg_half_square(x: f64) -> f64 {
    let p = x * x;
    let e = two_product_error(x, x, p);
    (-0.5 * p).exp() * (1.0 - 0.5 * e)
}

/// The standard normal density `φ(x) = exp(−x²/2)/√(2π)`. NaN gives NaN.
pub fn norm_pdf(x: f64) -> f64 {
    if x.abs() > NORM_TAIL_UNDERFLOW {
        return if x.is_nan() { f64::NAN } else { 0.0 };
    }
    INV_SQRT_2PI * exp_neg_half_square(x)
}

/// The standard normal cumulative distribution `N(x)`, accurate to a few ulps relative in both
/// tails (the lower tail down to the subnormal range; the upper tail `1 − N(−x)` is exact to
/// rounding). NaN gives NaN; `N(−∞) = 0`, `N(+∞) = 1`.
pub fn norm_cdf(x: f64) -> f64 {
    let tail = norm_tail(x.abs());
    if x < 0.0 {
        tail
    } else if x >= 0.0 {
        1.0 - tail
    } else {
        f64::NAN
    }
}

/// `N(−a)` for `a ≥ 0`.
#[inline(always)]
fn norm_tail(a: f64) -> f64 {
    if a > NORM_TAIL_UNDERFLOW {
        return 0.0;
    }
    0.5 * exp_neg_half_square(a) * erfcx_nonneg(a * std::f64::consts::FRAC_1_SQRT_2)
}

/// `erfcx(m − δ) − erfcx(m + δ)` for `0 ≤ m < 8` and small `δ` (`δ < 0.002·max(m, 1)`),
/// without the cancellation of the direct difference: the odd part of the Taylor series of
/// erfcx about `m`, `−2·Σ_{k odd} erfcx⁽ᵏ⁾(m)·δᵏ/k!`, with the derivatives from the recurrence
/// `y⁽ⁿ⁺¹⁾ = 2m·y⁽ⁿ⁾ + 2n·y⁽ⁿ⁻¹⁾` (from `y' = 2z·y − 2/√π`). Successive odd terms shrink by about
/// `(δ/max(m, 1))² < 4e-6`, so four terms (k ≤ 7) leave a truncation below 1e-21 relative; the
/// forward recurrence amplifies rounding roughly like `(2mδ)ᵏ/k!`, negligible here.
#[inline(always)]
pub(crate) fn erfcx_central_difference(m: f64, delta: f64) -> f64 {
    let y0 = erfcx_nonneg(m);
    let y1 = 2.0 * m * y0 - TWO_OVER_SQRT_PI;
    let y2 = 2.0 * m * y1 + 2.0 * y0;
    let y3 = 2.0 * m * y2 + 4.0 * y1;
    let y4 = 2.0 * m * y3 + 6.0 * y2;
    let y5 = 2.0 * m * y4 + 8.0 * y3;
    let y6 = 2.0 * m * y5 + 10.0 * y4;
    let y7 = 2.0 * m * y6 + 12.0 * y5;
    let d2 = delta * delta;
    // Σ y_k δ^k / k! for k = 1, 3, 5, 7, Horner in δ²
    let sum = delta * (y1 + d2 * (y3 / 6.0 + d2 * (y5 / 120.0 + d2 * (y7 / 5040.0))));
    -2.0 * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfcx_known_values() {
        // erfcx(0) = 1, erfcx(1) = e·erfc(1), large-z behaviour 1/(z√π).
        assert_eq!(erfcx(0.0), 1.0);
        let e1 = 0.427_583_576_155_807_0;
        assert!((erfcx(1.0) / e1 - 1.0).abs() < 4e-16);
        let z = 1e8;
        assert!((erfcx(z) * z * std::f64::consts::PI.sqrt() - 1.0).abs() < 1e-15);
        assert!(erfcx(f64::NAN).is_nan());
    }

    #[test]
    fn erfcx_is_continuous_across_interval_edges() {
        for edge in [0.25, 0.5, 0.625, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0_f64] {
            let below = erfcx(f64::from_bits(edge.to_bits() - 1));
            let at = erfcx(edge);
            assert!(
                (below / at - 1.0).abs() < 1e-15,
                "edge {edge}: {below} vs {at}"
            );
        }
    }

    #[test]
    fn erfcx_negative_argument_identity() {
        // erfcx(−z) + erfcx(z) = 2·exp(z²)
        for z in [0.1, 0.7, 2.0, 5.0] {
            let lhs = erfcx(-z) + erfcx(z);
            let rhs = 2.0 * (z * z).exp();
            assert!((lhs / rhs - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn norm_cdf_symmetry_and_limits() {
        assert_eq!(norm_cdf(0.0), 0.5);
        assert_eq!(norm_cdf(f64::NEG_INFINITY), 0.0);
        assert_eq!(norm_cdf(f64::INFINITY), 1.0);
        assert!(norm_cdf(f64::NAN).is_nan());
        for x in [0.3, 1.0, 2.5, 6.0] {
            assert!((norm_cdf(x) + norm_cdf(-x) - 1.0).abs() < 2e-16);
        }
        // N(−10) = 7.619853024160526e-24 (mpmath, 30 digits: 7.61985302416052606597334325145e-24)
        assert!((norm_cdf(-10.0) / 7.619_853_024_160_526e-24 - 1.0).abs() < 1e-15);
    }

    #[test]
    fn norm_pdf_values() {
        assert_eq!(norm_pdf(0.0), INV_SQRT_2PI);
        assert_eq!(norm_pdf(50.0), 0.0);
        assert!(norm_pdf(f64::NAN).is_nan());
        // φ(30) = exp(−450)/√(2π) = 1.4736461348785475e-196 (mpmath)
        assert!((norm_pdf(30.0) / 1.473_646_134_878_547_5e-196 - 1.0).abs() < 1e-15);
    }

    #[test]
    fn central_difference_matches_direct_where_direct_is_exact_enough() {
        for (m, delta) in [(0.0, 0.002), (0.5, 0.0019), (3.0, 0.005), (7.0, 0.013)] {
            let series = erfcx_central_difference(m, delta);
            let direct = erfcx(m - delta) - erfcx(m + delta);
            // the direct difference loses about log2(max(m,1)/(2δ)) bits: compare at 1e-13
            assert!(
                (series / direct - 1.0).abs() < 1e-13,
                "m={m} δ={delta}: {series} vs {direct}"
            );
        }
    }
}
