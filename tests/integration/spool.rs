//! The durable spool around the real daemon:
//! - a store locked for a long while does not stop pulling (the spool takes the archive);
//! - a daemon killed then is restarted, replays the spool and stores everything once without
//!   pulling it again;
//! - a spool at its limit pauses pulling and says how far behind the corp is against WeCom's 5-day
//!   window, then resumes;
//! - a damaged spool stops the daemon with the file and the offset, and skips nothing.
//!
//! The SQLite store is "down" while another connection holds an exclusive transaction on it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{
    checkpoint, corp_id, scrape_metrics, stored_msgids, wait_exit, wait_until,
    write_config_with_metrics,
};

/// Starts the daemon with its log (warnings and up) in `log`.
fn spawn_logged(config: &Path, once: bool, log: &Path) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_msgaudit"));
    cmd.arg("run").arg("--config").arg(config);
    if once {
        cmd.arg("--once");
    }
    cmd.env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("spawn the daemon")
}

/// An unlabelled or corp-labelled metric's value (0 when absent).
fn metric(port: u16, name: &str) -> f64 {
    scrape_metrics(port)
        .lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn kill_hard(child: &mut Child) {
    child.kill().expect("SIGKILL");
    let _ = child.wait();
}

fn sigterm(child: &mut Child) {
    // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    assert!(wait_exit(child, Duration::from_secs(60)).success());
}

/// Holds the SQLite store: every write of the daemon fails until this is dropped.
struct StoreLock {
    _conn: Box<rusqlite::Connection>,
}

impl StoreLock {
    fn take(db: &Path) -> StoreLock {
        let conn = Box::new(rusqlite::Connection::open(db).expect("open"));
        conn.execute_batch("BEGIN EXCLUSIVE")
            .expect("exclusive lock");
        StoreLock { _conn: conn }
    }
}

fn spool_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    files.sort();
    files
}

/// One emulated corp, its daemon config (metrics on a free port) and where everything lands.
struct Scenario {
    dir: tempfile::TempDir,
    port: u16,
    config: PathBuf,
    corp: String,
    db: PathBuf,
    spool: PathBuf,
    log: PathBuf,
}

impl Scenario {
    /// `opts` are the emulator's; `extra` is TOML appended to `[pull]` (its own sections allowed).
    fn new(opts: &str, extra: &str) -> Scenario {
        let dir = tempfile::tempdir().expect("temp dir");
        let (config, port) = write_config_with_metrics(dir.path(), opts, &[1, 2], extra);
        Scenario {
            port,
            config,
            corp: corp_id(opts),
            db: dir.path().join("store.db"),
            spool: dir.path().join("store.spool"),
            log: dir.path().join("daemon.log"),
            dir,
        }
    }

    fn spawn(&self) -> Child {
        spawn_logged(&self.config, false, &self.log)
    }

    fn metric(&self, name: &str) -> f64 {
        metric(self.port, name)
    }

    fn checkpoint(&self) -> u64 {
        checkpoint(&self.db, &self.corp)
    }

    /// The store created and migrated, then held: everything pulled goes to the spool.
    fn store_down_from_the_start(&self) -> StoreLock {
        drop(msgaudit::store::SqliteStore::open(&self.db).expect("store"));
        StoreLock::take(&self.db)
    }

    /// `msgaudit ARGS --config CONFIG`.
    fn msgaudit(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_msgaudit"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .output()
            .expect("msgaudit")
    }
}

#[test]
fn a_locked_store_leaves_pulling_running_and_a_restart_replays_the_spool_without_pulling_again() {
    let s = Scenario::new(
        "messages=5000&seed=31&delay_ms=20&missing_key_every=211",
        "batch_limit = 250",
    );
    let mut child = s.spawn();
    wait_until("some batches stored", Duration::from_secs(60), || {
        s.checkpoint() >= 500
    });
    let lock = StoreLock::take(&s.db);
    wait_until(
        "the whole archive pulled into the spool while the store is locked",
        Duration::from_secs(60),
        || s.metric("msgaudit_corp_pulled_seq{") >= 5000.0,
    );
    let stored_during = s.metric("msgaudit_corp_stored_seq{");
    let waiting = s.metric("msgaudit_spool_bytes");
    assert!(
        stored_during < 5000.0,
        "the store was locked: {stored_during}"
    );
    assert!(waiting > 0.0, "the spool holds what the store does not");
    // Killed while the store is still down: the spool is all there is of those batches.
    kill_hard(&mut child);
    drop(lock);
    let at_kill = s.checkpoint();
    assert!(at_kill < 5000);
    for f in spool_files(&s.spool) {
        let bytes = std::fs::read(&f).expect("segment");
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("test-secret"),
            "the corp secret in {}",
            f.display()
        );
        for fragment in crate::secrets::key_fragments() {
            assert!(!text.contains(&fragment), "key material in {}", f.display());
        }
    }

    let mut child = s.spawn();
    wait_until(
        "everything stored after the restart",
        Duration::from_secs(60),
        || s.checkpoint() == 5000,
    );
    wait_until("the spool drained", Duration::from_secs(10), || {
        s.metric("msgaudit_spool_bytes") == 0.0
    });
    assert_eq!(
        s.metric("msgaudit_corp_messages_pulled_total{"),
        0.0,
        "the restart took the batches from the spool, not from WeCom"
    );
    assert!(s.metric("msgaudit_spool_replayed_batches_total") >= 1.0);
    sigterm(&mut child);
    let counts = stored_msgids(&s.db);
    let dead: i64 = rusqlite::Connection::open(&s.db)
        .expect("db")
        .query_row("SELECT COUNT(*) FROM we_chat_msg_dead_letter", [], |r| {
            r.get(0)
        })
        .expect("dead letters");
    assert!(counts.values().all(|&n| n == 1), "a message stored twice");
    assert_eq!(
        counts.len() as i64 + dead,
        5000,
        "every seq stored or dead-lettered"
    );
    assert!(dead > 0);
    eprintln!(
        "spool: {at_kill} stored before the lock, {waiting} bytes spooled during it, replayed after a SIGKILL"
    );
}

