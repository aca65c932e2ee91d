//! The `msgaudit` binary as a user runs it.

use std::process::Command;

use crate::fake_wecom::{Answer, FakeWeCom};
use crate::support::{emulator_path, key_path, write_config};

fn msgaudit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_msgaudit"))
}

fn output(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("run msgaudit");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn demo_stores_every_good_message_and_dead_letters_every_bad_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ok, stdout, stderr) = output(
        msgaudit()
            .args(["demo", "--messages", "1500", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--sdk")
            .arg(emulator_path()),
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("messages stored          1500"), "{stdout}");
    assert!(
        stdout.contains("unknown_key_version") && stdout.contains("broken_json"),
        "{stdout}"
    );
    assert!(stdout.contains("messages per second"), "{stdout}");
    assert!(
        stdout.contains("every good message stored exactly once"),
        "{stdout}"
    );
    assert!(dir.path().join("data/demo.db").exists());
    assert!(
        stdout.contains("alerts waiting") && stdout.contains("【敏感词告警汇总】"),
        "without --webhook the demo shows what it would post:\n{stdout}"
    );
    // It names people as the sender does: customers by the directory the demo fetched.
    let senders: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("· "))
        .filter_map(|l| l.split(" · ").nth(1))
        .collect();
    assert!(
        senders
            .iter()
            .any(|s| s.contains("(wm") || s.contains("(wo")),
        "a customer sends in the preview:\n{stdout}"
    );
    assert!(
        senders.iter().all(|s| s.contains('(')),
        "every sender in the preview has a name:\n{stdout}"
    );
    assert!(
        stdout.contains("msgaudit serve --config")
            && stdout.contains("as wangwu  (auditor) with the token"),
        "the demo ends with how to open the workspace:\n{stdout}"
    );
}

#[test]
fn demo_posts_its_alerts_to_a_webhook() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = crate::fake_wecom::FakeWeCom::start();
    let url = format!("{}/cgi-bin/webhook/send?key=DEMO-KEY", server.base);
    let (ok, stdout, stderr) = output(
        msgaudit()
            .args([
                "demo",
                "--messages",
                "1500",
                "--webhook",
                &url,
                "--data-dir",
            ])
            .arg(dir.path().join("data"))
            .arg("--sdk")
            .arg(emulator_path()),
    );
    assert!(ok, "{stdout}\n{stderr}");
    let posts = server.accepted("/cgi-bin/webhook/send");
    assert!(!posts.is_empty() && posts.len() <= 20, "{}", posts.len());
    assert!(
        stdout.contains(&format!("alert posts sent     {:>8}", posts.len())),
        "{stdout}"
    );
    assert!(stdout.contains(", 0 hits still waiting"), "{stdout}");
    assert!(!stdout.contains("DEMO-KEY") && !stderr.contains("DEMO-KEY"));
    let db = format!("sqlite://{}", dir.path().join("data/demo.db").display());
    let (ok, listed, _) = output(msgaudit().args(["alerts", "--store", &db]));
    assert!(
        ok && listed.contains("alerts waiting in the outbox: 0"),
        "{listed}"
    );
    assert!(listed.contains(" sent "), "{listed}");
    let (ok, robots, _) = output(msgaudit().args(["robots", "list", "--store", &db]));
    assert!(ok && robots.contains("msgaudit demo"), "{robots}");
    assert!(
        robots.contains("send?…") && !robots.contains("DEMO-KEY"),
        "{robots}"
    );
}

#[test]
fn robots_are_added_listed_and_removed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let (ok, out, err) = output(msgaudit().args([
        "robots",
        "add",
        "--store",
        &db,
        "--name",
        "风控群",
        "--url",
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET",
        "--corp",
        "ww1",
        "--strategy",
        "1",
        "--strategy",
        "3",
    ]));
    assert!(ok && out.contains("robot 1 (风控群) added"), "{out}{err}");
    assert!(!out.contains("SECRET"));
    let (_, out, _) = output(msgaudit().args(["robots", "list", "--store", &db]));
    assert!(
        out.contains("corp=ww1") && out.contains("strategies=1,3"),
        "{out}"
    );
    let (ok, _, err) = output(msgaudit().args([
        "robots",
        "add",
        "--store",
        &db,
        "--name",
        "x",
        "--url",
        "qyapi/webhook?key=SECRET",
    ]));
    assert!(
        !ok && err.contains("not a webhook URL") && !err.contains("SECRET"),
        "{err}"
    );
    let (ok, _, err) = output(msgaudit().args(["robots", "remove", "--store", &db, "9"]));
    assert!(!ok && err.contains("robots list"), "{err}");
    let (ok, out, _) = output(msgaudit().args(["robots", "remove", "--store", &db, "1"]));
    assert!(ok && out.contains("robot 1 removed"));
    let (_, out, _) = output(msgaudit().args(["robots", "list", "--store", &db]));
    assert!(out.contains("no robots"), "{out}");
}

