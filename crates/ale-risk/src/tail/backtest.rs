//! The model checked against history as a risk team would: a BTC test book rolled daily — a
//! delta-one position (long 1 BTC) and a short straddle (short one 30-day ATM call and put,
//! re-struck every day) — whose one-day Monte Carlo VaR is forecast each day from the data up to
//! that day, then compared with the next day's realised loss; exceptions counted; Kupiec's
//! proportion-of-failures and Christoffersen's independence tests reported. The VaR comes from
//! Monte Carlo or from filtered historical simulation (every earlier standardised return, and for
//! the straddle the earlier days' DVOL changes), as [`BacktestSpec::method`] says.
//!
//! Each day d: σ = the GARCH(1,1) forecast for day d + 1 made after day d's close; the straddle's
//! implied vol is DVOL (d) where the series exists (from 2022-11-06), else the proxy
//! k·σ, k the median ratio of DVOL to the GARCH forecast over the days that have both (the
//! smile is flat: no strike-level history exists in the data). The model's parameters (dof,
//! GARCH, vol regression) are estimated once on the whole sample: a look-ahead in the
//! parameters (not in the filter), stated in docs/tail-risk.md.

use std::collections::BTreeMap;

use ale_core::OptionKind;
use ale_pricing::Black76;

use super::history::{log_changes, History};
use super::model::{mc_paths_with_vols, AssetModel, TailModel};
use super::stats::{coverage_tests, tail_measure, CoverageTests, Garch};
use super::table::MAX_VOL;
use super::{TailError, TailParams};

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestSpec {
    /// First day forecast (day number).
    pub start: i64,
    /// Last day whose next-day loss is known (day number).
    pub end: i64,
    /// Monte Carlo paths per day.
    pub paths: usize,
    /// Seed; day d uses seed + d.
    pub seed: u64,
    /// Levels.
    pub alphas: Vec<f64>,
    /// Straddle tenor, days.
    pub straddle_days: f64,
    /// Monte Carlo, or filtered historical simulation: day d's scenarios are the GARCH-
    /// standardised returns of every earlier day (from the start of the data), rescaled to σ,
    /// and for the straddle the earlier days that also have a DVOL change, with that change
    /// (the straddle is tested only once [`FHS_MIN_VOL_DAYS`] such days exist).
    pub method: super::Method,
}

/// Fewest historical days with a DVOL change before the FHS straddle is forecast.
pub const FHS_MIN_VOL_DAYS: usize = 250;

/// The outcome for one book at one level.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestResult {
    /// `delta_one` or `short_straddle`.
    pub book: &'static str,
    /// `mc` or `fhs`.
    pub method: &'static str,
    /// Level.
    pub alpha: f64,
    /// The coverage tests.
    pub tests: CoverageTests,
    /// Mean VaR forecast (USD per unit book).
    pub mean_var: f64,
    /// Mean ES forecast.
    pub mean_es: f64,
    /// Mean realised loss on exception days (0 without exceptions).
    pub mean_exceedance_loss: f64,
}

fn straddle(f: f64, k: f64, t: f64, vol: f64) -> f64 {
    let c = Black76::new(OptionKind::Call, f, k, t, vol, 0.0).map_or(f64::NAN, |o| o.price());
    let p = Black76::new(OptionKind::Put, f, k, t, vol, 0.0).map_or(f64::NAN, |o| o.price());
    c + p
}

