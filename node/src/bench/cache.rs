//! The benchmark as the daemon runs it: once at start — reusing the stored report when it
//! is younger than the period, so a restart does not cost 10 s of full load — and again
//! every period. Each report is stored (and flushed) with its time before it is used.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{BENCH_VERSION, BenchError, BenchOptions, BenchReport};
use crate::store::{Store, StoreError, Tree};

/// Key of the latest report in [`Tree::Benchmarks`].
pub const LATEST: &str = "latest";

#[derive(Debug, thiserror::Error)]
pub enum BenchCacheError {
    #[error(transparent)]
    Bench(#[from] BenchError),
    #[error("storing the benchmark report: {0}")]
    Store(#[from] StoreError),
    #[error("the benchmark task stopped unexpectedly: {0}")]
    Task(String),
}

/// The stored report, when it was made by this benchmark version with the same
/// quick/full setting and is younger than `period` at `now_unix`.
pub fn fresh_cached(
    store: &Store,
    options: &BenchOptions,
    period: Duration,
    now_unix: u64,
) -> Result<Option<BenchReport>, StoreError> {
    let Some(report) = store.get::<BenchReport>(Tree::Benchmarks, LATEST)? else {
        return Ok(None);
    };
    let age = now_unix.saturating_sub(report.measured_at_unix);
    let usable = report.version == BENCH_VERSION
        && report.quick == options.quick
        && Duration::from_secs(age) < period;
    Ok(usable.then_some(report))
}

/// Runs the benchmark on a blocking thread (it saturates every core for seconds) and
/// stores the report.
pub async fn refresh(
    store: &Store,
    options: &BenchOptions,
) -> Result<BenchReport, BenchCacheError> {
    let opts = options.clone();
    let report = tokio::task::spawn_blocking(move || super::run(&opts))
        .await
        .map_err(|e| BenchCacheError::Task(e.to_string()))??;
    store.put(Tree::Benchmarks, LATEST, &report)?;
    tracing::info!(
        eps = report.cpu.eps,
        bench_score = report.bench_score,
        duration_s = report.duration_secs,
        "benchmark stored"
    );
    Ok(report)
}

/// The report to start with: the fresh cached one, or a new run.
pub async fn at_start(
    store: &Store,
    options: &BenchOptions,
    period: Duration,
    now_unix: u64,
) -> Result<BenchReport, BenchCacheError> {
    match fresh_cached(store, options, period, now_unix)? {
        Some(report) => Ok(report),
        None => refresh(store, options).await,
    }
}

/// Re-runs the benchmark every `period` after the last report, publishing each new report
/// on `reports`. With no report yet (the run at start failed) the first retry comes one
/// period after the task starts. A failed run is logged and retried at the next period; it
/// never ends the loop. The task ends when every receiver is gone.
pub fn spawn_periodic(
    store: Store,
    options: BenchOptions,
    period: Duration,
    reports: watch::Sender<Option<BenchReport>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = reports
            .borrow()
            .as_ref()
            .map_or_else(unix_now, |r| Duration::from_secs(r.measured_at_unix));
        loop {
            let wait = last.saturating_add(period).saturating_sub(unix_now());
            tokio::time::sleep(wait).await;
            if reports.is_closed() {
                return;
            }
            match refresh(&store, &options).await {
                Ok(report) => {
                    last = Duration::from_secs(report.measured_at_unix);
                    if reports.send(Some(report)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "periodic benchmark failed; keeping the last report");
                    last = unix_now();
                }
            }
        }
    })
}

fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}
