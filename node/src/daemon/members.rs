//! What this node knows of the others beyond the protocol's view: the latest announcement
//! of each (for addresses and replay protection), the uptime it observes, and the last
//! running report (to turn whole lists into per-app changes).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proto::health::Health;
use proto::keys::NodeId;
use proto::message::{NodeAnnouncement, RunningReport};
use proto::tier::{Resources, SYSTEM_RESERVE};
use scheduler::model::NodeInfo;
use scheduler::protocol::{ANNOUNCE_EVERY, Millis, Msg};

/// A gap between two announcements longer than this counts as downtime: two missed
/// periodic announcements (the protocol calls a node dead after three).
const DOWN_AFTER: Millis = 2 * ANNOUNCE_EVERY;

/// One peer as observed.
#[derive(Debug, Clone)]
pub struct Observed {
    pub last: NodeAnnouncement,
    pub first_seen: Millis,
    pub last_seen: Millis,
    /// Time counted as down between announcements since `first_seen`.
    pub down_ms: Millis,
}

impl Observed {
    /// Uptime this node observed, in `[0, 1]`. A node seen for the first time counts as
    /// fully up: it has not been seen to fail.
    pub fn uptime(&self, now: Millis) -> f64 {
        let span = now.saturating_sub(self.first_seen);
        if span == 0 {
            return 1.0;
        }
        1.0 - (self.down_ms.min(span) as f64 / span as f64)
    }

    /// The IP part of the advertised multiaddr (`/ip4/1.2.3.4/tcp/16125` → `1.2.3.4`).
    pub fn ip(&self) -> Option<String> {
        advertised_ip(&self.last.advertise_addr)
    }
}

pub fn advertised_ip(addr: &str) -> Option<String> {
    let mut parts = addr.split('/').skip(1);
    match (parts.next(), parts.next()) {
        (Some("ip4" | "ip6" | "dns" | "dns4" | "dns6"), Some(host)) => Some(host.to_string()),
        _ => None,
    }
}

#[derive(Debug, Default)]
pub struct Members {
    nodes: BTreeMap<NodeId, Observed>,
    /// Apps in each node's last running report (kept apart from announcements: a report
    /// can arrive before the node's first announcement).
    running: BTreeMap<NodeId, LastReport>,
}

/// A node's last running report as applied.
#[derive(Debug, Default)]
struct LastReport {
    /// When the node sealed it (its envelope's signed time).
    sent_ms: u64,
    /// App → (health, spec version) as last reported.
    apps: BTreeMap<String, (Health, u64)>,
}

impl Members {
    pub fn get(&self, node: &NodeId) -> Option<&Observed> {
        self.nodes.get(node)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, &Observed)> {
        self.nodes.iter()
    }

    /// Records an announcement. Returns the scheduler's view of the node and the protocol
    /// message to apply, or `None` for a replay or an older announcement.
    pub fn on_announcement(
        &mut self,
        a: &NodeAnnouncement,
        now: Millis,
    ) -> Option<(NodeInfo, Msg<NodeId>)> {
        match self.nodes.get_mut(&a.node) {
            Some(o) if a.seq <= o.last.seq => return None,
            Some(o) => {
                let gap = now.saturating_sub(o.last_seen);
                if gap > DOWN_AFTER {
                    o.down_ms += gap - ANNOUNCE_EVERY.min(gap);
                }
                o.last = a.clone();
                o.last_seen = now;
            }
            None => {
                self.nodes.insert(
                    a.node,
                    Observed {
                        last: a.clone(),
                        first_seen: now,
                        last_seen: now,
                        down_ms: 0,
                    },
                );
            }
        }
        let o = self.nodes.get(&a.node)?;
        let info = NodeInfo {
            id: a.node.node_id(),
            tier: a.tier,
            geo: a.location.clone(),
            // Announcements carry what is offered after the reserve; the scheduler takes
            // the whole size and subtracts the reserve itself.
            total: add(a.total, SYSTEM_RESERVE),
            used: a.used,
            bench_score: a.bench_score.max(0.0),
            uptime: o.uptime(now),
        };
        Some((info, super::wire::announce_msg(a)))
    }

