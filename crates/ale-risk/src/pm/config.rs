//! `pm` parameters as TOML: parsing (`set = ...`, group overrides, `[[scenarios]]`) and the
//! commented default text printed by `ale params default --policy pm`.

use std::fmt::Write as _;

use super::engine::{limits_of, PmConfig};
use super::error::PmError;
use super::params::{ParamSet, PARAM_GROUPS, PARAM_SPECS};
use super::scenario::{Scenario, ScenarioList, VolDirection};

/// Most scenarios a TOML file may list, whatever the profile (a limit on everything).
pub const MAX_TOML_SCENARIOS: usize = 10_000;

impl PmConfig {
    /// Reads `pm` parameters from TOML text (the caller does the file I/O):
    ///
    /// ```toml
    /// set = "deribit-like"          # or "derive-test"; default "deribit-like"
    /// [vol_shock]
    /// min_vol_up_shock = 0.45       # any group.key overrides the set
    /// [[scenarios]]                 # if given, the list replaces the set's
    /// spot_shock = 1.18
    /// vol_shock = "Up"
    /// dampening = 1.0
    /// ```
    ///
    /// Unknown keys and ill-typed values are errors naming the key; the result is validated
    /// (admissible ranges, scenario list rules, the set's caps).
    pub fn from_toml(text: &str) -> Result<PmConfig, PmError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| PmError::Toml(e.message().to_string()))?;
        let set = match table.get("set") {
            None => ParamSet::default(),
            Some(toml::Value::String(name)) => ParamSet::from_name(name).ok_or_else(|| {
                PmError::invalid(
                    "set",
                    format!(
                        "unknown parameter set '{name}' (expected 'deribit-like' or 'derive-test')"
                    ),
                )
            })?,
            Some(other) => {
                return Err(PmError::invalid(
                    "set",
                    format!("expected a string, got {}", other.type_str()),
                ))
            }
        };
        let mut params = set.params();
        let mut scenarios = None;
        for (key, value) in &table {
            match key.as_str() {
                "set" => {}
                "scenarios" => scenarios = Some(parse_scenarios(value)?),
                group if PARAM_GROUPS.contains(&group) => {
                    let toml::Value::Table(entries) = value else {
                        return Err(PmError::invalid(
                            group,
                            format!("expected a table, got {}", value.type_str()),
                        ));
                    };
                    for (k, v) in entries {
                        let path = format!("{group}.{k}");
                        let spec = PARAM_SPECS
                            .iter()
                            .find(|s| s.group == group && s.key == k)
                            .ok_or_else(|| PmError::invalid(&path, "unknown key"))?;
                        (spec.set)(&mut params, number(&path, v)?);
                    }
                }
                other => {
                    return Err(PmError::invalid(
                        other,
                        format!(
                            "unknown key (expected set, scenarios, {})",
                            PARAM_GROUPS.join(", ")
                        ),
                    ))
                }
            }
        }
        let limits = limits_of(set);
        let scenarios = match scenarios {
            Some(list) => ScenarioList::new(list, &limits)?,
            None => ScenarioList::default_for(set),
        };
        PmConfig::new(params, scenarios, limits)
    }
}

/// A TOML integer or float as f64.
fn number(path: &str, value: &toml::Value) -> Result<f64, PmError> {
    match value {
        toml::Value::Float(x) => Ok(*x),
        toml::Value::Integer(i) => Ok(*i as f64),
        other => Err(PmError::invalid(
            path,
            format!("expected a number, got {}", other.type_str()),
        )),
    }
}

fn parse_scenarios(value: &toml::Value) -> Result<Vec<Scenario>, PmError> {
    let toml::Value::Array(items) = value else {
        return Err(PmError::invalid(
            "scenarios",
            format!(
                "expected an array of tables ([[scenarios]]), got {}",
                value.type_str()
            ),
        ));
    };
    if items.len() > MAX_TOML_SCENARIOS {
        return Err(PmError::invalid(
            "scenarios",
            format!(
                "at most {MAX_TOML_SCENARIOS} scenarios, got {}",
                items.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("scenarios[{i}]");
        let toml::Value::Table(t) = item else {
            return Err(PmError::invalid(
                path,
                format!("expected a table, got {}", item.type_str()),
            ));
        };
        for k in t.keys() {
            if !matches!(k.as_str(), "spot_shock" | "vol_shock" | "dampening") {
                return Err(PmError::invalid(format!("{path}.{k}"), "unknown key"));
            }
        }
        let field = |k: &str| {
            t.get(k)
                .ok_or_else(|| PmError::invalid(format!("{path}.{k}"), "missing"))
        };
        let spot_shock = number(&format!("{path}.spot_shock"), field("spot_shock")?)?;
        let dampening = number(&format!("{path}.dampening"), field("dampening")?)?;
        let vol_shock = match field("vol_shock")? {
            toml::Value::String(name) => VolDirection::from_name(name).ok_or_else(|| {
                PmError::invalid(
                    format!("{path}.vol_shock"),
                    format!("expected \"Up\", \"None\", \"Down\", \"Linear\" or \"Abs\", got \"{name}\""),
                )
            })?,
            other => {
                return Err(PmError::invalid(
                    format!("{path}.vol_shock"),
                    format!("expected a string, got {}", other.type_str()),
                ))
            }
        };
        out.push(Scenario::new(spot_shock, vol_shock, dampening));
    }
    Ok(out)
}

/// The commented default TOML of a named set: every key with its meaning, unit and admissible
/// range, and the set's scenario list. [`PmConfig::from_toml`] reads it back to the set.
pub fn default_toml(set: ParamSet) -> String {
    let params = set.params();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Parameters of the `pm` margin policy: scenario-based portfolio margin compatible with\n\
         # Deribit / Derive PMRM_2 (docs/pm.md). Keys given here override the named set.\n\
         # Units as in pm.md: multipliers (1.18 = +18 %), vols as decimals, rates per year.\n\
         # Each key's comment gives its meaning, unit and admissible range.\n"
    );
    let _ = writeln!(
        out,
        "# Named set: \"deribit-like\" (the default) or \"derive-test\"."
    );
    let _ = writeln!(out, "set = \"{}\"", set.name());
    for group in PARAM_GROUPS {
        let _ = writeln!(out, "\n[{group}]");
        for spec in PARAM_SPECS.iter().filter(|s| s.group == group) {
            let unit = if spec.unit == "-" {
                "no unit"
            } else {
                spec.unit
            };
            let _ = writeln!(
                out,
                "# {}; unit: {unit}; admissible {}",
                spec.meaning, spec.admissible
            );
            let _ = writeln!(out, "{} = {:?}", spec.key, (spec.get)(&params));
        }
    }
    let limits = limits_of(set);
    let _ = writeln!(
        out,
        "\n# Scenario list (replaces the set's list when given). spot_shock: spot multiplier s > 0;\n\
         # vol_shock: \"Up\" | \"None\" | \"Down\" | \"Linear\" | \"Abs\"; dampening d >= 0: the\n\
         # fraction of the scenario's P&L that counts. At most one Linear and one Abs, both at\n\
         # spot_shock = 1.{}",
        match limits.max_scenarios {
            Some(max) => format!(" This profile allows at most {max} scenarios."),
            None => String::new(),
        }
    );
    for sc in ScenarioList::default_for(set).as_slice() {
        let _ = writeln!(
            out,
            "[[scenarios]]\nspot_shock = {:?}\nvol_shock = \"{}\"\ndampening = {:?}",
            sc.spot_shock,
            sc.vol_shock.name(),
            sc.dampening
        );
    }
    out
}
