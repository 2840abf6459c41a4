//! `ale auction quote` against the formulas of formats.md (start, cutoff, slow phase, end,
//! insolvent phase, reserved cash, parameter overrides, bad lines), and `ale liquidate` end to
//! end: the event log, a ledger that balances, the outcome, and errors that name the field.

mod common;

use common::{ale, lines, run_with_stdin};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

use ale_core::Amount;

fn f(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number '{key}' in {v}"))
}

fn near(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
}

/// formats.md, by hand: E = 90, M = 100, buffer 0.15 ⇒ B = 90 − 100 − 15 = −25.
#[test]
fn auction_quote_follows_the_formulas_of_formats_md() {
    let input = [
        // start
        r#"{"equity":90,"maintenance_margin":100,"elapsed_s":0}"#,
        // fast phase, a third of the way: d = 0.95 − 0.25/3
        r#"{"equity":90,"maintenance_margin":100,"elapsed_s":300}"#,
        // cutoff: d = 0.70, phase slow
        r#"{"equity":90,"maintenance_margin":100,"elapsed_s":900}"#,
        // half of the slow phase: d = 0.35
        r#"{"equity":90,"maintenance_margin":100,"elapsed_s":22500}"#,
        // end: d = 0, phase ended, f = B / B = 1
        r#"{"equity":90,"maintenance_margin":100,"elapsed_s":44100}"#,
        // insolvent at the start: bid = min(E, 0) = −10
        r#"{"equity":-10,"maintenance_margin":100,"elapsed_s":0}"#,
        // insolvent half-way: bid = −10 + (−110 + 10)/2 = −60
        r#"{"equity":-10,"maintenance_margin":100,"elapsed_s":1800}"#,
        // insolvent after insolvent_s: held at E − M = −110
        r#"{"equity":-10,"maintenance_margin":100,"elapsed_s":9999}"#,
        // reserved cash and overridden parameters
        r#"{"equity":90,"maintenance_margin":100,"elapsed_s":0,"reserved_cash":20,"params":{"start_fraction":0.9,"buffer_fraction":0.1}}"#,
        // healthy: buffer 0, nothing to sell
        r#"{"equity":200,"maintenance_margin":100,"elapsed_s":0}"#,
        // errors, by line
        r#"{"equity":90,"maintenance_margin":-1,"elapsed_s":0}"#,
        r#"{"equity":90,"maintenance_margin":100}"#,
        r#"{"equity":90,"maintenance_margin":100,"elapsed_s":0,"params":{"fast_s":0}}"#,
        r#"{"equity":90,"maintenance_margin":100,"elapsed_s":0,"params":{"spead":1}}"#,
    ]
    .join("\n");
    let out = run_with_stdin(&["auction", "quote"], &input);
    assert_eq!(
        out.status.code(),
        Some(1),
        "bad lines make the exit status 1"
    );
    let got = lines(&out);
    assert_eq!(got.len(), 14);
    let (e, b) = (90.0, -25.0);
    let expect_solvent = |q: &serde_json::Value, phase: &str, d: f64| {
        assert_eq!(q["phase"], phase, "{q}");
        near(f(q, "discount"), d);
        near(f(q, "buffer_margin"), b);
        near(f(q, "bid_price"), e * d);
        near(f(q, "max_fraction"), (b / (b - e * d)).min(1.0));
    };
    expect_solvent(&got[0], "fast", 0.95);
    expect_solvent(&got[1], "fast", 0.95 - 0.25 / 3.0);
    expect_solvent(&got[2], "slow", 0.70);
    expect_solvent(&got[3], "slow", 0.35);
    expect_solvent(&got[4], "ended", 0.0);
    near(f(&got[4], "max_fraction"), 1.0);
    for (q, bid) in [(&got[5], -10.0), (&got[6], -60.0), (&got[7], -110.0)] {
        assert_eq!(q["phase"], "insolvent");
        near(f(q, "bid_price"), bid);
        near(f(q, "max_fraction"), 1.0);
        near(f(q, "buffer_margin"), -10.0 - 115.0);
    }
    // R = 20, start 0.9, buffer 0.1: B = 90 − 110 = −20; bid = 70·0.9 = 63;
    // f = −20 / (−20 − 90·0.9 − 20·0.1) = 20/103.
    let q = &got[8];
    near(f(q, "buffer_margin"), -20.0);
    near(f(q, "bid_price"), 63.0);
    near(f(q, "max_fraction"), 20.0 / 103.0);
    near(f(&got[9], "max_fraction"), 0.0);
    near(f(&got[9], "buffer_margin"), 0.0);
    for (i, line, needle) in [
        (10, 11, "maintenance_margin"),
        (11, 12, "elapsed_s"),
        (12, 13, "fast_s"),
        (13, 14, "params.spead"),
    ] {
        assert_eq!(got[i]["line"], line, "{}", got[i]);
        assert!(
            got[i]["error"].as_str().unwrap().contains(needle),
            "{}",
            got[i]
        );
    }
}

