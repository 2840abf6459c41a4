//! The canonical binary layout of a certificate (versions 2 and 3), parsed without allocation.
//!
//! Fixed-width little-endian fields, in this order (documented byte by byte in
//! `docs/formats.md`, "Liquidation certificates"):
//!
//! ```text
//! header      magic "ALEC" | version u16 | policy u8 | reserved u8 | time i64 | params_hash [32]
//! params      count u8 | count × i64 (scale 1e9)
//! scenarios   (pm only) count u16 | root [32]           (the venue's scenario list, a Merkle tree)
//! roots       market: root [32] | time i64 | seq u64 | leaf_count u32
//!             state:  root [32] | time i64 | seq u64 | leaf_count u32
//! signatures  n u8 | n × (key u8, sig [64])             (one message over both roots and params_hash)
//! leaves      n u8 | n × (index u32, len u8, record [len]) (indices strictly increasing; the
//!             128-byte record without its trailing zero bytes)
//! proof       n u8 | n × [32]                           (multiproof of the leaves)
//! account     len u16 | record [len] | index u32 | n u8 | n × [32]
//! witness     n u8 | n × (underlying [16], scenario u16 [, gamma u16 — v3, ramm only])
//!             (one per underlying, names increasing)
//! witness_scenarios (pm only) n u8 | n × (index u16, spot_shock i128, dampening i128, vol u8)
//!             | proof n u8 | n × [32]
//! claims      claimed_value i128 | claimed_requirement i128
//! ```
//!
//! Every list has a fixed bound (`MAX_*`); a longer one is rejected, never allocated.
//!
//! Version 3 differs from version 2 in one place: a `ramm` witness carries a second grid index,
//! the scenario whose gamma charge is counted (`gamma`, [`NO_SCENARIO`]: the witness
//! scenario's own). The canonical form is version 2 unless a `ramm` certificate names a gamma
//! witness, version 3 then (and only then); version 2 is read as before, every gamma
//! [`NO_SCENARIO`].

use crate::error::{Reason, Rejection};

/// Magic number.
pub const MAGIC: [u8; 4] = *b"ALEC";
/// The newest format version this crate reads and writes (a `ramm` certificate naming a gamma
/// witness).
pub const VERSION: u16 = 3;
/// The format version of every other certificate (read and written as before).
pub const VERSION_V2: u16 = 2;
/// Most signatures on the joint message.
pub const MAX_SIGS: usize = 16;
/// Most market leaves in one certificate.
pub const MAX_MARKET_LEAVES: usize = 32;
/// Most hashes of the market multiproof (and of the witness scenarios' multiproof).
pub const MAX_PROOF_HASHES: usize = 96;
/// Most levels of a tree (2^32 leaves).
pub const MAX_DEPTH: usize = 32;
/// Most policy parameters.
pub const MAX_PARAMS: usize = 32;
/// Most positions of one account.
pub const MAX_POSITIONS: usize = 32;
/// Most collateral balances of one account.
pub const MAX_COLLATERAL: usize = 16;
/// Most underlyings one certificate covers (one witness each).
pub const MAX_WITNESSES: usize = 8;
/// Longest `pm` scenario list a certificate can commit to.
pub const MAX_SCENARIO_LIST: u16 = 1024;
/// Bytes of a market leaf record.
pub const RECORD_BYTES: usize = 128;
/// Bytes of one position in an account record.
pub const POSITION_BYTES: usize = 72;
/// Bytes of one collateral balance in an account record.
pub const COLLATERAL_BYTES: usize = 32;
/// Bytes of a `pm` scenario leaf: spot_shock i128 ‖ dampening i128 ‖ vol u8.
pub const SCENARIO_BYTES: usize = 33;
/// Longest account id.
pub const MAX_ACCOUNT_ID: usize = 128;
/// Longest account record.
pub const MAX_ACCOUNT_RECORD: usize =
    1 + MAX_ACCOUNT_ID + 1 + MAX_COLLATERAL * COLLATERAL_BYTES + 1 + MAX_POSITIONS * POSITION_BYTES;
