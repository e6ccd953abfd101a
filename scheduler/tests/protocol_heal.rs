//! Rules for the moments after a healed partition, when the two halves of a group and the
//! two ledgers meet, driven by hand (see `protocol.rs`).

use std::sync::Arc;

use scheduler::protocol::{DECLINE_MEMORY, Health, Input, Msg, Output};

mod protocol_net;
use protocol_net::{Net, app};

/// Node 0's running report for `app`, broadcast as the daemon does.
fn report_of_node0(net: &mut Net, app: &str, running: bool, now: u64) {
    let report = Msg::Running {
        node: 0,
        app: Arc::from(app),
        running,
        health: if running {
            Health::Healthy
        } else {
            Health::Unhealthy
        },
        version: 1,
    };
    net.apply(0, vec![Output::Broadcast(report)], now);
}

/// Three nodes, three instances: node 0 declines the first call (it runs the app already:
/// the registration that lost the name after the heal), so the group is one short and
/// node 0 is the only node that can fill it. Once node 0 reports it stopped that
/// instance, its decline says nothing any more and the coordinator calls it at the next
/// tick. Without the report (it may overtake the decline), a coordinator with nobody else
/// to ask asks a node that declined more than `RETRY_AFTER` ago again. Before both rules
/// the group stayed short for `DECLINE_MEMORY`: the real three-daemon partition round
/// waited a minute at two instances, and failed.
#[test]
fn a_node_that_declined_while_it_ran_the_app_is_called_again_once_it_stops() {
    let hosts_at = |reports_stop: bool, until: u64| {
        let mut net = Net::new(3);
        // Declining for its own reason (here a host port, as for "runs it already").
        net.ports_taken[0] = true;
        net.register(&app("x", 3), 0);
        net.run(0, 10_000);
        assert_eq!(net.hosts("x"), vec![1, 2], "node 0 declined");
        net.ports_taken[0] = false;
        if reports_stop {
            report_of_node0(&mut net, "x", false, 10_000);
        }
        net.run(10_000, until);
        net.hosts("x")
    };
    // With the report: called at the next tick.
    assert_eq!(hosts_at(true, 11_000), vec![0, 1, 2]);
    assert_eq!(hosts_at(false, 11_000), vec![1, 2]);
    // Without it: asked again as the only candidate, well inside the decline memory.
    const { assert!(DECLINE_MEMORY > 20_000) };
    assert_eq!(hosts_at(false, 20_000), vec![0, 1, 2]);
}

/// The same group, but node 0 is first reported running the app (the losing
/// registration's instance, reported when the partition healed) for a beat period, so the
/// coordinator adds it to its group as a member not yet heard from. Its report that it
/// stopped must take it out again: left there, the coordinator never called it for the
/// app until `FORGET_AFTER` (10 minutes) — the real partition round, again.
#[test]
fn a_loser_host_known_only_as_a_location_is_called_once_it_stops() {
    let mut net = Net::new(3);
    net.ports_taken[0] = true;
    net.register(&app("x", 3), 0);
    net.run(0, 10_000);
    assert_eq!(net.hosts("x"), vec![1, 2]);
    net.ports_taken[0] = false;
    report_of_node0(&mut net, "x", true, 10_000);
    net.run(10_000, 17_000);
    report_of_node0(&mut net, "x", false, 17_000);
    net.run(17_000, 40_000);
    assert_eq!(net.hosts("x"), vec![0, 1, 2]);
}

/// Node 0 is cut off while the group is placed: it never answers the call, and the
/// coordinator skips it as unresponsive. Connected again after the heal, it is called at
/// the next round, not `UNRESPONSIVE_FOR` (a minute) after the unanswered call; a message
/// alone (gossip reaches a coordinator from a node merely slow to answer) does not clear
/// the mark.
#[test]
fn a_node_cut_off_during_a_call_is_called_again_once_reconnected() {
    let hosts_at = |reconnected: bool, until: u64| {
        let mut net = Net::new(3);
        net.drop = Box::new(|from, to, _| from == 0 || to == 0);
        net.register(&app("x", 3), 0);
        net.run(0, 10_000);
        assert_eq!(net.hosts("x"), vec![1, 2], "node 0 cut off");
        net.drop = Box::new(|_, _, _| false);
        report_of_node0(&mut net, "y", false, 10_000);
        if reconnected {
            for i in 1..3 {
                let outs = net.nodes[i].handle(Input::Reconnected { peer: 0 }, 10_000, &net.view);
                net.apply(i as u32, outs, 10_000);
            }
        }
        net.run(10_000, until);
        net.hosts("x")
    };
    assert_eq!(hosts_at(true, 20_000), vec![0, 1, 2]);
    assert_eq!(hosts_at(false, 20_000), vec![1, 2]);
}

/// Node 0 is cut off while the app is placed, for a few seconds (the real partition round
/// healed within 2 to 9 s), then reports the app running (the other half's instance)
/// and, at once or a little later, stopped: whatever the timing, the group ends at N
/// with node 0 in it.
#[test]
fn after_a_short_partition_the_group_ends_at_n_whatever_the_timing() {
    for heal in [2_000u64, 3_000, 4_000, 6_000, 9_000] {
        for gap in [0u64, 1_000, 5_000] {
            let mut net = Net::new(3);
            net.drop = Box::new(|from, to, _| from == 0 || to == 0);
            net.register(&app("x", 3), 0);
            net.run(0, heal);
            net.drop = Box::new(|_, _, _| false);
            for i in 1..3 {
                let outs = net.nodes[i].handle(Input::Reconnected { peer: 0 }, heal, &net.view);
                net.apply(i as u32, outs, heal);
            }
            report_of_node0(&mut net, "x", true, heal);
            net.pump(heal);
            if gap > 0 {
                net.run(heal, heal + gap);
            }
            report_of_node0(&mut net, "x", false, heal + gap);
            net.run(heal + gap, heal + gap + 20_000);
            assert_eq!(net.hosts("x"), vec![0, 1, 2], "heal {heal} gap {gap}");
        }
    }
}
