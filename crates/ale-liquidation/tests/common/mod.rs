//! Shared fixtures: a small market (BTC at 100, flat vol), accounts, engines.
#![allow(dead_code)]

use ale_core::{Account, AccountId, Amount, Asset, Instrument, Position, Timestamp};
use ale_liquidation::{Bidder, CertificateGate, Engine, Holder, LiquidationParams, Unit};
use ale_risk::policy_by_name;

pub const T0: &str = "2026-11-24T08:00:00Z";

pub fn market() -> ale_market::MarketSnapshot {
    let text = r#"{
      "time": "2026-11-24T08:00:00Z", "rate": 0.0,
      "underlyings": [{"name": "BTC", "spot": 100.0, "surface": {"flat": 0.5}},
                      {"name": "ETH", "spot": 10.0, "surface": {"flat": 0.7}}],
      "collateral": [{"asset": "USDC", "price": 1.0, "haircut": 0.0},
                     {"asset": "BTC", "price": 100.0, "haircut": 0.1}]
    }"#;
    ale_format::parse_market(text).unwrap().snapshot
}

/// The same market `seconds` after T0 with BTC (spot, and the BTC collateral) at `btc`.
pub fn market_at(seconds: i64, btc: f64) -> ale_market::MarketSnapshot {
    let text = format!(
        r#"{{
      "time": "{}", "rate": 0.0,
      "underlyings": [{{"name": "BTC", "spot": {btc}, "surface": {{"flat": 0.5}}}},
                      {{"name": "ETH", "spot": 10.0, "surface": {{"flat": 0.7}}}}],
      "collateral": [{{"asset": "USDC", "price": 1.0, "haircut": 0.0}},
                     {{"asset": "BTC", "price": {btc}, "haircut": 0.1}}]
    }}"#,
        at(seconds)
    );
    ale_format::parse_market(&text).unwrap().snapshot
}

pub fn t0() -> Timestamp {
    Timestamp::parse_rfc3339(T0).unwrap()
}

pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(t0().unix_seconds() + seconds).unwrap()
}

pub fn d(s: &str) -> Amount {
    Amount::parse_decimal(s).unwrap()
}

pub fn usdc() -> Asset {
    Asset::new("USDC").unwrap()
}

pub fn cash_unit() -> Unit {
    Unit::Cash(usdc())
}

pub fn id(name: &str) -> AccountId {
    AccountId::new(name).unwrap()
}

/// An account with USDC cash and positions (instrument, size, entry).
pub fn account(name: &str, cash: &str, positions: &[(&str, f64, Option<f64>)]) -> Account {
    let mut a = Account::new(id(name));
    if cash != "0" {
        a.add_collateral(usdc(), d(cash)).unwrap();
    }
    for (instrument, size, entry) in positions {
        a.add_position(Position {
            instrument: Instrument::parse(instrument).unwrap(),
            size: *size,
            entry_price: *entry,
        });
    }
    a
}

/// An engine with the certificate gate off: the tier tests are about the tiers (the gate has
/// its own tests, `gate.rs`, with real certificates).
pub fn engine(policy: &str, params: LiquidationParams) -> Engine {
    let params = LiquidationParams {
        certificate_gate: CertificateGate::off(),
        ..params
    };
    Engine::new(policy_by_name(policy, None).unwrap(), market(), params).unwrap()
}

pub fn bidder(name: &str, owner: &str, limit: f64, premium: f64, share: f64) -> Bidder {
    Bidder {
        name: name.into(),
        owner: owner.into(),
        max_price_fraction: limit,
        insolvent_premium_fraction: premium,
        max_share: share,
    }
}

pub fn cash_of(e: &Engine, holder: &Holder) -> Amount {
    e.ledger().balance_of(holder, &cash_unit())
}

pub fn qty_of(e: &Engine, holder: &Holder, instrument: &str) -> Amount {
    e.ledger().balance_of(
        holder,
        &Unit::Quantity(Instrument::parse(instrument).unwrap()),
    )
}

pub fn trader(name: &str) -> Holder {
    Holder::Trader(id(name))
}

/// The invariants every ledger must keep: balanced, and no negative cash but External's and
/// the socialised-loss account's.
pub fn assert_ledger_invariants(e: &Engine) {
    e.ledger().audit().unwrap();
    for (h, u, a) in e.ledger().entries() {
        if u.is_cash() && !h.may_owe_cash() {
            assert!(!a.is_negative(), "{h} holds {a} {u}");
        }
    }
    let replayed = ale_liquidation::replay(e.ledger(), e.log()).unwrap();
    assert_eq!(replayed.snapshot(), e.ledger().snapshot(), "replay differs");
}
