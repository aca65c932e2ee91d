//! Hits on ClickHouse: strategy and behaviour hit rows (read back before inserting, so a replay adds
//! nothing), their queries, counts per strategy and per day, and a hit's conversation context.

use std::collections::HashSet;

use super::filter::{Filter, Value, ms, s};
use super::review::reviewed_in;
use super::rows::{ActHitChRow, DayCount, HitChRow, HitKey, MsgRow, NamedCount};
use super::window;
use super::{ClickHouseStore, by_corp, now};
use crate::message::MessageRow;
use crate::store::types::*;
use crate::store::{HitKind, ReviewState};
use crate::store::{HitStore, StoreError};
use crate::timefmt::Zone;

/// A hit table as reviews name it: (table, id expression as `Int64`).
pub(super) fn review_target(kind: HitKind) -> (&'static str, &'static str) {
    match kind {
        HitKind::Strategy => ("we_chat_contact_sensitive_msg", "strategy_id"),
        HitKind::Behaviour => ("we_sensitive_act_hit", "toInt64(sensitive_act_id)"),
    }
}

/// The time of some hits.
#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
struct HitTime {
    t: u64,
}

/// The nearest time among some hits, and how many there are (`max` of nothing is 0 on 18.16).
#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
struct Nearest {
    t: u64,
    n: u64,
}

/// The two hit tables, as a page of them is read.
#[derive(Clone, Copy)]
enum HitTable {
    Strategy,
    Behaviour,
}

impl ClickHouseStore {
    /// One page of a hit table under `q`'s filters: newest first, then by msgid descending, then by
    /// strategy or behaviour.
    fn hit_page<R: clickhouse::RowOwned + clickhouse::RowRead>(
        &self,
        table: HitTable,
        q: &HitQuery,
    ) -> Result<Vec<R>, StoreError> {
        let (name, id, what) = match table {
            HitTable::Strategy => (
                "we_chat_contact_sensitive_msg",
                "strategy_id",
                "querying hits",
            ),
            HitTable::Behaviour => (
                "we_sensitive_act_hit",
                "sensitive_act_id",
                "querying behaviour hits",
            ),
        };
        let strategy = matches!(table, HitTable::Strategy);
        let page = |times: Option<Vec<u64>>, w: window::Window, wanted: u32| {
            let mut f = Filter::new(format!("SELECT ?fields FROM {name} FINAL WHERE 1 = 1"));
            hit_filters(q, &mut f, strategy);
            w.and_to(&mut f);
            f.and_opt(
                "msg_time IN (SELECT toUInt64(arrayJoin(?)))",
                times.map(Value::U64s),
            );
            f.sql.push_str(&format!(
                " ORDER BY msg_time DESC, msg_id DESC, {id} LIMIT {wanted}"
            ));
            self.conn.fetch(what, f.bind(self.conn.query(&f.sql)))
        };
        if q.msg_id.is_some() || !q.msg_ids.is_empty() {
            // A lookup of given messages (to open or review a hit): their times first, without
            // `FINAL`, then only those times under it, which the sort key finds. Slices of time
            // read everything between now and the hit (1.35 s for a year-old hit among
            // 5,000,000; 0.13 s so).
            let mut f = Filter::new(format!(
                "SELECT DISTINCT msg_time AS t FROM {name} WHERE 1 = 1"
            ));
            hit_filters(q, &mut f, strategy);
            let times: Vec<HitTime> = self
                .conn
                .fetch("finding the hits' times", f.bind(self.conn.query(&f.sql)))?;
            if times.is_empty() {
                return Ok(Vec::new());
            }
            let times = times.into_iter().map(|t| t.t).collect();
            return page(Some(times), window::Window::default(), q.limit.max(1));
        }
        // Where the next hit is: its time without `FINAL`, reading one column where the filters
        // allow (0.06–0.09 s at 5,000,000 hits), so that a slice with none jumps the empty time
        // rather than reading everything under `FINAL` (1.5 s).
        let mut nearest = |w: window::Window, way: window::Towards| {
            let newest = match way {
                window::Towards::Older => "max",
                window::Towards::Newer => "min",
            };
            let mut f = Filter::new(format!(
                "SELECT {newest}(msg_time) AS t, count() AS n FROM {name} WHERE 1 = 1"
            ));
            hit_filters(q, &mut f, strategy);
            w.and_to(&mut f);
            let rows: Vec<Nearest> = self
                .conn
                .fetch("finding the next hit", f.bind(self.conn.query(&f.sql)))?;
            Ok(rows.first().filter(|r| r.n > 0).map(|r| r.t))
        };
        // Newest first, from the cursor (or `until`) back to `since`, a slice of time at a time.
        let from = q.after.as_ref().map(|c| c.msg_time).or(q.until_ms);
        window::newest_first(
            from,
            q.since_ms,
            q.limit,
            |w, wanted| page(None, w, wanted),
            Some(&mut nearest),
        )
    }

