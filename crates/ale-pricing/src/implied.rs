//! Implied vol: the inverse of [`Black76::price`](crate::Black76::price) in the vol.
//!
//! The inversion itself is Jäckel's "Let's Be Rational" as ported by the `implied-vol` crate
//! (v2, its default precision-qualified solver), which works on undiscounted prices: the price
//! is undiscounted by `e^(R·T)` first. This wrapper owns the domain: every impossible price is a
//! typed error, and so is every price that carries no information on the vol, rather than a
//! silent 0, infinity or NaN.
//!
//! Where the price does not determine the vol:
//! - `t = 0`: the price is the intrinsic value whatever the vol →
//!   [`Indeterminacy::ZeroExpiry`] (after the bounds below are checked);
//! - a time value (undiscounted price − intrinsic) of at most `4·ε·price` (`ε` = 2⁻⁵²), which
//!   includes a price exactly at intrinsic and a zero out-of-the-money price: every vol from 0 to
//!   some small value rounds to that price → [`Indeterminacy::NoTimeValue`];
//! - within `4·ε` relative of the upper bound, or implying a vol above
//!   [`VOL_MAX`](crate::VOL_MAX) → [`Indeterminacy::AtUpperBound`].
//!
//! Elsewhere the vol is as precise as the price allows: a relative error `ε_P` in the price
//! moves the vol by `ε_P·price/(σ·vega)` relative, which is what limits the round trip deep in
//! the money at short expiries.

use crate::error::{check_range, ImpliedVolError, Indeterminacy};
use crate::{EXPIRY_YEARS_MAX, PRICE_MAX, PRICE_MIN, RATE_ABS_MAX, VOL_MAX};
use ale_core::OptionKind;
use implied_vol::{DefaultSpecialFn, ImpliedBlackVolatility};

/// Relative width, in units of `f64::EPSILON`, of the rounding band around the intrinsic value
/// and the upper bound inside which a price does not determine the vol.
const ROUNDING_BAND_EPS: f64 = 4.0;

