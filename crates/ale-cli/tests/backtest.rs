//! `ale backtest` against its formats.md section: the JSON summary, the report written, the same
//! numbers for the same seed, a sweep's frontier, and clear errors for bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

fn ale(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ale"))
        .args(args)
        .output()
        .unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ale-backtest-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn data() -> String {
    // The shared data when present beside the repository, else the simulator's excerpt.
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if shared.join("binance_btcusdt_1d.csv").is_file() {
        return shared.display().to_string();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ale-sim/tests/data")
        .display()
        .to_string()
}

fn summary(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "one JSON line: {text}");
    serde_json::from_str(text.trim()).unwrap()
}

#[test]
fn backtest_writes_a_report_and_prints_the_summary() {
    let out_dir = tmp("run");
    let d = data();
    let args = [
        "backtest",
        "stress",
        "--policy",
        "all",
        "--accounts",
        "30",
        "--seed",
        "3",
        "--data",
        &d,
        "--json",
        "--out",
    ];
    let mut a = args.to_vec();
    let o = out_dir.display().to_string();
    a.push(&o);
    let s = summary(&ale(&a));
    assert_eq!(s["scenario"], "stress");
    let policies = s["policies"].as_array().unwrap();
    let labels: Vec<&str> = policies
        .iter()
        .map(|p| p["policy"].as_str().unwrap())
        .collect();
    let skipped = s["skipped"].as_array().unwrap().len();
    assert_eq!(labels.len() + skipped, 5, "{labels:?}");
    for p in policies {
        assert_eq!(p["value_conserved"], true, "{p}");
        for key in [
            "bad_debt_usd",
            "insurance_fund_drawdown_usd",
            "socialised_loss_usd",
            "liquidations",
            "liquidated_notional_usd",
            "penalties_usd",
            "unneeded_liquidations",
            "margin_per_notional",
            "breach_to_restored_mean_s",
        ] {
            assert!(p[key].is_number(), "{key} in {p}");
        }
    }
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.matches("<svg").count() >= 4, "plots inline");
    assert!(
        !html.contains("http://") || html.contains("xmlns"),
        "nothing fetched"
    );
    assert!(!html.contains("<script src"), "no external scripts");
    // Same seed: the same summary.
    let again = summary(&ale(&a));
    assert_eq!(again, s);
    let _ = std::fs::remove_dir_all(out_dir);
}

#[test]
fn sweep_names_the_non_dominated_settings() {
    let out_dir = tmp("sweep");
    let d = data();
    let o = out_dir.display().to_string();
    let s = summary(&ale(&[
        "backtest",
        "sweep",
        "--scenario",
        "stress",
        "--policy",
        "static",
        "--param",
        "mm_rate=0.05:0.15:3",
        "--accounts",
        "20",
        "--data",
        &d,
        "--json",
        "--out",
        &o,
    ]));
    let points = s["points"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    assert!(points.iter().any(|p| p["non_dominated"] == true));
    assert!(out_dir.join("sweep.html").is_file());
    let _ = std::fs::remove_dir_all(out_dir);
}

#[test]
fn bad_input_is_a_clear_error() {
    let o = tmp("bad").display().to_string();
    for (args, needle) in [
        (
            vec!["backtest", "nope", "--out", &o],
            "unknown scenario 'nope'",
        ),
        (
            vec!["backtest", "stress", "--policy", "magic", "--out", &o],
            "unknown 'magic'",
        ),
        (
            vec![
                "backtest",
                "sweep",
                "--policy",
                "ramm",
                "--param",
                "z_price=3:7",
                "--out",
                &o,
            ],
            "--param",
        ),
        (
            vec!["backtest", "stress", "--accounts", "0", "--out", &o],
            "accounts",
        ),
        (
            vec!["backtest", "stress", "--auction", "english", "--out", &o],
            "auction",
        ),
        (
            vec!["backtest", "stress", "--underlyings", "ETH", "--out", &o],
            "underlyings",
        ),
        (
            vec![
                "backtest",
                "stress",
                "--underlyings",
                "BTC,SOL",
                "--out",
                &o,
            ],
            "SOL",
        ),
        (
            vec!["backtest", "stress", "--arrivals", "1.5", "--out", &o],
            "arrivals",
        ),
    ] {
        let out = ale(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn backtest_options_for_underlyings_auctions_backstops_and_arrivals() {
    let out_dir = tmp("options");
    let d = data();
    let o = out_dir.display().to_string();
    let run = |extra: &[&str]| {
        let mut a = vec![
            "backtest",
            "stress",
            "--policy",
            "ramm",
            "--accounts",
            "40",
            "--seed",
            "5",
            "--data",
            &d,
            "--json",
            "--out",
            &o,
        ];
        a.extend_from_slice(extra);
        summary(&ale(&a))
    };
    let s = run(&[
        "--auction",
        "sealed-first",
        "--arrivals",
        "0.5",
        "--backstop-pools",
        "1",
        "--credit-providers",
        "3",
    ]);
    assert_eq!(s["auction"], "sealed-first");
    assert_eq!(s["underlyings"], serde_json::json!(["BTC", "ETH"]));
    let p = &s["policies"][0];
    assert_eq!(p["value_conserved"], true, "{p}");
    assert!(p["arrivals"].as_u64().unwrap() > 0, "{p}");
    assert_eq!(p["accounts_opened"], 40, "{p}");
    for key in [
        "backstop_fund_notional_usd",
        "backstop_pool_notional_usd",
        "auction_notional_usd",
        "market_notional_usd",
        "fund_take_notional_usd",
        "credit_premiums_usd",
    ] {
        assert!(p["tiers"][key].is_number(), "{key} in {p}");
    }
    for key in [
        "account_cash_usd",
        "account_collateral_usd",
        "insurance_fund_usd",
        "backstop_credit_usd",
        "socialised_usd",
    ] {
        assert!(p["loss_by_tier"][key].is_number(), "{key} in {p}");
    }
    for key in [
        "insurance_fund_usd",
        "backstop_pools_usd",
        "liquidators_usd",
        "credit_providers_usd",
    ] {
        assert!(p["pnl"][key].is_number(), "{key} in {p}");
    }
    // BTC alone, Dutch, no arrivals: another run, still conserving value.
    let b = run(&["--underlyings", "BTC", "--arrivals", "0"]);
    assert_eq!(b["underlyings"], serde_json::json!(["BTC"]));
    assert_eq!(b["policies"][0]["arrivals"], 0);
    assert_eq!(b["policies"][0]["value_conserved"], true);
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.contains("Liquidation tiers and the loss waterfall"));
    let _ = std::fs::remove_dir_all(out_dir);
}
