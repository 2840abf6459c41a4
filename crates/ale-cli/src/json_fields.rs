//! Reading typed fields out of one JSON object with messages that name the field.

use serde_json::{Map, Value};

/// Parses one line as a JSON object.
pub fn parse_object(line: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!("expected a JSON object, got {}", json_kind(&other))),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A required number.
pub fn number(obj: &Map<String, Value>, field: &str) -> Result<f64, String> {
    optional_number(obj, field)?.ok_or_else(|| format!("missing '{field}'"))
}

/// An optional number (`null` counts as absent).
pub fn optional_number(obj: &Map<String, Value>, field: &str) -> Result<Option<f64>, String> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| format!("invalid '{field}': not a finite number")),
        Some(other) => Err(format!(
            "invalid '{field}': expected a number, got {}",
            json_kind(other)
        )),
    }
}

/// A required string.
pub fn string<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<&'a str, String> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(format!("missing '{field}'")),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "invalid '{field}': expected a string, got {}",
            json_kind(other)
        )),
    }
}
