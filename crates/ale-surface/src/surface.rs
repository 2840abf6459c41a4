//! The surface: smiles at listed expiries, a forward curve, and the rules between and beyond them.

use crate::error::{check_positive, SurfaceError};
use crate::forward::ForwardCurve;
use crate::smile::{MarkSmile, Smile};
use crate::svi::SviParams;

/// Expiries below this (in years, about 0.03 s) are treated as this when a vol is asked, so that
/// σ at T → 0 is the short-end limit instead of 0/0.
pub const MIN_EXPIRY_YEARS: f64 = 1e-9;

/// What every surface answers — the base [`Surface`] and every shocked view
/// ([`crate::ShockedSurface`]) alike, so that a margin engine evaluates either without knowing
/// which, and without allocating.
pub trait VolSurface {
    /// ln F(T).
    fn ln_forward(&self, expiry_years: f64) -> f64;

    /// Total implied variance w(k, T) = σ²·T at log-moneyness k = ln(K/F(T)); 0 for T ≤ 0.
    fn total_variance(&self, log_moneyness: f64, expiry_years: f64) -> f64;

    /// F(T).
    #[inline]
    fn forward(&self, expiry_years: f64) -> f64 {
        self.ln_forward(expiry_years).exp()
    }

    /// Implied vol at log-moneyness k and expiry T (T below [`MIN_EXPIRY_YEARS`] is taken as it).
    #[inline]
    fn vol_at_log_moneyness(&self, log_moneyness: f64, expiry_years: f64) -> f64 {
        let t = if expiry_years >= MIN_EXPIRY_YEARS {
            expiry_years
        } else if expiry_years.is_nan() {
            return f64::NAN;
        } else {
            MIN_EXPIRY_YEARS
        };
        (self.total_variance(log_moneyness, t) / t).sqrt()
    }

    /// Implied vol σ(K, T) at strike K.
    #[inline]
    fn vol(&self, strike: f64, expiry_years: f64) -> f64 {
        self.vol_at_log_moneyness(strike.ln() - self.ln_forward(expiry_years), expiry_years)
    }
}

/// One listed expiry of a surface.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    expiry_years: f64,
    forward: f64,
    smile: Smile,
}

impl Slice {
    /// Expiry in years from the snapshot.
    pub fn expiry_years(&self) -> f64 {
        self.expiry_years
    }
    /// The forward of this expiry (from the surface's curve).
    pub fn forward(&self) -> f64 {
        self.forward
    }
    /// The smile.
    pub fn smile(&self) -> &Smile {
        &self.smile
    }
}

/// An implied-vol surface: a smile per listed expiry and a forward curve.
///
/// Rules (see `docs/surface.md`): between listed expiries, total variance is linear in T at
/// constant log-moneyness k = ln(K/F(T)); before the first expiry and after the last, the vol at
/// fixed k is constant (w scales linearly in T from 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Surface {
    curve: ForwardCurve,
    expiries: Vec<f64>,
    inv_expiry: Vec<f64>,
    inv_gap: Vec<f64>,
    slices: Vec<Slice>,
}

impl Surface {
    /// Builds a surface from `(expiry_years, smile)` pairs in strictly increasing expiry order.
    ///
    /// # Errors
    /// No expiry, an expiry not finite and > 0, expiries not strictly increasing, or a marked
    /// smile whose own expiry differs from the one it is listed at.
    pub fn new(curve: ForwardCurve, smiles: Vec<(f64, Smile)>) -> Result<Self, SurfaceError> {
        if smiles.is_empty() {
            return Err(SurfaceError::NoExpiries);
        }
        let mut slices = Vec::with_capacity(smiles.len());
        for (expiry_years, smile) in smiles {
            check_positive("expiry_years", expiry_years)?;
            if let Some(prev) = slices.last().map(|s: &Slice| s.expiry_years) {
                if !(expiry_years > prev) {
                    return Err(SurfaceError::NonIncreasingExpiries {
                        previous: prev,
                        next: expiry_years,
                    });
                }
            }
            if let Smile::Marks(m) = &smile {
                if m.expiry_years() != expiry_years {
                    return Err(SurfaceError::invalid(
                        "expiry_years",
                        "equal to the marked smile's own expiry",
                        expiry_years,
                    ));
                }
            }
            slices.push(Slice {
                expiry_years,
                forward: curve.forward(expiry_years),
                smile,
            });
        }
        let expiries: Vec<f64> = slices.iter().map(|s| s.expiry_years).collect();
        let inv_expiry = expiries.iter().map(|t| 1.0 / t).collect();
        let inv_gap = expiries.windows(2).map(|w| 1.0 / (w[1] - w[0])).collect();
        Ok(Surface {
            curve,
            expiries,
            inv_expiry,
            inv_gap,
            slices,
        })
    }

