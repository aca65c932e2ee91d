//! What one spool record holds and how it is framed on disk.
//!
//! A record is one pulled batch of one corp, exactly as `GetChatData` gave it (still encrypted):
//! the corp, the seq the pull started after (`from_seq`), the largest seq of the batch
//! (`checkpoint`), and the messages. It is encoded with `prost` and framed as
//!
//! ```text
//! ┌────────────┬───────────────┬──────────────────┬──────────────────┬───────────────────┐
//! │ len u32 LE │ synced u64 LE │ header crc u32   │ payload crc u32  │ payload: len bytes│
//! │            │               │ CRC-32C of 0..12 │ CRC-32C of payload│ (prost SpoolRecord)│
//! └────────────┴───────────────┴──────────────────┴──────────────────┴───────────────────┘
//! ```
//!
//! `synced` is how many bytes of the segment were already fsync'd when the frame was written. After
//! a crash it tells a torn tail from damage: a frame that a later intact frame says was synced cannot
//! be torn. The header has its own checksum, so a damaged length is caught as such and a scan can
//! look for the next intact frame cheaply. The header fields come before the messages in the
//! payload, so [`RecordSummary`] decodes them without building the messages.

use prost::Message;

use crate::sdk::EncryptedMessage;

/// Bytes of the frame before the payload.
pub const FRAME_HEADER: usize = 20;

/// The largest payload a record may claim (a 1,000-message batch is a few MiB; anything near this is
/// damage, not data).
pub const MAX_PAYLOAD: u32 = 256 << 20;

/// One pulled batch as spooled.
#[derive(Clone, PartialEq, Message)]
pub struct SpoolRecord {
    #[prost(string, tag = "1")]
    pub corp_id: String,
    /// The pull asked for messages after this seq.
    #[prost(uint64, tag = "2")]
    pub from_seq: u64,
    /// The largest seq of the batch.
    #[prost(uint64, tag = "3")]
    pub checkpoint: u64,
    /// When the batch was pulled, epoch ms.
    #[prost(int64, tag = "4")]
    pub pulled_at_ms: i64,
    #[prost(uint32, tag = "5")]
    pub count: u32,
    #[prost(message, repeated, tag = "6")]
    pub messages: Vec<SpooledMessage>,
}

/// One encrypted message as spooled (the fields of [`EncryptedMessage`]).
#[derive(Clone, PartialEq, Message)]
pub struct SpooledMessage {
    #[prost(uint64, tag = "1")]
    pub seq: u64,
    #[prost(string, tag = "2")]
    pub msgid: String,
    #[prost(uint32, tag = "3")]
    pub publickey_ver: u32,
    #[prost(string, tag = "4")]
    pub encrypt_random_key: String,
    #[prost(string, tag = "5")]
    pub encrypt_chat_msg: String,
}

/// A record's fields without its messages (prost skips the field it does not know).
#[derive(Clone, PartialEq, Message)]
pub struct RecordSummary {
    #[prost(string, tag = "1")]
    pub corp_id: String,
    #[prost(uint64, tag = "2")]
    pub from_seq: u64,
    #[prost(uint64, tag = "3")]
    pub checkpoint: u64,
    #[prost(int64, tag = "4")]
    pub pulled_at_ms: i64,
    #[prost(uint32, tag = "5")]
    pub count: u32,
}

impl From<EncryptedMessage> for SpooledMessage {
    fn from(m: EncryptedMessage) -> SpooledMessage {
        SpooledMessage {
            seq: m.seq,
            msgid: m.msgid,
            publickey_ver: m.publickey_ver,
            encrypt_random_key: m.encrypt_random_key,
            encrypt_chat_msg: m.encrypt_chat_msg,
        }
    }
}

impl From<SpooledMessage> for EncryptedMessage {
    fn from(m: SpooledMessage) -> EncryptedMessage {
        EncryptedMessage {
            seq: m.seq,
            msgid: m.msgid,
            publickey_ver: m.publickey_ver,
            encrypt_random_key: m.encrypt_random_key,
            encrypt_chat_msg: m.encrypt_chat_msg,
        }
    }
}

