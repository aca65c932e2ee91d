//! Media jobs and files on SQLite: jobs inserted in the batch's transaction, due jobs by message
//! time, outcomes (the file row and the job's new state in one transaction), listing, retry and the
//! summary.

use rusqlite::{Connection, Row, params};

use super::filter::Where;
use super::{SqliteStore, select, sql, to_i64};
use crate::message::MediaKind;
use crate::store::{
    MediaFile, MediaJob, MediaJobKey, MediaJobQuery, MediaJobStore, MediaOutcome, MediaStatus,
    MediaSummary, NO_COPY_NOTE, StoreError, VOICE_KINDS,
};
use crate::timefmt::now_ms;

/// Inserts jobs not yet stored (by corp, msgid, item); returns how many were new.
pub(super) fn insert_jobs(
    conn: &Connection,
    jobs: impl Iterator<Item = MediaJob>,
) -> Result<u64, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO we_chat_media_job
             (corp_id, msg_id, item, msg_time, kind, sdkfileid, md5sum, size, file_name, from_id,
              to_list, room_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (corp_id, msg_id, item) DO NOTHING",
        )
        .map_err(sql("preparing the media-job insert"))?;
    let mut n = 0;
    for j in jobs {
        n += stmt
            .execute(params![
                j.key.corp_id,
                j.key.msg_id,
                j.key.item,
                j.msg_time,
                j.kind.as_str(),
                j.sdkfileid,
                j.md5sum,
                to_i64(j.size),
                j.file_name,
                j.from_id,
                j.to_list,
                j.room_id
            ])
            .map_err(sql("inserting a media job"))? as u64;
    }
    Ok(n)
}

const JOB_COLUMNS: &str = "corp_id, msg_id, item, msg_time, kind, sdkfileid, md5sum, size, file_name, \
    from_id, to_list, room_id, status, attempts, next_attempt, last_error, dead_reason, file_md5, \
    file_size, note, update_time";

fn job_from(r: &Row<'_>) -> rusqlite::Result<MediaJob> {
    let kind: String = r.get(4)?;
    Ok(MediaJob {
        key: MediaJobKey {
            corp_id: r.get(0)?,
            msg_id: r.get(1)?,
            item: r.get(2)?,
        },
        msg_time: r.get(3)?,
        kind: MediaKind::parse(&kind).unwrap_or(MediaKind::File),
        sdkfileid: r.get(5)?,
        md5sum: r.get(6)?,
        size: r.get::<_, i64>(7)?.max(0) as u64,
        file_name: r.get(8)?,
        from_id: r.get(9)?,
        to_list: r.get(10)?,
        room_id: r.get(11)?,
        status: MediaStatus::from_code(r.get(12)?),
        attempts: r.get(13)?,
        next_attempt: r.get(14)?,
        last_error: r.get(15)?,
        dead_reason: r.get(16)?,
        file_md5: r.get(17)?,
        file_size: r.get::<_, i64>(18)?.max(0) as u64,
        note: r.get(19)?,
        update_time: r.get(20)?,
    })
}

fn file_from(r: &Row<'_>) -> rusqlite::Result<MediaFile> {
    Ok(MediaFile {
        md5: r.get(0)?,
        size: r.get::<_, i64>(1)?.max(0) as u64,
        content_type: r.get(2)?,
        playable_type: r.get(3)?,
        qr_codes: r.get(4)?,
        create_time: r.get(5)?,
    })
}

fn job_filters(q: &MediaJobQuery, w: &mut Where) {
    w.and_opt("corp_id = ?", q.corp_id.clone());
    w.and_opt("msg_id = ?", q.msg_id.clone());
    if !q.msg_ids.is_empty() {
        w.and_opt(
            "msg_id IN (SELECT value FROM json_each(?))",
            Some(serde_json::Value::from(q.msg_ids.clone()).to_string()),
        );
    }
    w.and_opt("status = ?", q.status.map(|s| i64::from(s.code())));
    w.and_opt(
        "dead_reason = ?",
        q.dead_reason.map(|r| r.as_str().to_owned()),
    );
}

