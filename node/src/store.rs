//! The node's persistent state, in an embedded sled database.
//!
//! One [`Store`] holds one sled tree per kind of record ([`Tree`]). Values are JSON
//! (serde), so a record stays readable with any sled tool and tolerates added optional
//! fields. Every call that changes state returns only after sled has written and fsynced
//! its log ([`sled::Db::flush`]): a caller may acknowledge the change (API reply, gossip
//! sent) as soon as `put`/`delete`/`apply` returns, and a crash after that loses nothing.
//!
//! A value that no longer decodes (a schema change, a bit flip) is reported as
//! [`StoreError::Corrupt`] naming the tree and key, never as a panic.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use serde::{Serialize, de::DeserializeOwned};

/// The kinds of record the node keeps. Each is its own sled tree, keyed by a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tree {
    /// Registered app specifications, keyed by app name.
    AppSpecs,
    /// Bids this node has made and the capacity they reserve, keyed by app name.
    Bids,
    /// Placement decisions this node knows about, keyed by app name.
    Assignments,
    /// Apps this node runs: the runtime's desired local state, keyed by app name.
    Instances,
    /// Observed heartbeat record of each peer, keyed by peer id.
    Uptime,
    /// Benchmark results of this host, keyed by run label (e.g. "latest").
    Benchmarks,
    /// Strikes this node holds against other nodes (placements that never served), keyed
    /// by node id.
    Standing,
    /// Rollouts reverted, keyed by app name: the version that failed and the one the app
    /// went back to, so a restarted node does not roll the failed version out again.
    Reverts,
}

impl Tree {
    /// Every tree, in a fixed order.
    pub const ALL: [Tree; 8] = [
        Tree::AppSpecs,
        Tree::Bids,
        Tree::Assignments,
        Tree::Instances,
        Tree::Uptime,
        Tree::Benchmarks,
        Tree::Standing,
        Tree::Reverts,
    ];

    /// The sled tree name. Changing one orphans the records stored under the old name.
    pub fn name(self) -> &'static str {
        match self {
            Tree::AppSpecs => "app_specs",
            Tree::Bids => "bids",
            Tree::Assignments => "assignments",
            Tree::Instances => "instances",
            Tree::Uptime => "uptime",
            Tree::Benchmarks => "benchmarks",
            Tree::Standing => "standing",
            Tree::Reverts => "reverts",
        }
    }

    fn index(self) -> usize {
        match self {
            Tree::AppSpecs => 0,
            Tree::Bids => 1,
            Tree::Assignments => 2,
            Tree::Instances => 3,
            Tree::Uptime => 4,
            Tree::Benchmarks => 5,
            Tree::Standing => 6,
            Tree::Reverts => 7,
        }
    }
}

impl std::fmt::Display for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors from the store. Each names the database path or the tree and key involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the state database at {path}: {source} (is another fluxnode using it, \
         or is the directory unwritable?)"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("state database error while {op} in tree `{tree}`: {source}")]
    Database {
        op: &'static str,
        tree: Tree,
        #[source]
        source: sled::Error,
    },
    #[error(
        "corrupt record in tree `{tree}` at key `{key}`: {source} (delete the key or restore \
         the database from a backup)"
    )]
    Corrupt {
        tree: Tree,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot encode the record for tree `{tree}` key `{key}`: {source}")]
    Encode {
        tree: Tree,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("tree `{tree}` holds a key that is not UTF-8 ({key_hex}); delete it")]
    BadKey { tree: Tree, key_hex: String },
    #[error(
        "state database at {path} is closed after an error and not reopened yet (while \
         {op} in tree `{tree}`); free disk space there, it reopens by itself"
    )]
    Closed {
        op: &'static str,
        tree: Tree,
        path: PathBuf,
    },
}

/// Changes to apply atomically to one tree with [`Store::apply`].
#[derive(Debug)]
pub struct Batch {
    tree: Tree,
    inner: sled::Batch,
    len: usize,
}

impl Batch {
    /// An empty batch for `tree`.
    pub fn new(tree: Tree) -> Batch {
        Batch {
            tree,
            inner: sled::Batch::default(),
            len: 0,
        }
    }

