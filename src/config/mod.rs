//! Configuration in two stages, one small file per section: [`RawConfig`] is the TOML file as written (unknown fields rejected,
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

mod alerts;
mod coordinator;
mod corps;
mod crypto;
mod display;
mod media;
mod metrics;
mod names;
mod pull;
mod sdk;
mod spool;
mod store;
#[cfg(test)]
mod tests;

pub use alerts::{AlertConfig, RawAlertApp, RawAlerts};
pub(crate) use coordinator::host_name;
pub use coordinator::{CoordinatorConfig, RawCoordinator};
pub use corps::{CorpConfig, RawCorp, corp_from_account};
pub use crypto::{CryptoConfig, RawCrypto};
pub use display::{RawDisplay, display_zone};
pub use media::{MediaConfig, RawMedia, default_media_dir, media_of_file, media_of_file_default};
pub use metrics::RawMetrics;
pub use names::{NamesConfig, RawNames};
pub use pull::{RawPipeline, RawPull};
pub use sdk::{RawSdk, SdkConfig};
pub use spool::{RawSpool, default_spool_dir};
pub use store::{RawStore, resolve_store_url};

pub use crate::pipeline::PullConfig;

use std::path::{Path, PathBuf};

use serde::Deserialize;

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

/// `#[serde(default = "yes")]`: on unless switched off.
pub(crate) fn yes() -> bool {
    true
}

pub(crate) fn field(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
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
    /// How often `we_corp_account` is read again for corps added, removed or changed, seconds
    /// (default 10).
    #[serde(default = "default_corps_reload")]
    pub corps_reload_secs: u64,
    #[serde(default)]
    pub alerts: RawAlerts,
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default)]
    pub spool: RawSpool,
    #[serde(default)]
    pub media: RawMedia,
    #[serde(default)]
    pub display: RawDisplay,
    #[serde(default)]
    pub names: RawNames,
    #[serde(default)]
    pub crypto: RawCrypto,
    /// Several daemons sharing the corps through leases on etcd (default: none, one daemon).
    #[serde(default)]
    pub coordinator: RawCoordinator,
    #[serde(default)]
    pub corps: Vec<RawCorp>,
}

/// The alert apps of `corps`, by corp id.
pub fn alert_apps(
    corps: &[CorpConfig],
) -> std::collections::HashMap<String, crate::alert::AppCredentials> {
    corps
        .iter()
        .filter_map(|c| Some((c.corp_id.clone(), c.alert_app.clone()?)))
        .collect()
}

fn default_corps_reload() -> u64 {
    10
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
    /// How often `we_corp_account` is read again (with `corps_from_store`).
    pub corps_reload: std::time::Duration,
    pub corps: Vec<CorpConfig>,
    pub alerts: AlertConfig,
    /// The file this configuration was read from (None when built otherwise): read again on
    /// SIGHUP for its `[[corps]]`.
    pub source: Option<std::path::PathBuf>,
    /// Where to serve `/metrics`, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The durable spool (None when disabled).
    pub spool: Option<crate::spool::SpoolSettings>,
    /// The media archive (None when disabled).
    pub media: Option<MediaConfig>,
    /// The time zone times are shown and typed in.
    pub display_zone: crate::timefmt::Zone,
    /// The names fetcher (None when disabled).
    pub names: Option<NamesConfig>,
    /// The RSA backend.
    pub crypto: CryptoConfig,
    /// The fleet this daemon shares the corps with (None: it archives every corp alone).
    pub coordinator: Option<CoordinatorConfig>,
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
        let mut config = Config::validate(raw, base)?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Validates a raw configuration; relative paths resolve against `base`.
    pub fn validate(raw: RawConfig, base: &Path) -> Result<Config, ConfigError> {
        let store_url = resolve_store_url(&raw.store.url, base);
        let sdk = sdk::sdk(&raw.sdk, base)?;
        let pull = pull::pull(&raw.pull)?;
        let queue_batches = pull::queue_batches(&raw.pipeline)?;
        let corps = corps::corps(&raw.corps, raw.corps_from_store, base)?;
        let spool = spool::spool(&raw.spool, &store_url, base)?;
        let media = media::media(&raw.media, &store_url, base)?;
        let display_zone = display::display_zone(&raw.display)?;
        let names = names::names(&raw.names)?;
        let coordinator = coordinator::coordinator(&raw.coordinator, &store_url)?;
        Ok(Config {
            coordinator,
            crypto: crypto::crypto(&raw.crypto, base),
            names,
            display_zone,
            store_url,
            sdk,
            pull,
            threads: raw.pipeline.threads,
            queue_batches,
            corps_from_store: raw.corps_from_store,
            corps_reload: std::time::Duration::from_secs(raw.corps_reload_secs.max(1)),
            corps,
            source: None,
            alerts: alerts::alerts(&raw.alerts)?,
            metrics_listen: raw.metrics.listen,
            spool,
            media,
        })
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
