//! The quasi-explicit SVI fit (Zeliade, De Marco & Martini 2009), written from the method's
//! description.
//!
//! For fixed (m, σ), with y = (k − m)/σ, raw SVI reads w = a + d·y + c·√(y² + 1) with d = ρ·b·σ,
//! c = b·σ: linear in (a, d, c). The inner problem is then a weighted least-squares problem in
//! three unknowns under linear constraints, solved exactly by a small active-set enumeration
//! (the problem is convex: the first KKT point found is the optimum). Constraints on (a, d, c):
//!
//! - |d| ≤ c (|ρ| ≤ 1, b ≥ 0),
//! - c + |d| ≤ 2σ (Lee's moment bound: wing slopes b(1 ± ρ) ≤ 2),
//! - a + c·f(d/c) ≥ 0 with f the concave piecewise-linear interpolant of √(1 − ρ²) at
//!   ρ ∈ {0, ±0.6, ±0.9, ±1}: six linear rows, each sufficient for w ≥ 0 everywhere
//!   (w_min = a + √(c² − d²) ≥ a + c·f(d/c)); the exact condition is restored in the final
//!   refinement.
//!
//! The outer problem over (m, σ) is searched on a grid, then refined by Nelder–Mead in (m, ln σ).

// Small dense linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

/// Grid points in m for the outer search.
pub const GRID_M: usize = 9;
/// Grid points in σ (log-spaced) for the outer search.
pub const GRID_SIGMA: usize = 7;
/// Nelder–Mead runs of the outer search, from the best local minima of the grid.
pub const NELDER_MEAD_STARTS: usize = 3;
/// Nelder–Mead iteration limit of the outer search (per run).
pub const NELDER_MEAD_MAX_ITERATIONS: usize = 120;
/// Nelder–Mead stops when the simplex's objective values agree to this relative tolerance (the
/// five-parameter refinement that follows polishes further).
pub const NELDER_MEAD_TOLERANCE: f64 = 1e-4;
/// Iteration limit of the inner active-set solver (each iteration one ≤ 6×6 solve).
pub const ACTIVE_SET_MAX_ITERATIONS: usize = 40;
/// Nelder–Mead stops when the simplex is smaller than this in both m and ln σ.
pub const NELDER_MEAD_MIN_SIZE: f64 = 1e-3;
/// Lee's bound on the wing slopes of total variance, b(1 + |ρ|) ≤ this.
pub const MAX_WING_SLOPE: f64 = 2.0;

/// Number of linear constraints of the inner problem.
const N_CON: usize = 10;

/// The constraint rows A·x ≥ σ·β on x = (a, d, c): |d| ≤ c, c + |d| ≤ 2σ (Lee), and
/// a + c·f(d/c) ≥ 0 for f the concave piecewise-linear interpolant of √(1 − ρ²) at
/// ρ = 0, ±0.6, ±0.9, ±1 (below √(1 − ρ²), so each row is sufficient for w ≥ 0).
const A: [[f64; 3]; N_CON] = {
    // Chord slopes and intercepts of √(1 − ρ²) between the nodes, ρ ≤ 0 side.
    const S1: f64 = 4.358_898_943_540_674; // (√0.19 − 0)/0.1
    const S2: f64 = 1.213_700_352_153_108_7; // (0.8 − √0.19)/0.3
    const I2: f64 = 0.8 + S2 * 0.6;
    [
        [0.0, -1.0, 1.0],
        [0.0, 1.0, 1.0],
        [0.0, -1.0, -1.0],
        [0.0, 1.0, -1.0],
        [1.0, S1, S1],
        [1.0, S2, I2],
        [1.0, 1.0 / 3.0, 1.0],
        [1.0, -1.0 / 3.0, 1.0],
        [1.0, -S2, I2],
        [1.0, -S1, S1],
    ]
};
const BETA: [f64; N_CON] = [
    0.0,
    0.0,
    -MAX_WING_SLOPE,
    -MAX_WING_SLOPE,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
];

