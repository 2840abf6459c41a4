//! The book: every listed instrument, interned and grouped by underlying (each instrument is one
//! row of its underlying's scenario table), and every account's positions as rows with sizes.

use std::collections::HashMap;

use ale_core::{Account, AccountId, Amount, Asset, ExpiryDate, Instrument, OptionKind};

use crate::error::RiskError;

/// Index of an underlying in a [`Book`].
pub type UnderlyingIx = usize;

/// What kind of row an instrument is, with the fields pricing needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowKind {
    /// The asset itself: worth S per unit.
    Spot,
    /// A perpetual: worth its unrealised P&L, marked at the perp price.
    Perpetual,
    /// A dated future: worth its unrealised P&L, marked at its expiry's forward.
    Future { expiry: ExpiryDate },
    /// A European option, marked on the surface.
    Option {
        expiry: ExpiryDate,
        strike: f64,
        kind: OptionKind,
    },
}

/// One listed instrument.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// The instrument.
    pub instrument: Instrument,
    /// Its underlying.
    pub underlying: UnderlyingIx,
    /// Its row within the underlying's table.
    pub row: u32,
    /// Pricing fields.
    pub kind: RowKind,
}

/// One position of an account, resolved to its table row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BookPosition {
    /// Row in the underlying's table.
    pub row: u32,
    /// Signed size in units of the underlying.
    pub size: f64,
    /// Entry price (futures and perpetuals), if known.
    pub entry_price: Option<f64>,
}

/// The positions of one account on one underlying: a contiguous run of its position list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Which underlying.
    pub underlying: UnderlyingIx,
    /// First position index.
    pub start: u32,
    /// One past the last.
    pub end: u32,
}

/// An account as the engine stores it: positions sorted by (underlying, row), with the span of
/// each underlying, and its collateral.
#[derive(Debug, Clone, PartialEq)]
pub struct BookAccount {
    /// Who.
    pub id: AccountId,
    /// Positions sorted by (underlying, row).
    pub positions: Vec<BookPosition>,
    /// One span per underlying the account holds positions on.
    pub spans: Vec<Span>,
    /// Collateral balances (exact amounts; priced at margin time).
    pub collateral: Vec<(Asset, Amount)>,
}

/// All listed instruments and accounts.
#[derive(Debug, Clone, Default)]
pub struct Book {
    underlyings: Vec<Asset>,
    underlying_ix: HashMap<Asset, UnderlyingIx>,
    listed: Vec<Listed>,
    listed_ix: HashMap<Instrument, usize>,
    /// Per underlying: the listed index of each row.
    rows: Vec<Vec<usize>>,
    accounts: Vec<BookAccount>,
    account_ix: HashMap<AccountId, usize>,
}

impl Book {
    /// An empty book.
    pub fn new() -> Book {
        Book::default()
    }

    /// The index of `asset` as an underlying, adding it if new.
    pub fn intern_underlying(&mut self, asset: &Asset) -> UnderlyingIx {
        if let Some(ix) = self.underlying_ix.get(asset) {
            return *ix;
        }
        let ix = self.underlyings.len();
        self.underlyings.push(asset.clone());
        self.underlying_ix.insert(asset.clone(), ix);
        self.rows.push(Vec::new());
        ix
    }

    /// Lists an instrument (idempotent) and returns its index.
    pub fn list(&mut self, instrument: &Instrument) -> usize {
        if let Some(ix) = self.listed_ix.get(instrument) {
            return *ix;
        }
        let underlying = self.intern_underlying(instrument.underlying());
        let kind = match instrument {
            Instrument::Spot { .. } => RowKind::Spot,
            Instrument::Perpetual { .. } => RowKind::Perpetual,
            Instrument::Future { expiry, .. } => RowKind::Future { expiry: *expiry },
            Instrument::Option {
                expiry,
                strike,
                kind,
                ..
            } => RowKind::Option {
                expiry: *expiry,
                strike: strike.value(),
                kind: *kind,
            },
        };
        let ix = self.listed.len();
        let row = self.rows[underlying].len() as u32;
        self.rows[underlying].push(ix);
        self.listed.push(Listed {
            instrument: instrument.clone(),
            underlying,
            row,
            kind,
        });
        self.listed_ix.insert(instrument.clone(), ix);
        ix
    }

