//! `ale var`: value at risk and expected shortfall of every account of one or more portfolio
//! files (and, with `--venue`, of the book as a whole), by Monte Carlo or filtered historical
//! simulation (docs/tail-risk.md).

use std::path::{Path, PathBuf};

use ale_core::Account;
use ale_format::{parse_market, parse_portfolio};
use ale_risk::tail::history::{
    daily_file_name, default_window, estimate, fhs_paths, parse_daily_csv, Filter, History,
    DVOL_FILE,
};
use ale_risk::tail::model::todays_vol;
use ale_risk::tail::{mc_paths, tail_risk, Method, TailModel, TailParams};
use ale_risk::Book;
use anyhow::{bail, Context};
use clap::Args;
use std::io::Write;

use crate::Outcome;

/// VaR and ES per account (and for the whole book with --venue) over a horizon.
///
/// Monte Carlo (`mc`): Student-t spot returns of every underlying, simulated jointly, with
/// implied-vol changes that respond to them; the model estimated from the daily data (built-in
/// estimates, or re-estimated from --data). Filtered historical (`fhs`): the days of --data,
/// devolatilised by GARCH(1,1) or EWMA and rescaled to today's vol, with the same days' DVOL
/// changes. Every listed instrument is re-priced on every path.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ale var --market market.json --method mc --paths 10000 --seed 7 --json book.json\n  \
ale var --market market.json --method fhs --data ../shared/data --venue book.json"
)]
pub struct VarArgs {
    /// The market file (formats.md).
    #[arg(long)]
    pub market: PathBuf,
    /// mc (Monte Carlo) or fhs (filtered historical simulation).
    #[arg(long, default_value = "mc")]
    pub method: String,
    /// Confidence level in (0, 1); repeat for several (default 0.99 and 0.995).
    #[arg(long = "alpha")]
    pub alphas: Vec<f64>,
    /// Horizon: days (`1`, `1d`) or hours (`12h`).
    #[arg(long, default_value = "1d")]
    pub horizon: String,
    /// Monte Carlo paths.
    #[arg(long, default_value_t = 10_000)]
    pub paths: usize,
    /// Seed of the ChaCha8 streams.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Directory of the daily data (../shared/data); needed by fhs, re-estimates the mc model.
    /// Default: $ALE_DATA_DIR when set.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// fhs filter: garch or ewma (λ = 0.94).
    #[arg(long, default_value = "garch")]
    pub filter: String,
    /// Also print one line for the book as a whole (every account's positions summed).
    #[arg(long)]
    pub venue: bool,
    /// JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Portfolio files.
    #[arg(required = true)]
    pub portfolios: Vec<PathBuf>,
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `1`, `1.5`, `1d`, `24h` → days.
fn parse_horizon(s: &str) -> anyhow::Result<f64> {
    let s = s.trim();
    let (num, unit) = match s.strip_suffix('d') {
        Some(n) => (n, 1.0),
        None => match s.strip_suffix('h') {
            Some(n) => (n, 1.0 / 24.0),
            None => (s, 1.0),
        },
    };
    let x: f64 = num.parse().map_err(|_| {
        anyhow::anyhow!("invalid 'horizon': must be days ('1', '1d') or hours ('12h'), got '{s}'")
    })?;
    Ok(x * unit)
}

fn load_history(dir: &Path, names: &[String]) -> anyhow::Result<History> {
    let mut history = History::default();
    for name in names {
        let Some(file) = daily_file_name(name) else {
            bail!("no daily history for underlying '{name}' (the data hold BTC and ETH)");
        };
        let path = dir.join(file);
        let text =
            read(&path).context("missing data: pass --data DIR (the ../shared/data directory)")?;
        history.closes.insert(
            name.clone(),
            parse_daily_csv(&text, "close", &path.display().to_string())?,
        );
    }
    let path = dir.join(DVOL_FILE);
    let text =
        read(&path).context("missing data: pass --data DIR (the ../shared/data directory)")?;
    history.dvol = Some(parse_daily_csv(
        &text,
        "dvol_close",
        &path.display().to_string(),
    )?);
    Ok(history)
}

pub fn run(args: VarArgs) -> anyhow::Result<Outcome> {
    let method = Method::parse(&args.method)?;
    let params = TailParams {
        alphas: if args.alphas.is_empty() {
            vec![0.99, 0.995]
        } else {
            args.alphas.clone()
        },
        horizon_days: parse_horizon(&args.horizon)?,
        paths: args.paths,
        seed: args.seed,
        ..TailParams::default()
    };
    params.validate()?;
    let filter = match args.filter.as_str() {
        "garch" => Filter::Garch,
        "ewma" => Filter::Ewma(0.94),
        other => bail!("invalid 'filter': must be 'garch' or 'ewma', got '{other}'"),
    };
    let data = args
        .data
        .clone()
        .or_else(|| std::env::var_os("ALE_DATA_DIR").map(PathBuf::from));
    let loaded = parse_market(&read(&args.market)?)
        .with_context(|| format!("market file {}", args.market.display()))?;
    for key in &loaded.ignored_keys {
        eprintln!(
            "ale: warning: {}: unknown key '{key}' ignored",
            args.market.display()
        );
    }
    let market = loaded.snapshot;
    let names: Vec<String> = market.underlyings().map(|u| u.name().to_string()).collect();
    let paths = match method {
        Method::MonteCarlo => {
            let model = match &data {
                Some(dir) => {
                    // Re-estimate from the data (BTC and ETH, whatever the market holds).
                    let all = ["BTC".to_string(), "ETH".to_string()];
                    estimate(&load_history(dir, &all)?, default_window())?.to_model()
                }
                None => TailModel::crypto_default(),
            };
            mc_paths(&model, &market, &params)?
        }
        Method::FilteredHistorical => {
            let Some(dir) = &data else {
                bail!("missing data: fhs needs the daily history; pass --data DIR (the ../shared/data directory) or set ALE_DATA_DIR");
            };
            let history = load_history(dir, &names)?;
            let sigma: Vec<f64> = market
                .underlyings()
                .map(|u| todays_vol(u, params.vol_ref_days))
                .collect();
            fhs_paths(
                &history,
                &names,
                &sigma,
                filter,
                params.horizon_days,
                default_window(),
            )?
        }
    };

    let mut failed = false;
    let mut accounts: Vec<Account> = Vec::new();
    for path in &args.portfolios {
        match read(path).and_then(|t| {
            parse_portfolio(&t).with_context(|| format!("portfolio file {}", path.display()))
        }) {
            Ok((list, ignored)) => {
                for key in ignored {
                    eprintln!(
                        "ale: warning: {}: unknown key '{key}' ignored",
                        path.display()
                    );
                }
                accounts.extend(list);
            }
            Err(e) => {
                eprintln!("ale: {e:#}");
                failed = true;
            }
        }
    }
    let mut book = Book::new();
    let mut ixs = Vec::with_capacity(accounts.len());
    for account in &accounts {
        ixs.push(book.upsert_account(account));
    }
    let result = tail_risk(&book, &market, &paths, &params)?;
    let n_paths = paths.len();
    let mut lines: Vec<serde_json::Value> = Vec::new();
    for (account, ix) in accounts.iter().zip(ixs) {
        let name = account.id.as_str();
        let measures = ix
            .map_err(|e| e.to_string())
            .and_then(|ix| result.accounts[ix].clone().map_err(|e| e.to_string()));
        match measures {
            Ok(ms) => {
                for m in ms {
                    lines.push(serde_json::json!({
                        "account": name, "method": method.name(), "alpha": m.alpha,
                        "horizon": params.horizon_days, "var": m.var, "es": m.es,
                        "es_stderr": m.es_stderr, "paths": n_paths,
                    }));
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("ale: account '{name}': {e}");
                lines.push(serde_json::json!({"account": name, "error": e}));
            }
        }
    }
    if args.venue {
        for m in &result.venue {
            lines.push(serde_json::json!({
                "account": null, "venue": true, "accounts": result.venue_accounts,
                "method": method.name(), "alpha": m.alpha, "horizon": params.horizon_days,
                "var": m.var, "es": m.es, "es_stderr": m.es_stderr, "paths": n_paths,
            }));
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        for l in &lines {
            serde_json::to_writer(&mut out, l)?;
            out.write_all(b"\n")?;
        }
    } else {
        writeln!(
            out,
            "{:<16} {:<6} {:>7} {:>8} {:>14} {:>14} {:>12}",
            "account", "method", "alpha", "horizon", "var", "es", "es_stderr"
        )?;
        for l in &lines {
            let who = if l["venue"].as_bool() == Some(true) {
                format!("(venue: {})", l["accounts"])
            } else {
                l["account"].as_str().unwrap_or("").to_string()
            };
            if let Some(e) = l.get("error") {
                writeln!(out, "{who:<16} error: {}", e.as_str().unwrap_or(""))?;
                continue;
            }
            let num = |k: &str| l[k].as_f64().map_or("-".into(), |x| format!("{x:.2}"));
            writeln!(
                out,
                "{:<16} {:<6} {:>7} {:>8} {:>14} {:>14} {:>12}",
                who,
                method.name(),
                l["alpha"],
                l["horizon"],
                num("var"),
                num("es"),
                num("es_stderr")
            )?;
        }
    }
    out.flush()?;
    Ok(if failed {
        Outcome::SomeFailed
    } else {
        Outcome::Ok
    })
}

#[cfg(test)]
mod tests {
    use super::parse_horizon;

    #[test]
    fn horizons_parse() {
        assert_eq!(parse_horizon("1d").unwrap(), 1.0);
        assert_eq!(parse_horizon("2").unwrap(), 2.0);
        assert_eq!(parse_horizon("12h").unwrap(), 0.5);
        assert!(parse_horizon("soon").is_err());
    }
}