/// One outcome, inside the caller's transaction.
fn record(
    tx: &Connection,
    job: &MediaJob,
    outcome: &MediaOutcome,
    now: i64,
) -> Result<(), StoreError> {
    let k = &job.key;
    let (status, next_attempt, error, reason) = match outcome {
        MediaOutcome::Done { file, note } => {
            tx.prepare_cached(
                "INSERT INTO we_chat_media_file (md5, size, content_type, playable_type, qr_codes,
                   create_time)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (md5, size) DO UPDATE SET
                   playable_type = CASE WHEN excluded.playable_type <> '' THEN excluded.playable_type
                                        ELSE playable_type END",
            )
            .and_then(|mut st| {
                st.execute(params![
                    file.md5,
                    to_i64(file.size),
                    file.content_type,
                    file.playable_type,
                    file.qr_codes,
                    now
                ])
            })
            .map_err(sql("recording a media file"))?;
            tx.prepare_cached(
                "UPDATE we_chat_media_job SET status = 1, attempts = attempts + 1, last_error = '',
                   dead_reason = '', file_md5 = ?4, file_size = ?5, note = ?6, update_time = ?7
                 WHERE corp_id = ?1 AND msg_id = ?2 AND item = ?3",
            )
            .and_then(|mut st| {
                st.execute(params![
                    k.corp_id,
                    k.msg_id,
                    k.item,
                    file.md5,
                    to_i64(file.size),
                    note,
                    now
                ])
            })
            .map_err(sql("marking a media job done"))?;
            return Ok(());
        }
        MediaOutcome::Retry {
            next_attempt,
            error,
        } => (MediaStatus::Pending, *next_attempt, error, ""),
        MediaOutcome::Dead { reason, error } => {
            (MediaStatus::Dead, job.next_attempt, error, reason.as_str())
        }
    };
    // A failed attempt: pending again at its next attempt, or dead with its reason.
    tx.prepare_cached(
        "UPDATE we_chat_media_job SET status = ?4, attempts = attempts + 1, next_attempt = ?5,
           last_error = ?6, dead_reason = ?7, update_time = ?8
         WHERE corp_id = ?1 AND msg_id = ?2 AND item = ?3 AND status = 0",
    )
    .and_then(|mut st| {
        st.execute(params![
            k.corp_id,
            k.msg_id,
            k.item,
            status.code(),
            next_attempt,
            error,
            reason,
            now
        ])
    })
    .map_err(sql("recording a failed media attempt"))?;
    Ok(())
}

impl MediaJobStore for SqliteStore {
    fn due_media_jobs_since(
        &self,
        corps: &[String],
        now_ms: i64,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<MediaJob>, StoreError> {
        let corps = serde_json::to_string(corps).unwrap_or_else(|_| "[]".into());
        let conn = self.conn();
        select(
            &conn,
            &format!(
                "SELECT {JOB_COLUMNS} FROM we_chat_media_job
                 WHERE status = 0 AND next_attempt <= ?1 AND msg_time >= ?4
                   AND corp_id IN (SELECT value FROM json_each(?3))
                 ORDER BY msg_time, msg_id, item LIMIT ?2"
            ),
            params![now_ms, limit.max(1), corps, since_ms],
            "reading due media jobs",
            job_from,
        )
    }

    fn oldest_pending_media(&self, corps: &[String]) -> Result<Option<i64>, StoreError> {
        let corps = serde_json::to_string(corps).unwrap_or_else(|_| "[]".into());
        let conn = self.conn();
        conn.query_row(
            "SELECT MIN(msg_time) FROM we_chat_media_job
             WHERE status = 0 AND corp_id IN (SELECT value FROM json_each(?1))",
            params![corps],
            |r| r.get(0),
        )
        .map_err(sql("finding the oldest pending media job"))
    }

    fn record_media_outcomes(
        &self,
        outcomes: &[(MediaJob, MediaOutcome)],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql("starting media outcomes"))?;
        let now = now_ms();
        for (job, outcome) in outcomes {
            record(&tx, job, outcome, now)?;
        }
        tx.commit().map_err(sql("committing media outcomes"))
    }

    fn media_file(&self, md5: &str, size: u64) -> Result<Option<MediaFile>, StoreError> {
        let conn = self.conn();
        Ok(select(
            &conn,
            "SELECT md5, size, content_type, playable_type, qr_codes, create_time FROM we_chat_media_file
             WHERE md5 = ?1 AND size = ?2",
            params![md5, to_i64(size)],
            "reading a media file",
            file_from,
        )?
        .pop())
    }

    fn media_jobs(&self, q: &MediaJobQuery) -> Result<Vec<MediaJob>, StoreError> {
        let mut w = Where::new(format!(
            "SELECT {JOB_COLUMNS} FROM we_chat_media_job WHERE 1 = 1"
        ));
        job_filters(q, &mut w);
        w.sql.push_str(&format!(
            " ORDER BY msg_time, msg_id, item LIMIT {}",
            q.limit.max(1)
        ));
        let conn = self.conn();
        w.fetch(&conn, "listing media jobs", job_from)
    }

