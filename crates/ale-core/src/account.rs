//! Accounts as the risk engine sees them: collateral balances and signed positions.

use std::collections::BTreeMap;
use std::fmt;

use crate::amount::Amount;
use crate::asset::Asset;
use crate::instrument::Instrument;

/// An account's id, as the venue names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    /// Any non-empty name without control characters, at most 128 bytes.
    pub fn new(name: &str) -> Result<AccountId, String> {
        if name.is_empty() {
            return Err("invalid 'account': must not be empty".to_string());
        }
        if name.len() > 128 {
            return Err("invalid 'account': longer than 128 bytes".to_string());
        }
        if name.chars().any(char::is_control) {
            return Err("invalid 'account': contains a control character".to_string());
        }
        Ok(AccountId(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A signed holding of one instrument, in units of the underlying (negative = short).
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// What is held.
    pub instrument: Instrument,
    /// Signed size in units of the underlying.
    pub size: f64,
    /// Price the position was opened at (futures and perpetuals: their unrealised P&L is
    /// `size · (mark − entry)`; without it the position is taken as opened at the mark).
    pub entry_price: Option<f64>,
}

/// An account: collateral balances by asset and positions by instrument. An instrument appears
/// once (sizes of repeated entries are added, entry prices size-weighted), collateral likewise.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Who.
    pub id: AccountId,
    /// Collateral balances (exact), by asset.
    pub collateral: BTreeMap<Asset, Amount>,
    /// Positions in instrument order.
    pub positions: Vec<Position>,
}

impl Account {
    /// An empty account.
    pub fn new(id: AccountId) -> Account {
        Account {
            id,
            collateral: BTreeMap::new(),
            positions: Vec::new(),
        }
    }

    /// Adds collateral to the balance of `asset`.
    pub fn add_collateral(&mut self, asset: Asset, amount: Amount) -> Result<(), String> {
        let slot = self.collateral.entry(asset.clone()).or_insert(Amount::ZERO);
        *slot = slot
            .checked_add(amount)
            .map_err(|_| format!("collateral of {asset} overflows"))?;
        Ok(())
    }

    /// Adds a position, merging it with an existing one in the same instrument: sizes add, the
    /// entry price becomes the size-weighted average of the entries (where both sides have one
    /// and the sizes have the same sign; otherwise the newer entry is kept).
    pub fn add_position(&mut self, position: Position) {
        match self
            .positions
            .iter_mut()
            .find(|p| p.instrument == position.instrument)
        {
            Some(existing) => {
                let total = existing.size + position.size;
                existing.entry_price = match (existing.entry_price, position.entry_price) {
                    (Some(a), Some(b)) if existing.size * position.size > 0.0 => {
                        Some((a * existing.size + b * position.size) / total)
                    }
                    (a, b) => b.or(a),
                };
                existing.size = total;
            }
            None => self.positions.push(position),
        }
    }

    /// The underlyings the account's positions are on, in order.
    pub fn underlyings(&self) -> Vec<Asset> {
        let mut out: Vec<Asset> = self
            .positions
            .iter()
            .map(|p| p.instrument.underlying().clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_instruments_merge() {
        let mut acct = Account::new(AccountId::new("alice").unwrap());
        let perp = Instrument::parse("BTC-PERP").unwrap();
        acct.add_position(Position {
            instrument: perp.clone(),
            size: 1.0,
            entry_price: Some(100.0),
        });
        acct.add_position(Position {
            instrument: perp.clone(),
            size: 3.0,
            entry_price: Some(200.0),
        });
        assert_eq!(acct.positions.len(), 1);
        assert_eq!(acct.positions[0].size, 4.0);
        assert_eq!(acct.positions[0].entry_price, Some(175.0));
    }

    #[test]
    fn account_ids_are_checked() {
        assert!(AccountId::new("").is_err());
        assert!(AccountId::new("a\nb").is_err());
        assert_eq!(AccountId::new("alice").unwrap().as_str(), "alice");
    }
}