#[test]
fn robots_test_posts_to_each_webhook_and_says_what_to_do_when_one_refuses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let server = FakeWeCom::start();
    let add = |name: &str, key: &str, text: bool| {
        let url = format!("{}/cgi-bin/webhook/send?key={key}", server.base);
        let mut args = vec![
            "robots", "add", "--store", &db, "--name", name, "--url", &url,
        ];
        if text {
            args.push("--text");
        }
        let (ok, out, err) = output(msgaudit().args(&args));
        assert!(ok && out.contains("msgaudit robots test"), "{out}{err}");
    };
    add("风控群", "KEY-ONE", false);
    add("旧群", "KEY-TWO", true);
    add("文本群", "KEY-THREE", true);
    // The second robot's key is one WeCom does not know.
    server.script([Answer::ErrCode(0), Answer::ErrCode(93000)]);
    let (ok, out, err) = output(msgaudit().args(["robots", "test", "--store", &db]));
    assert!(!ok, "one robot refused, so the command fails: {out}{err}");
    assert!(
        out.contains("robot 1 (风控群)") && out.contains("robot 3 (文本群)"),
        "{out}"
    );
    assert_eq!(out.matches(": delivered").count(), 2, "{out}");
    assert!(
        out.contains("robot 2 (旧群)") && out.contains("FAILED: WeCom answered errcode 93000"),
        "{out}"
    );
    assert!(out.contains("copy the webhook URL again"), "{out}");
    assert!(err.contains("1 of 3 robot(s)"), "{err}");
    assert!(!out.contains("KEY-") && !err.contains("KEY-"), "{out}{err}");
    let posts = server.received();
    assert_eq!(posts.len(), 3);
    assert!(
        posts[0].path.ends_with("key=KEY-ONE") && posts[0].body.contains("\"markdown\""),
        "{posts:?}"
    );
    assert!(
        posts[2].body.contains("\"text\"") && posts[2].body.contains("#3 文本群"),
        "{posts:?}"
    );
    // The outbox is left alone: a test post is not an alert.
    let (_, listed, _) = output(msgaudit().args(["alerts", "--store", &db]));
    assert!(listed.contains("no posts yet"), "{listed}");

    // One robot by id; an unknown id is named before anything is posted.
    let (ok, out, _) = output(msgaudit().args(["robots", "test", "--store", &db, "3"]));
    assert!(
        ok && out.contains("robot 3") && !out.contains("robot 1"),
        "{out}"
    );
    let (ok, _, err) = output(msgaudit().args(["robots", "test", "--store", &db, "3", "9"]));
    assert!(!ok && err.contains("no robot 9"), "{err}");
    assert_eq!(server.received().len(), 4);
}

