//! `pm` (Derive's PMRM_2, pm.md) in fixed-point integers: a lower bound of the maintenance
//! margin at one witness per underlying.
//!
//! pm.md §5 and §9: per underlying u, W_u = min(B_u, PnL_u,1, …, PnL_u,n) ≤ 0, and
//!
//! ```text
//! MM = mm_factor·Σ_u (−W_u) + C_MM,      equity = cash + MtM_total
//! ```
//!
//! where C_MM = Σ_u (|q_u|·S_u·mm_perp_percent + Σ_e naked_e·S_u·mm_option_percent) +
//! Σ_c V_c·h_MM is a sum of per-position terms. For any scenario j of the venue's list,
//! W_u ≤ PnL_u,j, and W_u ≤ B_u; with W_u ≤ 0 as well, −W_u ≥ max(0, −X_u) for X_u either.
//! Since mm_factor ≥ 0,
//!
//! ```text
//! requirement = mm_factor·Σ_u max(0, −X_u) + C_MM ≤ MM
//! ```
//!
//! and `equity < requirement` proves MM_surplus < 0 (liquidatable). X_u needs each option of u
//! priced at its mark and once under the witness (twice for the basis floor): no other scenario,
//! no liquidation price. The witness scenario's (s, vol direction, d) is a leaf of the venue's
//! scenario list, proved against the list's root that the parameter hash covers.
//!
//! Mark vols come from the committed SVI slices (the surface's vol at each strike and expiry,
//! as the engine maps the files, pm.md §9); shocks are pm's own: multiplicative vol-up/down
//! with term scaling, static discounts on the shocked expiry value, skew tilts at the unshocked
//! forward, the forward frozen over the last 30 minutes. Confidences, the peg and the IM
//! add-ons enter IM only and are not read.
//!
//! Refused (a rejection naming the field): dated futures and short spot (pm has neither), a
//! collateral balance or spot position whose asset has a listed collateral price that the
//! certificate does not carry, a total vol σ√T above 10·√10 or a forward, shocked forward or
//! strike above 1e11 (outside the domain of the integer Black-76's stated bound: a scenario
//! there is not a witness, the builder takes another), and arithmetic overflow (e.g. a vol-shock
//! term weight (M/T)^p beyond e^46).

use crate::error::{Reason, Rejection};
use crate::eval::{
    abs, arith, check_witnesses, collaterals, p, positions, vol_at, years_to, Claim, Exposure,
    Market, MarketView, Setup, SLACK,
};
use crate::fixed::{Ctx, OptionInputs, ERR_PRICE_REL, ONE};
use crate::layout::{kind, AccountRec, ScenarioLeaf, Witness, BASIS, MAX_POSITIONS};

/// Number of `pm` parameters a certificate carries (those the maintenance bound reads).
pub const PM_PARAMS: usize = 27;

/// Indices of the `pm` parameters (scale 1e9 in the certificate; pm.md §6 names).
pub mod pm_param {
    /// vol_shock.vol_range_up.
    pub const VOL_RANGE_UP: usize = 0;
    /// vol_shock.vol_range_down.
    pub const VOL_RANGE_DOWN: usize = 1;
    /// vol_shock.short_term_power.
    pub const SHORT_TERM_POWER: usize = 2;
    /// vol_shock.long_term_power.
    pub const LONG_TERM_POWER: usize = 3;
    /// vol_shock.dte_floor_days.
    pub const DTE_FLOOR_DAYS: usize = 4;
    /// vol_shock.min_vol_up_shock.
    pub const MIN_VOL_UP_SHOCK: usize = 5;
    /// margin.mm_factor.
    pub const MM_FACTOR: usize = 6;
    /// margin.short_rate_mult_scale.
    pub const SHORT_RATE_MULT_SCALE: usize = 7;
    /// margin.long_rate_mult_scale.
    pub const LONG_RATE_MULT_SCALE: usize = 8;
    /// margin.short_rate_add_scale.
    pub const SHORT_RATE_ADD_SCALE: usize = 9;
    /// margin.long_rate_add_scale.
    pub const LONG_RATE_ADD_SCALE: usize = 10;
    /// margin.short_base_static_discount.
    pub const SHORT_BASE_STATIC_DISCOUNT: usize = 11;
    /// margin.long_base_static_discount.
    pub const LONG_BASE_STATIC_DISCOUNT: usize = 12;
    /// basis_contingency.scenario_spot_up.
    pub const SCENARIO_SPOT_UP: usize = 13;
    /// basis_contingency.scenario_spot_down.
    pub const SCENARIO_SPOT_DOWN: usize = 14;
    /// basis_contingency.add_factor.
    pub const BASIS_ADD_FACTOR: usize = 15;
    /// basis_contingency.mult_factor.
    pub const BASIS_MULT_FACTOR: usize = 16;
    /// other_contingency.mm_perp_percent.
    pub const MM_PERP_PERCENT: usize = 17;
    /// other_contingency.mm_option_percent.
    pub const MM_OPTION_PERCENT: usize = 18;
    /// skew_shock.linear_base_cap.
    pub const LINEAR_BASE_CAP: usize = 19;
    /// skew_shock.abs_base_cap.
    pub const ABS_BASE_CAP: usize = 20;
    /// skew_shock.linear_c_base.
    pub const LINEAR_C_BASE: usize = 21;
    /// skew_shock.abs_c_base.
    pub const ABS_C_BASE: usize = 22;
    /// skew_shock.min_k_star.
    pub const MIN_K_STAR: usize = 23;
    /// skew_shock.width_scale.
    pub const WIDTH_SCALE: usize = 24;
    /// skew_shock.vol_param_static.
    pub const VOL_PARAM_STATIC: usize = 25;
    /// skew_shock.vol_param_scale.
    pub const VOL_PARAM_SCALE: usize = 26;
}

