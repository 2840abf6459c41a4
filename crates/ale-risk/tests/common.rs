//! Builders shared by the integration tests: markets with flat or SVI surfaces, accounts.
#![allow(dead_code)]

use std::collections::BTreeMap;

use ale_core::{Account, AccountId, Amount, Asset, ExpiryDate, Instrument, Position, Timestamp};
use ale_market::{CollateralPrice, MarketSnapshot, UnderlyingMarket};
use ale_risk::{Book, MarginPolicy, RiskEngine};
use ale_surface::{ForwardCurve, Surface};

pub const NOW: &str = "2026-11-24T08:00:00Z";

pub fn now() -> Timestamp {
    Timestamp::parse_rfc3339(NOW).unwrap()
}

pub fn asset(s: &str) -> Asset {
    Asset::new(s).unwrap()
}

/// A market with BTC at `spot`, a flat `vol`, zero rate, USDC and BTC collateral; `factor`
/// moves spot (and so forwards) for re-margining at a liquidation price.
pub fn flat_market(spot: f64, vol: f64, realized: Option<f64>) -> MarketSnapshot {
    let mut m = MarketSnapshot::new(now(), 0.0).unwrap();
    let curve = ForwardCurve::from_rate(spot, 0.0).unwrap();
    let surface = Surface::flat(curve, vol).unwrap();
    m.insert_underlying(
        UnderlyingMarket::new(asset("BTC"), spot, realized, None, BTreeMap::new(), surface)
            .unwrap(),
    );
    m.insert_collateral(
        asset("USDC"),
        CollateralPrice::new(&asset("USDC"), 1.0, 0.0, 0.0).unwrap(),
    );
    m.insert_collateral(
        asset("BTC"),
        CollateralPrice::new(&asset("BTC"), spot, 0.05, 0.0).unwrap(),
    );
    m
}

pub fn account(name: &str, usdc: &str, positions: &[(&str, f64)]) -> Account {
    let mut a = Account::new(AccountId::new(name).unwrap());
    if usdc != "0" {
        a.add_collateral(asset("USDC"), Amount::parse_decimal(usdc).unwrap())
            .unwrap();
    }
    for (id, size) in positions {
        a.add_position(Position {
            instrument: Instrument::parse(id).unwrap(),
            size: *size,
            entry_price: None,
        });
    }
    a
}

/// Margins accounts one by one through a fresh engine.
pub fn margin<P: MarginPolicy>(
    policy: P,
    market: &MarketSnapshot,
    accounts: &[Account],
) -> RiskEngine<P> {
    let mut book = Book::new();
    for a in accounts {
        book.upsert_account(a).unwrap();
    }
    let mut e = RiskEngine::new(policy, market.clone(), book);
    e.remargin_all();
    e
}

pub fn expiry(code: &str) -> ExpiryDate {
    ExpiryDate::parse_code(code).unwrap()
}