    fn retry_media_jobs(&self, q: &MediaJobQuery) -> Result<u64, StoreError> {
        let mut w = Where::new(String::from(
            "UPDATE we_chat_media_job SET status = 0, attempts = 0, next_attempt = 0, dead_reason = ''
             WHERE status = 2",
        ));
        job_filters(
            &MediaJobQuery {
                status: None,
                ..q.clone()
            },
            &mut w,
        );
        let conn = self.conn();
        conn.execute(&w.sql, rusqlite::params_from_iter(w.args))
            .map(|n| n as u64)
            .map_err(sql("retrying media jobs"))
    }

    fn files_without_copy(
        &self,
        after: Option<(&str, u64)>,
        limit: u32,
    ) -> Result<Vec<MediaFile>, StoreError> {
        let (md5, size) = after.unwrap_or(("", 0));
        let kinds =
            serde_json::Value::from(VOICE_KINDS.iter().map(|k| k.as_str()).collect::<Vec<_>>())
                .to_string();
        let conn = self.conn();
        select(
            &conn,
            "SELECT md5, size, content_type, playable_type, qr_codes, create_time
             FROM we_chat_media_file f
             WHERE playable_type = '' AND (md5, size) > (?1, ?2)
               AND (content_type LIKE 'audio/amr%'
                    OR EXISTS (SELECT 1 FROM we_chat_media_job j
                               WHERE j.file_md5 = f.md5 AND j.file_size = f.size
                                 AND j.kind IN (SELECT value FROM json_each(?3))))
             ORDER BY md5, size LIMIT ?4",
            params![
                md5,
                if after.is_some() { to_i64(size) } else { -1 },
                kinds,
                i64::from(limit.max(1))
            ],
            "listing voice without a playable copy",
            file_from,
        )
    }

    fn record_playable_copies(
        &self,
        files: &[(String, u64)],
        playable_type: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction()
            .map_err(sql("starting to record playable copies"))?;
        let (now, no_copy) = (now_ms(), format!("{NO_COPY_NOTE}%"));
        for (md5, size) in files {
            tx.prepare_cached(
                "UPDATE we_chat_media_file SET playable_type = ?3 WHERE md5 = ?1 AND size = ?2",
            )
            .and_then(|mut st| st.execute(params![md5, to_i64(*size), playable_type]))
            .map_err(sql("recording a playable copy"))?;
            tx.prepare_cached(
                "UPDATE we_chat_media_job SET note = '', update_time = ?3
                 WHERE file_md5 = ?1 AND file_size = ?2 AND note LIKE ?4",
            )
            .and_then(|mut st| st.execute(params![md5, to_i64(*size), now, no_copy]))
            .map_err(sql("clearing the notes of voice made playable"))?;
        }
        tx.commit().map_err(sql("committing playable copies"))
    }

    fn media_summary(&self) -> Result<MediaSummary, StoreError> {
        let conn = self.conn();
        let mut s = MediaSummary::default();
        for (status, n, oldest) in select(
            &conn,
            "SELECT status, COUNT(*), MIN(msg_time) FROM we_chat_media_job GROUP BY status",
            [],
            "counting media jobs",
            |r| {
                Ok((
                    r.get::<_, u8>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            },
        )? {
            let n = n.max(0) as u64;
            match MediaStatus::from_code(status) {
                MediaStatus::Pending => {
                    s.pending = n;
                    s.oldest_pending_ms = oldest;
                }
                MediaStatus::Done => s.done = n,
                MediaStatus::Dead => s.dead = n,
            }
        }
        s.dead_by_reason = select(
            &conn,
            "SELECT dead_reason, COUNT(*) FROM we_chat_media_job WHERE status = 2
             GROUP BY dead_reason ORDER BY dead_reason",
            [],
            "counting dead media",
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64)),
        )?;
        (s.files, s.bytes, s.playable) = conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(playable_type <> ''), 0)
                 FROM we_chat_media_file",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?.max(0) as u64,
                        r.get::<_, i64>(1)?.max(0) as u64,
                        r.get::<_, i64>(2)?.max(0) as u64,
                    ))
                },
            )
            .map_err(sql("counting media files"))?;
        s.job_bytes = conn
            .query_row(
                "SELECT COALESCE(SUM(file_size), 0) FROM we_chat_media_job WHERE status = 1",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(sql("summing media"))?
            .max(0) as u64;
        Ok(s)
    }
}
