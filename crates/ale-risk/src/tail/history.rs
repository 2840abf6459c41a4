//! Daily history: closes of each underlying and the Deribit BTC DVOL index, parsed from the CSV
//! text of `../shared/data` (the caller reads the files); the estimation of the Monte Carlo
//! model from them; and filtered historical simulation (FHS) paths.
//!
//! Returns are daily log-returns ln(Cₜ/Cₜ₋₁) between consecutive calendar days only (a missing
//! day drops the two returns around it). Standardised returns zₜ = rₜ/σₜ, σₜ the one-day-ahead
//! GARCH(1,1) (or EWMA) forecast made the day before. Vol changes are daily log-changes of DVOL
//! (the close of day t against that of day t − 1), matched to the return of the same day.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::model::{AssetModel, Paths, TailModel};
use super::stats::{correlation, ewma_filter, fit_t_dof, ols, ols_multi, sample_variance, Garch};
use super::TailError;

/// A daily series: day number (days since 1970-01-01) → value, ascending.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DailySeries {
    /// Day numbers, strictly ascending.
    pub days: Vec<i64>,
    /// Values, each finite and > 0.
    pub values: Vec<f64>,
}

/// Day number of a date.
pub fn day_number(d: NaiveDate) -> i64 {
    d.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default())
        .num_days()
}

/// The date of a day number.
pub fn date_of(day: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .unwrap_or_default()
        .checked_add_signed(chrono::Duration::days(day))
        .unwrap_or_default()
}

/// Parses `YYYY-MM-DD` into a day number.
pub fn parse_day(s: &str) -> Result<i64, TailError> {
    let head = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(head, "%Y-%m-%d")
        .map(day_number)
        .map_err(|e| TailError::Invalid {
            field: "date".into(),
            reason: format!("must be YYYY-MM-DD, got '{s}' ({e})"),
        })
}

/// Parses a daily CSV (a header row naming `date_utc` and `column`, then one row a day,
/// ascending). `source` names the file in errors.
pub fn parse_daily_csv(text: &str, column: &str, source: &str) -> Result<DailySeries, TailError> {
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(TailError::History(format!("{source}: empty file")));
    };
    let cols: Vec<&str> = header.trim().split(',').collect();
    let find = |name: &str| {
        cols.iter().position(|c| *c == name).ok_or_else(|| {
            TailError::History(format!(
                "{source}: no column '{name}' in header '{}'",
                header.trim()
            ))
        })
    };
    let (di, vi) = (find("date_utc")?, find(column)?);
    let mut out = DailySeries::default();
    for (i, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let at = |j: usize| {
            f.get(j).copied().ok_or_else(|| {
                TailError::History(format!("{source} line {}: too few fields", i + 1))
            })
        };
        let day = parse_day(at(di)?)
            .map_err(|e| TailError::History(format!("{source} line {}: {e}", i + 1)))?;
        let v: f64 = at(vi)?.parse().map_err(|_| {
            TailError::History(format!(
                "{source} line {}: '{column}' is not a number: '{}'",
                i + 1,
                at(vi).unwrap_or_default()
            ))
        })?;
        if !(v.is_finite() && v > 0.0) {
            return Err(TailError::History(format!(
                "{source} line {}: '{column}' must be finite and > 0, got {v}",
                i + 1
            )));
        }
        if out.days.last().is_some_and(|d| *d >= day) {
            return Err(TailError::History(format!(
                "{source} line {}: dates must be strictly ascending",
                i + 1
            )));
        }
        out.days.push(day);
        out.values.push(v);
    }
    if out.days.len() < 2 {
        return Err(TailError::History(format!("{source}: fewer than two rows")));
    }
    Ok(out)
}

/// The file of `../shared/data` that holds an underlying's daily closes.
pub fn daily_file_name(underlying: &str) -> Option<&'static str> {
    match underlying {
        "BTC" => Some("binance_btcusdt_1d.csv"),
        "ETH" => Some("binance_ethusdt_1d.csv"),
        _ => None,
    }
}

/// The DVOL file of `../shared/data`.
pub const DVOL_FILE: &str = "deribit_btc_dvol_1d.csv";

/// Log-changes between consecutive calendar days in [first, last]: day → ln(vₜ/vₜ₋₁).
pub fn log_changes(s: &DailySeries, first: i64, last: i64) -> BTreeMap<i64, f64> {
    let mut out = BTreeMap::new();
    for i in 1..s.days.len() {
        let d = s.days[i];
        if s.days[i - 1] == d - 1 && d >= first && d <= last {
            out.insert(d, (s.values[i] / s.values[i - 1]).ln());
        }
    }
    out
}

