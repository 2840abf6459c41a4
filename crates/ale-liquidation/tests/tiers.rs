//! Hand-worked cases for each tier and for an insolvent account through the whole waterfall.
//!
//! The market: BTC at 100 (perpetual marked at spot), policy `static` (MM = 10 % and IM = 15 % of
//! a perpetual's notional), so that every figure can be worked by hand. The account under test,
//! alice: 100 USDC and 10 BTC-PERP long. Entry 109: equity 100 + 10·(100 − 109) = 10 < MM 100.

mod common;

use ale_core::Amount;
use ale_liquidation::{
    driver, Applied, AuctionKind, DepthLevel, DepthModel, Event, Holder, LiquidationParams,
    NotionalCap, RecordKind, SealedPricing, Stage,
};
use common::*;

fn kinds(e: &ale_liquidation::Engine) -> Vec<&'static str> {
    e.log()
        .iter()
        .filter(|r| r.kind != RecordKind::Opened)
        .map(|r| r.kind.name())
        .collect()
}

fn detail<'a>(r: &'a ale_liquidation::Record, key: &str) -> &'a str {
    r.details
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no '{key}' in {r:?}"))
}

fn close(a: Amount, want: f64, tol: f64) {
    assert!(
        (a.to_f64() - want).abs() <= tol,
        "got {a}, want {want} ± {tol}"
    );
}

fn alice(entry: f64) -> ale_core::Account {
    account("alice", "100", &[("BTC-PERP", 10.0, Some(entry))])
}

#[test]
fn tier1_backstop_takes_the_smallest_part_at_mark_with_its_fee() {
    let mut e = engine("static", LiquidationParams::default());
    e.register_trader(&alice(109.0), "alice", t0()).unwrap();
    e.fund_insurance(&account("fund", "1000000", &[]), None, t0())
        .unwrap();
    driver::run(&mut e, &[id("alice")], t0()).unwrap();
    assert_eq!(
        kinds(&e),
        ["flagged", "frozen", "backstop_take", "restored"]
    );
    // Selling x at mark costs only the fee 0.005·1000·x; MM falls to 100(1 − x).
    // 10 − 5x = 1.15·100·(1 − x)  ⇒  x = 105/110.
    let taken = qty_of(&e, &Holder::InsuranceFund, "BTC-PERP");
    let exact = 10.0 * 105.0 / 110.0;
    assert!(
        taken.to_f64() >= exact - 1e-9 && taken.to_f64() - exact < 1e-5,
        "{taken}"
    );
    assert_eq!(
        qty_of(&e, &trader("alice"), "BTC-PERP")
            .checked_add(taken)
            .unwrap(),
        d("10")
    );
    // Alice pays the loss on the part sold, 9 per BTC, and the fee.
    close(
        cash_of(&e, &trader("alice")),
        100.0 - 9.0 * exact - 5.0 * exact / 10.0,
        1e-3,
    );
    let take = e
        .log()
        .iter()
        .find(|r| r.kind == RecordKind::BackstopTake)
        .unwrap();
    let fee = Amount::parse_decimal(detail(take, "fee")).unwrap();
    // fee = notional · 0.5 %, rounded up.
    let notional = taken.checked_mul(d("100"), ale_core::Rounding::Up).unwrap();
    assert_eq!(
        fee,
        notional
            .checked_mul(d("0.005"), ale_core::Rounding::Up)
            .unwrap()
    );
    let h = e.health(&trader("alice")).unwrap();
    assert!(h.is_restored(0.15).unwrap());
    close(h.equity, 1.15 * h.maintenance.to_f64(), 1e-3);
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Restored);
    assert_ledger_invariants(&e);
}

