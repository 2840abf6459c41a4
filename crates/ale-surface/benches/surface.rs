//! Speed of the surface: fit one 25-quote smile (and the `regit-svi` crate on the same data as a
//! peer), σ(K, T) on a fitted surface (base and shocked view), a whole 10 × 30 chain.
//!
//! Run: `cargo bench -p ale-surface`.

use ale_surface::*;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;

mod common;
use common::*;

fn bench_fit(c: &mut Criterion) {
    let t = 0.25;
    let (k, vols) = smile_points(t, 25, 1);
    let config = FitConfig::default();
    let mut g = c.benchmark_group("fit_smile_25_quotes");
    g.bench_function("ale_surface::fit_smile", |b| {
        b.iter(|| fit_smile(black_box(t), black_box(&k), black_box(&vols), None, &config).unwrap())
    });
    let quotes: Vec<regit_svi::Quote> = k
        .iter()
        .zip(&vols)
        .map(|(&x, &v)| regit_svi::Quote::new(x, v * v * t, 1.0).unwrap())
        .collect();
    g.bench_function("regit_svi::calibrate_slice", |b| {
        b.iter(|| regit_svi::calibration::calibrate_slice(black_box(&quotes)).unwrap())
    });
    g.finish();
}

fn bench_chain(c: &mut Criterion) {
    let (curve, quotes) = chain();
    let config = FitConfig::default();
    c.bench_function("fit_surface_10x30", |b| {
        b.iter(|| fit_surface("BTC", black_box(&curve), black_box(&quotes), &config).unwrap())
    });
}

fn bench_eval(c: &mut Criterion) {
    let (curve, quotes) = chain();
    let (surface, _) = fit_surface("BTC", &curve, &quotes, &FitConfig::default()).unwrap();
    // Points spread over strikes and expiries, including between listed expiries.
    let points = eval_points();
    let mut g = c.benchmark_group("vol_strike_expiry");
    g.throughput(Throughput::Elements(points.len() as u64));
    g.bench_function("surface", |b| {
        b.iter(|| {
            let mut s = 0.0;
            for &(k, t) in &points {
                s += surface.vol(black_box(k), black_box(t));
            }
            s
        })
    });
    let shock = ramm_shock();
    g.bench_function("shocked_view", |b| {
        b.iter(|| {
            let view = surface.shocked(black_box(shock)).unwrap();
            let mut s = 0.0;
            for &(k, t) in &points {
                s += view.vol(black_box(k), black_box(t));
            }
            s
        })
    });
    g.finish();
    c.bench_function("check_arbitrage_10_expiries", |b| {
        b.iter_batched(
            || (),
            |_| check_arbitrage(black_box(&surface)),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench_fit, bench_chain, bench_eval);
criterion_main!(benches);
