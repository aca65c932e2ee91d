//! Media jobs and files on ClickHouse. A job's first row (version 0) goes in with its message; every
//! later state is a new version of the whole row, so readers use `FINAL` and a replayed batch's
//! version-0 row can never undo a done or dead job.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::filter::{Filter, Value, s};
use super::{ClickHouseStore, Connection, next_version};
use crate::message::MediaKind;
use crate::store::{
    MediaFile, MediaJob, MediaJobKey, MediaJobQuery, MediaJobStore, MediaOutcome, MediaStatus,
    MediaSummary, NO_COPY_NOTE, StoreError, VOICE_KINDS,
};

/// `we_chat_media_job`, in column order.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct MediaJobRow {
    pub corp_id: String,
    pub msg_id: String,
    pub item: u32,
    pub msg_time: u64,
    pub kind: String,
    pub sdkfileid: String,
    pub md5sum: String,
    pub size: u64,
    pub file_name: String,
    pub from_id: String,
    pub to_list: String,
    pub room_id: String,
    pub status: u8,
    pub attempts: u32,
    pub next_attempt: u64,
    pub last_error: String,
    pub dead_reason: String,
    pub file_md5: String,
    pub file_size: u64,
    pub note: String,
    pub update_time: u64,
}

impl MediaJobRow {
    pub fn new(j: &MediaJob, version: u64) -> MediaJobRow {
        MediaJobRow {
            corp_id: j.key.corp_id.clone(),
            msg_id: j.key.msg_id.clone(),
            item: j.key.item,
            msg_time: j.msg_time.max(0) as u64,
            kind: j.kind.as_str().to_owned(),
            sdkfileid: j.sdkfileid.clone(),
            md5sum: j.md5sum.clone(),
            size: j.size,
            file_name: j.file_name.clone(),
            from_id: j.from_id.clone(),
            to_list: j.to_list.clone(),
            room_id: j.room_id.clone(),
            status: j.status.code(),
            attempts: j.attempts,
            next_attempt: j.next_attempt.max(0) as u64,
            last_error: j.last_error.clone(),
            dead_reason: j.dead_reason.clone(),
            file_md5: j.file_md5.clone(),
            file_size: j.file_size,
            note: j.note.clone(),
            update_time: version,
        }
    }

    fn to_job(&self) -> MediaJob {
        let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        MediaJob {
            key: MediaJobKey {
                corp_id: self.corp_id.clone(),
                msg_id: self.msg_id.clone(),
                item: self.item,
            },
            msg_time: signed(self.msg_time),
            kind: MediaKind::parse(&self.kind).unwrap_or(MediaKind::File),
            sdkfileid: self.sdkfileid.clone(),
            md5sum: self.md5sum.clone(),
            size: self.size,
            file_name: self.file_name.clone(),
            from_id: self.from_id.clone(),
            to_list: self.to_list.clone(),
            room_id: self.room_id.clone(),
            status: MediaStatus::from_code(self.status),
            attempts: self.attempts,
            next_attempt: signed(self.next_attempt),
            last_error: self.last_error.clone(),
            dead_reason: self.dead_reason.clone(),
            file_md5: self.file_md5.clone(),
            file_size: self.file_size,
            note: self.note.clone(),
            update_time: signed(self.update_time),
        }
    }
}

/// `we_chat_media_file`, in column order.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct MediaFileRow {
    pub md5: String,
    pub size: u64,
    pub content_type: String,
    pub playable_type: String,
    pub qr_codes: String,
    pub create_time: u64,
}

/// Set in the version (`create_time`) of a file row with a playable copy, so that it outranks
/// every row without one: two fetchers storing the same voice at once, one whose copy failed,
/// each finding no row before writing its own, can then never take the copy away.
const WITH_COPY: u64 = 1 << 62;

impl MediaFileRow {
    /// The row's version: the next one, ranked above every row without a copy when `playable`.
    fn version(playable: &str) -> u64 {
        next_version() | if playable.is_empty() { 0 } else { WITH_COPY }
    }

    fn into_file(self) -> MediaFile {
        MediaFile {
            md5: self.md5,
            size: self.size,
            content_type: self.content_type,
            playable_type: self.playable_type,
            qr_codes: self.qr_codes,
            create_time: i64::try_from(self.create_time & !WITH_COPY).unwrap_or(i64::MAX),
        }
    }
}

/// Inserts the first (version 0) row of each job; a job already stored keeps its later versions.
pub(super) fn insert_jobs(conn: &Connection, jobs: &[MediaJob]) -> Result<(), StoreError> {
    let rows: Vec<MediaJobRow> = jobs.iter().map(|j| MediaJobRow::new(j, 0)).collect();
    conn.insert("inserting media jobs", "we_chat_media_job", &rows)
}

