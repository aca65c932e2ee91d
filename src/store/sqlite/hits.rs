//! Hits: strategy and behaviour hit rows (inserted idempotently, with a batch or by a re-audit),
//! their queries, counts per strategy and per day, and a hit's conversation context.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::filter::Where;
use super::rows::{MESSAGE_COLUMNS, from_columns, hit_from, message_from};
use super::{SqliteStore, sql};
use crate::store::{
    ActHitRow, ContextQuery, DailyCount, HitCounts, HitKind, HitQuery, HitRow, HitStore,
    ReviewState, StateCounts, StoreError, StoredHit, StoredMessage,
};
use crate::timefmt::{Zone, day_name};

/// Keeps of `rows` those whose key (corp, time, msgid, strategy or behaviour) `select` does not
/// find stored. `select` is asked once per corp of `rows` over the span of their times: it takes
/// the corp and the first and last time, and gives time, msgid and the strategy or behaviour.
fn keep_unstored<T>(
    conn: &Connection,
    select: &str,
    rows: &mut Vec<T>,
    key: impl Fn(&T) -> (&String, i64, &String, i64),
) -> Result<(), StoreError> {
    let mut spans: HashMap<&String, (i64, i64)> = HashMap::new();
    for row in rows.iter() {
        let (corp, time, _, _) = key(row);
        let span = spans.entry(corp).or_insert((time, time));
        span.0 = span.0.min(time);
        span.1 = span.1.max(time);
    }
    let mut stmt = conn
        .prepare_cached(select)
        .map_err(sql("preparing a stored-hit lookup"))?;
    let mut stored: Vec<(String, i64, String, i64)> = Vec::new();
    for (corp, (first, last)) in spans {
        let keys = stmt
            .query_map(params![corp, first, last], |r| {
                Ok((corp.to_owned(), r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(sql("looking up stored hits"))?;
        for k in keys {
            stored.push(k.map_err(sql("reading a stored hit"))?);
        }
    }
    // Sorted, so each row is looked up by its borrowed key (no copies per row).
    stored.sort_unstable();
    rows.retain(|row| {
        let (corp, time, msg_id, id) = key(row);
        let want = (corp.as_str(), time, msg_id.as_str(), id);
        stored
            .binary_search_by(|k| (k.0.as_str(), k.1, k.2.as_str(), k.3).cmp(&want))
            .is_err()
    });
    Ok(())
}

/// Inserts strategy hits, ignoring ones already stored; returns how many were new.
pub(super) fn insert_hits(conn: &Connection, hits: &[HitRow]) -> Result<u64, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO we_chat_contact_sensitive_msg
             (corp_id, msg_id, strategy_id, strategy_name, pattern_words, spans, content, from_id, to_list,
              room_id, msg_time, direction, audit_user_id, send_status, rules_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
             ON CONFLICT (corp_id, msg_time, msg_id, strategy_id) DO NOTHING",
        )
        .map_err(sql("preparing the hit insert"))?;
    let mut n = 0;
    for h in hits {
        let spans = serde_json::to_string(&h.spans).unwrap_or_else(|_| "[]".into());
        n += stmt
            .execute(params![
                h.corp_id,
                h.msg_id,
                h.strategy_id,
                h.strategy_name,
                h.words.join(","),
                spans,
                h.content,
                h.from_id,
                h.to_list,
                h.room_id,
                h.msg_time,
                h.direction,
                h.audit_user_id,
                h.send_status,
                h.rules_version as i64
            ])
            .map_err(sql("inserting a hit"))? as u64;
    }
    Ok(n)
}

/// Inserts behaviour hits, ignoring ones already stored; returns how many were new.
pub(super) fn insert_act_hits(conn: &Connection, hits: &[ActHitRow]) -> Result<u64, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO we_sensitive_act_hit
             (corp_id, msg_id, operator_id, operator, operate_target_id, operate_target, sensitive_act_id,
              sensitive_act, detail, msg_time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (corp_id, msg_time, msg_id, sensitive_act_id) DO NOTHING",
        )
        .map_err(sql("preparing the behaviour-hit insert"))?;
    let mut n = 0;
    for h in hits {
        n += stmt
            .execute(params![
                h.corp_id,
                h.msg_id,
                h.operator_id,
                h.operator,
                h.operate_target_id,
                h.operate_target,
                h.sensitive_act_id,
                h.sensitive_act,
                h.detail,
                h.msg_time
            ])
            .map_err(sql("inserting a behaviour hit"))? as u64;
    }
    Ok(n)
}

/// The filters of a hit query (`strategy` = the strategy-hit table, else the behaviour-hit table).
fn hit_filters(q: &HitQuery, w: &mut Where, strategy: bool) {
    w.and_opt("corp_id = ?", q.corp_id.clone());
    w.and_opt("msg_time >= ?", q.since_ms);
    w.and_opt("msg_time < ?", q.until_ms);
    w.and_opt("msg_id = ?", q.msg_id.clone());
    if !q.msg_ids.is_empty() {
        w.and_opt(
            "msg_id IN (SELECT value FROM json_each(?))",
            Some(serde_json::Value::from(q.msg_ids.clone()).to_string()),
        );
    }
    w.and_opt(
        if strategy {
            "from_id = ?"
        } else {
            "operator_id = ?"
        },
        q.from_id.clone(),
    );
    if strategy {
        w.and_opt("strategy_id = ?", q.strategy_id);
        w.and_opt("room_id = ?", q.room_id.clone());
        if let Some(c) = &q.conversation {
            let (condition, values) = crate::store::types::conversation_condition(c);
            w.and_all(condition, values.into_iter().map(Into::into).collect());
        }
        w.and_opt("send_status = ?", q.send_status.map(i64::from));
        w.and_opt(
            "instr(',' || pattern_words || ',', ',' || ? || ',') > 0",
            q.word.clone(),
        );
        w.and_opt(
            "instr(',' || to_list || ',', ',' || ? || ',') > 0",
            q.to_id.clone(),
        );
        if let Some(ids) = &q.strategy_ids {
            let values = ids.iter().map(|&i| i.into()).collect();
            in_list(w, "strategy_id", values);
        }
    } else {
        w.and_opt("sensitive_act_id = ?", q.act_id);
        if let Some(ids) = &q.operator_ids {
            let values = ids.iter().map(|i| i.clone().into()).collect();
            in_list(w, "operator_id", values);
        }
    }
    if let Some(state) = q.review_state {
        let (table, kind, id) = review_target(strategy);
        let reviewed = format!(
            "SELECT 1 FROM we_sensitive_review r WHERE r.corp_id = {table}.corp_id \
             AND r.hit_kind = {kind} AND r.msg_id = {table}.msg_id AND r.target_id = {table}.{id}"
        );
        w.sql.push_str(&if state == ReviewState::Pending {
            format!(" AND NOT EXISTS ({reviewed} AND r.review_state <> 0)")
        } else {
            format!(
                " AND EXISTS ({reviewed} AND r.review_state = {})",
                state.code()
            )
        });
    }
    if let Some(c) = &q.after {
        let id = if strategy {
            "strategy_id"
        } else {
            "sensitive_act_id"
        };
        w.and_all(
            &format!(
                "(msg_time < ? OR (msg_time = ? AND (msg_id < ? OR (msg_id = ? AND {id} > ?))))"
            ),
            vec![
                c.msg_time.into(),
                c.msg_time.into(),
                c.msg_id.clone().into(),
                c.msg_id.clone().into(),
                c.id.into(),
            ],
        );
    }
}

/// A hit table as reviews name it: (table, `hit_kind` code, id column).
pub(super) fn review_target(strategy: bool) -> (&'static str, u8, &'static str) {
    if strategy {
        (HIT_TABLE, HitKind::Strategy.code(), "strategy_id")
    } else {
        (
            "we_sensitive_act_hit",
            HitKind::Behaviour.code(),
            "sensitive_act_id",
        )
    }
}

/// Hits under `q`'s filters (its review state, cursor and limit ignored), by review state.
pub(super) fn hit_totals(
    conn: &Connection,
    strategy: bool,
    q: &HitQuery,
) -> Result<StateCounts, StoreError> {
    // Every matching hit, then the reviewed ones from the reviews' side (few, each found by its
    // key); the rest are pending. A probe of the reviews per hit took 0.86 s at 1,000,000 hits.
    let (table, kind, id) = review_target(strategy);
    let q = HitQuery {
        after: None,
        review_state: None,
        ..q.clone()
    };
    let count = |q: &HitQuery| -> Result<u64, StoreError> {
        let mut all = Where::new(format!(
            "SELECT COUNT(*) FROM {} WHERE del_flag = 0",
            hit_source(table, q)
        ));
        hit_filters(q, &mut all, strategy);
        let total: i64 = all
            .fetch(conn, "counting hits", |r| r.get(0))?
            .into_iter()
            .next()
            .unwrap_or(0);
        Ok(total.max(0) as u64)
    };
    let total = match super::hit_counts::total(conn, &q, strategy, &count)? {
        Some(total) => total,
        None => count(&q)?,
    };
    // Inside the subquery, unqualified columns (the filters') are the hit's.
    let mut reviewed = Where::new(format!(
        "SELECT r.review_state, COUNT(*) FROM we_sensitive_review r
         WHERE r.hit_kind = {kind} AND r.review_state <> 0 AND EXISTS (
             SELECT 1 FROM {table} WHERE {table}.corp_id = r.corp_id
                AND {table}.msg_id = r.msg_id AND {table}.{id} = r.target_id AND del_flag = 0"
    ));
    hit_filters(&q, &mut reviewed, strategy);
    reviewed.sql.push_str(") GROUP BY r.review_state");
    let rows: Vec<(i64, i64)> = reviewed.fetch(conn, "counting hits by review state", |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    let mut counts = StateCounts::default();
    let mut settled = 0;
    for (state, n) in rows {
        let n = n.max(0) as u64;
        settled += n;
        counts.add(ReviewState::from_code(u8::try_from(state).unwrap_or(0)), n);
    }
    counts.add(ReviewState::Pending, total.saturating_sub(settled));
    Ok(counts)
}

/// ` AND column IN (…)`; nothing matches an empty list.
pub(super) fn in_list(w: &mut Where, column: &str, values: Vec<rusqlite::types::Value>) {
    if values.is_empty() {
        w.sql.push_str(" AND 0");
        return;
    }
    let marks = vec!["?"; values.len()].join(", ");
    w.and_all(&format!("{column} IN ({marks})"), values);
}

/// The SQL function giving the calendar day of epoch milliseconds in the zone [`daily_counts`]
/// was asked for, as days since 1970-01-01 (SQLite knows no zone but UTC and its own).
const LOCAL_DAY_FUNCTION: &str = "msgaudit_local_day";

/// Hits per calendar day in `zone`, per strategy and per behaviour, oldest day first.
pub(super) fn daily_counts(
    conn: &Connection,
    q: &HitQuery,
    zone: &Zone,
) -> Result<Vec<DailyCount>, StoreError> {
    use rusqlite::functions::FunctionFlags;
    let day_zone = zone.clone();
    conn.create_scalar_function(
        LOCAL_DAY_FUNCTION,
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| Ok(day_zone.day_number(ctx.get::<i64>(0)?)),
    )
    .map_err(sql("setting up daily counts"))?;
    let q = HitQuery {
        after: None,
        ..q.clone()
    };
    let mut out = Vec::new();
    for strategy in [true, false] {
        let counted = super::hit_counts::daily(conn, &q, strategy, zone, &|edge| {
            counted_daily(conn, edge, strategy)
        })?;
        match counted {
            Some(days) => out.extend(days),
            None => out.extend(counted_daily(conn, &q, strategy)?),
        }
    }
    Ok(out)
}

/// Hits of one kind under `q` per calendar day (in the zone [`daily_counts`] set up) and per
/// strategy or behaviour, oldest day first, counted from the hits themselves.
fn counted_daily(
    conn: &Connection,
    q: &HitQuery,
    strategy: bool,
) -> Result<Vec<DailyCount>, StoreError> {
    let (table, id, name) = if strategy {
        (HIT_TABLE, "strategy_id", "strategy_name")
    } else {
        ("we_sensitive_act_hit", "sensitive_act_id", "sensitive_act")
    };
    let mut w = Where::new(format!(
        "SELECT {LOCAL_DAY_FUNCTION}(msg_time) AS day, {id}, MAX({name}), COUNT(*)
         FROM {} WHERE del_flag = 0",
        hit_source(table, q)
    ));
    hit_filters(q, &mut w, strategy);
    w.sql
        .push_str(&format!(" GROUP BY day, {id} ORDER BY day, {id}"));
    let mut stmt = conn
        .prepare(&w.sql)
        .map_err(sql("preparing daily counts"))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(w.args), |r| {
            Ok(DailyCount {
                day: day_name(r.get(0)?),
                kind: if strategy { "strategy" } else { "behaviour" },
                id: r.get(1)?,
                name: r.get(2)?,
                count: r.get::<_, i64>(3)?.max(0) as u64,
            })
        })
        .map_err(sql("counting hits per day"))?;
    rows.collect::<Result<_, _>>()
        .map_err(sql("reading daily counts"))
}

/// The strategy hits' table.
const HIT_TABLE: &str = "we_chat_contact_sensitive_msg";

const HIT_COLUMNS: &str =
    "corp_id, msg_id, strategy_id, strategy_name, pattern_words, spans, content,
     from_id, to_list, room_id, msg_time, direction, audit_user_id, send_status, rules_version";

/// Hits of `from` (the table, or a subquery with its columns) matching a condition, in the order
/// `tail` gives.
pub(super) fn query_hits_from(
    conn: &Connection,
    from: &str,
    condition: &str,
    tail: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<HitRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {HIT_COLUMNS} FROM {from} WHERE {condition} {tail}"
        ))
        .map_err(sql("preparing a hit query"))?;
    let rows = stmt
        .query_map(params, hit_from)
        .map_err(sql("querying hits"))?;
    rows.map(|r| r.map(|h| h.hit))
        .collect::<Result<_, _>>()
        .map_err(sql("reading hits"))
}

/// The hit table as a query reads it: through the index that serves its narrowest filter.
/// - By key when the query names the corp and the messages (to open or review a hit). Left to
///   itself SQLite preferred an index that gives the page's order, and read every hit of the corp
///   for one message (0.09 s at 1,000,000 hits).
/// - By conversation, group or sender through their indexes (`0012_hit_filters.sql`). With a
///   `LIMIT`, and with the corp named, SQLite otherwise chose an index in the page's order and read
///   hits newest first until a page matched: at 2,000,000 hits 0.65 s for a sender whose hits are
///   all old and 0.73 s for a pair that last spoke months ago, against under 10 ms through these.
fn hit_source(table: &str, q: &HitQuery) -> String {
    use crate::message::Conversation;
    let index = if q.corp_id.is_some() && (q.msg_id.is_some() || !q.msg_ids.is_empty()) {
        Some("key")
    } else if table == HIT_TABLE {
        match (&q.conversation, &q.room_id, &q.from_id) {
            (Some(Conversation::Pair(..)), _, _) => Some("pair"),
            (Some(Conversation::Room(_)), _, _) | (None, Some(_), _) => Some("room"),
            (None, None, Some(_)) => Some("from"),
            (None, None, None) => None,
        }
    } else {
        q.from_id.as_ref().map(|_| "operator")
    };
    match index {
        Some(index) => format!("{table} INDEXED BY {table}_{index}"),
        None => table.to_owned(),
    }
}

/// The statement a page of strategy hits is read with.
fn hits_statement(q: &HitQuery) -> Where {
    let mut w = Where::new(format!(
        "SELECT {HIT_COLUMNS} FROM {} WHERE del_flag = 0",
        hit_source(HIT_TABLE, q)
    ));
    hit_filters(q, &mut w, true);
    w.sql.push_str(&format!(
        " ORDER BY msg_time DESC, msg_id DESC, strategy_id LIMIT {}",
        q.limit.max(1)
    ));
    w
}

pub(super) fn query_hits(conn: &Connection, q: &HitQuery) -> Result<Vec<StoredHit>, StoreError> {
    hits_statement(q).fetch(conn, "querying hits", hit_from)
}

pub(super) fn query_act_hits(
    conn: &Connection,
    q: &HitQuery,
) -> Result<Vec<ActHitRow>, StoreError> {
    let mut w = Where::new(format!(
        "SELECT corp_id, msg_id, sensitive_act_id, sensitive_act, operator_id, operator, operate_target_id,
                operate_target, detail, msg_time
         FROM {} WHERE del_flag = 0",
        hit_source("we_sensitive_act_hit", q)
    ));
    hit_filters(q, &mut w, false);
    w.sql.push_str(&format!(
        " ORDER BY msg_time DESC, msg_id DESC, sensitive_act_id LIMIT {}",
        q.limit.max(1)
    ));
    w.fetch(conn, "querying behaviour hits", |r| {
        Ok(from_columns!(r => ActHitRow {
            corp_id, msg_id, sensitive_act_id, sensitive_act, operator_id, operator,
            operate_target_id, operate_target, detail, msg_time,
        }))
    })
}

pub(super) fn context(
    conn: &Connection,
    q: &ContextQuery,
    columns: &str,
    message_from: fn(&Row<'_>) -> rusqlite::Result<StoredMessage>,
) -> Result<Vec<StoredMessage>, StoreError> {
    let center = conn
        .query_row(
            &format!(
                "SELECT {columns} FROM we_chat_contact_msg
                 WHERE corp_id = ?1 AND msg_time = ?2 AND msg_id = ?3"
            ),
            params![q.corp_id, q.msg_time, q.msg_id],
            message_from,
        )
        .optional()
        .map_err(sql("finding the message"))?
        .ok_or_else(|| StoreError::NotFound {
            what: "message",
            key: format!("{} {}", q.corp_id, q.msg_id),
        })?;
    let r = &center.row;
    let (chat, a, b) = if r.room_id.is_empty() {
        (
            "room_id = '' AND ((from_id = ?3 AND to_list = ?4) OR (from_id = ?4 AND to_list = ?3))",
            r.from_id.clone(),
            r.to_list.clone(),
        )
    } else {
        ("room_id = ?3 AND ?4 = ?4", r.room_id.clone(), String::new())
    };
    let side = |cmp: &str, order: &str| -> Result<Vec<StoredMessage>, StoreError> {
        let text = format!(
            "SELECT {columns} FROM we_chat_contact_msg WHERE corp_id = ?1 AND {chat}
             AND (msg_time {cmp} ?2 OR (msg_time = ?2 AND seq {cmp} ?5)) ORDER BY msg_time {order}, seq {order} LIMIT ?6"
        );
        let mut stmt = conn
            .prepare(&text)
            .map_err(sql("preparing a context query"))?;
        let rows = stmt
            .query_map(
                params![q.corp_id, r.msg_time, a, b, r.seq as i64, q.around],
                message_from,
            )
            .map_err(sql("querying context"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sql("reading context"))
    };
    let mut before = side("<", "DESC")?;
    before.reverse();
    let after = side(">", "ASC")?;
    before.push(center);
    before.extend(after);
    Ok(before)
}

pub(super) fn hit_counts(
    conn: &Connection,
    corp_id: Option<&str>,
) -> Result<HitCounts, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT strategy_id, MAX(strategy_name), COUNT(*) FROM we_chat_contact_sensitive_msg
             WHERE del_flag = 0 AND (?1 IS NULL OR corp_id = ?1) GROUP BY strategy_id ORDER BY strategy_id",
        )
        .map_err(sql("preparing hit counts"))?;
    let strategies = stmt
        .query_map([corp_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
        })
        .map_err(sql("counting hits"))?
        .collect::<Result<_, _>>()
        .map_err(sql("counting hits"))?;
    let mut stmt = conn
        .prepare(
            "SELECT sensitive_act, COUNT(*) FROM we_sensitive_act_hit
             WHERE del_flag = 0 AND (?1 IS NULL OR corp_id = ?1) GROUP BY sensitive_act_id ORDER BY sensitive_act_id",
        )
        .map_err(sql("preparing behaviour counts"))?;
    let acts = stmt
        .query_map([corp_id], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        })
        .map_err(sql("counting behaviour hits"))?
        .collect::<Result<_, _>>()
        .map_err(sql("counting behaviour hits"))?;
    Ok(HitCounts { strategies, acts })
}

