//! Properties of the pricer over wide and extreme inputs (proptest), central finite differences
//! of the price for every Greek, and the implied-vol round trip.

use ale_pricing::batch::{self, Options};
use ale_pricing::{implied_vol, Black76, Greeks, ImpliedVolError, Indeterminacy, OptionKind};
use proptest::prelude::*;

const MINUTE: f64 = 1.0 / (365.0 * 24.0 * 60.0);

fn all(g: &Greeks) -> [(&'static str, f64); 7] {
    [
        ("price", g.price),
        ("delta", g.delta),
        ("gamma", g.gamma),
        ("vega", g.vega),
        ("theta", g.theta),
        ("vanna", g.vanna),
        ("volga", g.volga),
    ]
}

fn kind_strategy() -> impl Strategy<Value = OptionKind> {
    prop_oneof![Just(OptionKind::Call), Just(OptionKind::Put)]
}

fn log_uniform(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    (lo.ln()..hi.ln()).prop_map(f64::exp)
}

/// t from one minute to 5 years, or exactly 0.
fn expiry_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![9 => log_uniform(MINUTE, 5.0), 1 => Just(0.0)]
}

/// vol from 1 % to 500 %, or exactly 0.
fn vol_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![9 => log_uniform(0.01, 5.0), 1 => Just(0.0)]
}

