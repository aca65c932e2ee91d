//! `[alerts]`: how alerts are sent (the robots live in the store; the apps come with the corps).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::sdk::default_timeout;
use super::{ConfigError, field, yes};
use crate::alert::AlertSettings;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    /// Send alerts at all (default true; when false, hits stay pending in the outbox).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Posts per minute per robot or auditor (default 20, WeCom's robot limit); beyond it hits are
    /// coalesced into digests.
    #[serde(default = "default_posts_per_minute")]
    pub max_posts_per_minute: usize,
    /// Sends tried per post before its hits are marked failed (default 20, about 2.5 h with the
    /// default back-off).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Wait before the first retry, ms (default 5000); doubled each retry up to `max_retry_secs`.
    #[serde(default = "default_first_retry")]
    pub first_retry_ms: u64,
    /// Longest wait between retries, seconds (default 600).
    #[serde(default = "default_max_retry")]
    pub max_retry_secs: u64,
    /// Timeout of each HTTP request, seconds (default 10).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// How often the outbox is looked at while hits come in, ms (default 500).
    #[serde(default = "default_alert_poll")]
    pub poll_ms: u64,
    /// WeCom's API for application messages and tokens (default `https://qyapi.weixin.qq.com`).
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// With `run --once`: how long to keep sending after the archive is drained (default 30 s).
    #[serde(default = "default_drain")]
    pub drain_secs: u64,
}

impl Default for RawAlerts {
    fn default() -> Self {
        toml::from_str("").unwrap_or_else(|_| unreachable!("every field has a default"))
    }
}

pub(super) fn default_posts_per_minute() -> usize {
    20
}
pub(super) fn default_attempts() -> u32 {
    20
}
pub(super) fn default_first_retry() -> u64 {
    5000
}
pub(super) fn default_max_retry() -> u64 {
    600
}
pub(super) fn default_alert_poll() -> u64 {
    500
}
pub(super) fn default_api_base() -> String {
    crate::alert::channel::DEFAULT_API_BASE.to_owned()
}
pub(super) fn default_drain() -> u64 {
    30
}

/// An application that messages a corp's auditors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertApp {
    /// The app's AgentId.
    pub agent_id: i64,
    /// Environment variable holding the app's secret.
    pub secret_env: Option<String>,
    /// File holding the app's secret (relative to the config file).
    pub secret_file: Option<PathBuf>,
}

/// Alert sending.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    pub enabled: bool,
    /// Everything but the apps, which come with the corps.
    pub settings: AlertSettings,
    pub drain: Duration,
}

/// The most posts a minute a destination can be given: far above any WeCom limit.
pub(super) const MAX_POSTS_PER_MINUTE: usize = 10_000;

pub(super) fn alerts(raw: &RawAlerts) -> Result<AlertConfig, ConfigError> {
    if !(1..=MAX_POSTS_PER_MINUTE).contains(&raw.max_posts_per_minute) {
        return Err(field(
            "alerts.max_posts_per_minute",
            format!("must be between 1 and {MAX_POSTS_PER_MINUTE} (WeCom allows a robot about 20)"),
        ));
    }
    if raw.max_attempts == 0 {
        return Err(field("alerts.max_attempts", "must be at least 1"));
    }
    if !(raw.api_base.starts_with("http://") || raw.api_base.starts_with("https://")) {
        return Err(field(
            "alerts.api_base",
            format!("`{}` is not an http(s) URL", raw.api_base),
        ));
    }
    Ok(AlertConfig {
        enabled: raw.enabled,
        settings: AlertSettings {
            max_posts_per_minute: raw.max_posts_per_minute,
            max_attempts: raw.max_attempts,
            first_retry: Duration::from_millis(raw.first_retry_ms.max(1)),
            max_retry: Duration::from_secs(raw.max_retry_secs.max(1)),
            timeout: Duration::from_secs(raw.timeout_secs.max(1)),
            poll: Duration::from_millis(raw.poll_ms.clamp(20, 60_000)),
            api_base: raw.api_base.clone(),
            apps: Default::default(),
        },
        drain: Duration::from_secs(raw.drain_secs),
    })
}
