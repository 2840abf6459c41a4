//! The claim at the witnesses, in fixed-point integers: a value and a requirement such that
//! value < requirement proves the account liquidatable under the policy.
//!
//! The verifier derives every vol itself — the reference ATM vol, and each option's vol under
//! the witness scenario — from the committed SVI slices (sticky moneyness: the smile is a
//! function of ln(K/F), F moves with spot), the committed parameters and σ_ref; it is never
//! handed a vol.
//!
//! Accounts may be exposed to several underlyings (positions, or collateral that moves with
//! one). Every policy adds the requirements of the underlyings (no diversification credit), so
//! a lower bound of each, at its own witness, adds up to a lower bound of the whole:
//!
//! - `ramm`: for any scenario s*_u of underlying u's list (weight w: 1 on the grid,
//!   extreme_weight for the two extremes) and any grid scenario g*_u, MM_u ≥ w·loss_u(s*_u) +
//!   gamma_u(g*_u) + horizon_u (ale-risk `Ramm::margin`; under the defined-risk cap
//!   min(w·loss + gamma, cap) + horizon). With value = equity − Σ_u loss_u(s*_u) — the account
//!   re-priced with each underlying under its own witness — the claim is value against the
//!   charges, in two stages ([`ramm_claim`]): stage 1 from the witnesses' pricings alone (gamma
//!   at s*, a horizon floor), stage 2 with the base pass (the engine's horizon, the extremes,
//!   the cap) only when stage 1 does not prove the decision.
//! - `static`, `oracle-adjusted`: equity against the requirement itself, a short sum
//!   ([`static_claim`]).
//! - `pm`: see [`crate::pm`].
//!
//! Every function here is bounded by the fixed capacities of `layout` (positions, leaves,
//! witnesses).

use crate::error::{Reason, Rejection};
use crate::fixed::{Ctx, MathError, OptionInputs, ERR_GAMMA_REL, ERR_PRICE_REL, ONE, SCALE};
use crate::layout::{
    kind, AccountRec, Policy, PositionRec, Record, ScenarioLeaf, Witness, MAX_COLLATERAL,
    MAX_MARKET_LEAVES, MAX_POSITIONS, MAX_WITNESSES, NO_SCENARIO, PARAM_SCALE,
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
pub(crate) const SECONDS_PER_YEAR: i128 = 31_536_000;
/// 1e-15 at scale 1e18: the per-operation slack of the error budget.
pub(crate) const SLACK: i128 = 1_000;

pub(crate) fn arith(field: &'static str) -> impl Fn(MathError) -> Rejection {
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

/// One forward: expiry, forward, the expiry's own rate if committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ForwardV {
    pub expiry_s: i64,
    pub forward: i128,
    pub rate: Option<i128>,
}

/// One collateral price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CollV {
    pub asset: [u8; 16],
    pub price: i128,
    /// 1 − haircut − bridge risk.
    pub factor: i128,
    /// `pm`'s maintenance haircut (committed, else haircut + bridge risk).
    pub mm_haircut: i128,
    pub moves_with: Option<[u8; 16]>,
}

/// Market data shared by every underlying: collateral prices and the stable asset.
#[derive(Debug, Clone)]
pub struct Market<'r> {
    records: &'r [Record],
    coll: [CollV; MAX_MARKET_LEAVES],
    n_coll: usize,
    /// The stable (cash) asset and its price, when its record is among the leaves.
    pub(crate) stable: Option<([u8; 16], i128)>,
}

impl<'r> Market<'r> {
    /// Checks the records that are not per underlying: collateral prices (one per asset) and
    /// the stable record (at most one).
    pub fn new(records: &'r [Record]) -> Result<Market<'r>, Rejection> {
        let dup = |what| Rejection::new("market.leaves", Reason::Invalid(what));
        let mut m = Market {
            records,
            coll: [CollV {
                asset: [0; 16],
                price: 0,
                factor: 0,
                mm_haircut: 0,
                moves_with: None,
            }; MAX_MARKET_LEAVES],
            n_coll: 0,
            stable: None,
        };
        for r in records.iter().take(MAX_MARKET_LEAVES) {
            match *r {
                Record::Collateral {
                    asset,
                    price,
                    haircut,
                    bridge_risk,
                    moves_with,
                    mm_haircut,
                } => {
                    if m.coll[..m.n_coll].iter().any(|c| c.asset == asset) {
                        return Err(dup("one price per collateral asset"));
                    }
                    let h = haircut.saturating_add(bridge_risk);
                    if price < 0
                        || haircut < 0
                        || bridge_risk < 0
                        || h > ONE
                        || mm_haircut.is_some_and(|x| !(0..=ONE).contains(&x))
                    {
                        return Err(Rejection::new(
                            "market.leaves.record",
                            Reason::Invalid("collateral price >= 0, haircuts in [0, 1]"),
                        ));
                    }
                    m.coll[m.n_coll] = CollV {
                        asset,
                        price,
                        factor: ONE - h,
                        mm_haircut: mm_haircut.unwrap_or(h),
                        moves_with,
                    };
                    m.n_coll += 1;
                }
                Record::Stable { asset, price } => {
                    if m.stable.is_some() {
                        return Err(dup("one stable record"));
                    }
                    if price <= 0 {
                        return Err(Rejection::new(
                            "market.leaves.record",
                            Reason::Invalid("stable price > 0"),
                        ));
                    }
                    m.stable = Some((asset, price));
                }
                _ => {}
            }
        }
        Ok(m)
    }

    pub(crate) fn collateral(&self, asset: &[u8; 16]) -> Option<&CollV> {
        self.coll[..self.n_coll].iter().find(|c| c.asset == *asset)
    }

    /// The underlying header named `asset`, if among the leaves: (spot, collateral listed).
    pub(crate) fn header(&self, asset: &[u8; 16]) -> Option<(i128, bool)> {
        self.records.iter().find_map(|r| match *r {
            Record::Underlying {
                asset: a,
                spot,
                collateral_listed,
                ..
            } if a == *asset => Some((spot, collateral_listed)),
            _ => None,
        })
    }

    /// The records of one underlying.
    pub fn view(&self, underlying: &[u8; 16]) -> Result<MarketView, Rejection> {
        MarketView::new(self.records, underlying).map_err(|r| {
            if r.reason == Reason::MissingLeaf {
                Rejection::new(
                    "witness.underlying / market.leaves (no market header for an underlying the account is exposed to)",
                    Reason::MissingLeaf,
                )
            } else {
                r
            }
        })
    }
}

/// The market data of one underlying, from the verified leaves.
#[derive(Debug, Clone)]
pub struct MarketView {
    pub(crate) spot: i128,
    pub(crate) rate: i128,
    pub(crate) realized_vol: Option<i128>,
    pub(crate) perp_price: Option<i128>,
    /// The snapshot lists a collateral price for the asset of this name.
    pub(crate) collateral_listed: bool,
    slice_count: u16,
    forwards: [ForwardV; MAX_MARKET_LEAVES],
    n_forwards: usize,
    slices: [SliceV; MAX_MARKET_LEAVES],
    n_slices: usize,
}

impl MarketView {
    /// Gathers the records of `underlying`.
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
            collateral_listed: false,
            slice_count: 0,
            forwards: [ForwardV {
                expiry_s: 0,
                forward: 0,
                rate: None,
            }; MAX_MARKET_LEAVES],
            n_forwards: 0,
            slices: [zero_slice; MAX_MARKET_LEAVES],
            n_slices: 0,
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
                    collateral_listed,
                } if asset == *underlying => {
                    if have_header {
                        return Err(dup("one header per underlying"));
                    }
                    if spot <= 0
                        || perp_price.is_some_and(|p| p <= 0)
                        || realized_vol.is_some_and(|r| r < 0)
                    {
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
                    v.collateral_listed = collateral_listed;
                }
                Record::Forward {
                    asset,
                    expiry_s,
                    forward,
                    rate,
                } if asset == *underlying => {
                    if v.forwards[..v.n_forwards]
                        .iter()
                        .any(|f| f.expiry_s == expiry_s)
                    {
                        return Err(dup("one forward per expiry"));
                    }
                    if forward <= 0 {
                        return Err(Rejection::new(
                            "market.leaves.record",
                            Reason::Invalid("forward > 0"),
                        ));
                    }
                    v.forwards[v.n_forwards] = ForwardV {
                        expiry_s,
                        forward,
                        rate,
                    };
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
        self.slices[..self.n_slices]
            .iter()
            .find(|s| s.index == index)
    }

    pub(crate) fn forward_rec(&self, expiry_s: i64) -> Result<ForwardV, Rejection> {
        self.forwards[..self.n_forwards]
            .iter()
            .find(|f| f.expiry_s == expiry_s)
            .copied()
            .ok_or(Rejection::new(
                "market.leaves (forward)",
                Reason::MissingLeaf,
            ))
    }

    fn forward(&self, expiry_s: i64) -> Result<i128, Rejection> {
        self.forward_rec(expiry_s).map(|f| f.forward)
    }
}

/// The underlyings an account is exposed to, sorted by name (at most [`MAX_WITNESSES`]).
#[derive(Debug, Clone, Copy)]
pub struct Exposure {
    /// Names.
    pub names: [[u8; 16]; MAX_WITNESSES],
    /// How many of `names` are used.
    pub n: usize,
}

impl Exposure {
    fn add(&mut self, u: [u8; 16]) -> Result<(), Rejection> {
        if self.names[..self.n].contains(&u) {
            return Ok(());
        }
        if self.n == MAX_WITNESSES {
            return Err(Rejection::new(
                "account.record (underlyings)",
                Reason::TooMany {
                    max: MAX_WITNESSES as u16,
                },
            ));
        }
        let at = self.names[..self.n].partition_point(|x| *x < u);
        self.names.copy_within(at..self.n, at + 1);
        self.names[at] = u;
        self.n += 1;
        Ok(())
    }

