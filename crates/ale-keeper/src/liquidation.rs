//! The hand-off to `ale-liquidation`: the node owns one liquidation [`Engine`] (its ledger,
//! insurance fund, liquidators, cases and audit log) and drives it from the keeper's events,
//! inside `Node::apply` — pure and deterministic, so that replaying the keeper's log rebuilds
//! exactly the same ledger and records.
//!
//! - An account the keeper finds liquidatable is handed off: the node builds its certificate
//!   (`ale-certify`, against the last signed snapshot and a state root signed by the venue
//!   keys), opens the account on the ledger as it stands, and sends the engine a `Check` with
//!   the certificate; the engine's gate verifies it (`ale-verify`) before the first tier.
//! - While the liquidation runs, the ledger holds the account: after every record that moves
//!   its balances the keeper reads the account back from the ledger (positions, cost basis,
//!   collateral) and re-margins it; deposits are paid in on the ledger; withdrawals, trades and
//!   account replacements are refused.
//! - Market updates re-value the engine (`Event::Market`) while a liquidation is running (at
//!   most every [`SYNC_INTERVAL_S`] of event time), and always before the engine acts (a
//!   hand-off, a bid, an auction's end): the engine's tables are not rebuilt on the hot path of
//!   a quiet book.
//! - Time passing ends auctions (`Event::Tick` when one is due); registered liquidators' bids
//!   arrive as keeper events.
//! - Every record becomes a `liquidation` effect naming the signed snapshot the engine valued
//!   at.
//!
//! Each liquidation opens the account on the ledger afresh (the keeper's account is the truth
//! between liquidations): the first under the account's id, later ones under `id~2`, `id~3`, …
//! (the engine has no way to re-state a trader's balances). A finished liquidation's ledger
//! holder keeps its last balances; a socialised-loss charge on it is applied to the keeper's
//! account as a cash movement.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ale_certify::{certify, CertPolicy, CertifyError, Commitments};
use ale_core::{Account, AccountId, Amount, Asset, Instrument, Position, Timestamp};
use ale_liquidation::params::MAX_BIDDERS;
use ale_liquidation::{
    Bidder, CertificateGate, Engine, Event as LEvent, Holder, MarketUpdate, RecordKind, Stage, Unit,
};
use ale_market::MarketSnapshot;
use ale_oracle::quorum::STATE_DOMAIN;
use ale_oracle::{AccountStateTree, RootRef, SignedRoot, SignedRoots};
use ale_risk::{MarginPolicy, Status};
use ale_verify::{Quorum, TrustedKeys};
use sha2::{Digest, Sha256};

use crate::event::{Effect, Event};
use crate::node::{asset, Node, NodeConfig, NodeError};
use crate::snapshot::{Keys, MAX_SNAPSHOT_AGE_S, QUORUM};

/// Most rounds of hand-offs in one event (a hand-off can make another account liquidatable
/// through a socialised-loss charge); what is left is handed off at the next event.
pub const MAX_HANDOFF_ROUNDS: usize = 4;
/// Most liquidations of one account (ledger ids `id~2` … `id~N`).
pub const MAX_GENERATIONS: u32 = 100_000;
/// While liquidations run, the engine is re-valued at a new market at most this often (event
/// time), and always before it acts (a hand-off, a bid, an auction's end): re-valuing every open
/// auction on every price tick would put O(auctions) margins on the update path.
pub const SYNC_INTERVAL_S: i64 = 10;
/// Waiting accounts are tried again at most this often (event time).
pub const RETRY_INTERVAL_S: i64 = 10;

/// A liquidatable account not handed off yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Why.
    pub reason: String,
    /// Tried again at every market update and tick (else only when the account changes).
    pub retry: bool,
}

/// A certificate the node built for a liquidation.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// The snapshot it proves its market values against.
    pub snapshot_seq: u64,
    /// The canonical bytes.
    pub bytes: Vec<u8>,
}

