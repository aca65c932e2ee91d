//! The parts one daemon has whatever its corps: the store, the SDK library, the RSA backend, the
//! spool, the media store and ffmpeg, the metrics address and the alert destinations.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use super::disk::{room, size};
use super::{Finding, remote};
use crate::config::{Config, CorpConfig};
use crate::sdk::FinanceLibrary;
use crate::store::{SchemaState, Store};

/// Below this much free space next to the store or the media, a warning: both grow with the
/// archive.
const LOW_SPACE: u64 = 1 << 30;

/// The store: where it is, how far its schema is (read without migrating), and the store itself
/// when it is current (opening it then changes nothing).
pub(super) fn store(
    config: &Config,
    report: &mut dyn FnMut(Finding),
) -> (Option<SchemaState>, Option<Box<dyn Store>>) {
    let url = crate::store::redact_url(&config.store_url);
    if let Some(path) = crate::store::sqlite_path(&config.store_url) {
        let dir = std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        match room(dir) {
            Err(e) => report(Finding::fail("store directory", e)),
            Ok(r) => {
                if let Some(free) = r.free.filter(|&f| f < LOW_SPACE) {
                    report(Finding::warn(
                        "store directory",
                        format!(
                            "{}: only {} free; the SQLite file grows with the archive",
                            r.existing.display(),
                            size(free)
                        ),
                    ));
                }
            }
        }
    }
    let schema = match crate::store::schema_state(&config.store_url) {
        Ok(s) => s,
        Err(e) => {
            report(Finding::fail("store", e.to_string()));
            return (None, None);
        }
    };
    let Some(applied) = schema.applied else {
        report(Finding::ok(
            "store",
            format!(
                "{url}: not created yet; the daemon creates it at start (`msgaudit migrate` does it now)"
            ),
        ));
        return (Some(schema), None);
    };
    if applied > schema.latest {
        report(Finding::fail(
            "store",
            format!(
                "{url}: schema {applied}, newer than this msgaudit knows ({}): upgrade msgaudit",
                schema.latest
            ),
        ));
        return (Some(schema), None);
    }
    if applied < schema.latest {
        report(Finding::warn(
            "store",
            format!(
                "{url}: schema {applied} of {}; the daemon upgrades it at start (`msgaudit migrate` \
                 does it now; in a fleet, once, with the older daemons stopped)",
                schema.latest
            ),
        ));
        return (Some(schema), None);
    }
    match crate::store::open(&config.store_url) {
        Ok(store) => {
            report(Finding::ok(
                "store",
                format!("{url}: schema {applied}, current"),
            ));
            (Some(schema), Some(store))
        }
        Err(e) => {
            report(Finding::fail("store", e.to_string()));
            (Some(schema), None)
        }
    }
}

/// The finance SDK library, loaded with every function the daemon calls.
pub(super) fn sdk_library(config: &Config) -> (Finding, Option<FinanceLibrary>) {
    let path = config.sdk.library.display();
    match FinanceLibrary::load(&config.sdk.library) {
        Ok(lib) => (
            Finding::ok(
                "sdk library",
                format!("{path}: loaded, with every function the daemon calls"),
            ),
            Some(lib),
        ),
        Err(e) => (Finding::fail("sdk library", e.to_string()), None),
    }
}

/// The RSA backend `[crypto]` chooses, and why.
pub(super) fn rsa_backend(config: &Config) -> Finding {
    match crate::sdk::rsa_backend::choose(config.crypto.backend, config.crypto.library.clone()) {
        Ok(chosen) => Finding::ok(
            "rsa backend",
            format!("{} ({})", chosen.backend.name(), chosen.reason),
        ),
        Err(e) => Finding::fail("rsa backend", e.to_string()),
    }
}

/// The spool directory: writable, and room for what `[spool] max_mb` lets it hold.
pub(super) fn spool(config: &Config) -> Finding {
    let Some(spool) = &config.spool else {
        return Finding::ok(
            "spool",
            "disabled: pulling waits whenever the store does ([spool] enabled = false)",
        );
    };
    let dir = spool.dir.display();
    match room(&spool.dir) {
        Err(e) => Finding::fail(
            "spool",
            format!(
                "{e}: the daemon cannot spool what it pulls (fix [spool] dir or its permissions)"
            ),
        ),
        Ok(r) => match r.free {
            Some(free) if free < spool.max_bytes => Finding::warn(
                "spool",
                format!(
                    "{dir}: may hold up to {} ([spool] max_mb) but its filesystem has {} free: \
                     lower max_mb or free space, or a long store outage fills the disk",
                    size(spool.max_bytes),
                    size(free)
                ),
            ),
            _ => Finding::ok(
                "spool",
                format!(
                    "{}; holds up to {}",
                    r.writable(&spool.dir),
                    size(spool.max_bytes)
                ),
            ),
        },
    }
}