    /// The names.
    pub fn as_slice(&self) -> &[[u8; 16]] {
        &self.names[..self.n]
    }

    /// The underlyings of the account's positions, and with `moving` those its collateral moves
    /// with (except `skip`, the cash asset under `pm`).
    pub fn of(
        market: &Market<'_>,
        acct: &AccountRec<'_>,
        moving: bool,
        skip: Option<&[u8; 16]>,
    ) -> Result<Exposure, Rejection> {
        let mut e = Exposure {
            names: [[0; 16]; MAX_WITNESSES],
            n: 0,
        };
        for p in positions(acct) {
            e.add(p.underlying)?;
        }
        if moving {
            for (asset, _) in collaterals(acct) {
                if skip == Some(asset) {
                    continue;
                }
                match market.collateral(asset) {
                    Some(c) => {
                        if let Some(u) = c.moves_with {
                            e.add(u)?;
                        }
                    }
                    // `pm` only: an unlisted asset named like an underlying moves with it.
                    None if skip.is_some() && market.header(asset).is_some() => e.add(*asset)?,
                    None => {}
                }
            }
        }
        Ok(e)
    }
}

pub(crate) fn positions<'x>(acct: &'x AccountRec<'_>) -> &'x [PositionRec] {
    &acct.positions[..acct.n_positions.min(MAX_POSITIONS)]
}

pub(crate) fn collaterals<'x>(acct: &'x AccountRec<'_>) -> &'x [([u8; 16], i128)] {
    &acct.collateral[..acct.n_collateral.min(MAX_COLLATERAL)]
}

/// Checks that the witnesses name exactly the underlyings the account is exposed to.
pub(crate) fn check_witnesses(w: &[Witness], exposed: &Exposure) -> Result<(), Rejection> {
    if w.len() != exposed.n
        || w.iter()
            .zip(exposed.as_slice())
            .any(|(a, b)| a.underlying != *b)
    {
        return Err(Rejection::new(
            "witness.underlying (one witness per underlying the account is exposed to: positions or collateral that moves with it)",
            Reason::Invalid("the account's underlyings, in increasing order"),
        ));
    }
    Ok(())
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
pub(crate) fn vol_at(
    c: &mut Ctx,
    mv: &MarketView,
    k: i128,
    expiry_years: i128,
) -> Result<i128, Rejection> {
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
    Err(Rejection::new(
        "market.leaves (SVI slice)",
        Reason::MissingLeaf,
    ))
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
    Err(Rejection::new(
        "market.leaves (reference ATM slice)",
        Reason::MissingLeaf,
    ))
}

/// What the verifier needs besides the records: policy, parameters (scale 1e18), time,
/// witnesses.
#[derive(Debug, Clone, Copy)]
pub struct Setup<'a> {
    /// Policy.
    pub policy: Policy,
    /// Parameters, scale 1e18.
    pub params: &'a [i128],
    /// Decision time, unix seconds.
    pub time_s: i64,
    /// One witness per exposed underlying (`ramm`, `pm`), in increasing name order.
    pub witnesses: &'a [Witness],
    /// `pm`: the scenarios the witnesses name (already proved against the scenario root).
    pub scenarios: &'a [ScenarioLeaf],
}

/// Converts parameters from the certificate's scale 1e9 to 1e18.
pub fn params_to_fixed(raw: &[i64], out: &mut [i128]) {
    for (o, p) in out.iter_mut().zip(raw) {
        *o = i128::from(*p) * (SCALE / i128::from(PARAM_SCALE));
    }
}

pub(crate) fn abs(x: i128) -> i128 {
    x.checked_abs().unwrap_or(i128::MAX)
}

/// Years from the certificate's time to `expiry_s` (ACT/365 in seconds), rejecting an expired
/// position.
pub(crate) fn years_to(
    c: &mut Ctx,
    s: &Setup<'_>,
    expiry_s: i64,
    i: usize,
) -> Result<(i128, i128), Rejection> {
    if expiry_s <= s.time_s {
        return Err(Rejection::at(
            "account.record.positions.expiry",
            i,
            Reason::Invalid("not expired at the certificate's time"),
        ));
    }
    let a = arith("account.record.positions.expiry");
    let secs = i128::from(expiry_s) - i128::from(s.time_s);
    let t = c.mul_int(secs, SCALE).map_err(&a)?;
    let t = c.div_int(t, SECONDS_PER_YEAR).map_err(&a)?;
    Ok((secs, t))
}

/// Value after haircuts of the account's collateral: (total, the part moving with each
/// exposed underlying, error budget). Every balance needs a committed price.
fn collateral_values(
    c: &mut Ctx,
    market: &Market<'_>,
    acct: &AccountRec<'_>,
    exposed: &Exposure,
) -> Result<(i128, [i128; MAX_WITNESSES], i128), Rejection> {
    let a = arith("account.record.collateral");
    let (mut total, mut moving, mut err) = (0i128, [0i128; MAX_WITNESSES], 0i128);
    for (i, (asset, amount)) in collaterals(acct).iter().enumerate() {
        let p = market.collateral(asset).ok_or(Rejection::at(
            "account.record.collateral (no committed price)",
            i,
            Reason::MissingLeaf,
        ))?;
        let v = c.mul(*amount, p.price).map_err(&a)?;
        let v = c.mul(v, p.factor).map_err(&a)?;
        total = c.add(total, v).map_err(&a)?;
        err += 3;
        if let Some(u) = p.moves_with {
            if let Some(k) = exposed.as_slice().iter().position(|x| *x == u) {
                moving[k] = c.add(moving[k], v).map_err(&a)?;
            }
        }
    }
    Ok((total, moving, err))
}

/// A position priced at base.
#[derive(Debug, Clone, Copy, Default)]
struct BaseLeg {
    is_option: bool,
    size: i128,
    strike: i128,
    forward: i128,
    /// Mark per unit.
    mark: i128,
    /// Dollar delta per unit.
    delta_dollar: i128,
    /// Options: Γ_F per unit (for the delta's error budget) and the discount factor.
    gamma: i128,
    discount: i128,
}

/// The base pass of one underlying's positions: their value, marks, forwards.
#[derive(Debug, Clone)]
pub struct Base {
    legs: [BaseLeg; MAX_POSITIONS],
    n: usize,
    /// The positions' value at base (collateral excluded).
    pub equity: i128,
    /// Error budget of the equity.
    pub equity_err: i128,
    spot: i128,
}

/// Values the positions on `u` at base (marks, option deltas: the engine's base pass).
pub fn base_pass(
    c: &mut Ctx,
    s: &Setup<'_>,
    mv: &MarketView,
    acct: &AccountRec<'_>,
    u: &[u8; 16],
) -> Result<Base, Rejection> {
    let a = arith("equity");
    let mut base = Base {
        legs: [BaseLeg::default(); MAX_POSITIONS],
        n: 0,
        equity: 0,
        equity_err: 0,
        spot: mv.spot,
    };
    for (i, pos) in positions(acct).iter().enumerate() {
        if pos.underlying != *u {
            continue;
        }
        let mut leg = BaseLeg {
            size: pos.size,
            ..BaseLeg::default()
        };
        let (mark, pnl_style) = match pos.kind {
            kind::SPOT => (mv.spot, false),
            kind::PERPETUAL => (mv.perp_price.unwrap_or(mv.spot), true),
            _ => {
                let (_, t) = years_to(c, s, pos.expiry_s, i)?;
                let f = mv.forward(pos.expiry_s)?;
                if pos.kind == kind::FUTURE {
                    (f, true)
                } else {
                    let rt = c.mul(mv.rate, t).map_err(&a)?;
                    let d = c.exp(-rt).map_err(&a)?;
                    let ratio = c.div(pos.strike, f).map_err(&a)?;
                    let k = c.ln(ratio).map_err(&a)?;
                    let vol = vol_at(c, mv, k, t)?;
                    leg.is_option = true;
                    leg.strike = pos.strike;
                    leg.forward = f;
                    let v = c
                        .black76(
                            &OptionInputs {
                                call: pos.kind == kind::CALL,
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
                    leg.gamma = v.gamma;
                    leg.discount = d;
                    let e = c
                        .mul(abs(pos.size), f.saturating_add(pos.strike))
                        .map_err(&a)?;
                    base.equity_err = base
                        .equity_err
                        .saturating_add(c.mul(e, ERR_PRICE_REL).map_err(&a)?);
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
        base.legs[base.n] = leg;
        base.n += 1;
    }
    base.equity_err += SLACK;
    Ok(base)
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

pub(crate) fn p(s: &Setup<'_>, i: usize) -> i128 {
    s.params.get(i).copied().unwrap_or(0)
}

/// Rebuilds the ramm grid: σ_ref = max(ATM vol of the reference slice, realised vol),
/// R = clamp(z·σ_ref·√(T_scan), R_min, R_max).
pub fn ramm_grid(c: &mut Ctx, s: &Setup<'_>, mv: &MarketView) -> Result<Grid, Rejection> {
    use ramm_param as rp;
    let a = arith("params");
    let steps_fx = p(s, rp::SPOT_STEPS);
    if steps_fx % SCALE != 0 {
        return Err(Rejection::new(
            "params",
            Reason::Invalid("spot_steps an integer"),
        ));
    }
    let steps = steps_fx / SCALE;
    if !(3..=MAX_SPOT_STEPS).contains(&steps) || steps % 2 == 0 {
        return Err(Rejection::new(
            "params",
            Reason::Invalid("spot_steps odd in 3..84"),
        ));
    }
    let atm = reference_atm_vol(c, mv, p(s, rp::ATM_MIN_DAYS))?;
    let sigma_ref = c.max(atm, mv.realized_vol.unwrap_or(0));
    let scan = c.div_int(p(s, rp::SCAN_DAYS), 365).map_err(&a)?;
    let sq = c.sqrt(scan).map_err(&a)?;
    let zs = c.mul(p(s, rp::Z_PRICE), sigma_ref).map_err(&a)?;
    let raw = c.mul(zs, sq).map_err(&a)?;
    let range = raw.clamp(
        p(s, rp::RANGE_MIN),
        p(s, rp::RANGE_MAX).max(p(s, rp::RANGE_MIN)),
    );
    Ok(Grid {
        sigma_ref,
        range,
        steps,
        n: (3 * steps + 2) as usize,
    })
}

/// Direction of a scenario's vol shock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Down (floored at σ_min).
    Down,
    /// No shock.
    None,
    /// Up.
    Up,
}

impl Dir {
    /// `down`, `none`, `up` (as ale-risk names them).
    pub fn name(self) -> &'static str {
        match self {
            Dir::Down => "down",
            Dir::None => "none",
            Dir::Up => "up",
        }
    }
}

struct Scen {
    spot_move: i128,
    dir: Dir,
    extreme: bool,
}

fn scenario(c: &mut Ctx, s: &Setup<'_>, g: &Grid, idx: usize) -> Result<Scen, Rejection> {
    use ramm_param as rp;
    let a = arith("witness.scenario");
    if idx >= g.n {
        return Err(Rejection::new("witness.scenario", Reason::NotInPolicy));
    }
    let max_down = -p(s, rp::MAX_DOWN_MOVE);
    let (step, dir, extreme) = grid_scenario(g.steps, idx)
        .ok_or(Rejection::new("witness.scenario", Reason::NotInPolicy))?;
    if !extreme {
        let half = g.steps / 2;
        let m = c.mul_int(g.range, step).map_err(&a)?;
        let m = c.div_int(m, half).map_err(&a)?;
        Ok(Scen {
            spot_move: m.max(max_down),
            dir,
            extreme: false,
        })
    } else {
        let ext = c.mul(p(s, rp::EXTREME_MULTIPLE), g.range).map_err(&a)?;
        let spot_move = if step < 0 { (-ext).max(max_down) } else { ext };
        Ok(Scen {
            spot_move,
            dir: Dir::None,
            extreme: true,
        })
    }
}

/// The scenario at `idx` of a grid of `steps` spot steps, in the engine's order (ale-risk
/// `RammGrid`): for each step i = 0..steps, vol none, up, down; then the extreme down and up
/// moves. Returns (signed step i − steps/2, or ∓1 for the extremes; vol; extreme).
pub fn grid_scenario(steps: i128, idx: usize) -> Option<(i128, Dir, bool)> {
    let n = usize::try_from(steps).ok()?;
    if idx < 3 * n {
        let dir = [Dir::None, Dir::Up, Dir::Down][idx % 3];
        Some(((idx / 3) as i128 - steps / 2, dir, false))
    } else if idx == 3 * n {
        Some((-1, Dir::None, true))
    } else if idx == 3 * n + 1 {
        Some((1, Dir::None, true))
    } else {
        None
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
            v.clamp(
                p(s, rp::VOL_UP_MIN),
                p(s, rp::VOL_UP_MAX).max(p(s, rp::VOL_UP_MIN)),
            )
        }
        _ => {
            let v = c.mul(p(s, rp::VOL_DOWN), scale)?;
            -v.clamp(
                p(s, rp::VOL_DOWN_MIN),
                p(s, rp::VOL_DOWN_MAX).max(p(s, rp::VOL_DOWN_MIN)),
            )
        }
    })
}

fn shocked_vol(
    c: &mut Ctx,
    s: &Setup<'_>,
    base: i128,
    dir: Dir,
    t: i128,
) -> Result<i128, MathError> {
    let shift = vol_shift(c, s, dir, t)?;
    let v = c.add(base, shift)?;
    Ok(match dir {
        Dir::Down => v.max(p(s, ramm_param::VOL_FLOOR)),
        _ => v,
    })
}

/// True when the exposure to `u` is of defined risk (the engine's cap applies): options only,
/// no moving collateral, and per expiry the calls net long or flat.
fn defined_risk(acct: &AccountRec<'_>, u: &[u8; 16], moving: i128) -> bool {
    let mut legs = positions(acct).iter().filter(|l| l.underlying == *u);
    if moving != 0
        || legs.clone().next().is_none()
        || legs.any(|l| l.kind != kind::CALL && l.kind != kind::PUT)
    {
        return false;
    }
    let mine = || positions(acct).iter().filter(|l| l.underlying == *u);
    mine().all(|l| {
        mine()
            .filter(|m| m.expiry_s == l.expiry_s && m.kind == kind::CALL)
            .fold(0i128, |acc, m| acc.saturating_add(m.size))
            >= 0
    })
}

/// What the verifier proves: liquidatable when `value` < `requirement` by more than `err`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// `static`, `oracle-adjusted`, `pm`: the equity. `ramm`: the account's value at the
    /// witnesses, equity − Σ_u loss_u(s*_u) (w·loss_u at a weighted extreme, stage 2).
    pub value: i128,
    /// `static`, `oracle-adjusted`: the maintenance margin. `ramm`: the charges at the
    /// witnesses, Σ_u gamma_u(g*_u) + horizon_u (g*_u the gamma witness, else s*_u; stage 1's
    /// horizon floor or stage 2's exact horizon), so that value < requirement ⟺ equity <
    /// Σ_u loss_u + gamma_u + horizon_u ≤ MM. `pm`: mm_factor·Σ_u max(0, −X_u) + C_MM ≤ MM,
    /// X_u the P&L of u's witness scenario (or its basis floor).
    pub requirement: i128,
    /// The accumulated error bound of both.
    pub err: i128,
    /// `ramm`: the stage that produced the claim (1: the witnesses alone; 2: with the base
    /// pass and the engine's horizon, see [`ramm_claim`]); 1 for the other policies.
    pub stage: u8,
}

/// One underlying's part of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Part {
    /// Its value at the witness (positions and moving collateral).
    pub value: i128,
    /// Its charges at the witness.
    pub requirement: i128,
    /// Their error budget.
    pub err: i128,
}

impl Part {
    /// requirement − value − err: how much this part proves.
    pub fn margin(&self) -> i128 {
        self.requirement
            .saturating_sub(self.value)
            .saturating_sub(self.err)
    }
}

const MAX_EXPIRIES: usize = MAX_POSITIONS;

/// The `ramm` claim at the certificate's witnesses, in up to two stages. Each exposed
/// underlying is re-priced under its own witness s*_u (a grid scenario, or under stage 2 a
/// weighted extreme):
///
/// value = collateral (the part moving with u × (1 + s_u)) + Σ options size·price(s*_u)
///       + Σ delta-one size·(mark·(1 + s_u) − entry)  (spot: size·S·(1 + s_u)),
///
/// so that value = equity − Σ_u loss_u(s*_u) exactly.
///
/// - Stage 1 (cheap: the witnesses' pricings only): requirement = Σ_u gamma_u(s*_u) (grid,
///   not defined risk) + horizon floor_u, where the floor is the slippage with each option at
///   its discounted intrinsic value (≤ its mark), plus the delta term z_h·σ_hist·
///   √T_auction·|Δ$| for an underlying without options (exact there).
/// - Stage 2, run only when stage 1 does not prove the decision (requirement − value ≤ its
///   error bound) or a witness is a weighted extreme: the base pass of every witness
///   underlying (marks and deltas, as the engine's), and the engine's own horizon,
///   z_h·σ_hist·√T_auction·|moving + Σ size·Δ$| + Σ |size|·|mark|·slippage
///   (`stage2_base`); a weighted extreme s_ext (weight w) counts w·loss(s_ext) =
///   w·(equity_u − value_u(s_ext)): its part's value is equity_u − w·(equity_u − value_u(s_ext))
///   (an extreme has no gamma of its own); a defined-risk exposure's gamma counts as
///   min(gamma, cap − loss), the cap computed from the base pass.
/// - A witness may name a gamma witness g*_u (format v3): a grid scenario, not s*_u, whose
///   gamma charge counts instead of s*_u's in either stage (the engine's gamma component is
///   the grid's maximum). It costs one more pricing of u's options.
///
/// Either way value < requirement proves equity < Σ_u (weighted) loss_u + gamma_u + horizon_u
/// ≤ Σ_u MM_u = MM (ale-risk `Ramm::margin`; `tail` is not counted: it is ≥ 0 and off by
/// default). The stage that ran is [`Claim::stage`]: deterministic given the certificate, so
/// the builder and the verifier agree on it.
pub fn ramm_claim(
    c: &mut Ctx,
    s: &Setup<'_>,
    market: &Market<'_>,
    acct: &AccountRec<'_>,
) -> Result<Claim, Rejection> {
    let exposed = Exposure::of(market, acct, true, None)?;
    check_witnesses(s.witnesses, &exposed)?;
    let (total, moving, coll_err) = collateral_values(c, market, acct, &exposed)?;
    let mut parts = [Part::default(); MAX_WITNESSES];
    let mut scored = [Scored::default(); MAX_WITNESSES];
    let mut grids = [None; MAX_WITNESSES];
    let mut any_extreme = false;
    for (k, w) in s.witnesses.iter().enumerate() {
        let mv = market.view(&w.underlying)?;
        let g = ramm_grid(c, s, &mv)?;
        let sc = scenario(c, s, &g, w.scenario as usize)?;
        any_extreme |= sc.extreme;
        scored[k] = ramm_underlying(c, s, &mv, &g, acct, &w.underlying, moving[k], &sc)?;
        if w.gamma != NO_SCENARIO {
            // The gamma witness g*: a grid scenario other than s*, whose gamma charge counts
            // instead (MM_u ≥ loss_u(s*) + gamma_u(g*) + horizon_u for any grid g*).
            let gs = scenario(c, s, &g, w.gamma as usize)
                .map_err(|r| Rejection::at("witness.gamma", k, r.reason))?;
            if gs.extreme || w.gamma == w.scenario {
                return Err(Rejection::at(
                    "witness.gamma",
                    k,
                    Reason::Invalid("a grid scenario (not an extreme) other than witness.scenario"),
                ));
            }
            let at_g = ramm_underlying(c, s, &mv, &g, acct, &w.underlying, moving[k], &gs)?;
            scored[k].gamma = at_g.gamma;
            scored[k].gamma_err = at_g.gamma_err;
        }
        parts[k] = stage1_part(c, &scored[k])?;
        grids[k] = Some(g);
    }
    let n = s.witnesses.len();
    if !any_extreme {
        let claim = combine(c, total, &moving[..n], coll_err, &parts[..n], 1)?;
        if claim.requirement.saturating_sub(claim.value) > claim.err {
            return Ok(claim);
        }
    }
    // Stage 2: the base pass of each witness underlying, the engine's horizon.
    for (k, w) in s.witnesses.iter().enumerate() {
        let mv = market.view(&w.underlying)?;
        let g = grids[k].ok_or(Rejection::new("witness", Reason::MissingLeaf))?;
        let b = stage2_base(c, s, &mv, &g, acct, &w.underlying, moving[k])?;
        parts[k] = stage2_part(c, s, &scored[k], &b)?;
    }
    combine(c, total, &moving[..n], coll_err, &parts[..n], 2)
}

/// The claim of the parts: value = collateral − the moving collateral (counted in each part,
/// moved) + Σ part values; requirement = Σ part requirements; the errors add.
fn combine(
    c: &mut Ctx,
    total: i128,
    moving: &[i128],
    coll_err: i128,
    parts: &[Part],
    stage: u8,
) -> Result<Claim, Rejection> {
    let a = arith("claimed_value (at witness.scenario)");
    let mut value = total;
    let mut requirement: i128 = 0;
    let mut err = coll_err;
    for (m, part) in moving.iter().zip(parts) {
        // The moving collateral is in `total` at base and in the part moved: count it once.
        value = c.sub(value, *m).map_err(&a)?;
        value = c.add(value, part.value).map_err(&a)?;
        requirement = c.add(requirement, part.requirement).map_err(&a)?;
        err = err.saturating_add(part.err);
    }
    Ok(Claim {
        value,
        requirement,
        err: err.saturating_add(SLACK),
        stage,
    })
}

/// One underlying's figures under its witness, apart, for stage 2 to reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Scored {
    /// Value at the scenario (positions and moving collateral).
    value: i128,
    /// Its error budget.
    value_err: i128,
    /// The gamma charge at the scenario (0 for an extreme or a defined-risk exposure).
    gamma: i128,
    /// Its error budget.
    gamma_err: i128,
    /// Stage 1's horizon floor (slippage with options at discounted intrinsic value, the
    /// delta term without options) and its error budget.
    floor: i128,
    floor_err: i128,
    /// The scenario is a weighted extreme.
    extreme: bool,
    /// The exposure is of defined risk (the engine caps price + vega + gamma at its maximum
    /// loss).
    defined_risk: bool,
}

