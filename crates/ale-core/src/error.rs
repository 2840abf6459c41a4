//! Errors of `ale-core`.

use thiserror::Error;

/// Something given as text (an instrument id, an asset, a time, an amount) is malformed.
/// The message quotes the input and says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// A malformed asset symbol.
    #[error("invalid asset '{input}': {reason}")]
    Asset { input: String, reason: String },
    /// A malformed instrument id.
    #[error("invalid instrument '{input}': {reason}")]
    Instrument { input: String, reason: String },
    /// A malformed time.
    #[error("invalid time '{input}': {reason}")]
    Time { input: String, reason: String },
    /// A malformed amount.
    #[error("invalid amount '{input}': {reason}")]
    Amount { input: String, reason: String },
}

/// Arithmetic on [`crate::Amount`] left the representable range, or divided by zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AmountError {
    /// The result does not fit in the fixed-point range.
    #[error("amount arithmetic overflowed")]
    Overflow,
    /// Division by zero.
    #[error("amount division by zero")]
    DivisionByZero,
    /// A float that is NaN or infinite cannot become an amount.
    #[error("amount from a non-finite number")]
    NonFinite,
}
