//! [`Store`] on ClickHouse.
//!
//! Exactly-once on an at-least-once store: before inserting a batch, the writer reads back which of
//! its keys are already stored — messages by (corp, msgid) within the batch's time range, dead
//! letters by (corp, seq), hits by (corp, msgid, strategy), behaviour hits by (corp, msgid,
//! behaviour) — and inserts only the rest. A batch replayed after a crash between its inserts and
//! its checkpoint therefore adds nothing, and a batch whose inserts failed half-way is completed.
//! The checkpoint row goes in last, so it is never ahead of the data. One daemon writes a corp; the
//! replacing engines collapse anything a second writer might still double.
//!
//! The read-back costs round trips, so it is done only where something can already be stored: a
//! process remembers, per corp, the seq up to which its own batches all succeeded (its frontier). A
//! batch wholly past the frontier is new by construction and goes straight in; the first batch after
//! a start, and any batch after a failed one, is checked.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::Connection;
use super::filter::{Filter, Value, ms, s};
use super::rows::{
    ActHitChRow, CheckpointRow, CorpReasonCount, CorpRow, Count, DayCount, DeadRow, HitChRow,
    HitKey, MsgRow, NamedCount, Text,
};
use crate::audit::RuleSet;
use crate::message::MessageRow;
use crate::store::types::*;
use crate::store::{AlertPost, PendingAlert, Robot, Store, StoreError};

/// The ClickHouse store.
#[derive(Debug)]
pub struct ClickHouseStore {
    conn: Connection,
    /// Per corp, the seq up to which this process stored every batch successfully: a batch wholly
    /// past it cannot be stored yet (one writer per corp), so its read-back is skipped.
    frontier: Mutex<HashMap<String, u64>>,
}

fn now() -> u64 {
    crate::timefmt::now_ms().max(0) as u64
}

impl ClickHouseStore {
    /// Connects to the database `url` names and brings its schema up to date.
    pub fn open(url: &str) -> Result<ClickHouseStore, StoreError> {
        let conn = Connection::new(super::ClickHouseUrl::parse(url)?)?;
        super::migrate::migrate(&conn)?;
        Ok(ClickHouseStore {
            conn,
            frontier: Mutex::new(HashMap::new()),
        })
    }

    /// Drops the whole database (for tests on a shared server).
    pub fn drop_database(&self) -> Result<(), StoreError> {
        self.conn.execute_on_server(
            "dropping the database",
            &format!("DROP DATABASE IF EXISTS {}", self.conn.database()),
        )
    }

    /// The msgids of `messages` (of one corp) already stored.
    fn stored_msgids(
        &self,
        corp: &str,
        messages: &[MessageRow],
    ) -> Result<HashSet<String>, StoreError> {
        let times = messages.iter().map(|m| m.msg_time.max(0) as u64);
        let (Some(lo), Some(hi)) = (times.clone().min(), times.max()) else {
            return Ok(HashSet::new());
        };
        let ids: Vec<&str> = messages.iter().map(|m| m.msg_id.as_str()).collect();
        // The time range lets the primary key (corp, time, …) narrow the read.
        let q = self
            .conn
            .query(
                "SELECT msg_id AS value FROM we_chat_contact_msg \
                 WHERE corp_id = ? AND msg_time BETWEEN ? AND ? AND has(?, msg_id)",
            )
            .bind(corp)
            .bind(lo)
            .bind(hi)
            .bind(ids.as_slice());
        let found: Vec<Text> = self.conn.fetch("reading which messages are stored", q)?;
        Ok(found.into_iter().map(|t| t.value).collect())
    }

    /// The seqs among `seqs` that already have a dead letter.
    fn stored_dead_seqs(&self, corp: &str, seqs: &[u64]) -> Result<HashSet<u64>, StoreError> {
        if seqs.is_empty() {
            return Ok(HashSet::new());
        }
        let q = self
            .conn
            .query("SELECT seq AS value FROM we_chat_msg_dead_letter WHERE corp_id = ? AND has(?, seq)")
            .bind(corp)
            .bind(seqs);
        let found: Vec<Count> = self
            .conn
            .fetch("reading which dead letters are stored", q)?;
        Ok(found.into_iter().map(|r| r.value).collect())
    }

    /// How far this process has stored the corp's archive with nothing left to verify.
    fn frontier_of(&self, corp: &str) -> Option<u64> {
        self.frontier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(corp)
            .copied()
    }

