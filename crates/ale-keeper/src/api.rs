//! The HTTP and WebSocket API (axum). Reads are open; writes need an API key
//! (`Authorization: Bearer KEY` or `x-api-key: KEY`), and every refusal is logged and counted.

use std::sync::Arc;

use ale_core::{AccountId, Instrument, Position};
use ale_format::report::margin_report_json;
use ale_risk::{margin_standalone, MarginPolicy};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::event::Event;
use crate::heatmap::book_heatmap;
use crate::service::{Keeper, ServiceError};

/// The router of a keeper.
pub fn router(keeper: Arc<Keeper>) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/api/health", get(health))
        .route("/api/accounts", get(accounts))
        .route("/api/accounts/{id}", get(account))
        .route(
            "/api/accounts/{id}/liquidation-price",
            get(liquidation_price),
        )
        .route("/api/book", get(book))
        .route("/api/book/heatmap", get(heatmap))
        .route("/api/params", get(params))
        .route("/api/risk-oracle", get(risk_oracle))
        .route("/api/what-if", post(what_if))
        .route("/api/events", post(submit))
        .route("/api/ws", get(ws))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .with_state(keeper)
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

async fn dashboard() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}

async fn health(State(k): State<Arc<Keeper>>) -> Json<Value> {
    let node = k.node();
    Json(json!({
        "status": "ok",
        "time": node.engine().market().time().to_string(),
        "accounts": node.accounts().len(),
        "by_status": node.status_counts(),
    }))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    limit: Option<usize>,
}

async fn accounts(State(k): State<Arc<Keeper>>, Query(q): Query<ListQuery>) -> Json<Value> {
    let node = k.node();
    let limit = q.limit.unwrap_or(100).min(10_000);
    let rows: Vec<Value> = node
        .ranked_by_shortfall(limit)
        .into_iter()
        .map(|(id, m)| {
            json!({
                "account": id,
                "equity": m.equity,
                "maintenance_margin": m.maintenance,
                "initial_margin": m.initial,
                "margin_ratio": m.margin_ratio(),
                "shortfall": m.maintenance - m.equity,
                "status": m.status().name(),
            })
        })
        .collect();
    Json(json!({"accounts": rows, "by_status": node.status_counts()}))
}

async fn account(State(k): State<Arc<Keeper>>, Path(id): Path<String>) -> Response {
    let node = k.node();
    let Ok(account_id) = AccountId::new(&id) else {
        return error(StatusCode::BAD_REQUEST, "invalid account id");
    };
    let Some(acct) = node.accounts().get(&account_id) else {
        return error(StatusCode::NOT_FOUND, format!("unknown account '{id}'"));
    };
    let engine = node.engine();
    let positions: Vec<Value> = acct
        .positions
        .iter()
        .map(|p| json!({"instrument": p.instrument.to_string(), "size": p.size, "entry_price": p.entry_price}))
        .collect();
    let collateral: Vec<Value> = acct
        .collateral
        .iter()
        .map(|(a, amt)| json!({"asset": a.as_str(), "amount": amt.to_string()}))
        .collect();
    let margin = match node.margin(&id) {
        Ok(m) => margin_report_json(
            &id,
            engine.policy().name(),
            engine.policy().component_names(),
            &m,
            None,
        ),
        Err(e) => json!({"error": e.to_string()}),
    };
    Json(json!({"account": id, "collateral": collateral, "positions": positions, "margin": margin}))
        .into_response()
}

async fn liquidation_price(State(k): State<Arc<Keeper>>, Path(id): Path<String>) -> Response {
    let node = k.node();
    let engine = node.engine();
    let Some(ix) = AccountId::new(&id)
        .ok()
        .and_then(|a| engine.account_index(&a))
    else {
        return error(StatusCode::NOT_FOUND, format!("unknown account '{id}'"));
    };
    match engine.liquidation_prices(ix) {
        Ok(Some(l)) => Json(json!({
            "account": id,
            "underlying": l.underlying.as_str(),
            "below": l.below.map(|r| r.spot),
            "above": l.above.map(|r| r.spot),
        }))
        .into_response(),
        Ok(None) => Json(json!({"account": id, "below": null, "above": null})).into_response(),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

async fn book(State(k): State<Arc<Keeper>>) -> Json<Value> {
    let node = k.node();
    let engine = node.engine();
    let mut equity = 0.0;
    let mut mm = 0.0;
    // Accounts by margin ratio (equity / MM); accounts with no margin are left out.
    let edges = [0.0, 0.5, 1.0, 1.3, 1.6, 2.0, 3.0, 5.0, 10.0, f64::INFINITY];
    let mut counts = vec![0usize; edges.len()];
    for m in engine.margins().iter().flatten() {
        equity += m.equity;
        mm += m.maintenance;
        if let Some(r) = m.margin_ratio() {
            let bucket = edges.iter().position(|e| r < *e).unwrap_or(edges.len() - 1);
            counts[bucket] += 1;
        }
    }
    let histogram: Vec<Value> = counts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let upper = edges[i];
            let label = if i == 0 { "<0".to_string() } else if upper.is_infinite() { format!(">{}", edges[i - 1]) } else { format!("{}-{}", edges[i - 1], upper) };
            json!({"label": label, "upper": if upper.is_infinite() { Value::Null } else { json!(upper) }, "count": c})
        })
        .collect();
    let underlyings: Vec<Value> = engine
        .market()
        .underlyings()
        .map(|u| json!({"name": u.name().as_str(), "spot": u.spot(), "atm_vol_30d": u.atm_vol(30.0 / 365.0)}))
        .collect();
    Json(json!({
        "time": engine.market().time().to_string(),
        "policy": engine.policy().name(),
        "accounts": node.accounts().len(),
        "by_status": node.status_counts(),
        "equity": equity,
        "maintenance_margin": mm,
        "ratio_histogram": histogram,
        "underlyings": underlyings,
    }))
}

