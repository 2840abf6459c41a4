//! Integration tests of `ale-surface`: fit recovery, arbitrage flags, price round trips,
//! degenerate input, shocks.

use ale_surface::*;

/// A small deterministic generator (SplitMix64) for noise, so runs replay exactly.
struct SplitMix(u64);
impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal by Box–Muller.
    fn normal(&mut self) -> f64 {
        let u = self.next_f64().max(1e-300);
        let v = self.next_f64();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn strikes_grid(n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n)
        .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
        .collect()
}

/// Typical crypto smiles: (expiry, params).
fn known_smiles() -> Vec<(f64, SviParams)> {
    vec![
        (
            0.05,
            SviParams::new(0.002, 0.04, -0.25, 0.01, 0.06).unwrap(),
        ),
        (0.25, SviParams::new(0.02, 0.12, -0.35, 0.03, 0.15).unwrap()),
        (1.0, SviParams::new(0.12, 0.25, -0.3, 0.05, 0.35).unwrap()),
    ]
}

mod fit_recovery {
    use super::*;

    #[test]
    fn exact_quotes_give_back_the_parameters() {
        for (t, p) in known_smiles() {
            let sd = (p.total_variance(0.0)).sqrt();
            let k = strikes_grid(25, -3.0 * sd, 3.0 * sd);
            let vols: Vec<f64> = k
                .iter()
                .map(|&x| (p.total_variance(x) / t).sqrt())
                .collect();
            let fit = fit_smile(t, &k, &vols, None, &FitConfig::default()).unwrap();
            assert!(fit.max_error_vol < 1e-6, "T={t}: {fit:?}");
            let q = fit.svi;
            for (got, want, name) in [
                (q.a, p.a, "a"),
                (q.b, p.b, "b"),
                (q.rho, p.rho, "rho"),
                (q.m, p.m, "m"),
                (q.sigma, p.sigma, "sigma"),
            ] {
                assert!(
                    (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "T={t} {name}: got {got}, want {want}"
                );
            }
        }
    }

    #[test]
    fn noisy_quotes_fit_within_the_noise() {
        let mut rng = SplitMix(7);
        for (t, p) in known_smiles() {
            let sd = (p.total_variance(0.0)).sqrt();
            let k = strikes_grid(30, -3.0 * sd, 3.0 * sd);
            let noise = 0.002; // 0.2 vol point
            let clean: Vec<f64> = k
                .iter()
                .map(|&x| (p.total_variance(x) / t).sqrt())
                .collect();
            let vols: Vec<f64> = clean.iter().map(|v| v + noise * rng.normal()).collect();
            let fit = fit_smile(
                t,
                &k,
                &vols,
                Some(&vec![1.0; k.len()]),
                &FitConfig::default(),
            )
            .unwrap();
            // The fit cannot be much worse than the truth on the noisy data ...
            let rmse_truth = (clean
                .iter()
                .zip(&vols)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                / k.len() as f64)
                .sqrt();
            assert!(
                fit.rmse_vol <= rmse_truth * 1.0001,
                "{} vs {rmse_truth}",
                fit.rmse_vol
            );
            // ... and stays close to the true smile everywhere quoted.
            for (&x, &v) in k.iter().zip(&clean) {
                let got = (fit.svi.total_variance(x) / t).sqrt();
                assert!((got - v).abs() < 4.0 * noise, "T={t} k={x}: {got} vs {v}");
            }
        }
    }

    #[test]
    fn weights_follow_spreads_or_vega() {
        let t = 0.25;
        let p = known_smiles()[1].1;
        let curve = ForwardCurve::new(100.0, 0.0, &[(t, 100.0)]).unwrap();
        let strikes = [80.0, 90.0, 100.0, 110.0, 125.0];
        let vol_at = |s: f64| (p.total_variance((s / 100.0f64).ln()) / t).sqrt();
        // Spreads of 2, 1, 0.5, 1, 2 vol points: weights 1/spread², relative to the largest.
        let spreads = [0.02, 0.01, 0.005, 0.01, 0.02];
        let quotes: Vec<Quote> = strikes
            .iter()
            .zip(&spreads)
            .map(|(&s, &sp)| {
                Quote::vol(s, vol_at(s))
                    .with_bid_ask_vol(vol_at(s) - sp / 2.0, vol_at(s) + sp / 2.0)
            })
            .collect();
        let e = ExpiryQuotes {
            expiry_years: t,
            quotes: quotes.clone(),
        };
        let r = fit_expiry(&curve, &e, &FitConfig::default()).unwrap();
        let w: Vec<f64> = r.points.iter().map(|q| q.weight).collect();
        for (got, sp) in w.iter().zip(&spreads) {
            assert!((got - (0.005 / sp) * (0.005 / sp)).abs() < 1e-12, "{w:?}");
        }
        // One quote without a spread: vega weights for all (largest near the money).
        let mut mixed = quotes.clone();
        mixed[0].bid_ask_vol = None;
        let r = fit_expiry(
            &curve,
            &ExpiryQuotes {
                expiry_years: t,
                quotes: mixed,
            },
            &FitConfig::default(),
        )
        .unwrap();
        let w: Vec<f64> = r.points.iter().map(|q| q.weight).collect();
        assert!(
            w[2] > w[1] && w[1] > w[0] && w[2] > w[3] && w[3] > w[4],
            "{w:?}"
        );
        let uniform = FitConfig {
            weighting: Weighting::Uniform,
            ..FitConfig::default()
        };
        let r = fit_expiry(&curve, &e, &uniform).unwrap();
        assert!(r.points.iter().all(|q| q.weight == 1.0));
    }

    #[test]
    fn flat_vols_fit_flat() {
        let k = strikes_grid(9, -0.4, 0.4);
        let vols = vec![0.6; 9];
        let fit = fit_smile(0.5, &k, &vols, None, &FitConfig::default()).unwrap();
        assert!(fit.max_error_vol < 1e-6, "{fit:?}");
    }
}

mod prices {
    use super::*;
    use ale_core::OptionKind;
    use ale_pricing::Black76;

