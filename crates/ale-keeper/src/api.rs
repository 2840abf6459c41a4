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
use crate::service::{Caller, Keeper, ServiceError};

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
        .route("/api/auctions", get(auctions))
        .route("/api/liquidations", get(liquidations))
        .route("/api/liquidations/{id}/certificate", get(certificate))
        .route("/api/ledger", get(ledger))
        .route("/api/snapshot", get(snapshot))
        .route("/api/snapshots/{seq}", get(valued_snapshot))
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
        "clock": node.clock().map(|c| c.to_string()),
        "events": k.last_seq(),
        "accounts": node.accounts().len(),
        "by_status": node.status_counts(),
        "snapshot_seq": node.snapshot().ok().map(|s| s.seq),
        "liquidations": {
            "running": node.liquidations_running().count(),
            "pending": node.liquidations_pending().count(),
            "auctions_open": node.liquidation_engine().open_auctions().len(),
        },
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
    let Some(caller) = k.caller(api_key(&headers).as_deref()) else {
        metrics::counter!("ale_unauthorized_total").increment(1);
        tracing::warn!("unauthenticated write refused");
        return error(StatusCode::UNAUTHORIZED, "writes need a valid API key");
    };
    let event: Event = match serde_json::from_str(&body) {
        Ok(e) => e,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not an event: {e}")),
    };
    if let Caller::Liquidator(name) = &caller {
        // A liquidator's key sends its own bids, nothing else.
        if event.bidder() != Some(name.as_str()) {
            metrics::counter!("ale_unauthorized_total").increment(1);
            tracing::warn!(liquidator = %name, kind = event.kind(), "liquidator write refused");
            return error(
                StatusCode::FORBIDDEN,
                format!("liquidator '{name}' may only send its own bids"),
            );
        }
    }
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

/// Open auctions with their current price (the Dutch rule at the node's clock, on the
/// keeper's margin of the account as the ledger holds it).
async fn auctions(State(k): State<Arc<Keeper>>) -> Json<Value> {
    let node = k.node();
    let engine = node.liquidation_engine();
    let params = engine.params().auction;
    let clock = node
        .clock()
        .unwrap_or_else(|| node.engine().market().time());
    let rows: Vec<Value> = engine
        .open_auctions()
        .into_iter()
        .map(|(ledger_id, a)| {
            let account = node
                .keeper_account(&ledger_id)
                .cloned()
                .unwrap_or_else(|| ledger_id.clone());
            let margin = node.margin(account.as_str()).ok();
            let elapsed_s = (clock.unix_seconds() - a.opened.unix_seconds()).max(0) as f64;
            let price = margin.as_ref().and_then(|m| {
                ale_liquidation::quote(
                    &ale_liquidation::QuoteInput {
                        equity: m.equity,
                        maintenance_margin: m.maintenance,
                        elapsed_s,
                        reserved_cash: 0.0,
                    },
                    &params,
                )
                .ok()
            });
            json!({
                "account": account.as_str(),
                "ledger_id": ledger_id.as_str(),
                "opened": a.opened.to_string(),
                "closes": a.closes.to_string(),
                "insolvent": a.insolvent,
                "sealed": a.sealed,
                "equity": margin.as_ref().map(|m| m.equity),
                "maintenance_margin": margin.as_ref().map(|m| m.maintenance),
                "price": price.map(|q| json!({
                    "phase": q.phase.name(),
                    "discount": q.discount,
                    "max_fraction": q.max_fraction,
                    "bid_price": q.bid_price,
                })),
            })
        })
        .collect();
    let liquidators: Vec<Value> = engine
        .bidders()
        .map(|b| {
            json!({
                "name": b.name,
                "owner": b.owner,
                "max_price_fraction": b.max_price_fraction,
                "insolvent_premium_fraction": b.insolvent_premium_fraction,
                "max_share": b.max_share,
            })
        })
        .collect();
    let pending: Vec<Value> = node
        .liquidations_pending()
        .map(|(id, p)| json!({"account": id.as_str(), "reason": p.reason}))
        .collect();
    Json(json!({
        "time": clock.to_string(),
        "auctions": rows,
        "running": node.liquidations_running().map(|a| a.as_str()).collect::<Vec<_>>(),
        "pending": pending,
        "liquidators": liquidators,
    }))
}

