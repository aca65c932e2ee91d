//! Directories the daemon writes to: whether it can, and how much room their filesystem has.

use std::path::{Path, PathBuf};

/// What a directory offers the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Room {
    /// Whether the directory exists already (else the daemon creates it under `existing`).
    pub exists: bool,
    /// The directory itself when it exists, else its nearest ancestor that does.
    pub existing: PathBuf,
    /// Bytes free to this user on its filesystem, when the system says.
    pub free: Option<u64>,
}

impl Room {
    /// `DIR: writable (created at start), 57.8 GiB free`.
    pub fn writable(&self, dir: &Path) -> String {
        format!(
            "{}: writable{}{}",
            dir.display(),
            if self.exists {
                ""
            } else {
                " (created at start)"
            },
            self.free
                .map_or(String::new(), |f| format!(", {} free", size(f)))
        )
    }
}

/// The directory's room, after proving that a file can be created in it (or in the ancestor the
/// daemon would create it under) and removed again. The error says what failed.
pub(super) fn room(dir: &Path) -> Result<Room, String> {
    let existing = dir
        .ancestors()
        .find(|a| a.as_os_str().is_empty() || a.is_dir())
        .map(|a| {
            if a.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                a.to_owned()
            }
        })
        .unwrap_or_else(|| PathBuf::from("/"));
    let exists = dir.is_dir();
    if !exists && dir.exists() {
        return Err(format!("{} exists but is not a directory", dir.display()));
    }
    tempfile::Builder::new()
        .prefix(".msgaudit-check-")
        .tempfile_in(&existing)
        .map_err(|e| format!("cannot create a file in {}: {e}", existing.display()))?;
    Ok(Room {
        exists,
        free: free_bytes(&existing),
        existing,
    })
}

/// Bytes available to an unprivileged user on the filesystem holding `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is NUL-terminated and outlives the call; `stats` is written by statvfs
    // before it is read, and only read when the call succeeded.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `stats`.
    let stats = unsafe { stats.assume_init() };
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// Bytes as a person reads them: `812 MiB`, `1.4 GiB`.
pub(super) fn size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let mib = bytes as f64 / MIB;
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_checked_where_it_would_be_created() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("a/b/spool");
        let room = room(&missing).expect("room");
        assert!(!room.exists);
        assert_eq!(room.existing, dir.path());
        assert!(room.free.is_some_and(|b| b > 0));
        assert!(!missing.exists(), "checking creates nothing");
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("list").count(),
            0,
            "the probe file is removed"
        );
    }

    #[test]
    fn a_file_in_the_way_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("media");
        std::fs::write(&file, "x").expect("file");
        let e = room(&file).expect_err("a file is not a directory");
        assert!(e.contains("not a directory"), "{e}");
    }

    #[test]
    fn sizes_read_as_mib_or_gib() {
        assert_eq!(size(812 << 20), "812 MiB");
        assert_eq!(size(3 << 29), "1.5 GiB");
    }
}
