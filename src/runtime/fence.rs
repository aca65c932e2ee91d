//! The time until which this process may call the SDK for the corps it holds: in a fleet, a little
//! before its lease on etcd could expire. The coordinator moves it on every renewal; the pullers
//! read it before every call. A puller whose process stalls (a starved machine, a coordinator
//! blocked on etcd) thus stops by itself before another daemon can take its corps, without waiting
//! for the coordinator to say so.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A shared deadline for SDK calls; closed until first opened.
#[derive(Debug, Clone)]
pub struct PullFence {
    /// What the deadline counts from.
    base: Instant,
    /// Nanoseconds after `base` until which calls may start; 0 is closed.
    until_nanos: Arc<AtomicU64>,
}

impl Default for PullFence {
    fn default() -> Self {
        PullFence::closed()
    }
}

impl PullFence {
    /// A fence nothing passes until [`PullFence::open_until`].
    pub fn closed() -> PullFence {
        PullFence {
            base: Instant::now(),
            until_nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Calls may start until `deadline` (which may be earlier than the one before).
    pub fn open_until(&self, deadline: Instant) {
        let nanos = deadline.saturating_duration_since(self.base).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX).max(1);
        self.until_nanos.store(nanos, Ordering::Release);
    }

    /// No call may start from now on.
    pub fn close(&self) {
        self.until_nanos.store(0, Ordering::Release);
    }

    /// Whether a call may start at `now`.
    pub fn allows(&self, now: Instant) -> bool {
        let until = self.until_nanos.load(Ordering::Acquire);
        until != 0 && now < self.base + Duration::from_nanos(until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_until_opened_and_closed_again_at_the_deadline_or_when_told() {
        let fence = PullFence::closed();
        let now = Instant::now();
        assert!(!fence.allows(now));
        fence.open_until(now + Duration::from_secs(3));
        let seen_by_a_puller = fence.clone();
        assert!(seen_by_a_puller.allows(now));
        assert!(seen_by_a_puller.allows(now + Duration::from_millis(2_999)));
        assert!(!seen_by_a_puller.allows(now + Duration::from_secs(3)));
        // A renewal can move the deadline either way.
        fence.open_until(now + Duration::from_secs(1));
        assert!(!seen_by_a_puller.allows(now + Duration::from_secs(2)));
        fence.close();
        assert!(!seen_by_a_puller.allows(now));
        // A deadline already past keeps it closed.
        fence.open_until(now - Duration::from_secs(1));
        assert!(!seen_by_a_puller.allows(now));
    }
}