#[derive(Deserialize)]
struct LiquidationQuery {
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

fn holder_name(engine: &ale_liquidation::Engine, h: ale_liquidation::HolderId) -> String {
    engine
        .ledger()
        .holder_of(h)
        .map_or_else(|| format!("#{}", h.0), ToString::to_string)
}

/// The liquidation log (latest first), each record with its ledger operation and the signed
/// snapshot the engine valued at; with `account`, that account's records and cases.
async fn liquidations(State(k): State<Arc<Keeper>>, Query(q): Query<LiquidationQuery>) -> Response {
    let node = k.node();
    let engine = node.liquidation_engine();
    let limit = q.limit.unwrap_or(100).min(10_000);
    let wanted = match q.account.as_deref().map(AccountId::new) {
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, e),
        None => None,
    };
    let keeper_of = |l: &AccountId| node.keeper_account(l).cloned().unwrap_or_else(|| l.clone());
    let ledger = engine.ledger();
    let records: Vec<Value> = engine
        .log()
        .iter()
        .rev()
        .filter(|r| match &wanted {
            Some(w) => r.account.as_ref().is_some_and(|l| &keeper_of(l) == w),
            None => true,
        })
        .take(limit)
        .map(|r| {
            let details: serde_json::Map<String, Value> = r
                .details
                .iter()
                .map(|(k, v)| ((*k).to_string(), Value::String(v.clone())))
                .collect();
            let legs: Vec<Value> =
                r.op.iter()
                    .flat_map(|op| op.legs.iter())
                    .map(|leg| {
                        json!({
                            "from": holder_name(engine, leg.from),
                            "to": holder_name(engine, leg.to),
                            "unit": ledger.unit_of(leg.unit).map(ToString::to_string),
                            "amount": leg.amount.to_string(),
                        })
                    })
                    .collect();
            let snapshot = node.record_snapshot(r.seq);
            json!({
                "seq": r.seq,
                "at": r.at.to_string(),
                "account": r.account.as_ref().map(|l| keeper_of(l).to_string()),
                "ledger_id": r.account.as_ref().map(ToString::to_string),
                "step": r.kind.name(),
                "reason": r.reason,
                "details": details,
                "op": r.op.as_ref().map(|op| json!({"id": op.id.0, "legs": legs})),
                "snapshot_seq": snapshot,
                "snapshot_root": snapshot
                    .and_then(|s| node.valued_snapshot(s))
                    .map(|root| hex::encode(root.root)),
            })
        })
        .collect();
    let cases: Vec<Value> = match &wanted {
        Some(w) => {
            let mut ids: Vec<&AccountId> = engine
                .log()
                .iter()
                .filter_map(|r| r.account.as_ref())
                .filter(|l| &keeper_of(l) == w)
                .collect();
            ids.sort();
            ids.dedup();
            ids.into_iter()
                .filter_map(|l| engine.case(l).map(|c| (l, c)))
                .map(|(l, c)| {
                    json!({
                        "ledger_id": l.as_str(),
                        "stage": format!("{:?}", c.stage).to_lowercase(),
                        "flagged_at": c.flagged_at.to_string(),
                        "auction": c.auction.map(|a| json!({
                            "opened": a.opened.to_string(),
                            "closes": a.closes.to_string(),
                            "insolvent": a.insolvent,
                            "sealed": a.sealed,
                        })),
                        "certificate": node.certificate(l).map(|c| json!({
                            "sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&c.bytes)),
                            "bytes": c.bytes.len(),
                            "snapshot_seq": c.snapshot_seq,
                        })),
                    })
                })
                .collect()
        }
        None => Vec::new(),
    };
    Json(json!({"records": records, "cases": cases, "total_records": engine.log().len()}))
        .into_response()
}

/// The certificate of an account's last liquidation, as JSON (formats.md, "Liquidation
/// certificates"), with its bytes in hex.
async fn certificate(State(k): State<Arc<Keeper>>, Path(id): Path<String>) -> Response {
    let node = k.node();
    let Ok(account) = AccountId::new(&id) else {
        return error(StatusCode::BAD_REQUEST, "invalid account id");
    };
    let Some(cert) = node
        .ledger_account(&account)
        .and_then(|l| node.certificate(l))
    else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no certificate for '{id}' (no liquidation, or the gate is off)"),
        );
    };
    match ale_certify::json::to_json(&cert.bytes, None) {
        Ok(v) => Json(json!({
            "account": id,
            "snapshot_seq": cert.snapshot_seq,
            "hex": hex::encode(&cert.bytes),
            "certificate": v,
        }))
        .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(Deserialize)]
