//! Hits counted per quarter of an hour (`msgaudit_hit_counts`, kept by triggers as hits are
//! written; migration 13): the trend's daily counts and the hits tab's totals read these instead of
//! every hit, whenever a query's filters are ones the counts keep — the corp, the strategy or
//! behaviour, and a time range (the whole quarters inside it from the counts, the minutes at
//! either end from the hits themselves). Any other filter (a sender, a word, a review state…)
//! counts the hits themselves, as does a zone in which some quarter read spans midnight.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::filter::Where;
use super::hits::in_list;
use super::sql;
use crate::store::{DailyCount, HitKind, HitQuery, StoreError};
use crate::timefmt::{Zone, day_name};

/// A quarter of an hour in milliseconds: the counts' unit of time.
const QUARTER_MS: i64 = 900_000;

/// One row of the counts: a quarter, a strategy or behaviour with its name, and its hits.
struct Quarter {
    quarter: i64,
    id: i64,
    name: String,
    hits: u64,
}

/// A query's time range as the counts read it: the whole quarters inside it (first and end, as
/// quarter numbers), and the ranges at either end that are not whole quarters, as `q` with only
/// that range (their hits are counted from the hits themselves).
struct Split {
    first: Option<i64>,
    end: Option<i64>,
    edges: Vec<HitQuery>,
}

/// `q`'s time range split at quarter-hour bounds; None when no whole quarter lies inside it.
fn split(q: &HitQuery) -> Option<Split> {
    let first = q
        .since_ms
        .map(|t| t.div_euclid(QUARTER_MS) + i64::from(t.rem_euclid(QUARTER_MS) != 0));
    let end = q.until_ms.map(|t| t.div_euclid(QUARTER_MS));
    if let (Some(first), Some(end)) = (first, end)
        && first >= end
    {
        return None;
    }
    let edge = |since: i64, until: i64| HitQuery {
        since_ms: Some(since),
        until_ms: Some(until),
        ..q.clone()
    };
    let mut edges = Vec::new();
    if let (Some(since), Some(first)) = (q.since_ms, first)
        && since < first * QUARTER_MS
    {
        edges.push(edge(since, first * QUARTER_MS));
    }
    if let (Some(until), Some(end)) = (q.until_ms, end)
        && end * QUARTER_MS < until
    {
        edges.push(edge(end * QUARTER_MS, until));
    }
    Some(Split { first, end, edges })
}

/// Whether the counts keep every filter of `q` that applies to one kind of hit: with the filters
/// they keep cleared, and those [`super::hits`] does not apply to this kind, nothing may be left.
/// A filter added to [`HitQuery`] later is thus counted from the hits themselves until the counts
/// learn it.
fn kept(q: &HitQuery, strategy: bool) -> bool {
    let kept = HitQuery {
        corp_id: None,
        since_ms: None,
        until_ms: None,
        strategy_id: None,
        strategy_ids: None,
        act_id: None,
        after: None,
        limit: 0,
        ..q.clone()
    };
    let rest = if strategy {
        // Behaviour filters do not apply to strategy hits.
        HitQuery {
            operator_ids: None,
            ..kept
        }
    } else {
        // Nor do a strategy hit's own fields to behaviour hits.
        HitQuery {
            word: None,
            room_id: None,
            send_status: None,
            to_id: None,
            conversation: None,
            ..kept
        }
    };
    rest == HitQuery::default()
}

