//! Fixed-point arithmetic: `i128` at scale 10^18 ("wad"), checked everywhere, with a gas meter.
//!
//! Every value is an `i128` holding `x · 10^18`. All operations are checked: an overflow or an
//! input outside a function's domain is a [`MathError`], never a panic or a wrap.
//!
//! Rounding: [`Ctx::mul`] and [`Ctx::div`] truncate the exact result toward zero (error < 1 ulp,
//! 1 ulp = 10^-18). The transcendental functions have these stated bounds (absolute error `abs`,
//! relative `rel`), checked against 50-digit mpmath references over their whole domain by
//! `tests/fixed_reference.rs` (vectors from `scripts/verify_fixed_reference.py`):
//!
//! | function | domain | bound |
//! |---|---|---|
//! | `exp(x)` | x ≤ 46 (x < −42 gives 0) | ≤ 1e-16·e^x + 2e-18 |
//! | `ln(x)` | 0 < x < 1.7e20 | abs ≤ 1e-16 |
//! | `sqrt(x)` | 0 ≤ x < 1.7e20 | ≤ 1e-18 + 1e-18·√x |
//! | `ncdf(x)` (normal CDF) | all x | abs ≤ 5e-17 |
//! | `black76` price | F, K ≤ 1e11, T ≤ 10 y, σ ≤ 10 | ≤ 1e-15·(F + K) + 1e-17 |
//!
//! [`ERR_PRICE_REL`] (used by the verifier's error budget) is 100× the Black-76 bound above, so
//! that it also covers the vol derivation from the SVI slices (see `docs/verify.md`).
//!
//! The gas meter counts integer-op equivalents: each primitive adds a documented constant
//! (the number of `i128` operations it performs, loops counted per iteration).

use crate::ncdf_table::{NCDF_COEFFS, NCDF_DEGREE, NCDF_INTERVALS};

/// Scale of every fixed-point value: 10^18.
pub const SCALE: i128 = 1_000_000_000_000_000_000;
/// 1.0.
pub const ONE: i128 = SCALE;
const E9: i128 = 1_000_000_000;
/// ln 2 at scale 10^18.
pub const LN2: i128 = 693_147_180_559_945_309;
/// ln 2 at scale 10^36 (range reduction of exp and ln).
const LN2_36: i128 = 693_147_180_559_945_309_417_232_121_458_176_568;
/// 1/√(2π).
const INV_SQRT_2PI: i128 = 398_942_280_401_432_678;
/// √2 and √½ (normalisation bounds of ln).
const SQRT2: i128 = 1_414_213_562_373_095_049;
const SQRT1_2: i128 = 707_106_781_186_547_524;
/// Below this, exp(x) < 1e-18 rounds to 0.
const EXP_MIN: i128 = -42 * SCALE;
/// Above this, exp(x) does not fit.
const EXP_MAX: i128 = 46 * SCALE;
/// Terms of the exp Taylor series on |r| ≤ ln2/2 (0.347^23/23! < 1e-30).
const EXP_TERMS: i128 = 23;
/// Terms of the atanh series of ln on |z| ≤ 0.1716 (0.0295^15 < 1e-22).
const LN_TERMS: i128 = 15;
/// Newton steps of the integer square root (quadratic from an upper start: ≤ 70 for u128).
const ISQRT_MAX_STEPS: u32 = 70;
/// Beyond this |x|, N(x) is 0 or 1 within 1e-17.
const NCDF_CUTOFF: i128 = 8_500_000_000_000_000_000;

/// Per-pricing error budget of the verifier, relative to (F + K): 100× the tested Black-76
/// bound, covering the vol derivation too (docs/verify.md, "Error budget").
pub const ERR_PRICE_REL: i128 = 100_000; // 1e-13
/// Relative error budget of a gamma charge (φ(d1) amplifies the d1 error by |d1|).
pub const ERR_GAMMA_REL: i128 = 10_000_000; // 1e-11

/// An arithmetic failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathError {
    /// A result does not fit in `i128` at scale 10^18.
    Overflow,
    /// An input outside the function's domain (ln of x ≤ 0, sqrt of x < 0, division by 0).
    Domain,
}

/// Result of a fixed-point operation.
pub type MResult = Result<i128, MathError>;

