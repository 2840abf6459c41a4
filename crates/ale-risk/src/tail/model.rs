//! The Monte Carlo model of one horizon's (spot log-return, implied-vol log-change) per
//! underlying, simulated jointly, and the paths it generates.
//!
//! Per underlying u, over a horizon of h days:
//! - rᵤ = σᵤ·√(h/365)·zᵤ, σᵤ today's annualised vol (the market's `realized_vol`, else the ATM
//!   implied vol at [`TailParams::vol_ref_days`]);
//! - yᵤ = √h·(aᵤ + β↓ᵤ·min(zᵤ, 0) + β↑ᵤ·max(zᵤ, 0) + sᵤ·εᵤ): the log-change of the reference
//!   (30-day ATM) implied vol. The data say the response is V-shaped — vol rises when BTC falls
//!   (β↓ < 0) and, less, when it rises (β↑ > 0), drifting down on quiet days (a < 0) — so a
//!   single linear slope (which comes out near 0) would hide the crash response. sᵤ is the
//!   residual's daily sd. Exact for h = 1 day; a square-root-of-time scaling otherwise;
//! - (z, ε) = m·(L·g, e): g, e standard normals (L the Cholesky factor of the return
//!   correlation; ε of two underlyings correlated by `vol_resid_corr`), m = √((ν − 2)/W),
//!   W ~ χ²_ν, one W per path shared by every coordinate: a multivariate Student-t with unit
//!   variances, so that the underlyings' tails and the vol spikes come together. Without a dof
//!   the model is Gaussian (m = 1).
//!
//! Reproducibility: paths are generated in blocks of [`BLOCK_PATHS`]; block b draws from
//! `ChaCha8Rng::seed_from_u64(seed)` on stream b, so a path's numbers depend on the seed and its
//! index only, never on the number of threads.

use ale_market::MarketSnapshot;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::{TailError, TailParams};

/// Paths generated from one ChaCha stream.
pub const BLOCK_PATHS: usize = 64;

/// Most underlyings simulated jointly.
pub const MAX_UNDERLYINGS: usize = 16;

/// Largest spot log-return a Monte Carlo path may take (either sign).
pub const MAX_LOG_RETURN: f64 = 10.0;

/// Most paths one run may ask for.
pub const MAX_PATHS: usize = 10_000_000;

/// The marginal model of one underlying.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetModel {
    /// The underlying's name (`BTC`).
    pub name: String,
    /// Intercept of the daily log-change of the 30-day ATM implied vol.
    pub vol_intercept: f64,
    /// Its slope on the standardised return on down days (min(z, 0)).
    pub vol_beta_down: f64,
    /// Its slope on up days (max(z, 0)).
    pub vol_beta_up: f64,
    /// Daily standard deviation of the regression's residual.
    pub vol_resid_sd: f64,
}

/// The joint model.
#[derive(Debug, Clone, PartialEq)]
pub struct TailModel {
    /// Student-t degrees of freedom (> 2); `None`: Gaussian.
    pub dof: Option<f64>,
    /// The underlyings the model knows.
    pub assets: Vec<AssetModel>,
    /// Correlation of the standardised returns, row-major, assets × assets.
    pub return_corr: Vec<f64>,
    /// Correlation of the vol residuals of two different underlyings.
    pub vol_resid_corr: f64,
}

impl AssetModel {
    /// The estimated BTC vol response under another name.
    pub fn crypto_default(name: &str) -> AssetModel {
        AssetModel {
            name: name.into(),
            vol_intercept: DEFAULT_VOL_INTERCEPT,
            vol_beta_down: DEFAULT_VOL_BETA_DOWN,
            vol_beta_up: DEFAULT_VOL_BETA_UP,
            vol_resid_sd: DEFAULT_VOL_RESID_SD,
        }
    }

    /// The daily vol log-change for a standardised return z and residual ε.
    pub fn vol_response(&self, z: f64, eps: f64) -> f64 {
        self.vol_intercept
            + self.vol_beta_down * z.min(0.0)
            + self.vol_beta_up * z.max(0.0)
            + self.vol_resid_sd * eps
    }
}

impl TailModel {
    /// The model estimated from `../shared/data` (docs/tail-risk.md, reproduced by
    /// `cargo run --release -p ale-risk --example tail_estimate`): BTC and ETH daily closes
    /// 2017-09-01 .. 2025-12-31 filtered by GARCH(1,1), BTC DVOL 2022-11-06 .. 2025-11-12.
    /// ETH has no implied-vol index in the data: it takes BTC's vol regression, and the two
    /// vol residuals are assumed perfectly correlated (an assumption, not an estimate).
    pub fn crypto_default() -> TailModel {
        TailModel {
            dof: Some(DEFAULT_DOF),
            assets: vec![
                AssetModel::crypto_default("BTC"),
                AssetModel::crypto_default("ETH"),
            ],
            return_corr: vec![1.0, DEFAULT_BTC_ETH_CORR, DEFAULT_BTC_ETH_CORR, 1.0],
            vol_resid_corr: 1.0,
        }
    }

