//! The alert sender against a local server playing WeCom: delivery within seconds, bursts coalesced
//! into digests within the rate, an outage then recovery delivering everything exactly once, WeCom's
//! error answers, token refresh, and the real daemon killed with alerts pending.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use msgaudit::alert::PostQuery;
use msgaudit::alert::{AlertPost, HitKey, PostStatus, Robot};
use msgaudit::alert::{AlertSettings, AppCredentials, Sender};
use msgaudit::runtime::{Shutdown, Stats};
use msgaudit::secret::Secret;
use msgaudit::store::prelude::*;
use msgaudit::store::{HitRow, SqliteStore};

use crate::fake_wecom::{Answer, FakeWeCom};
use crate::support::{clickhouse_url, spawn, wait_exit, wait_until, write_config};

const WEBHOOK: &str = "/cgi-bin/webhook/send";

fn hit(msg: &str, strategy: i64, from: &str) -> HitRow {
    HitRow {
        corp_id: "ww1".into(),
        msg_id: msg.into(),
        strategy_id: strategy,
        strategy_name: format!("策略{strategy}"),
        words: vec!["私下转账".into()],
        spans: vec![(6, 18)],
        content: format!("{from}：可以【私下转账】吗"),
        from_id: from.into(),
        to_list: "customer1".into(),
        room_id: String::new(),
        msg_time: msgaudit::timefmt::now_ms(),
        direction: "sent".into(),
        audit_user_id: "wangwu".into(),
        send_status: 0,
        rules_version: 1,
    }
}

fn settings(server: &FakeWeCom) -> AlertSettings {
    AlertSettings {
        first_retry: Duration::from_millis(200),
        max_retry: Duration::from_millis(800),
        max_attempts: 200,
        timeout: Duration::from_millis(700),
        poll: Duration::from_millis(100),
        api_base: server.base.clone(),
        ..AlertSettings::default()
    }
}

fn sqlite(dir: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(dir.join("store.db")).expect("store"))
}

fn add_robot(store: &dyn Store, server: &FakeWeCom) -> i64 {
    store
        .add_robot(&Robot {
            id: 0,
            group_name: "合规群".into(),
            web_hook_url: format!("{}{WEBHOOK}?key=ROBOT-KEY", server.base),
            corp_id: String::new(),
            strategy_ids: Vec::new(),
            msg_type: "markdown".into(),
        })
        .expect("robot")
}

/// A sender running on its own thread, as in the daemon.
struct Running {
    stop: Shutdown,
    stats: Arc<Stats>,
    thread: std::thread::JoinHandle<Sender>,
}

fn start(store: Arc<dyn Store>, settings: AlertSettings) -> Running {
    let mut sender = Sender::new(store, settings).expect("sender");
    let (stop, stats) = (Shutdown::new(), Arc::new(Stats::default()));
    let (s, st) = (stop.clone(), stats.clone());
    let thread = std::thread::spawn(move || {
        sender.run(&s, Some(st));
        sender
    });
    Running {
        stop,
        stats,
        thread,
    }
}

impl Running {
    /// Stores hits as the pipeline would, and tells the sender.
    fn store_hits(&self, store: &dyn Store, hits: &[HitRow]) {
        store.store_hits(hits, &[]).expect("hits stored");
        Stats::add(&self.stats.hits, hits.len() as u64);
    }

    fn stop(self) -> Sender {
        self.stop.request();
        self.thread.join().expect("sender thread")
    }
}

/// The post id an accepted request carried (its alert number).
pub fn post_id(body: &str) -> i64 {
    let at = body.find("告警编号：#").expect("alert number in the post") + "告警编号：#".len();
    i64::from_str_radix(&body[at..at + 16], 16).expect("hex number")
}

/// How many accepted posts carried each hit, from the server's side.
pub fn deliveries(store: &dyn Store, server: &FakeWeCom, path: &str) -> HashMap<HitKey, u32> {
    let posts: HashMap<i64, AlertPost> = store
        .posts(&PostQuery {
            limit: 100_000,
            ..PostQuery::default()
        })
        .expect("posts")
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut out = HashMap::new();
    for r in server.accepted(path) {
        let post = &posts[&post_id(&r.body)];
        for k in &post.hits {
            *out.entry(k.clone()).or_insert(0) += 1;
        }
    }
    out
}

