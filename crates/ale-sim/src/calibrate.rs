//! Calibration on the data: the implied-vol model used where no implied-vol history exists, and
//! the jump-diffusion with stochastic volatility of the synthetic scenarios.
//!
//! Everything is fitted on daily data (BTC closes 2017-10 onwards, DVOL 2022-11 to 2025-11):
//! - implied-vol model: ln IV_d = a + b·ln RV30_d + c·r_d (ordinary least squares), RV30 the
//!   trailing 30-day realised vol (√365·rms of daily log returns), r_d the day's log return;
//! - spot–vol relation: β and correlation of Δln DVOL on r (DVOL days, jump days excluded),
//!   and the correlation on the days spot fell, which is the synthetic model's ρ;
//! - jumps: days with |r| > [`JUMP_Z`] trailing daily sigmas; intensity per year, mean and sd;
//!   the vol jump that coincides: slope of Δln DVOL on r over the jump days with DVOL (the
//!   spot–vol β where there are too few);
//! - vol dynamics: AR(1) of ln DVOL → mean reversion κ = −365·ln φ, level, vol of vol
//!   ξ = sd(residual)·√365; the variance risk premium IV/RV (mean of DVOL/RV30);
//! - ETH against BTC ([`PairFit`]): the correlation of their daily (and hourly) log returns, the
//!   ratio of their volatilities, and on BTC's jump days the slope of ETH's return on BTC's and
//!   the residual sd (a crash of one is a crash of both).
//!
//! `docs/backtest.md` records the figures this gives on the shared data and the command.

use crate::data::{Bar, DataSet};

/// A daily return beyond this many trailing sigmas is a jump.
pub const JUMP_Z: f64 = 4.0;
/// Days of history the realised vol looks back.
pub const RV_DAYS: usize = 30;
/// History before this (2017-10-01) is skipped: the first weeks of Binance data are unreliable.
pub const HISTORY_START_S: i64 = 1_506_816_000;

/// The implied-vol model ln IV = a + b·ln RV + c·r.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IvModel {
    /// Intercept.
    pub a: f64,
    /// Elasticity of IV to realised vol.
    pub b: f64,
    /// Response of ln IV to the day's log return (negative: vol up when price falls).
    pub c: f64,
    /// R² of the fit.
    pub r2: f64,
    /// Residual standard deviation (of ln IV).
    pub resid_sd: f64,
    /// Days fitted.
    pub n: usize,
}

impl IvModel {
    /// IV for a realised vol and a return, clamped to [0.10, 4.00].
    pub fn iv(&self, realised_vol: f64, log_return: f64) -> f64 {
        (self.a + self.b * realised_vol.max(0.05).ln() + self.c * log_return)
            .exp()
            .clamp(0.10, 4.0)
    }
}

/// Parameters of the synthetic jump-diffusion with stochastic (log-OU) volatility.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SvjParams {
    /// Long-run instantaneous vol (annualised).
    pub vol_level: f64,
    /// Mean reversion of ln vol, per year.
    pub kappa: f64,
    /// Vol of ln vol, per √year.
    pub xi: f64,
    /// Correlation of spot and vol shocks (negative).
    pub rho: f64,
    /// Jumps per year.
    pub jump_rate: f64,
    /// Mean jump (log return).
    pub jump_mean: f64,
    /// Jump standard deviation.
    pub jump_sd: f64,
    /// Jump of ln vol per unit of log-return jump (negative: a fall lifts vol).
    pub vol_jump_beta: f64,
    /// IV / instantaneous vol (variance risk premium).
    pub vrp: f64,
}

/// A second underlying (ETH) against BTC, fitted on the days (and hours) both have closes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairFit {
    /// Correlation of daily log returns.
    pub corr_daily: f64,
    /// Correlation of hourly log returns (the hourly years; the daily figure when absent).
    pub corr_hourly: f64,
    /// Slope of ETH's daily log return on BTC's.
    pub beta: f64,
    /// sd(ETH daily log return) / sd(BTC's).
    pub vol_ratio: f64,
    /// On BTC's jump days: slope of ETH's return on BTC's.
    pub jump_beta: f64,
    /// On BTC's jump days: sd of ETH's return less `jump_beta` · BTC's.
    pub jump_resid_sd: f64,
    /// Days fitted.
    pub days: usize,
    /// Hours fitted.
    pub hours: usize,
    /// BTC jump days among them.
    pub jump_days: usize,
}