/// Stage 2's figures of one underlying at base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stage2Base {
    /// The positions' value at base plus the moving collateral: equity_u.
    pub equity: i128,
    /// Its error budget.
    pub equity_err: i128,
    /// The engine's horizon: z_h·σ_hist·√T_auction·|moving + Σ size·Δ$| + Σ |size|·|mark|·
    /// slippage.
    pub horizon: i128,
    /// Its error budget.
    pub horizon_err: i128,
    /// A defined-risk exposure (options only, no moving collateral, calls net long or flat
    /// per expiry): the engine's cap on price + vega + gamma, its largest possible loss
    /// (value now − Σ_expiry D·least payoff), and the cap's error budget.
    pub cap: Option<(i128, i128)>,
}

/// Per unit of an option's delta, the error budget of the integer delta D·N(d1) (or
/// D·(N(d1) − 1)): `ERR_DELTA`·(1 + φ(d1)/(σ√T)), where φ(d1)/(σ√T) = Γ_F·F/D is read from
/// the gamma the base pass computes anyway. Composition (docs/verify.md, "Error budget"):
/// δΔ ≤ δD + δN + D·φ(d1)·δd1, with δD ≤ 1e-16 (exp), δN ≤ 5e-17 (N), and δd1 ≤
/// (δln(F/K) + δ(σ²T)/2)/(σ√T) + |d1|·δ(σ√T)/(σ√T), δln ≤ 1e-16 + 1e-18·K/F (ln, and the
/// truncated ratio), the vol to a few ulp relative (SVI, sqrt); φ(x)·|x| ≤ 0.25: so δΔ ≤
/// 3e-16 + 2e-16·φ(d1)/(σ√T) for K/F ≤ 100, and 1e-13 is a 300× margin (as `ERR_PRICE_REL`
/// is 100× the price bound), valid for K/F and F/K up to 1e4.
pub const ERR_DELTA: i128 = 100_000; // 1e-13

