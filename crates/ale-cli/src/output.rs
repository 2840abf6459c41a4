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
