//! Media jobs and files (`MediaJobStore`): jobs written with their messages, idempotently; due jobs
//! oldest message first; outcomes; a replay never undoes a later state; files once per md5 and
//! size; listing, retry and the summary.

use msgaudit::message::{Attachment, MediaKind};
use msgaudit::store::{
    MediaDeadReason, MediaFile, MediaJobQuery, MediaOutcome, MediaStatus, Store, StoreBatch,
};

use crate::support::message_row;

fn batch_with_media(corp: &str, seqs: std::ops::RangeInclusive<u64>) -> StoreBatch {
    let messages = seqs
        .clone()
        .map(|seq| {
            let mut m = message_row(corp, &format!("m{seq}"), seq);
            m.msg_type = "mixed".into();
            m.attachments = (0..2)
                .map(|item| Attachment {
                    item,
                    kind: if item == 0 {
                        MediaKind::Image
                    } else {
                        MediaKind::Voice
                    },
                    sdkfileid: format!("F{seq}.{item}"),
                    md5sum: format!("{:032x}", seq * 10 + u64::from(item)),
                    size: 100 + seq,
                    file_name: String::new(),
                })
                .collect();
            m
        })
        .collect();
    StoreBatch {
        corp_id: corp.into(),
        messages,
        checkpoint: *seqs.end(),
        ..StoreBatch::default()
    }
}

fn corps(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|c| c.to_string()).collect()
}

fn file(md5: &str, size: u64) -> MediaFile {
    MediaFile {
        md5: md5.into(),
        size,
        content_type: "image/png".into(),
        playable_type: String::new(),
        qr_codes: "wxp://f2f0".into(),
        create_time: 1,
    }
}

pub(super) fn jobs_are_written_with_their_messages_and_keep_their_state_across_replays(
    s: &dyn Store,
) {
    let batch = batch_with_media("ww1", 1..=3);
    s.store_batch(&batch).expect("store");
    let due = s
        .due_media_jobs(&corps(&["ww1"]), i64::MAX, 100)
        .expect("due");
    assert_eq!(due.len(), 6, "two attachments per message");
    let order: Vec<(String, u32)> = due
        .iter()
        .map(|j| (j.key.msg_id.clone(), j.key.item))
        .collect();
    assert_eq!(
        order,
        [
            ("m1", 0),
            ("m1", 1),
            ("m2", 0),
            ("m2", 1),
            ("m3", 0),
            ("m3", 1)
        ]
        .map(|(m, i)| (m.to_owned(), i))
        .to_vec(),
        "oldest message first"
    );
    assert_eq!(due[1].kind, MediaKind::Voice);
    assert_eq!(
        (due[0].from_id.as_str(), due[0].to_list.as_str()),
        ("zhangsan", "lisi")
    );

    // Done, retried and dead states, then the whole batch replayed: nothing changes.
    let f = file(&due[0].md5sum, due[0].size);
    s.record_media_outcome(
        &due[0],
        &MediaOutcome::Done {
            file: f.clone(),
            note: "ok".into(),
        },
    )
    .expect("done");
    s.record_media_outcome(
        &due[1],
        &MediaOutcome::Retry {
            next_attempt: 5_000,
            error: "10001 network".into(),
        },
    )
    .expect("retry");
    s.record_media_outcome(
        &due[2],
        &MediaOutcome::Dead {
            reason: MediaDeadReason::Expired,
            error: "10010 expired".into(),
        },
    )
    .expect("dead");
    s.store_batch(&batch).expect("replay");
    let all = s
        .media_jobs(&MediaJobQuery {
            limit: 100,
            ..Default::default()
        })
        .expect("list");
    assert_eq!(all.len(), 6, "a replay creates no second job");
    let by = |m: &str, i: u32| {
        all.iter()
            .find(|j| j.key.msg_id == m && j.key.item == i)
            .cloned()
            .expect("job")
    };
    let done = by("m1", 0);
    assert_eq!(
        (done.status, done.file_md5.as_str(), done.attempts),
        (MediaStatus::Done, f.md5.as_str(), 1)
    );
    assert_eq!(done.note, "ok");
    let retry = by("m1", 1);
    assert_eq!(
        (retry.status, retry.next_attempt, retry.attempts),
        (MediaStatus::Pending, 5_000, 1)
    );
    assert_eq!(retry.last_error, "10001 network");
    let dead = by("m2", 0);
    assert_eq!(
        (dead.status, dead.dead_reason.as_str()),
        (MediaStatus::Dead, "expired")
    );

    // Due now: not the done, the dead, or the one waiting until 5 s.
    let due_now: Vec<(String, u32)> = s
        .due_media_jobs(&corps(&["ww1"]), 4_000, 100)
        .expect("due")
        .into_iter()
        .map(|j| (j.key.msg_id, j.key.item))
        .collect();
    assert_eq!(
        due_now,
        vec![("m2".into(), 1), ("m3".into(), 0), ("m3".into(), 1)]
    );
    assert_eq!(
        s.due_media_jobs(&corps(&["ww1"]), 6_000, 100)
            .expect("due")
            .len(),
        4
    );
    // Where the pending jobs start (the fetchers read from there): m1's retry, due or not yet.
    let t = |seq: i64| 1_700_000_000_000 + seq;
    assert_eq!(
        s.oldest_pending_media(&corps(&["ww1"])).expect("oldest"),
        Some(t(1))
    );
    assert_eq!(
        s.oldest_pending_media(&corps(&["ww404"])).expect("oldest"),
        None
    );
    assert_eq!(s.oldest_pending_media(&[]).expect("oldest"), None);
    // Due jobs of messages from a time on: that message's and later ones, still only the due.
    let since = |from: i64, now: i64| -> Vec<(String, u32)> {
        s.due_media_jobs_since(&corps(&["ww1"]), now, from, 100)
            .expect("due")
            .into_iter()
            .map(|j| (j.key.msg_id, j.key.item))
            .collect()
    };
    assert_eq!(
        since(t(2), 6_000),
        vec![("m2".into(), 1), ("m3".into(), 0), ("m3".into(), 1)]
    );
    assert_eq!(since(t(3), 4_000), vec![("m3".into(), 0), ("m3".into(), 1)]);
    assert_eq!(since(t(4), 6_000), vec![]);
    assert_eq!(since(t(1), 4_000), since(i64::MIN, 4_000));
    assert_eq!(since(0, 6_000).len(), 4);
    // Only the corps asked for: another corp's jobs neither show nor crowd these out.
    s.store_batch(&batch_with_media("ww9", 1..=2))
        .expect("store");
    assert_eq!(
        s.due_media_jobs(&corps(&["ww1"]), 6_000, 100)
            .expect("due")
            .len(),
        4
    );
    assert_eq!(
        s.due_media_jobs(&corps(&["ww9"]), 6_000, 100)
            .expect("due")
            .len(),
        4
    );
    assert_eq!(
        s.due_media_jobs(&corps(&["ww1", "ww9"]), 6_000, 100)
            .expect("due")
            .len(),
        8
    );
    assert!(s.due_media_jobs(&[], 6_000, 100).expect("due").is_empty());

    // The file once, with what its image says.
    let stored = s.media_file(&f.md5, f.size).expect("file").expect("stored");
    assert_eq!(
        (stored.content_type.as_str(), stored.qr_codes.as_str()),
        ("image/png", "wxp://f2f0")
    );
    assert!(s.media_file(&f.md5, f.size + 1).expect("file").is_none());
}

