//! The certificate gate (issue 10, item 5), with real certificates built by `ale-certify`: a
//! liquidation with a certificate that verifies proceeds; with none, a tampered one, a stale one,
//! one for another account or under another policy it is refused with a record naming the field,
//! and the ledger is unchanged; the gate off lets a liquidation through without one.

mod common;

use ale_certify::{certify, CertPolicy, Commitments};
use ale_core::Account;
use ale_liquidation::{
    driver, gate, CertificateGate, Engine, Event, GateRefusal, LiquidationParams, RecordKind, Stage,
};
use ale_oracle::dev_keys;
use ale_risk::policy_by_name;
use ale_verify::{Quorum, Reason, TrustedKeys, VerifyingKey};
use common::*;

const QUORUM: Quorum = Quorum {
    oracle: 2,
    venue: 2,
    max_age_s: 60,
};

struct Setup {
    accounts: Vec<Account>,
    oracle_vk: Vec<VerifyingKey>,
    venue_vk: Vec<VerifyingKey>,
    /// Certificates by account name, under `static`.
    certs: Vec<(String, Vec<u8>)>,
}

/// alice (100 USDC, 10 BTC-PERP at 109: equity 10, MM 100 under `static`) and carol (the same at
/// 112: equity −20) are liquidatable, bob (cash) is not; every account is committed, alice's and
/// carol's certificates are built and self-checked by `ale-certify`.
fn setup(policy: &str) -> Setup {
    let accounts = vec![
        account("alice", "100", &[("BTC-PERP", 10.0, Some(109.0))]),
        account("bob", "1000", &[]),
        account("carol", "100", &[("BTC-PERP", 10.0, Some(112.0))]),
    ];
    let oracle = dev_keys("gate-oracle", 3);
    let venue = dev_keys("gate-venue", 3);
    let oracle_vk: Vec<VerifyingKey> = oracle.iter().map(|k| k.verifying_key()).collect();
    let venue_vk: Vec<VerifyingKey> = venue.iter().map(|k| k.verifying_key()).collect();
    let m = market();
    let policy = CertPolicy::from_name(policy, None).unwrap();
    let c = Commitments::build(
        &m,
        &accounts,
        &policy,
        1,
        &[(0, &oracle[0]), (2, &oracle[2])],
        &[(1, &venue[1]), (2, &venue[2])],
    )
    .unwrap();
    let trusted = TrustedKeys {
        oracle: &oracle_vk,
        venue: &venue_vk,
    };
    let certs = ["alice", "carol"]
        .iter()
        .map(|name| {
            let a = accounts.iter().find(|a| a.id.as_str() == *name).unwrap();
            let cert = certify(
                &policy,
                &m,
                &c,
                a,
                &trusted,
                &QUORUM,
                m.time().unix_seconds(),
            )
            .unwrap();
            (name.to_string(), cert.bytes)
        })
        .collect();
    Setup {
        accounts,
        oracle_vk,
        venue_vk,
        certs,
    }
}

impl Setup {
    fn cert(&self, name: &str) -> Vec<u8> {
        self.certs
            .iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .clone()
    }

    fn gate(&self) -> CertificateGate {
        CertificateGate::new(self.oracle_vk.clone(), self.venue_vk.clone(), QUORUM)
    }

    /// An engine under `policy` with the gate on (these keys), a fund that takes as tier 1.
    fn engine(&self, policy: &str, gate: CertificateGate) -> Engine {
        let params = LiquidationParams {
            certificate_gate: gate,
            ..LiquidationParams::default()
        };
        let mut e = Engine::new(policy_by_name(policy, None).unwrap(), market(), params).unwrap();
        for a in &self.accounts {
            e.register_trader(a, a.id.as_str(), t0()).unwrap();
        }
        e.fund_insurance(&account("fund", "1000000", &[]), None, t0())
            .unwrap();
        e
    }
}

fn detail(r: &ale_liquidation::Record, key: &str) -> Option<String> {
    r.details
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.clone())
}

/// Sends `event` at `at`; asserts it was refused by the gate naming a field that contains
/// `field` (the verifier may add what the field covers and an index), with nothing else written
/// and the ledger unchanged. Returns the reason.
fn assert_refused(e: &mut Engine, event: Event, at: ale_core::Timestamp, field: &str) -> String {
    let before = e.ledger().snapshot();
    let records = e.process(&event, at).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r.kind, RecordKind::Refused, "{r:?}");
    assert_eq!(r.account, Some(id("alice")));
    assert!(r.op.is_none());
    assert_eq!(detail(r, "gate").as_deref(), Some("certificate"));
    let named = detail(r, "field").unwrap();
    assert!(
        !named.is_empty() && named.contains(field),
        "field {named}: {}",
        r.reason
    );
    assert!(r.reason.contains(&named), "{}", r.reason);
    assert_eq!(
        e.ledger().snapshot(),
        before,
        "a refusal changed the ledger"
    );
    assert!(e.case(&id("alice")).is_none(), "a refusal started a case");
    assert_ledger_invariants(e);
    r.reason.clone()
}

