//! `ale margin`: the margin report of every account of one or more portfolio files.

use std::path::PathBuf;

use ale_core::Account;
use ale_format::report::margin_report_json_with;
use ale_format::{parse_market, parse_portfolio};
use ale_risk::{policy_by_name, Book, MarginPolicy, RiskEngine};
use anyhow::Context;
use clap::Args;

use crate::Outcome;

/// Margin, liquidation price and top-up of each account under a policy.
///
/// Reads the market file and one or more portfolio files (each holding one account or an array),
/// and prints per account its equity, maintenance and initial margin with their components,
/// status, worst scenario, liquidation prices and top-up: a table, or JSON lines with --json.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ale margin --market market.json --policy ramm --json alice.json book.json"
)]
pub struct MarginArgs {
    /// The market file (formats.md).
    #[arg(long)]
    pub market: PathBuf,
    /// The policy: ramm, static, oracle-adjusted, pm.
    #[arg(long, default_value = "ramm")]
    pub policy: String,
    /// A TOML parameter file (any subset of `ale params default --policy P`).
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Portfolio files.
    #[arg(required = true)]
    pub portfolios: Vec<PathBuf>,
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

pub fn run(args: MarginArgs) -> anyhow::Result<Outcome> {
    let params = args.params.as_ref().map(read).transpose()?;
    let policy = policy_by_name(&args.policy, params.as_deref())?;
    let loaded = parse_market(&read(&args.market)?)
        .with_context(|| format!("market file {}", args.market.display()))?;
    for key in &loaded.ignored_keys {
        eprintln!(
            "ale: warning: {}: unknown key '{key}' ignored",
            args.market.display()
        );
    }
    let mut failed = false;
    let mut accounts: Vec<Account> = Vec::new();
    for path in &args.portfolios {
        let text = match read(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("ale: {e:#}");
                failed = true;
                continue;
            }
        };
        match parse_portfolio(&text) {
            Ok((list, ignored)) => {
                for key in ignored {
                    eprintln!(
                        "ale: warning: {}: unknown key '{key}' ignored",
                        path.display()
                    );
                }
                accounts.extend(list);
            }
            Err(e) => {
                eprintln!("ale: {}: {e}", path.display());
                failed = true;
            }
        }
    }
    let mut book = Book::new();
    let mut rows = Vec::with_capacity(accounts.len());
    for account in &accounts {
        rows.push(book.upsert_account(account));
    }
    let mut engine = RiskEngine::new(policy, loaded.snapshot, book);
    engine.remargin_all();
    let mut out = crate::output::Printer::new(args.json);
    for (account, ix) in accounts.iter().zip(rows) {
        let name = account.id.as_str();
        let result = ix.and_then(|ix| {
            let m = engine.margins()[ix].clone()?;
            let liq = engine.liquidation_prices(ix)?;
            Ok((m, liq))
        });
        match result {
            Ok((m, liq)) => out.margin(margin_report_json_with(
                name,
                engine.policy().name(),
                engine.policy().component_names(),
                engine.policy().im_component_names(),
                &m,
                liq.as_ref(),
            ))?,
            Err(e) => {
                failed = true;
                eprintln!("ale: account '{name}': {e}");
                out.error(name, &e.to_string())?;
            }
        }
    }
    out.finish()?;
    Ok(if failed {
        Outcome::SomeFailed
    } else {
        Outcome::Ok
    })
}