/// Vol directions of a scenario leaf.
pub mod vol_code {
    /// Up (multiplicative, floored at min_vol_up_shock).
    pub const UP: u8 = 0;
    /// No vol shock.
    pub const NONE: u8 = 1;
    /// Down (multiplicative, floored at 0).
    pub const DOWN: u8 = 2;
    /// Linear skew tilt (at s = 1).
    pub const LINEAR: u8 = 3;
    /// Abs skew bend (at s = 1).
    pub const ABS: u8 = 4;
    /// Names, by code.
    pub const NAMES: [&str; 5] = ["Up", "None", "Down", "Linear", "Abs"];
}

/// Seconds of the 30-day reference month of the vol-shock term scaling.
const MONTH_S: i128 = 2_592_000;
/// Seconds before expiry during which the forward freezes linearly.
const FREEZE_S: i128 = 1_800;
/// Largest total vol σ√T of the integer Black-76 bound's domain (σ ≤ 10, T ≤ 10 y: Black-76
/// depends on σ and T only through σ√T, as the engine's own rescaling of large vols uses).
const TOTAL_VOL_DOMAIN: i128 = 31_622_776_601_683_793_319; // 10·√10
/// Largest forward, shocked forward or strike the bound is tested for.
const PRICE_DOMAIN: i128 = 100_000_000_000 * ONE;

/// What the witness of one underlying asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shock {
    /// A scenario of the list: (s, vol code, d).
    Scenario(ScenarioLeaf),
    /// The basis floor B_u.
    Basis,
}

/// One underlying's contribution.
#[derive(Debug, Clone, Copy, Default)]
struct PmPart {
    /// U_u + Σ_e MtM_e.
    mtm: i128,
    /// X_u: the witness scenario's P&L, or B_u.
    x: i128,
    /// Perp and option MM contingencies of u.
    c_mm: i128,
    /// Error budget of `mtm`.
    err_mtm: i128,
    /// Error budget of `x`.
    err_x: i128,
}

fn domain(i: usize, what: &'static str) -> Rejection {
    Rejection::at("account.record.positions", i, Reason::OutOfDomain(what))
}

/// The scenario a witness names, checked.
fn shock_of(s: &Setup<'_>, k: usize, w: &Witness) -> Result<Shock, Rejection> {
    if w.scenario == BASIS {
        return Ok(Shock::Basis);
    }
    let leaf = s
        .scenarios
        .iter()
        .find(|l| l.index == w.scenario)
        .copied()
        .ok_or(Rejection::at(
            "witness.scenario (not among witness_scenarios)",
            k,
            Reason::NotInPolicy,
        ))?;
    let skew = leaf.vol == vol_code::LINEAR || leaf.vol == vol_code::ABS;
    if leaf.vol > vol_code::ABS
        || leaf.spot_shock <= 0
        || leaf.dampening < 0
        || (skew && leaf.spot_shock != ONE)
    {
        return Err(Rejection::at(
            "witness_scenarios",
            k,
            Reason::Invalid("vol 0..4, spot_shock > 0, dampening >= 0, skew scenarios at s = 1"),
        ));
    }
    Ok(Shock::Scenario(leaf))
}

