//! Equity and the requirement bound at the witness, in fixed-point integers.
//!
//! The verifier derives every vol itself — at base and under the witness scenario — from the
//! committed SVI slices (sticky moneyness: the smile is a function of ln(K/F), F moves with
//! spot), the committed parameters and σ_ref; it is never handed a shocked vol.
//!
//! - `ramm`: for any grid scenario s*, MM ≥ max(loss(s*), 0) + gamma(s*) + horizon
//!   (ramm.md §3; gamma counted for non-extreme scenarios of accounts that are not of defined
//!   risk — for those the engine caps price + vega + gamma at the maximum loss, which bounds
//!   loss(s*) but not loss(s*) + gamma(s*)).
//! - `static`, `oracle-adjusted`: the requirement itself, a short sum.
//!
//! Every function here is bounded by the fixed capacities of `layout` (positions, leaves).

use crate::error::{Reason, Rejection};
use crate::fixed::{Ctx, MathError, OptionInputs, ERR_GAMMA_REL, ERR_PRICE_REL, ONE, SCALE};
use crate::layout::{
    kind, AccountRec, Policy, Record, MAX_COLLATERAL, MAX_MARKET_LEAVES, MAX_POSITIONS,
    NO_SCENARIO, PARAM_SCALE,
};

/// Number of `ramm` parameters carried by a certificate.
pub const RAMM_PARAMS: usize = 22;

/// Indices of the `ramm` parameters (all at scale 1e9 in the certificate).
pub mod ramm_param {
    /// z_price.
    pub const Z_PRICE: usize = 0;
    /// Scan horizon, days.
    pub const SCAN_DAYS: usize = 1;
    /// R_min.
    pub const RANGE_MIN: usize = 2;
    /// R_max.
    pub const RANGE_MAX: usize = 3;
    /// Spot steps (odd integer).
    pub const SPOT_STEPS: usize = 4;
    /// k_ext.
    pub const EXTREME_MULTIPLE: usize = 5;
    /// w_ext.
    pub const EXTREME_WEIGHT: usize = 6;
    /// Largest down move.
    pub const MAX_DOWN_MOVE: usize = 7;
    /// Minimum expiry of the reference ATM vol, days.
    pub const ATM_MIN_DAYS: usize = 8;
    /// T_ref, days.
    pub const VOL_REF_DAYS: usize = 9;
    /// v_up.
    pub const VOL_UP: usize = 10;
    /// v_up_min.
    pub const VOL_UP_MIN: usize = 11;
    /// v_up_max.
    pub const VOL_UP_MAX: usize = 12;
    /// v_dn.
    pub const VOL_DOWN: usize = 13;
    /// v_dn_min.
    pub const VOL_DOWN_MIN: usize = 14;
    /// v_dn_max.
    pub const VOL_DOWN_MAX: usize = 15;
    /// σ_min.
    pub const VOL_FLOOR: usize = 16;
    /// h, hours.
    pub const GAMMA_HORIZON_HOURS: usize = 17;
    /// z_h.
    pub const Z_HORIZON: usize = 18;
    /// T_auction, minutes.
    pub const AUCTION_MINUTES: usize = 19;
    /// Slippage of delta-one positions.
    pub const SLIPPAGE_DELTA_ONE: usize = 20;
    /// Slippage of options.
    pub const SLIPPAGE_OPTION: usize = 21;
}

/// Indices of the `oracle-adjusted` parameters (`static` has only `MM_RATE`).
pub mod oa_param {
    /// m.
    pub const MM_RATE: usize = 0;
    /// σ_base.
    pub const VOL_BASE: usize = 1;
    /// f_max.
    pub const FACTOR_MAX: usize = 2;
    /// Minimum expiry of the reference ATM vol, days.
    pub const ATM_MIN_DAYS: usize = 3;
}

/// Most spot steps of a ramm grid (3·steps + 2 ≤ 256 scenarios).
pub const MAX_SPOT_STEPS: i128 = 84;
const SECONDS_PER_YEAR: i128 = 31_536_000;
/// 1e-15 at scale 1e18: the per-operation slack of the error budget.
const SLACK: i128 = 1_000;

fn arith(field: &'static str) -> impl Fn(MathError) -> Rejection {
    move |e| Rejection::new(field, Reason::Arithmetic(e))
}

/// One SVI slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceV {
    index: u16,
    expiry_years: i128,
    a: i128,
    b: i128,
    rho: i128,
    m: i128,
    sigma: i128,
}

