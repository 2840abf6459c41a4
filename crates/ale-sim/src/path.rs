//! Market paths: spot, implied-vol level and funding over time, seeded and reproducible.
//!
//! A path holds points at the hour (the data's own hourly closes, or daily closes bridged to the
//! hour) and, inside its crash window, every [`FINE_STEP_S`] seconds (a Brownian bridge between
//! the hourly points, which it keeps exactly). The implied-vol level is DVOL where the data has
//! it, else the fitted [`crate::calibrate::IvModel`] driven by the trailing realised vol and the
//! last day's return.

use rand_chacha::ChaCha8Rng;

use crate::calibrate::{Calibration, RV_DAYS};
use crate::data::{interpolate, Bar, DataSet};
use crate::error::SimError;
use crate::rng::{normal, stream, STREAM_PATH};
use crate::scenario::{time, Kind, Scenario};

/// Spacing of the sub-hour points inside a crash window, seconds.
pub const FINE_STEP_S: i64 = 60;
/// Most points of one path (a year of minutes).
pub const MAX_POINTS: usize = 600_000;
/// Funding where the data has none: the Binance baseline, 0.01 % per 8 h.
pub const DEFAULT_FUNDING_8H: f64 = 0.0001;
/// Start of every synthetic path (a fixed calendar so that expiries are reproducible).
pub const SYNTHETIC_START: &str = "2026-01-02T00:00:00Z";
/// Spot at the start of a synthetic path.
pub const SYNTHETIC_SPOT: f64 = 60_000.0;

/// One market path.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketPath {
    /// Scenario name (and path index for synthetic ones).
    pub label: String,
    /// Point times, Unix seconds, strictly increasing.
    pub times_s: Vec<i64>,
    /// Spot at each point.
    pub spot: Vec<f64>,
    /// ATM implied-vol level (30-day) at each point, decimal.
    pub iv: Vec<f64>,
    /// Funding rate (fraction per 8 h) at each point.
    pub funding_8h: Vec<f64>,
    /// The crash window [from, to), where the path is sub-hour.
    pub crash: (i64, i64),
    /// Where the path came from, in words (for the report).
    pub source: String,
}

impl MarketPath {
    /// Index of the last point at or before `time_s` (the first point before the start).
    pub fn index_at(&self, time_s: i64) -> usize {
        self.times_s
            .partition_point(|t| *t <= time_s)
            .saturating_sub(1)
    }
    /// Spot at `time_s` (the last point at or before it).
    pub fn spot_at(&self, time_s: i64) -> f64 {
        self.spot[self.index_at(time_s)]
    }
    /// IV level at `time_s`.
    pub fn iv_at(&self, time_s: i64) -> f64 {
        self.iv[self.index_at(time_s)]
    }
    /// Time-weighted average of spot over [from, to] sampled every `step_s` (a TWAP trigger).
    pub fn twap(&self, from_s: i64, to_s: i64, step_s: i64) -> f64 {
        let step = step_s.max(1);
        let mut t = from_s.max(self.times_s[0]);
        let (mut sum, mut n) = (0.0, 0.0);
        while t <= to_s {
            sum += self.spot_at(t);
            n += 1.0;
            t += step;
        }
        if n > 0.0 {
            sum / n
        } else {
            self.spot_at(to_s)
        }
    }
    /// First and last time.
    pub fn span(&self) -> (i64, i64) {
        (self.times_s[0], self.times_s[self.times_s.len() - 1])
    }
    /// Log returns between consecutive points.
    pub fn log_returns(&self) -> Vec<f64> {
        self.spot.windows(2).map(|w| (w[1] / w[0]).ln()).collect()
    }
}

/// Interior points of a Brownian bridge in log space from `x0` to `x1` over `n` steps of
/// standard deviation `sd_step` each (n − 1 points; the ends are kept exactly).
pub fn bridge(x0: f64, x1: f64, n: usize, sd_step: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    if n < 2 {
        return Vec::new();
    }
    let mut walk = Vec::with_capacity(n);
    let mut acc = 0.0;
    for _ in 0..n {
        acc += sd_step * normal(rng);
        walk.push(acc);
    }
    let end = walk[n - 1];
    (1..n)
        .map(|k| {
            let w = k as f64 / n as f64;
            x0 + w * (x1 - x0) + walk[k - 1] - w * end
        })
        .collect()
}

