//! The ingress's own metrics (HAProxy exports its own on the stats listener).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Counters and gauges of `fluxnode ingress`, all prefixed `fluxnode_ingress_`.
#[derive(Debug, Clone, Default)]
pub struct IngressMetrics {
    /// Location snapshots received that differ from the previous one.
    pub snapshots: Counter,
    /// Failed long polls to the node API.
    pub watch_errors: Counter,
    /// Server changes applied through the runtime API (one per snapshot).
    pub runtime_updates: Counter,
    /// Configurations written and loaded (start and reloads).
    pub reloads: Counter,
    /// Candidate configurations `haproxy -c` refused (the running one stayed).
    pub refused: Counter,
    /// Snapshots that could not be applied.
    pub apply_errors: Counter,
    /// Backends configured.
    pub backends: Gauge,
    /// Servers holding an instance, over all backends.
    pub servers: Gauge,
}

impl IngressMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("fluxnode_ingress");
        r.register(
            "snapshots",
            "Changed location snapshots received",
            m.snapshots.clone(),
        );
        r.register(
            "watch_errors",
            "Failed long polls of the node API",
            m.watch_errors.clone(),
        );
        r.register(
            "runtime_updates",
            "Server changes applied through the HAProxy runtime API",
            m.runtime_updates.clone(),
        );
        r.register(
            "reloads",
            "HAProxy configurations loaded (start and reloads)",
            m.reloads.clone(),
        );
        r.register(
            "config_refused",
            "Candidate configurations haproxy -c refused; the running one stayed",
            m.refused.clone(),
        );
        r.register(
            "apply_errors",
            "Location snapshots that could not be applied",
            m.apply_errors.clone(),
        );
        r.register(
            "backends",
            "HAProxy backends configured",
            m.backends.clone(),
        );
        r.register(
            "servers",
            "HAProxy servers holding an app instance",
            m.servers.clone(),
        );
        m
    }
}
