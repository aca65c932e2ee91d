//! Pages in time order read a slice of time next to where they start first, then the slices
//! beyond it, each eight times wider, until they hold the page. Without this a page read every row
//! its filters allowed (`ORDER BY … LIMIT` cannot stop early under `FINAL` or filters outside the
//! sort key), so its cost grew with the table: 1.5 s for the newest 50 of 5,000,000 hits. Now a
//! page of recent rows reads about a day's, and one that must go through everything reads each
//! row once. The page is the same: every row beyond a slice comes after every row in it. Time is
//! in every sort key this is used with, so a slice keeps or drops all versions of a row together.
//!
//! A page may also say where its next row is ([`Nearest`]): then a slice that holds nothing is
//! followed by a jump over the empty time to that row, and the page ends when there is none. The
//! hit pages do (their slices read under `FINAL`): the newest 50 of 5,000,000 hits whose newest is
//! two years old took 1.9 s, reading everything in the widest slice, and take 0.1 s.

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

/// Where the page's nearest row in a window is, the way the page runs: the time of the newest
/// (older pages) or oldest (newer pages) row its filters allow there, None when there is none. It
/// may err towards rows the page will not show (a version `FINAL` drops), never past one it will.
pub(super) type Nearest<'a> = &'a mut dyn FnMut(Window, Towards) -> Result<Option<u64>, StoreError>;

/// A newest-first page from `from` (its cursor's time or `until`; None: now) back to `since`:
/// [`windowed`] towards older rows.
pub(super) fn newest_first<R>(
    from: Option<i64>,
    since: Option<i64>,
    limit: u32,
    read: impl FnMut(Window, u32) -> Result<Vec<R>, StoreError>,
    nearest: Option<Nearest>,
) -> Result<Vec<R>, StoreError> {
    let ms = |t: i64| t.max(0) as u64;
    let start = from.map_or_else(beyond_now, ms);
    windowed(start, Towards::Older, since.map(ms), limit, read, nearest)
}

/// The page (at most `limit` rows, in the page's order) that `read(window, rows still wanted)`
/// finds in slices of time from `start` towards `towards`; `end` is the query's own bound that
/// way, if any. Each slice is the time the last one did not cover, so a page that has to go
/// through everything reads each row once, in at most six queries. With `nearest`, a slice that
/// holds nothing is followed by a jump: the next slice begins at the nearest row beyond it (at
/// most five more queries), and the page ends there when there is none. A jump skips no row:
/// the slice after it still reaches to the edge of the time read, so a nearest row found too far
/// only makes that slice wider; only "none" ends a page.
pub(super) fn windowed<R>(
    start: u64,
    towards: Towards,
    end: Option<u64>,
    limit: u32,
    mut read: impl FnMut(Window, u32) -> Result<Vec<R>, StoreError>,
    mut nearest: Option<Nearest>,
) -> Result<Vec<R>, StoreError> {
    let limit = limit.max(1);
    let mut rows: Vec<R> = Vec::new();
    // The edge of the time read so far (None: nothing read yet).
    let mut edge: Option<u64> = None;
    // Where the slices are measured from: `start`, or the nearest row after a jump.
    let mut start = start;
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
        let had = rows.len();
        rows.extend(read(window, wanted(&rows))?);
        if rows.len() >= limit as usize {
            return Ok(rows);
        }
        edge = match towards {
            Towards::Older => window.from,
            Towards::Newer => window.before,
        };
        width = width.saturating_mul(8);
        if rows.len() == had
            && let Some(nearest) = nearest.as_mut()
        {
            // Nothing here: go straight to the nearest row beyond, or stop if there is none.
            match nearest(rest(towards, edge, end), towards)? {
                None => return Ok(rows),
                Some(t) => {
                    start = match towards {
                        Towards::Older => t.saturating_add(1),
                        Towards::Newer => t,
                    }
                }
            }
        }
    }
    rows.extend(read(rest(towards, edge, None), wanted(&rows))?);
    Ok(rows)
}

