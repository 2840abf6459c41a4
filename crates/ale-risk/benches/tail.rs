//! Speed of the tail-risk engine (docs/tail-risk.md).
//!
//! - `one_account_10_positions_10k_paths`: everything for one 10-position account of the
//!   synthetic venue: 10,000 Monte Carlo paths of BTC and ETH, its instruments re-priced on
//!   every path, VaR / ES at 0.99 and 0.995 (target ≤ 5 ms);
//! - `venue_path_tables_10k_paths`: the pricing half of a venue-wide run alone (every listed
//!   instrument of the 100,000-account venue on 10,000 paths, in chunks of 2,048);
//! - `venue_100k_accounts_10k_paths`: the whole venue-wide run (target ≤ 15 s).
//!
//! Reproduce: `cargo bench -p ale-risk --bench tail` (the venue benches take minutes; filter
//! with `-- one_account`).

use ale_core::Account;
use ale_risk::synthetic::{synthetic_venue, VenueSpec};
use ale_risk::tail::table::{PathTable, RowSet};
use ale_risk::tail::{mc_paths, tail_risk, TailModel, TailParams};
use ale_risk::Book;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn book_of(accounts: &[Account]) -> Book {
    let mut b = Book::new();
    for a in accounts {
        b.upsert_account(a).expect("valid synthetic account");
    }
    b
}

fn one_account(c: &mut Criterion) {
    let venue = synthetic_venue(&VenueSpec {
        accounts: 2_000,
        ..VenueSpec::default()
    });
    let account = venue
        .accounts
        .iter()
        .find(|a| a.positions.len() == 10)
        .expect("an account with 10 positions")
        .clone();
    let market = venue.market;
    let model = TailModel::crypto_default();
    let params = TailParams {
        paths: 10_000,
        seed: 7,
        ..TailParams::default()
    };
    c.bench_function("tail/one_account_10_positions_10k_paths", |b| {
        b.iter(|| {
            let book = book_of(std::slice::from_ref(&account));
            let paths = mc_paths(&model, &market, &params).expect("paths");
            black_box(tail_risk(&book, &market, &paths, &params).expect("run"))
        })
    });
}

fn venue(c: &mut Criterion) {
    let venue = synthetic_venue(&VenueSpec::default());
    let book = book_of(&venue.accounts);
    let market = venue.market;
    let model = TailModel::crypto_default();
    let params = TailParams {
        paths: 10_000,
        seed: 7,
        ..TailParams::default()
    };
    let rows: usize = (0..book.underlyings().len())
        .map(|u| book.row_count(u))
        .sum();
    eprintln!(
        "venue: {} accounts, {} positions, {rows} instruments",
        book.accounts().len(),
        book.position_count()
    );
    let paths = mc_paths(&model, &market, &params).expect("paths");
    let mut g = c.benchmark_group("tail");
    g.sample_size(10);
    g.bench_function("venue_path_tables_10k_paths", |b| {
        b.iter(|| {
            for (u, asset) in book.underlyings().iter().enumerate() {
                let m = market.underlying(asset).expect("market");
                let set = RowSet::build(
                    m,
                    market.time(),
                    market.rate(),
                    book.rows(u).map(|l| &l.kind),
                    &params,
                );
                let pi = paths.index_of(asset.as_str()).expect("paths");
                for start in (0..params.paths).step_by(params.chunk_paths) {
                    let end = (start + params.chunk_paths).min(params.paths);
                    black_box(
                        PathTable::build(
                            m,
                            market.rate(),
                            &set,
                            &paths.log_return[pi][start..end],
                            &paths.vol_log_change[pi][start..end],
                            &params,
                        )
                        .expect("table"),
                    );
                }
            }
        })
    });
    g.bench_function("venue_100k_accounts_10k_paths", |b| {
        b.iter(|| {
            let paths = mc_paths(&model, &market, &params).expect("paths");
            black_box(tail_risk(&book, &market, &paths, &params).expect("run"))
        })
    });
    g.finish();
}

criterion_group!(benches, one_account, venue);
criterion_main!(benches);
