//! The same workloads as `benches/surface.rs`, timed in CPU time of the running thread
//! (`/proc/thread-self/schedstat`, Linux) rather than wall time, so that the figures do not
//! depend on what else the (shared) machine runs. Median of [`BATCHES`] batches, each about
//! [`BATCH_CPU_NS`] of CPU time.
//!
//! Run: `cargo bench -p ale-surface --bench cpu_time`.

use ale_surface::*;
use std::hint::black_box;

mod common;
use common::*;

/// Batches per workload.
const BATCHES: usize = 7;
/// CPU time per batch, in ns.
const BATCH_CPU_NS: u64 = 300_000_000;

/// CPU time of this thread so far, in ns; `None` off Linux.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Median CPU ns per call of `f`, which performs `per_call` operations.
fn measure(name: &str, per_call: u64, mut f: impl FnMut()) {
    let Some(_) = thread_cpu_ns() else {
        println!("{name}: no per-thread CPU clock on this system");
        return;
    };
    // Calibrate the number of calls per batch.
    let mut calls = 1u64;
    loop {
        let t0 = thread_cpu_ns().unwrap_or(0);
        for _ in 0..calls {
            f();
        }
        let dt = thread_cpu_ns().unwrap_or(0) - t0;
        if dt > BATCH_CPU_NS / 10 {
            calls = (calls * BATCH_CPU_NS / dt.max(1)).max(1);
            break;
        }
        calls *= 4;
    }
    let mut per_op: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let t0 = thread_cpu_ns().unwrap_or(0);
            for _ in 0..calls {
                f();
            }
            let dt = thread_cpu_ns().unwrap_or(0) - t0;
            dt as f64 / (calls * per_call) as f64
        })
        .collect();
    per_op.sort_by(f64::total_cmp);
    let (lo, med, hi) = (per_op[0], per_op[BATCHES / 2], per_op[BATCHES - 1]);
    let fmt = |ns: f64| {
        if ns >= 1e6 {
            format!("{:.3} ms", ns / 1e6)
        } else if ns >= 1e3 {
            format!("{:.2} µs", ns / 1e3)
        } else {
            format!("{ns:.2} ns")
        }
    };
    println!(
        "{name:<44} {:>11} per op (CPU; min {}, max {})",
        fmt(med),
        fmt(lo),
        fmt(hi)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; filters are not supported, every workload runs.
    let t = 0.25;
    let (k, vols) = smile_points(t, 25, 1);
    let config = FitConfig::default();
    measure("fit_smile 25 quotes (ale-surface)", 1, || {
        black_box(fit_smile(black_box(t), &k, &vols, None, &config).unwrap());
    });
    let quotes: Vec<regit_svi::Quote> = k
        .iter()
        .zip(&vols)
        .map(|(&x, &v)| regit_svi::Quote::new(x, v * v * t, 1.0).unwrap())
        .collect();
    measure("calibrate_slice 25 quotes (regit-svi 2.0.0)", 1, || {
        black_box(regit_svi::calibration::calibrate_slice(black_box(&quotes)).unwrap());
    });
    let (curve, chain_quotes) = chain();
    measure("fit_surface 10 expiries x 30 strikes", 1, || {
        black_box(fit_surface("BTC", &curve, black_box(&chain_quotes), &config).unwrap());
    });
    let (surface, _) = fit_surface("BTC", &curve, &chain_quotes, &config).unwrap();
    let points = eval_points();
    let n = points.len() as u64;
    measure("vol(K, T) on the fitted surface", n, || {
        let mut s = 0.0;
        for &(strike, t) in &points {
            s += surface.vol(black_box(strike), black_box(t));
        }
        black_box(s);
    });
    let shock = ramm_shock();
    measure("vol(K, T) on a shocked view (view built)", n, || {
        let view = surface.shocked(black_box(shock)).unwrap();
        let mut s = 0.0;
        for &(strike, t) in &points {
            s += view.vol(black_box(strike), black_box(t));
        }
        black_box(s);
    });
    measure("check_arbitrage, 10 expiries", 1, || {
        black_box(check_arbitrage(black_box(&surface)));
    });
}
