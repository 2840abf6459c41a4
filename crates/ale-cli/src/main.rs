//! `ale`: the command line of the Adaptive Liquidation Engine.
//!
//! A thin layer: every subcommand parses its input, calls a library crate and prints. Exit codes:
//! 0 success; 1 the command ran but some input was bad or a check failed (streamed commands still
//! answer every good line); 2 the command could not run at all (usage, unreadable file).

mod cmd_backtest;
mod cmd_liquidation;
mod cmd_margin;
mod cmd_params;
mod cmd_pm;
mod cmd_price;
mod cmd_serve;
mod cmd_surface;
mod cmd_var;
mod cmd_verify;
mod json_fields;
mod output;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Outcome of a subcommand that ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything answered and every check held (exit 0).
    Ok,
    /// Ran to the end, but some input was bad or a check failed (exit 1).
    SomeFailed,
}

#[derive(Parser, Debug)]
#[command(
    name = "ale",
    version,
    about = "ALE, the Adaptive Liquidation Engine: option pricing, vol surfaces, margin and liquidation for crypto derivatives venues.",
    long_about = "ALE, the Adaptive Liquidation Engine: option pricing, implied-vol surfaces, risk-adjusted margin and liquidation for crypto options and perpetuals venues.\n\nExample:\n  echo '{\"kind\":\"call\",\"forward\":100,\"strike\":110,\"t\":0.5,\"vol\":0.6}' | ale price",
    after_help = "Exit status: 0 success, 1 some input line failed or a check did not hold, 2 the command could not run."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Price(cmd_price::PriceArgs),
    Iv(cmd_price::IvArgs),
    Margin(cmd_margin::MarginArgs),
    Serve(cmd_serve::ServeArgs),
    Demo(cmd_serve::DemoArgs),
    #[command(subcommand)]
    Params(cmd_params::ParamsCommand),
    #[command(subcommand)]
    Surface(cmd_surface::SurfaceCommand),
    #[command(subcommand)]
    Pm(cmd_pm::PmCommand),
    Var(cmd_var::VarArgs),
    Certify(cmd_verify::CertifyArgs),
    Verify(cmd_verify::VerifyArgs),
    #[command(subcommand)]
    Auction(cmd_liquidation::AuctionCommand),
    Liquidate(cmd_liquidation::LiquidateArgs),
    Backtest(cmd_backtest::BacktestArgs),
}

fn main() -> ExitCode {
    match try_main() {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::SomeFailed) => ExitCode::from(1),
        Err(err) => {
            if output::is_broken_pipe(&err) {
                // A closed pipe (`ale price < big | head`) ends quietly.
                return ExitCode::SUCCESS;
            }
            eprintln!("ale: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn try_main() -> anyhow::Result<Outcome> {
    let cli = Cli::parse();
    match cli.command {
        Command::Price(args) => cmd_price::run_price(args),
        Command::Iv(args) => cmd_price::run_iv(args),
        Command::Margin(args) => cmd_margin::run(args),
        Command::Serve(args) => cmd_serve::run_serve(args),
        Command::Demo(args) => cmd_serve::run_demo(args),
        Command::Params(cmd) => cmd_params::run(cmd),
        Command::Surface(cmd) => cmd_surface::run(cmd),
        Command::Pm(cmd) => cmd_pm::run(cmd),
        Command::Auction(cmd) => cmd_liquidation::run_auction(cmd),
        Command::Liquidate(args) => cmd_liquidation::run_liquidate(args),
        Command::Backtest(args) => cmd_backtest::run(args),
        Command::Var(args) => cmd_var::run(args),
        Command::Certify(args) => cmd_verify::run_certify(args),
        Command::Verify(args) => cmd_verify::run_verify(args),
    }
}