#[derive(Deserialize)]
struct HeatQuery {
    underlying: Option<String>,
}

async fn heatmap(State(k): State<Arc<Keeper>>, Query(q): Query<HeatQuery>) -> Response {
    let node = k.node();
    let name = q.underlying.unwrap_or_else(|| "BTC".to_string());
    match book_heatmap(node.engine(), &name) {
        Ok(v) => Json(v).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, e),
    }
}

async fn risk_oracle(State(k): State<Arc<Keeper>>) -> Json<Value> {
    Json(crate::heatmap::book_greeks(k.node().engine()))
}

async fn params(State(k): State<Arc<Keeper>>) -> Json<Value> {
    let (policy, toml) = k.params();
    Json(json!({"policy": policy, "params_toml": toml}))
}

#[derive(Deserialize)]
struct WhatIf {
    account: String,
    #[serde(default)]
    trades: Vec<WhatIfTrade>,
    #[serde(default)]
    shock: Option<WhatIfShock>,
}

#[derive(Deserialize)]
struct WhatIfTrade {
    instrument: String,
    size: f64,
    #[serde(default)]
    price: Option<f64>,
}

#[derive(Deserialize)]
struct WhatIfShock {
    underlying: String,
    #[serde(default)]
    spot_shock: f64,
    #[serde(default)]
    vol_shock: f64,
}

/// Margin of an account after hypothetical trades and/or a market shock; nothing changes.
async fn what_if(State(k): State<Arc<Keeper>>, Json(req): Json<WhatIf>) -> Response {
    let node = k.node();
    let engine = node.engine();
    let Ok(id) = AccountId::new(&req.account) else {
        return error(StatusCode::BAD_REQUEST, "invalid account id");
    };
    let mut acct = node
        .accounts()
        .get(&id)
        .cloned()
        .unwrap_or_else(|| ale_core::Account::new(id.clone()));
    let before = margin_standalone(engine.policy(), engine.market(), &acct);
    for t in &req.trades {
        let instrument = match Instrument::parse(&t.instrument) {
            Ok(i) => i,
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        };
        if !t.size.is_finite() {
            return error(StatusCode::BAD_REQUEST, "trades[].size must be finite");
        }
        acct.add_position(Position {
            instrument,
            size: t.size,
            entry_price: t.price,
        });
    }
    let mut market = engine.market().clone();
    if let Some(s) = &req.shock {
        if let Err(e) =
            crate::heatmap::shock_market(&mut market, &s.underlying, s.spot_shock, s.vol_shock)
        {
            return error(StatusCode::BAD_REQUEST, e);
        }
    }
    let after = margin_standalone(engine.policy(), &market, &acct);
    let render = |m: Result<ale_risk::AccountMargin, ale_risk::RiskError>| match m {
        Ok(m) => margin_report_json(
            &req.account,
            engine.policy().name(),
            engine.policy().component_names(),
            &m,
            None,
        ),
        Err(e) => json!({"error": e.to_string()}),
    };
    Json(json!({"before": render(before), "after": render(after)})).into_response()
}

fn api_key(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.to_string());
    }
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
}

async fn submit(State(k): State<Arc<Keeper>>, headers: HeaderMap, body: String) -> Response {
    if !k.authorized(api_key(&headers).as_deref()) {
        metrics::counter!("ale_unauthorized_total").increment(1);
        tracing::warn!("unauthenticated write refused");
        return error(StatusCode::UNAUTHORIZED, "writes need a valid API key");
    }
    let event: Event = match serde_json::from_str(&body) {
        Ok(e) => e,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not an event: {e}")),
    };
    let keeper = k.clone();
    match tokio::task::spawn_blocking(move || keeper.submit(event)).await {
        Ok(Ok((seq, effects))) => Json(json!({"seq": seq, "effects": effects})).into_response(),
        Ok(Err(ServiceError::Refused(e))) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn ws(State(k): State<Arc<Keeper>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| stream_effects(k, socket))
}

async fn stream_effects(k: Arc<Keeper>, mut socket: WebSocket) {
    let mut rx = k.subscribe();
    loop {
        match rx.recv().await {
            Ok((seq, effect)) => {
                let text = json!({"seq": seq, "effect": effect}).to_string();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                let text = json!({"lagged": n}).to_string();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

async fn metrics(State(k): State<Arc<Keeper>>) -> String {
    k.render_metrics()
}

async fn openapi() -> Json<Value> {
    Json(serde_json::from_str(include_str!("openapi.json")).unwrap_or(Value::Null))
}

/// A policy name for the report.
pub fn policy_name(p: &dyn MarginPolicy) -> &'static str {
    p.name()
}
