//! Where the fetchers' looks for due jobs start. On ClickHouse a look over every job of the corps
//! reads the whole job table under `FINAL` (3.7 s of server time at 10,000,000 jobs), which would
//! cap fetching at a page of jobs per look. Jobs keep their message's time, and new jobs come with
//! newly stored messages; so a look only needs the jobs from the oldest pending one on, and from
//! the oldest message stored since that was found.
//!
//! A full look finds the oldest pending job (due now or later). Looks after it read from there, or
//! from the oldest message the writer stored since, whichever is older. Jobs that become pending
//! in other ways — an operator's `media retry`, a re-driven dead letter, a corp taken over from
//! another daemon — are found by the next full look: one whenever a corp is added (or taken back
//! after another daemon held it), and otherwise every 20 times the last one's cost
//! ([`crate::runtime::duty`]), between [`MIN_FULL_LOOK_INTERVAL`] and [`MAX_FULL_LOOK_INTERVAL`],
//! so the full looks take at most about 5 % of the time.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::runtime::duty::repeat_after;

/// The shortest time between full looks by default (`[media] full_look_secs`; a small store's are
/// cheap, and this bounds how long a re-queued job waits there).
pub const MIN_FULL_LOOK_INTERVAL: Duration = Duration::from_secs(2);
/// The longest time between full looks, whatever they cost (unless the shortest is set longer);
/// between the two, [`crate::runtime::duty`]'s 20 times the last one's cost.
pub const MAX_FULL_LOOK_INTERVAL: Duration = Duration::from_secs(300);

/// What the next look should read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Find where the pending jobs start, then read from there.
    Full,
    /// Jobs of messages from this time (epoch ms) on.
    From(i64),
    /// Nothing can be pending: none was at the last full look and nothing was stored since.
    Nothing,
}

/// The fetchers' knowledge of where pending jobs start.
#[derive(Debug)]
pub struct DueWindow {
    /// The shortest time between full looks.
    min_interval: Duration,
    /// The last full look: when it began, what it cost, and the oldest pending job it found (or
    /// the oldest message stored just before it, if older). It covered `last_corps` then, and
    /// every look since had no corp it did not.
    last_full: Option<FullLook>,
    /// The corps of the look before this one (a set: a vendor's daemon holds thousands).
    last_corps: HashSet<String>,
}

impl Default for DueWindow {
    fn default() -> Self {
        DueWindow::new(MIN_FULL_LOOK_INTERVAL)
    }
}

#[derive(Debug)]
struct FullLook {
    at: Instant,
    cost: Duration,
    from: Option<i64>,
}

impl DueWindow {
    /// Full looks at least `min_interval` apart.
    pub fn new(min_interval: Duration) -> DueWindow {
        DueWindow {
            min_interval,
            last_full: None,
            last_corps: HashSet::new(),
        }
    }

    /// What to read next for `corps` at `now`, given the oldest message stored since the last full
    /// look (`stored_from`). A corp that was not among the last look's is looked at in full: while
    /// another daemon held it, that one stored its messages.
    pub fn next(&mut self, corps: &[String], stored_from: Option<i64>, now: Instant) -> Look {
        let gained = corps.iter().any(|c| !self.last_corps.contains(c));
        if gained || corps.len() != self.last_corps.len() {
            self.last_corps = corps.iter().cloned().collect();
        }
        let Some(full) = &self.last_full else {
            return Look::Full;
        };
        let interval = repeat_after(full.cost, self.min_interval, MAX_FULL_LOOK_INTERVAL);
        if now.saturating_duration_since(full.at) >= interval || gained {
            return Look::Full;
        }
        match (full.from, stored_from) {
            (Some(a), Some(b)) => Look::From(a.min(b)),
            (Some(t), None) | (None, Some(t)) => Look::From(t),
            (None, None) => Look::Nothing,
        }
    }

    /// A full look that began at `at` and took `cost` found the oldest pending job of `corps` at
    /// `oldest_pending` (None: none), with messages stored since the one before as old as
    /// `stored_before`.
    pub fn full_done(
        &mut self,
        corps: &[String],
        oldest_pending: Option<i64>,
        stored_before: Option<i64>,
        at: Instant,
        cost: Duration,
    ) {
        let from = match (oldest_pending, stored_before) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_corps = corps.iter().cloned().collect();
        self.last_full = Some(FullLook { at, cost, from });
    }

