//! The protocol state machine driven by hand: a few nodes, a message pump with no
//! latency, and the ability to drop messages or silence nodes, to check single rules the
//! simulator only shows in aggregate.

use std::sync::Arc;

use scheduler::model::Params;
use scheduler::protocol::{BEAT_EVERY, ChainClock, DEAD_AFTER, Input, Msg, Output, TICK, View};
use scheduler::sim::workload;

mod protocol_net;
use protocol_net::{Net, app};

#[test]
fn placement_reaches_exactly_n_and_reservations_lapse() {
    let mut net = Net::new(30);
    net.register(&app("web", 4), 0);
    net.run(0, 10_000);
    assert_eq!(net.hosts("web").len(), 4);
    for n in &net.nodes {
        assert!(n.check(10_000).is_empty());
        assert_eq!(n.reservations_len(), 0, "losing bids released");
    }
}

#[test]
fn lost_assignment_releases_the_reservation_and_the_app_still_reaches_n() {
    let mut net = Net::new(30);
    // Every assignment is lost: bidders must give their reservations back on their own.
    net.drop = Box::new(|_, _, m| matches!(m, Msg::Assignment { .. }));
    net.register(&app("db", 3), 0);
    // The round closes at 0.8 s; its bids lapse 1.5 s later, dropped at the next tick.
    net.run(0, 3_000);
    assert!(net.nodes.iter().all(|n| n.check(3_000).is_empty()));
    assert!(net.nodes.iter().all(|n| n.reservations_len() == 0));
    assert!(net.hosts("db").is_empty());
    // A backup sees no location and takes over.
    net.drop = Box::new(|_, _, _| false);
    net.run(4_000, 40_000);
    assert_eq!(net.hosts("db").len(), 3);
}

#[test]
fn a_member_late_once_is_kept_and_a_dead_one_is_replaced() {
    let mut net = Net::new(30);
    net.register(&app("api", 3), 0);
    net.run(0, 10_000);
    let hosts = net.hosts("api");
    assert_eq!(hosts.len(), 3);
    let slow = hosts[0] as u32;
    // One beat period of silence from `slow`: nobody replaces it.
    net.drop = Box::new(move |from, _, m| from == slow && matches!(m, Msg::Beat { .. }));
    net.run(10_000, 10_000 + BEAT_EVERY + TICK);
    net.drop = Box::new(|_, _, _| false);
    net.run(16_000, 40_000);
    assert_eq!(net.hosts("api"), hosts, "late once is not dead");
    // Now it dies for real: replaced after DEAD_AFTER plus a round.
    net.alive[hosts[0]] = false;
    net.run(40_000, 40_000 + DEAD_AFTER + 10_000);
    let now = net.hosts("api");
    assert_eq!(now.len(), 3);
    assert!(!now.contains(&hosts[0]));
}

#[test]
fn a_node_dying_just_after_it_won_is_replaced_as_fast_as_any_other() {
    let mut net = Net::new(30);
    net.register(&app("fresh", 3), 0);
    // Placed at the 1 s tick; every node beats at 5 s (phase 0).
    net.run(0, 6_000);
    let hosts = net.hosts("fresh");
    assert_eq!(hosts.len(), 3);
    // Dies one second after its first beat, well inside the 30 s start grace: its beat
    // already proved it alive, so the grace no longer shields it.
    let victim = hosts[1];
    net.alive[victim] = false;
    let mut replaced_at = None;
    let mut t = 7_000;
    while t <= 60_000 {
        net.run(t, t);
        let now = net.hosts("fresh");
        if now.len() == 3 && !now.contains(&victim) {
            replaced_at = Some(t);
            break;
        }
        t += TICK;
    }
    // Last beat at 5 s: dead at 5 s + DEAD_AFTER, noticed at that tick (not at the next
    // beat period), re-placed in the same tick by a pump with no latency.
    let at = replaced_at.expect("never replaced");
    assert!(
        at <= 5_000 + DEAD_AFTER + TICK,
        "replaced at {at} ms, detection allows {} ms",
        5_000 + DEAD_AFTER + TICK
    );
    assert!(
        at >= 5_000 + DEAD_AFTER,
        "replaced at {at} ms: before it was dead"
    );
}

