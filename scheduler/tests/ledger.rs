//! The app ledger's merge rule: single rules by hand, and convergence as a property —
//! every delivery order of the same actions, duplicates included, gives the same ledger.

use std::sync::Arc;

use proptest::prelude::*;
use proto::tier::Resources;
use scheduler::expiry::removal_height;
use scheduler::ledger::{Action, Ledger, LedgerError, Outcome, OwnerOp};
use scheduler::model::AppDemand;
use scheduler::model::Params;
use scheduler::protocol::{AppRecord, ChainClock, Input, Node, NodeConfig, Output, View};

/// Heights count from 1,000 at time 0, one block per second (so a cancel signed at
/// `seq` ms lands at height 1,000 + seq / 1,000).
fn clock() -> ChainClock {
    ChainClock {
        base_height: 1_000,
        base_ms: 0,
        block_ms: 1_000,
    }
}

const NOW: u64 = 1_000;

/// Owner `owner`'s record of `name` (`instances`, from `height`, spec version `seq`).
fn record(
    owner: &str,
    seq: u64,
    name: &str,
    height: u64,
    instances: u32,
    expire: u32,
    ports: &[u16],
) -> Arc<AppRecord> {
    let demand = AppDemand::new(name, instances, Resources::new(0.1, 64, 1))
        .with_height(height)
        .with_expire(expire);
    Arc::new(AppRecord {
        name: Arc::from(name),
        owner: owner.to_string(),
        demand,
        spec_bytes: 100,
        ports: ports.to_vec(),
        version: seq,
    })
}

fn reg(owner: &str, seq: u64, name: &str, height: u64, ports: &[u16]) -> Action<()> {
    Action::unsigned(
        owner,
        seq,
        OwnerOp::Register(record(owner, seq, name, height, 3, 5_000, ports)),
    )
}

/// An update of `name` to a spec with `instances` instances, at `height`.
fn update(
    owner: &str,
    seq: u64,
    name: &str,
    height: u64,
    instances: u32,
    ports: &[u16],
) -> Action<()> {
    Action::unsigned(
        owner,
        seq,
        OwnerOp::Update(record(owner, seq, name, height, instances, 6_000, ports)),
    )
}

fn renew(owner: &str, seq: u64, name: &str, height: u64, expire: u32) -> Action<()> {
    Action::unsigned(
        owner,
        seq,
        OwnerOp::Renew {
            app: Arc::from(name),
            height,
            expire,
        },
    )
}

fn cancel(owner: &str, seq: u64, name: &str) -> Action<()> {
    Action::unsigned(
        owner,
        seq,
        OwnerOp::Cancel {
            app: Arc::from(name),
        },
    )
}

fn ledger_of(actions: &[Action<()>]) -> Ledger<()> {
    let mut l = Ledger::new(clock());
    for a in actions {
        let _ = l.insert(a.clone(), NOW);
    }
    l.check().unwrap();
    l
}

fn owner_of(l: &Ledger<()>, name: &str) -> Option<String> {
    l.app(name).map(|a| a.owner().to_string())
}

#[test]
fn lowest_height_then_lowest_id_holds_a_name_whatever_the_order() {
    let a = reg("alice", 10, "shop", 1_000, &[]);
    let b = reg("bob", 5, "shop", 1_001, &[]);
    assert_eq!(
        owner_of(&ledger_of(&[a.clone(), b.clone()]), "shop").as_deref(),
        Some("alice")
    );
    assert_eq!(
        owner_of(&ledger_of(&[b.clone(), a.clone()]), "shop").as_deref(),
        Some("alice")
    );
    // Same height: the lower id wins, on both orders.
    let c = reg("carol", 7, "shop", 1_000, &[]);
    let want = if c.id < a.id { "carol" } else { "alice" };
    assert_eq!(
        owner_of(&ledger_of(&[a.clone(), c.clone()]), "shop").as_deref(),
        Some(want)
    );
    assert_eq!(owner_of(&ledger_of(&[c, a]), "shop").as_deref(), Some(want));
}

