//! The Docker objects of an app, built from its plan: container create bodies, network and
//! volume requests, and the labels that let a restarted daemon find them again.
//!
//! Everything here is pure, so the security properties (never privileged, never the host
//! network, no host bind mount, no added capability) are checked by unit tests and again on
//! the real engine by the integration tests.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, HostConfigLogConfig, Mount, MountTypeEnum,
    NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
    VolumeCreateOptions,
};

use super::plan::{AppPlan, DataMounts, container_name, normalize_image, volume_name};

/// Label keys on every container, network and volume the runtime creates.
pub mod labels {
    pub const APP: &str = "io.fluxnode.app";
    pub const SPEC_HASH: &str = "io.fluxnode.spec-hash";
    pub const COMPONENT: &str = "io.fluxnode.component";
    /// Position of the component in the spec, so adoption knows the start order.
    pub const COMPONENT_INDEX: &str = "io.fluxnode.component-index";
    pub const NODE: &str = "io.fluxnode.node";
    /// The image reference as planned (before Docker resolves it), for image GC.
    pub const IMAGE: &str = "io.fluxnode.image";
}

/// Node-level settings that shape every container.
#[derive(Debug, Clone)]
pub struct NodeContext<'a> {
    pub node_id: &'a str,
    /// Host address ports are published on.
    pub advertise_ip: &'a str,
    /// Extra labels put on every object (e.g. `io.fluxnode.test=1`).
    pub extra_labels: &'a [(String, String)],
}

/// Docker's json-file log driver, rotated: without a cap one chatty app fills the disk.
/// 3 × 10 MB per container keeps recent history for `docker logs`.
const LOG_MAX_SIZE: &str = "10m";
const LOG_MAX_FILES: &str = "3";

/// Capabilities removed from Docker's default set for every app container. Docker's
/// default keeps 14; an app image may be any public image (databases, web servers, chain
/// daemons whose entrypoints `chown` their data and drop to a service user), so these are
/// kept: CHOWN, DAC_OVERRIDE, FOWNER, FSETID (file ownership and modes of the app's own
/// data), SETUID, SETGID, SETPCAP (entrypoints that switch to a user: gosu, su-exec,
/// setpriv), NET_BIND_SERVICE (servers listening on 80/443 inside the container), KILL
/// (signalling its own processes), SYS_CHROOT (daemons that chroot, e.g. sshd, bind).
/// Dropped, as no app on a shared host needs them:
/// - NET_RAW: raw and packet sockets, i.e. ARP and ICMP spoofing of other apps' traffic
///   on the bridge;
/// - MKNOD: creating device nodes;
/// - AUDIT_WRITE: writing to the host's kernel audit log;
/// - SETFCAP: giving files capabilities (pointless under `no-new-privileges`).
pub const DROPPED_CAPABILITIES: [&str; 4] = ["NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP"];

/// Processes and threads a component may run: one per 4 MB of its memory limit, at least
/// 512 and at most 32,768. The floor covers a thread-heavy JVM or a pre-forking server at
/// FluxOS's smallest size (100 MB); a real thread costs at least a few MB (stack pages,
/// per-thread heap arenas), so 4 MB each never binds a working app, while a fork bomb
/// stops at the cap instead of exhausting the host's process table (`kernel.pid_max` is
/// 32,768 on many systems, so no single app may take all of it).
pub fn pids_limit(ram_mb: u64) -> i64 {
    const MB_PER_PID: u64 = 4;
    const MIN: u64 = 512;
    const MAX: u64 = 32_768;
    (ram_mb / MB_PER_PID).clamp(MIN, MAX) as i64
}

/// Labels owned by the app (network, volumes): app, node and the extras.
pub fn app_labels(plan: &AppPlan, ctx: &NodeContext<'_>) -> HashMap<String, String> {
    let mut l: HashMap<String, String> = ctx.extra_labels.iter().cloned().collect();
    l.insert(labels::APP.into(), plan.app.clone());
    l.insert(labels::NODE.into(), ctx.node_id.into());
    l.insert(labels::SPEC_HASH.into(), plan.spec_hash.clone());
    l
}

pub fn network_request(plan: &AppPlan, ctx: &NodeContext<'_>) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: plan.network_name(),
        driver: Some("bridge".into()),
        labels: Some(app_labels(plan, ctx)),
        ..Default::default()
    }
}

