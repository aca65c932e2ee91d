//! Cluster mode: two local ClickHouse servers as a two-shard cluster without replication or a
//! coordinator. `msgaudit migrate --cluster` creates local and Distributed tables on both, the daemon
//! drains four corps through the first server, and every message is stored once, on its corp's shard,
//! and visible through the Distributed tables from either server; each shard's materialized views
//! summarise its own corps' conversations for the archive browser.

use std::path::{Path, PathBuf};
use std::process::Command;

use msgaudit::store::clickhouse::{ClickHouseUrl, Connection};

use crate::support;
use crate::support::free_port;

/// A throwaway server, stopped when dropped.
pub struct Server {
    dir: tempfile::TempDir,
    http: u16,
    tcp: u16,
}

impl Server {
    pub fn start(http: u16, tcp: u16, cluster_xml: &str) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("config.d")).expect("config.d");
        std::fs::write(dir.path().join("config.d/cluster.xml"), cluster_xml).expect("cluster xml");
        let server = Server { dir, http, tcp };
        server.resume();
        server
    }

    /// Starts the server (again) on its directory and ports; its data is kept.
    pub fn resume(&self) {
        let out = Command::new(support::root().join("scripts/clickhouse-local"))
            .args(["start", self.dir.path().to_str().expect("utf-8 path")])
            .env("CLICKHOUSE_HTTP_PORT", self.http.to_string())
            .env("CLICKHOUSE_TCP_PORT", self.tcp.to_string())
            .output()
            .expect("run scripts/clickhouse-local");
        assert!(
            out.status.success(),
            "server did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server and waits for it to exit.
    pub fn stop(&self) {
        let _ = Command::new(support::root().join("scripts/clickhouse-local"))
            .args(["stop", &self.dir.path().to_string_lossy()])
            .status();
    }

    pub fn url(&self) -> String {
        format!("clickhouse://default@127.0.0.1:{}/msgaudit", self.http)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct CorpCount {
    corp_id: String,
    value: u64,
}

fn counts(conn: &Connection, table: &str) -> Vec<(String, u64)> {
    conn.fetch_all::<CorpCount>(
        "counting",
        &format!("SELECT corp_id, count() AS value FROM {table} GROUP BY corp_id ORDER BY corp_id"),
    )
    .expect("counts")
    .into_iter()
    .map(|c| (c.corp_id, c.value))
    .collect()
}

fn config(dir: &Path, store: &str, corps: &[String]) -> PathBuf {
    std::fs::write(dir.join("secret"), "test-secret\n").expect("secret");
    let keys = format!(
        "keys = {{ 1 = \"{}\", 2 = \"{}\" }}",
        support::key_path(1).display(),
        support::key_path(2).display()
    );
    let mut text = format!(
        "[store]\nurl = \"{store}\"\n[sdk]\nlibrary = \"{}\"\ntimeout_secs = 5\n[pull]\npoll_interval_secs = 1\n\
         [alerts]\npoll_ms = 100\ndrain_secs = 60\n[media]\nenabled = false\n",
        support::emulator_path().display()
    );
    for corp in corps {
        text.push_str(&format!(
            "\n[[corps]]\ncorp_id = \"{corp}\"\nsecret_file = \"secret\"\n{keys}\n"
        ));
    }
    let path = dir.join("msgaudit.toml");
    std::fs::write(&path, text).expect("config");
    path
}

#[test]
fn a_two_shard_cluster_stores_every_message_once_on_its_corps_shard() {
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let cluster_xml = format!(
        "<yandex><remote_servers><msgaudit_test>\
         <shard><replica><host>127.0.0.1</host><port>{}</port></replica></shard>\
         <shard><replica><host>127.0.0.1</host><port>{}</port></replica></shard>\
         </msgaudit_test></remote_servers></yandex>",
        ports[1], ports[3]
    );
    let one = Server::start(ports[0], ports[1], &cluster_xml);
    let two = Server::start(ports[2], ports[3], &cluster_xml);
    let migrate = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_msgaudit"))
            .args([
                "migrate",
                "--store",
                &one.url(),
                "--cluster",
                "msgaudit_test",
            ])
            .args(extra)
            .output()
            .expect("run msgaudit migrate");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, text) = migrate(&["--shard", &one.url()]);
    assert!(!ok && text.contains("2 shard(s) but 1"), "{text}");
    for expected in ["9 migration(s) applied", "0 migration(s) applied"] {
        let (ok, text) = migrate(&["--shard", &one.url(), "--shard", &two.url()]);
        assert!(ok && text.contains(expected), "{text}");
    }

    let corps: Vec<String> = (1..=4)
        .map(|i| format!("wwshard{i}?messages=300&seed={i}"))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path(), &one.url(), &corps);
    // Rules with alerts, and a robot, through the cluster: the outbox is sharded like the hits.
    let wecom = crate::fake_wecom::FakeWeCom::start();
    let rules = support::root().join("fixtures/rules.json");
    let webhook = format!("{}/cgi-bin/webhook/send?key=K", wecom.base);
    for args in [
        vec!["rules", "import", rules.to_str().expect("utf-8 path")],
        vec!["robots", "add", "--name", "合规群", "--url", &webhook],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_msgaudit"))
            .args(&args)
            .args(["--store", &one.url()])
            .output()
            .expect("run msgaudit");
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .args([
            "run",
            "--once",
            "--config",
            cfg.to_str().expect("utf-8 path"),
        ])
        .output()
        .expect("run the daemon");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let conn =
        |s: &Server| Connection::new(ClickHouseUrl::parse(&s.url()).expect("url")).expect("conn");
    let (c1, c2) = (conn(&one), conn(&two));
    let want: Vec<(String, u64)> = {
        let mut v: Vec<(String, u64)> = corps.iter().map(|c| (c.clone(), 300)).collect();
        v.sort();
        v
    };
    // Through the Distributed table, from either server: every message, once.
    assert_eq!(counts(&c1, "we_chat_contact_msg"), want);
    assert_eq!(counts(&c2, "we_chat_contact_msg"), want);
    let unique: Vec<CorpCount> = c1
        .fetch_all(
            "counting distinct",
            "SELECT corp_id, uniqExact(msg_id) AS value FROM we_chat_contact_msg GROUP BY corp_id ORDER BY corp_id",
        )
        .expect("distinct");
    assert!(unique.iter().all(|c| c.value == 300));
    // Each corp lives on exactly one shard, and both shards hold some.
    let (local1, local2) = (
        counts(&c1, "we_chat_contact_msg_local"),
        counts(&c2, "we_chat_contact_msg_local"),
    );
    assert!(
        !local1.is_empty() && !local2.is_empty(),
        "{local1:?} {local2:?}"
    );
    for (corp, _) in &want {
        let on = local1
            .iter()
            .chain(&local2)
            .filter(|(c, _)| c == corp)
            .count();
        assert_eq!(on, 1, "{corp} on {on} shards");
    }
    // Checkpoints and the seeded behaviours are visible once through the cluster.
    let checkpoints = counts(&c2, "we_chat_msg_checkpoint");
    assert_eq!(checkpoints.len(), 4);
    let acts: Vec<CorpCount> = c2
        .fetch_all(
            "behaviours",
            "SELECT act_name AS corp_id, count() AS value FROM we_sensitive_act FINAL GROUP BY act_name",
        )
        .expect("acts");
    assert_eq!(
        acts.len(),
        11,
        "the catalogue, 发送二维码 and round 2 included"
    );
    assert!(acts.iter().all(|a| a.value == 1));
    // Every alert went out once, from the sharded outbox.
    let store = msgaudit::store::clickhouse::ClickHouseStore::open(&two.url()).expect("store");
    use msgaudit::store::prelude::*;
    assert_eq!(store.alert_backlog().expect("backlog"), 0);
    let alerting = crate::alerts::alerting_hits(&store);
    assert!(alerting > 0);
    let delivered = crate::alerts::deliveries(&store, &wecom, "/cgi-bin/webhook/send");
    assert_eq!(delivered.len(), alerting);
    assert!(delivered.values().all(|&n| n == 1));

    // The archive browser's conversations, from the summaries each shard's views keep: every
    // message with a conversation counted once, for every corp, read through either server.
    let with_conversation = counts(
        &c1,
        "we_chat_contact_msg WHERE room_id != '' \
         OR (from_id != '' AND to_list != '' AND position(to_list, ',') = 0)",
    );
    let summarised = |store: &msgaudit::store::clickhouse::ClickHouseStore,
                      visible: msgaudit::store::Visible| {
        let listed = store
            .conversations(&msgaudit::store::ConversationQuery {
                visible,
                limit: 100_000,
                ..Default::default()
            })
            .expect("conversations");
        let mut per_corp = std::collections::BTreeMap::<String, u64>::new();
        for c in &listed {
            *per_corp.entry(c.corp_id.clone()).or_default() += c.msg_count;
        }
        (listed, per_corp.into_iter().collect::<Vec<_>>())
    };
    let (listed, per_corp) = summarised(&store, None);
    assert_eq!(per_corp, with_conversation);
    let entry = msgaudit::store::clickhouse::ClickHouseStore::open(&one.url()).expect("store");
    assert_eq!(summarised(&entry, None).1, with_conversation);
    // Limited to one person, the list is that person's conversations (GLOBAL IN across shards).
    let first = listed.first().expect("a conversation");
    let person = match &first.conversation {
        msgaudit::message::Conversation::Pair(a, _) => a.clone(),
        msgaudit::message::Conversation::Room(_) => {
            let row = store
                .conversation_messages(&msgaudit::store::ConversationMessagesQuery {
                    corp_id: first.corp_id.clone(),
                    conversation: first.conversation.clone(),
                    page: msgaudit::store::Page::Newest,
                    limit: 1,
                })
                .expect("messages");
            row.first().expect("a message").row.from_id.clone()
        }
    };
    let (theirs, _) = summarised(&store, Some(vec![person.clone()]));
    assert!(
        theirs.iter().any(|c| c.conversation == first.conversation),
        "{person}: {theirs:?}"
    );
    assert!(
        theirs.len() < listed.len(),
        "{person} sees every conversation"
    );

    // Normalised search (the folded texts GLOBAL IN across the shards) also finds the archive's
    // traditional spelling, through either server.
    let found = |s: &msgaudit::store::clickhouse::ClickHouseStore, text_match| {
        s.search(&msgaudit::store::SearchQuery {
            text: Some("私下转账".into()),
            text_match,
            limit: 100_000,
            ..Default::default()
        })
        .expect("search")
        .len()
    };
    for s in [&store, &entry] {
        let plain = found(s, msgaudit::store::TextMatch::Plain);
        let normalised = found(s, msgaudit::store::TextMatch::Normalised);
        assert!(
            plain > 0 && normalised > plain,
            "{plain} plain, {normalised} normalised"
        );
    }

    // The names resolver's ids to look up (rooms and customers nobody has named), read from the
    // conversation summaries across the shards: those of the corp's messages, through either server.
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Id {
        id: String,
    }
    for corp in &corps {
        // `??`: the client reads a lone `?` as a placeholder, and the emulator's corp ids have one.
        let literal = corp.replace('?', "??");
        let expected = |sql: String| -> std::collections::BTreeSet<String> {
            c1.fetch_all::<Id>("expected ids", &sql)
                .expect("ids")
                .into_iter()
                .map(|r| r.id)
                .collect()
        };
        let rooms = expected(format!(
            "SELECT DISTINCT room_id AS id FROM we_chat_contact_msg \
             WHERE corp_id = '{literal}' AND room_id != '' \
               AND room_id GLOBAL NOT IN (SELECT chat_id FROM we_group WHERE corp_id = '{literal}')"
        ));
        let customers = expected(format!(
            "SELECT DISTINCT id FROM (SELECT arrayJoin(arrayConcat([from_id], \
               splitByChar(',', to_list))) AS id FROM we_chat_contact_msg WHERE corp_id = '{literal}' \
               AND (room_id != '' OR (from_id != '' AND to_list != '' AND position(to_list, ',') = 0))) \
             WHERE substring(id, 1, 2) IN ('wm', 'wo') \
               AND id GLOBAL NOT IN (SELECT external_userid FROM we_customer WHERE corp_id = '{literal}')"
        ));
        assert!(
            !rooms.is_empty() && !customers.is_empty(),
            "{corp}: the archive has both"
        );
        for s in [&store, &entry] {
            let (mut got_rooms, mut got_customers) = (Vec::new(), Vec::new());
            for id in s.unnamed_ids(corp, 1_000_000).expect("unnamed ids") {
                match id {
                    msgaudit::store::DirectoryId::Group(g) => got_rooms.push(g),
                    msgaudit::store::DirectoryId::Customer(c) => got_customers.push(c),
                }
            }
            let (n_rooms, n_customers) = (got_rooms.len(), got_customers.len());
            let got_rooms: std::collections::BTreeSet<String> = got_rooms.into_iter().collect();
            let got_customers: std::collections::BTreeSet<String> =
                got_customers.into_iter().collect();
            assert_eq!(
                (got_rooms.len(), got_customers.len()),
                (n_rooms, n_customers),
                "once each"
            );
            assert_eq!(got_rooms, rooms, "{corp}");
            assert_eq!(got_customers, customers, "{corp}");
        }
    }

    // Fetching is off, so every attachment's job is pending: the due read (its keys found first,
    // GLOBAL IN across the shards) finds each once, through either server.
    let pending = counts(&c1, "we_chat_media_job FINAL WHERE status = 0");
    assert!(!pending.is_empty(), "the archive has attachments");
    let corps: Vec<String> = pending.iter().map(|(c, _)| c.clone()).collect();
    for s in [&store, &entry] {
        let due = s
            .due_media_jobs(&corps, i64::MAX, 1_000_000)
            .expect("due media jobs");
        let mut per_corp = std::collections::BTreeMap::<String, u64>::new();
        for j in &due {
            *per_corp.entry(j.key.corp_id.clone()).or_default() += 1;
        }
        assert_eq!(per_corp.into_iter().collect::<Vec<_>>(), pending);
        let keys: std::collections::HashSet<_> = due.iter().map(|j| j.key.clone()).collect();
        assert_eq!(keys.len(), due.len(), "a due job read twice");
        let few = s.due_media_jobs(&corps, i64::MAX, 7).expect("due");
        assert_eq!(few.len(), 7.min(due.len()));
        assert_eq!(
            few.iter().map(|j| &j.key).collect::<Vec<_>>(),
            due.iter().take(7).map(|j| &j.key).collect::<Vec<_>>(),
            "oldest first"
        );
    }
}
