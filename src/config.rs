//! Configuration in two stages: [`RawConfig`] is the TOML file as written (unknown fields rejected,
//! defaults documented on each field), [`Config`] is what the daemon runs on — paths resolved against
//! the file's directory, durations typed, secrets read, private keys parsed — built before any socket
//! or database is opened. Every error names the field and says what to do.
//!
//! ```toml
//! [store]
//! url = "sqlite://./msgaudit-data/msgaudit.db"
//!
//! [sdk]
//! library = "/opt/wework/libWeWorkFinanceSdk_C.so"
//!
//! [[corps]]
//! corp_id = "ww0123456789abcdef"
//! secret_env = "MSGAUDIT_SECRET_WW0123"
//! keys = { 1 = "keys/v1.pem", 2 = "keys/v2.pem" }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::alert::{AlertSettings, AppCredentials};
pub use crate::pipeline::PullConfig;
use crate::sdk::{KeyRing, NetworkOptions, PrivateKey};
use crate::secret::Secret;
use crate::store::CorpAccount;

/// The configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config `{field}`: {problem}")]
    Field { field: String, problem: String },
}

fn field(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

/// The TOML file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub store: RawStore,
    pub sdk: RawSdk,
    #[serde(default)]
    pub pull: RawPull,
    #[serde(default)]
    pub pipeline: RawPipeline,
    /// Also archive the corps listed in the store's `we_corp_account` table (default false).
    #[serde(default)]
    pub corps_from_store: bool,
    #[serde(default)]
    pub alerts: RawAlerts,
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default)]
    pub spool: RawSpool,
    #[serde(default)]
    pub corps: Vec<RawCorp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpool {
    /// Spool pulled batches on disk, so that pulling goes on while the store is slow or down
    /// (default true; false passes them on in memory and a store outage pauses pulling).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The spool directory (relative to the config file). Default: beside a SQLite store's file
    /// (`msgaudit.db` → `msgaudit.spool/`), or `msgaudit-data/DATABASE.spool/` for ClickHouse.
    pub dir: Option<PathBuf>,
    /// MiB of batches waiting for the store at which pulling pauses (default 2048).
    #[serde(default = "default_spool_mb")]
    pub max_mb: u64,
}

impl Default for RawSpool {
    fn default() -> Self {
        toml::from_str("").unwrap_or_else(|_| unreachable!("every field has a default"))
    }
}

fn default_spool_mb() -> u64 {
    2048
}

/// The largest spool limit accepted, MiB (1 TiB).
const MAX_SPOOL_MB: u64 = 1 << 20;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// Serve Prometheus metrics at http://LISTEN/metrics (e.g. `127.0.0.1:9464`; default off).
    pub listen: Option<std::net::SocketAddr>,
}

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
    /// WeCom's API for application messages and tokens (default https://qyapi.weixin.qq.com).
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

fn yes() -> bool {
    true
}
fn default_posts_per_minute() -> usize {
    20
}
fn default_attempts() -> u32 {
    20
}
fn default_first_retry() -> u64 {
    5000
}
fn default_max_retry() -> u64 {
    600
}
fn default_alert_poll() -> u64 {
    500
}
fn default_api_base() -> String {
    crate::alert::channel::DEFAULT_API_BASE.to_owned()
}
fn default_drain() -> u64 {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// Store URL (default `sqlite://./msgaudit-data/msgaudit.db`, relative to the config file).
    #[serde(default = "default_store_url")]
    pub url: String,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            url: default_store_url(),
        }
    }
}

fn default_store_url() -> String {
    "sqlite://./msgaudit-data/msgaudit.db".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSdk {
    /// Path of libWeWorkFinanceSdk_C.so (relative to the config file).
    pub library: PathBuf,
    /// Proxy for the SDK: `socks5://host:port` or `http://host:port`.
    pub proxy: Option<String>,
    /// Environment variable holding the proxy's `user:password`.
    pub proxy_password_env: Option<String>,
    /// Timeout of each SDK network call, seconds (default 10).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Serialise `DecryptData` calls (for a vendor build that is not thread-safe; default false).
    #[serde(default)]
    pub serialize_decrypt: bool,
}

fn default_timeout() -> u64 {
    10
}

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
}

