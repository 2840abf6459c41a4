//! Small statistical kernels the tail module needs, written out so that the crate needs no
//! statistics dependency: the empirical VaR / ES estimator and the standard error of ES, a
//! bounded tail sample (the k largest losses seen), ln Γ, the χ² survival functions of the
//! backtests, a Nelder–Mead minimiser (bounded iterations), GARCH(1,1) and EWMA filters, the
//! Student-t maximum-likelihood dof, and least squares.

use super::TailError;

/// The loss quantile and expected shortfall of one level, from a sample of losses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailMeasure {
    /// Confidence level α.
    pub alpha: f64,
    /// Value at risk: the empirical α-quantile of the loss (positive = a loss).
    pub var: f64,
    /// Expected shortfall: the mean loss beyond the α-quantile (Acerbi–Tasche).
    pub es: f64,
    /// Standard error of `es` (asymptotic; see [`tail_measure`]).
    pub es_stderr: f64,
    /// Number of paths (scenarios) the estimate is built on.
    pub paths: usize,
}

/// n·(1 − α), snapped to the nearest integer when within rounding of it (10000·(1 − 0.99) is
/// 100.00000000000001 in floating point).
pub fn tail_weight(n: usize, alpha: f64) -> f64 {
    let w = n as f64 * (1.0 - alpha);
    let r = w.round();
    if (w - r).abs() <= 1e-9 * w.max(1.0) {
        r
    } else {
        w
    }
}

/// How many of the largest losses an estimate at `alpha` over `n` paths reads: ⌊n(1 − α)⌋ + 1
/// (the tail itself and the quantile just below it), at most n.
pub fn tail_count(n: usize, alpha: f64) -> usize {
    ((tail_weight(n, alpha).floor() as usize) + 1).min(n)
}

/// Checks a confidence level: a number in (0, 1). Written so that NaN fails.
pub fn check_alpha(alpha: f64) -> Result<(), TailError> {
    if alpha > 0.0 && alpha < 1.0 {
        Ok(())
    } else {
        Err(TailError::Invalid {
            field: "alpha".into(),
            reason: format!("must be in (0, 1), got {alpha}"),
        })
    }
}

/// VaR, ES and the standard error of ES at `alpha` from the largest losses of a sample of `n`
/// paths. `largest` must hold at least [`tail_count`]`(n, alpha)` of the sample's largest values
/// (more are fine), in any order; it is sorted in place (descending).
///
/// Estimator, with w = n(1 − α) and L₍₁₎ ≥ L₍₂₎ ≥ … the losses sorted downward:
/// - VaR = L₍⌊w⌋+1₎, the ⌈nα⌉-th smallest loss: the α-quantile of the empirical distribution
///   (inverse-CDF definition);
/// - ES = (Σᵢ≤⌊w⌋ L₍ᵢ₎ + (w − ⌊w⌋)·L₍⌊w⌋+1₎) / w: the expected shortfall of the empirical
///   distribution (Acerbi & Tasche 2002), which is coherent — so ES ≥ VaR and ES is
///   sub-additive on any common set of paths, exactly;
/// - se(ES)² = (s²_tail + α·(ES − VaR)²) / w, the asymptotic variance of the ES estimator for
///   i.i.d. paths (Manistre & Hancock 2005; Yamai & Yoshiba 2002), s²_tail the sample variance of
///   the losses beyond VaR.
pub fn tail_measure(largest: &mut [f64], n: usize, alpha: f64) -> Result<TailMeasure, TailError> {
    check_alpha(alpha)?;
    if n == 0 {
        return Err(TailError::Invalid {
            field: "paths".into(),
            reason: "must be at least 1, got 0".into(),
        });
    }
    let need = tail_count(n, alpha);
    if largest.len() < need {
        return Err(TailError::Limit(format!(
            "tail sample holds {} losses, the estimate at alpha {alpha} over {n} paths needs {need}",
            largest.len()
        )));
    }
    if let Some(bad) = largest.iter().find(|x| !x.is_finite()) {
        return Err(TailError::Invalid {
            field: "loss".into(),
            reason: format!("a path's loss is not finite ({bad}); check the market data"),
        });
    }
    largest.sort_unstable_by(|a, b| b.total_cmp(a));
    let w = tail_weight(n, alpha);
    let whole = w.floor() as usize;
    let frac = w - whole as f64;
    let var = largest[need - 1];
    let es = if w > 0.0 {
        let head: f64 = largest[..whole.min(largest.len())].iter().sum();
        let partial = if whole < n {
            frac * largest[whole]
        } else {
            0.0
        };
        (head + partial) / w
    } else {
        var
    };
    // Tail variance over the losses beyond VaR (the ⌊w⌋ largest), 0 when fewer than 2.
    let tail = &largest[..whole.min(largest.len())];
    let s2 = if tail.len() >= 2 {
        let m = tail.iter().sum::<f64>() / tail.len() as f64;
        tail.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (tail.len() - 1) as f64
    } else {
        0.0
    };
    let es_stderr = if w > 0.0 {
        ((s2 + alpha * (es - var) * (es - var)) / w).sqrt()
    } else {
        0.0
    };
    // ES ≥ VaR holds in exact arithmetic; guard the last ulp of the sum.
    let es = es.max(var);
    Ok(TailMeasure {
        alpha,
        var,
        es,
        es_stderr,
        paths: n,
    })
}

