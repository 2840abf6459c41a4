//! Times a backtest: `cargo run --release -p ale-sim --example backtest_timing -- SCENARIO
//! ACCOUNTS POLICY|all [BTC|BTC,ETH]`. Prints wall and CPU time and the metrics of each policy
//! (a one-line summary, then every field).

use std::time::Instant;

use ale_sim::{run_backtest, standard_policies, BacktestSpec, DataSet, SimConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let scenario = args.get(1).cloned().unwrap_or_else(|| "covid-2020".into());
    let accounts: usize = args.get(2).map_or(Ok(1_000), |a| a.parse())?;
    let which = args.get(3).cloned().unwrap_or_else(|| "ramm".into());
    let policies = if which == "all" {
        standard_policies()
    } else {
        vec![ale_sim::sim::policy_run(&which)?]
    };
    let underlyings = args.get(4).map_or_else(
        || SimConfig::default().underlyings,
        |u| u.split(',').map(str::to_string).collect(),
    );
    let data = DataSet::locate(None)?;
    let spec = BacktestSpec {
        scenario,
        policies,
        paths: 1,
        config: SimConfig {
            accounts,
            underlyings,
            ..SimConfig::default()
        },
    };
    let start = Instant::now();
    let bt = run_backtest(&spec, &data, &|| {})?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} accounts, {} steps, {} policies: {secs:.2} s (threads: {})",
        accounts,
        bt.results[0][0].metrics.steps,
        bt.results[0].len(),
        rayon::current_num_threads()
    );
    for r in &bt.results[0] {
        let m = &r.metrics;
        println!(
            "{:16} bad debt {:.0}, socialised {:.0}, IM/notional {:.3}, liquidations {}, fund P&L {:.0}",
            r.label,
            m.bad_debt_usd,
            m.socialised_loss_usd,
            m.margin_per_notional,
            m.liquidations,
            m.fund_end_usd - m.fund_start_usd
        );
    }
    for r in &bt.results[0] {
        println!("{:16} {:?}", r.label, r.metrics);
    }
    for (p, why) in &bt.skipped {
        println!("skipped {p}: {why}");
    }
    Ok(())
}