/// V = n·p/P: a collateral balance in stable-coin units, with its MM haircut and the exposed
/// underlying it moves with.
fn held_value(
    c: &mut Ctx,
    market: &Market<'_>,
    asset: &[u8; 16],
    amount: i128,
    stable_price: i128,
    field: &'static str,
    i: usize,
) -> Result<(i128, i128, Option<[u8; 16]>), Rejection> {
    let a = arith("account.record.collateral");
    if amount < 0 {
        return Err(Rejection::at(
            field,
            i,
            Reason::Invalid("pm: collateral and spot amounts >= 0"),
        ));
    }
    // The committed collateral price; or, for an asset named like an underlying whose header
    // says the snapshot lists no collateral price for it, spot with no haircut (as the engine
    // maps the files, pm.md §9). A listed price must be among the leaves.
    let (price, mm_haircut, moves_with) = match (market.collateral(asset), market.header(asset)) {
        (Some(rec), _) => (rec.price, rec.mm_haircut, rec.moves_with),
        (None, Some((spot, false))) => (spot, 0, Some(*asset)),
        _ => return Err(Rejection::at(field, i, Reason::MissingLeaf)),
    };
    let v = c.mul(amount, price).map_err(&a)?;
    let v = c.div(v, stable_price).map_err(&a)?;
    let h = c.mul(v, mm_haircut).map_err(&a)?;
    Ok((v, h, moves_with))
}

/// Cash and collateral (long spot included, as collateral of its own asset).
struct Held {
    /// cash + Σ_c V_c.
    value: i128,
    /// Σ_c V_c·h_MM.
    haircuts: i128,
    /// Σ V_c moving with each exposed underlying.
    moving: [i128; crate::layout::MAX_WITNESSES],
    err: i128,
}

fn held_all(
    c: &mut Ctx,
    market: &Market<'_>,
    acct: &AccountRec<'_>,
    exposed: &Exposure,
    stable: [u8; 16],
    stable_price: i128,
) -> Result<Held, Rejection> {
    let ae = arith("equity");
    let mut h = Held {
        value: 0,
        haircuts: 0,
        moving: [0; crate::layout::MAX_WITNESSES],
        err: 0,
    };
    let add = |c: &mut Ctx, h: &mut Held, (v, cut, mw): (i128, i128, Option<[u8; 16]>)| {
        h.value = c.add(h.value, v).map_err(&ae)?;
        h.haircuts = c.add(h.haircuts, cut).map_err(&ae)?;
        if let Some(k) = mw.and_then(|u| exposed.as_slice().iter().position(|x| *x == u)) {
            h.moving[k] = c.add(h.moving[k], v).map_err(&ae)?;
        }
        h.err = h.err.saturating_add(3 * SLACK);
        Ok::<(), Rejection>(())
    };
    for (i, (asset, amount)) in collaterals(acct).iter().enumerate() {
        if *asset == stable {
            // Cash: in USD stable units, never divided by P, no haircut.
            h.value = c.add(h.value, *amount).map_err(&arith("equity"))?;
            continue;
        }
        let v = held_value(
            c,
            market,
            asset,
            *amount,
            stable_price,
            "account.record.collateral (pm: no committed collateral price or underlying header)",
            i,
        )?;
        add(c, &mut h, v)?;
    }
    for (i, pos) in positions(acct).iter().enumerate() {
        if pos.kind != kind::SPOT {
            continue;
        }
        let v = held_value(
            c,
            market,
            &pos.underlying,
            pos.size,
            stable_price,
            "account.record.positions (pm: a spot position needs its asset's committed collateral price or underlying header)",
            i,
        )?;
        add(c, &mut h, v)?;
    }
    Ok(h)
}

