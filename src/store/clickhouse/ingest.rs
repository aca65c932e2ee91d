//! Ingestion on ClickHouse: batches, checkpoints, stored messages and dead letters, re-drive
//! outcomes, `we_corp_account`.
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

use std::collections::HashSet;

use super::filter::{Filter, Value, ms, s};
use super::rows::{
    CheckpointRow, CorpReasonCount, CorpRow, Count, DeadRow, MsgRow, NamedCount, Text,
};
use super::{ClickHouseStore, archive, by_corp, media, now};
use crate::message::MessageRow;
use crate::store::MediaJob;
use crate::store::types::*;
use crate::store::{IngestStore, StoreError};

impl ClickHouseStore {
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
                 WHERE corp_id = ? AND msg_time BETWEEN ? AND ? AND msg_id IN (SELECT arrayJoin(?))",
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
            .query("SELECT seq AS value FROM we_chat_msg_dead_letter WHERE corp_id = ? AND seq IN (SELECT toUInt64(arrayJoin(?)))")
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
        self.conn.insert_borrowed::<DeadRow<'static>>(
            "inserting dead letters",
            "we_chat_msg_dead_letter",
            &dead,
        )?;

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
        // Every message's jobs go in first, version 0: a message stored by an earlier attempt whose
        // jobs were lost gets them now, and a job already further along keeps its later version.
        let jobs: Vec<MediaJob> = MediaJob::of_messages(messages).collect();
        media::insert_jobs(&self.conn, &jobs)?;
        let rows: Vec<MsgRow> = messages
            .iter()
            .filter(|m| seen.insert(m.msg_id.clone()))
            .map(|m| MsgRow::new(m, now))
            .collect();
        archive::insert_folded(&self.conn, &rows)?;
        self.conn.insert_borrowed::<MsgRow<'static>>(
            "inserting messages",
            "we_chat_contact_msg",
            &rows,
        )?;
        let inserted = rows.len() as u64;
        Ok((inserted, messages.len() as u64 - inserted))
    }
}

impl IngestStore for ClickHouseStore {
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

    /// Another daemon may have stored the corp since this process last did: its next batch is
    /// read back.
    fn forget_progress(&self, corp_id: &str) {
        self.frontier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(corp_id);
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

    /// One query for all of them, in slices of a few thousand ids.
    fn checkpoints(
        &self,
        corp_ids: &[String],
    ) -> Result<std::collections::HashMap<String, u64>, StoreError> {
        let mut found = std::collections::HashMap::new();
        for ids in corp_ids.chunks(2_000) {
            let q = self
                .conn
                .query(
                    "SELECT toInt64(0) AS id, corp_id AS name, max(seq) AS value \
                     FROM we_chat_msg_checkpoint WHERE corp_id IN (SELECT arrayJoin(?)) GROUP BY corp_id",
                )
                .bind(ids);
            let rows: Vec<NamedCount> = self.conn.fetch("reading checkpoints", q)?;
            found.extend(rows.into_iter().map(|r| (r.name, r.value)));
        }
        Ok(found)
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
        self.conn.fetch_map::<MsgRow<'static>, _>(
            "querying messages",
            f.bind(self.conn.query(&f.sql)),
            |r| StoredMessage {
                row: r.to_message(),
            },
        )
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
        self.conn.fetch_map::<DeadRow<'static>, _>(
            "querying dead letters",
            f.bind(self.conn.query(&f.sql)),
            |r| r.to_stored(),
        )
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
                next.reason = reason.as_str();
                next.detail = detail;
            }
            letters.push(next);
        }
        // Messages first (idempotently, per corp), then the letters' new versions.
        for (corp, group) in by_corp(&messages, |m| &m.corp_id) {
            let rows: Vec<MessageRow> = group.into_iter().cloned().collect();
            self.insert_messages(corp, &rows, true, now)?;
        }
        self.conn.insert_borrowed::<DeadRow<'static>>(
            "recording a re-drive",
            "we_chat_msg_dead_letter",
            &letters,
        )
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
}
