//! The inner loops of a `ramm` margin: netting an exposure's table rows and scanning the
//! scenarios. They run once per account and underlying on every re-margin (about 2·10⁸
//! multiply-adds for the venue), so they are written to vectorise, and the netting is
//! compiled for AVX-512 and AVX2 as well and picked at run time.
//!
//! Every variant does the same IEEE operations in the same order per element (a multiply, then
//! an add: Rust never fuses them), so the results are bit-identical whichever runs.

use crate::book::BookPosition;

/// `pnl[s] += Σ size·pnl_table[row·n + s]` and the same for `gamma`, over `positions`
/// (`n = pnl.len() = gamma.len()`).
pub(crate) fn net_rows(
    positions: &[BookPosition],
    pnl_table: &[f64],
    gamma_table: &[f64],
    pnl: &mut [f64],
    gamma: &mut [f64],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            unsafe { net_rows_avx512(positions, pnl_table, gamma_table, pnl, gamma) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { net_rows_avx2(positions, pnl_table, gamma_table, pnl, gamma) };
            return;
        }
    }
    net_rows_portable(positions, pnl_table, gamma_table, pnl, gamma);
}

#[inline(always)]
fn net_rows_body(
    positions: &[BookPosition],
    pnl_table: &[f64],
    gamma_table: &[f64],
    pnl: &mut [f64],
    gamma: &mut [f64],
) {
    let n = pnl.len();
    let gamma = &mut gamma[..n];
    for pos in positions {
        let row = pos.row as usize;
        let size = pos.size;
        let p = &pnl_table[row * n..(row + 1) * n];
        let g = &gamma_table[row * n..(row + 1) * n];
        for i in 0..n {
            pnl[i] += size * p[i];
            gamma[i] += size * g[i];
        }
    }
}

fn net_rows_portable(
    positions: &[BookPosition],
    pnl_table: &[f64],
    gamma_table: &[f64],
    pnl: &mut [f64],
    gamma: &mut [f64],
) {
    net_rows_body(positions, pnl_table, gamma_table, pnl, gamma);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn net_rows_avx2(
    positions: &[BookPosition],
    pnl_table: &[f64],
    gamma_table: &[f64],
    pnl: &mut [f64],
    gamma: &mut [f64],
) {
    net_rows_body(positions, pnl_table, gamma_table, pnl, gamma);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn net_rows_avx512(
    positions: &[BookPosition],
    pnl_table: &[f64],
    gamma_table: &[f64],
    pnl: &mut [f64],
    gamma: &mut [f64],
) {
    net_rows_body(positions, pnl_table, gamma_table, pnl, gamma);
}

/// The largest of `x` and 0, and the first index where it is reached (`None` when nothing
/// exceeds 0): the same answer as the running `if x > best` scan, four lanes at a time.
#[inline]
pub(crate) fn max_positive(x: &[f64]) -> (f64, Option<usize>) {
    let mut lanes = [0.0f64; 4];
    let mut chunks = x.chunks_exact(4);
    for c in &mut chunks {
        for l in 0..4 {
            lanes[l] = if c[l] > lanes[l] { c[l] } else { lanes[l] };
        }
    }
    let mut best = 0.0f64;
    for v in lanes.into_iter().chain(chunks.remainder().iter().copied()) {
        if v > best {
            best = v;
        }
    }
    if best > 0.0 {
        (best, x.iter().position(|&v| v == best))
    } else {
        (0.0, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_netting_variant_gives_the_same_bits() {
        let n = 65;
        let rows = 7;
        let table: Vec<f64> = (0..rows * n)
            .map(|i| ((i * 7919) % 1000) as f64 / 37.0 - 13.0)
            .collect();
        let gamma_table: Vec<f64> = table.iter().map(|x| x * 1e-3 + 0.1).collect();
        let positions: Vec<BookPosition> = [(0u32, 1.5), (3, -2.25), (6, 0.1), (3, 7.0)]
            .iter()
            .map(|&(row, size)| BookPosition {
                row,
                size,
                entry_price: None,
            })
            .collect();
        let run = |f: &dyn Fn(&mut [f64], &mut [f64])| {
            let mut p = vec![0.5; n];
            let mut g = vec![0.0; n];
            f(&mut p, &mut g);
            (p, g)
        };
        let reference = run(&|p, g| {
            for pos in &positions {
                let r = pos.row as usize;
                for i in 0..n {
                    p[i] += pos.size * table[r * n + i];
                    g[i] += pos.size * gamma_table[r * n + i];
                }
            }
        });
        let dispatched = run(&|p, g| net_rows(&positions, &table, &gamma_table, p, g));
        let portable = run(&|p, g| net_rows_portable(&positions, &table, &gamma_table, p, g));
        assert_eq!(dispatched, reference);
        assert_eq!(portable, reference);
    }

    #[test]
    fn max_positive_matches_the_running_scan() {
        let cases: [&[f64]; 5] = [
            &[],
            &[-1.0, -2.0],
            &[0.0, 3.0, 1.0, 3.0, 2.0, -1.0, 3.0],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
            &[9.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        ];
        for x in cases {
            let mut best = 0.0;
            let mut at = None;
            for (i, &v) in x.iter().enumerate() {
                if v > best {
                    best = v;
                    at = Some(i);
                }
            }
            assert_eq!(max_positive(x), (best, at), "{x:?}");
        }
    }
}
