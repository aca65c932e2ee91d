//! Hits and their queries (`HitStore`): idempotent inserts, filters, paging, counts, context.

use super::*;
use msgaudit::message::MessageRow;

use crate::support::message_row as row;
use msgaudit::store::{ContextQuery, HitKind, HitQuery, HitRow, Store, StoreBatch, StoreError};
use msgaudit::timefmt::Zone;

pub(super) fn hits_are_idempotent_filterable_and_counted(s: &dyn Store) {
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
    // What a re-audit writes: a store may leave out the hits it has (SQLite does), and must keep
    // every one it has not.
    let fresh_hit = hit("ww1", "z", 1, &["私下"], 9);
    let fresh_act = act("ww2", "z", 3, "发送手机号", 9);
    let (unstored, unstored_acts) = s
        .unstored_hits(
            [hits.clone(), vec![fresh_hit]].concat(),
            [acts.clone(), vec![fresh_act]].concat(),
        )
        .expect("unstored");
    let ids = |rows: Vec<&str>| rows.into_iter().filter(|m| *m == "z").count();
    assert_eq!(ids(unstored.iter().map(|h| h.msg_id.as_str()).collect()), 1);
    assert_eq!(
        ids(unstored_acts.iter().map(|h| h.msg_id.as_str()).collect()),
        1
    );
    assert!(
        (unstored.len(), unstored_acts.len()) == (1, 1)
            || (unstored.len(), unstored_acts.len()) == (hits.len() + 1, acts.len() + 1),
        "either exactly the new ones or all of them"
    );
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

    // Hits months apart (a store may look up a page's hits by their time range) are still found
    // when stored again, with the same ids at other times and in other corps left alone.
    let apart = vec![
        hit("ww3", "far1", 1, &["私下"], 0),
        hit("ww3", "far2", 1, &["私下"], 7_776_000_000),
        hit("ww3", "far3", 2, &["转账"], 15_552_000_000),
    ];
    let apart_acts = vec![
        act("ww3", "far1", 3, "发送手机号", 0),
        act("ww3", "far3", 3, "发送手机号", 15_552_000_000),
    ];
    assert_eq!(s.store_hits(&apart, &apart_acts).expect("apart"), (3, 2));
    assert_eq!(
        s.store_hits(&apart[1..], &apart_acts[1..]).expect("again"),
        (0, 0)
    );
    assert_eq!(s.store_hits(&apart, &apart_acts).expect("again"), (0, 0));
    let elsewhere = vec![hit("ww4", "far2", 1, &["私下"], 7_776_000_000)];
    assert_eq!(s.store_hits(&elsewhere, &[]).expect("other corp"), (1, 0));
}