pub(super) fn dead_jobs_are_listed_by_reason_retried_and_summed_up(s: &dyn Store) {
    s.store_batch(&batch_with_media("ww2", 1..=4))
        .expect("store");
    let due = s
        .due_media_jobs(&corps(&["ww2"]), i64::MAX, 100)
        .expect("due");
    let shared = file("aa".repeat(16).as_str(), 1000);
    for (i, j) in due[..4].iter().enumerate() {
        // Four attachments, one file: dedup. The third fetch made a playable copy, which the
        // fourth (whose copy failed) does not take away.
        let mut file = shared.clone();
        if i == 2 {
            file.playable_type = "audio/mpeg".into();
        }
        s.record_media_outcome(
            j,
            &MediaOutcome::Done {
                file,
                note: String::new(),
            },
        )
        .expect("done");
    }
    let stored = s.media_file(&shared.md5, shared.size).expect("file");
    assert_eq!(
        stored.map(|f| f.playable_type),
        Some("audio/mpeg".to_owned()),
        "a playable copy, once made, stays"
    );
    s.record_media_outcome(
        &due[4],
        &MediaOutcome::Dead {
            reason: MediaDeadReason::Expired,
            error: "10010".into(),
        },
    )
    .expect("dead");
    s.record_media_outcome(
        &due[5],
        &MediaOutcome::Dead {
            reason: MediaDeadReason::Md5Mismatch,
            error: "md5".into(),
        },
    )
    .expect("dead");
    let sum = s.media_summary().expect("summary");
    assert_eq!((sum.pending, sum.done, sum.dead), (2, 4, 2));
    assert_eq!(
        (sum.files, sum.bytes, sum.job_bytes, sum.playable),
        (1, 1000, 4000, 1),
        "one file for four jobs, with its playable copy"
    );
    assert_eq!(
        sum.dead_by_reason,
        vec![("expired".to_owned(), 1), ("md5_mismatch".to_owned(), 1)]
    );
    assert!(sum.oldest_pending_ms.is_some());

    let expired = MediaJobQuery {
        dead_reason: Some(MediaDeadReason::Expired),
        limit: 10,
        ..Default::default()
    };
    let listed = s.media_jobs(&expired).expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key.msg_id, due[4].key.msg_id);
    assert_eq!(s.retry_media_jobs(&expired).expect("retry"), 1);
    let back = s
        .media_jobs(&MediaJobQuery {
            msg_id: Some(due[4].key.msg_id.clone()),
            limit: 10,
            ..Default::default()
        })
        .expect("list");
    let back = back
        .iter()
        .find(|j| j.key.item == due[4].key.item)
        .expect("job");
    assert_eq!(
        (back.status, back.attempts, back.dead_reason.as_str()),
        (MediaStatus::Pending, 0, "")
    );
    assert_eq!(
        s.retry_media_jobs(&MediaJobQuery {
            limit: 10,
            ..Default::default()
        })
        .expect("retry"),
        1,
        "the other dead job; done jobs are never retried"
    );
    assert_eq!(s.media_summary().expect("summary").dead, 0);
}