struct LedgerQuery {
    #[serde(default)]
    entries: Option<u8>,
}

/// The liquidation ledger: whether it balances, the insurance fund, fees, the socialised loss
/// and the liquidators; with `entries=1` every non-zero balance.
async fn ledger(State(k): State<Arc<Keeper>>, Query(q): Query<LedgerQuery>) -> Json<Value> {
    use ale_liquidation::Holder;
    let node = k.node();
    let engine = node.liquidation_engine();
    let ledger = engine.ledger();
    let balances = |holder: &Holder| -> Value {
        let Some(h) = ledger.holder_id(holder) else {
            return json!({});
        };
        let map: serde_json::Map<String, Value> = ledger
            .holdings(h)
            .filter(|(_, v)| !v.is_zero())
            .map(|(u, v)| {
                (
                    ledger
                        .unit_of(u)
                        .map_or_else(|| format!("#{}", u.0), ToString::to_string),
                    Value::String(v.to_string()),
                )
            })
            .collect();
        Value::Object(map)
    };
    let liquidators: serde_json::Map<String, Value> = engine
        .bidders()
        .map(|b| {
            (
                b.name.clone(),
                balances(&Holder::Liquidator(b.name.clone())),
            )
        })
        .collect();
    let mut out = json!({
        "balanced": ledger.check_balanced().is_ok(),
        "operations": ledger.applied_count(),
        "records": engine.log().len(),
        "insurance_fund": {
            "balances": balances(&Holder::InsuranceFund),
            "equity": k.fund_health().map(|f| f.0),
            "maintenance_margin": k.fund_health().map(|f| f.1),
        },
        "fees": balances(&Holder::Fees),
        "socialised_loss": balances(&Holder::SocialisedLoss),
        "liquidators": liquidators,
    });
    if q.entries == Some(1) {
        let entries: Vec<Value> = ledger
            .entries()
            .into_iter()
            .filter(|(_, _, v)| !v.is_zero())
            .take(100_000)
            .map(|(h, u, v)| json!([h.to_string(), u.to_string(), v.to_string()]))
            .collect();
        out["entries"] = Value::Array(entries);
    }
    Json(out)
}

fn signed_root_json(node: &crate::node::Node, root: &ale_oracle::SignedRoot) -> Value {
    let keys = node.keys().oracle_public();
    json!({
        "seq": root.seq,
        "root": hex::encode(root.root),
        "time": ale_core::Timestamp::from_unix_seconds(root.time_s).map(|t| t.to_string()),
        "time_s": root.time_s,
        "leaf_count": root.leaf_count,
        "domain": String::from_utf8_lossy(&root.domain).trim_end_matches('\0').to_string(),
        "signatures": root.sigs.iter().map(|(i, sig)| json!({
            "key": i,
            "public_key": keys.get(*i as usize).map(|k| hex::encode(k.as_bytes())),
            "signature": hex::encode(sig),
        })).collect::<Vec<_>>(),
        "quorum": crate::snapshot::QUORUM,
        "oracle_keys": keys.iter().map(|k| hex::encode(k.as_bytes())).collect::<Vec<_>>(),
    })
}

/// The latest signed snapshot of the market.
async fn snapshot(State(k): State<Arc<Keeper>>) -> Response {
    let node = k.node();
    match node.snapshot() {
        Ok(s) => Json(signed_root_json(&node, &s.root)).into_response(),
        Err(reason) => error(StatusCode::NOT_FOUND, reason),
    }
}

/// A snapshot the liquidation engine valued at (liquidation records name it).
async fn valued_snapshot(State(k): State<Arc<Keeper>>, Path(seq): Path<u64>) -> Response {
    let node = k.node();
    let latest = node
        .snapshot()
        .ok()
        .filter(|s| s.seq == seq)
        .map(|s| &s.root);
    match node.valued_snapshot(seq).or(latest) {
        Some(root) => Json(signed_root_json(&node, root)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("snapshot {seq} is neither the latest nor one a liquidation valued at"),
        ),
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
