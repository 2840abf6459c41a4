//! Policies side by side on the same paths and the same population (common random numbers),
//! and parameter sweeps with their frontier of capital efficiency against bad debt.

use rayon::prelude::*;

use crate::calibrate::Calibration;
use crate::data::DataSet;
use crate::error::{invalid, SimError};
use crate::path::{build, MarketPath};
use crate::population::population;
use crate::scenario::{by_name, Kind, Scenario};
use crate::sim::{run_policy, PolicyResult, PolicyRun, SimConfig};

/// Most paths of one backtest.
pub const MAX_PATHS: u64 = 10_000;
/// Most grid points of one sweep.
pub const MAX_SWEEP_POINTS: usize = 1_000;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestSpec {
    /// Scenario name.
    pub scenario: String,
    /// Policies, in report order.
    pub policies: Vec<PolicyRun>,
    /// Paths (synthetic scenarios; historical ones have one).
    pub paths: u64,
    /// The pipeline.
    pub config: SimConfig,
}

/// A finished backtest.
#[derive(Debug, Clone, PartialEq)]
pub struct Backtest {
    /// The scenario.
    pub scenario: &'static Scenario,
    /// The calibration used.
    pub calibration: Calibration,
    /// The first path (plotted).
    pub path: MarketPath,
    /// Per path, per policy (policy order of the spec).
    pub results: Vec<Vec<PolicyResult>>,
    /// Policies skipped, with the reason (e.g. not accepted by `policy_by_name`).
    pub skipped: Vec<(String, String)>,
    /// The spec.
    pub spec: BacktestSpec,
}

/// Steps the backtest will run (for a progress bar).
pub fn total_steps(
    spec: &BacktestSpec,
    data: &DataSet,
    cal: &Calibration,
) -> Result<u64, SimError> {
    let scenario = by_name(&spec.scenario)?;
    let path = build(
        scenario,
        data,
        cal,
        spec.config.seed,
        0,
        &spec.config.underlyings,
    )?;
    let n = crate::sim::schedule(&path, &spec.config)?.len() as u64;
    Ok(n * spec.policies.len() as u64 * paths_of(scenario, spec.paths))
}

fn paths_of(scenario: &Scenario, paths: u64) -> u64 {
    match scenario.kind {
        Kind::Historical { .. } => 1,
        Kind::Synthetic { .. } => paths.max(1),
    }
}

/// Runs the backtest: every policy on every path, in parallel over (path, policy), results in
/// spec order.
pub fn run_backtest(
    spec: &BacktestSpec,
    data: &DataSet,
    progress: &(dyn Fn() + Sync),
) -> Result<Backtest, SimError> {
    let scenario = by_name(&spec.scenario)?;
    if spec.paths == 0 || spec.paths > MAX_PATHS {
        return Err(invalid(
            "paths",
            format!("must be in 1..={MAX_PATHS}, got {}", spec.paths),
        ));
    }
    if spec.policies.is_empty() {
        return Err(invalid("policy", "no policy to run"));
    }
    spec.config.validate()?;
    let cal = crate::calibrate::calibrate(data);
    let traders = population(&spec.config.population_spec())?;
    // A policy that `policy_by_name` refuses (e.g. pm before it is wired) is skipped, and said.
    let mut policies = Vec::new();
    let mut skipped = Vec::new();
    for p in &spec.policies {
        match ale_risk::policy_by_name(&p.policy, p.params_toml.as_deref()) {
            Ok(_) => policies.push(p.clone()),
            Err(e) => skipped.push((p.label.clone(), e.to_string())),
        }
    }
    if policies.is_empty() {
        return Err(invalid(
            "policy",
            format!(
                "no runnable policy: {}",
                skipped
                    .iter()
                    .map(|s| format!("{}: {}", s.0, s.1))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
    }
    let n_paths = paths_of(scenario, spec.paths);
    let paths: Vec<MarketPath> = (0..n_paths)
        .into_par_iter()
        .map(|i| {
            build(
                scenario,
                data,
                &cal,
                spec.config.seed,
                i,
                &spec.config.underlyings,
            )
        })
        .collect::<Result<_, _>>()?;
    let jobs: Vec<(usize, usize)> = (0..paths.len())
        .flat_map(|p| (0..policies.len()).map(move |q| (p, q)))
        .collect();
    let flat: Vec<PolicyResult> = jobs
        .par_iter()
        .map(|&(p, q)| {
            run_policy(
                &paths[p],
                &cal,
                &spec.config,
                &traders,
                &policies[q],
                progress,
            )
        })
        .collect::<Result<_, _>>()?;
    let mut results = Vec::new();
    let mut it = flat.into_iter();
    for _ in 0..paths.len() {
        results.push(it.by_ref().take(policies.len()).collect());
    }
    let mut spec = spec.clone();
    spec.policies = policies;
    Ok(Backtest {
        scenario,
        calibration: cal,
        path: paths
            .into_iter()
            .next()
            .ok_or_else(|| invalid("paths", "none built"))?,
        results,
        skipped,
        spec,
    })
}

/// One swept parameter: `NAME=LO:HI:N` (N evenly spaced values from LO to HI).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepParam {
    /// The policy's TOML key.
    pub name: String,
    /// The values.
    pub values: Vec<f64>,
}

/// Parses `NAME=LO:HI:N`.
pub fn parse_param(text: &str) -> Result<SweepParam, SimError> {
    let bad = |why: &str| {
        invalid(
            "--param",
            format!("'{text}': {why} (expected NAME=LO:HI:N, e.g. z_price=3:7:5)"),
        )
    };
    let (name, range) = text.split_once('=').ok_or_else(|| bad("no '='"))?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(bad(
            "the name must be a policy parameter such as z_price or mm_rate",
        ));
    }
    let parts: Vec<&str> = range.split(':').collect();
    if parts.len() != 3 {
        return Err(bad("the range needs three parts"));
    }
    let lo: f64 = parts[0]
        .trim()
        .parse()
        .map_err(|_| bad("LO is not a number"))?;
    let hi: f64 = parts[1]
        .trim()
        .parse()
        .map_err(|_| bad("HI is not a number"))?;
    let n: usize = parts[2]
        .trim()
        .parse()
        .map_err(|_| bad("N is not a whole number"))?;
    if !(lo.is_finite() && hi.is_finite() && hi >= lo) {
        return Err(bad("LO and HI must be finite with LO <= HI"));
    }
    if n == 0 || n > 100 || (n == 1 && hi != lo) {
        return Err(bad("N must be 1..=100 (1 only when LO = HI)"));
    }
    let values = (0..n)
        .map(|i| {
            if n == 1 {
                lo
            } else {
                lo + (hi - lo) * i as f64 / (n - 1) as f64
            }
        })
        .collect();
    Ok(SweepParam {
        name: name.to_string(),
        values,
    })
}

/// One grid point of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPoint {
    /// (name, value) per swept parameter.
    pub setting: Vec<(String, f64)>,
    /// Mean over paths of the margin held per unit of notional.
    pub margin_per_notional: f64,
    /// Mean over paths of bad debt.
    pub bad_debt_usd: f64,
    /// Mean over paths of liquidations.
    pub liquidations: f64,
    /// Not dominated (no other point has both less margin and less bad debt, one strictly).
    pub non_dominated: bool,
}