/// Scale of parameter values (i64).
pub const PARAM_SCALE: i64 = 1_000_000_000;
/// Scale of strikes in account records (i64, exact for Deribit strikes with ≤ 8 decimals).
pub const STRIKE_SCALE: i64 = 100_000_000;
/// "No scenario".
pub const NO_SCENARIO: u16 = u16::MAX;
/// `pm`: the witness is the underlying's basis floor B (pm.md §3 item 5), not a scenario.
pub const BASIS: u16 = u16::MAX - 1;
/// Key-byte bit of a venue key (the low 7 bits are the index in the venue list).
pub const VENUE_KEY: u8 = 0x80;

/// Domain tag of the signed message of both roots.
pub const ROOTS_DOMAIN: [u8; 16] = *b"ALE-ROOTS-v2\0\0\0\0";
/// Bytes of the signed message.
pub const ROOTS_MESSAGE_BYTES: usize = 152;

/// Market record tags.
pub mod tag {
    /// Padding leaf (trees are padded to a power of two).
    pub const EMPTY: u8 = 0;
    /// Underlying header: spot, rate, realised vol, perp price, slice count.
    pub const UNDERLYING: u8 = 1;
    /// Forward of one expiry (and its own rate, when given).
    pub const FORWARD: u8 = 2;
    /// One SVI slice: expiry in years, a, b, ρ, m, σ.
    pub const SLICE: u8 = 3;
    /// Collateral price and haircuts.
    pub const COLLATERAL: u8 = 4;
    /// The stable (cash) asset and its price.
    pub const STABLE: u8 = 5;
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
    /// `ramm` (witness: one grid scenario per underlying).
    Ramm,
    /// `static` (no scenario).
    Static,
    /// `oracle-adjusted` (no scenario).
    OracleAdjusted,
    /// `pm` (witness: one scenario of the venue's list, or the basis floor, per underlying).
    Pm,
}

impl Policy {
    /// The byte of the header.
    pub fn code(self) -> u8 {
        match self {
            Policy::Ramm => 1,
            Policy::Static => 2,
            Policy::OracleAdjusted => 3,
            Policy::Pm => 4,
        }
    }
    /// From the header byte.
    pub fn from_code(code: u8) -> Option<Policy> {
        match code {
            1 => Some(Policy::Ramm),
            2 => Some(Policy::Static),
            3 => Some(Policy::OracleAdjusted),
            4 => Some(Policy::Pm),
            _ => None,
        }
    }
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Ramm => "ramm",
            Policy::Static => "static",
            Policy::OracleAdjusted => "oracle-adjusted",
            Policy::Pm => "pm",
        }
    }
    /// How many parameters it carries (see `eval` and `pm` for their order).
    pub fn param_count(self) -> usize {
        match self {
            Policy::Ramm => crate::eval::RAMM_PARAMS,
            Policy::Static => 1,
            Policy::OracleAdjusted => 4,
            Policy::Pm => crate::pm::PM_PARAMS,
        }
    }
    /// True when the certificate carries one witness scenario per underlying.
    pub fn has_witnesses(self) -> bool {
        matches!(self, Policy::Ramm | Policy::Pm)
    }
}

/// One signature of the joint message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sig {
    /// The key: its index in the oracle list, or [`VENUE_KEY`] | its index in the venue list.
    pub key: u8,
    /// The ed25519 signature.
    pub sig: [u8; 64],
}

/// A committed root: market snapshot or account state.
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
}

/// The witness of one underlying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Witness {
    /// The underlying (ASCII, zero-padded).
    pub underlying: [u8; 16],
    /// `ramm`: grid index; `pm`: index in the venue's scenario list, or [`BASIS`].
    pub scenario: u16,
    /// `ramm` (format v3): the grid scenario whose gamma charge is counted instead of the
    /// witness scenario's own; [`NO_SCENARIO`] when none is named (always under `pm`, and in
    /// format v2).
    pub gamma: u16,
}

