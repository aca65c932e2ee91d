//! Secrets hygiene: the real daemon, in the scenarios that touch secrets (a normal drain with dead
//! letters, a refused secret, application alerts that fetch a token, a robot webhook), logging at
//! `trace`. No log line and no byte of the store may hold the corp secret, the alert app's secret,
//! the robot's webhook key (outside its own `we_group_robot_info` row) or private-key material.

use std::path::Path;
use std::process::Command;

use msgaudit::alert::Robot;
use msgaudit::store::SqliteStore;
use msgaudit::store::prelude::*;

use crate::fake_wecom::FakeWeCom;
use crate::support::{key_path, root, write_config};

const CORP_SECRET: &str = "corp-secret-XK29-never-print";
const APP_SECRET: &str = "app-secret-QP71-never-print";
const ROBOT_KEY: &str = "robot-key-ZZ03-never-log";

/// Runs `msgaudit run --once` on `config`, returning stdout + stderr. The emulator's own settings
/// (the one secret it accepts) come from `emulator.json` beside the config, not the corp id, which
/// is logged.
fn run_once(config: &Path, env: &[(&str, &str)]) -> String {
    let emulator = config.with_file_name("emulator.json");
    let out = Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .args(["run", "--once", "--config"])
        .arg(config)
        .env("RUST_LOG", "trace")
        .env("WWEMU_CONFIG", &emulator)
        .envs(env.iter().copied())
        .output()
        .expect("run the daemon");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Fragments of the private keys' PEM bodies: any of them in a log or the store is a leak.
pub fn key_fragments() -> Vec<String> {
    let mut out = Vec::new();
    for v in [1, 2, 3] {
        let pem = std::fs::read_to_string(key_path(v)).expect("key");
        for line in pem.lines().filter(|l| !l.starts_with("-----")).step_by(5) {
            if line.len() >= 40 {
                out.push(line[..40].to_owned());
            }
        }
    }
    assert!(out.len() > 10);
    out
}

fn assert_clean(what: &str, text: &[u8], allow_robot_key: bool) {
    let text = String::from_utf8_lossy(text);
    for secret in [CORP_SECRET, APP_SECRET] {
        let leak: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(secret))
            .take(3)
            .collect();
        assert!(leak.is_empty(), "{what} holds a secret: {leak:?}");
    }
    if !allow_robot_key {
        assert!(!text.contains(ROBOT_KEY), "{what} holds the webhook key");
    }
    for f in key_fragments() {
        assert!(!text.contains(&f), "{what} holds private-key material");
    }
}

/// Every file of the store (database, WAL), as bytes.
fn store_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for f in ["store.db", "store.db-wal"] {
        if let Ok(b) = std::fs::read(dir.join(f)) {
            all.extend(b);
        }
    }
    all
}

