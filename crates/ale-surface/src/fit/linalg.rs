//! Dense solves for the tiny systems of the fit (at most 6 unknowns).

// Small dense linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

/// Largest system solved here.
pub(crate) const MAX_DIM: usize = 6;

/// Solves `m·x = rhs` for the leading `n×n` block by Gaussian elimination with partial pivoting.
/// Returns `None` when the system is singular (pivot below `1e-13` of the largest entry) or
/// non-finite.
pub(crate) fn solve(
    m: &[[f64; MAX_DIM]; MAX_DIM],
    rhs: &[f64; MAX_DIM],
    n: usize,
) -> Option<[f64; MAX_DIM]> {
    debug_assert!(n <= MAX_DIM);
    let mut a = *m;
    let mut b = *rhs;
    let mut scale = 0.0f64;
    for row in a.iter().take(n) {
        for v in row.iter().take(n) {
            scale = scale.max(v.abs());
        }
    }
    if !(scale > 0.0) || !scale.is_finite() {
        return None;
    }
    let eps = 1e-13 * scale;
    for col in 0..n {
        let mut piv = col;
        for r in col + 1..n {
            if a[r][col].abs() > a[piv][col].abs() {
                piv = r;
            }
        }
        if !(a[piv][col].abs() > eps) {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        let inv = 1.0 / a[col][col];
        for r in col + 1..n {
            let f = a[r][col] * inv;
            if f != 0.0 {
                for c in col..n {
                    a[r][c] -= f * a[col][c];
                }
                b[r] -= f * b[col];
            }
        }
    }
    let mut x = [0.0; MAX_DIM];
    for row in (0..n).rev() {
        let mut s = b[row];
        for c in row + 1..n {
            s -= a[row][c] * x[c];
        }
        x[row] = s / a[row][row];
    }
    if x.iter().take(n).all(|v| v.is_finite()) {
        Some(x)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_and_detects_singular() {
        let mut m = [[0.0; MAX_DIM]; MAX_DIM];
        m[0][0] = 0.0;
        m[0][1] = 2.0;
        m[1][0] = 3.0;
        m[1][1] = 1.0;
        let rhs = [4.0, 5.0, 0.0, 0.0, 0.0, 0.0];
        let x = solve(&m, &rhs, 2).unwrap();
        assert!((x[1] - 2.0).abs() < 1e-14 && (x[0] - 1.0).abs() < 1e-14);
        m[1][0] = 0.0;
        m[1][1] = 4.0;
        assert!(solve(&m, &rhs, 2).is_none());
    }
}