/// The `pm` claim: equity against mm_factor·Σ_u max(0, −X_u) + C_MM.
pub fn pm_claim(
    c: &mut Ctx,
    s: &Setup<'_>,
    market: &Market<'_>,
    acct: &AccountRec<'_>,
) -> Result<Claim, Rejection> {
    let a = arith("claimed_requirement");
    let (stable, stable_price) = market.stable.ok_or(Rejection::new(
        "market.leaves (the stable record: pm values collateral in the stable coin)",
        Reason::MissingLeaf,
    ))?;
    let mm_factor = p(s, pm_param::MM_FACTOR);
    // The argument needs mm_factor ≥ 0 (the bound is monotone in the loss) and B_u ≤ 0 (so
    // that W_u ≤ 0 and −W_u ≥ max(0, −X_u)): basis factors ≥ 0, as pm.md §6 admits.
    if mm_factor < 0
        || p(s, pm_param::BASIS_ADD_FACTOR) < 0
        || p(s, pm_param::BASIS_MULT_FACTOR) < 0
    {
        return Err(Rejection::new(
            "params",
            Reason::Invalid("pm: mm_factor and the basis factors >= 0"),
        ));
    }
    for (i, pos) in positions(acct).iter().enumerate() {
        if pos.kind == kind::FUTURE || (pos.kind == kind::SPOT && pos.size < 0) {
            return Err(Rejection::at(
                "account.record.positions",
                i,
                Reason::Invalid("pm: no dated futures and no short spot (PMRM_2 has neither)"),
            ));
        }
    }
    let exposed = Exposure::of(market, acct, true, Some(&stable))?;
    check_witnesses(s.witnesses, &exposed)?;
    // Cash, collateral (and long spot, collateral of its own asset) at n·p/P.
    let mut err: i128 = SLACK;
    let held = held_all(c, market, acct, &exposed, stable, stable_price)?;
    let mut equity = held.value;
    let mut c_mm = held.haircuts;
    let moving = held.moving;
    err = err.saturating_add(held.err);
    let mut loss: i128 = 0;
    let mut err_x: i128 = 0;
    for (k, w) in s.witnesses.iter().enumerate() {
        let shock = shock_of(s, k, w)?;
        let mv = market.view(&w.underlying)?;
        let part = pm_underlying(c, s, &mv, acct, &w.underlying, moving[k], shock)?;
        equity = c.add(equity, part.mtm).map_err(&arith("equity"))?;
        c_mm = c.add(c_mm, part.c_mm).map_err(&a)?;
        let l = c.max(0, part.x.saturating_neg());
        loss = c.add(loss, l).map_err(&a)?;
        err = err.saturating_add(part.err_mtm);
        err_x = err_x.saturating_add(part.err_x);
    }
    let scaled = c.mul(mm_factor, loss).map_err(&a)?;
    let requirement = c.add(scaled, c_mm).map_err(&a)?;
    let e = c.mul(mm_factor.max(ONE), err_x).map_err(&a)?;
    err = err.saturating_add(e).saturating_add(SLACK);
    Ok(Claim {
        value: equity,
        requirement,
        err,
        stage: 1,
    })
}

/// Per-expiry inputs (pm.md §2–§3).
struct ExpiryCtx {
    secs: i128,
    tau: i128,
    sqrt_t: i128,
    discount: i128,
    rate: i128,
    forward: i128,
    f_var: i128,
    f_fix: i128,
}

fn expiry_ctx(
    c: &mut Ctx,
    s: &Setup<'_>,
    mv: &MarketView,
    expiry_s: i64,
    i: usize,
) -> Result<ExpiryCtx, Rejection> {
    let a = arith("account.record.positions.expiry");
    let fwd = mv.forward_rec(expiry_s)?;
    let (secs, tau) = years_to(c, s, expiry_s, i)?;
    if fwd.forward > PRICE_DOMAIN {
        return Err(domain(i, "forward at most 1e11"));
    }
    // Rate clamp before anything else uses it (pm.md §2).
    let rate = fwd.rate.unwrap_or(mv.rate).max(0);
    let rt = c.mul(rate, tau).map_err(&a)?;
    let discount = c.exp(-rt).map_err(&a)?;
    let sqrt_t = c.sqrt(tau).map_err(&a)?;
    let (f_var, f_fix) = if secs < FREEZE_S {
        let v = c.mul_int(fwd.forward, secs).map_err(&a)?;
        let v = c.div_int(v, FREEZE_S).map_err(&a)?;
        let x = c.mul_int(fwd.forward, FREEZE_S - secs).map_err(&a)?;
        let x = c.div_int(x, FREEZE_S).map_err(&a)?;
        (v, x)
    } else {
        (fwd.forward, 0)
    };
    Ok(ExpiryCtx {
        secs,
        tau,
        sqrt_t,
        discount,
        rate,
        forward: fwd.forward,
        f_var,
        f_fix,
    })
}

/// up_e and down_e (pm.md §3 item 3): w = (M / max(T, floor))^p.
fn vol_multipliers(c: &mut Ctx, s: &Setup<'_>, e: &ExpiryCtx) -> Result<(i128, i128), Rejection> {
    use pm_param as pp;
    let a = arith("params (pm vol-shock term weight)");
    let floor = c.mul_int(p(s, pp::DTE_FLOOR_DAYS), 86_400).map_err(&a)?;
    let t = c.mul_int(e.secs, ONE).map_err(&a)?;
    let denominator = c.max(t, floor);
    let ratio = c.div(MONTH_S * ONE, denominator).map_err(&a)?;
    let power = if e.secs <= MONTH_S {
        p(s, pp::SHORT_TERM_POWER)
    } else {
        p(s, pp::LONG_TERM_POWER)
    };
    let ln = c.ln(ratio).map_err(&a)?;
    let x = c.mul(power, ln).map_err(&a)?;
    let w = c.exp(x).map_err(&a)?;
    let up = c.mul(p(s, pp::VOL_RANGE_UP), w).map_err(&a)?;
    let up = c.add(ONE, up).map_err(&a)?;
    let down = c.mul(p(s, pp::VOL_RANGE_DOWN), w).map_err(&a)?;
    let down = c.sub(ONE, down).map_err(&a)?.max(0);
    Ok((up, down))
}