    /// The same vol at every strike and expiry (`{"flat": V}`).
    ///
    /// # Errors
    /// `vol` not finite and > 0.
    pub fn flat(curve: ForwardCurve, vol: f64) -> Result<Self, SurfaceError> {
        check_positive("vol", vol)?;
        // One slice at one year; the constant-vol extrapolation rules make it flat in T.
        Surface::new(
            curve,
            vec![(1.0, Smile::Svi(SviParams::flat_total_variance(vol * vol)))],
        )
    }

    /// Raw SVI per expiry (`{"svi": [...]}`), `(expiry_years, params)` in increasing order.
    ///
    /// # Errors
    /// As [`Surface::new`].
    pub fn from_svi(
        curve: ForwardCurve,
        slices: &[(f64, SviParams)],
    ) -> Result<Self, SurfaceError> {
        Surface::new(
            curve,
            slices.iter().map(|&(t, p)| (t, Smile::Svi(p))).collect(),
        )
    }

    /// Venue marks: per expiry, `(strike, vol)` pairs, exact at those strikes (see [`MarkSmile`]).
    ///
    /// # Errors
    /// As [`Surface::new`] and [`MarkSmile::new`]; a strike not finite and > 0.
    pub fn from_marks(
        curve: ForwardCurve,
        marks: &[(f64, Vec<(f64, f64)>)],
    ) -> Result<Self, SurfaceError> {
        let mut smiles = Vec::with_capacity(marks.len());
        for (expiry_years, points) in marks {
            let expiry_years = check_positive("expiry_years", *expiry_years)?;
            let ln_f = curve.ln_forward(expiry_years);
            let mut ks = Vec::with_capacity(points.len());
            for &(strike, vol) in points {
                check_positive("strike", strike)?;
                ks.push((strike.ln() - ln_f, vol));
            }
            smiles.push((
                expiry_years,
                Smile::Marks(MarkSmile::new(expiry_years, &ks)?),
            ));
        }
        Surface::new(curve, smiles)
    }

    /// The forward curve.
    pub fn forward_curve(&self) -> &ForwardCurve {
        &self.curve
    }

    /// The listed expiries.
    pub fn slices(&self) -> &[Slice] {
        &self.slices
    }

    /// Total variance of listed slice `i` at k, scaled to expiry T by the surface's rules.
    #[inline]
    fn interpolate(&self, log_moneyness: f64, expiry_years: f64) -> f64 {
        let n = self.expiries.len();
        if !(expiry_years > 0.0) {
            return if expiry_years.is_nan() { f64::NAN } else { 0.0 };
        }
        if expiry_years <= self.expiries[0] {
            return self.slices[0].smile.total_variance(log_moneyness)
                * (expiry_years * self.inv_expiry[0]);
        }
        if expiry_years >= self.expiries[n - 1] {
            return self.slices[n - 1].smile.total_variance(log_moneyness)
                * (expiry_years * self.inv_expiry[n - 1]);
        }
        // expiries[i] < T < expiries[i + 1]
        let i = count_below(&self.expiries, expiry_years) - 1;
        let w0 = self.slices[i].smile.total_variance(log_moneyness);
        let w1 = self.slices[i + 1].smile.total_variance(log_moneyness);
        w0 + (w1 - w0) * ((expiry_years - self.expiries[i]) * self.inv_gap[i])
    }
}

/// Number of entries of the sorted `xs` below `x`, without data-dependent branches for short
/// arrays (a random expiry would make a binary search mispredict), binary search beyond.
#[inline]
pub(crate) fn count_below(xs: &[f64], x: f64) -> usize {
    if xs.len() <= 32 {
        xs.iter().map(|&t| usize::from(t < x)).sum()
    } else {
        xs.partition_point(|&t| t < x)
    }
}

impl VolSurface for Surface {
    #[inline]
    fn ln_forward(&self, expiry_years: f64) -> f64 {
        self.curve.ln_forward(expiry_years)
    }

    #[inline]
    fn total_variance(&self, log_moneyness: f64, expiry_years: f64) -> f64 {
        self.interpolate(log_moneyness, expiry_years)
    }
}

