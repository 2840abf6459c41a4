//! One test (at least) per item of pm.md §8 "Easy to get wrong", each computing its expectation
//! independently from the spec formulas (Black-76 from `ale_pricing`), plus the report mapping,
//! multi-underlying accounts, caps and parameter validation.

use ale_core::OptionKind;
use ale_pricing::Black76;
use ale_risk::pm::{
    self, evaluate, evaluate_account, option_unit_value, Binding, Collateral, ExpiryContext,
    ExpiryMarket, HeldCollateral, Limits, MultiAccount, ParamSet, PmAccount, PmConfig, PmError,
    PmEvaluation, PmMarket, PmOption, PmParams, Scenario, ScenarioList, Shock, UnderlyingBook,
    UnderlyingMarket, VolDirection as V,
};

const YEAR: f64 = 31_536_000.0;
const DAY: u64 = 86_400;

fn expiry(sec: u64, forward: f64, rate: f64) -> ExpiryMarket {
    ExpiryMarket {
        sec_to_expiry: sec,
        forward,
        forward_confidence: 1.0,
        rate,
        rate_confidence: 1.0,
        vol_confidence: 1.0,
    }
}

fn market(spot: f64, expiries: Vec<ExpiryMarket>) -> PmMarket {
    PmMarket {
        stable_price: 1.0,
        underlying: UnderlyingMarket {
            spot,
            spot_confidence: 1.0,
            perp_price: 0.0,
            perp_confidence: 0.0,
            expiries,
        },
    }
}

fn opt(sec: u64, strike: f64, call: bool, amount: f64, vol: f64) -> PmOption {
    PmOption {
        sec_to_expiry: sec,
        strike,
        kind: if call {
            OptionKind::Call
        } else {
            OptionKind::Put
        },
        amount,
        mark_vol: vol,
    }
}

fn account(options: Vec<PmOption>) -> PmAccount {
    PmAccount {
        options,
        ..PmAccount::default()
    }
}

fn coll(name: &str, n: f64, p: f64, c: f64, rc: bool, hmm: f64, him: f64) -> Collateral {
    Collateral {
        name: name.into(),
        amount: n,
        price: p,
        confidence: c,
        is_risk_cancelling: rc,
        mm_haircut: hmm,
        im_haircut: him,
    }
}

fn config_with(params: PmParams, scenarios: Vec<Scenario>) -> PmConfig {
    let list = ScenarioList::new(scenarios, &Limits::NONE).expect("scenario list");
    PmConfig::new(params, list, Limits::NONE).expect("config")
}

fn derive_test(scenarios: Vec<Scenario>) -> PmConfig {
    config_with(ParamSet::DeriveTest.params(), scenarios)
}

fn sc(s: f64, dir: V, d: f64) -> Scenario {
    Scenario::new(s, dir, d)
}

/// D·Black(F, K, τ, σ), through ale_pricing, for independent expectations.
fn black(call: bool, f: f64, k: f64, tau: f64, vol: f64, rate: f64) -> f64 {
    let kind = if call {
        OptionKind::Call
    } else {
        OptionKind::Put
    };
    let undiscounted = Black76::new(kind, f, k, tau, vol, 0.0)
        .expect("inputs")
        .price();
    (-rate * tau).exp() * undiscounted
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1e-9)
}

#[track_caller]
fn assert_close(got: f64, want: f64) {
    assert!(close(got, want, 1e-12), "got {got} want {want}");
}

fn run(m: &PmMarket, a: &PmAccount, c: &PmConfig) -> PmEvaluation {
    evaluate(m, a, c).expect("evaluates")
}

// 1 -----------------------------------------------------------------------------------------

#[test]
fn item01_basis_is_a_floor_scenario_not_an_add_on() {
    let t = 30 * DAY;
    let m = market(100.0, vec![expiry(t, 100.0, 0.0)]);
    let a = account(vec![
        opt(t, 100.0, true, -1.0, 0.5),
        opt(t, 100.0, false, -1.0, 0.5),
    ]);
    // Only a damped-to-zero scenario: every P&L is 0, so the basis floor must bind.
    let e = run(&m, &a, &derive_test(vec![sc(1.0, V::None, 0.0)]));
    assert!(e.basis < 0.0);
    assert_eq!(e.scenario_pnl, vec![0.0]);
    assert_eq!(e.binding, Binding::Basis);
    assert_eq!(e.worst_loss, e.basis);
    // Independent B for a short straddle: min over the two basis moves, times the weights.
    let tau = t as f64 / YEAR;
    let mtm = -black(true, 100.0, 100.0, tau, 0.5, 0.0) - black(false, 100.0, 100.0, tau, 0.5, 0.0);
    let v = |s: f64| {
        -black(true, 100.0 * s, 100.0, tau, 0.5, 0.0)
            - black(false, 100.0 * s, 100.0, tau, 0.5, 0.0)
    };
    let b = (v(1.045) - mtm).min(v(0.955) - mtm).min(0.0) * (0.5 + 2.0 * tau);
    assert_close(e.basis, b);
    // A scenario loss worse than B: W is that loss, B is not added to it.
    let e2 = run(
        &m,
        &a,
        &derive_test(vec![sc(1.0, V::None, 0.0), sc(1.3, V::None, 1.0)]),
    );
    assert_eq!(e2.binding, Binding::Scenario(1));
    assert_eq!(e2.worst_loss, e2.scenario_pnl[1]);
    let c_mm = e2.contingencies.mm_total();
    assert_close(
        e2.mm_surplus,
        0.8 * e2.scenario_pnl[1] - c_mm + e2.mtm_total,
    );
}

// 2, 3 --------------------------------------------------------------------------------------

#[test]
fn item02_static_discount_on_shocked_value_only_and_item03_sd_minus_capped() {
    let t = 794_852;
    let r = 0.15;
    let m = market(95_663.5, vec![expiry(t, 95_776.67, r)]);
    let a = account(vec![opt(t, 100_000.0, true, -1.0, 0.4538)]);
    let e = run(&m, &a, &derive_test(vec![sc(1.0, V::None, 1.0)]));
    let tau = t as f64 / YEAR;
    let d = (-r * tau).exp();
    let uncapped = 1.04 / (-tau * (r * 0.5 + 0.08)).exp();
    assert!(uncapped > 1.0 / d, "the cap must be active in this case");
    let ctx = &e.expiries[0].context;
    assert_eq!(ctx.static_discount_neg, 1.0 / d, "sd- capped at 1/D");
    assert_close(
        ctx.static_discount_pos,
        0.95 * (-tau * (r * 1.0 + 0.08)).exp(),
    );
    // (1, None): P&L = (sd- − 1)·MtM, not 0 and not computed with the uncapped sd-.
    let mtm = e.option_mtm;
    assert!(e.scenario_pnl[0] < 0.0);
    assert_close(e.scenario_pnl[0], (1.0 / d - 1.0) * mtm);
    assert!(!close(e.scenario_pnl[0], (uncapped - 1.0) * mtm, 1e-6));
    // The mark itself is not discounted: MtM = a·D·Black.
    assert_close(mtm, -black(true, 95_776.67, 100_000.0, tau, 0.4538, r));
}

