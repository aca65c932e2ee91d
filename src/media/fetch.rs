//! One attempt at one media job: download through the job's corp session into a staged file,
//! verify, sniff, scan an image for QR codes, make voice playable, put it in the media store, and
//! say what became of it ([`Attempt`]). Nothing here touches the job table: the fetcher records the
//! outcome.

use std::io::{BufWriter, Read};
use std::time::Duration;

use super::object::{MediaStore, MediaStoreError, ObjectKey, Staged};
use super::voice::{PLAYABLE_EXT, PLAYABLE_TYPE, Transcoder};
use super::{qr, sniff};
use crate::message::MediaKind;
use crate::runtime::{MediaStats, Stats};
use crate::sdk::{MediaError, RetryPolicy, SdkError, Session, code};
use crate::store::{MediaDeadReason, MediaFile, MediaJob, MediaJobStore, MediaOutcome};

/// How one attempt is made, and when a failing job is given up.
#[derive(Debug, Clone)]
pub struct AttemptPolicy {
    /// Per `GetMediaData` call.
    pub timeout: Duration,
    /// Chunk retries inside one attempt.
    pub chunk_retry: RetryPolicy,
    /// Attempts with transient failures before the job is dead (`gave_up`).
    pub max_attempts: u32,
    /// Attempts whose md5 did not match before the job is dead (`md5_mismatch`).
    pub md5_attempts: u32,
    /// Wait before the second attempt; doubles per attempt up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for AttemptPolicy {
    fn default() -> Self {
        AttemptPolicy {
            timeout: Duration::from_secs(30),
            chunk_retry: RetryPolicy::default(),
            max_attempts: 12,
            md5_attempts: 3,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(600),
        }
    }
}

/// What an attempt came to: the job's outcome, the QR codes its image holds, and the bytes fetched
/// from WeCom (0 when the file was already stored).
#[derive(Debug)]
pub struct Attempt {
    pub outcome: MediaOutcome,
    pub qr_codes: Vec<String>,
    pub fetched_bytes: u64,
    /// The file was already stored: nothing was downloaded, or the download was a duplicate.
    pub deduplicated: bool,
}

impl Attempt {
    fn of(outcome: MediaOutcome) -> Attempt {
        Attempt {
            outcome,
            qr_codes: Vec::new(),
            fetched_bytes: 0,
            deduplicated: false,
        }
    }
}

/// What one attempt needs besides the session.
pub struct AttemptContext<'a> {
    pub media: &'a dyn MediaStore,
    pub stats: &'a MediaStats,
    pub jobs: &'a dyn MediaJobStore,
    pub transcoder: &'a Transcoder,
    pub policy: &'a AttemptPolicy,
    pub now_ms: i64,
}

/// Makes one attempt at `job`.
pub fn attempt(session: &mut Session, job: &MediaJob, cx: &AttemptContext<'_>) -> Attempt {
    match already_stored(job, cx) {
        Ok(Some(file)) => {
            let codes = split_codes(&file.qr_codes);
            return Attempt {
                outcome: MediaOutcome::Done {
                    file,
                    note: "already stored (the same md5 and size as an earlier file)".into(),
                },
                qr_codes: codes,
                fetched_bytes: 0,
                deduplicated: true,
            };
        }
        Ok(None) => {}
        Err(e) => return Attempt::of(retry(job, cx, e.to_string())),
    }
    let (staged, file) = match Staged::create(cx.media.staging_dir()) {
        Ok(s) => s,
        Err(e) => {
            return Attempt::of(retry(job, cx, format!("cannot stage a download: {e}")));
        }
    };
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let timer = std::time::Instant::now();
    let got = session.download_media(
        &job.sdkfileid,
        &job.md5sum,
        cx.policy.timeout,
        &cx.policy.chunk_retry,
        &mut out,
    );
    drop(out);
    Stats::add_time(&cx.stats.download_nanos, timer.elapsed());
    let got = match got {
        Ok(g) => g,
        Err(e) => return Attempt::of(failed(job, cx, e)),
    };
    if job.size > 0 && got.bytes != job.size && job.md5sum.is_empty() {
        // Without an md5 the size is the only check there is.
        return Attempt::of(md5_failure(
            job,
            cx,
            format!(
                "the message says {} bytes but {} arrived; the transfer was bad",
                job.size, got.bytes
            ),
        ));
    }
    let key = ObjectKey::original(&got.md5, got.bytes);
    let content_type = sniff::content_type(&head(&staged), &job.file_name);
    let mut notes = Vec::new();
    let mut codes = Vec::new();
    if job.kind == MediaKind::Image && sniff::is_scannable_image(content_type) {
        let timer = std::time::Instant::now();
        match qr::scan(&staged.path, content_type) {
            Ok(found) => codes = found,
            Err(e) => notes.push(format!("not scanned for QR codes: {e}")),
        }
        Stats::add_time(&cx.stats.scan_nanos, timer.elapsed());
    }
    let mut playable_type = "";
    if matches!(job.kind, MediaKind::Voice | MediaKind::MeetingVoiceCall)
        || content_type.starts_with("audio/amr")
    {
        let timer = std::time::Instant::now();
        match playable_copy(&staged, &got.md5, got.bytes, cx) {
            Ok(()) => playable_type = PLAYABLE_TYPE,
            Err(note) => notes.push(note),
        }
        Stats::add_time(&cx.stats.voice_nanos, timer.elapsed());
    }
    let timer = std::time::Instant::now();
    let put = cx.media.put(&staged.path, &key);
    Stats::add_time(&cx.stats.put_nanos, timer.elapsed());
    let deduplicated = match put {
        Ok(new) => !new,
        Err(e) => return Attempt::of(store_failure(job, cx, e)),
    };
    Attempt {
        outcome: MediaOutcome::Done {
            file: MediaFile {
                md5: got.md5,
                size: got.bytes,
                content_type: content_type.to_owned(),
                playable_type: playable_type.to_owned(),
                qr_codes: codes.join("\n"),
                create_time: cx.now_ms,
            },
            note: notes.join("; "),
        },
        qr_codes: codes,
        fetched_bytes: got.bytes,
        deduplicated,
    }
}