/// The Black-76 implied vol of a discounted option price.
///
/// Inputs as in [`Black76::new`](crate::Black76::new) (`forward`, `strike`, `t` = `expiry_years`,
/// `rate`), and `price` finite and `≥ 0`. Errors: invalid fields; a price below the discounted
/// intrinsic value or at / above the upper bound (`e^(−R·T)·F` for a call, `e^(−R·T)·K` for a
/// put); a price that does not determine the vol (see the module documentation).
pub fn implied_vol(
    kind: OptionKind,
    forward: f64,
    strike: f64,
    expiry_years: f64,
    price: f64,
    rate: f64,
) -> Result<f64, ImpliedVolError> {
    const REQ_PRICE_INPUT: &str = "finite and in [1e-100, 1e100]";
    check_range("forward", forward, PRICE_MIN, PRICE_MAX, REQ_PRICE_INPUT)?;
    check_range("strike", strike, PRICE_MIN, PRICE_MAX, REQ_PRICE_INPUT)?;
    check_range(
        "t",
        expiry_years,
        0.0,
        EXPIRY_YEARS_MAX,
        "finite and in [0, 100] (years)",
    )?;
    check_range("price", price, 0.0, f64::MAX, "finite and >= 0")?;
    check_range(
        "rate",
        rate,
        -RATE_ABS_MAX,
        RATE_ABS_MAX,
        "finite and in [-1, 1]",
    )?;

    let discount = crate::special::exp_kernel(-rate * expiry_years);
    let intrinsic = (kind.sign() * (forward - strike)).max(0.0);
    let upper = if kind.is_call() { forward } else { strike };
    if price < discount * intrinsic {
        return Err(ImpliedVolError::BelowIntrinsic {
            price,
            intrinsic: discount * intrinsic,
        });
    }
    if price >= discount * upper {
        return Err(ImpliedVolError::AboveUpperBound {
            price,
            bound: discount * upper,
        });
    }
    let indeterminate = |reason| Err(ImpliedVolError::Indeterminate { price, reason });
    if expiry_years == 0.0 {
        return indeterminate(Indeterminacy::ZeroExpiry);
    }
    let undiscounted = price / discount;
    let band = ROUNDING_BAND_EPS * f64::EPSILON;
    // written so that NaN fails: a NaN comparison is false
    let has_time_value = undiscounted - intrinsic > band * undiscounted;
    if !has_time_value {
        return indeterminate(Indeterminacy::NoTimeValue);
    }
    let below_bound = upper - undiscounted > band * upper;
    if !below_bound {
        return indeterminate(Indeterminacy::AtUpperBound);
    }
    let vol = ImpliedBlackVolatility::builder()
        .option_price(undiscounted)
        .forward(forward)
        .strike(strike)
        .expiry(expiry_years)
        .is_call(kind.is_call())
        .build_unchecked()
        .calculate::<DefaultSpecialFn>();
    match vol {
        Some(v) if v > 0.0 && v <= VOL_MAX => Ok(v),
        // A zero vol for a price with time value: the normalised time value is subnormal.
        Some(0.0) => indeterminate(Indeterminacy::NoTimeValue),
        // Infinite, beyond the domain, or no solution (the interior cap check of the solver):
        // all only happen within rounding of the upper bound.
        _ => indeterminate(Indeterminacy::AtUpperBound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Black76;
    use OptionKind::{Call, Put};

    #[test]
    fn recovers_a_simple_vol() {
        let p = Black76::new(Call, 100.0, 110.0, 0.5, 0.6, 0.03)
            .unwrap()
            .price();
        let v = implied_vol(Call, 100.0, 110.0, 0.5, p, 0.03).unwrap();
        assert!((v - 0.6).abs() < 1e-13, "{v}");
    }

    #[test]
    fn impossible_prices_are_typed_errors() {
        let d = (-0.05f64 * 1.0).exp();
        // below discounted intrinsic
        let e = implied_vol(Put, 100.0, 120.0, 1.0, 19.0 * d, 0.05).unwrap_err();
        assert!(matches!(e, ImpliedVolError::BelowIntrinsic { .. }), "{e}");
        // at and above the bound
        let e = implied_vol(Call, 100.0, 120.0, 1.0, 100.0 * d, 0.05).unwrap_err();
        assert!(matches!(e, ImpliedVolError::AboveUpperBound { .. }), "{e}");
        let e = implied_vol(Put, 100.0, 120.0, 1.0, 121.0, 0.05).unwrap_err();
        assert!(matches!(e, ImpliedVolError::AboveUpperBound { .. }), "{e}");
        // non-finite and negative inputs
        for (f, k, t, p, r, field) in [
            (f64::NAN, 100.0, 1.0, 1.0, 0.0, "forward"),
            (100.0, -1.0, 1.0, 1.0, 0.0, "strike"),
            (100.0, 100.0, f64::INFINITY, 1.0, 0.0, "t"),
            (100.0, 100.0, 1.0, f64::NAN, 0.0, "price"),
            (100.0, 100.0, 1.0, -1.0, 0.0, "price"),
            (100.0, 100.0, 1.0, 1.0, f64::NAN, "rate"),
        ] {
            let msg = implied_vol(Call, f, k, t, p, r).unwrap_err().to_string();
            assert!(msg.starts_with(&format!("invalid '{field}'")), "{msg}");
        }
    }

    #[test]
    fn uninformative_prices_are_indeterminate_not_zero() {
        let check = |r: Result<f64, ImpliedVolError>, want: Indeterminacy| match r {
            Err(ImpliedVolError::Indeterminate { reason, .. }) => assert_eq!(reason, want),
            other => panic!("expected {want:?}, got {other:?}"),
        };
        // t = 0
        check(
            implied_vol(Call, 100.0, 90.0, 0.0, 10.0, 0.0),
            Indeterminacy::ZeroExpiry,
        );
        // zero OTM price, price exactly at intrinsic
        check(
            implied_vol(Call, 100.0, 120.0, 1.0, 0.0, 0.0),
            Indeterminacy::NoTimeValue,
        );
        check(
            implied_vol(Call, 120.0, 100.0, 1.0, 20.0, 0.0),
            Indeterminacy::NoTimeValue,
        );
        // deep ITM, short expiry, low vol: the price rounds to intrinsic
        let p = Black76::new(Call, 200.0, 100.0, 1.0 / 365.0, 0.1, 0.0)
            .unwrap()
            .price();
        check(
            implied_vol(Call, 200.0, 100.0, 1.0 / 365.0, p, 0.0),
            Indeterminacy::NoTimeValue,
        );
        // within rounding of the bound
        let p = 100.0 * (1.0 - f64::EPSILON);
        check(
            implied_vol(Call, 100.0, 100.0, 1.0, p, 0.0),
            Indeterminacy::AtUpperBound,
        );
    }
}
