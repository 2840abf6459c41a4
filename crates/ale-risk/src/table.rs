//! The instrument × scenario table of one underlying: every listed instrument priced once per
//! scenario (ramm.md: full re-pricing, no Taylor expansion), so that an account's scenario P&L is
//! a sum of rows.
//!
//! Layout: row-major, `pnl[row · n + s]` is the P&L per unit of instrument `row` in scenario `s`
//! relative to its mark, `gamma[row · n + s]` its spot gamma there. A row is contiguous, so an
//! account adds `size · row` into its scenario vector with unit stride.

use rayon::prelude::*;

use ale_core::{ExpiryDate, OptionKind, Timestamp};
use ale_market::UnderlyingMarket;
use ale_pricing::Black76;

use crate::book::RowKind;
use crate::error::RiskError;
use crate::params::RammParams;
use crate::scenario::{reference_atm_vol, shocked_vol, RammGrid, Scenario};

/// Mark and sensitivities of one row in the unshocked market.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaseRow {
    /// Mark per unit: an option's model price, a future's forward, a perp's mark, spot.
    pub mark: f64,
    /// Dollar delta per unit, ∂V/∂S·S.
    pub delta_dollar: f64,
    /// Notional a closing trade pays slippage on, per unit (|mark|).
    pub slippage_notional: f64,
    /// True for options (slippage rate and short-option rules differ).
    pub is_option: bool,
    /// True for futures and perpetuals: equity counts size·(mark − entry), not size·mark.
    pub pnl_style: bool,
}

/// Why a row cannot be used (kept per row so that one bad instrument fails only the accounts
/// that hold it).
#[derive(Debug, Clone, PartialEq)]
pub enum RowIssue {
    /// Expired at or before the snapshot.
    Expired { expiry: ExpiryDate },
    /// Pricing refused its inputs.
    Pricing(String),
}

/// The scenario table of one underlying.
#[derive(Debug, Clone)]
pub struct UnderlyingTable {
    /// Spot of the (possibly moved) market the table was built on.
    pub spot: f64,
    /// Spot factor the table was built at (1 for the venue table; the liquidation-price solver
    /// builds tables at other factors).
    pub spot_factor: f64,
    /// ATM vol of the nearest expiry ≥ the policy's minimum (oracle-adjusted reads it).
    pub sigma_atm: f64,
    /// Realised vol, if the market gives one.
    pub realized_vol: Option<f64>,
    /// The ramm grid, when the policy uses one.
    pub grid: Option<RammGrid>,
    /// Number of scenarios (0 without a grid).
    pub n_scenarios: usize,
    /// `pnl[row·n + s]`.
    pub pnl: Vec<f64>,
    /// `gamma[row·n + s]`: spot gamma per unit.
    pub gamma: Vec<f64>,
    /// ½·S_s²·(z_h·σ_s·√h)² per scenario: turns a short spot gamma into the gamma component.
    pub gamma_scale: Vec<f64>,
    /// Per row, the unshocked mark and sensitivities.
    pub base: Vec<BaseRow>,
    /// Per row, why it is unusable (None: usable).
    pub issues: Vec<Option<RowIssue>>,
    /// Per row, what it is.
    pub kinds: Vec<RowKind>,
    /// Per row, the discount factor to its expiry (1 for undated rows).
    pub discount: Vec<f64>,
    /// `ramm`'s optional `tail` component: the rows re-priced on Monte Carlo paths over T_scan
    /// (built only when `tail_enabled`).
    pub tail: Option<crate::tail::PathTable>,
    /// `pm`'s table of the listed options' values under its shocks (built by the engine when
    /// the policy is `pm`).
    pub pm: Option<std::sync::Arc<crate::pm_table::PmTable>>,
}

/// What a table must hold.
#[derive(Debug, Clone, Copy)]
pub enum TableSpec<'a> {
    /// Marks only (static, oracle-adjusted).
    MarksOnly {
        /// Minimum expiry of the reference ATM vol, days.
        atm_min_days: f64,
    },
    /// Marks and the ramm grid.
    Ramm(&'a RammParams),
}

/// The pricing inputs of one row in a market moved by `spot_factor`.
struct RowInputs {
    forward: f64,
    expiry_years: f64,
    base_vol: f64,
}

