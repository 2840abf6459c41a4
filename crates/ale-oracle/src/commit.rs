//! Commitments: the market snapshot and the account state as Merkle trees of fixed-point
//! leaves.
//!
//! Conventions (the contract `ale-verify` reads):
//! - fixed point: `i128` at scale 10^18, converted from `f64` by rounding to nearest;
//! - leaf hash = SHA-256(0x00 ‖ leaf bytes); parent = SHA-256(left ‖ right) (rs_merkle's
//!   `Sha256`); the tree is padded to a power of two with empty leaves (a market record of 128
//!   zero bytes; an empty account record), so its shape is fixed by the signed leaf count;
//! - market records are 128 bytes: tag u8, flags u8, sub u16, reserved [4], asset [16],
//!   time i64, six i128 values (see `docs/formats.md`);
//! - one account-state leaf per account: id, collateral balances, positions.

use std::collections::BTreeMap;

use ale_core::{Account, Asset, Instrument, OptionKind};
use ale_market::MarketSnapshot;
use ale_surface::Smile;
use rs_merkle::{algorithms::Sha256 as MerkleSha256, MerkleTree};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Bytes of a market record, the record tags and flag bits: the verifier's definitions, so that
/// the commitment and the check read one layout.
pub use ale_verify::layout::{flag, tag, RECORD_BYTES};
/// Fixed-point scale.
pub const SCALE: f64 = 1e18;
/// Strike scale in account records.
pub const STRIKE_SCALE: f64 = 1e8;
/// Largest |value| a fixed-point leaf holds (so that products stay in range).
pub const MAX_ABS_VALUE: f64 = 1e20;

/// A snapshot or account that cannot be committed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CommitError {
    /// A value that does not fit the fixed-point leaves.
    #[error("invalid '{field}': {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// Something a leaf cannot represent.
    #[error("cannot commit '{field}': {reason}")]
    Unsupported {
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// A leaf that is not in the tree.
    #[error("no leaf {0}")]
    NoLeaf(String),
}

