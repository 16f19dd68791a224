//! Subsystem health: state plus the time of the last heartbeat.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubsystemState {
    Starting,
    Running,
    Restarting,
    Stopped,
}

#[derive(Debug)]
struct Entry {
    state: SubsystemState,
    last_beat: Option<Instant>,
    stale_after: Duration,
    restarts: u32,
    last_error: Option<String>,
}

/// A snapshot of one subsystem, for `/health/detailed` and `get_status`.
#[derive(Debug, Clone, Serialize)]
pub struct SubsystemStatus {
    pub name: &'static str,
    pub state: SubsystemState,
    pub healthy: bool,
    /// Seconds since the last heartbeat.
    pub last_heartbeat_secs: Option<f64>,
    pub restarts: u32,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct HealthRegistry {
    inner: Arc<Mutex<BTreeMap<&'static str, Entry>>>,
}

/// Handed to a subsystem to report that it is alive.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    name: &'static str,
    registry: HealthRegistry,
}

impl Heartbeat {
    /// Records liveness; the first beat after a (re)start marks the subsystem running.
    pub fn beat(&self) {
        self.registry.with(self.name, |e| {
            e.last_beat = Some(Instant::now());
            if e.state == SubsystemState::Starting {
                e.state = SubsystemState::Running;
            }
        });
    }
}

impl HealthRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, Entry>> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn with(&self, name: &'static str, f: impl FnOnce(&mut Entry)) {
        if let Some(e) = self.lock().get_mut(name) {
            f(e);
        }
    }

    pub fn register(&self, name: &'static str, stale_after: Duration) -> Heartbeat {
        self.lock().insert(
            name,
            Entry {
                state: SubsystemState::Starting,
                last_beat: None,
                stale_after,
                restarts: 0,
                last_error: None,
            },
        );
        Heartbeat {
            name,
            registry: self.clone(),
        }
    }

    pub fn set_state(&self, name: &'static str, state: SubsystemState, error: Option<String>) {
        self.with(name, |e| {
            e.state = state;
            if state == SubsystemState::Starting {
                e.last_beat = None;
            }
            if error.is_some() {
                e.last_error = error;
            }
        });
    }

    pub fn count_restart(&self, name: &'static str) {
        self.with(name, |e| e.restarts = e.restarts.saturating_add(1));
    }

    pub fn snapshot(&self) -> Vec<SubsystemStatus> {
        let now = Instant::now();
        self.lock()
            .iter()
            .map(|(name, e)| SubsystemStatus {
                name,
                state: e.state,
                healthy: healthy(e, now),
                last_heartbeat_secs: e.last_beat.map(|b| now.duration_since(b).as_secs_f64()),
                restarts: e.restarts,
                last_error: e.last_error.clone(),
            })
            .collect()
    }

    /// Names of subsystems that are not running or have not beaten within their limit, each with
    /// why.
    pub fn unhealthy(&self) -> Vec<String> {
        let now = Instant::now();
        self.lock()
            .iter()
            .filter(|(_, e)| !healthy(e, now))
            .map(|(name, e)| match (e.state, e.last_beat) {
                (SubsystemState::Running, Some(b)) => format!(
                    "{name} (no heartbeat for {:.0}s)",
                    now.duration_since(b).as_secs_f64()
                ),
                (state, _) => format!("{name} ({state:?})").to_lowercase(),
            })
            .collect()
    }
}

fn healthy(e: &Entry, now: Instant) -> bool {
    e.state == SubsystemState::Running
        && e.last_beat
            .is_some_and(|b| now.duration_since(b) <= e.stale_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stale_heartbeat_is_unhealthy() {
        let r = HealthRegistry::default();
        let hb = r.register("store", Duration::from_secs(10));
        assert_eq!(r.unhealthy(), vec!["store (starting)".to_string()]);
        hb.beat();
        assert!(r.unhealthy().is_empty());
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(
            r.unhealthy(),
            vec!["store (no heartbeat for 11s)".to_string()]
        );
        hb.beat();
        assert!(r.unhealthy().is_empty());
    }
}
