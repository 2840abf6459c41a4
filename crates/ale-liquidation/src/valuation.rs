//! The boundary between the exact ledger and the `f64` risk engine: a holder's balances as a
//! [`Portfolio`], its margin from `ale-risk`, and the conversions with their rounding named.
//!
//! Risk numbers convert to money conservatively: equity rounds down, requirements (maintenance,
//! initial) round up. Quantities convert to the nearest 10⁻⁹ unit (a size is not money).

use std::collections::HashMap;
use std::sync::Arc;

use ale_core::{Account, AccountId, Amount, Asset, Instrument, Position, Rounding};
use ale_market::MarketSnapshot;
use ale_risk::book::Span;
use ale_risk::policy::{Exposure, LiquidationScan, Scratch, UnderlyingMargin};
use ale_risk::table::TableSpec;
use ale_risk::{
    AccountMargin, Book, BookAccount, BookPosition, MarginPolicy, RiskEngine, UnderlyingIx,
    UnderlyingTable,
};

use crate::error::{arith, LiquidationError};
use crate::ledger::UnitId;

/// What the engine knows of one instrument.
#[derive(Debug, Clone)]
pub(crate) struct InstrumentMeta {
    pub instrument: Instrument,
    pub underlying: Asset,
    pub u: UnderlyingIx,
    pub row: u32,
    /// Futures and perpetuals: worth `qty · mark − cost`.
    pub pnl_style: bool,
    /// Mark per unit (f64, from the risk tables).
    pub mark: f64,
    pub qty_unit: UnitId,
    pub cost_unit: UnitId,
    /// Settled at its expiry: no longer listed; `mark` is its settlement value per unit.
    pub expired: bool,
}

/// One position of a portfolio, exact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Holding {
    /// Index into the engine's instrument table.
    pub instrument: usize,
    /// Signed quantity, 10⁻⁹ units of the underlying.
    pub qty: Amount,
    /// Cost basis (futures and perpetuals; 0 otherwise).
    pub cost: Amount,
}

/// A holder's balances as the risk engine needs them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Portfolio {
    /// Cash by asset (asset order).
    pub cash: Vec<(Asset, Amount)>,
    /// Positions with a non-zero quantity or cost, in instrument-index order.
    pub positions: Vec<Holding>,
}

impl Portfolio {
    /// The cash of `asset`.
    pub fn cash_of(&self, asset: &Asset) -> Amount {
        self.cash
            .iter()
            .find(|(a, _)| a == asset)
            .map_or(Amount::ZERO, |(_, v)| *v)
    }

    /// Adds `delta` to the cash of `asset`.
    pub fn add_cash(&mut self, asset: &Asset, delta: Amount) -> Result<(), LiquidationError> {
        match self.cash.iter_mut().find(|(a, _)| a == asset) {
            Some((_, v)) => *v = v.checked_add(delta).map_err(arith("portfolio cash"))?,
            None => {
                self.cash.push((asset.clone(), delta));
                self.cash.sort_by(|a, b| a.0.cmp(&b.0));
            }
        }
        Ok(())
    }

    /// Adds a quantity and cost to the holding of `instrument`.
    pub fn add_position(
        &mut self,
        instrument: usize,
        qty: Amount,
        cost: Amount,
    ) -> Result<(), LiquidationError> {
        match self
            .positions
            .iter_mut()
            .find(|h| h.instrument == instrument)
        {
            Some(h) => {
                h.qty = h.qty.checked_add(qty).map_err(arith("portfolio qty"))?;
                h.cost = h.cost.checked_add(cost).map_err(arith("portfolio cost"))?;
            }
            None => {
                self.positions.push(Holding {
                    instrument,
                    qty,
                    cost,
                });
                self.positions.sort_by_key(|h| h.instrument);
            }
        }
        Ok(())
    }

    /// True when it holds no position.
    pub fn is_flat(&self) -> bool {
        self.positions.iter().all(|h| h.qty.is_zero())
    }
}

/// Equity and margins of a holder, in money (rounded conservatively) and as the risk engine
/// computed them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Health {
    /// Equity, rounded down.
    pub equity: Amount,
    /// Maintenance margin, rounded up.
    pub maintenance: Amount,
    /// Initial margin, rounded up.
    pub initial: Amount,
    /// Equity as computed (f64).
    pub equity_f64: f64,
    /// Maintenance margin as computed (f64).
    pub maintenance_f64: f64,
}