#[test]
fn tier1_respects_capacity_and_the_takers_margin() {
    let mut e = engine("static", LiquidationParams::default());
    e.register_trader(&alice(109.0), "alice", t0()).unwrap();
    // Capacity 300 of notional: the fund takes 3 BTC and no more.
    e.fund_insurance(&account("fund", "1000000", &[]), Some(d("300")), t0())
        .unwrap();
    // A pool too poor to meet its own initial margin on any sizeable part takes little.
    e.register_pool("pool", &account("pool", "30", &[]), None, t0())
        .unwrap();
    e.process(
        &Event::Check {
            account: id("alice"),
        },
        t0(),
    )
    .unwrap();
    close(qty_of(&e, &Holder::InsuranceFund, "BTC-PERP"), 3.0, 1e-6);
    let pool = Holder::BackstopPool("pool".into());
    let h = e.health(&pool).unwrap();
    assert!(h.meets_initial(), "{h:?}");
    // 10 % of the rest is still 9 short of the buffer: the auction opens.
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Auction);
    assert_ledger_invariants(&e);
}

fn no_backstop_engine(params: LiquidationParams) -> ale_liquidation::Engine {
    let mut e = engine("static", params);
    e.register_trader(&alice(109.0), "alice", t0()).unwrap();
    e.fund_insurance(&account("fund", "1000000", &[]), Some(Amount::ZERO), t0())
        .unwrap();
    e
}

#[test]
fn tier2_dutch_auction_fill_guards_and_fee() {
    let mut e = no_backstop_engine(LiquidationParams::default());
    // Same owner as alice: refused however good its price.
    e.register_bidder(
        bidder("alice-desk", "alice", 0.95, 0.0, 1.0),
        &account("a-desk", "10000", &[]),
        t0(),
    )
    .unwrap();
    e.register_bidder(
        bidder("lp", "lp", 0.90, 0.0, 1.0),
        &account("lp", "10000", &[]),
        t0(),
    )
    .unwrap();
    e.register_bidder(
        bidder("late", "late", 0.50, 0.0, 1.0),
        &account("late", "10000", &[]),
        t0(),
    )
    .unwrap();
    driver::run(&mut e, &[id("alice")], t0()).unwrap();
    assert_eq!(
        kinds(&e),
        [
            "flagged",
            "frozen",
            "auction_opened",
            "bid_refused",
            "auction_fill",
            "restored"
        ]
    );
    let refused = e
        .log()
        .iter()
        .find(|r| r.kind == RecordKind::BidRefused)
        .unwrap();
    assert!(
        refused.reason.contains("self-liquidation"),
        "{}",
        refused.reason
    );
    let fill = e
        .log()
        .iter()
        .find(|r| r.kind == RecordKind::AuctionFill)
        .unwrap();
    // lp's limit 0.90 is reached at 900·(0.95 − 0.90)/0.25 = 180 s.
    assert_eq!(fill.at, at(180));
    assert_eq!(detail(fill, "bidder"), "lp");
    // B = 10 − 100 − 15 = −105; f = −105 / (−105 − 10·0.9) = 0.921053 (nudged up by 1e-6).
    let f: f64 = detail(fill, "fraction").parse().unwrap();
    assert!((f - 105.0 / 114.0).abs() < 2e-6, "{f}");
    let paid = Amount::parse_decimal(detail(fill, "paid")).unwrap();
    close(paid, 105.0 / 114.0 * 10.0 * 0.9, 1e-4);
    // Never above its limit: paid ≤ value · 0.90.
    let limit = Amount::parse_decimal(detail(fill, "limit")).unwrap();
    assert!(paid <= limit);
    // Fee = 10 % of the bidder's gain (value − paid), to the fee account.
    close(
        cash_of(&e, &Holder::Fees),
        0.1 * (105.0 / 114.0 * 10.0 * 0.1),
        1e-4,
    );
    close(
        qty_of(&e, &Holder::Liquidator("lp".into()), "BTC-PERP"),
        10.0 * 105.0 / 114.0,
        1e-4,
    );
    assert!(e
        .health(&trader("alice"))
        .unwrap()
        .is_restored(0.15)
        .unwrap());
    assert!(e
        .health(&Holder::Liquidator("lp".into()))
        .unwrap()
        .meets_initial());
    assert_ledger_invariants(&e);
}