// 4 -----------------------------------------------------------------------------------------

#[test]
fn item04_skew_takes_minus_abs_per_expiry_at_unshocked_forward_without_vol_floor() {
    let (t1, t2) = (20 * DAY, 200 * DAY);
    let m = market(100.0, vec![expiry(t1, 101.0, 0.0), expiry(t2, 104.0, 0.0)]);
    // A long OTM call in one expiry and a short OTM call in the other: their Linear P&Ls have
    // opposite signs, so −|a| − |b| differs from −|a + b|.
    let a = account(vec![
        opt(t1, 120.0, true, 1.0, 0.3),
        opt(t2, 130.0, true, -1.0, 0.3),
    ]);
    let mut params = ParamSet::DeriveTest.params();
    params.margin.short_base_static_discount = 1.0;
    params.margin.long_base_static_discount = 1.0;
    params.margin.short_rate_add_scale = 0.0;
    params.margin.long_rate_add_scale = 0.0;
    params.margin.long_rate_mult_scale = 0.0;
    params.vol_shock.min_vol_up_shock = 5.0; // would dominate if wrongly applied to skew
                                             // The spot shock of a skew scenario is 1 by rule; dampening 2 is honoured.
    let cfg = config_with(params, vec![sc(1.0, V::Linear, 2.0), sc(1.0, V::Abs, 3.0)]);
    let e = run(&m, &a, &cfg);
    let sk = &params.skew_shock;
    let per_expiry = |t: u64, f: f64, k: f64, amount: f64, kind: V| {
        let tau = t as f64 / YEAR;
        let st = tau.sqrt();
        let (base, cb) = match kind {
            V::Linear => (sk.linear_base_cap, sk.linear_c_base),
            _ => (sk.abs_base_cap, sk.abs_c_base),
        };
        let cap = cb * st + base;
        let kstar = sk
            .min_k_star
            .max(st * sk.width_scale * (sk.vol_param_static + st * sk.vol_param_scale));
        let mut x = (k / f).ln();
        if kind == V::Abs {
            x = x.abs();
        }
        let mult = if x >= 0.0 {
            1.0 + cap.min(x * cap / kstar)
        } else {
            1.0 + (-cap).max(x * cap / kstar)
        };
        let vol = 0.3 * mult.max(0.0);
        amount * (black(true, f, k, tau, vol, 0.0) - black(true, f, k, tau, 0.3, 0.0))
    };
    let lin1 = per_expiry(t1, 101.0, 120.0, 1.0, V::Linear);
    let lin2 = per_expiry(t2, 104.0, 130.0, -1.0, V::Linear);
    assert!(lin1 * lin2 < 0.0, "opposite signs: {lin1} {lin2}");
    assert_close(e.scenario_pnl[0], -(lin1 * 2.0).abs() - (lin2 * 2.0).abs());
    assert!(!close(
        e.scenario_pnl[0],
        -((lin1 + lin2) * 2.0).abs(),
        1e-6
    ));
    let abs1 = per_expiry(t1, 101.0, 120.0, 1.0, V::Abs);
    let abs2 = per_expiry(t2, 104.0, 130.0, -1.0, V::Abs);
    assert_close(e.scenario_pnl[1], -(abs1 * 3.0).abs() - (abs2 * 3.0).abs());
}

// 5 -----------------------------------------------------------------------------------------

#[test]
fn item05_perp_pnl_uses_perp_mark_contingencies_use_spot() {
    let mut m = market(3000.0, vec![]);
    m.underlying.perp_price = 2500.0;
    m.underlying.perp_confidence = 1.0;
    let a = PmAccount {
        perp_position: -2.0,
        ..PmAccount::default()
    };
    let e = run(
        &m,
        &a,
        &derive_test(vec![sc(1.1, V::Up, 1.0), sc(0.9, V::Down, 0.5)]),
    );
    assert_close(e.scenario_pnl[0], -2.0 * 0.1 * 2500.0);
    assert_close(e.scenario_pnl[1], -2.0 * -0.1 * 2500.0 * 0.5);
    assert_close(e.contingencies.mm_perp, 2.0 * 3000.0 * 0.015);
    assert_close(e.contingencies.im_perp, 2.0 * 3000.0 * 0.005);
}

// 6, 16, 18 ---------------------------------------------------------------------------------

#[test]
fn item06_im_subtracts_both_contingency_sets_item16_mtm_has_unrealised_not_notional() {
    // The published perp case by hand: q = 1, S = 3000, P_perp = 2500, c_S = 0.2, c_perp = 0.1.
    let mut m = market(3000.0, vec![]);
    m.stable_price = 1.00019088635;
    m.underlying.spot_confidence = 0.2;
    m.underlying.perp_price = 2500.0;
    m.underlying.perp_confidence = 0.1;
    let a = PmAccount {
        cash: 1000.0,
        perp_position: 1.0,
        perp_unrealised_pnl: -600.0,
        perp_unrealised_funding: -10.0,
        ..PmAccount::default()
    };
    let e = run(&m, &a, &PmConfig::from_set(ParamSet::DeriveTest));
    let w = -0.18 * 2500.0;
    let c_mm = 3000.0 * 0.015;
    let c_im = 3000.0 * 0.005 + 0.9 * 1.0 * 3000.0;
    assert_close(e.worst_loss, w);
    assert_close(e.mtm_total, -610.0);
    assert_close(e.mm_surplus, 0.8 * w - c_mm - 610.0 + 1000.0);
    assert_close(e.im_surplus, 1.0 * w - c_im - c_mm - 610.0 + 1000.0);
    assert_close(e.report.equity, 390.0);
}

#[test]
fn item18_peg_raises_the_factor_on_the_worst_loss_not_a_flat_amount() {
    let t = 30 * DAY;
    let a = account(vec![opt(t, 110.0, true, -1.0, 0.6)]);
    let cfg = PmConfig::from_set(ParamSet::DeriveTest);
    let mut m = market(100.0, vec![expiry(t, 100.0, 0.0)]);
    let pegged = run(&m, &a, &cfg);
    m.stable_price = 0.95;
    let depegged = run(&m, &a, &cfg);
    let peg = (0.98 - 0.95) * 2.0;
    assert_close(depegged.peg, peg);
    assert_eq!(pegged.peg, 0.0);
    // IM moves by peg·W; MM is unchanged (no collateral here, so P plays no other role).
    assert_close(
        depegged.im_surplus - pegged.im_surplus,
        peg * pegged.worst_loss,
    );
    assert_close(depegged.mm_surplus, pegged.mm_surplus);
    assert_close(depegged.report.im_components.peg, peg * -pegged.worst_loss);
    // With nothing at risk (W = 0) a de-peg costs nothing.
    let empty = run(
        &m,
        &PmAccount {
            cash: 50.0,
            ..PmAccount::default()
        },
        &cfg,
    );
    assert_eq!(empty.worst_loss, 0.0);
    assert_close(empty.im_surplus, 50.0);
}

