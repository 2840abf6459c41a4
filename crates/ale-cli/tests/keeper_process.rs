//! The keeper as an operator runs it: `ale serve` killed with `kill -9` at random moments while a
//! client writes, restarted each time; every acknowledged write survives, nothing is applied
//! twice. Also a bounded load test on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request with `Connection: close`; returns (status, body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

struct Server {
    child: Child,
    port: u16,
}

fn start(config: &PathBuf, port: u16) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ale"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok((200, _)) = http(port, "GET", "/api/health", None, "") {
            return Server { child, port };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the keeper did not start on port {port}");
}

fn balance(port: u16, account: &str) -> f64 {
    let (_, body) = http(port, "GET", &format!("/api/accounts/{account}"), None, "").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["collateral"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["asset"] == "USDC")
        .map(|c| c["amount"].as_str().unwrap().parse::<f64>().unwrap())
        .unwrap_or(0.0)
}

fn config(dir: &PathBuf, port: u16) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("keeper.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndb = \"{}\"\npolicy = \"ramm\"\nmarket = \"{}\"\naccounts = [\"{}\"]\napi_keys = [\"k3y\"]\n",
            dir.join("keeper.db").display(),
            repo("examples/market.json").display(),
            repo("examples/portfolio.json").display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn kill_dash_nine_loses_no_acknowledged_write_and_applies_none_twice() {
    let dir = std::env::temp_dir().join(format!("ale-kill9-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let cfg = config(&dir, port);
    let mut server = start(&cfg, port);
    let initial = balance(port, "alice");
    let mut acknowledged = 0.0;
    let mut minute = 1;
    for round in 0..4 {
        // Write deposits for a while from another thread, then kill -9 mid-stream.
        let port = server.port;
        let start_minute = minute;
        let writer = std::thread::spawn(move || {
            let mut acked = 0.0;
            for i in 0..10_000 {
                let amount = 1.0 + (i % 7) as f64;
                let body = format!(
                    r#"{{"type":"deposit","time":"2026-11-24T{:02}:{:02}:00Z","account":"alice","asset":"USDC","amount":"{amount}"}}"#,
                    8 + (start_minute + i) / 60 % 16,
                    (start_minute + i) % 60
                );
                match http(port, "POST", "/api/events", Some("k3y"), &body) {
                    Ok((200, _)) => acked += amount,
                    // The request in flight when the server died: it may or may not be committed.
                    _ => return (acked, amount, i),
                }
            }
            (acked, 0.0, 10_000)
        });
        std::thread::sleep(Duration::from_millis(150 + 97 * round));
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        let (acked, in_flight, sent) = writer.join().unwrap();
        minute += sent + 1;
        acknowledged += acked;
        server = start(&cfg, port);
        let now = balance(port, "alice");
        let expected = initial + acknowledged;
        // The one request in flight at the kill may or may not have been committed.
        assert!(
            (now - expected).abs() < 1e-9 || (now - expected - in_flight).abs() < 1e-9,
            "round {round}: balance {now}, acknowledged {expected}, in flight {in_flight}"
        );
        acknowledged = now - initial;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bounded_load_test_on_loopback() {
    let dir = std::env::temp_dir().join(format!("ale-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let cfg = config(&dir, port);
    let mut server = start(&cfg, port);
    // 4 clients × 200 reads, bounded in count and time.
    let started = Instant::now();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut ok = 0;
                for i in 0..200 {
                    let path = if i % 2 == 0 {
                        "/api/accounts/alice"
                    } else {
                        "/api/accounts?limit=10"
                    };
                    if let Ok((200, _)) = http(port, "GET", path, None, "") {
                        ok += 1;
                    }
                    if started.elapsed() > Duration::from_secs(60) {
                        break;
                    }
                }
                ok
            })
        })
        .collect();
    let ok: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(ok, 800);
    // Unauthenticated writes are refused, and counted.
    let (status, _) = http(port, "POST", "/api/events", None, r#"{"type":"deposit","time":"2026-11-24T08:01:00Z","account":"alice","asset":"USDC","amount":"1"}"#).unwrap();
    assert_eq!(status, 401);
    let (_, metrics) = http(port, "GET", "/metrics", None, "").unwrap();
    assert!(metrics.contains("ale_unauthorized_total"), "{metrics}");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A venue for the liquidation test: the demo's market and 60 of its accounts, an insurance
/// fund and three liquidators (with their own API keys), as `keeper.toml` names them.
fn liquidation_venue(dir: &PathBuf, port: u16) -> PathBuf {
    use ale_keeper::demo::{
        demo_accounts, demo_insurance_fund, demo_liquidators, demo_market, DemoSpec,
    };
    std::fs::create_dir_all(dir).unwrap();
    let now = ale_core::Timestamp::parse_rfc3339(ale_risk::synthetic::VENUE_TIME).unwrap();
    let spec = DemoSpec {
        accounts: 60,
        options: 40,
        seed: 11,
        ..DemoSpec::default()
    };
    let market = dir.join("market.json");
    std::fs::write(&market, serde_json::to_string(&demo_market(now)).unwrap()).unwrap();
    let accounts = dir.join("accounts.json");
    std::fs::write(
        &accounts,
        serde_json::to_string(&demo_accounts(&spec, now)).unwrap(),
    )
    .unwrap();
    let amount = |c: &ale_format::portfolio::CollateralBalanceFile| {
        format!("{{ asset = \"{}\", amount = \"{}\" }}", c.asset, c.amount.0)
    };
    let fund: Vec<String> = demo_insurance_fund().iter().map(amount).collect();
    let mut toml = format!(
        "listen = \"127.0.0.1:{port}\"\ndb = \"{}\"\npolicy = \"ramm\"\nmarket = \"{}\"\naccounts = [\"{}\"]\napi_keys = [\"k3y\"]\nseed = \"kill-test\"\ninsurance_fund = [{}]\n",
        dir.join("keeper.db").display(),
        market.display(),
        accounts.display(),
        fund.join(", ")
    );
    for l in demo_liquidators() {
        let capital: Vec<String> = l.collateral.iter().map(amount).collect();
        toml.push_str(&format!(
            "\n[[liquidators]]\nname = \"{0}\"\nkey = \"{0}-key\"\nmax_price_fraction = {1}\ninsolvent_premium_fraction = {2}\nmax_share = {3}\ncollateral = [{4}]\n",
            l.name,
            l.max_price_fraction,
            l.insolvent_premium_fraction,
            l.max_share,
            capital.join(", ")
        ));
    }
    let path = dir.join("keeper.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn json(port: u16, path: &str) -> serde_json::Value {
    let (status, body) = http(port, "GET", path, None, "").unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn minute(m: i64) -> ale_core::Timestamp {
    let start = ale_core::Timestamp::parse_rfc3339(ale_risk::synthetic::VENUE_TIME).unwrap();
    ale_core::Timestamp::from_unix_seconds(start.unix_seconds() + m * 60).unwrap()
}

/// The BTC crash of the demo: −30 % in three steps while implied vol rises 80 %.
fn crash_events() -> Vec<String> {
    use ale_keeper::event::Event;
    let start = minute(0);
    [(85_000.0, 0.7), (75_000.0, 0.85), (66_500.0, 0.99)]
        .iter()
        .enumerate()
        .map(|(i, (spot, level))| {
            let time = minute(5 * (i as i64 + 1));
            let listed: Vec<_> = ale_risk::synthetic::EXPIRY_DAYS
                .iter()
                .map(|d| ale_risk::synthetic::expiry_after(start, *d))
                .filter(|e| e.years_from(time) > 0.0)
                .collect();
            serde_json::to_string(&Event::Market {
                time: time.to_string(),
                underlying: ale_keeper::demo::underlying_file("BTC", *spot, *level, time, &listed),
            })
            .unwrap()
        })
        .collect()
}

/// Posts an event as the operator, or as the liquidator it bids for.
fn post_event(port: u16, body: &str) -> std::io::Result<(u16, String)> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let key = match v["bidder"].as_str() {
        Some(b) => format!("{b}-key"),
        None => "k3y".to_string(),
    };
    http(port, "POST", "/api/events", Some(&key), body)
}

/// What must come out the same: the ledger's every balance, and every liquidation record.
fn outcome(port: u16) -> (serde_json::Value, serde_json::Value) {
    let ledger = json(port, "/api/ledger?entries=1");
    let log = json(port, "/api/liquidations?limit=10000");
    (ledger, log["records"].clone())
}

#[test]
fn kill_dash_nine_during_a_liquidation_resumes_it_exactly_once() {
    // The reference: the crash, the liquidators' bids and time passing, without a kill.
    let dir = std::env::temp_dir().join(format!("ale-kill9-liq-ref-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let cfg = liquidation_venue(&dir, port);
    let mut server = start(&cfg, port);
    let genesis = json(port, "/api/health")["events"].as_i64().unwrap();
    let mut script: Vec<String> = crash_events();
    for e in &script {
        assert_eq!(post_event(port, e).unwrap().0, 200);
    }
    // The auctions the crash opened; each liquidator bids when the price reaches its limit,
    // and time passes every five minutes, then thirteen hours later.
    let auctions = json(port, "/api/auctions");
    let open = auctions["auctions"].as_array().unwrap().clone();
    assert!(!open.is_empty(), "the crash opened no auction: {auctions}");
    let params = ale_liquidation::AuctionParams::default();
    let mut later: Vec<(i64, String)> = Vec::new();
    for a in &open {
        let opened = ale_core::Timestamp::parse_rfc3339(a["opened"].as_str().unwrap())
            .unwrap()
            .unix_seconds();
        for l in auctions["liquidators"].as_array().unwrap() {
            // As `ale_liquidation::driver` orders bids: when the price reaches the limit (the
            // insolvent auction: when the premium is reached), not before the crash's end.
            let wait = if a["insolvent"] == true {
                l["insolvent_premium_fraction"].as_f64().unwrap() * params.insolvent_s
            } else {
                params
                    .time_to_reach(l["max_price_fraction"].as_f64().unwrap())
                    .unwrap()
            };
            let at = (opened + wait.ceil() as i64).max(minute(15).unix_seconds());
            later.push((
                at,
                format!(
                    r#"{{"type":"bid","time":"{}","account":"{}","bidder":"{}"}}"#,
                    ale_core::Timestamp::from_unix_seconds(at).unwrap(),
                    a["account"].as_str().unwrap(),
                    l["name"].as_str().unwrap()
                ),
            ));
        }
    }
    for m in (20..=60).step_by(5).chain([16 + 13 * 60]) {
        later.push((
            minute(m).unix_seconds(),
            format!(r#"{{"type":"tick","time":"{}"}}"#, minute(m)),
        ));
    }
    later.sort_by_key(|(t, _)| *t);
    script.extend(later.into_iter().map(|(_, e)| e));
    // Answers of the reference: accepted (200) or refused (422: a bid after the account was
    // restored by an earlier one). Only accepted events are logged.
    let mut accepted_before = vec![0i64; script.len() + 1];
    let mut statuses = Vec::new();
    for e in script.iter().skip(3) {
        let (status, body) = post_event(port, e).unwrap();
        assert!(status == 200 || status == 422, "{e}: {status} {body}");
        statuses.push(status);
    }
    let mut accepted = 0;
    for (i, slot) in accepted_before.iter_mut().enumerate().take(script.len()) {
        *slot = accepted;
        if i < 3 || statuses[i - 3] == 200 {
            accepted += 1;
        }
    }
    accepted_before[script.len()] = accepted;
    let reference = outcome(port);
    assert_eq!(reference.0["balanced"], true);
    assert!(json(port, "/api/auctions")["running"]
        .as_array()
        .unwrap()
        .is_empty());
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    // The same script, killed with -9 while the auctions run and at other points, four times
    // between requests and twice with a request in flight.
    let dir = std::env::temp_dir().join(format!("ale-kill9-liq-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let cfg = liquidation_venue(&dir, port);
    let mut server = start(&cfg, port);
    let n = script.len();
    let kills_between = [3, 3 + (n - 3) / 4, 3 + (n - 3) / 2, n - 1];
    let kills_in_flight = [3 + (n - 3) / 3, 3 + 2 * (n - 3) / 3];
    let mut i = 0;
    let mut kills = 0;
    let mut done = std::collections::BTreeSet::new();
    let mut killed_in_auction = 0;
    while i < n {
        let in_flight = kills_in_flight.contains(&i) && !done.contains(&i);
        if (kills_between.contains(&i) || in_flight) && done.insert(i) {
            if in_flight {
                // The request goes out and the server dies under it.
                let body = script[i].clone();
                let p = server.port;
                let client = std::thread::spawn(move || post_event(p, &body));
                std::thread::sleep(Duration::from_millis(1 + 3 * kills as u64));
                server.child.kill().unwrap();
                server.child.wait().unwrap();
                let _ = client.join().unwrap();
            } else {
                server.child.kill().unwrap();
                server.child.wait().unwrap();
            }
            kills += 1;
            server = start(&cfg, port);
            // Where the log stands: resume after the last committed event.
            let committed = json(port, "/api/health")["events"].as_i64().unwrap() - genesis;
            let resume = (0..=n)
                .find(|j| accepted_before[*j] == committed)
                .expect("the log holds a prefix of the script");
            assert!(resume <= i + 1, "resume at {resume}, sent up to {i}");
            if !json(port, "/api/auctions")["auctions"]
                .as_array()
                .unwrap()
                .is_empty()
            {
                killed_in_auction += 1;
            }
            assert_eq!(json(port, "/api/ledger")["balanced"], true);
            i = resume;
            if in_flight {
                continue;
            }
        }
        let (status, body) = post_event(port, &script[i]).unwrap();
        let expected = if i < 3 { 200 } else { statuses[i - 3] };
        assert_eq!(status, expected, "event {i} {}: {body}", script[i]);
        i += 1;
    }
    assert_eq!(kills, 6);
    assert!(
        killed_in_auction >= 3,
        "{killed_in_auction} kills during an auction"
    );
    let resumed = outcome(port);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // Exactly once: the same operations, the same balances, the same records.
    assert_eq!(resumed.0["operations"], reference.0["operations"]);
    assert_eq!(resumed.0["entries"], reference.0["entries"]);
    assert_eq!(resumed.1, reference.1);
    let records = resumed.1.as_array().unwrap();
    let count = |step: &str| records.iter().filter(|r| r["step"] == step).count();
    assert!(count("flagged") > 0);
    eprintln!(
        "flagged {} restored {} closed {} fills {} records {}",
        count("flagged"),
        count("restored"),
        count("closed"),
        count("auction_fill"),
        records.len()
    );
    assert_eq!(count("flagged"), count("restored") + count("closed"));
    let mut ops: Vec<i64> = records
        .iter()
        .filter_map(|r| r["op"]["id"].as_i64())
        .collect();
    let total = ops.len();
    ops.sort_unstable();
    ops.dedup();
    assert_eq!(ops.len(), total, "an operation was applied twice");
}
