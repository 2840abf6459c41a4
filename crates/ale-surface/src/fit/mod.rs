//! Fitting raw SVI to quotes, per expiry, and the fit report.
//!
//! Per expiry: quotes are cleaned (each rejected one with its reason), price quotes inverted to
//! vols through `ale-pricing`, weights chosen ([`Weighting`]), then
//!
//! 1. the quasi-explicit reduction: for fixed (m, σ) the best (a, b·ρ·σ, b·σ) is a linearly
//!    constrained least-squares problem in total variance, solved exactly (active set); (m, σ)
//!    searched on a 9×7 grid, then Nelder–Mead from each of the three best local minima of the
//!    grid (plus the best grid point with its vertex inside the quoted range, unrefined);
//! 2. Levenberg–Marquardt on all five parameters on the vol residuals — a few steps from each
//!    candidate, then the best one to convergence — projected onto the admissible set (b ≥ 0,
//!    |ρ| ≤ 0.9999, σ > 0, b(1 + |ρ|) ≤ 2, a + b·σ·√(1 − ρ²) ≥ 0);
//! 3. if Durrleman's g is negative anywhere on the check grid, the refinement is repeated with
//!    penalty rows on g (weights 1, 10, 100, 1000 until the smile is clean).

mod linalg;
mod lm;
mod prices;
mod qe;

use ale_core::OptionKind;
use thiserror::Error;

use crate::arbitrage::{
    check_arbitrage_with_extents, grid_half_width, ArbitrageViolation, BUTTERFLY_TOLERANCE,
};
use crate::error::SurfaceError;
use crate::forward::ForwardCurve;
use crate::surface::Surface;
use crate::svi::SviParams;

pub use lm::{LM_MAX_ITERATIONS, LM_RACE_ITERATIONS, LM_TOLERANCE, REPAIR_G_MARGIN, RHO_MAX};
pub use qe::{
    ACTIVE_SET_MAX_ITERATIONS, GRID_M, GRID_SIGMA, MAX_WING_SLOPE, NELDER_MEAD_MAX_ITERATIONS,
    NELDER_MEAD_MIN_SIZE, NELDER_MEAD_STARTS, NELDER_MEAD_TOLERANCE,
};

/// Fewer usable quotes than this in an expiry is an error (three fix level, slope and
/// curvature; with fewer than five the five SVI parameters are not unique but the fit is still
/// admissible).
pub const MIN_QUOTES_PER_EXPIRY: usize = 3;
/// Vols above this (1000%) are rejected as not plausible.
pub const MAX_QUOTE_VOL: f64 = 10.0;
/// Vega weights are floored at this fraction of the largest, so that wing quotes still count.
pub const VEGA_WEIGHT_FLOOR: f64 = 0.05;
/// Bid/ask vol spreads below this are taken as this when weighting by spread.
pub const MIN_SPREAD_VOL: f64 = 1e-4;
/// Penalty weights of the butterfly repair, tried in order until the smile is clean.
pub const REPAIR_PENALTY_WEIGHTS: [f64; 4] = [1.0, 10.0, 100.0, 1000.0];
/// Grid points (twice: uniform, and sinh-spaced around the vertex) of the butterfly check made
/// inside the fit to decide on a repair; the report's check is [`crate::check_arbitrage`].
pub const FIT_CHECK_GRID_POINTS: usize = 151;
/// Grid points (twice, as for the check) of the repair penalty.
pub const REPAIR_GRID_POINTS: usize = 121;

/// What a quote gives at its strike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuoteValue {
    /// An implied vol (decimal).
    Vol(f64),
    /// An option price (discounted at the curve's rate), inverted to a vol through Black-76.
    Price {
        /// Call or put.
        kind: OptionKind,
        /// Premium in the underlying's quote currency.
        price: f64,
    },
}

/// One quote of one expiry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quote {
    /// Strike (> 0).
    pub strike: f64,
    /// Vol or price.
    pub value: QuoteValue,
    /// Optional bid and ask implied vols; when every quote of the expiry has them, weights are
    /// 1/(ask − bid)² ([`Weighting::Auto`]).
    pub bid_ask_vol: Option<(f64, f64)>,
}

impl Quote {
    /// A vol quote.
    pub fn vol(strike: f64, vol: f64) -> Self {
        Quote {
            strike,
            value: QuoteValue::Vol(vol),
            bid_ask_vol: None,
        }
    }