impl Default for RawPull {
    fn default() -> Self {
        RawPull {
            batch_limit: default_limit(),
            max_calls_per_minute: default_calls(),
            poll_interval_secs: default_poll(),
            max_backoff_secs: default_backoff(),
            workers: 0,
        }
    }
}

fn default_limit() -> u32 {
    1000
}
fn default_calls() -> u32 {
    600
}
fn default_poll() -> u64 {
    5
}
fn default_backoff() -> u64 {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCorp {
    pub corp_id: String,
    /// Environment variable holding the chat-archive secret.
    pub secret_env: Option<String>,
    /// File holding the chat-archive secret (relative to the config file).
    pub secret_file: Option<PathBuf>,
    /// Private key files by `publickey_ver` (relative to the config file).
    #[serde(default)]
    pub keys: BTreeMap<String, PathBuf>,
    /// An application that sends alerts to this corp's auditors (optional).
    pub alert_app: Option<RawAlertApp>,
}

/// One corp, ready to pull.
#[derive(Debug, Clone)]
pub struct CorpConfig {
    pub corp_id: String,
    pub secret: Secret,
    pub keys: Arc<KeyRing>,
    /// The app that messages its auditors, if any.
    pub alert_app: Option<AppCredentials>,
}

impl CorpConfig {
    /// The corp as the pipeline pulls it.
    pub fn pull_source(&self) -> crate::pipeline::Corp {
        crate::pipeline::Corp {
            corp_id: self.corp_id.clone(),
            secret: self.secret.clone(),
            keys: self.keys.clone(),
        }
    }
}

/// Alert sending.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    pub enabled: bool,
    /// Everything but the apps, which come with the corps.
    pub settings: AlertSettings,
    pub drain: Duration,
}