/// Adds a listing's filters.
fn job_filters(f: &mut Filter, q: &MediaJobQuery) {
    f.and_opt("corp_id = ?", s(&q.corp_id));
    f.and_opt("msg_id = ?", s(&q.msg_id));
    if !q.msg_ids.is_empty() {
        f.and_opt(
            "msg_id IN (SELECT arrayJoin(?))",
            Some(Value::Strs(q.msg_ids.clone())),
        );
    }
    f.and_opt(
        "status = ?",
        q.status.map(|st| Value::U64(u64::from(st.code()))),
    );
    f.and_opt(
        "dead_reason = ?",
        q.dead_reason.map(|r| Value::Str(r.as_str().to_owned())),
    );
}

impl ClickHouseStore {
    /// The jobs `filters` keep (each job at its newest version), oldest message first, at most
    /// `limit`, of messages from `since` on (epoch ms; None: all). `FINAL` reads every selected
    /// column of every job, so the keys are found first, reading only the key and the columns the
    /// filters name, and only those jobs' rows are read whole. Every version of a job has its
    /// message's time, so a time in `PREWHERE` keeps or drops all of a job's versions together and
    /// `FINAL` still sees each job's newest; with it, only the time column is read beyond it.
    ///
    /// Due jobs among 10,000,000 (20,000,000 versions), server time: 3.7 s over all of them, 0.39 s
    /// from a time near the newest (the key set in `WHERE` then: with the time in `PREWHERE` it
    /// made ClickHouse read every key, 1.8 s).
    fn jobs_oldest_first(
        &self,
        filters: impl Fn(&mut Filter),
        since: Option<u64>,
        limit: u32,
        what: &'static str,
    ) -> Result<Vec<MediaJob>, StoreError> {
        // The outer query keeps the found keys; with a time, in `WHERE` after the time's
        // `PREWHERE` (the filters then follow the key set), else in `PREWHERE`.
        let (outer, inner, outer_filters) = match since {
            Some(_) => (
                "PREWHERE msg_time >= ? WHERE ",
                " PREWHERE msg_time >= ? WHERE 1 = 1",
                "",
            ),
            None => ("PREWHERE ", " WHERE 1 = 1", " WHERE 1 = 1"),
        };
        let times = || since.map(Value::U64);
        let mut f = Filter::new(String::from("SELECT ?fields FROM we_chat_media_job FINAL "));
        f.push(outer, times());
        f.push(
            "(corp_id, msg_id, item) GLOBAL IN \
             (SELECT corp_id, msg_id, item FROM we_chat_media_job FINAL",
            [],
        );
        f.push(inner, times());
        filters(&mut f);
        f.push(
            " ORDER BY msg_time, msg_id, item LIMIT ?)",
            [Value::U64(u64::from(limit.max(1)))],
        );
        f.push(outer_filters, []);
        filters(&mut f);
        f.push(" ORDER BY msg_time, msg_id, item", []);
        let rows: Vec<MediaJobRow> = self.conn.fetch(what, f.bind(self.conn.query(&f.sql)))?;
        Ok(rows.iter().map(MediaJobRow::to_job).collect())
    }
}

/// Only `corps`' jobs (a query over none would be all).
fn of_corps(f: &mut Filter, corps: &[String]) {
    f.push(
        " AND corp_id IN (SELECT arrayJoin(?))",
        [Value::Strs(corps.to_vec())],
    );
}

