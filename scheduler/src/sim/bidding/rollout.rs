//! Rolling updates in the `bidding` strategy: the owners' updates (`--update`) and the
//! simulated runtime's side of a move ([`Output::MoveApp`](crate::protocol::Output)).

use std::sync::Arc;

use super::{Instance, Sim};
use crate::ledger::{Action, OwnerOp};
use crate::model::Capacity;
use crate::protocol::{Input, Millis};
use crate::sim::update::{pick, version_for};

impl Sim<'_> {
    /// `--update K@T`: the owners of the first K apps running at their count (not those
    /// past their expiry, nor names two owners registered) publish a new spec, the same
    /// demand under a new version, each entering at a random node as a registration does.
    pub(super) fn update_apps(&mut self, now: Millis) {
        let Some(u) = self.cfg.update else {
            return;
        };
        let chosen = pick(self.records.len(), u.apps, |a| {
            !self.expiring.contains(&a) && !self.rivals.contains_key(&a) && self.tracker.at_n(a)
        });
        for (i, a) in chosen.into_iter().enumerate() {
            let version = version_for(now, i);
            let record = Arc::new(crate::protocol::AppRecord {
                version,
                ..(*self.records[a]).clone()
            });
            self.rollouts.begin(
                a,
                record.demand.instances,
                version,
                self.tracker.running(a),
                now,
            );
            let from = self.random_alive();
            let owner = record.owner.clone();
            let action = Action::unsigned(&owner, version, OwnerOp::Update(record));
            self.owner_action(from, action, now);
        }
    }

    /// The node replaces its instance of `app` with spec `version`: the old containers
    /// stop serving now, the new ones start like any start (same time and failure
    /// draws) and are reported started and healthy to the node as starts are.
    pub(super) fn move_app(&mut self, node: usize, app: Arc<str>, version: u64, now: Millis) {
        let Some(&a) = self.app_index.get(&app) else {
            return;
        };
        let view = self.lv.view_of(node);
        let cap = view
            .record_of(&app, version)
            .map_or(self.records[a].demand.resources, |r| r.demand.resources);
        let cap = Capacity::from(cap);
        let mut owner = view
            .app(&app)
            .map_or_else(String::new, |e| e.record.owner.clone());
        if let Some(old) = self.rt[node].remove(&app) {
            self.rt_used[node] = self.rt_used[node].saturating_sub(old.cap);
            if old.running {
                self.tracker.stopped(a, now);
                self.rollouts.stopped(a, old.version, now);
            }
            owner = old.owner;
        }
        self.hold(node, cap);
        let inst = Instance {
            running: false,
            generation: 0,
            owner,
            cap,
            version,
            moved: true,
        };
        self.launch(node, app, inst, now);
    }

    /// The start of a moved instance failed. Its host goes back to the version it ran (a
    /// new move, in its outputs) and keeps the instance; were it to release it instead,
    /// the runtime removes the failed containers.
    pub(super) fn move_failed(&mut self, node: usize, app: Arc<str>, generation: u64, now: Millis) {
        let input = Input::ContainerFailed { app: app.clone() };
        let outs = self.nodes[node].handle(input, now, self.lv.view_of(node));
        self.outputs(node as u32, outs, now);
        let unchanged = self.rt[node]
            .get(&app)
            .is_some_and(|i| i.generation == generation);
        if unchanged && self.nodes[node].version_of(&app).is_none() {
            self.stop(node, &app, now);
        }
    }
}
