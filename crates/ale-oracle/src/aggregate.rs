//! Source aggregation: several feeds per value (spot, index, perp mark, an option mark) turned
//! into one number by median, with staleness and deviation guards, a circuit breaker for a jump
//! no second source confirms, and TWAP or EMA smoothing. A bad value (NaN, ≤ 0, stale, outlier)
//! is rejected with its reason and never used.

use std::collections::VecDeque;

use ale_core::Timestamp;
use thiserror::Error;

/// Most samples a TWAP window keeps (a bound on memory).
pub const MAX_TWAP_SAMPLES: usize = 4096;
/// Most sources one update may carry.
pub const MAX_SOURCES: usize = 64;

/// How accepted medians are smoothed into the published value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Smoothing {
    /// The median itself.
    None,
    /// Time-weighted average of the accepted medians over the last `window_s` seconds.
    Twap { window_s: i64 },
    /// Exponential moving average with the given half-life.
    Ema { half_life_s: f64 },
}

/// Guards and smoothing of one aggregated value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AggregatorConfig {
    /// A quote older than this is stale.
    pub max_age_s: i64,
    /// A quote further than this (relative) from the median of the fresh quotes is an outlier.
    pub max_deviation: f64,
    /// Fewest fresh, sane, agreeing sources for an update.
    pub min_sources: usize,
    /// A move from the last published median larger than this (relative) trips the breaker
    /// unless `confirmations` sources agree on it.
    pub breaker_jump: f64,
    /// Sources needed to confirm a jump.
    pub confirmations: usize,
    /// Smoothing of the published value.
    pub smoothing: Smoothing,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        AggregatorConfig {
            max_age_s: 30,
            max_deviation: 0.02,
            min_sources: 1,
            breaker_jump: 0.10,
            confirmations: 2,
            smoothing: Smoothing::None,
        }
    }
}

/// One source's quote.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceQuote {
    /// Which source.
    pub source: String,
    /// The value quoted.
    pub value: f64,
    /// When the source observed it.
    pub time: Timestamp,
}

/// Why a quote was not used.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// NaN or infinite.
    NonFinite,
    /// Zero or negative.
    NonPositive,
    /// Older than `max_age_s` (its age in seconds), or from the future.
    Stale { age_s: i64 },
    /// Too far from the median of the others (relative deviation).
    Outlier { deviation: f64 },
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::NonFinite => f.write_str("not a finite number"),
            Rejection::NonPositive => f.write_str("not > 0"),
            Rejection::Stale { age_s } if *age_s < 0 => {
                write!(f, "from the future ({}s ahead)", -age_s)
            }
            Rejection::Stale { age_s } => write!(f, "stale ({age_s}s old)"),
            Rejection::Outlier { deviation } => {
                write!(f, "outlier ({:.2}% from the median)", 100.0 * deviation)
            }
        }
    }
}

/// An update that could not be made; the last published value stands.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OracleError {
    /// Too few usable sources.
    #[error("only {usable} usable source(s), {needed} needed; rejected: {rejected}")]
    TooFewSources {
        usable: usize,
        needed: usize,
        rejected: String,
    },
    /// A jump no second source confirms: the circuit breaker holds the last value.
    #[error("circuit breaker: a {move_pct:.1}% move confirmed by {confirmed} source(s), {needed} needed")]
    Unconfirmed {
        move_pct: f64,
        confirmed: usize,
        needed: usize,
    },
    /// More sources than the bound.
    #[error("{0} sources in one update; at most {MAX_SOURCES}")]
    TooManySources(usize),
    /// Time went backwards.
    #[error("update at {now} is before the last one at {last}")]
    TimeTravel { now: String, last: String },
}

/// The result of an accepted update.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregated {
    /// The published value (smoothed).
    pub value: f64,
    /// The median of the accepted quotes.
    pub median: f64,
    /// Sources used.
    pub used: Vec<String>,
    /// Sources rejected, with why.
    pub rejected: Vec<(String, Rejection)>,
}

/// The state of one aggregated value.
#[derive(Debug, Clone)]
pub struct Aggregator {
    config: AggregatorConfig,
    last_median: Option<f64>,
    last_time: Option<Timestamp>,
    twap: VecDeque<(Timestamp, f64)>,
    ema: Option<f64>,
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}

