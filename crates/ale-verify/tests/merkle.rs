//! The verifier's multiproof check agrees with rs_merkle on power-of-two trees, and rejects a
//! wrong leaf, index, count or proof.

use ale_verify::merkle::{leaf_hash, verify_multiproof, ProofError};
use ale_verify::Gas;
use proptest::prelude::*;
use rs_merkle::{algorithms::Sha256, MerkleTree};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn multiproofs_match_rs_merkle(log_n in 0u32..9, picks in proptest::collection::vec(any::<u16>(), 1..20), seed in any::<u8>()) {
        let n = 1usize << log_n;
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| vec![seed, i as u8, (i >> 8) as u8, 7]).collect();
        let mut g = Gas::default();
        let hashes: Vec<[u8; 32]> = leaves.iter().map(|l| leaf_hash(l, &mut g)).collect();
        let tree = MerkleTree::<Sha256>::from_leaves(&hashes);
        let root = tree.root().unwrap();
        let mut idx: Vec<usize> = picks.iter().map(|p| *p as usize % n).collect();
        idx.sort_unstable();
        idx.dedup();
        let proof = tree.proof(&idx);
        let hs: Vec<[u8; 32]> = proof.proof_hashes().to_vec();
        let refs: Vec<&[u8; 32]> = hs.iter().collect();
        let known: Vec<(u32, [u8; 32])> = idx.iter().map(|i| (*i as u32, hashes[*i])).collect();
        prop_assert_eq!(verify_multiproof(&root, n as u32, &known, &refs, &mut g), Ok(()));
        // rs_merkle agrees.
        prop_assert!(proof.verify(root, &idx, &known.iter().map(|k| k.1).collect::<Vec<_>>(), n));
        // A wrong leaf.
        let mut bad = known.clone();
        bad[0].1[0] ^= 1;
        prop_assert_eq!(verify_multiproof(&root, n as u32, &bad, &refs, &mut g), Err(ProofError::Root));
        // A wrong proof hash.
        if !hs.is_empty() {
            let mut h2 = hs.clone();
            h2[0][5] ^= 1;
            let r2: Vec<&[u8; 32]> = h2.iter().collect();
            prop_assert_eq!(verify_multiproof(&root, n as u32, &known, &r2, &mut g), Err(ProofError::Root));
            // One hash too few.
            prop_assert!(verify_multiproof(&root, n as u32, &known, &refs[1..], &mut g).is_err());
        }
        // One hash too many.
        let extra = [0u8; 32];
        let mut r3 = refs.clone();
        r3.push(&extra);
        prop_assert_eq!(verify_multiproof(&root, n as u32, &known, &r3, &mut g), Err(ProofError::Shape));
        // Another index for the same leaf.
        if n > 1 && known.len() == 1 {
            let moved = vec![((known[0].0 + 1) % n as u32, known[0].1)];
            prop_assert!(verify_multiproof(&root, n as u32, &moved, &refs, &mut g).is_err());
        }
        // A wrong leaf count.
        prop_assert!(verify_multiproof(&root, (n as u32) * 2, &known, &refs, &mut g).is_err());
    }
}
