//! Margin policies behind one trait: `ramm` (the engine's own), `static` (the legacy
//! baseline) and `oracle-adjusted` (static scaled by implied vol). See ramm.md.
//!
//! A policy sees one underlying at a time: the underlying's scenario table and the account's
//! exposure to it (positions as table rows, plus collateral that moves with it). The engine sums
//! the underlyings of an account.

use crate::book::{BookPosition, RowKind};
use crate::params::{OracleAdjustedParams, RammParams, StaticParams, MAX_SCENARIOS};
use crate::table::{TableSpec, UnderlyingTable};

/// Most components a policy may name.
pub const MAX_COMPONENTS: usize = 8;

/// One account's exposure to one underlying.
#[derive(Debug, Clone, Copy)]
pub struct Exposure<'a> {
    /// Positions on this underlying (rows of its table).
    pub positions: &'a [BookPosition],
    /// Value, after haircuts, of the collateral that moves with this underlying.
    pub moving_collateral: f64,
}

/// The margin one policy requires for one account's exposure to one underlying.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnderlyingMargin {
    /// Maintenance margin (sum of the components).
    pub maintenance: f64,
    /// Initial margin.
    pub initial: f64,
    /// Components, in the order of [`MarginPolicy::component_names`].
    pub components: [f64; MAX_COMPONENTS],
    /// The scenario (table index) whose loss binds, if a scenario binds.
    pub worst_scenario: Option<usize>,
}

/// Per-call scratch space, so that the hot loop allocates nothing.
#[derive(Debug, Clone)]
pub struct Scratch {
    pnl: [f64; MAX_SCENARIOS],
    gamma: [f64; MAX_SCENARIOS],
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            pnl: [0.0; MAX_SCENARIOS],
            gamma: [0.0; MAX_SCENARIOS],
        }
    }
}

/// How the liquidation-price solver scans spot for a policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiquidationScan {
    /// Step of the outward scan, as a fraction of spot.
    pub step: f64,
    /// How far the scan goes each side, as a fraction of spot (capped below at 99 % down).
    pub reach: f64,
    /// Tolerance of a root, as a fraction of spot.
    pub rel_tol: f64,
}

/// A margin policy.
pub trait MarginPolicy: Send + Sync {
    /// Its name in reports: `ramm`, `static`, `oracle-adjusted`.
    fn name(&self) -> &'static str;
    /// Names of its components, in order.
    fn component_names(&self) -> &'static [&'static str];
    /// What its tables must hold.
    fn table_spec(&self) -> TableSpec<'_>;
    /// How to scan for liquidation prices.
    fn liquidation_scan(&self) -> LiquidationScan;
    /// The margin of one exposure.
    fn margin(
        &self,
        table: &UnderlyingTable,
        exposure: &Exposure<'_>,
        scratch: &mut Scratch,
    ) -> UnderlyingMargin;
    /// Names of its initial-margin components, when it reports them apart (pm).
    fn im_component_names(&self) -> &'static [&'static str] {
        &[]
    }
    /// A policy that margins a whole account at once (pm) returns itself here; the engine then
    /// hands it the whole account instead of per-underlying tables.
    fn whole_account(&self) -> Option<&crate::pm_policy::PmPolicy> {
        None
    }
}

/// `ramm`: the Risk-Adjusted Maintenance Margin (ramm.md).
#[derive(Debug, Clone, Default)]
pub struct Ramm {
    /// Its parameters.
    pub params: RammParams,
}

/// Component names of `ramm`.
pub const RAMM_COMPONENTS: &[&str] = &["price", "vega", "gamma", "horizon", "tail"];

