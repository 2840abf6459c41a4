//! The batch engine: a venue's book, its market, one policy; every account margined from the
//! underlyings' scenario tables, in parallel, and re-margined incrementally.
//!
//! Cost of a full re-margin: (instruments × scenarios) pricings to build the tables, then
//! (positions × scenarios) multiply-adds to net every account, with no allocation per account.
//! After one underlying moves, only its table and the accounts exposed to it are recomputed;
//! after an account changes, only that account.

use arrayvec::ArrayVec;

use ale_core::{Account, AccountId, Asset};
use ale_market::{MarketSnapshot, UnderlyingMarket};
use rayon::prelude::*;

use crate::book::{Book, BookAccount, BookPosition, UnderlyingIx};
use crate::error::RiskError;
use crate::policy::{Exposure, MarginPolicy, Scratch, UnderlyingMargin, MAX_COMPONENTS};
use crate::scenario::{vol_shift, VolMove};
use crate::table::{RowIssue, UnderlyingTable};

/// An account's standing against its margins (formats.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Equity ≥ initial margin.
    Healthy,
    /// Maintenance ≤ equity < initial margin.
    MarginCall,
    /// Equity < maintenance margin.
    Liquidatable,
}

impl Status {
    /// `healthy`, `margin_call`, `liquidatable`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::MarginCall => "margin_call",
            Status::Liquidatable => "liquidatable",
        }
    }

    /// The status of `equity` against the two margins.
    pub fn of(equity: f64, maintenance: f64, initial: f64) -> Status {
        if equity < maintenance {
            Status::Liquidatable
        } else if equity < initial {
            Status::MarginCall
        } else {
            Status::Healthy
        }
    }
}

/// The binding scenario of an account's main underlying.
#[derive(Debug, Clone, PartialEq)]
pub enum WorstScenario {
    /// A point of a `ramm` grid.
    Grid {
        /// Which underlying.
        underlying: Asset,
        /// Relative spot move.
        spot_move: f64,
        /// Direction of the vol shock.
        vol: VolMove,
        /// The vol shift at the policy's reference expiry (signed, decimal).
        vol_shift_ref: f64,
    },
    /// A scenario of the `pm` list.
    Pm {
        /// Which underlying.
        underlying: Asset,
        /// Its index in the scenario list.
        index: usize,
        /// Relative spot move (multiplier − 1).
        spot_move: f64,
        /// `Up`, `None`, `Down`, `Linear` or `Abs`.
        vol_shock: &'static str,
        /// Dampening.
        dampening: f64,
    },
    /// The `pm` basis floor binds.
    PmBasis {
        /// Which underlying.
        underlying: Asset,
    },
}

impl WorstScenario {
    /// The underlying it moves.
    pub fn underlying(&self) -> &Asset {
        match self {
            WorstScenario::Grid { underlying, .. }
            | WorstScenario::Pm { underlying, .. }
            | WorstScenario::PmBasis { underlying } => underlying,
        }
    }
}

/// The margin of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountMargin {
    /// Equity: collateral after haircuts + mark value of the positions.
    pub equity: f64,
    /// Maintenance margin, the sum of the components.
    pub maintenance: f64,
    /// Initial margin.
    pub initial: f64,
    /// Components summed over underlyings, in the policy's order.
    pub components: [f64; MAX_COMPONENTS],
    /// Initial-margin components, for policies that report them apart (pm), in the order of
    /// [`MarginPolicy::im_component_names`].
    pub im_components: Option<[f64; MAX_COMPONENTS]>,
    /// The binding scenario of the underlying with the largest requirement.
    pub worst_scenario: Option<WorstScenario>,
    /// The underlying with the largest gross exposure (liquidation prices move it).
    pub main_underlying: Option<Asset>,
}

impl AccountMargin {
    /// Status against the margins.
    pub fn status(&self) -> Status {
        Status::of(self.equity, self.maintenance, self.initial)
    }
    /// equity / maintenance, `None` when the margin is 0.
    pub fn margin_ratio(&self) -> Option<f64> {
        (self.maintenance > 0.0).then(|| self.equity / self.maintenance)
    }
    /// What brings equity back to the initial margin (0 when none is needed).
    pub fn top_up(&self) -> f64 {
        (self.initial - self.equity).max(0.0)
    }
}

