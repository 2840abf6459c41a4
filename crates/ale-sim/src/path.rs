//! Market paths: spot and implied-vol level of every underlying, and funding, over time, seeded
//! and reproducible.
//!
//! A path holds points at the hour (the data's own hourly closes, or daily closes bridged to the
//! hour) and, inside its crash window, every [`FINE_STEP_S`] seconds (a Brownian bridge between
//! the hourly points, which it keeps exactly). The implied-vol level is DVOL where the data has
//! it, else the fitted [`crate::calibrate::IvModel`] driven by the trailing realised vol and the
//! last day's return.
//!
//! Several underlyings (BTC first, then ETH) share the time grid. Their bridges and synthetic
//! shocks are correlated with the fitted BTC–ETH correlation ([`crate::calibrate::PairFit`]):
//! ETH's normal is ρ·(BTC's) + √(1 − ρ²)·(its own, from its own stream), so that adding ETH
//! leaves BTC's path exactly as it was. ETH has no implied-vol history: its level is BTC's times
//! (RV30_ETH / RV30_BTC)^b · e^(c·(r24_ETH − r24_BTC)) with the IV model's b and c (on the model's
//! days this is the model applied to ETH's own realised vol), and in synthetic paths BTC's times
//! the fitted vol ratio.

use rand_chacha::ChaCha8Rng;

use crate::calibrate::{Calibration, PairFit, RV_DAYS};
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
/// Spot at the start of a synthetic path, per underlying.
pub const SYNTHETIC_SPOT: f64 = 60_000.0;
/// ETH's spot at the start of a synthetic path.
pub const SYNTHETIC_SPOT_ETH: f64 = 2_000.0;
/// The underlyings the simulator knows, in path order.
pub const KNOWN_UNDERLYINGS: &[&str] = &["BTC", "ETH"];
/// Offset of an underlying's own stream from its path's stream (index u ≥ 1).
const STREAM_UNDERLYING: u64 = 1 << 32;

/// One underlying's series along a path.
#[derive(Debug, Clone, PartialEq)]
pub struct UnderlyingPath {
    /// Its symbol (`BTC`, `ETH`).
    pub asset: String,
    /// Spot at each point.
    pub spot: Vec<f64>,
    /// ATM implied-vol level (30-day) at each point, decimal.
    pub iv: Vec<f64>,
    /// Its calm implied-vol level (the surface's skew and term structure move with iv / iv_base).
    pub iv_base: f64,
}

/// One market path.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketPath {
    /// Scenario name (and path index for synthetic ones).
    pub label: String,
    /// Point times, Unix seconds, strictly increasing.
    pub times_s: Vec<i64>,
    /// The underlyings, BTC first.
    pub underlyings: Vec<UnderlyingPath>,
    /// Funding rate (fraction per 8 h) at each point (every perpetual).
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
    /// The index of underlying `asset`.
    pub fn underlying_index(&self, asset: &str) -> Option<usize> {
        self.underlyings.iter().position(|u| u.asset == asset)
    }
    /// Spot of underlying `u` at `time_s` (the last point at or before it).
    pub fn spot_at(&self, u: usize, time_s: i64) -> f64 {
        self.underlyings[u].spot[self.index_at(time_s)]
    }
    /// IV level of underlying `u` at `time_s`.
    pub fn iv_at(&self, u: usize, time_s: i64) -> f64 {
        self.underlyings[u].iv[self.index_at(time_s)]
    }
    /// Spot of `asset` at `time_s` (`None` for an underlying the path does not have).
    pub fn spot_of(&self, asset: &str, time_s: i64) -> Option<f64> {
        self.underlying_index(asset)
            .map(|u| self.spot_at(u, time_s))
    }
    /// Time-weighted average of underlying `u`'s spot over [from, to] sampled every `step_s`
    /// (a TWAP trigger).
    pub fn twap(&self, u: usize, from_s: i64, to_s: i64, step_s: i64) -> f64 {
        let step = step_s.max(1);
        let mut t = from_s.max(self.times_s[0]);
        let (mut sum, mut n) = (0.0, 0.0);
        while t <= to_s {
            sum += self.spot_at(u, t);
            n += 1.0;
            t += step;
        }
        if n > 0.0 {
            sum / n
        } else {
            self.spot_at(u, to_s)
        }
    }
    /// First and last time.
    pub fn span(&self) -> (i64, i64) {
        (self.times_s[0], self.times_s[self.times_s.len() - 1])
    }
    /// Log returns of underlying `u` between consecutive points.
    pub fn log_returns(&self, u: usize) -> Vec<f64> {
        self.underlyings[u]
            .spot
            .windows(2)
            .map(|w| (w[1] / w[0]).ln())
            .collect()
    }
}

