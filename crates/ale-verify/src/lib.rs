//! `ale-verify`: the minimal verifier of ALE's liquidation certificates (formats v2 and v3).
//!
//! A keeper emits, with every liquidation, a certificate: the committed market snapshot values
//! the account needs (Merkle leaves with a multiproof against the snapshot root), the account's
//! record (a leaf of the venue's account-state tree), the parameters, one witness scenario per
//! underlying the account is exposed to, and the claimed value and bound. Both roots and the
//! hash of the margin parameters in force are covered by ONE message, signed by a k-of-n quorum
//! of oracle keys (and, when the verifier asks for it, venue keys). [`verify`] checks it:
//!
//! 1. structure (every field bounded, named in any rejection), the parameter hash;
//! 2. the quorum signatures of the message of both roots and their freshness against `now`;
//! 3. every Merkle proof (market leaves, account leaf, and for `pm` the witness scenarios in
//!    the venue's scenario list);
//! 4. the claim recomputed in fixed-point integers (`fixed`: i128 at 10^18; exp, ln, sqrt,
//!    normal CDF with stated error bounds), every vol derived from the committed SVI slices:
//!    under `static` / `oracle-adjusted` equity and the maintenance margin; under `ramm` the
//!    account re-priced with each underlying u under its witness s*_u alone — its value there,
//!    equity − Σ_u loss_u(s*_u), against the charges Σ_u gamma_u(s*_u) + horizon floor_u
//!    (stage 1), and only when that does not prove the decision, or a witness is a weighted
//!    extreme, with the base pass of the witness underlyings and the engine's exact horizon
//!    (stage 2, [`eval::ramm_claim`]);
//!    under `pm` equity against mm_factor·Σ_u max(0, −X_u) + C_MM, X_u the P&L of u's witness
//!    scenario or its basis floor ([`pm`]) — each a lower bound of the maintenance margin;
//! 5. acceptance only when requirement − value exceeds the accumulated error bound, with the
//!    claims equal to the recomputation (deterministic integers: any difference is a
//!    rejection).
//!
//! The verdict carries the cost in a gas model (`fixed::Gas`: integer op 1, hash 30 + 6 per
//! 32-byte word, signature check 3000, proof step 4 + its hash).
//!
//! Invariants:
//! - no floating point anywhere (`clippy::float_arithmetic` is denied), no allocation (`no_std`,
//!   no `alloc`: every list has a fixed capacity, `layout::MAX_*`), every loop bounded by those
//!   capacities or a named constant;
//! - nothing but its inputs: no clock (`now` is an argument), no I/O, no global state;
//! - no panic on any input: every arithmetic step is checked and a failure is a [`Rejection`]
//!   naming the field;
//! - the verifier depends on no other ALE crate: the layout it reads is the contract
//!   (`docs/formats.md`), and `ale-oracle` / `ale-certify` write it.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(clippy::float_arithmetic)]
#![deny(missing_docs)]

pub mod error;
pub mod eval;
pub mod fixed;
pub mod layout;
pub mod merkle;
mod ncdf_table;
pub mod pm;
pub mod quorum;

pub use ed25519_dalek::VerifyingKey;
pub use error::{Reason, Rejection};
pub use fixed::Gas;
pub use layout::{Certificate, Policy, ScenarioLeaf, Witness};

use sha2::{Digest, Sha256};

use crate::eval::{Market, Search, Setup};
use crate::fixed::Ctx;
use crate::layout::{
    decode_account, decode_record, Commitment, Record, MAX_MARKET_LEAVES, MAX_PARAMS,
    MAX_WITNESSES, NO_SCENARIO,
};
use crate::merkle::{leaf_hash, verify_multiproof, ProofError};
use crate::quorum::check_quorum;

/// Domain tag of the parameter hash.
pub const PARAMS_DOMAIN: [u8; 16] = *b"ALE-PARAMS-v2\0\0\0";