fn row_inputs(
    kind: &RowKind,
    market: &UnderlyingMarket,
    now: Timestamp,
    rate: f64,
    spot_factor: f64,
) -> Result<RowInputs, RowIssue> {
    match *kind {
        RowKind::Spot => Ok(RowInputs {
            forward: market.spot() * spot_factor,
            expiry_years: 0.0,
            base_vol: 0.0,
        }),
        RowKind::Perpetual => Ok(RowInputs {
            forward: market.perp_mark() * spot_factor,
            expiry_years: 0.0,
            base_vol: 0.0,
        }),
        RowKind::Future { expiry } | RowKind::Option { expiry, .. } => {
            if expiry.has_expired(now) {
                return Err(RowIssue::Expired { expiry });
            }
            let t = expiry.years_from(now);
            let forward = market.forward(expiry, t, rate) * spot_factor;
            let base_vol = match *kind {
                // Sticky moneyness: the surface is a function of ln(K/F), and F moved with spot.
                RowKind::Option { strike, .. } => market.vol(strike, forward, t),
                _ => 0.0,
            };
            Ok(RowInputs {
                forward,
                expiry_years: t,
                base_vol,
            })
        }
    }
}

fn greeks(
    kind: OptionKind,
    f: f64,
    k: f64,
    t: f64,
    vol: f64,
    rate: f64,
) -> Result<ale_pricing::Greeks, RowIssue> {
    Black76::new(kind, f, k, t, vol, rate)
        .map(|o| o.greeks())
        .map_err(|e| RowIssue::Pricing(e.to_string()))
}

/// Prices one row under every scenario into its `pnl` and `gamma` rows (empty without a
/// grid); returns its base row.
#[allow(clippy::too_many_arguments)]
fn fill_row(
    spec: TableSpec<'_>,
    grid: Option<&RammGrid>,
    spot: f64,
    kind: &RowKind,
    inputs: &RowInputs,
    market: &UnderlyingMarket,
    rate: f64,
    pnl: &mut [f64],
    gam: &mut [f64],
    buf: &mut RowBuf,
) -> Result<BaseRow, RowIssue> {
    let n = pnl.len();
    match *kind {
        RowKind::Spot | RowKind::Perpetual | RowKind::Future { .. } => {
            let mark = inputs.forward;
            if let Some(g) = grid {
                for (o, s) in pnl.iter_mut().zip(&g.scenarios) {
                    *o = mark * s.spot_move;
                }
            }
            Ok(BaseRow {
                mark,
                delta_dollar: mark,
                slippage_notional: mark.abs(),
                is_option: false,
                pnl_style: !matches!(kind, RowKind::Spot),
            })
        }
        RowKind::Option {
            strike, kind: ok, ..
        } => {
            let t = inputs.expiry_years;
            let base = greeks(ok, inputs.forward, strike, t, inputs.base_vol, rate)?;
            let carry = inputs.forward / spot;
            if let (TableSpec::Ramm(p), Some(g)) = (spec, grid) {
                // Every scenario of the row in one batch call (the pricing crate's SIMD
                // kernels, bit-identical to its scalar ones).
                let ([forwards, vols, strikes, expiries, rates, price, gamma], kinds) =
                    buf.columns(n, ok);
                strikes.fill(strike);
                expiries.fill(t);
                rates.fill(rate);
                let mut last: Option<(f64, f64)> = None;
                for (i, s) in g.scenarios.iter().enumerate() {
                    let f_s = inputs.forward * (1.0 + s.spot_move);
                    // Sticky moneyness: the smile is a function of ln(K/F); F moved with
                    // spot, K did not, so the vol is read at the new moneyness (once per
                    // spot move: its vol states follow each other).
                    let smile_vol = match last {
                        Some((m, v)) if m == s.spot_move => v,
                        _ => {
                            let v = market.vol(strike, f_s, t);
                            last = Some((s.spot_move, v));
                            v
                        }
                    };
                    forwards[i] = f_s;
                    vols[i] = shocked_vol(p, smile_vol, s.vol, t);
                }
                // Price and gamma only: the same bits as `price_greeks`' columns.
                ale_pricing::batch::price_gamma(
                    &ale_pricing::batch::Options {
                        kind: kinds,
                        forward: forwards,
                        strike: strikes,
                        expiry_years: expiries,
                        vol: vols,
                        rate: rates,
                    },
                    price,
                    gamma,
                )
                .map_err(|e| RowIssue::Pricing(e.to_string()))?;
                for i in 0..n {
                    pnl[i] = price[i] - base.price;
                    gam[i] = gamma[i] * carry * carry;
                }
            }
            Ok(BaseRow {
                mark: base.price,
                delta_dollar: base.delta * inputs.forward,
                slippage_notional: base.price.abs(),
                is_option: true,
                pnl_style: false,
            })
        }
    }
}