#[test]
fn tier2_bidder_collateral_bounds_what_it_takes() {
    let mut e = no_backstop_engine(LiquidationParams::default());
    // No cash at all: it cannot pay for any part.
    e.register_bidder(
        bidder("broke", "broke", 0.95, 0.0, 1.0),
        &account("broke", "0", &[]),
        t0(),
    )
    .unwrap();
    // 2 USDC carries the initial margin (15 % of notional) of about 13 of notional only.
    e.register_bidder(
        bidder("poor", "poor", 0.95, 0.0, 1.0),
        &account("poor", "2", &[]),
        t0(),
    )
    .unwrap();
    e.process(
        &Event::Check {
            account: id("alice"),
        },
        t0(),
    )
    .unwrap();
    e.process(
        &Event::Bid {
            account: id("alice"),
            bidder: "broke".into(),
        },
        at(1),
    )
    .unwrap();
    let r = e.log().last().unwrap();
    assert_eq!(r.kind, RecordKind::BidRefused);
    assert!(r.reason.contains("initial margin"), "{}", r.reason);
    e.process(
        &Event::Bid {
            account: id("alice"),
            bidder: "poor".into(),
        },
        at(1),
    )
    .unwrap();
    let r = e.log().last().unwrap();
    assert_eq!(r.kind, RecordKind::AuctionFill);
    let f: f64 = detail(r, "fraction").parse().unwrap();
    // 150·f ≤ 2 + (gain − fee) ≈ 2 + 0.45·f  ⇒  f ≤ 0.0134; halving from 0.2212 gives 0.0138/2.
    assert!(f > 0.005 && f < 0.0134, "{f}");
    assert!(e
        .health(&Holder::Liquidator("poor".into()))
        .unwrap()
        .meets_initial());
    // A bid above the bidder's own limit is refused (price 0.95 at t = 0 > 0.5).
    e.register_bidder(
        bidder("cheap", "cheap", 0.5, 0.0, 1.0),
        &account("cheap", "100000", &[]),
        at(2),
    )
    .unwrap();
    e.process(
        &Event::Bid {
            account: id("alice"),
            bidder: "cheap".into(),
        },
        at(2),
    )
    .unwrap();
    let r = e.log().last().unwrap();
    assert_eq!(r.kind, RecordKind::BidRefused);
    assert!(r.reason.contains("limit"), "{}", r.reason);
    assert_ledger_invariants(&e);
}

#[test]
fn tier2_sealed_bid_second_price() {
    let params = LiquidationParams {
        auction_kind: AuctionKind::Sealed {
            window_s: 60.0,
            pricing: SealedPricing::SecondPrice,
        },
        ..LiquidationParams::default()
    };
    let mut e = no_backstop_engine(params);
    e.register_bidder(
        bidder("a", "a", 0.90, 0.0, 1.0),
        &account("a", "10000", &[]),
        t0(),
    )
    .unwrap();
    e.register_bidder(
        bidder("b", "b", 0.80, 0.0, 1.0),
        &account("b", "10000", &[]),
        t0(),
    )
    .unwrap();
    driver::run(&mut e, &[id("alice")], t0()).unwrap();
    let fill = e
        .log()
        .iter()
        .find(|r| r.kind == RecordKind::AuctionFill)
        .unwrap();
    assert_eq!(fill.at, at(60));
    assert_eq!(detail(fill, "bidder"), "a");
    assert_eq!(detail(fill, "discount"), "0.8");
    // f = −105 / (−105 − 10·0.8) at the second price.
    let f: f64 = detail(fill, "fraction").parse().unwrap();
    assert!((f - 105.0 / 113.0).abs() < 2e-6, "{f}");
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Restored);
    assert_ledger_invariants(&e);
}

