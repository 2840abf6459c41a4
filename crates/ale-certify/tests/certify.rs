//! Certificates end to end: built by the engine, checked by the verifier; every field of a
//! valid certificate (every policy, multi-underlying accounts, both signing set-ups) flipped,
//! truncated or swapped is rejected naming it; forged and short quorums, stale snapshots,
//! proofs for another account, witnesses outside the policy, and decisions within the error
//! bound are rejected.

mod common;

use ale_certify::{decode, encode, json, CertPolicy, CertifyError, CoSigners};
use ale_verify::layout::{Witness, BASIS};
use ale_verify::{verify, Quorum, Reason};
use common::*;

const POLICIES: [&str; 4] = ["ramm", "static", "oracle-adjusted", "pm"];

#[test]
fn ramm_certificate_verifies_and_round_trips_through_json() {
    let m = market();
    let accts = accounts(SHORT_BOOK);
    let keys = Keys::new();
    let policy = CertPolicy::from_name("ramm", None).unwrap();
    let cert = certify_one(&m, &accts, 0, &policy, &keys).unwrap();
    let v = verify(&cert.bytes, &keys.trusted(), &QUORUM, now(&m)).unwrap();
    assert_eq!(v.account_id(), "alice");
    assert!(v.shortfall > v.error);
    assert_eq!(v.shortfall, v.requirement - v.value);
    assert_eq!(v.cost.sig_checks, 2, "k = 2 signatures, one message");
    eprintln!(
        "ramm cert: {} bytes, value {} requirement {} error {} gas {:?} total {}",
        cert.bytes.len(),
        v.value,
        v.requirement,
        v.error,
        v.cost,
        v.cost.total()
    );
    let j = json::to_json(&cert.bytes, Some(&cert.engine)).unwrap();
    let back = json::from_json(&j).unwrap();
    assert_eq!(back, cert.bytes);
    assert_eq!(encode(&decode(&cert.bytes).unwrap()), cert.bytes);
    // A healthy account is refused.
    match certify_one(&m, &accts, 1, &policy, &keys) {
        Err(CertifyError::NotLiquidatable { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_policy_certifies_accounts_on_several_underlyings() {
    let m = market();
    let accts = accounts(MULTI_BOOK);
    let keys = Keys::new();
    for name in POLICIES {
        let policy = CertPolicy::from_name(name, None).unwrap();
        let mg = policy.margin(&m, &accts[0]).unwrap();
        let cert = certify_one(&m, &accts, 0, &policy, &keys)
            .unwrap_or_else(|e| panic!("{name}: {e} (engine {mg:?})"));
        let v = verify(&cert.bytes, &keys.trusted(), &QUORUM, now(&m)).unwrap();
        // ramm and pm: one witness per underlying (BTC, ETH: positions and moving collateral).
        let names: Vec<String> = v
            .witnesses()
            .iter()
            .map(|w| {
                String::from_utf8_lossy(&w.underlying)
                    .trim_end_matches('\0')
                    .to_string()
            })
            .collect();
        if name == "ramm" || name == "pm" {
            assert_eq!(names, ["BTC", "ETH"], "{name}");
        } else {
            assert!(names.is_empty(), "{name}");
        }
        let short = v.shortfall as f64 / 1e18;
        assert!(
            short <= (mg.maintenance - mg.equity) * (1.0 + 1e-9) + 1e-6,
            "{name}: proved {short}, engine {}",
            mg.maintenance - mg.equity
        );
        if name != "ramm" {
            // Exact policies (and pm at its binding witnesses): the engine's numbers.
            let eq = v.value as f64 / 1e18;
            let mm = v.requirement as f64 / 1e18;
            assert!(
                (eq - mg.equity).abs() <= 1e-9 * mg.equity.abs().max(1.0) + 1e-6,
                "{name}: equity {eq} vs {}",
                mg.equity
            );
            assert!(
                (mm - mg.maintenance).abs() <= 1e-9 * mg.maintenance + 1e-6,
                "{name}: MM {mm} vs {}",
                mg.maintenance
            );
        }
        let j = json::to_json(&cert.bytes, Some(&cert.engine)).unwrap();
        assert_eq!(json::from_json(&j).unwrap(), cert.bytes, "{name}");
        assert!(
            cert.bytes.len() <= 4096,
            "{name}: {} bytes",
            cert.bytes.len()
        );
        eprintln!(
            "{name} multi-underlying: {} bytes, {} witnesses, shortfall {short:.2}, gas {}",
            cert.bytes.len(),
            v.n_witnesses,
            v.cost.total()
        );
    }
}

#[test]
fn pm_certificate_matches_the_engine_at_its_binding_scenarios() {
    let m = market();
    let keys = Keys::new();
    let policy = CertPolicy::from_name("pm", None).unwrap();
    for book in [SHORT_BOOK, MULTI_BOOK] {
        let accts = accounts(book);
        let mg = policy.margin(&m, &accts[0]).unwrap();
        let cert = certify_one(&m, &accts, 0, &policy, &keys).unwrap();
        let v = cert.verdict;
        let eq = v.value as f64 / 1e18;
        let mm = v.requirement as f64 / 1e18;
        assert!((eq - mg.equity).abs() <= 1e-9 * mg.equity.abs().max(1.0) + 1e-6);
        assert!(
            (mm - mg.maintenance).abs() <= 1e-9 * mg.maintenance + 1e-6,
            "MM {mm} vs engine {}",
            mg.maintenance
        );
        let p = decode(&cert.bytes).unwrap();
        assert_eq!(p.scenarios.unwrap().0, 33, "deribit-like: 33 scenarios");
        eprintln!(
            "pm: {} bytes, witnesses {:?}, engine {:?}, error {}",
            cert.bytes.len(),
            p.witnesses,
            cert.engine.witnesses,
            v.error
        );
    }
}

fn spans(bytes: &[u8]) -> Vec<(&'static str, usize, usize)> {
    let mut out = Vec::new();
    let mut rec = |name: &'static str, a: usize, b: usize| out.push((name, a, b));
    ale_verify::layout::parse_with(ale_verify::layout::Cursor::with_spans(bytes, &mut rec))
        .unwrap();
    out
}

/// The words a rejection of a tampered `field` may name: the field itself or the signed
/// message / proof it belongs to.
fn names_field(field: &str, msg: &str) -> bool {
    let top = field.split('.').next().unwrap_or(field);
    match top {
        "magic" | "version" | "policy" | "reserved" | "time" => msg.contains(field),
        "params_hash" | "params" => msg.contains("params"),
        "scenarios" => msg.contains("scenarios"),
        "market" => msg.contains("market"),
        "state" => msg.contains("state"),
        "signatures" => msg.contains("signatures"),
        "account" => msg.contains("account"),
        "witness" | "witness_scenarios" => msg.contains("witness"),
        "claimed_value" => msg.contains("claimed_value"),
        "claimed_requirement" => msg.contains("claimed_requirement"),
        _ => false,
    }
}

/// Every bit-flip of one byte of every field, truncation at every byte, one byte too many.
fn flips_truncations(label: &str, b: &[u8], keys: &Keys, q: &Quorum, t: i64) -> usize {
    let sp = spans(b);
    let mut checked = 0;
    for (field, start, end) in &sp {
        for at in *start..*end {
            let bit = (at % 8) as u8;
            let mut x = b.to_vec();
            x[at] ^= 1 << bit;
            let e = verify(&x, &keys.trusted(), q, t).expect_err(&format!(
                "{label}: flip of {field} byte {at} bit {bit} accepted"
            ));
            let msg = e.to_string();
            assert!(
                names_field(field, &msg),
                "{label}: flip of {field} (byte {at}) rejected as '{msg}', which does not name it"
            );
            checked += 1;
        }
    }
    for cut in 0..b.len() {
        let e = verify(&b[..cut], &keys.trusted(), q, t).unwrap_err();
        assert_eq!(e.reason, Reason::Truncated, "{label}: cut at {cut}: {e}");
        let (field, _, _) = sp.iter().find(|(_, s, e)| *s <= cut && cut < *e).unwrap();
        assert_eq!(e.field, *field, "{label}: cut at {cut}");
    }
    let mut long = b.to_vec();
    long.push(0);
    assert_eq!(
        verify(&long, &keys.trusted(), q, t).unwrap_err().reason,
        Reason::TrailingBytes
    );
    eprintln!(
        "{label}: {} fields, {checked} flips rejected naming the field",
        sp.len()
    );
    checked
}

#[test]
fn every_field_flipped_or_truncated_is_rejected_naming_it() {
    let m = market();
    let keys = Keys::new();
    let t = now(&m);
    for (book, label) in [(SHORT_BOOK, "BTC"), (MULTI_BOOK, "BTC+ETH")] {
        let accts = accounts(book);
        for name in POLICIES {
            let policy = CertPolicy::from_name(name, None).unwrap();
            let cert = certify_one(&m, &accts, 0, &policy, &keys).unwrap();
            let sp = spans(&cert.bytes);
            assert!(sp.len() > 30, "{name}: {} fields", sp.len());
            if name == "pm" {
                for f in [
                    "scenarios.root",
                    "witness_scenarios.spot_shock",
                    "witness.scenario",
                ] {
                    assert!(sp.iter().any(|s| s.0 == f), "pm certificate without {f}");
                }
            }
            flips_truncations(&format!("{name} {label}"), &cert.bytes, &keys, &QUORUM, t);
        }
    }
    // Format v3: a `ramm` certificate naming a gamma witness (the ten-position account a
    // hair below its margin).
    let policy = CertPolicy::from_name("ramm", None).unwrap();
    let a = topped_up(&m, TEN_BOOK, &policy, 0.999);
    let cert = certify_alone(&m, &a, &policy, &keys).unwrap();
    assert_eq!(u16::from_le_bytes([cert.bytes[4], cert.bytes[5]]), 3);
    assert!(spans(&cert.bytes).iter().any(|s| s.0 == "witness.gamma"));
    flips_truncations("ramm v3 (gamma witness)", &cert.bytes, &keys, &QUORUM, t);
    // The venue co-signed form (2k signatures, venue keys flagged in the key byte).
    let accts = accounts(MULTI_BOOK);
    let policy = CertPolicy::from_name("pm", None).unwrap();
    let c = commit_with(&m, &accts, &policy, &keys, CoSigners::OracleAndVenue);
    let cert = ale_certify::certify(
        &policy,
        &m,
        &c,
        &accts[0],
        &keys.trusted(),
        &QUORUM_WITH_VENUE,
        t,
    )
    .unwrap();
    assert_eq!(cert.verdict.cost.sig_checks, 4);
    flips_truncations("pm co-signed", &cert.bytes, &keys, &QUORUM_WITH_VENUE, t);
}

#[test]
fn swapped_fields_are_rejected() {
    let m = market();
    let keys = Keys::new();
    let check = |q: &ale_certify::Parts, want: &str| {
        let e = verify(&encode(q), &keys.trusted(), &QUORUM, now(&m)).unwrap_err();
        assert!(e.to_string().contains(want), "want '{want}', got '{e}'");
    };
    let policy = CertPolicy::from_name("ramm", None).unwrap();
    let cert = certify_one(&m, &accounts(SHORT_BOOK), 0, &policy, &keys).unwrap();
    let p = decode(&cert.bytes).unwrap();
    // Signatures in the other order.
    let mut q = p.clone();
    q.sigs.swap(0, 1);
    check(&q, "signatures.key");
    // Market and state commitments swapped.
    let mut q = p.clone();
    std::mem::swap(&mut q.market, &mut q.state);
    check(&q, "market");
    // Two leaves swapped (records under each other's index).
    let mut q = p.clone();
    let (r0, r1) = (q.leaves[0].1, q.leaves[1].1);
    q.leaves[0].1 = r1;
    q.leaves[1].1 = r0;
    check(&q, "market.leaves");
    // Leaf order swapped.
    let mut q = p.clone();
    q.leaves.swap(0, 1);
    check(&q, "market.leaves.index");
    // Two proof hashes swapped.
    let mut q = p.clone();
    q.market_proof.swap(0, 1);
    check(&q, "market.leaves / market.proof");
    let mut q = p.clone();
    q.account_proof.swap(0, 1);
    check(&q, "account");
    // Claims swapped.
    let mut q = p.clone();
    std::mem::swap(&mut q.claimed_value, &mut q.claimed_requirement);
    check(&q, "claimed_value");
    // Multi-underlying: witnesses swapped, or their scenarios swapped between underlyings.
    for name in ["ramm", "pm"] {
        let policy = CertPolicy::from_name(name, None).unwrap();
        let cert = certify_one(&m, &accounts(MULTI_BOOK), 0, &policy, &keys).unwrap();
        let p = decode(&cert.bytes).unwrap();
        assert_eq!(p.witnesses.len(), 2);
        let mut q = p.clone();
        q.witnesses.swap(0, 1);
        check(&q, "witness.underlying");
        let mut q = p.clone();
        let (a, b) = (q.witnesses[0].scenario, q.witnesses[1].scenario);
        if a != b {
            q.witnesses[0].scenario = b;
            q.witnesses[1].scenario = a;
            check(&q, "claimed");
        }
        // One underlying left out: its positions are not covered.
        let mut q = p.clone();
        q.witnesses.pop();
        q.witness_scenarios
            .retain(|l| q.witnesses.iter().any(|w| w.scenario == l.index));
        check(&q, "witness");
    }
}

#[test]
fn forged_or_short_quorums_stale_snapshots_and_foreign_proofs_are_rejected() {
    let m = market();
    let accts = accounts(SHORT_BOOK);
    let keys = Keys::new();
    let policy = CertPolicy::from_name("ramm", None).unwrap();
    let commitments = commit(&m, &accts, &policy, &keys);
    let cert = ale_certify::certify(
        &policy,
        &m,
        &commitments,
        &accts[0],
        &keys.trusted(),
        &QUORUM,
        now(&m),
    )
    .unwrap();
    let p = decode(&cert.bytes).unwrap();
    let t = now(&m);
    let reject = |q: &ale_certify::Parts, now: i64| {
        verify(&encode(q), &keys.trusted(), &QUORUM, now).unwrap_err()
    };

    // Forged: signed by keys the verifier does not trust, claiming trusted indices.
    let impostors = ale_oracle::dev_keys("impostor", 3);
    let mut q = p.clone();
    let forged = commitments
        .roots
        .clone()
        .sign(&[(0, &impostors[0]), (1, &impostors[1])], &[]);
    q.sigs = forged.sigs.clone();
    let e = reject(&q, t);
    assert_eq!(e.reason, Reason::BadSignature, "{e}");
    // Forged: a whole snapshot with another root.
    let mut q = p.clone();
    q.market.root[0] ^= 0xff;
    assert_eq!(reject(&q, t).reason, Reason::BadSignature);
    // ... or another account state.
    let mut q = p.clone();
    q.state.root[0] ^= 0xff;
    assert_eq!(reject(&q, t).reason, Reason::BadSignature);
    // Short: one good signature where two are needed.
    let mut q = p.clone();
    q.sigs.truncate(1);
    assert_eq!(
        reject(&q, t).reason,
        Reason::ShortQuorum { have: 1, need: 2 }
    );
    // A verifier that wants the venue's signatures too rejects an oracle-signed certificate.
    let e = verify(&cert.bytes, &keys.trusted(), &QUORUM_WITH_VENUE, t).unwrap_err();
    assert_eq!(e.reason, Reason::ShortQuorum { have: 0, need: 2 }, "{e}");
    assert!(e.field.contains("venue"), "{e}");
    // An oracle quorum of 0 is not a quorum.
    let zero = Quorum {
        oracle: 0,
        ..QUORUM
    };
    assert!(verify(&cert.bytes, &keys.trusted(), &zero, t).is_err());
    // Venue keys do not stand in for oracle keys: the venue's signatures alone are short.
    let mut q = p.clone();
    q.sigs = commitments
        .roots
        .clone()
        .sign(&[], &[(0, &keys.venue[0]), (1, &keys.venue[1])])
        .sigs;
    assert_eq!(
        reject(&q, t).reason,
        Reason::ShortQuorum { have: 0, need: 2 }
    );
    // The same key twice does not make a quorum.
    let mut q = p.clone();
    q.sigs[1] = q.sigs[0];
    assert!(reject(&q, t).to_string().contains("strictly increasing"));
    // A key index outside the trusted list.
    let mut q = p.clone();
    q.sigs[1].0 = 9;
    assert_eq!(reject(&q, t).reason, Reason::Untrusted);
    // Stale, and from the future.
    let e = verify(&cert.bytes, &keys.trusted(), &QUORUM, t + 3600).unwrap_err();
    assert_eq!(e.field, "market.time");
    assert!(
        matches!(
            e.reason,
            Reason::Stale {
                age_s: 3605,
                max_age_s: 60
            }
        ),
        "{e}"
    );
    let e = verify(
        &cert.bytes,
        &keys.trusted(),
        &QUORUM,
        m.time().unix_seconds() - 1,
    )
    .unwrap_err();
    assert!(e.to_string().contains("from the future"), "{e}");
    // A proof for another account: carol's record, index and proof in alice's certificate.
    let (ci, crec) = commitments.state.account("carol").unwrap();
    let mut q = p.clone();
    q.account_proof = commitments.state.proof(ci);
    let e = reject(&q, t);
    assert_eq!(e.reason, Reason::ProofMismatch, "{e}");
    assert!(e.field.contains("account"));
    let mut q = p.clone();
    q.account_index = ci as u32;
    assert_eq!(reject(&q, t).reason, Reason::ProofMismatch);
    // Carol's whole leaf (record, index, proof) proves carol, not alice: her positions are
    // on ETH, which alice's witnesses (and leaves) do not cover.
    let mut q = p.clone();
    q.account = crec.to_vec();
    q.account_index = ci as u32;
    q.account_proof = commitments.state.proof(ci);
    let e = reject(&q, t);
    assert!(e.field.contains("witness"), "{e}");
    // A witness scenario outside the policy's list.
    let mut q = p.clone();
    q.witnesses[0].scenario = 65;
    let e = reject(&q, t);
    assert_eq!(e.reason, Reason::NotInPolicy, "{e}");
    let mut q = p.clone();
    q.witnesses[0].scenario = u16::MAX;
    assert_eq!(reject(&q, t).reason, Reason::NotInPolicy);
    // Another scenario of the list does not match the claimed bound.
    let mut q = p.clone();
    q.witnesses[0].scenario = (q.witnesses[0].scenario + 1) % 65;
    assert_eq!(reject(&q, t).reason, Reason::Mismatch);
    // No witness at all.
    let mut q = p.clone();
    q.witnesses.clear();
    assert!(reject(&q, t).field.contains("witness"));
    // A static certificate with a witness.
    let st = CertPolicy::from_name("static", None).unwrap();
    let sc = certify_one(&m, &accts, 0, &st, &keys).unwrap();
    let mut q = decode(&sc.bytes).unwrap();
    q.witnesses
        .push(Witness::new(*b"BTC\0\0\0\0\0\0\0\0\0\0\0\0\0", 3));
    assert_eq!(reject(&q, t).field, "witness");
    // Parameters other than the ones the venue signed: the hash must change, and then the
    // signatures do not cover it.
    let mut q = p.clone();
    q.params[0] += 1;
    assert!(reject(&q, t).field.contains("params"));
    q.params_hash =
        ale_verify::params_hash(ale_verify::Policy::Ramm, &q.params, &mut Default::default());
    let e = reject(&q, t);
    assert_eq!(e.reason, Reason::BadSignature, "{e}");
    assert!(e.to_string().contains("params_hash"));
}

#[test]
fn pm_witnesses_must_be_scenarios_of_the_signed_list() {
    let m = market();
    let accts = accounts(MULTI_BOOK);
    let keys = Keys::new();
    let t = now(&m);
    let policy = CertPolicy::from_name("pm", None).unwrap();
    let cert = certify_one(&m, &accts, 0, &policy, &keys).unwrap();
    let p = decode(&cert.bytes).unwrap();
    let reject =
        |q: &ale_certify::Parts| verify(&encode(q), &keys.trusted(), &QUORUM, t).unwrap_err();
    let scen = p
        .witnesses
        .iter()
        .position(|w| w.scenario != BASIS)
        .expect("a scenario witness");
    // A harsher scenario than the list has (spot −50 %), with the claims recomputed.
    let mut q = p.clone();
    q.witness_scenarios[0].spot_shock = 500_000_000_000_000_000;
    let e = reject(&q);
    assert_eq!(e.reason, Reason::ProofMismatch, "{e}");
    assert!(e.field.contains("scenarios.root"), "{e}");
    // A scenario index the witnesses do not carry.
    let mut q = p.clone();
    q.witnesses[scen].scenario = 32;
    if !q.witness_scenarios.iter().any(|l| l.index == 32) {
        let e = reject(&q);
        assert!(e.field.contains("witness"), "{e}");
    }
    // An index beyond the list's length.
    let mut q = p.clone();
    q.witnesses[scen].scenario = 40;
    assert!(reject(&q).field.contains("witness"));
    // Another list: the parameter hash no longer matches, and re-hashed it is not signed.
    let mut q = p.clone();
    let (n, mut root) = q.scenarios.unwrap();
    root[0] ^= 1;
    q.scenarios = Some((n, root));
    assert!(reject(&q).field.contains("params_hash"));
    q.params_hash = ale_verify::params_hash_with(
        ale_verify::Policy::Pm,
        &q.params,
        q.scenarios,
        &mut Default::default(),
    );
    assert_eq!(reject(&q).reason, Reason::BadSignature);
    // A scenario leaf that no witness names.
    if p.witness_scenarios.len() == 1 && p.witnesses.iter().any(|w| w.scenario == BASIS) {
        let mut q = p.clone();
        for w in &mut q.witnesses {
            w.scenario = BASIS;
        }
        assert!(reject(&q).field.contains("witness_scenarios"));
    }
    // The basis floor as a witness is also a valid bound (here weaker): claims must match it.
    let mut q = p.clone();
    q.witnesses[scen].scenario = BASIS;
    q.witness_scenarios.clear();
    q.scenario_proof.clear();
    q.witness_scenarios = p
        .witness_scenarios
        .iter()
        .filter(|l| q.witnesses.iter().any(|w| w.scenario == l.index))
        .copied()
        .collect();
    if q.witness_scenarios.is_empty() {
        let claim = ale_verify::evaluate_claims(&encode(&q)).unwrap();
        assert!(claim.requirement <= cert.verdict.requirement);
        assert_eq!(reject(&q).reason, Reason::Mismatch);
    }
}

#[test]
fn a_decision_within_the_error_bound_is_refused_and_rejected() {
    let m = market();
    let keys = Keys::new();
    for (book, who) in [(SHORT_BOOK, "alice"), (MULTI_BOOK, "dora")] {
        for name in POLICIES {
            let policy = CertPolicy::from_name(name, None).unwrap();
            let mut accts = accounts(book);
            let mut cert = certify_one(&m, &accts, 0, &policy, &keys).unwrap();
            let usdc = ale_core::Asset::new("USDC").unwrap();
            // Top up the USDC by the shortfall less half the error: still liquidatable, but by
            // less than the error bound. Under `ramm` a stage-1 certificate's shortfall is not
            // the most the verifier proves: the top-up leaves stage 2 to prove the rest (with
            // other witnesses, maybe a gamma witness), so top up again until nothing is left
            // but half an error.
            let mut rounds = 0;
            let (c, rejection) = loop {
                let v = cert.verdict;
                let top_up_nano = (v.shortfall - v.error / 2) / 1_000_000_000;
                accts[0]
                    .add_collateral(usdc.clone(), ale_core::Amount::from_raw(top_up_nano))
                    .unwrap();
                let c = commit(&m, &accts, &policy, &keys);
                match ale_certify::certify(
                    &policy,
                    &m,
                    &c,
                    &accts[0],
                    &keys.trusted(),
                    &QUORUM,
                    now(&m),
                ) {
                    Ok(next) => {
                        // Stage 2 proves more than stage 1, and a gamma witness more still.
                        assert!(
                            name == "ramm" && next.verdict.stage == 2,
                            "{name} {who}: certified after the top-up: {:?}",
                            next.verdict
                        );
                        cert = next;
                    }
                    Err(CertifyError::Refused { rejection, .. }) => break (c, rejection),
                    other => panic!("{name} {who}: {other:?}"),
                }
                rounds += 1;
                assert!(rounds < 4, "{name} {who}: {rounds} top-ups");
            };
            assert_eq!(rejection.reason, Reason::TooClose, "{name}: {rejection}");
            // The same certificate built by hand (claims filled in) is rejected by the
            // verifier.
            let mut q = decode(&cert.bytes).unwrap();
            let (idx, rec) = c.state.account(who).unwrap();
            q.account = rec.to_vec();
            q.account_index = idx as u32;
            q.account_proof = c.state.proof(idx);
            q.state = ale_certify::CommitmentParts {
                root: c.roots.state.root,
                time_s: c.roots.state.time_s,
                seq: c.roots.state.seq,
                leaf_count: c.roots.state.leaf_count,
            };
            q.sigs = c.roots.sigs.clone();
            let claim = ale_verify::evaluate_claims(&encode(&q)).unwrap();
            q.claimed_value = claim.value;
            q.claimed_requirement = claim.requirement;
            let e = verify(&encode(&q), &keys.trusted(), &QUORUM, now(&m)).unwrap_err();
            assert_eq!(e.reason, Reason::TooClose, "{name} {who}: {e}");
            let short = claim.requirement - claim.value;
            assert!(
                short > 0 && short <= claim.err,
                "{name}: shortfall {short}, error {}",
                claim.err
            );
        }
    }
}

#[test]
fn checked_roots_skip_the_signatures_but_nothing_else() {
    let m = market();
    let accts = accounts(SHORT_BOOK);
    let keys = Keys::new();
    let policy = CertPolicy::from_name("ramm", None).unwrap();
    let cert = certify_one(&m, &accts, 0, &policy, &keys).unwrap();
    let (roots, gas) = ale_verify::check_roots(&cert.bytes, &keys.trusted(), &QUORUM).unwrap();
    assert_eq!(gas.sig_checks, 2);
    let v = ale_verify::verify_against(&cert.bytes, &roots, 60, now(&m)).unwrap();
    assert_eq!(v.cost.sig_checks, 0);
    assert_eq!(v.value, cert.verdict.value);
    let mut bad = decode(&cert.bytes).unwrap();
    bad.market.root[3] ^= 1;
    assert_eq!(
        ale_verify::verify_against(&encode(&bad), &roots, 60, now(&m))
            .unwrap_err()
            .reason,
        Reason::Untrusted
    );
    assert!(ale_verify::verify_against(&cert.bytes, &roots, 60, now(&m) + 600).is_err());
}

#[test]
fn pm_refuses_what_it_cannot_bound_with_a_reason() {
    let m = market();
    let keys = Keys::new();
    let policy = CertPolicy::from_name("pm", None).unwrap();
    // A dated future: pm (PMRM_2) has none; the engine refuses it already.
    let accts = accounts(
        r#"[{"account": "fay", "collateral": [{"asset": "USDC", "amount": "10"}],
             "positions": [{"instrument": "BTC-26DEC26", "size": 3, "entry_price": 99000.0}]}]"#,
    );
    match certify_one(&m, &accts, 0, &policy, &keys) {
        Err(CertifyError::Engine(e)) => assert!(e.contains("future"), "{e}"),
        other => panic!("{other:?}"),
    }
}

mod no_panic {
    use super::common::*;
    use ale_certify::CertPolicy;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        /// Arbitrary corruption of a valid certificate (every policy; `ramm` in format v3 too)
        /// never panics the verifier (in the test profile, with overflow checks on): it
        /// returns a verdict or a rejection.
        #[test]
        fn corrupted_certificates_never_panic(
            policy in prop::sample::select(vec!["ramm", "static", "oracle-adjusted", "pm", "ramm-v3"]),
            multi in any::<bool>(),
            edits in prop::collection::vec((any::<u16>(), any::<u8>()), 1..12),
            cut in any::<u16>(),
        ) {
            let m = market();
            let accts = accounts(if multi { MULTI_BOOK } else { SHORT_BOOK });
            let keys = Keys::new();
            let p = CertPolicy::from_name(policy.trim_end_matches("-v3"), None).unwrap();
            // "ramm-v3": a certificate with a gamma witness (stage 2, format v3).
            let cert = if policy == "ramm-v3" {
                certify_alone(&m, &topped_up(&m, TEN_BOOK, &p, 0.999), &p, &keys).unwrap()
            } else {
                certify_one(&m, &accts, 0, &p, &keys).unwrap()
            };
            let list = p.scenario_leaves().unwrap();
            let mut b = cert.bytes.clone();
            for (at, v) in &edits {
                let i = *at as usize % b.len();
                b[i] = *v;
            }
            let len = b.len();
            b.truncate(len - (cut as usize % 64).min(len));
            let _ = ale_verify::verify(&b, &keys.trusted(), &QUORUM, now(&m));
            let _ = ale_verify::evaluate_claims(&b);
            let _ = ale_verify::search(&b, &list);
        }
    }
}

/// `pm` in its corner cases against the engine: an option 20 minutes from expiry (the forward
/// mostly frozen, pm.md §2), a long spot position and WETH collateral (risk-cancelling), the
/// `derive-test` set (other static discounts and rates), and a perp.
#[test]
fn pm_corner_cases_match_the_engine() {
    let m =
        ale_format::parse_market(&MARKET.replace("2026-11-24T08:00:00Z", "2026-11-27T07:40:00Z"))
            .unwrap()
            .snapshot;
    let keys = Keys::new();
    let accts = accounts(
        r#"[{"account": "gus", "collateral": [{"asset": "USDC", "amount": "1000"}, {"asset": "WETH", "amount": "2"}],
             "positions": [
               {"instrument": "BTC-27NOV26-95000-C", "size": -3},
               {"instrument": "BTC-27NOV26-94000-P", "size": -3},
               {"instrument": "BTC-26DEC26-90000-P", "size": -2},
               {"instrument": "BTC", "size": 0.1},
               {"instrument": "ETH-26DEC26-3500-C", "size": -10},
               {"instrument": "ETH-PERP", "size": 2, "entry_price": 3600.0}]}]"#,
    );
    for set in ["deribit-like", "derive-test"] {
        let policy = CertPolicy::from_name("pm", Some(&format!("set = \"{set}\""))).unwrap();
        let mg = policy.margin(&m, &accts[0]).unwrap();
        let c = commit(&m, &accts, &policy, &keys);
        let cert = ale_certify::certify(
            &policy,
            &m,
            &c,
            &accts[0],
            &keys.trusted(),
            &QUORUM,
            m.time().unix_seconds() + 5,
        )
        .unwrap_or_else(|e| panic!("{set}: {e} (engine {mg:?})"));
        let v = cert.verdict;
        let (eq, mm) = (v.value as f64 / 1e18, v.requirement as f64 / 1e18);
        assert!(
            (eq - mg.equity).abs() <= 1e-9 * mg.equity.abs() + 1e-6,
            "{set}: {eq} vs {}",
            mg.equity
        );
        assert!(
            (mm - mg.maintenance).abs() <= 1e-9 * mg.maintenance + 1e-6,
            "{set}: {mm} vs {}",
            mg.maintenance
        );
        assert_eq!(v.n_witnesses, 2, "{set}");
    }
}
