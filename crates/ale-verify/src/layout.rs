//! The canonical binary layout of a certificate (version 1), parsed without allocation.
//!
//! Fixed-width little-endian fields, in this order (documented byte by byte in
//! `docs/formats.md`, "Liquidation certificates"):
//!
//! ```text
//! header      magic "ALEC" | version u16 | policy u8 | reserved u8 | time i64 | params_hash [32]
//! params      count u8 | count × i64 (scale 1e9)
//! market      root [32] | time i64 | seq u64 | leaf_count u32 | n u8 | n × (key u8, sig [64])
//! state       root [32] | time i64 | seq u64 | leaf_count u32 | n u8 | n × (key u8, sig [64])
//! leaves      n u8 | n × (index u32, record [128])        (indices strictly increasing)
//! proof       n u8 | n × [32]                              (multiproof of the leaves)
//! account     len u16 | record [len] | index u32 | n u8 | n × [32]
//! witness     underlying [16] | scenario u16 | claimed_value i128 | claimed_requirement i128
//! ```
//!
//! Every list has a fixed bound (`MAX_*`); a longer one is rejected, never allocated.

use crate::error::{Reason, Rejection};

/// Magic number.
pub const MAGIC: [u8; 4] = *b"ALEC";
/// The format version this crate reads and writes.
pub const VERSION: u16 = 1;
/// Most signatures per commitment.
pub const MAX_SIGS: usize = 16;
/// Most market leaves in one certificate.
pub const MAX_MARKET_LEAVES: usize = 32;
/// Most hashes of the market multiproof.
pub const MAX_PROOF_HASHES: usize = 96;
/// Most levels of a tree (2^32 leaves).
pub const MAX_DEPTH: usize = 32;
/// Most policy parameters.
pub const MAX_PARAMS: usize = 32;
/// Most positions of one account.
pub const MAX_POSITIONS: usize = 32;
/// Most collateral balances of one account.
pub const MAX_COLLATERAL: usize = 16;
/// Bytes of a market leaf record.
pub const RECORD_BYTES: usize = 128;
/// Bytes of one position in an account record.
pub const POSITION_BYTES: usize = 72;
/// Bytes of one collateral balance in an account record.
pub const COLLATERAL_BYTES: usize = 32;
/// Longest account id.
pub const MAX_ACCOUNT_ID: usize = 128;
/// Longest account record.
pub const MAX_ACCOUNT_RECORD: usize =
    1 + MAX_ACCOUNT_ID + 1 + MAX_COLLATERAL * COLLATERAL_BYTES + 1 + MAX_POSITIONS * POSITION_BYTES;
/// Scale of parameter values (i64).
pub const PARAM_SCALE: i64 = 1_000_000_000;
/// Scale of strikes in account records (i64, exact for Deribit strikes with ≤ 8 decimals).
pub const STRIKE_SCALE: i64 = 100_000_000;
/// "No scenario" (static and oracle-adjusted).
pub const NO_SCENARIO: u16 = u16::MAX;

/// Domain tag of the signed snapshot tuple.
pub const MARKET_DOMAIN: [u8; 16] = *b"ALE-SNAPSHOT-v1\0";
/// Domain tag of the signed account-state tuple.
pub const STATE_DOMAIN: [u8; 16] = *b"ALE-STATE-v1\0\0\0\0";

/// Market record tags.
pub mod tag {
    /// Padding leaf (trees are padded to a power of two).
    pub const EMPTY: u8 = 0;
    /// Underlying header: spot, rate, realised vol, perp price, slice count.
    pub const UNDERLYING: u8 = 1;
    /// Forward of one expiry.
    pub const FORWARD: u8 = 2;
    /// One SVI slice: expiry in years, a, b, ρ, m, σ.
    pub const SLICE: u8 = 3;
    /// Collateral price and haircuts.
    pub const COLLATERAL: u8 = 4;
}

/// Position kinds in account records.
pub mod kind {
    /// The asset itself.
    pub const SPOT: u8 = 0;
    /// Perpetual.
    pub const PERPETUAL: u8 = 1;
    /// Dated future.
    pub const FUTURE: u8 = 2;
    /// Call option.
    pub const CALL: u8 = 3;
    /// Put option.
    pub const PUT: u8 = 4;
}

