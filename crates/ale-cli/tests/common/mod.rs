//! Helpers shared by the `ale` command-line tests: run the built binary, feed it stdin, read
//! its JSON lines.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The built `ale` binary.
pub fn ale() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ale"))
}

/// Runs `ale ARGS` with `stdin` as its standard input.
pub fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = ale()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Every stdout line parsed as JSON (a line that is not JSON fails the test).
pub fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}
