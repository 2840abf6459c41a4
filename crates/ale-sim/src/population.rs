//! The traders: the strategies real venues see, each account's traits drawn once from its own
//! stream (so every policy meets the same population), and the positions of a strategy at
//! unit size.
//!
//! Mix (fractions of accounts): short straddles 15 %, short strangles 15 %, covered calls 10 %,
//! long options 15 %, credit spreads 10 %, directional perpetuals 25 %, delta-hedged
//! market-maker books 10 %. Capital is log-normal (median 20,000 USD, σ_ln 1.2, capped at
//! 5,000,000; market makers ×10). Each account opens at a utilisation u of the leverage its
//! policy's initial margin allows: IM = u·capital, u = 0.3 + 0.65·U^0.7 (mean ≈ 0.68). When
//! margin-called it tops up with its own probability (0.2–0.9) after its own delay (15 min to
//! 24 h); market makers re-hedge delta every 2–12 h.

use ale_core::{AccountId, ExpiryDate, Instrument, OptionKind, Timestamp};
use rand::Rng;

use crate::error::SimError;
use crate::rng::{normal, stream, STREAM_TRADER};
use crate::venue::{listed_expiries, option, perp, strike_near};

/// Most accounts of a run.
pub const MAX_ACCOUNTS: usize = 1_000_000;

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
    /// Long or short the perpetual.
    DirectionalPerp,
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
            Strategy::DirectionalPerp => "directional_perp",
            Strategy::MarketMaker => "market_maker",
        }
    }
    /// Holds options (and so rolls them at expiry).
    pub fn has_options(self) -> bool {
        !matches!(self, Strategy::DirectionalPerp)
    }
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
}

/// Draws `n` traders from `seed` (trader i from its own stream).
pub fn population(n: usize, seed: u64) -> Result<Vec<Trader>, SimError> {
    if n == 0 || n > MAX_ACCOUNTS {
        return Err(crate::error::invalid(
            "accounts",
            format!("must be in 1..={MAX_ACCOUNTS}, got {n}"),
        ));
    }
    (0..n)
        .map(|i| {
            let mut rng = stream(seed, STREAM_TRADER + i as u64);
            let u: f64 = rng.random();
            let strategy = match u {
                x if x < 0.15 => Strategy::ShortStraddle,
                x if x < 0.30 => Strategy::ShortStrangle,
                x if x < 0.40 => Strategy::CoveredCall,
                x if x < 0.55 => Strategy::LongOption,
                x if x < 0.65 => Strategy::Spread,
                x if x < 0.90 => Strategy::DirectionalPerp,
                _ => Strategy::MarketMaker,
            };
            let mut capital = (20_000f64.ln() + 1.2 * normal(&mut rng)).exp().min(5e6);
            if strategy == Strategy::MarketMaker {
                capital *= 10.0;
            }
            let tenors = [7.0, 14.0, 30.0, 60.0];
            Ok(Trader {
                id: AccountId::new(&format!("acct-{i:06}"))
                    .map_err(|e| crate::error::invalid("account", e))?,
                index: i,
                strategy,
                capital_usd: capital.max(100.0),
                utilisation: 0.3 + 0.65 * rng.random::<f64>().powf(0.7),
                topup_prob: rng.random_range(0.2..0.9),
                topup_delay_s: rng.random_range(900..86_400),
                hedge_interval_s: rng.random_range(2..=12) * 3_600,
                bullish: rng.random_bool(0.55),
                tenor_days: tenors[rng.random_range(0..tenors.len())],
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

/// The positions of `trader`'s strategy at unit size (1 BTC of the main leg), at `now` and
/// `spot`, before any delta hedge.
pub fn unit_legs(
    trader: &Trader,
    now: Timestamp,
    spot: f64,
) -> Result<Vec<(Instrument, f64)>, SimError> {
    use OptionKind::{Call, Put};
    let e = || {
        nearest_expiry(now, trader.tenor_days)
            .ok_or_else(|| crate::error::invalid("expiry", format!("none listed at {now}")))
    };
    let opt =
        |m: f64, kind| -> Result<Instrument, SimError> { option(e()?, strike_near(spot, m), kind) };
    Ok(match trader.strategy {
        Strategy::ShortStraddle => vec![(opt(1.0, Call)?, -1.0), (opt(1.0, Put)?, -1.0)],
        Strategy::ShortStrangle => vec![(opt(1.1, Call)?, -1.0), (opt(0.9, Put)?, -1.0)],
        Strategy::CoveredCall => vec![(perp(), 1.0), (opt(1.1, Call)?, -1.0)],
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
        Strategy::DirectionalPerp => {
            vec![(perp(), if trader.bullish { 1.0 } else { -1.0 })]
        }
        Strategy::MarketMaker => vec![
            (opt(1.0, Call)?, -1.0),
            (opt(1.0, Put)?, -1.0),
            (opt(0.85, Put)?, -0.5),
            (opt(1.15, Call)?, -0.5),
        ],
    })
}
