//! `ale-verify`: the minimal verifier of ALE's liquidation certificates.
//!
//! A keeper emits, with every liquidation, a certificate: the committed market snapshot values
//! the account needs (Merkle leaves with a multiproof against a root signed by a k-of-n quorum
//! of oracle keys), the account's record (a leaf of the venue's account-state tree, whose root
//! the venue's quorum signed together with the hash of the margin parameters in force), the
//! parameters, a witness scenario, and the claimed equity and bound. [`verify`] checks it:
//!
//! 1. structure (every field bounded, named in any rejection), the parameter hash;
//! 2. the quorum signatures of both roots and their freshness against `now`;
//! 3. every Merkle proof;
//! 4. the claim recomputed in fixed-point integers (`fixed`: i128 at 10^18; exp, ln, sqrt,
//!    normal CDF with stated error bounds), every vol derived from the committed SVI slices:
//!    under `static` / `oracle-adjusted` equity and the maintenance margin; under `ramm` the
//!    account re-priced under the witness scenario s* alone — its value there, equity −
//!    loss(s*), against the charges gamma(s*) + horizon floor (value < charges ⟺ equity <
//!    loss(s*) + gamma(s*) + horizon floor ≤ MM);
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
pub mod quorum;

pub use ed25519_dalek::VerifyingKey;
pub use error::{Reason, Rejection};
pub use fixed::Gas;
pub use layout::{Certificate, Policy};

use sha2::{Digest, Sha256};

use crate::eval::{MarketView, Setup};
use crate::fixed::Ctx;
use crate::layout::{
    decode_account, decode_record, Commitment, Record, MAX_MARKET_LEAVES, MAX_PARAMS,
};
use crate::merkle::{leaf_hash, verify_multiproof, ProofError};
use crate::quorum::{check_quorum, Which};

/// Domain tag of the parameter hash.
pub const PARAMS_DOMAIN: [u8; 16] = *b"ALE-PARAMS-v1\0\0\0";

/// The keys the verifier trusts.
#[derive(Debug, Clone, Copy)]
pub struct TrustedKeys<'a> {
    /// Oracle keys (sign market snapshot roots); a signature names its key by index here.
    pub oracle: &'a [VerifyingKey],
    /// Venue keys (sign account-state roots with the parameter hash).
    pub venue: &'a [VerifyingKey],
}

/// Quorums and freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorum {
    /// Valid oracle signatures needed (k of `oracle.len()`).
    pub oracle: u8,
    /// Valid venue signatures needed.
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
    /// Recomputed value (scale 1e18): the equity (`static`, `oracle-adjusted`), or the
    /// account's value at the witness, equity − loss(s*) (`ramm`).
    pub value: i128,
    /// Recomputed requirement (scale 1e18): the maintenance margin (`static`,
    /// `oracle-adjusted`), or the charges at the witness, gamma(s*) + horizon floor (`ramm`).
    pub requirement: i128,
    /// requirement − value (> error): by how much the account is proved liquidatable.
    pub shortfall: i128,
    /// Accumulated error bound of value and requirement together.
    pub error: i128,
    /// The witness scenario.
    pub scenario: u16,
    /// What the verification cost.
    pub cost: Gas,
}

impl Verdict {
    /// The account id as text (lossy only if the committed id is not UTF-8).
    pub fn account_id(&self) -> &str {
        core::str::from_utf8(&self.account_id[..self.account_id_len]).unwrap_or("<non-utf8>")
    }
}

/// A commitment whose quorum was checked once (an on-chain contract stores it when the root is
/// posted), so that certificates against it skip the signature checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedRoots {
    /// Market snapshot: root, time, seq, leaf count.
    pub market: ([u8; 32], i64, u64, u32),
    /// Account state: root, time, seq, leaf count, parameter hash.
    pub state: ([u8; 32], i64, u64, u32, [u8; 32]),
}

/// SHA-256 of the canonical parameter set: domain ‖ policy ‖ count ‖ values (i64 LE, 1e9).
pub fn params_hash(policy: Policy, params: &[i64], gas: &mut Gas) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(PARAMS_DOMAIN);
    h.update([policy.code(), params.len() as u8]);
    for p in params {
        h.update(p.to_le_bytes());
    }
    gas.hash(18 + 8 * params.len());
    h.finalize().into()
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

/// Verifies a certificate: signatures (k of n oracle keys on the market root, k of n venue keys
/// on the account-state root and parameter hash), freshness (both commitments at most
/// `quorum.max_age_s` old at `now_unix_s`, none from the future), Merkle proofs, then equity and
/// the bound at the witness in integers. `Ok` only for a liquidation proved by more than the
/// accumulated error.
pub fn verify(
    cert: &[u8],
    keys: &TrustedKeys<'_>,
    quorum: &Quorum,
    now_unix_s: i64,
) -> Result<Verdict, Rejection> {
    verify_inner(cert, Trust::Keys(keys, quorum), now_unix_s)
}