    /// Stages `key = value`.
    pub fn put<V: Serialize>(&mut self, key: &str, value: &V) -> Result<(), StoreError> {
        let bytes = encode(self.tree, key, value)?;
        self.inner.insert(key.as_bytes(), bytes);
        self.len += 1;
        Ok(())
    }

    /// Stages the removal of `key`.
    pub fn delete(&mut self, key: &str) {
        self.inner.remove(key.as_bytes());
        self.len += 1;
    }

    /// Number of staged operations.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The node's state database. Cheap to clone; clones share the same database.
///
/// **Recovery.** sled 0.34 keeps the first I/O error of its log (e.g. "No space left on
/// device") as a global error and fails every later call with it, so a transient disk-full
/// would break the store until a restart. Instead, after a database error the store closes
/// and reopens the database (sled recovers from its log on open; nothing acknowledged is
/// lost, since every change is flushed before it returns) and retries the call once. A
/// failed reopen is retried at the next call or [`Store::probe`], at most once per
/// [`REOPEN_EVERY`]. [`Store::healthy`] tells readiness whether the last attempt worked.
#[derive(Debug, Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    /// `None` between closing a broken database and a successful reopen.
    open: RwLock<Option<Open>>,
    healthy: AtomicBool,
    last_reopen: Mutex<Option<Instant>>,
    /// `fluxnode_errors_total{kind="store"}`, once the daemon's metrics exist.
    errors: OnceLock<Counter>,
    /// The last error, for readiness.
    last_error: Mutex<Option<String>>,
}

#[derive(Debug)]
struct Open {
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

impl Open {
    fn at(path: &Path) -> Result<Open, sled::Error> {
        let db = sled::Config::new().path(path).open()?;
        let trees = Tree::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Open { db, trees })
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        // `trees` is built from `Tree::ALL` in `index` order, so every index is present.
        &self.trees[tree.index()]
    }

    /// sled 0.34 keeps one log for all trees: flushing the database fsyncs every write
    /// made before this call, in any tree.
    fn flush(&self) -> Result<(), sled::Error> {
        self.db.flush().map(drop)
    }
}

/// Reopen attempts after a failure are at least this far apart, so a disk that stays
/// full costs one reopen per second, not one per write.
pub const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// Key of the record [`Store::probe`] writes in the default tree to see that writes work.
const PROBE_KEY: &[u8] = b"fluxnode-store-probe";

