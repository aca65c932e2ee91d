//! `GET /api/media/{corp}/{msg_id}/{item}`: a stored attachment, to a signed-in user whose view
//! holds the message — never by a public or guessable URL. `?variant=playable` serves voice's
//! browser-playable copy, `?download=1` asks the browser to save it. Only types a browser shows
//! safely are served inline (images, audio, video); everything else is an attachment of type
//! `application/octet-stream`, and nothing is sniffed or run (`nosniff`, a sandboxing CSP).
//! Single byte ranges are honoured, so audio and video seek. Every view or download is written
//! to `sys_oper_log`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::App;
use super::api::{ApiError, ApiResult, SignedIn, blocking, log_op};
use super::extract::Params;
use crate::media::{MediaStore, ObjectKey};
use crate::store::{MediaJobQuery, MediaStatus};

/// Types shown inline; anything else is downloaded as octet-stream.
const INLINE: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/bmp",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "audio/wav",
    "video/mp4",
    "video/webm",
];

/// Bytes per chunk streamed to the client.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Default, Deserialize)]
pub struct MediaParams {
    /// `playable`: voice as MP3.
    pub variant: Option<String>,
    /// `1`: save rather than show.
    pub download: Option<String>,
}

/// A range that lies outside the object (answered 416).
#[derive(Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

/// A byte range of an object of `len` bytes: `Range: bytes=a-b`, `a-` or `-n` (one range; a
/// header this does not understand serves the whole object, as the RFC allows).
pub fn byte_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(s), Some(e)) if s <= e => (s, e.min(len.saturating_sub(1))),
        (Some(s), None) if b.is_empty() => (s, len.saturating_sub(1)),
        (None, Some(n)) if a.is_empty() && n > 0 => (len.saturating_sub(n), len.saturating_sub(1)),
        _ => return Ok(None),
    };
    if start >= len || len == 0 {
        return Err(Unsatisfiable);
    }
    Ok(Some((start, end)))
}

/// Percent-encodes text for a URL path segment or an RFC 5987 value (unreserved bytes kept).
pub(super) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `attachment; filename="…"; filename*=UTF-8''…` (or `inline`), safe for any file name.
pub(super) fn disposition(kind: &str, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}",
        percent_encode(name)
    )
}

/// A file name for a download: the message's own, else the kind and msgid with an extension for
/// the type.
fn file_name(given: &str, kind: &str, msg_id: &str, item: u32, content_type: &str) -> String {
    if !given.trim().is_empty() {
        return given.trim().to_owned();
    }
    let ext = match content_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "audio/mpeg" => "mp3",
        "audio/amr" => "amr",
        "video/mp4" => "mp4",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    let short: String = msg_id.chars().take(24).collect();
    format!("{kind}-{short}-{item}.{ext}")
}

/// Writes into a channel in chunks (the body of a streamed response).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// What to serve: the object, its length and type, and the name to give it.
struct Served {
    key: ObjectKey,
    len: u64,
    content_type: String,
    name: String,
}

