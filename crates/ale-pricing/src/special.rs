//! The normal distribution and the scaled complementary error function, to about one ulp
//! relative in both tails.
//!
//! Everything rests on [`erfcx`], `erfcx(z) = exp(z²)·erfc(z)`, evaluated for `z ≥ 0` by a
//! piecewise polynomial (30 intervals, degree 12, fitted with 60-digit arithmetic by
//! `tools/erfcx_coefficients.py`; worst relative error 2.5e-16 with a binary64 Horner
//! evaluation there; the Estrin evaluation here is checked through `N(x)` against mpmath, worst
//! 4.3e-16) and beyond `z = 64` by its asymptotic series. The tails of the normal
//! distribution are then `N(−|x|) = ½·exp(−x²/2)·erfcx(|x|/√2)`, with `x²` split exactly so that
//! the exponential does not amplify the rounding of the square.

use crate::erfcx_table::{CENTRE, COEFFICIENTS, DEGREE, INTERVALS, INV_HALF_WIDTH};

/// ln 2 to 32 bits (its low 21 bits zero), so that `k·LN2_HI` is exact for `|k| < 2^21`.
pub(crate) const LN2_HI: f64 = 0.693_147_180_369_123_8;
/// `ln 2 − LN2_HI`.
pub(crate) const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
/// 1.5·2^52: adding it to a double of magnitude below 2^51 rounds it to an integer, which then
/// sits in the low bits of the sum.
pub(crate) const SHIFT: f64 = 6_755_399_441_055_744.0;
/// 2^52.
pub(crate) const TWO_POW_52: f64 = 4_503_599_627_370_496.0;
/// The mantissa bits of a double.
pub(crate) const MANTISSA: u64 = (1 << 52) - 1;
/// `1/n!` for `n = 0..=13`: the Taylor polynomial of `e^r` in [`exp_kernel`].
pub(crate) const EXP_TAYLOR: [f64; 14] = {
    let mut c = [1.0; 14];
    let mut n = 1;
    while n < 14 {
        c[n] = c[n - 1] / n as f64;
        n += 1;
    }
    c
};
/// `2/(2j + 1)` for `j = 1..=10`: the series of `2·atanh(s)/s − 2` in `s²`, in [`ln_kernel`].
pub(crate) const LN_ATANH: [f64; 10] = {
    let mut c = [0.0; 10];
    let mut j = 0;
    while j < 10 {
        c[j] = 2.0 / (2 * j + 3) as f64;
        j += 1;
    }
    c
};
/// The Taylor factors `1/k!` for `k = 3, 5, 7, 9, 11` of [`erfcx_central_difference`].
pub(crate) const ODD_INV_FACTORIAL: [f64; 5] = [
    1.0 / 6.0,
    1.0 / 120.0,
    1.0 / 5_040.0,
    1.0 / 362_880.0,
    1.0 / 39_916_800.0,
];

/// `1/√(2π)`.
pub(crate) const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
/// `2/√π`.
pub(crate) const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
/// `1/√π`.
pub(crate) const INV_SQRT_PI: f64 = 0.564_189_583_547_756_3;
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
        const _: () = assert!(
            DEGREE == 12,
            "the Estrin scheme below is written for degree 12"
        );
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