/// sd⁺_e and sd⁻_e (pm.md §3 item 4).
fn static_discounts(c: &mut Ctx, s: &Setup<'_>, e: &ExpiryCtx) -> Result<(i128, i128), Rejection> {
    use pm_param as pp;
    let a = arith("params (pm static discounts)");
    let lm = c.mul(e.rate, p(s, pp::LONG_RATE_MULT_SCALE)).map_err(&a)?;
    let lr = c.add(lm, p(s, pp::LONG_RATE_ADD_SCALE)).map_err(&a)?;
    let lx = c.mul(e.tau, lr).map_err(&a)?;
    let le = c.exp(-lx).map_err(&a)?;
    let pos = c.mul(p(s, pp::LONG_BASE_STATIC_DISCOUNT), le).map_err(&a)?;
    let sm = c.mul(e.rate, p(s, pp::SHORT_RATE_MULT_SCALE)).map_err(&a)?;
    let sr = c.add(sm, p(s, pp::SHORT_RATE_ADD_SCALE)).map_err(&a)?;
    let sx = c.mul(e.tau, sr).map_err(&a)?;
    let se = c.exp(sx).map_err(&a)?;
    let neg = c
        .mul(p(s, pp::SHORT_BASE_STATIC_DISCOUNT), se)
        .map_err(&a)?;
    let rt = c.mul(e.rate, e.tau).map_err(&a)?;
    let inv_d = c.exp(rt).map_err(&a)?;
    let neg = c.min(inv_d, neg);
    Ok((pos, neg))
}

/// The skew vol multiplier of pm.md §4 (two-branch form), for log-moneyness `k` (already |k|
/// for `Abs`), cap and k*.
fn skew_multiplier(c: &mut Ctx, k: i128, cap: i128, k_star: i128) -> Result<i128, Rejection> {
    let a = arith("witness_scenarios (skew)");
    // k* = 0 only with min_k_star = 0: the limit of k·cap/k* (0, or ±∞ as ±1e6).
    const BIG: i128 = 1_000_000 * ONE;
    let ratio = if k_star > 0 {
        let kc = c.mul(k, cap).map_err(&a)?;
        c.div(kc, k_star).map_err(&a)?
    } else if k == 0 || cap == 0 {
        0
    } else if (k > 0) == (cap > 0) {
        BIG
    } else {
        -BIG
    };
    Ok(if k >= 0 {
        ONE + c.min(cap, ratio)
    } else {
        ONE + c.max(cap.saturating_neg(), ratio)
    })
}

