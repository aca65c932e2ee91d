//! The time until which this process may call the SDK for the corps it holds: in a fleet, a little
//! before its lease on etcd could expire. The coordinator moves it on every renewal; the pullers
//! read it before every call. A puller whose process stalls (a starved machine, a coordinator
//! blocked on etcd) thus stops by itself before another daemon can take its corps, without waiting
//! for the coordinator to say so. A call that starts in time is also given no more time than the
//! lease surely has left ([`PullFence::call_budget`]), so it ends before another daemon can start.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A shared deadline for SDK calls; closed until first opened.
#[derive(Debug, Clone)]
pub struct PullFence {
    /// What the deadlines count from.
    base: Instant,
    /// Nanoseconds after `base` until which calls may start; 0 is closed.
    start_by: Arc<AtomicU64>,
    /// Nanoseconds after `base` by which every call must have ended (the lease's end).
    end_by: Arc<AtomicU64>,
}

impl PullFence {
    /// A fence nothing passes until [`PullFence::open_until`].
    pub fn closed() -> PullFence {
        PullFence {
            base: Instant::now(),
            start_by: Arc::new(AtomicU64::new(0)),
            end_by: Arc::new(AtomicU64::new(0)),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.base).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
    }

    /// Calls may start until `start_by` and must end by `end_by` (either may be earlier than the
    /// one before).
    pub fn open_until(&self, start_by: Instant, end_by: Instant) {
        // The end first: a puller that sees the new start sees at least as late an end.
        self.end_by.store(self.nanos(end_by), Ordering::Release);
        self.start_by.store(self.nanos(start_by), Ordering::Release);
    }

    /// No call may start from now on.
    pub fn close(&self) {
        self.start_by.store(0, Ordering::Release);
    }

    /// How long a call starting at `now` may take, or None if it may not start.
    pub fn call_budget(&self, now: Instant) -> Option<Duration> {
        let start_by = self.start_by.load(Ordering::Acquire);
        if start_by == 0 || now >= self.base + Duration::from_nanos(start_by) {
            return None;
        }
        let end_by = self.base + Duration::from_nanos(self.end_by.load(Ordering::Acquire));
        Some(end_by.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(fence: &PullFence, now: Instant) -> bool {
        fence.call_budget(now).is_some()
    }

    #[test]
    fn closed_until_opened_and_closed_again_at_the_deadline_or_when_told() {
        let fence = PullFence::closed();
        let now = Instant::now();
        let secs = Duration::from_secs;
        assert!(!allows(&fence, now));
        fence.open_until(now + secs(3), now + secs(4));
        let seen_by_a_puller = fence.clone();
        assert!(allows(&seen_by_a_puller, now));
        assert!(allows(
            &seen_by_a_puller,
            now + Duration::from_millis(2_999)
        ));
        assert!(!allows(&seen_by_a_puller, now + secs(3)));
        // A call gets what is left of the lease.
        assert_eq!(seen_by_a_puller.call_budget(now), Some(secs(4)));
        assert_eq!(seen_by_a_puller.call_budget(now + secs(1)), Some(secs(3)));
        assert_eq!(seen_by_a_puller.call_budget(now + secs(3)), None);
        // A renewal can move the deadline either way.
        fence.open_until(now + secs(1), now + secs(2));
        assert!(!allows(&seen_by_a_puller, now + secs(2)));
        fence.close();
        assert!(!allows(&seen_by_a_puller, now));
        // A deadline already past keeps it closed.
        fence.open_until(now - secs(1), now);
        assert!(!allows(&seen_by_a_puller, now));
    }
}
