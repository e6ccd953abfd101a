//! Gauges derived from the protocol state: this node's own apps, and per registered app its
//! desired and running instance counts (what the under/over-replication alerts compare).

use std::collections::BTreeSet;
use std::sync::Arc;

use scheduler::protocol::{BEAT_EVERY, Health, Millis};

use super::Daemon;
use crate::metrics::AppLabel;

/// The apps that have per-app series, so series of apps that ended are removed rather than
/// left frozen at their last value.
#[derive(Debug, Default)]
pub(super) struct AppSeries {
    apps: BTreeSet<Arc<str>>,
    refreshed_at: Option<Millis>,
}

impl Daemon {
    /// This node's own counts: apps assigned here, and those whose containers all run.
    pub(super) fn update_app_gauges(&self) {
        let hosted: Vec<bool> = self.node.hosted().map(|(_, r)| r).collect();
        self.metrics.apps_desired.set(hosted.len() as i64);
        self.metrics
            .apps_running
            .set(hosted.iter().filter(|r| **r).count() as i64);
    }

    /// Per-app series, refreshed once per beat period: group liveness only changes on that
    /// schedule, and a scrape every 15 s or more needs nothing finer. The pass is linear in
    /// the registered apps (a few thousand on Flux), once per 5 s.
    pub(super) fn update_app_instance_gauges(&mut self, now: Millis) {
        if self
            .app_series
            .refreshed_at
            .is_some_and(|t| now.saturating_sub(t) < BEAT_EVERY)
        {
            return;
        }
        self.app_series.refreshed_at = Some(now);
        let held_off = self.node.strikes().filter(|(_, s)| s.until > now).count();
        self.metrics.nodes_held_off.set(held_off as i64);
        let mut current = BTreeSet::new();
        for entry in self.view.apps() {
            let app = &entry.record.name;
            if !self.view.placeable(app, now) {
                continue;
            }
            // A host counts its group's live members (beats every 5 s). Anyone else counts
            // running reports from nodes it is connected to: a dead node never withdraws
            // its report, but its connection closes within a ping timeout, while the
            // membership view would keep it for 15 minutes.
            let running = self.node.live_group_size(app, now).unwrap_or_else(|| {
                self.view
                    .locations(app)
                    .iter()
                    .filter(|(p, _)| *p == self.id || self.peers.contains(p))
                    .count()
            });
            let label = AppLabel {
                app: app.to_string(),
            };
            self.metrics
                .app_instances_desired
                .get_or_create(&label)
                .set(i64::from(entry.record.demand.instances));
            self.metrics
                .app_instances_running
                .get_or_create(&label)
                .set(running as i64);
            let healthy = self
                .reports(app)
                .iter()
                .filter(|(p, _)| self.instance_health(app, *p) == Health::Healthy)
                .count();
            self.metrics
                .app_instances_healthy
                .get_or_create(&label)
                .set(healthy as i64);
            current.insert(app.clone());
        }
        for gone in self.app_series.apps.difference(&current) {
            let label = AppLabel {
                app: gone.to_string(),
            };
            self.metrics.app_instances_desired.remove(&label);
            self.metrics.app_instances_running.remove(&label);
            self.metrics.app_instances_healthy.remove(&label);
        }
        self.app_series.apps = current;
    }
}
