//! The embedded default store: one SQLite file (bundled SQLite, WAL mode, `synchronous=FULL`).
//!
//! A batch is one transaction: messages (`INSERT … ON CONFLICT DO NOTHING`), dead letters and the
//! checkpoint commit together or not at all, so the checkpoint can never get ahead of the rows.
//! One connection behind a mutex serves the writer and the CLI; WAL lets other processes read while
//! the daemon writes.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::migrate::migrate_sqlite;
use super::types::*;
use super::{Store, StoreError};
use crate::message::{DeadReason, MessageRow};

/// The SQLite store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { context, source }
}

use crate::timefmt::now_ms;

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.to_owned(),
                source: rusqlite::Error::InvalidPath(
                    format!("cannot create {}: {e}", dir.display()).into(),
                ),
            })?;
        }
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        migrate_sqlite(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A poisoned lock means a panic mid-call; SQLite rolled the transaction back, the
        // connection itself is still sound.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A `WHERE` clause built from optional filters: `?` in each clause becomes the next parameter.
pub(super) struct Where {
    pub sql: String,
    pub args: Vec<rusqlite::types::Value>,
}

impl Where {
    pub fn new(select: String) -> Where {
        Where {
            sql: select,
            args: Vec::new(),
        }
    }

    /// Adds ` AND clause` with `value` bound to its `?`, when there is a value.
    pub fn and_opt<V: Into<rusqlite::types::Value>>(&mut self, clause: &str, value: Option<V>) {
        if let Some(v) = value {
            self.args.push(v.into());
            let n = self.args.len();
            self.sql.push_str(" AND ");
            self.sql
                .push_str(&clause.replacen('?', &format!("?{n}"), 1));
        }
    }

    /// Adds ` AND clause`, each `?` in it bound to the next of `values`.
    pub fn and_all(&mut self, clause: &str, values: Vec<rusqlite::types::Value>) {
        let mut out = String::with_capacity(clause.len() + 8);
        let mut values = values.into_iter().peekable();
        for c in clause.chars() {
            match (c, values.next_if(|_| c == '?')) {
                ('?', Some(v)) => {
                    self.args.push(v);
                    out.push_str(&format!("?{}", self.args.len()));
                }
                _ => out.push(c),
            }
        }
        self.sql.push_str(" AND ");
        self.sql.push_str(&out);
    }

    /// Adds ` AND` rows after `cursor` in (corp_id, seq) order.
    pub fn and_after(&mut self, cursor: &SeqCursor) {
        self.args.push(cursor.corp_id.clone().into());
        self.args.push(to_i64(cursor.seq).into());
        let (c, s) = (self.args.len() - 1, self.args.len());
        self.sql.push_str(&format!(
            " AND (corp_id > ?{c} OR (corp_id = ?{c} AND seq > ?{s}))"
        ));
    }
}

const INSERT_MESSAGE: &str = "INSERT INTO we_chat_contact_msg
    (corp_id, msg_id, seq, publickey_ver, from_id, to_list, room_id, action, msg_type, msg_time,
     contact, is_external, plain_text)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
    ON CONFLICT (corp_id, msg_time, msg_id) DO NOTHING";

fn insert_message(
    stmt: &mut rusqlite::CachedStatement<'_>,
    r: &MessageRow,
) -> rusqlite::Result<usize> {
    stmt.execute(params![
        r.corp_id,
        r.msg_id,
        to_i64(r.seq),
        r.publickey_ver,
        r.from_id,
        r.to_list,
        r.room_id,
        r.action,
        r.msg_type,
        r.msg_time,
        r.contact,
        r.is_external,
        r.plain_text
    ])
}

const MESSAGE_COLUMNS: &str = "corp_id, msg_id, seq, publickey_ver, from_id, to_list, room_id, action, \
    msg_type, msg_time, contact, is_external, plain_text";

fn message_from(row: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        row: MessageRow {
            corp_id: row.get(0)?,
            msg_id: row.get(1)?,
            seq: row.get::<_, i64>(2)?.max(0) as u64,
            publickey_ver: row.get(3)?,
            from_id: row.get(4)?,
            to_list: row.get(5)?,
            room_id: row.get(6)?,
            action: row.get(7)?,
            msg_type: row.get(8)?,
            msg_time: row.get(9)?,
            contact: row.get(10)?,
            is_external: row.get(11)?,
            plain_text: row.get(12)?,
        },
    })
}

