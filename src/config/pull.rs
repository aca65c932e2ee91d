//! `[pull]` and `[pipeline]`: pull scheduling and the pipeline's threads and queues.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, field};
use crate::pipeline::PullConfig;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPull {
    /// Messages per `GetChatData` call, 1..=1000 (default 1000).
    #[serde(default = "default_limit")]
    pub batch_limit: u32,
    /// `GetChatData` calls per minute per corp (default 600, WeCom's limit).
    #[serde(default = "default_calls")]
    pub max_calls_per_minute: u32,
    /// Wait between polls of a corp whose archive is drained, seconds (default 5).
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
    /// Longest back-off after SDK errors, seconds (default 60).
    #[serde(default = "default_backoff")]
    pub max_backoff_secs: u64,
    /// Puller threads (0 = one per corp, at most 8; default 0).
    #[serde(default)]
    pub workers: usize,
    /// Batches of one corp pulled and not yet stored, at most (default 4): a corp with a backlog
    /// then never fills the queues ahead of the other corps' fresh messages.
    #[serde(default = "default_in_flight")]
    pub max_batches_in_flight: u32,
}

impl Default for RawPull {
    fn default() -> Self {
        RawPull {
            batch_limit: default_limit(),
            max_calls_per_minute: default_calls(),
            poll_interval_secs: default_poll(),
            max_backoff_secs: default_backoff(),
            workers: 0,
            max_batches_in_flight: default_in_flight(),
        }
    }
}

fn default_in_flight() -> u32 {
    4
}

pub(super) fn default_limit() -> u32 {
    1000
}
pub(super) fn default_calls() -> u32 {
    600
}
pub(super) fn default_poll() -> u64 {
    5
}
pub(super) fn default_backoff() -> u64 {
    60
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    /// Decrypt+parse threads (0 = all cores; default 0).
    #[serde(default)]
    pub threads: usize,
    /// Batches that may wait between two stages (default 4): bounds memory whatever the backlog.
    pub queue_batches: Option<usize>,
}

/// Validates `[pull]`.
pub(super) fn pull(raw: &RawPull) -> Result<PullConfig, ConfigError> {
    if !(1..=crate::sdk::MAX_LIMIT).contains(&raw.batch_limit) {
        return Err(field(
            "pull.batch_limit",
            "must be between 1 and 1000 (the SDK refuses more)",
        ));
    }
    if raw.max_calls_per_minute == 0 {
        return Err(field(
            "pull.max_calls_per_minute",
            "must be at least 1 (WeCom allows about 600)",
        ));
    }
    Ok(PullConfig {
        batch_limit: raw.batch_limit,
        min_call_interval: Duration::from_secs(60) / raw.max_calls_per_minute,
        poll_interval: Duration::from_secs(raw.poll_interval_secs.max(1)),
        max_backoff: Duration::from_secs(raw.max_backoff_secs.max(1)),
        workers: raw.workers,
        max_in_flight: raw.max_batches_in_flight.max(1),
    })
}

/// Validates `[pipeline] queue_batches` (default 4).
pub(super) fn queue_batches(raw: &RawPipeline) -> Result<usize, ConfigError> {
    match raw.queue_batches.unwrap_or(4) {
        0 => Err(field("pipeline.queue_batches", "must be at least 1")),
        n => Ok(n),
    }
}
