//! The ingestion pipeline: pull → spool → decrypt+parse (+ audit) → store, with the checkpoint
//! moving only after the store has the batch.
//!
//! ```text
//!  puller threads (sessions, by seq) ──bounded──► appender thread (spool: fsync'd segments)
//!  reader thread (spool order) ──bounded──► decode thread (rayon pool: RSA → DecryptData → parse →
//!  audit) ──bounded──► writer thread (store batch + checkpoint, one durable step; releases the
//!  batch from the spool)
//! ```
//!
//! Channels hold at most `queue_batches` batches each, so memory is bounded by a handful of batches
//! whatever the backlog. The spool ([`crate::spool`]) takes up a slow or absent store: pulling goes
//! on until the spool reaches its limit, and only then pauses (back-pressure). Without a spool the
//! pullers feed the decode stage directly and a slow store slows them at once. Each corp's batches
//! stay in pull order end to end (one appender, one reader, one decode thread, one writer), which
//! keeps checkpoints monotonic. The process's shutdown token ([`Shutdown`]) stops the pullers between
//! calls; the stages then drain what is queued, and what is spooled but unstored waits for the next
//! start. `stages.rs` starts the threads and joins them.

pub mod audit;
mod corps;
mod decode;
pub mod live_audit;
mod puller;
mod spooling;
mod stages;
mod writer;

pub use corps::{CorpChange, Registry, Released};
pub use decode::{decode_batch, decode_message, decode_with_key};
pub use live_audit::{LiveAudit, ReloadError, audit_row, audit_rows};
pub use puller::{CorpFailure, PullConfig, PullSettings};

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use audit::AuditStage;
use puller::CorpCursor;

use crate::runtime::{Shared, Shutdown, Stats};
use crate::sdk::{Decryptor, EncryptedMessage, FinanceLibrary, KeyRing, NetworkOptions};
use crate::secret::Secret;
use crate::spool::{Position, Spool, SpoolError, SpoolSettings};
use crate::store::{Store, StoreBatch, StoreError};

/// A corp to archive: who it is, the secret its SDK session opens with, and its private keys.
#[derive(Debug, Clone)]
pub struct Corp {
    pub corp_id: String,
    pub secret: Secret,
    pub keys: Arc<KeyRing>,
}

/// A corp as the stages see it: its id and keys, and how far this run has pulled it.
#[derive(Debug)]
pub struct CorpContext {
    pub corp_id: String,
    keys: Shared<KeyRing>,
    /// Batches pulled in this run and not yet stored (fairness: a corp with a backlog may have
    /// only a few at a time, so the others' batches never queue behind its whole backlog).
    in_flight: AtomicU32,
    /// Batches from this seq on were pulled in this run (and counted in `in_flight`); older ones
    /// came from the spool of a previous run.
    counted_from: u64,
    /// The last seq a puller handed on in this run.
    pulled_seq: AtomicU64,
}

impl CorpContext {
    pub fn new(corp_id: &str, keys: Arc<KeyRing>, pull_from: u64) -> CorpContext {
        CorpContext {
            corp_id: corp_id.to_owned(),
            keys: Shared::from_arc(keys),
            in_flight: AtomicU32::new(0),
            counted_from: pull_from,
            pulled_seq: AtomicU64::new(pull_from),
        }
    }

    /// The corp's private keys.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.get()
    }

    /// Replaces the keys (the corp was added again with new ones).
    fn set_keys(&self, keys: Arc<KeyRing>) {
        self.keys.set_arc(keys);
    }

    /// Batches pulled in this run and not yet stored.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    pub fn pulled_seq(&self) -> u64 {
        self.pulled_seq.load(Ordering::Acquire)
    }

    /// A puller handed on a batch ending at `checkpoint`.
    fn pulled(&self, checkpoint: u64) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.pulled_seq.fetch_max(checkpoint, Ordering::AcqRel);
    }

    /// The batch that asked for messages after `from_seq` is stored (or released): it no longer
    /// counts as in flight if this run pulled it.
    fn done(&self, from_seq: u64) {
        if from_seq >= self.counted_from {
            let _ = self
                .in_flight
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        }
    }
}

