//! The portfolio file of formats.md: one account, or an array of accounts.

use ale_core::{Account, AccountId, Asset, Instrument, Position};
use serde::{Deserialize, Serialize};

use crate::wire::{from_json, FormatError, WireAmount};

/// One account as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortfolioFile {
    pub account: String,
    #[serde(default)]
    pub collateral: Vec<CollateralBalanceFile>,
    #[serde(default)]
    pub positions: Vec<PositionFile>,
}

/// A collateral balance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollateralBalanceFile {
    pub asset: String,
    pub amount: WireAmount,
}

/// A position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionFile {
    pub instrument: String,
    pub size: f64,
    #[serde(default)]
    pub entry_price: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<serde_json::Value>),
    One(serde_json::Value),
}

/// Reads a portfolio file: one account object or an array of them. An error names the account
/// (by index in an array) and the field.
pub fn parse_portfolio(text: &str) -> Result<(Vec<Account>, Vec<String>), FormatError> {
    let (doc, _): (OneOrMany, _) = from_json(text)?;
    let values = match doc {
        OneOrMany::Many(v) => v,
        OneOrMany::One(v) => vec![v],
    };
    let many = values.len() > 1;
    let mut accounts = Vec::with_capacity(values.len());
    let mut ignored = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let prefix = if many {
            format!("[{i}].")
        } else {
            String::new()
        };
        let (file, keys): (PortfolioFile, Vec<String>) =
            from_json(&value.to_string()).map_err(|e| {
                FormatError(if many {
                    format!("account [{i}]: {e}")
                } else {
                    e.0
                })
            })?;
        ignored.extend(keys.into_iter().map(|k| format!("{prefix}{k}")));
        accounts.push(account_from_file(&file).map_err(|e| {
            FormatError(if many {
                format!("account [{i}]: {e}")
            } else {
                e.0
            })
        })?);
    }
    Ok((accounts, ignored))
}

/// Converts one parsed account.
pub fn account_from_file(file: &PortfolioFile) -> Result<Account, FormatError> {
    let id = AccountId::new(&file.account).map_err(FormatError)?;
    let mut account = Account::new(id);
    for (i, c) in file.collateral.iter().enumerate() {
        let path = format!("collateral[{i}]");
        let asset =
            Asset::new(&c.asset).map_err(|e| FormatError::at(&format!("{path}.asset"), e))?;
        if c.amount.0.is_negative() {
            return Err(FormatError::at(
                &format!("{path}.amount"),
                format!("must be >= 0, got {}", c.amount.0),
            ));
        }
        account
            .add_collateral(asset, c.amount.0)
            .map_err(|e| FormatError::at(&path, e))?;
    }
    for (i, p) in file.positions.iter().enumerate() {
        let path = format!("positions[{i}]");
        let instrument = Instrument::parse(&p.instrument)
            .map_err(|e| FormatError::at(&format!("{path}.instrument"), e))?;
        if !p.size.is_finite() {
            return Err(FormatError::at(
                &format!("{path}.size"),
                "must be a finite number",
            ));
        }
        if let Some(e) = p.entry_price {
            if !(e.is_finite() && e > 0.0) {
                return Err(FormatError::at(
                    &format!("{path}.entry_price"),
                    format!("must be finite and > 0, got {e}"),
                ));
            }
        }
        account.add_position(Position {
            instrument,
            size: p.size,
            entry_price: p.entry_price,
        });
    }
    Ok(account)
}

/// The portfolio file of an account (the inverse of [`account_from_file`]).
pub fn file_from_account(account: &Account) -> PortfolioFile {
    PortfolioFile {
        account: account.id.to_string(),
        collateral: account
            .collateral
            .iter()
            .map(|(a, amt)| CollateralBalanceFile {
                asset: a.to_string(),
                amount: WireAmount(*amt),
            })
            .collect(),
        positions: account
            .positions
            .iter()
            .map(|p| PositionFile {
                instrument: p.instrument.to_string(),
                size: p.size,
                entry_price: p.entry_price,
            })
            .collect(),
    }
}
