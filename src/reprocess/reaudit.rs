//! Re-auditing stored messages: every message in a range, in seq order, through a rules version
//! (all strategies, or one just added), on the decode pool; new hits are stored idempotently and
//! existing ones kept.

use std::time::Instant;

use crate::audit::Auditor;
use crate::message::MessageRow;
use crate::pipeline::{PipelineError, audit_rows, decode_pool};
use crate::store::{MessageQuery, SeqCursor, Store, StoreError};

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
        ..options.messages.clone()
    };
    let started = Instant::now();
    let mut done = ReauditProgress {
        total: store.count_messages(query.corp_id.as_deref())?,
        ..Default::default()
    };
    loop {
        let page = store.messages(&query)?;
        let Some(last) = page.last() else { break };
        query.by_seq = Some(SeqCursor::after(&last.row.corp_id, last.row.seq));
        let rows: Vec<MessageRow> = page.into_iter().map(|m| m.row).collect();
        let (hits, acts) = pool.install(|| audit_rows(&auditor, &rows));
        let acts = if options.strategy.is_some() {
            Vec::new()
        } else {
            acts
        };
        let (h, a) = store.store_hits(&hits, &acts)?;
        done.scanned += rows.len() as u64;
        done.new_hits += h;
        done.new_act_hits += a;
        done.seconds = started.elapsed().as_secs_f64();
        progress(&done);
    }
    done.seconds = started.elapsed().as_secs_f64();
    Ok(done)
}
