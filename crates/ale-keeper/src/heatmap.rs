//! The book's P&L over a grid of spot moves and vol shifts (the dashboard's heat map), and
//! market shocks for what-if requests.

use std::collections::HashMap;

use ale_core::Asset;
use ale_market::MarketSnapshot;
use ale_pricing::Black76;
use ale_risk::{MarginPolicy, RiskEngine, RowKind};
use serde_json::{json, Value};

/// Spot moves of the heat map.
pub const HEATMAP_SPOT_MOVES: [f64; 13] = [
    -0.30, -0.25, -0.20, -0.15, -0.10, -0.05, 0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30,
];
/// Vol shifts of the heat map (decimal vol).
pub const HEATMAP_VOL_SHIFTS: [f64; 7] = [-0.20, -0.10, 0.0, 0.10, 0.20, 0.30, 0.40];

/// Moves one underlying of `market` by a relative spot shock and an additive vol shift, with
/// the collateral that moves with it.
pub fn shock_market(
    market: &mut MarketSnapshot,
    underlying: &str,
    spot_shock: f64,
    vol_shift: f64,
) -> Result<(), String> {
    let name = Asset::new(underlying).map_err(|e| e.to_string())?;
    let factor = 1.0 + spot_shock;
    let moved = market
        .underlying(&name)
        .map_err(|e| e.to_string())?
        .moved(factor, vol_shift)
        .map_err(|e| e.to_string())?;
    market.insert_underlying(moved);
    let moving: Vec<(Asset, ale_market::CollateralPrice)> = market
        .collateral_prices()
        .filter(|(a, _)| market.collateral_underlying(a) == Some(&name))
        .map(|(a, p)| (a.clone(), p.clone()))
        .collect();
    for (a, mut p) in moving {
        p.price *= factor;
        market.insert_collateral(a, p);
    }
    Ok(())
}

/// The P&L of the whole book on `underlying` over the heat-map grid: every listed instrument
/// re-priced once per cell (sticky moneyness, vol shifted), times the book's net position in it,
/// plus the collateral that moves with it.
pub fn book_heatmap<P: MarginPolicy>(
    engine: &RiskEngine<P>,
    underlying: &str,
) -> Result<Value, String> {
    let name = Asset::new(underlying).map_err(|e| e.to_string())?;
    let market = engine.market();
    let um = market.underlying(&name).map_err(|e| e.to_string())?;
    let book = engine.book();
    let u = book
        .underlying_index(&name)
        .ok_or_else(|| format!("no instrument on '{name}'"))?;
    // Net size per row over all accounts, and the collateral moving with the underlying.
    let mut net: HashMap<u32, f64> = HashMap::new();
    let mut moving_value = 0.0;
    for account in book.accounts() {
        if let Some(span) = account.spans.iter().find(|s| s.underlying == u) {
            for p in &account.positions[span.start as usize..span.end as usize] {
                *net.entry(p.row).or_insert(0.0) += p.size;
            }
        }
        for (asset, amount) in &account.collateral {
            if market.collateral_underlying(asset) == Some(&name) {
                if let Ok(price) = market.collateral(asset) {
                    moving_value += amount.to_f64() * price.price * price.value_factor();
                }
            }
        }
    }
    let now = market.time();
    let rate = market.rate();
    let mut pnl = vec![vec![0.0; HEATMAP_SPOT_MOVES.len()]; HEATMAP_VOL_SHIFTS.len()];
    for (&row, &size) in &net {
        if size == 0.0 {
            continue;
        }
        let listed = book.row(u, row);
        let value = |spot_move: f64, vol_shift: f64| -> Option<f64> {
            match listed.kind {
                RowKind::Spot => Some(um.spot() * (1.0 + spot_move)),
                RowKind::Perpetual => Some(um.perp_mark() * (1.0 + spot_move)),
                RowKind::Future { expiry } => {
                    let t = expiry.years_from(now);
                    (t > 0.0).then(|| um.forward(expiry, t, rate) * (1.0 + spot_move))
                }
                RowKind::Option {
                    expiry,
                    strike,
                    kind,
                } => {
                    let t = expiry.years_from(now);
                    if t <= 0.0 {
                        return None;
                    }
                    let f = um.forward(expiry, t, rate) * (1.0 + spot_move);
                    let vol = (um.vol(strike, f, t) + vol_shift).max(0.01);
                    Black76::new(kind, f, strike, t, vol, rate)
                        .ok()
                        .map(|o| o.price())
                }
            }
        };
        let Some(base) = value(0.0, 0.0) else {
            continue;
        };
        for (j, dv) in HEATMAP_VOL_SHIFTS.iter().enumerate() {
            for (i, ds) in HEATMAP_SPOT_MOVES.iter().enumerate() {
                if let Some(v) = value(*ds, *dv) {
                    pnl[j][i] += size * (v - base);
                }
            }
        }
    }
    for row in &mut pnl {
        for (cell, ds) in row.iter_mut().zip(HEATMAP_SPOT_MOVES) {
            *cell += moving_value * ds;
        }
    }
    Ok(json!({
        "underlying": underlying,
        "spot": um.spot(),
        "spot_moves": HEATMAP_SPOT_MOVES,
        "vol_shifts": HEATMAP_VOL_SHIFTS,
        "pnl": pnl,
    }))
}

