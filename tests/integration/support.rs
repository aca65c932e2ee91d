//! Helpers: locating (and, when needed, building) the emulator library, the test keys, and opening
//! sessions on emulated corps.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use msgaudit::sdk::{FinanceLibrary, KeyRing, NetworkOptions, PrivateKey, Session};
use msgaudit::secret::Secret;

/// The source tree.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Path of the emulator `.so` (built once per process if needed).
pub fn emulator_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| msgaudit::emulator::bundled_emulator().expect("the SDK emulator"))
}

/// The emulator, loaded (dlopen returns the same mapping on every call).
pub fn emulator() -> FinanceLibrary {
    FinanceLibrary::load(emulator_path()).expect("load the emulator")
}

pub fn key_path(version: u32) -> PathBuf {
    msgaudit::emulator::fixture_key(version)
}

/// A key ring with the given test key versions.
pub fn keys(versions: &[u32]) -> KeyRing {
    let mut ring = KeyRing::new();
    for v in versions {
        ring.insert(
            *v,
            PrivateKey::from_file(key_path(*v)).expect("fixture key"),
        );
    }
    ring
}

/// A session on an emulated corp; `options` is the corp id's `?…` suffix.
pub fn session(lib: &FinanceLibrary, options: &str) -> Session {
    lib.session(
        &format!("wwtest?{options}"),
        &Secret::new("test-secret"),
        &NetworkOptions::default(),
    )
    .expect("Init succeeds")
}

/// The archive the emulator serves for the same options.
pub fn archive(options: &str) -> wework_finance_archive::Archive {
    let opts = wework_finance_archive::ArchiveOptions::resolve(&format!("wwtest?{options}"), None)
        .expect("valid options");
    wework_finance_archive::Archive::open(opts).expect("archive opens")
}

/// Writes a daemon config for one emulated corp (`options` is the corp id's `?…` suffix) into `dir`,
/// storing into `dir/store.db`. `extra` is appended (more TOML).
pub fn write_config(dir: &Path, options: &str, key_versions: &[u32], extra: &str) -> PathBuf {
    write_config_for(dir, "sqlite://store.db", options, key_versions, extra)
}

/// [`write_config`] with `pull` settings and `/metrics` on a free port; returns the config and the
/// port.
pub fn write_config_with_metrics(
    dir: &Path,
    options: &str,
    key_versions: &[u32],
    pull: &str,
) -> (PathBuf, u16) {
    let port = free_port();
    let extra = format!("{pull}\n[metrics]\nlisten = \"127.0.0.1:{port}\"");
    (write_config(dir, options, key_versions, &extra), port)
}

