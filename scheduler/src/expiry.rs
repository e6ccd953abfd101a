//! Subscription expiry arithmetic, in block heights.
//!
//! - expiry height = height of the last registration or renewal + `expire`;
//! - removal height = expiry height + [`GRACE_BLOCKS`].
//!
//! An app is *expired* from its expiry height on: it gets no new placements, but running
//! instances stay so the owner can still renew. It is *removable* from its removal height
//! on: containers and data go. A renewal moves the base height, so both heights move with it.

/// FluxOS's default subscription length: 88,000 blocks (≈ 30.6 days of 30 s blocks).
pub const DEFAULT_EXPIRE: u32 = 88_000;

/// Nominal block time in seconds since the PON fork.
pub const BLOCK_SECONDS: u64 = 30;

/// Grace between expiry and removal: 22 hours of nominal 30 s blocks,
/// 22 × 3,600 / 30 = 2,640 blocks.
pub const GRACE_BLOCKS: u64 = 22 * 3_600 / BLOCK_SECONDS;

/// The first height at which the subscription no longer covers the app.
pub fn expiry_height(last_registration_height: u64, expire: u32) -> u64 {
    last_registration_height.saturating_add(u64::from(expire))
}

/// The first height at which the app's containers and data are removed.
pub fn removal_height(last_registration_height: u64, expire: u32) -> u64 {
    expiry_height(last_registration_height, expire).saturating_add(GRACE_BLOCKS)
}

/// Whether the app is expired at height `now` (no new placements from here on).
pub fn is_expired(last_registration_height: u64, expire: u32, now: u64) -> bool {
    now >= expiry_height(last_registration_height, expire)
}

/// Whether the app's instances must be removed at height `now`.
pub fn is_removable(last_registration_height: u64, expire: u32, now: u64) -> bool {
    now >= removal_height(last_registration_height, expire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_is_22_hours_of_30s_blocks() {
        assert_eq!(GRACE_BLOCKS, 2_640);
        assert_eq!(GRACE_BLOCKS * BLOCK_SECONDS, 22 * 3_600);
    }

    #[test]
    fn boundaries_are_inclusive_at_the_computed_height() {
        let (h, e) = (1_000, DEFAULT_EXPIRE);
        assert_eq!(expiry_height(h, e), 89_000);
        assert_eq!(removal_height(h, e), 91_640);
        assert!(!is_expired(h, e, 88_999));
        assert!(is_expired(h, e, 89_000));
        assert!(!is_removable(h, e, 91_639));
        assert!(is_removable(h, e, 91_640));
    }

    #[test]
    fn renewal_moves_both_heights() {
        // Renewed at 90,000, i.e. after expiry but inside the grace: kept.
        assert!(is_expired(1_000, 88_000, 90_000));
        assert!(!is_removable(90_000, 88_000, 91_640));
        assert_eq!(removal_height(90_000, 88_000), 180_640);
    }

    #[test]
    fn no_overflow_at_the_top() {
        assert_eq!(removal_height(u64::MAX - 1, u32::MAX), u64::MAX);
        assert!(!is_expired(u64::MAX - 1, 5, u64::MAX - 1));
    }
}
