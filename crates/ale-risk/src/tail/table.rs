//! The path table of one underlying: every listed instrument fully re-priced once per path
//! (spot log-return, implied-vol log-change), exactly as [`crate::table::UnderlyingTable`] does
//! for the `ramm` grid, so that an account's loss on every path is a sum of rows.
//!
//! On a path with return r and vol change y, at horizon h:
//! - every forward (and spot, the perp mark) moves to F·eʳ;
//! - an option's vol is read on today's smile of its expiry at the new moneyness ln(K / F·eʳ)
//!   (sticky moneyness, the skew is traversed), then scaled by e^(y·w(T)), w(T) =
//!   clamp((T_ref/T)^½, w_min, w_max) (short expiries move more), and kept in
//!   [`TailParams::vol_floor`], [`MAX_VOL`];
//! - the option is re-priced by Black-76 with T − h left (`ale_pricing::batch::price_scenarios`);
//!   one that expires within the horizon is worth its intrinsic value on the moved forward.
//!
//! Layout: `pnl[row · n + p]`, P&L per unit of row `row` on path `p` relative to today's mark.

use ale_core::{OptionKind, Timestamp};
use ale_market::UnderlyingMarket;
use ale_pricing::Black76;
use ale_surface::VolSurface;
use rayon::prelude::*;

use crate::book::{BookPosition, RowKind};
use crate::table::RowIssue;

use super::stats::{tail_count, tail_measure, TailMeasure};
use super::{TailError, TailParams};

/// Highest vol a path may reach (500 %): keeps every re-pricing in the pricer's domain.
pub const MAX_VOL: f64 = 5.0;

/// Today's pricing inputs of one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowBase {
    /// What the row is.
    pub kind: RowKind,
    /// Forward (spot, perp mark) today.
    pub forward: f64,
    /// Years to expiry (0 for undated rows).
    pub expiry_years: f64,
    /// Today's mark per unit.
    pub mark: f64,
    /// Vol-change multiplier w(T) of the row's expiry.
    pub vol_weight: f64,
}

/// Today's inputs of every row of an underlying, with the rows that cannot be priced.
#[derive(Debug, Clone)]
pub struct RowSet {
    /// Per row, today's inputs.
    pub base: Vec<RowBase>,
    /// Per row, why it cannot be used (`None`: usable).
    pub issues: Vec<Option<RowIssue>>,
}

impl RowSet {
    /// Prices every row today.
    pub fn build<'r>(
        market: &UnderlyingMarket,
        now: Timestamp,
        rate: f64,
        rows: impl Iterator<Item = &'r RowKind>,
        params: &TailParams,
    ) -> RowSet {
        let mut base = Vec::new();
        let mut issues = Vec::new();
        for kind in rows {
            let (b, issue) = row_base(kind, market, now, rate, params);
            base.push(b);
            issues.push(issue);
        }
        RowSet { base, issues }
    }
}

fn row_base(
    kind: &RowKind,
    market: &UnderlyingMarket,
    now: Timestamp,
    rate: f64,
    params: &TailParams,
) -> (RowBase, Option<RowIssue>) {
    let mut b = RowBase {
        kind: *kind,
        forward: market.spot(),
        expiry_years: 0.0,
        mark: market.spot(),
        vol_weight: 1.0,
    };
    match *kind {
        RowKind::Spot => (b, None),
        RowKind::Perpetual => {
            b.forward = market.perp_mark();
            b.mark = b.forward;
            (b, None)
        }
        RowKind::Future { expiry } | RowKind::Option { expiry, .. } => {
            if expiry.has_expired(now) {
                return (b, Some(RowIssue::Expired { expiry }));
            }
            let t = expiry.years_from(now);
            b.expiry_years = t;
            b.forward = market.forward(expiry, t, rate);
            b.mark = b.forward;
            if let RowKind::Option { strike, kind, .. } = *kind {
                b.vol_weight = ((params.vol_ref_days / 365.0) / t)
                    .sqrt()
                    .clamp(params.vol_weight_min, params.vol_weight_max);
                let vol = market.vol(strike, b.forward, t);
                match Black76::new(kind, b.forward, strike, t, vol, rate) {
                    Ok(o) => b.mark = o.price(),
                    Err(e) => return (b, Some(RowIssue::Pricing(e.to_string()))),
                }
            }
            (b, None)
        }
    }
}