/// SDK settings.
#[derive(Debug, Clone)]
pub struct SdkConfig {
    pub library: PathBuf,
    pub network: NetworkOptions,
    pub timeout: Duration,
    pub serialize_decrypt: bool,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub store_url: String,
    pub sdk: SdkConfig,
    pub pull: PullConfig,
    pub threads: usize,
    pub queue_batches: usize,
    pub corps_from_store: bool,
    pub corps: Vec<CorpConfig>,
    pub alerts: AlertConfig,
    /// Where to serve `/metrics`, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The durable spool (None when disabled).
    pub spool: Option<crate::spool::SpoolSettings>,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::validate(raw, base)
    }

    /// Validates a raw configuration; relative paths resolve against `base`.
    pub fn validate(raw: RawConfig, base: &Path) -> Result<Config, ConfigError> {
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };
        let store_url = resolve_store_url(&raw.store.url, base);
        if raw.sdk.library.as_os_str().is_empty() {
            return Err(field(
                "sdk.library",
                "set it to the path of libWeWorkFinanceSdk_C.so",
            ));
        }
        let library = resolve(&raw.sdk.library);
        if raw.sdk.timeout_secs == 0 {
            return Err(field("sdk.timeout_secs", "must be at least 1"));
        }
        let proxy_password = match &raw.sdk.proxy_password_env {
            Some(var) => Some(Secret::new(std::env::var(var).map_err(|_| {
                field(
                    "sdk.proxy_password_env",
                    format!("environment variable {var} is not set"),
                )
            })?)),
            None => None,
        };
        if let Some(p) = &raw.sdk.proxy
            && !(p.starts_with("socks5://")
                || p.starts_with("http://")
                || p.starts_with("https://"))
        {
            return Err(field(
                "sdk.proxy",
                format!("`{p}` should look like socks5://host:port or http://host:port"),
            ));
        }
        if !(1..=crate::sdk::MAX_LIMIT).contains(&raw.pull.batch_limit) {
            return Err(field(
                "pull.batch_limit",
                "must be between 1 and 1000 (the SDK refuses more)",
            ));
        }
        if raw.pull.max_calls_per_minute == 0 {
            return Err(field(
                "pull.max_calls_per_minute",
                "must be at least 1 (WeCom allows about 600)",
            ));
        }
        let queue_batches = raw.pipeline.queue_batches.unwrap_or(4);
        if queue_batches == 0 {
            return Err(field("pipeline.queue_batches", "must be at least 1"));
        }
        let mut corps = Vec::with_capacity(raw.corps.len());
        for (i, c) in raw.corps.iter().enumerate() {
            corps.push(corp(c, i, base)?);
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = corps.iter().find(|c| !seen.insert(c.corp_id.clone())) {
            return Err(field(
                "corps",
                format!("corp {} is listed twice", dup.corp_id),
            ));
        }
        if corps.is_empty() && !raw.corps_from_store {
            return Err(field(
                "corps",
                "no corps to archive: add a [[corps]] table, or set corps_from_store = true",
            ));
        }
        let spool = spool(&raw.spool, &store_url, base)?;
        Ok(Config {
            store_url,
            sdk: SdkConfig {
                library,
                network: NetworkOptions {
                    proxy: raw.sdk.proxy.clone(),
                    proxy_password,
                },
                timeout: Duration::from_secs(raw.sdk.timeout_secs),
                serialize_decrypt: raw.sdk.serialize_decrypt,
            },
            pull: PullConfig {
                batch_limit: raw.pull.batch_limit,
                min_call_interval: Duration::from_secs(60) / raw.pull.max_calls_per_minute,
                poll_interval: Duration::from_secs(raw.pull.poll_interval_secs.max(1)),
                max_backoff: Duration::from_secs(raw.pull.max_backoff_secs.max(1)),
                workers: raw.pull.workers,
            },
            threads: raw.pipeline.threads,
            queue_batches,
            corps_from_store: raw.corps_from_store,
            corps,
            alerts: alerts(&raw.alerts)?,
            metrics_listen: raw.metrics.listen,
            spool,
        })
    }

    /// The alert settings with the apps of `corps`.
    pub fn alert_settings(&self, corps: &[CorpConfig]) -> AlertSettings {
        let mut settings = self.alerts.settings.clone();
        settings.apps = corps
            .iter()
            .filter_map(|c| Some((c.corp_id.clone(), c.alert_app.clone()?)))
            .collect();
        settings
    }

    /// The configured corps plus, when `corps_from_store` is set, those of `we_corp_account` that
    /// are not configured already.
    pub fn with_store_corps(
        &self,
        accounts: &[CorpAccount],
    ) -> Result<Vec<CorpConfig>, ConfigError> {
        let mut corps = self.corps.clone();
        if self.corps_from_store {
            for a in accounts {
                if !corps.iter().any(|c| c.corp_id == a.corp_id) {
                    corps.push(corp_from_account(a)?);
                }
            }
        }
        Ok(corps)
    }
}

/// Resolves a relative SQLite path in a store URL against `base`.
pub fn resolve_store_url(url: &str, base: &Path) -> String {
    let (prefix, path) = match url.strip_prefix("sqlite://") {
        Some(p) => ("sqlite://", p),
        None if !url.contains("://") => ("", url),
        None => return url.to_owned(),
    };
    let p = Path::new(path);
    if p.is_absolute() || path.is_empty() {
        url.to_owned()
    } else {
        format!("{prefix}{}", base.join(p).display())
    }
}

fn read_secret_file(path: &Path, name: &str) -> Result<Secret, ConfigError> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        field(
            name,
            format!("cannot read secret file {}: {e}", path.display()),
        )
    })?);
    Ok(Secret::new(text.trim()))
}

fn keys_from(
    entries: impl IntoIterator<Item = (String, PathBuf)>,
    name: &str,
) -> Result<KeyRing, ConfigError> {
    let mut ring = KeyRing::new();
    for (version, path) in entries {
        let v: u32 = version.trim().parse().map_err(|_| {
            field(
                format!("{name}.{version}"),
                "key versions are numbers: keys = { 1 = \"v1.pem\" }",
            )
        })?;
        let key = PrivateKey::from_file(&path)
            .map_err(|e| field(format!("{name}.{version}"), e.to_string()))?;
        ring.insert(v, key);
    }
    Ok(ring)
}

