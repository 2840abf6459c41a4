//! Asset symbols: `BTC`, `ETH`, `USDC`, `BTC_USDC`.

use std::fmt;
use std::str::FromStr;

use crate::error::ParseError;

/// Longest symbol accepted, in bytes.
pub const ASSET_SYMBOL_MAX_LEN: usize = 16;

/// An asset symbol: an uppercase letter, then uppercase letters, digits or `_`
/// (Deribit names linear underlyings `BTC_USDC`). At most [`ASSET_SYMBOL_MAX_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Asset(String);

impl Asset {
    /// Parses and checks a symbol.
    pub fn new(symbol: &str) -> Result<Asset, ParseError> {
        let malformed = |reason: &str| ParseError::Asset {
            input: symbol.to_string(),
            reason: reason.to_string(),
        };
        if symbol.is_empty() {
            return Err(malformed("empty"));
        }
        if symbol.len() > ASSET_SYMBOL_MAX_LEN {
            return Err(malformed(&format!(
                "longer than {ASSET_SYMBOL_MAX_LEN} characters"
            )));
        }
        let mut bytes = symbol.bytes();
        let first = bytes.next().unwrap_or(b' ');
        if !first.is_ascii_uppercase() {
            return Err(malformed("must start with an uppercase letter A-Z"));
        }
        if !bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
            return Err(malformed(
                "may only hold uppercase letters A-Z, digits and '_'",
            ));
        }
        Ok(Asset(symbol.to_string()))
    }

    /// The symbol as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Asset {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Asset::new(s)
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_venue_symbols() {
        for s in ["BTC", "ETH", "USDC", "BTC_USDC", "WETH", "A1"] {
            assert_eq!(Asset::new(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn rejects_malformed_symbols_with_a_reason() {
        for s in [
            "",
            "btc",
            "1BTC",
            "BT C",
            "BTC-",
            "_BTC",
            "ABCDEFGHIJKLMNOPQ",
        ] {
            let err = Asset::new(s).unwrap_err().to_string();
            assert!(err.contains("asset"), "{err}");
        }
    }
}