    /// Checks the model's numbers.
    pub fn validate(&self) -> Result<(), TailError> {
        let bad = |field: &str, reason: String| {
            Err(TailError::Invalid {
                field: field.into(),
                reason,
            })
        };
        if let Some(nu) = self.dof {
            if !(nu > 2.0 && nu.is_finite()) {
                return bad("dof", format!("must be finite and > 2, got {nu}"));
            }
        }
        let m = self.assets.len();
        if self.return_corr.len() != m * m {
            return bad(
                "return_corr",
                format!("must hold {m}×{m} values, got {}", self.return_corr.len()),
            );
        }
        for a in &self.assets {
            let finite = [a.vol_intercept, a.vol_beta_down, a.vol_beta_up]
                .iter()
                .all(|x| x.is_finite());
            if !(finite && a.vol_resid_sd >= 0.0 && a.vol_resid_sd.is_finite()) {
                return bad(
                    &format!("{}.vol", a.name),
                    format!(
                        "intercept and slopes must be finite and resid sd finite and >= 0, got \
                         {}, {}, {}, {}",
                        a.vol_intercept, a.vol_beta_down, a.vol_beta_up, a.vol_resid_sd
                    ),
                );
            }
        }
        if !(-1.0..=1.0).contains(&self.vol_resid_corr) {
            return bad(
                "vol_resid_corr",
                format!("must be in [-1, 1], got {}", self.vol_resid_corr),
            );
        }
        cholesky(&self.return_corr, m).map(|_| ())
    }
}

/// Student-t dof of the standardised daily returns (pooled BTC and ETH GARCH residuals).
pub const DEFAULT_DOF: f64 = 3.556;
/// Intercept of daily DVOL log-changes on standardised BTC returns (piecewise regression).
pub const DEFAULT_VOL_INTERCEPT: f64 = -0.01630;
/// Slope on down days.
pub const DEFAULT_VOL_BETA_DOWN: f64 = -0.02895;
/// Slope on up days.
pub const DEFAULT_VOL_BETA_UP: f64 = 0.02414;
/// Residual daily sd of DVOL log-changes.
pub const DEFAULT_VOL_RESID_SD: f64 = 0.04338;
/// Correlation of the standardised BTC and ETH daily returns.
pub const DEFAULT_BTC_ETH_CORR: f64 = 0.8066;

/// Lower-triangular Cholesky factor of an m×m correlation matrix (row-major).
pub fn cholesky(a: &[f64], m: usize) -> Result<Vec<f64>, TailError> {
    let mut l = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..=i {
            let mut s = a[i * m + j];
            if !s.is_finite() || (a[i * m + j] - a[j * m + i]).abs() > 1e-12 {
                return Err(TailError::Invalid {
                    field: "return_corr".into(),
                    reason: format!("must be finite and symmetric, got [{i}][{j}] = {s}"),
                });
            }
            for k in 0..j {
                s -= l[i * m + k] * l[j * m + k];
            }
            if i == j {
                if s <= 0.0 {
                    return Err(TailError::Invalid {
                        field: "return_corr".into(),
                        reason: "must be positive definite".into(),
                    });
                }
                l[i * m + i] = s.sqrt();
            } else {
                l[i * m + j] = s / l[j * m + j];
            }
        }
    }
    Ok(l)
}

/// Scenarios of every underlying over one horizon: `log_return[u][p]`, `vol_log_change[u][p]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Paths {
    /// Underlying names, in the order of the vectors.
    pub underlyings: Vec<String>,
    /// Spot log-return per underlying and path.
    pub log_return: Vec<Vec<f64>>,
    /// Log-change of the reference implied vol per underlying and path.
    pub vol_log_change: Vec<Vec<f64>>,
    /// Horizon, days.
    pub horizon_days: f64,
}

impl Paths {
    /// Number of paths.
    pub fn len(&self) -> usize {
        self.log_return.first().map_or(0, Vec::len)
    }
    /// True without paths.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Index of an underlying.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.underlyings.iter().position(|u| u == name)
    }
}

/// A standard normal (Marsaglia's polar method; both values of the pair are used).
struct Normals {
    spare: Option<f64>,
}

impl Normals {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> f64 {
        if let Some(x) = self.spare.take() {
            return x;
        }
        loop {
            let u = 2.0 * rng.random::<f64>() - 1.0;
            let v = 2.0 * rng.random::<f64>() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let f = (-2.0 * s.ln() / s).sqrt();
                self.spare = Some(v * f);
                return u * f;
            }
        }
    }

    /// Gamma(shape, 1) by Marsaglia & Tsang (2000), boosted for shape < 1.
    fn gamma(&mut self, rng: &mut ChaCha8Rng, shape: f64) -> f64 {
        if shape < 1.0 {
            let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
            return self.gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.next(rng);
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u: f64 = rng.random();
            if u < 1.0 - 0.0331 * x * x * x * x || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
                return d * v;
            }
        }
    }
}

