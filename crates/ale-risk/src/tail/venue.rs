//! VaR and ES of every account of a book, and of the book as a whole, on a set of paths.
//!
//! Cost: (paths × instruments) Black-76 pricings to build the path tables, then (paths ×
//! positions) multiply-adds to net the accounts, plus an O(paths) selection per account. The
//! paths are visited in chunks of [`TailParams::chunk_paths`]: a chunk's tables stay in cache,
//! and each account keeps only the ⌊n(1 − α)⌋ + 1 largest losses it has seen
//! ([`TailSample`]), so memory is (instruments × chunk) + (accounts × tail) values, never
//! (accounts × paths).
//!
//! Determinism: an account's losses are summed in a fixed order (positions, then paths), the
//! book's line from the net size of every row (accounts added in book order), so the numbers do
//! not depend on the number of threads.

use ale_market::MarketSnapshot;
use rayon::prelude::*;

use crate::book::{Book, BookAccount, BookPosition, UnderlyingIx};
use crate::engine::{collateral_view, row_error};
use crate::error::RiskError;

use super::model::Paths;
use super::stats::{tail_count, TailMeasure, TailSample};
use super::table::{PathTable, RowSet};
use super::{TailError, TailParams};

/// Most values the per-account tail samples may hold together (accounts × kept losses).
pub const MAX_TAIL_VALUES: usize = 1 << 28;

/// The result of a run.
#[derive(Debug, Clone)]
pub struct VenueTail {
    /// Per account (book order): one measure per α asked for, or why it has none.
    pub accounts: Vec<Result<Vec<TailMeasure>, TailError>>,
    /// The book as a whole (every account that has a result, positions and moving collateral
    /// summed), one measure per α.
    pub venue: Vec<TailMeasure>,
    /// How many accounts the book line covers.
    pub venue_accounts: usize,
}

struct Underlying {
    rows: RowSet,
    paths_ix: usize,
}

/// Per underlying: the row set and the index of its paths, or why accounts on it fail.
fn underlyings(
    book: &Book,
    market: &MarketSnapshot,
    paths: &Paths,
    params: &TailParams,
) -> Vec<Result<Underlying, TailError>> {
    book.underlyings()
        .iter()
        .enumerate()
        .map(|(u, asset)| {
            let m = market.underlying(asset).map_err(RiskError::from)?;
            let paths_ix = paths
                .index_of(asset.as_str())
                .ok_or_else(|| TailError::MissingPaths(asset.to_string()))?;
            Ok(Underlying {
                rows: RowSet::build(
                    m,
                    market.time(),
                    market.rate(),
                    book.rows(u).map(|l| &l.kind),
                    params,
                ),
                paths_ix,
            })
        })
        .collect()
}

/// (underlying, positions, moving collateral) of an account, checked against the row sets.
type Plan = Vec<(UnderlyingIx, Vec<BookPosition>, f64)>;

fn plan(
    book: &Book,
    market: &MarketSnapshot,
    account: &BookAccount,
    unders: &[Result<Underlying, TailError>],
) -> Result<Plan, TailError> {
    let view = collateral_view(market, book, account)?;
    let mut out: Plan = Vec::new();
    for span in &account.spans {
        let u = span.underlying;
        let under = unders[u].as_ref().map_err(Clone::clone)?;
        let positions = &account.positions[span.start as usize..span.end as usize];
        for p in positions {
            if let Some(issue) = &under.rows.issues[p.row as usize] {
                return Err(row_error(book, u, p.row, issue, market).into());
            }
        }
        out.push((u, positions.to_vec(), 0.0));
    }
    for (u, v) in view.moving.iter() {
        unders[*u].as_ref().map_err(Clone::clone)?;
        match out.iter_mut().find(|(x, _, _)| x == u) {
            Some(entry) => entry.2 += v,
            None => out.push((*u, Vec::new(), *v)),
        }
    }
    Ok(out)
}

