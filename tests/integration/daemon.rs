//! The real daemon process: killed mid-drain with SIGKILL and restarted, stopped with SIGTERM.

use std::time::Duration;

use crate::support::{
    archive, checkpoint, corp_id, good_msgids, scrape_metrics, spawn, stored_msgids, wait_exit,
    wait_until, write_config, write_config_with_metrics,
};

#[test]
fn a_daemon_killed_mid_drain_resumes_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = "messages=20000&seed=31&delay_ms=15&missing_key_every=97";
    let config = write_config(dir.path(), opts, &[1, 2], "batch_limit = 250");
    let db = dir.path().join("store.db");
    let corp = corp_id(opts);
    let mut kills = 0;
    for threshold in [2_000, 7_000] {
        let mut child = spawn(&config, true);
        wait_until("progress before the kill", Duration::from_secs(60), || {
            checkpoint(&db, &corp) >= threshold
        });
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let at_kill = checkpoint(&db, &corp);
        assert!(
            at_kill < 20_000,
            "the kill must land mid-drain (checkpoint {at_kill})"
        );
        kills += 1;
    }
    let mut child = spawn(&config, true);
    let status = wait_exit(&mut child, Duration::from_secs(120));
    assert!(status.success(), "the final run exits cleanly: {status}");
    assert_eq!(kills, 2);
    let want = good_msgids(&archive(opts));
    assert_eq!(
        stored_msgids(&db),
        want,
        "every msgid exactly once after two SIGKILLs"
    );
    assert_eq!(checkpoint(&db, &corp), 20_000);
    let conn = rusqlite::Connection::open(&db).expect("open");
    let dead: i64 = conn
        .query_row("SELECT COUNT(*) FROM we_chat_msg_dead_letter", [], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!(
        dead, 206,
        "every missing-key message kept once as a dead letter"
    );
}

#[test]
fn sigterm_stops_the_daemon_gracefully_with_the_checkpoint_at_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = "messages=20000&seed=32&delay_ms=20";
    let config = write_config(dir.path(), opts, &[1, 2], "batch_limit = 200");
    let db = dir.path().join("store.db");
    let corp = corp_id(opts);
    let mut child = spawn(&config, false);
    wait_until("progress", Duration::from_secs(60), || {
        checkpoint(&db, &corp) >= 1_000
    });
    // SAFETY: sending a signal to our own child process, whose pid we hold.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.success(), "graceful exit: {status}");
    let cp = checkpoint(&db, &corp);
    let (max_seq, count) = crate::support::max_seq_and_count(&db);
    assert!(cp < 20_000, "stopped mid-drain");
    assert_eq!(
        (max_seq, count),
        (cp, cp),
        "the checkpoint is exactly what is stored"
    );
}

#[test]
fn metrics_and_status_show_each_corps_progress_while_the_daemon_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = "messages=3000&seed=8&bad_json_every=50&delay_ms=20";
    let (config, port) = write_config_with_metrics(dir.path(), opts, &[1, 2], "batch_limit = 200");
    let corp = corp_id(opts);
    let mut child = spawn(&config, false);
    let scrape = || scrape_metrics(port);
    let stored = format!("msgaudit_corp_stored_seq{{corp=\"{corp}\"}} 3000");
    // Drained: the last pull came back short (the one after the last full batch).
    let drained = format!("msgaudit_corp_catching_up{{corp=\"{corp}\"}} 0");
    wait_until(
        "the corp fully stored and drained, seen in /metrics",
        Duration::from_secs(60),
        || {
            let text = scrape();
            text.contains(&stored) && text.contains(&drained)
        },
    );
    let text = scrape();
    for line in [
        format!("msgaudit_corp_pulled_seq{{corp=\"{corp}\"}} 3000"),
        format!("msgaudit_corp_lag_messages{{corp=\"{corp}\"}} 0"),
        format!("msgaudit_corp_catching_up{{corp=\"{corp}\"}} 0"),
        format!("msgaudit_corp_dead_letters_total{{corp=\"{corp}\",reason=\"broken_json\"}} 60"),
        "msgaudit_alert_backlog 0".to_owned(),
    ] {
        assert!(text.contains(&line), "{line} missing:\n{text}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .args(["status", "--config"])
        .arg(&config)
        .output()
        .expect("status");
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{status}");
    for part in [
        "daemon: running",
        &format!("corp {corp}"),
        "stored up to seq    3000",
        "pulled up to seq    3000 (0 in flight)",
        "state               caught up (the last pull",
        "lag                 none",
        "60 broken_json",
        "alerts waiting       0",
    ] {
        assert!(status.contains(part), "{part} missing:\n{status}");
    }
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
}
