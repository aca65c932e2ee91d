//! What "behind" means for a corp: where it stands against the archive's head, read from its
//! [`CorpStats`]. WeCom's SDK never says where the head is; a pull that comes back short is the one
//! sign that it was reached. So a corp is *caught up* when its last pull was short, *behind* while
//! pulls come back full, *failing* after several failed calls in a row, and *starting* before its
//! first pull. Its lag is what it has not pulled yet: the age of the oldest unpulled message (the
//! one after the newest stored, so at most the newest stored message's age) and an estimate of how
//! many messages that is (the corp's own rate over that time). An idle corp whose newest message is
//! a year old is caught up with no lag; only a corp behind (or failing) can lose messages to
//! WeCom's five-day retention.

use super::CorpStats;

/// Failed calls in a row after which a corp counts as failing (one transient error does not).
pub const FAILING_AFTER_CALLS: u32 = 3;

/// WeCom keeps about five days of messages.
pub const RETENTION_MS: i64 = 5 * 24 * 3_600_000;

/// Whether something `age_ms` old is within a fifth of WeCom's retention of expiring: the point
/// at which operators are told to act.
pub fn near_retention(age_ms: i64) -> bool {
    age_ms > RETENTION_MS * 4 / 5
}

/// Where a corp stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PullState {
    /// Several `GetChatData` calls in a row failed.
    Failing,
    /// The last pull came back full: more is waiting in the archive.
    Behind,
    /// No pull has answered yet.
    Starting,
    /// The last pull came back short: everything the archive had then is pulled.
    CaughtUp,
}

impl PullState {
    pub fn as_str(self) -> &'static str {
        match self {
            PullState::Failing => "failing",
            PullState::Behind => "behind",
            PullState::Starting => "starting",
            PullState::CaughtUp => "caught_up",
        }
    }

    /// Whether messages may be waiting unpulled (and so may expire).
    pub fn is_behind(self) -> bool {
        matches!(self, PullState::Failing | PullState::Behind)
    }
}

/// A corp's lag at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lag {
    pub state: PullState,
    /// Age of the oldest message not yet pulled, ms, at most (for a corp caught up: the time since
    /// its last pull; None when not known).
    pub oldest_unpulled_ms: Option<i64>,
    /// Messages not yet pulled, estimated from the corp's rate (0 when caught up: the SDK cannot say
    /// what arrived since).
    pub unpulled: Option<u64>,
    /// Pulled but not yet stored (seqs between the two checkpoints).
    pub in_flight: u64,
}

impl Lag {
    /// Messages the store is behind the archive's head: in flight plus the unpulled estimate.
    pub fn messages(&self) -> Option<u64> {
        self.unpulled.map(|u| u + self.in_flight)
    }

    /// What is left of WeCom's retention for the oldest unpulled message (None: not known).
    pub fn retention_left_ms(&self) -> Option<i64> {
        self.oldest_unpulled_ms
            .map(|age| (RETENTION_MS - age).max(0))
    }

    /// Whether the oldest unpulled message is within a fifth of the retention of expiring.
    pub fn near_retention(&self) -> bool {
        self.oldest_unpulled_ms.is_some_and(near_retention)
    }
}

impl CorpStats {
    pub fn state(&self) -> PullState {
        if self.failing_calls >= FAILING_AFTER_CALLS {
            PullState::Failing
        } else if self.last_pull_ms == 0 {
            PullState::Starting
        } else if self.catching_up {
            PullState::Behind
        } else {
            PullState::CaughtUp
        }
    }

    /// The corp's lag at `now_ms`.
    pub fn lag(&self, now_ms: i64) -> Lag {
        let state = self.state();
        let since_newest =
            (self.newest_stored_ms > 0).then(|| (now_ms - self.newest_stored_ms).max(0));
        let since_pull = (now_ms - self.last_pull_ms).max(0);
        let oldest_unpulled_ms = match state {
            PullState::Starting => None,
            // Whatever arrived since the last call that reached the head is at most that old
            // (a few seconds while polling; more while pulling is paused or failing).
            PullState::CaughtUp => Some(since_pull),
            PullState::Failing if !self.catching_up && self.last_pull_ms > 0 => Some(since_pull),
            PullState::Behind | PullState::Failing => since_newest,
        };
        let unpulled = match state {
            PullState::CaughtUp => Some(0),
            _ => oldest_unpulled_ms.and_then(|age| self.messages_in(age)),
        };
        Lag {
            state,
            oldest_unpulled_ms,
            unpulled,
            in_flight: self.pulled_seq.saturating_sub(self.stored_seq),
        }
    }

