//! Shared output plumbing: streamed JSON lines, broken pipes.

use crate::Outcome;
use std::io::{self, BufRead, Write};

/// True when `err` is (caused by) a closed output pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Streams JSON lines: each non-blank input line is handed to `answer` with its 1-based line
/// number; its `Ok` value is printed as one JSON line, its `Err` message as
/// `{"error":"...","line":N}`. Every line is answered in order, and the outcome says whether
/// any failed.
pub fn stream_json_lines<R, W, F>(input: R, mut out: W, mut answer: F) -> anyhow::Result<Outcome>
where
    R: BufRead,
    W: Write,
    F: FnMut(&str) -> Result<serde_json::Value, String>,
{
    let mut failed = false;
    for (index, line) in input.lines().enumerate() {
        let line_no = index + 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let value = match answer(&line) {
            Ok(v) => v,
            Err(message) => {
                failed = true;
                serde_json::json!({ "error": message, "line": line_no })
            }
        };
        serde_json::to_writer(&mut out, &value)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(if failed {
        Outcome::SomeFailed
    } else {
        Outcome::Ok
    })
}

/// Prints margin reports as JSON lines or as a table.
pub struct Printer {
    json: bool,
    rows: Vec<serde_json::Value>,
}

impl Printer {
    /// A printer for `--json` (lines as they come) or a table (at the end).
    pub fn new(json: bool) -> Printer {
        Printer {
            json,
            rows: Vec::new(),
        }
    }

    /// One account's report.
    pub fn margin(&mut self, report: serde_json::Value) -> anyhow::Result<()> {
        if self.json {
            let mut out = io::stdout().lock();
            serde_json::to_writer(&mut out, &report)?;
            out.write_all(b"\n")?;
        } else {
            self.rows.push(report);
        }
        Ok(())
    }

    /// One account that could not be margined.
    pub fn error(&mut self, account: &str, message: &str) -> anyhow::Result<()> {
        let value = serde_json::json!({"account": account, "error": message});
        if self.json {
            let mut out = io::stdout().lock();
            serde_json::to_writer(&mut out, &value)?;
            out.write_all(b"\n")?;
        } else {
            self.rows.push(value);
        }
        Ok(())
    }

    /// Prints the table (a no-op for JSON lines).
    pub fn finish(self) -> anyhow::Result<()> {
        if self.json {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        writeln!(
            out,
            "{:<16} {:<15} {:>14} {:>14} {:>14} {:>7} {:<12} {:>12} {:>12} {:>12}",
            "account",
            "policy",
            "equity",
            "maint.margin",
            "init.margin",
            "ratio",
            "status",
            "liq.below",
            "liq.above",
            "top_up"
        )?;
        for r in &self.rows {
            let num =
                |v: &serde_json::Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.2}"));
            if let Some(e) = r.get("error") {
                writeln!(
                    out,
                    "{:<16} error: {}",
                    r["account"].as_str().unwrap_or(""),
                    e.as_str().unwrap_or("")
                )?;
                continue;
            }
            writeln!(
                out,
                "{:<16} {:<15} {:>14} {:>14} {:>14} {:>7} {:<12} {:>12} {:>12} {:>12}",
                r["account"].as_str().unwrap_or(""),
                r["policy"].as_str().unwrap_or(""),
                num(&r["equity"]),
                num(&r["maintenance_margin"]),
                num(&r["initial_margin"]),
                r["margin_ratio"]
                    .as_f64()
                    .map_or("-".to_string(), |x| format!("{x:.3}")),
                r["status"].as_str().unwrap_or(""),
                num(&r["liquidation_price"]["below"]),
                num(&r["liquidation_price"]["above"]),
                num(&r["top_up"]),
            )?;
            if let Some(c) = r["components"].as_object() {
                let parts: Vec<String> = c.iter().map(|(k, v)| format!("{k} {}", num(v))).collect();
                writeln!(out, "{:<16} components: {}", "", parts.join(", "))?;
            }
        }
        Ok(())
    }
}
