//! The k-of-n quorum check of the signed message of both roots (ed25519, `verify_strict`).
//!
//! One message covers the market snapshot's root, the account state's root and the parameter
//! hash (`layout::roots_message`). It is signed by oracle keys (key byte = index in the oracle
//! list) and, when a deployment asks for it, by venue keys too (key byte = `0x80 | index` in
//! the venue list). `quorum.oracle` oracle signatures are needed, `quorum.venue` venue ones
//! (0: the venue's own signature of its state root is checked by the oracle nodes before they
//! co-sign, not here — docs/verify.md, "What a quorum signature proves").

use ed25519_dalek::{Signature, VerifyingKey};

use crate::error::{Reason, Rejection};
use crate::fixed::Gas;
use crate::layout::{roots_message, Commitment, Sig, MAX_SIGS, VENUE_KEY};

/// The field every signature failure names.
pub const SIG_FIELD: &str = "signatures (over market.root, market.time, market.seq, market.leaf_count, state.root, state.time, state.seq, state.leaf_count, params_hash)";

/// Checks that at least `need_oracle` distinct trusted oracle keys and `need_venue` distinct
/// trusted venue keys signed the message of both roots. Every signature present must verify (a
/// bad one is a rejection, not skipped: the certificate is malformed).
#[allow(clippy::too_many_arguments)]
pub fn check_quorum(
    market: &Commitment,
    state: &Commitment,
    params_hash: &[u8; 32],
    sigs: &[Sig],
    oracle_keys: &[VerifyingKey],
    venue_keys: &[VerifyingKey],
    need_oracle: u8,
    need_venue: u8,
    gas: &mut Gas,
) -> Result<(), Rejection> {
    if need_oracle == 0 {
        return Err(Rejection::new(
            SIG_FIELD,
            Reason::Invalid("an oracle quorum of at least 1"),
        ));
    }
    let msg = roots_message(market, state, params_hash);
    gas.int_ops += 4;
    let (mut oracle, mut venue): (u8, u8) = (0, 0);
    for (i, s) in sigs.iter().enumerate().take(MAX_SIGS) {
        let (list, index) = if s.key & VENUE_KEY != 0 {
            (venue_keys, (s.key & !VENUE_KEY) as usize)
        } else {
            (oracle_keys, s.key as usize)
        };
        let key = list
            .get(index)
            .ok_or(Rejection::at("signatures.key", i, Reason::Untrusted))?;
        gas.sig_checks += 1;
        key.verify_strict(&msg, &Signature::from_bytes(&s.sig))
            .map_err(|_| Rejection::at(SIG_FIELD, i, Reason::BadSignature))?;
        if s.key & VENUE_KEY != 0 {
            venue = venue.saturating_add(1);
        } else {
            oracle = oracle.saturating_add(1);
        }
    }
    if oracle < need_oracle {
        return Err(Rejection::new(
            SIG_FIELD,
            Reason::ShortQuorum {
                have: oracle,
                need: need_oracle,
            },
        ));
    }
    if venue < need_venue {
        return Err(Rejection::new(
            "signatures (venue keys)",
            Reason::ShortQuorum {
                have: venue,
                need: need_venue,
            },
        ));
    }
    Ok(())
}
