//! Anti-entropy for the app ledger. Gossip carries no history and can lose messages, so
//! peers compare compact summaries ([`LedgerSummary`]: the digest of every owner action
//! held, and of 64 buckets of them) and each sends only the buckets whose digest differs
//! — on connect, after every batch it sent, and every [`RESYNC_EVERY`] — until the
//! summaries match. A batch is pipelined with a window: at most [`SYNC_WINDOW`] messages
//! await the peer's acknowledgement at once (the network acknowledges a direct message
//! once it is queued for the peer's daemon), so a joining node is never sent every action
//! at once (which yamux refuses past its stream limit, and which would overflow the peer's
//! event queue), a peer that stops answering stops it, and a round trip is paid per
//! window rather than per action. The summary goes last, once every action was
//! acknowledged.

use proto::keys::NodeId;
use proto::message::{BucketDigest, LEDGER_BUCKETS, LedgerSummary, Message};
use scheduler::ledger::Ledger;
use scheduler::protocol::Millis;

use super::Daemon;

/// A peer's summary is answered at most this often. Two nodes that cannot agree on an
/// action (one refuses what the other holds, such as a replay only one has a tombstone
/// for) would otherwise send a bucket back and forth without pause; the next periodic
/// summary retries.
pub(super) const ANSWER_GAP: Millis = 5_000;

/// Every connected peer gets a summary this often, so a difference left by a lost gossip
/// message is found without waiting for a reconnect. 30 s: a summary is under 1 KB, so
/// even 100 peers cost about 3 KB/s.
pub(super) const RESYNC_EVERY: Millis = 30_000;

/// Sync messages in flight to one peer at once: well under libp2p's 100 concurrent
/// request-response streams and yamux's stream limit, and 2 peers × 32 is far below the
/// receiver's event queue (1,024).
pub(super) const SYNC_WINDOW: usize = 32;

/// The summary of `ledger` as `node` sends it.
pub fn summary_of(node: NodeId, ledger: &Ledger<Message>) -> LedgerSummary {
    let d = ledger.digest();
    LedgerSummary {
        node,
        count: d.count,
        xor: d.xor,
        buckets: ledger
            .buckets(LEDGER_BUCKETS)
            .into_iter()
            .map(|(count, xor)| BucketDigest { count, xor })
            .collect(),
    }
}

/// Which buckets to send a peer whose summary is `theirs`: those that differ and hold
/// something here.
pub fn differing(ledger: &Ledger<Message>, theirs: &LedgerSummary) -> Vec<bool> {
    ledger
        .buckets(LEDGER_BUCKETS)
        .iter()
        .zip(&theirs.buckets)
        .map(|(mine, t)| mine.0 > 0 && (mine.0 != t.count || mine.1 != t.xor))
        .collect()
}

impl Daemon {
    /// This node's ledger summary.
    pub(super) fn ledger_summary(&self) -> LedgerSummary {
        summary_of(self.id, self.registry.ledger())
    }

    pub(super) fn send_summary(&mut self, peer: NodeId, now: Millis) {
        let m = Message::LedgerSummary(self.ledger_summary());
        self.send_message(peer, m, now);
    }

    /// Sends a summary to every connected peer every [`RESYNC_EVERY`].
    pub(super) fn resync(&mut self, now: Millis) {
        if now < self.next_resync {
            return;
        }
        self.next_resync = now + RESYNC_EVERY;
        let peers: Vec<NodeId> = self.peers.iter().copied().collect();
        for p in peers {
            self.send_summary(p, now);
        }
    }

