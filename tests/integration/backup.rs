//! `msgaudit backup` beside a running daemon: every copy is private, checked, and consistent (its
//! checkpoint covers exactly the messages and dead letters it holds). `msgaudit restore` refuses
//! while the daemon runs, keeps the store it replaces, and after it a run loses nothing and doubles
//! nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::{
    Running, archive, checkpoint, corp_id, good_msgids, spawn, stored_msgids, wait_exit,
    wait_until, write_config,
};

fn backup(config: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .arg("backup")
        .arg("--config")
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("msgaudit backup")
}

/// (checkpoint, messages and dead letters up to it, rows past it) of the copy at `db`.
fn consistency(db: &Path, corp: &str) -> (u64, u64, u64) {
    let conn = rusqlite::Connection::open(db).expect("open the copy");
    let cp: i64 = conn
        .query_row(
            "SELECT seq FROM we_chat_msg_checkpoint WHERE corp_id = ?1",
            [corp],
            |r| r.get(0),
        )
        .expect("a checkpoint");
    let count = |sql: &str| -> i64 { conn.query_row(sql, [cp], |r| r.get(0)).expect("count") };
    let upto = count("SELECT COUNT(*) FROM we_chat_contact_msg WHERE seq <= ?1")
        + count("SELECT COUNT(*) FROM we_chat_msg_dead_letter WHERE seq <= ?1");
    let past = count("SELECT COUNT(*) FROM we_chat_contact_msg WHERE seq > ?1")
        + count("SELECT COUNT(*) FROM we_chat_msg_dead_letter WHERE seq > ?1");
    (cp as u64, upto as u64, past as u64)
}

#[test]
fn backups_beside_a_writing_daemon_are_consistent_and_a_restore_loses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = "messages=8000&seed=43&delay_ms=60&missing_key_every=97&bad_json_every=89";
    let config = write_config(dir.path(), opts, &[1, 2], "batch_limit = 200");
    let db = dir.path().join("store.db");
    let corp = corp_id(opts);

    let restore = |from: &Path| {
        Command::new(env!("CARGO_BIN_EXE_msgaudit"))
            .arg("restore")
            .arg("--config")
            .arg(&config)
            .arg("--from")
            .arg(from)
            .output()
            .expect("msgaudit restore")
    };
    let mut daemon = Running(spawn(&config, true));
    wait_until("a first batch stored", Duration::from_secs(60), || {
        checkpoint(&db, &corp) > 0
    });
    let mut copies = Vec::new();
    for i in 0..3 {
        let out = dir.path().join(format!("copy-{i}.db"));
        let done = backup(&config, &out, &[]);
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        let said = String::from_utf8_lossy(&done.stdout);
        assert!(
            said.contains("checked") && said.contains("every message up to seq"),
            "{said}"
        );
        let mode = std::fs::metadata(&out).expect("copy").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a copy of the archive is private");
        let (cp, upto, past) = consistency(&out, &corp);
        assert!(cp > 0, "copy {i} holds something");
        assert_eq!(
            (upto, past),
            (cp, 0),
            "copy {i}: every seq up to its checkpoint {cp} is a message or a dead letter, none past it"
        );
        if i == 0 {
            // No restore while a daemon runs on the store (it holds the spool's lock).
            assert!(
                daemon.0.try_wait().expect("wait").is_none(),
                "the daemon still drains"
            );
            let refused = restore(&out);
            let said = String::from_utf8_lossy(&refused.stderr);
            assert!(
                !refused.status.success() && said.contains("a daemon is running"),
                "{said}"
            );
        }
        copies.push((out, cp));
    }
    assert!(
        copies[0].1 < 8000,
        "the first copy was taken while the daemon wrote (checkpoint {})",
        copies[0].1
    );
    assert!(
        !dir.path().join("copy-0.db.partial").exists(),
        "no partial copy is left"
    );

    // An existing copy is not replaced without --force.
    let again = backup(&config, &copies[0].0, &[]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // Restore the oldest copy once the daemon stopped, then run again to drain the archive.
    let status = wait_exit(&mut daemon.0, Duration::from_secs(120));
    assert!(status.success(), "{status}");
    let done = restore(&copies[0].0);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let said = String::from_utf8_lossy(&done.stdout);
    assert!(said.contains("restored") && said.contains("kept"), "{said}");
    assert_eq!(checkpoint(&db, &corp), copies[0].1);
    let kept: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("store.db.replaced-"))
        .collect();
    assert!(
        kept.iter()
            .any(|n| !n.ends_with("-wal") && !n.ends_with("-shm")),
        "the replaced store is kept: {kept:?}"
    );
    let mode = std::fs::metadata(&db).expect("store").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the restored store is private");
    let mut again = spawn(&config, true);
    let status = wait_exit(&mut again, Duration::from_secs(120));
    assert!(status.success(), "{status}");
    let want = good_msgids(&archive(opts));
    assert_eq!(
        stored_msgids(&db),
        want,
        "every message once after the restore"
    );
    assert_eq!(consistency(&db, &corp), (8000, 8000, 0));
}

#[test]
fn a_clickhouse_store_is_pointed_at_its_own_tools_and_a_missing_store_is_said() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("copy.db");
    let run = |store: &str| {
        Command::new(env!("CARGO_BIN_EXE_msgaudit"))
            .args(["backup", "--store", store, "--out"])
            .arg(&out)
            .output()
            .expect("msgaudit backup")
    };
    let ch = run("clickhouse://default:pw@127.0.0.1:1/db");
    assert!(!ch.status.success());
    let said = String::from_utf8_lossy(&ch.stderr);
    assert!(said.contains("FREEZE") && !said.contains("pw"), "{said}");
    let restore_ch = Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .args([
            "restore",
            "--store",
            "clickhouse://default:pw@127.0.0.1:1/db",
            "--from",
        ])
        .arg(&out)
        .output()
        .expect("msgaudit restore");
    let said = String::from_utf8_lossy(&restore_ch.stderr);
    assert!(
        !restore_ch.status.success() && said.contains("ATTACH PARTITION") && !said.contains("pw"),
        "{said}"
    );
    let missing = run(&format!(
        "sqlite://{}",
        dir.path().join("none.db").display()
    ));
    assert!(!missing.status.success());
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(said.contains("no store"), "{said}");
    assert!(!out.exists() && !dir.path().join("copy.db.partial").exists());
}
