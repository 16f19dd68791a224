//! Requests refused before anyone authenticated are counted, not written one audit row each.
//!
//! A stranger can send thousands of refused requests a second; a row each would grow the
//! database until retention deleted recordings to make room. So they are tallied in memory (by
//! address and action, a bounded number of keys) and written as one summary row a minute. What
//! an authenticated user does, and each password or token actually checked, still gets its row.

use crate::store::audit::NewAuditEntry;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Distinct addresses and actions tallied by name; beyond this they count in the total only.
const MAX_KEYS: usize = 64;
/// Addresses and actions named in a summary row (the most frequent).
const NAMED_IN_ROW: usize = 10;

#[derive(Debug, Default)]
struct Counts {
    total: u64,
    first_ms: i64,
    last_ms: i64,
    by_client: HashMap<IpAddr, u64>,
    by_action: HashMap<String, u64>,
}

/// The refusals since the last summary row.
#[derive(Debug, Default)]
pub struct RefusalTally {
    counts: Mutex<Counts>,
}

fn bump<K: Eq + std::hash::Hash>(map: &mut HashMap<K, u64>, key: K) {
    if let Some(n) = map.get_mut(&key) {
        *n += 1;
    } else if map.len() < MAX_KEYS {
        map.insert(key, 1);
    }
}

fn most_frequent<K: ToString>(map: HashMap<K, u64>) -> Value {
    let mut v: Vec<(String, u64)> = map.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Value::Object(
        v.into_iter()
            .take(NAMED_IN_ROW)
            .map(|(k, n)| (k, json!(n)))
            .collect::<Map<_, _>>(),
    )
}

impl RefusalTally {
    /// Counts one refused request. `action` is the RPC method or `METHOD /route`.
    pub fn count(&self, client: IpAddr, action: &str, now_ms: i64) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if c.total == 0 {
            c.first_ms = now_ms;
        }
        c.total += 1;
        c.last_ms = now_ms;
        bump(&mut c.by_client, client);
        bump(
            &mut c.by_action,
            action.chars().take(64).collect::<String>(),
        );
    }

    /// The summary row of what was counted since the last call, if anything was; resets.
    pub fn take_summary(&self) -> Option<NewAuditEntry> {
        let c = std::mem::take(&mut *self.counts.lock().unwrap_or_else(|p| p.into_inner()));
        if c.total == 0 {
            return None;
        }
        let addresses = c.by_client.len();
        Some(NewAuditEntry {
            at_ms: c.last_ms,
            actor: None,
            client: (addresses == 1)
                .then(|| c.by_client.keys().next().map(|a| a.to_string()))
                .flatten(),
            action: "refused_unauthenticated".into(),
            target: None,
            details: Some(json!({
                "count": c.total,
                "from_ms": c.first_ms,
                "to_ms": c.last_ms,
                "addresses": addresses,
                "by_address": most_frequent(c.by_client),
                "by_action": most_frequent(c.by_action),
            })),
            result: format!("{} refused: not authenticated", c.total),
        })
    }
}

/// Requests an account made past its role: each is on record, but one account repeating the
/// same refused request (a script, a page polling what it may not read) writes one row a
/// minute, not one per request, so it cannot push the rest of the log out of its budget.
#[derive(Debug, Default)]
pub struct RoleRefusals {
    last: Mutex<HashMap<(String, String), i64>>,
}

/// Accounts and actions remembered at once; beyond it the oldest are forgotten.
const MAX_ROLE_KEYS: usize = 256;

impl RoleRefusals {
    /// Whether `actor`'s refusal of `action` at `now_ms` gets a row: the first in a minute does.
    pub fn first_in_a_minute(&self, actor: &str, action: &str, now_ms: i64) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let key = (
            actor.to_string(),
            action.chars().take(64).collect::<String>(),
        );
        if last.get(&key).is_some_and(|t| now_ms - t < 60_000) {
            return false;
        }
        if last.len() >= MAX_ROLE_KEYS && !last.contains_key(&key) {
            last.retain(|_, t| now_ms - *t < 60_000);
            // Full of this minute's refusals: what comes beyond them gets no row of its own
            // (a script cycling through names cannot buy a row a request).
            if last.len() >= MAX_ROLE_KEYS {
                return false;
            }
        }
        last.insert(key, now_ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_repeating_a_refused_request_gets_a_row_a_minute() {
        let r = RoleRefusals::default();
        assert!(r.first_in_a_minute("view", "create_user", 0));
        assert!(!r.first_in_a_minute("view", "create_user", 59_999));
        assert!(r.first_in_a_minute("view", "delete_user", 1));
        assert!(r.first_in_a_minute("oper", "create_user", 2));
        assert!(r.first_in_a_minute("view", "create_user", 60_000));
        let rows = (0..10_000)
            .filter(|i| r.first_in_a_minute("view", &format!("m{i}"), 70_000))
            .count();
        assert!(rows < MAX_ROLE_KEYS, "{rows} rows");
        assert!(r.last.lock().expect("lock").len() <= MAX_ROLE_KEYS);
        // A minute on, there is room again.
        assert!(r.first_in_a_minute("view", "m9999", 140_000));
    }

    #[test]
    fn a_flood_becomes_one_bounded_row() {
        let t = RefusalTally::default();
        assert!(t.take_summary().is_none());
        for i in 0..10_000u32 {
            let ip = IpAddr::from([10, 0, (i % 300 / 256) as u8, (i % 300) as u8]);
            t.count(ip, &format!("action{}", i % 100), 1000 + i64::from(i));
        }
        let row = t.take_summary().expect("a summary");
        let d = row.details.expect("details");
        assert_eq!(d["count"], 10_000);
        assert_eq!(d["from_ms"], 1000);
        assert_eq!(d["to_ms"], 10_999);
        assert_eq!(d["addresses"], MAX_KEYS);
        assert_eq!(d["by_address"].as_object().map(|m| m.len()), Some(10));
        assert!(d.to_string().len() < 1024, "{d}");
        assert!(row.client.is_none());
        assert!(t.take_summary().is_none(), "reset after a summary");
        t.count(IpAddr::from([127, 0, 0, 1]), "create_user", 5);
        let one = t.take_summary().expect("a summary");
        assert_eq!(one.client.as_deref(), Some("127.0.0.1"));
        assert_eq!(one.details.expect("details")["by_action"]["create_user"], 1);
    }
}