/// (forward, strike) with strike from 0.05·F to 20·F, sometimes exactly at the money.
fn forward_strike_strategy() -> impl Strategy<Value = (f64, f64)> {
    (
        log_uniform(1e-4, 1e7),
        prop_oneof![9 => log_uniform(0.05, 20.0), 1 => Just(1.0)],
    )
        .prop_map(|(f, m)| (f, f * m))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn outputs_are_finite_bounded_and_consistent(
        kind in kind_strategy(),
        (forward, strike) in forward_strike_strategy(),
        t in expiry_strategy(),
        vol in vol_strategy(),
        rate in -0.2f64..0.3,
    ) {
        let o = Black76::new(kind, forward, strike, t, vol, rate).unwrap();
        let g = o.greeks();
        for (name, v) in all(&g) {
            prop_assert!(v.is_finite(), "{name} = {v} for {o:?}");
        }
        prop_assert_eq!(g.price.to_bits(), o.price().to_bits());
        // intrinsic ≤ price ≤ bound, discounted (up to the ulps of this test's own e^(−R·T),
        // which may differ from the crate's by one)
        let d = (-rate * t).exp();
        let ulps = 1.0 + 4.0 * f64::EPSILON;
        let intrinsic = d * (kind.sign() * (forward - strike)).max(0.0);
        let bound = d * if kind.is_call() { forward } else { strike };
        prop_assert!(g.price * ulps >= intrinsic && g.price <= bound * ulps, "{o:?}: {} not in [{intrinsic}, {bound}]", g.price);
        prop_assert!(g.gamma >= 0.0 && g.vega >= 0.0, "{o:?}: {g:?}");
        // put-call parity on price and delta; the other Greeks are equal for a call and a put
        let other = Black76 { kind: match kind { OptionKind::Call => OptionKind::Put, OptionKind::Put => OptionKind::Call }, ..o };
        let h = other.greeks();
        let (c, p) = if kind.is_call() { (g, h) } else { (h, g) };
        let scale = d * forward.max(strike);
        prop_assert!((c.price - p.price - d * (forward - strike)).abs() <= 4.0 * f64::EPSILON * scale,
            "parity {o:?}: C {} P {}", c.price, p.price);
        prop_assert!((c.delta - p.delta - d).abs() <= 4.0 * f64::EPSILON * d, "delta parity {o:?}");
        for (name, a, b) in [("gamma", c.gamma, p.gamma), ("vega", c.vega, p.vega), ("vanna", c.vanna, p.vanna), ("volga", c.volga, p.volga)] {
            prop_assert_eq!(a.to_bits(), b.to_bits(), "{} differs for call and put", name);
        }
        prop_assert!((c.theta - p.theta - rate * d * (forward - strike)).abs() <= 1e-13 * (scale + c.theta.abs()), "theta parity {o:?}");
        // delta within [0, D] for a call, [−D, 0] for a put
        prop_assert!(c.delta >= 0.0 && c.delta <= d * ulps && p.delta <= 0.0 && p.delta >= -d * ulps, "{o:?}");
    }

    #[test]
    fn the_whole_domain_gives_finite_outputs(
        kind in kind_strategy(),
        forward in log_uniform(1e-100, 1e100),
        strike in log_uniform(1e-100, 1e100),
        t in prop_oneof![log_uniform(1e-300, 100.0), Just(0.0), Just(100.0)],
        vol in prop_oneof![log_uniform(1e-300, 100.0), Just(0.0), Just(100.0)],
        rate in -1.0f64..=1.0,
    ) {
        let g = Black76::new(kind, forward, strike, t, vol, rate).unwrap().greeks();
        for (name, v) in all(&g) {
            prop_assert!(v.is_finite(), "{name} = {v}");
        }
        prop_assert!(g.gamma >= 0.0 && g.vega >= 0.0);
    }

    #[test]
    fn batch_prices_and_greeks_are_the_scalar_ones_bit_for_bit(
        rows in proptest::collection::vec((
            kind_strategy(),
            prop_oneof![log_uniform(1e-100, 1e100), log_uniform(1e-3, 1e6)],
            prop_oneof![log_uniform(1e-100, 1e100), log_uniform(0.05, 20.0)],
            prop_oneof![log_uniform(1e-300, 100.0), log_uniform(MINUTE, 5.0), Just(0.0)],
            prop_oneof![log_uniform(1e-300, 100.0), log_uniform(0.01, 5.0), Just(0.0)],
            -1.0f64..=1.0,
        ), 0..23),
        same_strike in any::<bool>(),
    ) {
        // the vector path takes groups of four, the scalar kernel the rest
        let kind: Vec<_> = rows.iter().map(|r| r.0).collect();
        let forward: Vec<_> = rows.iter().map(|r| r.1).collect();
        let strike: Vec<_> = rows.iter().map(|r| if same_strike { r.1 } else if r.2 < 1e3 && r.2 > 1e-2 { r.1 * r.2 } else { r.2 }).collect();
        let strike: Vec<_> = strike.iter().map(|k| k.clamp(1e-100, 1e100)).collect();
        let t: Vec<_> = rows.iter().map(|r| r.3).collect();
        let vol: Vec<_> = rows.iter().map(|r| r.4).collect();
        let rate: Vec<_> = rows.iter().map(|r| r.5).collect();
        let options = Options { kind: &kind, forward: &forward, strike: &strike, expiry_years: &t, vol: &vol, rate: &rate };
        let mut out = vec![f64::NAN; rows.len()];
        batch::price(&options, &mut out).unwrap();
        let mut cols = vec![vec![f64::NAN; rows.len()]; 7];
        {
            let [p, d, g, v, th, va, vo] = &mut cols[..] else { unreachable!() };
            let mut greeks_out = batch::GreeksOut { price: p, delta: d, gamma: g, vega: v, theta: th, vanna: va, volga: vo };
            batch::price_greeks(&options, &mut greeks_out).unwrap();
        }
        for i in 0..rows.len() {
            let o = Black76::new(kind[i], forward[i], strike[i], t[i], vol[i], rate[i]).unwrap();
            prop_assert_eq!(out[i].to_bits(), o.price().to_bits(), "row {}: {:?}", i, o);
            for (j, (name, value)) in all(&o.greeks()).into_iter().enumerate() {
                prop_assert_eq!(cols[j][i].to_bits(), value.to_bits(), "{} row {}: {:?}", name, i, o);
            }
        }
        if let Some(first) = rows.first() {
            let mut scen = vec![f64::NAN; rows.len()];
            batch::price_scenarios(first.0, strike[0], t[0], rate[0], &forward, &vol, &mut scen).unwrap();
            for i in 0..rows.len() {
                let scalar = Black76::new(first.0, forward[i], strike[0], t[0], vol[i], rate[0]).unwrap().price();
                prop_assert_eq!(scen[i].to_bits(), scalar.to_bits(), "scenario {}", i);
            }
        }
    }

    #[test]
    fn out_of_domain_inputs_are_typed_errors_never_panics(
        values in proptest::collection::vec(prop_oneof![
            Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(-1.0), Just(0.0),
            Just(1e-200), Just(1e200), any::<f64>(), 0.0f64..2.0,
        ], 6),
    ) {
        let r = Black76::new(OptionKind::Call, values[0], values[1], values[2], values[3], values[4]);
        if let Ok(o) = r {
            for (name, v) in all(&o.greeks()) {
                prop_assert!(v.is_finite(), "{name}");
            }
        } else {
            let msg = r.unwrap_err().to_string();
            prop_assert!(msg.starts_with("invalid '"), "{msg}");
        }
        match implied_vol(OptionKind::Put, values[0], values[1], values[2], values[5], values[4]) {
            Ok(v) => prop_assert!(v.is_finite() && v > 0.0),
            Err(e) => prop_assert!(e.to_string().starts_with("invalid '"), "{e}"),
        }
    }
}

