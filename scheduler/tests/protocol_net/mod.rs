//! The hand-driven protocol network shared by the protocol tests: a few nodes, a message
//! pump with no latency, and the ability to drop messages or silence nodes.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::Arc;

use proto::tier::Resources;
use scheduler::model::{AppDemand, Params};
use scheduler::protocol::{
    AppRecord, ChainClock, Input, Millis, Msg, Node, NodeConfig, Output, PersistRecord, TICK, View,
};
use scheduler::sim::workload;

/// Decides whether a message from → to is lost.
pub type DropRule = Box<dyn Fn(u32, u32, &Msg<u32>) -> bool>;

pub struct Net {
    pub view: View<u32>,
    pub nodes: Vec<Node<u32>>,
    pub alive: Vec<bool>,
    pub queue: VecDeque<(u32, u32, Msg<u32>)>,
    pub running: Vec<Vec<Arc<str>>>,
    /// Drop every message for which this returns true.
    pub drop: DropRule,
    /// Nodes on which something else holds the apps' host ports (told before each call,
    /// as the daemon does after trying to bind them).
    pub ports_taken: Vec<bool>,
    /// Nodes whose every container start fails (a host that claims what it cannot do).
    pub failing: Vec<bool>,
    /// Instances report healthy as soon as they start (else they stay "starting").
    pub healthy_on_start: bool,
    /// Every record a node asked to persist, with the node.
    pub persisted: Vec<(u32, PersistRecord<u32>)>,
    /// Spec versions whose instances start but never turn healthy.
    pub never_healthy: Vec<u64>,
    /// Spec versions whose start fails.
    pub start_fails: Vec<u64>,
}

impl Net {
    pub fn new(n: usize) -> Self {
        let infos = workload::nodes(n, 5, |i| i.to_string());
        let clock = ChainClock::new(2_000_000, 0);
        let mut view = View::new(clock, Params::default());
        let mut nodes = Vec::new();
        for (i, info) in infos.iter().enumerate() {
            let mut info = info.clone();
            info.uptime = 1.0;
            info.used = Resources::default();
            view.upsert_member(i as u32, info.clone(), 0);
            nodes.push(Node::new(NodeConfig {
                id: i as u32,
                total: info.total,
                base_used: info.used,
                phase: 0,
            }));
        }
        view.refresh(0);
        Net {
            view,
            nodes,
            alive: vec![true; n],
            queue: VecDeque::new(),
            running: vec![Vec::new(); n],
            drop: Box::new(|_, _, _| false),
            ports_taken: vec![false; n],
            failing: vec![false; n],
            healthy_on_start: false,
            persisted: Vec::new(),
            never_healthy: Vec::new(),
            start_fails: Vec::new(),
        }
    }

    pub fn apply(&mut self, from: u32, outs: Vec<Output<u32>>, now: Millis) {
        for o in outs {
            match o {
                Output::Send(to, m) => {
                    if !(self.drop)(from, to, &m) {
                        self.queue.push_back((from, to, m));
                    }
                }
                Output::Broadcast(m) => {
                    let _ = self.view.apply(&m, now);
                    // Running reports also reach every node's protocol, as in the daemon.
                    if matches!(m, Msg::Running { .. }) {
                        for to in 0..self.nodes.len() as u32 {
                            if to != from {
                                self.queue.push_back((from, to, m.clone()));
                            }
                        }
                    }
                }
                // A failing node's start fails (at its next tick): nothing runs there.
                Output::StartApp(a) if !self.failing[from as usize] => {
                    self.running[from as usize].push(a)
                }
                Output::StartApp(_) => {}
                Output::StopApp(a) | Output::RemoveApp(a) => {
                    self.running[from as usize].retain(|x| *x != a)
                }
                // The instance restarts on the new version: started again by `run`.
                Output::MoveApp { .. } => {}
                Output::Persist(r) => self.persisted.push((from, r)),
                Output::SetTimer(_) => {}
            }
        }
    }