/// The liquidation side of the node.
pub(crate) struct Liquidation {
    pub engine: Engine,
    pub cert_policy: Option<CertPolicy>,
    /// The engine values at the keeper's current market.
    pub synced: bool,
    /// The snapshot the engine values at.
    pub valued_at: Option<u64>,
    /// Ledger trader id → keeper account.
    pub keeper_of: BTreeMap<AccountId, AccountId>,
    /// Keeper account → the ledger id of its last hand-off.
    pub ledger_of: BTreeMap<AccountId, AccountId>,
    /// Keeper accounts whose liquidation is running.
    pub active: BTreeSet<AccountId>,
    /// Liquidatable keeper accounts not handed off yet.
    pub pending: BTreeMap<AccountId, Pending>,
    /// Per record of the engine's log, the snapshot the engine valued at.
    pub record_snapshot: Vec<Option<u64>>,
    /// The signed roots of the snapshots the engine valued at.
    pub snapshots: BTreeMap<u64, SignedRoot>,
    /// Certificates by ledger id.
    pub certificates: BTreeMap<AccountId, IssuedCertificate>,
    /// Open auctions by closing time (ledger ids): the next one due is found in O(log n).
    pub closes: BTreeSet<(Timestamp, AccountId)>,
    pub close_of: BTreeMap<AccountId, Timestamp>,
    /// When the engine was last re-valued, and waiting accounts last tried.
    pub last_sync: Option<Timestamp>,
    pub last_retry: Option<Timestamp>,
    /// The keeper book's row counts when its instruments were last listed in the engine.
    pub listed_rows: Vec<usize>,
}

impl Liquidation {
    pub fn new(
        config: &NodeConfig,
        policy: Box<dyn MarginPolicy>,
        market: MarketSnapshot,
        keys: &Keys,
    ) -> Result<Liquidation, NodeError> {
        let mut params = config.liquidation.clone();
        // The gate is on unless the parameters say otherwise: then the policy must have a
        // certificate format (every policy of `ale-risk` has one in format v2).
        let cert_policy = if params.certificate_gate.enabled {
            Some(
                CertPolicy::from_name(&config.policy, config.params_toml.as_deref()).map_err(
                    |e| NodeError::Setup(format!("the certificate gate needs a certificate: {e}")),
                )?,
            )
        } else {
            None
        };
        params.certificate_gate = if cert_policy.is_some() {
            CertificateGate::new(
                keys.oracle_public().to_vec(),
                keys.venue_public().to_vec(),
                Quorum {
                    oracle: QUORUM,
                    venue: QUORUM,
                    max_age_s: MAX_SNAPSHOT_AGE_S,
                },
            )
        } else {
            CertificateGate::off()
        };
        let engine = Engine::new(policy, market, params)
            .map_err(|e| NodeError::Setup(format!("liquidation engine: {e}")))?;
        Ok(Liquidation {
            engine,
            cert_policy,
            synced: false,
            valued_at: None,
            keeper_of: BTreeMap::new(),
            ledger_of: BTreeMap::new(),
            active: BTreeSet::new(),
            pending: BTreeMap::new(),
            record_snapshot: Vec::new(),
            snapshots: BTreeMap::new(),
            certificates: BTreeMap::new(),
            closes: BTreeSet::new(),
            close_of: BTreeMap::new(),
            last_sync: None,
            last_retry: None,
            listed_rows: Vec::new(),
        })
    }

    fn gate_on(&self) -> bool {
        self.engine.params().certificate_gate.enabled
    }
}

fn engine_error(account: Option<&AccountId>, e: impl std::fmt::Display) -> Effect {
    Effect::LiquidationError {
        account: account.map(ToString::to_string),
        error: e.to_string(),
    }
}

impl Node {
    // ----- reads ---------------------------------------------------------------------------

    /// The liquidation engine (read-only): its ledger, cases, bidders, parameters and log.
    pub fn liquidation_engine(&self) -> &Engine {
        &self.liq.engine
    }

    /// The keeper account of a ledger trader id.
    pub fn keeper_account(&self, ledger_id: &AccountId) -> Option<&AccountId> {
        self.liq.keeper_of.get(ledger_id)
    }

    /// The ledger id of a keeper account's last liquidation.
    pub fn ledger_account(&self, account: &AccountId) -> Option<&AccountId> {
        self.liq.ledger_of.get(account)
    }

    /// Keeper accounts whose liquidation is running.
    pub fn liquidations_running(&self) -> impl Iterator<Item = &AccountId> {
        self.liq.active.iter()
    }

