//! A vendor's fleet, driven through the real daemon and the emulator: corps added and removed while
//! it runs (through `we_corp_account` and through the config on SIGHUP), and `status` telling an
//! idle corp (caught up, its newest message a year old) from a lagging one.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{emulator_path, env_or, free_port, key_path, spawn, wait_exit, wait_until};

/// A daemon config archiving `corps` (emulator corp ids) and those of `we_corp_account`, with
/// `/metrics` on `port`.
fn fleet_config(dir: &Path, port: u16, corps: &[&str], pull: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("secret"), "test-secret\n").expect("secret");
    let keys = format!(
        "1 = \"{}\", 2 = \"{}\"",
        key_path(1).display(),
        key_path(2).display()
    );
    let mut text = format!(
        "corps_from_store = true\ncorps_reload_secs = 1\n[store]\nurl = \"sqlite://store.db\"\n\
         [sdk]\nlibrary = \"{}\"\ntimeout_secs = 5\n[pull]\npoll_interval_secs = 1\nmax_backoff_secs = 1\n{pull}\n\
         [metrics]\nlisten = \"127.0.0.1:{port}\"\n[media]\nenabled = false\n",
        emulator_path().display()
    );
    for corp in corps {
        text.push_str(&format!(
            "[[corps]]\ncorp_id = \"{corp}\"\nsecret_file = \"secret\"\nkeys = {{ {keys} }}\n"
        ));
    }
    let path = dir.join("msgaudit.toml");
    std::fs::write(&path, text).expect("config");
    path
}

fn msgaudit() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_msgaudit"))
}

/// Runs `msgaudit <args> --config <config>`, which must succeed; returns its stdout.
pub fn msgaudit_ok(args: &[&str], config: &Path) -> String {
    let out = msgaudit()
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("msgaudit");
    assert!(
        out.status.success(),
        "msgaudit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn migrate(config: &Path) {
    msgaudit_ok(&["migrate"], config);
}

/// The daemon's `/corps` figures, by corp id.
fn live_corps(port: u16) -> std::collections::HashMap<String, serde_json::Value> {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return Default::default();
    };
    let _ = write!(s, "GET /corps HTTP/1.1\r\nconnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let Some((_, body)) = text.split_once("\r\n\r\n") else {
        return Default::default();
    };
    let corps: Vec<serde_json::Value> = serde_json::from_str(body).unwrap_or_default();
    corps
        .into_iter()
        .filter_map(|c| Some((c["corp_id"].as_str()?.to_owned(), c)))
        .collect()
}

fn stored_count(db: &Path, corp: &str) -> u64 {
    rusqlite::Connection::open(db)
        .and_then(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM we_chat_contact_msg WHERE corp_id = ?1",
                [corp],
                |r| r.get::<_, i64>(0),
            )
        })
        .map_or(0, |n| n as u64)
}

fn sighup(child: &std::process::Child) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGHUP) };
    assert_eq!(rc, 0);
}

fn stop(mut child: std::process::Child) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
}

#[test]
fn corps_added_and_removed_while_running_start_and_stop_without_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let first = "wwfirst?messages=300&seed=61";
    let config = fleet_config(dir.path(), port, &[first], "");
    migrate(&config);
    let db = dir.path().join("store.db");
    let mut child = msgaudit()
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .env("MSGAUDIT_TEST_ROW_SECRET", "row-secret")
        .spawn()
        .expect("daemon");
    wait_until(
        "the configured corp stored",
        Duration::from_secs(60),
        || stored_count(&db, first) == 300,
    );

    // A row added to we_corp_account: pulled within seconds, the first corp undisturbed.
    let row = "wwrow?messages=400&seed=62";
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute(
        "INSERT INTO we_corp_account (corp_id, chat_secret, finance_private_key) VALUES (?1, ?2, ?3)",
        rusqlite::params![
            row,
            "env:MSGAUDIT_TEST_ROW_SECRET",
            format!("1={},2={}", key_path(1).display(), key_path(2).display())
        ],
    )
    .expect("insert corp row");
    let added = Instant::now();
    wait_until(
        "the added row's corp pulled",
        Duration::from_secs(15),
        || {
            live_corps(port)
                .get(row)
                .is_some_and(|c| c["pulled_seq"].as_u64() > Some(0))
        },
    );
    let to_first_pull = added.elapsed();
    wait_until("the added corp stored", Duration::from_secs(60), || {
        stored_count(&db, row) == 400
    });

    // A corp added to the config, read again on SIGHUP.
    let third = "wwthird?messages=200&seed=63";
    fleet_config(dir.path(), port, &[first, third], "");
    sighup(&child);
    wait_until(
        "the config's new corp stored",
        Duration::from_secs(60),
        || stored_count(&db, third) == 200,
    );

    // The row disabled (del_flag): the corp stops, and is no longer reported.
    conn.execute(
        "UPDATE we_corp_account SET del_flag = 1 WHERE corp_id = ?1",
        [row],
    )
    .expect("disable");
    wait_until(
        "the disabled corp gone from /corps",
        Duration::from_secs(15),
        || {
            let corps = live_corps(port);
            !corps.contains_key(row) && corps.contains_key(first) && corps.contains_key(third)
        },
    );
    // The third corp dropped from the config: gone too on the next SIGHUP.
    fleet_config(dir.path(), port, &[first], "");
    sighup(&child);
    wait_until(
        "the dropped corp gone from /corps",
        Duration::from_secs(15),
        || !live_corps(port).contains_key(third),
    );
    assert_eq!(
        child.try_wait().expect("wait"),
        None,
        "the daemon kept running throughout"
    );
    stop(child);
    for (corp, n) in [(first, 300), (row, 400), (third, 200)] {
        assert_eq!(stored_count(&db, corp), n, "{corp}: every message once");
    }
    eprintln!("fleet: a corp added to we_corp_account was first pulled {to_first_pull:?} later");
}

