//! One backtest: a market path, the population, one policy, the keeper pipeline with its delays,
//! the real margin engine (`ale-risk`) and the real liquidation engine (`ale-liquidation`).
//!
//! The step loop (steps of `hour_step_s`, `crash_step_s` inside the crash window):
//! 0. accounts whose arrival time has come open: they pay in their capital (USDC, and coin for
//!    those that post some) and open their strategy at the initial margin of the policy in force
//!    on the market of that moment;
//! 1. options and futures that expired since the last step settle at the path's spot at
//!    08:00 UTC (what a holder cannot pay is bad debt: the fund pays it, then it is socialised);
//!    books with dated instruments roll: what is left is closed at the marks and the strategy
//!    re-opened at its utilisation of the equity left;
//! 2. funding every 8 h on perpetual positions (longs pay shorts when the rate is positive);
//! 3. top-ups whose delay has passed arrive;
//! 4. market makers re-hedge their delta (per underlying, with its perpetual) when their
//!    interval has passed;
//! 5. the keeper margins every account on its view of the market: the oracle's last update
//!    (`oracle_latency_s` ago), or for a TWAP trigger the TWAP of the last `twap_window_s`;
//! 6. a liquidatable account becomes a liquidation case at `exec_delay_s` later, on the true
//!    market of that moment (the engine re-checks it there: an account that recovered is not
//!    liquidated); margin-called accounts decide to top up (their own probability and delay,
//!    drawn by account and time so that every policy sees the same draws).
//!
//! Invariant: every unit of money is on the ledger (External included) or in the recorded
//! socialised loss: [`Books::audit`] at the end of every run.

use ale_core::{Asset, Instrument, Rounding, Timestamp};
use ale_liquidation::{
    AuctionKind, Bidder, CertificateGate, DepthModel, Holder, LiquidationParams, SealedPricing,
};
use ale_market::MarketSnapshot;
use ale_risk::{policy_by_name, Book, MarginPolicy, RiskEngine, Status};

use crate::books::{money, Books};
use crate::calibrate::Calibration;
use crate::error::SimError;
use crate::liq::{self, Pool, TierFlows, Venue};
use crate::path::MarketPath;
use crate::population::{unit_legs, Strategy, Trader, MAX_LEVERAGE};
use crate::rng::{uniform_at, STREAM_DECISION};
use crate::venue::{
    basis_of_funding, future_expiries, listed_expiries, mark_delta, market_of, perp, SurfaceState,
    UnderlyingState,
};

/// Most steps of one run.
pub const MAX_STEPS: usize = 200_000;
/// Points kept of each series for the report.
pub const SERIES_POINTS: usize = 240;

/// What triggers a liquidation check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// The oracle's mark.
    Mark,
    /// A time-weighted average of the oracle over a window (the legacy trigger).
    Twap {
        /// Window, seconds.
        window_s: i64,
    },
}

/// A policy as compared: its label in reports, the `policy_by_name` name, parameters, trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRun {
    /// Label (`static-twap`).
    pub label: String,
    /// Policy name for `ale_risk::policy_by_name`.
    pub policy: String,
    /// Parameters as TOML (`None`: defaults).
    pub params_toml: Option<String>,
    /// The trigger.
    pub trigger: Trigger,
}

impl PolicyRun {
    /// A policy on the mark trigger with default parameters.
    pub fn mark(name: &str) -> PolicyRun {
        PolicyRun {
            label: name.to_string(),
            policy: name.to_string(),
            params_toml: None,
            trigger: Trigger::Mark,
        }
    }
}

/// The five policies of the issue: static, static on a 1 h TWAP trigger, oracle-adjusted, pm,
/// ramm.
pub fn standard_policies() -> Vec<PolicyRun> {
    vec![
        PolicyRun::mark("static"),
        PolicyRun {
            label: "static-twap".into(),
            policy: "static".into(),
            params_toml: None,
            trigger: Trigger::Twap { window_s: 3_600 },
        },
        PolicyRun::mark("oracle-adjusted"),
        PolicyRun::mark("pm"),
        PolicyRun::mark("ramm"),
    ]
}