/// Gas: what a verification costs, in a simple model (docs/verify.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gas {
    /// Integer-op equivalents of the arithmetic.
    pub int_ops: u64,
    /// Hash invocations.
    pub hashes: u64,
    /// 32-byte words hashed.
    pub hash_words: u64,
    /// ed25519 signature checks.
    pub sig_checks: u64,
    /// Merkle proof steps (one parent hash each; the hash is also in `hashes`).
    pub proof_steps: u64,
}

/// Gas of one hash invocation.
pub const GAS_HASH: u64 = 30;
/// Gas per 32-byte word hashed.
pub const GAS_HASH_WORD: u64 = 6;
/// Gas of one ed25519 signature check.
pub const GAS_SIG: u64 = 3000;
/// Gas of one Merkle proof step besides its hash (index arithmetic, selection).
pub const GAS_PROOF_STEP: u64 = 4;

impl Gas {
    /// The total in gas units.
    pub fn total(&self) -> u64 {
        self.int_ops
            + self.hashes * GAS_HASH
            + self.hash_words * GAS_HASH_WORD
            + self.sig_checks * GAS_SIG
            + self.proof_steps * GAS_PROOF_STEP
    }

    /// Adds a hash of `bytes` bytes.
    pub fn hash(&mut self, bytes: usize) {
        self.hashes += 1;
        self.hash_words += (bytes as u64).div_ceil(32);
    }
}

/// The arithmetic context: fixed-point operations that count their gas.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// Gas spent so far.
    pub gas: Gas,
}

#[inline]
fn signed(magnitude: u128, negative: bool) -> MResult {
    let v = i128::try_from(magnitude).map_err(|_| MathError::Overflow)?;
    Ok(if negative { -v } else { v })
}

/// `|a|·|b| / 10^18` truncated, for `a, b` as unsigned magnitudes.
#[inline]
fn mul_mag(ua: u128, ub: u128) -> Option<u128> {
    let s = SCALE as u128;
    let (ah, al) = (ua / s, ua % s);
    let (bh, bl) = (ub / s, ub % s);
    // (ah·s + al)(bh·s + bl)/s = ah·bh·s + ah·bl + al·bh + al·bl/s; al, bl < 1e18.
    ah.checked_mul(bh)?
        .checked_mul(s)?
        .checked_add(ah.checked_mul(bl)?)?
        .checked_add(al.checked_mul(bh)?)?
        .checked_add(al * bl / s)
}

impl Ctx {
    /// A fresh context.
    pub fn new() -> Ctx {
        Ctx::default()
    }

    #[inline]
    fn ops(&mut self, n: u64) {
        self.gas.int_ops += n;
    }

    /// a + b.
    #[inline]
    pub fn add(&mut self, a: i128, b: i128) -> MResult {
        self.ops(1);
        a.checked_add(b).ok_or(MathError::Overflow)
    }

    /// a − b.
    #[inline]
    pub fn sub(&mut self, a: i128, b: i128) -> MResult {
        self.ops(1);
        a.checked_sub(b).ok_or(MathError::Overflow)
    }

    /// a·b (fixed-point), truncated toward zero: error < 1 ulp.
    #[inline]
    pub fn mul(&mut self, a: i128, b: i128) -> MResult {
        self.ops(10);
        let m = mul_mag(a.unsigned_abs(), b.unsigned_abs()).ok_or(MathError::Overflow)?;
        signed(m, (a < 0) != (b < 0))
    }

    /// a/b (fixed-point), truncated toward zero: error < 1 ulp. Needs |b| < 3.4e29 raw.
    #[inline]
    pub fn div(&mut self, a: i128, b: i128) -> MResult {
        self.ops(14);
        if b == 0 {
            return Err(MathError::Domain);
        }
        let (ua, ub) = (a.unsigned_abs(), b.unsigned_abs());
        if ub > u128::MAX / (E9 as u128) {
            return Err(MathError::Overflow);
        }
        let (e9, s) = (E9 as u128, SCALE as u128);
        // floor(ua·10^18/ub) = q0·10^18 + q1·10^9 + q2, in two steps of 10^9 (each exact).
        let (q0, r0) = (ua / ub, ua % ub);
        let (q1, r1) = (r0 * e9 / ub, r0 * e9 % ub);
        let q2 = r1 * e9 / ub;
        let m = q0
            .checked_mul(s)
            .and_then(|x| x.checked_add(q1 * e9 + q2))
            .ok_or(MathError::Overflow)?;
        signed(m, (a < 0) != (b < 0))
    }