    /// Inserts hits and behaviour hits, skipping stored ones (read back when `verify`); returns
    /// how many were new.
    pub(super) fn insert_hits(
        &self,
        hits: &[HitRow],
        act_hits: &[ActHitRow],
        verify: bool,
    ) -> Result<(u64, u64), StoreError> {
        let now = now();
        let mut new_hits = Vec::new();
        for (corp, group) in by_corp(hits, |h| &h.corp_id) {
            let mut seen = self.stored_keys(
                verify,
                "reading which hits are stored",
                ("we_chat_contact_sensitive_msg", "strategy_id"),
                corp,
                group.iter().map(|h| (h.msg_id.as_str(), h.msg_time)),
            )?;
            new_hits.extend(
                group
                    .into_iter()
                    .filter(|h| seen.insert((h.msg_id.clone(), h.strategy_id)))
                    .map(|h| HitChRow::new(h, now)),
            );
        }
        let mut new_acts = Vec::new();
        for (corp, group) in by_corp(act_hits, |a| &a.corp_id) {
            let mut seen = self.stored_keys(
                verify,
                "reading which behaviour hits are stored",
                ("we_sensitive_act_hit", "toInt64(sensitive_act_id)"),
                corp,
                group.iter().map(|a| (a.msg_id.as_str(), a.msg_time)),
            )?;
            new_acts.extend(
                group
                    .into_iter()
                    .filter(|a| seen.insert((a.msg_id.clone(), a.sensitive_act_id)))
                    .map(|a| ActHitChRow::new(a, now)),
            );
        }
        self.conn
            .insert("inserting hits", "we_chat_contact_sensitive_msg", &new_hits)?;
        self.conn.insert(
            "inserting behaviour hits",
            "we_sensitive_act_hit",
            &new_acts,
        )?;
        Ok((new_hits.len() as u64, new_acts.len() as u64))
    }

    /// The (msgid, id) keys of `table` (its id column `id`) stored for a corp's (msgid, msg_time)
    /// `keys`; nothing when not `verify`. The keys' time range lets the primary key (corp, time,
    /// …) narrow the read, and `IN` a set: `has(ids, msg_id)` compared every row of the corp with
    /// every id (25 s for 2,000 ids against a corp's 5,000,000 hits on 18.16; 0.005 s this way).
    fn stored_keys<'a>(
        &self,
        verify: bool,
        context: &'static str,
        (table, id): (&str, &str),
        corp: &str,
        keys: impl Iterator<Item = (&'a str, i64)>,
    ) -> Result<HashSet<(String, i64)>, StoreError> {
        if !verify {
            return Ok(HashSet::new());
        }
        let (ids, times): (Vec<&str>, Vec<i64>) = keys.unzip();
        let (Some(lo), Some(hi)) = (times.iter().min(), times.iter().max()) else {
            return Ok(HashSet::new());
        };
        let sql = format!(
            "SELECT msg_id, {id} AS id FROM {table} \
             WHERE corp_id = ? AND msg_time >= ? AND msg_time <= ? \
             AND msg_id IN (SELECT arrayJoin(?))"
        );
        let q = self
            .conn
            .query(&sql)
            .bind(corp)
            .bind((*lo).max(0) as u64)
            .bind((*hi).max(0) as u64)
            .bind(ids.as_slice());
        let found: Vec<HitKey> = self.conn.fetch(context, q)?;
        Ok(found.into_iter().map(|k| (k.msg_id, k.id)).collect())
    }
}