#[test]
fn a_late_winner_replaces_the_app_and_says_so() {
    let mut l = Ledger::new(clock());
    let b = reg("bob", 5, "shop", 1_001, &[]);
    let a = reg("alice", 10, "SHOP", 1_000, &[]);
    let first = l.insert(b.clone(), NOW).unwrap();
    assert_eq!(first.changes.len(), 1);
    assert!(!first.changes[0].replaced());
    let second = l.insert(a.clone(), NOW).unwrap();
    assert_eq!(second.changes.len(), 1);
    let ch = &second.changes[0];
    assert!(ch.replaced(), "{ch:?}");
    assert_eq!(ch.before.as_ref().unwrap().registration, b.id);
    assert_eq!(ch.after.as_ref().unwrap().registration, a.id);
    // Case-insensitive: `shop` finds `SHOP`.
    assert_eq!(&**l.app("shop").unwrap().name(), "SHOP");
    assert_eq!(l.len(), 1);
    l.check().unwrap();
}

#[test]
fn a_host_port_is_held_network_wide() {
    let a = reg("alice", 1, "one", 1_000, &[31_000, 31_001]);
    let b = reg("bob", 1, "two", 1_001, &[31_001]);
    let c = reg("carol", 1, "three", 1_002, &[31_002]);
    for order in [[&a, &b, &c], [&c, &b, &a]] {
        let l = ledger_of(&order.map(|x| x.clone()));
        assert!(l.app("one").is_some());
        assert!(l.app("two").is_none(), "port 31001 is taken by `one`");
        assert!(l.app("three").is_some());
    }
    // Once `one` is cancelled, a new registration may use its port.
    let cancel_one = cancel("alice", 3_000, "one"); // height 1,003
    let d = reg("dave", 4_000, "four", 1_004, &[31_001]);
    let l = ledger_of(&[a, b, c, cancel_one, d]);
    assert!(l.app("four").is_some());
    assert!(l.app("two").is_none(), "registered while the port was held");
}

#[test]
fn a_name_is_free_after_a_cancel_and_old_actions_cannot_touch_the_new_app() {
    let old = reg("alice", 1_000, "shop", 1_001, &[]);
    let old_cancel = cancel("alice", 2_000, "shop"); // height 1,002
    let old_renew = renew("alice", 1_500, "shop", 1_001, 9_000);
    let new = reg("alice", 3_000, "shop", 1_004, &[]);
    let l = ledger_of(&[
        new.clone(),
        old_cancel.clone(),
        old_renew.clone(),
        old.clone(),
    ]);
    let app = l.app("shop").unwrap();
    assert_eq!(app.registration, new.id);
    assert!(
        !app.cancelled(),
        "the old app's cancel stays with the old app"
    );
    assert_eq!(app.expire, 5_000, "the old app's renewal stays with it");
    // Another owner may take the name after the cancel too.
    let bob = reg("bob", 2_500, "Shop", 1_003, &[]);
    let l = ledger_of(&[old, old_cancel, bob.clone(), new]);
    assert_eq!(l.app("shop").unwrap().registration, bob.id);
}

#[test]
fn renewals_follow_the_owner_sequence_and_late_ones_change_nothing() {
    let a = reg("alice", 1, "shop", 1_000, &[]);
    let r1 = renew("alice", 10, "shop", 1_010, 6_000);
    let r2 = renew("alice", 20, "shop", 1_020, 7_000);
    let mut l = Ledger::new(clock());
    l.insert(a.clone(), NOW).unwrap();
    assert_eq!(l.insert(r2.clone(), NOW).unwrap().outcome, Outcome::Held);
    assert_eq!(
        l.insert(r1.clone(), NOW).unwrap().outcome,
        Outcome::Superseded
    );
    assert_eq!(
        l.insert(r2.clone(), NOW).unwrap().outcome,
        Outcome::Duplicate
    );
    assert_eq!(l.app("shop").unwrap().expire, 7_000);
    // A renewal from someone else never applies.
    l.insert(renew("mallory", 30, "shop", 1_030, 1), NOW)
        .unwrap();
    assert_eq!(l.app("shop").unwrap().expire, 7_000);
    // After the cancel, a later renewal changes nothing.
    l.insert(cancel("alice", 25, "shop"), NOW).unwrap();
    let late = renew("alice", 40, "shop", 1_040, 9_000);
    assert_eq!(l.insert(late, NOW).unwrap().outcome, Outcome::Superseded);
    assert!(l.app("shop").unwrap().cancelled());
    l.check().unwrap();
    assert_eq!(
        l.actions().count(),
        6,
        "superseded actions are held: the set only grows"
    );
}

