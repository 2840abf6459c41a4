//! `ale price` and `ale iv`: Black-76 streamed over JSON lines (formats.md).

use crate::Outcome;
use clap::Args;

/// Black-76 price and Greeks of each JSON line on stdin.
#[derive(Args, Debug)]
pub struct PriceArgs {}

/// Implied vol of each JSON line on stdin.
#[derive(Args, Debug)]
pub struct IvArgs {}

pub fn run_price(_args: PriceArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("not yet built")
}

pub fn run_iv(_args: IvArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("not yet built")
}
