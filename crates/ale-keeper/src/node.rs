//! The node's state machine: `apply(event) -> effects`, pure and deterministic (no clock, no
//! I/O), so that the service, the replay after a restart and the tests run the same code.
//!
//! State: the market snapshot, every account (the source of truth, except while a liquidation
//! runs: then the liquidation ledger is, and the account is read back from it), the risk engine
//! derived from them, the signed snapshot of the market, and the liquidation engine
//! (`ale-liquidation`: its ledger, insurance fund, liquidators, cases and audit log). Each event
//! is checked before anything changes: a refused event changes nothing.

use std::collections::BTreeMap;

use ale_core::{
    Account, AccountId, Amount, Asset, ExpiryDate, Instrument, Position, Rounding, Timestamp,
};
use ale_format::market::underlying_from_file;
use ale_format::portfolio::account_from_file;
use ale_liquidation::LiquidationParams;
use ale_market::{CollateralPrice, MarketSnapshot};
use ale_oracle::{Aggregator, AggregatorConfig, SourceQuote};
use ale_risk::{policy_by_name, AccountMargin, MarginPolicy, RiskEngine, Status};
use thiserror::Error;

use crate::event::{Effect, Event};
use crate::liquidation::Liquidation;
use crate::snapshot::{commit_and_sign, Keys, Snapshot};

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum NodeError {
    /// The event is malformed (the message names the field).
    #[error("invalid event: {0}")]
    Invalid(String),
    /// The account is frozen by a liquidation: no withdrawal, no risk-increasing trade.
    #[error("account '{0}' is frozen while it is liquidatable")]
    Frozen(String),
    /// The account's liquidation is running: the liquidation engine alone changes its
    /// positions until it is restored or closed (deposits are taken).
    #[error("account '{0}' is under liquidation: only deposits are taken until it is restored or closed")]
    UnderLiquidation(String),
    /// The withdrawal would leave the account below its initial margin.
    #[error("withdrawal refused: account '{account}' would have equity {equity:.2} below its initial margin {initial:.2}")]
    BelowInitialMargin {
        account: String,
        equity: f64,
        initial: f64,
    },
    /// Unknown account.
    #[error("unknown account '{0}'")]
    UnknownAccount(String),
    /// Time went backwards.
    #[error("event time {event} is before the node's time {node}")]
    TimeTravel { event: String, node: String },
    /// The node could not be set up (policy, parameters).
    #[error("{0}")]
    Setup(String),
}

/// Counts of accounts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatusCounts {
    pub healthy: usize,
    pub margin_call: usize,
    pub liquidatable: usize,
    pub error: usize,
}

impl StatusCounts {
    fn slot(&mut self, seen: Seen) -> Option<&mut usize> {
        match seen {
            Seen::Never => None,
            Seen::Error => Some(&mut self.error),
            Seen::Status(Status::Healthy) => Some(&mut self.healthy),
            Seen::Status(Status::MarginCall) => Some(&mut self.margin_call),
            Seen::Status(Status::Liquidatable) => Some(&mut self.liquidatable),
        }
    }
}

/// What the node last saw of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Not margined yet.
    Never,
    /// Margined with this status.
    Status(Status),
    /// Could not be margined.
    Error,
}

/// How a node is set up: the margin policy and its parameters, the seed of its keys, and the
/// liquidation parameters (the certificate gate's keys are filled in from the seed).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// `ramm`, `static`, `oracle-adjusted` or `pm`.
    pub policy: String,
    /// The policy's parameters (TOML), if not the defaults.
    pub params_toml: Option<String>,
    /// Seed of the oracle and venue keys (`crate::snapshot`).
    pub seed: String,
    /// Liquidation parameters (tiers, auction, waterfall).
    pub liquidation: LiquidationParams,
}