impl Witness {
    /// A witness naming no gamma scenario.
    pub const fn new(underlying: [u8; 16], scenario: u16) -> Witness {
        Witness {
            underlying,
            scenario,
            gamma: NO_SCENARIO,
        }
    }
}

/// A `pm` scenario of the venue's list, as a leaf of its Merkle tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScenarioLeaf {
    /// Index in the list.
    pub index: u16,
    /// Spot multiplier s (scale 1e18).
    pub spot_shock: i128,
    /// Dampening d (scale 1e18).
    pub dampening: i128,
    /// Vol direction: 0 Up, 1 None, 2 Down, 3 Linear, 4 Abs.
    pub vol: u8,
}

impl ScenarioLeaf {
    /// The 33 bytes hashed as a leaf of the scenario tree.
    pub fn bytes(&self) -> [u8; SCENARIO_BYTES] {
        let mut b = [0u8; SCENARIO_BYTES];
        b[..16].copy_from_slice(&self.spot_shock.to_le_bytes());
        b[16..32].copy_from_slice(&self.dampening.to_le_bytes());
        b[32] = self.vol;
        b
    }
}

const EMPTY_WITNESS: Witness = Witness::new([0; 16], 0);
const EMPTY_SCENARIO: ScenarioLeaf = ScenarioLeaf {
    index: 0,
    spot_shock: 0,
    dampening: 0,
    vol: 0,
};

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
    /// `pm`: the length of the venue's scenario list and the root of its Merkle tree.
    pub scenario_list: Option<(u16, [u8; 32])>,
    /// Market snapshot root.
    pub market: Commitment,
    /// Account-state root.
    pub state: Commitment,
    /// Signatures over both roots and the parameter hash.
    pub sigs: [Sig; MAX_SIGS],
    /// How many of `sigs` are used.
    pub n_sigs: usize,
    /// Market leaves: (index, record; the certificate carries each record without its
    /// trailing zero bytes, restored here).
    pub leaves: [(u32, [u8; RECORD_BYTES]); MAX_MARKET_LEAVES],
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
    /// One witness per underlying the account is exposed to (`ramm`, `pm`; none otherwise).
    pub witnesses: [Witness; MAX_WITNESSES],
    /// How many of `witnesses` are used.
    pub n_witnesses: usize,
    /// `pm`: the scenarios the witnesses name, as leaves of the scenario tree.
    pub witness_scenarios: [ScenarioLeaf; MAX_WITNESSES],
    /// How many of `witness_scenarios` are used.
    pub n_witness_scenarios: usize,
    /// Their multiproof against the scenario root.
    pub scenario_proof: [&'a [u8; 32]; MAX_PROOF_HASHES],
    /// How many of `scenario_proof` are used.
    pub n_scenario_proof: usize,
    /// Claimed value (scale 1e18).
    pub claimed_value: i128,
    /// Claimed bound: the requirement lower bound at the witnesses (scale 1e18).
    pub claimed_requirement: i128,
}

impl Certificate<'_> {
    /// The first witness's scenario ([`NO_SCENARIO`] when there is none).
    pub fn first_scenario(&self) -> u16 {
        if self.n_witnesses == 0 {
            NO_SCENARIO
        } else {
            self.witnesses[0].scenario
        }
    }
}

const ZERO_HASH: [u8; 32] = [0; 32];

/// A reader over the certificate bytes that names the field of every read and can report the
/// byte span of each field (for tests and the JSON rendering).
pub struct Cursor<'a, 'r> {
    bytes: &'a [u8],
    pos: usize,
    spans: Option<&'r mut dyn FnMut(&'static str, usize, usize)>,
    counts_read: u16,
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
        Ok(Commitment {
            root,
            time_s,
            seq,
            leaf_count,
        })
    }

    fn hashes<const N: usize>(
        &mut self,
        count_field: &'static str,
        field: &'static str,
        out: &mut [&'a [u8; 32]; N],
    ) -> Result<usize, Rejection> {
        let n = self.count_u8(count_field)?;
        if n > N {
            return Err(Rejection::new(
                count_field,
                Reason::TooMany { max: N as u16 },
            ));
        }
        for slot in out.iter_mut().take(n) {
            *slot = self.array::<32>(field)?;
        }
        Ok(n)
    }
}

