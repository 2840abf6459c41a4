//! The engine on the venue (issue 5): 100 000 accounts on BTC and ETH, about 1 000
//! listed options per underlying, 1–30 positions per account, the default `ramm` grid
//! (65 scenarios). Run with `cargo bench -p ale-risk --bench engine`; `benches/peers/run.sh`
//! runs it together with the numpy peer on the same venue.
//!
//! Benches (group `venue`):
//! - `tables_build`: every listed instrument priced under every scenario (the pricing step);
//!   the table reports its pricing count so that pricings/s follow;
//! - `scenario_pnl_netting`: the netting step alone (`scenario_pnl` of both underlyings);
//! - `scenario_pnl_total`: both steps, the quantity the numpy peer computes; also on one thread;
//! - `remargin_all`: full re-margin with every `ramm` component;
//! - `update_underlying_btc_1pct`: incremental re-margin after BTC moves 1 %;
//! - `margin_of_10_positions`: one 10-position account against the venue's tables;
//! - `margin_standalone_10_positions`: the same account from nothing;
//! - `liquidation_lattice_build`, `liquidation_prices_first_1000`: the fast liquidation-price
//!   path, lattice built once then a labelled sample of 1 000 accounts (the whole venue is timed
//!   by the `venue_timing` example: one run takes tens of seconds).

use std::hint::black_box;
use std::time::Duration;

use ale_core::Asset;
use ale_risk::liq_batch::{liquidation_prices_fast, BatchStats, LiquidationLattice};
use ale_risk::synthetic::{synthetic_market, synthetic_venue, Venue, VenueSpec};
use ale_risk::table::UnderlyingTable;
use ale_risk::{margin_standalone, MarginPolicy, Ramm, RiskEngine};
use criterion::{criterion_group, criterion_main, Criterion};
use rayon::prelude::*;

fn build_engine(venue: &Venue) -> RiskEngine<Ramm> {
    venue
        .engine(Ramm::default())
        .expect("synthetic accounts are valid")
}

fn build_tables(engine: &RiskEngine<Ramm>) -> Vec<UnderlyingTable> {
    let market = engine.market();
    let book = engine.book();
    (0..book.underlyings().len())
        .into_par_iter()
        .map(|u| {
            UnderlyingTable::build(
                engine.policy().table_spec(),
                market
                    .underlying(&book.underlyings()[u])
                    .expect("listed underlying"),
                market.time(),
                market.rate(),
                1.0,
                book.rows(u).map(|l| &l.kind),
            )
            .expect("valid market")
        })
        .collect()
}

fn scenario_pnl_all(engine: &RiskEngine<Ramm>, out: &mut [Vec<f64>]) {
    for (u, o) in out.iter_mut().enumerate() {
        engine.scenario_pnl(u, o).expect("tables built");
    }
}

fn venue(c: &mut Criterion) {
    let venue = synthetic_venue(&VenueSpec::default());
    let mut engine = build_engine(&venue);
    let n_accounts = engine.book().accounts().len();
    let mut out: Vec<Vec<f64>> = (0..engine.book().underlyings().len())
        .map(|u| vec![0.0; n_accounts * engine.table(u).map_or(0, |t| t.n_scenarios)])
        .collect();
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread pool");
    let pricings: usize = (0..engine.book().underlyings().len())
        .filter_map(|u| engine.table(u))
        .map(|t| t.base.iter().filter(|b| b.is_option).count() * (t.n_scenarios + 1))
        .sum();
    println!(
        "venue: {n_accounts} accounts, {} positions, {} listed, {pricings} option pricings per table build, {} threads",
        engine.book().position_count(),
        engine.book().listed().len(),
        rayon::current_num_threads()
    );

    let mut g = c.benchmark_group("venue");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g.bench_function("tables_build", |b| {
        b.iter(|| black_box(build_tables(&engine)))
    });
    g.bench_function("tables_build_1_thread", |b| {
        b.iter(|| one_thread.install(|| black_box(build_tables(&engine))))
    });
    g.bench_function("scenario_pnl_netting", |b| {
        b.iter(|| scenario_pnl_all(&engine, &mut out))
    });
    g.bench_function("scenario_pnl_netting_1_thread", |b| {
        b.iter(|| one_thread.install(|| scenario_pnl_all(&engine, &mut out)))
    });
    g.bench_function("scenario_pnl_total", |b| {
        b.iter(|| {
            black_box(build_tables(&engine));
            scenario_pnl_all(&engine, &mut out)
        })
    });
    g.bench_function("scenario_pnl_total_1_thread", |b| {
        b.iter(|| {
            one_thread.install(|| {
                black_box(build_tables(&engine));
                scenario_pnl_all(&engine, &mut out)
            })
        })
    });
    g.bench_function("remargin_all", |b| b.iter(|| engine.remargin_all()));
    let btc = Asset::new("BTC").expect("symbol");
    let moved = [
        synthetic_market(95_000.0 * 1.01, 3_500.0),
        synthetic_market(95_000.0, 3_500.0),
    ]
    .map(|m| m.underlying(&btc).expect("BTC").clone());
    let mut flip = 0;
    g.bench_function("update_underlying_btc_1pct", |b| {
        b.iter(|| {
            flip ^= 1;
            black_box(
                engine
                    .update_underlying(moved[flip].clone())
                    .expect("valid"),
            )
        })
    });
    engine.remargin_all();
    let ix = (0..n_accounts)
        .find(|&i| engine.book().account(i).positions.len() == 10)
        .expect("a 10-position account");
    g.bench_function("margin_of_10_positions", |b| {
        b.iter(|| black_box(engine.margin_of(black_box(ix))))
    });
    let policy = Ramm::default();
    g.bench_function("margin_standalone_10_positions", |b| {
        b.iter(|| {
            black_box(margin_standalone(
                &policy,
                &venue.market,
                black_box(&venue.accounts[ix]),
            ))
        })
    });
    g.bench_function("liquidation_lattice_build", |b| {
        b.iter(|| black_box(LiquidationLattice::build(&engine)))
    });
    let lattice = LiquidationLattice::build(&engine);
    g.bench_function("liquidation_prices_first_1000", |b| {
        b.iter(|| {
            (0..1000usize).into_par_iter().for_each(|i| {
                let mut s = BatchStats::default();
                black_box(liquidation_prices_fast(&engine, &lattice, i, &mut s).ok());
            })
        })
    });
    g.finish();
}

criterion_group!(benches, venue);
criterion_main!(benches);
