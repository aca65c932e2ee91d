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
    #[error("the copy at {} failed its check ({verdict}); it was removed: try again", .path.display())]
    Damaged { verdict: String, path: PathBuf },
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
    let mut name = out.file_name().unwrap_or_default().to_owned();
    name.push(".partial");
    out.with_file_name(name)
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
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BackupError::Io { path, source }
    };
    // A copy an earlier, interrupted backup left.
    match std::fs::remove_file(&partial) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io(&partial)(e)),
    }
    // Created empty and private first: VACUUM INTO fills an empty file, and the archive is never
    // readable by others, not even for a moment.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(io(&partial))?;
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
        check(&partial).map_err(|e| match e {
            Checked::Sqlite(context, source) => BackupError::Sqlite {
                store: partial.clone(),
                context,
                source,
            },
            Checked::Damaged(verdict) => BackupError::Damaged {
                verdict,
                path: partial.clone(),
            },
        })
    })();
    let report = match copied {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    // Durable before it takes the name.
    OpenOptions::new()
        .read(true)
        .open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(io(&partial))?;
    std::fs::rename(&partial, out).map_err(io(out))?;
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    let bytes = std::fs::metadata(out).map_err(io(out))?.len();
    Ok(BackupReport {
        path: out.to_owned(),
        bytes,
        ..report
    })
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// What the store now holds (the copy's contents).
    pub restored: BackupReport,
    /// Where the store that was replaced now is (None: there was none).
    pub replaced: Option<PathBuf>,
}

/// Puts the copy at `copy` (checked first) in place of the SQLite store at `store`. The store it
/// replaces is kept beside it as `STORE.replaced-SECONDS`, with its `-wal` and `-shm` renamed
/// alike, so a restore undoes nothing for good. The daemon must not be running.
pub fn restore(copy: &Path, store: &Path) -> Result<RestoreReport, BackupError> {
    if !copy.is_file() {
        return Err(BackupError::NoStore(copy.to_owned()));
    }
    let mut report = check(copy).map_err(|e| match e {
        Checked::Sqlite(context, source) => BackupError::Sqlite {
            store: copy.to_owned(),
            context,
            source,
        },
        Checked::Damaged(verdict) => BackupError::Damaged {
            verdict,
            path: copy.to_owned(),
        },
    })?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BackupError::Io { path, source }
    };
    let with_suffix = |path: &Path, suffix: &str| {
        let mut name = path.file_name().unwrap_or_default().to_owned();
        name.push(suffix);
        path.with_file_name(name)
    };
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
    let partial = partial_path(store);
    let _ = std::fs::remove_file(&partial);
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(io(&partial))?;
    let copied = std::fs::File::open(copy)
        .and_then(|mut from| std::io::copy(&mut from, &mut out))
        .and_then(|_| out.sync_all());
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(io(&partial)(e));
    }
    std::fs::rename(&partial, store).map_err(io(store))?;
    let dir = store
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    report.path = store.to_owned();
    report.bytes = std::fs::metadata(store).map_err(io(store))?.len();
    Ok(RestoreReport {
        restored: report,
        replaced,
    })
}

/// Why a copy did not pass its check.
enum Checked {
    Sqlite(&'static str, rusqlite::Error),
    Damaged(String),
}

/// Checks the copy at `path` and reads what it holds.
fn check(path: &Path) -> Result<BackupReport, Checked> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Checked::Sqlite("opening the copy", e))?;
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| Checked::Sqlite("checking the copy", e))?;
    if verdict != "ok" {
        return Err(Checked::Damaged(verdict));
    }
    let count = |sql: &str| -> Result<u64, Checked> {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(|e| Checked::Sqlite("counting the copy's rows", e))
    };
    let schema = count("SELECT COALESCE(MAX(version), 0) FROM msgaudit_schema_migrations")?;
    let mut stmt = conn
        .prepare("SELECT corp_id, seq FROM we_chat_msg_checkpoint ORDER BY corp_id")
        .map_err(|e| Checked::Sqlite("reading the copy's checkpoints", e))?;
    let checkpoints = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Checked::Sqlite("reading the copy's checkpoints", e))?;
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
}
