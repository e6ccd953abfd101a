//! The simulated container runtime of the `bidding` strategy: starts that take time and
//! can fail, stops, and what the node hears back (started, then healthy; or failed).

use std::sync::Arc;

use rand::Rng;

use super::{Ev, Instance, Sim};
use crate::model::Capacity;
use crate::protocol::{Input, Millis};

impl Sim<'_> {
    pub(super) fn start(&mut self, node: usize, app: Arc<str>, now: Millis) {
        let Some(&a) = self.app_index.get(&app) else {
            return;
        };
        if self.rt[node].contains_key(&app) {
            self.inv.double_placements += 1;
            return;
        }
        if self
            .held_off
            .get(&(node, app.clone()))
            .is_some_and(|&t| t > now)
        {
            self.tracker.taken_back += 1;
        }
        let cap = Capacity::from(self.records[a].demand.resources);
        self.hold(node, cap);
        let owner = self
            .lv
            .view_of(node)
            .app(&app)
            .map_or_else(String::new, |e| e.record.owner.clone());
        let version = self.nodes[node].version_of(&app).unwrap_or(0);
        let inst = Instance {
            running: false,
            generation: 0,
            owner,
            cap,
            version,
            moved: false,
        };
        self.launch(node, app, inst, now);
    }

    /// Takes `cap` on `node`'s runtime (an overcommit when it does not fit).
    pub(super) fn hold(&mut self, node: usize, cap: Capacity) {
        let used = self.rt_used[node].saturating_add(cap);
        if !used.fits_within(&self.offered[node]) {
            self.inv.capacity_overcommits += 1;
        }
        self.rt_used[node] = used;
    }

    /// Creates and starts `app`'s containers on `node` (a start or a move): done, or
    /// failed, after a start time drawn from the scenario's.
    pub(super) fn launch(&mut self, node: usize, app: Arc<str>, inst: Instance, now: Millis) {
        self.generation += 1;
        self.rt[node].insert(
            app.clone(),
            Instance {
                generation: self.generation,
                ..inst
            },
        );
        let (lo, hi) = self.cfg.start_ms;
        let mut at = now + self.rng.gen_range(lo..=hi.max(lo));
        let mut ok = !self.rng.gen_bool(self.cfg.start_failure.clamp(0.0, 1.0));
        if self.failing[node] {
            ok = false;
            at = now + self.cfg.faults.fail_ms;
        }
        self.q.push(
            at,
            Ev::Done {
                node: node as u32,
                app,
                ok,
                generation: self.generation,
            },
        );
    }

    pub(super) fn stop(&mut self, node: usize, app: &Arc<str>, now: Millis) {
        if let Some(inst) = self.rt[node].remove(app) {
            self.rt_used[node] = self.rt_used[node].saturating_sub(inst.cap);
            if let Some(&a) = self.app_index.get(app) {
                if inst.running {
                    self.tracker.stopped(a, now);
                    self.rollouts.stopped(a, inst.version, now);
                }
            }
        }
    }

    pub(super) fn container_done(
        &mut self,
        node: u32,
        app: Arc<str>,
        ok: bool,
        generation: u64,
        now: Millis,
    ) {
        let ni = node as usize;
        if !self.net.alive[ni] {
            return;
        }
        let current = self.rt[ni]
            .get(&app)
            .is_some_and(|i| i.generation == generation && !i.running);
        if !current {
            return;
        }
        if !ok {
            if self.failing[ni] {
                self.fault.failed_starts += 1;
            }
            if self.rt[ni].get(&app).is_some_and(|i| i.moved) {
                self.move_failed(ni, app, generation, now);
                return;
            }
            self.stop(ni, &app, now);
            let outs =
                self.nodes[ni].handle(Input::ContainerFailed { app }, now, self.lv.view_of(ni));
            self.outputs(node, outs, now);
            return;
        }
        let mut version = 0;
        if let Some(i) = self.rt[ni].get_mut(&app) {
            i.running = true;
            version = i.version;
        }
        if let Some(&a) = self.app_index.get(&app) {
            self.tracker.started(a, now);
            self.rollouts.started(a, version, now);
        }
        let input = Input::ContainerStarted { app: app.clone() };
        let outs = self.nodes[ni].handle(input, now, self.lv.view_of(ni));
        self.outputs(node, outs, now);
        // A started instance serves (the simulator has no probes): its host reports it
        // healthy, as the daemon's first passing probe does, which is what tells the
        // coordinators watching placements (standing) that it came to serve.
        let health = crate::protocol::Health::Healthy;
        let outs = self.nodes[ni].handle(Input::Health { app, health }, now, self.lv.view_of(ni));
        self.outputs(node, outs, now);
    }
}
