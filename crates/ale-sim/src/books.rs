//! The venue's books: one exact double-entry [`Ledger`] (the one `ale-liquidation` keeps) over a
//! whole run. Every deposit, trade, funding payment, settlement, liquidation and unwind is a
//! balanced operation on it, so that at the end every unit sums to zero: each unit of money is
//! on some holder's balance, `External` (the world outside: depositors and the other side of
//! every trade) included, or in the recorded socialised loss.
//!
//! Rounding: what a holder receives rounds down, what it pays rounds up (the venue's solvency).
//!
//! Collateral: cash is USDC; a holder may also hold coins (BTC, ETH: `Cash(asset)` units), valued
//! at the coin prices the run sets each step ([`Books::set_coin_price`]). When a payment needs
//! more USDC than the holder has, its coins are sold to External at that price first (coins
//! given round up, USDC received rounds down), after its perpetuals' unrealised gains are
//! realised into cash (at the same prices: a perpetual's mark is its underlying's spot).

use ale_core::{Account, AccountId, Amount, Asset, Instrument, Position, Rounding};
use ale_liquidation::{Holder, HolderId, Ledger, Leg, Op, OpId, Unit, UnitId};
use ale_market::MarketSnapshot;

use crate::error::SimError;
use crate::venue::{asset, mark_delta, CASH};

/// A holder's position in one instrument: quantity (10⁻⁹ units) and cost basis (perpetuals).
#[derive(Debug, Clone, PartialEq)]
pub struct Holding {
    /// The instrument.
    pub instrument: Instrument,
    /// Signed quantity.
    pub qty: Amount,
    /// Cost basis (perpetual: worth qty·mark − cost; options 0).
    pub cost: Amount,
}

/// The run's ledger and its fixed holders.
#[derive(Debug, Clone)]
pub struct Books {
    /// The ledger.
    pub ledger: Ledger,
    next_op: u64,
    /// Cash (USDC).
    pub cash: UnitId,
    /// The outside world.
    pub external: HolderId,
    /// The insurance fund.
    pub fund: HolderId,
    /// The socialised-loss account (negative = loss recorded).
    pub socialised: HolderId,
    /// Coin collateral units and their current prices (USD per coin).
    coins: Vec<(UnitId, Asset, f64)>,
}

pub(crate) fn money(x: f64, rounding: Rounding) -> Result<Amount, SimError> {
    Amount::from_f64(x, rounding).map_err(|e| SimError::Ledger(format!("amount {x}: {e}")))
}

fn qty_of(size: f64) -> Result<Amount, SimError> {
    ale_liquidation::quantity_from_size(size).map_err(|e| SimError::Ledger(e.to_string()))
}

impl Default for Books {
    fn default() -> Self {
        Books::new()
    }
}

impl Books {
    /// Empty books with the fixed holders.
    pub fn new() -> Books {
        let mut ledger = Ledger::new();
        let external = ledger.holder(&Holder::External);
        let fund = ledger.holder(&Holder::InsuranceFund);
        let socialised = ledger.holder(&Holder::SocialisedLoss);
        let cash = ledger.unit(&Unit::Cash(asset(CASH)));
        Books {
            ledger,
            next_op: 0,
            cash,
            external,
            fund,
            socialised,
            coins: Vec::new(),
        }
    }

    /// The unit of coin `asset` (interned).
    pub fn coin_unit(&mut self, asset: &Asset) -> UnitId {
        self.ledger.unit(&Unit::Cash(asset.clone()))
    }

    /// Sets the price of coin `asset` (USD per coin): what it is valued and sold at.
    pub fn set_coin_price(&mut self, asset: &Asset, price: f64) {
        let u = self.coin_unit(asset);
        match self.coins.iter_mut().find(|c| c.0 == u) {
            Some(c) => c.2 = price,
            None => self.coins.push((u, asset.clone(), price)),
        }
    }

    /// The price of coin `asset` last set.
    pub fn coin_price(&self, asset: &Asset) -> Option<f64> {
        self.coins.iter().find(|c| c.1 == *asset).map(|c| c.2)
    }

