//! Liquidation prices of every account at once: the method of ramm.md (outward scan in steps of
//! `liq_scan_step`, Brent to `liq_rel_tol`, re-margin check at the root), made fast without
//! giving up exactness.
//!
//! What is approximated, and what is not:
//! - Sticky moneyness makes an option's value under a fixed vol state a function of the spot
//!   multiplier m = x·(1 + s) alone (x the liquidation factor, s the scenario's move; the
//!   term-scaled vol shift does not depend on x). So every listed option is priced once per vol
//!   state (down, none, up) on a log-spaced lattice of m ([`LATTICE_STEP_LOG`]): price, spot
//!   gamma and dollar delta. An account's moved scenario table at any x is then interpolated
//!   (cubic, Catmull-Rom) instead of re-priced, and margined by the policy's own code: the
//!   *approximate* equity − MM, f̃(x).
//! - f̃ only decides signs at scan points, and only where |f̃| exceeds a band well above the
//!   interpolation error; inside the band the exact function decides.
//! - Scan points are skipped only where a bound on the exact function proves that the sign
//!   cannot change: equity − (price+vega) is Lipschitz in x with a constant from the positions'
//!   forwards (an arbitrage-free price is convex in the forward: its slope over a window lies
//!   between the lattice slopes around it; with safety margins), the slippage charge moves with
//!   the marks, and the gamma charge and the delta part of the horizon charge are non-negative
//!   and bounded above in closed form (φ ≤ 1/√(2π), |delta| ≤ D).
//! - Every root is refined by Brent on the *exact* function (the per-account re-pricing of the
//!   single-account solver), first inside a tight bracket around the root of f̃, and kept only
//!   if the exact re-margin at the root checks. A false sign change of f̃ is rejected by the
//!   exact values and the scan goes on.
//!
//! So the result is the single-account solver's ([`crate::liquidation_price`]) up to the
//! tolerance: same brackets (same scan points, same signs), roots within `liq_rel_tol`. Two
//! premises carry that claim and are checked by tests rather than proven for every surface: the
//! shocked smiles stay free of butterfly arbitrage within the safety margins below, and the
//! interpolation error stays inside the band.
//! Policies other than `ramm` (whose scan is cheap: no scenarios) and accounts holding a row the
//! lattice could not price use the single-account solver unchanged.

use ale_core::OptionKind;
use rayon::prelude::*;

use crate::book::{BookAccount, RowKind, UnderlyingIx};
use crate::engine::{collateral_view, margin_with_moved, AccountMargin, Override, RiskEngine};
use crate::error::RiskError;
use crate::liquidation_price::{
    brent, liquidation_prices, prepare, scan_points, LiquidationPrices, MovedAccount, Prepared,
    Root, MIN_SPOT_FACTOR, ROOT_CHECK_TOLERANCE,
};
use crate::params::RammParams;
use crate::policy::{LiquidationScan, MarginPolicy, Scratch};
use crate::scenario::{shocked_vol, VolMove};
use crate::table::{BaseRow, TableSpec, UnderlyingTable};

/// Spacing of the lattice in ln m.
pub const LATTICE_STEP_LOG: f64 = 0.01;
/// Most lattice points per curve (a limit: a wider range falls back to the exact solver).
pub const MAX_LATTICE_POINTS: usize = 8192;
/// Points beyond the needed range at each end (the cubic reads one neighbour each side).
const PAD: usize = 3;
/// Values per lattice point of an option row: price (lanes 0–2), gamma·carry² (lanes 3–5),
/// each in the vol states' lane order ([`vol_index`]), dollar delta (lane 6) and one zero of
/// padding, so that a point is one 8-lane single precision vector and the four points a cubic
/// reads are four loads and four multiply-adds.
const CURVES: usize = 8;
/// First of the three gamma lanes of a lattice point.
const GAMMA_LANE: usize = 3;
/// The dollar-delta lane of a lattice point (vol state none).
const DELTA_LANE: usize = 6;
/// |f̃ − f| is trusted to stay below this share of the account's forward notional N; inside
/// the band the exact function decides the sign.
pub const BAND_REL: f64 = 1e-3;
/// Safety factor on the deltas' range in the Lipschitz bound (a shocked smile need not be
/// exactly arbitrage-free).
const DELTA_SAFETY: f64 = 1.25;
/// Bisection steps that widen a certified extent (each costs a local Lipschitz constant: a few
/// hundred operations, against a few thousand for an evaluation of f̃).
const EXTENT_ITERATIONS: usize = 2;
/// Groups the grid's scenarios are split into for the local Lipschitz constant.
const GRID_GROUPS: usize = 1;
/// Safety factor on the local Lipschitz constant.
const LOCAL_SAFETY: f64 = 1.1;
/// Widening of an option's slope range, as a share of its discounted forward.
const SLOPE_WIDEN: f64 = 0.02;
/// An option whose σ·√T (at its lowest vol) spans fewer lattice steps than this has its gamma
/// bounded in closed form rather than read from the lattice (its peak could fall between points).
const NARROW_GAMMA_STEPS: f64 = 5.0;
/// Safety factor on the closed-form bound of the gamma and horizon components.
const K_SAFETY: f64 = 1.25;
/// Safety factor on the lowest vol the gamma bound divides by.
const VOL_LOW_SAFETY: f64 = 0.8;
/// Attempts to shrink a bracket around the root of f̃ before plain Brent on the scan bracket.
const TIGHTEN_ATTEMPTS: usize = 3;
/// Tolerance of Brent on f̃ for the root estimate, relative to `liq_rel_tol`: f̃ is off by up
/// to the band, so a finer estimate buys nothing; the Newton step on the exact value at the
/// estimate brings it within the tolerance.
const APPROX_ROOT_TOL: f64 = 100.0;
/// Tolerance of the second Brent pass, relative to `liq_rel_tol`, when the first root misses
/// the re-margin check.
const SECOND_PASS_TOL: f64 = 1e-4;

/// The lattice curves of one underlying's option rows.
struct UnderlyingLattice {
    /// ln m of point 0.
    ln_m0: f64,
    inv_h: f64,
    len: usize,
    /// Per row: offset of its curves in `data` (None: not an option, unusable, or unpriceable).
    offsets: Vec<Option<usize>>,
    /// Per row: lowest vol its curves use (× safety), for the gamma bound.
    vol_low: Vec<f64>,
    /// The curves, point by point (`CURVES` values per lattice point), in single precision:
    /// half the memory traffic, and an error (≈ 6e-8 relative) far inside the band.
    data: Vec<f32>,
    /// Per option and lattice interval [k, k + 1]: the least and the largest slope of its price
    /// curves over the three vol states, (lo, hi) pairs at `(offset / CURVES + k)·2`; what
    /// `slope_range` reads (precomputed from `data`: the same numbers, once).
    slope_bounds: Vec<f32>,
    /// What every account of the underlying shares about its scenarios.
    plan: ScenarioPlan,
    /// Per option: range tables of its dollar delta and of its gamma over the vol states
    /// (see [`RangeTables`]), for the window bound of the gamma and horizon components.
    ranges: RangeTables,
}

/// The venue table's scenarios as the fast path reads them: the same for every account of an
/// underlying, so computed once with the lattice.
struct ScenarioPlan {
    /// Per scenario: ½·(z_h·σ_s·√h)² and 1 + s.
    gamma_c: Vec<f64>,
    one_plus: Vec<f64>,
    /// Scenarios in runs sharing one spot move (the grid's vol states of one step): one
    /// stencil and one pass over the lattice points serve the whole run.
    runs: Vec<Run>,
    /// The scenarios in groups of nearby moves, for the local Lipschitz constant.
    groups: Vec<Group>,
    /// The grid's groups, `w_hi` holding the largest ½(z_h·σ_s·√h)²·(1 + s)² of the group
    /// (the gamma charge per unit of short gamma·S²).
    gamma_groups: Vec<Group>,
    /// max over scenarios of (1 − w) + w·(1 + s): the global Lipschitz factor.
    c_g: f64,
    /// max over grid scenarios of ½(z_h·σ_s·√h)²·(1 + s): the closed-form gamma bound's factor.
    gamma_coef: f64,
}

