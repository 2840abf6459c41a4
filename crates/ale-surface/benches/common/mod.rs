//! Data shared by the benches: deterministic smiles and a 10-expiry chain.

use ale_surface::*;

/// Deterministic noise in [−1, 1] (a fixed LCG: the data are the same on every run).
pub fn noise(i: usize) -> f64 {
    let x = (i as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// The smile of the benches at one expiry.
pub fn smile_params(expiry_years: f64) -> SviParams {
    // A crypto-like smile that grows with T.
    let atm = 0.55f64.powi(2) * expiry_years;
    SviParams::new(
        0.6 * atm,
        0.35 * expiry_years.sqrt(),
        -0.3,
        0.02,
        0.25 * expiry_years.sqrt() + 0.02,
    )
    .unwrap()
}

/// `n` quotes over ±3 ATM standard deviations with ±0.2 vol point of deterministic noise.
pub fn smile_points(expiry_years: f64, n: usize, seed: usize) -> (Vec<f64>, Vec<f64>) {
    let p = smile_params(expiry_years);
    let sd = p.total_variance(0.0).sqrt();
    let k: Vec<f64> = (0..n)
        .map(|i| -3.0 * sd + 6.0 * sd * i as f64 / (n - 1) as f64)
        .collect();
    let vols = k
        .iter()
        .enumerate()
        .map(|(i, &x)| (p.total_variance(x) / expiry_years).sqrt() + 0.002 * noise(seed + i))
        .collect();
    (k, vols)
}

/// A 10-expiry chain (2 days to 1.5 years), 30 strikes each, as vol quotes.
pub fn chain() -> (ForwardCurve, Vec<ExpiryQuotes>) {
    let expiries: [f64; 10] = [
        2.0 / 365.0,
        7.0 / 365.0,
        14.0 / 365.0,
        30.0 / 365.0,
        60.0 / 365.0,
        90.0 / 365.0,
        180.0 / 365.0,
        270.0 / 365.0,
        1.0,
        1.5,
    ];
    let spot = 95_000.0f64;
    let forwards: Vec<(f64, f64)> = expiries
        .iter()
        .map(|&t| (t, spot * (0.05 * t).exp()))
        .collect();
    let curve = ForwardCurve::new(spot, 0.0, &forwards).unwrap();
    let quotes = forwards
        .iter()
        .enumerate()
        .map(|(j, &(t, f))| {
            let (k, vols) = smile_points(t, 30, 100 * j);
            ExpiryQuotes {
                expiry_years: t,
                quotes: k
                    .iter()
                    .zip(&vols)
                    .map(|(&x, &v)| Quote::vol(f * x.exp(), v))
                    .collect(),
            }
        })
        .collect();
    (curve, quotes)
}

/// Strike/expiry points spread over the chain, between listed expiries too.
pub fn eval_points() -> Vec<(f64, f64)> {
    (0..1024)
        .map(|i| {
            let t = 1.0 / 365.0 + 1.6 * (i as f64 * 0.618_033_988_7).fract();
            let strike =
                95_000.0 * (0.6f64 * (2.0 * (i as f64 * 0.414_213_562_3).fract() - 1.0)).exp();
            (strike, t)
        })
        .collect()
}

/// ramm's default up shock with a 10% spot drop.
pub fn ramm_shock() -> Shock {
    Shock {
        spot_factor: 0.9,
        additive: TermScaled::sqrt_time(0.15, 30.0 / 365.0, 0.05, 0.60),
        vol_floor: 0.05,
        ..Shock::NONE
    }
}