// 7 -----------------------------------------------------------------------------------------

#[test]
fn item07_negative_rates_are_clamped_before_discount_and_static_discounts() {
    let t = 90 * DAY;
    let a = account(vec![
        opt(t, 100.0, false, -3.0, 0.5),
        opt(t, 110.0, true, 1.0, 0.5),
    ]);
    let cfg = PmConfig::from_set(ParamSet::DeriveTest);
    let neg = run(&market(100.0, vec![expiry(t, 101.0, -0.2)]), &a, &cfg);
    let zero = run(&market(100.0, vec![expiry(t, 101.0, 0.0)]), &a, &cfg);
    assert_eq!(neg.expiries[0].context.rate_clamped, 0.0);
    assert_eq!(neg.expiries[0].context.discount, 1.0);
    assert_eq!(neg.option_mtm, zero.option_mtm);
    assert_eq!(neg.scenario_pnl, zero.scenario_pnl);
    assert_eq!(neg.mm_surplus, zero.mm_surplus);
    assert_eq!(neg.im_surplus, zero.im_surplus);
    let tau = t as f64 / YEAR;
    assert_close(
        neg.expiries[0].context.static_discount_pos,
        0.95 * (-tau * 0.08).exp(),
    );
}

// 8 -----------------------------------------------------------------------------------------

#[test]
fn item08_min_vol_floor_only_on_up_and_down_multiplier_floored_at_zero() {
    let t = 2 * DAY;
    let mut params = ParamSet::DeriveTest.params();
    params.vol_shock.vol_range_down = 5.0; // 1 − 5·w < 0 → down = 0
    params.vol_shock.min_vol_up_shock = 0.9;
    params.vol_shock.vol_range_up = 0.1;
    let mk = expiry(t, 100.0, 0.05);
    let ctx = ExpiryContext::new(&mk, &params);
    assert_eq!(ctx.vol_down_multiplier, 0.0);
    let o = opt(t, 95.0, true, 1.0, 0.3);
    let tau = t as f64 / YEAR;
    let value = |s: f64, dir: V| {
        option_unit_value(
            &ctx,
            &o,
            Shock::Spot {
                spot_shock: s,
                vol: dir,
            },
        )
        .expect("value")
    };
    // Down: vol 0 → discounted intrinsic at the shocked forward.
    let d = (-0.05 * tau).exp();
    assert_close(value(0.99, V::Down), d * (99.0 - 95.0));
    // Up: σ·up = 0.3·(1 + 0.1·w) < 0.9 → floored at 0.9.
    assert!(0.3 * ctx.vol_up_multiplier < 0.9);
    assert_close(value(1.0, V::Up), black(true, 100.0, 95.0, tau, 0.9, 0.05));
    // None: the mark vol, even though it is below the floor.
    assert_close(
        value(1.0, V::None),
        black(true, 100.0, 95.0, tau, 0.3, 0.05),
    );
}

// 9, 17 -------------------------------------------------------------------------------------

#[test]
fn item09_dte_floor_in_multiplier_only_power_switch_on_true_t_item17_year_is_365_days() {
    let mut params = ParamSet::DeriveTest.params();
    params.vol_shock.dte_floor_days = 40.0; // floor above 30 d
    let vs = params.vol_shock;
    let month: f64 = 2_592_000.0;
    // T = 2 h (< 30 d): short power, but the floored T in the weight.
    let short = ExpiryContext::new(&expiry(7200, 100.0, 0.0), &params);
    let w = (month / (40.0 * 86_400.0)).powf(vs.short_term_power);
    assert_close(short.vol_up_multiplier, 1.0 + vs.vol_range_up * w);
    assert_close(short.vol_down_multiplier, 1.0 - vs.vol_range_down * w);
    // T = 30 d exactly: still the short power; 30 d + 1 s: the long power.
    params.vol_shock.dte_floor_days = 1.0;
    let at = ExpiryContext::new(&expiry(2_592_000, 100.0, 0.0), &params);
    assert_close(at.vol_up_multiplier, 1.0 + vs.vol_range_up);
    let after = ExpiryContext::new(&expiry(2_592_001, 100.0, 0.0), &params);
    let w_long = (month / 2_592_001.0).powf(vs.long_term_power);
    assert_close(after.vol_up_multiplier, 1.0 + vs.vol_range_up * w_long);
    let w_short = (month / 2_592_001.0).powf(vs.short_term_power);
    assert!(!close(
        after.vol_up_multiplier,
        1.0 + vs.vol_range_up * w_short,
        1e-12
    ));
    // Year = 31 536 000 s.
    assert_eq!(after.expiry_years, 2_592_001.0 / 31_536_000.0);
    assert_eq!(pm::YEAR_S, 365 * 86_400);
}

// 10 ----------------------------------------------------------------------------------------

#[test]
fn item10_naked_shorts_net_per_strike_confidence_uses_gross() {
    let t = 30 * DAY;
    let mut mk = expiry(t, 100.0, 0.0);
    mk.vol_confidence = 0.3;
    let m = market(100.0, vec![mk]);
    let a = account(vec![
        opt(t, 100.0, true, 10.0, 0.5),
        opt(t, 100.0, false, -20.0, 0.5), // strike 100: net −10 → 10 naked
        opt(t, 90.0, true, -5.0, 0.5),
        opt(t, 90.0, false, 10.0, 0.5), // strike 90: net +5 → 0
        opt(t, 80.0, true, -5.0, 0.5),
        opt(t, 80.0, false, -3.0, 0.5), // strike 80: net −8 → 8
    ]);
    let e = run(&m, &a, &PmConfig::from_set(ParamSet::DeriveTest));
    let x = &e.expiries[0];
    assert_eq!(x.naked_shorts, 18.0);
    assert_eq!(x.gross_amount, 53.0);
    assert_close(e.contingencies.mm_option, 18.0 * 100.0 * 0.003);
    assert_close(e.contingencies.im_option, 18.0 * 100.0 * 0.002);
    assert_close(
        e.contingencies.conf_option,
        (1.0 - 0.3) * 1.0 * 53.0 * 100.0,
    );
}

// 11 ----------------------------------------------------------------------------------------

