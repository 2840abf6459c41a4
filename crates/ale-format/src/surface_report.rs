//! The JSON line `ale surface fit --json` prints per underlying.

use ale_surface::ArbitrageKind;
use serde_json::{json, Value};

use crate::market::QuotedFit;

/// One underlying's fit as JSON: per expiry the SVI parameters, errors in vol (decimals),
/// quotes used and rejected (with reasons), then the arbitrage left in the fitted surface.
pub fn surface_fit_json(fit: &QuotedFit) -> Value {
    let r = &fit.report;
    let expiry_of = |years: f64| -> String {
        r.expiries
            .iter()
            .zip(&fit.expiries)
            .min_by(|a, b| {
                (a.0.expiry_years - years)
                    .abs()
                    .total_cmp(&(b.0.expiry_years - years).abs())
            })
            .map(|(_, e)| e.instant().to_string())
            .unwrap_or_default()
    };
    let expiries: Vec<Value> = r
        .expiries
        .iter()
        .zip(&fit.expiries)
        .map(|(e, date)| {
            json!({
                "expiry": date.instant().to_string(),
                "forward": e.forward,
                "svi": {"a": e.svi.a, "b": e.svi.b, "rho": e.svi.rho, "m": e.svi.m, "sigma": e.svi.sigma},
                "rmse_vol": e.rmse_vol,
                "max_error_vol": e.max_error_vol,
                "quotes": e.quotes,
                "rejected": e.rejected.len(),
                "rejections": e.rejected.iter().map(|q| json!({"strike": q.strike, "reason": q.reason.to_string()})).collect::<Vec<_>>(),
                "butterfly_repaired": e.butterfly_repaired,
            })
        })
        .collect();
    let arbitrage: Vec<Value> = r
        .arbitrage
        .iter()
        .map(|a| {
            json!({
                "kind": match a.kind { ArbitrageKind::Butterfly => "butterfly", ArbitrageKind::Calendar => "calendar" },
                "expiry": expiry_of(a.expiry_years),
                "k": a.log_moneyness,
                "size": a.size,
            })
        })
        .collect();
    json!({"underlying": r.underlying, "expiries": expiries, "arbitrage": arbitrage})
}