/// One collateral price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CollV {
    asset: [u8; 16],
    price: i128,
    factor: i128,
    moves: bool,
}

/// The market data of the witness underlying, from the verified leaves.
#[derive(Debug, Clone)]
pub struct MarketView {
    spot: i128,
    rate: i128,
    realized_vol: Option<i128>,
    perp_price: Option<i128>,
    slice_count: u16,
    forwards: [(i64, i128); MAX_MARKET_LEAVES],
    n_forwards: usize,
    slices: [SliceV; MAX_MARKET_LEAVES],
    n_slices: usize,
    coll: [CollV; MAX_MARKET_LEAVES],
    n_coll: usize,
}

impl MarketView {
    /// Gathers the records of `underlying` (and every collateral record).
    pub fn new(records: &[Record], underlying: &[u8; 16]) -> Result<MarketView, Rejection> {
        let dup = |what| Rejection::new("market.leaves", Reason::Invalid(what));
        let zero_slice = SliceV {
            index: 0,
            expiry_years: 0,
            a: 0,
            b: 0,
            rho: 0,
            m: 0,
            sigma: 0,
        };
        let mut v = MarketView {
            spot: 0,
            rate: 0,
            realized_vol: None,
            perp_price: None,
            slice_count: 0,
            forwards: [(0, 0); MAX_MARKET_LEAVES],
            n_forwards: 0,
            slices: [zero_slice; MAX_MARKET_LEAVES],
            n_slices: 0,
            coll: [CollV {
                asset: [0; 16],
                price: 0,
                factor: 0,
                moves: false,
            }; MAX_MARKET_LEAVES],
            n_coll: 0,
        };
        let mut have_header = false;
        for r in records.iter().take(MAX_MARKET_LEAVES) {
            match *r {
                Record::Underlying {
                    asset,
                    spot,
                    rate,
                    realized_vol,
                    perp_price,
                    slice_count,
                } if asset == *underlying => {
                    if have_header {
                        return Err(dup("one header per underlying"));
                    }
                    if spot <= 0 || perp_price.is_some_and(|p| p <= 0) || realized_vol.is_some_and(|r| r < 0) {
                        return Err(Rejection::new(
                            "market.leaves.record",
                            Reason::Invalid("spot and perp price > 0, realised vol >= 0"),
                        ));
                    }
                    have_header = true;
                    v.spot = spot;
                    v.rate = rate;
                    v.realized_vol = realized_vol;
                    v.perp_price = perp_price;
                    v.slice_count = slice_count;
                }
                Record::Forward {
                    asset,
                    expiry_s,
                    forward,
                } if asset == *underlying => {
                    if v.forwards[..v.n_forwards].iter().any(|f| f.0 == expiry_s) {
                        return Err(dup("one forward per expiry"));
                    }
                    if forward <= 0 {
                        return Err(Rejection::new("market.leaves.record", Reason::Invalid("forward > 0")));
                    }
                    v.forwards[v.n_forwards] = (expiry_s, forward);
                    v.n_forwards += 1;
                }
                Record::Slice {
                    asset,
                    index,
                    expiry_years,
                    a,
                    b,
                    rho,
                    m,
                    sigma,
                } if asset == *underlying => {
                    if v.slices[..v.n_slices].iter().any(|s| s.index == index) {
                        return Err(dup("one slice per index"));
                    }
                    if expiry_years <= 0 || b < 0 || sigma <= 0 || rho <= -ONE || rho >= ONE {
                        return Err(Rejection::new(
                            "market.leaves.record",
                            Reason::Invalid("SVI slice: T > 0, b >= 0, sigma > 0, |rho| < 1"),
                        ));
                    }
                    v.slices[v.n_slices] = SliceV {
                        index,
                        expiry_years,
                        a,
                        b,
                        rho,
                        m,
                        sigma,
                    };
                    v.n_slices += 1;
                }
                Record::Collateral {
                    asset,
                    price,
                    haircut,
                    bridge_risk,
                    moves_with,
                } => {
                    if v.coll[..v.n_coll].iter().any(|c| c.asset == asset) {
                        return Err(dup("one price per collateral asset"));
                    }
                    if price < 0 || haircut < 0 || bridge_risk < 0 || haircut + bridge_risk > ONE {
                        return Err(Rejection::new(
                            "market.leaves.record",
                            Reason::Invalid("collateral price >= 0, haircuts in [0, 1]"),
                        ));
                    }
                    v.coll[v.n_coll] = CollV {
                        asset,
                        price,
                        factor: ONE - haircut - bridge_risk,
                        moves: moves_with == Some(*underlying),
                    };
                    v.n_coll += 1;
                }
                _ => {}
            }
        }
        if !have_header {
            return Err(Rejection::new("market.leaves", Reason::MissingLeaf));
        }
        for s in &v.slices[..v.n_slices] {
            if s.index >= v.slice_count {
                return Err(Rejection::new(
                    "market.leaves.record",
                    Reason::Invalid("slice index below the header's slice count"),
                ));
            }
        }
        Ok(v)
    }

