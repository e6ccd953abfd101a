//! The verdict of one component's probes over time: a pure state machine, time passed in.
//!
//! starting → healthy ↔ unhealthy. Failures inside the grace after a (re)start do not
//! count; `failures` in a row make the component unhealthy; an unhealthy component is
//! restarted after the backoff delay of its restart number, up to `restarts` times; still
//! unhealthy after that, the instance is given up. A pass clears the failures and cancels
//! a pending restart; a component healthy for the backoff's stable time has its restart
//! count reset.

use std::time::Duration;

use proto::health::{Health, HealthCheck};

use crate::runtime::BackoffPolicy;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
    /// Nothing to judge by (the engine did not answer, the container is down and the
    /// supervisor owns it): no state change.
    Unknown,
}

/// What the prober must do after a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Restart,
    GiveUp { reason: String },
}

/// Probe state of one component. Times are milliseconds on any monotonic clock.
#[derive(Debug, Clone)]
pub struct ProbeTracker {
    pub check: HealthCheck,
    pub health: Health,
    failures: u32,
    started_at: u64,
    restarts: u32,
    restart_at: Option<u64>,
    healthy_since: Option<u64>,
    last_failure: Option<String>,
}

impl ProbeTracker {
    pub fn new(check: HealthCheck, now: u64) -> Self {
        Self {
            check,
            health: Health::Starting,
            failures: 0,
            started_at: now,
            restarts: 0,
            restart_at: None,
            healthy_since: None,
            last_failure: None,
        }
    }

    /// Restarts done for unhealthiness since the last stable run.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Feeds one probe result at `now`.
    pub fn on_probe(&mut self, v: Verdict, now: u64, backoff: &BackoffPolicy) -> Option<Action> {
        match v {
            Verdict::Unknown => {}
            Verdict::Pass => {
                self.failures = 0;
                self.restart_at = None;
                if self.health != Health::Healthy {
                    self.health = Health::Healthy;
                    self.healthy_since = Some(now);
                }
                let stable = ms(backoff.stable_after);
                if self
                    .healthy_since
                    .is_some_and(|t| now.saturating_sub(t) >= stable)
                {
                    self.restarts = 0;
                }
            }
            Verdict::Fail(why) => {
                self.last_failure = Some(why);
                let in_grace = now.saturating_sub(self.started_at) < self.check.grace_ms;
                if !in_grace {
                    self.failures = self.failures.saturating_add(1);
                }
                if self.failures >= self.check.failures && self.restart_at.is_none() {
                    self.health = Health::Unhealthy;
                    self.healthy_since = None;
                    self.failures = 0;
                    if self.restarts >= self.check.restarts {
                        return Some(Action::GiveUp {
                            reason: format!(
                                "unhealthy after {} restarts: {}",
                                self.restarts,
                                self.last_failure.as_deref().unwrap_or("probe failed")
                            ),
                        });
                    }
                    self.restart_at = Some(now + ms(backoff.delay(self.restarts + 1)));
                }
            }
        }
        if self.restart_at.is_some_and(|t| now >= t) {
            self.restart_at = None;
            self.restarts += 1;
            self.started_at = now;
            self.failures = 0;
            return Some(Action::Restart);
        }
        None
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An instance's health from its components': unhealthy if any is, else starting if any
/// is, else healthy.
pub fn combine(parts: impl IntoIterator<Item = Health>) -> Health {
    let rank = |h: &Health| match h {
        Health::Healthy => 0,
        Health::Starting => 1,
        Health::Unhealthy => 2,
    };
    parts
        .into_iter()
        .max_by_key(rank)
        .unwrap_or(Health::Healthy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::health::Probe;

    fn check() -> HealthCheck {
        HealthCheck {
            probe: Probe::Tcp { port: 80 },
            period_ms: 1_000,
            timeout_ms: 500,
            failures: 2,
            grace_ms: 2_000,
            restarts: 2,
        }
    }

    fn fast() -> BackoffPolicy {
        BackoffPolicy {
            delays: vec![Duration::ZERO, Duration::from_secs(1)],
            stable_after: Duration::from_secs(60),
        }
    }

    fn fail() -> Verdict {
        Verdict::Fail("refused".into())
    }

    #[test]
    fn starting_then_healthy_then_unhealthy_restart_and_give_up() {
        let b = fast();
        let mut t = ProbeTracker::new(check(), 0);
        // Failures inside the grace do not count.
        assert_eq!(t.on_probe(fail(), 500, &b), None);
        assert_eq!(t.on_probe(fail(), 1_500, &b), None);
        assert_eq!(t.health, Health::Starting);
        assert_eq!(t.on_probe(Verdict::Pass, 2_500, &b), None);
        assert_eq!(t.health, Health::Healthy);
        // Two failures: unhealthy and restarted at once (first delay 0).
        assert_eq!(t.on_probe(fail(), 3_500, &b), None);
        assert_eq!(t.on_probe(fail(), 4_500, &b), Some(Action::Restart));
        assert_eq!(t.health, Health::Unhealthy);
        // Unknown changes nothing; grace again after the restart.
        assert_eq!(t.on_probe(Verdict::Unknown, 5_000, &b), None);
        assert_eq!(t.on_probe(fail(), 5_500, &b), None);
        assert_eq!(
            t.health,
            Health::Unhealthy,
            "never healthy again without a pass"
        );
        // Second round: restart after the 1 s backoff.
        assert_eq!(t.on_probe(fail(), 7_000, &b), None);
        assert_eq!(t.on_probe(fail(), 8_000, &b), None);
        assert_eq!(t.on_probe(fail(), 9_000, &b), Some(Action::Restart));
        assert_eq!(t.restarts(), 2);
        // Out of restarts: give up.
        assert_eq!(t.on_probe(fail(), 11_500, &b), None);
        assert!(matches!(
            t.on_probe(fail(), 12_500, &b),
            Some(Action::GiveUp { .. })
        ));
    }

    #[test]
    fn a_pass_cancels_a_pending_restart_and_stable_runs_reset() {
        let b = fast();
        let mut t = ProbeTracker::new(check(), 0);
        t.on_probe(Verdict::Pass, 2_000, &b);
        t.on_probe(fail(), 3_000, &b);
        assert_eq!(t.on_probe(fail(), 4_000, &b), Some(Action::Restart));
        t.on_probe(fail(), 7_000, &b);
        t.on_probe(fail(), 8_000, &b);
        // Restart pending (1 s backoff) when a pass arrives: cancelled.
        assert_eq!(t.on_probe(Verdict::Pass, 8_500, &b), None);
        assert_eq!(t.on_probe(Verdict::Pass, 9_500, &b), None);
        assert_eq!(t.health, Health::Healthy);
        assert_eq!(t.restarts(), 1);
        t.on_probe(Verdict::Pass, 8_500 + 60_000, &b);
        assert_eq!(t.restarts(), 0);
    }

    #[test]
    fn combined_health() {
        use Health::*;
        assert_eq!(combine([Healthy, Starting]), Starting);
        assert_eq!(combine([Healthy, Unhealthy, Starting]), Unhealthy);
        assert_eq!(combine([Healthy]), Healthy);
        assert_eq!(combine([]), Healthy);
    }
}