/// How many stored hits want an alert (every `send_status` but 3).
pub fn alerting_hits(store: &dyn Store) -> usize {
    store
        .hits(&msgaudit::store::HitQuery {
            limit: 100_000,
            ..Default::default()
        })
        .expect("hits")
        .into_iter()
        .filter(|h| h.hit.send_status != 3)
        .count()
}

fn backlog(store: &dyn Store) -> u64 {
    store.alert_backlog().expect("backlog")
}

#[test]
fn an_alert_arrives_within_seconds_of_its_hit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FakeWeCom::start();
    let store = sqlite(dir.path());
    add_robot(store.as_ref(), &server);
    let running = start(store.clone(), settings(&server));
    for i in 0..3 {
        let h = hit(&format!("m{i}"), 1, "zhangsan");
        let stored_at = msgaudit::timefmt::now_ms();
        running.store_hits(store.as_ref(), std::slice::from_ref(&h));
        wait_until("the alert", Duration::from_secs(5), || {
            server.accepted(WEBHOOK).len() > i
        });
        let got = &server.accepted(WEBHOOK)[i];
        assert!(
            got.at_ms - stored_at < 5_000,
            "{} ms",
            got.at_ms - stored_at
        );
        let body: serde_json::Value = serde_json::from_str(&got.body).expect("json");
        assert_eq!(body["msgtype"], "markdown");
        let text = body["markdown"]["content"].as_str().expect("content");
        for part in [
            "敏感词告警",
            "策略1",
            "私下转账",
            "zhangsan",
            "customer1",
            "<@wangwu>",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        assert!(
            !got.path.contains("ROBOT-KEY") || got.path.ends_with("key=ROBOT-KEY"),
            "the key travels only in the webhook URL"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_until("settled", Duration::from_secs(5), || {
        backlog(store.as_ref()) == 0
    });
    let report = running.stop().report;
    assert_eq!((report.posts_sent, report.hits_sent), (3, 3));
    let sent = store
        .hits(&msgaudit::store::HitQuery {
            send_status: Some(1),
            limit: 10,
            ..Default::default()
        })
        .expect("hits");
    assert_eq!(sent.len(), 3, "every hit marked sent");
}

/// Hits no robot wants stay pending, but a page's worth of them (the sender reads 5,000 a step) no
/// longer keeps a routable alert of the same corp from going: their route is left out of the
/// page. A robot added for them later takes them.
#[test]
fn a_page_of_alerts_with_nowhere_to_go_does_not_hold_back_one_that_can_go() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FakeWeCom::start();
    let store = sqlite(dir.path());
    let robot = |strategy: i64| Robot {
        id: 0,
        group_name: format!("策略{strategy}群"),
        web_hook_url: format!("{}{WEBHOOK}?key=ROBOT-{strategy}", server.base),
        corp_id: "ww1".into(),
        strategy_ids: vec![strategy],
        msg_type: "markdown".into(),
    };
    store.add_robot(&robot(1)).expect("robot");
    let old_time = msgaudit::timefmt::now_ms() - 3_600_000;
    let unwanted: Vec<HitRow> = (0..5_001)
        .map(|i| HitRow {
            msg_time: old_time + i,
            ..hit(&format!("old{i:05}"), 4, "zhangsan")
        })
        .collect();
    store.store_hits(&unwanted, &[]).expect("old hits");
    let running = start(store.clone(), settings(&server));
    std::thread::sleep(Duration::from_millis(500));
    let stored_at = msgaudit::timefmt::now_ms();
    running.store_hits(store.as_ref(), &[hit("fresh", 1, "lisi")]);
    wait_until("the routable alert", Duration::from_secs(5), || {
        !server.accepted(WEBHOOK).is_empty()
    });
    let first = &server.accepted(WEBHOOK)[0];
    assert!(first.path.ends_with("key=ROBOT-1"), "{}", first.path);
    assert!(first.body.contains("lisi"), "{}", first.body);
    assert!(first.at_ms - stored_at < 5_000);
    wait_until("the routable alert settled", Duration::from_secs(5), || {
        backlog(store.as_ref()) == 5_001
    });

    // A robot for the unwanted strategy: its route is read again and its hits go.
    store.add_robot(&robot(4)).expect("second robot");
    wait_until("the waiting alerts", Duration::from_secs(5), || {
        server
            .accepted(WEBHOOK)
            .iter()
            .any(|r| r.path.ends_with("key=ROBOT-4"))
    });
    let report = running.stop().report;
    assert_eq!(
        report.unroutable, 0,
        "no route is left without a destination"
    );
}

#[test]
fn a_burst_is_coalesced_into_digests_within_the_rate_and_every_hit_is_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FakeWeCom::start();
    let store = sqlite(dir.path());
    add_robot(store.as_ref(), &server);
    let started = Instant::now();
    let running = start(store.clone(), settings(&server));
    let hits: Vec<HitRow> = (0..1000)
        .map(|i| {
            hit(
                &format!("b{i:04}"),
                1 + i % 2,
                &format!("sales{:03}", i % 100),
            )
        })
        .collect();
    running.store_hits(store.as_ref(), &hits);
    wait_until("every hit settled", Duration::from_secs(45), || {
        backlog(store.as_ref()) == 0
    });
    let elapsed = started.elapsed();
    let report = running.stop().report;
    let posts = server.accepted(WEBHOOK);
    assert!(
        posts.len() <= 20 && elapsed < Duration::from_secs(60),
        "{} posts in {elapsed:?}",
        posts.len()
    );
    assert!(posts.len() >= 2, "200 groups need more than one digest");
    let mut counted = 0;
    for p in &posts {
        let body: serde_json::Value = serde_json::from_str(&p.body).expect("json");
        let text = body["markdown"]["content"].as_str().expect("content");
        assert!(text.len() <= 4096, "{}", text.len());
        assert!(text.contains("敏感词告警汇总"), "{text}");
        counted += text
            .lines()
            .filter_map(|l| l.strip_prefix("> · "))
            .filter_map(|l| l.split(" · ").nth(2))
            .filter_map(|c| c.trim_end_matches(" 条").parse::<u64>().ok())
            .sum::<u64>();
    }
    assert_eq!(counted, 1000, "the digests' counts add up to the burst");
    let delivered = deliveries(store.as_ref(), &server, WEBHOOK);
    assert_eq!(delivered.len(), 1000);
    assert!(delivered.values().all(|&n| n == 1), "a hit in two digests");
    assert_eq!(report.hits_sent, 1000);
}

