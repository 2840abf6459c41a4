//! The JSON line `ale margin --json` prints per account (formats.md).

use ale_risk::{AccountMargin, LiquidationPrices, WorstScenario};
use serde_json::{json, Map, Value};

/// A margin report as formats.md writes it.
pub fn margin_report_json(
    account: &str,
    policy: &str,
    component_names: &[&str],
    margin: &AccountMargin,
    liquidation: Option<&LiquidationPrices>,
) -> Value {
    margin_report_json_with(account, policy, component_names, &[], margin, liquidation)
}

/// As [`margin_report_json`], with the names of the policy's initial-margin components (pm),
/// printed as `im_components` when the margin carries them.
pub fn margin_report_json_with(
    account: &str,
    policy: &str,
    component_names: &[&str],
    im_component_names: &[&str],
    margin: &AccountMargin,
    liquidation: Option<&LiquidationPrices>,
) -> Value {
    let mut components = Map::new();
    for (name, value) in component_names.iter().zip(margin.components) {
        components.insert((*name).to_string(), json!(value));
    }
    let worst = match &margin.worst_scenario {
        Some(WorstScenario::Grid {
            underlying,
            spot_move,
            vol,
            vol_shift_ref,
        }) => json!({
            "underlying": underlying.as_str(),
            "spot_shock": spot_move,
            "vol_shock": vol_shift_ref,
            "vol": vol.name(),
        }),
        Some(WorstScenario::Pm {
            underlying,
            index,
            spot_move,
            vol_shock,
            dampening,
        }) => json!({
            "underlying": underlying.as_str(),
            "index": index,
            "spot_shock": spot_move,
            "vol_shock": vol_shock,
            "dampening": dampening,
        }),
        Some(WorstScenario::PmBasis { underlying }) => {
            json!({"underlying": underlying.as_str(), "basis": true})
        }
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
    let mut report = json!({
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
    });
    if let Some(im) = &margin.im_components {
        let mut parts = Map::new();
        for (name, value) in im_component_names.iter().zip(im) {
            parts.insert((*name).to_string(), json!(value));
        }
        report["im_components"] = Value::Object(parts);
    }
    report
}