/// A market update checked and ready to apply: nothing can refuse it any more.
enum MarketChange {
    /// Aggregated quotes: the underlying moved to the new spot, the oracle's new state.
    Quotes {
        name: Asset,
        moved: ale_market::UnderlyingMarket,
        oracle: Box<Aggregator>,
        out: ale_oracle::Aggregated,
    },
    /// A whole underlying's market.
    Underlying(ale_market::UnderlyingMarket),
    /// A collateral price.
    Collateral(Asset, CollateralPrice),
}

/// Accounts from which a status scan runs in parallel.
const PARALLEL_SCAN: usize = 16_384;

/// The seed of the development keys when the configuration names none.
pub const DEFAULT_SEED: &str = "ale-keeper-dev";

impl NodeConfig {
    /// A node under `policy` with default parameters, keys from [`DEFAULT_SEED`].
    pub fn new(policy: &str) -> NodeConfig {
        NodeConfig {
            policy: policy.to_string(),
            params_toml: None,
            seed: DEFAULT_SEED.to_string(),
            liquidation: LiquidationParams::default(),
        }
    }
}

/// The node.
pub struct Node {
    pub(crate) engine: RiskEngine<Box<dyn MarginPolicy>>,
    pub(crate) accounts: BTreeMap<AccountId, Account>,
    /// Last status seen per account index (`Seen::Error`: could not be margined).
    pub(crate) statuses: Vec<Seen>,
    /// Counts of `statuses`, kept as they change.
    counts: StatusCounts,
    /// Seconds between full re-margins as time passes (options' time to expiry moves).
    full_remargin_s: i64,
    last_full: Timestamp,
    /// The time of the last accepted event (times never go backwards).
    clock: Option<Timestamp>,
    /// The spot oracle of each underlying.
    oracles: BTreeMap<Asset, Aggregator>,
    /// Guards of a new oracle.
    oracle_config: AggregatorConfig,
    /// Signing keys (oracle and venue), from the seed.
    pub(crate) keys: Keys,
    /// The last committed and signed snapshot of the market, or why there is none.
    pub(crate) snapshot: Result<Snapshot, String>,
    snapshot_seq: u64,
    /// The expiries of the listed instruments per underlying (their forwards are committed),
    /// and the book's row counts they were read at.
    expiries: BTreeMap<Asset, Vec<ExpiryDate>>,
    expiry_rows: Vec<usize>,
    /// The liquidation side.
    pub(crate) liq: Liquidation,
}

pub(crate) fn parse_time(text: &str) -> Result<Timestamp, NodeError> {
    Timestamp::parse_rfc3339(text).map_err(|e| NodeError::Invalid(e.to_string()))
}

pub(crate) fn asset(field: &str, text: &str) -> Result<Asset, NodeError> {
    Asset::new(text).map_err(|e| NodeError::Invalid(format!("{field}: {e}")))
}

pub(crate) fn amount(field: &str, text: &str) -> Result<Amount, NodeError> {
    let a = Amount::parse_decimal(text).map_err(|e| NodeError::Invalid(format!("{field}: {e}")))?;
    if a.is_negative() || a.is_zero() {
        return Err(NodeError::Invalid(format!("{field}: must be > 0, got {a}")));
    }
    Ok(a)
}

impl Node {
    /// An empty node on `market` (accounts arrive as events).
    pub fn new(config: &NodeConfig, market: MarketSnapshot) -> Result<Node, NodeError> {
        let policy = || {
            policy_by_name(&config.policy, config.params_toml.as_deref())
                .map_err(|e| NodeError::Setup(e.to_string()))
        };
        let keys = Keys::from_seed(&config.seed);
        let last_full = market.time();
        let liq = Liquidation::new(config, policy()?, market.clone(), &keys)?;
        let mut engine = RiskEngine::new(policy()?, market, ale_risk::Book::new());
        engine.remargin_all();
        Ok(Node {
            engine,
            accounts: BTreeMap::new(),
            statuses: Vec::new(),
            counts: StatusCounts::default(),
            full_remargin_s: 60,
            last_full,
            clock: None,
            oracles: BTreeMap::new(),
            oracle_config: AggregatorConfig::default(),
            keys,
            snapshot: Err("no market update yet".into()),
            snapshot_seq: 0,
            expiries: BTreeMap::new(),
            expiry_rows: Vec::new(),
            liq,
        })
    }