/// `a` if `a > b`, else `b` — one select, spelled out so that the vector kernels
/// (`crate::simd`) reproduce it bit for bit (`f64::max` leaves the sign of a zero result open).
#[inline(always)]
pub(crate) fn max_sel(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

/// `a` if `a < b`, else `b` (see [`max_sel`]).
#[inline(always)]
pub(crate) fn min_sel(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}

/// `e^a`, within about two ulps, without a libm call: the price kernels' exponentials.
///
/// `a = k·ln2 + r` with `|r| ≤ ln2/2` (Cody–Waite with a two-part ln2), `e^r` by its Taylor
/// polynomial of degree 13 (truncation below 5e-18) in Estrin's scheme, `2^k` built from its
/// bits. Results below `e^−708` (3.3e-308) are flushed to 0: the subnormal range is not kept;
/// `a > 709` gives `e^709`, never infinity (the kernels only pass `a ≤ 100`).
#[inline(always)]
pub(crate) fn exp_kernel(a: f64) -> f64 {
    const LN2_HI: f64 = 0.693_147_180_369_123_8; // ln 2 to 32 bits: k·LN2_HI is exact
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5·2^52: adding it rounds to an integer
                                                // 1/n! for n = 0..=13
    const F: [f64; 14] = {
        let mut c = [1.0; 14];
        let mut n = 1;
        while n < 14 {
            c[n] = c[n - 1] / n as f64;
            n += 1;
        }
        c
    };
    let clamped = min_sel(max_sel(a, -708.0), 709.0);
    let shifted = clamped * std::f64::consts::LOG2_E + SHIFT;
    let k = shifted - SHIFT;
    let r = (clamped - k * LN2_HI) - k * LN2_LO;
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let p0 = (F[0] + F[1] * r) + (F[2] + F[3] * r) * r2;
    let p1 = (F[4] + F[5] * r) + (F[6] + F[7] * r) * r2;
    let p2 = (F[8] + F[9] * r) + (F[10] + F[11] * r) * r2;
    let p3 = F[12] + F[13] * r;
    let poly = (p0 + p1 * r4) + (p2 + p3 * r4) * r8;
    // 2^k from the integer in the low bits of `shifted` (k in [−1022, 1023] after the clamp)
    let k_bits = (shifted.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let scale = f64::from_bits((k_bits.wrapping_add(1023) as u64) << 52);
    if a >= -708.0 {
        poly * scale
    } else {
        0.0
    }
}

/// `ln q` for a positive normal `q`, within about one ulp of the result also near `q = 1`
/// (where the result is small; `ln_1p(q − 1)` quality), branch-free and without a libm call.
///
/// `q = 2^e·m` with `m ∈ [√½, √2)`, `f = m − 1` (exact), `s = f/(2 + f)` and
/// `ln(1 + f) = f − s·(f − T(s²))` with `T(z) = Σ_{j=1..10} 2zʲ/(2j + 1)` (`z ≤ 0.0295`:
/// truncation below 1e-17 relative), plus `e·ln 2` in two parts. `T` is evaluated by Estrin's
/// scheme for latency.
#[inline(always)]
pub(crate) fn ln_kernel(q: f64) -> f64 {
    const C: [f64; 10] = LN_ATANH;
    let bits = q.to_bits();
    // the biased exponent as a double, without an integer-to-float conversion
    let biased = f64::from_bits(0x4330_0000_0000_0000 | (bits >> 52)) - TWO_POW_52;
    let mantissa = f64::from_bits((bits & MANTISSA) | 1.0f64.to_bits()); // in [1, 2)
    let high = mantissa > std::f64::consts::SQRT_2;
    let m = if high { 0.5 * mantissa } else { mantissa };
    let e = biased - if high { 1022.0 } else { 1023.0 };
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let z2 = z * z;
    let z4 = z2 * z2;
    let z8 = z4 * z4;
    let a = (C[0] + C[1] * z) + (C[2] + C[3] * z) * z2;
    let b = (C[4] + C[5] * z) + (C[6] + C[7] * z) * z2;
    let c = C[8] + C[9] * z;
    let t = z * ((a + b * z4) + c * z8);
    e * LN2_HI + ((f - s * (f - t)) + e * LN2_LO)
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

/// `erfcx(m − δ) − erfcx(m + δ)` for `0 ≤ m < 8` and small `δ` (`δ < 0.03·max(m, 1)`),
/// without the cancellation of the direct difference: the odd part of the Taylor series of
/// erfcx about `m`, `−2·Σ_{k odd} erfcx⁽ᵏ⁾(m)·δᵏ/k!`, with the derivatives from the recurrence
/// `y⁽ⁿ⁺¹⁾ = 2m·y⁽ⁿ⁾ + 2n·y⁽ⁿ⁻¹⁾` (from `y' = 2z·y − 2/√π`). Successive odd terms shrink by about
/// `(δ/max(m, 1))² < 9e-4`, so six terms (k ≤ 11) leave a truncation below 1e-18 relative; the
/// forward recurrence amplifies rounding roughly like `(2mδ)ᵏ/k!` (`2mδ < 3.9`), which stays
/// below 1e-14 relative.
#[inline(always)]
pub(crate) fn erfcx_central_difference(m: f64, delta: f64) -> f64 {
    let two_m = 2.0 * m;
    let y0 = erfcx_nonneg(m);
    let y1 = two_m * y0 - TWO_OVER_SQRT_PI;
    let y2 = two_m * y1 + 2.0 * y0;
    let y3 = two_m * y2 + 4.0 * y1;
    let y4 = two_m * y3 + 6.0 * y2;
    let y5 = two_m * y4 + 8.0 * y3;
    let y6 = two_m * y5 + 10.0 * y4;
    let y7 = two_m * y6 + 12.0 * y5;
    let y8 = two_m * y7 + 14.0 * y6;
    let y9 = two_m * y8 + 16.0 * y7;
    let y10 = two_m * y9 + 18.0 * y8;
    let y11 = two_m * y10 + 20.0 * y9;
    let d2 = delta * delta;
    // Σ y_k δ^k / k! for k = 1, 3, ..., 11, Horner in δ²
    let [f3, f5, f7, f9, f11] = ODD_INV_FACTORIAL;
    let sum = delta
        * (y1
            + d2 * (y3 * f3 + d2 * (y5 * f5 + d2 * (y7 * f7 + d2 * (y9 * f9 + d2 * (y11 * f11))))));
    -2.0 * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfcx_known_values() {
        // erfcx(0) = 1, erfcx(1) = e·erfc(1), large-z behaviour 1/(z√π).
        assert_eq!(erfcx(0.0), 1.0);
        let e1 = 0.427_583_576_155_807;
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
    fn exp_kernel_agrees_with_std() {
        let mut a = -708.0;
        while a < 709.0 {
            let (got, want) = (exp_kernel(a), a.exp());
            assert!(
                (got / want - 1.0).abs() <= 3.0 * f64::EPSILON,
                "exp({a}) = {got} vs {want}"
            );
            a += 0.0731;
        }
        for a in [
            0.0,
            1e-300,
            -1e-300,
            1e-10,
            -0.34657359,
            0.34657359,
            100.0,
            -100.0,
        ] {
            let (got, want) = (exp_kernel(a), a.exp());
            assert!(
                (got / want - 1.0).abs() <= 3.0 * f64::EPSILON,
                "exp({a}) = {got} vs {want}"
            );
        }
        assert_eq!(exp_kernel(0.0), 1.0);
        assert_eq!(exp_kernel(-709.0), 0.0);
        assert_eq!(exp_kernel(f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn ln_kernel_agrees_with_std() {
        let mut q = 1e-200;
        while q < 1e200 {
            let (got, want) = (ln_kernel(q), q.ln());
            assert!(
                (got - want).abs() <= 2.0 * f64::EPSILON * want.abs(),
                "ln({q}) = {got} vs {want}"
            );
            q *= 1.37;
        }
        assert_eq!(ln_kernel(1.0), 0.0);
        for q in [
            0.5,
            0.70712,
            0.99999,
            1.0 - 1e-15,
            1.0 + 2e-16,
            1.0 + 1e-9,
            1.41422,
            1.5,
            2.0,
        ] {
            let (got, want) = (ln_kernel(q), (q - 1.0).ln_1p());
            assert!(
                (got - want).abs() <= 2.0 * f64::EPSILON * want.abs(),
                "ln({q}) = {got} vs {want}"
            );
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
        for (m, delta) in [(0.0, 0.03), (0.5, 0.029), (3.0, 0.08), (7.0, 0.2)] {
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
