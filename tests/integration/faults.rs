//! Outages and faults around the real daemon: the SQLite store locked by another process for longer
//! than its busy timeout, the SDK in a storm of transient errors and corrupt payloads beside a corp
//! whose secret is refused (48002), and a webhook that hangs. The daemon keeps going, backs off,
//! reports, and loses nothing.

use std::time::{Duration, Instant};

use msgaudit::store::SqliteStore;
use msgaudit::store::prelude::*;

use crate::alerts::{alerting_hits, deliveries};
use crate::fake_wecom::{Answer, FakeWeCom};
use crate::support::{
    checkpoint, corp_id, emulator_path, key_path, rules_and_robot, scrape_metrics, spawn,
    stored_msgids, wait_exit, wait_until, write_config, write_config_with_metrics,
};

#[test]
fn a_store_locked_past_its_busy_timeout_delays_batches_and_loses_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = "messages=4000&seed=21&delay_ms=150";
    let (config, port) = write_config_with_metrics(dir.path(), opts, &[1, 2], "batch_limit = 200");
    let corp = corp_id(opts);
    let db = dir.path().join("store.db");
    let mut child = spawn(&config, false);
    wait_until("some batches stored", Duration::from_secs(60), || {
        checkpoint(&db, &corp) >= 600
    });
    // Another process takes the database for 7 s, longer than the 5 s busy timeout.
    let mut locker = rusqlite::Connection::open(&db).expect("open");
    let lock = locker.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive);
    let lock = lock.expect("exclusive lock");
    let at_lock = checkpoint_via(&lock, &corp);
    std::thread::sleep(Duration::from_secs(7));
    let during = checkpoint_via(&lock, &corp);
    drop(lock);
    assert_eq!(
        at_lock, during,
        "nothing was stored while the store was locked"
    );
    wait_until(
        "everything stored after the lock",
        Duration::from_secs(60),
        || checkpoint(&db, &corp) == 4000,
    );
    let text = scrape_metrics(port);
    let retries: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("msgaudit_store_retries_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        retries >= 1,
        "the lock was reported as failed attempts:\n{text}"
    );
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
    let counts = stored_msgids(&db);
    assert_eq!(counts.len(), 4000);
    assert!(counts.values().all(|&n| n == 1));
}

fn checkpoint_via(conn: &rusqlite::Connection, corp: &str) -> u64 {
    conn.query_row(
        "SELECT seq FROM we_chat_msg_checkpoint WHERE corp_id = ?1",
        [corp],
        |r| r.get::<_, i64>(0),
    )
    .map_or(0, |s| s as u64)
}

#[test]
fn an_sdk_storm_beside_a_refused_secret_stores_the_good_corp_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("secret"), "storm-secret\n").expect("secret");
    std::fs::write(
        dir.path().join("emulator.json"),
        serde_json::json!({"corps": {"wwrefused": {"secret": "another-secret"}}}).to_string(),
    )
    .expect("emulator config");
    let storm = "wwstorm?messages=3000&seed=5&transient_rate=0.4&corrupt_key_every=13\
                 &corrupt_msg_every=17&bad_json_every=19&control_chars_every=7";
    let keys = format!(
        "keys = {{ 1 = \"{}\", 2 = \"{}\" }}",
        key_path(1).display(),
        key_path(2).display()
    );
    let config = dir.path().join("msgaudit.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://store.db\"\n[sdk]\nlibrary = \"{}\"\ntimeout_secs = 5\n\
             [pull]\nbatch_limit = 500\nmax_backoff_secs = 1\n[media]\nenabled = false\n\
             [[corps]]\ncorp_id = \"{storm}\"\nsecret_file = \"secret\"\n{keys}\n\
             [[corps]]\ncorp_id = \"wwrefused\"\nsecret_file = \"secret\"\n{keys}\n",
            emulator_path().display()
        ),
    )
    .expect("config");
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .args(["run", "--once", "--config"])
        .arg(&config)
        .env("WWEMU_CONFIG", dir.path().join("emulator.json"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the refused corp makes the run fail");
    assert!(
        stderr.contains("wwrefused") && stderr.contains("48002"),
        "{stderr}"
    );
    assert!(
        stderr.contains("transient SDK error"),
        "the storm was reported: {stderr}"
    );
    let store = SqliteStore::open(dir.path().join("store.db")).expect("store");
    let progress = store.corp_progress().expect("progress");
    let storm_corp = progress
        .iter()
        .find(|p| p.corp_id == storm)
        .expect("the storm corp stored");
    assert_eq!(storm_corp.checkpoint, 3000);
    let dead: u64 = storm_corp.pending_dead.iter().map(|(_, n)| n).sum();
    let stored = store.count_messages(Some(storm)).expect("count");
    assert_eq!(
        stored + dead,
        3000,
        "every message stored or kept as a dead letter"
    );
    assert!(dead > 300, "{dead}");
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_hanging_webhook_never_holds_up_ingestion_and_gets_everything_once_later() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FakeWeCom::start();
    server.set_default(Some(Answer::Delay(Duration::from_secs(3))));
    let extra = "[alerts]\ntimeout_secs = 1\nfirst_retry_ms = 200\nmax_retry_secs = 1\n\
                 max_attempts = 1000\npoll_ms = 100\ndrain_secs = 60";
    let opts = "messages=2000&seed=9";
    let config = write_config(dir.path(), opts, &[1, 2], extra);
    let db = dir.path().join("store.db");
    rules_and_robot(&db, &server.base);
    let corp = corp_id(opts);
    let mut child = spawn(&config, false);
    wait_until(
        "the archive stored while the webhook hangs",
        Duration::from_secs(60),
        || checkpoint(&db, &corp) == 2000,
    );
    let store = SqliteStore::open(&db).expect("store");
    assert!(store.alert_backlog().expect("backlog") > 0, "alerts wait");
    assert!(server.accepted("/cgi-bin/webhook").is_empty());
    server.set_default(None);
    wait_until("every alert delivered", Duration::from_secs(60), || {
        store.alert_backlog().expect("backlog") == 0
    });
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
    let carried = deliveries(&store, &server, "/cgi-bin/webhook/send");
    assert_eq!(carried.len(), alerting_hits(&store));
    assert!(carried.values().all(|&n| n == 1));
}
