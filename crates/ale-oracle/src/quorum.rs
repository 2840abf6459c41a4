//! k-of-n ed25519 signatures over commitments.
//!
//! - [`SignedRoot`]: one root, (domain, root, time, sequence number, leaf count[, parameter
//!   hash]) — the venue signs its account-state root (with the hash of the margin parameters in
//!   force) this way, and the oracle nodes check that signature before they co-sign.
//!   Signed bytes: domain [16] ‖ root [32] ‖ time i64 ‖ seq u64 ‖ leaf_count u32[ ‖ params_hash].
//! - [`SignedRoots`] (certificate format v2): ONE message covering both roots — the snapshot's
//!   and the account state's — and the parameter hash, signed by the oracle quorum (and, when a
//!   deployment asks for it, by venue keys too). A certificate then carries k signatures
//!   instead of 2k. Signed bytes (152): `"ALE-ROOTS-v2"` zero-padded to 16 ‖ market root ‖
//!   market time i64 ‖ market seq u64 ‖ market leaf_count u32 ‖ state root ‖ state time ‖ state
//!   seq ‖ state leaf_count ‖ params_hash. A signature's key byte is the key's index in the
//!   oracle list, or `0x80 | index` in the venue list.

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Domain tag of market snapshot roots.
pub const MARKET_DOMAIN: [u8; 16] = *b"ALE-SNAPSHOT-v1\0";
/// Domain tag of account-state roots.
pub const STATE_DOMAIN: [u8; 16] = *b"ALE-STATE-v1\0\0\0\0";

/// The joint message's domain tag and the venue-key bit of a [`SignedRoots`] signature, as the
/// verifier defines them (one definition for the signer and the checker).
pub use ale_verify::layout::{ROOTS_DOMAIN, VENUE_KEY};

/// One committed root as the joint message names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootRef {
    /// Merkle root.
    pub root: [u8; 32],
    /// Time, unix seconds.
    pub time_s: i64,
    /// Sequence number.
    pub seq: u64,
    /// Leaves of the tree.
    pub leaf_count: u32,
}

impl RootRef {
    /// The root of a [`SignedRoot`].
    pub fn of(r: &SignedRoot) -> RootRef {
        RootRef {
            root: r.root,
            time_s: r.time_s,
            seq: r.seq,
            leaf_count: r.leaf_count,
        }
    }
    fn commitment(&self) -> ale_verify::layout::Commitment {
        ale_verify::layout::Commitment {
            root: self.root,
            time_s: self.time_s,
            seq: self.seq,
            leaf_count: self.leaf_count,
        }
    }
}

/// Both roots and the parameter hash under one set of signatures (format v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRoots {
    /// The market snapshot's root.
    pub market: RootRef,
    /// The account state's root.
    pub state: RootRef,
    /// The hash of the margin parameters in force.
    pub params_hash: [u8; 32],
    /// (key byte, signature): the oracle key's index, or [`VENUE_KEY`] | the venue key's
    /// index; strictly increasing.
    pub sigs: Vec<(u8, [u8; 64])>,
}

impl SignedRoots {
    /// An unsigned joint commitment.
    pub fn new(market: RootRef, state: RootRef, params_hash: [u8; 32]) -> SignedRoots {
        SignedRoots {
            market,
            state,
            params_hash,
            sigs: Vec::new(),
        }
    }

    /// The 152 bytes the signatures cover (the verifier's own encoding of them).
    pub fn message(&self) -> Vec<u8> {
        ale_verify::layout::roots_message(
            &self.market.commitment(),
            &self.state.commitment(),
            &self.params_hash,
        )
        .to_vec()
    }

    /// Signs with oracle keys and venue keys (index in their trusted list, key; indices below
    /// 128), replacing any signatures.
    pub fn sign(
        mut self,
        oracle: &[(u8, &SigningKey)],
        venue: &[(u8, &SigningKey)],
    ) -> SignedRoots {
        let msg = self.message();
        let mut sigs: Vec<(u8, [u8; 64])> = oracle
            .iter()
            .map(|(i, k)| (*i & !VENUE_KEY, k.sign(&msg).to_bytes()))
            .chain(
                venue
                    .iter()
                    .map(|(i, k)| (*i | VENUE_KEY, k.sign(&msg).to_bytes())),
            )
            .collect();
        sigs.sort_by_key(|s| s.0);
        sigs.dedup_by_key(|s| s.0);
        self.sigs = sigs;
        self
    }
}