/// The policy run called `label` (one of [`standard_policies`]).
pub fn policy_run(label: &str) -> Result<PolicyRun, SimError> {
    standard_policies()
        .into_iter()
        .find(|p| p.label == label)
        .ok_or_else(|| {
            crate::error::invalid(
                "policy",
                format!(
                    "unknown '{label}': expected all, {}",
                    standard_policies()
                        .iter()
                        .map(|p| p.label.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

/// The tier-2 auction a run's liquidations use for solvent accounts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AuctionChoice {
    /// The Dutch auction (descending price).
    Dutch,
    /// Sealed bids within a window, the winner pays its own bid.
    SealedFirst,
    /// Sealed bids within a window, the winner pays the next-highest bid.
    SealedSecond,
}

impl AuctionChoice {
    /// Its name on the command line (`dutch`, `sealed-first`, `sealed-second`).
    pub fn name(self) -> &'static str {
        match self {
            AuctionChoice::Dutch => "dutch",
            AuctionChoice::SealedFirst => "sealed-first",
            AuctionChoice::SealedSecond => "sealed-second",
        }
    }
    /// The choice called `name`.
    pub fn parse(name: &str) -> Result<AuctionChoice, SimError> {
        [
            AuctionChoice::Dutch,
            AuctionChoice::SealedFirst,
            AuctionChoice::SealedSecond,
        ]
        .into_iter()
        .find(|a| a.name() == name)
        .ok_or_else(|| {
            crate::error::invalid(
                "auction",
                format!("unknown '{name}': expected dutch, sealed-first or sealed-second"),
            )
        })
    }
}

/// The pipeline and the venue's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Accounts.
    pub accounts: usize,
    /// Seed of everything random.
    pub seed: u64,
    /// Step outside the crash window, seconds (3600).
    pub hour_step_s: i64,
    /// Step inside it: the keeper cycle, seconds (300).
    pub crash_step_s: i64,
    /// Age of the oracle's price the keeper sees, seconds (60).
    pub oracle_latency_s: i64,
    /// From the keeper's detection to the liquidation, seconds (120).
    pub exec_delay_s: i64,
    /// Insurance fund at the start, a fraction of all capital paid in (0.01).
    pub fund_fraction: f64,
    /// Liquidators (4), each with this fraction of all capital (0.01).
    pub liquidators: usize,
    /// Capital of each liquidator, a fraction of all capital.
    pub liquidator_capital_fraction: f64,
    /// The profit a liquidator wants on top of its hedge cost, a fraction of value (0.01).
    pub liquidator_margin: f64,
    /// Half-spread of the order book in calm markets (0.001); scales with IV / base IV.
    pub half_spread: f64,
    /// Price impact per USD of notional in calm markets (2e-8); scales with (IV / base)²: the
    /// book thins in a crash.
    pub impact_per_usd: f64,
    /// The underlyings, BTC first (`["BTC", "ETH"]`).
    pub underlyings: Vec<String>,
    /// Share of the accounts that open during the run rather than at its start (0.3).
    pub arrivals: f64,
    /// Share of the accounts that post 30–80 % of their capital in coin (0.25).
    pub coin_collateral: f64,
    /// The tier-2 auction for solvent accounts (Dutch).
    pub auction: AuctionChoice,
    /// Bidding window of a sealed auction, seconds (60).
    pub sealed_window_s: f64,
    /// Backstop pools after the insurance fund (2).
    pub backstop_pools: usize,
    /// Capital of each pool, a fraction of all capital (0.005).
    pub pool_capital_fraction: f64,
    /// The most notional the fund takes as the tier-1 backstop in one case, a fraction of its
    /// starting capital (0.05): larger cases spill to the pools.
    pub fund_backstop_fraction: f64,
    /// Backstop-credit providers (2).
    pub credit_providers: usize,
    /// Commitment of each provider, a fraction of all capital (0.0025).
    pub credit_fraction: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            accounts: 1_000,
            seed: 7,
            hour_step_s: 3_600,
            crash_step_s: 300,
            oracle_latency_s: 60,
            exec_delay_s: 120,
            fund_fraction: 0.01,
            liquidators: 4,
            liquidator_capital_fraction: 0.01,
            liquidator_margin: 0.01,
            half_spread: 0.001,
            impact_per_usd: 2e-8,
            underlyings: vec!["BTC".into(), "ETH".into()],
            arrivals: 0.3,
            coin_collateral: 0.25,
            auction: AuctionChoice::Dutch,
            sealed_window_s: 60.0,
            backstop_pools: 2,
            pool_capital_fraction: 0.005,
            fund_backstop_fraction: 0.05,
            credit_providers: 2,
            credit_fraction: 0.0025,
        }
    }
}

impl SimConfig {
    /// Checks the fields.
    pub fn validate(&self) -> Result<(), SimError> {
        let pos = |f: &str, ok: bool, v: String| {
            if ok {
                Ok(())
            } else {
                Err(crate::error::invalid(f, format!("out of range, got {v}")))
            }
        };
        pos(
            "hour_step_s",
            self.hour_step_s >= 60 && self.hour_step_s <= 86_400,
            self.hour_step_s.to_string(),
        )?;
        pos(
            "crash_step_s",
            self.crash_step_s >= 60 && self.crash_step_s <= self.hour_step_s,
            self.crash_step_s.to_string(),
        )?;
        pos(
            "oracle_latency_s",
            (0..=86_400).contains(&self.oracle_latency_s),
            self.oracle_latency_s.to_string(),
        )?;
        pos(
            "exec_delay_s",
            (0..=86_400).contains(&self.exec_delay_s),
            self.exec_delay_s.to_string(),
        )?;
        pos(
            "fund_fraction",
            (0.0..=1.0).contains(&self.fund_fraction),
            self.fund_fraction.to_string(),
        )?;
        pos(
            "liquidators",
            self.liquidators <= 64,
            self.liquidators.to_string(),
        )?;
        pos(
            "liquidator_capital_fraction",
            (0.0..=1.0).contains(&self.liquidator_capital_fraction),
            self.liquidator_capital_fraction.to_string(),
        )?;
        pos(
            "liquidator_margin",
            (0.0..0.5).contains(&self.liquidator_margin),
            self.liquidator_margin.to_string(),
        )?;
        pos(
            "half_spread",
            (0.0..0.05).contains(&self.half_spread),
            self.half_spread.to_string(),
        )?;
        pos(
            "impact_per_usd",
            (0.0..1e-3).contains(&self.impact_per_usd),
            self.impact_per_usd.to_string(),
        )?;
        crate::path::check_underlyings(&self.underlyings)?;
        pos(
            "arrivals",
            (0.0..=1.0).contains(&self.arrivals),
            self.arrivals.to_string(),
        )?;
        pos(
            "coin_collateral",
            (0.0..=1.0).contains(&self.coin_collateral),
            self.coin_collateral.to_string(),
        )?;
        pos(
            "sealed_window_s",
            self.sealed_window_s >= 1.0 && self.sealed_window_s <= 3_600.0,
            self.sealed_window_s.to_string(),
        )?;
        pos(
            "backstop_pools",
            self.backstop_pools <= 16,
            self.backstop_pools.to_string(),
        )?;
        pos(
            "pool_capital_fraction",
            (0.0..=1.0).contains(&self.pool_capital_fraction),
            self.pool_capital_fraction.to_string(),
        )?;
        pos(
            "fund_backstop_fraction",
            self.fund_backstop_fraction >= 0.0 && self.fund_backstop_fraction.is_finite(),
            self.fund_backstop_fraction.to_string(),
        )?;
        pos(
            "credit_providers",
            self.credit_providers <= 16,
            self.credit_providers.to_string(),
        )?;
        pos(
            "credit_fraction",
            (0.0..=1.0).contains(&self.credit_fraction),
            self.credit_fraction.to_string(),
        )
    }

    /// The population's spec.
    pub fn population_spec(&self) -> crate::population::PopulationSpec {
        crate::population::PopulationSpec {
            accounts: self.accounts,
            seed: self.seed,
            underlyings: self.underlyings.len(),
            arrivals: self.arrivals,
            coin_collateral: self.coin_collateral,
        }
    }
}

/// The metrics of one policy on one path.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metrics {
    /// Loss beyond the accounts' own collateral (liquidations and expiry settlements), USD.
    pub bad_debt_usd: f64,
    /// The largest of one account.
    pub bad_debt_max_account_usd: f64,
    /// Insurance fund at the start.
    pub fund_start_usd: f64,
    /// At the end.
    pub fund_end_usd: f64,
    /// Largest fall from a peak.
    pub fund_drawdown_usd: f64,
    /// Socialised loss recorded.
    pub socialised_loss_usd: f64,
    /// Liquidation cases.
    pub liquidations: usize,
    /// Cases that closed the account.
    pub closed_accounts: usize,
    /// Spot notional liquidated.
    pub liquidated_notional_usd: f64,
    /// What liquidations cost traders (discounts, fees, slippage).
    pub penalties_usd: f64,
    /// Cases whose account, left alone, would have recovered (never below zero equity at the
    /// checkpoints after, and above its maintenance margin at the end).
    pub unneeded_liquidations: usize,
    /// Mean over steps of Σ initial margin / Σ spot notional (capital held per unit of
    /// notional; lower is more capital-efficient).
    pub margin_per_notional: f64,
    /// Mean time from the first breach the keeper saw to the case's end, seconds.
    pub breach_to_restored_mean_s: f64,
    /// The longest.
    pub breach_to_restored_max_s: f64,
    /// Top-ups paid in.
    pub topups: usize,
    /// Their total.
    pub topup_usd: f64,
    /// Accounts the margin engine refused (an error per account, counted).
    pub margin_errors: usize,
    /// Steps run.
    pub steps: usize,
    /// Ledger operations.
    pub ledger_ops: u64,
    /// The ledger balanced at the end (every unit sums to zero).
    pub conserved: bool,
    /// Accounts that opened during the run (after its start).
    pub arrivals: usize,
    /// Accounts open at the end (or ever opened).
    pub accounts_opened: usize,
    /// What each liquidation tier did: notional per tier, loss paid per waterfall step.
    pub tiers: TierFlows,
    /// Change of the backstop pools' capital over the run (fees earned less losses on what
    /// they took and hedged), USD.
    pub pools_pnl_usd: f64,
    /// Change of the liquidators' capital over the run, USD.
    pub liquidators_pnl_usd: f64,
    /// Change of the credit providers' capital over the run (premiums less draws), USD.
    pub credit_pnl_usd: f64,
}