/// The keys the verifier trusts.
#[derive(Debug, Clone, Copy)]
pub struct TrustedKeys<'a> {
    /// Oracle keys; a signature names its key by index here.
    pub oracle: &'a [VerifyingKey],
    /// Venue keys; a signature names its key by `0x80 | index` here.
    pub venue: &'a [VerifyingKey],
}

/// Quorums and freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorum {
    /// Valid oracle signatures needed on the message of both roots (k of `oracle.len()`, ≥ 1).
    pub oracle: u8,
    /// Valid venue signatures needed on the same message (0: the oracle nodes checked the
    /// venue's signature of its state root before co-signing; docs/verify.md).
    pub venue: u8,
    /// Oldest commitment accepted, seconds before `now`.
    pub max_age_s: i64,
}

/// An accepted certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The policy.
    pub policy: Policy,
    /// The account id (first `account_id_len` bytes, UTF-8 as committed).
    pub account_id: [u8; layout::MAX_ACCOUNT_ID],
    /// Length of the account id.
    pub account_id_len: usize,
    /// Recomputed value (scale 1e18): the equity (`static`, `oracle-adjusted`, `pm`), or the
    /// account's value at the witnesses, equity − Σ_u loss_u(s*_u) (`ramm`; w·loss_u at a
    /// weighted extreme).
    pub value: i128,
    /// Recomputed requirement (scale 1e18): the maintenance margin (`static`,
    /// `oracle-adjusted`), the charges at the witnesses (`ramm`), mm_factor·Σ_u max(0, −X_u) +
    /// C_MM (`pm`).
    pub requirement: i128,
    /// requirement − value (> error): by how much the account is proved liquidatable.
    pub shortfall: i128,
    /// Accumulated error bound of value and requirement together.
    pub error: i128,
    /// The first witness's scenario ([`layout::NO_SCENARIO`] when there is none).
    pub scenario: u16,
    /// Every witness (underlying, scenario), in increasing name order.
    pub witnesses: [Witness; MAX_WITNESSES],
    /// How many of `witnesses` are used.
    pub n_witnesses: usize,
    /// `ramm`: the stage that proved the decision (1: the witnesses' pricings alone; 2: with
    /// the base pass of the witness underlyings and the engine's horizon — run only when stage
    /// 1 does not prove it or a witness is a weighted extreme; `eval::ramm_claim`). 1 for the
    /// other policies. `cost` counts stage 2 only when it ran.
    pub stage: u8,
    /// What the verification cost.
    pub cost: Gas,
}

impl Verdict {
    /// The account id as text (lossy only if the committed id is not UTF-8).
    pub fn account_id(&self) -> &str {
        core::str::from_utf8(&self.account_id[..self.account_id_len]).unwrap_or("<non-utf8>")
    }
    /// The witnesses.
    pub fn witnesses(&self) -> &[Witness] {
        &self.witnesses[..self.n_witnesses]
    }
}

/// The commitments of a certificate whose quorum was checked once (an on-chain contract stores
/// them when they are posted), so that certificates against them skip the signature checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedRoots {
    /// Market snapshot: root, time, seq, leaf count.
    pub market: ([u8; 32], i64, u64, u32),
    /// Account state: root, time, seq, leaf count, parameter hash.
    pub state: ([u8; 32], i64, u64, u32, [u8; 32]),
}

/// SHA-256 of the canonical parameter set of a policy without a scenario list: domain ‖
/// policy ‖ count ‖ values (i64 LE, 1e9).
pub fn params_hash(policy: Policy, params: &[i64], gas: &mut Gas) -> [u8; 32] {
    params_hash_with(policy, params, None, gas)
}