#[test]
fn item11_confidence_sources_and_strict_threshold() {
    let t = 30 * DAY;
    let cfg = PmConfig::from_set(ParamSet::DeriveTest);
    let base = |perp: f64, perp_conf: f64, fc: f64, rc: f64, vc: f64| {
        let mut mk = expiry(t, 100.0, 0.0);
        mk.forward_confidence = fc;
        mk.rate_confidence = rc;
        mk.vol_confidence = vc;
        let mut m = market(100.0, vec![mk]);
        m.underlying.spot_confidence = 0.9;
        m.underlying.perp_price = 100.0;
        m.underlying.perp_confidence = perp_conf;
        let a = PmAccount {
            perp_position: perp,
            options: vec![opt(t, 100.0, true, -2.0, 0.5)],
            collaterals: vec![
                coll("ETH", 1.0, 50.0, 1.0, false, 0.0, 0.0),
                coll("BTC", 1.0, 100.0, 1.0, true, 0.0, 0.0),
            ],
            ..PmAccount::default()
        };
        run(&m, &a, &cfg)
    };
    // Perp confidence 0.1 counts only when a perp is held; never for collateral.
    let no_perp = base(0.0, 0.1, 1.0, 1.0, 1.0);
    assert_eq!(no_perp.contingencies.confidence_total(), 0.0);
    let with_perp = base(1.0, 0.1, 1.0, 1.0, 1.0);
    assert_close(with_perp.contingencies.conf_perp, 0.9 * 100.0);
    assert_close(with_perp.contingencies.conf_option, 0.9 * 2.0 * 100.0);
    assert_eq!(with_perp.contingencies.conf_collateral, 0.0);
    // Forward, rate and vol confidences each enter the expiry's confidence.
    for (fc, rc, vc) in [(0.2, 1.0, 1.0), (1.0, 0.2, 1.0), (1.0, 1.0, 0.2)] {
        let e = base(0.0, 1.0, fc, rc, vc);
        assert_close(e.contingencies.conf_option, 0.8 * 2.0 * 100.0);
        assert_eq!(
            e.contingencies.mm_total(),
            base(0.0, 1.0, 1.0, 1.0, 1.0).contingencies.mm_total(),
            "IM only"
        );
    }
    // Exactly at the threshold: no charge; just below: charged.
    assert_eq!(
        base(0.0, 1.0, 0.55, 1.0, 1.0).contingencies.conf_option,
        0.0
    );
    assert!(base(0.0, 1.0, 0.5499, 1.0, 1.0).contingencies.conf_option > 0.0);
    // Collateral: min(own, spot).
    let mut m = market(100.0, vec![]);
    m.underlying.spot_confidence = 0.3;
    let a = PmAccount {
        collaterals: vec![coll("ETH", 2.0, 50.0, 0.9, false, 0.0, 0.0)],
        ..PmAccount::default()
    };
    let e = run(&m, &a, &cfg);
    assert_close(e.contingencies.conf_collateral, 0.7 * 100.0);
    assert_close(e.report.im_components.confidence, 0.7 * 100.0);
    assert_eq!(e.report.components.collateral_haircut, 0.0);
}

// 12 ----------------------------------------------------------------------------------------

#[test]
fn item12_collateral_valued_over_stable_price_cash_not_haircuts_on_all() {
    let mut m = market(100.0, vec![]);
    m.stable_price = 0.8;
    let a = PmAccount {
        cash: 1000.0,
        collaterals: vec![
            coll("BTC", 2.0, 100.0, 1.0, true, 0.02, 0.01),
            coll("USDT", 400.0, 1.0, 1.0, false, 0.1, 0.05),
        ],
        ..PmAccount::default()
    };
    let e = run(
        &m,
        &a,
        &derive_test(vec![sc(1.2, V::None, 1.0), sc(0.7, V::None, 0.5)]),
    );
    let v_btc = 2.0 * 100.0 / 0.8;
    let v_usdt = 400.0 * 1.0 / 0.8;
    assert_close(e.collateral_mtm, v_btc + v_usdt);
    assert_close(e.report.equity, 1000.0 + v_btc + v_usdt);
    // Only the risk-cancelling BTC moves.
    assert_close(e.scenario_pnl[0], v_btc * 0.2);
    assert_close(e.scenario_pnl[1], v_btc * -0.3 * 0.5);
    assert_close(e.contingencies.mm_collateral, v_btc * 0.02 + v_usdt * 0.1);
    assert_close(e.contingencies.im_collateral, v_btc * 0.01 + v_usdt * 0.05);
}

// 13, 14 ------------------------------------------------------------------------------------

#[test]
fn item13_dampening_scales_every_part_item14_shocks_are_multipliers() {
    let t = 10 * DAY;
    let mut m = market(100.0, vec![expiry(t, 100.5, 0.03)]);
    m.underlying.perp_price = 101.0;
    m.underlying.perp_confidence = 1.0;
    let a = PmAccount {
        perp_position: 3.0,
        options: vec![opt(t, 105.0, true, -2.0, 0.6)],
        collaterals: vec![coll("BTC", 1.0, 100.0, 1.0, true, 0.0, 0.0)],
        ..PmAccount::default()
    };
    let cfg = derive_test(vec![
        sc(1.18, V::Up, 1.0),
        sc(1.18, V::Up, 0.25),
        sc(1.0, V::Linear, 1.0),
        sc(1.0, V::Abs, 0.25),
        sc(1.0, V::None, 0.0),
    ]);
    let e = run(&m, &a, &cfg);
    assert_close(e.scenario_pnl[1], 0.25 * e.scenario_pnl[0]);
    assert_eq!(e.scenario_pnl[4], 0.0);
    let skew0 = derive_test(vec![sc(1.0, V::Linear, 0.0), sc(1.0, V::Abs, 0.0)]);
    assert_eq!(run(&m, &a, &skew0).scenario_pnl, vec![0.0, 0.0]);
    // Perp and collateral parts of s = 1.18 are +18 % moves.
    let perp_and_coll = 3.0 * 0.18 * 101.0 + 100.0 * 0.18;
    let tau = t as f64 / YEAR;
    let ctx = &e.expiries[0].context;
    let vol = ctx.min_vol_up_shock.max(0.6 * ctx.vol_up_multiplier);
    let v = -2.0 * black(true, 100.5 * 1.18, 105.0, tau, vol, 0.03);
    let options = ctx.static_discount(v) - e.option_mtm;
    assert_close(e.scenario_pnl[0], perp_and_coll + options);
    // A skew scenario's P&L scales linearly in its dampening.
    let cfg_abs = derive_test(vec![sc(1.0, V::Abs, 1.0)]);
    let abs1 = run(&m, &a, &cfg_abs).scenario_pnl[0];
    assert_close(e.scenario_pnl[3], 0.25 * abs1);
}

