//! The figures of the venue that a criterion bench cannot hold: liquidation prices of
//! every account (one run takes seconds), the fast path against the single-account solver on a
//! sample, and the peak memory of the process holding the venue's engine.
//!
//! Usage: `cargo run --release -p ale-risk --example venue_figures -- [--runs N] [--compare N]`
//! (defaults: 2 runs, 300 accounts compared). Prints one JSON object.

use std::process::ExitCode;
use std::time::Instant;

use ale_risk::liq_batch::LiquidationLattice;
use ale_risk::synthetic::{synthetic_venue, VenueSpec};
use ale_risk::{Ramm, RiskEngine, Root};
use rayon::prelude::*;

/// Peak resident set size of this process, in MiB (Linux: VmHWM of /proc/self/status).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn flag(args: &[String], name: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a count")),
    }
}

fn same_root(a: Option<Root>, b: Option<Root>, rel_tol: f64) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a.spot - b.spot).abs() <= 2.5 * rel_tol * b.spot,
        _ => false,
    }
}

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("venue_figures: {e}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs = flag(&args, "--runs", 2)?.max(1);
    let compare = flag(&args, "--compare", 300)?;
    let venue = synthetic_venue(&VenueSpec::default());
    let book = venue.book().map_err(|e| e.to_string())?;
    drop(venue);
    let mut engine = RiskEngine::new(
        Ramm::default(),
        ale_risk::synthetic::synthetic_market(95_000.0, 3_500.0),
        book,
    );
    engine.remargin_all();
    let rss_engine = peak_rss_mib();
    let accounts = engine.book().accounts().len();

    let mut lattice_ms = Vec::new();
    let mut all_ms = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let lattice = LiquidationLattice::build(&engine);
        lattice_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let (results, stats) = engine.liquidation_prices_with(&lattice);
        all_ms.push(t.elapsed().as_secs_f64() * 1e3 + lattice_ms[lattice_ms.len() - 1]);
        last = Some((results, stats, lattice.pricings));
    }
    let rss_all = peak_rss_mib();
    let Some((results, stats, pricings)) = last else {
        return Err("no run".into());
    };
    let errors = results.iter().filter(|r| r.is_err()).count();
    let (mut below, mut above) = (0, 0);
    for l in results.iter().flatten().flatten() {
        below += usize::from(l.below.is_some());
        above += usize::from(l.above.is_some());
    }

    // The single-account solver on a sample, for the comparison and its time per account.
    let n = compare.min(accounts);
    let t = Instant::now();
    let exact: Vec<_> = (0..n)
        .into_par_iter()
        .map(|ix| engine.liquidation_prices(ix))
        .collect();
    let exact_ms = t.elapsed().as_secs_f64() * 1e3;
    let rel_tol = engine.policy().params.liq_rel_tol;
    let mismatches = (0..n)
        .filter(|&ix| match (&results[ix], &exact[ix]) {
            (Ok(Some(a)), Ok(Some(b))) => {
                !(same_root(a.below, b.below, rel_tol) && same_root(a.above, b.above, rel_tol))
            }
            (Ok(None), Ok(None)) | (Err(_), Err(_)) => false,
            _ => true,
        })
        .count();
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let json = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let opt = |x: Option<f64>| x.map_or("null".to_string(), |v| format!("{v:.1}"));
    println!(
        "{{\n  \"accounts\": {accounts},\n  \"threads\": {},\n  \"liquidation_all_ms\": [{}],\n  \"liquidation_all_best_ms\": {:.1},\n  \"lattice_ms\": [{}],\n  \"lattice_pricings\": {pricings},\n  \"approx_evaluations\": {},\n  \"exact_evaluations\": {},\n  \"exact_fallbacks\": {},\n  \"errors\": {errors},\n  \"roots_below\": {below},\n  \"roots_above\": {above},\n  \"compared_accounts\": {n},\n  \"compared_mismatches\": {mismatches},\n  \"single_account_solver_ms_per_account\": {:.2},\n  \"peak_rss_mib_engine\": {},\n  \"peak_rss_mib_with_liquidation\": {}\n}}",
        rayon::current_num_threads(),
        json(&all_ms),
        best(&all_ms),
        json(&lattice_ms),
        stats.approx_evaluations,
        stats.exact_evaluations,
        stats.exact_fallbacks,
        if n > 0 { exact_ms / n as f64 * rayon::current_num_threads() as f64 } else { 0.0 },
        opt(rss_engine),
        opt(rss_all),
    );
    Ok(())
}
