//! The k-of-n quorum check of a signed root (ed25519, `verify_strict`).

use ed25519_dalek::{Signature, VerifyingKey};

use crate::error::{Reason, Rejection};
use crate::fixed::Gas;
use crate::layout::{signed_message, Commitment};

/// Which commitment, for the names in rejections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The market snapshot (oracle keys).
    Market,
    /// The account state (venue keys).
    State,
}

impl Which {
    fn sig_field(self) -> &'static str {
        match self {
            Which::Market => "market.signatures (over market.root, market.time, market.seq, market.leaf_count)",
            Which::State => "state.signatures (over state.root, state.time, state.seq, state.leaf_count, params_hash)",
        }
    }
    fn key_field(self) -> &'static str {
        match self {
            Which::Market => "market.signatures.key",
            Which::State => "state.signatures.key",
        }
    }
    fn domain(self) -> &'static [u8; 16] {
        match self {
            Which::Market => &crate::layout::MARKET_DOMAIN,
            Which::State => &crate::layout::STATE_DOMAIN,
        }
    }
}

/// Checks that at least `quorum` distinct trusted keys signed the commitment. Every signature
/// present must verify (a bad one is a rejection, not skipped: the certificate is malformed).
pub fn check_quorum(
    which: Which,
    c: &Commitment,
    params_hash: Option<&[u8; 32]>,
    keys: &[VerifyingKey],
    quorum: u8,
    gas: &mut Gas,
) -> Result<(), Rejection> {
    if quorum == 0 {
        return Err(Rejection::new(
            which.sig_field(),
            Reason::Invalid("a quorum of at least 1"),
        ));
    }
    let (msg, len) = signed_message(
        which.domain(),
        &c.root,
        c.time_s,
        c.seq,
        c.leaf_count,
        params_hash,
    );
    let msg = &msg[..len];
    let mut valid: u8 = 0;
    for (i, s) in c.sigs.iter().enumerate().take(c.n_sigs) {
        let key = keys.get(s.key as usize).ok_or(Rejection::at(
            which.key_field(),
            i,
            Reason::Untrusted,
        ))?;
        gas.sig_checks += 1;
        let sig = Signature::from_bytes(&s.sig);
        key.verify_strict(msg, &sig)
            .map_err(|_| Rejection::at(which.sig_field(), i, Reason::BadSignature))?;
        valid = valid.saturating_add(1);
    }
    if valid < quorum {
        return Err(Rejection::new(
            which.sig_field(),
            Reason::ShortQuorum {
                have: valid,
                need: quorum,
            },
        ));
    }
    Ok(())
}
