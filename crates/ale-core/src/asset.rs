//! Asset symbols: `BTC`, `ETH`, `USDC`, `BTC_USDC`.

use std::fmt;
use std::str::FromStr;

use crate::error::ParseError;

/// Longest symbol accepted, in bytes.
pub const ASSET_SYMBOL_MAX_LEN: usize = 16;

/// An asset symbol: an uppercase letter, then uppercase letters, digits or `_`
/// (Deribit names linear underlyings `BTC_USDC`). At most [`ASSET_SYMBOL_MAX_LEN`] bytes.
///
/// Stored inline (the ASCII bytes, zero-padded), so that cloning one allocates nothing and
/// comparing two is one 16-byte compare: the margin engine clones and compares symbols for
/// every account it margins (a heap `String` here cost about 10 % of a re-margin in malloc,
/// free and `memcmp`, measured with `perf` on `examples/remargin_profile.rs`). Zero padding
/// keeps the order of the text (`BTC` < `BTC_USDC`), since a symbol holds no zero byte.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Asset([u8; ASSET_SYMBOL_MAX_LEN]);

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
        let mut bytes = [0u8; ASSET_SYMBOL_MAX_LEN];
        bytes[..symbol.len()].copy_from_slice(symbol.as_bytes());
        Ok(Asset(bytes))
    }

    /// The symbol as text.
    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        // Only checked ASCII bytes are ever stored (see `new`).
        std::str::from_utf8(&self.0[..len]).unwrap_or_default()
    }
}

impl fmt::Debug for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Asset").field(&self.as_str()).finish()
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
        f.write_str(self.as_str())
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
    fn orders_and_prints_as_its_text() {
        let mut symbols = ["BTC_USDC", "BTC", "ETH", "A1", "ABCDEFGHIJKLMNOP", "USDC"];
        let mut assets: Vec<Asset> = symbols.iter().map(|s| Asset::new(s).unwrap()).collect();
        symbols.sort_unstable();
        assets.sort();
        let printed: Vec<String> = assets.iter().map(|a| a.to_string()).collect();
        assert_eq!(printed, symbols);
        assert_eq!(
            format!("{:?}", Asset::new("ETH").unwrap()),
            "Asset(\"ETH\")"
        );
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
