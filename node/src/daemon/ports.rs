//! What only this host can tell about running an app, at bid time: its host ports are
//! free, its images come from registries this node may pull from
//! ([`crate::runtime::registries`]), and, when it has data, this host can give it a
//! fixed-size volume ([`crate::runtime::volume`]).
//!
//! Host ports: before the protocol considers a call for bids, the daemon tries
//! to bind every host port of the app on the address containers publish on, and tells the
//! protocol ([`Input::LocalCheck`]). A port held by anything on the host (another app, a
//! service outside fluxnode) makes the node decline, so the app goes to a node where it can
//! start instead of landing here every round and failing "port already allocated".
//!
//! A bind attempt is two syscalls per port and protocol (Docker publishes tcp and udp), well
//! under a millisecond for an app's at most 5 × 10 ports, so it runs on the protocol loop.

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;

use proto::keys::NodeId;
use scheduler::protocol::{BEAT_EVERY, Input, Millis, Msg};

use super::Daemon;

/// How often every registered app's ports are checked again: the beat period, well inside
/// how long the protocol trusts an answer (three of them).
pub const SWEEP_EVERY: Millis = BEAT_EVERY;

/// The first of `ports` that cannot be bound on `ip` (tcp or udp), if any.
pub fn first_taken(ip: IpAddr, ports: &[u16]) -> Option<u16> {
    ports.iter().copied().find(|&p| {
        let addr = SocketAddr::new(ip, p);
        // Both sockets are closed again at the end of the statement.
        TcpListener::bind(addr).is_err() || UdpSocket::bind(addr).is_err()
    })
}

impl Daemon {
    /// Before the protocol sees a call for bids or a registration (on which this node may
    /// start a round as coordinator and answer its own call in place): checks the app's
    /// host ports and gives the protocol the answer.
    pub(super) fn check_host_ports(&mut self, msg: &Msg<NodeId>) {
        let app = match msg {
            Msg::CallForBids { app, .. } => app.clone(),
            Msg::Register(rec) => rec.name.clone(),
            _ => return,
        };
        self.tell_host_ports(app);
    }

    /// Every [`SWEEP_EVERY`]: the answer for every app this node does not host, so rounds
    /// a coordinator starts on its own timers (a lost member, an orphan) see it too.
    pub(super) fn sweep_host_ports(&mut self, now: Millis) {
        if now < self.ports_swept + SWEEP_EVERY {
            return;
        }
        self.ports_swept = now;
        let hosted: Vec<Arc<str>> = self.node.hosted().map(|(a, _)| a.clone()).collect();
        let apps: Vec<Arc<str>> = self
            .view
            .apps()
            .map(|e| e.record.name.clone())
            .filter(|a| !hosted.contains(a))
            .collect();
        for app in apps {
            self.tell_host_ports(app);
        }
    }

    /// Whether this node can run containers now, by its own readiness checks (Docker
    /// answers, the store works). Not ready: it declines every call for bids and refuses
    /// assignments.
    pub(super) fn can_run(&self) -> bool {
        self.docker_ok && self.store.healthy()
    }

    /// After readiness changed: the answer for every app again now, not at the next sweep.
    pub(super) fn readiness_changed(&mut self) {
        self.ports_swept = 0;
    }

    fn tell_host_ports(&mut self, app: Arc<str>) {
        let Some(plan) = self.plan_of(&app) else {
            return;
        };
        let ports: Vec<u16> = plan
            .components
            .iter()
            .flat_map(|c| c.ports.iter().copied())
            .collect();
        let Ok(ip) = self.runtime.config().advertise_ip.parse::<IpAddr>() else {
            return;
        };
        let taken = first_taken(ip, &ports);
        if let Some(port) = taken {
            tracing::debug!(app = %app, port, %ip, "host port taken on this node: not bidding");
        }
        let registry = crate::runtime::registries::check_registries(
            &plan,
            &self.runtime.config().loopback_registries,
        );
        if let Err(e) = &registry {
            tracing::debug!(app = %app, error = %e, "image registry refused here: not bidding");
        }
        // An app with data needs a fixed-size volume this host cannot make: never run it
        // unbounded, let a node that can take it.
        let volumes_ok =
            self.volumes.is_ok() || crate::runtime::container::volume_components(&plan).is_empty();
        if !volumes_ok {
            tracing::debug!(app = %app, "app has containerData and this host cannot bound volumes: not bidding");
        }
        // A node that cannot run containers (its own readiness: Docker answers, the store
        // works) does not bid at all.
        let can_run = self.can_run();
        if !can_run {
            tracing::debug!(app = %app, "not ready to run containers: not bidding");
        }
        let now = self.clock.now();
        let outs = self.node.handle(
            Input::LocalCheck {
                app,
                ok: taken.is_none() && registry.is_ok() && volumes_ok && can_run,
            },
            now,
            &self.view,
        );
        debug_assert!(outs.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_port_is_taken_a_free_one_is_not() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let held = TcpListener::bind((ip, 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        assert_eq!(first_taken(ip, &[port]), Some(port));
        drop(held);
        assert_eq!(first_taken(ip, &[port]), None);
        let udp = UdpSocket::bind((ip, 0)).unwrap();
        let uport = udp.local_addr().unwrap().port();
        assert_eq!(first_taken(ip, &[uport]), Some(uport));
    }
}