/// Stage 2's base figures of underlying `u`: its base pass (the engine's marks and deltas) and
/// the engine's horizon, with their error budgets.
#[allow(clippy::too_many_arguments)]
pub(crate) fn stage2_base(
    c: &mut Ctx,
    s: &Setup<'_>,
    mv: &MarketView,
    g: &Grid,
    acct: &AccountRec<'_>,
    u: &[u8; 16],
    moving: i128,
) -> Result<Stage2Base, Rejection> {
    use ramm_param as rp;
    let a = arith("claimed_requirement (stage 2: horizon at base)");
    let b = base_pass(c, s, mv, acct, u)?;
    let mut dd = moving;
    let mut dd_err: i128 = 0;
    let mut slippage: i128 = 0;
    let mut max_rate = ONE;
    for leg in &b.legs[..b.n] {
        let t = c.mul(leg.size, leg.delta_dollar).map_err(&a)?;
        dd = c.add(dd, t).map_err(&a)?;
        let rate = if leg.is_option {
            p(s, rp::SLIPPAGE_OPTION)
        } else {
            p(s, rp::SLIPPAGE_DELTA_ONE)
        };
        max_rate = max_rate.max(rate);
        let notional = c.mul(abs(leg.size), abs(leg.mark)).map_err(&a)?;
        let sl = c.mul(notional, rate).map_err(&a)?;
        slippage = c.add(slippage, sl).map_err(&a)?;
        if leg.is_option {
            // φ(d1)/(σ√T) = Γ_F·F/D.
            let gf = c.mul(leg.gamma, leg.forward).map_err(&a)?;
            let curv = if leg.discount > 0 {
                c.div(gf, leg.discount).map_err(&a)?
            } else {
                0
            };
            let per = c
                .mul(ONE.saturating_add(abs(curv)), ERR_DELTA)
                .map_err(&a)?;
            let sf = c.mul(abs(leg.size), leg.forward).map_err(&a)?;
            dd_err = dd_err.saturating_add(c.mul(sf, per).map_err(&a)?);
        }
        dd_err = dd_err.saturating_add(SLACK);
    }
    let sigma_hist = mv.realized_vol.unwrap_or(g.sigma_ref);
    let auction = c
        .div_int(p(s, rp::AUCTION_MINUTES), 365 * 24 * 60)
        .map_err(&a)?;
    let sa = c.sqrt(auction).map_err(&a)?;
    let h1 = c.mul(p(s, rp::Z_HORIZON), sigma_hist).map_err(&a)?;
    let kh = c.mul(h1, sa).map_err(&a)?;
    let delta_term = c.mul(kh, abs(dd)).map_err(&a)?;
    let horizon = c.add(slippage, delta_term).map_err(&a)?;
    // Errors: kh·δ|Δ$| (kh's own rounding, relative ~1e-17, is inside horizon·ERR_PRICE_REL),
    // the marks' (the base pass's pricing budget × the slippage rate), the operations.
    let e_dd = c.mul(kh, dd_err).map_err(&a)?;
    let e_marks = c.mul(b.equity_err, max_rate).map_err(&a)?;
    let e_rel = c.mul(horizon, ERR_PRICE_REL).map_err(&a)?;
    let horizon_err = e_dd
        .saturating_add(e_marks)
        .saturating_add(e_rel)
        .saturating_add(c.mul(abs(dd), SLACK).map_err(&a)?)
        .saturating_add(SLACK);
    let equity = c.add(b.equity, moving).map_err(&arith("equity"))?;
    let cap = if defined_risk(acct, u, moving) {
        Some(defined_risk_cap(c, acct, u, &b)?)
    } else {
        None
    };
    Ok(Stage2Base {
        equity,
        equity_err: b.equity_err.saturating_add(SLACK),
        horizon,
        horizon_err,
        cap,
    })
}