/// The variance filter that devolatilises returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Filter {
    /// GARCH(1,1) fitted by quasi-maximum likelihood on the window.
    Garch,
    /// EWMA with this decay (RiskMetrics: 0.94).
    Ewma(f64),
}

/// Standardised returns of a run of consecutive returns: day → (r, σ forecast, z).
#[derive(Debug, Clone)]
pub struct Filtered {
    /// Days, ascending.
    pub days: Vec<i64>,
    /// Returns.
    pub returns: Vec<f64>,
    /// One-day-ahead sd forecasts made the day before.
    pub sigma: Vec<f64>,
    /// rₜ / σₜ.
    pub z: Vec<f64>,
    /// The forecast for the day after the last.
    pub sigma_next: f64,
    /// The fitted GARCH, when the filter is GARCH.
    pub garch: Option<Garch>,
}

/// Filters `returns` (day → r). Gaps restart nothing: the filter runs over the returns in order
/// (gaps are a handful of days in 2026 only).
pub fn filter_returns(returns: &BTreeMap<i64, f64>, filter: Filter) -> Result<Filtered, TailError> {
    let days: Vec<i64> = returns.keys().copied().collect();
    let r: Vec<f64> = returns.values().copied().collect();
    if r.len() < 100 {
        return Err(TailError::History(format!(
            "need at least 100 daily returns, got {}",
            r.len()
        )));
    }
    let (var, garch) = match filter {
        Filter::Garch => {
            let g = Garch::fit(&r)?;
            (g.filter(&r), Some(g))
        }
        Filter::Ewma(lambda) => {
            if !(lambda > 0.0 && lambda < 1.0) {
                return Err(TailError::Invalid {
                    field: "ewma_lambda".into(),
                    reason: format!("must be in (0, 1), got {lambda}"),
                });
            }
            (ewma_filter(&r, lambda), None)
        }
    };
    let sigma: Vec<f64> = var[..r.len()].iter().map(|v| v.sqrt()).collect();
    let z = r.iter().zip(&sigma).map(|(x, s)| x / s).collect();
    Ok(Filtered {
        days,
        returns: r,
        sigma,
        z,
        sigma_next: var[var.len() - 1].sqrt(),
        garch,
    })
}

/// Daily closes of the underlyings and the DVOL series.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Closes by underlying name.
    pub closes: BTreeMap<String, DailySeries>,
    /// Deribit BTC DVOL closes (percent).
    pub dvol: Option<DailySeries>,
}

/// The estimation window of the defaults: 2017-09-01 .. 2025-12-31 (the first weeks of Binance
/// history are unreliable; 2026 has missing days).
pub fn default_window() -> (i64, i64) {
    (
        day_number(NaiveDate::from_ymd_opt(2017, 9, 1).unwrap_or_default()),
        day_number(NaiveDate::from_ymd_opt(2025, 12, 31).unwrap_or_default()),
    )
}

/// Everything estimated from the history (docs/tail-risk.md lists them).
#[derive(Debug, Clone)]
pub struct Estimates {
    /// Window, day numbers.
    pub window: (i64, i64),
    /// Per underlying.
    pub assets: Vec<AssetEstimates>,
    /// Student-t dof of the pooled GARCH-standardised returns.
    pub dof_pooled: f64,
    /// Correlation of standardised returns, row-major.
    pub return_corr: Vec<f64>,
    /// Correlation of raw daily returns, row-major.
    pub raw_return_corr: Vec<f64>,
    /// DVOL regression, when DVOL is given: days used.
    pub dvol_days: usize,
    /// Piecewise regression Δln DVOL = a + β↓·min(z, 0) + β↑·max(z, 0) + e: a.
    pub vol_intercept: f64,
    /// β↓.
    pub vol_beta_down: f64,
    /// β↑.
    pub vol_beta_up: f64,
    /// sd(e), daily.
    pub vol_resid_sd: f64,
    /// Linear regression Δln DVOL = a + β·z + e: β.
    pub vol_beta_linear: f64,
    /// Its residual sd.
    pub vol_resid_sd_linear: f64,
    /// Correlation of Δln DVOL with the BTC return of the same day.
    pub spot_vol_corr: f64,
    /// Slope of Δln DVOL on the raw BTC return.
    pub vol_beta_raw: f64,
    /// Daily sd of Δln DVOL.
    pub dvol_change_sd: f64,
}

