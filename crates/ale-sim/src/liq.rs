//! The one place the simulator calls `ale-liquidation` (so that a change of its API stays
//! local): a liquidation case runs the real [`ale_liquidation::Engine`] and its
//! [`ale_liquidation::driver`] on the market of the moment the keeper acts, with the insurance
//! fund's, the backstop pools', the liquidators' and the credit providers' capital as the run's
//! books hold them; the changes the case made to every balance are then posted to the run's
//! books as one balanced operation.
//!
//! The case is driven event by event ([`drive`], the order of `ale_liquidation::driver`): the
//! check at the keeper's detection time plus the execution delay, each liquidator's bid when the
//! Dutch price first reaches its limit (or its sealed bid at the start) and again every
//! [`REBID_S`] after a fill while it still fills (it has hedged what it took), the tick when the
//! auction's time is up, and between them `Event::Market` at every point of the path, so that an
//! auction runs on the market as it moves (a falling market during the auction can turn a
//! solvent auction insolvent). Takers hedge each take at the marks of its moment.
//!
//! Why an engine per case rather than one engine for the whole run: `ale-liquidation` has the
//! events for the run's life (`SyncAccount`, `Expire`, `Fill`, `Funding`, `UpdateVenue`), but a
//! case here runs to its end at its start while the run waits (one engine's clock cannot go back
//! to the next case), so each case starts from the books as they are (see docs/backtest.md,
//! "Left out").
//!
//! What each tier did is read off the case's records ([`TierFlows`]): the notional each tier
//! took (tier 1 by the fund and by the pools, tier 2 auctions, tier 3 market sales, the fund's
//! final take) and the amount each step of the loss waterfall paid.

use std::collections::BTreeMap;
use std::str::FromStr;

use ale_core::{Account, AccountId, Amount, Timestamp};
use ale_liquidation::{
    Bidder, Engine, Event, Holder, HolderId, LiquidationParams, MarketUpdate, Record, RecordKind,
    Stage, Unit,
};
use ale_market::MarketSnapshot;
use ale_risk::MarginPolicy;

use crate::books::{delta_legs, Books};
use crate::error::SimError;
use crate::venue::{asset, mark_delta, CASH};

/// Notional taken and loss paid, by tier and waterfall step, USD.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TierFlows {
    /// Tier 1: notional the insurance fund took as the backstop.
    pub backstop_fund_notional: f64,
    /// Tier 1: notional the backstop pools took.
    pub backstop_pool_notional: f64,
    /// Tier 2: notional auctions sold (Dutch, sealed and insolvent fills).
    pub auction_notional: f64,
    /// Tier 3: notional sold into the order book.
    pub market_notional: f64,
    /// The insurance fund's final take (what the tiers left, dust, insolvent remainders).
    pub fund_take_notional: f64,
    /// Waterfall: paid from the liquidated accounts' own cash.
    pub loss_account_cash: f64,
    /// Waterfall: paid from their other collateral, in kind.
    pub loss_account_collateral: f64,
    /// Waterfall: paid or borne by the insurance fund.
    pub loss_insurance_fund: f64,
    /// Waterfall: drawn from backstop-credit providers.
    pub loss_backstop_credit: f64,
    /// Waterfall: recorded as socialised loss.
    pub loss_socialised: f64,
    /// Premiums paid to the credit providers (a share of the fees).
    pub credit_premiums: f64,
}

impl TierFlows {
    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &TierFlows) {
        self.backstop_fund_notional += other.backstop_fund_notional;
        self.backstop_pool_notional += other.backstop_pool_notional;
        self.auction_notional += other.auction_notional;
        self.market_notional += other.market_notional;
        self.fund_take_notional += other.fund_take_notional;
        self.loss_account_cash += other.loss_account_cash;
        self.loss_account_collateral += other.loss_account_collateral;
        self.loss_insurance_fund += other.loss_insurance_fund;
        self.loss_backstop_credit += other.loss_backstop_credit;
        self.loss_socialised += other.loss_socialised;
        self.credit_premiums += other.credit_premiums;
    }
}