impl ScenarioPlan {
    fn new(p: &RammParams, table: &UnderlyingTable) -> Option<ScenarioPlan> {
        let grid = table.grid.as_ref()?;
        let scenarios = table.scenarios();
        let h_years = p.gamma_horizon_hours / (365.0 * 24.0);
        let t_ref = p.vol_ref_days / 365.0;
        let gamma_c: Vec<f64> = scenarios
            .iter()
            .map(|s| {
                let c = p.z_horizon * shocked_vol(p, grid.sigma_ref, s.vol, t_ref) * h_years.sqrt();
                0.5 * c * c
            })
            .collect();
        let c_g = scenarios
            .iter()
            .map(|s| (1.0 - s.weight) + s.weight * (1.0 + s.spot_move))
            .fold(1.0, f64::max);
        let gamma_coef = scenarios
            .iter()
            .zip(&gamma_c)
            .filter(|(s, _)| !s.extreme)
            .map(|(s, c)| c * (1.0 + s.spot_move))
            .fold(0.0, f64::max);
        let groups = scenario_groups(scenarios);
        let gamma_groups: Vec<Group> = groups
            .iter()
            .filter_map(|g| {
                let w = scenarios
                    .iter()
                    .zip(&gamma_c)
                    .filter(|(s, _)| !s.extreme && s.spot_move >= g.s_lo && s.spot_move <= g.s_hi)
                    .map(|(s, c)| c * (1.0 + s.spot_move) * (1.0 + s.spot_move))
                    .fold(f64::NEG_INFINITY, f64::max);
                (w >= 0.0).then_some(Group { w_hi: w, ..*g })
            })
            .collect();
        let ln_one_plus: Vec<f64> = scenarios.iter().map(|s| s.spot_move.ln_1p()).collect();
        let vol_ix: Vec<usize> = scenarios.iter().map(|s| vol_index(s.vol)).collect();
        Some(ScenarioPlan {
            one_plus: scenarios.iter().map(|s| 1.0 + s.spot_move).collect(),
            runs: scenario_runs(&ln_one_plus, &vol_ix),
            gamma_c,
            groups,
            gamma_groups,
            c_g,
            gamma_coef,
        })
    }
}

/// Sparse tables (least and largest over every run of 2^level blocks of lattice points) of two
/// series per option row: the dollar delta and the gamma (least / largest over the vol
/// states). A window's range is then two reads per series, however wide the window.
struct RangeTables {
    levels: usize,
    /// Blocks of [`RANGE_BLOCK`] lattice points.
    blocks: usize,
    /// `(option·2 + series)·levels + level` runs of `blocks` values.
    lo: Vec<f32>,
    hi: Vec<f32>,
}

/// Lattice points per block of the range tables: a query reads whole blocks (a slightly wider
/// range: still a bound), and the tables are this many times smaller and faster to build.
const RANGE_BLOCK: usize = 4;

impl RangeTables {
    fn build(data: &[f32], len: usize) -> RangeTables {
        let blocks = len.div_ceil(RANGE_BLOCK).max(1);
        let levels = (usize::BITS - blocks.leading_zeros()) as usize;
        let options = data.len() / (CURVES * len).max(1);
        let block = levels * blocks;
        let mut lo = huge_vec(options * 2 * block);
        lo.resize(options * 2 * block, 0.0f32);
        let mut hi = huge_vec(options * 2 * block);
        hi.resize(options * 2 * block, 0.0f32);
        lo.par_chunks_mut(2 * block)
            .zip(hi.par_chunks_mut(2 * block))
            .zip(data.par_chunks(CURVES * len))
            .for_each(|((lo, hi), curves)| {
                for series in 0..2 {
                    let (lo, hi) = (
                        &mut lo[series * block..(series + 1) * block],
                        &mut hi[series * block..(series + 1) * block],
                    );
                    let points = curves.chunks_exact(CURVES).map(|point| {
                        if series == 0 {
                            (point[DELTA_LANE], point[DELTA_LANE])
                        } else {
                            let g = &point[GAMMA_LANE..GAMMA_LANE + 3];
                            (g[0].min(g[1]).min(g[2]), g[0].max(g[1]).max(g[2]))
                        }
                    });
                    lo[..blocks].fill(f32::INFINITY);
                    hi[..blocks].fill(f32::NEG_INFINITY);
                    for (k, (a, b)) in points.enumerate() {
                        let i = k / RANGE_BLOCK;
                        lo[i] = lo[i].min(a);
                        hi[i] = hi[i].max(b);
                    }
                    for level in 1..levels {
                        let half = 1 << (level - 1);
                        for k in 0..blocks {
                            let j = (k + half).min(blocks - 1);
                            let (prev, cur) = (level - 1, level);
                            lo[cur * blocks + k] = lo[prev * blocks + k].min(lo[prev * blocks + j]);
                            hi[cur * blocks + k] = hi[prev * blocks + k].max(hi[prev * blocks + j]);
                        }
                    }
                }
            });
        RangeTables {
            levels,
            blocks,
            lo,
            hi,
        }
    }

    /// The least and the largest of `series` (0 dollar delta, 1 gamma) of option `option` over
    /// lattice points k1..=k2 (k1 ≤ k2 < len), read over the blocks holding them.
    #[inline]
    fn range(&self, option: usize, series: usize, k1: usize, k2: usize) -> (f64, f64) {
        let (b1, b2) = (k1 / RANGE_BLOCK, k2 / RANGE_BLOCK);
        let span = b2 - b1 + 1;
        let level = (usize::BITS - 1 - span.leading_zeros()) as usize;
        let base = ((option * 2 + series) * self.levels + level) * self.blocks;
        let j = b2 + 1 - (1 << level);
        (
            f64::from(self.lo[base + b1].min(self.lo[base + j])),
            f64::from(self.hi[base + b1].max(self.hi[base + j])),
        )
    }
}

/// Counts of the work a batch did (no clock in this crate: time it outside).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Option pricings of the lattice.
    pub lattice_pricings: usize,
    /// Evaluations of the interpolated f̃.
    pub approx_evaluations: usize,
    /// Evaluations of the exact function (per-account re-pricing).
    pub exact_evaluations: usize,
    /// Accounts solved by the single-account solver instead (other policies, unpriceable rows).
    pub exact_fallbacks: usize,
}

/// The per-instrument lattices of a venue, built once per market (see the module docs).
pub struct LiquidationLattice {
    underlyings: Vec<Option<UnderlyingLattice>>,
    /// Option pricings spent building it.
    pub pricings: usize,
}

/// The lane of a vol state in a lattice point: the order of the grid's scenarios within one
/// spot step (none, up, down), so that a whole step is three adjacent lanes (see [`Run`]).
fn vol_index(v: VolMove) -> usize {
    match v {
        VolMove::None => 0,
        VolMove::Up => 1,
        VolMove::Down => 2,
    }
}

/// The ramm parameters, when the policy is `ramm` itself (the bounds are derived from its
/// formula; another policy with a ramm table would not be covered). With the `tail` component on,
/// the lattice does not hold the path tables: the exact path answers.
fn ramm_params<P: MarginPolicy + ?Sized>(policy: &P) -> Option<&RammParams> {
    match policy.table_spec() {
        TableSpec::Ramm(p) if policy.name() == "ramm" && !p.tail_enabled => Some(p),
        _ => None,
    }
}

impl LiquidationLattice {
    /// Prices every listed option of every underlying on the lattice (all cores). Underlyings
    /// whose table is missing, or whose range would need more than [`MAX_LATTICE_POINTS`],
    /// get no lattice (their accounts use the exact solver).
    pub fn build<P: MarginPolicy>(engine: &RiskEngine<P>) -> LiquidationLattice {
        let policy = engine.policy();
        let Some(p) = ramm_params(policy) else {
            return LiquidationLattice {
                underlyings: Vec::new(),
                pricings: 0,
            };
        };
        let scan = policy.liquidation_scan();
        let mut pricings = 0;
        let underlyings = (0..engine.book().underlyings().len())
            .map(|u| {
                let lattice = build_underlying(engine, p, &scan, u);
                if let Some(l) = &lattice {
                    pricings += 3 * l.len * l.offsets.iter().flatten().count();
                }
                lattice
            })
            .collect();
        LiquidationLattice {
            underlyings,
            pricings,
        }
    }
}

