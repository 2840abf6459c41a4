//! Auto-deleveraging (`LossMode::AutoDeleverage`): what the insurance fund and backstop credit
//! cannot bear is covered by closing the bankrupt account's futures and perpetuals against the
//! most profitable, most leveraged opposite positions, at the bankruptcy price.
//!
//! By hand: BTC at 100, `static` (MM 10 %). alice: 100 USDC, 10 BTC-PERP long at 115: equity
//! −50, gross notional 1,000, so λ = 50 / 1,000 and the bankruptcy price is 105 (at 105 her
//! equity is 0). Every unit closed there costs its counterparty 5 against the mark.

mod common;

use ale_core::{Account, Amount, Instrument, Position};
use ale_liquidation::{
    driver, Applied, Engine, Holder, LiquidationParams, LossMode, RecordKind, Stage, Unit,
};
use common::*;
use proptest::prelude::*;

fn params() -> LiquidationParams {
    LiquidationParams {
        loss_mode: LossMode::AutoDeleverage,
        ..LiquidationParams::default()
    }
}

fn detail<'a>(r: &'a ale_liquidation::Record, key: &str) -> &'a str {
    r.details
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no '{key}' in {r:?}"))
}

fn cost_of(e: &Engine, holder: &Holder, instrument: &str) -> Amount {
    e.ledger().balance_of(
        holder,
        &Unit::CostBasis(Instrument::parse(instrument).unwrap()),
    )
}

fn adl_steps(e: &Engine) -> Vec<(String, String, String)> {
    e.log()
        .iter()
        .filter(|r| r.kind == RecordKind::Waterfall)
        .map(|r| {
            let step = detail(r, "step").to_string();
            let who = if step == "auto_deleverage" {
                detail(r, "counterparty").to_string()
            } else {
                String::new()
            };
            (step, who, detail(r, "paid").to_string())
        })
        .collect()
}

/// The venue: alice (bankrupt), and around her
/// - frank: short 10 at 104, 71 USDC — profit 40, ratio 40/1,040, equity 111, leverage
///   1,000/111: rank 0.346;
/// - carol: short 5 at 110, 100 USDC — profit 50, ratio 50/550, equity 150, leverage 500/150:
///   rank 0.303;
/// - bob: short 10 at 120, 1,000 USDC — profit 200, ratio 200/1,200, equity 1,200, leverage
///   1,000/1,200: rank 0.139 (the most profit, but ranked last: little leverage);
/// - dave: long 5 at 90 (the same side as alice: never deleveraged);
/// - erin: short 5 at 98 (at a loss: not in the queue).
fn venue(fund: &str, credit: Option<&str>) -> Engine {
    let mut e = engine("static", params());
    for a in [
        account("alice", "100", &[("BTC-PERP", 10.0, Some(115.0))]),
        account("frank", "71", &[("BTC-PERP", -10.0, Some(104.0))]),
        account("carol", "100", &[("BTC-PERP", -5.0, Some(110.0))]),
        account("bob", "1000", &[("BTC-PERP", -10.0, Some(120.0))]),
        account("dave", "1000", &[("BTC-PERP", 5.0, Some(90.0))]),
        account("erin", "1000", &[("BTC-PERP", -5.0, Some(98.0))]),
    ] {
        e.register_trader(&a, a.id.as_str(), t0()).unwrap();
    }
    e.fund_insurance(&account("fund", fund, &[]), None, t0())
        .unwrap();
    if let Some(c) = credit {
        e.register_credit_provider("cp", d(c), t0()).unwrap();
    }
    e
}

fn equity(e: &mut Engine, name: &str) -> Amount {
    e.health(&trader(name)).unwrap().equity
}

