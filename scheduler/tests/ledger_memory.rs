//! Memory of the app ledger over a long life: 100,000 apps registered and cancelled, the
//! chain advancing and the ledger pruned every block as the daemon does at its tick.
//! Bytes are counted by a counting global allocator (the only way to measure live heap
//! from inside the process; it needs `unsafe impl GlobalAlloc`, hence the allow below).
//!
//! Run with `cargo test -p fluxnode-scheduler --release --test ledger_memory -- --nocapture`
//! for the figures (about a second: inserts and prunes re-derive one name each).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proto::tier::Resources;
use scheduler::expiry::GRACE_BLOCKS;
use scheduler::ledger::{Action, Ledger, OwnerOp};
use scheduler::model::AppDemand;
use scheduler::protocol::{AppRecord, ChainClock};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter of
// live bytes is kept on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// One block per second from height 0 at time 0: a cancel signed at `ms` lands at
/// height `ms / 1000`.
fn clock() -> ChainClock {
    ChainClock {
        base_height: 0,
        base_ms: 0,
        block_ms: 1_000,
    }
}

fn register(i: u32, height: u64) -> Action<()> {
    let name = format!("app{i}");
    let demand = AppDemand::new(name.clone(), 3, Resources::new(0.1, 64, 1))
        .with_height(height)
        .with_expire(1_000);
    Action::unsigned(
        "owner",
        height * 1_000,
        OwnerOp::Register(Arc::new(AppRecord {
            name: Arc::from(name.as_str()),
            owner: "owner".into(),
            demand,
            spec_bytes: 1_200,
            ports: vec![30_100 + (i % 20_000) as u16],
            version: 1,
        })),
    )
}

#[test]
fn a_ledger_that_saw_100000_apps_come_and_go_stays_small() {
    const APPS: u32 = 100_000;
    /// Apps registered per block: 100,000 over 2,000 blocks.
    const PER_BLOCK: u32 = 50;
    /// Each app is cancelled this many blocks after its registration.
    const LIFE: u64 = 10;
    let base = LIVE.load(Ordering::Relaxed);
    let mut l: Ledger<()> = Ledger::new(clock());
    let mut peak_bytes = 0usize;
    let mut peak_actions = 0usize;
    let mut height = 0u64;
    let last_block = u64::from(APPS / PER_BLOCK);
    // Until every app is gone and the tombstones have served their time.
    let end = last_block + LIFE + 1_000 + GRACE_BLOCKS + 2;
    while height <= end {
        if height < last_block {
            for k in 0..PER_BLOCK {
                let i = height as u32 * PER_BLOCK + k;
                l.insert(register(i, height), height).unwrap();
            }
        }
        if height >= LIFE && height - LIFE < last_block {
            let h0 = height - LIFE;
            for k in 0..PER_BLOCK {
                let i = h0 as u32 * PER_BLOCK + k;
                let c = Action::unsigned(
                    "owner",
                    height * 1_000,
                    OwnerOp::Cancel {
                        app: Arc::from(format!("app{i}").as_str()),
                    },
                );
                l.insert(c, height).unwrap();
            }
        }
        l.prune(height);
        peak_bytes = peak_bytes.max(LIVE.load(Ordering::Relaxed).saturating_sub(base));
        peak_actions = peak_actions.max(l.actions().count());
        height += 1;
    }
    l.check().unwrap();
    let after = LIVE.load(Ordering::Relaxed).saturating_sub(base);
    println!(
        "100,000 apps registered and cancelled ({PER_BLOCK}/block, each live {LIFE} blocks): \
         peak {peak_actions} actions held, peak heap {:.1} MB (tombstones included); \
         after the last tombstone expired: {} apps, {} actions, {} tombstones, {after} bytes",
        peak_bytes as f64 / 1e6,
        l.len(),
        l.actions().count(),
        l.tombstones()
    );
    assert_eq!(l.len(), 0);
    assert_eq!(l.tombstones(), 0);
    assert!(
        peak_actions <= 2 * (LIFE as usize + 1) * PER_BLOCK as usize,
        "{peak_actions} actions held at once"
    );
    assert!(peak_bytes < 64_000_000, "{peak_bytes} bytes at peak");
    assert!(after < 64 * 1024, "{after} bytes left");
}