    /// A peer's summary: when it differs, send the peer the actions of every bucket that
    /// differs and holds something here, then this node's summary so the peer can send
    /// back what this node lacks.
    pub(super) fn on_ledger_summary(&mut self, from: NodeId, s: &LedgerSummary) {
        let now = self.clock.now();
        let ledger = self.registry.ledger();
        let d = ledger.digest();
        if d.count == s.count && d.xor == s.xor {
            self.metrics.ledger_in_sync.inc();
            return;
        }
        if self
            .sync_answered
            .get(&from)
            .is_some_and(|&t| now < t + ANSWER_GAP)
        {
            return;
        }
        let which = differing(ledger, s);
        let mut batch: Vec<Message> = ledger
            .actions_in_buckets(&which)
            .map(|a| a.payload.clone())
            .collect();
        if batch.is_empty() {
            return;
        }
        self.sync_answered.insert(from, now);
        self.metrics.ledger_sync_actions.inc_by(batch.len() as u64);
        tracing::debug!(peer = %from, actions = batch.len(), "ledger differs; sending the differing buckets");
        batch.push(Message::LedgerSummary(self.ledger_summary()));
        let mut envelopes = Vec::with_capacity(batch.len());
        for m in &batch {
            match proto::encoding::seal(&self.key, now, m) {
                Ok(env) => envelopes.push(env),
                Err(e) => {
                    tracing::error!(kind = m.kind(), error = %e, "message could not be sealed");
                    self.error("encode");
                }
            }
        }
        let net = self.network.clone();
        tokio::spawn(async move {
            use futures_util::StreamExt as _;
            let Some(summary) = envelopes.pop() else {
                return;
            };
            let mut sends = futures_util::stream::iter(envelopes)
                .map(|env| net.send_direct(from, env))
                .buffer_unordered(SYNC_WINDOW);
            while let Some(r) = sends.next().await {
                if let Err(e) = r {
                    tracing::debug!(peer = %from, error = %e, "ledger sync stopped; the next summary resumes it");
                    return;
                }
            }
            drop(sends);
            if let Err(e) = net.send_direct(from, summary).await {
                tracing::debug!(peer = %from, error = %e, "ledger summary not delivered");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::registry::{Origin, Registry};
    use crate::store::Store;
    use proto::keys::Keypair;
    use proto::message::{AppRegistration, OwnerSigned};
    use scheduler::protocol::ChainClock;

    const H: u64 = 3_000_000;

    fn registration(owner: &Keypair, i: u32) -> Message {
        let spec = serde_json::json!({
            "version": 8, "name": format!("app{i}"), "description": "d",
            "owner": "0x0c894752ba986f3f6f081eeb05c1c4a482fe8717",
            "compose": [{
                "name": "web", "description": "d", "repotag": "busybox:latest",
                "ports": [31000 + i % 1000], "domains": [""], "environmentParameters": [],
                "commands": [], "containerPorts": [8080], "containerData": "/data",
                "cpu": 0.1, "ram": 128, "hdd": 1, "repoauth": ""
            }],
            "instances": 3, "contacts": [], "geolocation": [], "expire": 5000,
            "nodes": [], "staticip": false, "enterprise": ""
        });
        Message::AppRegistration(OwnerSigned::sign(
            owner,
            u64::from(i),
            AppRegistration {
                spec_json: spec.to_string(),
                registered_height: H,
            },
        ))
    }

    fn registry(dir: &tempfile::TempDir, msgs: &[Message]) -> Registry {
        let store = Store::open(dir.path().join("db")).unwrap();
        let mut r = Registry::load(store, ChainClock::new(0, 0), H).unwrap();
        for m in msgs {
            r.receive(m.clone(), H, Origin::Peer).unwrap();
        }
        r
    }

    /// Two nodes holding the same 1,000 apps exchange one summary each on reconnect and
    /// nothing else; one missing action costs only its bucket.
    #[test]
    fn reconnect_sync_of_equal_ledgers_costs_two_summaries() {
        let owner = Keypair::from_seed(&[3; 32]);
        let msgs: Vec<Message> = (0..1_000).map(|i| registration(&owner, i)).collect();
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = registry(&da, &msgs);
        let reversed: Vec<Message> = msgs.iter().rev().cloned().collect();
        let b = registry(&db, &reversed);
        let key = Keypair::from_seed(&[4; 32]);
        let sa = summary_of(key.public(), a.ledger());
        let sb = summary_of(key.public(), b.ledger());
        assert_eq!((sa.count, sa.xor), (sb.count, sb.xor));
        assert!(differing(a.ledger(), &sb).iter().all(|d| !d));
        let env = proto::encoding::seal(&key, 1, &Message::LedgerSummary(sa)).unwrap();
        let bytes = proto::encoding::encode(&env).len();
        println!(
            "reconnect sync, 1,000 apps on both sides: 2 summaries x {bytes} bytes = {} bytes",
            2 * bytes
        );
        assert!(bytes > 0 && 2 * bytes <= 4_096, "{bytes} bytes per summary");

        // The peer lacks one action: only that action's bucket is sent.
        let dc = tempfile::tempdir().unwrap();
        let c = registry(&dc, &msgs[1..]);
        let sc = summary_of(key.public(), c.ledger());
        let which = differing(a.ledger(), &sc);
        assert_eq!(which.iter().filter(|d| **d).count(), 1);
        let sent = a.ledger().actions_in_buckets(&which).count();
        println!("one action missing: {sent} of 1,000 actions sent");
        assert!(sent < 1_000 / 16, "{sent} actions sent");
    }
}
