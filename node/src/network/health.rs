//! Gossip health: whether this node's broadcasts can reach anyone and whether it listens to
//! anyone. A connected peer count says nothing about either: a node whose peers are all
//! scored below the graylist threshold ignores every message, and a node whose published
//! messages find no mesh peer queues them until they expire — both with a healthy-looking
//! peer count. The service feeds an [`Observation`] every second; the tracker reports a
//! verdict when it changes, which the daemon shows in `/readyz`, the logs and
//! `fluxnode_gossip_isolated`.

/// A bad state must last this long before the node calls itself isolated: after a
/// connection opens, subscriptions are exchanged and the mesh is grafted within one or two
/// gossipsub heartbeats (1 s each), and a publish made at start-up waits that long for them.
/// 10 s is several heartbeats, and well inside the 10 s a registration may take to reach
/// every node.
pub const ISOLATION_GRACE_MS: u64 = 10_000;

/// While the verdict stays the same, its counts are refreshed at most this often, so
/// `/readyz` shows counts at most 5 s old (one observation per second would be noise).
pub const DETAIL_REFRESH_MS: u64 = 5_000;

/// What the network service sees of gossip at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observation {
    /// Peers with an open connection.
    pub connected: usize,
    /// Connected peers subscribed to at least one fluxnode topic.
    pub gossip_peers: usize,
    /// Gossip peers this node scores at or above the graylist threshold (their messages
    /// are processed).
    pub accepted: usize,
    /// Peers in this node's mesh on any topic (its broadcasts go to them first).
    pub mesh: usize,
    /// How long the oldest message waiting for a gossip peer has waited.
    pub oldest_queued_ms: Option<u64>,
}

/// Why gossip does not work, if it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Peers are connected but none speaks fluxnode gossip.
    NoGossipPeer,
    /// Every gossip peer scores below the graylist threshold: all it says is ignored.
    IgnoringEveryPeer,
    /// No peer in the mesh: a broadcast reaches nobody.
    EmptyMesh,
    /// A published message found no peer for longer than the grace.
    PublishStuck,
}

impl Problem {
    /// Short, stable name (log field and readiness detail).
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::NoGossipPeer => "no_gossip_peer",
            Problem::IgnoringEveryPeer => "ignoring_every_peer",
            Problem::EmptyMesh => "empty_mesh",
            Problem::PublishStuck => "publish_stuck",
        }
    }
}

/// The verdict the daemon shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipHealth {
    pub ok: bool,
    /// What was seen, in words an operator can act on.
    pub detail: String,
}

impl Default for GossipHealth {
    /// Before the first observation: not judged yet, so not a reason to be unready.
    fn default() -> Self {
        Self {
            ok: true,
            detail: "not observed yet".into(),
        }
    }
}

/// The problem an observation shows, if any (before the grace is applied).
pub fn problem(o: &Observation) -> Option<Problem> {
    if o.connected == 0 {
        // Nobody to talk to is the `peers` readiness check's business.
        return None;
    }
    if o.gossip_peers == 0 {
        Some(Problem::NoGossipPeer)
    } else if o.accepted == 0 {
        Some(Problem::IgnoringEveryPeer)
    } else if o.mesh == 0 {
        Some(Problem::EmptyMesh)
    } else if o
        .oldest_queued_ms
        .is_some_and(|age| age > ISOLATION_GRACE_MS)
    {
        Some(Problem::PublishStuck)
    } else {
        None
    }
}

fn describe(o: &Observation, p: Option<Problem>) -> String {
    let counts = format!(
        "{} connected, {} gossip peers, {} accepted, {} in mesh",
        o.connected, o.gossip_peers, o.accepted, o.mesh
    );
    match p {
        None => counts,
        Some(Problem::NoGossipPeer) => {
            format!("no connected peer subscribes to fluxnode topics ({counts})")
        }
        Some(Problem::IgnoringEveryPeer) => format!(
            "every gossip peer scores below the graylist threshold, so all they send is ignored ({counts}); check fluxnode_messages_rejected on this node"
        ),
        Some(Problem::EmptyMesh) => {
            format!("no peer in the gossip mesh: broadcasts reach nobody ({counts})")
        }
        Some(Problem::PublishStuck) => format!(
            "a published message has found no gossip peer for {} s ({counts})",
            o.oldest_queued_ms.unwrap_or(0) / 1000
        ),
    }
}

/// A verdict the tracker hands out: new (log it) or the same one with fresh counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub health: GossipHealth,
    /// The verdict (ok, problem) differs from the last one reported.
    pub changed: bool,
}

/// Turns observations into verdicts, applying [`ISOLATION_GRACE_MS`].
#[derive(Debug, Default)]
pub struct Tracker {
    /// The problem seen and since when (ms).
    bad_since: Option<(Problem, u64)>,
    /// The last verdict reported: `(ok, problem)`, the observation and when.
    reported: Option<((bool, Option<Problem>), Observation, u64)>,
}

