//! Small readers over `serde_json::Value` that speak FluxOS's JavaScript semantics:
//! falsy values, `typeof`, string length in UTF-16 units and decimal counting.

use serde_json::{Map, Value};

use super::report::{Report, index, join, rule};

/// JavaScript truthiness: `undefined`, `null`, `false`, `0` and `""` are falsy.
/// FluxOS's "Missing … parameter" checks are `if (!field)`, so `instances: 0` is missing.
pub(crate) fn is_falsy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => !b,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(_) | Value::Object(_)) => false,
    }
}

/// The JSON type of a value, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// String length as JavaScript counts it (UTF-16 code units), which is what FluxOS's
/// limits are written against.
pub(crate) fn js_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Digits after the decimal point in the shortest representation of `x`.
pub(crate) fn decimals(x: f64) -> usize {
    let text = format!("{x}");
    text.split_once('.').map_or(0, |(_, frac)| frac.len())
}

/// Whether `x` is a whole number.
pub(crate) fn is_whole(x: f64) -> bool {
    x.fract() == 0.0
}

/// Reads a required string field. Reports `missing_rule` when absent or null (and, with
/// `empty_is_missing`, when empty: FluxOS's `!field`), `wrong-type` when not a string.
pub(crate) fn required_str<'a>(
    obj: &'a Map<String, Value>,
    base: &str,
    key: &str,
    missing_rule: &'static str,
    empty_is_missing: bool,
    r: &mut Report,
) -> Option<&'a str> {
    let path = join(base, key);
    match obj.get(key) {
        None | Some(Value::Null) => {
            r.push(&path, missing_rule, format!("`{key}` is required"));
            None
        }
        Some(Value::String(s)) if s.is_empty() && empty_is_missing => {
            r.push(&path, missing_rule, format!("`{key}` must not be empty"));
            None
        }
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            r.push(
                &path,
                rule::WRONG_TYPE,
                format!("`{key}` must be a string, not {}", type_name(other)),
            );
            None
        }
    }
}

/// Reads a required array of strings. Absent or null gives `missing_rule`; a non-array or
/// a non-string element gives `wrong-type` at its own path. Returns the array's length and
/// the strings that are strings, with their index.
pub(crate) fn string_array<'a>(
    obj: &'a Map<String, Value>,
    base: &str,
    key: &str,
    missing_rule: &'static str,
    r: &mut Report,
) -> Option<Vec<(usize, &'a str)>> {
    let path = join(base, key);
    let items = match obj.get(key) {
        None | Some(Value::Null) => {
            r.push(
                &path,
                missing_rule,
                format!("`{key}` is required (an array of strings)"),
            );
            return None;
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            r.push(
                &path,
                rule::WRONG_TYPE,
                format!(
                    "`{key}` must be an array of strings, not {}",
                    type_name(other)
                ),
            );
            return None;
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => out.push((i, s.as_str())),
            other => r.push(
                &index(&path, i),
                rule::WRONG_TYPE,
                format!("`{key}` entries must be strings, not {}", type_name(other)),
            ),
        }
    }
    Some(out)
}

/// Reads an optional-in-FluxOS but typed number: absent or null gives `missing_rule`,
/// another type `wrong_rule`, more than `max_decimals` decimals `too-many-decimals`.
pub(crate) fn number(
    obj: &Map<String, Value>,
    base: &str,
    key: &str,
    missing_rule: &'static str,
    wrong_rule: &'static str,
    max_decimals: usize,
    r: &mut Report,
) -> Option<f64> {
    let path = join(base, key);
    match obj.get(key) {
        None | Some(Value::Null) => {
            r.push(
                &path,
                missing_rule,
                format!("`{key}` is required (a number)"),
            );
            None
        }
        Some(Value::Number(n)) => {
            let x = n.as_f64()?;
            check_decimals(x, &path, key, max_decimals, r)
        }
        Some(other) => {
            r.push(
                &path,
                wrong_rule,
                format!("`{key}` must be a number, not {}", type_name(other)),
            );
            None
        }
    }
}

/// `Some(x)` when `x` has at most `max_decimals` decimals, else reports and gives `None`.
pub(crate) fn check_decimals(
    x: f64,
    path: &str,
    what: &str,
    max_decimals: usize,
    r: &mut Report,
) -> Option<f64> {
    let found = decimals(x);
    if found > max_decimals {
        let allowed = if max_decimals == 0 {
            "a whole number".to_owned()
        } else {
            format!("at most {max_decimals} decimals")
        };
        r.push(
            path,
            rule::TOO_MANY_DECIMALS,
            format!("`{what}` is {x}; it must have {allowed}"),
        );
        None
    } else {
        Some(x)
    }
}
