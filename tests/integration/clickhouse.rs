//! The ClickHouse backend against a real server (Debian's 18.16 in CI).

use msgaudit::store::clickhouse::{ClickHouseUrl, Connection};

use crate::support;

#[derive(clickhouse::Row, serde::Deserialize)]
struct Named {
    name: String,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct Applied {
    version: u32,
    name: String,
}

#[test]
fn migrate_creates_every_table_once_and_is_idempotent() {
    let url = support::clickhouse_url("migrate");
    for expected in ["9 migration(s) applied", "0 migration(s) applied"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_msgaudit"))
            .args(["migrate", "--store", &url])
            .output()
            .expect("run msgaudit migrate");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(expected), "{stdout}");
    }
    let conn = Connection::new(ClickHouseUrl::parse(&url).expect("url")).expect("connection");
    let tables: Vec<String> = conn
        .fetch_all::<Named>(
            "listing tables",
            &format!(
                "SELECT name FROM system.tables WHERE database = '{}' ORDER BY name",
                conn.database()
            ),
        )
        .expect("tables")
        .into_iter()
        .map(|t| t.name)
        .collect();
    for table in [
        "msgaudit_schema_migrations",
        "we_chat_contact_msg",
        "we_chat_msg_checkpoint",
        "we_chat_msg_dead_letter",
        "we_corp_account",
        "we_sensitive",
        "we_sensitive_audit_scope",
        "sys_dept",
        "sys_user",
        "sys_user_dept",
        "we_sensitive_act",
        "we_chat_contact_sensitive_msg",
        "we_sensitive_act_hit",
        "msgaudit_rules_version",
        "we_group_robot_info",
        "we_group_robot_msg",
        "we_group_robot_msg_hit",
        "msgaudit_account",
        "sys_oper_log",
        "we_chat_media_job",
        "we_chat_media_file",
        "msgaudit_url_allow",
        "we_chat_msg_folded",
        "we_customer",
        "we_group",
        "we_group_member",
        "we_sensitive_review",
        "we_sensitive_review_log",
        "we_chat_conversation",
        "we_chat_conversation_mv",
        "we_chat_conversation_people",
        "we_chat_conversation_people_mv",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing: {tables:?}"
        );
    }
    let applied = conn
        .fetch_all::<Applied>(
            "reading migrations",
            "SELECT version, name FROM msgaudit_schema_migrations FINAL ORDER BY version",
        )
        .expect("migrations");
    let applied: Vec<(u32, String)> = applied.into_iter().map(|a| (a.version, a.name)).collect();
    assert_eq!(
        applied,
        [
            (1, "messages".into()),
            (2, "audit".into()),
            (3, "alerts".into()),
            (4, "workspace".into()),
            (5, "media".into()),
            (6, "archive".into()),
            (7, "review".into()),
            (8, "audit_round2".into()),
            (9, "conversations".into())
        ]
    );
    let acts = conn
        .fetch_all::<Named>(
            "reading behaviours",
            "SELECT act_name AS name FROM we_sensitive_act FINAL ORDER BY id",
        )
        .expect("acts");
    assert_eq!(
        acts.len(),
        11,
        "the catalogue, 发送二维码 and round 2 included"
    );
    assert_eq!(acts[2].name, "发送手机号");
    assert_eq!(acts[10].name, "发送QQ号");
    conn.execute_on_server(
        "dropping the test database",
        &format!("DROP DATABASE IF EXISTS {}", conn.database()),
    )
    .expect("drop");
}