#[test]
fn tier3_market_sale_with_linear_impact() {
    let mut e = no_backstop_engine(LiquidationParams::default());
    driver::run(&mut e, &[id("alice")], t0()).unwrap();
    assert_eq!(
        kinds(&e),
        [
            "flagged",
            "frozen",
            "auction_opened",
            "auction_ended",
            "market_sale",
            "restored"
        ]
    );
    let sale = e
        .log()
        .iter()
        .find(|r| r.kind == RecordKind::MarketSale)
        .unwrap();
    assert_eq!(sale.at, at(44_100));
    let sold = qty_of(&e, &Holder::External, "BTC-PERP")
        .checked_neg()
        .unwrap();
    // External held −10 (alice's other side); now it holds what it bought back.
    let bought = d("-10").checked_add(sold).unwrap().checked_neg().unwrap();
    let x = bought.to_f64() / 10.0;
    let n = 1000.0 * x;
    let slip = 0.001 + 1e-7 * n / 2.0;
    // 10 − slip·N = 1.15·100·(1 − x) at the smallest x.
    let gap = 10.0 - slip * n - 115.0 * (1.0 - x);
    assert!((-1e-6..1e-3).contains(&gap), "gap {gap}, x {x}");
    close(
        cash_of(&e, &trader("alice")),
        100.0 - 9.0 * 10.0 * x - slip * n,
        1e-3,
    );
    assert_ledger_invariants(&e);
}

#[test]
fn tier3_slippage_cap_then_the_fund_takes_the_rest() {
    let params = LiquidationParams {
        depth: DepthModel::Levels(vec![
            DepthLevel {
                slippage: 0.01,
                notional: 300.0,
            },
            DepthLevel {
                slippage: 0.20,
                notional: 1e9,
            },
        ]),
        max_slippage: 0.05,
        ..LiquidationParams::default()
    };
    let mut e = no_backstop_engine(params);
    driver::run(&mut e, &[id("alice")], t0()).unwrap();
    assert_eq!(
        kinds(&e),
        [
            "flagged",
            "frozen",
            "auction_opened",
            "auction_ended",
            "market_sale",
            "fund_take",
            "restored"
        ]
    );
    // Only the 300 of notional within 5 % slippage went to the market (3 BTC at 1 %).
    let sale = e
        .log()
        .iter()
        .find(|r| r.kind == RecordKind::MarketSale)
        .unwrap();
    close(
        Amount::parse_decimal(detail(sale, "quantity")).unwrap(),
        3.0,
        1e-6,
    );
    assert!(qty_of(&e, &Holder::InsuranceFund, "BTC-PERP").raw() > 0);
    assert_ledger_invariants(&e);
}

#[test]
fn per_underlying_notional_cap_limits_market_sales() {
    let params = LiquidationParams {
        notional_cap: Some(NotionalCap {
            window_s: 3_600,
            max_notional: d("500"),
        }),
        ..LiquidationParams::default()
    };
    let mut e = no_backstop_engine(params);
    e.register_trader(
        &account("bob", "100", &[("BTC-PERP", 10.0, Some(109.0))]),
        "bob",
        t0(),
    )
    .unwrap();
    driver::run(&mut e, &[id("alice"), id("bob")], t0()).unwrap();
    let mut sold = 0.0;
    for r in e.log().iter().filter(|r| r.kind == RecordKind::MarketSale) {
        sold += 100.0
            * Amount::parse_decimal(detail(r, "quantity"))
                .unwrap()
                .to_f64();
    }
    assert!(sold <= 500.0 + 1e-6 && sold > 499.0, "{sold}");
    for who in ["alice", "bob"] {
        assert_eq!(e.case(&id(who)).unwrap().stage, Stage::Restored);
    }
    assert_ledger_invariants(&e);
}