pub(super) fn context_reads_the_conversation_around_a_message(s: &dyn Store) {
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

pub(super) fn hits_are_found_by_conversation(s: &dyn Store) {
    use msgaudit::message::Conversation;
    let from_to = |msg: &str, t: i64, from: &str, to: &str, room: &str| HitRow {
        from_id: from.into(),
        to_list: to.into(),
        room_id: room.into(),
        ..hit("ww1", msg, 1, &["私下"], t)
    };
    let hits = vec![
        from_to("sent", 1, "zhangsan", "lisi", ""),
        from_to("answered", 2, "lisi", "zhangsan", ""),
        from_to("in-group", 3, "zhangsan", "lisi", "wr1"),
        from_to("to-two", 4, "zhangsan", "lisi,wangwu", ""),
        from_to("other-pair", 5, "zhangsan", "wangwu", ""),
        HitRow {
            corp_id: "ww2".into(),
            ..from_to("other-corp", 6, "zhangsan", "lisi", "")
        },
    ];
    s.store_hits(&hits, &[]).expect("store");
    let found = |corp: Option<&str>, c: Conversation| {
        s.hits(&HitQuery {
            corp_id: corp.map(str::to_owned),
            conversation: Some(c),
            limit: 100,
            ..Default::default()
        })
        .expect("hits")
        .into_iter()
        .map(|h| h.hit.msg_id)
        .collect::<Vec<_>>()
    };
    // Both directions of the pair, outside any group, in one corp; newest first.
    assert_eq!(
        found(Some("ww1"), Conversation::pair("lisi", "zhangsan")),
        ["answered", "sent"]
    );
    assert_eq!(
        found(None, Conversation::pair("zhangsan", "lisi")),
        ["other-corp", "answered", "sent"]
    );
    assert_eq!(
        found(Some("ww1"), Conversation::Room("wr1".into())),
        ["in-group"]
    );
    assert_eq!(
        found(Some("ww1"), Conversation::pair("wangwu", "zhangsan")),
        ["other-pair"]
    );
    assert!(found(Some("ww1"), Conversation::pair("lisi", "wangwu")).is_empty());
}

pub(super) fn workspace_queries_filter_page_and_count(s: &dyn Store) {
    use msgaudit::store::HitCursor;
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
        if i % 4 == 0 {
            h.from_id = "lisi".into();
        }
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
    // By sender and by group (SQLite reads each through its own index), with and without the
    // corp, and both at once.
    assert_eq!(
        only(|q| q.from_id = Some("lisi".into())),
        ["w08", "w04", "w00"]
    );
    assert_eq!(
        only(|q| {
            q.corp_id = Some("ww1".into());
            q.from_id = Some("lisi".into());
        }),
        ["w08", "w04", "w00"]
    );
    assert_eq!(
        only(|q| {
            q.corp_id = Some("ww1".into());
            q.room_id = Some("wr1".into());
        }),
        ["w10", "w07", "w04", "w01"]
    );
    assert_eq!(
        only(|q| {
            q.from_id = Some("lisi".into());
            q.room_id = Some("wr1".into());
        }),
        ["w04"]
    );
    let from_lisi = HitQuery {
        corp_id: Some("ww1".into()),
        from_id: Some("lisi".into()),
        ..all.clone()
    };
    assert_eq!(
        s.hit_totals(HitKind::Strategy, &from_lisi)
            .expect("totals")
            .total(),
        3
    );
    let lisi_days: u64 = s
        .daily_counts(&from_lisi, &Zone::utc())
        .expect("daily")
        .iter()
        .filter(|d| d.kind == "strategy")
        .map(|d| d.count)
        .sum();
    assert_eq!(lisi_days, 3);
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
    q.operator_ids = None;
    q.from_id = Some("zhangsan".into());
    assert_eq!(act_ids(&q), [4, 3]);
    q.from_id = Some("lisi".into());
    assert_eq!(act_ids(&q), Vec::<i64>::new());

    let days = s.daily_counts(&all, &Zone::utc()).expect("daily");
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
}

/// Newest first, page by page, over hits from an hour to years old, in both tables: each page
/// is the next in order (a store may read recent time first and widen it), with and without
/// `since` and `until`.
pub(super) fn pages_run_newest_first_across_years(s: &dyn Store) {
    use msgaudit::store::HitCursor;
    let now = now_ms();
    // Hours ago: within a day, a week, two months, a year, ten years, and one in the future.
    let ages = [1, 2, 30, 31, 200, 1_500, 9_000, 80_000, 87_000, -5];
    let hits: Vec<HitRow> = ages
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let mut x = hit("ww5", &format!("y{i:02}"), 1, &["私下"], 0);
            x.msg_time = now - h * HOUR;
            x
        })
        .collect();
    let acts: Vec<ActHitRow> = ages
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let mut a = act("ww5", &format!("y{i:02}"), 3, "发送手机号", 0);
            a.msg_time = now - h * HOUR;
            a
        })
        .collect();
    s.store_hits(&hits, &acts).expect("store");
    let mut newest_first: Vec<(i64, String)> = hits
        .iter()
        .map(|h| (h.msg_time, h.msg_id.clone()))
        .collect();
    newest_first.sort_by(|a, b| b.cmp(a));
    for (since, until) in [
        (None, None),
        (Some(now - 1_600 * HOUR), None),
        (None, Some(now - 100 * HOUR)),
    ] {
        let want: Vec<String> = newest_first
            .iter()
            .filter(|(t, _)| since.is_none_or(|s| *t >= s) && until.is_none_or(|u| *t < u))
            .map(|(_, m)| m.clone())
            .collect();
        for limit in [1, 2, 3, 100] {
            let mut q = HitQuery {
                corp_id: Some("ww5".into()),
                since_ms: since,
                until_ms: until,
                limit,
                ..Default::default()
            };
            let (mut seen, mut seen_acts) = (Vec::new(), Vec::new());
            loop {
                let page = s.hits(&q).expect("hits");
                assert!(page.len() <= limit as usize);
                seen.extend(page.iter().map(|h| h.hit.msg_id.clone()));
                match page.last() {
                    Some(last) if page.len() == limit as usize => {
                        q.after = Some(HitCursor {
                            msg_time: last.hit.msg_time,
                            msg_id: last.hit.msg_id.clone(),
                            id: last.hit.strategy_id,
                        })
                    }
                    _ => break,
                }
            }
            q.after = None;
            loop {
                let page = s.act_hits(&q).expect("acts");
                seen_acts.extend(page.iter().map(|a| a.msg_id.clone()));
                match page.last() {
                    Some(last) if page.len() == limit as usize => {
                        q.after = Some(HitCursor {
                            msg_time: last.msg_time,
                            msg_id: last.msg_id.clone(),
                            id: last.sensitive_act_id,
                        })
                    }
                    _ => break,
                }
            }
            assert_eq!(
                seen, want,
                "limit {limit}, since {since:?}, until {until:?}"
            );
            assert_eq!(seen_acts, want, "behaviours, limit {limit}");
        }
    }
}