/// The "risk oracle": the book's aggregated Greeks per underlying and expiry (net of all
/// accounts), published like a price feed. Delta in units of the underlying (∂V/∂F summed with
/// sizes; perps and futures count 1 per unit), gamma per unit of forward, vega per 1.00 of vol,
/// theta per year.
pub fn book_greeks<P: MarginPolicy>(engine: &RiskEngine<P>) -> Value {
    let market = engine.market();
    let book = engine.book();
    let now = market.time();
    let rate = market.rate();
    let mut out = Vec::new();
    for (u, name) in book.underlyings().iter().enumerate() {
        let Ok(um) = market.underlying(name) else {
            continue;
        };
        let mut net: HashMap<u32, f64> = HashMap::new();
        for account in book.accounts() {
            if let Some(span) = account.spans.iter().find(|s| s.underlying == u) {
                for p in &account.positions[span.start as usize..span.end as usize] {
                    *net.entry(p.row).or_insert(0.0) += p.size;
                }
            }
        }
        // (expiry or "undated") -> [delta, gamma, vega, theta]
        let mut by_expiry: std::collections::BTreeMap<String, [f64; 4]> =
            std::collections::BTreeMap::new();
        for (&row, &size) in &net {
            let listed = book.row(u, row);
            let (key, g) = match listed.kind {
                RowKind::Spot | RowKind::Perpetual => {
                    ("undated".to_string(), [size, 0.0, 0.0, 0.0])
                }
                RowKind::Future { expiry } => (expiry.instant().to_string(), [size, 0.0, 0.0, 0.0]),
                RowKind::Option {
                    expiry,
                    strike,
                    kind,
                } => {
                    let t = expiry.years_from(now);
                    if t <= 0.0 {
                        continue;
                    }
                    let f = um.forward(expiry, t, rate);
                    let Ok(o) = Black76::new(kind, f, strike, t, um.vol(strike, f, t), rate) else {
                        continue;
                    };
                    let gk = o.greeks();
                    (
                        expiry.instant().to_string(),
                        [
                            size * gk.delta,
                            size * gk.gamma,
                            size * gk.vega,
                            size * gk.theta,
                        ],
                    )
                }
            };
            let slot = by_expiry.entry(key).or_insert([0.0; 4]);
            for (s, x) in slot.iter_mut().zip(g) {
                *s += x;
            }
        }
        let expiries: Vec<Value> = by_expiry
            .into_iter()
            .map(|(e, g)| json!({"expiry": e, "delta": g[0], "gamma": g[1], "vega": g[2], "theta": g[3]}))
            .collect();
        out.push(json!({"underlying": name.as_str(), "spot": um.spot(), "expiries": expiries}));
    }
    json!({"time": now.to_string(), "underlyings": out})
}
