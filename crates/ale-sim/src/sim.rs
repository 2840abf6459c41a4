//! One backtest: a market path, the population, one policy, the keeper pipeline with its delays,
//! the real margin engine (`ale-risk`) and the real liquidation engine (`ale-liquidation`).
//!
//! The step loop (steps of `hour_step_s`, `crash_step_s` inside the crash window):
//! 1. options that expired since the last step settle at the path's spot at 08:00 UTC (what a
//!    short cannot pay is bad debt: the fund pays it, then it is socialised); option strategies
//!    roll into the next tenor at their utilisation of what equity is left;
//! 2. funding every 8 h on perpetual positions (longs pay shorts when the rate is positive);
//! 3. top-ups whose delay has passed arrive;
//! 4. the keeper margins every account on its view of the market: the oracle's last update
//!    (`oracle_latency_s` ago), or for a TWAP trigger the TWAP of the last `twap_window_s`;
//! 5. a liquidatable account becomes a liquidation case at `exec_delay_s` later, on the true
//!    market of that moment (the engine re-checks it there: an account that recovered is not
//!    liquidated); margin-called accounts decide to top up (their own probability and delay,
//!    drawn by account and time so that every policy sees the same draws);
//! 6. market makers re-hedge their delta when their interval has passed.
//!
//! Invariant: every unit of money is on the ledger (External included) or in the recorded
//! socialised loss: [`Books::audit`] at the end of every run.

use ale_core::{Instrument, Rounding, Timestamp};
use ale_liquidation::{Bidder, DepthModel, Holder, LiquidationParams};
use ale_market::MarketSnapshot;
use ale_risk::{policy_by_name, Book, MarginPolicy, RiskEngine, Status};

use crate::books::{money, Books};
use crate::calibrate::Calibration;
use crate::error::SimError;
use crate::liq;
use crate::path::MarketPath;
use crate::population::{unit_legs, Strategy, Trader};
use crate::rng::{uniform_at, STREAM_DECISION};
use crate::venue::{listed_expiries, mark_delta, market, perp, SurfaceState};

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
        )
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
}

/// One account's equity and maintenance margin over time.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountSeries {
    /// Account id.
    pub account: String,
    /// Strategy.
    pub strategy: &'static str,
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

fn state_at(path: &MarketPath, cal: &Calibration, t: i64) -> SurfaceState {
    SurfaceState {
        iv: path.iv_at(t),
        iv_base: cal.iv_base,
    }
}

/// The market the keeper sees at `t` under `trigger`.
fn view_market(
    path: &MarketPath,
    cal: &Calibration,
    cfg: &SimConfig,
    trigger: Trigger,
    t: i64,
) -> Result<MarketSnapshot, SimError> {
    let seen = (t - cfg.oracle_latency_s).max(path.times_s[0]);
    let spot = match trigger {
        Trigger::Mark => path.spot_at(seen),
        Trigger::Twap { window_s } => path.twap(seen - window_s, seen, 60),
    };
    market(ts(t)?, spot, &state_at(path, cal, seen))
}

/// The true market at `t`.
pub fn true_market(
    path: &MarketPath,
    cal: &Calibration,
    t: i64,
) -> Result<MarketSnapshot, SimError> {
    market(ts(t)?, path.spot_at(t), &state_at(path, cal, t))
}

fn policy(run: &PolicyRun) -> Result<Box<dyn MarginPolicy>, SimError> {
    policy_by_name(&run.policy, run.params_toml.as_deref())
        .map_err(|e| crate::error::invalid("policy", format!("{}: {e}", run.label)))
}

