//! Every acknowledged store change survives SIGKILL.
//!
//! The test re-executes its own binary as a child (selected by `STORE_CHILD_DIR`) that
//! applies a deterministic burst of puts, overwrites and deletes across the trees and
//! prints `ack N` after operation N returned. The parent kills it with SIGKILL at a random
//! moment, reopens the database and checks that the state is exactly the one after the
//! last acknowledged operation — or after the one in flight, which may have landed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use fluxnode::store::{Store, Tree};
use rand::{Rng, SeedableRng};

const OPS: usize = 5_000;
const TRIALS: usize = 30;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Put(Tree, String, u64),
    Delete(Tree, String),
}

/// Operation `n` of the burst: mostly puts over a small key space (so keys get
/// overwritten), every 7th a delete.
fn op(n: usize) -> Op {
    let tree = Tree::ALL[n % Tree::ALL.len()];
    let key = format!("k{}", (n * 31) % 97);
    if n % 7 == 6 {
        Op::Delete(tree, key)
    } else {
        Op::Put(tree, key, n as u64)
    }
}

/// The state after operations `0..count`.
fn state_after(count: usize) -> BTreeMap<(Tree, String), u64> {
    let mut s = BTreeMap::new();
    for n in 0..count {
        apply(&mut s, op(n));
    }
    s
}

fn apply(s: &mut BTreeMap<(Tree, String), u64>, op: Op) {
    match op {
        Op::Put(t, k, v) => {
            s.insert((t, k), v);
        }
        Op::Delete(t, k) => {
            s.remove(&(t, k));
        }
    }
}

fn read_state(store: &Store) -> BTreeMap<(Tree, String), u64> {
    let mut s = BTreeMap::new();
    for t in Tree::ALL {
        for (k, v) in store.list::<u64>(t).unwrap() {
            s.insert((t, k), v);
        }
    }
    s
}

/// The child: runs only when re-executed by `acknowledged_changes_survive_sigkill`.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var("STORE_CHILD_DIR") else {
        return;
    };
    let store = Store::open(&dir).unwrap();
    println!("ready");
    for n in 0..OPS {
        match op(n) {
            Op::Put(t, k, v) => store.put(t, &k, &v).unwrap(),
            Op::Delete(t, k) => {
                store.delete(t, &k).unwrap();
            }
        }
        println!("ack {n}");
    }
}

#[test]
fn acknowledged_changes_survive_sigkill() {
    let seed: u64 = std::env::var("STORE_DURABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("seed {seed} (set STORE_DURABILITY_SEED to replay)");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let exe = std::env::current_exe().unwrap();
    let mut acked_counts = Vec::new();
    for trial in 0..TRIALS {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(&exe)
            .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
            .env("STORE_CHILD_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Kill after a random number of acknowledgements plus a random sub-millisecond
        // delay, so the kill lands anywhere inside a write or a flush.
        let kill_after = rng.gen_range(1..OPS / 4);
        let delay = Duration::from_micros(rng.gen_range(0..1_000));
        let reader = std::thread::spawn(move || {
            let mut last = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ack ") {
                    last = Some(n.parse::<usize>().unwrap());
                }
                if last.is_some_and(|n| n + 1 >= kill_after) {
                    break;
                }
            }
            last
        });
        let mut last_ack = reader.join().unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Acks printed after the reader stopped are unknown here, so the recovered state
        // must be the state after some prefix of the burst at least `acked` long: every
        // acknowledged operation present, nothing out of order.
        let store = Store::open(dir.path()).unwrap();
        let got = read_state(&store);
        let acked = last_ack.take().map_or(0, |n| n + 1);
        let mut expected = state_after(acked);
        let mut ok_count = None;
        for c in acked..=OPS {
            if expected == got {
                ok_count = Some(c);
                break;
            }
            if c < OPS {
                apply(&mut expected, op(c));
            }
        }
        assert!(
            ok_count.is_some(),
            "trial {trial} (seed {seed}): state after reopen matches no prefix of the burst \
             at or beyond the {acked} acknowledged operations"
        );
        acked_counts.push((acked, ok_count.unwrap_or(0)));
    }
    eprintln!("acknowledged / recovered operation counts per trial: {acked_counts:?}");
}
