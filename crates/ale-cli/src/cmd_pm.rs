//! `ale pm ...`: Derive PMRM_2 / Deribit portfolio-margin conformance (pm.md §10).

use std::io::Write;
use std::path::PathBuf;

use crate::Outcome;
use ale_format::pm_case::{
    case_id, case_values, first_mismatch, parse_case, parse_expected, CaseErrorOutput, CaseOutput,
};
use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;

/// Portfolio margin `pm` (Deribit / Derive PMRM_2): replay and check conformance cases.
#[derive(Subcommand, Debug)]
pub enum PmCommand {
    /// Evaluate `pm` conformance cases and print one JSON line per case.
    #[command(
        long_about = "Evaluate `pm` conformance cases (one case or {\"vectors\": [...]} per file) and print one JSON line per case: {\"id\",\"option_mtm\",\"mm\",\"im\",\"scenario_pnl\"}.\n\nExample:\n  ale pm replay --check examples/pm/*.json",
        after_help = "Exit status: 0 every case evaluated (and matched with --check), 1 some case failed or mismatched, 2 a file could not be read."
    )]
    Replay(ReplayArgs),
}

/// Arguments of `ale pm replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Compare each case with its `expected` block (|got − want| ≤ max(1e-8·|want|, 1e-6)).
    #[arg(long)]
    pub check: bool,
    /// Case files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(cmd: PmCommand) -> anyhow::Result<Outcome> {
    match cmd {
        PmCommand::Replay(args) => run_replay(args),
    }
}

fn run_replay(args: ReplayArgs) -> anyhow::Result<Outcome> {
    // Read every file first: an unreadable file means the command cannot run at all (exit 2).
    let mut texts = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        texts.push(text);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = false;
    for (path, text) in args.files.iter().zip(&texts) {
        let document: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                failed = true;
                let message = format!("{}: not JSON: {e}", path.display());
                file_error(&mut out, path, &message)?;
                continue;
            }
        };
        let cases = match case_values(&document) {
            Ok(cases) => cases,
            Err(e) => {
                failed = true;
                let message = format!("{}: {e}", path.display());
                file_error(&mut out, path, &message)?;
                continue;
            }
        };
        for case in cases {
            if !replay_case(&mut out, case, args.check)? {
                failed = true;
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        Outcome::SomeFailed
    } else {
        Outcome::Ok
    })
}

/// Prints the error line of a file that is not a case file, and its stderr message.
fn file_error(out: &mut impl Write, path: &std::path::Path, message: &str) -> anyhow::Result<()> {
    serde_json::to_writer(
        &mut *out,
        &serde_json::json!({ "file": path.display().to_string(), "error": message }),
    )?;
    out.write_all(b"\n")?;
    eprintln!("ale pm replay: {message}");
    Ok(())
}

/// Evaluates one case, prints its line; returns whether it evaluated (and matched with `check`).
fn replay_case(out: &mut impl Write, case: &Value, check: bool) -> anyhow::Result<bool> {
    let id = case_id(case);
    let evaluated = parse_case(case).and_then(|c| c.evaluate().map(|e| CaseOutput::new(&c.id, &e)));
    let output = match evaluated {
        Ok(output) => output,
        Err(e) => {
            let line = CaseErrorOutput {
                id: id.map(str::to_string),
                error: e.message.clone(),
            };
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
            eprintln!("ale pm replay: {}: {}", id.unwrap_or("<no id>"), e.message);
            return Ok(false);
        }
    };
    serde_json::to_writer(&mut *out, &output)?;
    out.write_all(b"\n")?;
    if !check {
        return Ok(true);
    }
    match parse_expected(case) {
        Ok(expected) => match first_mismatch(&output, &expected) {
            None => Ok(true),
            Some(m) => {
                eprintln!("mismatch {}: {m}", output.id);
                Ok(false)
            }
        },
        Err(e) => {
            eprintln!("mismatch {}: {}", output.id, e.message);
            Ok(false)
        }
    }
}