/// Interior points of a Brownian bridge in log space from `x0` to `x1` over `n` steps of
/// standard deviation `sd_step` each (n − 1 points; the ends are kept exactly).
pub fn bridge(x0: f64, x1: f64, n: usize, sd_step: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let normals: Vec<f64> = (0..n).map(|_| normal(rng)).collect();
    bridge_with(x0, x1, sd_step, &normals)
}

/// [`bridge`] on given standard normals (one per step).
pub fn bridge_with(x0: f64, x1: f64, sd_step: f64, normals: &[f64]) -> Vec<f64> {
    let n = normals.len();
    if n < 2 {
        return Vec::new();
    }
    let mut walk = Vec::with_capacity(n);
    let mut acc = 0.0;
    for z in normals {
        acc += sd_step * z;
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

/// Normals for the underlyings of a path: the first from `rng` (the path's stream), each
/// other correlated with it at `rho` through its own stream.
struct Shocks<'a> {
    rng: &'a mut ChaCha8Rng,
    own: Vec<ChaCha8Rng>,
    rho: f64,
}

impl Shocks<'_> {
    fn new(rng: &mut ChaCha8Rng, seed: u64, path_stream: u64, n: usize, rho: f64) -> Shocks<'_> {
        Shocks {
            rng,
            own: (1..n)
                .map(|u| stream(seed, path_stream + STREAM_UNDERLYING * u as u64))
                .collect(),
            rho: rho.clamp(-0.99, 0.99),
        }
    }
    /// `steps` normals per underlying.
    fn draw(&mut self, steps: usize) -> Vec<Vec<f64>> {
        let first: Vec<f64> = (0..steps).map(|_| normal(self.rng)).collect();
        let c = (1.0 - self.rho * self.rho).sqrt();
        let mut out = Vec::with_capacity(self.own.len() + 1);
        for r in &mut self.own {
            out.push(first.iter().map(|z| self.rho * z + c * normal(r)).collect());
        }
        out.insert(0, first);
        out
    }
}

