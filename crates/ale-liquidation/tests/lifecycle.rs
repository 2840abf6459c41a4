//! The events that let one engine run a whole backtest: `SyncAccount` (an account changed
//! outside the engine), `Expire` (options and futures settle at the settlement price) and
//! `Fill` (any holder trades at a price). Each conserves value, replays, and is idempotent by id.
//!
//! Fixtures as in `tiers.rs`: BTC at 100, `static` policy.

mod common;

use ale_core::{Amount, Instrument};
use ale_liquidation::{Event, Holder, LiquidationParams, MarketUpdate, RecordKind, Unit};
use common::*;

/// 2026-12-25 08:00 UTC, the expiry of BTC-25DEC26 (31 days after T0).
fn expiry() -> i64 {
    31 * 86_400
}

fn inst(s: &str) -> Instrument {
    Instrument::parse(s).unwrap()
}

fn base() -> ale_liquidation::Engine {
    let mut e = engine("static", LiquidationParams::default());
    e.register_trader(
        &account(
            "alice",
            "1000",
            &[
                ("BTC-25DEC26", 2.0, Some(90.0)),
                ("BTC-25DEC26-100-C", -3.0, None),
            ],
        ),
        "alice",
        t0(),
    )
    .unwrap();
    e.register_trader(
        &account("bob", "5", &[("BTC-25DEC26-100-C", 3.0, None)]),
        "bob",
        t0(),
    )
    .unwrap();
    e.fund_insurance(&account("fund", "10000", &[]), None, t0())
        .unwrap();
    e
}

#[test]
fn sync_sets_balances_and_registers_new_accounts() {
    let mut e = base();
    let carol = account("carol", "300", &[("BTC-PERP", 1.0, Some(100.0))]);
    let r = e
        .process(
            &Event::SyncAccount {
                id: "s1".into(),
                account: carol.clone(),
                owner: "carol".into(),
            },
            at(10),
        )
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind, RecordKind::Synced);
    assert_eq!(cash_of(&e, &trader("carol")), d("300"));
    assert_eq!(qty_of(&e, &trader("carol"), "BTC-PERP"), d("1"));
    // alice topped up and rolled outside: her balances become the new state exactly.
    let alice = account("alice", "1500", &[("BTC-PERP", -1.0, Some(100.0))]);
    e.process(
        &Event::SyncAccount {
            id: "s2".into(),
            account: alice,
            owner: "alice".into(),
        },
        at(20),
    )
    .unwrap();
    assert_eq!(cash_of(&e, &trader("alice")), d("1500"));
    assert_eq!(qty_of(&e, &trader("alice"), "BTC-PERP"), d("-1"));
    assert_eq!(qty_of(&e, &trader("alice"), "BTC-25DEC26"), Amount::ZERO);
    assert_eq!(
        qty_of(&e, &trader("alice"), "BTC-25DEC26-100-C"),
        Amount::ZERO
    );
    assert_eq!(
        e.ledger()
            .balance_of(&trader("alice"), &Unit::CostBasis(inst("BTC-PERP"))),
        d("-100")
    );
    // The same id again: nothing.
    let n = e.log().len();
    let again = e
        .process(
            &Event::SyncAccount {
                id: "s1".into(),
                account: carol,
                owner: "carol".into(),
            },
            at(30),
        )
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(e.log().len(), n);
    assert_ledger_invariants(&e);
}

#[test]
fn sync_is_refused_under_liquidation() {
    let mut e = engine("static", LiquidationParams::default());
    e.register_trader(
        &account("alice", "100", &[("BTC-PERP", 10.0, Some(100.0))]),
        "alice",
        t0(),
    )
    .unwrap();
    e.fund_insurance(&account("fund", "0", &[]), Some(Amount::ZERO), t0())
        .unwrap();
    e.process(
        &Event::Market(MarketUpdate::from(market_at(60, 91.0))),
        at(60),
    )
    .unwrap();
    e.process(
        &Event::Check {
            account: id("alice"),
        },
        at(60),
    )
    .unwrap();
    assert!(e.case(&id("alice")).is_some());
    let r = e
        .process(
            &Event::SyncAccount {
                id: "s".into(),
                account: account("alice", "100000", &[]),
                owner: "alice".into(),
            },
            at(61),
        )
        .unwrap();
    assert_eq!(
        e.case(&id("alice")).map(|c| c.stage),
        Some(ale_liquidation::Stage::Auction)
    );
    assert_eq!(r[0].kind, RecordKind::Refused);
    assert_eq!(cash_of(&e, &trader("alice")), d("100"));
    assert_ledger_invariants(&e);
}

