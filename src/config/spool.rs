//! `[spool]`: the durable spool of pulled batches (on by default, beside the store).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, field, yes};

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

pub(super) fn default_spool_mb() -> u64 {
    2048
}

/// The largest spool limit accepted, MiB (1 TiB).
pub(super) const MAX_SPOOL_MB: u64 = 1 << 20;

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

pub(super) fn spool(
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