    /// a·n for an integer n.
    #[inline]
    pub fn mul_int(&mut self, a: i128, n: i128) -> MResult {
        self.ops(1);
        a.checked_mul(n).ok_or(MathError::Overflow)
    }

    /// a/n for an integer n ≠ 0, truncated toward zero.
    #[inline]
    pub fn div_int(&mut self, a: i128, n: i128) -> MResult {
        self.ops(1);
        if n == 0 {
            return Err(MathError::Domain);
        }
        Ok(a / n)
    }

    /// max(a, b).
    #[inline]
    pub fn max(&mut self, a: i128, b: i128) -> i128 {
        self.ops(1);
        a.max(b)
    }

    /// min(a, b).
    #[inline]
    pub fn min(&mut self, a: i128, b: i128) -> i128 {
        self.ops(1);
        a.min(b)
    }

    /// e^x. Bound: ≤ 1e-16·e^x + 2e-18; 0 for x < −42; overflow for x > 46.
    pub fn exp(&mut self, x: i128) -> MResult {
        self.ops(12);
        if x < EXP_MIN {
            return Ok(0);
        }
        if x > EXP_MAX {
            return Err(MathError::Overflow);
        }
        // x = k·ln2 + r, |r| ≤ ln2/2 (+ rounding); k·LN2_36 fits: |k| ≤ 67.
        let half = if x >= 0 { LN2 / 2 } else { -LN2 / 2 };
        let k = (x + half) / LN2;
        let r = x - (k * LN2_36 + if k >= 0 { E9 * E9 / 2 } else { -E9 * E9 / 2 }) / (E9 * E9);
        let mut term = ONE;
        let mut sum = ONE;
        let mut n = 1;
        while n <= EXP_TERMS {
            self.ops(4);
            // |term| ≤ 1, |r| ≤ 0.35: the product fits i128 natively.
            term = term * r / SCALE / n;
            if term == 0 {
                break;
            }
            sum += term;
            n += 1;
        }
        if k >= 0 {
            let shift = u32::try_from(k).map_err(|_| MathError::Overflow)?;
            let v = sum.checked_mul(1i128 << shift).ok_or(MathError::Overflow)?;
            Ok(v)
        } else {
            let shift = u32::try_from(-k).map_err(|_| MathError::Overflow)?;
            if shift >= 126 {
                return Ok(0);
            }
            Ok((sum + (1i128 << (shift - 1))) >> shift)
        }
    }

    /// ln x for x > 0. Bound: abs ≤ 1e-16.
    pub fn ln(&mut self, x: i128) -> MResult {
        self.ops(20);
        if x <= 0 {
            return Err(MathError::Domain);
        }
        // x = m·2^e with m in [√½, √2).
        let msb = 127 - x.leading_zeros() as i32;
        let mut e: i32 = msb - 59; // 2^59 ≤ 10^18 < 2^60
        let mut m = if e >= 0 { x >> e } else { x << (-e) };
        // At most two steps each way.
        let mut guard = 0;
        while m >= SQRT2 && guard < 4 {
            m >>= 1;
            e += 1;
            guard += 1;
        }
        while m < SQRT1_2 && guard < 8 {
            m <<= 1;
            e -= 1;
            guard += 1;
        }
        let z = self.div(m - ONE, m + ONE)?;
        let z2 = z * z / SCALE;
        let mut p = z;
        let mut s = z;
        let mut n = 1;
        while n <= LN_TERMS {
            self.ops(5);
            p = p * z2 / SCALE;
            if p == 0 {
                break;
            }
            s += p / (2 * n + 1);
            n += 1;
        }
        let e_ln2 = (i128::from(e) * LN2_36) / (E9 * E9);
        Ok(2 * s + e_ln2)
    }