fn build_underlying<P: MarginPolicy>(
    engine: &RiskEngine<P>,
    p: &RammParams,
    scan: &LiquidationScan,
    u: UnderlyingIx,
) -> Option<UnderlyingLattice> {
    let table = engine.table_result(u).ok()?;
    let market = engine
        .market()
        .underlying(&engine.book().underlyings()[u])
        .ok()?;
    let now = engine.market().time();
    let rate = engine.market().rate();
    let scenarios = table.scenarios();
    let s_min = scenarios.iter().map(|s| s.spot_move).fold(0.0, f64::min);
    let s_max = scenarios.iter().map(|s| s.spot_move).fold(0.0, f64::max);
    let x_lo = (1.0 - scan.reach).max(MIN_SPOT_FACTOR);
    let x_hi = 1.0 + scan.reach;
    let ln_lo = (x_lo * (1.0 + s_min)).ln() - PAD as f64 * LATTICE_STEP_LOG;
    let ln_hi = (x_hi * (1.0 + s_max)).ln() + PAD as f64 * LATTICE_STEP_LOG;
    if !(ln_lo.is_finite() && ln_hi.is_finite()) {
        return None;
    }
    let len = ((ln_hi - ln_lo) / LATTICE_STEP_LOG).ceil() as usize + 1;
    if len > MAX_LATTICE_POINTS {
        return None;
    }
    let spot = table.spot;
    let rows: Vec<Option<(Vec<f32>, f64)>> = (0..table.rows())
        .into_par_iter()
        .map(|row| {
            if table.issues[row].is_some() {
                return None;
            }
            let RowKind::Option {
                expiry,
                strike,
                kind,
            } = table.kinds[row]
            else {
                return None;
            };
            let t = expiry.years_from(now);
            let forward = market.forward(expiry, t, rate);
            price_row(p, market, kind, strike, t, forward, rate, spot, ln_lo, len)
        })
        .collect();
    let mut offsets = Vec::with_capacity(rows.len());
    let mut vol_low = Vec::with_capacity(rows.len());
    let mut data = huge_vec(rows.iter().flatten().count() * CURVES * len);
    for r in rows {
        match r {
            Some((curves, low)) => {
                offsets.push(Some(data.len()));
                vol_low.push(low);
                data.extend_from_slice(&curves);
            }
            None => {
                offsets.push(None);
                vol_low.push(0.0);
            }
        }
    }
    let slope_bounds = slope_bounds(&data, ln_lo, len);
    let ranges = RangeTables::build(&data, len);
    let plan = ScenarioPlan::new(p, table)?;
    Some(UnderlyingLattice {
        ln_m0: ln_lo,
        inv_h: 1.0 / LATTICE_STEP_LOG,
        len,
        offsets,
        vol_low,
        data,
        slope_bounds,
        plan,
        ranges,
    })
}

/// Per option block of `data` and lattice interval, the (least, largest) slope of the three
/// price curves (see [`UnderlyingLattice::slope_bounds`]).
fn slope_bounds(data: &[f32], ln_m0: f64, len: usize) -> Vec<f32> {
    let m = |k: usize| (ln_m0 + k as f64 * LATTICE_STEP_LOG).exp();
    let dm: Vec<f64> = (0..len.saturating_sub(1))
        .map(|k| m(k + 1) - m(k))
        .collect();
    let mut out = huge_vec(data.len() / CURVES * 2);
    out.resize(data.len() / CURVES * 2, f32::NAN);
    out.par_chunks_mut(2 * len)
        .zip(data.par_chunks(CURVES * len))
        .for_each(|(bounds, block)| {
            let at = |k: usize, v: usize| f64::from(block[k * CURVES + v]);
            for (k, dm) in dm.iter().enumerate() {
                let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                for v in 0..3 {
                    let slope = (at(k + 1, v) - at(k, v)) / dm;
                    lo = lo.min(slope);
                    hi = hi.max(slope);
                }
                // Rounded outward to single precision (half the cache footprint).
                bounds[2 * k] = down_f32(lo);
                bounds[2 * k + 1] = up_f32(hi);
            }
        });
    out
}

/// One option row's curves on the lattice, as the scenario table prices it (forward F·m, vol
/// read at the new moneyness then shocked); None if pricing refuses a point.
#[allow(clippy::too_many_arguments)]
fn price_row(
    p: &RammParams,
    market: &ale_market::UnderlyingMarket,
    kind: OptionKind,
    strike: f64,
    t: f64,
    forward: f64,
    rate: f64,
    spot: f64,
    ln_m0: f64,
    len: usize,
) -> Option<(Vec<f32>, f64)> {
    const VOLS: [VolMove; 3] = [VolMove::None, VolMove::Up, VolMove::Down];
    // Every point under every vol state in one batch call (the pricing crate's SIMD kernels,
    // the bits of its scalar ones): point k, vol state v at 3·k + vol_index(v).
    let n = 3 * len;
    let mut forwards = Vec::with_capacity(n);
    let mut vols = Vec::with_capacity(n);
    for k in 0..len {
        let f = forward * (ln_m0 + k as f64 * LATTICE_STEP_LOG).exp();
        let base_vol = market.vol(strike, f, t);
        for v in VOLS {
            debug_assert_eq!(vols.len(), 3 * k + vol_index(v));
            forwards.push(f);
            vols.push(shocked_vol(p, base_vol, v, t));
        }
    }
    let (strikes, expiries, rates, kinds) =
        (vec![strike; n], vec![t; n], vec![rate; n], vec![kind; n]);
    let mut out: Vec<Vec<f64>> = vec![vec![0.0; n]; 7];
    let [price, delta, gamma, vega, theta, vanna, volga] = &mut out[..] else {
        return None;
    };
    ale_pricing::batch::price_greeks(
        &ale_pricing::batch::Options {
            kind: &kinds,
            forward: &forwards,
            strike: &strikes,
            expiry_years: &expiries,
            vol: &vols,
            rate: &rates,
        },
        &mut ale_pricing::batch::GreeksOut {
            price,
            delta,
            gamma,
            vega,
            theta,
            vanna,
            volga,
        },
    )
    .ok()?;
    let carry = forward / spot;
    let mut curves = vec![0.0f32; CURVES * len];
    for (k, point) in curves.chunks_exact_mut(CURVES).enumerate() {
        for i in 0..3 {
            point[i] = to_lattice(price[3 * k + i]);
            point[GAMMA_LANE + i] = to_lattice(gamma[3 * k + i] * carry * carry);
        }
        let none = 3 * k + vol_index(VolMove::None);
        point[DELTA_LANE] = to_lattice(delta[none] * forwards[none]);
    }
    let low = vols.iter().copied().fold(f64::INFINITY, f64::min);
    (low.is_finite() && low > 0.0).then_some((curves, low * VOL_LOW_SAFETY))
}

/// The largest f32 not above `v` (NaN stays NaN).
fn down_f32(v: f64) -> f32 {
    let r = v as f32;
    if f64::from(r) > v {
        r.next_down()
    } else {
        r
    }
}

/// The least f32 not below `v` (NaN stays NaN).
fn up_f32(v: f64) -> f32 {
    let r = v as f32;
    if f64::from(r) < v {
        r.next_up()
    } else {
        r
    }
}

/// A lattice value in single precision, with magnitudes below 1e-30 (dollars or dollar gammas:
/// nothing) stored as zero, so that no subnormal ever enters the interpolation: subnormal
/// arithmetic takes a microcode assist on x86 (with them, the whole run took 4.48 s, not 2.96 s).
fn to_lattice(v: f64) -> f32 {
    if v.abs() < 1e-30 {
        0.0
    } else {
        v as f32
    }
}

/// An empty vector with room for `n` values whose pages the kernel is asked to back with huge
/// pages (Linux, transparent huge pages in `madvise` mode): the lattice is read at scattered
/// points, and 4 KiB pages make most of those reads a TLB miss. Elsewhere a plain vector.
fn huge_vec<T: Copy>(n: usize) -> Vec<T> {
    let v: Vec<T> = Vec::with_capacity(n);
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let end = start + n * std::mem::size_of::<T>();
        let first = start.div_ceil(HUGE) * HUGE;
        if end > first + HUGE {
            let len = (end - first) / HUGE * HUGE;
            // SAFETY: advice on pages inside this vector's own allocation, not yet touched;
            // it changes no memory contents (a failure only leaves small pages).
            unsafe {
                libc::madvise(first as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            }
        }
    }
    v
}

/// Where a point of the lattice falls: the first of the four points the cubic reads and their
/// weights (Catmull-Rom).
#[derive(Clone, Copy)]
struct Stencil {
    first: usize,
    w: [f64; 4],
    /// The weights in single precision, for [`UnderlyingLattice::six`].
    wf: [f32; 4],
}

impl UnderlyingLattice {
    /// The stencil at ln m, or None outside the lattice.
    #[inline(always)]
    fn stencil(&self, ln_m: f64) -> Option<Stencil> {
        let u = (ln_m - self.ln_m0) * self.inv_h;
        let i = u.floor();
        if !(i >= 1.0 && i + 2.0 < self.len as f64) {
            return None;
        }
        let t = u - i;
        let (t2, t3) = (t * t, t * t * t);
        let w = [
            0.5 * (-t3 + 2.0 * t2 - t),
            0.5 * (3.0 * t3 - 5.0 * t2 + 2.0),
            0.5 * (-3.0 * t3 + 4.0 * t2 + t),
            0.5 * (t3 - t2),
        ];
        Some(Stencil {
            first: i as usize - 1,
            w,
            wf: w.map(|v| v as f32),
        })
    }

    /// The lanes of the row at `offset` (prices, gammas, delta), interpolated with `st`
    /// in single precision: the curves are stored in it, and the rounding (≈ 1e-7 of the
    /// largest value) is far inside the band. One 8-lane multiply-add per lattice point.
    #[inline(always)]
    fn six(&self, offset: usize, st: &Stencil) -> [f32; CURVES] {
        let base = offset + st.first * CURVES;
        // In range: a stencil's four points lie inside the lattice (`stencil`).
        let y = &self.data[base..base + 4 * CURVES];
        let mut out = [0.0f32; CURVES];
        for (point, w) in y.chunks_exact(CURVES).zip(&st.wf) {
            for (o, v) in out.iter_mut().zip(point) {
                *o += w * v;
            }
        }
        out
    }

