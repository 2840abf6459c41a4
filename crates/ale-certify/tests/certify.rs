//! Certificates end to end: built by the engine, checked by the verifier; every field of a
//! valid certificate flipped, truncated or swapped is rejected naming it; forged and short
//! quorums, stale snapshots, proofs for another account, witnesses outside the policy, and
//! decisions within the error bound are rejected.

mod common;

use ale_certify::{decode, encode, json, CertPolicy, CertifyError};
use ale_verify::{verify, Reason};
use common::*;

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
    let _ = Reason::TooClose;
}

fn spans(bytes: &[u8]) -> Vec<(&'static str, usize, usize)> {
    let mut out = Vec::new();
    let mut rec = |name: &'static str, a: usize, b: usize| out.push((name, a, b));
    ale_verify::layout::parse_with(ale_verify::layout::Cursor::with_spans(bytes, &mut rec))
        .unwrap();
    out
}

/// The words a rejection of a tampered `field` may name: the field itself or the signed tuple /
/// proof it belongs to.
fn names_field(field: &str, msg: &str) -> bool {
    let top = field.split('.').next().unwrap_or(field);
    match top {
        "magic" | "version" | "policy" | "reserved" | "time" => msg.contains(field),
        "params_hash" | "params" => msg.contains("params"),
        "market" => msg.contains("market"),
        "state" => msg.contains("state"),
        "account" => msg.contains("account"),
        "witness" => msg.contains("witness"),
        "claimed_value" => msg.contains("claimed_value"),
        "claimed_requirement" => msg.contains("claimed_requirement"),
        _ => false,
    }
}

#[test]
fn every_field_flipped_or_truncated_is_rejected_naming_it() {
    let m = market();
    let accts = accounts(SHORT_BOOK);
    let keys = Keys::new();
    for name in ["ramm", "static", "oracle-adjusted"] {
        let policy = CertPolicy::from_name(name, None).unwrap();
        let cert = certify_one(&m, &accts, 0, &policy, &keys).unwrap();
        let b = &cert.bytes;
        let sp = spans(b);
        assert!(sp.len() > 40, "{name}: {} fields", sp.len());
        let mut checked = 0;
        for (field, start, end) in &sp {
            for at in *start..*end {
                {
                    let bit = (at % 8) as u8;
                    let mut t = b.clone();
                    t[at] ^= 1 << bit;
                    let r = verify(&t, &keys.trusted(), &QUORUM, now(&m));
                    let e = r.expect_err(&format!(
                        "{name}: flip of {field} byte {at} bit {bit} accepted"
                    ));
                    let msg = e.to_string();
                    assert!(
                        names_field(field, &msg),
                        "{name}: flip of {field} (byte {at}) rejected as '{msg}', which does not name it"
                    );
                    checked += 1;
                }
            }
        }
        // Truncated at every byte: rejected, naming the field it ends in.
        for cut in 0..b.len() {
            let e = verify(&b[..cut], &keys.trusted(), &QUORUM, now(&m)).unwrap_err();
            assert_eq!(e.reason, Reason::Truncated, "{name}: cut at {cut}: {e}");
            let (field, _, _) = sp.iter().find(|(_, s, e)| *s <= cut && cut < *e).unwrap();
            assert_eq!(e.field, *field, "{name}: cut at {cut}");
        }
        // One byte too many.
        let mut long = b.clone();
        long.push(0);
        assert_eq!(
            verify(&long, &keys.trusted(), &QUORUM, now(&m))
                .unwrap_err()
                .reason,
            Reason::TrailingBytes
        );
        eprintln!(
            "{name}: {} fields, {checked} flips rejected naming the field",
            sp.len()
        );
    }
}

