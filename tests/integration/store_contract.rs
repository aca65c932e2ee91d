//! The store contract, one suite run against every backend: SQLite (a temp file) and ClickHouse (a
//! fresh database on the suite's server). Each check is written once, against `&dyn Store`.

use msgaudit::message::{DeadReason, MessageRow};

use crate::support::message_row as row;
use msgaudit::store::{
    ActHitRow, BatchOutcome, ContextQuery, DeadLetter, DeadLetterQuery, HitQuery, HitRow,
    MessageQuery, Redrive, SeqCursor, Store, StoreBatch, StoreError,
};

fn dead(corp: &str, seq: u64) -> DeadLetter {
    DeadLetter {
        corp_id: corp.into(),
        seq,
        msg_id: format!("d{seq}"),
        publickey_ver: 3,
        encrypt_random_key: "k".into(),
        encrypt_chat_msg: "m".into(),
        reason: DeadReason::UnknownKeyVersion,
        detail: "no key for version 3".into(),
    }
}

fn a_replayed_batch_changes_nothing(s: &dyn Store) {
    let batch = StoreBatch {
        corp_id: "ww1".into(),
        messages: vec![row("ww1", "a", 1), row("ww1", "b", 2), row("ww1", "a", 1)],
        dead_letters: vec![dead("ww1", 3)],
        checkpoint: 3,
        ..Default::default()
    };
    assert_eq!(
        s.store_batch(&batch).expect("store"),
        BatchOutcome {
            inserted: 2,
            duplicates: 1,
            dead_letters: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        s.store_batch(&batch).expect("replay"),
        BatchOutcome {
            inserted: 0,
            duplicates: 3,
            dead_letters: 0,
            ..Default::default()
        }
    );
    assert_eq!(s.count_messages(Some("ww1")).expect("count"), 2);
    assert_eq!(s.count_messages(None).expect("count"), 2);
    let all = s
        .messages(&MessageQuery {
            limit: 100,
            ..Default::default()
        })
        .expect("messages");
    assert_eq!(all.len(), 2);
    let letters = s
        .dead_letters(&DeadLetterQuery {
            limit: 100,
            ..Default::default()
        })
        .expect("dead letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(s.checkpoint("ww1").expect("checkpoint"), Some(3));
    assert_eq!(s.checkpoint("ww2").expect("checkpoint"), None);
}

fn progress_names_each_corps_checkpoint_newest_message_and_stuck_letters(s: &dyn Store) {
    s.store_batch(&StoreBatch {
        corp_id: "ww1".into(),
        messages: vec![row("ww1", "a", 1), row("ww1", "b", 2)],
        dead_letters: vec![dead("ww1", 3)],
        checkpoint: 3,
        ..Default::default()
    })
    .expect("batch");
    s.store_batch(&StoreBatch {
        corp_id: "ww2".into(),
        messages: vec![row("ww2", "c", 9)],
        checkpoint: 9,
        ..Default::default()
    })
    .expect("batch");
    let p = s.corp_progress().expect("progress");
    assert_eq!(p.len(), 2);
    assert_eq!((p[0].corp_id.as_str(), p[0].checkpoint), ("ww1", 3));
    assert_eq!(p[0].newest_msg_ms, row("ww1", "b", 2).msg_time);
    assert_eq!(p[0].pending_dead.len(), 1);
    assert_eq!(p[0].pending_dead[0].1, 1);
    assert_eq!((p[1].checkpoint, p[1].pending_dead.len()), (9, 0));
}

fn the_checkpoint_never_moves_backwards(s: &dyn Store) {
    for cp in [10, 5] {
        s.store_batch(&StoreBatch {
            corp_id: "ww1".into(),
            checkpoint: cp,
            ..Default::default()
        })
        .expect("store");
    }
    assert_eq!(s.checkpoint("ww1").expect("checkpoint"), Some(10));
}

fn paging_by_seq_visits_every_message_of_every_corp_once(s: &dyn Store) {
    for corp in ["wwb", "wwa"] {
        s.store_batch(&StoreBatch {
            corp_id: corp.into(),
            messages: (1..=5)
                .map(|q| row(corp, &format!("{corp}{q}"), q))
                .collect(),
            checkpoint: 5,
            ..Default::default()
        })
        .expect("store");
    }
    let mut query = MessageQuery {
        by_seq: Some(SeqCursor::default()),
        limit: 3,
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = s.messages(&query).expect("page");
        let Some(last) = page.last() else { break };
        query.by_seq = Some(SeqCursor::after(&last.row.corp_id, last.row.seq));
        seen.extend(page.iter().map(|m| (m.row.corp_id.clone(), m.row.seq)));
    }
    let want: Vec<(String, u64)> = ["wwa", "wwb"]
        .iter()
        .flat_map(|c| (1..=5).map(move |q| (c.to_string(), q)))
        .collect();
    assert_eq!(seen, want);
}

fn queries_filter_and_redrive_resolves(s: &dyn Store) {
    let mut room = row("ww1", "r", 5);
    room.room_id = "wr1".into();
    s.store_batch(&StoreBatch {
        corp_id: "ww1".into(),
        messages: vec![row("ww1", "a", 1), row("ww1", "b", 2), room],
        dead_letters: vec![dead("ww1", 3), dead("ww1", 4)],
        checkpoint: 5,
        ..Default::default()
    })
    .expect("store");
    s.store_batch(&StoreBatch {
        corp_id: "ww2".into(),
        messages: vec![row("ww2", "c", 1)],
        checkpoint: 1,
        ..Default::default()
    })
    .expect("store");
    let q = |f: fn(&mut MessageQuery)| {
        let mut q = MessageQuery {
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        s.messages(&q)
            .expect("query")
            .into_iter()
            .map(|m| m.row.msg_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(q(|q| q.corp_id = Some("ww1".into())), ["a", "b", "r"]);
    assert_eq!(q(|q| q.room_id = Some("wr1".into())), ["r"]);
    assert_eq!(q(|q| q.text = Some("消息 2".into())), ["b"]);
    assert_eq!(
        q(|q| {
            q.since_ms = Some(1_700_000_000_002);
            q.until_ms = Some(1_700_000_000_005)
        }),
        ["b"]
    );
    let pending = s
        .dead_letters(&DeadLetterQuery {
            pending_only: true,
            limit: 10,
            ..Default::default()
        })
        .expect("list");
    assert_eq!(pending.len(), 2);
    s.record_redrive(&[
        Redrive::Resolved {
            letter: Box::new(pending[0].clone()),
            row: Box::new(row("ww1", "d3", 3)),
        },
        Redrive::StillDead {
            letter: Box::new(pending[1].clone()),
            reason: DeadReason::RsaDecrypt,
            detail: "x".into(),
        },
    ])
    .expect("redrive");
    let after = s
        .dead_letters(&DeadLetterQuery {
            limit: 10,
            ..Default::default()
        })
        .expect("list");
    assert_eq!(after.len(), 2);
    assert!(after[0].resolved && after[0].attempts == 2);
    assert!(!after[1].resolved && after[1].letter.reason == DeadReason::RsaDecrypt);
    let still = s
        .dead_letters(&DeadLetterQuery {
            pending_only: true,
            limit: 10,
            ..Default::default()
        })
        .expect("list");
    assert_eq!(still.len(), 1);
    assert_eq!(s.count_messages(Some("ww1")).expect("count"), 4);
}

fn hit(corp: &str, msg: &str, strategy: i64, words: &[&str], t: i64) -> HitRow {
    HitRow {
        corp_id: corp.into(),
        msg_id: msg.into(),
        strategy_id: strategy,
        strategy_name: format!("策略{strategy}"),
        words: words.iter().map(|w| w.to_string()).collect(),
        spans: vec![(0, 6)],
        content: "【私下】转账".into(),
        from_id: "zhangsan".into(),
        to_list: "lisi".into(),
        room_id: if strategy == 2 {
            "wr1".into()
        } else {
            String::new()
        },
        msg_time: 1_700_000_000_000 + t,
        direction: "sent".into(),
        audit_user_id: "wangwu".into(),
        send_status: if strategy == 2 { 3 } else { 0 },
        rules_version: 1,
    }
}

fn act(corp: &str, msg: &str, id: i64, name: &str, t: i64) -> ActHitRow {
    ActHitRow {
        corp_id: corp.into(),
        msg_id: msg.into(),
        sensitive_act_id: id,
        sensitive_act: name.into(),
        operator_id: "zhangsan".into(),
        operator: "张三".into(),
        operate_target_id: "lisi".into(),
        operate_target: "李四".into(),
        detail: "13800138000".into(),
        msg_time: 1_700_000_000_000 + t,
    }
}

fn hits_are_idempotent_filterable_and_counted(s: &dyn Store) {
    let hits = vec![
        hit("ww1", "a", 1, &["私下", "转账"], 1),
        hit("ww1", "a", 2, &["转账"], 1),
        hit("ww1", "b", 1, &["加我微信"], 2),
        hit("ww2", "c", 1, &["私下"], 3),
    ];
    let acts = vec![
        act("ww1", "a", 3, "发送手机号", 1),
        act("ww2", "c", 4, "发送邮箱", 3),
    ];
    assert_eq!(s.store_hits(&hits, &acts).expect("store"), (4, 2));
    assert_eq!(s.store_hits(&hits, &acts).expect("again"), (0, 0));
    // Through a batch too: hits already stored are not doubled.
    let batch = StoreBatch {
        corp_id: "ww1".into(),
        messages: vec![row("ww1", "a", 1)],
        hits: hits[..2].to_vec(),
        act_hits: acts[..1].to_vec(),
        checkpoint: 1,
        ..Default::default()
    };
    let outcome = s.store_batch(&batch).expect("batch");
    assert_eq!((outcome.hits, outcome.act_hits), (0, 0));
    let found = |f: fn(&mut HitQuery)| {
        let mut q = HitQuery {
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        s.hits(&q)
            .expect("hits")
            .into_iter()
            .map(|h| (h.hit.msg_id, h.hit.strategy_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        found(|_| {}),
        [
            ("c".into(), 1),
            ("b".into(), 1),
            ("a".into(), 1),
            ("a".into(), 2)
        ]
    );
    assert_eq!(found(|q| q.corp_id = Some("ww2".into())), [("c".into(), 1)]);
    assert_eq!(found(|q| q.strategy_id = Some(2)), [("a".into(), 2)]);
    assert_eq!(
        found(|q| q.word = Some("转账".into())),
        [("a".into(), 1), ("a".into(), 2)]
    );
    assert_eq!(found(|q| q.word = Some("转".into())), []);
    assert_eq!(found(|q| q.room_id = Some("wr1".into())), [("a".into(), 2)]);
    assert_eq!(found(|q| q.send_status = Some(3)), [("a".into(), 2)]);
    assert_eq!(
        found(|q| {
            q.since_ms = Some(1_700_000_000_002);
            q.until_ms = Some(1_700_000_000_003)
        }),
        [("b".into(), 1)]
    );
    let stored = s
        .hits(&HitQuery {
            corp_id: Some("ww1".into()),
            strategy_id: Some(1),
            word: Some("私下".into()),
            limit: 10,
            ..Default::default()
        })
        .expect("hits");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].hit, hits[0]);
    let acts_found = s
        .act_hits(&HitQuery {
            limit: 10,
            ..Default::default()
        })
        .expect("acts");
    assert_eq!(acts_found, [acts[1].clone(), acts[0].clone()]);
    let counts = s.hit_counts(None).expect("counts");
    assert_eq!(
        counts.strategies,
        [(1, "策略1".to_string(), 3), (2, "策略2".to_string(), 1)]
    );
    assert_eq!(
        counts.acts,
        [("发送手机号".to_string(), 1), ("发送邮箱".to_string(), 1)]
    );
    let ww2 = s.hit_counts(Some("ww2")).expect("counts");
    assert_eq!(ww2.strategies, [(1, "策略1".to_string(), 1)]);
}

fn context_reads_the_conversation_around_a_message(s: &dyn Store) {
    let mut messages: Vec<MessageRow> = (1..=7).map(|q| row("ww1", &format!("m{q}"), q)).collect();
    // A reply in the other direction belongs to the same conversation; another chat does not.
    messages[3].from_id = "lisi".into();
    messages[3].to_list = "zhangsan".into();
    messages[5].to_list = "wangwu".into();
    let mut room = row("ww1", "room", 8);
    room.room_id = "wr1".into();
    messages.push(room);
    s.store_batch(&StoreBatch {
        corp_id: "ww1".into(),
        messages,
        checkpoint: 8,
        ..Default::default()
    })
    .expect("store");
    let ids = |around| {
        s.context(&ContextQuery {
            corp_id: "ww1".into(),
            msg_id: "m4".into(),
            msg_time: row("ww1", "m4", 4).msg_time,
            around,
        })
        .expect("context")
        .into_iter()
        .map(|m| m.row.msg_id)
        .collect::<Vec<_>>()
    };
    assert_eq!(ids(2), ["m2", "m3", "m4", "m5", "m7"]);
    assert_eq!(ids(10), ["m1", "m2", "m3", "m4", "m5", "m7"]);
    let missing = s.context(&ContextQuery {
        corp_id: "ww1".into(),
        msg_id: "nope".into(),
        msg_time: row("ww1", "m4", 4).msg_time,
        around: 2,
    });
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
}

fn rules_round_trip_as_whole_versions(s: &dyn Store) {
    let v0 = s.rules_version().expect("version");
    let rules: msgaudit::audit::RuleSet = serde_json::from_str(
        r#"{"departments": [{"id": 1, "parent_id": 0, "name": "总部"}, {"id": 4, "parent_id": 1, "name": "销售"}],
            "members": [{"userid": "zhangsan", "name": "张三", "departments": [1, 4]},
                        {"userid": "lisi", "name": "李四", "departments": [4]}],
            "strategies": [{"id": 7, "name": "飞单", "words": ["私下转账", "加我微信"], "allow_words": ["微信支付"],
                            "scope": [{"type": 1, "id": "1"}, {"type": 2, "id": "lisi,wangwu"}],
                            "audit_user_id": "wangwu", "audit_user_name": "王五",
                            "enabled": true, "alert": true, "normalize": true, "audit_received": false},
                           {"id": 2, "name": "发票", "words": ["发票"], "enabled": false, "alert": false}],
            "acts": [{"id": 3, "name": "发送手机号", "enabled": false}]}"#,
    )
    .expect("rules");
    let v1 = s.save_rules(&rules).expect("save");
    assert!(v1 > v0, "{v1} > {v0}");
    assert_eq!(s.rules_version().expect("version"), v1);
    let loaded = s.load_rules().expect("load");
    assert_eq!(loaded.departments, rules.departments);
    assert_eq!(loaded.members, rules.members);
    let mut want = rules.strategies.clone();
    want.sort_by_key(|st| st.id);
    assert_eq!(loaded.strategies, want);
    assert_eq!(loaded.acts.len(), 7);
    for a in &loaded.acts {
        assert_eq!(a.enabled, a.id != 3, "{a:?}");
    }
    // A smaller rule set replaces the whole of the previous one.
    let mut smaller = rules.clone();
    smaller.strategies.truncate(1);
    smaller.members.truncate(1);
    smaller.acts[0].enabled = true;
    let v2 = s.save_rules(&smaller).expect("save");
    assert!(v2 > v1);
    let loaded = s.load_rules().expect("load");
    assert_eq!(loaded.strategies, smaller.strategies);
    assert_eq!(loaded.members, smaller.members);
    assert!(loaded.acts.iter().all(|a| a.enabled));
}

fn the_alert_outbox_claims_records_and_settles(s: &dyn Store) {
    use msgaudit::alert::PostQuery;
    use msgaudit::alert::{AlertPost, Destination, HitKey, PostStatus, Robot};
    let hits = vec![
        hit("ww1", "a", 1, &["私下"], 1),
        hit("ww1", "b", 3, &["转账"], 2),
        hit("ww1", "c", 2, &["私下"], 3), // send_status 3: no alert wanted
    ];
    s.store_hits(&hits, &[]).expect("hits");
    assert_eq!(s.alert_backlog().expect("backlog"), 2);
    let pending = s.pending_alerts(10).expect("pending");
    let ids: Vec<&str> = pending.iter().map(|p| p.hit.msg_id.as_str()).collect();
    assert_eq!(ids, ["a", "b"], "oldest first, only unsettled ones");
    assert!(pending.iter().all(|p| p.links.is_empty()));

    let robot = Robot {
        id: 0,
        group_name: "合规群".into(),
        web_hook_url: "https://example.invalid/cgi-bin/webhook/send?key=K".into(),
        corp_id: "ww1".into(),
        strategy_ids: vec![1, 3],
        msg_type: "markdown".into(),
    };
    let id = s.add_robot(&robot).expect("robot");
    let other = s.add_robot(&robot).expect("second robot");
    assert_ne!(id, other);
    s.remove_robot(other).expect("removed");
    assert!(matches!(
        s.remove_robot(other + 100),
        Err(StoreError::NotFound { .. })
    ));
    let robots = s.robots().expect("robots");
    assert_eq!(robots.len(), 1);
    assert_eq!(
        robots[0],
        Robot {
            id,
            ..robot.clone()
        }
    );

    let mut post = AlertPost {
        id: 77,
        destination: Destination::Robot(id),
        title: "敏感词告警汇总".into(),
        msg_type: "markdown".into(),
        content: r#"{"msgtype":"markdown"}"#.into(),
        hits: hits[..2].iter().map(HitKey::of).collect(),
        status: PostStatus::Pending,
        attempts: 0,
        next_attempt_ms: 1_000,
        last_error: String::new(),
        send_time_ms: 0,
        create_time_ms: 1_000,
    };
    s.record_post(&post, &[]).expect("claim");
    s.record_post(&post, &[])
        .expect("claim again (a resumed post)");
    let pending = s.pending_alerts(10).expect("pending");
    for p in &pending {
        assert_eq!(p.links.len(), 1, "{p:?}");
        assert_eq!(p.links[0].post_id, 77);
        assert_eq!(p.links[0].status, PostStatus::Pending);
        assert_eq!(p.links[0].destination, Destination::Robot(id));
    }
    post.attempts = 1;
    post.last_error = "HTTP 503 from the server".into();
    post.next_attempt_ms = 2_000;
    s.record_post(&post, &[]).expect("a failed attempt");
    let open = s
        .posts(&PostQuery {
            status: Some(PostStatus::Pending),
            limit: 10,
            ..PostQuery::default()
        })
        .expect("open posts");
    assert_eq!(open, [post.clone()], "the latest state, whole");

    post.attempts = 2;
    post.status = PostStatus::Sent;
    post.send_time_ms = 3_000;
    post.last_error.clear();
    s.record_post(&post, &[(hits[0].clone(), 1)])
        .expect("sent, first hit settled");
    assert_eq!(s.alert_backlog().expect("backlog"), 1);
    let pending = s.pending_alerts(10).expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].links[0].status, PostStatus::Sent);
    s.settle_alerts(&[(hits[1].clone(), 2)]).expect("settled");
    assert_eq!(s.alert_backlog().expect("backlog"), 0);
    let status_of = |status: u8| {
        s.hits(&HitQuery {
            send_status: Some(status),
            limit: 10,
            ..HitQuery::default()
        })
        .expect("hits")
        .into_iter()
        .map(|h| h.hit.msg_id)
        .collect::<Vec<_>>()
    };
    assert_eq!(
        (status_of(0), status_of(1), status_of(2), status_of(3)),
        (
            vec![],
            vec!["a".to_owned()],
            vec!["b".to_owned()],
            vec!["c".to_owned()]
        )
    );
    let all = s
        .posts(&PostQuery {
            limit: 10,
            ..PostQuery::default()
        })
        .expect("posts");
    assert_eq!(all, [post], "one post, in its final state");
    assert!(
        s.posts(&PostQuery {
            since_ms: Some(2_000),
            limit: 10,
            ..PostQuery::default()
        })
        .expect("posts")
        .is_empty()
    );
}

fn workspace_queries_filter_page_count_and_log(s: &dyn Store) {
    use msgaudit::store::{Account, HitCursor, OperLog, Role};
    let mut hits = Vec::new();
    for i in 0..12i64 {
        let mut h = hit(
            "ww1",
            &format!("w{i:02}"),
            1 + i % 3,
            &["私下"],
            i * 3_600_000 * 10,
        );
        h.to_list = if i % 2 == 0 {
            "lisi,wangwu".into()
        } else {
            "zhaoliu".into()
        };
        hits.push(h);
    }
    let acts = vec![
        act("ww1", "w00", 3, "发送手机号", 0),
        act("ww1", "w01", 4, "发送邮箱", 36_000_000),
    ];
    s.store_hits(&hits, &acts).expect("hits");
    let ids = |q: &HitQuery| -> Vec<String> {
        s.hits(q)
            .expect("hits")
            .into_iter()
            .map(|h| h.hit.msg_id)
            .collect()
    };
    let all = HitQuery {
        limit: 100,
        ..HitQuery::default()
    };
    assert_eq!(ids(&all).len(), 12);
    let only = |f: fn(&mut HitQuery)| {
        let mut q = all.clone();
        f(&mut q);
        ids(&q)
    };
    assert_eq!(
        only(|q| q.strategy_ids = Some(vec![])),
        Vec::<String>::new()
    );
    assert_eq!(only(|q| q.strategy_ids = Some(vec![1, 3])).len(), 8);
    assert_eq!(only(|q| q.to_id = Some("wangwu".into())).len(), 6);
    assert_eq!(
        only(|q| q.to_id = Some("wang".into())).len(),
        0,
        "whole ids only"
    );
    assert_eq!(only(|q| q.msg_id = Some("w05".into())), ["w05"]);
    // Keyset pages of 5 visit every hit once, newest first.
    let mut seen = Vec::new();
    let mut q = HitQuery {
        limit: 5,
        ..HitQuery::default()
    };
    loop {
        let page = s.hits(&q).expect("page");
        seen.extend(page.iter().map(|h| h.hit.msg_id.clone()));
        match page.last() {
            Some(last) if page.len() == 5 => {
                q.after = Some(HitCursor {
                    msg_time: last.hit.msg_time,
                    msg_id: last.hit.msg_id.clone(),
                    id: last.hit.strategy_id,
                })
            }
            _ => break,
        }
    }
    let expected: Vec<String> = (0..12).rev().map(|i| format!("w{i:02}")).collect();
    assert_eq!(seen, expected);
    let act_ids = |q: &HitQuery| -> Vec<i64> {
        s.act_hits(q)
            .expect("acts")
            .into_iter()
            .map(|a| a.sensitive_act_id)
            .collect()
    };
    assert_eq!(act_ids(&all), [4, 3]);
    let mut q = all.clone();
    q.act_id = Some(3);
    assert_eq!(act_ids(&q), [3]);
    q.act_id = None;
    q.operator_ids = Some(vec!["someone".into()]);
    assert_eq!(act_ids(&q), Vec::<i64>::new());
    q.operator_ids = Some(vec!["zhangsan".into()]);
    assert_eq!(act_ids(&q).len(), 2);

    let days = s.daily_counts(&all).expect("daily");
    let strategy_total: u64 = days
        .iter()
        .filter(|d| d.kind == "strategy")
        .map(|d| d.count)
        .sum();
    assert_eq!(strategy_total, 12);
    assert_eq!(days.iter().filter(|d| d.kind == "behaviour").count(), 2);
    for kind in ["strategy", "behaviour"] {
        let of_kind: Vec<&str> = days
            .iter()
            .filter(|d| d.kind == kind)
            .map(|d| d.day.as_str())
            .collect();
        assert!(of_kind.windows(2).all(|w| w[0] <= w[1]), "{days:?}");
    }
    assert_eq!(days[0].day, "2023-11-14");

    let account = Account {
        user_name: "wangwu".into(),
        we_user_id: "wangwu".into(),
        role: Role::Auditor,
        secret_hash: "scrypt$15$AAAA$BBBB".into(),
        disabled: false,
        create_time_ms: 5,
    };
    s.save_account(&account).expect("account");
    s.save_account(&Account {
        disabled: true,
        ..account.clone()
    })
    .expect("disable");
    assert_eq!(
        s.accounts().expect("accounts"),
        [Account {
            disabled: true,
            ..account
        }]
    );
    let op = OperLog {
        title: "导出命中".into(),
        method: "export_csv".into(),
        request_method: "GET".into(),
        oper_name: "wangwu".into(),
        oper_url: "/api/export.csv".into(),
        oper_ip: "127.0.0.1".into(),
        oper_param: "strategy=1".into(),
        status: 0,
        oper_time_ms: 42,
    };
    s.log_operation(&op).expect("log");
    assert_eq!(s.operations(5).expect("ops"), [op]);
}

/// One `#[test]` per check and backend.
macro_rules! contract {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $check() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let store = msgaudit::store::SqliteStore::open(dir.path().join("t.db"))
                        .expect("open");
                    super::$check(&store);
                }
            )*
        }
        mod clickhouse {
            $(
                #[test]
                fn $check() {
                    let url = crate::support::clickhouse_url(stringify!($check));
                    let store = msgaudit::store::clickhouse::ClickHouseStore::open(&url)
                        .expect("open");
                    super::$check(&store);
                    store.drop_database().expect("drop the test database");
                }
            )*
        }
    };
}

contract!(
    a_replayed_batch_changes_nothing,
    the_checkpoint_never_moves_backwards,
    paging_by_seq_visits_every_message_of_every_corp_once,
    queries_filter_and_redrive_resolves,
    hits_are_idempotent_filterable_and_counted,
    context_reads_the_conversation_around_a_message,
    rules_round_trip_as_whole_versions,
    the_alert_outbox_claims_records_and_settles,
    workspace_queries_filter_page_count_and_log,
    progress_names_each_corps_checkpoint_newest_message_and_stuck_letters,
);