#[test]
fn the_schema_state_is_read_without_creating_or_migrating_anything() {
    let url = support::clickhouse_url("schema_state");
    let conn = Connection::new(ClickHouseUrl::parse(&url).expect("url")).expect("connection");
    let fresh = msgaudit::store::schema_state(&url).expect("a fresh database reads");
    assert_eq!(fresh.applied, None);
    assert_eq!(fresh.latest, 9);
    // Any query in the database fails: it does not exist (code 81).
    let absent = conn
        .fetch_all::<Named>("listing tables", "SELECT name FROM system.tables LIMIT 1")
        .map(drop)
        .expect_err("reading the schema created the database");
    assert!(absent.to_string().contains("Code: 81"), "{absent}");

    let store = msgaudit::store::clickhouse::ClickHouseStore::open(&url).expect("open");
    let current = msgaudit::store::schema_state(&url).expect("read");
    assert_eq!(current.applied, Some(9));
    // `msgaudit check` over it: current, and opening it there migrates nothing.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = support::write_config_for(dir.path(), &url, "messages=10", &[1], "");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .args(["check", "--offline", "--config"])
        .arg(&config)
        .output()
        .expect("msgaudit check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("schema 9, current"), "{stdout}");
    store.drop_database().expect("drop");
}

#[test]
fn an_unreachable_server_is_a_clear_error_without_the_password() {
    for command in [
        &["migrate"][..],
        &["hits"],
        &["messages"],
        &["rules", "list"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_msgaudit"))
            .args(command)
            .args(["--store", "clickhouse://audit:hunter2@127.0.0.1:1/x"])
            .output()
            .expect("run msgaudit");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command:?}");
        assert!(!stderr.contains("hunter2"), "{command:?}: {stderr}");
        assert!(stderr.contains("127.0.0.1:1"), "{command:?}: {stderr}");
        assert!(stderr.contains("is the server up"), "{command:?}: {stderr}");
    }
}

#[test]
fn the_demo_runs_end_to_end_on_clickhouse_and_the_query_commands_read_it() {
    let url = support::clickhouse_url("demo");
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_msgaudit"))
            .args(args)
            .output()
            .expect("run msgaudit");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let data = dir.path().to_str().expect("utf-8 path");
    let summary = run(&[
        "demo",
        "--messages",
        "2000",
        "--data-dir",
        data,
        "--store",
        &url,
    ]);
    assert!(
        summary.contains("every good message stored exactly once"),
        "{summary}"
    );
    let config = dir.path().join("demo.toml");
    let config = config.to_str().expect("utf-8 path");
    let hits = run(&[
        "hits", "--config", config, "--format", "json", "--limit", "5",
    ]);
    assert_eq!(hits.lines().count(), 5, "{hits}");
    let messages = run(&[
        "messages", "--config", config, "--text", "发票", "--limit", "3",
    ]);
    assert_eq!(
        messages.lines().filter(|l| l.contains("发票")).count(),
        3,
        "{messages}"
    );
    let store = msgaudit::store::clickhouse::ClickHouseStore::open(&url).expect("open");
    store.drop_database().expect("drop");
}

#[test]
fn a_batch_replayed_by_a_restarted_writer_is_stored_once() {
    use msgaudit::store::StoreBatch;
    use msgaudit::store::clickhouse::ClickHouseStore;
    use msgaudit::store::prelude::*;
    let url = support::clickhouse_url("replay");
    let row = |seq: u64| support::message_row("ww1", &format!("m{seq}"), seq);
    let batch = |seqs: std::ops::RangeInclusive<u64>| StoreBatch {
        corp_id: "ww1".into(),
        checkpoint: *seqs.end(),
        messages: seqs.map(row).collect(),
        ..Default::default()
    };
    let first = ClickHouseStore::open(&url).expect("open");
    assert_eq!(first.store_batch(&batch(1..=3)).expect("store").inserted, 3);
    // The process dies after inserting 4..=5 but before their checkpoint: a new process replays
    // from its checkpoint, 4..=6 again with more.
    let restarted = ClickHouseStore::open(&url).expect("reopen");
    assert_eq!(restarted.checkpoint("ww1").expect("checkpoint"), Some(3));
    let partial = batch(4..=5);
    first.store_batch(&partial).expect("store");
    let replay = restarted.store_batch(&batch(1..=6)).expect("replay");
    assert_eq!((replay.inserted, replay.duplicates), (1, 5));
    // Past its frontier the writer trusts what it wrote.
    let next = restarted.store_batch(&batch(7..=9)).expect("next");
    assert_eq!((next.inserted, next.duplicates), (3, 0));
    assert_eq!(restarted.count_messages(Some("ww1")).expect("count"), 9);
    restarted.drop_database().expect("drop");
}

#[test]
fn upgrading_to_the_archive_folds_the_messages_already_stored() {
    use msgaudit::store::prelude::*;
    use msgaudit::store::{SearchQuery, StoreBatch, TextMatch};
    let url = support::clickhouse_url("fold_upgrade");
    let store = msgaudit::store::clickhouse::ClickHouseStore::open(&url).expect("open");
    let mut m = support::message_row("ww1", "old", 1);
    m.plain_text = "私 下 轉 賬 可以打折".into();
    store
        .store_batch(&StoreBatch {
            corp_id: "ww1".into(),
            messages: vec![m],
            checkpoint: 1,
            ..StoreBatch::default()
        })
        .expect("store");
    // Back to the schema before the archive: no folded text, migrations 1–5 recorded.
    let conn = Connection::new(ClickHouseUrl::parse(&url).expect("url")).expect("connection");
    for sql in [
        "DROP TABLE we_chat_msg_folded",
        "DROP TABLE msgaudit_schema_migrations",
        "CREATE TABLE msgaudit_schema_migrations (version UInt32, name String, applied_at UInt64) \
         ENGINE = ReplacingMergeTree(applied_at) ORDER BY version",
        "INSERT INTO msgaudit_schema_migrations VALUES (1, 'messages', 1), (2, 'audit', 1), \
         (3, 'alerts', 1), (4, 'workspace', 1), (5, 'media', 1)",
    ] {
        conn.execute("rewinding the schema", sql).expect(sql);
    }
    drop(store);
    let store = msgaudit::store::clickhouse::ClickHouseStore::open(&url).expect("upgrade");
    let found = store
        .search(&SearchQuery {
            text: Some("私下转账".into()),
            text_match: TextMatch::Normalised,
            limit: 10,
            ..SearchQuery::default()
        })
        .expect("search");
    assert_eq!(
        found.len(),
        1,
        "the message stored before the upgrade is found normalised"
    );
    store.drop_database().expect("drop");
}

#[test]
fn upgrading_to_conversation_summaries_counts_every_stored_message_once() {
    use msgaudit::message::Conversation;
    use msgaudit::store::StoreBatch;
    use msgaudit::store::prelude::*;
    use msgaudit::store::{ConversationQuery, Visible};
    // support::message_row's times: this plus the seq.
    const T0: i64 = 1_700_000_000_000;
    let url = support::clickhouse_url("conversation_upgrade");
    let store = msgaudit::store::clickhouse::ClickHouseStore::open(&url).expect("open");
    let conn = Connection::new(ClickHouseUrl::parse(&url).expect("url")).expect("connection");
    // Back to the schema before the summaries: no views, no summaries, migrations 1–8 recorded.
    for sql in [
        "DROP TABLE we_chat_conversation_mv",
        "DROP TABLE we_chat_conversation_people_mv",
        "DROP TABLE we_chat_conversation",
        "DROP TABLE we_chat_conversation_people",
        "DROP TABLE msgaudit_schema_migrations",
        "CREATE TABLE msgaudit_schema_migrations (version UInt32, name String, applied_at UInt64) \
         ENGINE = ReplacingMergeTree(applied_at) ORDER BY version",
        "INSERT INTO msgaudit_schema_migrations VALUES (1, 'messages', 1), (2, 'audit', 1), \
         (3, 'alerts', 1), (4, 'workspace', 1), (5, 'media', 1), (6, 'archive', 1), \
         (7, 'review', 1), (8, 'audit_round2', 1)",
    ] {
        conn.execute("rewinding the schema", sql).expect(sql);
    }
    // Stored under the old schema: a pair's two messages (one of them twice over, as a second
    // writer could leave it before a merge) and a room's one.
    let pair = |id: &str, seq: u64| {
        let mut m = support::message_row("ww1", id, seq);
        m.from_id = "zhangsan".into();
        m.to_list = "wmCustomer".into();
        m.room_id = String::new();
        m
    };
    let mut room = support::message_row("ww1", "r1", 5);
    room.room_id = "wrRoom".into();
    room.from_id = "lisi".into();
    room.to_list = "zhangsan,wangwu".into();
    let batch = |messages, checkpoint| StoreBatch {
        corp_id: "ww1".into(),
        messages,
        checkpoint,
        ..StoreBatch::default()
    };
    store
        .store_batch(&batch(vec![pair("p1", 1), pair("p2", 2), room], 4))
        .expect("store");
    conn.execute(
        "a second copy of p2",
        "INSERT INTO we_chat_contact_msg SELECT * FROM we_chat_contact_msg WHERE msg_id = 'p2'",
    )
    .expect("copy");
    drop(store);

    // The upgrade summarises them, each message once; running it again changes nothing.
    for round in 0..2 {
        if round == 1 {
            conn.execute(
                "forgetting the conversations migration",
                "ALTER TABLE msgaudit_schema_migrations DELETE WHERE version = 9",
            )
            .expect("forget");
            wait_for_mutations(&conn);
        }
        let store = msgaudit::store::clickhouse::ClickHouseStore::open(&url).expect("upgrade");
        let listed = store
            .conversations(&ConversationQuery {
                corp_id: Some("ww1".into()),
                limit: 10,
                ..ConversationQuery::default()
            })
            .expect("list");
        let summary: Vec<(String, u64, i64, i64)> = listed
            .iter()
            .map(|c| {
                (
                    c.conversation.key(),
                    c.msg_count,
                    c.first_msg_time,
                    c.last_msg_time,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("r:wrRoom".to_owned(), 1, T0 + 5, T0 + 5),
                ("p:wmCustomer|zhangsan".to_owned(), 2, T0 + 1, T0 + 2),
            ],
            "round {round}"
        );
        // Who took part: wangwu only received in the room.
        let seen_by = |ids: &[&str]| {
            let visible: Visible = Some(ids.iter().map(|s| s.to_string()).collect());
            let mut keys: Vec<String> = store
                .conversations(&ConversationQuery {
                    visible,
                    limit: 10,
                    ..ConversationQuery::default()
                })
                .expect("visible")
                .iter()
                .map(|c| c.conversation.key())
                .collect();
            keys.sort();
            keys
        };
        assert_eq!(seen_by(&["wangwu"]), ["r:wrRoom"]);
        assert_eq!(seen_by(&["zhangsan"]).len(), 2);
        assert!(seen_by(&["nobody"]).is_empty());
        let room = Conversation::Room("wrRoom".into());
        assert_eq!(
            store
                .conversation("ww1", &room, &None)
                .expect("one")
                .map(|c| c.msg_count),
            Some(1)
        );
        // New messages count through the views at once.
        if round == 1 {
            store
                .store_batch(&batch(vec![pair("p9", 9)], 5))
                .expect("store");
            let listed = store
                .conversations(&ConversationQuery {
                    corp_id: Some("ww1".into()),
                    limit: 1,
                    ..ConversationQuery::default()
                })
                .expect("list");
            assert_eq!(
                listed
                    .iter()
                    .map(|c| (c.conversation.key(), c.msg_count, c.last_msg_time))
                    .collect::<Vec<_>>(),
                [("p:wmCustomer|zhangsan".to_owned(), 3, T0 + 9)]
            );
            store.drop_database().expect("drop");
        }
    }
}

/// Waits until the database's mutations are done (an `ALTER … DELETE` runs in the background).
fn wait_for_mutations(conn: &Connection) {
    for _ in 0..100 {
        let pending: Vec<Named> = conn
            .fetch_all(
                "reading mutations",
                &format!(
                    "SELECT mutation_id AS name FROM system.mutations WHERE database = '{}' AND is_done = 0",
                    conn.database()
                ),
            )
            .expect("mutations");
        if pending.is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("mutations still running");
}

/// Two fetchers storing the same voice at once, each finding no file row first: the one whose
/// copy failed writes its row after the one with the copy. The copy must stay (on SQLite the
/// upsert keeps it; here the row with a copy outranks any version without one).
#[test]
fn a_racing_fetcher_without_a_copy_never_takes_the_copy_away() {
    use msgaudit::store::prelude::*;
    use msgaudit::store::{MediaFile, MediaOutcome, StoreBatch};
    let url = support::clickhouse_url("copy_race");
    let store = msgaudit::store::clickhouse::ClickHouseStore::open(&url).expect("open");
    let conn = Connection::new(ClickHouseUrl::parse(&url).expect("url")).expect("connection");
    let mut m = support::message_row("ww1", "v1", 1);
    m.msg_type = "voice".into();
    m.attachments = vec![msgaudit::message::Attachment {
        item: 0,
        kind: msgaudit::message::MediaKind::Voice,
        sdkfileid: "F1".into(),
        md5sum: "ab".repeat(16),
        size: 64,
        file_name: String::new(),
    }];
    store
        .store_batch(&StoreBatch {
            corp_id: "ww1".into(),
            messages: vec![m],
            checkpoint: 1,
            ..StoreBatch::default()
        })
        .expect("store");
    let job = store
        .due_media_jobs(&["ww1".to_owned()], i64::MAX, 10)
        .expect("due")
        .remove(0);
    let file = MediaFile {
        md5: "ab".repeat(16),
        size: 64,
        content_type: "audio/amr".into(),
        playable_type: "audio/mpeg".into(),
        qr_codes: String::new(),
        create_time: 1,
    };
    store
        .record_media_outcome(
            &job,
            &MediaOutcome::Done {
                file,
                note: String::new(),
            },
        )
        .expect("done");
    // The other fetcher's row, as it writes it: no copy, a later version by the clock.
    conn.execute(
        "the racing fetcher's row",
        &format!(
            "INSERT INTO we_chat_media_file VALUES ('{}', 64, 'audio/amr', '', '', {})",
            "ab".repeat(16),
            u64::MAX >> 3
        ),
    )
    .expect("insert");
    let stored = store
        .media_file(&"ab".repeat(16), 64)
        .expect("read")
        .expect("the file");
    assert_eq!(stored.playable_type, "audio/mpeg");
    assert!(stored.create_time < 1 << 62, "{}", stored.create_time);
    assert!(
        store.files_without_copy(None, 10).expect("list").is_empty(),
        "nothing for `media playable` to do"
    );
    store.drop_database().expect("drop");
}