impl Default for PairFit {
    /// The figures [`calibrate`] gives on the full shared data (docs/backtest.md).
    fn default() -> Self {
        PairFit {
            corr_daily: 0.79,
            corr_hourly: 0.79,
            beta: 1.02,
            vol_ratio: 1.29,
            jump_beta: 1.06,
            jump_resid_sd: 0.03,
            days: 0,
            hours: 0,
            jump_days: 0,
        }
    }
}

/// Everything fitted, with the sample sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// The implied-vol model.
    pub iv_model: IvModel,
    /// Slope of Δln DVOL on the daily log return.
    pub spot_vol_beta: f64,
    /// Correlation of Δln DVOL and the daily log return.
    pub spot_vol_corr: f64,
    /// The same on the days spot fell (the synthetic model's ρ: crashes are the question).
    pub spot_vol_corr_down: f64,
    /// The synthetic model.
    pub svj: SvjParams,
    /// Jump days found.
    pub jumps: usize,
    /// Days of returns used.
    pub days: usize,
    /// Mean DVOL over its years (the base of the surface's skew and term-structure state).
    pub iv_base: f64,
    /// ETH against BTC.
    pub eth: PairFit,
}

impl Default for Calibration {
    /// The figures [`calibrate`] gives on the full shared data (docs/backtest.md), used when
    /// only the test excerpt is present.
    fn default() -> Self {
        Calibration {
            iv_model: IvModel {
                a: -0.35,
                b: 0.55,
                c: -1.2,
                r2: 0.0,
                resid_sd: 0.15,
                n: 0,
            },
            spot_vol_beta: -1.0,
            spot_vol_corr: 0.06,
            spot_vol_corr_down: -0.3,
            svj: SvjParams {
                vol_level: 0.55,
                kappa: 8.0,
                xi: 1.2,
                rho: -0.3,
                jump_rate: 6.0,
                jump_mean: -0.05,
                jump_sd: 0.10,
                vol_jump_beta: -1.5,
                vrp: 1.05,
            },
            jumps: 0,
            days: 0,
            iv_base: 0.52,
            eth: PairFit::default(),
        }
    }
}

fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().sum::<f64>() / x.len() as f64
}

fn sd(x: &[f64]) -> f64 {
    let m = mean(x);
    (x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len().max(2) - 1) as f64).sqrt()
}

/// Slope and correlation of y on x.
pub fn slope_corr(x: &[f64], y: &[f64]) -> (f64, f64) {
    let (mx, my) = (mean(x), mean(y));
    let mut sxy = 0.0;
    let mut sxx = 0.0;
    let mut syy = 0.0;
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return (0.0, 0.0);
    }
    (sxy / sxx, sxy / (sxx * syy).sqrt())
}

/// Ordinary least squares of y on (1, x1, x2): coefficients, R², residual sd.
pub fn ols2(x1: &[f64], x2: &[f64], y: &[f64]) -> Option<([f64; 3], f64, f64)> {
    let n = y.len();
    if n < 10 {
        return None;
    }
    // Normal equations, 3×3, solved by Cramer's rule (well conditioned after centring).
    let (m1, m2, my) = (mean(x1), mean(x2), mean(y));
    let (mut s11, mut s12, mut s22, mut s1y, mut s2y, mut syy) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        let (a, b, c) = (x1[i] - m1, x2[i] - m2, y[i] - my);
        s11 += a * a;
        s12 += a * b;
        s22 += b * b;
        s1y += a * c;
        s2y += b * c;
        syy += c * c;
    }
    let det = s11 * s22 - s12 * s12;
    if det.abs() < 1e-300 || syy <= 0.0 {
        return None;
    }
    let b1 = (s1y * s22 - s2y * s12) / det;
    let b2 = (s11 * s2y - s12 * s1y) / det;
    let b0 = my - b1 * m1 - b2 * m2;
    let mut sse = 0.0;
    for i in 0..n {
        let e = y[i] - b0 - b1 * x1[i] - b2 * x2[i];
        sse += e * e;
    }
    Some(([b0, b1, b2], 1.0 - sse / syy, (sse / (n - 3) as f64).sqrt()))
}

