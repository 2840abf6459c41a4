//! Quick timing of the engine on the synthetic venue (the criterion benches are the reference).
use std::time::Instant;

use ale_risk::synthetic::{synthetic_venue, VenueSpec};
use ale_risk::{Ramm, RiskEngine};

fn main() {
    let t = Instant::now();
    let venue = synthetic_venue(&VenueSpec::default());
    println!("generate: {:?}", t.elapsed());
    let book = venue.book().expect("synthetic accounts are valid");
    println!(
        "positions: {}, listed: {}",
        book.position_count(),
        book.listed().len()
    );
    let mut engine = RiskEngine::new(Ramm::default(), venue.market.clone(), book);
    for _ in 0..3 {
        let t = Instant::now();
        engine.remargin_all();
        println!("full remargin: {:?}", t.elapsed());
    }
    let errors = engine.margins().iter().filter(|m| m.is_err()).count();
    let liq = engine
        .margins()
        .iter()
        .filter(|m| {
            m.as_ref()
                .is_ok_and(|m| m.status() == ale_risk::Status::Liquidatable)
        })
        .count();
    println!("errors {errors}, liquidatable {liq}");
    let t = Instant::now();
    let n = 200;
    for ix in 0..n {
        let _ = engine.liquidation_prices(ix).unwrap();
    }
    println!(
        "liquidation prices (single-account solver): {:?} per account",
        t.elapsed() / n as u32
    );
    let t = Instant::now();
    let (all, stats) = engine.liquidation_prices_all();
    println!(
        "liquidation prices of all {} accounts (fast path): {:?} ({} errors; {stats:?})",
        all.len(),
        t.elapsed(),
        all.iter().filter(|r| r.is_err()).count()
    );
}