/// The margin policies a certificate can be for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// `ramm` (witness: one grid scenario).
    Ramm,
    /// `static` (no scenario).
    Static,
    /// `oracle-adjusted` (no scenario).
    OracleAdjusted,
}

impl Policy {
    /// The byte of the header.
    pub fn code(self) -> u8 {
        match self {
            Policy::Ramm => 1,
            Policy::Static => 2,
            Policy::OracleAdjusted => 3,
        }
    }
    /// From the header byte.
    pub fn from_code(code: u8) -> Option<Policy> {
        match code {
            1 => Some(Policy::Ramm),
            2 => Some(Policy::Static),
            3 => Some(Policy::OracleAdjusted),
            _ => None,
        }
    }
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Ramm => "ramm",
            Policy::Static => "static",
            Policy::OracleAdjusted => "oracle-adjusted",
        }
    }
    /// How many parameters it carries (see `eval` for their order).
    pub fn param_count(self) -> usize {
        match self {
            Policy::Ramm => crate::eval::RAMM_PARAMS,
            Policy::Static => 1,
            Policy::OracleAdjusted => 4,
        }
    }
}

/// One signature of a commitment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sig {
    /// Index of the signing key in the trusted list.
    pub key: u8,
    /// The ed25519 signature.
    pub sig: [u8; 64],
}

/// A signed root: market snapshot or account state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commitment {
    /// Merkle root.
    pub root: [u8; 32],
    /// Time of the snapshot / state, unix seconds.
    pub time_s: i64,
    /// Sequence number of the commitment.
    pub seq: u64,
    /// Leaves of the tree (a power of two).
    pub leaf_count: u32,
    /// Signatures.
    pub sigs: [Sig; MAX_SIGS],
    /// How many of `sigs` are used.
    pub n_sigs: usize,
}

