//! The writer stage: stores each decoded batch (messages, dead letters and the checkpoint in one
//! durable step) in the order the corp's batches were pulled. A failing store is retried with
//! back-off for as long as it takes — a batch is never skipped — unless shutdown is requested, in
//! which case the unstored batch is abandoned with its checkpoint unmoved: it stays in the spool and
//! is stored next start (without a spool, it is pulled again). Each stored batch is released from
//! the spool, so that its segment can go.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::DecodedBatch;
use crate::runtime::Shutdown;
use crate::runtime::Stats;
use crate::spool::Acker;
use crate::store::Store;

/// Runs until the decode stage hangs up. Returns the number of batches abandoned at shutdown.
pub fn run_writer_stage(
    store: Arc<dyn Store>,
    stats: Arc<Stats>,
    shutdown: Shutdown,
    input: Receiver<DecodedBatch>,
    max_backoff: Duration,
    spool: Option<Acker>,
) -> u64 {
    let mut abandoned = 0;
    // Corps with an abandoned batch: their later batches must not move the checkpoint past it.
    let mut stalled = std::collections::HashSet::new();
    for decoded in input {
        let corp_id = decoded.corp.corp_id.clone();
        // Stored or abandoned, the batch no longer holds its corp's pulling back.
        let _done = Done(&decoded.corp, decoded.from_seq);
        if stalled.contains(&corp_id) {
            abandoned += 1;
            continue;
        }
        let batch = decoded.store;
        let mut attempt: u32 = 0;
        loop {
            let started = Instant::now();
            match store.store_batch(&batch) {
                Ok(outcome) => {
                    Stats::set(&stats.store_down, 0);
                    Stats::add_time(&stats.store_nanos, started.elapsed());
                    Stats::add(&stats.stored, outcome.inserted);
                    Stats::add(&stats.duplicates, outcome.duplicates);
                    Stats::add(&stats.hits, outcome.hits);
                    Stats::add(&stats.act_hits, outcome.act_hits);
                    for d in &batch.dead_letters {
                        Stats::add(stats.dead_of(d.reason), 1);
                    }
                    if let Some(oldest) = batch.messages.iter().map(|m| m.msg_time).min() {
                        // Their media jobs are among what the fetchers' next look must read.
                        stats.media.note_stored(oldest);
                    }
                    let newest = batch.messages.iter().map(|m| m.msg_time).max();
                    let span = batch
                        .messages
                        .first()
                        .zip(batch.messages.last())
                        .map(|(a, b)| ((a.seq, a.msg_time), (b.seq, b.msg_time)));
                    stats.corp(&corp_id, |c| {
                        c.stored_seq = c.stored_seq.max(batch.checkpoint);
                        c.stored += outcome.inserted;
                        c.newest_stored_ms = c.newest_stored_ms.max(newest.unwrap_or(0));
                        if let Some((first, last)) = span {
                            c.note_rate(first, last);
                        }
                        for d in &batch.dead_letters {
                            *c.dead.entry(d.reason.as_str()).or_default() += 1;
                        }
                    });
                    tracing::debug!(corp = %corp_id, checkpoint = batch.checkpoint, inserted = outcome.inserted,
                        dead = batch.dead_letters.len(), "batch stored");
                    if let (Some(acker), Some(at)) = (&spool, decoded.spool) {
                        match acker.stored(at) {
                            Ok(waiting) => Stats::set(&stats.spool_bytes, waiting),
                            Err(e) => tracing::warn!(error = %e,
                                "cannot delete a stored spool segment; trying again after the next batch"),
                        }
                    }
                    break;
                }
                Err(e) => {
                    attempt += 1;
                    Stats::add(&stats.store_retries, 1);
                    Stats::set(&stats.store_down, 1);
                    let wait =
                        crate::runtime::backoff(Duration::from_millis(200), attempt, max_backoff);
                    tracing::warn!(corp = %corp_id, checkpoint = batch.checkpoint, attempt, error = %e,
                        "storing a batch failed; retrying (check the store's disk, permissions, or server)");
                    if !shutdown.sleep(wait) {
                        tracing::warn!(corp = %corp_id, checkpoint = batch.checkpoint,
                            "shutdown with a batch unstored; its checkpoint was not moved, it is stored (or pulled again) next start");
                        abandoned += 1;
                        stalled.insert(corp_id.clone());
                        break;
                    }
                }
            }
        }
    }
    abandoned
}

/// Marks a batch done for its corp's in-flight count when dropped (after the batch is handled).
struct Done<'a>(&'a super::CorpContext, u64);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.done(self.1);
    }
}