/// Points to fit in total-variance space.
pub(crate) struct Data<'a> {
    pub k: &'a [f64],
    pub w: &'a [f64],
    /// Weights of squared total-variance errors.
    pub c: &'a [f64],
}

/// A solution of the inner problem.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inner {
    pub objective: f64,
    pub a: f64,
    pub d: f64,
    pub c: f64,
}

/// Solves the inner constrained least squares at fixed (m, σ).
pub(crate) fn inner(data: &Data<'_>, m: f64, sigma: f64) -> Option<Inner> {
    let inv_s = 1.0 / sigma;
    // Normal equations over φ = (1, y, z).
    let (mut s1, mut sy, mut sz, mut syy, mut syz, mut szz) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut gw, mut gy, mut gz, mut sww) = (0.0, 0.0, 0.0, 0.0);
    for i in 0..data.k.len() {
        let y = (data.k[i] - m) * inv_s;
        let z = (y * y + 1.0).sqrt();
        let c = data.c[i];
        let w = data.w[i];
        let cy = c * y;
        let cz = c * z;
        s1 += c;
        sy += cy;
        sz += cz;
        syy += cy * y;
        syz += cy * z;
        szz += cz * z;
        gw += c * w;
        gy += cy * w;
        gz += cz * w;
        sww += c * w * w;
    }
    let ridge = 1e-14 * (s1 + syy + szz);
    let h = [
        [s1 + ridge, sy, sz],
        [sy, syy + ridge, syz],
        [sz, syz, szz + ridge],
    ];
    let g = [gw, gy, gz];
    let b: [f64; N_CON] = BETA.map(|beta| beta * sigma);
    let tol = 1e-12 * (1.0 + sigma);

    // Fast path: the unconstrained optimum (Cramer's rule on the 3×3 normal equations).
    if let Some(x) = solve3(&h, &g) {
        if violated(&x, &b, tol) == 0 {
            return Some(finish(&h, &g, sww, x));
        }
    }
    let x = active_set(&h, &g, &b, s1);
    Some(finish(&h, &g, sww, x))
}

/// Objective and round-off clean-up of an (admissible) inner solution.
fn finish(h: &[[f64; 3]; 3], g: &[f64; 3], sww: f64, x: [f64; 3]) -> Inner {
    let c = x[2].max(0.0);
    let d = x[1].clamp(-c, c);
    let floor = A[4..]
        .iter()
        .map(|row| -(row[1] * d + row[2] * c))
        .fold(f64::NEG_INFINITY, f64::max);
    let a = x[0].max(floor);
    let quad = h[0][0] * a * a
        + h[1][1] * d * d
        + h[2][2] * c * c
        + 2.0 * (h[0][1] * a * d + h[0][2] * a * c + h[1][2] * d * c);
    let objective = (sww - 2.0 * (g[0] * a + g[1] * d + g[2] * c) + quad).max(0.0);
    Inner { objective, a, d, c }
}