/// A parsed certificate, borrowing the record bytes.
#[derive(Debug, Clone)]
pub struct Certificate<'a> {
    /// Format version.
    pub version: u16,
    /// Policy.
    pub policy: Policy,
    /// Decision time (unix seconds): the market snapshot's time.
    pub time_s: i64,
    /// SHA-256 of the canonical parameter set.
    pub params_hash: [u8; 32],
    /// Parameters at scale 1e9.
    pub params: [i64; MAX_PARAMS],
    /// How many of `params` are used.
    pub n_params: usize,
    /// Market snapshot commitment (oracle quorum).
    pub market: Commitment,
    /// Account-state commitment (venue quorum; also signs `params_hash`).
    pub state: Commitment,
    /// Market leaves: (index, record).
    pub leaves: [(u32, &'a [u8; RECORD_BYTES]); MAX_MARKET_LEAVES],
    /// How many of `leaves` are used.
    pub n_leaves: usize,
    /// The multiproof of the leaves.
    pub market_proof: [&'a [u8; 32]; MAX_PROOF_HASHES],
    /// How many of `market_proof` are used.
    pub n_market_proof: usize,
    /// The account record.
    pub account: &'a [u8],
    /// Its leaf index in the state tree.
    pub account_index: u32,
    /// Its proof.
    pub account_proof: [&'a [u8; 32]; MAX_DEPTH],
    /// How many of `account_proof` are used.
    pub n_account_proof: usize,
    /// The underlying the witness is for (ASCII, zero-padded).
    pub underlying: [u8; 16],
    /// Witness scenario index in the policy's list (`NO_SCENARIO` for static policies).
    pub scenario: u16,
    /// Claimed equity (scale 1e18).
    pub claimed_value: i128,
    /// Claimed bound: the requirement lower bound at the witness (scale 1e18).
    pub claimed_requirement: i128,
}

const ZERO_HASH: [u8; 32] = [0; 32];
const ZERO_RECORD: [u8; RECORD_BYTES] = [0; RECORD_BYTES];

/// A reader over the certificate bytes that names the field of every read and can report the
/// byte span of each field (for tests and the JSON rendering).
pub struct Cursor<'a, 'r> {
    bytes: &'a [u8],
    pos: usize,
    spans: Option<&'r mut dyn FnMut(&'static str, usize, usize)>,
    counts_read: u8,
}

impl<'a, 'r> Cursor<'a, 'r> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Cursor {
            bytes,
            pos: 0,
            spans: None,
            counts_read: 0,
        }
    }

    /// A reader that reports `(field, start, end)` of every field it reads.
    pub fn with_spans(
        bytes: &'a [u8],
        spans: &'r mut dyn FnMut(&'static str, usize, usize),
    ) -> Self {
        Cursor {
            bytes,
            pos: 0,
            spans: Some(spans),
            counts_read: 0,
        }
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], Rejection> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or(Rejection::new(field, Reason::Truncated))?;
        let out = &self.bytes[self.pos..end];
        if let Some(f) = self.spans.as_mut() {
            f(field, self.pos, end);
        }
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<&'a [u8; N], Rejection> {
        self.take(field, N)?
            .try_into()
            .map_err(|_| Rejection::new(field, Reason::Truncated))
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, Rejection> {
        Ok(self.array::<1>(field)?[0])
    }
    /// A count or length field: remembered, so that a later structural failure names it.
    fn count_u8(&mut self, field: &'static str) -> Result<usize, Rejection> {
        let n = self.u8(field)? as usize;
        self.note_count(field);
        Ok(n)
    }
    fn count_u16(&mut self, field: &'static str) -> Result<usize, Rejection> {
        let n = self.u16(field)? as usize;
        self.note_count(field);
        Ok(n)
    }
    fn note_count(&mut self, field: &'static str) {
        if let Some(i) = crate::error::COUNT_FIELDS.iter().position(|c| *c == field) {
            self.counts_read |= 1 << i;
        }
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, Rejection> {
        Ok(u16::from_le_bytes(*self.array(field)?))
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, Rejection> {
        Ok(u32::from_le_bytes(*self.array(field)?))
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, Rejection> {
        Ok(u64::from_le_bytes(*self.array(field)?))
    }
    fn i64(&mut self, field: &'static str) -> Result<i64, Rejection> {
        Ok(i64::from_le_bytes(*self.array(field)?))
    }
    fn i128(&mut self, field: &'static str) -> Result<i128, Rejection> {
        Ok(i128::from_le_bytes(*self.array(field)?))
    }

    fn commitment(&mut self, names: &CommitmentNames) -> Result<Commitment, Rejection> {
        let root = *self.array::<32>(names.root)?;
        let time_s = self.i64(names.time)?;
        let seq = self.u64(names.seq)?;
        let leaf_count = self.u32(names.leaf_count)?;
        if leaf_count == 0 || !leaf_count.is_power_of_two() {
            return Err(Rejection::new(
                names.leaf_count,
                Reason::Invalid("a power of two >= 1"),
            ));
        }
        let n = self.count_u8(names.sigs)?;
        if n > MAX_SIGS {
            return Err(Rejection::new(
                names.sigs,
                Reason::TooMany {
                    max: MAX_SIGS as u16,
                },
            ));
        }
        let mut sigs = [Sig {
            key: 0,
            sig: [0; 64],
        }; MAX_SIGS];
        for slot in sigs.iter_mut().take(n) {
            let key = self.u8(names.sig_key)?;
            let sig = *self.array::<64>(names.sig)?;
            *slot = Sig { key, sig };
        }
        // Keys strictly increasing: no key counts twice.
        for i in 1..n {
            if sigs[i].key <= sigs[i - 1].key {
                return Err(Rejection::at(
                    names.sig_key,
                    i,
                    Reason::Invalid("key indices strictly increasing (each key signs once)"),
                ));
            }
        }
        Ok(Commitment {
            root,
            time_s,
            seq,
            leaf_count,
            sigs,
            n_sigs: n,
        })
    }
}

struct CommitmentNames {
    root: &'static str,
    time: &'static str,
    seq: &'static str,
    leaf_count: &'static str,
    sigs: &'static str,
    sig_key: &'static str,
    sig: &'static str,
}

const MARKET_NAMES: CommitmentNames = CommitmentNames {
    root: "market.root",
    time: "market.time",
    seq: "market.seq",
    leaf_count: "market.leaf_count",
    sigs: "market.signatures",
    sig_key: "market.signatures.key",
    sig: "market.signatures.sig",
};

const STATE_NAMES: CommitmentNames = CommitmentNames {
    root: "state.root",
    time: "state.time",
    seq: "state.seq",
    leaf_count: "state.leaf_count",
    sigs: "state.signatures",
    sig_key: "state.signatures.key",
    sig: "state.signatures.sig",
};

/// Parses a certificate (structure only: no signature, proof or arithmetic yet).
pub fn parse(bytes: &[u8]) -> Result<Certificate<'_>, Rejection> {
    parse_with(Cursor::new(bytes))
}

/// Parses with a given cursor (one that reports field spans, for instance).
pub fn parse_with<'a>(mut c: Cursor<'a, '_>) -> Result<Certificate<'a>, Rejection> {
    parse_fields(&mut c).map_err(|mut r| {
        r.after_counts = c.counts_read;
        r
    })
}

fn parse_fields<'a>(c: &mut Cursor<'a, '_>) -> Result<Certificate<'a>, Rejection> {
    if *c.array::<4>("magic")? != MAGIC {
        return Err(Rejection::new("magic", Reason::BadMagic));
    }
    let version = c.u16("version")?;
    if version != VERSION {
        return Err(Rejection::new(
            "version",
            Reason::UnsupportedVersion(version),
        ));
    }
    let policy = Policy::from_code(c.u8("policy")?).ok_or(Rejection::new(
        "policy",
        Reason::Invalid("1 (ramm), 2 (static) or 3 (oracle-adjusted)"),
    ))?;
    if c.u8("reserved")? != 0 {
        return Err(Rejection::new("reserved", Reason::Invalid("0")));
    }
    let time_s = c.i64("time")?;
    let params_hash = *c.array::<32>("params_hash")?;
    let n_params = c.count_u8("params")?;
    if n_params != policy.param_count() {
        return Err(Rejection::new(
            "params",
            Reason::Invalid("as many parameters as the policy has"),
        ));
    }
    let mut params = [0i64; MAX_PARAMS];
    for p in params.iter_mut().take(n_params) {
        *p = c.i64("params.value")?;
    }
    let market = c.commitment(&MARKET_NAMES)?;
    let state = c.commitment(&STATE_NAMES)?;

    let n_leaves = c.count_u8("market.leaves")?;
    if n_leaves > MAX_MARKET_LEAVES {
        return Err(Rejection::new(
            "market.leaves",
            Reason::TooMany {
                max: MAX_MARKET_LEAVES as u16,
            },
        ));
    }
    let mut leaves = [(0u32, &ZERO_RECORD); MAX_MARKET_LEAVES];
    for (i, slot) in leaves.iter_mut().enumerate().take(n_leaves) {
        let index = c.u32("market.leaves.index")?;
        let record = c.array::<RECORD_BYTES>("market.leaves.record")?;
        if index >= market.leaf_count {
            return Err(Rejection::at(
                "market.leaves.index",
                i,
                Reason::Invalid("below market.leaf_count"),
            ));
        }
        *slot = (index, record);
    }
    for i in 1..n_leaves {
        if leaves[i].0 <= leaves[i - 1].0 {
            return Err(Rejection::at(
                "market.leaves.index",
                i,
                Reason::Invalid("strictly increasing"),
            ));
        }
    }
    let n_market_proof = c.count_u8("market.proof")?;
    if n_market_proof > MAX_PROOF_HASHES {
        return Err(Rejection::new(
            "market.proof",
            Reason::TooMany {
                max: MAX_PROOF_HASHES as u16,
            },
        ));
    }
    let mut market_proof = [&ZERO_HASH; MAX_PROOF_HASHES];
    for slot in market_proof.iter_mut().take(n_market_proof) {
        *slot = c.array::<32>("market.proof.hash")?;
    }

    let len = c.count_u16("account.len")?;
    if len > MAX_ACCOUNT_RECORD {
        return Err(Rejection::new(
            "account.len",
            Reason::Invalid("at most MAX_ACCOUNT_RECORD bytes"),
        ));
    }
    let account = c.take("account.record", len)?;
    let account_index = c.u32("account.index")?;
    if account_index >= state.leaf_count {
        return Err(Rejection::new(
            "account.index",
            Reason::Invalid("below state.leaf_count"),
        ));
    }
    let n_account_proof = c.count_u8("account.proof")?;
    if n_account_proof > MAX_DEPTH {
        return Err(Rejection::new(
            "account.proof",
            Reason::TooMany {
                max: MAX_DEPTH as u16,
            },
        ));
    }
    let mut account_proof = [&ZERO_HASH; MAX_DEPTH];
    for slot in account_proof.iter_mut().take(n_account_proof) {
        *slot = c.array::<32>("account.proof.hash")?;
    }
    let underlying = *c.array::<16>("witness.underlying")?;
    let scenario = c.u16("witness.scenario")?;
    let claimed_value = c.i128("claimed_value")?;
    let claimed_requirement = c.i128("claimed_requirement")?;
    if c.pos != c.bytes.len() {
        return Err(Rejection::new("end", Reason::TrailingBytes));
    }
    Ok(Certificate {
        version,
        policy,
        time_s,
        params_hash,
        params,
        n_params,
        market,
        state,
        leaves,
        n_leaves,
        market_proof,
        n_market_proof,
        account,
        account_index,
        account_proof,
        n_account_proof,
        underlying,
        scenario,
        claimed_value,
        claimed_requirement,
    })
}

/// The bytes a commitment's signatures cover: domain tag, root, time, seq, leaf count, and for
/// the account state the parameter hash.
pub fn signed_message(
    domain: &[u8; 16],
    root: &[u8; 32],
    time_s: i64,
    seq: u64,
    leaf_count: u32,
    params_hash: Option<&[u8; 32]>,
) -> ([u8; 100], usize) {
    let mut out = [0u8; 100];
    out[..16].copy_from_slice(domain);
    out[16..48].copy_from_slice(root);
    out[48..56].copy_from_slice(&time_s.to_le_bytes());
    out[56..64].copy_from_slice(&seq.to_le_bytes());
    out[64..68].copy_from_slice(&leaf_count.to_le_bytes());
    match params_hash {
        Some(h) => {
            out[68..100].copy_from_slice(h);
            (out, 100)
        }
        None => (out, 68),
    }
}

// ---- market records ----

/// A decoded market record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// Padding.
    Empty,
    /// Underlying header.
    Underlying {
        /// Name.
        asset: [u8; 16],
        /// Spot.
        spot: i128,
        /// Snapshot rate (continuously compounded).
        rate: i128,
        /// Realised vol, if given.
        realized_vol: Option<i128>,
        /// Perp mark, if given (else spot).
        perp_price: Option<i128>,
        /// Number of SVI slices of its surface.
        slice_count: u16,
    },
    /// Forward of one expiry.
    Forward {
        /// Underlying.
        asset: [u8; 16],
        /// Expiry, unix seconds.
        expiry_s: i64,
        /// Forward.
        forward: i128,
    },
    /// One SVI slice (slices indexed 0.. in increasing expiry).
    Slice {
        /// Underlying.
        asset: [u8; 16],
        /// Index among the surface's slices.
        index: u16,
        /// Expiry, years from the snapshot.
        expiry_years: i128,
        /// SVI a.
        a: i128,
        /// SVI b.
        b: i128,
        /// SVI ρ.
        rho: i128,
        /// SVI m.
        m: i128,
        /// SVI σ.
        sigma: i128,
    },
    /// Collateral price.
    Collateral {
        /// Asset.
        asset: [u8; 16],
        /// Price.
        price: i128,
        /// Haircut.
        haircut: i128,
        /// Bridge risk.
        bridge_risk: i128,
        /// The underlying it moves with, if any.
        moves_with: Option<[u8; 16]>,
    },
}

