//! `--update K@T`: at T the owners of K apps (the first ones, by index, running at their
//! count) publish a new spec, and the report says how each strategy rolled it out.
//!
//! What is measured, per updated app, from T on, by the runtime's ground truth (which
//! instances serve, and on which spec version), updated on every start and stop:
//! - the time until it is fully updated: exactly N instances serving, all on the new
//!   version (an app never there by the end counts as never updated);
//! - the fewest instances serving at any instant from T until then (until the end for
//!   one never updated).
//!
//! FluxOS's side ([`FluxosRedeploy`]) replays its redeploy of an updated app: every host
//! checks its installed spec every 8–18 minutes and, at each check, redeploys with
//! probability 1/2 by stop, remove container, remove image, pull and start, with no
//! coordination between hosts and no health gate.

use std::collections::BTreeSet;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::report::Stats;
use crate::protocol::Millis;

/// Update `apps` apps (the first ones at their count) at `at_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Update {
    pub apps: usize,
    pub at_s: u64,
}

/// The `update` section of the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpdateReport {
    pub at_s: u64,
    /// Apps whose owner published a new spec at `at_s`.
    pub apps_updated: usize,
    /// Seconds from the update until the app had exactly N instances serving, all on the
    /// new version.
    pub time_to_updated_s: Stats,
    /// Updated apps not fully updated by the end of the run.
    pub never_updated: usize,
    /// The fewest instances of one app serving at once during its rollout, over all apps.
    pub fewest_healthy_min: u32,
    /// Entry k: apps whose fewest serving instances during the rollout was at least N − k.
    pub fewest_at_least_n_minus: Vec<usize>,
    /// Apps whose serving instances fell below N − 1 during the rollout (up to 20).
    pub below_n_minus_1: Vec<String>,
    /// Rollouts reverted (a bad version: the protocol's own verdict; FluxOS has none).
    pub reverted: usize,
    /// The same figures by instance count.
    pub by_instances: Vec<UpdateGroup>,
}

/// The rollout figures of the updated apps with one instance count.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpdateGroup {
    pub instances: u32,
    pub apps: usize,
    pub time_to_updated_s: Stats,
    pub never_updated: usize,
    /// Entry k: apps whose fewest serving instances was exactly N − k.
    pub fewest_n_minus: Vec<usize>,
}

/// Picks the apps to update: the first `count` (by index) that `eligible` accepts.
pub(crate) fn pick(apps: usize, count: usize, eligible: impl Fn(usize) -> bool) -> Vec<usize> {
    (0..apps).filter(|&a| eligible(a)).take(count).collect()
}

/// The new version of the `i`-th updated app: the owner's sequence number for the update,
/// above that of any registration made before `at`.
pub(crate) fn version_for(at: Millis, i: usize) -> u64 {
    at + 1 + i as u64
}

#[derive(Debug, Clone)]
struct Roll {
    wanted: u32,
    version: u64,
    /// Instances serving now, and those of them on `version`.
    serving: u32,
    on_new: u32,
    fewest: u32,
    done_at: Option<Millis>,
    reverted: bool,
}

/// Every updated app's rollout, tracked exactly on each start and stop.
pub(crate) struct Rollouts {
    at: Millis,
    apps: Vec<Option<Roll>>,
}

impl Rollouts {
    pub fn new(apps: usize) -> Self {
        Self {
            at: 0,
            apps: vec![None; apps],
        }
    }

    /// The owner of `app` (N = `wanted`) published `version` at `now`, with `serving`
    /// instances serving (on older versions).
    pub fn begin(&mut self, app: usize, wanted: u32, version: u64, serving: u32, now: Millis) {
        self.at = now;
        if let Some(slot) = self.apps.get_mut(app) {
            *slot = Some(Roll {
                wanted,
                version,
                serving,
                on_new: 0,
                fewest: serving,
                done_at: None,
                reverted: false,
            });
        }
    }

    /// The version `app` is being updated to, if it is.
    pub fn target(&self, app: usize) -> Option<u64> {
        self.apps.get(app)?.as_ref().map(|r| r.version)
    }

    /// An instance of `app` on `version` started serving.
    pub fn started(&mut self, app: usize, version: u64, now: Millis) {
        if let Some(Some(r)) = self.apps.get_mut(app) {
            r.serving += 1;
            if version == r.version {
                r.on_new += 1;
            }
            r.note(now);
        }
    }

    /// An instance of `app` on `version` stopped serving.
    pub fn stopped(&mut self, app: usize, version: u64, now: Millis) {
        if let Some(Some(r)) = self.apps.get_mut(app) {
            r.serving = r.serving.saturating_sub(1);
            if version == r.version {
                r.on_new = r.on_new.saturating_sub(1);
            }
            r.note(now);
        }
    }

