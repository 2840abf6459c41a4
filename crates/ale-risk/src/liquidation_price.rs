//! Liquidation prices (ramm.md): the spots, nearest below and above today's, at which an
//! account's equity equals its maintenance margin, with the whole market (forwards, perp mark,
//! collateral that moves with the underlying; vols sticky-moneyness) moved with spot.
//!
//! Method: scan outward from today's spot in steps of the policy's `liq_scan_step` up to its
//! reach, bracket the first sign change of equity − MM on each side, refine by Brent to the
//! relative tolerance, then re-margin at the root and keep it only if equity = MM there within
//! the check tolerance. Each evaluation re-prices the account's own instruments under every
//! scenario at the moved spot (a table of the account's rows only).

use ale_core::Asset;
use ale_market::MarketSnapshot;

use crate::book::{Book, BookAccount, BookPosition, RowKind, UnderlyingIx};
use crate::engine::{
    account_parts, combine, margin_account, margin_with_moved, AccountMargin, AccountParts,
    Override,
};
use crate::error::RiskError;
use crate::policy::{LiquidationScan, MarginPolicy, Scratch};
use crate::table::UnderlyingTable;

/// Most Brent iterations per root.
pub const MAX_BRENT_ITERATIONS: usize = 200;
/// Lowest spot factor the scan reaches (a 99 % fall).
pub const MIN_SPOT_FACTOR: f64 = 0.01;
/// A root is kept when |equity − MM| there is at most this share of the account's gross
/// notional at that spot (or of 1 unit, whichever is larger).
pub const ROOT_CHECK_TOLERANCE: f64 = 1e-6;

/// One root.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Root {
    /// The spot.
    pub spot: f64,
    /// equity − MM when re-margined there (the check).
    pub residual: f64,
}

/// The liquidation prices of an account's main underlying.
#[derive(Debug, Clone, PartialEq)]
pub struct LiquidationPrices {
    /// The underlying moved.
    pub underlying: Asset,
    /// Nearest root below today's spot, if any within reach.
    pub below: Option<Root>,
    /// Nearest root above today's spot, if any within reach.
    pub above: Option<Root>,
}

/// Evaluates equity − MM of one account with its main underlying moved by a spot factor: the
/// exact function the liquidation prices are roots of (the fast batch path in
/// [`crate::liq_batch`] refines and checks every root with it).
pub(crate) struct MovedAccount<'a, P: MarginPolicy + ?Sized> {
    pub policy: &'a P,
    pub market: &'a MarketSnapshot,
    pub book: &'a Book,
    pub account: &'a BookAccount,
    pub venue_tables: &'a dyn Fn(UnderlyingIx) -> Result<&'a UnderlyingTable, RiskError>,
    pub underlying: UnderlyingIx,
    pub kinds: Vec<RowKind>,
    /// The account's positions on the moved underlying, re-indexed 0.. into `kinds`, with entry
    /// prices pinned to today's marks.
    pub positions: Vec<BookPosition>,
    /// Row in the venue table of each position.
    pub original_rows: Vec<u32>,
    /// The account's parts at the venue's market (the underlyings that do not move are read
    /// from here); None for whole-account policies.
    pub fixed: Option<AccountParts>,
    pub evaluations: usize,
    /// Reused by every evaluation (zeroing a fresh one costs 4 KB of stores).
    pub scratch: Scratch,
}

impl<P: MarginPolicy + ?Sized> MovedAccount<'_, P> {
    /// The margin at spot factor `factor`, and the gross notional the root check scales by.
    pub(crate) fn margin_at(&mut self, factor: f64) -> Result<(AccountMargin, f64), RiskError> {
        self.evaluations += 1;
        let asset = &self.book.underlyings()[self.underlying];
        let table = UnderlyingTable::build(
            self.policy.table_spec(),
            self.market.underlying(asset)?,
            self.market.time(),
            self.market.rate(),
            factor,
            self.kinds.iter(),
        )?;
        let gross: f64 = self.positions.iter().map(|p| p.size.abs()).sum::<f64>() * table.spot;
        let ov = Override {
            underlying: self.underlying,
            table: &table,
            positions: &self.positions,
            original_rows: &self.original_rows,
        };
        let m = margin_with_moved(
            self.policy,
            self.market,
            self.book,
            self.account,
            self.fixed.as_ref(),
            &mut self.scratch,
            self.venue_tables,
            &ov,
        )?;
        Ok((m, gross))
    }
}

