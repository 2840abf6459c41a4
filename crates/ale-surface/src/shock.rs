//! Shocked views of a surface: spot moves (sticky-moneyness or sticky-strike), additive and
//! multiplicative vol shocks scaled by term, a capped skew rotation, a vol floor.
//!
//! A [`ShockedSurface`] borrows its base and holds a few `f64` of shock state: building one and
//! evaluating it allocate nothing, so a margin engine can run thousands of scenarios per account.
//!
//! For a view with spot factor s, at log-moneyness k = ln(K/F′) with F′ = s·F:
//!
//! ```text
//! k_base  = k                  (sticky-moneyness: σ_new(K) = σ_base(K/s))
//!         = k + ln s           (sticky-strike:    σ_new(K) = σ_base(K))
//! σ_new   = max(σ_floor, σ_base(k_base, T)·(1 + μ(T)) + α(T) + clamp(β·k, −cap, cap))
//! ```
//!
//! where μ (multiplicative) and α (additive) are [`TermScaled`] amounts:
//! sign(x)·clamp(|x|·(T_ref/T)^p, min, max).

use crate::error::{check_finite, check_non_negative, check_positive, SurfaceError};
use crate::surface::{Surface, VolSurface, MIN_EXPIRY_YEARS};

/// How the surface moves when spot moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpotRule {
    /// Vol is a function of K/F: the smile travels with the forward (ramm's rule).
    StickyMoneyness,
    /// Vol is a function of K: the smile stays where it was in strike.
    StickyStrike,
}

/// A vol shock amount scaled by term: `sign(size)·clamp(|size|·(T_ref/T)^power, min_abs, max_abs)`.
///
/// ramm's up shock is `TermScaled { size: v_up, reference_years: T_ref, power: 0.5,
/// min_abs: v_up_min, max_abs: v_up_max }`; its down shock the same with `size: -v_dn`.
/// `power = 0` is a parallel (term-independent) shock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TermScaled {
    /// Signed size at T = T_ref (vol, e.g. 0.15, or relative, e.g. 0.2 = +20%).
    pub size: f64,
    /// Reference term T_ref in years (> 0).
    pub reference_years: f64,
    /// Exponent p ≥ 0 of (T_ref/T).
    pub power: f64,
    /// Smallest magnitude after scaling (≥ 0).
    pub min_abs: f64,
    /// Largest magnitude after scaling (≥ `min_abs`; may be +∞).
    pub max_abs: f64,
}

impl TermScaled {
    /// No shock.
    pub const NONE: TermScaled = TermScaled {
        size: 0.0,
        reference_years: 1.0,
        power: 0.0,
        min_abs: 0.0,
        max_abs: f64::INFINITY,
    };

    /// The same amount at every term.
    pub fn parallel(size: f64) -> Self {
        TermScaled {
            size,
            ..TermScaled::NONE
        }
    }

    /// ramm's form: `sign(size)·clamp(|size|·√(T_ref/T), min_abs, max_abs)`.
    pub fn sqrt_time(size: f64, reference_years: f64, min_abs: f64, max_abs: f64) -> Self {
        TermScaled {
            size,
            reference_years,
            power: 0.5,
            min_abs,
            max_abs,
        }
    }

    fn validate(&self, field: &'static str) -> Result<(), SurfaceError> {
        check_finite(field, self.size)?;
        check_positive("reference_years", self.reference_years)?;
        check_non_negative("power", self.power)?;
        check_non_negative("min_abs", self.min_abs)?;
        if !(self.max_abs >= self.min_abs) {
            return Err(SurfaceError::invalid("max_abs", ">= min_abs", self.max_abs));
        }
        Ok(())
    }

    /// The signed amount at expiry T (T ≤ 0 takes the cap).
    #[inline]
    pub fn at(&self, expiry_years: f64) -> f64 {
        if self.size == 0.0 {
            return 0.0;
        }
        let t = expiry_years.max(MIN_EXPIRY_YEARS);
        let ratio = self.reference_years / t;
        let scale = if self.power == 0.0 {
            1.0
        } else if self.power == 0.5 {
            ratio.sqrt()
        } else if self.power == 1.0 {
            ratio
        } else {
            ratio.powf(self.power)
        };
        let magnitude = (self.size.abs() * scale).clamp(self.min_abs, self.max_abs);
        magnitude.copysign(self.size)
    }
}

/// A skew rotation: the vol change `clamp(vol_per_log_moneyness·k, −cap_abs, cap_abs)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkewRotation {
    /// Vol added per unit of log-moneyness (negative steepens a put skew).
    pub vol_per_log_moneyness: f64,
    /// Cap on the magnitude of the change (≥ 0; may be +∞).
    pub cap_abs: f64,
}

impl SkewRotation {
    /// No rotation.
    pub const NONE: SkewRotation = SkewRotation {
        vol_per_log_moneyness: 0.0,
        cap_abs: f64::INFINITY,
    };

