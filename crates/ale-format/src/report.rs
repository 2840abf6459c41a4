//! The JSON line `ale margin --json` prints per account (formats.md).

use ale_risk::{AccountMargin, LiquidationPrices};
use serde_json::{json, Map, Value};

/// A margin report as formats.md writes it.
pub fn margin_report_json(
    account: &str,
    policy: &str,
    component_names: &[&str],
    margin: &AccountMargin,
    liquidation: Option<&LiquidationPrices>,
) -> Value {
    let mut components = Map::new();
    for (name, value) in component_names.iter().zip(margin.components) {
        components.insert((*name).to_string(), json!(value));
    }
    let worst = match &margin.worst_scenario {
        Some(w) => json!({
            "underlying": w.underlying.as_str(),
            "spot_shock": w.spot_move,
            "vol_shock": w.vol_shift_ref,
            "vol": w.vol.name(),
        }),
        None => Value::Null,
    };
    let liq = match liquidation {
        Some(l) => json!({
            "underlying": l.underlying.as_str(),
            "below": l.below.map(|r| r.spot),
            "above": l.above.map(|r| r.spot),
        }),
        None => json!({"below": null, "above": null}),
    };
    json!({
        "account": account,
        "policy": policy,
        "equity": margin.equity,
        "maintenance_margin": margin.maintenance,
        "initial_margin": margin.initial,
        "margin_ratio": margin.margin_ratio(),
        "status": margin.status().name(),
        "components": components,
        "worst_scenario": worst,
        "liquidation_price": liq,
        "top_up": margin.top_up(),
    })
}
