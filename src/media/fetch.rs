//! One attempt at one media job: download through the job's corp session into a staged file,
//! verify, sniff, scan an image for QR codes, make voice playable, put it in the media store, and
//! say what became of it ([`Attempt`]). Nothing here touches the job table: the fetcher records the
//! outcome.

use std::io::{BufWriter, Write};
use std::time::Duration;

use super::object::{MediaStore, ObjectKey, Staged};
use super::voice::{PLAYABLE_EXT, PLAYABLE_TYPE, Transcoder};
use super::{qr, sniff};
use crate::message::MediaKind;
use crate::runtime::{MediaStats, Stats};
use crate::sdk::{MediaError, RetryPolicy, Session, code};
use crate::store::{
    MediaDeadReason, MediaFile, MediaJob, MediaJobStore, MediaOutcome, VOICE_KINDS,
};

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

/// What an attempt came to: the job's outcome and the bytes fetched from WeCom (0 when nothing was
/// downloaded).
#[derive(Debug)]
pub struct Attempt {
    pub outcome: MediaOutcome,
    pub fetched_bytes: u64,
    /// The file was already stored: nothing was downloaded, or the download was a duplicate.
    pub deduplicated: bool,
}

impl Attempt {
    fn of(outcome: MediaOutcome) -> Attempt {
        Attempt {
            outcome,
            fetched_bytes: 0,
            deduplicated: false,
        }
    }

    /// Done with a file already stored (its QR codes and playable copy come with it).
    fn stored(file: MediaFile, fetched_bytes: u64) -> Attempt {
        Attempt {
            outcome: MediaOutcome::Done {
                file,
                note: "already stored (the same md5 and size as an earlier file)".into(),
            },
            fetched_bytes,
            deduplicated: true,
        }
    }

