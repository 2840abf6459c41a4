//! Raw SVI: one expiry's total implied variance as a function of log-moneyness.
//!
//! w(k) = a + b·(ρ·(k − m) + √((k − m)² + σ²)), k = ln(K/F).

use crate::error::{check_finite, SurfaceError};

/// The five raw SVI parameters of one expiry, in total variance (vol² · years).
///
/// Invariants checked by [`SviParams::new`]: all finite, `b ≥ 0`, `|ρ| < 1`, `σ > 0`, and
/// `w ≥ 0` everywhere, i.e. `a + b·σ·√(1 − ρ²) ≥ 0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SviParams {
    /// Level: vertical shift of the total variance.
    pub a: f64,
    /// Wing slope scale (≥ 0); the wings have slopes b(1 − ρ) (left, negated) and b(1 + ρ).
    pub b: f64,
    /// Rotation, in (−1, 1): negative puts the steeper wing on the downside.
    pub rho: f64,
    /// Horizontal shift of the vertex, in log-moneyness.
    pub m: f64,
    /// Smoothness of the vertex (> 0), in log-moneyness.
    pub sigma: f64,
}

impl SviParams {
    /// Checked constructor.
    ///
    /// # Errors
    /// [`SurfaceError::InvalidInput`] naming the first parameter outside its domain, or `"a"` when
    /// the minimum total variance `a + b·σ·√(1 − ρ²)` is negative.
    pub fn new(a: f64, b: f64, rho: f64, m: f64, sigma: f64) -> Result<Self, SurfaceError> {
        check_finite("a", a)?;
        check_finite("m", m)?;
        if !(b >= 0.0 && b.is_finite()) {
            return Err(SurfaceError::invalid("b", "finite and >= 0", b));
        }
        if !(rho > -1.0 && rho < 1.0) {
            return Err(SurfaceError::invalid("rho", "in (-1, 1)", rho));
        }
        if !(sigma > 0.0 && sigma.is_finite()) {
            return Err(SurfaceError::invalid("sigma", "finite and > 0", sigma));
        }
        let p = SviParams {
            a,
            b,
            rho,
            m,
            sigma,
        };
        // A tiny tolerance so that a fit sitting exactly on the boundary is accepted.
        if !(p.min_total_variance() >= -1e-14) {
            return Err(SurfaceError::invalid(
                "a",
                "such that a + b*sigma*sqrt(1 - rho^2) >= 0 (total variance >= 0 everywhere)",
                a,
            ));
        }
        Ok(p)
    }

    /// A flat smile: total variance `w` at every k.
    pub(crate) fn flat_total_variance(w: f64) -> Self {
        SviParams {
            a: w,
            b: 0.0,
            rho: 0.0,
            m: 0.0,
            sigma: 1.0,
        }
    }

    /// Total variance w(k).
    #[inline]
    pub fn total_variance(&self, log_moneyness: f64) -> f64 {
        let x = log_moneyness - self.m;
        self.a + self.b * (self.rho * x + (x * x + self.sigma * self.sigma).sqrt())
    }

    /// First derivative w'(k).
    #[inline]
    pub fn total_variance_dk(&self, log_moneyness: f64) -> f64 {
        let x = log_moneyness - self.m;
        let r = (x * x + self.sigma * self.sigma).sqrt();
        self.b * (self.rho + x / r)
    }

    /// Second derivative w''(k).
    #[inline]
    pub fn total_variance_dk2(&self, log_moneyness: f64) -> f64 {
        let x = log_moneyness - self.m;
        let s2 = self.sigma * self.sigma;
        let r2 = x * x + s2;
        self.b * s2 / (r2 * r2.sqrt())
    }

    /// (w, w′, w″) at k, sharing one square root.
    #[inline]
    pub fn total_variance_with_derivatives(&self, log_moneyness: f64) -> (f64, f64, f64) {
        let x = log_moneyness - self.m;
        let s2 = self.sigma * self.sigma;
        let r2 = x * x + s2;
        let r = r2.sqrt();
        let inv_r = 1.0 / r;
        (
            self.a + self.b * (self.rho * x + r),
            self.b * (self.rho + x * inv_r),
            self.b * s2 * inv_r / r2,
        )
    }