    /// The corp's messages over `ms` of its archive, at the rate of its last stored batch.
    fn messages_in(&self, ms: i64) -> Option<u64> {
        if self.rate_ms == 0 {
            return None;
        }
        let n = (ms.max(0) as u128 * u128::from(self.rate_seqs)) / u128::from(self.rate_ms);
        Some(u64::try_from(n).unwrap_or(u64::MAX))
    }

    /// Records a stored batch's span for the rate: its first and last (seq, msgtime).
    pub fn note_rate(&mut self, first: (u64, i64), last: (u64, i64)) {
        let seqs = last.0.saturating_sub(first.0);
        let ms = last
            .1
            .checked_sub(first.1)
            .and_then(|d| u64::try_from(d).ok())
            .unwrap_or(0);
        if seqs > 0 && ms > 0 {
            self.rate_seqs = seqs;
            self.rate_ms = ms;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const DAY: i64 = 86_400_000;

    fn corp() -> CorpStats {
        CorpStats {
            pulled_seq: 500,
            stored_seq: 500,
            newest_stored_ms: NOW - 378 * DAY,
            last_pull_ms: NOW - 2_000,
            head_seen_ms: NOW - 2_000,
            ..CorpStats::default()
        }
    }

    #[test]
    fn an_idle_corp_with_a_year_old_newest_message_is_caught_up_with_no_lag() {
        let lag = corp().lag(NOW);
        assert_eq!(lag.state, PullState::CaughtUp);
        assert_eq!(
            lag.oldest_unpulled_ms,
            Some(2_000),
            "at most since the last pull"
        );
        assert_eq!(lag.messages(), Some(0));
        assert!(!lag.near_retention());
        assert_eq!(lag.retention_left_ms(), Some(RETENTION_MS - 2_000));
    }

    #[test]
    fn a_corp_behind_lags_by_its_newest_stored_age_and_its_rate() {
        let mut c = corp();
        c.catching_up = true;
        c.newest_stored_ms = NOW - 4 * DAY - DAY / 2;
        c.pulled_seq = 2_500;
        // 1,000 seqs over 1,500,000 ms: 1 message per 1.5 s.
        c.note_rate((1, NOW - 10 * DAY), (1_001, NOW - 10 * DAY + 1_500_000));
        let lag = c.lag(NOW);
        assert_eq!(lag.state, PullState::Behind);
        assert_eq!(lag.oldest_unpulled_ms, Some(4 * DAY + DAY / 2));
        assert_eq!(lag.unpulled, Some(259_200));
        assert_eq!(lag.in_flight, 2_000);
        assert_eq!(lag.messages(), Some(261_200));
        assert!(lag.near_retention());
    }

    #[test]
    fn a_corp_failing_after_catching_up_lags_by_the_time_since_its_last_good_call() {
        let mut c = corp();
        c.failing_calls = FAILING_AFTER_CALLS;
        c.last_pull_ms = NOW - 3_600_000;
        let lag = c.lag(NOW);
        assert_eq!(lag.state, PullState::Failing);
        assert_eq!(lag.oldest_unpulled_ms, Some(3_600_000));
        assert_eq!(lag.unpulled, None, "no rate known yet");
        c.failing_calls = 1;
        assert_eq!(c.state(), PullState::CaughtUp, "one error is not failing");
    }

    #[test]
    fn message_times_from_anywhere_never_overflow_the_rate() {
        let mut c = corp();
        c.note_rate((1, i64::MIN), (2, i64::MAX));
        c.note_rate((1, i64::MAX), (2, i64::MIN));
        assert_eq!(
            (c.rate_seqs, c.rate_ms),
            (0, 0),
            "no rate from nonsense times"
        );
    }

    #[test]
    fn a_corp_not_pulled_yet_is_starting_with_lag_unknown() {
        let c = CorpStats::default();
        let lag = c.lag(NOW);
        assert_eq!(lag.state, PullState::Starting);
        assert_eq!(lag.oldest_unpulled_ms, None);
        assert_eq!(lag.messages(), None);
        assert!(PullState::Failing < PullState::Behind && PullState::Behind < PullState::CaughtUp);
    }
}
