use super::*;

#[test]
fn libp2p_peer_id_of_the_node_key_is_the_node_id() {
    for seed in [[0u8; 32], [7u8; 32], [255u8; 32]] {
        let key = proto::keys::Keypair::from_seed(&seed);
        let identity = libp2p_keypair(&key).unwrap();
        let peer = identity.public().to_peer_id();
        assert_eq!(peer.to_string(), key.public().node_id());
        assert_eq!(peer_id(&key.public()), peer);
        assert_eq!(node_id(&peer), Some(key.public()));
    }
    // A non-ed25519 identity has no node id.
    assert_eq!(node_id(&PeerId::random()), None);
}

#[test]
fn bad_multiaddrs_name_the_config_key() {
    let mut config = crate::config::Config::default().network;
    config.bootstrap = vec!["/ip4/10.0.0.1/tcp/notaport".into()];
    let err = NetworkOptions::from_config(&config)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("network.bootstrap: "), "{err}");
    assert!(err.contains("notaport"), "{err}");
}
