//! `ale-risk`: margin and risk of a venue's accounts.
//!
//! It owns the margin policies (`ramm`, `static`, `oracle-adjusted`, and `pm`, Derive/Deribit
//! portfolio margin), their parameters, the `ramm` scenario grid, the instrument × scenario table
//! of each underlying, the batch engine that nets every account from the tables (in parallel and
//! incrementally), and the liquidation-price solver.
//!
//! Layering (as in OpenGamma Strata): `ale-pricing` prices one option; [`table`] prices every
//! listed instrument under every scenario; [`policy`] turns one account's rows into a margin;
//! [`engine`] does it for the whole book.
//!
//! Architecture invariant: no I/O, no clock, no global state; risk numbers are `f64` and every
//! margin that leaves this crate is finite (a non-finite result is an error naming the account).

pub mod book;
pub mod engine;
pub mod error;
mod kernel;
pub mod liq_batch;
pub mod liquidation_price;
pub mod params;
pub mod pm;
pub mod pm_policy;
pub mod pm_table;
pub mod policy;
pub mod scenario;
pub mod settlement;
pub mod synthetic;
pub mod table;
pub mod tail;

pub use book::{Book, BookAccount, BookPosition, RowKind, UnderlyingIx};
pub use engine::{margin_standalone, AccountMargin, RiskEngine, Status, WorstScenario};
pub use error::RiskError;
pub use liquidation_price::{liquidation_prices, LiquidationPrices, Root};
pub use params::{OracleAdjustedParams, RammParams, StaticParams};
pub use pm_policy::PmPolicy;
pub use policy::{policy_by_name, MarginPolicy, OracleAdjusted, Ramm, Static};
pub use scenario::{RammGrid, Scenario, VolMove};
pub use settlement::{settle_expired, Settlement};
pub use table::UnderlyingTable;