/// Per-underlying estimates.
#[derive(Debug, Clone)]
pub struct AssetEstimates {
    /// Name.
    pub name: String,
    /// Returns used.
    pub returns: usize,
    /// Annualised sample vol of daily returns (√365).
    pub vol_annual: f64,
    /// Student-t dof of the raw returns scaled to unit variance.
    pub dof_raw: f64,
    /// Student-t dof of the GARCH-standardised returns.
    pub dof_garch: f64,
    /// Student-t dof of the EWMA(0.94)-standardised returns.
    pub dof_ewma: f64,
    /// The GARCH(1,1) fit.
    pub garch: Garch,
    /// Annualised GARCH long-run vol.
    pub garch_vol_annual: f64,
    /// Annualised GARCH forecast for the day after the window.
    pub garch_vol_next: f64,
}

/// Estimates the model on `history` over `window` (day numbers, inclusive). The first
/// underlying (by name) with a DVOL series is BTC.
pub fn estimate(history: &History, window: (i64, i64)) -> Result<Estimates, TailError> {
    let names: Vec<String> = history.closes.keys().cloned().collect();
    if names.is_empty() {
        return Err(TailError::History("no price series".into()));
    }
    let mut assets = Vec::new();
    let mut zs: Vec<BTreeMap<i64, f64>> = Vec::new();
    let mut raws: Vec<BTreeMap<i64, f64>> = Vec::new();
    let mut pooled = Vec::new();
    for name in &names {
        let r = log_changes(&history.closes[name], window.0, window.1);
        let f = filter_returns(&r, Filter::Garch)?;
        let e = filter_returns(&r, Filter::Ewma(0.94))?;
        let g = f.garch.unwrap_or(Garch {
            omega: 0.0,
            alpha: 0.0,
            beta: 0.0,
        });
        let var = sample_variance(&f.returns);
        let unit: Vec<f64> = f.returns.iter().map(|x| x / var.sqrt()).collect();
        pooled.extend_from_slice(&f.z);
        assets.push(AssetEstimates {
            name: name.clone(),
            returns: f.returns.len(),
            vol_annual: (var * 365.0).sqrt(),
            dof_raw: fit_t_dof(&unit),
            dof_garch: fit_t_dof(&f.z),
            dof_ewma: fit_t_dof(&e.z),
            garch: g,
            garch_vol_annual: (g.long_run_variance() * 365.0).sqrt(),
            garch_vol_next: f.sigma_next * 365f64.sqrt(),
        });
        zs.push(f.days.iter().copied().zip(f.z.iter().copied()).collect());
        raws.push(r);
    }
    let m = names.len();
    let pair = |maps: &[BTreeMap<i64, f64>], a: usize, b: usize| -> f64 {
        let (x, y): (Vec<f64>, Vec<f64>) = maps[a]
            .iter()
            .filter_map(|(d, v)| maps[b].get(d).map(|w| (*v, *w)))
            .unzip();
        correlation(&x, &y)
    };
    let mut return_corr = vec![1.0; m * m];
    let mut raw_return_corr = vec![1.0; m * m];
    for a in 0..m {
        for b in 0..m {
            if a != b {
                return_corr[a * m + b] = pair(&zs, a, b);
                raw_return_corr[a * m + b] = pair(&raws, a, b);
            }
        }
    }
    let mut est = Estimates {
        window,
        assets,
        dof_pooled: fit_t_dof(&pooled),
        return_corr,
        raw_return_corr,
        dvol_days: 0,
        vol_intercept: 0.0,
        vol_beta_down: 0.0,
        vol_beta_up: 0.0,
        vol_resid_sd: 0.0,
        vol_beta_linear: 0.0,
        vol_resid_sd_linear: 0.0,
        spot_vol_corr: 0.0,
        vol_beta_raw: 0.0,
        dvol_change_sd: 0.0,
    };
    if let (Some(dvol), Some(btc)) = (&history.dvol, names.iter().position(|n| n == "BTC")) {
        let y = log_changes(dvol, window.0, window.1);
        let mut xz = Vec::new();
        let mut xr = Vec::new();
        let mut yy = Vec::new();
        for (d, v) in &y {
            if let (Some(z), Some(r)) = (zs[btc].get(d), raws[btc].get(d)) {
                xz.push(*z);
                xr.push(*r);
                yy.push(*v);
            }
        }
        if yy.len() < 30 {
            return Err(TailError::History(format!(
                "DVOL and BTC returns overlap on {} days; need at least 30",
                yy.len()
            )));
        }
        let (_, b, sd) = ols(&xz, &yy);
        est.vol_beta_linear = b;
        est.vol_resid_sd_linear = sd;
        let cols = vec![
            vec![1.0; xz.len()],
            xz.iter().map(|z| z.min(0.0)).collect(),
            xz.iter().map(|z| z.max(0.0)).collect(),
        ];
        let (c, sd) = ols_multi(&cols, &yy)
            .ok_or_else(|| TailError::History("the DVOL regression is singular".into()))?;
        est.dvol_days = yy.len();
        est.vol_intercept = c[0];
        est.vol_beta_down = c[1];
        est.vol_beta_up = c[2];
        est.vol_resid_sd = sd;
        est.spot_vol_corr = correlation(&xr, &yy);
        est.vol_beta_raw = ols(&xr, &yy).1;
        est.dvol_change_sd = sample_variance(&yy).sqrt();
    }
    Ok(est)
}