    /// The risk engine (read-only).
    pub fn engine(&self) -> &RiskEngine<Box<dyn MarginPolicy>> {
        &self.engine
    }

    /// Every account.
    pub fn accounts(&self) -> &BTreeMap<AccountId, Account> {
        &self.accounts
    }

    /// The time of the last accepted event.
    pub fn clock(&self) -> Option<Timestamp> {
        self.clock
    }

    /// The last signed snapshot of the market, or why there is none.
    pub fn snapshot(&self) -> Result<&Snapshot, &str> {
        self.snapshot.as_ref().map_err(String::as_str)
    }

    /// The node's keys (public halves are published; the secret ones sign).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The margin of one account.
    pub fn margin(&self, id: &str) -> Result<AccountMargin, NodeError> {
        let id = AccountId::new(id).map_err(NodeError::Invalid)?;
        let ix = self
            .engine
            .account_index(&id)
            .ok_or_else(|| NodeError::UnknownAccount(id.to_string()))?;
        self.engine.margins()[ix]
            .clone()
            .map_err(|e| NodeError::Invalid(e.to_string()))
    }

    /// Counts of accounts by status (kept as statuses change: O(1)).
    pub fn status_counts(&self) -> StatusCounts {
        self.counts
    }

    fn status_of(&self, id: &AccountId) -> Option<Status> {
        self.engine
            .account_index(id)
            .and_then(|ix| self.engine.margins()[ix].as_ref().ok())
            .map(AccountMargin::status)
    }

    /// True when the account is frozen (liquidatable, or its liquidation is running).
    pub fn is_frozen(&self, id: &AccountId) -> bool {
        self.liq.active.contains(id) || self.status_of(id) == Some(Status::Liquidatable)
    }

    /// The event's time, checked: never before the last event's or the market's.
    fn checked_time(&self, event: &Event) -> Result<Timestamp, NodeError> {
        let time = parse_time(event.time())?;
        let now = self.engine.market().time();
        let floor = self.clock.map_or(now, |c| c.max(now));
        if time < floor {
            return Err(NodeError::TimeTravel {
                event: time.to_string(),
                node: floor.to_string(),
            });
        }
        Ok(time)
    }

