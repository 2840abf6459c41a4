//! Errors of the risk engine: each names what is wrong (the account, instrument, field).

use thiserror::Error;

/// Why a margin could not be computed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RiskError {
    /// A parameter file or value is not admissible.
    #[error("parameters: {0}")]
    Params(String),
    /// The market snapshot lacks something an account needs.
    #[error(transparent)]
    Market(#[from] ale_market::MarketError),
    /// An account holds an instrument whose expiry is at or before the snapshot time.
    #[error(
        "instrument '{instrument}' expired at {expiry} (snapshot time {now}); settle it first"
    )]
    Expired {
        instrument: String,
        expiry: String,
        now: String,
    },
    /// An input number is out of its domain.
    #[error("invalid '{field}': {reason}")]
    Invalid { field: String, reason: String },
    /// Pricing failed for an instrument (its inputs are out of the model's domain).
    #[error("pricing '{instrument}': {reason}")]
    Pricing { instrument: String, reason: String },
    /// A limit of the engine was reached (named).
    #[error("limit reached: {0}")]
    Limit(String),
    /// An account is not in the book.
    #[error("unknown account '{0}'")]
    UnknownAccount(String),
}
