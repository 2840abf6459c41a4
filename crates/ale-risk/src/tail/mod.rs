//! Tail risk: value at risk and expected shortfall of one account, many accounts or the whole
//! venue over a horizon, by Monte Carlo or filtered historical simulation, with every listed
//! instrument fully re-priced on every path (docs/tail-risk.md).
//!
//! - [`model`]: the joint Student-t model of spot returns and implied-vol changes, its
//!   estimated defaults, and seeded, thread-count-independent Monte Carlo [`Paths`];
//! - [`history`]: daily closes and the DVOL series (parsed from CSV text; the caller reads the
//!   files), the estimation of the model ([`history::estimate`]) and filtered historical
//!   simulation paths ([`history::fhs_paths`]);
//! - [`table`]: the path table of one underlying (instruments × paths of P&L per unit);
//! - [`venue`]: every account and the book as a whole, in path chunks ([`tail_risk`]);
//! - [`stats`]: the VaR / ES estimator and its standard error, GARCH(1,1), EWMA, coverage tests;
//! - [`backtest`]: the daily-rolled BTC test book and its Kupiec / Christoffersen tests.
//!
//! Architecture invariant, as for the rest of the crate: no I/O, no clock; randomness only from
//! `ChaCha8Rng` seeded by the caller.

pub mod backtest;
pub mod history;
pub mod model;
pub mod stats;
pub mod table;
pub mod venue;

use thiserror::Error;

use crate::error::RiskError;

pub use model::{mc_paths, AssetModel, Paths, TailModel};
pub use stats::TailMeasure;
pub use table::PathTable;
pub use venue::{tail_risk, VenueTail};

/// Why a tail-risk estimate could not be made.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TailError {
    /// A parameter or input is out of its domain.
    #[error("invalid '{field}': {reason}")]
    Invalid { field: String, reason: String },
    /// The model has no parameters for an underlying of the market.
    #[error("no tail model for underlying '{name}' (the model knows: {known})")]
    UnknownUnderlying { name: String, known: String },
    /// The paths do not cover an underlying an account is exposed to.
    #[error("no paths for underlying '{0}'")]
    MissingPaths(String),
    /// Historical data are missing or unusable.
    #[error("history: {0}")]
    History(String),
    /// Re-pricing on a path failed.
    #[error("pricing '{instrument}': {reason}")]
    Pricing { instrument: String, reason: String },
    /// The risk engine refused an account (expired instrument, missing market data, ...).
    #[error(transparent)]
    Risk(#[from] RiskError),
    /// A limit was reached (named).
    #[error("limit reached: {0}")]
    Limit(String),
}

/// Simulation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Monte Carlo from [`TailModel`].
    MonteCarlo,
    /// Filtered historical simulation.
    FilteredHistorical,
}

impl Method {
    /// `mc` or `fhs`.
    pub fn name(self) -> &'static str {
        match self {
            Method::MonteCarlo => "mc",
            Method::FilteredHistorical => "fhs",
        }
    }
    /// Parses `mc` / `fhs`.
    pub fn parse(s: &str) -> Result<Method, TailError> {
        match s {
            "mc" => Ok(Method::MonteCarlo),
            "fhs" => Ok(Method::FilteredHistorical),
            other => Err(TailError::Invalid {
                field: "method".into(),
                reason: format!("must be 'mc' or 'fhs', got '{other}'"),
            }),
        }
    }
}

/// The parameters of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct TailParams {
    /// Confidence levels, each in (0, 1).
    pub alphas: Vec<f64>,
    /// Horizon, days (ACT/365; 1 = one day).
    pub horizon_days: f64,
    /// Monte Carlo paths (FHS takes one path per historical day).
    pub paths: usize,
    /// Seed of the ChaCha8 streams.
    pub seed: u64,
    /// Expiry, days, of the reference ATM vol (the DVOL's 30 days) whose log-change the model
    /// simulates, and of today's vol when the market gives no realised vol.
    pub vol_ref_days: f64,
    /// Bounds of the vol-change multiplier w(T) = (T_ref/T)^½ of an expiry.
    pub vol_weight_min: f64,
    /// See `vol_weight_min`.
    pub vol_weight_max: f64,
    /// Lowest vol a path may reach.
    pub vol_floor: f64,
    /// Paths per chunk of a venue-wide run.
    pub chunk_paths: usize,
    /// A run whose tables hold at most this many values (instruments × paths) takes all its
    /// paths in one chunk.
    pub single_chunk_values: usize,
}

impl Default for TailParams {
    fn default() -> Self {
        TailParams {
            alphas: vec![0.99, 0.995],
            horizon_days: 1.0,
            paths: 10_000,
            seed: 1,
            vol_ref_days: 30.0,
            vol_weight_min: 0.25,
            vol_weight_max: 3.0,
            vol_floor: 0.05,
            chunk_paths: 2_048,
            single_chunk_values: 1 << 20,
        }
    }
}

impl TailParams {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), TailError> {
        let bad = |field: &str, reason: String| {
            Err(TailError::Invalid {
                field: field.into(),
                reason,
            })
        };
        if self.alphas.is_empty() {
            return bad("alpha", "at least one level is needed".into());
        }
        for a in &self.alphas {
            stats::check_alpha(*a)?;
        }
        if !(self.horizon_days > 0.0 && self.horizon_days <= 365.0) {
            return bad(
                "horizon",
                format!("must be in (0, 365] days, got {}", self.horizon_days),
            );
        }
        if self.paths == 0 || self.paths > model::MAX_PATHS {
            return bad(
                "paths",
                format!("must be in [1, {}], got {}", model::MAX_PATHS, self.paths),
            );
        }
        if !(self.vol_ref_days > 0.0 && self.vol_ref_days.is_finite()) {
            return bad(
                "vol_ref_days",
                format!("must be finite and > 0, got {}", self.vol_ref_days),
            );
        }
        if !(self.vol_weight_min > 0.0
            && self.vol_weight_min <= self.vol_weight_max
            && self.vol_weight_max.is_finite())
        {
            return bad(
                "vol_weight",
                format!(
                    "need 0 < min <= max, finite, got {} and {}",
                    self.vol_weight_min, self.vol_weight_max
                ),
            );
        }
        if !(self.vol_floor > 0.0 && self.vol_floor < table::MAX_VOL) {
            return bad(
                "vol_floor",
                format!("must be in (0, {}), got {}", table::MAX_VOL, self.vol_floor),
            );
        }
        Ok(())
    }
}

/// `ramm`'s optional `tail` component (ramm.md): the excess of the expected shortfall over the
/// scan horizon above the `price` + `vega` components, never negative. A NaN input gives NaN
/// (not 0), which the engine then refuses by name as it does any non-finite margin.
///
/// Wiring (policy.rs, when `tail_enabled`): build one [`PathTable`] per underlying on the venue
/// table's rows (`RowSet::build(market, now, rate, book.rows(u).map(|l| &l.kind), &p)` then
/// `PathTable::build`, with `horizon_days` = `T_scan` in days), next to the `ramm`
/// `UnderlyingTable`; in `Ramm::margin`, after `price` and `vega`,
/// `let es = path_table.measure(exposure.positions, exposure.moving_collateral, &[alpha])?[0].es;`
/// and `tail = es_excess(es, price, vega)`, added to the maintenance margin.
pub fn es_excess(es: f64, price: f64, vega: f64) -> f64 {
    let x = es - price - vega;
    if x.is_nan() {
        x
    } else {
        x.max(0.0)
    }
}
