//! `msgaudit migrate --cluster NAME`: the schema on a sharded cluster. Every table of a migration is
//! created as `NAME_local` on each shard, with a `Distributed` table `NAME` over them, so the store
//! works through any server unchanged. Tables with a `corp_id` are sharded by it (one corp's
//! exactly-once check and its rows stay on one shard); the small rule and org tables all go to the
//! first shard. Seed rows are inserted once, through the `Distributed` tables.
//!
//! With a ZooKeeper/Keeper coordinator (the server has `system.zookeeper`), the DDL runs once with
//! `ON CLUSTER` and the local tables are `Replicated*MergeTree` (paths from the `{shard}` and
//! `{replica}` macros each server must define). Without one, the DDL is applied to each shard's
//! address, given with `--shard`.

use super::Connection;
use super::migrate::{CLICKHOUSE, failed, record, statements, upgrade_stored_rows};
use super::rows::Count;
use crate::store::StoreError;

/// A `CREATE TABLE IF NOT EXISTS name (columns) ENGINE = … ` statement, split up.
#[derive(Debug, PartialEq, Eq)]
struct CreateTable<'a> {
    name: &'a str,
    /// `(columns…)`.
    columns: &'a str,
    /// Engine name, e.g. `ReplacingMergeTree`.
    engine: &'a str,
    /// Engine arguments without parentheses (may be empty).
    engine_args: &'a str,
    /// `PARTITION BY … ORDER BY …`.
    rest: &'a str,
}

fn parse_create(statement: &str) -> Option<CreateTable<'_>> {
    let body = statement.strip_prefix("CREATE TABLE IF NOT EXISTS ")?;
    let (name, after) = body.split_once(char::is_whitespace)?;
    let engine_at = after.find(") ENGINE = ")?;
    let columns = after[..=engine_at].trim();
    let engine_part = &after[engine_at + ") ENGINE = ".len()..];
    let engine_end = engine_part
        .find(|c: char| c == '(' || c.is_whitespace())
        .unwrap_or(engine_part.len());
    let engine = &engine_part[..engine_end];
    let after_engine = &engine_part[engine_end..];
    let (engine_args, rest) = match after_engine.strip_prefix('(') {
        Some(a) => a.split_once(')')?,
        None => ("", after_engine),
    };
    Some(CreateTable {
        name,
        columns,
        engine,
        engine_args,
        rest: rest.trim(),
    })
}

/// A `CREATE MATERIALIZED VIEW IF NOT EXISTS name TO target AS SELECT … FROM source …` statement,
/// split up.
#[derive(Debug, PartialEq, Eq)]
struct CreateView<'a> {
    name: &'a str,
    target: &'a str,
    /// The select up to its table, the table, and the rest.
    select: (&'a str, &'a str, &'a str),
}

fn parse_view(statement: &str) -> Option<CreateView<'_>> {
    let body = statement.strip_prefix("CREATE MATERIALIZED VIEW IF NOT EXISTS ")?;
    let (name, after) = body.split_once(" TO ")?;
    let (target, select) = after.split_once(" AS")?;
    let from = select.find("FROM ")? + "FROM ".len();
    let table_end = select[from..]
        .find(char::is_whitespace)
        .map_or(select.len(), |n| from + n);
    Some(CreateView {
        name: name.trim(),
        target: target.trim(),
        select: (
            &select[..from],
            &select[from..table_end],
            &select[table_end..],
        ),
    })
}

/// A materialized view on each shard: over the shard's local source table, into its local target.
fn local_view_ddl(v: &CreateView<'_>, db: &str, on_cluster: &str) -> String {
    let (head, source, rest) = v.select;
    format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{name}{on_cluster} TO {db}.{target}_local AS\
         {head}{db}.{source}_local{rest}",
        name = v.name,
        target = v.target
    )
}

/// How the cluster's DDL gets to its servers.
pub enum Reach<'a> {
    /// `ON CLUSTER` through the entry server, replicated engines.
    Coordinated,
    /// Each shard's own connection.
    PerShard(&'a [Connection]),
}

/// The local-table DDL for one statement.
fn local_ddl(t: &CreateTable<'_>, db: &str, on_cluster: &str, replicated: bool) -> String {
    let local = format!("{}_local", t.name);
    let engine = if replicated {
        let path = format!("'/clickhouse/tables/{{shard}}/{db}/{local}', '{{replica}}'");
        let args = if t.engine_args.is_empty() {
            path
        } else {
            format!("{path}, {}", t.engine_args)
        };
        format!("Replicated{}({args})", t.engine)
    } else if t.engine_args.is_empty() {
        t.engine.to_owned()
    } else {
        format!("{}({})", t.engine, t.engine_args)
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{local}{on_cluster} {} ENGINE = {engine} {}",
        t.columns, t.rest
    )
}

/// The `Distributed` table over a statement's local tables.
fn distributed_ddl(t: &CreateTable<'_>, db: &str, cluster: &str, on_cluster: &str) -> String {
    let key = if t.columns.contains("corp_id ") {
        "cityHash64(corp_id)"
    } else {
        "toUInt64(0)"
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{name}{on_cluster} AS {db}.{name}_local \
         ENGINE = Distributed({cluster}, {db}, {name}_local, {key})",
        name = t.name
    )
}

/// Whether the entry server has a coordinator.
pub fn has_keeper(entry: &Connection) -> bool {
    entry
        .fetch_one::<Count>(
            "looking for a coordinator",
            "SELECT count() AS value FROM system.zookeeper WHERE path = '/'",
        )
        .is_ok()
}

