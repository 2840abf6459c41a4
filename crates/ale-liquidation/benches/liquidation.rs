//! Benches: ledger transfers per second on one thread, and a cascade of 10,000 synthetic accounts
//! liquidated at once through the tiers (each re-margined after every step).
//!
//! `cargo bench -p ale-liquidation` (figures and the machine in docs/liquidation.md).

use std::time::{Duration, Instant};

use ale_core::{AccountId, Amount, Asset};
use ale_liquidation::{driver, Holder, Ledger, Op, OpId, Unit};
#[path = "support/cascade.rs"]
mod cascade;
use cascade::cascade_engine;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};

const TRANSFERS: usize = 100_000;

fn ledger_transfers(c: &mut Criterion) {
    let mut group = c.benchmark_group("ledger");
    group.throughput(Throughput::Elements(TRANSFERS as u64));
    group.bench_function("transfers_100k", |b| {
        b.iter_batched_ref(
            || {
                let mut ledger = Ledger::new();
                let usdc = ledger.unit(&Unit::Cash(Asset::new("USDC").unwrap()));
                let ext = ledger.holder(&Holder::External);
                let traders: Vec<_> = (0..1_000)
                    .map(|i| {
                        ledger.holder(&Holder::Trader(AccountId::new(&format!("t{i}")).unwrap()))
                    })
                    .collect();
                for (i, t) in traders.iter().enumerate() {
                    ledger
                        .apply(&Op::transfer(
                            OpId(i as u64),
                            ext,
                            *t,
                            usdc,
                            Amount::from_units(1_000_000),
                        ))
                        .unwrap();
                }
                let ops: Vec<Op> = (0..TRANSFERS)
                    .map(|k| {
                        let from = traders[(k * 7) % traders.len()];
                        let to = traders[(k * 13 + 1) % traders.len()];
                        let to = if to == from {
                            traders[(k * 13 + 2) % traders.len()]
                        } else {
                            to
                        };
                        Op::transfer(
                            OpId(10_000 + k as u64),
                            from,
                            to,
                            usdc,
                            Amount::from_raw(1 + (k as i128 % 997)),
                        )
                    })
                    .collect();
                (ledger, ops)
            },
            |(ledger, ops)| {
                for op in ops.iter() {
                    ledger.apply(op).unwrap();
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn cascade(c: &mut Criterion) {
    let mut group = c.benchmark_group("cascade");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("10k_accounts_through_the_tiers", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (mut e, ids, now) = cascade_engine(10_000);
                let t = Instant::now();
                let records = driver::run(&mut e, &ids, now).unwrap();
                total += t.elapsed();
                std::hint::black_box(records.len());
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, ledger_transfers, cascade);
criterion_main!(benches);
