//! The supervisor: every subsystem is a task that is restarted with exponential backoff when it
//! fails or panics, reports liveness through a heartbeat, and stops when shutdown is requested.
//!
//! Health drives systemd's watchdog ([`watchdog`]): `WATCHDOG=1` is sent only while every
//! subsystem has beaten recently, so a subsystem that hangs (a deadlock, a stuck blocking call)
//! stops the pings and systemd restarts the whole process, rather than leaving a box that answers
//! pings but records nothing. Monotonic time is tokio's, so tests drive backoff and staleness with
//! a paused clock instead of sleeping.

pub mod health;
pub mod notify;
pub mod watchdog;

pub use health::{HealthRegistry, Heartbeat, SubsystemState, SubsystemStatus};

use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Restart delays: `initial`, doubling per consecutive failure, capped at `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The delay before restart number `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// What a running subsystem gets.
#[derive(Debug, Clone)]
pub struct SubsystemCtx {
    pub name: &'static str,
    pub heartbeat: Heartbeat,
    pub shutdown: CancellationToken,
}

/// Owns the subsystem tasks.
#[derive(Debug, Clone)]
pub struct Supervisor {
    pub registry: HealthRegistry,
    pub shutdown: CancellationToken,
    tracker: TaskTracker,
    backoff: Backoff,
    /// Where a subsystem failure is published (`system.error`).
    failures: Option<(crate::events::EventBus, crate::clock::SharedClock)>,
}

impl Supervisor {
    pub fn new(backoff: Backoff) -> Self {
        Self {
            registry: HealthRegistry::default(),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            backoff,
            failures: None,
        }
    }

    /// Publishes every subsystem failure as `system.error` (subsystem, error, restart delay).
    pub fn publish_failures(
        mut self,
        events: crate::events::EventBus,
        clock: crate::clock::SharedClock,
    ) -> Self {
        self.failures = Some((events, clock));
        self
    }

    /// Starts a subsystem. `factory` is called again for every restart. The subsystem must call
    /// `ctx.heartbeat.beat()` at least every `stale_after` while it works, and return when
    /// `ctx.shutdown` is cancelled.
    pub fn spawn<F, Fut>(&self, name: &'static str, stale_after: Duration, factory: F)
    where
        F: Fn(SubsystemCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let heartbeat = self.registry.register(name, stale_after);
        let ctx = SubsystemCtx {
            name,
            heartbeat,
            shutdown: self.shutdown.clone(),
        };
        let backoff = self.backoff;
        let registry = self.registry.clone();
        let failures = self.failures.clone();
        self.tracker.spawn(async move {
            let mut attempt = 0u32;
            loop {
                if ctx.shutdown.is_cancelled() {
                    break;
                }
                registry.set_state(name, SubsystemState::Starting, None);
                let started = tokio::time::Instant::now();
                let outcome = tokio::spawn(factory(ctx.clone())).await;
                if ctx.shutdown.is_cancelled() {
                    if let Ok(Err(e)) = &outcome {
                        tracing::warn!(subsystem = name, error = %e, "subsystem failed while stopping");
                    }
                    break;
                }
                let reason = match outcome {
                    Ok(Ok(())) => "returned unexpectedly".to_string(),
                    Ok(Err(e)) => format!("{e:#}"),
                    Err(e) if e.is_panic() => format!("panicked: {}", panic_message(e)),
                    Err(e) => format!("task ended: {e}"),
                };
                // A subsystem that ran well for a while starts its backoff afresh.
                if started.elapsed() >= backoff.max {
                    attempt = 0;
                }
                let delay = backoff.delay(attempt);
                attempt = attempt.saturating_add(1);
                tracing::error!(subsystem = name, %reason, restart_in_ms = delay.as_millis() as u64, "subsystem failed");
                if let Some((events, clock)) = &failures {
                    events.publish(
                        "system.error",
                        serde_json::json!({
                            "subsystem": name,
                            "error": reason,
                            "restart_in_ms": delay.as_millis() as u64,
                        }),
                        clock.now_ms(),
                    );
                }
                registry.set_state(name, SubsystemState::Restarting, Some(reason));
                registry.count_restart(name);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = ctx.shutdown.cancelled() => break,
                }
            }
            registry.set_state(name, SubsystemState::Stopped, None);
        });
    }

    /// Asks every subsystem to stop.
    pub fn request_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits until every subsystem has stopped, or `timeout` passes. Returns the names still
    /// running at the deadline.
    pub async fn wait_stopped(&self, timeout: Duration) -> Vec<String> {
        self.tracker.close();
        if tokio::time::timeout(timeout, self.tracker.wait())
            .await
            .is_ok()
        {
            return Vec::new();
        }
        self.registry
            .snapshot()
            .into_iter()
            .filter(|s| s.state != SubsystemState::Stopped)
            .map(|s| s.name.to_string())
            .collect()
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    let payload = e.into_panic();
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
        };
        assert_eq!(b.delay(0), Duration::from_millis(500));
        assert_eq!(b.delay(1), Duration::from_secs(1));
        assert_eq!(b.delay(3), Duration::from_secs(4));
        assert_eq!(b.delay(10), Duration::from_secs(60));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn restarts_failing_and_panicking_subsystems_with_backoff() {
        let events = crate::events::EventBus::new(16);
        let mut published = events.subscribe();
        let clock: crate::clock::SharedClock = Arc::new(crate::clock::SimulatedClock::new(7));
        let sup = Supervisor::new(Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(8),
        })
        .publish_failures(events, clock);
        let starts = Arc::new(AtomicU32::new(0));
        let s2 = starts.clone();
        sup.spawn("flaky", Duration::from_secs(5), move |ctx| {
            let n = s2.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => anyhow::bail!("first failure"),
                    1 => panic!("second failure"),
                    _ => loop {
                        ctx.heartbeat.beat();
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = ctx.shutdown.cancelled() => return Ok(()),
                        }
                    },
                }
            }
        });
        // Start 0 fails at t=0, retry after 1 s; start 1 panics, retry after 2 s.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 2, "second delay is 2 s");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 3);
        let st = sup.registry.snapshot();
        assert_eq!(st[0].state, SubsystemState::Running);
        assert_eq!(st[0].restarts, 2);
        // Each failure was published as system.error.
        for want in ["first failure", "panicked: second failure"] {
            let e = published.try_recv().expect("a system.error event");
            assert_eq!(e.topic, "system.error");
            assert_eq!(e.params["subsystem"], "flaky");
            assert_eq!(e.params["error"], want);
        }
        assert!(sup.registry.unhealthy().is_empty());
        sup.request_shutdown();
        assert!(sup.wait_stopped(Duration::from_secs(5)).await.is_empty());
        assert_eq!(sup.registry.snapshot()[0].state, SubsystemState::Stopped);
    }
}
