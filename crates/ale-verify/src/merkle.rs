//! Merkle proofs, compatible with `rs_merkle` (SHA-256) on trees padded to a power of two.
//!
//! Leaf hash = SHA-256(0x00 ‖ leaf bytes); parent = SHA-256(left ‖ right). Leaf preimages are
//! never 64 bytes long (records are 128 bytes, account records are not 63), so a leaf can never
//! pass for an inner node. The tree's leaf count is a power of two and is signed with the root,
//! so the shape is fixed: no lone nodes.
//!
//! A multiproof holds, level by level from the leaves up, the hashes of the siblings that the
//! known nodes do not provide themselves, in increasing index order (rs_merkle's order).

use sha2::{Digest, Sha256};

use crate::fixed::Gas;
use crate::layout::{MAX_DEPTH, MAX_MARKET_LEAVES};

/// SHA-256(0x00 ‖ bytes): the hash of a leaf.
pub fn leaf_hash(bytes: &[u8], gas: &mut Gas) -> [u8; 32] {
    gas.hash(bytes.len() + 1);
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

/// SHA-256(left ‖ right).
pub fn parent_hash(left: &[u8; 32], right: &[u8; 32], gas: &mut Gas) -> [u8; 32] {
    gas.hash(64);
    gas.proof_steps += 1;
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Why a proof does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// Too few or too many proof hashes, or a bad shape (indices, leaf count).
    Shape,
    /// The computed root differs.
    Root,
}

/// Checks that `leaves` (sorted by strictly increasing index, at most `MAX_MARKET_LEAVES`) with
/// the multiproof `proof` lead to `root` in a tree of `leaf_count` (a power of two) leaves.
pub fn verify_multiproof(
    root: &[u8; 32],
    leaf_count: u32,
    leaves: &[(u32, [u8; 32])],
    proof: &[&[u8; 32]],
    gas: &mut Gas,
) -> Result<(), ProofError> {
    if leaves.is_empty() || leaves.len() > MAX_MARKET_LEAVES || !leaf_count.is_power_of_two() {
        return Err(ProofError::Shape);
    }
    let depth = leaf_count.trailing_zeros() as usize;
    if depth > MAX_DEPTH {
        return Err(ProofError::Shape);
    }
    let mut layer = [(0u32, [0u8; 32]); MAX_MARKET_LEAVES];
    let mut n = leaves.len();
    for (i, l) in leaves.iter().enumerate() {
        if l.0 >= leaf_count || (i > 0 && l.0 <= leaves[i - 1].0) {
            return Err(ProofError::Shape);
        }
        layer[i] = *l;
    }
    let mut next_proof = 0usize;
    let mut take = |gas: &mut Gas| -> Result<[u8; 32], ProofError> {
        gas.int_ops += 2;
        let h = proof.get(next_proof).ok_or(ProofError::Shape)?;
        next_proof += 1;
        Ok(**h)
    };
    for _level in 0..depth {
        let mut out = 0usize;
        let mut i = 0usize;
        while i < n {
            let (idx, h) = layer[i];
            let parent = if idx % 2 == 0 {
                if i + 1 < n && layer[i + 1].0 == idx + 1 {
                    let right = layer[i + 1].1;
                    i += 2;
                    parent_hash(&h, &right, gas)
                } else {
                    let right = take(gas)?;
                    i += 1;
                    parent_hash(&h, &right, gas)
                }
            } else {
                let left = take(gas)?;
                i += 1;
                parent_hash(&left, &h, gas)
            };
            layer[out] = (idx / 2, parent);
            out += 1;
        }
        n = out;
    }
    if next_proof != proof.len() || n != 1 || layer[0].0 != 0 {
        return Err(ProofError::Shape);
    }
    if layer[0].1 != *root {
        return Err(ProofError::Root);
    }
    Ok(())
}
