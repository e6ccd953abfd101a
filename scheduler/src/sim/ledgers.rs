//! Per-node ledger views for the `bidding` strategy: every simulated node holds its own
//! [`Ledger`] and [`View`], fed by simulated gossip (latency, loss, partitions) and by
//! anti-entropy (a summary exchange with a few random peers every [`RESYNC_EVERY`], and
//! with peers of the other side when a partition heals, each missing action sent as one
//! message that can be lost). A node acts on what its own ledger holds, so a registration
//! one side never saw, or two owners holding one name on two sides, shows in placements.
//!
//! Above [`PER_NODE_MAX`] nodes the nodes of one partition side share one view (memory:
//! a view holds every member), so ledgers differ per side rather than per node. Without
//! `SimConfig::node_ledgers` all nodes share one view and one ledger (the scenarios that
//! study placement, not the ledger: 200 private views make them 10× slower).

use std::collections::BTreeMap;

use crate::ledger::{Action, Digest, Ledger};
use crate::model::{NodeInfo, Params};
use crate::protocol::{ChainClock, Millis, Msg, View};

/// Largest network simulated with a view per node.
pub const PER_NODE_MAX: usize = 500;

/// How often each node compares summaries with a few random peers (the daemon compares
/// with every connected peer this often).
pub const RESYNC_EVERY: Millis = 30_000;

/// Peers each node compares summaries with per resync, and per side on a heal.
pub const SYNC_PEERS: usize = 3;

/// Longest a node takes to reconnect to a peer of the other side after a heal (the
/// daemon redials its bootstrap peers every 10 s).
pub const RECONNECT_MS: Millis = 10_000;

pub(crate) struct Ledgers {
    /// The view (and ledger) each node uses.
    pub group: Vec<usize>,
    pub views: Vec<View<u32>>,
    pub ledgers: Vec<Ledger<()>>,
    /// Actions sent by anti-entropy.
    pub sync_actions: u64,
    /// Summary exchanges that found a difference.
    pub sync_exchanges: u64,
}

impl Ledgers {
    /// One view per node, or (above [`PER_NODE_MAX`]) one per partition side.
    pub fn new(side: &[u8], clock: ChainClock, per_node: bool) -> Self {
        let n = side.len();
        let group: Vec<usize> = if !per_node {
            vec![0; n]
        } else if n <= PER_NODE_MAX {
            (0..n).collect()
        } else {
            side.iter().map(|&s| usize::from(s)).collect()
        };
        let groups = group.iter().copied().max().map_or(0, |g| g + 1);
        Self {
            group,
            views: (0..groups)
                .map(|_| View::new(clock, Params::default()))
                .collect(),
            ledgers: (0..groups).map(|_| Ledger::new(clock)).collect(),
            sync_actions: 0,
            sync_exchanges: 0,
        }
    }

    pub fn view_of(&self, node: usize) -> &View<u32> {
        &self.views[self.group[node]]
    }

    pub fn upsert_member(&mut self, node: u32, info: &NodeInfo, now: Millis) {
        for v in &mut self.views {
            v.upsert_member(node, info.clone(), now);
        }
    }

    /// Membership and running messages: every view (they are not the ledger's business).
    pub fn apply_all(&mut self, msg: &Msg<u32>, now: Millis) {
        for v in &mut self.views {
            let _ = v.apply(msg, now);
        }
    }

    pub fn refresh(&mut self, now: Millis) {
        for v in &mut self.views {
            v.refresh(now);
        }
    }

    /// Adds an action to group `g`'s ledger at `height`; returns the protocol messages
    /// its changes give the group's nodes (a registration to place, a cancel or a lost
    /// name to stop), empty if the action was held already or refused.
    pub fn insert(
        &mut self,
        g: usize,
        action: Action<()>,
        height: u64,
        now: Millis,
    ) -> Vec<Msg<u32>> {
        let Ok(ins) = self.ledgers[g].insert(action, height) else {
            return Vec::new();
        };
        let mut msgs = Vec::new();
        for ch in &ins.changes {
            msgs.extend(self.views[g].apply_ledger_change(ch, now));
        }
        if !ins.changes.is_empty() {
            self.views[g].refresh(now);
        }
        msgs
    }

    /// The actions group `from` holds that group `to` lacks.
    pub fn missing(&self, from: usize, to: usize) -> Vec<Action<()>> {
        let theirs = &self.ledgers[to];
        self.ledgers[from]
            .actions()
            .filter(|a| !theirs.contains(&a.id))
            .cloned()
            .collect()
    }

    /// Alive nodes whose ledger differs from the one most alive nodes hold.
    pub fn nodes_differing(&self, alive: &[bool]) -> usize {
        let mut count: BTreeMap<(u64, [u8; 32]), usize> = BTreeMap::new();
        let digests: Vec<Digest> = self.ledgers.iter().map(Ledger::digest).collect();
        let mut total = 0;
        for (i, &g) in self.group.iter().enumerate() {
            if alive[i] {
                let d = digests[g];
                *count.entry((d.count, d.xor)).or_default() += 1;
                total += 1;
            }
        }
        total - count.values().copied().max().unwrap_or(0)
    }

    /// The owner holding `name` in the ledger most alive nodes hold.
    pub fn majority_owner(&self, name: &str, alive: &[bool]) -> Option<String> {
        let mut count: BTreeMap<Option<String>, usize> = BTreeMap::new();
        for (i, &g) in self.group.iter().enumerate() {
            if alive[i] {
                let owner = self.ledgers[g].app(name).map(|a| a.owner().to_string());
                *count.entry(owner).or_default() += 1;
            }
        }
        count
            .into_iter()
            .max_by_key(|(_, c)| *c)
            .and_then(|(o, _)| o)
    }
}