/// Record flag bits.
pub mod flag {
    /// Underlying: realised vol present.
    pub const REALIZED_VOL: u8 = 1;
    /// Underlying: perp price present.
    pub const PERP_PRICE: u8 = 2;
    /// Collateral: moves with an underlying.
    pub const MOVES_WITH: u8 = 4;
    /// Position: entry price present.
    pub const ENTRY_PRICE: u8 = 1;
}

fn val(r: &[u8; RECORD_BYTES], i: usize) -> i128 {
    let at = 32 + 16 * i;
    let mut b = [0u8; 16];
    b.copy_from_slice(&r[at..at + 16]);
    i128::from_le_bytes(b)
}

/// Decodes a market record (layout in `docs/formats.md`).
pub fn decode_record(r: &[u8; RECORD_BYTES], i: usize) -> Result<Record, Rejection> {
    let bad = |what| Rejection::at("market.leaves.record", i, Reason::Invalid(what));
    let tag_byte = r[0];
    let flags = r[1];
    let sub = u16::from_le_bytes([r[2], r[3]]);
    if r[4..8] != [0; 4] {
        return Err(bad("reserved bytes 4..8 zero"));
    }
    let mut asset = [0u8; 16];
    asset.copy_from_slice(&r[8..24]);
    let mut tb = [0u8; 8];
    tb.copy_from_slice(&r[24..32]);
    let time = i64::from_le_bytes(tb);
    let unused_zero = |from: usize| (from..6).all(|k| val(r, k) == 0);
    Ok(match tag_byte {
        tag::EMPTY => {
            if r.iter().any(|b| *b != 0) {
                return Err(bad("an empty record all zero"));
            }
            Record::Empty
        }
        tag::UNDERLYING => {
            if flags & !(flag::REALIZED_VOL | flag::PERP_PRICE) != 0 || sub != 0 || time != 0 {
                return Err(bad("underlying header flags/sub/time"));
            }
            let count = val(r, 4);
            if !(1..=i128::from(u16::MAX)).contains(&count) || !unused_zero(5) {
                return Err(bad("underlying slice count in 1..65535"));
            }
            Record::Underlying {
                asset,
                spot: val(r, 0),
                rate: val(r, 1),
                realized_vol: (flags & flag::REALIZED_VOL != 0).then(|| val(r, 2)),
                perp_price: (flags & flag::PERP_PRICE != 0).then(|| val(r, 3)),
                slice_count: count as u16,
            }
        }
        tag::FORWARD => {
            if flags != 0 || sub != 0 || !unused_zero(1) {
                return Err(bad("forward record flags/sub/unused values zero"));
            }
            Record::Forward {
                asset,
                expiry_s: time,
                forward: val(r, 0),
            }
        }
        tag::SLICE => {
            if flags != 0 || time != 0 {
                return Err(bad("slice record flags/time zero"));
            }
            Record::Slice {
                asset,
                index: sub,
                expiry_years: val(r, 0),
                a: val(r, 1),
                b: val(r, 2),
                rho: val(r, 3),
                m: val(r, 4),
                sigma: val(r, 5),
            }
        }
        tag::COLLATERAL => {
            if flags & !flag::MOVES_WITH != 0 || sub != 0 || time != 0 || !unused_zero(4) {
                return Err(bad("collateral record flags/sub/time/unused zero"));
            }
            let moves_with = if flags & flag::MOVES_WITH != 0 {
                let mut m = [0u8; 16];
                m.copy_from_slice(&r[80..96]);
                Some(m)
            } else {
                if val(r, 3) != 0 {
                    return Err(bad("collateral moves_with zero when the flag is off"));
                }
                None
            };
            Record::Collateral {
                asset,
                price: val(r, 0),
                haircut: val(r, 1),
                bridge_risk: val(r, 2),
                moves_with,
            }
        }
        _ => return Err(bad("tag 0..4")),
    })
}

