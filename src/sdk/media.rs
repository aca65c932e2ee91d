//! Media download: loop `GetMediaData` over 512 KiB chunks, retry a failed chunk from its own index,
//! stream every chunk to a writer as it arrives (a file is never held whole in memory), and verify
//! the md5 the message carries.

use std::ffi::CString;
use std::io::Write;
use std::time::Duration;

use md5::{Digest, Md5};

use super::buffers::MediaGuard;
use super::error::{SdkError, check};
use super::session::{Session, timeout_secs};

/// How hard to try one chunk before giving up on the file.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per chunk, first one included (default 5).
    pub chunk_attempts: u32,
    /// Wait before the first retry; doubles per retry (default 200 ms).
    pub initial_backoff: Duration,
    /// Longest wait between retries (default 5 s).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            chunk_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// What a finished download delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDownload {
    pub bytes: u64,
    /// Lower-case hex md5 of the bytes written.
    pub md5: String,
    pub chunks: u32,
    /// Chunk attempts that failed and were retried.
    pub retries: u32,
}

/// A media download failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("media chunk `{index}` of {sdkfileid} failed after {attempts} attempt(s): {source}")]
    Chunk {
        sdkfileid: String,
        index: String,
        attempts: u32,
        #[source]
        source: SdkError,
    },
    #[error("writing media {sdkfileid} failed: {source}")]
    Write {
        sdkfileid: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "media {sdkfileid}: md5 mismatch (message says {expected}, the {bytes} bytes received hash to \
         {actual}); the transfer was bad — download it again"
    )]
    Md5Mismatch {
        sdkfileid: String,
        expected: String,
        actual: String,
        bytes: u64,
    },
    #[error("media {sdkfileid}: the SDK broke the chunk protocol: {reason}")]
    Protocol { sdkfileid: String, reason: String },
    #[error(transparent)]
    Sdk(#[from] SdkError),
}

impl Session {
    /// Downloads the media file `sdkfileid` into `out`, verifying `expected_md5` unless it is empty.
    pub fn download_media(
        &mut self,
        sdkfileid: &str,
        expected_md5: &str,
        timeout: Duration,
        retry: &RetryPolicy,
        out: &mut dyn Write,
    ) -> Result<MediaDownload, MediaError> {
        let id = CString::new(sdkfileid).map_err(|_| SdkError::NulInArgument {
            call: "GetMediaData",
            argument: "sdkfileid",
        })?;
        let mut index = CString::default();
        let mut hasher = Md5::new();
        let mut done = MediaDownload {
            bytes: 0,
            md5: String::new(),
            chunks: 0,
            retries: 0,
        };
        loop {
            let mut attempt = 1;
            let (next, finished) = loop {
                let mut sink = |data: &[u8]| -> std::io::Result<()> {
                    hasher.update(data);
                    done.bytes += data.len() as u64;
                    out.write_all(data)
                };
                match self.media_chunk(&index, &id, timeout, &mut sink) {
                    Ok(Ok(step)) => break step,
                    Ok(Err(source)) => {
                        return Err(MediaError::Write {
                            sdkfileid: sdkfileid.to_owned(),
                            source,
                        });
                    }
                    Err(e) if e.is_transient() && attempt < retry.chunk_attempts => {
                        std::thread::sleep(retry.backoff(attempt));
                        attempt += 1;
                        done.retries += 1;
                    }
                    Err(source) => {
                        return Err(MediaError::Chunk {
                            sdkfileid: sdkfileid.to_owned(),
                            index: index.to_string_lossy().into_owned(),
                            attempts: attempt,
                            source,
                        });
                    }
                }
            };
            done.chunks += 1;
            if finished {
                break;
            }
            let protocol = |reason: String| MediaError::Protocol {
                sdkfileid: sdkfileid.to_owned(),
                reason,
            };
            if next.is_empty() || next.as_slice() == index.as_bytes() {
                return Err(protocol(format!(
                    "chunk `{}` is not the last but names no new next index",
                    index.to_string_lossy()
                )));
            }
            index = CString::new(next)
                .map_err(|_| protocol("next index contains a NUL byte".into()))?;
        }
        out.flush().map_err(|source| MediaError::Write {
            sdkfileid: sdkfileid.to_owned(),
            source,
        })?;
        done.md5 = hex(&hasher.finalize());
        if !expected_md5.is_empty() && !expected_md5.eq_ignore_ascii_case(&done.md5) {
            return Err(MediaError::Md5Mismatch {
                sdkfileid: sdkfileid.to_owned(),
                expected: expected_md5.to_owned(),
                actual: done.md5,
                bytes: done.bytes,
            });
        }
        Ok(done)
    }

    /// One `GetMediaData` call. On success the chunk's bytes go to `sink` before the SDK's buffer
    /// is freed; returns the next index and whether the file is finished, or the sink's error.
    fn media_chunk(
        &mut self,
        index: &CString,
        sdkfileid: &CString,
        timeout: Duration,
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<std::io::Result<(Vec<u8>, bool)>, SdkError> {
        let media = MediaGuard::new(&self.lib)?;
        // SAFETY: live handle owned by `&mut self`; every string is NUL-terminated (or NULL) and
        // alive for the call; `media` is a live NewMediaData pointer freed by its guard.
        let rc = unsafe {
            (self.lib.fns.get_media_data)(
                self.handle.as_ptr(),
                index.as_ptr(),
                sdkfileid.as_ptr(),
                self.proxy_ptr(),
                self.passwd_ptr(),
                timeout_secs(timeout),
                media.as_ptr(),
            )
        };
        check("GetMediaData", rc, || {
            format!(
                "corp {}, chunk `{}`",
                self.corp_id(),
                index.to_string_lossy()
            )
        })?;
        Ok(sink(media.data()).map(|()| (media.next_index().to_vec(), media.is_finished())))
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(200));
        assert_eq!(p.backoff(2), Duration::from_millis(400));
        assert_eq!(p.backoff(10), Duration::from_secs(5));
        assert_eq!(p.backoff(100), Duration::from_secs(5));
    }
}