    fn black(kind: OptionKind, f: f64, k: f64, t: f64, vol: f64, r: f64) -> f64 {
        Black76::new(kind, f, k, t, vol, r).unwrap().price()
    }

    #[test]
    fn prices_to_vols_to_fit_to_prices_closes_the_loop() {
        let rate = 0.03;
        let spot = 95_000.0;
        let smiles = known_smiles();
        let forwards: Vec<(f64, f64)> = smiles
            .iter()
            .map(|&(t, _)| (t, spot * (0.06 * t).exp()))
            .collect();
        let curve = ForwardCurve::new(spot, rate, &forwards).unwrap();
        let mut expiries = Vec::new();
        for (&(t, p), &(_, f)) in smiles.iter().zip(&forwards) {
            let sd = p.total_variance(0.0).sqrt();
            let quotes = strikes_grid(21, -2.5 * sd, 2.5 * sd)
                .into_iter()
                .map(|k| {
                    let strike = f * k.exp();
                    let vol = (p.total_variance(k) / t).sqrt();
                    // Out-of-the-money side, as venues quote.
                    let kind = if strike >= f {
                        OptionKind::Call
                    } else {
                        OptionKind::Put
                    };
                    Quote::price(strike, kind, black(kind, f, strike, t, vol, rate))
                })
                .collect();
            expiries.push(ExpiryQuotes {
                expiry_years: t,
                quotes,
            });
        }
        let (surface, report) =
            fit_surface("BTC", &curve, &expiries, &FitConfig::default()).unwrap();
        assert!(report.arbitrage.is_empty(), "{:?}", report.arbitrage);
        for (e, r) in expiries.iter().zip(&report.expiries) {
            assert_eq!(r.quotes, e.quotes.len());
            assert!(r.rejected.is_empty());
            assert!(r.max_error_vol < 1e-6, "{r:?}");
            let f = curve.forward(e.expiry_years);
            for q in &e.quotes {
                let QuoteValue::Price { kind, price } = q.value else {
                    unreachable!()
                };
                let vol = surface.vol(q.strike, e.expiry_years);
                let b = Black76::new(kind, f, q.strike, e.expiry_years, vol, rate).unwrap();
                let vega = b.greeks().vega;
                assert!(
                    (b.price() - price).abs() <= 1e-6 * vega + 1e-9 * price,
                    "T={} K={}: {} vs {price}",
                    e.expiry_years,
                    q.strike,
                    b.price()
                );
            }
        }
    }