/// Appends `record`'s frame to `out`, with `synced` bytes of its segment already durable; returns
/// the frame's length.
pub fn encode_frame(record: &SpoolRecord, synced: u64, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.reserve(FRAME_HEADER + record.encoded_len());
    out.extend_from_slice(&[0; FRAME_HEADER]);
    // Encoding into a Vec cannot run out of room.
    let _ = record.encode(out);
    let payload_len = u32::try_from(out.len() - start - FRAME_HEADER).unwrap_or(u32::MAX);
    let payload_crc = crc32c::crc32c(&out[start + FRAME_HEADER..]);
    let header = &mut out[start..start + FRAME_HEADER];
    header[0..4].copy_from_slice(&payload_len.to_le_bytes());
    header[4..12].copy_from_slice(&synced.to_le_bytes());
    let header_crc = crc32c::crc32c(&header[0..12]);
    header[12..16].copy_from_slice(&header_crc.to_le_bytes());
    header[16..20].copy_from_slice(&payload_crc.to_le_bytes());
    out.len() - start
}

/// What is at an offset where a frame should start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole frame whose checksums hold.
    Good {
        payload: &'a [u8],
        frame_len: usize,
        /// Bytes of the segment durable when it was written.
        synced: u64,
    },
    /// The bytes end before the frame does (a torn write, or the end of what is committed).
    Incomplete,
    /// The frame is all there but wrong.
    Bad(&'static str),
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads the frame at the start of `bytes`.
pub fn read_frame(bytes: &[u8]) -> Frame<'_> {
    let Some(header) = bytes.get(..FRAME_HEADER) else {
        return Frame::Incomplete;
    };
    if crc32c::crc32c(&header[0..12]) != le32(&header[12..16]) {
        return Frame::Bad("a damaged record header");
    }
    let len = le32(&header[0..4]);
    if len == 0 || len > MAX_PAYLOAD {
        return Frame::Bad("a record length no batch has");
    }
    let mut synced = [0u8; 8];
    synced.copy_from_slice(&header[4..12]);
    let Some(payload) = bytes.get(FRAME_HEADER..FRAME_HEADER + len as usize) else {
        return Frame::Incomplete;
    };
    if crc32c::crc32c(payload) != le32(&header[16..20]) {
        return Frame::Bad("a checksum mismatch");
    }
    Frame::Good {
        payload,
        frame_len: FRAME_HEADER + len as usize,
        synced: u64::from_le_bytes(synced),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> SpoolRecord {
        let messages: Vec<SpooledMessage> = (1..=n)
            .map(|seq| SpooledMessage {
                seq,
                msgid: format!("m{seq}"),
                publickey_ver: 2,
                encrypt_random_key: "a2V5".into(),
                encrypt_chat_msg: "Y2lwaGVy".repeat(seq as usize),
            })
            .collect();
        SpoolRecord {
            corp_id: "ww1".into(),
            from_seq: 0,
            checkpoint: n,
            pulled_at_ms: 1_700_000_000_000,
            count: n as u32,
            messages,
        }
    }

    #[test]
    fn a_frame_round_trips_and_its_summary_skips_the_messages() {
        let r = record(5);
        let mut buf = Vec::new();
        let n = encode_frame(&r, 4096, &mut buf);
        assert_eq!(n, buf.len());
        let Frame::Good {
            payload,
            frame_len,
            synced,
        } = read_frame(&buf)
        else {
            panic!("good frame")
        };
        assert_eq!((frame_len, synced), (n, 4096));
        assert_eq!(SpoolRecord::decode(payload).expect("decodes"), r);
        let s = RecordSummary::decode(payload).expect("summary");
        assert_eq!((s.corp_id.as_str(), s.checkpoint, s.count), ("ww1", 5, 5));
    }

    #[test]
    fn every_cut_is_incomplete_and_every_flipped_bit_is_caught() {
        let mut buf = Vec::new();
        encode_frame(&record(3), 16, &mut buf);
        for cut in 0..buf.len() {
            assert_eq!(read_frame(&buf[..cut]), Frame::Incomplete, "cut at {cut}");
        }
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut damaged = buf.clone();
                damaged[i] ^= 1 << bit;
                assert!(
                    !matches!(read_frame(&damaged), Frame::Good { .. }),
                    "bit {bit} of byte {i} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn zeros_are_not_a_record() {
        assert_eq!(read_frame(&[0; 64]), Frame::Bad("a damaged record header"));
    }

    #[test]
    fn messages_move_both_ways_unchanged() {
        let m = EncryptedMessage {
            seq: 9,
            msgid: "id".into(),
            publickey_ver: 3,
            encrypt_random_key: "k".into(),
            encrypt_chat_msg: "c".into(),
        };
        let back: EncryptedMessage = SpooledMessage::from(m.clone()).into();
        assert_eq!(back, m);
    }
}
