//! `ale backtest`: a policy (or all five) on a named scenario, and parameter sweeps
//! (docs/backtest.md; scenarios and output in docs/formats.md).

use std::path::PathBuf;

use ale_sim::backtest::{total_steps, Backtest, SweepResult};
use ale_sim::sim::policy_run;
use ale_sim::{
    calibrate, parse_param, run_backtest, run_sweep, standard_policies, AuctionChoice,
    BacktestSpec, DataSet, Metrics, SimConfig, SCENARIOS,
};
use anyhow::Context;
use clap::Args;
use serde_json::{json, Value};

use crate::Outcome;

/// Backtest margin policies on a crash replay or simulated paths; write an HTML report.
///
/// `ale backtest SCENARIO --policy P|all --out DIR` runs the scenario; `ale backtest sweep
/// --scenario S --policy P --param NAME=LO:HI:N ... --out DIR` runs a grid of one policy's
/// parameters and reports the frontier of capital efficiency against bad debt.
#[derive(Args, Debug)]
#[command(
    after_help = "Scenarios: covid-2020, may-2021, ftx-2022, aug-2024, calm-2023, synthetic, stress.\n\
Policies: static, static-twap, oracle-adjusted, pm, ramm, all.\n\
Underlyings: BTC or BTC,ETH. Auctions: dutch, sealed-first, sealed-second.\n\
Examples:\n  ale backtest covid-2020 --policy all --out report --accounts 2000 --json\n  \
ale backtest sweep --scenario stress --policy ramm --param z_price=3:7:5 --out sweep"
)]
pub struct BacktestArgs {
    /// The scenario (see below), or `sweep`.
    pub scenario: String,
    /// A policy or `all`.
    #[arg(long, default_value = "all")]
    pub policy: String,
    /// Directory the report is written to (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of every random stream.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Accounts in the population.
    #[arg(long, default_value_t = 1_000)]
    pub accounts: usize,
    /// Paths of a synthetic scenario.
    #[arg(long, default_value_t = 1)]
    pub paths: u64,
    /// Directory of the data (default: $ALE_DATA_DIR, ../shared/data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// For `sweep`: the scenario swept on.
    #[arg(long = "scenario", default_value = "covid-2020")]
    pub sweep_scenario: String,
    /// For `sweep`: NAME=LO:HI:N, a policy parameter and N values from LO to HI (repeat).
    #[arg(long = "param")]
    pub params: Vec<String>,
    /// Print the JSON summary (one line) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Underlyings, comma-separated, BTC first: `BTC` or `BTC,ETH`.
    #[arg(long, default_value = "BTC,ETH")]
    pub underlyings: String,
    /// Share of the accounts that open during the run, in [0, 1].
    #[arg(long, default_value_t = 0.3)]
    pub arrivals: f64,
    /// Share of the accounts that post part of their capital in coin, in [0, 1].
    #[arg(long = "coin-collateral", default_value_t = 0.25)]
    pub coin_collateral: f64,
    /// Tier-2 auction for solvent accounts: dutch, sealed-first or sealed-second.
    #[arg(long, default_value = "dutch")]
    pub auction: String,
    /// Backstop pools after the insurance fund.
    #[arg(long = "backstop-pools", default_value_t = 2)]
    pub backstop_pools: usize,
    /// Backstop-credit providers.
    #[arg(long = "credit-providers", default_value_t = 2)]
    pub credit_providers: usize,
}

fn metrics_json(label: &str, m: &Metrics) -> Value {
    json!({
        "policy": label,
        "bad_debt_usd": m.bad_debt_usd,
        "bad_debt_max_account_usd": m.bad_debt_max_account_usd,
        "insurance_fund_start_usd": m.fund_start_usd,
        "insurance_fund_end_usd": m.fund_end_usd,
        "insurance_fund_drawdown_usd": m.fund_drawdown_usd,
        "socialised_loss_usd": m.socialised_loss_usd,
        "liquidations": m.liquidations,
        "accounts_closed": m.closed_accounts,
        "liquidated_notional_usd": m.liquidated_notional_usd,
        "penalties_usd": m.penalties_usd,
        "unneeded_liquidations": m.unneeded_liquidations,
        "margin_per_notional": m.margin_per_notional,
        "breach_to_restored_mean_s": m.breach_to_restored_mean_s,
        "breach_to_restored_max_s": m.breach_to_restored_max_s,
        "topups": m.topups,
        "topup_usd": m.topup_usd,
        "margin_errors": m.margin_errors,
        "steps": m.steps,
        "ledger_ops": m.ledger_ops,
        "value_conserved": m.conserved,
        "arrivals": m.arrivals,
        "accounts_opened": m.accounts_opened,
        "tiers": {
            "backstop_fund_notional_usd": m.tiers.backstop_fund_notional,
            "backstop_pool_notional_usd": m.tiers.backstop_pool_notional,
            "auction_notional_usd": m.tiers.auction_notional,
            "market_notional_usd": m.tiers.market_notional,
            "fund_take_notional_usd": m.tiers.fund_take_notional,
            "credit_premiums_usd": m.tiers.credit_premiums,
        },
        "loss_by_tier": {
            "account_cash_usd": m.tiers.loss_account_cash,
            "account_collateral_usd": m.tiers.loss_account_collateral,
            "insurance_fund_usd": m.tiers.loss_insurance_fund,
            "backstop_credit_usd": m.tiers.loss_backstop_credit,
            "socialised_usd": m.tiers.loss_socialised,
        },
        "pnl": {
            "insurance_fund_usd": m.fund_end_usd - m.fund_start_usd,
            "backstop_pools_usd": m.pools_pnl_usd,
            "liquidators_usd": m.liquidators_pnl_usd,
            "credit_providers_usd": m.credit_pnl_usd,
        },
    })
}

