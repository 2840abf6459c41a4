//! Random liquidatable accounts under every policy (`pm` included), on one underlying and on
//! two (BTC and ETH, collateral in USDC, BTC and WETH): every certificate the engine emits
//! verifies and is at most 4 KiB; the verifier's bound never exceeds the engine's maintenance
//! margin (soundness of the one-witness-per-underlying argument, across the f64 / integer
//! boundary); the engine refuses nothing but a decision within the verifier's error bound
//! (`ramm` included: its stage 2 and gamma witness close the gap stage 1 leaves, see
//! `tests/stage2.rs`).

mod common;

use ale_certify::{CertPolicy, CertifyError};
use ale_core::{Account, AccountId, Amount, Asset, Instrument, Position};
use common::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const EXPIRIES: [&str; 5] = ["27NOV26", "4DEC26", "18DEC26", "26DEC26", "26MAR27"];

/// 1–`positions` positions on BTC (and ETH when `multi`): options over five expiries (one of
/// them unlisted), perps, and — except under `pm`, which has neither — dated futures and short
/// spot; collateral that moves with its underlying now and then.
pub fn random_account(
    rng: &mut ChaCha8Rng,
    id: usize,
    positions: usize,
    multi: bool,
    pm: bool,
) -> Account {
    let mut a = Account::new(AccountId::new(&format!("acct{id:03}")).unwrap());
    for _ in 0..positions {
        let eth = multi && rng.random::<bool>();
        let (u, spot) = if eth {
            ("ETH", 3_500.0)
        } else {
            ("BTC", 95_000.0)
        };
        let r: f64 = rng.random();
        let size = {
            let s: f64 = rng.random_range(0.1..8.0) * if eth { 10.0 } else { 1.0 };
            let s = (s * 10.0).round() / 10.0;
            if rng.random::<f64>() < 0.7 {
                -s
            } else {
                s
            }
        };
        let id = if r < 0.75 {
            let e = EXPIRIES[rng.random_range(0..EXPIRIES.len())];
            let step = if eth { 50.0 } else { 1000.0 };
            let k = (spot * rng.random_range(-0.35f64..0.35).exp() / step).round() * step;
            let cp = if rng.random::<bool>() { "C" } else { "P" };
            format!("{u}-{e}-{k}-{cp}")
        } else if r < 0.88 || pm && r < 0.96 {
            format!("{u}-PERP")
        } else if r < 0.96 {
            format!("{u}-26DEC26")
        } else {
            u.to_string()
        };
        let instrument = Instrument::parse(&id).unwrap();
        let entry = matches!(
            instrument,
            Instrument::Perpetual { .. } | Instrument::Future { .. }
        )
        .then(|| spot * rng.random_range(0.9..1.1));
        let size = if pm && matches!(instrument, Instrument::Spot { .. }) {
            size.abs()
        } else {
            size
        };
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
    if multi && rng.random::<f64>() < 0.3 {
        a.add_collateral(Asset::new("WETH").unwrap(), Amount::from_units(4))
            .unwrap();
    }
    a
}

#[test]
fn random_liquidatable_accounts_certify_and_verify_under_every_policy() {
    let m = market();
    let keys = Keys::new();
    let usdc = Asset::new("USDC").unwrap();
    for multi in [false, true] {
        for name in ["ramm", "static", "oracle-adjusted", "pm"] {
            let policy = CertPolicy::from_name(name, None).unwrap();
            let pm = name == "pm";
            let mut rng = ChaCha8Rng::seed_from_u64(20261126 + u64::from(multi));
            let mut accts = Vec::new();
            for i in 0..80 {
                let n = rng.random_range(1..=10);
                let mut a = random_account(&mut rng, i, n, multi, pm);
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
            let (mut certified, mut refused, mut largest, mut two) = (0, 0, 0, 0);
            // `ramm`: certificates that needed stage 2, a gamma witness, an extreme witness.
            let (mut stage2, mut gamma_w, mut extreme_w) = (0, 0, 0);
            for a in &accts {
                let mg = policy.margin(&m, a).unwrap();
                match ale_certify::certify(&policy, &m, &c, a, &keys.trusted(), &QUORUM, now(&m)) {
                    Ok(cert) => {
                        let v = ale_verify::verify(&cert.bytes, &keys.trusted(), &QUORUM, now(&m))
                            .unwrap();
                        assert!(cert.bytes.len() <= 4096, "{} bytes", cert.bytes.len());
                        largest = largest.max(cert.bytes.len());
                        if v.n_witnesses > 1 {
                            two += 1;
                        }
                        if v.stage == 2 {
                            stage2 += 1;
                        }
                        if v.witnesses()
                            .iter()
                            .any(|w| w.gamma != ale_verify::layout::NO_SCENARIO)
                        {
                            gamma_w += 1;
                        }
                        if name == "ramm" && v.witnesses().iter().any(|w| w.scenario >= 63) {
                            extreme_w += 1;
                        }
                        // Soundness across the f64 / integer boundary: what the verifier
                        // proves never exceeds what the engine finds, MM − equity.
                        let short = v.shortfall as f64 / 1e18;
                        let engine_short = mg.maintenance - mg.equity;
                        assert!(
                            short <= engine_short * (1.0 + 1e-9) + 1e-6,
                            "{name} {}: proved shortfall {short} > engine's {engine_short}",
                            a.id
                        );
                        if let CertPolicy::Ramm(rp) = &policy {
                            // The value at the witnesses against the engine's own tables:
                            // equity + Σ_u P&L_u(s*_u) from the f64 instrument × scenario
                            // tables.
                            let want = engine_value_at(&m, a, rp, v.witnesses());
                            let got = v.value as f64 / 1e18;
                            assert!(
                                (got - want).abs() <= 1e-9 * want.abs().max(mg.maintenance) + 1e-6,
                                "{} at {:?}: verifier {got}, engine {want}",
                                a.id,
                                v.witnesses()
                            );
                        } else {
                            // Exact policies, and pm at its binding witnesses: equity and MM.
                            let equity = v.value as f64 / 1e18;
                            assert!(
                                (equity - mg.equity).abs()
                                    <= 1e-9 * mg.equity.abs().max(1.0) + 1e-6,
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
                        // Only a decision within the error bound (about 1e-6 USD) is refused.
                        assert_eq!(
                            rejection.reason,
                            ale_verify::Reason::TooClose,
                            "{name} {}: {rejection}",
                            a.id
                        );
                        assert!(
                            mg.maintenance - mg.equity <= 1e-9 * mg.maintenance + 1e-5,
                            "{name} {}: refused {} short of MM",
                            a.id,
                            mg.maintenance - mg.equity
                        );
                        refused += 1;
                    }
                    Err(e) => panic!("{name} {}: {e}", a.id),
                }
            }
            eprintln!(
                "{name} ({}): {certified} certified ({two} with two witnesses; {stage2} by stage 2, {gamma_w} with a gamma witness, {extreme_w} at an extreme), {refused} refused (within the error bound); largest {largest} bytes",
                if multi { "BTC+ETH" } else { "BTC" }
            );
            assert!(
                certified >= accts.len() * 3 / 4,
                "{name}: {certified} of {}",
                accts.len()
            );
            if multi && name != "static" && name != "oracle-adjusted" {
                assert!(
                    two > accts.len() / 4,
                    "{name}: {two} two-witness certificates"
                );
            }
        }
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

/// equity + Σ_u P&L_u at each underlying's grid scenario (w·P&L_u at a weighted extreme), from
/// the engine's f64 tables.
fn engine_value_at(
    m: &ale_market::MarketSnapshot,
    a: &Account,
    p: &ale_risk::RammParams,
    witnesses: &[ale_verify::Witness],
) -> f64 {
    use ale_risk::table::{TableSpec, UnderlyingTable};
    let mut book = ale_risk::Book::new();
    let ix = book.upsert_account(a).unwrap();
    let mut pnl = 0.0;
    for w in witnesses {
        let name = String::from_utf8_lossy(&w.underlying)
            .trim_end_matches('\0')
            .to_string();
        let asset = Asset::new(&name).unwrap();
        let u = book.intern_underlying(&asset);
        let table = UnderlyingTable::build(
            TableSpec::Ramm(p),
            m.underlying(&asset).unwrap(),
            m.time(),
            m.rate(),
            1.0,
            book.rows(u).map(|l| &l.kind),
        )
        .unwrap();
        let n = table.n_scenarios;
        let idx = w.scenario as usize;
        let sc = table.scenarios()[idx];
        let s = sc.spot_move;
        let acct = book.account(ix);
        let mut pnl_u = 0.0;
        if let Some(span) = acct.spans.iter().find(|sp| sp.underlying == u) {
            for pos in &acct.positions[span.start as usize..span.end as usize] {
                pnl_u += pos.size * table.pnl[pos.row as usize * n + idx];
            }
        }
        // Collateral that moves with this underlying.
        for (c_asset, amount) in &a.collateral {
            if m.collateral_underlying(c_asset) == Some(&asset) {
                let c = m.collateral(c_asset).unwrap();
                pnl_u += amount.to_f64() * c.price * c.value_factor() * s;
            }
        }
        // A weighted extreme (stage 2) counts w·P&L (w = 0.33 by default; a defined-risk
        // exposure would count min(w, 1)·P&L).
        pnl += if sc.extreme { sc.weight * pnl_u } else { pnl_u };
    }
    let mg = ale_risk::margin_standalone(&ale_risk::Ramm { params: p.clone() }, m, a).unwrap();
    mg.equity + pnl
}

/// The verifier's `pm` bound at EVERY scenario of the list (and the basis floor), not only at
/// the binding one, against the engine's own scenario P&L: mm_factor·Σ_u max(0, −X_u) + C_MM
/// with X_u = PnL_u,j (or B_u) from `ale_risk::pm::evaluate_account`, on random one- and
/// two-underlying accounts, under both named parameter sets (skew, tail, `Down` and basis
/// witnesses included).
#[test]
fn pm_bound_at_every_scenario_matches_the_engine() {
    let m = market();
    let keys = Keys::new();
    let usdc = Asset::new("USDC").unwrap();
    for set in ["deribit-like", "derive-test"] {
        let policy = CertPolicy::from_name("pm", Some(&format!("set = \"{set}\""))).unwrap();
        let CertPolicy::Pm(pm) = &policy else {
            unreachable!()
        };
        let list = policy.scenario_leaves().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut accts = Vec::new();
        for i in 0..40 {
            let n = rng.random_range(1..=8);
            let mut a = random_account(&mut rng, i, n, i % 2 == 1, true);
            let mg = policy.margin(&m, &a).unwrap();
            if mg.maintenance <= 1.0 || mg.equity >= mg.maintenance * 0.99 {
                continue;
            }
            let cash = (mg.maintenance - mg.equity) * 0.5;
            a.add_collateral(
                usdc.clone(),
                Amount::from_f64(cash, ale_core::Rounding::Down).unwrap(),
            )
            .unwrap();
            accts.push(a);
        }
        let c = commit(&m, &accts, &policy, &keys);
        let mut compared = 0;
        for a in &accts {
            let cert = ale_certify::certify(&policy, &m, &c, a, &keys.trusted(), &QUORUM, now(&m))
                .unwrap();
            let eval =
                ale_risk::pm::evaluate_account(&pm.inputs(&m, a).unwrap(), &pm.config).unwrap();
            let mm_factor = pm.config.params.margin.mm_factor;
            let c_mm = eval.contingencies.mm_total();
            let p = ale_certify::decode(&cert.bytes).unwrap();
            assert_eq!(p.witnesses.len(), eval.underlyings.len());
            for (j, leaf) in list
                .iter()
                .enumerate()
                .map(|(j, l)| (Some(j), Some(*l)))
                .chain([(None, None)])
            {
                let mut q = p.clone();
                for w in &mut q.witnesses {
                    w.scenario = j.map_or(ale_verify::layout::BASIS, |j| j as u16);
                }
                q.witness_scenarios = leaf.into_iter().collect();
                let claim = match ale_verify::evaluate_claims(&ale_certify::encode(&q)) {
                    Ok(c) => c,
                    Err(r) => panic!("{} at {j:?}: {r}", a.id),
                };
                let loss: f64 = eval
                    .underlyings
                    .iter()
                    .map(|u| -(j.map_or(u.basis, |j| u.scenario_pnl[j])).min(0.0))
                    .sum();
                let want = mm_factor * loss + c_mm;
                let got = claim.requirement as f64 / 1e18;
                assert!(
                    (got - want).abs() <= 1e-9 * want.abs().max(1.0) + 1e-6,
                    "{set} {} at scenario {j:?}: verifier {got}, engine {want}",
                    a.id
                );
                // The bound never exceeds the engine's MM.
                assert!(got <= eval.report.maintenance_margin * (1.0 + 1e-9) + 1e-6);
                compared += 1;
            }
        }
        eprintln!(
            "pm {set}: {} accounts, {compared} (account, witness) pairs compared",
            accts.len()
        );
        assert!(compared > 20 * list.len());
    }
}

/// Every random `ramm` account of the test above (one and two underlyings), topped up to
/// within 1e-9 of its MM + 5e-6 USD (a few times the ~1e-6 USD error budget): certified,
/// proving no more than the engine's shortfall. Stage 1 (the witnesses alone) lacks the delta
/// term and the marks' slippage of an underlying with options, the weighted extremes and the
/// gamma charge of another grid scenario than the loss witness; stage 2 and the gamma witness
/// supply them. Before stage 2, every one of these accounts whose equity lay between the
/// stage-1 bound and MM was refused (5 of 63 and 2 of 65 at the test above's random top-ups).
#[test]
fn ramm_certifies_every_account_a_hair_below_its_margin() {
    let m = market();
    let keys = Keys::new();
    let usdc = Asset::new("USDC").unwrap();
    let policy = CertPolicy::from_name("ramm", None).unwrap();
    for multi in [false, true] {
        let mut rng = ChaCha8Rng::seed_from_u64(20261126 + u64::from(multi));
        let mut accts = Vec::new();
        for i in 0..80 {
            let n = rng.random_range(1..=10);
            let mut a = random_account(&mut rng, i, n, multi, false);
            let mg = policy.margin(&m, &a).unwrap();
            if mg.maintenance <= 1.0 || mg.equity >= mg.maintenance * 0.999 {
                continue;
            }
            // The share the test above draws: the same accounts as its `ramm` ones.
            let _: f64 = rng.random_range(0.0..0.999);
            let cash = mg.maintenance - mg.equity - (1e-9 * mg.maintenance + 5e-6);
            a.add_collateral(
                usdc.clone(),
                Amount::from_f64(cash, ale_core::Rounding::Down).unwrap(),
            )
            .unwrap();
            accts.push(a);
        }
        let c = commit(&m, &accts, &policy, &keys);
        let mut stages = [0usize; 3];
        let mut with_gamma = 0;
        let mut extremes = 0;
        for a in &accts {
            let mg = policy.margin(&m, a).unwrap();
            let cert =
                match ale_certify::certify(&policy, &m, &c, a, &keys.trusted(), &QUORUM, now(&m)) {
                    Ok(cert) => cert,
                    Err(e) => panic!(
                        "{}: {} short of MM {}: {e}",
                        a.id,
                        mg.maintenance - mg.equity,
                        mg.maintenance
                    ),
                };
            let v = cert.verdict;
            let short = v.shortfall as f64 / 1e18;
            assert!(
                short <= (mg.maintenance - mg.equity) * (1.0 + 1e-9) + 1e-6,
                "{}: proved {short} > {}",
                a.id,
                mg.maintenance - mg.equity
            );
            stages[v.stage as usize] += 1;
            if v.witnesses()
                .iter()
                .any(|w| w.gamma != ale_verify::layout::NO_SCENARIO)
            {
                with_gamma += 1;
            }
            if v.witnesses().iter().any(|w| w.scenario >= 63) {
                extremes += 1;
            }
        }
        eprintln!(
            "ramm ({}): {} accounts a hair below MM all certified: stage 1 {}, stage 2 {} ({with_gamma} with a gamma witness, {extremes} at an extreme)",
            if multi { "BTC+ETH" } else { "BTC" },
            accts.len(),
            stages[1],
            stages[2]
        );
    }
}
