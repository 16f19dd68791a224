//! systemd's notify protocol (READY, STATUS, WATCHDOG, STOPPING) through the `sd-notify` crate.
//! Outside systemd (`NOTIFY_SOCKET` unset) every call is a no-op.

/// Where service-manager notifications go; a trait so tests can record them.
pub trait Notifier: Send + Sync + std::fmt::Debug + 'static {
    fn ready(&self, status: &str);
    fn status(&self, status: &str);
    fn watchdog(&self);
    fn stopping(&self, status: &str);
    /// The interval at which WATCHDOG=1 is expected, if systemd asked for pings.
    fn watchdog_interval(&self) -> Option<std::time::Duration>;
}

#[derive(Debug, Default)]
pub struct SystemdNotifier;

fn send(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

impl Notifier for SystemdNotifier {
    fn ready(&self, status: &str) {
        send(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(status),
        ]);
    }

    fn status(&self, status: &str) {
        send(&[sd_notify::NotifyState::Status(status)]);
    }

    fn watchdog(&self) {
        send(&[sd_notify::NotifyState::Watchdog]);
    }

    fn stopping(&self, status: &str) {
        send(&[
            sd_notify::NotifyState::Stopping,
            sd_notify::NotifyState::Status(status),
        ]);
    }

    fn watchdog_interval(&self) -> Option<std::time::Duration> {
        let mut usec = 0u64;
        if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
            Some(std::time::Duration::from_micros(usec))
        } else {
            None
        }
    }
}
