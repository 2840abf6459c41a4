use std::time::Instant;
use ale_risk::liq_batch::{liquidation_prices_fast, BatchStats, LiquidationLattice};
use ale_risk::synthetic::{synthetic_venue, VenueSpec};
use ale_risk::{Book, Ramm, RiskEngine};
use rayon::prelude::*;
fn main() {
    let n: usize = std::env::args().nth(1).map_or(300, |s| s.parse().unwrap());
    let skip_all = std::env::args().nth(2).is_some();
    let venue = synthetic_venue(&VenueSpec::default());
    let mut book = Book::new();
    for i in &venue.instruments { book.list(i); }
    for a in &venue.accounts { book.upsert_account(a).unwrap(); }
    let mut engine = RiskEngine::new(Ramm::default(), venue.market.clone(), book);
    engine.remargin_all();
    let t = Instant::now();
    let lattice = LiquidationLattice::build(&engine);
    println!("lattice {:?} pricings {}", t.elapsed(), lattice.pricings);
    let t = Instant::now();
    let fast: Vec<_> = (0..n).into_par_iter().map(|ix| { let mut s = BatchStats::default(); let r = liquidation_prices_fast(&engine, &lattice, ix, &mut s).unwrap(); (r, s) }).collect();
    let tf = t.elapsed();
    let t = Instant::now();
    let exact: Vec<_> = (0..if skip_all { 0 } else { n }).into_par_iter().map(|ix| engine.liquidation_prices(ix).unwrap()).collect();
    let te = t.elapsed();
    let (mut ap, mut ex) = (0, 0);
    let mut bad = 0;
    for ix in 0..if skip_all { 0 } else { n } {
        ap += fast[ix].1.approx_evaluations; ex += fast[ix].1.exact_evaluations;
        let (a, b) = (&fast[ix].0, &exact[ix]);
        let ok = match (a, b) {
            (Some(a), Some(b)) => {
                let same = |x: Option<ale_risk::Root>, y: Option<ale_risk::Root>| match (x, y) { (None, None) => true, (Some(x), Some(y)) => (x.spot - y.spot).abs() <= 3e-6 * y.spot, _ => false };
                same(a.below, b.below) && same(a.above, b.above)
            }
            (None, None) => true,
            _ => false,
        };
        if !ok { bad += 1; if bad < 10 { println!("MISMATCH {ix}: fast {:?} exact {:?}", a, b); } }
    }
    if skip_all { let (a, e): (usize, usize) = fast.iter().fold((0, 0), |(a, e), f| (a + f.1.approx_evaluations, e + f.1.exact_evaluations)); println!("fast {:?}/acct approx {a} exact {e}", tf / n as u32); return; }
    println!("fast {:?}/acct ({} approx, {} exact evals per acct), exact {:?}/acct, mismatches {bad}/{n}", tf / n as u32, ap as f64 / n as f64, ex as f64 / n as f64, te / n as u32);
    if skip_all { return; }
    let t = Instant::now();
    let (all, stats) = engine.liquidation_prices_with(&lattice);
    println!("all {} accounts: {:?} {:?} errors {}", all.len(), t.elapsed(), stats, all.iter().filter(|r| r.is_err()).count());
}