/// One account's equity and maintenance margin over time.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountSeries {
    /// Account id.
    pub account: String,
    /// Strategy.
    pub strategy: &'static str,
    /// Its underlyings (`BTC`, `BTC+ETH`).
    pub underlyings: String,
    /// Equity at the sample times.
    pub equity: Vec<f32>,
    /// Maintenance margin at the sample times.
    pub maintenance: Vec<f32>,
}

/// The result of one policy on one path.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyResult {
    /// Label.
    pub label: String,
    /// Metrics.
    pub metrics: Metrics,
    /// Sample times.
    pub times_s: Vec<i64>,
    /// Insurance fund cash at the sample times.
    pub fund: Vec<f64>,
    /// The worst accounts (largest bad debt, then lowest margin ratio).
    pub worst: Vec<AccountSeries>,
}

/// What the step loop reads of a margin (no strings: nothing allocated per account and step).
#[derive(Debug, Clone, Copy)]
struct Summary {
    equity: f64,
    maintenance: f64,
    initial: f64,
    status: Status,
    top_up: f64,
}

struct TraderState {
    holder: ale_liquidation::HolderId,
    /// Opened (paid in and traded); before its arrival an account is empty and not margined.
    active: bool,
    arrive_at_s: i64,
    pending_topup: Option<(i64, f64)>,
    breach_at: Option<i64>,
    next_hedge_s: i64,
    bad_debt: f64,
    min_ratio: f64,
    samples_e: Vec<f32>,
    samples_m: Vec<f32>,
}

fn risk_err(e: impl std::fmt::Display) -> SimError {
    SimError::Risk(e.to_string())
}

fn ts(s: i64) -> Result<Timestamp, SimError> {
    Timestamp::from_unix_seconds(s).ok_or_else(|| crate::error::invalid("time", s.to_string()))
}

/// The step times of a path.
pub fn schedule(path: &MarketPath, cfg: &SimConfig) -> Result<Vec<i64>, SimError> {
    let (start, end) = path.span();
    let mut out = Vec::new();
    let mut t = start;
    while t <= end {
        out.push(t);
        let in_crash = t >= path.crash.0 && t < path.crash.1;
        t += if in_crash {
            cfg.crash_step_s
        } else {
            cfg.hour_step_s
        };
        if out.len() > MAX_STEPS {
            return Err(crate::error::invalid(
                "steps",
                format!("more than {MAX_STEPS}"),
            ));
        }
    }
    Ok(out)
}

fn underlying_asset(path: &MarketPath, u: usize) -> Result<Asset, SimError> {
    Asset::new(&path.underlyings[u].asset)
        .map_err(|e| crate::error::invalid("underlyings", e.to_string()))
}

/// The states of every underlying at `t` (spot as `spot(u)` gives it, IV at `iv_time`).
fn states(
    path: &MarketPath,
    iv_time: i64,
    spot: impl Fn(usize) -> f64,
) -> Result<Vec<UnderlyingState>, SimError> {
    let basis = basis_of_funding(path.funding_8h[path.index_at(iv_time)]);
    (0..path.underlyings.len())
        .map(|u| {
            Ok(UnderlyingState {
                asset: underlying_asset(path, u)?,
                spot: spot(u),
                surface: SurfaceState {
                    iv: path.iv_at(u, iv_time),
                    iv_base: path.underlyings[u].iv_base,
                },
                basis,
            })
        })
        .collect()
}

/// The market the keeper sees at `t` under `trigger`.
fn view_market(
    path: &MarketPath,
    cfg: &SimConfig,
    trigger: Trigger,
    t: i64,
) -> Result<MarketSnapshot, SimError> {
    let seen = (t - cfg.oracle_latency_s).max(path.times_s[0]);
    let st = states(path, seen, |u| match trigger {
        Trigger::Mark => path.spot_at(u, seen),
        Trigger::Twap { window_s } => path.twap(u, seen - window_s, seen, 60),
    })?;
    market_of(ts(t)?, &st)
}

/// The true market at `t`.
pub fn true_market(path: &MarketPath, t: i64) -> Result<MarketSnapshot, SimError> {
    market_of(ts(t)?, &states(path, t, |u| path.spot_at(u, t))?)
}

fn policy(run: &PolicyRun) -> Result<Box<dyn MarginPolicy>, SimError> {
    policy_by_name(&run.policy, run.params_toml.as_deref())
        .map_err(|e| crate::error::invalid("policy", format!("{}: {e}", run.label)))
}