/// A root with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRoot {
    /// Domain tag.
    pub domain: [u8; 16],
    /// Merkle root.
    pub root: [u8; 32],
    /// Time, unix seconds.
    pub time_s: i64,
    /// Sequence number.
    pub seq: u64,
    /// Leaves of the tree.
    pub leaf_count: u32,
    /// Parameter hash (account state only).
    pub params_hash: Option<[u8; 32]>,
    /// (key index, signature), key indices strictly increasing.
    pub sigs: Vec<(u8, [u8; 64])>,
}

/// A quorum that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuorumError {
    /// A signature that does not verify.
    #[error("signature {0} does not verify")]
    BadSignature(usize),
    /// A key index outside the trusted list, or repeated.
    #[error("signature {0}: key index not trusted or repeated")]
    BadKey(usize),
    /// Too few signatures.
    #[error("short quorum: {have} of {need}")]
    Short {
        /// Valid.
        have: usize,
        /// Needed.
        need: usize,
    },
}

impl SignedRoot {
    /// The bytes the signatures cover.
    pub fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(100);
        m.extend_from_slice(&self.domain);
        m.extend_from_slice(&self.root);
        m.extend_from_slice(&self.time_s.to_le_bytes());
        m.extend_from_slice(&self.seq.to_le_bytes());
        m.extend_from_slice(&self.leaf_count.to_le_bytes());
        if let Some(h) = &self.params_hash {
            m.extend_from_slice(h);
        }
        m
    }

    /// An unsigned commitment.
    pub fn new(
        domain: [u8; 16],
        root: [u8; 32],
        time_s: i64,
        seq: u64,
        leaf_count: u32,
        params_hash: Option<[u8; 32]>,
    ) -> SignedRoot {
        SignedRoot {
            domain,
            root,
            time_s,
            seq,
            leaf_count,
            params_hash,
            sigs: Vec::new(),
        }
    }

    /// Signs with `signers` (key index in the trusted list, key), replacing any signatures.
    pub fn sign(mut self, signers: &[(u8, &SigningKey)]) -> SignedRoot {
        let msg = self.message();
        let mut sigs: Vec<(u8, [u8; 64])> = signers
            .iter()
            .map(|(i, k)| (*i, k.sign(&msg).to_bytes()))
            .collect();
        sigs.sort_by_key(|s| s.0);
        sigs.dedup_by_key(|s| s.0);
        self.sigs = sigs;
        self
    }

    /// Checks that at least `k` distinct keys of `keys` signed.
    pub fn check(&self, keys: &[VerifyingKey], k: usize) -> Result<(), QuorumError> {
        let msg = self.message();
        let mut last: Option<u8> = None;
        for (n, (i, sig)) in self.sigs.iter().enumerate() {
            if last.is_some_and(|l| l >= *i) {
                return Err(QuorumError::BadKey(n));
            }
            last = Some(*i);
            let key = keys.get(*i as usize).ok_or(QuorumError::BadKey(n))?;
            key.verify(&msg, &ed25519_dalek::Signature::from_bytes(sig))
                .map_err(|_| QuorumError::BadSignature(n))?;
        }
        if self.sigs.len() < k {
            return Err(QuorumError::Short {
                have: self.sigs.len(),
                need: k,
            });
        }
        Ok(())
    }
}

/// `n` deterministic development keys: secret i = SHA-256(label ‖ i). For tests, demos and the
/// CLI's default; never for a real deployment.
pub fn dev_keys(label: &str, n: usize) -> Vec<SigningKey> {
    (0..n)
        .map(|i| {
            let mut h = Sha256::new();
            h.update(label.as_bytes());
            h.update((i as u64).to_le_bytes());
            SigningKey::from_bytes(&h.finalize().into())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_counts_distinct_valid_signatures() {
        let keys = dev_keys("test", 3);
        let vks: Vec<VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
        let r = SignedRoot::new(MARKET_DOMAIN, [7; 32], 100, 1, 8, None)
            .sign(&[(0, &keys[0]), (2, &keys[2])]);
        assert_eq!(r.check(&vks, 2), Ok(()));
        assert_eq!(
            r.check(&vks, 3),
            Err(QuorumError::Short { have: 2, need: 3 })
        );
        let mut forged = r.clone();
        forged.root[0] ^= 1;
        assert_eq!(forged.check(&vks, 2), Err(QuorumError::BadSignature(0)));
        // A key outside the list.
        let r2 = SignedRoot::new(MARKET_DOMAIN, [7; 32], 100, 1, 8, None).sign(&[(5, &keys[0])]);
        assert_eq!(r2.check(&vks, 1), Err(QuorumError::BadKey(0)));
        // Deterministic.
        assert_eq!(dev_keys("test", 1)[0].to_bytes(), keys[0].to_bytes());
    }
}
