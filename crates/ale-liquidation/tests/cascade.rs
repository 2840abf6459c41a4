//! A cascade at moderate scale on realistic portfolios (the bench's synthetic venue: options on
//! an SVI surface, perpetuals, futures, BTC collateral; `ramm`): every account liquidated at the
//! same instant ends restored or closed, and the ledger audits, replays and stays non-negative.

#[path = "../benches/support/cascade.rs"]
mod cascade;
mod common;

use ale_core::Amount;
use ale_liquidation::{driver, Holder, RecordKind, Stage};

#[test]
fn a_cascade_of_synthetic_accounts_keeps_every_invariant() {
    let (mut e, ids, now) = cascade::cascade_engine(300);
    driver::run(&mut e, &ids, now).unwrap();
    common::assert_ledger_invariants(&e);
    let mut flagged = 0;
    for id in &ids {
        if let Some(case) = e.case(id) {
            flagged += 1;
            match case.stage {
                Stage::Restored => {}
                Stage::Closed => assert!(e.portfolio(&Holder::Trader(id.clone())).is_flat()),
                other => panic!("{id} left in {other:?}"),
            }
        }
    }
    assert!(flagged >= 290, "{flagged} of 300 flagged");
    for r in e.log().iter().filter(|r| r.kind == RecordKind::Restored) {
        let get = |k: &str| {
            Amount::parse_decimal(&r.details.iter().find(|(x, _)| *x == k).unwrap().1).unwrap()
        };
        let m = get("maintenance_margin");
        let target = m
            .checked_add(
                m.checked_mul(
                    Amount::parse_decimal("0.15").unwrap(),
                    ale_core::Rounding::Up,
                )
                .unwrap(),
            )
            .unwrap();
        assert!(get("equity") >= target, "{r:?}");
    }
}
