//! `ale-keeper`: the keeper node an operator runs all day. It ingests market and account
//! events, keeps every account's margin current through the risk engine's incremental path,
//! ranks accounts by shortfall, raises margin calls, hands liquidatable accounts to
//! `ale-liquidation` with a certificate ([`liquidation`]), signs every market snapshot
//! ([`snapshot`]), and persists every event to SQLite so that a restart (even after `kill -9`)
//! rebuilds exactly the same state, liquidations included.
//!
//! Layers: [`node`] is the pure state machine (`apply(event) -> effects`, no clock, no I/O);
//! [`store`] is the event log in SQLite (WAL); [`service`] wires them to an async runtime, the
//! HTTP/WebSocket API ([`api`]), metrics and the dashboard. API boundary: only this crate knows
//! HTTP.

pub mod api;
pub mod demo;
pub mod event;
pub mod heatmap;
pub mod liquidation;
pub mod node;
pub mod service;
pub mod snapshot;
pub mod store;
