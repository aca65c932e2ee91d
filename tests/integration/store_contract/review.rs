//! Reviews (`ReviewStore`): state and note per hit, replaced by the next change and kept in the
//! history; hit listings filtered and counted by review state.

use super::*;
use msgaudit::store::{HitKey, HitKind, HitQuery, Review, ReviewState, StateCounts, Store};

fn key(kind: HitKind, msg: &str, id: i64) -> HitKey {
    HitKey {
        kind,
        corp_id: "ww1".into(),
        msg_id: msg.into(),
        id,
    }
}

fn review(key: &HitKey, state: ReviewState, note: &str, who: &str, t: i64) -> Review {
    Review {
        key: key.clone(),
        state,
        note: note.into(),
        reviewer: who.into(),
        time_ms: 1_764_000_000_000 + t,
    }
}

pub(super) fn reviews_are_set_replaced_and_kept_in_history(s: &dyn Store) {
    let a = key(HitKind::Strategy, "a", 1);
    let b = key(HitKind::Behaviour, "a", 1);
    s.record_reviews(&[review(&a, ReviewState::Confirmed, "客户确认", "wangwu", 1)])
        .expect("review");
    s.record_reviews(&[review(&a, ReviewState::Escalated, "上报合规", "zhaoliu", 2)])
        .expect("again");
    s.record_reviews(&[review(&b, ReviewState::FalsePositive, "", "wangwu", 3)])
        .expect("behaviour");
    let now = s.reviews_of(&[a.clone(), b.clone()]).expect("reviews");
    let of = |k: &HitKey| now.iter().find(|r| &r.key == k).cloned();
    let ra = of(&a).expect("strategy hit's review");
    assert_eq!(
        (ra.state, ra.note.as_str(), ra.reviewer.as_str()),
        (ReviewState::Escalated, "上报合规", "zhaoliu")
    );
    // The same message and id under the other kind is another hit.
    assert_eq!(of(&b).map(|r| r.state), Some(ReviewState::FalsePositive));
    assert!(
        s.reviews_of(&[key(HitKind::Strategy, "zzz", 1)])
            .expect("none")
            .is_empty()
    );
    let history = s.review_history(&a).expect("history");
    let states: Vec<_> = history
        .iter()
        .map(|r| (r.state, r.reviewer.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            (ReviewState::Escalated, "zhaoliu"),
            (ReviewState::Confirmed, "wangwu")
        ]
    );
}

pub(super) fn hits_filter_and_count_by_review_state(s: &dyn Store) {
    let hits = vec![
        hit("ww1", "a", 1, &["私下"], 1),
        hit("ww1", "b", 1, &["私下"], 2),
        hit("ww1", "c", 1, &["私下"], 3),
        hit("ww1", "c", 2, &["转账"], 3),
        hit("ww2", "d", 1, &["私下"], 4),
        // The id of a reviewed hit, in another corp: a review is of one corp's hit.
        hit("ww2", "a", 1, &["私下"], 5),
    ];
    let acts = vec![
        act("ww1", "a", 3, "发送手机号", 1),
        act("ww1", "b", 3, "发送手机号", 2),
    ];
    s.store_hits(&hits, &acts).expect("store");
    let sk = |m: &str, id| key(HitKind::Strategy, m, id);
    s.record_reviews(&[
        review(&sk("a", 1), ReviewState::Confirmed, "", "wangwu", 1),
        review(&sk("b", 1), ReviewState::FalsePositive, "", "wangwu", 1),
        review(&sk("c", 2), ReviewState::Confirmed, "", "wangwu", 1),
        // Set back to pending: counts as pending again.
        review(&sk("c", 1), ReviewState::Escalated, "", "wangwu", 1),
        review(
            &key(HitKind::Behaviour, "b", 3),
            ReviewState::Confirmed,
            "",
            "wangwu",
            1,
        ),
    ])
    .expect("reviews");
    s.record_reviews(&[review(&sk("c", 1), ReviewState::Pending, "", "wangwu", 2)])
        .expect("back to pending");
    let listed = |state: Option<ReviewState>, strategy: Option<i64>| {
        let q = HitQuery {
            review_state: state,
            strategy_id: strategy,
            limit: 100,
            ..HitQuery::default()
        };
        s.hits(&q)
            .expect("hits")
            .into_iter()
            .map(|h| format!("{}:{}", h.hit.msg_id, h.hit.strategy_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(Some(ReviewState::Confirmed), None), ["c:2", "a:1"]);
    assert_eq!(listed(Some(ReviewState::Confirmed), Some(1)), ["a:1"]);
    assert_eq!(
        listed(Some(ReviewState::Pending), None),
        ["a:1", "d:1", "c:1"]
    );
    assert_eq!(
        listed(Some(ReviewState::Escalated), None),
        Vec::<String>::new()
    );
    let q = HitQuery {
        corp_id: Some("ww1".into()),
        // Ignored by the totals: they count every state under the other filters.
        review_state: Some(ReviewState::Confirmed),
        limit: 1,
        ..HitQuery::default()
    };
    assert_eq!(
        s.hit_totals(HitKind::Strategy, &q).expect("totals"),
        StateCounts {
            pending: 1,
            confirmed: 2,
            false_positive: 1,
            escalated: 0
        }
    );
    let other_corp = HitQuery {
        corp_id: Some("ww2".into()),
        ..HitQuery::default()
    };
    assert_eq!(
        s.hit_totals(HitKind::Strategy, &other_corp)
            .expect("other corp's totals"),
        StateCounts {
            pending: 2,
            ..StateCounts::default()
        }
    );
    let acts_q = HitQuery {
        review_state: Some(ReviewState::Pending),
        limit: 100,
        ..HitQuery::default()
    };
    let pending_acts: Vec<String> = s
        .act_hits(&acts_q)
        .expect("behaviour hits")
        .into_iter()
        .map(|a| a.msg_id)
        .collect();
    assert_eq!(pending_acts, ["a"]);
    assert_eq!(
        s.hit_totals(HitKind::Behaviour, &HitQuery::default())
            .expect("behaviour totals"),
        StateCounts {
            pending: 1,
            confirmed: 1,
            false_positive: 0,
            escalated: 0
        }
    );
}