/// The engine's cap of a defined-risk exposure to `u` (ale-risk `defined_risk_cap`): its
/// value at base minus, per expiry, the discounted least value of its payoff over every
/// terminal price — a piecewise linear function with kinks at the strikes and a slope ≥ 0
/// beyond the last one (calls net long or flat), so its least value is at 0 or at a strike.
/// O(m²) per expiry of m options (at most `MAX_POSITIONS`²).
fn defined_risk_cap(
    c: &mut Ctx,
    acct: &AccountRec<'_>,
    u: &[u8; 16],
    b: &Base,
) -> Result<(i128, i128), Rejection> {
    let a = arith("claimed_requirement (stage 2: defined-risk cap)");
    let mine = || positions(acct).iter().filter(|l| l.underlying == *u);
    let payoff = |c: &mut Ctx, expiry: i64, at: i128| -> Result<i128, Rejection> {
        let mut sum: i128 = 0;
        for l in mine().filter(|l| l.expiry_s == expiry) {
            let intrinsic = if l.kind == kind::CALL {
                (at - l.strike).max(0)
            } else {
                (l.strike - at).max(0)
            };
            let t = c.mul(l.size, intrinsic).map_err(&a)?;
            sum = c.add(sum, t).map_err(&a)?;
        }
        Ok(sum)
    };
    let mut floor: i128 = 0;
    let mut err: i128 = b.equity_err;
    for (i, (l, leg)) in mine().zip(&b.legs[..b.n]).enumerate() {
        // Once per expiry: at its first position.
        if mine().take(i).any(|x| x.expiry_s == l.expiry_s) {
            continue;
        }
        let mut least = payoff(c, l.expiry_s, 0)?;
        for k in mine().filter(|x| x.expiry_s == l.expiry_s) {
            let v = payoff(c, l.expiry_s, k.strike)?;
            least = c.min(least, v);
        }
        let d = c.mul(leg.discount, least).map_err(&a)?;
        floor = c.add(floor, d).map_err(&a)?;
        // The discount's error (exp, relative 1e-16) on the least payoff, the operations.
        err = err
            .saturating_add(c.mul(abs(least), ERR_PRICE_REL).map_err(&a)?)
            .saturating_add(SLACK);
    }
    let cap = c.sub(b.equity, floor).map_err(&a)?;
    Ok((cap, err.saturating_add(SLACK)))
}