/// The k largest values of a stream of losses, kept in bounded memory: a venue-wide run visits
/// the paths in chunks and keeps, per account, only what the estimate reads.
#[derive(Debug, Clone, Default)]
pub struct TailSample {
    k: usize,
    seen: usize,
    values: Vec<f64>,
    threshold: f64,
    non_finite: bool,
}

impl TailSample {
    /// A sample keeping the `k` largest values.
    pub fn new(k: usize) -> TailSample {
        TailSample {
            k,
            seen: 0,
            values: Vec::with_capacity(k),
            threshold: f64::NEG_INFINITY,
            non_finite: false,
        }
    }

    /// Adds a chunk of losses; `chunk` is reordered. Once k values are kept, only the losses
    /// above the smallest of them can enter, so a chunk costs one comparison a loss (plus a
    /// selection over the few that pass).
    pub fn push_chunk(&mut self, chunk: &mut [f64]) {
        self.seen += chunk.len();
        self.non_finite |= !chunk.iter().all(|x| x.is_finite());
        if self.k == 0 {
            return;
        }
        let mut m = chunk.len();
        if self.values.len() == self.k {
            // A loss equal to the threshold may be dropped: the multiset of the k largest
            // values is the same either way.
            let threshold = self.threshold;
            let mut j = 0;
            for i in 0..chunk.len() {
                let x = chunk[i];
                chunk[j] = x;
                j += usize::from(x > threshold);
            }
            m = j;
        }
        let cand = &mut chunk[..m];
        let keep = self.k.min(cand.len());
        if keep < cand.len() {
            let at = cand.len() - keep;
            cand.select_nth_unstable_by(at, |a, b| a.total_cmp(b));
            self.values.extend_from_slice(&cand[at..]);
        } else {
            self.values.extend_from_slice(cand);
        }
        if self.values.len() > self.k {
            let at = self.values.len() - self.k;
            self.values
                .select_nth_unstable_by(at, |a, b| a.total_cmp(b));
            self.values.drain(..at);
        }
        if self.values.len() == self.k {
            self.threshold = self.values.iter().copied().fold(f64::INFINITY, f64::min);
        }
    }

