//! Whole flows through the keeper: a feed drives a crash, accounts are called and flagged, the
//! API and the WebSocket say so; bad feed values never reach a margin; unauthenticated writes
//! are refused; a restart replays the log to the same state.

use std::sync::Arc;

use ale_core::Timestamp;
use ale_keeper::demo::{demo_genesis, underlying_file, DemoSpec};
use ale_keeper::event::{Effect, Event};
use ale_keeper::node::NodeConfig;
use ale_keeper::service::{Auth, Keeper};
use ale_keeper::store::Store;
use ale_risk::synthetic::{expiry_after, EXPIRY_DAYS};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::StreamExt;
use serde_json::Value;
use tower::ServiceExt;

const SPEC: DemoSpec = DemoSpec {
    accounts: 300,
    options: 60,
    tick: std::time::Duration::from_millis(1),
    market_seconds_per_tick: 300,
    crash_after_ticks: 0,
    seed: 9,
};

fn auth() -> Auth {
    Auth {
        api_keys: vec!["secret".into()],
        liquidator_keys: vec![("mm-alpha".into(), "alpha-key".into())],
    }
}

fn keeper(store: Store) -> Arc<Keeper> {
    Keeper::start(
        store,
        NodeConfig::new("ramm"),
        Some(demo_genesis(&SPEC)),
        auth(),
    )
    .unwrap()
}

fn market_event(minutes: i64, btc: f64, level: f64) -> Event {
    let start = Timestamp::parse_rfc3339(ale_risk::synthetic::VENUE_TIME).unwrap();
    let time = Timestamp::from_unix_seconds(start.unix_seconds() + minutes * 60).unwrap();
    let listed: Vec<_> = EXPIRY_DAYS
        .iter()
        .map(|d| expiry_after(start, *d))
        .filter(|e| e.years_from(time) > 0.0)
        .collect();
    Event::Market {
        time: time.to_string(),
        underlying: underlying_file("BTC", btc, level, time, &listed),
    }
}

