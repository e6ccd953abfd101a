//! What the runtime is asked to run: an [`AppPlan`], already checked against the app
//! spec rules elsewhere, and the Docker names derived from it.
//!
//! The plan is the runtime's own input type, independent of the spec's wire format, so
//! the spec can evolve (Flux v1–v8) without touching container code. `validate` checks
//! only what Docker itself needs: names usable in Docker object names, port lists that pair
//! up, positive limits and a `containerData` value this runtime understands.

use serde::{Deserialize, Serialize};

use super::error::RuntimeError;

/// One app to run on this node: its components in start order (index 0 first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppPlan {
    /// Flux app name: ASCII letters and digits, and (v8) inner hyphens.
    pub app: String,
    /// Hash of the spec this plan came from; a different hash means "replace containers".
    pub spec_hash: String,
    pub components: Vec<ComponentPlan>,
}

/// One component: one container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentPlan {
    /// Component name (ASCII letters and digits).
    pub name: String,
    /// Image reference, e.g. `registry:5000/org/image:tag`; `:latest` when no tag is given.
    pub repotag: String,
    /// Registry credentials as `user:password`, for private images.
    pub repoauth: Option<RegistryAuth>,
    /// Host ports, published on the node's advertise address, tcp and udp.
    pub ports: Vec<u16>,
    /// Container port for each entry of `ports`, same length.
    pub container_ports: Vec<u16>,
    /// `KEY=value` environment entries.
    pub env: Vec<String>,
    /// Container command (Docker `Cmd`); empty keeps the image's default.
    pub commands: Vec<String>,
    /// Flux `containerData`, see [`DataMounts::parse`].
    pub container_data: String,
    /// CPU cores (Docker `NanoCpus = cpu × 1e9`).
    pub cpu: f64,
    /// Memory limit in MB (Docker `Memory = ram × 1024 × 1024`).
    pub ram_mb: u64,
    /// Disk allowance in GB. Recorded only: Docker's local volume driver cannot cap size.
    pub hdd_gb: u64,
}

/// Registry credentials `user:password`. `Debug` never prints the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RegistryAuth(pub String);

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = self.0.split_once(':').map_or("?", |(u, _)| u);
        write!(f, "RegistryAuth({user}:***)")
    }
}

impl RegistryAuth {
    /// Splits into (user, password).
    pub fn user_password(&self) -> Option<(&str, &str)> {
        self.0.split_once(':').filter(|(u, _)| !u.is_empty())
    }
}

/// Where a component's data lives, parsed from Flux `containerData`.
///
/// Supported syntax: `|`-separated entries, each `[prefix:]/absolute/path`.
/// - no prefix, or a prefix of sync flags `r`, `g`, `s` (e.g. `g:/data`): the component's
///   own data volume mounted at the path. At most one such entry. The flags are recorded;
///   data synchronisation between instances is not implemented, data stays on this node.
/// - a decimal prefix `N:` (e.g. `0:/shared`): the data volume of component `N` of the
///   same app mounted at the path (Flux's cross-component mount).
///
/// Host paths are never mounted: every source is a named volume owned by the app.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataMounts {
    /// `(component index whose volume is mounted, path in the container)`, in spec order.
    pub mounts: Vec<(usize, String)>,
    /// Sync flags given on the component's own entry (`r`, `g`, `s`), informational.
    pub sync_flags: String,
}

impl DataMounts {
    /// Parses `value` for component `own` of an app with `count` components.
    pub fn parse(value: &str, own: usize, count: usize) -> Result<DataMounts, String> {
        let mut out = DataMounts::default();
        let mut own_seen = false;
        for entry in value.split('|').map(str::trim).filter(|e| !e.is_empty()) {
            let (prefix, path) = match entry.split_once(':') {
                Some((p, path)) => (p, path),
                None => ("", entry),
            };
            if !path.starts_with('/') || path.contains("..") || path.contains(':') {
                return Err(format!(
                    "`{entry}`: the container path must be absolute, without `..` or `:`"
                ));
            }
            let index = if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) {
                let n: usize = prefix
                    .parse()
                    .map_err(|_| format!("`{entry}`: component index too large"))?;
                if n >= count {
                    return Err(format!(
                        "`{entry}`: component index {n} does not exist (the app has {count})"
                    ));
                }
                n
            } else if prefix.bytes().all(|b| matches!(b, b'r' | b'g' | b's')) {
                if own_seen {
                    return Err(format!(
                        "`{entry}`: only one entry may name the component's own data"
                    ));
                }
                own_seen = true;
                out.sync_flags = prefix.to_owned();
                own
            } else {
                return Err(format!(
                    "`{entry}`: unknown prefix `{prefix}` (use r, g, s or a component index)"
                ));
            };
            if out.mounts.iter().any(|(_, p)| p == path) {
                return Err(format!("`{entry}`: path {path} is mounted twice"));
            }
            out.mounts.push((index, path.to_owned()));
        }
        Ok(out)
    }
}

