//! The daemon's use of the benchmark: cached in the real sled store with its time, reused
//! at start while fresh, re-run when stale, and re-run on a period.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fluxnode::bench::cache::{self, LATEST};
use fluxnode::bench::{BenchOptions, BenchReport, TierProfile};
use fluxnode::store::{Store, Tree};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn options(dir: &std::path::Path) -> BenchOptions {
    BenchOptions {
        dir: dir.to_path_buf(),
        quick: true,
        profile: TierProfile::Testnet,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_reuses_a_fresh_report_and_reruns_a_stale_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db")).unwrap();
    let opts = options(dir.path());
    let day = Duration::from_secs(86_400);

    let first = cache::at_start(&store, &opts, day, now()).await.unwrap();
    let stored: BenchReport = store.get(Tree::Benchmarks, LATEST).unwrap().unwrap();
    assert_eq!(stored, first, "the report is stored before it is used");

    let again = cache::at_start(&store, &opts, day, now()).await.unwrap();
    assert_eq!(again, first, "a fresh report is reused, not re-measured");

    // A day later the same report is stale and a new run replaces it.
    let later = first.measured_at_unix + day.as_secs() + 1;
    assert!(
        cache::fresh_cached(&store, &opts, day, later)
            .unwrap()
            .is_none()
    );
    // A full-run setting never reuses a quick report.
    let full = BenchOptions {
        quick: false,
        ..opts.clone()
    };
    assert!(
        cache::fresh_cached(&store, &full, day, now())
            .unwrap()
            .is_none()
    );

    // Reopening the store (a daemon restart) still finds it.
    drop(store);
    let store = Store::open(dir.path().join("db")).unwrap();
    assert_eq!(
        cache::fresh_cached(&store, &opts, day, now()).unwrap(),
        Some(first)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_runs_publish_and_store_new_reports() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db")).unwrap();
    let opts = options(dir.path());
    let period = Duration::from_secs(3);
    let first = cache::at_start(&store, &opts, period, now()).await.unwrap();
    let (tx, mut rx) = tokio::sync::watch::channel(Some(first.clone()));
    let task = cache::spawn_periodic(store.clone(), opts, period, tx);

    tokio::time::timeout(Duration::from_secs(30), rx.changed())
        .await
        .expect("a new report within the period plus a quick run")
        .unwrap();
    let second = rx.borrow().clone().expect("a report");
    assert!(second.measured_at_unix > first.measured_at_unix);
    let stored: BenchReport = store.get(Tree::Benchmarks, LATEST).unwrap().unwrap();
    assert!(stored.measured_at_unix >= second.measured_at_unix);
    drop(rx);
    task.abort();
}
