//! Price quotes to vols, through `ale-pricing`.

use super::RejectReason;
use ale_core::OptionKind;

/// The implied vol of a discounted Black-76 price, or why there is none.
pub(super) fn invert(
    kind: OptionKind,
    forward: f64,
    strike: f64,
    expiry_years: f64,
    price: f64,
    rate: f64,
) -> Result<f64, RejectReason> {
    if !price.is_finite() {
        return Err(RejectReason::NonFinite);
    }
    let discount = (-rate * expiry_years).exp();
    let (lower, upper) = match kind {
        OptionKind::Call => (discount * (forward - strike).max(0.0), discount * forward),
        OptionKind::Put => (discount * (strike - forward).max(0.0), discount * strike),
    };
    if !(price > lower && price < upper) {
        return Err(RejectReason::PriceOutsideBounds { lower, upper });
    }
    ale_pricing::implied_vol(kind, forward, strike, expiry_years, price, rate)
        .map_err(|e| RejectReason::InversionFailed(e.to_string()))
}
