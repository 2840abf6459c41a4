//! The `ale` command line against the formats.md contract: streamed JSON lines, error lines with
//! their line numbers, exit codes, help texts, margin reports and their errors.

mod common;

use common::{ale, lines, run_with_stdin};
use std::path::PathBuf;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ale-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn price_streams_every_line_and_flags_bad_ones_by_number() {
    let input = [
        r#"{"kind":"call","forward":100,"strike":110,"t":0.5,"vol":0.6}"#,
        r#"{"kind":"put","forward":100,"strike":110,"t":0.5,"vol":0.6}"#,
        r#"{"kind":"call","forward":-1,"strike":110,"t":0.5,"vol":0.6}"#,
        "",
        r#"not json"#,
        r#"{"kind":"straddle","forward":100,"strike":110,"t":0.5,"vol":0.6}"#,
        r#"{"kind":"put","forward":100,"strike":90,"t":1,"vol":0.4,"rate":0.05}"#,
        r#"{"kind":"put","forward":100,"strike":90,"t":1,"vol":"x"}"#,
        r#"{"kind":"put","forward":100,"strike":90,"vol":0.4}"#,
    ]
    .join("\n");
    let out = run_with_stdin(&["price"], &input);
    assert_eq!(out.status.code(), Some(1));
    let got = lines(&out);
    assert_eq!(got.len(), 8, "one answer per non-blank line");
    let (call, put) = (&got[0], &got[1]);
    for key in ["price", "delta", "gamma", "vega", "theta", "vanna", "volga"] {
        assert!(call[key].is_f64(), "{key}");
    }
    // Put-call parity (zero rate): C − P = F − K.
    let parity = call["price"].as_f64().unwrap() - put["price"].as_f64().unwrap();
    assert!((parity - (100.0 - 110.0)).abs() < 1e-12);
    assert!(call["gamma"].as_f64().unwrap() > 0.0 && call["vega"].as_f64().unwrap() > 0.0);
    for (i, line_no, needle) in [
        (2, 3, "forward"),
        (3, 5, "JSON"),
        (4, 6, "kind"),
        (6, 8, "vol"),
        (7, 9, "'t'"),
    ] {
        assert_eq!(got[i]["line"], line_no, "{}", got[i]);
        assert!(
            got[i]["error"].as_str().unwrap().contains(needle),
            "{}",
            got[i]
        );
    }
    assert!(got[5]["price"].as_f64().unwrap() > 0.0);
}

#[test]
fn iv_round_trips_and_refuses_impossible_prices() {
    let price_out = run_with_stdin(
        &["price"],
        r#"{"kind":"put","forward":100,"strike":90,"t":0.25,"vol":0.7,"rate":0.03}"#,
    );
    let price = lines(&price_out)[0]["price"].as_f64().unwrap();
    let input = format!(
        "{}\n{}\n{}\n",
        format_args!(
            r#"{{"kind":"put","forward":100,"strike":90,"t":0.25,"price":{price},"rate":0.03}}"#
        ),
        r#"{"kind":"call","forward":100,"strike":90,"t":0.25,"price":5}"#,
        r#"{"kind":"call","forward":100,"strike":90,"t":0.25,"price":150}"#,
    );
    let out = run_with_stdin(&["iv"], &input);
    assert_eq!(out.status.code(), Some(1));
    let got = lines(&out);
    assert!(
        (got[0]["vol"].as_f64().unwrap() - 0.7).abs() < 1e-12,
        "{}",
        got[0]
    );
    assert_eq!(got[1]["line"], 2);
    assert_eq!(got[2]["line"], 3);
}

#[test]
fn every_command_explains_itself_with_an_example() {
    let out = ale().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Example"), "{text}");
    for sub in [
        vec!["price"],
        vec!["iv"],
        vec!["margin"],
        vec!["params", "default"],
    ] {
        let mut args = sub.clone();
        args.push("--help");
        let out = ale().args(&args).output().unwrap();
        assert!(out.status.success(), "{sub:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Example"), "{sub:?}: {text}");
    }
}