    /// The last full look failed: the next look is a full one.
    pub fn forget(&mut self) {
        self.last_full = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corps(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_first_look_is_full_and_later_ones_read_from_the_oldest_pending_or_stored() {
        let t0 = Instant::now();
        let mut w = DueWindow::default();
        let cs = corps(&["ww1", "ww2"]);
        assert_eq!(w.next(&cs, None, t0), Look::Full);
        w.full_done(&cs, Some(5_000), None, t0, Duration::from_millis(10));
        let soon = t0 + Duration::from_millis(500);
        assert_eq!(w.next(&cs, None, soon), Look::From(5_000));
        // Messages stored since: from the older of the two.
        assert_eq!(w.next(&cs, Some(7_000), soon), Look::From(5_000));
        assert_eq!(w.next(&cs, Some(3_000), soon), Look::From(3_000));
        // A message stored just before the full look, older than any pending job, counts too.
        w.full_done(&cs, Some(5_000), Some(4_000), t0, Duration::from_millis(10));
        assert_eq!(w.next(&cs, None, soon), Look::From(4_000));
    }

    #[test]
    fn nothing_is_read_when_nothing_was_pending_and_nothing_stored_since() {
        let t0 = Instant::now();
        let mut w = DueWindow::default();
        let cs = corps(&["ww1"]);
        w.full_done(&cs, None, None, t0, Duration::from_millis(10));
        let soon = t0 + Duration::from_millis(500);
        assert_eq!(w.next(&cs, None, soon), Look::Nothing);
        assert_eq!(w.next(&cs, Some(9_000), soon), Look::From(9_000));
    }

    #[test]
    fn a_full_look_again_when_a_corp_is_added_or_after_twenty_times_its_cost() {
        let t0 = Instant::now();
        let mut w = DueWindow::default();
        let cs = corps(&["ww1", "ww2"]);
        assert_eq!(w.next(&cs, None, t0), Look::Full);
        w.full_done(&cs, Some(5_000), None, t0, Duration::from_secs(1));
        let later = |d: u64| t0 + Duration::from_secs(d);
        assert_eq!(w.next(&cs, None, later(19)), Look::From(5_000));
        assert_eq!(w.next(&cs, None, later(20)), Look::Full);
        // A corp given away: what is known still holds for the others.
        assert_eq!(w.next(&corps(&["ww2"]), None, later(1)), Look::From(5_000));
        // Taken back: another daemon stored its messages meanwhile, so a full look again.
        assert_eq!(w.next(&cs, None, later(1)), Look::Full);
        w.full_done(&cs, Some(5_000), None, later(1), Duration::from_secs(1));
        assert_eq!(w.next(&cs, None, later(2)), Look::From(5_000));
        // A corp taken over: its jobs were never looked at.
        assert_eq!(
            w.next(&corps(&["ww1", "ww2", "ww3"]), None, later(2)),
            Look::Full
        );
        // Cheap full looks: at least two seconds apart; costly ones at most five minutes apart.
        w.full_done(&cs, Some(5_000), None, t0, Duration::from_millis(1));
        assert_eq!(
            w.next(&cs, None, t0 + Duration::from_millis(1_999)),
            Look::From(5_000)
        );
        assert_eq!(w.next(&cs, None, later(2)), Look::Full);
        w.full_done(&cs, Some(5_000), None, t0, Duration::from_secs(60));
        assert_eq!(w.next(&cs, None, later(299)), Look::From(5_000));
        assert_eq!(w.next(&cs, None, later(300)), Look::Full);
        // A failed full look is tried again.
        w.forget();
        assert_eq!(w.next(&cs, None, later(1)), Look::Full);
        // Set longer than the longest: full looks that far apart.
        let mut w = DueWindow::new(Duration::from_secs(3_600));
        w.full_done(&cs, Some(5_000), None, t0, Duration::from_secs(60));
        assert_eq!(w.next(&cs, None, later(3_599)), Look::From(5_000));
        assert_eq!(w.next(&cs, None, later(3_600)), Look::Full);
    }
}
