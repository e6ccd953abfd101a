//! The daemon's side of the network: a cloneable handle that sends commands to the service
//! task.

use libp2p::{Multiaddr, PeerId};
use proto::envelope::Envelope;
use proto::keys::NodeId;
use proto::message::Topic;
use tokio::sync::{mpsc, oneshot};

use super::NetworkError;

/// A request to the network service. Commands with a `reply` answer on it; the others are
/// fire-and-forget.
#[derive(Debug)]
pub enum Command {
    /// Broadcast `envelope` on `topic`. When no peer subscribes to the topic yet (at start,
    /// or while isolated) the message is queued and retried until peers appear or it is too
    /// old to be accepted anywhere (`proto::envelope::MAX_AGE_MS`).
    Publish { topic: Topic, envelope: Envelope },
    /// Send `envelope` to one node, dialing it if needed (addresses from Kademlia, identify
    /// and mDNS). The reply is `Ok` once the receiver accepted it.
    SendDirect {
        to: NodeId,
        envelope: Envelope,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    /// The connected peers.
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    /// Dial an address (e.g. an operator adding a peer at run time).
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    /// The addresses the node listens on (known once the listeners are up).
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
}

/// One connected peer.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerInfo {
    pub peer: PeerId,
    /// `None` for a peer whose identity is not an ed25519 key (not a fluxnode).
    pub node: Option<NodeId>,
    /// The remote addresses of its open connections.
    pub addresses: Vec<Multiaddr>,
    /// The fluxnode topics it subscribes to (known from its gossipsub subscriptions).
    pub topics: Vec<Topic>,
    /// Its gossipsub score as this node computes it; negative after invalid messages.
    pub gossip_score: Option<f64>,
}

/// Cloneable handle to the network service.
#[derive(Debug, Clone)]
pub struct NetworkHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) local: NodeId,
}

impl NetworkHandle {
    /// This node's id (its libp2p peer id string).
    pub fn local_node(&self) -> NodeId {
        self.local
    }

    /// Sends a raw command.
    pub async fn command(&self, command: Command) -> Result<(), NetworkError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| NetworkError::Stopped)
    }

    /// See [`Command::Publish`].
    pub async fn publish(&self, topic: Topic, envelope: Envelope) -> Result<(), NetworkError> {
        self.command(Command::Publish { topic, envelope }).await
    }

    /// [`Command::Publish`] without waiting: for a caller that must not block (the daemon's
    /// service loop). Fails when the service's queue is full or the service stopped.
    pub fn try_publish(&self, topic: Topic, envelope: Envelope) -> Result<(), NetworkError> {
        self.commands
            .try_send(Command::Publish { topic, envelope })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => NetworkError::Busy,
                mpsc::error::TrySendError::Closed(_) => NetworkError::Stopped,
            })
    }

    /// See [`Command::SendDirect`].
    pub async fn send_direct(&self, to: NodeId, envelope: Envelope) -> Result<(), NetworkError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::SendDirect {
            to,
            envelope,
            reply,
        })
        .await?;
        rx.await.map_err(|_| NetworkError::Stopped)?
    }

    /// See [`Command::Peers`].
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetworkError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Peers { reply }).await?;
        rx.await.map_err(|_| NetworkError::Stopped)
    }

    /// See [`Command::Dial`].
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetworkError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Dial { addr, reply }).await?;
        rx.await.map_err(|_| NetworkError::Stopped)?
    }

    /// See [`Command::ListenAddrs`].
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetworkError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::ListenAddrs { reply }).await?;
        rx.await.map_err(|_| NetworkError::Stopped)
    }
}