/// Two members lost in one failure, noticed 5 s apart: the first replacement brings in a
/// newcomer that may become the group's coordinator, and it must not take the second dead
/// member for live any longer than the old coordinator would have. Twelve apps, because
/// whether the newcomer outranks the old coordinator depends on the app's rendezvous order.
#[test]
fn a_second_death_is_not_hidden_by_the_first_replacement() {
    for i in 0..12 {
        let name = &format!("pair{i}");
        let mut net = Net::new(30);
        net.register(&app(name, 4), 0);
        net.run(0, 10_000);
        let hosts = net.hosts(name);
        assert_eq!(hosts.len(), 4);
        // Beats at every 5 s (phase 0): the first is dead at 30 s, the second at 35 s.
        let (a, b) = (hosts[0], hosts[1]);
        net.alive[a] = false;
        net.run(11_000, 15_000);
        net.alive[b] = false;
        net.run(16_000, 15_000 + DEAD_AFTER + 2 * TICK);
        let now = net.hosts(name);
        assert_eq!(now.len(), 4, "{name}: hosts {now:?} at 37 s");
        assert!(!now.contains(&a) && !now.contains(&b), "{name}: {now:?}");
    }
}

#[test]
fn a_planned_restart_is_not_replaced_inside_its_window() {
    let mut net = Net::new(30);
    net.register(&app("cache", 3), 0);
    net.run(0, 10_000);
    let hosts = net.hosts("cache");
    let r = hosts[0];
    let outs = net.nodes[r].handle(Input::PlannedRestart { until: 80_000 }, 10_000, &net.view);
    net.apply(r as u32, outs, 10_000);
    net.pump(10_000);
    net.alive[r] = false; // restarting: silent
    net.run(11_000, 70_000);
    assert_eq!(
        net.hosts("cache").len(),
        2,
        "no replacement inside the window"
    );
    net.run(70_000, 120_000);
    assert_eq!(
        net.hosts("cache").len(),
        3,
        "replaced once the window passed"
    );
}

/// A node stopping for a planned restart announces its window at once, even when it
/// announced a moment ago (its hosting changed): the daemon stops half a second later, and
/// peers that never heard the window take the node for dead 30 s after it left.
#[test]
fn a_planned_restart_is_announced_at_once_even_just_after_an_announcement() {
    let mut net = Net::new(5);
    net.register(&app("solo", 1), 0);
    net.run(0, 10_000);
    let host = net.hosts("solo")[0];
    let announced = |outs: &[Output<u32>]| {
        outs.iter().find_map(|o| match o {
            Output::Broadcast(Msg::Announce { restart_until, .. }) => Some(*restart_until),
            _ => None,
        })
    };
    // An announcement now (as when its hosting changes), and the restart 100 ms later,
    // well inside the announcements' minimum gap.
    net.nodes[host].announce_soon();
    let ticked = net.nodes[host].handle(Input::Tick, 10_000, &net.view);
    assert_eq!(announced(&ticked), Some(None), "announced at the tick");
    let outs = net.nodes[host].handle(Input::PlannedRestart { until: 130_100 }, 10_100, &net.view);
    assert_eq!(
        announced(&outs),
        Some(Some(130_100)),
        "the restart window is announced with the restart: {outs:?}"
    );
}

#[test]
fn owner_cancel_removes_every_instance_at_once() {
    let mut net = Net::new(30);
    net.register(&app("gone", 3), 0);
    net.run(0, 10_000);
    assert_eq!(net.hosts("gone").len(), 3);
    let msg = Msg::Cancel {
        app: Arc::from("gone"),
    };
    net.view.apply(&msg, 10_000).unwrap();
    for i in 0..net.nodes.len() {
        let outs = net.nodes[i].handle(Input::Message { from: 0, msg: &msg }, 10_000, &net.view);
        net.apply(i as u32, outs, 10_000);
    }
    assert!(net.hosts("gone").is_empty());
    net.run(10_000, 60_000);
    assert!(net.hosts("gone").is_empty(), "never re-placed");
}