#[test]
fn a_valid_certificate_lets_the_liquidation_proceed() {
    let s = setup("static");
    let mut e = s.engine("static", s.gate());
    let records = e
        .process(
            &Event::CheckWithCertificate {
                account: id("alice"),
                certificate: s.cert("alice"),
            },
            t0(),
        )
        .unwrap();
    let flagged = records
        .iter()
        .find(|r| r.kind == RecordKind::Flagged)
        .expect("flagged");
    assert_eq!(detail(flagged, "certificate").as_deref(), Some("verified"));
    // The verifier's shortfall: MM − equity = 100 − 10 = 90 under `static`.
    let shortfall = d(&detail(flagged, "certificate_shortfall").unwrap());
    assert!((shortfall.to_f64() - 90.0).abs() < 1e-6, "{shortfall}");
    assert!(
        detail(flagged, "certificate_cost")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    // Tier 1: the fund takes enough at mark; restored.
    assert!(records.iter().any(|r| r.kind == RecordKind::BackstopTake));
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Restored);
    assert_ledger_invariants(&e);
    // The driver with certificates does the same.
    let mut e = s.engine("static", s.gate());
    driver::run_with_certificates(&mut e, &[(id("alice"), Some(s.cert("alice")))], t0()).unwrap();
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Restored);
    // A healthy account needs no certificate: a Check of bob does nothing at all.
    assert!(e
        .process(&Event::Check { account: id("bob") }, t0())
        .unwrap()
        .is_empty());
}

#[test]
fn no_certificate_is_refused() {
    let s = setup("static");
    let mut e = s.engine("static", s.gate());
    let reason = assert_refused(
        &mut e,
        Event::Check {
            account: id("alice"),
        },
        t0(),
        "certificate",
    );
    assert!(reason.contains("missing"), "{reason}");
    // The driver without certificates: refused too.
    let records = driver::run(&mut e, &[id("alice")], t0()).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].kind, RecordKind::Refused);
}

#[test]
fn a_tampered_certificate_is_refused_naming_the_field() {
    let s = setup("static");
    let mut e = s.engine("static", s.gate());
    let good = s.cert("alice");
    // Any byte flipped (every seventh, across the whole layout): refused, naming a field.
    for i in (0..good.len()).step_by(7) {
        let mut bad = good.clone();
        bad[i] ^= 0x10;
        assert_refused(
            &mut e,
            Event::CheckWithCertificate {
                account: id("alice"),
                certificate: bad,
            },
            t0(),
            "",
        );
    }
    // A claim altered (the last field): the verifier names it.
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 1] ^= 0x40;
    assert_refused(
        &mut e,
        Event::CheckWithCertificate {
            account: id("alice"),
            certificate: bad,
        },
        t0(),
        "claimed_requirement",
    );
    // Truncated by a byte, or to nothing.
    for bad in [good[..n - 1].to_vec(), Vec::new()] {
        let reason = assert_refused(
            &mut e,
            Event::CheckWithCertificate {
                account: id("alice"),
                certificate: bad,
            },
            t0(),
            "",
        );
        assert!(reason.contains("truncated"), "{reason}");
    }
    // The untouched certificate still starts the liquidation on the same engine.
    let r = e
        .process(
            &Event::CheckWithCertificate {
                account: id("alice"),
                certificate: good,
            },
            t0(),
        )
        .unwrap();
    assert_eq!(r[0].kind, RecordKind::Flagged);
}

#[test]
fn a_stale_certificate_is_refused() {
    let s = setup("static");
    let mut e = s.engine("static", s.gate());
    // 61 s after the snapshot: older than the 60 s the quorum allows.
    let reason = assert_refused(
        &mut e,
        Event::CheckWithCertificate {
            account: id("alice"),
            certificate: s.cert("alice"),
        },
        at(61),
        "time",
    );
    assert!(reason.contains("stale"), "{reason}");
    // At 60 s it is still fresh.
    let mut e = s.engine("static", s.gate());
    let records = e
        .process(
            &Event::CheckWithCertificate {
                account: id("alice"),
                certificate: s.cert("alice"),
            },
            at(60),
        )
        .unwrap();
    assert_eq!(records[0].kind, RecordKind::Flagged);
}