/// The engine.
pub struct RiskEngine<P: MarginPolicy> {
    policy: P,
    market: MarketSnapshot,
    book: Book,
    tables: Vec<Result<UnderlyingTable, RiskError>>,
    /// Per underlying: accounts exposed to it (positions or moving collateral), sorted.
    holders: Vec<Vec<usize>>,
    margins: Vec<Result<AccountMargin, RiskError>>,
    /// Per account, its margin per underlying (`None` for whole-account policies and accounts
    /// whose collateral could not be valued): a market update for one underlying recomputes
    /// that underlying's part alone and sums the parts again, in the same order as a full
    /// re-margin, so that both give the same bits.
    parts: Vec<Option<AccountParts>>,
    /// The exposure index must be rebuilt (a new underlying or a collateral asset that now
    /// moves with another underlying); account changes keep it current incrementally.
    holders_dirty: bool,
}

impl<P: MarginPolicy> RiskEngine<P> {
    /// An engine over `book` on `market` under `policy`; computes nothing until asked.
    pub fn new(policy: P, market: MarketSnapshot, mut book: Book) -> RiskEngine<P> {
        for u in market.underlyings() {
            book.intern_underlying(u.name());
        }
        let mut engine = RiskEngine {
            policy,
            market,
            book,
            tables: Vec::new(),
            holders: Vec::new(),
            margins: Vec::new(),
            parts: Vec::new(),
            holders_dirty: true,
        };
        engine.rebuild_holders();
        engine
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }
    /// The market.
    pub fn market(&self) -> &MarketSnapshot {
        &self.market
    }
    /// The book.
    pub fn book(&self) -> &Book {
        &self.book
    }
    /// The table of underlying `u` (after a re-margin).
    pub fn table(&self, u: UnderlyingIx) -> Option<&UnderlyingTable> {
        self.tables.get(u).and_then(|t| t.as_ref().ok())
    }
    /// Accounts exposed to underlying `u` (positions or moving collateral), sorted.
    pub fn holders(&self, u: UnderlyingIx) -> &[usize] {
        self.holders.get(u).map_or(&[], |h| h.as_slice())
    }

    /// Replaces a collateral price; re-margins the accounts holding that asset. Returns them.
    pub fn update_collateral(
        &mut self,
        asset: Asset,
        price: ale_market::CollateralPrice,
    ) -> Vec<usize> {
        let before = self.market.collateral_underlying(&asset).cloned();
        self.market.insert_collateral(asset.clone(), price);
        if self.market.collateral_underlying(&asset).cloned() != before {
            self.rebuild_holders();
        }
        let affected: Vec<usize> = self
            .book
            .accounts()
            .iter()
            .enumerate()
            .filter(|(_, a)| a.collateral.iter().any(|(x, _)| *x == asset))
            .map(|(i, _)| i)
            .collect();
        let mut scratch = Scratch::default();
        for &ix in &affected {
            let (margin, parts) = self.compute_account(self.book.account(ix), &mut scratch);
            self.margins[ix] = margin;
            self.parts[ix] = parts;
        }
        affected
    }

    /// Moves the market to a later time and re-margins everything (time to expiry changed for
    /// every option).
    pub fn advance_time(&mut self, time: ale_core::Timestamp) -> Result<(), RiskError> {
        self.market.advance_time(time)?;
        self.remargin_all();
        Ok(())
    }

    /// The table of underlying `u`, or why there is none (for the liquidation-price batch).
    pub(crate) fn table_result(&self, u: UnderlyingIx) -> Result<&UnderlyingTable, RiskError> {
        match self.tables.get(u) {
            Some(Ok(t)) => Ok(t),
            Some(Err(e)) => Err(e.clone()),
            None => Err(RiskError::Limit(
                "tables not built: call remargin_all".into(),
            )),
        }
    }
    /// The last computed margins, by account index.
    pub fn margins(&self) -> &[Result<AccountMargin, RiskError>] {
        &self.margins
    }