    /// A node announced that the rollout of `version` of `app` was reverted.
    pub fn reverted(&mut self, app: usize, version: u64) {
        if let Some(Some(r)) = self.apps.get_mut(app) {
            if r.version == version {
                r.reverted = true;
            }
        }
    }

    /// The report; `name` names app indices.
    pub fn report(&self, name: impl Fn(usize) -> String) -> UpdateReport {
        let rolls: Vec<&Roll> = self.apps.iter().flatten().collect();
        let below_n_minus_1 = self
            .apps
            .iter()
            .enumerate()
            .filter(|(_, r)| r.as_ref().is_some_and(|r| r.deficit() > 1))
            .map(|(a, _)| name(a))
            .take(20)
            .collect();
        let mut counts: Vec<u32> = rolls.iter().map(|r| r.wanted).collect();
        counts.sort_unstable();
        counts.dedup();
        let by_instances = counts
            .into_iter()
            .map(|n| {
                let group: Vec<&Roll> = rolls.iter().copied().filter(|r| r.wanted == n).collect();
                let (time, never) = times(&group, self.at);
                let mut exact = Vec::new();
                for r in &group {
                    let k = r.deficit();
                    if exact.len() <= k {
                        exact.resize(k + 1, 0);
                    }
                    exact[k] += 1;
                }
                UpdateGroup {
                    instances: n,
                    apps: group.len(),
                    time_to_updated_s: time,
                    never_updated: never,
                    fewest_n_minus: exact,
                }
            })
            .collect();
        let (time, never) = times(&rolls, self.at);
        let worst = rolls.iter().map(|r| r.deficit()).max().unwrap_or(0);
        UpdateReport {
            at_s: self.at / 1_000,
            apps_updated: rolls.len(),
            time_to_updated_s: time,
            never_updated: never,
            fewest_healthy_min: rolls.iter().map(|r| r.fewest).min().unwrap_or(0),
            fewest_at_least_n_minus: (0..=worst)
                .map(|k| rolls.iter().filter(|r| r.deficit() <= k).count())
                .collect(),
            below_n_minus_1,
            reverted: rolls.iter().filter(|r| r.reverted).count(),
            by_instances,
        }
    }
}

impl Roll {
    fn note(&mut self, now: Millis) {
        if self.done_at.is_some() {
            return;
        }
        self.fewest = self.fewest.min(self.serving);
        if self.serving == self.wanted && self.on_new == self.wanted {
            self.done_at = Some(now);
        }
    }

    /// N minus the fewest serving (0 when it never dropped below N).
    fn deficit(&self) -> usize {
        self.wanted.saturating_sub(self.fewest) as usize
    }
}

fn times(rolls: &[&Roll], at: Millis) -> (Stats, usize) {
    let done: Vec<f64> = rolls
        .iter()
        .filter_map(|r| r.done_at)
        .map(|t| t.saturating_sub(at) as f64 / 1_000.0)
        .collect();
    let never = rolls.len() - done.len();
    (Stats::of(done), never)
}

/// FluxOS checks an app's installed spec against the latest this often (uniform).
pub const FLUXOS_CHECK_MS: (Millis, Millis) = (8 * 60_000, 18 * 60_000);
/// Stop, remove the container and remove the image (uniform, ms).
pub const FLUXOS_REMOVE_MS: (Millis, Millis) = (2_000, 6_000);
/// Pull the new image (uniform, ms).
pub const FLUXOS_PULL_MS: (Millis, Millis) = (10_000, 60_000);

/// FluxOS's redeploy of updated apps: which instances run the new spec and which are
/// down being redeployed.
pub(crate) struct FluxosRedeploy {
    pub roll: Rollouts,
    /// (node, app): instances of updated apps installed from the new spec.
    new_on: BTreeSet<(u32, usize)>,
    /// (node, app): instances being redeployed now.
    down: BTreeSet<(u32, usize)>,
}

/// What a host does at one of its checks.
pub(crate) enum Check {
    /// Nothing more to do: gone from this node, or on the new spec already.
    Stop,
    /// Check again at this time.
    Again(Millis),
    /// Redeploy now; back (or failed, `ok` false) at this time.
    Redeploy { back_at: Millis, ok: bool },
}

impl FluxosRedeploy {
    pub fn new(apps: usize) -> Self {
        Self {
            roll: Rollouts::new(apps),
            new_on: BTreeSet::new(),
            down: BTreeSet::new(),
        }
    }

    /// The spec version of `node`'s instance of `app` (0: the one from before the update).
    pub fn version(&self, node: u32, app: usize) -> u64 {
        match self.roll.target(app) {
            Some(v) if self.new_on.contains(&(node, app)) => v,
            _ => 0,
        }
    }

