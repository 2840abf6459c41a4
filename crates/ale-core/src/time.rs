//! Time: UTC timestamps, expiry dates (options and futures expire at 08:00 UTC), and time to
//! expiry in years, ACT/365.
//!
//! Nothing here reads the clock: "now" is always an argument.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};

use crate::error::ParseError;

/// Seconds in the ACT/365 year: 365 days of 86 400 s.
pub const SECONDS_PER_YEAR: i64 = 365 * 86_400;

/// Hour of day (UTC) at which every dated instrument expires.
pub const EXPIRY_HOUR_UTC: u32 = 8;

/// An instant in UTC, to the second (sub-second parts are kept but never needed by the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// From whole seconds since the Unix epoch.
    pub fn from_unix_seconds(seconds: i64) -> Option<Timestamp> {
        Utc.timestamp_opt(seconds, 0).single().map(Timestamp)
    }

    /// Whole seconds since the Unix epoch (floored).
    pub fn unix_seconds(self) -> i64 {
        self.0.timestamp()
    }

    /// Parses an RFC 3339 time (`2026-11-24T08:00:00Z`; an offset is converted to UTC).
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, ParseError> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| Timestamp(t.with_timezone(&Utc)))
            .map_err(|e| ParseError::Time {
                input: text.to_string(),
                reason: format!("expected RFC 3339 such as 2026-11-24T08:00:00Z ({e})"),
            })
    }

    /// Seconds from `self` to `later` (negative when `later` is earlier).
    pub fn seconds_until(self, later: Timestamp) -> i64 {
        later.unix_seconds() - self.unix_seconds()
    }

    /// Years from `self` to `later`, ACT/365 (negative when `later` is earlier).
    pub fn years_until(self, later: Timestamp) -> f64 {
        let millis = (later.0 - self.0).num_milliseconds();
        millis as f64 / (SECONDS_PER_YEAR as f64 * 1000.0)
    }

    /// The calendar date (UTC) of this instant.
    pub fn date(self) -> NaiveDate {
        self.0.date_naive()
    }
}