    fn exposed_underlyings(&self, account: &BookAccount) -> Vec<UnderlyingIx> {
        let mut out: Vec<UnderlyingIx> = account.spans.iter().map(|s| s.underlying).collect();
        for (asset, _) in &account.collateral {
            if let Some(u) = self
                .market
                .collateral_underlying(asset)
                .and_then(|u| self.book.underlying_index(u))
            {
                out.push(u);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn add_holder(&mut self, u: UnderlyingIx, ix: usize) {
        let list = &mut self.holders[u];
        if let Err(at) = list.binary_search(&ix) {
            list.insert(at, ix);
        }
    }

    fn rebuild_holders(&mut self) {
        let mut holders = vec![Vec::new(); self.book.underlyings().len()];
        for (ix, account) in self.book.accounts().iter().enumerate() {
            for u in self.exposed_underlyings(account) {
                // Accounts are visited in index order: every list stays sorted.
                holders[u].push(ix);
            }
        }
        self.holders = holders;
        self.holders_dirty = false;
    }

    fn build_table(&self, u: UnderlyingIx) -> Result<UnderlyingTable, RiskError> {
        let asset = &self.book.underlyings()[u];
        let market = self.market.underlying(asset)?;
        let mut table = UnderlyingTable::build(
            self.policy.table_spec(),
            market,
            self.market.time(),
            self.market.rate(),
            1.0,
            self.book.rows(u).map(|l| &l.kind),
        )?;
        if let Some(pm) = self.policy.whole_account() {
            table.pm = Some(std::sync::Arc::new(crate::pm_table::PmTable::build(
                pm,
                &self.market,
                asset,
                self.book.rows(u).map(|l| &l.kind),
            )?));
        }
        Ok(table)
    }

    /// Rebuilds every table and re-margins every account (all cores).
    pub fn remargin_all(&mut self) {
        let n_underlyings = self.book.underlyings().len();
        self.tables = (0..n_underlyings)
            .into_par_iter()
            .map(|u| self.build_table(u))
            .collect();
        if self.holders_dirty {
            self.rebuild_holders();
        }
        let (margins, parts): (Vec<_>, Vec<_>) = self
            .book
            .accounts()
            .par_iter()
            .map_init(Scratch::default, |scratch, account| {
                self.compute_account(account, scratch)
            })
            .unzip();
        self.margins = margins;
        self.parts = parts;
    }

    /// An account's margin from the current tables, with the parts to keep.
    fn compute_account(
        &self,
        account: &BookAccount,
        scratch: &mut Scratch,
    ) -> (Result<AccountMargin, RiskError>, Option<AccountParts>) {
        let tables = |u: UnderlyingIx| table_of(&self.tables, u);
        compute_account(
            &self.policy,
            &self.market,
            &self.book,
            &tables,
            account,
            scratch,
        )
    }

    /// Replaces one underlying's market data, rebuilds its table and re-margins the accounts
    /// exposed to it; returns how many accounts were re-margined.
    pub fn update_underlying(&mut self, market: UnderlyingMarket) -> Result<usize, RiskError> {
        let u = self.book.intern_underlying(market.name());
        self.market.insert_underlying(market);
        if self.tables.len() <= u {
            self.holders_dirty = true;
            self.remargin_all();
            return Ok(self.book.accounts().len());
        }
        self.tables[u] = self.build_table(u);
        let mut affected = vec![false; self.margins.len()];
        for &ix in &self.holders[u] {
            affected[ix] = true;
        }
        // Only the part of `u` is recomputed; the account's other underlyings keep theirs.
        let (policy, market, book, tables) = (&self.policy, &self.market, &self.book, &self.tables);
        let lookup = |x: UnderlyingIx| table_of(tables, x);
        self.parts
            .par_iter_mut()
            .zip(self.margins.par_iter_mut())
            .enumerate()
            .filter(|(ix, _)| affected[*ix])
            .for_each_init(Scratch::default, |scratch, (ix, (parts, margin))| {
                let account = book.account(ix);
                let kept = parts.as_mut().and_then(|p| {
                    let all_ok = p.parts.iter().all(Result::is_ok);
                    let k = p
                        .parts
                        .iter()
                        .position(|x| x.as_ref().is_ok_and(|x| x.underlying == u))?;
                    all_ok.then_some((p, k))
                });
                match kept {
                    Some((p, k)) => {
                        let base = p.parts[k].as_ref().map_or(0.0, |x| x.moving_base);
                        p.parts[k] = underlying_part(
                            policy, market, book, account, u, base, scratch, &lookup, None,
                        );
                        *margin = combine(policy, book, account, p.collateral_value, &p.parts);
                    }
                    None => {
                        // An account that failed before, or a whole-account policy: recompute
                        // it whole.
                        let fresh =
                            compute_account(policy, market, book, &lookup, account, scratch);
                        *margin = fresh.0;
                        *parts = fresh.1;
                    }
                }
            });
        Ok(self.holders[u].len())
    }

    /// Adds or replaces an account and re-margins it alone (new instruments it holds are listed
    /// and their tables rebuilt). Returns its index.
    pub fn upsert_account(&mut self, account: &Account) -> Result<usize, RiskError> {
        let rows_before: Vec<usize> = (0..self.book.underlyings().len())
            .map(|u| self.book.row_count(u))
            .collect();
        let ix = self.book.upsert_account(account)?;
        let n = self.book.underlyings().len();
        if self.tables.len() < n
            || (0..n).any(|u| rows_before.get(u).copied() != Some(self.book.row_count(u)))
        {
            // A new instrument: rebuild the tables that grew (rare; listing is a venue event).
            self.tables
                .resize_with(n, || Err(RiskError::Limit("table not built".into())));
            self.holders.resize_with(n, Vec::new);
            for u in 0..n {
                if rows_before.get(u).copied() != Some(self.book.row_count(u)) {
                    self.tables[u] = self.build_table(u);
                }
            }
        }
        for u in self.exposed_underlyings(self.book.account(ix)) {
            self.add_holder(u, ix);
        }
        let (m, parts) = self.compute_account(self.book.account(ix), &mut Scratch::default());
        if ix == self.margins.len() {
            self.margins.push(m);
            self.parts.push(parts);
        } else {
            self.margins[ix] = m;
            self.parts[ix] = parts;
        }
        Ok(ix)
    }

    /// The margin of account `ix` from the current tables (an API call: microseconds).
    pub fn margin_of(&self, ix: usize) -> Result<AccountMargin, RiskError> {
        self.margin_with_tables(self.book.account(ix), &mut Scratch::default())
    }

    /// The margin of an account from the venue tables.
    pub fn margin_with_tables(
        &self,
        account: &BookAccount,
        scratch: &mut Scratch,
    ) -> Result<AccountMargin, RiskError> {
        let tables = |u: UnderlyingIx| table_of(&self.tables, u);
        margin_account(
            &self.policy,
            &self.market,
            &self.book,
            account,
            scratch,
            &tables,
            &[],
        )
    }

    /// Identifies an account by id.
    pub fn account_index(&self, id: &AccountId) -> Option<usize> {
        self.book.account_index(id)
    }

    /// Lets `edit` change the book (upsert accounts, replace it with a compacted one), then
    /// replaces the whole market (time included) and re-margins every account: one table build
    /// per underlying, no copy of the book. The same result as `RiskEngine::new(policy, market,
    /// edited book)` followed by [`RiskEngine::remargin_all`]. (Added for `ale-sim`'s hourly
    /// step.)
    pub fn reset(
        &mut self,
        market: MarketSnapshot,
        edit: impl FnOnce(&mut Book) -> Result<(), RiskError>,
    ) -> Result<(), RiskError> {
        edit(&mut self.book)?;
        for u in market.underlyings() {
            self.book.intern_underlying(u.name());
        }
        self.market = market;
        self.holders_dirty = true;
        self.remargin_all();
        Ok(())
    }
}

/// An account's margin with the parts the engine keeps (none for whole-account policies or
/// when the collateral cannot be valued).
fn compute_account<'t, P: MarginPolicy + ?Sized>(
    policy: &P,
    market: &MarketSnapshot,
    book: &Book,
    tables: &dyn Fn(UnderlyingIx) -> Result<&'t UnderlyingTable, RiskError>,
    account: &BookAccount,
    scratch: &mut Scratch,
) -> (Result<AccountMargin, RiskError>, Option<AccountParts>) {
    if policy.whole_account().is_some() {
        return (
            margin_account(policy, market, book, account, scratch, tables, &[]),
            None,
        );
    }
    match account_parts(policy, market, book, account, scratch, tables, &[]) {
        Ok(parts) => (
            combine(policy, book, account, parts.collateral_value, &parts.parts),
            Some(parts),
        ),
        Err(e) => (Err(e), None),
    }
}

/// The table of underlying `u`, or why there is none.
fn table_of(
    tables: &[Result<UnderlyingTable, RiskError>],
    u: UnderlyingIx,
) -> Result<&UnderlyingTable, RiskError> {
    match tables.get(u) {
        Some(Ok(t)) => Ok(t),
        Some(Err(e)) => Err(e.clone()),
        None => Err(RiskError::Limit(
            "tables not built: call remargin_all".into(),
        )),
    }
}

/// Most underlyings one account may be exposed to (positions or moving collateral): a bound on
/// the per-account scratch space, so that margining allocates nothing.
pub const MAX_UNDERLYINGS_PER_ACCOUNT: usize = 16;

/// Value after haircuts of each collateral asset, and the part moving with each underlying.
pub(crate) struct CollateralView {
    pub value: f64,
    /// (underlying, value moving with it)
    pub moving: ArrayVec<(UnderlyingIx, f64), MAX_UNDERLYINGS_PER_ACCOUNT>,
}

fn too_many_underlyings(account: &BookAccount) -> RiskError {
    RiskError::Limit(format!(
        "account '{}' is exposed to more than {MAX_UNDERLYINGS_PER_ACCOUNT} underlyings",
        account.id
    ))
}

pub(crate) fn collateral_view(
    market: &MarketSnapshot,
    book: &Book,
    account: &BookAccount,
) -> Result<CollateralView, RiskError> {
    let mut view = CollateralView {
        value: 0.0,
        moving: ArrayVec::new(),
    };
    for (asset, amount) in &account.collateral {
        let price = market.collateral(asset)?;
        let v = amount.to_f64() * price.price * price.value_factor();
        view.value += v;
        if let Some(u) = market
            .collateral_underlying(asset)
            .and_then(|u| book.underlying_index(u))
        {
            match view.moving.iter_mut().find(|(x, _)| *x == u) {
                Some((_, total)) => *total += v,
                None => view
                    .moving
                    .try_push((u, v))
                    .map_err(|_| too_many_underlyings(account))?,
            }
        }
    }
    Ok(view)
}

/// Turns a row issue into the error an account holding the row gets.
pub(crate) fn row_error(
    book: &Book,
    u: UnderlyingIx,
    row: u32,
    issue: &RowIssue,
    market: &MarketSnapshot,
) -> RiskError {
    let listed = book.row(u, row);
    match issue {
        RowIssue::Expired { expiry } => RiskError::Expired {
            instrument: listed.instrument.to_string(),
            expiry: expiry.instant().to_string(),
            now: market.time().to_string(),
        },
        RowIssue::Pricing(reason) => RiskError::Pricing {
            instrument: listed.instrument.to_string(),
            reason: reason.clone(),
        },
    }
}

/// One account's margin on one underlying: what the engine keeps per account and underlying so
/// that a move of another underlying does not recompute it, and what the liquidation-price
/// solver recomputes alone while the account's other underlyings stay put.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UnderlyingPart {
    /// Which underlying.
    pub underlying: UnderlyingIx,
    /// Value after haircuts, at the venue's market, of the collateral moving with it.
    pub moving_base: f64,
    /// Equity it adds: the positions' mark value plus the change of the moving collateral.
    pub equity: f64,
    /// Gross exposure (Σ |size|·spot + |moving collateral|): picks the main underlying.
    pub gross: f64,
    /// The policy's margin of the exposure.
    pub margin: UnderlyingMargin,
    /// The binding scenario, resolved from the table: (spot move, vol move).
    pub worst: Option<(f64, VolMove)>,
}

/// The underlyings an account is exposed to, in the order its margin sums them: those of its
/// positions, then those its collateral moves with.
pub(crate) fn account_underlyings(
    account: &BookAccount,
    collateral: &CollateralView,
) -> Result<ArrayVec<UnderlyingIx, MAX_UNDERLYINGS_PER_ACCOUNT>, RiskError> {
    let mut underlyings: ArrayVec<UnderlyingIx, MAX_UNDERLYINGS_PER_ACCOUNT> = ArrayVec::new();
    for u in account
        .spans
        .iter()
        .map(|s| s.underlying)
        .chain(collateral.moving.iter().map(|(u, _)| *u))
    {
        if !underlyings.contains(&u) {
            underlyings
                .try_push(u)
                .map_err(|_| too_many_underlyings(account))?;
        }
    }
    Ok(underlyings)
}

/// The value moving with underlying `u` in a collateral view.
pub(crate) fn moving_base(collateral: &CollateralView, u: UnderlyingIx) -> f64 {
    collateral
        .moving
        .iter()
        .find(|(x, _)| *x == u)
        .map_or(0.0, |(_, v)| *v)
}

/// The part of one underlying. `ov` replaces the venue table and the account's rows (the
/// liquidation-price solver's moved table).
#[allow(clippy::too_many_arguments)]
pub(crate) fn underlying_part<'t, P: MarginPolicy + ?Sized>(
    policy: &P,
    market: &MarketSnapshot,
    book: &Book,
    account: &BookAccount,
    u: UnderlyingIx,
    moving_base: f64,
    scratch: &mut Scratch,
    tables: &dyn Fn(UnderlyingIx) -> Result<&'t UnderlyingTable, RiskError>,
    ov: Option<&Override<'_>>,
) -> Result<UnderlyingPart, RiskError> {
    let table: &UnderlyingTable = match ov {
        Some(o) => o.table,
        None => tables(u)?,
    };
    let positions: &[BookPosition] = match (ov, account.spans.iter().find(|s| s.underlying == u)) {
        (Some(o), _) => o.positions,
        (None, Some(span)) => &account.positions[span.start as usize..span.end as usize],
        (None, None) => &[],
    };
    let moving = moving_base * table.spot_factor;
    let mut equity = moving - moving_base;
    let mut gross = moving.abs();
    for pos in positions {
        if let Some(issue) = &table.issues[pos.row as usize] {
            let original_row = match ov {
                Some(o) => o.original_rows[pos.row as usize],
                None => pos.row,
            };
            return Err(row_error(book, u, original_row, issue, market));
        }
        let base = &table.base[pos.row as usize];
        equity += if base.pnl_style {
            pos.size * (base.mark - pos.entry_price.unwrap_or(base.mark))
        } else {
            pos.size * base.mark
        };
        gross += pos.size.abs() * table.spot;
    }
    let margin = policy.margin(
        table,
        &Exposure {
            positions,
            moving_collateral: moving,
        },
        scratch,
    );
    let worst = margin
        .worst_scenario
        .and_then(|s| table.scenarios().get(s))
        .map(|sc| (sc.spot_move, sc.vol));
    Ok(UnderlyingPart {
        underlying: u,
        moving_base,
        equity,
        gross,
        margin,
        worst,
    })
}

