//! The alert outbox (`OutboxStore`): claims, posts, settling.

use super::*;

use msgaudit::store::{HitQuery, Store, StoreError};

pub(super) fn the_alert_outbox_claims_records_and_settles(s: &dyn Store) {
    use msgaudit::alert::PostQuery;
    use msgaudit::alert::{AlertPost, Destination, HitKey, PostStatus, Robot};
    let hits = vec![
        hit("ww1", "a", 1, &["私下"], 1),
        hit("ww1", "b", 3, &["转账"], 2),
        hit("ww1", "c", 2, &["私下"], 3), // send_status 3: no alert wanted
    ];
    s.store_hits(&hits, &[]).expect("hits");
    assert_eq!(s.alert_backlog().expect("backlog"), 2);
    let pending = s.pending_alerts(10, &[]).expect("pending");
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
    let pending = s.pending_alerts(10, &[]).expect("pending");
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
    let pending = s.pending_alerts(10, &[]).expect("pending");
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

/// A corp with a backlog of old alerts fills only what the others leave of a page: every corp's
/// oldest alert comes first, so a corp's fresh alert is read in the same page, not after the backlog.
pub(super) fn a_corps_backlog_of_alerts_leaves_room_for_the_others(s: &dyn Store) {
    let backlog = 250;
    let old: Vec<_> = (0..backlog)
        .map(|i| hit("wwbig", &format!("old{i:04}"), 1, &["私下"], i as i64))
        .collect();
    s.store_hits(&old, &[]).expect("hits");
    s.store_hits(&[hit("wwsmall", "fresh", 1, &["私下"], 1_000_000)], &[])
        .expect("hit");
    let pending = s.pending_alerts(100, &[]).expect("pending");
    assert_eq!(pending.len(), 100);
    let ids: Vec<&str> = pending.iter().map(|p| p.hit.msg_id.as_str()).collect();
    assert_eq!(
        &ids[..3],
        ["old0000", "fresh", "old0001"],
        "every corp's oldest first, then the next"
    );
    assert_eq!(
        ids[99], "old0098",
        "the backlog fills the rest, oldest first"
    );
    assert_eq!(s.alert_backlog().expect("backlog"), backlog as u64 + 1);
    let all = s.pending_alerts(5_000, &[]).expect("pending");
    assert_eq!(all.len(), backlog + 1, "a page takes all there is");
}

/// Routes with nowhere to go are left out of the page, whatever their age: they can never fill it
/// and keep out the alerts that can go. Each route is its corp, strategy and whether the hit has
/// an auditor.
pub(super) fn pending_alerts_leave_out_the_routes_asked(s: &dyn Store) {
    use msgaudit::alert::Route;
    let mut hits: Vec<_> = (0..20)
        .map(|i| hit("ww1", &format!("old{i:02}"), 4, &["私下"], i))
        .collect();
    let mut lone = hit("ww1", "no-auditor", 1, &["私下"], 50);
    lone.audit_user_id = String::new();
    hits.push(lone);
    hits.push(hit("ww1", "fresh", 1, &["私下"], 100));
    hits.push(hit("ww9", "other", 4, &["私下"], 100));
    s.store_hits(&hits, &[]).expect("hits");
    let ids = |skip: &[Route], limit: u32| -> Vec<String> {
        s.pending_alerts(limit, skip)
            .expect("pending")
            .into_iter()
            .map(|p| p.hit.msg_id)
            .collect()
    };
    let route = |corp: &str, strategy: i64, has_auditor: bool| Route {
        corp_id: corp.into(),
        strategy_id: strategy,
        has_auditor,
    };
    assert_eq!(ids(&[], 3), ["old00", "other", "old01"], "nothing left out");
    assert_eq!(
        ids(&[route("ww1", 4, true)], 3),
        ["no-auditor", "other", "fresh"],
        "the old hits of the left-out route do not fill the page"
    );
    assert_eq!(
        ids(&[route("ww1", 4, true), route("ww1", 1, false)], 10),
        ["fresh", "other"],
        "the hit without an auditor is its own route"
    );
    assert_eq!(
        ids(&[route("ww1", 4, false), route("ww1", 1, true)], 2),
        ["old00", "other"],
        "a route differing only in its auditor is not left out"
    );
    assert_eq!(
        ids(
            &[
                route("ww1", 4, true),
                route("ww1", 1, false),
                route("ww1", 1, true),
                route("ww9", 4, true)
            ],
            10
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        s.alert_backlog().expect("backlog"),
        23,
        "left out, still pending"
    );
}
