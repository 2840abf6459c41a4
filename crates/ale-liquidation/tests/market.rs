//! One engine for a whole day: `Event::Market` replaces the snapshot; open auctions re-price,
//! and open liquidations are re-evaluated at the new market.
//!
//! The numbers are worked by hand as in `tiers.rs`: `static` policy (MM = 10 % of a perpetual's
//! notional, IM 15 %), alice with 100 USDC and 10 BTC-PERP, buffer 15 %.

mod common;

use ale_core::Amount;
use ale_liquidation::{Event, LiquidationParams, MarketUpdate, RecordKind, Stage};
use common::*;

fn detail<'a>(r: &'a ale_liquidation::Record, key: &str) -> &'a str {
    r.details
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no '{key}' in {r:?}"))
}

fn kinds(records: &[ale_liquidation::Record]) -> Vec<&'static str> {
    records.iter().map(|r| r.kind.name()).collect()
}

fn market(seconds: i64, btc: f64) -> Event {
    Event::Market(MarketUpdate::from(market_at(seconds, btc)))
}

fn check(name: &str) -> Event {
    Event::Check { account: id(name) }
}

/// alice at `entry`, a fund that takes nothing as tier 1 (capacity 0) unless `backstop`, a
/// liquidator with a 0.9 limit.
fn engine_with(entry: f64, backstop: bool) -> ale_liquidation::Engine {
    let mut e = engine("static", LiquidationParams::default());
    e.register_trader(
        &account("alice", "100", &[("BTC-PERP", 10.0, Some(entry))]),
        "alice",
        t0(),
    )
    .unwrap();
    e.register_trader(&account("bob", "1000", &[]), "bob", t0())
        .unwrap();
    e.fund_insurance(
        &account("fund", "1000000", &[]),
        (!backstop).then_some(Amount::ZERO),
        t0(),
    )
    .unwrap();
    e.register_bidder(
        bidder("lp", "lp", 0.9, 0.0, 1.0),
        &account("lp", "10000", &[]),
        t0(),
    )
    .unwrap();
    e
}

#[test]
fn an_open_auction_re_prices_at_the_new_market() {
    let mut e = engine_with(109.0, false);
    // Entry 109 at 100: equity 10, MM 100 — the Dutch auction opens.
    e.process(&check("alice"), t0()).unwrap();
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Auction);
    // BTC at 104: equity 100 + 10·(104 − 109) = 50, MM 104: still short of 119.6.
    let r = e.process(&market(60, 104.0), at(60)).unwrap();
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(e.market().time(), at(60));
    // At 180 s the discount is 0.95 − 0.25·180/900 = 0.9: the bidder takes f of the account at
    // the new equity: B = 50 − 104 − 15.6 = −69.6, f = 69.6 / (69.6 + 0.9·50).
    let r = e
        .process(
            &Event::Bid {
                account: id("alice"),
                bidder: "lp".into(),
            },
            at(180),
        )
        .unwrap();
    let fill = r
        .iter()
        .find(|x| x.kind == RecordKind::AuctionFill)
        .unwrap();
    let f: f64 = detail(fill, "fraction").parse().unwrap();
    let want = 69.6 / (69.6 + 0.9 * 50.0);
    assert!((f - want).abs() < 1e-5, "{f} vs {want}");
    let value = Amount::parse_decimal(detail(fill, "value")).unwrap();
    assert!((value.to_f64() - 50.0 * f).abs() < 1e-6, "{value}");
    let paid = Amount::parse_decimal(detail(fill, "paid")).unwrap();
    assert!((paid.to_f64() - 0.9 * 50.0 * f).abs() < 1e-6, "{paid}");
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Restored);
    assert_ledger_invariants(&e);
}

#[test]
fn a_market_that_restores_the_account_ends_its_auction() {
    let mut e = engine_with(109.0, false);
    e.process(&check("alice"), t0()).unwrap();
    let before = e.ledger().snapshot();
    // BTC at 120: equity 100 + 110 = 210 ≥ 1.15 · 120.
    let r = e.process(&market(60, 120.0), at(60)).unwrap();
    assert_eq!(kinds(&r), ["auction_ended", "restored"]);
    assert!(r[0].reason.contains("market moved"), "{}", r[0].reason);
    assert_eq!(detail(&r[1], "equity"), "210");
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Restored);
    // Nothing changed hands.
    assert_eq!(e.ledger().snapshot(), before);
    // A late bid finds no auction.
    let r = e
        .process(
            &Event::Bid {
                account: id("alice"),
                bidder: "lp".into(),
            },
            at(120),
        )
        .unwrap();
    assert_eq!(kinds(&r), ["bid_refused"]);
    assert_ledger_invariants(&e);
}