#[test]
fn margin_reports_every_account_of_the_example() {
    for policy in ["ramm", "static", "oracle-adjusted", "pm"] {
        let out = ale()
            .args(["margin", "--market"])
            .arg(repo("examples/market.json"))
            .args(["--policy", policy, "--json"])
            .arg(repo("examples/portfolio.json"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = lines(&out);
        assert_eq!(got.len(), 3);
        for r in &got {
            assert_eq!(r["policy"], policy);
            let mm = r["maintenance_margin"].as_f64().unwrap();
            let sum: f64 = r["components"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_f64().unwrap())
                .sum();
            assert!((sum - mm).abs() <= 1e-9 * mm.max(1.0));
            assert!(r["initial_margin"].as_f64().unwrap() >= mm);
            let status = r["status"].as_str().unwrap();
            assert!(["healthy", "margin_call", "liquidatable"].contains(&status));
            assert!(r["liquidation_price"].is_object());
            assert!(r["top_up"].as_f64().unwrap() >= 0.0);
        }
    }
    // The human table.
    let out = ale()
        .args(["margin", "--market"])
        .arg(repo("examples/market.json"))
        .arg(repo("examples/portfolio.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("alice"));
}

#[test]
fn margin_errors_name_what_is_wrong() {
    let market = repo("examples/market.json");
    let cases = [
        (
            r#"{"account":"a","positions":[{"instrument":"SOL-PERP","size":1}]}"#,
            "SOL",
        ),
        (
            r#"{"account":"a","positions":[{"instrument":"BTC-26DEC26-100000-X","size":1}]}"#,
            "option kind",
        ),
        (
            r#"{"account":"a","positions":[{"instrument":"BTC-1JAN26-100000-C","size":1}]}"#,
            "expired",
        ),
        (
            r#"{"account":"a","positions":[{"instrument":"BTC-PERP","size":"lots"}]}"#,
            "size",
        ),
        (
            r#"{"account":"a","collateral":[{"asset":"USDC","amount":"1.0000000001"}]}"#,
            "precision",
        ),
        (
            r#"{"account":"a","collateral":[{"asset":"DOGE","amount":"1"}]}"#,
            "DOGE",
        ),
        (
            r#"[{"account":"a"},{"account":"b","positions":[{"instrument":"BTC-PERP"}]}]"#,
            "size",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let path = temp_file(&format!("bad{i}.json"), text);
        let out = ale()
            .args(["margin", "--json", "--market"])
            .arg(&market)
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{text}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A good file beside a bad one is still answered.
    let bad = temp_file("bad-mixed.json", "{");
    let out = ale()
        .args(["margin", "--json", "--market"])
        .arg(&market)
        .arg(&bad)
        .arg(repo("examples/portfolio.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out).len(), 3);
    // A bad market file or policy: the command cannot run (exit 2).
    let bad_market = temp_file(
        "bad-market.json",
        r#"{"time":"2026-11-24T08:00:00Z","underlyings":[{"name":"BTC","spot":-5,"surface":{"flat":0.5}}]}"#,
    );
    let out = ale()
        .args(["margin", "--market"])
        .arg(&bad_market)
        .arg(repo("examples/portfolio.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("spot"));
    let out = ale()
        .args(["margin", "--policy", "nope", "--market"])
        .arg(&market)
        .arg(repo("examples/portfolio.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn params_default_is_commented_toml_that_reads_back() {
    for policy in ["ramm", "static", "oracle-adjusted", "pm"] {
        let out = ale()
            .args(["params", "default", "--policy", policy])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(text.lines().filter(|l| l.starts_with('#')).count() > 3);
        let path = temp_file(&format!("{policy}.toml"), &text);
        let out = ale()
            .args(["margin", "--json", "--policy", policy, "--params"])
            .arg(&path)
            .arg("--market")
            .arg(repo("examples/market.json"))
            .arg(repo("examples/portfolio.json"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn surface_fit_reports_each_expiry_and_rejections() {
    let out = ale()
        .args(["surface", "fit", "--json"])
        .arg(repo("examples/market-quotes.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = lines(&out);
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r["underlying"], "BTC");
    let expiries = r["expiries"].as_array().unwrap();
    assert_eq!(expiries.len(), 2);
    for e in expiries {
        for key in ["a", "b", "rho", "m", "sigma"] {
            assert!(e["svi"][key].is_f64(), "{key}");
        }
        // The quotes were generated from an SVI smile: the fit recovers it.
        assert!(e["rmse_vol"].as_f64().unwrap() < 1e-4);
        assert!(e["max_error_vol"].as_f64().unwrap() < 1e-4);
        assert!(e["expiry"].as_str().unwrap().ends_with("T08:00:00Z"));
    }
    assert_eq!(expiries[0]["quotes"], 19);
    assert_eq!(expiries[0]["rejected"], 1);
    assert!(r["arbitrage"].as_array().unwrap().is_empty());
    // A plot is drawn on request.
    let png = temp_file("smiles.png", "");
    let out = ale()
        .args(["surface", "fit", "--plot"])
        .arg(&png)
        .arg(repo("examples/market-quotes.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    // A market without quotes, or with degenerate quotes, is a clear error.
    let out = ale()
        .args(["surface", "fit"])
        .arg(repo("examples/market.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("quotes"));
    let one = temp_file(
        "one-quote.json",
        r#"{"time":"2026-11-24T08:00:00Z","underlyings":[{"name":"BTC","spot":95000,"surface":{"quotes":[{"expiry":"2026-12-26T08:00:00Z","strike":95000,"iv":0.5}]}}]}"#,
    );
    let out = ale().args(["surface", "fit"]).arg(&one).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("quotes") && !stderr.contains("panicked"),
        "{stderr}"
    );
}