    /// Curves `c1` and `c2` of the row at `offset`, interpolated with `st` (the curves of one
    /// lattice point are adjacent, so the two share their cache lines).
    #[inline(always)]
    fn pair(&self, offset: usize, st: &Stencil, c1: usize, c2: usize) -> (f64, f64) {
        let base = offset + st.first * CURVES;
        let y = &self.data[base..base + 4 * CURVES];
        let (mut a, mut b) = (0.0, 0.0);
        for (k, w) in st.w.iter().enumerate() {
            a += w * f64::from(y[k * CURVES + c1]);
            b += w * f64::from(y[k * CURVES + c2]);
        }
        (a, b)
    }
}

/// Consecutive scenarios with the same spot move: ln(1 + s) and (scenario, vol-state index).
struct Run {
    ln_one_plus: f64,
    members: arrayvec::ArrayVec<(usize, usize), 3>,
    /// Some(i) when the members are scenarios i, i + 1, i + 2 in lanes 0, 1, 2 (every step of
    /// the grid): `fill` then copies the lanes without looking them up.
    whole_step: Option<usize>,
}

/// Groups consecutive scenarios of equal spot move (at most one per vol state).
fn scenario_runs(ln_one_plus: &[f64], vol_ix: &[usize]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for (i, (&lp, &v)) in ln_one_plus.iter().zip(vol_ix).enumerate() {
        match runs.last_mut() {
            Some(r)
                if r.ln_one_plus == lp
                    && !r.members.is_full()
                    && r.members.iter().all(|&(_, w)| w != v) =>
            {
                r.members.push((i, v));
            }
            _ => {
                let mut members = arrayvec::ArrayVec::new();
                members.push((i, v));
                runs.push(Run {
                    ln_one_plus: lp,
                    members,
                    whole_step: None,
                });
            }
        }
    }
    for r in &mut runs {
        let i = r.members[0].0;
        if r.members.as_slice() == [(i, 0), (i + 1, 1), (i + 2, 2)] {
            r.whole_step = Some(i);
        }
    }
    runs
}

/// How one position of the moved account is rebuilt at a factor x.
#[derive(Clone, Copy)]
enum PosCurve {
    Option { offset: usize },
    DeltaOne { mark: f64, pnl_style: bool },
}

/// The account's moved table, re-filled from the lattice at each x, and its bounds.
struct Approx<'l> {
    lattice: &'l UnderlyingLattice,
    table: UnderlyingTable,
    curves: Vec<PosCurve>,
    spot0: f64,
    /// Per run of the plan, the stencil of the current x (scratch of `fill`).
    stencils: Vec<Stencil>,
    /// Lipschitz constant of equity − (price + vega) in x, over the whole scan.
    lambda: f64,
    /// Per option position: (lattice offset, size, widening of its slope range).
    slopes: Vec<(usize, f64, f64)>,
    /// ∂/∂x of the delta-one positions' and the moving collateral's value (exact, constant).
    linear_slope: f64,
    /// K(x) = k_x·x bounds the gamma component and the delta part of the horizon component
    /// from above (the slippage part enters the Lipschitz constant instead: see `certified_extent`).
    k_x: f64,
    /// Lipschitz constant of the slippage part of the horizon component.
    lambda_slippage: f64,
    band: f64,
    /// The option positions as the window bound [`Approx::k_window`] reads them.
    k_options: Vec<KOption>,
    /// Closed-form gamma bound of the narrow short options, per unit of x.
    k_narrow_gamma: f64,
    /// z_h·σ_hist·√T_auction: the horizon component per dollar of delta.
    c_h: f64,
}

/// An option position for [`Approx::k_window`].
struct KOption {
    /// Its ordinal in the lattice's range tables.
    option: usize,
    size: f64,
    /// For an option too narrow for the lattice: ± discount·forward (its dollar delta per unit of
    /// x lies between 0 and this).
    narrow: Option<f64>,
}

