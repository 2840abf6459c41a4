//! The real market data of `../shared/data/` (see its README): Binance BTC/USDT and ETH/USDT
//! daily and hourly bars, the Deribit BTC DVOL index (daily close) and the Binance BTC perpetual
//! funding rate.
//!
//! Only the columns the simulator uses are read (time, open, high, low, close). Files are found
//! by [`DataSet::locate`]: an explicit directory, `$ALE_DATA_DIR`, `../shared/data` from the
//! working directory, the same path from this crate's source, and last the small excerpt under
//! `crates/ale-sim/tests/data` (enough for the tests; a scenario outside it is a clear error).

use std::path::{Path, PathBuf};

use ale_core::Timestamp;

use crate::error::SimError;

/// File names, as in `../shared/data/README.md`.
pub const BTC_DAILY: &str = "binance_btcusdt_1d.csv";
/// Hourly BTC bars, 2017-08-17 to 2021-06-10.
pub const BTC_HOURLY: &str = "binance_btcusdt_1h_2017_2021.csv";
/// Deribit BTC DVOL, daily close, 2022-11-06 to 2025-11-12.
pub const BTC_DVOL: &str = "deribit_btc_dvol_1d.csv";
/// Binance BTCUSDT perpetual funding, percent per 8 h.
pub const BTC_FUNDING: &str = "binance_btcusdt_perp_funding_8h.csv";
/// Daily ETH bars (optional: a directory without them runs BTC alone).
pub const ETH_DAILY: &str = "binance_ethusdt_1d.csv";
/// Hourly ETH bars, 2017-08-17 to 2021-06-10 (optional).
pub const ETH_HOURLY: &str = "binance_ethusdt_1h_2017_2021.csv";

/// Most rows read from one file (the largest holds 33,413).
pub const MAX_ROWS: usize = 1_000_000;

/// One bar. `time_s` is the bar's close time (open time + its length), Unix seconds UTC.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Close time, Unix seconds.
    pub time_s: i64,
    /// Open price.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
}

/// A time series of one value (DVOL as a decimal vol; funding as a fraction per 8 h).
pub type Series = Vec<(i64, f64)>;

/// Everything loaded.
#[derive(Debug, Clone, Default)]
pub struct DataSet {
    /// Daily BTC bars (close at the end of the UTC day).
    pub btc_daily: Vec<Bar>,
    /// Hourly BTC bars.
    pub btc_hourly: Vec<Bar>,
    /// DVOL as a decimal (0.5676 = 56.76 %), at the end of its day.
    pub dvol: Series,
    /// Funding as a fraction per 8 h (0.0001 = 0.01 %), at its funding time.
    pub funding: Series,
    /// Daily ETH bars (empty when the directory has none).
    pub eth_daily: Vec<Bar>,
    /// Hourly ETH bars (empty when the directory has none).
    pub eth_hourly: Vec<Bar>,
    /// The directory read.
    pub dir: PathBuf,
}

fn parse_time(text: &str) -> Option<i64> {
    let t = if text.len() == 10 {
        Timestamp::parse_rfc3339(&format!("{text}T00:00:00Z")).ok()?
    } else {
        Timestamp::parse_rfc3339(text).ok()?
    };
    Some(t.unix_seconds())
}

fn read(dir: &Path, file: &str) -> Result<String, SimError> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|e| SimError::Data {
        file: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn rows<'a>(
    file: &'a str,
    text: &'a str,
) -> impl Iterator<Item = Result<(usize, Vec<&'a str>), SimError>> + 'a {
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
        .take(MAX_ROWS)
        .map(move |(i, l)| {
            let cols: Vec<&str> = l.split(',').map(str::trim).collect();
            if cols.len() < 2 {
                return Err(SimError::Data {
                    file: file.to_string(),
                    reason: format!("line {}: expected comma-separated columns", i + 1),
                });
            }
            Ok((i + 1, cols))
        })
}

fn number(file: &str, line: usize, col: &str, text: &str) -> Result<f64, SimError> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(SimError::Data {
            file: file.to_string(),
            reason: format!("line {line}: column '{col}' is not a finite number: '{text}'"),
        }),
    }
}

/// Parses bars (`time,open,high,low,close,...`), each `length_s` long.
pub fn parse_bars(file: &str, text: &str, length_s: i64) -> Result<Vec<Bar>, SimError> {
    let mut out = Vec::new();
    for row in rows(file, text) {
        let (line, c) = row?;
        if c.len() < 5 {
            return Err(SimError::Data {
                file: file.into(),
                reason: format!("line {line}: expected time,open,high,low,close"),
            });
        }
        let open_time = parse_time(c[0]).ok_or_else(|| SimError::Data {
            file: file.into(),
            reason: format!("line {line}: bad time '{}'", c[0]),
        })?;
        out.push(Bar {
            time_s: open_time + length_s,
            open: number(file, line, "open", c[1])?,
            high: number(file, line, "high", c[2])?,
            low: number(file, line, "low", c[3])?,
            close: number(file, line, "close", c[4])?,
        });
    }
    Ok(out)
}

