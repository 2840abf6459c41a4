//! Cost and speed of certificates for a 10-position account under `ramm` (issue 10):
//! verification (full, and against roots already checked), the engine's margin of the same
//! account, building a certificate; and, in the verifier's gas unit, the verifier's cost
//! against the engine's grid work for the account.
//!
//! `cargo bench -p ale-certify --bench certify` prints the gas figures first.

use ale_certify::{certify, CertPolicy, Commitments};
use ale_core::Account;
use ale_oracle::dev_keys;
use ale_verify::{Quorum, TrustedKeys, VerifyingKey};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;

const MARKET: &str = r#"{
  "time": "2026-11-24T08:00:00Z", "rate": 0.03,
  "underlyings": [{"name": "BTC", "spot": 95000.0, "realized_vol": 0.48,
    "forwards": [{"expiry": "2026-12-26T08:00:00Z", "price": 95400.0}],
    "surface": {"svi": [
      {"expiry": "2026-11-27T08:00:00Z", "a": 0.0015, "b": 0.02, "rho": -0.25, "m": 0.0, "sigma": 0.1},
      {"expiry": "2026-12-04T08:00:00Z", "a": 0.004, "b": 0.04, "rho": -0.3, "m": 0.0, "sigma": 0.15},
      {"expiry": "2026-12-26T08:00:00Z", "a": 0.02, "b": 0.08, "rho": -0.3, "m": 0.0, "sigma": 0.2},
      {"expiry": "2027-03-26T08:00:00Z", "a": 0.07, "b": 0.12, "rho": -0.3, "m": 0.02, "sigma": 0.25}]}}],
  "collateral": [{"asset": "USDC", "price": 1.0, "haircut": 0.0}]
}"#;

/// Ten positions: nine options over three expiries and a perpetual; little cash.
const ACCOUNT: &str = r#"{"account": "ten", "collateral": [{"asset": "USDC", "amount": "30000"}],
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
    {"instrument": "BTC-PERP", "size": 1.0, "entry_price": 94000.0}
  ]}"#;

struct Fixture {
    market: ale_market::MarketSnapshot,
    accounts: Vec<Account>,
    policy: CertPolicy,
    commitments: Commitments,
    oracle_vk: Vec<VerifyingKey>,
    venue_vk: Vec<VerifyingKey>,
}

fn fixture() -> Fixture {
    let market = ale_format::parse_market(MARKET).unwrap().snapshot;
    let mut accounts = ale_format::parse_portfolio(ACCOUNT).unwrap().0;
    // A venue of 1000 other accounts, so that the account proof has a realistic depth (10).
    let filler = ale_format::parse_portfolio(
        r#"{"account": "x", "collateral": [{"asset": "USDC", "amount": "1000"}], "positions": [{"instrument": "BTC-PERP", "size": 0.01}]}"#,
    )
    .unwrap()
    .0;
    for i in 0..1000 {
        let mut a = filler[0].clone();
        a.id = ale_core::AccountId::new(&format!("filler{i:04}")).unwrap();
        accounts.push(a);
    }
    let oracle = dev_keys("bench-oracle", 3);
    let venue = dev_keys("bench-venue", 3);
    let policy = CertPolicy::from_name("ramm", None).unwrap();
    let commitments = Commitments::build(
        &market,
        &accounts,
        &policy,
        1,
        &[(0, &oracle[0]), (1, &oracle[1])],
        &[(0, &venue[0]), (1, &venue[1])],
    )
    .unwrap();
    Fixture {
        market,
        accounts,
        policy,
        commitments,
        oracle_vk: oracle.iter().map(|k| k.verifying_key()).collect(),
        venue_vk: venue.iter().map(|k| k.verifying_key()).collect(),
    }
}

const QUORUM: Quorum = Quorum {
    oracle: 2,
    venue: 2,
    max_age_s: 60,
};

fn bench(c: &mut Criterion) {
    let f = fixture();
    let keys = TrustedKeys {
        oracle: &f.oracle_vk,
        venue: &f.venue_vk,
    };
    let now = f.market.time().unix_seconds() + 1;
    let account = &f.accounts[0];
    let cert = certify(
        &f.policy,
        &f.market,
        &f.commitments,
        account,
        &keys,
        &QUORUM,
        now,
    )
    .unwrap();
    let v = ale_verify::verify(&cert.bytes, &keys, &QUORUM, now).unwrap();
    let (roots, _) = ale_verify::check_roots(&cert.bytes, &keys, &QUORUM).unwrap();
    let va = ale_verify::verify_against(&cert.bytes, &roots, 60, now).unwrap();
    let (_, _, grid_gas) = ale_verify::ramm_full_grid(&cert.bytes).unwrap();
    println!(
        "certificate: {} bytes ({} positions)",
        cert.bytes.len(),
        account.positions.len()
    );
    println!(
        "verify (with 4 signature checks): gas {} {:?}",
        v.cost.total(),
        v.cost
    );
    println!(
        "verify against checked roots:     gas {} {:?}",
        va.cost.total(),
        va.cost
    );
    println!(
        "engine grid work in the verifier's unit (65 scenarios, full re-pricing): {} int-op gas",
        grid_gas.int_ops
    );
    println!(
        "ratio engine / verifier: arithmetic only {:.1}x; against checked roots {:.1}x; full {:.1}x",
        grid_gas.int_ops as f64 / va.cost.int_ops as f64,
        grid_gas.int_ops as f64 / va.cost.total() as f64,
        grid_gas.int_ops as f64 / v.cost.total() as f64,
    );

    let mut g = c.benchmark_group("certificate_ramm_10_positions");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    g.bench_function("verify_full", |b| {
        b.iter(|| ale_verify::verify(black_box(&cert.bytes), &keys, &QUORUM, now).unwrap())
    });
    g.bench_function("verify_against_checked_roots", |b| {
        b.iter(|| ale_verify::verify_against(black_box(&cert.bytes), &roots, 60, now).unwrap())
    });
    g.bench_function("check_roots_only", |b| {
        b.iter(|| ale_verify::check_roots(black_box(&cert.bytes), &keys, &QUORUM).unwrap())
    });
    g.bench_function("engine_margin_standalone", |b| {
        b.iter(|| f.policy.margin(black_box(&f.market), account).unwrap())
    });
    g.bench_function("verifier_arithmetic_full_grid", |b| {
        b.iter(|| ale_verify::ramm_full_grid(black_box(&cert.bytes)).unwrap())
    });
    g.bench_function("certify", |b| {
        b.iter(|| {
            certify(
                &f.policy,
                &f.market,
                &f.commitments,
                account,
                &keys,
                &QUORUM,
                now,
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
