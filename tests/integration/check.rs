//! `msgaudit check`, the real binary against real parts: the emulator over FFI (its archives, with
//! a secret it refuses and key versions it needs), a daemon serving `/metrics`, a real HTTP server
//! playing WeCom's token endpoint, a real S3-compatible server, and ports nothing listens on for a
//! ClickHouse server and an etcd that are down. A configuration that works passes and nothing is
//! created; each broken part fails with what to do, and the exit status says so.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::fake_wecom::FakeWeCom;
use crate::media_store::S3Server;
use crate::support::{
    Running, emulator_path, free_port, key_path, scrape_metrics, spawn, wait_until, write_config,
    write_config_with_metrics,
};

fn check(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .arg("check")
        .arg("--config")
        .arg(config)
        .args(args)
        .env("MSGAUDIT_TEST_S3_SECRET", "msgaudit-test-secret")
        .output()
        .expect("msgaudit check runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The findings of `--json`, by subject.
fn findings(out: &Output) -> Vec<Value> {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json is JSON ({e}): {}", stdout(out)));
    v["findings"].as_array().expect("findings").clone()
}

fn finding<'a>(all: &'a [Value], subject: &str) -> &'a Value {
    all.iter()
        .find(|f| f["subject"] == subject)
        .unwrap_or_else(|| panic!("no finding for {subject}: {all:#?}"))
}

#[test]
fn a_working_configuration_passes_and_checking_creates_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = "messages=300&seed=5";
    let (config, port) =
        write_config_with_metrics(dir.path(), options, &[1, 2], "[media]\nconcurrency = 2");
    let out = check(&config, &[]);
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for said in [
        "store.db: not created yet; the daemon creates it at start",
        "loaded, with every function the daemon calls",
        "rsa backend",
        "writable (created at start)",
        &format!("127.0.0.1:{port}: free to serve /metrics"),
        "archive answers: 100 message(s) read, seq 1–100 (nothing stored yet)",
        "key version 1 decrypts",
        "the daemon can start",
    ] {
        assert!(text.contains(said), "missing `{said}` in:\n{text}");
    }
    for made in ["store.db", "store.spool", "media", "media-staging"] {
        assert!(!dir.path().join(made).exists(), "checking created {made}");
    }

    // With the store written and a daemon running: the checkpoint is re-read around, and the
    // metrics address is seen as that daemon's.
    let daemon = Running(spawn(&config, false));
    let db = dir.path().join("store.db");
    wait_until(
        "the daemon stores the archive",
        Duration::from_secs(60),
        || {
            !scrape_metrics(port).is_empty()
                && db.exists()
                && crate::support::checkpoint(&db, &crate::support::corp_id(options)) == 300
        },
    );
    let out = check(&config, &["--json"]);
    drop(daemon);
    assert!(out.status.success(), "{}", stdout(&out));
    let all = findings(&out);
    let store = finding(&all, "store");
    assert_eq!(store["verdict"], "ok");
    assert!(
        store["detail"]
            .as_str()
            .is_some_and(|d| d.ends_with("current")),
        "{store}"
    );
    let metrics = finding(&all, "metrics");
    assert_eq!(metrics["verdict"], "warn", "{metrics}");
    assert!(
        metrics["detail"]
            .as_str()
            .is_some_and(|d| d.contains("a msgaudit daemon already serves it")),
        "{metrics}"
    );
    let corp = finding(&all, &format!("corp {}", crate::support::corp_id(options)));
    assert_eq!(corp["verdict"], "ok", "{corp}");
    let detail = corp["detail"].as_str().expect("detail");
    assert!(
        detail.contains("seq 251–300 (stored up to 300: caught up)")
            && detail.contains("key version 2 decrypts"),
        "{detail}"
    );
}

/// A config of three emulated corps, each with one thing wrong, and `extra` TOML.
fn broken_config(dir: &Path, store: &str, extra: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("secret"), "test-secret\n").expect("secret");
    std::fs::write(dir.join("app-secret"), "refused\n").expect("app secret");
    let key = |v: u32| key_path(v).display().to_string();
    let text = format!(
        "[store]\nurl = \"{store}\"\n[sdk]\nlibrary = \"{}\"\ntimeout_secs = 5\n{extra}\n\
         [[corps]]\ncorp_id = \"wwsecret?messages=50&secret=the-right-one\"\nsecret_file = \"secret\"\n\
         keys = {{ 1 = \"{}\" }}\n\
         [[corps]]\ncorp_id = \"wwnokey?messages=100&missing_key_every=7\"\nsecret_file = \"secret\"\n\
         keys = {{ 1 = \"{}\", 2 = \"{}\" }}\n\
         [[corps]]\ncorp_id = \"wwwrongkey?messages=100\"\nsecret_file = \"secret\"\n\
         keys = {{ 1 = \"{}\", 2 = \"{}\" }}\nalert_app = {{ agent_id = 1000002, secret_file = \"app-secret\" }}\n",
        emulator_path().display(),
        key(1),
        key(1),
        key(2),
        key(1),
        key(3),
    );
    let path = dir.join("msgaudit.toml");
    std::fs::write(&path, text).expect("config");
    path
}