    /// Liquidatable accounts not handed off yet, with the reason.
    pub fn liquidations_pending(&self) -> impl Iterator<Item = (&AccountId, &Pending)> {
        self.liq.pending.iter()
    }

    /// The snapshot the engine valued at when it wrote record `seq`.
    pub fn record_snapshot(&self, seq: u64) -> Option<u64> {
        self.liq
            .record_snapshot
            .get(usize::try_from(seq).ok()?)
            .copied()
            .flatten()
    }

    /// The signed root of a snapshot the engine valued at.
    pub fn valued_snapshot(&self, seq: u64) -> Option<&SignedRoot> {
        self.liq.snapshots.get(&seq)
    }

    /// The certificate of a liquidation, by ledger id.
    pub fn certificate(&self, ledger_id: &AccountId) -> Option<&IssuedCertificate> {
        self.liq.certificates.get(ledger_id)
    }

    /// The insurance fund's equity and maintenance margin at the engine's market (a margin of
    /// everything the fund holds: computed on request, it changes nothing the log replays).
    pub fn fund_health(&mut self) -> Option<(f64, f64)> {
        self.liq
            .engine
            .health(&Holder::InsuranceFund)
            .ok()
            .map(|h| (h.equity_f64, h.maintenance_f64))
    }

    // ----- events --------------------------------------------------------------------------

