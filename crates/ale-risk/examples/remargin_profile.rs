//! A venue re-margined for profilers (`perf record`, `valgrind --tool=callgrind`).
//!
//! `remargin_profile [ACCOUNTS] [REPEATS] [full|btc|liq]`: builds the synthetic venue, then runs
//! `REPEATS` full re-margins (`full`, the default), incremental re-margins after BTC moves
//! 1 % back and forth (`btc`), or the liquidation prices of every account (`liq`), and prints
//! the mean wall time of one.
use ale_core::Asset;
use ale_risk::synthetic::{synthetic_market, synthetic_venue, VenueSpec};
use ale_risk::{Book, Ramm, RiskEngine};

fn main() {
    let mut args = std::env::args().skip(1);
    let accounts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let repeats: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let mode = args.next().unwrap_or_else(|| "full".into());
    let venue = synthetic_venue(&VenueSpec {
        accounts,
        ..VenueSpec::default()
    });
    let mut book = Book::new();
    for i in &venue.instruments {
        book.list(i);
    }
    for a in &venue.accounts {
        book.upsert_account(a)
            .expect("synthetic accounts are valid");
    }
    let mut engine = RiskEngine::new(Ramm::default(), venue.market.clone(), book);
    engine.remargin_all();
    let btc = Asset::new("BTC").expect("symbol");
    let moved = [
        synthetic_market(95_000.0 * 1.01, 3_500.0),
        synthetic_market(95_000.0, 3_500.0),
    ]
    .map(|m| m.underlying(&btc).expect("BTC").clone());
    let start = std::time::Instant::now();
    for r in 0..repeats {
        match mode.as_str() {
            "liq" => {
                let (all, _) = engine.liquidation_prices_all();
                assert_eq!(all.len(), engine.margins().len());
            }
            "btc" => {
                engine
                    .update_underlying(moved[r % 2].clone())
                    .expect("valid market");
            }
            _ => engine.remargin_all(),
        }
    }
    let each = start.elapsed().as_secs_f64() / repeats.max(1) as f64;
    println!(
        "{} accounts, {mode} x{repeats}: {:.2} ms each",
        engine.margins().len(),
        each * 1e3
    );
}
