//! Ingestion and checkpoints (`IngestStore`): batches, dead letters, progress, paging, re-drive.

use super::*;
use msgaudit::message::DeadReason;

use crate::support::message_row as row;
use msgaudit::store::{
    BatchOutcome, DeadLetterQuery, MessageQuery, Redrive, SeqCursor, Store, StoreBatch,
};

pub(super) fn a_replayed_batch_changes_nothing(s: &dyn Store) {
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

    // Read for the audit: the same rows, a link's body kept (the others' may be left out).
    let mut link = row("ww3", "l", 1);
    link.msg_type = msgaudit::audit::behaviour::BODY_READ_FOR.into();
    // As the pipeline keeps them: the body object itself.
    link.contact = r#"{"link_url":"https://x.example.cn/p","title":"标题"}"#.into();
    let mut text = row("ww3", "t", 2);
    text.contact = r#"{"content":"消息 2"}"#.into();
    s.store_batch(&StoreBatch {
        corp_id: "ww3".into(),
        messages: vec![link.clone(), text],
        checkpoint: 2,
        ..Default::default()
    })
    .expect("batch");
    let read = |for_audit| {
        s.messages(&MessageQuery {
            corp_id: Some("ww3".into()),
            by_seq: Some(SeqCursor::default()),
            limit: 10,
            for_audit,
            ..Default::default()
        })
        .expect("messages")
    };
    let (full, audit) = (read(false), read(true));
    assert_eq!(full.len(), 2);
    assert_eq!(audit.len(), full.len());
    assert_eq!(audit[0].row, link, "a link keeps its body");
    let mut without_body = audit[1].row.clone();
    assert!(without_body.contact.is_empty() || without_body.contact == full[1].row.contact);
    without_body.contact.clone_from(&full[1].row.contact);
    assert_eq!(without_body, full[1].row);
}

pub(super) fn progress_names_each_corps_checkpoint_newest_message_and_stuck_letters(s: &dyn Store) {
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

pub(super) fn the_checkpoint_never_moves_backwards(s: &dyn Store) {
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

pub(super) fn paging_by_seq_visits_every_message_of_every_corp_once(s: &dyn Store) {
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

pub(super) fn queries_filter_and_redrive_resolves(s: &dyn Store) {
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