    /// The coins of `h`: (asset, unit, balance, price), balances > 0 only.
    pub fn coins_of(&self, h: HolderId) -> Vec<(Asset, UnitId, Amount, f64)> {
        self.coins
            .iter()
            .filter_map(|(u, a, p)| {
                let b = self.ledger.balance(h, *u);
                (b.raw() > 0).then(|| (a.clone(), *u, b, *p))
            })
            .collect()
    }

    /// Realises the unrealised gains of `h`'s perpetuals into cash at the coin price of their
    /// underlying (the perpetual's mark): cash += gain, cost basis += gain, value unchanged (a
    /// venue settles perpetual P&L into cash). Returns the cash realised.
    pub fn realise_gains(&mut self, h: HolderId) -> Result<Amount, SimError> {
        let mut legs = Vec::new();
        let mut total = Amount::ZERO;
        for x in self.holdings(h) {
            let Instrument::Perpetual { underlying, .. } = &x.instrument else {
                continue;
            };
            let Some(mark) = self.coin_price(underlying) else {
                continue;
            };
            let gain = x.qty.to_f64() * mark - x.cost.to_f64();
            if !(gain > 0.0) {
                continue;
            }
            let g = money(gain, Rounding::Down)?;
            if g.raw() <= 0 {
                continue;
            }
            let c = self.ledger.unit(&Unit::CostBasis(x.instrument.clone()));
            Books::leg(&mut legs, self.external, h, c, g);
            Books::leg(&mut legs, self.external, h, self.cash, g);
            total = total
                .checked_add(g)
                .map_err(|e| SimError::Ledger(e.to_string()))?;
        }
        self.apply(legs)?;
        Ok(total)
    }

    /// Raises USDC for `h` until it holds `need`: first its perpetuals' gains realised
    /// ([`Books::realise_gains`]), then its coins sold to External at their prices. Returns the
    /// USDC raised.
    pub fn raise_cash(&mut self, h: HolderId, need: Amount) -> Result<Amount, SimError> {
        let mut raised = Amount::ZERO;
        if h == self.external || self.cash_of(h) >= need {
            return Ok(raised);
        }
        raised = self.realise_gains(h)?;
        for (_, unit, balance, price) in self.coins_of(h) {
            let have = self.cash_of(h);
            if have >= need || !(price > 0.0) {
                break;
            }
            let short = need.to_f64() - have.to_f64();
            // Coins handed over round up; the USDC received rounds down.
            let coins = money(short / price, Rounding::Up)?.min(balance);
            let usd = money(coins.to_f64() * price, Rounding::Down)?;
            let mut legs = Vec::new();
            Books::leg(&mut legs, h, self.external, unit, coins);
            Books::leg(&mut legs, self.external, h, self.cash, usd);
            self.apply(legs)?;
            raised = raised
                .checked_add(usd)
                .map_err(|e| SimError::Ledger(e.to_string()))?;
        }
        Ok(raised)
    }

    /// The id of a holder (interned).
    pub fn holder(&mut self, holder: &Holder) -> HolderId {
        self.ledger.holder(holder)
    }

    /// The id of a trader.
    pub fn trader(&mut self, id: &AccountId) -> HolderId {
        self.ledger.holder(&Holder::Trader(id.clone()))
    }

    /// Operations applied.
    pub fn ops(&self) -> u64 {
        self.next_op
    }