    #[test]
    fn bad_quotes_are_rejected_with_their_reason() {
        let t = 0.25;
        let f = 100.0;
        let curve = ForwardCurve::new(100.0, 0.0, &[(t, f)]).unwrap();
        let p = SviParams::new(0.02, 0.12, -0.35, 0.03, 0.15).unwrap();
        let vol_at = |strike: f64| (p.total_variance((strike / f).ln()) / t).sqrt();
        let mut quotes: Vec<Quote> = [80.0, 90.0, 95.0, 100.0, 105.0, 110.0, 120.0]
            .iter()
            .map(|&k| Quote::vol(k, vol_at(k)))
            .collect();
        quotes.push(Quote::vol(f64::NAN, 0.5));
        quotes.push(Quote::vol(85.0, f64::NAN));
        quotes.push(Quote::vol(-5.0, 0.5));
        quotes.push(Quote::vol(130.0, 0.0));
        quotes.push(Quote::vol(140.0, -0.3));
        quotes.push(Quote::vol(150.0, 25.0));
        quotes.push(Quote::vol(115.0, 0.5).with_bid_ask_vol(0.55, 0.45));
        // Below intrinsic (a call worth less than F − K) and above the upper bound.
        quotes.push(Quote::price(60.0, OptionKind::Call, 39.0));
        quotes.push(Quote::price(70.0, OptionKind::Put, 71.0));
        // Duplicate strikes: a call and a put at 90 (the put is out of the money and is kept),
        // a second vol at 105 (the first listed is kept).
        quotes.push(Quote::price(
            90.0,
            OptionKind::Call,
            black(OptionKind::Call, f, 90.0, t, vol_at(90.0) + 0.2, 0.0),
        ));
        quotes.push(Quote::price(
            90.0,
            OptionKind::Put,
            black(OptionKind::Put, f, 90.0, t, vol_at(90.0), 0.0),
        ));
        quotes.push(Quote::vol(105.0, 0.9));
        let e = ExpiryQuotes {
            expiry_years: t,
            quotes,
        };
        let r = fit_expiry(&curve, &e, &FitConfig::default()).unwrap();
        let reasons: Vec<(f64, RejectReason)> = r
            .rejected
            .iter()
            .map(|q| (q.strike, q.reason.clone()))
            .collect();
        let has = |strike: f64, pred: &dyn Fn(&RejectReason) -> bool| {
            reasons
                .iter()
                .any(|(s, why)| (s == &strike || (s.is_nan() && strike.is_nan())) && pred(why))
        };
        assert!(has(f64::NAN, &|w| *w == RejectReason::NonFinite));
        assert!(has(85.0, &|w| *w == RejectReason::NonFinite));
        assert!(has(-5.0, &|w| *w == RejectReason::NonPositiveStrike));
        assert!(has(130.0, &|w| *w == RejectReason::NonPositiveVol));
        assert!(has(140.0, &|w| *w == RejectReason::NonPositiveVol));
        assert!(has(150.0, &|w| *w == RejectReason::VolTooHigh));
        assert!(has(115.0, &|w| *w == RejectReason::CrossedBidAsk));
        assert!(has(60.0, &|w| matches!(
            w,
            RejectReason::PriceOutsideBounds { .. }
        )));
        assert!(has(70.0, &|w| matches!(
            w,
            RejectReason::PriceOutsideBounds { .. }
        )));
        assert!(has(90.0, &|w| *w == RejectReason::DuplicateStrike));
        assert!(has(105.0, &|w| *w == RejectReason::DuplicateStrike));
        assert_eq!(r.rejected.len(), 12, "{:?}", r.rejected);
        assert_eq!(r.quotes, 7);
        // The kept quotes are the clean ones, so the fit is exact at them.
        assert!(r.max_error_vol < 1e-4, "{r:?}");
        let at_90 = r.points.iter().find(|q| q.strike == 90.0).unwrap();
        assert!((at_90.vol_quote - vol_at(90.0)).abs() < 1e-9);
    }
}

mod degenerate {
    use super::*;