/// Checks the quorum signatures of a certificate's two commitments alone, for a verifier that
/// accepts each posted root once and then checks many certificates against it
/// ([`verify_against`]).
pub fn check_roots(
    cert: &[u8],
    keys: &TrustedKeys<'_>,
    quorum: &Quorum,
) -> Result<(CheckedRoots, Gas), Rejection> {
    let c = layout::parse(cert)?;
    let mut gas = Gas::default();
    check_quorum(
        Which::Market,
        &c.market,
        None,
        keys.oracle,
        quorum.oracle,
        &mut gas,
    )?;
    check_quorum(
        Which::State,
        &c.state,
        Some(&c.params_hash),
        keys.venue,
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
    let ph = params_hash(c.policy, &c.params[..c.n_params], &mut ctx.gas);
    if ph != c.params_hash {
        return Err(Rejection::new(
            "params_hash",
            Reason::Invalid("SHA-256 of the params (params and params_hash disagree)"),
        ));
    }
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
                Which::Market,
                &c.market,
                None,
                keys.oracle,
                q.oracle,
                &mut ctx.gas,
            )?;
            check_quorum(
                Which::State,
                &c.state,
                Some(&c.params_hash),
                keys.venue,
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
        let (index, rec) = c.leaves[i];
        hashed[i] = (index, leaf_hash(rec, &mut ctx.gas));
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
    // 4. Equity and bound at the witness.
    let acct = decode_account(c.account)?;
    let mut params = [0i128; MAX_PARAMS];
    eval::params_to_fixed(&c.params[..c.n_params], &mut params);
    let setup = Setup {
        policy: c.policy,
        params: &params[..c.n_params],
        time_s: c.time_s,
        underlying: c.underlying,
    };
    let mv = MarketView::new(&records[..c.n_leaves], &c.underlying).map_err(|r| {
        if r.reason == Reason::MissingLeaf {
            Rejection::new(
                "witness.underlying (no market header leaf for it)",
                Reason::MissingLeaf,
            )
        } else {
            r
        }
    })?;
    let claim = eval::evaluate(&mut ctx, &setup, &mv, &acct, c.scenario)?;
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
        scenario: c.scenario,
        cost: ctx.gas,
    })
}

fn prepare<'a>(
    c: &Certificate<'a>,
    records: &mut [Record; MAX_MARKET_LEAVES],
    params: &mut [i128; MAX_PARAMS],
) -> Result<(layout::AccountRec<'a>, MarketView), Rejection> {
    for (i, slot) in records.iter_mut().enumerate().take(c.n_leaves) {
        *slot = decode_record(c.leaves[i].1, i)?;
    }
    let acct = decode_account(c.account)?;
    eval::params_to_fixed(&c.params[..c.n_params], params);
    let mv = MarketView::new(&records[..c.n_leaves], &c.underlying)?;
    Ok((acct, mv))
}

/// The verifier's arithmetic over the whole `ramm` grid for a certificate's account — the
/// engine's work for it, in the verifier's unit: the best witness, its claim, and the gas the
/// full grid took. Signatures and proofs are not checked here.
pub fn ramm_full_grid(cert: &[u8]) -> Result<(u16, eval::Claim, Gas), Rejection> {
    let c = layout::parse(cert)?;
    let mut records = [Record::Empty; MAX_MARKET_LEAVES];
    let mut params = [0i128; MAX_PARAMS];
    let (acct, mv) = prepare(&c, &mut records, &mut params)?;
    let setup = Setup {
        policy: c.policy,
        params: &params[..c.n_params],
        time_s: c.time_s,
        underlying: c.underlying,
    };
    let mut ctx = Ctx::new();
    let (idx, claim) = eval::ramm_full_grid(&mut ctx, &setup, &mv, &acct)?;
    Ok((idx as u16, claim, ctx.gas))
}

/// The claim at the certificate's witness, without signatures, proofs or the decision: what
/// the certificate builder runs to fill in `claimed_value` and `claimed_requirement`.
pub fn evaluate_claims(cert: &[u8]) -> Result<eval::Claim, Rejection> {
    let c = layout::parse(cert)?;
    let mut records = [Record::Empty; MAX_MARKET_LEAVES];
    let mut params = [0i128; MAX_PARAMS];
    let (acct, mv) = prepare(&c, &mut records, &mut params)?;
    let setup = Setup {
        policy: c.policy,
        params: &params[..c.n_params],
        time_s: c.time_s,
        underlying: c.underlying,
    };
    let mut ctx = Ctx::new();
    eval::evaluate(&mut ctx, &setup, &mv, &acct, c.scenario)
}
