//! Outbound gossip: publish now, or queue and retry while no peer subscribes.

use libp2p::gossipsub::{IdentTopic, PublishError};
use proto::encoding;
use proto::envelope::Envelope;
use proto::message::Topic;

use super::{Service, now_ms};
use crate::metrics::TopicLabel;
use crate::network::publish_queue::{Dropped, Pending};

impl Service {
    pub(super) fn on_publish(&mut self, topic: Topic, envelope: &Envelope) {
        let pending = Pending {
            topic,
            frame: encoding::encode(envelope),
            timestamp_ms: envelope.timestamp_ms,
        };
        self.try_publish(pending);
    }

    /// Publishes now, or queues the message when no peer can take it yet.
    pub(super) fn try_publish(&mut self, pending: Pending) {
        let gossip = &mut self.swarm.behaviour_mut().gossipsub;
        match gossip.publish(IdentTopic::new(pending.topic.name()), pending.frame.clone()) {
            Ok(_) => self.count_published(pending.topic),
            // The same bytes were already published (a retry raced a success): done.
            Err(PublishError::Duplicate) => {}
            Err(PublishError::NoPeersSubscribedToTopic | PublishError::AllQueuesFull(_)) => {
                let dropped = self.queue.push(pending);
                self.count_dropped(dropped);
            }
            Err(e) => {
                tracing::warn!(topic = %pending.topic, error = %e, "gossip publish failed");
                self.metrics.error("publish_failed");
            }
        }
    }

    pub(super) fn count_published(&self, topic: Topic) {
        self.metrics
            .messages_published
            .get_or_create(&TopicLabel {
                topic: crate::network::topic_label(topic),
            })
            .inc();
    }

    pub(super) fn count_dropped(&self, dropped: Dropped) {
        for _ in 0..dropped.overflow {
            self.metrics.error("publish_queue_full");
        }
        for _ in 0..dropped.expired {
            self.metrics.error("publish_expired");
        }
        if dropped != Dropped::default() {
            tracing::warn!(
                ?dropped,
                "queued gossip messages dropped before any peer took them"
            );
        }
    }

    /// Retries queued messages (all, or those of one topic).
    pub(super) fn retry_queued(&mut self, topic: Option<Topic>) {
        if self.queue.is_empty() {
            return;
        }
        let (ready, dropped) = self.queue.take_ready(topic, now_ms());
        self.count_dropped(dropped);
        for pending in ready {
            self.try_publish(pending);
        }
    }
}