impl Estimates {
    /// The Monte Carlo model these estimates define: the pooled dof, every underlying with the
    /// BTC DVOL regression (the only implied-vol series), vol residuals perfectly correlated.
    pub fn to_model(&self) -> TailModel {
        TailModel {
            dof: Some(self.dof_pooled),
            assets: self
                .assets
                .iter()
                .map(|a| AssetModel {
                    name: a.name.clone(),
                    vol_intercept: self.vol_intercept,
                    vol_beta_down: self.vol_beta_down,
                    vol_beta_up: self.vol_beta_up,
                    vol_resid_sd: self.vol_resid_sd,
                })
                .collect(),
            return_corr: self.return_corr.clone(),
            vol_resid_corr: 1.0,
        }
    }
}

/// FHS paths for the underlyings `names` with today's annualised vols `sigma_annual`: every day
/// of `window` on which every underlying has a standardised return and DVOL a log-change is one
/// scenario (h-day horizons: every run of h consecutive such days, overlapping), the returns
/// rescaled to today's vol, r = σ_today·√(1/365)·Σ z, and the DVOL log-changes of the same days
/// summed. Every underlying takes BTC's DVOL change (the only implied-vol series).
pub fn fhs_paths(
    history: &History,
    names: &[String],
    sigma_annual: &[f64],
    filter: Filter,
    horizon_days: f64,
    window: (i64, i64),
) -> Result<Paths, TailError> {
    let h = horizon_days.round();
    if !(horizon_days >= 1.0 && (horizon_days - h).abs() < 1e-9 && h <= 30.0) {
        return Err(TailError::Invalid {
            field: "horizon".into(),
            reason: format!(
                "filtered historical simulation needs a whole number of days in [1, 30], got {horizon_days}"
            ),
        });
    }
    let h = h as i64;
    let dvol = history
        .dvol
        .as_ref()
        .ok_or_else(|| TailError::History("no DVOL series (needed for the vol changes)".into()))?;
    let y = log_changes(dvol, window.0, window.1);
    let mut zs = Vec::new();
    for name in names {
        let closes = history.closes.get(name).ok_or_else(|| {
            TailError::History(format!("no daily closes for underlying '{name}'"))
        })?;
        // The filter runs over the whole window; scenarios are the days with DVOL.
        let r = log_changes(closes, window.0, window.1);
        let f = filter_returns(&r, filter)?;
        zs.push(
            f.days
                .iter()
                .copied()
                .zip(f.z.iter().copied())
                .collect::<BTreeMap<i64, f64>>(),
        );
    }
    let usable = |d: i64| y.contains_key(&d) && zs.iter().all(|z| z.contains_key(&d));
    let mut log_return = vec![Vec::new(); names.len()];
    let mut vol_log_change = vec![Vec::new(); names.len()];
    for &d in y.keys() {
        if !(0..h).all(|j| usable(d + j)) {
            continue;
        }
        let dy: f64 = (0..h).map(|j| y[&(d + j)]).sum();
        for (u, z) in zs.iter().enumerate() {
            let sz: f64 = (0..h).map(|j| z[&(d + j)]).sum();
            log_return[u].push(sigma_annual[u] / 365f64.sqrt() * sz);
            vol_log_change[u].push(dy);
        }
    }
    if log_return.first().is_none_or(|v| v.len() < 100) {
        return Err(TailError::History(format!(
            "fewer than 100 historical scenarios with returns and DVOL changes ({})",
            log_return.first().map_or(0, Vec::len)
        )));
    }
    Ok(Paths {
        underlyings: names.to_vec(),
        log_return,
        vol_log_change,
        horizon_days,
    })
}
