//! The audit engine end to end: hits stored with their batch, idempotent under reprocessing, the
//! `rules`, `scan`, `hits` and `reaudit` commands, and a rules change picked up by a running daemon.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use msgaudit::audit::RuleSet;
use msgaudit::audit::normalize::normalize;
use msgaudit::pipeline::LiveAudit;
use msgaudit::store::prelude::*;
use msgaudit::store::{HitQuery, SqliteStore};

use crate::support::{corp_id, root, write_config};

fn rules() -> RuleSet {
    RuleSet::from_json(
        &std::fs::read_to_string(root().join("fixtures/rules.json")).expect("rules file"),
    )
    .expect("valid rules")
}

fn msgaudit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_msgaudit"))
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("run msgaudit");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn hits_are_stored_with_their_batch_and_reprocessing_never_doubles_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store.db");
    let opts = "messages=3000&seed=44";
    let store = Arc::new(SqliteStore::open(&db).expect("open"));
    store.save_rules(&rules()).expect("save rules");
    let live = LiveAudit::new(LiveAudit::load(store.as_ref()).expect("load rules"));
    let lib = crate::support::emulator();
    let corp = msgaudit::pipeline::Corp {
        corp_id: corp_id(opts),
        secret: msgaudit::secret::Secret::new("s"),
        keys: Arc::new(crate::support::keys(&[1, 2])),
    };
    let settings = msgaudit::pipeline::PipelineSettings {
        pull: msgaudit::pipeline::PullSettings {
            pull: msgaudit::pipeline::PullConfig {
                batch_limit: 500,
                ..Default::default()
            },
            timeout: Duration::from_secs(5),
            once: true,
        },
        network: Default::default(),
        threads: 0,
        queue_batches: 2,
        max_store_backoff: Duration::from_millis(50),
        spool: None,
    };
    let go = |stats: Arc<msgaudit::runtime::Stats>| {
        msgaudit::pipeline::run(
            msgaudit::pipeline::Parts {
                lib: &lib,
                decryptor: lib.decryptor(),
                rsa: msgaudit::sdk::RsaBackend::OpenSsl,
                store: store.clone(),
                audit: live.clone(),
                stats,
                shutdown: msgaudit::runtime::Shutdown::new(),
                changes: None,
                idle_at_start: false,
                fence: None,
            },
            std::slice::from_ref(&corp),
            &settings,
        )
        .expect("pipeline")
    };
    go(Arc::default());
    let counts = store.hit_counts(None).expect("counts");
    assert_eq!(
        counts.strategies.len(),
        3,
        "every demo strategy hits: {counts:?}"
    );
    // Every behaviour the generated archive's text can show: all but 发送QQ号 (no QQ numbers in it)
    // and 发送二维码 (found in fetched images, not in text).
    assert_eq!(counts.acts.len(), 9, "every behaviour hits: {counts:?}");
    // Every span points at text that normalises to a spelling of one of the hit's words (round 2:
    // runs collapsed, pinyin spellings).
    let hits = store
        .hits(&HitQuery {
            limit: 10_000,
            ..Default::default()
        })
        .expect("hits");
    let conn = rusqlite::Connection::open(&db).expect("open");
    for h in hits.iter().take(300) {
        let text: String = conn
            .query_row(
                "SELECT plain_text FROM we_chat_contact_msg WHERE msg_id = ?1",
                [&h.hit.msg_id],
                |r| r.get(0),
            )
            .expect("message");
        for (a, b) in &h.hit.spans {
            let found = msgaudit::audit::matcher::collapsed(&normalize(&text[*a..*b]).text);
            assert!(
                h.hit
                    .words
                    .iter()
                    .any(|w| msgaudit::audit::matcher::spellings(w, true).contains(&found)),
                "{found} not among {:?}",
                h.hit.words
            );
        }
    }
    // Replay everything: no second row for any (corp, msgid, strategy) or behaviour.
    conn.execute("UPDATE we_chat_msg_checkpoint SET seq = 0", [])
        .expect("rewind");
    let stats = Arc::new(msgaudit::runtime::Stats::default());
    go(stats.clone());
    assert_eq!(store.hit_counts(None).expect("counts"), counts);
    assert_eq!(msgaudit::runtime::Stats::get(&stats.hits), 0);
}