impl MarginPolicy for Ramm {
    fn name(&self) -> &'static str {
        "ramm"
    }

    fn component_names(&self) -> &'static [&'static str] {
        RAMM_COMPONENTS
    }

    fn table_spec(&self) -> TableSpec<'_> {
        TableSpec::Ramm(&self.params)
    }

    fn liquidation_scan(&self) -> LiquidationScan {
        LiquidationScan {
            step: self.params.liq_scan_step,
            reach: 2.0 * self.params.range_max,
            rel_tol: self.params.liq_rel_tol,
        }
    }

    fn margin(
        &self,
        table: &UnderlyingTable,
        exposure: &Exposure<'_>,
        scratch: &mut Scratch,
    ) -> UnderlyingMargin {
        let p = &self.params;
        let n = table.n_scenarios;
        let scenarios = table.scenarios();
        let pnl = &mut scratch.pnl[..n];
        let gamma = &mut scratch.gamma[..n];
        // Collateral that moves with the underlying gains value·s in a move s.
        for (o, s) in pnl.iter_mut().zip(scenarios) {
            *o = exposure.moving_collateral * s.spot_move;
        }
        gamma.fill(0.0);
        crate::kernel::net_rows(exposure.positions, &table.pnl, &table.gamma, pnl, gamma);
        let mut delta_dollar = exposure.moving_collateral;
        let mut slippage = 0.0;
        for pos in exposure.positions {
            let base = &table.base[pos.row as usize];
            delta_dollar += pos.size * base.delta_dollar;
            let rate = if base.is_option {
                p.slippage_option
            } else {
                p.slippage_delta_one
            };
            slippage += pos.size.abs() * base.slippage_notional * rate;
        }
        // The weighted loss of every scenario (in place of the P&L), then price: the worst with
        // no vol shock; joint: the worst with every vol shock; gamma: the grid's worst short
        // gamma over the horizon.
        let (mut price, joint, worst, mut gamma_part) = match table.grid.as_ref() {
            Some(grid) => {
                for (l, w) in pnl.iter_mut().zip(&grid.weights) {
                    *l = -*l * w;
                }
                let price = grid
                    .price_ix
                    .iter()
                    .map(|&i| pnl[i as usize])
                    .fold(0.0f64, |a, l| if l > a { l } else { a });
                let (joint, worst) = crate::kernel::max_positive(pnl);
                let n_grid = grid.n_grid.min(n);
                for (g, scale) in gamma[..n_grid].iter_mut().zip(&table.gamma_scale) {
                    *g = scale * (-*g).max(0.0);
                }
                let (gamma_part, _) = crate::kernel::max_positive(&gamma[..n_grid]);
                (price, joint, worst, gamma_part)
            }
            None => (0.0, 0.0, None, 0.0),
        };
        let mut vega = (joint - price).max(0.0);
        // A defined-risk book (options only, no delta-one, no moving collateral) can lose at most
        // its value now minus its least possible value; the gamma charge must not push the
        // requirement past that (ramm.md: a vertical never needs more than its maximum loss plus
        // `horizon`). The excess comes off gamma first, then vega, then price.
        if let Some(cap) = defined_risk_cap(table, exposure) {
            let mut excess = price + vega + gamma_part - cap.max(0.0);
            for part in [&mut gamma_part, &mut vega, &mut price] {
                if excess <= 0.0 {
                    break;
                }
                let cut = excess.min(*part);
                *part -= cut;
                excess -= cut;
            }
        }
        let sigma_hist = table
            .realized_vol
            .unwrap_or_else(|| table.grid.as_ref().map_or(table.sigma_atm, |g| g.sigma_ref));
        let auction_years = p.auction_minutes / (365.0 * 24.0 * 60.0);
        let horizon =
            p.z_horizon * sigma_hist * auction_years.sqrt() * delta_dollar.abs() + slippage;
        // tail (off by default): the excess of the expected shortfall over T_scan above
        // price + vega. A failed measure is NaN, which the engine refuses by name.
        let tail = match &table.tail {
            Some(paths) => match paths.measure(
                exposure.positions,
                exposure.moving_collateral,
                &[p.tail_alpha],
            ) {
                Ok(m) => m
                    .first()
                    .map_or(f64::NAN, |m| crate::tail::es_excess(m.es, price, vega)),
                Err(_) => f64::NAN,
            },
            None => 0.0,
        };
        let maintenance = price + vega + gamma_part + horizon + tail;
        let mut components = [0.0; MAX_COMPONENTS];
        components[..5].copy_from_slice(&[price, vega, gamma_part, horizon, tail]);
        UnderlyingMargin {
            maintenance,
            initial: maintenance * (1.0 + p.im_buffer),
            components,
            worst_scenario: worst,
        }
    }
}

