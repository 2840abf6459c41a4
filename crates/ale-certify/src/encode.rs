//! Writing the canonical binary layout (the inverse of `ale_verify::layout::parse`).

use ale_verify::layout::{MAGIC, VERSION};

/// Everything a certificate holds, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    /// Policy code (1 ramm, 2 static, 3 oracle-adjusted).
    pub policy: u8,
    /// Decision time, unix seconds.
    pub time_s: i64,
    /// Parameter hash.
    pub params_hash: [u8; 32],
    /// Parameters at scale 1e9.
    pub params: Vec<i64>,
    /// Market commitment.
    pub market: CommitmentParts,
    /// Account-state commitment.
    pub state: CommitmentParts,
    /// Market leaves (index, record), increasing index.
    pub leaves: Vec<(u32, [u8; 128])>,
    /// Market multiproof.
    pub market_proof: Vec<[u8; 32]>,
    /// Account record.
    pub account: Vec<u8>,
    /// Account leaf index.
    pub account_index: u32,
    /// Account proof.
    pub account_proof: Vec<[u8; 32]>,
    /// Witness underlying.
    pub underlying: [u8; 16],
    /// Witness scenario (`u16::MAX`: none).
    pub scenario: u16,
    /// Claimed equity, scale 1e18.
    pub claimed_value: i128,
    /// Claimed bound, scale 1e18.
    pub claimed_requirement: i128,
}

/// A signed root in a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentParts {
    /// Root.
    pub root: [u8; 32],
    /// Time, unix seconds.
    pub time_s: i64,
    /// Sequence number.
    pub seq: u64,
    /// Leaf count.
    pub leaf_count: u32,
    /// (key index, signature).
    pub sigs: Vec<(u8, [u8; 64])>,
}

fn commitment(out: &mut Vec<u8>, c: &CommitmentParts) {
    out.extend_from_slice(&c.root);
    out.extend_from_slice(&c.time_s.to_le_bytes());
    out.extend_from_slice(&c.seq.to_le_bytes());
    out.extend_from_slice(&c.leaf_count.to_le_bytes());
    out.push(c.sigs.len() as u8);
    for (k, s) in &c.sigs {
        out.push(*k);
        out.extend_from_slice(s);
    }
}

/// The canonical bytes.
pub fn encode(p: &Parts) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(p.policy);
    out.push(0);
    out.extend_from_slice(&p.time_s.to_le_bytes());
    out.extend_from_slice(&p.params_hash);
    out.push(p.params.len() as u8);
    for v in &p.params {
        out.extend_from_slice(&v.to_le_bytes());
    }
    commitment(&mut out, &p.market);
    commitment(&mut out, &p.state);
    out.push(p.leaves.len() as u8);
    for (i, r) in &p.leaves {
        out.extend_from_slice(&i.to_le_bytes());
        out.extend_from_slice(r);
    }
    out.push(p.market_proof.len() as u8);
    for h in &p.market_proof {
        out.extend_from_slice(h);
    }
    out.extend_from_slice(&(p.account.len() as u16).to_le_bytes());
    out.extend_from_slice(&p.account);
    out.extend_from_slice(&p.account_index.to_le_bytes());
    out.push(p.account_proof.len() as u8);
    for h in &p.account_proof {
        out.extend_from_slice(h);
    }
    out.extend_from_slice(&p.underlying);
    out.extend_from_slice(&p.scenario.to_le_bytes());
    out.extend_from_slice(&p.claimed_value.to_le_bytes());
    out.extend_from_slice(&p.claimed_requirement.to_le_bytes());
    out
}

/// Parts back from bytes (for tests and the JSON rendering).
pub fn decode(bytes: &[u8]) -> Result<Parts, ale_verify::Rejection> {
    let c = ale_verify::layout::parse(bytes)?;
    let com = |m: &ale_verify::layout::Commitment| CommitmentParts {
        root: m.root,
        time_s: m.time_s,
        seq: m.seq,
        leaf_count: m.leaf_count,
        sigs: m.sigs[..m.n_sigs].iter().map(|s| (s.key, s.sig)).collect(),
    };
    Ok(Parts {
        policy: c.policy.code(),
        time_s: c.time_s,
        params_hash: c.params_hash,
        params: c.params[..c.n_params].to_vec(),
        market: com(&c.market),
        state: com(&c.state),
        leaves: c.leaves[..c.n_leaves]
            .iter()
            .map(|(i, r)| (*i, **r))
            .collect(),
        market_proof: c.market_proof[..c.n_market_proof]
            .iter()
            .map(|h| **h)
            .collect(),
        account: c.account.to_vec(),
        account_index: c.account_index,
        account_proof: c.account_proof[..c.n_account_proof]
            .iter()
            .map(|h| **h)
            .collect(),
        underlying: c.underlying,
        scenario: c.scenario,
        claimed_value: c.claimed_value,
        claimed_requirement: c.claimed_requirement,
    })
}