/// The stored file for a job whose message names an md5 and size already stored.
fn already_stored(
    job: &MediaJob,
    cx: &AttemptContext<'_>,
) -> Result<Option<MediaFile>, Box<dyn std::error::Error>> {
    if job.md5sum.len() != 32 || job.size == 0 {
        return Ok(None);
    }
    let Some(file) = cx.jobs.media_file(&job.md5sum, job.size)? else {
        return Ok(None);
    };
    Ok(cx
        .media
        .contains(&ObjectKey::original(&file.md5, file.size))?
        .then_some(file))
}

fn split_codes(joined: &str) -> Vec<String> {
    joined
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The first bytes of a staged file, for sniffing.
fn head(staged: &Staged) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    if let Ok(f) = std::fs::File::open(&staged.path) {
        let _ = f.take(64).read_to_end(&mut buf);
    }
    buf
}

/// Puts an MP3 copy of the staged voice beside its original; `Err` is the note saying why not.
fn playable_copy(
    staged: &Staged,
    md5: &str,
    size: u64,
    cx: &AttemptContext<'_>,
) -> Result<(), String> {
    let copy = cx
        .transcoder
        .to_playable(&staged.path, cx.media.staging_dir())
        .map_err(|e| e.to_string())?;
    cx.media
        .put(&copy.path, &ObjectKey::copy(md5, size, PLAYABLE_EXT))
        .map(|_| ())
        .map_err(|e| format!("no playable copy: {e}"))
}

/// The outcome of a failed download.
fn failed(job: &MediaJob, cx: &AttemptContext<'_>, e: MediaError) -> MediaOutcome {
    let text = e.to_string();
    let sdk = match &e {
        MediaError::Chunk { source, .. } | MediaError::Sdk(source) => Some(source),
        _ => None,
    };
    match (&e, sdk) {
        (MediaError::Md5Mismatch { .. }, _) => md5_failure(job, cx, text),
        (MediaError::Write { .. }, _) => retry(job, cx, text),
        (_, Some(s)) => sdk_failure(job, cx, s, text),
        _ => dead(MediaDeadReason::SdkError, text),
    }
}

fn sdk_failure(
    job: &MediaJob,
    cx: &AttemptContext<'_>,
    e: &SdkError,
    text: String,
) -> MediaOutcome {
    match e.code() {
        Some(c) if c == i64::from(code::DATA_EXPIRED) => dead(MediaDeadReason::Expired, text),
        Some(c) if c == i64::from(code::BAD_FILE_ID) => dead(MediaDeadReason::BadFileId, text),
        _ if e.is_transient() => retry(job, cx, text),
        _ => dead(MediaDeadReason::SdkError, text),
    }
}

fn store_failure(job: &MediaJob, cx: &AttemptContext<'_>, e: MediaStoreError) -> MediaOutcome {
    // The media store failing (a full disk, a bucket unreachable or refusing the key) is never the
    // file's fault: retry with back-off, however often, until it is fixed; the metrics show it.
    MediaOutcome::Retry {
        next_attempt: cx.now_ms + backoff_ms(cx.policy, job.attempts + 1),
        error: e.to_string(),
    }
}

fn md5_failure(job: &MediaJob, cx: &AttemptContext<'_>, text: String) -> MediaOutcome {
    if job.attempts + 1 >= cx.policy.md5_attempts {
        dead(MediaDeadReason::Md5Mismatch, text)
    } else {
        MediaOutcome::Retry {
            next_attempt: cx.now_ms + backoff_ms(cx.policy, job.attempts + 1),
            error: text,
        }
    }
}

fn retry(job: &MediaJob, cx: &AttemptContext<'_>, text: String) -> MediaOutcome {
    if job.attempts + 1 >= cx.policy.max_attempts {
        return dead(MediaDeadReason::GaveUp, text);
    }
    MediaOutcome::Retry {
        next_attempt: cx.now_ms + backoff_ms(cx.policy, job.attempts + 1),
        error: text,
    }
}

fn dead(reason: MediaDeadReason, error: String) -> MediaOutcome {
    MediaOutcome::Dead { reason, error }
}

/// The wait before attempt `attempt + 1`, in ms.
fn backoff_ms(policy: &AttemptPolicy, attempt: u32) -> i64 {
    let wait = crate::runtime::backoff(policy.initial_backoff, attempt, policy.max_backoff);
    i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)
}