/// `x` at scale 10^18: the shortest decimal that reads back as `x` (what a person wrote:
/// 0.48, not 0.479999999999999982), rounded half away from zero at the 18th decimal.
pub fn to_fixed(field: &str, x: f64) -> Result<i128, CommitError> {
    if !(x.is_finite() && x.abs() <= MAX_ABS_VALUE) {
        return Err(CommitError::Invalid {
            field: field.to_string(),
            reason: format!("must be finite with |x| <= 1e20, got {x}"),
        });
    }
    // `Display` of an f64 is the shortest round-trip decimal, without an exponent.
    let text = format!("{}", x.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let digit = |c: u8| i128::from(c - b'0');
    let mut v: i128 = 0;
    for c in int.bytes() {
        v = v * 10 + digit(c);
    }
    let fb = frac.as_bytes();
    for i in 0..18 {
        v = v * 10 + fb.get(i).map_or(0, |c| digit(*c));
    }
    if fb.get(18).is_some_and(|c| *c >= b'5') {
        v += 1;
    }
    Ok(if x < 0.0 { -v } else { v })
}

/// An asset name as 16 zero-padded bytes.
pub fn asset_bytes(asset: &Asset) -> [u8; 16] {
    let mut out = [0u8; 16];
    let b = asset.as_str().as_bytes();
    out[..b.len().min(16)].copy_from_slice(&b[..b.len().min(16)]);
    out
}

/// SHA-256(0x00 ‖ bytes).
pub fn leaf_hash(bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

/// What a market leaf is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LeafKey {
    /// Header of an underlying.
    Underlying(Asset),
    /// Forward of (underlying, expiry unix seconds).
    Forward(Asset, i64),
    /// SVI slice (underlying, index).
    Slice(Asset, u16),
    /// Collateral price.
    Collateral(Asset),
    /// The stable (cash) asset and its price.
    Stable,
}

/// A 128-byte market record: tag, flags, sub, reserved zero, asset, time, six values.
pub fn record(
    tag_byte: u8,
    flags: u8,
    sub: u16,
    asset: [u8; 16],
    time: i64,
    values: [i128; 6],
) -> [u8; RECORD_BYTES] {
    let mut r = [0u8; RECORD_BYTES];
    r[0] = tag_byte;
    r[1] = flags;
    r[2..4].copy_from_slice(&sub.to_le_bytes());
    r[8..24].copy_from_slice(&asset);
    r[24..32].copy_from_slice(&time.to_le_bytes());
    for (i, v) in values.iter().enumerate() {
        r[32 + 16 * i..48 + 16 * i].copy_from_slice(&v.to_le_bytes());
    }
    r
}

/// A Merkle tree over leaf byte strings, padded to a power of two.
#[derive(Clone)]
struct Tree {
    tree: MerkleTree<MerkleSha256>,
    leaf_count: usize,
}

impl Tree {
    fn new(leaves: &[Vec<u8>], padding: &[u8]) -> Tree {
        let n = leaves.len().max(1).next_power_of_two();
        let mut hashes: Vec<[u8; 32]> = leaves.iter().map(|l| leaf_hash(l)).collect();
        let pad = leaf_hash(padding);
        hashes.resize(n, pad);
        Tree {
            tree: MerkleTree::<MerkleSha256>::from_leaves(&hashes),
            leaf_count: n,
        }
    }

    fn root(&self) -> [u8; 32] {
        self.tree.root().unwrap_or([0; 32])
    }

    fn proof(&self, indices: &[usize]) -> Vec<[u8; 32]> {
        let mut sorted = indices.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        self.tree.proof(&sorted).proof_hashes().to_vec()
    }
}

/// The market snapshot as a Merkle tree of 128-byte fixed-point records.
#[derive(Clone)]
pub struct MarketTree {
    records: Vec<[u8; RECORD_BYTES]>,
    index: BTreeMap<LeafKey, usize>,
    tree: Tree,
    /// Snapshot time, unix seconds.
    pub time_s: i64,
}

impl MarketTree {
    /// Commits `snapshot`: per underlying its header (spot, rate, realised vol, perp price,
    /// slice count), the forward of every listed expiry and of every expiry in `expiries` (the
    /// expiries of the venue's listed instruments; an unlisted one takes the snapshot's own
    /// rule, spot·e^(rate·t)) with the expiry's own rate when the snapshot gives one, every SVI
    /// slice of its surface; every collateral price (with its `pm` maintenance haircut when
    /// given); the stable (cash) asset and its price (the snapshot's `stable_price`, else the
    /// stable's collateral price, else 1).
    ///
    /// # Errors
    /// A surface given by mark smiles (v1 commits SVI slices only), a value out of range, an
    /// asset name longer than 16 bytes.
    pub fn from_snapshot(
        snapshot: &MarketSnapshot,
        expiries: &BTreeMap<Asset, Vec<ale_core::ExpiryDate>>,
    ) -> Result<MarketTree, CommitError> {
        let mut out: Vec<(LeafKey, [u8; RECORD_BYTES])> = Vec::new();
        let rate = to_fixed("rate", snapshot.rate())?;
        for u in snapshot.underlyings() {
            let name = u.name().clone();
            let a = asset_bytes(&name);
            let slices = u.surface().slices();
            let mut flags = 0u8;
            let rv = match u.realized_vol() {
                Some(v) => {
                    flags |= flag::REALIZED_VOL;
                    to_fixed(&format!("{name}.realized_vol"), v)?
                }
                None => 0,
            };
            let pp = match u.perp_price() {
                Some(p) => {
                    flags |= flag::PERP_PRICE;
                    to_fixed(&format!("{name}.perp_price"), p)?
                }
                None => 0,
            };
            if snapshot.collateral(&name).is_ok() {
                flags |= flag::COLLATERAL_LISTED;
            }
            let count = u16::try_from(slices.len()).map_err(|_| CommitError::Unsupported {
                field: format!("{name}.surface"),
                reason: "more than 65535 slices".into(),
            })?;
            out.push((
                LeafKey::Underlying(name.clone()),
                record(
                    tag::UNDERLYING,
                    flags,
                    0,
                    a,
                    0,
                    [
                        to_fixed(&format!("{name}.spot"), u.spot())?,
                        rate,
                        rv,
                        pp,
                        i128::from(count),
                        0,
                    ],
                ),
            ));
            let mut fwd: BTreeMap<i64, f64> = BTreeMap::new();
            for (e, f) in u.listed_forwards() {
                fwd.insert(e.instant().unix_seconds(), *f);
            }
            for e in expiries.get(&name).into_iter().flatten() {
                let t = snapshot.expiry_years(*e);
                fwd.entry(e.instant().unix_seconds())
                    .or_insert_with(|| u.forward(*e, t, snapshot.rate()));
            }
            let rates: BTreeMap<i64, f64> =
                u.pm.forward_fields
                    .iter()
                    .filter_map(|(e, f)| f.rate.map(|r| (e.instant().unix_seconds(), r)))
                    .collect();
            for (e, f) in fwd {
                let (flags, rate) = match rates.get(&e) {
                    Some(r) => (flag::FORWARD_RATE, to_fixed(&format!("{name}.rate"), *r)?),
                    None => (0, 0),
                };
                out.push((
                    LeafKey::Forward(name.clone(), e),
                    record(
                        tag::FORWARD,
                        flags,
                        0,
                        a,
                        e,
                        [to_fixed(&format!("{name}.forward"), f)?, rate, 0, 0, 0, 0],
                    ),
                ));
            }
            for (i, s) in slices.iter().enumerate() {
                let p = match s.smile() {
                    Smile::Svi(p) => *p,
                    Smile::Marks(_) => return Err(CommitError::Unsupported {
                        field: format!("{name}.surface"),
                        reason:
                            "mark smiles are not committed (certificate format v2 commits SVI and flat surfaces)"
                                .into(),
                    }),
                };
                let f = |k: &str, x: f64| to_fixed(&format!("{name}.surface[{i}].{k}"), x);
                out.push((
                    LeafKey::Slice(name.clone(), i as u16),
                    record(
                        tag::SLICE,
                        0,
                        i as u16,
                        a,
                        0,
                        [
                            f("expiry_years", s.expiry_years())?,
                            f("a", p.a)?,
                            f("b", p.b)?,
                            f("rho", p.rho)?,
                            f("m", p.m)?,
                            f("sigma", p.sigma)?,
                        ],
                    ),
                ));
            }
        }
        for (asset, c) in snapshot.collateral_prices() {
            let moves = snapshot.collateral_underlying(asset).cloned();
            let mut values = [
                to_fixed(&format!("{asset}.price"), c.price)?,
                to_fixed(&format!("{asset}.haircut"), c.haircut)?,
                to_fixed(&format!("{asset}.bridge_risk"), c.bridge_risk)?,
                0,
                0,
                0,
            ];
            let mut flags = match &moves {
                Some(u) => {
                    values[3] = i128::from_le_bytes(asset_bytes(u));
                    flag::MOVES_WITH
                }
                None => 0,
            };
            if let Some(h) = c.mm_haircut {
                flags |= flag::MM_HAIRCUT;
                values[4] = to_fixed(&format!("{asset}.mm_haircut"), h)?;
            }
            out.push((
                LeafKey::Collateral(asset.clone()),
                record(tag::COLLATERAL, flags, 0, asset_bytes(asset), 0, values),
            ));
        }
        let stable = &snapshot.stable;
        let stable_price = snapshot
            .stable_price
            .or_else(|| snapshot.collateral(stable).ok().map(|c| c.price))
            .unwrap_or(1.0);
        out.push((
            LeafKey::Stable,
            record(
                tag::STABLE,
                0,
                0,
                asset_bytes(stable),
                0,
                [to_fixed("stable_price", stable_price)?, 0, 0, 0, 0, 0],
            ),
        ));
        out.sort_by(|a, b| a.0.cmp(&b.0));
        let index = out
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
        let records: Vec<[u8; RECORD_BYTES]> = out.into_iter().map(|(_, r)| r).collect();
        let leaves: Vec<Vec<u8>> = records.iter().map(|r| r.to_vec()).collect();
        Ok(MarketTree {
            tree: Tree::new(&leaves, &[0u8; RECORD_BYTES]),
            records,
            index,
            time_s: snapshot.time().unix_seconds(),
        })
    }

    /// The root.
    pub fn root(&self) -> [u8; 32] {
        self.tree.root()
    }
    /// Leaves of the padded tree (a power of two).
    pub fn leaf_count(&self) -> u32 {
        self.tree.leaf_count as u32
    }
    /// The leaf index of a key.
    pub fn index_of(&self, key: &LeafKey) -> Result<usize, CommitError> {
        self.index
            .get(key)
            .copied()
            .ok_or_else(|| CommitError::NoLeaf(format!("{key:?}")))
    }
    /// The record at an index.
    pub fn record(&self, index: usize) -> &[u8; RECORD_BYTES] {
        &self.records[index]
    }
    /// Every key in leaf order.
    pub fn keys(&self) -> impl Iterator<Item = &LeafKey> {
        self.index.keys()
    }
    /// The multiproof of `indices` (rs_merkle order: level by level, increasing index).
    pub fn proof(&self, indices: &[usize]) -> Vec<[u8; 32]> {
        self.tree.proof(indices)
    }
}

/// Position kinds in account records.
pub mod kind {
    /// Spot.
    pub const SPOT: u8 = 0;
    /// Perpetual.
    pub const PERPETUAL: u8 = 1;
    /// Dated future.
    pub const FUTURE: u8 = 2;
    /// Call.
    pub const CALL: u8 = 3;
    /// Put.
    pub const PUT: u8 = 4;
}

/// The account record: id len u8 ‖ id ‖ n u8 ‖ n × (asset [16], amount i128) ‖ m u8 ‖
/// m × position (kind u8, flags u8, reserved [6], underlying [16], expiry i64, strike i64 at
/// 1e8, size i128, entry price i128).
pub fn encode_account(account: &Account) -> Result<Vec<u8>, CommitError> {
    let id = account.id.as_str().as_bytes();
    let bad = |field: String, reason: &str| CommitError::Unsupported {
        field,
        reason: reason.to_string(),
    };
    if id.is_empty() || id.len() > 128 {
        return Err(bad("account".into(), "id of 1..128 bytes"));
    }
    if account.collateral.len() > 16 || account.positions.len() > 32 {
        return Err(bad(
            format!("{}.positions", account.id),
            "at most 16 collateral balances and 32 positions in a certificate",
        ));
    }
    let mut out = Vec::with_capacity(
        3 + id.len() + 32 * account.collateral.len() + 72 * account.positions.len(),
    );
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out.push(account.collateral.len() as u8);
    for (asset, amount) in &account.collateral {
        out.extend_from_slice(&asset_bytes(asset));
        // Amount: i128 at 1e9 → 1e18 exactly.
        let v = amount.raw().checked_mul(1_000_000_000).ok_or_else(|| {
            bad(
                format!("{}.collateral.{asset}", account.id),
                "amount too large",
            )
        })?;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.push(account.positions.len() as u8);
    for p in &account.positions {
        let field = format!("{}.{}", account.id, p.instrument);
        let (k, expiry, strike) = match &p.instrument {
            Instrument::Spot { .. } => (kind::SPOT, 0i64, 0i64),
            Instrument::Perpetual { .. } => (kind::PERPETUAL, 0, 0),
            Instrument::Future { expiry, .. } => (kind::FUTURE, expiry.instant().unix_seconds(), 0),
            Instrument::Option {
                expiry,
                strike,
                kind: ok,
                ..
            } => {
                let s = (strike.value() * STRIKE_SCALE).round();
                if !(1.0..9.0e18).contains(&s) {
                    return Err(bad(field, "strike out of range"));
                }
                (
                    if *ok == OptionKind::Call {
                        kind::CALL
                    } else {
                        kind::PUT
                    },
                    expiry.instant().unix_seconds(),
                    s as i64,
                )
            }
        };
        out.push(k);
        out.push(u8::from(p.entry_price.is_some()));
        out.extend_from_slice(&[0u8; 6]);
        out.extend_from_slice(&asset_bytes(p.instrument.underlying()));
        out.extend_from_slice(&expiry.to_le_bytes());
        out.extend_from_slice(&strike.to_le_bytes());
        out.extend_from_slice(&to_fixed(&format!("{field}.size"), p.size)?.to_le_bytes());
        let entry = match p.entry_price {
            Some(e) => to_fixed(&format!("{field}.entry_price"), e)?,
            None => 0,
        };
        out.extend_from_slice(&entry.to_le_bytes());
    }
    Ok(out)
}

/// The venue's account state: one leaf per account (its record), in account-id order.
#[derive(Clone)]
pub struct AccountStateTree {
    records: Vec<Vec<u8>>,
    index: BTreeMap<String, usize>,
    tree: Tree,
}

impl AccountStateTree {
    /// Commits `accounts` (ids must be distinct).
    pub fn new(accounts: &[Account]) -> Result<AccountStateTree, CommitError> {
        let mut sorted: Vec<&Account> = accounts.iter().collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        let mut records = Vec::with_capacity(sorted.len());
        let mut index = BTreeMap::new();
        for (i, a) in sorted.iter().enumerate() {
            if index.insert(a.id.as_str().to_string(), i).is_some() {
                return Err(CommitError::Invalid {
                    field: format!("{}", a.id),
                    reason: "account listed twice".into(),
                });
            }
            records.push(encode_account(a)?);
        }
        Ok(AccountStateTree {
            tree: Tree::new(&records, &[]),
            records,
            index,
        })
    }
    /// The root.
    pub fn root(&self) -> [u8; 32] {
        self.tree.root()
    }
    /// Leaves of the padded tree.
    pub fn leaf_count(&self) -> u32 {
        self.tree.leaf_count as u32
    }
    /// The leaf index and record of an account.
    pub fn account(&self, id: &str) -> Result<(usize, &[u8]), CommitError> {
        let i = *self
            .index
            .get(id)
            .ok_or_else(|| CommitError::NoLeaf(format!("account {id}")))?;
        Ok((i, &self.records[i]))
    }
    /// The proof of one account leaf.
    pub fn proof(&self, index: usize) -> Vec<[u8; 32]> {
        self.tree.proof(&[index])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_reads_the_decimal_a_person_wrote() {
        assert_eq!(
            to_fixed("x", 95000.0),
            Ok(95_000 * 1_000_000_000_000_000_000)
        );
        assert_eq!(to_fixed("x", 0.48), Ok(480_000_000_000_000_000));
        assert_eq!(to_fixed("x", -2.33), Ok(-2_330_000_000_000_000_000));
        assert_eq!(to_fixed("x", 1e-18), Ok(1));
        assert_eq!(to_fixed("x", 4e-19), Ok(0));
        assert_eq!(to_fixed("x", 6e-19), Ok(1));
        assert_eq!(
            to_fixed("x", 1e20),
            Ok(100_000_000_000_000_000_000 * 1_000_000_000_000_000_000)
        );
        assert!(to_fixed("x", f64::NAN).is_err());
        assert!(to_fixed("x", 2e20).is_err());
    }
}
