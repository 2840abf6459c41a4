//! `ale demo`: a keeper on a simulated market — a synthetic venue, a price and vol feed that
//! random-walks, and a crash (spot −25 %, implied vol × 1.8) a minute in.

use std::sync::Arc;
use std::time::Duration;

use ale_core::{Amount, ExpiryDate, Instrument, Rounding, Timestamp};
use ale_format::market::{
    CollateralFile, ForwardFile, MarketFile, SurfaceFile, SviFile, UnderlyingFile,
};
use ale_format::portfolio::{CollateralBalanceFile, PortfolioFile, PositionFile};
use ale_format::wire::{WireAmount, WireExpiry, WireTime};
use ale_risk::synthetic::{expiry_after, listed_instruments, EXPIRY_DAYS, VENUE_TIME};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::event::Event;
use crate::service::{Keeper, LiquidatorConfig};

/// Shape of the demo.
#[derive(Debug, Clone, Copy)]
pub struct DemoSpec {
    /// Accounts.
    pub accounts: usize,
    /// Listed options per underlying.
    pub options: usize,
    /// Wall-clock seconds between feed ticks.
    pub tick: Duration,
    /// Market seconds per tick (the demo runs faster than life).
    pub market_seconds_per_tick: i64,
    /// Ticks before the crash starts.
    pub crash_after_ticks: u64,
    /// Seed.
    pub seed: u64,
}

impl Default for DemoSpec {
    fn default() -> Self {
        DemoSpec {
            accounts: 2_000,
            options: 200,
            tick: Duration::from_millis(500),
            market_seconds_per_tick: 300,
            crash_after_ticks: 120,
            seed: 42,
        }
    }
}

const LEVELS: [(&str, f64, f64); 2] = [("BTC", 95_000.0, 0.55), ("ETH", 3_500.0, 0.70)];

fn expiries(now: Timestamp) -> Vec<ExpiryDate> {
    EXPIRY_DAYS.iter().map(|d| expiry_after(now, *d)).collect()
}

/// One underlying's market as the market file writes it: spot, forwards, SVI smiles with a put
/// skew at vol `level`.
pub fn underlying_file(
    name: &str,
    spot: f64,
    level: f64,
    now: Timestamp,
    listed: &[ExpiryDate],
) -> UnderlyingFile {
    let mut forwards = Vec::new();
    let mut svi = Vec::new();
    for &e in listed {
        let t = e.years_from(now);
        if t <= 0.0 {
            continue;
        }
        forwards.push(ForwardFile {
            expiry: WireExpiry(e),
            price: spot * (0.05 * t).exp(),
            confidence: None,
            rate: None,
            rate_confidence: None,
            vol_confidence: None,
        });
        let b = 0.12 * level * level * t.sqrt().max(0.05);
        svi.push(SviFile {
            expiry: WireExpiry(e),
            a: level * level * t * 0.8,
            b,
            rho: -0.35,
            m: 0.02,
            sigma: 0.15 + 0.2 * t.sqrt(),
        });
    }
    UnderlyingFile {
        name: name.to_string(),
        spot,
        realized_vol: Some(level * 0.9),
        perp_price: None,
        forwards,
        surface: SurfaceFile::Svi(svi),
        spot_confidence: None,
        perp_confidence: None,
    }
}

/// The demo's starting market file.
pub fn demo_market(now: Timestamp) -> MarketFile {
    let listed = expiries(now);
    MarketFile {
        time: WireTime(now),
        rate: 0.0,
        underlyings: LEVELS
            .iter()
            .map(|(name, spot, level)| underlying_file(name, *spot, *level, now, &listed))
            .collect(),
        collateral: [
            ("USDC", 1.0, 0.0),
            ("BTC", 95_000.0, 0.05),
            ("ETH", 3_500.0, 0.08),
        ]
        .iter()
        .map(|(a, p, h)| CollateralFile {
            asset: a.to_string(),
            price: *p,
            haircut: *h,
            bridge_risk: 0.0,
            mm_haircut: None,
            im_haircut: None,
            confidence: None,
            risk_cancelling: None,
        })
        .collect(),
        stable: None,
        stable_price: None,
    }
}

