//! `ramm`'s second stage and its gamma witness (format v3).
//!
//! Stage 1 proves a `ramm` liquidation from the witness scenarios' pricings alone, with a
//! horizon floor that leaves out the delta term z_h·σ_hist·√T_auction·|Δ$| of an underlying
//! with options and takes option slippage at discounted intrinsic value; until stage 2 the
//! verifier had nothing else, so an account whose equity sat between that bound and the
//! engine's MM was refused ("not liquidatable at the witness"). Stage 2 (the base pass of the
//! witness underlyings: the engine's marks, deltas and horizon; weighted extremes as
//! witnesses; the defined-risk cap) and the gamma witness close the gap.

mod common;

use ale_certify::{decode, encode, CertPolicy, CertifyError};
use ale_verify::layout::NO_SCENARIO;
use ale_verify::{verify, Reason};
use common::*;

fn ramm() -> CertPolicy {
    CertPolicy::from_name("ramm", None).unwrap()
}

/// The verifier never proves more than the engine's MM − equity.
fn assert_sound(m: &ale_market::MarketSnapshot, a: &ale_core::Account, v: &ale_verify::Verdict) {
    let mg = ramm().margin(m, a).unwrap();
    let proved = v.shortfall as f64 / 1e18;
    let engine = mg.maintenance - mg.equity;
    assert!(
        proved <= engine * (1.0 + 1e-9) + 1e-6,
        "{}: proved {proved} > engine's {engine}",
        a.id
    );
}

/// A short strangle topped up to 1 % of its shortfall below MM: at every grid witness the
/// stage-1 bound (what the verifier had before stage 2) falls short — its horizon floor has
/// no delta term (an underlying with options) and prices the slippage of the two
/// out-of-the-money options at their intrinsic value, 0 — so the builder refused the account
/// ("not liquidatable at the witness"). Stage 2 adds z_h·σ_hist·√T_auction·|Δ$| and the
/// slippage at the marks (the engine's horizon, 1 357 USD here) and certifies it, at a grid
/// witness without a gamma witness (format v2).
#[test]
fn a_shortfall_only_the_delta_term_and_mark_slippage_prove_is_certified_by_stage_2() {
    let m = market();
    let keys = Keys::new();
    let policy = ramm();
    let a = topped_up(&m, STRANGLE_BOOK, &policy, 0.99);
    let cert = certify_alone(&m, &a, &policy, &keys).unwrap();
    let v = cert.verdict;
    assert_eq!(v.stage, 2);
    let w = v.witnesses()[0];
    assert!(w.scenario < 63, "a grid witness, not an extreme: {w:?}");
    assert_eq!(w.gamma, NO_SCENARIO);
    assert_eq!(u16::from_le_bytes([cert.bytes[4], cert.bytes[5]]), 2);
    assert_sound(&m, &a, &v);
    // Stage 1 proves it at no grid witness: each one runs stage 2.
    let p = decode(&cert.bytes).unwrap();
    for idx in 0..63u16 {
        let mut q = p.clone();
        q.witnesses[0].scenario = idx;
        let claim = ale_verify::evaluate_claims(&encode(&q)).unwrap();
        assert_eq!(claim.stage, 2, "stage 1 proves it at scenario {idx}");
    }
    // Stage 2's cost is counted only when it runs: the same account 10 % of its shortfall
    // below MM needs stage 1 alone, and costs less.
    let easy = certify_alone(
        &m,
        &topped_up(&m, STRANGLE_BOOK, &policy, 0.9),
        &policy,
        &keys,
    )
    .unwrap()
    .verdict;
    assert_eq!(easy.stage, 1);
    assert!(easy.cost.int_ops < v.cost.int_ops);
    eprintln!(
        "strangle: stage 1 {} gas, stage 2 {} gas; proved {} of the engine's {}",
        easy.cost.total(),
        v.cost.total(),
        v.shortfall as f64 / 1e18,
        {
            let mg = policy.margin(&m, &a).unwrap();
            mg.maintenance - mg.equity
        }
    );
}

