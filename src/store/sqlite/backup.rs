//! A consistent copy of a SQLite store, taken while the daemon writes to it. `VACUUM INTO` reads
//! one snapshot (in WAL mode writers go on meanwhile), and writes a compact copy into a new file
//! beside the target, created 0600 because it holds the chat archive. The copy is checked
//! (`PRAGMA quick_check`), synced and only then renamed into place, so a backup file that exists
//! is whole. A batch and its checkpoint commit together, so the copy's checkpoints match its
//! messages: restoring it loses nothing the archive still holds. [`restore`] puts a checked copy
//! in the store's place, keeping the store it replaces (with its WAL) beside it.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// Why no backup was written.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("there is no store at {}: nothing to back up", .0.display())]
    NoStore(PathBuf),
    #[error("{} exists already: choose another path, or --force to replace it", .0.display())]
    Exists(PathBuf),
    #[error("cannot write the backup at {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("backing up {}: {context}: {source}", .store.display())]
    Sqlite {
        store: PathBuf,
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the copy at {} failed its check ({verdict}): a copy being written is removed (try \
         again); a copy to restore from is damaged (restore an earlier one)",
        .path.display()
    )]
    Damaged { verdict: String, path: PathBuf },
    #[error(
        "{} is the store itself: restore from a copy `msgaudit backup` made",
        .0.display()
    )]
    CopyIsStore(PathBuf),
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    /// The newest migration the copy records.
    pub schema: u32,
    pub messages: u64,
    /// Dead letters still pending.
    pub dead_letters: u64,
    pub hits: u64,
    pub behaviour_hits: u64,
    pub media_jobs: u64,
    /// Each corp's checkpoint: the seq up to which the copy holds every message (or its dead
    /// letter).
    pub checkpoints: Vec<(String, u64)>,
}

/// Where the copy is written before it is checked and renamed to `out`.
pub fn partial_path(out: &Path) -> PathBuf {
    with_suffix(out, ".partial")
}

/// `path` with `suffix` added to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(suffix);
    path.with_file_name(name)
}

/// An I/O failure on `path`.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + use<> {
    let path = path.to_owned();
    move |source| BackupError::Io { path, source }
}

/// A new, empty file at `path`, readable by its owner only (what an earlier, interrupted run left
/// there is removed first): the archive is never readable by others, not even for a moment.
fn private_new(path: &Path) -> Result<std::fs::File, BackupError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io(path)(e)),
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))
}

/// Syncs the written file at `partial`, renames it to `target` and syncs the directory, so the
/// name appears only on a whole file and survives a crash; returns its size.
fn put_in_place(partial: &Path, target: &Path) -> Result<u64, BackupError> {
    OpenOptions::new()
        .read(true)
        .open(partial)
        .and_then(|f| f.sync_all())
        .map_err(io(partial))?;
    std::fs::rename(partial, target).map_err(io(target))?;
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(std::fs::metadata(target).map_err(io(target))?.len())
}

/// Copies the SQLite store at `store` to `out` (replacing it only with `overwrite`).
pub fn backup(store: &Path, out: &Path, overwrite: bool) -> Result<BackupReport, BackupError> {
    if !store.is_file() {
        return Err(BackupError::NoStore(store.to_owned()));
    }
    if out.exists() && !overwrite {
        return Err(BackupError::Exists(out.to_owned()));
    }
    let sqlite = |context| {
        move |source| BackupError::Sqlite {
            store: store.to_owned(),
            context,
            source,
        }
    };
    let partial = partial_path(out);
    // Created empty first: VACUUM INTO fills an empty file.
    private_new(&partial)?;
    let copied = (|| {
        let conn = Connection::open_with_flags(
            store,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite("opening the store"))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(sqlite("setting a busy timeout"))?;
        super::archive::register_functions(&conn)
            .map_err(sqlite("registering the store's SQL functions"))?;
        let target = partial.to_string_lossy();
        conn.execute("VACUUM INTO ?1", [target.as_ref()])
            .map_err(sqlite("copying a snapshot (VACUUM INTO)"))?;
        let report = check(&partial)?;
        Ok(BackupReport {
            path: out.to_owned(),
            bytes: put_in_place(&partial, out)?,
            ..report
        })
    })();
    if copied.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    copied
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// What the store now holds (the copy's contents).
    pub restored: BackupReport,
    /// Where the store that was replaced now is (None: there was none).
    pub replaced: Option<PathBuf>,
}

