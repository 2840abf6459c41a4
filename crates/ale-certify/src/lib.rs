//! `ale-certify`: the certificate builder — the keeper's half of issue 10.
//!
//! Given a market snapshot, the venue's accounts, a policy and the commitments (the snapshot's
//! Merkle tree signed by the oracle quorum, the account-state tree signed by the venue quorum
//! with the parameter hash), [`certify`] builds the certificate of one liquidatable account:
//!
//! 1. the engine (`ale-risk`, f64) margins the account; a healthy one is refused;
//! 2. the market leaves the verifier needs are chosen (underlying header, forwards of the
//!    account's expiries, the SVI slices around each expiry and around the reference ATM
//!    expiry, collateral prices) with their multiproof, and the account leaf with its proof;
//! 3. the witness is picked: under `ramm`, the grid scenario with the largest certified margin
//!    (requirement − value − error), found by running the verifier's own arithmetic over the
//!    grid;
//!    `static` / `oracle-adjusted` need none;
//! 4. the claims are filled in from the verifier's recomputation, and the finished certificate
//!    is checked by `ale_verify::verify` — the same code the on-chain side runs — before it is
//!    returned: a decision within the error bound, or one no single scenario proves, is refused.
//!
//! Why a crate of its own: it needs `ale-risk` and `ale-oracle` (f64, std, allocation), while
//! `ale-verify` must stay integer-only, `no_std` and dependency-free; putting the builder behind
//! a feature of `ale-verify` would make `clippy::float_arithmetic` crate-wide impossible. Arrows
//! still point one way: certify → verify, oracle, risk.
//!
//! Wire types: [`json`] renders a certificate as JSON for people (lossless: `ale verify` reads it
//! back to the same bytes), with the engine's f64 figures beside it (not part of the bytes).

pub mod encode;
pub mod json;

use std::collections::{BTreeMap, BTreeSet};

use ale_core::{Account, Asset, ExpiryDate, Instrument};
use ale_market::MarketSnapshot;
use ale_oracle::commit::{asset_bytes, AccountStateTree, LeafKey, MarketTree};
use ale_oracle::quorum::{SignedRoot, MARKET_DOMAIN, STATE_DOMAIN};
use ale_risk::{
    margin_standalone, AccountMargin, MarginPolicy, OracleAdjusted, OracleAdjustedParams, Ramm,
    RammParams, Static, StaticParams, Status,
};
use ale_verify::{Policy, Quorum, Reason, Rejection, TrustedKeys, Verdict};
use ed25519_dalek::SigningKey;
use thiserror::Error;

pub use encode::{decode, encode, CommitmentParts, Parts};

/// Why no certificate was emitted.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CertifyError {
    /// The engine finds the account healthy or in a margin call: there is nothing to certify.
    #[error("account '{account}' is not liquidatable (status {status}, equity {equity}, maintenance margin {maintenance})")]
    NotLiquidatable {
        /// Account.
        account: String,
        /// Engine status.
        status: &'static str,
        /// Engine equity.
        equity: f64,
        /// Engine maintenance margin.
        maintenance: f64,
    },
    /// The verifier does not accept the best certificate (too close to call, or no single
    /// scenario proves it): the engine must not emit it.
    #[error("account '{account}': refused to certify: {rejection}")]
    Refused {
        /// Account.
        account: String,
        /// What the verifier said.
        rejection: Rejection,
    },
    /// Something the format cannot carry (several underlyings, mark smiles, too many
    /// positions) or bad input.
    #[error("{0}")]
    Unsupported(String),
    /// The engine failed.
    #[error("engine: {0}")]
    Engine(String),
}

/// A policy with its parameters, as the certificate carries them.
#[derive(Debug, Clone)]
pub enum CertPolicy {
    /// `ramm`.
    Ramm(RammParams),
    /// `static`.
    Static(StaticParams),
    /// `oracle-adjusted`.
    OracleAdjusted(OracleAdjustedParams),
}

fn p9(x: f64) -> i64 {
    (x * 1e9).round() as i64
}

impl CertPolicy {
    /// A policy by name with its TOML parameters (`None`: defaults). `pm` is not certified in
    /// format v1.
    pub fn from_name(name: &str, params_toml: Option<&str>) -> Result<CertPolicy, CertifyError> {
        let t = params_toml.unwrap_or("");
        let e = |e: ale_risk::RiskError| CertifyError::Unsupported(e.to_string());
        Ok(match name {
            "ramm" => CertPolicy::Ramm(RammParams::from_toml(t).map_err(e)?),
            "static" => CertPolicy::Static(StaticParams::from_toml(t).map_err(e)?),
            "oracle-adjusted" => {
                CertPolicy::OracleAdjusted(OracleAdjustedParams::from_toml(t).map_err(e)?)
            }
            "pm" => {
                return Err(CertifyError::Unsupported(
                    "policy 'pm' is not certified in format v1 (ramm, static, oracle-adjusted are)"
                        .into(),
                ))
            }
            other => {
                return Err(CertifyError::Unsupported(format!(
                    "unknown policy '{other}': expected ramm, static or oracle-adjusted"
                )))
            }
        })
    }