/// Fits everything on `data` (falls back to [`Calibration::default`] for a part the data do not
/// cover, e.g. the test excerpt).
pub fn calibrate(data: &DataSet) -> Calibration {
    let mut cal = Calibration::default();
    let bars: Vec<_> = data
        .btc_daily
        .iter()
        .filter(|b| b.time_s >= HISTORY_START_S && b.close > 0.0)
        .collect();
    if bars.len() < RV_DAYS + 30 {
        return cal;
    }
    // Daily log returns and the trailing realised vol before each day (ending the day before).
    let mut times = Vec::new();
    let mut rets = Vec::new();
    for w in bars.windows(2) {
        times.push(w[1].time_s);
        rets.push((w[1].close / w[0].close).ln());
    }
    let mut rv_before = vec![f64::NAN; rets.len()];
    let mut rv_incl = vec![f64::NAN; rets.len()];
    for i in RV_DAYS..rets.len() {
        let ms_before = rets[i - RV_DAYS..i].iter().map(|r| r * r).sum::<f64>() / RV_DAYS as f64;
        let ms_incl = rets[i + 1 - RV_DAYS..=i].iter().map(|r| r * r).sum::<f64>() / RV_DAYS as f64;
        rv_before[i] = (365.0 * ms_before).sqrt();
        rv_incl[i] = (365.0 * ms_incl).sqrt();
    }
    let is_jump: Vec<bool> = (0..rets.len())
        .map(|i| rv_before[i].is_finite() && rets[i].abs() > JUMP_Z * rv_before[i] / 365f64.sqrt())
        .collect();
    let jump_rets: Vec<f64> = (0..rets.len())
        .filter(|&i| is_jump[i])
        .map(|i| rets[i])
        .collect();
    let years = (times[times.len() - 1] - times[RV_DAYS]) as f64 / (365.0 * 86_400.0);
    cal.days = rets.len();
    cal.jumps = jump_rets.len();
    if jump_rets.len() >= 3 && years > 0.5 {
        cal.svj.jump_rate = jump_rets.len() as f64 / years;
        cal.svj.jump_mean = mean(&jump_rets);
        cal.svj.jump_sd = sd(&jump_rets);
    }
    // Implied vol on the days DVOL exists.
    let mut y = Vec::new();
    let mut x_rv = Vec::new();
    let mut x_r = Vec::new();
    let mut d_lniv = Vec::new();
    let mut d_r = Vec::new();
    let mut j_lniv = Vec::new();
    let mut j_r = Vec::new();
    let mut ratio = Vec::new();
    let mut prev: Option<(i64, f64)> = None;
    let by_time: std::collections::BTreeMap<i64, usize> =
        times.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    for &(t, iv) in &data.dvol {
        let Some(&i) = by_time.get(&t) else {
            prev = None;
            continue;
        };
        if !(iv > 0.0) || !rv_incl[i].is_finite() {
            prev = None;
            continue;
        }
        y.push(iv.ln());
        x_rv.push(rv_incl[i].ln());
        x_r.push(rets[i]);
        ratio.push(iv / rv_incl[i]);
        if let Some((tp, ivp)) = prev {
            if t - tp == 86_400 {
                let d = iv.ln() - ivp.ln();
                if is_jump[i] {
                    j_lniv.push(d);
                    j_r.push(rets[i]);
                } else {
                    d_lniv.push(d);
                    d_r.push(rets[i]);
                }
            }
        }
        prev = Some((t, iv));
    }
    if let Some((coef, r2, resid_sd)) = ols2(&x_rv, &x_r, &y) {
        cal.iv_model = IvModel {
            a: coef[0],
            b: coef[1],
            c: coef[2],
            r2,
            resid_sd,
            n: y.len(),
        };
        cal.iv_base = mean(&y.iter().map(|v| v.exp()).collect::<Vec<_>>());
        cal.svj.vrp = mean(&ratio).clamp(0.5, 2.0);
    }
    if d_r.len() >= 30 {
        let (beta, corr) = slope_corr(&d_r, &d_lniv);
        cal.spot_vol_beta = beta;
        cal.spot_vol_corr = corr;
        let (down_r, down_d): (Vec<f64>, Vec<f64>) = d_r
            .iter()
            .zip(&d_lniv)
            .filter(|(r, _)| **r < 0.0)
            .map(|(r, d)| (*r, *d))
            .unzip();
        cal.spot_vol_corr_down = slope_corr(&down_r, &down_d).1;
        cal.svj.rho = cal.spot_vol_corr_down.clamp(-0.95, 0.95);
        // AR(1) of ln DVOL (consecutive days).
        let lniv: Vec<f64> = y.clone();
        let (phi, _) = slope_corr(&lniv[..lniv.len() - 1], &lniv[1..]);
        if phi > 0.0 && phi < 1.0 {
            cal.svj.kappa = -365.0 * phi.ln();
            let m = mean(&lniv);
            let resid: Vec<f64> = lniv
                .windows(2)
                .map(|w| w[1] - m - phi * (w[0] - m))
                .collect();
            cal.svj.xi = sd(&resid) * 365f64.sqrt();
        }
        cal.svj.vol_jump_beta = if j_r.len() >= 3 {
            slope_corr(&j_r, &j_lniv).0
        } else {
            beta
        };
    }
    // Long-run instantaneous vol: the mean realised vol over the whole history.
    let rvs: Vec<f64> = rv_incl.iter().copied().filter(|v| v.is_finite()).collect();
    if !rvs.is_empty() {
        cal.svj.vol_level = mean(&rvs.iter().map(|v| v.ln()).collect::<Vec<_>>()).exp();
    }
    let jump_times: Vec<i64> = (0..rets.len())
        .filter(|&i| is_jump[i])
        .map(|i| times[i])
        .collect();
    cal.eth = fit_pair(
        &data.btc_daily,
        &data.eth_daily,
        &data.btc_hourly,
        &data.eth_hourly,
        &jump_times,
    );
    cal
}