/// Whether `policy` margins dated futures (pm, as Derive's PMRM_2, does not: the venue then
/// lists none and books use the perpetual in their place).
fn margins_futures(policy: &dyn MarginPolicy, market: &MarketSnapshot) -> bool {
    let Some(u) = market.underlyings().next() else {
        return false;
    };
    let Some(e) = future_expiries(market.time()).into_iter().next() else {
        return false;
    };
    let Ok(f) = crate::venue::future(u.name().as_str(), e) else {
        return false;
    };
    let Ok(id) = ale_core::AccountId::new("probe") else {
        return false;
    };
    let mut probe = ale_core::Account::new(id);
    probe.add_position(ale_core::Position {
        instrument: f,
        size: 1.0,
        entry_price: None,
    });
    ale_risk::margin_standalone(&policy, market, &probe).is_ok()
}

/// Pays `trader`'s capital in: USDC, and its coin share in the coin of its main underlying.
fn pay_in(
    books: &mut Books,
    trader: &Trader,
    holder: ale_liquidation::HolderId,
    path: &MarketPath,
    t: i64,
) -> Result<(), SimError> {
    let coin_usd = trader.capital_usd * trader.coin_share;
    books.deposit(
        holder,
        money(trader.capital_usd - coin_usd, Rounding::Down)?,
    )?;
    if coin_usd > 0.0 {
        let u = trader.underlyings[0];
        let a = underlying_asset(path, u)?;
        let unit = books.coin_unit(&a);
        let coins = money(coin_usd / path.spot_at(u, t), Rounding::Down)?;
        let mut legs = Vec::new();
        Books::leg(&mut legs, books.external, holder, unit, coins);
        books.apply(legs)?;
    }
    Ok(())
}

/// What opening a strategy needs of the run: the policy in force, the path, whether the venue
/// lists dated futures under that policy.
struct Opening<'a> {
    policy: &'a dyn MarginPolicy,
    path: &'a MarketPath,
    futures: bool,
}

/// Opens `trader`'s strategy on `books` at `market`, sized so that its initial margin under
/// the policy is its utilisation of `equity` (long premium counts as used capital), its gross
/// notional at most [`MAX_LEVERAGE`] × equity. With several underlyings each book has the same
/// notional as the main one.
fn open_strategy(
    books: &mut Books,
    run: &Opening<'_>,
    trader: &Trader,
    holder: ale_liquidation::HolderId,
    market: &MarketSnapshot,
    equity: f64,
) -> Result<(), SimError> {
    let (policy, path, futures) = (run.policy, run.path, run.futures);
    let now = market.time();
    let t = now.unix_seconds();
    let main_spot = path.spot_at(trader.underlyings[0], t);
    let mut legs: Vec<(Instrument, f64)> = Vec::new();
    for &u in &trader.underlyings {
        let spot = path.spot_at(u, t);
        let scale = main_spot / spot;
        for (i, size) in unit_legs(trader, &path.underlyings[u].asset, now, spot, futures)? {
            legs.push((i, size * scale));
        }
    }
    if legs.is_empty() {
        return Ok(());
    }
    let mut unit = ale_core::Account::new(trader.id.clone());
    let mut debit = 0.0;
    let mut gross = 0.0;
    let mut marks = Vec::with_capacity(legs.len());
    for (instrument, size) in &legs {
        let (mark, _) = mark_delta(instrument, market)?;
        marks.push(mark);
        let spot = market
            .underlying(instrument.underlying())
            .map_err(risk_err)?
            .spot();
        gross += size.abs() * spot;
        if matches!(instrument, Instrument::Option { .. }) {
            debit += size * mark;
        }
        unit.add_position(ale_core::Position {
            instrument: instrument.clone(),
            size: *size,
            entry_price: (!matches!(instrument, Instrument::Option { .. })).then_some(mark),
        });
    }
    let im = ale_risk::margin_standalone(&policy, market, &unit)
        .map_err(risk_err)?
        .initial;
    let budget = trader.utilisation * equity;
    let per_unit = im
        .max(debit.max(0.0) / trader.utilisation)
        .max(1e-4 * main_spot);
    let k = (budget / per_unit).min(MAX_LEVERAGE * equity / gross.max(1e-9));
    if !(k.is_finite() && k > 0.0) {
        return Ok(());
    }
    for ((instrument, size), mark) in legs.iter().zip(marks) {
        // Lots of 0.001 units, as a venue's.
        let q = (size * k * 1_000.0).trunc() / 1_000.0;
        if q != 0.0 {
            // A leg the account cannot pay for is not opened (nor the rest).
            match books.trade(holder, instrument, q, mark, 0.0) {
                Err(SimError::Ledger(why)) if why.contains("cannot pay") => break,
                other => other?,
            }
        }
    }
    Ok(())
}

/// Closes what `holder` still holds at the marks (a roll). A loss it cannot pay leaves the
/// position as it is (false).
fn close_at_marks(
    books: &mut Books,
    holder: ale_liquidation::HolderId,
    market: &MarketSnapshot,
) -> Result<bool, SimError> {
    for x in books.holdings(holder) {
        if x.qty.is_zero() {
            continue;
        }
        let (mark, _) = mark_delta(&x.instrument, market)?;
        match books.trade(holder, &x.instrument, -x.qty.to_f64(), mark, 0.0) {
            Err(SimError::Ledger(why)) if why.contains("cannot pay") => return Ok(false),
            other => other?,
        }
    }
    Ok(true)
}

/// A market maker's delta hedge: per underlying, the perpetual brings its delta to zero.
fn hedge(
    books: &mut Books,
    holder: ale_liquidation::HolderId,
    market: &MarketSnapshot,
) -> Result<(), SimError> {
    let held = books.holdings(holder);
    for u in market.underlyings() {
        let p = perp(u.name().as_str())?;
        let mut delta = 0.0;
        let mut perp_qty = 0.0;
        let mut any = false;
        for x in held
            .iter()
            .filter(|x| x.instrument.underlying() == u.name())
        {
            any = true;
            if x.instrument == p {
                perp_qty = x.qty.to_f64();
                continue;
            }
            let (_, d) = mark_delta(&x.instrument, market)?;
            delta += x.qty.to_f64() * d;
        }
        if !any {
            continue;
        }
        let trade = ((-delta - perp_qty) * 1_000.0).round() / 1_000.0;
        if trade != 0.0 {
            // A hedge that would realise a loss the account cannot pay is not done (the keeper
            // will see the account as it is).
            match books.trade(holder, &p, trade, u.perp_mark(), 0.0) {
                Err(SimError::Ledger(why)) if why.contains("cannot pay") => {}
                other => other?,
            }
        }
    }
    Ok(())
}

