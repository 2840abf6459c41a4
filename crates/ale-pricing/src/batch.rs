//! Batch pricing over slices (struct of arrays), for the risk engine's hot loop.
//!
//! Two shapes:
//! - many options at once: [`price`] and [`price_greeks`] over [`Options`] (six parallel
//!   slices) into output slices;
//! - one option under many scenarios: [`price_scenarios`], one `(kind, strike, expiry, rate)`
//!   with parallel slices of forwards and vols.
//!
//! Each call validates all its inputs first (one cheap pass, the same checks as
//! [`Black76::new`](crate::Black76::new)) and then runs the kernels unchecked, so a bad
//! element is a typed error naming its index and field, and no NaN can come out. The results
//! are bit-identical to [`Black76::price`](crate::Black76::price) and
//! [`Black76::greeks`](crate::Black76::greeks).
//!
//! On x86-64 CPUs with AVX-512 (F + DQ) or AVX2, detected at run time, the loops run eight or
//! four options at a time through `simd`, which mirrors the scalar kernels operation for
//! operation without FMA: the results are the same bits as the scalar path on every machine.

use crate::black76::{greeks_kernel, price_kernel, price_kernel_discounted, validate_inputs};
use crate::error::InvalidInput;
use crate::special::exp_kernel;
use ale_core::OptionKind;
use thiserror::Error;

/// Why a batch call refused its inputs (nothing is written to the outputs then).
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum BatchError {
    /// The slices do not all have the same length.
    #[error("length mismatch: '{field}' has {len} elements, expected {expected}")]
    LengthMismatch {
        /// The slice's name (`kind`, `forward`, ..., `out`).
        field: &'static str,
        /// Its length.
        len: usize,
        /// The length of the first input slice.
        expected: usize,
    },
    /// One element is outside the domain.
    #[error("element {index}: {error}")]
    Invalid {
        /// Index of the first bad element.
        index: usize,
        /// What is wrong with it.
        error: InvalidInput,
    },
}

/// Many options as parallel slices of equal length.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Call or put of each option.
    pub kind: &'a [OptionKind],
    /// Forward of each option.
    pub forward: &'a [f64],
    /// Strike of each option.
    pub strike: &'a [f64],
    /// Time to expiry in years of each option.
    pub expiry_years: &'a [f64],
    /// Vol of each option.
    pub vol: &'a [f64],
    /// Discount rate of each option.
    pub rate: &'a [f64],
}

impl Options<'_> {
    /// Number of options (the length of `kind`).
    pub fn len(&self) -> usize {
        self.kind.len()
    }

    /// `true` when there are no options.
    pub fn is_empty(&self) -> bool {
        self.kind.is_empty()
    }

    /// Check the lengths and every element; the first problem found is returned.
    pub fn validate(&self) -> Result<(), BatchError> {
        let n = self.len();
        for (field, len) in [
            ("forward", self.forward.len()),
            ("strike", self.strike.len()),
            ("t", self.expiry_years.len()),
            ("vol", self.vol.len()),
            ("rate", self.rate.len()),
        ] {
            check_len(field, len, n)?;
        }
        // The common case in one branch-free pass per column (vectorised); the element-wise
        // check below runs only to name the first problem.
        let within =
            |v: &[f64], lo: f64, hi: f64| v.iter().fold(true, |ok, &x| ok & (x >= lo) & (x <= hi));
        use crate::black76::{EXPIRY_YEARS_MAX, PRICE_MAX, PRICE_MIN, RATE_ABS_MAX, VOL_MAX};
        if within(self.forward, PRICE_MIN, PRICE_MAX)
            & within(self.strike, PRICE_MIN, PRICE_MAX)
            & within(self.expiry_years, 0.0, EXPIRY_YEARS_MAX)
            & within(self.vol, 0.0, VOL_MAX)
            & within(self.rate, -RATE_ABS_MAX, RATE_ABS_MAX)
        {
            return Ok(());
        }
        for i in 0..n {
            validate_inputs(
                self.forward[i],
                self.strike[i],
                self.expiry_years[i],
                self.vol[i],
                self.rate[i],
            )
            .map_err(|error| BatchError::Invalid { index: i, error })?;
        }
        Ok(())
    }
}

