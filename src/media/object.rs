//! The content-addressed media store's interface: a file is kept once per (md5, size) under a key
//! derived from them ([`ObjectKey`]), a download lands in a temporary file first and becomes visible
//! under its key only by [`MediaStore::put`], complete and verified. Backends: a local directory
//! ([`super::local`]) and S3-compatible object storage ([`super::s3`]).

use std::io::Write;
use std::path::{Path, PathBuf};

/// What a media store operation failed on.
#[derive(Debug, thiserror::Error)]
pub enum MediaStoreError {
    #[error("media store {location}: {context}: {source}")]
    Io {
        location: String,
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("media store {location}: {context}: {detail}")]
    Remote {
        location: String,
        context: String,
        detail: String,
        /// Whether trying again later may work (network, 5xx).
        transient: bool,
    },
    #[error("media store {location}: no object {key}")]
    NotFound { location: String, key: String },
    #[error("media store `{url}` is not understood: {reason}")]
    Url { url: String, reason: String },
}

impl MediaStoreError {
    pub fn is_transient(&self) -> bool {
        match self {
            MediaStoreError::Io { .. } => true,
            MediaStoreError::Remote { transient, .. } => *transient,
            _ => false,
        }
    }
}

/// Which object of a file: the original as WeCom served it, or a browser-playable copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    Original,
    /// A copy in another format, by file extension (`mp3`).
    Copy(&'static str),
}

/// The key of a stored object: `ab/cd/abcd…ef-SIZE` (fanned out by the md5's first two bytes), with
/// `.EXT` for a copy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub md5: String,
    pub size: u64,
    pub variant: Variant,
}

impl ObjectKey {
    pub fn original(md5: &str, size: u64) -> ObjectKey {
        ObjectKey {
            md5: md5.to_ascii_lowercase(),
            size,
            variant: Variant::Original,
        }
    }

    pub fn copy(md5: &str, size: u64, ext: &'static str) -> ObjectKey {
        ObjectKey {
            variant: Variant::Copy(ext),
            ..ObjectKey::original(md5, size)
        }
    }

    /// The relative path of the object (`/`-separated). The md5 is hex (the store only ever holds
    /// md5s it computed), so the path never leaves the store's root.
    pub fn path(&self) -> String {
        let hex: String = self.md5.chars().filter(char::is_ascii_hexdigit).collect();
        let (a, b) = (hex.get(0..2).unwrap_or("00"), hex.get(2..4).unwrap_or("00"));
        let ext = match self.variant {
            Variant::Original => String::new(),
            Variant::Copy(e) => format!(".{e}"),
        };
        format!("{a}/{b}/{hex}-{}{ext}", self.size)
    }
}

/// A content-addressed store of media files.
pub trait MediaStore: Send + Sync {
    /// Where the store is, for logs and messages (never with credentials).
    fn location(&self) -> String;

    /// The directory downloads are written to before [`MediaStore::put`] (on the same filesystem
    /// as a local store, so that putting is a rename).
    fn staging_dir(&self) -> &Path;

    /// Whether the object exists (complete: nothing partial is ever visible).
    fn contains(&self, key: &ObjectKey) -> Result<bool, MediaStoreError>;

    /// Makes the complete, verified file at `staged` visible as `key`, atomically, and removes
    /// `staged`. Putting a key that exists keeps the existing object. Returns whether the object
    /// is new (false: it was already stored).
    fn put(&self, staged: &Path, key: &ObjectKey) -> Result<bool, MediaStoreError>;

    /// Writes the object to `out`; returns its length.
    fn get(&self, key: &ObjectKey, out: &mut dyn Write) -> Result<u64, MediaStoreError>;

    /// The object's length in bytes, if it exists.
    fn object_len(&self, key: &ObjectKey) -> Result<Option<u64>, MediaStoreError>;

    /// Writes `len` bytes of the object from `offset` to `out` (a range request); returns how
    /// many were written.
    fn get_range(
        &self,
        key: &ObjectKey,
        offset: u64,
        len: u64,
        out: &mut dyn Write,
    ) -> Result<u64, MediaStoreError>;
}

/// A staged download: a new file in the staging directory, removed on drop unless put.
#[derive(Debug)]
pub struct Staged {
    pub path: PathBuf,
}

impl Staged {
    /// Creates a new empty staging file (0600).
    pub fn create(dir: &Path) -> std::io::Result<(Staged, std::fs::File)> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(dir)?;
        let name = format!(
            "{}-{}-{}.part",
            std::process::id(),
            crate::timefmt::now_ms(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok((Staged { path }, file))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Already put (renamed away) or never completed: either way nothing may remain.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Removes what a crash left in the staging directory (files ending `.part`); returns how many.
/// A staged file names the process that made it ([`Staged::create`]): the files of a process
/// still running are its own and stay (a daemon starting while `media playable` runs, or the
/// other way round, must not take away the other's downloads and copies).
pub fn clear_staging(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".part") && !staged_by_a_running_process(&name)
        })
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// Whether the staged file `name` (`<pid>-<ms>-<n>.part`) was made by a process still running.
/// Where `/proc` cannot say, no process counts as running (every leftover is removed, as before).
fn staged_by_a_running_process(name: &str) -> bool {
    name.split('-')
        .next()
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearing_the_staging_directory_leaves_running_processes_files_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let (own, _file) = Staged::create(dir.path()).expect("staged");
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let theirs = dir.path().join(format!("{}-1-0.part", other.id()));
        let gone = dir.path().join("999999999-1-0.part");
        let unnamed = dir.path().join("leftover.part");
        let unrelated = dir.path().join("notes.txt");
        for path in [&theirs, &gone, &unnamed, &unrelated] {
            std::fs::write(path, b"x").expect("write");
        }
        assert_eq!(clear_staging(dir.path()), 2, "the stopped and the unnamed");
        assert!(own.path.exists(), "this process's own download stays");
        assert!(theirs.exists(), "a running process's stays");
        assert!(unrelated.exists(), "only .part files are staging files");
        assert!(!gone.exists() && !unnamed.exists());
        other.kill().expect("kill");
        other.wait().expect("wait");
        assert_eq!(
            clear_staging(dir.path()),
            1,
            "once that process stops, its file goes"
        );
        assert!(!theirs.exists());
    }

    #[test]
    fn keys_fan_out_by_md5_prefix_and_name_copies() {
        let k = ObjectKey::original("ABCDEF0123", 42);
        assert_eq!(k.path(), "ab/cd/abcdef0123-42");
        assert_eq!(
            ObjectKey::copy("abcdef0123", 42, "mp3").path(),
            "ab/cd/abcdef0123-42.mp3"
        );
        assert_eq!(
            ObjectKey::original("../../etc", 1).path(),
            "ec/00/ec-1",
            "nothing but hex reaches the path"
        );
    }
}
