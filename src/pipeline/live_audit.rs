//! The pipeline's live audit: the pure audit core ([`crate::audit`]) applied to decoded batches,
//! its hits turned into the rows the store keeps, and hot reload of the rules from the store.
//!
//! [`LiveAudit`] holds the current compiled rules version behind an `Arc` that is swapped whole: a
//! batch takes the `Arc` once, so every message of it sees one rules version, and a reload never
//! pauses ingestion — the new [`Auditor`] is built aside on the reloader thread, then swapped in.
//! The reloader polls the store's rules version (a counter every rules change bumps in the same
//! transaction) every couple of seconds.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rayon::prelude::*;

use super::DecodedBatch;
use super::audit::AuditStage;
use crate::audit::Auditor;
use crate::message::MessageRow;
use crate::runtime::Shutdown;
use crate::store::{ActHitRow, HitRow, Store, StoreError};

/// The rules could not be loaded or compiled.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Build(#[from] crate::audit::matcher::BuildError),
}

/// The stored form of one message's audit.
pub fn audit_row(auditor: &Auditor, row: &MessageRow) -> (Vec<HitRow>, Vec<ActHitRow>) {
    let hits = auditor
        .word_hits(row)
        .into_iter()
        .map(|h| HitRow {
            corp_id: row.corp_id.clone(),
            msg_id: row.msg_id.clone(),
            strategy_id: h.strategy_id,
            strategy_name: h.strategy_name,
            words: h.words,
            spans: h.spans,
            content: h.snippet,
            from_id: row.from_id.clone(),
            to_list: row.to_list.clone(),
            room_id: row.room_id.clone(),
            msg_time: row.msg_time,
            direction: h.direction.as_str().to_owned(),
            audit_user_id: h.audit_user_id,
            send_status: if h.alert { 0 } else { 3 },
            rules_version: auditor.version,
        })
        .collect();
    let acts = auditor
        .act_hits(row)
        .into_iter()
        .map(|a| ActHitRow::of(row, a))
        .collect();
    (hits, acts)
}

/// Audits rows on the current rayon pool; returns every hit and behaviour hit.
pub fn audit_rows(auditor: &Auditor, rows: &[MessageRow]) -> (Vec<HitRow>, Vec<ActHitRow>) {
    let results: Vec<(Vec<HitRow>, Vec<ActHitRow>)> = rows
        .par_iter()
        .with_min_len(16)
        .map(|r| audit_row(auditor, r))
        .collect();
    let mut hits = Vec::new();
    let mut acts = Vec::new();
    for (h, a) in results {
        hits.extend(h);
        acts.extend(a);
    }
    (hits, acts)
}

/// The audit stage: the current rules version, swappable while the pipeline runs.
pub struct LiveAudit {
    current: crate::runtime::Shared<Auditor>,
}

impl LiveAudit {
    pub fn new(auditor: Auditor) -> Arc<LiveAudit> {
        Arc::new(LiveAudit {
            current: crate::runtime::Shared::new(auditor),
        })
    }

    /// Compiles the store's current rules.
    pub fn load(store: &dyn Store) -> Result<Auditor, ReloadError> {
        let version = store.rules_version()?;
        let rules = store.load_rules()?;
        Ok(Auditor::build(&rules, version)?)
    }

    /// The rules version in force.
    pub fn current(&self) -> Arc<Auditor> {
        self.current.get()
    }

    /// Puts a new rules version in force.
    pub fn swap(&self, auditor: Auditor) {
        self.current.set(auditor);
    }

    /// Polls the store every `every` and swaps in changed rules, until `stop` is requested.
    pub fn spawn_reloader(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        stop: Shutdown,
        every: Duration,
    ) -> std::io::Result<JoinHandle<()>> {
        let live = self.clone();
        std::thread::Builder::new().name("rules-reload".into()).spawn(move || {
            while stop.sleep(every) {
                match store.rules_version() {
                    Ok(v) if v != live.current().version => match LiveAudit::load(store.as_ref()) {
                        Ok(a) => {
                            tracing::info!(
                                version = a.version,
                                matcher_bytes = a.memory_usage(),
                                "rules reloaded"
                            );
                            live.swap(a);
                            // The build's scratch, and the old version once the batches
                            // auditing with it are done, go back to the system.
                            crate::runtime::release_freed_memory();
                        }
                        Err(e) => tracing::warn!(error = %e, "rules changed but cannot be loaded; keeping the previous version"),
                    },
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot read the rules version"),
                }
            }
        })
    }
}

impl AuditStage for LiveAudit {
    fn audit(&self, batch: &mut DecodedBatch) {
        let auditor = self.current();
        let (hits, acts) = audit_rows(&auditor, &batch.store.messages);
        batch.store.hits = hits;
        batch.store.act_hits = acts;
    }
}