/// VaR / ES at every α of `params` for every account of `book` and for the book as a whole, on
/// `paths` (Monte Carlo or filtered historical).
pub fn tail_risk(
    book: &Book,
    market: &MarketSnapshot,
    paths: &Paths,
    params: &TailParams,
) -> Result<VenueTail, TailError> {
    params.validate()?;
    let n = paths.len();
    if n == 0 {
        return Err(TailError::Invalid {
            field: "paths".into(),
            reason: "must be at least 1, got 0".into(),
        });
    }
    let k = params
        .alphas
        .iter()
        .map(|a| tail_count(n, *a))
        .max()
        .unwrap_or(1);
    let accounts = book.accounts();
    if k.saturating_mul(accounts.len() + 1) > MAX_TAIL_VALUES {
        return Err(TailError::Limit(format!(
            "{} accounts × {k} tail losses exceed {MAX_TAIL_VALUES} values: ask for fewer paths \
             or a higher alpha",
            accounts.len()
        )));
    }
    let unders = underlyings(book, market, paths, params);
    let plans: Vec<Result<Plan, TailError>> = accounts
        .par_iter()
        .map(|a| plan(book, market, a, &unders))
        .collect();
    // The book's net exposure: rows' sizes and moving collateral summed in book order.
    let mut net: Vec<(Vec<f64>, f64)> = unders
        .iter()
        .map(|u| (vec![0.0; u.as_ref().map_or(0, |x| x.rows.base.len())], 0.0))
        .collect();
    let mut venue_accounts = 0;
    for p in plans.iter().flatten() {
        venue_accounts += 1;
        for (u, positions, moving) in p {
            for pos in positions {
                net[*u].0[pos.row as usize] += pos.size;
            }
            net[*u].1 += moving;
        }
    }
    let venue_plan: Plan = net
        .into_iter()
        .enumerate()
        .filter(|(_, (sizes, moving))| *moving != 0.0 || sizes.iter().any(|s| *s != 0.0))
        .map(|(u, (sizes, moving))| {
            let positions = sizes
                .iter()
                .enumerate()
                .filter(|(_, s)| **s != 0.0)
                .map(|(row, s)| BookPosition {
                    row: row as u32,
                    size: *s,
                    entry_price: None,
                })
                .collect();
            (u, positions, moving)
        })
        .collect();

    let mut samples: Vec<Option<TailSample>> = plans
        .iter()
        .map(|p| p.as_ref().ok().map(|_| TailSample::new(k)))
        .collect();
    let mut venue_sample = TailSample::new(k);
    // Small books take every path in one chunk (fewer passes); large ones chunk so that a
    // chunk's tables stay in cache. The numbers are the same either way (tested).
    let rows_total: usize = unders
        .iter()
        .map(|u| u.as_ref().map_or(0, |x| x.rows.base.len()))
        .sum();
    let chunk = if rows_total.saturating_mul(n) <= params.single_chunk_values {
        n
    } else {
        params.chunk_paths.max(1)
    };
    let mut start = 0;
    while start < n {
        let end = (start + chunk).min(n);
        let len = end - start;
        let mut tables: Vec<Option<PathTable>> = Vec::with_capacity(unders.len());
        for (u, under) in unders.iter().enumerate() {
            let Ok(under) = under else {
                tables.push(None);
                continue;
            };
            let m = market
                .underlying(&book.underlyings()[u])
                .map_err(RiskError::from)?;
            let r = &paths.log_return[under.paths_ix][start..end];
            let y = &paths.vol_log_change[under.paths_ix][start..end];
            tables.push(Some(PathTable::build(
                m,
                market.rate(),
                &under.rows,
                r,
                y,
                params,
            )?));
        }
        let net_loss = |p: &Plan, loss: &mut [f64]| {
            loss.fill(0.0);
            for (u, positions, moving) in p {
                if let Some(t) = &tables[*u] {
                    t.add_loss(positions, *moving, loss);
                }
            }
        };
        samples.par_iter_mut().zip(plans.par_iter()).for_each_init(
            || vec![0.0; len],
            |loss, (sample, p)| {
                if let (Some(s), Ok(p)) = (sample, p) {
                    net_loss(p, loss);
                    s.push_chunk(loss);
                }
            },
        );
        let mut loss = vec![0.0; len];
        net_loss(&venue_plan, &mut loss);
        venue_sample.push_chunk(&mut loss);
        start = end;
    }
    let measure = |s: &TailSample| -> Result<Vec<TailMeasure>, TailError> {
        params.alphas.iter().map(|a| s.measure(*a)).collect()
    };
    let accounts = samples
        .iter()
        .zip(plans)
        .map(|(s, p)| match (s, p) {
            (Some(s), Ok(_)) => measure(s),
            (_, Err(e)) => Err(e),
            (None, Ok(_)) => Err(TailError::Limit("no tail sample".into())),
        })
        .collect();
    Ok(VenueTail {
        accounts,
        venue: measure(&venue_sample)?,
        venue_accounts,
    })
}
