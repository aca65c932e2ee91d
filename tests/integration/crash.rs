//! The crash harness: the real daemon over the emulator (an archive with dead letters, rules with
//! hits and behaviour hits, alerts to a local fake WeCom robot), killed with SIGKILL at seeded random
//! moments and restarted, then drained. At every kill the checkpoint must cover exactly what is
//! stored, and the spool must be readable (at most a torn tail in its newest segment) and carry on
//! from the checkpoint without a gap; every fifth kill also leaves a torn write, as a power cut
//! would, for the restart to truncate; at the end every message must be stored once, every hit and
//! behaviour hit stored (a re-audit finds nothing new), and every alerting hit carried by exactly
//! one accepted post.
//!
//! `MSGAUDIT_CRASH_SEED`, `MSGAUDIT_CRASH_KILLS` (default 20) and `MSGAUDIT_CRASH_MESSAGES`
//! (default 100,000) give the longer manual forms.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use msgaudit::store::SqliteStore;
use msgaudit::store::prelude::*;

use crate::alerts::{alerting_hits, deliveries, post_id};
use crate::fake_wecom::FakeWeCom;
use crate::support::{archive, corp_id, env_or, rules_and_robot, spawn, wait_exit, write_config};

/// (checkpoint, stored messages, dead letters, largest stored seq) straight from the file.
fn progress(db: &Path, corp: &str) -> (u64, u64, u64, u64) {
    let conn = rusqlite::Connection::open(db).expect("open store");
    let q = |sql: &str| -> i64 {
        conn.query_row(sql, [corp], |r| r.get::<_, Option<i64>>(0))
            .expect(sql)
            .unwrap_or(0)
    };
    (
        q("SELECT MAX(seq) FROM we_chat_msg_checkpoint WHERE corp_id = ?1") as u64,
        q("SELECT COUNT(*) FROM we_chat_contact_msg WHERE corp_id = ?1") as u64,
        q("SELECT COUNT(*) FROM we_chat_msg_dead_letter WHERE corp_id = ?1") as u64,
        q("SELECT MAX(seq) FROM we_chat_contact_msg WHERE corp_id = ?1").max(q(
            "SELECT MAX(seq) FROM we_chat_msg_dead_letter WHERE corp_id = ?1",
        )) as u64,
    )
}