#[test]
fn no_log_line_or_store_byte_holds_a_secret_or_key_material() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = FakeWeCom::start();
    let alerts = format!(
        "[alerts]\napi_base = \"{}\"\nfirst_retry_ms = 100\nmax_retry_secs = 1\ndrain_secs = 20",
        server.base
    );
    // The emulator accepts only CORP_SECRET; key version 3 is missing on purpose (dead letters).
    let opts = "messages=1500&seed=12&missing_key_every=97&bad_json_every=101";
    let config = write_config(dir.path(), opts, &[1, 2], &alerts);
    std::fs::write(
        dir.path().join("emulator.json"),
        serde_json::json!({"default": {"secret": CORP_SECRET}}).to_string(),
    )
    .expect("emulator config");
    std::fs::write(dir.path().join("secret"), format!("{CORP_SECRET}\n")).expect("secret");
    // The corp gets an alert app, and the store a robot and rules with alerts.
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text + "alert_app = { agent_id = 1000002, secret_env = \"MSGAUDIT_TEST_APP_SECRET\" }\n",
    )
    .expect("config");
    {
        let store = SqliteStore::open(dir.path().join("store.db")).expect("store");
        let rules = std::fs::read_to_string(root().join("fixtures/rules.json")).expect("rules");
        store
            .save_rules(&msgaudit::audit::RuleSet::from_json(&rules).expect("rules"))
            .expect("saved");
        store
            .add_robot(&Robot {
                id: 0,
                group_name: "合规群".into(),
                web_hook_url: format!("{}/cgi-bin/webhook/send?key={ROBOT_KEY}", server.base),
                corp_id: String::new(),
                strategy_ids: Vec::new(),
                msg_type: "text".into(),
            })
            .expect("robot");
    }
    // The first post is refused: its error travels through the logs.
    server.script([crate::fake_wecom::Answer::ErrCode(93000)]);
    let logs = run_once(&config, &[("MSGAUDIT_TEST_APP_SECRET", APP_SECRET)]);
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "logging at trace: {logs}"
    );
    assert!(
        server
            .received()
            .iter()
            .any(|r| r.path.contains("gettoken") && r.path.contains(APP_SECRET)),
        "the app secret did reach WeCom, where it belongs"
    );
    assert!(
        server.accepted("/cgi-bin/message/send").len() + server.accepted("/cgi-bin/webhook").len()
            > 0,
        "alerts went out"
    );
    assert_clean("the daemon's log", logs.as_bytes(), false);
    // The same run logged as JSON: fields are written differently, and hold no secret either.
    let json = run_once(
        &config,
        &[
            ("MSGAUDIT_TEST_APP_SECRET", APP_SECRET),
            ("MSGAUDIT_LOG_FORMAT", "json"),
        ],
    );
    assert!(json.contains("\"level\":\"TRACE\""), "{json}");
    assert_clean("the daemon's JSON log", json.as_bytes(), false);

    // A refused secret: the emulator answers 48002 for anything but CORP_SECRET.
    std::fs::write(dir.path().join("secret"), "corp-secret-WRONG-never-print\n").expect("secret");
    let refused = run_once(&config, &[("MSGAUDIT_TEST_APP_SECRET", APP_SECRET)]);
    assert!(refused.contains("48002"), "{refused}");
    assert!(!refused.contains("corp-secret-WRONG-never-print"));
    assert_clean("the refused run's log", refused.as_bytes(), false);

    // `msgaudit check` uses every secret (the archive's, the app's for a token) and both keys; its
    // report, as text and as JSON, and its trace log hold none of them, refused or accepted.
    for secret in ["corp-secret-WRONG-never-print", CORP_SECRET] {
        std::fs::write(dir.path().join("secret"), format!("{secret}\n")).expect("secret");
        for json in [false, true] {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_msgaudit"));
            cmd.args(["check", "--config"])
                .arg(&config)
                .env("RUST_LOG", "trace")
                .env("WWEMU_CONFIG", config.with_file_name("emulator.json"))
                .env("MSGAUDIT_TEST_APP_SECRET", APP_SECRET);
            if json {
                cmd.arg("--json");
            }
            let out = cmd.output().expect("msgaudit check");
            let said = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(said.contains("token granted"), "{said}");
            assert!(!said.contains("corp-secret-WRONG-never-print"), "{said}");
            assert_clean("msgaudit check's report", said.as_bytes(), false);
        }
    }

    // The store: the robot's key sits in its own row (LinkWeChat's we_group_robot_info), nothing
    // else anywhere.
    assert_clean("the store", &store_bytes(dir.path()), true);
    let conn = rusqlite::Connection::open(dir.path().join("store.db")).expect("db");
    let posts: Vec<String> = conn
        .prepare("SELECT content || last_error FROM we_group_robot_msg")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(!posts.is_empty());
    for p in posts {
        assert!(!p.contains(ROBOT_KEY) && !p.contains(APP_SECRET) && !p.contains("TOKEN-"));
    }
}
