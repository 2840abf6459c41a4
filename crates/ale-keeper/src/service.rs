//! The running node: the [`Node`] behind a lock, the [`Store`] it logs to, a broadcast channel
//! of effects for WebSocket subscribers, and metrics.
//!
//! Order of a write: the node applies the event (all-or-nothing; a refusal changes nothing), the
//! store commits it, and only then are its effects published and the caller answered. If the
//! commit fails the process stops (fail-stop): the log, not memory, is the truth, and a restart
//! replays exactly what was committed.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use ale_core::Timestamp;
use ale_format::market::{CollateralFile, MarketFile, UnderlyingFile};
use ale_market::MarketSnapshot;
use ale_risk::{policy_by_name, MarginPolicy};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use tokio::sync::broadcast;

use crate::event::{Effect, Event};
use crate::node::{Node, NodeError};
use crate::store::{Store, StoreError};

/// The keeper's configuration (`ale serve --config keeper.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeeperConfig {
    /// Address to listen on, e.g. `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The SQLite event log.
    pub db: PathBuf,
    /// The margin policy (`ramm`, `static`, `oracle-adjusted`).
    #[serde(default = "default_policy")]
    pub policy: String,
    /// Its parameters (TOML), if not the defaults.
    #[serde(default)]
    pub params: Option<PathBuf>,
    /// The market file loaded on the first start (later starts replay the log).
    pub market: PathBuf,
    /// Portfolio files loaded on the first start.
    #[serde(default)]
    pub accounts: Vec<PathBuf>,
    /// API keys allowed to write (Authorization: Bearer KEY, or x-api-key: KEY).
    #[serde(default)]
    pub api_keys: Vec<String>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_string()
}

fn default_policy() -> String {
    "ramm".to_string()
}

/// A refusal or a failure of the service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The node refused the event.
    #[error(transparent)]
    Refused(#[from] NodeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Start-up failed.
    #[error("{0}")]
    Startup(String),
}

/// Shared state of a running keeper.
pub struct Keeper {
    node: RwLock<Node>,
    store: Mutex<Store>,
    effects: broadcast::Sender<(i64, Effect)>,
    metrics: PrometheusHandle,
    api_keys: Vec<String>,
    policy_name: String,
    params_toml: String,
}

/// The process-wide Prometheus recorder (a recorder can be installed once per process).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&[
                    1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                ])
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(h) => h,
                // Another recorder is installed (a test harness): keep a local one for rendering.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// The events that seed an empty log from a market file and portfolio files.
pub fn genesis_events(
    market: &MarketFile,
    portfolios: &[ale_format::portfolio::PortfolioFile],
) -> Vec<Event> {
    let time = market.time.0.to_string();
    let mut events: Vec<Event> = market
        .collateral
        .iter()
        .map(|c: &CollateralFile| Event::CollateralPrice {
            time: time.clone(),
            collateral: c.clone(),
        })
        .collect();
    events.extend(
        market
            .underlyings
            .iter()
            .map(|u: &UnderlyingFile| Event::Market {
                time: time.clone(),
                underlying: u.clone(),
            }),
    );
    events.extend(portfolios.iter().map(|p| Event::Account {
        time: time.clone(),
        portfolio: p.clone(),
    }));
    events
}