/// What one case did.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// The engine flagged the account (equity < maintenance at the execution market).
    pub flagged: bool,
    /// No position left at the end.
    pub closed: bool,
    /// Time of the case's last record.
    pub end_s: i64,
    /// Trader equity before, at the execution marks.
    pub equity_before: f64,
    /// What the liquidation cost the trader: equity before − after, at the same marks
    /// (discounts, fees, slippage).
    pub penalty_usd: f64,
    /// Spot notional of the quantities that changed hands.
    pub notional_usd: f64,
    /// Loss beyond the account's own collateral: its negative equity at the case's start, or
    /// what the insurance fund, backstop credit and socialisation paid for it in the loss
    /// waterfall (the account turned insolvent in the engine's view, or during the case),
    /// whichever is larger.
    pub bad_debt_usd: f64,
    /// Records the engine wrote.
    pub records: usize,
    /// What each tier did.
    pub tiers: TierFlows,
}

/// A tier-1 backstop pool of the venue.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// Its name (holder `BackstopPool(name)`).
    pub name: String,
    /// The most notional it takes in one case (`None`: its margin alone bounds it).
    pub max_notional: Option<Amount>,
}

/// Who stands behind a liquidation, besides the account: the parameters (auction kind
/// included), the liquidators, the backstop pools, the credit providers (holders
/// `CreditProvider(name)`, their commitment their cash on the books) and the most notional the
/// insurance fund takes as the backstop in one case.
#[derive(Debug, Clone, PartialEq)]
pub struct Venue {
    /// The engine's parameters.
    pub params: LiquidationParams,
    /// Tier-2 liquidators (holders `Liquidator(name)`).
    pub bidders: Vec<Bidder>,
    /// Tier-1 pools after the fund.
    pub pools: Vec<Pool>,
    /// Backstop-credit providers.
    pub providers: Vec<String>,
    /// The fund's tier-1 capacity per case (`None`: unbounded).
    pub fund_max_notional: Option<Amount>,
    /// What a taker pays to hedge what it took (a fraction of the notional).
    pub hedge_slippage: f64,
}

impl Venue {
    /// The fund and the liquidators alone (no pool, no credit), with `params`.
    pub fn simple(params: LiquidationParams, bidders: Vec<Bidder>, hedge_slippage: f64) -> Venue {
        Venue {
            params,
            bidders,
            pools: Vec::new(),
            providers: Vec::new(),
            fund_max_notional: None,
            hedge_slippage,
        }
    }
}

/// The market as it moves during a case: the times it changes and the snapshot at a time.
pub struct Moves<'a> {
    /// Times the market changes, ascending (the path's points).
    pub times_s: &'a [i64],
    /// The true market at a time.
    pub at: &'a dyn Fn(i64) -> Result<MarketSnapshot, SimError>,
}

/// The markets a case applied, with their times, in order.
pub type MarketsApplied = Vec<(i64, MarketSnapshot)>;

/// Most events one case may take (a bound on a case's work).
pub const MAX_CASE_EVENTS: usize = 20_000;
/// A liquidator that filled may bid again this many seconds later (it has hedged what it took).
pub const REBID_S: i64 = 60;
/// Most bids of one liquidator in one auction.
pub const MAX_BIDS_PER_BIDDER: usize = 8;

fn at(seconds: i64) -> Result<Timestamp, SimError> {
    Timestamp::from_unix_seconds(seconds)
        .ok_or_else(|| crate::error::invalid("time", seconds.to_string()))
}