impl HitStore for SqliteStore {
    fn store_hits(
        &self,
        hits: &[HitRow],
        act_hits: &[ActHitRow],
    ) -> Result<(u64, u64), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql("starting a hit insert"))?;
        let n = insert_hits(&tx, hits)?;
        let m = insert_act_hits(&tx, act_hits)?;
        tx.commit().map_err(sql("committing hits"))?;
        Ok((n, m))
    }

    fn unstored_hits(
        &self,
        mut hits: Vec<HitRow>,
        mut act_hits: Vec<ActHitRow>,
    ) -> Result<(Vec<HitRow>, Vec<ActHitRow>), StoreError> {
        let conn = self.conn();
        keep_unstored(
            &conn,
            "SELECT msg_time, msg_id, strategy_id FROM we_chat_contact_sensitive_msg
             WHERE corp_id = ?1 AND msg_time BETWEEN ?2 AND ?3",
            &mut hits,
            |h| (&h.corp_id, h.msg_time, &h.msg_id, h.strategy_id),
        )?;
        keep_unstored(
            &conn,
            "SELECT msg_time, msg_id, sensitive_act_id FROM we_sensitive_act_hit
             WHERE corp_id = ?1 AND msg_time BETWEEN ?2 AND ?3",
            &mut act_hits,
            |h| (&h.corp_id, h.msg_time, &h.msg_id, h.sensitive_act_id),
        )?;
        Ok((hits, act_hits))
    }

    fn hits(&self, query: &HitQuery) -> Result<Vec<StoredHit>, StoreError> {
        query_hits(&self.conn(), query)
    }

    fn act_hits(&self, query: &HitQuery) -> Result<Vec<ActHitRow>, StoreError> {
        query_act_hits(&self.conn(), query)
    }

    fn hit_counts(&self, corp_id: Option<&str>) -> Result<HitCounts, StoreError> {
        hit_counts(&self.conn(), corp_id)
    }

    fn daily_counts(&self, query: &HitQuery, zone: &Zone) -> Result<Vec<DailyCount>, StoreError> {
        daily_counts(&self.conn(), query, zone)
    }

    fn context(&self, query: &ContextQuery) -> Result<Vec<StoredMessage>, StoreError> {
        context(&self.conn(), query, MESSAGE_COLUMNS, message_from)
    }

    fn message_texts(
        &self,
        corp_id: &str,
        keys: &[(i64, String)],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT plain_text FROM we_chat_contact_msg
                 WHERE corp_id = ?1 AND msg_time = ?2 AND msg_id = ?3",
            )
            .map_err(sql("preparing a message-text lookup"))?;
        let mut out = Vec::with_capacity(keys.len());
        for (time, msg_id) in keys {
            let text: Option<String> = stmt
                .query_row(params![corp_id, time, msg_id], |r| r.get(0))
                .optional()
                .map_err(sql("reading a message's text"))?;
            if let Some(text) = text {
                out.push((msg_id.clone(), text));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Conversation;

    /// The indexes SQLite's plan for `q`'s page names.
    fn plan(conn: &Connection, q: &HitQuery) -> String {
        let w = hits_statement(q);
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", w.sql))
            .expect("explain");
        let rows = stmt
            .query_map(rusqlite::params_from_iter(w.args), |r| {
                r.get::<_, String>(3)
            })
            .expect("plan");
        rows.map(|r| r.expect("plan row"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A page by sender, by group or of a conversation is read through the index for it, on a
    /// store with no statistics (the store never runs `ANALYZE`): the page's order index, which
    /// SQLite otherwise prefers with a `LIMIT`, reads every newer hit first.
    #[test]
    fn filtered_pages_are_read_through_their_indexes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = super::super::SqliteStore::open(dir.path().join("s.db")).expect("open");
        let conn = store.conn();
        let page = |q: HitQuery| HitQuery { limit: 50, ..q };
        let cases = [
            (
                page(HitQuery {
                    from_id: Some("zhangsan".into()),
                    ..HitQuery::default()
                }),
                "we_chat_contact_sensitive_msg_from",
            ),
            (
                page(HitQuery {
                    corp_id: Some("ww1".into()),
                    from_id: Some("zhangsan".into()),
                    since_ms: Some(1),
                    ..HitQuery::default()
                }),
                "we_chat_contact_sensitive_msg_from",
            ),
            (
                page(HitQuery {
                    corp_id: Some("ww1".into()),
                    room_id: Some("wr1".into()),
                    ..HitQuery::default()
                }),
                "we_chat_contact_sensitive_msg_room",
            ),
            (
                page(HitQuery {
                    corp_id: Some("ww1".into()),
                    conversation: Some(Conversation::pair("zhangsan", "wmX")),
                    ..HitQuery::default()
                }),
                "we_chat_contact_sensitive_msg_pair (to_list=? AND from_id=?)",
            ),
            (
                page(HitQuery {
                    corp_id: Some("ww1".into()),
                    conversation: Some(Conversation::Room("wr1".into())),
                    ..HitQuery::default()
                }),
                "we_chat_contact_sensitive_msg_room (room_id=?)",
            ),
        ];
        for (q, index) in cases {
            let plan = plan(&conn, &q);
            assert!(plan.contains(index), "{q:?}: {plan}");
        }
    }
}
