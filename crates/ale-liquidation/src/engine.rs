//! The liquidation engine: `process(event, now) -> records`, the same code under the keeper, the
//! simulator and the CLI.
//!
//! Lifecycle of an account (each step a [`Record`] with its reason; every ledger operation is
//! carried by the record that caused it, so replaying the log rebuilds the ledger):
//!
//! ```text
//! Check ─► equity < maintenance ─► certificate gate ─► refused (nothing changes)
//!                                        │
//!                                        ▼
//! flagged ─► frozen ─┬─ dust ──────────────► fund takes all ─► closed
//!                    ├─ equity < 0 ───────► insolvent Dutch auction
//!                    │                       ─► (end) [auto-deleveraging,] fund takes the rest,
//!                    │                          loss waterfall ─► closed
//!                    └─ tier 1 backstop ─► restored
//!                         ─► tier 2 auction (Dutch or sealed) ─► restored
//!                         ─► (end) tier 3 market sale ─► restored
//!                         ─► the insurance fund takes what remains
//!                            ─► restored or closed
//! ```
//!
//! `Market` replaces the snapshot; open auctions are re-evaluated at the new market.
//!
//! Partial liquidation: every tier but the insolvent auction sells positions one at a time in
//! the order of margin removed per unit of expected cost, each sized (a bounded root search on a
//! re-margin) to the smallest part that brings equity back to maintenance · (1 + buffer), the
//! buffer margin of formats.md.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use ale_core::{Account, AccountId, Amount, Asset, OptionKind, Rounding, Timestamp};
use ale_market::MarketSnapshot;
use ale_risk::MarginPolicy;

use crate::auction::{self, QuoteInput};
use crate::error::{arith, LiquidationError};
use crate::gate;
use crate::ledger::{Holder, HolderId, Ledger, Leg, Op, OpId, Unit, UnitId};
use crate::params::{
    AuctionKind, LiquidationParams, LossMode, SealedPricing, MAX_AUCTION_FILLS, MAX_BIDDERS,
    MAX_CREDIT_PROVIDERS, MAX_POOLS, MAX_POSITIONS, MAX_RECORDS_PER_EVENT, MAX_SIZING_STEPS,
};
use crate::valuation::{quantity_from_size, Health, Holding, Margining, Portfolio};

/// A registered liquidator (tier-2 bidder).
#[derive(Debug, Clone, PartialEq)]
pub struct Bidder {
    /// Its name (its ledger holder is `Liquidator(name)`).
    pub name: String,
    /// Who owns it: a bidder never liquidates an account of the same owner.
    pub owner: String,
    /// Price limit in a solvent auction: the most it pays, as a fraction of the value it takes.
    pub max_price_fraction: f64,
    /// Price limit in the insolvent auction: it takes an account only once it is paid at least
    /// this fraction of the account's maintenance margin beyond the negative equity, i.e. once
    /// the price is ≤ E − fraction·M.
    pub insolvent_premium_fraction: f64,
    /// The largest share of one account it takes in one fill, (0, 1].
    pub max_share: f64,
}

/// A market snapshot carried by [`Event::Market`]. Shared (`Arc`): a keeper hands the same
/// snapshot to the risk engine and to the liquidation engine without copying it. Two updates
/// are equal when they carry the same snapshot (the same allocation): snapshots have no
/// equality of their own.
#[derive(Debug, Clone)]
pub struct MarketUpdate(pub Arc<MarketSnapshot>);

impl PartialEq for MarketUpdate {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl From<MarketSnapshot> for MarketUpdate {
    fn from(snapshot: MarketSnapshot) -> Self {
        MarketUpdate(Arc::new(snapshot))
    }
}

impl From<Arc<MarketSnapshot>> for MarketUpdate {
    fn from(snapshot: Arc<MarketSnapshot>) -> Self {
        MarketUpdate(snapshot)
    }
}

/// An input to the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Re-margin an account; flag and start liquidating it when equity < maintenance. With the
    /// certificate gate on (the default) a liquidation needs a certificate: a `Check` of a
    /// liquidatable account is then refused (`refused` record, certificate missing).
    Check { account: AccountId },
    /// [`Event::Check`] with the certificate that the account is liquidatable (the canonical
    /// bytes of formats.md, "Liquidation certificates"): the liquidation starts only when the
    /// gate accepts it (see [`crate::gate`]); a refusal is a `refused` record naming the field,
    /// and changes nothing else.
    CheckWithCertificate {
        account: AccountId,
        certificate: Vec<u8>,
    },
    /// A Dutch-auction bid: `bidder` takes the account at the current price, up to its share.
    Bid { account: AccountId, bidder: String },
    /// A sealed bid: `price_fraction` of the value taken, within the bidding window.
    SealedBid {
        account: AccountId,
        bidder: String,
        price_fraction: f64,
    },
    /// Time passes: auctions whose time is up end and the next tier runs.
    Tick,
    /// A new market snapshot replaces the one in force (not older than it), so that one engine
    /// runs a whole day: every mark, margin and auction price from now on is at this market.
    /// Open liquidations are re-evaluated at once: an account back at the buffer margin is
    /// restored (its auction ends), a solvent auction whose account fell below zero equity
    /// becomes the insolvent auction, an insolvent one whose account is solvent again goes back
    /// to tier 1 and the solvent auction. Accounts not under liquidation are not checked (a
    /// `Check` starts a liquidation, with its certificate).
    Market(MarketUpdate),
    /// Cash paid in from outside.
    Deposit {
        holder: Holder,
        asset: Asset,
        amount: Amount,
    },
    /// A trader asks to withdraw cash (refused while frozen or below initial margin).
    Withdraw {
        account: AccountId,
        asset: Asset,
        amount: Amount,
    },
    /// A trader's order, filled at mark against the market: `size` signed, in units of the
    /// underlying. While frozen only orders that reduce the position are taken; otherwise a
    /// risk-increasing order needs equity ≥ initial margin afterwards.
    Order {
        account: AccountId,
        instrument: ale_core::Instrument,
        size: f64,
    },
    /// A trader's account as it now stands outside the engine (it traded, topped up, rolled):
    /// the ledger's balances of `Trader(account.id)` are made equal to `account`'s collateral
    /// and positions (cost basis from each position's entry price, at mark when it has none),
    /// the differences against `External`. An unknown account is registered with `owner`.
    /// Refused while the account is under liquidation. Idempotent by `id`: an event whose id
    /// was already processed changes nothing and produces no record.
    SyncAccount {
        id: String,
        account: Account,
        owner: String,
    },
    /// An option or dated future expires and settles at `settlement_price` (the underlying's
    /// price at expiry): every holder's position goes back to `External` against cash — a
    /// future `qty · price − cost`, an option `qty · payoff` — rounded against the holder. A
    /// holder that cannot pay what it owes pays what cash it has, then (a trader) down the loss
    /// waterfall, or (anyone else) from the socialised-loss account. The instrument is then no
    /// longer listed (later markets need not mark it). Refused before the expiry's 08:00 UTC.
    /// Idempotent by `id`.
    Expire {
        id: String,
        instrument: ale_core::Instrument,
        settlement_price: f64,
    },
    /// A fill for any holder (trader, insurance fund, backstop pool, liquidator, credit
    /// provider) against the market at `price` per unit, `size` signed: what a taker does to
    /// close what it took, or a trader's roll or hedge done outside the engine. No margin
    /// check; refused for a trader under liquidation, for a price that is not finite and > 0
    /// (≥ 0 for an option), for an expired instrument, and when the holder lacks the cash it
    /// pays. A future or perpetual position brought to zero realises its cost basis into cash.
    /// Idempotent by `id`.
    Fill {
        id: String,
        holder: Holder,
        instrument: ale_core::Instrument,
        size: f64,
        price: f64,
    },
    /// A perpetual's funding for one period: every holder pays `qty · price · rate` to
    /// `External` (a positive rate: longs pay, shorts receive), rounded toward +∞; what
    /// a holder cannot pay goes as in [`Event::Expire`]. Idempotent by `id`.
    Funding {
        id: String,
        instrument: ale_core::Instrument,
        rate: f64,
        price: f64,
    },
    /// The venue of the moment: the order-book model (tier 3) and the registered bidders'
    /// limits (`max_price_fraction`, `insolvent_premium_fraction`, `max_share`) are replaced,
    /// so that an engine running for days follows a book that thins and liquidators that ask
    /// more as volatility rises. Applies from this event on (an open auction's next bid is
    /// checked against the new limits). A bidder must be registered, under the same owner; an
    /// invalid model or limit is an error and changes nothing. Setting the same venue twice
    /// changes nothing more (idempotent by content).
    UpdateVenue {
        depth: crate::params::DepthModel,
        bidders: Vec<Bidder>,
    },
}

impl Event {
    /// The id of an idempotent event ([`Event::SyncAccount`], [`Event::Expire`],
    /// [`Event::Fill`], [`Event::Funding`]).
    pub fn id(&self) -> Option<&str> {
        match self {
            Event::SyncAccount { id, .. }
            | Event::Expire { id, .. }
            | Event::Fill { id, .. }
            | Event::Funding { id, .. } => Some(id),
            _ => None,
        }
    }
}

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A holder's opening balances put on the ledger.
    Opened,
    /// Cash paid in.
    Deposit,
    /// Cash paid out.
    Withdrawal,
    /// An order filled at mark.
    Trade,
    /// A request refused (the reason says why).
    Refused,
    /// Equity < maintenance margin.
    Flagged,
    /// No withdrawals, no risk-increasing orders.
    Frozen,
    /// Tier 1: a backstop took a position at mark with its fee.
    BackstopTake,
    /// Tier 2 started.
    AuctionOpened,
    /// A sealed bid was accepted into the book.
    SealedBidAccepted,
    /// Tier 2: a bidder took a share of the account.
    AuctionFill,
    /// A bid was refused (the reason says which guard).
    BidRefused,
    /// The auction's time is up.
    AuctionEnded,
    /// Tier 3: a position sold into the order book.
    MarketSale,
    /// The insurance fund took what remained.
    FundTake,
    /// One step of the loss waterfall.
    Waterfall,
    /// A trader charged its share of a socialised loss.
    SocialisedCharge,
    /// A backstop-credit provider paid its premium.
    Premium,
    /// Equity back at maintenance · (1 + buffer).
    Restored,
    /// No position left.
    Closed,
    /// A trader's balances set to its account's state outside the engine.
    Synced,
    /// An option or future expired and settled.
    Settled,
    /// A perpetual's funding paid.
    Funding,
    /// The order-book model and bidders' limits replaced.
    VenueUpdated,
}

impl RecordKind {
    /// The record's name in the log.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Opened => "opened",
            RecordKind::Deposit => "deposit",
            RecordKind::Withdrawal => "withdrawal",
            RecordKind::Trade => "trade",
            RecordKind::Refused => "refused",
            RecordKind::Flagged => "flagged",
            RecordKind::Frozen => "frozen",
            RecordKind::BackstopTake => "backstop_take",
            RecordKind::AuctionOpened => "auction_opened",
            RecordKind::SealedBidAccepted => "sealed_bid_accepted",
            RecordKind::AuctionFill => "auction_fill",
            RecordKind::BidRefused => "bid_refused",
            RecordKind::AuctionEnded => "auction_ended",
            RecordKind::MarketSale => "market_sale",
            RecordKind::FundTake => "fund_take",
            RecordKind::Waterfall => "waterfall",
            RecordKind::SocialisedCharge => "socialised_charge",
            RecordKind::Premium => "premium",
            RecordKind::Restored => "restored",
            RecordKind::Closed => "closed",
            RecordKind::Synced => "synced",
            RecordKind::Settled => "settled",
            RecordKind::Funding => "funding",
            RecordKind::VenueUpdated => "venue_updated",
        }
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Sequence number, from 0, gap-free.
    pub seq: u64,
    /// When (the `now` of the event).
    pub at: Timestamp,
    /// The account concerned, if any.
    pub account: Option<AccountId>,
    /// What happened.
    pub kind: RecordKind,
    /// Why, in words.
    pub reason: String,
    /// Named figures (amounts as exact decimals).
    pub details: Vec<(&'static str, String)>,
    /// The ledger operation it applied, if any.
    pub op: Option<Op>,
}

/// Where a liquidation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Flagged and frozen; tiers running.
    Frozen,
    /// Waiting for tier-2 bids.
    Auction,
    /// Back at the buffer margin; unfrozen.
    Restored,
    /// No position left; unfrozen.
    Closed,
}

/// A liquidation in progress or finished, as seen from outside.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaseView {
    /// Its stage.
    pub stage: Stage,
    /// When it was flagged.
    pub flagged_at: Timestamp,
    /// The auction, when one is open or was: (opened, closes, insolvent, sealed).
    pub auction: Option<AuctionView>,
}

/// An auction as seen from outside.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuctionView {
    /// Start.
    pub opened: Timestamp,
    /// When it ends (a Tick at or after this moves on).
    pub closes: Timestamp,
    /// The insolvent auction.
    pub insolvent: bool,
    /// A sealed-bid auction.
    pub sealed: bool,
}

#[derive(Debug, Clone)]
struct Case {
    stage: Stage,
    flagged_at: Timestamp,
    auction: Option<AuctionView>,
    sealed_bids: BTreeMap<String, f64>,
    fills: usize,
    fees: Amount,
}

#[derive(Debug, Clone)]
enum UnitKind {
    Cash(Asset),
    Qty(usize),
    Cost(usize),
}

#[derive(Debug, Clone)]
struct Taker {
    holder: HolderId,
    max_notional: Option<Amount>,
    used: Amount,
}

/// One part of a position moving from the account to a taker (signs as the account's).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Take {
    instrument: usize,
    dq: Amount,
    dc: Amount,
}