// 15 ----------------------------------------------------------------------------------------

#[test]
fn item15_forward_frozen_in_last_30_minutes_and_expired_options_at_intrinsic() {
    let cfg = derive_test(vec![
        sc(1.2, V::Up, 1.0),
        sc(0.8, V::Down, 1.0),
        sc(1.0, V::Linear, 1.0),
    ]);
    // T = 900 s: half of the forward moves with spot.
    let m = market(100.0, vec![expiry(900, 100.0, 0.0)]);
    let e = run(&m, &a1(900, 0.5), &cfg);
    let ctx = &e.expiries[0].context;
    assert_eq!(ctx.forward_fix, 50.0);
    assert_eq!(ctx.forward_var, 50.0);
    assert_eq!(ctx.forward_shocked(1.2), 110.0);
    let tau = 900.0 / YEAR;
    let vol = ctx.min_vol_up_shock.max(0.5 * ctx.vol_up_multiplier);
    let v = -black(true, 110.0, 100.0, tau, vol, 0.0);
    assert_close(e.scenario_pnl[0], ctx.static_discount(v) - e.option_mtm);
    // T = 1800 s: not frozen at all.
    let e1800 = run(
        &market(100.0, vec![expiry(1800, 100.0, 0.0)]),
        &a1(1800, 0.5),
        &cfg,
    );
    assert_eq!(e1800.expiries[0].context.forward_fix, 0.0);
    // T = 0: intrinsic in every scenario (forward fully frozen), whatever the vol (even < 0).
    let m0 = market(100.0, vec![expiry(0, 104.0, 0.3)]);
    let e0 = run(&m0, &a1(0, -7.0), &cfg);
    assert_eq!(e0.option_mtm, -4.0);
    let ctx0 = &e0.expiries[0].context;
    assert_eq!(ctx0.discount, 1.0);
    for (pnl, s) in e0.scenario_pnl.iter().zip([1.2, 0.8, 1.0]) {
        let _ = s; // the forward does not move at T = 0
        assert_close(*pnl, ctx0.static_discount(-4.0) - -4.0);
    }
    // 1 s before expiry: F(s) = F·(1 + (s − 1)/1800).
    let e1 = run(
        &market(100.0, vec![expiry(1, 100.0, 0.0)]),
        &a1(1, 0.5),
        &cfg,
    );
    assert_close(
        e1.expiries[0].context.forward_shocked(1.2),
        100.0 * (1.0 + 0.2 / 1800.0),
    );

    fn a1(t: u64, vol: f64) -> PmAccount {
        account(vec![opt(t, 100.0, true, -1.0, vol)])
    }
}

// 19 ----------------------------------------------------------------------------------------

#[test]
fn item19_basis_wins_ties_then_the_first_scenario() {
    // Nothing at risk: B = 0 and every P&L = 0 → the basis floor binds.
    let e = run(
        &market(100.0, vec![]),
        &PmAccount {
            cash: 10.0,
            ..PmAccount::default()
        },
        &PmConfig::from_set(ParamSet::DeriveTest),
    );
    assert_eq!(e.binding, Binding::Basis);
    assert_eq!(e.worst_loss, 0.0);
    assert_eq!(e.report.components.scenario_loss, 0.0);
    assert_eq!(e.report.maintenance_margin, 0.0);
    // A perp and two identical losing scenarios: the first one binds.
    let mut m = market(100.0, vec![]);
    m.underlying.perp_price = 100.0;
    m.underlying.perp_confidence = 1.0;
    let a = PmAccount {
        perp_position: 1.0,
        ..PmAccount::default()
    };
    let e = run(
        &m,
        &a,
        &derive_test(vec![
            sc(1.1, V::Up, 1.0),
            sc(0.9, V::Up, 1.0),
            sc(0.9, V::Down, 1.0),
        ]),
    );
    assert_eq!(e.binding, Binding::Scenario(1));
}

// 20 ----------------------------------------------------------------------------------------

#[test]
fn item20_skew_scenarios_must_sit_at_one_and_appear_once() {
    for dir in [V::Linear, V::Abs] {
        let err = ScenarioList::new(vec![sc(1.0, V::Up, 1.0), sc(1.05, dir, 1.0)], &Limits::NONE)
            .expect_err("skew at s != 1");
        assert_eq!(
            err.to_string(),
            format!("invalid 'scenarios[1].spot_shock': a {} scenario must have spot_shock = 1, got 1.05", dir.name())
        );
        let err = ScenarioList::new(vec![sc(1.0, dir, 1.0), sc(1.0, dir, 2.0)], &Limits::NONE)
            .expect_err("two of a kind");
        assert!(err.to_string().contains("scenarios[1].vol_shock"), "{err}");
    }
    assert!(ScenarioList::new(vec![], &Limits::NONE).is_err());
    assert!(ScenarioList::new(vec![sc(0.0, V::Up, 1.0)], &Limits::NONE).is_err());
    assert!(ScenarioList::new(vec![sc(1.1, V::Up, -0.1)], &Limits::NONE).is_err());
    assert!(ScenarioList::new(vec![sc(f64::NAN, V::Up, 1.0)], &Limits::NONE).is_err());
    // Dampening 0, 1, 2, 3 accepted on skew scenarios.
    for d in [0.0, 1.0, 2.0, 3.0] {
        assert!(ScenarioList::new(
            vec![sc(1.0, V::Linear, d), sc(1.0, V::Abs, d)],
            &Limits::NONE
        )
        .is_ok());
    }
}

// Parameters, sets, caps, TOML ----------------------------------------------------------------