impl FromStr for Timestamp {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse_rfc3339(s)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 with a `Z`: `2026-12-26T08:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// The date a dated instrument expires on; it expires at 08:00 UTC that day.
/// Years 2000–2099 (the Deribit code has two digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExpiryDate(NaiveDate);

impl ExpiryDate {
    /// The expiry on a calendar date, if the year is within 2000–2099.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<ExpiryDate> {
        if !(2000..=2099).contains(&year) {
            return None;
        }
        NaiveDate::from_ymd_opt(year, month, day).map(ExpiryDate)
    }

    /// The expiry whose 08:00 UTC instant is `instant`, if `instant` is exactly such an instant.
    pub fn from_instant(instant: Timestamp) -> Option<ExpiryDate> {
        let date = instant.date();
        let expiry = ExpiryDate::from_ymd(date.year(), date.month(), date.day())?;
        (expiry.instant() == instant).then_some(expiry)
    }

    /// Parses the Deribit code: day without a leading zero, three-letter month, two-digit year
    /// (`26DEC26`, `3JAN27`).
    pub fn parse_code(code: &str) -> Result<ExpiryDate, String> {
        let digits_end = code
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("expiry '{code}' has no month (expected e.g. 26DEC26)"))?;
        let (day_text, rest) = code.split_at(digits_end);
        if day_text.is_empty() || day_text.len() > 2 {
            return Err(format!(
                "expiry '{code}' must start with a 1- or 2-digit day (e.g. 3JAN27, 26DEC26)"
            ));
        }
        if day_text.starts_with('0') {
            return Err(format!(
                "expiry '{code}': the day has no leading zero in Deribit ids (write {}{})",
                day_text.trim_start_matches('0'),
                rest
            ));
        }
        if rest.len() != 5 {
            return Err(format!(
                "expiry '{code}' must be day, 3-letter month, 2-digit year (e.g. 26DEC26)"
            ));
        }
        let (month_text, year_text) = rest.split_at(3);
        let month = MONTHS
            .iter()
            .position(|m| *m == month_text)
            .ok_or_else(|| format!("expiry '{code}': unknown month '{month_text}' (JAN..DEC)"))?;
        if !year_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "expiry '{code}': the year must be two digits, got '{year_text}'"
            ));
        }
        let year: i32 = 2000 + year_text.parse::<i32>().map_err(|e| e.to_string())?;
        let day: u32 = day_text
            .parse()
            .map_err(|_| format!("bad day in '{code}'"))?;
        ExpiryDate::from_ymd(year, month as u32 + 1, day)
            .ok_or_else(|| format!("expiry '{code}' is not a calendar date"))
    }

    /// The calendar date.
    pub fn date(self) -> NaiveDate {
        self.0
    }

    /// The instant of expiry: 08:00 UTC on the date.
    pub fn instant(self) -> Timestamp {
        let time = NaiveTime::from_hms_opt(EXPIRY_HOUR_UTC, 0, 0).unwrap_or(NaiveTime::MIN);
        Timestamp(Utc.from_utc_datetime(&self.0.and_time(time)))
    }

    /// Years from `now` to this expiry, ACT/365; negative once expired.
    pub fn years_from(self, now: Timestamp) -> f64 {
        now.years_until(self.instant())
    }

    /// Whole seconds from `now` to this expiry; negative once expired.
    pub fn seconds_from(self, now: Timestamp) -> i64 {
        now.seconds_until(self.instant())
    }

    /// True when the expiry instant is at or before `now`.
    pub fn has_expired(self, now: Timestamp) -> bool {
        self.instant() <= now
    }
}

impl fmt::Display for ExpiryDate {
    /// The Deribit code, `26DEC26`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{:02}",
            self.0.day(),
            MONTHS[self.0.month0() as usize],
            self.0.year() - 2000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn expiry_is_at_eight_utc() {
        let e = ExpiryDate::parse_code("26DEC26").unwrap();
        assert_eq!(e.instant().to_string(), "2026-12-26T08:00:00Z");
        assert_eq!(e.to_string(), "26DEC26");
        assert_eq!(ExpiryDate::from_instant(e.instant()), Some(e));
        assert_eq!(ExpiryDate::from_instant(ts("2026-12-26T09:00:00Z")), None);
    }

    #[test]
    fn act365_year_fraction() {
        let now = ts("2026-11-24T08:00:00Z");
        let e = ExpiryDate::parse_code("26DEC26").unwrap();
        assert_eq!(e.seconds_from(now), 32 * 86_400);
        assert!((e.years_from(now) - 32.0 / 365.0).abs() < 1e-15);
        // A leap year still counts 365 days per year: 366 days are 366/365 years.
        let a = ts("2028-01-01T08:00:00Z");
        let b = ts("2029-01-01T08:00:00Z");
        assert!((a.years_until(b) - 366.0 / 365.0).abs() < 1e-15);
        assert!(!e.has_expired(now));
        assert!(e.has_expired(e.instant()));
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        assert_eq!(
            ts("2026-11-24T09:00:00+01:00").to_string(),
            "2026-11-24T08:00:00Z"
        );
    }

    #[test]
    fn malformed_codes_say_why() {
        for (code, needle) in [
            ("03JAN27", "leading zero"),
            ("3JNN27", "unknown month"),
            ("31FEB27", "not a calendar date"),
            ("3JAN2027", "2-digit year"),
            ("JAN27", "day"),
            ("3JANXX", "two digits"),
            ("123JAN27", "day"),
            ("3jan27", "unknown month"),
        ] {
            let err = ExpiryDate::parse_code(code).unwrap_err();
            assert!(err.contains(needle), "{code}: {err}");
        }
    }

    #[test]
    fn bad_time_is_an_error() {
        assert!(Timestamp::parse_rfc3339("2026-11-24 08:00").is_err());
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }
}
