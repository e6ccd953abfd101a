//! Messages waiting for a gossip peer: publishing before anyone subscribes to a topic
//! (gossipsub's `NoPeersSubscribedToTopic`) keeps the message here and retries it, so an
//! announcement made at start-up is not lost.

use std::collections::VecDeque;

use proto::envelope::MAX_AGE_MS;
use proto::message::Topic;

/// Most messages held. A node publishes an announcement at most every 30 s plus the app
/// actions relayed through its API; 256 covers many minutes of isolation, and bounds the
/// memory at 256 × 64 KiB = 16 MiB in the worst case.
pub const MAX_QUEUED: usize = 256;

/// One message waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub topic: Topic,
    pub frame: Vec<u8>,
    /// The envelope's own timestamp: once it is older than peers accept, retrying is futile.
    pub timestamp_ms: u64,
}

/// First-in, first-out queue of messages to retry.
#[derive(Debug, Default)]
pub struct PublishQueue {
    queue: VecDeque<Pending>,
}

/// What [`PublishQueue::push`] and [`PublishQueue::take_ready`] dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Evicted because the queue was full (oldest first).
    pub overflow: usize,
    /// Too old to be accepted by any peer.
    pub expired: usize,
}

impl PublishQueue {
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The envelope timestamp of the oldest message waiting.
    pub fn oldest_ms(&self) -> Option<u64> {
        self.queue.iter().map(|p| p.timestamp_ms).min()
    }

    /// Queues a message, evicting the oldest when full.
    pub fn push(&mut self, pending: Pending) -> Dropped {
        let mut dropped = Dropped::default();
        while self.queue.len() >= MAX_QUEUED {
            self.queue.pop_front();
            dropped.overflow += 1;
        }
        self.queue.push_back(pending);
        dropped
    }

    /// Removes and returns, in order, the messages to retry now (all topics, or one), after
    /// dropping those older than [`MAX_AGE_MS`] at `now_ms`.
    pub fn take_ready(&mut self, topic: Option<Topic>, now_ms: u64) -> (Vec<Pending>, Dropped) {
        let mut dropped = Dropped::default();
        let mut ready = Vec::new();
        let mut keep = VecDeque::with_capacity(self.queue.len());
        for p in self.queue.drain(..) {
            if now_ms.saturating_sub(p.timestamp_ms) > MAX_AGE_MS {
                dropped.expired += 1;
            } else if topic.is_none_or(|t| t == p.topic) {
                ready.push(p);
            } else {
                keep.push_back(p);
            }
        }
        self.queue = keep;
        (ready, dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(topic: Topic, ts: u64) -> Pending {
        Pending {
            topic,
            frame: ts.to_be_bytes().to_vec(),
            timestamp_ms: ts,
        }
    }

    #[test]
    fn full_queue_evicts_oldest() {
        let mut q = PublishQueue::default();
        for i in 0..MAX_QUEUED as u64 {
            assert_eq!(q.push(pending(Topic::Apps, i)).overflow, 0);
        }
        assert_eq!(q.push(pending(Topic::Apps, 999)).overflow, 1);
        let (ready, _) = q.take_ready(None, 1000);
        assert_eq!(ready.len(), MAX_QUEUED);
        assert_eq!(ready[0].timestamp_ms, 1, "message 0 was evicted");
        assert_eq!(ready.last().unwrap().timestamp_ms, 999);
        assert!(q.is_empty());
    }

    #[test]
    fn take_ready_filters_by_topic_and_drops_expired() {
        let mut q = PublishQueue::default();
        let now = 10 * MAX_AGE_MS;
        q.push(pending(Topic::Apps, now - MAX_AGE_MS - 1));
        q.push(pending(Topic::Apps, now - MAX_AGE_MS));
        q.push(pending(Topic::Bids, now));
        let (ready, dropped) = q.take_ready(Some(Topic::Apps), now);
        assert_eq!(dropped.expired, 1);
        assert_eq!(ready, vec![pending(Topic::Apps, now - MAX_AGE_MS)]);
        let (ready, _) = q.take_ready(None, now);
        assert_eq!(ready, vec![pending(Topic::Bids, now)]);
    }
}