// ---- account records ----

/// One position of an account record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionRec {
    /// `kind::*`.
    pub kind: u8,
    /// Underlying.
    pub underlying: [u8; 16],
    /// Expiry (futures, options), unix seconds.
    pub expiry_s: i64,
    /// Strike (options), scale 1e18.
    pub strike: i128,
    /// Signed size, scale 1e18.
    pub size: i128,
    /// Entry price (futures and perpetuals), if known.
    pub entry_price: Option<i128>,
}

/// A decoded account record.
#[derive(Debug, Clone)]
pub struct AccountRec<'a> {
    /// Account id (UTF-8 bytes).
    pub id: &'a [u8],
    /// Collateral: (asset, amount at scale 1e18).
    pub collateral: [([u8; 16], i128); MAX_COLLATERAL],
    /// How many of `collateral` are used.
    pub n_collateral: usize,
    /// Positions.
    pub positions: [PositionRec; MAX_POSITIONS],
    /// How many of `positions` are used.
    pub n_positions: usize,
}

/// Decodes an account record (layout in `docs/formats.md`).
pub fn decode_account(bytes: &[u8]) -> Result<AccountRec<'_>, Rejection> {
    let mut c = Cursor::new(bytes);
    let id_len = c.u8("account.record.id")? as usize;
    if id_len == 0 || id_len > MAX_ACCOUNT_ID {
        return Err(Rejection::new(
            "account.record.id",
            Reason::Invalid("1..128 bytes"),
        ));
    }
    let id = c.take("account.record.id", id_len)?;
    let n_collateral = c.u8("account.record.collateral")? as usize;
    if n_collateral > MAX_COLLATERAL {
        return Err(Rejection::new(
            "account.record.collateral",
            Reason::TooMany {
                max: MAX_COLLATERAL as u16,
            },
        ));
    }
    let mut collateral = [([0u8; 16], 0i128); MAX_COLLATERAL];
    for slot in collateral.iter_mut().take(n_collateral) {
        let asset = *c.array::<16>("account.record.collateral.asset")?;
        let amount = c.i128("account.record.collateral.amount")?;
        *slot = (asset, amount);
    }
    let n_positions = c.u8("account.record.positions")? as usize;
    if n_positions > MAX_POSITIONS {
        return Err(Rejection::new(
            "account.record.positions",
            Reason::TooMany {
                max: MAX_POSITIONS as u16,
            },
        ));
    }
    let empty = PositionRec {
        kind: 0,
        underlying: [0; 16],
        expiry_s: 0,
        strike: 0,
        size: 0,
        entry_price: None,
    };
    let mut positions = [empty; MAX_POSITIONS];
    for (i, slot) in positions.iter_mut().enumerate().take(n_positions) {
        let kind = c.u8("account.record.positions.kind")?;
        let flags = c.u8("account.record.positions.flags")?;
        let pad = c.array::<6>("account.record.positions.reserved")?;
        let underlying = *c.array::<16>("account.record.positions.underlying")?;
        let expiry_s = c.i64("account.record.positions.expiry")?;
        let strike = c.i64("account.record.positions.strike")?;
        let size = c.i128("account.record.positions.size")?;
        let entry = c.i128("account.record.positions.entry_price")?;
        if kind > kind::PUT || flags & !flag::ENTRY_PRICE != 0 || *pad != [0; 6] {
            return Err(Rejection::at(
                "account.record.positions",
                i,
                Reason::Invalid("kind 0..4, flags bit 0 only, reserved zero"),
            ));
        }
        let is_option = kind == kind::CALL || kind == kind::PUT;
        if is_option != (strike > 0) || (kind <= kind::PERPETUAL && expiry_s != 0) {
            return Err(Rejection::at(
                "account.record.positions",
                i,
                Reason::Invalid("strike > 0 exactly for options; no expiry on spot and perps"),
            ));
        }
        if flags & flag::ENTRY_PRICE == 0 && entry != 0 {
            return Err(Rejection::at(
                "account.record.positions.entry_price",
                i,
                Reason::Invalid("zero when absent"),
            ));
        }
        *slot = PositionRec {
            kind,
            underlying,
            expiry_s,
            strike: i128::from(strike) * (crate::fixed::SCALE / i128::from(STRIKE_SCALE)),
            size,
            entry_price: (flags & flag::ENTRY_PRICE != 0).then_some(entry),
        };
    }
    if c.position() != bytes.len() {
        return Err(Rejection::new("account.record", Reason::TrailingBytes));
    }
    Ok(AccountRec {
        id,
        collateral,
        n_collateral,
        positions,
        n_positions,
    })
}
