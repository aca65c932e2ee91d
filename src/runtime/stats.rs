//! Counters the stages update and the CLI, logs, metrics and bench read: lock-free atomics, no per-message
//! locking on the hot path (stages add a batch's totals at once).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::message::DeadReason;

/// Pipeline counters. All monotonic.
#[derive(Debug, Default)]
pub struct Stats {
    /// The RSA backend the decode stage uses, and why (set once at start).
    pub rsa_backend: std::sync::OnceLock<(&'static str, String)>,
    pub calls: AtomicU64,
    pub transient_errors: AtomicU64,
    pub other_errors: AtomicU64,
    pub pulled: AtomicU64,
    pub decoded: AtomicU64,
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub dead: [AtomicU64; 6],
    /// Strategy hits and behaviour hits newly stored.
    pub hits: AtomicU64,
    pub act_hits: AtomicU64,
    pub store_retries: AtomicU64,
    /// 1 while the writer's last attempt to store a batch failed (the store is away): pulling
    /// then goes on into the spool regardless of the per-corp in-flight limit.
    pub store_down: AtomicU64,
    /// Busy time per stage, nanoseconds (pull = inside GetChatData; decode = RSA + DecryptData +
    /// parse + audit, audit also alone; store = store_batch).
    pub pull_nanos: AtomicU64,
    pub decode_nanos: AtomicU64,
    /// Of `decode_nanos`, the part spent in the audit stage.
    pub audit_nanos: AtomicU64,
    /// Of `decode_nanos`, the part spent recovering random keys (RSA, the whole pool).
    pub rsa_nanos: AtomicU64,
    pub store_nanos: AtomicU64,
    /// The spool (all zero without one): bytes of batches waiting for the store, its limit, 1 while
    /// pulling is paused at the limit, append busy time (encode, write, fsync), bytes and records
    /// written, failed appends, and records replayed from before a restart.
    pub spool_bytes: AtomicU64,
    pub spool_limit_bytes: AtomicU64,
    pub spool_full: AtomicU64,
    pub spool_nanos: AtomicU64,
    pub spool_written_bytes: AtomicU64,
    pub spool_records: AtomicU64,
    pub spool_errors: AtomicU64,
    pub spool_replayed: AtomicU64,
    /// Per corp, for the operator (`/metrics`): updated once per batch or error, never per message.
    pub corps: Mutex<BTreeMap<String, CorpStats>>,
    /// The media fetchers (see [`MediaStats`]).
    pub media: MediaStats,
}

/// Media fetcher counters: all monotonic but the gauges `paused` and `stored_bytes`.
#[derive(Debug, Default)]
pub struct MediaStats {
    /// Jobs done by downloading a new file, and its bytes.
    pub files: AtomicU64,
    pub bytes: AtomicU64,
    /// Jobs done without storing anything new (the same md5 and size was already stored).
    pub deduplicated: AtomicU64,
    /// Attempts that will be retried, and jobs given up.
    pub retries: AtomicU64,
    pub dead: AtomicU64,
    /// 发送二维码 hits newly stored.
    pub qr_hits: AtomicU64,
    /// Voice given a playable copy.
    pub playable: AtomicU64,
    /// Time spent in downloads and everything after them, summed over fetchers (ns), and its
    /// parts: downloading (GetMediaData, md5, the staging write), scanning images for QR codes,
    /// making voice playable (ffmpeg), and putting files into the media store.
    pub busy_nanos: AtomicU64,
    pub download_nanos: AtomicU64,
    pub scan_nanos: AtomicU64,
    pub voice_nanos: AtomicU64,
    pub put_nanos: AtomicU64,
    /// 1 while fetching is paused at the quota.
    pub paused: AtomicU64,
    /// Bytes in the media store (as the store's file rows count them).
    pub stored_bytes: AtomicU64,
    /// The message time (epoch ms) of the oldest message stored since the fetchers last found
    /// where the pending jobs start, which their looks read from too; kept as `u64::MAX` minus the
    /// time, so that 0 (the default) is "none" and the largest kept is the oldest.
    pub stored_from_rev: AtomicU64,
}

impl MediaStats {
    /// The writer stored messages, the oldest of them sent at `oldest_ms` (after they are
    /// stored, so that a look that takes this into account can see their jobs).
    pub fn note_stored(&self, oldest_ms: i64) {
        let t = u64::try_from(oldest_ms).unwrap_or(0);
        self.stored_from_rev
            .fetch_max(u64::MAX - t, std::sync::atomic::Ordering::AcqRel);
    }

