//! The media fetchers: a dispatcher and a bounded pool of workers beside the pipeline, each worker
//! with its own SDK sessions (one per corp, never shared), taking due jobs oldest message first so
//! that what expires soonest is fetched first. The text pipeline never waits for them: jobs are
//! rows in the store, and the fetchers only read and update those rows.
//!
//! Exactly once: the dispatcher hands a job to one worker at a time (an in-memory in-flight set; a
//! page of due jobs skips every job that was in flight when the page was read); a worker stores
//! the file (content-addressed, so a second put of the same file changes nothing), then any
//! 发送二维码 hit (idempotent), then hands the outcome to the recorder, which writes the outcomes
//! of many jobs in one durable step (one fsync, not one per file) and only then lets the jobs out
//! of the in-flight set. A crash before the outcome is recorded leaves the job pending, and it is
//! simply fetched again.
//!
//! Text first: the fetchers run at the lowest CPU priority (`SCHED_IDLE` by default, inherited by
//! ffmpeg), so while the pipeline is busy they take only the CPU it leaves, and catch up when it
//! idles.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender};

use super::due_window::{DueWindow, Look};
use super::fetch::{Attempt, AttemptContext, AttemptPolicy, attempt};
use super::object::MediaStore;
use super::voice::Transcoder;
use crate::audit::Auditor;
use crate::message::{MediaKind, MessageRow, is_external_chat};
use crate::runtime::{Shutdown, Stats};
use crate::sdk::{FinanceLibrary, NetworkOptions, Session};
use crate::secret::Secret;
use crate::store::{ActHitRow, MediaJob, MediaJobKey, MediaOutcome, Store};
use crate::timefmt::now_ms;

/// How the fetchers run.
#[derive(Debug, Clone)]
pub struct FetcherSettings {
    /// Concurrent downloads (workers), at least 1.
    pub concurrency: usize,
    /// Bytes of media at which fetching pauses (None: no limit).
    pub quota_bytes: Option<u64>,
    /// How often to look for due jobs when there were none; while nothing new is stored either,
    /// the wait doubles up to [`IDLE_POLL_FACTOR`] times this ([`IdleWait`]).
    pub poll: Duration,
    pub policy: AttemptPolicy,
    /// The fetcher threads' priority: 19 = `SCHED_IDLE`, 1–18 a nice value, 0 = the daemon's own.
    pub nice: i32,
    /// The shortest time between looks over every pending job ([`DueWindow`]).
    pub full_look: Duration,
}

impl Default for FetcherSettings {
    fn default() -> Self {
        FetcherSettings {
            concurrency: 4,
            quota_bytes: None,
            poll: Duration::from_millis(500),
            policy: AttemptPolicy::default(),
            nice: 19,
            full_look: super::due_window::MIN_FULL_LOOK_INTERVAL,
        }
    }
}

/// Outcomes recorded in one durable step, at most.
const RECORD_BATCH: usize = 256;

/// The longest wait between looks for due jobs while the daemon is idle, in polls.
pub const IDLE_POLL_FACTOR: u32 = 16;

/// How long the dispatcher waits before looking for due jobs again after finding none.
///
/// New jobs come with newly stored messages, so while the pipeline stores nothing the wait
/// doubles from the poll interval up to [`IDLE_POLL_FACTOR`] times it (8 s by default): a look is
/// a query over the jobs of the corps from where the pending ones start ([`DueWindow`]), which on
/// ClickHouse still reads the time of every job (0.39 s of the server's time at 10,000,000 jobs),
/// and an idle daemon looking twice a second kept most of a server core busy. Once
/// anything is stored, or ingestion is over (`--once`, which should end promptly), it is back to
/// the poll interval. Only retries that come due and jobs an operator re-queues wait longer, by at
/// most the longest wait.
#[derive(Debug)]
struct IdleWait {
    poll: Duration,
    next: Duration,
    /// The pipeline's stored-messages counter when last looked at.
    stored: u64,
}

impl IdleWait {
    fn new(poll: Duration) -> IdleWait {
        IdleWait {
            poll,
            next: poll,
            stored: 0,
        }
    }

