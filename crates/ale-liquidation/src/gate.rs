//! The certificate gate (issue 10, item 5): a liquidation starts only with a certificate that
//! verifies.
//!
//! The engine's decision ("this account is liquidatable") is computed off-chain in `f64`; the
//! certificate lets something small and trusted check it with integer arithmetic only
//! (`ale-verify`, docs/verify.md). The gate runs the verifier on the certificate that came with
//! the event starting the liquidation ([`crate::Event::CheckWithCertificate`]), at the event's
//! time, with the trusted keys and quorum of [`CertificateGate`], and accepts it only when it
//! verifies, names the account being liquidated and was built under the policy the engine
//! margins with. Anything else is a [`GateRefusal`] naming the field at fault; the engine then
//! writes a `refused` record and touches nothing.
//!
//! With the gate off (`CertificateGate::off()`, backtests) nothing is checked.

use ale_verify::{Rejection, TrustedKeys, Verdict};
use thiserror::Error;

use crate::params::CertificateGate;

/// Why the gate refused to let a liquidation start.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GateRefusal {
    /// The event carried no certificate.
    #[error("'certificate': missing (a liquidation starts only with a certificate that verifies)")]
    Missing,
    /// The gate trusts no key of one of its lists: nothing can verify.
    #[error("'{field}': no trusted key (set the gate's keys, or turn the gate off)")]
    NoTrustedKeys {
        /// `certificate_gate.oracle_keys` or `certificate_gate.venue_keys`.
        field: &'static str,
    },
    /// The verifier rejected the certificate (its `Rejection` names the field).
    #[error("{0}")]
    Rejected(Rejection),
    /// The certificate verifies but proves another account liquidatable.
    #[error("'account.record.id': the certificate is for account '{certified}', not '{account}'")]
    OtherAccount {
        /// The account the certificate names.
        certified: String,
        /// The account being liquidated.
        account: String,
    },
    /// The certificate verifies under another margin policy than the engine's.
    #[error("'policy': the certificate is under policy '{certified}', the engine margins under '{engine}'")]
    OtherPolicy {
        /// The certificate's policy.
        certified: &'static str,
        /// The engine's policy.
        engine: String,
    },
}

impl GateRefusal {
    /// The field at fault (the verifier's name for it, with its index when it has one).
    pub fn field(&self) -> String {
        match self {
            GateRefusal::Missing => "certificate".into(),
            GateRefusal::NoTrustedKeys { field } => (*field).into(),
            GateRefusal::Rejected(r) => match r.index {
                Some(i) => format!("{}[{i}]", r.field),
                None => r.field.into(),
            },
            GateRefusal::OtherAccount { .. } => "account.record.id".into(),
            GateRefusal::OtherPolicy { .. } => "policy".into(),
        }
    }
}

/// Applies the gate: `Ok(None)` when it is off; `Ok(Some(verdict))` when `certificate` verifies
/// at `now_unix_s` against the gate's keys and quorum, names `account` and is under `policy`;
/// otherwise the refusal. Pure: the same inputs give the same answer.
pub fn check(
    gate: &CertificateGate,
    certificate: Option<&[u8]>,
    account: &str,
    policy: &str,
    now_unix_s: i64,
) -> Result<Option<Verdict>, GateRefusal> {
    if !gate.enabled {
        return Ok(None);
    }
    let bytes = certificate.ok_or(GateRefusal::Missing)?;
    if gate.oracle_keys.is_empty() {
        return Err(GateRefusal::NoTrustedKeys {
            field: "certificate_gate.oracle_keys",
        });
    }
    if gate.venue_keys.is_empty() && gate.quorum.venue > 0 {
        return Err(GateRefusal::NoTrustedKeys {
            field: "certificate_gate.venue_keys",
        });
    }
    let keys = TrustedKeys {
        oracle: &gate.oracle_keys,
        venue: &gate.venue_keys,
    };
    let verdict = ale_verify::verify(bytes, &keys, &gate.quorum, now_unix_s)
        .map_err(GateRefusal::Rejected)?;
    if verdict.account_id() != account {
        return Err(GateRefusal::OtherAccount {
            certified: verdict.account_id().to_string(),
            account: account.to_string(),
        });
    }
    if verdict.policy.name() != policy {
        return Err(GateRefusal::OtherPolicy {
            certified: verdict.policy.name(),
            engine: policy.to_string(),
        });
    }
    Ok(Some(verdict))
}
