//! One expiry's smile: raw SVI or interpolated venue marks.

use crate::error::{check_positive, SurfaceError};
use crate::svi::SviParams;

/// Total variance of one expiry as a function of log-moneyness k = ln(K/F).
#[derive(Debug, Clone, PartialEq)]
pub enum Smile {
    /// Raw SVI parameters (given or fitted).
    Svi(SviParams),
    /// Vols marked at listed strikes, interpolated between them.
    Marks(MarkSmile),
}

impl Smile {
    /// Total variance w(k) at this smile's own expiry.
    #[inline]
    pub fn total_variance(&self, log_moneyness: f64) -> f64 {
        match self {
            Smile::Svi(p) => p.total_variance(log_moneyness),
            Smile::Marks(m) => m.total_variance(log_moneyness),
        }
    }

    /// (w, w′, w″) at k.
    pub fn total_variance_with_derivatives(&self, log_moneyness: f64) -> (f64, f64, f64) {
        match self {
            Smile::Svi(p) => p.total_variance_with_derivatives(log_moneyness),
            Smile::Marks(m) => m.total_variance_with_derivatives(log_moneyness),
        }
    }

    /// The SVI parameters when this smile is SVI.
    pub fn svi(&self) -> Option<&SviParams> {
        match self {
            Smile::Svi(p) => Some(p),
            Smile::Marks(_) => None,
        }
    }
}

/// Venue marks: the exact vol at each listed log-moneyness, a shape-preserving monotone cubic
/// (Fritsch–Carlson / PCHIP) in vol between marks, flat in vol outside the marked range.
///
/// The interpolant passes through every mark, is C¹ inside the marked range and never creates
/// an extremum that the marks do not have (a natural spline can). A single mark gives a flat smile.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkSmile {
    expiry_years: f64,
    log_moneyness: Vec<f64>,
    vols: Vec<f64>,
    /// dσ/dk at each mark.
    slopes: Vec<f64>,
}

impl MarkSmile {
    /// Builds the smile of one expiry from `(log_moneyness, vol)` marks, in any order.
    ///
    /// # Errors
    /// No mark, a non-finite log-moneyness, a vol not finite and > 0, two marks at the same
    /// log-moneyness, or a bad expiry.
    pub fn new(expiry_years: f64, marks: &[(f64, f64)]) -> Result<Self, SurfaceError> {
        check_positive("expiry_years", expiry_years)?;
        if marks.is_empty() {
            return Err(SurfaceError::NoMarks { expiry_years });
        }
        let mut pts: Vec<(f64, f64)> = Vec::with_capacity(marks.len());
        for &(k, vol) in marks {
            if !k.is_finite() {
                return Err(SurfaceError::invalid("strike", "finite and > 0", k.exp()));
            }
            check_positive("vol", vol)?;
            pts.push((k, vol));
        }
        pts.sort_by(|x, y| x.0.total_cmp(&y.0));
        for w in pts.windows(2) {
            if !(w[1].0 > w[0].0) {
                return Err(SurfaceError::DuplicateMarkStrike {
                    expiry_years,
                    strike: w[0].0.exp(),
                });
            }
        }
        let log_moneyness: Vec<f64> = pts.iter().map(|p| p.0).collect();
        let vols: Vec<f64> = pts.iter().map(|p| p.1).collect();
        let slopes = pchip_slopes(&log_moneyness, &vols);
        Ok(MarkSmile {
            expiry_years,
            log_moneyness,
            vols,
            slopes,
        })
    }

    /// The expiry these marks belong to.
    pub fn expiry_years(&self) -> f64 {
        self.expiry_years
    }

    /// The marked points, sorted by log-moneyness: `(k, vol)`.
    pub fn marks(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.log_moneyness
            .iter()
            .copied()
            .zip(self.vols.iter().copied())
    }

    /// (σ, σ′, σ″) at k.
    #[inline]
    fn vol_with_derivatives(&self, k: f64) -> (f64, f64, f64) {
        let n = self.log_moneyness.len();
        if n == 1 || !(k > self.log_moneyness[0]) {
            return (self.vols[0], 0.0, 0.0);
        }
        if k >= self.log_moneyness[n - 1] {
            return (self.vols[n - 1], 0.0, 0.0);
        }
        let i = self.log_moneyness.partition_point(|&x| x <= k) - 1;
        let h = self.log_moneyness[i + 1] - self.log_moneyness[i];
        let t = (k - self.log_moneyness[i]) / h;
        let (y0, y1) = (self.vols[i], self.vols[i + 1]);
        let (d0, d1) = (self.slopes[i] * h, self.slopes[i + 1] * h);
        // Cubic Hermite basis on t in [0, 1].
        let t2 = t * t;
        let t3 = t2 * t;
        let h00 = 2.0 * t3 - 3.0 * t2 + 1.0;
        let h10 = t3 - 2.0 * t2 + t;
        let h01 = -2.0 * t3 + 3.0 * t2;
        let h11 = t3 - t2;
        let v = h00 * y0 + h10 * d0 + h01 * y1 + h11 * d1;
        let dv = ((6.0 * t2 - 6.0 * t) * y0
            + (3.0 * t2 - 4.0 * t + 1.0) * d0
            + (-6.0 * t2 + 6.0 * t) * y1
            + (3.0 * t2 - 2.0 * t) * d1)
            / h;
        let ddv = ((12.0 * t - 6.0) * y0
            + (6.0 * t - 4.0) * d0
            + (-12.0 * t + 6.0) * y1
            + (6.0 * t - 2.0) * d1)
            / (h * h);
        (v, dv, ddv)
    }

