//! `ale-oracle`: the oracle side of ALE.
//!
//! For now it holds the commitments the liquidation certificates rest on (issue 10); feed
//! aggregation (median, staleness, deviation guard) will join as its own modules.
//!
//! - [`commit`]: the market snapshot and the venue's account state as Merkle trees (SHA-256,
//!   `rs_merkle`) of fixed-point leaves — market records of 128 bytes (underlying header,
//!   forward per expiry, SVI slice, collateral price), one leaf per account — padded to a power
//!   of two; roots, multiproofs.
//! - [`quorum`]: k-of-n ed25519 signatures over (root, time, sequence number, leaf count) and,
//!   for the account state, the hash of the margin parameters in force; deterministic
//!   development keys from seeds.
//!
//! The byte layouts are the contract that `ale-verify` reads (`docs/formats.md`, "Liquidation
//! certificates"). This crate does not depend on `ale-verify` (dependencies point down the
//! crate table); `ale-certify`'s tests check that the two agree.
//!
//! Architecture invariant: no I/O, no clock (times are arguments), no global state.

pub mod commit;
pub mod quorum;

pub use commit::{AccountStateTree, CommitError, LeafKey, MarketTree};
pub use quorum::{dev_keys, SignedRoot};
