//! Speed of a backtest (docs/backtest.md, "Speed").
//!
//! - `covid_2020_1000_accounts_ramm`: one policy (`ramm`) over the 30 days of `covid-2020`
//!   (hourly steps, 5-minute steps in the 48-hour crash window: 1,249 steps), 1,000 accounts on
//!   BTC and ETH with arrivals, coin collateral, futures, pools and credit;
//! - `covid_2020_1000_accounts_all`: the five policies on the same path and population.
//!
//! The targets are at 10,000 accounts (one policy ≤ 30 s, the five ≤ 2 min); those take
//! too long for criterion's samples and are measured with the `backtest_timing` example:
//! `cargo run --release -p ale-sim --example backtest_timing -- covid-2020 10000 ramm|all`.
//!
//! Reproduce: `cargo bench -p ale-sim --bench backtest` (about a minute and a half).

use std::hint::black_box;
use std::time::Duration;

use ale_sim::{run_backtest, standard_policies, BacktestSpec, DataSet, SimConfig};
use criterion::{criterion_group, criterion_main, Criterion};

fn spec(policies: Vec<ale_sim::PolicyRun>) -> BacktestSpec {
    BacktestSpec {
        scenario: "covid-2020".into(),
        policies,
        paths: 1,
        config: SimConfig {
            accounts: 1_000,
            ..SimConfig::default()
        },
    }
}

fn backtests(c: &mut Criterion) {
    let data = DataSet::locate(None).expect("the shared data or the test excerpt");
    let mut g = c.benchmark_group("backtest");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    let one = spec(vec![
        ale_sim::sim::policy_run("ramm").expect("a standard policy")
    ]);
    g.bench_function("covid_2020_1000_accounts_ramm", |b| {
        b.iter(|| black_box(run_backtest(&one, &data, &|| {}).expect("runs")))
    });
    let all = spec(standard_policies());
    g.bench_function("covid_2020_1000_accounts_all", |b| {
        b.iter(|| black_box(run_backtest(&all, &data, &|| {}).expect("runs")))
    });
    g.finish();
}

criterion_group!(benches, backtests);
criterion_main!(benches);
