//! Limits on password attempts, so a stranger on the LAN cannot guess passwords at line rate.
//!
//! Keyed GCRA limiters (the `governor` crate): `N` per minute per client address, with a burst
//! of `N`, and `N` failures per minute per account. HTTP logins spend an address attempt on
//! every try; RTSP, whose players send credentials with every request, spends only on failures.
//! Both share the same limiters, so guessing over RTSP counts against the HTTP login and back.
//! An address or account over its limit is refused, even with the right password, until the
//! limiter has room again.

use governor::{Quota, RateLimiter, clock::DefaultClock, state::keyed::DefaultKeyedStateStore};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One keyed limiter and when each key may try again after it ran out.
struct Keyed<K: Hash + Eq + Clone> {
    limiter: RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>,
    blocked_until: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn per_minute(n: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
            blocked_until: Mutex::default(),
        }
    }

    /// Spends one attempt for `key`; `Err(wait)` (and the key is blocked) when over the limit.
    fn spend(&self, key: &K) -> Result<(), Duration> {
        match self.limiter.check_key(key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait =
                    not_until.wait_time_from(governor::clock::Clock::now(&DefaultClock::default()));
                let first = self
                    .blocked_until
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.clone(), Instant::now() + wait)
                    .is_none_or(|t| t <= Instant::now());
                if first {
                    tracing::warn!(
                        wait_ms = wait.as_millis() as u64,
                        "too many password attempts: refusing for a while"
                    );
                }
                Err(wait)
            }
        }
    }

    /// How long `key` must still wait, without spending anything.
    fn blocked(&self, key: &K) -> Option<Duration> {
        let blocked = self.blocked_until.lock().unwrap_or_else(|p| p.into_inner());
        let until = blocked.get(key)?;
        until.checked_duration_since(Instant::now())
    }

    fn prune(&self) {
        self.limiter.retain_recent();
        let now = Instant::now();
        self.blocked_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, t| *t > now);
    }
}

pub struct LoginLimiter {
    by_address: Keyed<IpAddr>,
    by_account: Keyed<String>,
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginLimiter")
    }
}

impl LoginLimiter {
    pub fn per_minute(n: u32) -> Self {
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            by_address: Keyed::per_minute(n),
            by_account: Keyed::per_minute(n),
        }
    }

    /// An HTTP password attempt from `ip` for `account`: spends one address attempt, and
    /// `Err(wait)` when the address or the account is over its limit.
    pub fn check(&self, ip: IpAddr, account: &str) -> Result<(), Duration> {
        if let Some(wait) = self.by_account.blocked(&account.to_lowercase()) {
            return Err(wait);
        }
        self.by_address.spend(&ip)
    }

    /// `Some(wait)` while `ip` or `account` is over its limit (spends nothing).
    pub fn blocked(&self, ip: IpAddr, account: &str) -> Option<Duration> {
        match (
            self.by_address.blocked(&ip),
            self.by_account.blocked(&account.to_lowercase()),
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// A wrong password for `account`.
    pub fn account_failed(&self, account: &str) {
        let _ = self.by_account.spend(&account.to_lowercase());
    }

    /// A wrong password from `ip` for `account` over a protocol that does not spend an
    /// attempt per try (RTSP).
    pub fn failed(&self, ip: IpAddr, account: &str) {
        let _ = self.by_address.spend(&ip);
        self.account_failed(account);
    }

    /// Forgets idle clients; call now and then so the tables stay small.
    pub fn prune(&self) {
        self.by_address.prune();
        self.by_account.prune();
    }
}

impl crate::media::rtsp::AttemptLimits for LoginLimiter {
    fn blocked(&self, client: IpAddr, account: &str) -> Option<Duration> {
        LoginLimiter::blocked(self, client, account)
    }

    fn failed(&self, client: IpAddr, account: &str) {
        LoginLimiter::failed(self, client, account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address_and_per_account() {
        let l = LoginLimiter::per_minute(3);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..3 {
            assert!(l.check(a, "x").is_ok());
        }
        let wait = l.check(a, "x").expect_err("fourth is limited");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(l.blocked(a, "y").is_some(), "the address is blocked");
        assert!(l.check(b, "x").is_ok());
        // Failures against one account from many addresses block that account only.
        for i in 0..4u8 {
            l.failed(IpAddr::from([10, 1, 0, i]), "Admin");
        }
        assert!(l.blocked(IpAddr::from([10, 2, 0, 1]), "admin").is_some());
        assert!(l.check(IpAddr::from([10, 2, 0, 1]), "ADMIN").is_err());
        assert!(l.blocked(IpAddr::from([10, 2, 0, 1]), "other").is_none());
        // RTSP failures from one address block it for HTTP too.
        let c: IpAddr = [10, 3, 0, 1].into();
        for i in 0..4 {
            l.failed(c, &format!("user{i}"));
        }
        assert!(l.check(c, "someone").is_err());
    }
}