    /// √x for x ≥ 0, truncated. Bound: ≤ 1e-18 + 1e-18·√x.
    pub fn sqrt(&mut self, x: i128) -> MResult {
        self.ops(6);
        if x < 0 {
            return Err(MathError::Domain);
        }
        if x == 0 {
            return Ok(0);
        }
        let s = SCALE as u128;
        let ux = x as u128;
        let (n, shift) = if ux <= u128::MAX / s {
            (ux * s, 0u32)
        } else {
            // Drop an even number of low bits so that x·10^18 fits; √ halves the shift.
            let mut j = 0u32;
            while (ux >> j) > u128::MAX / s {
                j += 2;
            }
            ((ux >> j) * s, j / 2)
        };
        let r = self.isqrt(n) << shift;
        i128::try_from(r).map_err(|_| MathError::Overflow)
    }

    fn isqrt(&mut self, n: u128) -> u128 {
        if n < 2 {
            return n;
        }
        let bits = 128 - n.leading_zeros();
        let mut x: u128 = 1u128 << bits.div_ceil(2); // ≥ √n
        let mut steps = 0;
        while steps < ISQRT_MAX_STEPS {
            self.ops(4);
            let y = (x + n / x) >> 1;
            if y >= x {
                break;
            }
            x = y;
            steps += 1;
        }
        x
    }

    /// The standard normal CDF N(x). Bound: abs ≤ 5e-17.
    pub fn ncdf(&mut self, x: i128) -> MResult {
        self.ops(8);
        let ax = x.checked_abs().ok_or(MathError::Overflow)?;
        let p = if ax >= NCDF_CUTOFF {
            ONE
        } else {
            let width = SCALE / 4;
            let i = (ax / width) as usize;
            let i = i.min(NCDF_INTERVALS - 1);
            let centre = width * i as i128 + width / 2;
            let t = ax - centre; // |t| ≤ 0.125
            let c = &NCDF_COEFFS[i];
            let mut acc = c[0];
            for coeff in c.iter().skip(1).take(NCDF_DEGREE) {
                acc = acc * t / SCALE + coeff;
            }
            self.ops(3 * NCDF_DEGREE as u64);
            acc.clamp(0, ONE)
        };
        Ok(if x < 0 { ONE - p } else { p })
    }

    /// The standard normal density φ(x) = e^(−x²/2)/√(2π) (0 beyond |x| > 12, where φ < 1e-31).
    pub fn npdf(&mut self, x: i128) -> MResult {
        self.ops(2);
        if x.checked_abs().is_none_or(|a| a > 12 * SCALE) {
            return Ok(0);
        }
        let x2 = self.mul(x, x)?;
        let e = self.exp(-x2 / 2)?;
        self.mul(e, INV_SQRT_2PI)
    }

    /// Discounted Black-76 price, and optionally delta (∂/∂F) and gamma (∂²/∂F²).
    ///
    /// `discount` = e^(−rT) given by the caller. At T = 0 or σ√T = 0 the discounted intrinsic.
    pub fn black76(&mut self, o: &OptionInputs, greeks: bool) -> Result<OptionValue, MathError> {
        if o.forward <= 0 || o.strike <= 0 || o.expiry_years < 0 {
            return Err(MathError::Domain);
        }
        let sqrt_t = self.sqrt(o.expiry_years)?;
        let ratio = self.div(o.forward, o.strike)?;
        let lnfk = self.ln(ratio)?;
        self.black76_pre(o, sqrt_t, lnfk, greeks)
    }