    /// Adds a leg moving `signed` of `unit` from `from` to `to` (reversed when negative).
    pub fn leg(legs: &mut Vec<Leg>, from: HolderId, to: HolderId, unit: UnitId, signed: Amount) {
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

    /// Applies legs as one operation and checks the ledger still balances.
    pub fn apply(&mut self, legs: Vec<Leg>) -> Result<(), SimError> {
        if legs.is_empty() {
            return Ok(());
        }
        self.next_op += 1;
        let op = Op {
            id: OpId(self.next_op),
            legs,
        };
        self.ledger
            .apply(&op)
            .map_err(|e| SimError::Ledger(e.to_string()))?;
        self.ledger
            .check_balanced()
            .map_err(|e| SimError::Ledger(e.to_string()))
    }

    /// Cash of a holder.
    pub fn cash_of(&self, h: HolderId) -> Amount {
        self.ledger.balance(h, self.cash)
    }

    /// Cash paid in from outside.
    pub fn deposit(&mut self, h: HolderId, amount: Amount) -> Result<(), SimError> {
        let mut legs = Vec::new();
        Books::leg(&mut legs, self.external, h, self.cash, amount);
        self.apply(legs)
    }

    /// Pays `amount` from `h` to External, as much as `h` has; the rest is paid by the insurance
    /// fund and then recorded as socialised loss. Returns the part `h` could not pay.
    pub fn pay_or_socialise(&mut self, h: HolderId, amount: Amount) -> Result<Amount, SimError> {
        if amount.raw() <= 0 {
            return Ok(Amount::ZERO);
        }
        self.raise_cash(h, amount)?;
        let own = self.cash_of(h).max(Amount::ZERO).min(amount);
        let short = amount.raw() - own.raw();
        let from_fund = if h == self.fund {
            0
        } else {
            self.cash_of(self.fund).raw().max(0).min(short)
        };
        let from_socialised = short - from_fund;
        let mut legs = Vec::new();
        Books::leg(&mut legs, h, self.external, self.cash, own);
        Books::leg(
            &mut legs,
            self.fund,
            self.external,
            self.cash,
            Amount::from_raw(from_fund),
        );
        Books::leg(
            &mut legs,
            self.socialised,
            self.external,
            self.cash,
            Amount::from_raw(from_socialised),
        );
        self.apply(legs)?;
        Ok(Amount::from_raw(short))
    }

    /// `h` trades `size` of `instrument` with External at `price` per unit, paying (or
    /// receiving) `slippage` · |size| · price on top: an option's premium moves in cash, a
    /// perpetual's price goes into its cost basis.
    pub fn trade(
        &mut self,
        h: HolderId,
        instrument: &Instrument,
        size: f64,
        price: f64,
        slippage: f64,
    ) -> Result<(), SimError> {
        let qty = qty_of(size)?;
        if qty.is_zero() {
            return Ok(());
        }
        let q = self.ledger.unit(&Unit::Quantity(instrument.clone()));
        let mut legs = Vec::new();
        Books::leg(&mut legs, self.external, h, q, qty);
        let cost = slippage.abs() * size.abs() * price.abs();
        if matches!(
            instrument,
            Instrument::Perpetual { .. } | Instrument::Future { .. }
        ) {
            let c = self.ledger.unit(&Unit::CostBasis(instrument.clone()));
            // The old position is settled at `price` (its P&L realised in cash) and the new one
            // carries the cost qty·price: the entry price stays the last trade's, > 0.
            let qty_old = self.ledger.balance(h, q);
            let cost_old = self.ledger.balance(h, c);
            let realised = qty_old.to_f64() * price - cost_old.to_f64() - cost;
            let qty_new = qty_old
                .checked_add(qty)
                .map_err(|e| SimError::Ledger(e.to_string()))?;
            // The holder's cost basis rounds up (its position is worth less, never more).
            let basis_new = money(qty_new.to_f64() * price, Rounding::Up)?;
            let change = basis_new
                .checked_sub(cost_old)
                .map_err(|e| SimError::Ledger(e.to_string()))?;
            Books::leg(&mut legs, self.external, h, c, change);
            if realised >= 0.0 {
                Books::leg(
                    &mut legs,
                    self.external,
                    h,
                    self.cash,
                    money(realised, Rounding::Down)?,
                );
            } else {
                let owed = money(-realised, Rounding::Up)?;
                if self.cash_of(h) < owed {
                    self.raise_cash(h, owed)?;
                }
                if self.cash_of(h) < owed {
                    return Err(SimError::Ledger(format!(
                        "{} cannot pay the realised loss {owed} of a trade",
                        self.ledger
                            .holder_of(h)
                            .map_or_else(String::new, ToString::to_string)
                    )));
                }
                Books::leg(&mut legs, h, self.external, self.cash, owed);
            }
        } else {
            // Paid: rounds up; received: rounds down.
            let flow = size * price + cost;
            let amount = if flow >= 0.0 {
                money(flow, Rounding::Up)?
            } else {
                money(flow, Rounding::Down)?
            };
            if amount.raw() > 0 && h != self.external && self.cash_of(h) < amount {
                self.raise_cash(h, amount)?;
                if self.cash_of(h) < amount {
                    return Err(SimError::Ledger(format!(
                        "{} cannot pay the premium {amount} of a trade",
                        self.ledger
                            .holder_of(h)
                            .map_or_else(String::new, ToString::to_string)
                    )));
                }
            }
            Books::leg(&mut legs, h, self.external, self.cash, amount);
        }
        self.apply(legs)
    }

    /// The holdings of `h`, in instrument order.
    pub fn holdings(&self, h: HolderId) -> Vec<Holding> {
        let mut out: Vec<Holding> = Vec::new();
        for (u, v) in self.ledger.holdings(h) {
            let (instrument, is_qty) = match self.ledger.unit_of(u) {
                Some(Unit::Quantity(i)) => (i.clone(), true),
                Some(Unit::CostBasis(i)) => (i.clone(), false),
                _ => continue,
            };
            let slot = match out.iter_mut().position(|x| x.instrument == instrument) {
                Some(ix) => &mut out[ix],
                None => {
                    out.push(Holding {
                        instrument,
                        qty: Amount::ZERO,
                        cost: Amount::ZERO,
                    });
                    let n = out.len();
                    &mut out[n - 1]
                }
            };
            if is_qty {
                slot.qty = v;
            } else {
                slot.cost = v;
            }
        }
        out.sort_by(|a, b| a.instrument.cmp(&b.instrument));
        out
    }

    /// `h` as an account for the risk and liquidation engines (exact cash; sizes from the
    /// quantities; a perpetual's entry price = cost / size).
    pub fn account(&self, id: &AccountId, h: HolderId) -> Account {
        let mut account = Account::new(id.clone());
        let cash = self.cash_of(h);
        if cash.raw() > 0 {
            account.collateral.insert(asset(CASH), cash);
        }
        for (a, _, balance, _) in self.coins_of(h) {
            account.collateral.insert(a, balance);
        }
        for x in self.holdings(h) {
            if x.qty.is_zero() {
                continue;
            }
            let size = x.qty.to_f64();
            let pnl = matches!(
                x.instrument,
                Instrument::Perpetual { .. } | Instrument::Future { .. }
            );
            account.positions.push(Position {
                entry_price: pnl.then(|| (x.cost.to_f64() / size).max(1e-9)),
                instrument: x.instrument,
                size,
            });
        }
        account
    }

    /// Cash and coins of `h` in USD (coins at their prices).
    pub fn money_of(&self, h: HolderId) -> f64 {
        let mut v = self.cash_of(h).to_f64();
        for (u, _, p) in &self.coins {
            v += self.ledger.balance(h, *u).to_f64() * p;
        }
        v
    }

    /// Value of `h` at the marks of `market`: cash + coins + Σ qty·mark − cost.
    pub fn value(&self, h: HolderId, market: &MarketSnapshot) -> Result<f64, SimError> {
        let mut v = self.money_of(h);
        for x in self.holdings(h) {
            let (mark, _) = mark_delta(&x.instrument, market)?;
            v += x.qty.to_f64() * mark - x.cost.to_f64();
        }
        Ok(v)
    }

    /// [`Books::value`] with the marks of `market` kept in `cache` (one pricing per instrument
    /// when many holders are valued on one market).
    pub fn value_cached(
        &self,
        h: HolderId,
        market: &MarketSnapshot,
        cache: &mut std::collections::BTreeMap<Instrument, f64>,
    ) -> Result<f64, SimError> {
        let mut v = self.money_of(h);
        for x in self.holdings(h) {
            let mark = match cache.get(&x.instrument) {
                Some(m) => *m,
                None => {
                    let (m, _) = mark_delta(&x.instrument, market)?;
                    cache.insert(x.instrument.clone(), m);
                    m
                }
            };
            v += x.qty.to_f64() * mark - x.cost.to_f64();
        }
        Ok(v)
    }

    /// Closes every position of `h` with External at the marks of `market`, paying
    /// `slippage` of each notional (a liquidator's or the fund's hedge), and sells its coins at
    /// their prices; `extra` is settled with External on top (a hedge done earlier than at these
    /// marks). A shortfall is paid by the fund and then socialised. Returns the notional closed.
    pub fn close_all(
        &mut self,
        h: HolderId,
        market: &MarketSnapshot,
        slippage: f64,
        extra: f64,
    ) -> Result<f64, SimError> {
        let mut notional = 0.0;
        let mut owed = extra;
        let mut legs = Vec::new();
        for x in self.holdings(h) {
            let (mark, _) = mark_delta(&x.instrument, market)?;
            let size = x.qty.to_f64();
            let q = self.ledger.unit(&Unit::Quantity(x.instrument.clone()));
            Books::leg(&mut legs, h, self.external, q, x.qty);
            if !x.cost.is_zero() {
                let c = self.ledger.unit(&Unit::CostBasis(x.instrument.clone()));
                Books::leg(&mut legs, h, self.external, c, x.cost);
            }
            // What closing pays the holder (negative: what it costs).
            owed += size * mark - x.cost.to_f64() - slippage * size.abs() * mark.abs();
            notional += size.abs() * mark.abs();
        }
        for (_, unit, balance, price) in self.coins_of(h) {
            Books::leg(&mut legs, h, self.external, unit, balance);
            owed += balance.to_f64() * price;
        }
        if legs.is_empty() && extra == 0.0 {
            return Ok(0.0);
        }
        if owed >= 0.0 {
            Books::leg(
                &mut legs,
                self.external,
                h,
                self.cash,
                money(owed, Rounding::Down)?,
            );
            self.apply(legs)?;
        } else {
            self.apply(legs)?;
            self.pay_or_socialise(h, money(-owed, Rounding::Up)?)?;
        }
        Ok(notional)
    }

    /// Settles every position of `h` in an instrument that expired at or before `now_s`
    /// (options pay intrinsic, futures their P&L, at `settlement(underlying, expiry instant)`);
    /// returns what `h` could not pay (bad debt, paid by the fund and then socialised).
    pub fn settle_expired(
        &mut self,
        h: HolderId,
        now_s: i64,
        settlement: impl Fn(&Asset, i64) -> f64,
    ) -> Result<Amount, SimError> {
        let mut legs = Vec::new();
        let mut owed = 0.0;
        for x in self.holdings(h) {
            let Some(expiry) = x.instrument.expiry() else {
                continue;
            };
            if expiry.instant().unix_seconds() > now_s || (x.qty.is_zero() && x.cost.is_zero()) {
                continue;
            }
            let s = settlement(x.instrument.underlying(), expiry.instant().unix_seconds());
            match &x.instrument {
                Instrument::Option { strike, kind, .. } => {
                    let k = strike.value();
                    let intrinsic = match kind {
                        ale_core::OptionKind::Call => (s - k).max(0.0),
                        ale_core::OptionKind::Put => (k - s).max(0.0),
                    };
                    owed += x.qty.to_f64() * intrinsic;
                }
                _ => {
                    let c = self.ledger.unit(&Unit::CostBasis(x.instrument.clone()));
                    Books::leg(&mut legs, h, self.external, c, x.cost);
                    owed += x.qty.to_f64() * s - x.cost.to_f64();
                }
            }
            let q = self.ledger.unit(&Unit::Quantity(x.instrument.clone()));
            Books::leg(&mut legs, h, self.external, q, x.qty);
        }
        if legs.is_empty() {
            return Ok(Amount::ZERO);
        }
        if owed >= 0.0 {
            Books::leg(
                &mut legs,
                self.external,
                h,
                self.cash,
                money(owed, Rounding::Down)?,
            );
            self.apply(legs)?;
            Ok(Amount::ZERO)
        } else {
            self.apply(legs)?;
            self.pay_or_socialise(h, money(-owed, Rounding::Up)?)
        }
    }

    /// Recomputes every unit's sum from the balances: all zero when value was conserved.
    pub fn audit(&self) -> Result<(), SimError> {
        self.ledger
            .audit()
            .map_err(|e| SimError::Ledger(e.to_string()))
    }
}

/// Builds a leg list moving, for every (holder, unit) of `deltas` other than External, the
/// change between External and that holder: applied together they reproduce the changes
/// exactly (External takes the opposite of their sum, which is its own change when the
/// changes balance per unit).
pub(crate) fn delta_legs(books: &mut Books, deltas: &[(Holder, Unit, i128)]) -> Vec<Leg> {
    let mut legs = Vec::new();
    for (holder, unit, d) in deltas {
        if *holder == Holder::External || *d == 0 {
            continue;
        }
        let h = books.ledger.holder(holder);
        let u = books.ledger.unit(unit);
        Books::leg(&mut legs, books.external, h, u, Amount::from_raw(*d));
    }
    legs
}
