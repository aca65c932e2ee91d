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
//! keeps checkpoints monotonic. Shutdown ([`Shutdown`]) stops the pullers between calls; the stages
//! then drain what is queued, and what is spooled but unstored waits for the next start.

pub mod audit;
mod decode;
mod puller;
mod retry;
mod shutdown;
mod spooling;
mod stats;
mod writer;

pub use decode::{decode_batch, decode_message};
pub use puller::{CorpFailure, PullSettings};
pub use shutdown::Shutdown;
pub use spooling::RETENTION_MS;
pub use stats::{CorpStats, Stats};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit::AuditStage;
use puller::CorpCursor;

use crate::config::CorpConfig;
use crate::sdk::{Decryptor, EncryptedMessage, FinanceLibrary, KeyRing, NetworkOptions, SdkError};
use crate::spool::{Position, Spool, SpoolError, SpoolSettings};
use crate::store::{Store, StoreBatch, StoreError};

/// A corp as the stages see it.
#[derive(Debug)]
pub struct CorpContext {
    pub corp_id: String,
    pub keys: Arc<KeyRing>,
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
    #[error("corp {corp_id}: SDK Init failed: {source}")]
    Init {
        corp_id: String,
        #[source]
        source: SdkError,
    },
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

/// Runs the pipeline over `corps` until `shutdown` (or, with `settings.pull.once`, until every corp
/// is drained).
#[allow(clippy::too_many_arguments)]
pub fn run(
    lib: &FinanceLibrary,
    decryptor: Decryptor,
    store: Arc<dyn Store>,
    corps: &[CorpConfig],
    settings: &PipelineSettings,
    audit: Arc<dyn AuditStage>,
    stats: Arc<Stats>,
    shutdown: Shutdown,
) -> Result<RunSummary, PipelineError> {
    let started = Instant::now();
    let spool = settings.spool.clone().map(Spool::open).transpose()?;
    let mut cursors = Vec::with_capacity(corps.len());
    let mut stored = HashMap::new();
    let mut contexts = HashMap::new();
    for c in corps {
        let from = store
            .checkpoint(&c.corp_id)
            .map_err(|source| PipelineError::Checkpoint {
                corp_id: c.corp_id.clone(),
                source,
            })?
            .unwrap_or(0);
        stored.insert(c.corp_id.clone(), from);
    }
    if let Some(spool) = &spool {
        let found = spool.recovered();
        let others: Vec<String> = found
            .corps
            .keys()
            .filter(|c| !stored.contains_key(*c))
            .cloned()
            .collect();
        for corp_id in &others {
            let from = store
                .checkpoint(corp_id)
                .map_err(|source| PipelineError::Checkpoint {
                    corp_id: corp_id.clone(),
                    source,
                })?;
            stored.insert(corp_id.clone(), from.unwrap_or(0));
        }
        found.check_against(&|c| stored.get(c).copied().unwrap_or(0), &|c| {
            corps.iter().any(|k| k.corp_id == c)
        })?;
        let waiting = found.bytes();
        if waiting > 0 {
            tracing::info!(dir = %found.dir.display(), bytes = waiting, batches = found.records.len(),
                "spool: replaying batches a previous run left, before pulling on");
        }
        Stats::set(&stats.spool_limit_bytes, spool.settings().max_bytes);
    }
    for c in corps {
        let from = stored.get(&c.corp_id).copied().unwrap_or(0);
        // Pulling resumes after what is spooled, which may be ahead of what is stored.
        let spooled = spool
            .as_ref()
            .and_then(|s| s.recovered().corps.get(&c.corp_id))
            .map_or(0, |s| s.checkpoint);
        let pull_from = from.max(spooled);
        let session = lib
            .session(&c.corp_id, &c.secret, &settings.network)
            .map_err(|source| PipelineError::Init {
                corp_id: c.corp_id.clone(),
                source,
            })?;
        let context = Arc::new(CorpContext {
            corp_id: c.corp_id.clone(),
            keys: c.keys.clone(),
        });
        contexts.insert(c.corp_id.clone(), context.clone());
        tracing::info!(corp = %c.corp_id, stored_seq = from, from_seq = pull_from, "corp starts");
        stats.corp(&c.corp_id, |s| {
            s.stored_seq = from;
            s.pulled_seq = pull_from;
        });
        cursors.push(CorpCursor::new(context, session, pull_from));
    }
    let workers = match settings.pull.pull.workers {
        0 => cursors.len().clamp(1, 8),
        n => n.min(cursors.len().max(1)),
    };
    let mut shares: Vec<Vec<CorpCursor>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, c) in cursors.into_iter().enumerate() {
        shares[i % workers].push(c);
    }
    let pool = Arc::new(decode_pool(settings.threads)?);
    let queue = settings.queue_batches.max(1);
    let (pulled_tx, pulled_rx) = crossbeam_channel::bounded::<PulledBatch>(queue);
    let (decoded_tx, decoded_rx) = crossbeam_channel::bounded::<DecodedBatch>(queue);
    let failure = spooling::SpoolFailure::default();