/// A file in a per-process directory, its name made unique (tests run in parallel).
fn temp_file(name: &str, text: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ale-liq-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{n}-{name}"));
    std::fs::write(&path, text).unwrap();
    path
}

const MARKET: &str = r#"{"time":"2026-11-24T08:00:00Z","rate":0.0,
  "underlyings":[{"name":"BTC","spot":100.0,"surface":{"flat":0.5}}],
  "collateral":[{"asset":"USDC","price":1.0,"haircut":0.0}]}"#;

fn liquidate(portfolio: &str, bidders: &str, venue: &str, extra: &[&str]) -> Output {
    let m = temp_file("market.json", MARKET);
    let p = temp_file("portfolio.json", portfolio);
    let b = temp_file("bidders.json", bidders);
    let v = temp_file("venue.json", venue);
    let mut args = vec![
        "liquidate".to_string(),
        "--market".into(),
        m.display().to_string(),
        "--policy".into(),
        "static".into(),
        "--bidders".into(),
        b.display().to_string(),
        "--fund".into(),
        v.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(p.display().to_string());
    ale().args(&args).output().unwrap()
}

const ALICE: &str = r#"[{"account":"alice","collateral":[{"asset":"USDC","amount":"100"}],
  "positions":[{"instrument":"BTC-PERP","size":10,"entry_price":109}]},
  {"account":"bob","collateral":[{"asset":"USDC","amount":"1000"}]}]"#;

#[test]
fn liquidate_prints_the_log_and_a_balanced_ledger() {
    let bidders = r#"{"bidders":[
      {"name":"desk","owner":"alice","max_price_fraction":0.95,"collateral":[{"asset":"USDC","amount":"10000"}]},
      {"name":"lp","max_price_fraction":0.9,"collateral":[{"asset":"USDC","amount":"10000"}]}]}"#;
    let venue = r#"{"insurance_fund":{"collateral":[{"asset":"USDC","amount":"1000000"}],"max_notional":"0"}}"#;
    let out = liquidate(ALICE, bidders, venue, &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = lines(&out);
    let kinds: Vec<&str> = got
        .iter()
        .filter(|v| v["type"] == "event" && v["kind"] != "opened")
        .map(|v| v["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "flagged",
            "frozen",
            "auction_opened",
            "bid_refused",
            "auction_fill",
            "restored"
        ]
    );
    let refused = got.iter().find(|v| v["kind"] == "bid_refused").unwrap();
    assert!(refused["reason"]
        .as_str()
        .unwrap()
        .contains("self-liquidation"));
    let fill = got.iter().find(|v| v["kind"] == "auction_fill").unwrap();
    assert_eq!(fill["at"], "2026-11-24T08:03:00Z");
    assert_eq!(fill["details"]["bidder"], "lp");
    assert!(!fill["legs"].as_array().unwrap().is_empty());
    // The ledger: every unit sums to zero, to the nano-unit.
    let ledger = got.iter().find(|v| v["type"] == "ledger").unwrap();
    assert_eq!(ledger["format"], "ale.liquidation.v1");
    let mut sums: BTreeMap<String, i128> = BTreeMap::new();
    for b in ledger["balances"].as_array().unwrap() {
        let a = Amount::parse_decimal(b["amount"].as_str().unwrap()).unwrap();
        *sums
            .entry(b["unit"].as_str().unwrap().to_string())
            .or_default() += a.raw();
    }
    assert!(sums.len() >= 3);
    assert!(sums.values().all(|s| *s == 0), "{sums:?}");
    let outcome = got.last().unwrap();
    assert_eq!(outcome["type"], "outcome");
    assert_eq!(outcome["outcome"], "restored");
    assert_eq!(outcome["equity_before"], "10");
    // Gated for real: the CLI built alice's certificate and the engine's gate verified it.
    assert_eq!(outcome["certificate"]["status"], "verified", "{outcome}");
    let flagged = got.iter().find(|v| v["kind"] == "flagged").unwrap();
    assert_eq!(flagged["details"]["certificate"], "verified");
    // Sequence numbers are gap-free.
    for (i, v) in got.iter().filter(|v| v["type"] == "event").enumerate() {
        assert_eq!(v["seq"], i as u64);
    }
    // The table for a person names the outcome.
    let table = liquidate(ALICE, bidders, venue, &[]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("alice: restored"), "{text}");
}