impl HitStore for ClickHouseStore {
    fn store_hits(
        &self,
        hits: &[HitRow],
        act_hits: &[ActHitRow],
    ) -> Result<(u64, u64), StoreError> {
        self.insert_hits(hits, act_hits, true)
    }

    fn hits(&self, q: &HitQuery) -> Result<Vec<StoredHit>, StoreError> {
        let rows: Vec<HitChRow> = self.hit_page(HitTable::Strategy, q)?;
        Ok(rows
            .into_iter()
            .map(|r| StoredHit { hit: r.into_hit() })
            .collect())
    }

    fn act_hits(&self, q: &HitQuery) -> Result<Vec<ActHitRow>, StoreError> {
        let rows: Vec<ActHitChRow> = self.hit_page(HitTable::Behaviour, q)?;
        Ok(rows.into_iter().map(ActHitChRow::into_act_hit).collect())
    }

    fn hit_counts(&self, corp_id: Option<&str>) -> Result<HitCounts, StoreError> {
        let corp = corp_id.map(|c| Value::Str(c.to_owned()));
        let mut f = Filter::new(
            "SELECT strategy_id AS id, any(strategy_name) AS name, count() AS value \
             FROM we_chat_contact_sensitive_msg FINAL WHERE 1 = 1",
        );
        f.and_opt("corp_id = ?", corp.clone());
        f.sql.push_str(" GROUP BY strategy_id ORDER BY strategy_id");
        let strategies: Vec<NamedCount> = self
            .conn
            .fetch("counting hits", f.bind(self.conn.query(&f.sql)))?;
        let mut f = Filter::new(
            "SELECT toInt64(sensitive_act_id) AS id, any(sensitive_act) AS name, count() AS value \
             FROM we_sensitive_act_hit FINAL WHERE 1 = 1",
        );
        f.and_opt("corp_id = ?", corp);
        f.sql
            .push_str(" GROUP BY sensitive_act_id ORDER BY sensitive_act_id");
        let acts: Vec<NamedCount> = self
            .conn
            .fetch("counting behaviour hits", f.bind(self.conn.query(&f.sql)))?;
        Ok(HitCounts {
            strategies: strategies
                .into_iter()
                .map(|c| (c.id, c.name, c.value))
                .collect(),
            acts: acts.into_iter().map(|c| (c.name, c.value)).collect(),
        })
    }

    fn daily_counts(&self, q: &HitQuery, zone: &Zone) -> Result<Vec<DailyCount>, StoreError> {
        // The calendar day in `zone` (the server's tz database knows the IANA names).
        let day = "formatDateTime(toDateTime(intDiv(msg_time, 1000)), '%Y-%m-%d', ?) AS day";
        let mut out = Vec::new();
        for (strategy, select, group) in [
            (
                true,
                format!(
                    "SELECT {day}, strategy_id AS id, any(strategy_name) AS name, count() AS value \
                     FROM we_chat_contact_sensitive_msg FINAL WHERE 1 = 1"
                ),
                " GROUP BY day, id ORDER BY day, id",
            ),
            (
                false,
                format!(
                    "SELECT {day}, toInt64(sensitive_act_id) AS id, any(sensitive_act) AS name, \
                     count() AS value FROM we_sensitive_act_hit FINAL WHERE 1 = 1"
                ),
                " GROUP BY day, id ORDER BY day, id",
            ),
        ] {
            let mut f = Filter::new(String::new());
            f.push(&select, [Value::Str(zone.name().to_owned())]);
            let q = HitQuery {
                after: None,
                ..q.clone()
            };
            hit_filters(&q, &mut f, strategy);
            f.sql.push_str(group);
            let rows: Vec<DayCount> = self
                .conn
                .fetch("counting hits per day", f.bind(self.conn.query(&f.sql)))?;
            out.extend(rows.into_iter().map(|r| DailyCount {
                day: r.day,
                kind: if strategy { "strategy" } else { "behaviour" },
                id: r.id,
                name: r.name,
                count: r.value,
            }));
        }
        Ok(out)
    }