/// An account's margin from its collateral value and its parts, summed in the parts' order.
pub(crate) fn combine<'p, P: MarginPolicy + ?Sized>(
    policy: &P,
    book: &Book,
    account: &BookAccount,
    collateral_value: f64,
    parts: impl IntoIterator<Item = &'p Result<UnderlyingPart, RiskError>>,
) -> Result<AccountMargin, RiskError> {
    let mut equity = collateral_value;
    let mut maintenance = 0.0;
    let mut initial = 0.0;
    let mut components = [0.0; MAX_COMPONENTS];
    let mut main: Option<(UnderlyingIx, f64)> = None;
    let mut worst: Option<(f64, UnderlyingIx, f64, VolMove)> = None;
    for part in parts {
        let part = part.as_ref().map_err(Clone::clone)?;
        let m = &part.margin;
        equity += part.equity;
        maintenance += m.maintenance;
        initial += m.initial;
        for (c, x) in components.iter_mut().zip(m.components) {
            *c += x;
        }
        if main.is_none_or(|(_, g)| part.gross > g) {
            main = Some((part.underlying, part.gross));
        }
        if let Some((spot_move, vol)) = part.worst {
            if worst.is_none_or(|(mm, ..)| m.maintenance > mm) {
                worst = Some((m.maintenance, part.underlying, spot_move, vol));
            }
        }
    }
    for (name, value) in [
        ("equity", equity),
        ("maintenance_margin", maintenance),
        ("initial_margin", initial),
    ] {
        if !value.is_finite() {
            return Err(RiskError::Invalid {
                field: format!("{}.{name}", account.id),
                reason: format!("computed a non-finite value ({value}); check the market data"),
            });
        }
    }
    Ok(AccountMargin {
        equity,
        maintenance,
        initial,
        components,
        im_components: None,
        worst_scenario: worst.map(|(_, u, spot_move, vol)| WorstScenario::Grid {
            underlying: book.underlyings()[u].clone(),
            spot_move,
            vol,
            vol_shift_ref: policy_vol_shift(policy, vol),
        }),
        main_underlying: main.map(|(u, _)| book.underlyings()[u].clone()),
    })
}