/// Mean metrics over paths, per policy.
fn mean_metrics(bt: &Backtest) -> Vec<(String, Metrics)> {
    let n = bt.results.len() as f64;
    (0..bt.results[0].len())
        .map(|q| {
            let all: Vec<&Metrics> = bt.results.iter().map(|p| &p[q].metrics).collect();
            let f = |g: fn(&Metrics) -> f64| all.iter().map(|m| g(m)).sum::<f64>() / n;
            let u = |g: fn(&Metrics) -> usize| {
                (all.iter().map(|m| g(m)).sum::<usize>() as f64 / n).round() as usize
            };
            let m = Metrics {
                bad_debt_usd: f(|m| m.bad_debt_usd),
                bad_debt_max_account_usd: all
                    .iter()
                    .map(|m| m.bad_debt_max_account_usd)
                    .fold(0.0, f64::max),
                fund_start_usd: f(|m| m.fund_start_usd),
                fund_end_usd: f(|m| m.fund_end_usd),
                fund_drawdown_usd: f(|m| m.fund_drawdown_usd),
                socialised_loss_usd: f(|m| m.socialised_loss_usd),
                liquidations: u(|m| m.liquidations),
                closed_accounts: u(|m| m.closed_accounts),
                liquidated_notional_usd: f(|m| m.liquidated_notional_usd),
                penalties_usd: f(|m| m.penalties_usd),
                unneeded_liquidations: u(|m| m.unneeded_liquidations),
                margin_per_notional: f(|m| m.margin_per_notional),
                breach_to_restored_mean_s: f(|m| m.breach_to_restored_mean_s),
                breach_to_restored_max_s: all
                    .iter()
                    .map(|m| m.breach_to_restored_max_s)
                    .fold(0.0, f64::max),
                topups: u(|m| m.topups),
                topup_usd: f(|m| m.topup_usd),
                margin_errors: u(|m| m.margin_errors),
                steps: u(|m| m.steps),
                ledger_ops: all.iter().map(|m| m.ledger_ops).sum(),
                conserved: all.iter().all(|m| m.conserved),
                arrivals: u(|m| m.arrivals),
                accounts_opened: u(|m| m.accounts_opened),
                tiers: {
                    let mut t = ale_sim::TierFlows::default();
                    for m in &all {
                        t.add(&m.tiers);
                    }
                    let k = 1.0 / n;
                    ale_sim::TierFlows {
                        backstop_fund_notional: t.backstop_fund_notional * k,
                        backstop_pool_notional: t.backstop_pool_notional * k,
                        auction_notional: t.auction_notional * k,
                        market_notional: t.market_notional * k,
                        fund_take_notional: t.fund_take_notional * k,
                        loss_account_cash: t.loss_account_cash * k,
                        loss_account_collateral: t.loss_account_collateral * k,
                        loss_insurance_fund: t.loss_insurance_fund * k,
                        loss_backstop_credit: t.loss_backstop_credit * k,
                        loss_socialised: t.loss_socialised * k,
                        credit_premiums: t.credit_premiums * k,
                    }
                },
                pools_pnl_usd: f(|m| m.pools_pnl_usd),
                liquidators_pnl_usd: f(|m| m.liquidators_pnl_usd),
                credit_pnl_usd: f(|m| m.credit_pnl_usd),
            };
            (bt.results[0][q].label.clone(), m)
        })
        .collect()
}

fn config(args: &BacktestArgs) -> anyhow::Result<SimConfig> {
    let config = SimConfig {
        accounts: args.accounts,
        seed: args.seed,
        underlyings: args
            .underlyings
            .split(',')
            .map(|u| u.trim().to_ascii_uppercase())
            .collect(),
        arrivals: args.arrivals,
        coin_collateral: args.coin_collateral,
        auction: AuctionChoice::parse(&args.auction)?,
        backstop_pools: args.backstop_pools,
        credit_providers: args.credit_providers,
        ..SimConfig::default()
    };
    config.validate()?;
    Ok(config)
}