#[test]
fn expiry_settles_futures_and_options_for_every_holder() {
    let mut e = base();
    // Before 08:00 on the expiry: refused.
    let early = e
        .process(
            &Event::Expire {
                id: "x0".into(),
                instrument: inst("BTC-25DEC26"),
                settlement_price: 120.0,
            },
            at(expiry() - 1),
        )
        .unwrap();
    assert_eq!(early[0].kind, RecordKind::Refused);
    let fut = e
        .process(
            &Event::Expire {
                id: "x1".into(),
                instrument: inst("BTC-25DEC26"),
                settlement_price: 120.0,
            },
            at(expiry()),
        )
        .unwrap();
    assert_eq!(fut[0].kind, RecordKind::Settled);
    // alice: 2 · 120 − 2 · 90 = 60.
    assert_eq!(cash_of(&e, &trader("alice")), d("1060"));
    let opt = e
        .process(
            &Event::Expire {
                id: "x2".into(),
                instrument: inst("BTC-25DEC26-100-C"),
                settlement_price: 120.0,
            },
            at(expiry()),
        )
        .unwrap();
    assert_eq!(opt[0].kind, RecordKind::Settled);
    // alice pays 3 · 20 = 60; bob receives it.
    assert_eq!(cash_of(&e, &trader("alice")), d("1000"));
    assert_eq!(cash_of(&e, &trader("bob")), d("65"));
    for h in [trader("alice"), trader("bob")] {
        assert!(e.portfolio(&h).positions.is_empty(), "{h}");
    }
    // Idempotent by id; a second expiry of the same instrument is refused.
    assert!(e
        .process(
            &Event::Expire {
                id: "x2".into(),
                instrument: inst("BTC-25DEC26-100-C"),
                settlement_price: 50.0,
            },
            at(expiry()),
        )
        .unwrap()
        .is_empty());
    let twice = e
        .process(
            &Event::Expire {
                id: "x3".into(),
                instrument: inst("BTC-25DEC26-100-C"),
                settlement_price: 50.0,
            },
            at(expiry()),
        )
        .unwrap();
    assert_eq!(twice[0].kind, RecordKind::Refused);
    // A market after the expiry still builds (the expired instruments are no longer listed).
    e.process(
        &Event::Market(MarketUpdate::from(market_at(expiry() + 3600, 120.0))),
        at(expiry() + 3600),
    )
    .unwrap();
    // Bad input: an error, no panic.
    assert!(e
        .process(
            &Event::Expire {
                id: "x4".into(),
                instrument: inst("BTC-PERP"),
                settlement_price: 120.0,
            },
            at(expiry() + 3600),
        )
        .is_err());
    assert!(e
        .process(
            &Event::Expire {
                id: "x5".into(),
                instrument: inst("BTC-25DEC26"),
                settlement_price: f64::NAN,
            },
            at(expiry() + 3600),
        )
        .is_err());
    assert_ledger_invariants(&e);
}

#[test]
fn an_unpaid_settlement_goes_down_the_waterfall() {
    let mut e = engine("static", LiquidationParams::default());
    e.register_trader(
        &account("alice", "10", &[("BTC-25DEC26-100-C", -1.0, None)]),
        "alice",
        t0(),
    )
    .unwrap();
    e.fund_insurance(&account("fund", "1000", &[]), None, t0())
        .unwrap();
    let r = e
        .process(
            &Event::Expire {
                id: "x".into(),
                instrument: inst("BTC-25DEC26-100-C"),
                settlement_price: 150.0,
            },
            at(expiry()),
        )
        .unwrap();
    // Owes 50, has 10 (plus the premium it received): the rest from the fund.
    assert_eq!(r[0].kind, RecordKind::Settled);
    assert!(r.iter().any(|x| x.kind == RecordKind::Waterfall));
    assert_eq!(cash_of(&e, &trader("alice")), Amount::ZERO);
    assert!(cash_of(&e, &Holder::InsuranceFund) < d("1000"));
    assert_ledger_invariants(&e);
}