/// A batch as pulled.
#[derive(Debug)]
pub struct PulledBatch {
    pub corp: Arc<CorpContext>,
    pub messages: Vec<EncryptedMessage>,
    /// The pull asked for messages after this seq.
    pub from_seq: u64,
    /// The largest seq of the batch.
    pub checkpoint: u64,
    /// Where the batch is in the spool (None when it came straight from a puller).
    pub spool: Option<Position>,
}

/// A batch decoded into rows and dead letters.
#[derive(Debug)]
pub struct DecodedBatch {
    pub corp: Arc<CorpContext>,
    /// What the writer stores: rows and dead letters from decoding, hits from the audit stage, and
    /// the corp's checkpoint after this batch.
    pub store: StoreBatch,
    /// Where the batch is in the spool, to release it once stored.
    pub spool: Option<Position>,
    /// The pull asked for messages after this seq.
    pub from_seq: u64,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub pull: PullSettings,
    pub network: NetworkOptions,
    /// Decrypt+parse threads (0 = all cores).
    pub threads: usize,
    pub queue_batches: usize,
    /// Longest wait between retries of a failing store.
    pub max_store_backoff: Duration,
    /// The durable spool between pulling and decoding (None: batches go straight on in memory).
    pub spool: Option<SpoolSettings>,
}

/// What a run did.
#[derive(Debug)]
pub struct RunSummary {
    pub elapsed: Duration,
    /// Batches left unstored at shutdown (their checkpoints did not move).
    pub abandoned_batches: u64,
    /// Corps that stopped on a non-transient SDK error (once mode).
    pub failures: Vec<CorpFailure>,
}

