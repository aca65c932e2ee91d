//! The ClickHouse backend against a real server (Debian's 18.16 in CI).

use msgaudit::store::clickhouse::{ClickHouseUrl, Connection};

use crate::support;

#[derive(clickhouse::Row, serde::Deserialize)]
struct Named {
    name: String,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct Applied {
    version: u32,
    name: String,
}

#[test]
fn migrate_creates_every_table_once_and_is_idempotent() {
    let url = support::clickhouse_url("migrate");
    for expected in ["2 migration(s) applied", "0 migration(s) applied"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_msgaudit"))
            .args(["migrate", "--store", &url])
            .output()
            .expect("run msgaudit migrate");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(expected), "{stdout}");
    }
    let conn = Connection::new(ClickHouseUrl::parse(&url).expect("url")).expect("connection");
    let tables: Vec<String> = conn
        .fetch_all::<Named>(
            "listing tables",
            &format!(
                "SELECT name FROM system.tables WHERE database = '{}' ORDER BY name",
                conn.database()
            ),
        )
        .expect("tables")
        .into_iter()
        .map(|t| t.name)
        .collect();
    for table in [
        "msgaudit_schema_migrations",
        "we_chat_contact_msg",
        "we_chat_msg_checkpoint",
        "we_chat_msg_dead_letter",
        "we_corp_account",
        "we_sensitive",
        "we_sensitive_audit_scope",
        "sys_dept",
        "sys_user",
        "sys_user_dept",
        "we_sensitive_act",
        "we_chat_contact_sensitive_msg",
        "we_sensitive_act_hit",
        "msgaudit_rules_version",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing: {tables:?}"
        );
    }
    let applied = conn
        .fetch_all::<Applied>(
            "reading migrations",
            "SELECT version, name FROM msgaudit_schema_migrations FINAL ORDER BY version",
        )
        .expect("migrations");
    let applied: Vec<(u32, String)> = applied.into_iter().map(|a| (a.version, a.name)).collect();
    assert_eq!(applied, [(1, "messages".into()), (2, "audit".into())]);
    let acts = conn
        .fetch_all::<Named>(
            "reading behaviours",
            "SELECT act_name AS name FROM we_sensitive_act FINAL ORDER BY id",
        )
        .expect("acts");
    assert_eq!(acts.len(), 7);
    assert_eq!(acts[2].name, "发送手机号");
    conn.execute_on_server(
        "dropping the test database",
        &format!("DROP DATABASE IF EXISTS {}", conn.database()),
    )
    .expect("drop");
}

#[test]
fn an_unreachable_server_is_a_clear_error_without_the_password() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .args([
            "migrate",
            "--store",
            "clickhouse://audit:hunter2@127.0.0.1:1/x",
        ])
        .output()
        .expect("run msgaudit migrate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
}