    pub fn pump(&mut self, now: Millis) {
        while let Some((from, to, m)) = self.queue.pop_front() {
            if !self.alive[to as usize] || !self.alive[from as usize] {
                continue;
            }
            if let Msg::CallForBids { app, .. } = &m {
                let input = Input::LocalCheck {
                    app: app.clone(),
                    ok: !self.ports_taken[to as usize],
                };
                let outs = self.nodes[to as usize].handle(input, now, &self.view);
                assert!(outs.is_empty(), "a port answer alone does nothing");
            }
            let outs =
                self.nodes[to as usize].handle(Input::Message { from, msg: &m }, now, &self.view);
            self.apply(to, outs, now);
        }
    }

    pub fn register(&mut self, app: &AppDemand, now: Millis) {
        let msg = Msg::Register(record(app, 1));
        self.view.apply(&msg, now).unwrap();
        for i in 0..self.nodes.len() {
            // As the daemon does before a registration reaches the protocol.
            let input = Input::LocalCheck {
                app: Arc::from(app.name.as_str()),
                ok: !self.ports_taken[i],
            };
            assert!(self.nodes[i].handle(input, now, &self.view).is_empty());
            let outs = self.nodes[i].handle(Input::Message { from: 0, msg: &msg }, now, &self.view);
            self.apply(i as u32, outs, now);
        }
        self.pump(now);
    }

    /// The owner updates `app` to a spec with `instances` instances, as `version`.
    pub fn update(&mut self, app: &AppDemand, version: u64, now: Millis) {
        let msg = Msg::Update(record(app, version));
        self.view.apply(&msg, now).unwrap();
        for i in 0..self.nodes.len() {
            if self.alive[i] {
                let outs =
                    self.nodes[i].handle(Input::Message { from: 0, msg: &msg }, now, &self.view);
                self.apply(i as u32, outs, now);
            }
        }
        self.pump(now);
    }

    /// Advances time tick by tick to `until`, starting every pending container at once.
    pub fn run(&mut self, from: Millis, until: Millis) {
        let mut t = from;
        while t <= until {
            for i in 0..self.nodes.len() {
                if !self.alive[i] {
                    continue;
                }
                let starting: Vec<Arc<str>> = self.nodes[i]
                    .hosted()
                    .filter(|(_, running)| !running)
                    .map(|(a, _)| a.clone())
                    .collect();
                for app in starting {
                    let version = self.nodes[i].version_of(&app).unwrap_or(0);
                    if self.failing[i] || self.start_fails.contains(&version) {
                        let outs =
                            self.nodes[i].handle(Input::ContainerFailed { app }, t, &self.view);
                        self.apply(i as u32, outs, t);
                        continue;
                    }
                    let outs = self.nodes[i].handle(
                        Input::ContainerStarted { app: app.clone() },
                        t,
                        &self.view,
                    );
                    self.apply(i as u32, outs, t);
                    if self.healthy_on_start && !self.never_healthy.contains(&version) {
                        let health = scheduler::protocol::Health::Healthy;
                        let outs =
                            self.nodes[i].handle(Input::Health { app, health }, t, &self.view);
                        self.apply(i as u32, outs, t);
                    }
                }
                let outs = self.nodes[i].handle(Input::Tick, t, &self.view);
                self.apply(i as u32, outs, t);
            }
            self.pump(t);
            self.view.refresh(t);
            t += TICK;
        }
    }

    /// Runs tick by tick from `from` while `going` holds, up to `limit`; returns the time of
    /// the first tick not run (where `going` stopped holding, or past `limit`).
    pub fn run_while(
        &mut self,
        from: Millis,
        limit: Millis,
        mut going: impl FnMut(&Net) -> bool,
    ) -> Millis {
        let mut t = from;
        while t <= limit && going(self) {
            self.run(t, t);
            t += TICK;
        }
        t
    }

    pub fn hosts(&self, app: &str) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.alive[i] && self.running[i].iter().any(|a| &**a == app))
            .collect()
    }
}

/// The owner "o"'s record of `app` at spec `version`.
fn record(app: &AppDemand, version: u64) -> Arc<AppRecord> {
    Arc::new(AppRecord {
        name: Arc::from(app.name.as_str()),
        owner: "o".into(),
        demand: app.clone(),
        spec_bytes: 100,
        ports: Vec::new(),
        version,
    })
}

pub fn app(name: &str, instances: u32) -> AppDemand {
    AppDemand::new(name, instances, Resources::new(0.5, 500, 5)).with_height(1_999_000)
}
