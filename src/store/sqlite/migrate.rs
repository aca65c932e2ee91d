//! Schema migrations: the SQL files under `migrations/sqlite/`, compiled in, applied in order, each in
//! its own transaction and recorded in `msgaudit_schema_migrations`. Running them again is a no-op.

use rusqlite::Connection;

use crate::store::StoreError;

/// (version, name, SQL), ascending.
pub(crate) const SQLITE: &[(u32, &str, &str)] = &[
    (
        1,
        "messages",
        include_str!("../../../migrations/sqlite/0001_messages.sql"),
    ),
    (
        2,
        "audit",
        include_str!("../../../migrations/sqlite/0002_audit.sql"),
    ),
    (
        3,
        "alerts",
        include_str!("../../../migrations/sqlite/0003_alerts.sql"),
    ),
    (
        4,
        "time_ordered_keys",
        include_str!("../../../migrations/sqlite/0004_time_ordered_keys.sql"),
    ),
    (
        5,
        "workspace",
        include_str!("../../../migrations/sqlite/0005_workspace.sql"),
    ),
    (
        6,
        "media",
        include_str!("../../../migrations/sqlite/0006_media.sql"),
    ),
    (
        7,
        "archive",
        include_str!("../../../migrations/sqlite/0007_archive.sql"),
    ),
    (
        8,
        "review",
        include_str!("../../../migrations/sqlite/0008_review.sql"),
    ),
    (
        9,
        "pending_alerts",
        include_str!("../../../migrations/sqlite/0009_pending_alerts.sql"),
    ),
    (
        10,
        "audit_round2",
        include_str!("../../../migrations/sqlite/0010_audit_round2.sql"),
    ),
    (
        11,
        "hit_keys",
        include_str!("../../../migrations/sqlite/0011_hit_keys.sql"),
    ),
    (
        12,
        "hit_filters",
        include_str!("../../../migrations/sqlite/0012_hit_filters.sql"),
    ),
    (
        13,
        "hit_counts",
        include_str!("../../../migrations/sqlite/0013_hit_counts.sql"),
    ),
];

/// Applies every migration the database has not seen yet; returns how many ran.
/// The newest migration the SQLite file at `path` records, read without changing it: None when
/// the file does not exist or holds no schema yet.
pub(crate) fn applied_version(path: &std::path::Path) -> Result<Option<u32>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    let sql = |source| StoreError::Sqlite {
        context: "reading the schema version",
        source,
    };
    let has_table: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master
                            WHERE type = 'table' AND name = 'msgaudit_schema_migrations')",
            [],
            |r| r.get(0),
        )
        .map_err(sql)?;
    if !has_table {
        return Ok(None);
    }
    conn.query_row(
        "SELECT MAX(version) FROM msgaudit_schema_migrations",
        [],
        |r| r.get(0),
    )
    .map_err(sql)
}

pub(crate) fn migrate_sqlite(conn: &mut Connection) -> Result<usize, StoreError> {
    let sql = |context, source| StoreError::Sqlite { context, source };
    // Migrations may call the store's SQL functions (the search index's folding).
    super::archive::register_functions(conn)
        .map_err(|e| sql("registering the store's SQL functions", e))?;
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
        // An upgrade can rewrite or index large tables: say what is happening, and how long it
        // took. A new store's migrations run on empty tables, quickly and quietly.
        let upgrading = current > 0;
        let started = std::time::Instant::now();
        if upgrading {
            tracing::info!(
                version,
                name,
                "upgrading the store's schema; on a large store this can take a while"
            );
        }
        let tx = conn.transaction().map_err(failed)?;
        tx.execute_batch(body).map_err(failed)?;
        tx.execute(
            "INSERT INTO msgaudit_schema_migrations (version, name, applied_at)
             VALUES (?1, ?2, CAST(unixepoch('subsec') * 1000 AS INTEGER))",
            rusqlite::params![version, name],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        if upgrading {
            tracing::info!(
                version,
                name,
                seconds = started.elapsed().as_secs_f64(),
                "schema upgraded"
            );
        }
        applied += 1;
    }
    Ok(applied)
}

/// An in-memory database at schema `version`, as an older msgaudit left it (for upgrade tests).
#[cfg(test)]
pub(crate) fn migrated_to(version: u32) -> Connection {
    let conn = Connection::open_in_memory().expect("db");
    super::archive::register_functions(&conn).expect("functions");
    conn.execute_batch(
        "CREATE TABLE msgaudit_schema_migrations (
             version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .expect("table");
    for &(v, name, body) in SQLITE.iter().filter(|m| m.0 <= version) {
        conn.execute_batch(body).expect("old migration");
        conn.execute(
            "INSERT INTO msgaudit_schema_migrations VALUES (?1, ?2, 0)",
            rusqlite::params![v, name],
        )
        .expect("record");
    }
    conn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrading_to_time_ordered_keys_keeps_every_row_and_its_uniqueness() {
        let mut conn = migrated_to(3);
        conn.execute_batch(
            "INSERT INTO we_chat_contact_msg (corp_id, msg_id, seq, action, msg_time, plain_text)
                 VALUES ('ww1', 'a', 1, 'send', 10, 'x'), ('ww1', 'b', 2, 'send', 20, 'y');
             INSERT INTO we_chat_contact_sensitive_msg (corp_id, msg_id, strategy_id, pattern_words,
                 msg_time, send_status) VALUES ('ww1', 'a', 1, 'x', 10, 0);
             INSERT INTO we_sensitive_act_hit (corp_id, msg_id, operator_id, sensitive_act_id,
                 sensitive_act, msg_time) VALUES ('ww1', 'b', 'u', 3, '发送手机号', 20);",
        )
        .expect("rows");
        assert_eq!(
            migrate_sqlite(&mut conn).expect("upgrade"),
            SQLITE.len() - 3
        );
        let count = |t: &str| -> i64 {
            conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
                .expect("count")
        };
        assert_eq!(count("we_chat_contact_msg"), 2);
        assert_eq!(count("we_chat_contact_sensitive_msg"), 1);
        assert_eq!(count("we_sensitive_act_hit"), 1);
        let replay = conn
            .execute(
                "INSERT INTO we_chat_contact_msg (corp_id, msg_id, seq, action, msg_time)
                 VALUES ('ww1', 'a', 1, 'send', 10)
                 ON CONFLICT (corp_id, msg_time, msg_id) DO NOTHING",
                [],
            )
            .expect("replay");
        assert_eq!(replay, 0, "the stored message is still unique");
        let ids: i64 = conn
            .query_row("SELECT MAX(id) FROM we_chat_contact_msg", [], |r| r.get(0))
            .expect("ids");
        assert_eq!(ids, 2, "row ids kept");
    }
}
