//! Instruments and their Deribit-style ids.
//!
//! | id | instrument |
//! | --- | --- |
//! | `BTC` | spot |
//! | `BTC-PERP`, `BTC-PERPETUAL` | perpetual |
//! | `BTC-26DEC26` | dated future, expiring 26 Dec 2026 08:00 UTC |
//! | `BTC-26DEC26-100000-C` | option: underlying, expiry, strike, `C`/`P` |
//!
//! Strikes are whole numbers or, as Deribit writes them for small linear contracts, decimals
//! with `d` for the point (`XRP_USDC-30JUN23-0d625-C`). Parsing accepts only the canonical form
//! (no leading zeros, no trailing fractional zeros), so `to_string()` prints back exactly the id
//! that was parsed.

use std::fmt;
use std::str::FromStr;

use crate::asset::Asset;
use crate::error::ParseError;
use crate::option_kind::OptionKind;
use crate::time::ExpiryDate;

/// Most decimal places a strike may have.
pub const STRIKE_MAX_DECIMALS: u8 = 8;

/// An option strike, kept exactly as written: `units / 10^decimals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Strike {
    units: u64,
    decimals: u8,
}

impl Strike {
    /// The strike as a number (in units of the quote currency).
    pub fn value(self) -> f64 {
        self.units as f64 / 10f64.powi(i32::from(self.decimals))
    }

    fn parse(text: &str) -> Result<Strike, String> {
        if text.contains('.') {
            return Err(format!(
                "strike '{text}': write the decimal point as 'd', as Deribit does (e.g. 0d625)"
            ));
        }
        let (int_part, frac_part) = match text.split_once('d') {
            Some((i, f)) => (i, Some(f)),
            None => (text, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
            return Err(format!(
                "strike '{text}' must be a positive number such as 100000 or 0d625"
            ));
        }
        if int_part.len() > 1 && int_part.starts_with('0') {
            return Err(format!("strike '{text}' has a leading zero"));
        }
        let frac = frac_part.unwrap_or("");
        if frac.ends_with('0') {
            return Err(format!(
                "strike '{text}' has a trailing zero after the point"
            ));
        }
        if frac.len() > usize::from(STRIKE_MAX_DECIMALS) {
            return Err(format!(
                "strike '{text}' has more than {STRIKE_MAX_DECIMALS} decimal places"
            ));
        }
        let digits = format!("{int_part}{frac}");
        let units: u64 = digits
            .parse()
            .map_err(|_| format!("strike '{text}' is too large"))?;
        if units == 0 {
            return Err(format!("strike '{text}' must be greater than zero"));
        }
        Ok(Strike {
            units,
            decimals: frac.len() as u8,
        })
    }
}

impl fmt::Display for Strike {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.decimals == 0 {
            return write!(f, "{}", self.units);
        }
        let scale = 10u64.pow(u32::from(self.decimals));
        write!(
            f,
            "{}d{:0width$}",
            self.units / scale,
            self.units % scale,
            width = usize::from(self.decimals)
        )
    }
}

/// How a perpetual's id spells its suffix (`PERP` as in ALE's docs, `PERPETUAL` as on Deribit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PerpetualSuffix {
    /// `BTC-PERP`.
    Perp,
    /// `BTC-PERPETUAL`.
    Perpetual,
}

/// A tradable instrument, typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Instrument {
    /// The asset itself (`BTC`).
    Spot { asset: Asset },
    /// A perpetual future on `underlying`.
    Perpetual {
        underlying: Asset,
        suffix: PerpetualSuffix,
    },
    /// A dated future, settling at the expiry's 08:00 UTC.
    Future {
        underlying: Asset,
        expiry: ExpiryDate,
    },
    /// A European option on the underlying's forward for `expiry`.
    Option {
        underlying: Asset,
        expiry: ExpiryDate,
        strike: Strike,
        kind: OptionKind,
    },
}

impl Instrument {
    /// Parses a Deribit-style id; the error says which part is malformed.
    pub fn parse(id: &str) -> Result<Instrument, ParseError> {
        let malformed = |reason: String| ParseError::Instrument {
            input: id.to_string(),
            reason,
        };
        let parts: Vec<&str> = id.split('-').collect();
        let underlying = Asset::new(parts[0]).map_err(|e| {
            malformed(match e {
                ParseError::Asset { reason, .. } => format!("underlying '{}' {reason}", parts[0]),
                other => other.to_string(),
            })
        })?;
        match parts.as_slice() {
            [_] => Ok(Instrument::Spot { asset: underlying }),
            [_, "PERP"] => Ok(Instrument::Perpetual {
                underlying,
                suffix: PerpetualSuffix::Perp,
            }),
            [_, "PERPETUAL"] => Ok(Instrument::Perpetual {
                underlying,
                suffix: PerpetualSuffix::Perpetual,
            }),
            [_, expiry] => Ok(Instrument::Future {
                underlying,
                expiry: ExpiryDate::parse_code(expiry).map_err(|reason| {
                    malformed(format!(
                        "'{expiry}' is neither PERP, PERPETUAL nor a valid expiry: {reason}"
                    ))
                })?,
            }),
            [_, expiry, strike, kind] => {
                let expiry = ExpiryDate::parse_code(expiry).map_err(malformed)?;
                let strike = Strike::parse(strike).map_err(malformed)?;
                let kind = match *kind {
                    "C" => OptionKind::Call,
                    "P" => OptionKind::Put,
                    other => {
                        return Err(malformed(format!(
                            "option kind '{other}' must be C (call) or P (put)"
                        )))
                    }
                };
                Ok(Instrument::Option {
                    underlying,
                    expiry,
                    strike,
                    kind,
                })
            }
            _ => Err(malformed(
                "expected UNDERLYING, UNDERLYING-PERP, UNDERLYING-DDMMMYY or \
                 UNDERLYING-DDMMMYY-STRIKE-C|P"
                    .to_string(),
            )),
        }
    }