/// `media playable`'s listing and record: voice files without a copy (AMR, or carried by a voice
/// job), paged by (md5, size); recording copies fills the file rows and clears the jobs' notes
/// that said there was none.
pub(super) fn voice_without_a_copy_is_listed_and_made_playable(s: &dyn Store) {
    s.store_batch(&batch_with_media("ww3", 1..=3))
        .expect("store");
    let due = s
        .due_media_jobs(&corps(&["ww3"]), i64::MAX, 100)
        .expect("due");
    assert_eq!(due.len(), 6, "an image and a voice per message");
    let hex = |d: char| d.to_string().repeat(32);
    for (i, j) in due.iter().enumerate() {
        // Images (item 0) are PNG; voice (item 1) is AMR, except the third's, sniffed as
        // something else but still voice by its job; the second voice has its copy already.
        let voice = j.key.item == 1;
        let n = i / 2;
        let file = MediaFile {
            md5: if voice {
                hex(['c', 'a', 'b'][n])
            } else {
                hex(['d', 'e', 'f'][n])
            },
            size: 10 + n as u64,
            content_type: match (voice, n) {
                (false, _) => "image/png".into(),
                (true, 2) => "application/octet-stream".into(),
                (true, _) => "audio/amr".into(),
            },
            playable_type: if voice && n == 1 {
                "audio/mpeg".into()
            } else {
                String::new()
            },
            qr_codes: String::new(),
            create_time: 1,
        };
        let note = if voice && n != 1 {
            "no playable copy: ffmpeg was not found".to_owned()
        } else {
            String::new()
        };
        s.record_media_outcome(j, &MediaOutcome::Done { file, note })
            .expect("done");
    }
    let listed = |after: Option<(&str, u64)>, limit| -> Vec<(String, u64)> {
        s.files_without_copy(after, limit)
            .expect("list")
            .into_iter()
            .map(|f| (f.md5, f.size))
            .collect()
    };
    assert_eq!(listed(None, 10), vec![(hex('b'), 12), (hex('c'), 10)]);
    assert_eq!(listed(None, 1), vec![(hex('b'), 12)]);
    assert_eq!(listed(Some((&hex('b'), 12)), 10), vec![(hex('c'), 10)]);
    assert_eq!(listed(Some((&hex('c'), 10)), 10), vec![]);

    s.record_playable_copies(&[(hex('c'), 10)], "audio/mpeg")
        .expect("record");
    assert_eq!(listed(None, 10), vec![(hex('b'), 12)]);
    let file = s.media_file(&hex('c'), 10).expect("file").expect("stored");
    assert_eq!(
        (file.content_type.as_str(), file.playable_type.as_str()),
        ("audio/amr", "audio/mpeg")
    );
    let notes = |md5: &str| -> Vec<String> {
        s.media_jobs(&MediaJobQuery {
            corp_id: Some("ww3".into()),
            limit: 100,
            ..Default::default()
        })
        .expect("jobs")
        .into_iter()
        .filter(|j| j.file_md5 == md5)
        .map(|j| j.note)
        .collect()
    };
    assert_eq!(notes(&hex('c')), vec![String::new()], "the note is cleared");
    assert_eq!(
        notes(&hex('b')),
        vec!["no playable copy: ffmpeg was not found".to_owned()],
        "only the files recorded"
    );
    let sum = s.media_summary().expect("summary");
    assert_eq!((sum.files, sum.playable), (6, 2));
    s.record_playable_copies(&[], "audio/mpeg")
        .expect("nothing");
}
