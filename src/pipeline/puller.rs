//! The pull stage: a few puller threads, each owning the SDK sessions of a share of the corps (a
//! session is never shared). A puller repeatedly takes its corp that is due soonest and makes one
//! `GetChatData` call for it, so thousands of corps need only a handful of threads. Per corp: at most
//! `max_calls_per_minute` calls, an immediate next call while there is backlog (a full batch), the
//! poll interval once drained (a short batch), exponential back-off on transient SDK errors, and the
//! longest back-off on other errors (which also get logged with what to do).
//!
//! A corp's session opens at its first call (`Init`), so thousands of corps start at once and a corp
//! whose `Init` fails backs off like any other SDK error instead of stopping the rest. A corp with
//! `max_in_flight` batches pulled and not yet stored waits (fairness: a backlog never fills the
//! queues ahead of the other corps' fresh messages) — unless the store is away, when the spool
//! takes all it can (WeCom's retention comes first). Corps arrive and leave through the puller's
//! inbox ([`PullerCommand`]) while it runs. In a fleet no call starts past the lease's fence, and a
//! call's timeout ends before the lease could ([`PullFence`]).
//!
//! The puller's cursor is in memory only. A batch is durable once the spool has fsync'd it, and
//! stored once the writer has moved the checkpoint; a restart resumes after the newest spooled seq
//! (or, without a spool, the stored checkpoint) and may pull a batch again, which the store absorbs
//! idempotently.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::{CorpContext, PulledBatch};
use crate::runtime::Stats;
use crate::runtime::{PullFence, Shutdown};
use crate::sdk::{FinanceLibrary, NetworkOptions, SdkError, Session};
use crate::secret::Secret;

/// The longest a puller sleeps before looking at its inbox again.
const INBOX_EVERY: Duration = Duration::from_millis(100);

/// How long a corp at its in-flight limit waits before it is looked at again.
const IN_FLIGHT_RECHECK: Duration = Duration::from_millis(20);

/// How long a corp waits before it is looked at again while the fence is closed.
const FENCE_RECHECK: Duration = Duration::from_millis(50);

/// What a puller's inbox carries.
pub enum PullerCommand {
    /// Pull this corp too (replacing its cursor if the puller has it already).
    Add(CorpCursor),
    /// Stop pulling this corp.
    Remove(String),
    /// Stop pulling this corp and say so (no call for it is in progress any more).
    Release(String, Sender<super::corps::Released>),
}

/// One corp's pull state.
pub struct CorpCursor {
    pub corp: Arc<CorpContext>,
    secret: Secret,
    /// Opened at the first call.
    session: Option<Session>,
    /// Pull messages after this seq.
    pub next_seq: u64,
    next_call: Instant,
    failures: u32,
    /// A short batch arrived (or the corp gave up, in once mode).
    finished: bool,
    /// Whether the last pull came back full (None before the first), to log changes once.
    behind: Option<bool>,
}

impl CorpCursor {
    pub fn new(corp: Arc<CorpContext>, secret: Secret, next_seq: u64) -> CorpCursor {
        CorpCursor {
            corp,
            secret,
            session: None,
            next_seq,
            next_call: Instant::now(),
            failures: 0,
            finished: false,
            behind: None,
        }
    }
}

/// Pull scheduling (the `[pull]` section, validated).
#[derive(Debug, Clone)]
pub struct PullConfig {
    /// Messages per `GetChatData` call (1..=1000).
    pub batch_limit: u32,
    /// Minimum time between two calls for one corp (60 s / max_calls_per_minute).
    pub min_call_interval: Duration,
    pub poll_interval: Duration,
    pub max_backoff: Duration,
    /// Puller threads (0: one per corp, at most 8).
    pub workers: usize,
    /// Batches of one corp pulled and not yet stored, at most.
    pub max_in_flight: u32,
}

impl Default for PullConfig {
    fn default() -> Self {
        PullConfig {
            batch_limit: 1000,
            min_call_interval: Duration::from_millis(100),
            poll_interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(60),
            workers: 0,
            max_in_flight: 4,
        }
    }
}