impl Health {
    /// From a risk-engine margin, with the conversions that favour solvency.
    pub fn from_margin(m: &AccountMargin) -> Result<Health, LiquidationError> {
        Ok(Health {
            equity: Amount::from_f64(m.equity, Rounding::Down).map_err(arith("equity"))?,
            maintenance: Amount::from_f64(m.maintenance, Rounding::Up)
                .map_err(arith("maintenance margin"))?,
            initial: Amount::from_f64(m.initial, Rounding::Up).map_err(arith("initial margin"))?,
            equity_f64: m.equity,
            maintenance_f64: m.maintenance,
        })
    }

    /// Equity < maintenance margin.
    pub fn is_liquidatable(&self) -> bool {
        self.equity < self.maintenance
    }

    /// Equity ≥ maintenance · (1 + buffer_fraction): the buffer margin of formats.md is 0.
    pub fn is_restored(&self, buffer_fraction: f64) -> Result<bool, LiquidationError> {
        Ok(self.equity >= self.buffer_target(buffer_fraction)?)
    }

    /// maintenance · (1 + buffer_fraction), rounded up.
    pub fn buffer_target(&self, buffer_fraction: f64) -> Result<Amount, LiquidationError> {
        let bf = Amount::from_f64(buffer_fraction, Rounding::Up).map_err(arith("buffer"))?;
        let extra = self
            .maintenance
            .checked_mul(bf, Rounding::Up)
            .map_err(arith("buffer"))?;
        self.maintenance.checked_add(extra).map_err(arith("buffer"))
    }

    /// Equity ≥ initial margin.
    pub fn meets_initial(&self) -> bool {
        self.equity >= self.initial
    }
}

/// A quantity from an `f64` size: the nearest 10⁻⁹ unit (a size is not money; every later
/// movement of it is exact).
pub fn quantity_from_size(size: f64) -> Result<Amount, LiquidationError> {
    let scaled = (size * 1e9).round();
    if !(scaled.is_finite() && scaled.abs() < 1e36) {
        return Err(LiquidationError::Invalid {
            field: "size".into(),
            reason: format!("must be finite and below 1e27, got {size}"),
        });
    }
    Ok(Amount::from_raw(scaled as i128))
}

/// The engine's policy, shared between the risk engine of the current market and the one built
/// for the next market (a `Box<dyn MarginPolicy>` cannot be taken back out of a `RiskEngine`).
/// It forwards every method of the trait, as `ale-risk` does for `Box<dyn MarginPolicy>`.
pub(crate) struct SharedPolicy(Arc<dyn MarginPolicy>);

impl MarginPolicy for SharedPolicy {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn component_names(&self) -> &'static [&'static str] {
        self.0.component_names()
    }
    fn table_spec(&self) -> TableSpec<'_> {
        self.0.table_spec()
    }
    fn liquidation_scan(&self) -> LiquidationScan {
        self.0.liquidation_scan()
    }
    fn margin(
        &self,
        table: &UnderlyingTable,
        exposure: &Exposure<'_>,
        scratch: &mut Scratch,
    ) -> UnderlyingMargin {
        self.0.margin(table, exposure, scratch)
    }
    fn im_component_names(&self) -> &'static [&'static str] {
        self.0.im_component_names()
    }
    fn whole_account(&self) -> Option<&ale_risk::pm_policy::PmPolicy> {
        self.0.whole_account()
    }
}

/// The risk side: a [`RiskEngine`] used as a margin oracle (its tables and policy), the
/// instruments it has listed, and their marks.
pub(crate) struct Margining {
    policy: Arc<dyn MarginPolicy>,
    risk: RiskEngine<SharedPolicy>,
    pub meta: Vec<InstrumentMeta>,
    index: HashMap<Instrument, usize>,
    listing: Account,
    dirty: bool,
    scratch: ale_risk::policy::Scratch,
    eval: BookAccount,
    rows: Vec<(UnderlyingIx, BookPosition)>,
}

fn empty_book_account() -> BookAccount {
    BookAccount {
        id: AccountId::new("~eval").unwrap_or_else(|_| unreachable!("valid constant")),
        positions: Vec::new(),
        spans: Vec::new(),
        collateral: Vec::new(),
    }
}