/// The collateral value and every underlying part of one account (not for whole-account
/// policies: see [`margin_account`]).
pub(crate) fn account_parts<'t, P: MarginPolicy + ?Sized>(
    policy: &P,
    market: &MarketSnapshot,
    book: &Book,
    account: &BookAccount,
    scratch: &mut Scratch,
    tables: &dyn Fn(UnderlyingIx) -> Result<&'t UnderlyingTable, RiskError>,
    overrides: &[Override<'_>],
) -> Result<AccountParts, RiskError> {
    let mut parts = Vec::with_capacity(account.spans.len() + 1);
    let collateral_value = each_part(
        policy,
        market,
        book,
        account,
        scratch,
        tables,
        overrides,
        |part| {
            // An error is the account's margin: later parts are not needed.
            let go_on = part.is_ok();
            parts.push(part);
            go_on
        },
    )?;
    Ok(AccountParts {
        collateral_value,
        parts,
    })
}

/// What the engine keeps of one account's margin between updates.
#[derive(Debug, Clone)]
pub(crate) struct AccountParts {
    /// Value of the collateral after haircuts.
    pub collateral_value: f64,
    /// Per underlying, in summing order; an error ends the list.
    pub parts: Vec<Result<UnderlyingPart, RiskError>>,
}

/// The margin of one account with one underlying moved (`ov`), the others taken from `fixed`
/// (the account's parts at the venue's market, computed once by the caller): the same bits as
/// [`margin_account`] with that override, without recomputing the parts that did not move.
#[allow(clippy::too_many_arguments)]
pub(crate) fn margin_with_moved<'t, P: MarginPolicy + ?Sized>(
    policy: &P,
    market: &MarketSnapshot,
    book: &Book,
    account: &BookAccount,
    fixed: Option<&AccountParts>,
    scratch: &mut Scratch,
    tables: &dyn Fn(UnderlyingIx) -> Result<&'t UnderlyingTable, RiskError>,
    ov: &Override<'_>,
) -> Result<AccountMargin, RiskError> {
    let found = fixed
        .filter(|f| f.parts.iter().all(Result::is_ok))
        .and_then(|f| {
            let k = f
                .parts
                .iter()
                .position(|p| p.as_ref().is_ok_and(|p| p.underlying == ov.underlying))?;
            Some((f, k))
        });
    let Some((fixed, k)) = found else {
        return margin_account(
            policy,
            market,
            book,
            account,
            scratch,
            tables,
            std::slice::from_ref(ov),
        );
    };
    let base = fixed.parts[k].as_ref().map_or(0.0, |p| p.moving_base);
    let moved = underlying_part(
        policy,
        market,
        book,
        account,
        ov.underlying,
        base,
        scratch,
        tables,
        Some(ov),
    );
    combine(
        policy,
        book,
        account,
        fixed.collateral_value,
        fixed
            .parts
            .iter()
            .enumerate()
            .map(|(i, p)| if i == k { &moved } else { p }),
    )
}

