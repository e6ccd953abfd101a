//! Gossip validation before forwarding: a peer F that speaks only gossipsub (as an attacker
//! would) is connected to B alone; C is connected to B. Forged and stale announcements from
//! F must stop at B — not delivered to B's daemon, not forwarded to C — and be counted in
//! B's metrics with their reason, while valid ones travel F → B → C.

mod net_common;

use std::time::Duration;

use fluxnode::network::{gossip_config, score_params, score_thresholds};
use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity};
use libp2p::swarm::SwarmEvent;
use libp2p::{Swarm, noise, tcp, yamux};
use net_common::{PATIENCE, TestNode, announcement, key, now_ms, sealed};
use proto::envelope::MAX_AGE_MS;
use proto::keys::Keypair;
use proto::message::Topic;

fn forger_swarm() -> Swarm<gossipsub::Behaviour> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            let mut g =
                gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config().unwrap())
                    .unwrap();
            g.with_peer_score(score_params(), score_thresholds())
                .unwrap();
            g.subscribe(&IdentTopic::new(Topic::Announcements.name()))
                .unwrap();
            g
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build()
}

/// Drives the forger's swarm for `d`.
async fn run_for(swarm: &mut Swarm<gossipsub::Behaviour>, d: Duration) {
    let _ = tokio::time::timeout(d, async {
        loop {
            swarm.select_next_some().await;
        }
    })
    .await;
}

fn publish(swarm: &mut Swarm<gossipsub::Behaviour>, frame: Vec<u8>) {
    publish_on(swarm, Topic::Announcements, frame);
}

fn publish_on(swarm: &mut Swarm<gossipsub::Behaviour>, topic: Topic, frame: Vec<u8>) {
    swarm
        .behaviour_mut()
        .publish(IdentTopic::new(topic.name()), frame)
        .unwrap();
}

/// A forger connected to `target`, once it knows the target's subscriptions.
async fn connect_forger(target: &TestNode) -> Swarm<gossipsub::Behaviour> {
    let mut forger = forger_swarm();
    forger.dial(target.addr.clone()).unwrap();
    let subscribed = tokio::time::timeout(PATIENCE, async {
        loop {
            if let SwarmEvent::Behaviour(gossipsub::Event::Subscribed { .. }) =
                forger.select_next_some().await
            {
                break;
            }
        }
    })
    .await;
    assert!(
        subscribed.is_ok(),
        "target never subscribed from the forger's view"
    );
    forger
}