    /// The wait after a look that found nothing, given the stored-messages counter now.
    fn after_nothing(&mut self, stored: u64, ingest_done: bool) -> Duration {
        if stored != self.stored || ingest_done {
            self.stored = stored;
            self.next = self.poll;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(self.poll * IDLE_POLL_FACTOR);
        wait
    }

    /// Something was due: look again at the poll interval next time nothing is.
    fn found(&mut self) {
        self.next = self.poll;
    }
}

/// Lowers the calling thread's CPU priority (Linux: per thread; children such as ffmpeg inherit
/// it): `SCHED_IDLE` for 19, which runs only on CPU time nothing else wants, else the nice value.
fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    // SAFETY: gettid takes no arguments; sched_setscheduler and setpriority only read their
    // arguments (a zeroed sched_param is valid for SCHED_IDLE), and with a thread id they change
    // that thread alone.
    let failed = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::pid_t;
        if nice >= 19 {
            let param: libc::sched_param = std::mem::zeroed();
            libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param) != 0
        } else {
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) != 0
        }
    };
    if failed {
        tracing::debug!(
            nice,
            "cannot lower the media fetchers' priority; they run at the daemon's"
        );
    }
}

/// A job's outcome on its way to the recorder.
type Recorded = (MediaJob, MediaOutcome);

/// The current audit rules, for the QR behaviour (the daemon passes its live rules).
pub type CurrentRules = Arc<dyn Fn() -> Arc<Auditor> + Send + Sync>;

/// What the fetchers need.
pub struct FetcherParts {
    pub lib: FinanceLibrary,
    pub network: NetworkOptions,
    /// The corps whose media to fetch: each one's archive secret, by corp id (replaced as corps
    /// come and go). Jobs of other corps wait in the store.
    pub corps: crate::runtime::Shared<HashMap<String, Secret>>,
    pub store: Arc<dyn Store>,
    pub media: Arc<dyn MediaStore>,
    pub rules: CurrentRules,
    pub transcoder: Transcoder,
    pub stats: Arc<Stats>,
    /// Stops the fetchers (a signal, or the daemon stopping).
    pub shutdown: Shutdown,
    /// Set once no more jobs can arrive (once mode: the pipeline is done); the fetchers then stop
    /// when nothing is pending.
    pub ingest_done: Arc<AtomicBool>,
}

/// Shared by the dispatcher and the workers.
struct Shared {
    parts: FetcherParts,
    settings: FetcherSettings,
    in_flight: Mutex<HashSet<MediaJobKey>>,
}

impl Shared {
    /// The ids of the corps archived now, for the due-job query.
    fn corp_ids(&self) -> Vec<String> {
        self.parts.corps.get().keys().cloned().collect()
    }

    fn release(&self, key: &MediaJobKey) {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    fn in_flight(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

/// Starts the dispatcher (which starts the workers); it returns when stopped.
pub fn spawn(parts: FetcherParts, settings: FetcherSettings) -> std::io::Result<JoinHandle<()>> {
    let shared = Arc::new(Shared {
        parts,
        settings,
        in_flight: Mutex::new(HashSet::new()),
    });
    std::thread::Builder::new()
        .name("media-dispatch".into())
        .spawn(move || dispatch(shared))
}

fn dispatch(shared: Arc<Shared>) {
    lower_priority(shared.settings.nice);
    let n = shared.settings.concurrency.max(1);
    let (tx, rx) = crossbeam_channel::bounded::<MediaJob>(n);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<Recorded>(RECORD_BATCH * 2);
    let recorder = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("media-record".into())
            .spawn(move || record_loop(&shared, &done_rx))
    };
    let recorder = match recorder {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the media recorder thread; media is not fetched");
            return;
        }
    };
    let workers: Vec<JoinHandle<()>> = (0..n)
        .filter_map(|i| {
            let (shared, rx, done) = (shared.clone(), rx.clone(), done_tx.clone());
            std::thread::Builder::new()
                .name(format!("media-{i}"))
                .spawn(move || work(&shared, &rx, &done))
                .inspect_err(|e| tracing::error!(error = %e, "cannot start a media fetcher thread"))
                .ok()
        })
        .collect();
    drop((rx, done_tx));
    if let Ok(s) = shared.parts.store.media_summary() {
        Stats::set(&shared.parts.stats.media.stored_bytes, s.bytes);
    }
    let mut quota_logged: Option<Instant> = None;
    let mut idle = IdleWait::new(shared.settings.poll);
    let mut window = DueWindow::new(shared.settings.full_look);
    let stop = &shared.parts.shutdown;
    while !stop.is_requested() {
        if over_quota(&shared, &mut quota_logged) {
            if shared.parts.ingest_done.load(Ordering::Acquire) && shared.in_flight() == 0 {
                // Once mode: nothing more can be fetched until space is made; the jobs wait.
                tracing::warn!("stopping with media pending: the [media] quota is reached");
                break;
            }
            stop.sleep(shared.settings.poll);
            continue;
        }
        let sent = match send_due(&shared, &tx, &mut window) {
            Ok(sent) => sent,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read due media jobs; trying again");
                0
            }
        };
        if sent == 0 {
            if finished(&shared) {
                break;
            }
            stop.sleep(idle.after_nothing(
                Stats::get(&shared.parts.stats.stored),
                shared.parts.ingest_done.load(Ordering::Acquire),
            ));
        } else {
            idle.found();
        }
    }
    drop(tx);
    for w in workers {
        let _ = w.join();
    }
    let _ = recorder.join();
}