/// The parts of every position, and the collateral shares, of a proportional fill.
type Slices = (Vec<Take>, Vec<(UnitId, Asset, Amount)>);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pricing {
    /// At mark, with a fee of this fraction of notional paid to the taker.
    Mark { fee_rate: f64 },
    /// Into the order book, with the depth model's slippage.
    Market,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payer {
    Account(HolderId),
    Fund,
}

/// The liquidation engine. See the module docs.
pub struct Engine {
    params: LiquidationParams,
    risk: Margining,
    ledger: Ledger,
    unit_kinds: Vec<UnitKind>,
    owners: BTreeMap<AccountId, String>,
    bidders: BTreeMap<String, Bidder>,
    takers: Vec<Taker>,
    pools: BTreeMap<String, usize>,
    providers: BTreeMap<String, HolderId>,
    cases: BTreeMap<AccountId, Case>,
    sold: BTreeMap<Asset, VecDeque<(Timestamp, Amount)>>,
    log: Vec<Record>,
    next_op: u64,
    now: Option<Timestamp>,
    fund: HolderId,
    fees: HolderId,
    socialised: HolderId,
    external: HolderId,
    settle_unit: UnitId,
    /// Ids of the idempotent events processed.
    applied: BTreeSet<String>,
}

fn amt(x: f64, rounding: Rounding, context: &'static str) -> Result<Amount, LiquidationError> {
    Amount::from_f64(x, rounding).map_err(arith(context))
}

fn min_amount(a: Amount, b: Amount) -> Amount {
    if a <= b {
        a
    } else {
        b
    }
}

/// Splits `total` over `weights` pro rata, exactly: each share rounds down, then the few
/// nano-units left go one by one in order to those with room. Shares never exceed `caps`;
/// the result sums to min(total, Σ caps).
pub(crate) fn pro_rata(
    total: Amount,
    weights: &[Amount],
    caps: &[Amount],
) -> Result<Vec<Amount>, LiquidationError> {
    let weight_sum = weights.iter().try_fold(Amount::ZERO, |s, w| {
        s.checked_add(*w).map_err(arith("pro-rata weights"))
    })?;
    let cap_sum = caps.iter().try_fold(Amount::ZERO, |s, c| {
        s.checked_add(*c).map_err(arith("pro-rata caps"))
    })?;
    let target = min_amount(total, cap_sum);
    let mut shares = vec![Amount::ZERO; weights.len()];
    if target.raw() <= 0 || weight_sum.raw() <= 0 {
        return Ok(shares);
    }
    let mut given = Amount::ZERO;
    for (i, w) in weights.iter().enumerate() {
        // Rounds down: the remainder is handed out below, so that the sum is exact.
        let share = target
            .checked_mul_div(*w, weight_sum, Rounding::Down)
            .map_err(arith("pro-rata share"))?;
        shares[i] = min_amount(share, caps[i]);
        given = given.checked_add(shares[i]).map_err(arith("pro-rata"))?;
    }
    let mut left = target.checked_sub(given).map_err(arith("pro-rata"))?;
    // At most one pass per holder with room: bounded by the number of holders.
    for (i, cap) in caps.iter().enumerate() {
        if left.raw() <= 0 {
            break;
        }
        let room = cap.checked_sub(shares[i]).map_err(arith("pro-rata"))?;
        let add = min_amount(room, left);
        if add.raw() > 0 {
            shares[i] = shares[i].checked_add(add).map_err(arith("pro-rata"))?;
            left = left.checked_sub(add).map_err(arith("pro-rata"))?;
        }
    }
    Ok(shares)
}

/// A bidder's limits in range.
fn validate_bidder(bidder: &Bidder) -> Result<(), LiquidationError> {
    let checks = [
        (
            "max_price_fraction",
            bidder.max_price_fraction >= 0.0 && bidder.max_price_fraction <= 1.0,
            bidder.max_price_fraction,
            "must be in [0, 1]",
        ),
        (
            "insolvent_premium_fraction",
            bidder.insolvent_premium_fraction >= 0.0 && bidder.insolvent_premium_fraction <= 1.0,
            bidder.insolvent_premium_fraction,
            "must be in [0, 1]",
        ),
        (
            "max_share",
            bidder.max_share > 0.0 && bidder.max_share <= 1.0,
            bidder.max_share,
            "must be in (0, 1]",
        ),
    ];
    for (field, ok, value, reason) in checks {
        if !ok {
            return Err(LiquidationError::Invalid {
                field: format!("bidders[{}].{field}", bidder.name),
                reason: format!("{reason}, got {value}"),
            });
        }
    }
    Ok(())
}

impl Engine {
    /// An engine on `market` under `policy`: the insurance fund, the fee and socialised-loss
    /// accounts exist (empty) from the start.
    pub fn new(
        policy: Box<dyn MarginPolicy>,
        market: MarketSnapshot,
        params: LiquidationParams,
    ) -> Result<Engine, LiquidationError> {
        params.validate()?;
        let mut ledger = Ledger::new();
        let external = ledger.holder(&Holder::External);
        let fund = ledger.holder(&Holder::InsuranceFund);
        let fees = ledger.holder(&Holder::Fees);
        let socialised = ledger.holder(&Holder::SocialisedLoss);
        let settle_unit = ledger.unit(&Unit::Cash(params.settlement_asset.clone()));
        Ok(Engine {
            unit_kinds: vec![UnitKind::Cash(params.settlement_asset.clone())],
            params,
            risk: Margining::new(policy, market),
            ledger,
            owners: BTreeMap::new(),
            bidders: BTreeMap::new(),
            takers: vec![Taker {
                holder: fund,
                max_notional: None,
                used: Amount::ZERO,
            }],
            pools: BTreeMap::new(),
            providers: BTreeMap::new(),
            cases: BTreeMap::new(),
            sold: BTreeMap::new(),
            log: Vec::new(),
            next_op: 0,
            now: None,
            fund,
            fees,
            socialised,
            external,
            settle_unit,
            applied: BTreeSet::new(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> &LiquidationParams {
        &self.params
    }
    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
    /// The audit log, every record so far.
    pub fn log(&self) -> &[Record] {
        &self.log
    }
    /// The market in force (the last [`Event::Market`], or the one the engine was built on).
    pub fn market(&self) -> &MarketSnapshot {
        self.risk.market()
    }
    /// The name of the margin policy in force.
    pub fn policy_name(&self) -> &'static str {
        self.risk.policy_name()
    }
    /// The registered bidders.
    pub fn bidders(&self) -> impl Iterator<Item = &Bidder> {
        self.bidders.values()
    }
    /// The liquidation of `account`, if one was started.
    pub fn case(&self, account: &AccountId) -> Option<CaseView> {
        self.cases.get(account).map(|c| CaseView {
            stage: c.stage,
            flagged_at: c.flagged_at,
            auction: c.auction,
        })
    }
    /// Accounts with an auction open, in id order.
    pub fn open_auctions(&self) -> Vec<(AccountId, AuctionView)> {
        self.cases
            .iter()
            .filter(|(_, c)| c.stage == Stage::Auction)
            .filter_map(|(id, c)| c.auction.map(|a| (id.clone(), a)))
            .collect()
    }

    // ----- registration ------------------------------------------------------------------

    fn intern_unit(&mut self, unit: &Unit, kind: UnitKind) -> UnitId {
        let id = self.ledger.unit(unit);
        if id.0 as usize == self.unit_kinds.len() {
            self.unit_kinds.push(kind);
        }
        id
    }

    fn list(&mut self, instrument: &ale_core::Instrument) -> Result<usize, LiquidationError> {
        if let Some(ix) = self.risk.index_of(instrument) {
            return Ok(ix);
        }
        let next = self.risk.meta.len();
        let q = self.intern_unit(&Unit::Quantity(instrument.clone()), UnitKind::Qty(next));
        let c = self.intern_unit(&Unit::CostBasis(instrument.clone()), UnitKind::Cost(next));
        self.risk.list(instrument, || (q, c))
    }

    /// Lists instruments ahead of time (one table build for all of them).
    pub fn list_instruments<'a>(
        &mut self,
        instruments: impl IntoIterator<Item = &'a ale_core::Instrument>,
    ) -> Result<(), LiquidationError> {
        for i in instruments {
            self.list(i)?;
        }
        self.risk.ensure_tables()
    }

    fn advance(&mut self, now: Timestamp) -> Result<(), LiquidationError> {
        if let Some(last) = self.now {
            if now < last {
                return Err(LiquidationError::Invalid {
                    field: "now".into(),
                    reason: format!("time must not go backwards: {now} is before {last}"),
                });
            }
        }
        self.now = Some(now);
        Ok(())
    }

    /// Puts `account`'s collateral and positions on the ledger for `holder`, against External.
    fn open(
        &mut self,
        holder: &Holder,
        account: &Account,
        now: Timestamp,
    ) -> Result<HolderId, LiquidationError> {
        self.advance(now)?;
        if account.positions.len() > MAX_POSITIONS {
            return Err(LiquidationError::Limit(format!(
                "'{}' holds {} positions, more than {MAX_POSITIONS}",
                account.id,
                account.positions.len()
            )));
        }
        let h = self.ledger.holder(holder);
        for p in &account.positions {
            self.list(&p.instrument)?;
        }
        self.risk.ensure_tables()?;
        let mut legs = Vec::new();
        for (asset, amount) in &account.collateral {
            if amount.is_negative() {
                return Err(LiquidationError::Invalid {
                    field: format!("{}.collateral[{asset}]", account.id),
                    reason: format!("must be >= 0, got {amount}"),
                });
            }
            let u = self.intern_unit(&Unit::Cash(asset.clone()), UnitKind::Cash(asset.clone()));
            self.push_leg(&mut legs, self.external, h, u, *amount);
        }
        for p in &account.positions {
            let (ix, qty, cost) = self.position_balances(account, p)?;
            let meta = &self.risk.meta[ix];
            let (qu, cu) = (meta.qty_unit, meta.cost_unit);
            self.push_leg(&mut legs, self.external, h, qu, qty);
            self.push_leg(&mut legs, self.external, h, cu, cost);
        }
        let op = self.new_op(legs);
        let id = match holder {
            Holder::Trader(id) => Some(id.clone()),
            _ => None,
        };
        self.record(
            now,
            id.as_ref(),
            crate::engine::RecordKind::Opened,
            format!("opening balances of {holder}"),
            vec![],
            Some(op),
        )?;
        Ok(h)
    }

    /// Registers a trader's account (collateral and positions) with its owner.
    pub fn register_trader(
        &mut self,
        account: &Account,
        owner: &str,
        now: Timestamp,
    ) -> Result<(), LiquidationError> {
        if self.owners.contains_key(&account.id) {
            return Err(LiquidationError::Duplicate {
                what: "account",
                name: account.id.to_string(),
            });
        }
        self.open(&Holder::Trader(account.id.clone()), account, now)?;
        self.owners.insert(account.id.clone(), owner.to_string());
        Ok(())
    }

    /// Puts capital (and any positions) into the insurance fund; `max_notional` bounds what it
    /// takes as the tier-1 backstop (None: only its margin bounds it).
    pub fn fund_insurance(
        &mut self,
        capital: &Account,
        max_notional: Option<Amount>,
        now: Timestamp,
    ) -> Result<(), LiquidationError> {
        self.open(&Holder::InsuranceFund, capital, now)?;
        self.takers[0].max_notional = max_notional;
        Ok(())
    }

    /// Registers a tier-1 backstop pool (after the insurance fund, in registration order).
    pub fn register_pool(
        &mut self,
        name: &str,
        capital: &Account,
        max_notional: Option<Amount>,
        now: Timestamp,
    ) -> Result<(), LiquidationError> {
        if self.pools.contains_key(name) {
            return Err(LiquidationError::Duplicate {
                what: "backstop pool",
                name: name.into(),
            });
        }
        if self.pools.len() >= MAX_POOLS {
            return Err(LiquidationError::Limit(format!(
                "more than {MAX_POOLS} backstop pools"
            )));
        }
        let h = self.open(&Holder::BackstopPool(name.into()), capital, now)?;
        self.pools.insert(name.into(), self.takers.len());
        self.takers.push(Taker {
            holder: h,
            max_notional,
            used: Amount::ZERO,
        });
        Ok(())
    }

    /// Registers a liquidator with its capital.
    pub fn register_bidder(
        &mut self,
        bidder: Bidder,
        capital: &Account,
        now: Timestamp,
    ) -> Result<(), LiquidationError> {
        if self.bidders.contains_key(&bidder.name) {
            return Err(LiquidationError::Duplicate {
                what: "bidder",
                name: bidder.name,
            });
        }
        if self.bidders.len() >= MAX_BIDDERS {
            return Err(LiquidationError::Limit(format!(
                "more than {MAX_BIDDERS} bidders"
            )));
        }
        validate_bidder(&bidder)?;
        self.open(&Holder::Liquidator(bidder.name.clone()), capital, now)?;
        self.bidders.insert(bidder.name.clone(), bidder);
        Ok(())
    }

    /// Registers a backstop-credit provider committing `amount` of the settlement asset.
    pub fn register_credit_provider(
        &mut self,
        name: &str,
        amount: Amount,
        now: Timestamp,
    ) -> Result<(), LiquidationError> {
        if self.providers.contains_key(name) {
            return Err(LiquidationError::Duplicate {
                what: "credit provider",
                name: name.into(),
            });
        }
        if self.providers.len() >= MAX_CREDIT_PROVIDERS {
            return Err(LiquidationError::Limit(format!(
                "more than {MAX_CREDIT_PROVIDERS} credit providers"
            )));
        }
        let mut capital =
            Account::new(
                AccountId::new(name).map_err(|reason| LiquidationError::Invalid {
                    field: "credit_providers.name".into(),
                    reason,
                })?,
            );
        capital
            .add_collateral(self.params.settlement_asset.clone(), amount)
            .map_err(|reason| LiquidationError::Invalid {
                field: format!("credit_providers[{name}].amount"),
                reason,
            })?;
        let h = self.open(&Holder::CreditProvider(name.into()), &capital, now)?;
        self.providers.insert(name.into(), h);
        Ok(())
    }

    // ----- ledger plumbing ---------------------------------------------------------------

    fn push_leg(
        &self,
        legs: &mut Vec<Leg>,
        from: HolderId,
        to: HolderId,
        unit: UnitId,
        signed: Amount,
    ) {
        if signed.raw() > 0 {
            legs.push(Leg {
                from,
                to,
                unit,
                amount: signed,
            });
        } else if signed.raw() < 0 {
            legs.push(Leg {
                from: to,
                to: from,
                unit,
                amount: Amount::from_raw(-signed.raw()),
            });
        }
    }

    fn new_op(&mut self, legs: Vec<Leg>) -> Op {
        self.next_op += 1;
        Op {
            id: OpId(self.next_op),
            legs,
        }
    }

    fn record(
        &mut self,
        at: Timestamp,
        account: Option<&AccountId>,
        kind: RecordKind,
        reason: impl Into<String>,
        details: Vec<(&'static str, String)>,
        op: Option<Op>,
    ) -> Result<(), LiquidationError> {
        let op = op.filter(|o| !o.legs.is_empty());
        if let Some(op) = &op {
            self.ledger.apply(op)?;
        }
        self.log.push(Record {
            seq: self.log.len() as u64,
            at,
            account: account.cloned(),
            kind,
            reason: reason.into(),
            details,
            op,
        });
        Ok(())
    }

    fn holder_of_account(&self, account: &AccountId) -> Result<HolderId, LiquidationError> {
        if !self.owners.contains_key(account) {
            return Err(LiquidationError::Unknown {
                what: "account",
                name: account.to_string(),
            });
        }
        self.ledger
            .holder_id(&Holder::Trader(account.clone()))
            .ok_or_else(|| LiquidationError::Unknown {
                what: "account",
                name: account.to_string(),
            })
    }

    /// A holder's balances as a portfolio.
    pub fn portfolio(&self, holder: &Holder) -> Portfolio {
        match self.ledger.holder_id(holder) {
            Some(h) => self.portfolio_of(h),
            None => Portfolio::default(),
        }
    }

    fn portfolio_of(&self, h: HolderId) -> Portfolio {
        let mut p = Portfolio::default();
        let mut rows: Vec<Holding> = Vec::new();
        for (u, v) in self.ledger.holdings(h) {
            match &self.unit_kinds[u.0 as usize] {
                UnitKind::Cash(a) => p.cash.push((a.clone(), v)),
                UnitKind::Qty(ix) => rows.push(Holding {
                    instrument: *ix,
                    qty: v,
                    cost: Amount::ZERO,
                }),
                UnitKind::Cost(ix) => rows.push(Holding {
                    instrument: *ix,
                    qty: Amount::ZERO,
                    cost: v,
                }),
            }
        }
        p.cash.sort_by(|a, b| a.0.cmp(&b.0));
        // Quantity and cost of one instrument merge into one holding (at most two rows each;
        // both come from one ledger, so their sum cannot overflow what the ledger holds).
        rows.sort_by_key(|r| r.instrument);
        for r in rows {
            match p.positions.last_mut() {
                Some(last) if last.instrument == r.instrument => {
                    last.qty = Amount::from_raw(last.qty.raw() + r.qty.raw());
                    last.cost = Amount::from_raw(last.cost.raw() + r.cost.raw());
                }
                _ => p.positions.push(r),
            }
        }
        p
    }

    fn name_of(&self, h: HolderId) -> String {
        self.ledger
            .holder_of(h)
            .map_or_else(|| format!("#{}", h.0), ToString::to_string)
    }

    fn health_of(&mut self, h: HolderId, p: &Portfolio) -> Result<Health, LiquidationError> {
        let ledger = &self.ledger;
        let name = || {
            ledger
                .holder_of(h)
                .map_or_else(|| format!("#{}", h.0), ToString::to_string)
        };
        self.risk.health(&name, p)
    }

    /// Health of a holder now.
    pub fn health(&mut self, holder: &Holder) -> Result<Health, LiquidationError> {
        let p = self.portfolio(holder);
        self.risk.health(&|| holder.to_string(), &p)
    }

    fn gross_notional(&self, p: &Portfolio) -> Result<Amount, LiquidationError> {
        let mut total = Amount::ZERO;
        for h in &p.positions {
            let n = self.notional(h.instrument, h.qty)?;
            total = total.checked_add(n).map_err(arith("notional"))?;
        }
        Ok(total)
    }

    /// |qty| · |mark|, rounded up.
    fn notional(&self, instrument: usize, qty: Amount) -> Result<Amount, LiquidationError> {
        let m = amt(self.risk.meta[instrument].mark.abs(), Rounding::Up, "mark")?;
        qty.checked_abs()
            .and_then(|q| q.checked_mul(m, Rounding::Up))
            .map_err(arith("notional"))
    }

    // ----- sizing ------------------------------------------------------------------------

    /// The part `x` ∈ (0, 1] of a holding: the quantity rounds away from zero (a little more is
    /// sold rather than a little less), the cost basis moves pro rata (rounded down).
    fn slice(h: &Holding, x: f64) -> Result<Take, LiquidationError> {
        if x >= 1.0 || h.qty.is_zero() {
            return Ok(Take {
                instrument: h.instrument,
                dq: h.qty,
                dc: h.cost,
            });
        }
        let xa = amt(x.max(0.0), Rounding::Up, "fraction")?;
        let rounding = if h.qty.is_negative() {
            Rounding::Down
        } else {
            Rounding::Up
        };
        let mut dq = h.qty.checked_mul(xa, rounding).map_err(arith("slice"))?;
        if dq.checked_abs().map_err(arith("slice"))?
            > h.qty.checked_abs().map_err(arith("slice"))?
        {
            dq = h.qty;
        }
        let dc = h
            .cost
            .checked_mul_div(dq, h.qty, Rounding::Down)
            .map_err(arith("slice cost"))?;
        Ok(Take {
            instrument: h.instrument,
            dq,
            dc,
        })
    }

    /// What the account receives for `take` (negative: pays), and the fee it pays the taker.
    /// Both round against the account (receipts down, fees up): its counterparties are never
    /// short-changed by rounding.
    fn price_take(
        &self,
        take: &Take,
        pricing: Pricing,
    ) -> Result<(Amount, Amount), LiquidationError> {
        let mark = self.risk.meta[take.instrument].mark;
        let notional = self.notional(take.instrument, take.dq)?;
        let (slip, fee_rate) = match pricing {
            Pricing::Mark { fee_rate } => (0.0, fee_rate),
            Pricing::Market => (self.params.average_slippage(notional.to_f64()), 0.0),
        };
        let selling = !take.dq.is_negative();
        let unit_price = if selling {
            mark * (1.0 - slip)
        } else {
            mark * (1.0 + slip)
        };
        let px = amt(
            unit_price,
            if selling {
                Rounding::Down
            } else {
                Rounding::Up
            },
            "price",
        )?;
        let receipt = take
            .dq
            .checked_mul(px, Rounding::Down)
            .and_then(|v| v.checked_sub(take.dc))
            .map_err(arith("receipt"))?;
        let fee = notional
            .checked_mul(amt(fee_rate, Rounding::Up, "fee rate")?, Rounding::Up)
            .map_err(arith("fee"))?;
        Ok((receipt, fee))
    }

    /// The account's portfolio after `take` at `pricing`.
    fn after_take(
        &self,
        p: &Portfolio,
        take: &Take,
        pricing: Pricing,
    ) -> Result<Portfolio, LiquidationError> {
        let (receipt, fee) = self.price_take(take, pricing)?;
        let mut q = p.clone();
        q.add_position(
            take.instrument,
            take.dq.checked_neg().map_err(arith("take"))?,
            take.dc.checked_neg().map_err(arith("take"))?,
        )?;
        let net = receipt.checked_sub(fee).map_err(arith("take"))?;
        q.add_cash(&self.params.settlement_asset, net)?;
        Ok(q)
    }

    /// Equity − buffer target of a portfolio (money, as f64 for the search).
    fn gap(&mut self, h: HolderId, p: &Portfolio) -> Result<f64, LiquidationError> {
        let health = self.health_of(h, p)?;
        let target = health.buffer_target(self.params.auction.buffer_fraction)?;
        Ok(health.equity.to_f64() - target.to_f64())
    }

    /// The smallest part x ∈ (0, x_max] of holding `pos` whose sale restores the buffer, or
    /// x_max when none does. Regula falsi (Illinois), at most [`MAX_SIZING_STEPS`] re-margins.
    fn size_fraction(
        &mut self,
        h: HolderId,
        p: &Portfolio,
        holding: &Holding,
        x_max: f64,
        pricing: Pricing,
    ) -> Result<f64, LiquidationError> {
        let eval = |engine: &mut Engine, x: f64| -> Result<f64, LiquidationError> {
            let take = Engine::slice(holding, x)?;
            let q = engine.after_take(p, &take, pricing)?;
            engine.gap(h, &q)
        };
        let g_hi0 = eval(self, x_max)?;
        if g_hi0 < 0.0 {
            return Ok(x_max);
        }
        let g_lo0 = self.gap(h, p)?;
        if g_lo0 >= 0.0 {
            return Ok(0.0);
        }
        let (mut lo, mut hi, mut g_lo, mut g_hi) = (0.0, x_max, g_lo0, g_hi0);
        let tolerance = 1e-7 * x_max;
        let mut side = 0i8;
        for _ in 0..MAX_SIZING_STEPS {
            if hi - lo <= tolerance {
                break;
            }
            let mut x = hi - g_hi * (hi - lo) / (g_hi - g_lo);
            if !(x > lo && x < hi) {
                x = 0.5 * (lo + hi);
            }
            let g = eval(self, x)?;
            if g >= 0.0 {
                hi = x;
                g_hi = g;
                if side == 1 {
                    g_lo *= 0.5;
                }
                side = 1;
                // Close enough above the target: stop (the result stays on the feasible side).
                if g <= 1e-6 * (1.0 + g_lo0.abs()) {
                    break;
                }
            } else {
                lo = x;
                g_lo = g;
                if side == -1 {
                    g_hi *= 0.5;
                }
                side = -1;
            }
        }
        Ok(hi)
    }

    /// Positions in the order of margin removed per unit of expected cost (best first).
    /// Positions whose sale adds margin (hedges) come only when `include_hedges`, last.
    fn rank(
        &mut self,
        h: HolderId,
        p: &Portfolio,
        pricing: Pricing,
        include_hedges: bool,
    ) -> Result<Vec<usize>, LiquidationError> {
        let base = self.health_of(h, p)?.maintenance_f64;
        let mut scored: Vec<(f64, usize)> = Vec::new();
        for (i, holding) in p.positions.iter().enumerate() {
            if holding.qty.is_zero() {
                continue;
            }
            let mut without = p.clone();
            without.positions[i].qty = Amount::ZERO;
            without.positions[i].cost = Amount::ZERO;
            let m = self.health_of(h, &without)?.maintenance_f64;
            let removed = base - m;
            let notional = self.notional(holding.instrument, holding.qty)?.to_f64();
            let rate = match pricing {
                Pricing::Mark { fee_rate } => fee_rate,
                Pricing::Market => self.params.average_slippage(notional),
            };
            let cost = notional * rate + 1e-9;
            if removed > 0.0 || include_hedges {
                let score = if removed > 0.0 {
                    removed / cost
                } else {
                    removed - 1e300
                };
                scored.push((score, holding.instrument));
            }
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(scored.into_iter().map(|(_, i)| i).collect())
    }

    // ----- execution ---------------------------------------------------------------------

    fn take_legs(&self, legs: &mut Vec<Leg>, from: HolderId, to: HolderId, take: &Take) {
        let meta = &self.risk.meta[take.instrument];
        self.push_leg(legs, from, to, meta.qty_unit, take.dq);
        self.push_leg(legs, from, to, meta.cost_unit, take.dc);
    }

    /// Moves `take` from the account to `taker` at `pricing`, and settles the cash (through the
    /// loss waterfall when the payer cannot pay).
    #[allow(clippy::too_many_arguments)]
    fn execute_take(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        acct: HolderId,
        taker: HolderId,
        take: &Take,
        pricing: Pricing,
        kind: RecordKind,
        reason: &str,
    ) -> Result<(), LiquidationError> {
        let (receipt, fee) = self.price_take(take, pricing)?;
        let net = receipt.checked_sub(fee).map_err(arith("take"))?;
        let mut legs = Vec::new();
        self.take_legs(&mut legs, acct, taker, take);
        let taker_may_owe = self
            .ledger
            .holder_of(taker)
            .is_some_and(Holder::may_owe_cash);
        let mut pending: Option<(Payer, HolderId, Amount)> = None;
        if net.raw() > 0 {
            if taker_may_owe || self.ledger.balance(taker, self.settle_unit) >= net {
                self.push_leg(&mut legs, taker, acct, self.settle_unit, net);
            } else {
                pending = Some((Payer::Fund, acct, net));
            }
        } else if net.raw() < 0 {
            let owed = net.checked_neg().map_err(arith("take"))?;
            if self.ledger.balance(acct, self.settle_unit) >= owed {
                self.push_leg(&mut legs, acct, taker, self.settle_unit, owed);
            } else {
                pending = Some((Payer::Account(acct), taker, owed));
            }
        }
        let meta = &self.risk.meta[take.instrument];
        let details = vec![
            ("taker", self.name_of(taker)),
            ("instrument", meta.instrument.to_string()),
            ("quantity", take.dq.to_string()),
            ("mark", format!("{}", meta.mark)),
            ("received", receipt.to_string()),
            ("fee", fee.to_string()),
        ];
        let op = self.new_op(legs);
        self.record(now, Some(account), kind, reason, details, Some(op))?;
        if let Some((payer, creditor, owed)) = pending {
            self.settle(now, account, payer, creditor, owed)?;
        }
        Ok(())
    }

    /// Pays `amount` owed by `payer` to `creditor` down the loss waterfall: the account's own
    /// cash, then its other collateral in kind (at its haircut value), then the insurance fund,
    /// then backstop credit (pro rata to commitments), then the socialised-loss account. The
    /// ledger is checked to balance after every step.
    fn settle(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        payer: Payer,
        creditor: HolderId,
        amount: Amount,
    ) -> Result<(), LiquidationError> {
        let mut left = amount;
        let step = |engine: &mut Engine,
                    name: &'static str,
                    reason: String,
                    paid: Amount,
                    legs: Vec<Leg>|
         -> Result<(), LiquidationError> {
            let op = engine.new_op(legs);
            let creditor_name = engine.name_of(creditor);
            engine.record(
                now,
                Some(account),
                RecordKind::Waterfall,
                reason,
                vec![
                    ("step", name.to_string()),
                    ("paid", paid.to_string()),
                    ("creditor", creditor_name),
                ],
                Some(op),
            )?;
            engine.ledger.check_balanced()?;
            Ok(())
        };
        if let Payer::Account(a) = payer {
            let cash = self.ledger.balance(a, self.settle_unit);
            let pay = min_amount(left, cash);
            if pay.raw() > 0 {
                let mut legs = Vec::new();
                self.push_leg(&mut legs, a, creditor, self.settle_unit, pay);
                left = left.checked_sub(pay).map_err(arith("waterfall"))?;
                step(
                    self,
                    "account_cash",
                    "the account's own cash".into(),
                    pay,
                    legs,
                )?;
            }
            let others: Vec<(UnitId, Asset, Amount)> = self
                .ledger
                .holdings(a)
                .filter_map(|(u, v)| match &self.unit_kinds[u.0 as usize] {
                    UnitKind::Cash(asset) if u != self.settle_unit && v.raw() > 0 => {
                        Some((u, asset.clone(), v))
                    }
                    _ => None,
                })
                .collect();
            for (u, asset, balance) in others {
                if left.raw() <= 0 {
                    break;
                }
                let Some(value) = self.risk.collateral_unit_value(&asset) else {
                    continue;
                };
                // Collateral counts at its haircut value, rounded down (the creditor is never
                // short-changed); the quantity handed over rounds up.
                let unit_value = amt(value, Rounding::Down, "collateral value")?;
                if unit_value.raw() <= 0 {
                    continue;
                }
                let need = left
                    .checked_mul_div(Amount::from_units(1), unit_value, Rounding::Up)
                    .map_err(arith("collateral in kind"))?;
                let give = min_amount(need, balance);
                let worth = min_amount(
                    give.checked_mul(unit_value, Rounding::Down)
                        .map_err(arith("collateral in kind"))?,
                    left,
                );
                let mut legs = Vec::new();
                self.push_leg(&mut legs, a, creditor, u, give);
                left = left.checked_sub(worth).map_err(arith("waterfall"))?;
                step(
                    self,
                    "account_collateral",
                    format!("the account's {asset} collateral, in kind at its haircut value"),
                    worth,
                    legs,
                )?;
            }
        }
        if left.raw() > 0 {
            if creditor == self.fund {
                // The fund is owed: it bears the loss as far as its own equity goes.
                let fund_p = self.portfolio_of(self.fund);
                let fund_equity = self.health_of(self.fund, &fund_p)?.equity;
                let deficit = if fund_equity.is_negative() {
                    min_amount(fund_equity.checked_neg().map_err(arith("fund"))?, left)
                } else {
                    Amount::ZERO
                };
                let borne = left.checked_sub(deficit).map_err(arith("fund"))?;
                if borne.raw() > 0 {
                    step(
                        self,
                        "insurance_fund",
                        "borne by the insurance fund within its equity (it holds the positions it took)"
                            .into(),
                        borne,
                        vec![],
                    )?;
                }
                left = deficit;
            } else {
                let cash = self.ledger.balance(self.fund, self.settle_unit);
                let pay = min_amount(left, cash);
                if pay.raw() > 0 {
                    let mut legs = Vec::new();
                    self.push_leg(&mut legs, self.fund, creditor, self.settle_unit, pay);
                    left = left.checked_sub(pay).map_err(arith("waterfall"))?;
                    step(
                        self,
                        "insurance_fund",
                        "paid by the insurance fund".into(),
                        pay,
                        legs,
                    )?;
                }
            }
        }
        if left.raw() > 0 && !self.providers.is_empty() {
            let holders: Vec<HolderId> = self.providers.values().copied().collect();
            let balances: Vec<Amount> = holders
                .iter()
                .map(|h| self.ledger.balance(*h, self.settle_unit).max(Amount::ZERO))
                .collect();
            let shares = pro_rata(left, &balances, &balances)?;
            let mut legs = Vec::new();
            let mut paid = Amount::ZERO;
            for (h, s) in holders.iter().zip(&shares) {
                if *h != creditor {
                    self.push_leg(&mut legs, *h, creditor, self.settle_unit, *s);
                    paid = paid.checked_add(*s).map_err(arith("credit"))?;
                }
            }
            if paid.raw() > 0 {
                left = left.checked_sub(paid).map_err(arith("waterfall"))?;
                step(
                    self,
                    "backstop_credit",
                    "drawn from backstop-credit providers pro rata to their commitments".into(),
                    paid,
                    legs,
                )?;
            }
        }
        if left.raw() > 0 {
            let mut legs = Vec::new();
            self.push_leg(&mut legs, self.socialised, creditor, self.settle_unit, left);
            step(
                self,
                "socialised_loss",
                "recorded as socialised loss".into(),
                left,
                legs,
            )?;
        }
        Ok(())
    }

    // ----- events ------------------------------------------------------------------------

    /// Processes one event at `now` (never earlier than the last event) and returns the
    /// records it produced. An error leaves the ledger consistent (every applied operation is
    /// in the log).
    pub fn process(
        &mut self,
        event: &Event,
        now: Timestamp,
    ) -> Result<Vec<Record>, LiquidationError> {
        if let Some(id) = event.id() {
            if id.is_empty() {
                return Err(LiquidationError::Invalid {
                    field: "id".into(),
                    reason: "must not be empty".into(),
                });
            }
            if self.applied.contains(id) {
                return Ok(Vec::new());
            }
        }
        self.advance(now)?;
        self.risk.ensure_tables()?;
        let start = self.log.len();
        let outcome = match event {
            Event::Check { account } => self.on_check(now, account, None),
            Event::CheckWithCertificate {
                account,
                certificate,
            } => self.on_check(now, account, Some(certificate)),
            Event::Bid { account, bidder } => self.on_bid(now, account, bidder),
            Event::SealedBid {
                account,
                bidder,
                price_fraction,
            } => self.on_sealed_bid(now, account, bidder, *price_fraction),
            Event::Tick => self.on_tick(now),
            Event::Market(update) => self.on_market(now, &update.0),
            Event::Deposit {
                holder,
                asset,
                amount,
            } => self.on_deposit(now, holder, asset, *amount),
            Event::Withdraw {
                account,
                asset,
                amount,
            } => self.on_withdraw(now, account, asset, *amount),
            Event::Order {
                account,
                instrument,
                size,
            } => self.on_order(now, account, instrument, *size),
            Event::SyncAccount { account, owner, .. } => self.on_sync(now, account, owner),
            Event::Expire {
                instrument,
                settlement_price,
                ..
            } => self.on_expire(now, instrument, *settlement_price),
            Event::Fill {
                holder,
                instrument,
                size,
                price,
                ..
            } => self.on_fill(now, holder, instrument, *size, *price),
            Event::Funding {
                instrument,
                rate,
                price,
                ..
            } => self.on_funding(now, instrument, *rate, *price),
            Event::UpdateVenue { depth, bidders } => self.on_update_venue(now, depth, bidders),
        };
        // An idempotent event that changed anything counts as done even if it failed part-way
        // (what it applied stays applied): the same id again changes nothing more.
        if let Some(id) = event.id() {
            if outcome.is_ok() || self.log.len() > start {
                self.applied.insert(id.to_string());
            }
        }
        outcome?;
        let produced = self.log.len() - start;
        if produced > MAX_RECORDS_PER_EVENT {
            return Err(LiquidationError::Limit(format!(
                "one event produced {produced} records, more than {MAX_RECORDS_PER_EVENT}"
            )));
        }
        Ok(self.log[start..].to_vec())
    }

    fn is_active(&self, account: &AccountId) -> bool {
        self.cases
            .get(account)
            .is_some_and(|c| matches!(c.stage, Stage::Frozen | Stage::Auction))
    }

    fn on_deposit(
        &mut self,
        now: Timestamp,
        holder: &Holder,
        asset: &Asset,
        amount: Amount,
    ) -> Result<(), LiquidationError> {
        if amount.raw() <= 0 {
            return Err(LiquidationError::Invalid {
                field: "deposit.amount".into(),
                reason: format!("must be > 0, got {amount}"),
            });
        }
        let h = self.ledger.holder(holder);
        let u = self.intern_unit(&Unit::Cash(asset.clone()), UnitKind::Cash(asset.clone()));
        let mut legs = Vec::new();
        self.push_leg(&mut legs, self.external, h, u, amount);
        let op = self.new_op(legs);
        let account = match holder {
            Holder::Trader(id) => Some(id.clone()),
            _ => None,
        };
        self.record(
            now,
            account.as_ref(),
            RecordKind::Deposit,
            format!("{amount} {asset} paid in to {holder}"),
            vec![("amount", amount.to_string())],
            Some(op),
        )
    }

    fn on_withdraw(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        asset: &Asset,
        amount: Amount,
    ) -> Result<(), LiquidationError> {
        let h = self.holder_of_account(account)?;
        let refuse = |engine: &mut Engine, reason: String| {
            engine.record(
                now,
                Some(account),
                RecordKind::Refused,
                reason,
                vec![],
                None,
            )
        };
        if self.is_active(account) {
            return refuse(
                self,
                "withdrawal refused: the account is frozen under liquidation".into(),
            );
        }
        let Some(u) = self.ledger.unit_id(&Unit::Cash(asset.clone())) else {
            return refuse(self, format!("withdrawal refused: no {asset} balance"));
        };
        if amount.raw() <= 0 || self.ledger.balance(h, u) < amount {
            return refuse(
                self,
                format!("withdrawal refused: {amount} {asset} is not available"),
            );
        }
        let mut p = self.portfolio_of(h);
        p.add_cash(asset, amount.checked_neg().map_err(arith("withdrawal"))?)?;
        if !self.health_of(h, &p)?.meets_initial() {
            return refuse(
                self,
                "withdrawal refused: equity would fall below the initial margin".into(),
            );
        }
        let mut legs = Vec::new();
        self.push_leg(&mut legs, h, self.external, u, amount);
        let op = self.new_op(legs);
        self.record(
            now,
            Some(account),
            RecordKind::Withdrawal,
            format!("{amount} {asset} paid out"),
            vec![("amount", amount.to_string())],
            Some(op),
        )
    }

    fn on_order(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        instrument: &ale_core::Instrument,
        size: f64,
    ) -> Result<(), LiquidationError> {
        let h = self.holder_of_account(account)?;
        let refuse = |engine: &mut Engine, reason: String| {
            engine.record(
                now,
                Some(account),
                RecordKind::Refused,
                reason,
                vec![],
                None,
            )
        };
        let dq = match quantity_from_size(size) {
            Ok(q) if !q.is_zero() => q,
            _ => {
                return refuse(
                    self,
                    format!("order refused: size must be finite and non-zero, got {size}"),
                )
            }
        };
        let ix = self.list(instrument)?;
        self.risk.ensure_tables()?;
        let p = self.portfolio_of(h);
        let held = p
            .positions
            .iter()
            .find(|x| x.instrument == ix)
            .map_or(Amount::ZERO, |x| x.qty);
        let after = held.checked_add(dq).map_err(arith("order"))?;
        let increases = after.checked_abs().map_err(arith("order"))?
            > held.checked_abs().map_err(arith("order"))?;
        if increases && self.is_active(account) {
            return refuse(
                self,
                "order refused: risk-increasing orders are not taken while the account is frozen"
                    .into(),
            );
        }
        let meta = &self.risk.meta[ix];
        let (qty_unit, cost_unit, pnl_style) = (meta.qty_unit, meta.cost_unit, meta.pnl_style);
        // At mark; what the trader pays rounds up (toward +∞).
        let value = dq
            .checked_mul(amt(meta.mark, Rounding::Up, "mark")?, Rounding::Up)
            .map_err(arith("order"))?;
        let mut q = p.clone();
        if pnl_style {
            q.add_position(ix, dq, value)?;
        } else {
            q.add_position(ix, dq, Amount::ZERO)?;
            q.add_cash(
                &self.params.settlement_asset,
                value.checked_neg().map_err(arith("order"))?,
            )?;
        }
        if q.cash_of(&self.params.settlement_asset).is_negative() {
            return refuse(self, "order refused: not enough cash to pay for it".into());
        }
        if increases && !self.health_of(h, &q)?.meets_initial() {
            return refuse(
                self,
                "order refused: equity would fall below the initial margin".into(),
            );
        }
        let mut legs = Vec::new();
        self.push_leg(&mut legs, self.external, h, qty_unit, dq);
        if pnl_style {
            self.push_leg(&mut legs, self.external, h, cost_unit, value);
        } else {
            self.push_leg(&mut legs, h, self.external, self.settle_unit, value);
        }
        let op = self.new_op(legs);
        self.record(
            now,
            Some(account),
            RecordKind::Trade,
            format!("order of {dq} {instrument} filled at mark"),
            vec![
                ("instrument", instrument.to_string()),
                ("quantity", dq.to_string()),
                ("value", value.to_string()),
            ],
            Some(op),
        )
    }

    /// The quantity and cost basis `account`'s position `p` puts on the ledger (as `open`).
    fn position_balances(
        &mut self,
        account: &Account,
        p: &ale_core::Position,
    ) -> Result<(usize, Amount, Amount), LiquidationError> {
        let ix = self.list(&p.instrument)?;
        let qty = quantity_from_size(p.size).map_err(|_| LiquidationError::Invalid {
            field: format!("{}.positions[{}].size", account.id, p.instrument),
            reason: format!("must be finite, got {}", p.size),
        })?;
        let meta = &self.risk.meta[ix];
        let cost = if meta.pnl_style {
            let entry = match p.entry_price {
                Some(e) if e.is_finite() && e > 0.0 => e,
                Some(e) => {
                    return Err(LiquidationError::Invalid {
                        field: format!("{}.positions[{}].entry_price", account.id, p.instrument),
                        reason: format!("must be finite and > 0, got {e}"),
                    })
                }
                None => meta.mark,
            };
            // The cost basis rounds up: the position is worth qty·mark − cost, never more.
            qty.checked_mul(amt(entry, Rounding::Up, "entry price")?, Rounding::Up)
                .map_err(arith("cost basis"))?
        } else {
            Amount::ZERO
        };
        Ok((ix, qty, cost))
    }

    fn on_sync(
        &mut self,
        now: Timestamp,
        account: &Account,
        owner: &str,
    ) -> Result<(), LiquidationError> {
        if self.is_active(&account.id) {
            return self.record(
                now,
                Some(&account.id),
                RecordKind::Refused,
                "account update refused: the account is under liquidation",
                vec![],
                None,
            );
        }
        if account.positions.len() > MAX_POSITIONS {
            return Err(LiquidationError::Limit(format!(
                "'{}' holds {} positions, more than {MAX_POSITIONS}",
                account.id,
                account.positions.len()
            )));
        }
        for p in &account.positions {
            self.list(&p.instrument)?;
        }
        self.risk.ensure_tables()?;
        let mut target: BTreeMap<UnitId, Amount> = BTreeMap::new();
        for (asset, amount) in &account.collateral {
            if amount.is_negative() {
                return Err(LiquidationError::Invalid {
                    field: format!("{}.collateral[{asset}]", account.id),
                    reason: format!("must be >= 0, got {amount}"),
                });
            }
            let u = self.intern_unit(&Unit::Cash(asset.clone()), UnitKind::Cash(asset.clone()));
            let t = target.entry(u).or_insert(Amount::ZERO);
            *t = t.checked_add(*amount).map_err(arith("account update"))?;
        }
        for p in &account.positions {
            let (ix, qty, cost) = self.position_balances(account, p)?;
            let meta = &self.risk.meta[ix];
            if meta.expired && !qty.is_zero() {
                return Err(LiquidationError::Invalid {
                    field: format!("{}.positions[{}]", account.id, p.instrument),
                    reason: "the instrument has expired and settled".into(),
                });
            }
            for (u, v) in [(meta.qty_unit, qty), (meta.cost_unit, cost)] {
                let t = target.entry(u).or_insert(Amount::ZERO);
                *t = t.checked_add(v).map_err(arith("account update"))?;
            }
        }
        let h = self.ledger.holder(&Holder::Trader(account.id.clone()));
        for (u, _) in self.ledger.holdings(h) {
            target.entry(u).or_insert(Amount::ZERO);
        }
        let mut legs = Vec::new();
        for (u, want) in &target {
            let delta = want
                .checked_sub(self.ledger.balance(h, *u))
                .map_err(arith("account update"))?;
            self.push_leg(&mut legs, self.external, h, *u, delta);
        }
        let changed = legs.len();
        let op = self.new_op(legs);
        let registered = !self.owners.contains_key(&account.id);
        if registered {
            self.owners.insert(account.id.clone(), owner.to_string());
        }
        self.record(
            now,
            Some(&account.id),
            RecordKind::Synced,
            if registered {
                format!(
                    "account {} registered from its state outside the engine",
                    account.id
                )
            } else {
                format!("account {} set to its state outside the engine", account.id)
            },
            vec![("changed_balances", changed.to_string())],
            Some(op),
        )
    }

    /// Settlement value per unit of an expiring instrument at `price`.
    fn settlement_value(instrument: &ale_core::Instrument, price: f64) -> Option<f64> {
        match instrument {
            ale_core::Instrument::Future { .. } => Some(price),
            ale_core::Instrument::Option { strike, kind, .. } => Some(match kind {
                OptionKind::Call => (price - strike.value()).max(0.0),
                OptionKind::Put => (strike.value() - price).max(0.0),
            }),
            _ => None,
        }
    }

    fn on_expire(
        &mut self,
        now: Timestamp,
        instrument: &ale_core::Instrument,
        price: f64,
    ) -> Result<(), LiquidationError> {
        if !(price.is_finite() && price > 0.0) {
            return Err(LiquidationError::Invalid {
                field: "expire.settlement_price".into(),
                reason: format!("must be finite and > 0, got {price}"),
            });
        }
        let (Some(expiry), Some(value)) = (
            instrument.expiry(),
            Self::settlement_value(instrument, price),
        ) else {
            return Err(LiquidationError::Invalid {
                field: "expire.instrument".into(),
                reason: format!("{instrument} does not expire (only options and dated futures do)"),
            });
        };
        let refuse = |engine: &mut Engine, reason: String| {
            engine.record(now, None, RecordKind::Refused, reason, vec![], None)
        };
        if now < expiry.instant() {
            return refuse(
                self,
                format!(
                    "expiry refused: {instrument} expires at {}",
                    expiry.instant()
                ),
            );
        }
        let Some(ix) = self.risk.index_of(instrument) else {
            return self.record(
                now,
                None,
                RecordKind::Settled,
                format!("{instrument} expired at {price}: nobody held it"),
                vec![("instrument", instrument.to_string())],
                None,
            );
        };
        let meta = &self.risk.meta[ix];
        if meta.expired {
            return refuse(
                self,
                format!("expiry refused: {instrument} has already settled"),
            );
        }
        let (qu, cu) = (meta.qty_unit, meta.cost_unit);
        let px = amt(value, Rounding::Down, "settlement value")?;
        // Every holder of the instrument (its quantity or its cost basis), in holder order.
        let holders = self.holders_of(qu, cu);
        let mut legs = Vec::new();
        let mut short: Vec<(HolderId, Amount)> = Vec::new();
        let mut paid_out = Amount::ZERO;
        for (&h, &(q, c)) in &holders {
            self.push_leg(&mut legs, h, self.external, qu, q);
            self.push_leg(&mut legs, h, self.external, cu, c);
            // Rounds toward −∞: the holder receives a little less or pays a little more.
            let cash = q
                .checked_mul(px, Rounding::Down)
                .and_then(|v| v.checked_sub(c))
                .map_err(arith("settlement"))?;
            if cash.raw() >= 0 {
                self.push_leg(&mut legs, self.external, h, self.settle_unit, cash);
                paid_out = paid_out.checked_add(cash).map_err(arith("settlement"))?;
                continue;
            }
            let owed = cash.checked_neg().map_err(arith("settlement"))?;
            let left = self.pay_external(&mut legs, h, owed)?;
            if left.raw() > 0 {
                short.push((h, left));
            }
        }
        let op = self.new_op(legs);
        self.record(
            now,
            None,
            RecordKind::Settled,
            format!("{instrument} expired and settled at {price}"),
            vec![
                ("instrument", instrument.to_string()),
                ("settlement_price", format!("{price}")),
                ("value", px.to_string()),
                ("holders", holders.len().to_string()),
                ("paid_out", paid_out.to_string()),
            ],
            Some(op),
        )?;
        self.risk.expire(ix, value);
        self.cover_shortfalls(now, short, &format!("{instrument} settlement"))
    }

    /// What holders could not pay of a settlement or funding payment owed to `External`: a
    /// trader's goes down the loss waterfall, anyone else's is recorded as socialised loss.
    fn cover_shortfalls(
        &mut self,
        now: Timestamp,
        short: Vec<(HolderId, Amount)>,
        what: &str,
    ) -> Result<(), LiquidationError> {
        for (h, left) in short {
            match self.ledger.holder_of(h).cloned() {
                Some(Holder::Trader(account)) if self.owners.contains_key(&account) => {
                    self.settle(now, &account, Payer::Account(h), self.external, left)?;
                }
                _ => {
                    let mut legs = Vec::new();
                    self.push_leg(
                        &mut legs,
                        self.socialised,
                        self.external,
                        self.settle_unit,
                        left,
                    );
                    let op = self.new_op(legs);
                    let name = self.name_of(h);
                    let creditor = self.name_of(self.external);
                    self.record(
                        now,
                        None,
                        RecordKind::Waterfall,
                        format!("{name} could not pay {left} of its {what}: socialised"),
                        vec![
                            ("step", "socialised_loss".to_string()),
                            ("paid", left.to_string()),
                            ("creditor", creditor),
                        ],
                        Some(op),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Every holder but `External` with a non-zero quantity or cost in (`qu`, `cu`).
    fn holders_of(&self, qu: UnitId, cu: UnitId) -> BTreeMap<HolderId, (Amount, Amount)> {
        let mut holders: BTreeMap<HolderId, (Amount, Amount)> = BTreeMap::new();
        for (holder, unit, v) in self.ledger.entries() {
            if v.is_zero() || matches!(holder, Holder::External) {
                continue;
            }
            let (Some(h), Some(u)) = (self.ledger.holder_id(holder), self.ledger.unit_id(unit))
            else {
                continue;
            };
            if u == qu {
                holders.entry(h).or_insert((Amount::ZERO, Amount::ZERO)).0 = v;
            } else if u == cu {
                holders.entry(h).or_insert((Amount::ZERO, Amount::ZERO)).1 = v;
            }
        }
        holders
    }

    /// Pays `owed` from `h` to `External` as far as its cash goes (all of it for a holder that
    /// may owe cash); returns what is left unpaid.
    fn pay_external(
        &self,
        legs: &mut Vec<Leg>,
        h: HolderId,
        owed: Amount,
    ) -> Result<Amount, LiquidationError> {
        let may_owe = self.ledger.holder_of(h).is_some_and(Holder::may_owe_cash);
        let has = self.ledger.balance(h, self.settle_unit);
        let pay = if may_owe {
            owed
        } else {
            min_amount(owed, has.max(Amount::ZERO))
        };
        self.push_leg(legs, h, self.external, self.settle_unit, pay);
        owed.checked_sub(pay).map_err(arith("payment"))
    }

    fn on_funding(
        &mut self,
        now: Timestamp,
        instrument: &ale_core::Instrument,
        rate: f64,
        price: f64,
    ) -> Result<(), LiquidationError> {
        if !matches!(instrument, ale_core::Instrument::Perpetual { .. }) {
            return Err(LiquidationError::Invalid {
                field: "funding.instrument".into(),
                reason: format!("{instrument} is not a perpetual"),
            });
        }
        if !(rate.is_finite() && rate.abs() < 1.0) {
            return Err(LiquidationError::Invalid {
                field: "funding.rate".into(),
                reason: format!("must be finite and in (-1, 1), got {rate}"),
            });
        }
        if !(price.is_finite() && price > 0.0) {
            return Err(LiquidationError::Invalid {
                field: "funding.price".into(),
                reason: format!("must be finite and > 0, got {price}"),
            });
        }
        let Some(ix) = self.risk.index_of(instrument) else {
            return self.record(
                now,
                None,
                RecordKind::Funding,
                format!("{instrument} funding at {rate}: nobody held it"),
                vec![("instrument", instrument.to_string())],
                None,
            );
        };
        let (qu, cu) = (self.risk.meta[ix].qty_unit, self.risk.meta[ix].cost_unit);
        let per_unit = price * rate;
        let holders = self.holders_of(qu, cu);
        let mut legs = Vec::new();
        let mut short: Vec<(HolderId, Amount)> = Vec::new();
        let mut paid = Amount::ZERO;
        let mut received = Amount::ZERO;
        for (&h, &(q, _)) in &holders {
            // What the holder pays, rounded toward +∞ (against it).
            // The rate per unit rounds so that q · it is the larger (a long's up, a short's down).
            let unit_rounding = if q.is_negative() {
                Rounding::Down
            } else {
                Rounding::Up
            };
            let pays = q
                .checked_mul(amt(per_unit, unit_rounding, "funding")?, Rounding::Up)
                .map_err(arith("funding"))?;
            if pays.raw() > 0 {
                paid = paid.checked_add(pays).map_err(arith("funding"))?;
                let left = self.pay_external(&mut legs, h, pays)?;
                if left.raw() > 0 {
                    short.push((h, left));
                }
            } else if pays.raw() < 0 {
                let gets = pays.checked_neg().map_err(arith("funding"))?;
                received = received.checked_add(gets).map_err(arith("funding"))?;
                self.push_leg(&mut legs, self.external, h, self.settle_unit, gets);
            }
        }
        let op = self.new_op(legs);
        self.record(
            now,
            None,
            RecordKind::Funding,
            format!("{instrument} funding at {rate} per period, price {price}"),
            vec![
                ("instrument", instrument.to_string()),
                ("rate", format!("{rate}")),
                ("price", format!("{price}")),
                ("holders", holders.len().to_string()),
                ("paid", paid.to_string()),
                ("received", received.to_string()),
            ],
            Some(op),
        )?;
        self.cover_shortfalls(now, short, &format!("{instrument} funding"))
    }

    fn on_update_venue(
        &mut self,
        now: Timestamp,
        depth: &crate::params::DepthModel,
        bidders: &[Bidder],
    ) -> Result<(), LiquidationError> {
        let params = LiquidationParams {
            depth: depth.clone(),
            ..self.params.clone()
        };
        params.validate()?;
        for b in bidders {
            validate_bidder(b)?;
            match self.bidders.get(&b.name) {
                None => {
                    return Err(LiquidationError::Unknown {
                        what: "bidder",
                        name: b.name.clone(),
                    })
                }
                Some(known) if known.owner != b.owner => {
                    return Err(LiquidationError::Invalid {
                        field: format!("bidders[{}].owner", b.name),
                        reason: format!("registered under '{}', got '{}'", known.owner, b.owner),
                    })
                }
                Some(_) => {}
            }
        }
        self.params = params;
        for b in bidders {
            self.bidders.insert(b.name.clone(), b.clone());
        }
        self.record(
            now,
            None,
            RecordKind::VenueUpdated,
            format!(
                "order-book model and {} bidders' limits updated",
                bidders.len()
            ),
            vec![("bidders", bidders.len().to_string())],
            None,
        )
    }

    fn on_fill(
        &mut self,
        now: Timestamp,
        holder: &Holder,
        instrument: &ale_core::Instrument,
        size: f64,
        price: f64,
    ) -> Result<(), LiquidationError> {
        let account = match holder {
            Holder::Trader(id) => {
                self.holder_of_account(id)?;
                Some(id.clone())
            }
            Holder::External | Holder::Fees | Holder::SocialisedLoss => {
                return Err(LiquidationError::Invalid {
                    field: "fill.holder".into(),
                    reason: format!("{holder} does not trade"),
                })
            }
            _ => None,
        };
        let refuse = |engine: &mut Engine, reason: String| {
            engine.record(
                now,
                account.as_ref(),
                RecordKind::Refused,
                reason,
                vec![],
                None,
            )
        };
        if account.as_ref().is_some_and(|a| self.is_active(a)) {
            return refuse(
                self,
                "fill refused: the account is frozen under liquidation".into(),
            );
        }
        let dq = match quantity_from_size(size) {
            Ok(q) if !q.is_zero() => q,
            _ => {
                return refuse(
                    self,
                    format!("fill refused: size must be finite and non-zero, got {size}"),
                )
            }
        };
        let is_option = matches!(instrument, ale_core::Instrument::Option { .. });
        if !(price.is_finite() && (price > 0.0 || (is_option && price == 0.0))) {
            return refuse(
                self,
                format!("fill refused: price must be finite and > 0, got {price}"),
            );
        }
        let ix = self.list(instrument)?;
        self.risk.ensure_tables()?;
        let meta = &self.risk.meta[ix];
        if meta.expired {
            return refuse(self, format!("fill refused: {instrument} has expired"));
        }
        let (qty_unit, cost_unit, pnl_style) = (meta.qty_unit, meta.cost_unit, meta.pnl_style);
        let h = self
            .ledger
            .holder_id(holder)
            .ok_or_else(|| LiquidationError::Unknown {
                what: "holder",
                name: holder.to_string(),
            })?;
        // What the holder pays rounds up (toward +∞).
        let value = dq
            .checked_mul(amt(price, Rounding::Up, "price")?, Rounding::Up)
            .map_err(arith("fill"))?;
        let held = self.ledger.balance(h, qty_unit);
        let cost = self.ledger.balance(h, cost_unit);
        let after = held.checked_add(dq).map_err(arith("fill"))?;
        let mut legs = Vec::new();
        self.push_leg(&mut legs, self.external, h, qty_unit, dq);
        let cash_change = if pnl_style {
            if after.is_zero() {
                // Flat: the cost basis (with this fill's) is realised into cash.
                let total = cost.checked_add(value).map_err(arith("fill"))?;
                self.push_leg(
                    &mut legs,
                    self.external,
                    h,
                    cost_unit,
                    cost.checked_neg().map_err(arith("fill"))?,
                );
                total.checked_neg().map_err(arith("fill"))?
            } else {
                self.push_leg(&mut legs, self.external, h, cost_unit, value);
                Amount::ZERO
            }
        } else {
            value.checked_neg().map_err(arith("fill"))?
        };
        let may_owe = holder.may_owe_cash();
        let cash_after = self
            .ledger
            .balance(h, self.settle_unit)
            .checked_add(cash_change)
            .map_err(arith("fill"))?;
        if !may_owe && cash_after.is_negative() {
            return refuse(self, "fill refused: not enough cash to pay for it".into());
        }
        self.push_leg(&mut legs, self.external, h, self.settle_unit, cash_change);
        let op = self.new_op(legs);
        self.record(
            now,
            account.as_ref(),
            RecordKind::Trade,
            format!("{holder} filled {dq} {instrument} at {price}"),
            vec![
                ("holder", holder.to_string()),
                ("instrument", instrument.to_string()),
                ("quantity", dq.to_string()),
                ("price", format!("{price}")),
                ("value", value.to_string()),
            ],
            Some(op),
        )
    }

    fn on_check(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        certificate: Option<&[u8]>,
    ) -> Result<(), LiquidationError> {
        let h = self.holder_of_account(account)?;
        if self.is_active(account) {
            return Ok(());
        }
        let p = self.portfolio_of(h);
        if p.positions.len() > MAX_POSITIONS {
            return Err(LiquidationError::Limit(format!(
                "'{account}' holds more than {MAX_POSITIONS} positions"
            )));
        }
        let health = self.health_of(h, &p)?;
        if !health.is_liquidatable() {
            return Ok(());
        }
        let policy = self.policy_name();
        let mut details = vec![
            ("equity", health.equity.to_string()),
            ("maintenance_margin", health.maintenance.to_string()),
        ];
        // The certificate gate: the engine's decision must be proved by a certificate that the
        // minimal verifier accepts, or nothing starts.
        match gate::check(
            &self.params.certificate_gate,
            certificate,
            account.as_str(),
            policy,
            now.unix_seconds(),
        ) {
            Ok(None) => {}
            Ok(Some(verdict)) => {
                // Fixed point at 10^18 to the ledger's 10^-9 (toward zero: a figure to read).
                let fx = |x: i128| Amount::from_raw(x / 1_000_000_000).to_string();
                details.extend([
                    ("certificate", "verified".to_string()),
                    ("certificate_shortfall", fx(verdict.shortfall)),
                    ("certificate_error_bound", fx(verdict.error)),
                    ("certificate_cost", verdict.cost.total().to_string()),
                ]);
            }
            Err(refusal) => {
                details.extend([
                    ("gate", "certificate".to_string()),
                    ("field", refusal.field()),
                ]);
                return self.record(
                    now,
                    Some(account),
                    RecordKind::Refused,
                    format!("liquidation refused by the certificate gate: {refusal}"),
                    details,
                    None,
                );
            }
        }
        self.record(
            now,
            Some(account),
            RecordKind::Flagged,
            format!("equity below maintenance margin under '{policy}'"),
            details,
            None,
        )?;
        self.record(
            now,
            Some(account),
            RecordKind::Frozen,
            "no withdrawals and no risk-increasing orders until restored or closed",
            vec![],
            None,
        )?;
        self.cases.insert(
            account.clone(),
            Case {
                stage: Stage::Frozen,
                flagged_at: now,
                auction: None,
                sealed_bids: BTreeMap::new(),
                fills: 0,
                fees: Amount::ZERO,
            },
        );
        let notional = self.gross_notional(&p)?;
        if notional < self.params.dust_notional {
            return self.dust_close(now, account, h, notional);
        }
        if health.equity.is_negative() {
            return self.open_auction(now, account, true);
        }
        if self.tier1(now, account, h)? {
            return self.finish(now, account, Stage::Restored);
        }
        // Fees may have taken the last of the equity: then the insolvent auction.
        let p = self.portfolio_of(h);
        let insolvent = self.health_of(h, &p)?.equity.is_negative();
        self.open_auction(now, account, insolvent)
    }

    fn dust_close(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        h: HolderId,
        notional: Amount,
    ) -> Result<(), LiquidationError> {
        let p = self.portfolio_of(h);
        let reason = format!(
            "dust: gross notional {notional} below {}; closed whole by the insurance fund",
            self.params.dust_notional
        );
        for holding in p.positions.iter().filter(|x| !x.qty.is_zero()) {
            let take = Engine::slice(holding, 1.0)?;
            self.execute_take(
                now,
                account,
                h,
                self.fund,
                &take,
                Pricing::Mark {
                    fee_rate: self.params.backstop_fee_rate,
                },
                RecordKind::FundTake,
                &reason,
            )?;
        }
        self.finish(now, account, Stage::Closed)
    }

    /// Tier 1: the insurance fund, then each pool, takes positions at mark with the backstop
    /// fee, within its notional capacity and its own initial margin. True when restored.
    fn tier1(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        h: HolderId,
    ) -> Result<bool, LiquidationError> {
        let pricing = Pricing::Mark {
            fee_rate: self.params.backstop_fee_rate,
        };
        let bf = self.params.auction.buffer_fraction;
        for k in 0..self.takers.len() {
            let p = self.portfolio_of(h);
            let order = self.rank(h, &p, pricing, false)?;
            for instrument in order {
                let p = self.portfolio_of(h);
                if self.health_of(h, &p)?.is_restored(bf)? {
                    return Ok(true);
                }
                let Some(holding) = p
                    .positions
                    .iter()
                    .find(|x| x.instrument == instrument)
                    .copied()
                else {
                    continue;
                };
                let taker = self.takers[k].clone();
                let full = self.notional(instrument, holding.qty)?;
                let mut x_max = 1.0;
                if let Some(max) = taker.max_notional {
                    let room = max.checked_sub(taker.used).map_err(arith("capacity"))?;
                    if room.raw() <= 0 {
                        break;
                    }
                    if full.raw() > 0 {
                        x_max = (room.to_f64() / full.to_f64()).min(1.0);
                    }
                }
                let mut x = self.size_fraction(h, &p, &holding, x_max, pricing)?;
                // The taker must meet its own initial margin afterwards: halve until it does.
                let mut ok = false;
                for _ in 0..MAX_SIZING_STEPS {
                    if x <= 0.0 {
                        break;
                    }
                    let take = Engine::slice(&holding, x)?;
                    let (receipt, fee) = self.price_take(&take, pricing)?;
                    let mut tp = self.portfolio_of(taker.holder);
                    tp.add_position(take.instrument, take.dq, take.dc)?;
                    tp.add_cash(
                        &self.params.settlement_asset,
                        fee.checked_sub(receipt).map_err(arith("taker"))?,
                    )?;
                    let cash_ok = tp.cash_of(&self.params.settlement_asset).raw() >= 0;
                    if cash_ok && self.health_of(taker.holder, &tp)?.meets_initial() {
                        ok = true;
                        break;
                    }
                    x *= 0.5;
                }
                if !ok {
                    continue;
                }
                let take = Engine::slice(&holding, x)?;
                let n = self.notional(instrument, take.dq)?;
                if n < self.params.min_fill_notional && take.dq != holding.qty {
                    continue;
                }
                self.takers[k].used = self.takers[k]
                    .used
                    .checked_add(n)
                    .map_err(arith("capacity"))?;
                let reason = format!(
                    "tier 1: backstop takes {:.6} of the position at mark with a {} fee",
                    x, self.params.backstop_fee_rate
                );
                self.execute_take(
                    now,
                    account,
                    h,
                    taker.holder,
                    &take,
                    pricing,
                    RecordKind::BackstopTake,
                    &reason,
                )?;
            }
        }
        let p = self.portfolio_of(h);
        self.health_of(h, &p)?.is_restored(bf)
    }

    fn open_auction(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        insolvent: bool,
    ) -> Result<(), LiquidationError> {
        let a = &self.params.auction;
        let (length_s, sealed) = if insolvent {
            (a.insolvent_s, false)
        } else {
            match self.params.auction_kind {
                AuctionKind::Dutch => (a.solvent_end_s(), false),
                AuctionKind::Sealed { window_s, .. } => (window_s, true),
            }
        };
        let closes = Timestamp::from_unix_seconds(now.unix_seconds() + length_s.ceil() as i64)
            .ok_or_else(|| LiquidationError::Invalid {
                field: "auction length".into(),
                reason: format!("{length_s} s from {now} is out of range"),
            })?;
        let view = AuctionView {
            opened: now,
            closes,
            insolvent,
            sealed,
        };
        if let Some(case) = self.cases.get_mut(account) {
            case.stage = Stage::Auction;
            case.auction = Some(view);
        }
        let reason = if insolvent {
            "tier 2: insolvent auction (equity < 0), bidders paid by the insurance fund"
        } else if sealed {
            "tier 2: sealed-bid auction"
        } else {
            "tier 2: Dutch auction"
        };
        self.record(
            now,
            Some(account),
            RecordKind::AuctionOpened,
            reason,
            vec![("closes", closes.to_string())],
            None,
        )
    }

    fn refuse_bid(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        bidder: &str,
        reason: String,
    ) -> Result<(), LiquidationError> {
        self.record(
            now,
            Some(account),
            RecordKind::BidRefused,
            reason,
            vec![("bidder", bidder.to_string())],
            None,
        )
    }

    /// Common guards of a bid; the bidder's holder when it may bid.
    fn bid_guards(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        bidder: &str,
    ) -> Result<Option<(HolderId, Bidder, AuctionView)>, LiquidationError> {
        let Some(b) = self.bidders.get(bidder).cloned() else {
            self.refuse_bid(now, account, bidder, format!("unknown bidder '{bidder}'"))?;
            return Ok(None);
        };
        let open = self
            .cases
            .get(account)
            .filter(|c| c.stage == Stage::Auction)
            .and_then(|c| c.auction.map(|a| (a, c.fills)));
        let Some((view, fills)) = open else {
            self.refuse_bid(
                now,
                account,
                bidder,
                "no auction open for this account".into(),
            )?;
            return Ok(None);
        };
        if self.owners.get(account) == Some(&b.owner) {
            self.refuse_bid(
                now,
                account,
                bidder,
                format!(
                    "self-liquidation: bidder and account have the same owner '{}'",
                    b.owner
                ),
            )?;
            return Ok(None);
        }
        if fills >= MAX_AUCTION_FILLS {
            self.refuse_bid(
                now,
                account,
                bidder,
                format!("the auction reached {MAX_AUCTION_FILLS} fills"),
            )?;
            return Ok(None);
        }
        if now >= view.closes {
            self.refuse_bid(now, account, bidder, "the auction has ended".into())?;
            return Ok(None);
        }
        let h = self.ledger.holder(&Holder::Liquidator(b.name.clone()));
        Ok(Some((h, b, view)))
    }

    fn on_bid(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        bidder: &str,
    ) -> Result<(), LiquidationError> {
        let Some((bh, b, view)) = self.bid_guards(now, account, bidder)? else {
            return Ok(());
        };
        if view.sealed {
            return self.refuse_bid(
                now,
                account,
                bidder,
                "this auction takes sealed bids".into(),
            );
        }
        let acct = self.holder_of_account(account)?;
        let p = self.portfolio_of(acct);
        let health = self.health_of(acct, &p)?;
        let elapsed = (now.unix_seconds() - view.opened.unix_seconds()) as f64;
        let q = auction::quote(
            &QuoteInput {
                equity: health.equity.to_f64(),
                maintenance_margin: health.maintenance.to_f64(),
                elapsed_s: elapsed,
                reserved_cash: 0.0,
            },
            &self.params.auction,
        )?;
        if view.insolvent {
            let limit =
                health.equity.to_f64() - b.insolvent_premium_fraction * health.maintenance.to_f64();
            if q.bid_price > limit {
                return self.refuse_bid(
                    now,
                    account,
                    bidder,
                    format!("price {} above the bidder's limit {limit}", q.bid_price),
                );
            }
            return self.fill(now, account, acct, bh, &b, b.max_share, q.bid_price, None);
        }
        if q.discount > b.max_price_fraction {
            return self.refuse_bid(
                now,
                account,
                bidder,
                format!(
                    "price {} of value above the bidder's limit {}",
                    q.discount, b.max_price_fraction
                ),
            );
        }
        // Nudged up by a millionth so that rounding lands the fill on the restored side.
        let f = (q.max_fraction * (1.0 + 1e-6)).min(1.0).min(b.max_share);
        self.fill(now, account, acct, bh, &b, f, f64::NAN, Some(q.discount))
    }

    /// A bidder takes up to `f` of the whole account (positions and collateral). Solvent: it
    /// pays `discount` of the value taken. Insolvent (`discount` None): it is paid
    /// `f·|insolvent_price|` by the insurance fund (down the waterfall).
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        acct: HolderId,
        bh: HolderId,
        b: &Bidder,
        f_max: f64,
        insolvent_price: f64,
        discount: Option<f64>,
    ) -> Result<(), LiquidationError> {
        let p = self.portfolio_of(acct);
        let health = self.health_of(acct, &p)?;
        let rate = self.params.auction.liquidator_fee_rate;
        // The money of a fill of fraction f: (payment by the bidder (negative: to it), fee).
        let money = |f: f64| -> Result<(Amount, Amount), LiquidationError> {
            let fa = amt(f, Rounding::Up, "fraction")?;
            let value = health
                .equity
                .checked_mul(fa, Rounding::Down)
                .map_err(arith("fill value"))?;
            let payment = match discount {
                Some(d) => value
                    .checked_mul(amt(d, Rounding::Down, "discount")?, Rounding::Down)
                    .map_err(arith("fill payment"))?,
                None => amt(f * insolvent_price, Rounding::Down, "insolvent price")?,
            };
            let gain = value
                .checked_sub(payment)
                .map_err(arith("fill gain"))?
                .max(Amount::ZERO);
            let fee = gain
                .checked_mul(amt(rate, Rounding::Up, "fee rate")?, Rounding::Up)
                .map_err(arith("fill fee"))?;
            Ok((payment, fee))
        };
        let slices = |engine: &Engine, f: f64| -> Result<Slices, LiquidationError> {
            let mut takes = Vec::new();
            for h in p
                .positions
                .iter()
                .filter(|h| !h.qty.is_zero() || !h.cost.is_zero())
            {
                takes.push(Engine::slice(h, f)?);
            }
            let mut cash = Vec::new();
            for (asset, v) in &p.cash {
                if v.raw() <= 0 {
                    continue;
                }
                let share = if f >= 1.0 {
                    *v
                } else {
                    // The bidder's share of collateral rounds down (it takes no more than f).
                    v.checked_mul(amt(f, Rounding::Down, "fraction")?, Rounding::Down)
                        .map_err(arith("collateral share"))?
                };
                if let Some(u) = engine.ledger.unit_id(&Unit::Cash(asset.clone())) {
                    cash.push((u, asset.clone(), share));
                }
            }
            Ok((takes, cash))
        };
        // The largest f ≤ f_max (halving) the bidder can pay for and still meet its initial
        // margin.
        let mut f = f_max;
        let mut best = 0.0;
        for _ in 0..MAX_SIZING_STEPS {
            if f <= 1e-9 {
                break;
            }
            let (payment, fee) = money(f)?;
            let (takes, cash) = slices(self, f)?;
            let mut bp = self.portfolio_of(bh);
            for t in &takes {
                bp.add_position(t.instrument, t.dq, t.dc)?;
            }
            for (_, asset, v) in &cash {
                bp.add_cash(asset, *v)?;
            }
            let out = payment.checked_add(fee).map_err(arith("fill"))?;
            bp.add_cash(
                &self.params.settlement_asset,
                out.checked_neg().map_err(arith("fill"))?,
            )?;
            let cash_ok = bp.cash_of(&self.params.settlement_asset).raw() >= 0;
            if cash_ok && self.health_of(bh, &bp)?.meets_initial() {
                best = f;
                break;
            }
            f *= 0.5;
        }
        if best <= 0.0 {
            return self.refuse_bid(
                now,
                account,
                &b.name,
                "bidder collateral: it would not meet its initial margin (or cash) after buying"
                    .into(),
            );
        }
        let f = best;
        let (payment, fee) = money(f)?;
        let (takes, cash) = slices(self, f)?;
        let mut notional = Amount::ZERO;
        for t in &takes {
            notional = notional
                .checked_add(self.notional(t.instrument, t.dq)?)
                .map_err(arith("notional"))?;
        }
        if notional < self.params.min_fill_notional && f < 1.0 {
            return self.refuse_bid(
                now,
                account,
                &b.name,
                format!(
                    "fill notional {notional} below the minimum {}",
                    self.params.min_fill_notional
                ),
            );
        }
        // The bidder's limit for this fill, formed the way the payment is (so that the check
        // `paid <= limit` is exact): solvent, value · max_price_fraction; insolvent,
        // f · (E − premium · M).
        let value_taken = health
            .equity
            .checked_mul(amt(f, Rounding::Up, "fraction")?, Rounding::Down)
            .map_err(arith("value"))?;
        let limit = match discount {
            Some(_) => value_taken
                .checked_mul(
                    amt(b.max_price_fraction, Rounding::Down, "limit")?,
                    Rounding::Down,
                )
                .map_err(arith("limit"))?,
            None => amt(
                f * (health.equity.to_f64()
                    - b.insolvent_premium_fraction * health.maintenance.to_f64()),
                Rounding::Down,
                "limit",
            )?,
        };
        let mut legs = Vec::new();
        for t in &takes {
            self.take_legs(&mut legs, acct, bh, t);
        }
        for (u, _, v) in &cash {
            self.push_leg(&mut legs, acct, bh, *u, *v);
        }
        if payment.raw() > 0 {
            self.push_leg(&mut legs, bh, acct, self.settle_unit, payment);
        }
        let insolvent = discount.is_none();
        if !insolvent && fee.raw() > 0 {
            self.push_leg(&mut legs, bh, self.fees, self.settle_unit, fee);
        }
        let op = self.new_op(legs);
        let details = vec![
            ("bidder", b.name.clone()),
            ("fraction", format!("{f}")),
            (
                "discount",
                discount.map_or("insolvent".into(), |d| format!("{d}")),
            ),
            ("value", value_taken.to_string()),
            ("limit", limit.to_string()),
            ("paid", payment.to_string()),
            ("fee", fee.to_string()),
        ];
        self.record(
            now,
            Some(account),
            RecordKind::AuctionFill,
            if insolvent {
                "tier 2: insolvent auction fill".to_string()
            } else {
                "tier 2: auction fill at the current price".to_string()
            },
            details,
            Some(op),
        )?;
        if let Some(case) = self.cases.get_mut(account) {
            case.fills += 1;
            case.fees = case.fees.checked_add(fee).map_err(arith("fees"))?;
        }
        if insolvent {
            if payment.is_negative() {
                let owed = payment.checked_neg().map_err(arith("fill"))?;
                self.settle(now, account, Payer::Fund, bh, owed)?;
            }
            if fee.raw() > 0 {
                let mut legs = Vec::new();
                let fee = min_amount(fee, self.ledger.balance(bh, self.settle_unit));
                self.push_leg(&mut legs, bh, self.fees, self.settle_unit, fee);
                let op = self.new_op(legs);
                self.record(
                    now,
                    Some(account),
                    RecordKind::AuctionFill,
                    "liquidator fee of the insolvent fill",
                    vec![("bidder", b.name.clone()), ("fee", fee.to_string())],
                    Some(op),
                )?;
            }
        }
        let p = self.portfolio_of(acct);
        if p.is_flat() {
            return self.finish(now, account, Stage::Closed);
        }
        if !insolvent
            && self
                .health_of(acct, &p)?
                .is_restored(self.params.auction.buffer_fraction)?
        {
            return self.finish(now, account, Stage::Restored);
        }
        Ok(())
    }

    fn on_sealed_bid(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        bidder: &str,
        price_fraction: f64,
    ) -> Result<(), LiquidationError> {
        let Some((_, b, view)) = self.bid_guards(now, account, bidder)? else {
            return Ok(());
        };
        if !view.sealed {
            return self.refuse_bid(
                now,
                account,
                bidder,
                "this auction is not sealed-bid".into(),
            );
        }
        if !(0.0..=1.0).contains(&price_fraction) {
            return self.refuse_bid(
                now,
                account,
                bidder,
                format!("price_fraction must be in [0, 1], got {price_fraction}"),
            );
        }
        if price_fraction > b.max_price_fraction {
            return self.refuse_bid(
                now,
                account,
                bidder,
                format!(
                    "bid {price_fraction} above the bidder's limit {}",
                    b.max_price_fraction
                ),
            );
        }
        if let Some(case) = self.cases.get_mut(account) {
            case.sealed_bids.insert(bidder.to_string(), price_fraction);
        }
        self.record(
            now,
            Some(account),
            RecordKind::SealedBidAccepted,
            "sealed bid accepted",
            vec![
                ("bidder", bidder.to_string()),
                ("price_fraction", format!("{price_fraction}")),
            ],
            None,
        )
    }

    fn on_market(
        &mut self,
        now: Timestamp,
        snapshot: &MarketSnapshot,
    ) -> Result<(), LiquidationError> {
        self.risk.replace_market(snapshot.clone())?;
        let bf = self.params.auction.buffer_fraction;
        // Open auctions, in account order (deterministic).
        for (account, view) in self.open_auctions() {
            let acct = self.holder_of_account(&account)?;
            let p = self.portfolio_of(acct);
            let health = self.health_of(acct, &p)?;
            let insolvent = health.equity.is_negative();
            let reason = if health.is_restored(bf)? {
                "the market moved: the account is back at the buffer margin; the auction ends"
            } else if insolvent && !view.insolvent {
                "the market moved: equity below zero; the solvent auction ends"
            } else if !insolvent && view.insolvent {
                "the market moved: equity back above zero; the insolvent auction ends"
            } else {
                // Still in the same auction: it re-prices at the next bid (the quote is taken
                // on the account's equity and margin at the market in force).
                continue;
            };
            self.record(
                now,
                Some(&account),
                RecordKind::AuctionEnded,
                reason,
                vec![
                    ("equity", health.equity.to_string()),
                    ("maintenance_margin", health.maintenance.to_string()),
                ],
                None,
            )?;
            if let Some(case) = self.cases.get_mut(&account) {
                case.stage = Stage::Frozen;
                case.sealed_bids.clear();
            }
            if health.is_restored(bf)? {
                self.finish(now, &account, Stage::Restored)?;
            } else if insolvent {
                self.open_auction(now, &account, true)?;
            } else if self.tier1(now, &account, acct)? {
                self.finish(now, &account, Stage::Restored)?;
            } else {
                let p = self.portfolio_of(acct);
                let insolvent = self.health_of(acct, &p)?.equity.is_negative();
                self.open_auction(now, &account, insolvent)?;
            }
        }
        Ok(())
    }

    fn on_tick(&mut self, now: Timestamp) -> Result<(), LiquidationError> {
        let due: Vec<(AccountId, AuctionView)> = self
            .open_auctions()
            .into_iter()
            .filter(|(_, a)| now >= a.closes)
            .collect();
        for (account, view) in due {
            self.end_auction(now, &account, view)?;
        }
        Ok(())
    }

    fn end_auction(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        view: AuctionView,
    ) -> Result<(), LiquidationError> {
        self.record(
            now,
            Some(account),
            RecordKind::AuctionEnded,
            "the auction's time is up",
            vec![],
            None,
        )?;
        if let Some(case) = self.cases.get_mut(account) {
            case.stage = Stage::Frozen;
        }
        let acct = self.holder_of_account(account)?;
        if view.insolvent {
            return self.insolvent_remainder(now, account, acct);
        }
        let bf = self.params.auction.buffer_fraction;
        if view.sealed {
            self.resolve_sealed(now, account, acct)?;
            if !self.is_active(account) {
                return Ok(());
            }
        }
        if self.tier3(now, account, acct)? {
            return self.finish(now, account, Stage::Restored);
        }
        // What remains falls to the insurance fund, hedges included, until restored or flat.
        let pricing = Pricing::Mark {
            fee_rate: self.params.backstop_fee_rate,
        };
        let p = self.portfolio_of(acct);
        let order = self.rank(acct, &p, pricing, true)?;
        for instrument in order {
            let p = self.portfolio_of(acct);
            let health = self.health_of(acct, &p)?;
            if health.is_restored(bf)? {
                return self.finish(now, account, Stage::Restored);
            }
            if health.equity.is_negative() {
                // Nothing partial can help any more: the fund takes everything.
                return self.insolvent_remainder(now, account, acct);
            }
            let Some(holding) = p
                .positions
                .iter()
                .find(|x| x.instrument == instrument)
                .copied()
            else {
                continue;
            };
            let x = self.size_fraction(acct, &p, &holding, 1.0, pricing)?;
            if x <= 0.0 {
                continue;
            }
            let take = Engine::slice(&holding, x)?;
            self.execute_take(
                now,
                account,
                acct,
                self.fund,
                &take,
                pricing,
                RecordKind::FundTake,
                "what the market could not absorb falls to the insurance fund",
            )?;
        }
        let p = self.portfolio_of(acct);
        let health = self.health_of(acct, &p)?;
        if health.is_restored(bf)? {
            return self.finish(now, account, Stage::Restored);
        }
        if health.equity.is_negative() {
            return self.insolvent_remainder(now, account, acct);
        }
        // Solvent but not restorable by parts: the fund takes every remaining position at mark.
        for holding in p.positions.iter().filter(|x| !x.qty.is_zero()) {
            let take = Engine::slice(holding, 1.0)?;
            self.execute_take(
                now,
                account,
                acct,
                self.fund,
                &take,
                pricing,
                RecordKind::FundTake,
                "beyond help by parts: the insurance fund takes the position whole",
            )?;
        }
        self.finish(now, account, Stage::Closed)
    }

    fn resolve_sealed(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        acct: HolderId,
    ) -> Result<(), LiquidationError> {
        let pricing = match self.params.auction_kind {
            AuctionKind::Sealed { pricing, .. } => pricing,
            AuctionKind::Dutch => SealedPricing::FirstPrice,
        };
        let mut bids: Vec<(String, f64)> = self
            .cases
            .get(account)
            .map(|c| c.sealed_bids.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default();
        // Highest first; ties by name (deterministic).
        bids.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for i in 0..bids.len() {
            if !self.is_active(account) {
                break;
            }
            let (name, own) = &bids[i];
            let price = match pricing {
                SealedPricing::FirstPrice => *own,
                SealedPricing::SecondPrice => bids.get(i + 1).map_or(*own, |x| x.1),
            };
            let Some(b) = self.bidders.get(name).cloned() else {
                continue;
            };
            let bh = self.ledger.holder(&Holder::Liquidator(name.clone()));
            let p = self.portfolio_of(acct);
            let health = self.health_of(acct, &p)?;
            let e = health.equity.to_f64();
            let m = health.maintenance.to_f64();
            let buffer = auction::buffer_margin(e, m, self.params.auction.buffer_fraction);
            let denominator = buffer - e * price;
            let f = if buffer >= 0.0 {
                0.0
            } else if denominator < 0.0 {
                (buffer / denominator).clamp(0.0, 1.0)
            } else {
                1.0
            };
            if f <= 0.0 {
                break;
            }
            if let Some(case) = self.cases.get_mut(account) {
                case.stage = Stage::Auction;
            }
            let f = (f * (1.0 + 1e-6)).min(1.0).min(b.max_share);
            self.fill(now, account, acct, bh, &b, f, f64::NAN, Some(price))?;
            if let Some(case) = self.cases.get_mut(account) {
                if case.stage == Stage::Auction {
                    case.stage = Stage::Frozen;
                }
            }
        }
        Ok(())
    }

    /// Tier 3: positions sold into the order book, best first, within the slippage cap and the
    /// per-underlying notional cap. True when restored.
    fn tier3(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        acct: HolderId,
    ) -> Result<bool, LiquidationError> {
        let bf = self.params.auction.buffer_fraction;
        let p = self.portfolio_of(acct);
        let order = self.rank(acct, &p, Pricing::Market, false)?;
        for instrument in order {
            let p = self.portfolio_of(acct);
            let health = self.health_of(acct, &p)?;
            if health.is_restored(bf)? {
                return Ok(true);
            }
            if health.equity.is_negative() {
                return Ok(false);
            }
            let Some(holding) = p
                .positions
                .iter()
                .find(|x| x.instrument == instrument)
                .copied()
            else {
                continue;
            };
            let underlying = self.risk.meta[instrument].underlying.clone();
            let full = self.notional(instrument, holding.qty)?.to_f64();
            let mut room = self.params.depth_capacity().unwrap_or(f64::INFINITY);
            if let Some(cap) = self.params.notional_cap {
                let window = self.sold.entry(underlying.clone()).or_default();
                while window
                    .front()
                    .is_some_and(|(t, _)| t.unix_seconds() <= now.unix_seconds() - cap.window_s)
                {
                    window.pop_front();
                }
                let used: f64 = window.iter().map(|(_, a)| a.to_f64()).sum();
                room = room.min((cap.max_notional.to_f64() - used).max(0.0));
            }
            let x_max = if full > 0.0 {
                (room / full).min(1.0)
            } else {
                1.0
            };
            if x_max <= 0.0 {
                continue;
            }
            let x = self.size_fraction(acct, &p, &holding, x_max, Pricing::Market)?;
            if x <= 0.0 {
                continue;
            }
            let take = Engine::slice(&holding, x)?;
            let n = self.notional(instrument, take.dq)?;
            if n < self.params.min_fill_notional && take.dq != holding.qty {
                continue;
            }
            if self.params.notional_cap.is_some() {
                self.sold.entry(underlying).or_default().push_back((now, n));
            }
            let reason = format!(
                "tier 3: market sale at {:.4}% average slippage (cap {}%)",
                100.0 * self.params.average_slippage(n.to_f64()),
                100.0 * self.params.max_slippage
            );
            self.execute_take(
                now,
                account,
                acct,
                self.external,
                &take,
                Pricing::Market,
                RecordKind::MarketSale,
                &reason,
            )?;
        }
        let p = self.portfolio_of(acct);
        self.health_of(acct, &p)?.is_restored(bf)
    }

    /// The insurance fund takes every position and all collateral of an account that no tier
    /// could restore; the loss (negative equity) goes down the waterfall.
    fn insolvent_remainder(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        acct: HolderId,
    ) -> Result<(), LiquidationError> {
        let p = self.portfolio_of(acct);
        let mut health = self.health_of(acct, &p)?;
        if self.params.loss_mode == LossMode::AutoDeleverage && health.equity.is_negative() {
            self.auto_deleverage(now, account, acct, &p, health.equity)?;
            health = self.health_of(acct, &self.portfolio_of(acct))?;
        }
        let p = self.portfolio_of(acct);
        let mut legs = Vec::new();
        for h in &p.positions {
            let take = Take {
                instrument: h.instrument,
                dq: h.qty,
                dc: h.cost,
            };
            self.take_legs(&mut legs, acct, self.fund, &take);
        }
        for (u, v) in self.ledger.holdings(acct).collect::<Vec<_>>() {
            if matches!(self.unit_kinds[u.0 as usize], UnitKind::Cash(_)) && v.raw() > 0 {
                self.push_leg(&mut legs, acct, self.fund, u, v);
            }
        }
        if legs.is_empty() && !health.equity.is_negative() {
            // Nothing left to take (auto-deleveraging closed it all).
            return self.finish(now, account, Stage::Closed);
        }
        let op = self.new_op(legs);
        self.record(
            now,
            Some(account),
            RecordKind::FundTake,
            "closed: the insurance fund takes every position and the account's collateral",
            vec![("equity", health.equity.to_string())],
            Some(op),
        )?;
        self.ledger.check_balanced()?;
        if health.equity.is_negative() {
            let loss = health.equity.checked_neg().map_err(arith("loss"))?;
            self.settle(now, account, Payer::Fund, self.fund, loss)?;
        }
        self.finish(now, account, Stage::Closed)
    }

    /// Auto-deleveraging (the last step of the loss waterfall under `LossMode::AutoDeleverage`),
    /// run when the insolvent auction is over and before the insurance fund takes what remains:
    /// the part of the loss `−equity` that the fund (within its equity) and backstop credit
    /// cannot bear is covered by closing the futures and perpetuals of the bankrupt account
    /// against the opposite positions of other traders at the account's **bankruptcy price** —
    /// every delta-one position moved against the account by the same fraction λ = loss / gross
    /// delta-one notional of its mark, the prices at which its equity would be zero. Only that
    /// part of each position is closed (the fraction need / loss, then, if some instrument had
    /// too few counterparties, more of the others), so the fund and credit still bear theirs.
    ///
    /// Counterparties, per instrument: opposite positions with an unrealised profit, of traders
    /// not under liquidation and with positive equity, ranked by profit ratio (unrealised profit
    /// / entry notional) × effective leverage (gross notional / equity), highest first (ties by
    /// name); each closes at most its position, and at most what costs it its unrealised profit
    /// on it. A trade moves quantity and cost basis from the account to the counterparty — the
    /// cost at the bankruptcy price, so no cash changes hands and nobody's cash can go
    /// negative — and a position it leaves at zero quantity is settled: its remaining cost
    /// basis is paid out in cash against `External` (value-neutral). What no counterparty can
    /// take stays with the account and goes down the rest of the waterfall (the fund, credit,
    /// socialised loss).
    fn auto_deleverage(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        acct: HolderId,
        p: &Portfolio,
        equity: Amount,
    ) -> Result<(), LiquidationError> {
        let loss = equity.checked_neg().map_err(arith("adl loss"))?;
        // What the waterfall's steps 2 and 3 can bear: the fund within its equity, the credit.
        let fund_p = self.portfolio_of(self.fund);
        let fund_equity = self.health_of(self.fund, &fund_p)?.equity.max(Amount::ZERO);
        let mut capacity = fund_equity;
        for h in self.providers.values() {
            let c = self.ledger.balance(*h, self.settle_unit).max(Amount::ZERO);
            capacity = capacity.checked_add(c).map_err(arith("adl capacity"))?;
        }
        let need = loss.checked_sub(capacity).map_err(arith("adl need"))?;
        if need.raw() <= 0 {
            return Ok(());
        }
        // The delta-one positions, largest notional first, and the bankruptcy move λ.
        let mut rows: Vec<(Amount, Holding)> = Vec::new();
        let mut gross = Amount::ZERO;
        for h in &p.positions {
            let meta = &self.risk.meta[h.instrument];
            if !meta.pnl_style || h.qty.is_zero() || meta.mark.is_nan() || meta.mark <= 0.0 {
                continue;
            }
            let n = self.notional(h.instrument, h.qty)?;
            gross = gross.checked_add(n).map_err(arith("adl notional"))?;
            rows.push((n, *h));
        }
        if gross.raw() <= 0 {
            return Ok(());
        }
        rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.instrument.cmp(&b.1.instrument)));
        let lambda = loss.to_f64() / gross.to_f64();
        let mut left = need;
        // Pass 0: each instrument by the same fraction need / loss of its position; pass 1:
        // whatever is still needed, from any instrument with counterparties left.
        for pass in 0..2 {
            for (_, original) in &rows {
                if left.raw() <= 0 {
                    return Ok(());
                }
                let ix = original.instrument;
                let held = self.ledger.balance(acct, self.risk.meta[ix].qty_unit);
                if held.is_zero() || held.is_negative() != original.qty.is_negative() {
                    continue;
                }
                let abs = |a: Amount| a.checked_abs().map_err(arith("adl"));
                let room = if pass == 0 {
                    // need / loss of the original position (rounded up), less what is closed.
                    let target = min_amount(
                        abs(original.qty)?
                            .checked_mul_div(need, loss, Rounding::Up)
                            .map_err(arith("adl room"))?,
                        abs(original.qty)?,
                    );
                    let done = abs(original.qty.checked_sub(held).map_err(arith("adl"))?)?;
                    target
                        .checked_sub(done)
                        .map_err(arith("adl room"))?
                        .max(Amount::ZERO)
                } else {
                    abs(held)?
                };
                self.deleverage_instrument(now, account, acct, ix, room, lambda, &mut left)?;
            }
        }
        Ok(())
    }

    /// Closes up to `room` (units of the underlying, 10⁻⁹) of the account's position in
    /// instrument `ix` against its ranked counterparties at the bankruptcy price mark·(1 ± λ),
    /// until `left` (the value still to cover) is covered. See [`Engine::auto_deleverage`].
    #[allow(clippy::too_many_arguments)]
    fn deleverage_instrument(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        acct: HolderId,
        ix: usize,
        room: Amount,
        lambda: f64,
        left: &mut Amount,
    ) -> Result<(), LiquidationError> {
        let meta = self.risk.meta[ix].clone();
        let held = self.ledger.balance(acct, meta.qty_unit);
        let long = !held.is_negative();
        let abs = |a: Amount| a.checked_abs().map_err(arith("adl"));
        // The bankruptcy price, rounded in the counterparty's favour: it buys the account's long
        // a hair cheaper (down), sells it its short a hair dearer (up).
        let (px, rounding) = if long {
            (meta.mark * (1.0 + lambda), Rounding::Down)
        } else {
            (meta.mark * (1.0 - lambda), Rounding::Up)
        };
        if !(px > 0.0 && px.is_finite()) {
            return Ok(());
        }
        let px = amt(px, rounding, "bankruptcy price")?;
        let mark = amt(meta.mark, Rounding::Up, "mark")?;
        // Per unit, what the counterparty gives up: |bankruptcy price − mark|.
        let per_unit = abs(px.checked_sub(mark).map_err(arith("adl"))?)?;
        if per_unit.raw() <= 0 {
            return Ok(());
        }
        let one = Amount::from_units(1);
        let mut room = room;
        for (name, h, qty, profit) in self.adl_queue(account, ix, long)? {
            if left.raw() <= 0 || room.raw() <= 0 {
                break;
            }
            let held_now = self.ledger.balance(acct, meta.qty_unit);
            // The counterparty's position, the room, what covers the rest of the loss (rounded
            // up), what costs the counterparty no more than its profit (rounded down).
            let cover = left
                .checked_mul_div(one, per_unit, Rounding::Up)
                .map_err(arith("adl quantity"))?;
            let within_profit = amt(profit, Rounding::Down, "profit")?
                .checked_mul_div(one, per_unit, Rounding::Down)
                .map_err(arith("adl quantity"))?;
            let units = [abs(qty)?, room, cover, within_profit, abs(held_now)?]
                .into_iter()
                .fold(abs(qty)?, min_amount);
            if units.raw() <= 0 {
                continue;
            }
            let dq = if long {
                units
            } else {
                units.checked_neg().map_err(arith("adl quantity"))?
            };
            // The cost basis moves at the bankruptcy price, rounded toward −∞: the counterparty
            // (whose position is worth qty·mark − cost) is never short-changed by rounding.
            let cost = dq
                .checked_mul(px, Rounding::Down)
                .map_err(arith("adl cost"))?;
            let mut legs = Vec::new();
            self.push_leg(&mut legs, acct, h, meta.qty_unit, dq);
            self.push_leg(&mut legs, acct, h, meta.cost_unit, cost);
            // A position closed to zero quantity is settled: its remaining cost basis is paid in
            // cash against the outside world (a cost c is worth −c: value-neutral).
            let after = [
                (
                    h,
                    qty.checked_add(dq).map_err(arith("adl"))?,
                    self.ledger
                        .balance(h, meta.cost_unit)
                        .checked_add(cost)
                        .map_err(arith("adl"))?,
                ),
                (
                    acct,
                    held_now.checked_sub(dq).map_err(arith("adl"))?,
                    self.ledger
                        .balance(acct, meta.cost_unit)
                        .checked_sub(cost)
                        .map_err(arith("adl"))?,
                ),
            ];
            for (holder, qty_after, cost_after) in after {
                let cash = self.ledger.balance(holder, self.settle_unit);
                if qty_after.is_zero() && !cost_after.is_zero() && cash >= cost_after {
                    self.push_leg(&mut legs, holder, self.external, meta.cost_unit, cost_after);
                    self.push_leg(
                        &mut legs,
                        holder,
                        self.external,
                        self.settle_unit,
                        cost_after,
                    );
                }
            }
            // What the trade moves to the account: cost − dq·mark.
            let value = cost
                .checked_sub(
                    dq.checked_mul(mark, Rounding::Up)
                        .map_err(arith("adl value"))?,
                )
                .map_err(arith("adl value"))?
                .max(Amount::ZERO);
            let op = self.new_op(legs);
            let account_name = self.name_of(acct);
            self.record(
                now,
                Some(account),
                RecordKind::Waterfall,
                format!(
                    "auto-deleveraging: '{name}' closes {units} {} against the account at its bankruptcy price",
                    meta.instrument
                ),
                vec![
                    ("step", "auto_deleverage".to_string()),
                    ("paid", value.to_string()),
                    ("creditor", account_name),
                    ("counterparty", name.clone()),
                    ("instrument", meta.instrument.to_string()),
                    ("quantity", dq.to_string()),
                    ("bankruptcy_price", px.to_string()),
                    ("mark", mark.to_string()),
                ],
                Some(op),
            )?;
            self.ledger.check_balanced()?;
            *left = left.checked_sub(value).map_err(arith("adl"))?;
            room = room.checked_sub(units).map_err(arith("adl"))?;
        }
        Ok(())
    }

    /// The auto-deleveraging queue of instrument `ix` against an account that is long
    /// (`long`) or short in it: (trader, holder, its quantity, its unrealised profit on the
    /// position), highest rank first. Rank = profit ratio × effective leverage, as on the
    /// venues that run ADL (BitMEX, Binance, Bybit): profit / |entry notional| × gross notional /
    /// equity.
    fn adl_queue(
        &mut self,
        account: &AccountId,
        ix: usize,
        long: bool,
    ) -> Result<Vec<(String, HolderId, Amount, f64)>, LiquidationError> {
        let candidates = self.other_traders(account);
        let mut ranked: Vec<(f64, String, HolderId, Amount, f64)> = Vec::new();
        for (id, h) in candidates {
            let p = self.portfolio_of(h);
            let Some(x) = p.positions.iter().find(|x| x.instrument == ix).copied() else {
                continue;
            };
            // Opposite side only.
            if x.qty.is_zero() || x.qty.is_negative() != long {
                continue;
            }
            let mark = self.risk.meta[ix].mark;
            let profit = x.qty.to_f64() * mark - x.cost.to_f64();
            let entry_notional = x.cost.to_f64().abs();
            if !(profit > 0.0 && entry_notional > 0.0) {
                continue;
            }
            let health = self.health_of(h, &p)?;
            if health.equity_f64.is_nan() || health.equity_f64 <= 0.0 {
                continue;
            }
            let gross: f64 = p
                .positions
                .iter()
                .map(|y| y.qty.to_f64().abs() * self.risk.meta[y.instrument].mark.abs())
                .sum();
            let score = profit / entry_notional * (gross / health.equity_f64);
            if score.is_finite() {
                ranked.push((score, id.to_string(), h, x.qty, profit));
            }
        }
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(ranked
            .into_iter()
            .map(|(_, name, h, qty, profit)| (name, h, qty, profit))
            .collect())
    }

    /// Ends a case: socialises any recorded loss, pays the credit providers' premium, logs the
    /// outcome and unfreezes the account.
    fn finish(
        &mut self,
        now: Timestamp,
        account: &AccountId,
        stage: Stage,
    ) -> Result<(), LiquidationError> {
        self.socialise(now, account)?;
        self.pay_premium(now, account)?;
        let acct = self.holder_of_account(account)?;
        let p = self.portfolio_of(acct);
        let health = self.health_of(acct, &p)?;
        if let Some(case) = self.cases.get_mut(account) {
            case.stage = stage;
        }
        let (kind, reason) = match stage {
            Stage::Closed => (RecordKind::Closed, "no position left; unfrozen"),
            _ => (
                RecordKind::Restored,
                "equity back at the buffer margin; unfrozen",
            ),
        };
        self.record(
            now,
            Some(account),
            kind,
            reason,
            vec![
                ("equity", health.equity.to_string()),
                ("maintenance_margin", health.maintenance.to_string()),
            ],
            None,
        )
    }

    /// Every registered trader but `account` not under liquidation, with its ledger holder: the
    /// accounts ADL and socialised loss may draw on.
    fn other_traders(&self, account: &AccountId) -> Vec<(AccountId, HolderId)> {
        self.owners
            .keys()
            .filter(|id| *id != account && !self.is_active(id))
            .filter_map(|id| {
                self.ledger
                    .holder_id(&Holder::Trader(id.clone()))
                    .map(|h| (id.clone(), h))
            })
            .collect()
    }

    /// Charges a negative socialised-loss balance to traders, pro rata to their settlement cash,
    /// never below zero.
    fn socialise(&mut self, now: Timestamp, account: &AccountId) -> Result<(), LiquidationError> {
        let balance = self.ledger.balance(self.socialised, self.settle_unit);
        if !balance.is_negative() {
            return Ok(());
        }
        let loss = balance.checked_neg().map_err(arith("socialised"))?;
        let candidates = self.other_traders(account);
        let cash: Vec<Amount> = candidates
            .iter()
            .map(|(_, h)| self.ledger.balance(*h, self.settle_unit).max(Amount::ZERO))
            .collect();
        // Under auto-deleveraging too: what ADL could not cover (no opposite profitable
        // position, or a loss that arose when no position of the account was left to close)
        // falls on everyone, pro rata.
        let shares = pro_rata(loss, &cash, &cash)?;
        for ((id, h), share) in candidates.iter().zip(shares) {
            if share.raw() <= 0 {
                continue;
            }
            let mut legs = Vec::new();
            self.push_leg(&mut legs, *h, self.socialised, self.settle_unit, share);
            let op = self.new_op(legs);
            self.record(
                now,
                Some(account),
                RecordKind::SocialisedCharge,
                match self.params.loss_mode {
                    LossMode::SocialisedProRata => "socialised loss, pro rata to settlement cash",
                    LossMode::AutoDeleverage => {
                        "socialised loss that auto-deleveraging could not cover, pro rata to settlement cash"
                    }
                },
                vec![("trader", id.to_string()), ("charged", share.to_string())],
                Some(op),
            )?;
            self.ledger.check_balanced()?;
        }
        Ok(())
    }

    fn pay_premium(&mut self, now: Timestamp, account: &AccountId) -> Result<(), LiquidationError> {
        let fees = self.cases.get(account).map_or(Amount::ZERO, |c| c.fees);
        if fees.raw() <= 0 || self.providers.is_empty() {
            return Ok(());
        }
        // The premium is a payout: rounds down.
        let premium = min_amount(
            fees.checked_mul(
                amt(
                    self.params.credit_premium_rate,
                    Rounding::Down,
                    "premium rate",
                )?,
                Rounding::Down,
            )
            .map_err(arith("premium"))?,
            self.ledger.balance(self.fees, self.settle_unit),
        );
        let holders: Vec<(String, HolderId)> = self
            .providers
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let weights: Vec<Amount> = holders
            .iter()
            .map(|(_, h)| self.ledger.balance(*h, self.settle_unit).max(Amount::ZERO))
            .collect();
        let caps = vec![premium; holders.len()];
        let shares = pro_rata(premium, &weights, &caps)?;
        for ((name, h), s) in holders.iter().zip(shares) {
            if s.raw() <= 0 {
                continue;
            }
            let mut legs = Vec::new();
            self.push_leg(&mut legs, self.fees, *h, self.settle_unit, s);
            let op = self.new_op(legs);
            self.record(
                now,
                Some(account),
                RecordKind::Premium,
                "backstop-credit premium: a share of the liquidation's fees",
                vec![("provider", name.clone()), ("premium", s.to_string())],
                Some(op),
            )?;
        }
        if let Some(case) = self.cases.get_mut(account) {
            case.fees = Amount::ZERO;
        }
        Ok(())
    }
}

/// Rebuilds a ledger from a log: applies every record's operation, in order, to a ledger with
/// the same holders and units interned. The result equals the ledger that wrote the log.
pub fn replay(like: &Ledger, log: &[Record]) -> Result<Ledger, LiquidationError> {
    let mut ledger = like.empty_like();
    for r in log {
        if let Some(op) = &r.op {
            ledger.apply(op)?;
        }
    }
    Ok(ledger)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(raw: i128) -> Amount {
        Amount::from_raw(raw)
    }

    #[test]
    fn pro_rata_splits_exactly_within_caps() {
        // 10 nano-units over weights 1:1:1 — 3 each, the last one to the first.
        let s = pro_rata(a(10), &[a(5), a(5), a(5)], &[a(5), a(5), a(5)]).unwrap();
        assert_eq!(s, vec![a(4), a(3), a(3)]);
        // More than the caps hold: each gives its cap.
        let s = pro_rata(a(100), &[a(1), a(2)], &[a(1), a(2)]).unwrap();
        assert_eq!(s, vec![a(1), a(2)]);
        // Zero weights: nothing.
        let s = pro_rata(a(7), &[a(0), a(0)], &[a(9), a(9)]).unwrap();
        assert_eq!(s, vec![a(0), a(0)]);
        for total in [1i128, 7, 999, 1_000_000_007] {
            let w = [a(3), a(1_000), a(17), a(0), a(250_000)];
            let s = pro_rata(a(total), &w, &w).unwrap();
            let sum: i128 = s.iter().map(|x| x.raw()).sum();
            assert_eq!(sum, total.min(w.iter().map(|x| x.raw()).sum()));
            assert!(s.iter().zip(&w).all(|(x, c)| x <= c));
        }
    }
}