    /// What the QR codes in the attempt's image say (none unless done).
    pub fn qr_codes(&self) -> Vec<String> {
        match &self.outcome {
            MediaOutcome::Done { file, .. } => file
                .qr_codes
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
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

/// Bytes kept from the start of a download, for sniffing its type.
const HEAD: usize = 64;

/// A writer that passes everything on and keeps the first [`HEAD`] bytes.
struct HeadKeeper<W> {
    inner: W,
    head: Vec<u8>,
}

impl<W: Write> Write for HeadKeeper<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let room = HEAD.saturating_sub(self.head.len()).min(n);
        self.head.extend_from_slice(&buf[..room]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Makes one attempt at `job`.
pub fn attempt(session: &mut Session, job: &MediaJob, cx: &AttemptContext<'_>) -> Attempt {
    // The message names a file already stored: done without a download.
    if job.md5sum.len() == 32 && job.size > 0 {
        match stored_file(cx, &job.md5sum, job.size) {
            Ok(Some(file)) => return Attempt::stored(file, 0),
            Ok(None) => {}
            Err(error) => return Attempt::of(later(job, cx, error)),
        }
    }
    let (staged, file) = match Staged::create(cx.media.staging_dir()) {
        Ok(s) => s,
        Err(e) => return Attempt::of(later(job, cx, format!("cannot stage a download: {e}"))),
    };
    let mut out = HeadKeeper {
        inner: BufWriter::with_capacity(256 * 1024, file),
        head: Vec::with_capacity(HEAD),
    };
    let timer = std::time::Instant::now();
    let got = session.download_media(
        &job.sdkfileid,
        &job.md5sum,
        cx.policy.timeout,
        &cx.policy.chunk_retry,
        &mut out,
    );
    let head = out.head;
    drop(out.inner);
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
    // The message did not name it (no md5), but the content is stored: no scan, no copy again.
    match stored_file(cx, &got.md5, got.bytes) {
        Ok(Some(file)) => return Attempt::stored(file, got.bytes),
        Ok(None) => {}
        Err(error) => return Attempt::of(later(job, cx, error)),
    }
    let content_type = sniff::content_type(&head, &job.file_name);
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
    if VOICE_KINDS.contains(&job.kind) || content_type.starts_with("audio/amr") {
        let timer = std::time::Instant::now();
        let copy = playable_copy(&staged, &got.md5, got.bytes, cx);
        Stats::add_time(&cx.stats.voice_nanos, timer.elapsed());
        match copy {
            Ok(()) => playable_type = PLAYABLE_TYPE,
            // ffmpeg stopped, or the copy could not be staged or stored: the whole attempt again
            // later, so the file does not stay without a playable copy for good; after the last
            // attempt the original is stored anyway, with the note.
            Err(CopyFailure {
                note,
                transient: true,
            }) if job.attempts + 1 < cx.policy.max_attempts => {
                return Attempt::of(later(job, cx, note));
            }
            Err(failure) => notes.push(failure.note),
        }
    }
    let timer = std::time::Instant::now();
    let put = cx
        .media
        .put(&staged.path, &ObjectKey::original(&got.md5, got.bytes));
    Stats::add_time(&cx.stats.put_nanos, timer.elapsed());
    let deduplicated = match put {
        Ok(new) => !new,
        Err(e) => return Attempt::of(later(job, cx, e.to_string())),
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
        fetched_bytes: got.bytes,
        deduplicated,
    }
}

/// The stored file with this md5 and size, when both its row and its object are there.
fn stored_file(cx: &AttemptContext<'_>, md5: &str, size: u64) -> Result<Option<MediaFile>, String> {
    let Some(file) = cx.jobs.media_file(md5, size).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let key = ObjectKey::original(&file.md5, file.size);
    let there = cx.media.contains(&key).map_err(|e| e.to_string())?;
    Ok(there.then_some(file))
}

/// Why a voice file got no playable copy: the job's note, and whether trying again may help.
struct CopyFailure {
    note: String,
    transient: bool,
}

/// Puts an MP3 copy of the staged voice beside its original.
fn playable_copy(
    staged: &Staged,
    md5: &str,
    size: u64,
    cx: &AttemptContext<'_>,
) -> Result<(), CopyFailure> {
    let copy = cx
        .transcoder
        .to_playable(&staged.path, cx.media.staging_dir())
        .map_err(|e| CopyFailure {
            transient: e.is_transient(),
            note: e.to_string(),
        })?;
    cx.media
        .put(&copy.path, &ObjectKey::copy(md5, size, PLAYABLE_EXT))
        .map(|_| ())
        .map_err(|e| CopyFailure {
            note: format!("no playable copy: {e}"),
            transient: true,
        })
}

/// The outcome of a failed download.
fn failed(job: &MediaJob, cx: &AttemptContext<'_>, e: MediaError) -> MediaOutcome {
    let text = e.to_string();
    match e {
        MediaError::Md5Mismatch { .. } => md5_failure(job, cx, text),
        MediaError::Write { .. } => later(job, cx, text),
        MediaError::Chunk { source, .. } | MediaError::Sdk(source) => match source.code() {
            Some(c) if c == i64::from(code::DATA_EXPIRED) => dead(MediaDeadReason::Expired, text),
            Some(c) if c == i64::from(code::BAD_FILE_ID) => dead(MediaDeadReason::BadFileId, text),
            _ if source.is_transient() => retry(job, cx, text),
            _ => dead(MediaDeadReason::SdkError, text),
        },
        MediaError::Protocol { .. } => dead(MediaDeadReason::SdkError, text),
    }
}

/// Try again after the back-off, however often: for failures that are never the file's fault (our
/// disk, the staging directory, the store or the bucket), which last until fixed and show in the
/// metrics.
fn later(job: &MediaJob, cx: &AttemptContext<'_>, error: String) -> MediaOutcome {
    MediaOutcome::Retry {
        next_attempt: cx.now_ms + backoff_ms(cx.policy, job.attempts + 1),
        error,
    }
}

/// A bad transfer: again, up to `md5_attempts`, then dead.
fn md5_failure(job: &MediaJob, cx: &AttemptContext<'_>, text: String) -> MediaOutcome {
    if job.attempts + 1 >= cx.policy.md5_attempts {
        dead(MediaDeadReason::Md5Mismatch, text)
    } else {
        later(job, cx, text)
    }
}

/// A transient SDK failure: again, up to `max_attempts`, then dead (`gave_up`).
fn retry(job: &MediaJob, cx: &AttemptContext<'_>, text: String) -> MediaOutcome {
    if job.attempts + 1 >= cx.policy.max_attempts {
        dead(MediaDeadReason::GaveUp, text)
    } else {
        later(job, cx, text)
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