    /// Adds or replaces an account, listing any instrument it holds that is not listed yet.
    /// Positions of size 0 are dropped. Returns the account's index.
    pub fn upsert_account(&mut self, account: &Account) -> Result<usize, RiskError> {
        let mut positions: Vec<(UnderlyingIx, BookPosition)> =
            Vec::with_capacity(account.positions.len());
        for p in &account.positions {
            if !p.size.is_finite() {
                return Err(RiskError::Invalid {
                    field: format!("{}.positions[{}].size", account.id, p.instrument),
                    reason: format!("must be a finite number, got {}", p.size),
                });
            }
            if let Some(e) = p.entry_price {
                if !(e.is_finite() && e > 0.0) {
                    return Err(RiskError::Invalid {
                        field: format!("{}.positions[{}].entry_price", account.id, p.instrument),
                        reason: format!("must be finite and > 0, got {e}"),
                    });
                }
            }
            if p.size == 0.0 {
                continue;
            }
            let ix = self.list(&p.instrument);
            let listed = &self.listed[ix];
            positions.push((
                listed.underlying,
                BookPosition {
                    row: listed.row,
                    size: p.size,
                    entry_price: p.entry_price,
                },
            ));
        }
        positions.sort_by_key(|(u, p)| (*u, p.row));
        let mut spans: Vec<Span> = Vec::new();
        for (i, (u, _)) in positions.iter().enumerate() {
            match spans.last_mut() {
                Some(span) if span.underlying == *u => span.end = i as u32 + 1,
                _ => spans.push(Span {
                    underlying: *u,
                    start: i as u32,
                    end: i as u32 + 1,
                }),
            }
        }
        let stored = BookAccount {
            id: account.id.clone(),
            positions: positions.into_iter().map(|(_, p)| p).collect(),
            spans,
            collateral: account
                .collateral
                .iter()
                .map(|(a, amt)| (a.clone(), *amt))
                .collect(),
        };
        Ok(match self.account_ix.get(&account.id) {
            Some(ix) => {
                self.accounts[*ix] = stored;
                *ix
            }
            None => {
                let ix = self.accounts.len();
                self.account_ix.insert(account.id.clone(), ix);
                self.accounts.push(stored);
                ix
            }
        })
    }

    /// The underlyings, by index.
    pub fn underlyings(&self) -> &[Asset] {
        &self.underlyings
    }
    /// The index of an underlying, if any instrument or account uses it.
    pub fn underlying_index(&self, asset: &Asset) -> Option<UnderlyingIx> {
        self.underlying_ix.get(asset).copied()
    }
    /// The listed instruments of underlying `u`, in row order.
    pub fn rows(&self, u: UnderlyingIx) -> impl ExactSizeIterator<Item = &Listed> + '_ {
        self.rows[u].iter().map(move |ix| &self.listed[*ix])
    }
    /// The listed instrument at row `row` of underlying `u`.
    pub fn row(&self, u: UnderlyingIx, row: u32) -> &Listed {
        &self.listed[self.rows[u][row as usize]]
    }
    /// Number of rows of underlying `u`.
    pub fn row_count(&self, u: UnderlyingIx) -> usize {
        self.rows[u].len()
    }
    /// Every listed instrument.
    pub fn listed(&self) -> &[Listed] {
        &self.listed
    }
    /// Every account.
    pub fn accounts(&self) -> &[BookAccount] {
        &self.accounts
    }
    /// One account by index.
    pub fn account(&self, ix: usize) -> &BookAccount {
        &self.accounts[ix]
    }
    /// The index of an account.
    pub fn account_index(&self, id: &AccountId) -> Option<usize> {
        self.account_ix.get(id).copied()
    }
    /// The domain account behind a stored one (instruments by id, sizes, entry prices,
    /// collateral).
    pub fn to_account(&self, account: &BookAccount) -> Account {
        let mut out = Account::new(account.id.clone());
        for span in &account.spans {
            for p in &account.positions[span.start as usize..span.end as usize] {
                out.positions.push(ale_core::Position {
                    instrument: self.row(span.underlying, p.row).instrument.clone(),
                    size: p.size,
                    entry_price: p.entry_price,
                });
            }
        }
        for (asset, amount) in &account.collateral {
            out.collateral.insert(asset.clone(), *amount);
        }
        out
    }

    /// Number of positions over all accounts.
    pub fn position_count(&self) -> usize {
        self.accounts.iter().map(|a| a.positions.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ale_core::Position;

    fn account(name: &str, positions: &[(&str, f64)]) -> Account {
        let mut a = Account::new(AccountId::new(name).unwrap());
        for (id, size) in positions {
            a.add_position(Position {
                instrument: Instrument::parse(id).unwrap(),
                size: *size,
                entry_price: None,
            });
        }
        a
    }

    #[test]
    fn positions_are_grouped_by_underlying() {
        let mut book = Book::new();
        let ix = book
            .upsert_account(&account(
                "a",
                &[
                    ("ETH-PERP", 1.0),
                    ("BTC-26DEC26-100000-C", -2.0),
                    ("BTC-PERP", 0.5),
                    ("ETH-26DEC26", 0.0),
                ],
            ))
            .unwrap();
        let acct = book.account(ix);
        assert_eq!(acct.positions.len(), 3);
        assert_eq!(acct.spans.len(), 2);
        let eth = book.underlying_index(&Asset::new("ETH").unwrap()).unwrap();
        assert_eq!(acct.spans[0].underlying, eth.min(1 - eth));
        // Re-upserting replaces, it does not duplicate.
        book.upsert_account(&account("a", &[("BTC-PERP", 1.0)]))
            .unwrap();
        assert_eq!(book.accounts().len(), 1);
        assert_eq!(book.account(0).positions.len(), 1);
    }

    #[test]
    fn listing_is_idempotent() {
        let mut book = Book::new();
        let i = Instrument::parse("BTC-26DEC26-100000-C").unwrap();
        assert_eq!(book.list(&i), book.list(&i));
        assert_eq!(book.listed().len(), 1);
    }

    #[test]
    fn non_finite_sizes_are_refused() {
        let mut book = Book::new();
        let err = book
            .upsert_account(&account("a", &[("BTC-PERP", f64::NAN)]))
            .unwrap_err();
        assert!(err.to_string().contains("size"), "{err}");
    }
}
