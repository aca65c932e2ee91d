//! Pages in time order read a window of time next to where they start first, widened eightfold
//! until it holds the page. Without it a page reads every row its filters allow: `ORDER BY … LIMIT`
//! cannot stop early under `FINAL` or filters outside the sort key, so a page's cost grew with the
//! table (1.5 s for the newest 50 of 5,000,000 hits). With it a page of recent rows reads about a
//! day's. The page is the same: every row beyond the window comes after every row in it. Time is
//! in every sort key this is used with, so a window keeps or drops all versions of a row together.

use super::filter::Value;
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

/// A window's bound on `msg_time`, as SQL for the page's query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Window {
    /// `msg_time >= ms`
    From(u64),
    /// `msg_time < ms`
    Before(u64),
}

impl Window {
    /// ` AND …` with one placeholder, and its value.
    pub(super) fn clause(self) -> (&'static str, Value) {
        match self {
            Window::From(ms) => (" AND msg_time >= ?", Value::U64(ms)),
            Window::Before(ms) => (" AND msg_time < ?", Value::U64(ms)),
        }
    }
}

/// Where a page starts when it has no cursor or bound: newer than any row (a day of clock skew
/// allowed).
pub(super) fn beyond_now() -> u64 {
    (crate::timefmt::now_ms().max(0) as u64).saturating_add(DAY_MS)
}

/// The page `read` finds (at most `limit` rows, in the page's order) in windows from `start`
/// towards `towards`; `end` is the query's own bound that way, if any. `read(None)` reads
/// without a window.
pub(super) fn windowed<R>(
    start: u64,
    towards: Towards,
    end: Option<u64>,
    limit: u32,
    mut read: impl FnMut(Option<Window>) -> Result<Vec<R>, StoreError>,
) -> Result<Vec<R>, StoreError> {
    let mut width = DAY_MS;
    while width < WIDEST_MS {
        let window = match towards {
            Towards::Older => {
                let from = start.saturating_sub(width);
                if from == 0 || end.is_some_and(|e| from <= e) {
                    break;
                }
                Window::From(from)
            }
            Towards::Newer => {
                let before = start.saturating_add(width);
                if before > beyond_now() || end.is_some_and(|e| before >= e) {
                    break;
                }
                Window::Before(before)
            }
        };
        let rows = read(Some(window))?;
        if rows.len() >= limit.max(1) as usize {
            return Ok(rows);
        }
        width = width.saturating_mul(8);
    }
    read(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The windows a page reads, given how many rows each would hold.
    fn windows(
        start: u64,
        towards: Towards,
        end: Option<u64>,
        rows_in: impl Fn(Option<Window>) -> usize,
    ) -> Vec<Option<Window>> {
        let mut asked = Vec::new();
        windowed(start, towards, end, 10, |w| {
            asked.push(w);
            Ok(vec![(); rows_in(w)])
        })
        .expect("page");
        asked
    }

    #[test]
    fn a_window_that_holds_the_page_is_the_last_read() {
        let start = 1_000 * DAY_MS;
        let asked = windows(start, Towards::Older, None, |_| 10);
        assert_eq!(asked, [Some(Window::From(start - DAY_MS))]);
    }

    #[test]
    fn windows_widen_eightfold_then_read_everything() {
        let start = 10_000 * DAY_MS;
        let asked = windows(start, Towards::Older, None, |_| 3);
        let from = |days: u64| Some(Window::From(start - days * DAY_MS));
        assert_eq!(
            asked,
            [from(1), from(8), from(64), from(512), from(4_096), None]
        );
    }

    #[test]
    fn the_query_s_own_bound_ends_the_widening() {
        let start = 10_000 * DAY_MS;
        let since = start - 20 * DAY_MS;
        let asked = windows(start, Towards::Older, Some(since), |_| 0);
        let from = |days: u64| Some(Window::From(start - days * DAY_MS));
        assert_eq!(asked, [from(1), from(8), None]);
        let until = start + 3 * DAY_MS;
        let asked = windows(start, Towards::Newer, Some(until), |_| 0);
        assert_eq!(asked, [Some(Window::Before(start + DAY_MS)), None]);
    }

    #[test]
    fn newer_windows_stop_at_now() {
        let start = beyond_now() - 2 * DAY_MS;
        let asked = windows(start, Towards::Newer, None, |_| 0);
        assert_eq!(asked, [Some(Window::Before(start + DAY_MS)), None]);
    }
}
