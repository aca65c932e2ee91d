//! The two stages around the spool, each on a thread of its own:
//!
//! - the **appender stage** takes pulled batches from the pullers, waits while the spool is at its
//!   limit (the pullers then block: pulling pauses), and makes each group of batches durable with
//!   one fsync; only then does a corp's `pulled_seq` move. While paused it tells the operator,
//!   every 30 s, how far behind each corp is against WeCom's 5-day retention. A failed write (disk
//!   full, say) is retried with back-off, never dropped.
//! - the **reader stage** hands spooled batches to the decode stage in spool order, first the ones a
//!   previous run left unstored. A batch the store already has (its checkpoint is not beyond the
//!   corp's) is released at once, not decoded again. Damage stops the pipeline with the file and
//!   offset.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::{PulledBatch, Registry};
use crate::runtime::Shutdown;
use crate::runtime::Stats;
use crate::spool::record::SpoolRecord;
use crate::spool::{Acker, Appender, ReadOutcome, Reader, SpoolError};
use crate::timefmt::now_ms;

/// Batches made durable by one fsync, at most: a fleet of small corps hands on many small
/// batches, and one fsync each would cap pulling at the disk's fsyncs per second.
const GROUP: usize = 64;

/// Messages made durable by one fsync, at most (a few full batches: memory stays bounded).
const GROUP_MESSAGES: usize = 4_000;

/// Batches that may wait for the appender (the pullers block beyond): enough for a whole group.
pub const APPEND_QUEUE: usize = GROUP;

/// How often a paused appender repeats its warning.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(30);

fn record(batch: PulledBatch, pulled_at_ms: i64) -> SpoolRecord {
    SpoolRecord {
        corp_id: batch.corp.corp_id.clone(),
        from_seq: batch.from_seq,
        checkpoint: batch.checkpoint,
        pulled_at_ms,
        count: u32::try_from(batch.messages.len()).unwrap_or(u32::MAX),
        messages: batch.messages.into_iter().map(Into::into).collect(),
    }
}

/// Tells the operator that pulling is paused, and how far behind the corps furthest behind are.
fn warn_full(stats: &Stats, limit: u64) {
    let now = now_ms();
    tracing::warn!(
        spool_bytes = Stats::get(&stats.spool_bytes),
        limit_bytes = limit,
        "spool full: pulling is paused until the store takes batches again (check the store; raise [spool] max_mb if the disk allows)"
    );
    let mut corps: Vec<_> = stats
        .corps()
        .into_iter()
        .map(|(corp, c)| {
            let lag = c.lag(now);
            (corp, c, lag)
        })
        .collect();
    // Furthest behind first; a corp whose lag is not known yet comes last.
    corps.sort_by_key(|(_, _, lag)| std::cmp::Reverse(lag.oldest_unpulled_ms.unwrap_or(-1)));
    let hours = |ms: i64| format!("{:.1}", ms as f64 / 3_600_000.0);
    for (corp, c, lag) in corps.iter().take(5) {
        let (behind, left) = match (lag.oldest_unpulled_ms, lag.retention_left_ms()) {
            (Some(age), Some(left)) => (hours(age), hours(left)),
            _ => ("unknown (not pulled yet)".to_owned(), "unknown".to_owned()),
        };
        tracing::warn!(
            corp = %corp,
            state = lag.state.as_str(),
            pulled_seq = c.pulled_seq,
            stored_seq = c.stored_seq,
            behind_hours = behind,
            retention_left_hours = left,
            "corp not pulling while the spool is full: messages older than WeCom's 5-day retention are lost"
        );
    }
}

