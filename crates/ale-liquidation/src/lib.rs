//! `ale-liquidation`: when an account's equity falls below its maintenance margin, take just
//! enough of it, fast and cheaply, that it is healthy again, and make sure nobody but the account
//! pays.
//!
//! It owns:
//! - the [`ledger`]: exact double-entry balances (`Amount`, 10⁻⁹ units) of traders, the
//!   insurance fund, backstop pools, liquidators, backstop-credit providers, fees, socialised
//!   loss and the outside world; idempotent operations with ids;
//! - the [`auction`] price rule of formats.md (`ale auction quote`);
//! - the [`engine`]: the lifecycle of a liquidation as a state machine driven by explicit events
//!   and explicit time (`process(event, now) -> records`): flagged → frozen → tier 1 backstop →
//!   tier 2 auction (Dutch or sealed; insolvent auction for negative equity) → tier 3 market sale
//!   → restored or closed, with the loss waterfall (own collateral → insurance fund → backstop
//!   credit → auto-deleveraging at the bankruptcy price, or socialised loss); `Event::Market`
//!   moves a long-running engine to each new market snapshot;
//! - a [`driver`] that orders the events of a run (the CLI, the benches and the simulator use it);
//! - the certificate [`gate`]: a liquidation starts only with a certificate that the minimal
//!   verifier (`ale-verify`) accepts for the account (on by default; off for backtests).
//!
//! Invariants:
//! - Every unit's balances sum to zero after every operation (value conserved to the nano-unit);
//!   the engine re-checks it after every waterfall step.
//! - No cash balance is negative except the outside world's and the socialised-loss account's
//!   (whose negative balance is the recorded socialised loss).
//! - Replaying the log's operations on an empty ledger gives the same ledger ([`replay`]).
//! - Rounding never favours the account being liquidated over its counterparties: requirements
//!   round up, equity and receipts down, fees up, payouts by the fund down.
//! - A bidder never pays more than its price limit; a bidder never takes an account of its own
//!   owner; a taker (backstop or bidder) meets its own initial margin after taking.
//! - A frozen account (under liquidation) withdraws nothing and takes no risk-increasing order.
//! - Every liquidation ends restored (equity ≥ maintenance · (1 + buffer), the buffer margin of
//!   formats.md) or closed (no position left).
//! - Every loop is bounded by a named constant ([`params`]).
//!
//! Architecture invariant: no I/O, no clock, no global state. Margins come from `ale-risk`
//! (`f64`) and become money at one boundary ([`valuation`]).

pub mod auction;
pub mod driver;
pub mod engine;
pub mod error;
pub mod gate;
pub mod ledger;
pub mod params;
pub mod valuation;

pub use auction::{quote, AuctionParams, Phase, Quote, QuoteInput};
pub use engine::{
    replay, AuctionView, Bidder, CaseView, Engine, Event, MarketUpdate, Record, RecordKind, Stage,
};
pub use error::{LedgerError, LiquidationError};
pub use gate::GateRefusal;
pub use ledger::{Applied, Holder, HolderId, Ledger, Leg, Op, OpId, Unit, UnitId};
pub use params::{
    AuctionKind, CertificateGate, DepthLevel, DepthModel, LiquidationParams, LossMode, NotionalCap,
    SealedPricing,
};
pub use valuation::{quantity_from_size, Health, Holding, Portfolio};