/// Brent's method on [a, b] with f(a)·f(b) ≤ 0, to |b − a| ≤ tol. A hand-written Brent (40
/// lines) rather than a solver crate: the callback is fallible and the iteration bound is ours.
pub(crate) fn brent(
    mut f: impl FnMut(f64) -> Result<f64, RiskError>,
    mut a: f64,
    mut b: f64,
    mut fa: f64,
    mut fb: f64,
    tol: f64,
) -> Result<f64, RiskError> {
    if fa.abs() < fb.abs() {
        std::mem::swap(&mut a, &mut b);
        std::mem::swap(&mut fa, &mut fb);
    }
    let mut c = a;
    let mut fc = fa;
    let mut d = b - a;
    let mut bisected = true;
    for _ in 0..MAX_BRENT_ITERATIONS {
        if fb == 0.0 || (b - a).abs() <= tol {
            return Ok(b);
        }
        let mut s = if fa != fc && fb != fc {
            // Inverse quadratic interpolation.
            a * fb * fc / ((fa - fb) * (fa - fc))
                + b * fa * fc / ((fb - fa) * (fb - fc))
                + c * fa * fb / ((fc - fa) * (fc - fb))
        } else {
            b - fb * (b - a) / (fb - fa)
        };
        let lo = (3.0 * a + b) / 4.0;
        let between = if lo < b {
            s > lo && s < b
        } else {
            s > b && s < lo
        };
        let use_bisection = !between
            || (bisected && (s - b).abs() >= (b - c).abs() / 2.0)
            || (!bisected && (s - b).abs() >= (c - d).abs() / 2.0)
            || (bisected && (b - c).abs() < tol)
            || (!bisected && (c - d).abs() < tol)
            || !s.is_finite();
        if use_bisection {
            s = (a + b) / 2.0;
        }
        bisected = use_bisection;
        let fs = f(s)?;
        d = c;
        c = b;
        fc = fb;
        if fa * fs < 0.0 {
            b = s;
            fb = fs;
        } else {
            a = s;
            fa = fs;
        }
        if fa.abs() < fb.abs() {
            std::mem::swap(&mut a, &mut b);
            std::mem::swap(&mut fa, &mut fb);
        }
    }
    Err(RiskError::Limit(format!(
        "liquidation price: Brent did not converge in {MAX_BRENT_ITERATIONS} iterations"
    )))
}

/// Everything the scan needs about one account: its exact evaluator, today's margin, the main
/// underlying and its spot.
pub(crate) struct Prepared<'a, P: MarginPolicy + ?Sized> {
    pub moved: MovedAccount<'a, P>,
    /// The margin today (venue tables).
    pub base: AccountMargin,
    pub main: Asset,
    pub spot: f64,
}

/// Margins `account` today and sets up its exact evaluator; `None` when the account has no
/// exposure to any underlying.
pub(crate) fn prepare<'a, P: MarginPolicy + ?Sized>(
    policy: &'a P,
    market: &'a MarketSnapshot,
    book: &'a Book,
    account: &'a BookAccount,
    venue_tables: &'a dyn Fn(UnderlyingIx) -> Result<&'a UnderlyingTable, RiskError>,
) -> Result<Option<Prepared<'a, P>>, RiskError> {
    // The account's parts at today's market: the base margin is their sum (the same bits as
    // `margin_account`), and the solver keeps them for the underlyings that do not move.
    let (base, fixed) = match policy.whole_account() {
        Some(_) => {
            let base = margin_account(
                policy,
                market,
                book,
                account,
                &mut Scratch::default(),
                venue_tables,
                &[],
            )?;
            (base, None)
        }
        None => {
            let parts = account_parts(
                policy,
                market,
                book,
                account,
                &mut Scratch::default(),
                venue_tables,
                &[],
            )?;
            let base = combine(policy, book, account, parts.collateral_value, &parts.parts)?;
            (base, Some(parts))
        }
    };
    let Some(main) = base.main_underlying.clone() else {
        return Ok(None);
    };
    let u = book.underlying_index(&main).ok_or_else(|| {
        RiskError::Market(ale_market::MarketError::MissingUnderlying(main.to_string()))
    })?;
    let venue = venue_tables(u)?;
    let span = account.spans.iter().find(|s| s.underlying == u);
    let own: &[BookPosition] = span.map_or(&[], |s| {
        &account.positions[s.start as usize..s.end as usize]
    });
    let moved = MovedAccount {
        policy,
        market,
        book,
        account,
        venue_tables,
        underlying: u,
        kinds: own.iter().map(|p| book.row(u, p.row).kind).collect(),
        // Entry prices pinned to today's marks, so that moving spot moves the futures' P&L.
        positions: own
            .iter()
            .enumerate()
            .map(|(i, p)| BookPosition {
                row: i as u32,
                size: p.size,
                entry_price: Some(p.entry_price.unwrap_or(venue.base[p.row as usize].mark)),
            })
            .collect(),
        original_rows: own.iter().map(|p| p.row).collect(),
        fixed,
        evaluations: 0,
        scratch: Scratch::default(),
    };
    let spot = market.underlying(&main)?.spot();
    Ok(Some(Prepared {
        moved,
        base,
        main,
        spot,
    }))
}