async fn get(k: &Arc<Keeper>, uri: &str) -> (StatusCode, Value) {
    let resp = ale_keeper::api::router(k.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn post(k: &Arc<Keeper>, uri: &str, key: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut req = Request::post(uri).header("content-type", "application/json");
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let resp = ale_keeper::api::router(k.clone())
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_crash_calls_and_flags_accounts_and_the_api_says_so() {
    let k = keeper(Store::in_memory().unwrap());
    let (_, before) = get(&k, "/api/health").await;
    let liq_before = before["by_status"]["liquidatable"].as_u64().unwrap();
    let mut rx = k.subscribe();
    // BTC −30 % in three steps while implied vol rises by 80 %.
    let mut flagged = 0;
    for (i, (spot, level)) in [(85_000.0, 0.7), (75_000.0, 0.85), (66_500.0, 0.99)]
        .iter()
        .enumerate()
    {
        let (_, effects) = k
            .submit(market_event(5 * (i as i64 + 1), *spot, *level))
            .unwrap();
        flagged += effects
            .iter()
            .filter(|e| matches!(e, Effect::Liquidatable { .. }))
            .count();
    }
    assert!(flagged > 0, "a 30 % crash flags no account");
    let (status, after) = get(&k, "/api/health").await;
    assert_eq!(status, StatusCode::OK);
    assert!(after["by_status"]["liquidatable"].as_u64().unwrap() > liq_before);
    // The ranking puts a liquidatable account first, and its page explains it.
    let (_, list) = get(&k, "/api/accounts?limit=5").await;
    let first = &list["accounts"][0];
    assert_eq!(first["status"], "liquidatable");
    let id = first["account"].as_str().unwrap();
    let (_, page) = get(&k, &format!("/api/accounts/{id}")).await;
    assert_eq!(page["margin"]["status"], "liquidatable");
    let mm = page["margin"]["maintenance_margin"].as_f64().unwrap();
    let sum: f64 = page["margin"]["components"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((sum - mm).abs() < 1e-6 * mm.max(1.0));
    // Subscribers saw the same.
    let mut seen = 0;
    while let Ok((_, effect)) = rx.try_recv() {
        if matches!(effect, Effect::Liquidatable { .. }) {
            seen += 1;
        }
    }
    assert_eq!(seen, flagged);
    // The heat map and the book answer.
    let (status, heat) = get(&k, "/api/book/heatmap?underlying=BTC").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(heat["pnl"].as_array().unwrap().len(), 7);
    let (_, metrics_text) = {
        let resp = ale_keeper::api::router(k.clone())
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap();
        ((), String::from_utf8(bytes.to_vec()).unwrap())
    };
    assert!(
        metrics_text.contains("ale_remargin_seconds"),
        "{metrics_text}"
    );
}

#[tokio::test]
async fn bad_feed_values_never_reach_a_margin() {
    let k = keeper(Store::in_memory().unwrap());
    let before: Vec<_> = k.node().engine().margins().to_vec();
    for bad in [
        r#"{"type":"market","time":"2026-11-24T08:05:00Z","underlying":{"name":"BTC","spot":-5,"surface":{"flat":0.5}}}"#,
        r#"{"type":"market","time":"2026-11-24T08:05:00Z","underlying":{"name":"BTC","spot":0,"surface":{"flat":0.5}}}"#,
        r#"{"type":"market","time":"2026-11-24T08:05:00Z","underlying":{"name":"BTC","spot":95000,"surface":{"flat":-0.5}}}"#,
        r#"{"type":"market","time":"2026-11-24T08:05:00Z","underlying":{"name":"BTC","spot":1e400,"surface":{"flat":0.5}}}"#,
        r#"{"type":"market","time":"2020-01-01T00:00:00Z","underlying":{"name":"BTC","spot":95000,"surface":{"flat":0.5}}}"#,
        r#"{"type":"collateral_price","time":"2026-11-24T08:05:00Z","collateral":{"asset":"BTC","price":-1}}"#,
    ] {
        let (status, body) = post(&k, "/api/events", Some("secret"), bad).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{bad}: {status} {body}"
        );
        assert!(body["error"].is_string());
    }
    assert_eq!(k.node().engine().margins(), &before[..]);
}

#[tokio::test]
async fn writes_need_an_api_key() {
    let k = keeper(Store::in_memory().unwrap());
    let deposit = r#"{"type":"deposit","time":"2026-11-24T08:01:00Z","account":"trader-00001","asset":"USDC","amount":"1000"}"#;
    for key in [None, Some("wrong")] {
        let (status, _) = post(&k, "/api/events", key, deposit).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = post(&k, "/api/events", Some("secret"), deposit).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["seq"].as_i64().unwrap() > 0);
    // What-if is a read: open, and changes nothing.
    let before = k.node().margin("trader-00001").unwrap();
    let (status, body) = post(&k, "/api/what-if", None, r#"{"account":"trader-00001","trades":[{"instrument":"BTC-PERP","size":-2}],"shock":{"underlying":"BTC","spot_shock":-0.2,"vol_shock":0.3}}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["after"]["maintenance_margin"].is_number());
    assert_eq!(k.node().margin("trader-00001").unwrap(), before);
}

#[tokio::test]
async fn withdrawals_below_initial_margin_and_frozen_accounts_are_refused() {
    let k = keeper(Store::in_memory().unwrap());
    let id = k.node().accounts().keys().next().unwrap().to_string();
    let m = k.node().margin(&id).unwrap();
    let huge = format!("{}", (m.equity * 10.0).max(1.0e9) as u64);
    let event = Event::Withdraw {
        time: "2026-11-24T08:01:00Z".into(),
        account: id.clone(),
        asset: "USDC".into(),
        amount: huge,
    };
    assert!(k.submit(event).is_err());
    assert_eq!(k.node().margin(&id).unwrap(), m);
}

#[test]
fn a_restart_replays_the_log_to_the_same_state() {
    let dir = std::env::temp_dir().join(format!("ale-keeper-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("restart.db");
    let _ = std::fs::remove_file(&db);
    let margins_before;
    {
        let k = keeper(Store::open(&db).unwrap());
        k.submit(market_event(5, 80_000.0, 0.8)).unwrap();
        k.submit(Event::Deposit {
            time: "2026-11-24T08:06:00Z".into(),
            account: "trader-00002".into(),
            asset: "USDC".into(),
            amount: "5000.5".into(),
        })
        .unwrap();
        k.submit(Event::Trade {
            time: "2026-11-24T08:07:00Z".into(),
            account: "trader-00002".into(),
            instrument: "BTC-PERP".into(),
            size: 0.5,
            price: 80_000.0,
        })
        .unwrap();
        margins_before = k.node().engine().margins().to_vec();
    }
    // A restart with no genesis replays the log alone.
    let again = Keeper::start(
        Store::open(&db).unwrap(),
        NodeConfig::new("ramm"),
        None,
        Auth::default(),
    )
    .unwrap();
    let after = again.node().engine().margins().to_vec();
    assert_eq!(after.len(), margins_before.len());
    for (i, (a, b)) in after.iter().zip(&margins_before).enumerate() {
        assert!(a == b, "account {i} differs after replay:\n{a:?}\n{b:?}");
    }
}

#[tokio::test]
async fn the_websocket_streams_effects() {
    let k = keeper(Store::in_memory().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(ale_keeper::service::serve(k.clone(), listener));
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws"))
        .await
        .unwrap();
    // Give the server a moment to subscribe, then crash the market.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let k2 = k.clone();
    tokio::task::spawn_blocking(move || k2.submit(market_event(5, 60_000.0, 1.0)).unwrap())
        .await
        .unwrap();
    let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let v: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
    assert!(v["seq"].as_i64().unwrap() > 0);
    assert!(v["effect"]["type"].is_string());
    server.abort();
}

#[tokio::test]
async fn the_oracle_aggregates_quotes_and_rejects_bad_ones_with_reasons() {
    let k = keeper(Store::in_memory().unwrap());
    let q = |source: &str, value: f64, time: &str| ale_keeper::event::QuoteFile {
        source: source.into(),
        value,
        time: time.into(),
    };
    let now = "2026-11-24T08:00:30Z";
    let (_, effects) = k
        .submit(Event::Quotes {
            time: now.into(),
            underlying: "BTC".into(),
            quotes: vec![
                q("a", 94_000.0, now),
                q("b", 94_100.0, now),
                q("c", 93_900.0, now),
                q("neg", -1.0, now),
                q("old", 94_000.0, "2026-11-24T07:00:00Z"),
                q("fat", 140_000.0, now),
            ],
        })
        .unwrap();
    let rejected: Vec<&Effect> = effects
        .iter()
        .filter(|e| matches!(e, Effect::FeedRejected { .. }))
        .collect();
    assert_eq!(rejected.len(), 3, "{effects:?}");
    assert!(effects.iter().any(
        |e| matches!(e, Effect::Spot { spot, sources: 3, .. } if (*spot - 94_000.0).abs() < 1e-9)
    ));
    let spot = k
        .node()
        .engine()
        .market()
        .underlying(&ale_core::Asset::new("BTC").unwrap())
        .unwrap()
        .spot();
    assert!((spot - 94_000.0).abs() < 1e-9);
    // One source alone claims −40 %: the circuit breaker refuses it and nothing moves.
    let before = k.node().engine().margins().to_vec();
    let later = "2026-11-24T08:00:40Z";
    let err = k
        .submit(Event::Quotes {
            time: later.into(),
            underlying: "BTC".into(),
            quotes: vec![q("a", 56_000.0, later)],
        })
        .unwrap_err();
    assert!(err.to_string().contains("circuit breaker"), "{err}");
    assert_eq!(k.node().engine().margins(), &before[..]);
    // The risk oracle publishes the book's Greeks.
    let (status, greeks) = get(&k, "/api/risk-oracle").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!greeks["underlyings"][0]["expiries"]
        .as_array()
        .unwrap()
        .is_empty());
}

fn at_minute(minutes: i64) -> Timestamp {
    let start = Timestamp::parse_rfc3339(ale_risk::synthetic::VENUE_TIME).unwrap();
    Timestamp::from_unix_seconds(start.unix_seconds() + minutes * 60).unwrap()
}

fn crash() -> Vec<Event> {
    [(85_000.0, 0.7), (75_000.0, 0.85), (66_500.0, 0.99)]
        .iter()
        .enumerate()
        .map(|(i, (spot, level))| market_event(5 * (i as i64 + 1), *spot, *level))
        .collect()
}

fn effect_json(e: &Effect) -> Value {
    serde_json::to_value(e).unwrap()
}

/// What a replay must reproduce: the ledger, the liquidation log, the keeper's accounts and
/// margins, the running and waiting liquidations.
fn liquidation_state(k: &Keeper) -> String {
    let node = k.node();
    let engine = node.liquidation_engine();
    let records: Vec<String> = engine
        .log()
        .iter()
        .map(|r| {
            format!(
                "{} {} {:?} {} {} {:?} {:?}",
                r.seq,
                r.at,
                r.account,
                r.kind.name(),
                r.reason,
                r.details,
                r.op
            )
        })
        .collect();
    let accounts: Vec<String> = node.accounts().values().map(|a| format!("{a:?}")).collect();
    format!(
        "{:?}\n{}\n{}\n{:?}\n{:?}\n{:?}",
        engine.ledger().snapshot(),
        records.join("\n"),
        accounts.join("\n"),
        node.engine().margins(),
        node.liquidations_running().collect::<Vec<_>>(),
        node.liquidations_pending().collect::<Vec<_>>(),
    )
}

#[tokio::test]
async fn a_crash_is_liquidated_through_the_tiers_and_the_ledger_balances() {
    let k = keeper(Store::in_memory().unwrap());
    let mut rx = k.subscribe();
    let mut effects: Vec<Value> = Vec::new();
    for e in crash() {
        effects.extend(k.submit(e).unwrap().1.iter().map(effect_json));
    }
    // The WebSocket's channel carried every liquidation step, auctions opening included.
    let mut streamed = Vec::new();
    while let Ok((_, effect)) = rx.try_recv() {
        streamed.push(effect_json(&effect));
    }
    let steps = |list: &[Value], step: &str| {
        list.iter()
            .filter(|e| e["type"] == "liquidation" && e["step"] == step)
            .count()
    };
    assert!(steps(&streamed, "auction_opened") > 0);
    for step in ["flagged", "auction_opened", "backstop_take", "restored"] {
        assert_eq!(steps(&streamed, step), steps(&effects, step), "{step}");
    }
    // Every liquidation started with a certificate, and every record names the signed
    // snapshot the engine valued at.
    let certified: std::collections::BTreeSet<&str> = effects
        .iter()
        .filter(|e| e["type"] == "certificate")
        .map(|e| e["account"].as_str().unwrap())
        .collect();
    let flagged: Vec<&str> = effects
        .iter()
        .filter(|e| e["type"] == "liquidation" && e["step"] == "flagged")
        .map(|e| e["account"].as_str().unwrap())
        .collect();
    assert!(flagged.len() >= 10, "{} flagged", flagged.len());
    for a in &flagged {
        assert!(certified.contains(a), "{a} flagged without a certificate");
    }
    for e in effects.iter().filter(|e| e["type"] == "liquidation") {
        assert!(e["snapshot_root"].is_string(), "{e}");
    }
    assert!(effects
        .iter()
        .any(|e| e["type"] == "liquidation" && e["step"] == "backstop_take"));
    // Auctions are open and priced.
    let (_, auctions) = get(&k, "/api/auctions").await;
    let open = auctions["auctions"].as_array().unwrap();
    assert!(!open.is_empty(), "{auctions}");
    assert!(open[0]["price"]["discount"].is_number(), "{auctions}");
    let some = open[0]["account"].as_str().unwrap().to_string();
    // A liquidator's key sends its own bids and nothing else.
    let deposit = format!(
        r#"{{"type":"deposit","time":"{}","account":"{some}","asset":"USDC","amount":"1"}}"#,
        at_minute(16)
    );
    assert_eq!(
        post(&k, "/api/events", Some("alpha-key"), &deposit).await.0,
        StatusCode::FORBIDDEN
    );
    let foreign = format!(
        r#"{{"type":"bid","time":"{}","account":"{some}","bidder":"mm-beta"}}"#,
        at_minute(16)
    );
    assert_eq!(
        post(&k, "/api/events", Some("alpha-key"), &foreign).await.0,
        StatusCode::FORBIDDEN
    );
    // A bid for an account with no auction is refused and changes nothing.
    let nowhere = format!(
        r#"{{"type":"bid","time":"{}","account":"no-such","bidder":"mm-alpha"}}"#,
        at_minute(16)
    );
    let (status, body) = post(&k, "/api/events", Some("alpha-key"), &nowhere).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // The liquidators bid as the price comes down to their limits; time passes minute by
    // minute.
    let mut sent = std::collections::BTreeSet::new();
    let mut fills = 0;
    for minute in 16..=40 {
        let time = at_minute(minute);
        let bids = ale_keeper::demo::due_bids(&k.node(), time, &mut sent);
        for bid in bids {
            let key = if bid.bidder() == Some("mm-alpha") {
                "alpha-key"
            } else {
                "secret"
            };
            let (status, body) = post(
                &k,
                "/api/events",
                Some(key),
                &serde_json::to_string(&bid).unwrap(),
            )
            .await;
            if status == StatusCode::UNPROCESSABLE_ENTITY {
                // An earlier bid of the same minute restored the account: its auction is over.
                assert!(
                    body["error"].as_str().unwrap().contains("no auction"),
                    "{body}"
                );
                continue;
            }
            assert_eq!(status, StatusCode::OK, "{body}");
            fills += body["effects"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["step"] == "auction_fill")
                .count();
        }
        k.submit(Event::Tick {
            time: time.to_string(),
        })
        .unwrap();
    }
    assert!(fills > 0, "no auction fill");
    // Thirteen hours later every auction is over and every case finished.
    k.submit(Event::Tick {
        time: at_minute(16 + 13 * 60).to_string(),
    })
    .unwrap();
    let (_, auctions) = get(&k, "/api/auctions").await;
    eprintln!("{}", auctions["pending"]);
    assert!(
        auctions["auctions"].as_array().unwrap().is_empty(),
        "{auctions}"
    );
    assert!(
        auctions["running"].as_array().unwrap().is_empty(),
        "{auctions}"
    );
    // The ledger balances: every unit's balances sum to zero.
    let (_, ledger) = get(&k, "/api/ledger?entries=1").await;
    assert_eq!(ledger["balanced"], true);
    let mut sums: std::collections::BTreeMap<String, i128> = Default::default();
    for e in ledger["entries"].as_array().unwrap() {
        let amount = ale_core::Amount::parse_decimal(e[2].as_str().unwrap()).unwrap();
        *sums.entry(e[1].as_str().unwrap().to_string()).or_default() += amount.raw();
    }
    assert!(sums.values().all(|s| *s == 0), "{sums:?}");
    assert!(ledger["insurance_fund"]["balances"]["cash:USDC"].is_string());
    // Each liquidated account: one case per flag, ended restored or closed, its certificate
    // verifies, and the keeper's account holds what the ledger holds.
    let keys = k.node().keys().clone();
    for a in flagged.iter().take(12) {
        let (_, log) = get(&k, &format!("/api/liquidations?account={a}&limit=10000")).await;
        let records = log["records"].as_array().unwrap();
        let count = |step: &str| records.iter().filter(|r| r["step"] == step).count();
        assert_eq!(
            count("flagged"),
            count("restored") + count("closed"),
            "{a}: {log}"
        );
        assert!(records.iter().all(|r| r["snapshot_root"].is_string()));
        for case in log["cases"].as_array().unwrap() {
            assert!(
                case["stage"] == "restored" || case["stage"] == "closed",
                "{case}"
            );
        }
        let (status, cert) = get(&k, &format!("/api/liquidations/{a}/certificate")).await;
        assert_eq!(status, StatusCode::OK, "{cert}");
        let bytes = hex::decode(cert["hex"].as_str().unwrap()).unwrap();
        let certified_at = ale_certify::decode(&bytes).unwrap().time_s;
        let verdict = ale_verify::verify(
            &bytes,
            &ale_verify::TrustedKeys {
                oracle: keys.oracle_public(),
                venue: keys.venue_public(),
            },
            &ale_verify::Quorum {
                oracle: 2,
                venue: 2,
                max_age_s: 120,
            },
            certified_at,
        );
        assert!(verdict.is_ok(), "{a}: {verdict:?}");
        let node = k.node();
        let id = ale_core::AccountId::new(a).unwrap();
        let ledger_id = node.ledger_account(&id).unwrap().clone();
        let held = node
            .liquidation_engine()
            .portfolio(&ale_liquidation::Holder::Trader(ledger_id));
        let account = &node.accounts()[&id];
        assert_eq!(
            account.positions.len(),
            held.positions.iter().filter(|h| !h.qty.is_zero()).count(),
            "{a}"
        );
    }
    let resp = ale_keeper::api::router(k.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = String::from_utf8(
        axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    for needle in [
        "ale_liquidation_records_total",
        "ale_insurance_fund_cash",
        "ale_auctions_open",
        "ale_certificates_total",
    ] {
        assert!(text.contains(needle), "{needle} missing");
    }
}

#[test]
fn a_restart_replays_liquidations_to_the_same_ledger_and_records() {
    let dir = std::env::temp_dir().join(format!("ale-keeper-liq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("liq.db");
    let _ = std::fs::remove_file(&db);
    let mut events: Vec<Event> = crash();
    let reference = keeper(Store::in_memory().unwrap());
    let before;
    {
        let k = keeper(Store::open(&db).unwrap());
        for e in &events {
            k.submit(e.clone()).unwrap();
            reference.submit(e.clone()).unwrap();
        }
        // Some bids, leaving auctions in progress.
        let mut sent = std::collections::BTreeSet::new();
        for minute in [17, 19, 22] {
            let time = at_minute(minute);
            let mut batch = ale_keeper::demo::due_bids(&k.node(), time, &mut sent);
            batch.push(Event::Tick {
                time: time.to_string(),
            });
            for e in batch {
                // A bid after the account was restored is refused by both, and not logged.
                let a = k.submit(e.clone()).map(|r| r.1);
                let b = reference.submit(e.clone()).map(|r| r.1);
                assert_eq!(a.is_ok(), b.is_ok());
                if let (Ok(a), Ok(b)) = (a, b) {
                    assert_eq!(a, b);
                    events.push(e);
                }
            }
        }
        assert!(!k.node().liquidation_engine().open_auctions().is_empty());
        before = liquidation_state(&k);
    }
    let again = Keeper::start(
        Store::open(&db).unwrap(),
        NodeConfig::new("ramm"),
        None,
        auth(),
    )
    .unwrap();
    assert!(liquidation_state(&again) == before, "the replay differs");
    // Finishing after the restart gives what finishing without one gives.
    let end = Event::Tick {
        time: at_minute(16 + 13 * 60).to_string(),
    };
    again.submit(end.clone()).unwrap();
    reference.submit(end).unwrap();
    assert!(liquidation_state(&again) == liquidation_state(&reference));
    assert!(again
        .node()
        .liquidation_engine()
        .ledger()
        .check_balanced()
        .is_ok());
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn every_market_update_is_committed_and_signed() {
    let k = keeper(Store::in_memory().unwrap());
    let first = k.node().snapshot().unwrap().seq;
    let now = "2026-11-24T08:00:30Z";
    let q = |source: &str| ale_keeper::event::QuoteFile {
        source: source.into(),
        value: 94_500.0,
        time: now.into(),
    };
    let (_, effects) = k
        .submit(Event::Quotes {
            time: now.into(),
            underlying: "BTC".into(),
            quotes: vec![q("a"), q("b"), q("c")],
        })
        .unwrap();
    let seq = effects
        .iter()
        .find_map(|e| match e {
            Effect::Snapshot { seq, .. } => Some(*seq),
            _ => None,
        })
        .expect("a snapshot effect");
    assert_eq!(seq, first + 1);
    let root = {
        let node = k.node();
        let snapshot = node.snapshot().unwrap();
        let keys = node.keys().oracle_public();
        assert_eq!(snapshot.root.check(keys, 2), Ok(()));
        let mut forged = snapshot.root.clone();
        forged.root[3] ^= 1;
        assert!(forged.check(keys, 2).is_err());
        snapshot.root_hex()
    };
    let (status, body) = get(&k, "/api/snapshot").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["root"], root);
    assert_eq!(body["seq"], seq);
    assert_eq!(body["signatures"].as_array().unwrap().len(), 3);
    // A deposit changes no market: no new snapshot.
    let (_, effects) = k
        .submit(Event::Deposit {
            time: now.into(),
            account: "trader-00001".into(),
            asset: "USDC".into(),
            amount: "1".into(),
        })
        .unwrap();
    assert!(!effects.iter().any(|e| matches!(e, Effect::Snapshot { .. })));
}