/// Scratch columns of one row's batch pricing, reused from row to row (fixed arrays sized for
/// the largest grid cost a 26 KB memset per row).
struct RowBuf {
    columns: Vec<f64>,
    kinds: Vec<OptionKind>,
}

impl RowBuf {
    fn new() -> RowBuf {
        RowBuf {
            columns: Vec::new(),
            kinds: Vec::new(),
        }
    }

    /// Twelve columns of `n` values (the batch inputs, then its seven outputs) and `n` kinds.
    fn columns(&mut self, n: usize, kind: OptionKind) -> ([&mut [f64]; 7], &[OptionKind]) {
        if self.columns.len() != 7 * n {
            self.columns.resize(7 * n, 0.0);
        }
        self.kinds.clear();
        self.kinds.resize(n, kind);
        let mut parts = self.columns.chunks_exact_mut(n.max(1));
        (
            std::array::from_fn(|_| parts.next().unwrap_or_default()),
            &self.kinds,
        )
    }
}

/// Tables with fewer rows are built on the calling thread.
const PARALLEL_ROWS: usize = 64;

impl UnderlyingTable {
    /// Builds the table of `rows` (in row order) on `market` moved by `spot_factor`
    /// (forwards, perp mark and spot × factor; vols sticky-moneyness).
    pub fn build<'r>(
        spec: TableSpec<'_>,
        market: &UnderlyingMarket,
        now: Timestamp,
        rate: f64,
        spot_factor: f64,
        rows: impl ExactSizeIterator<Item = &'r RowKind>,
    ) -> Result<UnderlyingTable, RiskError> {
        if !(spot_factor.is_finite() && spot_factor > 0.0) {
            return Err(RiskError::Invalid {
                field: "spot_factor".into(),
                reason: format!("must be finite and > 0, got {spot_factor}"),
            });
        }
        let (grid, atm_min_days) = match spec {
            TableSpec::MarksOnly { atm_min_days } => (None, atm_min_days),
            TableSpec::Ramm(p) => (Some(RammGrid::new(p, market)), p.atm_min_days),
        };
        let sigma_atm = reference_atm_vol(market, atm_min_days);
        let spot = market.spot() * spot_factor;
        let n = grid.as_ref().map_or(0, |g| g.scenarios.len());
        let n_rows = rows.len();
        let mut table = UnderlyingTable {
            spot,
            spot_factor,
            sigma_atm,
            realized_vol: market.realized_vol(),
            gamma_scale: Vec::new(),
            grid,
            n_scenarios: n,
            pnl: vec![0.0; n_rows * n],
            gamma: vec![0.0; n_rows * n],
            base: Vec::with_capacity(n_rows),
            issues: Vec::with_capacity(n_rows),
            kinds: Vec::with_capacity(n_rows),
            discount: Vec::with_capacity(n_rows),
            tail: None,
            pm: None,
        };
        if let (TableSpec::Ramm(p), Some(g)) = (spec, table.grid.as_ref()) {
            let h_years = p.gamma_horizon_hours / (365.0 * 24.0);
            let t_ref = p.vol_ref_days / 365.0;
            table.gamma_scale = g
                .scenarios
                .iter()
                .map(|s| {
                    let s_spot = spot * (1.0 + s.spot_move);
                    let sigma = shocked_vol(p, g.sigma_ref, s.vol, t_ref);
                    let mv = p.z_horizon * sigma * h_years.sqrt() * s_spot;
                    0.5 * mv * mv
                })
                .collect();
        }
        let rows: Vec<&RowKind> = rows.collect();
        if let TableSpec::Ramm(p) = spec {
            if p.tail_enabled {
                table.tail = Some(tail_table(p, market, now, rate, spot_factor, &rows)?);
            }
        }
        // Rows are independent: price them on every core (a table of 1,000 options × 65
        // scenarios is about 10 ms of one core).
        let filled: Vec<(BaseRow, Option<RowIssue>, f64)> = {
            let (grid, spot) = (table.grid.as_ref(), table.spot);
            let one_row =
                |buf: &mut RowBuf, (kind, pnl, gamma): (&&RowKind, &mut [f64], &mut [f64])| {
                    let (base, issue) = match row_inputs(kind, market, now, rate, spot_factor) {
                        Ok(inputs) => {
                            match fill_row(
                                spec, grid, spot, kind, &inputs, market, rate, pnl, gamma, buf,
                            ) {
                                Ok(base) => (base, None),
                                Err(issue) => (BaseRow::unusable(), Some(issue)),
                            }
                        }
                        Err(issue) => (BaseRow::unusable(), Some(issue)),
                    };
                    let discount = match kind {
                        RowKind::Option { expiry, .. } => {
                            (-rate * expiry.years_from(now).max(0.0)).exp()
                        }
                        _ => 1.0,
                    };
                    (base, issue, discount)
                };
            if n == 0 {
                let mut buf = RowBuf::new();
                rows.iter()
                    .map(|k| one_row(&mut buf, (k, &mut [], &mut [])))
                    .collect()
            } else if rows.len() < PARALLEL_ROWS {
                // One account's own rows: handing them to the thread pool costs more than
                // pricing them here.
                let mut buf = RowBuf::new();
                rows.iter()
                    .zip(table.pnl.chunks_mut(n))
                    .zip(table.gamma.chunks_mut(n))
                    .map(|((k, p), g)| one_row(&mut buf, (k, p, g)))
                    .collect()
            } else {
                rows.par_iter()
                    .zip(table.pnl.par_chunks_mut(n))
                    .zip(table.gamma.par_chunks_mut(n))
                    .map_init(RowBuf::new, |buf, ((k, p), g)| one_row(buf, (k, p, g)))
                    .collect()
            }
        };
        table.kinds.extend(rows.iter().map(|k| **k));
        for (base, issue, discount) in filled {
            table.discount.push(discount);
            table.base.push(base);
            table.issues.push(issue);
        }
        Ok(table)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.base.len()
    }

    /// The scenarios (empty without a grid).
    pub fn scenarios(&self) -> &[Scenario] {
        self.grid.as_ref().map_or(&[], |g| &g.scenarios)
    }
}