/// The appender stage: runs until the pullers hang up, then closes the spool for writing.
pub fn run_appender_stage(
    mut appender: Appender,
    limit: u64,
    stats: Arc<Stats>,
    shutdown: Shutdown,
    input: Receiver<PulledBatch>,
) {
    let mut group: Vec<PulledBatch> = Vec::with_capacity(GROUP);
    // One warning per FULL_WARNING_EVERY, however often a store that is slow (not down) lets the
    // spool fill again.
    let mut warned: Option<Instant> = None;
    while let Ok(first) = input.recv() {
        let mut messages = first.messages.len();
        group.push(first);
        while group.len() < GROUP && messages < GROUP_MESSAGES {
            match input.try_recv() {
                Ok(b) => {
                    messages += b.messages.len();
                    group.push(b);
                }
                Err(_) => break,
            }
        }
        while !appender.wait_for_room(Duration::from_millis(200)) && !shutdown.is_requested() {
            Stats::set(&stats.spool_full, 1);
            if warned.is_none_or(|w| w.elapsed() >= FULL_WARNING_EVERY) {
                warn_full(&stats, limit);
                warned = Some(Instant::now());
            }
        }
        Stats::set(&stats.spool_full, 0);
        if shutdown.is_requested() {
            // Not durable, so not pulled: the next start pulls these again.
            group.clear();
            continue;
        }
        let pulled_at = now_ms();
        let records: Vec<SpoolRecord> = group.drain(..).map(|b| record(b, pulled_at)).collect();
        let mut durable = false;
        let mut attempt: u32 = 0;
        loop {
            let started = Instant::now();
            match appender.append(&records) {
                Ok(bytes) => {
                    Stats::add_time(&stats.spool_nanos, started.elapsed());
                    Stats::add(&stats.spool_written_bytes, bytes);
                    Stats::add(&stats.spool_records, records.len() as u64);
                    Stats::set(&stats.spool_bytes, appender.backlog_bytes());
                    durable = true;
                    break;
                }
                Err(e) => {
                    attempt += 1;
                    Stats::add(&stats.spool_errors, 1);
                    let wait = crate::runtime::backoff(
                        Duration::from_millis(400),
                        attempt,
                        Duration::from_secs(30),
                    );
                    tracing::error!(error = %e, attempt, retry_in_ms = wait.as_millis() as u64,
                        "cannot write the spool; pulling waits (free disk space or fix permissions)");
                    if !shutdown.sleep(wait) {
                        break;
                    }
                }
            }
        }
        if durable {
            // Pulled now: the batches survive a crash.
            for r in &records {
                stats.corp(&r.corp_id, |c| {
                    c.pulled_seq = c.pulled_seq.max(r.checkpoint)
                });
            }
        }
    }
    appender.close();
}

/// Where the reader stage stops on damage.
pub type SpoolFailure = Arc<Mutex<Option<SpoolError>>>;

/// What the reader stage works from.
pub struct ReaderStage {
    pub reader: Reader,
    pub acker: Acker,
    pub dir: std::path::PathBuf,
    /// Every corp's context (those added while running too).
    pub corps: Registry,
    /// Each corp's stored checkpoint when the run began.
    pub stored: HashMap<String, u64>,
    /// Records a previous run left (read first).
    pub recovered: usize,
}

/// The reader stage: runs until the spool is closed and read (or shutdown, leaving the rest for the
/// next start).
pub fn run_reader_stage(
    stage: ReaderStage,
    stats: Arc<Stats>,
    shutdown: Shutdown,
    failure: SpoolFailure,
    output: Sender<PulledBatch>,
) {
    let ReaderStage {
        mut reader,
        acker,
        dir,
        corps,
        mut stored,
        mut recovered,
    } = stage;
    let fail = |e: SpoolError| {
        tracing::error!(error = %e, "the spool cannot be read; the daemon stops");
        *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        shutdown.request();
    };
    while !shutdown.is_requested() {
        let (at, record) = match reader.next(Duration::from_millis(100)) {
            Ok(ReadOutcome::Record(at, r)) => (at, r),
            Ok(ReadOutcome::Waiting) => continue,
            Ok(ReadOutcome::Finished) => break,
            Err(e) => return fail(e),
        };
        let replay = recovered > 0;
        recovered = recovered.saturating_sub(1);
        let last = stored.entry(record.corp_id.clone()).or_insert(0);
        if record.checkpoint <= *last {
            // Stored before a restart (or written twice after a failed write): release it.
            if let Some(corp) = corps.get(&record.corp_id) {
                corp.done(record.from_seq);
            }
            if let Err(e) = acker.stored(at) {
                tracing::warn!(error = %e, "cannot delete a stored spool segment; trying again after the next batch");
            }
            continue;
        }
        *last = record.checkpoint;
        let Some(corp) = corps.get(&record.corp_id) else {
            return fail(SpoolError::UnknownCorp {
                dir,
                corp_id: record.corp_id,
                batches: 1,
                from_seq: record.from_seq,
                checkpoint: record.checkpoint,
            });
        };
        if replay {
            Stats::add(&stats.spool_replayed, 1);
        }
        let batch = PulledBatch {
            corp: corp.clone(),
            from_seq: record.from_seq,
            checkpoint: record.checkpoint,
            messages: record.messages.into_iter().map(Into::into).collect(),
            spool: Some(at),
        };
        if output.send(batch).is_err() {
            tracing::error!("the decode stage stopped; the rest stays in the spool");
            return;
        }
    }
}