    /// Checks a market event (`quotes`, `market`, `collateral_price`) without changing
    /// anything: the update it makes, or why it is refused; `None` for other events.
    fn prepare_market(
        &self,
        event: &Event,
        time: Timestamp,
    ) -> Result<Option<MarketChange>, NodeError> {
        Ok(Some(match event {
            Event::Quotes {
                underlying, quotes, ..
            } => {
                let name = asset("underlying", underlying)?;
                let current = self
                    .engine
                    .market()
                    .underlying(&name)
                    .map_err(|e| NodeError::Invalid(e.to_string()))?;
                let mut parsed = Vec::with_capacity(quotes.len());
                for q in quotes {
                    parsed.push(SourceQuote {
                        source: q.source.clone(),
                        value: q.value,
                        time: parse_time(&q.time)?,
                    });
                }
                // On a copy: a refused update leaves the oracle as it was.
                let mut oracle = self
                    .oracles
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| Aggregator::new(self.oracle_config));
                let out = oracle
                    .update(&parsed, time)
                    .map_err(|e| NodeError::Invalid(format!("oracle {name}: {e}")))?;
                let moved = current
                    .moved(out.value / current.spot(), 0.0)
                    .map_err(|e| NodeError::Invalid(e.to_string()))?;
                MarketChange::Quotes {
                    name,
                    moved,
                    oracle: Box::new(oracle),
                    out,
                }
            }
            Event::Market { underlying, .. } => {
                let (market, _) = underlying_from_file(
                    underlying,
                    "underlying",
                    self.engine.market().time(),
                    self.engine.market().rate(),
                )
                .map_err(|e| NodeError::Invalid(e.to_string()))?;
                MarketChange::Underlying(market)
            }
            Event::CollateralPrice { collateral, .. } => {
                let a = asset("collateral.asset", &collateral.asset)?;
                let price = CollateralPrice::new(
                    &a,
                    collateral.price,
                    collateral.haircut,
                    collateral.bridge_risk,
                )
                .map_err(|e| NodeError::Invalid(e.to_string()))?;
                MarketChange::Collateral(a, price)
            }
            _ => return Ok(None),
        }))
    }

    /// True when `event` is a market update that [`Node::apply`] will accept (it is checked
    /// here without changing anything): the service may then commit it while it is applied.
    /// An error is the refusal `apply` would give; `false` for other events.
    pub fn precheck(&self, event: &Event) -> Result<bool, NodeError> {
        let time = self.checked_time(event)?;
        Ok(self.prepare_market(event, time)?.is_some())
    }

    /// Applies a checked market update; returns the accounts re-margined.
    fn apply_market(
        &mut self,
        change: MarketChange,
        effects: &mut Vec<Effect>,
    ) -> Result<Vec<usize>, NodeError> {
        let name = match change {
            MarketChange::Quotes {
                name,
                moved,
                oracle,
                out,
            } => {
                self.engine
                    .update_underlying(moved)
                    .map_err(|e| NodeError::Invalid(e.to_string()))?;
                self.oracles.insert(name.clone(), *oracle);
                for (source, reason) in &out.rejected {
                    effects.push(Effect::FeedRejected {
                        underlying: name.to_string(),
                        source: source.clone(),
                        reason: reason.to_string(),
                    });
                }
                effects.push(Effect::Spot {
                    underlying: name.to_string(),
                    spot: out.value,
                    sources: out.used.len(),
                });
                name
            }
            MarketChange::Underlying(market) => {
                let name = market.name().clone();
                self.engine
                    .update_underlying(market)
                    .map_err(|e| NodeError::Invalid(e.to_string()))?;
                name
            }
            MarketChange::Collateral(a, price) => {
                return Ok(self.engine.update_collateral(a, price));
            }
        };
        Ok(match self.engine.book().underlying_index(&name) {
            Some(u) => self.engine.holders(u).to_vec(),
            None => Vec::new(),
        })
    }

    /// Applies one event; returns what changed. A refused event changes nothing.
    pub fn apply(&mut self, event: &Event) -> Result<Vec<Effect>, NodeError> {
        let time = self.checked_time(event)?;
        let mut effects = Vec::new();
        let mut market_changed = false;
        let mut account_changed = false;
        let change = self.prepare_market(event, time)?;
        let touched: Vec<usize> = if let Some(change) = change {
            market_changed = true;
            self.apply_market(change, &mut effects)?
        } else {
            match event {
                Event::Account { portfolio, .. } => {
                    let account = account_from_file(portfolio)
                        .map_err(|e| NodeError::Invalid(e.to_string()))?;
                    if self.liq.active.contains(&account.id) {
                        return Err(NodeError::UnderLiquidation(account.id.to_string()));
                    }
                    account_changed = true;
                    vec![self.upsert(account)?]
                }
                Event::Deposit {
                    account,
                    asset: a,
                    amount: amt,
                    ..
                } => {
                    let a = asset("asset", a)?;
                    let amt = amount("amount", amt)?;
                    let id = AccountId::new(account).map_err(NodeError::Invalid)?;
                    let mut acct = self
                        .accounts
                        .get(&id)
                        .cloned()
                        .unwrap_or_else(|| Account::new(id.clone()));
                    acct.add_collateral(a.clone(), amt)
                        .map_err(NodeError::Invalid)?;
                    account_changed = true;
                    if self.liq.active.contains(&id) {
                        // The ledger holds the account while its liquidation runs: pay it in
                        // there, and read the account back.
                        self.liquidation_deposit(&id, a, amt, time, &mut effects)
                    } else {
                        vec![self.upsert(acct)?]
                    }
                }
                Event::Withdraw {
                    account,
                    asset: a,
                    amount: amt,
                    ..
                } => {
                    let a = asset("asset", a)?;
                    let amt = amount("amount", amt)?;
                    let id = AccountId::new(account).map_err(NodeError::Invalid)?;
                    let old = self
                        .accounts
                        .get(&id)
                        .cloned()
                        .ok_or_else(|| NodeError::UnknownAccount(id.to_string()))?;
                    if self.is_frozen(&id) {
                        return Err(NodeError::Frozen(id.to_string()));
                    }
                    let balance = old.collateral.get(&a).copied().unwrap_or(Amount::ZERO);
                    if balance < amt {
                        return Err(NodeError::Invalid(format!(
                            "withdrawal of {amt} {a} exceeds the balance {balance}"
                        )));
                    }
                    let mut new = old.clone();
                    new.collateral.insert(
                        a.clone(),
                        balance
                            .checked_sub(amt)
                            .map_err(|e| NodeError::Invalid(e.to_string()))?,
                    );
                    let ix = self.upsert(new)?;
                    let check = self.engine.margins()[ix].clone();
                    let refuse = match &check {
                        Ok(m) => m.equity < m.initial,
                        Err(_) => true,
                    };
                    if refuse {
                        self.upsert(old)?;
                        return Err(match check {
                            Ok(m) => NodeError::BelowInitialMargin {
                                account: id.to_string(),
                                equity: m.equity,
                                initial: m.initial,
                            },
                            Err(e) => NodeError::Invalid(e.to_string()),
                        });
                    }
                    account_changed = true;
                    vec![ix]
                }
                Event::Trade {
                    account,
                    instrument,
                    size,
                    price,
                    ..
                } => {
                    let instrument = Instrument::parse(instrument)
                        .map_err(|e| NodeError::Invalid(e.to_string()))?;
                    if !(size.is_finite() && *size != 0.0) {
                        return Err(NodeError::Invalid(format!(
                            "size: must be finite and non-zero, got {size}"
                        )));
                    }
                    if !(price.is_finite() && *price >= 0.0) {
                        return Err(NodeError::Invalid(format!(
                            "price: must be finite and >= 0, got {price}"
                        )));
                    }
                    let id = AccountId::new(account).map_err(NodeError::Invalid)?;
                    if self.liq.active.contains(&id) {
                        return Err(NodeError::UnderLiquidation(id.to_string()));
                    }
                    let mut acct = self
                        .accounts
                        .get(&id)
                        .cloned()
                        .unwrap_or_else(|| Account::new(id.clone()));
                    if self.is_frozen(&id) {
                        let held = acct
                            .positions
                            .iter()
                            .find(|p| p.instrument == instrument)
                            .map_or(0.0, |p| p.size);
                        let reduces = held * size < 0.0 && size.abs() <= held.abs();
                        if !reduces {
                            return Err(NodeError::Frozen(id.to_string()));
                        }
                    }
                    let is_option = matches!(instrument, Instrument::Option { .. });
                    if is_option {
                        // The premium moves in the cash asset: the buyer pays, the seller receives.
                        // Rounding toward −∞ makes what the trader pays larger and what it receives
                        // smaller: both favour the venue.
                        let premium = -size * price;
                        let cash = Amount::from_f64(premium, Rounding::Down)
                            .map_err(|e| NodeError::Invalid(e.to_string()))?;
                        let stable = self.engine.market().stable.clone();
                        acct.add_collateral(stable, cash)
                            .map_err(NodeError::Invalid)?;
                    }
                    acct.add_position(Position {
                        instrument,
                        size: *size,
                        entry_price: (!is_option).then_some(*price),
                    });
                    account_changed = true;
                    vec![self.upsert(acct)?]
                }
                Event::Tick { .. } => Vec::new(),
                Event::InsuranceFund {
                    asset: a,
                    amount: amt,
                    ..
                } => {
                    let a = asset("asset", a)?;
                    let amt = amount("amount", amt)?;
                    self.fund_deposit(a, amt, time, &mut effects)
                }
                Event::Liquidator { .. } => self.register_liquidator(event, time, &mut effects)?,
                Event::Bid {
                    account, bidder, ..
                } => {
                    let id = AccountId::new(account).map_err(NodeError::Invalid)?;
                    self.check_bid(&id, bidder, time)?;
                    // Accepted from here on: the engine's verdict (a fill, or a refusal with its
                    // reason) is an effect, and the event is logged.
                    self.clock = Some(time);
                    let mut touched = self.tick_auctions(time, &mut effects);
                    if self.liq.active.contains(&id) {
                        touched.extend(self.bid(&id, bidder, time, &mut effects));
                    }
                    touched
                }
                // Market events were prepared above.
                Event::Quotes { .. } | Event::Market { .. } | Event::CollateralPrice { .. } => {
                    Vec::new()
                }
            }
        };
        self.clock = Some(time);
        let mut touched = touched;
        if time.unix_seconds() - self.last_full.unix_seconds() >= self.full_remargin_s {
            self.engine
                .advance_time(time)
                .map_err(|e| NodeError::Invalid(e.to_string()))?;
            self.last_full = time;
            market_changed = true;
            touched = (0..self.engine.book().accounts().len()).collect();
        }
        if market_changed {
            self.commit_snapshot(&mut effects);
        }
        let newly = self.transitions(&touched, &mut effects);
        let retry = market_changed || matches!(event, Event::Tick { .. });
        let changed: Vec<usize> = if account_changed {
            touched.clone()
        } else {
            Vec::new()
        };
        self.liquidation_step(time, market_changed, retry, newly, &changed, &mut effects);
        Ok(effects)
    }

    pub(crate) fn upsert(&mut self, account: Account) -> Result<usize, NodeError> {
        let ix = self
            .engine
            .upsert_account(&account)
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        self.accounts.insert(account.id.clone(), account);
        Ok(ix)
    }

    /// Commits the market and signs its root (after every market update).
    fn commit_snapshot(&mut self, effects: &mut Vec<Effect>) {
        let book = self.engine.book();
        let rows: Vec<usize> = (0..book.underlyings().len())
            .map(|u| book.row_count(u))
            .collect();
        if rows != self.expiry_rows {
            let mut expiries: BTreeMap<Asset, Vec<ExpiryDate>> = BTreeMap::new();
            for (u, name) in book.underlyings().iter().enumerate() {
                let mut list: Vec<ExpiryDate> =
                    book.rows(u).filter_map(|l| l.instrument.expiry()).collect();
                list.sort();
                list.dedup();
                expiries.insert(name.clone(), list);
            }
            self.expiries = expiries;
            self.expiry_rows = rows;
        }
        self.snapshot_seq += 1;
        self.snapshot = match commit_and_sign(
            self.engine.market(),
            &self.expiries,
            self.snapshot_seq,
            &self.keys,
        ) {
            Ok(s) => {
                effects.push(Effect::Snapshot {
                    seq: s.seq,
                    root: s.root_hex(),
                    time: self.engine.market().time().to_string(),
                    signatures: s.root.sigs.len(),
                });
                Ok(s)
            }
            Err(e) => Err(format!("the market cannot be committed: {e}")),
        };
        // The liquidation engine values at the new market from its next use on.
        self.liq.synced = false;
    }

    /// Emits the effects of status changes among `indices` (an account's id is only looked
    /// up when its status changed: a market move touches most of the book). Returns the
    /// accounts that became liquidatable.
    pub(crate) fn transitions(
        &mut self,
        indices: &[usize],
        effects: &mut Vec<Effect>,
    ) -> Vec<usize> {
        let margins = self.engine.margins();
        if self.statuses.len() < margins.len() {
            self.statuses.resize(margins.len(), Seen::Never);
        }
        let seen = |ix: usize| match &margins[ix] {
            Ok(m) => Seen::Status(m.status()),
            Err(_) => Seen::Error,
        };
        // A market move touches most of the book and changes few statuses: find those in
        // parallel (reading every margin is the cost), then emit their effects in order.
        let statuses = &self.statuses;
        let changed: Vec<usize> = if indices.len() >= PARALLEL_SCAN {
            use rayon::prelude::*;
            indices
                .par_iter()
                .copied()
                .filter(|&ix| statuses[ix] != seen(ix))
                .collect()
        } else {
            indices
                .iter()
                .copied()
                .filter(|&ix| statuses[ix] != seen(ix))
                .collect()
        };
        let mut newly = Vec::new();
        for ix in changed {
            let old = self.statuses[ix];
            let new = seen(ix);
            if old == new {
                // Listed twice: the first occurrence emitted it.
                continue;
            }
            self.statuses[ix] = new;
            if let Some(c) = self.counts.slot(old) {
                *c -= 1;
            }
            if let Some(c) = self.counts.slot(new) {
                *c += 1;
            }
            let account_id = &self.engine.book().account(ix).id;
            if old == Seen::Status(Status::Liquidatable) {
                // No longer liquidatable: it leaves the hand-off queue.
                self.liq.pending.remove(account_id);
            }
            let id = account_id.to_string();
            match (&margins[ix], new) {
                (Err(e), _) => effects.push(Effect::MarginError {
                    account: id,
                    error: e.to_string(),
                }),
                (Ok(m), Seen::Status(status)) => {
                    effects.push(Effect::Margin {
                        account: id.clone(),
                        equity: m.equity,
                        maintenance_margin: m.maintenance,
                        initial_margin: m.initial,
                        status: status.name().to_string(),
                    });
                    match status {
                        Status::MarginCall => effects.push(Effect::MarginCall {
                            account: id,
                            top_up: m.top_up(),
                        }),
                        Status::Liquidatable => {
                            newly.push(ix);
                            effects.push(Effect::Liquidatable {
                                account: id,
                                equity: m.equity,
                                maintenance_margin: m.maintenance,
                            })
                        }
                        Status::Healthy if matches!(old, Seen::Status(_)) => {
                            effects.push(Effect::Restored { account: id })
                        }
                        Status::Healthy => {}
                    }
                }
                (Ok(_), _) => {}
            }
        }
        newly
    }

    /// Accounts ranked by shortfall (maintenance margin − equity, largest first), the first `n`.
    pub fn ranked_by_shortfall(&self, n: usize) -> Vec<(String, AccountMargin)> {
        let book = self.engine.book();
        let mut all: Vec<(f64, usize)> = self
            .engine
            .margins()
            .iter()
            .enumerate()
            .filter_map(|(ix, m)| m.as_ref().ok().map(|m| (m.maintenance - m.equity, ix)))
            .collect();
        let order = |a: &(f64, usize), b: &(f64, usize)| {
            b.0.total_cmp(&a.0)
                .then_with(|| book.account(a.1).id.cmp(&book.account(b.1).id))
        };
        if n < all.len() {
            // Only the first n need ordering: partition, then sort those.
            all.select_nth_unstable_by(n, order);
            all.truncate(n);
        }
        all.sort_by(order);
        all.into_iter()
            .filter_map(|(_, ix)| {
                self.engine.margins()[ix]
                    .as_ref()
                    .ok()
                    .map(|m| (book.account(ix).id.to_string(), m.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_status_changes() {
        let mut c = StatusCounts::default();
        *c.slot(Seen::Status(Status::Healthy)).unwrap() += 2;
        *c.slot(Seen::Error).unwrap() += 1;
        assert!(c.slot(Seen::Never).is_none());
        assert_eq!((c.healthy, c.error), (2, 1));
    }
}