#[test]
fn named_sets_hold_the_table_values_and_default_lists() {
    let d = ParamSet::DeribitLike.params();
    let t = ParamSet::DeriveTest.params();
    assert_eq!(
        (d.vol_shock.vol_range_down, t.vol_shock.vol_range_down),
        (0.3, 0.275)
    );
    assert_eq!(
        (d.vol_shock.min_vol_up_shock, t.vol_shock.min_vol_up_shock),
        (0.4, 0.45)
    );
    assert_eq!(
        (
            d.margin.short_base_static_discount,
            d.margin.long_base_static_discount
        ),
        (0.95, 1.05)
    );
    assert_eq!(
        (
            t.margin.short_base_static_discount,
            t.margin.long_base_static_discount
        ),
        (1.04, 0.95)
    );
    assert_eq!(
        (d.margin.short_rate_add_scale, t.margin.short_rate_add_scale),
        (0.16, 0.08)
    );
    assert_eq!(
        (
            d.other_contingency.peg_loss_threshold,
            t.other_contingency.peg_loss_threshold
        ),
        (0.99, 0.98)
    );
    assert_eq!(
        (
            d.other_contingency.mm_perp_percent,
            t.other_contingency.mm_perp_percent
        ),
        (0.03, 0.015)
    );
    assert_eq!(
        (d.skew_shock.linear_c_base, t.skew_shock.linear_c_base),
        (-0.1, -0.05)
    );
    assert_eq!(
        (d.skew_shock.vol_param_scale, t.skew_shock.vol_param_scale),
        (0.0, -0.1)
    );
    d.validate().expect("deribit-like admissible");
    t.validate().expect("derive-test admissible");

    let dl = ScenarioList::default_for(ParamSet::DeribitLike);
    let dt = ScenarioList::default_for(ParamSet::DeriveTest);
    assert_eq!((dl.len(), dt.len()), (33, 31));
    let s = dl.as_slice();
    assert_eq!(s[0], sc(1.18, V::Up, 1.0));
    assert_eq!(
        (s[1].vol_shock, s[2].vol_shock, s[3].vol_shock),
        (V::Up, V::None, V::Down)
    );
    assert_eq!(s[22], sc(0.82, V::Up, 1.0));
    assert_eq!(s[23], sc(0.34, V::Up, 0.21));
    assert_eq!(s[30], sc(6.0, V::Up, 0.02772));
    assert_eq!((s[31].vol_shock, s[32].vol_shock), (V::Linear, V::Abs));
    let s = dt.as_slice();
    assert_eq!(
        (s[1].vol_shock, s[2].vol_shock, s[3].vol_shock),
        (V::Down, V::None, V::Up)
    );
    assert!((s[23].dampening - 0.036 / 0.66).abs() < 1e-15);
    assert_eq!(s[28].spot_shock, 4.0);
    // Tail rule: a delta-one position loses the same fraction in every tail.
    for sc in &dl.as_slice()[23..31] {
        assert!(((sc.spot_shock - 1.0).abs() * sc.dampening - 0.1386).abs() < 1e-12);
    }
}

#[test]
fn inadmissible_parameters_are_rejected_naming_the_key() {
    let mut p = ParamSet::DeribitLike.params();
    p.margin.mm_factor = 12.0;
    assert_eq!(
        p.validate().unwrap_err().to_string(),
        "invalid 'margin.mm_factor': must be in [0.1, 10], got 12"
    );
    // Every parameter: just outside its range is refused, the bounds are accepted.
    for spec in &pm::PARAM_SPECS {
        let mut p = ParamSet::DeriveTest.params();
        let (lo, hi, open) = match spec.admissible {
            pm::Admissible::Closed(lo, hi) => (lo, hi, false),
            pm::Admissible::Open(lo, hi) => (lo, hi, true),
        };
        for bad in [lo - 1e-3, hi + 1e-3, f64::NAN] {
            (spec.set)(&mut p, bad);
            let err = p.validate().expect_err(spec.key);
            assert!(err.to_string().contains(&spec.path()), "{err}");
        }
        for bound in [lo, hi] {
            (spec.set)(&mut p, bound);
            assert_eq!(p.validate().is_ok(), !open, "{} at {bound}", spec.path());
        }
    }
    assert_eq!(pm::PARAM_SPECS.len(), 34);
}

#[test]
fn toml_round_trips_overrides_and_errors() {
    for set in ParamSet::ALL {
        let text = pm::default_toml(set);
        let cfg = PmConfig::from_toml(&text).expect("default TOML parses");
        assert_eq!(cfg, PmConfig::from_set(set), "{}", set.name());
        for spec in &pm::PARAM_SPECS {
            assert!(
                text.contains(&format!("\n{} = ", spec.key)),
                "{} missing",
                spec.key
            );
            assert!(text.contains(spec.meaning), "{} meaning missing", spec.key);
        }
    }
    let cfg = PmConfig::from_toml(
        "set = \"derive-test\"\n[vol_shock]\nmin_vol_up_shock = 0.5\n[margin]\nim_factor = 2\n",
    )
    .expect("overrides");
    assert_eq!(cfg.params.vol_shock.min_vol_up_shock, 0.5);
    assert_eq!(cfg.params.margin.im_factor, 2.0);
    assert_eq!(cfg.params.vol_shock.vol_range_down, 0.275);
    assert_eq!(cfg.scenarios.len(), 31);
    let cfg = PmConfig::from_toml(
        "[[scenarios]]\nspot_shock = 1.18\nvol_shock = \"Up\"\ndampening = 1.0\n",
    )
    .expect("scenarios");
    assert_eq!(cfg.scenarios.as_slice(), &[sc(1.18, V::Up, 1.0)]);
    assert_eq!(cfg.params, ParamSet::DeribitLike.params());
    let err = |text: &str| PmConfig::from_toml(text).expect_err(text).to_string();
    assert_eq!(
        err("[margin]\nmm_factor = 12\n"),
        "invalid 'margin.mm_factor': must be in [0.1, 10], got 12"
    );
    assert!(err("[margin]\nmm_factr = 1\n").contains("margin.mm_factr"));
    assert!(err("[margin]\nmm_factor = \"high\"\n").contains("margin.mm_factor"));
    assert!(err("set = \"nope\"\n").contains("'set'"));
    assert!(
        err("[[scenarios]]\nspot_shock = 1.1\nvol_shock = \"Linear\"\ndampening = 1\n")
            .contains("scenarios[0].spot_shock")
    );
    assert!(
        err("[[scenarios]]\nspot_shock = 1.1\nvol_shock = \"Sideways\"\ndampening = 1\n")
            .contains("scenarios[0].vol_shock")
    );
    assert!(err("[[scenarios]]\nspot_shock = 1.1\nvol_shock = \"Up\"\n")
        .contains("scenarios[0].dampening"));
    assert!(err("bogus = 1\n").contains("bogus"));
    assert!(matches!(
        PmConfig::from_toml("[margin"),
        Err(PmError::Toml(_))
    ));
}

#[test]
fn deribit_like_profile_caps_scenarios_and_expiries() {
    let many: String = (0..41)
        .map(|i| {
            format!(
                "[[scenarios]]\nspot_shock = {}\nvol_shock = \"Up\"\ndampening = 1\n",
                1.0 + i as f64 / 100.0
            )
        })
        .collect();
    assert!(PmConfig::from_toml(&many)
        .unwrap_err()
        .to_string()
        .contains("at most 40"));
    assert!(PmConfig::from_toml(&format!("set = \"derive-test\"\n{many}")).is_ok());
    let expiries: Vec<ExpiryMarket> = (1..=31).map(|i| expiry(i * DAY, 100.0, 0.0)).collect();
    let options: Vec<PmOption> = (1..=31)
        .map(|i| opt(i * DAY, 100.0, true, 1.0, 0.5))
        .collect();
    let m = market(100.0, expiries);
    let a = account(options);
    let err = evaluate(&m, &a, &PmConfig::from_set(ParamSet::DeribitLike)).unwrap_err();
    assert!(err.to_string().contains("at most 30"), "{err}");
    assert!(evaluate(&m, &a, &PmConfig::from_set(ParamSet::DeriveTest)).is_ok());
}

