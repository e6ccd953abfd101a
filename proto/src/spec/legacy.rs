//! v1–v3 specs: one container described at the top level, with string-typed ports (v2/v3)
//! and the historical `enviromentParameters` spelling. They are read here and normalised
//! into an [`AppSpec`] with a single component named after the app, which is how FluxOS
//! itself migrates them (`appUtilities` v3 → v8).

use serde::Deserialize;

use super::numbers::{LoosePort, whole, whole_opt};
use super::{AppSpec, Component};

/// Instances of a v1/v2 app, which predate the field: FluxOS's minimum, 3.
pub const LEGACY_DEFAULT_INSTANCES: u32 = 3;

fn default_instances() -> u32 {
    LEGACY_DEFAULT_INSTANCES
}

#[derive(Debug, Deserialize)]
pub(crate) struct LegacySpec {
    #[serde(deserialize_with = "whole")]
    version: u32,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    owner: String,
    repotag: String,
    /// v1: a single port pair.
    #[serde(default)]
    port: Option<LoosePort>,
    #[serde(default, rename = "containerPort")]
    container_port: Option<LoosePort>,
    /// v2/v3: port arrays, usually strings.
    #[serde(default)]
    ports: Vec<LoosePort>,
    #[serde(default, rename = "containerPorts")]
    container_ports: Vec<LoosePort>,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(
        default,
        rename = "enviromentParameters",
        alias = "environmentParameters"
    )]
    environment_parameters: Vec<String>,
    #[serde(default)]
    commands: Vec<String>,
    #[serde(rename = "containerData")]
    container_data: String,
    cpu: f64,
    #[serde(deserialize_with = "whole")]
    ram: u64,
    #[serde(deserialize_with = "whole")]
    hdd: u64,
    #[serde(default)]
    tiered: Option<bool>,
    #[serde(default)]
    cpubasic: Option<f64>,
    #[serde(default, deserialize_with = "whole_opt")]
    rambasic: Option<u64>,
    #[serde(default, deserialize_with = "whole_opt")]
    hddbasic: Option<u64>,
    #[serde(default)]
    cpusuper: Option<f64>,
    #[serde(default, deserialize_with = "whole_opt")]
    ramsuper: Option<u64>,
    #[serde(default, deserialize_with = "whole_opt")]
    hddsuper: Option<u64>,
    #[serde(default)]
    cpubamf: Option<f64>,
    #[serde(default, deserialize_with = "whole_opt")]
    rambamf: Option<u64>,
    #[serde(default, deserialize_with = "whole_opt")]
    hddbamf: Option<u64>,
    #[serde(default = "default_instances", deserialize_with = "whole")]
    instances: u32,
}

impl LegacySpec {
    pub(crate) fn normalise(self) -> AppSpec {
        let (ports, container_ports, domains) = match (self.port, self.container_port) {
            (Some(p), Some(c)) if self.ports.is_empty() => {
                (vec![p.0], vec![c.0], vec![String::new()])
            }
            _ => (
                self.ports.iter().map(|p| p.0).collect(),
                self.container_ports.iter().map(|p| p.0).collect(),
                self.domains,
            ),
        };
        let component = Component {
            name: self.name.clone(),
            description: self.description.clone(),
            repotag: self.repotag,
            ports,
            container_ports,
            domains,
            environment_parameters: self.environment_parameters,
            commands: self.commands,
            container_data: self.container_data,
            cpu: self.cpu,
            ram: self.ram,
            hdd: self.hdd,
            repoauth: None,
            secrets: None,
            tiered: self.tiered,
            cpubasic: self.cpubasic,
            rambasic: self.rambasic,
            hddbasic: self.hddbasic,
            cpusuper: self.cpusuper,
            ramsuper: self.ramsuper,
            hddsuper: self.hddsuper,
            cpubamf: self.cpubamf,
            rambamf: self.rambamf,
            hddbamf: self.hddbamf,
        };
        AppSpec {
            version: self.version,
            name: self.name,
            description: self.description,
            owner: self.owner,
            compose: vec![component],
            instances: self.instances,
            contacts: Vec::new(),
            geolocation: Vec::new(),
            expire: None,
            nodes: Vec::new(),
            staticip: false,
            enterprise: None,
            datacenter: None,
        }
    }
}