/// The demo's accounts: vol sellers (short strangles and straddles), covered calls, spreads,
/// long options and directional perps, sized so that most are healthy before the crash.
pub fn demo_accounts(spec: &DemoSpec, now: Timestamp) -> Vec<PortfolioFile> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let market = ale_format::market::market_from_file(&demo_market(now))
        .map(|l| l.snapshot)
        .ok();
    let btc = listed_instruments("BTC", 95_000.0, spec.options, now);
    let options: Vec<&Instrument> = btc
        .iter()
        .filter(|i| matches!(i, Instrument::Option { .. }))
        .collect();
    let mut out = Vec::with_capacity(spec.accounts);
    for i in 0..spec.accounts {
        let mut positions = Vec::new();
        let strategy = rng.random_range(0..5);
        let n = rng.random_range(1..6);
        let mut notional = 0.0;
        for _ in 0..n {
            let instrument = match strategy {
                // Directional perps.
                0 => "BTC-PERP".to_string(),
                _ => options[rng.random_range(0..options.len())].to_string(),
            };
            let size: f64 = match strategy {
                0 => rng.random_range(-3.0..3.0),
                1 => -rng.random_range(0.1..3.0), // vol seller
                2 => rng.random_range(0.1..3.0),  // long options
                _ => rng.random_range(-2.0..2.0),
            };
            let size = (size * 10.0).round() / 10.0;
            if size == 0.0 {
                continue;
            }
            notional += size.abs() * 95_000.0;
            positions.push(PositionFile {
                entry_price: (strategy == 0).then(|| 95_000.0 * rng.random_range(0.97..1.03)),
                instrument,
                size,
            });
        }
        let cash = funding(&market, &positions, strategy == 3, notional, &mut rng);
        let mut collateral = vec![CollateralBalanceFile {
            asset: "USDC".to_string(),
            amount: WireAmount(Amount::from_f64(cash, Rounding::Down).unwrap_or(Amount::ZERO)),
        }];
        if strategy == 3 {
            collateral.push(CollateralBalanceFile {
                asset: "BTC".to_string(),
                amount: WireAmount(
                    Amount::from_f64(rng.random_range(0.5..3.0), Rounding::Down)
                        .unwrap_or(Amount::ZERO),
                ),
            });
        }
        out.push(PortfolioFile {
            account: format!("trader-{i:05}"),
            collateral,
            positions,
        });
    }
    out
}

/// Cash that puts an account at 1.05–4× its initial margin under `ramm` (a few near the edge,
/// most comfortable), so that the book is healthy until the crash.
fn funding(
    market: &Option<ale_market::MarketSnapshot>,
    positions: &[PositionFile],
    covered: bool,
    notional: f64,
    rng: &mut ChaCha8Rng,
) -> f64 {
    let fallback = notional * 0.3;
    let Some(market) = market else {
        return fallback;
    };
    let mut account = ale_core::Account::new(
        ale_core::AccountId::new("probe").unwrap_or_else(|_| unreachable!("valid")),
    );
    for p in positions {
        if let Ok(instrument) = Instrument::parse(&p.instrument) {
            account.add_position(ale_core::Position {
                instrument,
                size: p.size,
                entry_price: p.entry_price,
            });
        }
    }
    let _ = covered;
    match ale_risk::margin_standalone(&ale_risk::Ramm::default(), market, &account) {
        Ok(m) => {
            let cushion = if rng.random_bool(0.15) {
                rng.random_range(1.05..1.3)
            } else {
                rng.random_range(1.3..4.0)
            };
            (m.initial * cushion - m.equity).max(0.0)
        }
        Err(_) => fallback,
    }
}

fn usdc(amount: i64) -> Vec<CollateralBalanceFile> {
    vec![CollateralBalanceFile {
        asset: "USDC".to_string(),
        amount: WireAmount(Amount::from_units(amount)),
    }]
}

/// The demo's insurance fund capital.
pub fn demo_insurance_fund() -> Vec<CollateralBalanceFile> {
    usdc(20_000_000)
}

/// The demo's liquidators: three market makers with price limits 0.90, 0.85 and 0.80 of the
/// value they take, each taking at most half an account per fill.
pub fn demo_liquidators() -> Vec<LiquidatorConfig> {
    [
        ("mm-alpha", 0.90, 3_000_000),
        ("mm-beta", 0.85, 3_000_000),
        ("mm-gamma", 0.80, 6_000_000),
    ]
    .iter()
    .map(|(name, limit, capital)| LiquidatorConfig {
        name: (*name).to_string(),
        key: None,
        owner: None,
        max_price_fraction: *limit,
        insolvent_premium_fraction: 0.3,
        max_share: 0.5,
        collateral: usdc(*capital),
    })
    .collect()
}

/// The genesis of the demo: its time, rate and events (market, insurance fund, liquidators,
/// accounts).
pub fn demo_genesis(spec: &DemoSpec) -> (Timestamp, f64, Vec<Event>) {
    let now = Timestamp::parse_rfc3339(VENUE_TIME).unwrap_or_else(|_| unreachable!("constant"));
    let market = demo_market(now);
    let accounts = demo_accounts(spec, now);
    (
        now,
        0.0,
        crate::service::genesis_events_with(
            &market,
            &demo_insurance_fund(),
            &demo_liquidators(),
            &accounts,
        ),
    )
}

