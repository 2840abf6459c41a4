use ale_surface::*;
#[test]
fn dbg() {
    let t = 0.25;
    let p = SviParams::new(0.02, 0.12, -0.35, 0.03, 0.15).unwrap();
    let k: Vec<f64> = [80.0f64, 90.0, 95.0, 100.0, 105.0, 110.0, 120.0].iter().map(|s| (s / 100.0).ln()).collect();
    let v: Vec<f64> = k.iter().map(|&x| (p.total_variance(x) / t).sqrt()).collect();
    eprintln!("truth bf {:?}", arbitrage::check_butterfly(&Smile::Svi(p), t, 2.0));
    for repair in [false, true] {
        let f = fit_smile(t, &k, &v, None, &FitConfig { repair_butterfly: repair, ..FitConfig::default() }).unwrap();
        eprintln!("repair={repair} {f:?}");
        let s = Smile::Svi(f.svi);
        eprintln!("{:?}", arbitrage::check_butterfly(&s, t, 2.0));
    }
}
