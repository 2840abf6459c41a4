use ale_surface::*;
#[test]
fn prof() {
    let t = 0.25f64;
    let atm = 0.55f64.powi(2) * t;
    let p = SviParams::new(0.6 * atm, 0.35 * t.sqrt(), -0.3, 0.02, 0.25 * t.sqrt() + 0.02).unwrap();
    let sd = p.total_variance(0.0).sqrt();
    let noise = |i: usize| { let x = (i as u64).wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0 };
    let k: Vec<f64> = (0..25).map(|i| -3.0 * sd + 6.0 * sd * i as f64 / 24.0).collect();
    let vols: Vec<f64> = k.iter().enumerate().map(|(i, &x)| (p.total_variance(x) / t).sqrt() + 0.002 * noise(1 + i)).collect();
    for _ in 0..3 { let s = std::time::Instant::now(); fit_smile(t, &k, &vols, None, &FitConfig::default()).unwrap(); eprintln!("total {:?}", s.elapsed()); }
}