/// SHA-256 of the canonical parameter set: domain ‖ policy ‖ count ‖ values (i64 LE, 1e9), and
/// for `pm` ‖ the scenario count (u16 LE) ‖ the scenario tree's root.
pub fn params_hash_with(
    policy: Policy,
    params: &[i64],
    scenarios: Option<(u16, [u8; 32])>,
    gas: &mut Gas,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(PARAMS_DOMAIN);
    h.update([policy.code(), params.len() as u8]);
    for p in params {
        h.update(p.to_le_bytes());
    }
    let mut bytes = 18 + 8 * params.len();
    if let Some((n, root)) = scenarios {
        h.update(n.to_le_bytes());
        h.update(root);
        bytes += 34;
    }
    gas.hash(bytes);
    h.finalize().into()
}

/// The root of the Merkle tree of a scenario list (leaf i = `list[i].bytes()`, padded to a
/// power of two with the leaf of 33 zero bytes).
pub fn scenario_leaf_hash(leaf: &ScenarioLeaf, gas: &mut Gas) -> [u8; 32] {
    leaf_hash(&leaf.bytes(), gas)
}

fn fresh(field: &'static str, time_s: i64, now: i64, max_age_s: i64) -> Result<(), Rejection> {
    let age_s = now.saturating_sub(time_s);
    if age_s < 0 || age_s > max_age_s {
        return Err(Rejection::new(field, Reason::Stale { age_s, max_age_s }));
    }
    Ok(())
}

