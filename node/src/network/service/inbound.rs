//! Inbound messages: every gossip message is validated before gossipsub may forward it,
//! every direct message before it is acknowledged; only verified ones reach the daemon.

use libp2p::PeerId;
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::request_response::{self, ResponseChannel};
use proto::encoding;
use proto::message::Topic;

use super::{Service, now_ms};
use crate::metrics::TopicLabel;
use crate::network::codec::DirectAck;
use crate::network::{NetworkError, NetworkEvent, Origin, node_id};

impl Service {
    pub(super) fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let acceptance = self.validate_gossip(propagation_source, &message);
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
            }
            gossipsub::Event::Subscribed { topic, .. } => {
                if let Some(topic) = Topic::from_name(topic.as_str()) {
                    self.retry_queued(Some(topic));
                }
            }
            _ => {}
        }
    }

    /// Validates one gossip message before gossipsub may forward it.
    ///
    /// Reject (penalises the sender's score) for what no honest relay would forward: bad
    /// frames, forged signatures, wrong signer or topic, oversize. Ignore (dropped, not
    /// penalised) for stale or future timestamps: those depend on clocks, and an honest
    /// peer with a skewed clock must not be scored out of the mesh.
    pub(super) fn validate_gossip(
        &mut self,
        via: PeerId,
        message: &gossipsub::Message,
    ) -> MessageAcceptance {
        let Some(topic) = Topic::from_name(message.topic.as_str()) else {
            self.metrics.rejected("unknown", "unknown_topic");
            return MessageAcceptance::Reject;
        };
        let origin = Origin::Gossip(topic);
        match encoding::receive(&message.data, topic, now_ms()) {
            Ok(opened) => {
                self.deliver(opened, via, origin);
                MessageAcceptance::Accept
            }
            Err(e) => {
                let reason = e.reason();
                tracing::debug!(%via, topic = %topic, reason, error = %e, "gossip message dropped");
                self.metrics.rejected(origin.label(), reason);
                match reason {
                    "stale" | "future" => MessageAcceptance::Ignore,
                    _ => MessageAcceptance::Reject,
                }
            }
        }
    }

    pub(super) fn deliver(&self, message: encoding::Opened, via: PeerId, origin: Origin) {
        self.metrics
            .messages_received
            .get_or_create(&TopicLabel {
                topic: origin.label(),
            })
            .inc();
        match node_id(&via) {
            Some(via) => self.emit(NetworkEvent::Message {
                message,
                via,
                origin,
            }),
            None => self.metrics.error("non_ed25519_peer"),
        }
    }

    pub(super) fn on_direct(&mut self, event: request_response::Event<Vec<u8>, DirectAck>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.on_direct_request(peer, &request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some((to, reply)) = self.pending_direct.remove(&request_id) {
                        let result = match response {
                            DirectAck::Accepted => {
                                self.count_published_direct();
                                Ok(())
                            }
                            DirectAck::Rejected => {
                                Err(NetworkError::DirectRejected { to: to.node_id() })
                            }
                        };
                        let _ = reply.send(result);
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some((to, reply)) = self.pending_direct.remove(&request_id) {
                    self.metrics.error("direct_send_failed");
                    let _ = reply.send(Err(NetworkError::Direct {
                        to: to.node_id(),
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound direct message failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    pub(super) fn count_published_direct(&self) {
        self.metrics
            .messages_published
            .get_or_create(&TopicLabel { topic: "direct" })
            .inc();
    }

    /// Validates a direct message: every envelope check, and the signer must be the peer
    /// on the other end of the connection (a direct message is never relayed).
    pub(super) fn on_direct_request(
        &mut self,
        peer: PeerId,
        frame: &[u8],
        channel: ResponseChannel<DirectAck>,
    ) {
        let origin = Origin::Direct;
        let verdict = encoding::decode(frame)
            .map_err(encoding::ReceiveError::from)
            .and_then(|envelope| encoding::open(&envelope, now_ms()));
        let ack = match verdict {
            Ok(opened) if node_id(&peer) == Some(opened.signer) => {
                self.deliver(opened, peer, origin);
                DirectAck::Accepted
            }
            Ok(opened) => {
                tracing::debug!(%peer, signer = %opened.signer, "direct message signed by another node");
                self.metrics.rejected(origin.label(), "peer_mismatch");
                DirectAck::Rejected
            }
            Err(e) => {
                tracing::debug!(%peer, reason = e.reason(), error = %e, "direct message dropped");
                self.metrics.rejected(origin.label(), e.reason());
                DirectAck::Rejected
            }
        };
        // Fails only when the peer has gone; nothing to tell it then.
        let _ = self
            .swarm
            .behaviour_mut()
            .direct
            .send_response(channel, ack);
    }
}