// Inputs --------------------------------------------------------------------------------------

#[test]
fn bad_inputs_are_errors_naming_the_field() {
    let cfg = PmConfig::from_set(ParamSet::DeriveTest);
    let t = 30 * DAY;
    let m = market(100.0, vec![expiry(t, 100.0, 0.0)]);
    let err = evaluate(&m, &account(vec![opt(t + 1, 100.0, true, 1.0, 0.5)]), &cfg).unwrap_err();
    assert!(
        err.to_string()
            .contains("portfolio.options[0].sec_to_expiry"),
        "{err}"
    );
    let err = evaluate(&m, &account(vec![opt(t, -1.0, true, 1.0, 0.5)]), &cfg).unwrap_err();
    assert!(
        err.to_string().contains("portfolio.options[0].strike"),
        "{err}"
    );
    let err = evaluate(&m, &account(vec![opt(t, 100.0, true, 1.0, -0.5)]), &cfg).unwrap_err();
    assert!(
        err.to_string().contains("portfolio.options[0].mark_vol"),
        "{err}"
    );
    let mut bad = m.clone();
    bad.stable_price = 0.0;
    assert!(evaluate(&bad, &account(vec![]), &cfg)
        .unwrap_err()
        .to_string()
        .contains("market.stable_price"));
    let mut bad = m.clone();
    bad.underlying.expiries.push(expiry(t, 101.0, 0.0));
    assert!(evaluate(&bad, &account(vec![]), &cfg)
        .unwrap_err()
        .to_string()
        .contains("market.expiries[1].sec_to_expiry"));
    let mut bad = m.clone();
    bad.underlying.spot_confidence = 1.5;
    assert!(evaluate(&bad, &account(vec![]), &cfg)
        .unwrap_err()
        .to_string()
        .contains("market.spot_confidence"));
    let a = PmAccount {
        collaterals: vec![coll("X", 1.0, 1.0, 1.0, false, 0.7, 0.4)],
        ..PmAccount::default()
    };
    assert!(evaluate(&m, &a, &cfg)
        .unwrap_err()
        .to_string()
        .contains("portfolio.collaterals[0].im_haircut"));
    // An expiry nobody holds options in is ignored, even if it is odd.
    let mut extra = m.clone();
    extra.underlying.expiries.push(expiry(5, 1e6, -3.0));
    assert!(evaluate(&extra, &account(vec![opt(t, 100.0, true, 1.0, 0.5)]), &cfg).is_ok());
}

// Multi-underlying ----------------------------------------------------------------------------

fn book(
    name: &str,
    spot: f64,
    spot_conf: f64,
    options: Vec<PmOption>,
    expiries: Vec<ExpiryMarket>,
) -> UnderlyingBook {
    UnderlyingBook {
        name: name.into(),
        market: UnderlyingMarket {
            spot,
            spot_confidence: spot_conf,
            perp_price: spot,
            perp_confidence: 1.0,
            expiries,
        },
        perp_position: 0.0,
        perp_unrealised_pnl: 0.0,
        perp_unrealised_funding: 0.0,
        options,
    }
}

#[test]
fn multi_underlying_sums_requirements_and_counts_collateral_once() {
    let t = 30 * DAY;
    let cfg = PmConfig::from_set(ParamSet::DeriveTest);
    let btc = book(
        "BTC",
        95_000.0,
        1.0,
        vec![opt(t, 100_000.0, true, -1.0, 0.5)],
        vec![expiry(t, 95_300.0, 0.05)],
    );
    let mut eth = book(
        "ETH",
        3_500.0,
        0.5,
        vec![opt(t, 3_000.0, false, -10.0, 0.7)],
        vec![expiry(t, 3_510.0, 0.05)],
    );
    eth.perp_position = 4.0;
    eth.perp_unrealised_pnl = 12.0;
    let wbtc = coll("WBTC", 0.5, 95_000.0, 0.4, true, 0.02, 0.01);
    let usdt = coll("USDT", 1000.0, 1.0, 1.0, false, 0.05, 0.0);
    let account = MultiAccount {
        stable_price: 0.97,
        cash: 5_000.0,
        books: vec![btc.clone(), eth.clone()],
        collaterals: vec![
            HeldCollateral {
                collateral: wbtc.clone(),
                offsets: Some(0),
            },
            HeldCollateral {
                collateral: usdt.clone(),
                offsets: None,
            },
        ],
    };
    let e = evaluate_account(&account, &cfg).expect("multi");
    assert_eq!(e.underlyings.len(), 2);
    // Each underlying on its own (single-underlying evaluation, collateral only where it moves).
    let single = |b: &UnderlyingBook, colls: Vec<Collateral>| {
        let m = PmMarket {
            stable_price: 0.97,
            underlying: b.market.clone(),
        };
        let a = PmAccount {
            cash: 0.0,
            perp_position: b.perp_position,
            perp_unrealised_pnl: b.perp_unrealised_pnl,
            perp_unrealised_funding: b.perp_unrealised_funding,
            options: b.options.clone(),
            collaterals: colls,
        };
        run(&m, &a, &cfg)
    };
    let s_btc = single(&btc, vec![wbtc.clone()]);
    let s_eth = single(&eth, vec![]);
    assert_eq!(e.underlyings[0].scenario_pnl, s_btc.scenario_pnl);
    assert_eq!(e.underlyings[1].scenario_pnl, s_eth.scenario_pnl);
    assert_close(e.underlyings[0].worst_loss, s_btc.worst_loss);
    assert_close(e.underlyings[1].worst_loss, s_eth.worst_loss);
    // Requirements add up, no diversification; collateral haircuts and confidence once.
    let v_w = 0.5 * 95_000.0 / 0.97;
    let v_u = 1000.0 / 0.97;
    let c = &e.contingencies;
    assert_close(c.mm_collateral, v_w * 0.02 + v_u * 0.05);
    // WBTC pairs with BTC's spot confidence (1) → own 0.4; USDT with the lowest spot (0.5) → 0.5.
    assert_close(c.conf_collateral, 0.6 * v_w + 0.5 * v_u);
    let mm = 0.8 * -(s_btc.worst_loss + s_eth.worst_loss)
        + s_btc.contingencies.mm_perp
        + s_btc.contingencies.mm_option
        + s_eth.contingencies.mm_perp
        + s_eth.contingencies.mm_option
        + c.mm_collateral;
    assert!(close(e.report.maintenance_margin, mm, 1e-12));
    let equity = 5_000.0 + s_btc.option_mtm + s_eth.option_mtm + 12.0 + v_w + v_u;
    assert_close(e.report.equity, equity);
    assert_close(e.mm_surplus, equity - mm);
    // One book = the single-underlying evaluation exactly.
    let one = MultiAccount::single(
        &PmMarket {
            stable_price: 0.97,
            underlying: btc.market.clone(),
        },
        &PmAccount {
            cash: 5.0,
            options: btc.options.clone(),
            collaterals: vec![wbtc.clone()],
            ..PmAccount::default()
        },
    );
    let multi_one = evaluate_account(&one, &cfg).expect("one book");
    let s = run(
        &PmMarket {
            stable_price: 0.97,
            underlying: btc.market.clone(),
        },
        &PmAccount {
            cash: 5.0,
            options: btc.options.clone(),
            collaterals: vec![wbtc],
            ..PmAccount::default()
        },
        &cfg,
    );
    assert_eq!(multi_one.mm_surplus, s.mm_surplus);
    assert_eq!(multi_one.im_surplus, s.im_surplus);
    // Risk-cancelling collateral must say which underlying it offsets.
    let mut bad = account.clone();
    bad.collaterals[0].offsets = None;
    assert!(evaluate_account(&bad, &cfg)
        .unwrap_err()
        .to_string()
        .contains("collaterals[0].offsets"));
}

