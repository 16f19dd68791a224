//! The recordings' retention policy. The planner that applies it lives with the recorder.

use crate::FieldErrors;
use serde::{Deserialize, Serialize};

/// The retention policy, settable through the API (`set_retention_policy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetentionPolicy {
    /// When false, only the free-space floor applies (recordings are kept until deleted by hand
    /// or the disk would fill).
    pub enabled: bool,
    /// Delete recordings older than this many days (0: no age limit).
    pub max_age_days: f64,
    /// Keep the recordings' total size under this many gigabytes (0: no size limit).
    pub max_size_gb: f64,
    /// Always keep this much space free on the recordings file system, in megabytes. Applies
    /// even when the policy is disabled: a full disk loses the newest video, not the oldest.
    pub min_free_mb: u64,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            max_age_days: 30.0,
            max_size_gb: 0.0,
            min_free_mb: 1024,
        }
    }
}

impl RetentionPolicy {
    pub fn problems(&self) -> FieldErrors {
        let mut out = FieldErrors::new();
        if !(self.max_age_days.is_finite() && (0.0..=36_500.0).contains(&self.max_age_days)) {
            out.push("max_age_days", "must be within 0..=36500");
        }
        if !(self.max_size_gb.is_finite() && (0.0..=1_000_000.0).contains(&self.max_size_gb)) {
            out.push("max_size_gb", "must be within 0..=1000000");
        }
        if self.min_free_mb > 1_000_000_000 {
            out.push("min_free_mb", "is too large");
        }
        out
    }
}
