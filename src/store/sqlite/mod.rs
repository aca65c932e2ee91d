//! The embedded default store: one SQLite file (bundled SQLite, WAL mode, `synchronous=FULL`).
//!
//! A batch is one transaction: messages (`INSERT … ON CONFLICT DO NOTHING`), dead letters and the
//! checkpoint commit together or not at all, so the checkpoint can never get ahead of the rows.
//! One connection behind a mutex serves the writer and the CLI; WAL lets other processes read while
//! the daemon writes.
//!
//! One file per concern, mirroring `store/clickhouse/`: [`ingest`] (batches, checkpoints, dead
//! letters), [`rules`], [`hits`] (hit rows and their queries), [`outbox`] (robots, posts, settling),
//! [`access`] (accounts, operation log), [`media`] (media jobs and files), [`archive`]
//! (conversations, search), [`backup`] (a consistent copy while the daemon writes); [`filter`] builds `WHERE` clauses and [`rows`] reads rows
//! back into values.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;

use super::StoreError;
pub(crate) use migrate::applied_version;
use migrate::migrate_sqlite;

/// The newest migration this build knows.
pub(crate) const LATEST_SCHEMA: u32 = match migrate::SQLITE.last() {
    Some(m) => m.0,
    None => 0,
};

mod access;
mod archive;
pub mod backup;
mod directory;
mod filter;
mod hit_counts;
mod hits;
mod ingest;
mod media;
pub(crate) mod migrate;
mod outbox;
mod review;
mod rows;
mod rules;

/// The SQLite store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Whether the writer keeps the conversation tables and the search index (always, except
    /// when measuring what they cost: `sqlite://PATH?archive_index=off`, which the bench's
    /// `--no-archive-index` uses; a store written so cannot be browsed or searched in full).
    archive_index: bool,
    /// Conversation member lists already written (see `archive::KnownLists`).
    known_lists: archive::KnownLists,
    /// How many migrations opening the store applied (what `msgaudit migrate` reports).
    migrations_applied: usize,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// Maps a rusqlite error to the store's, saying what was being done.
pub(super) fn sql(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { context, source }
}

/// Runs `query` with `params` and reads every row with `map`; `what` names the query in errors.
pub(super) fn select<T, P: rusqlite::Params>(
    conn: &Connection,
    query: &str,
    params: P,
    what: &'static str,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare(query).map_err(sql(what))?;
    let rows = stmt.query_map(params, map).map_err(sql(what))?;
    rows.collect::<Result<_, _>>().map_err(sql(what))
}

/// A seq or count as SQLite's integer.
pub(super) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Creates a new store file readable by its owner only (0600), in directories made 0700; SQLite
/// gives its `-wal` and `-shm` files the database file's mode. Existing files and directories
/// keep theirs.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl SqliteStore {
    /// Opens (creating if needed, owner-only) the database file and migrates it.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        create_private(path).map_err(|e| StoreError::Open {
            path: path.to_owned(),
            source: rusqlite::Error::InvalidPath(format!("cannot create it: {e}").into()),
        })?;
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        archive::register_functions(&conn).map_err(open_err)?;
        let migrations_applied = migrate_sqlite(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            archive_index: true,
            known_lists: archive::KnownLists::default(),
            migrations_applied,
        })
    }

    /// How many migrations opening this store applied (0 when it was already current).
    pub fn migrations_applied(&self) -> usize {
        self.migrations_applied
    }

    /// The same store, without the conversation tables and search index kept on write (to
    /// measure their cost).
    pub fn without_archive_index(mut self) -> SqliteStore {
        self.archive_index = false;
        self
    }

    pub(super) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A poisoned lock means a panic mid-call; SQLite rolled the transaction back, the
        // connection itself is still sound.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    //! The backend-neutral contract is checked for every backend in `tests/integration/store_contract.rs`.
    use super::*;

    #[test]
    fn a_new_store_and_its_wal_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("data/nested/store.db");
        let store = super::SqliteStore::open(&db).expect("open");
        {
            let conn = store.conn();
            conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
                .expect("write");
        }
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&db), 0o600);
        for suffix in ["-wal", "-shm"] {
            let p = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
            assert_eq!(mode(&p), 0o600, "{suffix}");
        }
        assert_eq!(mode(&dir.path().join("data")), 0o700);
        assert_eq!(mode(&dir.path().join("data/nested")), 0o700);
    }

    #[test]
    fn reopening_runs_no_migration_twice() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        drop(SqliteStore::open(&path).expect("first open"));
        let mut conn = Connection::open(&path).expect("raw open");
        assert_eq!(migrate_sqlite(&mut conn).expect("migrate"), 0);
    }
}
