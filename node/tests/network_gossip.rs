//! The network service with real libp2p swarms on 127.0.0.1: bootstrap, gossip, direct
//! messages, publish-before-subscribe, and the `/metrics` exposition.

mod net_common;

use std::time::Duration;

use fluxnode::network::Origin;
use net_common::{TestNode, announcement, eventually, now_ms, promtool_check, sealed};
use proto::message::Topic;

const ANNOUNCEMENTS_RECEIVED: &str = "fluxnode_messages_received_total{topic=\"announcements\"}";
const ANNOUNCEMENTS_PUBLISHED: &str = "fluxnode_messages_published_total{topic=\"announcements\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full tier: needs promtool (scripts/test.sh runs it)"]
async fn three_nodes_bootstrap_gossip_and_direct() {
    let mut b = TestNode::start(11, vec![]).await;
    let mut a = TestNode::start(12, vec![b.addr.clone()]).await;
    let mut c = TestNode::start(13, vec![b.addr.clone()]).await;
    // Full mesh: A and C find each other through B (Kademlia), and every node knows the
    // others' subscriptions before A publishes.
    for node in [&a, &b, &c] {
        node.wait_for_subscribers(2, Topic::Announcements).await;
    }

    // A's announcement reaches both others, verified and attributed to A.
    let sent = announcement(&a.key, 1);
    a.handle
        .publish(Topic::Announcements, sealed(&a.key, now_ms(), &sent))
        .await
        .unwrap();
    for node in [&mut b, &mut c] {
        let (opened, origin) = node.next_message().await;
        assert_eq!(origin, Origin::Gossip(Topic::Announcements));
        assert_eq!(opened.signer, a.key.public());
        assert_eq!(opened.message, sent);
        assert_eq!(node.metric(ANNOUNCEMENTS_RECEIVED), 1.0);
    }
    assert_eq!(a.metric(ANNOUNCEMENTS_PUBLISHED), 1.0);

    // A direct message from C reaches A alone; C learned A's address through Kademlia,
    // never from the test.
    let direct = announcement(&c.key, 7);
    c.handle
        .send_direct(a.key.public(), sealed(&c.key, now_ms(), &direct))
        .await
        .unwrap();
    let (opened, origin) = a.next_message().await;
    assert_eq!(origin, Origin::Direct);
    assert_eq!(opened.signer, c.key.public());
    assert_eq!(opened.message, direct);
    assert_eq!(
        a.metric("fluxnode_messages_received_total{topic=\"direct\"}"),
        1.0
    );
    assert_eq!(
        c.metric("fluxnode_messages_published_total{topic=\"direct\"}"),
        1.0
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(b.drain_messages().is_empty(), "B saw the direct message");

    // A direct message signed by someone other than the sender is refused and counted.
    let stranger = net_common::key(99);
    let err = c
        .handle
        .send_direct(
            a.key.public(),
            sealed(&stranger, now_ms(), &announcement(&stranger, 1)),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rejected"), "{err}");
    assert_eq!(
        a.metric("fluxnode_messages_rejected_total{topic=\"direct\",reason=\"peer_mismatch\"}"),
        1.0
    );

    // Peers and libp2p's own metrics are in the same registry.
    let text = b.metrics_text();
    assert!(net_common::sample(&text, "fluxnode_peers") >= 2.0, "{text}");
    assert!(
        text.contains("libp2p_swarm_connections_established_total"),
        "{text}"
    );
    assert!(text.contains("libp2p_gossipsub_"), "{text}");
    match promtool_check(&text) {
        Some((ok, report)) => assert!(ok, "promtool check metrics failed:\n{report}\n{text}"),
        None => panic!(
            "promtool not found on PATH: install Debian's `prometheus` package \
             (scripts/test.sh does) so the exposition can be checked"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_before_any_peer_is_delivered_once_peers_appear() {
    let a = TestNode::start(21, vec![]).await;
    let sent = announcement(&a.key, 1);
    a.handle
        .publish(Topic::Announcements, sealed(&a.key, now_ms(), &sent))
        .await
        .unwrap();
    // Nobody is there: the message waits in the queue, it is not counted as published.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(a.metric(ANNOUNCEMENTS_PUBLISHED), 0.0);

    let mut b = TestNode::start(22, vec![a.addr.clone()]).await;
    let (opened, origin) = b.next_message().await;
    assert_eq!(origin, Origin::Gossip(Topic::Announcements));
    assert_eq!(opened.message, sent);
    eventually("published counter", || async {
        (a.metric(ANNOUNCEMENTS_PUBLISHED) == 1.0).then_some(())
    })
    .await;
    // Retries stop once the message went out: B holds exactly one copy.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(b.drain_messages().is_empty());
    assert_eq!(b.metric(ANNOUNCEMENTS_RECEIVED), 1.0);
    assert_eq!(a.metric(ANNOUNCEMENTS_PUBLISHED), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_transport_carries_gossip_and_direct() {
    const QUIC: &str = "/ip4/127.0.0.1/udp/0/quic-v1";
    let mut b = TestNode::start_on(41, QUIC, vec![]).await;
    assert!(b.addr.to_string().contains("/quic-v1/"), "{}", b.addr);
    let mut a = TestNode::start_on(42, QUIC, vec![b.addr.clone()]).await;
    a.wait_for_peers(1).await;
    let sent = announcement(&a.key, 1);
    a.handle
        .publish(Topic::Announcements, sealed(&a.key, now_ms(), &sent))
        .await
        .unwrap();
    assert_eq!(b.next_message().await.0.message, sent);
    let direct = announcement(&b.key, 2);
    b.handle
        .send_direct(a.key.public(), sealed(&b.key, now_ms(), &direct))
        .await
        .unwrap();
    let (opened, origin) = a.next_message().await;
    assert_eq!((opened.message, origin), (direct, Origin::Direct));
    let peers = a.handle.peers().await.unwrap();
    assert!(
        peers[0]
            .addresses
            .iter()
            .all(|addr| addr.to_string().contains("/quic-v1")),
        "{peers:?}"
    );
}
