//! Settling what has expired, so that an account is margined on what is left.

use ale_core::{Account, Amount, Asset, ExpiryDate, Instrument, OptionKind, Rounding, Timestamp};

use crate::error::RiskError;

/// One settled position.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    /// What expired.
    pub instrument: Instrument,
    /// Its size.
    pub size: f64,
    /// The settlement price of its underlying.
    pub settlement_price: f64,
    /// What it paid (negative: what it cost), credited to the cash asset.
    pub value: Amount,
}

/// Removes every option and future that expired at or before `now`, crediting its settlement
/// value to `cash` (options pay their intrinsic value at the settlement price; futures
/// size·(settlement − entry), and need an entry price). Credits round down and debits round
/// toward −∞ (both favour the venue).
pub fn settle_expired(
    account: &Account,
    now: Timestamp,
    settlement_price: impl Fn(&Asset, ExpiryDate) -> Option<f64>,
    cash: &Asset,
) -> Result<(Account, Vec<Settlement>), RiskError> {
    let mut left = Account::new(account.id.clone());
    left.collateral = account.collateral.clone();
    let mut settled = Vec::new();
    for p in &account.positions {
        let Some(expiry) = p.instrument.expiry().filter(|e| e.has_expired(now)) else {
            left.positions.push(p.clone());
            continue;
        };
        let underlying = p.instrument.underlying();
        let price = settlement_price(underlying, expiry)
            .filter(|x| x.is_finite() && *x > 0.0)
            .ok_or_else(|| RiskError::Invalid {
                field: format!("settlement price of {underlying} at {}", expiry.instant()),
                reason: "needed to settle an expired instrument, and missing or not > 0".into(),
            })?;
        let value = match &p.instrument {
            Instrument::Option { strike, kind, .. } => {
                let k = strike.value();
                p.size
                    * match kind {
                        OptionKind::Call => (price - k).max(0.0),
                        OptionKind::Put => (k - price).max(0.0),
                    }
            }
            Instrument::Future { .. } => {
                let entry = p.entry_price.ok_or_else(|| RiskError::Invalid {
                    field: format!("{}.positions[{}].entry_price", account.id, p.instrument),
                    reason: "a future needs its entry price to be settled".into(),
                })?;
                p.size * (price - entry)
            }
            // Only dated instruments expire; anything else stays.
            _ => {
                left.positions.push(p.clone());
                continue;
            }
        };
        let value = Amount::from_f64(value, Rounding::Down).map_err(|e| RiskError::Invalid {
            field: format!("settlement of {}", p.instrument),
            reason: e.to_string(),
        })?;
        left.add_collateral(cash.clone(), value)
            .map_err(|reason| RiskError::Invalid {
                field: format!("{}.collateral", account.id),
                reason,
            })?;
        settled.push(Settlement {
            instrument: p.instrument.clone(),
            size: p.size,
            settlement_price: price,
            value,
        });
    }
    Ok((left, settled))
}
