//! k-of-n ed25519 signatures over a commitment: (domain, root, time, sequence number, leaf
//! count[, parameter hash]).
//!
//! Signed bytes: domain [16] ‖ root [32] ‖ time i64 ‖ seq u64 ‖ leaf_count u32, and for the
//! account state ‖ params_hash [32] (the venue attests the parameters in force with its state).

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Domain tag of market snapshot roots.
pub const MARKET_DOMAIN: [u8; 16] = *b"ALE-SNAPSHOT-v1\0";
/// Domain tag of account-state roots.
pub const STATE_DOMAIN: [u8; 16] = *b"ALE-STATE-v1\0\0\0\0";

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