#[test]
fn scan_prints_one_json_line_per_hit_in_the_documented_shape() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("messages.jsonl");
    let lines = [
        r#"{"msgid":"m1","action":"send","from":"zhangsan","tolist":["wmC"],"roomid":"","msgtime":1,"msgtype":"text","text":{"content":"可以私下 轉賬，加 我 微 信"}}"#,
        r#"{"msgid":"m2","action":"send","from":"zhangsan","tolist":["wmC"],"roomid":"","msgtime":2,"msgtype":"text","text":{"content":"用微信支付"}}"#,
        r#"{"msgid":"m3","action":"send","from":"wmC","tolist":["lisi"],"roomid":"","msgtime":3,"msgtype":"text","text":{"content":"私下转账"}}"#,
        r#"{"msgid":"m4","action":"send","from":"zhangsan","tolist":["wmC"],"roomid":"","msgtime":4,"msgtype":"card","card":{"corpname":"x","userid":"y"}}"#,
        "broken",
    ];
    std::fs::write(&input, lines.join("\n")).expect("write");
    let (ok, stdout, stderr) = run(msgaudit()
        .args(["scan", "--rules"])
        .arg(root().join("fixtures/rules.json"))
        .arg(&input));
    assert!(ok, "{stderr}");
    let hits: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let m1 = hits
        .iter()
        .find(|h| h["msgid"] == "m1" && h["kind"] == "word")
        .expect("m1 hit");
    assert_eq!(m1["strategy_id"], 1);
    assert_eq!(
        m1["words"],
        serde_json::json!(["私下转账", "加我微信", "微信"])
    );
    assert_eq!(m1["direction"], "sent");
    let text = "可以私下 轉賬，加 我 微 信";
    let first = &m1["spans"][0];
    let (a, b) = (
        first[0].as_u64().expect("start") as usize,
        first[1].as_u64().expect("end") as usize,
    );
    assert_eq!(&text[a..b], "私下 轉賬");
    assert!(!hits.iter().any(|h| h["msgid"] == "m2"), "allow word");
    let m3 = hits
        .iter()
        .find(|h| h["msgid"] == "m3")
        .expect("received hit");
    assert_eq!(m3["direction"], "received");
    assert!(
        hits.iter()
            .any(|h| h["msgid"] == "m4" && h["kind"] == "act" && h["act"] == "发送名片")
    );
    assert!(stderr.contains("1 unreadable line"), "{stderr}");
    assert_eq!(
        m1["matched"][0], "私下 轉賬",
        "what was typed, for each span"
    );
}

#[test]
fn scan_applies_round_two_sound_alikes_only_where_a_strategy_turns_them_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules_file = dir.path().join("rules.json");
    let mut set = rules();
    set.strategies.truncate(1);
    let base = set.strategies[0].clone();
    set.strategies = vec![
        msgaudit::audit::Strategy {
            id: 1,
            name: "as typed".into(),
            words: vec!["微信".into()],
            allow_words: vec![],
            scope: vec![],
            ..base.clone()
        },
        msgaudit::audit::Strategy {
            id: 2,
            name: "sound-alikes".into(),
            words: vec!["微信".into()],
            allow_words: vec!["微信支付".into()],
            scope: vec![],
            sound_alike: true,
            ..base
        },
    ];
    std::fs::write(&rules_file, set.to_json()).expect("rules");
    let input = dir.path().join("messages.jsonl");
    let line = |id: &str, text: &str| {
        format!(
            r#"{{"msgid":"{id}","action":"send","from":"zhangsan","tolist":["wmC"],"roomid":"","msgtime":1,"msgtype":"text","text":{{"content":"{text}"}}}}"#
        )
    };
    let lines = [
        line("typed", "加我微信"),
        line("heard", "加我威信，或者薇 薇 信"),
        line("pinyin", "加我 Wei Xin"),
        line("allowed", "用威信支付"),
    ];
    std::fs::write(&input, lines.join("\n")).expect("write");
    let (ok, stdout, stderr) = run(msgaudit()
        .args(["scan", "--rules"])
        .arg(&rules_file)
        .arg(&input));
    assert!(ok, "{stderr}");
    let hits: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .filter(|h: &serde_json::Value| h["kind"] == "word")
        .collect();
    let strategies = |id: &str| -> Vec<u64> {
        hits.iter()
            .filter(|h| h["msgid"] == id)
            .filter_map(|h| h["strategy_id"].as_u64())
            .collect()
    };
    assert_eq!(strategies("typed"), [1, 2]);
    assert_eq!(strategies("heard"), [2], "only where sound-alikes are on");
    assert_eq!(strategies("pinyin"), [1, 2]);
    assert_eq!(
        strategies("allowed"),
        [2],
        "the allow word 微信支付 does not allow 威信支付"
    );
    let heard = hits
        .iter()
        .find(|h| h["msgid"] == "heard")
        .expect("heard hit");
    assert_eq!(heard["spans"].as_array().map(Vec::len), Some(2), "{heard}");
}

