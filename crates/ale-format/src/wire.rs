//! Shared parsing plumbing: JSON with the path of any error, unknown keys reported, numbers that
//! may be given as decimal strings.

use serde::{Deserialize, Deserializer};

use ale_core::{Amount, ExpiryDate, Rounding, Timestamp};

/// A JSON document that could not be read as the expected format.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

impl FormatError {
    /// An error at a field path.
    pub fn at(path: &str, message: impl std::fmt::Display) -> FormatError {
        FormatError(format!("invalid '{path}': {message}"))
    }
}

/// Parses `text` as `T`; an error names the path of the failing field. Keys the format does not
/// know are ignored and returned, so that the caller can warn about them (a typo in an optional
/// field would otherwise go unnoticed).
pub fn from_json<T: for<'de> Deserialize<'de>>(
    text: &str,
) -> Result<(T, Vec<String>), FormatError> {
    let mut ignored = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let value = {
        let mut record = |path: serde_ignored::Path<'_>| ignored.push(path.to_string());
        let tracked = serde_ignored::Deserializer::new(&mut de, &mut record);
        serde_path_to_error::deserialize(tracked).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                FormatError(format!("not a valid document: {inner}"))
            } else {
                FormatError(format!("invalid '{path}': {inner}"))
            }
        })?
    };
    de.end()
        .map_err(|e| FormatError(format!("trailing characters after the document: {e}")))?;
    Ok((value, ignored))
}

/// An exact decimal amount given as a string (`"100000.5"`) or a JSON number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WireAmount(pub Amount);

impl<'de> Deserialize<'de> for WireAmount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(serde_json::Number),
        }
        let parse = |text: &str| Amount::parse_decimal(text).map_err(serde::de::Error::custom);
        match Raw::deserialize(deserializer)? {
            Raw::Text(s) => parse(&s).map(WireAmount),
            Raw::Number(n) => {
                let text = n.to_string();
                match Amount::parse_decimal(&text) {
                    Ok(a) => Ok(WireAmount(a)),
                    // Exponent notation (1e-7): round toward zero's floor; a balance the venue
                    // credits rounds down.
                    Err(_) => n
                        .as_f64()
                        .ok_or_else(|| serde::de::Error::custom("not a number"))
                        .and_then(|x| {
                            Amount::from_f64(x, Rounding::Down).map_err(serde::de::Error::custom)
                        })
                        .map(WireAmount),
                }
            }
        }
    }
}

/// An instant: RFC 3339 (`2026-12-26T08:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WireTime(pub Timestamp);

impl<'de> Deserialize<'de> for WireTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&s)
            .map(WireTime)
            .map_err(serde::de::Error::custom)
    }
}

/// An expiry: an RFC 3339 instant at 08:00 UTC, or a Deribit code (`26DEC26`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WireExpiry(pub ExpiryDate);

impl<'de> Deserialize<'de> for WireExpiry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        if let Ok(code) = ExpiryDate::parse_code(&s) {
            return Ok(WireExpiry(code));
        }
        let t = Timestamp::parse_rfc3339(&s).map_err(|_| {
            serde::de::Error::custom(format!(
                "expiry '{s}' is neither RFC 3339 (2026-12-26T08:00:00Z) nor a Deribit code (26DEC26)"
            ))
        })?;
        ExpiryDate::from_instant(t).map(WireExpiry).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expiry '{s}' must be at 08:00:00 UTC, when dated instruments expire"
            ))
        })
    }
}

impl serde::Serialize for WireAmount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

impl serde::Serialize for WireTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

impl serde::Serialize for WireExpiry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.instant().to_string())
    }
}
