//! `ale-certify`: the certificate builder — the keeper's half of issue 10.
//!
//! Given a market snapshot, the venue's accounts, a policy and the commitments (the snapshot's
//! and the account state's Merkle trees, both roots and the parameter hash under one message
//! signed by the oracle quorum — and the venue's keys when asked), [`certify`] builds the
//! certificate of one liquidatable account:
//!
//! 1. the engine (`ale-risk`, f64) margins the account; a healthy one is refused;
//! 2. the market leaves the verifier needs are chosen (per underlying the account is exposed
//!    to: its header, the forwards of the account's expiries, the SVI slices around each expiry
//!    and around the reference ATM expiry; collateral prices; under `pm` the stable record)
//!    with their multiproof, and the account leaf with its proof;
//! 3. the witnesses are picked, one per underlying: under `ramm` the grid scenario, under `pm`
//!    the scenario of the venue's list (or the basis floor) with the largest certified margin,
//!    found by running the verifier's own arithmetic over every scenario; `static` /
//!    `oracle-adjusted` need none. Under `ramm` the cheapest certificate that proves the
//!    decision: the best stage-1 witness when stage 1 proves it, else the best under stage 2
//!    (an extreme allowed), else stage 2 with the grid's worst gamma scenario as the gamma
//!    witness (format v3) — `ale_verify::eval::ramm_full_grid`;
//! 4. the claims are filled in from the verifier's recomputation, and the finished certificate
//!    is checked by `ale_verify::verify` — the same code the on-chain side runs — before it is
//!    returned: a decision within the error bound (or one the verifier cannot prove otherwise)
//!    is refused.
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
use ale_oracle::commit::{to_fixed, AccountStateTree, LeafKey, MarketTree};
use ale_oracle::quorum::{RootRef, SignedRoot, SignedRoots, MARKET_DOMAIN, STATE_DOMAIN};
use ale_risk::pm::VolDirection;
use ale_risk::{
    margin_standalone, AccountMargin, MarginPolicy, OracleAdjusted, OracleAdjustedParams, PmPolicy,
    Ramm, RammParams, Static, StaticParams, Status,
};
use ale_verify::layout::{ScenarioLeaf, Witness, BASIS, MAX_MARKET_LEAVES, MAX_WITNESSES};
use ale_verify::{Policy, Quorum, Rejection, TrustedKeys, Verdict};
use ed25519_dalek::SigningKey;
use rs_merkle::{algorithms::Sha256 as MerkleSha256, MerkleTree};
use thiserror::Error;

pub use encode::{decode, encode, version_of, CommitmentParts, Parts};

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
    /// The verifier does not accept the best certificate (too close to call — under `ramm` too,
    /// since stage 2 and the gamma witness, up to the `tail` component — or outside the
    /// verifier's domain): the engine must not emit it.
    #[error("account '{account}': refused to certify: {rejection}")]
    Refused {
        /// Account.
        account: String,
        /// What the verifier said.
        rejection: Rejection,
    },
    /// Something the format cannot carry (mark smiles, too many positions, underlyings or
    /// leaves, a balance without a committed price) or bad input.
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
    /// `pm` (its parameters and scenario list).
    Pm(PmPolicy),
}

fn p9(x: f64) -> i64 {
    (x * 1e9).round() as i64
}

fn vol_code(v: VolDirection) -> u8 {
    match v {
        VolDirection::Up => 0,
        VolDirection::None => 1,
        VolDirection::Down => 2,
        VolDirection::Linear => 3,
        VolDirection::Abs => 4,
    }
}

fn scenario_hash(leaf: &ScenarioLeaf) -> [u8; 32] {
    ale_verify::scenario_leaf_hash(leaf, &mut ale_verify::Gas::default())
}

/// `pm`'s scenario list as a Merkle tree.
type ScenarioTree = (Vec<ScenarioLeaf>, MerkleTree<MerkleSha256>);