/// The path table of one underlying over a run of paths.
#[derive(Debug, Clone)]
pub struct PathTable {
    /// Number of paths (columns).
    pub n_paths: usize,
    /// `pnl[row · n_paths + p]`.
    pub pnl: Vec<f64>,
    /// The spot log-return of each path (moving collateral reads it).
    pub log_return: Vec<f64>,
}

impl PathTable {
    /// Re-prices every usable row of `rows` on the paths (`log_return[p]`, `vol_log_change[p]`);
    /// unusable rows are left at 0. Parallel over rows; the numbers do not depend on the
    /// number of threads.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        market: &UnderlyingMarket,
        rate: f64,
        rows: &RowSet,
        log_return: &[f64],
        vol_log_change: &[f64],
        params: &TailParams,
    ) -> Result<PathTable, TailError> {
        let n = log_return.len();
        if vol_log_change.len() != n {
            return Err(TailError::Invalid {
                field: "vol_log_change".into(),
                reason: format!("must hold {n} paths, got {}", vol_log_change.len()),
            });
        }
        let growth: Vec<f64> = log_return.iter().map(|r| r.exp()).collect();
        // e^(y·w) per distinct vol weight (one per listed expiry), shared by the rows of that
        // expiry rather than recomputed per row.
        let mut weights: Vec<f64> = Vec::new();
        for (b, issue) in rows.base.iter().zip(&rows.issues) {
            if issue.is_none()
                && matches!(b.kind, RowKind::Option { .. })
                && !weights
                    .iter()
                    .any(|w| w.to_bits() == b.vol_weight.to_bits())
            {
                weights.push(b.vol_weight);
            }
        }
        let factors: Vec<Vec<f64>> = weights
            .par_iter()
            .map(|w| vol_log_change.iter().map(|y| (y * w).exp()).collect())
            .collect();
        let factor_of = |w: f64| -> &[f64] {
            weights
                .iter()
                .position(|x| x.to_bits() == w.to_bits())
                .map_or(&[][..], |i| &factors[i][..])
        };
        let h_years = params.horizon_days / 365.0;
        let mut pnl = vec![0.0; rows.base.len() * n];
        if n > 0 {
            pnl.par_chunks_mut(n)
                .zip(rows.base.par_iter().zip(rows.issues.par_iter()))
                .try_for_each_init(
                    || (vec![0.0; n], vec![0.0; n]),
                    |(fwd, vol), (out, (b, issue))| -> Result<(), TailError> {
                        if issue.is_some() {
                            return Ok(());
                        }
                        fill_row(
                            market,
                            rate,
                            b,
                            &growth,
                            log_return,
                            factor_of(b.vol_weight),
                            h_years,
                            params,
                            fwd,
                            vol,
                            out,
                        )
                    },
                )?;
        }
        Ok(PathTable {
            n_paths: n,
            pnl,
            log_return: log_return.to_vec(),
        })
    }

    /// The loss (−P&L) of `positions` plus `moving_collateral` (value that moves with spot) on
    /// every path, into `out` (length `n_paths`), added to what `out` holds.
    pub fn add_loss(&self, positions: &[BookPosition], moving_collateral: f64, out: &mut [f64]) {
        let n = self.n_paths;
        let row = |p: &BookPosition| &self.pnl[p.row as usize * n..(p.row as usize + 1) * n];
        // Four positions a pass: one load and store of `out` per four rows read (the netting
        // is bound by memory traffic). The grouping is fixed, so the sums are deterministic.
        let mut groups = positions.chunks_exact(4);
        for g in &mut groups {
            let (s0, s1, s2, s3) = (g[0].size, g[1].size, g[2].size, g[3].size);
            let (r0, r1, r2, r3) = (row(&g[0]), row(&g[1]), row(&g[2]), row(&g[3]));
            for ((((o, a), b), c), d) in out.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
                *o -= (s0 * a + s1 * b) + (s2 * c + s3 * d);
            }
        }
        for pos in groups.remainder() {
            let size = pos.size;
            for (o, x) in out.iter_mut().zip(row(pos)) {
                *o -= size * x;
            }
        }
        if moving_collateral != 0.0 {
            for (o, r) in out.iter_mut().zip(&self.log_return) {
                *o -= moving_collateral * r.exp_m1();
            }
        }
    }

    /// VaR, ES and se(ES) at each of `alphas` of one exposure on this table's paths: the hook
    /// of `ramm`'s optional `tail` component (see [`super::es_excess`]).
    pub fn measure(
        &self,
        positions: &[BookPosition],
        moving_collateral: f64,
        alphas: &[f64],
    ) -> Result<Vec<TailMeasure>, TailError> {
        for a in alphas {
            super::stats::check_alpha(*a)?;
        }
        let rows = self.pnl.len() / self.n_paths.max(1);
        if let Some(p) = positions.iter().find(|p| p.row as usize >= rows) {
            return Err(TailError::Invalid {
                field: "positions.row".into(),
                reason: format!("row {} is not in a table of {rows} rows", p.row),
            });
        }
        let mut loss = vec![0.0; self.n_paths];
        self.add_loss(positions, moving_collateral, &mut loss);
        let k = alphas
            .iter()
            .map(|a| tail_count(self.n_paths, *a))
            .max()
            .unwrap_or(0);
        let at = self.n_paths.saturating_sub(k);
        if at > 0 {
            loss.select_nth_unstable_by(at, |a, b| a.total_cmp(b));
        }
        alphas
            .iter()
            .map(|a| tail_measure(&mut loss[at..].to_vec(), self.n_paths, *a))
            .collect()
    }
}