enum Trust<'k> {
    Keys(&'k TrustedKeys<'k>, &'k Quorum),
    Checked(&'k CheckedRoots, i64),
}

/// Verifies a certificate: signatures (k of n oracle keys, and `quorum.venue` venue keys, on
/// one message covering the market root, the account-state root and the parameter hash),
/// freshness (both commitments at most `quorum.max_age_s` old at `now_unix_s`, none from the
/// future), Merkle proofs, then equity and the bound at the witnesses in integers. `Ok` only
/// for a liquidation proved by more than the accumulated error.
pub fn verify(
    cert: &[u8],
    keys: &TrustedKeys<'_>,
    quorum: &Quorum,
    now_unix_s: i64,
) -> Result<Verdict, Rejection> {
    verify_inner(cert, Trust::Keys(keys, quorum), now_unix_s)
}

fn checked_params_hash(c: &Certificate<'_>, gas: &mut Gas) -> Result<(), Rejection> {
    let ph = params_hash_with(c.policy, &c.params[..c.n_params], c.scenario_list, gas);
    if ph != c.params_hash {
        return Err(Rejection::new(
            "params_hash",
            Reason::Invalid(
                "SHA-256 of the params (and scenarios): params_hash and params / scenarios disagree",
            ),
        ));
    }
    Ok(())
}

/// Checks the quorum signatures of a certificate's commitments alone, for a verifier that
/// accepts each posted pair of roots once and then checks many certificates against it
/// ([`verify_against`]).
pub fn check_roots(
    cert: &[u8],
    keys: &TrustedKeys<'_>,
    quorum: &Quorum,
) -> Result<(CheckedRoots, Gas), Rejection> {
    let c = layout::parse(cert)?;
    let mut gas = Gas::default();
    checked_params_hash(&c, &mut gas)?;
    check_quorum(
        &c.market,
        &c.state,
        &c.params_hash,
        &c.sigs[..c.n_sigs],
        keys.oracle,
        keys.venue,
        quorum.oracle,
        quorum.venue,
        &mut gas,
    )?;
    Ok((roots_of(&c), gas))
}

fn roots_of(c: &Certificate<'_>) -> CheckedRoots {
    CheckedRoots {
        market: (
            c.market.root,
            c.market.time_s,
            c.market.seq,
            c.market.leaf_count,
        ),
        state: (
            c.state.root,
            c.state.time_s,
            c.state.seq,
            c.state.leaf_count,
            c.params_hash,
        ),
    }
}

/// Verifies a certificate against commitments already checked by [`check_roots`] (no signature
/// checks: the rest of [`verify`] in full).
pub fn verify_against(
    cert: &[u8],
    roots: &CheckedRoots,
    max_age_s: i64,
    now_unix_s: i64,
) -> Result<Verdict, Rejection> {
    verify_inner(cert, Trust::Checked(roots, max_age_s), now_unix_s)
}

fn commitment_matches(c: &Commitment, r: &([u8; 32], i64, u64, u32)) -> bool {
    c.root == r.0 && c.time_s == r.1 && c.seq == r.2 && c.leaf_count == r.3
}

fn verify_inner(cert: &[u8], trust: Trust<'_>, now: i64) -> Result<Verdict, Rejection> {
    let c = layout::parse(cert)?;
    let mut ctx = Ctx::new();
    // 1. Parameters.
    checked_params_hash(&c, &mut ctx.gas)?;
    if c.time_s != c.market.time_s {
        return Err(Rejection::new(
            "time",
            Reason::Invalid("equal to market.time"),
        ));
    }
    // 2. Signatures and freshness.
    let max_age = match trust {
        Trust::Keys(keys, q) => {
            check_quorum(
                &c.market,
                &c.state,
                &c.params_hash,
                &c.sigs[..c.n_sigs],
                keys.oracle,
                keys.venue,
                q.oracle,
                q.venue,
                &mut ctx.gas,
            )?;
            q.max_age_s
        }
        Trust::Checked(roots, max_age) => {
            if !commitment_matches(&c.market, &roots.market) {
                return Err(Rejection::new("market.root", Reason::Untrusted));
            }
            let s = &roots.state;
            if !commitment_matches(&c.state, &(s.0, s.1, s.2, s.3)) || c.params_hash != s.4 {
                return Err(Rejection::new("state.root", Reason::Untrusted));
            }
            max_age
        }
    };
    fresh("market.time", c.market.time_s, now, max_age)?;
    fresh("state.time", c.state.time_s, now, max_age)?;
    // 3. Merkle proofs.
    let mut hashed = [(0u32, [0u8; 32]); MAX_MARKET_LEAVES];
    let mut records = [Record::Empty; MAX_MARKET_LEAVES];
    for i in 0..c.n_leaves {
        let (index, rec) = &c.leaves[i];
        hashed[i] = (*index, leaf_hash(rec, &mut ctx.gas));
        records[i] = decode_record(rec, i)?;
    }
    if c.n_leaves == 0 {
        return Err(Rejection::new("market.leaves", Reason::MissingLeaf));
    }
    verify_multiproof(
        &c.market.root,
        c.market.leaf_count,
        &hashed[..c.n_leaves],
        &c.market_proof[..c.n_market_proof],
        &mut ctx.gas,
    )
    .map_err(|e| {
        Rejection::new(
            match e {
                ProofError::Shape => "market.proof (count or shape, for market.leaves)",
                ProofError::Root => "market.leaves / market.proof (do not hash to market.root)",
            },
            Reason::ProofMismatch,
        )
    })?;
    let account_leaf = leaf_hash(c.account, &mut ctx.gas);
    verify_multiproof(
        &c.state.root,
        c.state.leaf_count,
        &[(c.account_index, account_leaf)],
        &c.account_proof[..c.n_account_proof],
        &mut ctx.gas,
    )
    .map_err(|e| {
        Rejection::new(
            match e {
                ProofError::Shape => "account.proof (count or shape, for account.index)",
                ProofError::Root => {
                    "account.record / account.index / account.proof (do not hash to state.root)"
                }
            },
            Reason::ProofMismatch,
        )
    })?;
    check_scenario_proof(&c, &mut ctx.gas)?;
    // 4. Equity and bound at the witnesses.
    let acct = decode_account(c.account)?;
    let mut params = [0i128; MAX_PARAMS];
    eval::params_to_fixed(&c.params[..c.n_params], &mut params);
    let setup = Setup {
        policy: c.policy,
        params: &params[..c.n_params],
        time_s: c.time_s,
        witnesses: &c.witnesses[..c.n_witnesses],
        scenarios: &c.witness_scenarios[..c.n_witness_scenarios],
    };
    let market = Market::new(&records[..c.n_leaves])?;
    let claim = eval::evaluate(&mut ctx, &setup, &market, &acct)?;
    let error = claim.err;
    // 5. Claims and decision. The claims are the verifier's own deterministic integers: they
    // must match exactly.
    if c.claimed_value != claim.value {
        let field = match c.policy {
            Policy::Ramm => "claimed_value (at witness.scenario)",
            _ => "claimed_value",
        };
        return Err(Rejection::new(field, Reason::Mismatch));
    }
    if c.claimed_requirement != claim.requirement {
        return Err(Rejection::new(
            "claimed_requirement (at witness.scenario)",
            Reason::Mismatch,
        ));
    }
    let shortfall = claim.requirement.saturating_sub(claim.value);
    if shortfall <= 0 {
        return Err(Rejection::new(
            "claimed_requirement (at witness.scenario)",
            Reason::NotLiquidatable,
        ));
    }
    if shortfall <= error {
        return Err(Rejection::new(
            "claimed_requirement (at witness.scenario)",
            Reason::TooClose,
        ));
    }
    let mut account_id = [0u8; layout::MAX_ACCOUNT_ID];
    account_id[..acct.id.len()].copy_from_slice(acct.id);
    Ok(Verdict {
        policy: c.policy,
        account_id,
        account_id_len: acct.id.len(),
        value: claim.value,
        requirement: claim.requirement,
        shortfall,
        error,
        scenario: c.first_scenario(),
        witnesses: c.witnesses,
        n_witnesses: c.n_witnesses,
        stage: claim.stage,
        cost: ctx.gas,
    })
}

/// `pm`: the witness scenarios are leaves of the venue's scenario tree (whose root the
/// parameter hash covers), each named by a witness.
fn check_scenario_proof(c: &Certificate<'_>, gas: &mut Gas) -> Result<(), Rejection> {
    let Some((count, root)) = c.scenario_list else {
        return Ok(());
    };
    let leaves = &c.witness_scenarios[..c.n_witness_scenarios];
    for (i, l) in leaves.iter().enumerate() {
        if !c.witnesses[..c.n_witnesses]
            .iter()
            .any(|w| w.scenario == l.index)
        {
            return Err(Rejection::at(
                "witness_scenarios.index",
                i,
                Reason::Invalid("a scenario some witness names"),
            ));
        }
    }
    if leaves.is_empty() {
        if c.n_scenario_proof != 0 {
            return Err(Rejection::new(
                "witness_scenarios.proof (count or shape, for witness_scenarios)",
                Reason::ProofMismatch,
            ));
        }
        return Ok(());
    }
    let mut hashed = [(0u32, [0u8; 32]); MAX_WITNESSES];
    for (slot, l) in hashed.iter_mut().zip(leaves) {
        *slot = (u32::from(l.index), scenario_leaf_hash(l, gas));
    }
    verify_multiproof(
        &root,
        u32::from(count).next_power_of_two(),
        &hashed[..leaves.len()],
        &c.scenario_proof[..c.n_scenario_proof],
        gas,
    )
    .map_err(|e| {
        Rejection::new(
            match e {
                ProofError::Shape => {
                    "witness_scenarios.proof (count or shape, for witness_scenarios)"
                }
                ProofError::Root => {
                    "witness_scenarios / witness_scenarios.proof (do not hash to scenarios.root)"
                }
            },
            Reason::ProofMismatch,
        )
    })
}

fn prepare<'a>(
    c: &Certificate<'a>,
    records: &mut [Record; MAX_MARKET_LEAVES],
    params: &mut [i128; MAX_PARAMS],
) -> Result<layout::AccountRec<'a>, Rejection> {
    for (i, slot) in records.iter_mut().enumerate().take(c.n_leaves) {
        *slot = decode_record(&c.leaves[i].1, i)?;
    }
    let acct = decode_account(c.account)?;
    eval::params_to_fixed(&c.params[..c.n_params], params);
    Ok(acct)
}