/// Runs `account`'s case from `start`: the check, then the auction's bids and tick in time
/// order with the market's moves between them, until no auction of the account is open. The
/// market stops moving before `moves_until_s` (the first expiry of an instrument in the case:
/// this adapter sends no `Event::Expire`, and past it the instrument could not be marked).
/// Returns the records and the markets applied, with their times, in order.
pub fn drive(
    engine: &mut Engine,
    account: &AccountId,
    start: Timestamp,
    moves: Option<&Moves<'_>>,
    moves_until_s: i64,
) -> Result<(Vec<Record>, MarketsApplied), SimError> {
    let err = liq_err(account);
    let mut out = engine
        .process(
            &Event::Check {
                account: account.clone(),
            },
            start,
        )
        .map_err(&err)?;
    let params = engine.params().auction;
    let bidders: Vec<(String, f64, f64)> = engine
        .bidders()
        .map(|b| {
            (
                b.name.clone(),
                b.max_price_fraction,
                b.insolvent_premium_fraction,
            )
        })
        .collect();
    // Per (auction, bidder): bids made, when it may bid again, whether it is done.
    let mut bids: BTreeMap<(i64, bool, String), (usize, i64, bool)> = BTreeMap::new();
    let mut now = start.unix_seconds();
    let mut next_move = moves.map_or(0, |m| m.times_s.partition_point(|t| *t <= now));
    let mut applied: MarketsApplied = Vec::new();
    for _ in 0..MAX_CASE_EVENTS {
        let Some(view) = engine
            .open_auctions()
            .into_iter()
            .find(|(a, _)| a == account)
            .map(|(_, v)| v)
        else {
            return Ok((out, applied));
        };
        let (opened, closes) = (view.opened.unix_seconds(), view.closes.unix_seconds());
        // (time, order: 0 market, 1 bid, 2 tick, event)
        let mut next: Option<(i64, u8, Event, Option<String>)> = None;
        let mut offer = |t: i64, k: u8, e: Event, who: Option<String>| {
            let t = t.max(now);
            if next
                .as_ref()
                .is_none_or(|(nt, nk, _, _)| (t, k) < (*nt, *nk))
            {
                next = Some((t, k, e, who));
            }
        };
        if let Some(m) = moves {
            if let Some(&t) = m.times_s.get(next_move) {
                if t < closes && t < moves_until_s {
                    offer(t, 0, Event::Tick, None);
                }
            }
        }
        for (name, limit, premium) in &bidders {
            let key = (opened, view.insolvent, name.clone());
            let again = match bids.get(&key) {
                Some((_, _, true)) => continue,
                Some((_, at, false)) => Some(*at),
                None => None,
            };
            let bid = if let Some(at) = again {
                Some((
                    at,
                    Event::Bid {
                        account: account.clone(),
                        bidder: name.clone(),
                    },
                ))
            } else {
                ale_liquidation::driver::first_bid(&params, account, &view, name, *limit, *premium)
            };
            if let Some((t, e)) = bid {
                if t < closes {
                    offer(t, 1, e, Some(name.clone()));
                }
            }
        }
        offer(closes, 2, Event::Tick, None);
        let Some((t, kind, event, who)) = next else {
            return Ok((out, applied));
        };
        now = t;
        let event = if kind == 0 {
            next_move += 1;
            let snapshot = match moves {
                Some(m) => (m.at)(t)?,
                None => continue,
            };
            let update = MarketUpdate::from(snapshot.clone());
            applied.push((t, snapshot));
            Event::Market(update)
        } else {
            event
        };
        if matches!(event, Event::Bid { .. } | Event::SealedBid { .. })
            && engine.case(account).map(|c| c.stage) != Some(Stage::Auction)
        {
            if let Some(name) = who {
                bids.insert((opened, view.insolvent, name), (0, t, true));
            }
            continue;
        }
        let produced = engine.process(&event, at(t)?).map_err(&err)?;
        if let Some(name) = who {
            // A liquidator that filled hedges at once and may bid again a little later while
            // the Dutch price is still within its limit; one whose bid took nothing is done.
            let filled = produced.iter().any(|r| {
                r.kind == RecordKind::AuctionFill
                    && r.details.iter().any(|(k, v)| *k == "bidder" && *v == name)
            });
            let key = (opened, view.insolvent, name);
            let count = bids.get(&key).map_or(0, |b| b.0) + 1;
            let stop = !filled || view.sealed || count >= MAX_BIDS_PER_BIDDER;
            bids.insert(key, (count, t + REBID_S, stop));
        }
        out.extend(produced);
    }
    Err(SimError::Liquidation {
        account: account.to_string(),
        reason: format!("the case took more than {MAX_CASE_EVENTS} events"),
    })
}