impl Keeper {
    /// Opens the keeper on `store`: a new log is seeded with `genesis` (time and rate in the
    /// store's metadata, then the events); an existing log is replayed.
    pub fn start(
        mut store: Store,
        policy_name: &str,
        params_toml: Option<String>,
        genesis: Option<(Timestamp, f64, Vec<Event>)>,
        api_keys: Vec<String>,
    ) -> Result<Arc<Keeper>, ServiceError> {
        let policy: Box<dyn MarginPolicy> = policy_by_name(policy_name, params_toml.as_deref())
            .map_err(|e| ServiceError::Startup(e.to_string()))?;
        if store.is_empty()? {
            let (time, rate, events) = genesis.ok_or_else(|| {
                ServiceError::Startup("empty log and no market to start from".into())
            })?;
            store.set_meta("genesis_time", &time.to_string())?;
            store.set_meta("genesis_rate", &rate.to_string())?;
            store.append_all(&events)?;
        }
        let time = store
            .meta("genesis_time")?
            .ok_or_else(|| ServiceError::Startup("the log has no genesis time".into()))?;
        let time =
            Timestamp::parse_rfc3339(&time).map_err(|e| ServiceError::Startup(e.to_string()))?;
        let rate: f64 = store
            .meta("genesis_rate")?
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| ServiceError::Startup("the log has no genesis rate".into()))?;
        let market =
            MarketSnapshot::new(time, rate).map_err(|e| ServiceError::Startup(e.to_string()))?;
        let mut node = Node::new(policy, market, Vec::new())?;
        let replay_started = Instant::now();
        let events = store.events()?;
        let count = events.len();
        for (seq, event) in events {
            // A committed event was accepted once; the node is deterministic, so it is accepted
            // again. A refusal here means the log and the code disagree: stop.
            node.apply(&event)
                .map_err(|e| ServiceError::Startup(format!("replaying event {seq}: {e}")))?;
        }
        tracing::info!(
            events = count,
            elapsed_ms = replay_started.elapsed().as_millis() as u64,
            "replayed the event log"
        );
        let (effects, _) = broadcast::channel(4096);
        let keeper = Arc::new(Keeper {
            node: RwLock::new(node),
            store: Mutex::new(store),
            effects,
            metrics: metrics_handle(),
            api_keys,
            policy_name: policy_name.to_string(),
            params_toml: params_toml.unwrap_or_default(),
        });
        keeper.publish_gauges();
        Ok(keeper)
    }

    /// Opens a keeper from its configuration.
    pub fn from_config(config: &KeeperConfig) -> Result<Arc<Keeper>, ServiceError> {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p)
                .map_err(|e| ServiceError::Startup(format!("cannot read {}: {e}", p.display())))
        };
        let params = config.params.as_ref().map(read).transpose()?;
        let store = Store::open(&config.db)?;
        let genesis = if store.is_empty()? {
            let (market, _): (MarketFile, _) = ale_format::wire::from_json(&read(&config.market)?)
                .map_err(|e| ServiceError::Startup(format!("{}: {e}", config.market.display())))?;
            let mut portfolios = Vec::new();
            for path in &config.accounts {
                let text = read(path)?;
                let value: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| ServiceError::Startup(format!("{}: {e}", path.display())))?;
                let list = match value {
                    serde_json::Value::Array(v) => v,
                    other => vec![other],
                };
                for v in list {
                    let p: ale_format::portfolio::PortfolioFile = serde_json::from_value(v)
                        .map_err(|e| ServiceError::Startup(format!("{}: {e}", path.display())))?;
                    portfolios.push(p);
                }
            }
            let events = genesis_events(&market, &portfolios);
            Some((market.time.0, market.rate, events))
        } else {
            None
        };
        Keeper::start(
            store,
            &config.policy,
            params,
            genesis,
            config.api_keys.clone(),
        )
    }

    /// Applies, commits and publishes one event. Returns its sequence number and effects.
    pub fn submit(&self, event: Event) -> Result<(i64, Vec<Effect>), ServiceError> {
        let started = Instant::now();
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let effects = {
            let mut node = self.node.write().unwrap_or_else(|p| p.into_inner());
            match node.apply(&event) {
                Ok(effects) => effects,
                Err(e) => {
                    metrics::counter!("ale_events_refused_total", "kind" => event.kind())
                        .increment(1);
                    tracing::warn!(kind = event.kind(), error = %e, "event refused");
                    return Err(e.into());
                }
            }
        };
        let seq = match store.append(&event) {
            Ok(seq) => seq,
            Err(e) => {
                // Fail-stop: memory is ahead of the log; only a restart makes them agree again.
                tracing::error!(error = %e, "cannot commit an applied event: stopping");
                std::process::abort();
            }
        };
        drop(store);
        let elapsed = started.elapsed().as_secs_f64();
        metrics::histogram!("ale_remargin_seconds", "kind" => event.kind()).record(elapsed);
        metrics::counter!("ale_events_total", "kind" => event.kind()).increment(1);
        for effect in &effects {
            let _ = self.effects.send((seq, effect.clone()));
        }
        self.publish_gauges();
        Ok((seq, effects))
    }

    fn publish_gauges(&self) {
        let node = self.node.read().unwrap_or_else(|p| p.into_inner());
        let c = node.status_counts();
        metrics::gauge!("ale_accounts", "status" => "healthy").set(c.healthy as f64);
        metrics::gauge!("ale_accounts", "status" => "margin_call").set(c.margin_call as f64);
        metrics::gauge!("ale_accounts", "status" => "liquidatable").set(c.liquidatable as f64);
        metrics::gauge!("ale_accounts", "status" => "error").set(c.error as f64);
        let market_time = node.engine().market().time().unix_seconds();
        metrics::gauge!("ale_market_time_seconds").set(market_time as f64);
    }

    /// Read access to the node.
    pub fn node(&self) -> std::sync::RwLockReadGuard<'_, Node> {
        self.node.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A subscription to effects (sequence number of the event that caused them, effect).
    pub fn subscribe(&self) -> broadcast::Receiver<(i64, Effect)> {
        self.effects.subscribe()
    }

    /// True when `key` may write.
    pub fn authorized(&self, key: Option<&str>) -> bool {
        key.is_some_and(|k| {
            self.api_keys
                .iter()
                .any(|allowed| constant_time_eq(allowed.as_bytes(), k.as_bytes()))
        })
    }

    /// Prometheus text.
    pub fn render_metrics(&self) -> String {
        self.metrics.render()
    }

    /// The policy in force and its parameters as given.
    pub fn params(&self) -> (&str, &str) {
        (&self.policy_name, &self.params_toml)
    }
}

/// Compares secrets without an early exit that would leak their common prefix by timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves the API on `listener` until ctrl-c (or SIGTERM).
pub async fn serve(keeper: Arc<Keeper>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, crate::api::router(keeper))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
