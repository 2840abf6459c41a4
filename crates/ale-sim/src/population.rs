//! The traders: the strategies real venues see, each account's traits drawn once from its own
//! stream (so every policy meets the same population), and the positions of a strategy at
//! unit size.
//!
//! Mix (fractions of accounts): short straddles 15 %, short strangles 15 %, covered calls 10 %,
//! long options 15 %, credit spreads 10 %, directional books 20 % (the perpetual, or for 40 % of
//! them the dated future nearest their tenor), basis books 5 % (long the perpetual, short the
//! future nearest their tenor), delta-hedged market-maker books 10 %. Capital is log-normal
//! (median 20,000 USD, σ_ln 1.2, capped at 5,000,000; market makers ×10). Each account opens at
//! a utilisation u of the leverage its policy's initial margin allows: IM = u·capital,
//! u = 0.3 + 0.65·U^0.7 (mean ≈ 0.68), its gross notional capped at [`MAX_LEVERAGE`] × its
//! equity. When margin-called it tops up with its own probability (0.2–0.9) after its own delay
//! (15 min to 24 h); market makers re-hedge delta every 2–12 h.
//!
//! With several underlyings (BTC, ETH): 55 % of accounts trade BTC, 25 % ETH, 20 % both (the
//! same strategy on each, equal notional). A share of the accounts (`coin_collateral`, 25 % by
//! default) post 30–80 % of their capital in the coin of their first underlying instead of
//! USDC; a share (`arrivals`) open during the run rather than at its start, at a time drawn
//! uniformly over the run.

use ale_core::{AccountId, ExpiryDate, Instrument, OptionKind, Timestamp};
use rand::Rng;

use crate::error::SimError;
use crate::rng::{normal, stream, STREAM_TRADER};
use crate::venue::{future, future_expiries, listed_expiries, option, perp, strike_near};

/// Most accounts of a run.
pub const MAX_ACCOUNTS: usize = 1_000_000;
/// Most gross notional an account opens, as a multiple of its equity (a venue's leverage cap:
/// it binds on hedged books, e.g. basis, whose margin is small).
pub const MAX_LEVERAGE: f64 = 20.0;

/// A trading strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strategy {
    /// Short ATM call and put.
    ShortStraddle,
    /// Short 0.9 put and 1.1 call.
    ShortStrangle,
    /// Long perpetual, short 1.1 call.
    CoveredCall,
    /// Long a 0.9 put (bearish) or a 1.1 call (bullish).
    LongOption,
    /// A credit vertical: short 0.95 put / long 0.85 put (bullish) or short 1.05 call / long
    /// 1.15 call (bearish).
    Spread,
    /// Long or short the perpetual, or the dated future nearest its tenor.
    Directional,
    /// Long the perpetual, short the dated future nearest its tenor (a calendar basis book).
    Basis,
    /// Short ATM straddle and 0.85/1.15 wings, delta-hedged with the perpetual.
    MarketMaker,
}

impl Strategy {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::ShortStraddle => "short_straddle",
            Strategy::ShortStrangle => "short_strangle",
            Strategy::CoveredCall => "covered_call",
            Strategy::LongOption => "long_option",
            Strategy::Spread => "spread",
            Strategy::Directional => "directional",
            Strategy::Basis => "basis",
            Strategy::MarketMaker => "market_maker",
        }
    }
    /// Holds options (and so rolls them at expiry).
    pub fn has_options(self) -> bool {
        !matches!(self, Strategy::Directional | Strategy::Basis)
    }
}

/// How a population is drawn, besides its size and seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PopulationSpec {
    /// Accounts.
    pub accounts: usize,
    /// Seed.
    pub seed: u64,
    /// Underlyings of the run (1: BTC alone; 2: BTC and ETH).
    pub underlyings: usize,
    /// Share of the accounts that open during the run.
    pub arrivals: f64,
    /// Share of the accounts that post part of their capital in coin.
    pub coin_collateral: f64,
}

