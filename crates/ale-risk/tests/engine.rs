//! The batch engine against itself: incremental re-margin equals full re-margin, one account
//! from nothing equals the same account from the venue tables, the same numbers on any number
//! of threads.

mod common;

use ale_core::{Amount, Asset};
use ale_market::UnderlyingMarket;
use ale_risk::synthetic::{synthetic_market, synthetic_venue, VenueSpec};
use ale_risk::{margin_standalone, MarginPolicy, Ramm, RiskEngine, Static};

fn small_venue() -> ale_risk::synthetic::Venue {
    synthetic_venue(&VenueSpec {
        accounts: 400,
        options_per_underlying: 120,
        max_positions: 12,
        seed: 11,
    })
}

fn engine<P: MarginPolicy>(policy: P, venue: &ale_risk::synthetic::Venue) -> RiskEngine<P> {
    venue.engine(policy).unwrap()
}

fn moved_btc(spot: f64) -> UnderlyingMarket {
    let m = synthetic_market(spot, 3_500.0);
    m.underlying(&Asset::new("BTC").unwrap()).unwrap().clone()
}

#[test]
fn incremental_remargin_equals_full_remargin() {
    let venue = small_venue();
    let mut inc = engine(Ramm::default(), &venue);
    let touched = inc.update_underlying(moved_btc(91_000.0)).unwrap();
    assert!(touched > 0 && touched < venue.accounts.len());
    // An account change: more cash and one more position.
    let mut changed = venue.accounts[3].clone();
    changed
        .add_collateral(Asset::new("USDC").unwrap(), Amount::from_units(12_345))
        .unwrap();
    changed.add_position(ale_core::Position {
        instrument: venue.instruments[5].clone(),
        size: -1.5,
        entry_price: Some(94_000.0),
    });
    inc.upsert_account(&changed).unwrap();

    let mut moved = venue.market.clone();
    moved.insert_underlying(moved_btc(91_000.0));
    let mut accounts = venue.accounts.clone();
    accounts[3] = changed;
    let full = engine(
        Ramm::default(),
        &ale_risk::synthetic::Venue {
            market: moved,
            instruments: venue.instruments.clone(),
            accounts,
        },
    );
    assert_eq!(inc.margins(), full.margins());
}

#[test]
fn one_account_from_nothing_equals_the_venue_table() {
    let venue = small_venue();
    for policy in [
        Box::new(Ramm::default()) as Box<dyn MarginPolicy>,
        Box::new(Static::default()),
    ] {
        let e = engine(&policy, &venue);
        for ix in [0, 17, 123] {
            let alone = margin_standalone(&policy, &venue.market, &venue.accounts[ix]).unwrap();
            let from_table = e.margins()[ix].clone().unwrap();
            assert!(
                (alone.maintenance - from_table.maintenance).abs()
                    <= 1e-9 * alone.maintenance.max(1.0)
            );
            assert!((alone.equity - from_table.equity).abs() <= 1e-9 * alone.equity.abs().max(1.0));
        }
    }
}

#[test]
fn same_numbers_on_any_number_of_threads() {
    let venue = small_venue();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let four = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let a = one.install(|| engine(Ramm::default(), &venue).margins().to_vec());
    let b = four.install(|| engine(Ramm::default(), &venue).margins().to_vec());
    assert_eq!(a, b);
}

#[test]
fn scenario_pnl_matches_the_margin_netting() {
    let venue = small_venue();
    let e = engine(Ramm::default(), &venue);
    let u = e
        .book()
        .underlying_index(&Asset::new("BTC").unwrap())
        .unwrap();
    let n = e.table(u).unwrap().n_scenarios;
    let mut out = vec![0.0; venue.accounts.len() * n];
    e.scenario_pnl(u, &mut out).unwrap();
    // Single-underlying accounts whose worst loss is on BTC: price+vega = the worst weighted loss.
    let scenarios = e.table(u).unwrap().scenarios().to_vec();
    let mut checked = 0;
    for (ix, acct) in e.book().accounts().iter().enumerate() {
        let only_btc = acct.spans.len() == 1 && acct.spans[0].underlying == u;
        let has_eth_coll = acct.collateral.iter().any(|(a, _)| a.as_str() == "ETH");
        if !only_btc || has_eth_coll {
            continue;
        }
        let worst = out[ix * n..(ix + 1) * n]
            .iter()
            .zip(&scenarios)
            .map(|(p, s)| -p * s.weight)
            .fold(0.0f64, f64::max);
        let m = e.margins()[ix].clone().unwrap();
        let pv = m.components[0] + m.components[1];
        // The defined-risk cap can only lower price+vega.
        assert!(pv <= worst + 1e-6 * worst.max(1.0), "{ix}: {pv} > {worst}");
        checked += 1;
    }
    assert!(checked > 50);
}

/// The small venue without dated futures (pm margins options and perpetuals only).
fn pm_venue() -> ale_risk::synthetic::Venue {
    let mut venue = small_venue();
    for a in &mut venue.accounts {
        a.positions
            .retain(|p| !matches!(p.instrument, ale_core::Instrument::Future { .. }));
    }
    venue
}

#[test]
fn pm_from_the_venue_tables_equals_pm_priced_alone() {
    let venue = pm_venue();
    let policy = ale_risk::PmPolicy::default();
    let mut e = engine(policy.clone(), &venue);
    let tables: usize = (0..2)
        .filter_map(|u| e.table(u))
        .filter_map(|t| t.pm.as_ref())
        .map(|t| t.rows())
        .sum();
    assert!(
        tables > 200,
        "the pm tables hold the listed options ({tables})"
    );
    let check = |e: &RiskEngine<ale_risk::PmPolicy>, market: &ale_market::MarketSnapshot| {
        let mut compared = 0;
        for (ix, m) in e.margins().iter().enumerate() {
            // The account as the book holds it (positions grouped by underlying and row: the
            // order the sums run in).
            let a = e.book().to_account(e.book().account(ix));
            let alone = policy.account_margin(market, &a);
            assert_eq!(m, &alone, "{}", a.id);
            compared += usize::from(alone.is_ok());
        }
        assert!(
            compared > venue.accounts.len() / 2,
            "{compared} accounts margined"
        );
    };
    check(&e, &venue.market);
    // After a market update, the rebuilt table still gives the same bits.
    e.update_underlying(moved_btc(91_000.0)).unwrap();
    let mut moved = venue.market.clone();
    moved.insert_underlying(moved_btc(91_000.0));
    check(&e, &moved);
}
