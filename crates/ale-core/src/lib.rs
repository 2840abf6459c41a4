//! `ale-core`: the domain types every other ALE crate speaks.
//!
//! It owns assets ([`Asset`]), Deribit-style instrument ids and the typed instruments they name
//! ([`Instrument`]), option kinds, expiries and time to expiry (ACT/365; dated instruments expire
//! at 08:00 UTC, [`ExpiryDate`]), and the fixed-point [`Amount`] used for money that moves (see
//! its module for the representation and why).
//!
//! Architecture invariant: this crate does no I/O and never reads the clock; "now" is always an
//! argument.

pub mod account;
pub mod amount;
pub mod asset;
pub mod error;
pub mod instrument;
pub mod option_kind;
pub mod time;

pub use account::{Account, AccountId, Position};
pub use amount::{Amount, Rounding, AMOUNT_DECIMALS, AMOUNT_SCALE};
pub use asset::Asset;
pub use error::{AmountError, ParseError};
pub use instrument::{Instrument, PerpetualSuffix, Strike};
pub use option_kind::OptionKind;
pub use time::{ExpiryDate, Timestamp, SECONDS_PER_YEAR};
