//! Which recordings to delete: by age, by total size, and to keep a minimum of free space.
//!
//! [`plan`] is pure: it takes the segments (oldest first), the policy and the free space, and
//! returns the segments to delete, oldest first, never one that is still being written. The
//! recorder's upkeep task applies the plan (file first, then the index row) after every closed
//! segment and on a timer, so a full disk is handled before the muxer hits it.

use serde::Serialize;

pub use pinhole_base::retention::RetentionPolicy;

/// A segment as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub id: i64,
    pub start_ms: i64,
    pub size_bytes: u64,
    /// Still being written: never deleted.
    pub open: bool,
}

/// Why a segment is deleted (for the log and the API's answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Age,
    Size,
    FreeSpace,
}

/// Segments to delete, oldest first. `segments` must be sorted oldest first.
pub fn plan(
    segments: &[SegmentInfo],
    policy: &RetentionPolicy,
    now_ms: i64,
    free_bytes: u64,
) -> Vec<(i64, Reason)> {
    let mut out = Vec::new();
    let mut total: u64 = segments.iter().map(|s| s.size_bytes).sum();
    let mut free = free_bytes;
    let max_size = (policy.max_size_gb * 1e9) as u64;
    let min_free = policy.min_free_mb.saturating_mul(1_000_000);
    let max_age_ms = (policy.max_age_days * 86_400_000.0) as i64;
    for s in segments.iter().filter(|s| !s.open) {
        let reason = if policy.enabled && max_age_ms > 0 && now_ms - s.start_ms > max_age_ms {
            Reason::Age
        } else if policy.enabled && max_size > 0 && total > max_size {
            Reason::Size
        } else if free < min_free {
            Reason::FreeSpace
        } else {
            // Oldest first: once the oldest closed segment may stay, so may the newer ones.
            break;
        };
        out.push((s.id, reason));
        total -= s.size_bytes;
        free = free.saturating_add(s.size_bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: i64, start_ms: i64, size: u64, open: bool) -> SegmentInfo {
        SegmentInfo {
            id,
            start_ms,
            size_bytes: size,
            open,
        }
    }

    const DAY: i64 = 86_400_000;

    fn policy(age: f64, size_gb: f64, free_mb: u64) -> RetentionPolicy {
        RetentionPolicy {
            enabled: true,
            max_age_days: age,
            max_size_gb: size_gb,
            min_free_mb: free_mb,
        }
    }

    #[test]
    fn by_age() {
        let s = [
            seg(1, 0, 10, false),
            seg(2, DAY, 10, false),
            seg(3, 3 * DAY, 10, false),
        ];
        let p = plan(&s, &policy(1.5, 0.0, 0), 3 * DAY, u64::MAX);
        assert_eq!(p, vec![(1, Reason::Age), (2, Reason::Age)]);
    }

    #[test]
    fn by_size_keeps_the_newest() {
        let s: Vec<_> = (0..10).map(|i| seg(i, i, 200_000_000, false)).collect();
        let p = plan(&s, &policy(0.0, 1.0, 0), 100, u64::MAX);
        // 2 GB total, 1 GB allowed: the 5 oldest go.
        assert_eq!(
            p.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
        assert!(p.iter().all(|x| x.1 == Reason::Size));
    }

    #[test]
    fn free_space_floor_applies_even_when_disabled() {
        let s: Vec<_> = (0..5).map(|i| seg(i, i, 100_000_000, false)).collect();
        let mut pol = policy(0.0, 0.0, 250);
        pol.enabled = false;
        let p = plan(&s, &pol, 10, 60_000_000);
        assert_eq!(p.iter().map(|x| x.0).collect::<Vec<_>>(), vec![0, 1]);
        assert!(p.iter().all(|x| x.1 == Reason::FreeSpace));
    }

    #[test]
    fn never_the_open_segment() {
        let s = [seg(1, 0, 10, true), seg(2, 1, 10, false)];
        let p = plan(&s, &policy(0.0, 0.0, 1000), 10, 0);
        assert_eq!(p, vec![(2, Reason::FreeSpace)]);
    }

    #[test]
    fn nothing_to_do() {
        let s = [seg(1, 0, 10, false)];
        assert!(plan(&s, &RetentionPolicy::default(), 1000, u64::MAX).is_empty());
        assert!(plan(&[], &policy(1.0, 1.0, 1), 0, 0).is_empty());
    }

    #[test]
    fn invalid_policies() {
        assert!(!policy(-1.0, 0.0, 0).problems().is_empty());
        assert!(!policy(f64::NAN, 0.0, 0).problems().is_empty());
        assert!(!policy(0.0, f64::INFINITY, 0).problems().is_empty());
        assert!(policy(7.0, 2.5, 500).problems().is_empty());
    }
}