/// The trend's days are calendar days in the zone asked for (the workspace's), summer time
/// included, for hits and behaviour hits alike.
pub(super) fn daily_counts_follow_the_time_zone(s: &dyn Store) {
    // Times as offsets from 2023-11-14 22:13:20 UTC, the helpers' base.
    let base = 1_700_000_000_000i64;
    let at = |utc_ms: i64| utc_ms - base;
    let hits = vec![
        hit("ww1", "a", 1, &["私下"], 0),
        // Two hours later: the next day in UTC, the same in Shanghai and New York.
        hit("ww1", "b", 1, &["私下"], 2 * HOUR),
        // 2024-01-01 04:30 UTC: 23:30 the day before in New York (UTC-5 in winter).
        hit("ww1", "c", 1, &["私下"], at(1_704_083_400_000)),
        // 2024-07-01 04:30 UTC: 00:30 in New York (UTC-4 in summer), not the day before.
        hit("ww1", "d", 1, &["私下"], at(1_719_808_200_000)),
    ];
    let acts = vec![act("ww1", "a", 3, "发送手机号", 0)];
    s.store_hits(&hits, &acts).expect("store");
    let days = |zone: &str| -> Vec<(String, &'static str, u64)> {
        let zone = Zone::named(zone).expect("zone");
        s.daily_counts(&HitQuery::default(), &zone)
            .expect("daily")
            .into_iter()
            .map(|d| (d.day, d.kind, d.count))
            .collect()
    };
    let want = |rows: &[(&str, &'static str, u64)]| -> Vec<(String, &'static str, u64)> {
        rows.iter()
            .map(|(d, k, n)| (d.to_string(), *k, *n))
            .collect()
    };
    assert_eq!(
        days("UTC"),
        want(&[
            ("2023-11-14", "strategy", 1),
            ("2023-11-15", "strategy", 1),
            ("2024-01-01", "strategy", 1),
            ("2024-07-01", "strategy", 1),
            ("2023-11-14", "behaviour", 1),
        ])
    );
    assert_eq!(
        days("Asia/Shanghai"),
        want(&[
            ("2023-11-15", "strategy", 2),
            ("2024-01-01", "strategy", 1),
            ("2024-07-01", "strategy", 1),
            ("2023-11-15", "behaviour", 1),
        ])
    );
    assert_eq!(
        days("America/New_York"),
        want(&[
            ("2023-11-14", "strategy", 2),
            ("2023-12-31", "strategy", 1),
            ("2024-07-01", "strategy", 1),
            ("2023-11-14", "behaviour", 1),
        ])
    );
}

/// The trend's daily counts and the hits tab's totals agree with the hits themselves under every
/// filter and zone (a store may count hits ahead, as SQLite does per quarter of an hour), and a
/// hit stored twice counts once.
pub(super) fn daily_counts_and_totals_agree_with_the_hits(s: &dyn Store) {
    use std::collections::BTreeMap;
    const MINUTE: i64 = 60_000;
    const QUARTER: i64 = 15 * MINUTE;
    let mut hits = Vec::new();
    for k in 0..240i64 {
        let corp = if k % 3 == 0 { "ww2" } else { "ww1" };
        let t = k * 37 * MINUTE + (k % 7) * 1_000;
        let mut h = hit(corp, &format!("m{k}"), 1 + k % 3, &["私下"], t);
        if k % 5 == 0 {
            h.from_id = "lisi".into();
        }
        hits.push(h);
    }
    // Hits on and just inside the ends of the time ranges checked below.
    let since = (1_700_000_000_000 / QUARTER + 100) * QUARTER;
    let until = since + 72 * HOUR;
    for (k, at) in [since, since + 1, until - 2, until - 1]
        .into_iter()
        .enumerate()
    {
        hits.push(hit(
            "ww1",
            &format!("e{k}"),
            1,
            &["私下"],
            at - 1_700_000_000_000,
        ));
    }
    let acts: Vec<_> = (0..60i64)
        .map(|k| {
            let (id, name) = if k % 2 == 0 {
                (3, "发送手机号")
            } else {
                (4, "发送邮箱")
            };
            let corp = if k % 4 < 2 { "ww1" } else { "ww2" };
            act(corp, &format!("a{k}"), id, name, k * 131 * MINUTE)
        })
        .collect();
    s.store_hits(&hits, &acts).expect("store");
    s.store_hits(&hits[..50], &acts[..10])
        .expect("store some again");

    type Want = BTreeMap<(String, &'static str, i64), u64>;
    let check = |name: &str,
                 q: HitQuery,
                 hit_ok: &dyn Fn(&HitRow) -> bool,
                 act_ok: &dyn Fn(&msgaudit::store::ActHitRow) -> bool| {
        let in_time =
            |t: i64| q.since_ms.is_none_or(|s| t >= s) && q.until_ms.is_none_or(|u| t < u);
        for zone in ["UTC", "Asia/Shanghai", "Asia/Kolkata", "America/New_York"] {
            let zone = Zone::named(zone).expect("zone");
            let mut want = Want::new();
            let day = |t: i64| msgaudit::timefmt::day_name(zone.day_number(t));
            for h in hits.iter().filter(|h| hit_ok(h) && in_time(h.msg_time)) {
                *want
                    .entry((day(h.msg_time), "strategy", h.strategy_id))
                    .or_default() += 1;
            }
            for a in acts.iter().filter(|a| act_ok(a) && in_time(a.msg_time)) {
                *want
                    .entry((day(a.msg_time), "behaviour", a.sensitive_act_id))
                    .or_default() += 1;
            }
            let got: Want = s
                .daily_counts(&q, &zone)
                .expect("daily")
                .into_iter()
                .map(|d| ((d.day, d.kind, d.id), d.count))
                .collect();
            assert_eq!(got, want, "{name} in {}", zone.name());
        }
        let hit_total = hits
            .iter()
            .filter(|h| hit_ok(h) && in_time(h.msg_time))
            .count() as u64;
        let act_total = acts
            .iter()
            .filter(|a| act_ok(a) && in_time(a.msg_time))
            .count() as u64;
        assert_eq!(
            s.hit_totals(HitKind::Strategy, &q).expect("totals").total(),
            hit_total,
            "{name}: hit totals"
        );
        assert_eq!(
            s.hit_totals(HitKind::Behaviour, &q)
                .expect("totals")
                .total(),
            act_total,
            "{name}: behaviour totals"
        );
    };
    check("everything", HitQuery::default(), &|_| true, &|_| true);
    check(
        "one corp",
        HitQuery {
            corp_id: Some("ww2".into()),
            ..HitQuery::default()
        },
        &|h| h.corp_id == "ww2",
        &|a| a.corp_id == "ww2",
    );
    check(
        "one strategy and one behaviour",
        HitQuery {
            strategy_id: Some(2),
            act_id: Some(4),
            ..HitQuery::default()
        },
        &|h| h.strategy_id == 2,
        &|a| a.sensitive_act_id == 4,
    );
    check(
        "an auditor's strategies",
        HitQuery {
            strategy_ids: Some(vec![1, 3]),
            ..HitQuery::default()
        },
        &|h| h.strategy_id != 2,
        &|_| true,
    );
    check(
        "no strategies",
        HitQuery {
            strategy_ids: Some(Vec::new()),
            ..HitQuery::default()
        },
        &|_| false,
        &|_| true,
    );
    check(
        "three days on quarter-hour bounds",
        HitQuery {
            since_ms: Some(since),
            until_ms: Some(until),
            ..HitQuery::default()
        },
        &|_| true,
        &|_| true,
    );
    check(
        "three days, a millisecond off the bounds",
        HitQuery {
            since_ms: Some(since + 1),
            until_ms: Some(until - 1),
            ..HitQuery::default()
        },
        &|_| true,
        &|_| true,
    );
    check(
        "one sender",
        HitQuery {
            from_id: Some("lisi".into()),
            ..HitQuery::default()
        },
        &|h| h.from_id == "lisi",
        &|a| a.operator_id == "lisi",
    );
}
