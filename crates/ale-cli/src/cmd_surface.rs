//! `ale surface ...`: fit implied-vol surfaces and report arbitrage.

use crate::Outcome;
use clap::Subcommand;

/// `ale surface` subcommands.
#[derive(Subcommand, Debug)]
pub enum SurfaceCommand {}

pub fn run(cmd: SurfaceCommand) -> anyhow::Result<Outcome> {
    match cmd {}
}