/// The media store (a directory, or a bucket with its staging directory) and ffmpeg.
pub(super) fn media(config: &Config, store: Option<&dyn Store>, offline: bool) -> Vec<Finding> {
    let Some(media) = &config.media else {
        return vec![Finding::ok(
            "media store",
            "disabled: attachments are not fetched ([media] enabled = false)",
        )];
    };
    let quota = media.fetcher.quota_bytes;
    let mut found = Vec::new();
    match &media.s3 {
        Some(s3) => {
            found.push(remote::bucket(s3, offline));
            found.push(directory("media staging", &s3.staging, None));
        }
        None => found.push(directory(
            "media store",
            std::path::Path::new(&media.store),
            Some(quota),
        )),
    }
    let ffmpeg = crate::media::Transcoder::locate(&media.ffmpeg);
    // Voice stored before ffmpeg was there (or worked) has no copy until `media playable`.
    let without_copy = store
        .and_then(|s| s.files_without_copy(None, 1000).ok())
        .map_or(0, |f| f.len());
    found.push(if ffmpeg.is_ok() && without_copy > 0 {
        Finding::warn(
            "ffmpeg",
            format!(
                "found: new voice gets a playable MP3 copy, but {}{without_copy} voice file(s) \
                 stored before have none: run `msgaudit media playable`",
                if without_copy >= 1000 {
                    "at least "
                } else {
                    ""
                }
            ),
        )
    } else if ffmpeg.is_ok() {
        Finding::ok("ffmpeg", "found: voice gets a playable MP3 copy")
    } else {
        Finding::warn(
            "ffmpeg",
            format!(
                "`{}` not found: voice is kept as AMR only, which browsers cannot play; install \
                 ffmpeg or set [media] ffmpeg to its path",
                media.ffmpeg
            ),
        )
    });
    found
}

/// A directory media is written to; with `quota` (the media store itself: Some(None) when no
/// quota is set), its free space against what it may hold.
fn directory(subject: &str, dir: &std::path::Path, quota: Option<Option<u64>>) -> Finding {
    let shown = dir.display();
    let r = match room(dir) {
        Ok(r) => r,
        Err(e) => return Finding::fail(subject, format!("{e}: fix [media] or its permissions")),
    };
    match (quota, r.free) {
        (Some(Some(q)), Some(f)) if f < q => Finding::warn(
            subject,
            format!(
                "{shown}: [media] quota_mb allows {} but the filesystem has {} free: fetching \
                 stops when the disk is full, not at the quota",
                size(q),
                size(f)
            ),
        ),
        (Some(None), Some(f)) if f < LOW_SPACE => Finding::warn(
            subject,
            format!(
                "{shown}: only {} free and no [media] quota_mb: fetching fails when the disk is full",
                size(f)
            ),
        ),
        _ => Finding::ok(subject, r.writable(dir)),
    }
}

/// `[metrics] listen`: free to bind, or already served by a daemon.
pub(super) fn metrics(config: &Config) -> Option<Finding> {
    let addr = config.metrics_listen?;
    Some(match TcpListener::bind(addr) {
        Ok(_) => Finding::ok("metrics", format!("{addr}: free to serve /metrics")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if serves_msgaudit_metrics(addr) {
                Finding::warn(
                    "metrics",
                    format!(
                        "{addr}: a msgaudit daemon already serves it: is this config's daemon \
                         running? A second one would not start"
                    ),
                )
            } else {
                Finding::fail(
                    "metrics",
                    format!("{addr} is in use by another program: choose another [metrics] listen"),
                )
            }
        }
        Err(e) => Finding::fail(
            "metrics",
            format!("cannot listen on {addr} ([metrics] listen): {e}"),
        ),
    })
}

/// Whether `addr` answers `GET /metrics` with msgaudit's figures.
fn serves_msgaudit_metrics(addr: SocketAddr) -> bool {
    crate::daemon::scrape::get(addr, "/metrics", Duration::from_secs(2))
        .is_some_and(|text| text.contains("msgaudit_"))
}

/// Where alerts go: the store's group robots and the corps' apps.
pub(super) fn alerts(config: &Config, store: Option<&dyn Store>, corps: &[CorpConfig]) -> Finding {
    if !config.alerts.enabled {
        return Finding::ok(
            "alerts",
            "disabled ([alerts] enabled = false): hits stay in the outbox",
        );
    }
    let apps = corps.iter().filter(|c| c.alert_app.is_some()).count();
    let robots = match store.map(|s| s.robots()) {
        Some(Ok(r)) => r.len(),
        Some(Err(e)) => return Finding::fail("alerts", format!("reading the robots: {e}")),
        None if apps > 0 => {
            return Finding::ok(
                "alerts",
                format!(
                    "{apps} corp(s) with an alert app; robots are read once the store is current"
                ),
            );
        }
        None => {
            return Finding::skipped(
                "alerts",
                "the group robots are read once the store exists at the current schema",
            );
        }
    };
    if robots == 0 && apps == 0 {
        Finding::warn(
            "alerts",
            "no group robot and no alert app: alerts wait in the outbox until `msgaudit robots add` \
             (or a corp's alert_app)",
        )
    } else {
        Finding::ok(
            "alerts",
            match (robots, apps) {
                (0, _) => format!(
                    "{apps} corp(s) with an alert app, no group robot; \
                     `msgaudit alerts test-app` messages their auditors"
                ),
                (_, 0) => format!(
                    "{robots} group robot(s), no alert app; \
                     `msgaudit robots test` posts each robot a test message"
                ),
                _ => format!(
                    "{robots} group robot(s), {apps} corp(s) with an alert app; \
                     `msgaudit robots test` and `alerts test-app` send them test messages"
                ),
            },
        )
    }
}
