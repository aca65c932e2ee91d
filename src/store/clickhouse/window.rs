//! Pages in time order read a slice of time next to where they start first, then the slices
//! beyond it, each eight times wider, until they hold the page. Without this a page read every row
//! its filters allowed (`ORDER BY … LIMIT` cannot stop early under `FINAL` or filters outside the
//! sort key), so its cost grew with the table: 1.5 s for the newest 50 of 5,000,000 hits. Now a
//! page of recent rows reads about a day's, and one that must go through everything reads each
//! row once. The page is the same: every row beyond a slice comes after every row in it. Time is
//! in every sort key this is used with, so a slice keeps or drops all versions of a row together.

use super::filter::{Filter, Value};
use crate::store::StoreError;

const DAY_MS: u64 = 86_400_000;

/// Past this width the window is everything: 1, 8, 64, 512 and 4,096 days come before it.
const WIDEST_MS: u64 = 30_000 * DAY_MS;

/// Which way a page runs from where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Towards {
    Older,
    Newer,
}

/// A slice of time on `msg_time`, as SQL for the page's query: `from <= msg_time < before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Window {
    pub from: Option<u64>,
    pub before: Option<u64>,
}

impl Window {
    /// Adds ` AND` the window's bounds to `f`.
    pub(super) fn and_to(self, f: &mut Filter) {
        f.and_opt("msg_time >= ?", self.from.map(Value::U64));
        f.and_opt("msg_time < ?", self.before.map(Value::U64));
    }
}

/// Where a page starts when it has no cursor or bound: newer than any row (a day of clock skew
/// allowed).
pub(super) fn beyond_now() -> u64 {
    (crate::timefmt::now_ms().max(0) as u64).saturating_add(DAY_MS)
}

/// A newest-first page from `from` (its cursor's time or `until`; None: now) back to `since`:
/// [`windowed`] towards older rows.
pub(super) fn newest_first<R>(
    from: Option<i64>,
    since: Option<i64>,
    limit: u32,
    read: impl FnMut(Window, u32) -> Result<Vec<R>, StoreError>,
) -> Result<Vec<R>, StoreError> {
    let ms = |t: i64| t.max(0) as u64;
    let start = from.map_or_else(beyond_now, ms);
    windowed(start, Towards::Older, since.map(ms), limit, read)
}

/// The page (at most `limit` rows, in the page's order) that `read(window, rows still wanted)`
/// finds in slices of time from `start` towards `towards`; `end` is the query's own bound that
/// way, if any. Each slice is the time the last one did not cover, so a page that has to go
/// through everything reads each row once, in at most six queries.
pub(super) fn windowed<R>(
    start: u64,
    towards: Towards,
    end: Option<u64>,
    limit: u32,
    mut read: impl FnMut(Window, u32) -> Result<Vec<R>, StoreError>,
) -> Result<Vec<R>, StoreError> {
    let limit = limit.max(1);
    let mut rows: Vec<R> = Vec::new();
    // The edge of the time read so far (None: nothing read yet).
    let mut edge: Option<u64> = None;
    let mut width = DAY_MS;
    let wanted = |rows: &Vec<R>| limit - rows.len().min(limit as usize) as u32;
    while width < WIDEST_MS {
        let window = match towards {
            Towards::Older => {
                let from = start.saturating_sub(width);
                if from == 0 || end.is_some_and(|e| from <= e) {
                    break;
                }
                Window {
                    from: Some(from),
                    before: edge,
                }
            }
            Towards::Newer => {
                let before = start.saturating_add(width);
                if before > beyond_now() || end.is_some_and(|e| before >= e) {
                    break;
                }
                Window {
                    from: edge,
                    before: Some(before),
                }
            }
        };
        rows.extend(read(window, wanted(&rows))?);
        if rows.len() >= limit as usize {
            return Ok(rows);
        }
        edge = match towards {
            Towards::Older => window.from,
            Towards::Newer => window.before,
        };
        width = width.saturating_mul(8);
    }
    // The rest of the time, whatever its width.
    let rest = match towards {
        Towards::Older => Window {
            from: None,
            before: edge,
        },
        Towards::Newer => Window {
            from: edge,
            before: None,
        },
    };
    rows.extend(read(rest, wanted(&rows))?);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slices a page reads and how many rows it wants from each, given how many each holds.
    fn slices(
        start: u64,
        towards: Towards,
        end: Option<u64>,
        rows_in: impl Fn(Window) -> u32,
    ) -> Vec<(Window, u32)> {
        let mut asked = Vec::new();
        let page = windowed(start, towards, end, 10, |w, wanted| {
            asked.push((w, wanted));
            Ok(vec![(); rows_in(w).min(wanted) as usize])
        })
        .expect("page");
        assert!(page.len() <= 10);
        asked
    }

    fn slice(from: Option<u64>, before: Option<u64>) -> Window {
        Window { from, before }
    }

    #[test]
    fn a_slice_that_holds_the_page_is_the_last_read() {
        let start = 1_000 * DAY_MS;
        let asked = slices(start, Towards::Older, None, |_| 10);
        assert_eq!(asked, [(slice(Some(start - DAY_MS), None), 10)]);
    }

    #[test]
    fn slices_widen_eightfold_without_reading_any_time_twice() {
        let start = 10_000 * DAY_MS;
        let asked = slices(start, Towards::Older, None, |_| 1);
        let at = |days: u64| Some(start - days * DAY_MS);
        assert_eq!(
            asked,
            [
                (slice(at(1), None), 10),
                (slice(at(8), at(1)), 9),
                (slice(at(64), at(8)), 8),
                (slice(at(512), at(64)), 7),
                (slice(at(4_096), at(512)), 6),
                (slice(None, at(4_096)), 5),
            ]
        );
    }

    #[test]
    fn the_query_s_own_bound_ends_the_widening() {
        let start = 10_000 * DAY_MS;
        let since = start - 20 * DAY_MS;
        let asked = slices(start, Towards::Older, Some(since), |_| 0);
        let at = |days: u64| Some(start - days * DAY_MS);
        assert_eq!(
            asked,
            [
                (slice(at(1), None), 10),
                (slice(at(8), at(1)), 10),
                (slice(None, at(8)), 10),
            ]
        );
        let until = start + 3 * DAY_MS;
        let asked = slices(start, Towards::Newer, Some(until), |_| 0);
        let next = Some(start + DAY_MS);
        assert_eq!(asked, [(slice(None, next), 10), (slice(next, None), 10)]);
    }

    #[test]
    fn newer_slices_stop_at_now() {
        let start = beyond_now() - 2 * DAY_MS;
        let asked = slices(start, Towards::Newer, None, |_| 0);
        let next = Some(start + DAY_MS);
        assert_eq!(asked, [(slice(None, next), 10), (slice(next, None), 10)]);
    }
}