fn dead_letter_from(row: &Row<'_>) -> rusqlite::Result<StoredDeadLetter> {
    let reason: String = row.get(7)?;
    Ok(StoredDeadLetter {
        letter: DeadLetter {
            corp_id: row.get(0)?,
            seq: row.get::<_, i64>(1)?.max(0) as u64,
            msg_id: row.get(2)?,
            publickey_ver: row.get(3)?,
            encrypt_random_key: row.get(4)?,
            encrypt_chat_msg: row.get(5)?,
            detail: row.get(6)?,
            reason: DeadReason::parse(&reason).unwrap_or(DeadReason::InvalidMessage),
        },
        resolved: row.get::<_, i64>(8)? == 1,
        attempts: row.get(9)?,
        create_time: row.get(10)?,
        update_time: row.get(11)?,
    })
}

impl Store for SqliteStore {
    fn store_batch(&self, batch: &StoreBatch) -> Result<BatchOutcome, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql("starting a batch"))?;
        let mut outcome = BatchOutcome::default();
        {
            let mut insert = tx
                .prepare_cached(INSERT_MESSAGE)
                .map_err(sql("preparing the insert"))?;
            for r in &batch.messages {
                if insert_message(&mut insert, r).map_err(sql("inserting a message"))? == 1 {
                    outcome.inserted += 1;
                } else {
                    outcome.duplicates += 1;
                }
            }
            let now = now_ms();
            let mut dead = tx
                .prepare_cached(
                    "INSERT INTO we_chat_msg_dead_letter
                     (corp_id, seq, msg_id, publickey_ver, encrypt_random_key, encrypt_chat_msg, reason, detail,
                      create_time, update_time)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
                     ON CONFLICT (corp_id, seq) DO NOTHING",
                )
                .map_err(sql("preparing the dead-letter insert"))?;
            for d in &batch.dead_letters {
                outcome.dead_letters +=
                    dead.execute(params![
                        d.corp_id,
                        to_i64(d.seq),
                        d.msg_id,
                        d.publickey_ver,
                        d.encrypt_random_key,
                        d.encrypt_chat_msg,
                        d.reason.as_str(),
                        d.detail,
                        now
                    ])
                    .map_err(sql("inserting a dead letter"))? as u64;
            }
            outcome.hits = super::sqlite_audit::insert_hits(&tx, &batch.hits)?;
            outcome.act_hits = super::sqlite_audit::insert_act_hits(&tx, &batch.act_hits)?;
            tx.execute(
                "INSERT INTO we_chat_msg_checkpoint (corp_id, seq, update_time) VALUES (?1, ?2, ?3)
                 ON CONFLICT (corp_id) DO UPDATE SET seq = MAX(seq, excluded.seq), update_time = excluded.update_time",
                params![batch.corp_id, to_i64(batch.checkpoint), now],
            )
            .map_err(sql("moving the checkpoint"))?;
        }
        tx.commit().map_err(sql("committing a batch"))?;
        Ok(outcome)
    }

    fn checkpoint(&self, corp_id: &str) -> Result<Option<u64>, StoreError> {
        self.conn()
            .query_row(
                "SELECT seq FROM we_chat_msg_checkpoint WHERE corp_id = ?1",
                [corp_id],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|s| s.map(|s| s.max(0) as u64))
            .map_err(sql("reading a checkpoint"))
    }

    fn corp_progress(&self) -> Result<Vec<CorpProgress>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT c.corp_id, c.seq,
                        COALESCE((SELECT MAX(msg_time) FROM we_chat_contact_msg m WHERE m.corp_id = c.corp_id), 0)
                 FROM we_chat_msg_checkpoint c ORDER BY c.corp_id",
            )
            .map_err(sql("preparing the progress query"))?;
        let mut out: Vec<CorpProgress> = stmt
            .query_map([], |r| {
                Ok(CorpProgress {
                    corp_id: r.get(0)?,
                    checkpoint: r.get::<_, i64>(1)?.max(0) as u64,
                    newest_msg_ms: r.get(2)?,
                    pending_dead: Vec::new(),
                })
            })
            .map_err(sql("reading progress"))?
            .collect::<Result<_, _>>()
            .map_err(sql("reading progress"))?;
        let mut stmt = conn
            .prepare(
                "SELECT corp_id, reason, COUNT(*) FROM we_chat_msg_dead_letter WHERE status = 0
                 GROUP BY corp_id, reason ORDER BY corp_id, reason",
            )
            .map_err(sql("preparing the dead-letter counts"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?.max(0) as u64,
                ))
            })
            .map_err(sql("counting dead letters"))?;
        for row in rows {
            let (corp, reason, n) = row.map_err(sql("counting dead letters"))?;
            if let Some(p) = out.iter_mut().find(|p| p.corp_id == corp) {
                p.pending_dead.push((reason, n));
            }
        }
        Ok(out)
    }

    fn messages(&self, q: &MessageQuery) -> Result<Vec<StoredMessage>, StoreError> {
        let mut w = Where::new(format!(
            "SELECT {MESSAGE_COLUMNS} FROM we_chat_contact_msg WHERE del_flg = 0"
        ));
        w.and_opt("corp_id = ?", q.corp_id.clone());
        w.and_opt("msg_time >= ?", q.since_ms);
        w.and_opt("msg_time < ?", q.until_ms);
        w.and_opt("from_id = ?", q.from_id.clone());
        w.and_opt("room_id = ?", q.room_id.clone());
        if let Some(c) = &q.by_seq {
            w.and_after(c);
        }
        w.and_opt("instr(plain_text, ?) > 0", q.text.clone());
        let order = if q.by_seq.is_some() {
            "corp_id, seq"
        } else {
            "msg_time, seq"
        };
        w.sql
            .push_str(&format!(" ORDER BY {order} LIMIT {}", q.limit.max(1)));
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&w.sql)
            .map_err(sql("preparing a message query"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(w.args), message_from)
            .map_err(sql("querying messages"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sql("reading messages"))
    }

    fn count_messages(&self, corp_id: Option<&str>) -> Result<u64, StoreError> {
        let conn = self.conn();
        let n: i64 = match corp_id {
            Some(c) => conn.query_row(
                "SELECT COUNT(*) FROM we_chat_contact_msg WHERE corp_id = ?1",
                [c],
                |r| r.get(0),
            ),
            None => conn.query_row("SELECT COUNT(*) FROM we_chat_contact_msg", [], |r| r.get(0)),
        }
        .map_err(sql("counting messages"))?;
        Ok(n.max(0) as u64)
    }

    fn dead_letters(&self, q: &DeadLetterQuery) -> Result<Vec<StoredDeadLetter>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT corp_id, seq, msg_id, publickey_ver, encrypt_random_key, encrypt_chat_msg, detail,
                        reason, status, attempts, create_time, update_time
                 FROM we_chat_msg_dead_letter
                 WHERE (?1 IS NULL OR corp_id = ?1) AND (?2 = 0 OR status = 0)
                   AND (corp_id > ?4 OR (corp_id = ?4 AND seq > ?5))
                 ORDER BY corp_id, seq LIMIT ?3",
            )
            .map_err(sql("preparing a dead-letter query"))?;
        let rows = stmt
            .query_map(
                params![
                    q.corp_id,
                    q.pending_only as i64,
                    q.limit.max(1),
                    q.after.corp_id,
                    to_i64(q.after.seq)
                ],
                dead_letter_from,
            )
            .map_err(sql("querying dead letters"))?;
        rows.collect::<Result<_, _>>()
            .map_err(sql("reading dead letters"))
    }

    fn record_redrive(&self, outcomes: &[Redrive]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql("starting a re-drive"))?;
        {
            let now = now_ms();
            let mut insert = tx
                .prepare_cached(INSERT_MESSAGE)
                .map_err(sql("preparing the insert"))?;
            let mut resolve = tx
                .prepare_cached(
                    "UPDATE we_chat_msg_dead_letter SET status = 1, attempts = attempts + 1, update_time = ?3
                     WHERE corp_id = ?1 AND seq = ?2",
                )
                .map_err(sql("preparing the resolve"))?;
            let mut still = tx
                .prepare_cached(
                    "UPDATE we_chat_msg_dead_letter SET reason = ?3, detail = ?4, attempts = attempts + 1,
                     update_time = ?5 WHERE corp_id = ?1 AND seq = ?2",
                )
                .map_err(sql("preparing the retry update"))?;
            for o in outcomes {
                match o {
                    Redrive::Resolved { letter, row } => {
                        insert_message(&mut insert, row)
                            .map_err(sql("inserting a re-driven message"))?;
                        let key = &letter.letter;
                        resolve
                            .execute(params![key.corp_id, to_i64(key.seq), now])
                            .map_err(sql("resolving a dead letter"))?;
                    }
                    Redrive::StillDead {
                        letter,
                        reason,
                        detail,
                    } => {
                        let key = &letter.letter;
                        still
                            .execute(params![
                                key.corp_id,
                                to_i64(key.seq),
                                reason.as_str(),
                                detail,
                                now
                            ])
                            .map_err(sql("updating a dead letter"))?;
                    }
                }
            }
        }
        tx.commit().map_err(sql("committing a re-drive"))
    }

    fn rules_version(&self) -> Result<u64, StoreError> {
        super::sqlite_audit::rules_version(&self.conn())
    }

    fn load_rules(&self) -> Result<crate::audit::RuleSet, StoreError> {
        super::sqlite_audit::load_rules(&self.conn())
    }

    fn save_rules(&self, rules: &crate::audit::RuleSet) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql("starting a rules change"))?;
        let version = super::sqlite_audit::save_rules(&tx, rules)?;
        tx.commit().map_err(sql("committing a rules change"))?;
        Ok(version)
    }

    fn store_hits(
        &self,
        hits: &[HitRow],
        act_hits: &[ActHitRow],
    ) -> Result<(u64, u64), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql("starting a hit insert"))?;
        let n = super::sqlite_audit::insert_hits(&tx, hits)?;
        let m = super::sqlite_audit::insert_act_hits(&tx, act_hits)?;
        tx.commit().map_err(sql("committing hits"))?;
        Ok((n, m))
    }

    fn hits(&self, query: &HitQuery) -> Result<Vec<StoredHit>, StoreError> {
        super::sqlite_audit::query_hits(&self.conn(), query)
    }

    fn act_hits(&self, query: &HitQuery) -> Result<Vec<ActHitRow>, StoreError> {
        super::sqlite_audit::query_act_hits(&self.conn(), query)
    }

    fn hit_counts(&self, corp_id: Option<&str>) -> Result<HitCounts, StoreError> {
        super::sqlite_audit::hit_counts(&self.conn(), corp_id)
    }

    fn daily_counts(&self, query: &HitQuery) -> Result<Vec<DailyCount>, StoreError> {
        super::sqlite_audit::daily_counts(&self.conn(), query)
    }

    fn context(&self, query: &ContextQuery) -> Result<Vec<StoredMessage>, StoreError> {
        super::sqlite_audit::context(&self.conn(), query, MESSAGE_COLUMNS, message_from)
    }

    fn robots(&self) -> Result<Vec<super::Robot>, StoreError> {
        super::sqlite_alert::robots(&self.conn())
    }

    fn add_robot(&self, robot: &super::Robot) -> Result<i64, StoreError> {
        super::sqlite_alert::add_robot(&self.conn(), robot)
    }

    fn remove_robot(&self, id: i64) -> Result<(), StoreError> {
        super::sqlite_alert::remove_robot(&self.conn(), id)
    }

    fn pending_alerts(&self, limit: u32) -> Result<Vec<super::PendingAlert>, StoreError> {
        super::sqlite_alert::pending_alerts(&self.conn(), limit)
    }

    fn alert_backlog(&self) -> Result<u64, StoreError> {
        super::sqlite_alert::alert_backlog(&self.conn())
    }

    fn posts(&self, query: &PostQuery) -> Result<Vec<super::AlertPost>, StoreError> {
        super::sqlite_alert::posts(&self.conn(), query)
    }

    fn record_post(
        &self,
        post: &super::AlertPost,
        settled: &[(HitRow, u8)],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql("starting a post update"))?;
        super::sqlite_alert::record_post(&tx, post, settled)?;
        tx.commit().map_err(sql("committing a post update"))
    }

    fn settle_alerts(&self, settled: &[(HitRow, u8)]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction()
            .map_err(sql("starting to settle alerts"))?;
        super::sqlite_alert::settle(&tx, settled)?;
        tx.commit().map_err(sql("committing settled alerts"))
    }

    fn accounts(&self) -> Result<Vec<super::Account>, StoreError> {
        super::sqlite_access::accounts(&self.conn())
    }

    fn save_account(&self, account: &super::Account) -> Result<(), StoreError> {
        super::sqlite_access::save_account(&self.conn(), account)
    }

    fn log_operation(&self, op: &super::OperLog) -> Result<(), StoreError> {
        super::sqlite_access::log_operation(&self.conn(), op)
    }

    fn operations(&self, limit: u32) -> Result<Vec<super::OperLog>, StoreError> {
        super::sqlite_access::operations(&self.conn(), limit)
    }

    fn corp_accounts(&self) -> Result<Vec<CorpAccount>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT corp_id, company_name, chat_secret, finance_private_key FROM we_corp_account
                 WHERE del_flag = 0 ORDER BY corp_id",
            )
            .map_err(sql("preparing the corp query"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(CorpAccount {
                    corp_id: r.get(0)?,
                    company_name: r.get(1)?,
                    chat_secret_ref: r.get(2)?,
                    private_keys_ref: r.get(3)?,
                })
            })
            .map_err(sql("querying corps"))?;
        rows.collect::<Result<_, _>>().map_err(sql("reading corps"))
    }
}

#[cfg(test)]
mod tests {
    //! The backend-neutral contract is checked for every backend in `tests/integration/store_contract.rs`.
    use super::*;

    #[test]
    fn reopening_runs_no_migration_twice() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        drop(SqliteStore::open(&path).expect("first open"));
        let mut conn = Connection::open(&path).expect("raw open");
        assert_eq!(migrate_sqlite(&mut conn).expect("migrate"), 0);
    }
}