#[test]
fn any_holder_fills_at_a_price_and_a_flat_future_realises() {
    let mut e = base();
    e.register_bidder(
        bidder("lp", "lp", 0.9, 0.0, 1.0),
        &account("lp", "1000", &[("BTC-PERP", 2.0, Some(95.0))]),
        t0(),
    )
    .unwrap();
    let lp = Holder::Liquidator("lp".into());
    // The liquidator closes the perpetual it took at 101: realises 2 · (101 − 95) = 12.
    let r = e
        .process(
            &Event::Fill {
                id: "f1".into(),
                holder: lp.clone(),
                instrument: inst("BTC-PERP"),
                size: -2.0,
                price: 101.0,
            },
            at(5),
        )
        .unwrap();
    assert_eq!(r[0].kind, RecordKind::Trade);
    assert_eq!(cash_of(&e, &lp), d("1012"));
    assert!(e.portfolio(&lp).positions.is_empty());
    // The fund buys an option at 7: pays 7.
    e.process(
        &Event::Fill {
            id: "f2".into(),
            holder: Holder::InsuranceFund,
            instrument: inst("BTC-25DEC26-120-C"),
            size: 1.0,
            price: 7.0,
        },
        at(6),
    )
    .unwrap();
    assert_eq!(cash_of(&e, &Holder::InsuranceFund), d("9993"));
    // Duplicate id: nothing.
    assert!(e
        .process(
            &Event::Fill {
                id: "f2".into(),
                holder: Holder::InsuranceFund,
                instrument: inst("BTC-25DEC26-120-C"),
                size: 1.0,
                price: 7.0,
            },
            at(7),
        )
        .unwrap()
        .is_empty());
    // Not enough cash, bad price: refused, nothing moves.
    for (id, size, price) in [("f3", 10_000.0, 7.0), ("f4", 1.0, -1.0), ("f5", 0.0, 1.0)] {
        let r = e
            .process(
                &Event::Fill {
                    id: id.into(),
                    holder: Holder::InsuranceFund,
                    instrument: inst("BTC-25DEC26-120-C"),
                    size,
                    price,
                },
                at(8),
            )
            .unwrap();
        assert_eq!(r[0].kind, RecordKind::Refused, "{id}");
    }
    assert_eq!(cash_of(&e, &Holder::InsuranceFund), d("9993"));
    // Holders that do not trade, and unknown traders: errors.
    assert!(e
        .process(
            &Event::Fill {
                id: "f6".into(),
                holder: Holder::External,
                instrument: inst("BTC-PERP"),
                size: 1.0,
                price: 100.0,
            },
            at(9),
        )
        .is_err());
    assert!(e
        .process(
            &Event::Fill {
                id: "f7".into(),
                holder: trader("nobody"),
                instrument: inst("BTC-PERP"),
                size: 1.0,
                price: 100.0,
            },
            at(9),
        )
        .is_err());
    assert_ledger_invariants(&e);
}

#[test]
fn funding_moves_cash_between_perpetual_holders_and_the_market() {
    let mut e = engine("static", LiquidationParams::default());
    e.register_trader(
        &account("alice", "100", &[("BTC-PERP", 10.0, Some(100.0))]),
        "alice",
        t0(),
    )
    .unwrap();
    e.register_trader(
        &account("bob", "100", &[("BTC-PERP", -4.0, Some(100.0))]),
        "bob",
        t0(),
    )
    .unwrap();
    e.register_trader(
        &account("carol", "1", &[("BTC-PERP", 50.0, Some(100.0))]),
        "carol",
        t0(),
    )
    .unwrap();
    e.fund_insurance(&account("fund", "1000", &[]), None, t0())
        .unwrap();
    let funding = |id: &str| Event::Funding {
        id: id.into(),
        instrument: inst("BTC-PERP"),
        rate: 0.001,
        price: 100.0,
    };
    let r = e.process(&funding("fu1"), at(28_800)).unwrap();
    assert_eq!(r[0].kind, RecordKind::Funding);
    // alice pays 10 · 100 · 0.001 = 1; bob receives 0.4; carol owes 5, has 1: the rest down
    // the waterfall.
    assert_eq!(cash_of(&e, &trader("alice")), d("99"));
    assert_eq!(cash_of(&e, &trader("bob")), d("100.4"));
    assert_eq!(cash_of(&e, &trader("carol")), Amount::ZERO);
    assert!(r.iter().any(|x| x.kind == RecordKind::Waterfall));
    // Idempotent by id.
    assert!(e.process(&funding("fu1"), at(28_800)).unwrap().is_empty());
    assert_eq!(cash_of(&e, &trader("alice")), d("99"));
    // Not a perpetual; a rate that is not finite: errors.
    let bad = Event::Funding {
        id: "fu2".into(),
        instrument: inst("BTC-25DEC26"),
        rate: 0.001,
        price: 100.0,
    };
    assert!(e.process(&bad, at(28_801)).is_err());
    let bad = Event::Funding {
        id: "fu3".into(),
        instrument: inst("BTC-PERP"),
        rate: f64::INFINITY,
        price: 100.0,
    };
    assert!(e.process(&bad, at(28_801)).is_err());
    assert_ledger_invariants(&e);
}