/// No fund, no credit: ADL covers all 50. frank first: his profit caps him at 40 / 5 = 8 units
/// (he loses all of his 40 of profit, no more); carol then closes 2 (10); bob, dave and erin are
/// untouched. alice is flat, her cost basis settled with her cash: nothing is left for anyone.
#[test]
fn adl_closes_the_highest_ranked_opposite_positions_at_the_bankruptcy_price() {
    let mut e = venue("0", None);
    let before: Vec<Amount> = ["frank", "carol", "bob", "dave", "erin"]
        .iter()
        .map(|n| equity(&mut e, n))
        .collect();
    driver::run(&mut e, &[id("alice")], t0()).unwrap();
    assert_eq!(
        adl_steps(&e),
        [
            ("auto_deleverage".into(), "frank".into(), "40".into()),
            ("auto_deleverage".into(), "carol".into(), "10".into()),
        ]
    );
    let first = e
        .log()
        .iter()
        .find(|r| r.kind == RecordKind::Waterfall)
        .unwrap();
    assert_eq!(detail(first, "bankruptcy_price"), "105");
    assert_eq!(detail(first, "quantity"), "8");
    assert_eq!(first.at, at(3_600));
    // frank: −10 + 8 = −2 at cost −1,040 + 8·105 = −200; equity 71 + (−200 + 200) = 71.
    assert_eq!(qty_of(&e, &trader("frank"), "BTC-PERP"), d("-2"));
    assert_eq!(cost_of(&e, &trader("frank"), "BTC-PERP"), d("-200"));
    // carol: −5 + 2 = −3 at cost −550 + 210 = −340; equity 100 − 300 + 340 = 140.
    assert_eq!(qty_of(&e, &trader("carol"), "BTC-PERP"), d("-3"));
    assert_eq!(cost_of(&e, &trader("carol"), "BTC-PERP"), d("-340"));
    let after: Vec<Amount> = ["frank", "carol", "bob", "dave", "erin"]
        .iter()
        .map(|n| equity(&mut e, n))
        .collect();
    assert_eq!(before, [d("111"), d("150"), d("1200"), d("1050"), d("990")]);
    assert_eq!(after, [d("71"), d("140"), d("1200"), d("1050"), d("990")]);
    // Cash moved nowhere among the traders: ADL moves quantity and cost basis only (alice's
    // closed position settled its cost 1,150 − 1,050 = 100 with her 100 of cash).
    assert_eq!(cash_of(&e, &trader("frank")), d("71"));
    assert_eq!(cash_of(&e, &trader("alice")), Amount::ZERO);
    assert_eq!(qty_of(&e, &trader("alice"), "BTC-PERP"), Amount::ZERO);
    assert_eq!(cost_of(&e, &trader("alice"), "BTC-PERP"), Amount::ZERO);
    // Nothing fell on the fund or the socialised-loss account.
    assert_eq!(qty_of(&e, &Holder::InsuranceFund, "BTC-PERP"), Amount::ZERO);
    assert_eq!(cash_of(&e, &Holder::SocialisedLoss), Amount::ZERO);
    assert!(!e
        .log()
        .iter()
        .any(|r| r.kind == RecordKind::SocialisedCharge || r.kind == RecordKind::FundTake));
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Closed);
    assert_ledger_invariants(&e);
}

