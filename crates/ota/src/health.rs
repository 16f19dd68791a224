//! The post-update health gate (pure): after booting a freshly installed slot, the appliance
//! must prove itself before RAUC is told the slot is good. Healthy means every supervised
//! subsystem is healthy and every enabled *local* camera (test, V4L2, CSI) streams, continuously
//! for `settle`. IP cameras may be legitimately offline (their network, not the update), so they
//! do not count. Not healthy by `limit` after start: the slot is bad, and RAUC rolls back.

use std::time::Duration;

/// What the gate sees at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Subsystems that are not healthy (by name).
    pub unhealthy: Vec<String>,
    /// Enabled local cameras that are not streaming: (id, state).
    pub cameras_down: Vec<(String, String)>,
}

impl Snapshot {
    pub fn healthy(&self) -> bool {
        self.unhealthy.is_empty() && self.cameras_down.is_empty()
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.unhealthy.is_empty() {
            parts.push(format!("unhealthy: {}", self.unhealthy.join(", ")));
        }
        for (id, st) in &self.cameras_down {
            parts.push(format!("camera {id} {st}"));
        }
        if parts.is_empty() {
            "healthy".into()
        } else {
            parts.join("; ")
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Keep watching.
    Wait,
    Good,
    /// With the last problem seen.
    Bad(String),
}

#[derive(Debug, Clone)]
pub struct HealthGate {
    settle: Duration,
    limit: Duration,
    healthy_since: Option<Duration>,
}

impl HealthGate {
    pub fn new(settle: Duration, limit: Duration) -> Self {
        Self {
            settle,
            limit,
            healthy_since: None,
        }
    }

    /// Feeds one observation at `elapsed` since the start.
    pub fn observe(&mut self, elapsed: Duration, s: &Snapshot) -> Verdict {
        if s.healthy() {
            let since = *self.healthy_since.get_or_insert(elapsed);
            if elapsed.saturating_sub(since) >= self.settle {
                return Verdict::Good;
            }
        } else {
            self.healthy_since = None;
        }
        if elapsed >= self.limit {
            return Verdict::Bad(s.describe());
        }
        Verdict::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ok: bool) -> Snapshot {
        Snapshot {
            unhealthy: Vec::new(),
            cameras_down: if ok {
                Vec::new()
            } else {
                vec![("camera0".into(), "failed".into())]
            },
        }
    }

    #[test]
    fn good_only_after_settling_continuously() {
        let mut g = HealthGate::new(Duration::from_secs(10), Duration::from_secs(60));
        let at = Duration::from_secs;
        assert_eq!(g.observe(at(0), &s(true)), Verdict::Wait);
        assert_eq!(
            g.observe(at(5), &s(false)),
            Verdict::Wait,
            "a dip restarts the clock"
        );
        assert_eq!(g.observe(at(6), &s(true)), Verdict::Wait);
        assert_eq!(g.observe(at(15), &s(true)), Verdict::Wait);
        assert_eq!(g.observe(at(16), &s(true)), Verdict::Good);
    }

    #[test]
    fn bad_at_the_limit_with_the_reason() {
        let mut g = HealthGate::new(Duration::from_secs(10), Duration::from_secs(30));
        assert_eq!(g.observe(Duration::from_secs(29), &s(false)), Verdict::Wait);
        match g.observe(Duration::from_secs(30), &s(false)) {
            Verdict::Bad(why) => assert!(why.contains("camera0 failed"), "{why}"),
            v => panic!("{v:?}"),
        }
    }
}
