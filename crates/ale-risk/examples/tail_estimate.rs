//! Estimates the tail-risk model from the daily data and runs the BTC backtest: the numbers of
//! docs/tail-risk.md.
//!
//! `cargo run --release -p ale-risk --example tail_estimate [DATA_DIR] [--backtest PATHS [--from YYYY-MM-DD]]`
//! (DATA_DIR defaults to ../shared/data beside the repository).

use std::path::PathBuf;

use ale_risk::tail::backtest::{backtest_btc, BacktestSpec};
use ale_risk::tail::history::{
    daily_file_name, date_of, day_number, default_window, estimate, parse_daily_csv, History,
    DVOL_FILE,
};
use ale_risk::tail::Method;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && (*i == 0 || !args[i - 1].starts_with("--")))
        .map(|(_, a)| a)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"))
        });
    let backtest_paths = args
        .iter()
        .position(|a| a == "--backtest")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse::<usize>())
        .transpose()?;
    let mut history = History::default();
    for name in ["BTC", "ETH"] {
        let file = dir.join(daily_file_name(name).unwrap_or_default());
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        history.closes.insert(
            name.to_string(),
            parse_daily_csv(&text, "close", &file.display().to_string())?,
        );
    }
    let file = dir.join(DVOL_FILE);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    history.dvol = Some(parse_daily_csv(
        &text,
        "dvol_close",
        &file.display().to_string(),
    )?);

    let window = default_window();
    let est = estimate(&history, window)?;
    println!(
        "window {} .. {}",
        date_of(est.window.0),
        date_of(est.window.1)
    );
    for a in &est.assets {
        println!(
            "{}: {} returns, vol {:.4} (annualised, sqrt 365), dof raw {:.3}, dof GARCH-filtered {:.3}, dof EWMA(0.94)-filtered {:.3}",
            a.name, a.returns, a.vol_annual, a.dof_raw, a.dof_garch, a.dof_ewma
        );
        println!(
            "{}: GARCH(1,1) omega {:.4e} alpha {:.4} beta {:.4} (persistence {:.4}), long-run vol {:.4}, forecast after window {:.4}",
            a.name,
            a.garch.omega,
            a.garch.alpha,
            a.garch.beta,
            a.garch.alpha + a.garch.beta,
            a.garch_vol_annual,
            a.garch_vol_next
        );
    }
    println!(
        "pooled dof (GARCH-filtered BTC and ETH): {:.3}",
        est.dof_pooled
    );
    println!(
        "correlation BTC-ETH: standardised {:.4}, raw {:.4}",
        est.return_corr[1], est.raw_return_corr[1]
    );
    println!(
        "DVOL: {} days; dln(DVOL) = {:.5} + {:.5} min(z_BTC,0) + {:.5} max(z_BTC,0) + e, sd(e) {:.5}; linear: slope {:.5} sd(e) {:.5}; corr(dln DVOL, r_BTC) {:.4}; slope on raw r {:.4}; sd(dln DVOL) {:.5}",
        est.dvol_days,
        est.vol_intercept,
        est.vol_beta_down,
        est.vol_beta_up,
        est.vol_resid_sd,
        est.vol_beta_linear,
        est.vol_resid_sd_linear,
        est.spot_vol_corr,
        est.vol_beta_raw,
        est.dvol_change_sd
    );
    if let Some(paths) = backtest_paths {
        let model = est.to_model();
        let btc = est
            .assets
            .iter()
            .find(|a| a.name == "BTC")
            .ok_or("no BTC estimates")?;
        let from = args
            .iter()
            .position(|a| a == "--from")
            .and_then(|i| args.get(i + 1))
            .map(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d"))
            .transpose()?
            .unwrap_or(chrono::NaiveDate::from_ymd_opt(2019, 1, 1).ok_or("date")?);
        println!("backtest from {from}, {paths} paths a day, seed 1");
        let mut spec = BacktestSpec {
            start: day_number(from),
            end: window.1 - 1,
            paths,
            seed: 1,
            alphas: vec![0.99, 0.995],
            straddle_days: 30.0,
            method: Method::MonteCarlo,
        };
        let started = std::time::Instant::now();
        let mut results = backtest_btc(&history, &model, &btc.garch, &spec)?;
        spec.method = Method::FilteredHistorical;
        results.extend(backtest_btc(&history, &model, &btc.garch, &spec)?);
        for r in results {
            let t = r.tests;
            println!(
                "backtest {} {} alpha {}: {} days, {} exceptions (expected {:.1}), Kupiec LR {:.3} p {:.4}, Christoffersen ind LR {:.3} p {:.4}, cc LR {:.3} p {:.4}; mean VaR {:.1}, mean ES {:.1}, mean loss on exceptions {:.1}",
                r.method, r.book, r.alpha, t.days, t.exceptions, t.expected, t.lr_uc, t.p_uc, t.lr_ind, t.p_ind, t.lr_cc, t.p_cc, r.mean_var, r.mean_es, r.mean_exceedance_loss
            );
        }
        eprintln!("backtest took {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}