/// Opens `trader`'s strategy on `books` at `market`, sized so that its initial margin under
/// `policy` is its utilisation of `equity` (long premium counts as used capital).
fn open_strategy(
    books: &mut Books,
    policy: &dyn MarginPolicy,
    trader: &Trader,
    holder: ale_liquidation::HolderId,
    market: &MarketSnapshot,
    equity: f64,
) -> Result<(), SimError> {
    let now = market.time();
    let spot = market.underlyings().next().map_or(0.0, |u| u.spot());
    let legs = unit_legs(trader, now, spot)?;
    let mut unit = ale_core::Account::new(trader.id.clone());
    let mut debit = 0.0;
    for (instrument, size) in &legs {
        let (mark, _) = mark_delta(instrument, market)?;
        if matches!(instrument, Instrument::Option { .. }) {
            debit += size * mark;
        }
        unit.add_position(ale_core::Position {
            instrument: instrument.clone(),
            size: *size,
            entry_price: matches!(instrument, Instrument::Perpetual { .. }).then_some(spot),
        });
    }
    let im = ale_risk::margin_standalone(&policy, market, &unit)
        .map_err(risk_err)?
        .initial;
    let budget = trader.utilisation * equity;
    let per_unit = im.max(debit.max(0.0) / trader.utilisation).max(1e-4 * spot);
    let k = budget / per_unit;
    if !(k.is_finite() && k > 0.0) {
        return Ok(());
    }
    // Round to 0.001 BTC, as a venue's lot size.
    let k = (k * 1_000.0).floor() / 1_000.0;
    for (instrument, size) in &legs {
        let (mark, _) = mark_delta(instrument, market)?;
        books.trade(holder, instrument, size * k, mark, 0.0)?;
    }
    Ok(())
}

fn hedge(
    books: &mut Books,
    holder: ale_liquidation::HolderId,
    market: &MarketSnapshot,
) -> Result<(), SimError> {
    let p = perp();
    let mut delta = 0.0;
    let mut perp_qty = 0.0;
    for x in books.holdings(holder) {
        if x.instrument == p {
            perp_qty = x.qty.to_f64();
            continue;
        }
        let (_, d) = mark_delta(&x.instrument, market)?;
        delta += x.qty.to_f64() * d;
    }
    let trade = ((-delta - perp_qty) * 1_000.0).round() / 1_000.0;
    if trade != 0.0 {
        let spot = market.underlyings().next().map_or(0.0, |u| u.spot());
        // A hedge that would realise a loss the account cannot pay is not done (the keeper
        // will see the account as it is).
        match books.trade(holder, &p, trade, spot, 0.0) {
            Err(SimError::Ledger(why)) if why.contains("cannot pay") => {}
            other => other?,
        }
    }
    Ok(())
}