/// Runs the backtest of the BTC test book.
pub fn backtest_btc(
    history: &History,
    model: &TailModel,
    garch: &Garch,
    spec: &BacktestSpec,
) -> Result<Vec<BacktestResult>, TailError> {
    let btc = history
        .closes
        .get("BTC")
        .ok_or_else(|| TailError::History("no BTC closes".into()))?;
    let ix = model
        .assets
        .iter()
        .position(|a| a.name == "BTC")
        .ok_or_else(|| TailError::UnknownUnderlying {
            name: "BTC".into(),
            known: model
                .assets
                .iter()
                .map(|a| a.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let params = TailParams {
        alphas: spec.alphas.clone(),
        paths: spec.paths,
        ..TailParams::default()
    };
    params.validate()?;
    let one = TailModel {
        dof: model.dof,
        assets: vec![AssetModel {
            name: "BTC".into(),
            ..model.assets[ix].clone()
        }],
        return_corr: vec![1.0],
        vol_resid_corr: 1.0,
    };
    let close: BTreeMap<i64, f64> = btc
        .days
        .iter()
        .copied()
        .zip(btc.values.iter().copied())
        .collect();
    // The filter runs causally over every return up to the end.
    let returns = log_changes(btc, i64::MIN, spec.end + 1);
    let r: Vec<f64> = returns.values().copied().collect();
    let var = garch.filter(&r);
    // sigma_after[d]: the forecast for d + 1 made after d's close.
    let sigma_after: BTreeMap<i64, f64> = returns
        .keys()
        .zip(var.iter().skip(1))
        .map(|(d, v)| (*d, v.sqrt() * 365f64.sqrt()))
        .collect();
    // Standardised returns (the forecast made the day before) and DVOL log-changes, by day.
    let z_by_day: BTreeMap<i64, f64> = returns
        .iter()
        .zip(&var)
        .map(|((d, r), v)| (*d, r / v.sqrt()))
        .collect();
    let dvol_change = history
        .dvol
        .as_ref()
        .map(|s| log_changes(s, i64::MIN, spec.end + 1))
        .unwrap_or_default();
    let dvol: BTreeMap<i64, f64> = history
        .dvol
        .as_ref()
        .map(|s| {
            s.days
                .iter()
                .copied()
                .zip(s.values.iter().map(|v| v / 100.0))
                .collect()
        })
        .unwrap_or_default();
    let mut ratios: Vec<f64> = dvol
        .iter()
        .filter_map(|(d, v)| sigma_after.get(d).map(|s| v / s))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let k = ratios.get(ratios.len() / 2).copied().unwrap_or(1.0);
    let iv = |d: i64| -> Option<f64> {
        dvol.get(&d)
            .copied()
            .or_else(|| sigma_after.get(&d).map(|s| k * s))
    };
    let t = spec.straddle_days / 365.0;
    let dt = 1.0 / 365.0;
    let na = spec.alphas.len();
    // Per book and level: hits, VaRs, ESs, exceedance losses.
    let mut hits = vec![vec![Vec::new(); na]; 2];
    let mut sums = vec![vec![(0.0, 0.0, 0.0); na]; 2];
    let mut losses = vec![0.0; spec.paths];
    for d in spec.start..=spec.end {
        let (Some(s0), Some(s1), Some(sig), Some(v0), Some(v1)) = (
            close.get(&d),
            close.get(&(d + 1)),
            sigma_after.get(&d),
            iv(d),
            iv(d + 1),
        ) else {
            continue;
        };
        // Per book: the scenarios' (log-return, vol log-change).
        let scen: [(Vec<f64>, Vec<f64>); 2] = match spec.method {
            super::Method::MonteCarlo => {
                let day_params = TailParams {
                    seed: spec.seed.wrapping_add(d as u64),
                    ..params.clone()
                };
                let paths = mc_paths_with_vols(&one, &["BTC".into()], &[0], &[*sig], &day_params);
                let p = (paths.log_return[0].clone(), paths.vol_log_change[0].clone());
                [p.clone(), p]
            }
            super::Method::FilteredHistorical => {
                let scale = sig / 365f64.sqrt();
                let spot: Vec<f64> = z_by_day.range(..=d).map(|(_, z)| scale * z).collect();
                let (r, y): (Vec<f64>, Vec<f64>) = z_by_day
                    .range(..=d)
                    .filter_map(|(day, z)| dvol_change.get(day).map(|y| (scale * z, *y)))
                    .unzip();
                [(spot.clone(), vec![0.0; spot.len()]), (r, y)]
            }
        };
        let base = straddle(*s0, *s0, t, v0);
        let realised = [-(s1 - s0), straddle(*s1, *s0, t - dt, v1) - base];
        for (book, realised_loss) in realised.iter().enumerate() {
            let (rs, ys) = &scen[book];
            let n = rs.len();
            if n < 2
                || (book == 1
                    && spec.method == super::Method::FilteredHistorical
                    && n < FHS_MIN_VOL_DAYS)
            {
                continue;
            }
            losses.resize(n, 0.0);
            for (p, l) in losses.iter_mut().enumerate() {
                *l = match book {
                    0 => -s0 * rs[p].exp_m1(),
                    _ => {
                        let vol = (v0 * ys[p].exp()).clamp(params.vol_floor, MAX_VOL);
                        straddle(s0 * rs[p].exp(), *s0, t - dt, vol) - base
                    }
                };
            }
            for (a, alpha) in spec.alphas.iter().enumerate() {
                let m = tail_measure(&mut losses.clone(), n, *alpha)?;
                let hit = *realised_loss > m.var;
                hits[book][a].push(hit);
                let s = &mut sums[book][a];
                s.0 += m.var;
                s.1 += m.es;
                if hit {
                    s.2 += realised_loss;
                }
            }
        }
    }
    let mut out = Vec::new();
    let method = spec.method.name();
    for (book, name) in ["delta_one", "short_straddle"].into_iter().enumerate() {
        for (a, alpha) in spec.alphas.iter().enumerate() {
            let h = &hits[book][a];
            if h.is_empty() {
                return Err(TailError::History(
                    "no backtest day has the data it needs".into(),
                ));
            }
            let tests = coverage_tests(h, *alpha);
            let s = sums[book][a];
            out.push(BacktestResult {
                book: name,
                method,
                alpha: *alpha,
                tests,
                mean_var: s.0 / h.len() as f64,
                mean_es: s.1 / h.len() as f64,
                mean_exceedance_loss: if tests.exceptions > 0 {
                    s.2 / tests.exceptions as f64
                } else {
                    0.0
                },
            });
        }
    }
    Ok(out)
}