/// The margin of one account. `overrides` replaces, for the listed underlyings, the table and the
/// positions (the liquidation-price solver passes a table moved in spot and the account's rows
/// re-indexed into it), and the factor its moving collateral is scaled by.
pub(crate) fn margin_account<'t, P: MarginPolicy + ?Sized>(
    policy: &P,
    market: &MarketSnapshot,
    book: &Book,
    account: &BookAccount,
    scratch: &mut Scratch,
    tables: &dyn Fn(UnderlyingIx) -> Result<&'t UnderlyingTable, RiskError>,
    overrides: &[Override<'_>],
) -> Result<AccountMargin, RiskError> {
    if let Some(pm) = policy.whole_account() {
        // Only the venue's own tables carry pm values (an override moves the market, and its
        // table has none): the rest is priced alone.
        return pm.account_margin_from(market, &book.to_account(account), |asset| {
            let u = book.underlying_index(asset)?;
            if overrides.iter().any(|o| o.underlying == u) {
                return None;
            }
            tables(u).ok()?.pm.as_deref()
        });
    }
    let mut parts: ArrayVec<Result<UnderlyingPart, RiskError>, MAX_UNDERLYINGS_PER_ACCOUNT> =
        ArrayVec::new();
    let mut failed = None;
    let collateral_value = each_part(
        policy,
        market,
        book,
        account,
        scratch,
        tables,
        overrides,
        |part| match part {
            Ok(p) => {
                parts.push(Ok(p));
                true
            }
            Err(e) => {
                failed = Some(e);
                false
            }
        },
    )?;
    if let Some(e) = failed {
        return Err(e);
    }
    combine(policy, book, account, collateral_value, &parts)
}

