//! The simulator's errors: every one names what was wrong, none is a panic.

use thiserror::Error;

/// Why a backtest could not run.
#[derive(Debug, Error)]
pub enum SimError {
    /// A scenario name that is not in [`crate::scenario::SCENARIOS`].
    #[error("unknown scenario '{name}': expected one of {known}")]
    UnknownScenario { name: String, known: String },
    /// A parameter or option outside its domain.
    #[error("invalid '{field}': {reason}")]
    Invalid { field: String, reason: String },
    /// A data file that could not be read or parsed.
    #[error("data file {file}: {reason}")]
    Data { file: String, reason: String },
    /// The data do not cover what a scenario needs.
    #[error("scenario '{scenario}' needs data from {from} to {to}, which {file} does not cover")]
    NotCovered {
        scenario: String,
        from: String,
        to: String,
        file: String,
    },
    /// The margin engine refused an input.
    #[error("risk: {0}")]
    Risk(String),
    /// The liquidation engine refused an input or broke an invariant.
    #[error("liquidation of '{account}': {reason}")]
    Liquidation { account: String, reason: String },
    /// The ledger refused an operation (a bookkeeping bug: value would not be conserved).
    #[error("ledger: {0}")]
    Ledger(String),
    /// A report could not be drawn.
    #[error("report: {0}")]
    Report(String),
}

pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> SimError {
    SimError::Invalid {
        field: field.to_string(),
        reason: reason.into(),
    }
}
