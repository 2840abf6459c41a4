//! `ale serve` and `ale demo`: the keeper node.

use std::path::PathBuf;

use ale_keeper::demo::{demo_genesis, run_feed, DemoSpec};
use ale_keeper::node::NodeConfig;
use ale_keeper::service::{serve, Auth, Keeper, KeeperConfig};
use ale_keeper::store::Store;
use anyhow::Context;
use clap::Args;

use crate::Outcome;

/// Run the keeper node: ingest events, keep every margin current, serve the API and dashboard.
///
/// Reads its configuration (listen address, SQLite log, policy, the market and accounts loaded on
/// the first start, API keys) from a TOML file. A restart replays the log.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ale serve --config keeper.toml\n\nkeeper.toml:\n  listen = \"127.0.0.1:8080\"\n  db = \"keeper.db\"\n  policy = \"ramm\"\n  market = \"examples/market.json\"\n  accounts = [\"examples/portfolio.json\"]\n  api_keys = [\"change-me\"]\n  seed = \"my-keeper\"   # development signing keys\n  insurance_fund = [{ asset = \"USDC\", amount = \"1000000\" }]\n\n  [[liquidators]]\n  name = \"mm-1\"\n  key = \"mm-1-key\"\n  max_price_fraction = 0.9\n  collateral = [{ asset = \"USDC\", amount = \"500000\" }]"
)]
pub struct ServeArgs {
    /// The keeper's TOML configuration.
    #[arg(long)]
    pub config: PathBuf,
}

/// Run the keeper on a simulated market with sample accounts; a crash comes after a minute.
///
/// Open the printed address in a browser: the book by margin ratio, the P&L heat map, the
/// accounts as the crash calls and flags them.
#[derive(Args, Debug)]
#[command(after_help = "Example:\n  ale demo --port 8080   # then open http://127.0.0.1:8080")]
pub struct DemoArgs {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Number of sample accounts.
    #[arg(long, default_value_t = 2000)]
    pub accounts: usize,
    /// Seconds before the crash.
    #[arg(long, default_value_t = 60)]
    pub crash_after_s: u64,
    /// The SQLite log (default: a fresh file in the temp directory).
    #[arg(long)]
    pub db: Option<PathBuf>,
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn run_serve(args: ServeArgs) -> anyhow::Result<Outcome> {
    init_tracing();
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("cannot read {}", args.config.display()))?;
    let config: KeeperConfig =
        toml::from_str(&text).with_context(|| format!("config {}", args.config.display()))?;
    let keeper = Keeper::from_config(&config)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        tracing::info!(address = %config.listen, "keeper serving");
        eprintln!("ale: keeper serving on http://{}", config.listen);
        serve(keeper, listener).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Outcome::Ok)
}

pub fn run_demo(args: DemoArgs) -> anyhow::Result<Outcome> {
    init_tracing();
    let spec = DemoSpec {
        accounts: args.accounts,
        crash_after_ticks: args.crash_after_s * 2,
        ..DemoSpec::default()
    };
    let db = args.db.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ale-demo-{}.db", std::process::id()))
    });
    let fresh = args.db.is_none();
    let store = Store::open(&db).with_context(|| format!("cannot open {}", db.display()))?;
    let genesis = demo_genesis(&spec);
    let start = genesis.0;
    let keeper = Keeper::start(
        store,
        NodeConfig::new("ramm"),
        Some(genesis),
        Auth::operators(vec!["demo".to_string()]),
    )?;
    let runtime = tokio::runtime::Runtime::new()?;
    let address = format!("127.0.0.1:{}", args.port);
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        eprintln!(
            "ale demo: open http://{address} (a crash comes after {} s; ctrl-c stops)",
            args.crash_after_s
        );
        let feed = tokio::spawn(run_feed(keeper.clone(), spec, start));
        serve(keeper, listener).await?;
        feed.abort();
        Ok::<_, anyhow::Error>(())
    })?;
    if fresh {
        let _ = std::fs::remove_file(&db);
    }
    Ok(Outcome::Ok)
}
