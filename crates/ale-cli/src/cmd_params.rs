//! `ale params`: the parameters of the margin policies.

use ale_risk::{OracleAdjustedParams, RammParams, StaticParams};
use clap::Subcommand;

use crate::Outcome;

/// Parameters of the margin policies: their defaults as commented TOML.
#[derive(Subcommand, Debug)]
pub enum ParamsCommand {
    /// Print a policy's default parameters as commented TOML (meaning and unit of each key).
    #[command(after_help = "Example:\n  ale params default --policy ramm > params.toml")]
    Default {
        /// ramm, static, oracle-adjusted or pm.
        #[arg(long, default_value = "ramm")]
        policy: String,
    },
}

pub fn run(cmd: ParamsCommand) -> anyhow::Result<Outcome> {
    match cmd {
        ParamsCommand::Default { policy } => {
            let text = match policy.as_str() {
                "ramm" => RammParams::default_toml(),
                "static" => StaticParams::default_toml(),
                "oracle-adjusted" => OracleAdjustedParams::default_toml(),
                "pm" => ale_risk::pm::default_toml(ale_risk::pm::ParamSet::DeribitLike),
                other => anyhow::bail!(
                    "unknown policy '{other}': expected ramm, static, oracle-adjusted or pm"
                ),
            };
            print!("{text}");
            Ok(Outcome::Ok)
        }
    }
}