/// Refines `[from, to)` of a path to [`FINE_STEP_S`] by bridges between its points.
fn refine(path: &mut MarketPath, rng: &mut ChaCha8Rng) {
    let (from, to) = path.crash;
    let mut times = Vec::with_capacity(path.times_s.len());
    let mut spot = Vec::with_capacity(path.spot.len());
    let mut iv = Vec::with_capacity(path.iv.len());
    let mut funding = Vec::with_capacity(path.iv.len());
    for i in 0..path.times_s.len() {
        if i > 0 && path.times_s[i] > from && path.times_s[i - 1] < to {
            let (t0, t1) = (path.times_s[i - 1], path.times_s[i]);
            let n = ((t1 - t0) / FINE_STEP_S).max(1) as usize;
            let var_per_s = path.iv[i - 1].powi(2) / (365.0 * 86_400.0);
            let sd = (var_per_s * FINE_STEP_S as f64).sqrt();
            let inner = bridge(path.spot[i - 1].ln(), path.spot[i].ln(), n, sd, rng);
            for (k, x) in inner.into_iter().enumerate() {
                times.push(t0 + (k as i64 + 1) * FINE_STEP_S);
                spot.push(x.exp());
                let w = (k + 1) as f64 / n as f64;
                iv.push(path.iv[i - 1] + w * (path.iv[i] - path.iv[i - 1]));
                funding.push(path.funding_8h[i - 1]);
            }
        }
        times.push(path.times_s[i]);
        spot.push(path.spot[i]);
        iv.push(path.iv[i]);
        funding.push(path.funding_8h[i]);
    }
    path.times_s = times;
    path.spot = spot;
    path.iv = iv;
    path.funding_8h = funding;
}

fn covered(bars: &[Bar], from: i64, to: i64) -> bool {
    bars.first().is_some_and(|b| b.time_s <= from) && bars.last().is_some_and(|b| b.time_s >= to)
}

/// Realised vol over the [`RV_DAYS`] daily closes before `time_s`.
fn trailing_rv(daily: &[Bar], time_s: i64) -> Option<f64> {
    let end = daily.partition_point(|b| b.time_s <= time_s);
    if end < RV_DAYS + 1 {
        return None;
    }
    let w = &daily[end - RV_DAYS - 1..end];
    let ms = w
        .windows(2)
        .map(|p| (p[1].close / p[0].close).ln().powi(2))
        .sum::<f64>()
        / RV_DAYS as f64;
    Some((365.0 * ms).sqrt())
}

/// The replay of a historical scenario.
pub fn historical(
    scenario: &Scenario,
    data: &DataSet,
    cal: &Calibration,
    seed: u64,
) -> Result<MarketPath, SimError> {
    let Kind::Historical { start, end, crash } = scenario.kind else {
        return Err(crate::error::invalid(
            "scenario",
            "not a historical scenario",
        ));
    };
    let (from, to) = (time(start)?, time(end)?);
    let crash = (time(crash.0)?, time(crash.1)?);
    let mut rng = stream(seed, STREAM_PATH);
    let mut times = Vec::new();
    let mut spot = Vec::new();
    let source;
    if covered(&data.btc_hourly, from, to) {
        for b in data
            .btc_hourly
            .iter()
            .filter(|b| b.time_s >= from && b.time_s <= to)
        {
            times.push(b.time_s);
            spot.push(b.close);
        }
        source = format!("{} hourly closes", crate::data::BTC_HOURLY);
    } else if covered(&data.btc_daily, from, to) {
        let bars: Vec<&Bar> = data
            .btc_daily
            .iter()
            .filter(|b| b.time_s >= from && b.time_s <= to)
            .collect();
        for (i, b) in bars.iter().enumerate() {
            if i > 0 {
                let prev = bars[i - 1];
                let n = ((b.time_s - prev.time_s) / 3_600).max(1) as usize;
                let day_vol = (b.high / b.low).ln().max(1e-4) / 2.0;
                let inner = bridge(
                    prev.close.ln(),
                    b.close.ln(),
                    n,
                    day_vol / (n as f64).sqrt(),
                    &mut rng,
                );
                for (k, x) in inner.into_iter().enumerate() {
                    times.push(prev.time_s + (k as i64 + 1) * 3_600);
                    spot.push(x.exp());
                }
            }
            times.push(b.time_s);
            spot.push(b.close);
        }
        source = format!(
            "{} daily closes, bridged to the hour (Brownian bridge, seed {seed})",
            crate::data::BTC_DAILY
        );
    } else {
        return Err(SimError::NotCovered {
            scenario: scenario.name.into(),
            from: start.into(),
            to: end.into(),
            file: format!("{}", data.dir.display()),
        });
    }
    if times.len() < 2 || times.len() > MAX_POINTS {
        return Err(crate::error::invalid(
            "scenario",
            format!("{} points, expected 2 to {MAX_POINTS}", times.len()),
        ));
    }
    // IV: DVOL where it exists (within two days), else the model.
    let mut iv = Vec::with_capacity(times.len());
    let mut used_dvol = 0usize;
    for (i, &t) in times.iter().enumerate() {
        let r24 = {
            let j = times.partition_point(|x| *x <= t - 86_400);
            if j > 0 {
                (spot[i] / spot[j - 1]).ln()
            } else {
                let d = data.btc_daily.partition_point(|b| b.time_s <= t - 86_400);
                d.checked_sub(1)
                    .map_or(0.0, |d| (spot[i] / data.btc_daily[d].close).ln())
            }
        };
        let v = match interpolate(&data.dvol, t, 2 * 86_400) {
            Some(v) => {
                used_dvol += 1;
                v
            }
            None => {
                let rv = trailing_rv(&data.btc_daily, t).unwrap_or(cal.svj.vol_level);
                cal.iv_model.iv(rv, r24)
            }
        };
        iv.push(v);
    }
    let funding = times
        .iter()
        .map(|t| interpolate(&data.funding, *t, 86_400).unwrap_or(DEFAULT_FUNDING_8H))
        .collect();
    let mut path = MarketPath {
        label: scenario.name.to_string(),
        times_s: times,
        spot,
        iv,
        funding_8h: funding,
        crash,
        source: format!(
            "{source}; IV: DVOL at {used_dvol} of the points, the fitted model elsewhere"
        ),
    };
    refine(&mut path, &mut rng);
    Ok(path)
}

