//! The node's state machine: `apply(event) -> effects`, pure and deterministic (no clock, no
//! I/O), so that the service, the replay after a restart and the tests run the same code.
//!
//! State: the market snapshot, every account (the source of truth), and the risk engine derived
//! from them. Each event is checked before anything changes: a refused event changes nothing.

use std::collections::BTreeMap;

use ale_core::{Account, AccountId, Amount, Asset, Instrument, Position, Rounding, Timestamp};
use ale_format::market::underlying_from_file;
use ale_format::portfolio::account_from_file;
use ale_market::{CollateralPrice, MarketSnapshot};
use ale_oracle::{Aggregator, AggregatorConfig, SourceQuote};
use ale_risk::{AccountMargin, Book, MarginPolicy, RiskEngine, Status};
use thiserror::Error;

use crate::event::{Effect, Event};

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum NodeError {
    /// The event is malformed (the message names the field).
    #[error("invalid event: {0}")]
    Invalid(String),
    /// The account is frozen by a liquidation: no withdrawal, no risk-increasing trade.
    #[error("account '{0}' is frozen while it is liquidatable")]
    Frozen(String),
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
}

/// Counts of accounts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatusCounts {
    pub healthy: usize,
    pub margin_call: usize,
    pub liquidatable: usize,
    pub error: usize,
}

/// What the node last saw of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Not margined yet.
    Never,
    /// Margined with this status.
    Status(Status),
    /// Could not be margined.
    Error,
}

/// The node.
pub struct Node {
    engine: RiskEngine<Box<dyn MarginPolicy>>,
    accounts: BTreeMap<AccountId, Account>,
    /// Last status seen per account index (`Seen::Error`: could not be margined).
    statuses: Vec<Seen>,
    /// Seconds between full re-margins as time passes (options' time to expiry moves).
    full_remargin_s: i64,
    last_full: Timestamp,
    /// The spot oracle of each underlying.
    oracles: BTreeMap<Asset, Aggregator>,
    /// Guards of a new oracle.
    oracle_config: AggregatorConfig,
}

fn parse_time(text: &str) -> Result<Timestamp, NodeError> {
    Timestamp::parse_rfc3339(text).map_err(|e| NodeError::Invalid(e.to_string()))
}

fn asset(field: &str, text: &str) -> Result<Asset, NodeError> {
    Asset::new(text).map_err(|e| NodeError::Invalid(format!("{field}: {e}")))
}

fn amount(field: &str, text: &str) -> Result<Amount, NodeError> {
    let a = Amount::parse_decimal(text).map_err(|e| NodeError::Invalid(format!("{field}: {e}")))?;
    if a.is_negative() || a.is_zero() {
        return Err(NodeError::Invalid(format!("{field}: must be > 0, got {a}")));
    }
    Ok(a)
}

impl Node {
    /// A node over `accounts` on `market` under `policy`, margined in full.
    pub fn new(
        policy: Box<dyn MarginPolicy>,
        market: MarketSnapshot,
        accounts: Vec<Account>,
    ) -> Result<Node, NodeError> {
        let mut book = Book::new();
        let mut by_id = BTreeMap::new();
        for a in accounts {
            book.upsert_account(&a)
                .map_err(|e| NodeError::Invalid(e.to_string()))?;
            by_id.insert(a.id.clone(), a);
        }
        let last_full = market.time();
        let mut engine = RiskEngine::new(policy, market, book);
        engine.remargin_all();
        let mut node = Node {
            engine,
            accounts: by_id,
            statuses: Vec::new(),
            full_remargin_s: 60,
            last_full,
            oracles: BTreeMap::new(),
            oracle_config: AggregatorConfig::default(),
        };
        node.statuses = node
            .engine
            .margins()
            .iter()
            .map(|m| m.as_ref().map_or(Seen::Error, |m| Seen::Status(m.status())))
            .collect();
        Ok(node)
    }

    /// The risk engine (read-only).
    pub fn engine(&self) -> &RiskEngine<Box<dyn MarginPolicy>> {
        &self.engine
    }

