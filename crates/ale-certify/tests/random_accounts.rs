//! Random liquidatable accounts under every policy: every certificate the engine emits
//! verifies; the verifier's bound never exceeds the engine's maintenance margin (soundness of
//! the one-scenario argument, across the f64 / integer boundary); the engine refuses only
//! where equity sits between the best single-scenario bound and the margin.

mod common;

use ale_certify::{CertPolicy, CertifyError};
use ale_core::{Account, AccountId, Amount, Asset, Instrument, Position};
use common::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const EXPIRIES: [&str; 5] = ["27NOV26", "4DEC26", "18DEC26", "26DEC26", "26MAR27"];

pub fn random_account(rng: &mut ChaCha8Rng, id: usize, positions: usize) -> Account {
    let mut a = Account::new(AccountId::new(&format!("acct{id:03}")).unwrap());
    for _ in 0..positions {
        let r: f64 = rng.random();
        let size = {
            let s: f64 = rng.random_range(0.1..8.0);
            let s = (s * 10.0).round() / 10.0;
            if rng.random::<f64>() < 0.7 {
                -s
            } else {
                s
            }
        };
        let id = if r < 0.75 {
            let e = EXPIRIES[rng.random_range(0..EXPIRIES.len())];
            let k = (95_000.0 * rng.random_range(-0.35f64..0.35).exp() / 1000.0).round() * 1000.0;
            let cp = if rng.random::<bool>() { "C" } else { "P" };
            format!("BTC-{e}-{k}-{cp}")
        } else if r < 0.88 {
            "BTC-PERP".to_string()
        } else if r < 0.96 {
            "BTC-26DEC26".to_string()
        } else {
            "BTC".to_string()
        };
        let instrument = Instrument::parse(&id).unwrap();
        let entry = matches!(
            instrument,
            Instrument::Perpetual { .. } | Instrument::Future { .. }
        )
        .then(|| 95_000.0 * rng.random_range(0.9..1.1));
        a.add_position(Position {
            instrument,
            size,
            entry_price: entry,
        });
    }
    if rng.random::<f64>() < 0.3 {
        a.add_collateral(Asset::new("BTC").unwrap(), Amount::from_units(1))
            .unwrap();
    }
    a
}

#[test]
fn random_liquidatable_accounts_certify_and_verify_under_every_policy() {
    let m = market();
    let keys = Keys::new();
    let usdc = Asset::new("USDC").unwrap();
    for name in ["ramm", "static", "oracle-adjusted"] {
        let policy = CertPolicy::from_name(name, None).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(20261126);
        let mut accts = Vec::new();
        for i in 0..80 {
            let n = rng.random_range(1..=10);
            let mut a = random_account(&mut rng, i, n);
            let mg = policy.margin(&m, &a).unwrap();
            if mg.maintenance <= 1.0 || mg.equity >= mg.maintenance * 0.999 {
                continue;
            }
            // Cash that leaves equity a random share of the way below the margin.
            let u: f64 = rng.random_range(0.0..0.999);
            let cash = (mg.maintenance - mg.equity) * u;
            if cash > 0.0 {
                a.add_collateral(
                    usdc.clone(),
                    Amount::from_f64(cash, ale_core::Rounding::Down).unwrap(),
                )
                .unwrap();
            }
            accts.push(a);
        }
        let c = commit(&m, &accts, &policy, &keys);
        let (mut certified, mut refused) = (0, 0);
        for a in &accts {
            let mg = policy.margin(&m, a).unwrap();
            match ale_certify::certify(&policy, &m, &c, a, &keys.trusted(), &QUORUM, now(&m)) {
                Ok(cert) => {
                    let v =
                        ale_verify::verify(&cert.bytes, &keys.trusted(), &QUORUM, now(&m)).unwrap();
                    assert!(cert.bytes.len() <= 4096, "{} bytes", cert.bytes.len());
                    // Soundness across the f64 / integer boundary: what the verifier proves
                    // never exceeds what the engine finds, MM − equity.
                    let short = v.shortfall as f64 / 1e18;
                    let engine_short = mg.maintenance - mg.equity;
                    assert!(
                        short <= engine_short * (1.0 + 1e-9) + 1e-6,
                        "{name} {}: proved shortfall {short} > engine's {engine_short}",
                        a.id
                    );
                    if let CertPolicy::Ramm(rp) = &policy {
                        // The value at the witness against the engine's own table: equity +
                        // P&L(s*) from the f64 instrument × scenario table.
                        let want = engine_value_at(&m, a, rp, v.scenario as usize);
                        let got = v.value as f64 / 1e18;
                        assert!(
                            (got - want).abs() <= 1e-9 * want.abs().max(mg.maintenance) + 1e-6,
                            "{} at scenario {}: verifier {got}, engine {want}",
                            a.id,
                            v.scenario
                        );
                    }
                    if name != "ramm" {
                        let equity = v.value as f64 / 1e18;
                        assert!(
                            (equity - mg.equity).abs() <= 1e-9 * mg.equity.abs().max(1.0) + 1e-6,
                            "{name} {}: equity {equity} vs {}",
                            a.id,
                            mg.equity
                        );
                        let mm = v.requirement as f64 / 1e18;
                        assert!(
                            (mm - mg.maintenance).abs() <= 1e-9 * mg.maintenance + 1e-6,
                            "{name} {}: MM {mm} vs {}",
                            a.id,
                            mg.maintenance
                        );
                    }
                    certified += 1;
                }
                Err(CertifyError::Refused { rejection, .. }) => {
                    // Only ramm can fail to prove with one scenario; static ones are exact.
                    assert_eq!(name, "ramm", "{}: {rejection}", a.id);
                    assert_eq!(
                        rejection.reason,
                        ale_verify::Reason::NotLiquidatable,
                        "{}: {rejection}",
                        a.id
                    );
                    refused += 1;
                }
                Err(e) => panic!("{name} {}: {e}", a.id),
            }
        }
        eprintln!("{name}: {certified} certified, {refused} refused (equity between the best one-scenario bound and MM)");
        assert!(
            certified >= accts.len() * 3 / 4,
            "{name}: {certified} of {}",
            accts.len()
        );
    }
}