impl Approx<'_> {
    fn k_max(&self, x: f64) -> f64 {
        K_SAFETY * self.k_x * x
    }

    /// The lattice points around spot multipliers [m1, m2], one neighbour beyond each end.
    fn points(&self, ln_m1: f64, ln_m2: f64) -> Option<(usize, usize)> {
        let l = self.lattice;
        let u1 = (ln_m1 - l.ln_m0) * l.inv_h;
        let u2 = (ln_m2 - l.ln_m0) * l.inv_h;
        let (k1, k2) = (u1.floor() - 1.0, u2.ceil() + 1.0);
        (k1 >= 0.0 && k2 < l.len as f64 && k1 <= k2).then_some((k1 as usize, k2 as usize))
    }

    /// A bound on the gamma component plus the delta part of the horizon component for every x
    /// in [x1, x2], from the lattice: each option's dollar delta and gamma lie within their
    /// least and largest lattice values over the points around the window (the range tables;
    /// the curves are smooth on the lattice's scale, and K_SAFETY covers what lies between
    /// points), and a short option whose gamma is too narrow for the lattice (σ√T below
    /// [`NARROW_GAMMA_STEPS`] steps) counts at its closed-form peak, its delta at its full
    /// range. +∞ off the lattice (the caller takes the closed form of `k_max` instead).
    fn k_window(&self, x1: f64, x2: f64) -> f64 {
        let (ln1, ln2) = (x1.ln(), x2.ln());
        let Some((k1, k2)) = self.points(ln1, ln2) else {
            return f64::INFINITY;
        };
        let r = &self.lattice.ranges;
        let (a, b) = (self.linear_slope * x1, self.linear_slope * x2);
        let (mut d_lo, mut d_hi) = (a.min(b), a.max(b));
        for o in &self.k_options {
            let (lo, hi) = match o.narrow {
                Some(cap) => ((cap * x2).min(0.0), (cap * x2).max(0.0)),
                None => r.range(o.option, 0, k1, k2),
            };
            d_lo += (o.size * lo).min(o.size * hi);
            d_hi += (o.size * lo).max(o.size * hi);
        }
        let horizon = self.c_h * d_lo.abs().max(d_hi.abs());
        let mut gamma: f64 = 0.0;
        for g in &self.lattice.plan.gamma_groups {
            let Some((k1, k2)) = self.points(ln1 + g.ln_lo, ln2 + g.ln_hi) else {
                return f64::INFINITY;
            };
            let mut least = 0.0;
            for o in self.k_options.iter().filter(|o| o.narrow.is_none()) {
                let (lo, hi) = r.range(o.option, 1, k1, k2);
                least += (o.size * lo).min(o.size * hi);
            }
            gamma = gamma.max(g.w_hi * (-least).max(0.0));
        }
        let s2 = self.spot0 * x2;
        let k = K_SAFETY * (gamma * s2 * s2 + self.k_narrow_gamma * x2 + horizon);
        if k.is_nan() {
            f64::INFINITY
        } else {
            k
        }
    }

    /// The range of Σ size·∂V/∂m (plus the delta-one and collateral slope) over spot
    /// multipliers m in [m_lo, m_hi], every vol state: an arbitrage-free price is convex in the
    /// forward, so each option's slope there lies between the lattice slopes just below and
    /// just above the window (widened by a safety margin). None off the lattice.
    fn slope_range(&self, ln_lo: f64, ln_hi: f64) -> Option<(f64, f64)> {
        let l = self.lattice;
        let u_lo = (ln_lo - l.ln_m0) * l.inv_h;
        let u_hi = (ln_hi - l.ln_m0) * l.inv_h;
        let (k_lo, k_hi) = (u_lo.floor() - 1.0, u_hi.ceil());
        if !(k_lo >= 0.0 && k_hi + 1.0 < l.len as f64) {
            return None;
        }
        let (k_lo, k_hi) = (k_lo as usize, k_hi as usize);
        let (mut sum_lo, mut sum_hi) = (self.linear_slope, self.linear_slope);
        for &(offset, size, widen) in &self.slopes {
            let b = &l.slope_bounds[offset / CURVES * 2..];
            let lo = f64::from(b[2 * k_lo].min(b[2 * k_hi]));
            let hi = f64::from(b[2 * k_lo + 1].max(b[2 * k_hi + 1]));
            let (lo, hi) = (lo - widen, hi + widen);
            sum_lo += (size * lo).min(size * hi);
            sum_hi += (size * lo).max(size * hi);
        }
        (sum_lo.is_finite() && sum_hi.is_finite()).then_some((sum_lo, sum_hi))
    }

    /// The range [lo, hi] of the slope in x of equity − (price + vega) for x in [x1, x2], signed:
    /// equity − joint loss is the least of equity and of each scenario's equity + w·P&L, whose
    /// slope is Σ size·[(1 − w)·V′(x) + w·(1 + s)·V′(x·(1 + s))] (bilinear in w and 1 + s: its
    /// extremes over a group are at the corners), and a least of functions falls no faster than
    /// the fastest falling one and rises no faster than the fastest rising one. The scenarios
    /// are taken in groups of nearby moves. None off the lattice.
    fn slope_window(&self, x1: f64, x2: f64) -> Option<(f64, f64)> {
        let (ln1, ln2) = (x1.ln(), x2.ln());
        let (a_lo, a_hi) = self.slope_range(ln1, ln2)?;
        let (mut lo, mut hi) = (a_lo, a_hi);
        for g in &self.lattice.plan.groups {
            let (b_lo, b_hi) = self.slope_range(ln1 + g.ln_lo, ln2 + g.ln_hi)?;
            for w in [g.w_lo, g.w_hi] {
                let (e_lo, e_hi) = ((1.0 - w) * a_lo, (1.0 - w) * a_hi);
                let (e_lo, e_hi) = (e_lo.min(e_hi), e_lo.max(e_hi));
                for c in [1.0 + g.s_lo, 1.0 + g.s_hi] {
                    let (m_lo, m_hi) = (w * c * b_lo, w * c * b_hi);
                    lo = lo.min(e_lo + m_lo.min(m_hi));
                    hi = hi.max(e_hi + m_lo.max(m_hi));
                }
            }
        }
        (lo.is_finite() && hi.is_finite()).then_some((lo, hi))
    }

    /// How fast equity − (price + vega) can fall (`fall`) or rise (`!fall`) per unit of |x − a|
    /// while x moves from the anchor in `direction` over the window [x1, x2], plus the slippage
    /// charge's own rate. Falls back to the global Lipschitz constant off the lattice.
    fn rate_local(&self, x1: f64, x2: f64, direction: f64, fall: bool) -> f64 {
        let Some((lo, hi)) = self.slope_window(x1, x2) else {
            return self.lambda;
        };
        // Moving up, the function falls at the rate −lo at most and rises at hi; moving down,
        // it falls at hi and rises at −lo.
        let rate = if (direction > 0.0) == fall { -lo } else { hi };
        let local = LOCAL_SAFETY * rate.max(0.0) + self.lambda_slippage;
        if local.is_finite() {
            local.min(self.lambda)
        } else {
            self.lambda
        }
    }

    /// Re-fills the table at factor x; false when x leaves the lattice.
    fn fill(&mut self, x: f64) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked just above).
                return unsafe { self.fill_avx512(x) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                return unsafe { self.fill_avx2(x) };
            }
        }
        self.fill_body(x)
    }

    /// [`Self::fill`] compiled for AVX-512 (the same operations per value: same bits).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn fill_avx512(&mut self, x: f64) -> bool {
        self.fill_body(x)
    }

    /// [`Self::fill`] compiled for AVX2 (the same operations per value: same bits).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn fill_avx2(&mut self, x: f64) -> bool {
        self.fill_body(x)
    }

    #[inline(always)]
    fn fill_body(&mut self, x: f64) -> bool {
        let plan = &self.lattice.plan;
        let n = self.table.n_scenarios;
        let ln_x = x.ln();
        let spot = self.spot0 * x;
        self.table.spot = spot;
        self.table.spot_factor = x;
        for i in 0..n {
            let s_spot = spot * plan.one_plus[i];
            self.table.gamma_scale[i] = plan.gamma_c[i] * s_spot * s_spot;
        }
        // Where x and every scenario's x·(1 + s) fall on the lattice: shared by the positions.
        let Some(at_x) = self.lattice.stencil(ln_x) else {
            return false;
        };
        self.stencils.clear();
        for run in &plan.runs {
            match self.lattice.stencil(ln_x + run.ln_one_plus) {
                Some(st) => self.stencils.push(st),
                None => return false,
            }
        }
        // The lattice is larger than the caches and each x reads other points of it: ask for
        // every block this fill reads before reading any (independent misses overlap).
        #[cfg(target_arch = "x86_64")]
        for c in &self.curves {
            if let PosCurve::Option { offset } = *c {
                for st in self.stencils.iter().chain(std::iter::once(&at_x)) {
                    let block = &self.lattice.data[offset + st.first * CURVES..];
                    for line in [0, 2 * CURVES] {
                        // SAFETY: prefetching has no effect on memory; the pointer is in bounds
                        // (the stencil's four points lie inside the lattice).
                        unsafe {
                            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                                block[line..].as_ptr().cast(),
                            );
                        }
                    }
                }
            }
        }
        let scenarios = self.table.grid.as_ref().map_or(&[][..], |g| &g.scenarios);
        for (r, c) in self.curves.iter().enumerate() {
            let pnl = &mut self.table.pnl[r * n..(r + 1) * n];
            let gamma = &mut self.table.gamma[r * n..(r + 1) * n];
            match *c {
                PosCurve::DeltaOne { mark, pnl_style } => {
                    let mark = mark * x;
                    for (o, s) in pnl.iter_mut().zip(scenarios) {
                        *o = mark * s.spot_move;
                    }
                    gamma.fill(0.0);
                    self.table.base[r] = BaseRow {
                        mark,
                        delta_dollar: mark,
                        slippage_notional: mark.abs(),
                        is_option: false,
                        pnl_style,
                    };
                }
                PosCurve::Option { offset } => {
                    let l = self.lattice;
                    let (mark, dd) = l.pair(offset, &at_x, vol_index(VolMove::None), DELTA_LANE);
                    for (run, st) in plan.runs.iter().zip(&self.stencils) {
                        let curves = l.six(offset, st);
                        match run.whole_step {
                            Some(i) => {
                                for j in 0..3 {
                                    pnl[i + j] = f64::from(curves[j]) - mark;
                                    gamma[i + j] = f64::from(curves[GAMMA_LANE + j]);
                                }
                            }
                            None => {
                                for &(i, v) in &run.members {
                                    pnl[i] = f64::from(curves[v]) - mark;
                                    gamma[i] = f64::from(curves[GAMMA_LANE + v]);
                                }
                            }
                        }
                    }
                    self.table.base[r] = BaseRow {
                        mark,
                        delta_dollar: dd,
                        slippage_notional: mark.abs(),
                        is_option: true,
                        pnl_style: false,
                    };
                }
            }
        }
        true
    }
}

/// Scenarios of nearby spot moves: their move range and weight range.
#[derive(Debug, Clone, Copy)]
struct Group {
    s_lo: f64,
    s_hi: f64,
    /// ln(1 + s_lo), ln(1 + s_hi).
    ln_lo: f64,
    ln_hi: f64,
    w_lo: f64,
    w_hi: f64,
}

/// Splits the scenarios into [`GRID_GROUPS`] ranges of the grid's moves, and one group per
/// extreme.
fn scenario_groups(scenarios: &[crate::scenario::Scenario]) -> Vec<Group> {
    let grid = scenarios.iter().filter(|s| !s.extreme);
    let lo = grid
        .clone()
        .map(|s| s.spot_move)
        .fold(f64::INFINITY, f64::min);
    let hi = grid.map(|s| s.spot_move).fold(f64::NEG_INFINITY, f64::max);
    let parts = GRID_GROUPS as f64;
    let mut groups: Vec<Group> = Vec::new();
    for s in scenarios {
        let (a, b) = if s.extreme || hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
            (s.spot_move, s.spot_move)
        } else {
            let k = (((s.spot_move - lo) / (hi - lo)) * parts)
                .floor()
                .min(parts - 1.0);
            (
                lo + (hi - lo) * k / parts,
                lo + (hi - lo) * (k + 1.0) / parts,
            )
        };
        match groups
            .iter_mut()
            .find(|g| g.s_lo == a && g.s_hi == b && !s.extreme)
        {
            Some(g) => {
                g.w_lo = g.w_lo.min(s.weight);
                g.w_hi = g.w_hi.max(s.weight);
            }
            None => groups.push(Group {
                s_lo: a,
                s_hi: b,
                ln_lo: a.ln_1p(),
                ln_hi: b.ln_1p(),
                w_lo: s.weight,
                w_hi: s.weight,
            }),
        }
    }
    groups
}

/// One value of equity − MM and the gamma + horizon components there.
#[derive(Debug, Clone, Copy)]
struct Point {
    x: f64,
    f: f64,
    k: f64,
    /// The value is the exact function's.
    exact: bool,
    /// The value is f̃'s at x (not exact, nor a sign carried over from an anchor).
    approx: bool,
}

fn ramm_k(m: &crate::engine::AccountMargin) -> f64 {
    m.components[2] + m.components[3]
}

/// The exact evaluator with a small cache (the check at a root re-reads a bracket end).
struct Exact<'a, P: MarginPolicy + ?Sized> {
    moved: MovedAccount<'a, P>,
    cache: Vec<(f64, Point, f64)>,
}