#[test]
fn every_broken_part_fails_with_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wecom = FakeWeCom::start();
    let s3 = S3Server::start("media");
    // Something else holds the metrics port; nothing listens where ClickHouse and etcd should be.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let held = holder.local_addr().expect("addr").port();
    let (clickhouse, etcd) = (free_port(), free_port());
    let extra = format!(
        "[metrics]\nlisten = \"127.0.0.1:{held}\"\n[alerts]\napi_base = \"{}\"\n\
         [coordinator]\netcd = [\"http://127.0.0.1:{etcd}\"]\n\
         [media]\nstore = \"s3://no-such-bucket/media\"\n[media.s3]\nendpoint = \"{}\"\n\
         access_key_id = \"msgaudit-test\"\nsecret_access_key_env = \"MSGAUDIT_TEST_S3_SECRET\"\n",
        wecom.base, s3.endpoint,
    );
    let config = broken_config(
        dir.path(),
        &format!("clickhouse://default@127.0.0.1:{clickhouse}/checked"),
        &extra,
    );
    let out = check(&config, &["--json"]);
    assert!(!out.status.success(), "problems fail the command");
    let all = findings(&out);
    let expect = |subject: &str, verdict: &str, said: &[&str]| {
        let f = finding(&all, subject);
        assert_eq!(f["verdict"], verdict, "{subject}: {f}");
        let detail = f["detail"].as_str().expect("detail");
        for s in said {
            assert!(detail.contains(s), "{subject}: missing `{s}` in {detail}");
        }
    };
    expect("store", "fail", &["is the server up"]);
    expect("metrics", "fail", &["in use by another program"]);
    expect("etcd", "fail", &["[coordinator] etcd"]);
    expect("media store", "fail", &["no-such-bucket"]);
    expect(
        "corp wwsecret?messages=50&secret=the-right-one",
        "fail",
        &["48002", "会话内容存档 Secret"],
    );
    expect(
        "corp wwnokey?messages=100&missing_key_every=7",
        "fail",
        &[
            "key version 1 decrypts",
            "key version 3",
            "no private key for it",
            "msgaudit dead-letters retry",
        ],
    );
    expect(
        "corp wwwrongkey?messages=100",
        "fail",
        &[
            "key version 1 decrypts",
            "the private key of version 2 does not decrypt",
            "alert app 1000002",
            "40001",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for secret in ["test-secret", "refused", "msgaudit-test-secret"] {
        assert!(!text.contains(secret), "a secret in the report: {secret}");
    }
    drop(holder);

    // The bucket that exists passes.
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace("no-such-bucket", "media")).expect("config");
    let out = check(&config, &["--json", "--corp", "wwwrongkey?messages=100"]);
    let all = findings(&out);
    let bucket = finding(&all, "media store");
    assert_eq!(bucket["verdict"], "ok", "{bucket}");

    // The same, offline: nothing is reached, so the archives' problems are not found (and said
    // to be unchecked), while what is local still fails.
    let out = check(&config, &["--offline", "--corp", "wwwrongkey?messages=100"]);
    let text = stdout(&out);
    assert!(
        text.contains("archive not read (--offline)") && !text.contains("corp wwsecret"),
        "{text}"
    );
    assert!(!out.status.success(), "the store still fails: {text}");

    // An asked corp that is not configured is a problem of its own.
    let out = check(&config, &["--offline", "--corp", "wwnobody"]);
    assert!(stdout(&out).contains("corp wwnobody"), "{}", stdout(&out));
}

#[test]
fn a_configuration_that_does_not_load_says_why_and_checks_nothing_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        "messages=10",
        &[1],
        "[alerts]\nmax_posts_per_minute = 0",
    );
    let out = check(&config, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("alerts.max_posts_per_minute") && err.contains("nothing else was checked"),
        "{err}"
    );
}
