//! Errors of the `pm` policy.

/// Why a `pm` evaluation, parameter set or scenario list was refused.
///
/// Every variant names the offending field with the case-file / TOML path
/// (`margin.mm_factor`, `market.expiries[2].forward`, `scenarios[30].spot_shock`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PmError {
    /// A value outside its admissible range, or an inconsistent input.
    #[error("invalid '{field}': {reason}")]
    Invalid {
        /// Path of the field, e.g. `margin.mm_factor`.
        field: String,
        /// What is wrong, e.g. `must be in [0.1, 10], got 12`.
        reason: String,
    },
    /// The parameter TOML could not be parsed, or holds an unknown or ill-typed key.
    #[error("params TOML: {0}")]
    Toml(String),
    /// A computation produced a non-finite number (inputs too extreme for binary64).
    #[error("non-finite result: {0}")]
    NonFinite(String),
}

impl PmError {
    /// An [`PmError::Invalid`] for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        PmError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error with `prefix.` put before the field path (e.g. `params`), so that a
    /// parameter error reads `params.margin.mm_factor` in a case file.
    pub fn prefixed(self, prefix: &str) -> Self {
        match self {
            PmError::Invalid { field, reason } => PmError::Invalid {
                field: format!("{prefix}.{field}"),
                reason,
            },
            other => other,
        }
    }
}

/// Checks `lo <= x <= hi` (NaN fails) and names `field` otherwise.
pub(crate) fn check_closed(
    field: impl std::fmt::Display,
    x: f64,
    lo: f64,
    hi: f64,
) -> Result<(), PmError> {
    if lo <= x && x <= hi {
        Ok(())
    } else {
        Err(PmError::invalid(
            field.to_string(),
            format!("must be in [{lo}, {hi}], got {x}"),
        ))
    }
}

/// Checks that `x` is finite and `x >= lo` (NaN fails).
pub(crate) fn check_at_least(
    field: impl std::fmt::Display,
    x: f64,
    lo: f64,
) -> Result<(), PmError> {
    if x.is_finite() && x >= lo {
        Ok(())
    } else {
        Err(PmError::invalid(
            field.to_string(),
            format!("must be finite and >= {lo}, got {x}"),
        ))
    }
}

/// Checks that `x` is finite and `x > lo` (NaN fails).
pub(crate) fn check_above(field: impl std::fmt::Display, x: f64, lo: f64) -> Result<(), PmError> {
    if x.is_finite() && x > lo {
        Ok(())
    } else {
        Err(PmError::invalid(
            field.to_string(),
            format!("must be finite and > {lo}, got {x}"),
        ))
    }
}

/// Checks that `x` is finite.
pub(crate) fn check_finite(field: impl std::fmt::Display, x: f64) -> Result<(), PmError> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(PmError::invalid(
            field.to_string(),
            format!("must be finite, got {x}"),
        ))
    }
}

/// A field path written out only when an error names it (evaluating an account formats no
/// path on the way: building them eagerly was a quarter of a `pm` re-margin).
pub(crate) struct Lazy<F: Fn(&mut std::fmt::Formatter<'_>) -> std::fmt::Result>(pub F);

impl<F: Fn(&mut std::fmt::Formatter<'_>) -> std::fmt::Result> std::fmt::Display for Lazy<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (self.0)(f)
    }
}