#[test]
fn a_solvent_auction_becomes_insolvent_when_equity_falls_below_zero() {
    let mut e = engine_with(109.0, false);
    e.process(&check("alice"), t0()).unwrap();
    assert!(!e.case(&id("alice")).unwrap().auction.unwrap().insolvent);
    // BTC at 95: equity 100 − 140 = −40.
    let r = e.process(&market(60, 95.0), at(60)).unwrap();
    assert_eq!(kinds(&r), ["auction_ended", "auction_opened"]);
    let view = e.case(&id("alice")).unwrap().auction.unwrap();
    assert!(view.insolvent);
    assert_eq!(view.opened, at(60));
    assert_eq!(view.closes, at(60 + 3_600));
    // Its time up, the fund takes the rest and bears the 40.
    let r = e.process(&Event::Tick, at(60 + 3_600)).unwrap();
    assert!(kinds(&r).contains(&"fund_take"));
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Closed);
    assert_ledger_invariants(&e);
}

#[test]
fn an_insolvent_auction_goes_back_to_tier_1_when_the_account_is_solvent_again() {
    let mut e = engine_with(115.0, true);
    // Entry 115: equity −50, the insolvent auction.
    e.process(&check("alice"), t0()).unwrap();
    assert!(e.case(&id("alice")).unwrap().auction.unwrap().insolvent);
    // BTC at 110: equity 100 − 50 = 50, MM 110: solvent but short; the fund backstops at mark.
    let r = e.process(&market(60, 110.0), at(60)).unwrap();
    assert_eq!(r[0].kind, RecordKind::AuctionEnded);
    assert!(kinds(&r).contains(&"backstop_take"), "{:?}", kinds(&r));
    assert_eq!(r.last().unwrap().kind, RecordKind::Restored);
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Restored);
    assert!(e
        .health(&trader("alice"))
        .unwrap()
        .is_restored(0.15)
        .unwrap());
    assert_ledger_invariants(&e);
}

#[test]
fn one_engine_runs_a_whole_day() {
    // Entry 95: at 100 alice is healthy (equity 150, MM 100).
    let mut e = engine_with(95.0, true);
    assert!(e.process(&check("alice"), t0()).unwrap().is_empty());
    let mut spot = 100.0;
    let mut flagged_at = None;
    // A falling market, one snapshot an hour; the keeper checks alice after each.
    for hour in 1..=12 {
        spot -= 1.0;
        let t = hour * 3_600;
        e.process(&market(t, spot), at(t)).unwrap();
        let r = e.process(&check("alice"), at(t)).unwrap();
        if flagged_at.is_none() && r.iter().any(|x| x.kind == RecordKind::Flagged) {
            flagged_at = Some(spot);
            // Flagged at the market of the moment: equity 100 + 10·(S − 95) < S.
            let eq = Amount::parse_decimal(detail(&r[0], "equity")).unwrap();
            assert!((eq.to_f64() - (100.0 + 10.0 * (spot - 95.0))).abs() < 1e-6);
        }
    }
    // 100 + 10(S − 95) < S  ⇔  S < 94.44…: first at 94.
    assert_eq!(flagged_at, Some(94.0));
    // Every liquidation restored (the fund backstops at mark), on the same ledger.
    assert!(
        e.log()
            .iter()
            .filter(|r| r.kind == RecordKind::Flagged)
            .count()
            >= 1
    );
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Restored);
    assert_eq!(e.market().time(), at(12 * 3_600));
    assert_ledger_invariants(&e);
}

#[test]
fn a_market_update_is_all_or_nothing() {
    let mut e = engine_with(109.0, false);
    e.process(&check("alice"), t0()).unwrap();
    let health = e.health(&trader("alice")).unwrap();
    // A snapshot without BTC: alice's perpetual cannot be priced. Refused; the market stays.
    let text = format!(
        r#"{{"time": "{}", "rate": 0.0,
            "underlyings": [{{"name": "ETH", "spot": 10.0, "surface": {{"flat": 0.7}}}}],
            "collateral": [{{"asset": "USDC", "price": 1.0, "haircut": 0.0}}]}}"#,
        at(60)
    );
    let no_btc = ale_format::parse_market(&text).unwrap().snapshot;
    let err = e
        .process(&Event::Market(MarketUpdate::from(no_btc)), at(60))
        .unwrap_err();
    assert!(err.to_string().contains("BTC"), "{err}");
    assert_eq!(e.market().time(), t0());
    assert_eq!(e.health(&trader("alice")).unwrap(), health);
    // An older snapshot than the one in force: refused, naming the field.
    e.process(&market(120, 100.0), at(120)).unwrap();
    let err = e.process(&market(60, 100.0), at(180)).unwrap_err();
    assert!(err.to_string().contains("market.time"), "{err}");
    assert_eq!(e.market().time(), at(120));
    // Events are equal when they carry the same snapshot.
    let update = MarketUpdate::from(market_at(60, 100.0));
    assert_eq!(Event::Market(update.clone()), Event::Market(update.clone()));
    assert_ne!(
        Event::Market(update),
        Event::Market(MarketUpdate::from(market_at(60, 100.0)))
    );
}