    /// The smallest total variance over all k: `a + b·σ·√(1 − ρ²)`.
    pub fn min_total_variance(&self) -> f64 {
        self.a + self.b * self.sigma * (1.0 - self.rho * self.rho).sqrt()
    }

    /// Durrleman's butterfly density function g(k); the smile is free of butterfly arbitrage at
    /// k when g(k) ≥ 0. See [`durrleman_g`].
    pub fn durrleman_g(&self, log_moneyness: f64) -> f64 {
        let (w, w1, w2) = self.total_variance_with_derivatives(log_moneyness);
        durrleman_g(log_moneyness, w, w1, w2)
    }
}

/// Durrleman's condition from total variance and its first two k-derivatives:
/// g(k) = (1 − k·w′/(2w))² − (w′²/4)·(1/w + 1/4) + w″/2. g < 0 means a negative risk-neutral
/// density (butterfly arbitrage); w ≤ 0 gives −∞ (no valid smile there).
#[inline]
pub fn durrleman_g(log_moneyness: f64, w: f64, w_dk: f64, w_dk2: f64) -> f64 {
    if !(w > 0.0) {
        return f64::NEG_INFINITY;
    }
    let t = 1.0 - log_moneyness * w_dk / (2.0 * w);
    t * t - 0.25 * w_dk * w_dk * (1.0 / w + 0.25) + 0.5 * w_dk2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_central_differences() {
        let p = SviParams::new(0.02, 0.3, -0.4, 0.05, 0.2).unwrap();
        let h = 1e-5;
        for &k in &[-1.0, -0.3, 0.0, 0.05, 0.4, 1.2] {
            let d1 = (p.total_variance(k + h) - p.total_variance(k - h)) / (2.0 * h);
            let d2 = (p.total_variance(k + h) - 2.0 * p.total_variance(k)
                + p.total_variance(k - h))
                / (h * h);
            assert!((d1 - p.total_variance_dk(k)).abs() < 1e-8, "w' at {k}");
            assert!((d2 - p.total_variance_dk2(k)).abs() < 1e-4, "w'' at {k}");
            let (w, w1, w2) = p.total_variance_with_derivatives(k);
            assert!((w - p.total_variance(k)).abs() < 1e-15);
            assert!((w1 - p.total_variance_dk(k)).abs() < 1e-14);
            assert!((w2 - p.total_variance_dk2(k)).abs() < 1e-12);
        }
    }

    #[test]
    fn minimum_is_attained() {
        let p = SviParams::new(-0.01, 0.4, 0.3, 0.1, 0.15).unwrap();
        let grid_min = (0..20001)
            .map(|i| p.total_variance(-2.0 + 4.0 * i as f64 / 20000.0))
            .fold(f64::INFINITY, f64::min);
        assert!((grid_min - p.min_total_variance()).abs() < 1e-7);
    }

    #[test]
    fn constructor_rejects_each_bad_parameter() {
        assert!(SviParams::new(f64::NAN, 0.1, 0.0, 0.0, 0.1).is_err());
        assert!(SviParams::new(0.1, -0.1, 0.0, 0.0, 0.1).is_err());
        assert!(SviParams::new(0.1, 0.1, 1.0, 0.0, 0.1).is_err());
        assert!(SviParams::new(0.1, 0.1, 0.0, 0.0, 0.0).is_err());
        assert!(SviParams::new(0.1, 0.1, 0.0, f64::INFINITY, 0.1).is_err());
        // Negative total variance at the vertex: a + b*sigma = -0.05 + 0.1*0.1 < 0.
        let e = SviParams::new(-0.05, 0.1, 0.0, 0.0, 0.1).unwrap_err();
        assert!(e.to_string().contains("'a'"), "{e}");
    }
}