    /// A price quote.
    pub fn price(strike: f64, kind: OptionKind, price: f64) -> Self {
        Quote {
            strike,
            value: QuoteValue::Price { kind, price },
            bid_ask_vol: None,
        }
    }

    /// The same quote with bid and ask vols.
    pub fn with_bid_ask_vol(self, bid_vol: f64, ask_vol: f64) -> Self {
        Quote {
            bid_ask_vol: Some((bid_vol, ask_vol)),
            ..self
        }
    }
}

/// The quotes of one expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiryQuotes {
    /// Expiry in years from the snapshot (> 0).
    pub expiry_years: f64,
    /// The quotes, in any order.
    pub quotes: Vec<Quote>,
}

/// How quotes are weighted in the fit (weights multiply squared vol errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weighting {
    /// 1/spread² when every usable quote has a bid/ask vol, else [`Weighting::Vega`].
    #[default]
    Auto,
    /// Black vega at the quoted vol, relative to the largest, floored at [`VEGA_WEIGHT_FLOOR`].
    Vega,
    /// Every quote alike.
    Uniform,
}

/// Fit options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitConfig {
    /// Quote weights.
    pub weighting: Weighting,
    /// Repair a butterfly arbitrage of the fitted smile by penalised refinement.
    pub repair_butterfly: bool,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            weighting: Weighting::Auto,
            repair_butterfly: true,
        }
    }
}

/// Why a quote was left out of the fit.
#[derive(Debug, Clone, PartialEq)]
pub enum RejectReason {
    /// A NaN or infinite strike, vol, price or bid/ask.
    NonFinite,
    /// Strike ≤ 0.
    NonPositiveStrike,
    /// Vol ≤ 0.
    NonPositiveVol,
    /// Vol above [`MAX_QUOTE_VOL`].
    VolTooHigh,
    /// Bid vol above ask vol, or a negative bid.
    CrossedBidAsk,
    /// A price at or outside the no-arbitrage bounds (intrinsic, upper bound), so no vol exists.
    PriceOutsideBounds {
        /// Lowest admissible price (exclusive).
        lower: f64,
        /// Highest admissible price (exclusive).
        upper: f64,
    },
    /// Inversion to a vol failed for another reason (the pricing library's message).
    InversionFailed(String),
    /// Another quote at the same strike was kept (the out-of-the-money one for prices, else the
    /// first listed).
    DuplicateStrike,
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RejectReason::NonFinite => f.write_str("non-finite input"),
            RejectReason::NonPositiveStrike => f.write_str("strike <= 0"),
            RejectReason::NonPositiveVol => f.write_str("vol <= 0"),
            RejectReason::VolTooHigh => write!(f, "vol above {MAX_QUOTE_VOL}"),
            RejectReason::CrossedBidAsk => f.write_str("crossed or negative bid/ask vol"),
            RejectReason::PriceOutsideBounds { lower, upper } => {
                write!(f, "price outside no-arbitrage bounds ({lower}, {upper})")
            }
            RejectReason::InversionFailed(m) => write!(f, "implied vol inversion failed: {m}"),
            RejectReason::DuplicateStrike => f.write_str("duplicate strike"),
        }
    }
}

/// A quote left out, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedQuote {
    /// Its strike, as given.
    pub strike: f64,
    /// Why.
    pub reason: RejectReason,
}

/// A quote used by the fit, with the fitted vol at its strike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitPoint {
    /// Strike.
    pub strike: f64,
    /// ln(K/F).
    pub log_moneyness: f64,
    /// Quoted (or inverted) vol.
    pub vol_quote: f64,
    /// Fitted vol.
    pub vol_fit: f64,
    /// Weight in the fit (relative).
    pub weight: f64,
}

/// The fit of one smile on vols.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmileFit {
    /// The fitted parameters.
    pub svi: SviParams,
    /// Root-mean-square of (fitted − quoted) vol over the quotes used, unweighted (decimal).
    pub rmse_vol: f64,
    /// Largest |fitted − quoted| vol (decimal).
    pub max_error_vol: f64,
    /// The first fit had a butterfly arbitrage and the penalised refinement removed it.
    pub butterfly_repaired: bool,
}