/// Log returns of `a` and `b` over the consecutive bars both have (bars at the same times,
/// after [`HISTORY_START_S`]; a gap in either breaks the pair).
fn paired_returns(a: &[Bar], b: &[Bar], step_s: i64) -> (Vec<i64>, Vec<f64>, Vec<f64>) {
    let bmap: std::collections::BTreeMap<i64, f64> = b
        .iter()
        .filter(|x| x.close > 0.0)
        .map(|x| (x.time_s, x.close))
        .collect();
    let (mut t, mut ra, mut rb) = (Vec::new(), Vec::new(), Vec::new());
    for w in a.windows(2) {
        if w[0].time_s < HISTORY_START_S || w[1].time_s - w[0].time_s != step_s {
            continue;
        }
        let (Some(b0), Some(b1)) = (bmap.get(&w[0].time_s), bmap.get(&w[1].time_s)) else {
            continue;
        };
        if !(w[0].close > 0.0 && w[1].close > 0.0) {
            continue;
        }
        t.push(w[1].time_s);
        ra.push((w[1].close / w[0].close).ln());
        rb.push((b1 / b0).ln());
    }
    (t, ra, rb)
}

/// Fits ETH against BTC ([`PairFit`]); the defaults where the data are too short.
pub fn fit_pair(
    btc_daily: &[Bar],
    eth_daily: &[Bar],
    btc_hourly: &[Bar],
    eth_hourly: &[Bar],
    btc_jump_times: &[i64],
) -> PairFit {
    let mut fit = PairFit::default();
    let (t, rb, re) = paired_returns(btc_daily, eth_daily, 86_400);
    if rb.len() < 60 {
        return fit;
    }
    let (beta, corr) = slope_corr(&rb, &re);
    fit.corr_daily = corr;
    fit.corr_hourly = corr;
    fit.beta = beta;
    fit.days = rb.len();
    let (sb, se) = (sd(&rb), sd(&re));
    if sb > 0.0 {
        fit.vol_ratio = (se / sb).clamp(0.25, 4.0);
    }
    let (jb, je): (Vec<f64>, Vec<f64>) = t
        .iter()
        .zip(rb.iter().zip(&re))
        .filter(|(time, _)| btc_jump_times.binary_search(time).is_ok())
        .map(|(_, (b, e))| (*b, *e))
        .unzip();
    fit.jump_days = jb.len();
    if jb.len() >= 3 {
        fit.jump_beta = slope_corr(&jb, &je).0;
        let resid: Vec<f64> = jb
            .iter()
            .zip(&je)
            .map(|(b, e)| e - fit.jump_beta * b)
            .collect();
        fit.jump_resid_sd = sd(&resid);
    }
    let (_, hb, he) = paired_returns(btc_hourly, eth_hourly, 3_600);
    if hb.len() >= 240 {
        fit.corr_hourly = slope_corr(&hb, &he).1;
        fit.hours = hb.len();
    }
    fit
}
