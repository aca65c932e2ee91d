//! `[media]`: the media archive — where files are kept, how many downloads run at once, the quota,
//! retries, and ffmpeg for playable voice.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, field, yes};
use crate::media::{AttemptPolicy, FetcherSettings};
use crate::sdk::RetryPolicy;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMedia {
    /// Fetch and keep every message's media (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where files are kept: a directory (relative to the config file; default `media/` beside a
    /// SQLite store's file, or `msgaudit-data/media/`).
    pub store: Option<String>,
    /// Concurrent downloads (default 4).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// MiB of media at which fetching pauses until space is made (default 0: no quota). Text
    /// ingestion goes on meanwhile.
    #[serde(default)]
    pub quota_mb: u64,
    /// Timeout of each `GetMediaData` call, seconds (default 30).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Attempts of a job failing with network errors before it is given up (default 12).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Attempts whose md5 does not match before a job is given up (default 3).
    #[serde(default = "default_md5_attempts")]
    pub md5_attempts: u32,
    /// Wait before a job's second attempt, ms (default 2000); doubled per attempt up to
    /// `max_retry_secs`.
    #[serde(default = "default_first_retry")]
    pub first_retry_ms: u64,
    /// Longest wait between a job's attempts, seconds (default 600).
    #[serde(default = "default_max_retry")]
    pub max_retry_secs: u64,
    /// Tries of one failing 512 KiB chunk inside an attempt (default 5).
    #[serde(default = "default_chunk_attempts")]
    pub chunk_attempts: u32,
    /// How often to look for new jobs when idle, ms (default 500).
    #[serde(default = "default_poll")]
    pub poll_ms: u64,
    /// The ffmpeg that makes voice playable (default `ffmpeg` on PATH; none found: voice is kept
    /// as AMR only, and the job says so).
    #[serde(default = "default_ffmpeg")]
    pub ffmpeg: String,
}

impl Default for RawMedia {
    fn default() -> Self {
        toml::from_str("").unwrap_or_else(|_| unreachable!("every field has a default"))
    }
}

fn default_concurrency() -> usize {
    4
}
fn default_timeout() -> u64 {
    30
}
fn default_attempts() -> u32 {
    12
}
fn default_md5_attempts() -> u32 {
    3
}
fn default_first_retry() -> u64 {
    2000
}
fn default_max_retry() -> u64 {
    600
}
fn default_chunk_attempts() -> u32 {
    5
}
fn default_poll() -> u64 {
    500
}
fn default_ffmpeg() -> String {
    "ffmpeg".into()
}

/// The validated `[media]`.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Where files are kept (a directory path, resolved).
    pub store: String,
    pub fetcher: FetcherSettings,
    pub ffmpeg: String,
}

/// The media directory when none is configured: `media/` beside a SQLite file, else
/// `msgaudit-data/media/` under `base`.
pub fn default_media_dir(store_url: &str, base: &Path) -> String {
    let dir = match store_url
        .strip_prefix("sqlite://")
        .filter(|p| !p.is_empty())
        .and_then(|p| Path::new(p).parent())
    {
        Some(parent) => parent.join("media"),
        None => base.join("msgaudit-data").join("media"),
    };
    dir.display().to_string()
}

pub(super) fn media(
    raw: &RawMedia,
    store_url: &str,
    base: &Path,
) -> Result<Option<MediaConfig>, ConfigError> {
    if !raw.enabled {
        return Ok(None);
    }
    if !(1..=256).contains(&raw.concurrency) {
        return Err(field(
            "media.concurrency",
            "must be between 1 and 256 (concurrent downloads)",
        ));
    }
    for (name, v) in [
        ("media.max_attempts", raw.max_attempts),
        ("media.md5_attempts", raw.md5_attempts),
        ("media.chunk_attempts", raw.chunk_attempts),
    ] {
        if v == 0 {
            return Err(field(name, "must be at least 1"));
        }
    }
    if raw.timeout_secs == 0 {
        return Err(field("media.timeout_secs", "must be at least 1"));
    }
    let store = match raw.store.as_deref() {
        None | Some("") => default_media_dir(store_url, base),
        Some(s) if s.contains("://") => s.to_owned(),
        Some(s) if Path::new(s).is_absolute() => s.to_owned(),
        Some(s) => base.join(s).display().to_string(),
    };
    let first = Duration::from_millis(raw.first_retry_ms.max(1));
    Ok(Some(MediaConfig {
        store,
        ffmpeg: raw.ffmpeg.clone(),
        fetcher: FetcherSettings {
            concurrency: raw.concurrency,
            quota_bytes: (raw.quota_mb > 0).then(|| raw.quota_mb.saturating_mul(1 << 20)),
            poll: Duration::from_millis(raw.poll_ms.max(10)),
            policy: AttemptPolicy {
                timeout: Duration::from_secs(raw.timeout_secs),
                chunk_retry: RetryPolicy {
                    chunk_attempts: raw.chunk_attempts,
                    initial_backoff: first.min(Duration::from_millis(200)),
                    max_backoff: Duration::from_secs(5),
                },
                max_attempts: raw.max_attempts,
                md5_attempts: raw.md5_attempts,
                initial_backoff: first,
                max_backoff: Duration::from_secs(raw.max_retry_secs.max(1)).max(first),
            },
        },
    }))
}

/// The `[media]` of a config file, resolved, without validating the rest (commands that read media
/// need neither secrets nor keys). `store_url` is the file's store, resolved.
pub fn media_of_file(path: &Path, store_url: &str) -> Result<Option<MediaConfig>, ConfigError> {
    #[derive(Deserialize)]
    struct OnlyMedia {
        #[serde(default)]
        media: RawMedia,
    }
    #[derive(Deserialize)]
    struct Loose {
        #[serde(default)]
        media: Option<toml::Value>,
    }
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let syntax = |e: toml::de::Error| ConfigError::Syntax {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let loose: Loose = toml::from_str(&text).map_err(syntax)?;
    let only: OnlyMedia = match loose.media {
        Some(v) => OnlyMedia {
            media: v.try_into().map_err(syntax)?,
        },
        None => OnlyMedia {
            media: RawMedia::default(),
        },
    };
    media(
        &only.media,
        store_url,
        path.parent().unwrap_or(Path::new(".")),
    )
}

/// `[media]` with every default, for commands given a store URL instead of a config file.
pub fn media_of_file_default(store_url: &str) -> Option<MediaConfig> {
    media(&RawMedia::default(), store_url, Path::new("."))
        .ok()
        .flatten()
}