/// Path `index` of a synthetic scenario.
pub fn synthetic(
    scenario: &Scenario,
    cal: &Calibration,
    seed: u64,
    index: u64,
) -> Result<MarketPath, SimError> {
    let Kind::Synthetic { days, stress } = scenario.kind else {
        return Err(crate::error::invalid(
            "scenario",
            "not a synthetic scenario",
        ));
    };
    let p = cal.svj;
    let mut rng = stream(seed, STREAM_PATH + 1 + index);
    let start = time(SYNTHETIC_START)?;
    let hours = days as usize * 24;
    let dt = 1.0 / 8_760.0;
    let level = p.vol_level.max(0.05).ln();
    let mut x = level;
    let mut s = SYNTHETIC_SPOT;
    let (crash_hour, crash_len, crash_drop) = if stress {
        use rand::Rng;
        let h = rng.random_range(hours / 3..(2 * hours / 3).max(hours / 3 + 1));
        let len = rng.random_range(2..=12usize);
        let drop: f64 = rng.random_range(0.45..0.65);
        (h, len, (1.0 - drop).ln())
    } else {
        (usize::MAX, 0, 0.0)
    };
    let mut times = vec![start];
    let mut spot = vec![s];
    let mut iv = vec![(p.vrp * x.exp()).clamp(0.10, 4.0)];
    let rho_c = (1.0 - p.rho * p.rho).max(0.0).sqrt();
    let mut biggest = (0.0f64, 0usize);
    for h in 0..hours {
        use rand::Rng;
        let sigma = x.exp();
        let z1 = normal(&mut rng);
        let z2 = p.rho * z1 + rho_c * normal(&mut rng);
        let mut jump = 0.0;
        if rng.random::<f64>() < p.jump_rate * dt {
            jump = p.jump_mean + p.jump_sd * normal(&mut rng);
        }
        if h >= crash_hour && h < crash_hour + crash_len {
            jump += crash_drop / crash_len as f64 * (0.5 + rng.random::<f64>());
        }
        let r = -0.5 * sigma * sigma * dt + sigma * dt.sqrt() * z1 + jump;
        s *= r.exp();
        x += p.kappa * (level - x) * dt + p.xi * dt.sqrt() * z2 + p.vol_jump_beta * jump;
        x = x.clamp(0.05f64.ln(), 3.0f64.ln());
        if r.abs() > biggest.0 {
            biggest = (r.abs(), h + 1);
        }
        times.push(start + (h as i64 + 1) * 3_600);
        spot.push(s);
        iv.push((p.vrp * x.exp()).clamp(0.10, 4.0));
    }
    let centre = if stress { crash_hour + 1 } else { biggest.1 };
    let lo = start + (centre as i64 - 12).max(0) * 3_600;
    let hi = start + (centre as i64 + crash_len as i64 + 12) * 3_600;
    let n = times.len();
    let mut path = MarketPath {
        label: format!("{}#{index}", scenario.name),
        times_s: times,
        spot,
        iv,
        funding_8h: vec![DEFAULT_FUNDING_8H; n],
        crash: (lo, hi),
        source: format!(
            "calibrated jump-diffusion with stochastic vol, seed {seed}, path {index}{}",
            if stress { ", forced crash" } else { "" }
        ),
    };
    refine(&mut path, &mut rng);
    Ok(path)
}

/// The path of `scenario` (path `index` for synthetic ones; historical ones have one).
pub fn build(
    scenario: &Scenario,
    data: &DataSet,
    cal: &Calibration,
    seed: u64,
    index: u64,
) -> Result<MarketPath, SimError> {
    match scenario.kind {
        Kind::Historical { .. } => historical(scenario, data, cal, seed),
        Kind::Synthetic { .. } => synthetic(scenario, cal, seed, index),
    }
}
