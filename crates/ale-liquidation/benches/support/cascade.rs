//! The cascade's venue, shared by the bench and the `cascade_timing` example (a subdirectory,
//! so that cargo does not take it for a bench of its own).

use ale_core::{Account, AccountId, Amount, Asset, Rounding, Timestamp};
use ale_liquidation::{Bidder, CertificateGate, Engine, Holder, LiquidationParams};
use ale_risk::policy_by_name;
use ale_risk::synthetic::{synthetic_venue, VenueSpec};

/// A venue of `n` synthetic accounts (ramm), each with its cash cut so that its equity is 90 % of
/// its maintenance margin (a crash: every one liquidatable at once), a fund that can take a fifth
/// of them, five liquidators and a market.
pub fn cascade_engine(n: usize) -> (Engine, Vec<AccountId>, Timestamp) {
    // Twice as many as needed: the first n that the cash cut makes liquidatable are kept.
    let venue = synthetic_venue(&VenueSpec {
        accounts: 2 * n,
        options_per_underlying: 200,
        max_positions: 30,
        seed: 11,
    });
    let now = venue.market.time();
    // The bench times the tiers: no certificates (the gate's cost is the verifier's, benched in
    // ale-verify).
    let params = LiquidationParams {
        certificate_gate: CertificateGate::off(),
        ..LiquidationParams::default()
    };
    let new_engine = || {
        let mut e = Engine::new(
            policy_by_name("ramm", None).unwrap(),
            venue.market.clone(),
            params.clone(),
        )
        .unwrap();
        e.list_instruments(venue.instruments.iter()).unwrap();
        e
    };
    // First pass: margins as generated.
    let mut probe = new_engine();
    let usdc = Asset::new("USDC").unwrap();
    let mut accounts = Vec::with_capacity(n);
    for a in &venue.accounts {
        probe.register_trader(a, a.id.as_str(), now).unwrap();
        let h = probe.health(&Holder::Trader(a.id.clone())).unwrap();
        let cash = a.collateral.get(&usdc).copied().unwrap_or(Amount::ZERO);
        // E' = 0.9·M: cut the cash by E − 0.9·M (never below zero).
        let target = h
            .maintenance
            .checked_mul(Amount::parse_decimal("0.9").unwrap(), Rounding::Down)
            .unwrap();
        let cut = h.equity.checked_sub(target).unwrap();
        let mut b = a.clone();
        let new_cash = cash.checked_sub(cut).unwrap();
        if new_cash.is_negative() {
            continue;
        }
        b.collateral.insert(usdc.clone(), new_cash);
        accounts.push(b);
        if accounts.len() == n {
            break;
        }
    }
    let mut e = new_engine();
    let mut ids = Vec::with_capacity(n);
    for a in &accounts {
        e.register_trader(a, a.id.as_str(), now).unwrap();
        ids.push(a.id.clone());
    }
    let mut fund = Account::new(AccountId::new("fund").unwrap());
    fund.add_collateral(usdc.clone(), Amount::from_units(2_000_000_000))
        .unwrap();
    e.fund_insurance(&fund, Some(Amount::from_units(2_000_000_000)), now)
        .unwrap();
    for (i, limit) in [0.9, 0.85, 0.8, 0.75, 0.7].iter().enumerate() {
        let mut capital = Account::new(AccountId::new(&format!("lp{i}")).unwrap());
        capital
            .add_collateral(usdc.clone(), Amount::from_units(200_000_000))
            .unwrap();
        e.register_bidder(
            Bidder {
                name: format!("lp{i}"),
                owner: format!("lp{i}"),
                max_price_fraction: *limit,
                insolvent_premium_fraction: 0.2,
                max_share: 0.5,
            },
            &capital,
            now,
        )
        .unwrap();
    }
    (e, ids, now)
}
