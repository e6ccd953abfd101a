//! Ground truth of what runs where, and the metrics integrated over time.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::report::{FinalState, KillReport, PartitionReport, Stats, UnhealthyReport};
use crate::protocol::Millis;

/// Under-assignment counts from this long after registration: placing takes a round
/// trip and a container start, and the target is "at N within 30 s".
const UNDER_GRACE: Millis = 30_000;

#[derive(Debug, Clone, Default)]
struct App {
    wanted: u32,
    running: u32,
    registered_at: Option<Millis>,
    reached_at: Option<Millis>,
    /// Counted for under-assignment (registered, placeable).
    placeable: bool,
    /// Wanted count is zero (removed or cancelled).
    gone: bool,
}

pub(crate) struct Tracker {
    apps: Vec<App>,
    last: Millis,
    over_ms: f64,
    under_ms: f64,
    kill_at: Option<Millis>,
    affected: BTreeSet<usize>,
    recovered: Vec<(usize, Millis)>,
    pub partition: PartitionReport,
    /// `--unhealthy`: apps with a give-up not yet made good, by the time of the last one.
    gave_up: BTreeMap<usize, Millis>,
    given_up: usize,
    unhealthy_affected: BTreeSet<usize>,
    unhealthy_recovered: Vec<f64>,
    pub taken_back: usize,
}

impl Tracker {
    pub fn new(wanted: impl Iterator<Item = u32>) -> Self {
        Self {
            apps: wanted
                .map(|w| App {
                    wanted: w,
                    ..App::default()
                })
                .collect(),
            last: 0,
            over_ms: 0.0,
            under_ms: 0.0,
            kill_at: None,
            affected: BTreeSet::new(),
            recovered: Vec::new(),
            partition: PartitionReport::default(),
            gave_up: BTreeMap::new(),
            given_up: 0,
            unhealthy_affected: BTreeSet::new(),
            unhealthy_recovered: Vec::new(),
            taken_back: 0,
        }
    }

    /// Integrates over/under time up to `now`. O(apps); called on every change would be
    /// too slow, so the simulator calls it once per simulated 100 ms (see `advance`).
    pub fn advance(&mut self, now: Millis) {
        let dt = now.saturating_sub(self.last) as f64;
        if dt <= 0.0 {
            return;
        }
        for a in &self.apps {
            let wanted = if a.gone { 0 } else { a.wanted };
            if a.registered_at.is_none() {
                continue;
            }
            if a.running > wanted {
                self.over_ms += dt * f64::from(a.running - wanted);
            } else if a.running < wanted
                && a.placeable
                && a.registered_at.is_some_and(|r| now >= r + UNDER_GRACE)
            {
                self.under_ms += dt * f64::from(wanted - a.running);
            }
        }
        self.last = now;
    }

    pub fn register(&mut self, app: usize, now: Millis, placeable: bool) {
        if let Some(a) = self.apps.get_mut(app) {
            a.registered_at = Some(now);
            a.placeable = placeable;
        }
    }

    pub fn set_placeable(&mut self, app: usize, placeable: bool) {
        if let Some(a) = self.apps.get_mut(app) {
            a.placeable = placeable;
        }
    }

    pub fn set_gone(&mut self, app: usize) {
        if let Some(a) = self.apps.get_mut(app) {
            a.gone = true;
            a.placeable = false;
        }
    }

    /// Marks an app as already at N before the run (adopted instances).
    pub fn preexisting(&mut self, app: usize) {
        if let Some(a) = self.apps.get_mut(app) {
            a.registered_at = Some(0);
            a.reached_at = Some(0);
        }
    }

    pub fn started(&mut self, app: usize, now: Millis) {
        let Some(a) = self.apps.get_mut(app) else {
            return;
        };
        a.running += 1;
        self.changed(app, now);
    }

    pub fn stopped(&mut self, app: usize, now: Millis) {
        let Some(a) = self.apps.get_mut(app) else {
            return;
        };
        a.running = a.running.saturating_sub(1);
        if self.kill_at.is_some_and(|t| t == now) && a.placeable {
            self.affected.insert(app);
        }
        self.changed(app, now);
    }

    fn changed(&mut self, app: usize, now: Millis) {
        let Some(a) = self.apps.get_mut(app) else {
            return;
        };
        if a.running == a.wanted && !a.gone {
            if a.reached_at.is_none() && a.registered_at.is_some() {
                a.reached_at = Some(now);
            }
            if let Some(t) = self.gave_up.remove(&app) {
                self.unhealthy_recovered
                    .push(now.saturating_sub(t) as f64 / 1_000.0);
            }
            if let Some(k) = self.kill_at {
                if now > k
                    && self.affected.contains(&app)
                    && !self.recovered.iter().any(|&(x, _)| x == app)
                {
                    self.recovered.push((app, now - k));
                }
            }
        }
    }

