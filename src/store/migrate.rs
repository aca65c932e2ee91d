//! Schema migrations: the SQL files under `migrations/sqlite/`, compiled in, applied in order, each in
//! its own transaction and recorded in `msgaudit_schema_migrations`. Running them again is a no-op.

use rusqlite::Connection;

use super::StoreError;

/// (version, name, SQL), ascending.
pub(crate) const SQLITE: &[(u32, &str, &str)] = &[
    (
        1,
        "messages",
        include_str!("../../migrations/sqlite/0001_messages.sql"),
    ),
    (
        2,
        "audit",
        include_str!("../../migrations/sqlite/0002_audit.sql"),
    ),
    (
        3,
        "alerts",
        include_str!("../../migrations/sqlite/0003_alerts.sql"),
    ),
];

/// Applies every migration the database has not seen yet; returns how many ran.
pub(crate) fn migrate_sqlite(conn: &mut Connection) -> Result<usize, StoreError> {
    let sql = |context, source| StoreError::Sqlite { context, source };
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS msgaudit_schema_migrations (
             version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .map_err(|e| sql("creating the migrations table", e))?;
    let current: u32 = conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM msgaudit_schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(|e| sql("reading the schema version", e))?;
    let known = SQLITE.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    let mut applied = 0;
    for &(version, name, body) in SQLITE.iter().filter(|m| m.0 > current) {
        let failed = |source| StoreError::Migration {
            version,
            name,
            source,
        };
        let tx = conn.transaction().map_err(failed)?;
        tx.execute_batch(body).map_err(failed)?;
        tx.execute(
            "INSERT INTO msgaudit_schema_migrations (version, name, applied_at)
             VALUES (?1, ?2, CAST(unixepoch('subsec') * 1000 AS INTEGER))",
            rusqlite::params![version, name],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        applied += 1;
    }
    Ok(applied)
}