/// Primal active-set method for min ½xᵀHx − gᵀx s.t. A·x ≥ b, from a feasible start
/// (a = g₀/H₀₀ clamped ≥ 0, d = c = 0). Each step solves the equality-constrained problem on the
/// working set through H⁻¹ and the (≤ 3×3) Schur complement A_W·H⁻¹·A_Wᵀ. Every iterate is
/// feasible; after [`ACTIVE_SET_MAX_ITERATIONS`] the current (feasible) iterate is returned.
fn active_set(h: &[[f64; 3]; 3], g: &[f64; 3], b: &[f64; N_CON], scale: f64) -> [f64; 3] {
    let mut x = [(g[0] / h[0][0]).max(0.0), 0.0, 0.0];
    if !x[0].is_finite() {
        x[0] = 0.0;
    }
    let Some(hinv) = inverse3(h) else {
        return x;
    };
    let mul = |v: &[f64; 3]| -> [f64; 3] {
        [
            hinv[0][0] * v[0] + hinv[0][1] * v[1] + hinv[0][2] * v[2],
            hinv[1][0] * v[0] + hinv[1][1] * v[1] + hinv[1][2] * v[2],
            hinv[2][0] * v[0] + hinv[2][1] * v[1] + hinv[2][2] * v[2],
        ]
    };
    let dot = |u: &[f64; 3], v: &[f64; 3]| u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
    // H⁻¹·aᵢ for every constraint row.
    let hinv_a: [[f64; 3]; N_CON] = A.map(|row| mul(&row));
    let mut working: [usize; 3] = [0; 3];
    let mut n_w = 0usize;
    let mut degenerate = false;
    for _ in 0..ACTIVE_SET_MAX_ITERATIONS {
        let r = [
            g[0] - dot(&h[0], &x),
            g[1] - dot(&h[1], &x),
            g[2] - dot(&h[2], &x),
        ];
        let u = mul(&r);
        let mut p = u;
        let mut lambda = [0.0; 3];
        if n_w > 0 {
            let mut s = [[0.0; 3]; 3];
            let mut rhs = [0.0; 3];
            for i in 0..n_w {
                for j in 0..n_w {
                    s[i][j] = dot(&A[working[i]], &hinv_a[working[j]]);
                }
                rhs[i] = -dot(&A[working[i]], &u);
            }
            let Some(l) = solve_small(&s, &rhs, n_w) else {
                break;
            };
            lambda = l;
            if n_w == 3 {
                // Three independent active rows pin x: the step is exactly zero.
                p = [0.0; 3];
            } else {
                for j in 0..n_w {
                    for (pk, mk) in p.iter_mut().zip(&hinv_a[working[j]]) {
                        *pk += lambda[j] * mk;
                    }
                }
            }
        }
        let p_size = p[0].abs().max(p[1].abs()).max(p[2].abs());
        // Zero up to the round-off of forming p from u and the multipliers.
        let u_size = u[0].abs().max(u[1].abs()).max(u[2].abs());
        let x_size = x[0].abs().max(x[1].abs()).max(x[2].abs());
        if p_size <= 1e-10 * (u_size + x_size) + 1e-300 {
            // Stationary on the working set: done if every multiplier is ≥ 0, else drop one with
            // a negative multiplier — the most negative, or after a degenerate (zero-length)
            // step the lowest-numbered (Bland's rule, which cannot cycle).
            let threshold = -1e-12 * (1.0 + scale);
            let mut drop = None;
            let mut worst_l = threshold;
            for (j, &l) in lambda.iter().enumerate().take(n_w) {
                if l < threshold {
                    if degenerate {
                        if drop.is_none_or(|d: usize| working[j] < working[d]) {
                            drop = Some(j);
                        }
                    } else if l < worst_l {
                        worst_l = l;
                        drop = Some(j);
                    }
                }
            }
            match drop {
                None => return x,
                Some(j) => {
                    working[j] = working[n_w - 1];
                    n_w -= 1;
                }
            }
            continue;
        }
        // Ratio test against the constraints outside the working set.
        let mut alpha = 1.0;
        let mut blocking = None;
        for (ci, row) in A.iter().enumerate() {
            if working[..n_w].contains(&ci) {
                continue;
            }
            let ap = dot(row, &p);
            if ap < 0.0 {
                let slack = dot(row, &x) - b[ci];
                let step = slack.max(0.0) / -ap;
                if step < alpha {
                    alpha = step;
                    blocking = Some(ci);
                }
            }
        }
        degenerate = alpha == 0.0;
        for (xk, pk) in x.iter_mut().zip(&p) {
            *xk += alpha * pk;
        }
        if let Some(ci) = blocking {
            if n_w < 3 {
                working[n_w] = ci;
                n_w += 1;
            } else {
                break;
            }
        }
    }
    x
}

