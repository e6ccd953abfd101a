//! When to restart a crashed container: a pure policy, time passed in.
//!
//! The first crash restarts at once (a one-off fault should cost nothing), the second after
//! 30 s, later ones every 5 min — the cap Kubernetes uses for CrashLoopBackOff, long enough
//! that a crash-looping app costs the host little. A container that then runs for 10 min
//! (Kubernetes' reset window too) is considered healthy and its next crash is a first one
//! again.

use std::time::{Duration, Instant};

/// Restart delays by consecutive crash number, and the run time that resets the count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Delay before the restart after the 1st, 2nd, … consecutive crash; the last entry
    /// repeats. Must not be empty (an empty list means "restart at once").
    pub delays: Vec<Duration>,
    /// A run at least this long resets the consecutive crash count.
    pub stable_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            delays: vec![
                Duration::ZERO,
                Duration::from_secs(30),
                Duration::from_secs(5 * 60),
            ],
            stable_after: Duration::from_secs(10 * 60),
        }
    }
}

impl BackoffPolicy {
    /// Delay before restarting after consecutive crash number `n` (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        let i = (n.max(1) - 1) as usize;
        self.delays
            .get(i)
            .or(self.delays.last())
            .copied()
            .unwrap_or(Duration::ZERO)
    }
}

/// Restart bookkeeping of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartState {
    /// When the current run started (as far as the runtime saw it).
    pub started_at: Instant,
    /// Crashes since the last stable run.
    pub consecutive_crashes: u32,
    /// Set while the container is down: when it may be started again.
    pub restart_at: Option<Instant>,
    /// Restarts performed over the container's life under this runtime.
    pub restarts: u64,
    /// A crash loop was reported for this container (restarts stopped).
    pub gave_up: bool,
}

impl RestartState {
    /// A container seen running (just started, or adopted) at `now`.
    pub fn running_since(now: Instant) -> RestartState {
        RestartState {
            started_at: now,
            consecutive_crashes: 0,
            restart_at: None,
            restarts: 0,
            gave_up: false,
        }
    }

    /// Records that the container was found stopped at `now`; returns when to restart it.
    /// Calling it again while already scheduled keeps the first schedule.
    pub fn on_exit(&mut self, policy: &BackoffPolicy, now: Instant) -> Instant {
        if let Some(at) = self.restart_at {
            return at;
        }
        let ran = now.saturating_duration_since(self.started_at);
        if ran >= policy.stable_after {
            self.consecutive_crashes = 0;
        }
        self.consecutive_crashes = self.consecutive_crashes.saturating_add(1);
        let at = now + policy.delay(self.consecutive_crashes);
        self.restart_at = Some(at);
        at
    }

    /// Whether a restart is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.restart_at.is_some_and(|at| now >= at)
    }

    /// Records a restart performed at `now`.
    pub fn on_restart(&mut self, now: Instant) {
        self.restart_at = None;
        self.started_at = now;
        self.restarts += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn delays_grow_then_cap() {
        let p = BackoffPolicy::default();
        let got: Vec<u64> = (1..=6).map(|n| p.delay(n).as_secs()).collect();
        assert_eq!(got, vec![0, 30, 300, 300, 300, 300]);
        let empty = BackoffPolicy {
            delays: vec![],
            stable_after: secs(1),
        };
        assert_eq!(empty.delay(3), Duration::ZERO);
    }

    #[test]
    fn crash_loop_backs_off_and_stable_run_resets() {
        let p = BackoffPolicy::default();
        let t0 = Instant::now();
        let mut s = RestartState::running_since(t0);
        // Crashes 1 s after each start: 0 s, 30 s, 300 s, 300 s.
        let mut now = t0 + secs(1);
        let mut waits = vec![];
        for _ in 0..4 {
            let at = s.on_exit(&p, now);
            assert!(!s.due(at - Duration::from_millis(1)) || at == now);
            assert!(s.due(at));
            waits.push((at - now).as_secs());
            s.on_restart(at);
            now = at + secs(1);
        }
        assert_eq!(waits, vec![0, 30, 300, 300]);
        assert_eq!(s.restarts, 4);
        // A run of 10 min resets: the next crash restarts at once.
        let at = s.on_exit(&p, now + secs(600));
        assert_eq!(at, now + secs(600));
        assert_eq!(s.consecutive_crashes, 1);
    }

    #[test]
    fn repeated_observation_keeps_schedule() {
        let p = BackoffPolicy::default();
        let t0 = Instant::now();
        let mut s = RestartState::running_since(t0);
        s.on_exit(&p, t0 + secs(1));
        s.on_restart(t0 + secs(1));
        let first = s.on_exit(&p, t0 + secs(2));
        let again = s.on_exit(&p, t0 + secs(20));
        assert_eq!(first, again);
        assert_eq!(s.consecutive_crashes, 2);
        assert!(!s.due(t0 + secs(20)));
        assert!(s.due(t0 + secs(32)));
    }
}
