//! A small venue re-margined once on one thread, for profilers (`valgrind --tool=callgrind`).
use ale_risk::synthetic::{synthetic_venue, VenueSpec};
use ale_risk::{Book, Ramm, RiskEngine};

fn main() {
    let accounts: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let venue = synthetic_venue(&VenueSpec {
        accounts,
        ..VenueSpec::default()
    });
    let mut book = Book::new();
    for i in &venue.instruments {
        book.list(i);
    }
    for a in &venue.accounts {
        book.upsert_account(a).unwrap();
    }
    let mut engine = RiskEngine::new(Ramm::default(), venue.market.clone(), book);
    engine.remargin_all();
    println!("{}", engine.margins().len());
}