#[test]
fn alerts_test_app_messages_each_auditor_and_says_what_to_do_when_wecom_refuses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FakeWeCom::start();
    let config = write_config(
        dir.path(),
        "messages=1",
        &[1],
        &format!("[alerts]\napi_base = \"{}\"", server.base),
    );
    // The first corp's app has a good secret; the second's WeCom refuses (errcode 40001).
    std::fs::write(dir.path().join("app-secret"), "APP-SECRET-ONE\n").expect("secret");
    std::fs::write(dir.path().join("refused-secret"), "refused\n").expect("secret");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str(&format!(
        "alert_app = {{ agent_id = 1000002, secret_file = \"app-secret\" }}\n\
         [[corps]]\ncorp_id = \"wwother?messages=1\"\nsecret_file = \"secret\"\n\
         keys = {{ 1 = \"{}\" }}\nalert_app = {{ agent_id = 1000003, secret_file = \"refused-secret\" }}\n",
        key_path(1).display()
    ));
    std::fs::write(&config, text).expect("config");
    let rules = dir.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"{"strategies": [
            {"id": 1, "name": "转账", "words": ["私下转账"], "audit_user_id": "wangwu", "audit_user_name": "王五"},
            {"id": 2, "name": "联系方式", "words": ["加微信"], "audit_user_id": "lisi", "audit_user_name": "李四"},
            {"id": 3, "name": "同一人", "words": ["返现"], "audit_user_id": "wangwu"},
            {"id": 4, "name": "停用", "words": ["回扣"], "audit_user_id": "zhaoliu", "enabled": false},
            {"id": 5, "name": "不告警", "words": ["红包"], "audit_user_id": "sunhao", "alert": false}
        ]}"#,
    )
    .expect("rules");
    let (ok, out, err) = output(
        msgaudit()
            .args(["rules", "import"])
            .arg(&rules)
            .arg("--config")
            .arg(&config),
    );
    assert!(ok, "{out}{err}");

    // lisi is outside the app's visible range: WeCom takes the send but lists them.
    server.script([
        Answer::ErrCode(0),
        Answer::Json(r#"{"errcode":0,"errmsg":"ok","invaliduser":"lisi"}"#.to_owned()),
    ]);
    let (ok, out, err) = output(
        msgaudit()
            .args(["alerts", "test-app", "--config"])
            .arg(&config),
    );
    assert!(
        !ok,
        "two did not reach their auditor, so the command fails: {out}{err}"
    );
    let corp = crate::support::corp_id("messages=1");
    assert!(
        out.contains(&format!(
            "corp {corp} app 1000002 → wangwu (王五): delivered"
        )),
        "{out}"
    );
    assert!(
        out.contains("→ lisi (李四): FAILED") && out.contains("可见范围"),
        "{out}"
    );
    assert!(
        out.contains("corp wwother?messages=1 app 1000003: FAILED: no access token")
            && out.contains("errcode 40001")
            && out.contains("Secret"),
        "{out}"
    );
    assert!(err.contains("3 of 4 test message(s)"), "{err}");
    assert!(
        !out.contains("APP-SECRET") && !err.contains("APP-SECRET"),
        "{out}{err}"
    );
    let sends: Vec<_> = server
        .received()
        .into_iter()
        .filter(|r| r.path.starts_with("/cgi-bin/message/send"))
        .collect();
    // One message each to the enabled, alerting strategies' two auditors, none to the rest.
    assert_eq!(sends.len(), 2, "{sends:?}");
    assert!(
        sends[0].body.contains(r#""touser":"wangwu""#)
            && sends[0].body.contains(r#""agentid":1000002"#)
            && sends[0].body.contains("测试消息"),
        "{sends:?}"
    );
    assert!(sends[1].body.contains(r#""touser":"lisi""#), "{sends:?}");
    // The outbox is left alone.
    let (_, listed, _) = output(msgaudit().args(["alerts", "--config"]).arg(&config));
    assert!(listed.contains("no posts yet"), "{listed}");

    // One corp, one person named; a corp without an app is named before anything is sent.
    let (ok, out, err) = output(
        msgaudit()
            .args([
                "alerts", "test-app", "--to", "zhangsan", "--corp", &corp, "--config",
            ])
            .arg(&config),
    );
    assert!(ok && out.contains("→ zhangsan: delivered"), "{out}{err}");
    let before = server.received().len();
    let (ok, _, err) = output(
        msgaudit()
            .args(["alerts", "test-app", "--corp", "wwnone", "--config"])
            .arg(&config),
    );
    assert!(!ok && err.contains("corp wwnone has no alert_app"), "{err}");
    assert_eq!(server.received().len(), before);
}

#[test]
fn names_finds_members_customers_and_groups_with_their_ids() {
    use msgaudit::store::{Customer, DirectoryStore, Group, SqliteStore};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.db");
    let db = format!("sqlite://{}", path.display());
    let (ok, out, err) = output(
        msgaudit()
            .args(["rules", "import"])
            .arg(crate::support::root().join("fixtures/rules.json"))
            .args(["--store", &db]),
    );
    assert!(ok, "{out}{err}");
    {
        let store = SqliteStore::open(&path).expect("store");
        store
            .save_customers(&[Customer {
                corp_id: "ww1".into(),
                external_userid: "wmWang".into(),
                customer_name: "客户王女士".into(),
                ..Customer::default()
            }])
            .expect("customer");
        store
            .save_group(&Group {
                corp_id: "ww1".into(),
                chat_id: "wrEast".into(),
                group_name: "王总的华东群".into(),
                ..Group::default()
            })
            .expect("group");
    }
    let (ok, out, err) = output(msgaudit().args(["names", "王", "--store", &db]));
    assert!(ok, "{err}");
    let line = |kind: &str, id: &str| out.lines().any(|l| l.starts_with(kind) && l.contains(id));
    assert!(line("member", "wangwu"), "the fixture's 王五: {out}");
    assert!(
        line("customer", "wmWang") && line("group", "wrEast"),
        "{out}"
    );
    assert!(
        out.contains("3 found") && out.contains("--room ID"),
        "{out}"
    );

    let (ok, out, _) = output(msgaudit().args(["names", "华东", "--json", "--store", &db]));
    assert!(ok);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(
        rows,
        [
            serde_json::json!({"kind": "group", "id": "wrEast", "name": "王总的华东群", "corp_id": "ww1"})
        ]
    );
    let (ok, out, _) = output(msgaudit().args(["names", "nobody-at-all", "--store", &db]));
    assert!(ok && out.contains("nobody and no group"), "{out}");
    let (ok, _, err) = output(msgaudit().args(["names", " ", "--store", &db]));
    assert!(!ok && err.contains("msgaudit names 华东"), "{err}");
}

#[test]
fn run_once_then_query_messages_and_dead_letters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        "messages=400&seed=5&missing_key_every=50",
        &[1, 2],
        "",
    );
    let (ok, stdout, stderr) = output(
        msgaudit()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--once"),
    );
    assert!(ok, "{stdout}\n{stderr}");
    let (ok, stdout, _) = output(
        msgaudit()
            .args(["messages", "--limit", "1000", "--json", "--config"])
            .arg(&config),
    );
    assert!(ok);
    assert_eq!(
        stdout.lines().count(),
        392,
        "400 messages, 8 under the missing key version"
    );
    let first: serde_json::Value =
        serde_json::from_str(stdout.lines().next().expect("a line")).expect("JSON");
    assert!(first["msg_id"].is_string() && first["seq"].is_u64());
    let (ok, stdout, _) = output(
        msgaudit()
            .args(["dead-letters", "list", "--json", "--config"])
            .arg(&config),
    );
    assert!(ok);
    assert_eq!(stdout.lines().count(), 8);
    assert!(stdout.contains("unknown_key_version"));
    let (ok, stdout, _) = output(
        msgaudit()
            .args(["messages", "--since", "not a date", "--config"])
            .arg(&config),
    );
    assert!(!ok && stdout.is_empty());
}

#[test]
fn a_missing_secret_names_the_field_and_the_variable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "messages=5", &[1], "");
    let text = std::fs::read_to_string(&config).expect("read").replace(
        "secret_file = \"secret\"",
        "secret_env = \"MSGAUDIT_TEST_UNSET_SECRET\"",
    );
    std::fs::write(&config, text).expect("write");
    let (ok, _, stderr) = output(
        msgaudit()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env_remove("MSGAUDIT_TEST_UNSET_SECRET"),
    );
    assert!(!ok);
    assert!(
        stderr.contains("corps[0].secret_env") && stderr.contains("MSGAUDIT_TEST_UNSET_SECRET"),
        "{stderr}"
    );
}

