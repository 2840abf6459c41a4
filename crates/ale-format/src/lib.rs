//! `ale-format`: the wire types of `formats.md` — the market file, the portfolio file, the JSON
//! lines the commands print, Derive's PMRM_2 conformance cases — and their conversion into the
//! domain types of the pure crates, at this one boundary.
//!
//! API boundary: the pure crates (`ale-core` … `ale-risk`) do not derive `Serialize` on domain
//! types; JSON lives here. Parsing reads from `&str`/`serde_json::Value`; the caller does the I/O.
pub mod pm_case;

pub mod liquidation;
pub mod market;
pub mod portfolio;
pub mod report;
pub mod surface_report;
pub mod wire;

pub use market::{parse_market, LoadedMarket};
pub use portfolio::parse_portfolio;
pub use wire::FormatError;