struct CommitmentNames {
    root: &'static str,
    time: &'static str,
    seq: &'static str,
    leaf_count: &'static str,
}

const MARKET_NAMES: CommitmentNames = CommitmentNames {
    root: "market.root",
    time: "market.time",
    seq: "market.seq",
    leaf_count: "market.leaf_count",
};

const STATE_NAMES: CommitmentNames = CommitmentNames {
    root: "state.root",
    time: "state.time",
    seq: "state.seq",
    leaf_count: "state.leaf_count",
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
    if version != VERSION && version != VERSION_V2 {
        return Err(Rejection::new(
            "version",
            Reason::UnsupportedVersion(version),
        ));
    }
    let policy = Policy::from_code(c.u8("policy")?).ok_or(Rejection::new(
        "policy",
        Reason::Invalid("1 (ramm), 2 (static), 3 (oracle-adjusted) or 4 (pm)"),
    ))?;
    if version == VERSION && policy != Policy::Ramm {
        return Err(Rejection::new(
            "policy",
            Reason::Invalid("1 (ramm) under format v3 (the other policies are v2)"),
        ));
    }
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
    let scenario_list = if policy == Policy::Pm {
        let n = c.u16("scenarios.count")?;
        if n == 0 || n > MAX_SCENARIO_LIST {
            return Err(Rejection::new(
                "scenarios.count",
                Reason::Invalid("a scenario list of 1..1024 scenarios"),
            ));
        }
        Some((n, *c.array::<32>("scenarios.root")?))
    } else {
        None
    };
    let market = c.commitment(&MARKET_NAMES)?;
    let state = c.commitment(&STATE_NAMES)?;
    let n_sigs = c.count_u8("signatures")?;
    if n_sigs > MAX_SIGS {
        return Err(Rejection::new(
            "signatures",
            Reason::TooMany {
                max: MAX_SIGS as u16,
            },
        ));
    }
    let mut sigs = [Sig {
        key: 0,
        sig: [0; 64],
    }; MAX_SIGS];
    for slot in sigs.iter_mut().take(n_sigs) {
        let key = c.u8("signatures.key")?;
        let sig = *c.array::<64>("signatures.sig")?;
        *slot = Sig { key, sig };
    }
    // Keys strictly increasing: no key counts twice.
    for i in 1..n_sigs {
        if sigs[i].key <= sigs[i - 1].key {
            return Err(Rejection::at(
                "signatures.key",
                i,
                Reason::Invalid("key indices strictly increasing (each key signs once)"),
            ));
        }
    }

    let n_leaves = c.count_u8("market.leaves")?;
    if n_leaves > MAX_MARKET_LEAVES {
        return Err(Rejection::new(
            "market.leaves",
            Reason::TooMany {
                max: MAX_MARKET_LEAVES as u16,
            },
        ));
    }
    let mut leaves = [(0u32, [0u8; RECORD_BYTES]); MAX_MARKET_LEAVES];
    for (i, slot) in leaves.iter_mut().enumerate().take(n_leaves) {
        let index = c.u32("market.leaves.index")?;
        let len = c.count_u8("market.leaves.len")?;
        if len > RECORD_BYTES {
            return Err(Rejection::at(
                "market.leaves.len",
                i,
                Reason::Invalid("at most 128 bytes"),
            ));
        }
        let carried = c.take("market.leaves.record", len)?;
        if carried.last() == Some(&0) {
            return Err(Rejection::at(
                "market.leaves.record",
                i,
                Reason::Invalid(
                    "carried without its trailing zero bytes (the last carried byte non-zero)",
                ),
            ));
        }
        let mut record = [0u8; RECORD_BYTES];
        record[..len].copy_from_slice(carried);
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
    let mut market_proof = [&ZERO_HASH; MAX_PROOF_HASHES];
    let n_market_proof = c.hashes("market.proof", "market.proof.hash", &mut market_proof)?;

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
    let mut account_proof = [&ZERO_HASH; MAX_DEPTH];
    let n_account_proof = c.hashes("account.proof", "account.proof.hash", &mut account_proof)?;

    let n_witnesses = c.count_u8("witness")?;
    if n_witnesses > MAX_WITNESSES {
        return Err(Rejection::new(
            "witness",
            Reason::TooMany {
                max: MAX_WITNESSES as u16,
            },
        ));
    }
    if !policy.has_witnesses() && n_witnesses != 0 {
        return Err(Rejection::new(
            "witness",
            Reason::Invalid("no witness under static and oracle-adjusted"),
        ));
    }
    let with_gamma = version == VERSION;
    let mut witnesses = [EMPTY_WITNESS; MAX_WITNESSES];
    for slot in witnesses.iter_mut().take(n_witnesses) {
        let underlying = *c.array::<16>("witness.underlying")?;
        let scenario = c.u16("witness.scenario")?;
        let gamma = if with_gamma {
            c.u16("witness.gamma")?
        } else {
            NO_SCENARIO
        };
        *slot = Witness {
            underlying,
            scenario,
            gamma,
        };
    }
    // Canonical form: version 3 only for a `ramm` certificate that names a gamma witness.
    if with_gamma
        && !witnesses[..n_witnesses]
            .iter()
            .any(|w| w.gamma != NO_SCENARIO)
    {
        return Err(Rejection::new(
            "witness.gamma",
            Reason::Invalid(
                "format v3 names at least one gamma witness (canonical form: v2 otherwise)",
            ),
        ));
    }
    for i in 1..n_witnesses {
        if witnesses[i].underlying <= witnesses[i - 1].underlying {
            return Err(Rejection::at(
                "witness.underlying",
                i,
                Reason::Invalid("underlyings strictly increasing (one witness each)"),
            ));
        }
    }
    let mut witness_scenarios = [EMPTY_SCENARIO; MAX_WITNESSES];
    let mut scenario_proof = [&ZERO_HASH; MAX_PROOF_HASHES];
    let (mut n_witness_scenarios, mut n_scenario_proof) = (0, 0);
    if let Some((count, _)) = scenario_list {
        n_witness_scenarios = c.count_u8("witness_scenarios")?;
        if n_witness_scenarios > MAX_WITNESSES {
            return Err(Rejection::new(
                "witness_scenarios",
                Reason::TooMany {
                    max: MAX_WITNESSES as u16,
                },
            ));
        }
        for (i, slot) in witness_scenarios
            .iter_mut()
            .enumerate()
            .take(n_witness_scenarios)
        {
            let index = c.u16("witness_scenarios.index")?;
            let spot_shock = c.i128("witness_scenarios.spot_shock")?;
            let dampening = c.i128("witness_scenarios.dampening")?;
            let vol = c.u8("witness_scenarios.vol")?;
            if index >= count {
                return Err(Rejection::at(
                    "witness_scenarios.index",
                    i,
                    Reason::Invalid("below scenarios.count"),
                ));
            }
            *slot = ScenarioLeaf {
                index,
                spot_shock,
                dampening,
                vol,
            };
        }
        for i in 1..n_witness_scenarios {
            if witness_scenarios[i].index <= witness_scenarios[i - 1].index {
                return Err(Rejection::at(
                    "witness_scenarios.index",
                    i,
                    Reason::Invalid("strictly increasing"),
                ));
            }
        }
        n_scenario_proof = c.hashes(
            "witness_scenarios.proof",
            "witness_scenarios.proof.hash",
            &mut scenario_proof,
        )?;
    }
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
        scenario_list,
        market,
        state,
        sigs,
        n_sigs,
        leaves,
        n_leaves,
        market_proof,
        n_market_proof,
        account,
        account_index,
        account_proof,
        n_account_proof,
        witnesses,
        n_witnesses,
        witness_scenarios,
        n_witness_scenarios,
        scenario_proof,
        n_scenario_proof,
        claimed_value,
        claimed_requirement,
    })
}

