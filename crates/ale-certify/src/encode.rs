//! Writing the canonical binary layout (the inverse of `ale_verify::layout::parse`).

use ale_verify::layout::{ScenarioLeaf, Witness, MAGIC, NO_SCENARIO, VERSION, VERSION_V2};

/// Everything a certificate holds, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    /// Policy code (1 ramm, 2 static, 3 oracle-adjusted, 4 pm).
    pub policy: u8,
    /// Decision time, unix seconds.
    pub time_s: i64,
    /// Parameter hash.
    pub params_hash: [u8; 32],
    /// Parameters at scale 1e9.
    pub params: Vec<i64>,
    /// `pm`: the length of the venue's scenario list and the root of its tree.
    pub scenarios: Option<(u16, [u8; 32])>,
    /// Market snapshot root.
    pub market: CommitmentParts,
    /// Account-state root.
    pub state: CommitmentParts,
    /// Signatures over both roots and the parameter hash: (key byte, signature).
    pub sigs: Vec<(u8, [u8; 64])>,
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
    /// One witness per exposed underlying, increasing names (`ramm`, `pm`).
    pub witnesses: Vec<Witness>,
    /// `pm`: the scenarios the witnesses name, increasing index.
    pub witness_scenarios: Vec<ScenarioLeaf>,
    /// `pm`: their multiproof against the scenario root.
    pub scenario_proof: Vec<[u8; 32]>,
    /// Claimed value, scale 1e18.
    pub claimed_value: i128,
    /// Claimed bound, scale 1e18.
    pub claimed_requirement: i128,
}

/// A committed root in a certificate.
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
}

fn commitment(out: &mut Vec<u8>, c: &CommitmentParts) {
    out.extend_from_slice(&c.root);
    out.extend_from_slice(&c.time_s.to_le_bytes());
    out.extend_from_slice(&c.seq.to_le_bytes());
    out.extend_from_slice(&c.leaf_count.to_le_bytes());
}

fn hashes(out: &mut Vec<u8>, h: &[[u8; 32]]) {
    out.push(h.len() as u8);
    for x in h {
        out.extend_from_slice(x);
    }
}

/// The format version of the canonical bytes of `p`: 3 for a `ramm` certificate naming a
/// gamma witness, 2 otherwise.
pub fn version_of(p: &Parts) -> u16 {
    if p.policy == ale_verify::Policy::Ramm.code()
        && p.witnesses.iter().any(|w| w.gamma != NO_SCENARIO)
    {
        VERSION
    } else {
        VERSION_V2
    }
}

/// The canonical bytes.
pub fn encode(p: &Parts) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    let version = version_of(p);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.push(p.policy);
    out.push(0);
    out.extend_from_slice(&p.time_s.to_le_bytes());
    out.extend_from_slice(&p.params_hash);
    out.push(p.params.len() as u8);
    for v in &p.params {
        out.extend_from_slice(&v.to_le_bytes());
    }
    if let Some((n, root)) = &p.scenarios {
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(root);
    }
    commitment(&mut out, &p.market);
    commitment(&mut out, &p.state);
    out.push(p.sigs.len() as u8);
    for (k, s) in &p.sigs {
        out.push(*k);
        out.extend_from_slice(s);
    }
    out.push(p.leaves.len() as u8);
    for (i, r) in &p.leaves {
        out.extend_from_slice(&i.to_le_bytes());
        // Without the trailing zero bytes (the verifier restores them).
        let len = r.iter().rposition(|b| *b != 0).map_or(0, |at| at + 1);
        out.push(len as u8);
        out.extend_from_slice(&r[..len]);
    }
    hashes(&mut out, &p.market_proof);
    out.extend_from_slice(&(p.account.len() as u16).to_le_bytes());
    out.extend_from_slice(&p.account);
    out.extend_from_slice(&p.account_index.to_le_bytes());
    hashes(&mut out, &p.account_proof);
    out.push(p.witnesses.len() as u8);
    for w in &p.witnesses {
        out.extend_from_slice(&w.underlying);
        out.extend_from_slice(&w.scenario.to_le_bytes());
        if version == VERSION {
            out.extend_from_slice(&w.gamma.to_le_bytes());
        }
    }
    if p.scenarios.is_some() {
        out.push(p.witness_scenarios.len() as u8);
        for s in &p.witness_scenarios {
            out.extend_from_slice(&s.index.to_le_bytes());
            out.extend_from_slice(&s.bytes());
        }
        hashes(&mut out, &p.scenario_proof);
    }
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
    };
    Ok(Parts {
        policy: c.policy.code(),
        time_s: c.time_s,
        params_hash: c.params_hash,
        params: c.params[..c.n_params].to_vec(),
        scenarios: c.scenario_list,
        market: com(&c.market),
        state: com(&c.state),
        sigs: c.sigs[..c.n_sigs].iter().map(|s| (s.key, s.sig)).collect(),
        leaves: c.leaves[..c.n_leaves]
            .iter()
            .map(|(i, r)| (*i, *r))
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
        witnesses: c.witnesses[..c.n_witnesses].to_vec(),
        witness_scenarios: c.witness_scenarios[..c.n_witness_scenarios].to_vec(),
        scenario_proof: c.scenario_proof[..c.n_scenario_proof]
            .iter()
            .map(|h| **h)
            .collect(),
        claimed_value: c.claimed_value,
        claimed_requirement: c.claimed_requirement,
    })
}
