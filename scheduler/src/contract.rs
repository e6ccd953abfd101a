//! The JSON shapes of `fluxnode schedule` (a fixed interface other tools use).
//!
//! - NODES.json: an array of [`NodeRecord`]s, converted with [`parse_nodes`] so every
//!   error names the record index and the field.
//! - RUNNING.json: an array of [`crate::Running`] (`{"app", "node"}`).
//! - Output: [`ScheduleOutput`] — `placements`, `stop`, `unplaced`; field names fixed,
//!   extra fields (`keep`, `reason`) added.

use proto::geo::Location;
use proto::tier::{Resources, Tier};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::NodeInfo;

/// One NODES.json record: cpu in cores, ram in MB, hdd in GB; totals are the node's
/// whole size (the scheduler applies the system reserve), `used_*` what apps use now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub id: String,
    /// `cumulus`, `nimbus` or `stratus` (any case).
    pub tier: String,
    /// `CONT_CC_REGION`, e.g. `EU_DE_Hesse`.
    pub geo: String,
    pub cpu: f64,
    pub ram: f64,
    pub hdd: f64,
    #[serde(default)]
    pub used_cpu: f64,
    #[serde(default)]
    pub used_ram: f64,
    #[serde(default)]
    pub used_hdd: f64,
    pub bench_score: f64,
    pub uptime: f64,
}

/// A problem with one field of one record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {problem}")]
pub struct FieldError {
    pub field: &'static str,
    pub problem: String,
}

impl FieldError {
    fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }
}

/// Why NODES.json could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NodesError {
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("expected a JSON array of node records at the top level")]
    NotAnArray,
    #[error("record {index}: {source}")]
    Record { index: usize, source: FieldError },
}

fn field<'a>(
    obj: &'a serde_json::Map<String, Value>,
    name: &'static str,
) -> Result<&'a Value, FieldError> {
    obj.get(name)
        .ok_or_else(|| FieldError::new(name, "missing; every node record needs it"))
}

fn string(obj: &serde_json::Map<String, Value>, name: &'static str) -> Result<String, FieldError> {
    field(obj, name)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| FieldError::new(name, "must be a string"))
}

fn number(
    obj: &serde_json::Map<String, Value>,
    name: &'static str,
    default: Option<f64>,
) -> Result<f64, FieldError> {
    match (obj.get(name), default) {
        (None, Some(d)) => Ok(d),
        (None, None) => Err(FieldError::new(name, "missing; every node record needs it")),
        (Some(v), _) => v
            .as_f64()
            .ok_or_else(|| FieldError::new(name, format!("must be a number, found {v}"))),
    }
}

impl NodeRecord {
    /// Reads a record from a JSON value, naming the field that is missing or mistyped.
    /// Unknown fields are ignored.
    pub fn from_value(v: &Value) -> Result<Self, FieldError> {
        let obj = v
            .as_object()
            .ok_or_else(|| FieldError::new("(record)", "must be a JSON object"))?;
        Ok(Self {
            id: string(obj, "id")?,
            tier: string(obj, "tier")?,
            geo: string(obj, "geo")?,
            cpu: number(obj, "cpu", None)?,
            ram: number(obj, "ram", None)?,
            hdd: number(obj, "hdd", None)?,
            used_cpu: number(obj, "used_cpu", Some(0.0))?,
            used_ram: number(obj, "used_ram", Some(0.0))?,
            used_hdd: number(obj, "used_hdd", Some(0.0))?,
            bench_score: number(obj, "bench_score", None)?,
            uptime: number(obj, "uptime", None)?,
        })
    }
}

fn amount(name: &'static str, v: f64) -> Result<f64, FieldError> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(FieldError::new(
            name,
            format!("must be a finite number >= 0, found {v}"),
        ))
    }
}

fn used(name: &'static str, used: f64, total_name: &str, total: f64) -> Result<f64, FieldError> {
    let u = amount(name, used)?;
    if u > total {
        return Err(FieldError::new(
            name,
            format!("{u} exceeds the node's {total_name} {total}"),
        ));
    }
    Ok(u)
}

impl TryFrom<NodeRecord> for NodeInfo {
    type Error = FieldError;