    /// Number of losses seen.
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// The measure at `alpha` over everything seen.
    pub fn measure(&self, alpha: f64) -> Result<TailMeasure, TailError> {
        if self.non_finite {
            return Err(TailError::Invalid {
                field: "loss".into(),
                reason: "a path's loss is not finite; check the market data".into(),
            });
        }
        let mut v = self.values.clone();
        tail_measure(&mut v, self.seen, alpha)
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error about 1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1 − x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// P(χ²₁ > x) = erfc(√(x/2)) = 2·(1 − Φ(√x)).
pub fn chi2_1_sf(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    2.0 * ale_pricing::norm_cdf(-x.sqrt())
}

/// P(χ²₂ > x) = e^(−x/2).
pub fn chi2_2_sf(x: f64) -> f64 {
    if x <= 0.0 {
        1.0
    } else {
        (-0.5 * x).exp()
    }
}

/// Log-density of the Student-t with `dof` degrees of freedom scaled to unit variance.
pub fn std_t_ln_pdf(z: f64, dof: f64) -> f64 {
    let s2 = dof - 2.0;
    ln_gamma(0.5 * (dof + 1.0))
        - ln_gamma(0.5 * dof)
        - 0.5 * (std::f64::consts::PI * s2).ln()
        - 0.5 * (dof + 1.0) * (1.0 + z * z / s2).ln()
}

/// Most iterations of [`nelder_mead`].
pub const NELDER_MEAD_MAX_ITER: usize = 2_000;

/// Minimises `f` from `x0` with initial steps `step` (Nelder–Mead, standard coefficients);
/// stops when the simplex's values agree to `tol` or after [`NELDER_MEAD_MAX_ITER`] iterations.
/// Returns the best point and its value. `f` may return +∞ outside its domain.
pub fn nelder_mead(
    f: &dyn Fn(&[f64]) -> f64,
    x0: &[f64],
    step: &[f64],
    tol: f64,
) -> (Vec<f64>, f64) {
    let d = x0.len();
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(d + 1);
    simplex.push((x0.to_vec(), f(x0)));
    for i in 0..d {
        let mut x = x0.to_vec();
        x[i] += step[i];
        let v = f(&x);
        simplex.push((x, v));
    }
    for _ in 0..NELDER_MEAD_MAX_ITER {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (simplex[0].1, simplex[d].1);
        if (worst - best).abs() <= tol * (1.0 + best.abs()) {
            break;
        }
        let centroid: Vec<f64> = (0..d)
            .map(|j| simplex[..d].iter().map(|p| p.0[j]).sum::<f64>() / d as f64)
            .collect();
        let along = |t: f64| -> Vec<f64> {
            (0..d)
                .map(|j| centroid[j] + t * (simplex[d].0[j] - centroid[j]))
                .collect()
        };
        let xr = along(-1.0);
        let fr = f(&xr);
        if fr < simplex[0].1 {
            let xe = along(-2.0);
            let fe = f(&xe);
            simplex[d] = if fe < fr { (xe, fe) } else { (xr, fr) };
        } else if fr < simplex[d - 1].1 {
            simplex[d] = (xr, fr);
        } else {
            let xc = if fr < simplex[d].1 {
                along(-0.5)
            } else {
                along(0.5)
            };
            let fc = f(&xc);
            if fc < simplex[d].1.min(fr) {
                simplex[d] = (xc, fc);
            } else {
                let x0 = simplex[0].0.clone();
                for p in simplex.iter_mut().skip(1) {
                    for (pj, x0j) in p.0.iter_mut().zip(&x0) {
                        *pj = x0j + 0.5 * (*pj - x0j);
                    }
                    p.1 = f(&p.0);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex.swap_remove(0)
}

/// GARCH(1,1) of daily log-returns: σ²ₜ = ω + a·r²ₜ₋₁ + b·σ²ₜ₋₁.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Garch {
    /// ω (daily variance units).
    pub omega: f64,
    /// a, the weight of yesterday's squared return.
    pub alpha: f64,
    /// b, the weight of yesterday's variance.
    pub beta: f64,
}

impl Garch {
    /// Long-run daily variance ω / (1 − a − b).
    pub fn long_run_variance(&self) -> f64 {
        self.omega / (1.0 - self.alpha - self.beta)
    }

    /// One-step-ahead variances: `out[t]` is the forecast of r²ₜ made after rₜ₋₁ (the first from
    /// the sample variance); `out` has one more element than `returns` (the forecast for the day
    /// after the last).
    pub fn filter(&self, returns: &[f64]) -> Vec<f64> {
        let mut out = Vec::with_capacity(returns.len() + 1);
        let mut s2 = sample_variance(returns).max(1e-12);
        out.push(s2);
        for r in returns {
            s2 = self.omega + self.alpha * r * r + self.beta * s2;
            out.push(s2);
        }
        out
    }

    /// Gaussian quasi-maximum likelihood, with variance targeting (ω = (1 − a − b)·sample
    /// variance) and a, b ≥ 0, a + b < 0.999; Nelder–Mead over (a, b).
    pub fn fit(returns: &[f64]) -> Result<Garch, TailError> {
        if returns.len() < 100 {
            return Err(TailError::History(format!(
                "GARCH(1,1) needs at least 100 returns, got {}",
                returns.len()
            )));
        }
        let var = sample_variance(returns);
        let nll = |p: &[f64]| -> f64 {
            let (a, b) = (p[0], p[1]);
            if !(a >= 0.0 && b >= 0.0 && a + b < 0.999) {
                return f64::INFINITY;
            }
            let g = Garch {
                omega: (1.0 - a - b) * var,
                alpha: a,
                beta: b,
            };
            let s2 = g.filter(returns);
            returns
                .iter()
                .zip(&s2)
                .map(|(r, v)| v.ln() + r * r / v)
                .sum::<f64>()
        };
        let (p, v) = nelder_mead(&nll, &[0.08, 0.88], &[0.03, 0.03], 1e-12);
        if !v.is_finite() {
            return Err(TailError::History("GARCH(1,1) fit did not converge".into()));
        }
        Ok(Garch {
            omega: (1.0 - p[0] - p[1]) * var,
            alpha: p[0],
            beta: p[1],
        })
    }
}

/// EWMA (RiskMetrics) variance forecasts with decay `lambda`, laid out as [`Garch::filter`].
pub fn ewma_filter(returns: &[f64], lambda: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(returns.len() + 1);
    let mut s2 = sample_variance(&returns[..returns.len().min(30)]).max(1e-12);
    out.push(s2);
    for r in returns {
        s2 = lambda * s2 + (1.0 - lambda) * r * r;
        out.push(s2);
    }
    out
}

/// Sample variance about the mean (0 for fewer than two values).
pub fn sample_variance(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return 0.0;
    }
    let m = x.iter().sum::<f64>() / x.len() as f64;
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() - 1) as f64
}

/// Pearson correlation (0 when either side is constant).
pub fn correlation(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n < 2 {
        return 0.0;
    }
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    if sxx > 0.0 && syy > 0.0 {
        sxy / (sxx * syy).sqrt()
    } else {
        0.0
    }
}

/// Least squares y = a + b·x: (a, b, residual standard deviation).
pub fn ols(x: &[f64], y: &[f64]) -> (f64, f64, f64) {
    let n = x.len().min(y.len());
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for i in 0..n {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
    }
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let a = my - b * mx;
    let rss: f64 = (0..n).map(|i| (y[i] - a - b * x[i]).powi(2)).sum();
    let sd = if n > 2 {
        (rss / (n - 2) as f64).sqrt()
    } else {
        0.0
    };
    (a, b, sd)
}

/// Least squares y = X·c with regressors as columns (include a column of ones for an
/// intercept): (coefficients, residual standard deviation). Normal equations solved by Gaussian
/// elimination with partial pivoting; `None` when they are singular.
pub fn ols_multi(columns: &[Vec<f64>], y: &[f64]) -> Option<(Vec<f64>, f64)> {
    let k = columns.len();
    let n = y.len();
    if k == 0 || n <= k || columns.iter().any(|c| c.len() != n) {
        return None;
    }
    // Augmented matrix [XᵀX | Xᵀy].
    let mut a = vec![vec![0.0; k + 1]; k];
    for i in 0..k {
        for j in 0..k {
            a[i][j] = (0..n).map(|t| columns[i][t] * columns[j][t]).sum();
        }
        a[i][k] = (0..n).map(|t| columns[i][t] * y[t]).sum();
    }
    for col in 0..k {
        let piv = (col..k).max_by(|x, y| a[*x][col].abs().total_cmp(&a[*y][col].abs()))?;
        if a[piv][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, piv);
        let pivot_row = a[col].clone();
        for (row, r) in a.iter_mut().enumerate() {
            if row != col {
                let f = r[col] / pivot_row[col];
                for (x, p) in r.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    let c: Vec<f64> = (0..k).map(|i| a[i][k] / a[i][i]).collect();
    let rss: f64 = (0..n)
        .map(|t| {
            let fit: f64 = (0..k).map(|i| c[i] * columns[i][t]).sum();
            (y[t] - fit).powi(2)
        })
        .sum();
    Some((c, (rss / (n - k) as f64).sqrt()))
}

/// Maximum-likelihood dof of a unit-variance Student-t fitted to standardised residuals `z`
/// (golden-section search on ν ∈ [2.1, 200]).
pub fn fit_t_dof(z: &[f64]) -> f64 {
    let nll = |nu: f64| -> f64 { -z.iter().map(|x| std_t_ln_pdf(*x, nu)).sum::<f64>() };
    // Search in ln(ν − 2) for an even grip on small and large ν.
    let (mut lo, mut hi) = ((0.1f64).ln(), (198.0f64).ln());
    let g = 0.5 * (5f64.sqrt() - 1.0);
    let mut c = hi - g * (hi - lo);
    let mut d = lo + g * (hi - lo);
    let f = |u: f64| nll(2.0 + u.exp());
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..200 {
        if (hi - lo).abs() < 1e-10 {
            break;
        }
        if fc < fd {
            hi = d;
            d = c;
            fd = fc;
            c = hi - g * (hi - lo);
            fc = f(c);
        } else {
            lo = c;
            c = d;
            fc = fd;
            d = lo + g * (hi - lo);
            fd = f(d);
        }
    }
    2.0 + (0.5 * (lo + hi)).exp()
}

/// Kupiec's proportion-of-failures and Christoffersen's independence and conditional-coverage
/// likelihood-ratio tests of a sequence of VaR exceptions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoverageTests {
    /// Days tested.
    pub days: usize,
    /// Exceptions (realised loss > VaR).
    pub exceptions: usize,
    /// Expected exceptions, days·(1 − α).
    pub expected: f64,
    /// Kupiec LR_uc (χ²₁ under the null).
    pub lr_uc: f64,
    /// Its p-value.
    pub p_uc: f64,
    /// Christoffersen LR_ind (χ²₁).
    pub lr_ind: f64,
    /// Its p-value.
    pub p_ind: f64,
    /// LR_cc = LR_uc + LR_ind (χ²₂).
    pub lr_cc: f64,
    /// Its p-value.
    pub p_cc: f64,
}

fn xlny(x: f64, y: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        x * y.ln()
    }
}

/// The coverage tests of `hits` (true = exception) against level `alpha`.
pub fn coverage_tests(hits: &[bool], alpha: f64) -> CoverageTests {
    let n = hits.len();
    let x = hits.iter().filter(|h| **h).count();
    let p = 1.0 - alpha;
    let (nf, xf) = (n as f64, x as f64);
    let phat = if n > 0 { xf / nf } else { 0.0 };
    let lr_uc =
        -2.0 * (xlny(nf - xf, 1.0 - p) + xlny(xf, p) - xlny(nf - xf, 1.0 - phat) - xlny(xf, phat));
    // Transition counts n_ij: state i yesterday, j today.
    let (mut n00, mut n01, mut n10, mut n11) = (0.0, 0.0, 0.0, 0.0);
    for w in hits.windows(2) {
        match (w[0], w[1]) {
            (false, false) => n00 += 1.0,
            (false, true) => n01 += 1.0,
            (true, false) => n10 += 1.0,
            (true, true) => n11 += 1.0,
        }
    }
    let pi01 = if n00 + n01 > 0.0 {
        n01 / (n00 + n01)
    } else {
        0.0
    };
    let pi11 = if n10 + n11 > 0.0 {
        n11 / (n10 + n11)
    } else {
        0.0
    };
    let pi = if n00 + n01 + n10 + n11 > 0.0 {
        (n01 + n11) / (n00 + n01 + n10 + n11)
    } else {
        0.0
    };
    let l0 = xlny(n00 + n10, 1.0 - pi) + xlny(n01 + n11, pi);
    let l1 = xlny(n00, 1.0 - pi01) + xlny(n01, pi01) + xlny(n10, 1.0 - pi11) + xlny(n11, pi11);
    let lr_ind = (-2.0 * (l0 - l1)).max(0.0);
    let lr_uc = lr_uc.max(0.0);
    let lr_cc = lr_uc + lr_ind;
    CoverageTests {
        days: n,
        exceptions: x,
        expected: nf * p,
        lr_uc,
        p_uc: chi2_1_sf(lr_uc),
        lr_ind,
        p_ind: chi2_1_sf(lr_ind),
        lr_cc,
        p_cc: chi2_2_sf(lr_cc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_matches_known_values() {
        assert!((ln_gamma(1.0)).abs() < 1e-13);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn estimator_on_a_small_sample() {
        // Losses 1..=100 at α = 0.95: w = 5, VaR = the ⌈nα⌉ = 95th smallest = 95, ES = the mean
        // of the 5 largest (96..=100) = 98.
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let m = tail_measure(&mut v, 100, 0.95).unwrap();
        assert_eq!(m.var, 95.0);
        assert_eq!(m.es, 98.0);
        let mut s = TailSample::new(tail_count(100, 0.95));
        let mut chunk: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        for c in chunk.chunks_mut(7) {
            s.push_chunk(c);
        }
        assert_eq!(s.measure(0.95).unwrap(), m);
    }

    #[test]
    fn coverage_tests_are_zero_at_the_expected_rate() {
        let mut hits = vec![false; 1000];
        for i in (0..1000).step_by(100) {
            hits[i] = true;
        }
        let t = coverage_tests(&hits, 0.99);
        assert_eq!(t.exceptions, 10);
        assert!(t.lr_uc.abs() < 1e-9 && (t.p_uc - 1.0).abs() < 1e-9);
    }
}