    /// A host gave an instance of `app` up at `now` (after [`Self::stopped`]).
    pub fn gave_up(&mut self, app: usize, now: Millis) {
        self.given_up += 1;
        self.unhealthy_affected.insert(app);
        self.gave_up.insert(app, now);
    }

    pub fn unhealthy_report(&self) -> UnhealthyReport {
        UnhealthyReport {
            given_up: self.given_up,
            affected_apps: self.unhealthy_affected.len(),
            time_to_replace_s: Stats::of(self.unhealthy_recovered.clone()),
            not_recovered: self.gave_up.len(),
            taken_back: self.taken_back,
        }
    }

    pub fn begin_kill(&mut self, now: Millis) {
        self.kill_at = Some(now);
    }

    pub fn kill_report(&self, killed: usize) -> Option<KillReport> {
        self.kill_at?;
        let recovered: Vec<f64> = self
            .recovered
            .iter()
            .filter(|(a, _)| self.affected.contains(a))
            .map(|&(_, d)| d as f64 / 1_000.0)
            .collect();
        Some(KillReport {
            killed_nodes: killed,
            affected_apps: self.affected.len(),
            not_recovered: self.affected.len() - recovered.len(),
            infeasible_after_kill: 0,
            time_to_replace_s: Stats::of(recovered),
        })
    }

    /// Milliseconds from the kill until `app` was at its count again, if it was hit by the
    /// kill and has recovered.
    pub fn recovered_after_kill(&self, app: usize) -> Option<Millis> {
        self.recovered
            .iter()
            .find(|&&(a, _)| a == app)
            .map(|&(_, d)| d)
    }

    /// Whether `app` runs exactly its wanted count now.
    pub fn at_n(&self, app: usize) -> bool {
        self.apps
            .get(app)
            .is_some_and(|a| !a.gone && a.registered_at.is_some() && a.running == a.wanted)
    }

    /// Apps above N now, and by how many instances in total.
    pub fn above(&self) -> (usize, u64) {
        let mut apps = 0;
        let mut extra = 0;
        for a in &self.apps {
            let wanted = if a.gone { 0 } else { a.wanted };
            if a.registered_at.is_some() && a.running > wanted {
                apps += 1;
                extra += u64::from(a.running - wanted);
            }
        }
        (apps, extra)
    }

    pub fn time_to_n(&self) -> (Stats, usize) {
        let mut xs = Vec::new();
        let mut never = 0;
        for a in &self.apps {
            match (a.registered_at, a.reached_at) {
                (Some(r), Some(t)) if r > 0 || t > 0 => xs.push((t - r) as f64 / 1_000.0),
                (Some(_), None) if a.placeable => never += 1,
                _ => {}
            }
        }
        (Stats::of(xs), never)
    }

    pub fn over_under_seconds(&self) -> (f64, f64) {
        (self.over_ms / 1_000.0, self.under_ms / 1_000.0)
    }

    pub fn running(&self, app: usize) -> u32 {
        self.apps.get(app).map_or(0, |a| a.running)
    }

    /// End state; `name` names app indices for the off-target list.
    pub fn final_state(&self, name: impl Fn(usize) -> String) -> FinalState {
        let mut f = FinalState::default();
        for (i, a) in self.apps.iter().enumerate() {
            if a.registered_at.is_none() || a.gone {
                continue;
            }
            f.instances_running += u64::from(a.running);
            match a.running.cmp(&a.wanted) {
                std::cmp::Ordering::Equal => f.apps_at_n += 1,
                std::cmp::Ordering::Greater => f.apps_above_n += 1,
                std::cmp::Ordering::Less => f.apps_below_n += 1,
            }
            if a.running != a.wanted && f.off_target.len() < 20 {
                f.off_target
                    .push(format!("{} {}/{}", name(i), a.running, a.wanted));
            }
        }
        f
    }
}

/// SHA-256 over the sorted `app\tnode\n` lines of a placement.
pub(crate) fn digest(mut lines: Vec<(String, String)>) -> String {
    lines.sort();
    let mut h = Sha256::new();
    for (a, n) in lines {
        h.update(a.as_bytes());
        h.update(b"\t");
        h.update(n.as_bytes());
        h.update(b"\n");
    }
    hex_encode(&h.finalize())
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