#[test]
fn a_library_that_does_not_exist_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "messages=5", &[1], "");
    let text = std::fs::read_to_string(&config).expect("read").replace(
        &emulator_path().display().to_string(),
        "/nonexistent/libWeWorkFinanceSdk_C.so",
    );
    std::fs::write(&config, text).expect("write");
    let (ok, _, stderr) = output(msgaudit().args(["run", "--once", "--config"]).arg(&config));
    assert!(!ok);
    assert!(
        stderr.contains("/nonexistent/libWeWorkFinanceSdk_C.so does not exist"),
        "{stderr}"
    );
}

#[test]
fn a_wrong_secret_stops_run_once_with_the_48002_hint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "messages=5&secret=the-real-one", &[1], "");
    let (ok, _, stderr) = output(msgaudit().args(["run", "--once", "--config"]).arg(&config));
    assert!(!ok);
    assert!(
        stderr.contains("48002") && stderr.contains("chat-archive secret"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("test-secret"),
        "the secret itself is never printed"
    );
}

#[test]
fn json_logs_are_one_object_a_line_down_to_the_error_that_ends_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        "messages=300&seed=4&missing_key_every=50",
        &[1, 2],
        "",
    );
    let lines = |stderr: &str| -> Vec<serde_json::Value> {
        stderr
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))
            })
            .collect()
    };
    let (ok, _, stderr) = output(
        msgaudit()
            .args(["run", "--once", "--log-format", "json", "--config"])
            .arg(&config)
            .env("RUST_LOG", "debug"),
    );
    assert!(ok, "{stderr}");
    let events = lines(&stderr);
    assert!(events.len() > 5, "{stderr}");
    for e in &events {
        for field in ["timestamp", "level", "target"] {
            assert!(e.get(field).is_some(), "no {field}: {e}");
        }
    }
    assert!(
        events
            .iter()
            .any(|e| e["message"] == "msgaudit starts" && e["corps"] == 1),
        "fields sit beside the message: {stderr}"
    );
    // The error that stops a run is one more JSON line, also from the environment variable.
    let wrong = write_config(dir.path(), "messages=5&secret=the-real-one", &[1], "");
    let (ok, _, stderr) = output(
        msgaudit()
            .args(["run", "--once", "--config"])
            .arg(&wrong)
            .env("MSGAUDIT_LOG_FORMAT", "json")
            .env("RUST_LOG", "off"),
    );
    assert!(!ok);
    let events = lines(&stderr);
    let last = events.last().expect("the error line");
    assert_eq!(last["level"], "ERROR", "{last}");
    assert!(
        last["error"].as_str().is_some_and(|e| e.contains("48002")),
        "{last}"
    );
}

