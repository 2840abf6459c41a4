//! The integer math against 50-digit mpmath references (scripts/verify_fixed_reference.py
//! vectors) within the bounds stated in `fixed.rs`, and against f64 by property tests.

use ale_verify::fixed::{Ctx, OptionInputs, ONE, SCALE};
use proptest::prelude::*;

const DATA: &str = include_str!("data/fixed_reference.txt");

fn ints(parts: &[&str]) -> Vec<i128> {
    parts.iter().map(|p| p.parse::<i128>().unwrap()).collect()
}

/// |got − want| in ulps (1e-18).
fn diff(got: i128, want: i128) -> u128 {
    got.abs_diff(want)
}

#[test]
fn every_function_within_its_stated_bound_of_mpmath() {
    let mut c = Ctx::new();
    let mut counts = std::collections::BTreeMap::<&str, (usize, f64, u128)>::new();
    for line in DATA
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let name = parts[0];
        let v = ints(&parts[1..]);
        let (got, want, bound): (i128, i128, u128) = match name {
            // ≤ 1e-16·e^x + 2e-18
            "exp" => (c.exp(v[0]).unwrap(), v[1], (v[1] / 10_000) as u128 + 2),
            // abs ≤ 1e-16
            "ln" => (c.ln(v[0]).unwrap(), v[1], 100),
            // ≤ 1e-18 + 1e-18·√x
            "sqrt" => (c.sqrt(v[0]).unwrap(), v[1], 1 + (v[1] / SCALE) as u128 + 1),
            // abs ≤ 5e-17
            "ncdf" => (c.ncdf(v[0]).unwrap(), v[1], 50),
            // ≤ 1e-15·(F + K) + 1e-17
            "black76" => {
                let o = OptionInputs {
                    call: v[0] == 1,
                    forward: v[1],
                    strike: v[2],
                    expiry_years: v[3],
                    vol: v[4],
                    discount: c.exp(-(v[5] * v[3] / SCALE)).unwrap(),
                };
                // The discount is computed here from a rounded r·T: include its own error.
                let got = c.black76(&o, false).unwrap().price;
                (got, v[6], ((v[1] + v[2]) / 1_000) as u128 + 10)
            }
            other => panic!("unknown function {other}"),
        };
        let d = diff(got, want);
        assert!(
            d <= bound,
            "{line}: got {got}, error {d} ulp > bound {bound} ulp"
        );
        let e = counts.entry(name).or_default();
        e.0 += 1;
        e.1 = e.1.max(d as f64 / bound.max(1) as f64);
        e.2 = e.2.max(d);
    }
    for (name, (n, worst, ulp)) in &counts {
        eprintln!("{name}: {n} cases, worst error {worst:.3} of the stated bound, {ulp} ulp (1e-18) absolute");
    }
    assert_eq!(counts.len(), 5, "every function has reference cases");
    assert!(counts.values().all(|(n, _, _)| *n > 100));
}

fn to_fx(x: f64) -> i128 {
    (x * 1e18).round() as i128
}
fn to_f64(x: i128) -> f64 {
    x as f64 / 1e18
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn exp_matches_f64(x in -41.0f64..45.0) {
        let mut c = Ctx::new();
        let xf = to_fx(x);
        let got = to_f64(c.exp(xf).unwrap());
        let want = to_f64(xf).exp();
        prop_assert!((got - want).abs() <= 1e-14 * want + 1e-17, "{x}: {got} vs {want}");
    }

    #[test]
    fn ln_matches_f64(x in 1e-17f64..1e19) {
        let mut c = Ctx::new();
        let xf = to_fx(x);
        prop_assume!(xf > 0);
        let got = to_f64(c.ln(xf).unwrap());
        let want = to_f64(xf).ln();
        prop_assert!((got - want).abs() <= 1e-13 * want.abs().max(1.0), "{x}: {got} vs {want}");
    }

    #[test]
    fn sqrt_matches_f64(x in 0.0f64..1e20) {
        let mut c = Ctx::new();
        let xf = to_fx(x);
        let got = to_f64(c.sqrt(xf).unwrap());
        let want = to_f64(xf).sqrt();
        prop_assert!((got - want).abs() <= 1e-14 * want + 1e-17, "{x}: {got} vs {want}");
    }

    #[test]
    fn ncdf_is_monotone_and_symmetric(x in -10.0f64..10.0, dx in 1e-9f64..0.1) {
        let mut c = Ctx::new();
        let a = c.ncdf(to_fx(x)).unwrap();
        let b = c.ncdf(to_fx(x + dx)).unwrap();
        prop_assert!(b + 40 >= a, "monotone within rounding");
        let n = c.ncdf(-to_fx(x)).unwrap();
        prop_assert!((a + n - ONE).abs() <= 100);
    }

    #[test]
    fn black76_matches_the_f64_pricer(
        call in any::<bool>(),
        f in 10.0f64..200_000.0,
        m in -1.0f64..1.0,
        t in 0.001f64..3.0,
        vol in 0.05f64..2.5,
        r in -0.02f64..0.1,
    ) {
        let k = f * m.exp();
        let kind = if call { ale_core::OptionKind::Call } else { ale_core::OptionKind::Put };
        let want = ale_pricing::Black76::new(kind, f, k, t, vol, r).unwrap().price();
        let mut c = Ctx::new();
        let d = c.exp(-to_fx(r * t)).unwrap();
        let got = c.black76(&OptionInputs {
            call, forward: to_fx(f), strike: to_fx(k), expiry_years: to_fx(t), vol: to_fx(vol), discount: d,
        }, false).unwrap().price;
        prop_assert!((to_f64(got) - want).abs() <= 1e-10 * (f + k), "{got} vs {want}");
    }

    /// The delta `ramm`'s stage 2 reads (discounted, ∂V/∂F) against the f64 pricer, within
    /// the verifier's budget ERR_DELTA·(1 + φ(d1)/(σ√T)), φ(d1)/(σ√T) = Γ_F·F/D — the f64
    /// reference's own error is of the same order as the integer one (1e-16/(σ√T)), far inside
    /// the budget; expiries down to five minutes, where 1/(σ√T) is large.
    #[test]
    fn black76_delta_within_the_stage_2_budget(
        call in any::<bool>(),
        f in 10.0f64..200_000.0,
        m in -1.0f64..1.0,
        t in 1e-5f64..3.0,
        vol in 0.05f64..2.5,
        r in -0.02f64..0.1,
    ) {
        let k = f * m.exp();
        let kind = if call { ale_core::OptionKind::Call } else { ale_core::OptionKind::Put };
        let want = ale_pricing::Black76::new(kind, f, k, t, vol, r).unwrap().greeks().delta;
        let mut c = Ctx::new();
        let d = c.exp(-to_fx(r * t)).unwrap();
        let v = c.black76(&OptionInputs {
            call, forward: to_fx(f), strike: to_fx(k), expiry_years: to_fx(t), vol: to_fx(vol), discount: d,
        }, true).unwrap();
        let curv = to_f64(v.gamma) * f / to_f64(d);
        let budget = to_f64(ale_verify::eval::ERR_DELTA) * (1.0 + curv);
        prop_assert!(
            (to_f64(v.delta) - want).abs() <= budget,
            "{} vs {want} (budget {budget})", to_f64(v.delta)
        );
    }
}
