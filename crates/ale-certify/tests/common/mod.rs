//! Shared fixtures: a market with a flat BTC surface and an SVI ETH surface, deterministic
//! keys, and a helper that commits, certifies and returns everything a test needs.
#![allow(dead_code)]

use ale_certify::{certify, CertPolicy, Certificate, CertifyError, CoSigners, Commitments};
use ale_core::Account;
use ale_market::MarketSnapshot;
use ale_oracle::dev_keys;
use ale_verify::{Quorum, TrustedKeys, VerifyingKey};
use ed25519_dalek::SigningKey;

pub const MARKET: &str = r#"{
  "time": "2026-11-24T08:00:00Z",
  "rate": 0.03,
  "underlyings": [
    {
      "name": "BTC",
      "spot": 95000.0,
      "realized_vol": 0.48,
      "forwards": [{"expiry": "2026-12-26T08:00:00Z", "price": 95400.0}],
      "surface": {"svi": [
        {"expiry": "2026-11-27T08:00:00Z", "a": 0.0015, "b": 0.02, "rho": -0.25, "m": 0.0, "sigma": 0.1},
        {"expiry": "2026-12-04T08:00:00Z", "a": 0.004, "b": 0.04, "rho": -0.3, "m": 0.0, "sigma": 0.15},
        {"expiry": "2026-12-26T08:00:00Z", "a": 0.02, "b": 0.08, "rho": -0.3, "m": 0.0, "sigma": 0.2},
        {"expiry": "2027-03-26T08:00:00Z", "a": 0.07, "b": 0.12, "rho": -0.3, "m": 0.02, "sigma": 0.25}
      ]}
    },
    {
      "name": "ETH",
      "spot": 3500.0,
      "surface": {"flat": 0.65}
    }
  ],
  "collateral": [
    {"asset": "USDC", "price": 1.0, "haircut": 0.0},
    {"asset": "BTC", "price": 95000.0, "haircut": 0.05},
    {"asset": "WETH", "price": 3500.0, "haircut": 0.08, "bridge_risk": 0.02, "risk_cancelling": "ETH"}
  ]
}"#;

pub fn market() -> MarketSnapshot {
    ale_format::parse_market(MARKET).unwrap().snapshot
}

pub fn accounts(json: &str) -> Vec<Account> {
    ale_format::parse_portfolio(json).unwrap().0
}

pub struct Keys {
    pub oracle: Vec<SigningKey>,
    pub venue: Vec<SigningKey>,
    pub oracle_vk: Vec<VerifyingKey>,
    pub venue_vk: Vec<VerifyingKey>,
}

impl Keys {
    pub fn new() -> Keys {
        let oracle = dev_keys("test-oracle", 3);
        let venue = dev_keys("test-venue", 3);
        Keys {
            oracle_vk: oracle.iter().map(|k| k.verifying_key()).collect(),
            venue_vk: venue.iter().map(|k| k.verifying_key()).collect(),
            oracle,
            venue,
        }
    }
    pub fn trusted(&self) -> TrustedKeys<'_> {
        TrustedKeys {
            oracle: &self.oracle_vk,
            venue: &self.venue_vk,
        }
    }
}

/// The default: 2 oracle signatures on the message of both roots, the venue's signature
/// checked by the oracle side before it co-signs.
pub const QUORUM: Quorum = Quorum {
    oracle: 2,
    venue: 0,
    max_age_s: 60,
};

/// A verifier that also wants 2 venue signatures on chain.
pub const QUORUM_WITH_VENUE: Quorum = Quorum {
    oracle: 2,
    venue: 2,
    max_age_s: 60,
};

/// The snapshot's time + 5 s.
pub fn now(m: &MarketSnapshot) -> i64 {
    m.time().unix_seconds() + 5
}

/// Oracle-signed commitments (k = 2 signatures per certificate).
pub fn commit(
    m: &MarketSnapshot,
    accts: &[Account],
    policy: &CertPolicy,
    keys: &Keys,
) -> Commitments {
    commit_with(m, accts, policy, keys, CoSigners::Oracle)
}

pub fn commit_with(
    m: &MarketSnapshot,
    accts: &[Account],
    policy: &CertPolicy,
    keys: &Keys,
    cosigners: CoSigners,
) -> Commitments {
    Commitments::build_with(
        m,
        accts,
        policy,
        7,
        &[(0, &keys.oracle[0]), (2, &keys.oracle[2])],
        &[(0, &keys.venue[0]), (1, &keys.venue[1])],
        cosigners,
    )
    .unwrap()
}

pub fn certify_one(
    m: &MarketSnapshot,
    accts: &[Account],
    who: usize,
    policy: &CertPolicy,
    keys: &Keys,
) -> Result<Certificate, CertifyError> {
    let c = commit(m, accts, policy, keys);
    certify(policy, m, &c, &accts[who], &keys.trusted(), &QUORUM, now(m))
}