#[test]
fn help_lists_every_command() {
    let (ok, stdout, _) = output(msgaudit().arg("--help"));
    assert!(ok);
    for c in [
        "run",
        "demo",
        "messages",
        "dead-letters",
        "migrate",
        "robots",
        "alerts",
        "check",
        "--log-format",
    ] {
        assert!(stdout.contains(c), "{c} missing from --help:\n{stdout}");
    }
}

#[test]
fn corps_can_come_from_we_corp_account_rows_with_secret_references() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "messages=5", &[1], "");
    // Keep [store] and [sdk], drop the [[corps]] table, archive the store's corps instead.
    let text = std::fs::read_to_string(&config).expect("read");
    let text = format!(
        "corps_from_store = true\n{}",
        &text[..text.find("[[corps]]").expect("corps")]
    );
    std::fs::write(&config, text).expect("write");
    let db = dir.path().join("store.db");
    let (ok, stdout, stderr) = output(msgaudit().args(["migrate", "--config"]).arg(&config));
    assert!(ok, "{stderr}");
    // A new store gets every migration; a second run has nothing left to apply.
    assert!(
        stdout.contains("migration(s) applied") && !stdout.contains(": 0 migration(s)"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = output(msgaudit().args(["migrate", "--config"]).arg(&config));
    assert!(ok, "{stderr}");
    assert!(stdout.contains(": 0 migration(s) applied"), "{stdout}");
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute(
        "INSERT INTO we_corp_account (corp_id, chat_secret, finance_private_key) VALUES (?1, ?2, ?3)",
        rusqlite::params![
            "wwrow?messages=120&seed=8",
            "env:MSGAUDIT_TEST_ROW_SECRET",
            format!("1={},2={}", crate::support::key_path(1).display(), crate::support::key_path(2).display())
        ],
    )
    .expect("insert corp row");
    let (ok, stdout, stderr) = output(
        msgaudit()
            .args(["run", "--once", "--config"])
            .arg(&config)
            .env("MSGAUDIT_TEST_ROW_SECRET", "row-secret"),
    );
    assert!(ok, "{stdout}\n{stderr}");
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM we_chat_contact_msg WHERE corp_id = 'wwrow?messages=120&seed=8'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(n, 120);
    assert!(!stderr.contains("row-secret"));
}

#[test]
fn bench_prints_one_json_object_with_the_documented_fields() {
    let (ok, stdout, stderr) = output(
        msgaudit()
            .args([
                "bench",
                "--messages",
                "1500",
                "--words",
                "500",
                "--json",
                "--sdk",
            ])
            .arg(emulator_path()),
    );
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    for field in [
        "messages",
        "seconds",
        "msgs_per_sec",
        "rsa_ceiling_per_sec",
        "ratio_to_ceiling",
        "peak_rss_mb",
    ] {
        assert!(v[field].is_number(), "{field} missing: {v}");
    }
    for stage in ["pull", "decrypt_parse", "audit", "store"] {
        assert!(v["stages"][stage].is_number(), "stage {stage} missing: {v}");
    }
    assert_eq!(v["messages"], 1500);
    assert_eq!(v["stored"], 1500);
    assert!(v["rsa_ceiling_per_sec"].as_f64().unwrap_or(0.0) > 0.0);
}