impl<P: MarginPolicy + ?Sized> Exact<'_, P> {
    fn eval(&mut self, x: f64) -> Result<(Point, f64), RiskError> {
        if let Some((_, p, gross)) = self.cache.iter().find(|(cx, _, _)| *cx == x) {
            return Ok((*p, *gross));
        }
        let (m, gross) = self.moved.margin_at(x)?;
        let p = Point {
            x,
            f: m.equity - m.maintenance,
            k: ramm_k(&m),
            exact: true,
            approx: false,
        };
        if self.cache.len() >= 8 {
            self.cache.remove(0);
        }
        self.cache.push((x, p, gross));
        Ok((p, gross))
    }
}

struct Solver<'a, 'l, P: MarginPolicy + ?Sized> {
    exact: Exact<'a, P>,
    approx: Approx<'l>,
    scratch: Scratch,
    scan: LiquidationScan,
    stats: BatchStats,
}

impl<P: MarginPolicy + ?Sized> Solver<'_, '_, P> {
    /// f̃ at x, or the exact value where f̃ cannot be had or sits inside the band.
    fn sign_point(&mut self, x: f64) -> Result<Point, RiskError> {
        if let Some(Ok(m)) = self.approx_margin(x) {
            let f = m.equity - m.maintenance;
            if f.abs() > self.approx.band {
                return Ok(Point {
                    x,
                    f,
                    k: ramm_k(&m),
                    exact: false,
                    approx: true,
                });
            }
        }
        self.exact_point(x)
    }

    /// The margin on the lattice's table at x, if the lattice covers x.
    fn approx_margin(&mut self, x: f64) -> Option<Result<AccountMargin, RiskError>> {
        if !self.approx.fill(x) {
            return None;
        }
        self.stats.approx_evaluations += 1;
        let mv = &self.exact.moved;
        let ov = Override {
            underlying: mv.underlying,
            table: &self.approx.table,
            positions: &mv.positions,
            original_rows: &mv.original_rows,
        };
        Some(margin_with_moved(
            mv.policy,
            mv.market,
            mv.book,
            mv.account,
            mv.fixed.as_ref(),
            &mut self.scratch,
            mv.venue_tables,
            &ov,
        ))
    }

    fn exact_point(&mut self, x: f64) -> Result<Point, RiskError> {
        self.stats.exact_evaluations += 1;
        Ok(self.exact.eval(x)?.0)
    }

    /// The approximate value alone (for the root estimate), if the lattice covers x.
    fn approx_f(&mut self, x: f64) -> Option<f64> {
        self.approx_margin(x)?
            .ok()
            .map(|m| m.equity - m.maintenance)
    }

    /// How far from `anchor`, toward `end`, the sign of the exact function is proven equal to
    /// the anchor's. With g = equity − (price + vega), G the gamma component, H = c·|Δ$| + slip
    /// the horizon component and the other underlyings constant:
    /// f(x) ≥ g(x) − G(x) − H(x) (also when the defined-risk cap binds) and g(a) − H(a) ≥ f(a),
    /// so f(x) ≥ f(a) − Λ·d − (slip(x) − slip(a)) − G(x) − c·|Δ$(x)|, where slip moves at most
    /// by rate·N·d and G + c·|Δ$| ≤ K(x) in closed form; and f(x) ≤ f(a) + k(a) + Λ·d. The
    /// band covers an approximate anchor. Λ is one-sided, over the window itself: how fast g can
    /// fall (positive anchor) or rise (negative anchor) in the scan's direction, so a book whose
    /// equity only gains as spot moves away is certified over a whole side at once.
    fn certified_extent(&self, anchor: &Point, end: f64) -> f64 {
        let band = if anchor.exact { 0.0 } else { self.approx.band };
        let full = (end - anchor.x).abs();
        let direction = (end - anchor.x).signum();
        let fall = anchor.f >= 0.0;
        let window = |d: f64| {
            let x = anchor.x + direction * d;
            (anchor.x.min(x), anchor.x.max(x))
        };
        // What the bound must beat over a window of length d: for a positive anchor the
        // gamma and horizon components can grow up to K over the window (the least of the
        // window's bound and the closed form), for a negative one they are known at the anchor.
        // The closed form is cheap and usually enough; the window bound reads the range tables
        // only where the closed form leaves nothing (near a root, mostly).
        let closed = anchor.f - band - self.approx.k_max(anchor.x.max(end));
        // (A NaN closed form counts as failing.)
        let local = fall && closed.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater);
        let margin = |d: f64| {
            if !fall {
                -(anchor.f + anchor.k + 2.0 * band)
            } else if local {
                let (x1, x2) = window(d);
                anchor.f - band - self.approx.k_window(x1, x2).min(self.approx.k_max(x2))
            } else {
                closed
            }
        };
        let rate = |d: f64| {
            let (x1, x2) = window(d);
            self.approx.rate_local(x1, x2, direction, fall)
        };
        // (margin, rate) over a window of length d; it certifies d when rate·d < margin
        // (NaN-safe: a NaN margin or rate certifies nothing), and margin / rate is the next guess.
        let measure = |d: f64| (margin(d), rate(d));
        let holds = |(m, r): (f64, f64), d: f64| m > 0.0 && r * d < m;
        let m0 = margin(0.0);
        if m0.is_nan() || m0 <= 0.0 {
            return 0.0;
        }
        let at_full = measure(full);
        if holds(at_full, full) {
            return full;
        }
        // Both the rate and K grow with the window (a wider window's ranges hold a narrower
        // one's), so d is certified up to some d* and not beyond. From the estimate
        // margin(0) / rate(full): the fixed-point guess margin(d) / rate(d) of the certified
        // window while it lands inside the bracket, bisection otherwise.
        let (mut certified, mut beyond) = (0.0, full);
        let mut at_certified = (m0, at_full.1);
        let mut d = (m0 / at_full.1).min(full);
        for _ in 0..=EXTENT_ITERATIONS {
            let at = measure(d);
            if holds(at, d) {
                certified = d;
                at_certified = at;
            } else {
                beyond = d;
            }
            if certified > 0.0 && beyond <= certified * 1.05 {
                break;
            }
            let guess = at_certified.0 / at_certified.1;
            d = if guess > certified * 1.05 && guess < beyond {
                guess
            } else if certified == 0.0 {
                0.25 * beyond
            } else if beyond > 4.0 * certified {
                (certified * beyond).sqrt()
            } else {
                0.5 * (certified + beyond)
            };
        }
        certified * (1.0 - 1e-12)
    }

    /// One side of the scan (ramm.md), as the single-account solver does it.
    fn side(&mut self, start: Point, direction: f64, spot: f64) -> Result<Option<Root>, RiskError> {
        let points: Vec<f64> = scan_points(&self.scan, direction).collect();
        let mut anchor = start;
        let mut prev = start;
        let mut j = 0;
        while j < points.len() {
            // Skip the points whose sign the bound proves (they are the anchor's).
            let extent = self.certified_extent(&anchor, points[points.len() - 1]);
            let mut jn = j;
            while jn < points.len() && (points[jn] - anchor.x).abs() < extent {
                jn += 1;
            }
            if jn == points.len() {
                return Ok(None);
            }
            if jn > j {
                prev = Point {
                    x: points[jn - 1],
                    f: anchor.f,
                    k: anchor.k,
                    exact: false,
                    approx: false,
                };
            }
            let cur = self.sign_point(points[jn])?;
            let changed = cur.f == 0.0 || (cur.f < 0.0) != (prev.f < 0.0);
            let mut next = cur;
            if changed {
                if cur.exact && cur.f == 0.0 {
                    let (p, gross) = self.exact.eval(cur.x)?;
                    if p.f.abs() <= ROOT_CHECK_TOLERANCE * gross.max(1.0) {
                        return Ok(Some(Root {
                            spot: spot * cur.x,
                            residual: p.f,
                        }));
                    }
                } else {
                    match self.refine(prev, cur)? {
                        Ok(r) => {
                            return Ok(Some(Root {
                                spot: spot * r.x,
                                residual: r.f,
                            }))
                        }
                        Err(at_cur) => next = at_cur,
                    }
                }
            }
            anchor = next;
            prev = next;
            j = jn + 1;
        }
        Ok(None)
    }

    /// A sign change between consecutive scan points `prev` and `cur` (signs proven, values
    /// exact or approximate): `Ok` the checked root, or `Err` the exact value at `cur` when no
    /// root holds there and the scan must go on.
    fn refine(&mut self, prev: Point, cur: Point) -> Result<Result<Point, Point>, RiskError> {
        let tol = self.scan.rel_tol * cur.x;
        let (mut lo, mut hi) = if prev.x < cur.x {
            (prev, cur)
        } else {
            (cur, prev)
        };
        // Root estimate on f̃: Brent on the approximate function, else the secant.
        let estimate = {
            let (a, b) = (lo.x, hi.x);
            // The ends' f̃ where the scan has it already.
            let fa = if lo.approx {
                Some(lo.f)
            } else {
                self.approx_f(a)
            };
            let fb = if hi.approx {
                Some(hi.f)
            } else {
                self.approx_f(b)
            };
            match (fa, fb) {
                (Some(fa), Some(fb)) if (fa < 0.0) != (fb < 0.0) => {
                    let secant = a - fa * (b - a) / (fb - fa);
                    let approx = brent(
                        |z| {
                            self.approx_f(z)
                                .ok_or_else(|| RiskError::Limit("off the lattice".into()))
                        },
                        a,
                        b,
                        fa,
                        fb,
                        APPROX_ROOT_TOL * tol,
                    );
                    match approx {
                        Ok(r) if r > a && r < b => r,
                        _ if secant > a && secant < b => secant,
                        _ => 0.5 * (a + b),
                    }
                }
                _ => 0.5 * (a + b),
            }
        };
        // One exact value at the estimate, then a Newton step on it with f̃'s slope: f̃ is off
        // by at most the band, its slope by far less, so the step lands within the tolerance.
        let mut estimate = estimate;
        if estimate > lo.x && estimate < hi.x && hi.x - lo.x > tol {
            let p0 = self.exact_point(estimate)?;
            if p0.f == 0.0 || (p0.f < 0.0) != (lo.f < 0.0) {
                hi = p0;
            } else {
                lo = p0;
            }
            let eta = (1e-5 * estimate).max(tol);
            if let (Some(up), Some(down)) =
                (self.approx_f(estimate + eta), self.approx_f(estimate - eta))
            {
                let newton = estimate - p0.f * 2.0 * eta / (up - down);
                if newton > lo.x && newton < hi.x {
                    estimate = newton;
                }
            }
        }
        let mut delta = 0.45 * tol;
        for _ in 0..TIGHTEN_ATTEMPTS {
            if hi.x - lo.x <= tol {
                break;
            }
            for z in [estimate - delta, estimate + delta] {
                if z > lo.x && z < hi.x {
                    let p = self.exact_point(z)?;
                    if p.f == 0.0 || (p.f < 0.0) != (lo.f < 0.0) {
                        hi = p;
                    } else {
                        lo = p;
                    }
                }
            }
            delta *= 20.0;
        }
        // Brent needs exact values at both ends.
        if !lo.exact {
            lo = self.exact_point(lo.x)?;
        }
        if !hi.exact {
            hi = self.exact_point(hi.x)?;
        }
        if !(lo.f == 0.0 || hi.f == 0.0 || (lo.f < 0.0) != (hi.f < 0.0)) {
            // f̃ saw a sign change the exact function does not have: no root here.
            return Ok(Err(self.exact_among(cur.x, &lo, &hi)?));
        }
        let root = if lo.f == 0.0 {
            lo.x
        } else if hi.f == 0.0 {
            hi.x
        } else {
            self.exact_brent(lo, hi, tol)?
        };
        let (p, gross) = self.exact.eval(root)?;
        let checks = |p: &Point| p.f.abs() <= ROOT_CHECK_TOLERANCE * gross.max(1.0);
        if checks(&p) {
            return Ok(Ok(p));
        }
        // The tight bracket met the tolerance in x before Brent's own steps brought the residual
        // down (the single-account solver's longer run usually lands closer): go on inside it.
        let root = self.exact_brent(lo, hi, SECOND_PASS_TOL * tol)?;
        let (p, _) = self.exact.eval(root)?;
        if checks(&p) {
            return Ok(Ok(p));
        }
        Ok(Err(self.exact_among(cur.x, &lo, &hi)?))
    }

    /// The exact value at `x`, taken from `lo` or `hi` when it is one of them (the scan goes on
    /// from there only when no root was kept: computed only then).
    fn exact_among(&mut self, x: f64, lo: &Point, hi: &Point) -> Result<Point, RiskError> {
        if x == lo.x {
            Ok(*lo)
        } else if x == hi.x {
            Ok(*hi)
        } else {
            self.exact_point(x)
        }
    }

    /// Brent on the exact function inside [lo, hi] (exact values of opposite signs).
    fn exact_brent(&mut self, lo: Point, hi: Point, tol: f64) -> Result<f64, RiskError> {
        let exact = &mut self.exact;
        let stats = &mut self.stats;
        brent(
            |z| {
                stats.exact_evaluations += 1;
                exact.eval(z).map(|(p, _)| p.f)
            },
            lo.x,
            hi.x,
            lo.f,
            hi.f,
            tol,
        )
    }
}