/// Puts the copy at `copy` (checked first) in place of the SQLite store at `store`. The copy is
/// written beside the store before the store is touched; the store it replaces is then kept
/// beside it as `STORE.replaced-SECONDS`, with its `-wal` and `-shm` renamed alike, so a restore
/// undoes nothing for good. The daemon must not be running.
pub fn restore(copy: &Path, store: &Path) -> Result<RestoreReport, BackupError> {
    if !copy.is_file() {
        return Err(BackupError::NoStore(copy.to_owned()));
    }
    if let (Ok(a), Ok(b)) = (copy.canonicalize(), store.canonicalize())
        && a == b
    {
        return Err(BackupError::CopyIsStore(copy.to_owned()));
    }
    let report = check(copy)?;
    let partial = partial_path(store);
    let mut out = private_new(&partial)?;
    let copied = std::fs::File::open(copy)
        .and_then(|mut from| std::io::copy(&mut from, &mut out))
        .map_err(io(&partial));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    let replaced = if store.exists() {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let aside = with_suffix(store, &format!(".replaced-{seconds}"));
        std::fs::rename(store, &aside).map_err(io(store))?;
        for part in ["-wal", "-shm"] {
            let from = with_suffix(store, part);
            if from.exists() {
                std::fs::rename(&from, with_suffix(&aside, part)).map_err(io(&from))?;
            }
        }
        Some(aside)
    } else {
        None
    };
    let bytes = put_in_place(&partial, store)?;
    Ok(RestoreReport {
        restored: BackupReport {
            path: store.to_owned(),
            bytes,
            ..report
        },
        replaced,
    })
}

/// Checks the copy at `path` and reads what it holds.
fn check(path: &Path) -> Result<BackupReport, BackupError> {
    let sqlite = |context| {
        move |source| BackupError::Sqlite {
            store: path.to_owned(),
            context,
            source,
        }
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite("opening the copy"))?;
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(sqlite("checking the copy"))?;
    if verdict != "ok" {
        return Err(BackupError::Damaged {
            verdict,
            path: path.to_owned(),
        });
    }
    let count = |sql: &str| -> Result<u64, BackupError> {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(sqlite("counting the copy's rows"))
    };
    let schema = count("SELECT COALESCE(MAX(version), 0) FROM msgaudit_schema_migrations")?;
    let checkpoints = conn
        .prepare("SELECT corp_id, seq FROM we_chat_msg_checkpoint ORDER BY corp_id")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(sqlite("reading the copy's checkpoints"))?;
    Ok(BackupReport {
        path: path.to_owned(),
        bytes: 0,
        schema: u32::try_from(schema).unwrap_or(u32::MAX),
        messages: count("SELECT COUNT(*) FROM we_chat_contact_msg")?,
        dead_letters: count("SELECT COUNT(*) FROM we_chat_msg_dead_letter WHERE status = 0")?,
        hits: count("SELECT COUNT(*) FROM we_chat_contact_sensitive_msg")?,
        behaviour_hits: count("SELECT COUNT(*) FROM we_sensitive_act_hit")?,
        media_jobs: count("SELECT COUNT(*) FROM we_chat_media_job")?,
        checkpoints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partial_copy_lies_beside_the_target() {
        assert_eq!(
            partial_path(Path::new("/b/msgaudit.db")),
            Path::new("/b/msgaudit.db.partial")
        );
        assert_eq!(partial_path(Path::new("x.db")), Path::new("x.db.partial"));
    }

    #[test]
    fn a_restore_from_the_store_itself_or_a_damaged_copy_leaves_the_store_untouched() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = dir.path().join("store.db");
        std::fs::write(&store, b"the store").expect("store");
        let e = restore(&store, &store).expect_err("the store itself");
        assert!(matches!(e, BackupError::CopyIsStore(_)), "{e}");
        assert!(e.to_string().contains("msgaudit backup"), "{e}");
        let damaged = dir.path().join("copy.db");
        std::fs::write(&damaged, b"not a database at all").expect("copy");
        let e = restore(&damaged, &store).expect_err("a damaged copy");
        assert!(matches!(e, BackupError::Sqlite { .. }), "{e}");
        assert_eq!(std::fs::read(&store).expect("store"), b"the store");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        assert_eq!(
            names.len(),
            2,
            "nothing moved aside or left half-written: {names:?}"
        );
    }
}
