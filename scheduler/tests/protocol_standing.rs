//! Standing: a node whose placements never serve (it claims the best benchmark and the
//! most room, wins, and fails every start) is struck by the coordinators that placed it,
//! is not called for bids during its hold-off, and apps reach N on the honest nodes. A
//! broken app (failing on every node) strikes no one.

use std::sync::Arc;

use scheduler::protocol::{Input, Output, PersistRecord, Strikes, TICK};

mod protocol_net;
use protocol_net::{Net, app};

/// Net of `n` nodes where node `liar` announces 1,000 cores, 4 TB of RAM and a benchmark
/// of 100,000, and fails every start.
fn net_with_liar(n: usize, liar: usize) -> Net {
    let mut net = Net::new(n);
    let mut info = net.view.info(liar as u32).unwrap().clone();
    info.total = proto::tier::Resources::new(1_000.0, 4_000_000, 100_000);
    info.bench_score = 100_000.0;
    net.view.upsert_member(liar as u32, info, 0);
    net.view.refresh(0);
    net.failing[liar] = true;
    net.healthy_on_start = true;
    net
}

fn strikes_against(net: &Net, p: usize) -> Vec<(usize, Strikes)> {
    (0..net.nodes.len())
        .filter_map(|i| {
            net.nodes[i]
                .strikes()
                .find(|(q, _)| *q as usize == p)
                .map(|(_, s)| (i, s))
        })
        .collect()
}

#[test]
fn a_liar_that_fails_every_start_is_struck_and_apps_reach_n_on_honest_nodes() {
    let liar = 3;
    let mut net = net_with_liar(10, liar);
    let mut reached = Vec::new();
    for (k, name) in ["a", "b", "c", "d"].iter().enumerate() {
        let t0 = k as u64 * 20_000;
        net.register(&app(name, 2), t0);
        let t = net.run_while(t0, t0 + 15_000, |n| n.hosts(name).len() < 2);
        let hosts = net.hosts(name);
        assert_eq!(hosts.len(), 2, "{name} at N within 15 s: {hosts:?}");
        assert!(!hosts.contains(&liar));
        reached.push(t - t0);
        net.run(t, t0 + 19_000);
    }
    eprintln!("ms to N with a liar in the network: {reached:?}");
    let struck = strikes_against(&net, liar);
    assert!(!struck.is_empty(), "someone struck the liar");
    // Nobody honest was struck.
    for p in (0..net.nodes.len()).filter(|&p| p != liar) {
        assert!(strikes_against(&net, p).is_empty(), "node {p} struck");
    }
    // An observer that struck it does not call it for a new app during the hold-off.
    let (observer, s) = struck[0];
    assert!(s.until > 80_000);
    let calls_to_liar = {
        let name = "e";
        net.register(&app(name, 2), 80_000);
        let mut n = 0;
        for t in (80_000..90_000).step_by(TICK as usize) {
            for i in 0..net.nodes.len() {
                let outs = net.nodes[i].handle(Input::Tick, t, &net.view);
                if i == observer {
                    n += outs
                        .iter()
                        .filter(|o| {
                            matches!(o, Output::Send(to, scheduler::protocol::Msg::CallForBids { .. }) if *to as usize == liar)
                        })
                        .count();
                }
                net.apply(i as u32, outs, t);
            }
            net.pump(t);
            net.run(t, t);
        }
        n
    };
    assert_eq!(calls_to_liar, 0, "node {observer} called the struck liar");
}

#[test]
fn a_strike_is_persisted_and_given_back_at_start_up() {
    let liar = 3;
    let mut net = net_with_liar(10, liar);
    for (k, name) in ["a", "b", "c", "d"].iter().enumerate() {
        let t0 = k as u64 * 20_000;
        net.register(&app(name, 2), t0);
        net.run(t0, t0 + 19_000);
    }
    let persisted: Vec<(usize, u32, Strikes)> = net
        .persisted
        .iter()
        .filter_map(|(i, r)| match r {
            PersistRecord::Standing { node, strikes } => Some((*i as usize, *node, *strikes)),
            _ => None,
        })
        .collect();
    let (observer, node, strikes) = *persisted.first().expect("a strike was persisted");
    assert_eq!(node as usize, liar);
    // A fresh node (the observer after a restart) given the record holds it off again.
    let mut fresh = scheduler::protocol::Node::new(scheduler::protocol::NodeConfig {
        id: observer as u32,
        total: net.view.info(observer as u32).unwrap().total,
        base_used: proto::tier::Resources::default(),
        phase: 0,
    });
    assert_eq!(fresh.strikes().count(), 0);
    let outs = fresh.handle(Input::Standing { node, strikes }, 90_000, &net.view);
    assert!(outs.is_empty());
    assert_eq!(fresh.strikes().collect::<Vec<_>>(), vec![(node, strikes)]);
}

#[test]
fn an_app_that_fails_everywhere_strikes_no_one() {
    let mut net = Net::new(6);
    net.healthy_on_start = true;
    net.failing = vec![true; 6];
    net.register(&app("broken", 2), 0);
    net.run(0, 60_000);
    assert!(net.hosts("broken").is_empty());
    for p in 0..6 {
        assert!(
            strikes_against(&net, p).is_empty(),
            "node {p} struck for a broken app"
        );
    }
}

