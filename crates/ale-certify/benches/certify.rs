//! Cost and speed of certificates for a 10-position account under `ramm` (issue 10):
//! verification (full — the k = 2 oracle signatures of the message of both roots, and the
//! 2k = 4 of the venue co-signed form — and against roots already checked), the engine's margin
//! of the same account, building a certificate; and, in the verifier's gas unit, the
//! verifier's cost against the engine's grid work for the account. The same for the account
//! under `pm` and for a 10-position account on BTC and ETH under `ramm`.
//!
//! `cargo bench -p ale-certify --bench certify` prints the gas figures first.

use ale_certify::{certify, CertPolicy, CoSigners, Commitments};
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

/// The BTC market with ETH beside it (flat vol), for the two-underlying account.
const MARKET_ETH: &str = r#"{"name": "ETH", "spot": 3500.0, "realized_vol": 0.6,
    "forwards": [{"expiry": "2026-12-26T08:00:00Z", "price": 3510.0}],
    "surface": {"flat": 0.65}}"#;

/// Ten positions on BTC and ETH, USDC and WETH collateral.
const ACCOUNT_TWO: &str = r#"{"account": "two", "collateral": [{"asset": "USDC", "amount": "30000"}, {"asset": "WETH", "amount": "2"}],
  "positions": [
    {"instrument": "BTC-4DEC26-90000-P", "size": -4},
    {"instrument": "BTC-4DEC26-100000-C", "size": -4},
    {"instrument": "BTC-26DEC26-85000-P", "size": -3},
    {"instrument": "BTC-26DEC26-105000-C", "size": -3},
    {"instrument": "BTC-PERP", "size": 1.0, "entry_price": 94000.0},
    {"instrument": "ETH-26DEC26-3000-P", "size": -30},
    {"instrument": "ETH-26DEC26-4000-C", "size": -30},
    {"instrument": "ETH-26DEC26-3500-C", "size": 5},
    {"instrument": "ETH-26MAR27-3200-P", "size": -20},
    {"instrument": "ETH-PERP", "size": -3, "entry_price": 3450.0}
  ]}"#;

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

/// The BTC market with ETH (and WETH collateral, which moves with ETH) added.
fn market_two() -> String {
    MARKET
        .replace(
            r#""underlyings": ["#,
            &format!(r#""underlyings": [{MARKET_ETH}, "#),
        )
        .replace(
            r#""collateral": ["#,
            r#""collateral": [{"asset": "WETH", "price": 3500.0, "haircut": 0.08, "risk_cancelling": "ETH"}, "#,
        )
}

struct Fixture {
    market: ale_market::MarketSnapshot,
    accounts: Vec<Account>,
    oracle: Vec<ed25519_dalek::SigningKey>,
    venue: Vec<ed25519_dalek::SigningKey>,
    oracle_vk: Vec<VerifyingKey>,
    venue_vk: Vec<VerifyingKey>,
}

fn fixture(market: &str, account: &str) -> Fixture {
    let market = ale_format::parse_market(market).unwrap().snapshot;
    let mut accounts = ale_format::parse_portfolio(account).unwrap().0;
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
    Fixture {
        market,
        accounts,
        oracle_vk: oracle.iter().map(|k| k.verifying_key()).collect(),
        venue_vk: venue.iter().map(|k| k.verifying_key()).collect(),
        oracle,
        venue,
    }
}

impl Fixture {
    fn commit(&self, policy: &CertPolicy, cosigners: CoSigners) -> Commitments {
        Commitments::build_with(
            &self.market,
            &self.accounts,
            policy,
            1,
            &[(0, &self.oracle[0]), (1, &self.oracle[1])],
            &[(0, &self.venue[0]), (1, &self.venue[1])],
            cosigners,
        )
        .unwrap()
    }
    fn keys(&self) -> TrustedKeys<'_> {
        TrustedKeys {
            oracle: &self.oracle_vk,
            venue: &self.venue_vk,
        }
    }
}

