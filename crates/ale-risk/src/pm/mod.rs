//! `pm`: scenario-based portfolio margin compatible with Deribit's portfolio margin and Derive's
//! on-chain manager PMRM_2 (design: `pm.md`; summary: `docs/pm.md`).
//!
//! The policy is a pure function
//!
//! ```text
//! (market snapshot, account, parameters, scenario list) -> MM surplus, IM surplus, explanation
//! ```
//!
//! Layers, each in its own module:
//! - `params`, `scenario`, `config`: the parameter groups, the named sets `deribit-like` and
//!   `derive-test`, admissible ranges, scenario lists and their TOML form;
//! - `valuation`: the one place where option values per (expiry, scenario) are computed
//!   ([`ExpiryContext`], [`option_unit_value`], [`ExpiryValues`]), pricing through
//!   `ale_pricing::Black76`;
//! - `engine`: aggregation of those values into scenario P&L, basis floor, contingencies and
//!   surpluses ([`evaluate`] for one underlying, [`evaluate_account`] for several), and the
//!   report mapping of pm.md §9. [`evaluate_account_with`] takes the option values from an
//!   [`ExpiryValueSource`] (e.g. a batch engine's instrument × scenario table) instead.
//!
//! Architecture invariant: no I/O, no clock, no serde; every error names its field.

mod config;
mod engine;
mod error;
mod params;
mod scenario;
mod types;
mod valuation;

pub use config::{default_toml, MAX_TOML_SCENARIOS};
pub use engine::{
    evaluate, evaluate_account, evaluate_account_with, limits_of, Binding, Contingencies,
    ExpiryBreakdown, ExpiryValueSource, ImComponents, MmComponents, PmAccountEvaluation, PmConfig,
    PmEvaluation, PmReport, Priced, UnderlyingEvaluation, MAX_SEC_TO_EXPIRY,
};
pub use error::PmError;
pub use params::{
    Admissible, BasisParams, MarginParams, OtherContingencyParams, ParamSet, ParamSpec, PmParams,
    SkewShockParams, VolShockParams, PARAM_GROUPS, PARAM_SPECS,
};
pub use scenario::{Limits, Scenario, ScenarioList, VolDirection};
pub use types::{
    Collateral, ExpiryMarket, HeldCollateral, MultiAccount, PmAccount, PmMarket, PmOption,
    UnderlyingBook, UnderlyingMarket,
};
pub use valuation::{
    option_unit_value, ExpiryContext, ExpiryValues, Shock, SkewKind, FORWARD_FREEZE_S, MONTH_S,
    YEAR_S,
};