    /// The verifier's policy code.
    pub fn policy(&self) -> Policy {
        match self {
            CertPolicy::Ramm(_) => Policy::Ramm,
            CertPolicy::Static(_) => Policy::Static,
            CertPolicy::OracleAdjusted(_) => Policy::OracleAdjusted,
        }
    }

    /// The parameters the certificate carries, at scale 1e9, in the verifier's order.
    pub fn params_fixed(&self) -> Vec<i64> {
        match self {
            CertPolicy::Ramm(p) => vec![
                p9(p.z_price),
                p9(p.scan_days),
                p9(p.range_min),
                p9(p.range_max),
                i64::from(p.spot_steps) * 1_000_000_000,
                p9(p.extreme_multiple),
                p9(p.extreme_weight),
                p9(p.max_down_move),
                p9(p.atm_min_days),
                p9(p.vol_ref_days),
                p9(p.vol_up),
                p9(p.vol_up_min),
                p9(p.vol_up_max),
                p9(p.vol_down),
                p9(p.vol_down_min),
                p9(p.vol_down_max),
                p9(p.vol_floor),
                p9(p.gamma_horizon_hours),
                p9(p.z_horizon),
                p9(p.auction_minutes),
                p9(p.slippage_delta_one),
                p9(p.slippage_option),
            ],
            CertPolicy::Static(p) => vec![p9(p.mm_rate)],
            CertPolicy::OracleAdjusted(p) => vec![
                p9(p.mm_rate),
                p9(p.vol_base),
                p9(p.factor_max),
                p9(p.atm_min_days),
            ],
        }
    }

    /// The parameter hash the venue signs with its state.
    pub fn params_hash(&self) -> [u8; 32] {
        ale_verify::params_hash(
            self.policy(),
            &self.params_fixed(),
            &mut ale_verify::Gas::default(),
        )
    }

    /// The engine's margin of one account (f64).
    pub fn margin(
        &self,
        market: &MarketSnapshot,
        account: &Account,
    ) -> Result<AccountMargin, CertifyError> {
        let r = match self {
            CertPolicy::Ramm(p) => margin_standalone(&Ramm { params: p.clone() }, market, account),
            CertPolicy::Static(p) => {
                margin_standalone(&Static { params: p.clone() }, market, account)
            }
            CertPolicy::OracleAdjusted(p) => {
                margin_standalone(&OracleAdjusted { params: p.clone() }, market, account)
            }
        };
        r.map_err(|e| CertifyError::Engine(e.to_string()))
    }

    /// The policy as the engine's trait object.
    pub fn engine_policy(&self) -> Box<dyn MarginPolicy> {
        match self {
            CertPolicy::Ramm(p) => Box::new(Ramm { params: p.clone() }),
            CertPolicy::Static(p) => Box::new(Static { params: p.clone() }),
            CertPolicy::OracleAdjusted(p) => Box::new(OracleAdjusted { params: p.clone() }),
        }
    }

    fn atm_min_days(&self) -> Option<f64> {
        match self {
            CertPolicy::Ramm(p) => Some(p.atm_min_days),
            CertPolicy::Static(_) => None,
            CertPolicy::OracleAdjusted(p) => Some(p.atm_min_days),
        }
    }
}

/// The commitments a certificate rests on: the snapshot tree and its signed root, the account
/// state tree and its signed root (with the parameter hash).
#[derive(Clone)]
pub struct Commitments {
    /// The market tree.
    pub market: MarketTree,
    /// Its signed root.
    pub market_root: SignedRoot,
    /// The account-state tree.
    pub state: AccountStateTree,
    /// Its signed root.
    pub state_root: SignedRoot,
}

