//! Media jobs and the files they fetched (`we_chat_media_job`, `we_chat_media_file`): one job per
//! attachment of a stored message, written in the same durable step as the message (see
//! [`IngestStore::store_batch`](super::IngestStore::store_batch)); the fetchers take due jobs oldest
//! message first and record each outcome; a file is recorded once per (md5, size), however many
//! jobs point at it.

use crate::message::{Attachment, MediaKind, MessageRow};

use super::StoreError;

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaStatus {
    /// Not fetched yet (or waiting for its next attempt).
    Pending = 0,
    /// Fetched, verified and stored.
    Done = 1,
    /// Given up on, with a reason; `media retry` puts it back.
    Dead = 2,
}

impl MediaStatus {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> MediaStatus {
        match code {
            1 => MediaStatus::Done,
            2 => MediaStatus::Dead,
            _ => MediaStatus::Pending,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaStatus::Pending => "pending",
            MediaStatus::Done => "done",
            MediaStatus::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<MediaStatus> {
        [MediaStatus::Pending, MediaStatus::Done, MediaStatus::Dead]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// A job's identity: one attachment of one message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct MediaJobKey {
    pub corp_id: String,
    pub msg_id: String,
    pub item: u32,
}

/// One row of `we_chat_media_job`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MediaJob {
    pub key: MediaJobKey,
    /// The message's time (UTC epoch ms): jobs are taken oldest first, for retention.
    pub msg_time: i64,
    pub kind: MediaKind,
    pub sdkfileid: String,
    /// What the message says (md5 may be empty, size 0).
    pub md5sum: String,
    pub size: u64,
    pub file_name: String,
    /// The message's sender, receivers and room, for what is found in the file (QR codes).
    pub from_id: String,
    pub to_list: String,
    pub room_id: String,
    pub status: MediaStatus,
    pub attempts: u32,
    /// When a pending job may next be tried (UTC epoch ms).
    pub next_attempt: i64,
    pub last_error: String,
    /// Why a dead job was given up (a [`MediaDeadReason`] name), else empty.
    pub dead_reason: String,
    /// The stored file (its real md5 and size) once done.
    pub file_md5: String,
    pub file_size: u64,
    /// What else happened (e.g. why voice has no playable copy).
    pub note: String,
    pub update_time: i64,
}

impl MediaJob {
    /// A new pending job for an attachment of `m`.
    pub fn new(m: &MessageRow, a: &Attachment) -> MediaJob {
        MediaJob {
            key: MediaJobKey {
                corp_id: m.corp_id.clone(),
                msg_id: m.msg_id.clone(),
                item: a.item,
            },
            msg_time: m.msg_time,
            kind: a.kind,
            sdkfileid: a.sdkfileid.clone(),
            md5sum: a.md5sum.clone(),
            size: a.size,
            file_name: a.file_name.clone(),
            from_id: m.from_id.clone(),
            to_list: m.to_list.clone(),
            room_id: m.room_id.clone(),
            status: MediaStatus::Pending,
            attempts: 0,
            next_attempt: 0,
            last_error: String::new(),
            dead_reason: String::new(),
            file_md5: String::new(),
            file_size: 0,
            note: String::new(),
            update_time: 0,
        }
    }

    /// Every new job a batch's messages imply.
    pub fn of_messages(messages: &[MessageRow]) -> impl Iterator<Item = MediaJob> + '_ {
        messages
            .iter()
            .flat_map(|m| m.attachments.iter().map(move |a| MediaJob::new(m, a)))
    }
}

/// Why a media job was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaDeadReason {
    /// WeCom no longer has the file (10010): past retention.
    Expired,
    /// WeCom does not know the sdkfileid (10005).
    BadFileId,
    /// Every download hashed to something other than the message's md5.
    Md5Mismatch,
    /// Another SDK error that retrying will not fix.
    SdkError,
    /// Transient failures, every attempt, until the attempt limit.
    GaveUp,
}

impl MediaDeadReason {
    pub const ALL: [MediaDeadReason; 5] = [
        MediaDeadReason::Expired,
        MediaDeadReason::BadFileId,
        MediaDeadReason::Md5Mismatch,
        MediaDeadReason::SdkError,
        MediaDeadReason::GaveUp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MediaDeadReason::Expired => "expired",
            MediaDeadReason::BadFileId => "bad_file_id",
            MediaDeadReason::Md5Mismatch => "md5_mismatch",
            MediaDeadReason::SdkError => "sdk_error",
            MediaDeadReason::GaveUp => "gave_up",
        }
    }

    pub fn parse(s: &str) -> Option<MediaDeadReason> {
        MediaDeadReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What an operator can do about it.
    pub fn advice(self) -> &'static str {
        match self {
            MediaDeadReason::Expired => {
                "WeCom keeps media for a limited time and this file is gone; keep the daemon's media \
                 backlog short (more `media.concurrency`, a larger quota) so files are fetched in time"
            }
            MediaDeadReason::BadFileId => {
                "WeCom does not know this sdkfileid; check that the corp id and archive secret are \
                 the ones the message came from, then `msgaudit media retry`"
            }
            MediaDeadReason::Md5Mismatch => {
                "every download hashed differently from the md5 the message carries; check the \
                 network path (proxy) and `msgaudit media retry`"
            }
            MediaDeadReason::SdkError => {
                "the SDK refused the download; see the error, fix its cause (IP allow-list, \
                 certificate, secret) and `msgaudit media retry`"
            }
            MediaDeadReason::GaveUp => {
                "the download kept failing with network errors; check connectivity to WeCom (or the \
                 proxy) and `msgaudit media retry`"
            }
        }
    }
}