fn valid_frame(f: &Keypair, seq: u64) -> Vec<u8> {
    proto::encoding::encode(&sealed(f, now_ms(), &announcement(f, seq)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_stale_gossip_is_dropped_counted_and_not_forwarded() {
    let mut b = TestNode::start(31, vec![]).await;
    let mut c = TestNode::start(32, vec![b.addr.clone()]).await;
    c.wait_for_peers(1).await;

    let f_key = key(33);
    let mut forger = forger_swarm();
    forger.dial(b.addr.clone()).unwrap();
    // Wait until the forger knows B subscribes to the topic.
    let subscribed = tokio::time::timeout(PATIENCE, async {
        loop {
            if let SwarmEvent::Behaviour(gossipsub::Event::Subscribed { .. }) =
                forger.select_next_some().await
            {
                break;
            }
        }
    })
    .await;
    assert!(
        subscribed.is_ok(),
        "B never subscribed from the forger's view"
    );

    // Valid announcements until one has travelled F → B → C (B's mesh to C may take a
    // heartbeat to form): this proves B forwards F's messages to C.
    let mut seq = 0;
    let relayed = tokio::time::timeout(PATIENCE, async {
        loop {
            seq += 1;
            publish(&mut forger, valid_frame(&f_key, seq));
            run_for(&mut forger, Duration::from_millis(500)).await;
            if c.metric("fluxnode_messages_received_total{topic=\"announcements\"}") > 0.0 {
                break;
            }
        }
    })
    .await;
    assert!(relayed.is_ok(), "no valid message reached C through B");
    run_for(&mut forger, Duration::from_millis(500)).await;
    b.drain_messages();
    c.drain_messages();
    let b_received = b.metric("fluxnode_messages_received_total{topic=\"announcements\"}");
    let c_received = c.metric("fluxnode_messages_received_total{topic=\"announcements\"}");

    // 1. Bad signature: a valid envelope with one signature byte flipped.
    let mut forged = sealed(&f_key, now_ms(), &announcement(&f_key, 100));
    forged.signature[0] ^= 1;
    publish(&mut forger, proto::encoding::encode(&forged));
    // 2. Signer mismatch: an announcement naming another node, signed by F.
    let victim = key(34);
    publish(
        &mut forger,
        proto::encoding::encode(&sealed(&f_key, now_ms(), &announcement(&victim, 1))),
    );
    // 3. Stale: correctly signed six minutes ago (the limit is five).
    publish(
        &mut forger,
        proto::encoding::encode(&sealed(
            &f_key,
            now_ms() - MAX_AGE_MS - 60_000,
            &announcement(&f_key, 101),
        )),
    );
    // Then a valid sentinel: once C has it, anything B forwarded before it has arrived too
    // (one ordered stream per peer pair).
    let sentinel = announcement(&f_key, 102);
    publish(
        &mut forger,
        proto::encoding::encode(&sealed(&f_key, now_ms(), &sentinel)),
    );
    let arrived = tokio::time::timeout(PATIENCE, async {
        loop {
            run_for(&mut forger, Duration::from_millis(200)).await;
            if c.metric("fluxnode_messages_received_total{topic=\"announcements\"}") > c_received {
                break;
            }
        }
    })
    .await;
    assert!(arrived.is_ok(), "sentinel never reached C");

    // B delivered only the sentinel to its daemon; C got only the sentinel.
    for (name, node) in [("B", &mut b), ("C", &mut c)] {
        let got = node.drain_messages();
        assert_eq!(got.len(), 1, "{name} got {got:?}");
        assert_eq!(got[0].message, sentinel, "{name}");
    }
    assert_eq!(
        b.metric("fluxnode_messages_received_total{topic=\"announcements\"}"),
        b_received + 1.0
    );
    // B counted each rejection with its reason ...
    for reason in ["forged", "sender_mismatch", "stale"] {
        assert_eq!(
            b.metric(&format!(
                "fluxnode_messages_rejected_total{{topic=\"announcements\",reason=\"{reason}\"}}"
            )),
            1.0,
            "reason {reason} in:\n{}",
            b.metrics_text()
        );
    }
    // ... and C never saw any of them.
    let c_text = c.metrics_text();
    assert!(
        !c_text.contains("fluxnode_messages_rejected_total{"),
        "C was sent a bad message:\n{c_text}"
    );
    // Peer scoring: B now scores the forger below zero (two rejected messages; the stale
    // one is ignored without penalty), C's score stays non-negative.
    let forger_id = *forger.local_peer_id();
    let peers = b.handle.peers().await.unwrap();
    let score = peers
        .iter()
        .find(|p| p.peer == forger_id)
        .and_then(|p| p.gossip_score)
        .expect("B tracks the forger's score");
    assert!(score < 0.0, "forger score {score}");
    let c_score = peers
        .iter()
        .find(|p| p.node == Some(c.key.public()))
        .and_then(|p| p.gossip_score)
        .unwrap();
    assert!(c_score >= 0.0, "C score {c_score}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_wrong_topic_gossip_is_rejected_and_penalised() {
    let mut b = TestNode::start(35, vec![]).await;
    let f_key = key(36);
    let mut forger = connect_forger(&b).await;

    // A frame one byte over the envelope limit (gossipsub itself carries it: its limit
    // leaves room for framing), and a valid announcement on the bids topic.
    let mut oversized = valid_frame(&f_key, 1);
    oversized.resize(proto::envelope::MAX_ENVELOPE_BYTES + 1, 0);
    publish(&mut forger, oversized);
    publish_on(&mut forger, Topic::Bids, valid_frame(&f_key, 2));

    let counted = tokio::time::timeout(PATIENCE, async {
        loop {
            run_for(&mut forger, Duration::from_millis(100)).await;
            let text = b.metrics_text();
            if text.contains(
                "fluxnode_messages_rejected_total{topic=\"announcements\",reason=\"oversized\"} 1\n",
            ) && text.contains(
                "fluxnode_messages_rejected_total{topic=\"bids\",reason=\"wrong_topic\"} 1\n",
            ) {
                break;
            }
        }
    })
    .await;
    assert!(
        counted.is_ok(),
        "rejections not counted:\n{}",
        b.metrics_text()
    );
    assert!(b.drain_messages().is_empty());
    let forger_id = *forger.local_peer_id();
    let score = b
        .handle
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.peer == forger_id)
        .and_then(|p| p.gossip_score)
        .unwrap();
    assert!(score < 0.0, "forger score {score}");
}