impl Commitments {
    /// Commits a snapshot and the venue's accounts, and signs both roots: the snapshot root by
    /// `oracle_signers`, the state root (with `policy`'s parameter hash) by `venue_signers`
    /// (key index in the trusted list, key). The forwards of every expiry the accounts hold are
    /// committed.
    pub fn build(
        market: &MarketSnapshot,
        accounts: &[Account],
        policy: &CertPolicy,
        seq: u64,
        oracle_signers: &[(u8, &SigningKey)],
        venue_signers: &[(u8, &SigningKey)],
    ) -> Result<Commitments, CertifyError> {
        let mut expiries: BTreeMap<Asset, Vec<ExpiryDate>> = BTreeMap::new();
        for a in accounts {
            for p in &a.positions {
                if let Some(e) = p.instrument.expiry() {
                    expiries
                        .entry(p.instrument.underlying().clone())
                        .or_default()
                        .push(e);
                }
            }
        }
        let u = |e: ale_oracle::CommitError| CertifyError::Unsupported(e.to_string());
        let mtree = MarketTree::from_snapshot(market, &expiries).map_err(u)?;
        let stree = AccountStateTree::new(accounts).map_err(u)?;
        let time_s = market.time().unix_seconds();
        let market_root = SignedRoot::new(
            MARKET_DOMAIN,
            mtree.root(),
            time_s,
            seq,
            mtree.leaf_count(),
            None,
        )
        .sign(oracle_signers);
        let state_root = SignedRoot::new(
            STATE_DOMAIN,
            stree.root(),
            time_s,
            seq,
            stree.leaf_count(),
            Some(policy.params_hash()),
        )
        .sign(venue_signers);
        Ok(Commitments {
            market: mtree,
            market_root,
            state: stree,
            state_root,
        })
    }
}

/// The engine's own figures, for a person to read (not part of the certificate's bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineFigures {
    /// Equity.
    pub equity: f64,
    /// Maintenance margin.
    pub maintenance: f64,
    /// Initial margin.
    pub initial: f64,
    /// Status.
    pub status: &'static str,
    /// The witness scenario's spot move and vol direction (ramm).
    pub witness: Option<(f64, &'static str)>,
}

/// An emitted certificate.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// The canonical bytes.
    pub bytes: Vec<u8>,
    /// What the engine computed.
    pub engine: EngineFigures,
    /// What the verifier said when the engine checked it.
    pub verdict: Verdict,
}

fn commitment_parts(r: &SignedRoot) -> CommitmentParts {
    CommitmentParts {
        root: r.root,
        time_s: r.time_s,
        seq: r.seq,
        leaf_count: r.leaf_count,
        sigs: r.sigs.clone(),
    }
}

/// Slices (by index) the verifier reads for an expiry `t` years away: the bracket, with both
/// neighbours when `t` sits within rounding of a slice expiry.
fn slices_for(expiries: &[f64], t: f64, out: &mut BTreeSet<u16>) {
    let n = expiries.len();
    if n == 0 {
        return;
    }
    let near = |x: f64| (x - t).abs() <= 1e-12 * t.abs().max(1e-9);
    for (i, e) in expiries.iter().enumerate() {
        if near(*e) {
            for j in i.saturating_sub(1)..(i + 2).min(n) {
                out.insert(j as u16);
            }
        }
    }
    if t <= expiries[0] {
        out.insert(0);
    } else if t >= expiries[n - 1] {
        out.insert((n - 1) as u16);
    } else {
        let i = expiries.iter().filter(|e| **e < t).count() - 1;
        out.insert(i as u16);
        out.insert((i + 1) as u16);
    }
}

/// Slices for the reference ATM vol at `min_days`: the first slice at least that far and the
/// one before it (the last slice when none is).
fn reference_slices(expiries: &[f64], min_days: f64, out: &mut BTreeSet<u16>) {
    let n = expiries.len();
    let min_years = min_days / 365.0;
    match expiries.iter().position(|e| *e >= min_years) {
        Some(j) => {
            for k in j.saturating_sub(1)..(j + 2).min(n) {
                out.insert(k as u16);
            }
        }
        None => {
            out.insert((n - 1) as u16);
        }
    }
}