/// The best witnesses for a certificate's account, found by the verifier's arithmetic over
/// every scenario (the `ramm` grid of each exposed underlying; for `pm`, every scenario of
/// `pm_list`, the venue's whole list, and the basis floor), with the gas it took: the engine's
/// work for the account in the verifier's unit. The certificate's own witnesses are ignored;
/// signatures and proofs are not checked. `static` and `oracle-adjusted` have no witnesses.
pub fn search(cert: &[u8], pm_list: &[ScenarioLeaf]) -> Result<(Search, Gas), Rejection> {
    let c = layout::parse(cert)?;
    let mut records = [Record::Empty; MAX_MARKET_LEAVES];
    let mut params = [0i128; MAX_PARAMS];
    let acct = prepare(&c, &mut records, &mut params)?;
    let setup = Setup {
        policy: c.policy,
        params: &params[..c.n_params],
        time_s: c.time_s,
        witnesses: &[],
        scenarios: &[],
    };
    let market = Market::new(&records[..c.n_leaves])?;
    let mut ctx = Ctx::new();
    let found = match c.policy {
        Policy::Ramm => eval::ramm_full_grid(&mut ctx, &setup, &market, &acct)?,
        Policy::Pm => pm::pm_full_search(&mut ctx, &setup, &market, &acct, pm_list)?,
        Policy::Static | Policy::OracleAdjusted => Search {
            witnesses: [Witness::new([0; 16], NO_SCENARIO); MAX_WITNESSES],
            n: 0,
        },
    };
    Ok((found, ctx.gas))
}

