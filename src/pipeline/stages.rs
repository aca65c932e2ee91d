//! Starting the pipeline's threads and joining them: the writer, the spool's appender and reader
//! (when there is a spool), the decode thread, the pullers and (when corps may change while
//! running) the router that hands them added and removed corps, joined by bounded channels.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::corps::{Pullers, Router};
use super::puller::{self, CorpCursor, Puller};
use super::{
    CorpFailure, DecodedBatch, OpenedCorps, Parts, PipelineError, PipelineSettings, PulledBatch,
    decode, decode_pool, spooling, writer,
};
use crate::spool::Spool;

/// The running threads.
pub(super) struct Running {
    pullers: Vec<JoinHandle<Vec<CorpFailure>>>,
    router: Option<JoinHandle<()>>,
    spool: Vec<(&'static str, JoinHandle<()>)>,
    decoder: JoinHandle<()>,
    writer: JoinHandle<u64>,
    failure: spooling::SpoolFailure,
}

fn thread<T: Send + 'static>(
    name: impl Into<String>,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<JoinHandle<T>> {
    std::thread::Builder::new().name(name.into()).spawn(f)
}

/// Shares the corps' cursors among `workers` puller threads (0: one per corp, at most 8; when corps
/// may be added while running, 8).
fn shares(cursors: Vec<CorpCursor>, workers: usize, changing: bool) -> Vec<Vec<CorpCursor>> {
    let workers = match (workers, changing) {
        (0, true) => 8,
        (0, false) => cursors.len().clamp(1, 8),
        (n, true) => n,
        (n, false) => n.min(cursors.len().max(1)),
    };
    let mut shares: Vec<Vec<CorpCursor>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, c) in cursors.into_iter().enumerate() {
        shares[i % workers].push(c);
    }
    shares
}

/// Starts every stage. With a spool: pullers → appender ⇢ files ⇢ reader → decode → writer.
/// Without: pullers → decode → writer.
pub(super) fn spawn(
    parts: Parts<'_>,
    settings: &PipelineSettings,
    spool: Option<&Spool>,
    opened: OpenedCorps,
    stored: HashMap<String, u64>,
) -> Result<Running, PipelineError> {
    let Parts {
        lib,
        decryptor,
        rsa,
        store,
        audit,
        stats,
        shutdown,
        changes,
        idle_at_start: _,
        fence,
    } = parts;
    let pool = Arc::new(decode_pool(settings.threads)?);
    let queue = settings.queue_batches.max(1);
    // With a spool the appender takes many small batches per fsync; it needs them queued.
    let pulled_queue = if spool.is_some() {
        queue.max(spooling::APPEND_QUEUE)
    } else {
        queue
    };
    let (pulled_tx, pulled_rx) = crossbeam_channel::bounded::<PulledBatch>(pulled_queue);
    let (decoded_tx, decoded_rx) = crossbeam_channel::bounded::<DecodedBatch>(queue);
    let failure = spooling::SpoolFailure::default();

    let writer = {
        let (stats, shutdown, store) = (stats.clone(), shutdown.clone(), store.clone());
        let backoff = settings.max_store_backoff;
        let acker = spool.map(Spool::acker);
        thread("writer", move || {
            writer::run_writer_stage(store, stats, shutdown, decoded_rx, backoff, acker)
        })?
    };
    let (decode_rx, spool_threads) = match spool {
        Some(spool) => {
            let (spooled_tx, spooled_rx) = crossbeam_channel::bounded::<PulledBatch>(queue);
            let appender = {
                let (appender, stats, shutdown) =
                    (spool.appender(), stats.clone(), shutdown.clone());
                let limit = spool.settings().max_bytes;
                thread("spool-append", move || {
                    spooling::run_appender_stage(appender, limit, stats, shutdown, pulled_rx)
                })?
            };
            let stage = spooling::ReaderStage {
                reader: spool.reader(),
                acker: spool.acker(),
                dir: spool.settings().dir.clone(),
                corps: opened.registry.clone(),
                stored,
                recovered: spool.recovered().records.len(),
            };
            let reader = {
                let (stats, shutdown, failure) = (stats.clone(), shutdown.clone(), failure.clone());
                thread("spool-read", move || {
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
        thread("decode", move || {
            decode::run_decode_stage(pool, decryptor, rsa, audit, stats, decode_rx, decoded_tx)
        })?
    };
    let spooled = spool.is_some();
    let mut pullers = Vec::new();
    let mut inboxes = Vec::new();
    let mut owner = HashMap::new();
    for (i, share) in shares(
        opened.cursors,
        settings.pull.pull.workers,
        changes.is_some(),
    )
    .into_iter()
    .enumerate()
    {
        for c in &share {
            owner.insert(c.corp.corp_id.clone(), i);
        }
        let inbox = changes.as_ref().map(|_| {
            let (tx, rx) = crossbeam_channel::unbounded();
            inboxes.push(tx);
            rx
        });
        let puller = Puller {
            lib: lib.clone(),
            network: settings.network.clone(),
            settings: settings.pull.clone(),
            stats: stats.clone(),
            shutdown: shutdown.clone(),
            output: pulled_tx.clone(),
            inbox,
            spooled,
            fence: fence.clone(),
        };
        pullers.push(thread(format!("pull-{i}"), move || {
            puller::run_puller(share, puller)
        })?);
    }
    let router = match changes {
        Some(changes) => {
            let router = Router {
                registry: opened.registry,
                store,
                stats: stats.clone(),
                shutdown: shutdown.clone(),
            };
            let pullers = Pullers { inboxes, owner };
            Some(thread("corps", move || router.run(changes, pullers))?)
        }
        None => None,
    };
    Ok(Running {
        pullers,
        router,
        spool: spool_threads,
        decoder,
        writer,
        failure,
    })
}

impl Running {
    /// Waits for every stage (pullers first: closing their channel is how the stages after them
    /// learn they are done). Returns the batches abandoned at shutdown and the corps that failed.
    pub(super) fn join(self) -> Result<(u64, Vec<CorpFailure>), PipelineError> {
        let mut failures = Vec::new();
        let mut panicked = None;
        // The router ends at shutdown; its inboxes closing lets idle pullers end too.
        if let Some(r) = self.router
            && r.join().is_err()
        {
            panicked = Some("corps router");
        }
        for p in self.pullers {
            match p.join() {
                Ok(f) => failures.extend(f),
                Err(_) => panicked = Some("puller"),
            }
        }
        for (name, t) in self.spool {
            if t.join().is_err() {
                panicked = Some(name);
            }
        }
        if self.decoder.join().is_err() {
            panicked = Some("decode");
        }
        let abandoned = self.writer.join().unwrap_or_else(|_| {
            panicked = Some("writer");
            0
        });
        if let Some(stage) = panicked {
            return Err(PipelineError::Panicked(stage));
        }
        if let Some(e) = self
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(e.into());
        }
        Ok((abandoned, failures))
    }
}
