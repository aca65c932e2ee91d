//! `[names]`: the names fetcher — WeCom's directory API base, how often it looks for new ids, when
//! it refreshes known ones, and how many it asks per pass.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, field};
use crate::names::NamesSettings;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNames {
    /// Look names up (default true).
    pub enabled: Option<bool>,
    /// WeCom's API (default https://qyapi.weixin.qq.com; a proxy or a stand-in otherwise).
    pub api_base: Option<String>,
    /// Seconds between passes for new ids (default 10).
    pub interval_secs: Option<u64>,
    /// Hours after which a name is looked up again (default 24).
    pub refresh_hours: Option<u64>,
    /// Lookups per corp and pass, at most (default 200).
    pub per_pass: Option<u32>,
    /// Seconds before a request gives up (default 10).
    pub timeout_secs: Option<u64>,
}

/// The names fetcher, ready to run.
#[derive(Debug, Clone)]
pub struct NamesConfig {
    pub api_base: String,
    pub settings: NamesSettings,
    pub timeout: Duration,
}

/// `[names]`, or None when disabled.
pub fn names(raw: &RawNames) -> Result<Option<NamesConfig>, ConfigError> {
    if raw.enabled == Some(false) {
        return Ok(None);
    }
    let api_base = raw
        .api_base
        .clone()
        .unwrap_or_else(|| crate::wecom::DEFAULT_API_BASE.to_owned());
    if !(api_base.starts_with("http://") || api_base.starts_with("https://")) {
        return Err(field(
            "names.api_base",
            format!("`{api_base}` is not an http:// or https:// URL"),
        ));
    }
    let interval = raw.interval_secs.unwrap_or(10);
    if interval == 0 {
        return Err(field("names.interval_secs", "must be at least 1"));
    }
    Ok(Some(NamesConfig {
        api_base,
        settings: NamesSettings {
            interval: Duration::from_secs(interval),
            refresh: Duration::from_secs(raw.refresh_hours.unwrap_or(24).max(1) * 3600),
            per_pass: raw.per_pass.unwrap_or(200).max(1),
        },
        timeout: Duration::from_secs(raw.timeout_secs.unwrap_or(10).max(1)),
    }))
}
