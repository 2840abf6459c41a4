//! Typed errors. Messages name the field as the `ale price` / `ale iv` JSON does (`forward`,
//! `strike`, `t`, `vol`, `rate`, `price`) in one style:
//! `invalid 'vol': must be finite and in [0, 100], got NaN`.

use thiserror::Error;

/// An input outside the domain of the pricer.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
#[error("invalid '{field}': must be {requirement}, got {value}")]
pub struct InvalidInput {
    /// The field's name as the JSON formats spell it.
    pub field: &'static str,
    /// What the field must satisfy, e.g. `finite and in [0, 100]`.
    pub requirement: &'static str,
    /// The value given.
    pub value: f64,
}

/// Why Black-76 pricing refused its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum PricingError {
    /// One field is outside the domain.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
}

/// Where a price carries no usable information on the vol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indeterminacy {
    /// At `t = 0` the price is the intrinsic value whatever the vol.
    ZeroExpiry,
    /// The time value (price minus discounted intrinsic) is zero or within rounding of the price
    /// itself: every vol from 0 up to some small value gives the same binary64 price.
    NoTimeValue,
    /// The price is within rounding of the upper bound: the vol is infinite or beyond the
    /// pricer's domain (`vol ≤ 100`).
    AtUpperBound,
}

impl std::fmt::Display for Indeterminacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Indeterminacy::ZeroExpiry => {
                "at t = 0 the price is the intrinsic value whatever the vol"
            }
            Indeterminacy::NoTimeValue => {
                "its time value is within rounding of zero, so it does not determine the vol"
            }
            Indeterminacy::AtUpperBound => {
                "it is within rounding of the upper bound, so it implies no finite vol in [0, 100]"
            }
        })
    }
}

/// Why no implied vol is returned.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum ImpliedVolError {
    /// One field is outside the domain (non-finite, non-positive forward or strike, ...).
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The price is below the discounted intrinsic value `e^(−R·T)·max(θ(F − K), 0)`: no vol
    /// gives it.
    #[error("invalid 'price': must be >= the discounted intrinsic value {intrinsic}, got {price}")]
    BelowIntrinsic {
        /// The price given.
        price: f64,
        /// The discounted intrinsic value.
        intrinsic: f64,
    },
    /// The price is at or above the upper bound (`e^(−R·T)·F` for a call, `e^(−R·T)·K` for a put),
    /// which only an infinite vol reaches.
    #[error("invalid 'price': must be < the upper bound {bound} (discounted forward for a call, discounted strike for a put), got {price}")]
    AboveUpperBound {
        /// The price given.
        price: f64,
        /// The upper bound.
        bound: f64,
    },
    /// The price is attainable but does not determine the vol.
    #[error("invalid 'price': {reason}, got {price}")]
    Indeterminate {
        /// The price given.
        price: f64,
        /// Which case.
        reason: Indeterminacy,
    },
}

/// Check that `value` is finite and within `[min, max]` (NaN fails).
#[inline]
pub(crate) fn check_range(
    field: &'static str,
    value: f64,
    min: f64,
    max: f64,
    requirement: &'static str,
) -> Result<f64, InvalidInput> {
    if value >= min && value <= max {
        Ok(value)
    } else {
        Err(InvalidInput {
            field,
            requirement,
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field_uniformly() {
        let e = check_range("vol", f64::NAN, 0.0, 100.0, "finite and in [0, 100]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid 'vol': must be finite and in [0, 100], got NaN"
        );
        let e = PricingError::from(e);
        assert_eq!(
            e.to_string(),
            "invalid 'vol': must be finite and in [0, 100], got NaN"
        );
        let e = ImpliedVolError::BelowIntrinsic {
            price: 4.5,
            intrinsic: 5.0,
        };
        assert_eq!(
            e.to_string(),
            "invalid 'price': must be >= the discounted intrinsic value 5, got 4.5"
        );
    }

    #[test]
    fn range_check_rejects_nan_and_infinities() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 101.0] {
            assert!(check_range("vol", v, 0.0, 100.0, "x").is_err(), "{v}");
        }
        assert_eq!(check_range("vol", 0.0, 0.0, 100.0, "x"), Ok(0.0));
    }
}