fn policies(name: &str) -> anyhow::Result<Vec<ale_sim::PolicyRun>> {
    Ok(if name == "all" {
        standard_policies()
    } else {
        vec![policy_run(name)?]
    })
}

/// Runs the subcommand.
pub fn run(args: BacktestArgs) -> anyhow::Result<Outcome> {
    let data = DataSet::locate(args.data.as_deref())?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create --out {}", args.out.display()))?;
    if args.scenario == "sweep" {
        return run_sweep_cmd(&args, &data);
    }
    let spec = BacktestSpec {
        scenario: args.scenario.clone(),
        policies: policies(&args.policy)?,
        paths: args.paths,
        config: config(&args)?,
    };
    let total = total_steps(&spec, &data, &calibrate(&data))?;
    let bar = ale_sim::progress_bar(total);
    let bt = run_backtest(&spec, &data, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let html = ale_sim::report::backtest_html(&bt)?;
    let report = args.out.join("report.html");
    std::fs::write(&report, html).with_context(|| format!("cannot write {}", report.display()))?;
    let means = mean_metrics(&bt);
    let summary = json!({
        "scenario": bt.scenario.name,
        "seed": args.seed,
        "accounts": args.accounts,
        "paths": bt.results.len(),
        "underlyings": bt.spec.config.underlyings,
        "auction": bt.spec.config.auction.name(),
        "report": report.display().to_string(),
        "skipped": bt.skipped.iter().map(|(p, why)| json!({"policy": p, "reason": why})).collect::<Vec<_>>(),
        "policies": means.iter().map(|(l, m)| metrics_json(l, m)).collect::<Vec<_>>(),
    });
    let summary_path = args.out.join("summary.json");
    std::fs::write(&summary_path, format!("{summary}\n"))
        .with_context(|| format!("cannot write {}", summary_path.display()))?;
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "{} ({} accounts, seed {}): report {}",
            bt.scenario.name,
            args.accounts,
            args.seed,
            report.display()
        );
        println!(
            "{:16} {:>14} {:>14} {:>14} {:>8} {:>10} {:>10}",
            "policy", "bad_debt", "fund_drawdown", "socialised", "liqs", "unneeded", "IM/notl"
        );
        for (l, m) in &means {
            println!(
                "{:16} {:>14.0} {:>14.0} {:>14.0} {:>8} {:>10} {:>10.4}",
                l,
                m.bad_debt_usd,
                m.fund_drawdown_usd,
                m.socialised_loss_usd,
                m.liquidations,
                m.unneeded_liquidations,
                m.margin_per_notional
            );
        }
        for (p, why) in &bt.skipped {
            println!("{p}: not run ({why})");
        }
    }
    Ok(Outcome::Ok)
}

fn run_sweep_cmd(args: &BacktestArgs, data: &DataSet) -> anyhow::Result<Outcome> {
    let params = args
        .params
        .iter()
        .map(|p| parse_param(p))
        .collect::<Result<Vec<_>, _>>()?;
    if args.policy == "all" {
        anyhow::bail!("invalid '--policy': a sweep varies one policy, e.g. --policy ramm");
    }
    if !SCENARIOS.iter().any(|s| s.name == args.sweep_scenario) {
        ale_sim::scenario::by_name(&args.sweep_scenario)?;
    }
    let spec = BacktestSpec {
        scenario: args.sweep_scenario.clone(),
        policies: policies(&args.policy)?,
        paths: args.paths,
        config: config(args)?,
    };
    let points: u64 = params.iter().map(|p| p.values.len() as u64).product();
    let bar = ale_sim::progress_bar(total_steps(&spec, data, &calibrate(data))? * points);
    let result: SweepResult = run_sweep(&spec, &params, data, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let report = args.out.join("sweep.html");
    std::fs::write(&report, ale_sim::report::sweep_html(&result)?)
        .with_context(|| format!("cannot write {}", report.display()))?;
    let summary = json!({
        "sweep": result.policy,
        "scenario": result.scenario,
        "report": report.display().to_string(),
        "points": result.points.iter().map(|p| json!({
            "setting": p.setting.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<String, Value>>(),
            "margin_per_notional": p.margin_per_notional,
            "bad_debt_usd": p.bad_debt_usd,
            "liquidations": p.liquidations,
            "non_dominated": p.non_dominated,
        })).collect::<Vec<_>>(),
    });
    std::fs::write(args.out.join("summary.json"), format!("{summary}\n"))?;
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "sweep of {} on {}: report {}",
            result.policy,
            result.scenario,
            report.display()
        );
        for p in &result.points {
            let name = p
                .setting
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "{:40} IM/notional {:.4} bad debt {:>12.0}{}",
                name,
                p.margin_per_notional,
                p.bad_debt_usd,
                if p.non_dominated {
                    "  non-dominated"
                } else {
                    ""
                }
            );
        }
    }
    Ok(Outcome::Ok)
}