#[test]
fn report_components_are_non_negative_and_sum_to_the_totals() {
    let t = 7 * DAY;
    let mut m = market(100.0, vec![expiry(t, 100.2, 0.05)]);
    m.stable_price = 0.9;
    m.underlying.perp_price = 100.5;
    m.underlying.perp_confidence = 0.3;
    let a = PmAccount {
        cash: 100.0,
        perp_position: -1.0,
        options: vec![opt(t, 90.0, false, -3.0, 0.8)],
        collaterals: vec![coll("BTC", 1.0, 100.0, 0.2, true, 0.1, 0.2)],
        ..PmAccount::default()
    };
    for cfg in [
        PmConfig::from_set(ParamSet::DeriveTest),
        PmConfig::from_set(ParamSet::DeribitLike),
    ] {
        let e = run(&m, &a, &cfg);
        let r = &e.report;
        let mm = &r.components;
        let im = &r.im_components;
        let mm_parts = [
            mm.scenario_loss,
            mm.basis,
            mm.option_contingency,
            mm.perp_contingency,
            mm.collateral_haircut,
        ];
        let im_parts = [
            im.scenario_loss,
            im.basis,
            im.peg,
            im.option_contingency,
            im.perp_contingency,
            im.collateral_haircut,
            im.confidence,
        ];
        assert!(mm_parts.iter().chain(&im_parts).all(|x| *x >= 0.0));
        assert!(im.peg > 0.0 && im.confidence > 0.0 && mm.collateral_haircut > 0.0);
        assert!(close(mm_parts.iter().sum(), r.maintenance_margin, 1e-12));
        assert!(close(im_parts.iter().sum(), r.initial_margin, 1e-12));
        assert!(close(r.equity - e.mm_surplus, r.maintenance_margin, 1e-12));
        assert!(close(r.equity - e.im_surplus, r.initial_margin, 1e-12));
    }
}

/// A stand-in for the batch engine's instrument × scenario table: per-option unit values
/// looked up from a precomputed list, summed per expiry.
struct TableSource {
    /// (sec_to_expiry, strike, kind, shock index) → unit value; shock 0 = mark, 1/2 = basis,
    /// 3.. = scenarios.
    rows: Vec<(u64, u64, OptionKind, usize, f64)>,
    truncate: bool,
}

impl pm::ExpiryValueSource for TableSource {
    fn expiry_values(
        &self,
        _book: usize,
        context: &ExpiryContext,
        options: &[&PmOption],
        _params: &PmParams,
        scenarios: &[Scenario],
    ) -> Result<pm::ExpiryValues, PmError> {
        let column = |shock: usize| {
            options
                .iter()
                .map(|o| {
                    let unit = self
                        .rows
                        .iter()
                        .find(|r| {
                            r.0 == context.sec_to_expiry
                                && r.1 == o.strike.to_bits()
                                && r.2 == o.kind
                                && r.3 == shock
                        })
                        .map(|r| r.4)
                        .expect("row in table");
                    o.amount * unit
                })
                .sum::<f64>()
        };
        let n = if self.truncate {
            scenarios.len() - 1
        } else {
            scenarios.len()
        };
        Ok(pm::ExpiryValues {
            mark: column(0),
            basis_up: column(1),
            basis_down: column(2),
            scenarios: (0..n).map(|j| column(3 + j)).collect(),
        })
    }
}

#[test]
fn aggregation_accepts_values_from_an_instrument_scenario_table() {
    let (t1, t2) = (7 * DAY, 60 * DAY);
    let m = market(
        100.0,
        vec![expiry(t1, 100.2, 0.03), expiry(t2, 101.0, 0.05)],
    );
    let a = PmAccount {
        cash: 20.0,
        options: vec![
            opt(t1, 105.0, true, -2.0, 0.6),
            opt(t1, 95.0, false, 1.0, 0.65),
            opt(t2, 110.0, true, -1.0, 0.55),
        ],
        ..PmAccount::default()
    };
    let cfg = PmConfig::from_set(ParamSet::DeriveTest);
    let params = cfg.params;
    // Build the table once: every listed instrument under every shock.
    let mut rows = Vec::new();
    for o in &a.options {
        let mk = m
            .underlying
            .expiries
            .iter()
            .find(|e| e.sec_to_expiry == o.sec_to_expiry)
            .expect("expiry");
        let ctx = ExpiryContext::new(mk, &params);
        let mut shocks = vec![
            Shock::Mark,
            Shock::Spot {
                spot_shock: params.basis_contingency.scenario_spot_up,
                vol: V::None,
            },
            Shock::Spot {
                spot_shock: params.basis_contingency.scenario_spot_down,
                vol: V::None,
            },
        ];
        shocks.extend(cfg.scenarios.as_slice().iter().map(Shock::of_scenario));
        for (i, shock) in shocks.into_iter().enumerate() {
            let v = option_unit_value(&ctx, o, shock).expect("unit value");
            rows.push((o.sec_to_expiry, o.strike.to_bits(), o.kind, i, v));
        }
    }
    let multi = MultiAccount::single(&m, &a);
    let direct = evaluate_account(&multi, &cfg).expect("priced");
    let table = TableSource {
        rows,
        truncate: false,
    };
    let fed = pm::evaluate_account_with(&multi, &cfg, &table).expect("fed");
    assert_eq!(fed, direct);
    let short = TableSource {
        truncate: true,
        ..table
    };
    assert!(pm::evaluate_account_with(&multi, &cfg, &short).is_err());
}
