//! The spool as a whole: appender, reader and acker over real files.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use super::record::{SpoolRecord, SpooledMessage};
use super::*;

fn batch(corp: &str, from: u64, n: u64, body: usize) -> SpoolRecord {
    SpoolRecord {
        corp_id: corp.into(),
        from_seq: from,
        checkpoint: from + n,
        pulled_at_ms: 1_700_000_000_000,
        count: n as u32,
        messages: (from + 1..=from + n)
            .map(|seq| SpooledMessage {
                seq,
                msgid: format!("{corp}-{seq}"),
                publickey_ver: 1,
                encrypt_random_key: "k".repeat(344),
                encrypt_chat_msg: "c".repeat(body),
            })
            .collect(),
    }
}

fn settings(dir: &Path, max: u64, segment: u64) -> SpoolSettings {
    SpoolSettings {
        dir: dir.to_owned(),
        max_bytes: max,
        segment_bytes: segment,
    }
}

/// Reads everything committed so far.
fn drain(reader: &mut Reader) -> Vec<(Position, SpoolRecord)> {
    let mut out = Vec::new();
    while let ReadOutcome::Record(at, r) = reader.next(Duration::ZERO).expect("read") {
        out.push((at, r));
    }
    out
}

fn segments(dir: &Path) -> usize {
    recover::segment_ids(dir).expect("list").len()
}

#[test]
fn records_come_back_in_order_across_segments_and_stored_segments_go() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Spool::open(settings(dir.path(), 1 << 30, 16 << 10)).expect("open");
    let mut appender = spool.appender();
    let written: Vec<SpoolRecord> = (0..20).map(|i| batch("ww1", i * 10, 10, 500)).collect();
    for group in written.chunks(3) {
        appender.append(group).expect("append");
    }
    assert!(segments(dir.path()) > 3, "the segments rolled");
    let mut reader = spool.reader();
    let read = drain(&mut reader);
    assert_eq!(
        read.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
        written
    );
    let backlog = spool.backlog_bytes();
    assert!(backlog > 20 * 10 * 844, "{backlog}");
    let acker = spool.acker();
    for (at, _) in &read[..10] {
        let waiting = acker.stored(*at).expect("ack");
        assert_eq!(
            waiting,
            spool.backlog_bytes(),
            "the ack says what still waits"
        );
    }
    assert!(spool.backlog_bytes() < backlog);
    let left = segments(dir.path());
    for (at, _) in &read[10..] {
        acker.stored(*at).expect("ack");
    }
    assert_eq!(spool.backlog_bytes(), 0);
    assert!(segments(dir.path()) < left);
    appender.close();
    assert!(matches!(
        reader.next(Duration::ZERO).expect("read"),
        ReadOutcome::Finished
    ));
    spool.tidy().expect("tidy");
    assert_eq!(segments(dir.path()), 0, "a drained spool leaves no segment");
}

#[test]
fn the_reader_waits_for_the_appender_and_sees_only_committed_records() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Spool::open(settings(dir.path(), 1 << 30, 1 << 20)).expect("open");
    let mut reader = spool.reader();
    assert!(matches!(
        reader.next(Duration::from_millis(10)).expect("read"),
        ReadOutcome::Waiting
    ));
    let mut appender = spool.appender();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        appender.append(&[batch("ww1", 0, 3, 10)]).expect("append");
        appender
    });
    let got = loop {
        match reader.next(Duration::from_secs(5)).expect("read") {
            ReadOutcome::Record(_, r) => break r,
            ReadOutcome::Waiting => continue,
            ReadOutcome::Finished => panic!("not closed"),
        }
    };
    assert_eq!(got.checkpoint, 3);
    t.join().expect("appender").close();
    assert!(matches!(
        reader.next(Duration::ZERO).expect("read"),
        ReadOutcome::Finished
    ));
}

#[test]
fn a_reopened_spool_replays_what_was_not_stored_and_summarises_each_corp() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let spool = Spool::open(settings(dir.path(), 1 << 30, 8 << 10)).expect("open");
        let mut appender = spool.appender();
        for i in 0..6 {
            appender
                .append(&[batch("ww1", i * 5, 5, 300), batch("ww2", i * 2, 2, 300)])
                .expect("append");
        }
        let mut reader = spool.reader();
        let read = drain(&mut reader);
        let acker = spool.acker();
        for (at, _) in &read[..4] {
            acker.stored(*at).expect("ack");
        }
        // Dropped without closing, as a crash would.
    }
    let spool = Spool::open(settings(dir.path(), 1 << 30, 8 << 10)).expect("reopen");
    let ww1 = &spool.recovered().corps["ww1"];
    assert_eq!(ww1.checkpoint, 30);
    let mut reader = spool.reader();
    let replay = drain(&mut reader);
    let first_unstored = replay
        .iter()
        .position(|(_, r)| r.corp_id == "ww1" && r.checkpoint == 15);
    assert!(
        first_unstored.is_some(),
        "the unstored batches are replayed"
    );
    assert_eq!(replay.last().map(|(_, r)| r.checkpoint), Some(12));
    // The store has ww1 to 10 and ww2 to 4: the spool follows on from both.
    let stored = |c: &str| if c == "ww1" { 10 } else { 4 };
    spool
        .recovered()
        .check_against(&stored, &|_| true)
        .expect("no gap");
}