/// Output slices for [`price_greeks`], one per output, each as long as the inputs.
#[derive(Debug)]
pub struct GreeksOut<'a> {
    /// Discounted price.
    pub price: &'a mut [f64],
    /// `∂price/∂F`.
    pub delta: &'a mut [f64],
    /// `∂²price/∂F²`.
    pub gamma: &'a mut [f64],
    /// `∂price/∂σ`.
    pub vega: &'a mut [f64],
    /// `−∂price/∂T`.
    pub theta: &'a mut [f64],
    /// `∂²price/∂F∂σ`.
    pub vanna: &'a mut [f64],
    /// `∂²price/∂σ²`.
    pub volga: &'a mut [f64],
}

fn check_len(field: &'static str, len: usize, expected: usize) -> Result<(), BatchError> {
    if len == expected {
        Ok(())
    } else {
        Err(BatchError::LengthMismatch {
            field,
            len,
            expected,
        })
    }
}

/// Discounted prices of many options into `out` (same length).
pub fn price(options: &Options<'_>, out: &mut [f64]) -> Result<(), BatchError> {
    options.validate()?;
    let n = options.len();
    check_len("out", out.len(), n)?;
    price_many(
        options.kind,
        options.forward,
        options.strike,
        options.expiry_years,
        options.vol,
        options.rate,
        out,
    );
    Ok(())
}

/// The scalar many-options price loop: the whole batch without a vector kernel, the last
/// `n mod LANES` options with one.
#[inline(always)]
fn price_many_body(
    kind: &[OptionKind],
    forward: &[f64],
    strike: &[f64],
    expiry_years: &[f64],
    vol: &[f64],
    rate: &[f64],
    out: &mut [f64],
) {
    let n = out.len();
    let (kind, forward, strike, expiry_years, vol, rate) = (
        &kind[..n],
        &forward[..n],
        &strike[..n],
        &expiry_years[..n],
        &vol[..n],
        &rate[..n],
    );
    for i in 0..n {
        out[i] = price_kernel(
            kind[i].sign(),
            forward[i],
            strike[i],
            expiry_years[i],
            vol[i],
            rate[i],
        );
    }
}

/// The scenario price loop (see [`price_many_body`]).
#[inline(always)]
fn price_scenarios_body(
    sign: f64,
    strike: f64,
    expiry_years: f64,
    rate: f64,
    forwards: &[f64],
    vols: &[f64],
    out: &mut [f64],
) {
    let n = out.len();
    let (forwards, vols) = (&forwards[..n], &vols[..n]);
    let discount = exp_kernel(-rate * expiry_years);
    let sqrt_t = expiry_years.sqrt();
    for i in 0..n {
        out[i] = price_kernel_discounted(sign, forwards[i], strike, sqrt_t, vols[i], discount);
    }
}

/// The vector instruction sets `simd` has kernels for.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
enum Isa {
    Avx2,
    Avx512,
}

/// The widest instruction set of `simd` this CPU supports (checked once per call; std caches
/// the detection).
/// Every choice gives the same bits.
#[cfg(target_arch = "x86_64")]
#[inline]
fn vector_isa() -> Option<Isa> {
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
    {
        Some(Isa::Avx512)
    } else if std::arch::is_x86_feature_detected!("avx2") {
        Some(Isa::Avx2)
    } else {
        None
    }
}

fn price_many(
    kind: &[OptionKind],
    forward: &[f64],
    strike: &[f64],
    expiry_years: &[f64],
    vol: &[f64],
    rate: &[f64],
    out: &mut [f64],
) {
    let n = out.len();
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = vector_isa() {
        let done = match isa {
            // SAFETY: the CPU supports the instruction set, detected by `vector_isa`.
            Isa::Avx512 => unsafe {
                crate::simd::avx512::price_many(kind, forward, strike, expiry_years, vol, rate, out)
            },
            // SAFETY: as above.
            Isa::Avx2 => unsafe {
                crate::simd::avx2::price_many(kind, forward, strike, expiry_years, vol, rate, out)
            },
        };
        price_many_body(
            &kind[done..n],
            &forward[done..n],
            &strike[done..n],
            &expiry_years[done..n],
            &vol[done..n],
            &rate[done..n],
            &mut out[done..n],
        );
        return;
    }
    price_many_body(kind, forward, strike, expiry_years, vol, rate, out)
}