/// Report of one expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiryFitReport {
    /// Expiry in years.
    pub expiry_years: f64,
    /// The forward used for k = ln(K/F).
    pub forward: f64,
    /// Fitted parameters.
    pub svi: SviParams,
    /// RMSE in vol (decimal, 0.001 = 0.1 vol point), unweighted.
    pub rmse_vol: f64,
    /// Max error in vol (decimal).
    pub max_error_vol: f64,
    /// Quotes used.
    pub quotes: usize,
    /// Quotes rejected, with reasons.
    pub rejected: Vec<RejectedQuote>,
    /// The quotes used, with the fitted vol at each.
    pub points: Vec<FitPoint>,
    /// See [`SmileFit::butterfly_repaired`].
    pub butterfly_repaired: bool,
}

/// Report of `ale surface fit` for one underlying.
#[derive(Debug, Clone, PartialEq)]
pub struct SurfaceFitReport {
    /// Underlying name.
    pub underlying: String,
    /// Per expiry, in increasing order.
    pub expiries: Vec<ExpiryFitReport>,
    /// Arbitrage left in the fitted surface (empty when clean).
    pub arbitrage: Vec<ArbitrageViolation>,
}

/// Why a fit could not be made.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum FitError {
    /// No expiry given.
    #[error("invalid 'quotes': no expiry to fit")]
    NoExpiries,
    /// Too few usable quotes in one expiry.
    #[error(
        "invalid 'quotes': expiry {expiry_years} has {usable} usable quote(s), at least {needed} needed ({rejected} rejected{first_reason})"
    )]
    TooFewQuotes {
        /// The expiry.
        expiry_years: f64,
        /// Usable quotes.
        usable: usize,
        /// [`MIN_QUOTES_PER_EXPIRY`].
        needed: usize,
        /// Rejected quotes.
        rejected: usize,
        /// `", first: <reason>"` or empty.
        first_reason: String,
    },
    /// Slice input lengths differ.
    #[error("invalid 'weights': {got} given for {expected} points")]
    LengthMismatch {
        /// Points.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// The search found no admissible parameters (should not happen on valid input).
    #[error("fit of expiry {expiry_years} found no admissible SVI parameters")]
    NoSolution {
        /// The expiry.
        expiry_years: f64,
    },
    /// An invalid scalar input or expiry order.
    #[error(transparent)]
    Input(#[from] SurfaceError),
}

/// Fits raw SVI to `(log_moneyness, vol)` points of one expiry, with optional weights on the
/// squared vol errors (`None`: vega weights).
///
/// # Errors
/// Lengths differ, fewer than [`MIN_QUOTES_PER_EXPIRY`] points, a non-finite k, a vol not in
/// (0, [`MAX_QUOTE_VOL`]], a weight not finite and ≥ 0, duplicate k, or a bad expiry.
pub fn fit_smile(
    expiry_years: f64,
    log_moneyness: &[f64],
    vols: &[f64],
    weights: Option<&[f64]>,
    config: &FitConfig,
) -> Result<SmileFit, FitError> {
    crate::error::check_positive("expiry_years", expiry_years)?;
    let n = log_moneyness.len();
    if vols.len() != n {
        return Err(FitError::LengthMismatch {
            expected: n,
            got: vols.len(),
        });
    }
    if let Some(w) = weights {
        if w.len() != n {
            return Err(FitError::LengthMismatch {
                expected: n,
                got: w.len(),
            });
        }
        for &x in w {
            crate::error::check_non_negative("weight", x)?;
        }
    }
    if n < MIN_QUOTES_PER_EXPIRY {
        return Err(FitError::TooFewQuotes {
            expiry_years,
            usable: n,
            needed: MIN_QUOTES_PER_EXPIRY,
            rejected: 0,
            first_reason: String::new(),
        });
    }
    for i in 0..n {
        crate::error::check_finite("log_moneyness", log_moneyness[i])?;
        if !(vols[i] > 0.0 && vols[i] <= MAX_QUOTE_VOL) {
            return Err(SurfaceError::invalid("vol", "in (0, 10]", vols[i]).into());
        }
        for j in 0..i {
            if log_moneyness[j] == log_moneyness[i] {
                return Err(SurfaceError::invalid(
                    "log_moneyness",
                    "distinct within an expiry",
                    log_moneyness[i],
                )
                .into());
            }
        }
    }
    let owned;
    let weights = match weights {
        Some(w) => w,
        None => {
            owned = vega_weights(expiry_years, log_moneyness, vols);
            &owned
        }
    };
    fit_points(expiry_years, log_moneyness, vols, weights, config)
}

/// Relative Black vega at each point, floored at [`VEGA_WEIGHT_FLOOR`] of the largest.
fn vega_weights(expiry_years: f64, k: &[f64], vols: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = k
        .iter()
        .zip(vols)
        .map(|(&k, &s)| {
            let sd = s * expiry_years.sqrt();
            let d1 = -k / sd + 0.5 * sd;
            (-0.5 * d1 * d1).exp()
        })
        .collect();
    let max = v.iter().copied().fold(0.0, f64::max);
    for x in &mut v {
        *x = if max > 0.0 {
            (*x / max).max(VEGA_WEIGHT_FLOOR)
        } else {
            1.0
        };
    }
    v
}

/// The fit proper, on validated points.
fn fit_points(
    expiry_years: f64,
    k: &[f64],
    vols: &[f64],
    weights: &[f64],
    config: &FitConfig,
) -> Result<SmileFit, FitError> {
    let n = k.len();
    let max_weight = weights.iter().copied().fold(0.0, f64::max);
    if !(max_weight > 0.0) {
        return Err(SurfaceError::invalid("weight", "positive for at least one quote", 0.0).into());
    }
    let mut w = Vec::with_capacity(n);
    let mut c = Vec::with_capacity(n);
    let mut sqrt_weight = Vec::with_capacity(n);
    for i in 0..n {
        let omega = weights[i] / max_weight;
        let wi = vols[i] * vols[i] * expiry_years;
        w.push(wi);
        // A total-variance error δw is a vol error δw/(2σT): weight δw² by ω/(4wT) (T dropped).
        c.push(omega / wi);
        sqrt_weight.push(omega.sqrt());
    }
    let no_solution = FitError::NoSolution { expiry_years };
    let domain = qe::Domain::for_points(k);
    let candidates = qe::search(&qe::Data { k, w: &w, c: &c }, &domain);
    let sigma_min = domain.ln_s_lo.exp();
    let data = lm::VolData {
        k,
        vol: vols,
        sqrt_weight: &sqrt_weight,
        expiry_years,
        sigma_min,
    };
    // Refine every candidate on the exact vol objective; keep the best.
    // Refine every candidate on the exact vol objective for a few steps (a race), then the best
    // one to convergence.
    let (leader, _) = candidates
        .iter()
        .flatten()
        .map(|(_, start)| lm::refine(&data, None, *start, LM_RACE_ITERATIONS))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or(no_solution.clone())?;
    let mut p = lm::refine(&data, None, leader, LM_MAX_ITERATIONS).0;

    let extent = k.iter().fold(0.0f64, |m, &x| m.max(x.abs()));
    let mut butterfly_repaired = false;
    if config.repair_butterfly {
        // A little wider than the report's grid, whose width follows the final w(0).
        let hw = 1.1 * grid_half_width(svi_w(&p, 0.0), extent);
        let clean =
            |q: &[f64; 5]| min_g_dense(q, hw, FIT_CHECK_GRID_POINTS) >= -BUTTERFLY_TOLERANCE;
        if !clean(&p) {
            let pen_k = dense_grid(&p, hw, REPAIR_GRID_POINTS);
            let mut q = p;
            for &weight in &REPAIR_PENALTY_WEIGHTS {
                let pen = lm::Penalty { k: &pen_k, weight };
                q = lm::refine(&data, Some(&pen), q, LM_MAX_ITERATIONS).0;
                if clean(&q) {
                    butterfly_repaired = true;
                    break;
                }
            }
            if butterfly_repaired {
                p = q;
            }
        }
    }

    let svi = SviParams::new(p[0], p[1], p[2], p[3], p[4]).map_err(|_| no_solution)?;
    let (mut sum2, mut max_err) = (0.0, 0.0f64);
    for i in 0..n {
        let e = (svi.total_variance(k[i]).max(0.0) / expiry_years).sqrt() - vols[i];
        sum2 += e * e;
        max_err = max_err.max(e.abs());
    }
    Ok(SmileFit {
        svi,
        rmse_vol: (sum2 / n as f64).sqrt(),
        max_error_vol: max_err,
        butterfly_repaired,
    })
}

/// `n` points uniform on [−hw, hw] and `n` points k = m + σ·sinh(u), u uniform, dense where the
/// smile turns (near its vertex m), clipped to [−hw, hw].
fn dense_grid(p: &[f64; 5], hw: f64, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(2 * n);
    dense_grid_for_each(p, hw, n, |k| out.push(k));
    out
}

fn dense_grid_for_each(p: &[f64; 5], hw: f64, n: usize, mut f: impl FnMut(f64)) {
    let (m, s) = (p[3], p[4]);
    let (u_lo, u_hi) = (((-hw - m) / s).asinh(), ((hw - m) / s).asinh());
    let step = 1.0 / (n - 1) as f64;
    for i in 0..n {
        let x = i as f64 * step;
        f(-hw + 2.0 * hw * x);
        f((m + s * (u_lo + (u_hi - u_lo) * x).sinh()).clamp(-hw, hw));
    }
}

/// min of Durrleman's g over [`dense_grid`].
fn min_g_dense(p: &[f64; 5], hw: f64, n: usize) -> f64 {
    let svi = SviParams {
        a: p[0],
        b: p[1],
        rho: p[2],
        m: p[3],
        sigma: p[4],
    };
    let mut min = f64::INFINITY;
    dense_grid_for_each(p, hw, n, |k| {
        let g = svi.durrleman_g(k);
        // NaN counts as a violation.
        min = if g >= min { min } else { g };
    });
    min
}

fn svi_w(p: &[f64; 5], k: f64) -> f64 {
    let x = k - p[3];
    p[0] + p[1] * (p[2] * x + (x * x + p[4] * p[4]).sqrt())
}

/// A cleaned quote: strike, k, vol, optional spread, kind when given as a price.
struct Clean {
    strike: f64,
    k: f64,
    vol: f64,
    spread: Option<f64>,
    kind: Option<OptionKind>,
}

/// Cleans and inverts the quotes of one expiry, rejecting what cannot be used.
fn clean_quotes(
    expiry_years: f64,
    forward: f64,
    rate: f64,
    quotes: &[Quote],
) -> (Vec<Clean>, Vec<RejectedQuote>) {
    let mut used: Vec<Clean> = Vec::with_capacity(quotes.len());
    let mut rejected = Vec::new();
    for q in quotes {
        let reject = |reason| RejectedQuote {
            strike: q.strike,
            reason,
        };
        if !q.strike.is_finite() {
            rejected.push(reject(RejectReason::NonFinite));
            continue;
        }
        if !(q.strike > 0.0) {
            rejected.push(reject(RejectReason::NonPositiveStrike));
            continue;
        }
        let spread = match q.bid_ask_vol {
            None => None,
            Some((bid, ask)) if !(bid.is_finite() && ask.is_finite()) => {
                rejected.push(reject(RejectReason::NonFinite));
                continue;
            }
            Some((bid, ask)) if !(bid >= 0.0 && ask >= bid) => {
                rejected.push(reject(RejectReason::CrossedBidAsk));
                continue;
            }
            Some((bid, ask)) => Some((ask - bid).max(MIN_SPREAD_VOL)),
        };
        let (vol, kind) = match q.value {
            QuoteValue::Vol(v) => (v, None),
            QuoteValue::Price { kind, price } => {
                match prices::invert(kind, forward, q.strike, expiry_years, price, rate) {
                    Ok(v) => (v, Some(kind)),
                    Err(reason) => {
                        rejected.push(reject(reason));
                        continue;
                    }
                }
            }
        };
        if !vol.is_finite() {
            rejected.push(reject(RejectReason::NonFinite));
            continue;
        }
        if !(vol > 0.0) {
            rejected.push(reject(RejectReason::NonPositiveVol));
            continue;
        }
        if vol > MAX_QUOTE_VOL {
            rejected.push(reject(RejectReason::VolTooHigh));
            continue;
        }
        used.push(Clean {
            strike: q.strike,
            k: (q.strike / forward).ln(),
            vol,
            spread,
            kind,
        });
    }
    // Duplicates: keep the out-of-the-money price quote if there is one, else the first listed.
    used.sort_by(|a, b| a.strike.total_cmp(&b.strike));
    let mut deduped: Vec<Clean> = Vec::with_capacity(used.len());
    for q in used {
        match deduped.last_mut() {
            Some(last) if last.strike == q.strike => {
                let otm = |c: &Clean| match c.kind {
                    Some(OptionKind::Call) => c.strike >= forward,
                    Some(OptionKind::Put) => c.strike < forward,
                    None => false,
                };
                if otm(&q) && !otm(last) {
                    let old = std::mem::replace(last, q);
                    rejected.push(RejectedQuote {
                        strike: old.strike,
                        reason: RejectReason::DuplicateStrike,
                    });
                } else {
                    rejected.push(RejectedQuote {
                        strike: q.strike,
                        reason: RejectReason::DuplicateStrike,
                    });
                }
            }
            _ => deduped.push(q),
        }
    }
    (deduped, rejected)
}

/// Fits one expiry's quotes; the forward and the discount rate come from `curve`.
///
/// # Errors
/// A bad expiry, or fewer than [`MIN_QUOTES_PER_EXPIRY`] usable quotes after rejection.
pub fn fit_expiry(
    curve: &ForwardCurve,
    quotes: &ExpiryQuotes,
    config: &FitConfig,
) -> Result<ExpiryFitReport, FitError> {
    let expiry_years = crate::error::check_positive("expiry_years", quotes.expiry_years)?;
    let forward = curve.forward(expiry_years);
    let (used, rejected) = clean_quotes(expiry_years, forward, curve.rate(), &quotes.quotes);
    if used.len() < MIN_QUOTES_PER_EXPIRY {
        return Err(FitError::TooFewQuotes {
            expiry_years,
            usable: used.len(),
            needed: MIN_QUOTES_PER_EXPIRY,
            rejected: rejected.len(),
            first_reason: rejected
                .first()
                .map(|r| format!(", first: strike {}: {}", r.strike, r.reason))
                .unwrap_or_default(),
        });
    }
    let k: Vec<f64> = used.iter().map(|q| q.k).collect();
    let vols: Vec<f64> = used.iter().map(|q| q.vol).collect();
    let use_spread = match config.weighting {
        Weighting::Auto => used.iter().all(|q| q.spread.is_some()),
        Weighting::Vega | Weighting::Uniform => false,
    };
    let weights: Vec<f64> = if use_spread {
        used.iter()
            .map(|q| {
                let s = q.spread.unwrap_or(1.0);
                1.0 / (s * s)
            })
            .collect()
    } else if config.weighting == Weighting::Uniform {
        vec![1.0; used.len()]
    } else {
        vega_weights(expiry_years, &k, &vols)
    };
    let fit = fit_points(expiry_years, &k, &vols, &weights, config)?;
    let max_weight = weights.iter().copied().fold(0.0, f64::max);
    let points = used
        .iter()
        .zip(&weights)
        .map(|(q, &wt)| FitPoint {
            strike: q.strike,
            log_moneyness: q.k,
            vol_quote: q.vol,
            vol_fit: (fit.svi.total_variance(q.k).max(0.0) / expiry_years).sqrt(),
            weight: wt / max_weight,
        })
        .collect();
    Ok(ExpiryFitReport {
        expiry_years,
        forward,
        svi: fit.svi,
        rmse_vol: fit.rmse_vol,
        max_error_vol: fit.max_error_vol,
        quotes: used.len(),
        rejected,
        points,
        butterfly_repaired: fit.butterfly_repaired,
    })
}

/// Fits every expiry of one underlying, builds the SVI surface and checks it for arbitrage.
///
/// # Errors
/// No expiry, expiries not strictly increasing, or any expiry failing [`fit_expiry`] (the error
/// names it).
pub fn fit_surface(
    underlying: &str,
    curve: &ForwardCurve,
    expiries: &[ExpiryQuotes],
    config: &FitConfig,
) -> Result<(Surface, SurfaceFitReport), FitError> {
    if expiries.is_empty() {
        return Err(FitError::NoExpiries);
    }
    for pair in expiries.windows(2) {
        if !(pair[1].expiry_years > pair[0].expiry_years) {
            return Err(SurfaceError::NonIncreasingExpiries {
                previous: pair[0].expiry_years,
                next: pair[1].expiry_years,
            }
            .into());
        }
    }
    let mut reports = Vec::with_capacity(expiries.len());
    for e in expiries {
        reports.push(fit_expiry(curve, e, config)?);
    }
    let surface = Surface::from_svi(
        curve.clone(),
        &reports
            .iter()
            .map(|r| (r.expiry_years, r.svi))
            .collect::<Vec<_>>(),
    )?;
    let extents: Vec<f64> = reports
        .iter()
        .map(|r| {
            r.points
                .iter()
                .fold(0.0f64, |m, p| m.max(p.log_moneyness.abs()))
        })
        .collect();
    let arbitrage = check_arbitrage_with_extents(&surface, &extents);
    Ok((
        surface,
        SurfaceFitReport {
            underlying: underlying.to_string(),
            expiries: reports,
            arbitrage,
        },
    ))
}