/// The scan points of one side (direction −1 or +1): spot factors 1 ± step·i, the last one at
/// the side's limit.
pub(crate) fn scan_points(scan: &LiquidationScan, direction: f64) -> impl Iterator<Item = f64> {
    let limit = if direction < 0.0 {
        (1.0 - scan.reach).max(MIN_SPOT_FACTOR)
    } else {
        1.0 + scan.reach
    };
    let steps = ((1.0 - limit).abs() / scan.step).ceil() as usize;
    let step = scan.step;
    (1..=steps).map(move |i| {
        if i == steps {
            limit
        } else {
            1.0 + direction * step * i as f64
        }
    })
}

/// The liquidation prices of `account` (see the module docs). `None` when the account has no
/// exposure to any underlying.
pub fn liquidation_prices<'a, P: MarginPolicy + ?Sized>(
    policy: &'a P,
    market: &'a MarketSnapshot,
    book: &'a Book,
    account: &'a BookAccount,
    venue_tables: &'a dyn Fn(UnderlyingIx) -> Result<&'a UnderlyingTable, RiskError>,
) -> Result<Option<LiquidationPrices>, RiskError> {
    let Some(Prepared {
        mut moved,
        base,
        main,
        spot,
    }) = prepare(policy, market, book, account, venue_tables)?
    else {
        return Ok(None);
    };
    let scan = policy.liquidation_scan();
    let f0 = base.equity - base.maintenance;
    let mut side = |direction: f64| -> Result<Option<Root>, RiskError> {
        outward_root(&scan, direction, f0, spot, |x| {
            let (m, gross) = moved.margin_at(x)?;
            Ok((m.equity - m.maintenance, gross))
        })
    };
    let below = side(-1.0)?;
    let above = side(1.0)?;
    Ok(Some(LiquidationPrices {
        underlying: main,
        below,
        above,
    }))
}

/// The nearest root on one side (`direction` −1 below, +1 above) of equity − MM as a function of
/// the spot factor: scan outward from 1 (where its value is `f0`), bracket the first sign change,
/// refine by Brent, and keep the root only if re-evaluating there gives |equity − MM| within
/// [`ROOT_CHECK_TOLERANCE`] of the scale `eval` returns with it; otherwise scan on. `eval(x)`
/// returns (equity − MM, scale) at factor `x`; `spot` turns the factor into a price.
pub(crate) fn outward_root(
    scan: &LiquidationScan,
    direction: f64,
    f0: f64,
    spot: f64,
    mut eval: impl FnMut(f64) -> Result<(f64, f64), RiskError>,
) -> Result<Option<Root>, RiskError> {
    let (mut x_prev, mut f_prev) = (1.0, f0);
    for x in scan_points(scan, direction) {
        let (fx, _) = eval(x)?;
        if fx == 0.0 || (fx < 0.0) != (f_prev < 0.0) {
            let root = if fx == 0.0 {
                x
            } else {
                brent(
                    |z| eval(z).map(|r| r.0),
                    x_prev,
                    x,
                    f_prev,
                    fx,
                    scan.rel_tol * x,
                )?
            };
            let (residual, scale) = eval(root)?;
            if residual.abs() <= ROOT_CHECK_TOLERANCE * scale.max(1.0) {
                return Ok(Some(Root {
                    spot: spot * root,
                    residual,
                }));
            }
        }
        x_prev = x;
        f_prev = fx;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brent_finds_a_simple_root() {
        let f = |x: f64| Ok(x * x - 2.0);
        let r = brent(f, 1.0, 2.0, -1.0, 2.0, 1e-12).unwrap();
        assert!((r - 2f64.sqrt()).abs() < 1e-11);
        let g = |x: f64| Ok((x - 0.3).powi(3));
        let r = brent(g, 0.0, 1.0, g(0.0).unwrap(), g(1.0).unwrap(), 1e-10).unwrap();
        assert!((r - 0.3).abs() < 1e-6);
    }
}
