//! A synthetic venue, seeded and reproducible: BTC and ETH with a listed option chain (expiries
//! from 1 day to 1 year, strikes 0.5–2·S), a skewed SVI surface, a perpetual and dated futures,
//! and accounts with 1–30 positions (about 10 on average) of the strategies venues see. Used by
//! the benches, the incremental-equals-full checker, the simulator and the demo.

use std::collections::BTreeMap;

use ale_core::{
    Account, AccountId, Amount, Asset, ExpiryDate, Instrument, Position, Rounding, Timestamp,
};
use ale_market::{CollateralPrice, MarketSnapshot, UnderlyingMarket};
use ale_surface::{ForwardCurve, Surface, SviParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Shape of a synthetic venue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VenueSpec {
    /// Number of accounts.
    pub accounts: usize,
    /// Listed options per underlying (about; rounded to whole strikes per expiry and kind).
    pub options_per_underlying: usize,
    /// Most positions an account holds (1..=this, mean about a third of it).
    pub max_positions: usize,
    /// Seed of the ChaCha8 generator.
    pub seed: u64,
}

impl Default for VenueSpec {
    fn default() -> Self {
        VenueSpec {
            accounts: 100_000,
            options_per_underlying: 1_000,
            max_positions: 30,
            seed: 7,
        }
    }
}

/// The snapshot time of every synthetic venue.
pub const VENUE_TIME: &str = "2026-11-24T08:00:00Z";

/// Expiries listed, in days from the snapshot (dailies, weeklies, monthlies, quarterlies).
pub const EXPIRY_DAYS: [i64; 11] = [1, 2, 3, 7, 14, 21, 35, 63, 91, 182, 364];

/// A generated venue.
pub struct Venue {
    /// The market.
    pub market: MarketSnapshot,
    /// Every listed instrument.
    pub instruments: Vec<Instrument>,
    /// The accounts.
    pub accounts: Vec<Account>,
}

impl Venue {
    /// The venue's book: every instrument listed, every account loaded.
    pub fn book(&self) -> Result<crate::Book, crate::RiskError> {
        let mut book = crate::Book::new();
        for i in &self.instruments {
            book.list(i);
        }
        for a in &self.accounts {
            book.upsert_account(a)?;
        }
        Ok(book)
    }

    /// An engine on the venue under `policy`, every account margined once.
    pub fn engine<P: crate::MarginPolicy>(
        &self,
        policy: P,
    ) -> Result<crate::RiskEngine<P>, crate::RiskError> {
        let mut engine = crate::RiskEngine::new(policy, self.market.clone(), self.book()?);
        engine.remargin_all();
        Ok(engine)
    }
}

fn asset(s: &str) -> Asset {
    Asset::new(s).unwrap_or_else(|_| unreachable!("static symbol"))
}

/// The market of a synthetic venue: BTC at 95,000 and ETH at 3,500, SVI smiles with a put skew.
pub fn synthetic_market(btc_spot: f64, eth_spot: f64) -> MarketSnapshot {
    let now = Timestamp::parse_rfc3339(VENUE_TIME).unwrap_or_else(|_| unreachable!("constant"));
    let mut market = MarketSnapshot::new(now, 0.0).unwrap_or_else(|_| unreachable!("finite rate"));
    for (name, spot, level) in [("BTC", btc_spot, 0.55), ("ETH", eth_spot, 0.70)] {
        let mut forwards = BTreeMap::new();
        let mut nodes = Vec::new();
        let mut slices = Vec::new();
        for days in EXPIRY_DAYS {
            let expiry = expiry_after(now, days);
            let t = expiry.years_from(now);
            let f = spot * (0.05 * t).exp();
            forwards.insert(expiry, f);
            nodes.push((t, f));
            // Total variance ≈ level²·t, skewed (ρ < 0), smile wider at the short end.
            let b = 0.12 * level * level * t.sqrt().max(0.05);
            let svi = SviParams::new(
                level * level * t * 0.8,
                b,
                -0.35,
                0.02,
                0.15 + 0.2 * t.sqrt(),
            )
            .unwrap_or_else(|_| unreachable!("admissible by construction"));
            slices.push((t, svi));
        }
        let curve =
            ForwardCurve::new(spot, 0.0, &nodes).unwrap_or_else(|_| unreachable!("increasing"));
        let surface =
            Surface::from_svi(curve, &slices).unwrap_or_else(|_| unreachable!("valid slices"));
        let u = UnderlyingMarket::new(
            asset(name),
            spot,
            Some(level * 0.9),
            None,
            forwards,
            surface,
        )
        .unwrap_or_else(|_| unreachable!("valid market"));
        market.insert_underlying(u);
    }
    for (name, price, haircut) in [
        ("USDC", 1.0, 0.0),
        ("BTC", btc_spot, 0.05),
        ("ETH", eth_spot, 0.08),
    ] {
        market.insert_collateral(
            asset(name),
            CollateralPrice::new(&asset(name), price, haircut, 0.0)
                .unwrap_or_else(|_| unreachable!("valid")),
        );
    }
    market
}

/// The expiry `days` calendar days after `now` (08:00 UTC that day).
pub fn expiry_after(now: Timestamp, days: i64) -> ExpiryDate {
    use chrono::Datelike;
    let d = Timestamp::from_unix_seconds(now.unix_seconds() + days * 86_400)
        .unwrap_or(now)
        .date();
    ExpiryDate::from_ymd(d.year(), d.month(), d.day()).unwrap_or_else(|| unreachable!("2000-2099"))
}

/// The listed instruments of one underlying: perp, futures at every expiry, calls and puts on a
/// strike ladder 0.5–2·S (round strikes) at every expiry.
pub fn listed_instruments(
    underlying: &str,
    spot: f64,
    options: usize,
    now: Timestamp,
) -> Vec<Instrument> {
    let mut out =
        vec![Instrument::parse(&format!("{underlying}-PERP"))
            .unwrap_or_else(|_| unreachable!("valid"))];
    let per_expiry = (options / (2 * EXPIRY_DAYS.len())).max(1);
    let tick = if spot > 10_000.0 { 500.0 } else { 25.0 };
    for days in EXPIRY_DAYS {
        let expiry = expiry_after(now, days);
        out.push(
            Instrument::parse(&format!("{underlying}-{expiry}"))
                .unwrap_or_else(|_| unreachable!("valid")),
        );
        // Log-spaced strikes from 0.5·S to 2·S, rounded to the tick, deduplicated.
        let mut strikes: Vec<u64> = (0..per_expiry)
            .map(|i| {
                let x = 0.5 * 4f64.powf(i as f64 / (per_expiry.max(2) - 1) as f64);
                ((spot * x / tick).round() * tick) as u64
            })
            .collect();
        strikes.dedup();
        for k in strikes {
            for kind in ["C", "P"] {
                out.push(
                    Instrument::parse(&format!("{underlying}-{expiry}-{k}-{kind}"))
                        .unwrap_or_else(|_| unreachable!("valid")),
                );
            }
        }
    }
    out
}

/// Generates a venue.
pub fn synthetic_venue(spec: &VenueSpec) -> Venue {
    let market = synthetic_market(95_000.0, 3_500.0);
    let now = market.time();
    let btc = listed_instruments("BTC", 95_000.0, spec.options_per_underlying, now);
    let eth = listed_instruments("ETH", 3_500.0, spec.options_per_underlying, now);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut accounts = Vec::with_capacity(spec.accounts);
    for i in 0..spec.accounts {
        let id = AccountId::new(&format!("acct-{i:06}")).unwrap_or_else(|_| unreachable!("valid"));
        let mut account = Account::new(id);
        // 1..=max, skewed toward small books: mean ≈ max/3.
        let u: f64 = rng.random();
        let n = 1 + ((spec.max_positions - 1) as f64 * u * u) as usize;
        let mut notional = 0.0;
        for _ in 0..n {
            let (list, spot, unit) = if rng.random_bool(0.7) {
                (&btc, 95_000.0, 1.0)
            } else {
                (&eth, 3_500.0, 10.0)
            };
            let instrument = list[rng.random_range(0..list.len())].clone();
            let size = (rng.random_range(-5.0..5.0f64) * unit * 10.0).round() / 10.0;
            if size == 0.0 {
                continue;
            }
            notional += size.abs() * spot;
            account.add_position(Position {
                entry_price: match instrument {
                    Instrument::Perpetual { .. } | Instrument::Future { .. } => {
                        Some(spot * rng.random_range(0.9..1.1))
                    }
                    _ => None,
                },
                instrument,
                size,
            });
        }
        let cash = notional * rng.random_range(0.05..0.6);
        let cash = Amount::from_f64(cash, Rounding::Down).unwrap_or(Amount::ZERO);
        let _ = account.add_collateral(asset("USDC"), cash);
        if rng.random_bool(0.2) {
            let btc_amount = Amount::from_f64(rng.random_range(0.0..2.0), Rounding::Down)
                .unwrap_or(Amount::ZERO);
            let _ = account.add_collateral(asset("BTC"), btc_amount);
        }
        accounts.push(account);
    }
    let mut instruments = btc;
    instruments.extend(eth);
    Venue {
        market,
        instruments,
        accounts,
    }
}