/// What the fast path makes of one account.
enum Setup<'a, 'l, P: MarginPolicy + ?Sized> {
    /// No exposure to any underlying.
    Nothing,
    /// The single-account solver answers (another policy, a row off the lattice).
    Fallback,
    /// The solver, its value at today's spot, the main underlying and its spot.
    Solve(Box<Solver<'a, 'l, P>>, Point, ale_core::Asset, f64),
}

/// Prepares the fast path for account `ix`: its moved account, the curves and bounds of its
/// positions on the lattice.
fn setup<'a, 'l, P: MarginPolicy>(
    engine: &'a RiskEngine<P>,
    lattice: &'l LiquidationLattice,
    ix: usize,
    tables: &'a dyn Fn(UnderlyingIx) -> Result<&'a UnderlyingTable, RiskError>,
) -> Result<Setup<'a, 'l, P>, RiskError> {
    let policy = engine.policy();
    let market = engine.market();
    let book = engine.book();
    let account: &BookAccount = book.account(ix);
    let Some(p) = ramm_params(policy) else {
        return Ok(Setup::Fallback);
    };
    let Some(Prepared {
        moved,
        base,
        main,
        spot,
    }) = prepare(policy, market, book, account, tables)?
    else {
        return Ok(Setup::Nothing);
    };
    let u = moved.underlying;
    let Some(lat) = lattice.underlyings.get(u).and_then(|l| l.as_ref()) else {
        return Ok(Setup::Fallback);
    };
    let venue = engine.table_result(u)?;
    let n = venue.n_scenarios;
    let rows = moved.positions.len();
    // Curves and bounds of the positions.
    let mut curves = Vec::with_capacity(rows);
    let mut slopes = Vec::with_capacity(rows);
    let mut linear_slope = 0.0;
    let (mut n_forward, mut short_gamma, mut narrow_gamma) = (0.0, 0.0, 0.0);
    let mut k_options = Vec::with_capacity(rows);
    let now = market.time();
    let rate = market.rate();
    for (pos, &row) in moved.positions.iter().zip(&moved.original_rows) {
        let row = row as usize;
        let base_row = venue.base[row];
        let size = pos.size.abs();
        match venue.kinds[row] {
            RowKind::Option { expiry, kind, .. } => {
                let Some(offset) = lat.offsets[row] else {
                    return Ok(Setup::Fallback);
                };
                curves.push(PosCurve::Option { offset });
                let t = expiry.years_from(now);
                if t.is_nan() || t <= 0.0 {
                    return Ok(Setup::Fallback);
                }
                let forward = market.underlying(&main)?.forward(expiry, t, rate);
                let disc = venue.discount[row];
                slopes.push((offset, pos.size, SLOPE_WIDEN * disc * forward));
                n_forward += DELTA_SAFETY * size * disc * forward;
                let width = lat.vol_low[row] * t.sqrt();
                let peak = size * disc * forward / ((2.0 * std::f64::consts::PI).sqrt() * width);
                let narrow = width < NARROW_GAMMA_STEPS * LATTICE_STEP_LOG;
                if pos.size < 0.0 {
                    short_gamma += peak;
                    if narrow {
                        narrow_gamma += peak;
                    }
                }
                k_options.push(KOption {
                    option: offset / (CURVES * lat.len),
                    size: pos.size,
                    narrow: narrow.then_some(match kind {
                        OptionKind::Call => disc * forward,
                        OptionKind::Put => -disc * forward,
                    }),
                });
            }
            _ => {
                curves.push(PosCurve::DeltaOne {
                    mark: base_row.mark,
                    pnl_style: base_row.pnl_style,
                });
                n_forward += size * base_row.mark.abs();
                linear_slope += pos.size * base_row.mark;
            }
        }
    }
    let moving = collateral_view(market, book, account)?
        .moving
        .iter()
        .find(|(x, _)| *x == u)
        .map_or(0.0, |(_, v)| *v);
    n_forward += moving.abs();
    linear_slope += moving;
    let Some(grid) = venue.grid.clone() else {
        return Ok(Setup::Fallback);
    };
    let plan = &lat.plan;
    let sigma_hist = venue.realized_vol.unwrap_or(grid.sigma_ref);
    let c_h = p.z_horizon * sigma_hist * (p.auction_minutes / (365.0 * 24.0 * 60.0)).sqrt();
    // The slippage charge moves with the marks: Lipschitz with the largest rate × N.
    let lambda_slippage = p.slippage_option.max(p.slippage_delta_one) * n_forward;
    let table = UnderlyingTable {
        spot: venue.spot,
        spot_factor: 1.0,
        sigma_atm: venue.sigma_atm,
        realized_vol: venue.realized_vol,
        grid: Some(grid),
        n_scenarios: n,
        pnl: vec![0.0; rows * n],
        gamma: vec![0.0; rows * n],
        gamma_scale: vec![0.0; n],
        base: vec![
            BaseRow {
                mark: 0.0,
                delta_dollar: 0.0,
                slippage_notional: 0.0,
                is_option: false,
                pnl_style: false,
            };
            rows
        ],
        issues: moved
            .original_rows
            .iter()
            .map(|&r| venue.issues[r as usize].clone())
            .collect(),
        kinds: moved.kinds.clone(),
        discount: moved
            .original_rows
            .iter()
            .map(|&r| venue.discount[r as usize])
            .collect(),
        tail: None,
        pm: None,
    };
    let approx = Approx {
        lattice: lat,
        table,
        curves,
        spot0: venue.spot,
        stencils: Vec::with_capacity(plan.runs.len()),
        lambda: plan.c_g * n_forward + lambda_slippage,
        lambda_slippage,
        slopes,
        linear_slope,
        k_x: plan.gamma_coef * short_gamma + c_h * n_forward,
        band: BAND_REL * n_forward,
        k_options,
        k_narrow_gamma: plan.gamma_coef * narrow_gamma,
        c_h,
    };
    let solver = Solver {
        exact: Exact {
            moved,
            cache: Vec::new(),
        },
        approx,
        scratch: Scratch::default(),
        scan: policy.liquidation_scan(),
        stats: BatchStats::default(),
    };
    let start = Point {
        x: 1.0,
        f: base.equity - base.maintenance,
        k: ramm_k(&base),
        exact: true,
        approx: false,
    };
    Ok(Setup::Solve(Box::new(solver), start, main, spot))
}