/// The 152 bytes the signatures cover: domain tag ‖ market root, time, seq, leaf count ‖ state
/// root, time, seq, leaf count ‖ parameter hash.
pub fn roots_message(
    market: &Commitment,
    state: &Commitment,
    params_hash: &[u8; 32],
) -> [u8; ROOTS_MESSAGE_BYTES] {
    let mut out = [0u8; ROOTS_MESSAGE_BYTES];
    out[..16].copy_from_slice(&ROOTS_DOMAIN);
    let mut at = 16;
    for c in [market, state] {
        out[at..at + 32].copy_from_slice(&c.root);
        out[at + 32..at + 40].copy_from_slice(&c.time_s.to_le_bytes());
        out[at + 40..at + 48].copy_from_slice(&c.seq.to_le_bytes());
        out[at + 48..at + 52].copy_from_slice(&c.leaf_count.to_le_bytes());
        at += 52;
    }
    out[at..at + 32].copy_from_slice(params_hash);
    out
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
        /// The snapshot lists a collateral price for the asset of this name.
        collateral_listed: bool,
    },
    /// Forward of one expiry.
    Forward {
        /// Underlying.
        asset: [u8; 16],
        /// Expiry, unix seconds.
        expiry_s: i64,
        /// Forward.
        forward: i128,
        /// The expiry's own rate, when the snapshot gives one (`pm` reads it).
        rate: Option<i128>,
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
        /// `pm`'s maintenance haircut, when given (else haircut + bridge risk).
        mm_haircut: Option<i128>,
    },
    /// The stable (cash) asset of the snapshot and its price.
    Stable {
        /// The asset.
        asset: [u8; 16],
        /// Its price P.
        price: i128,
    },
}