/// The counts' condition for `q`'s hits of one kind in the quarters of `split`, or None when `q`
/// filters by something they do not keep.
fn condition(q: &HitQuery, strategy: bool, split: &Split) -> Option<Where> {
    if !kept(q, strategy) {
        return None;
    }
    let kind = if strategy {
        HitKind::Strategy
    } else {
        HitKind::Behaviour
    };
    let mut w = Where::new(format!(
        "SELECT quarter, target_id, target_name, hits FROM msgaudit_hit_counts
         WHERE hit_kind = {} AND hits > 0",
        kind.code()
    ));
    w.and_opt("corp_id = ?", q.corp_id.clone());
    w.and_opt("quarter >= ?", split.first);
    w.and_opt("quarter < ?", split.end);
    if strategy {
        w.and_opt("target_id = ?", q.strategy_id);
        if let Some(ids) = &q.strategy_ids {
            in_list(&mut w, "target_id", ids.iter().map(|&i| i.into()).collect());
        }
    } else {
        w.and_opt("target_id = ?", q.act_id);
    }
    Some(w)
}

/// The counts under `q` for one kind of hit in the quarters of `split`, or None when `q` filters
/// by something they do not keep.
fn quarters(
    conn: &Connection,
    q: &HitQuery,
    strategy: bool,
    split: &Split,
) -> Result<Option<Vec<Quarter>>, StoreError> {
    let Some(w) = condition(q, strategy, split) else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare(&w.sql)
        .map_err(sql("preparing the hit counts"))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(w.args), |r| {
            Ok(Quarter {
                quarter: r.get(0)?,
                id: r.get(1)?,
                name: r.get(2)?,
                hits: r.get::<_, i64>(3)?.max(0) as u64,
            })
        })
        .map_err(sql("reading the hit counts"))?;
    let rows = rows
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql("reading the hit counts"))?;
    Ok(Some(rows))
}

/// How many hits of one kind `q` matches (its review state, cursor and limit aside, as the
/// caller clears them), or None when the counts cannot say; `count` counts the hits themselves
/// (for the ends of the time range).
pub(super) fn total(
    conn: &Connection,
    q: &HitQuery,
    strategy: bool,
    count: &dyn Fn(&HitQuery) -> Result<u64, StoreError>,
) -> Result<Option<u64>, StoreError> {
    let Some(split) = split(q) else {
        return Ok(None);
    };
    let Some(rows) = quarters(conn, q, strategy, &split)? else {
        return Ok(None);
    };
    let mut total: u64 = rows.iter().map(|r| r.hits).sum();
    for edge in &split.edges {
        total += count(edge)?;
    }
    Ok(Some(total))
}