/// Inverse of a symmetric 3×3 matrix; `None` when (nearly) singular.
fn inverse3(h: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let c00 = h[1][1] * h[2][2] - h[1][2] * h[2][1];
    let c01 = h[1][2] * h[2][0] - h[1][0] * h[2][2];
    let c02 = h[1][0] * h[2][1] - h[1][1] * h[2][0];
    let det = h[0][0] * c00 + h[0][1] * c01 + h[0][2] * c02;
    let scale = (h[0][0] * h[1][1] * h[2][2]).abs();
    if !(det.abs() > 1e-13 * scale) {
        return None;
    }
    let inv = 1.0 / det;
    let c11 = h[0][0] * h[2][2] - h[0][2] * h[2][0];
    let c12 = h[0][1] * h[2][0] - h[0][0] * h[2][1];
    let c22 = h[0][0] * h[1][1] - h[0][1] * h[1][0];
    let m = [
        [c00 * inv, c01 * inv, c02 * inv],
        [c01 * inv, c11 * inv, c12 * inv],
        [c02 * inv, c12 * inv, c22 * inv],
    ];
    m.iter().flatten().all(|v| v.is_finite()).then_some(m)
}

/// Solves the leading n×n (n ≤ 3) block of a symmetric system.
fn solve_small(s: &[[f64; 3]; 3], rhs: &[f64; 3], n: usize) -> Option<[f64; 3]> {
    match n {
        1 => {
            let x = rhs[0] / s[0][0];
            (x.is_finite() && s[0][0].abs() > 1e-300).then_some([x, 0.0, 0.0])
        }
        2 => {
            let det = s[0][0] * s[1][1] - s[0][1] * s[1][0];
            if !(det.abs() > 1e-13 * (s[0][0] * s[1][1]).abs()) {
                return None;
            }
            let x0 = (rhs[0] * s[1][1] - s[0][1] * rhs[1]) / det;
            let x1 = (s[0][0] * rhs[1] - s[1][0] * rhs[0]) / det;
            Some([x0, x1, 0.0])
        }
        _ => solve3(s, rhs),
    }
}

/// Bit i set when constraint i is violated at x.
#[inline]
fn violated(x: &[f64; 3], b: &[f64; N_CON], tol: f64) -> u32 {
    let mut mask = 0;
    for ci in 0..N_CON {
        if A[ci][0] * x[0] + A[ci][1] * x[1] + A[ci][2] * x[2] < b[ci] - tol {
            mask |= 1 << ci;
        }
    }
    mask
}

/// Solves the symmetric 3×3 system h·x = g by Cramer's rule; `None` when (nearly) singular.
#[inline]
fn solve3(h: &[[f64; 3]; 3], g: &[f64; 3]) -> Option<[f64; 3]> {
    let c00 = h[1][1] * h[2][2] - h[1][2] * h[2][1];
    let c01 = h[1][2] * h[2][0] - h[1][0] * h[2][2];
    let c02 = h[1][0] * h[2][1] - h[1][1] * h[2][0];
    let det = h[0][0] * c00 + h[0][1] * c01 + h[0][2] * c02;
    let scale = h[0][0] * h[1][1] * h[2][2];
    if !(det.abs() > 1e-13 * scale.abs()) {
        return None;
    }
    let inv = 1.0 / det;
    let c11 = h[0][0] * h[2][2] - h[0][2] * h[2][0];
    let c12 = h[0][1] * h[2][0] - h[0][0] * h[2][1];
    let c22 = h[0][0] * h[1][1] - h[0][1] * h[1][0];
    // h is symmetric: the cofactor matrix is too.
    let x = [
        (c00 * g[0] + c01 * g[1] + c02 * g[2]) * inv,
        (c01 * g[0] + c11 * g[1] + c12 * g[2]) * inv,
        (c02 * g[0] + c12 * g[1] + c22 * g[2]) * inv,
    ];
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Raw SVI (a, b, ρ, m, σ) from the inner solution.
pub(crate) fn to_raw(inner: &Inner, m: f64, sigma: f64) -> [f64; 5] {
    let b = inner.c / sigma;
    let rho = if inner.c > 0.0 {
        (inner.d / inner.c).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    [inner.a, b, rho, m, sigma]
}

/// Search box of the outer problem.
pub(crate) struct Domain {
    /// Quoted range of k.
    pub k_lo: f64,
    pub k_hi: f64,
    /// ln of the quoted span.
    pub ln_span: f64,
    pub m_lo: f64,
    pub m_hi: f64,
    pub ln_s_lo: f64,
    pub ln_s_hi: f64,
}

impl Domain {
    pub(crate) fn for_points(k: &[f64]) -> Domain {
        let (lo, hi) = k
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                (l.min(x), h.max(x))
            });
        let span = (hi - lo).max(1e-4);
        Domain {
            k_lo: lo,
            k_hi: hi,
            ln_span: span.ln(),
            m_lo: lo - 0.5 * span,
            m_hi: hi + 0.5 * span,
            ln_s_lo: (span * 2e-3).ln(),
            ln_s_hi: (4.0 * span).ln(),
        }
    }

    fn clamp(&self, p: [f64; 2]) -> [f64; 2] {
        [
            p[0].clamp(self.m_lo, self.m_hi),
            p[1].clamp(self.ln_s_lo, self.ln_s_hi),
        ]
    }
}