    fn curve() -> ForwardCurve {
        ForwardCurve::new(100.0, 0.0, &[(0.25, 100.0), (0.5, 100.0)]).unwrap()
    }

    fn fit_one(quotes: Vec<Quote>) -> Result<ExpiryFitReport, FitError> {
        fit_expiry(
            &curve(),
            &ExpiryQuotes {
                expiry_years: 0.25,
                quotes,
            },
            &FitConfig::default(),
        )
    }

    #[test]
    fn too_few_quotes_is_a_clear_error() {
        for quotes in [
            vec![],
            vec![Quote::vol(100.0, 0.5)],
            // All at one strike: one usable quote after duplicates.
            vec![Quote::vol(100.0, 0.5); 6],
            // All rejected.
            vec![
                Quote::vol(100.0, f64::NAN),
                Quote::vol(90.0, -1.0),
                Quote::vol(80.0, 0.0),
            ],
        ] {
            let e = fit_one(quotes).unwrap_err();
            assert!(matches!(e, FitError::TooFewQuotes { .. }), "{e}");
            assert!(e.to_string().contains("expiry 0.25"), "{e}");
        }
    }

    #[test]
    fn expiry_problems_are_errors() {
        let q = vec![
            Quote::vol(90.0, 0.5),
            Quote::vol(100.0, 0.5),
            Quote::vol(110.0, 0.5),
        ];
        let e = |t: f64| ExpiryQuotes {
            expiry_years: t,
            quotes: q.clone(),
        };
        let cfg = FitConfig::default();
        assert_eq!(
            fit_surface("X", &curve(), &[], &cfg).unwrap_err(),
            FitError::NoExpiries
        );
        let err = fit_surface("X", &curve(), &[e(0.5), e(0.25)], &cfg).unwrap_err();
        assert!(err.to_string().contains("strictly increasing"), "{err}");
        assert!(fit_surface("X", &curve(), &[e(0.25), e(0.25)], &cfg).is_err());
        let err = fit_surface("X", &curve(), &[e(f64::NAN)], &cfg).unwrap_err();
        assert!(err.to_string().contains("expiry_years"), "{err}");
        assert!(fit_surface("X", &curve(), &[e(-1.0)], &cfg).is_err());
    }

    #[test]
    fn fit_smile_validates_its_arrays() {
        let cfg = FitConfig::default();
        let k = [-0.1, 0.0, 0.1];
        assert!(matches!(
            fit_smile(0.5, &k, &[0.5, 0.5], None, &cfg),
            Err(FitError::LengthMismatch { .. })
        ));
        assert!(fit_smile(0.5, &k, &[0.5, f64::NAN, 0.5], None, &cfg).is_err());
        assert!(fit_smile(0.5, &k, &[0.5, -0.5, 0.5], None, &cfg).is_err());
        assert!(fit_smile(0.5, &[0.0, 0.0, 0.1], &[0.5; 3], None, &cfg).is_err());
        assert!(fit_smile(0.5, &k, &[0.5; 3], Some(&[0.0; 3]), &cfg).is_err());
        assert!(fit_smile(0.5, &k, &[0.5; 3], Some(&[1.0, f64::NAN, 1.0]), &cfg).is_err());
        assert!(fit_smile(0.0, &k, &[0.5; 3], None, &cfg).is_err());
        // Three good points are enough.
        assert!(fit_smile(0.5, &k, &[0.55, 0.5, 0.52], None, &cfg).is_ok());
    }