#[test]
fn status_tells_an_idle_corp_from_one_behind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    // Idle: drained long ago (its newest message is from 2025). Behind: a backlog pulled slowly.
    let idle = "wwidle?messages=150&seed=64";
    let behind = "wwbehind?messages=200000&seed=65&delay_ms=300&key_pool=16";
    let config = fleet_config(dir.path(), port, &[idle, behind], "batch_limit = 100");
    migrate(&config);
    let child = spawn(&config, false);
    wait_until(
        "both corps pulled and stored",
        Duration::from_secs(60),
        || {
            let corps = live_corps(port);
            corps
                .get(idle)
                .is_some_and(|c| c["state"] == "caught_up" && c["stored_seq"] == 150)
                && corps
                    .get(behind)
                    .is_some_and(|c| c["state"] == "behind" && c["stored_seq"].as_u64() > Some(200))
        },
    );
    let status: serde_json::Value =
        serde_json::from_str(&msgaudit_ok(&["status", "--json"], &config)).expect("status JSON");
    let corps = status["corps"].as_array().expect("corps");
    assert_eq!(corps[0]["corp_id"], behind, "worst first: {status:#}");
    assert_eq!(corps[1]["corp_id"], idle);
    let (b, i) = (&corps[0]["live"], &corps[1]["live"]);
    assert_eq!(i["lag_messages"], 0, "an idle corp lags by nothing: {i}");
    assert_eq!(i["near_retention"], false, "{i}");
    assert!(
        i["oldest_unpulled_ms"]
            .as_i64()
            .is_some_and(|ms| ms < 10_000),
        "{i}"
    );
    // Behind by about a year of the emulator's archive (one message per 1.5 s): far more than is
    // left to pull, but the one number the SDK lets us estimate.
    assert!(b["lag_messages"].as_u64().is_some_and(|n| n > 1_000), "{b}");
    assert_eq!(b["near_retention"], true, "{b}");

    let text = msgaudit_ok(&["status"], &config);
    assert!(text.contains("2 corps: 1 behind, 1 caught up"), "{text}");
    let idle_block = &text[text.find(&format!("corp {idle}")).expect("idle block")..];
    assert!(
        idle_block.contains("lag                 none")
            && !idle_block[..400.min(idle_block.len())].contains("retention:"),
        "{text}"
    );
    let only = msgaudit_ok(&["status", "--behind"], &config);
    assert!(
        only.contains(&format!("corp {behind}")) && !only.contains(&format!("corp {idle}")),
        "{only}"
    );
    assert!(only.contains("catch up now or lose messages"), "{only}");
    stop(child);
}

/// The daemon's resident memory, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Messages of each corp of the fleet.
const PER_CORP: u64 = 5;

/// Starts a daemon over `n` small emulated corps sharing two key files; returns the time until
/// every corp had its first pull, and the RSS once all were stored and idle.
fn start_fleet(n: usize) -> (Duration, u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    // Five text messages each, from a corpus: the emulator's own work (generating media for
    // every corp) would otherwise be most of what is measured, and WeCom does that elsewhere.
    let corpus = dir.path().join("corpus.jsonl");
    let lines: Vec<String> = (1..=PER_CORP)
        .map(|seq| {
            serde_json::json!({"seq": seq, "msg": {
                "msgid": format!("fleet_{seq}"), "action": "send", "from": "zhangsan",
                "tolist": ["lisi"], "roomid": "", "msgtime": 1_764_547_200_000u64 + seq * 1000,
                "msgtype": "text", "text": {"content": format!("第 {seq} 条消息")}}})
            .to_string()
        })
        .collect();
    std::fs::write(&corpus, lines.join("\n")).expect("corpus");
    let ids: Vec<String> = (0..n)
        .map(|i| format!("wwfleet{i:05}?corpus={}", corpus.display()))
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let config = fleet_config(dir.path(), port, &refs, "");
    migrate(&config);
    let started = Instant::now();
    let child = spawn(&config, false);
    let mut first_pull = None;
    wait_until("every corp stored", Duration::from_secs(300), || {
        let corps = live_corps(port);
        let pulled = corps
            .values()
            .filter(|c| c["last_pull_ms"].as_i64() > Some(0))
            .count();
        if pulled == n && first_pull.is_none() {
            first_pull = Some(started.elapsed());
        }
        pulled == n && corps.values().all(|c| c["stored_seq"] == PER_CORP)
    });
    // Idle: every corp polled at its interval, nothing in flight.
    std::thread::sleep(Duration::from_secs(6));
    let rss = rss_kib(child.id());
    stop(child);
    (first_pull.unwrap_or_default(), rss)
}

#[test]
fn thousands_of_corps_start_pulling_within_seconds_and_idle_in_little_memory() {
    let n: usize = env_or("MSGAUDIT_FLEET_CORPS", 5_000);
    let (_, one) = start_fleet(1);
    let (to_first_pull, many) = start_fleet(n);
    let per_corp = many.saturating_sub(one) as f64 / (n - 1).max(1) as f64;
    eprintln!(
        "fleet start: {n} corps all pulled {:.2} s after the daemon started; RSS {:.1} MiB (1 corp: {:.1} MiB), {per_corp:.1} KiB per idle corp",
        to_first_pull.as_secs_f64(),
        many as f64 / 1024.0,
        one as f64 / 1024.0
    );
    assert!(
        to_first_pull < Duration::from_secs(10),
        "{n} corps must all be pulling within 10 s, took {to_first_pull:?}"
    );
    assert!(
        per_corp < 256.0,
        "an idle corp costs {per_corp:.1} KiB of RSS"
    );
}