#[test]
fn a_lower_configured_rate_holds_and_what_waits_stays_in_the_outbox() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FakeWeCom::start();
    let store = sqlite(dir.path());
    add_robot(store.as_ref(), &server);
    let running = start(
        store.clone(),
        AlertSettings {
            max_posts_per_minute: 2,
            ..settings(&server)
        },
    );
    let hits: Vec<HitRow> = (0..1000)
        .map(|i| {
            hit(
                &format!("c{i:04}"),
                1 + i % 2,
                &format!("rep{:03}", i % 150),
            )
        })
        .collect();
    running.store_hits(store.as_ref(), &hits);
    std::thread::sleep(Duration::from_secs(4));
    let report = running.stop().report;
    let posts = server.accepted(WEBHOOK);
    assert_eq!(
        posts.len(),
        1,
        "2 a minute: one digest, the next 30 s later"
    );
    let carried = deliveries(store.as_ref(), &server, WEBHOOK).len() as u64;
    assert!(carried < 1000, "300 groups do not fit one digest");
    assert_eq!(
        backlog(store.as_ref()),
        1000 - carried,
        "the rest wait in the outbox"
    );
    assert_eq!(report.waiting, 1000 - carried);
}

/// The webhook down for a while, with hits arriving meanwhile; then back.
fn outage_then_recovery(store: Arc<dyn Store>) {
    let server = FakeWeCom::start();
    add_robot(store.as_ref(), &server);
    server.set_default(Some(Answer::Status(503)));
    let running = start(store.clone(), settings(&server));
    let first: Vec<HitRow> = (0..10)
        .map(|i| hit(&format!("o{i}"), 1, "zhangsan"))
        .collect();
    running.store_hits(store.as_ref(), &first);
    wait_until("failed attempts", Duration::from_secs(10), || {
        server.received().len() >= 3
    });
    let more: Vec<HitRow> = (10..15).map(|i| hit(&format!("o{i}"), 2, "lisi")).collect();
    running.store_hits(store.as_ref(), &more);
    std::thread::sleep(Duration::from_millis(800));
    // Errors WeCom gives on the way back up: rate limit, a 502, a timeout; then it accepts.
    server.script([
        Answer::ErrCode(45009),
        Answer::Status(502),
        Answer::Delay(Duration::from_millis(1200)),
    ]);
    server.set_default(None);
    wait_until("everything delivered", Duration::from_secs(30), || {
        backlog(store.as_ref()) == 0
    });
    let report = running.stop().report;
    let delivered = deliveries(store.as_ref(), &server, WEBHOOK);
    assert_eq!(delivered.len(), 15, "{delivered:?}");
    assert!(delivered.values().all(|&n| n == 1), "{delivered:?}");
    assert!(report.retries >= 5, "{report:?}");
    let posts = store
        .posts(&PostQuery {
            limit: 100,
            ..PostQuery::default()
        })
        .expect("posts");
    assert!(
        posts.iter().all(|p| p.status == PostStatus::Sent),
        "{posts:?}"
    );
    assert_eq!(
        posts.len(),
        server.accepted(WEBHOOK).len(),
        "one accepted request per post"
    );
}