/// Computes the parts of an account's underlyings in summing order, handing each to `take`
/// until it returns false; returns the collateral value.
#[allow(clippy::too_many_arguments)]
fn each_part<'t, P: MarginPolicy + ?Sized>(
    policy: &P,
    market: &MarketSnapshot,
    book: &Book,
    account: &BookAccount,
    scratch: &mut Scratch,
    tables: &dyn Fn(UnderlyingIx) -> Result<&'t UnderlyingTable, RiskError>,
    overrides: &[Override<'_>],
    mut take: impl FnMut(Result<UnderlyingPart, RiskError>) -> bool,
) -> Result<f64, RiskError> {
    let collateral = collateral_view(market, book, account)?;
    for u in account_underlyings(account, &collateral)? {
        let part = underlying_part(
            policy,
            market,
            book,
            account,
            u,
            moving_base(&collateral, u),
            scratch,
            tables,
            overrides.iter().find(|o| o.underlying == u),
        );
        if !take(part) {
            break;
        }
    }
    Ok(collateral.value)
}

fn policy_vol_shift<P: MarginPolicy + ?Sized>(policy: &P, vol: VolMove) -> f64 {
    match policy.table_spec() {
        crate::table::TableSpec::Ramm(p) => vol_shift(p, vol, p.vol_ref_days / 365.0),
        crate::table::TableSpec::MarksOnly { .. } => 0.0,
    }
}

/// A table and positions that stand in for an underlying's venue table (see [`margin_account`]).
pub(crate) struct Override<'a> {
    pub underlying: UnderlyingIx,
    pub table: &'a UnderlyingTable,
    pub positions: &'a [BookPosition],
    /// Row in the venue table of each row of `table`.
    pub original_rows: &'a [u32],
}