/// How the puller behaves.
#[derive(Debug, Clone)]
pub struct PullSettings {
    pub pull: PullConfig,
    pub timeout: Duration,
    /// Stop each corp at its first short batch (drain once) instead of polling forever.
    pub once: bool,
}

/// A corp that stopped on a non-transient error in once mode.
#[derive(Debug)]
pub struct CorpFailure {
    pub corp_id: String,
    pub error: SdkError,
}

fn backoff(failures: u32, max: Duration) -> Duration {
    crate::runtime::backoff(Duration::from_millis(400), failures, max)
}

/// What a puller works with besides its corps.
pub struct Puller {
    pub lib: FinanceLibrary,
    /// How sessions are opened.
    pub network: NetworkOptions,
    pub settings: PullSettings,
    pub stats: Arc<Stats>,
    pub shutdown: Shutdown,
    pub output: Sender<PulledBatch>,
    /// Corps added and removed while running (None: the first corps are all there will be).
    pub inbox: Option<Receiver<PullerCommand>>,
    /// Whether the spool says when a batch counts as pulled (else: as soon as it is handed on).
    pub spooled: bool,
    /// In a fleet: no call starts past it (the lease may be running out).
    pub fence: Option<PullFence>,
}

impl Puller {
    /// Applies what the inbox holds; false once it is closed.
    fn read_inbox(&self, cursors: &mut Vec<CorpCursor>) -> bool {
        let Some(inbox) = &self.inbox else {
            return true;
        };
        loop {
            match inbox.try_recv() {
                Ok(PullerCommand::Add(c)) => {
                    cursors.retain(|k| k.corp.corp_id != c.corp.corp_id);
                    cursors.push(c);
                }
                Ok(PullerCommand::Remove(id)) => cursors.retain(|k| k.corp.corp_id != id),
                Ok(PullerCommand::Release(id, released)) => {
                    let at = cursors.iter().position(|k| k.corp.corp_id == id);
                    let context = at.map(|i| cursors.swap_remove(i).corp);
                    let _ = released.send(super::corps::Released {
                        corp_id: id,
                        context,
                    });
                }
                Err(crossbeam_channel::TryRecvError::Empty) => return true,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return false,
            }
        }
    }
}