impl Store {
    /// Opens (or creates) the database in directory `path`. Only one process may hold it.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let open = Open::at(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Ok(Store {
            shared: Arc::new(Shared {
                path,
                open: RwLock::new(Some(open)),
                healthy: AtomicBool::new(true),
                last_reopen: Mutex::new(None),
                errors: OnceLock::new(),
                last_error: Mutex::new(None),
            }),
        })
    }

    /// The directory the database lives in.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Counts every later store error in `counter` (the daemon passes
    /// `fluxnode_errors_total{kind="store"}`). Only the first call has an effect.
    pub fn count_errors_in(&self, counter: Counter) {
        let _ = self.shared.errors.set(counter);
    }

    /// Whether the last database call (or reopen) worked.
    pub fn healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::Acquire)
    }

    /// The last store error while the store is not healthy.
    pub fn last_error(&self) -> Option<String> {
        if self.healthy() {
            return None;
        }
        lock(&self.shared.last_error).clone()
    }

    /// For readiness: when the store is unhealthy, tries to reopen it and to write and
    /// flush a small record. Returns [`Store::healthy`].
    pub fn probe(&self) -> bool {
        if self.healthy() {
            return true;
        }
        let _ = self.run("probing", Tree::Benchmarks, |o| {
            o.db.insert(PROBE_KEY, &b"ok"[..])?;
            o.flush()
        });
        self.healthy()
    }

    /// Runs `f` on the open database; after a database error (or while closed), reopens
    /// it and runs `f` once more. Every error is counted.
    fn run<T>(
        &self,
        op: &'static str,
        tree: Tree,
        f: impl Fn(&Open) -> Result<T, sled::Error>,
    ) -> Result<T, StoreError> {
        let first = match self.attempt(&f) {
            Some(Ok(v)) => return Ok(self.worked(v)),
            Some(Err(source)) => {
                let e = self.fail(db_err(op, tree, source));
                tracing::warn!(error = %e, "store error; reopening the database");
                e
            }
            None => self.fail(StoreError::Closed {
                op,
                tree,
                path: self.shared.path.clone(),
            }),
        };
        match self.reopen() {
            Ok(true) => {}
            // Too soon after the last attempt: the first error stands.
            Ok(false) => return Err(first),
            Err(e) => return Err(self.fail(e)),
        }
        match self.attempt(&f) {
            Some(Ok(v)) => {
                tracing::info!(op, %tree, "store reopened; writes work again");
                Ok(self.worked(v))
            }
            Some(Err(source)) => Err(self.fail(db_err(op, tree, source))),
            None => Err(first),
        }
    }

    fn attempt<T>(
        &self,
        f: &impl Fn(&Open) -> Result<T, sled::Error>,
    ) -> Option<Result<T, sled::Error>> {
        let guard = self
            .shared
            .open
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().map(f)
    }

    fn worked<T>(&self, v: T) -> T {
        self.shared.healthy.store(true, Ordering::Release);
        v
    }

    /// Counts `e`, marks the store unhealthy and hands `e` back.
    fn fail(&self, e: StoreError) -> StoreError {
        if let Some(c) = self.shared.errors.get() {
            c.inc();
        }
        // A bad record is the record's problem, not the database's.
        if matches!(
            e,
            StoreError::Database { .. } | StoreError::Open { .. } | StoreError::Closed { .. }
        ) {
            self.shared.healthy.store(false, Ordering::Release);
            *lock(&self.shared.last_error) = Some(e.to_string());
        }
        e
    }

    /// Closes the database and opens it again. `Ok(false)` when the last attempt was less
    /// than [`REOPEN_EVERY`] ago.
    fn reopen(&self) -> Result<bool, StoreError> {
        {
            let mut last = lock(&self.shared.last_reopen);
            if last.is_some_and(|t| t.elapsed() < REOPEN_EVERY) {
                return Ok(false);
            }
            *last = Some(Instant::now());
        }
        let mut guard = self
            .shared
            .open
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Close first: the new handle needs the file lock the old one holds.
        *guard = None;
        let open = Open::at(&self.shared.path).map_err(|source| StoreError::Open {
            path: self.shared.path.clone(),
            source,
        })?;
        *guard = Some(open);
        Ok(true)
    }

    /// Writes `key = value` and returns once it is durable.
    pub fn put<V: Serialize>(&self, tree: Tree, key: &str, value: &V) -> Result<(), StoreError> {
        let bytes = encode(tree, key, value).map_err(|e| self.fail(e))?;
        self.run("writing", tree, |o| {
            o.tree(tree).insert(key.as_bytes(), bytes.as_slice())?;
            o.flush()
        })
    }

    /// Reads `key`; `Ok(None)` if absent.
    pub fn get<V: DeserializeOwned>(&self, tree: Tree, key: &str) -> Result<Option<V>, StoreError> {
        let raw = self.run("reading", tree, |o| o.tree(tree).get(key.as_bytes()))?;
        raw.map(|bytes| decode(tree, key, &bytes))
            .transpose()
            .map_err(|e| self.fail(e))
    }

    /// Whether `key` is present, without decoding its value.
    pub fn contains(&self, tree: Tree, key: &str) -> Result<bool, StoreError> {
        self.run("reading", tree, |o| {
            o.tree(tree).contains_key(key.as_bytes())
        })
    }

    /// Removes `key` and returns once durable; tells whether it was present.
    pub fn delete(&self, tree: Tree, key: &str) -> Result<bool, StoreError> {
        self.run("deleting", tree, |o| {
            let old = o.tree(tree).remove(key.as_bytes())?;
            o.flush()?;
            Ok(old.is_some())
        })
    }

    /// Applies every operation of `batch` to its tree atomically, then flushes.
    pub fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let tree = batch.tree;
        self.run("applying a batch", tree, |o| {
            o.tree(tree).apply_batch(batch.inner.clone())?;
            o.flush()
        })
    }

    /// Every record of `tree`, in key order. Stops at the first corrupt record.
    pub fn list<V: DeserializeOwned>(&self, tree: Tree) -> Result<Vec<(String, V)>, StoreError> {
        let raw = self.run("listing", tree, |o| {
            o.tree(tree).iter().collect::<Result<Vec<_>, _>>()
        })?;
        let mut out = Vec::with_capacity(raw.len());
        for (k, v) in raw {
            let key = key_string(tree, &k).map_err(|e| self.fail(e))?;
            let value = decode(tree, &key, &v).map_err(|e| self.fail(e))?;
            out.push((key, value));
        }
        Ok(out)
    }

    /// Every key of `tree`, in order.
    pub fn keys(&self, tree: Tree) -> Result<Vec<String>, StoreError> {
        let raw = self.run("listing", tree, |o| {
            o.tree(tree).iter().keys().collect::<Result<Vec<_>, _>>()
        })?;
        raw.iter()
            .map(|k| key_string(tree, k).map_err(|e| self.fail(e)))
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn encode<V: Serialize>(tree: Tree, key: &str, value: &V) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|source| StoreError::Encode {
        tree,
        key: key.to_owned(),
        source,
    })
}

