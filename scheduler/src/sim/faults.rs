//! Faults beyond random node deaths: a whole group lost at once, nodes that fail every
//! container start, and how long peers take to notice a dead host.
//!
//! Group loss is where the simulator and the real network used to disagree (20 s against
//! 887 s): the simulator's dead nodes stayed in the membership view until three missed
//! 5-minute announcements, which no random kill exposed because some member of each group
//! always survived and re-placed the rest from its group beats. The daemon takes a peer for
//! dead when every connection to it has been closed for [`UNREACHABLE_AFTER`] (checked
//! each tick); the simulator now does the same: `detect_ms` after a death (a killed
//! process's connections are reset at once; a machine that goes silent is noticed by the
//! 10 s ping timeout after at most a 5 s ping period) plus [`UNREACHABLE_AFTER`], at the
//! next tick, the dead node leaves the view and the apps it alone hosted become orphans.

use std::collections::BTreeSet;

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::report::Stats;
use crate::protocol::{Millis, TICK, UNREACHABLE_AFTER};

/// Kill every host of `apps` apps (those at their full count, lowest index first) at `at_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GroupKill {
    pub apps: usize,
    pub at_s: u64,
}

/// How a dead node's connections end, which sets when its peers notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Death {
    /// The process was killed; the kernel resets its connections at once.
    #[default]
    Process,
    /// The machine went silent; pings time out (5 s period, 10 s timeout).
    Silent,
}

/// The fault scenario.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Faults {
    pub kill_group: Option<GroupKill>,
    /// Nodes (chosen by the seed) on which every container start fails.
    pub failing_nodes: usize,
    /// How long a start on a failing node takes to fail (a prepare error: no subnet
    /// left, a refused pull), ms.
    pub fail_ms: u64,
    pub death: Death,
}

impl Faults {
    pub fn new() -> Self {
        Self {
            fail_ms: 300,
            ..Self::default()
        }
    }
}

/// What the faults did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FaultReport {
    pub failing_nodes: usize,
    /// Container starts that failed on the failing nodes.
    pub failed_starts: u64,
    /// Apps whose every host was killed by `kill_group`.
    pub groups_lost: usize,
    /// Seconds from the group kill until each of those apps was at its count again.
    pub group_lost_s: Stats,
    pub groups_not_recovered: usize,
}

/// The failing nodes: `k` of `n`, by the seed.
pub(crate) fn pick_failing(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<bool> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let mut failing = vec![false; n];
    for &i in order.iter().take(k.min(n)) {
        failing[i] = true;
    }
    failing
}

/// When the peers of a node that died at `died` take it for dead: the death noticed
/// (`death`), [`UNREACHABLE_AFTER`] later, at the next tick of the node that checks.
pub(crate) fn unreachable_at(died: Millis, death: Death, rng: &mut ChaCha8Rng) -> Millis {
    let noticed = match death {
        Death::Process => 0,
        // The ping in flight or the next one (period 5 s) times out after 10 s.
        Death::Silent => 10_000 + rng.gen_range(0..5_000),
    };
    died + noticed + UNREACHABLE_AFTER + rng.gen_range(0..TICK)
}

/// The hosts of the victim apps: `apps` apps at their full count, lowest index first.
/// `running_on(app)` lists the nodes running `app`; `at_n(app)` says whether it is at N.
pub(crate) fn group_victims(
    apps: usize,
    count: usize,
    at_n: impl Fn(usize) -> bool,
    running_on: impl Fn(usize) -> Vec<usize>,
) -> (Vec<usize>, BTreeSet<usize>) {
    let victims: Vec<usize> = (0..count).filter(|&a| at_n(a)).take(apps).collect();
    let hosts = victims.iter().flat_map(|&a| running_on(a)).collect();
    (victims, hosts)
}

/// The report's group figures from each victim's recovery time (`None`: not back).
pub(crate) fn group_report(
    recovered: impl Iterator<Item = Option<Millis>>,
) -> (Stats, usize, usize) {
    let mut xs = Vec::new();
    let mut lost = 0;
    let mut not = 0;
    for r in recovered {
        lost += 1;
        match r {
            Some(ms) => xs.push(ms as f64 / 1_000.0),
            None => not += 1,
        }
    }
    (Stats::of(xs), lost, not)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn failing_nodes_are_exactly_k_and_unreachable_follows_the_death_kind() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let f = pick_failing(20, 4, &mut rng);
        assert_eq!(f.iter().filter(|&&x| x).count(), 4);
        assert_eq!(
            pick_failing(3, 9, &mut rng).iter().filter(|&&x| x).count(),
            3
        );
        let p = unreachable_at(1_000, Death::Process, &mut rng);
        assert!((31_000..32_000).contains(&p), "{p}");
        let s = unreachable_at(1_000, Death::Silent, &mut rng);
        assert!((41_000..47_000).contains(&s), "{s}");
    }

    #[test]
    fn victims_are_the_first_apps_at_n_and_their_hosts() {
        let (v, h) = group_victims(2, 5, |a| a != 0, |a| vec![a, a + 10]);
        assert_eq!(v, vec![1, 2]);
        assert_eq!(h.into_iter().collect::<Vec<_>>(), vec![1, 2, 11, 12]);
        let (s, lost, not) = group_report([Some(50_000), None, Some(30_000)].into_iter());
        assert_eq!((lost, not, s.count), (3, 1, 2));
        assert_eq!(s.max, 50.0);
    }
}