/// Insolvent: entry 115, equity 100 − 150 = −50, MM 100. The fund holds 20 USDC, backstop credit
/// 10, bob 1,000. No bidder: at the end of the insolvent auction the fund takes everything; its
/// equity is then 120 − 150 = −30, so it bears 20 of the 50; credit pays 10, the remaining 20 is
/// socialised, and charged to bob (the only other trader).
#[test]
fn insolvent_account_through_the_whole_waterfall() {
    let mut e = engine("static", LiquidationParams::default());
    e.register_trader(&alice(115.0), "alice", t0()).unwrap();
    e.register_trader(&account("bob", "1000", &[]), "bob", t0())
        .unwrap();
    e.fund_insurance(&account("fund", "20", &[]), None, t0())
        .unwrap();
    e.register_credit_provider("cp", d("10"), t0()).unwrap();
    driver::run(&mut e, &[id("alice")], t0()).unwrap();
    assert_eq!(
        kinds(&e),
        [
            "flagged",
            "frozen",
            "auction_opened",
            "auction_ended",
            "fund_take",
            "waterfall",
            "waterfall",
            "waterfall",
            "socialised_charge",
            "closed"
        ]
    );
    let steps: Vec<(String, String)> = e
        .log()
        .iter()
        .filter(|r| r.kind == RecordKind::Waterfall)
        .map(|r| (detail(r, "step").to_string(), detail(r, "paid").to_string()))
        .collect();
    assert_eq!(
        steps,
        [
            ("insurance_fund".to_string(), "20".to_string()),
            ("backstop_credit".to_string(), "10".to_string()),
            ("socialised_loss".to_string(), "20".to_string()),
        ]
    );
    assert_eq!(e.log()[e.log().len() - 1].at, at(3_600));
    assert_eq!(cash_of(&e, &Holder::InsuranceFund), d("150"));
    assert_eq!(
        cash_of(&e, &Holder::CreditProvider("cp".into())),
        Amount::ZERO
    );
    assert_eq!(cash_of(&e, &trader("bob")), d("980"));
    assert_eq!(cash_of(&e, &Holder::SocialisedLoss), Amount::ZERO);
    assert_eq!(cash_of(&e, &trader("alice")), Amount::ZERO);
    assert_eq!(qty_of(&e, &trader("alice"), "BTC-PERP"), Amount::ZERO);
    // The fund is back to zero equity: it holds the position it was paid to hold.
    assert_eq!(
        e.health(&Holder::InsuranceFund).unwrap().equity,
        Amount::ZERO
    );
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Closed);
    assert_ledger_invariants(&e);
}

/// The same account with a bidder that wants half the MM as premium: it bids at 1,800 s, when
/// the price is −50 − 100·0.5 = −100; the fund pays it 100 (20 of its own, 10 credit, 70
/// socialised onto bob) and the bidder pays a 10 % fee on its gain (−50 − (−100) = 50).
#[test]
fn insolvent_auction_bidder_paid_down_the_waterfall() {
    let mut e = engine("static", LiquidationParams::default());
    e.register_trader(&alice(115.0), "alice", t0()).unwrap();
    e.register_trader(&account("bob", "1000", &[]), "bob", t0())
        .unwrap();
    e.fund_insurance(&account("fund", "20", &[]), None, t0())
        .unwrap();
    e.register_credit_provider("cp", d("10"), t0()).unwrap();
    e.register_bidder(
        bidder("vulture", "v", 0.9, 0.5, 1.0),
        &account("vulture", "1000", &[]),
        t0(),
    )
    .unwrap();
    driver::run(&mut e, &[id("alice")], t0()).unwrap();
    let fill = e
        .log()
        .iter()
        .find(|r| r.kind == RecordKind::AuctionFill)
        .unwrap();
    assert_eq!(fill.at, at(1_800));
    assert_eq!(detail(fill, "paid"), "-100");
    assert!(
        Amount::parse_decimal(detail(fill, "paid")).unwrap()
            <= Amount::parse_decimal(detail(fill, "limit")).unwrap()
    );
    let v = Holder::Liquidator("vulture".into());
    assert_eq!(cash_of(&e, &v), d("1195"));
    assert_eq!(cash_of(&e, &Holder::Fees), d("5"));
    assert_eq!(cash_of(&e, &Holder::InsuranceFund), Amount::ZERO);
    assert_eq!(cash_of(&e, &trader("bob")), d("930"));
    assert_eq!(qty_of(&e, &v, "BTC-PERP"), d("10"));
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Closed);
    assert_ledger_invariants(&e);
}