/// Due jobs read in one look, at least: a look goes over the whole job table on ClickHouse
/// (0.22–0.36 s at 1,000,000 jobs), so pages of only what the workers could take next (16 by
/// default) would cap fetching at tens of jobs a second there.
const DUE_PAGE: usize = 256;

/// Where the next look starts ([`DueWindow`]): a full look first finds the oldest pending job.
/// None: nothing can be due.
fn look_from(
    shared: &Shared,
    corps: &[String],
    window: &mut DueWindow,
) -> Result<Option<i64>, crate::store::StoreError> {
    let media = &shared.parts.stats.media;
    let now = Instant::now();
    match window.next(corps, media.stored_from(), now) {
        Look::From(t) => Ok(Some(t)),
        Look::Nothing => Ok(None),
        Look::Full => {
            // Taken before the store is asked: a message stored after this is noted afresh.
            let stored_before = media.take_stored_from();
            match shared.parts.store.oldest_pending_media(corps) {
                Ok(oldest) => {
                    let cost = now.elapsed();
                    window.full_done(corps, oldest, stored_before, now, cost);
                    tracing::debug!(?oldest, ?cost, "media: where pending jobs start");
                    Ok(oldest.into_iter().chain(stored_before).min())
                }
                Err(e) => {
                    // Put back what was taken, and look in full again next time.
                    if let Some(t) = stored_before {
                        media.note_stored(t);
                    }
                    window.forget();
                    Err(e)
                }
            }
        }
    }
}

/// Hands due jobs not in flight to the workers, oldest message first, until the page is handed
/// out, the quota is reached or the daemon stops; returns how many.
fn send_due(
    shared: &Shared,
    tx: &Sender<MediaJob>,
    window: &mut DueWindow,
) -> Result<usize, crate::store::StoreError> {
    let corps = shared.corp_ids();
    let Some(since) = look_from(shared, &corps, window)? else {
        return Ok(0);
    };
    // Jobs in flight when the page is read can be recorded and released while it is read or
    // handed out: their rows in the page are from before that, so they are skipped even once no
    // longer in flight (else a job just fetched would be fetched again).
    let busy: HashSet<MediaJobKey> = shared
        .in_flight
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let n = shared.settings.concurrency.max(1);
    let limit = u32::try_from((n * 4).max(DUE_PAGE) + busy.len()).unwrap_or(u32::MAX);
    let due = shared
        .parts
        .store
        .due_media_jobs_since(&corps, now_ms(), since, limit)?;
    let mut sent = 0;
    for job in due.into_iter().filter(|j| !busy.contains(&j.key)) {
        if at_quota(shared) {
            break;
        }
        let fresh = shared
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.key.clone());
        if !fresh {
            continue;
        }
        let key = job.key.clone();
        let mut job = job;
        loop {
            match tx.send_timeout(job, Duration::from_millis(200)) {
                Ok(()) => {
                    sent += 1;
                    break;
                }
                Err(SendTimeoutError::Timeout(back)) if !shared.parts.shutdown.is_requested() => {
                    job = back;
                }
                Err(_) => {
                    shared.release(&key);
                    return Ok(sent);
                }
            }
        }
    }
    Ok(sent)
}

