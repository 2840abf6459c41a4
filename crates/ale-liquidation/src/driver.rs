//! A driver: runs accounts through the tiers with the registered bidders at explicit times.
//!
//! It is the event source the CLI and the benches use (and the simulator can): it checks the
//! accounts at `start`, then sends each registered bidder's bid at the moment the auction's
//! price first reaches its limit (Dutch), or its sealed bid at the start (sealed), and a `Tick`
//! when each auction's time is up. The engine does the rest; the driver only orders events.

use ale_core::{AccountId, Timestamp};

use crate::auction::AuctionParams;
use crate::engine::{AuctionView, Engine, Event, Record, Stage};
use crate::error::LiquidationError;

fn at(seconds: i64) -> Result<Timestamp, LiquidationError> {
    Timestamp::from_unix_seconds(seconds).ok_or_else(|| LiquidationError::Invalid {
        field: "time".into(),
        reason: format!("{seconds} s since the epoch is out of range"),
    })
}

/// Liquidates whichever of `accounts` are liquidatable at `start`, through every tier, and
/// returns the records produced. Each account is checked with `Event::Check` (no certificate):
/// with the certificate gate on, a liquidatable account is then refused; see
/// [`run_with_certificates`].
pub fn run(
    engine: &mut Engine,
    accounts: &[AccountId],
    start: Timestamp,
) -> Result<Vec<Record>, LiquidationError> {
    let checks: Vec<Event> = accounts
        .iter()
        .map(|account| Event::Check {
            account: account.clone(),
        })
        .collect();
    run_checks(engine, &checks, start)
}

/// [`run`] with each account's certificate (`None`: checked without one): the liquidation of an
/// account starts only if the engine's certificate gate accepts its certificate.
pub fn run_with_certificates(
    engine: &mut Engine,
    accounts: &[(AccountId, Option<Vec<u8>>)],
    start: Timestamp,
) -> Result<Vec<Record>, LiquidationError> {
    let checks: Vec<Event> = accounts
        .iter()
        .map(|(account, certificate)| match certificate {
            Some(bytes) => Event::CheckWithCertificate {
                account: account.clone(),
                certificate: bytes.clone(),
            },
            None => Event::Check {
                account: account.clone(),
            },
        })
        .collect();
    run_checks(engine, &checks, start)
}

/// When a registered bidder with price limit `limit` (and, in the insolvent phase, premium
/// `premium`) bids in the auction `view` of `account`, and with which event: a sealed bid at the
/// opening, a Dutch bid once the price has fallen to its limit, an insolvent-phase bid once the
/// premium has risen to its own; `None` when the price never reaches its limit. The simulator
/// and [`run`] share this rule.
pub fn first_bid(
    params: &AuctionParams,
    account: &AccountId,
    view: &AuctionView,
    bidder: &str,
    limit: f64,
    premium: f64,
) -> Option<(i64, Event)> {
    let opened = view.opened.unix_seconds();
    if view.sealed {
        return Some((
            opened,
            Event::SealedBid {
                account: account.clone(),
                bidder: bidder.to_string(),
                price_fraction: limit,
            },
        ));
    }
    let wait_s = if view.insolvent {
        Some(premium * params.insolvent_s)
    } else {
        params.time_to_reach(limit)
    };
    wait_s.map(|s| {
        (
            opened + s.ceil() as i64,
            Event::Bid {
                account: account.clone(),
                bidder: bidder.to_string(),
            },
        )
    })
}

fn run_checks(
    engine: &mut Engine,
    checks: &[Event],
    start: Timestamp,
) -> Result<Vec<Record>, LiquidationError> {
    let mut out = Vec::new();
    for check in checks {
        out.extend(engine.process(check, start)?);
    }
    let params = engine.params().auction;
    let bidders: Vec<(String, f64, f64)> = engine
        .bidders()
        .map(|b| {
            (
                b.name.clone(),
                b.max_price_fraction,
                b.insolvent_premium_fraction,
            )
        })
        .collect();
    // (time, 0 = bid / 1 = tick, sequence, event): ticks after the bids of the same second.
    let mut schedule: Vec<(i64, u8, usize, Event)> = Vec::new();
    for (account, view) in engine.open_auctions() {
        for (name, limit, premium) in &bidders {
            let event = first_bid(&params, &account, &view, name, *limit, *premium);
            if let Some((t, e)) = event {
                if t < view.closes.unix_seconds() {
                    let n = schedule.len();
                    schedule.push((t, 0, n, e));
                }
            }
        }
        let n = schedule.len();
        schedule.push((view.closes.unix_seconds(), 1, n, Event::Tick));
    }
    schedule.sort_by_key(|(t, kind, n, _)| (*t, *kind, *n));
    let mut last_tick = None;
    for (t, _, _, event) in schedule {
        if let Event::Bid { account, .. } | Event::SealedBid { account, .. } = &event {
            if engine.case(account).map(|c| c.stage) != Some(Stage::Auction) {
                continue;
            }
        }
        if matches!(event, Event::Tick) {
            if last_tick == Some(t) {
                continue;
            }
            last_tick = Some(t);
        }
        out.extend(engine.process(&event, at(t)?)?);
    }
    Ok(out)
}