/// The liquidators' bids due at `time`: in each open Dutch auction, a liquidator bids once the
/// price has come down to its limit (the insolvent auction: once its premium is reached), as
/// `ale_liquidation::driver` orders them. `sent` remembers (account, bidder, auction start) so
/// that each bids once per auction.
pub fn due_bids(
    node: &crate::node::Node,
    time: Timestamp,
    sent: &mut std::collections::BTreeSet<(String, String, i64)>,
) -> Vec<Event> {
    let engine = node.liquidation_engine();
    let params = engine.params().auction;
    let mut out = Vec::new();
    for (ledger_id, a) in engine.open_auctions() {
        if a.sealed || time >= a.closes {
            continue;
        }
        let Some(account) = node.keeper_account(&ledger_id) else {
            continue;
        };
        let elapsed_s = (time.unix_seconds() - a.opened.unix_seconds()) as f64;
        for b in engine.bidders() {
            let wait_s = if a.insolvent {
                Some(b.insolvent_premium_fraction * params.insolvent_s)
            } else {
                params.time_to_reach(b.max_price_fraction)
            };
            let key = (account.to_string(), b.name.clone(), a.opened.unix_seconds());
            if wait_s.is_some_and(|w| elapsed_s >= w) && !sent.contains(&key) {
                sent.insert(key);
                out.push(Event::Bid {
                    time: time.to_string(),
                    account: account.to_string(),
                    bidder: b.name.clone(),
                });
            }
        }
    }
    out
}

/// The feed: every tick, BTC and ETH random-walk (annual vol 60 %, at the demo's accelerated
/// market clock); after `crash_after_ticks`, spot falls 25 % over ten ticks while implied vol
/// rises 80 %, then drifts back part of the way. Runs until the keeper is dropped.
pub async fn run_feed(keeper: Arc<Keeper>, spec: DemoSpec, start: Timestamp) {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x5eed);
    let listed = expiries(start);
    let mut spots: Vec<f64> = LEVELS.iter().map(|l| l.1).collect();
    let mut vol_mult = 1.0;
    let dt_years = spec.market_seconds_per_tick as f64 / (365.0 * 86_400.0);
    let mut tick: u64 = 0;
    let mut sent = std::collections::BTreeSet::new();
    let mut interval = tokio::time::interval(spec.tick);
    loop {
        interval.tick().await;
        tick += 1;
        let time = Timestamp::from_unix_seconds(
            start.unix_seconds() + tick as i64 * spec.market_seconds_per_tick,
        )
        .unwrap_or(start);
        let crash_step = tick.saturating_sub(spec.crash_after_ticks);
        let (drift, vol_target) = if (1..=10).contains(&crash_step) {
            ((0.75f64).ln() / 10.0, 1.8)
        } else if crash_step > 10 {
            (0.0, 1.3)
        } else {
            (0.0, 1.0)
        };
        vol_mult += 0.3 * (vol_target - vol_mult);
        for (i, (name, _, level)) in LEVELS.iter().enumerate() {
            let z: f64 = rng.random_range(-1.0..1.0) * 1.7;
            let sigma = 0.6 * vol_mult;
            spots[i] *=
                (drift + sigma * dt_years.sqrt() * z - 0.5 * sigma * sigma * dt_years).exp();
            let live: Vec<ExpiryDate> = listed
                .iter()
                .copied()
                .filter(|e| e.years_from(time) > 0.0)
                .collect();
            if live.is_empty() {
                continue;
            }
            let event = Event::Market {
                time: time.to_string(),
                underlying: underlying_file(name, spots[i], level * vol_mult, time, &live),
            };
            if let Err(e) = keeper.submit(event) {
                tracing::warn!(error = %e, "demo feed event refused");
            }
        }
        for (asset, spot, haircut) in [("BTC", spots[0], 0.05), ("ETH", spots[1], 0.08)] {
            let event = Event::CollateralPrice {
                time: time.to_string(),
                collateral: CollateralFile {
                    asset: asset.to_string(),
                    price: spot,
                    haircut,
                    bridge_risk: 0.0,
                    mm_haircut: None,
                    im_haircut: None,
                    confidence: None,
                    risk_cancelling: None,
                },
            };
            if let Err(e) = keeper.submit(event) {
                tracing::warn!(error = %e, "demo feed event refused");
            }
        }
        // The liquidators bid in the auctions the crash opened.
        let bids = due_bids(&keeper.node(), time, &mut sent);
        for event in bids {
            if let Err(e) = keeper.submit(event) {
                tracing::debug!(error = %e, "demo bid refused");
            }
        }
        if Arc::strong_count(&keeper) == 1 {
            return;
        }
    }
}