fn decode<V: DeserializeOwned>(tree: Tree, key: &str, bytes: &[u8]) -> Result<V, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        tree,
        key: key.to_owned(),
        source,
    })
}

fn key_string(tree: Tree, raw: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(raw.to_vec()).map_err(|_| StoreError::BadKey {
        tree,
        key_hex: hex::encode(raw),
    })
}

fn db_err(op: &'static str, tree: Tree, source: sled::Error) -> StoreError {
    StoreError::Database { op, tree, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Bid {
        cpu: f64,
        ram_mb: u64,
    }

    #[test]
    fn typed_roundtrip_per_tree() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let bid = Bid {
            cpu: 1.5,
            ram_mb: 2048,
        };
        store.put(Tree::Bids, "web", &bid).unwrap();
        assert_eq!(store.get::<Bid>(Tree::Bids, "web").unwrap(), Some(bid));
        assert!(store.contains(Tree::Bids, "web").unwrap());
        // Trees are separate namespaces.
        assert_eq!(store.get::<Bid>(Tree::Assignments, "web").unwrap(), None);
        assert!(store.delete(Tree::Bids, "web").unwrap());
        assert!(!store.delete(Tree::Bids, "web").unwrap());
        assert_eq!(store.get::<Bid>(Tree::Bids, "web").unwrap(), None);
    }

    #[test]
    fn list_is_in_key_order_and_batch_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut batch = Batch::new(Tree::Uptime);
        for (k, v) in [("c", 3u32), ("a", 1), ("b", 2)] {
            batch.put(k, &v).unwrap();
        }
        batch.delete("b");
        assert_eq!(batch.len(), 4);
        store.apply(batch).unwrap();
        let all: Vec<(String, u32)> = store.list(Tree::Uptime).unwrap();
        assert_eq!(all, vec![("a".into(), 1), ("c".into(), 3)]);
        assert_eq!(store.keys(Tree::Uptime).unwrap(), vec!["a", "c"]);
    }

    #[test]
    fn corrupt_value_names_tree_and_key() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let t = db.open_tree(Tree::Benchmarks.name()).unwrap();
            t.insert("latest", &b"{not json"[..]).unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let err = store.get::<Bid>(Tree::Benchmarks, "latest").unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { tree: Tree::Benchmarks, key, .. } if key == "latest")
        );
        let msg = err.to_string();
        assert!(
            msg.contains("benchmarks") && msg.contains("latest"),
            "{msg}"
        );
        assert!(matches!(
            store.list::<Bid>(Tree::Benchmarks),
            Err(StoreError::Corrupt { .. })
        ));
        // A value of the wrong shape is corrupt too, not a panic.
        store.put(Tree::Benchmarks, "shape", &"a string").unwrap();
        assert!(matches!(
            store.get::<Bid>(Tree::Benchmarks, "shape"),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn second_open_of_a_held_database_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let _held = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Open { .. }), "{err}");
    }
}