    /// Writes a batch: messages, dead letters, hits, then the checkpoint; reading back what is
    /// already stored first when `verify`.
    fn write_batch(&self, batch: &StoreBatch, verify: bool) -> Result<BatchOutcome, StoreError> {
        let mut outcome = BatchOutcome::default();
        let now = now();
        (outcome.inserted, outcome.duplicates) =
            self.insert_messages(&batch.corp_id, &batch.messages, verify, now)?;

        let seqs: Vec<u64> = batch.dead_letters.iter().map(|d| d.seq).collect();
        let mut dead_seen = if verify {
            self.stored_dead_seqs(&batch.corp_id, &seqs)?
        } else {
            HashSet::new()
        };
        let dead: Vec<DeadRow> = batch
            .dead_letters
            .iter()
            .filter(|d| dead_seen.insert(d.seq))
            .map(|d| DeadRow::new(d, now))
            .collect();
        outcome.dead_letters = dead.len() as u64;
        self.conn
            .insert("inserting dead letters", "we_chat_msg_dead_letter", &dead)?;

        if !batch.hits.is_empty() || !batch.act_hits.is_empty() {
            let (h, a) = self.insert_hits(&batch.hits, &batch.act_hits, verify)?;
            outcome.hits = h;
            outcome.act_hits = a;
        }
        self.conn.insert(
            "moving the checkpoint",
            "we_chat_msg_checkpoint",
            &[CheckpointRow {
                corp_id: batch.corp_id.clone(),
                seq: batch.checkpoint,
                update_time: now,
            }],
        )?;
        Ok(outcome)
    }

    /// Inserts a corp's messages not yet stored (read back first when `verify`); returns
    /// (inserted, duplicates).
    fn insert_messages(
        &self,
        corp: &str,
        messages: &[MessageRow],
        verify: bool,
        now: u64,
    ) -> Result<(u64, u64), StoreError> {
        let mut seen = if verify {
            self.stored_msgids(corp, messages)?
        } else {
            HashSet::new()
        };
        let rows: Vec<MsgRow> = messages
            .iter()
            .filter(|m| seen.insert(m.msg_id.clone()))
            .map(|m| MsgRow::new(m, now))
            .collect();
        self.conn
            .insert("inserting messages", "we_chat_contact_msg", &rows)?;
        let inserted = rows.len() as u64;
        Ok((inserted, messages.len() as u64 - inserted))
    }