/// The default: k = 2 oracle signatures on the message of both roots.
const QUORUM: Quorum = Quorum {
    oracle: 2,
    venue: 0,
    max_age_s: 60,
};
/// The venue co-signed form: 2k = 4 signatures.
const QUORUM_COSIGNED: Quorum = Quorum {
    oracle: 2,
    venue: 2,
    max_age_s: 60,
};

/// The ten-position account with its USDC raised so that equity sits `share` of the way from
/// the engine's equity to its maintenance margin: close enough to MM that stage 1 (the
/// witnesses' pricings alone) does not prove it and stage 2 runs (0.99), or that only a gamma
/// witness does (0.999).
fn ten_topped_up(share: f64) -> String {
    let f = fixture(MARKET, ACCOUNT);
    let ramm = CertPolicy::from_name("ramm", None).unwrap();
    let m = ramm.margin(&f.market, &f.accounts[0]).unwrap();
    let usdc = 30000.0 + (m.maintenance - m.equity) * share;
    ACCOUNT.replace(r#""amount": "30000""#, &format!(r#""amount": "{usdc:.6}""#))
}

/// Prints a certificate's size and gas, and the engine's work in the verifier's unit.
fn report(label: &str, f: &Fixture, policy: &CertPolicy, c: &Commitments, now: i64) -> Vec<u8> {
    let keys = f.keys();
    let account = &f.accounts[0];
    let cert = certify(policy, &f.market, c, account, &keys, &QUORUM, now).unwrap();
    let v = ale_verify::verify(&cert.bytes, &keys, &QUORUM, now).unwrap();
    let (roots, _) = ale_verify::check_roots(&cert.bytes, &keys, &QUORUM).unwrap();
    let va = ale_verify::verify_against(&cert.bytes, &roots, 60, now).unwrap();
    let list = policy.scenario_leaves().unwrap();
    let (_, engine_gas) = ale_verify::search(&cert.bytes, &list).unwrap();
    println!(
        "{label}: certificate {} bytes ({} positions, {} witnesses {:?}), format v{}, proved by stage {}",
        cert.bytes.len(),
        account.positions.len(),
        v.n_witnesses,
        v.witnesses()
            .iter()
            .map(|w| (w.scenario, w.gamma))
            .collect::<Vec<_>>(),
        u16::from_le_bytes([cert.bytes[4], cert.bytes[5]]),
        v.stage
    );
    println!(
        "{label}: verify (with {} signature checks): gas {} {:?}",
        v.cost.sig_checks,
        v.cost.total(),
        v.cost
    );
    println!(
        "{label}: verify against checked roots:     gas {} {:?}",
        va.cost.total(),
        va.cost
    );
    println!(
        "{label}: engine's work in the verifier's unit (every scenario fully re-priced): {} int-op gas",
        engine_gas.int_ops
    );
    println!(
        "{label}: ratio engine / verifier: arithmetic only {:.1}x; against checked roots {:.1}x; full {:.1}x",
        engine_gas.int_ops as f64 / va.cost.int_ops as f64,
        engine_gas.int_ops as f64 / va.cost.total() as f64,
        engine_gas.int_ops as f64 / v.cost.total() as f64,
    );
    cert.bytes
}

fn bench(c: &mut Criterion) {
    let f = fixture(MARKET, ACCOUNT);
    let keys = f.keys();
    let now = f.market.time().unix_seconds() + 1;
    let account = &f.accounts[0];
    let ramm = CertPolicy::from_name("ramm", None).unwrap();
    let commitments = f.commit(&ramm, CoSigners::Oracle);
    let cert = report("ramm", &f, &ramm, &commitments, now);
    let cosigned_c = f.commit(&ramm, CoSigners::OracleAndVenue);
    let cosigned = certify(
        &ramm,
        &f.market,
        &cosigned_c,
        account,
        &keys,
        &QUORUM_COSIGNED,
        now,
    )
    .unwrap();
    println!(
        "ramm co-signed by the venue: certificate {} bytes, verify gas {}",
        cosigned.bytes.len(),
        ale_verify::verify(&cosigned.bytes, &keys, &QUORUM_COSIGNED, now)
            .unwrap()
            .cost
            .total()
    );
    let (roots, _) = ale_verify::check_roots(&cert, &keys, &QUORUM).unwrap();
    let pm = CertPolicy::from_name("pm", None).unwrap();
    let pm_c = f.commit(&pm, CoSigners::Oracle);
    let pm_cert = report("pm", &f, &pm, &pm_c, now);
    let (pm_roots, _) = ale_verify::check_roots(&pm_cert, &keys, &QUORUM).unwrap();
    let pm_list = pm.scenario_leaves().unwrap();
    let f2 = fixture(&market_two(), ACCOUNT_TWO);
    let two_c = f2.commit(&ramm, CoSigners::Oracle);
    let two_cert = report("ramm BTC+ETH", &f2, &ramm, &two_c, now);
    let (two_roots, _) = ale_verify::check_roots(&two_cert, &f2.keys(), &QUORUM).unwrap();
    let pm_two_c = f2.commit(&pm, CoSigners::Oracle);
    report("pm BTC+ETH", &f2, &pm, &pm_two_c, now);
    // The same ten positions closer to MM: stage 2, then stage 2 with a gamma witness.
    let f_s2 = fixture(MARKET, &ten_topped_up(0.99));
    let s2_c = f_s2.commit(&ramm, CoSigners::Oracle);
    let s2_cert = report("ramm stage 2", &f_s2, &ramm, &s2_c, now);
    let (s2_roots, _) = ale_verify::check_roots(&s2_cert, &keys, &QUORUM).unwrap();
    let f_g = fixture(MARKET, &ten_topped_up(0.999));
    let g_c = f_g.commit(&ramm, CoSigners::Oracle);
    let g_cert = report("ramm stage 2 + gamma witness", &f_g, &ramm, &g_c, now);
    let (g_roots, _) = ale_verify::check_roots(&g_cert, &keys, &QUORUM).unwrap();

    let mut g = c.benchmark_group("certificate_ramm_10_positions");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    g.bench_function("verify_full", |b| {
        b.iter(|| ale_verify::verify(black_box(&cert), &keys, &QUORUM, now).unwrap())
    });
    g.bench_function("verify_full_venue_cosigned", |b| {
        b.iter(|| {
            ale_verify::verify(black_box(&cosigned.bytes), &keys, &QUORUM_COSIGNED, now).unwrap()
        })
    });
    g.bench_function("verify_against_checked_roots", |b| {
        b.iter(|| ale_verify::verify_against(black_box(&cert), &roots, 60, now).unwrap())
    });
    g.bench_function("stage2_verify_against_checked_roots", |b| {
        b.iter(|| ale_verify::verify_against(black_box(&s2_cert), &s2_roots, 60, now).unwrap())
    });
    g.bench_function("stage2_gamma_witness_verify_against_checked_roots", |b| {
        b.iter(|| ale_verify::verify_against(black_box(&g_cert), &g_roots, 60, now).unwrap())
    });
    g.bench_function("check_roots_only", |b| {
        b.iter(|| ale_verify::check_roots(black_box(&cert), &keys, &QUORUM).unwrap())
    });
    g.bench_function("engine_margin_standalone", |b| {
        b.iter(|| ramm.margin(black_box(&f.market), account).unwrap())
    });
    g.bench_function("verifier_arithmetic_full_grid", |b| {
        b.iter(|| ale_verify::ramm_full_grid(black_box(&cert)).unwrap())
    });
    g.bench_function("certify", |b| {
        b.iter(|| certify(&ramm, &f.market, &commitments, account, &keys, &QUORUM, now).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("certificate_other");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    g.bench_function("pm_verify_against_checked_roots", |b| {
        b.iter(|| ale_verify::verify_against(black_box(&pm_cert), &pm_roots, 60, now).unwrap())
    });
    g.bench_function("pm_engine_margin", |b| {
        b.iter(|| pm.margin(black_box(&f.market), account).unwrap())
    });
    g.bench_function("pm_verifier_arithmetic_every_scenario", |b| {
        b.iter(|| ale_verify::search(black_box(&pm_cert), &pm_list).unwrap())
    });
    g.bench_function("ramm_two_underlyings_verify_against_checked_roots", |b| {
        b.iter(|| ale_verify::verify_against(black_box(&two_cert), &two_roots, 60, now).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