/// One trader's traits.
#[derive(Debug, Clone, PartialEq)]
pub struct Trader {
    /// Account id (`acct-000042`).
    pub id: AccountId,
    /// Index in the population.
    pub index: usize,
    /// Strategy.
    pub strategy: Strategy,
    /// Capital paid in at the start, USD.
    pub capital_usd: f64,
    /// Share of the policy's allowed leverage used: IM = utilisation · equity at opening.
    pub utilisation: f64,
    /// Probability of topping up when margin-called.
    pub topup_prob: f64,
    /// Delay before the top-up arrives.
    pub topup_delay_s: i64,
    /// Re-hedge interval (market makers).
    pub hedge_interval_s: i64,
    /// Direction (long perp, bullish spread, call rather than put).
    pub bullish: bool,
    /// Preferred option tenor, days.
    pub tenor_days: f64,
    /// The underlyings it trades (indices into the run's list, first = main).
    pub underlyings: Vec<usize>,
    /// When it opens, as a fraction of the run (`None`: at the start).
    pub arrival: Option<f64>,
    /// Share of its capital posted in the coin of its main underlying (0: all USDC).
    pub coin_share: f64,
    /// A directional or basis book uses the dated future (else the perpetual).
    pub uses_future: bool,
}

impl Trader {
    /// Holds dated instruments (options or futures), so rolls at expiry.
    pub fn rolls(&self) -> bool {
        self.strategy.has_options() || self.uses_future
    }
}

/// Draws `spec.accounts` traders from `spec.seed` (trader i from its own stream).
pub fn population(spec: &PopulationSpec) -> Result<Vec<Trader>, SimError> {
    let n = spec.accounts;
    if n == 0 || n > MAX_ACCOUNTS {
        return Err(crate::error::invalid(
            "accounts",
            format!("must be in 1..={MAX_ACCOUNTS}, got {n}"),
        ));
    }
    if !(0.0..=1.0).contains(&spec.arrivals) {
        return Err(crate::error::invalid(
            "arrivals",
            format!("must be in [0, 1], got {}", spec.arrivals),
        ));
    }
    if !(0.0..=1.0).contains(&spec.coin_collateral) {
        return Err(crate::error::invalid(
            "coin_collateral",
            format!("must be in [0, 1], got {}", spec.coin_collateral),
        ));
    }
    if spec.underlyings == 0 || spec.underlyings > 2 {
        return Err(crate::error::invalid(
            "underlyings",
            format!("1 or 2 underlyings, got {}", spec.underlyings),
        ));
    }
    (0..n)
        .map(|i| {
            let mut rng = stream(spec.seed, STREAM_TRADER + i as u64);
            let u: f64 = rng.random();
            let strategy = match u {
                x if x < 0.15 => Strategy::ShortStraddle,
                x if x < 0.30 => Strategy::ShortStrangle,
                x if x < 0.40 => Strategy::CoveredCall,
                x if x < 0.55 => Strategy::LongOption,
                x if x < 0.65 => Strategy::Spread,
                x if x < 0.85 => Strategy::Directional,
                x if x < 0.90 => Strategy::Basis,
                _ => Strategy::MarketMaker,
            };
            let mut capital = (20_000f64.ln() + 1.2 * normal(&mut rng)).exp().min(5e6);
            if strategy == Strategy::MarketMaker {
                capital *= 10.0;
            }
            let tenors = [7.0, 14.0, 30.0, 60.0];
            let utilisation = 0.3 + 0.65 * rng.random::<f64>().powf(0.7);
            let topup_prob = rng.random_range(0.2..0.9);
            let topup_delay_s = rng.random_range(900..86_400);
            let hedge_interval_s = rng.random_range(2..=12) * 3_600;
            let bullish = rng.random_bool(0.55);
            let tenor_days = tenors[rng.random_range(0..tenors.len())];
            // Draws added with several underlyings, futures and arrivals come after the
            // traits above, so that those stay what they were.
            let which: f64 = rng.random();
            let underlyings = match (spec.underlyings, which) {
                (1, _) => vec![0],
                (_, x) if x < 0.55 => vec![0],
                (_, x) if x < 0.80 => vec![1],
                _ => vec![0, 1],
            };
            let arrives: f64 = rng.random();
            let when: f64 = rng.random();
            let arrival = (arrives < spec.arrivals).then(|| when.clamp(0.001, 0.999));
            let coin: f64 = rng.random();
            let share = rng.random_range(0.3..0.8);
            let coin_share = if coin < spec.coin_collateral {
                share
            } else {
                0.0
            };
            let fut: f64 = rng.random();
            let uses_future = match strategy {
                Strategy::Basis => true,
                Strategy::Directional => fut < 0.4,
                _ => false,
            };
            Ok(Trader {
                id: AccountId::new(&format!("acct-{i:06}"))
                    .map_err(|e| crate::error::invalid("account", e))?,
                index: i,
                strategy,
                capital_usd: capital.max(100.0),
                utilisation,
                topup_prob,
                topup_delay_s,
                hedge_interval_s,
                bullish,
                tenor_days,
                underlyings,
                arrival,
                coin_share,
                uses_future,
            })
        })
        .collect()
}