#[test]
fn liquidate_insolvent_account_through_the_waterfall() {
    let portfolio = r#"[{"account":"alice","collateral":[{"asset":"USDC","amount":"100"}],
      "positions":[{"instrument":"BTC-PERP","size":10,"entry_price":115}]},
      {"account":"bob","collateral":[{"asset":"USDC","amount":"1000"}]}]"#;
    let venue = r#"{"insurance_fund":{"collateral":[{"asset":"USDC","amount":"20"}]},
      "credit_providers":[{"name":"cp","amount":"10"}],
      "liquidation":{"loss_mode":"socialised"}}"#;
    let out = liquidate(portfolio, "[]", venue, &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = lines(&out);
    let steps: Vec<(String, String)> = got
        .iter()
        .filter(|v| v["kind"] == "waterfall")
        .map(|v| {
            (
                v["details"]["step"].as_str().unwrap().to_string(),
                v["details"]["paid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("insurance_fund".into(), "20".into()),
            ("backstop_credit".into(), "10".into()),
            ("socialised_loss".into(), "20".into())
        ]
    );
    let ledger = got.iter().find(|v| v["type"] == "ledger").unwrap();
    let bob = ledger["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["holder"] == "trader:bob")
        .unwrap();
    assert_eq!(bob["amount"], "980");
    assert_eq!(got.last().unwrap()["outcome"], "closed");
}

#[test]
fn liquidate_errors_name_the_field() {
    let venue = r#"{"insurance_fund":{"collateral":[{"asset":"USDC","amount":"1"}]}}"#;
    let out = liquidate(ALICE, r#"[{"name":"lp"}]"#, venue, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bidders[0].max_price_fraction"), "{err}");
    let out = liquidate(
        ALICE,
        r#"[{"name":"lp","max_price_fraction":1.5}]"#,
        venue,
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_price_fraction"));
    let out = liquidate(ALICE, "[]", r#"{"liquidation":{"auction":"english"}}"#, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("liquidation.auction"));
    let out = liquidate(ALICE, "[]", r#"{"liquidation":{"max_slippage":2}}"#, &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_slippage"));
    let out = liquidate(ALICE, "[]", venue, &["--account", "zed"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'zed'"));
}

/// The certificate gate through the CLI: an account the certificate format cannot carry (33
/// positions; a certificate holds at most 32) is liquidatable but not certifiable — the output
/// says so, the gate refuses, nothing moves; without the gate it is liquidated. A healthy account
/// needs no certificate.
#[test]
fn liquidate_is_gated_by_a_certificate() {
    let mut positions =
        vec![r#"{"instrument":"BTC-PERP","size":10,"entry_price":109}"#.to_string()];
    for k in 70..102 {
        positions.push(format!(
            r#"{{"instrument":"BTC-25DEC26-{k}-C","size":0.001}}"#
        ));
    }
    let portfolio = format!(
        r#"[{{"account":"alice","collateral":[{{"asset":"USDC","amount":"100"}}],"positions":[{}]}},
            {{"account":"bob","collateral":[{{"asset":"USDC","amount":"1000"}}]}}]"#,
        positions.join(",")
    );
    let venue = r#"{"insurance_fund":{"collateral":[{"asset":"USDC","amount":"1000000"}]}}"#;
    let out = liquidate(&portfolio, "[]", venue, &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = lines(&out);
    let outcome = got.last().unwrap();
    assert_eq!(outcome["outcome"], "refused", "{outcome}");
    assert_eq!(outcome["certificate"]["status"], "not_certifiable");
    assert!(
        outcome["certificate"]["reason"]
            .as_str()
            .unwrap()
            .contains("32"),
        "{outcome}"
    );
    let kinds: Vec<&str> = got
        .iter()
        .filter(|v| v["type"] == "event" && v["kind"] != "opened")
        .map(|v| v["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["refused"]);
    let refused = got.iter().find(|v| v["kind"] == "refused").unwrap();
    assert_eq!(refused["details"]["gate"], "certificate");
    assert_eq!(refused["details"]["field"], "certificate");
    assert_eq!(outcome["equity_after"], outcome["equity_before"]);
    let table = liquidate(&portfolio, "[]", venue, &[]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("certificate: not certifiable"), "{text}");
    assert!(text.contains("alice: refused"), "{text}");
    // The gate off, by flag or in the venue file: liquidated without a certificate.
    let off_venue = r#"{"insurance_fund":{"collateral":[{"asset":"USDC","amount":"1000000"}]},
      "liquidation":{"certificate_gate":false}}"#;
    for (venue, extra) in [
        (venue, &["--json", "--no-certificate-gate"][..]),
        (off_venue, &["--json"][..]),
    ] {
        let out = liquidate(&portfolio, "[]", venue, extra);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let outcome = lines(&out).pop().unwrap();
        assert_eq!(outcome["certificate"]["status"], "off");
        assert_eq!(outcome["outcome"], "restored", "{outcome}");
    }
    // Healthy: no certificate needed, nothing happens.
    let healthy = r#"{"account":"carol","collateral":[{"asset":"USDC","amount":"1000"}],
      "positions":[{"instrument":"BTC-PERP","size":1,"entry_price":100}]}"#;
    let out = liquidate(healthy, "[]", venue, &["--json"]);
    let outcome = lines(&out).pop().unwrap();
    assert_eq!(outcome["outcome"], "healthy");
    assert_eq!(outcome["certificate"]["status"], "not_needed");
    // A bad value of the new key names it.
    let out = liquidate(
        ALICE,
        "[]",
        r#"{"liquidation":{"certificate_gate":"no"}}"#,
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("liquidation.certificate_gate"));
}