/// Candidates of the outer search, as (objective, raw SVI): Nelder–Mead run from each of the
/// [`NELDER_MEAD_STARTS`] best local minima of the grid, and (unrefined) the best grid point
/// whose vertex m lies inside the quoted range with σ below the quoted span — the grid's edges
/// hold a spurious "wide parabola" valley that can hide the true one.
pub(crate) fn search(
    data: &Data<'_>,
    domain: &Domain,
) -> [Option<(f64, [f64; 5])>; NELDER_MEAD_STARTS + 1] {
    let eval = |p: [f64; 2]| -> f64 {
        let p = domain.clamp(p);
        match inner(data, p[0], p[1].exp()) {
            Some(s) => s.objective,
            None => f64::INFINITY,
        }
    };
    // Coarse grid.
    let dm = (domain.m_hi - domain.m_lo) / (GRID_M - 1) as f64;
    let ds = (domain.ln_s_hi - domain.ln_s_lo) / (GRID_SIGMA - 1) as f64;
    let at = |i: usize, j: usize| [domain.m_lo + dm * i as f64, domain.ln_s_lo + ds * j as f64];
    let mut values = [[f64::INFINITY; GRID_SIGMA]; GRID_M];
    for (i, row) in values.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = eval(at(i, j));
        }
    }
    // Local minima of the grid (no neighbour strictly lower), best first.
    let mut starts: [(f64, usize, usize); NELDER_MEAD_STARTS] =
        [(f64::INFINITY, 0, 0); NELDER_MEAD_STARTS];
    for i in 0..GRID_M {
        for j in 0..GRID_SIGMA {
            let v = values[i][j];
            if !v.is_finite() {
                continue;
            }
            let mut is_min = true;
            for di in -1i32..=1 {
                for dj in -1i32..=1 {
                    let (ni, nj) = (i as i32 + di, j as i32 + dj);
                    if (di, dj) != (0, 0)
                        && (0..GRID_M as i32).contains(&ni)
                        && (0..GRID_SIGMA as i32).contains(&nj)
                        && values[ni as usize][nj as usize] < v
                    {
                        is_min = false;
                    }
                }
            }
            if is_min {
                if let Some(slot) = starts.iter().position(|s| v < s.0) {
                    starts.copy_within(slot..NELDER_MEAD_STARTS - 1, slot + 1);
                    starts[slot] = (v, i, j);
                }
            }
        }
    }
    let mut out = [None; NELDER_MEAD_STARTS + 1];
    for (slot, &(v, i, j)) in out.iter_mut().zip(&starts) {
        if v.is_finite() {
            *slot = nelder_mead(data, domain, &eval, (v, at(i, j)), dm, ds);
        }
    }
    let mut interior: Option<(f64, [f64; 2])> = None;
    for (i, row) in values.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let p = at(i, j);
            let inside = p[0] >= domain.k_lo && p[0] <= domain.k_hi && p[1] <= domain.ln_span;
            if inside && v.is_finite() && interior.is_none_or(|b| v < b.0) {
                interior = Some((v, p));
            }
        }
    }
    if let Some((_, p)) = interior {
        let s = p[1].exp();
        out[NELDER_MEAD_STARTS] = inner(data, p[0], s).map(|x| (x.objective, to_raw(&x, p[0], s)));
    }
    out
}