impl<P: MarginPolicy> RiskEngine<P> {
    /// The liquidation prices of account `ix` (ramm.md), from the current tables.
    pub fn liquidation_prices(
        &self,
        ix: usize,
    ) -> Result<Option<crate::liquidation_price::LiquidationPrices>, RiskError> {
        let tables = |u: UnderlyingIx| -> Result<&UnderlyingTable, RiskError> {
            match self.tables.get(u) {
                Some(Ok(t)) => Ok(t),
                Some(Err(e)) => Err(e.clone()),
                None => Err(RiskError::Limit(
                    "tables not built: call remargin_all".into(),
                )),
            }
        };
        if let Some(pm) = self.policy.whole_account() {
            return pm
                .liquidation_prices(&self.market, &self.book.to_account(self.book.account(ix)));
        }
        crate::liquidation_price::liquidation_prices(
            &self.policy,
            &self.market,
            &self.book,
            self.book.account(ix),
            &tables,
        )
    }
}

impl<P: MarginPolicy> RiskEngine<P> {
    /// The scenario P&L of every account on underlying `u` into `out` (accounts × scenarios,
    /// row-major; accounts without exposure get zeros): the netting step alone, the quantity a
    /// numpy peer computes as a sparse (accounts × instruments) by dense (instruments ×
    /// scenarios) product. Moving collateral is included. Uses all cores.
    pub fn scenario_pnl(&self, u: UnderlyingIx, out: &mut [f64]) -> Result<(), RiskError> {
        let table = match self.tables.get(u) {
            Some(Ok(t)) => t,
            Some(Err(e)) => return Err(e.clone()),
            None => {
                return Err(RiskError::Limit(
                    "tables not built: call remargin_all".into(),
                ))
            }
        };
        let n = table.n_scenarios;
        let accounts = self.book.accounts();
        if out.len() != accounts.len() * n {
            return Err(RiskError::Invalid {
                field: "out".into(),
                reason: format!(
                    "must hold accounts × scenarios = {} values, got {}",
                    accounts.len() * n,
                    out.len()
                ),
            });
        }
        if n == 0 {
            return Ok(());
        }
        let scenarios = table.scenarios();
        out.par_chunks_mut(n)
            .zip(accounts.par_iter())
            .try_for_each(|(row_out, account)| {
                row_out.fill(0.0);
                if let Some(span) = account.spans.iter().find(|s| s.underlying == u) {
                    for pos in &account.positions[span.start as usize..span.end as usize] {
                        let row = pos.row as usize;
                        for (o, x) in row_out.iter_mut().zip(&table.pnl[row * n..(row + 1) * n]) {
                            *o += pos.size * x;
                        }
                    }
                }
                let view = collateral_view(&self.market, &self.book, account)?;
                if let Some((_, moving)) = view.moving.iter().find(|(x, _)| *x == u) {
                    for (o, s) in row_out.iter_mut().zip(scenarios) {
                        *o += moving * s.spot_move;
                    }
                }
                Ok(())
            })
    }
}

/// The margin of one account from nothing: its own instruments priced under every scenario,
/// no venue table (an API call for an account the engine has not seen).
pub fn margin_standalone<P: MarginPolicy>(
    policy: &P,
    market: &MarketSnapshot,
    account: &Account,
) -> Result<AccountMargin, RiskError> {
    let mut book = Book::new();
    let ix = book.upsert_account(account)?;
    // Collateral may move with an underlying the account holds no position on: every market
    // underlying gets a table (one without rows costs only its grid).
    for u in market.underlyings() {
        book.intern_underlying(u.name());
    }
    let tables: Vec<Result<UnderlyingTable, RiskError>> = (0..book.underlyings().len())
        .map(|u| {
            let asset = &book.underlyings()[u];
            UnderlyingTable::build(
                policy.table_spec(),
                market.underlying(asset)?,
                market.time(),
                market.rate(),
                1.0,
                book.rows(u).map(|l| &l.kind),
            )
        })
        .collect();
    let lookup = |u: UnderlyingIx| -> Result<&UnderlyingTable, RiskError> {
        match tables.get(u) {
            Some(Ok(t)) => Ok(t),
            Some(Err(e)) => Err(e.clone()),
            None => Err(RiskError::Limit("no table".into())),
        }
    };
    let account_ref = book.account(ix);
    margin_account(
        policy,
        market,
        &book,
        account_ref,
        &mut Scratch::default(),
        &lookup,
        &[],
    )
}