#[test]
fn an_outage_then_recovery_delivers_everything_exactly_once_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    outage_then_recovery(sqlite(dir.path()));
}

#[test]
fn an_outage_then_recovery_delivers_everything_exactly_once_clickhouse() {
    let url = clickhouse_url("alert_outage");
    let store = msgaudit::store::clickhouse::ClickHouseStore::open(&url).expect("clickhouse");
    let store: Arc<dyn Store> = Arc::new(store);
    outage_then_recovery(store.clone());
    msgaudit::store::clickhouse::ClickHouseStore::open(&url)
        .expect("clickhouse")
        .drop_database()
        .expect("drop");
}

#[test]
fn a_refused_post_fails_its_hits_and_they_stay_queryable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FakeWeCom::start();
    let store = sqlite(dir.path());
    add_robot(store.as_ref(), &server);
    server.script([Answer::ErrCode(93000)]); // invalid webhook key: no retry helps
    let running = start(store.clone(), settings(&server));
    running.store_hits(store.as_ref(), &[hit("r1", 1, "zhangsan")]);
    wait_until("settled", Duration::from_secs(10), || {
        backlog(store.as_ref()) == 0
    });
    let report = running.stop().report;
    assert_eq!((report.posts_sent, report.posts_failed), (0, 1));
    let failed = store
        .hits(&msgaudit::store::HitQuery {
            send_status: Some(2),
            limit: 10,
            ..Default::default()
        })
        .expect("hits");
    assert_eq!(failed.len(), 1);
    let post = &store
        .posts(&PostQuery {
            status: Some(PostStatus::Failed),
            limit: 10,
            ..PostQuery::default()
        })
        .expect("posts")[0];
    assert!(post.last_error.contains("93000"), "{}", post.last_error);
    assert!(!post.last_error.contains("ROBOT-KEY"));
}