/// Nelder–Mead in (m, ln σ) from `start`, initial steps half a grid cell.
fn nelder_mead(
    data: &Data<'_>,
    domain: &Domain,
    eval: &dyn Fn([f64; 2]) -> f64,
    start: (f64, [f64; 2]),
    dm: f64,
    ds: f64,
) -> Option<(f64, [f64; 5])> {
    let x0 = start.1;
    let mut simplex = [
        start,
        (0.0, [x0[0] + 0.5 * dm, x0[1]]),
        (0.0, [x0[0], x0[1] + 0.5 * ds]),
    ];
    for v in simplex.iter_mut().skip(1) {
        v.1 = domain.clamp(v.1);
        v.0 = eval(v.1);
    }
    for _ in 0..NELDER_MEAD_MAX_ITERATIONS {
        simplex.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (f_best, f_worst) = (simplex[0].0, simplex[2].0);
        let size = (simplex[2].1[0] - simplex[0].1[0])
            .abs()
            .max((simplex[2].1[1] - simplex[0].1[1]).abs())
            .max((simplex[1].1[0] - simplex[0].1[0]).abs())
            .max((simplex[1].1[1] - simplex[0].1[1]).abs());
        if (f_worst - f_best) <= NELDER_MEAD_TOLERANCE * f_best.abs() + 1e-30
            || size < NELDER_MEAD_MIN_SIZE
        {
            break;
        }
        let centroid = [
            0.5 * (simplex[0].1[0] + simplex[1].1[0]),
            0.5 * (simplex[0].1[1] + simplex[1].1[1]),
        ];
        let worst = simplex[2].1;
        let along = |t: f64| {
            domain.clamp([
                centroid[0] + t * (worst[0] - centroid[0]),
                centroid[1] + t * (worst[1] - centroid[1]),
            ])
        };
        let xr = along(-1.0);
        let fr = eval(xr);
        if fr < simplex[0].0 {
            let xe = along(-2.0);
            let fe = eval(xe);
            simplex[2] = if fe < fr { (fe, xe) } else { (fr, xr) };
        } else if fr < simplex[1].0 {
            simplex[2] = (fr, xr);
        } else {
            let (xc, fc) = if fr < f_worst {
                let x = along(-0.5);
                (x, eval(x))
            } else {
                let x = along(0.5);
                (x, eval(x))
            };
            if fc < fr.min(f_worst) {
                simplex[2] = (fc, xc);
            } else {
                // Shrink toward the best vertex.
                let b = simplex[0].1;
                for v in simplex.iter_mut().skip(1) {
                    v.1 = [0.5 * (v.1[0] + b[0]), 0.5 * (v.1[1] + b[1])];
                    v.0 = eval(v.1);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.0.total_cmp(&b.0));
    let p = domain.clamp(simplex[0].1);
    let (m, s) = (p[0], p[1].exp());
    let sol = inner(data, m, s)?;
    Some((sol.objective, to_raw(&sol, m, s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_recovers_linear_parameters_exactly() {
        // Exact SVI points: at the true (m, σ) the inner problem must give back (a, d, c).
        let (a, b, rho, m, s) = (0.02, 0.3, -0.4, 0.05, 0.2);
        let k: Vec<f64> = (0..15).map(|i| -0.6 + 0.1 * i as f64).collect();
        let w: Vec<f64> = k
            .iter()
            .map(|&x| a + b * (rho * (x - m) + ((x - m) * (x - m) + s * s).sqrt()))
            .collect();
        let c = vec![1.0; k.len()];
        let sol = inner(
            &Data {
                k: &k,
                w: &w,
                c: &c,
            },
            m,
            s,
        )
        .unwrap();
        assert!((sol.a - a).abs() < 1e-9);
        assert!((sol.c - b * s).abs() < 1e-9);
        assert!((sol.d - rho * b * s).abs() < 1e-9);
        assert!(sol.objective < 1e-13, "{}", sol.objective);
    }

    #[test]
    fn inner_respects_constraints_on_a_concave_smile() {
        // A concave "smile" wants c < 0: the constrained optimum has c ≥ 0, |d| ≤ c.
        let k: Vec<f64> = (0..9).map(|i| -0.4 + 0.1 * i as f64).collect();
        let w: Vec<f64> = k.iter().map(|&x| 0.1 - 0.2 * x * x).collect();
        let c = vec![1.0; k.len()];
        let sol = inner(
            &Data {
                k: &k,
                w: &w,
                c: &c,
            },
            0.0,
            0.1,
        )
        .unwrap();
        assert!(sol.c >= 0.0 && sol.d.abs() <= sol.c + 1e-15);
        assert!(sol.c + sol.d.abs() <= 2.0 * 0.1 + 1e-12);
        assert!(sol.a + (sol.c * sol.c - sol.d * sol.d).sqrt() >= -1e-12);
    }

    /// Objective of (a, d, c) computed directly from the residuals.
    fn direct(data: &Data<'_>, m: f64, s: f64, x: [f64; 3]) -> f64 {
        (0..data.k.len())
            .map(|i| {
                let y = (data.k[i] - m) / s;
                let e = x[0] + x[1] * y + x[2] * (y * y + 1.0).sqrt() - data.w[i];
                data.c[i] * e * e
            })
            .sum()
    }

    fn feasible(x: [f64; 3], s: f64) -> bool {
        (0..N_CON).all(|ci| A[ci][0] * x[0] + A[ci][1] * x[1] + A[ci][2] * x[2] >= BETA[ci] * s)
    }

    proptest::proptest! {
        /// The active-set optimum is feasible and no feasible point of a grid over (a, d, c)
        /// does better: it is the constrained minimum.
        #[test]
        fn inner_beats_every_feasible_grid_point(
            level in -0.05f64..0.2,
            curv in -0.5f64..0.8,
            slope in -0.6f64..0.6,
            m in -0.3f64..0.3,
            ln_s in -4.0f64..0.5,
        ) {
            let s = ln_s.exp();
            let k: Vec<f64> = (0..11).map(|i| -0.5 + 0.1 * i as f64).collect();
            let w: Vec<f64> = k.iter().map(|&x| level + slope * x + curv * x * x).collect();
            let c: Vec<f64> = (0..11).map(|i| 1.0 + 0.1 * i as f64).collect();
            let data = Data { k: &k, w: &w, c: &c };
            let sol = inner(&data, m, s).unwrap();
            let x = [sol.a, sol.d, sol.c];
            // Feasible up to round-off at the boundary.
            let ok = (0..N_CON)
                .all(|ci| A[ci][0] * x[0] + A[ci][1] * x[1] + A[ci][2] * x[2] >= BETA[ci] * s - 1e-12);
            proptest::prop_assert!(ok);
            let f = direct(&data, m, s, x);
            proptest::prop_assert!((f - sol.objective).abs() <= 1e-9 * (1.0 + f));
            let n = 24;
            for i in 0..=n {
                for j in 0..=n {
                    for l in 0..=n {
                        let cc = 2.0 * s * l as f64 / n as f64;
                        let dd = cc * (2.0 * j as f64 / n as f64 - 1.0);
                        let aa = -0.3 + 0.6 * i as f64 / n as f64;
                        let y = [aa, dd, cc];
                        if feasible(y, s) {
                            proptest::prop_assert!(f <= direct(&data, m, s, y) + 1e-12 * (1.0 + f));
                        }
                    }
                }
            }
        }
    }
}