#[test]
fn nodes_whose_host_ports_are_taken_decline_and_the_app_lands_elsewhere() {
    let mut net = Net::new(12);
    // Half the nodes have the app's host port taken by something else on the host.
    for i in 0..6 {
        net.ports_taken[i] = true;
    }
    net.register(&app("game", 3), 0);
    net.run(0, 20_000);
    let hosts = net.hosts("game");
    assert_eq!(hosts.len(), 3, "{hosts:?}");
    assert!(
        hosts.iter().all(|&h| !net.ports_taken[h]),
        "an app landed on a node whose port is taken: {hosts:?}"
    );
    // The other way round: the first six are free now, the rest taken.
    for i in 0..12 {
        net.ports_taken[i] = i >= 6;
    }
    net.register(&app("game2", 3), 30_000);
    net.run(30_000, 50_000);
    let hosts = net.hosts("game2");
    assert_eq!(hosts.len(), 3, "{hosts:?}");
    assert!(hosts.iter().all(|&h| h < 6), "{hosts:?}");
}

#[test]
fn unreachable_member_is_dead_at_once_and_revived_by_its_next_announcement() {
    use scheduler::protocol::MEMBER_DEAD_AFTER;
    let infos = workload::nodes(3, 5, |i| i.to_string());
    let mut view: View<u32> = View::new(ChainClock::new(2_000_000, 0), Params::default());
    for (i, info) in infos.iter().enumerate() {
        view.upsert_member(i as u32, info.clone(), 0);
    }
    view.refresh(0);
    let now = 60_000;
    assert!(view.is_live(1, now) && now < MEMBER_DEAD_AFTER);
    view.member_unreachable(1, now);
    assert!(
        !view.is_live(1, now),
        "dead without waiting for missed announcements"
    );
    assert!(view.is_live(0, now) && view.is_live(2, now));
    view.upsert_member(1, infos[1].clone(), now + 1_000);
    assert!(
        view.is_live(1, now + 1_000),
        "its next announcement revives it"
    );
    view.member_unreachable(7, now);
    assert!(!view.is_live(7, now), "an unknown peer stays unknown");
}

#[test]
fn a_bid_held_for_a_cancelled_app_does_not_make_the_node_decline_its_successor() {
    // Two owners register one name at once: a node bids in the round for the losing
    // registration, then learns the name went to the earlier one (a cancel of the old app,
    // a registration of the new) and is called for the new app by another coordinator.
    let mut net = Net::new(3);
    let demand = app("race", 3);
    let rec = |owner: &str| {
        Arc::new(scheduler::protocol::AppRecord {
            name: Arc::from("race"),
            owner: owner.into(),
            demand: demand.clone(),
            spec_bytes: 100,
            ports: Vec::new(),
            version: 1,
        })
    };
    net.view.apply(&Msg::Register(rec("loser")), 0).unwrap();
    let call = |coordinator: u32| Msg::CallForBids {
        app: Arc::from("race"),
        round: 1,
        coordinator,
        deadline: 800,
    };
    let bid_of = |outs: &[Output<u32>]| {
        outs.iter()
            .any(|o| matches!(o, Output::Send(_, Msg::Bid { .. })))
    };
    let outs = net.nodes[1].handle(
        Input::Message {
            from: 0,
            msg: &call(0),
        },
        10,
        &net.view,
    );
    assert!(bid_of(&outs), "bids for the first: {outs:?}");
    let cancel = Msg::Cancel {
        app: Arc::from("race"),
    };
    net.view.apply(&cancel, 20).unwrap();
    let _ = net.nodes[1].handle(
        Input::Message {
            from: 0,
            msg: &cancel,
        },
        20,
        &net.view,
    );
    // The ledger replaces the entry (as `View::apply_ledger_change` does): a view that
    // holds the winner's registration under the name.
    let mut after = Net::new(3).view;
    after.apply(&Msg::Register(rec("winner")), 20).unwrap();
    let outs = net.nodes[1].handle(
        Input::Message {
            from: 2,
            msg: &call(2),
        },
        30,
        &after,
    );
    assert!(bid_of(&outs), "bids for the successor at once: {outs:?}");
}

