//! The named scenarios of `ale backtest SCENARIO` (listed in docs/formats.md).

use ale_core::Timestamp;

use crate::error::SimError;

/// How a scenario's market path is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Replay of the data between two instants (RFC 3339); `crash` is the window where the path
    /// is refined below the hour and the keeper runs at its fast cycle.
    Historical {
        /// First instant.
        start: &'static str,
        /// Last instant.
        end: &'static str,
        /// The crash window (sub-hour path inside).
        crash: (&'static str, &'static str),
    },
    /// The calibrated jump-diffusion with stochastic vol; `stress` adds a crash worse than any
    /// in the data (a 45–65 % fall within 2–12 hours with the vol jump that comes with it).
    Synthetic {
        /// Length in days.
        days: u32,
        /// Forced crash.
        stress: bool,
    },
}

/// A named scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    /// Its name on the command line.
    pub name: &'static str,
    /// One line for the report.
    pub description: &'static str,
    /// How its path is made.
    pub kind: Kind,
}

/// Every scenario, in the order `ale backtest --help` lists them.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "covid-2020",
        description: "BTC 27 Feb - 28 Mar 2020, hourly (Binance), the 12-13 March crash (-50% in 30 h); IV from the fitted model",
        kind: Kind::Historical {
            start: "2020-02-27T00:00:00Z",
            end: "2020-03-28T00:00:00Z",
            crash: ("2020-03-12T00:00:00Z", "2020-03-14T00:00:00Z"),
        },
    },
    Scenario {
        name: "may-2021",
        description: "BTC 29 Apr - 29 May 2021, hourly, the 19 May crash (-30% intraday); IV from the fitted model",
        kind: Kind::Historical {
            start: "2021-04-29T00:00:00Z",
            end: "2021-05-29T00:00:00Z",
            crash: ("2021-05-19T00:00:00Z", "2021-05-20T12:00:00Z"),
        },
    },
    Scenario {
        name: "ftx-2022",
        description: "BTC 25 Oct - 24 Nov 2022, daily bars bridged to hourly, FTX collapse 8-9 Nov; DVOL from 6 Nov, the model before",
        kind: Kind::Historical {
            start: "2022-10-25T00:00:00Z",
            end: "2022-11-24T00:00:00Z",
            crash: ("2022-11-08T00:00:00Z", "2022-11-10T00:00:00Z"),
        },
    },
    Scenario {
        name: "aug-2024",
        description: "BTC 20 Jul - 19 Aug 2024, daily bars bridged to hourly, the 5 August yen-carry unwind; DVOL",
        kind: Kind::Historical {
            start: "2024-07-20T00:00:00Z",
            end: "2024-08-19T00:00:00Z",
            crash: ("2024-08-04T00:00:00Z", "2024-08-06T00:00:00Z"),
        },
    },
    Scenario {
        name: "calm-2023",
        description: "BTC 15 Jun - 15 Jul 2023, daily bars bridged to hourly, a quiet month; DVOL",
        kind: Kind::Historical {
            start: "2023-06-15T00:00:00Z",
            end: "2023-07-15T00:00:00Z",
            crash: ("2023-06-20T00:00:00Z", "2023-06-21T00:00:00Z"),
        },
    },
    Scenario {
        name: "synthetic",
        description: "30 days of the calibrated jump-diffusion with stochastic vol (one path per --paths)",
        kind: Kind::Synthetic {
            days: 30,
            stress: false,
        },
    },
    Scenario {
        name: "stress",
        description: "30 days of the calibrated model with a forced crash worse than any in the data (45-65% in 2-12 h, vol jump); one per --paths",
        kind: Kind::Synthetic {
            days: 30,
            stress: true,
        },
    },
];

/// The scenario named `name`, or an error listing them all.
pub fn by_name(name: &str) -> Result<&'static Scenario, SimError> {
    SCENARIOS
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| SimError::UnknownScenario {
            name: name.to_string(),
            known: SCENARIOS
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

pub(crate) fn time(text: &str) -> Result<i64, SimError> {
    Timestamp::parse_rfc3339(text)
        .map(Timestamp::unix_seconds)
        .map_err(|e| crate::error::invalid("scenario time", e.to_string()))
}