    /// A host's next check (its first: from the update).
    pub fn next_check(now: Millis, rng: &mut ChaCha8Rng) -> Millis {
        now + rng.gen_range(FLUXOS_CHECK_MS.0..=FLUXOS_CHECK_MS.1)
    }

    /// `node` starts installing `app`: from the latest spec.
    pub fn installing(&mut self, node: u32, app: usize) {
        if self.roll.target(app).is_some() {
            self.new_on.insert((node, app));
        }
    }

    /// `node`'s instance of `app` is gone (`serving`: it was serving).
    pub fn removed(&mut self, node: u32, app: usize, serving: bool, now: Millis) {
        if serving {
            let v = self.version(node, app);
            self.roll.stopped(app, v, now);
        }
        self.new_on.remove(&(node, app));
        self.down.remove(&(node, app));
    }

    /// `node`'s instance of `app` started serving.
    pub fn started(&mut self, node: u32, app: usize, now: Millis) {
        let v = self.version(node, app);
        self.roll.started(app, v, now);
    }

    /// A host's check of its instance of `app` (`state`: `Some(serving)` while it holds
    /// one). `start_ms` and `start_failure` are the scenario's container starts.
    pub fn check(
        &mut self,
        node: u32,
        app: usize,
        state: Option<bool>,
        now: Millis,
        (start_ms, start_failure): ((Millis, Millis), f64),
        rng: &mut ChaCha8Rng,
    ) -> Check {
        let Some(serving) = state else {
            return Check::Stop;
        };
        if self.new_on.contains(&(node, app)) || self.down.contains(&(node, app)) {
            return Check::Stop;
        }
        // Installing (from the old spec) or not redeploying at this check: the next one.
        if !serving || !rng.gen_bool(0.5) {
            return Check::Again(Self::next_check(now, rng));
        }
        let (lo, hi) = start_ms;
        let down = rng.gen_range(FLUXOS_REMOVE_MS.0..=FLUXOS_REMOVE_MS.1)
            + rng.gen_range(FLUXOS_PULL_MS.0..=FLUXOS_PULL_MS.1)
            + rng.gen_range(lo..=hi.max(lo));
        let ok = !rng.gen_bool(start_failure.clamp(0.0, 1.0));
        let v = self.version(node, app);
        self.roll.stopped(app, v, now);
        self.down.insert((node, app));
        Check::Redeploy {
            back_at: now + down,
            ok,
        }
    }

    /// Whether `node` is redeploying `app`.
    pub fn is_down(&self, node: u32, app: usize) -> bool {
        self.down.contains(&(node, app))
    }

    /// The redeploy of `node`'s `app` ended: serving on the new spec when `ok`; otherwise
    /// the instance is gone (the caller removes it).
    pub fn back(&mut self, node: u32, app: usize, ok: bool, now: Millis) {
        self.down.remove(&(node, app));
        if ok {
            self.new_on.insert((node, app));
            self.started(node, app, now);
        } else {
            self.new_on.remove(&(node, app));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollout_is_done_at_n_on_the_new_version_and_keeps_its_fewest() {
        let mut r = Rollouts::new(3);
        r.begin(1, 3, 7, 3, 10_000);
        r.stopped(1, 0, 11_000);
        r.started(1, 7, 13_000);
        r.stopped(1, 0, 20_000);
        r.stopped(1, 0, 21_000);
        r.started(1, 7, 22_000);
        r.started(1, 7, 25_000);
        // Done: later drops do not count.
        r.stopped(1, 7, 30_000);
        r.started(0, 7, 30_000);
        let rep = r.report(|a| format!("app{a}"));
        assert_eq!(rep.apps_updated, 1);
        assert_eq!(rep.time_to_updated_s.max, 15.0);
        assert_eq!(rep.fewest_healthy_min, 1);
        assert_eq!(rep.fewest_at_least_n_minus, vec![0, 0, 1]);
        assert_eq!(rep.by_instances[0].fewest_n_minus, vec![0, 0, 1]);
        assert_eq!(rep.below_n_minus_1, vec!["app1".to_string()]);
        assert_eq!(rep.never_updated, 0);
    }

    #[test]
    fn an_app_above_n_or_reverted_is_not_fully_updated() {
        let mut r = Rollouts::new(2);
        r.begin(0, 1, 5, 1, 0);
        r.started(0, 5, 1_000);
        r.stopped(0, 0, 2_000);
        r.begin(1, 1, 6, 1, 0);
        r.reverted(1, 6);
        let rep = r.report(|a| format!("app{a}"));
        assert_eq!((rep.apps_updated, rep.never_updated), (2, 1));
        assert_eq!(rep.time_to_updated_s.max, 2.0);
        assert_eq!(rep.reverted, 1);
    }
}