/// Record flag bits.
pub mod flag {
    /// Underlying: realised vol present.
    pub const REALIZED_VOL: u8 = 1;
    /// Underlying: perp price present.
    pub const PERP_PRICE: u8 = 2;
    /// Underlying: the snapshot lists a collateral price for the asset of this name (`pm`
    /// prices a balance or spot position of an unlisted one at spot, with no haircut).
    pub const COLLATERAL_LISTED: u8 = 4;
    /// Forward: the expiry's own rate present.
    pub const FORWARD_RATE: u8 = 1;
    /// Collateral: moves with an underlying.
    pub const MOVES_WITH: u8 = 4;
    /// Collateral: `pm` maintenance haircut present.
    pub const MM_HAIRCUT: u8 = 8;
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
            if flags & !(flag::REALIZED_VOL | flag::PERP_PRICE | flag::COLLATERAL_LISTED) != 0
                || sub != 0
                || time != 0
            {
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
                collateral_listed: flags & flag::COLLATERAL_LISTED != 0,
                slice_count: count as u16,
            }
        }
        tag::FORWARD => {
            if flags & !flag::FORWARD_RATE != 0 || sub != 0 || !unused_zero(2) {
                return Err(bad("forward record flags/sub/unused values zero"));
            }
            let rate = (flags & flag::FORWARD_RATE != 0).then(|| val(r, 1));
            if rate.is_none() && val(r, 1) != 0 {
                return Err(bad("forward rate zero when the flag is off"));
            }
            Record::Forward {
                asset,
                expiry_s: time,
                forward: val(r, 0),
                rate,
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
            if flags & !(flag::MOVES_WITH | flag::MM_HAIRCUT) != 0
                || sub != 0
                || time != 0
                || !unused_zero(5)
            {
                return Err(bad("collateral record flags/sub/time/unused zero"));
            }
            let mm_haircut = (flags & flag::MM_HAIRCUT != 0).then(|| val(r, 4));
            if mm_haircut.is_none() && val(r, 4) != 0 {
                return Err(bad("collateral mm_haircut zero when the flag is off"));
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
                mm_haircut,
            }
        }
        tag::STABLE => {
            if flags != 0 || sub != 0 || time != 0 || !unused_zero(1) {
                return Err(bad("stable record flags/sub/time/unused zero"));
            }
            Record::Stable {
                asset,
                price: val(r, 0),
            }
        }
        _ => return Err(bad("tag 0..5")),
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