impl MediaJobStore for ClickHouseStore {
    fn due_media_jobs_since(
        &self,
        corps: &[String],
        now_ms: i64,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<MediaJob>, StoreError> {
        if corps.is_empty() {
            // No corps, no jobs (and no query).
            return Ok(Vec::new());
        }
        let now = now_ms.max(0) as u64;
        // Times are stored as at least 0: from 0 on is all of them.
        let since = u64::try_from(since_ms).ok().filter(|&t| t > 0);
        self.jobs_oldest_first(
            |f| {
                f.push(" AND status = 0", []);
                of_corps(f, corps);
                f.push(" AND next_attempt <= ?", [Value::U64(now)]);
            },
            since,
            limit,
            "reading due media jobs",
        )
    }

    fn oldest_pending_media(&self, corps: &[String]) -> Result<Option<i64>, StoreError> {
        #[derive(Debug, Row, Deserialize)]
        struct Oldest {
            n: u64,
            oldest: u64,
        }
        if corps.is_empty() {
            return Ok(None);
        }
        let mut f = Filter::new(String::from(
            "SELECT count() AS n, min(msg_time) AS oldest FROM we_chat_media_job FINAL \
             WHERE status = 0",
        ));
        of_corps(&mut f, corps);
        let rows: Vec<Oldest> = self.conn.fetch(
            "finding the oldest pending media job",
            f.bind(self.conn.query(&f.sql)),
        )?;
        Ok(rows
            .first()
            .filter(|r| r.n > 0)
            .map(|r| i64::try_from(r.oldest).unwrap_or(i64::MAX)))
    }

    fn record_media_outcomes(
        &self,
        outcomes: &[(MediaJob, MediaOutcome)],
    ) -> Result<(), StoreError> {
        // The batch's files already recorded, in one read: a file row is written only when new,
        // or when it gains a playable copy.
        let md5s: Vec<&str> = outcomes
            .iter()
            .filter_map(|(_, o)| match o {
                MediaOutcome::Done { file, .. } => Some(file.md5.as_str()),
                _ => None,
            })
            .collect();
        let mut known: Vec<MediaFileRow> = if md5s.is_empty() {
            Vec::new()
        } else {
            let q = self
                .conn
                .query("SELECT ?fields FROM we_chat_media_file FINAL WHERE md5 IN (SELECT arrayJoin(?))")
                .bind(md5s.as_slice());
            self.conn.fetch("reading media files", q)?
        };
        let mut files: Vec<MediaFileRow> = Vec::new();
        let mut jobs = Vec::with_capacity(outcomes.len());
        for (job, outcome) in outcomes {
            let mut next = job.clone();
            next.attempts += 1;
            match outcome {
                MediaOutcome::Done { file, note } => {
                    let seen = known
                        .iter()
                        .find(|k| k.md5 == file.md5 && k.size == file.size);
                    if seen.is_none_or(|k| {
                        k.playable_type.is_empty() && !file.playable_type.is_empty()
                    }) {
                        let row = MediaFileRow {
                            md5: file.md5.clone(),
                            size: file.size,
                            content_type: file.content_type.clone(),
                            playable_type: file.playable_type.clone(),
                            qr_codes: file.qr_codes.clone(),
                            create_time: MediaFileRow::version(&file.playable_type),
                        };
                        known.retain(|k| k.md5 != row.md5 || k.size != row.size);
                        known.push(row.clone());
                        files.push(row);
                    }
                    next.status = MediaStatus::Done;
                    next.last_error.clear();
                    next.dead_reason.clear();
                    next.file_md5 = file.md5.clone();
                    next.file_size = file.size;
                    next.note = note.clone();
                }
                MediaOutcome::Retry {
                    next_attempt,
                    error,
                } => {
                    next.next_attempt = *next_attempt;
                    next.last_error = error.clone();
                }
                MediaOutcome::Dead { reason, error } => {
                    next.status = MediaStatus::Dead;
                    next.last_error = error.clone();
                    next.dead_reason = reason.as_str().to_owned();
                }
            }
            jobs.push(MediaJobRow::new(&next, next_version()));
        }
        // Files first: a job never points at a file row that is not there.
        self.conn
            .insert("recording media files", "we_chat_media_file", &files)?;
        self.conn
            .insert("recording media outcomes", "we_chat_media_job", &jobs)
    }

    fn media_file(&self, md5: &str, size: u64) -> Result<Option<MediaFile>, StoreError> {
        let q = self
            .conn
            .query("SELECT ?fields FROM we_chat_media_file FINAL WHERE md5 = ? AND size = ?")
            .bind(md5)
            .bind(size);
        let rows: Vec<MediaFileRow> = self.conn.fetch("reading a media file", q)?;
        Ok(rows.into_iter().next().map(MediaFileRow::into_file))
    }

    fn media_jobs(&self, q: &MediaJobQuery) -> Result<Vec<MediaJob>, StoreError> {
        self.jobs_oldest_first(|f| job_filters(f, q), None, q.limit, "listing media jobs")
    }

    fn retry_media_jobs(&self, q: &MediaJobQuery) -> Result<u64, StoreError> {
        let dead = MediaJobQuery {
            status: Some(MediaStatus::Dead),
            limit: u32::MAX,
            ..q.clone()
        };
        let jobs = self.media_jobs(&dead)?;
        let version = next_version();
        let rows: Vec<MediaJobRow> = jobs
            .iter()
            .map(|j| {
                let mut next = j.clone();
                next.status = MediaStatus::Pending;
                next.attempts = 0;
                next.next_attempt = 0;
                next.dead_reason.clear();
                MediaJobRow::new(&next, version)
            })
            .collect();
        self.conn
            .insert("retrying media jobs", "we_chat_media_job", &rows)?;
        Ok(rows.len() as u64)
    }

    fn files_without_copy(
        &self,
        after: Option<(&str, u64)>,
        limit: u32,
    ) -> Result<Vec<MediaFile>, StoreError> {
        let (md5, size) = after.unwrap_or(("", 0));
        let kinds: Vec<&str> = VOICE_KINDS.iter().map(|k| k.as_str()).collect();
        let q = self
            .conn
            .query(
                "SELECT ?fields FROM we_chat_media_file FINAL \
                 WHERE playable_type = '' AND (md5 > ? OR (md5 = ? AND size > ?)) \
                   AND (content_type LIKE 'audio/amr%' \
                        OR (md5, size) GLOBAL IN (SELECT file_md5, file_size \
                            FROM we_chat_media_job FINAL \
                            WHERE status = 1 AND kind IN (SELECT arrayJoin(?)))) \
                 ORDER BY md5, size LIMIT ?",
            )
            .bind(md5)
            .bind(md5)
            .bind(size)
            .bind(kinds.as_slice())
            .bind(u64::from(limit.max(1)));
        let rows: Vec<MediaFileRow> = self
            .conn
            .fetch("listing voice without a playable copy", q)?;
        Ok(rows.into_iter().map(MediaFileRow::into_file).collect())
    }

    fn record_playable_copies(
        &self,
        files: &[(String, u64)],
        playable_type: &str,
    ) -> Result<(), StoreError> {
        if files.is_empty() {
            return Ok(());
        }
        let md5s: Vec<&str> = files.iter().map(|(m, _)| m.as_str()).collect();
        let wanted = |md5: &str, size: u64| files.iter().any(|(m, s)| m == md5 && *s == size);
        let q = self
            .conn
            .query(
                "SELECT ?fields FROM we_chat_media_file FINAL WHERE md5 IN (SELECT arrayJoin(?))",
            )
            .bind(md5s.as_slice());
        let rows: Vec<MediaFileRow> = self.conn.fetch("reading media files", q)?;
        let rows: Vec<MediaFileRow> = rows
            .into_iter()
            .filter(|r| wanted(&r.md5, r.size))
            .map(|r| MediaFileRow {
                playable_type: playable_type.to_owned(),
                create_time: MediaFileRow::version(playable_type),
                ..r
            })
            .collect();
        let q = self
            .conn
            .query(
                "SELECT ?fields FROM we_chat_media_job FINAL \
                 WHERE file_md5 IN (SELECT arrayJoin(?)) AND note LIKE ?",
            )
            .bind(md5s.as_slice())
            .bind(format!("{NO_COPY_NOTE}%"));
        let jobs: Vec<MediaJobRow> = self.conn.fetch("reading the jobs of voice", q)?;
        let version = next_version();
        let jobs: Vec<MediaJobRow> = jobs
            .into_iter()
            .filter(|j| wanted(&j.file_md5, j.file_size))
            .map(|j| MediaJobRow {
                note: String::new(),
                update_time: version,
                ..j
            })
            .collect();
        self.conn
            .insert("recording playable copies", "we_chat_media_file", &rows)?;
        self.conn.insert(
            "clearing the notes of voice made playable",
            "we_chat_media_job",
            &jobs,
        )
    }

    fn media_summary(&self) -> Result<MediaSummary, StoreError> {
        #[derive(Debug, Row, Deserialize)]
        struct StateCount {
            status: u8,
            reason: String,
            n: u64,
            oldest: u64,
            bytes: u64,
        }
        #[derive(Debug, Row, Deserialize)]
        struct Files {
            n: u64,
            bytes: u64,
            playable: u64,
        }
        // One pass over the jobs under `FINAL` (by state, and dead jobs by reason): at 10,000,000
        // jobs 2.6 s of server time, where a pass for the states and one for the reasons took 4.4 s.
        let by_state: Vec<StateCount> = self.conn.fetch_all(
            "counting media jobs",
            "SELECT status, if(status = 2, dead_reason, '') AS reason, count() AS n, \
             min(msg_time) AS oldest, sum(file_size) AS bytes \
             FROM we_chat_media_job FINAL GROUP BY status, reason ORDER BY status, reason",
        )?;
        let mut s = MediaSummary::default();
        for c in by_state {
            match MediaStatus::from_code(c.status) {
                MediaStatus::Pending => {
                    s.pending += c.n;
                    let oldest = i64::try_from(c.oldest).unwrap_or(i64::MAX);
                    s.oldest_pending_ms =
                        Some(s.oldest_pending_ms.map_or(oldest, |o| o.min(oldest)));
                }
                MediaStatus::Done => {
                    s.done += c.n;
                    s.job_bytes += c.bytes;
                }
                MediaStatus::Dead => {
                    s.dead += c.n;
                    s.dead_by_reason.push((c.reason, c.n));
                }
            }
        }
        let files: Vec<Files> = self.conn.fetch_all(
            "counting media files",
            "SELECT count() AS n, sum(size) AS bytes, countIf(playable_type != '') AS playable \
             FROM we_chat_media_file FINAL",
        )?;
        s.files = files.first().map_or(0, |f| f.n);
        s.bytes = files.first().map_or(0, |f| f.bytes);
        s.playable = files.first().map_or(0, |f| f.playable);
        Ok(s)
    }
}
