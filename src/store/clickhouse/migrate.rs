//! ClickHouse schema migrations: the SQL files under `migrations/clickhouse/`, compiled in, applied
//! in order statement by statement and recorded in `msgaudit_schema_migrations`. ClickHouse has no
//! transactional DDL, so every statement is idempotent (`CREATE … IF NOT EXISTS`, seed rows into
//! replacing tables) and a migration interrupted half-way is simply applied again.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::Connection;
use crate::store::StoreError;

/// The migration after whose statements the messages already stored get their folded text (in
/// Rust: the folding is the audit normaliser's).
const ARCHIVE: u32 = 6;

/// The migration after whose statements the conversations of the messages already stored are
/// summarised ([`super::archive::summarise_stored_conversations`]).
const CONVERSATIONS: u32 = 9;

/// What migration `version` does after its statements, before it is recorded (so an interrupted
/// upgrade does it again): the rows already stored brought up to it, through `entry`. `empty`
/// empties a table on every server (each shard's local table on a cluster).
pub(crate) fn upgrade_stored_rows(
    version: u32,
    entry: &Connection,
    empty: impl FnOnce(&str) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    match version {
        ARCHIVE => super::archive::fold_stored_messages(entry),
        CONVERSATIONS => {
            empty("we_chat_conversation")?;
            super::archive::summarise_stored_conversations(entry)
        }
        _ => Ok(()),
    }
}

/// Placeholder in the migrations for [`super::archive::CONVERSATION`], the conversation rule.
const CONVERSATION_PLACEHOLDER: &str = "$CONVERSATION";

/// (version, name, SQL), ascending.
pub(crate) const CLICKHOUSE: &[(u32, &str, &str)] = &[
    (
        1,
        "messages",
        include_str!("../../../migrations/clickhouse/0001_messages.sql"),
    ),
    (
        2,
        "audit",
        include_str!("../../../migrations/clickhouse/0002_audit.sql"),
    ),
    (
        3,
        "alerts",
        include_str!("../../../migrations/clickhouse/0003_alerts.sql"),
    ),
    (
        4,
        "workspace",
        include_str!("../../../migrations/clickhouse/0004_workspace.sql"),
    ),
    (
        5,
        "media",
        include_str!("../../../migrations/clickhouse/0005_media.sql"),
    ),
    (
        6,
        "archive",
        include_str!("../../../migrations/clickhouse/0006_archive.sql"),
    ),
    (
        7,
        "review",
        include_str!("../../../migrations/clickhouse/0007_review.sql"),
    ),
    (
        8,
        "audit_round2",
        include_str!("../../../migrations/clickhouse/0008_audit_round2.sql"),
    ),
    (
        9,
        "conversations",
        include_str!("../../../migrations/clickhouse/0009_conversations.sql"),
    ),
];

/// The statements of one migration file: `--` comment lines dropped, split at `;` ending a line,
/// `$CONVERSATION` replaced by the conversation rule.
pub(crate) fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        let line = line.replace(CONVERSATION_PLACEHOLDER, super::archive::CONVERSATION);
        let trimmed = line.trim_end();
        if let Some(body) = trimmed.strip_suffix(';') {
            current.push_str(body);
            if !current.trim().is_empty() {
                out.push(current.trim().to_owned());
            }
            current.clear();
        } else {
            current.push_str(&line);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

#[derive(Row, Serialize, Deserialize)]
struct Applied {
    version: u32,
    name: String,
    applied_at: u64,
}

/// The error of statement `index` (from 0) of a migration.
pub(crate) fn failed(
    version: u32,
    name: &'static str,
    index: usize,
) -> impl FnOnce(clickhouse::error::Error) -> StoreError {
    move |source| StoreError::ClickHouseMigration {
        version,
        name,
        statement: index + 1,
        source,
    }
}

/// Creates the migrations record table (local to each server).
pub(crate) fn create_record_table(conn: &Connection) -> Result<(), StoreError> {
    conn.execute(
        "creating the migrations table",
        "CREATE TABLE IF NOT EXISTS msgaudit_schema_migrations (
             version UInt32, name String, applied_at UInt64
         ) ENGINE = ReplacingMergeTree(applied_at) ORDER BY version",
    )
}

/// The newest migration the server has recorded; refuses a schema newer than this build knows.
pub(crate) fn current_version(conn: &Connection) -> Result<u32, StoreError> {
    let current: u32 = conn.fetch_one(
        "reading the schema version",
        "SELECT toUInt32(max(version)) FROM msgaudit_schema_migrations",
    )?;
    let known = CLICKHOUSE.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    Ok(current)
}

/// The newest migration the server records for the database, read without changing anything:
/// None when the database or its migrations table does not exist yet.
pub(crate) fn applied_version(conn: &Connection) -> Result<Option<u32>, StoreError> {
    let tables: u64 = conn.fetch_on_server(
        "looking for the migrations table",
        conn.server_query(
            "SELECT count() FROM system.tables \
             WHERE database = ? AND name = 'msgaudit_schema_migrations'",
        )
        .bind(conn.database()),
    )?;
    if tables == 0 {
        return Ok(None);
    }
    let current: u32 = conn.fetch_one(
        "reading the schema version",
        "SELECT toUInt32(max(version)) FROM msgaudit_schema_migrations",
    )?;
    Ok((current > 0).then_some(current))
}

/// Records that a migration ran.
pub(crate) fn record(conn: &Connection, version: u32, name: &str) -> Result<(), StoreError> {
    let row = Applied {
        version,
        name: name.to_owned(),
        applied_at: crate::timefmt::now_ms().max(0) as u64,
    };
    conn.insert(
        "recording a migration",
        "msgaudit_schema_migrations",
        &[row],
    )
}

/// Creates the database if needed and applies every migration it has not seen; returns how many ran.
pub(crate) fn migrate(conn: &Connection) -> Result<usize, StoreError> {
    conn.execute_on_server(
        "creating the database",
        &format!("CREATE DATABASE IF NOT EXISTS {}", conn.database()),
    )?;
    create_record_table(conn)?;
    let current = current_version(conn)?;
    let mut applied = 0;
    for &(version, name, body) in CLICKHOUSE.iter().filter(|m| m.0 > current) {
        for (i, statement) in statements(body).iter().enumerate() {
            conn.execute_raw(statement)
                .map_err(failed(version, name, i))?;
        }
        upgrade_stored_rows(version, conn, |table| {
            conn.execute("emptying a summary", &format!("TRUNCATE TABLE {table}"))
        })?;
        record(conn, version, name)?;
        applied += 1;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_splits_into_create_or_insert_statements() {
        for &(version, _, sql) in CLICKHOUSE {
            let statements = statements(sql);
            assert!(!statements.is_empty(), "migration {version}");
            for s in statements {
                assert!(
                    s.starts_with("CREATE TABLE IF NOT EXISTS")
                        || s.starts_with("CREATE MATERIALIZED VIEW IF NOT EXISTS")
                        || s.starts_with("INSERT INTO"),
                    "migration {version}: {s}"
                );
                assert!(!s.contains('$'), "a placeholder left: {s}");
                assert!(
                    !s.contains('?'),
                    "`?` would be taken for a bind marker: {s}"
                );
            }
        }
    }
}
