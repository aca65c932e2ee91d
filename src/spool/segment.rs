//! Segment files: `NNNNNNNNNNNNNNNNNNNN.seg` in the spool directory, numbered in write order, each a
//! 16-byte header (`MSGSPOOL`, format version, zero padding) followed by framed records
//! ([`super::record`]).
//!
//! [`scan`] checks a whole segment when the spool opens. Only the newest segment can end in a torn
//! write — the records of every older one were fsync'd before the next segment was created — so a
//! damaged or incomplete frame there, with nothing readable after it, is a torn tail to truncate. A
//! damaged frame anywhere else, or one followed by intact records, is corruption: the scan stops
//! with the file and the offset, and nothing is skipped.

use std::path::{Path, PathBuf};

use prost::Message;

use super::SpoolError;
use super::record::{Frame, RecordSummary, read_frame};

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

/// Whether any intact frame starts in `rest` at a frame boundary reachable from its start (used to
/// tell a torn tail from damage in the middle of data).
fn intact_frame_follows(rest: &[u8]) -> bool {
    let mut at = 0usize;
    while at < rest.len() {
        match read_frame(&rest[at..]) {
            Frame::Good { .. } => return true,
            Frame::Incomplete => return false,
            Frame::Bad(_) => {
                // Step over the claimed length, if there is one to trust; otherwise look no further.
                let len = rest
                    .get(at..at + 4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                    .unwrap_or(0);
                if len == 0 || len > super::record::MAX_PAYLOAD as usize {
                    return false;
                }
                at += super::record::FRAME_HEADER + len;
            }
        }
    }
    false
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
            Frame::Good { payload, frame_len } => {
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
        // Damage at `offset`: a torn tail only at the end of the newest segment.
        let rest = &bytes[at..];
        let further = match read_frame(rest) {
            Frame::Bad(_) => {
                let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                rest.get(super::record::FRAME_HEADER + len..)
                    .is_some_and(intact_frame_follows)
            }
            _ => false,
        };
        if newest && !further {
            let mut scan = torn_at(offset, problem);
            scan.records = records;
            return Ok(scan);
        }
        return Err(corrupt(
            path,
            offset,
            format!("{problem} in the middle of the spool"),
        ));
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

    fn segment(records: u64) -> Vec<u8> {
        let mut bytes = header().to_vec();
        for i in 1..=records {
            let r = SpoolRecord {
                corp_id: "ww1".into(),
                from_seq: (i - 1) * 10,
                checkpoint: i * 10,
                pulled_at_ms: 1,
                count: 0,
                messages: Vec::new(),
            };
            encode_frame(&r, &mut bytes);
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
    fn a_torn_tail_in_an_older_segment_is_corruption() {
        let bytes = segment(2);
        let e = scan(Path::new("old.seg"), &bytes[..bytes.len() - 3], false).expect_err("corrupt");
        assert!(e.to_string().contains("incomplete record"), "{e}");
    }

    #[test]
    fn a_foreign_file_is_refused() {
        let e = scan(Path::new("x.seg"), b"SQLite format 3\0 and more", true).expect_err("foreign");
        assert!(e.to_string().contains("MSGSPOOL"), "{e}");
    }
}
