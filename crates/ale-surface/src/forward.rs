//! The forward curve F(T) of one underlying.
//!
//! Rule (documented in `docs/surface.md`): with nodes (0, ln S) and (Tᵢ, ln Fᵢ) at the listed
//! expiries, ln F is piecewise linear in T (a constant implied carry between two listed expiries);
//! after the last listed expiry the carry of the last segment continues; with no listed forward,
//! F(T) = S·e^(r·T), as `formats.md` fixes for a missing expiry.

use crate::error::{check_finite, check_positive, SurfaceError};

/// Spot, rate and forwards at listed expiries; answers F(T) for any T ≥ 0.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardCurve {
    spot: f64,
    rate: f64,
    /// Node times, starting with 0 (spot).
    node_years: Vec<f64>,
    /// ln F at each node.
    node_ln_forward: Vec<f64>,
    /// Slope of ln F on each segment (node i to i+1); the last entry is the slope used after the
    /// last node.
    slope: Vec<f64>,
}

impl ForwardCurve {
    /// Builds a curve from spot, the continuously compounded rate, and `(expiry_years, forward)`
    /// pairs listed in strictly increasing expiry order.
    ///
    /// # Errors
    /// Spot or a forward not finite and > 0, an expiry not finite and > 0, a non-finite rate, or
    /// expiries not strictly increasing.
    pub fn new(spot: f64, rate: f64, forwards: &[(f64, f64)]) -> Result<Self, SurfaceError> {
        check_positive("spot", spot)?;
        check_finite("rate", rate)?;
        let mut node_years = Vec::with_capacity(forwards.len() + 1);
        let mut node_ln_forward = Vec::with_capacity(forwards.len() + 1);
        node_years.push(0.0);
        node_ln_forward.push(spot.ln());
        for &(expiry_years, forward) in forwards {
            check_positive("expiry_years", expiry_years)?;
            check_positive("forward", forward)?;
            let previous = *node_years.last().unwrap_or(&0.0);
            if !(expiry_years > previous) {
                return Err(SurfaceError::NonIncreasingExpiries {
                    previous,
                    next: expiry_years,
                });
            }
            node_years.push(expiry_years);
            node_ln_forward.push(forward.ln());
        }
        let mut slope = Vec::with_capacity(node_years.len());
        for i in 0..node_years.len() - 1 {
            slope.push(
                (node_ln_forward[i + 1] - node_ln_forward[i]) / (node_years[i + 1] - node_years[i]),
            );
        }
        // After the last node: the last segment's carry, or the rate when nothing is listed.
        slope.push(slope.last().copied().unwrap_or(rate));
        Ok(ForwardCurve {
            spot,
            rate,
            node_years,
            node_ln_forward,
            slope,
        })
    }

    /// A curve with no listed forward: F(T) = S·e^(r·T).
    ///
    /// # Errors
    /// As [`ForwardCurve::new`].
    pub fn from_rate(spot: f64, rate: f64) -> Result<Self, SurfaceError> {
        ForwardCurve::new(spot, rate, &[])
    }

    /// Spot price.
    pub fn spot(&self) -> f64 {
        self.spot
    }

    /// Continuously compounded rate (used to discount option prices).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// ln F(T); T ≤ 0 (or NaN) gives ln S.
    #[inline]
    pub fn ln_forward(&self, expiry_years: f64) -> f64 {
        if !(expiry_years > 0.0) {
            return self.node_ln_forward[0];
        }
        // Index of the last node before T (node 0 is at T = 0 < expiry_years; at a node itself
        // the segment before it gives the same value).
        let i = crate::surface::count_below(&self.node_years, expiry_years) - 1;
        self.node_ln_forward[i] + self.slope[i] * (expiry_years - self.node_years[i])
    }

    /// F(T).
    #[inline]
    pub fn forward(&self, expiry_years: f64) -> f64 {
        self.ln_forward(expiry_years).exp()
    }

    /// The same curve with spot and every forward multiplied by `factor` (a spot move with the
    /// carry unchanged).
    ///
    /// # Errors
    /// `factor` not finite and > 0.
    pub fn scaled(&self, factor: f64) -> Result<Self, SurfaceError> {
        check_positive("spot_factor", factor)?;
        let shift = factor.ln();
        let mut out = self.clone();
        out.spot *= factor;
        for x in &mut out.node_ln_forward {
            *x += shift;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_forwards_are_exact_and_between_is_log_linear() {
        let c = ForwardCurve::new(100.0, 0.03, &[(0.5, 101.0), (1.0, 103.0)]).unwrap();
        assert!((c.forward(0.5) - 101.0).abs() < 1e-9);
        assert!((c.forward(1.0) - 103.0).abs() < 1e-9);
        assert!((c.forward(0.0) - 100.0).abs() < 1e-12);
        let mid = c.forward(0.75);
        assert!((mid - (101.0f64 * 103.0).sqrt()).abs() < 1e-9);
        // After the last: the last segment's carry continues.
        let carry = (103.0f64 / 101.0).ln() / 0.5;
        assert!((c.forward(2.0) - 103.0 * (carry * 1.0).exp()).abs() < 1e-9);
    }

    #[test]
    fn no_listed_forward_uses_the_rate() {
        let c = ForwardCurve::from_rate(100.0, 0.05).unwrap();
        assert!((c.forward(2.0) - 100.0 * (0.1f64).exp()).abs() < 1e-9);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        assert!(ForwardCurve::new(f64::NAN, 0.0, &[]).is_err());
        assert!(ForwardCurve::new(100.0, f64::NAN, &[]).is_err());
        assert!(ForwardCurve::new(100.0, 0.0, &[(0.5, -1.0)]).is_err());
        assert!(ForwardCurve::new(100.0, 0.0, &[(0.0, 100.0)]).is_err());
        assert!(matches!(
            ForwardCurve::new(100.0, 0.0, &[(0.5, 100.0), (0.5, 101.0)]),
            Err(SurfaceError::NonIncreasingExpiries { .. })
        ));
    }
}