fn liquidation_params(cfg: &SimConfig, stress: f64) -> LiquidationParams {
    let stress = stress.max(0.5);
    LiquidationParams {
        depth: DepthModel::Linear {
            half_spread: (cfg.half_spread * stress).min(0.04),
            impact_per_notional: cfg.impact_per_usd * stress * stress,
        },
        auction_kind: match cfg.auction {
            AuctionChoice::Dutch => AuctionKind::Dutch,
            AuctionChoice::SealedFirst => AuctionKind::Sealed {
                window_s: cfg.sealed_window_s,
                pricing: SealedPricing::FirstPrice,
            },
            AuctionChoice::SealedSecond => AuctionKind::Sealed {
                window_s: cfg.sealed_window_s,
                pricing: SealedPricing::SecondPrice,
            },
        },
        // Backtests need no liquidation certificates.
        certificate_gate: CertificateGate::off(),
        ..LiquidationParams::default()
    }
}

fn bidders(cfg: &SimConfig, iv: f64) -> Vec<Bidder> {
    // A liquidator pays at most 1 − (hedge cost + its margin): the hedge over an hour at two
    // standard deviations of the implied move.
    let hedge_cost = 2.0 * iv * (1.0f64 / 8_760.0).sqrt();
    (0..cfg.liquidators)
        .map(|i| Bidder {
            name: format!("liquidator-{i}"),
            owner: format!("liquidator-owner-{i}"),
            max_price_fraction: (1.0 - hedge_cost - cfg.liquidator_margin).clamp(0.5, 0.99),
            insolvent_premium_fraction: 0.1,
            max_share: 1.0,
        })
        .collect()
}

fn pool_name(i: usize) -> String {
    format!("pool-{i}")
}

fn provider_name(i: usize) -> String {
    format!("credit-{i}")
}

/// The venue behind the liquidations at the moment of the IV levels `ivs` (the book thins and
/// liquidators ask more as implied vol rises above its calm level).
fn venue_at(
    cfg: &SimConfig,
    path: &MarketPath,
    t: i64,
    fund_start: f64,
) -> Result<Venue, SimError> {
    let mut stress: f64 = 0.0;
    let mut iv_max: f64 = 0.0;
    for (u, up) in path.underlyings.iter().enumerate() {
        let iv = path.iv_at(u, t);
        stress = stress.max(iv / up.iv_base);
        iv_max = iv_max.max(iv);
    }
    Ok(Venue {
        params: liquidation_params(cfg, stress),
        bidders: bidders(cfg, iv_max),
        pools: (0..cfg.backstop_pools)
            .map(|i| Pool {
                name: pool_name(i),
                max_notional: None,
            })
            .collect(),
        providers: (0..cfg.credit_providers).map(provider_name).collect(),
        fund_max_notional: if cfg.backstop_pools > 0 {
            Some(money(
                cfg.fund_backstop_fraction * fund_start,
                Rounding::Down,
            )?)
        } else {
            None
        },
        hedge_slippage: cfg.half_spread,
    })
}

fn label_of(path: &MarketPath, trader: &Trader) -> String {
    trader
        .underlyings
        .iter()
        .map(|u| path.underlyings[*u].asset.as_str())
        .collect::<Vec<_>>()
        .join("+")
}