impl Tracker {
    /// Feeds one observation at `now_ms`. Returns a report when the verdict differs from the
    /// last one reported (always on the first call) or, with the same verdict, when the
    /// counts changed and the last report is [`DETAIL_REFRESH_MS`] old; and whether the node
    /// is isolated now.
    pub fn update(&mut self, o: &Observation, now_ms: u64) -> (Option<Report>, bool) {
        let p = problem(o);
        self.bad_since = match (p, self.bad_since) {
            (None, _) => None,
            (Some(p), Some((_, since))) => Some((p, since)),
            (Some(p), None) => Some((p, now_ms)),
        };
        let isolated_by = self
            .bad_since
            .filter(|(_, since)| now_ms.saturating_sub(*since) >= ISOLATION_GRACE_MS)
            .map(|(p, _)| p);
        let key = (isolated_by.is_none(), isolated_by);
        let changed = match &self.reported {
            None => true,
            Some((last_key, last_obs, at)) => {
                if *last_key == key
                    && (last_obs == o || now_ms.saturating_sub(*at) < DETAIL_REFRESH_MS)
                {
                    return (None, isolated_by.is_some());
                }
                *last_key != key
            }
        };
        self.reported = Some((key, *o, now_ms));
        let health = GossipHealth {
            ok: isolated_by.is_none(),
            detail: describe(o, isolated_by),
        };
        (Some(Report { health, changed }), isolated_by.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Observation {
        Observation {
            connected: 15,
            gossip_peers: 15,
            accepted: 15,
            mesh: 6,
            oldest_queued_ms: None,
        }
    }

    #[test]
    fn each_problem_is_named() {
        assert_eq!(problem(&healthy()), None);
        let alone = Observation::default();
        assert_eq!(
            problem(&alone),
            None,
            "no peer at all is the peers check's case"
        );
        let o = Observation {
            gossip_peers: 0,
            ..healthy()
        };
        assert_eq!(problem(&o), Some(Problem::NoGossipPeer));
        let o = Observation {
            accepted: 0,
            ..healthy()
        };
        assert_eq!(problem(&o), Some(Problem::IgnoringEveryPeer));
        let o = Observation {
            mesh: 0,
            ..healthy()
        };
        assert_eq!(problem(&o), Some(Problem::EmptyMesh));
        let o = Observation {
            oldest_queued_ms: Some(ISOLATION_GRACE_MS + 1),
            ..healthy()
        };
        assert_eq!(problem(&o), Some(Problem::PublishStuck));
        let o = Observation {
            oldest_queued_ms: Some(ISOLATION_GRACE_MS),
            ..healthy()
        };
        assert_eq!(problem(&o), None, "a short wait for a peer is normal");
    }

    /// Whether `update` reported a new verdict (`Some(true)`), refreshed counts
    /// (`Some(false)`) or nothing (`None`), and whether the node is isolated.
    fn feed(t: &mut Tracker, o: &Observation, now: u64) -> (Option<bool>, bool) {
        let (r, iso) = t.update(o, now);
        (r.map(|r| r.changed), iso)
    }

    #[test]
    fn isolation_is_reported_after_the_grace_and_recovery_at_once() {
        let mut t = Tracker::default();
        let (v, iso) = t.update(&healthy(), 0);
        assert!(v.is_some_and(|v| v.health.ok && v.changed) && !iso);
        let ignored = Observation {
            accepted: 0,
            ..healthy()
        };
        assert_eq!(
            feed(&mut t, &ignored, 1_000),
            (None, false),
            "inside the grace"
        );
        let (v, iso) = t.update(&ignored, 11_000);
        let v = v.expect("verdict changes");
        assert!(v.changed && !v.health.ok && iso);
        assert!(v.health.detail.contains("graylist"), "{}", v.health.detail);
        assert_eq!(
            feed(&mut t, &ignored, 12_000),
            (None, true),
            "reported once"
        );
        let (v, iso) = t.update(&healthy(), 13_000);
        assert!(v.is_some_and(|v| v.health.ok && v.changed) && !iso);
    }

    #[test]
    fn counts_are_refreshed_while_the_verdict_holds() {
        let mut t = Tracker::default();
        let alone = Observation::default();
        let (v, _) = t.update(&alone, 0);
        assert!(v.is_some_and(|v| v.health.detail.starts_with("0 connected")));
        assert_eq!(feed(&mut t, &healthy(), 1_000), (None, false), "too soon");
        let (v, _) = t.update(&healthy(), DETAIL_REFRESH_MS);
        let v = v.expect("fresh counts after the refresh period");
        assert!(!v.changed && v.health.ok);
        assert!(
            v.health.detail.starts_with("15 connected"),
            "{}",
            v.health.detail
        );
        assert_eq!(
            feed(&mut t, &healthy(), 3 * DETAIL_REFRESH_MS),
            (None, false),
            "same counts: nothing to refresh"
        );
    }

    #[test]
    fn a_flapping_problem_does_not_accumulate() {
        let mut t = Tracker::default();
        t.update(&healthy(), 0);
        let empty = Observation {
            mesh: 0,
            ..healthy()
        };
        t.update(&empty, 1_000);
        t.update(&healthy(), 6_000);
        assert!(!feed(&mut t, &empty, 7_000).1);
        assert!(!feed(&mut t, &empty, 16_000).1, "grace restarted at 7 s");
        assert!(t.update(&empty, 17_000).1);
    }
}