    /// Capital paid into the insurance fund.
    pub(crate) fn fund_deposit(
        &mut self,
        asset: Asset,
        amount: Amount,
        time: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Vec<usize> {
        let start = self.liq.engine.log().len();
        let event = LEvent::Deposit {
            holder: Holder::InsuranceFund,
            asset,
            amount,
        };
        if let Err(e) = self.liq.engine.process(&event, time) {
            effects.push(engine_error(None, e));
        }
        self.absorb(start, effects)
    }

    /// A deposit to an account whose liquidation is running: paid in on the ledger.
    pub(crate) fn liquidation_deposit(
        &mut self,
        id: &AccountId,
        asset: Asset,
        amount: Amount,
        time: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Vec<usize> {
        let Some(ledger_id) = self.liq.ledger_of.get(id).cloned() else {
            return Vec::new();
        };
        let start = self.liq.engine.log().len();
        let event = LEvent::Deposit {
            holder: Holder::Trader(ledger_id),
            asset,
            amount,
        };
        if let Err(e) = self.liq.engine.process(&event, time) {
            effects.push(engine_error(Some(id), e));
        }
        self.absorb(start, effects)
    }

    /// Registers a liquidator (checked first: a refused registration changes nothing).
    pub(crate) fn register_liquidator(
        &mut self,
        event: &Event,
        time: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Result<Vec<usize>, NodeError> {
        let Event::Liquidator {
            name,
            owner,
            max_price_fraction,
            insolvent_premium_fraction,
            max_share,
            collateral,
            ..
        } = event
        else {
            return Ok(Vec::new());
        };
        let id = AccountId::new(name).map_err(|e| NodeError::Invalid(format!("name: {e}")))?;
        if self.liq.engine.bidders().any(|b| &b.name == name) {
            return Err(NodeError::Invalid(format!(
                "liquidator '{name}' is already registered"
            )));
        }
        if self.liq.engine.bidders().count() >= MAX_BIDDERS {
            return Err(NodeError::Invalid(format!(
                "more than {MAX_BIDDERS} liquidators"
            )));
        }
        for (field, value, ok) in [
            (
                "max_price_fraction",
                *max_price_fraction,
                (0.0..=1.0).contains(max_price_fraction),
            ),
            (
                "insolvent_premium_fraction",
                *insolvent_premium_fraction,
                (0.0..=1.0).contains(insolvent_premium_fraction),
            ),
            (
                "max_share",
                *max_share,
                *max_share > 0.0 && *max_share <= 1.0,
            ),
        ] {
            if !ok {
                return Err(NodeError::Invalid(format!(
                    "{field}: must be in {}, got {value}",
                    if field == "max_share" {
                        "(0, 1]"
                    } else {
                        "[0, 1]"
                    }
                )));
            }
        }
        let mut capital = Account::new(id);
        for (i, c) in collateral.iter().enumerate() {
            let a = asset(&format!("collateral[{i}].asset"), &c.asset)?;
            let v = c.amount.0;
            if v.is_negative() || v.is_zero() {
                return Err(NodeError::Invalid(format!(
                    "collateral[{i}].amount: must be > 0, got {v}"
                )));
            }
            capital
                .add_collateral(a, v)
                .map_err(|e| NodeError::Invalid(format!("collateral[{i}].amount: {e}")))?;
        }
        let bidder = Bidder {
            name: name.clone(),
            owner: owner.clone().unwrap_or_else(|| name.clone()),
            max_price_fraction: *max_price_fraction,
            insolvent_premium_fraction: *insolvent_premium_fraction,
            max_share: *max_share,
        };
        let start = self.liq.engine.log().len();
        if let Err(e) = self.liq.engine.register_bidder(bidder, &capital, time) {
            effects.push(engine_error(None, e));
        }
        Ok(self.absorb(start, effects))
    }

    /// Checks a bid before anything changes: a registered liquidator, an auction open for the
    /// account and not over at `time`.
    pub(crate) fn check_bid(
        &self,
        id: &AccountId,
        bidder: &str,
        time: Timestamp,
    ) -> Result<(), NodeError> {
        if !self.liq.engine.bidders().any(|b| b.name == bidder) {
            return Err(NodeError::Invalid(format!(
                "bidder: '{bidder}' is not a registered liquidator"
            )));
        }
        let auction = self
            .liq
            .ledger_of
            .get(id)
            .filter(|_| self.liq.active.contains(id))
            .and_then(|l| self.liq.engine.case(l))
            .filter(|c| c.stage == Stage::Auction)
            .and_then(|c| c.auction);
        match auction {
            None => Err(NodeError::Invalid(format!(
                "account: no auction is open for '{id}'"
            ))),
            Some(a) if time >= a.closes => Err(NodeError::Invalid(format!(
                "account: the auction of '{id}' ends at {} (its time is up)",
                a.closes
            ))),
            Some(_) => Ok(()),
        }
    }

    /// A checked bid, sent to the engine.
    pub(crate) fn bid(
        &mut self,
        id: &AccountId,
        bidder: &str,
        time: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Vec<usize> {
        let Some(ledger_id) = self.liq.ledger_of.get(id).cloned() else {
            return Vec::new();
        };
        let mut touched = self.sync_engine(time, effects);
        let start = self.liq.engine.log().len();
        let event = LEvent::Bid {
            account: ledger_id,
            bidder: bidder.to_string(),
        };
        if let Err(e) = self.liq.engine.process(&event, time) {
            effects.push(engine_error(Some(id), e));
        }
        touched.extend(self.absorb(start, effects));
        touched
    }

    /// Ends the auctions whose time is up at `time` (the next tier runs).
    pub(crate) fn tick_auctions(
        &mut self,
        time: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Vec<usize> {
        let due = self.liq.closes.first().is_some_and(|(t, _)| *t <= time);
        if !due {
            return Vec::new();
        }
        let mut touched = self.sync_engine(time, effects);
        let start = self.liq.engine.log().len();
        if let Err(e) = self.liq.engine.process(&LEvent::Tick, time) {
            effects.push(engine_error(None, e));
        }
        touched.extend(self.absorb(start, effects));
        touched
    }

    // ----- the step after every event -----------------------------------------------------

    /// After an event: re-value running liquidations at a new market, end auctions whose time
    /// is up, hand off accounts that became liquidatable (and retry those waiting), and keep
    /// the status effects current.
    pub(crate) fn liquidation_step(
        &mut self,
        time: Timestamp,
        market_changed: bool,
        retry: bool,
        newly: Vec<usize>,
        changed: &[usize],
        effects: &mut Vec<Effect>,
    ) {
        let mut touched = Vec::new();
        let since = |last: Option<Timestamp>| {
            last.is_none_or(|t| time.unix_seconds() - t.unix_seconds() >= SYNC_INTERVAL_S)
        };
        if market_changed && !self.liq.active.is_empty() && since(self.liq.last_sync) {
            touched.extend(self.sync_engine(time, effects));
        }
        touched.extend(self.tick_auctions(time, effects));
        let mut candidates: BTreeSet<usize> = newly.into_iter().collect();
        candidates.extend(self.transitions(&touched, effects));
        let retry = retry
            && !self.liq.pending.is_empty()
            && self
                .liq
                .last_retry
                .is_none_or(|t| time.unix_seconds() - t.unix_seconds() >= RETRY_INTERVAL_S);
        if retry {
            self.liq.last_retry = Some(time);
            for (id, p) in &self.liq.pending {
                if let Some(ix) = self.engine.account_index(id).filter(|_| p.retry) {
                    candidates.insert(ix);
                }
            }
        }
        // A waiting account that changed (a deposit, a trade) is tried again at once.
        for &ix in changed {
            if self
                .liq
                .pending
                .contains_key(&self.engine.book().account(ix).id)
            {
                candidates.insert(ix);
            }
        }
        for _ in 0..MAX_HANDOFF_ROUNDS {
            if candidates.is_empty() {
                break;
            }
            let mut next = BTreeSet::new();
            for ix in std::mem::take(&mut candidates) {
                let id = self.engine.book().account(ix).id.clone();
                if self.liq.active.contains(&id) || !self.keeper_liquidatable(ix) {
                    continue;
                }
                let t = self.hand_off(&id, time, effects);
                next.extend(self.transitions(&t, effects));
            }
            candidates = next;
        }
        for ix in candidates {
            let id = self.engine.book().account(ix).id.clone();
            self.defer(
                &id,
                "handed off at the next event (too many hand-offs in one event)".into(),
                true,
                effects,
            );
        }
    }

    fn keeper_liquidatable(&self, ix: usize) -> bool {
        self.engine.margins()[ix]
            .as_ref()
            .is_ok_and(|m| m.status() == Status::Liquidatable)
    }

    fn defer(&mut self, id: &AccountId, reason: String, retry: bool, effects: &mut Vec<Effect>) {
        let changed = self.liq.pending.get(id).is_none_or(|p| p.reason != reason);
        if changed {
            effects.push(Effect::LiquidationDeferred {
                account: id.to_string(),
                reason: reason.clone(),
            });
        }
        self.liq
            .pending
            .insert(id.clone(), Pending { reason, retry });
    }

    /// The ledger id of the next liquidation of `id`.
    fn next_ledger_id(&self, id: &AccountId) -> Result<AccountId, String> {
        let taken = |l: &AccountId| {
            self.liq.keeper_of.contains_key(l)
                || self
                    .liq
                    .engine
                    .ledger()
                    .holder_id(&Holder::Trader(l.clone()))
                    .is_some()
        };
        if !taken(id) {
            return Ok(id.clone());
        }
        for g in 2..=MAX_GENERATIONS {
            let candidate = AccountId::new(&format!("{id}~{g}"))
                .map_err(|e| format!("no ledger id for a new liquidation: {e}"))?;
            if !taken(&candidate) {
                return Ok(candidate);
            }
        }
        Err(format!(
            "more than {MAX_GENERATIONS} liquidations of one account"
        ))
    }

    /// The certificate that `account` (under its ledger id) is liquidatable: built against the
    /// last signed snapshot and a state root signed by the venue keys, checked by the verifier.
    /// On failure, the reason and whether trying again later can help.
    fn build_certificate(
        &self,
        account: &Account,
        time: Timestamp,
    ) -> Result<IssuedCertificate, (String, bool)> {
        let policy = self.liq.cert_policy.as_ref().ok_or((
            "the margin policy has no certificate format".to_string(),
            false,
        ))?;
        let snapshot = self
            .snapshot
            .as_ref()
            .map_err(|e| (format!("no signed snapshot: {e}"), true))?;
        let state = AccountStateTree::new(std::slice::from_ref(account))
            .map_err(|e| (format!("certificate: {e}"), false))?;
        let params_hash = policy.params_hash();
        let state_root = SignedRoot::new(
            STATE_DOMAIN,
            state.root(),
            snapshot.root.time_s,
            snapshot.seq,
            state.leaf_count(),
            Some(params_hash),
        )
        .sign(&self.keys.venue_signers());
        // The joint message carries a quorum of each: k oracle and k venue signatures.
        let mut oracle = self.keys.oracle_signers();
        oracle.truncate(usize::from(QUORUM));
        let mut venue = self.keys.venue_signers();
        venue.truncate(usize::from(QUORUM));
        let roots = SignedRoots::new(
            RootRef::of(&snapshot.root),
            RootRef::of(&state_root),
            params_hash,
        )
        .sign(&oracle, &venue);
        let commitments = Commitments {
            market: snapshot.tree.clone(),
            market_root: snapshot.root.clone(),
            state,
            state_root,
            roots,
        };
        let keys = TrustedKeys {
            oracle: self.keys.oracle_public(),
            venue: self.keys.venue_public(),
        };
        let gate = &self.liq.engine.params().certificate_gate;
        match certify(
            policy,
            self.engine.market(),
            &commitments,
            account,
            &keys,
            &gate.quorum,
            time.unix_seconds(),
        ) {
            Ok(c) => Ok(IssuedCertificate {
                snapshot_seq: snapshot.seq,
                bytes: c.bytes,
            }),
            Err(CertifyError::Unsupported(m)) => Err((format!("certificate: {m}"), false)),
            Err(e) => Err((format!("certificate: {e}"), true)),
        }
    }

    /// Hands a liquidatable account to the engine. Returns the accounts it re-margined.
    fn hand_off(
        &mut self,
        id: &AccountId,
        time: Timestamp,
        effects: &mut Vec<Effect>,
    ) -> Vec<usize> {
        let Some(account) = self.accounts.get(id).cloned() else {
            return Vec::new();
        };
        let ledger_id = match self.next_ledger_id(id) {
            Ok(l) => l,
            Err(reason) => {
                self.defer(id, reason, false, effects);
                return Vec::new();
            }
        };
        let mut opened = account;
        opened.id = ledger_id.clone();
        let certificate = if self.liq.gate_on() {
            match self.build_certificate(&opened, time) {
                Ok(c) => Some(c),
                Err((reason, retry)) => {
                    self.defer(id, reason, retry, effects);
                    return Vec::new();
                }
            }
        } else {
            None
        };
        let mut touched = self.sync_engine(time, effects);
        if !self.liq.synced {
            self.defer(
                id,
                "the liquidation engine cannot value at the current market".into(),
                true,
                effects,
            );
            return touched;
        }
        self.list_instruments(effects);
        let start = self.liq.engine.log().len();
        if let Err(e) = self.liq.engine.register_trader(&opened, id.as_str(), time) {
            effects.push(engine_error(Some(id), &e));
            touched.extend(self.absorb(start, effects));
            self.defer(id, format!("liquidation engine: {e}"), false, effects);
            return touched;
        }
        self.liq.keeper_of.insert(ledger_id.clone(), id.clone());
        self.liq.ledger_of.insert(id.clone(), ledger_id.clone());
        self.liq.active.insert(id.clone());
        let event = match certificate {
            Some(c) => {
                effects.push(Effect::Certificate {
                    account: id.to_string(),
                    sha256: hex::encode(Sha256::digest(&c.bytes)),
                    bytes: c.bytes.len(),
                    snapshot_seq: c.snapshot_seq,
                });
                let bytes = c.bytes.clone();
                self.liq.certificates.insert(ledger_id.clone(), c);
                LEvent::CheckWithCertificate {
                    account: ledger_id.clone(),
                    certificate: bytes,
                }
            }
            None => LEvent::Check {
                account: ledger_id.clone(),
            },
        };
        let started = match self.liq.engine.process(&event, time) {
            Ok(_) => true,
            Err(e) => {
                effects.push(engine_error(Some(id), e));
                false
            }
        };
        let case = self.liq.engine.case(&ledger_id).map(|c| c.stage);
        if !started || case.is_none() {
            // Nothing started (the gate refused, or the engine's exact ledger valuation finds
            // the account at maintenance): the keeper's account stays the truth.
            self.liq.active.remove(id);
            let reason = self.liq.engine.log()[start..]
                .iter()
                .rev()
                .find(|r| r.kind == RecordKind::Refused)
                .map_or_else(
                    || "the liquidation engine finds the account at or above maintenance".into(),
                    |r| r.reason.clone(),
                );
            touched.extend(self.absorb(start, effects));
            self.defer(id, reason, true, effects);
            return touched;
        }
        self.liq.pending.remove(id);
        touched.extend(self.absorb(start, effects));
        touched
    }

    /// Lists the book's instruments in the engine, all at once when the book lists new ones
    /// (one table build, not one per instrument as accounts are handed off).
    fn list_instruments(&mut self, effects: &mut Vec<Effect>) {
        let book = self.engine.book();
        let rows: Vec<usize> = (0..book.underlyings().len())
            .map(|u| book.row_count(u))
            .collect();
        if rows == self.liq.listed_rows {
            return;
        }
        let instruments: Vec<Instrument> = (0..book.underlyings().len())
            .flat_map(|u| book.rows(u).map(|l| l.instrument.clone()))
            .collect();
        if let Err(e) = self.liq.engine.list_instruments(instruments.iter()) {
            effects.push(engine_error(None, e));
        }
        self.liq.listed_rows = rows;
    }

    /// Brings the engine to the keeper's current market (`Event::Market`), once per market
    /// change. Returns the accounts it re-margined.
    fn sync_engine(&mut self, time: Timestamp, effects: &mut Vec<Effect>) -> Vec<usize> {
        if self.liq.synced {
            return Vec::new();
        }
        let market = Arc::new(self.engine.market().clone());
        let start = self.liq.engine.log().len();
        match self
            .liq
            .engine
            .process(&LEvent::Market(MarketUpdate(market)), time)
        {
            Ok(_) => {
                self.liq.synced = true;
                self.liq.last_sync = Some(time);
                self.liq.valued_at = self.snapshot.as_ref().ok().map(|s| s.seq);
                if let Ok(s) = &self.snapshot {
                    self.liq.snapshots.entry(s.seq).or_insert(s.root.clone());
                }
            }
            Err(e) => effects.push(engine_error(None, e)),
        }
        self.absorb(start, effects)
    }

    /// Turns the engine's new records (from `start`) into effects, reads back the accounts
    /// whose liquidation moved them, and applies socialised charges to finished ones. Returns
    /// the accounts re-margined.
    fn absorb(&mut self, start: usize, effects: &mut Vec<Effect>) -> Vec<usize> {
        let log = self.liq.engine.log();
        if start >= log.len() {
            return Vec::new();
        }
        let ledger = self.liq.engine.ledger();
        let snapshot_root = |seq: Option<u64>| {
            seq.and_then(|s| self.liq.snapshots.get(&s))
                .map(|r| hex::encode(r.root))
        };
        let mut finished: BTreeSet<AccountId> = BTreeSet::new();
        let mut moved: BTreeSet<AccountId> = BTreeSet::new();
        // Ledger ids whose auction may have opened or ended.
        let mut cases: BTreeSet<AccountId> = BTreeSet::new();
        // (keeper account, asset, signed nano-units) moved on a finished liquidation's holder.
        let mut cash: Vec<(AccountId, Asset, i128)> = Vec::new();
        let valued_at = self.liq.valued_at;
        for r in &log[start..] {
            let keeper = r
                .account
                .as_ref()
                .map(|l| self.liq.keeper_of.get(l).unwrap_or(l).clone());
            let mut details = serde_json::Map::new();
            for (k, v) in &r.details {
                details.insert((*k).to_string(), serde_json::Value::String(v.clone()));
            }
            effects.push(Effect::Liquidation {
                account: keeper.as_ref().map(ToString::to_string),
                record: r.seq,
                step: r.kind.name().to_string(),
                reason: r.reason.clone(),
                details,
                snapshot_seq: valued_at,
                snapshot_root: snapshot_root(valued_at),
            });
            if matches!(
                r.kind,
                RecordKind::AuctionOpened
                    | RecordKind::AuctionEnded
                    | RecordKind::Restored
                    | RecordKind::Closed
            ) {
                if let Some(l) = &r.account {
                    cases.insert(l.clone());
                }
            }
            if matches!(r.kind, RecordKind::Restored | RecordKind::Closed) {
                if let Some(k) = &keeper {
                    finished.insert(k.clone());
                }
            }
            let Some(op) = &r.op else { continue };
            for leg in &op.legs {
                for (holder, sign) in [(leg.from, -1i128), (leg.to, 1)] {
                    let Some(Holder::Trader(l)) = ledger.holder_of(holder) else {
                        continue;
                    };
                    let Some(k) = self.liq.keeper_of.get(l) else {
                        continue;
                    };
                    let current = self.liq.ledger_of.get(k) == Some(l);
                    let running = current && (self.liq.active.contains(k) || finished.contains(k));
                    if running {
                        moved.insert(k.clone());
                    } else if r.kind != RecordKind::Opened {
                        if let Some(Unit::Cash(a)) = ledger.unit_of(leg.unit) {
                            cash.push((k.clone(), a.clone(), sign * leg.amount.raw()));
                        }
                    }
                }
            }
        }
        let produced = log.len();
        self.liq.record_snapshot.resize(produced, valued_at);
        for l in cases {
            if let Some(t) = self.liq.close_of.remove(&l) {
                self.liq.closes.remove(&(t, l.clone()));
            }
            if let Some(a) = self
                .liq
                .engine
                .case(&l)
                .filter(|c| c.stage == Stage::Auction)
                .and_then(|c| c.auction)
            {
                self.liq.close_of.insert(l.clone(), a.closes);
                self.liq.closes.insert((a.closes, l));
            }
        }
        // Read the accounts whose liquidation moved them back from the ledger.
        let mut touched = Vec::new();
        for k in &moved {
            if let Some(l) = self.liq.ledger_of.get(k).cloned() {
                let account = self.account_from_ledger(&l, k);
                match self.upsert(account) {
                    Ok(ix) => touched.push(ix),
                    Err(e) => effects.push(engine_error(Some(k), e)),
                }
            }
        }
        for (k, a, raw) in cash {
            let Some(mut account) = self.accounts.get(&k).cloned() else {
                continue;
            };
            if let Err(e) = account.add_collateral(a, Amount::from_raw(raw)) {
                effects.push(engine_error(Some(&k), e));
                continue;
            }
            match self.upsert(account) {
                Ok(ix) => touched.push(ix),
                Err(e) => effects.push(engine_error(Some(&k), e)),
            }
        }
        for k in finished {
            self.liq.active.remove(&k);
            // Still below maintenance by the keeper's margin: it waits for another hand-off.
            if self
                .engine
                .account_index(&k)
                .is_some_and(|ix| self.keeper_liquidatable(ix))
            {
                self.liq.pending.insert(
                    k,
                    Pending {
                        reason: "its liquidation ended below maintenance by the keeper's margin"
                            .into(),
                        retry: true,
                    },
                );
            }
        }
        touched
    }

    /// A keeper account as the ledger holds it under `ledger_id`: collateral, and positions
    /// with the cost basis of futures and perpetuals as their entry price.
    fn account_from_ledger(&self, ledger_id: &AccountId, id: &AccountId) -> Account {
        let ledger = self.liq.engine.ledger();
        let mut account = Account::new(id.clone());
        let Some(h) = ledger.holder_id(&Holder::Trader(ledger_id.clone())) else {
            return account;
        };
        let mut positions: BTreeMap<Instrument, (Amount, Amount)> = BTreeMap::new();
        for (u, v) in ledger.holdings(h) {
            match ledger.unit_of(u) {
                Some(Unit::Cash(a)) if !v.is_zero() => {
                    account.collateral.insert(a.clone(), v);
                }
                Some(Unit::Quantity(i)) => {
                    positions
                        .entry(i.clone())
                        .or_insert((Amount::ZERO, Amount::ZERO))
                        .0 = v;
                }
                Some(Unit::CostBasis(i)) => {
                    positions
                        .entry(i.clone())
                        .or_insert((Amount::ZERO, Amount::ZERO))
                        .1 = v;
                }
                _ => {}
            }
        }
        for (instrument, (qty, cost)) in positions {
            if qty.is_zero() {
                continue;
            }
            let size = qty.to_f64();
            let pnl = matches!(
                instrument,
                Instrument::Future { .. } | Instrument::Perpetual { .. }
            );
            account.positions.push(Position {
                entry_price: pnl.then(|| cost.to_f64() / size),
                instrument,
                size,
            });
        }
        account
    }
}