/// One underlying: its MtM, X_u at the witness, its perp and option MM contingencies.
fn pm_underlying(
    c: &mut Ctx,
    s: &Setup<'_>,
    mv: &MarketView,
    acct: &AccountRec<'_>,
    u: &[u8; 16],
    moving: i128,
    shock: Shock,
) -> Result<PmPart, Rejection> {
    use pm_param as pp;
    let a = arith("claimed_requirement (pm, at witness.scenario)");
    let spot = mv.spot;
    let perp_mark = mv.perp_price.unwrap_or(spot);
    let mut part = PmPart::default();
    // Perps: q, U.
    let mut q: i128 = 0;
    for pos in positions(acct) {
        if pos.underlying != *u || pos.kind != kind::PERPETUAL {
            continue;
        }
        q = c.add(q, pos.size).map_err(&a)?;
        if let Some(entry) = pos.entry_price {
            let d = c.sub(perp_mark, entry).map_err(&a)?;
            let pnl = c.mul(pos.size, d).map_err(&a)?;
            part.mtm = c.add(part.mtm, pnl).map_err(&a)?;
        }
        part.err_mtm = part.err_mtm.saturating_add(SLACK);
    }
    // The witness, once per underlying.
    let (s_mult, d, vol_dir) = match shock {
        Shock::Scenario(l) => (l.spot_shock, l.dampening, l.vol),
        Shock::Basis => (ONE, ONE, vol_code::NONE),
    };
    let is_skew = matches!(shock, Shock::Scenario(_))
        && (vol_dir == vol_code::LINEAR || vol_dir == vol_code::ABS);
    let ln_s = if matches!(shock, Shock::Scenario(_)) && !is_skew && s_mult != ONE {
        c.ln(s_mult).map_err(&a)?
    } else {
        0
    };
    let basis_up = p(s, pp::SCENARIO_SPOT_UP);
    let basis_down = p(s, pp::SCENARIO_SPOT_DOWN);
    let (ln_up, ln_down) = if shock == Shock::Basis {
        (c.ln(basis_up).map_err(&a)?, c.ln(basis_down).map_err(&a)?)
    } else {
        (0, 0)
    };
    // Options, expiry by expiry (in order of first appearance).
    let mut expiries = [0i64; MAX_POSITIONS];
    let mut n_exp = 0usize;
    for pos in positions(acct) {
        let is_option = pos.kind == kind::CALL || pos.kind == kind::PUT;
        if pos.underlying == *u && is_option && !expiries[..n_exp].contains(&pos.expiry_s) {
            expiries[n_exp] = pos.expiry_s;
            n_exp += 1;
        }
    }
    let mut x: i128 = 0;
    let mut err_x: i128 = 0;
    for &expiry in &expiries[..n_exp] {
        let first = positions(acct)
            .iter()
            .position(|q| q.underlying == *u && q.expiry_s == expiry)
            .unwrap_or(0);
        let e = expiry_ctx(c, s, mv, expiry, first)?;
        let (up_m, down_m) = match shock {
            Shock::Scenario(_) if vol_dir == vol_code::UP || vol_dir == vol_code::DOWN => {
                vol_multipliers(c, s, &e)?
            }
            _ => (ONE, ONE),
        };
        // Skew caps and k* of the expiry.
        let (cap, k_star) = if is_skew {
            let (base_cap, c_base) = if vol_dir == vol_code::LINEAR {
                (p(s, pp::LINEAR_BASE_CAP), p(s, pp::LINEAR_C_BASE))
            } else {
                (p(s, pp::ABS_BASE_CAP), p(s, pp::ABS_C_BASE))
            };
            let cs = c.mul(c_base, e.sqrt_t).map_err(&a)?;
            let cap = c.add(cs, base_cap).map_err(&a)?;
            let inner = c.mul(e.sqrt_t, p(s, pp::VOL_PARAM_SCALE)).map_err(&a)?;
            let inner = c.add(p(s, pp::VOL_PARAM_STATIC), inner).map_err(&a)?;
            let w = c.mul(e.sqrt_t, p(s, pp::WIDTH_SCALE)).map_err(&a)?;
            let ks = c.mul(w, inner).map_err(&a)?;
            (cap, c.max(p(s, pp::MIN_K_STAR), ks))
        } else {
            (0, 0)
        };
        let f_shocked = |c: &mut Ctx, mult: i128| -> Result<i128, Rejection> {
            let v = c.mul(e.f_var, mult).map_err(&a)?;
            c.add(v, e.f_fix).map_err(&a)
        };
        let (mut mtm_e, mut err_mtm_e) = (0i128, 0i128);
        // Values under the witness: one (scenario) or two (basis up, down).
        let (mut v1, mut v2) = (0i128, 0i128);
        let (mut err_v1, mut err_v2) = (0i128, 0i128);
        let mut naked: i128 = 0;
        for (i, pos) in positions(acct).iter().enumerate() {
            let is_option = pos.kind == kind::CALL || pos.kind == kind::PUT;
            if pos.underlying != *u || !is_option || pos.expiry_s != expiry {
                continue;
            }
            if pos.strike > PRICE_DOMAIN {
                return Err(domain(i, "strike at most 1e11"));
            }
            let call = pos.kind == kind::CALL;
            let ratio = c.div(pos.strike, e.forward).map_err(&a)?;
            let k = c.ln(ratio).map_err(&a)?;
            let sigma = vol_at(c, mv, k, e.tau)?;
            let price = |c: &mut Ctx, f: i128, vol: i128, lnfk: i128| {
                let total = c.mul(vol, e.sqrt_t).map_err(&a)?;
                if total > TOTAL_VOL_DOMAIN {
                    return Err(domain(i, "total vol σ√T at most 10·√10"));
                }
                if f > PRICE_DOMAIN {
                    return Err(domain(i, "shocked forward at most 1e11"));
                }
                let v = c
                    .black76_pre(
                        &OptionInputs {
                            call,
                            forward: f,
                            strike: pos.strike,
                            expiry_years: e.tau,
                            vol,
                            discount: e.discount,
                        },
                        e.sqrt_t,
                        lnfk,
                        false,
                    )
                    .map_err(&a)?;
                let value = c.mul(pos.size, v.price).map_err(&a)?;
                let fk = f.saturating_add(pos.strike);
                let eb = c.mul(abs(pos.size), fk).map_err(&a)?;
                let eb = c.mul(eb, ERR_PRICE_REL).map_err(&a)?;
                Ok::<(i128, i128), Rejection>((value, eb.saturating_add(SLACK)))
            };
            let (mark, em) = price(c, e.forward, sigma, -k)?;
            mtm_e = c.add(mtm_e, mark).map_err(&a)?;
            err_mtm_e = err_mtm_e.saturating_add(em);
            // ln(F_s/K) = ln(F/K) + ln s when no part of the forward is frozen.
            let lnfk_at = |c: &mut Ctx, ln_mult: i128, f_s: i128| {
                if e.f_fix == 0 {
                    c.sub(ln_mult, k).map_err(&a)
                } else {
                    let r = c.div(f_s, pos.strike).map_err(&a)?;
                    c.ln(r).map_err(&a)
                }
            };
            match shock {
                Shock::Basis => {
                    let fu = f_shocked(c, basis_up)?;
                    let lu = lnfk_at(c, ln_up, fu)?;
                    let (vu, eu) = price(c, fu, sigma, lu)?;
                    let fd = f_shocked(c, basis_down)?;
                    let ld = lnfk_at(c, ln_down, fd)?;
                    let (vd, ed) = price(c, fd, sigma, ld)?;
                    v1 = c.add(v1, vu).map_err(&a)?;
                    v2 = c.add(v2, vd).map_err(&a)?;
                    err_v1 = err_v1.saturating_add(eu);
                    err_v2 = err_v2.saturating_add(ed);
                }
                Shock::Scenario(_) if is_skew => {
                    let kk = if vol_dir == vol_code::ABS { abs(k) } else { k };
                    let m = skew_multiplier(c, kk, cap, k_star)?;
                    let vol = c.mul(sigma, m.max(0)).map_err(&a)?;
                    let (v, ev) = price(c, e.forward, vol, -k)?;
                    v1 = c.add(v1, v).map_err(&a)?;
                    err_v1 = err_v1.saturating_add(ev);
                }
                Shock::Scenario(_) => {
                    let vol = match vol_dir {
                        vol_code::UP => {
                            let up = c.mul(sigma, up_m).map_err(&a)?;
                            c.max(p(s, pp::MIN_VOL_UP_SHOCK), up)
                        }
                        vol_code::DOWN => c.mul(sigma, down_m).map_err(&a)?,
                        _ => sigma,
                    };
                    let fs = f_shocked(c, s_mult)?;
                    let l = lnfk_at(c, ln_s, fs)?;
                    let (v, ev) = price(c, fs, vol, l)?;
                    v1 = c.add(v1, v).map_err(&a)?;
                    err_v1 = err_v1.saturating_add(ev);
                }
            }
            // Naked shorts: calls and puts netted at each strike (pm.md §3 item 6); counted
            // at the first position of each strike.
            let seen_before = positions(acct)[..i].iter().any(|q| {
                q.underlying == *u
                    && q.expiry_s == expiry
                    && (q.kind == kind::CALL || q.kind == kind::PUT)
                    && q.strike == pos.strike
            });
            c.gas.int_ops += 2 * i as u64;
            if !seen_before {
                let mut net: i128 = 0;
                for q in positions(acct) {
                    if q.underlying == *u
                        && q.expiry_s == expiry
                        && (q.kind == kind::CALL || q.kind == kind::PUT)
                        && q.strike == pos.strike
                    {
                        net = c.add(net, q.size).map_err(&a)?;
                    }
                }
                let short = c.max(0, net.saturating_neg());
                naked = c.add(naked, short).map_err(&a)?;
            }
        }
        part.mtm = c.add(part.mtm, mtm_e).map_err(&a)?;
        part.err_mtm = part.err_mtm.saturating_add(err_mtm_e);
        let ns = c.mul(naked, spot).map_err(&a)?;
        let oc = c.mul(ns, p(s, pp::MM_OPTION_PERCENT)).map_err(&a)?;
        part.c_mm = c.add(part.c_mm, oc).map_err(&a)?;
        match shock {
            Shock::Basis => {
                // B_e = min(0, V_up − MtM, V_down − MtM)·(add + mult·τ).
                let du = c.sub(v1, mtm_e).map_err(&a)?;
                let dd = c.sub(v2, mtm_e).map_err(&a)?;
                let worst = c.min(du, dd);
                let worst = c.min(0, worst);
                let mt = c.mul(p(s, pp::BASIS_MULT_FACTOR), e.tau).map_err(&a)?;
                let factor = c.add(p(s, pp::BASIS_ADD_FACTOR), mt).map_err(&a)?;
                let b = c.mul(worst, factor).map_err(&a)?;
                x = c.add(x, b).map_err(&a)?;
                let ev = err_v1.max(err_v2).saturating_add(err_mtm_e);
                let eb = c.mul(ev, factor.max(ONE)).map_err(&a)?;
                err_x = err_x.saturating_add(eb).saturating_add(SLACK);
            }
            Shock::Scenario(_) => {
                let (sd_pos, sd_neg) = static_discounts(c, s, &e)?;
                let sd = if v1 >= 0 { sd_pos } else { sd_neg };
                let disc = c.mul(v1, sd).map_err(&a)?;
                let change = c.sub(disc, mtm_e).map_err(&a)?;
                let change = c.mul(change, d).map_err(&a)?;
                let change = if is_skew { -abs(change) } else { change };
                x = c.add(x, change).map_err(&a)?;
                // err(disc(V)) ≤ max(sd)·err(V) + |V|·err(sd); then − MtM, × d.
                let sd_max = c.max(sd_pos, sd_neg);
                let ev = c.mul(err_v1, sd_max.max(ONE)).map_err(&a)?;
                let esd = c.mul(abs(v1), ERR_PRICE_REL).map_err(&a)?;
                let total = ev.saturating_add(esd).saturating_add(err_mtm_e);
                let total = c.mul(total, d.max(ONE)).map_err(&a)?;
                err_x = err_x.saturating_add(total).saturating_add(SLACK);
            }
        }
    }
    // Perp and offsetting collateral under the scenario: (s − 1)·d times their exposure.
    if let Shock::Scenario(_) = shock {
        let move_d = c.sub(s_mult, ONE).map_err(&a)?;
        let move_d = c.mul(move_d, d).map_err(&a)?;
        if q != 0 {
            let n = c.mul(q, perp_mark).map_err(&a)?;
            let pnl = c.mul(n, move_d).map_err(&a)?;
            x = c.add(x, pnl).map_err(&a)?;
        }
        if moving != 0 {
            let pnl = c.mul(moving, move_d).map_err(&a)?;
            x = c.add(x, pnl).map_err(&a)?;
        }
        err_x = err_x.saturating_add(2 * SLACK);
    }
    // Perp contingency on the spot notional (pm.md §8 item 5).
    let pn = c.mul(abs(q), spot).map_err(&a)?;
    let pc = c.mul(pn, p(s, pp::MM_PERP_PERCENT)).map_err(&a)?;
    part.c_mm = c.add(part.c_mm, pc).map_err(&a)?;
    part.x = x;
    part.err_x = err_x.saturating_add(SLACK);
    Ok(part)
}