/// The largest loss an options-only exposure can suffer: its value now minus, per expiry, the
/// discounted least value of its payoff over every terminal price (a price is an expectation of
/// the payoff, so it never falls below that). `None` when the exposure is not of defined risk
/// (delta-one positions, moving collateral, or a payoff unbounded below).
fn defined_risk_cap(table: &UnderlyingTable, exposure: &Exposure<'_>) -> Option<f64> {
    if exposure.moving_collateral != 0.0
        || exposure.positions.is_empty()
        || exposure
            .positions
            .iter()
            .any(|p| !matches!(table.kinds[p.row as usize], RowKind::Option { .. }))
    {
        return None;
    }
    let mut value_now = 0.0;
    let mut floor = 0.0;
    // Positions are sorted by row; group them by expiry.
    let mut done = [false; 64];
    if exposure.positions.len() > done.len() {
        return None;
    }
    for (i, first) in exposure.positions.iter().enumerate() {
        if done[i] {
            continue;
        }
        let RowKind::Option { expiry, .. } = table.kinds[first.row as usize] else {
            return None;
        };
        // The options of this expiry: payoff(S) = Σ size·max(±(S − K), 0), piecewise linear
        // with kinks at the strikes, so its minimum over S ≥ 0 is at 0, at a strike, or −∞
        // when the slope beyond the last strike is negative.
        let mut slope_at_infinity = 0.0;
        let group = exposure.positions.iter().enumerate().skip(i).filter(|(_, p)| {
            matches!(table.kinds[p.row as usize], RowKind::Option { expiry: e, .. } if e == expiry)
        });
        let mut members: [usize; 64] = [0; 64];
        let mut count = 0;
        for (j, p) in group {
            done[j] = true;
            members[count] = j;
            count += 1;
            if let RowKind::Option {
                kind: ale_core::OptionKind::Call,
                ..
            } = table.kinds[p.row as usize]
            {
                slope_at_infinity += p.size;
            }
            value_now += p.size * table.base[p.row as usize].mark;
        }
        if slope_at_infinity < 0.0 {
            return None;
        }
        let payoff = |s: f64| -> f64 {
            members[..count]
                .iter()
                .map(|&j| {
                    let p = &exposure.positions[j];
                    match table.kinds[p.row as usize] {
                        RowKind::Option {
                            strike,
                            kind: ale_core::OptionKind::Call,
                            ..
                        } => p.size * (s - strike).max(0.0),
                        RowKind::Option { strike, .. } => p.size * (strike - s).max(0.0),
                        _ => 0.0,
                    }
                })
                .sum()
        };
        let mut least = payoff(0.0);
        for &j in &members[..count] {
            if let RowKind::Option { strike, .. } = table.kinds[exposure.positions[j].row as usize]
            {
                least = least.min(payoff(strike));
            }
        }
        floor += table.discount[first.row as usize] * least;
    }
    Some(value_now - floor)
}

/// `static`: Σ m·|size|·S over delta-one positions + Σ |size|·(mark + m·S) over short options.
#[derive(Debug, Clone, Default)]
pub struct Static {
    /// Its parameters.
    pub params: StaticParams,
}

/// Component names of `static` and `oracle-adjusted`.
pub const STATIC_COMPONENTS: &[&str] = &["price"];

/// The static formula at rate `m` (spot positions count as delta-one: they carry price risk too).
fn static_requirement(table: &UnderlyingTable, exposure: &Exposure<'_>, m: f64) -> f64 {
    let spot = table.spot;
    let mut total = 0.0;
    for pos in exposure.positions {
        let base = &table.base[pos.row as usize];
        if base.is_option {
            if pos.size < 0.0 {
                total += pos.size.abs() * (base.mark + m * spot);
            }
        } else {
            total += m * pos.size.abs() * spot;
        }
    }
    total
}

fn single_component(mm: f64, im: f64) -> UnderlyingMargin {
    let mut components = [0.0; MAX_COMPONENTS];
    components[0] = mm;
    UnderlyingMargin {
        maintenance: mm,
        initial: im,
        components,
        worst_scenario: None,
    }
}

