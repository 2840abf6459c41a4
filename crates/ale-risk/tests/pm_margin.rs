//! `pm` as an engine policy (pm.md §9): the mapping from market and portfolio onto PMRM_2
//! inputs against a hand-built case, and liquidation prices re-margined at the reported spot.

mod common;

use ale_core::{Amount, OptionKind};
use ale_risk::pm::{
    evaluate, ExpiryMarket, ParamSet, PmAccount, PmConfig, PmMarket, PmOption, UnderlyingMarket,
};
use ale_risk::{MarginPolicy, PmPolicy, RiskError};
use common::*;

#[test]
fn the_margin_file_mapping_equals_a_hand_built_pmrm2_case() {
    let market = flat_market(95_000.0, 0.6, None);
    let mut acct = account(
        "a",
        "20000",
        &[
            ("BTC-26DEC26-100000-C", -2.0),
            ("BTC-26DEC26-90000-P", 1.0),
            ("BTC-PERP", 0.5),
        ],
    );
    acct.positions[2].entry_price = Some(94_000.0);
    acct.add_collateral(asset("BTC"), Amount::parse_decimal("0.25").unwrap())
        .unwrap();
    let policy = PmPolicy::default();
    let m = policy.account_margin(&market, &acct).unwrap();

    // The same account written directly in pm.md §1 terms.
    let e = expiry("26DEC26");
    let secs = e.seconds_from(now()) as u64;
    let pm_market = PmMarket {
        stable_price: 1.0,
        underlying: UnderlyingMarket {
            spot: 95_000.0,
            spot_confidence: 1.0,
            perp_price: 95_000.0,
            perp_confidence: 1.0,
            expiries: vec![ExpiryMarket {
                sec_to_expiry: secs,
                forward: 95_000.0,
                forward_confidence: 1.0,
                rate: 0.0,
                rate_confidence: 1.0,
                vol_confidence: 1.0,
            }],
        },
    };
    let pm_account = PmAccount {
        cash: 20_000.0,
        perp_position: 0.5,
        perp_unrealised_pnl: 0.5 * (95_000.0 - 94_000.0),
        perp_unrealised_funding: 0.0,
        options: vec![
            PmOption {
                sec_to_expiry: secs,
                strike: 100_000.0,
                kind: OptionKind::Call,
                amount: -2.0,
                mark_vol: 0.6,
            },
            PmOption {
                sec_to_expiry: secs,
                strike: 90_000.0,
                kind: OptionKind::Put,
                amount: 1.0,
                mark_vol: 0.6,
            },
        ],
        collaterals: vec![ale_risk::pm::Collateral {
            name: "BTC".into(),
            amount: 0.25,
            price: 95_000.0,
            confidence: 1.0,
            is_risk_cancelling: true,
            mm_haircut: 0.05,
            im_haircut: 0.0,
        }],
    };
    let direct = evaluate(
        &pm_market,
        &pm_account,
        &PmConfig::from_set(ParamSet::DeribitLike),
    )
    .unwrap();
    let tol = 1e-9 * direct.report.maintenance_margin.abs().max(1.0);
    assert!(
        (m.equity - direct.report.equity).abs() < tol,
        "{} vs {}",
        m.equity,
        direct.report.equity
    );
    assert!((m.maintenance - direct.report.maintenance_margin).abs() < tol);
    assert!((m.initial - direct.report.initial_margin).abs() < tol);
    assert!((m.equity - m.maintenance - direct.mm_surplus).abs() < tol);
    let sum: f64 = m.components.iter().sum();
    assert!((sum - m.maintenance).abs() < tol);
    let im_sum: f64 = m.im_components.unwrap().iter().sum();
    assert!((im_sum - m.initial).abs() < tol);
}

#[test]
fn pm_liquidation_prices_check_when_re_margined_at_the_reported_spot() {
    let acct = account(
        "b",
        "90000",
        &[
            ("BTC-26DEC26-100000-C", -3.0),
            ("BTC-26DEC26-80000-P", -2.0),
            ("BTC-PERP", 0.5),
        ],
    );
    let policy = PmPolicy::default();
    let market = flat_market(95_000.0, 0.6, None);
    let liq = policy.liquidation_prices(&market, &acct).unwrap().unwrap();
    let mut found = 0;
    for root in [liq.below, liq.above].into_iter().flatten() {
        found += 1;
        let mut pinned = acct.clone();
        pinned.positions[2].entry_price = Some(95_000.0);
        let moved = flat_market(root.spot, 0.6, None);
        let m = policy.account_margin(&moved, &pinned).unwrap();
        assert!(
            (m.equity - m.maintenance).abs() < 1e-5 * root.spot,
            "at {}: {} vs {}",
            root.spot,
            m.equity,
            m.maintenance
        );
    }
    assert!(found >= 1);
}

#[test]
fn pm_refuses_what_pmrm2_cannot_margin() {
    let market = flat_market(95_000.0, 0.6, None);
    let err = PmPolicy::default()
        .account_margin(&market, &account("c", "100", &[("BTC-26DEC26", 1.0)]))
        .unwrap_err();
    assert!(
        matches!(err, RiskError::Invalid { .. }) && err.to_string().contains("dated futures"),
        "{err}"
    );
    let p = ale_risk::policy_by_name("pm", Some("set = \"derive-test\"")).unwrap();
    assert_eq!(p.name(), "pm");
    assert!(ale_risk::policy_by_name("pm", Some("[margin]\nmm_factor = 50")).is_err());
}
