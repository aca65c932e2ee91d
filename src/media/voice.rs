//! Voice that plays: WeCom voice is AMR, which browsers do not play. When `ffmpeg` is installed
//! (Debian's decodes AMR), a fetched voice file gets an MP3 copy beside it; without ffmpeg the
//! original is still kept and the job's note says why there is no copy.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::object::Staged;

/// The copy's format.
pub const PLAYABLE_EXT: &str = "mp3";
pub const PLAYABLE_TYPE: &str = "audio/mpeg";

/// Why no playable copy was made.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error(
        "no playable copy: ffmpeg was not found ({0}); install it (Debian: apt-get install ffmpeg) \
         and new voice gets an MP3 copy; `msgaudit media playable` makes them for the voice \
         stored before"
    )]
    NoFfmpeg(String),
    #[error("no playable copy: ffmpeg failed ({0})")]
    Failed(String),
    /// ffmpeg ended by a signal (killed under memory pressure, a stop): not the file's fault.
    #[error("no playable copy: ffmpeg was stopped ({0})")]
    Stopped(String),
    #[error("no playable copy: {0}")]
    Io(#[from] std::io::Error),
}

impl TranscodeError {
    /// Whether trying again may work: ffmpeg could not be started or was stopped, or the copy
    /// could not be staged. ffmpeg missing, or refusing the file, will not change.
    pub fn is_transient(&self) -> bool {
        matches!(self, TranscodeError::Stopped(_) | TranscodeError::Io(_))
    }
}

/// An `ffmpeg` binary, found once at start.
#[derive(Debug, Clone)]
pub struct Transcoder {
    ffmpeg: Result<PathBuf, String>,
}

impl Transcoder {
    /// Looks for `program` (a path, or a name on `PATH`), saying in the log what it found.
    pub fn find(program: &str) -> Transcoder {
        let ffmpeg = Transcoder::locate(program).and_then(|t| t.ffmpeg);
        match &ffmpeg {
            Ok(p) => tracing::info!(ffmpeg = %p.display(), "voice gets a playable MP3 copy"),
            Err(e) => {
                tracing::warn!(reason = %e, "ffmpeg not found: voice is kept as AMR only, without a playable copy")
            }
        }
        Transcoder { ffmpeg }
    }

    /// Looks for `program` quietly: the transcoder, or why there is none.
    pub fn locate(program: &str) -> Result<Transcoder, String> {
        let missing = if Path::new(program).components().count() > 1 {
            "is not a file"
        } else {
            "is not on PATH"
        };
        which(program)
            .map(|p| Transcoder { ffmpeg: Ok(p) })
            .ok_or_else(|| format!("`{program}` {missing}"))
    }

    /// Whether copies can be made.
    pub fn available(&self) -> bool {
        self.ffmpeg.is_ok()
    }

    /// Converts the file at `input` to MP3 in a new staged file in `staging`.
    pub fn to_playable(&self, input: &Path, staging: &Path) -> Result<Staged, TranscodeError> {
        let ffmpeg = self
            .ffmpeg
            .as_ref()
            .map_err(|e| TranscodeError::NoFfmpeg(e.clone()))?;
        let (staged, file) = Staged::create(staging)?;
        drop(file);
        let out = Command::new(ffmpeg)
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
            .arg(input)
            .args([
                "-vn",
                "-ac",
                "1",
                "-c:a",
                "libmp3lame",
                "-b:a",
                "32k",
                "-f",
                "mp3",
            ])
            .arg(&staged.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().last().unwrap_or("no message").trim();
            let what = format!("{}: {last}", out.status);
            return Err(if out.status.code().is_none() {
                TranscodeError::Stopped(what)
            } else {
                TranscodeError::Failed(what)
            });
        }
        Ok(staged)
    }
}

fn which(program: &str) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_owned());
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|c| c.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_for_no_copy_begins_as_the_store_expects() {
        // `record_playable_copies` clears the notes that begin so, once a copy is made later.
        for e in [
            TranscodeError::NoFfmpeg("x".into()),
            TranscodeError::Failed("x".into()),
            TranscodeError::Stopped("x".into()),
            TranscodeError::Io(std::io::Error::other("x")),
        ] {
            assert!(e.to_string().starts_with(crate::store::NO_COPY_NOTE), "{e}");
        }
        assert!(Transcoder::locate("/nonexistent/ffmpeg").is_err());
        assert!(Transcoder::locate("no-such-program-anywhere").is_err());
    }
}
