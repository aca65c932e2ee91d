//! The media archive's summary for `/metrics`, read at most as often as it is worth. On ClickHouse
//! it is a pass over the whole job table under `FINAL` (2.6 s of server time at 10,000,000 jobs),
//! so a scrape every 15 s read afresh would keep a sixth of a server core busy, and at 100,000,000
//! jobs a scrape would outlast Prometheus's timeout. The summary is read again once it is 20 times
//! as old as its last read took (at most [`MAX_AGE`]; [`crate::runtime::duty`]): on a small store
//! that is every scrape. A read that took [`READ_BEHIND_FROM`] or more is done behind the scrape,
//! which shows the summary it has; `msgaudit_media_summary_age_seconds` says how old it is.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::runtime::duty::repeat_after;
use crate::store::MediaSummary;

/// The summary is read again once 20 times as old as its last read took
/// ([`crate::runtime::duty`]), and at the latest once this old.
pub const MAX_AGE: Duration = Duration::from_secs(600);
/// A read that took this long or longer is done behind the scrape next time.
pub const READ_BEHIND_FROM: Duration = Duration::from_secs(1);

/// What a scrape should do about the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Show the summary it has.
    Cached,
    /// Read it, then show it.
    ReadNow,
    /// Start reading it, and show the one it has meanwhile.
    ReadBehind,
}

/// The last summary read, and when.
#[derive(Debug, Default)]
pub struct MediaFigures {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The last summary read, and when that read began.
    summary: Option<(MediaSummary, Instant)>,
    /// When the last read began (whether it gave a summary or not), and what it took.
    read_at: Option<Instant>,
    cost: Duration,
    /// A read is under way.
    reading: bool,
}

impl MediaFigures {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What a scrape at `now` should do; a plan to read marks a read as under way (until
    /// [`MediaFigures::read_done`]), so scrapes at once do not read twice.
    pub fn plan(&self, now: Instant) -> Plan {
        let mut s = self.state();
        if s.reading {
            return Plan::Cached;
        }
        let due = s.read_at.is_none_or(|at| {
            now.saturating_duration_since(at) >= repeat_after(s.cost, Duration::ZERO, MAX_AGE)
        });
        if !due {
            return Plan::Cached;
        }
        s.reading = true;
        if s.summary.is_some() && s.cost >= READ_BEHIND_FROM {
            Plan::ReadBehind
        } else {
            Plan::ReadNow
        }
    }

    /// A read that began at `at` and took `cost` gave `summary` (None: the store could not say,
    /// and the last summary is kept, growing older).
    pub fn read_done(&self, summary: Option<MediaSummary>, at: Instant, cost: Duration) {
        let mut s = self.state();
        s.reading = false;
        s.read_at = Some(at);
        s.cost = cost;
        if let Some(summary) = summary {
            s.summary = Some((summary, at));
        }
    }

    /// The summary to show at `now`, and how old it is.
    pub fn current(&self, now: Instant) -> Option<(MediaSummary, Duration)> {
        let s = self.state();
        s.summary
            .as_ref()
            .map(|(m, at)| (m.clone(), now.saturating_duration_since(*at)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(pending: u64) -> MediaSummary {
        MediaSummary {
            pending,
            ..MediaSummary::default()
        }
    }

    #[test]
    fn a_cheap_summary_is_read_every_scrape_and_a_costly_one_behind_it_and_seldom() {
        let t0 = Instant::now();
        let f = MediaFigures::default();
        assert_eq!(f.current(t0), None);
        assert_eq!(f.plan(t0), Plan::ReadNow, "nothing to show yet");
        assert_eq!(f.plan(t0), Plan::Cached, "one read at a time");
        f.read_done(Some(summary(1)), t0, Duration::from_millis(5));
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(f.current(at(50)).map(|(m, _)| m.pending), Some(1));
        // Cheap: read again after 20 times its cost, before the scrape shows it.
        assert_eq!(f.plan(at(99)), Plan::Cached);
        assert_eq!(f.plan(at(100)), Plan::ReadNow);
        f.read_done(Some(summary(2)), at(100), Duration::from_secs(3));
        // Costly: read again only after a minute, behind the scrape, showing the old one.
        assert_eq!(f.plan(at(50_000)), Plan::Cached);
        assert_eq!(f.plan(at(60_100)), Plan::ReadBehind);
        let (shown, age) = f.current(at(60_100)).expect("shown");
        assert_eq!((shown.pending, age), (2, Duration::from_secs(60)));
        // A failed read keeps the last summary, which grows older.
        f.read_done(None, at(60_100), Duration::from_secs(3));
        let (shown, age) = f.current(at(61_100)).expect("shown");
        assert_eq!((shown.pending, age), (2, Duration::from_secs(61)));
        // However costly, at most ten minutes old.
        f.read_done(Some(summary(3)), at(61_100), Duration::from_secs(100));
        assert_eq!(f.plan(at(61_100 + 599_000)), Plan::Cached);
        assert_eq!(f.plan(at(61_100 + 600_000)), Plan::ReadBehind);
    }
}