    fn slice(&self, index: u16) -> Option<&SliceV> {
        self.slices[..self.n_slices].iter().find(|s| s.index == index)
    }

    fn forward(&self, expiry_s: i64) -> Result<i128, Rejection> {
        self.forwards[..self.n_forwards]
            .iter()
            .find(|f| f.0 == expiry_s)
            .map(|f| f.1)
            .ok_or(Rejection::new("market.leaves (forward)", Reason::MissingLeaf))
    }

    fn collateral(&self, asset: &[u8; 16]) -> Option<&CollV> {
        self.coll[..self.n_coll].iter().find(|c| c.asset == *asset)
    }
}

/// w(k) of one SVI slice: a + b(ρ(k − m) + √((k − m)² + σ²)).
fn svi_w(c: &mut Ctx, s: &SliceV, k: i128) -> Result<i128, MathError> {
    let x = c.sub(k, s.m)?;
    let x2 = c.mul(x, x)?;
    let s2 = c.mul(s.sigma, s.sigma)?;
    let r = c.add(x2, s2)?;
    let root = c.sqrt(r)?;
    let rx = c.mul(s.rho, x)?;
    let inner = c.add(rx, root)?;
    let bi = c.mul(s.b, inner)?;
    c.add(s.a, bi)
}

/// Smallest expiry a vol is asked at (the surface's MIN_EXPIRY_YEARS, 1e-9).
const MIN_EXPIRY: i128 = 1_000_000_000;

/// σ(k, T) by the surface's rules: constant vol at fixed k before the first and after the last
/// slice, total variance linear in T between slices.
fn vol_at(c: &mut Ctx, mv: &MarketView, k: i128, expiry_years: i128) -> Result<i128, Rejection> {
    let t = expiry_years.max(MIN_EXPIRY);
    let a = arith("market.leaves (SVI slice)");
    let last = mv.slice_count.saturating_sub(1);
    for s in &mv.slices[..mv.n_slices] {
        c.gas.int_ops += 2;
        let before_first = s.index == 0 && t <= s.expiry_years;
        let after_last = s.index == last && t >= s.expiry_years;
        if before_first || after_last {
            let w = svi_w(c, s, k).map_err(&a)?;
            let var = c.div(w, s.expiry_years).map_err(&a)?;
            return c.sqrt(var).map_err(&a);
        }
        if s.expiry_years < t {
            if let Some(n) = s.index.checked_add(1).and_then(|i| mv.slice(i)) {
                if t <= n.expiry_years {
                    if n.expiry_years <= s.expiry_years {
                        return Err(Rejection::new(
                            "market.leaves (SVI slice)",
                            Reason::Invalid("slice expiries increasing with the index"),
                        ));
                    }
                    let w0 = svi_w(c, s, k).map_err(&a)?;
                    let w1 = svi_w(c, n, k).map_err(&a)?;
                    let dt = c.sub(t, s.expiry_years).map_err(&a)?;
                    let gap = c.sub(n.expiry_years, s.expiry_years).map_err(&a)?;
                    let frac = c.div(dt, gap).map_err(&a)?;
                    let dw = c.sub(w1, w0).map_err(&a)?;
                    let step = c.mul(dw, frac).map_err(&a)?;
                    let w = c.add(w0, step).map_err(&a)?;
                    let var = c.div(w, t).map_err(&a)?;
                    return c.sqrt(var).map_err(&a);
                }
            }
        }
    }
    Err(Rejection::new("market.leaves (SVI slice)", Reason::MissingLeaf))
}

