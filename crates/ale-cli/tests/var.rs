//! `ale var` against its formats.md section: one JSON line per account and level, the venue
//! line, the same numbers for the same seed, FHS from the data directory, exit codes and clear
//! errors for bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

fn ale(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ale"))
        .args(args)
        .env_remove("ALE_DATA_DIR")
        .output()
        .unwrap()
}

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
        .display()
        .to_string()
}

/// The repository's copy of the daily data (crates/ale-risk/tests/data/tail).
fn data() -> String {
    repo("crates/ale-risk/tests/data/tail")
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn monte_carlo_lines_per_account_and_level_and_for_the_venue() {
    let market = repo("examples/market.json");
    let portfolio = repo("examples/portfolio.json");
    let args = [
        "var", "--market", &market, "--method", "mc", "--paths", "4000", "--seed", "7", "--json",
        "--venue", &portfolio,
    ];
    let out = ale(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ls = lines(&out);
    let accounts: Vec<_> = ls.iter().filter(|l| l["venue"].is_null()).collect();
    let venue: Vec<_> = ls.iter().filter(|l| l["venue"] == true).collect();
    assert!(!accounts.is_empty());
    assert_eq!(venue.len(), 2, "one venue line per level");
    for l in &accounts {
        for key in [
            "account",
            "method",
            "alpha",
            "horizon",
            "var",
            "es",
            "es_stderr",
        ] {
            assert!(!l[key].is_null(), "missing '{key}' in {l}");
        }
        assert_eq!(l["method"], "mc");
        assert_eq!(l["horizon"], 1.0);
        assert!(l["es"].as_f64().unwrap() >= l["var"].as_f64().unwrap());
    }
    let alphas: Vec<f64> = venue.iter().map(|l| l["alpha"].as_f64().unwrap()).collect();
    assert_eq!(alphas, [0.99, 0.995]);
    // The same seed gives the same lines; another seed other numbers.
    assert_eq!(ale(&args).stdout, out.stdout);
    let mut other = args;
    other[8] = "8";
    assert_ne!(ale(&other).stdout, out.stdout);
}

#[test]
fn filtered_historical_simulation_reads_the_data_directory() {
    let market = repo("examples/market.json");
    let portfolio = repo("examples/portfolio.json");
    let data = data();
    let out = ale(&[
        "var", "--market", &market, "--method", "fhs", "--data", &data, "--alpha", "0.975",
        "--filter", "ewma", "--json", &portfolio,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for l in lines(&out) {
        assert_eq!(l["method"], "fhs");
        assert_eq!(l["alpha"], 0.975);
        assert_eq!(l["paths"], 1_100);
    }
    // The table form, for a person.
    let out = ale(&["var", "--market", &market, "--paths", "1000", &portfolio]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("account"));
}

#[test]
fn bad_input_gets_a_clear_error_and_exit_2() {
    let market = repo("examples/market.json");
    let portfolio = repo("examples/portfolio.json");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--alpha", "1"],
            "invalid 'alpha': must be in (0, 1), got 1",
        ),
        (
            &["--alpha", "0"],
            "invalid 'alpha': must be in (0, 1), got 0",
        ),
        (&["--paths", "0"], "invalid 'paths'"),
        (&["--horizon", "0"], "invalid 'horizon'"),
        (&["--horizon", "soon"], "invalid 'horizon'"),
        (&["--method", "var-cov"], "invalid 'method'"),
        (&["--method", "fhs"], "missing data"),
        (
            &["--method", "fhs", "--data", "/nonexistent"],
            "missing data",
        ),
        (
            &["--method", "fhs", "--horizon", "12h", "--data", "DATA"],
            "whole number of days",
        ),
    ];
    let data = data();
    for (extra, message) in cases {
        let mut args = vec!["var", "--market", &market];
        args.extend(
            extra
                .iter()
                .map(|a| if *a == "DATA" { data.as_str() } else { a }),
        );
        args.push(&portfolio);
        let out = ale(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(message),
            "{extra:?}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("panicked"));
    }
}

#[test]
fn an_account_that_cannot_be_valued_gets_an_error_line_and_exit_1() {
    let market = repo("examples/market.json");
    let dir = std::env::temp_dir().join(format!("ale-var-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("book.json");
    std::fs::write(
        &path,
        r#"[{"account":"old","collateral":[],"positions":[{"instrument":"BTC-1JAN26-90000-C","size":1}]},
            {"account":"ok","collateral":[],"positions":[{"instrument":"BTC-PERP","size":1}]}]"#,
    )
    .unwrap();
    let path = path.display().to_string();
    let out = ale(&[
        "var", "--market", &market, "--paths", "2000", "--alpha", "0.99", "--venue", "--json",
        &path,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let ls = lines(&out);
    assert_eq!(ls[0]["account"], "old");
    assert!(ls[0]["error"]
        .as_str()
        .unwrap()
        .contains("BTC-1JAN26-90000-C"));
    assert_eq!(ls[1]["account"], "ok");
    assert!(ls[1]["es"].as_f64().unwrap() > 0.0);
    assert_eq!(ls[2]["venue"], true);
    assert_eq!(ls[2]["accounts"], 1);
    // The venue holds only "ok": the same numbers.
    assert_eq!(ls[2]["es"], ls[1]["es"]);
    assert!(stderr(&out).contains("account 'old'"));
}
