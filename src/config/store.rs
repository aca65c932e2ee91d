//! `[store]`: which store, and relative SQLite paths resolved against the config file.

use std::path::Path;

use serde::Deserialize;

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