impl Margining {
    pub fn new(policy: Box<dyn MarginPolicy>, market: MarketSnapshot) -> Margining {
        let listing = Account::new(
            AccountId::new("~listing").unwrap_or_else(|_| unreachable!("valid constant")),
        );
        let policy: Arc<dyn MarginPolicy> = Arc::from(policy);
        Margining {
            risk: RiskEngine::new(SharedPolicy(policy.clone()), market, Book::new()),
            policy,
            meta: Vec::new(),
            index: HashMap::new(),
            listing,
            dirty: true,
            scratch: ale_risk::policy::Scratch::default(),
            eval: empty_book_account(),
            rows: Vec::new(),
        }
    }

    pub fn policy_name(&self) -> &'static str {
        self.risk.policy().name()
    }

    /// The market in force.
    pub fn market(&self) -> &MarketSnapshot {
        self.risk.market()
    }

    /// Replaces the market: a risk engine on `market` with every listed instrument, its tables
    /// built and the marks read. All or nothing: on an error (an instrument whose underlying the
    /// new market lacks, a table that cannot be built, a snapshot older than the one in force)
    /// the current market stays.
    pub fn replace_market(&mut self, market: MarketSnapshot) -> Result<(), LiquidationError> {
        let before = self.risk.market().time();
        if market.time() < before {
            return Err(LiquidationError::Invalid {
                field: "market.time".into(),
                reason: format!(
                    "the new snapshot ({}) is older than the one in force ({before})",
                    market.time()
                ),
            });
        }
        let mut risk = RiskEngine::new(SharedPolicy(self.policy.clone()), market, Book::new());
        if !self.listing.positions.is_empty() {
            risk.upsert_account(&self.listing)
                .map_err(|e| LiquidationError::Risk {
                    holder: "the listed instruments".into(),
                    reason: e.to_string(),
                })?;
        }
        risk.remargin_all();
        let mut meta = self.meta.clone();
        for m in meta.iter_mut().filter(|m| !m.expired) {
            let book = risk.book();
            let u =
                book.underlying_index(&m.underlying)
                    .ok_or_else(|| LiquidationError::Unknown {
                        what: "underlying",
                        name: m.underlying.to_string(),
                    })?;
            let row = book
                .rows(u)
                .find(|l| l.instrument == m.instrument)
                .map(|l| l.row)
                .ok_or_else(|| LiquidationError::Unknown {
                    what: "instrument",
                    name: m.instrument.to_string(),
                })?;
            let table = risk.table(u).ok_or_else(|| LiquidationError::Risk {
                holder: m.instrument.to_string(),
                reason: format!(
                    "no scenario table for underlying '{}' at the new market",
                    m.underlying
                ),
            })?;
            if let Some(Some(issue)) = table.issues.get(row as usize) {
                return Err(LiquidationError::Risk {
                    holder: m.instrument.to_string(),
                    reason: format!("{issue:?}"),
                });
            }
            m.u = u;
            m.row = row;
            m.mark = table.base[row as usize].mark;
        }
        self.risk = risk;
        self.meta = meta;
        self.dirty = false;
        Ok(())
    }

    /// Marks instrument `ix` settled at `value` per unit and stops listing it: the next market
    /// builds no table row for it (a table cannot mark an instrument past its expiry).
    pub fn expire(&mut self, ix: usize, value: f64) {
        if let Some(m) = self.meta.get_mut(ix) {
            m.expired = true;
            m.mark = value;
            let instrument = m.instrument.clone();
            self.listing
                .positions
                .retain(|p| p.instrument != instrument);
        }
    }

    pub fn index_of(&self, instrument: &Instrument) -> Option<usize> {
        self.index.get(instrument).copied()
    }

    /// Lists `instrument` (idempotent); `units` gives its quantity and cost units.
    pub fn list(
        &mut self,
        instrument: &Instrument,
        units: impl FnOnce() -> (UnitId, UnitId),
    ) -> Result<usize, LiquidationError> {
        if let Some(ix) = self.index.get(instrument) {
            return Ok(*ix);
        }
        self.listing.positions.push(Position {
            instrument: instrument.clone(),
            size: 1.0,
            entry_price: None,
        });
        let book_ix =
            self.risk
                .upsert_account(&self.listing)
                .map_err(|e| LiquidationError::Risk {
                    holder: instrument.to_string(),
                    reason: e.to_string(),
                })?;
        let book = self.risk.book();
        let account = book.account(book_ix);
        // The listing account holds every instrument once: find this one's row.
        let (qty_unit, cost_unit) = units();
        let u = book
            .underlying_index(instrument.underlying())
            .ok_or_else(|| LiquidationError::Unknown {
                what: "underlying",
                name: instrument.underlying().to_string(),
            })?;
        let row = book
            .rows(u)
            .find(|l| &l.instrument == instrument)
            .map(|l| l.row)
            .ok_or_else(|| LiquidationError::Unknown {
                what: "instrument",
                name: instrument.to_string(),
            })?;
        debug_assert!(account.positions.iter().any(|p| p.row == row));
        let ix = self.meta.len();
        self.meta.push(InstrumentMeta {
            instrument: instrument.clone(),
            underlying: instrument.underlying().clone(),
            u,
            row,
            pnl_style: matches!(
                instrument,
                Instrument::Future { .. } | Instrument::Perpetual { .. }
            ),
            mark: f64::NAN,
            qty_unit,
            cost_unit,
            expired: false,
        });
        self.index.insert(instrument.clone(), ix);
        self.dirty = true;
        Ok(ix)
    }

    /// Builds the tables when instruments were listed since the last build, and refreshes marks.
    pub fn ensure_tables(&mut self) -> Result<(), LiquidationError> {
        if !self.dirty {
            return Ok(());
        }
        self.risk.remargin_all();
        for m in self.meta.iter_mut().filter(|m| !m.expired) {
            let table = self.risk.table(m.u).ok_or_else(|| LiquidationError::Risk {
                holder: m.instrument.to_string(),
                reason: format!("no scenario table for underlying '{}'", m.underlying),
            })?;
            if let Some(Some(issue)) = table.issues.get(m.row as usize) {
                return Err(LiquidationError::Risk {
                    holder: m.instrument.to_string(),
                    reason: format!("{issue:?}"),
                });
            }
            m.mark = table.base[m.row as usize].mark;
        }
        self.dirty = false;
        Ok(())
    }

    /// The margin of `portfolio`; `name` names the holder in an error (called only then).
    pub fn margin(
        &mut self,
        name: &dyn Fn() -> String,
        portfolio: &Portfolio,
    ) -> Result<AccountMargin, LiquidationError> {
        self.ensure_tables()?;
        // The evaluation account is reused: its buffers are refilled, not reallocated.
        let mut account = std::mem::replace(&mut self.eval, empty_book_account());
        account.positions.clear();
        account.spans.clear();
        account.collateral.clear();
        self.rows.clear();
        for h in portfolio.positions.iter().filter(|h| !h.qty.is_zero()) {
            let m = &self.meta[h.instrument];
            let size = h.qty.to_f64();
            self.rows.push((
                m.u,
                BookPosition {
                    row: m.row,
                    size,
                    entry_price: m.pnl_style.then(|| h.cost.to_f64() / size),
                },
            ));
        }
        self.rows.sort_by_key(|(u, p)| (*u, p.row));
        for (i, (u, p)) in self.rows.iter().enumerate() {
            match account.spans.last_mut() {
                Some(span) if span.underlying == *u => span.end = i as u32 + 1,
                _ => account.spans.push(Span {
                    underlying: *u,
                    start: i as u32,
                    end: i as u32 + 1,
                }),
            }
            account.positions.push(*p);
        }
        account.collateral.extend(portfolio.cash.iter().cloned());
        let result = self.risk.margin_with_tables(&account, &mut self.scratch);
        self.eval = account;
        let mut margin = result.map_err(|e| LiquidationError::Risk {
            holder: name(),
            reason: e.to_string(),
        })?;
        // A future held with quantity 0 but a leftover cost basis (rounding dust) is worth −cost.
        for h in &portfolio.positions {
            if h.qty.is_zero() && !h.cost.is_zero() {
                margin.equity -= h.cost.to_f64();
            }
        }
        Ok(margin)
    }

    /// Health of `portfolio`; `name` names the holder in an error.
    pub fn health(
        &mut self,
        name: &dyn Fn() -> String,
        portfolio: &Portfolio,
    ) -> Result<Health, LiquidationError> {
        Health::from_margin(&self.margin(name, portfolio)?)
    }

    /// Value after haircuts of one unit of collateral `asset` (f64), if priced.
    pub fn collateral_unit_value(&self, asset: &Asset) -> Option<f64> {
        self.risk
            .market()
            .collateral(asset)
            .ok()
            .map(|p| p.price * p.value_factor())
    }
}
