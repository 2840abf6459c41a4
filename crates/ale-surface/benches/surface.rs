//! Speed of the surface: fit one 25-quote smile (and the `regit-svi` crate on the same data as a
//! peer), σ(K, T) on a fitted surface (base and shocked view), a whole 10 × 30 chain.
//!
//! Run: `cargo bench -p ale-surface`.

use ale_surface::*;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;

/// Deterministic noise in [−1, 1] (a fixed LCG: the data are the same on every run).
fn noise(i: usize) -> f64 {
    let x = (i as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

fn smile_params(expiry_years: f64) -> SviParams {
    // A crypto-like smile that grows with T.
    let atm = 0.55f64.powi(2) * expiry_years;
    SviParams::new(
        0.6 * atm,
        0.35 * expiry_years.sqrt(),
        -0.3,
        0.02,
        0.25 * expiry_years.sqrt() + 0.02,
    )
    .unwrap()
}

fn smile_points(expiry_years: f64, n: usize, seed: usize) -> (Vec<f64>, Vec<f64>) {
    let p = smile_params(expiry_years);
    let sd = p.total_variance(0.0).sqrt();
    let k: Vec<f64> = (0..n)
        .map(|i| -3.0 * sd + 6.0 * sd * i as f64 / (n - 1) as f64)
        .collect();
    let vols = k
        .iter()
        .enumerate()
        .map(|(i, &x)| (p.total_variance(x) / expiry_years).sqrt() + 0.002 * noise(seed + i))
        .collect();
    (k, vols)
}

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

fn chain() -> (ForwardCurve, Vec<ExpiryQuotes>) {
    let expiries: [f64; 10] = [
        2.0 / 365.0,
        7.0 / 365.0,
        14.0 / 365.0,
        30.0 / 365.0,
        60.0 / 365.0,
        90.0 / 365.0,
        180.0 / 365.0,
        270.0 / 365.0,
        1.0,
        1.5,
    ];
    let spot = 95_000.0f64;
    let forwards: Vec<(f64, f64)> = expiries
        .iter()
        .map(|&t| (t, spot * (0.05 * t).exp()))
        .collect();
    let curve = ForwardCurve::new(spot, 0.0, &forwards).unwrap();
    let quotes = forwards
        .iter()
        .enumerate()
        .map(|(j, &(t, f))| {
            let (k, vols) = smile_points(t, 30, 100 * j);
            ExpiryQuotes {
                expiry_years: t,
                quotes: k
                    .iter()
                    .zip(&vols)
                    .map(|(&x, &v)| Quote::vol(f * x.exp(), v))
                    .collect(),
            }
        })
        .collect();
    (curve, quotes)
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
    let points: Vec<(f64, f64)> = (0..1024)
        .map(|i| {
            let t = 1.0 / 365.0 + 1.6 * (i as f64 * 0.618_033_988_7).fract();
            let strike =
                95_000.0 * (0.6f64 * (2.0 * (i as f64 * 0.414_213_562_3).fract() - 1.0)).exp();
            (strike, t)
        })
        .collect();
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
    let shock = Shock {
        spot_factor: 0.9,
        additive: TermScaled::sqrt_time(0.15, 30.0 / 365.0, 0.05, 0.60),
        vol_floor: 0.05,
        ..Shock::NONE
    };
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