/// Components whose volume some component mounts, in index order: the volumes the app
/// needs, each sized by its own component's `hdd`.
pub fn volume_components(plan: &AppPlan) -> Vec<usize> {
    let count = plan.components.len();
    let mut used: Vec<usize> = plan
        .components
        .iter()
        .enumerate()
        .filter_map(|(i, c)| DataMounts::parse(&c.container_data, i, count).ok())
        .flat_map(|d| d.mounts.into_iter().map(|(idx, _)| idx))
        .collect();
    used.sort_unstable();
    used.dedup();
    used
}

/// Volumes the app needs: every component volume some component mounts (plain Docker
/// volumes; the runtime adds the device options of fixed-size ones).
pub fn volume_requests(plan: &AppPlan, ctx: &NodeContext<'_>) -> Vec<VolumeCreateOptions> {
    volume_components(plan)
        .into_iter()
        .map(|idx| {
            let mut l = app_labels(plan, ctx);
            l.insert(labels::COMPONENT.into(), plan.components[idx].name.clone());
            VolumeCreateOptions {
                name: Some(volume_name(&plan.components[idx].name, &plan.app)),
                driver: Some("local".into()),
                labels: Some(l),
                ..Default::default()
            }
        })
        .collect()
}

/// The create body of component `index`. The plan must have passed `validate`.
pub fn container_body(plan: &AppPlan, index: usize, ctx: &NodeContext<'_>) -> ContainerCreateBody {
    let c = &plan.components[index];
    let name = container_name(&c.name, &plan.app);
    let network = plan.network_name();

    let mut labels = app_labels(plan, ctx);
    labels.insert(labels::COMPONENT.into(), c.name.clone());
    labels.insert(labels::COMPONENT_INDEX.into(), index.to_string());
    labels.insert(labels::IMAGE.into(), normalize_image(&c.repotag));

    let mut exposed = HashMap::new();
    let mut bindings = HashMap::new();
    for (host, inner) in c.ports.iter().zip(&c.container_ports) {
        for proto in ["tcp", "udp"] {
            let key = format!("{inner}/{proto}");
            exposed.insert(key.clone(), HashMap::new());
            bindings.insert(
                key,
                Some(vec![PortBinding {
                    host_ip: Some(ctx.advertise_ip.to_owned()),
                    host_port: Some(host.to_string()),
                }]),
            );
        }
    }

    let data =
        DataMounts::parse(&c.container_data, index, plan.components.len()).unwrap_or_default();
    let mounts: Vec<Mount> = data
        .mounts
        .iter()
        .map(|(idx, path)| Mount {
            target: Some(path.clone()),
            source: Some(volume_name(&plan.components[*idx].name, &plan.app)),
            typ: Some(MountTypeEnum::VOLUME),
            read_only: Some(false),
            ..Default::default()
        })
        .collect();

    let memory = i64::try_from(c.ram_mb.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX);
    let host_config = HostConfig {
        nano_cpus: Some((c.cpu * 1e9).round() as i64),
        memory: Some(memory),
        // Swap equal to memory means no swap on top of the limit: a RAM-limited app must
        // not slow the whole host down by swapping.
        memory_swap: Some(memory),
        port_bindings: Some(bindings),
        network_mode: Some(network.clone()),
        mounts: Some(mounts),
        privileged: Some(false),
        publish_all_ports: Some(false),
        pids_limit: Some(pids_limit(c.ram_mb)),
        security_opt: Some(vec!["no-new-privileges".into()]),
        cap_drop: Some(DROPPED_CAPABILITIES.iter().map(|c| c.to_string()).collect()),
        // The daemon restarts crashed containers itself, with backoff and counting.
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".into(), LOG_MAX_SIZE.into()),
                ("max-file".into(), LOG_MAX_FILES.into()),
            ])),
        }),
        ..Default::default()
    };

    ContainerCreateBody {
        image: Some(normalize_image(&c.repotag)),
        hostname: Some(name.clone()),
        env: Some(c.env.clone()),
        cmd: (!c.commands.is_empty()).then(|| c.commands.clone()),
        labels: Some(labels),
        exposed_ports: Some(exposed),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network,
                EndpointSettings {
                    aliases: Some(vec![super::plan::component_alias(&c.name, &plan.app)]),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::plan::ComponentPlan;

    fn plan() -> AppPlan {
        let c = |name: &str, data: &str| ComponentPlan {
            name: name.into(),
            repotag: "127.0.0.1:5000/t/busybox".into(),
            repoauth: None,
            ports: vec![31001],
            container_ports: vec![80],
            env: vec!["A=1".into()],
            commands: vec!["httpd".into(), "-f".into()],
            container_data: data.into(),
            cpu: 0.25,
            ram_mb: 96,
            hdd_gb: 1,
        };
        let mut b = c("db", "0:/shared");
        b.ports = vec![31002];
        b.commands = vec![];
        AppPlan {
            app: "shop".into(),
            spec_hash: "abc".into(),
            components: vec![c("web", "g:/data"), b],
        }
    }

    fn ctx() -> (String, Vec<(String, String)>) {
        (
            "node1".into(),
            vec![("io.fluxnode.test".into(), "1".into())],
        )
    }

    #[test]
    fn limits_ports_labels_and_alias() {
        let (node, extra) = ctx();
        let ctx = NodeContext {
            node_id: &node,
            advertise_ip: "127.0.0.1",
            extra_labels: &extra,
        };
        let p = plan();
        let b = container_body(&p, 0, &ctx);
        let h = b.host_config.clone().unwrap();
        assert_eq!(h.nano_cpus, Some(250_000_000));
        assert_eq!(h.memory, Some(96 * 1024 * 1024));
        let pb = h.port_bindings.unwrap();
        for key in ["80/tcp", "80/udp"] {
            let bind = pb[key].clone().unwrap();
            assert_eq!(bind[0].host_port.as_deref(), Some("31001"));
            assert_eq!(bind[0].host_ip.as_deref(), Some("127.0.0.1"));
        }
        let l = b.labels.unwrap();
        assert_eq!(l[labels::APP], "shop");
        assert_eq!(l[labels::COMPONENT], "web");
        assert_eq!(l[labels::NODE], "node1");
        assert_eq!(l[labels::SPEC_HASH], "abc");
        assert_eq!(l["io.fluxnode.test"], "1");
        assert_eq!(b.image.as_deref(), Some("127.0.0.1:5000/t/busybox:latest"));
        let ep = &b.networking_config.unwrap().endpoints_config.unwrap()["fluxDockerNetwork_shop"];
        assert_eq!(
            ep.aliases.as_deref(),
            Some(&["fluxweb_shop".to_string()][..])
        );
        // An empty command list keeps the image's own command.
        assert_eq!(container_body(&p, 1, &ctx).cmd, None);
    }

    #[test]
    fn pids_limit_follows_memory_within_bounds() {
        assert_eq!(pids_limit(100), 512);
        assert_eq!(pids_limit(4096), 1024);
        assert_eq!(pids_limit(59_000), 14_750);
        assert_eq!(pids_limit(1_000_000), 32_768);
    }

    #[test]
    fn never_privileged_host_network_bind_or_caps() {
        let (node, extra) = ctx();
        let ctx = NodeContext {
            node_id: &node,
            advertise_ip: "127.0.0.1",
            extra_labels: &extra,
        };
        let p = plan();
        for i in 0..p.components.len() {
            let h = container_body(&p, i, &ctx).host_config.unwrap();
            assert_eq!(h.privileged, Some(false));
            assert_eq!(h.network_mode.as_deref(), Some("fluxDockerNetwork_shop"));
            assert!(h.binds.is_none() && h.cap_add.is_none() && h.devices.is_none());
            assert_eq!(h.memory, h.memory_swap, "no swap beyond the memory limit");
            assert_eq!(h.pids_limit, Some(512));
            assert_eq!(h.security_opt, Some(vec!["no-new-privileges".to_string()]));
            let dropped = h.cap_drop.unwrap();
            for cap in ["NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP"] {
                assert!(dropped.iter().any(|c| c == cap), "{cap} kept");
            }
            for m in h.mounts.unwrap() {
                assert_eq!(m.typ, Some(MountTypeEnum::VOLUME));
                assert!(m.source.unwrap().ends_with("_shop_data"));
            }
        }
        // Component 1 mounts component 0's volume; only that one volume is needed.
        let vols = volume_requests(&p, &ctx);
        assert_eq!(vols.len(), 1);
        assert_eq!(vols[0].name.as_deref(), Some("fluxweb_shop_data"));
    }
}