#[test]
fn swapped_fields_are_rejected() {
    let m = market();
    let accts = accounts(SHORT_BOOK);
    let keys = Keys::new();
    let policy = CertPolicy::from_name("ramm", None).unwrap();
    let cert = certify_one(&m, &accts, 0, &policy, &keys).unwrap();
    let p = decode(&cert.bytes).unwrap();
    let check = |q: &ale_certify::Parts, want: &str| {
        let e = verify(&encode(q), &keys.trusted(), &QUORUM, now(&m)).unwrap_err();
        assert!(e.to_string().contains(want), "want '{want}', got '{e}'");
    };
    // Signatures in the other order.
    let mut q = p.clone();
    q.market.sigs.swap(0, 1);
    check(&q, "market.signatures.key");
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
    let forged = ale_oracle::SignedRoot::new(
        ale_oracle::quorum::MARKET_DOMAIN,
        q.market.root,
        q.market.time_s,
        q.market.seq,
        q.market.leaf_count,
        None,
    )
    .sign(&[(0, &impostors[0]), (1, &impostors[1])]);
    q.market.sigs = forged.sigs.clone();
    let e = reject(&q, t);
    assert_eq!(e.reason, Reason::BadSignature, "{e}");
    // Forged: a whole snapshot with another root, signed by impostors.
    let mut q = p.clone();
    q.market.root[0] ^= 0xff;
    assert_eq!(reject(&q, t).reason, Reason::BadSignature);
    // Short: one good signature where two are needed (market and state).
    let mut q = p.clone();
    q.market.sigs.truncate(1);
    assert_eq!(
        reject(&q, t).reason,
        Reason::ShortQuorum { have: 1, need: 2 }
    );
    let mut q = p.clone();
    q.state.sigs.clear();
    assert_eq!(
        reject(&q, t).reason,
        Reason::ShortQuorum { have: 0, need: 2 }
    );
    // The same key twice does not make a quorum.
    let mut q = p.clone();
    q.market.sigs[1] = q.market.sigs[0];
    assert!(reject(&q, t).to_string().contains("strictly increasing"));
    // A key index outside the trusted list.
    let mut q = p.clone();
    q.market.sigs[1].0 = 9;
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
    // on ETH, not the witness underlying.
    let mut q = p.clone();
    q.account = crec.to_vec();
    q.account_index = ci as u32;
    q.account_proof = commitments.state.proof(ci);
    let e = reject(&q, t);
    assert!(e.field.contains("account.record"), "{e}");
    // A witness scenario outside the policy's list.
    let mut q = p.clone();
    q.scenario = 65;
    let e = reject(&q, t);
    assert_eq!(e.reason, Reason::NotInPolicy, "{e}");
    let mut q = p.clone();
    q.scenario = u16::MAX;
    assert_eq!(reject(&q, t).reason, Reason::NotInPolicy);
    // Another scenario of the list does not match the claimed bound.
    let mut q = p.clone();
    q.scenario = (q.scenario + 1) % 65;
    assert_eq!(reject(&q, t).reason, Reason::Mismatch);
    // A static certificate with a scenario.
    let st = CertPolicy::from_name("static", None).unwrap();
    let sc = certify_one(&m, &accts, 0, &st, &keys).unwrap();
    let mut q = decode(&sc.bytes).unwrap();
    q.scenario = 3;
    assert_eq!(reject(&q, t).reason, Reason::NotInPolicy);
    // Parameters other than the ones the venue signed: the hash must change, and then the
    // venue's signature does not cover it.
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
fn a_decision_within_the_error_bound_is_refused_and_rejected() {
    let m = market();
    let keys = Keys::new();
    for name in ["ramm", "static", "oracle-adjusted"] {
        let policy = CertPolicy::from_name(name, None).unwrap();
        let mut accts = accounts(SHORT_BOOK);
        let cert = certify_one(&m, &accts, 0, &policy, &keys).unwrap();
        let v = cert.verdict;
        // Top up alice's USDC by the shortfall less half the error: still liquidatable, but
        // by less than the error bound.
        let top_up_nano = (v.shortfall - v.error / 2) / 1_000_000_000;
        let usdc = ale_core::Asset::new("USDC").unwrap();
        accts[0]
            .add_collateral(usdc, ale_core::Amount::from_raw(top_up_nano))
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
            Err(CertifyError::Refused { rejection, .. }) => {
                assert_eq!(rejection.reason, Reason::TooClose, "{name}: {rejection}")
            }
            other => panic!("{name}: {other:?}"),
        }
        // The same certificate built by hand (claims filled in) is rejected by the verifier.
        let mut q = decode(&cert.bytes).unwrap();
        let (idx, rec) = c.state.account("alice").unwrap();
        q.account = rec.to_vec();
        q.account_index = idx as u32;
        q.account_proof = c.state.proof(idx);
        q.state = ale_certify::CommitmentParts {
            root: c.state_root.root,
            time_s: c.state_root.time_s,
            seq: c.state_root.seq,
            leaf_count: c.state_root.leaf_count,
            sigs: c.state_root.sigs.clone(),
        };
        let claim = ale_verify::evaluate_claims(&encode(&q)).unwrap();
        q.claimed_value = claim.value;
        q.claimed_requirement = claim.requirement;
        let e = verify(&encode(&q), &keys.trusted(), &QUORUM, now(&m)).unwrap_err();
        assert_eq!(e.reason, Reason::TooClose, "{name}: {e}");
        let short = claim.requirement - claim.value;
        assert!(
            short > 0 && short <= claim.err,
            "{name}: shortfall {short}, error {}",
            claim.err
        );
    }
}