#[test]
fn the_daemon_survives_seeded_sigkills_storing_and_alerting_everything_exactly_once() {
    let seed: u64 = env_or("MSGAUDIT_CRASH_SEED", 20_261_125);
    let kills: u64 = env_or("MSGAUDIT_CRASH_KILLS", 20);
    let messages: u64 = env_or("MSGAUDIT_CRASH_MESSAGES", 100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FakeWeCom::start();
    let opts = format!(
        "messages={messages}&seed={seed}&missing_key_every=997&bad_json_every=1009&key_pool=256"
    );
    // The last run can start with the robot's minute already spent by the killed runs before it
    // (the rate window is rebuilt from the store), so its drain may first wait out a whole window
    // and then the digest spacing: give it two windows and a half.
    let extra = "[alerts]\nfirst_retry_ms = 100\nmax_retry_secs = 1\nmax_attempts = 1000\n\
                 poll_ms = 100\ndrain_secs = 150";
    let config = write_config(dir.path(), &opts, &[1, 2], extra);
    let db = dir.path().join("store.db");
    rules_and_robot(&db, &server.base);
    let corp = corp_id(&opts);
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let spool_dir = dir.path().join("store.spool");
    let (mut torn_tails, mut spooled_at_kill, mut injected) = (0, 0, 0);
    for k in 0..kills {
        let mut child = spawn(&config, false);
        std::thread::sleep(Duration::from_millis(300 + next() % 2_200));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let (checkpoint, stored, dead, max_seq) = progress(&db, &corp);
        assert!(
            max_seq <= checkpoint && stored + dead == checkpoint,
            "kill {k}: checkpoint {checkpoint} but {stored} stored + {dead} dead, largest seq {max_seq}"
        );
        if !spool_dir.exists() {
            // Killed before the daemon got as far as creating its spool: nothing to check yet.
            assert_eq!(checkpoint, 0, "kill {k}: stored without a spool");
            continue;
        }
        let spool = msgaudit::spool::recover::inspect(&spool_dir)
            .unwrap_or_else(|e| panic!("kill {k}: the spool is damaged beyond a torn tail: {e}"));
        spool
            .check_against(&|_| checkpoint, &|_| true)
            .unwrap_or_else(|e| {
                panic!("kill {k}: the spool does not follow on from the store: {e}")
            });
        torn_tails += usize::from(spool.torn.is_some());
        // Every fifth kill also tears the newest segment as a power cut would: half a frame of an
        // unsynced write after the last record. The next start must truncate it and lose nothing.
        if k % 5 == 4
            && let Some(newest) = msgaudit::spool::recover::segment_ids(&spool_dir)
                .expect("spool")
                .last()
        {
            use std::io::Write;
            let path = msgaudit::spool::segment::path(&spool_dir, *newest);
            let garbage: Vec<u8> = (0..700).map(|_| next() as u8).collect();
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("segment");
            f.write_all(&garbage).expect("tear");
            let torn = msgaudit::spool::recover::inspect(&spool_dir).expect("a tear, not damage");
            assert!(torn.torn.is_some(), "kill {k}: the tear is seen as one");
            injected += 1;
        }
        let ahead = spool
            .corps
            .get(&corp)
            .map_or(0, |c| c.checkpoint.saturating_sub(checkpoint));
        spooled_at_kill += usize::from(ahead > 0);
    }
    let mut child = spawn(&config, true);
    assert!(wait_exit(&mut child, Duration::from_secs(600)).success());

    let (checkpoint, stored, dead, _) = progress(&db, &corp);
    assert!(
        msgaudit::spool::recover::segment_ids(&spool_dir)
            .expect("spool")
            .is_empty(),
        "a drained run leaves an empty spool"
    );
    let expected = archive(&opts);
    assert_eq!(checkpoint, expected.len());
    let counts = crate::support::stored_msgids(&db);
    assert!(counts.values().all(|&n| n == 1), "a message stored twice");
    assert_eq!(stored + dead, messages);
    assert_eq!(stored as usize, counts.len());

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .args(["reaudit", "--config"])
        .arg(&config)
        .output()
        .expect("reaudit");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(" 0 new hits, 0 new behaviour hits"),
        "hits were missing after the kills: {said}"
    );

    let store = SqliteStore::open(&db).expect("store");
    assert_eq!(
        store.alert_backlog().expect("backlog"),
        0,
        "every alert settled"
    );
    let alerting = alerting_hits(&store);
    let carried = deliveries(&store, &server, "/cgi-bin/webhook/send");
    assert_eq!(carried.len(), alerting, "every alerting hit went out");
    // Each hit is carried by exactly one post (one alert number). The same post can have been
    // accepted twice only when a kill fell between WeCom's answer and its record: count those.
    let mut accepted_by_post: HashMap<i64, u32> = HashMap::new();
    for r in server.accepted("/cgi-bin/webhook/send") {
        *accepted_by_post.entry(post_id(&r.body)).or_default() += 1;
    }
    let posts = store
        .posts(&msgaudit::alert::PostQuery {
            limit: 100_000,
            ..Default::default()
        })
        .expect("posts");
    let mut posts_per_hit: HashMap<msgaudit::alert::HitKey, u32> = HashMap::new();
    for p in posts
        .iter()
        .filter(|p| accepted_by_post.contains_key(&p.id))
    {
        for k in &p.hits {
            *posts_per_hit.entry(k.clone()).or_default() += 1;
        }
    }
    assert!(
        posts_per_hit.values().all(|&n| n == 1),
        "a hit was claimed by two posts"
    );
    let resent = accepted_by_post.values().filter(|&&n| n > 1).count();
    eprintln!(
        "crash harness (seed {seed}): {kills} kills survived ({spooled_at_kill} with spooled batches \
         ahead of the store, {torn_tails} torn spool tails left by the kills, {injected} tears added and \
         truncated on restart); {messages} messages, {stored} stored, \
         {dead} dead letters, {alerting} alerts in {} posts ({resent} accepted twice in the crash window)",
        accepted_by_post.len()
    );
    assert!(
        resent <= 2,
        "{resent} posts were accepted twice: more than the crash window explains"
    );
}