/// Stage 2's part of one underlying: at a grid witness, its value with gamma(s*) + the
/// engine's horizon; at a weighted extreme (weight w), the value equity_u − w·(equity_u −
/// value_u(s_ext)) with the horizon alone.
fn stage2_part(c: &mut Ctx, s: &Setup<'_>, sc: &Scored, b: &Stage2Base) -> Result<Part, Rejection> {
    let a = arith("claimed_value (stage 2, at witness.scenario)");
    let (value, value_err) = if sc.extreme {
        let w = p(s, ramm_param::EXTREME_WEIGHT);
        if w < 0 {
            return Err(Rejection::new(
                "params",
                Reason::Invalid("extreme_weight >= 0"),
            ));
        }
        // Under the defined-risk cap, price + vega ≥ min(w·loss, cap) ≥ min(w, 1)·loss (the
        // loss at any scenario is at most the cap).
        let w = if sc.defined_risk { w.min(ONE) } else { w };
        let loss = c.sub(b.equity, sc.value).map_err(&a)?;
        let wl = c.mul(w, loss).map_err(&a)?;
        let v = c.sub(b.equity, wl).map_err(&a)?;
        let e = sc.value_err.saturating_add(b.equity_err);
        let e = c.mul(e, w.max(ONE)).map_err(&a)?;
        (v, e.saturating_add(3 * SLACK))
    } else {
        (sc.value, sc.value_err)
    };
    // Under the defined-risk cap: price + vega + gamma ≥ min(loss + gamma, cap) for the
    // (weighted) loss counted, so the gamma charge is min(gamma, cap − loss) (negative when
    // loss > cap: the bound is then cap itself).
    let (gamma, gamma_err) = match b.cap {
        Some((cap, cap_err)) => {
            let loss = c.sub(b.equity, value).map_err(&a)?;
            let room = c.sub(cap, loss).map_err(&a)?;
            let err = sc
                .gamma_err
                .saturating_add(cap_err)
                .saturating_add(value_err)
                .saturating_add(b.equity_err);
            (c.min(sc.gamma, room), err)
        }
        None => (sc.gamma, sc.gamma_err),
    };
    let requirement = c.add(gamma, b.horizon).map_err(&a)?;
    Ok(Part {
        value,
        requirement,
        err: value_err
            .saturating_add(gamma_err)
            .saturating_add(b.horizon_err)
            .saturating_add(SLACK),
    })
}