    /// Turns a node's running report, sealed at `sent_ms`, into per-app changes since its
    /// previous report (started, stopped, or a new health). A report older than the one
    /// held changes nothing: a peer's report comes both directly (on connecting) and by
    /// gossip, and the two can arrive in either order. Taken as news, the older one
    /// located an instance the node had already stopped, for good (it reports on change
    /// only), and that node was never asked to host the app again (the three-daemon
    /// partition test: the winner stayed at two instances of three).
    pub fn on_running_report(&mut self, r: &RunningReport, sent_ms: u64) -> Vec<Msg<NodeId>> {
        let last = self.running.entry(r.node).or_default();
        if sent_ms < last.sent_ms {
            return Vec::new();
        }
        last.sent_ms = sent_ms;
        let now_map: BTreeMap<String, (Health, u64)> = r
            .apps
            .iter()
            .map(|a| (a.app.clone(), (a.health, a.version)))
            .collect();
        let before = &mut last.apps;
        let mut out: Vec<Msg<NodeId>> = Vec::new();
        for (app, &(health, version)) in &now_map {
            if before.get(app) != Some(&(health, version)) {
                out.push(running(r.node, app, true, health, version));
            }
        }
        for app in before.keys() {
            if !now_map.contains_key(app) {
                out.push(running(r.node, app, false, Health::Unhealthy, 0));
            }
        }
        *before = now_map;
        out
    }

    /// The group of `app` gave `node` up (it missed its beats): its next report lists the
    /// app as new again, so a host that comes back is located again.
    pub fn forget(&mut self, node: &NodeId, app: &str) {
        if let Some(last) = self.running.get_mut(node) {
            last.apps.remove(app);
        }
    }

    /// Apps `node` reported running last.
    pub fn running_of(&self, node: &NodeId) -> Option<BTreeSet<String>> {
        self.running
            .get(node)
            .map(|last| last.apps.keys().cloned().collect())
    }
}

fn running(node: NodeId, app: &str, running: bool, health: Health, version: u64) -> Msg<NodeId> {
    Msg::Running {
        node,
        app: Arc::from(app),
        running,
        health,
        version,
    }
}

fn add(a: Resources, b: Resources) -> Resources {
    Resources::new(a.cpu + b.cpu, a.ram + b.ram, a.hdd + b.hdd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::message::RunningApp;

    fn ann(seq: u64) -> NodeAnnouncement {
        NodeAnnouncement {
            node: proto::keys::Keypair::from_seed(&[7; 32]).public(),
            seq,
            tier: proto::tier::Tier::Cumulus,
            location: proto::geo::Location::parse("EU_FR_IDF").unwrap(),
            total: Resources::new(2.0, 4_000, 100),
            used: Resources::default(),
            bench_score: 500.0,
            claimed_uptime_secs: 0,
            advertise_addr: "/ip4/127.0.0.12/tcp/16125".into(),
            planned_restart: None,
            network: "n".into(),
        }
    }

    #[test]
    fn replays_are_ignored_and_downtime_counts() {
        let mut m = Members::default();
        assert!(m.on_announcement(&ann(10), 0).is_some());
        assert!(m.on_announcement(&ann(10), 1).is_none(), "same seq");
        assert!(m.on_announcement(&ann(9), 2).is_none(), "older seq");
        let (info, _) = m.on_announcement(&ann(11), ANNOUNCE_EVERY).unwrap();
        assert_eq!(info.uptime, 1.0);
        assert_eq!(info.total.cpu, 2.0 + SYSTEM_RESERVE.cpu);
        // Silent for ten periods: nine of them count as down.
        let (info, _) = m.on_announcement(&ann(12), 11 * ANNOUNCE_EVERY).unwrap();
        assert!((info.uptime - 2.0 / 11.0).abs() < 1e-9, "{}", info.uptime);
        assert_eq!(
            m.get(&ann(1).node).unwrap().ip().as_deref(),
            Some("127.0.0.12")
        );
    }

    #[test]
    fn running_reports_become_changes() {
        let mut m = Members::default();
        let a = ann(1);
        m.on_announcement(&a, 0);
        let app = |n: &str| RunningApp {
            app: n.into(),
            spec_hash: proto::message::SpecHash::of(n.as_bytes()),
            health: Health::Healthy,
            version: 1,
        };
        let r1 = RunningReport {
            node: a.node,
            apps: vec![app("a"), app("b")],
        };
        assert_eq!(m.on_running_report(&r1, 1).len(), 2);
        assert!(m.on_running_report(&r1, 1).is_empty());
        let r2 = RunningReport {
            node: a.node,
            apps: vec![app("b"), app("c")],
        };
        let changes = m.on_running_report(&r2, 2);
        assert_eq!(
            changes,
            vec![
                running(a.node, "c", true, Health::Healthy, 1),
                running(a.node, "a", false, Health::Unhealthy, 0)
            ]
        );
        // A health change alone is a change.
        let mut r3 = r2.clone();
        r3.apps[0].health = Health::Unhealthy;
        assert_eq!(
            m.on_running_report(&r3, 3),
            vec![running(a.node, "b", true, Health::Unhealthy, 1)]
        );
        // An older report (sealed before the last one) changes nothing.
        assert!(m.on_running_report(&r1, 2).is_empty());
        m.forget(&a.node, "c");
        assert_eq!(
            m.on_running_report(&r3, 3),
            vec![running(a.node, "c", true, Health::Healthy, 1)]
        );
    }
}