#[test]
fn dust_account_is_closed_whole() {
    let mut e = engine("static", LiquidationParams::default());
    // 0.05 BTC (notional 5 < dust 10), entry 120: equity 0.5 − 1 = −0.5.
    e.register_trader(
        &account("tiny", "0.5", &[("BTC-PERP", 0.05, Some(120.0))]),
        "tiny",
        t0(),
    )
    .unwrap();
    e.fund_insurance(&account("fund", "1000", &[]), None, t0())
        .unwrap();
    driver::run(&mut e, &[id("tiny")], t0()).unwrap();
    assert_eq!(e.case(&id("tiny")).unwrap().stage, Stage::Closed);
    assert_eq!(qty_of(&e, &Holder::InsuranceFund, "BTC-PERP"), d("0.05"));
    assert_eq!(cash_of(&e, &trader("tiny")), Amount::ZERO);
    let steps: Vec<&str> = e
        .log()
        .iter()
        .filter(|r| r.kind == RecordKind::Waterfall)
        .map(|r| detail(r, "step"))
        .collect();
    assert_eq!(steps, ["account_cash", "insurance_fund"]);
    assert_ledger_invariants(&e);
}

#[test]
fn frozen_accounts_cannot_withdraw_or_add_risk_and_healthy_ones_are_left_alone() {
    let mut e = no_backstop_engine(LiquidationParams::default());
    e.register_trader(
        &account("rich", "1000", &[("BTC-PERP", 1.0, None)]),
        "rich",
        t0(),
    )
    .unwrap();
    let none = e
        .process(
            &Event::Check {
                account: id("rich"),
            },
            t0(),
        )
        .unwrap();
    assert!(none.is_empty());
    e.process(
        &Event::Check {
            account: id("alice"),
        },
        t0(),
    )
    .unwrap();
    let out = e
        .process(
            &Event::Withdraw {
                account: id("alice"),
                asset: usdc(),
                amount: d("1"),
            },
            at(5),
        )
        .unwrap();
    assert_eq!(out[0].kind, RecordKind::Refused);
    assert!(out[0].reason.contains("frozen"));
    let out = e
        .process(
            &Event::Withdraw {
                account: id("rich"),
                asset: usdc(),
                amount: d("900"),
            },
            at(6),
        )
        .unwrap();
    assert_eq!(out[0].kind, RecordKind::Withdrawal);
    let out = e
        .process(
            &Event::Withdraw {
                account: id("rich"),
                asset: usdc(),
                amount: d("90"),
            },
            at(7),
        )
        .unwrap();
    assert!(
        out[0].reason.contains("initial margin"),
        "{}",
        out[0].reason
    );
    // Orders: a frozen account may reduce its position, not increase it.
    let perp = ale_core::Instrument::parse("BTC-PERP").unwrap();
    let order = |who: &str, size: f64| Event::Order {
        account: id(who),
        instrument: perp.clone(),
        size,
    };
    let out = e.process(&order("alice", 1.0), at(8)).unwrap();
    assert_eq!(out[0].kind, RecordKind::Refused);
    assert!(out[0].reason.contains("frozen"), "{}", out[0].reason);
    let out = e.process(&order("alice", -1.0), at(8)).unwrap();
    assert_eq!(out[0].kind, RecordKind::Trade);
    close(qty_of(&e, &trader("alice"), "BTC-PERP"), 9.0, 0.0);
    // A healthy account trades within its initial margin (100 cash, 15 % of 100 per BTC).
    let out = e.process(&order("rich", 2.0), at(9)).unwrap();
    assert_eq!(out[0].kind, RecordKind::Trade);
    let out = e.process(&order("rich", 10.0), at(9)).unwrap();
    assert!(
        out[0].reason.contains("initial margin"),
        "{}",
        out[0].reason
    );
    assert!(
        e.process(&Event::Tick, at(1)).is_err(),
        "time must not go backwards"
    );
    assert_ledger_invariants(&e);
}

#[test]
fn operations_are_idempotent() {
    let mut e = no_backstop_engine(LiquidationParams::default());
    driver::run(&mut e, &[id("alice")], t0()).unwrap();
    let before = e.ledger().snapshot();
    let mut ledger = e.ledger().clone();
    for r in e.log() {
        if let Some(op) = &r.op {
            assert_eq!(ledger.apply(op), Ok(Applied::Duplicate));
        }
    }
    assert_eq!(ledger.snapshot(), before);
}
