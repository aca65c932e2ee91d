//! Ingestion: a batch's messages, their media jobs, dead letters, hits and checkpoint in one
//! transaction; checkpoints
//! and per-corp progress; stored messages and dead letters; re-drive outcomes; `we_corp_account`.

use rusqlite::{OptionalExtension, params};

use super::filter::Where;
use super::rows::{MESSAGE_COLUMNS, audit_columns, dead_letter_from, from_columns, message_from};
use super::{SqliteStore, archive, hits, media, select, sql, to_i64};
use crate::message::MessageRow;
use crate::store::{
    BatchOutcome, CorpAccount, CorpProgress, DeadLetterQuery, IngestStore, MediaJob, MessageQuery,
    Redrive, StoreBatch, StoreError, StoredDeadLetter, StoredMessage,
};
use crate::timefmt::now_ms;

const INSERT_MESSAGE: &str = "INSERT INTO we_chat_contact_msg
    (corp_id, msg_id, seq, publickey_ver, from_id, to_list, room_id, action, msg_type, msg_time,
     contact, is_external, plain_text, conversation)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
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
        r.plain_text,
        archive::conversation_key(r)
    ])
}

impl SqliteStore {
    /// A batch in one transaction (see [`IngestStore::store_batch`]).
    fn write_batch(&self, batch: &StoreBatch) -> Result<BatchOutcome, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql("starting a batch"))?;
        let mut outcome = BatchOutcome::default();
        {
            let mut insert = tx
                .prepare_cached(INSERT_MESSAGE)
                .map_err(sql("preparing the insert"))?;
            let mut inserted = Vec::with_capacity(batch.messages.len());
            for r in &batch.messages {
                if insert_message(&mut insert, r).map_err(sql("inserting a message"))? == 1 {
                    outcome.inserted += 1;
                    inserted.push((tx.last_insert_rowid(), r));
                } else {
                    outcome.duplicates += 1;
                }
            }
            if self.archive_index {
                archive::index_messages(&tx, &inserted, &self.known_lists)?;
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
            media::insert_jobs(&tx, MediaJob::of_messages(&batch.messages))?;
            outcome.hits = hits::insert_hits(&tx, &batch.hits)?;
            outcome.act_hits = hits::insert_act_hits(&tx, &batch.act_hits)?;
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

    /// Re-drive outcomes in one transaction (see [`IngestStore::record_redrive`]).
    fn write_redrive(&self, outcomes: &[Redrive]) -> Result<(), StoreError> {
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
                        if insert_message(&mut insert, row)
                            .map_err(sql("inserting a re-driven message"))?
                            == 1
                            && self.archive_index
                        {
                            archive::index_messages(
                                &tx,
                                &[(tx.last_insert_rowid(), row)],
                                &self.known_lists,
                            )?;
                        }
                        media::insert_jobs(&tx, MediaJob::of_messages(std::slice::from_ref(row)))?;
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
}

impl IngestStore for SqliteStore {
    fn store_batch(&self, batch: &StoreBatch) -> Result<BatchOutcome, StoreError> {
        let result = self.write_batch(batch);
        if result.is_err() {
            // What the batch recorded as known was rolled back with it.
            self.known_lists.clear();
        }
        result
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
        let columns = if q.for_audit {
            audit_columns()
        } else {
            MESSAGE_COLUMNS
        };
        let mut w = Where::new(format!(
            "SELECT {columns} FROM we_chat_contact_msg WHERE del_flg = 0"
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
        w.fetch(&conn, "querying messages", message_from)
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
                   AND (corp_id, seq) > (?4, ?5)
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
        let result = self.write_redrive(outcomes);
        if result.is_err() {
            self.known_lists.clear();
        }
        result
    }

    fn corp_accounts(&self) -> Result<Vec<CorpAccount>, StoreError> {
        let conn = self.conn();
        select(
            &conn,
            "SELECT corp_id, company_name, chat_secret, finance_private_key FROM we_corp_account
                 WHERE del_flag = 0 ORDER BY corp_id",
            [],
            "querying corps",
            |r| {
                Ok(from_columns!(r => CorpAccount {
                    corp_id, company_name, chat_secret_ref, private_keys_ref,
                }))
            },
        )
    }
}
