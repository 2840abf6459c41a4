//! [`Amount`]: fixed-point money for everything that moves on a ledger.
//!
//! # Representation, and why
//!
//! An `Amount` is an `i128` count of nano-units (10⁻⁹ of one unit of its asset, e.g. of one USD
//! or one BTC). The reasons:
//!
//! - **Exact.** Sums, differences and transfers are integer operations: a ledger built on them
//!   conserves value to the last unit, which no `f64` ledger can promise.
//! - **Fine enough.** 9 decimals hold a satoshi (10⁻⁸ BTC), a gwei (10⁻⁹ ETH) and any fee a venue
//!   charges in USD. Wei (10⁻¹⁸) is not representable; on-chain amounts are rounded to gwei at the
//!   boundary, by the rule below.
//! - **Large enough.** The range is ±1.7·10²⁹ units. A product of two amounts (a price times a
//!   quantity, a rate times a notional) is formed in `i128` before rescaling, so it is exact
//!   as long as the product of the two values stays below 1.7·10²⁰: far beyond any position.
//! - **No surprises.** Every operation is checked and returns an error on overflow; every
//!   operation that must round takes a [`Rounding`] and the caller says whom it favours — always
//!   the venue's solvency: requirements and amounts owed by a trader round up, payouts down.
//!
//! `rust_decimal` would also be exact, but it carries a scale per value (slower, and a mix of
//! scales is one more thing to get wrong); one fixed scale per ledger is what TigerBeetle and
//! nautilus do.

use std::fmt;
use std::str::FromStr;

use crate::error::{AmountError, ParseError};

/// Decimal places of an [`Amount`].
pub const AMOUNT_DECIMALS: u32 = 9;
/// Raw units per whole unit: 10⁹.
pub const AMOUNT_SCALE: i128 = 1_000_000_000;

/// Direction of rounding when a result falls between two representable amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Toward −∞. Use for what the venue pays out or credits (favours the venue).
    Down,
    /// Toward +∞. Use for what the venue requires or charges (favours the venue).
    Up,
}

