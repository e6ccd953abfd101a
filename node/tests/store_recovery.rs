//! The store recovers from a transient disk-full without a restart: on a 32 MB tmpfs,
//! writes fail while the disk is full (each failure counted, the store reported
//! unhealthy), and once space is freed the next write works, the store is healthy again,
//! and every write acknowledged before the disk filled is still there.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fluxnode::store::{Store, Tree};
use prometheus_client::metrics::counter::Counter;

/// A tmpfs mounted for the test, unmounted on drop (also on failure).
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs needs root (CAP_SYS_ADMIN)");
        Tmpfs {
            path: dir.path().to_path_buf(),
            _dir: dir,
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the file system holding `path` with one file; returns the file.
fn fill(path: &Path) -> PathBuf {
    let filler = path.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0xa5u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.flush();
    filler
}

#[test]
#[ignore = "full tier: needs root to mount a tmpfs (scripts/test.sh runs it)"]
fn a_full_disk_breaks_writes_only_until_space_is_freed() {
    let fs = Tmpfs::mount("32m");
    let store = Store::open(fs.path.join("db")).unwrap();
    let errors = Counter::<u64>::default();
    store.count_errors_in(errors.clone());

    let value = "x".repeat(4_000);
    for i in 0..50 {
        store
            .put(Tree::AppSpecs, &format!("before{i}"), &value)
            .unwrap();
    }
    assert!(store.healthy());
    assert_eq!(errors.get(), 0);

    let filler = fill(&fs.path);
    let mut failed = 0;
    for i in 0..200 {
        if store
            .put(Tree::AppSpecs, &format!("full{i}"), &value)
            .is_err()
        {
            failed += 1;
        }
    }
    eprintln!(
        "{failed} of 200 writes failed on the full disk; errors counted: {}",
        errors.get()
    );
    assert!(failed > 0, "the disk never filled");
    assert!(!store.healthy(), "a failing store must not report healthy");
    assert!(
        store
            .last_error()
            .is_some_and(|e| e.contains("No space left")
                || e.contains("closed")
                || e.contains("database"))
    );
    assert!(errors.get() >= failed, "every failed write is counted");
    assert!(!store.probe(), "still full: the probe fails");

    std::fs::remove_file(filler).unwrap();
    std::thread::sleep(Duration::from_millis(1_100));
    // Readiness recovers through the probe, without any write from a caller…
    assert!(
        store.probe(),
        "store did not recover: {:?}",
        store.last_error()
    );
    assert!(store.healthy());
    // …and writes and reads work again, with nothing acknowledged before lost.
    store.put(Tree::AppSpecs, "after", &value).unwrap();
    for i in 0..50 {
        let v: Option<String> = store.get(Tree::AppSpecs, &format!("before{i}")).unwrap();
        assert_eq!(v.as_deref(), Some(value.as_str()), "before{i} lost");
    }
    let v: Option<String> = store.get(Tree::AppSpecs, "after").unwrap();
    assert_eq!(v.as_deref(), Some(value.as_str()));
}