    let writer = {
        let (store, stats, shutdown) = (store.clone(), stats.clone(), shutdown.clone());
        let backoff = settings.max_store_backoff;
        let acker = spool.as_ref().map(Spool::acker);
        std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || {
                writer::run_writer_stage(store, stats, shutdown, decoded_rx, backoff, acker)
            })?
    };
    // With a spool: pullers → appender ⇢ files ⇢ reader → decode. Without: pullers → decode.
    let (decode_rx, spool_threads) = match &spool {
        Some(spool) => {
            let (spooled_tx, spooled_rx) = crossbeam_channel::bounded::<PulledBatch>(queue);
            let appender = {
                let (appender, stats, shutdown) =
                    (spool.appender(), stats.clone(), shutdown.clone());
                let limit = spool.settings().max_bytes;
                std::thread::Builder::new()
                    .name("spool-append".into())
                    .spawn(move || {
                        spooling::run_appender_stage(appender, limit, stats, shutdown, pulled_rx)
                    })?
            };
            let reader = {
                let stage = spooling::ReaderStage {
                    reader: spool.reader(),
                    acker: spool.acker(),
                    dir: spool.settings().dir.clone(),
                    corps: contexts,
                    stored,
                    recovered: spool.recovered().records.len(),
                };
                let (stats, shutdown, failure) = (stats.clone(), shutdown.clone(), failure.clone());
                std::thread::Builder::new()
                    .name("spool-read".into())
                    .spawn(move || {
                        spooling::run_reader_stage(stage, stats, shutdown, failure, spooled_tx)
                    })?
            };
            (
                spooled_rx,
                vec![("spool appender", appender), ("spool reader", reader)],
            )
        }
        None => (pulled_rx, Vec::new()),
    };
    let decoder = {
        let stats = stats.clone();
        std::thread::Builder::new()
            .name("decode".into())
            .spawn(move || {
                decode::run_decode_stage(pool, decryptor, audit, stats, decode_rx, decoded_tx)
            })?
    };
    let spooled = spool.is_some();
    let mut pullers = Vec::new();
    for (i, share) in shares.into_iter().enumerate() {
        let (tx, stats, shutdown, pull) = (
            pulled_tx.clone(),
            stats.clone(),
            shutdown.clone(),
            settings.pull.clone(),
        );
        pullers.push(
            std::thread::Builder::new()
                .name(format!("pull-{i}"))
                .spawn(move || puller::run_puller(share, pull, stats, shutdown, tx, spooled))?,
        );
    }
    drop(pulled_tx);
    let mut failures = Vec::new();
    let mut panicked = None;
    for p in pullers {
        match p.join() {
            Ok(f) => failures.extend(f),
            Err(_) => panicked = Some("puller"),
        }
    }
    for (name, t) in spool_threads {
        if t.join().is_err() {
            panicked = Some(name);
        }
    }
    if decoder.join().is_err() {
        panicked = Some("decode");
    }
    let abandoned_batches = match writer.join() {
        Ok(n) => n,
        Err(_) => {
            panicked = Some("writer");
            0
        }
    };
    if let Some(stage) = panicked {
        return Err(PipelineError::Panicked(stage));
    }
    if let Some(e) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(e.into());
    }
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