#[test]
fn the_gate_lets_a_liquidation_start_only_with_a_certificate_that_verifies() {
    let m = market();
    let accts = accounts(SHORT_BOOK);
    let keys = Keys::new();
    let policy = CertPolicy::from_name("ramm", None).unwrap();
    let cert = certify_one(&m, &accts, 0, &policy, &keys).unwrap();
    let t = now(&m);
    let g = |on, c: Option<&[u8]>, id| ale_certify::gate(on, c, id, &keys.trusted(), &QUORUM, t);
    assert!(g(true, Some(&cert.bytes), "alice").unwrap().is_some());
    assert!(g(true, None, "alice").is_err());
    assert!(
        g(true, Some(&cert.bytes), "bob").is_err(),
        "a certificate for another account"
    );
    let mut bad = cert.bytes.clone();
    bad[100] ^= 1;
    assert!(g(true, Some(&bad), "alice").is_err());
    // Off (backtests): no certificate needed.
    assert_eq!(g(false, None, "alice").unwrap(), None);
}

#[test]
fn checked_roots_skip_the_signatures_but_nothing_else() {
    let m = market();
    let accts = accounts(SHORT_BOOK);
    let keys = Keys::new();
    let policy = CertPolicy::from_name("ramm", None).unwrap();
    let cert = certify_one(&m, &accts, 0, &policy, &keys).unwrap();
    let (roots, gas) = ale_verify::check_roots(&cert.bytes, &keys.trusted(), &QUORUM).unwrap();
    assert_eq!(gas.sig_checks, 4);
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

mod no_panic {
    use super::common::*;
    use ale_certify::CertPolicy;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        /// Arbitrary corruption of a valid certificate never panics the verifier (in the
        /// test profile, with overflow checks on): it returns a verdict or a rejection.
        #[test]
        fn corrupted_certificates_never_panic(
            policy in prop::sample::select(vec!["ramm", "static", "oracle-adjusted"]),
            edits in prop::collection::vec((any::<u16>(), any::<u8>()), 1..12),
            cut in any::<u16>(),
        ) {
            let m = market();
            let accts = accounts(SHORT_BOOK);
            let keys = Keys::new();
            let p = CertPolicy::from_name(policy, None).unwrap();
            let cert = certify_one(&m, &accts, 0, &p, &keys).unwrap();
            let mut b = cert.bytes.clone();
            for (at, v) in &edits {
                let i = *at as usize % b.len();
                b[i] = *v;
            }
            let len = b.len();
            b.truncate(len - (cut as usize % 64).min(len));
            let _ = ale_verify::verify(&b, &keys.trusted(), &QUORUM, now(&m));
            let _ = ale_verify::evaluate_claims(&b);
            let _ = ale_verify::ramm_full_grid(&b);
        }
    }
}
