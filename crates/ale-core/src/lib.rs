//! `ale-core`: the domain types every other ALE crate speaks.
//!
//! It owns assets, Deribit-style instrument ids and the typed instruments they name, option kinds,
//! expiries and time to expiry (ACT/365, options expire at 08:00 UTC), and the fixed-point
//! [`Amount`] used for money that moves.
//!
//! Architecture invariant: this crate does no I/O and never reads the clock; every time is an
//! input.

pub mod option_kind;

pub use option_kind::OptionKind;