    /// Vol at k.
    #[inline]
    pub fn vol(&self, log_moneyness: f64) -> f64 {
        self.vol_with_derivatives(log_moneyness).0
    }

    /// Total variance σ(k)²·T at k.
    #[inline]
    pub fn total_variance(&self, log_moneyness: f64) -> f64 {
        let v = self.vol(log_moneyness);
        v * v * self.expiry_years
    }

    /// (w, w′, w″) at k.
    pub fn total_variance_with_derivatives(&self, log_moneyness: f64) -> (f64, f64, f64) {
        let (v, dv, ddv) = self.vol_with_derivatives(log_moneyness);
        let t = self.expiry_years;
        (v * v * t, 2.0 * v * dv * t, 2.0 * t * (dv * dv + v * ddv))
    }
}

/// Fritsch–Carlson slopes: weighted harmonic mean of the neighbouring secants inside (0 where the
/// data turn), the shape-preserving three-point formula at the ends.
fn pchip_slopes(x: &[f64], y: &[f64]) -> Vec<f64> {
    let n = x.len();
    if n == 1 {
        return vec![0.0];
    }
    let h: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
    let delta: Vec<f64> = (0..n - 1).map(|i| (y[i + 1] - y[i]) / h[i]).collect();
    if n == 2 {
        return vec![delta[0], delta[0]];
    }
    let mut d = vec![0.0; n];
    for i in 1..n - 1 {
        if delta[i - 1] * delta[i] > 0.0 {
            let w1 = 2.0 * h[i] + h[i - 1];
            let w2 = h[i] + 2.0 * h[i - 1];
            d[i] = (w1 + w2) / (w1 / delta[i - 1] + w2 / delta[i]);
        }
    }
    d[0] = end_slope(h[0], h[1], delta[0], delta[1]);
    d[n - 1] = end_slope(h[n - 2], h[n - 3], delta[n - 2], delta[n - 3]);
    d
}

fn end_slope(h0: f64, h1: f64, del0: f64, del1: f64) -> f64 {
    let d = ((2.0 * h0 + h1) * del0 - h0 * del1) / (h0 + h1);
    if d.signum() != del0.signum() || del0 == 0.0 {
        0.0
    } else if del0.signum() != del1.signum() && d.abs() > 3.0 * del0.abs() {
        3.0 * del0
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_exact_and_outside_is_flat() {
        let marks = [
            (-0.3, 0.7),
            (-0.1, 0.55),
            (0.0, 0.5),
            (0.15, 0.52),
            (0.4, 0.6),
        ];
        let s = MarkSmile::new(0.25, &marks).unwrap();
        for &(k, v) in &marks {
            assert!((s.vol(k) - v).abs() < 1e-14);
        }
        assert_eq!(s.vol(-2.0), 0.7);
        assert_eq!(s.vol(3.0), 0.6);
        // Shape preserving: between two marks the vol stays between them where data are monotone.
        for i in 0..100 {
            let k = -0.3 + 0.2 * i as f64 / 100.0;
            let v = s.vol(k);
            assert!((0.55..=0.7).contains(&v), "{k} {v}");
        }
    }

    #[test]
    fn derivatives_match_differences() {
        let marks = [
            (-0.3, 0.7),
            (-0.1, 0.55),
            (0.0, 0.5),
            (0.15, 0.52),
            (0.4, 0.6),
        ];
        let s = MarkSmile::new(0.25, &marks).unwrap();
        let h = 1e-6;
        for &k in &[-0.25, -0.05, 0.07, 0.3] {
            let (_, d1, d2) = s.total_variance_with_derivatives(k);
            let (_, d1p, _) = s.total_variance_with_derivatives(k + h);
            let (_, d1m, _) = s.total_variance_with_derivatives(k - h);
            let fd1 = (s.total_variance(k + h) - s.total_variance(k - h)) / (2.0 * h);
            assert!((fd1 - d1).abs() < 1e-7);
            assert!(((d1p - d1m) / (2.0 * h) - d2).abs() < 1e-5);
        }
    }

    #[test]
    fn bad_marks_are_errors() {
        assert!(MarkSmile::new(0.25, &[]).is_err());
        assert!(MarkSmile::new(0.25, &[(0.0, -0.1)]).is_err());
        assert!(MarkSmile::new(0.25, &[(0.0, f64::NAN)]).is_err());
        assert!(MarkSmile::new(0.25, &[(0.0, 0.5), (0.0, 0.6)]).is_err());
        assert!(MarkSmile::new(0.0, &[(0.0, 0.5)]).is_err());
    }
}