    /// The vol change at k.
    #[inline]
    pub fn at(&self, log_moneyness: f64) -> f64 {
        (self.vol_per_log_moneyness * log_moneyness).clamp(-self.cap_abs, self.cap_abs)
    }
}

/// One scenario's change to a surface. `Shock::NONE` changes nothing; set the fields you need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shock {
    /// Spot (and every forward) multiplied by this (> 0); 1 = no move.
    pub spot_factor: f64,
    /// How the smile follows the spot move.
    pub spot_rule: SpotRule,
    /// Relative vol change μ(T): σ·(1 + μ).
    pub multiplicative: TermScaled,
    /// Vol points added, α(T).
    pub additive: TermScaled,
    /// Vol change proportional to k.
    pub skew: SkewRotation,
    /// The shocked vol never goes below this (≥ 0), e.g. ramm's σ_min.
    pub vol_floor: f64,
}

impl Shock {
    /// No change.
    pub const NONE: Shock = Shock {
        spot_factor: 1.0,
        spot_rule: SpotRule::StickyMoneyness,
        multiplicative: TermScaled::NONE,
        additive: TermScaled::NONE,
        skew: SkewRotation::NONE,
        vol_floor: 0.0,
    };

    /// Checks every field.
    ///
    /// # Errors
    /// The first field outside its domain, named.
    pub fn validate(&self) -> Result<(), SurfaceError> {
        check_positive("spot_factor", self.spot_factor)?;
        self.multiplicative.validate("multiplicative")?;
        self.additive.validate("additive")?;
        check_finite("vol_per_log_moneyness", self.skew.vol_per_log_moneyness)?;
        if !(self.skew.cap_abs >= 0.0) {
            return Err(SurfaceError::invalid("cap_abs", ">= 0", self.skew.cap_abs));
        }
        check_non_negative("vol_floor", self.vol_floor)?;
        Ok(())
    }
}

/// A surface seen under a [`Shock`]: borrows the base, copies nothing of it.
#[derive(Debug, Clone, Copy)]
pub struct ShockedSurface<'a, S: VolSurface + ?Sized = Surface> {
    base: &'a S,
    shock: Shock,
    ln_spot_factor: f64,
    /// ln s for sticky-strike, 0 for sticky-moneyness.
    k_shift: f64,
}

impl<'a, S: VolSurface + ?Sized> ShockedSurface<'a, S> {
    /// A view of `base` under `shock`.
    ///
    /// # Errors
    /// A shock field outside its domain ([`Shock::validate`]).
    pub fn new(base: &'a S, shock: Shock) -> Result<Self, SurfaceError> {
        shock.validate()?;
        let ln_spot_factor = shock.spot_factor.ln();
        let k_shift = match shock.spot_rule {
            SpotRule::StickyMoneyness => 0.0,
            SpotRule::StickyStrike => ln_spot_factor,
        };
        Ok(ShockedSurface {
            base,
            shock,
            ln_spot_factor,
            k_shift,
        })
    }

    /// The shock of this view.
    pub fn shock(&self) -> &Shock {
        &self.shock
    }

    /// The base surface.
    pub fn base(&self) -> &'a S {
        self.base
    }
}

impl<S: VolSurface + ?Sized> VolSurface for ShockedSurface<'_, S> {
    #[inline]
    fn ln_forward(&self, expiry_years: f64) -> f64 {
        self.base.ln_forward(expiry_years) + self.ln_spot_factor
    }

    #[inline]
    fn total_variance(&self, log_moneyness: f64, expiry_years: f64) -> f64 {
        if !(expiry_years > 0.0) {
            return if expiry_years.is_nan() { f64::NAN } else { 0.0 };
        }
        let v = self.vol_at_log_moneyness(log_moneyness, expiry_years);
        v * v * expiry_years
    }

    #[inline]
    fn vol_at_log_moneyness(&self, log_moneyness: f64, expiry_years: f64) -> f64 {
        let base = self
            .base
            .vol_at_log_moneyness(log_moneyness + self.k_shift, expiry_years);
        let s = &self.shock;
        let shocked = base * (1.0 + s.multiplicative.at(expiry_years))
            + s.additive.at(expiry_years)
            + s.skew.at(log_moneyness);
        // NaN propagates (f64::max would swallow it).
        if shocked >= s.vol_floor || shocked.is_nan() {
            shocked
        } else {
            s.vol_floor
        }
    }
}

impl Surface {
    /// A view of this surface under `shock` (see [`ShockedSurface::new`]).
    ///
    /// # Errors
    /// A shock field outside its domain.
    pub fn shocked(&self, shock: Shock) -> Result<ShockedSurface<'_>, SurfaceError> {
        ShockedSurface::new(self, shock)
    }
}
