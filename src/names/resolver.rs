//! The names fetcher: a thread beside the pipeline (with its own store connection, so it never
//! holds the writer up) that, every few seconds, looks up the external contacts and groups that
//! messages brought and nobody has looked up yet, and refreshes the rows older than the refresh
//! interval. A lookup WeCom refuses is kept with its error (asked again at the next refresh); one
//! that fails in transit is asked again at the next pass.

use std::sync::Arc;
use std::time::Duration;

use super::client::{CorpCredentials, DirectoryClient, LookupError};
use crate::runtime::Shutdown;
use crate::store::{Customer, DirectoryId, Group, Store};
use crate::timefmt::now_ms;

/// How the fetcher paces itself.
#[derive(Debug, Clone)]
pub struct NamesSettings {
    /// Between passes.
    pub interval: Duration,
    /// A name is looked up again after this long.
    pub refresh: Duration,
    /// Lookups per corp and pass, at most (WeCom limits API calls).
    pub per_pass: u32,
}

impl Default for NamesSettings {
    fn default() -> NamesSettings {
        NamesSettings {
            interval: Duration::from_secs(10),
            refresh: Duration::from_secs(24 * 3600),
            per_pass: 200,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    pub named: u64,
    pub refused: u64,
    pub transient: u64,
}

impl PassReport {
    fn add(&mut self, other: PassReport) {
        self.named += other.named;
        self.refused += other.refused;
        self.transient += other.transient;
    }
}

/// Looks up one id and stores what WeCom said (or why not).
fn look_up(
    store: &dyn Store,
    client: &mut DirectoryClient,
    corp: &CorpCredentials,
    id: &DirectoryId,
    now: i64,
) -> Result<PassReport, crate::store::StoreError> {
    let mut report = PassReport::default();
    let failed = |e: &LookupError| format!("{e} ({})", e.advice());
    match id {
        DirectoryId::Customer(ext) => match client.customer(corp, ext, now) {
            Ok(c) => {
                store.save_customers(&[c])?;
                report.named += 1;
            }
            Err(e @ LookupError::Refused { .. }) => {
                tracing::info!(corp = %corp.corp_id, id = %ext, error = %failed(&e), "external contact not named");
                store.save_customers(&[Customer {
                    corp_id: corp.corp_id.clone(),
                    external_userid: ext.clone(),
                    lookup_error: failed(&e),
                    update_time: now,
                    ..Customer::default()
                }])?;
                report.refused += 1;
            }
            Err(e) => {
                tracing::debug!(corp = %corp.corp_id, id = %ext, error = %e, "lookup failed; asked again later");
                report.transient += 1;
            }
        },
        DirectoryId::Group(chat) => match client.group(corp, chat, now) {
            Ok(g) => {
                store.save_group(&g)?;
                report.named += 1;
            }
            Err(e @ LookupError::Refused { .. }) => {
                tracing::info!(corp = %corp.corp_id, id = %chat, error = %failed(&e), "group not named");
                store.save_group(&Group {
                    corp_id: corp.corp_id.clone(),
                    chat_id: chat.clone(),
                    lookup_error: failed(&e),
                    update_time: now,
                    ..Group::default()
                })?;
                report.refused += 1;
            }
            Err(e) => {
                tracing::debug!(corp = %corp.corp_id, id = %chat, error = %e, "lookup failed; asked again later");
                report.transient += 1;
            }
        },
    }
    Ok(report)
}

/// One pass over every corp: new ids first, then stale ones, `per_pass` at most each. Stops
/// between two lookups once `stop` is requested (a lookup waits at most the client's timeout).
pub fn pass(
    store: &dyn Store,
    client: &mut DirectoryClient,
    corps: &[CorpCredentials],
    settings: &NamesSettings,
    stop: &Shutdown,
) -> Result<PassReport, crate::store::StoreError> {
    let mut report = PassReport::default();
    for corp in corps {
        if stop.is_requested() {
            break;
        }
        let now = now_ms();
        let mut ids = store.unnamed_ids(&corp.corp_id, settings.per_pass)?;
        let room = settings.per_pass.saturating_sub(ids.len() as u32);
        if room > 0 {
            let before = now.saturating_sub(settings.refresh.as_millis() as i64);
            ids.extend(store.stale_ids(&corp.corp_id, before, room)?);
        }
        for id in &ids {
            if stop.is_requested() {
                break;
            }
            report.add(look_up(store, client, corp, id, now)?);
        }
    }
    Ok(report)
}

/// Runs passes over the corps archived now (read again each pass) until shutdown.
pub fn run(
    store: Arc<dyn Store>,
    mut client: DirectoryClient,
    corps: crate::runtime::Shared<Vec<CorpCredentials>>,
    settings: NamesSettings,
    shutdown: Shutdown,
) {
    while !shutdown.is_requested() {
        match pass(
            store.as_ref(),
            &mut client,
            &corps.get(),
            &settings,
            &shutdown,
        ) {
            Ok(r) if r != PassReport::default() => {
                tracing::info!(
                    named = r.named,
                    refused = r.refused,
                    failed = r.transient,
                    "names looked up"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "names: the store failed; trying again next pass"),
        }
        shutdown.sleep(settings.interval);
    }
}