impl<S: VolSurface + ?Sized> VolSurface for &S {
    #[inline]
    fn ln_forward(&self, expiry_years: f64) -> f64 {
        (**self).ln_forward(expiry_years)
    }
    #[inline]
    fn total_variance(&self, log_moneyness: f64, expiry_years: f64) -> f64 {
        (**self).total_variance(log_moneyness, expiry_years)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_slice() -> Surface {
        let curve = ForwardCurve::new(100.0, 0.0, &[(0.25, 101.0), (1.0, 104.0)]).unwrap();
        Surface::from_svi(
            curve,
            &[
                (0.25, SviParams::new(0.01, 0.1, -0.3, 0.0, 0.2).unwrap()),
                (1.0, SviParams::new(0.05, 0.15, -0.3, 0.02, 0.3).unwrap()),
            ],
        )
        .unwrap()
    }

    #[test]
    fn listed_expiries_answer_their_own_smile() {
        let s = two_slice();
        for &strike in &[60.0, 90.0, 101.0, 130.0] {
            let k = (strike / 101.0f64).ln();
            let p = s.slices()[0].smile().svi().unwrap();
            let want = (p.total_variance(k) / 0.25).sqrt();
            assert!((s.vol(strike, 0.25) - want).abs() < 1e-12);
        }
    }

    #[test]
    fn between_expiries_total_variance_is_linear_in_time_at_fixed_k() {
        let s = two_slice();
        let k = 0.1;
        let w0 = s.total_variance(k, 0.25);
        let w1 = s.total_variance(k, 1.0);
        let w = s.total_variance(k, 0.5);
        assert!((w - (w0 + (w1 - w0) * (0.25 / 0.75))).abs() < 1e-14);
    }

    #[test]
    fn outside_listed_expiries_vol_is_constant_at_fixed_k() {
        let s = two_slice();
        for &k in &[-0.5, 0.0, 0.3] {
            let v_first = s.vol_at_log_moneyness(k, 0.25);
            assert!((s.vol_at_log_moneyness(k, 0.01) - v_first).abs() < 1e-12);
            assert!((s.vol_at_log_moneyness(k, 0.0) - v_first).abs() < 1e-12);
            let v_last = s.vol_at_log_moneyness(k, 1.0);
            assert!((s.vol_at_log_moneyness(k, 5.0) - v_last).abs() < 1e-12);
        }
        assert_eq!(s.total_variance(0.0, -1.0), 0.0);
        assert!(s.vol(100.0, f64::NAN).is_nan());
    }

    #[test]
    fn flat_is_flat() {
        let s = Surface::flat(ForwardCurve::from_rate(100.0, 0.02).unwrap(), 0.55).unwrap();
        for &(strike, t) in &[(50.0, 0.01), (100.0, 0.5), (300.0, 3.0), (100.0, 0.0)] {
            assert!((s.vol(strike, t) - 0.55).abs() < 1e-12);
        }
    }

    #[test]
    fn marks_surface_is_exact_at_marked_strikes() {
        let curve = ForwardCurve::new(100.0, 0.0, &[(0.1, 100.5)]).unwrap();
        let marks = vec![(90.0, 0.7), (100.0, 0.6), (110.0, 0.62), (125.0, 0.68)];
        let s = Surface::from_marks(curve, &[(0.1, marks.clone())]).unwrap();
        for (strike, vol) in marks {
            assert!((s.vol(strike, 0.1) - vol).abs() < 1e-12);
        }
        assert!((s.vol(50.0, 0.1) - 0.7).abs() < 1e-12);
        assert!((s.vol(500.0, 0.1) - 0.68).abs() < 1e-12);
    }

    #[test]
    fn degenerate_inputs_are_errors() {
        let curve = ForwardCurve::from_rate(100.0, 0.0).unwrap();
        let p = SviParams::new(0.01, 0.1, 0.0, 0.0, 0.1).unwrap();
        assert_eq!(
            Surface::from_svi(curve.clone(), &[]),
            Err(SurfaceError::NoExpiries)
        );
        assert!(matches!(
            Surface::from_svi(curve.clone(), &[(0.5, p), (0.5, p)]),
            Err(SurfaceError::NonIncreasingExpiries { .. })
        ));
        assert!(Surface::from_svi(curve.clone(), &[(f64::NAN, p)]).is_err());
        assert!(Surface::flat(curve.clone(), -0.2).is_err());
        assert!(Surface::from_marks(curve, &[(0.5, vec![(-1.0, 0.5)])]).is_err());
    }
}