/// The verifier's arithmetic over the whole `ramm` grid for a certificate's account — the
/// engine's work for it, in the verifier's unit: the first underlying's best witness, the claim
/// at the best witnesses, and the gas the full grid took. Signatures and proofs are not
/// checked.
pub fn ramm_full_grid(cert: &[u8]) -> Result<(u16, eval::Claim, Gas), Rejection> {
    let (found, gas) = search(cert, &[])?;
    let c = layout::parse(cert)?;
    let mut records = [Record::Empty; MAX_MARKET_LEAVES];
    let mut params = [0i128; MAX_PARAMS];
    let acct = prepare(&c, &mut records, &mut params)?;
    let setup = Setup {
        policy: c.policy,
        params: &params[..c.n_params],
        time_s: c.time_s,
        witnesses: found.as_slice(),
        scenarios: &[],
    };
    let market = Market::new(&records[..c.n_leaves])?;
    let claim = eval::evaluate(&mut Ctx::new(), &setup, &market, &acct)?;
    let first = found.as_slice().first().map_or(NO_SCENARIO, |w| w.scenario);
    Ok((first, claim, gas))
}

/// The claim at the certificate's witnesses, without signatures, proofs or the decision: what
/// the certificate builder runs to fill in `claimed_value` and `claimed_requirement`.
pub fn evaluate_claims(cert: &[u8]) -> Result<eval::Claim, Rejection> {
    let c = layout::parse(cert)?;
    let mut records = [Record::Empty; MAX_MARKET_LEAVES];
    let mut params = [0i128; MAX_PARAMS];
    let acct = prepare(&c, &mut records, &mut params)?;
    let setup = Setup {
        policy: c.policy,
        params: &params[..c.n_params],
        time_s: c.time_s,
        witnesses: &c.witnesses[..c.n_witnesses],
        scenarios: &c.witness_scenarios[..c.n_witness_scenarios],
    };
    let market = Market::new(&records[..c.n_leaves])?;
    let mut ctx = Ctx::new();
    eval::evaluate(&mut ctx, &setup, &market, &acct)
}