#[test]
fn stopping_a_served_instance_is_no_strike() {
    let mut net = Net::new(8);
    net.healthy_on_start = true;
    net.register(&app("web", 3), 0);
    net.run(0, 10_000);
    let hosts = net.hosts("web");
    assert_eq!(hosts.len(), 3);
    // One host gives its (served) instance up: no strike anywhere.
    let quitter = hosts[0];
    let outs = net.nodes[quitter].handle(
        Input::GiveUp {
            app: Arc::from("web"),
        },
        10_500,
        &net.view,
    );
    net.apply(quitter as u32, outs, 10_500);
    net.pump(10_500);
    net.run(11_000, 20_000);
    assert_eq!(net.hosts("web").len(), 3);
    assert!(strikes_against(&net, quitter).is_empty());
}

/// A whole group lost, and the first replacements placed by the app's home fail to start
/// (on the real testbed: the registry refused their pulls at that moment). The home places
/// again after the short pause of a failed round, not after the orphan pause of
/// 2 × START_GRACE (60 s), which alone took the real recovery past the 60 s bound.
#[test]
fn an_orphan_whose_first_replacements_fail_is_placed_again_within_seconds() {
    let mut net = Net::new(12);
    net.healthy_on_start = true;
    net.register(&app("lost", 3), 0);
    net.run(0, 70_000);
    let hosts = net.hosts("lost");
    assert_eq!(hosts.len(), 3);
    // The three hosts die at once and leave every view; the first replacements fail.
    let killed_at = 71_000;
    for &h in &hosts {
        net.alive[h] = false;
        net.view.member_unreachable(h as u32, killed_at);
    }
    net.view.refresh(killed_at);
    net.failing = (0..12).map(|i| !hosts.contains(&i)).collect();
    net.run(killed_at, killed_at + 1_000);
    assert!(
        net.hosts("lost").is_empty(),
        "the first replacements failed"
    );
    net.failing = vec![false; 12];
    let t = net.run_while(killed_at + 2_000, killed_at + 120_000, |n| {
        n.hosts("lost").len() < 3
    });
    assert_eq!(net.hosts("lost").len(), 3, "never back at N");
    let back = t - killed_at;
    eprintln!("back at N {back} ms after the kill, the first replacements having failed");
    assert!(
        back < 20_000,
        "{back} ms: the home waited out the orphan pause"
    );
}

/// As above, but the home placed the orphan on itself and its own start failed (on the
/// testbed: a replaced node whose predecessor's volume still held the app's name). Its
/// next round comes after the short pause, while it holds itself off the app, so another
/// node takes it; it used to come after the orphan pause, once the hold-off had ended,
/// and the home won and failed again, a minute apart.
#[test]
fn an_orphan_its_home_failed_to_start_goes_elsewhere_within_seconds() {
    let n = 12;
    let mut net = Net::new(n);
    net.healthy_on_start = true;
    net.register(&app("lost", 1), 0);
    net.run(0, 70_000);
    let hosts = net.hosts("lost");
    assert_eq!(hosts.len(), 1);
    let home = net.view.homes("lost")[0] as usize;
    let killed_at = 71_000;
    let host = hosts[0];
    if host == home {
        // The home itself was the host; nothing of this case to show with this seed.
        panic!("seed puts the host on its own home: pick another app name");
    }
    net.alive[host] = false;
    net.view.member_unreachable(host as u32, killed_at);
    net.view.refresh(killed_at);
    // Only the home can take it, and its start fails.
    for i in 0..n {
        net.ports_taken[i] = i != home;
    }
    net.failing[home] = true;
    let failed_at = net.run_while(killed_at, killed_at + 10_000, |n| {
        !n.persisted.iter().any(|(p, r)| {
            *p as usize == home && matches!(r, scheduler::protocol::PersistRecord::Released { .. })
        })
    });
    assert!(
        failed_at < killed_at + 10_000,
        "the home placed it on itself"
    );
    // Now every other node could take it.
    for i in 0..n {
        net.ports_taken[i] = i == home;
    }
    let t = net.run_while(failed_at, failed_at + 120_000, |n| {
        n.hosts("lost").is_empty()
    });
    assert_eq!(net.hosts("lost").len(), 1, "never placed again");
    assert!(!net.hosts("lost").contains(&home));
    let back = t - failed_at;
    eprintln!("running elsewhere {back} ms after the home's own start failed");
    assert!(
        back < 15_000,
        "{back} ms: the home waited out the orphan pause"
    );
}

/// A view that learned an app moments ago waits `2 × START_GRACE` for running reports
/// before calling it an orphan — but not when the hosts it knows of are members it saw
/// die: a whole group lost soon after a node joined (the home of many apps, as replaced
/// nodes are) was re-placed a minute after the kill instead of at once.
#[test]
fn a_group_lost_soon_after_the_view_learned_the_app_is_placed_again_at_once() {
    let mut net = Net::new(12);
    net.healthy_on_start = true;
    net.register(&app("young", 2), 0);
    net.run(0, 5_000);
    let hosts = net.hosts("young");
    assert_eq!(hosts.len(), 2);
    let killed_at = 6_000;
    for &h in &hosts {
        net.alive[h] = false;
        net.view.member_unreachable(h as u32, killed_at);
    }
    net.view.refresh(killed_at);
    let t = net.run_while(killed_at, killed_at + 120_000, |n| {
        n.hosts("young").len() < 2
    });
    assert_eq!(net.hosts("young").len(), 2, "never back at N");
    let back = t - killed_at;
    eprintln!("back at N {back} ms after the kill, 6 s after the registration");
    assert!(back < 15_000, "{back} ms: waited for the new-app grace");
}