#[test]
fn a_torn_tail_is_truncated_and_the_intact_records_survive() {
    let dir = tempfile::tempdir().expect("dir");
    let last = {
        let spool = Spool::open(settings(dir.path(), 1 << 30, 1 << 20)).expect("open");
        let mut appender = spool.appender();
        appender
            .append(&[batch("ww1", 0, 4, 100), batch("ww1", 4, 4, 100)])
            .expect("append");
        recover::segment_ids(dir.path()).expect("ids")[0]
    };
    let path = segment::path(dir.path(), last);
    let whole = std::fs::metadata(&path).expect("meta").len();
    // A crash in the middle of the next record's write: half a frame after the intact ones.
    let mut half = Vec::new();
    record::encode_frame(&batch("ww1", 8, 4, 100), whole, &mut half);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes.extend_from_slice(&half[..half.len() / 2]);
    std::fs::write(&path, &bytes).expect("tear");
    let spool = Spool::open(settings(dir.path(), 1 << 30, 1 << 20)).expect("reopen");
    let (torn_path, torn) = spool.recovered().torn.clone().expect("torn tail reported");
    assert_eq!((torn_path, torn.offset), (path.clone(), whole));
    assert_eq!(std::fs::metadata(&path).expect("meta").len(), whole);
    assert_eq!(spool.recovered().corps["ww1"].checkpoint, 8);
    let mut reader = spool.reader();
    assert_eq!(drain(&mut reader).len(), 2);
}

#[test]
fn damage_in_an_older_segment_stops_the_open_with_file_and_offset() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let spool = Spool::open(settings(dir.path(), 1 << 30, 4 << 10)).expect("open");
        let mut appender = spool.appender();
        for i in 0..4 {
            appender
                .append(&[batch("ww1", i * 4, 4, 600)])
                .expect("append");
        }
    }
    let ids = recover::segment_ids(dir.path()).expect("ids");
    assert!(ids.len() >= 2);
    let path = segment::path(dir.path(), ids[0]);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[segment::HEADER_LEN as usize + 40] ^= 0x55;
    std::fs::write(&path, &bytes).expect("damage");
    let e = Spool::open(settings(dir.path(), 1 << 30, 4 << 10)).expect_err("corrupt");
    let text = e.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("offset 16"),
        "{text}"
    );
    assert!(text.contains("Nothing was skipped"), "{text}");
    assert!(text.contains("closed and synced"), "{text}");
}

#[test]
fn the_appender_waits_at_the_limit_until_records_are_stored() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Spool::open(settings(dir.path(), 20_000, 1 << 20)).expect("open");
    let mut appender = spool.appender();
    assert!(appender.wait_for_room(Duration::ZERO));
    appender
        .append(&[batch("ww1", 0, 10, 1000), batch("ww1", 10, 10, 1000)])
        .expect("append");
    assert!(
        !appender.wait_for_room(Duration::from_millis(10)),
        "over the limit"
    );
    let mut reader = spool.reader();
    let read = drain(&mut reader);
    assert!(
        !appender.wait_for_room(Duration::ZERO),
        "read is not stored"
    );
    let acker = spool.acker();
    for (at, _) in read {
        acker.stored(at).expect("ack");
    }
    assert!(appender.wait_for_room(Duration::ZERO));
}

#[test]
fn one_process_at_a_time_and_private_files() {
    let dir = tempfile::tempdir().expect("dir");
    let spool_dir = dir.path().join("spool");
    let spool = Spool::open(settings(&spool_dir, 1 << 30, 1 << 20)).expect("open");
    let e = Spool::open(settings(&spool_dir, 1 << 30, 1 << 20)).expect_err("locked");
    assert!(matches!(e, SpoolError::Locked { .. }), "{e}");
    spool
        .appender()
        .append(&[batch("ww1", 0, 1, 10)])
        .expect("append");
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&spool_dir), 0o700);
    assert_eq!(mode(&spool_dir.join("LOCK")), 0o600);
    for id in recover::segment_ids(&spool_dir).expect("ids") {
        assert_eq!(mode(&segment::path(&spool_dir, id)), 0o600);
    }
    drop(spool);
    Spool::open(settings(&spool_dir, 1 << 30, 1 << 20)).expect("the lock went with the spool");
}

#[test]
fn a_gap_or_an_unconfigured_corp_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Spool::open(settings(dir.path(), 1 << 30, 1 << 20)).expect("open");
    let mut appender = spool.appender();
    appender
        .append(&[batch("ww1", 100, 10, 10), batch("ww2", 0, 5, 10)])
        .expect("append");
    drop(appender);
    drop(spool);
    let spool = Spool::open(settings(dir.path(), 1 << 30, 1 << 20)).expect("reopen");
    let found = spool.recovered();
    // ww1 is stored only to 90: seqs 91..=100 are nowhere.
    let e = found
        .check_against(&|c| if c == "ww1" { 90 } else { 0 }, &|_| true)
        .expect_err("gap");
    let text = e.to_string();
    assert!(text.contains("ww1") && text.contains("90..=100"), "{text}");
    // Stored to 100: fine. ww2 unconfigured with unstored batches: refused.
    let e = found
        .check_against(&|c| if c == "ww1" { 100 } else { 0 }, &|c| c == "ww1")
        .expect_err("unknown corp");
    assert!(e.to_string().contains("ww2"), "{e}");
    // ww2 already stored: its batches are only leftovers.
    found
        .check_against(&|c| if c == "ww1" { 100 } else { 5 }, &|c| c == "ww1")
        .expect("nothing unstored of ww2");
}