/// The ATM vol at the first slice at least `min_days` away (the last slice when none is).
fn reference_atm_vol(c: &mut Ctx, mv: &MarketView, min_days: i128) -> Result<i128, Rejection> {
    let a = arith("market.leaves (SVI slice)");
    let min_years = c.div_int(min_days, 365).map_err(&a)?;
    let last = mv.slice_count.saturating_sub(1);
    for s in &mv.slices[..mv.n_slices] {
        c.gas.int_ops += 2;
        let first_at_least = s.expiry_years >= min_years
            && (s.index == 0
                || s.index
                    .checked_sub(1)
                    .and_then(|i| mv.slice(i))
                    .is_some_and(|p| p.expiry_years < min_years));
        let none_at_least = s.index == last && s.expiry_years < min_years;
        if first_at_least || none_at_least {
            let w = svi_w(c, s, 0).map_err(&a)?;
            let var = c.div(w, s.expiry_years).map_err(&a)?;
            return c.sqrt(var).map_err(&a);
        }
    }
    Err(Rejection::new("market.leaves (reference ATM slice)", Reason::MissingLeaf))
}

fn same_name(a: &[u8; 16], b: &[u8; 16]) -> bool {
    a == b
}

/// A position priced at base.
#[derive(Debug, Clone, Copy, Default)]
struct BaseLeg {
    is_option: bool,
    call: bool,
    size: i128,
    strike: i128,
    forward: i128,
    expiry_years: i128,
    discount: i128,
    expiry_s: i64,
    /// Mark per unit.
    mark: i128,
    /// Dollar delta per unit.
    delta_dollar: i128,
}

/// The base pass: equity, marks, deltas, moving collateral.
#[derive(Debug, Clone)]
pub struct Base {
    legs: [BaseLeg; MAX_POSITIONS],
    n: usize,
    /// Equity.
    pub equity: i128,
    /// Value of the collateral that moves with the underlying.
    moving: i128,
    /// Error budget of the equity.
    pub equity_err: i128,
    spot: i128,
}

/// What the verifier needs besides the records: policy, parameters (scale 1e18), time.
#[derive(Debug, Clone, Copy)]
pub struct Setup<'a> {
    /// Policy.
    pub policy: Policy,
    /// Parameters, scale 1e18.
    pub params: &'a [i128],
    /// Decision time, unix seconds.
    pub time_s: i64,
    /// The witness underlying.
    pub underlying: [u8; 16],
}

/// Converts parameters from the certificate's scale 1e9 to 1e18.
pub fn params_to_fixed(raw: &[i64], out: &mut [i128]) {
    for (o, p) in out.iter_mut().zip(raw) {
        *o = i128::from(*p) * (SCALE / i128::from(PARAM_SCALE));
    }
}

fn abs(x: i128) -> i128 {
    x.checked_abs().unwrap_or(i128::MAX)
}

/// Equity and the base values of every position.
pub fn base_pass(
    c: &mut Ctx,
    s: &Setup<'_>,
    mv: &MarketView,
    acct: &AccountRec<'_>,
) -> Result<Base, Rejection> {
    let a = arith("equity");
    let mut base = Base {
        legs: [BaseLeg::default(); MAX_POSITIONS],
        n: acct.n_positions,
        equity: 0,
        moving: 0,
        equity_err: 0,
        spot: mv.spot,
    };
    for (i, (asset, amount)) in acct.collateral.iter().enumerate().take(acct.n_collateral.min(MAX_COLLATERAL)) {
        let p = mv.collateral(asset).ok_or(Rejection::at(
            "account.record.collateral (no committed price)",
            i,
            Reason::MissingLeaf,
        ))?;
        let v = c.mul(*amount, p.price).map_err(&a)?;
        let v = c.mul(v, p.factor).map_err(&a)?;
        base.equity = c.add(base.equity, v).map_err(&a)?;
        base.equity_err += 3;
        if p.moves {
            base.moving = c.add(base.moving, v).map_err(&a)?;
        }
    }
    for (i, pos) in acct.positions.iter().enumerate().take(acct.n_positions.min(MAX_POSITIONS)) {
        if !same_name(&pos.underlying, &s.underlying) {
            return Err(Rejection::at(
                "account.record.positions.underlying",
                i,
                Reason::Invalid("the witness underlying (one underlying per certificate)"),
            ));
        }
        let mut leg = BaseLeg {
            size: pos.size,
            expiry_s: pos.expiry_s,
            ..BaseLeg::default()
        };
        let (mark, pnl_style) = match pos.kind {
            kind::SPOT => (mv.spot, false),
            kind::PERPETUAL => (mv.perp_price.unwrap_or(mv.spot), true),
            _ => {
                if pos.expiry_s <= s.time_s {
                    return Err(Rejection::at(
                        "account.record.positions.expiry",
                        i,
                        Reason::Invalid("not expired at the certificate's time"),
                    ));
                }
                let f = mv.forward(pos.expiry_s)?;
                if pos.kind == kind::FUTURE {
                    (f, true)
                } else {
                    let secs = i128::from(pos.expiry_s - s.time_s);
                    let t = c.mul_int(secs, SCALE).map_err(&a)?;
                    let t = c.div_int(t, SECONDS_PER_YEAR).map_err(&a)?;
                    let rt = c.mul(mv.rate, t).map_err(&a)?;
                    let d = c.exp(-rt).map_err(&a)?;
                    let ratio = c.div(pos.strike, f).map_err(&a)?;
                    let k = c.ln(ratio).map_err(&a)?;
                    let vol = vol_at(c, mv, k, t)?;
                    leg.is_option = true;
                    leg.call = pos.kind == kind::CALL;
                    leg.strike = pos.strike;
                    leg.forward = f;
                    leg.expiry_years = t;
                    leg.discount = d;
                    let v = c
                        .black76(
                            &OptionInputs {
                                call: leg.call,
                                forward: f,
                                strike: pos.strike,
                                expiry_years: t,
                                vol,
                                discount: d,
                            },
                            true,
                        )
                        .map_err(&a)?;
                    leg.delta_dollar = c.mul(v.delta, f).map_err(&a)?;
                    let e = c.mul(abs(pos.size), f.saturating_add(pos.strike)).map_err(&a)?;
                    base.equity_err = base.equity_err.saturating_add(c.mul(e, ERR_PRICE_REL).map_err(&a)?);
                    (v.price, false)
                }
            }
        };
        if !leg.is_option {
            leg.forward = mark;
            leg.delta_dollar = mark;
        }
        leg.mark = mark;
        let value = if pnl_style {
            let entry = pos.entry_price.unwrap_or(mark);
            let d = c.sub(mark, entry).map_err(&a)?;
            c.mul(pos.size, d).map_err(&a)?
        } else {
            c.mul(pos.size, mark).map_err(&a)?
        };
        base.equity = c.add(base.equity, value).map_err(&a)?;
        base.equity_err += SLACK;
        base.legs[i] = leg;
    }
    base.equity_err += SLACK;
    Ok(base)
}

