//! What the update agent is doing, as `get_update_status` and the `update.status` event report it.

use serde::{Deserialize, Serialize};

/// The update agent's state.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    /// `ota.enabled` is off.
    #[default]
    Disabled,
    /// Reaching RAUC.
    Connecting,
    /// RAUC cannot be reached.
    Unavailable,
    /// A fresh slot is being watched by the health gate.
    Checking,
    /// The booted slot was already known good.
    Confirmed,
    /// The booted slot passed the health gate and was marked good.
    MarkedGood,
    /// The booted slot failed the health gate and is being given up.
    RollingBack,
    /// The last update was rolled back.
    RolledBack,
    /// Nothing to do, no update source configured.
    Idle,
    UpToDate,
    /// An offered version was skipped (already failed, or not newer).
    Skipped,
    Downloading,
    /// Downloaded, waiting for a maintenance window.
    Waiting,
    Installing,
    /// Installed; reboots in the reboot window.
    RebootPending,
    Rebooting,
    Canceled,
    Error,
}

impl UpdateState {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateState::Disabled => "disabled",
            UpdateState::Connecting => "connecting",
            UpdateState::Unavailable => "unavailable",
            UpdateState::Checking => "checking",
            UpdateState::Confirmed => "confirmed",
            UpdateState::MarkedGood => "marked_good",
            UpdateState::RollingBack => "rolling_back",
            UpdateState::RolledBack => "rolled_back",
            UpdateState::Idle => "idle",
            UpdateState::UpToDate => "up_to_date",
            UpdateState::Skipped => "skipped",
            UpdateState::Downloading => "downloading",
            UpdateState::Waiting => "waiting",
            UpdateState::Installing => "installing",
            UpdateState::RebootPending => "reboot_pending",
            UpdateState::Rebooting => "rebooting",
            UpdateState::Canceled => "canceled",
            UpdateState::Error => "error",
        }
    }
}

impl std::fmt::Display for UpdateState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_as_str() {
        for s in [
            UpdateState::Disabled,
            UpdateState::MarkedGood,
            UpdateState::RollingBack,
            UpdateState::RolledBack,
            UpdateState::UpToDate,
            UpdateState::RebootPending,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