/// After a heal the merged group's coordinator stops a node that the other half's round
/// had just assigned; that round's resend of the same assignment (its ack was lost) must
/// not start the instance again — it did, and the coordinator ignored the restarted
/// member for `LEFT_MEMORY`, so the app stayed above N. A new round is taken as ever.
#[test]
fn a_resent_assignment_for_a_round_the_node_has_left_is_answered_with_a_goodbye() {
    let mut net = Net::new(4);
    let demand = app("x", 2);
    let rec = Arc::new(scheduler::protocol::AppRecord {
        name: Arc::from("x"),
        owner: "o".into(),
        demand,
        spec_bytes: 100,
        ports: Vec::new(),
        version: 1,
    });
    net.view.apply(&Msg::Register(rec), 0).unwrap();
    let assignment = |round: u64| Msg::Assignment {
        app: Arc::from("x"),
        round,
        coordinator: 1u32,
        group: Arc::from(vec![0u32, 2]),
    };
    let starts = |outs: &[Output<u32>]| {
        outs.iter()
            .filter(|o| matches!(o, Output::StartApp(_)))
            .count()
    };
    let first = assignment(7);
    let outs = net.nodes[0].handle(
        Input::Message {
            from: 1,
            msg: &first,
        },
        1_000,
        &net.view,
    );
    assert_eq!(starts(&outs), 1, "{outs:?}");
    // Stopped by a member of its group (node 2 coordinates the merged group).
    let stop = Msg::Stop {
        app: Arc::from("x"),
        coordinator: 2,
        node: 0,
    };
    let outs = net.nodes[0].handle(
        Input::Message {
            from: 2,
            msg: &stop,
        },
        2_000,
        &net.view,
    );
    assert!(
        outs.iter().any(|o| matches!(o, Output::StopApp(_))),
        "{outs:?}"
    );
    // The resend of round 7: a goodbye to its coordinator, no start.
    let outs = net.nodes[0].handle(
        Input::Message {
            from: 1,
            msg: &first,
        },
        2_500,
        &net.view,
    );
    assert_eq!(starts(&outs), 0, "{outs:?}");
    assert!(
        outs.iter().any(|o| matches!(
            o,
            Output::Send(
                1,
                Msg::Beat {
                    status: scheduler::protocol::BeatStatus::Leaving,
                    ..
                }
            )
        )),
        "{outs:?}"
    );
    // A later round is a new decision.
    let outs = net.nodes[0].handle(
        Input::Message {
            from: 1,
            msg: &assignment(8),
        },
        3_000,
        &net.view,
    );
    assert_eq!(starts(&outs), 1, "{outs:?}");
}

/// A node that joins late learns every old app as a registration (the ledger arrives by
/// sync). As an app's home it must not place an app the running reports already locate:
/// the 20-daemon run saw 32 apps above their count once replacement nodes joined.
#[test]
fn a_home_that_learns_a_running_app_late_does_not_place_it_again() {
    let mut net = Net::new(8);
    let demand = app("old", 2);
    let rec = Arc::new(scheduler::protocol::AppRecord {
        name: Arc::from("old"),
        owner: "o".into(),
        demand,
        spec_bytes: 100,
        ports: Vec::new(),
        version: 1,
    });
    let register = Msg::Register(rec);
    net.view.apply(&register, 0).unwrap();
    let home = net.view.homes("old")[0] as usize;
    let calls = |outs: &[Output<u32>]| {
        outs.iter()
            .filter(|o| matches!(o, Output::Send(_, Msg::CallForBids { .. })))
            .count()
    };
    // A new app: its home calls for bids at once.
    let mut fresh = net.nodes[home].clone();
    let outs = fresh.handle(
        Input::Message {
            from: 0,
            msg: &register,
        },
        0,
        &net.view,
    );
    assert!(calls(&outs) > 0, "{outs:?}");
    // The same registration once running reports locate it on two other nodes: nothing.
    let others: Vec<u32> = (0..8u32).filter(|&p| p as usize != home).take(2).collect();
    for &p in &others {
        let r = Msg::Running {
            node: p,
            app: Arc::from("old"),
            running: true,
            health: scheduler::protocol::Health::Healthy,
            version: 1,
        };
        net.view.apply(&r, 0).unwrap();
    }
    let outs = net.nodes[home].handle(
        Input::Message {
            from: 0,
            msg: &register,
        },
        0,
        &net.view,
    );
    assert_eq!(calls(&outs), 0, "{outs:?}");
}