/// Runs one policy over one path with one population. `progress` is called after each step.
pub fn run_policy(
    path: &MarketPath,
    cal: &Calibration,
    cfg: &SimConfig,
    traders: &[Trader],
    run: &PolicyRun,
    progress: &(dyn Fn() + Sync),
) -> Result<PolicyResult, SimError> {
    let _ = cal;
    cfg.validate()?;
    let pol = policy(run)?;
    let steps = schedule(path, cfg)?;
    let t0 = steps[0];
    let (_, t_end) = path.span();
    let nu = path.underlyings.len();
    if let Some(tr) = traders
        .iter()
        .find(|tr| tr.underlyings.iter().any(|u| *u >= nu))
    {
        return Err(crate::error::invalid(
            "underlyings",
            format!("{} trades an underlying the path does not have", tr.id),
        ));
    }
    let assets: Vec<Asset> = (0..nu)
        .map(|u| underlying_asset(path, u))
        .collect::<Result<_, _>>()?;
    let mut books = Books::new();
    let set_coin_prices = |books: &mut Books, at: i64| {
        for (u, a) in assets.iter().enumerate() {
            books.set_coin_price(a, path.spot_at(u, at));
        }
    };
    set_coin_prices(&mut books, t0);
    let m0 = true_market(path, t0)?;
    let futures = margins_futures(&*pol, &m0);
    let whole_account = pol.whole_account().is_some();
    let opening = Opening {
        policy: &*pol,
        path,
        futures,
    };
    // The population: accounts present at the start open now; the others at their arrival.
    let mut states: Vec<TraderState> = Vec::with_capacity(traders.len());
    let mut total_capital = 0.0;
    let mut metrics = Metrics::default();
    for tr in traders {
        let h = books.trader(&tr.id);
        total_capital += tr.capital_usd;
        let arrive_at_s = match tr.arrival {
            Some(f) => t0 + ((t_end - t0) as f64 * f) as i64,
            None => t0,
        };
        let mut st = TraderState {
            holder: h,
            active: false,
            arrive_at_s,
            pending_topup: None,
            breach_at: None,
            next_hedge_s: t0 + tr.hedge_interval_s,
            bad_debt: 0.0,
            min_ratio: f64::INFINITY,
            samples_e: Vec::new(),
            samples_m: Vec::new(),
        };
        if arrive_at_s <= t0 {
            pay_in(&mut books, tr, h, path, t0)?;
            let equity = books.value(h, &m0)?;
            open_strategy(&mut books, &opening, tr, h, &m0, equity)?;
            if tr.strategy == Strategy::MarketMaker {
                hedge(&mut books, h, &m0)?;
            }
            st.active = true;
            metrics.accounts_opened += 1;
        }
        states.push(st);
    }
    // The venue's backstops, sized on the whole population's capital.
    let fund_start = money(cfg.fund_fraction * total_capital, Rounding::Down)?;
    let fund = books.fund;
    books.deposit(fund, fund_start)?;
    let mut liquidator_holders = Vec::new();
    for i in 0..cfg.liquidators {
        let h = books.holder(&Holder::Liquidator(format!("liquidator-{i}")));
        books.deposit(
            h,
            money(
                cfg.liquidator_capital_fraction * total_capital,
                Rounding::Down,
            )?,
        )?;
        liquidator_holders.push(h);
    }
    let mut pool_holders = Vec::new();
    for i in 0..cfg.backstop_pools {
        let h = books.holder(&Holder::BackstopPool(pool_name(i)));
        books.deposit(
            h,
            money(cfg.pool_capital_fraction * total_capital, Rounding::Down)?,
        )?;
        pool_holders.push(h);
    }
    let mut provider_holders = Vec::new();
    for i in 0..cfg.credit_providers {
        let h = books.holder(&Holder::CreditProvider(provider_name(i)));
        books.deposit(
            h,
            money(cfg.credit_fraction * total_capital, Rounding::Down)?,
        )?;
        provider_holders.push(h);
    }
    let cash_sum = |books: &Books, hs: &[ale_liquidation::HolderId]| -> f64 {
        hs.iter().map(|h| books.money_of(*h)).sum()
    };
    let pools_start = cash_sum(&books, &pool_holders);
    let liquidators_start = cash_sum(&books, &liquidator_holders);
    let providers_start = cash_sum(&books, &provider_holders);
    // Every account is in the margin engine from the start (an account that has not arrived
    // is empty: no margin, not counted), so that account i is row i.
    let mut book = Book::new();
    for (tr, st) in traders.iter().zip(&states) {
        book.upsert_account(&books.account(&tr.id, st.holder))
            .map_err(risk_err)?;
    }
    // One engine for the run: accounts re-margined alone when they change, every account when
    // the market moves (no copy of the book per step).
    let mut engine = RiskEngine::new(&*pol, view_market(path, cfg, run.trigger, t0)?, book);
    engine.remargin_all();
    let mut engine_time = t0;
    let mut summary: Vec<Option<Summary>> = Vec::with_capacity(traders.len());
    metrics.fund_start_usd = fund_start.to_f64();
    let sample_every = steps.len().div_ceil(SERIES_POINTS).max(1);
    let mut sample_times = Vec::new();
    let mut fund_series = Vec::new();
    let mut fund_peak = fund_start.to_f64();
    let mut shadows: Vec<(ale_core::Account, usize, i64)> = Vec::new();
    let mut durations: Vec<f64> = Vec::new();
    let mut im_sum = 0.0;
    let mut notional_sum = 0.0;
    let mut prev_t = t0;
    // The market as it moves during a liquidation case.
    let market_at = |at: i64| true_market(path, at);
    let moves = liq::Moves {
        times_s: &path.times_s,
        at: &market_at,
    };
    // Book underlying index → path underlying index (for notional).
    let mut book_to_path: Vec<usize> = Vec::new();
    for (step, &t) in steps.iter().enumerate() {
        let mut dirty: Vec<usize> = Vec::new();
        set_coin_prices(&mut books, t);
        let mut true_m: Option<MarketSnapshot> = None;
        let true_market_now = |true_m: &mut Option<MarketSnapshot>| -> Result<(), SimError> {
            if true_m.is_none() {
                *true_m = Some(true_market(path, t)?);
            }
            Ok(())
        };
        // 0. Arrivals.
        for (i, tr) in traders.iter().enumerate() {
            let st = &mut states[i];
            if st.active || st.arrive_at_s > t {
                continue;
            }
            true_market_now(&mut true_m)?;
            let tm = true_m
                .as_ref()
                .ok_or_else(|| SimError::Risk("no market".into()))?;
            pay_in(&mut books, tr, st.holder, path, t)?;
            let equity = books.value(st.holder, tm)?;
            open_strategy(&mut books, &opening, tr, st.holder, tm, equity)?;
            if tr.strategy == Strategy::MarketMaker {
                hedge(&mut books, st.holder, tm)?;
            }
            st.active = true;
            st.next_hedge_s = t + tr.hedge_interval_s;
            metrics.arrivals += 1;
            metrics.accounts_opened += 1;
            dirty.push(i);
        }
        // 1. Expiries since the last step: settle, then roll.
        let expired = listed_expiries(ts(prev_t)?)
            .into_iter()
            .map(|e| e.instant().unix_seconds())
            .any(|x| x > prev_t && x <= t);
        if expired || step == 0 {
            for (i, tr) in traders.iter().enumerate() {
                if !states[i].active {
                    continue;
                }
                let h = states[i].holder;
                let held = books.holdings(h);
                let has_expired = held.iter().any(|x| {
                    x.instrument
                        .expiry()
                        .is_some_and(|e| e.instant().unix_seconds() <= t)
                        && !(x.qty.is_zero() && x.cost.is_zero())
                });
                if !has_expired {
                    continue;
                }
                let short = books
                    .settle_expired(h, t, |a, at| path.spot_of(a.as_str(), at).unwrap_or(0.0))?;
                if short.raw() > 0 {
                    metrics.bad_debt_usd += short.to_f64();
                    states[i].bad_debt += short.to_f64();
                }
                let dated_left = books
                    .holdings(h)
                    .iter()
                    .any(|x| x.instrument.expiry().is_some() && !x.qty.is_zero());
                true_market_now(&mut true_m)?;
                let tm = true_m
                    .as_ref()
                    .ok_or_else(|| SimError::Risk("no market".into()))?;
                if tr.rolls() && !dated_left && books.value(h, tm)? > 0.0 {
                    // A roll: what is left is closed at the marks, the strategy re-opened.
                    if close_at_marks(&mut books, h, tm)? {
                        let equity = books.value(h, tm)?;
                        if equity > 0.0 {
                            open_strategy(&mut books, &opening, tr, h, tm, equity)?;
                            if tr.strategy == Strategy::MarketMaker {
                                hedge(&mut books, h, tm)?;
                            }
                        }
                    }
                }
                dirty.push(i);
            }
        }
        // 2. Funding every 8 hours, on every perpetual.
        if t / 28_800 > prev_t / 28_800 {
            let rate = path.funding_8h[path.index_at(t)];
            for (i, st) in states.iter().enumerate() {
                if !st.active {
                    continue;
                }
                let mut pay = 0.0;
                for x in books.holdings(st.holder) {
                    if let Instrument::Perpetual { underlying, .. } = &x.instrument {
                        let spot = path.spot_of(underlying.as_str(), t).unwrap_or(0.0);
                        pay += x.qty.to_f64() * spot * rate;
                    }
                }
                if pay > 0.0 {
                    let want = money(pay, Rounding::Up)?;
                    books.raise_cash(st.holder, want)?;
                    let own = books
                        .cash_of(st.holder)
                        .max(ale_core::Amount::ZERO)
                        .min(want);
                    let mut legs = Vec::new();
                    Books::leg(&mut legs, st.holder, books.external, books.cash, own);
                    books.apply(legs)?;
                } else if pay < 0.0 {
                    books.deposit(st.holder, money(-pay, Rounding::Down)?)?;
                }
                if pay != 0.0 {
                    dirty.push(i);
                }
            }
        }
        // 3. Top-ups due.
        for (i, st) in states.iter_mut().enumerate() {
            if let Some((due, amount)) = st.pending_topup {
                if due <= t {
                    st.pending_topup = None;
                    books.deposit(st.holder, money(amount, Rounding::Down)?)?;
                    metrics.topups += 1;
                    metrics.topup_usd += amount;
                    dirty.push(i);
                }
            }
        }
        // 4 (before margining, so the keeper sees the hedge). Market makers re-hedge.
        for (i, tr) in traders.iter().enumerate() {
            if tr.strategy == Strategy::MarketMaker
                && states[i].active
                && states[i].next_hedge_s <= t
            {
                states[i].next_hedge_s = t + tr.hedge_interval_s;
                true_market_now(&mut true_m)?;
                let tm = true_m
                    .as_ref()
                    .ok_or_else(|| SimError::Risk("no market".into()))?;
                hedge(&mut books, states[i].holder, tm)?;
                dirty.push(i);
            }
        }
        dirty.sort_unstable();
        dirty.dedup();
        // 5. The keeper margins every account on its view. Time moves the engine at most hourly
        // (within the hour theta is negligible against a crash); the market every step.
        let view = view_market(path, cfg, run.trigger, t)?;
        if t - engine_time >= 3_600 || whole_account {
            // A new hour: one full re-margin on the new market at the new time (cheaper than
            // moving the time and then the market, which re-margins twice). The accounts that
            // changed go into the book first (their new instruments listed once, in the one
            // table build). Once a day the book is rebuilt from the accounts alone, so that
            // instruments nobody holds any more (expired, rolled out of) leave the tables.
            // A whole-account policy (pm) recomputes a whole account for each underlying or
            // coin price that moves: for it one full re-margin per step is less work.
            let compact = t / 86_400 != engine_time / 86_400;
            let changed: Vec<ale_core::Account> = dirty
                .iter()
                .map(|&i| books.account(&traders[i].id, states[i].holder))
                .collect();
            engine
                .reset(view, |book| {
                    if compact {
                        let mut fresh = Book::new();
                        for a in book.accounts() {
                            fresh.upsert_account(&book.to_account(a))?;
                        }
                        *book = fresh;
                    }
                    for a in &changed {
                        book.upsert_account(a)?;
                    }
                    Ok(())
                })
                .map_err(risk_err)?;
            engine_time = t;
            book_to_path.clear();
        } else {
            for &i in &dirty {
                engine
                    .upsert_account(&books.account(&traders[i].id, states[i].holder))
                    .map_err(risk_err)?;
            }
            for (a, price) in view.collateral_prices() {
                if assets.contains(a) {
                    engine.update_collateral(a.clone(), price.clone());
                }
            }
            for u in view.underlyings() {
                engine.update_underlying(u.clone()).map_err(risk_err)?;
            }
        }
        if book_to_path.len() != engine.book().underlyings().len() {
            book_to_path = engine
                .book()
                .underlyings()
                .iter()
                .map(|a| assets.iter().position(|x| x == a).unwrap_or(0))
                .collect();
        }
        summary.clear();
        summary.extend(engine.margins().iter().map(|m| {
            m.as_ref().ok().map(|m| Summary {
                equity: m.equity,
                maintenance: m.maintenance,
                initial: m.initial,
                status: m.status(),
                top_up: m.top_up(),
            })
        }));
        let margins = &summary;
        // 6. Liquidations and margin calls.
        let te = t + cfg.exec_delay_s;
        let mut exec: Option<(MarketSnapshot, Venue)> = None;
        let sample = step % sample_every == 0 || step + 1 == steps.len();
        let mut changed: Vec<usize> = Vec::new();
        for (i, tr) in traders.iter().enumerate() {
            if !states[i].active {
                if sample {
                    states[i].samples_e.push(0.0);
                    states[i].samples_m.push(0.0);
                }
                continue;
            }
            let m = match &margins[i] {
                Some(m) => m,
                None => {
                    metrics.margin_errors += 1;
                    continue;
                }
            };
            im_sum += m.initial;
            let st = &mut states[i];
            if m.maintenance > 0.0 {
                st.min_ratio = st.min_ratio.min(m.equity / m.maintenance);
            }
            if sample {
                st.samples_e.push(m.equity as f32);
                st.samples_m.push(m.maintenance as f32);
            }
            match m.status {
                Status::Healthy => st.breach_at = None,
                Status::MarginCall | Status::Liquidatable => {
                    if m.status == Status::Liquidatable {
                        st.breach_at.get_or_insert(t);
                        if exec.is_none() {
                            set_coin_prices(&mut books, te);
                            exec = Some((
                                true_market(path, te)?,
                                venue_at(cfg, path, te, fund_start.to_f64())?,
                            ));
                        }
                        let (em, venue) = exec
                            .as_ref()
                            .ok_or_else(|| SimError::Risk("no market".into()))?;
                        let shadow = books.account(&tr.id, st.holder);
                        let r = liq::liquidate(
                            &mut books,
                            &tr.id,
                            policy(run)?,
                            em,
                            venue,
                            ts(te)?,
                            Some(&moves),
                        )?;
                        if r.flagged {
                            metrics.liquidations += 1;
                            metrics.closed_accounts += usize::from(r.closed);
                            metrics.liquidated_notional_usd += r.notional_usd;
                            metrics.penalties_usd += r.penalty_usd;
                            metrics.bad_debt_usd += r.bad_debt_usd;
                            metrics.tiers.add(&r.tiers);
                            st.bad_debt += r.bad_debt_usd;
                            if let Some(b) = st.breach_at.take() {
                                durations.push((r.end_s - b) as f64);
                            }
                            shadows.push((shadow, i, te));
                            changed.push(i);
                            continue;
                        }
                    }
                    if st.pending_topup.is_none() {
                        let u = uniform_at(cfg.seed, STREAM_DECISION + i as u64, (t / 60) as u64);
                        if u < tr.topup_prob {
                            st.pending_topup =
                                Some((t + tr.topup_delay_s, (m.top_up * 1.2).max(1.0)));
                        }
                    }
                }
            }
        }
        for &i in &changed {
            engine
                .upsert_account(&books.account(&traders[i].id, states[i].holder))
                .map_err(risk_err)?;
        }
        let spots: Vec<f64> = (0..nu).map(|u| path.spot_at(u, t)).collect();
        for i in 0..traders.len() {
            let a = engine.book().account(i);
            for span in &a.spans {
                let spot = spots[book_to_path.get(span.underlying).copied().unwrap_or(0)];
                for x in &a.positions[span.start as usize..span.end as usize] {
                    notional_sum += x.size.abs() * spot;
                }
            }
        }
        let fund_now = books.cash_of(fund).to_f64();
        fund_peak = fund_peak.max(fund_now);
        metrics.fund_drawdown_usd = metrics.fund_drawdown_usd.max(fund_peak - fund_now);
        if sample {
            sample_times.push(t);
            fund_series.push(fund_now);
        }
        prev_t = t;
        progress();
    }
    metrics.steps = steps.len();
    metrics.margin_per_notional = if notional_sum > 0.0 {
        im_sum / notional_sum
    } else {
        0.0
    };
    metrics.fund_end_usd = books.cash_of(fund).to_f64();
    let socialised = -books.cash_of(books.socialised).to_f64();
    metrics.socialised_loss_usd = if socialised > 0.0 { socialised } else { 0.0 };
    metrics.bad_debt_max_account_usd = states.iter().map(|s| s.bad_debt).fold(0.0, f64::max);
    if !durations.is_empty() {
        metrics.breach_to_restored_mean_s = durations.iter().sum::<f64>() / durations.len() as f64;
        metrics.breach_to_restored_max_s = durations.iter().copied().fold(0.0, f64::max);
    }
    set_coin_prices(&mut books, t_end);
    metrics.pools_pnl_usd = cash_sum(&books, &pool_holders) - pools_start;
    metrics.liquidators_pnl_usd = cash_sum(&books, &liquidator_holders) - liquidators_start;
    metrics.credit_pnl_usd = cash_sum(&books, &provider_holders) - providers_start;
    metrics.unneeded_liquidations = unneeded(path, &*pol, &shadows)?;
    metrics.ledger_ops = books.ops();
    metrics.conserved = books.audit().is_ok();
    books.audit()?;
    // The worst accounts: largest bad debt, then lowest margin ratio.
    let mut order: Vec<usize> = (0..traders.len()).collect();
    order.sort_by(|&a, &b| {
        states[b]
            .bad_debt
            .total_cmp(&states[a].bad_debt)
            .then(states[a].min_ratio.total_cmp(&states[b].min_ratio))
            .then(a.cmp(&b))
    });
    let worst = order
        .into_iter()
        .take(3)
        .map(|i| AccountSeries {
            account: traders[i].id.to_string(),
            strategy: traders[i].strategy.name(),
            underlyings: label_of(path, &traders[i]),
            equity: states[i].samples_e.clone(),
            maintenance: states[i].samples_m.clone(),
        })
        .collect();
    Ok(PolicyResult {
        label: run.label.clone(),
        metrics,
        times_s: sample_times,
        fund: fund_series,
        worst,
    })
}