impl MarginPolicy for Static {
    fn name(&self) -> &'static str {
        "static"
    }
    fn component_names(&self) -> &'static [&'static str] {
        STATIC_COMPONENTS
    }
    fn table_spec(&self) -> TableSpec<'_> {
        TableSpec::MarksOnly { atm_min_days: 7.0 }
    }
    fn liquidation_scan(&self) -> LiquidationScan {
        LiquidationScan {
            step: self.params.liq_scan_step,
            reach: 1.0,
            rel_tol: self.params.liq_rel_tol,
        }
    }
    fn margin(
        &self,
        table: &UnderlyingTable,
        exposure: &Exposure<'_>,
        _: &mut Scratch,
    ) -> UnderlyingMargin {
        single_component(
            static_requirement(table, exposure, self.params.mm_rate),
            static_requirement(table, exposure, self.params.im_rate),
        )
    }
}

/// `oracle-adjusted`: `static` with m_eff = m·clamp(σ_ATM/σ_base, 1, f_max).
#[derive(Debug, Clone, Default)]
pub struct OracleAdjusted {
    /// Its parameters.
    pub params: OracleAdjustedParams,
}

impl OracleAdjusted {
    /// The vol scaling clamp(σ_ATM/σ_base, 1, f_max) (NaN-safe: a NaN vol takes f_max).
    pub fn factor(&self, sigma_atm: f64) -> f64 {
        let ratio = sigma_atm / self.params.vol_base;
        if ratio.is_nan() {
            self.params.factor_max
        } else {
            ratio.clamp(1.0, self.params.factor_max)
        }
    }
}

impl MarginPolicy for OracleAdjusted {
    fn name(&self) -> &'static str {
        "oracle-adjusted"
    }
    fn component_names(&self) -> &'static [&'static str] {
        STATIC_COMPONENTS
    }
    fn table_spec(&self) -> TableSpec<'_> {
        TableSpec::MarksOnly {
            atm_min_days: self.params.atm_min_days,
        }
    }
    fn liquidation_scan(&self) -> LiquidationScan {
        LiquidationScan {
            step: self.params.liq_scan_step,
            reach: 1.0,
            rel_tol: self.params.liq_rel_tol,
        }
    }
    fn margin(
        &self,
        table: &UnderlyingTable,
        exposure: &Exposure<'_>,
        _: &mut Scratch,
    ) -> UnderlyingMargin {
        let f = self.factor(table.sigma_atm);
        single_component(
            static_requirement(table, exposure, self.params.mm_rate * f),
            static_requirement(table, exposure, self.params.im_rate * f),
        )
    }
}

/// A policy behind a pointer (`Box<dyn MarginPolicy>`, `&P`) is the same policy.
macro_rules! forward_policy {
    ($($ptr:ty),*) => {$(
        impl<T: MarginPolicy + ?Sized> MarginPolicy for $ptr {
            fn name(&self) -> &'static str {
                (**self).name()
            }
            fn component_names(&self) -> &'static [&'static str] {
                (**self).component_names()
            }
            fn table_spec(&self) -> TableSpec<'_> {
                (**self).table_spec()
            }
            fn liquidation_scan(&self) -> LiquidationScan {
                (**self).liquidation_scan()
            }
            fn margin(
                &self,
                table: &UnderlyingTable,
                exposure: &Exposure<'_>,
                scratch: &mut Scratch,
            ) -> UnderlyingMargin {
                (**self).margin(table, exposure, scratch)
            }
            fn im_component_names(&self) -> &'static [&'static str] {
                (**self).im_component_names()
            }
            fn whole_account(&self) -> Option<&crate::pm_policy::PmPolicy> {
                (**self).whole_account()
            }
        }
    )*};
}

forward_policy!(Box<T>, &T);

/// The policies by name, with their parameters read from TOML (`None`: the defaults).
pub fn policy_by_name(
    name: &str,
    params_toml: Option<&str>,
) -> Result<Box<dyn MarginPolicy>, crate::RiskError> {
    let text = params_toml.unwrap_or("");
    Ok(match name {
        "ramm" => Box::new(Ramm {
            params: RammParams::from_toml(text)?,
        }),
        "static" => Box::new(Static {
            params: StaticParams::from_toml(text)?,
        }),
        "oracle-adjusted" => Box::new(OracleAdjusted {
            params: OracleAdjustedParams::from_toml(text)?,
        }),
        "pm" => Box::new(crate::pm_policy::PmPolicy::from_toml(params_toml)?),
        other => {
            return Err(crate::RiskError::Params(format!(
                "unknown policy '{other}': expected ramm, static, oracle-adjusted or pm"
            )))
        }
    })
}