/// Refines `[from, to)` of a path to [`FINE_STEP_S`] by bridges between its points (sd from
/// each underlying's IV; the underlyings' bridges correlated at `rho`).
fn refine(path: &mut MarketPath, shocks: &mut Shocks<'_>) {
    let (from, to) = path.crash;
    let nu = path.underlyings.len();
    let mut times = Vec::with_capacity(path.times_s.len());
    let mut spot: Vec<Vec<f64>> = vec![Vec::with_capacity(path.times_s.len()); nu];
    let mut iv: Vec<Vec<f64>> = vec![Vec::with_capacity(path.times_s.len()); nu];
    let mut funding = Vec::with_capacity(path.times_s.len());
    for i in 0..path.times_s.len() {
        if i > 0 && path.times_s[i] > from && path.times_s[i - 1] < to {
            let (t0, t1) = (path.times_s[i - 1], path.times_s[i]);
            let n = ((t1 - t0) / FINE_STEP_S).max(1) as usize;
            let normals = if n >= 2 {
                shocks.draw(n)
            } else {
                vec![Vec::new(); nu]
            };
            for (u, up) in path.underlyings.iter().enumerate() {
                let var_per_s = up.iv[i - 1].powi(2) / (365.0 * 86_400.0);
                let sd = (var_per_s * FINE_STEP_S as f64).sqrt();
                let inner = bridge_with(up.spot[i - 1].ln(), up.spot[i].ln(), sd, &normals[u]);
                for (k, x) in inner.into_iter().enumerate() {
                    spot[u].push(x.exp());
                    let w = (k + 1) as f64 / n as f64;
                    iv[u].push(up.iv[i - 1] + w * (up.iv[i] - up.iv[i - 1]));
                }
            }
            for k in 0..n.saturating_sub(1) {
                times.push(t0 + (k as i64 + 1) * FINE_STEP_S);
                funding.push(path.funding_8h[i - 1]);
            }
        }
        times.push(path.times_s[i]);
        for (u, up) in path.underlyings.iter().enumerate() {
            spot[u].push(up.spot[i]);
            iv[u].push(up.iv[i]);
        }
        funding.push(path.funding_8h[i]);
    }
    path.times_s = times;
    for (u, up) in path.underlyings.iter_mut().enumerate() {
        up.spot = std::mem::take(&mut spot[u]);
        up.iv = std::mem::take(&mut iv[u]);
    }
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

/// The value of `bars` at `t`: the close of the bar at `t`, else log-linear between the bars
/// around it (a gap in one file where the other has a bar), else the nearest.
fn close_at(bars: &[Bar], t: i64) -> Option<f64> {
    let i = bars.partition_point(|b| b.time_s < t);
    match (i.checked_sub(1).map(|j| bars[j]), bars.get(i)) {
        (_, Some(b)) if b.time_s == t => Some(b.close),
        (Some(a), Some(b)) => {
            let w = (t - a.time_s) as f64 / (b.time_s - a.time_s).max(1) as f64;
            Some((a.close.ln() + w * (b.close.ln() - a.close.ln())).exp())
        }
        (Some(a), None) => Some(a.close),
        (None, Some(b)) => Some(b.close),
        (None, None) => None,
    }
}

/// The log return of a series over the 24 hours to point `i` (the daily bars before the
/// series starts).
fn return_24h(times: &[i64], spot: &[f64], daily: &[Bar], i: usize) -> f64 {
    let t = times[i];
    let j = times.partition_point(|x| *x <= t - 86_400);
    if j > 0 {
        (spot[i] / spot[j - 1]).ln()
    } else {
        let d = daily.partition_point(|b| b.time_s <= t - 86_400);
        d.checked_sub(1)
            .map_or(0.0, |d| (spot[i] / daily[d].close).ln())
    }
}

/// The replay of a historical scenario for `underlyings` (BTC first).
pub fn historical(
    scenario: &Scenario,
    data: &DataSet,
    cal: &Calibration,
    seed: u64,
    underlyings: &[String],
) -> Result<MarketPath, SimError> {
    let Kind::Historical { start, end, crash } = scenario.kind else {
        return Err(crate::error::invalid(
            "scenario",
            "not a historical scenario",
        ));
    };
    check_underlyings(underlyings)?;
    let (from, to) = (time(start)?, time(end)?);
    let crash = (time(crash.0)?, time(crash.1)?);
    let mut rng = stream(seed, STREAM_PATH);
    let mut shocks = Shocks::new(
        &mut rng,
        seed,
        STREAM_PATH,
        underlyings.len(),
        cal.eth.corr_hourly,
    );
    let not_covered = |file: &str| SimError::NotCovered {
        scenario: scenario.name.into(),
        from: start.into(),
        to: end.into(),
        file: format!("{}", data.dir.join(file).display()),
    };
    // Hourly where every underlying has hourly bars, else daily bridged for all of them.
    let hourly = underlyings
        .iter()
        .all(|u| covered(data.hourly(u), from, to));
    let mut times = Vec::new();
    let mut spots: Vec<Vec<f64>> = vec![Vec::new(); underlyings.len()];
    let source = if hourly {
        for b in data
            .hourly(&underlyings[0])
            .iter()
            .filter(|b| b.time_s >= from && b.time_s <= to)
        {
            times.push(b.time_s);
        }
        for (u, name) in underlyings.iter().enumerate() {
            let bars = data.hourly(name);
            for &t in &times {
                spots[u]
                    .push(close_at(bars, t).ok_or_else(|| not_covered(DataSet::files(name).1))?);
            }
        }
        format!("Binance hourly closes ({})", underlyings.join(", "))
    } else {
        for name in underlyings {
            if !covered(data.daily(name), from, to) {
                return Err(not_covered(DataSet::files(name).0));
            }
        }
        let days: Vec<&Bar> = data
            .daily(&underlyings[0])
            .iter()
            .filter(|b| b.time_s >= from && b.time_s <= to)
            .collect();
        for (i, b) in days.iter().enumerate() {
            let t1 = b.time_s;
            if i > 0 {
                let t0 = days[i - 1].time_s;
                let n = ((t1 - t0) / 3_600).max(1) as usize;
                let normals = if n >= 2 {
                    shocks.draw(n)
                } else {
                    vec![Vec::new(); underlyings.len()]
                };
                for (u, name) in underlyings.iter().enumerate() {
                    let bars = data.daily(name);
                    let (c0, c1) = (
                        close_at(bars, t0).ok_or_else(|| not_covered(DataSet::files(name).0))?,
                        close_at(bars, t1).ok_or_else(|| not_covered(DataSet::files(name).0))?,
                    );
                    let day = &bars[bars.partition_point(|x| x.time_s < t1).min(bars.len() - 1)];
                    let day_vol = (day.high / day.low).ln().max(1e-4) / 2.0;
                    let inner =
                        bridge_with(c0.ln(), c1.ln(), day_vol / (n as f64).sqrt(), &normals[u]);
                    spots[u].extend(inner.into_iter().map(f64::exp));
                }
                for k in 0..n.saturating_sub(1) {
                    times.push(t0 + (k as i64 + 1) * 3_600);
                }
            }
            times.push(t1);
            for (u, name) in underlyings.iter().enumerate() {
                spots[u].push(
                    close_at(data.daily(name), t1)
                        .ok_or_else(|| not_covered(DataSet::files(name).0))?,
                );
            }
        }
        format!(
            "Binance daily closes ({}), bridged to the hour (correlated Brownian bridges, seed {seed})",
            underlyings.join(", ")
        )
    };
    if times.len() < 2 || times.len() > MAX_POINTS {
        return Err(crate::error::invalid(
            "scenario",
            format!("{} points, expected 2 to {MAX_POINTS}", times.len()),
        ));
    }
    // BTC's IV: DVOL where it exists (within two days), else the model.
    let btc_daily = data.daily(&underlyings[0]);
    let mut iv = Vec::with_capacity(times.len());
    let mut used_dvol = 0usize;
    for (i, &t) in times.iter().enumerate() {
        let r24 = return_24h(&times, &spots[0], btc_daily, i);
        let v = match interpolate(&data.dvol, t, 2 * 86_400) {
            Some(v) => {
                used_dvol += 1;
                v
            }
            None => {
                let rv = trailing_rv(btc_daily, t).unwrap_or(cal.svj.vol_level);
                cal.iv_model.iv(rv, r24)
            }
        };
        iv.push(v);
    }
    let mut paths = vec![UnderlyingPath {
        asset: underlyings[0].clone(),
        spot: std::mem::take(&mut spots[0]),
        iv,
        iv_base: cal.iv_base,
    }];
    for (u, name) in underlyings.iter().enumerate().skip(1) {
        let daily = data.daily(name);
        let spot = std::mem::take(&mut spots[u]);
        let mut ivs = Vec::with_capacity(times.len());
        for (i, &t) in times.iter().enumerate() {
            let ratio = match (trailing_rv(daily, t), trailing_rv(btc_daily, t)) {
                (Some(a), Some(b)) if b > 0.0 => a / b,
                _ => cal.eth.vol_ratio,
            };
            let dr = return_24h(&times, &spot, daily, i)
                - return_24h(&times, &paths[0].spot, btc_daily, i);
            ivs.push(
                (paths[0].iv[i]
                    * ratio.max(0.05).powf(cal.iv_model.b)
                    * (cal.iv_model.c * dr).exp())
                .clamp(0.10, 4.0),
            );
        }
        paths.push(UnderlyingPath {
            asset: name.clone(),
            spot,
            iv: ivs,
            iv_base: cal.iv_base * cal.eth.vol_ratio,
        });
    }
    let funding = times
        .iter()
        .map(|t| interpolate(&data.funding, *t, 86_400).unwrap_or(DEFAULT_FUNDING_8H))
        .collect();
    let mut path = MarketPath {
        label: scenario.name.to_string(),
        times_s: times,
        underlyings: paths,
        funding_8h: funding,
        crash,
        source: format!(
            "{source}; BTC IV: DVOL at {used_dvol} of the points, the fitted model elsewhere"
        ),
    };
    refine(&mut path, &mut shocks);
    Ok(path)
}

/// Checks a list of underlyings: known, BTC first, no repeats.
pub fn check_underlyings(underlyings: &[String]) -> Result<(), SimError> {
    if underlyings.first().map(String::as_str) != Some("BTC") {
        return Err(crate::error::invalid(
            "underlyings",
            format!("must start with BTC, got '{}'", underlyings.join(",")),
        ));
    }
    for (i, u) in underlyings.iter().enumerate() {
        if !KNOWN_UNDERLYINGS.contains(&u.as_str()) || underlyings[..i].contains(u) {
            return Err(crate::error::invalid(
                "underlyings",
                format!(
                    "'{u}' is unknown or repeated: expected some of {}",
                    KNOWN_UNDERLYINGS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Path `index` of a synthetic scenario for `underlyings` (BTC first). BTC follows the
/// calibrated jump-diffusion with stochastic vol; ETH (when asked for) shares its vol factor
/// times the fitted vol ratio, its diffusive shock is correlated at the fitted hourly ρ, and its
/// jump is `jump_beta` times BTC's plus a residual (the forced crash included).
pub fn synthetic(
    scenario: &Scenario,
    cal: &Calibration,
    seed: u64,
    index: u64,
    underlyings: &[String],
) -> Result<MarketPath, SimError> {
    let Kind::Synthetic { days, stress } = scenario.kind else {
        return Err(crate::error::invalid(
            "scenario",
            "not a synthetic scenario",
        ));
    };
    check_underlyings(underlyings)?;
    let p = cal.svj;
    let pair: PairFit = cal.eth;
    let path_stream = STREAM_PATH + 1 + index;
    let mut rng = stream(seed, path_stream);
    let mut others: Vec<ChaCha8Rng> = (1..underlyings.len())
        .map(|u| stream(seed, path_stream + STREAM_UNDERLYING * u as u64))
        .collect();
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
    let ratio = pair.vol_ratio;
    let rho_be = pair.corr_hourly.clamp(-0.99, 0.99);
    let rho_be_c = (1.0 - rho_be * rho_be).sqrt();
    let mut times = vec![start];
    let mut spot = vec![s];
    let mut iv = vec![(p.vrp * x.exp()).clamp(0.10, 4.0)];
    let mut other_spot: Vec<Vec<f64>> = (1..underlyings.len())
        .map(|_| vec![SYNTHETIC_SPOT_ETH])
        .collect();
    let mut other_iv: Vec<Vec<f64>> = (1..underlyings.len())
        .map(|_| vec![(ratio * p.vrp * x.exp()).clamp(0.10, 4.0)])
        .collect();
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
        for (k, r_own) in others.iter_mut().enumerate() {
            let sigma_e = ratio * sigma;
            let z = rho_be * z1 + rho_be_c * normal(r_own);
            let resid = normal(r_own);
            let jump_e = if jump != 0.0 {
                pair.jump_beta * jump + pair.jump_resid_sd * resid
            } else {
                0.0
            };
            let re = -0.5 * sigma_e * sigma_e * dt + sigma_e * dt.sqrt() * z + jump_e;
            let last = other_spot[k][other_spot[k].len() - 1];
            other_spot[k].push(last * re.exp());
        }
        s *= r.exp();
        x += p.kappa * (level - x) * dt + p.xi * dt.sqrt() * z2 + p.vol_jump_beta * jump;
        x = x.clamp(0.05f64.ln(), 3.0f64.ln());
        if r.abs() > biggest.0 {
            biggest = (r.abs(), h + 1);
        }
        times.push(start + (h as i64 + 1) * 3_600);
        spot.push(s);
        iv.push((p.vrp * x.exp()).clamp(0.10, 4.0));
        for v in &mut other_iv {
            v.push((ratio * p.vrp * x.exp()).clamp(0.10, 4.0));
        }
    }
    let centre = if stress { crash_hour + 1 } else { biggest.1 };
    let lo = start + (centre as i64 - 12).max(0) * 3_600;
    let hi = start + (centre as i64 + crash_len as i64 + 12) * 3_600;
    let n = times.len();
    let mut paths = vec![UnderlyingPath {
        asset: underlyings[0].clone(),
        spot,
        iv,
        iv_base: cal.iv_base,
    }];
    for (k, (sp, v)) in other_spot.into_iter().zip(other_iv).enumerate() {
        paths.push(UnderlyingPath {
            asset: underlyings[k + 1].clone(),
            spot: sp,
            iv: v,
            iv_base: cal.iv_base * ratio,
        });
    }
    let mut path = MarketPath {
        label: format!("{}#{index}", scenario.name),
        times_s: times,
        underlyings: paths,
        funding_8h: vec![DEFAULT_FUNDING_8H; n],
        crash: (lo, hi),
        source: format!(
            "calibrated jump-diffusion with stochastic vol ({}), seed {seed}, path {index}{}",
            underlyings.join(", "),
            if stress { ", forced crash" } else { "" }
        ),
    };
    let mut shocks = Shocks::new(
        &mut rng,
        seed,
        path_stream + (1 << 36),
        underlyings.len(),
        rho_be,
    );
    refine(&mut path, &mut shocks);
    Ok(path)
}

/// The path of `scenario` for `underlyings` (path `index` for synthetic ones; historical ones
/// have one).
pub fn build(
    scenario: &Scenario,
    data: &DataSet,
    cal: &Calibration,
    seed: u64,
    index: u64,
    underlyings: &[String],
) -> Result<MarketPath, SimError> {
    match scenario.kind {
        Kind::Historical { .. } => historical(scenario, data, cal, seed, underlyings),
        Kind::Synthetic { .. } => synthetic(scenario, cal, seed, index, underlyings),
    }
}
