//! What HAProxy should look like for a locations snapshot: pure, so naming, modes, slot
//! counts and the sticky-cookie rule are tested without HAProxy.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::watch::LocationsSnapshot;

/// Fewest server slots per backend. Slots are filled and emptied through HAProxy's runtime
/// API without a reload; a backend outgrowing its slots needs a reload, so start with
/// room for a typical Flux app (3 instances) plus a replacement coming up.
pub const MIN_SLOTS: usize = 4;

/// How a backend's traffic is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Routed by the `Host` header on the shared HTTP listener.
    Http,
    /// A listener of its own on the app's port (no host name in plain TCP).
    Tcp,
}

/// One HAProxy backend and what reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendPlan {
    /// `app_<name>_<port>` (lowercase app name).
    pub name: String,
    pub app: String,
    pub port: u16,
    pub mode: Mode,
    /// Host names routed here (HTTP): `<app>_<port>.<domain>`, and `<app>.<domain>` for
    /// the app's first port.
    pub hosts: Vec<String>,
    /// `ip:port` of each serving instance, sorted.
    pub servers: Vec<String>,
}

impl BackendPlan {
    /// Slots for this backend: a power of two, at least [`MIN_SLOTS`], so growth by one
    /// instance rarely needs a reload.
    pub fn slots(&self) -> usize {
        self.servers.len().max(MIN_SLOTS).next_power_of_two()
    }

    /// The sticky cookie only pays with a choice of servers (FDM sets it with 2+).
    pub fn sticky(&self) -> bool {
        self.servers.len() >= 2
    }
}

/// The whole plan, backends by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub backends: BTreeMap<String, BackendPlan>,
    /// Why an app or port was left out (name or port clash), for the log.
    pub skipped: Vec<String>,
}

/// What needs a reload when it changes: everything but the server addresses, as long as
/// they fit the slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Structure(Vec<(String, Mode, u16, Vec<String>, usize, bool)>);

impl Plan {
    pub fn structure(&self) -> Structure {
        Structure(
            self.backends
                .values()
                .map(|b| {
                    (
                        b.name.clone(),
                        b.mode,
                        b.port,
                        b.hosts.clone(),
                        b.slots(),
                        b.sticky(),
                    )
                })
                .collect(),
        )
    }

    pub fn servers(&self) -> usize {
        self.backends.values().map(|b| b.servers.len()).sum()
    }
}

/// Formats `ip:port`, bracketing IPv6.
pub fn address(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The plan for `snap`: one backend per app port; HTTP unless the port is in `tcp_ports`.
/// Servers are the instances that serve ([`crate::api::watch::WatchedInstance::serving`]).
pub fn plan(snap: &LocationsSnapshot, domain: &str, tcp_ports: &BTreeSet<u16>) -> Plan {
    let mut out = Plan::default();
    let mut tcp_taken: BTreeMap<u16, String> = BTreeMap::new();
    for app in &snap.apps {
        let lower = app.name.to_ascii_lowercase();
        let mut ports: Vec<u16> = Vec::new();
        for p in &app.ports {
            if !ports.contains(p) {
                ports.push(*p);
            }
        }
        for (i, &port) in ports.iter().enumerate() {
            let name = format!("app_{lower}_{port}");
            if out.backends.contains_key(&name) {
                out.skipped.push(format!(
                    "app {:?}: another app differs only in case; its names route there",
                    app.name
                ));
                continue;
            }
            let mode = if tcp_ports.contains(&port) {
                if let Some(other) = tcp_taken.get(&port) {
                    out.skipped.push(format!(
                        "app {:?} port {port}: TCP port already served for app {other:?}",
                        app.name
                    ));
                    continue;
                }
                tcp_taken.insert(port, app.name.clone());
                Mode::Tcp
            } else {
                Mode::Http
            };
            let mut hosts = vec![format!("{lower}_{port}.{domain}")];
            if i == 0 {
                hosts.insert(0, format!("{lower}.{domain}"));
            }
            let mut servers: Vec<String> = app
                .instances
                .iter()
                .filter(|inst| inst.serving())
                .map(|inst| address(&inst.ip, port))
                .collect();
            servers.sort();
            servers.dedup();
            out.backends.insert(
                name.clone(),
                BackendPlan {
                    name,
                    app: app.name.clone(),
                    port,
                    mode,
                    hosts,
                    servers,
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::watch::{AppLocations, WatchedInstance};
    use serde_json::json;

    fn inst(ip: &str, extra: serde_json::Value) -> WatchedInstance {
        WatchedInstance {
            node: format!("n-{ip}"),
            ip: ip.into(),
            extra: extra.as_object().cloned().unwrap_or_default(),
        }
    }

    fn snap() -> LocationsSnapshot {
        LocationsSnapshot {
            apps: vec![
                AppLocations {
                    name: "Demo".into(),
                    ports: vec![31000, 31001],
                    instances: vec![
                        inst("10.0.0.2", json!({})),
                        inst("10.0.0.1", json!({})),
                        inst("10.0.0.3", json!({"healthy": false})),
                    ],
                },
                AppLocations {
                    name: "db".into(),
                    ports: vec![31001],
                    instances: vec![inst("10.0.0.9", json!({}))],
                },
            ],
        }
    }

    #[test]
    fn backends_per_port_with_fdm_names() {
        let p = plan(&snap(), "app.localtest", &BTreeSet::new());
        let main = &p.backends["app_demo_31000"];
        assert_eq!(
            main.hosts,
            ["demo.app.localtest", "demo_31000.app.localtest"]
        );
        assert_eq!(main.servers, ["10.0.0.1:31000", "10.0.0.2:31000"]);
        assert!(main.sticky());
        assert_eq!(main.slots(), 4);
        assert_eq!(
            p.backends["app_demo_31001"].hosts,
            ["demo_31001.app.localtest"]
        );
        let db = &p.backends["app_db_31001"];
        assert!(!db.sticky());
        assert_eq!(db.mode, Mode::Http);
    }

    #[test]
    fn tcp_ports_get_their_own_listener_once() {
        let p = plan(&snap(), "d", &BTreeSet::from([31001]));
        assert_eq!(p.backends["app_demo_31001"].mode, Mode::Tcp);
        assert!(!p.backends.contains_key("app_db_31001"));
        assert_eq!(p.skipped.len(), 1);
    }

    #[test]
    fn only_structure_changes_need_a_reload() {
        let a = plan(&snap(), "d", &BTreeSet::new());
        let mut s = snap();
        s.apps[0].instances[0].ip = "10.0.0.7".into();
        let b = plan(&s, "d", &BTreeSet::new());
        assert_ne!(a, b);
        assert_eq!(a.structure(), b.structure());
        s.apps[0].instances.truncate(1);
        let c = plan(&s, "d", &BTreeSet::new());
        assert_ne!(
            a.structure(),
            c.structure(),
            "cookie goes with the second server"
        );
    }
}