/// Parses `time,value` rows, the value multiplied by `scale`, stamped at time + `offset_s`.
pub fn parse_series(file: &str, text: &str, scale: f64, offset_s: i64) -> Result<Series, SimError> {
    let mut out = Vec::new();
    for row in rows(file, text) {
        let (line, c) = row?;
        let t = parse_time(c[0]).ok_or_else(|| SimError::Data {
            file: file.into(),
            reason: format!("line {line}: bad time '{}'", c[0]),
        })?;
        out.push((t + offset_s, number(file, line, "value", c[1])? * scale));
    }
    Ok(out)
}

impl DataSet {
    /// Reads the four BTC files of `dir`, and the two ETH files when they are there.
    pub fn load(dir: &Path) -> Result<DataSet, SimError> {
        let optional = |file: &str, length_s: i64| -> Result<Vec<Bar>, SimError> {
            if dir.join(file).is_file() {
                parse_bars(file, &read(dir, file)?, length_s)
            } else {
                Ok(Vec::new())
            }
        };
        Ok(DataSet {
            btc_daily: parse_bars(BTC_DAILY, &read(dir, BTC_DAILY)?, 86_400)?,
            btc_hourly: parse_bars(BTC_HOURLY, &read(dir, BTC_HOURLY)?, 3_600)?,
            dvol: parse_series(BTC_DVOL, &read(dir, BTC_DVOL)?, 0.01, 86_400)?,
            funding: parse_series(BTC_FUNDING, &read(dir, BTC_FUNDING)?, 0.01, 0)?,
            eth_daily: optional(ETH_DAILY, 86_400)?,
            eth_hourly: optional(ETH_HOURLY, 3_600)?,
            dir: dir.to_path_buf(),
        })
    }

    /// The daily bars of `underlying` (`BTC` or `ETH`; empty for any other).
    pub fn daily(&self, underlying: &str) -> &[Bar] {
        match underlying {
            "BTC" => &self.btc_daily,
            "ETH" => &self.eth_daily,
            _ => &[],
        }
    }

    /// The hourly bars of `underlying` (`BTC` or `ETH`; empty for any other).
    pub fn hourly(&self, underlying: &str) -> &[Bar] {
        match underlying {
            "BTC" => &self.btc_hourly,
            "ETH" => &self.eth_hourly,
            _ => &[],
        }
    }

    /// The file names of `underlying`'s daily and hourly bars.
    pub fn files(underlying: &str) -> (&'static str, &'static str) {
        match underlying {
            "ETH" => (ETH_DAILY, ETH_HOURLY),
            _ => (BTC_DAILY, BTC_HOURLY),
        }
    }

    /// The directories tried, in order (see the module docs).
    pub fn candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(p) = explicit {
            out.push(p.to_path_buf());
            return out;
        }
        if let Some(p) = std::env::var_os("ALE_DATA_DIR") {
            out.push(PathBuf::from(p));
        }
        out.push(PathBuf::from("../shared/data"));
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        out.push(manifest.join("../../../shared/data"));
        out.push(manifest.join("tests/data"));
        out
    }

    /// Loads the first candidate directory that holds the daily file (an explicit directory
    /// must hold all four).
    pub fn locate(explicit: Option<&Path>) -> Result<DataSet, SimError> {
        let candidates = DataSet::candidates(explicit);
        for dir in &candidates {
            if explicit.is_some() || dir.join(BTC_DAILY).is_file() {
                return DataSet::load(dir);
            }
        }
        Err(SimError::Data {
            file: BTC_DAILY.into(),
            reason: format!(
                "not found in any of {}",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }
}

/// The value of a series at `time_s`: linear between points, flat beyond the ends (`None` when
/// `time_s` is more than `max_gap_s` from every point).
pub fn interpolate(series: &[(i64, f64)], time_s: i64, max_gap_s: i64) -> Option<f64> {
    let i = series.partition_point(|(t, _)| *t <= time_s);
    match (i.checked_sub(1).map(|j| series[j]), series.get(i)) {
        (Some((t0, v0)), Some((t1, v1))) => {
            if time_s - t0 > max_gap_s && t1 - time_s > max_gap_s {
                return None;
            }
            let w = (time_s - t0) as f64 / (t1 - t0).max(1) as f64;
            Some(v0 + (v1 - v0) * w)
        }
        (Some((t0, v0)), None) => (time_s - t0 <= max_gap_s).then_some(v0),
        (None, Some(&(t1, v1))) => (t1 - time_s <= max_gap_s).then_some(v1),
        (None, None) => None,
    }
}