/// Runs one puller over its corps until shutdown (or, in once mode, until each is drained). With
/// `spooled`, a batch counts as pulled (`pulled_seq`) only once the spool has it: the appender says
/// so; without, as soon as it is handed on.
pub fn run_puller(mut cursors: Vec<CorpCursor>, p: Puller) -> Vec<CorpFailure> {
    let mut failures = Vec::new();
    let (settings, stats, shutdown) = (&p.settings, &p.stats, &p.shutdown);
    let limit = settings.pull.batch_limit;
    let mut inbox_open = p.inbox.is_some();
    loop {
        if shutdown.is_requested() {
            break;
        }
        if inbox_open {
            inbox_open = p.read_inbox(&mut cursors);
        }
        let Some(cursor) = cursors
            .iter_mut()
            .filter(|c| !(settings.once && c.finished))
            .min_by_key(|c| c.next_call)
        else {
            if inbox_open && shutdown.sleep(INBOX_EVERY) {
                continue;
            }
            break;
        };
        let wait = cursor.next_call.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            let nap = if inbox_open {
                wait.min(INBOX_EVERY)
            } else {
                wait
            };
            if !shutdown.sleep(nap) {
                break;
            }
            continue;
        }
        // While the store is away the spool takes everything (retention first); otherwise a
        // corp waits for its batches to be stored before pulling more (fairness).
        let store_away = p.spooled && Stats::get(&stats.store_down) > 0;
        if !store_away && cursor.corp.in_flight() >= settings.pull.max_in_flight.max(1) {
            cursor.next_call = Instant::now() + IN_FLIGHT_RECHECK;
            continue;
        }
        if cursor.session.is_none() {
            match p
                .lib
                .session(&cursor.corp.corp_id, &cursor.secret, &p.network)
            {
                Ok(session) => cursor.session = Some(session),
                Err(e) => {
                    if let Some(failure) = failed(cursor, e, settings, stats) {
                        failures.push(failure);
                    }
                    continue;
                }
            }
        }
        let Some(session) = cursor.session.as_mut() else {
            continue;
        };
        let started = Instant::now();
        let mut timeout = settings.timeout;
        if let Some(fence) = &p.fence {
            match fence.call_budget(started) {
                // The call ends before the lease could (the SDK counts whole seconds).
                Some(left) => timeout = timeout.min(Duration::from_secs(left.as_secs().max(1))),
                None => {
                    // The lease may be running out: another daemon may soon pull this corp.
                    cursor.next_call = started + FENCE_RECHECK;
                    continue;
                }
            }
        }
        cursor.next_call = started + settings.pull.min_call_interval;
        Stats::add(&stats.calls, 1);
        let result = session.get_chat_data(cursor.next_seq, limit, timeout);
        Stats::add_time(&stats.pull_nanos, started.elapsed());
        match result {
            Ok(batch) => {
                cursor.failures = 0;
                let short = batch.len() < limit as usize;
                let n = batch.len() as u64;
                let now = crate::timefmt::now_ms();
                let was = cursor.behind.replace(!short);
                if was.map_or(!short, |w| w == short) {
                    if short {
                        tracing::info!(corp = %cursor.corp.corp_id, seq = cursor.next_seq,
                            "caught up: the archive's head is reached");
                    } else {
                        tracing::info!(corp = %cursor.corp.corp_id, seq = cursor.next_seq,
                            "behind: pulling a backlog (full batches)");
                    }
                }
                let new_last = batch.last_seq().filter(|l| *l > cursor.next_seq);
                stats.corp(&cursor.corp.corp_id, |c| {
                    c.catching_up = !short;
                    c.last_pull_ms = now;
                    c.failing_calls = 0;
                    if short {
                        c.head_seen_ms = now;
                    }
                    if let Some(last) = new_last {
                        if !p.spooled {
                            c.pulled_seq = last;
                        }
                        c.pulled += n;
                    }
                });
                if let Some(last) = new_last {
                    Stats::add(&stats.pulled, n);
                    let pulled = PulledBatch {
                        corp: cursor.corp.clone(),
                        messages: batch.messages,
                        from_seq: cursor.next_seq,
                        checkpoint: last,
                        spool: None,
                    };
                    cursor.next_seq = last;
                    cursor.corp.pulled(last);
                    if p.output.send(pulled).is_err() {
                        tracing::error!("the decode stage stopped; pulling ends");
                        break;
                    }
                }
                if short {
                    cursor.finished = true;
                    cursor.next_call = started + settings.pull.poll_interval;
                }
            }
            Err(e) => {
                if let Some(failure) = failed(cursor, e, settings, stats) {
                    failures.push(failure);
                }
            }
        }
    }
    failures
}

/// Counts and logs a failed call (or `Init`) and schedules the corp's next try: exponential
/// back-off for transient errors, the longest for others. In once mode a non-transient error ends
/// the corp, and the failure is returned.
fn failed(
    cursor: &mut CorpCursor,
    e: SdkError,
    settings: &PullSettings,
    stats: &Stats,
) -> Option<CorpFailure> {
    cursor.failures += 1;
    stats.corp(&cursor.corp.corp_id, |c| {
        *c.sdk_errors.entry(e.code().unwrap_or(0)).or_default() += 1;
        c.failing_calls += 1;
    });
    if e.is_transient() {
        Stats::add(&stats.transient_errors, 1);
        let wait = backoff(cursor.failures, settings.pull.max_backoff);
        tracing::warn!(corp = %cursor.corp.corp_id, seq = cursor.next_seq, error = %e,
            retry_in_ms = wait.as_millis() as u64, "transient SDK error");
        cursor.next_call = Instant::now() + wait;
        return None;
    }
    Stats::add(&stats.other_errors, 1);
    tracing::error!(corp = %cursor.corp.corp_id, seq = cursor.next_seq, error = %e,
        "SDK error; fix the cause (secret, IP allow-list, keys) — retrying at the longest back-off");
    cursor.next_call = Instant::now() + settings.pull.max_backoff;
    if settings.once {
        cursor.finished = true;
        return Some(CorpFailure {
            corp_id: cursor.corp.corp_id.clone(),
            error: e,
        });
    }
    None
}