    #[test]
    fn crossed_and_wild_smiles_do_not_panic() {
        // Saw-tooth vols (a smile no SVI can follow), huge and tiny vols, far strikes.
        let k: Vec<f64> = strikes_grid(15, -2.0, 2.0);
        let vols: Vec<f64> = (0..15)
            .map(|i| if i % 2 == 0 { 2.5 } else { 0.01 })
            .collect();
        let fit = fit_smile(0.01, &k, &vols, None, &FitConfig::default()).unwrap();
        assert!(fit.rmse_vol.is_finite() && fit.max_error_vol.is_finite());
        let concave: Vec<f64> = k.iter().map(|x| 1.0 - 0.2 * x * x).collect();
        let fit = fit_smile(2.0, &k, &concave, None, &FitConfig::default()).unwrap();
        assert!(fit.svi.b >= 0.0 && fit.svi.min_total_variance() >= -1e-12);
    }
}

mod arbitrage_checks {
    use super::*;
    use ale_surface::arbitrage;

    /// Axel Vogt's raw SVI, a classic smile with a butterfly arbitrage (Gatheral–Jacquier 2014).
    fn vogt() -> SviParams {
        SviParams::new(-0.0410, 0.1331, 0.3586, 0.3060, 0.4153).unwrap()
    }

