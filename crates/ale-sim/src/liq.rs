//! The one place the simulator calls `ale-liquidation` (so that a change of its API stays
//! local): a liquidation case runs the real [`ale_liquidation::Engine`] and its
//! [`ale_liquidation::driver`] on the market of the moment the keeper acts, with the insurance
//! fund's and the liquidators' capital as the run's books hold them; the changes the case made
//! to every balance are then posted to the run's books as one balanced operation.
//!
//! Why a case engine rather than one engine for the whole run: the engine has no event that
//! moves its market; a case is short (the driver runs its auctions to the end at the prices of
//! its start), and the market moves between cases. What an auction's length costs in a falling
//! market is taken by starting the case at the keeper's detection time plus the execution delay.

use ale_core::{Account, AccountId, Amount, Timestamp};
use ale_liquidation::{driver, Bidder, Engine, Holder, LiquidationParams, RecordKind, Unit};
use ale_market::MarketSnapshot;
use ale_risk::MarginPolicy;

use crate::books::{delta_legs, Books};
use crate::error::SimError;
use crate::venue::{asset, CASH};

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
    /// Loss beyond the account's own collateral (max(0, −equity before)).
    pub bad_debt_usd: f64,
    /// Records the engine wrote.
    pub records: usize,
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

/// Runs the liquidation of `account` at `now` on `market` under `policy`.
#[allow(clippy::too_many_arguments)]
pub fn liquidate(
    books: &mut Books,
    account: &AccountId,
    policy: Box<dyn MarginPolicy>,
    market: &MarketSnapshot,
    params: &LiquidationParams,
    bidders: &[Bidder],
    hedge_slippage: f64,
    now: Timestamp,
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
    };
    if before.positions.is_empty() {
        return Ok(result);
    }
    let mut engine = Engine::new(policy, market.clone(), params.clone()).map_err(&err)?;
    let fund_cash = books.cash_of(books.fund);
    engine
        .fund_insurance(&cash_account("insurance-fund", fund_cash)?, None, now)
        .map_err(&err)?;
    for b in bidders {
        let bh = books.holder(&Holder::Liquidator(b.name.clone()));
        let capital = books.cash_of(bh);
        if capital.raw() > 0 {
            engine
                .register_bidder(b.clone(), &cash_account(&b.name, capital)?, now)
                .map_err(&err)?;
        }
    }
    engine
        .register_trader(&before, &format!("owner-{account}"), now)
        .map_err(&err)?;
    let opening = engine.ledger().snapshot();
    let records = driver::run(&mut engine, std::slice::from_ref(account), now).map_err(&err)?;
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
    let spot = market.underlyings().next().map_or(0.0, |u| u.spot());
    for (holder, unit, d) in &deltas {
        if *holder == Holder::Trader(account.clone()) {
            if let Unit::Quantity(_) = unit {
                result.notional_usd += (*d as f64 * 1e-9).abs() * spot;
            }
        }
    }
    let legs = delta_legs(books, &deltas);
    books.apply(legs)?;
    let equity_after = books.value(h, market)?;
    result.penalty_usd = (equity_before.max(0.0) - equity_after.max(0.0)).max(0.0);
    result.bad_debt_usd = (-equity_before).max(0.0);
    // Takers hedge what they took: closed with the world at the marks, paying the hedge cost.
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
        books.close_all(th, market, hedge_slippage)?;
    }
    Ok(result)
}
