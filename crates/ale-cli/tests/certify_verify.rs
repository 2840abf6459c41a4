//! `ale certify` and `ale verify` (docs/verify.md): a certificate printed for a liquidatable
//! account verifies (JSON and binary), a tampered or stale one does not, a healthy account is
//! not certified, and exit codes follow formats.md (0 / 1 / 2).

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

fn hex_str(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