    /// The underlying asset (the asset itself for spot).
    pub fn underlying(&self) -> &Asset {
        match self {
            Instrument::Spot { asset } => asset,
            Instrument::Perpetual { underlying, .. }
            | Instrument::Future { underlying, .. }
            | Instrument::Option { underlying, .. } => underlying,
        }
    }

    /// The expiry of a dated future or option.
    pub fn expiry(&self) -> Option<ExpiryDate> {
        match self {
            Instrument::Future { expiry, .. } | Instrument::Option { expiry, .. } => Some(*expiry),
            _ => None,
        }
    }
}

impl FromStr for Instrument {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Instrument::parse(s)
    }
}

impl fmt::Display for Instrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Instrument::Spot { asset } => write!(f, "{asset}"),
            Instrument::Perpetual { underlying, suffix } => match suffix {
                PerpetualSuffix::Perp => write!(f, "{underlying}-PERP"),
                PerpetualSuffix::Perpetual => write!(f, "{underlying}-PERPETUAL"),
            },
            Instrument::Future { underlying, expiry } => write!(f, "{underlying}-{expiry}"),
            Instrument::Option {
                underlying,
                expiry,
                strike,
                kind,
            } => {
                let letter = match kind {
                    OptionKind::Call => 'C',
                    OptionKind::Put => 'P',
                };
                write!(f, "{underlying}-{expiry}-{strike}-{letter}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_kind_and_prints_it_back() {
        for id in [
            "BTC",
            "ETH",
            "BTC-PERP",
            "BTC-PERPETUAL",
            "ETH_USDC-PERPETUAL",
            "BTC-26DEC26",
            "BTC-3JAN27",
            "BTC-26DEC26-100000-C",
            "ETH-27MAR26-3500-P",
            "XRP_USDC-30JUN23-0d625-C",
            "SOL_USDC-1FEB27-1d5-P",
        ] {
            let inst = Instrument::parse(id).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(inst.to_string(), id);
        }
    }

    #[test]
    fn typed_fields() {
        let inst = Instrument::parse("BTC-26DEC26-100000-C").unwrap();
        match inst {
            Instrument::Option {
                ref underlying,
                expiry,
                strike,
                kind,
            } => {
                assert_eq!(underlying.as_str(), "BTC");
                assert_eq!(expiry.instant().to_string(), "2026-12-26T08:00:00Z");
                assert_eq!(strike.value(), 100_000.0);
                assert_eq!(kind, OptionKind::Call);
            }
            other => panic!("not an option: {other:?}"),
        }
        let small = Instrument::parse("XRP_USDC-30JUN23-0d625-C").unwrap();
        match small {
            Instrument::Option { strike, .. } => assert_eq!(strike.value(), 0.625),
            _ => unreachable!(),
        }
    }

    #[test]
    fn malformed_ids_name_the_part() {
        for (id, needle) in [
            ("", "underlying"),
            ("btc-PERP", "underlying"),
            ("BTC-", "expiry"),
            ("BTC-PERPS", "neither PERP"),
            ("BTC-26DEC26-", "expected UNDERLYING"),
            ("BTC-26DEC26--C", "strike"),
            ("BTC-26DEC26-100000", "expected UNDERLYING"),
            ("BTC-26DEC26-100000-X", "option kind"),
            ("BTC-26DEC26-100000-c", "option kind"),
            ("BTC-26DEC26-0-C", "greater than zero"),
            ("BTC-26DEC26-0100000-C", "leading zero"),
            ("BTC-26DEC26-1d50-C", "trailing zero"),
            ("BTC-26DEC26-100000.5-C", "'d'"),
            ("BTC-26DEC26--5-C", "expected UNDERLYING"),
            ("BTC-26DEC26-1e5-C", "positive number"),
            ("BTC-32DEC26-100000-C", "calendar date"),
            ("BTC-26DEC26-100000-C-X", "expected UNDERLYING"),
            ("BTC-26DEC26-99999999999999999999-C", "too large"),
        ] {
            let err = Instrument::parse(id).unwrap_err().to_string();
            assert!(err.contains(needle), "{id:?}: {err}");
            assert!(err.starts_with("invalid instrument"), "{id:?}: {err}");
        }
    }

    proptest! {
        #[test]
        fn options_round_trip(
            day in 1u32..=28, month in 1u32..=12, year in 2000i32..=2099,
            units in 1u64..10_000_000_000, decimals in 0u8..=4, call in any::<bool>()
        ) {
            let scale = 10u64.pow(u32::from(decimals));
            // Canonical strikes only: no trailing fractional zero.
            prop_assume!(decimals == 0 || units % 10 != 0);
            prop_assume!(units >= scale || decimals > 0);
            let strike = Strike { units, decimals };
            let inst = Instrument::Option {
                underlying: Asset::new("BTC").unwrap(),
                expiry: ExpiryDate::from_ymd(year, month, day).unwrap(),
                strike,
                kind: if call { OptionKind::Call } else { OptionKind::Put },
            };
            let text = inst.to_string();
            prop_assert_eq!(Instrument::parse(&text).unwrap(), inst);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
            if let Ok(inst) = Instrument::parse(&s) {
                prop_assert_eq!(inst.to_string(), s);
            }
        }
    }
}