#[test]
fn a_certificate_for_another_account_or_policy_is_refused() {
    let s = setup("static");
    let mut e = s.engine("static", s.gate());
    let reason = assert_refused(
        &mut e,
        Event::CheckWithCertificate {
            account: id("alice"),
            certificate: s.cert("carol"),
        },
        t0(),
        "account.record.id",
    );
    assert!(reason.contains("'carol'"), "{reason}");
    // alice is liquidatable under `ramm` too, but a `static` certificate does not prove it.
    let mut e = s.engine("ramm", s.gate());
    let reason = assert_refused(
        &mut e,
        Event::CheckWithCertificate {
            account: id("alice"),
            certificate: s.cert("alice"),
        },
        t0(),
        "policy",
    );
    assert!(
        reason.contains("'static'") && reason.contains("'ramm'"),
        "{reason}"
    );
}

#[test]
fn a_gate_without_keys_or_with_other_keys_refuses() {
    let s = setup("static");
    // The default gate: on, no key yet.
    let mut e = s.engine("static", CertificateGate::default());
    assert_refused(
        &mut e,
        Event::CheckWithCertificate {
            account: id("alice"),
            certificate: s.cert("alice"),
        },
        t0(),
        "certificate_gate.oracle_keys",
    );
    // Keys the certificate was not signed with: a forged quorum to this gate.
    let other: Vec<VerifyingKey> = dev_keys("someone-else", 3)
        .iter()
        .map(|k| k.verifying_key())
        .collect();
    let mut e = s.engine(
        "static",
        CertificateGate::new(other, s.venue_vk.clone(), QUORUM),
    );
    let before = e.ledger().snapshot();
    let r = e
        .process(
            &Event::CheckWithCertificate {
                account: id("alice"),
                certificate: s.cert("alice"),
            },
            t0(),
        )
        .unwrap();
    assert_eq!(r[0].kind, RecordKind::Refused);
    assert!(detail(&r[0], "field").unwrap().contains("signatures"));
    assert_eq!(e.ledger().snapshot(), before);
    // No venue signature asked for (the oracle quorum vouches for the state root).
    let mut e = s.engine(
        "static",
        CertificateGate::new(
            s.oracle_vk.clone(),
            s.venue_vk.clone(),
            Quorum {
                oracle: 2,
                venue: 0,
                max_age_s: 60,
            },
        ),
    );
    let r = e
        .process(
            &Event::CheckWithCertificate {
                account: id("alice"),
                certificate: s.cert("alice"),
            },
            t0(),
        )
        .unwrap();
    assert_eq!(r[0].kind, RecordKind::Flagged, "{:?}", r[0]);
    // A quorum the keys cannot meet is a parameter error.
    let params = LiquidationParams {
        certificate_gate: CertificateGate::new(
            s.oracle_vk.clone(),
            s.venue_vk.clone(),
            Quorum {
                oracle: 4,
                venue: 2,
                max_age_s: 60,
            },
        ),
        ..LiquidationParams::default()
    };
    let err = Engine::new(policy_by_name("static", None).unwrap(), market(), params)
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("certificate_gate.quorum.oracle"),
        "{err}"
    );
}

#[test]
fn the_gate_off_lets_a_liquidation_through_without_a_certificate() {
    let s = setup("static");
    let mut e = s.engine("static", CertificateGate::off());
    let records = e
        .process(
            &Event::Check {
                account: id("alice"),
            },
            t0(),
        )
        .unwrap();
    assert_eq!(records[0].kind, RecordKind::Flagged);
    assert_eq!(detail(&records[0], "certificate"), None);
    assert_eq!(e.case(&id("alice")).unwrap().stage, Stage::Restored);
    // The gate function itself, off: nothing looked at.
    assert_eq!(
        gate::check(&CertificateGate::off(), None, "alice", "static", 0),
        Ok(None)
    );
    // On, the verdict names the account.
    let v = gate::check(
        &s.gate(),
        Some(&s.cert("carol")),
        "carol",
        "static",
        t0().unix_seconds(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(v.account_id(), "carol");
    assert!(matches!(
        gate::check(&s.gate(), Some(&s.cert("carol")), "carol", "static", t0().unix_seconds() + 61),
        Err(GateRefusal::Rejected(r)) if matches!(r.reason, Reason::Stale { .. })
    ));
}
