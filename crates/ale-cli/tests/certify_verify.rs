//! `ale certify` and `ale verify` (docs/verify.md): a certificate printed for a liquidatable
//! account verifies (JSON and binary), a tampered or stale one does not, a healthy account is
//! not certified, and exit codes follow formats.md (0 / 1 / 2); `ale verify` prints the stage
//! that proved the decision and a witness's gamma witness when it names one.

use std::path::PathBuf;
use std::process::Command;

fn ale() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ale"))
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

const DAVE: &str = r#"{"account": "dave", "collateral": [{"asset": "USDC", "amount": "20000"}],
 "positions": [
   {"instrument": "BTC-26DEC26-100000-C", "size": -5},
   {"instrument": "BTC-26DEC26-90000-P", "size": -5},
   {"instrument": "BTC-PERP", "size": 1.5, "entry_price": 94000.0}]}"#;

const NOW: &str = "2026-11-24T08:00:05Z";

#[test]
fn certify_then_verify() {
    let dir = std::env::temp_dir().join(format!("ale-cert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let portfolio = dir.join("dave.json");
    std::fs::write(&portfolio, DAVE).unwrap();
    let bin = dir.join("cert.bin");
    for policy in ["ramm", "static", "oracle-adjusted", "pm"] {
        let out = ale()
            .args(["certify", "--market"])
            .arg(examples().join("market.json"))
            .args(["--policy", policy, "--binary"])
            .arg(&bin)
            .arg(&portfolio)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{policy}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cert: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(cert["format"], "ale-certificate");
        assert_eq!(cert["policy"], policy);
        let json_path = dir.join(format!("{policy}.json"));
        std::fs::write(&json_path, &out.stdout).unwrap();
        for path in [&json_path, &bin] {
            let v = ale()
                .args(["verify", "--now", NOW])
                .arg(path)
                .output()
                .unwrap();
            assert_eq!(
                v.status.code(),
                Some(0),
                "{policy}: {}",
                String::from_utf8_lossy(&v.stdout)
            );
            let r: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
            assert_eq!(r["valid"], true);
            assert_eq!(r["account"], "dave");
            assert!(r["cost"]["total"].as_u64().unwrap() > 0);
            assert_eq!(
                r["cost"]["sig_checks"].as_u64().unwrap(),
                2,
                "k = 2 signatures"
            );
            assert!(
                !r["witnesses"].as_array().unwrap().is_empty()
                    || policy.contains("static")
                    || policy == "oracle-adjusted"
            );
            // dave is far below MM: stage 1 proves it (and 1 is every other policy's stage),
            // and no witness names a gamma witness (no `gamma` key).
            assert_eq!(r["stage"], 1, "{policy}: {r}");
            for w in r["witnesses"].as_array().unwrap() {
                assert!(w.get("gamma").is_none(), "{policy}: {w}");
            }
        }
        // Stale an hour later.
        let v = ale()
            .args(["verify", "--now", "2026-11-24T09:00:00Z"])
            .arg(&json_path)
            .output()
            .unwrap();
        assert_eq!(v.status.code(), Some(1));
        let r: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
        assert_eq!(r["valid"], false);
        assert!(r["reason"].as_str().unwrap().contains("stale"));
        // A claimed value edited in the JSON.
        let mut edited = cert.clone();
        edited["claimed_value"] = serde_json::Value::String("-1.000000000000000000".into());
        let p = dir.join("edited.json");
        std::fs::write(&p, serde_json::to_vec(&edited).unwrap()).unwrap();
        let v = ale()
            .args(["verify", "--now", NOW])
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(v.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&v.stdout).contains("claimed_value"));
        // A stricter quorum than the certificate carries.
        let v = ale()
            .args(["verify", "--now", NOW, "--oracle-quorum", "3"])
            .arg(&json_path)
            .output()
            .unwrap();
        assert_eq!(v.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&v.stdout).contains("short quorum"));
        // A verifier that wants the venue's signatures on chain too.
        let v = ale()
            .args(["verify", "--now", NOW, "--venue-quorum", "2"])
            .arg(&json_path)
            .output()
            .unwrap();
        assert_eq!(v.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&v.stdout).contains("venue"));
    }
    // Trusted keys from a file: the development keys verify, other keys do not.
    let dev = |label: &str| {
        ale_oracle::dev_keys(label, 3)
            .iter()
            .map(|k| hex_str(&k.verifying_key().to_bytes()))
            .collect::<Vec<_>>()
    };
    let good = dir.join("keys.json");
    std::fs::write(
        &good,
        serde_json::json!({"oracle": dev("ale-dev-oracle"), "venue": dev("ale-dev-venue")})
            .to_string(),
    )
    .unwrap();
    let bad = dir.join("other-keys.json");
    std::fs::write(
        &bad,
        serde_json::json!({"oracle": dev("someone-else"), "venue": dev("ale-dev-venue")})
            .to_string(),
    )
    .unwrap();
    let cert = dir.join("ramm.json");
    let v = ale()
        .args(["verify", "--now", NOW, "--keys"])
        .arg(&good)
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
    let v = ale()
        .args(["verify", "--now", NOW, "--keys"])
        .arg(&bad)
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(v.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&v.stdout).contains("signatures"));
    // A healthy account: nothing to certify, exit 1 with the reason.
    let out = ale()
        .args(["certify", "--market"])
        .arg(examples().join("market.json"))
        .args(["--account", "alice"])
        .arg(examples().join("portfolio.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not liquidatable"));
    // An unknown policy and an unreadable certificate are exit 2.
    let out = ale()
        .args(["certify", "--market"])
        .arg(examples().join("market.json"))
        .args(["--policy", "spam"])
        .arg(&portfolio)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = ale()
        .args(["verify", "/nonexistent/cert.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

/// Accounts close to their MM (as `ale-certify/tests/stage2.rs` builds them, with the cash
/// topped up from `ale margin`'s own equity and MM): a short strangle 1 % of its shortfall
/// below MM is proved by stage 2 only, without a gamma witness; the bench's ten-position
/// account 0.1 % below MM needs a gamma witness (format v3). `ale verify` says so: `stage` 2,
/// and `gamma` on the witness exactly when the certificate names one.
#[test]
fn verify_prints_the_stage_and_the_gamma_witness() {
    let dir = std::env::temp_dir().join(format!("ale-cert-stage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let market = examples().join("market.json");
    let cases: [(&str, &str, f64, bool); 3] = [
        ("strangle", STRANGLE, 0.99, false),
        ("ten", TEN, 0.999, true),
        ("strangle-far", STRANGLE, 0.5, false),
    ];
    for (name, book, share, gamma) in cases {
        // Equity and MM of the account as it stands.
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, book).unwrap();
        let out = ale()
            .args(["margin", "--json", "--market"])
            .arg(&market)
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}");
        let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let (equity, mm) = (
            m["equity"].as_f64().unwrap(),
            m["maintenance_margin"].as_f64().unwrap(),
        );
        assert!(equity < mm, "{name}: {m}");
        // USDC added so that equity sits `share` of the way up to MM.
        let mut a: serde_json::Value = serde_json::from_str(book).unwrap();
        let cash: f64 = a["collateral"][0]["amount"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        a["collateral"][0]["amount"] = format!("{:.6}", cash + (mm - equity) * share).into();
        std::fs::write(&path, a.to_string()).unwrap();
        let cert = dir.join(format!("{name}.cert.json"));
        let out = ale()
            .args(["certify", "--market"])
            .arg(&market)
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&cert, &out.stdout).unwrap();
        let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(c["version"], if gamma { 3 } else { 2 }, "{name}");
        let v = ale()
            .args(["verify", "--now", NOW])
            .arg(&cert)
            .output()
            .unwrap();
        assert_eq!(
            v.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&v.stdout)
        );
        let r: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
        assert_eq!(r["valid"], true);
        assert_eq!(r["account"], a["account"]);
        // Halfway to MM stage 1 suffices; closer, only stage 2 proves it.
        assert_eq!(r["stage"], if share < 0.9 { 1 } else { 2 }, "{name}: {r}");
        let w = &r["witnesses"][0];
        if gamma {
            let g = w["gamma"].as_u64().unwrap();
            assert_ne!(w["scenario"].as_u64().unwrap(), g, "{r}");
            assert!(g < 63, "a grid scenario, not an extreme: {r}");
            // The same index the certificate's JSON rendering names.
            assert_eq!(c["witnesses"][0]["gamma"], w["gamma"], "{name}");
        } else {
            assert!(w.get("gamma").is_none(), "{name}: {r}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A short strangle, out of the money both sides (`ale-certify`'s stage-2 fixture).
const STRANGLE: &str = r#"{"account": "strangle", "collateral": [{"asset": "USDC", "amount": "1000"}],
  "positions": [
    {"instrument": "BTC-26DEC26-100000-C", "size": -5},
    {"instrument": "BTC-26DEC26-90000-P", "size": -1}]}"#;

/// The bench's ten-position `ramm` account: nine options over three expiries and a perp.
const TEN: &str = r#"{"account": "ten", "collateral": [{"asset": "USDC", "amount": "30000"}],
  "positions": [
    {"instrument": "BTC-4DEC26-90000-P", "size": -4},
    {"instrument": "BTC-4DEC26-100000-C", "size": -4},
    {"instrument": "BTC-4DEC26-95000-C", "size": 1},
    {"instrument": "BTC-26DEC26-85000-P", "size": -3},
    {"instrument": "BTC-26DEC26-105000-C", "size": -3},
    {"instrument": "BTC-26DEC26-95000-P", "size": 1},
    {"instrument": "BTC-26MAR27-80000-P", "size": -2},
    {"instrument": "BTC-26MAR27-110000-C", "size": -2},
    {"instrument": "BTC-26MAR27-95000-C", "size": 0.5},
    {"instrument": "BTC-PERP", "size": 1.0, "entry_price": 94000.0}]}"#;

fn hex_str(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