/// [`write_config`] with another store.
pub fn write_config_for(
    dir: &Path,
    store: &str,
    options: &str,
    key_versions: &[u32],
    extra: &str,
) -> PathBuf {
    std::fs::write(dir.join("secret"), "test-secret\n").expect("write secret");
    // Tests of other parts leave media alone (tests/integration/media.rs covers it).
    let media = if extra.contains("[media]") {
        ""
    } else {
        "[media]\nenabled = false\n"
    };
    let keys: Vec<String> = key_versions
        .iter()
        .map(|v| format!("{v} = \"{}\"", key_path(*v).display()))
        .collect();
    let text = format!(
        "[store]\nurl = \"{store}\"\n[sdk]\nlibrary = \"{}\"\ntimeout_secs = 5\n[pull]\npoll_interval_secs = 1\nmax_backoff_secs = 1\n{extra}\n{media}\
         [[corps]]\ncorp_id = \"wwtest?{options}\"\nsecret_file = \"secret\"\nkeys = {{ {} }}\n",
        emulator_path().display(),
        keys.join(", ")
    );
    let path = dir.join("msgaudit.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The corp id `write_config` gives the corp.
pub fn corp_id(options: &str) -> String {
    format!("wwtest?{options}")
}

/// Every (corp, msgid) stored, with how many times.
pub fn stored_msgids(db: &Path) -> std::collections::HashMap<String, u32> {
    let conn = rusqlite::Connection::open(db).expect("open store");
    let mut stmt = conn
        .prepare("SELECT msg_id FROM we_chat_contact_msg")
        .expect("prepare");
    let mut out = std::collections::HashMap::new();
    for id in stmt
        .query_map([], |r| r.get::<_, String>(0))
        .expect("query")
    {
        *out.entry(id.expect("row")).or_insert(0) += 1;
    }
    out
}

/// Every msgid of the archive that can be decrypted and parsed, once: what a drain must store.
pub fn good_msgids(a: &wework_finance_archive::Archive) -> std::collections::HashMap<String, u32> {
    a.iter()
        .filter(|m| !m.faults.unreadable())
        .map(|m| (m.msgid, 1))
        .collect()
}

/// (largest seq, number of rows) of the stored messages: equal to (checkpoint, checkpoint) when a
/// drain from seq 1 without faults stopped exactly at what is stored.
pub fn max_seq_and_count(db: &Path) -> (u64, u64) {
    let conn = rusqlite::Connection::open(db).expect("open store");
    let (max_seq, count): (i64, i64) = conn
        .query_row(
            "SELECT MAX(seq), COUNT(*) FROM we_chat_contact_msg",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("max seq and count");
    (max_seq as u64, count as u64)
}

/// A `clickhouse://` store URL for a fresh database named after `test`, on the server the suite
/// runs against (`MSGAUDIT_TEST_CLICKHOUSE`, set by `scripts/test`).
pub fn clickhouse_url(test: &str) -> String {
    let server = std::env::var("MSGAUDIT_TEST_CLICKHOUSE").unwrap_or_else(|_| {
        panic!(
            "MSGAUDIT_TEST_CLICKHOUSE is not set: run the suite with scripts/test, which starts a \
             ClickHouse server, or point it at one (http://127.0.0.1:8123)"
        )
    });
    let host = server
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let database = format!("t_{}_{}", test, std::process::id());
    format!("clickhouse://default@{host}/{database}")
}

/// A store on a fresh database named after `test`, migrated across the two-shard cluster the suite
/// runs against (`MSGAUDIT_TEST_CLICKHOUSE_CLUSTER`: its name and its two servers' URLs, set by
/// `scripts/test`), through the first server; the database is dropped on both when dropped.
pub struct ClusterStore {
    pub store: msgaudit::store::clickhouse::ClickHouseStore,
    urls: Vec<String>,
}

impl ClusterStore {
    pub fn create(test: &str) -> ClusterStore {
        let spec = std::env::var("MSGAUDIT_TEST_CLICKHOUSE_CLUSTER").unwrap_or_else(|_| {
            panic!(
                "MSGAUDIT_TEST_CLICKHOUSE_CLUSTER is not set: run the suite with scripts/test, \
                 which starts a two-shard cluster (scripts/clickhouse-local start-cluster DIR NAME \
                 prints the value)"
            )
        });
        let mut parts = spec.split_whitespace();
        let name = parts.next().expect("a cluster name").to_owned();
        let database = format!("t_{}_{}", test, std::process::id());
        let urls: Vec<String> = parts
            .map(|server| {
                let host = server.trim_start_matches("http://").trim_end_matches('/');
                format!("clickhouse://default@{host}/{database}")
            })
            .collect();
        assert_eq!(urls.len(), 2, "{spec}: a name and two server URLs");
        msgaudit::store::clickhouse::migrate_cluster(&urls[0], &name, &urls).expect("migrate");
        let store = msgaudit::store::clickhouse::ClickHouseStore::open(&urls[0]).expect("open");
        ClusterStore { store, urls }
    }
}

impl Drop for ClusterStore {
    fn drop(&mut self) {
        for url in &self.urls {
            if let Ok(conn) = msgaudit::store::clickhouse::ClickHouseUrl::parse(url)
                .and_then(msgaudit::store::clickhouse::Connection::new)
            {
                let sql = format!("DROP DATABASE IF EXISTS {}", conn.database());
                let _ = conn.execute_on_server("dropping the database", &sql);
            }
        }
    }
}

/// A stored-message row of `corp` with msgid `id` at `seq`, its time following the seq.
pub fn message_row(corp: &str, id: &str, seq: u64) -> msgaudit::message::MessageRow {
    msgaudit::message::MessageRow {
        corp_id: corp.into(),
        msg_id: id.into(),
        seq,
        publickey_ver: 1,
        from_id: "zhangsan".into(),
        to_list: "lisi".into(),
        room_id: String::new(),
        action: "send".into(),
        msg_type: "text".into(),
        msg_time: 1_700_000_000_000 + seq as i64,
        contact: "{}".into(),
        is_external: 1,
        plain_text: format!("消息 {seq}"),
        attachments: Vec::new(),
    }
}

/// Starts the real daemon (`msgaudit run`) on a config, logging warnings only.
/// A daemon killed when the test ends, whether it passes or not.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn(config: &Path, once: bool) -> std::process::Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_msgaudit"));
    cmd.arg("run").arg("--config").arg(config).env(
        "RUST_LOG",
        std::env::var("MSGAUDIT_DAEMON_LOG").unwrap_or_else(|_| "warn".into()),
    );
    if once {
        cmd.arg("--once");
    }
    cmd.spawn().expect("spawn the daemon")
}

/// Polls `f` every 20 ms until it holds; fails the test after `limit`.
pub fn wait_until(what: &str, limit: std::time::Duration, mut f: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !f() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits for a child to exit; kills it and fails the test after `limit`.
pub fn wait_exit(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the daemon did not exit within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A corp's checkpoint in a SQLite store (0 when there is none or the file is busy).
pub fn checkpoint(db: &Path, corp: &str) -> u64 {
    let Ok(conn) = rusqlite::Connection::open(db) else {
        return 0;
    };
    conn.query_row(
        "SELECT seq FROM we_chat_msg_checkpoint WHERE corp_id = ?1",
        [corp],
        |r| r.get::<_, i64>(0),
    )
    .map_or(0, |s| s as u64)
}

/// A test's size knob: the environment variable `name` parsed, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The daemon's `/metrics` text on `port` (empty when it does not answer).
pub fn scrape_metrics(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = write!(s, "GET /metrics HTTP/1.1\r\nconnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

/// Saves the demo rules (`fixtures/rules.json`) into `store`.
pub fn save_demo_rules(store: &dyn msgaudit::store::Store) {
    let rules = std::fs::read_to_string(root().join("fixtures/rules.json")).expect("rules");
    store
        .save_rules(&msgaudit::audit::RuleSet::from_json(&rules).expect("rules parse"))
        .expect("rules saved");
}

/// Adds a markdown group robot posting to `webhook_base`, for `corp_id`'s hits (every corp's when
/// empty).
pub fn add_markdown_robot(store: &dyn msgaudit::store::Store, webhook_base: &str, corp_id: &str) {
    store
        .add_robot(&msgaudit::alert::Robot {
            id: 0,
            group_name: "合规群".into(),
            web_hook_url: format!("{webhook_base}/cgi-bin/webhook/send?key=K"),
            corp_id: corp_id.into(),
            strategy_ids: Vec::new(),
            msg_type: "markdown".into(),
        })
        .expect("robot");
}

/// Puts the demo rules (`fixtures/rules.json`) and one markdown robot posting to `webhook_base`
/// into the SQLite store at `db`.
pub fn rules_and_robot(db: &Path, webhook_base: &str) {
    let store = msgaudit::store::SqliteStore::open(db).expect("store");
    save_demo_rules(&store);
    add_markdown_robot(&store, webhook_base, "");
}