impl CertPolicy {
    /// A policy by name with its TOML parameters (`None`: defaults).
    pub fn from_name(name: &str, params_toml: Option<&str>) -> Result<CertPolicy, CertifyError> {
        let t = params_toml.unwrap_or("");
        let e = |e: ale_risk::RiskError| CertifyError::Unsupported(e.to_string());
        Ok(match name {
            "ramm" => CertPolicy::Ramm(RammParams::from_toml(t).map_err(e)?),
            "static" => CertPolicy::Static(StaticParams::from_toml(t).map_err(e)?),
            "oracle-adjusted" => {
                CertPolicy::OracleAdjusted(OracleAdjustedParams::from_toml(t).map_err(e)?)
            }
            "pm" => CertPolicy::Pm(PmPolicy::from_toml(params_toml).map_err(e)?),
            other => {
                return Err(CertifyError::Unsupported(format!(
                    "unknown policy '{other}': expected ramm, static, oracle-adjusted or pm"
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
            CertPolicy::Pm(_) => Policy::Pm,
        }
    }

    /// The parameters the certificate carries, at scale 1e9, in the verifier's order (`pm`:
    /// those its maintenance bound reads, `ale_verify::pm::pm_param`).
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
            CertPolicy::Pm(pm) => {
                let p = &pm.config.params;
                let (v, m, b, o, k) = (
                    &p.vol_shock,
                    &p.margin,
                    &p.basis_contingency,
                    &p.other_contingency,
                    &p.skew_shock,
                );
                [
                    v.vol_range_up,
                    v.vol_range_down,
                    v.short_term_power,
                    v.long_term_power,
                    v.dte_floor_days,
                    v.min_vol_up_shock,
                    m.mm_factor,
                    m.short_rate_mult_scale,
                    m.long_rate_mult_scale,
                    m.short_rate_add_scale,
                    m.long_rate_add_scale,
                    m.short_base_static_discount,
                    m.long_base_static_discount,
                    b.scenario_spot_up,
                    b.scenario_spot_down,
                    b.add_factor,
                    b.mult_factor,
                    o.mm_perp_percent,
                    o.mm_option_percent,
                    k.linear_base_cap,
                    k.abs_base_cap,
                    k.linear_c_base,
                    k.abs_c_base,
                    k.min_k_star,
                    k.width_scale,
                    k.vol_param_static,
                    k.vol_param_scale,
                ]
                .into_iter()
                .map(p9)
                .collect()
            }
        }
    }

    /// `pm`: the venue's scenario list as leaves of its tree (spot shock and dampening at
    /// 1e18, the shortest decimal of each f64); empty for the other policies.
    pub fn scenario_leaves(&self) -> Result<Vec<ScenarioLeaf>, CertifyError> {
        let CertPolicy::Pm(pm) = self else {
            return Ok(Vec::new());
        };
        let u = |e: ale_oracle::CommitError| CertifyError::Unsupported(e.to_string());
        let list = pm.config.scenarios.as_slice();
        if list.len() > usize::from(ale_verify::layout::MAX_SCENARIO_LIST) {
            return Err(CertifyError::Unsupported(format!(
                "a pm scenario list of {} scenarios: a certificate commits to at most {}",
                list.len(),
                ale_verify::layout::MAX_SCENARIO_LIST
            )));
        }
        list.iter()
            .enumerate()
            .map(|(i, s)| {
                Ok(ScenarioLeaf {
                    index: i as u16,
                    spot_shock: to_fixed(&format!("scenarios[{i}].spot_shock"), s.spot_shock)
                        .map_err(u)?,
                    dampening: to_fixed(&format!("scenarios[{i}].dampening"), s.dampening)
                        .map_err(u)?,
                    vol: vol_code(s.vol_shock),
                })
            })
            .collect()
    }

    /// `pm`: the scenario tree (leaf i = scenario i; padded to a power of two with the leaf of
    /// 33 zero bytes); `None` for the other policies.
    fn scenario_tree(&self) -> Result<Option<ScenarioTree>, CertifyError> {
        if !matches!(self, CertPolicy::Pm(_)) {
            return Ok(None);
        }
        let leaves = self.scenario_leaves()?;
        let n = leaves.len().max(1).next_power_of_two();
        let pad = scenario_hash(&ScenarioLeaf {
            index: 0,
            spot_shock: 0,
            dampening: 0,
            vol: 0,
        });
        let mut hashes: Vec<[u8; 32]> = leaves.iter().map(scenario_hash).collect();
        hashes.resize(n, pad);
        Ok(Some((
            leaves,
            MerkleTree::<MerkleSha256>::from_leaves(&hashes),
        )))
    }

    /// `pm`: the scenario count and the root of the scenario tree (`None` otherwise).
    pub fn scenario_commitment(&self) -> Result<Option<(u16, [u8; 32])>, CertifyError> {
        Ok(self
            .scenario_tree()?
            .map(|(l, t)| (l.len() as u16, t.root().unwrap_or([0; 32]))))
    }

    /// The parameter hash the venue signs with its state (`pm`: with the scenario list's
    /// count and root).
    pub fn params_hash(&self) -> [u8; 32] {
        ale_verify::params_hash_with(
            self.policy(),
            &self.params_fixed(),
            self.scenario_commitment().ok().flatten(),
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
            CertPolicy::Pm(p) => p.account_margin(market, account),
        };
        r.map_err(|e| CertifyError::Engine(e.to_string()))
    }

    /// The policy as the engine's trait object.
    pub fn engine_policy(&self) -> Box<dyn MarginPolicy> {
        match self {
            CertPolicy::Ramm(p) => Box::new(Ramm { params: p.clone() }),
            CertPolicy::Static(p) => Box::new(Static { params: p.clone() }),
            CertPolicy::OracleAdjusted(p) => Box::new(OracleAdjusted { params: p.clone() }),
            CertPolicy::Pm(p) => Box::new(p.clone()),
        }
    }

    fn atm_min_days(&self) -> Option<f64> {
        match self {
            CertPolicy::Ramm(p) => Some(p.atm_min_days),
            CertPolicy::OracleAdjusted(p) => Some(p.atm_min_days),
            CertPolicy::Static(_) | CertPolicy::Pm(_) => None,
        }
    }
}

/// Who signs the message of both roots that certificates carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoSigners {
    /// The oracle signers only: k signatures per certificate. The venue signs its state root
    /// on its own ([`Commitments::state_root`]) and the oracle side checks that signature
    /// before co-signing. Verify with `Quorum { venue: 0, .. }`.
    Oracle,
    /// The oracle signers and the venue signers: 2k signatures, for a verifier that wants the
    /// venue's signature checked on chain too (`Quorum { venue: k, .. }`).
    OracleAndVenue,
}

/// The commitments a certificate rests on: the snapshot tree, the account-state tree, and the
/// message of both roots (with the parameter hash) under one set of signatures.
#[derive(Clone)]
pub struct Commitments {
    /// The market tree.
    pub market: MarketTree,
    /// Its root, signed by the oracle signers (the snapshot attestation on its own).
    pub market_root: SignedRoot,
    /// The account-state tree.
    pub state: AccountStateTree,
    /// Its root with the parameter hash, signed by the venue signers.
    pub state_root: SignedRoot,
    /// Both roots and the parameter hash, signed by the oracle signers (and the venue signers
    /// with [`CoSigners::OracleAndVenue`]): what certificates carry.
    pub roots: SignedRoots,
}

impl Commitments {
    /// Commits a snapshot and the venue's accounts and signs: the snapshot root by
    /// `oracle_signers`, the state root (with `policy`'s parameter hash) by `venue_signers`
    /// (key index in the trusted list, key), and the message of both roots by the oracle
    /// signers **and** the venue signers ([`CoSigners::OracleAndVenue`]: 2k signatures per
    /// certificate, verified with `Quorum { oracle: k, venue: k, .. }`;
    /// [`Commitments::build_with`] and [`CoSigners::Oracle`] give k). The forwards of every
    /// expiry the accounts hold are committed.
    pub fn build(
        market: &MarketSnapshot,
        accounts: &[Account],
        policy: &CertPolicy,
        seq: u64,
        oracle_signers: &[(u8, &SigningKey)],
        venue_signers: &[(u8, &SigningKey)],
    ) -> Result<Commitments, CertifyError> {
        Self::build_with(
            market,
            accounts,
            policy,
            seq,
            oracle_signers,
            venue_signers,
            CoSigners::OracleAndVenue,
        )
    }

    /// [`Commitments::build`] choosing who signs the message of both roots. The oracle side
    /// first checks the venue's signatures of its state root (as an oracle node does before it
    /// co-signs).
    pub fn build_with(
        market: &MarketSnapshot,
        accounts: &[Account],
        policy: &CertPolicy,
        seq: u64,
        oracle_signers: &[(u8, &SigningKey)],
        venue_signers: &[(u8, &SigningKey)],
        cosigners: CoSigners,
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
        let params_hash = policy.params_hash();
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
            Some(params_hash),
        )
        .sign(venue_signers);
        // What an oracle node checks before co-signing the venue's root: every venue
        // signature verifies under the key it names.
        let msg = state_root.message();
        for ((index, sig), (_, key)) in state_root.sigs.iter().zip(venue_signers) {
            use ed25519_dalek::Verifier;
            key.verifying_key()
                .verify(&msg, &ed25519_dalek::Signature::from_bytes(sig))
                .map_err(|_| {
                    CertifyError::Unsupported(format!(
                        "the venue's signature {index} of its state root does not verify"
                    ))
                })?;
        }
        let venue_cosign: &[(u8, &SigningKey)] = match cosigners {
            CoSigners::Oracle => &[],
            CoSigners::OracleAndVenue => venue_signers,
        };
        let roots = SignedRoots::new(
            RootRef::of(&market_root),
            RootRef::of(&state_root),
            params_hash,
        )
        .sign(oracle_signers, venue_cosign);
        Ok(Commitments {
            market: mtree,
            market_root,
            state: stree,
            state_root,
            roots,
        })
    }
}

/// The engine's view of one witness, for a person to read.
#[derive(Debug, Clone, PartialEq)]
pub struct WitnessFigure {
    /// The underlying.
    pub underlying: String,
    /// The scenario's index (`ramm`: grid; `pm`: list); `None` for `pm`'s basis floor.
    pub index: Option<u16>,
    /// Its spot move (s − 1; 0 for the basis floor, which moves spot both ways).
    pub spot_move: f64,
    /// Its vol shock (`ramm`: "none", "up", "down"; `pm`: "Up", "None", "Down", "Linear",
    /// "Abs"; "basis").
    pub vol: &'static str,
    /// `pm`: its dampening.
    pub dampening: Option<f64>,
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
    /// The first witness's spot move and vol shock.
    pub witness: Option<(f64, &'static str)>,
    /// Every witness.
    pub witnesses: Vec<WitnessFigure>,
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

fn commitment_parts(r: &RootRef) -> CommitmentParts {
    CommitmentParts {
        root: r.root,
        time_s: r.time_s,
        seq: r.seq,
        leaf_count: r.leaf_count,
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

/// The underlyings the verifier asks a witness (or, for the static policies, a header) for:
/// the positions', and under `ramm` and `pm` those the account's collateral moves with (`pm`:
/// not the cash asset).
fn exposed_underlyings(
    policy: &CertPolicy,
    market: &MarketSnapshot,
    account: &Account,
) -> BTreeSet<Asset> {
    let mut out: BTreeSet<Asset> = account
        .positions
        .iter()
        .map(|p| p.instrument.underlying().clone())
        .collect();
    let is_pm = matches!(policy, CertPolicy::Pm(_));
    if matches!(policy, CertPolicy::Ramm(_)) || is_pm {
        for asset in account.collateral.keys() {
            if is_pm && *asset == market.stable {
                continue;
            }
            if let Some(u) = market.collateral_underlying(asset) {
                out.insert(u.clone());
            }
        }
    }
    out
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
    if account.positions.is_empty() {
        return Err(CertifyError::Unsupported(format!(
            "account '{id}' holds no positions"
        )));
    }
    // 2. The leaves: per exposed underlying its header, the forwards and slices its positions
    // need and the reference ATM slices; the collateral prices; `pm`'s stable record.
    let exposed = exposed_underlyings(policy, market, account);
    if exposed.len() > MAX_WITNESSES {
        return Err(CertifyError::Unsupported(format!(
            "account '{id}' is exposed to {} underlyings: a certificate covers at most {MAX_WITNESSES}",
            exposed.len()
        )));
    }
    let mut keys_needed: BTreeSet<LeafKey> = BTreeSet::new();
    for underlying in &exposed {
        let um = market
            .underlying(underlying)
            .map_err(|e| CertifyError::Engine(e.to_string()))?;
        keys_needed.insert(LeafKey::Underlying(underlying.clone()));
        let slice_t: Vec<f64> = um
            .surface()
            .slices()
            .iter()
            .map(|s| s.expiry_years())
            .collect();
        let mut slices = BTreeSet::new();
        for p in account
            .positions
            .iter()
            .filter(|p| p.instrument.underlying() == underlying)
        {
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
    }
    let is_pm = matches!(policy, CertPolicy::Pm(_));
    // Under pm an asset with no listed price but named like an underlying is valued at spot
    // (its header, already needed, says so).
    let priced = |asset: &Asset| !is_pm || market.collateral(asset).is_ok();
    for asset in account.collateral.keys() {
        if !(is_pm && *asset == market.stable) && priced(asset) {
            keys_needed.insert(LeafKey::Collateral(asset.clone()));
        }
    }
    if is_pm {
        keys_needed.insert(LeafKey::Stable);
        for p in &account.positions {
            let asset = p.instrument.underlying();
            if let (Instrument::Spot { .. }, true) = (&p.instrument, priced(asset)) {
                keys_needed.insert(LeafKey::Collateral(asset.clone()));
            }
        }
    }
    let mtree = &commitments.market;
    let mut indices: Vec<usize> = Vec::new();
    for k in &keys_needed {
        indices.push(mtree.index_of(k).map_err(|_| {
            CertifyError::Unsupported(match k {
                LeafKey::Collateral(a) => format!(
                    "account '{id}': '{a}' has no collateral price in the snapshot (a certificate values every balance at a committed price)"
                ),
                other => format!("account '{id}': the snapshot commits no leaf {other:?}"),
            })
        })?);
    }
    if indices.len() > MAX_MARKET_LEAVES {
        return Err(CertifyError::Unsupported(format!(
            "account '{id}' needs {} market leaves: a certificate carries at most {MAX_MARKET_LEAVES}",
            indices.len()
        )));
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
    let tree = policy.scenario_tree()?;
    let mut parts = Parts {
        policy: policy.policy().code(),
        time_s: commitments.roots.market.time_s,
        params_hash: commitments.roots.params_hash,
        params: policy.params_fixed(),
        scenarios: tree
            .as_ref()
            .map(|(l, t)| (l.len() as u16, t.root().unwrap_or([0; 32]))),
        market: commitment_parts(&commitments.roots.market),
        state: commitment_parts(&commitments.roots.state),
        sigs: commitments.roots.sigs.clone(),
        leaves,
        market_proof,
        account: record.to_vec(),
        account_index: account_index as u32,
        account_proof: commitments.state.proof(account_index),
        witnesses: Vec::new(),
        witness_scenarios: Vec::new(),
        scenario_proof: Vec::new(),
        claimed_value: 0,
        claimed_requirement: 0,
    };
    let refused = |rejection: Rejection| CertifyError::Refused {
        account: id.clone(),
        rejection,
    };
    // 3. The witnesses: the verifier's arithmetic over every scenario of every underlying.
    let list = policy.scenario_leaves()?;
    let (found, _) = ale_verify::search(&encode(&parts), &list).map_err(refused)?;
    parts.witnesses = found.as_slice().to_vec();
    if let Some((list, tree)) = &tree {
        let used: BTreeSet<u16> = parts
            .witnesses
            .iter()
            .map(|w| w.scenario)
            .filter(|s| *s != BASIS)
            .collect();
        parts.witness_scenarios = used.iter().map(|i| list[*i as usize]).collect();
        let idx: Vec<usize> = used.iter().map(|i| *i as usize).collect();
        if !idx.is_empty() {
            parts.scenario_proof = tree.proof(&idx).proof_hashes().to_vec();
        }
    }
    let witnesses = witness_figures(policy, market, &parts.witnesses);
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
            witness: witnesses.first().map(|w| (w.spot_move, w.vol)),
            witnesses,
        },
        verdict,
    })
}

fn name16(b: &[u8; 16]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(16);
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn witness_figures(
    policy: &CertPolicy,
    market: &MarketSnapshot,
    witnesses: &[Witness],
) -> Vec<WitnessFigure> {
    witnesses
        .iter()
        .filter_map(|w| {
            let underlying = name16(&w.underlying);
            Some(match policy {
                CertPolicy::Ramm(p) => {
                    let um = market.underlying(&Asset::new(&underlying).ok()?).ok()?;
                    let s = *ale_risk::RammGrid::new(p, um)
                        .scenarios
                        .get(w.scenario as usize)?;
                    WitnessFigure {
                        underlying,
                        index: Some(w.scenario),
                        spot_move: s.spot_move,
                        vol: s.vol.name(),
                        dampening: None,
                    }
                }
                CertPolicy::Pm(_) if w.scenario == BASIS => WitnessFigure {
                    underlying,
                    index: None,
                    spot_move: 0.0,
                    vol: "basis",
                    dampening: None,
                },
                CertPolicy::Pm(pm) => {
                    let s = pm.config.scenarios.as_slice().get(w.scenario as usize)?;
                    WitnessFigure {
                        underlying,
                        index: Some(w.scenario),
                        spot_move: s.spot_shock - 1.0,
                        vol: s.vol_shock.name(),
                        dampening: Some(s.dampening),
                    }
                }
                _ => return None,
            })
        })
        .collect()
}