/// A finished sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepResult {
    /// The policy swept.
    pub policy: String,
    /// The scenario.
    pub scenario: String,
    /// Every grid point, in grid order.
    pub points: Vec<SweepPoint>,
}

/// Runs `base` (one policy) on the grid of `params` and marks the non-dominated settings.
pub fn run_sweep(
    base: &BacktestSpec,
    params: &[SweepParam],
    data: &DataSet,
    progress: &(dyn Fn() + Sync),
) -> Result<SweepResult, SimError> {
    let [policy] = base.policies.as_slice() else {
        return Err(invalid(
            "--policy",
            "a sweep varies one policy: name exactly one",
        ));
    };
    if params.is_empty() {
        return Err(invalid("--param", "give at least one NAME=LO:HI:N"));
    }
    let mut grid: Vec<Vec<(String, f64)>> = vec![Vec::new()];
    for p in params {
        let mut next = Vec::new();
        for g in &grid {
            for v in &p.values {
                let mut g = g.clone();
                g.push((p.name.clone(), *v));
                next.push(g);
            }
        }
        grid = next;
        if grid.len() > MAX_SWEEP_POINTS {
            return Err(invalid(
                "--param",
                format!("more than {MAX_SWEEP_POINTS} grid points"),
            ));
        }
    }
    let mut points = Vec::new();
    for setting in grid {
        let mut toml = policy.params_toml.clone().unwrap_or_default();
        for (k, v) in &setting {
            // Integer keys (spot_steps) need an integer.
            if v.fract() == 0.0 && k == "spot_steps" {
                toml.push_str(&format!("\n{k} = {}\n", *v as i64));
            } else {
                toml.push_str(&format!("\n{k} = {v:?}\n"));
            }
        }
        ale_risk::policy_by_name(&policy.policy, Some(&toml))
            .map_err(|e| invalid("--param", format!("{}: {e}", policy.policy)))?;
        let mut spec = base.clone();
        spec.policies = vec![PolicyRun {
            params_toml: Some(toml),
            ..policy.clone()
        }];
        let bt = run_backtest(&spec, data, progress)?;
        let n = bt.results.len() as f64;
        let mean =
            |f: &dyn Fn(&PolicyResult) -> f64| bt.results.iter().map(|r| f(&r[0])).sum::<f64>() / n;
        points.push(SweepPoint {
            setting,
            margin_per_notional: mean(&|r| r.metrics.margin_per_notional),
            bad_debt_usd: mean(&|r| r.metrics.bad_debt_usd),
            liquidations: mean(&|r| r.metrics.liquidations as f64),
            non_dominated: true,
        });
    }
    for i in 0..points.len() {
        let (a, b) = (points[i].margin_per_notional, points[i].bad_debt_usd);
        points[i].non_dominated = !points.iter().enumerate().any(|(j, q)| {
            j != i
                && q.margin_per_notional <= a
                && q.bad_debt_usd <= b
                && (q.margin_per_notional < a || q.bad_debt_usd < b)
        });
    }
    Ok(SweepResult {
        policy: policy.label.clone(),
        scenario: base.scenario.clone(),
        points,
    })
}