#[test]
fn rules_commands_round_trip_and_edit_words() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite://{}", dir.path().join("s.db").display());
    let (ok, stdout, stderr) = run(msgaudit()
        .args(["rules", "import"])
        .arg(root().join("fixtures/rules.json"))
        .args(["--store", &store]));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("imported 3 strategies"), "{stdout}");
    let (ok, exported, _) = run(msgaudit().args(["rules", "export", "--store", &store]));
    assert!(ok);
    let mut back = RuleSet::from_json(&exported).expect("export is importable");
    let mut original = rules();
    back.acts.clear();
    original.acts.clear();
    assert_eq!(back, original);
    let (ok, _, stderr) = run(msgaudit().args([
        "rules",
        "add-word",
        "--strategy",
        "2",
        "报销，代开",
        "--store",
        &store,
    ]));
    assert!(ok, "{stderr}");
    let (ok, _, _) = run(msgaudit().args([
        "rules",
        "remove-word",
        "--strategy",
        "2",
        "开票",
        "--store",
        &store,
    ]));
    assert!(ok);
    let s = SqliteStore::open(dir.path().join("s.db")).expect("open");
    let words = &s.load_rules().expect("rules").strategies[1].words;
    assert_eq!(words, &["发票", "报销", "代开"]);
    let (ok, _, stderr) = run(msgaudit().args([
        "rules",
        "add-word",
        "--strategy",
        "99",
        "x",
        "--store",
        &store,
    ]));
    assert!(!ok && stderr.contains("no strategy 99"), "{stderr}");
    let (ok, stdout, _) = run(msgaudit().args(["rules", "list", "--store", &store]));
    assert!(
        ok && stdout.contains("飞单") && stdout.contains("发送身份证号"),
        "{stdout}"
    );
}