/// The spool directory when none is configured: beside a SQLite file, or under `msgaudit-data/`
/// (relative to `base`) named after a ClickHouse database.
pub fn default_spool_dir(store_url: &str, base: &Path) -> PathBuf {
    if let Some(path) = store_url
        .strip_prefix("sqlite://")
        .filter(|p| !p.is_empty())
    {
        return Path::new(path).with_extension("spool");
    }
    let name = crate::store::clickhouse::ClickHouseUrl::parse(store_url)
        .map_or_else(|_| "store".to_owned(), |u| u.database);
    base.join("msgaudit-data").join(format!("{name}.spool"))
}

fn spool(
    raw: &RawSpool,
    store_url: &str,
    base: &Path,
) -> Result<Option<crate::spool::SpoolSettings>, ConfigError> {
    if !raw.enabled {
        return Ok(None);
    }
    if !(1..=MAX_SPOOL_MB).contains(&raw.max_mb) {
        return Err(field(
            "spool.max_mb",
            format!("must be between 1 and {MAX_SPOOL_MB} (MiB of batches waiting for the store)"),
        ));
    }
    let dir = match &raw.dir {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => base.join(d),
        None => default_spool_dir(store_url, base),
    };
    Ok(Some(crate::spool::SpoolSettings::new(
        dir,
        raw.max_mb << 20,
    )))
}

/// The most posts a minute a destination can be given: far above any WeCom limit.
const MAX_POSTS_PER_MINUTE: usize = 10_000;