/// One underlying's part of the `ramm` claim under scenario `sc`.
#[allow(clippy::too_many_arguments)]
fn ramm_underlying(
    c: &mut Ctx,
    s: &Setup<'_>,
    mv: &MarketView,
    g: &Grid,
    acct: &AccountRec<'_>,
    u: &[u8; 16],
    moving: i128,
    sc: &Scen,
) -> Result<Scored, Rejection> {
    use ramm_param as rp;
    let a = arith("claimed_value (at witness.scenario)");
    let factor = c.add(ONE, sc.spot_move).map_err(&a)?;
    let mut value = c.mul(moving, factor).map_err(&a)?;
    // The value's error budget (pricings, operations) and the gamma charge's, apart: stage 2
    // keeps both and replaces the horizon floor.
    let mut err: i128 = 0;
    let mut gamma_err: i128 = 0;
    // A defined-risk exposure's gamma charge is computed too, but only stage 2 counts it
    // (capped: see `stage2_part`).
    let defined = defined_risk(acct, u, moving);
    let want_gamma = !sc.extreme;
    let mut gamma_sum: i128 = 0;
    let mut slippage: i128 = 0;
    let mut delta_dollar = moving;
    let mut has_option = false;
    // Per expiry: (expiry, T, √T, discount).
    let mut cache = [(0i64, 0i128, 0i128, 0i128); MAX_EXPIRIES];
    let mut n_cache = 0usize;
    for (i, pos) in positions(acct).iter().enumerate() {
        if pos.underlying != *u {
            continue;
        }
        let is_option = pos.kind == kind::CALL || pos.kind == kind::PUT;
        if pos.kind != kind::SPOT && pos.kind != kind::PERPETUAL && pos.expiry_s <= s.time_s {
            return Err(Rejection::at(
                "account.record.positions.expiry",
                i,
                Reason::Invalid("not expired at the certificate's time"),
            ));
        }
        let leg_value = if is_option {
            has_option = true;
            let f = mv.forward(pos.expiry_s)?;
            let (t, sqrt_t, d) = match cache[..n_cache].iter().find(|e| e.0 == pos.expiry_s) {
                Some(e) => (e.1, e.2, e.3),
                None => {
                    let (_, t) = years_to(c, s, pos.expiry_s, i)?;
                    let rt = c.mul(mv.rate, t).map_err(&a)?;
                    let d = c.exp(-rt).map_err(&a)?;
                    let sqrt_t = c.sqrt(t).map_err(&a)?;
                    if n_cache < MAX_EXPIRIES {
                        cache[n_cache] = (pos.expiry_s, t, sqrt_t, d);
                        n_cache += 1;
                    }
                    (t, sqrt_t, d)
                }
            };
            let f_s = c.mul(f, factor).map_err(&a)?;
            let ratio = c.div(pos.strike, f_s).map_err(&a)?;
            let k = c.ln(ratio).map_err(&a)?;
            let v0 = vol_at(c, mv, k, t)?;
            let vol = shocked_vol(c, s, v0, sc.dir, t).map_err(&a)?;
            let call = pos.kind == kind::CALL;
            let v = c
                .black76_pre(
                    &OptionInputs {
                        call,
                        forward: f_s,
                        strike: pos.strike,
                        expiry_years: t,
                        vol,
                        discount: d,
                    },
                    sqrt_t,
                    -k,
                    want_gamma,
                )
                .map_err(&a)?;
            if want_gamma {
                // Spot gamma: Γ_F·(F/S)².
                let carry = c.div(f, mv.spot).map_err(&a)?;
                let c2 = c.mul(carry, carry).map_err(&a)?;
                let gs = c.mul(v.gamma, c2).map_err(&a)?;
                let t = c.mul(pos.size, gs).map_err(&a)?;
                gamma_sum = c.add(gamma_sum, t).map_err(&a)?;
            }
            // Slippage floor: the mark is at least the discounted intrinsic value.
            let intrinsic = if call {
                (f - pos.strike).max(0)
            } else {
                (pos.strike - f).max(0)
            };
            let floor = c.mul(d, intrinsic).map_err(&a)?;
            let notional = c.mul(abs(pos.size), floor).map_err(&a)?;
            let sl = c.mul(notional, p(s, rp::SLIPPAGE_OPTION)).map_err(&a)?;
            slippage = c.add(slippage, sl).map_err(&a)?;
            let fk = f_s.saturating_add(pos.strike);
            let e = c.mul(abs(pos.size), fk).map_err(&a)?;
            err = err.saturating_add(c.mul(e, ERR_PRICE_REL).map_err(&a)?);
            c.mul(pos.size, v.price).map_err(&a)?
        } else {
            let mark = match pos.kind {
                kind::SPOT => mv.spot,
                kind::PERPETUAL => mv.perp_price.unwrap_or(mv.spot),
                _ => mv.forward(pos.expiry_s)?,
            };
            let mark_s = c.mul(mark, factor).map_err(&a)?;
            let dd = c.mul(pos.size, mark).map_err(&a)?;
            delta_dollar = c.add(delta_dollar, dd).map_err(&a)?;
            let notional = c.mul(abs(pos.size), abs(mark)).map_err(&a)?;
            let sl = c.mul(notional, p(s, rp::SLIPPAGE_DELTA_ONE)).map_err(&a)?;
            slippage = c.add(slippage, sl).map_err(&a)?;
            if pos.kind == kind::SPOT {
                c.mul(pos.size, mark_s).map_err(&a)?
            } else {
                let entry = pos.entry_price.unwrap_or(mark);
                let d = c.sub(mark_s, entry).map_err(&a)?;
                c.mul(pos.size, d).map_err(&a)?
            }
        };
        value = c.add(value, leg_value).map_err(&a)?;
        err = err.saturating_add(SLACK);
    }
    // gamma: ½·(z_h·σ_s·√h·S_s)²·max(−Γ, 0), σ_s = σ_ref shocked at T_ref.
    let gamma_part = if want_gamma && gamma_sum < 0 {
        let t_ref = c.div_int(p(s, rp::VOL_REF_DAYS), 365).map_err(&a)?;
        let sigma = shocked_vol(c, s, g.sigma_ref, sc.dir, t_ref).map_err(&a)?;
        let h = c
            .div_int(p(s, rp::GAMMA_HORIZON_HOURS), 365 * 24)
            .map_err(&a)?;
        let sh = c.sqrt(h).map_err(&a)?;
        let s_s = c.mul(mv.spot, factor).map_err(&a)?;
        let m1 = c.mul(p(s, rp::Z_HORIZON), sigma).map_err(&a)?;
        let m2 = c.mul(m1, sh).map_err(&a)?;
        let m3 = c.mul(m2, s_s).map_err(&a)?;
        let sq = c.mul(m3, m3).map_err(&a)?;
        let short_gamma = gamma_sum.checked_neg().ok_or(Rejection::new(
            "claimed_requirement",
            Reason::Arithmetic(MathError::Overflow),
        ))?;
        let gm = c.mul(sq / 2, short_gamma).map_err(&a)?;
        gamma_err = c.mul(gm, ERR_GAMMA_REL).map_err(&a)?;
        gm
    } else {
        0
    };
    let value_err = err;
    let mut err: i128 = 0;
    // horizon floor: slippage (options at intrinsic), and the delta term when exact.
    let mut horizon = slippage;
    if !has_option {
        let sigma_hist = mv.realized_vol.unwrap_or(g.sigma_ref);
        let auction = c
            .div_int(p(s, rp::AUCTION_MINUTES), 365 * 24 * 60)
            .map_err(&a)?;
        let sa = c.sqrt(auction).map_err(&a)?;
        let h1 = c.mul(p(s, rp::Z_HORIZON), sigma_hist).map_err(&a)?;
        let h2 = c.mul(h1, sa).map_err(&a)?;
        let h3 = c.mul(h2, abs(delta_dollar)).map_err(&a)?;
        horizon = c.add(horizon, h3).map_err(&a)?;
        err = err.saturating_add(c.mul(abs(delta_dollar), SLACK).map_err(&a)?);
    }
    err = err.saturating_add(c.mul(horizon, ERR_PRICE_REL).map_err(&a)?);
    Ok(Scored {
        value,
        value_err,
        gamma: gamma_part,
        gamma_err,
        floor: horizon,
        floor_err: err,
        extreme: sc.extreme,
        defined_risk: defined,
    })
}

/// Stage 1's part of one underlying: its value at the witness against its gamma charge and
/// the horizon floor.
///
/// A defined-risk exposure has no gamma charge here: the engine caps price + vega + gamma at
/// its maximum loss, which bounds loss(s*) but not loss(s*) + gamma.
fn stage1_part(c: &mut Ctx, sc: &Scored) -> Result<Part, Rejection> {
    let (gamma, gamma_err) = if sc.defined_risk {
        (0, 0)
    } else {
        (sc.gamma, sc.gamma_err)
    };
    let requirement = c
        .add(gamma, sc.floor)
        .map_err(&arith("claimed_value (at witness.scenario)"))?;
    Ok(Part {
        value: sc.value,
        requirement,
        err: sc
            .value_err
            .saturating_add(gamma_err)
            .saturating_add(sc.floor_err)
            .saturating_add(SLACK),
    })
}

/// The `static` / `oracle-adjusted` requirement of one underlying's positions at rate `m`.
fn static_requirement(c: &mut Ctx, b: &Base, m: i128) -> Result<(i128, i128), Rejection> {
    let a = arith("claimed_requirement");
    let ms = c.mul(m, b.spot).map_err(&a)?;
    let mut total: i128 = 0;
    let mut err: i128 = SLACK;
    for leg in &b.legs[..b.n] {
        let t = if leg.is_option {
            if leg.size >= 0 {
                continue;
            }
            let per = c.add(leg.mark, ms).map_err(&a)?;
            let e = c
                .mul(abs(leg.size), leg.forward.saturating_add(leg.strike))
                .map_err(&a)?;
            err = err.saturating_add(c.mul(e, ERR_PRICE_REL).map_err(&a)?);
            c.mul(abs(leg.size), per).map_err(&a)?
        } else {
            c.mul(abs(leg.size), ms).map_err(&a)?
        };
        total = c.add(total, t).map_err(&a)?;
        err = err.saturating_add(SLACK);
    }
    Ok((total, err))
}