/// Builds, self-checks and returns the certificate of `account` (see the crate docs). `keys`
/// and `quorum` are those the verifier will use; `now_unix_s` the time of the check.
pub fn certify(
    policy: &CertPolicy,
    market: &MarketSnapshot,
    commitments: &Commitments,
    account: &Account,
    keys: &TrustedKeys<'_>,
    quorum: &Quorum,
    now_unix_s: i64,
) -> Result<Certificate, CertifyError> {
    let id = account.id.as_str().to_string();
    // 1. The engine's decision.
    let m = policy.margin(market, account)?;
    let status = m.status();
    if status != Status::Liquidatable {
        return Err(CertifyError::NotLiquidatable {
            account: id,
            status: status.name(),
            equity: m.equity,
            maintenance: m.maintenance,
        });
    }
    // 2. The underlying and the leaves.
    let underlyings: BTreeSet<&Asset> = account
        .positions
        .iter()
        .map(|p| p.instrument.underlying())
        .collect();
    let underlying = match (underlyings.len(), underlyings.first()) {
        (1, Some(u)) => (*u).clone(),
        (0, _) => return Err(CertifyError::Unsupported(format!("account '{id}' holds no positions"))),
        _ => {
            return Err(CertifyError::Unsupported(format!(
                "account '{id}' holds positions on several underlyings: format v1 certifies one underlying"
            )))
        }
    };
    let um = market
        .underlying(&underlying)
        .map_err(|e| CertifyError::Engine(e.to_string()))?;
    let mtree = &commitments.market;
    let mut keys_needed: BTreeSet<LeafKey> = BTreeSet::new();
    keys_needed.insert(LeafKey::Underlying(underlying.clone()));
    let slice_t: Vec<f64> = um
        .surface()
        .slices()
        .iter()
        .map(|s| s.expiry_years())
        .collect();
    let mut slices = BTreeSet::new();
    for p in &account.positions {
        if let Some(e) = p.instrument.expiry() {
            keys_needed.insert(LeafKey::Forward(
                underlying.clone(),
                e.instant().unix_seconds(),
            ));
            if let Instrument::Option { .. } = p.instrument {
                slices_for(&slice_t, market.expiry_years(e), &mut slices);
            }
        }
    }
    if let Some(days) = policy.atm_min_days() {
        reference_slices(&slice_t, days, &mut slices);
    }
    for s in slices {
        keys_needed.insert(LeafKey::Slice(underlying.clone(), s));
    }
    for asset in account.collateral.keys() {
        keys_needed.insert(LeafKey::Collateral(asset.clone()));
    }
    let mut indices: Vec<usize> = Vec::new();
    for k in &keys_needed {
        indices.push(
            mtree
                .index_of(k)
                .map_err(|e| CertifyError::Unsupported(e.to_string()))?,
        );
    }
    indices.sort_unstable();
    let leaves: Vec<(u32, [u8; 128])> = indices
        .iter()
        .map(|i| (*i as u32, *mtree.record(*i)))
        .collect();
    let market_proof = mtree.proof(&indices);
    let (account_index, record) = commitments
        .state
        .account(&id)
        .map_err(|e| CertifyError::Unsupported(e.to_string()))?;
    let mut parts = Parts {
        policy: policy.policy().code(),
        time_s: commitments.market_root.time_s,
        params_hash: policy.params_hash(),
        params: policy.params_fixed(),
        market: commitment_parts(&commitments.market_root),
        state: commitment_parts(&commitments.state_root),
        leaves,
        market_proof,
        account: record.to_vec(),
        account_index: account_index as u32,
        account_proof: commitments.state.proof(account_index),
        underlying: asset_bytes(&underlying),
        scenario: match policy {
            CertPolicy::Ramm(_) => 0,
            _ => u16::MAX,
        },
        claimed_value: 0,
        claimed_requirement: 0,
    };
    let refused = |rejection: Rejection| CertifyError::Refused {
        account: id.clone(),
        rejection,
    };
    // 3. The witness: the verifier's arithmetic over the grid.
    let mut witness = None;
    if let CertPolicy::Ramm(p) = policy {
        let (idx, _, _) = ale_verify::ramm_full_grid(&encode(&parts)).map_err(refused)?;
        parts.scenario = idx;
        let grid = ale_risk::RammGrid::new(p, um);
        witness = grid
            .scenarios
            .get(idx as usize)
            .map(|s| (s.spot_move, s.vol.name()));
    }
    // 4. Claims from the verifier's recomputation, then the verifier's check.
    let claim = ale_verify::evaluate_claims(&encode(&parts)).map_err(refused)?;
    parts.claimed_value = claim.value;
    parts.claimed_requirement = claim.requirement;
    let bytes = encode(&parts);
    let verdict = ale_verify::verify(&bytes, keys, quorum, now_unix_s).map_err(refused)?;
    Ok(Certificate {
        bytes,
        engine: EngineFigures {
            equity: m.equity,
            maintenance: m.maintenance,
            initial: m.initial,
            status: status.name(),
            witness,
        },
        verdict,
    })
}

/// The gate the liquidation engine applies: a liquidation of `account_id` starts only with a
/// certificate for it that verifies (or with the gate off, for backtests that do not need it).
pub fn gate(
    enabled: bool,
    certificate: Option<&[u8]>,
    account_id: &str,
    keys: &TrustedKeys<'_>,
    quorum: &Quorum,
    now_unix_s: i64,
) -> Result<Option<Verdict>, Rejection> {
    if !enabled {
        return Ok(None);
    }
    let bytes = certificate.ok_or(Rejection::new("certificate", Reason::MissingLeaf))?;
    let v = ale_verify::verify(bytes, keys, quorum, now_unix_s)?;
    if v.account_id() != account_id {
        return Err(Rejection::new(
            "account.record.id",
            Reason::Invalid("the account being liquidated"),
        ));
    }
    Ok(Some(v))
}