fn liq_err(account: &AccountId) -> impl Fn(ale_liquidation::LiquidationError) -> SimError + '_ {
    move |e| SimError::Liquidation {
        account: account.to_string(),
        reason: e.to_string(),
    }
}

fn cash_account(name: &str, cash: Amount) -> Result<Account, SimError> {
    let mut a = Account::new(AccountId::new(name).map_err(|e| crate::error::invalid("holder", e))?);
    if cash.raw() > 0 {
        a.collateral.insert(asset(CASH), cash);
    }
    Ok(a)
}

fn spot_of(market: &MarketSnapshot, instrument: &ale_core::Instrument) -> f64 {
    market
        .underlying(instrument.underlying())
        .map_or(0.0, |u| u.spot())
}

/// Reads what each tier did off a case's records.
fn tier_flows(
    engine: &Engine,
    records: &[Record],
    trader: Option<HolderId>,
    market: &MarketSnapshot,
) -> TierFlows {
    let mut f = TierFlows::default();
    let ledger = engine.ledger();
    let detail = |r: &Record, key: &str| -> f64 {
        r.details
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| Amount::from_str(v).ok())
            .map_or(0.0, Amount::to_f64)
    };
    for r in records {
        // Notional: the quantities leaving the account, by the holder they went to.
        let mut by_taker: Vec<(Option<&Holder>, f64)> = Vec::new();
        if let Some(op) = &r.op {
            for leg in &op.legs {
                // A long position leaves the account as a leg to the taker, a short one as a
                // leg from it (legs carry positive amounts).
                let other = if Some(leg.from) == trader {
                    leg.to
                } else if Some(leg.to) == trader {
                    leg.from
                } else {
                    continue;
                };
                if let Some(Unit::Quantity(i)) = ledger.unit_of(leg.unit) {
                    by_taker.push((
                        ledger.holder_of(other),
                        leg.amount.to_f64().abs() * spot_of(market, i),
                    ));
                }
            }
        }
        let notional: f64 = by_taker.iter().map(|x| x.1).sum();
        match r.kind {
            RecordKind::BackstopTake => {
                for (h, n) in &by_taker {
                    if matches!(h, Some(Holder::BackstopPool(_))) {
                        f.backstop_pool_notional += n;
                    } else {
                        f.backstop_fund_notional += n;
                    }
                }
            }
            RecordKind::AuctionFill => f.auction_notional += notional,
            RecordKind::MarketSale => f.market_notional += notional,
            RecordKind::FundTake => f.fund_take_notional += notional,
            RecordKind::Waterfall => {
                let paid = detail(r, "paid");
                let step = r
                    .details
                    .iter()
                    .find(|(k, _)| *k == "step")
                    .map_or("", |(_, v)| v.as_str());
                match step {
                    "account_cash" => f.loss_account_cash += paid,
                    "account_collateral" => f.loss_account_collateral += paid,
                    "insurance_fund" => f.loss_insurance_fund += paid,
                    "backstop_credit" => f.loss_backstop_credit += paid,
                    "socialised_loss" => f.loss_socialised += paid,
                    _ => {}
                }
            }
            RecordKind::Premium => {
                if let Some(op) = &r.op {
                    f.credit_premiums += op.legs.iter().map(|l| l.amount.to_f64()).sum::<f64>();
                }
            }
            _ => {}
        }
    }
    f
}