/// Number of shards the entry server knows for `cluster`.
pub fn shard_count(entry: &Connection, cluster: &str) -> Result<u64, StoreError> {
    let found: Vec<Count> = entry.fetch(
        "reading the cluster definition",
        entry
            .query("SELECT uniqExact(shard_num) AS value FROM system.clusters WHERE cluster = ?")
            .bind(cluster),
    )?;
    Ok(found.first().map_or(0, |c| c.value))
}

/// Applies every migration the entry server has not recorded, cluster-wide; returns how many ran.
pub fn migrate(entry: &Connection, cluster: &str, reach: Reach<'_>) -> Result<usize, StoreError> {
    if !cluster
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(StoreError::Cluster(format!(
            "cluster name `{cluster}` must be letters, digits and _"
        )));
    }
    let shards = shard_count(entry, cluster)?;
    if shards == 0 {
        return Err(StoreError::Cluster(format!(
            "the server at {} has no cluster `{cluster}` in its remote_servers",
            entry.redacted_url()
        )));
    }
    let db = entry.database().to_owned();
    let (servers, on_cluster, replicated): (Vec<&Connection>, String, bool) = match reach {
        Reach::Coordinated => (vec![entry], format!(" ON CLUSTER {cluster}"), true),
        Reach::PerShard(list) => {
            if list.len() as u64 != shards {
                return Err(StoreError::Cluster(format!(
                    "cluster `{cluster}` has {shards} shard(s) but {} --shard address(es) were given; \
                     without a coordinator every shard needs its address",
                    list.len()
                )));
            }
            let mut all: Vec<&Connection> = list.iter().collect();
            if !list
                .iter()
                .any(|c| c.redacted_url() == entry.redacted_url())
            {
                all.push(entry);
            }
            (all, String::new(), false)
        }
    };
    for server in &servers {
        server.execute_on_server(
            "creating the database",
            &format!("CREATE DATABASE IF NOT EXISTS {db}{on_cluster}"),
        )?;
        super::migrate::create_record_table(server)?;
    }
    let current = super::migrate::current_version(entry)?;
    let mut applied = 0;
    for &(version, name, body) in CLICKHOUSE.iter().filter(|m| m.0 > current) {
        let all = statements(body);
        let fail = |i| failed(version, name, i);
        for (i, statement) in all.iter().enumerate() {
            if let Some(t) = parse_create(statement) {
                for server in &servers {
                    server
                        .execute_raw(&local_ddl(&t, &db, &on_cluster, replicated))
                        .map_err(fail(i))?;
                    server
                        .execute_raw(&distributed_ddl(&t, &db, cluster, &on_cluster))
                        .map_err(fail(i))?;
                }
            } else if let Some(v) = parse_view(statement) {
                for server in &servers {
                    server
                        .execute_raw(&local_view_ddl(&v, &db, &on_cluster))
                        .map_err(fail(i))?;
                }
            }
        }
        // Seed rows once, through the Distributed tables.
        for (i, statement) in all.iter().enumerate() {
            if parse_create(statement).is_none() && parse_view(statement).is_none() {
                entry.execute_raw(statement).map_err(fail(i))?;
            }
        }
        upgrade_stored_rows(version, entry, |table| {
            for server in &servers {
                server.execute(
                    "emptying a summary",
                    &format!("TRUNCATE TABLE {db}.{table}_local{on_cluster}"),
                )?;
            }
            Ok(())
        })?;
        for server in &servers {
            record(server, version, name)?;
        }
        applied += 1;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_create_statement_parses_and_rewrites() {
        for &(_, _, body) in CLICKHOUSE {
            for s in statements(body) {
                if let Some(v) = parse_view(&s) {
                    let local = local_view_ddl(&v, "db", "");
                    assert!(
                        local.contains(&format!(" TO db.{}_local AS", v.target))
                            && local.contains("FROM db.we_chat_contact_msg_local WHERE"),
                        "{local}"
                    );
                    continue;
                }
                if !s.starts_with("CREATE") {
                    continue;
                }
                let t = parse_create(&s).unwrap_or_else(|| panic!("unparsed: {s}"));
                assert!(
                    t.columns.starts_with('(') && t.columns.ends_with(')'),
                    "{s}"
                );
                assert!(t.rest.contains("ORDER BY"), "{s}");
                let local = local_ddl(&t, "db", "", false);
                assert!(local.contains(&format!("db.{}_local", t.name)), "{local}");
            }
        }
        let t = parse_create(
            "CREATE TABLE IF NOT EXISTS m (\n corp_id String,\n v UInt64\n) ENGINE = ReplacingMergeTree(v)\nORDER BY corp_id",
        )
        .expect("parse");
        assert_eq!(
            local_ddl(&t, "db", " ON CLUSTER c", true),
            "CREATE TABLE IF NOT EXISTS db.m_local ON CLUSTER c (\n corp_id String,\n v UInt64\n) \
             ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/m_local', '{replica}', v) ORDER BY corp_id"
        );
        assert_eq!(
            distributed_ddl(&t, "db", "c", ""),
            "CREATE TABLE IF NOT EXISTS db.m AS db.m_local ENGINE = Distributed(c, db, m_local, cityHash64(corp_id))"
        );
        let v = parse_view(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS v_mv TO v AS\nSELECT corp_id, count() AS n\nFROM m WHERE x GROUP BY corp_id",
        )
        .expect("parse view");
        assert_eq!(
            local_view_ddl(&v, "db", " ON CLUSTER c"),
            "CREATE MATERIALIZED VIEW IF NOT EXISTS db.v_mv ON CLUSTER c TO db.v_local AS\
             \nSELECT corp_id, count() AS n\nFROM db.m_local WHERE x GROUP BY corp_id"
        );
    }
}
