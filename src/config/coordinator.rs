//! `[coordinator]`: several daemons sharing one store's corps through leases on etcd.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, field};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCoordinator {
    /// etcd's client URLs, e.g. `["http://10.0.0.5:2379"]` (default none: this daemon archives
    /// every corp alone).
    #[serde(default)]
    pub etcd: Vec<String>,
    /// Seconds a daemon's lease lives without renewal (default 10, 3..=300): a daemon that dies
    /// loses its corps after this, and the others take them.
    pub lease_ttl_secs: Option<u64>,
    /// The key prefix the daemons of one fleet share (default `/msgaudit/`; one per store).
    pub prefix: Option<String>,
    /// This daemon's name in the fleet (default `HOSTNAME-PID`); unique among live daemons.
    pub name: Option<String>,
}

/// The validated `[coordinator]`.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    pub endpoints: Vec<String>,
    pub lease_ttl: Duration,
    pub prefix: String,
    pub name: String,
}

/// This machine's host name, for the default daemon name.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "msgaudit".to_owned())
}

/// None when no etcd is named.
pub fn coordinator(
    raw: &RawCoordinator,
    store_url: &str,
) -> Result<Option<CoordinatorConfig>, ConfigError> {
    if raw.etcd.is_empty() {
        return Ok(None);
    }
    if store_url.starts_with("sqlite:") {
        return Err(field(
            "coordinator.etcd",
            "a SQLite store belongs to one daemon (one process writes its file): several daemons \
             need a shared store, `[store] url = \"clickhouse://…\"`; or remove [coordinator] to run \
             this daemon alone",
        ));
    }
    for e in &raw.etcd {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            return Err(field(
                "coordinator.etcd",
                format!("`{e}` is not an etcd client URL like http://127.0.0.1:2379"),
            ));
        }
    }
    let ttl = raw.lease_ttl_secs.unwrap_or(10);
    if !(3..=300).contains(&ttl) {
        return Err(field(
            "coordinator.lease_ttl_secs",
            format!("{ttl} is outside 3..=300 seconds"),
        ));
    }
    let name = raw
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", host_name(), std::process::id()));
    if name.is_empty() || name.contains('/') {
        return Err(field(
            "coordinator.name",
            "must be non-empty and without `/`",
        ));
    }
    Ok(Some(CoordinatorConfig {
        endpoints: raw.etcd.clone(),
        lease_ttl: Duration::from_secs(ttl),
        prefix: raw
            .prefix
            .clone()
            .unwrap_or_else(|| "/msgaudit/".to_owned()),
        name,
    }))
}
