//! Health in the protocol: a host that gives an instance up is replaced elsewhere and
//! does not take the app back during its hold-off; health travels in running reports; a
//! member dead for its group leaves every view's locations at once; a node whose engine
//! does not answer places nothing new.

use std::sync::Arc;

use scheduler::protocol::{
    DEAD_AFTER, FAILED_START_HOLD_OFF, GIVE_UP_HOLD_OFF, Health, Input, TICK,
};

mod protocol_net;
use protocol_net::{Net, app};

fn give_up(net: &mut Net, node: usize, name: &str, now: u64) {
    let outs = net.nodes[node].handle(
        Input::GiveUp {
            app: Arc::from(name),
        },
        now,
        &net.view,
    );
    net.apply(node as u32, outs, now);
    net.pump(now);
}

#[test]
fn a_given_up_instance_is_replaced_elsewhere_and_not_taken_back_during_the_hold_off() {
    let mut net = Net::new(12);
    net.register(&app("web", 3), 0);
    net.run(0, 10_000);
    let hosts = net.hosts("web");
    assert_eq!(hosts.len(), 3);
    let quitter = hosts[0];
    give_up(&mut net, quitter, "web", 10_500);
    assert!(!net.hosts("web").contains(&quitter), "removed at once");
    assert!(
        !net.view
            .locations("web")
            .iter()
            .any(|(p, _)| *p as usize == quitter),
        "no longer a location"
    );
    // The group's coordinator re-places it at the next tick (the goodbye triggers it).
    net.run(11_000, 11_000 + 3 * TICK);
    let now = net.hosts("web");
    assert_eq!(now.len(), 3, "replaced within three ticks: {now:?}");
    assert!(!now.contains(&quitter));

    // Only the quitter could host a replacement now: it declines during its hold-off.
    for i in 0..net.nodes.len() {
        net.ports_taken[i] = i != quitter;
    }
    let victim = now[0];
    net.alive[victim] = false;
    let t = 15_000;
    net.run(t, t + DEAD_AFTER + 30_000);
    assert_eq!(net.hosts("web").len(), 2, "no node may take it");
    assert!(!net.hosts("web").contains(&quitter), "held off");
    // Past the hold-off it bids again.
    let after = 10_500 + GIVE_UP_HOLD_OFF;
    net.run(after - 5_000, after + 120_000);
    assert!(
        net.hosts("web").contains(&quitter),
        "bids again after the hold-off"
    );
    assert_eq!(net.hosts("web").len(), 3);
}

#[test]
fn health_reaches_every_view_and_a_dead_member_leaves_the_locations_at_once() {
    let mut net = Net::new(12);
    net.register(&app("api", 3), 0);
    net.run(0, 10_000);
    let hosts = net.hosts("api");
    let h = hosts[1];
    assert_eq!(net.view.health("api", h as u32), Health::Starting);
    for (health, t) in [(Health::Healthy, 10_100), (Health::Unhealthy, 10_200)] {
        let outs = net.nodes[h].handle(
            Input::Health {
                app: Arc::from("api"),
                health,
            },
            t,
            &net.view,
        );
        net.apply(h as u32, outs, t);
        net.pump(t);
        assert_eq!(net.view.health("api", h as u32), health);
    }
    // Killed: its last beat was at 10 s; dead for the group at 30 s, and the coordinator
    // withdraws its location then, not after membership expiry (15 min).
    net.alive[h] = false;
    let mut gone_at = None;
    let mut t = 11_000;
    while t <= 60_000 {
        net.run(t, t);
        if !net
            .view
            .locations("api")
            .iter()
            .any(|(p, _)| *p as usize == h)
        {
            gone_at = Some(t);
            break;
        }
        t += TICK;
    }
    let at = gone_at.expect("the dead host stayed a location");
    assert!(at <= 10_000 + DEAD_AFTER + TICK, "gone at {at} ms");
    assert!(
        net.view.is_live(h as u32, at),
        "membership alone still counts it live"
    );
}

#[test]
fn a_node_whose_engine_does_not_answer_places_nothing_new() {
    let mut net = Net::new(4);
    for i in [0, 1] {
        let outs = net.nodes[i].handle(Input::Engine { ok: false }, 0, &net.view);
        assert!(outs.is_empty());
    }
    net.register(&app("db", 3), 0);
    net.run(0, 20_000);
    assert_eq!(net.hosts("db"), vec![2, 3]);
    for i in [0, 1] {
        net.nodes[i].handle(Input::Engine { ok: true }, 20_000, &net.view);
    }
    net.run(20_000, 80_000);
    assert_eq!(net.hosts("db").len(), 3, "recovers by itself");
}

/// Starts of `app` that failed on `node` so far (each failed start releases the instance).
fn failed_starts(net: &Net, node: usize, name: &str) -> usize {
    net.persisted
        .iter()
        .filter(|(n, r)| {
            *n as usize == node
                && matches!(r, scheduler::protocol::PersistRecord::Released { app } if &**app == name)
        })
        .count()
}

#[test]
fn a_node_whose_start_failed_does_not_take_the_app_again_during_the_hold_off() {
    // Three nodes can host the app; one of them fails every start, and no instance ever
    // reports healthy (a fresh app whose other starts are slow), so no strike applies.
    let mut net = Net::new(6);
    let failing = 2;
    for i in 0..6 {
        net.ports_taken[i] = i > 2;
    }
    net.failing[failing] = true;
    net.register(&app("web", 3), 0);
    let until = FAILED_START_HOLD_OFF - 2 * TICK;
    net.run(0, until);
    assert_eq!(
        failed_starts(&net, failing, "web"),
        1,
        "one failed start in the hold-off, not one per round"
    );
    assert_eq!(net.hosts("web").len(), 2, "the others run it");
    // Past the hold-off the node bids again (the failure may have been transient).
    net.run(until + TICK, FAILED_START_HOLD_OFF + 20_000);
    assert!(
        failed_starts(&net, failing, "web") >= 2,
        "called again after the hold-off"
    );
}