    /// [`Ctx::black76`] with √T and ln(F/K) already computed by the caller.
    pub fn black76_pre(
        &mut self,
        o: &OptionInputs,
        sqrt_t: i128,
        lnfk: i128,
        greeks: bool,
    ) -> Result<OptionValue, MathError> {
        let (f, k) = (o.forward, o.strike);
        if f <= 0 || k <= 0 || o.vol < 0 || o.expiry_years < 0 || sqrt_t < 0 {
            return Err(MathError::Domain);
        }
        let sw = self.mul(o.vol, sqrt_t)?;
        if sw == 0 {
            let intrinsic = if o.call {
                (f - k).max(0)
            } else {
                (k - f).max(0)
            };
            let itm = if o.call { f > k } else { k > f };
            let delta = match (itm, o.call) {
                (false, _) => 0,
                (true, true) => o.discount,
                (true, false) => -o.discount,
            };
            return Ok(OptionValue {
                price: self.mul(o.discount, intrinsic)?,
                delta,
                gamma: 0,
            });
        }
        let w = self.mul(sw, sw)?;
        let num = self.add(lnfk, w / 2)?;
        let d1 = self.div(num, sw)?;
        let d2 = self.sub(d1, sw)?;
        let undiscounted = if o.call {
            let n1 = self.ncdf(d1)?;
            let n2 = self.ncdf(d2)?;
            let a = self.mul(f, n1)?;
            let b = self.mul(k, n2)?;
            self.sub(a, b)?
        } else {
            let n2 = self.ncdf(-d2)?;
            let n1 = self.ncdf(-d1)?;
            let a = self.mul(k, n2)?;
            let b = self.mul(f, n1)?;
            self.sub(a, b)?
        };
        // The exact price is ≥ 0; clamping moves a rounded negative toward it.
        let price = self.mul(o.discount, undiscounted.max(0))?;
        let (delta, gamma) = if greeks {
            let n1 = self.ncdf(d1)?;
            let delta = if o.call {
                self.mul(o.discount, n1)?
            } else {
                self.mul(o.discount, n1 - ONE)?
            };
            let pdf = self.npdf(d1)?;
            let fsw = self.mul(f, sw)?;
            let dp = self.mul(o.discount, pdf)?;
            let gamma = self.div(dp, fsw)?;
            (delta, gamma)
        } else {
            (0, 0)
        };
        Ok(OptionValue {
            price,
            delta,
            gamma,
        })
    }
}

/// Inputs of one Black-76 pricing, all fixed-point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionInputs {
    /// Call (true) or put.
    pub call: bool,
    /// Forward F > 0.
    pub forward: i128,
    /// Strike K > 0.
    pub strike: i128,
    /// Years to expiry T ≥ 0.
    pub expiry_years: i128,
    /// Vol σ ≥ 0.
    pub vol: i128,
    /// Discount factor e^(−rT).
    pub discount: i128,
}

/// Price and, when asked, delta and gamma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionValue {
    /// Discounted price.
    pub price: i128,
    /// ∂price/∂F (0 unless asked).
    pub delta: i128,
    /// ∂²price/∂F² (0 unless asked).
    pub gamma: i128,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul_and_div_truncate_toward_zero() {
        let mut c = Ctx::new();
        assert_eq!(c.mul(3 * ONE, ONE / 2), Ok(3 * ONE / 2));
        assert_eq!(c.mul(-3 * ONE, ONE / 2), Ok(-3 * ONE / 2));
        assert_eq!(c.div(ONE, 3 * ONE), Ok(333_333_333_333_333_333));
        assert_eq!(c.div(-ONE, 3 * ONE), Ok(-333_333_333_333_333_333));
        assert_eq!(c.div(ONE, 0), Err(MathError::Domain));
        // Large money values: 1e11 · 1e6 = 1e17.
        assert_eq!(
            c.mul(100_000_000_000 * ONE, 1_000_000 * ONE),
            Ok(100_000_000_000_000_000 * ONE)
        );
        assert_eq!(c.mul(i128::MAX, 2 * ONE), Err(MathError::Overflow));
        assert_eq!(
            c.div(100_000_000_000 * ONE, 7 * ONE),
            Ok(14_285_714_285_714_285_714_285_714_285)
        );
    }

    #[test]
    fn edges_of_exp_ln_sqrt_ncdf() {
        let mut c = Ctx::new();
        assert_eq!(c.exp(0), Ok(ONE));
        assert_eq!(c.exp(-100 * ONE), Ok(0));
        assert_eq!(c.exp(47 * ONE), Err(MathError::Overflow));
        assert_eq!(c.ln(ONE), Ok(0));
        assert_eq!(c.ln(0), Err(MathError::Domain));
        assert_eq!(c.ln(-1), Err(MathError::Domain));
        assert_eq!(c.sqrt(4 * ONE), Ok(2 * ONE));
        assert_eq!(c.sqrt(-1), Err(MathError::Domain));
        assert!(
            (c.ncdf(0).unwrap() - ONE / 2).abs() <= 1,
            "N(0) = 1/2 within 1 ulp"
        );
        assert_eq!(c.ncdf(i128::MAX), Ok(ONE));
        assert_eq!(c.ncdf(-i128::MAX), Ok(0));
        assert_eq!(c.ncdf(i128::MIN), Err(MathError::Overflow));
        assert!(c.gas.int_ops > 0);
    }
}