    fn context(&self, q: &ContextQuery) -> Result<Vec<StoredMessage>, StoreError> {
        let center = self.conn.fetch_map::<MsgRow<'static>, _>(
            "finding the message",
            self.conn
                .query(
                    "SELECT ?fields FROM we_chat_contact_msg \
                     WHERE corp_id = ? AND msg_time = ? AND msg_id = ? LIMIT 1",
                )
                .bind(q.corp_id.as_str())
                .bind(q.msg_time.max(0) as u64)
                .bind(q.msg_id.as_str()),
            |r| r.to_message(),
        )?;
        let Some(center) = center.into_iter().next() else {
            return Err(StoreError::NotFound {
                what: "message",
                key: format!("{} {}", q.corp_id, q.msg_id),
            });
        };
        let side = |before: bool| -> Result<Vec<MessageRow>, StoreError> {
            let (cmp, order) = if before { ("<", "DESC") } else { (">", "ASC") };
            let mut f = Filter::new("SELECT ?fields FROM we_chat_contact_msg WHERE 1 = 1");
            f.and_opt("corp_id = ?", Some(Value::Str(q.corp_id.clone())));
            if center.room_id.is_empty() {
                f.push(
                    " AND room_id = '' AND ((from_id = ? AND to_list = ?) OR (from_id = ? AND to_list = ?))",
                    [
                        Value::Str(center.from_id.clone()),
                        Value::Str(center.to_list.clone()),
                        Value::Str(center.to_list.clone()),
                        Value::Str(center.from_id.clone()),
                    ],
                );
            } else {
                f.push(" AND room_id = ?", [Value::Str(center.room_id.clone())]);
            }
            f.push(
                &format!(" AND (msg_time {cmp} ? OR (msg_time = ? AND seq {cmp} ?))"),
                [
                    Value::U64(center.msg_time.max(0) as u64),
                    Value::U64(center.msg_time.max(0) as u64),
                    Value::U64(center.seq),
                ],
            );
            f.sql.push_str(&format!(
                " ORDER BY msg_time {order}, seq {order} LIMIT {}",
                q.around
            ));
            self.conn.fetch_map::<MsgRow<'static>, _>(
                "querying context",
                f.bind(self.conn.query(&f.sql)),
                |r| r.to_message(),
            )
        };
        let mut rows = side(true)?;
        rows.reverse();
        let after = side(false)?;
        rows.push(center);
        rows.extend(after);
        Ok(rows.into_iter().map(|row| StoredMessage { row }).collect())
    }

    fn message_texts(
        &self,
        corp_id: &str,
        keys: &[(i64, String)],
    ) -> Result<Vec<(String, String)>, StoreError> {
        let (Some(first), Some(last)) = (
            keys.iter().map(|k| k.0).min(),
            keys.iter().map(|k| k.0).max(),
        ) else {
            return Ok(Vec::new());
        };
        let ids: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
        let q = self
            .conn
            .query(
                "SELECT msg_id, any(plain_text) AS text FROM we_chat_contact_msg \
                 WHERE corp_id = ? AND msg_time >= ? AND msg_time <= ? AND msg_id IN (SELECT arrayJoin(?)) \
                 GROUP BY msg_id",
            )
            .bind(corp_id)
            .bind(first.max(0) as u64)
            .bind(last.max(0) as u64)
            .bind(ids.as_slice());
        let rows: Vec<MsgText> = self.conn.fetch("reading messages' text", q)?;
        Ok(rows.into_iter().map(|r| (r.msg_id, r.text)).collect())
    }
}