/// The liquidation prices of account `ix` with the fast path (see the module docs), adding the
/// work done to `stats`.
pub fn liquidation_prices_fast<P: MarginPolicy>(
    engine: &RiskEngine<P>,
    lattice: &LiquidationLattice,
    ix: usize,
    stats: &mut BatchStats,
) -> Result<Option<LiquidationPrices>, RiskError> {
    let tables = |u: UnderlyingIx| engine.table_result(u);
    let (mut solver, start, main, spot) = match setup(engine, lattice, ix, &tables)? {
        Setup::Nothing => return Ok(None),
        Setup::Fallback => {
            stats.exact_fallbacks += 1;
            let book = engine.book();
            return liquidation_prices(
                engine.policy(),
                engine.market(),
                book,
                book.account(ix),
                &tables,
            );
        }
        Setup::Solve(solver, start, main, spot) => (solver, start, main, spot),
    };
    let below = solver.side(start, -1.0, spot);
    let above = match below {
        Ok(_) => solver.side(start, 1.0, spot),
        Err(_) => Ok(None),
    };
    stats.approx_evaluations += solver.stats.approx_evaluations;
    stats.exact_evaluations += solver.stats.exact_evaluations;
    let (below, above) = (below?, above?);
    Ok(Some(LiquidationPrices {
        underlying: main,
        below,
        above,
    }))
}

impl<P: MarginPolicy> RiskEngine<P> {
    /// The liquidation prices of every account (all cores), by account index: the lattice is
    /// built once, then each account is solved by the fast path (see [`crate::liq_batch`]).
    /// Call after a re-margin.
    pub fn liquidation_prices_all(
        &self,
    ) -> (
        Vec<Result<Option<LiquidationPrices>, RiskError>>,
        BatchStats,
    ) {
        let lattice = LiquidationLattice::build(self);
        let lattice_pricings = lattice.pricings;
        let (results, mut stats) = self.liquidation_prices_with(&lattice);
        stats.lattice_pricings = lattice_pricings;
        (results, stats)
    }

    /// The liquidation prices of every account from a lattice built on the current market.
    pub fn liquidation_prices_with(
        &self,
        lattice: &LiquidationLattice,
    ) -> (
        Vec<Result<Option<LiquidationPrices>, RiskError>>,
        BatchStats,
    ) {
        let per: Vec<(Result<Option<LiquidationPrices>, RiskError>, BatchStats)> =
            (0..self.book().accounts().len())
                .into_par_iter()
                .map(|ix| {
                    let mut stats = BatchStats::default();
                    let r = liquidation_prices_fast(self, lattice, ix, &mut stats);
                    (r, stats)
                })
                .collect();
        let mut stats = BatchStats::default();
        let mut results = Vec::with_capacity(per.len());
        for (r, s) in per {
            stats.approx_evaluations += s.approx_evaluations;
            stats.exact_evaluations += s.exact_evaluations;
            stats.exact_fallbacks += s.exact_fallbacks;
            results.push(r);
        }
        (results, stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{synthetic_venue, VenueSpec};
    use crate::{Ramm, Static};

    fn engine<P: MarginPolicy>(policy: P, accounts: usize) -> RiskEngine<P> {
        let venue = synthetic_venue(&VenueSpec {
            accounts,
            options_per_underlying: 200,
            max_positions: 30,
            seed: 11,
        });
        venue.engine(policy).unwrap()
    }

    fn same_root(fast: Option<Root>, exact: Option<Root>, rel_tol: f64) -> bool {
        match (fast, exact) {
            (None, None) => true,
            // Both within the tolerance of a root of the same bracket.
            (Some(a), Some(b)) => (a.spot - b.spot).abs() <= 2.5 * rel_tol * b.spot,
            _ => false,
        }
    }

    #[test]
    fn fast_path_finds_the_single_account_solvers_roots() {
        let e = engine(Ramm::default(), 300);
        let rel_tol = e.policy().params.liq_rel_tol;
        let (fast, stats) = e.liquidation_prices_all();
        assert_eq!(stats.exact_fallbacks, 0);
        assert!(stats.lattice_pricings > 0);
        let exact: Vec<_> = (0..e.book().accounts().len())
            .into_par_iter()
            .map(|ix| e.liquidation_prices(ix))
            .collect();
        let mut roots = 0;
        for (ix, (f, x)) in fast.iter().zip(&exact).enumerate() {
            let (f, x) = (f.as_ref().unwrap(), x.as_ref().unwrap());
            match (f, x) {
                (Some(f), Some(x)) => {
                    assert_eq!(f.underlying, x.underlying);
                    assert!(
                        same_root(f.below, x.below, rel_tol)
                            && same_root(f.above, x.above, rel_tol),
                        "account {ix}: fast {f:?}, exact {x:?}"
                    );
                    roots += usize::from(x.below.is_some()) + usize::from(x.above.is_some());
                    // Every reported root checks when re-margined there.
                    for r in [f.below, f.above].into_iter().flatten() {
                        assert!(r.residual.is_finite());
                    }
                }
                (None, None) => {}
                _ => panic!("account {ix}: fast {f:?}, exact {x:?}"),
            }
        }
        // The venue has roots on both sides to compare, and most accounts none within reach.
        assert!(roots > 30, "only {roots} roots");
        // The fast path re-prices exactly only around roots.
        assert!(stats.exact_evaluations < 10 * fast.len());
    }

    /// The premise the band rests on (module docs): f̃ stays within the band of the exact
    /// function, here by a factor of 4 at least, at spot factors off the lattice's points
    /// across the scan, for every account of a venue with up to 30 positions.
    #[test]
    fn the_interpolation_error_stays_well_inside_the_band() {
        let e = engine(Ramm::default(), 150);
        let lattice = LiquidationLattice::build(&e);
        let tables = |u: UnderlyingIx| e.table_result(u);
        let (mut worst, mut points): (f64, usize) = (0.0, 0);
        for ix in 0..e.book().accounts().len() {
            let Setup::Solve(mut solver, ..) = setup(&e, &lattice, ix, &tables).unwrap() else {
                continue;
            };
            let notional = solver.approx.band / BAND_REL;
            for k in 0..=45 {
                let x = 0.1 + 0.0403 * k as f64;
                let Some(Ok(m)) = solver.approx_margin(x) else {
                    continue;
                };
                let exact = solver.exact.eval(x).unwrap().0.f;
                let error = ((m.equity - m.maintenance) - exact).abs() / notional;
                assert!(error.is_finite(), "account {ix} at {x}");
                worst = worst.max(error);
                points += 1;
            }
        }
        assert!(points > 3000, "{points} points");
        assert!(
            worst < BAND_REL / 4.0,
            "worst |f̃ − f| / N = {worst:e} against a band of {BAND_REL:e}"
        );
        eprintln!("{points} points, worst |f̃ − f| / N = {worst:e}");
    }

    #[test]
    fn other_policies_use_the_single_account_solver() {
        let e = engine(Static::default(), 20);
        let (fast, stats) = e.liquidation_prices_all();
        assert_eq!(stats.exact_fallbacks, 20);
        for (ix, f) in fast.iter().enumerate() {
            assert_eq!(f, &e.liquidation_prices(ix));
        }
    }
}
