use std::time::Instant;
fn main() {
    let n = 100_000;
    let f: Vec<f64> = (0..n).map(|i| 95_000.0 * (1.0 + 0.1 * ((i as f64) * 0.001).sin())).collect();
    let v: Vec<f64> = (0..n).map(|i| 0.5 + 0.1 * ((i as f64) * 0.0007).cos()).collect();
    let mut out = vec![0.0; n];
    for _ in 0..5 {
        let t = Instant::now();
        ale_pricing::batch::price_scenarios(ale_core::OptionKind::Call, 100_000.0, 0.1, 0.0, &f, &v, &mut out).unwrap();
        eprintln!("100k pricings {:?}", t.elapsed());
    }
}