/// Counts the liquidated accounts that, left alone (no top-up), would have recovered: at every
/// 6-hour checkpoint after their liquidation their equity stayed ≥ 0 (options and futures
/// settling at expiry), and at the end it was ≥ their maintenance margin.
fn unneeded(
    path: &MarketPath,
    policy: &dyn MarginPolicy,
    shadows: &[(ale_core::Account, usize, i64)],
) -> Result<usize, SimError> {
    if shadows.is_empty() {
        return Ok(0);
    }
    let (_, end) = path.span();
    let first = shadows.iter().map(|s| s.2).min().unwrap_or(end);
    let mut alive: Vec<bool> = vec![true; shadows.len()];
    let mut books = Books::new();
    let assets: Vec<Asset> = (0..path.underlyings.len())
        .map(|u| underlying_asset(path, u))
        .collect::<Result<_, _>>()?;
    let set_prices = |books: &mut Books, at: i64| {
        for (u, a) in assets.iter().enumerate() {
            books.set_coin_price(a, path.spot_at(u, at));
        }
    };
    set_prices(&mut books, first);
    let settle = |a: &Asset, at: i64| path.spot_of(a.as_str(), at).unwrap_or(0.0);
    let mut holders = Vec::new();
    for (k, (acct, _, _)) in shadows.iter().enumerate() {
        let id = ale_core::AccountId::new(&format!("shadow-{k}"))
            .map_err(|e| crate::error::invalid("shadow", e))?;
        let h = books.trader(&id);
        for (a, c) in &acct.collateral {
            let unit = books.coin_unit(a);
            let mut legs = Vec::new();
            Books::leg(&mut legs, books.external, h, unit, *c);
            books.apply(legs)?;
        }
        for p in &acct.positions {
            let price = p.entry_price.unwrap_or(0.0);
            // Put on at zero premium: only the change of value from here on matters, and the
            // cash already held stands for what was paid.
            books.trade(h, &p.instrument, p.size, price, 0.0)?;
        }
        holders.push((id, h));
    }
    let mut t = first;
    while t <= end {
        set_prices(&mut books, t);
        let m = true_market(path, t)?;
        let mut marks = std::collections::BTreeMap::new();
        for (k, (_, h)) in holders.iter().enumerate() {
            if !alive[k] || shadows[k].2 > t {
                continue;
            }
            books.settle_expired(*h, t, settle)?;
            if books.value_cached(*h, &m, &mut marks)? < 0.0 {
                alive[k] = false;
            }
        }
        t += 6 * 3_600;
    }
    set_prices(&mut books, end);
    let m = true_market(path, end)?;
    let mut count = 0;
    for (k, (id, h)) in holders.iter().enumerate() {
        if !alive[k] {
            continue;
        }
        books.settle_expired(*h, end, settle)?;
        let acct = books.account(id, *h);
        if acct.positions.is_empty() {
            count += usize::from(books.value(*h, &m)? >= 0.0);
            continue;
        }
        if let Ok(mm) = ale_risk::margin_standalone(&policy, &m, &acct) {
            count += usize::from(mm.equity >= mm.maintenance);
        }
    }
    Ok(count)
}
