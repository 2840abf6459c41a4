//! Whole flows through the keeper: a feed drives a crash, accounts are called and flagged, the
//! API and the WebSocket say so; bad feed values never reach a margin; unauthenticated writes
//! are refused; a restart replays the log to the same state.

use std::sync::Arc;

use ale_core::Timestamp;
use ale_keeper::demo::{demo_genesis, underlying_file, DemoSpec};
use ale_keeper::event::{Effect, Event};
use ale_keeper::service::Keeper;
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

fn keeper(store: Store) -> Arc<Keeper> {
    Keeper::start(
        store,
        "ramm",
        None,
        Some(demo_genesis(&SPEC)),
        vec!["secret".into()],
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
    let again = Keeper::start(Store::open(&db).unwrap(), "ramm", None, None, vec![]).unwrap();
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