fn nearest_expiry(now: Timestamp, days: f64) -> Option<ExpiryDate> {
    listed_expiries(now)
        .into_iter()
        .filter(|e| e.years_from(now) * 365.0 >= 1.5)
        .min_by(|a, b| {
            let da = (a.years_from(now) * 365.0 - days).abs();
            let db = (b.years_from(now) * 365.0 - days).abs();
            da.total_cmp(&db)
        })
}

fn nearest_future(now: Timestamp, days: f64) -> Option<ExpiryDate> {
    future_expiries(now)
        .into_iter()
        .filter(|e| e.years_from(now) * 365.0 >= 1.5)
        .min_by(|a, b| {
            let da = (a.years_from(now) * 365.0 - days).abs();
            let db = (b.years_from(now) * 365.0 - days).abs();
            da.total_cmp(&db)
        })
}

/// The positions of `trader`'s strategy on `underlying` at unit size (1 unit of the underlying
/// in the main leg), at `now` and `spot`, before any delta hedge. `futures`: the venue lists
/// dated futures under the policy in force (else the perpetual stands in for them).
pub fn unit_legs(
    trader: &Trader,
    underlying: &str,
    now: Timestamp,
    spot: f64,
    futures: bool,
) -> Result<Vec<(Instrument, f64)>, SimError> {
    use OptionKind::{Call, Put};
    let e = || {
        nearest_expiry(now, trader.tenor_days)
            .ok_or_else(|| crate::error::invalid("expiry", format!("none listed at {now}")))
    };
    let opt = |m: f64, kind| -> Result<Instrument, SimError> {
        option(underlying, e()?, strike_near(spot, m), kind)
    };
    let dated = || -> Result<Instrument, SimError> {
        match nearest_future(now, trader.tenor_days) {
            Some(x) if futures => future(underlying, x),
            _ => perp(underlying),
        }
    };
    let p = || perp(underlying);
    Ok(match trader.strategy {
        Strategy::ShortStraddle => vec![(opt(1.0, Call)?, -1.0), (opt(1.0, Put)?, -1.0)],
        Strategy::ShortStrangle => vec![(opt(1.1, Call)?, -1.0), (opt(0.9, Put)?, -1.0)],
        Strategy::CoveredCall => vec![(p()?, 1.0), (opt(1.1, Call)?, -1.0)],
        Strategy::LongOption => {
            if trader.bullish {
                vec![(opt(1.1, Call)?, 1.0)]
            } else {
                vec![(opt(0.9, Put)?, 1.0)]
            }
        }
        Strategy::Spread => {
            if trader.bullish {
                vec![(opt(0.95, Put)?, -1.0), (opt(0.85, Put)?, 1.0)]
            } else {
                vec![(opt(1.05, Call)?, -1.0), (opt(1.15, Call)?, 1.0)]
            }
        }
        Strategy::Directional => {
            let i = if trader.uses_future { dated()? } else { p()? };
            vec![(i, if trader.bullish { 1.0 } else { -1.0 })]
        }
        Strategy::Basis => {
            let d = dated()?;
            if d == p()? {
                // No dated future listed: the two legs would cancel; the book stays in cash.
                Vec::new()
            } else {
                vec![(p()?, 1.0), (d, -1.0)]
            }
        }
        Strategy::MarketMaker => vec![
            (opt(1.0, Call)?, -1.0),
            (opt(1.0, Put)?, -1.0),
            (opt(0.85, Put)?, -0.5),
            (opt(1.15, Call)?, -0.5),
        ],
    })
}
