//! The daemon's clock: unix milliseconds for the protocol, and the simulated chain height
//! `(now - genesis) / block_time` on top of it.

use scheduler::protocol::{ChainClock, Millis};

use crate::config::ChainConfig;

/// Unix time in milliseconds (0 if the system clock is before 1970).
pub fn unix_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub chain: ChainClock,
}

impl Clock {
    pub fn new(chain: &ChainConfig) -> Clock {
        Clock {
            chain: ChainClock {
                base_height: 0,
                base_ms: chain.genesis.saturating_mul(1_000),
                block_ms: (chain.block_time.as_millis() as Millis).max(1),
            },
        }
    }

    pub fn now(&self) -> Millis {
        unix_ms()
    }

    pub fn height(&self) -> u64 {
        self.chain.height(self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn height_counts_blocks_since_genesis() {
        let c = Clock::new(&ChainConfig {
            genesis: 1_000,
            block_time: Duration::from_millis(100),
        });
        assert_eq!(c.chain.height(1_000_000), 0);
        assert_eq!(c.chain.height(1_000_099), 0);
        assert_eq!(c.chain.height(1_000_100), 1);
        assert_eq!(c.chain.height(1_030_000), 300);
        assert_eq!(c.chain.time_of(300), 1_030_000);
    }
}