#[test]
fn updates_set_the_spec_in_owner_order_and_keep_every_version() {
    let a = reg("alice", 1, "shop", 1_000, &[31_000]);
    let u1 = update("alice", 10, "shop", 1_010, 4, &[31_000]);
    let u2 = update("alice", 20, "SHOP", 1_020, 5, &[31_000]);
    let r = renew("alice", 15, "shop", 1_015, 9_000);
    for order in [
        vec![a.clone(), u1.clone(), r.clone(), u2.clone()],
        vec![u2.clone(), r.clone(), a.clone(), u1.clone()],
    ] {
        let l = ledger_of(&order);
        let app = l.app("shop").unwrap();
        assert_eq!(
            app.record.version, 20,
            "the latest update's spec is in force"
        );
        assert_eq!(app.record.demand.instances, 5);
        assert_eq!(&*app.record.name, "shop", "the registration's name is kept");
        // The update after the renewal counts its subscription from its own height.
        assert_eq!((app.height, app.expire), (1_020, 6_000));
        let versions: Vec<u64> = app.versions.iter().map(|r| r.version).collect();
        assert_eq!(versions, [1, 10, 20]);
    }
    // Someone else's update, one that moves host ports, and one after the cancel change
    // nothing.
    let mallory = update("mallory", 30, "shop", 1_030, 9, &[31_000]);
    let ports = update("alice", 40, "shop", 1_040, 9, &[31_001]);
    let mut l = ledger_of(&[a.clone(), u1.clone(), mallory]);
    assert_eq!(l.app("shop").unwrap().record.version, 10);
    assert_eq!(l.insert(ports, NOW).unwrap().outcome, Outcome::Superseded);
    l.insert(cancel("alice", 50, "shop"), NOW).unwrap();
    let late = update("alice", 60, "shop", 1_060, 9, &[31_000]);
    assert_eq!(l.insert(late, NOW).unwrap().outcome, Outcome::Superseded);
    assert_eq!(l.app("shop").unwrap().record.version, 10);
    l.check().unwrap();
}

#[test]
fn ended_apps_leave_with_a_tombstone_that_refuses_replays() {
    let a = reg("alice", 1, "shop", 1_000, &[]);
    let c = cancel("alice", 10_000, "shop"); // height 1,010
    let mut l = Ledger::new(clock());
    l.insert(a.clone(), NOW).unwrap();
    l.insert(c.clone(), NOW).unwrap();
    assert!(
        l.prune(1_010).is_empty(),
        "not yet: the name is held through the cancel's block"
    );
    let gone = l.prune(1_011);
    assert_eq!(gone.len(), 1);
    assert!(gone[0].after.is_none());
    assert_eq!(l.actions().count(), 0);
    assert_eq!(l.tombstones(), 1);
    assert!(matches!(
        l.insert(a.clone(), 1_010),
        Err(LedgerError::Stale { .. })
    ));
    assert!(matches!(
        l.insert(renew("alice", 5_000, "shop", 1_005, 100), 1_010),
        Err(LedgerError::Stale { .. })
    ));
    // The name is free for a registration made after the removal.
    let b = reg("bob", 20_000, "shop", 1_020, &[]);
    l.insert(b.clone(), 1_020).unwrap();
    assert_eq!(l.app("shop").unwrap().registration, b.id);
    // The tombstone goes once the old registration is past its own removal height; a
    // replay is then refused because it ended.
    let until = removal_height(1_000, 5_000);
    l.prune(until);
    assert_eq!(l.tombstones(), 0);
    assert!(matches!(l.insert(a, until), Err(LedgerError::Ended { .. })));
    l.check().unwrap();
}

#[test]
fn a_registration_that_lost_leaves_with_the_winner() {
    let a = reg("alice", 1, "shop", 1_000, &[]);
    let b = reg("bob", 1, "shop", 1_001, &[]);
    let mut l = ledger_of(&[a.clone(), b.clone()]);
    l.insert(cancel("alice", 3_000, "shop"), NOW).unwrap(); // ends at 1,004
    l.prune(1_004);
    assert!(
        l.app("shop").is_none(),
        "bob lost for good: {:?}",
        l.app("shop")
    );
    assert!(!l.contains(&b.id));
    l.check().unwrap();
}

