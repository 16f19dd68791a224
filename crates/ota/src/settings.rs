//! Checks of `[ota]` beyond its types, and the hawkBit controller id.

use crate::{ddi, download, manifest};
use pinhole_base::FieldErrors;
use pinhole_base::config::{HawkbitConfig, OtaConfig};

/// The hawkBit controller id: configured, or the host name.
pub fn controller_id(hb: &HawkbitConfig) -> String {
    if !hb.controller_id.is_empty() {
        return hb.controller_id.clone();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "pinhole".into())
}

/// Checks `[ota]` beyond what its types say; keys are full paths (`ota.manifest_url`).
pub fn config_problems(cfg: &OtaConfig) -> FieldErrors {
    let mut out = FieldErrors::new();
    if cfg.health_timeout_secs <= cfg.health_settle_secs {
        out.push(
            "ota.health_timeout_secs",
            format!(
                "{} must be more than health_settle_secs ({})",
                cfg.health_timeout_secs, cfg.health_settle_secs
            ),
        );
    }
    if cfg.enabled && cfg.reboot_command.is_empty() {
        out.push("ota.reboot_command", "must not be empty");
    }
    if !cfg.manifest_url.is_empty() {
        if reqwest::Url::parse(&cfg.manifest_url).is_err() {
            out.push("ota.manifest_url", "is not an URL");
        }
        if let Err(e) = manifest::parse_key(&cfg.manifest_key) {
            out.push("ota.manifest_key", e.to_string());
        }
        if cfg.poll_secs == 0 {
            out.push("ota.poll_secs", "must be at least 1");
        }
    }
    if let Err(e) = download::in_window(&cfg.reboot_window, 0) {
        out.push("ota.reboot_window", e);
    }
    let hb = &cfg.hawkbit;
    if !hb.url.is_empty() {
        if !cfg.manifest_url.is_empty() {
            out.push(
                "ota.hawkbit.url",
                "choose one update source: hawkbit.url or manifest_url",
            );
        }
        if let Err(e) = ddi::base_url(&hb.url, &hb.tenant, "x") {
            out.push("ota.hawkbit.url", e);
        }
        let id_ok = |s: &str| {
            s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if hb.tenant.is_empty() || !id_ok(&hb.tenant) {
            out.push(
                "ota.hawkbit.tenant",
                "must be 1-64 letters, digits, '-', '_' or '.'",
            );
        }
        if !id_ok(&hb.controller_id) {
            out.push(
                "ota.hawkbit.controller_id",
                "must be up to 64 letters, digits, '-', '_' or '.' (empty: the host name)",
            );
        }
        if !hb.target_token.is_empty() && !hb.gateway_token.is_empty() {
            out.push(
                "ota.hawkbit.gateway_token",
                "set target_token or gateway_token, not both",
            );
        }
    }
    out
}