#[test]
fn a_full_spool_pauses_pulling_says_how_far_behind_and_resumes() {
    let s = Scenario::new(
        "messages=6000&seed=32&delay_ms=10",
        "batch_limit = 100\n[spool]\nmax_mb = 1",
    );
    let mut child = s.spawn();
    wait_until("some batches stored", Duration::from_secs(60), || {
        s.checkpoint() >= 300
    });
    let lock = StoreLock::take(&s.db);
    wait_until("the spool full", Duration::from_secs(60), || {
        s.metric("msgaudit_spool_full") == 1.0
    });
    let pulled = s.metric("msgaudit_corp_pulled_seq{");
    std::thread::sleep(Duration::from_secs(2));
    let later = s.metric("msgaudit_corp_pulled_seq{");
    assert!(
        later - pulled <= 200.0,
        "pulling paused at the limit (a batch or two in the queues): {pulled} → {later}"
    );
    assert!(later < 6000.0, "the limit held pulling back: {later}");
    let limit = s.metric("msgaudit_spool_limit_bytes");
    assert_eq!(limit, 1_048_576.0);
    let waiting = s.metric("msgaudit_spool_bytes");
    assert!(
        waiting >= limit && waiting < limit * 2.0,
        "at the limit, by at most a group of batches: {waiting}"
    );
    drop(lock);
    wait_until("everything stored", Duration::from_secs(90), || {
        s.checkpoint() == 6000
    });
    wait_until("the pause over", Duration::from_secs(10), || {
        s.metric("msgaudit_spool_full") == 0.0
    });
    sigterm(&mut child);
    let text = std::fs::read_to_string(&s.log).expect("log");
    assert!(text.contains("spool full"), "{text}");
    assert!(
        text.contains("retention_left_hours") && text.contains("behind_hours"),
        "the operator is told how far behind the corp is: {text}"
    );
    if let Some(line) = text.lines().find(|l| l.contains("retention_left_hours")) {
        eprintln!("{line}");
    }
    eprintln!("spool at its limit: {waiting} bytes of {limit}, pulled {pulled} → {later} in 2 s");
    let counts = stored_msgids(&s.db);
    assert_eq!(counts.len(), 6000);
    assert!(counts.values().all(|&n| n == 1));
}

#[test]
fn a_damaged_spool_stops_the_daemon_with_the_file_and_offset() {
    let s = Scenario::new(
        "messages=4000&seed=33",
        "batch_limit = 200\n[spool]\nmax_mb = 16",
    );
    let lock = s.store_down_from_the_start();
    let mut child = s.spawn();
    wait_until("the archive spooled", Duration::from_secs(60), || {
        s.metric("msgaudit_corp_pulled_seq{") >= 4000.0
    });
    kill_hard(&mut child);
    drop(lock);
    let files = spool_files(&s.spool);
    assert!(files.len() >= 2, "segments rolled: {files:?}");
    let victim = &files[0];
    let mut bytes = std::fs::read(victim).expect("segment");
    // A byte inside the first record's payload (after the segment and frame headers).
    bytes[16 + 20 + 100] ^= 0x5A;
    std::fs::write(victim, &bytes).expect("damage");

    let out = s.msgaudit(&["run", "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the daemon refuses a damaged spool");
    assert!(
        stderr.contains(&victim.display().to_string()) && stderr.contains("offset 16"),
        "the error names the file and the offset: {stderr}"
    );
    assert_eq!(s.checkpoint(), 0, "nothing was stored past the damage");
    let inspect = s.msgaudit(&["spool"]);
    let said = String::from_utf8_lossy(&inspect.stderr);
    assert!(
        !inspect.status.success() && said.contains("offset 16"),
        "{said}"
    );

    // The operator's way out, as the error says: move the damaged segment and the later ones aside.
    for f in &files {
        std::fs::rename(f, f.with_extension("aside")).expect("move aside");
    }
    let out = s.msgaudit(&["run", "--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.checkpoint(), 4000, "pulled again from WeCom");
}

#[test]
fn msgaudit_spool_reports_what_waits_for_the_store() {
    let s = Scenario::new("messages=1200&seed=34", "batch_limit = 300");
    let lock = s.store_down_from_the_start();
    let mut child = s.spawn();
    wait_until("the archive spooled", Duration::from_secs(60), || {
        s.metric("msgaudit_corp_pulled_seq{") >= 1200.0
    });
    let status = s.msgaudit(&["status"]);
    kill_hard(&mut child);
    drop(lock);
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(said.contains("MiB waiting for the store"), "{said}");
    let out = s.msgaudit(&["spool"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("4 batch(es), 1200 message(s), seqs 1..=1200")
            && said.contains("nothing stored yet, 4 batch(es) waiting"),
        "{said}"
    );
    let json = s.msgaudit(&["spool", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    assert_eq!(v["records"], 4);
    assert_eq!(v["corps"][s.corp.as_str()]["batches_waiting"], 4);
    assert!(s.dir.path().join("store.spool").is_dir());
}