/// Every scenario of `list` and the basis floor, for every exposed underlying, in the
/// verifier's arithmetic: the engine's work for the account in the verifier's unit, and the
/// best witness per underlying (the largest mm_factor·max(0, −X_u) net of its error; the parts
/// add). `verify` never calls it; the certificate builder does.
pub fn pm_full_search(
    c: &mut Ctx,
    s: &Setup<'_>,
    market: &Market<'_>,
    acct: &AccountRec<'_>,
    list: &[ScenarioLeaf],
) -> Result<crate::eval::Search, Rejection> {
    let (stable, stable_price) = market.stable.ok_or(Rejection::new(
        "market.leaves (the stable record: pm values collateral in the stable coin)",
        Reason::MissingLeaf,
    ))?;
    let exposed = Exposure::of(market, acct, true, Some(&stable))?;
    let moving = held_all(c, market, acct, &exposed, stable, stable_price)?.moving;
    let mut out = crate::eval::Search {
        witnesses: [Witness::new([0; 16], 0); crate::layout::MAX_WITNESSES],
        n: exposed.n,
    };
    for (k, u) in exposed.as_slice().iter().enumerate() {
        let mv = market.view(u)?;
        let mut best: Option<(u16, i128)> = None;
        let candidates = list
            .iter()
            .map(|l| (l.index, Shock::Scenario(*l)))
            .chain(core::iter::once((BASIS, Shock::Basis)));
        for (index, shock) in candidates {
            let part = match pm_underlying(c, s, &mv, acct, u, moving[k], shock) {
                Ok(part) => part,
                // A scenario outside the verifier's domain is not a witness; try the others.
                Err(r) if matches!(r.reason, Reason::OutOfDomain(_) | Reason::Arithmetic(_)) => {
                    continue
                }
                Err(r) => return Err(r),
            };
            let margin = part.x.saturating_neg().max(0).saturating_sub(part.err_x);
            if best.is_none_or(|(_, b)| margin > b) {
                best = Some((index, margin));
            }
        }
        let (index, _) = best.ok_or(Rejection::new(
            "witness.scenario (no scenario of the list is inside the verifier's domain)",
            Reason::NotInPolicy,
        ))?;
        out.witnesses[k] = Witness::new(*u, index);
    }
    Ok(out)
}