    /// Every account.
    pub fn accounts(&self) -> &BTreeMap<AccountId, Account> {
        &self.accounts
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

    /// Counts of accounts by status.
    pub fn status_counts(&self) -> StatusCounts {
        let mut c = StatusCounts::default();
        for m in self.engine.margins() {
            match m.as_ref().map(AccountMargin::status) {
                Ok(Status::Healthy) => c.healthy += 1,
                Ok(Status::MarginCall) => c.margin_call += 1,
                Ok(Status::Liquidatable) => c.liquidatable += 1,
                Err(_) => c.error += 1,
            }
        }
        c
    }

    /// True when the account is frozen (liquidatable).
    pub fn is_frozen(&self, id: &AccountId) -> bool {
        self.engine
            .account_index(id)
            .and_then(|ix| self.engine.margins()[ix].as_ref().ok())
            .is_some_and(|m| m.status() == Status::Liquidatable)
    }

    /// Applies one event; returns what changed. A refused event changes nothing.
    pub fn apply(&mut self, event: &Event) -> Result<Vec<Effect>, NodeError> {
        let time = parse_time(event.time())?;
        let now = self.engine.market().time();
        if time < now {
            return Err(NodeError::TimeTravel {
                event: time.to_string(),
                node: now.to_string(),
            });
        }
        let mut effects = Vec::new();
        let touched: Vec<usize> = match event {
            Event::Quotes {
                underlying, quotes, ..
            } => {
                let name = asset("underlying", underlying)?;
                let current = self
                    .engine
                    .market()
                    .underlying(&name)
                    .map_err(|e| NodeError::Invalid(e.to_string()))?
                    .clone();
                let mut parsed = Vec::with_capacity(quotes.len());
                for q in quotes {
                    parsed.push(SourceQuote {
                        source: q.source.clone(),
                        value: q.value,
                        time: parse_time(&q.time)?,
                    });
                }
                // Check on a copy: a refused update leaves the oracle as it was.
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
                self.engine
                    .update_underlying(moved)
                    .map_err(|e| NodeError::Invalid(e.to_string()))?;
                self.oracles.insert(name.clone(), oracle);
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
                match self.engine.book().underlying_index(&name) {
                    Some(u) => self.engine.holders(u).to_vec(),
                    None => Vec::new(),
                }
            }
            Event::Market { underlying, .. } => {
                let (market, _) = underlying_from_file(
                    underlying,
                    "underlying",
                    now,
                    self.engine.market().rate(),
                )
                .map_err(|e| NodeError::Invalid(e.to_string()))?;
                let u_name = market.name().clone();
                self.engine
                    .update_underlying(market)
                    .map_err(|e| NodeError::Invalid(e.to_string()))?;
                match self.engine.book().underlying_index(&u_name) {
                    Some(u) => self.engine.holders(u).to_vec(),
                    None => Vec::new(),
                }
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
                self.engine.update_collateral(a, price)
            }
            Event::Account { portfolio, .. } => {
                let account =
                    account_from_file(portfolio).map_err(|e| NodeError::Invalid(e.to_string()))?;
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
                    .unwrap_or_else(|| Account::new(id));
                acct.add_collateral(a, amt).map_err(NodeError::Invalid)?;
                vec![self.upsert(acct)?]
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
                vec![ix]
            }
            Event::Trade {
                account,
                instrument,
                size,
                price,
                ..
            } => {
                let instrument =
                    Instrument::parse(instrument).map_err(|e| NodeError::Invalid(e.to_string()))?;
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
                vec![self.upsert(acct)?]
            }
        };
        if time.unix_seconds() - self.last_full.unix_seconds() >= self.full_remargin_s {
            self.engine
                .advance_time(time)
                .map_err(|e| NodeError::Invalid(e.to_string()))?;
            self.last_full = time;
            let all: Vec<usize> = (0..self.engine.book().accounts().len()).collect();
            self.transitions(&all, &mut effects);
        } else {
            self.transitions(&touched, &mut effects);
        }
        Ok(effects)
    }

    fn upsert(&mut self, account: Account) -> Result<usize, NodeError> {
        let ix = self
            .engine
            .upsert_account(&account)
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        self.accounts.insert(account.id.clone(), account);
        Ok(ix)
    }

    /// Emits the effects of status changes among `indices` (an account's id is only looked
    /// up when its status changed: a market move touches most of the book).
    fn transitions(&mut self, indices: &[usize], effects: &mut Vec<Effect>) {
        let margins = self.engine.margins();
        if self.statuses.len() < margins.len() {
            self.statuses.resize(margins.len(), Seen::Never);
        }
        for &ix in indices {
            let old = self.statuses[ix];
            let new = match &margins[ix] {
                Ok(m) => Seen::Status(m.status()),
                Err(_) => Seen::Error,
            };
            if old == new {
                continue;
            }
            self.statuses[ix] = new;
            let id = self.engine.book().account(ix).id.to_string();
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
                        Status::Liquidatable => effects.push(Effect::Liquidatable {
                            account: id,
                            equity: m.equity,
                            maintenance_margin: m.maintenance,
                        }),
                        Status::Healthy if matches!(old, Seen::Status(_)) => {
                            effects.push(Effect::Restored { account: id })
                        }
                        Status::Healthy => {}
                    }
                }
                (Ok(_), _) => {}
            }
        }
    }

    /// Accounts ranked by shortfall (maintenance margin − equity, largest first), the first `n`.
    pub fn ranked_by_shortfall(&self, n: usize) -> Vec<(String, AccountMargin)> {
        let mut all: Vec<(String, AccountMargin)> = self
            .engine
            .margins()
            .iter()
            .enumerate()
            .filter_map(|(ix, m)| {
                m.as_ref()
                    .ok()
                    .map(|m| (self.engine.book().account(ix).id.to_string(), m.clone()))
            })
            .collect();
        all.sort_by(|a, b| {
            (b.1.maintenance - b.1.equity)
                .total_cmp(&(a.1.maintenance - a.1.equity))
                .then_with(|| a.0.cmp(&b.0))
        });
        all.truncate(n);
        all
    }
}
