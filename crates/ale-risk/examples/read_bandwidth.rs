//! Single-core read bandwidth of this machine, for the simple bound of docs/risk-performance.md:
//! the netting step streams table rows (cache-resident: the two tables hold ~2 MB) and writes
//! accounts × scenarios results (memory). Sums f64 buffers of 2 MiB (cache) and 512 MiB
//! (memory), best of several passes. Prints one JSON object.
use std::hint::black_box;
use std::time::Instant;

fn best_gb_per_s(buf: &[f64], passes: usize) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..passes {
        let t = Instant::now();
        // Four accumulators so that the adds are not latency-bound.
        let mut acc = [0.0f64; 4];
        for c in buf.chunks_exact(4) {
            for (a, x) in acc.iter_mut().zip(c) {
                *a += x;
            }
        }
        black_box(acc);
        best = best.min(t.elapsed().as_secs_f64());
    }
    (buf.len() * 8) as f64 / best / 1e9
}

fn main() {
    let small = vec![1.0f64; (2 << 20) / 8];
    let large = vec![1.0f64; (512 << 20) / 8];
    let cache = {
        // Repeat the small buffer so that one timing covers ~1 GB.
        let mut best = 0.0f64;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..500 {
                black_box(best_gb_per_s(black_box(&small), 1));
            }
            let gbs = 500.0 * (small.len() * 8) as f64 / t.elapsed().as_secs_f64() / 1e9;
            best = best.max(gbs);
        }
        best
    };
    let memory = best_gb_per_s(&large, 5);
    println!("{{\"read_gb_per_s_cache_2mib\": {cache:.1}, \"read_gb_per_s_memory_512mib\": {memory:.1}}}");
}
