//! The keeper's numbers on a 100,000-account book (issue 9): restart (replay) time, latency from
//! one underlying's price update to every affected account's new margin, and read-API latency
//! under a bounded load on 127.0.0.1.
//!
//! `cargo run --release -p ale-keeper --example keeper_load [ACCOUNTS]`

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ale_format::portfolio::file_from_account;
use ale_keeper::event::{Event, QuoteFile};
use ale_keeper::node::NodeConfig;
use ale_keeper::service::{genesis_events, Auth, Keeper};
use ale_keeper::store::Store;
use ale_risk::synthetic::{synthetic_venue, VenueSpec};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let accounts: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let venue = synthetic_venue(&VenueSpec {
        accounts,
        ..VenueSpec::default()
    });
    let market = ale_keeper::demo::demo_market(venue.market.time());
    // The synthetic venue starts with about 10 % of its accounts below maintenance (it is a
    // stress book for the risk engine). The keeper now liquidates those at genesis; the
    // steady-state figures fund every account to 1.25× its initial margin first (not timed).
    // ALE_LOAD_CRISIS=1 keeps the book as generated: thousands of liquidations at genesis.
    let crisis = std::env::var("ALE_LOAD_CRISIS").is_ok_and(|v| v == "1");
    let mut accounts_in = venue.accounts.clone();
    if !crisis {
        use rayon::prelude::*;
        let snapshot = ale_format::market::market_from_file(&market)
            .expect("the demo market")
            .snapshot;
        let policy = ale_risk::Ramm::default();
        accounts_in.par_iter_mut().for_each(|a| {
            if let Ok(m) = ale_risk::margin_standalone(&policy, &snapshot, a) {
                let need = 1.25 * m.initial - m.equity;
                if need > 0.0 {
                    let cash = ale_core::Amount::from_f64(need, ale_core::Rounding::Up)
                        .expect("a finite top-up");
                    a.add_collateral(ale_core::Asset::new("USDC").expect("USDC"), cash)
                        .expect("a top-up");
                }
            }
        });
    }
    let portfolios: Vec<_> = accounts_in.iter().map(file_from_account).collect();
    let events = genesis_events(&market, &portfolios);
    let db = std::env::temp_dir().join(format!("ale-keeper-load-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let t = Instant::now();
    let keeper = Keeper::start(
        Store::open(&db).unwrap(),
        NodeConfig::new("ramm"),
        Some((venue.market.time(), 0.0, events)),
        Auth::operators(vec!["k".into()]),
    )
    .unwrap();
    println!(
        "first start (log written, then replayed): {:.2?}",
        t.elapsed()
    );
    drop(keeper);
    let t = Instant::now();
    let keeper = Keeper::start(
        Store::open(&db).unwrap(),
        NodeConfig::new("ramm"),
        None,
        Auth::operators(vec!["k".into()]),
    )
    .unwrap();
    println!(
        "restart to serving ({accounts} accounts, replay of the log): {:.2?}",
        t.elapsed()
    );
    {
        let node = keeper.node();
        println!(
            "by status {:?}; liquidations running {}, waiting {}, records {}",
            node.status_counts(),
            node.liquidations_running().count(),
            node.liquidations_pending().count(),
            node.liquidation_engine().log().len()
        );
    }

    // The signed snapshot the node makes after every market update: Merkle commitment of the
    // market (with the forwards of every listed expiry) and three ed25519 signatures.
    {
        let node = keeper.node();
        let book = node.engine().book();
        let mut expiries = std::collections::BTreeMap::new();
        for (u, name) in book.underlyings().iter().enumerate() {
            let mut list: Vec<_> = book.rows(u).filter_map(|l| l.instrument.expiry()).collect();
            list.sort();
            list.dedup();
            expiries.insert(name.clone(), list);
        }
        let keys = ale_keeper::snapshot::Keys::from_seed("load");
        let n = 200;
        let t = Instant::now();
        let mut leaves = 0;
        for seq in 0..n {
            let s = ale_keeper::snapshot::commit_and_sign(
                node.engine().market(),
                &expiries,
                seq,
                &keys,
            )
            .unwrap();
            leaves = s.root.leaf_count;
        }
        println!(
            "snapshot commit ({leaves} leaves) + 3 ed25519 signatures: {:.0} µs each (mean of {n})",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }

    // Price updates: quotes for BTC from three sources, 30 s apart (below the full re-margin
    // interval, so each is the incremental path).
    let start = venue.market.time().unix_seconds();
    let updates: i64 = std::env::var("ALE_LOAD_UPDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let mut latencies = Vec::new();
    for i in 1..=updates {
        let time = ale_core::Timestamp::from_unix_seconds(start + i)
            .unwrap()
            .to_string();
        let spot = 95_000.0 * (1.0 + 0.001 * ((i % 7) as f64 - 3.0));
        let quotes = ["a", "b", "c"]
            .iter()
            .map(|s| QuoteFile {
                source: s.to_string(),
                value: spot,
                time: time.clone(),
            })
            .collect();
        let t = Instant::now();
        keeper
            .submit(Event::Quotes {
                time,
                underlying: "BTC".into(),
                quotes,
            })
            .unwrap();
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "price update -> every affected margin (incl. SQLite commit): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} updates",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
        latencies.len()
    );

    if std::env::var("ALE_LOAD_READS").is_ok_and(|v| v == "0") {
        let _ = std::fs::remove_file(&db);
        return;
    }
    // Read API under load: 4 client threads pacing 250 requests/s each for 10 s.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let k2: Arc<Keeper> = keeper.clone();
    runtime.spawn(async move { ale_keeper::service::serve(k2, listener).await });
    std::thread::sleep(Duration::from_millis(200));
    let ids: Vec<String> = venue
        .accounts
        .iter()
        .take(1000)
        .map(|a| a.id.to_string())
        .collect();
    let ids = Arc::new(ids);
    let threads: Vec<_> = (0..4)
        .map(|c| {
            let ids = ids.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let begin = Instant::now();
                for i in 0..2500usize {
                    let due = begin + Duration::from_micros(4000 * i as u64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let id = &ids[(i * 4 + c) % ids.len()];
                    let t = Instant::now();
                    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                    write!(
                        s,
                        "GET /api/accounts/{id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                    )
                    .unwrap();
                    let mut buf = Vec::new();
                    s.read_to_end(&mut buf).unwrap();
                    assert!(buf.starts_with(b"HTTP/1.1 200"));
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<f64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_by(f64::total_cmp);
    println!(
        "read API GET /api/accounts/{{id}} at 1,000 req/s (4 clients, new connection each): p50 {:.2} ms, p99 {:.2} ms over {} requests",
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.len()
    );
    let _ = std::fs::remove_file(&db);
}
