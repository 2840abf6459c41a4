//! One timed run of the 10,000-account cascade with a breakdown of what happened (the criterion
//! bench `cascade` is the reference figure): `cargo run --release -p ale-liquidation --example
//! cascade_timing [N]`.

#[path = "../benches/support/cascade.rs"]
mod cascade;

use std::collections::BTreeMap;
use std::time::Instant;

/// CPU seconds of this process so far (Linux: utime + stime from /proc/self/stat, 100 Hz), or
/// NaN elsewhere: on a loaded machine, wall time overstates the work.
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            let utime: f64 = after.get(11)?.parse().ok()?;
            let stime: f64 = after.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let t = Instant::now();
    let (mut e, ids, now) = cascade::cascade_engine(n);
    println!("setup: {:?}", t.elapsed());
    let t = Instant::now();
    let cpu = cpu_s();
    let records = ale_liquidation::driver::run(&mut e, &ids, now).unwrap();
    println!(
        "cascade of {n}: {:?} wall, {:.2} s CPU, {} records",
        t.elapsed(),
        cpu_s() - cpu,
        records.len()
    );
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &records {
        *kinds.entry(r.kind.name()).or_default() += 1;
    }
    println!("{kinds:?}");
    e.ledger().audit().unwrap();
}