#[test]
fn application_messages_refresh_an_expired_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FakeWeCom::start();
    let store = sqlite(dir.path());
    let settings = settings(&server);
    let apps = settings.apps.clone();
    server.script([Answer::ErrCode(42001)]); // the first token has expired
    let running = start(store.clone(), settings);
    // The app arrives after the sender started, as a corp added while the daemon runs does.
    apps.set(
        [(
            "ww1".to_owned(),
            AppCredentials {
                agent_id: 1000002,
                secret: Secret::new("APP-SECRET"),
            },
        )]
        .into(),
    );
    running.store_hits(store.as_ref(), &[hit("a1", 1, "zhangsan")]);
    wait_until("settled", Duration::from_secs(10), || {
        backlog(store.as_ref()) == 0
    });
    running.stop();
    let got = server.received();
    let tokens: Vec<_> = got
        .iter()
        .filter(|r| r.path.starts_with("/cgi-bin/gettoken"))
        .collect();
    assert_eq!(tokens.len(), 2, "fetched, refused, fetched again");
    assert!(tokens[0].path.contains("corpid=ww1&corpsecret=APP-SECRET"));
    let sends: Vec<_> = got
        .iter()
        .filter(|r| r.path.starts_with("/cgi-bin/message/send"))
        .collect();
    assert_eq!(sends.len(), 2);
    assert!(sends[0].path.ends_with("access_token=TOKEN-1"));
    assert!(sends[1].path.ends_with("access_token=TOKEN-2") && sends[1].accepted);
    let body: serde_json::Value = serde_json::from_str(&sends[1].body).expect("json");
    assert_eq!(body["touser"], "wangwu");
    assert_eq!(body["agentid"], 1000002);
    assert!(
        body["text"]["content"]
            .as_str()
            .expect("text")
            .contains("私下转账")
    );
    let post = &store
        .posts(&PostQuery {
            limit: 10,
            ..PostQuery::default()
        })
        .expect("posts")[0];
    assert_eq!(post.destination.key(), "app:ww1:wangwu");
    assert_eq!(post.status, PostStatus::Sent);
}

#[test]
fn a_daemon_killed_with_alerts_pending_resumes_them_without_duplicates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FakeWeCom::start();
    server.set_default(Some(Answer::Status(503)));
    let extra = "[alerts]\nfirst_retry_ms = 200\nmax_retry_secs = 1\nmax_attempts = 1000\n\
                 poll_ms = 100\ntimeout_secs = 2\ndrain_secs = 30";
    let config = write_config(dir.path(), "messages=3000&seed=5", &[1, 2], extra);
    {
        let store = SqliteStore::open(dir.path().join("store.db")).expect("store");
        let rules = std::fs::read_to_string(crate::support::root().join("fixtures/rules.json"))
            .expect("rules");
        store
            .save_rules(&msgaudit::audit::RuleSet::from_json(&rules).expect("rules parse"))
            .expect("rules saved");
        add_robot(&store, &server);
    }
    let store = sqlite(dir.path());
    let mut child = spawn(&config, false);
    wait_until("alert posts failing", Duration::from_secs(60), || {
        server.received().len() >= 4
    });
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let pending = backlog(store.as_ref());
    assert!(pending > 0, "alerts were pending at the kill");
    let open = store
        .posts(&PostQuery {
            status: Some(PostStatus::Pending),
            limit: 100,
            ..PostQuery::default()
        })
        .expect("posts");
    assert!(!open.is_empty(), "a claimed post was in flight at the kill");
    server.set_default(None);
    let mut child = spawn(&config, true);
    let status = wait_exit(&mut child, Duration::from_secs(90));
    assert!(status.success(), "{status}");
    assert_eq!(backlog(store.as_ref()), 0, "every alert settled");
    let alerting = alerting_hits(store.as_ref());
    let delivered = deliveries(store.as_ref(), &server, WEBHOOK);
    assert_eq!(delivered.len(), alerting, "every alert delivered");
    assert!(
        delivered.values().all(|&n| n == 1),
        "an alert delivered twice"
    );
    for p in &open {
        assert_eq!(
            server
                .accepted(WEBHOOK)
                .iter()
                .filter(|r| post_id(&r.body) == p.id)
                .count(),
            1,
            "the post open at the kill went out once, with its number"
        );
    }
}