#[test]
fn the_verifier_rebuilds_the_engines_grid_in_the_engines_order() {
    let p = ale_risk::RammParams::default();
    let g = ale_risk::RammGrid::with_sigma_ref(&p, 0.55);
    let steps = i128::from(p.spot_steps);
    assert_eq!(g.scenarios.len(), 3 * p.spot_steps as usize + 2);
    for (idx, s) in g.scenarios.iter().enumerate() {
        let (step, dir, extreme) = ale_verify::eval::grid_scenario(steps, idx).unwrap();
        assert_eq!(dir.name(), s.vol.name(), "scenario {idx}");
        assert_eq!(extreme, s.extreme, "scenario {idx}");
        let want = if extreme {
            step as f64 * p.extreme_multiple * g.range
        } else {
            g.range * step as f64 / (steps / 2) as f64
        };
        assert!(
            (s.spot_move - want.max(-p.max_down_move)).abs() < 1e-15,
            "scenario {idx}"
        );
    }
    assert!(ale_verify::eval::grid_scenario(steps, g.scenarios.len()).is_none());
}

/// equity + P&L at grid scenario `idx`, from the engine's f64 table.
fn engine_value_at(
    m: &ale_market::MarketSnapshot,
    a: &Account,
    p: &ale_risk::RammParams,
    idx: usize,
) -> f64 {
    use ale_risk::table::{TableSpec, UnderlyingTable};
    let mut book = ale_risk::Book::new();
    let ix = book.upsert_account(a).unwrap();
    let btc = Asset::new("BTC").unwrap();
    let u = book.intern_underlying(&btc);
    let table = UnderlyingTable::build(
        TableSpec::Ramm(p),
        m.underlying(&btc).unwrap(),
        m.time(),
        m.rate(),
        1.0,
        book.rows(u).map(|l| &l.kind),
    )
    .unwrap();
    let n = table.n_scenarios;
    let s = table.scenarios()[idx].spot_move;
    let mut pnl = 0.0;
    for pos in &book.account(ix).positions {
        pnl += pos.size * table.pnl[pos.row as usize * n + idx];
    }
    // BTC collateral moves with BTC.
    for (asset, amount) in &a.collateral {
        if *asset == btc {
            let c = m.collateral(asset).unwrap();
            pnl += amount.to_f64() * c.price * c.value_factor() * s;
        }
    }
    let mg = ale_risk::margin_standalone(&ale_risk::Ramm { params: p.clone() }, m, a).unwrap();
    mg.equity + pnl
}