/// The pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("corp {corp_id}: cannot read its checkpoint: {source}")]
    Checkpoint {
        corp_id: String,
        #[source]
        source: StoreError,
    },
    #[error("cannot start the decrypt thread pool: {0}")]
    Pool(String),
    #[error("cannot start a pipeline thread: {0}")]
    Thread(#[from] std::io::Error),
    #[error("a pipeline thread panicked: {0}; the checkpoint did not move past unstored batches")]
    Panicked(&'static str),
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// The decrypt thread pool (`threads` = 0: all cores).
pub fn decode_pool(threads: usize) -> Result<rayon::ThreadPool, PipelineError> {
    let n = if threads == 0 {
        std::thread::available_parallelism().map_or(2, usize::from)
    } else {
        threads
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("decode-{i}"))
        .build()
        .map_err(|e| PipelineError::Pool(e.to_string()))
}

/// What the pipeline runs with: the parts a daemon builds once and hands over.
pub struct Parts<'a> {
    pub lib: &'a FinanceLibrary,
    pub decryptor: Decryptor,
    /// The RSA implementation of the decode stage.
    pub rsa: crate::sdk::RsaBackend,
    pub store: Arc<dyn Store>,
    pub audit: Arc<dyn AuditStage>,
    pub stats: Arc<Stats>,
    pub shutdown: Shutdown,
    /// Corps added and removed while running (None: the corps given are all there will be).
    pub changes: Option<crossbeam_channel::Receiver<CorpChange>>,
    /// The corps given are only known (their spooled batches are stored) and none is pulled
    /// until `changes` adds it: a coordinator hands corps over.
    pub idle_at_start: bool,
    /// In a fleet: the time until which the pullers may call the SDK (the lease's, less a margin).
    pub fence: Option<crate::runtime::PullFence>,
}

/// Runs the pipeline over `corps` until shutdown (or, with `settings.pull.once`, until every corp
/// is drained).
pub fn run(
    parts: Parts<'_>,
    corps: &[Corp],
    settings: &PipelineSettings,
) -> Result<RunSummary, PipelineError> {
    let started = Instant::now();
    let stats = parts.stats.clone();
    let spool = settings.spool.clone().map(Spool::open).transpose()?;
    let stored = stored_seqs(parts.store.as_ref(), corps, spool.as_ref())?;
    if let Some(spool) = &spool {
        check_spool(spool, &stored, corps, &stats)?;
    }
    let opened = open_corps(&parts, corps, &stored, spool.as_ref());
    let threads = stages::spawn(parts, settings, spool.as_ref(), opened, stored)?;
    let (abandoned_batches, failures) = threads.join()?;
    if let Some(spool) = &spool {
        spool.tidy()?;
        Stats::set(&stats.spool_bytes, spool.backlog_bytes());
    }
    Ok(RunSummary {
        elapsed: started.elapsed(),
        abandoned_batches,
        failures,
    })
}

/// The stored checkpoint of every configured corp, and of every corp the spool holds batches of.
fn stored_seqs(
    store: &dyn Store,
    corps: &[Corp],
    spool: Option<&Spool>,
) -> Result<HashMap<String, u64>, PipelineError> {
    let spooled = spool.map(|s| s.recovered().corps.keys().cloned().collect::<Vec<_>>());
    let mut ids: Vec<String> = corps
        .iter()
        .map(|c| c.corp_id.clone())
        .chain(spooled.into_iter().flatten())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    // One query for every corp (thousands of corps start in seconds on ClickHouse too).
    let found = store
        .checkpoints(&ids)
        .map_err(|source| PipelineError::Checkpoint {
            corp_id: match ids.as_slice() {
                [one] => one.clone(),
                _ => format!(
                    "{} and {} more",
                    ids.first().map_or("", String::as_str),
                    ids.len().saturating_sub(1)
                ),
            },
            source,
        })?;
    Ok(ids
        .into_iter()
        .map(|id| {
            let seq = found.get(&id).copied().unwrap_or(0);
            (id, seq)
        })
        .collect())
}

/// Checks what a previous run left in the spool against the store (no gap, no unconfigured corp).
fn check_spool(
    spool: &Spool,
    stored: &HashMap<String, u64>,
    corps: &[Corp],
    stats: &Stats,
) -> Result<(), PipelineError> {
    let found = spool.recovered();
    found.check_against(&|c| stored.get(c).copied().unwrap_or(0), &|c| {
        corps.iter().any(|k| k.corp_id == c)
    })?;
    let waiting = found.bytes();
    if waiting > 0 {
        tracing::info!(dir = %found.dir.display(), bytes = waiting, batches = found.records.len(),
            "spool: replaying batches a previous run left, before pulling on");
    }
    Stats::set(&stats.spool_limit_bytes, spool.settings().max_bytes);
    Ok(())
}

/// Every corp with where pulling resumes (its SDK session opens at its first call).
struct OpenedCorps {
    cursors: Vec<CorpCursor>,
    registry: Registry,
}

fn open_corps(
    parts: &Parts<'_>,
    corps: &[Corp],
    stored: &HashMap<String, u64>,
    spool: Option<&Spool>,
) -> OpenedCorps {
    let registry = Registry::default();
    let mut cursors = Vec::with_capacity(corps.len());
    for c in corps {
        let from = stored.get(&c.corp_id).copied().unwrap_or(0);
        // Pulling resumes after what is spooled, which may be ahead of what is stored.
        let spooled = spool
            .and_then(|s| s.recovered().corps.get(&c.corp_id))
            .map_or(0, |s| s.checkpoint);
        let pull_from = from.max(spooled);
        let context = registry.context(c, pull_from);
        tracing::debug!(corp = %c.corp_id, stored_seq = from, from_seq = pull_from, "corp starts");
        parts.stats.corp(&c.corp_id, |s| {
            s.stored_seq = from;
            s.pulled_seq = pull_from;
            s.removed = parts.idle_at_start;
        });
        if !parts.idle_at_start {
            cursors.push(CorpCursor::new(context, c.secret.clone(), pull_from));
        }
    }
    tracing::info!(
        corps = corps.len(),
        "corps start (each one's SDK session opens at its first pull)"
    );
    OpenedCorps { cursors, registry }
}