/// What each taker gains (or loses) by hedging every take at the marks of its moment rather
/// than at the case's end: Σ Δq·(mark then − mark at the end) over what it received.
fn hedge_adjustments(
    engine: &Engine,
    records: &[Record],
    trader: Option<HolderId>,
    start: &MarketSnapshot,
    moved: &[(i64, MarketSnapshot)],
) -> Result<Vec<(Holder, f64)>, SimError> {
    let mut out: Vec<(Holder, f64)> = Vec::new();
    let Some(end) = moved.last().map(|m| &m.1) else {
        return Ok(out);
    };
    let ledger = engine.ledger();
    for r in records {
        let Some(op) = &r.op else {
            continue;
        };
        let t = r.at.unix_seconds();
        let then = moved
            .iter()
            .rev()
            .find(|(at, _)| *at <= t)
            .map_or(start, |m| &m.1);
        if std::ptr::eq(then, end) {
            continue;
        }
        for leg in &op.legs {
            let (taker, sign) = if Some(leg.from) == trader {
                (leg.to, 1.0)
            } else if Some(leg.to) == trader {
                (leg.from, -1.0)
            } else {
                continue;
            };
            let Some(Unit::Quantity(i)) = ledger.unit_of(leg.unit) else {
                continue;
            };
            let Some(h) = ledger.holder_of(taker) else {
                continue;
            };
            if !matches!(
                h,
                Holder::Liquidator(_) | Holder::InsuranceFund | Holder::BackstopPool(_)
            ) {
                continue;
            }
            let (m_then, _) = mark_delta(i, then)?;
            let (m_end, _) = mark_delta(i, end)?;
            let gain = sign * leg.amount.to_f64() * (m_then - m_end);
            match out.iter_mut().find(|(x, _)| x == h) {
                Some((_, a)) => *a += gain,
                None => out.push((h.clone(), gain)),
            }
        }
    }
    Ok(out)
}

