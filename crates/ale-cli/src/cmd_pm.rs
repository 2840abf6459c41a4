//! `ale pm ...`: Derive PMRM_2 / Deribit portfolio-margin conformance.

use crate::Outcome;
use clap::Subcommand;

/// `ale pm` subcommands.
#[derive(Subcommand, Debug)]
pub enum PmCommand {}

pub fn run(cmd: PmCommand) -> anyhow::Result<Outcome> {
    match cmd {}
}