fn liquidation_params(cfg: &SimConfig, iv: f64, iv_base: f64) -> LiquidationParams {
    let stress = (iv / iv_base).max(0.5);
    LiquidationParams {
        depth: DepthModel::Linear {
            half_spread: (cfg.half_spread * stress).min(0.04),
            impact_per_notional: cfg.impact_per_usd * stress * stress,
        },
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

/// Runs one policy over one path with one population. `progress` is called after each step.
pub fn run_policy(
    path: &MarketPath,
    cal: &Calibration,
    cfg: &SimConfig,
    traders: &[Trader],
    run: &PolicyRun,
    progress: &(dyn Fn() + Sync),
) -> Result<PolicyResult, SimError> {
    cfg.validate()?;
    let pol = policy(run)?;
    let steps = schedule(path, cfg)?;
    let t0 = steps[0];
    let mut books = Books::new();
    let m0 = true_market(path, cal, t0)?;
    // Open the population, the fund and the liquidators.
    let mut states: Vec<TraderState> = Vec::with_capacity(traders.len());
    let mut total_capital = 0.0;
    for tr in traders {
        let h = books.trader(&tr.id);
        books.deposit(h, money(tr.capital_usd, Rounding::Down)?)?;
        total_capital += tr.capital_usd;
        open_strategy(&mut books, &*pol, tr, h, &m0, tr.capital_usd)?;
        if tr.strategy == Strategy::MarketMaker {
            hedge(&mut books, h, &m0)?;
        }
        states.push(TraderState {
            holder: h,
            pending_topup: None,
            breach_at: None,
            next_hedge_s: t0 + tr.hedge_interval_s,
            bad_debt: 0.0,
            min_ratio: f64::INFINITY,
            samples_e: Vec::new(),
            samples_m: Vec::new(),
        });
    }
    let fund_start = money(cfg.fund_fraction * total_capital, Rounding::Down)?;
    let fund = books.fund;
    books.deposit(fund, fund_start)?;
    for i in 0..cfg.liquidators {
        let h = books.holder(&Holder::Liquidator(format!("liquidator-{i}")));
        books.deposit(
            h,
            money(
                cfg.liquidator_capital_fraction * total_capital,
                Rounding::Down,
            )?,
        )?;
    }
    let mut book = Book::new();
    for (tr, st) in traders.iter().zip(&states) {
        book.upsert_account(&books.account(&tr.id, st.holder))
            .map_err(risk_err)?;
    }
    // One engine for the run: accounts re-margined alone when they change, every account when
    // the market moves (no copy of the book per step).
    let mut engine = RiskEngine::new(&*pol, view_market(path, cal, cfg, run.trigger, t0)?, book);
    engine.remargin_all();
    let mut engine_time = t0;
    let mut summary: Vec<Option<Summary>> = Vec::with_capacity(traders.len());
    let mut metrics = Metrics {
        fund_start_usd: fund_start.to_f64(),
        ..Metrics::default()
    };
    let sample_every = steps.len().div_ceil(SERIES_POINTS).max(1);
    let mut sample_times = Vec::new();
    let mut fund_series = Vec::new();
    let mut fund_peak = fund_start.to_f64();
    let mut shadows: Vec<(ale_core::Account, usize, i64)> = Vec::new();
    let mut durations: Vec<f64> = Vec::new();
    let mut im_sum = 0.0;
    let mut notional_sum = 0.0;
    let mut prev_t = t0;
    for (step, &t) in steps.iter().enumerate() {
        let mut dirty: Vec<usize> = Vec::new();
        let spot_now = path.spot_at(t);
        let mut true_m: Option<MarketSnapshot> = None;
        // 1. Expiries since the last step: settle, then roll.
        let expired: Vec<i64> = listed_expiries(ts(prev_t)?)
            .into_iter()
            .map(|e| e.instant().unix_seconds())
            .filter(|x| *x > prev_t && *x <= t)
            .collect();
        if !expired.is_empty() || step == 0 {
            for (i, tr) in traders.iter().enumerate() {
                let h = states[i].holder;
                let held = books.holdings(h);
                let has_expired = held.iter().any(|x| {
                    x.instrument
                        .expiry()
                        .is_some_and(|e| e.instant().unix_seconds() <= t)
                        && !x.qty.is_zero()
                });
                if !has_expired {
                    continue;
                }
                let short = books.settle_expired(h, t, |at| path.spot_at(at))?;
                if short.raw() > 0 {
                    metrics.bad_debt_usd += short.to_f64();
                    states[i].bad_debt += short.to_f64();
                }
                let options_left = books
                    .holdings(h)
                    .iter()
                    .any(|x| matches!(x.instrument, Instrument::Option { .. }) && !x.qty.is_zero());
                if true_m.is_none() {
                    true_m = Some(true_market(path, cal, t)?);
                }
                let tm = true_m
                    .as_ref()
                    .ok_or_else(|| SimError::Risk("no market".into()))?;
                let equity = books.value(h, tm)?;
                if tr.strategy.has_options() && !options_left && equity > 0.0 {
                    open_strategy(&mut books, &*pol, tr, h, tm, equity)?;
                }
                dirty.push(i);
            }
        }
        // 2. Funding every 8 hours.
        if t / 28_800 > prev_t / 28_800 {
            let rate = path.funding_8h[path.index_at(t)];
            let p = perp();
            for (i, st) in states.iter().enumerate() {
                let q = books
                    .holdings(st.holder)
                    .iter()
                    .find(|x| x.instrument == p)
                    .map_or(0.0, |x| x.qty.to_f64());
                let pay = q * spot_now * rate;
                if pay > 0.0 {
                    let own = books.cash_of(st.holder).min(money(pay, Rounding::Up)?);
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
        // 6 (before margining, so the keeper sees the hedge). Market makers re-hedge.
        for (i, tr) in traders.iter().enumerate() {
            if tr.strategy == Strategy::MarketMaker && states[i].next_hedge_s <= t {
                states[i].next_hedge_s = t + tr.hedge_interval_s;
                if true_m.is_none() {
                    true_m = Some(true_market(path, cal, t)?);
                }
                let tm = true_m
                    .as_ref()
                    .ok_or_else(|| SimError::Risk("no market".into()))?;
                hedge(&mut books, states[i].holder, tm)?;
                dirty.push(i);
            }
        }
        dirty.sort_unstable();
        dirty.dedup();
        for &i in &dirty {
            engine
                .upsert_account(&books.account(&traders[i].id, states[i].holder))
                .map_err(risk_err)?;
        }
        // 4. The keeper margins every account on its view. Time moves the engine at most hourly
        // (within the hour theta is negligible against a crash); the market every step.
        let view = view_market(path, cal, cfg, run.trigger, t)?;
        if t - engine_time >= 3_600 {
            // A new hour: one full re-margin on the new market at the new time (cheaper than
            // moving the time and then the market, which re-margins twice).
            let book = engine.book().clone();
            engine = RiskEngine::new(&*pol, view, book);
            engine.remargin_all();
            engine_time = t;
        } else {
            for u in view.underlyings() {
                engine.update_underlying(u.clone()).map_err(risk_err)?;
            }
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
        // 5. Liquidations and margin calls.
        let te = t + cfg.exec_delay_s;
        let mut exec: Option<(MarketSnapshot, LiquidationParams, Vec<Bidder>)> = None;
        let sample = step % sample_every == 0 || step + 1 == steps.len();
        let mut changed: Vec<usize> = Vec::new();
        for (i, tr) in traders.iter().enumerate() {
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
                            let iv = path.iv_at(te);
                            exec = Some((
                                true_market(path, cal, te)?,
                                liquidation_params(cfg, iv, cal.iv_base),
                                bidders(cfg, iv),
                            ));
                        }
                        let (em, lp, bs) = exec
                            .as_ref()
                            .ok_or_else(|| SimError::Risk("no market".into()))?;
                        let shadow = books.account(&tr.id, st.holder);
                        let r = liq::liquidate(
                            &mut books,
                            &tr.id,
                            policy(run)?,
                            em,
                            lp,
                            bs,
                            cfg.half_spread,
                            ts(te)?,
                        )?;
                        if r.flagged {
                            metrics.liquidations += 1;
                            metrics.closed_accounts += usize::from(r.closed);
                            metrics.liquidated_notional_usd += r.notional_usd;
                            metrics.penalties_usd += r.penalty_usd;
                            metrics.bad_debt_usd += r.bad_debt_usd;
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
        for i in 0..traders.len() {
            for x in engine.book().account(i).positions.iter() {
                notional_sum += x.size.abs() * spot_now;
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
    metrics.unneeded_liquidations = unneeded(path, cal, &*pol, &shadows)?;
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
/// 6-hour checkpoint after their liquidation their equity stayed ≥ 0 (options settling at
/// expiry), and at the end it was ≥ their maintenance margin.
fn unneeded(
    path: &MarketPath,
    cal: &Calibration,
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
    let mut holders = Vec::new();
    for (k, (acct, _, _)) in shadows.iter().enumerate() {
        let id = ale_core::AccountId::new(&format!("shadow-{k}"))
            .map_err(|e| crate::error::invalid("shadow", e))?;
        let h = books.trader(&id);
        if let Some(c) = acct.collateral.values().next() {
            books.deposit(h, *c)?;
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
        let m = true_market(path, cal, t)?;
        let mut marks = std::collections::BTreeMap::new();
        for (k, (_, h)) in holders.iter().enumerate() {
            if !alive[k] || shadows[k].2 > t {
                continue;
            }
            books.settle_expired(*h, t, |at| path.spot_at(at))?;
            if books.value_cached(*h, &m, &mut marks)? < 0.0 {
                alive[k] = false;
            }
        }
        t += 6 * 3_600;
    }
    let m = true_market(path, cal, end)?;
    let mut count = 0;
    for (k, (id, h)) in holders.iter().enumerate() {
        if !alive[k] {
            continue;
        }
        books.settle_expired(*h, end, |at| path.spot_at(at))?;
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