    /// The oldest message time stored since [`MediaStats::take_stored_from`] (None: nothing).
    pub fn stored_from(&self) -> Option<i64> {
        Self::as_time(
            self.stored_from_rev
                .load(std::sync::atomic::Ordering::Acquire),
        )
    }

    /// The same, starting afresh (a look over everything is about to begin).
    pub fn take_stored_from(&self) -> Option<i64> {
        Self::as_time(
            self.stored_from_rev
                .swap(0, std::sync::atomic::Ordering::AcqRel),
        )
    }

    fn as_time(rev: u64) -> Option<i64> {
        (rev != 0).then(|| i64::try_from(u64::MAX - rev).unwrap_or(i64::MAX))
    }
}

/// One corp's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorpStats {
    /// The last seq pulled from the SDK.
    pub pulled_seq: u64,
    /// The last seq stored (the checkpoint).
    pub stored_seq: u64,
    pub pulled: u64,
    pub stored: u64,
    /// `msgtime` of the newest message stored, epoch ms (0: none yet).
    pub newest_stored_ms: i64,
    /// Whether the last pull came back full (the corp is still catching up).
    pub catching_up: bool,
    /// When the last `GetChatData` call succeeded, epoch ms (0: none yet).
    pub last_pull_ms: i64,
    /// When a pull last came back short (the archive's head reached), epoch ms (0: not yet).
    pub head_seen_ms: i64,
    /// Failed `GetChatData` calls since the last successful one.
    pub failing_calls: u32,
    /// The corp's archive rate from its last stored batch: this many seqs over this many ms of
    /// `msgtime` (0 and 0 until a batch of two messages a moment apart is stored).
    pub rate_seqs: u64,
    pub rate_ms: u64,
    /// The corp was removed while running: not pulled any more (its figures stay for what is
    /// still in flight, but it is no longer reported).
    pub removed: bool,
    /// Dead letters stored, by reason name.
    pub dead: BTreeMap<&'static str, u64>,
    /// SDK errors by code (0 when the error had none).
    pub sdk_errors: BTreeMap<i64, u64>,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_time(counter: &AtomicU64, d: Duration) {
        counter.fetch_add(
            d.as_nanos().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Sets a gauge.
    pub fn set(gauge: &AtomicU64, v: u64) {
        gauge.store(v, Ordering::Relaxed);
    }

    pub fn dead_of(&self, reason: DeadReason) -> &AtomicU64 {
        let i = DeadReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        &self.dead[i]
    }

    /// Dead letters stored, by reason.
    pub fn dead_by_reason(&self) -> Vec<(DeadReason, u64)> {
        DeadReason::ALL
            .iter()
            .map(|r| (*r, Stats::get(self.dead_of(*r))))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    pub fn dead_total(&self) -> u64 {
        self.dead.iter().map(Stats::get).sum()
    }

    /// Updates one corp's progress.
    pub fn corp(&self, corp_id: &str, f: impl FnOnce(&mut CorpStats)) {
        let mut corps = self.corps.lock().unwrap_or_else(|p| p.into_inner());
        match corps.get_mut(corp_id) {
            Some(c) => f(c),
            None => f(corps.entry(corp_id.to_owned()).or_default()),
        }
    }

    /// A copy of the progress of every corp archived now.
    pub fn corps(&self) -> BTreeMap<String, CorpStats> {
        self.corps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, c)| !c.removed)
            .map(|(id, c)| (id.clone(), c.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::MediaStats;

    #[test]
    fn the_oldest_stored_time_is_kept_until_taken() {
        let m = MediaStats::default();
        assert_eq!(m.stored_from(), None, "nothing stored yet");
        m.note_stored(5_000);
        m.note_stored(7_000);
        m.note_stored(3_000);
        m.note_stored(4_000);
        assert_eq!(m.stored_from(), Some(3_000));
        assert_eq!(m.take_stored_from(), Some(3_000));
        assert_eq!(m.stored_from(), None, "taken");
        m.note_stored(0);
        m.note_stored(-5);
        assert_eq!(
            m.take_stored_from(),
            Some(0),
            "times before 1970 count as 0"
        );
    }
}