    fn try_from(r: NodeRecord) -> Result<Self, FieldError> {
        if r.id.trim().is_empty() {
            return Err(FieldError::new("id", "must not be empty"));
        }
        let tier: Tier = r
            .tier
            .parse()
            .map_err(|e: String| FieldError::new("tier", e))?;
        let mut geo = Location::parse(&r.geo).map_err(|e| FieldError::new("geo", e.to_string()))?;
        // Continent and country codes are upper case in every source; normalise so
        // `eu_de_Hesse` and `EU_DE_Hesse` count as one place for spread.
        geo.continent.make_ascii_uppercase();
        geo.country.make_ascii_uppercase();
        let cpu = amount("cpu", r.cpu)?;
        let ram = amount("ram", r.ram)?;
        let hdd = amount("hdd", r.hdd)?;
        let used_cpu = used("used_cpu", r.used_cpu, "cpu", cpu)?;
        let used_ram = used("used_ram", r.used_ram, "ram", ram)?;
        let used_hdd = used("used_hdd", r.used_hdd, "hdd", hdd)?;
        let bench_score = amount("bench_score", r.bench_score)?;
        if !(0.0..=1.0).contains(&r.uptime) {
            return Err(FieldError::new(
                "uptime",
                format!("must be a fraction between 0 and 1, found {}", r.uptime),
            ));
        }
        Ok(NodeInfo {
            id: r.id,
            tier,
            geo,
            total: Resources::new(cpu, ram.round() as u64, hdd.round() as u64),
            used: Resources::new(used_cpu, used_ram.round() as u64, used_hdd.round() as u64),
            bench_score,
            uptime: r.uptime,
        })
    }
}

/// Parses NODES.json text. Errors name the record index (from 0) and the field.
pub fn parse_nodes(json: &str) -> Result<Vec<NodeInfo>, NodesError> {
    let v: Value = serde_json::from_str(json)?;
    let list = v.as_array().ok_or(NodesError::NotAnArray)?;
    list.iter()
        .enumerate()
        .map(|(index, v)| {
            NodeRecord::from_value(v)
                .and_then(NodeInfo::try_from)
                .map_err(|source| NodesError::Record { index, source })
        })
        .collect()
}

/// The scheduler's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleOutput {
    /// One entry per app, in batch order (registration height, then name).
    pub placements: Vec<Placement>,
    /// Running instances to stop, sorted by app then node.
    pub stop: Vec<Stop>,
    /// Apps left short of their instance count, in batch order.
    pub unplaced: Vec<Unplaced>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub app: String,
    /// Nodes that start a new instance, in pick order.
    pub nodes: Vec<String>,
    /// Nodes whose running instance stays (not in the fixed contract; added).
    #[serde(default)]
    pub keep: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    pub app: String,
    pub node: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unplaced {
    pub app: String,
    pub missing: u32,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"id": "n1", "tier": "cumulus", "geo": "EU_DE_HE",
      "cpu": 4.0, "ram": 8000, "hdd": 220, "used_cpu": 0.5, "used_ram": 1000, "used_hdd": 10,
      "bench_score": 812.5, "uptime": 0.997}"#;

    #[test]
    fn parses_the_documented_record() {
        let nodes = parse_nodes(&format!("[{GOOD}]")).unwrap();
        assert_eq!(nodes[0].total, Resources::new(4.0, 8_000, 220));
        assert_eq!(nodes[0].used, Resources::new(0.5, 1_000, 10));
        assert_eq!(nodes[0].geo.to_string(), "EU_DE_HE");
    }

    fn error_of(record: &str) -> String {
        parse_nodes(&format!("[{GOOD}, {record}]"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_index_and_field() {
        let cases = [
            (r#"{"id": "n2"}"#.to_string(), "tier"),
            (GOOD.replace("\"cumulus\"", "\"cirrus\""), "tier"),
            (GOOD.replace("EU_DE_HE", "EU__HE"), "geo"),
            (GOOD.replace("4.0", "\"four\""), "cpu"),
            (GOOD.replace("0.997", "1.5"), "uptime"),
            (
                GOOD.replace("\"used_cpu\": 0.5", "\"used_cpu\": 9"),
                "used_cpu",
            ),
            (GOOD.replace("812.5", "-1"), "bench_score"),
            (GOOD.replace("\"n1\"", "\"\""), "id"),
        ];
        for (record, field) in cases {
            let e = error_of(&record);
            assert!(
                e.starts_with("record 1: field `") && e.contains(&format!("`{field}`")),
                "{record} gave {e}"
            );
        }
        assert!(matches!(parse_nodes("{}"), Err(NodesError::NotAnArray)));
        assert!(matches!(parse_nodes("[1"), Err(NodesError::Json(_))));
        assert!(error_of("7").contains("must be a JSON object"));
    }

    #[test]
    fn output_field_names_are_the_contract() {
        let out = ScheduleOutput {
            placements: vec![Placement {
                app: "a".into(),
                nodes: vec!["n7".into()],
                keep: vec![],
            }],
            stop: vec![Stop {
                app: "a".into(),
                node: "n3".into(),
                reason: "r".into(),
            }],
            unplaced: vec![Unplaced {
                app: "b".into(),
                missing: 1,
                reason: "r".into(),
            }],
        };
        let v = serde_json::to_value(&out).unwrap();
        assert_eq!(v["placements"][0]["app"], "a");
        assert_eq!(v["placements"][0]["nodes"][0], "n7");
        assert_eq!(v["stop"][0]["node"], "n3");
        assert_eq!(v["unplaced"][0]["missing"], 1);
        let back: ScheduleOutput = serde_json::from_value(v).unwrap();
        assert_eq!(back, out);
    }
}
