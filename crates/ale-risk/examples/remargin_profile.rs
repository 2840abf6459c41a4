//! A venue re-margined for profilers (`perf record`, `valgrind --tool=callgrind`).
//!
//! `remargin_profile [ACCOUNTS] [REPEATS] [full|btc|liq|pm|pm-alone]`: builds the synthetic
//! venue, then runs `REPEATS` full re-margins (`full`, the default), incremental re-margins
//! after BTC moves 1 % back and forth (`btc`), the liquidation prices of every account (`liq`),
//! a full `pm` re-margin from the venue's pm tables (`pm`; the venue without dated futures,
//! which pm does not margin) or every account priced alone under `pm` (`pm-alone`), and prints
//! the mean wall time of one.
use ale_core::Asset;
use ale_risk::synthetic::{synthetic_market, synthetic_venue, VenueSpec};
use ale_risk::{Book, Ramm, RiskEngine};

fn main() {
    let mut args = std::env::args().skip(1);
    let accounts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let repeats: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let mode = args.next().unwrap_or_else(|| "full".into());
    let mut venue = synthetic_venue(&VenueSpec {
        accounts,
        ..VenueSpec::default()
    });
    if mode.starts_with("pm") {
        for a in &mut venue.accounts {
            a.positions
                .retain(|p| !matches!(p.instrument, ale_core::Instrument::Future { .. }));
        }
        pm_mode(&venue, repeats, mode == "pm-alone");
        return;
    }
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

fn pm_mode(venue: &ale_risk::synthetic::Venue, repeats: usize, alone: bool) {
    use rayon::prelude::*;
    let mut book = Book::new();
    for i in &venue.instruments {
        book.list(i);
    }
    for a in &venue.accounts {
        book.upsert_account(a)
            .expect("synthetic accounts are valid");
    }
    let policy = ale_risk::PmPolicy::default();
    let mut engine = RiskEngine::new(policy.clone(), venue.market.clone(), book);
    engine.remargin_all();
    let start = std::time::Instant::now();
    for _ in 0..repeats {
        if alone {
            let ok = venue
                .accounts
                .par_iter()
                .filter(|a| policy.account_margin(&venue.market, a).is_ok())
                .count();
            assert!(ok > 0);
        } else {
            engine.remargin_all();
        }
    }
    let each = start.elapsed().as_secs_f64() / repeats.max(1) as f64;
    let ok = engine.margins().iter().filter(|m| m.is_ok()).count();
    println!(
        "{} accounts ({ok} margined), pm{} x{repeats}: {:.2} ms each",
        engine.margins().len(),
        if alone {
            " priced alone"
        } else {
            " from the tables"
        },
        each * 1e3
    );
}