/// Accounts on BTC and ETH with collateral in several assets (USDC, BTC, WETH that moves with
/// ETH): liquidatable under every policy.
pub const MULTI_BOOK: &str = r#"[
  {"account": "dora", "collateral": [{"asset": "USDC", "amount": "15000"},
                                     {"asset": "BTC", "amount": "0.2"},
                                     {"asset": "WETH", "amount": "3"}],
   "positions": [
     {"instrument": "BTC-26DEC26-100000-C", "size": -4},
     {"instrument": "BTC-26DEC26-90000-P", "size": -3},
     {"instrument": "BTC-PERP", "size": 0.5, "entry_price": 94000.0},
     {"instrument": "ETH-26DEC26-3000-P", "size": -25},
     {"instrument": "ETH-26DEC26-4000-C", "size": -20},
     {"instrument": "ETH-PERP", "size": -2, "entry_price": 3400.0}
   ]},
  {"account": "erin", "collateral": [{"asset": "USDC", "amount": "9000000"}],
   "positions": [{"instrument": "ETH-PERP", "size": 1}]}
]"#;

/// A ramm-liquidatable BTC account: short strangle and a perp, little cash.
pub const SHORT_BOOK: &str = r#"[
  {"account": "alice", "collateral": [{"asset": "USDC", "amount": "20000"}],
   "positions": [
     {"instrument": "BTC-26DEC26-100000-C", "size": -5},
     {"instrument": "BTC-26DEC26-90000-P", "size": -5},
     {"instrument": "BTC-PERP", "size": 1.5, "entry_price": 94000.0}
   ]},
  {"account": "bob", "collateral": [{"asset": "USDC", "amount": "5000000"}],
   "positions": [{"instrument": "BTC-26DEC26-100000-C", "size": -1}]},
  {"account": "carol", "collateral": [{"asset": "WETH", "amount": "1"}],
   "positions": [{"instrument": "ETH-26DEC26-3000-P", "size": -20}]}
]"#;

/// The ten-position `ramm` account of the bench: nine options over three expiries and a perp.
pub const TEN_BOOK: &str = r#"{"account": "ten", "collateral": [{"asset": "USDC", "amount": "30000"}],
  "positions": [
    {"instrument": "BTC-4DEC26-90000-P", "size": -4},
    {"instrument": "BTC-4DEC26-100000-C", "size": -4},
    {"instrument": "BTC-4DEC26-95000-C", "size": 1},
    {"instrument": "BTC-26DEC26-85000-P", "size": -3},
    {"instrument": "BTC-26DEC26-105000-C", "size": -3},
    {"instrument": "BTC-26DEC26-95000-P", "size": 1},
    {"instrument": "BTC-26MAR27-80000-P", "size": -2},
    {"instrument": "BTC-26MAR27-110000-C", "size": -2},
    {"instrument": "BTC-26MAR27-95000-C", "size": 0.5},
    {"instrument": "BTC-PERP", "size": 1.0, "entry_price": 94000.0}
  ]}"#;

/// A short strangle, out of the money both sides: no delta-one position, so stage 1's horizon
/// floor is the slippage at intrinsic value (0 here) without the delta term.
pub const STRANGLE_BOOK: &str = r#"{"account": "strangle", "collateral": [{"asset": "USDC", "amount": "1000"}],
  "positions": [
    {"instrument": "BTC-26DEC26-100000-C", "size": -5},
    {"instrument": "BTC-26DEC26-90000-P", "size": -1}
  ]}"#;

/// A short call spread: of defined risk (the engine caps price + vega + gamma at its maximum
/// loss).
pub const SPREAD_BOOK: &str = r#"{"account": "spread", "collateral": [{"asset": "USDC", "amount": "10"}],
  "positions": [
    {"instrument": "BTC-4DEC26-95000-C", "size": -3},
    {"instrument": "BTC-4DEC26-100000-C", "size": 3}
  ]}"#;

/// The first account of `book` with USDC added so that equity sits `share` of the way from the
/// engine's equity to its maintenance margin (share 1 − x: x·(MM − equity) short of MM).
pub fn topped_up(m: &MarketSnapshot, book: &str, policy: &CertPolicy, share: f64) -> Account {
    let mut a = accounts(book).remove(0);
    let mg = policy.margin(m, &a).unwrap();
    let cash = (mg.maintenance - mg.equity) * share;
    if cash > 0.0 {
        a.add_collateral(
            ale_core::Asset::new("USDC").unwrap(),
            ale_core::Amount::from_f64(cash, ale_core::Rounding::Down).unwrap(),
        )
        .unwrap();
    }
    a
}

/// Commits `a` alone and certifies it.
pub fn certify_alone(
    m: &MarketSnapshot,
    a: &Account,
    policy: &CertPolicy,
    keys: &Keys,
) -> Result<Certificate, CertifyError> {
    let c = commit(m, std::slice::from_ref(a), policy, keys);
    certify(policy, m, &c, a, &keys.trusted(), &QUORUM, now(m))
}
