//! `ale-sim`: backtests of margin policies on real and simulated markets, run on the real
//! `ale-risk` and `ale-liquidation` code (never a copy).
//!
//! It owns:
//! - [`data`]: the shared BTC and ETH data (daily and hourly bars, DVOL, funding) and the test
//!   excerpt;
//! - [`calibrate`]: the implied-vol model fitted where DVOL exists, the calibrated
//!   jump-diffusion with stochastic vol, and ETH against BTC (correlation, vol ratio, co-jumps);
//! - [`path`] and [`scenario`]: seeded market paths (historical replays of named crash windows,
//!   synthetic and stress paths), sub-hour Brownian bridges in crash windows;
//! - [`venue`]: the listed chain (perpetuals, dated futures, options, per underlying) and the
//!   market snapshot marked from an SVI surface whose level, term structure and skew follow the
//!   state;
//! - [`population`]: the traders, their strategies, underlyings, collateral and arrival times;
//! - [`books`]: the run's exact double-entry ledger (USDC and coin collateral); [`liq`]: the one
//!   adapter over `ale-liquidation` (backstop pools, credit providers, Dutch or sealed auctions,
//!   and what each tier did);
//! - [`sim`]: the step loop of one policy (keeper, oracle, trigger, delays, top-ups, hedges);
//! - [`backtest`]: policies side by side on common random numbers, and parameter sweeps;
//! - [`report`]: the self-contained HTML report (inline SVG plots).
//!
//! Invariants:
//! - The same seed gives the same numbers on any thread count: every random draw comes from a
//!   ChaCha8 stream named by purpose and index ([`rng`]), decisions during a run are drawn by
//!   (account, time), and iteration reaching output is over ordered collections.
//! - Value is conserved: every run ends with [`books::Books::audit`] (every unit sums to zero;
//!   socialised loss is the one internal negative cash balance).
//! - Every policy of a comparison meets the same paths and the same population.
//! - No panics on user input: a bad scenario, policy or parameter is a [`SimError`].
//!
//! Deliberately absent (see docs/backtest.md, "Left out"): one liquidation engine for a whole
//! run (each case runs its own, on the moving market; a run-wide engine needs events
//! `ale-liquidation` does not have: expiry, the takers' hedges, funding).

#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod backtest;
pub mod books;
pub mod calibrate;
pub mod data;
mod error;
pub mod liq;
pub mod path;
pub mod population;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod venue;

pub use backtest::{
    parse_param, run_backtest, run_sweep, Backtest, BacktestSpec, SweepParam, SweepPoint,
    SweepResult,
};
pub use calibrate::{calibrate, Calibration};
pub use data::DataSet;
pub use error::SimError;
pub use liq::TierFlows;
pub use population::PopulationSpec;
pub use scenario::{Scenario, SCENARIOS};
pub use sim::{
    standard_policies, AuctionChoice, Metrics, PolicyResult, PolicyRun, SimConfig, Trigger,
};

/// A progress bar on stderr (hidden when stderr is not a terminal) for `total` steps.
pub fn progress_bar(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} steps ({eta} left)",
    ) {
        bar.set_style(style);
    }
    bar
}
