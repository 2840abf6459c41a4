use ale_risk::liq_batch::{liquidation_prices_fast, BatchStats, LiquidationLattice};
use ale_risk::synthetic::{synthetic_venue, VenueSpec};
use ale_risk::{Book, Ramm, RiskEngine};
fn main() {
    let ix: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let venue = synthetic_venue(&VenueSpec { accounts: ix + 1, ..VenueSpec::default() });
    let mut book = Book::new();
    for i in &venue.instruments { book.list(i); }
    for a in &venue.accounts { book.upsert_account(a).unwrap(); }
    let mut engine = RiskEngine::new(Ramm::default(), venue.market.clone(), book);
    engine.remargin_all();
    let lattice = LiquidationLattice::build(&engine);
    let mut s = BatchStats::default();
    println!("{:?}", liquidation_prices_fast(&engine, &lattice, ix, &mut s));
    println!("{:?}", engine.liquidation_prices(ix));
    println!("{:?}", venue.accounts[ix]);
}