fn alerts(raw: &RawAlerts) -> Result<AlertConfig, ConfigError> {
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

/// A secret given by exactly one of an environment variable or a file.
fn secret_from(
    env: &Option<String>,
    file: &Option<PathBuf>,
    name: &str,
    what: &str,
    base: &Path,
) -> Result<Secret, ConfigError> {
    match (env, file) {
        (Some(var), None) => Ok(Secret::new(std::env::var(var).map_err(|_| {
            field(
                format!("{name}.secret_env"),
                format!("environment variable {var} is not set: export {what} in it"),
            )
        })?)),
        (None, Some(path)) => {
            let p = if path.is_absolute() {
                path.clone()
            } else {
                base.join(path)
            };
            read_secret_file(&p, &format!("{name}.secret_file"))
        }
        _ => Err(field(
            name,
            "give exactly one of secret_env or secret_file (never the secret itself)",
        )),
    }
}

fn corp(c: &RawCorp, i: usize, base: &Path) -> Result<CorpConfig, ConfigError> {
    let name = format!("corps[{i}]");
    if c.corp_id.trim().is_empty() {
        return Err(field(
            format!("{name}.corp_id"),
            "is empty: set it to the corp id (ww…)",
        ));
    }
    let secret = secret_from(
        &c.secret_env,
        &c.secret_file,
        &name,
        "the corp's chat-archive secret",
        base,
    )?;
    let alert_app = match &c.alert_app {
        Some(app) => Some(AppCredentials {
            agent_id: app.agent_id,
            secret: secret_from(
                &app.secret_env,
                &app.secret_file,
                &format!("{name}.alert_app"),
                "the alert app's secret",
                base,
            )?,
        }),
        None => None,
    };
    if c.keys.is_empty() {
        return Err(field(
            format!("{name}.keys"),
            "no private keys: add keys = { 1 = \"path/to/v1.pem\" }",
        ));
    }
    let entries = c.keys.iter().map(|(v, p)| {
        let p = if p.is_absolute() {
            p.clone()
        } else {
            base.join(p)
        };
        (v.clone(), p)
    });
    Ok(CorpConfig {
        corp_id: c.corp_id.trim().to_owned(),
        secret,
        keys: Arc::new(keys_from(entries, &format!("{name}.keys"))?),
        alert_app,
    })
}

/// A corp from `we_corp_account`, whose secret and keys are references (`env:`/`file:`, `V=path`).
pub fn corp_from_account(a: &CorpAccount) -> Result<CorpConfig, ConfigError> {
    let name = format!("we_corp_account[{}]", a.corp_id);
    let secret = if let Some(var) = a.chat_secret_ref.strip_prefix("env:") {
        Secret::new(std::env::var(var).map_err(|_| {
            field(
                format!("{name}.chat_secret"),
                format!("environment variable {var} is not set"),
            )
        })?)
    } else if let Some(path) = a.chat_secret_ref.strip_prefix("file:") {
        read_secret_file(Path::new(path), &format!("{name}.chat_secret"))?
    } else {
        return Err(field(
            format!("{name}.chat_secret"),
            "must be a reference, env:VARIABLE or file:/path — secrets are never kept in the store",
        ));
    };
    let entries = a
        .private_keys_ref
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once('=') {
            Some((v, p)) => Ok((v.to_owned(), PathBuf::from(p.trim()))),
            None => Err(field(
                format!("{name}.finance_private_key"),
                "expected VERSION=/path/to/key.pem entries",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if entries.is_empty() {
        return Err(field(
            format!("{name}.finance_private_key"),
            "no key references: expected 1=/path/v1.pem",
        ));
    }
    Ok(CorpConfig {
        corp_id: a.corp_id.clone(),
        secret,
        keys: Arc::new(keys_from(entries, &format!("{name}.finance_private_key"))?),
        alert_app: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = crate::emulator::source_dir().join("fixtures/keys");
        let text = text.replace("KEYS", &keys.display().to_string());
        let path = dir.path().join("msgaudit.toml");
        std::fs::write(&path, text).expect("write");
        Config::load(&path)
    }

    const GOOD: &str = r#"
        [sdk]
        library = "lib/libWeWorkFinanceSdk_C.so"
        [[corps]]
        corp_id = "ww1"
        secret_env = "PATH"
        keys = { 1 = "KEYS/v1_private.pem", 2 = "KEYS/v2_private.pem" }
    "#;

    #[test]
    fn a_minimal_config_validates_with_defaults() {
        let c = load(GOOD).expect("valid");
        assert!(
            c.sdk.library.ends_with("lib/libWeWorkFinanceSdk_C.so") && c.sdk.library.is_absolute()
        );
        assert!(
            c.store_url.starts_with("sqlite:///")
                && c.store_url.ends_with("msgaudit-data/msgaudit.db")
        );
        assert_eq!(c.pull.min_call_interval, Duration::from_millis(100));
        let spool = c.spool.as_ref().expect("spool on by default");
        assert!(
            spool.dir.ends_with("msgaudit-data/msgaudit.spool"),
            "{spool:?}"
        );
        assert_eq!(spool.max_bytes, 2048 << 20);
        assert_eq!(c.corps[0].keys.versions().collect::<Vec<_>>(), [1, 2]);
        assert!(
            !format!("{c:?}").contains(&std::env::var("PATH").expect("PATH")),
            "secret in Debug"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (GOOD.replace("[sdk]", "[sdk]\nlibary = \"x\""), "libary"),
            (
                GOOD.replace(
                    "secret_env = \"PATH\"",
                    "secret_env = \"MSGAUDIT_SURELY_UNSET\"",
                ),
                "corps[0].secret_env",
            ),
            (
                GOOD.replace("secret_env = \"PATH\"", ""),
                "secret_env or secret_file",
            ),
            (
                GOOD.replace("v2_private.pem", "missing.pem"),
                "corps[0].keys.2",
            ),
            (GOOD.replace("1 = ", "one = "), "key versions are numbers"),
            (
                format!("[pull]\nbatch_limit = 1001\n{GOOD}"),
                "pull.batch_limit",
            ),
            (
                format!("[alerts]\nmax_posts_per_minute = 0\n{GOOD}"),
                "alerts.max_posts_per_minute",
            ),
            (
                format!("[alerts]\nmax_posts_per_minute = 4294967296\n{GOOD}"),
                "between 1 and 10000",
            ),
            (
                format!("[alerts]\napi_base = \"qyapi\"\n{GOOD}"),
                "alerts.api_base",
            ),
            (format!("[spool]\nmax_mb = 0\n{GOOD}"), "spool.max_mb"),
            (format!("[spool]\nmax_bytes = 5\n{GOOD}"), "max_bytes"),
            (
                format!(
                    "{GOOD}\nalert_app = {{ agent_id = 1, secret_env = \"MSGAUDIT_SURELY_UNSET\" }}"
                ),
                "corps[0].alert_app.secret_env",
            ),
            (
                format!(
                    "{GOOD}\n{}",
                    &GOOD[GOOD.find("[[corps]]").expect("corps")..]
                ),
                "ww1 is listed twice",
            ),
        ];
        for (text, needle) in cases {
            let e = load(&text).expect_err(needle).to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn the_spool_sits_beside_its_store_unless_told_otherwise() {
        let base = Path::new("/etc/msgaudit");
        assert_eq!(
            default_spool_dir("clickhouse://default@10.0.0.1:8123/archive", base),
            Path::new("/etc/msgaudit/msgaudit-data/archive.spool")
        );
        assert_eq!(
            default_spool_dir("sqlite:///var/lib/msgaudit/a.db", base),
            Path::new("/var/lib/msgaudit/a.spool")
        );
        let c = load(&format!("[spool]\ndir = \"q\"\nmax_mb = 64\n{GOOD}")).expect("valid");
        let spool = c.spool.expect("on");
        assert!(spool.dir.is_absolute() && spool.dir.ends_with("q"));
        assert_eq!((spool.max_bytes, spool.segment_bytes), (64 << 20, 4 << 20));
        let off = load(&format!("[spool]\nenabled = false\n{GOOD}")).expect("valid");
        assert!(off.spool.is_none());
    }

    #[test]
    fn alert_apps_come_with_their_corps() {
        let c = load(&format!(
            "[alerts]\nmax_posts_per_minute = 5\n{GOOD}\nalert_app = {{ agent_id = 1000002, secret_env = \"PATH\" }}"
        ))
        .expect("valid");
        let settings = c.alert_settings(&c.corps);
        assert_eq!(settings.max_posts_per_minute, 5);
        assert_eq!(settings.apps["ww1"].agent_id, 1000002);
        assert_eq!(settings.first_retry, Duration::from_secs(5));
        assert!(c.alerts.enabled);
    }

    #[test]
    fn store_corps_need_secret_references() {
        let account = CorpAccount {
            corp_id: "ww9".into(),
            company_name: String::new(),
            chat_secret_ref: "plain-secret".into(),
            private_keys_ref: String::new(),
        };
        let e = corp_from_account(&account)
            .expect_err("plain secret refused")
            .to_string();
        assert!(
            e.contains("never kept in the store") && !e.contains("plain-secret"),
            "{e}"
        );
        let keys = crate::emulator::source_dir().join("fixtures/keys");
        let ok = CorpAccount {
            chat_secret_ref: "env:PATH".into(),
            private_keys_ref: format!(
                "1={}, 3={}",
                keys.join("v1_private.pem").display(),
                keys.join("v3_private.pem").display()
            ),
            ..account
        };
        assert_eq!(
            corp_from_account(&ok)
                .expect("valid")
                .keys
                .versions()
                .collect::<Vec<_>>(),
            [1, 3]
        );
    }
}

#[cfg(test)]
mod example_tests {
    /// The shipped example must stay valid.
    #[test]
    fn fixtures_example_config_validates() {
        let path = crate::emulator::source_dir().join("fixtures/msgaudit.toml");
        let text = std::fs::read_to_string(&path).expect("example config");
        let text = text.replace("MSGAUDIT_SECRET_WWEXAMPLE", "PATH");
        let dir = crate::emulator::source_dir().join("fixtures");
        let raw: super::RawConfig = toml::from_str(&text).expect("parses");
        let c = super::Config::validate(raw, &dir).expect("validates");
        assert_eq!(c.corps[0].corp_id, "wwexample");
    }
}