/// Fixed-point money: an `i128` number of 10⁻⁹ units. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Amount(i128);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);
    /// The smallest positive amount, 10⁻⁹.
    pub const EPSILON: Amount = Amount(1);
    /// The largest amount.
    pub const MAX: Amount = Amount(i128::MAX);

    /// From raw nano-units.
    pub const fn from_raw(raw: i128) -> Amount {
        Amount(raw)
    }

    /// Raw nano-units.
    pub const fn raw(self) -> i128 {
        self.0
    }

    /// From a whole number of units.
    pub fn from_units(units: i64) -> Amount {
        Amount(i128::from(units) * AMOUNT_SCALE)
    }

    /// The nearest `f64` (for risk arithmetic and display; not for the ledger).
    pub fn to_f64(self) -> f64 {
        let whole = self.0.div_euclid(AMOUNT_SCALE);
        let frac = self.0.rem_euclid(AMOUNT_SCALE);
        whole as f64 + frac as f64 / AMOUNT_SCALE as f64
    }

    /// From an `f64` risk number, rounded in the stated direction. This is the one boundary
    /// between risk (`f64`) and money (`Amount`).
    pub fn from_f64(value: f64, rounding: Rounding) -> Result<Amount, AmountError> {
        if !value.is_finite() {
            return Err(AmountError::NonFinite);
        }
        let scaled = value * AMOUNT_SCALE as f64;
        let rounded = match rounding {
            Rounding::Down => scaled.floor(),
            Rounding::Up => scaled.ceil(),
        };
        // 2^127 ≈ 1.7e38 (NaN was refused above): the cast below must not saturate silently.
        if rounded.abs() >= 1.7e38 {
            return Err(AmountError::Overflow);
        }
        Ok(Amount(rounded as i128))
    }

    /// `self + other`, or an error on overflow.
    pub fn checked_add(self, other: Amount) -> Result<Amount, AmountError> {
        self.0
            .checked_add(other.0)
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }

    /// `self − other`, or an error on overflow.
    pub fn checked_sub(self, other: Amount) -> Result<Amount, AmountError> {
        self.0
            .checked_sub(other.0)
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }

    /// `−self`, or an error on overflow.
    pub fn checked_neg(self) -> Result<Amount, AmountError> {
        self.0
            .checked_neg()
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }

    /// `self · other` (e.g. a quantity times a price, a notional times a fee rate), rescaled
    /// with the stated rounding.
    pub fn checked_mul(self, other: Amount, rounding: Rounding) -> Result<Amount, AmountError> {
        let product = self.0.checked_mul(other.0).ok_or(AmountError::Overflow)?;
        Ok(Amount(div_rounded(product, AMOUNT_SCALE, rounding)?))
    }

    /// `self · numerator / denominator` with the stated rounding (pro-rata shares).
    pub fn checked_mul_div(
        self,
        numerator: Amount,
        denominator: Amount,
        rounding: Rounding,
    ) -> Result<Amount, AmountError> {
        let product = self
            .0
            .checked_mul(numerator.0)
            .ok_or(AmountError::Overflow)?;
        Ok(Amount(div_rounded(product, denominator.0, rounding)?))
    }

    /// The absolute value, or an error for the one value that has none.
    pub fn checked_abs(self) -> Result<Amount, AmountError> {
        self.0
            .checked_abs()
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }

    /// True when strictly below zero.
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// True when zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Parses a decimal string exactly (`"100000.5"`, `"-0.25"`, `"3"`). More than 9 decimal
    /// places would lose precision and is an error, as are exponents, blanks and signs in the
    /// wrong place.
    pub fn parse_decimal(text: &str) -> Result<Amount, ParseError> {
        let bad = |reason: &str| ParseError::Amount {
            input: text.to_string(),
            reason: reason.to_string(),
        };
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad("expected a decimal number such as 100000.5"));
        }
        if !digits(int_part) || !digits(frac_part) || (body.contains('.') && frac_part.is_empty()) {
            return Err(bad("expected a decimal number such as 100000.5"));
        }
        if frac_part.len() > AMOUNT_DECIMALS as usize {
            return Err(bad("more than 9 decimal places would lose precision"));
        }
        let overflow = || bad("too large");
        let mut raw: i128 = 0;
        for b in int_part.bytes() {
            raw = raw
                .checked_mul(10)
                .and_then(|r| r.checked_add(i128::from(b - b'0')))
                .ok_or_else(overflow)?;
        }
        raw = raw.checked_mul(AMOUNT_SCALE).ok_or_else(overflow)?;
        let mut frac: i128 = 0;
        for b in frac_part.bytes() {
            frac = frac * 10 + i128::from(b - b'0');
        }
        frac *= 10i128.pow(AMOUNT_DECIMALS - frac_part.len() as u32);
        raw = raw.checked_add(frac).ok_or_else(overflow)?;
        Ok(Amount(if negative { -raw } else { raw }))
    }
}

/// `numerator / denominator` rounded toward −∞ or +∞.
fn div_rounded(
    numerator: i128,
    denominator: i128,
    rounding: Rounding,
) -> Result<i128, AmountError> {
    if denominator == 0 {
        return Err(AmountError::DivisionByZero);
    }
    let quotient = numerator
        .checked_div_euclid(denominator)
        .ok_or(AmountError::Overflow)?;
    let remainder = numerator.rem_euclid(denominator);
    // div_euclid rounds so that the remainder is ≥ 0: toward −∞ for a positive denominator,
    // toward +∞ for a negative one.
    let floor = if denominator > 0 || remainder == 0 {
        quotient
    } else {
        quotient - 1
    };
    match rounding {
        Rounding::Down => Ok(floor),
        Rounding::Up if remainder == 0 => Ok(floor),
        Rounding::Up => floor.checked_add(1).ok_or(AmountError::Overflow),
    }
}

impl FromStr for Amount {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::parse_decimal(s)
    }
}

