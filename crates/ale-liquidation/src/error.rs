//! Errors of the liquidation crate: each names what is wrong (the holder, unit, field, limit).

use ale_core::AmountError;
use thiserror::Error;

/// Why a ledger operation was refused. A refused operation changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerError {
    /// A leg moves zero or a negative amount.
    #[error("operation {op}: leg {leg} moves {amount}; the amount of a leg must be > 0")]
    NonPositiveLeg { op: u64, leg: usize, amount: String },
    /// A leg moves value from a holder to itself.
    #[error("operation {op}: leg {leg} moves from '{holder}' to itself")]
    SelfTransfer { op: u64, leg: usize, holder: String },
    /// A holder or unit id the ledger never issued.
    #[error("operation {op}: leg {leg} names an unknown {what} id {id}")]
    UnknownId {
        op: u64,
        leg: usize,
        what: &'static str,
        id: u32,
    },
    /// A cash balance would fall below zero for a holder that may not owe.
    #[error("operation {op}: '{holder}' holds {balance} {unit}, cannot pay {amount}")]
    InsufficientBalance {
        op: u64,
        holder: String,
        unit: String,
        balance: String,
        amount: String,
    },
    /// An id already applied with different legs (an id names one operation forever).
    #[error("operation {op}: id already used by a different operation")]
    ConflictingId { op: u64 },
    /// Too many legs in one operation.
    #[error("operation {op}: {legs} legs, more than the limit of {limit}")]
    TooManyLegs { op: u64, legs: usize, limit: usize },
    /// A balance would overflow `i128`.
    #[error("operation {op}: balance of '{holder}' in {unit} overflows")]
    Overflow {
        op: u64,
        holder: String,
        unit: String,
    },
    /// The sum of a unit's balances is not zero: a bug, never user data.
    #[error("ledger unbalanced: {unit} sums to {sum} nano-units")]
    Unbalanced { unit: String, sum: i128 },
}

/// Why a liquidation step could not run.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LiquidationError {
    /// A parameter is out of its domain.
    #[error("invalid '{field}': {reason}")]
    Invalid { field: String, reason: String },
    /// The ledger refused an operation.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The risk engine could not margin a holder.
    #[error("margin of '{holder}': {reason}")]
    Risk { holder: String, reason: String },
    /// Fixed-point arithmetic overflowed or divided by zero.
    #[error("arithmetic in {context}: {source}")]
    Amount {
        context: &'static str,
        source: AmountError,
    },
    /// An account, bidder or pool is not registered.
    #[error("unknown {what} '{name}'")]
    Unknown { what: &'static str, name: String },
    /// A name is registered twice.
    #[error("{what} '{name}' is already registered")]
    Duplicate { what: &'static str, name: String },
    /// A named limit was reached.
    #[error("limit reached: {0}")]
    Limit(String),
}

/// Wraps an [`AmountError`] with the computation it happened in.
pub(crate) fn arith(context: &'static str) -> impl Fn(AmountError) -> LiquidationError {
    move |source| LiquidationError::Amount { context, source }
}