#[allow(clippy::too_many_arguments)]
fn fill_row(
    market: &UnderlyingMarket,
    rate: f64,
    b: &RowBase,
    growth: &[f64],
    log_return: &[f64],
    vol_factor: &[f64],
    h_years: f64,
    params: &TailParams,
    fwd: &mut [f64],
    vol: &mut [f64],
    out: &mut [f64],
) -> Result<(), TailError> {
    match b.kind {
        RowKind::Spot | RowKind::Perpetual | RowKind::Future { .. } => {
            for (o, g) in out.iter_mut().zip(growth) {
                *o = b.forward * (g - 1.0);
            }
            Ok(())
        }
        RowKind::Option { strike, kind, .. } => {
            let t = b.expiry_years;
            let t_left = t - h_years;
            if t_left <= 0.0 {
                let sign = if kind == OptionKind::Call { 1.0 } else { -1.0 };
                for (o, g) in out.iter_mut().zip(growth) {
                    *o = (sign * (b.forward * g - strike)).max(0.0) - b.mark;
                }
                return Ok(());
            }
            // ln(K / F·eʳ) = ln(K/F) − r: one log per row, not per path.
            let k0 = (strike / b.forward).ln();
            let surface = market.surface();
            for p in 0..growth.len() {
                fwd[p] = b.forward * growth[p];
                let k = k0 - log_return[p];
                let v = surface.vol_at_log_moneyness(k, t) * vol_factor[p];
                // Written so that NaN becomes the floor.
                vol[p] = if v > params.vol_floor {
                    v.min(MAX_VOL)
                } else {
                    params.vol_floor
                };
            }
            ale_pricing::batch::price_scenarios(kind, strike, t_left, rate, fwd, vol, out)
                .map_err(|e| TailError::Pricing {
                    instrument: format!("{kind:?} {strike} at {t} years"),
                    reason: e.to_string(),
                })?;
            for o in out.iter_mut() {
                *o -= b.mark;
            }
            Ok(())
        }
    }
}