    /// Inserts hits and behaviour hits, skipping stored ones (read back when `verify`); returns
    /// how many were new.
    fn insert_hits(
        &self,
        hits: &[HitRow],
        act_hits: &[ActHitRow],
        verify: bool,
    ) -> Result<(u64, u64), StoreError> {
        let now = now();
        let mut new_hits = Vec::new();
        for (corp, group) in by_corp(hits, |h| &h.corp_id) {
            let ids = group.iter().map(|h| h.msg_id.as_str());
            let mut seen = self.stored_keys(
                verify,
                "reading which hits are stored",
                "SELECT msg_id, strategy_id AS id FROM we_chat_contact_sensitive_msg \
                 WHERE corp_id = ? AND has(?, msg_id)",
                corp,
                ids,
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
            let ids = group.iter().map(|a| a.msg_id.as_str());
            let mut seen = self.stored_keys(
                verify,
                "reading which behaviour hits are stored",
                "SELECT msg_id, toInt64(sensitive_act_id) AS id FROM we_sensitive_act_hit \
                 WHERE corp_id = ? AND has(?, msg_id)",
                corp,
                ids,
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

    /// The (msgid, id) keys a query finds among `ids` of a corp; nothing when not `verify`.
    fn stored_keys<'a>(
        &self,
        verify: bool,
        context: &'static str,
        sql: &str,
        corp: &str,
        ids: impl Iterator<Item = &'a str>,
    ) -> Result<HashSet<(String, i64)>, StoreError> {
        if !verify {
            return Ok(HashSet::new());
        }
        let ids: Vec<&str> = ids.collect();
        let q = self.conn.query(sql).bind(corp).bind(ids.as_slice());
        let found: Vec<HitKey> = self.conn.fetch(context, q)?;
        Ok(found.into_iter().map(|k| (k.msg_id, k.id)).collect())
    }
}

impl Store for ClickHouseStore {
    /// Keeps the per-corp frontier: moved on success, forgotten on failure.
    fn store_batch(&self, batch: &StoreBatch) -> Result<BatchOutcome, StoreError> {
        let first_seq = batch
            .messages
            .iter()
            .map(|m| m.seq)
            .chain(batch.dead_letters.iter().map(|d| d.seq))
            .min();
        // Past this process's frontier for the corp nothing can be stored yet: skip the read-back.
        let verify = match (first_seq, self.frontier_of(&batch.corp_id)) {
            (None, _) => false,
            (Some(first), Some(frontier)) => first <= frontier,
            (Some(_), None) => true,
        };
        let result = self.write_batch(batch, verify);
        let mut frontier = self.frontier.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(_) => {
                let f = frontier.entry(batch.corp_id.clone()).or_insert(0);
                *f = (*f).max(batch.checkpoint);
            }
            // Part of the batch may be stored: its retry must read back.
            Err(_) => {
                frontier.remove(&batch.corp_id);
            }
        }
        result
    }

    fn checkpoint(&self, corp_id: &str) -> Result<Option<u64>, StoreError> {
        // The checkpoint never moves backwards: the largest seq recorded is the one.
        let q = self
            .conn
            .query("SELECT max(seq) AS value FROM we_chat_msg_checkpoint WHERE corp_id = ? GROUP BY corp_id")
            .bind(corp_id);
        let found: Vec<Count> = self.conn.fetch("reading a checkpoint", q)?;
        Ok(found.first().map(|r| r.value))
    }

    fn corp_progress(&self) -> Result<Vec<CorpProgress>, StoreError> {
        let checkpoints: Vec<NamedCount> = self.conn.fetch_all(
            "reading checkpoints",
            "SELECT toInt64(0) AS id, corp_id AS name, max(seq) AS value \
             FROM we_chat_msg_checkpoint GROUP BY corp_id ORDER BY corp_id",
        )?;
        let newest: Vec<NamedCount> = self.conn.fetch_all(
            "reading the newest messages",
            "SELECT toInt64(0) AS id, corp_id AS name, max(msg_time) AS value \
             FROM we_chat_contact_msg GROUP BY corp_id",
        )?;
        let dead: Vec<CorpReasonCount> = self.conn.fetch_all(
            "counting dead letters",
            "SELECT corp_id, reason, count() AS value \
             FROM we_chat_msg_dead_letter FINAL WHERE status = 0 \
             GROUP BY corp_id, reason ORDER BY corp_id, reason",
        )?;
        Ok(checkpoints
            .into_iter()
            .map(|c| CorpProgress {
                newest_msg_ms: newest
                    .iter()
                    .find(|n| n.name == c.name)
                    .map_or(0, |n| n.value as i64),
                pending_dead: dead
                    .iter()
                    .filter(|d| d.corp_id == c.name)
                    .map(|d| (d.reason.clone(), d.value))
                    .collect(),
                checkpoint: c.value,
                corp_id: c.name,
            })
            .collect())
    }

    fn messages(&self, q: &MessageQuery) -> Result<Vec<StoredMessage>, StoreError> {
        let mut f = Filter::new("SELECT ?fields FROM we_chat_contact_msg WHERE del_flg = 0");
        f.and_opt("corp_id = ?", s(&q.corp_id))
            .and_opt("msg_time >= ?", ms(q.since_ms))
            .and_opt("msg_time < ?", ms(q.until_ms))
            .and_opt("from_id = ?", s(&q.from_id))
            .and_opt("room_id = ?", s(&q.room_id))
            .and_opt("position(plain_text, ?) > 0", s(&q.text));
        if let Some(c) = &q.by_seq {
            f.and_after(c);
        }
        let order = if q.by_seq.is_some() {
            "corp_id, seq"
        } else {
            "msg_time, seq"
        };
        f.sql
            .push_str(&format!(" ORDER BY {order} LIMIT {}", q.limit.max(1)));
        let rows: Vec<MsgRow> = self
            .conn
            .fetch("querying messages", f.bind(self.conn.query(&f.sql)))?;
        Ok(rows
            .into_iter()
            .map(|r| StoredMessage {
                row: r.into_message(),
            })
            .collect())
    }

    fn count_messages(&self, corp_id: Option<&str>) -> Result<u64, StoreError> {
        let mut f =
            Filter::new("SELECT count() AS value FROM we_chat_contact_msg WHERE del_flg = 0");
        f.and_opt("corp_id = ?", corp_id.map(|c| Value::Str(c.to_owned())));
        let found: Vec<Count> = self
            .conn
            .fetch("counting messages", f.bind(self.conn.query(&f.sql)))?;
        Ok(found.first().map_or(0, |c| c.value))
    }

    fn dead_letters(&self, q: &DeadLetterQuery) -> Result<Vec<StoredDeadLetter>, StoreError> {
        // Every change is a new version of the row: FINAL reads the latest of each.
        let mut f = Filter::new("SELECT ?fields FROM we_chat_msg_dead_letter FINAL WHERE 1 = 1");
        f.and_opt("corp_id = ?", s(&q.corp_id));
        if q.pending_only {
            f.sql.push_str(" AND status = 0");
        }
        f.and_after(&q.after);
        f.sql
            .push_str(&format!(" ORDER BY corp_id, seq LIMIT {}", q.limit.max(1)));
        let rows: Vec<DeadRow> = self
            .conn
            .fetch("querying dead letters", f.bind(self.conn.query(&f.sql)))?;
        Ok(rows.into_iter().map(DeadRow::into_stored).collect())
    }

    fn record_redrive(&self, outcomes: &[Redrive]) -> Result<(), StoreError> {
        let now = now();
        let mut messages = Vec::new();
        let mut letters = Vec::new();
        for o in outcomes {
            let (letter, resolved) = match o {
                Redrive::Resolved { letter, row } => {
                    messages.push(row.as_ref().clone());
                    (letter, true)
                }
                Redrive::StillDead { letter, .. } => (letter, false),
            };
            let mut next = DeadRow::from_stored(letter);
            next.attempts += 1;
            next.update_time = now.max(next.update_time + 1);
            if resolved {
                next.status = 1;
            } else if let Redrive::StillDead { reason, detail, .. } = o {
                next.reason = reason.as_str().to_owned();
                next.detail = detail.clone();
            }
            letters.push(next);
        }
        // Messages first (idempotently, per corp), then the letters' new versions.
        for (corp, group) in by_corp(&messages, |m| &m.corp_id) {
            let rows: Vec<MessageRow> = group.into_iter().cloned().collect();
            self.insert_messages(corp, &rows, true, now)?;
        }
        self.conn
            .insert("recording a re-drive", "we_chat_msg_dead_letter", &letters)
    }

    fn corp_accounts(&self) -> Result<Vec<CorpAccount>, StoreError> {
        let rows: Vec<CorpRow> = self.conn.fetch(
            "reading corp accounts",
            self.conn.query(
                "SELECT ?fields FROM we_corp_account FINAL WHERE del_flag = 0 ORDER BY corp_id",
            ),
        )?;
        Ok(rows
            .into_iter()
            .map(|r| CorpAccount {
                corp_id: r.corp_id,
                company_name: r.company_name,
                chat_secret_ref: r.chat_secret,
                private_keys_ref: r.finance_private_key,
            })
            .collect())
    }

    fn rules_version(&self) -> Result<u64, StoreError> {
        super::rules::version(&self.conn)
    }

    fn load_rules(&self) -> Result<RuleSet, StoreError> {
        super::rules::load(&self.conn)
    }

    fn save_rules(&self, rules: &RuleSet) -> Result<u64, StoreError> {
        super::rules::save(&self.conn, rules)
    }

    fn store_hits(
        &self,
        hits: &[HitRow],
        act_hits: &[ActHitRow],
    ) -> Result<(u64, u64), StoreError> {
        self.insert_hits(hits, act_hits, true)
    }

    fn hits(&self, q: &HitQuery) -> Result<Vec<StoredHit>, StoreError> {
        let mut f =
            Filter::new("SELECT ?fields FROM we_chat_contact_sensitive_msg FINAL WHERE 1 = 1");
        hit_filters(q, &mut f, true);
        f.sql.push_str(&format!(
            " ORDER BY msg_time DESC, msg_id DESC, strategy_id LIMIT {}",
            q.limit.max(1)
        ));
        let rows: Vec<HitChRow> = self
            .conn
            .fetch("querying hits", f.bind(self.conn.query(&f.sql)))?;
        Ok(rows
            .into_iter()
            .map(|r| StoredHit { hit: r.into_hit() })
            .collect())
    }

    fn act_hits(&self, q: &HitQuery) -> Result<Vec<ActHitRow>, StoreError> {
        let mut f = Filter::new("SELECT ?fields FROM we_sensitive_act_hit FINAL WHERE 1 = 1");
        hit_filters(q, &mut f, false);
        f.sql.push_str(&format!(
            " ORDER BY msg_time DESC, msg_id DESC, sensitive_act_id LIMIT {}",
            q.limit.max(1)
        ));
        let rows: Vec<ActHitChRow> = self
            .conn
            .fetch("querying behaviour hits", f.bind(self.conn.query(&f.sql)))?;
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

    fn daily_counts(&self, q: &HitQuery) -> Result<Vec<DailyCount>, StoreError> {
        let day = "formatDateTime(toDateTime(intDiv(msg_time, 1000), 'UTC'), '%Y-%m-%d') AS day";
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
            let mut f = Filter::new(select);
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

    fn accounts(&self) -> Result<Vec<crate::store::Account>, StoreError> {
        super::access::accounts(&self.conn)
    }

    fn save_account(&self, account: &crate::store::Account) -> Result<(), StoreError> {
        super::access::save_account(&self.conn, account)
    }

    fn log_operation(&self, op: &crate::store::OperLog) -> Result<(), StoreError> {
        super::access::log_operation(&self.conn, op)
    }

    fn operations(&self, limit: u32) -> Result<Vec<crate::store::OperLog>, StoreError> {
        super::access::operations(&self.conn, limit)
    }

    fn robots(&self) -> Result<Vec<Robot>, StoreError> {
        super::alerts::robots(&self.conn)
    }

    fn add_robot(&self, robot: &Robot) -> Result<i64, StoreError> {
        super::alerts::add_robot(&self.conn, robot)
    }

    fn remove_robot(&self, id: i64) -> Result<(), StoreError> {
        super::alerts::remove_robot(&self.conn, id)
    }

    fn pending_alerts(&self, limit: u32) -> Result<Vec<PendingAlert>, StoreError> {
        super::alerts::pending_alerts(&self.conn, limit)
    }

    fn alert_backlog(&self) -> Result<u64, StoreError> {
        super::alerts::alert_backlog(&self.conn)
    }

    fn posts(&self, q: &PostQuery) -> Result<Vec<AlertPost>, StoreError> {
        super::alerts::posts(&self.conn, q)
    }

    fn record_post(&self, post: &AlertPost, settled: &[(HitRow, u8)]) -> Result<(), StoreError> {
        super::alerts::record_post(&self.conn, post, settled)
    }

    fn settle_alerts(&self, settled: &[(HitRow, u8)]) -> Result<(), StoreError> {
        super::alerts::settle(&self.conn, settled)
    }

    fn context(&self, q: &ContextQuery) -> Result<Vec<StoredMessage>, StoreError> {
        let center = self.conn.fetch::<MsgRow>(
            "finding the message",
            self.conn
                .query(
                    "SELECT ?fields FROM we_chat_contact_msg \
                     WHERE corp_id = ? AND msg_time = ? AND msg_id = ? LIMIT 1",
                )
                .bind(q.corp_id.as_str())
                .bind(q.msg_time.max(0) as u64)
                .bind(q.msg_id.as_str()),
        )?;
        let Some(center) = center.into_iter().next() else {
            return Err(StoreError::NotFound {
                what: "message",
                key: format!("{} {}", q.corp_id, q.msg_id),
            });
        };
        let side = |before: bool| -> Result<Vec<MsgRow>, StoreError> {
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
                    Value::U64(center.msg_time),
                    Value::U64(center.msg_time),
                    Value::U64(center.seq),
                ],
            );
            f.sql.push_str(&format!(
                " ORDER BY msg_time {order}, seq {order} LIMIT {}",
                q.around
            ));
            self.conn
                .fetch("querying context", f.bind(self.conn.query(&f.sql)))
        };
        let mut rows = side(true)?;
        rows.reverse();
        let after = side(false)?;
        rows.push(center);
        rows.extend(after);
        Ok(rows
            .into_iter()
            .map(|r| StoredMessage {
                row: r.into_message(),
            })
            .collect())
    }
}

/// `items` grouped by corp, in first-seen order.
fn by_corp<'a, T>(items: &'a [T], corp: impl Fn(&T) -> &String) -> Vec<(&'a str, Vec<&'a T>)> {
    let mut groups: Vec<(&'a str, Vec<&'a T>)> = Vec::new();
    for item in items {
        let c = corp(item).as_str();
        match groups.iter_mut().find(|g| g.0 == c) {
            Some(g) => g.1.push(item),
            None => groups.push((c, vec![item])),
        }
    }
    groups
}

/// The filters of a hit query (`strategy` = the strategy-hit table, else the behaviour-hit table).
fn hit_filters(q: &HitQuery, f: &mut Filter, strategy: bool) {
    f.and_opt("corp_id = ?", s(&q.corp_id))
        .and_opt("msg_time >= ?", ms(q.since_ms))
        .and_opt("msg_time < ?", ms(q.until_ms))
        .and_opt("msg_id = ?", s(&q.msg_id))
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
                f.push(" AND has(?, operator_id)", [Value::Strs(ids.clone())]);
            }
        }
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
