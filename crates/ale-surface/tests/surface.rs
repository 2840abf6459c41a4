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
        (0.05, SviParams::new(0.002, 0.04, -0.25, 0.01, 0.06).unwrap()),
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
            let vols: Vec<f64> = k.iter().map(|&x| (p.total_variance(x) / t).sqrt()).collect();
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
            let clean: Vec<f64> = k.iter().map(|&x| (p.total_variance(x) / t).sqrt()).collect();
            let vols: Vec<f64> = clean.iter().map(|v| v + noise * rng.normal()).collect();
            let fit = fit_smile(t, &k, &vols, Some(&vec![1.0; k.len()]), &FitConfig::default())
                .unwrap();
            // The fit cannot be much worse than the truth on the noisy data ...
            let rmse_truth = (clean
                .iter()
                .zip(&vols)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
                / k.len() as f64)
                .sqrt();
            assert!(fit.rmse_vol <= rmse_truth * 1.0001, "{} vs {rmse_truth}", fit.rmse_vol);
            // ... and stays close to the true smile everywhere quoted.
            for (&x, &v) in k.iter().zip(&clean) {
                let got = (fit.svi.total_variance(x) / t).sqrt();
                assert!((got - v).abs() < 4.0 * noise, "T={t} k={x}: {got} vs {v}");
            }
        }
    }

    #[test]
    fn flat_vols_fit_flat() {
        let k = strikes_grid(9, -0.4, 0.4);
        let vols = vec![0.6; 9];
        let fit = fit_smile(0.5, &k, &vols, None, &FitConfig::default()).unwrap();
        assert!(fit.max_error_vol < 1e-6, "{fit:?}");
    }
}
#[test]
fn zz_prof() {
    let t = 0.25;
    let p = SviParams::new(0.6 * 0.55f64.powi(2) * t, 0.35 * t.sqrt(), -0.3, 0.02, 0.25 * t.sqrt() + 0.02).unwrap();
    let sd = p.total_variance(0.0).sqrt();
    let k: Vec<f64> = (0..25).map(|i| -3.0 * sd + 6.0 * sd * i as f64 / 24.0).collect();
    let vols: Vec<f64> = k.iter().enumerate().map(|(i, &x)| (p.total_variance(x) / t).sqrt() + 0.002 * ((i * 7919 % 13) as f64 / 6.0 - 1.0)).collect();
    for _ in 0..5 { fit_smile(t, &k, &vols, None, &FitConfig::default()).unwrap(); }
}