#[test]
fn reaudit_finds_hits_for_a_new_strategy_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "messages=1500&seed=45", &[1, 2], "");
    let (ok, _, stderr) = run(msgaudit().args(["run", "--once", "--config"]).arg(&config));
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(msgaudit()
        .args(["rules", "import"])
        .arg(root().join("fixtures/rules.json"))
        .arg("--config")
        .arg(&config));
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(msgaudit().args(["reaudit", "--config"]).arg(&config));
    assert!(ok, "{stderr}");
    let new_hits = |s: &str| -> u64 {
        s.split(", ")
            .find_map(|p| p.strip_suffix(" new hits"))
            .and_then(|n| n.parse().ok())
            .expect("new hits count")
    };
    assert!(new_hits(&stdout) > 50, "{stdout}");
    let (ok, again, _) = run(msgaudit().args(["reaudit", "--config"]).arg(&config));
    assert!(ok);
    assert_eq!(new_hits(&again), 0, "idempotent: {again}");
    let (ok, csv, _) = run(msgaudit()
        .args([
            "hits",
            "--format",
            "csv",
            "--limit",
            "5",
            "--strategy",
            "2",
            "--config",
        ])
        .arg(&config));
    assert!(ok);
    assert!(
        csv.starts_with('\u{FEFF}') && csv.lines().count() == 6,
        "{csv}"
    );
    // Behaviour hits: a table with a header, a CSV with its own header, JSON lines; a link
    // message's hit names its URL.
    let (ok, table, stderr) = run(msgaudit()
        .args(["hits", "--behaviours", "--limit", "5", "--config"])
        .arg(&config));
    assert!(
        ok && table.starts_with("time ") && table.contains("behaviour"),
        "{stderr}"
    );
    let (ok, csv, _) = run(msgaudit()
        .args([
            "hits",
            "--behaviours",
            "--format",
            "csv",
            "--limit",
            "5",
            "--config",
        ])
        .arg(&config));
    assert!(ok);
    assert!(
        csv.starts_with("\u{FEFF}time,corp_id,act_id,act,") && csv.lines().count() == 6,
        "{csv}"
    );
    let (ok, json, _) = run(msgaudit()
        .args([
            "hits",
            "--behaviours",
            "--format",
            "json",
            "--limit",
            "100000",
            "--config",
        ])
        .arg(&config));
    assert!(ok);
    let urls: Vec<serde_json::Value> = json
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["sensitive_act_id"] == 9)
        .collect();
    assert!(!urls.is_empty(), "no 发送网址 hits");
    assert!(
        urls.iter()
            .all(|v| v["detail"].as_str().is_some_and(|d| !d.is_empty())),
        "{urls:?}"
    );
    // With the conversation around each hit; a message without text shows its type.
    let (ok, table, stderr) = run(msgaudit()
        .args(["hits", "--context", "3", "--limit", "40", "--config"])
        .arg(&config));
    assert!(ok && table.contains('▶'), "{stderr}");
    let context: Vec<&str> = table.lines().filter(|l| l.starts_with("    ")).collect();
    assert!(
        context
            .iter()
            .any(|l| l.contains("[图片]") || l.contains("[语音]")),
        "{table}"
    );
    // A strategy id with no hits that the rules do not know is probably a typo: say so.
    let (ok, _, stderr) = run(msgaudit()
        .args(["hits", "--strategy", "99", "--config"])
        .arg(&config));
    assert!(ok && stderr.contains("no strategy 99"), "{stderr}");
    let (_, _, stderr) = run(msgaudit()
        .args(["hits", "--strategy", "2", "--limit", "1", "--config"])
        .arg(&config));
    assert!(!stderr.contains("no strategy"), "{stderr}");

    // Each hit shows where it stands in review: confirm one and list the confirmed ones.
    let store = SqliteStore::open(dir.path().join("store.db")).expect("open");
    let hit = store
        .hits(&HitQuery {
            strategy_id: Some(2),
            limit: 1,
            ..HitQuery::default()
        })
        .expect("hits")
        .remove(0);
    // By receiver: every hit listed went to them, the one above among them.
    let receiver = hit
        .hit
        .to_list
        .split(',')
        .next()
        .unwrap_or_default()
        .to_owned();
    let (ok, listed, stderr) = run(msgaudit()
        .args([
            "hits", "--format", "json", "--limit", "1000", "--to", &receiver,
        ])
        .arg("--config")
        .arg(&config));
    assert!(ok, "{stderr}");
    let listed: Vec<serde_json::Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(
        listed.iter().all(|h| h["to_list"]
            .as_str()
            .is_some_and(|t| t.split(',').any(|r| r == receiver))),
        "{listed:?}"
    );
    assert!(
        listed
            .iter()
            .any(|h| h["msg_id"] == hit.hit.msg_id.as_str()),
        "{listed:?}"
    );
    let key = msgaudit::store::HitKey::of_hit(&hit.hit);
    store
        .record_reviews(&[msgaudit::store::Review {
            key,
            state: msgaudit::store::ReviewState::Confirmed,
            note: "客户确认".into(),
            reviewer: "wangwu".into(),
            time_ms: 1,
        }])
        .expect("review");
    let hits = |format: &str, review: &str| {
        let (ok, out, stderr) = run(msgaudit()
            .args(["hits", "--format", format, "--review", review, "--config"])
            .arg(&config));
        assert!(ok, "{stderr}");
        out
    };
    let csv = hits("csv", "confirmed");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].contains(",alert,review,snippet,"), "{csv}");
    assert!(
        lines[1].contains(",confirmed,") && lines[1].contains(&hit.hit.msg_id),
        "{csv}"
    );
    let json = hits("json", "confirmed");
    let row: serde_json::Value = serde_json::from_str(json.trim()).expect("one JSON line");
    assert_eq!(row["review"], "confirmed", "{json}");
    assert_eq!(row["msg_id"], hit.hit.msg_id.as_str(), "{json}");
    let table = hits("table", "pending");
    assert!(
        table.lines().nth(1).is_some_and(|l| l.contains("待处理")),
        "{table}"
    );
}

#[test]
fn a_running_daemon_picks_up_a_rules_change_within_seconds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("store.db")).expect("open");
    daemon_picks_up_a_rules_change(dir.path(), "sqlite://store.db", &store);
}

#[test]
fn a_running_daemon_on_clickhouse_picks_up_a_rules_change_within_seconds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = crate::support::clickhouse_url("hot_reload");
    let store = msgaudit::store::clickhouse::ClickHouseStore::open(&url).expect("open");
    daemon_picks_up_a_rules_change(dir.path(), &url, &store);
    store.drop_database().expect("drop");
}