/// Today's annualised vol of an underlying: its `realized_vol`, else the ATM implied vol at
/// `vol_ref_days`.
pub fn todays_vol(u: &ale_market::UnderlyingMarket, vol_ref_days: f64) -> f64 {
    u.realized_vol()
        .unwrap_or_else(|| u.atm_vol(vol_ref_days / 365.0))
}

/// Monte Carlo paths of every underlying of `market` (in the market's order).
pub fn mc_paths(
    model: &TailModel,
    market: &MarketSnapshot,
    params: &TailParams,
) -> Result<Paths, TailError> {
    params.validate()?;
    model.validate()?;
    if market.underlyings().count() > MAX_UNDERLYINGS {
        return Err(TailError::Limit(format!(
            "the market has more than {MAX_UNDERLYINGS} underlyings"
        )));
    }
    let mut names = Vec::new();
    let mut sigma = Vec::new();
    let mut ix = Vec::new();
    for u in market.underlyings() {
        let name = u.name().to_string();
        let Some(i) = model.assets.iter().position(|a| a.name == name) else {
            return Err(TailError::UnknownUnderlying {
                name,
                known: model
                    .assets
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let s = todays_vol(u, params.vol_ref_days);
        if !(s.is_finite() && s > 0.0) {
            return Err(TailError::Invalid {
                field: format!("{name}.vol"),
                reason: format!("today's vol must be finite and > 0, got {s}"),
            });
        }
        names.push(name);
        sigma.push(s);
        ix.push(i);
    }
    Ok(mc_paths_with_vols(model, &names, &ix, &sigma, params))
}

/// Monte Carlo paths for the model assets `ix` (named `names`) with today's annualised vols
/// `sigma_annual` (the backtest passes its filter's forecasts).
pub fn mc_paths_with_vols(
    model: &TailModel,
    names: &[String],
    ix: &[usize],
    sigma_annual: &[f64],
    params: &TailParams,
) -> Paths {
    let m_all = model.assets.len();
    // Correlation of the selected assets.
    let m = ix.len();
    let mut corr = vec![0.0; m * m];
    for a in 0..m {
        for b in 0..m {
            corr[a * m + b] = model.return_corr[ix[a] * m_all + ix[b]];
        }
    }
    let l = cholesky(&corr, m).unwrap_or_else(|_| {
        // validate() checked the full matrix; a principal submatrix of a positive-definite
        // matrix is positive definite.
        (0..m * m)
            .map(|k| if k % (m + 1) == 0 { 1.0 } else { 0.0 })
            .collect()
    });
    let n = params.paths;
    let h = params.horizon_days;
    let scale: Vec<f64> = sigma_annual
        .iter()
        .map(|s| s * (h / 365.0).sqrt())
        .collect();
    let rho_v = model.vol_resid_corr;
    let (common_w, own_w) = (rho_v.max(0.0).sqrt(), (1.0 - rho_v.max(0.0)).sqrt());
    // Per block: BLOCK_PATHS × m × 2 values (return, vol change), interleaved by path.
    let per_path = 2 * m;
    let mut flat = vec![0.0; n * per_path];
    flat.par_chunks_mut(BLOCK_PATHS * per_path)
        .enumerate()
        .for_each(|(b, out)| {
            let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
            rng.set_stream(b as u64);
            let mut normals = Normals { spare: None };
            let mut g = [0.0f64; MAX_UNDERLYINGS];
            let mut z = [0.0f64; MAX_UNDERLYINGS];
            for path in out.chunks_mut(per_path) {
                let mix = match model.dof {
                    Some(nu) => {
                        let w = 2.0 * normals.gamma(&mut rng, 0.5 * nu);
                        ((nu - 2.0) / w.max(f64::MIN_POSITIVE)).sqrt()
                    }
                    None => 1.0,
                };
                for gi in g.iter_mut().take(m) {
                    *gi = normals.next(&mut rng);
                }
                for a in 0..m {
                    z[a] = mix * (0..=a).map(|k| l[a * m + k] * g[k]).sum::<f64>();
                }
                let e0 = normals.next(&mut rng);
                for a in 0..m {
                    let eps = mix * (common_w * e0 + own_w * normals.next(&mut rng));
                    let am = &model.assets[ix[a]];
                    // A limit no realistic path reaches (|r| ≤ 10, a factor e¹⁰), so that the
                    // t's rare astronomical draws stay in the pricer's domain.
                    path[2 * a] = (scale[a] * z[a]).clamp(-MAX_LOG_RETURN, MAX_LOG_RETURN);
                    path[2 * a + 1] = h.sqrt() * am.vol_response(z[a], eps);
                }
            }
        });
    let mut log_return = vec![Vec::with_capacity(n); m];
    let mut vol_log_change = vec![Vec::with_capacity(n); m];
    for path in flat.chunks(per_path) {
        for a in 0..m {
            log_return[a].push(path[2 * a]);
            vol_log_change[a].push(path[2 * a + 1]);
        }
    }
    Paths {
        underlyings: names.to_vec(),
        log_return,
        vol_log_change,
        horizon_days: h,
    }
}
