//! Turns subsystem health into systemd watchdog pings and STATUS= lines.

use super::HealthRegistry;
use super::notify::Notifier;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Pings at half the watchdog interval while every subsystem is healthy; stops pinging (and says
/// why in STATUS=) as soon as one is not. Without a watchdog interval it still reports status
/// changes every `fallback_every`.
pub async fn run(
    registry: HealthRegistry,
    notifier: Arc<dyn Notifier>,
    ready_status: String,
    fallback_every: Duration,
    shutdown: CancellationToken,
) {
    let interval = notifier.watchdog_interval();
    let period = interval
        .map(|i| i / 2)
        .unwrap_or(fallback_every)
        .max(Duration::from_millis(10));
    // The first check comes one period after start, once subsystems had a chance to beat.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_status = ready_status.clone();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let unhealthy = registry.unhealthy();
        let status = if unhealthy.is_empty() {
            if interval.is_some() {
                notifier.watchdog();
            }
            ready_status.clone()
        } else {
            format!("degraded: {}", unhealthy.join(", "))
        };
        if status != last_status {
            if unhealthy.is_empty() {
                tracing::info!("all subsystems healthy again");
            } else {
                tracing::warn!(%status, "watchdog pings withheld");
            }
            notifier.status(&status);
            last_status = status;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct Recorder {
        log: Mutex<Vec<String>>,
    }

    impl Notifier for Recorder {
        fn ready(&self, s: &str) {
            self.push(format!("READY {s}"));
        }
        fn status(&self, s: &str) {
            self.push(format!("STATUS {s}"));
        }
        fn watchdog(&self) {
            self.push("WATCHDOG".into());
        }
        fn stopping(&self, s: &str) {
            self.push(format!("STOPPING {s}"));
        }
        fn watchdog_interval(&self) -> Option<Duration> {
            Some(Duration::from_secs(10))
        }
    }

    impl Recorder {
        fn push(&self, s: String) {
            if let Ok(mut l) = self.log.lock() {
                l.push(s);
            }
        }
        fn take(&self) -> Vec<String> {
            self.log
                .lock()
                .map(|mut l| std::mem::take(&mut *l))
                .unwrap_or_default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_subsystem_stops_the_pings() {
        let registry = HealthRegistry::default();
        let api = registry.register("api", Duration::from_secs(6));
        let store = registry.register("store", Duration::from_secs(6));
        api.beat();
        store.beat();
        let rec = Arc::new(Recorder::default());
        let token = CancellationToken::new();
        let task = tokio::spawn(run(
            registry.clone(),
            rec.clone(),
            "ready".into(),
            Duration::from_secs(5),
            token.clone(),
        ));
        // Both beat for 20 s: pings every 5 s.
        for _ in 0..20 {
            api.beat();
            store.beat();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let log = rec.take();
        assert!(
            log.iter().filter(|l| *l == "WATCHDOG").count() >= 3,
            "{log:?}"
        );
        // The store hangs: after its 6 s limit, no more pings.
        for _ in 0..20 {
            api.beat();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let log = rec.take();
        let first_status = log
            .iter()
            .position(|l| l.starts_with("STATUS degraded: store"));
        let first_status = first_status.expect("degraded status reported");
        assert!(
            log[first_status..].iter().all(|l| l != "WATCHDOG"),
            "no ping after the hang: {log:?}"
        );
        // It recovers: pings resume and the status says so.
        for _ in 0..10 {
            api.beat();
            store.beat();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let log = rec.take();
        assert!(log.contains(&"STATUS ready".to_string()), "{log:?}");
        assert!(log.contains(&"WATCHDOG".to_string()));
        token.cancel();
        let _ = task.await;
    }
}