/// The path table of `ramm`'s `tail` component: Monte Carlo paths of this underlying alone over
/// T_scan (the crypto defaults of `tail::TailModel`, seeded), every row re-priced on each.
fn tail_table(
    p: &RammParams,
    market: &UnderlyingMarket,
    now: Timestamp,
    rate: f64,
    spot_factor: f64,
    rows: &[&RowKind],
) -> Result<crate::tail::PathTable, RiskError> {
    use crate::tail::{mc_paths, PathTable, TailModel, TailParams};
    let tail_error = |e: crate::tail::TailError| RiskError::Invalid {
        field: "tail".into(),
        reason: e.to_string(),
    };
    let moved = if spot_factor == 1.0 {
        market.clone()
    } else {
        market.moved(spot_factor, 0.0)?
    };
    let mut one = ale_market::MarketSnapshot::new(now, rate)?;
    one.insert_underlying(moved.clone());
    let params = TailParams {
        alphas: vec![p.tail_alpha],
        horizon_days: p.scan_days,
        paths: p.tail_paths as usize,
        seed: p.tail_seed,
        ..TailParams::default()
    };
    let paths = mc_paths(&TailModel::crypto_default(), &one, &params).map_err(tail_error)?;
    let set = crate::tail::table::RowSet::build(&moved, now, rate, rows.iter().copied(), &params);
    PathTable::build(
        &moved,
        rate,
        &set,
        &paths.log_return[0],
        &paths.vol_log_change[0],
        &params,
    )
    .map_err(tail_error)
}

impl BaseRow {
    fn unusable() -> BaseRow {
        BaseRow {
            mark: 0.0,
            delta_dollar: 0.0,
            slippage_notional: 0.0,
            is_option: false,
            pnl_style: false,
        }
    }
}
