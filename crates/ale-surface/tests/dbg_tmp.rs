use ale_surface::*;
#[test]
fn dbg() {
    let (atm_vol, b_scale, rho, m, sigma, t) = (0.35150759750712085f64, 0.5718050347055829f64, -0.36626854968100636, 0.03730756347470647f64, 0.2333288898442797f64, 0.1024778793166132f64);
    let b = b_scale * t.sqrt();
    let atm_w = atm_vol * atm_vol * t;
    let a = atm_w - b * (rho * (-m) + (m * m + sigma * sigma).sqrt());
    let p = SviParams::new(a, b, rho, m, sigma).unwrap();
    eprintln!("truth {p:?}");
    let sd = atm_w.sqrt();
    let k: Vec<f64> = (0..20).map(|i| -2.5 * sd + 5.0 * sd * i as f64 / 19.0).collect();
    let v: Vec<f64> = k.iter().map(|&x| (p.total_variance(x) / t).sqrt()).collect();
    for repair in [false, true] {
        let f = fit_smile(t, &k, &v, None, &FitConfig { repair_butterfly: repair, ..FitConfig::default() }).unwrap();
        eprintln!("repair={repair} {f:?}");
        let s = Smile::Svi(f.svi);
        eprintln!("{:?}", arbitrage::check_butterfly(&s, t, 1.5));
    }
}
