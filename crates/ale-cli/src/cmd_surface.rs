//! `ale surface ...`: fit implied-vol surfaces and report arbitrage.

use std::io::Write;
use std::path::PathBuf;

use ale_format::parse_market;
use ale_format::surface_report::surface_fit_json;
use anyhow::Context;
use clap::Subcommand;

use crate::Outcome;

/// Implied-vol surfaces: fit quoted smiles, report the fit and any arbitrage.
#[derive(Subcommand, Debug)]
pub enum SurfaceCommand {
    /// Fit raw SVI to the quoted smiles of a market file and report the fit and any arbitrage.
    ///
    /// For each underlying whose surface is given as `quotes` (vols, or prices inverted first),
    /// prints the fitted SVI parameters of every expiry, the RMSE and largest error in vol
    /// (decimals: 0.001 = 0.1 vol point), the quotes used and rejected (with the reason), and the
    /// butterfly and calendar arbitrage left in the fitted surface (where, and how much). Exit 1
    /// when arbitrage remains.
    #[command(after_help = "Example:\n  ale surface fit --json market.json --plot smiles.png")]
    Fit {
        /// JSON lines (one per underlying) instead of a table.
        #[arg(long)]
        json: bool,
        /// Draw each expiry's quotes and fitted smile into this PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// The market file (formats.md) with `quotes` surfaces.
        market: PathBuf,
    },
}

pub fn run(cmd: SurfaceCommand) -> anyhow::Result<Outcome> {
    match cmd {
        SurfaceCommand::Fit { json, plot, market } => {
            let text = std::fs::read_to_string(&market)
                .with_context(|| format!("cannot read {}", market.display()))?;
            let loaded =
                parse_market(&text).with_context(|| format!("market file {}", market.display()))?;
            if loaded.fits.is_empty() {
                anyhow::bail!(
                    "market file {}: no underlying has a \"quotes\" surface to fit",
                    market.display()
                );
            }
            let mut out = std::io::stdout().lock();
            let mut arbitrage = false;
            for fit in &loaded.fits {
                arbitrage |= !fit.report.arbitrage.is_empty();
                let value = surface_fit_json(fit);
                if json {
                    serde_json::to_writer(&mut out, &value)?;
                    writeln!(out)?;
                } else {
                    print_table(&mut out, &value)?;
                }
            }
            if let Some(path) = plot {
                // One underlying: the file asked for; several: one file each, FILE-NAME.png.
                let many = loaded.fits.len() > 1;
                for fit in &loaded.fits {
                    let target = if many {
                        let stem = path
                            .file_stem()
                            .and_then(|s| s.to_str())
                            .unwrap_or("smiles");
                        let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("png");
                        path.with_file_name(format!("{stem}-{}.{ext}", fit.report.underlying))
                    } else {
                        path.clone()
                    };
                    ale_surface::plot::plot_fit_png(&target, &fit.report)
                        .with_context(|| format!("cannot draw {}", target.display()))?;
                    eprintln!("ale: drew {}", target.display());
                }
            }
            Ok(if arbitrage {
                Outcome::SomeFailed
            } else {
                Outcome::Ok
            })
        }
    }
}

fn print_table(out: &mut impl Write, v: &serde_json::Value) -> anyhow::Result<()> {
    writeln!(out, "{}", v["underlying"].as_str().unwrap_or(""))?;
    writeln!(
        out,
        "  {:<22} {:>11} {:>9} {:>9} {:>7} {:>8} {:>8} {:>9} {:>9} {:>6} {:>8}",
        "expiry",
        "forward",
        "a",
        "b",
        "rho",
        "m",
        "sigma",
        "rmse_vol",
        "max_err",
        "quotes",
        "rejected"
    )?;
    for e in v["expiries"].as_array().into_iter().flatten() {
        let svi = &e["svi"];
        let f = |x: &serde_json::Value| x.as_f64().unwrap_or(f64::NAN);
        writeln!(
            out,
            "  {:<22} {:>11.2} {:>9.5} {:>9.5} {:>7.3} {:>8.4} {:>8.4} {:>9.5} {:>9.5} {:>6} {:>8}",
            e["expiry"].as_str().unwrap_or(""),
            f(&e["forward"]),
            f(&svi["a"]),
            f(&svi["b"]),
            f(&svi["rho"]),
            f(&svi["m"]),
            f(&svi["sigma"]),
            f(&e["rmse_vol"]),
            f(&e["max_error_vol"]),
            e["quotes"],
            e["rejected"],
        )?;
    }
    let arb = v["arbitrage"].as_array().map_or(0, |a| a.len());
    if arb == 0 {
        writeln!(out, "  no butterfly or calendar arbitrage")?;
    }
    for a in v["arbitrage"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  arbitrage: {} at {} k={:.4} size={:.3e}",
            a["kind"].as_str().unwrap_or(""),
            a["expiry"].as_str().unwrap_or(""),
            a["k"].as_f64().unwrap_or(f64::NAN),
            a["size"].as_f64().unwrap_or(f64::NAN)
        )?;
    }
    Ok(())
}