/// Hits of one kind per calendar day in `zone` and per strategy or behaviour, oldest day first,
/// or None when the counts cannot say (a filter they do not keep, or a quarter read that spans
/// midnight in `zone`); `count` counts the hits themselves per day (for the ends of the time
/// range).
pub(super) fn daily(
    conn: &Connection,
    q: &HitQuery,
    strategy: bool,
    zone: &Zone,
    count: &dyn Fn(&HitQuery) -> Result<Vec<DailyCount>, StoreError>,
) -> Result<Option<Vec<DailyCount>>, StoreError> {
    let Some(split) = split(q) else {
        return Ok(None);
    };
    let Some(rows) = quarters(conn, q, strategy, &split)? else {
        return Ok(None);
    };
    // By day (`YYYY-MM-DD` sorts as the days do) and strategy or behaviour: name and hits.
    let mut days: BTreeMap<(String, i64), (String, u64)> = BTreeMap::new();
    let mut add = |day: String, id: i64, name: String, hits: u64| {
        let (kept, count) = days.entry((day, id)).or_default();
        if name > *kept {
            *kept = name;
        }
        *count += hits;
    };
    for r in rows {
        let start = r.quarter.saturating_mul(QUARTER_MS);
        let day = zone.day_number(start);
        if zone.day_number(start.saturating_add(QUARTER_MS - 1)) != day {
            return Ok(None);
        }
        add(day_name(day), r.id, r.name, r.hits);
    }
    for edge in &split.edges {
        for d in count(edge)? {
            add(d.day, d.id, d.name, d.count);
        }
    }
    let kind = if strategy { "strategy" } else { "behaviour" };
    Ok(Some(
        days.into_iter()
            .map(|((day, id), (name, count))| DailyCount {
                day,
                kind,
                id,
                name,
                count,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::migrate::{SQLITE, migrate_sqlite, migrated_to};

    const BASE: i64 = 1_700_000_000_000;

    /// Inserts one strategy hit at `t` (by SQL, as any writer would).
    fn insert_hit(conn: &Connection, msg: &str, strategy: i64, t: i64) {
        conn.execute(
            "INSERT INTO we_chat_contact_sensitive_msg (corp_id, msg_id, strategy_id, strategy_name,
                 pattern_words, msg_time) VALUES ('ww1', ?1, ?2, '策略' || ?2, 'x', ?3)
             ON CONFLICT (corp_id, msg_time, msg_id, strategy_id) DO NOTHING",
            rusqlite::params![msg, strategy, t],
        )
        .expect("hit");
    }

    fn days(conn: &Connection, zone: &str) -> Option<Vec<(String, i64, u64)>> {
        let zone = Zone::named(zone).expect("zone");
        daily(conn, &HitQuery::default(), true, &zone, &|_| Ok(Vec::new()))
            .expect("daily")
            .map(|d| d.into_iter().map(|d| (d.day, d.id, d.count)).collect())
    }

    #[test]
    fn triggers_count_inserts_once_and_follow_updates_and_deletes() {
        let mut conn = migrated_to(0);
        migrate_sqlite(&mut conn).expect("migrate");
        insert_hit(&conn, "a", 1, BASE);
        insert_hit(&conn, "a", 1, BASE); // the same hit again: nothing inserted, nothing counted
        insert_hit(&conn, "b", 1, BASE + 60_000);
        insert_hit(&conn, "c", 2, BASE + 2 * 3_600_000);
        let utc = |conn: &Connection| days(conn, "UTC").expect("counted");
        assert_eq!(
            utc(&conn),
            [
                ("2023-11-14".to_string(), 1, 2),
                ("2023-11-15".to_string(), 2, 1)
            ]
        );
        conn.execute(
            "UPDATE we_chat_contact_sensitive_msg SET del_flag = 1 WHERE msg_id = 'b'",
            [],
        )
        .expect("soft delete");
        conn.execute(
            "UPDATE we_chat_contact_sensitive_msg SET msg_time = ?1 WHERE msg_id = 'c'",
            [BASE - 86_400_000],
        )
        .expect("move");
        assert_eq!(
            utc(&conn),
            [
                ("2023-11-13".to_string(), 2, 1),
                ("2023-11-14".to_string(), 1, 1)
            ]
        );
        conn.execute(
            "DELETE FROM we_chat_contact_sensitive_msg WHERE msg_id = 'a'",
            [],
        )
        .expect("delete");
        assert_eq!(utc(&conn), [("2023-11-13".to_string(), 2, 1)]);
        let q = HitQuery::default();
        assert_eq!(total(&conn, &q, true, &|_| Ok(0)).expect("total"), Some(1));
    }

    #[test]
    fn a_quarter_that_spans_midnight_in_the_zone_counts_the_hits_themselves() {
        let mut conn = migrated_to(0);
        migrate_sqlite(&mut conn).expect("migrate");
        // Monrovia kept UTC-0:44:30 until 1972: its midnights fell inside quarters of an hour.
        // 1971-01-01 00:40 UTC: its quarter, 00:30–00:45 UTC, holds Monrovia's midnight (00:44:30).
        insert_hit(&conn, "a", 1, 31_536_000_000 + 40 * 60_000);
        assert_eq!(days(&conn, "Africa/Monrovia"), None);
        assert!(
            days(&conn, "Asia/Kolkata").is_some(),
            "UTC+5:30 is whole quarters"
        );
        // A filter the counts do not keep.
        let q = HitQuery {
            from_id: Some("lisi".into()),
            ..HitQuery::default()
        };
        assert_eq!(total(&conn, &q, true, &|_| Ok(0)).expect("total"), None);
    }

    #[test]
    fn the_counts_serve_a_query_only_when_they_keep_each_filter_its_kind_applies() {
        let auditor = HitQuery {
            corp_id: Some("ww1".into()),
            since_ms: Some(1),
            strategy_ids: Some(vec![1, 2]),
            operator_ids: Some(vec!["zhangsan".into()]),
            limit: 50,
            ..HitQuery::default()
        };
        assert!(kept(&auditor, true), "an auditor's strategies are kept");
        assert!(!kept(&auditor, false), "an auditor's operators are not");
        let room = HitQuery {
            room_id: Some("wr1".into()),
            act_id: Some(3),
            ..HitQuery::default()
        };
        assert!(!kept(&room, true), "a group is not kept");
        assert!(kept(&room, false), "a group does not filter behaviour hits");
        for q in [
            HitQuery {
                from_id: Some("lisi".into()),
                ..HitQuery::default()
            },
            HitQuery {
                msg_ids: vec!["m".into()],
                ..HitQuery::default()
            },
            HitQuery {
                review_state: Some(crate::store::ReviewState::Confirmed),
                ..HitQuery::default()
            },
        ] {
            assert!(!kept(&q, true) && !kept(&q, false), "{q:?}");
        }
    }

    #[test]
    fn a_time_range_splits_into_whole_quarters_and_its_ends() {
        let q = |since: Option<i64>, until: Option<i64>| HitQuery {
            since_ms: since,
            until_ms: until,
            ..HitQuery::default()
        };
        let ends = |s: &Split| -> Vec<(Option<i64>, Option<i64>)> {
            s.edges.iter().map(|e| (e.since_ms, e.until_ms)).collect()
        };
        let whole = split(&q(None, None)).expect("everything");
        assert_eq!((whole.first, whole.end), (None, None));
        assert!(whole.edges.is_empty());
        let on_bounds = split(&q(Some(4 * QUARTER_MS), Some(9 * QUARTER_MS))).expect("bounds");
        assert_eq!((on_bounds.first, on_bounds.end), (Some(4), Some(9)));
        assert!(on_bounds.edges.is_empty());
        let off = split(&q(Some(4 * QUARTER_MS + 1), Some(9 * QUARTER_MS - 1))).expect("off");
        assert_eq!((off.first, off.end), (Some(5), Some(8)));
        assert_eq!(
            ends(&off),
            [
                (Some(4 * QUARTER_MS + 1), Some(5 * QUARTER_MS)),
                (Some(8 * QUARTER_MS), Some(9 * QUARTER_MS - 1))
            ]
        );
        let before_1970 = split(&q(Some(-QUARTER_MS - 1), None)).expect("negative");
        assert_eq!(before_1970.first, Some(-1));
        assert_eq!(
            ends(&before_1970),
            [(Some(-QUARTER_MS - 1), Some(-QUARTER_MS))]
        );
        assert!(
            split(&q(Some(4 * QUARTER_MS + 1), Some(5 * QUARTER_MS + 1))).is_none(),
            "no whole quarter inside: the hits themselves"
        );
    }

    #[test]
    fn upgrading_counts_the_hits_already_stored() {
        let mut conn = migrated_to(12);
        insert_hit(&conn, "a", 1, BASE);
        insert_hit(&conn, "b", 1, BASE + 1);
        conn.execute(
            "INSERT INTO we_sensitive_act_hit (corp_id, msg_id, operator_id, sensitive_act_id,
                 sensitive_act, msg_time) VALUES ('ww1', 'c', 'u', 3, '发送手机号', ?1)",
            [BASE],
        )
        .expect("act");
        assert_eq!(
            migrate_sqlite(&mut conn).expect("upgrade"),
            SQLITE.len() - 12
        );
        assert_eq!(
            days(&conn, "Asia/Shanghai"),
            Some(vec![("2023-11-15".to_string(), 1, 2)])
        );
        let q = HitQuery::default();
        assert_eq!(total(&conn, &q, false, &|_| Ok(0)).expect("total"), Some(1));
    }
}