pub async fn media(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    Path((corp, msg_id, item)): Path<(String, String, u32)>,
    Params(p): Params<MediaParams>,
) -> ApiResult<Response> {
    let view = app.view(&s)?;
    let Some(files) = app.media.clone() else {
        return Err(ApiError::NotFound);
    };
    let playable = match p.variant.as_deref().map(str::trim) {
        None | Some("" | "original") => false,
        Some("playable") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "variant `{other}`: 用 original 或 playable (use original or playable)"
            )));
        }
    };
    let download = p
        .download
        .as_deref()
        .is_some_and(|d| d == "1" || d == "true");
    let op = log_op(
        &s,
        if download {
            "下载媒体"
        } else {
            "查看媒体"
        },
        "media",
        &uri,
        peer,
        json!({ "corp_id": corp, "msg_id": msg_id, "item": item, "playable": playable })
            .to_string(),
    );
    let store = app.store.clone();
    let lookup = files.clone();
    let served = blocking(move || {
        store
            .message(&corp, &msg_id, &view.conversations())?
            .ok_or(ApiError::NotFound)?;
        let job = store
            .media_jobs(&MediaJobQuery {
                corp_id: Some(corp.clone()),
                msg_id: Some(msg_id.clone()),
                limit: 10_000,
                ..MediaJobQuery::default()
            })?
            .into_iter()
            .find(|j| j.key.item == item && j.status == MediaStatus::Done)
            .ok_or(ApiError::NotFound)?;
        let file = store
            .media_file(&job.file_md5, job.file_size)?
            .ok_or(ApiError::NotFound)?;
        let (key, content_type) = if playable {
            if file.playable_type.is_empty() {
                return Err(ApiError::NotFound);
            }
            (
                ObjectKey::copy(&file.md5, file.size, "mp3"),
                file.playable_type.clone(),
            )
        } else {
            (
                ObjectKey::original(&file.md5, file.size),
                file.content_type.clone(),
            )
        };
        let len = lookup
            .object_len(&key)
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .ok_or(ApiError::NotFound)?;
        let kind = serde_json::to_value(job.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "file".into());
        let mut name = file_name(&job.file_name, &kind, &msg_id, item, &file.content_type);
        if playable {
            name = format!("{}.mp3", name.trim_end_matches(".amr"));
        }
        store.log_operation(&op)?;
        Ok(Served {
            key,
            len,
            content_type,
            name,
        })
    })
    .await?;

    let inline = !download && INLINE.contains(&served.content_type.as_str());
    let content_type = if inline {
        served.content_type.clone()
    } else {
        "application/octet-stream".to_owned()
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, end) = match byte_range(range, served.len) {
        Ok(None) => (StatusCode::OK, 0, served.len.saturating_sub(1)),
        Ok(Some((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Err(Unsatisfiable) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", served.len)) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    let length = if served.len == 0 { 0 } else { end - start + 1 };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let key = served.key.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let result = files
            .get_range(&key, start, length, &mut out)
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|_| std::io::Write::flush(&mut out));
        if let Err(e) = result {
            tracing::warn!(error = %e, "serving a media file stopped");
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let h = response.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    set(header::CONTENT_TYPE, content_type);
    set(header::CONTENT_LENGTH, length.to_string());
    set(header::ACCEPT_RANGES, "bytes".into());
    set(
        header::CONTENT_DISPOSITION,
        disposition(if inline { "inline" } else { "attachment" }, &served.name),
    );
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff".into());
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; sandbox".into(),
    );
    set(header::CACHE_CONTROL, "private, max-age=3600".into());
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            header::CONTENT_RANGE,
            format!("bytes {start}-{end}/{}", served.len),
        );
    }
    Ok(response)
}

/// The media store the workspace serves from, shared with the handlers.
pub type SharedMediaStore = Arc<dyn MediaStore>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(byte_range(None, 100), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(byte_range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(byte_range(Some("bytes=50-500"), 100), Ok(Some((50, 99))));
        assert_eq!(byte_range(Some("bytes=100-"), 100), Err(Unsatisfiable));
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(byte_range(Some("bytes=9-0"), 100), Ok(None));
        assert_eq!(byte_range(Some("items=0-1"), 100), Ok(None));
    }

    #[test]
    fn dispositions_are_safe_for_any_name() {
        assert_eq!(
            disposition("attachment", "合同 v2.pdf"),
            "attachment; filename=\"__ v2.pdf\"; filename*=UTF-8''%E5%90%88%E5%90%8C%20v2.pdf"
        );
        let d = disposition("inline", "a\"b\r\n.png");
        assert!(!d.contains('\r') && !d.contains('\n'), "{d}");
        assert!(d.starts_with("inline; filename=\"a_b__.png\""), "{d}");
    }
}