impl Aggregator {
    /// A fresh aggregator.
    pub fn new(config: AggregatorConfig) -> Aggregator {
        Aggregator {
            config,
            last_median: None,
            last_time: None,
            twap: VecDeque::new(),
            ema: None,
        }
    }

    /// The last published median, if any.
    pub fn last_median(&self) -> Option<f64> {
        self.last_median
    }

    /// One update at `now` from `quotes`. On error nothing changes.
    pub fn update(
        &mut self,
        quotes: &[SourceQuote],
        now: Timestamp,
    ) -> Result<Aggregated, OracleError> {
        if quotes.len() > MAX_SOURCES {
            return Err(OracleError::TooManySources(quotes.len()));
        }
        if let Some(last) = self.last_time {
            if now < last {
                return Err(OracleError::TimeTravel {
                    now: now.to_string(),
                    last: last.to_string(),
                });
            }
        }
        let mut rejected = Vec::new();
        let mut fresh: Vec<&SourceQuote> = Vec::new();
        for q in quotes {
            let age = now.unix_seconds() - q.time.unix_seconds();
            let reason = if !q.value.is_finite() {
                Some(Rejection::NonFinite)
            } else if q.value <= 0.0 {
                Some(Rejection::NonPositive)
            } else if age > self.config.max_age_s || age < 0 {
                Some(Rejection::Stale { age_s: age })
            } else {
                None
            };
            match reason {
                Some(r) => rejected.push((q.source.clone(), r)),
                None => fresh.push(q),
            }
        }
        let mut values: Vec<f64> = fresh.iter().map(|q| q.value).collect();
        values.sort_by(f64::total_cmp);
        let mut used = Vec::new();
        let mut kept = Vec::new();
        if !values.is_empty() {
            let m = median(&values);
            for q in &fresh {
                let deviation = (q.value / m - 1.0).abs();
                if deviation > self.config.max_deviation {
                    rejected.push((q.source.clone(), Rejection::Outlier { deviation }));
                } else {
                    used.push(q.source.clone());
                    kept.push(q.value);
                }
            }
        }
        if kept.len() < self.config.min_sources.max(1) {
            return Err(OracleError::TooFewSources {
                usable: kept.len(),
                needed: self.config.min_sources.max(1),
                rejected: rejected
                    .iter()
                    .map(|(s, r)| format!("{s}: {r}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        kept.sort_by(f64::total_cmp);
        let m = median(&kept);
        if let Some(last) = self.last_median {
            let jump = (m / last - 1.0).abs();
            if jump > self.config.breaker_jump && kept.len() < self.config.confirmations {
                return Err(OracleError::Unconfirmed {
                    move_pct: 100.0 * jump,
                    confirmed: kept.len(),
                    needed: self.config.confirmations,
                });
            }
        }
        let value = match self.config.smoothing {
            Smoothing::None => m,
            Smoothing::Twap { window_s } => {
                self.twap.push_back((now, m));
                while self.twap.len() > MAX_TWAP_SAMPLES
                    || self
                        .twap
                        .front()
                        .is_some_and(|(t, _)| now.unix_seconds() - t.unix_seconds() > window_s)
                {
                    self.twap.pop_front();
                }
                twap(&self.twap, now)
            }
            Smoothing::Ema { half_life_s } => {
                let dt = self
                    .last_time
                    .map_or(0.0, |t| (now.unix_seconds() - t.unix_seconds()) as f64);
                let next = match self.ema {
                    None => m,
                    Some(prev) => {
                        let keep = 0.5f64.powf(dt / half_life_s.max(1e-9));
                        keep * prev + (1.0 - keep) * m
                    }
                };
                self.ema = Some(next);
                next
            }
        };
        self.last_median = Some(m);
        self.last_time = Some(now);
        Ok(Aggregated {
            value,
            median: m,
            used,
            rejected,
        })
    }
}

/// Time-weighted average of step samples up to `now` (each sample holds until the next).
fn twap(samples: &VecDeque<(Timestamp, f64)>, now: Timestamp) -> f64 {
    let mut weighted = 0.0;
    let mut total = 0.0;
    for (i, (t, v)) in samples.iter().enumerate() {
        let end = samples.get(i + 1).map_or(now, |(n, _)| *n);
        let w = (end.unix_seconds() - t.unix_seconds()).max(0) as f64;
        weighted += w * v;
        total += w;
    }
    if total > 0.0 {
        weighted / total
    } else {
        samples.back().map_or(f64::NAN, |(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_unix_seconds(1_800_000_000 + s).unwrap()
    }

    fn q(source: &str, value: f64, at: i64) -> SourceQuote {
        SourceQuote {
            source: source.into(),
            value,
            time: t(at),
        }
    }

    #[test]
    fn median_with_guards_rejects_bad_values_with_reasons() {
        let mut a = Aggregator::new(AggregatorConfig::default());
        let out = a
            .update(
                &[
                    q("a", 100.0, 0),
                    q("b", 101.0, 0),
                    q("c", 99.0, -1),
                    q("nan", f64::NAN, 0),
                    q("neg", -5.0, 0),
                    q("old", 100.0, -120),
                    q("far", 150.0, 0),
                ],
                t(0),
            )
            .unwrap();
        assert_eq!(out.value, 100.0);
        assert_eq!(out.used, vec!["a", "b", "c"]);
        let reasons: Vec<String> = out
            .rejected
            .iter()
            .map(|(s, r)| format!("{s}: {r}"))
            .collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons.iter().any(|r| r.starts_with("nan: not a finite")));
        assert!(reasons.iter().any(|r| r.starts_with("old: stale")));
        assert!(reasons.iter().any(|r| r.starts_with("far: outlier")));
    }

    #[test]
    fn a_jump_needs_a_second_source() {
        let mut a = Aggregator::new(AggregatorConfig::default());
        a.update(&[q("a", 100.0, 0), q("b", 100.0, 0)], t(0))
            .unwrap();
        // One source says −30 %, the other is silent: the breaker holds.
        let err = a.update(&[q("a", 70.0, 10)], t(10)).unwrap_err();
        assert!(
            matches!(err, OracleError::Unconfirmed { confirmed: 1, .. }),
            "{err}"
        );
        assert_eq!(a.last_median(), Some(100.0));
        // Both agree: the move is real.
        let out = a
            .update(&[q("a", 70.0, 20), q("b", 70.5, 20)], t(20))
            .unwrap();
        assert!((out.value - 70.25).abs() < 1e-12);
    }

    #[test]
    fn nothing_usable_is_an_error_and_changes_nothing() {
        let mut a = Aggregator::new(AggregatorConfig::default());
        a.update(&[q("a", 100.0, 0)], t(0)).unwrap();
        assert!(a
            .update(&[q("a", f64::NAN, 5), q("b", 0.0, 5)], t(5))
            .is_err());
        assert_eq!(a.last_median(), Some(100.0));
        assert!(a.update(&[q("a", 100.0, 0)], t(-10)).is_err());
    }

    #[test]
    fn twap_and_ema_smooth() {
        let mut a = Aggregator::new(AggregatorConfig {
            smoothing: Smoothing::Twap { window_s: 60 },
            ..AggregatorConfig::default()
        });
        a.update(&[q("a", 100.0, 0)], t(0)).unwrap();
        let out = a.update(&[q("a", 105.0, 30)], t(30)).unwrap();
        // 100 held for 30 s, 105 for 0 s so far.
        assert!((out.value - 100.0).abs() < 1e-12);
        let out = a.update(&[q("a", 105.0, 60)], t(60)).unwrap();
        assert!((out.value - 102.5).abs() < 1e-12);
        let mut e = Aggregator::new(AggregatorConfig {
            smoothing: Smoothing::Ema { half_life_s: 10.0 },
            ..AggregatorConfig::default()
        });
        e.update(&[q("a", 100.0, 0)], t(0)).unwrap();
        let out = e.update(&[q("a", 104.0, 10)], t(10)).unwrap();
        assert!((out.value - 102.0).abs() < 1e-12);
    }
}