/// The claim of a static policy (`static` or `oracle-adjusted`): equity and the requirement,
/// summed over the underlyings of the positions (the rate of `oracle-adjusted` scaled by each
/// underlying's own ATM vol).
pub fn static_claim(
    c: &mut Ctx,
    s: &Setup<'_>,
    market: &Market<'_>,
    acct: &AccountRec<'_>,
) -> Result<Claim, Rejection> {
    let a = arith("params");
    let exposed = Exposure::of(market, acct, false, None)?;
    let (mut equity, _, mut err) = collateral_values(c, market, acct, &exposed)?;
    let mut requirement: i128 = 0;
    for u in exposed.as_slice() {
        let mv = market.view(u)?;
        let b = base_pass(c, s, &mv, acct, u)?;
        let m = match s.policy {
            Policy::Static => p(s, oa_param::MM_RATE),
            Policy::OracleAdjusted => {
                let atm = reference_atm_vol(c, &mv, p(s, oa_param::ATM_MIN_DAYS))?;
                let ratio = c.div(atm, p(s, oa_param::VOL_BASE)).map_err(&a)?;
                let f_max = p(s, oa_param::FACTOR_MAX).max(ONE);
                let f = ratio.clamp(ONE, f_max);
                c.mul(p(s, oa_param::MM_RATE), f).map_err(&a)?
            }
            _ => return Err(Rejection::new("policy", Reason::Invalid("a static policy"))),
        };
        let (req, e) = static_requirement(c, &b, m)?;
        equity = c.add(equity, b.equity).map_err(&arith("equity"))?;
        requirement = c.add(requirement, req).map_err(&a)?;
        err = err.saturating_add(e).saturating_add(b.equity_err);
    }
    Ok(Claim {
        value: equity,
        requirement,
        err: err.saturating_add(SLACK),
        stage: 1,
    })
}

/// The claim at the certificate's witnesses.
pub fn evaluate(
    c: &mut Ctx,
    s: &Setup<'_>,
    market: &Market<'_>,
    acct: &AccountRec<'_>,
) -> Result<Claim, Rejection> {
    match s.policy {
        Policy::Ramm => ramm_claim(c, s, market, acct),
        Policy::Static | Policy::OracleAdjusted => {
            if !s.witnesses.is_empty() {
                return Err(Rejection::new("witness", Reason::NotInPolicy));
            }
            static_claim(c, s, market, acct)
        }
        Policy::Pm => crate::pm::pm_claim(c, s, market, acct),
    }
}

/// The best witnesses found by trying every scenario of every exposed underlying.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    /// One per exposed underlying, in increasing name order.
    pub witnesses: [Witness; MAX_WITNESSES],
    /// How many of `witnesses` are used.
    pub n: usize,
}

impl Search {
    /// The witnesses.
    pub fn as_slice(&self) -> &[Witness] {
        &self.witnesses[..self.n]
    }
}

/// The whole `ramm` grid of every exposed underlying in the verifier's arithmetic, as the
/// engine computes it for the account: marks, deltas and the horizon at base, then every
/// scenario (extremes included) fully re-priced with gamma. Returns, per underlying, the
/// witness with the largest requirement − value − error (the parts add, so the best per
/// underlying is the best overall), from the cheapest certificate that proves the decision:
///
/// 1. the best grid scenario under stage 1, when stage 1 proves the decision there;
/// 2. else the best scenario under stage 2 (extremes included; see [`ramm_claim`]), when
///    stage 2 proves it there;
/// 3. else the best scenario under stage 2 with, where it adds to the charge, the grid's
///    worst gamma scenario as the gamma witness (format v3; the engine's gamma component is
///    the maximum over the grid, so MM_u ≥ loss_u(s*) + gamma_u(g*) + horizon_u).
///
/// The gas spent is the engine's work in the verifier's unit (the choice between the
/// candidates is not counted). `verify` never calls it; the certificate builder does, to
/// choose the witnesses.
pub fn ramm_full_grid(
    c: &mut Ctx,
    s: &Setup<'_>,
    market: &Market<'_>,
    acct: &AccountRec<'_>,
) -> Result<Search, Rejection> {
    let exposed = Exposure::of(market, acct, true, None)?;
    let (total, moving, coll_err) = collateral_values(c, market, acct, &exposed)?;
    let mut out = Search {
        witnesses: [Witness::new([0; 16], 0); MAX_WITNESSES],
        n: exposed.n,
    };
    let n = exposed.n;
    // Per underlying: the best witness and its part under stage 1, under stage 2, and under
    // stage 2 with the worst gamma scenario (and that scenario).
    let mut best1 = [(0usize, Part::default()); MAX_WITNESSES];
    let mut best2 = [(0usize, Part::default()); MAX_WITNESSES];
    let mut best3 = [(0usize, NO_SCENARIO, Part::default()); MAX_WITNESSES];
    // The choice is the builder's, not the engine's work: its arithmetic is not counted.
    let mut scratch = Ctx::new();
    let mut all = [Scored::default(); 3 * MAX_SPOT_STEPS as usize + 2];
    for (k, u) in exposed.as_slice().iter().enumerate() {
        let mv = market.view(u)?;
        let g = ramm_grid(c, s, &mv)?;
        let base = stage2_base(c, s, &mv, &g, acct, u, moving[k])?;
        let mut b1: Option<(usize, Part)> = None;
        let mut b2: Option<(usize, Part)> = None;
        // The grid's worst gamma charge (the engine's gamma component).
        let mut worst_gamma: Option<(usize, i128, i128)> = None;
        for idx in 0..g.n.min(all.len()) {
            let sc = scenario(c, s, &g, idx)?;
            let scored = ramm_underlying(c, s, &mv, &g, acct, u, moving[k], &sc)?;
            all[idx] = scored;
            if !sc.extreme {
                let part = stage1_part(c, &scored)?;
                if b1.is_none_or(|(_, b)| part.margin() > b.margin()) {
                    b1 = Some((idx, part));
                }
                if worst_gamma.is_none_or(|(_, gm, _)| scored.gamma > gm) {
                    worst_gamma = Some((idx, scored.gamma, scored.gamma_err));
                }
            }
            if let Ok(p2) = stage2_part(&mut scratch, s, &scored, &base) {
                if b2.is_none_or(|(_, b)| p2.margin() > b.margin()) {
                    b2 = Some((idx, p2));
                }
            }
        }
        best1[k] = b1.ok_or(Rejection::new("witness.scenario", Reason::NotInPolicy))?;
        best2[k] = b2.unwrap_or(best1[k]);
        best3[k] = (best2[k].0, NO_SCENARIO, best2[k].1);
        if let Some((gi, gamma, gamma_err)) = worst_gamma {
            for (idx, scored) in all[..g.n.min(all.len())].iter().enumerate() {
                if idx == gi || gamma <= scored.gamma {
                    continue;
                }
                let with = Scored {
                    gamma,
                    gamma_err,
                    ..*scored
                };
                if let Ok(p3) = stage2_part(&mut scratch, s, &with, &base) {
                    if p3.margin() > best3[k].2.margin() {
                        best3[k] = (idx, gi as u16, p3);
                    }
                }
            }
        }
    }
    let proves = |scratch: &mut Ctx, parts: &[Part], stage: u8| {
        combine(scratch, total, &moving[..n], coll_err, parts, stage)
            .is_ok_and(|cl| cl.requirement.saturating_sub(cl.value) > cl.err)
    };
    let mut parts = [Part::default(); MAX_WITNESSES];
    for (slot, (_, part)) in parts.iter_mut().zip(&best1[..n]) {
        *slot = *part;
    }
    let choice: [(usize, u16); MAX_WITNESSES] = if proves(&mut scratch, &parts[..n], 1) {
        core::array::from_fn(|k| (best1[k].0, NO_SCENARIO))
    } else {
        for (slot, (_, part)) in parts.iter_mut().zip(&best2[..n]) {
            *slot = *part;
        }
        if proves(&mut scratch, &parts[..n], 2) {
            core::array::from_fn(|k| (best2[k].0, NO_SCENARIO))
        } else {
            core::array::from_fn(|k| (best3[k].0, best3[k].1))
        }
    };
    for (k, u) in exposed.as_slice().iter().enumerate() {
        out.witnesses[k] = Witness {
            underlying: *u,
            scenario: choice[k].0 as u16,
            gamma: choice[k].1,
        };
    }
    Ok(out)
}
