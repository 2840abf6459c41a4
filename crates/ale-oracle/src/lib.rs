//! `ale-oracle`: the oracle side of ALE.
//!
//! - [`aggregate`]: several sources per value aggregated by median, with staleness and
//!   deviation guards, a circuit breaker for a jump no second source confirms, TWAP and EMA
//!   smoothing; every rejected value carries its reason and is never used.
//! - [`commit`]: the market snapshot and the venue's account state as Merkle trees (SHA-256,
//!   `rs_merkle`) of fixed-point leaves — market records of 128 bytes (underlying header,
//!   forward per expiry, SVI slice, collateral price, stable asset), one leaf per account —
//!   padded to a power of two; roots, multiproofs.
//! - [`quorum`]: k-of-n ed25519 signatures over (root, time, sequence number, leaf count) and,
//!   for the account state, the hash of the margin parameters in force; the joint message of
//!   both roots that certificates (format v2) carry; deterministic development keys from seeds.
//!
//! The byte layouts are the contract that `ale-verify` reads (`docs/formats.md`, "Liquidation
//! certificates"). This crate does not depend on `ale-verify` (dependencies point down the
//! crate table); `ale-certify`'s tests check that the two agree.
//!
//! Architecture invariant: no I/O, no clock (times are arguments), no global state.

pub mod aggregate;
pub mod commit;
pub mod quorum;

pub use aggregate::{
    Aggregated, Aggregator, AggregatorConfig, OracleError, Rejection, Smoothing, SourceQuote,
};
pub use commit::{AccountStateTree, CommitError, LeafKey, MarketTree};
pub use quorum::{dev_keys, RootRef, SignedRoot, SignedRoots};
