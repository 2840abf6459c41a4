//! The running node: the [`Node`] behind a lock, the [`Store`] it logs to, a broadcast channel
//! of effects for WebSocket subscribers, and metrics.
//!
//! Order of a write: the node applies the event (all-or-nothing; a refusal changes nothing), the
//! store commits it, and only then are its effects published and the caller answered. If the
//! commit fails the process stops (fail-stop): the log, not memory, is the truth, and a restart
//! replays exactly what was committed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use ale_core::Timestamp;
use ale_format::market::{CollateralFile, MarketFile, UnderlyingFile};
use ale_format::portfolio::CollateralBalanceFile;
use ale_liquidation::Holder;
use ale_market::MarketSnapshot;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use tokio::sync::broadcast;

use crate::event::{Effect, Event};
use crate::node::{Node, NodeConfig, NodeError, DEFAULT_SEED};
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
    /// Seed of the keeper's development keys: the oracle keys that sign market snapshots and
    /// the venue keys that sign account-state roots (`docs/keeper.md`). Default
    /// `"ale-keeper-dev"`. The log remembers the keys it was written with.
    #[serde(default)]
    pub seed: Option<String>,
    /// Capital of the insurance fund, paid in on the first start.
    #[serde(default)]
    pub insurance_fund: Vec<CollateralBalanceFile>,
    /// Liquidators registered on the first start (their API keys apply at every start).
    #[serde(default)]
    pub liquidators: Vec<LiquidatorConfig>,
}

/// A liquidator in `keeper.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiquidatorConfig {
    /// Its name (bids name it).
    pub name: String,
    /// Its API key: it may send its own bids (and nothing else).
    #[serde(default)]
    pub key: Option<String>,
    /// Its owner (default: its name): it never takes an account of the same owner.
    #[serde(default)]
    pub owner: Option<String>,
    /// The most it pays in a solvent auction, a fraction of the value taken.
    pub max_price_fraction: f64,
    /// In the insolvent auction, the premium it asks (a fraction of the maintenance margin).
    #[serde(default = "default_premium")]
    pub insolvent_premium_fraction: f64,
    /// The largest share of one account it takes per fill.
    #[serde(default = "default_share")]
    pub max_share: f64,
    /// Its capital.
    #[serde(default)]
    pub collateral: Vec<CollateralBalanceFile>,
}

fn default_premium() -> f64 {
    0.5
}

fn default_share() -> f64 {
    1.0
}

impl LiquidatorConfig {
    /// Its registration event at `time`.
    pub fn event(&self, time: &str) -> Event {
        Event::Liquidator {
            time: time.to_string(),
            name: self.name.clone(),
            owner: self.owner.clone(),
            max_price_fraction: self.max_price_fraction,
            insolvent_premium_fraction: self.insolvent_premium_fraction,
            max_share: self.max_share,
            collateral: self.collateral.clone(),
        }
    }
}

/// Who may write.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// Operators' API keys: any event.
    pub api_keys: Vec<String>,
    /// Liquidators' API keys (name, key): their own bids only.
    pub liquidator_keys: Vec<(String, String)>,
}

impl Auth {
    /// Operators' keys only.
    pub fn operators(keys: Vec<String>) -> Auth {
        Auth {
            api_keys: keys,
            liquidator_keys: Vec::new(),
        }
    }
}

/// Who a key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An operator: may send any event.
    Operator,
    /// A liquidator: may send its own bids.
    Liquidator(String),
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
    auth: Auth,
    policy_name: String,
    params_toml: String,
    /// Sequence number of the last committed event.
    last_seq: AtomicI64,
    /// The insurance fund, re-valued after liquidation steps at most once a second (a margin of
    /// everything the fund holds).
    fund: Mutex<FundCache>,
}

/// The insurance fund's (equity, maintenance margin) as last re-valued, and when.
#[derive(Default)]
struct FundCache {
    health: Option<(f64, f64)>,
    at: Option<Instant>,
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
    genesis_events_with(market, &[], &[], portfolios)
}