/// Fund 20 and credit 10 can bear 30 of the 50: ADL covers only the 20 left, closing at most
/// 20/50 of the position in its first pass (4 units): frank closes 4 (20). The fund then takes
/// the remaining 6 (alice's equity −30) and bears 20 within its equity; credit pays 10.
#[test]
fn adl_covers_only_what_the_fund_and_credit_cannot() {
    let mut e = venue("20", Some("10"));
    driver::run(&mut e, &[id("alice")], t0()).unwrap();
    let steps = adl_steps(&e);
    assert_eq!(
        steps[..3],
        [
            ("auto_deleverage".into(), "frank".into(), "20".into()),
            ("insurance_fund".into(), String::new(), "20".into()),
            ("backstop_credit".into(), String::new(), "10".into()),
        ]
    );
    // The fund's equity comes from the f64 risk engine (its entry price is cost / size), rounded
    // down: a nano-unit of it may be left over, and is recorded as socialised loss.
    for (step, _, paid) in &steps[3..] {
        assert_eq!(step, "socialised_loss");
        assert!(d(paid) <= d("0.00000001"), "{paid}");
    }
    assert_eq!(qty_of(&e, &trader("frank"), "BTC-PERP"), d("-6"));
    assert!((equity(&mut e, "frank").to_f64() - 91.0).abs() < 1e-8);
    assert_eq!(qty_of(&e, &Holder::InsuranceFund, "BTC-PERP"), d("6"));
    assert!(
        e.health(&Holder::InsuranceFund)
            .unwrap()
            .equity
            .to_f64()
            .abs()
            < 1e-8
    );
    assert_eq!(cash_of(&e, &Holder::SocialisedLoss), Amount::ZERO);
    assert_ledger_invariants(&e);
}

/// No profitable opposite position: nothing to deleverage; the loss is socialised pro rata to
/// settlement cash, as under `SocialisedProRata`.
#[test]
fn without_counterparties_the_loss_is_socialised_pro_rata() {
    let mut e = engine("static", params());
    for a in [
        account("alice", "100", &[("BTC-PERP", 10.0, Some(115.0))]),
        account("dave", "1000", &[("BTC-PERP", 5.0, Some(90.0))]),
        account("erin", "1000", &[("BTC-PERP", -5.0, Some(98.0))]),
    ] {
        e.register_trader(&a, a.id.as_str(), t0()).unwrap();
    }
    e.fund_insurance(&account("fund", "0", &[]), None, t0())
        .unwrap();
    driver::run(&mut e, &[id("alice")], t0()).unwrap();
    assert!(adl_steps(&e).iter().all(|s| s.0 != "auto_deleverage"));
    let charged: Vec<(String, String)> = e
        .log()
        .iter()
        .filter(|r| r.kind == RecordKind::SocialisedCharge)
        .map(|r| (detail(r, "trader").into(), detail(r, "charged").into()))
        .collect();
    assert_eq!(
        charged,
        [("dave".into(), "25".into()), ("erin".into(), "25".into())]
    );
    assert_eq!(cash_of(&e, &Holder::SocialisedLoss), Amount::ZERO);
    assert_ledger_invariants(&e);
}

/// A short bankrupt account: the bankruptcy price is below the mark, the longs pay it.
#[test]
fn a_short_bankrupt_account_is_deleveraged_against_longs() {
    let mut e = engine("static", params());
    // Short 10 at 85: equity 100 − 150 = −50; bankruptcy price 95.
    for a in [
        account("alice", "100", &[("BTC-PERP", -10.0, Some(85.0))]),
        account("gus", "500", &[("BTC-PERP", 20.0, Some(80.0))]),
    ] {
        e.register_trader(&a, a.id.as_str(), t0()).unwrap();
    }
    e.fund_insurance(&account("fund", "0", &[]), None, t0())
        .unwrap();
    driver::run(&mut e, &[id("alice")], t0()).unwrap();
    let r = e
        .log()
        .iter()
        .find(|r| r.kind == RecordKind::Waterfall)
        .unwrap();
    assert_eq!(detail(r, "step"), "auto_deleverage");
    assert_eq!(detail(r, "bankruptcy_price"), "95");
    assert_eq!(detail(r, "quantity"), "-10");
    assert_eq!(detail(r, "paid"), "50");
    // gus: 20 − 10 = 10 long at cost 1,600 − 950 = 650; equity 500 + 1,000 − 650 = 850 (was 900).
    assert_eq!(qty_of(&e, &trader("gus"), "BTC-PERP"), d("10"));
    assert_eq!(equity(&mut e, "gus"), d("850"));
    assert_eq!(cash_of(&e, &trader("alice")), Amount::ZERO);
    assert_ledger_invariants(&e);
}