#[test]
fn the_venue_of_the_moment_replaces_depth_and_bidder_limits() {
    use ale_liquidation::DepthModel;
    let mut e = base();
    e.register_bidder(
        bidder("lp", "lp", 0.9, 0.0, 1.0),
        &account("lp", "1000", &[]),
        t0(),
    )
    .unwrap();
    let thin = DepthModel::Linear {
        half_spread: 0.004,
        impact_per_notional: 1e-6,
    };
    let r = e
        .process(
            &Event::UpdateVenue {
                depth: thin.clone(),
                bidders: vec![bidder("lp", "lp", 0.8, 0.1, 0.5)],
            },
            at(60),
        )
        .unwrap();
    assert_eq!(r[0].kind, RecordKind::VenueUpdated);
    assert_eq!(e.params().depth, thin);
    let lp = e.bidders().next().unwrap();
    assert_eq!(
        (
            lp.max_price_fraction,
            lp.insolvent_premium_fraction,
            lp.max_share
        ),
        (0.8, 0.1, 0.5)
    );
    // Unknown bidder, another owner, a limit out of range, a bad book: errors, nothing changes.
    for bidders in [
        vec![bidder("nobody", "x", 0.8, 0.1, 0.5)],
        vec![bidder("lp", "mallory", 0.8, 0.1, 0.5)],
        vec![bidder("lp", "lp", 1.5, 0.1, 0.5)],
    ] {
        assert!(e
            .process(
                &Event::UpdateVenue {
                    depth: thin.clone(),
                    bidders,
                },
                at(61),
            )
            .is_err());
    }
    assert!(e
        .process(
            &Event::UpdateVenue {
                depth: DepthModel::Linear {
                    half_spread: -1.0,
                    impact_per_notional: 0.0,
                },
                bidders: vec![],
            },
            at(61),
        )
        .is_err());
    assert_eq!(e.params().depth, thin);
    assert_eq!(e.bidders().next().unwrap().max_price_fraction, 0.8);
    assert_ledger_invariants(&e);
}

#[test]
fn listing_after_an_expiry_keeps_the_other_marks() {
    let mut e = base();
    e.register_trader(
        &account(
            "dan",
            "1000",
            &[
                ("BTC-PERP", 1.0, Some(100.0)),
                ("BTC-26MAR27-120-C", -1.0, None),
            ],
        ),
        "dan",
        t0(),
    )
    .unwrap();
    let before = e.health(&trader("dan")).unwrap();
    for (k, i) in ["BTC-25DEC26", "BTC-25DEC26-100-C"].iter().enumerate() {
        e.process(
            &Event::Expire {
                id: format!("x{k}"),
                instrument: inst(i),
                settlement_price: 100.0,
            },
            at(expiry()),
        )
        .unwrap();
    }
    assert_eq!(e.health(&trader("dan")).unwrap(), before);
    // A new instrument listed after the expiry: dan's marks and margin do not move.
    e.process(
        &Event::Fill {
            id: "f".into(),
            holder: Holder::InsuranceFund,
            instrument: inst("BTC-26MAR27-80-P"),
            size: 1.0,
            price: 1.0,
        },
        at(expiry()),
    )
    .unwrap();
    assert_eq!(e.health(&trader("dan")).unwrap(), before);
    e.process(
        &Event::Market(MarketUpdate::from(market_at(expiry() + 60, 100.0))),
        at(expiry() + 60),
    )
    .unwrap();
    assert!(e.health(&trader("dan")).is_ok());
    assert_ledger_invariants(&e);
}