/// The genesis with the liquidation side: the market, then the insurance fund's capital and
/// the liquidators, then the accounts (so that an account liquidatable from the start finds
/// the fund and the bidders in place).
pub fn genesis_events_with(
    market: &MarketFile,
    insurance_fund: &[CollateralBalanceFile],
    liquidators: &[LiquidatorConfig],
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
    events.extend(insurance_fund.iter().map(|c| Event::InsuranceFund {
        time: time.clone(),
        asset: c.asset.clone(),
        amount: c.amount.0.to_string(),
    }));
    events.extend(liquidators.iter().map(|l| l.event(&time)));
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
        config: NodeConfig,
        genesis: Option<(Timestamp, f64, Vec<Event>)>,
        auth: Auth,
    ) -> Result<Arc<Keeper>, ServiceError> {
        let keys = crate::snapshot::Keys::from_seed(&config.seed);
        let fingerprint = hex::encode(keys.oracle_public()[0].as_bytes());
        if store.is_empty()? {
            let (time, rate, events) = genesis.ok_or_else(|| {
                ServiceError::Startup("empty log and no market to start from".into())
            })?;
            store.set_meta("genesis_time", &time.to_string())?;
            store.set_meta("genesis_rate", &rate.to_string())?;
            store.set_meta("oracle_key_0", &fingerprint)?;
            store.append_all(&events)?;
        }
        match store.meta("oracle_key_0")? {
            Some(k) if k != fingerprint => {
                return Err(ServiceError::Startup(format!(
                    "the log was written by a keeper with other keys (oracle key 0 {k}); start it with the seed it was written with"
                )))
            }
            Some(_) => {}
            // A log from before signed snapshots: adopt the keys.
            None => store.set_meta("oracle_key_0", &fingerprint)?,
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
        let mut node = Node::new(&config, market)?;
        let replay_started = Instant::now();
        let events = store.events()?;
        let count = events.len();
        let last_seq = events.last().map_or(0, |(seq, _)| *seq);
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
            auth,
            policy_name: config.policy.clone(),
            params_toml: config.params_toml.clone().unwrap_or_default(),
            last_seq: AtomicI64::new(last_seq),
            fund: Mutex::new(FundCache::default()),
        });
        keeper.refresh_fund(true);
        keeper.publish_gauges(true);
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
            let events = genesis_events_with(
                &market,
                &config.insurance_fund,
                &config.liquidators,
                &portfolios,
            );
            Some((market.time.0, market.rate, events))
        } else {
            None
        };
        let node = NodeConfig {
            policy: config.policy.clone(),
            params_toml: params,
            seed: config
                .seed
                .clone()
                .unwrap_or_else(|| DEFAULT_SEED.to_string()),
            liquidation: ale_liquidation::LiquidationParams::default(),
        };
        let auth = Auth {
            api_keys: config.api_keys.clone(),
            liquidator_keys: config
                .liquidators
                .iter()
                .filter_map(|l| l.key.clone().map(|k| (l.name.clone(), k)))
                .collect(),
        };
        Keeper::start(store, node, genesis, auth)
    }

    /// Applies, commits and publishes one event. Returns its sequence number and effects.
    pub fn submit(&self, event: Event) -> Result<(i64, Vec<Effect>), ServiceError> {
        let started = Instant::now();
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let refused = |e: NodeError| {
            metrics::counter!("ale_events_refused_total", "kind" => event.kind()).increment(1);
            tracing::warn!(kind = event.kind(), error = %e, "event refused");
            ServiceError::from(e)
        };
        let commit_failed = |e: StoreError| -> ! {
            // Fail-stop: memory is ahead of the log; only a restart makes them agree again.
            tracing::error!(error = %e, "cannot commit an applied event: stopping");
            std::process::abort();
        };
        let mut node = self.node.write().unwrap_or_else(|p| p.into_inner());
        // A market update checked in advance is committed while it is applied (the SQLite
        // commit hides behind the re-margin); anything else is applied, then committed. Either
        // way nothing is published before both are done.
        let (effects, seq, commit_s) = if node.precheck(&event).map_err(refused)? {
            let log: &mut Store = &mut store;
            let (applied, committed) = std::thread::scope(|scope| {
                let commit = scope.spawn(|| {
                    let t = Instant::now();
                    log.append(&event)
                        .map(|seq| (seq, t.elapsed().as_secs_f64()))
                });
                let applied = node.apply(&event);
                (applied, commit.join())
            });
            let (seq, commit_s) = match committed {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => commit_failed(e),
                Err(_) => commit_failed(StoreError::Corrupt {
                    seq: -1,
                    reason: "the commit thread panicked".into(),
                }),
            };
            match applied {
                Ok(effects) => (effects, seq, commit_s),
                Err(e) => {
                    // The check promised otherwise: the log holds an event the node refused.
                    tracing::error!(error = %e, seq, "a checked market update was refused after its commit: stopping");
                    std::process::abort();
                }
            }
        } else {
            let effects = node.apply(&event).map_err(refused)?;
            let t = Instant::now();
            let seq = store.append(&event).unwrap_or_else(|e| commit_failed(e));
            (effects, seq, t.elapsed().as_secs_f64())
        };
        drop(node);
        self.last_seq.store(seq, Ordering::SeqCst);
        drop(store);
        let elapsed = started.elapsed().as_secs_f64();
        metrics::histogram!("ale_remargin_seconds", "kind" => event.kind()).record(elapsed);
        metrics::histogram!("ale_commit_seconds").record(commit_s);
        metrics::counter!("ale_events_total", "kind" => event.kind()).increment(1);
        let mut liquidation = false;
        for effect in &effects {
            match effect {
                Effect::Liquidation { step, .. } => {
                    liquidation = true;
                    metrics::counter!("ale_liquidation_records_total", "step" => step.clone())
                        .increment(1);
                }
                Effect::Certificate { .. } => {
                    metrics::counter!("ale_certificates_total").increment(1);
                }
                Effect::LiquidationDeferred { .. } => {
                    metrics::counter!("ale_liquidations_deferred_total").increment(1);
                }
                _ => {}
            }
            let _ = self.effects.send((seq, effect.clone()));
        }
        if liquidation {
            self.refresh_fund(false);
        }
        self.publish_gauges(liquidation);
        Ok((seq, effects))
    }

    /// Re-values the insurance fund (at most once a second unless `now`).
    fn refresh_fund(&self, now: bool) {
        let mut fund = self.fund.lock().unwrap_or_else(|p| p.into_inner());
        if !now && fund.at.is_some_and(|t| t.elapsed().as_secs_f64() < 1.0) {
            return;
        }
        let health = self
            .node
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .fund_health();
        *fund = FundCache {
            health,
            at: Some(Instant::now()),
        };
    }

    /// The insurance fund's (equity, maintenance margin) as last re-valued.
    pub fn fund_health(&self) -> Option<(f64, f64)> {
        self.fund.lock().unwrap_or_else(|p| p.into_inner()).health
    }

    fn publish_gauges(&self, liquidation: bool) {
        let node = self.node.read().unwrap_or_else(|p| p.into_inner());
        let c = node.status_counts();
        metrics::gauge!("ale_accounts", "status" => "healthy").set(c.healthy as f64);
        metrics::gauge!("ale_accounts", "status" => "margin_call").set(c.margin_call as f64);
        metrics::gauge!("ale_accounts", "status" => "liquidatable").set(c.liquidatable as f64);
        metrics::gauge!("ale_accounts", "status" => "error").set(c.error as f64);
        let market_time = node.engine().market().time().unix_seconds();
        metrics::gauge!("ale_market_time_seconds").set(market_time as f64);
        if let Ok(s) = node.snapshot() {
            metrics::gauge!("ale_snapshot_seq").set(s.seq as f64);
        }
        if !liquidation {
            return;
        }
        let engine = node.liquidation_engine();
        metrics::gauge!("ale_auctions_open").set(engine.open_auctions().len() as f64);
        metrics::gauge!("ale_liquidations_running").set(node.liquidations_running().count() as f64);
        metrics::gauge!("ale_liquidations_pending").set(node.liquidations_pending().count() as f64);
        let ledger = engine.ledger();
        for holder in [Holder::InsuranceFund, Holder::SocialisedLoss, Holder::Fees] {
            let Some(h) = ledger.holder_id(&holder) else {
                continue;
            };
            for (u, v) in ledger.holdings(h) {
                if let Some(ale_liquidation::Unit::Cash(a)) = ledger.unit_of(u) {
                    let name = match holder {
                        Holder::InsuranceFund => "ale_insurance_fund_cash",
                        Holder::SocialisedLoss => "ale_socialised_loss_cash",
                        _ => "ale_fees_cash",
                    };
                    metrics::gauge!(name, "asset" => a.to_string()).set(v.to_f64());
                }
            }
        }
        drop(node);
        if let Some((equity, _)) = self.fund_health() {
            metrics::gauge!("ale_insurance_fund_equity").set(equity);
        }
    }

    /// The sequence number of the last committed event (the log's length: sequence numbers
    /// start at 1 and have no gaps).
    pub fn last_seq(&self) -> i64 {
        self.last_seq.load(Ordering::SeqCst)
    }

    /// Read access to the node.
    pub fn node(&self) -> std::sync::RwLockReadGuard<'_, Node> {
        self.node.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A subscription to effects (sequence number of the event that caused them, effect).
    pub fn subscribe(&self) -> broadcast::Receiver<(i64, Effect)> {
        self.effects.subscribe()
    }

    /// Who `key` belongs to, if anyone may write with it.
    pub fn caller(&self, key: Option<&str>) -> Option<Caller> {
        let k = key?;
        let mut found = None;
        // Every key is compared (no early exit): the time taken does not say which matched.
        for allowed in &self.auth.api_keys {
            if constant_time_eq(allowed.as_bytes(), k.as_bytes()) {
                found = Some(Caller::Operator);
            }
        }
        for (name, allowed) in &self.auth.liquidator_keys {
            if constant_time_eq(allowed.as_bytes(), k.as_bytes()) && found.is_none() {
                found = Some(Caller::Liquidator(name.clone()));
            }
        }
        found
    }

    /// True when `key` is an operator's (may send any event).
    pub fn authorized(&self, key: Option<&str>) -> bool {
        self.caller(key) == Some(Caller::Operator)
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