/// Most components an app may have (Flux's per-app limit).
pub const MAX_COMPONENTS: usize = 10;
/// Docker object names are at most 255 bytes; Flux app and component names are far shorter.
/// 63 keeps `flux{component}_{app}` usable as a DNS label.
const MAX_NAME_LEN: usize = 63;

impl AppPlan {
    /// Docker network of the app.
    pub fn network_name(&self) -> String {
        network_name(&self.app)
    }

    /// Checks what Docker needs; the error names the offending field.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let bad = |field: String, reason: String| RuntimeError::InvalidPlan {
            app: self.app.clone(),
            field,
            reason,
        };
        check_app_name(&self.app).map_err(|r| bad("app".into(), r))?;
        if self.components.is_empty() || self.components.len() > MAX_COMPONENTS {
            return Err(bad(
                "components".into(),
                format!("must hold 1 to {MAX_COMPONENTS} components"),
            ));
        }
        let count = self.components.len();
        for (i, c) in self.components.iter().enumerate() {
            let f = |name: &str| format!("components[{i}].{name}");
            check_name(&c.name).map_err(|r| bad(f("name"), r))?;
            if self.components[..i].iter().any(|o| o.name == c.name) {
                return Err(bad(f("name"), format!("`{}` is used twice", c.name)));
            }
            let name_len = container_name(&c.name, &self.app).len();
            if name_len > MAX_NAME_LEN {
                return Err(bad(
                    f("name"),
                    format!("flux{{component}}_{{app}} is {name_len} chars, over {MAX_NAME_LEN}"),
                ));
            }
            if c.repotag.trim().is_empty() || c.repotag.contains(char::is_whitespace) {
                return Err(bad(f("repotag"), "must be an image reference".into()));
            }
            if let Some(auth) = &c.repoauth {
                if auth.user_password().is_none() {
                    return Err(bad(f("repoauth"), "must be `user:password`".into()));
                }
            }
            if c.ports.len() != c.container_ports.len() {
                return Err(bad(
                    f("containerPorts"),
                    format!(
                        "{} ports but {} containerPorts",
                        c.ports.len(),
                        c.container_ports.len()
                    ),
                ));
            }
            if c.ports.iter().chain(&c.container_ports).any(|p| *p == 0) {
                return Err(bad(f("ports"), "port 0 is not a port".into()));
            }
            if !(c.cpu.is_finite() && c.cpu > 0.0) {
                return Err(bad(
                    f("cpu"),
                    format!("{} is not a positive core count", c.cpu),
                ));
            }
            if c.ram_mb == 0 {
                return Err(bad(f("ram"), "must be at least 1 MB".into()));
            }
            if let Some(e) = c.env.iter().find(|e| !e.contains('=')) {
                return Err(bad(
                    f("environmentParameters"),
                    format!("`{e}` is not KEY=value"),
                ));
            }
            DataMounts::parse(&c.container_data, i, count)
                .map_err(|r| bad(f("containerData"), r))?;
        }
        let mut host_ports: Vec<u16> = self
            .components
            .iter()
            .flat_map(|c| c.ports.clone())
            .collect();
        host_ports.sort_unstable();
        if let Some(w) = host_ports.windows(2).find(|w| w[0] == w[1]) {
            return Err(bad(
                "ports".into(),
                format!("host port {} is used twice", w[0]),
            ));
        }
        Ok(())
    }
}

/// Flux v8 app names may hold inner hyphens (an RFC 1035 label, as `proto` validates);
/// Docker accepts `-` in container, network and volume names.
fn check_app_name(name: &str) -> Result<(), String> {
    let inner = name.trim_start_matches('-').trim_end_matches('-');
    if inner.len() != name.len() || check_name(&name.replace('-', "")).is_err() {
        return Err(format!(
            "`{name}` must be ASCII letters, digits and inner hyphens"
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "`{name}` must be non-empty ASCII letters and digits"
        ));
    }
    Ok(())
}

/// Suffix of every Docker object name this process creates; empty unless the daemon was
/// given `docker.name_suffix`. Several nodes of a local testnet share one Docker engine,
/// where FluxOS's fixed names would collide; on a real node the names are FluxOS's exactly.
/// Set once per process, before the first container is created.
static NAME_SUFFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the name suffix for this process. Returns `false` if it was already set.
pub fn set_name_suffix(suffix: &str) -> bool {
    NAME_SUFFIX.set(suffix.to_owned()).is_ok()
}

fn suffix() -> &'static str {
    NAME_SUFFIX.get().map_or("", String::as_str)
}

/// `flux{component}_{app}` (plus the name suffix, if any): the container name.
pub fn container_name(component: &str, app: &str) -> String {
    format!("flux{component}_{app}{}", suffix())
}

