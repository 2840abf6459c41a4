//! Levenberg–Marquardt refinement of all five raw SVI parameters on vol residuals, with the
//! parameters projected back into the admissible set after every step, and optional penalty rows
//! on Durrleman's g for the butterfly repair.

// Small dense linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

use super::linalg::{solve, MAX_DIM};
use super::qe::MAX_WING_SLOPE;
use crate::svi::durrleman_g;

/// Iteration limit of one refinement.
pub const LM_MAX_ITERATIONS: usize = 200;
/// Iterations each candidate start gets before only the best one is refined further.
pub const LM_RACE_ITERATIONS: usize = 8;
/// Refinement stops when a step lowers the cost by less than this fraction.
pub const LM_TOLERANCE: f64 = 1e-8;
/// |ρ| is kept at or below this.
pub const RHO_MAX: f64 = 0.9999;
/// g is pushed at least this far above 0 at the repair grid points, so that the dense check
/// between them also passes.
pub const REPAIR_G_MARGIN: f64 = 1e-3;

/// Points to fit in vol space.
pub(crate) struct VolData<'a> {
    pub k: &'a [f64],
    pub vol: &'a [f64],
    pub sqrt_weight: &'a [f64],
    pub expiry_years: f64,
    pub sigma_min: f64,
}

/// Butterfly penalty rows: weight·min(g(k_j) − margin, 0) at each grid point.
pub(crate) struct Penalty<'a> {
    pub k: &'a [f64],
    pub weight: f64,
}

/// Parameters as [a, b, ρ, m, σ].
pub(crate) type Raw = [f64; 5];

/// Moves `p` into the admissible set: b ≥ 0, |ρ| ≤ RHO_MAX, σ ≥ σ_min, Lee's slope bound,
/// w ≥ 0 everywhere.
pub(crate) fn project(p: Raw, sigma_min: f64) -> Raw {
    let [mut a, mut b, mut rho, m, mut s] = p;
    b = if b.is_finite() { b.max(0.0) } else { 0.0 };
    rho = if rho.is_finite() {
        rho.clamp(-RHO_MAX, RHO_MAX)
    } else {
        0.0
    };
    s = if s.is_finite() {
        s.max(sigma_min)
    } else {
        sigma_min
    };
    if b * (1.0 + rho.abs()) > MAX_WING_SLOPE {
        b = MAX_WING_SLOPE / (1.0 + rho.abs());
    }
    let floor = -b * s * (1.0 - rho * rho).sqrt();
    if !(a >= floor) {
        a = floor;
    }
    [a, b, rho, m, s]
}

#[inline]
fn w_and_grad(p: &Raw, k: f64) -> (f64, [f64; 5]) {
    let [a, b, rho, m, s] = *p;
    let x = k - m;
    let r = (x * x + s * s).sqrt();
    let w = a + b * (rho * x + r);
    (w, [1.0, rho * x + r, b * x, -b * (rho + x / r), b * s / r])
}

#[inline]
fn g_at(p: &Raw, k: f64) -> f64 {
    let [a, b, rho, m, s] = *p;
    let x = k - m;
    let r2 = x * x + s * s;
    let r = r2.sqrt();
    let inv_r = 1.0 / r;
    let w = a + b * (rho * x + r);
    let w1 = b * (rho + x * inv_r);
    let w2 = b * s * s * inv_r / r2;
    durrleman_g(k, w, w1, w2)
}

/// Σ of squared residuals (vol rows and penalty rows).
pub(crate) fn cost(data: &VolData<'_>, penalty: Option<&Penalty<'_>>, p: &Raw) -> f64 {
    let inv_t = 1.0 / data.expiry_years;
    let mut sum = 0.0;
    for i in 0..data.k.len() {
        let (w, _) = w_and_grad(p, data.k[i]);
        let r = data.sqrt_weight[i] * ((w.max(1e-14) * inv_t).sqrt() - data.vol[i]);
        sum += r * r;
    }
    if let Some(pen) = penalty {
        for &k in pen.k {
            let r = pen.weight * (g_at(p, k) - REPAIR_G_MARGIN).min(0.0);
            sum += r * r;
        }
    }
    sum
}

/// Minimises [`cost`] from `start` in at most `max_iterations` steps; returns the best admissible
/// point and its cost.
pub(crate) fn refine(
    data: &VolData<'_>,
    penalty: Option<&Penalty<'_>>,
    start: Raw,
    max_iterations: usize,
) -> (Raw, f64) {
    let inv_t = 1.0 / data.expiry_years;
    let mut p = project(start, data.sigma_min);
    let mut c = cost(data, penalty, &p);
    let mut lambda = 1e-3;
    for _ in 0..max_iterations.min(LM_MAX_ITERATIONS) {
        let mut jtj = [[0.0; MAX_DIM]; MAX_DIM];
        let mut jtr = [0.0; MAX_DIM];
        let mut add_row = |r: f64, j: &[f64; 5]| {
            for u in 0..5 {
                jtr[u] += j[u] * r;
                for v in u..5 {
                    jtj[u][v] += j[u] * j[v];
                }
            }
        };
        for i in 0..data.k.len() {
            let (w, grad) = w_and_grad(&p, data.k[i]);
            let vol = (w.max(1e-14) * inv_t).sqrt();
            let sw = data.sqrt_weight[i];
            let r = sw * (vol - data.vol[i]);
            let scale = sw * inv_t / (2.0 * vol);
            let j = grad.map(|g| g * scale);
            add_row(r, &j);
        }
        if let Some(pen) = penalty {
            for &k in pen.k {
                let g0 = g_at(&p, k) - REPAIR_G_MARGIN;
                if g0 >= 0.0 {
                    continue;
                }
                let mut j = [0.0; 5];
                for (u, ju) in j.iter_mut().enumerate() {
                    let h = 1e-7 * p[u].abs().max(1e-3);
                    let mut q = p;
                    q[u] += h;
                    *ju = pen.weight * ((g_at(&q, k) - REPAIR_G_MARGIN).min(0.0) - g0) / h;
                }
                add_row(pen.weight * g0, &j);
            }
        }
        for u in 0..5 {
            for v in 0..u {
                jtj[u][v] = jtj[v][u];
            }
        }
        let mut improved = false;
        while lambda < 1e10 {
            let mut a = jtj;
            for (u, row) in a.iter_mut().enumerate().take(5) {
                row[u] += lambda * jtj[u][u].max(1e-12);
            }
            let rhs = jtr.map(|x| -x);
            let Some(delta) = solve(&a, &rhs, 5) else {
                lambda *= 4.0;
                continue;
            };
            let q = project(
                [
                    p[0] + delta[0],
                    p[1] + delta[1],
                    p[2] + delta[2],
                    p[3] + delta[3],
                    p[4] + delta[4],
                ],
                data.sigma_min,
            );
            let cq = cost(data, penalty, &q);
            if cq < c {
                let gain = c - cq;
                p = q;
                c = cq;
                lambda = (lambda / 3.0).max(1e-12);
                improved = gain > LM_TOLERANCE * c + 1e-300;
                break;
            }
            lambda *= 4.0;
        }
        if !improved {
            break;
        }
    }
    (p, c)
}