/// Once mode: ingestion is over, nothing is in flight and no job of these corps is pending (due
/// now or later).
fn finished(shared: &Shared) -> bool {
    shared.parts.ingest_done.load(Ordering::Acquire)
        && shared.in_flight() == 0
        && shared
            .parts
            .store
            .oldest_pending_media(&shared.corp_ids())
            .is_ok_and(|oldest| oldest.is_none())
}

/// Whether the media store is at its quota.
fn at_quota(shared: &Shared) -> bool {
    shared
        .settings
        .quota_bytes
        .is_some_and(|quota| Stats::get(&shared.parts.stats.media.stored_bytes) >= quota)
}

/// Whether the media store is at its quota (logging that, and how much retention is left, at most
/// once a minute).
fn over_quota(shared: &Shared, logged: &mut Option<Instant>) -> bool {
    let stats = &shared.parts.stats.media;
    let Some(quota) = shared.settings.quota_bytes else {
        return false;
    };
    let used = Stats::get(&stats.stored_bytes);
    let over = used >= quota;
    Stats::set(&stats.paused, u64::from(over));
    if over && logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
        *logged = Some(Instant::now());
        let oldest = shared
            .parts
            .store
            .media_summary()
            .ok()
            .and_then(|s| s.oldest_pending_ms);
        let left = oldest.map(|t| {
            let age = now_ms().saturating_sub(t);
            let left_ms = crate::sdk::RETENTION_MS.saturating_sub(age).max(0);
            format!("{:.1} h", left_ms as f64 / 3_600_000.0)
        });
        tracing::warn!(
            used_bytes = used,
            quota_bytes = quota,
            retention_left = left.as_deref().unwrap_or("unknown (nothing pending)"),
            "the media quota is reached: fetching is paused (text ingestion goes on); raise [media] quota_mb or free space before the oldest pending media expires at WeCom"
        );
    }
    over
}

fn work(shared: &Shared, rx: &Receiver<MediaJob>, done: &Sender<Recorded>) {
    lower_priority(shared.settings.nice);
    let mut sessions: HashMap<String, Session> = HashMap::new();
    loop {
        let job = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let started = Instant::now();
        let outcome = handle(shared, &mut sessions, &job);
        Stats::add_time(&shared.parts.stats.media.busy_nanos, started.elapsed());
        match outcome {
            Some(outcome) => {
                if let Err(e) = done.send((job, outcome)) {
                    // The recorder is gone (stopping): the job stays pending.
                    shared.release(&e.into_inner().0.key);
                }
            }
            None => shared.release(&job.key),
        }
    }
}