/// `flux{component}_{app}`: the component's alias on the app network, how the other
/// components of the app reach it (never suffixed).
pub fn component_alias(component: &str, app: &str) -> String {
    format!("flux{component}_{app}")
}

/// `fluxDockerNetwork_{app}` (plus the name suffix, if any).
pub fn network_name(app: &str) -> String {
    format!("fluxDockerNetwork_{app}{}", suffix())
}

/// Named volume holding a component's data: `flux{component}_{app}_data` (the suffix,
/// if any, before `_data`).
pub fn volume_name(component: &str, app: &str) -> String {
    format!("flux{component}_{app}{}_data", suffix())
}

/// Normalises an image reference so a pull fetches one tag: Docker pulls *every* tag of a
/// repository when none is given.
pub fn normalize_image(repotag: &str) -> String {
    let last = repotag.rsplit('/').next().unwrap_or(repotag);
    if last.contains(':') || last.contains('@') {
        repotag.to_owned()
    } else {
        format!("{repotag}:latest")
    }
}

/// Registry host of an image reference, as Docker decides it (first path element with a
/// `.` or `:` or equal to `localhost`), else Docker Hub.
pub fn registry_of(repotag: &str) -> &str {
    match repotag.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn component(name: &str) -> ComponentPlan {
        ComponentPlan {
            name: name.into(),
            repotag: "127.0.0.1:5000/x/y:1".into(),
            repoauth: None,
            ports: vec![],
            container_ports: vec![],
            env: vec![],
            commands: vec![],
            container_data: "/data".into(),
            cpu: 0.5,
            ram_mb: 128,
            hdd_gb: 1,
        }
    }

    #[test]
    fn container_data_forms() {
        let d = DataMounts::parse("/data", 1, 2).unwrap();
        assert_eq!(d.mounts, vec![(1, "/data".to_string())]);
        let d = DataMounts::parse("g:/data|0:/shared", 1, 2).unwrap();
        assert_eq!(d.mounts, vec![(1, "/data".into()), (0, "/shared".into())]);
        assert_eq!(d.sync_flags, "g");
        let d = DataMounts::parse("0:/x|1:/y", 1, 2).unwrap();
        assert_eq!(d.mounts, vec![(0, "/x".into()), (1, "/y".into())]);
        assert_eq!(DataMounts::parse("", 0, 1).unwrap().mounts, vec![]);
        for bad in [
            "data",
            "/a|/b",
            "5:/x",
            "x:/y",
            "/a/../b",
            "/a|0:/a",
            "/host:/data",
        ] {
            assert!(DataMounts::parse(bad, 0, 2).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn validate_names_the_field() {
        let mut plan = AppPlan {
            app: "web".into(),
            spec_hash: "h".into(),
            components: vec![component("front"), component("db")],
        };
        plan.validate().unwrap();
        plan.components[1].ports = vec![8080];
        let err = plan.validate().unwrap_err().to_string();
        assert!(err.contains("components[1].containerPorts"), "{err}");
        plan.components[1].container_ports = vec![80];
        plan.components[0].ports = vec![8080];
        plan.components[0].container_ports = vec![80];
        assert!(
            plan.validate()
                .unwrap_err()
                .to_string()
                .contains("8080 is used twice")
        );
        plan.components[0].ports = vec![8081];
        plan.components[0].cpu = f64::NAN;
        assert!(
            plan.validate()
                .unwrap_err()
                .to_string()
                .contains("components[0].cpu")
        );
        plan.components[0].cpu = 1.0;
        plan.components[0].repoauth = Some(RegistryAuth("nopassword".into()));
        assert!(
            plan.validate()
                .unwrap_err()
                .to_string()
                .contains("components[0].repoauth")
        );
        plan.components[0].repoauth = None;
        plan.app = "v-rising".into();
        plan.validate().unwrap();
        plan.app = "-web".into();
        assert!(plan.validate().is_err());
        plan.app = "bad_name".into();
        assert!(
            plan.validate()
                .unwrap_err()
                .to_string()
                .contains("field `app`")
        );
    }

    #[test]
    fn image_references() {
        assert_eq!(normalize_image("busybox"), "busybox:latest");
        assert_eq!(
            normalize_image("127.0.0.1:5000/a/b"),
            "127.0.0.1:5000/a/b:latest"
        );
        assert_eq!(
            normalize_image("127.0.0.1:5000/a/b:v1"),
            "127.0.0.1:5000/a/b:v1"
        );
        assert_eq!(registry_of("127.0.0.1:5000/a/b:v1"), "127.0.0.1:5000");
        assert_eq!(registry_of("org/image:v1"), "docker.io");
        assert_eq!(registry_of("ghcr.io/org/image"), "ghcr.io");
    }

    #[test]
    fn auth_debug_hides_password() {
        let a = RegistryAuth("alice:s3cret".into());
        assert_eq!(format!("{a:?}"), "RegistryAuth(alice:***)");
    }
}