/// Runs the liquidation of `account` at `now` on `market` under `policy`, with `venue` behind
/// it and the market moving as `moves` says (`None`: it stays at `market`).
pub fn liquidate(
    books: &mut Books,
    account: &AccountId,
    policy: Box<dyn MarginPolicy>,
    market: &MarketSnapshot,
    venue: &Venue,
    now: Timestamp,
    moves: Option<&Moves<'_>>,
) -> Result<CaseResult, SimError> {
    let err = liq_err(account);
    let h = books.trader(account);
    let before = books.account(account, h);
    let equity_before = books.value(h, market)?;
    let mut result = CaseResult {
        flagged: false,
        closed: false,
        end_s: now.unix_seconds(),
        equity_before,
        penalty_usd: 0.0,
        notional_usd: 0.0,
        bad_debt_usd: 0.0,
        records: 0,
        tiers: TierFlows::default(),
    };
    if before.positions.is_empty() {
        return Ok(result);
    }
    let mut engine = Engine::new(policy, market.clone(), venue.params.clone()).map_err(&err)?;
    let fund_cash = books.cash_of(books.fund);
    engine
        .fund_insurance(
            &cash_account("insurance-fund", fund_cash)?,
            venue.fund_max_notional,
            now,
        )
        .map_err(&err)?;
    for p in &venue.pools {
        let ph = books.holder(&Holder::BackstopPool(p.name.clone()));
        let capital = books.cash_of(ph);
        if capital.raw() > 0 {
            engine
                .register_pool(
                    &p.name,
                    &cash_account(&p.name, capital)?,
                    p.max_notional,
                    now,
                )
                .map_err(&err)?;
        }
    }
    for b in &venue.bidders {
        let bh = books.holder(&Holder::Liquidator(b.name.clone()));
        let capital = books.cash_of(bh);
        if capital.raw() > 0 {
            engine
                .register_bidder(b.clone(), &cash_account(&b.name, capital)?, now)
                .map_err(&err)?;
        }
    }
    for name in &venue.providers {
        let ch = books.holder(&Holder::CreditProvider(name.clone()));
        let committed = books.cash_of(ch);
        if committed.raw() > 0 {
            engine
                .register_credit_provider(name, committed, now)
                .map_err(&err)?;
        }
    }
    engine
        .register_trader(&before, &format!("owner-{account}"), now)
        .map_err(&err)?;
    let opening = engine.ledger().snapshot();
    let first_expiry = before
        .positions
        .iter()
        .filter_map(|p| p.instrument.expiry())
        .map(|e| e.instant().unix_seconds())
        .min()
        .unwrap_or(i64::MAX);
    let (records, moved) = drive(&mut engine, account, now, moves, first_expiry)?;

    result.records = records.len();
    if !records.iter().any(|r| r.kind == RecordKind::Flagged) {
        return Ok(result);
    }
    result.flagged = true;
    result.closed = records.iter().any(|r| r.kind == RecordKind::Closed);
    result.end_s = records
        .last()
        .map_or(now.unix_seconds(), |r| r.at.unix_seconds());
    engine
        .ledger()
        .audit()
        .map_err(|e| SimError::Ledger(e.to_string()))?;
    let trader_holder = engine.ledger().holder_id(&Holder::Trader(account.clone()));
    result.tiers = tier_flows(&engine, &records, trader_holder, market);
    // The changes the case made, by (holder, unit).
    let closing = engine.ledger().snapshot();
    let mut deltas: Vec<(Holder, Unit, i128)> = Vec::new();
    for (key, v) in &closing {
        let d = v.raw() - opening.get(key).map_or(0, |x| x.raw());
        if d != 0 {
            deltas.push((key.0.clone(), key.1.clone(), d));
        }
    }
    for (key, v) in &opening {
        if !closing.contains_key(key) && v.raw() != 0 {
            deltas.push((key.0.clone(), key.1.clone(), -v.raw()));
        }
    }
    for (holder, unit, d) in &deltas {
        if *holder == Holder::Trader(account.clone()) {
            if let Unit::Quantity(i) = unit {
                result.notional_usd += (*d as f64 * 1e-9).abs() * spot_of(market, i);
            }
        }
    }
    let legs = delta_legs(books, &deltas);
    books.apply(legs)?;
    let equity_after = books.value(h, market)?;
    result.penalty_usd = (equity_before.max(0.0) - equity_after.max(0.0)).max(0.0);
    let t = &result.tiers;
    let beyond = t.loss_insurance_fund + t.loss_backstop_credit + t.loss_socialised;
    result.bad_debt_usd = (-equity_before).max(0.0).max(beyond);
    // Takers hedge what they took at once: each take is closed with the world at the marks of
    // the moment it was taken (what is held at the case's end is closed at its marks, and the
    // difference from the take's moment is settled with the world), paying the hedge cost;
    // coins received in kind are sold at their prices.
    let hedge_market = moved.last().map_or(market, |m| &m.1);
    let adjust = hedge_adjustments(&engine, &records, trader_holder, market, &moved)?;
    let mut takers: Vec<Holder> = deltas
        .iter()
        .map(|(h, _, _)| h.clone())
        .filter(|h| {
            matches!(
                h,
                Holder::Liquidator(_) | Holder::InsuranceFund | Holder::BackstopPool(_)
            )
        })
        .collect();
    takers.sort();
    takers.dedup();
    for t in takers {
        let th = books.holder(&t);
        let extra = adjust
            .iter()
            .filter(|(h, _)| *h == t)
            .map(|(_, a)| *a)
            .sum::<f64>();
        books.close_all(th, hedge_market, venue.hedge_slippage, extra)?;
    }
    Ok(result)
}