/// Records outcomes in batches (one durable step each), then lets their jobs out of flight.
fn record_loop(shared: &Shared, rx: &Receiver<Recorded>) {
    lower_priority(shared.settings.nice);
    loop {
        let first = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        // Whatever else is ready, and what arrives within a few ms: one fsync for all of it.
        let until = Instant::now() + Duration::from_millis(20);
        while batch.len() < RECORD_BATCH {
            match rx.recv_deadline(until) {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        record(shared, &batch);
        for (job, _) in &batch {
            shared.release(&job.key);
        }
    }
}

/// One job: open the corp's session if needed, attempt, store any QR hit; the outcome to record
/// (None: leave the job pending as it is).
fn handle(
    shared: &Shared,
    sessions: &mut HashMap<String, Session>,
    job: &MediaJob,
) -> Option<MediaOutcome> {
    let p = &shared.parts;
    let corp = &job.key.corp_id;
    let now = now_ms();
    if !sessions.contains_key(corp) {
        // The due-job query only returns jobs of these corps.
        let corps = p.corps.get();
        let secret = corps.get(corp)?;
        match p.lib.session(corp, secret, &p.network) {
            Ok(s) => {
                sessions.insert(corp.clone(), s);
            }
            Err(e) => {
                return Some(MediaOutcome::Retry {
                    next_attempt: now + 30_000,
                    error: format!("cannot open an SDK session for media: {e}"),
                });
            }
        }
    }
    let session = sessions.get_mut(corp)?;
    let cx = AttemptContext {
        media: p.media.as_ref(),
        stats: &p.stats.media,
        jobs: p.store.as_ref(),
        transcoder: &p.transcoder,
        policy: &shared.settings.policy,
        now_ms: now,
    };
    let result = attempt(session, job, &cx);
    count(shared, job, &result);
    let codes = result.qr_codes();
    if !codes.is_empty() {
        if let Err(e) = store_qr_hits(shared, job, &codes) {
            // Keep the job pending so that the hit is not lost: it is fetched (deduplicated) again.
            tracing::warn!(corp = %corp, msgid = %job.key.msg_id, error = %e, "cannot store a QR-code hit; the job is tried again");
            return None;
        }
    }
    Some(result.outcome)
}

fn count(shared: &Shared, job: &MediaJob, a: &Attempt) {
    let m = &shared.parts.stats.media;
    match &a.outcome {
        MediaOutcome::Done { file, .. } => {
            if a.deduplicated {
                Stats::add(&m.deduplicated, 1);
            } else {
                Stats::add(&m.files, 1);
                Stats::add(&m.stored_bytes, file.size);
                if !file.playable_type.is_empty() {
                    Stats::add(&m.playable, 1);
                }
            }
            Stats::add(&m.bytes, a.fetched_bytes);
        }
        MediaOutcome::Retry { error, .. } => {
            Stats::add(&m.retries, 1);
            tracing::debug!(corp = %job.key.corp_id, msgid = %job.key.msg_id, item = job.key.item, error = %error, "media download failed; retrying later");
        }
        MediaOutcome::Dead { reason, error } => {
            Stats::add(&m.dead, 1);
            tracing::warn!(corp = %job.key.corp_id, msgid = %job.key.msg_id, item = job.key.item,
                reason = reason.as_str(), error = %error, advice = reason.advice(), "media given up");
        }
    }
}

/// The message an image came in, as the behaviour detectors read it.
fn message_of(job: &MediaJob) -> MessageRow {
    let external = is_external_chat(&job.key.msg_id, &job.from_id, job.to_list.split(','));
    MessageRow {
        corp_id: job.key.corp_id.clone(),
        msg_id: job.key.msg_id.clone(),
        from_id: job.from_id.clone(),
        to_list: job.to_list.clone(),
        room_id: job.room_id.clone(),
        action: "send".into(),
        msg_type: MediaKind::Image.as_str().into(),
        msg_time: job.msg_time,
        is_external: u8::from(!external),
        ..MessageRow::default()
    }
}

fn store_qr_hits(
    shared: &Shared,
    job: &MediaJob,
    codes: &[String],
) -> Result<(), crate::store::StoreError> {
    let row = message_of(job);
    let auditor = (shared.parts.rules)();
    let acts: Vec<ActHitRow> = auditor
        .qr_hits(&row, codes)
        .into_iter()
        .map(|a| ActHitRow::of(&row, a))
        .collect();
    if acts.is_empty() {
        return Ok(());
    }
    let (_, new) = shared.parts.store.store_hits(&[], &acts)?;
    Stats::add(&shared.parts.stats.media.qr_hits, new);
    Stats::add(&shared.parts.stats.act_hits, new);
    Ok(())
}

/// Records outcomes, retrying a failing store until it works or the fetchers stop.
fn record(shared: &Shared, outcomes: &[Recorded]) {
    let mut attempt = 0;
    loop {
        match shared.parts.store.record_media_outcomes(outcomes) {
            Ok(()) => return,
            Err(e) => {
                attempt += 1;
                tracing::warn!(jobs = outcomes.len(), attempt, error = %e,
                    "cannot record media jobs' outcomes; retrying (the jobs stay pending until recorded)");
                let wait = crate::runtime::backoff(
                    Duration::from_millis(200),
                    attempt,
                    Duration::from_secs(10),
                );
                if !shared.parts.shutdown.sleep(wait) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_dispatcher_looks_less_often_until_something_is_stored() {
        let poll = Duration::from_millis(500);
        let mut idle = IdleWait::new(poll);
        let waits: Vec<u128> = (0..7)
            .map(|_| idle.after_nothing(0, false).as_millis())
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
        // New messages stored: back to the poll interval.
        assert_eq!(idle.after_nothing(3, false), poll);
        assert_eq!(idle.after_nothing(3, false), poll * 2);
        // A look that found jobs resets too.
        idle.found();
        assert_eq!(idle.after_nothing(3, false), poll);
        // Once ingestion is over (--once), always the poll interval, so the run ends promptly.
        for _ in 0..5 {
            assert_eq!(idle.after_nothing(3, true), poll);
        }
    }
}
