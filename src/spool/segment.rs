//! Segment files: `NNNNNNNNNNNNNNNNNNNN.seg` in the spool directory, numbered in write order, each a
//! 16-byte header (`MSGSPOOL`, format version, zero padding) followed by framed records
//! ([`super::record`]).
//!
//! [`scan`] checks a whole segment when the spool opens. Only the newest segment can end in a torn
//! write: every older one was fsync'd before the next was created, so damage there is corruption.
//! In the newest, damage at offset X is corruption when a later intact frame says that X had been
//! fsync'd before it was written (its `synced` field is past X); otherwise X lies in the last,
//! unsynced write — a torn tail, truncated there. Truncating is safe even then: nothing after X is
//! kept, and pulling resumes after the last batch that survives. Corruption stops the scan with the
//! file and the offset; nothing is ever skipped.

use std::path::{Path, PathBuf};

use prost::Message;

use super::SpoolError;
use super::record::{FRAME_HEADER, Frame, RecordSummary, read_frame};

/// The segment header.
pub const MAGIC: &[u8; 8] = b"MSGSPOOL";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: u64 = 16;

/// The header a new segment starts with.
pub fn header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// The file name of segment `id`.
pub fn file_name(id: u64) -> String {
    format!("{id:020}.seg")
}

/// The path of segment `id` in `dir`.
pub fn path(dir: &Path, id: u64) -> PathBuf {
    dir.join(file_name(id))
}

/// The segment id a file name stands for, if it is a segment's.
pub fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One record as the scan saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    /// Where its frame starts in the segment.
    pub offset: u64,
    pub corp_id: String,
    pub from_seq: u64,
    pub checkpoint: u64,
    pub pulled_at_ms: i64,
    pub count: u32,
}

/// What the newest segment lost to a torn write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Where the intact part ends (the file is truncated here).
    pub offset: u64,
    /// Bytes after it.
    pub dropped: u64,
    pub why: &'static str,
}

/// A segment checked end to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub records: Vec<RecordMeta>,
    /// Bytes of intact data (header and whole records).
    pub valid_len: u64,
    /// Set when the newest segment ended in a torn write.
    pub torn: Option<TornTail>,
}

fn corrupt(path: &Path, offset: u64, problem: impl Into<String>) -> SpoolError {
    SpoolError::Corrupt {
        path: path.to_owned(),
        offset,
        problem: problem.into(),
    }
}

/// The largest `synced` of any intact frame starting in `bytes` at or after `from` (looking at
/// every offset: the header checksum makes a false start all but impossible), or 0.
fn synced_after(bytes: &[u8], from: usize) -> u64 {
    let mut best = 0;
    let mut at = from;
    while at + FRAME_HEADER <= bytes.len() {
        match read_frame(&bytes[at..]) {
            Frame::Good {
                frame_len, synced, ..
            } => {
                best = best.max(synced);
                at += frame_len;
            }
            _ => at += 1,
        }
    }
    best
}