    #[test]
    fn butterfly_is_flagged_where_g_is_negative() {
        let p = vogt();
        let curve = ForwardCurve::from_rate(100.0, 0.0).unwrap();
        let s = Surface::from_svi(curve, &[(1.0, p)]).unwrap();
        let found = check_arbitrage(&s);
        let bf: Vec<_> = found
            .iter()
            .filter(|v| v.kind == ArbitrageKind::Butterfly)
            .collect();
        assert_eq!(bf.len(), 1, "{found:?}");
        let v = bf[0];
        assert_eq!(v.expiry_years, 1.0);
        // Independently: the minimum of g on a fine grid.
        let (k_min, g_min) = (0..200_001)
            .map(|i| -1.5 + 3.0 * i as f64 / 200_000.0)
            .map(|k| (k, p.durrleman_g(k)))
            .fold((0.0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
        assert!(g_min < 0.0);
        let half_width = arbitrage::grid_half_width(p.total_variance(0.0), 0.0);
        let step = 2.0 * half_width / (arbitrage::ARBITRAGE_GRID_POINTS - 1) as f64;
        assert!((v.log_moneyness - k_min).abs() <= step, "{v:?} vs {k_min}");
        assert!((v.size + g_min).abs() < 1e-3, "{v:?} vs {g_min}");
        assert!(p.durrleman_g(v.log_moneyness) < 0.0);
    }

    #[test]
    fn calendar_is_flagged_where_total_variance_falls() {
        let curve = ForwardCurve::from_rate(100.0, 0.0).unwrap();
        // Later smile below the earlier one near the money only.
        let early = SviParams::new(0.04, 0.05, 0.0, 0.0, 0.2).unwrap();
        let late = SviParams::new(0.0, 0.5, 0.0, 0.1, 0.05).unwrap();
        let s = Surface::from_svi(curve, &[(0.5, early), (1.0, late)]).unwrap();
        let found = check_arbitrage(&s);
        let cal: Vec<_> = found
            .iter()
            .filter(|v| v.kind == ArbitrageKind::Calendar)
            .collect();
        assert_eq!(cal.len(), 1, "{found:?}");
        let v = cal[0];
        assert_eq!(v.expiry_years, 1.0);
        let drop = |k: f64| early.total_variance(k) - late.total_variance(k);
        assert!((v.size - drop(v.log_moneyness)).abs() < 1e-15);
        // The worst point is where the drop is largest (near the late smile's vertex m = 0.1).
        let (k_worst, _) = (0..100_001)
            .map(|i| -0.5 + i as f64 / 100_000.0)
            .map(|k| (k, drop(k)))
            .fold(
                (0.0, f64::NEG_INFINITY),
                |a, b| if b.1 > a.1 { b } else { a },
            );
        assert!((v.log_moneyness - k_worst).abs() < 0.01, "{v:?} {k_worst}");
        // Far from the vertex the later smile is above: no violation there.
        assert!(drop(0.8) < 0.0 && drop(-0.8) < 0.0);
    }

    #[test]
    fn clean_surface_has_no_violation() {
        let curve = ForwardCurve::from_rate(100.0, 0.0).unwrap();
        let s = Surface::from_svi(curve, &known_smiles()).unwrap();
        assert!(check_arbitrage(&s).is_empty());
    }

    #[test]
    fn fit_repairs_a_butterfly_the_quotes_do_not_have() {
        // Quotes from an arbitrage-free smile, sparse in the wings with a steep short-dated skew:
        // the fit must come back arbitrage-free (repaired if needed), close to the quotes.
        let t = 0.02;
        let p = SviParams::new(0.0005, 0.08, -0.9, 0.05, 0.02).unwrap();
        let curve = ForwardCurve::from_rate(100.0, 0.0).unwrap();
        let clean = Surface::from_svi(curve.clone(), &[(t, p)]).unwrap();
        assert!(check_arbitrage(&clean).is_empty());
        let ks = [-0.3, -0.2, -0.1, -0.05, 0.0, 0.03, 0.06, 0.1];
        let quotes = ks
            .iter()
            .map(|&k| Quote::vol(100.0 * f64::exp(k), (p.total_variance(k) / t).sqrt()))
            .collect();
        let (_, report) = fit_surface(
            "X",
            &curve,
            &[ExpiryQuotes {
                expiry_years: t,
                quotes,
            }],
            &FitConfig::default(),
        )
        .unwrap();
        assert!(report.arbitrage.is_empty(), "{report:?}");
        assert!(report.expiries[0].rmse_vol < 0.01, "{report:?}");
    }
}

mod shocks {
    use super::*;

    fn base() -> Surface {
        let curve =
            ForwardCurve::new(100.0, 0.0, &[(0.05, 100.2), (0.25, 101.0), (1.0, 104.0)]).unwrap();
        Surface::from_svi(curve, &known_smiles()).unwrap()
    }

    #[test]
    fn none_is_the_identity() {
        let s = base();
        let v = s.shocked(Shock::NONE).unwrap();
        for &(k, t) in &[(70.0, 0.01), (100.0, 0.25), (150.0, 0.7), (100.0, 3.0)] {
            assert!((v.vol(k, t) - s.vol(k, t)).abs() < 1e-15);
            assert!((v.forward(t) - s.forward(t)).abs() < 1e-12);
        }
    }

    #[test]
    fn sticky_moneyness_and_sticky_strike() {
        let s = base();
        for &factor in &[0.7, 0.95, 1.3] {
            let moneyness = s
                .shocked(Shock {
                    spot_factor: factor,
                    ..Shock::NONE
                })
                .unwrap();
            let strike = s
                .shocked(Shock {
                    spot_factor: factor,
                    spot_rule: SpotRule::StickyStrike,
                    ..Shock::NONE
                })
                .unwrap();
            for &(k, t) in &[(70.0, 0.1), (100.0, 0.25), (130.0, 0.6)] {
                // σ_new(K) = σ_base(K/s): the smile travels with the forward.
                assert!((moneyness.vol(k * factor, t) - s.vol(k, t)).abs() < 1e-12);
                assert!((moneyness.forward(t) - factor * s.forward(t)).abs() < 1e-9);
                // σ_new(K) = σ_base(K).
                assert!((strike.vol(k, t) - s.vol(k, t)).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn ramm_term_scaled_up_shock_with_floor_and_cap() {
        let s = base();
        let t_ref = 30.0 / 365.0;
        let up = TermScaled::sqrt_time(0.15, t_ref, 0.05, 0.60);
        let v = s
            .shocked(Shock {
                additive: up,
                ..Shock::NONE
            })
            .unwrap();
        let k = 95.0;
        let shift = |t: f64| v.vol(k, t) - s.vol(k, t);
        assert!((shift(t_ref) - 0.15).abs() < 1e-12);
        assert!((shift(t_ref / 4.0) - 0.30).abs() < 1e-12);
        // Very short: capped at v_up_max; very long: floored at v_up_min.
        assert!((shift(t_ref / 100.0) - 0.60).abs() < 1e-12);
        assert!((shift(2.0) - (0.15 * (t_ref / 2.0f64).sqrt()).max(0.05)).abs() < 1e-12);
        assert!((shift(5.0) - 0.05).abs() < 1e-12);
        // Down shock: same magnitude rule, negative, vol floored at σ_min.
        let down = s
            .shocked(Shock {
                additive: TermScaled::sqrt_time(-0.10, t_ref, 0.0, 0.60),
                vol_floor: 0.35,
                ..Shock::NONE
            })
            .unwrap();
        for &t in &[0.01, t_ref, 0.5, 2.0] {
            let want = (s.vol(k, t) - 0.10 * (t_ref / t).sqrt().min(6.0)).max(0.35);
            assert!((down.vol(k, t) - want).abs() < 1e-12, "t={t}");
        }
    }

    #[test]
    fn multiplicative_and_skew() {
        let s = base();
        let v = s
            .shocked(Shock {
                multiplicative: TermScaled::parallel(0.5),
                skew: SkewRotation {
                    vol_per_log_moneyness: -0.2,
                    cap_abs: 0.05,
                },
                ..Shock::NONE
            })
            .unwrap();
        let t = 0.25;
        for &strike in &[50.0, 90.0, 101.0, 120.0, 200.0] {
            let k = (strike / s.forward(t)).ln();
            let want = 1.5 * s.vol(strike, t) + (-0.2 * k).clamp(-0.05, 0.05);
            assert!((v.vol(strike, t) - want).abs() < 1e-12);
        }
        // A power other than 0, ½, 1.
        let p = TermScaled {
            size: 0.1,
            reference_years: 0.5,
            power: 0.25,
            min_abs: 0.0,
            max_abs: 1.0,
        };
        assert!((p.at(0.5 / 16.0) - 0.2).abs() < 1e-12);
    }

    #[test]
    fn views_stack_and_bad_shocks_are_errors() {
        let s = base();
        let a = s
            .shocked(Shock {
                spot_factor: 1.1,
                ..Shock::NONE
            })
            .unwrap();
        let b = ShockedSurface::new(
            &a,
            Shock {
                spot_factor: 1.0 / 1.1,
                ..Shock::NONE
            },
        )
        .unwrap();
        assert!((b.vol(93.0, 0.4) - s.vol(93.0, 0.4)).abs() < 1e-12);
        for bad in [
            Shock {
                spot_factor: 0.0,
                ..Shock::NONE
            },
            Shock {
                spot_factor: f64::NAN,
                ..Shock::NONE
            },
            Shock {
                vol_floor: -0.1,
                ..Shock::NONE
            },
            Shock {
                additive: TermScaled::sqrt_time(0.1, 0.0, 0.0, 1.0),
                ..Shock::NONE
            },
            Shock {
                additive: TermScaled::sqrt_time(0.1, 0.1, 0.5, 0.2),
                ..Shock::NONE
            },
        ] {
            let e = s.shocked(bad).unwrap_err();
            assert!(e.to_string().starts_with("invalid '"), "{e}");
        }
    }
}

mod properties {
    use super::*;
    use ale_surface::fit::MAX_WING_SLOPE;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn sticky_moneyness_identity(
            factor in 0.3f64..3.0,
            strike in 20.0f64..300.0,
            t in 0.001f64..3.0,
        ) {
            let curve = ForwardCurve::new(100.0, 0.01, &[(0.05, 100.1), (0.25, 100.5), (1.0, 102.0)]).unwrap();
            let s = Surface::from_svi(curve, &known_smiles()).unwrap();
            let v = s.shocked(Shock { spot_factor: factor, ..Shock::NONE }).unwrap();
            prop_assert!((v.vol(strike * factor, t) - s.vol(strike, t)).abs() < 1e-10);
        }

        #[test]
        fn calendar_free_slices_interpolate_monotone_in_time(
            k in -1.5f64..1.5,
            t1 in 0.001f64..2.0,
            dt in 0.0f64..1.0,
        ) {
            let curve = ForwardCurve::from_rate(100.0, 0.0).unwrap();
            let s = Surface::from_svi(curve, &known_smiles()).unwrap();
            prop_assert!(check_arbitrage(&s).is_empty());
            prop_assert!(s.total_variance(k, t1 + dt) >= s.total_variance(k, t1) - 1e-15);
        }

        #[test]
        fn fit_of_arbitrage_free_noisy_quotes_is_arbitrage_free(
            atm_vol in 0.3f64..1.2,
            b_scale in 0.05f64..0.6,
            rho in -0.8f64..0.5,
            m in -0.1f64..0.1,
            sigma in 0.05f64..0.6,
            t in 0.01f64..1.5,
            seed in 0u64..1000,
        ) {
            let b = b_scale * t.sqrt();
            let atm_w = atm_vol * atm_vol * t;
            let a = atm_w - b * (rho * (-m) + (m * m + sigma * sigma).sqrt());
            let p = match SviParams::new(a, b, rho, m, sigma) {
                Ok(p) => p,
                Err(_) => return Ok(()),
            };
            let curve = ForwardCurve::from_rate(100.0, 0.0).unwrap();
            let truth = Surface::from_svi(curve.clone(), &[(t, p)]).unwrap();
            prop_assume!(check_arbitrage(&truth).is_empty());
            let mut rng = SplitMix(seed);
            let sd = atm_w.sqrt();
            let quotes = strikes_grid(20, -2.5 * sd, 2.5 * sd)
                .into_iter()
                .map(|k| Quote::vol(100.0 * k.exp(), (p.total_variance(k) / t).sqrt() + 0.001 * rng.normal()))
                .collect();
            let (_, report) = fit_surface("X", &curve, &[ExpiryQuotes { expiry_years: t, quotes }], &FitConfig::default()).unwrap();
            prop_assert!(report.arbitrage.is_empty(), "{:?}", report);
            prop_assert!(report.expiries[0].rmse_vol < 0.005, "{:?}", report.expiries[0]);
        }

        #[test]
        fn exact_quotes_are_fitted_exactly(
            atm_vol in 0.2f64..1.5,
            b_scale in 0.05f64..0.8,
            rho in -0.9f64..0.7,
            m_rel in -0.5f64..0.5,
            sigma_rel in 0.05f64..0.7,
            t in 0.003f64..2.0,
        ) {
            // Quotes over ±3 ATM standard deviations (at most strikes F/4.5 to 4.5·F), the vertex
            // (m, σ) within that range, so that the quotes see what they should recover.
            let atm_w = atm_vol * atm_vol * t;
            let range = (3.0 * atm_w.sqrt()).min(1.5);
            let (m, sigma) = (m_rel * range, sigma_rel * range);
            let b = b_scale * t.sqrt();
            let a = atm_w - b * (rho * (-m) + (m * m + sigma * sigma).sqrt());
            let Ok(p) = SviParams::new(a, b, rho, m, sigma) else {
                return Ok(());
            };
            prop_assume!(p.min_total_variance() > 0.05 * atm_w);
            // Lee's moment bound, which the fit enforces.
            prop_assume!(p.b * (1.0 + p.rho.abs()) <= MAX_WING_SLOPE);
            let k = strikes_grid(25, -range, range);
            let vols: Vec<f64> = k.iter().map(|&x| (p.total_variance(x) / t).sqrt()).collect();
            let fit = fit_smile(t, &k, &vols, None, &FitConfig { repair_butterfly: false, ..FitConfig::default() }).unwrap();
            prop_assert!(fit.max_error_vol < 2e-4, "{:?} vs {:?}", fit, p);
        }

        #[test]
        fn marks_are_exact(vols in proptest::collection::vec(0.2f64..2.0, 1..12)) {
            let curve = ForwardCurve::from_rate(100.0, 0.0).unwrap();
            let marks: Vec<(f64, f64)> = vols.iter().enumerate().map(|(i, &v)| (60.0 + 7.0 * i as f64, v)).collect();
            let s = Surface::from_marks(curve, &[(0.3, marks.clone())]).unwrap();
            for (strike, v) in marks {
                prop_assert!((s.vol(strike, 0.3) - v).abs() < 1e-12);
            }
        }
    }
}