/// A stored file (`we_chat_media_file`): one per (md5, size).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MediaFile {
    pub md5: String,
    pub size: u64,
    /// A MIME type sniffed from the bytes (`image/png`, `audio/amr`, …).
    pub content_type: String,
    /// The MIME type of a browser-playable copy kept beside it (voice), else empty.
    pub playable_type: String,
    /// What the QR codes in an image say, one per line (empty: none, or not an image).
    pub qr_codes: String,
    pub create_time: i64,
}

/// What became of one attempt at a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOutcome {
    /// Stored (or already stored under the same md5 and size); `note` says what else happened.
    Done { file: MediaFile, note: String },
    /// Try again at `next_attempt`.
    Retry { next_attempt: i64, error: String },
    /// Given up.
    Dead {
        reason: MediaDeadReason,
        error: String,
    },
}

/// Which jobs to list or retry.
#[derive(Debug, Clone, Default)]
pub struct MediaJobQuery {
    pub corp_id: Option<String>,
    pub msg_id: Option<String>,
    /// Only the jobs of these messages (a page of a conversation); empty does not filter.
    pub msg_ids: Vec<String>,
    pub status: Option<MediaStatus>,
    pub dead_reason: Option<MediaDeadReason>,
    pub limit: u32,
}

/// The media archive in numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MediaSummary {
    pub pending: u64,
    pub done: u64,
    pub dead: u64,
    /// Dead jobs by reason name.
    pub dead_by_reason: Vec<(String, u64)>,
    /// The message time of the oldest pending job (UTC epoch ms).
    pub oldest_pending_ms: Option<i64>,
    /// Distinct files stored, and their bytes.
    pub files: u64,
    pub bytes: u64,
    /// Distinct files stored with a playable copy (voice made playable).
    pub playable: u64,
    /// Bytes the done jobs point at (a file counted once per job): over `bytes`, the dedup ratio.
    pub job_bytes: u64,
}

/// Media jobs and files: what the fetchers, `media` commands and `status` need.
pub trait MediaJobStore: Send + Sync {
    /// Pending jobs of `corps` due at `now_ms`, oldest message first, at most `limit` (the jobs of
    /// corps not archived now wait, without crowding out the others').
    fn due_media_jobs(
        &self,
        corps: &[String],
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<MediaJob>, StoreError> {
        self.due_media_jobs_since(corps, now_ms, i64::MIN, limit)
    }

    /// The same, of messages from `since_ms` on only: the fetchers know where the pending jobs
    /// start ([`MediaJobStore::oldest_pending_media`]), and on ClickHouse a look that reads only
    /// from there need not go over the whole job table.
    fn due_media_jobs_since(
        &self,
        corps: &[String],
        now_ms: i64,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<MediaJob>, StoreError>;

    /// The message time of the oldest pending job of `corps`, due now or later (None: no job of
    /// theirs is pending).
    fn oldest_pending_media(&self, corps: &[String]) -> Result<Option<i64>, StoreError>;

    /// Records what attempts at jobs came to (the file rows too, once per md5 and size), as one
    /// durable step.
    fn record_media_outcomes(
        &self,
        outcomes: &[(MediaJob, MediaOutcome)],
    ) -> Result<(), StoreError>;

    /// Records one attempt's outcome.
    fn record_media_outcome(
        &self,
        job: &MediaJob,
        outcome: &MediaOutcome,
    ) -> Result<(), StoreError> {
        self.record_media_outcomes(&[(job.clone(), outcome.clone())])
    }

    /// The stored file with this md5 and size, if any.
    fn media_file(&self, md5: &str, size: u64) -> Result<Option<MediaFile>, StoreError>;

    /// Jobs matching a query, oldest message first.
    fn media_jobs(&self, query: &MediaJobQuery) -> Result<Vec<MediaJob>, StoreError>;

    /// Puts dead jobs matching a query back to pending with no attempts; returns how many.
    fn retry_media_jobs(&self, query: &MediaJobQuery) -> Result<u64, StoreError>;

    /// Counts for metrics and `status`.
    fn media_summary(&self) -> Result<MediaSummary, StoreError>;

    /// Stored voice without a playable copy (for `msgaudit media playable`): files with no copy
    /// that are AMR or that a voice or meeting-recording job points at, in (md5, size) order after
    /// `after`, at most `limit`.
    fn files_without_copy(
        &self,
        after: Option<(&str, u64)>,
        limit: u32,
    ) -> Result<Vec<MediaFile>, StoreError>;

    /// Records that these files (md5, size) now have a playable copy of `playable_type`, and
    /// clears the notes of their jobs that said there was none ([`NO_COPY_NOTE`]).
    fn record_playable_copies(
        &self,
        files: &[(String, u64)],
        playable_type: &str,
    ) -> Result<(), StoreError>;
}

/// How a done job's note begins when its voice got no playable copy.
pub const NO_COPY_NOTE: &str = "no playable copy";

/// The job kinds whose files get a playable copy whatever their sniffed type.
pub const VOICE_KINDS: [MediaKind; 2] = [MediaKind::Voice, MediaKind::MeetingVoiceCall];