/// A message's id and visible text.
#[derive(Debug, Clone, clickhouse::Row, serde::Deserialize)]
struct MsgText {
    msg_id: String,
    text: String,
}

/// The filters of a hit query (`strategy` = the strategy-hit table, else the behaviour-hit table).
pub(super) fn hit_filters(q: &HitQuery, f: &mut Filter, strategy: bool) {
    f.and_opt("corp_id = ?", s(&q.corp_id))
        .and_opt("msg_time >= ?", ms(q.since_ms))
        .and_opt("msg_time < ?", ms(q.until_ms))
        .and_opt("msg_id = ?", s(&q.msg_id))
        .and_opt(
            "msg_id IN (SELECT arrayJoin(?))",
            (!q.msg_ids.is_empty()).then(|| Value::Strs(q.msg_ids.clone())),
        )
        .and_opt(
            if strategy {
                "from_id = ?"
            } else {
                "operator_id = ?"
            },
            s(&q.from_id),
        );
    let id = if strategy {
        "strategy_id"
    } else {
        "toInt64(sensitive_act_id)"
    };
    if strategy {
        f.and_opt("strategy_id = ?", q.strategy_id.map(Value::I64))
            .and_opt("room_id = ?", s(&q.room_id))
            .and_opt(
                "send_status = ?",
                q.send_status.map(|v| Value::U64(u64::from(v))),
            )
            .and_opt("has(splitByChar(',', pattern_words), ?)", s(&q.word))
            .and_opt("has(splitByChar(',', to_list), ?)", s(&q.to_id));
        if let Some(c) = &q.conversation {
            let (condition, values) = crate::store::types::conversation_condition(c);
            f.push(" AND ", []);
            f.push(condition, values.into_iter().map(Value::Str));
        }
        if let Some(ids) = &q.strategy_ids {
            // Integers, written in: 18.16 binds no numeric arrays (nor takes `has([], x)`).
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            if list.is_empty() {
                f.push(" AND 0", []);
            } else {
                f.push(&format!(" AND strategy_id IN ({})", list.join(", ")), []);
            }
        }
    } else {
        f.and_opt(
            "sensitive_act_id = ?",
            q.act_id.map(|v| Value::U64(v.max(0) as u64)),
        );
        if let Some(ids) = &q.operator_ids {
            if ids.is_empty() {
                f.push(" AND 0", []);
            } else {
                f.push(
                    " AND operator_id IN (SELECT arrayJoin(?))",
                    [Value::Strs(ids.clone())],
                );
            }
        }
    }
    if let Some(state) = q.review_state {
        let kind = if strategy {
            HitKind::Strategy
        } else {
            HitKind::Behaviour
        };
        let (_, id) = review_target(kind);
        f.push(
            &if state == ReviewState::Pending {
                format!(
                    " AND (corp_id, msg_id, {id}) GLOBAL NOT IN {}",
                    reviewed_in(kind, "review_state != 0")
                )
            } else {
                format!(
                    " AND (corp_id, msg_id, {id}) GLOBAL IN {}",
                    reviewed_in(kind, &format!("review_state = {}", state.code()))
                )
            },
            [],
        );
    }
    if let Some(c) = &q.after {
        let t = Value::U64(c.msg_time.max(0) as u64);
        let m = Value::Str(c.msg_id.clone());
        f.push(
            &format!(
                " AND (msg_time < ? OR (msg_time = ? AND (msg_id < ? OR (msg_id = ? AND {id} > ?))))"
            ),
            [t.clone(), t, m.clone(), m, Value::I64(c.id)],
        );
    }
}