/// Prices and Greeks of many options into the slices of `out` (each as long as the inputs).
pub fn price_greeks(options: &Options<'_>, out: &mut GreeksOut<'_>) -> Result<(), BatchError> {
    options.validate()?;
    let n = options.len();
    for (field, len) in [
        ("price", out.price.len()),
        ("delta", out.delta.len()),
        ("gamma", out.gamma.len()),
        ("vega", out.vega.len()),
        ("theta", out.theta.len()),
        ("vanna", out.vanna.len()),
        ("volga", out.volga.len()),
    ] {
        check_len(field, len, n)?;
    }
    let mut start = 0;
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = vector_isa() {
        let columns = [
            &mut *out.price,
            &mut *out.delta,
            &mut *out.gamma,
            &mut *out.vega,
            &mut *out.theta,
            &mut *out.vanna,
            &mut *out.volga,
        ];
        let o = options;
        let (k, f, s, t, v, r) = (o.kind, o.forward, o.strike, o.expiry_years, o.vol, o.rate);
        start = match isa {
            // SAFETY: the CPU supports the instruction set, detected by `vector_isa`.
            Isa::Avx512 => unsafe { crate::simd::avx512::greeks_many(k, f, s, t, v, r, columns) },
            // SAFETY: as above.
            Isa::Avx2 => unsafe { crate::simd::avx2::greeks_many(k, f, s, t, v, r, columns) },
        };
    }
    for i in start..n {
        let g = greeks_kernel(
            options.kind[i].sign(),
            options.forward[i],
            options.strike[i],
            options.expiry_years[i],
            options.vol[i],
            options.rate[i],
        );
        out.price[i] = g.price;
        out.delta[i] = g.delta;
        out.gamma[i] = g.gamma;
        out.vega[i] = g.vega;
        out.theta[i] = g.theta;
        out.vanna[i] = g.vanna;
        out.volga[i] = g.volga;
    }
    Ok(())
}

/// Prices and gammas of many options into `price` and `gamma` (each as long as the inputs): the
/// same bits as [`price_greeks`]' columns, without the other Greeks (the scenario tables of the
/// margin engine read nothing else).
pub fn price_gamma(
    options: &Options<'_>,
    price: &mut [f64],
    gamma: &mut [f64],
) -> Result<(), BatchError> {
    options.validate()?;
    let n = options.len();
    check_len("price", price.len(), n)?;
    check_len("gamma", gamma.len(), n)?;
    let mut start = 0;
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = vector_isa() {
        let o = options;
        let (k, f, s, t, v, r) = (o.kind, o.forward, o.strike, o.expiry_years, o.vol, o.rate);
        let columns = [&mut *price, &mut *gamma];
        start = match isa {
            // SAFETY: the CPU supports the instruction set, detected by `vector_isa`.
            Isa::Avx512 => unsafe {
                crate::simd::avx512::price_gamma_many(k, f, s, t, v, r, columns)
            },
            // SAFETY: as above.
            Isa::Avx2 => unsafe { crate::simd::avx2::price_gamma_many(k, f, s, t, v, r, columns) },
        };
    }
    for i in start..n {
        let g = greeks_kernel(
            options.kind[i].sign(),
            options.forward[i],
            options.strike[i],
            options.expiry_years[i],
            options.vol[i],
            options.rate[i],
        );
        price[i] = g.price;
        gamma[i] = g.gamma;
    }
    Ok(())
}