/// The bound at the witness and its error budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The requirement lower bound.
    pub bound: i128,
    /// Its error budget.
    pub err: i128,
}

/// A ramm grid rebuilt from the parameters and σ_ref.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    sigma_ref: i128,
    range: i128,
    steps: i128,
    /// Scenarios: 3·steps + 2.
    pub n: usize,
}

fn p(s: &Setup<'_>, i: usize) -> i128 {
    s.params.get(i).copied().unwrap_or(0)
}

/// Rebuilds the ramm grid: σ_ref = max(ATM vol of the reference slice, realised vol),
/// R = clamp(z·σ_ref·√(T_scan), R_min, R_max).
pub fn ramm_grid(c: &mut Ctx, s: &Setup<'_>, mv: &MarketView) -> Result<Grid, Rejection> {
    use ramm_param as rp;
    let a = arith("params");
    let steps_fx = p(s, rp::SPOT_STEPS);
    if steps_fx % SCALE != 0 {
        return Err(Rejection::new("params", Reason::Invalid("spot_steps an integer")));
    }
    let steps = steps_fx / SCALE;
    if !(3..=MAX_SPOT_STEPS).contains(&steps) || steps % 2 == 0 {
        return Err(Rejection::new("params", Reason::Invalid("spot_steps odd in 3..84")));
    }
    let atm = reference_atm_vol(c, mv, p(s, rp::ATM_MIN_DAYS))?;
    let sigma_ref = c.max(atm, mv.realized_vol.unwrap_or(0));
    let scan = c.div_int(p(s, rp::SCAN_DAYS), 365).map_err(&a)?;
    let sq = c.sqrt(scan).map_err(&a)?;
    let zs = c.mul(p(s, rp::Z_PRICE), sigma_ref).map_err(&a)?;
    let raw = c.mul(zs, sq).map_err(&a)?;
    let range = raw.clamp(p(s, rp::RANGE_MIN), p(s, rp::RANGE_MAX).max(p(s, rp::RANGE_MIN)));
    Ok(Grid {
        sigma_ref,
        range,
        steps,
        n: (3 * steps + 2) as usize,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Down,
    None,
    Up,
}

struct Scen {
    spot_move: i128,
    dir: Dir,
    weight: i128,
    extreme: bool,
}

fn scenario(c: &mut Ctx, s: &Setup<'_>, g: &Grid, idx: usize) -> Result<Scen, Rejection> {
    use ramm_param as rp;
    let a = arith("witness.scenario");
    if idx >= g.n {
        return Err(Rejection::new("witness.scenario", Reason::NotInPolicy));
    }
    let max_down = -p(s, rp::MAX_DOWN_MOVE);
    let steps = g.steps as usize;
    if idx < 3 * steps {
        let half = g.steps / 2;
        let i = (idx / 3) as i128;
        let m = c.mul_int(g.range, i - half).map_err(&a)?;
        let m = c.div_int(m, half).map_err(&a)?;
        Ok(Scen {
            spot_move: m.max(max_down),
            dir: [Dir::Down, Dir::None, Dir::Up][idx % 3],
            weight: ONE,
            extreme: false,
        })
    } else {
        let ext = c.mul(p(s, rp::EXTREME_MULTIPLE), g.range).map_err(&a)?;
        let spot_move = if idx == 3 * steps { (-ext).max(max_down) } else { ext };
        Ok(Scen {
            spot_move,
            dir: Dir::None,
            weight: p(s, rp::EXTREME_WEIGHT),
            extreme: true,
        })
    }
}

/// The additive vol shift of direction `dir` at expiry T: clamp(v·√(T_ref/T), min, max).
fn vol_shift(c: &mut Ctx, s: &Setup<'_>, dir: Dir, expiry_years: i128) -> Result<i128, MathError> {
    use ramm_param as rp;
    if dir == Dir::None {
        return Ok(0);
    }
    let one_minute = SCALE / (365 * 24 * 60);
    let t = expiry_years.max(one_minute);
    let t_ref = c.div_int(p(s, rp::VOL_REF_DAYS), 365)?;
    let ratio = c.div(t_ref, t)?;
    let scale = c.sqrt(ratio)?;
    Ok(match dir {
        Dir::Up => {
            let v = c.mul(p(s, rp::VOL_UP), scale)?;
            v.clamp(p(s, rp::VOL_UP_MIN), p(s, rp::VOL_UP_MAX).max(p(s, rp::VOL_UP_MIN)))
        }
        _ => {
            let v = c.mul(p(s, rp::VOL_DOWN), scale)?;
            -v.clamp(p(s, rp::VOL_DOWN_MIN), p(s, rp::VOL_DOWN_MAX).max(p(s, rp::VOL_DOWN_MIN)))
        }
    })
}

fn shocked_vol(c: &mut Ctx, s: &Setup<'_>, base: i128, dir: Dir, t: i128) -> Result<i128, MathError> {
    let shift = vol_shift(c, s, dir, t)?;
    let v = c.add(base, shift)?;
    Ok(match dir {
        Dir::Down => v.max(p(s, ramm_param::VOL_FLOOR)),
        _ => v,
    })
}

/// True when the account is of defined risk (the engine's cap applies): options only, no
/// moving collateral, and per expiry the calls net long or flat.
fn defined_risk(b: &Base) -> bool {
    if b.moving != 0 || b.n == 0 {
        return false;
    }
    let legs = &b.legs[..b.n];
    if legs.iter().any(|l| !l.is_option) {
        return false;
    }
    legs.iter().all(|l| {
        let calls: i128 = legs
            .iter()
            .filter(|m| m.expiry_s == l.expiry_s && m.call)
            .map(|m| m.size)
            .fold(0i128, |acc, x| acc.saturating_add(x));
        calls >= 0
    })
}

/// The `ramm` lower bound at scenario `idx` of the rebuilt grid.
pub fn ramm_bound(
    c: &mut Ctx,
    s: &Setup<'_>,
    mv: &MarketView,
    g: &Grid,
    b: &Base,
    idx: usize,
) -> Result<Bound, Rejection> {
    use ramm_param as rp;
    let a = arith("claimed_bound");
    let sc = scenario(c, s, g, idx)?;
    let factor = c.add(ONE, sc.spot_move).map_err(&a)?;
    let want_gamma = !sc.extreme && !defined_risk(b);
    let mut err: i128 = 0;
    // P&L: moving collateral, then every leg fully re-priced.
    let mut pnl = c.mul(b.moving, sc.spot_move).map_err(&a)?;
    let mut gamma_sum: i128 = 0;
    let mut delta_dollar = b.moving;
    let mut slippage: i128 = 0;
    for leg in &b.legs[..b.n] {
        let leg_pnl = if leg.is_option {
            let f_s = c.mul(leg.forward, factor).map_err(&a)?;
            let ratio = c.div(leg.strike, f_s).map_err(&a)?;
            let k = c.ln(ratio).map_err(&a)?;
            let v0 = vol_at(c, mv, k, leg.expiry_years)?;
            let vol = shocked_vol(c, s, v0, sc.dir, leg.expiry_years).map_err(&a)?;
            let v = c
                .black76(
                    &OptionInputs {
                        call: leg.call,
                        forward: f_s,
                        strike: leg.strike,
                        expiry_years: leg.expiry_years,
                        vol,
                        discount: leg.discount,
                    },
                    want_gamma,
                )
                .map_err(&a)?;
            if want_gamma {
                // Spot gamma: Γ_F·(F/S)².
                let carry = c.div(leg.forward, b.spot).map_err(&a)?;
                let c2 = c.mul(carry, carry).map_err(&a)?;
                let gs = c.mul(v.gamma, c2).map_err(&a)?;
                let t = c.mul(leg.size, gs).map_err(&a)?;
                gamma_sum = c.add(gamma_sum, t).map_err(&a)?;
            }
            let fk = leg.forward.saturating_add(f_s).saturating_add(leg.strike);
            let e = c.mul(abs(leg.size), fk).map_err(&a)?;
            err = err.saturating_add(c.mul(e, 2 * ERR_PRICE_REL).map_err(&a)?);
            c.sub(v.price, leg.mark).map_err(&a)?
        } else {
            c.mul(leg.mark, sc.spot_move).map_err(&a)?
        };
        let t = c.mul(leg.size, leg_pnl).map_err(&a)?;
        pnl = c.add(pnl, t).map_err(&a)?;
        let dd = c.mul(leg.size, leg.delta_dollar).map_err(&a)?;
        delta_dollar = c.add(delta_dollar, dd).map_err(&a)?;
        let rate = if leg.is_option {
            p(s, rp::SLIPPAGE_OPTION)
        } else {
            p(s, rp::SLIPPAGE_DELTA_ONE)
        };
        let notional = c.mul(abs(leg.size), abs(leg.mark)).map_err(&a)?;
        let sl = c.mul(notional, rate).map_err(&a)?;
        slippage = c.add(slippage, sl).map_err(&a)?;
        err = err.saturating_add(SLACK);
    }
    let neg_pnl = pnl.checked_neg().ok_or(Rejection::new("claimed_bound", Reason::Arithmetic(MathError::Overflow)))?;
    let loss = c.mul(neg_pnl, sc.weight).map_err(&a)?;
    let loss = c.max(loss, 0);
    // gamma: ½·(z_h·σ_s·√h·S_s)²·max(−Γ, 0), σ_s = σ_ref shocked at T_ref.
    let gamma_part = if want_gamma && gamma_sum < 0 {
        let t_ref = c.div_int(p(s, rp::VOL_REF_DAYS), 365).map_err(&a)?;
        let sigma = shocked_vol(c, s, g.sigma_ref, sc.dir, t_ref).map_err(&a)?;
        let h = c.div_int(p(s, rp::GAMMA_HORIZON_HOURS), 365 * 24).map_err(&a)?;
        let sh = c.sqrt(h).map_err(&a)?;
        let s_s = c.mul(b.spot, factor).map_err(&a)?;
        let mv1 = c.mul(p(s, rp::Z_HORIZON), sigma).map_err(&a)?;
        let mv2 = c.mul(mv1, sh).map_err(&a)?;
        let mv3 = c.mul(mv2, s_s).map_err(&a)?;
        let sq = c.mul(mv3, mv3).map_err(&a)?;
        let short_gamma = gamma_sum.checked_neg().ok_or(Rejection::new("claimed_bound", Reason::Arithmetic(MathError::Overflow)))?;
        let g = c.mul(sq / 2, short_gamma).map_err(&a)?;
        err = err.saturating_add(c.mul(g, ERR_GAMMA_REL).map_err(&a)?);
        g
    } else {
        0
    };
    // horizon: z_h·σ_hist·√T_auction·|Δ$| + slippage.
    let sigma_hist = mv.realized_vol.unwrap_or(g.sigma_ref);
    let auction = c
        .div_int(p(s, rp::AUCTION_MINUTES), 365 * 24 * 60)
        .map_err(&a)?;
    let sa = c.sqrt(auction).map_err(&a)?;
    let h1 = c.mul(p(s, rp::Z_HORIZON), sigma_hist).map_err(&a)?;
    let h2 = c.mul(h1, sa).map_err(&a)?;
    let h3 = c.mul(h2, abs(delta_dollar)).map_err(&a)?;
    let horizon = c.add(h3, slippage).map_err(&a)?;
    err = err.saturating_add(c.mul(horizon, ERR_PRICE_REL).map_err(&a)?);
    err = err.saturating_add(c.mul(abs(delta_dollar), SLACK).map_err(&a)?);
    let bound = c.add(loss, gamma_part).map_err(&a)?;
    let bound = c.add(bound, horizon).map_err(&a)?;
    Ok(Bound {
        bound,
        err: err.saturating_add(SLACK),
    })
}

/// The `static` / `oracle-adjusted` requirement at rate `m`.
fn static_requirement(c: &mut Ctx, b: &Base, m: i128) -> Result<Bound, Rejection> {
    let a = arith("claimed_bound");
    let ms = c.mul(m, b.spot).map_err(&a)?;
    let mut total: i128 = 0;
    let mut err: i128 = SLACK;
    for leg in &b.legs[..b.n] {
        let t = if leg.is_option {
            if leg.size >= 0 {
                continue;
            }
            let per = c.add(leg.mark, ms).map_err(&a)?;
            let e = c.mul(abs(leg.size), leg.forward.saturating_add(leg.strike)).map_err(&a)?;
            err = err.saturating_add(c.mul(e, ERR_PRICE_REL).map_err(&a)?);
            c.mul(abs(leg.size), per).map_err(&a)?
        } else {
            c.mul(abs(leg.size), ms).map_err(&a)?
        };
        total = c.add(total, t).map_err(&a)?;
        err = err.saturating_add(SLACK);
    }
    Ok(Bound { bound: total, err })
}

/// The requirement bound of a static policy (`static` or `oracle-adjusted`).
pub fn static_bound(
    c: &mut Ctx,
    s: &Setup<'_>,
    mv: &MarketView,
    b: &Base,
) -> Result<Bound, Rejection> {
    let a = arith("params");
    match s.policy {
        Policy::Static => static_requirement(c, b, p(s, oa_param::MM_RATE)),
        Policy::OracleAdjusted => {
            let atm = reference_atm_vol(c, mv, p(s, oa_param::ATM_MIN_DAYS))?;
            let ratio = c.div(atm, p(s, oa_param::VOL_BASE)).map_err(&a)?;
            let f_max = p(s, oa_param::FACTOR_MAX).max(ONE);
            let f = ratio.clamp(ONE, f_max);
            let m = c.mul(p(s, oa_param::MM_RATE), f).map_err(&a)?;
            static_requirement(c, b, m)
        }
        Policy::Ramm => Err(Rejection::new("policy", Reason::Invalid("a static policy"))),
    }
}

/// Equity and bound at the certificate's witness.
pub fn evaluate(
    c: &mut Ctx,
    s: &Setup<'_>,
    mv: &MarketView,
    acct: &AccountRec<'_>,
    scenario_idx: u16,
) -> Result<(Base, Bound), Rejection> {
    let base = base_pass(c, s, mv, acct)?;
    let bound = match s.policy {
        Policy::Ramm => {
            if scenario_idx == NO_SCENARIO {
                return Err(Rejection::new("witness.scenario", Reason::NotInPolicy));
            }
            let g = ramm_grid(c, s, mv)?;
            ramm_bound(c, s, mv, &g, &base, scenario_idx as usize)?
        }
        Policy::Static | Policy::OracleAdjusted => {
            if scenario_idx != NO_SCENARIO {
                return Err(Rejection::new("witness.scenario", Reason::NotInPolicy));
            }
            static_bound(c, s, mv, &base)?
        }
    };
    Ok((base, bound))
}

/// The whole `ramm` grid in the verifier's arithmetic: the bound at every scenario, the best
/// witness (largest bound − error) and the gas it took. This is what the engine's table work
/// for the account costs in the verifier's unit (every scenario fully re-priced, with gamma),
/// used to choose the witness and to compare costs; `verify` never calls it.
pub fn ramm_full_grid(
    c: &mut Ctx,
    s: &Setup<'_>,
    mv: &MarketView,
    acct: &AccountRec<'_>,
) -> Result<(Base, usize, Bound), Rejection> {
    let base = base_pass(c, s, mv, acct)?;
    let g = ramm_grid(c, s, mv)?;
    let mut best: Option<(usize, Bound)> = None;
    for idx in 0..g.n {
        let b = ramm_bound(c, s, mv, &g, &base, idx)?;
        if best.is_none_or(|(_, x)| b.bound - b.err > x.bound - x.err) {
            best = Some((idx, b));
        }
    }
    let (idx, b) = best.ok_or(Rejection::new("witness.scenario", Reason::NotInPolicy))?;
    Ok((base, idx, b))
}