/// The time beyond `edge` (None: all of it), up to `end` when given.
fn rest(towards: Towards, edge: Option<u64>, end: Option<u64>) -> Window {
    match towards {
        Towards::Older => Window {
            from: end,
            before: edge,
        },
        Towards::Newer => Window {
            from: edge,
            before: end,
        },
    }
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
        let page = windowed(
            start,
            towards,
            end,
            10,
            |w, wanted| {
                asked.push((w, wanted));
                Ok(vec![(); rows_in(w).min(wanted) as usize])
            },
            None,
        )
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

    /// Rows at `times` (ms): the page of 10 from `start` with jumps, and the queries it made
    /// (slices read and nearest rows asked for).
    fn jumping(start: u64, towards: Towards, end: Option<u64>, times: &[u64]) -> (Vec<u64>, usize) {
        let inside =
            |w: Window, t: u64| w.from.is_none_or(|f| f <= t) && w.before.is_none_or(|b| t < b);
        let in_order = |w: Window| {
            let mut rows: Vec<u64> = times
                .iter()
                .copied()
                .filter(|&t| {
                    inside(w, t)
                        && end.is_none_or(|e| match towards {
                            Towards::Older => e <= t,
                            Towards::Newer => t < e,
                        })
                })
                .filter(|&t| match towards {
                    Towards::Older => t < start,
                    Towards::Newer => t >= start,
                })
                .collect();
            rows.sort_unstable();
            if towards == Towards::Older {
                rows.reverse();
            }
            rows
        };
        let mut queries = 0;
        let mut nearest = |w: Window, way: Towards| {
            assert_eq!(way, towards);
            queries += 1;
            Ok(in_order(w).first().copied())
        };
        let mut reads = 0;
        let page = windowed(
            start,
            towards,
            end,
            10,
            |w, wanted| {
                reads += 1;
                Ok(in_order(w).into_iter().take(wanted as usize).collect())
            },
            Some(&mut nearest),
        )
        .expect("page");
        let everything = in_order(Window::default());
        assert_eq!(page, everything[..everything.len().min(10)], "the page");
        (page, reads + queries)
    }

    #[test]
    fn an_empty_slice_jumps_to_the_nearest_row() {
        let now = 20_000 * DAY_MS;
        // Two years before `now`, a row an hour for a month.
        let old: Vec<u64> = (0..720)
            .map(|h| now - 730 * DAY_MS + h * 3_600_000)
            .collect();
        let (page, queries) = jumping(now, Towards::Older, None, &old);
        assert_eq!(page.len(), 10);
        // The first day, the jump, and a day back from the newest row.
        assert_eq!(queries, 3);
        let (page, queries) = jumping(now - 740 * DAY_MS, Towards::Newer, None, &old);
        assert_eq!((page.len(), queries), (10, 3));
    }

    #[test]
    fn a_page_without_rows_ends_at_the_first_jump() {
        let now = 20_000 * DAY_MS;
        assert_eq!(jumping(now, Towards::Older, None, &[]), (vec![], 2));
        // Only rows before `since`.
        let since = now - 10 * DAY_MS;
        let (page, queries) = jumping(now, Towards::Older, Some(since), &[since - 1]);
        assert_eq!((page.len(), queries), (0, 2));
    }

    #[test]
    fn sparse_rows_are_all_found_in_few_queries() {
        let now = 20_000 * DAY_MS;
        // A row a month for ten years, then a row a year for forty.
        let mut times: Vec<u64> = (1..=120).map(|m| now - m * 30 * DAY_MS).collect();
        times.extend((11..=50).map(|y| now - y * 365 * DAY_MS));
        for (start, towards) in [
            (now, Towards::Older),
            (now - 3_000 * DAY_MS, Towards::Older),
            (DAY_MS, Towards::Newer),
            (now - 15 * 365 * DAY_MS, Towards::Newer),
        ] {
            let (page, queries) = jumping(start, towards, None, &times);
            assert_eq!(page.len(), 10, "{towards:?} from {start}");
            assert!(queries <= 11, "{queries} queries {towards:?} from {start}");
        }
    }
}