/// Discounted prices of one option (`kind`, `strike`, `expiry_years`, `rate`) under many
/// scenarios, each a `(forwards[i], vols[i])` pair, into `out`.
pub fn price_scenarios(
    kind: OptionKind,
    strike: f64,
    expiry_years: f64,
    rate: f64,
    forwards: &[f64],
    vols: &[f64],
    out: &mut [f64],
) -> Result<(), BatchError> {
    let n = forwards.len();
    check_len("vol", vols.len(), n)?;
    check_len("out", out.len(), n)?;
    // Validate the shared fields once (with a harmless forward and vol), then per scenario.
    validate_inputs(1.0, strike, expiry_years, 0.0, rate)
        .map_err(|error| BatchError::Invalid { index: 0, error })?;
    for i in 0..n {
        validate_inputs(forwards[i], strike, expiry_years, vols[i], rate)
            .map_err(|error| BatchError::Invalid { index: i, error })?;
    }
    let sign = kind.sign();
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = vector_isa() {
        let discount = exp_kernel(-rate * expiry_years);
        let sqrt_t = expiry_years.sqrt();
        let done = match isa {
            // SAFETY: the CPU supports the instruction set, detected by `vector_isa`.
            Isa::Avx512 => unsafe {
                crate::simd::avx512::price_scenarios(
                    sign, strike, sqrt_t, discount, forwards, vols, out,
                )
            },
            // SAFETY: as above.
            Isa::Avx2 => unsafe {
                crate::simd::avx2::price_scenarios(
                    sign, strike, sqrt_t, discount, forwards, vols, out,
                )
            },
        };
        price_scenarios_body(
            sign,
            strike,
            expiry_years,
            rate,
            &forwards[done..n],
            &vols[done..n],
            &mut out[done..n],
        );
        return Ok(());
    }
    price_scenarios_body(sign, strike, expiry_years, rate, forwards, vols, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Black76;
    use OptionKind::{Call, Put};

    #[test]
    fn batch_equals_scalar_bit_for_bit() {
        let kind = [Call, Put, Call, Put, Call];
        let forward = [100.0, 100.0, 95_000.0, 1.0, 3500.0];
        let strike = [100.0, 80.0, 120_000.0, 20.0, 3000.0];
        let t = [1.0, 0.0, 0.02, 5.0, 1e-4];
        let vol = [0.5, 0.3, 0.8, 5.0, 0.01];
        let rate = [0.0, 0.05, -0.01, 0.03, 0.1];
        let opts = Options {
            kind: &kind,
            forward: &forward,
            strike: &strike,
            expiry_years: &t,
            vol: &vol,
            rate: &rate,
        };
        let mut prices = [0.0; 5];
        price(&opts, &mut prices).unwrap();
        let mut cols = [[0.0; 5]; 7];
        let [p, d, g, v, th, va, vo] = &mut cols;
        let mut out = GreeksOut {
            price: p,
            delta: d,
            gamma: g,
            vega: v,
            theta: th,
            vanna: va,
            volga: vo,
        };
        price_greeks(&opts, &mut out).unwrap();
        for i in 0..5 {
            let b = Black76::new(kind[i], forward[i], strike[i], t[i], vol[i], rate[i]).unwrap();
            let gs = b.greeks();
            assert_eq!(prices[i].to_bits(), b.price().to_bits());
            let got = [
                out.price[i],
                out.delta[i],
                out.gamma[i],
                out.vega[i],
                out.theta[i],
                out.vanna[i],
                out.volga[i],
            ];
            let want = [
                gs.price, gs.delta, gs.gamma, gs.vega, gs.theta, gs.vanna, gs.volga,
            ];
            for (a, b) in got.iter().zip(want) {
                assert_eq!(a.to_bits(), b.to_bits());
            }
        }
        let mut sc = [0.0; 5];
        price_scenarios(Put, 100.0, 0.5, 0.02, &forward, &vol, &mut sc).unwrap();
        for i in 0..5 {
            let b = Black76::new(Put, forward[i], 100.0, 0.5, vol[i], 0.02).unwrap();
            assert_eq!(sc[i].to_bits(), b.price().to_bits());
        }
    }

    /// Every vector kernel this CPU can run (not only the one `vector_isa` picks) gives the
    /// scalar bits, over a grid with extremes and degenerate cases.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_vector_kernel_gives_the_scalar_bits() {
        let mut rows = vec![];
        for kind in [Call, Put] {
            for f in [1e-100_f64, 0.37, 100.0, 9.5e4, 1e100] {
                for m in [
                    1e-200 / f,
                    0.05,
                    0.5,
                    0.999_9,
                    1.0,
                    1.000_1,
                    1.3,
                    20.0,
                    1e200,
                ] {
                    let k = (f * m).clamp(1e-100, 1e100);
                    for t in [0.0, 1e-300, 1.9e-6, 0.02, 1.0, 100.0] {
                        for v in [0.0, 1e-300, 0.01, 0.5, 5.0, 100.0] {
                            rows.push((kind, f, k, t, v, -0.3 + 0.1 * rows.len() as f64 % 0.9));
                        }
                    }
                }
            }
        }
        let col =
            |j: usize| -> Vec<f64> { rows.iter().map(|r| [r.1, r.2, r.3, r.4, r.5][j]).collect() };
        let kind: Vec<_> = rows.iter().map(|r| r.0).collect();
        let (f, k, t, v, r) = (col(0), col(1), col(2), col(3), col(4));
        let scalar: Vec<u64> = (0..rows.len())
            .map(|i| price_kernel(kind[i].sign(), f[i], k[i], t[i], v[i], r[i]).to_bits())
            .collect();
        let scalar_greeks: Vec<[u64; 7]> = (0..rows.len())
            .map(|i| {
                let g = greeks_kernel(kind[i].sign(), f[i], k[i], t[i], v[i], r[i]);
                [g.price, g.delta, g.gamma, g.vega, g.theta, g.vanna, g.volga].map(f64::to_bits)
            })
            .collect();
        type PriceMany =
            unsafe fn(&[OptionKind], &[f64], &[f64], &[f64], &[f64], &[f64], &mut [f64]) -> usize;
        type GreeksMany = unsafe fn(
            &[OptionKind],
            &[f64],
            &[f64],
            &[f64],
            &[f64],
            &[f64],
            [&mut [f64]; 7],
        ) -> usize;
        type PriceGammaMany = unsafe fn(
            &[OptionKind],
            &[f64],
            &[f64],
            &[f64],
            &[f64],
            &[f64],
            [&mut [f64]; 2],
        ) -> usize;
        let mut kernels: Vec<(&str, PriceMany, GreeksMany, PriceGammaMany)> = vec![];
        if std::arch::is_x86_feature_detected!("avx2") {
            kernels.push((
                "avx2",
                crate::simd::avx2::price_many,
                crate::simd::avx2::greeks_many,
                crate::simd::avx2::price_gamma_many,
            ));
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
        {
            kernels.push((
                "avx512",
                crate::simd::avx512::price_many,
                crate::simd::avx512::greeks_many,
                crate::simd::avx512::price_gamma_many,
            ));
        }
        let checked = kernels.len();
        for (name, price_many, greeks_many, price_gamma_many) in kernels {
            let mut out = vec![f64::NAN; rows.len()];
            // SAFETY: the instruction set was detected above.
            let done = unsafe { price_many(&kind, &f, &k, &t, &v, &r, &mut out) };
            assert!(done + 8 > rows.len());
            for i in 0..done {
                assert_eq!(out[i].to_bits(), scalar[i], "{name} row {i}: {:?}", rows[i]);
            }
            let mut cols = vec![vec![f64::NAN; rows.len()]; 7];
            let [c0, c1, c2, c3, c4, c5, c6] = &mut cols[..] else {
                unreachable!()
            };
            let columns = [&mut c0[..], c1, c2, c3, c4, c5, c6];
            // SAFETY: as above.
            let done = unsafe { greeks_many(&kind, &f, &k, &t, &v, &r, columns) };
            for i in 0..done {
                for j in 0..7 {
                    assert_eq!(
                        cols[j][i].to_bits(),
                        scalar_greeks[i][j],
                        "{name} greek {j} row {i}: {:?}",
                        rows[i]
                    );
                }
            }
            // Price and gamma alone: the same bits as the full kernel's.
            let (mut p, mut g) = (vec![f64::NAN; rows.len()], vec![f64::NAN; rows.len()]);
            // SAFETY: as above.
            let done = unsafe { price_gamma_many(&kind, &f, &k, &t, &v, &r, [&mut p, &mut g]) };
            for i in 0..done {
                assert_eq!(p[i].to_bits(), scalar_greeks[i][0], "{name} price row {i}");
                assert_eq!(g[i].to_bits(), scalar_greeks[i][2], "{name} gamma row {i}");
            }
        }
        eprintln!("{checked} vector kernel(s) checked on {} rows", rows.len());
    }

    #[test]
    fn bad_element_and_bad_lengths_are_reported() {
        let kind = [Call, Call];
        let good = [1.0, 1.0];
        let bad_vol = [0.2, f64::NAN];
        let opts = Options {
            kind: &kind,
            forward: &good,
            strike: &good,
            expiry_years: &good,
            vol: &bad_vol,
            rate: &[0.0, 0.0],
        };
        let mut out = [7.0; 2];
        let err = price(&opts, &mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "element 1: invalid 'vol': must be finite and in [0, 100], got NaN"
        );
        assert_eq!(out, [7.0; 2], "nothing written on error");
        let err = price(&Options { vol: &good, ..opts }, &mut [0.0; 3]).unwrap_err();
        assert!(matches!(
            err,
            BatchError::LengthMismatch { field: "out", .. }
        ));
        let err = price_scenarios(Call, 1.0, 1.0, 0.0, &good, &[0.2], &mut out).unwrap_err();
        assert!(matches!(
            err,
            BatchError::LengthMismatch { field: "vol", .. }
        ));
        let err = price_scenarios(Call, -1.0, 1.0, 0.0, &good, &good, &mut out).unwrap_err();
        assert!(err.to_string().contains("'strike'"), "{err}");
    }
}
