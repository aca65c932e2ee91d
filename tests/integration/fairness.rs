//! Fairness between corps, through the real daemon: one corp drains a 1,000,000-message backlog
//! while 500 small corps chat live (100 messages a second in all) (the emulator's `live` archives grow in real time). The small
//! corps' messages must reach the store, and their alerts the robot (a real HTTP server on
//! 127.0.0.1), within seconds of being sent, backlog or not. The same run without the per-corp
//! in-flight limit shows what it prevents. `FAIRNESS_LOG` sets the daemon's `RUST_LOG` (e.g.
//! `msgaudit::alert=debug` shows each alert step's timings).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::fake_wecom::FakeWeCom;
use crate::support::{
    add_markdown_robot, emulator_path, env_or, key_path, save_demo_rules, wait_exit,
};

/// Milliseconds between two messages of one small corp (500 corps: 100 messages a second).
const SPACING_MS: u64 = 5_000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What one run measured: latencies (ms) from a small corp's message being sent (`msgtime`, when
/// the emulator starts serving it) to its row in the store, and the backlog stored meanwhile.
struct Run {
    latencies: Vec<i64>,
    /// From a small corp's hit being sent to its alert's post being accepted (ms), when alerts
    /// were on.
    alert_latencies: Vec<i64>,
    backlog_stored: u64,
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn run(dir: &Path, small: usize, seconds: u64, in_flight: u32, robot: Option<&FakeWeCom>) -> Run {
    std::fs::write(dir.join("secret"), "test-secret\n").expect("secret");
    let keys = format!(
        "1 = \"{}\", 2 = \"{}\"",
        key_path(1).display(),
        key_path(2).display()
    );
    let start = now_ms() + 3_000;
    let mut text = format!(
        "[store]\nurl = \"sqlite://store.db\"\n[sdk]\nlibrary = \"{}\"\ntimeout_secs = 5\n\
         [pull]\npoll_interval_secs = 1\nmax_backoff_secs = 1\nmax_batches_in_flight = {in_flight}\n\
         [media]\nenabled = false\n[alerts]\nenabled = {}\n[names]\nenabled = false\n",
        emulator_path().display(),
        robot.is_some()
    );
    let mut corp_ids = Vec::new();
    let big = "wwbacklog?messages=1000000&seed=80&key_pool=256&max_media=4096";
    corp_ids.push(big.to_owned());
    text.push_str(&format!(
        "[[corps]]\ncorp_id = \"{big}\"\nsecret_file = \"secret\"\nkeys = {{ {keys} }}\n"
    ));
    for i in 0..small {
        // One message every SPACING_MS per corp, staggered, from `start` on.
        let corp = format!(
            "wwsmall{i:03}?live=1&start_ms={}&spacing_ms={SPACING_MS}&seed={i}&max_media=4096&messages=100000",
            start + (i as u64 * SPACING_MS / small as u64)
        );
        text.push_str(&format!(
            "[[corps]]\ncorp_id = \"{corp}\"\nsecret_file = \"secret\"\nkeys = {{ {keys} }}\n"
        ));
        corp_ids.push(corp);
    }
    if let Some(server) = robot {
        alert_setup(&dir.join("store.db"), &server.base, &corp_ids);
    }
    let config = dir.join("msgaudit.toml");
    std::fs::write(&config, text).expect("config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .args(["run", "--config"])
        .arg(&config)
        .env(
            "RUST_LOG",
            std::env::var("FAIRNESS_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .spawn()
        .expect("daemon");
    std::thread::sleep(Duration::from_secs(seconds));
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    assert!(wait_exit(&mut child, Duration::from_secs(60)).success());
    let conn = rusqlite::Connection::open(dir.join("store.db")).expect("store");
    // Messages sent after a warm-up of 10 s and at least 8 s before the end (so each had time to
    // arrive if the pipeline is fair).
    let from = start as i64 + 5_000;
    let until = (start + seconds * 1000) as i64 - 3_000 - 8_000;
    let mut stmt = conn
        .prepare(
            "SELECT create_time - msg_time FROM we_chat_contact_msg
             WHERE corp_id LIKE 'wwsmall%' AND msg_time BETWEEN ?1 AND ?2",
        )
        .expect("prepare");
    let mut latencies: Vec<i64> = stmt
        .query_map([from, until], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    // Seqs certainly sent before `until` (msgtime < first + (seq + 1)·spacing) but not stored
    // count as late by the whole run.
    let mut missing = 0i64;
    for i in 0..small as u64 {
        let first = (start + i * SPACING_MS / small as u64) as i64;
        let sent = ((until - first) / SPACING_MS as i64 - 1).max(0);
        let stored: i64 = conn
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM we_chat_contact_msg WHERE corp_id LIKE ?1",
                [format!("wwsmall{i:03}?%")],
                |r| r.get(0),
            )
            .expect("max seq");
        missing += (sent - stored).max(0);
    }
    latencies.extend(std::iter::repeat_n(seconds as i64 * 1000, missing as usize));
    latencies.sort_unstable();
    let alert_latencies = if robot.is_some() {
        alert_latencies(dir, from, until, seconds)
    } else {
        Vec::new()
    };
    let backlog_stored: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM we_chat_contact_msg WHERE corp_id LIKE 'wwbacklog%'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    Run {
        latencies,
        alert_latencies,
        backlog_stored: backlog_stored as u64,
    }
}

/// The demo rules, and each corp's own group robot (as a vendor sets them up: one corp's alerts
/// never go to another's group), each at WeCom's 20 posts a minute.
fn alert_setup(db: &Path, webhook_base: &str, corps: &[String]) {
    let store = msgaudit::store::SqliteStore::open(db).expect("store");
    save_demo_rules(&store);
    for corp in corps {
        add_markdown_robot(&store, webhook_base, corp);
    }
}

/// For every small-corp hit of a message sent in [from, until]: from sent to the robot's post
/// that carried it being accepted (ms); a hit not posted by the end counts as late by the run.
fn alert_latencies(dir: &Path, from: i64, until: i64, seconds: u64) -> Vec<i64> {
    use msgaudit::store::prelude::*;
    let store = msgaudit::store::SqliteStore::open(dir.join("store.db")).expect("store");
    let mut sent_at: std::collections::HashMap<(String, String), i64> = Default::default();
    for post in store
        .posts(&msgaudit::alert::PostQuery {
            limit: 1_000_000,
            ..Default::default()
        })
        .expect("posts")
    {
        if post.send_time_ms == 0 {
            continue;
        }

        for k in post.hits {
            let at = sent_at.entry((k.corp_id, k.msg_id)).or_insert(i64::MAX);
            *at = (*at).min(post.send_time_ms);
        }
    }
    let conn = rusqlite::Connection::open(dir.join("store.db")).expect("store");
    let mut stmt = conn
        .prepare(
            "SELECT DISTINCT h.corp_id, h.msg_id, m.msg_time
             FROM we_chat_contact_sensitive_msg h
             JOIN we_chat_contact_msg m ON m.corp_id = h.corp_id AND m.msg_id = h.msg_id
             WHERE h.corp_id LIKE 'wwsmall%' AND h.send_status != 3
               AND m.msg_time BETWEEN ?1 AND ?2",
        )
        .expect("prepare");
    let hits: Vec<(String, String, i64)> = stmt
        .query_map([from, until], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut out: Vec<i64> = hits
        .into_iter()
        .map(|(corp, msg, time)| {
            sent_at
                .get(&(corp, msg))
                .map_or(seconds as i64 * 1000, |at| at - time)
        })
        .collect();
    out.sort_unstable();
    out
}

#[test]
fn small_corps_stay_fresh_while_one_corp_drains_a_million_message_backlog() {
    let small: usize = env_or("MSGAUDIT_FAIRNESS_CORPS", 500);
    let seconds: u64 = env_or("MSGAUDIT_FAIRNESS_SECS", 45);
    let robot = FakeWeCom::start();
    let fair = run(
        tempfile::tempdir().expect("dir").path(),
        small,
        seconds,
        4,
        Some(&robot),
    );
    let unfair = run(
        tempfile::tempdir().expect("dir").path(),
        small,
        seconds,
        100_000,
        None,
    );
    let show = |name: &str, r: &Run| {
        eprintln!(
            "fairness ({name}): {} small-corp messages, store latency p50 {} ms, p99 {} ms, max {} ms; backlog stored meanwhile {}",
            r.latencies.len(),
            percentile(&r.latencies, 0.5),
            percentile(&r.latencies, 0.99),
            r.latencies.last().copied().unwrap_or(0),
            r.backlog_stored
        );
    };
    show("max_batches_in_flight = 4", &fair);
    show("no in-flight limit", &unfair);
    let a = &fair.alert_latencies;
    eprintln!(
        "fairness (max_batches_in_flight = 4): {} small-corp alerts, sent to posted p50 {} ms, p99 {} ms, max {} ms",
        a.len(),
        percentile(a, 0.5),
        percentile(a, 0.99),
        a.last().copied().unwrap_or(0)
    );
    assert!(
        fair.latencies.len() > small / 2,
        "the small corps chatted: {}",
        fair.latencies.len()
    );
    assert!(
        fair.backlog_stored > 10_000,
        "the backlog was draining meanwhile"
    );
    let p99 = percentile(&fair.latencies, 0.99);
    assert!(
        p99 < 5_000,
        "the small corps' p99 from sent to stored is {p99} ms while a backlog drains"
    );
    assert!(!a.is_empty(), "the small corps' messages had hits");
    let p99 = percentile(a, 0.99);
    assert!(
        p99 < 5_000,
        "the small corps' alert p99 from sent to posted is {p99} ms while a backlog drains"
    );
}
