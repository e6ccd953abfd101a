//! The event queue and the network model shared by both strategies.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::SimConfig;
use crate::protocol::Millis;

struct Entry<E> {
    at: Millis,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed: the heap pops the earliest event, ties in insertion order.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Events ordered by time, then by the order they were scheduled: deterministic.
pub(crate) struct Queue<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
    pub popped: u64,
}

impl<E> Queue<E> {
    pub fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
            popped: 0,
        }
    }

    pub fn push(&mut self, at: Millis, event: E) {
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            event,
        });
    }

    pub fn pop(&mut self) -> Option<(Millis, E)> {
        self.popped += 1;
        self.heap.pop().map(|e| (e.at, e.event))
    }
}

/// Latency, loss, partitions and dead nodes.
pub(crate) struct Net {
    pub latency: Millis,
    pub loss: f64,
    /// Partition side of each node (0 or 1) and the window it applies in.
    pub side: Vec<u8>,
    pub partition: Option<(Millis, Millis)>,
    pub alive: Vec<bool>,
    pub messages: u64,
    pub bytes: u64,
}

impl Net {
    pub fn new(config: &SimConfig, rng: &mut ChaCha8Rng) -> Self {
        let n = config.nodes;
        let (side, partition) = match config.partition {
            Some(p) => {
                let share_a = f64::from(p.a) / f64::from(p.a + p.b);
                let side = (0..n).map(|_| u8::from(!rng.gen_bool(share_a))).collect();
                (side, Some((p.from_s * 1_000, p.to_s * 1_000)))
            }
            None => (vec![0; n], None),
        };
        Self {
            latency: config.latency_ms,
            loss: config.loss,
            side,
            partition,
            alive: vec![true; n],
            messages: 0,
            bytes: 0,
        }
    }

    pub fn partitioned(&self, now: Millis) -> bool {
        self.partition.is_some_and(|(a, b)| now >= a && now < b)
    }

    /// Whether `from` can reach `to` at `now` (both alive, same side during a partition).
    pub fn reachable(&self, from: usize, to: usize, now: Millis) -> bool {
        self.alive[to]
            && self.alive[from]
            && (!self.partitioned(now) || self.side[from] == self.side[to])
    }

    /// One-way delay: uniform in [0.5, 1.5] × latency.
    pub fn delay(&self, rng: &mut ChaCha8Rng) -> Millis {
        if self.latency == 0 {
            return 0;
        }
        rng.gen_range(self.latency / 2..=self.latency + self.latency / 2)
    }

    pub fn lost(&self, rng: &mut ChaCha8Rng) -> bool {
        self.loss > 0.0 && rng.gen_bool(self.loss)
    }

    pub fn count(&mut self, deliveries: u64, bytes_each: u64) {
        self.messages += deliveries;
        self.bytes += deliveries * bytes_each;
    }
}
