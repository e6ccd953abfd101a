//! A new report from the periodic benchmark (`bench.period`): the node's tier, offered
//! capacity and score follow it, and a change is announced to peers at once.

use scheduler::protocol::Input;

use super::Daemon;
use super::startup::{offer, whole_size};
use crate::bench::BenchReport;
use crate::metrics::Metrics;

/// The benchmark gauges, from the report in use.
pub(super) fn set_gauges(metrics: &Metrics, b: &BenchReport) {
    metrics.benchmark_cpu_events.set(b.cpu.eps);
    metrics.benchmark_ram_bandwidth.set(b.ram.copy_mbs * 1e6);
    metrics.benchmark_disk_write.set(b.disk.write_mbs * 1e6);
    metrics
        .benchmark_last_run
        .set(i64::try_from(b.measured_at_unix).unwrap_or(i64::MAX));
}

impl Daemon {
    pub(super) fn on_bench_report(&mut self) {
        let Some(report) = self.bench_reports.borrow_and_update().clone() else {
            return;
        };
        set_gauges(&self.metrics, &report);
        let (tier, offered, score) = offer(Some(&report), self.facts.capacity_scale);
        let before = (self.facts.tier, self.facts.offered, self.facts.bench_score);
        self.bench = Some(report);
        if (tier, offered, score) == before {
            tracing::info!(%tier, bench_score = score, "benchmark re-run: no change");
            return;
        }
        tracing::info!(
            tier_before = %before.0,
            %tier,
            score_before = before.2,
            bench_score = score,
            "benchmark re-run: announcing the new tier, capacity and score"
        );
        self.facts.tier = tier;
        self.facts.offered = offered;
        self.facts.bench_score = score;
        // The protocol re-sizes the node and marks its announcement due; the tick sends it.
        self.drive(Input::Capacity {
            total: whole_size(&self.facts),
            base_used: proto::tier::Resources::default(),
        });
        self.drive(Input::Tick);
    }
}