/// Equity within the gap between the grid's worst gamma charge and the gamma at the loss
/// witness: only a gamma witness proves it (format v3). The certificate is v3, verifies,
/// round-trips through JSON, and every way of tampering with the gamma witness is rejected
/// naming it.
#[test]
fn a_gamma_witness_proves_what_the_loss_witness_alone_cannot() {
    let m = market();
    let keys = Keys::new();
    let policy = ramm();
    let a = topped_up(&m, TEN_BOOK, &policy, 0.999);
    let cert = certify_alone(&m, &a, &policy, &keys).unwrap();
    let v = cert.verdict;
    assert_eq!(v.stage, 2);
    let w = v.witnesses()[0];
    assert!(
        w.gamma != NO_SCENARIO && w.gamma != w.scenario && w.gamma < 63,
        "{w:?}"
    );
    assert_eq!(u16::from_le_bytes([cert.bytes[4], cert.bytes[5]]), 3);
    assert_sound(&m, &a, &v);
    // JSON and back to the same bytes.
    let j = ale_certify::json::to_json(&cert.bytes, Some(&cert.engine)).unwrap();
    assert_eq!(j["version"], 3);
    assert_eq!(j["witnesses"][0]["gamma"], w.gamma);
    assert_eq!(ale_certify::json::from_json(&j).unwrap(), cert.bytes);
    let mut j2 = j.clone();
    j2["version"] = 2.into();
    assert!(ale_certify::json::from_json(&j2)
        .unwrap_err()
        .contains("version"));
    // Without the gamma witness (a v2 certificate, same claims) the claims do not match.
    let p = decode(&cert.bytes).unwrap();
    let t = now(&m);
    let reject =
        |q: &ale_certify::Parts| verify(&encode(q), &keys.trusted(), &QUORUM, t).unwrap_err();
    let mut q = p.clone();
    q.witnesses[0].gamma = NO_SCENARIO;
    let e = reject(&q);
    assert!(e.to_string().contains("claimed_requirement"), "{e}");
    // Another grid scenario's gamma: the claims do not match either.
    let mut q = p.clone();
    q.witnesses[0].gamma = if w.gamma == 0 { 3 } else { w.gamma - 1 };
    assert_eq!(reject(&q).reason, Reason::Mismatch);
    // The loss witness itself, an extreme, beyond the grid: invalid, naming the field.
    for (g, reason) in [
        (w.scenario, "other than witness.scenario"),
        (63, "not an extreme"),
        (64, "not an extreme"),
    ] {
        let mut q = p.clone();
        q.witnesses[0].gamma = g;
        let e = reject(&q);
        assert_eq!(e.field, "witness.gamma", "{g}: {e}");
        assert!(e.to_string().contains(reason), "{g}: {e}");
    }
    let mut q = p.clone();
    q.witnesses[0].gamma = 65;
    let e = reject(&q);
    assert_eq!(
        (e.field, e.reason),
        ("witness.gamma", Reason::NotInPolicy),
        "{e}"
    );
    // Canonical form: v3 bytes naming no gamma witness, and v3 under another policy.
    let mut b = cert.bytes.clone();
    let gamma_at = field_spans(&cert.bytes)
        .into_iter()
        .find(|(f, _, _)| *f == "witness.gamma")
        .unwrap()
        .1;
    b[gamma_at..gamma_at + 2].copy_from_slice(&NO_SCENARIO.to_le_bytes());
    let e = verify(&b, &keys.trusted(), &QUORUM, t).unwrap_err();
    assert_eq!(e.field, "witness.gamma", "{e}");
    let pm = CertPolicy::from_name("pm", None).unwrap();
    let pm_cert = certify_one(&m, &accounts(MULTI_BOOK), 0, &pm, &keys).unwrap();
    let mut b = pm_cert.bytes.clone();
    b[4] = 3;
    assert_eq!(
        verify(&b, &keys.trusted(), &QUORUM, t).unwrap_err().field,
        "policy"
    );
    eprintln!(
        "ten at 0.1 % of its shortfall below MM: witness {} gamma witness {}, {} gas, {} bytes",
        w.scenario,
        w.gamma,
        v.cost.total(),
        cert.bytes.len()
    );
}

/// A call spread is of defined risk: the engine caps price + vega + gamma at its largest
/// loss, so stage 1 counts no gamma at all. Stage 2 computes the cap (value now − the
/// discounted least payoff) and counts min(gamma, cap − loss): the spread topped up to 0.1 %
/// of its shortfall below MM is certified, with a gamma witness.
#[test]
fn a_defined_risk_exposure_counts_gamma_under_its_cap_in_stage_2() {
    let m = market();
    let keys = Keys::new();
    let policy = ramm();
    let a = topped_up(&m, SPREAD_BOOK, &policy, 0.999);
    let v = certify_alone(&m, &a, &policy, &keys).unwrap().verdict;
    assert_eq!(v.stage, 2);
    assert!(v.witnesses()[0].gamma != NO_SCENARIO);
    assert_sound(&m, &a, &v);
}

/// Every account of the three books, topped up to within 1e-9 of its MM (+ 5e-6 USD):
/// certified (and never more proved than the engine's shortfall).
#[test]
fn accounts_a_hair_below_their_margin_are_certified() {
    let m = market();
    let keys = Keys::new();
    let policy = ramm();
    for book in [TEN_BOOK, STRANGLE_BOOK, SPREAD_BOOK] {
        let a0 = accounts(book).remove(0);
        let mg = policy.margin(&m, &a0).unwrap();
        let short = mg.maintenance - mg.equity;
        let share = 1.0 - (1e-9 * mg.maintenance + 5e-6) / short;
        let a = topped_up(&m, book, &policy, share);
        match certify_alone(&m, &a, &policy, &keys) {
            Ok(c) => assert_sound(&m, &a, &c.verdict),
            Err(CertifyError::Refused { rejection, .. }) => panic!("{}: {rejection}", a.id),
            Err(e) => panic!("{e}"),
        }
    }
}

fn field_spans(bytes: &[u8]) -> Vec<(&'static str, usize, usize)> {
    let mut out = Vec::new();
    let mut rec = |name: &'static str, a: usize, b: usize| out.push((name, a, b));
    ale_verify::layout::parse_with(ale_verify::layout::Cursor::with_spans(bytes, &mut rec))
        .unwrap();
    out
}
