//! Typed errors of the crate.

use thiserror::Error;

/// An input that cannot make a surface, a slice or a shock.
///
/// Messages follow one pattern: `invalid '<field>': must be <rule>, got <value>`.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SurfaceError {
    /// A scalar input outside its domain (NaN fails every check).
    #[error("invalid '{field}': must be {rule}, got {value}")]
    InvalidInput {
        /// The input's name.
        field: &'static str,
        /// What it must satisfy.
        rule: &'static str,
        /// What was given.
        value: f64,
    },
    /// Expiries must be listed strictly increasing.
    #[error(
        "invalid 'expiry_years': expiries must be strictly increasing, got {previous} then {next}"
    )]
    NonIncreasingExpiries {
        /// The earlier-listed expiry.
        previous: f64,
        /// The later-listed expiry, not after `previous`.
        next: f64,
    },
    /// A surface needs at least one expiry.
    #[error("invalid 'expiries': a surface needs at least one expiry, got none")]
    NoExpiries,
    /// A marked smile needs at least one mark.
    #[error("invalid 'marks': expiry {expiry_years} has no usable mark")]
    NoMarks {
        /// The expiry with no mark.
        expiry_years: f64,
    },
    /// Two marks of one expiry at the same strike.
    #[error("invalid 'marks': expiry {expiry_years} lists strike {strike} twice")]
    DuplicateMarkStrike {
        /// The expiry.
        expiry_years: f64,
        /// The repeated strike.
        strike: f64,
    },
}

impl SurfaceError {
    pub(crate) fn invalid(field: &'static str, rule: &'static str, value: f64) -> Self {
        SurfaceError::InvalidInput { field, rule, value }
    }
}

/// Checks `value > 0` and finite; NaN fails.
pub(crate) fn check_positive(field: &'static str, value: f64) -> Result<f64, SurfaceError> {
    if value > 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(SurfaceError::invalid(field, "finite and > 0", value))
    }
}

/// Checks `value` is finite; NaN fails.
pub(crate) fn check_finite(field: &'static str, value: f64) -> Result<f64, SurfaceError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(SurfaceError::invalid(field, "finite", value))
    }
}

/// Checks `value >= 0` and finite; NaN fails.
pub(crate) fn check_non_negative(field: &'static str, value: f64) -> Result<f64, SurfaceError> {
    if value >= 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(SurfaceError::invalid(field, "finite and >= 0", value))
    }
}
