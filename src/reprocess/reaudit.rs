//! Re-auditing stored messages: every message in a range, in seq order, through a rules version
//! (all strategies, or one just added), on the decode pool; new hits are stored idempotently and
//! existing ones kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::audit::Auditor;
use crate::message::MessageRow;
use crate::pipeline::{PipelineError, audit_rows, decode_pool};
use crate::store::{ActHitRow, HitRow, MessageQuery, SeqCursor, Store, StoreError};

/// Which messages to re-audit, and against what.
#[derive(Debug, Clone, Default)]
pub struct ReauditOptions {
    /// The messages (its paging and limit are the engine's: every message it selects, by seq).
    pub messages: MessageQuery,
    /// Only this strategy (behaviours are then left alone).
    pub strategy: Option<i64>,
}

/// How far a re-audit is, reported after every page.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReauditProgress {
    /// Messages of the store (of the corp) in all, for a percentage.
    pub total: u64,
    pub scanned: u64,
    pub new_hits: u64,
    pub new_act_hits: u64,
    pub seconds: f64,
    /// Of `seconds`: auditing on the decode pool (reading and storing run beside it).
    pub audit_seconds: f64,
    /// Storing hits, beside the auditing (a lookup of which are new, and a write only for those).
    pub store_seconds: f64,
}

impl ReauditProgress {
    pub fn per_second(&self) -> f64 {
        self.scanned as f64 / self.seconds.max(1e-3)
    }
}

/// A re-audit could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReauditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no strategy {0}; `msgaudit rules list` shows the ids")]
    NoStrategy(i64),
    #[error(transparent)]
    Build(#[from] crate::audit::matcher::BuildError),
    #[error(transparent)]
    Pool(#[from] PipelineError),
}

/// Re-audits the stored messages `options` names; `progress` hears after every page.
pub fn reaudit(
    store: &dyn Store,
    options: &ReauditOptions,
    mut progress: impl FnMut(&ReauditProgress),
) -> Result<ReauditProgress, ReauditError> {
    let mut rules = store.load_rules()?;
    if let Some(id) = options.strategy {
        rules.strategies.retain(|s| s.id == id);
        if rules.strategies.is_empty() {
            return Err(ReauditError::NoStrategy(id));
        }
    }
    let auditor = Auditor::build(&rules, store.rules_version()?)?;
    let pool = decode_pool(0)?;
    let mut query = MessageQuery {
        by_seq: Some(Default::default()),
        limit: 2000,
        for_audit: true,
        ..options.messages.clone()
    };
    let started = Instant::now();
    let mut done = ReauditProgress {
        total: store.count_messages(query.corp_id.as_deref())?,
        ..Default::default()
    };
    // Three stages, each on its own thread: the next page is read, and the last page's new hits
    // stored, while this page is audited.
    let stored = [AtomicU64::new(0), AtomicU64::new(0)];
    std::thread::scope(|scope| -> Result<(), ReauditError> {
        let (pages, next_page) = crossbeam_channel::bounded::<Vec<MessageRow>>(2);
        let (found, to_store) = crossbeam_channel::bounded::<(Vec<HitRow>, Vec<ActHitRow>)>(2);
        let reader = scope.spawn(move || -> Result<(), StoreError> {
            loop {
                let page = store.messages(&query)?;
                let Some(last) = page.last() else {
                    return Ok(());
                };
                query.by_seq = Some(SeqCursor::after(&last.row.corp_id, last.row.seq));
                if pages
                    .send(page.into_iter().map(|m| m.row).collect())
                    .is_err()
                {
                    return Ok(()); // the auditing side stopped on an error of its own
                }
            }
        });
        let stored = &stored;
        let writer = scope.spawn(move || -> Result<f64, StoreError> {
            let mut seconds = 0.0;
            for (hits, acts) in &to_store {
                let began = Instant::now();
                // Known hits need no write (and no commit): most of a re-audit's, usually.
                let (hits, acts) = store.unstored_hits(hits, acts)?;
                let (h, a) = if hits.is_empty() && acts.is_empty() {
                    (0, 0)
                } else {
                    store.store_hits(&hits, &acts)?
                };
                seconds += began.elapsed().as_secs_f64();
                stored[0].fetch_add(h, Ordering::Relaxed);
                stored[1].fetch_add(a, Ordering::Relaxed);
            }
            Ok(seconds)
        });
        for rows in &next_page {
            let audit_began = Instant::now();
            let (hits, acts) = pool.install(|| audit_rows(&auditor, &rows));
            done.audit_seconds += audit_began.elapsed().as_secs_f64();
            let acts = if options.strategy.is_some() {
                Vec::new()
            } else {
                acts
            };
            if found.send((hits, acts)).is_err() {
                break; // the writer stopped on an error, returned below
            }
            done.scanned += rows.len() as u64;
            done.new_hits = stored[0].load(Ordering::Relaxed);
            done.new_act_hits = stored[1].load(Ordering::Relaxed);
            done.seconds = started.elapsed().as_secs_f64();
            progress(&done);
        }
        drop(next_page);
        drop(found);
        let read = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        done.store_seconds = written?;
        read?;
        Ok(())
    })?;
    done.new_hits = stored[0].load(Ordering::Relaxed);
    done.new_act_hits = stored[1].load(Ordering::Relaxed);
    done.seconds = started.elapsed().as_secs_f64();
    Ok(done)
}
