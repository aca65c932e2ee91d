//! `[media]`: the media archive — where files are kept, how many downloads run at once, the quota,
//! retries, and ffmpeg for playable voice.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, field, yes};
use crate::media::s3::S3Settings;
use crate::media::{AttemptPolicy, FetcherSettings};
use crate::sdk::RetryPolicy;
use crate::secret::Secret;

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
    /// How often to look for new jobs when none were due, ms (default 500); doubled up to 16 times
    /// while nothing new is stored either.
    #[serde(default = "default_poll")]
    pub poll_ms: u64,
    /// The shortest time between looks over every pending job, seconds (default 2). Between them
    /// the fetchers read only the jobs from the oldest pending one and the oldest message stored
    /// since; a job put back by `msgaudit media retry` or by a re-driven dead letter waits for the
    /// next full look: after this, or 20 times what the last one took (at most 300 s).
    #[serde(default = "default_full_look")]
    pub full_look_secs: u64,
    /// The fetchers' CPU priority, 0–19 (default 19): 19 runs them `SCHED_IDLE`, on CPU time the
    /// text pipeline leaves; 1–18 is a nice value; 0 runs them at the daemon's priority (lower it if
    /// the oldest pending media nears WeCom's retention while text ingestion keeps the CPU busy).
    #[serde(default = "default_nice")]
    pub nice: i32,
    /// The ffmpeg that makes voice playable (default `ffmpeg` on PATH; none found: voice is kept
    /// as AMR only, and the job says so).
    #[serde(default = "default_ffmpeg")]
    pub ffmpeg: String,
    /// How to reach the bucket when `store` is `s3://bucket/prefix`.
    #[serde(default)]
    pub s3: RawS3,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawS3 {
    /// An S3-compatible server (`http://127.0.0.1:9000`); omit for AWS.
    pub endpoint: Option<String>,
    /// Default `us-east-1`.
    pub region: Option<String>,
    /// The access key id, or the environment variable holding it (default `AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    pub access_key_id_env: Option<String>,
    /// The environment variable holding the secret key (default `AWS_SECRET_ACCESS_KEY`), or a
    /// file holding it (relative to the config file). Never the secret itself.
    pub secret_access_key_env: Option<String>,
    pub secret_access_key_file: Option<std::path::PathBuf>,
    /// Where downloads are staged before upload (default `msgaudit-data/media-staging/` beside the
    /// store).
    pub staging_dir: Option<std::path::PathBuf>,
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
fn default_full_look() -> u64 {
    2
}
fn default_nice() -> i32 {
    19
}
fn default_ffmpeg() -> String {
    "ffmpeg".into()
}

/// The validated `[media]`.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Where files are kept (a directory path, resolved, or `s3://…`).
    pub store: String,
    /// The bucket's settings, for an `s3://` store.
    pub s3: Option<S3Settings>,
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
    if !(0..=19).contains(&raw.nice) {
        return Err(field(
            "media.nice",
            "must be between 0 and 19 (0: the daemon's priority)",
        ));
    }
    if raw.timeout_secs == 0 {
        return Err(field("media.timeout_secs", "must be at least 1"));
    }
    let store = match raw.store.as_deref() {
        None | Some("") => default_media_dir(store_url, base),
        Some(s) if s.contains("://") => s.trim_end_matches('/').to_owned(),
        Some(s) if Path::new(s).is_absolute() => s.to_owned(),
        Some(s) => base.join(s).display().to_string(),
    };
    let s3 = if store.starts_with("s3://") {
        Some(s3(&raw.s3, &store, store_url, base)?)
    } else if store.contains("://") {
        return Err(field(
            "media.store",
            format!("`{store}`: use a directory path or s3://bucket/prefix"),
        ));
    } else {
        None
    };
    let first = Duration::from_millis(raw.first_retry_ms.max(1));
    Ok(Some(MediaConfig {
        store,
        s3,
        ffmpeg: raw.ffmpeg.clone(),
        fetcher: FetcherSettings {
            concurrency: raw.concurrency,
            quota_bytes: (raw.quota_mb > 0).then(|| raw.quota_mb.saturating_mul(1 << 20)),
            poll: Duration::from_millis(raw.poll_ms.max(10)),
            full_look: Duration::from_secs(raw.full_look_secs),
            nice: raw.nice,
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
    /// The file with everything but `[media]` ignored (that section is still checked in full).
    #[derive(Deserialize)]
    struct OnlyMedia {
        #[serde(default)]
        media: RawMedia,
    }
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let only: OnlyMedia = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
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

/// Resolves `[media.s3]`: credentials from the environment or a file, never from the config text.
fn s3(raw: &RawS3, url: &str, store_url: &str, base: &Path) -> Result<S3Settings, ConfigError> {
    crate::media::s3::parse_url(url).map_err(|e| field("media.store", e.to_string()))?;
    let env = |name: &str, what: &str| {
        std::env::var(name).map_err(|_| {
            field(
                what,
                format!(
                    "environment variable {name} is not set (it must hold the bucket's {what})"
                ),
            )
        })
    };
    let access_key_id = match (&raw.access_key_id, &raw.access_key_id_env) {
        (Some(id), _) => id.clone(),
        (None, Some(var)) => env(var, "media.s3.access_key_id_env")?,
        (None, None) => env("AWS_ACCESS_KEY_ID", "media.s3.access_key_id")?,
    };
    let secret = match (&raw.secret_access_key_file, &raw.secret_access_key_env) {
        (Some(file), _) => {
            let path = if file.is_absolute() {
                file.clone()
            } else {
                base.join(file)
            };
            let text = std::fs::read_to_string(&path).map_err(|e| {
                field(
                    "media.s3.secret_access_key_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            text.trim().to_owned()
        }
        (None, Some(var)) => env(var, "media.s3.secret_access_key_env")?,
        (None, None) => env("AWS_SECRET_ACCESS_KEY", "media.s3.secret_access_key_env")?,
    };
    if let Some(e) = &raw.endpoint {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            return Err(field(
                "media.s3.endpoint",
                format!("`{e}`: use http://host:port or https://host"),
            ));
        }
    }
    let staging = match &raw.staging_dir {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => base.join(d),
        None => Path::new(&default_media_dir(store_url, base)).with_file_name("media-staging"),
    };
    Ok(S3Settings {
        url: url.to_owned(),
        endpoint: raw.endpoint.clone(),
        region: raw.region.clone().unwrap_or_else(|| "us-east-1".into()),
        access_key_id,
        secret_access_key: Secret::new(secret),
        staging,
    })
}