/// Checks segment `bytes` (the whole file at `path`). `newest` says whether it is the spool's
/// newest segment, the only one that may end in a torn write.
pub fn scan(path: &Path, bytes: &[u8], newest: bool) -> Result<Scan, SpoolError> {
    let torn_at = |offset: u64, why: &'static str| Scan {
        records: Vec::new(),
        valid_len: offset,
        torn: Some(TornTail {
            offset,
            dropped: bytes.len() as u64 - offset,
            why,
        }),
    };
    if bytes.len() < HEADER_LEN as usize {
        if newest {
            return Ok(torn_at(0, "an incomplete segment header"));
        }
        return Err(corrupt(path, 0, "the segment header is cut short"));
    }
    if &bytes[..8] != MAGIC {
        return Err(corrupt(
            path,
            0,
            "not a msgaudit spool segment (no MSGSPOOL header)",
        ));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != VERSION {
        return Err(corrupt(
            path,
            8,
            format!("segment format {version}; this msgaudit reads format {VERSION}"),
        ));
    }
    let mut records = Vec::new();
    let mut at = HEADER_LEN as usize;
    while at < bytes.len() {
        let offset = at as u64;
        let problem = match read_frame(&bytes[at..]) {
            Frame::Good {
                payload, frame_len, ..
            } => {
                let s = RecordSummary::decode(payload).map_err(|e| {
                    corrupt(path, offset, format!("a record that does not decode: {e}"))
                })?;
                records.push(RecordMeta {
                    offset,
                    corp_id: s.corp_id,
                    from_seq: s.from_seq,
                    checkpoint: s.checkpoint,
                    pulled_at_ms: s.pulled_at_ms,
                    count: s.count,
                });
                at += frame_len;
                continue;
            }
            Frame::Incomplete => "an incomplete record",
            Frame::Bad(why) => why,
        };
        // Damage at `offset`: a torn tail only in the newest segment, and only if no later frame
        // shows that `offset` had been made durable.
        if newest && synced_after(bytes, at + 1) <= offset {
            let mut scan = torn_at(offset, problem);
            scan.records = records;
            return Ok(scan);
        }
        let context = if newest {
            "in data a later record shows was already durable"
        } else {
            "in a segment closed and synced before the next one began"
        };
        return Err(corrupt(path, offset, format!("{problem} {context}")));
    }
    Ok(Scan {
        records,
        valid_len: bytes.len() as u64,
        torn: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::record::{SpoolRecord, encode_frame};
    use super::*;

    fn record(i: u64) -> SpoolRecord {
        SpoolRecord {
            corp_id: "ww1".into(),
            from_seq: (i - 1) * 10,
            checkpoint: i * 10,
            pulled_at_ms: 1,
            count: 0,
            messages: Vec::new(),
        }
    }

    /// A segment whose every record was its own fsync'd group.
    fn segment(records: u64) -> Vec<u8> {
        let mut bytes = header().to_vec();
        for i in 1..=records {
            let synced = bytes.len() as u64;
            encode_frame(&record(i), synced, &mut bytes);
        }
        bytes
    }

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        assert_eq!(parse_name(&file_name(42)), Some(42));
        for other in [
            "LOCK",
            "1.seg",
            "0000000000000000004x.seg",
            "00000000000000000001.tmp",
        ] {
            assert_eq!(parse_name(other), None, "{other}");
        }
    }

    #[test]
    fn an_intact_segment_lists_its_records() {
        let bytes = segment(3);
        let s = scan(Path::new("s"), &bytes, false).expect("intact");
        assert_eq!(s.records.len(), 3);
        assert_eq!(s.records[2].checkpoint, 30);
        assert_eq!((s.valid_len, s.torn), (bytes.len() as u64, None));
    }

    #[test]
    fn a_cut_anywhere_in_the_newest_segment_is_a_torn_tail_at_the_last_whole_record() {
        let bytes = segment(3);
        let whole = scan(Path::new("s"), &bytes, false).expect("intact");
        for cut in 0..bytes.len() {
            let s = scan(Path::new("s"), &bytes[..cut], true).expect("torn tail accepted");
            let kept = whole.records.iter().filter(|r| {
                let end = whole
                    .records
                    .iter()
                    .find(|n| n.offset > r.offset)
                    .map_or(bytes.len() as u64, |n| n.offset);
                end <= cut as u64
            });
            assert_eq!(s.records.len(), kept.count(), "cut at {cut}");
            let boundary =
                cut == HEADER_LEN as usize || whole.records.iter().any(|r| r.offset == cut as u64);
            match s.torn {
                Some(torn) => assert_eq!(torn.offset + torn.dropped, cut as u64),
                None => assert!(boundary, "cut at {cut} inside a record went unnoticed"),
            }
        }
    }

    #[test]
    fn zeros_after_the_last_record_are_a_torn_tail() {
        let mut bytes = segment(2);
        let end = bytes.len() as u64;
        bytes.extend_from_slice(&[0; 4096]);
        let s = scan(Path::new("s"), &bytes, true).expect("torn");
        assert_eq!(s.valid_len, end);
        assert_eq!(s.records.len(), 2);
    }

    #[test]
    fn damage_followed_by_intact_records_is_corruption_naming_file_and_offset() {
        let mut bytes = segment(3);
        let second = scan(Path::new("s"), &bytes, false).expect("intact").records[1].offset;
        bytes[second as usize + 12] ^= 0xFF;
        for newest in [true, false] {
            let e = scan(Path::new("/spool/x.seg"), &bytes, newest).expect_err("corrupt");
            let text = e.to_string();
            assert!(
                text.contains("/spool/x.seg") && text.contains(&format!("offset {second}")),
                "{text}"
            );
        }
    }

    #[test]
    fn damage_followed_only_by_unsynced_records_is_a_torn_tail() {
        // Records 2..=4 written in one group after record 1 was synced; the crash persisted 3 and 4
        // but not 2 (the kernel may write pages out of order before the fsync).
        let mut bytes = header().to_vec();
        encode_frame(&record(1), HEADER_LEN, &mut bytes);
        let synced = bytes.len() as u64;
        for i in 2..=4 {
            encode_frame(&record(i), synced, &mut bytes);
        }
        let second = synced as usize;
        for b in &mut bytes[second..second + 30] {
            *b = 0;
        }
        let s = scan(Path::new("s"), &bytes, true).expect("torn tail");
        assert_eq!((s.records.len(), s.valid_len), (1, synced));
        // In an older segment the same is corruption.
        assert!(scan(Path::new("s"), &bytes, false).is_err());
    }

    #[test]
    fn a_damaged_length_is_caught_and_not_taken_for_a_torn_tail() {
        let mut bytes = segment(4);
        let third = scan(Path::new("s"), &bytes, false).expect("intact").records[2].offset;
        bytes[third as usize + 3] ^= 0x40;
        let e = scan(Path::new("s"), &bytes, true).expect_err("corruption, not a tear");
        assert!(e.to_string().contains("damaged record header"), "{e}");
    }

    #[test]
    fn a_torn_tail_in_an_older_segment_is_corruption() {
        let bytes = segment(2);
        let e = scan(Path::new("old.seg"), &bytes[..bytes.len() - 3], false).expect_err("corrupt");
        assert!(e.to_string().contains("incomplete record"), "{e}");
    }

    /// Whatever the damage, a scan returns an exact prefix of what was written (a torn tail is only
    /// ever cut from the end) or stops with an error: it never skips or alters a record.
    #[test]
    fn random_damage_yields_a_prefix_or_an_error_never_a_skip() {
        let bytes = segment(12);
        let whole = scan(Path::new("s"), &bytes, false).expect("intact").records;
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..3000 {
            let mut damaged = bytes.clone();
            match round % 3 {
                0 => {
                    let i = (next() % damaged.len() as u64) as usize;
                    damaged[i] ^= 1 << (next() % 8);
                }
                1 => damaged.truncate((next() % damaged.len() as u64) as usize),
                _ => {
                    let from = (next() % damaged.len() as u64) as usize;
                    for b in &mut damaged[from..] {
                        *b = 0;
                    }
                }
            }
            for newest in [true, false] {
                if let Ok(s) = scan(Path::new("s"), &damaged, newest) {
                    assert!(
                        s.records.len() <= whole.len() && s.records[..] == whole[..s.records.len()],
                        "round {round}: not a prefix"
                    );
                    assert!(
                        newest || s.torn.is_none(),
                        "round {round}: torn tail in an old segment"
                    );
                }
            }
        }
    }

    #[test]
    fn a_foreign_file_is_refused() {
        let e = scan(Path::new("x.seg"), b"SQLite format 3\0 and more", true).expect_err("foreign");
        assert!(e.to_string().contains("MSGSPOOL"), "{e}");
    }
}
