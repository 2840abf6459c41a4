use std::time::Instant;
use ale_risk::synthetic::{synthetic_venue, VenueSpec};
use ale_risk::{Book, Ramm, RiskEngine};
fn main() {
    let venue = synthetic_venue(&VenueSpec::default());
    let mut book = Book::new();
    for i in &venue.instruments { book.list(i); }
    for a in &venue.accounts { book.upsert_account(a).unwrap(); }
    let mut engine = RiskEngine::new(Ramm::default(), venue.market.clone(), book);
    engine.remargin_all();
    let t = Instant::now();
    let (mut nb, mut na, mut none, mut liq) = (0, 0, 0, 0);
    let n = 300;
    for ix in 0..n {
        let m = engine.margins()[ix].as_ref().unwrap();
        if m.equity < m.maintenance { liq += 1; }
        match engine.liquidation_prices(ix).unwrap() {
            Some(l) => {
                let s = engine.market().underlying(&l.underlying).unwrap().spot();
                if let Some(b) = l.below { nb += 1; if ix < 30 { print!("b{:.3} ", b.spot / s); } }
                if let Some(a) = l.above { na += 1; if ix < 30 { print!("a{:.3} ", a.spot / s); } }
                if ix < 30 { println!(" f0={:.0} pos={}", m.equity - m.maintenance, engine.book().account(ix).positions.len()); }
            }
            None => none += 1,
        }
    }
    println!("{:?}/acct below {nb} above {na} none {none} liq {liq} of {n}", t.elapsed() / n as u32);
}