/// Central finite differences of the price (first derivatives) and of the analytic first
/// derivatives (second derivatives), plus second differences of the price itself for gamma and
/// volga at a looser tolerance.
#[test]
fn greeks_match_central_finite_differences_of_the_price() {
    let mut checked = 0;
    for kind in [OptionKind::Call, OptionKind::Put] {
        for strike in [50.0, 80.0, 97.0, 100.0, 120.0, 200.0] {
            for t in [0.02, 0.25, 1.0, 3.0] {
                for vol in [0.15, 0.6, 1.5] {
                    for rate in [-0.01, 0.05] {
                        let o = Black76::new(kind, 100.0, strike, t, vol, rate).unwrap();
                        let g = o.greeks();
                        if g.vega < 1e-4 {
                            continue; // the price is nearly intrinsic: differences measure noise
                        }
                        let at = |f: f64, tt: f64, v: f64| Black76 {
                            forward: f,
                            expiry_years: tt,
                            vol: v,
                            ..o
                        };
                        let (hf, ht, hv) = (1e-4 * 100.0, 1e-4 * t, 1e-4 * vol);
                        // central difference with one Richardson step: truncation O(h⁴)
                        let diff = |f: &dyn Fn(f64) -> f64, h: f64| {
                            let c = |h: f64| (f(h) - f(-h)) / (2.0 * h);
                            (4.0 * c(0.5 * h) - c(h)) / 3.0
                        };
                        let checks = [
                            (
                                "delta",
                                g.delta,
                                diff(&|e| at(100.0 + e, t, vol).price(), hf),
                                1.0,
                            ),
                            (
                                "vega",
                                g.vega,
                                diff(&|e| at(100.0, t, vol + e).price(), hv),
                                100.0,
                            ),
                            (
                                "theta",
                                g.theta,
                                -diff(&|e| at(100.0, t + e, vol).price(), ht),
                                100.0,
                            ),
                            (
                                "gamma",
                                g.gamma,
                                diff(&|e| at(100.0 + e, t, vol).greeks().delta, hf),
                                0.01,
                            ),
                            (
                                "vanna",
                                g.vanna,
                                diff(&|e| at(100.0, t, vol + e).greeks().delta, hv),
                                1.0,
                            ),
                            (
                                "volga",
                                g.volga,
                                diff(&|e| at(100.0, t, vol + e).greeks().vega, hv),
                                100.0,
                            ),
                        ];
                        for (name, analytic, numeric, scale) in checks {
                            let err = (analytic - numeric).abs() / (analytic.abs() + 1e-6 * scale);
                            assert!(
                                err < 1e-6,
                                "{name} {o:?}: {analytic} vs {numeric} ({err:e})"
                            );
                        }
                        // second differences of the price itself, with one Richardson step
                        let (hf2, hv2) = (1e-3 * 100.0, 1e-3 * vol);
                        let richardson =
                            |c: &dyn Fn(f64) -> f64, h: f64| (4.0 * c(0.5 * h) - c(h)) / 3.0;
                        let p = |df: f64, dv: f64| at(100.0 + df, t, vol + dv).price();
                        let gamma_fd = richardson(
                            &|h| (p(h, 0.0) - 2.0 * g.price + p(-h, 0.0)) / (h * h),
                            hf2,
                        );
                        let volga_fd = richardson(
                            &|h| (p(0.0, h) - 2.0 * g.price + p(0.0, -h)) / (h * h),
                            hv2,
                        );
                        let vanna_fd = richardson(
                            &|s| {
                                let (a, b) = (s * hf2, s * hv2);
                                (p(a, b) - p(a, -b) - p(-a, b) + p(-a, -b)) / (4.0 * a * b)
                            },
                            1.0,
                        );
                        for (name, analytic, numeric, scale) in [
                            ("gamma", g.gamma, gamma_fd, 0.01),
                            ("volga", g.volga, volga_fd, 100.0),
                            ("vanna", g.vanna, vanna_fd, 1.0),
                        ] {
                            let err = (analytic - numeric).abs() / (analytic.abs() + 1e-4 * scale);
                            assert!(err < 1e-4, "{name} (second difference) {o:?}: {analytic} vs {numeric} ({err:e})");
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 200, "only {checked} points checked");
}

/// vol → price → vol over strikes 0.5–2·F, expiries 1 day–2 years, vols 10 %–300 %.
///
/// Where one ulp of the price moves the vol by less than 1e-14 relative (`ε·price/(σ·vega)`),
/// the vol must come back within 1e-12 relative. Elsewhere (deep in the money at short
/// expiries and low vols) the price does not carry the vol to 1e-12: the inverse must then
/// either be an `Indeterminate` error or a vol that reprices to within a few ulps.
#[test]
fn implied_vol_round_trip() {
    let (mut informative, mut uninformative, mut indeterminate) = (0, 0, 0);
    let mut worst = 0.0f64;
    for kind in [OptionKind::Call, OptionKind::Put] {
        for m in [0.5, 0.6, 0.75, 0.9, 0.97, 1.0, 1.03, 1.1, 1.3, 1.6, 2.0] {
            for days in [1.0, 7.0, 30.0, 91.0, 182.0, 365.0, 730.0] {
                for vol in [0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.0, 3.0] {
                    for rate in [0.0, 0.05] {
                        let (f, k, t) = (3500.0, 3500.0 * m, days / 365.0);
                        let o = Black76::new(kind, f, k, t, vol, rate).unwrap();
                        let g = o.greeks();
                        let information = f64::EPSILON * g.price / (vol * g.vega);
                        // NaN (a zero price and vega) counts as uninformative
                        let informative_price = information <= 1e-14;
                        match implied_vol(kind, f, k, t, g.price, rate) {
                            Ok(v) if informative_price => {
                                let rel = (v / vol - 1.0).abs();
                                worst = worst.max(rel);
                                assert!(rel <= 1e-12, "{o:?}: vol {v} ({rel:e})");
                                informative += 1;
                            }
                            Ok(v) => {
                                let p = Black76 { vol: v, ..o }.price();
                                assert!(
                                    (p - g.price).abs() <= 8.0 * f64::EPSILON * g.price,
                                    "{o:?}: {v} reprices to {p}"
                                );
                                uninformative += 1;
                            }
                            Err(ImpliedVolError::Indeterminate {
                                reason: Indeterminacy::NoTimeValue,
                                ..
                            }) if !informative_price => {
                                indeterminate += 1;
                            }
                            Err(e) => panic!("{o:?}: {e}"),
                        }
                    }
                }
            }
        }
    }
    eprintln!("round trip: {informative} within 1e-12 (worst {worst:e}), {uninformative} uninformative but repricing, {indeterminate} indeterminate");
    assert!(informative > 2000);
}
