//! Signed market snapshots: after every market update the node commits the snapshot to a
//! Merkle tree (`ale-oracle`'s 128-byte fixed-point records) and signs its root with the oracle
//! keys, so that a liquidation can point at exactly the snapshot it valued at, and a certificate
//! can prove the market values it uses against that signed root.
//!
//! The keys are development keys derived from the keeper's seed (`ale_oracle::dev_keys`):
//! oracle key i = SHA-256("{seed}/oracle" ‖ i), venue key i = SHA-256("{seed}/venue" ‖ i),
//! [`KEYS`] of each, [`QUORUM`] signatures needed. A real deployment would hold the oracle keys
//! on separate oracle nodes; one keeper signing with all of them only shows the flow.

use std::collections::BTreeMap;

use ale_core::{Asset, ExpiryDate};
use ale_market::MarketSnapshot;
use ale_oracle::quorum::MARKET_DOMAIN;
use ale_oracle::{dev_keys, CommitError, MarketTree, SignedRoot};
use ed25519_dalek::{SigningKey, VerifyingKey};

/// Keys per list (oracle, venue).
pub const KEYS: usize = 3;
/// Signatures needed of each list.
pub const QUORUM: u8 = 2;
/// The oldest signed snapshot a liquidation may start on, seconds before the event that starts
/// it (the keeper moves its market clock at least every 60 s while events flow).
pub const MAX_SNAPSHOT_AGE_S: i64 = 120;

/// The keeper's signing keys, derived from its seed.
#[derive(Clone)]
pub struct Keys {
    /// Oracle keys: sign market-snapshot roots.
    pub oracle: Vec<SigningKey>,
    /// Venue keys: sign account-state roots (with the margin parameters' hash).
    pub venue: Vec<SigningKey>,
    oracle_public: Vec<VerifyingKey>,
    venue_public: Vec<VerifyingKey>,
}

impl Keys {
    /// The keys of `seed` (see the module docs).
    pub fn from_seed(seed: &str) -> Keys {
        let oracle = dev_keys(&format!("{seed}/oracle"), KEYS);
        let venue = dev_keys(&format!("{seed}/venue"), KEYS);
        Keys {
            oracle_public: oracle.iter().map(SigningKey::verifying_key).collect(),
            venue_public: venue.iter().map(SigningKey::verifying_key).collect(),
            oracle,
            venue,
        }
    }

    /// The oracle keys' public halves.
    pub fn oracle_public(&self) -> &[VerifyingKey] {
        &self.oracle_public
    }

    /// The venue keys' public halves.
    pub fn venue_public(&self) -> &[VerifyingKey] {
        &self.venue_public
    }

    /// Every oracle key with its index (all sign: more than the quorum).
    pub fn oracle_signers(&self) -> Vec<(u8, &SigningKey)> {
        self.oracle
            .iter()
            .enumerate()
            .map(|(i, k)| (i as u8, k))
            .collect()
    }

    /// Every venue key with its index.
    pub fn venue_signers(&self) -> Vec<(u8, &SigningKey)> {
        self.venue
            .iter()
            .enumerate()
            .map(|(i, k)| (i as u8, k))
            .collect()
    }
}

/// A committed and signed market snapshot.
#[derive(Clone)]
pub struct Snapshot {
    /// Its sequence number (1, 2, ... in the order of market updates).
    pub seq: u64,
    /// The Merkle tree of the snapshot's records.
    pub tree: MarketTree,
    /// The root, signed by the oracle keys over (root, time, seq, leaf count).
    pub root: SignedRoot,
}

impl Snapshot {
    /// The root in hex.
    pub fn root_hex(&self) -> String {
        hex::encode(self.root.root)
    }
}

/// Commits `market` (with the forwards of every expiry in `expiries`, the listed instruments')
/// and signs its root: the work the node does after each market update.
pub fn commit_and_sign(
    market: &MarketSnapshot,
    expiries: &BTreeMap<Asset, Vec<ExpiryDate>>,
    seq: u64,
    keys: &Keys,
) -> Result<Snapshot, CommitError> {
    let tree = MarketTree::from_snapshot(market, expiries)?;
    let root = SignedRoot::new(
        MARKET_DOMAIN,
        tree.root(),
        market.time().unix_seconds(),
        seq,
        tree.leaf_count(),
        None,
    )
    .sign(&keys.oracle_signers());
    Ok(Snapshot { seq, tree, root })
}