#[derive(Debug, Clone)]
struct Other {
    long: bool,
    size_deci: u32,
    entry_pct: u32,
    cash: u32,
}

fn other() -> impl Strategy<Value = Other> {
    (any::<bool>(), 1u32..200, 60u32..140, 0u32..3_000).prop_map(
        |(long, size_deci, entry_pct, cash)| Other {
            long,
            size_deci,
            entry_pct,
            cash,
        },
    )
}

#[derive(Debug, Clone)]
struct AdlWorld {
    long: bool,
    future: bool,
    size_deci: u32,
    cash: u32,
    others: Vec<Other>,
    fund: u32,
    credit: Option<u32>,
    ramm: bool,
}

fn adl_world() -> impl Strategy<Value = AdlWorld> {
    (
        (any::<bool>(), any::<bool>(), 10u32..300, 0u32..200),
        prop::collection::vec(other(), 0..6),
        (0u32..300, prop::option::of(0u32..100), any::<bool>()),
    )
        .prop_map(
            |((long, future, size_deci, cash), others, (fund, credit, ramm))| AdlWorld {
                long,
                future,
                size_deci,
                cash,
                others,
                fund,
                credit,
                ramm,
            },
        )
}

/// The engine of a world: alice insolvent at once (or nearly), the others around her.
fn build(w: &AdlWorld) -> (Engine, &'static str, Vec<String>) {
    let instrument = if w.future { "BTC-25DEC26" } else { "BTC-PERP" };
    let sign = if w.long { 1.0 } else { -1.0 };
    let size = f64::from(w.size_deci) / 10.0;
    // Entry 20–60 % away from the mark, against the account: insolvent at once.
    let entry = 100.0 * (1.0 + sign * (0.2 + f64::from(w.size_deci % 40) / 100.0));
    let mut e = engine(if w.ramm { "ramm" } else { "static" }, params());
    let mut alice = Account::new(id("alice"));
    if w.cash > 0 {
        alice
            .add_collateral(usdc(), Amount::from_units(i64::from(w.cash)))
            .unwrap();
    }
    alice.add_position(Position {
        instrument: Instrument::parse(instrument).unwrap(),
        size: sign * size,
        entry_price: Some(entry),
    });
    e.register_trader(&alice, "alice", t0()).unwrap();
    let mut names = Vec::new();
    for (i, o) in w.others.iter().enumerate() {
        let name = format!("o{i}");
        let s = if o.long { 1.0 } else { -1.0 };
        let a = account(
            &name,
            &o.cash.to_string(),
            &[(
                instrument,
                s * f64::from(o.size_deci) / 10.0,
                Some(f64::from(o.entry_pct)),
            )],
        );
        e.register_trader(&a, &name, t0()).unwrap();
        names.push(name);
    }
    e.fund_insurance(&account("fund", &w.fund.to_string(), &[]), None, t0())
        .unwrap();
    if let Some(c) = w.credit {
        e.register_credit_provider("cp", Amount::from_units(i64::from(c)), t0())
            .unwrap();
    }
    (e, instrument, names)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random bankrupt accounts and counterparties: value conserved (every unit sums to zero),
    /// no cash negative but External's and the socialised loss, the log replays to the same
    /// ledger, every operation applied twice changes nothing; nobody loses more than its
    /// unrealised profit to ADL, same-side and losing positions are untouched, ADL covers no
    /// more than what the fund and credit could not bear, and the account ends closed.
    #[test]
    fn adl_conserves_value_and_takes_no_more_than_profit(w in adl_world()) {
        let (mut e, instrument, names) = build(&w);
        // Before: each other trader's equity and unrealised profit on the instrument.
        let mark = 100.0;
        let mut before = Vec::new();
        for n in &names {
            let h = trader(n);
            let q = qty_of(&e, &h, instrument).to_f64();
            let c = e.ledger().balance_of(&h, &Unit::CostBasis(Instrument::parse(instrument).unwrap())).to_f64();
            before.push((e.health(&h).unwrap().equity, q, q * mark - c));
        }
        let alice_equity = e.health(&trader("alice")).unwrap().equity;
        driver::run(&mut e, &[id("alice")], t0()).unwrap();
        assert_ledger_invariants(&e);
        let snapshot = e.ledger().snapshot();
        let mut again = e.ledger().clone();
        for r in e.log() {
            if let Some(op) = &r.op {
                prop_assert_eq!(again.apply(op), Ok(Applied::Duplicate));
            }
        }
        prop_assert_eq!(again.snapshot(), snapshot);
        if alice_equity.is_negative() {
            prop_assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Closed);
            prop_assert!(e.portfolio(&trader("alice")).is_flat());
        }
        // What each counterparty gave up, from the log, and against its equity and profit.
        let mut paid_total = 0.0;
        let mut paid_by: std::collections::BTreeMap<String, f64> = Default::default();
        for r in e.log().iter().filter(|r| r.kind == RecordKind::Waterfall) {
            if detail(r, "step") == "auto_deleverage" {
                let paid = Amount::parse_decimal(detail(r, "paid")).unwrap().to_f64();
                paid_total += paid;
                *paid_by.entry(detail(r, "counterparty").to_string()).or_default() += paid;
            }
        }
        for (n, (eq0, q0, profit0)) in names.iter().zip(&before) {
            let eq1 = e.health(&trader(n)).unwrap().equity;
            let paid = paid_by.get(n).copied().unwrap_or(0.0);
            let same_side = (*q0 > 0.0) == w.long;
            if same_side || *profit0 <= 0.0 {
                prop_assert_eq!(paid, 0.0, "{} is not in the queue", n);
            }
            // A deleveraged trader loses what the log says (to rounding), at most its profit,
            // and is charged nothing else (nothing was socialised onto it unless ADL ran out).
            prop_assert!(paid <= profit0.max(0.0) + 1e-6, "{n} paid {paid} > profit {profit0}");
            let lost = eq0.to_f64() - eq1.to_f64();
            let socialised: f64 = e
                .log()
                .iter()
                .filter(|r| r.kind == RecordKind::SocialisedCharge && detail(r, "trader") == n.as_str())
                .map(|r| Amount::parse_decimal(detail(r, "charged")).unwrap().to_f64())
                .sum();
            prop_assert!((lost - paid - socialised).abs() < 1e-6, "{n}: lost {lost}, ADL {paid}, socialised {socialised}");
        }
        // Insolvent from the start (no bidder: straight to the fund at the auction's end), ADL
        // bears no more of the loss than the fund and credit could not.
        if alice_equity.is_negative() {
            let loss = -alice_equity.to_f64();
            let capacity = f64::from(w.fund) + f64::from(w.credit.unwrap_or(0));
            prop_assert!(paid_total <= (loss - capacity).max(0.0) + 1e-6, "ADL {paid_total}, loss {loss}, capacity {capacity}");
        }
    }
}

/// The random worlds do deleverage (the properties are not vacuous): over 200 fixed worlds, ADL
/// runs in many of them, often with several counterparties.
#[test]
fn random_worlds_reach_auto_deleveraging() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut worlds_with_adl, mut trades) = (0, 0);
    for _ in 0..200 {
        let w = adl_world().new_tree(&mut runner).unwrap().current();
        let (mut e, _, _) = build(&w);
        driver::run(&mut e, &[id("alice")], t0()).unwrap();
        let n = e
            .log()
            .iter()
            .filter(|r| r.kind == RecordKind::Waterfall && detail(r, "step") == "auto_deleverage")
            .count();
        trades += n;
        worlds_with_adl += usize::from(n > 0);
    }
    assert!(
        worlds_with_adl >= 40,
        "ADL in {worlds_with_adl} of 200 worlds"
    );
    assert!(trades > worlds_with_adl, "{trades} trades");
}