impl fmt::Display for Amount {
    /// Exact decimal, trailing zeros trimmed: `100000.5`, `-0.000000001`, `3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        let scale = AMOUNT_SCALE as u128;
        let whole = magnitude / scale;
        let frac = magnitude % scale;
        if frac == 0 {
            return write!(f, "{sign}{whole}");
        }
        let frac_text = format!("{frac:09}");
        write!(f, "{sign}{whole}.{}", frac_text.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn amt(s: &str) -> Amount {
        Amount::parse_decimal(s).unwrap()
    }

    #[test]
    fn parses_and_prints_exactly() {
        for (text, raw) in [
            ("100000.5", 100_000_500_000_000i128),
            ("-0.25", -250_000_000),
            ("3", 3_000_000_000),
            ("0.000000001", 1),
            ("-0.000000001", -1),
            ("0", 0),
        ] {
            assert_eq!(amt(text).raw(), raw, "{text}");
            assert_eq!(amt(text).to_string(), text);
        }
        assert_eq!(amt("+7.10").to_string(), "7.1");
        assert_eq!(amt(".5").to_string(), "0.5");
    }

    #[test]
    fn rejects_what_would_lose_precision_or_is_not_a_number() {
        for text in [
            "",
            "-",
            "1.",
            "1e5",
            "1.2.3",
            " 1",
            "0.0000000001",
            "abc",
            "--1",
            "NaN",
        ] {
            assert!(Amount::parse_decimal(text).is_err(), "{text:?}");
        }
        let err = Amount::parse_decimal("0.0000000001")
            .unwrap_err()
            .to_string();
        assert!(err.contains("precision"), "{err}");
        assert!(Amount::parse_decimal(&"9".repeat(40)).is_err());
    }

    #[test]
    fn rounding_direction_is_explicit() {
        let third = amt("1")
            .checked_mul_div(amt("1"), amt("3"), Rounding::Down)
            .unwrap();
        assert_eq!(third.to_string(), "0.333333333");
        let third_up = amt("1")
            .checked_mul_div(amt("1"), amt("3"), Rounding::Up)
            .unwrap();
        assert_eq!(third_up.to_string(), "0.333333334");
        let neg_down = amt("-1")
            .checked_mul_div(amt("1"), amt("3"), Rounding::Down)
            .unwrap();
        assert_eq!(neg_down.to_string(), "-0.333333334");
        let neg_up = amt("-1")
            .checked_mul_div(amt("1"), amt("3"), Rounding::Up)
            .unwrap();
        assert_eq!(neg_up.to_string(), "-0.333333333");
        // A negative denominator rounds the same way.
        let d = amt("1")
            .checked_mul_div(amt("1"), amt("-3"), Rounding::Down)
            .unwrap();
        assert_eq!(d.to_string(), "-0.333333334");
        let fee = amt("12345.678")
            .checked_mul(amt("0.005"), Rounding::Up)
            .unwrap();
        assert_eq!(fee.to_string(), "61.72839");
        assert_eq!(
            Amount::from_f64(0.1, Rounding::Down).unwrap().raw(),
            100_000_000
        );
        assert_eq!(
            Amount::from_f64(1.0000000001, Rounding::Up).unwrap().raw(),
            1_000_000_001
        );
    }

    #[test]
    fn errors_instead_of_overflow_or_nan() {
        assert_eq!(
            Amount::MAX.checked_add(Amount::EPSILON),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            Amount::from_f64(f64::NAN, Rounding::Up),
            Err(AmountError::NonFinite)
        );
        assert_eq!(
            Amount::from_f64(1e40, Rounding::Up),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            amt("1").checked_mul_div(amt("1"), Amount::ZERO, Rounding::Up),
            Err(AmountError::DivisionByZero)
        );
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(raw in any::<i64>(), shift in 0u32..40) {
            let a = Amount::from_raw(i128::from(raw) << shift.min(60));
            prop_assert_eq!(Amount::parse_decimal(&a.to_string()).unwrap(), a);
        }

        #[test]
        fn up_and_down_bracket_the_exact_quotient(a in -1_000_000_000_000i64..1_000_000_000_000, n in 1i64..1_000_000, d in 1i64..1_000_000) {
            let a = Amount::from_raw(a.into());
            let (n, d) = (Amount::from_raw(n.into()), Amount::from_raw(d.into()));
            let down = a.checked_mul_div(n, d, Rounding::Down).unwrap();
            let up = a.checked_mul_div(n, d, Rounding::Up).unwrap();
            let exact = a.raw() * n.raw();
            prop_assert!(down.raw() * d.raw() <= exact);
            prop_assert!(up.raw() * d.raw() >= exact);
            prop_assert!(up.raw() - down.raw() <= 1);
        }
    }
}