#[test]
fn a_cancel_does_not_revive_a_rival_of_its_own_block() {
    // Both registered at 1,000; alice's wins. Her cancel lands in the same block: bob's
    // registration was made while she held the name and stays lost, on every order.
    let a = reg("alice", 1, "shop", 1_000, &[]);
    let b = reg("bob", 2, "shop", 1_000, &[]);
    let (first, second) = if (1_000, a.id) < (1_000, b.id) {
        (a, b)
    } else {
        (b, a)
    };
    let c = cancel(&first.owner, 500, "shop"); // height 1,000
    for order in [
        [&first, &second, &c],
        [&c, &second, &first],
        [&second, &c, &first],
    ] {
        let mut l = ledger_of(&order.map(|x| x.clone()));
        let app = l.app("shop").unwrap();
        assert_eq!(app.registration, first.id);
        assert!(app.cancelled());
        assert_eq!(app.end, 1_001, "held through the cancel's block");
        l.prune(1_001);
        assert!(l.app("shop").is_none(), "{:?}", l.app("shop"));
        assert!(!l.contains(&second.id), "the rival leaves with the winner");
        l.check().unwrap();
    }
}

#[test]
fn a_host_of_the_losing_registration_removes_it() {
    let mut view: View<u32> = View::new(clock(), Params::default());
    let mut node = Node::new(NodeConfig {
        id: 0u32,
        total: Resources::new(8.0, 16_000, 500),
        base_used: Resources::default(),
        phase: 0,
    });
    let mut l = Ledger::new(clock());
    let bob = reg("bob", 5, "shop", 1_001, &[]);
    for ch in l.insert(bob, NOW).unwrap().changes {
        view.apply_ledger_change(&ch, 0);
    }
    node.handle(
        Input::Adopt {
            app: Arc::from("shop"),
            version: 0,
        },
        0,
        &view,
    );
    assert_eq!(node.hosted().count(), 1);
    // Alice's registration is earlier: it holds the name everywhere once seen.
    let alice = reg("alice", 10, "shop", 1_000, &[]);
    let mut outs = Vec::new();
    for ch in l.insert(alice, NOW).unwrap().changes {
        for msg in view.apply_ledger_change(&ch, 0) {
            outs.extend(node.handle(Input::Message { from: 0, msg: &msg }, 0, &view));
        }
    }
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::RemoveApp(a) if &**a == "shop")),
        "{outs:?}"
    );
    assert_eq!(node.hosted().count(), 0);
    assert_eq!(view.app("shop").unwrap().record.owner, "alice");
}

/// One generated action: kind, owner, name, height offset, ports.
fn arb_action() -> impl Strategy<Value = Action<()>> {
    let owners = prop::sample::select(vec!["alice", "bob", "carol"]);
    let names = prop::sample::select(vec!["shop", "SHOP", "blog", "wiki"]);
    (0u8..4, owners, names, 0u64..30, 0u64..60, 0u16..4).prop_map(
        |(kind, owner, name, h, seq, port)| match kind {
            0 => reg(owner, seq * 500, name, NOW + h, &[31_000 + port]),
            1 => renew(owner, seq * 500, name, NOW + h, 4_000 + seq as u32),
            2 => update(
                owner,
                seq * 500,
                name,
                NOW + h,
                1 + port as u32,
                &[31_000 + port],
            ),
            _ => cancel(owner, seq * 500, name),
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn every_order_with_duplicates_gives_the_same_ledger(
        actions in prop::collection::vec(arb_action(), 1..40),
        orders in prop::collection::vec(
            (prop::collection::vec(any::<prop::sample::Index>(), 0..20), any::<u64>()),
            3,
        ),
    ) {
        let reference = ledger_of(&actions);
        for (dups, seed) in orders {
            let mut delivery: Vec<Action<()>> = actions.clone();
            for d in &dups {
                delivery.push(actions[d.index(actions.len())].clone());
            }
            // A seeded Fisher-Yates shuffle.
            let mut s = seed | 1;
            for i in (1..delivery.len()).rev() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                delivery.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let l = ledger_of(&delivery);
            prop_assert_eq!(l.digest(), reference.digest());
            let a: Vec<_> = l.apps().collect();
            let b: Vec<_> = reference.apps().collect();
            prop_assert_eq!(a, b);
        }
        // Pruning at one height gives the same result on every node too.
        let mut x = reference.clone();
        let mut y = ledger_of(&actions.iter().rev().cloned().collect::<Vec<_>>());
        x.prune(NOW + 5);
        y.prune(NOW + 5);
        x.check().unwrap();
        prop_assert_eq!(x.digest(), y.digest());
        prop_assert_eq!(x.apps().collect::<Vec<_>>(), y.apps().collect::<Vec<_>>());
    }
}