/// Starts a daemon on `store_url` (which `store` also opens), waits for progress, changes the rules
/// and times until the first hit of the new version is stored.
fn daemon_picks_up_a_rules_change(dir: &std::path::Path, store_url: &str, store: &dyn Store) {
    let opts = "messages=30000&seed=46&delay_ms=40";
    let config =
        crate::support::write_config_for(dir, store_url, opts, &[1, 2], "batch_limit = 100");
    let mut child = msgaudit()
        .arg("run")
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("spawn");
    let corp = crate::support::corp_id(opts);
    let checkpoint = || store.checkpoint(&corp).ok().flatten().unwrap_or(0);
    let started = Instant::now();
    while checkpoint() < 500 {
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        store
            .hits(&HitQuery {
                limit: 1,
                ..Default::default()
            })
            .expect("hits")
            .is_empty(),
        "no strategies yet"
    );
    let changed_at = Instant::now();
    let version = store.save_rules(&rules()).expect("change the rules");
    let mut first_hit = None;
    while first_hit.is_none() {
        assert!(
            changed_at.elapsed() < Duration::from_secs(15),
            "rules change not picked up"
        );
        first_hit = store
            .hits(&HitQuery {
                limit: 1,
                ..Default::default()
            })
            .expect("hits")
            .pop();
        std::thread::sleep(Duration::from_millis(50));
    }
    let waited = changed_at.elapsed();
    let hit = first_hit.expect("a hit");
    assert_eq!(hit.hit.rules_version, version);
    assert!(
        waited < Duration::from_secs(5) + Duration::from_secs(2),
        "picked up after {waited:?}"
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    assert!(status.success());
}

#[test]
fn scan_text_tries_plain_lines_as_messages_a_member_sends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("lines.txt");
    std::fs::write(
        &input,
        "加 我 wei xin\n\n电话 幺三八 一二三四 五六七八\r\n用微信支付\n",
    )
    .expect("write");
    let scan = |extra: &[&str]| {
        let (ok, stdout, stderr) = run(msgaudit()
            .args(["scan", "--text", "--rules"])
            .arg(root().join("fixtures/rules.json"))
            .args(extra)
            .arg(&input));
        assert!(ok, "{stderr}");
        assert!(stderr.contains("scanned 3 message(s)"), "{stderr}");
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect::<Vec<serde_json::Value>>()
    };
    let hits = scan(&[]);
    let word = hits
        .iter()
        .find(|h| h["msgid"] == "line-1" && h["kind"] == "word")
        .expect("line 1 hit");
    assert_eq!(word["matched"][0], "加 我 wei xin");
    assert_eq!(word["direction"], "sent");
    // The blank line is skipped but counted in the line numbers, as in the file.
    let phone = hits
        .iter()
        .find(|h| h["msgid"] == "line-3" && h["kind"] == "act")
        .expect("a phone number in Chinese numerals");
    assert_eq!(
        (&phone["act"], &phone["operator_id"], &phone["target_id"]),
        (
            &serde_json::json!("发送手机号"),
            &serde_json::json!("zhangsan"),
            &serde_json::json!("wmscan")
        )
    );
    assert!(!hits.iter().any(|h| h["msgid"] == "line-4"), "allow word");
    // Received from a customer: the word hits the other way, and no behaviour is the member's.
    let hits = scan(&["--from", "wmcustomer", "--to", "lisi"]);
    let word = hits
        .iter()
        .find(|h| h["msgid"] == "line-1")
        .expect("line 1 hit");
    assert_eq!(word["direction"], "received");
    assert!(!hits.iter().any(|h| h["kind"] == "act"), "{hits:?}");
    // Without --rules, the store's rules: the same hits.
    let db = format!("sqlite://{}", dir.path().join("store.db").display());
    let (ok, _, stderr) = run(msgaudit()
        .args(["rules", "import"])
        .arg(root().join("fixtures/rules.json"))
        .args(["--store", &db]));
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(msgaudit()
        .args(["scan", "--text", "--store", &db])
        .arg(&input));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("\"matched\":[\"加 我 wei xin\""),
        "{stdout}"
    );
    // No rules file and no store: says how to give either.
    let (ok, _, stderr) = run(msgaudit()
        .args(["scan", "--text", "--store"])
        .arg(format!("sqlite://{}", dir.path().join("none.db").display()))
        .arg(&input));
    assert!(!ok && stderr.contains("--rules FILE"), "{stderr}");
    // --from without --text is refused.
    let (ok, _, stderr) = run(msgaudit()
        .args(["scan", "--from", "x", "--rules"])
        .arg(root().join("fixtures/rules.json"))
        .arg(&input));
    assert!(!ok && stderr.contains("--text"), "{stderr}");
}
