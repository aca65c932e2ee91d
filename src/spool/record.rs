//! What one spool record holds and how it is framed on disk.
//!
//! A record is one pulled batch of one corp, exactly as `GetChatData` gave it (still encrypted):
//! the corp, the seq the pull started after (`from_seq`), the largest seq of the batch
//! (`checkpoint`), and the messages. It is encoded with `prost` and framed as
//!
//! ```text
//! ┌──────────────┬──────────────────────────────┬─────────────────────┐
//! │ len: u32 LE  │ crc: u32 LE                  │ payload: len bytes  │
//! │              │ CRC-32C of len ‖ payload     │ (prost SpoolRecord) │
//! └──────────────┴──────────────────────────────┴─────────────────────┘
//! ```
//!
//! The checksum covers the length too, so a damaged length cannot pass as a shorter record. The
//! header fields come before the messages in the encoding, so [`RecordSummary`] decodes them
//! without building the messages.

use prost::Message;

use crate::sdk::EncryptedMessage;

/// Bytes of the frame before the payload.
pub const FRAME_HEADER: usize = 8;

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

fn checksum(len: [u8; 4], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len), payload)
}

/// Appends `record`'s frame to `out`; returns the frame's length.
pub fn encode_frame(record: &SpoolRecord, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    let len = record.encoded_len();
    out.reserve(FRAME_HEADER + len);
    out.extend_from_slice(&[0; FRAME_HEADER]);
    // Encoding into a Vec cannot run out of room.
    let _ = record.encode(out);
    let payload_len = u32::try_from(out.len() - start - FRAME_HEADER).unwrap_or(u32::MAX);
    let len_bytes = payload_len.to_le_bytes();
    let crc = checksum(len_bytes, &out[start + FRAME_HEADER..]);
    out[start..start + 4].copy_from_slice(&len_bytes);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    out.len() - start
}

/// What is at an offset where a frame should start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole frame whose checksum holds: its payload and the frame's total length.
    Good { payload: &'a [u8], frame_len: usize },
    /// The bytes end before the frame does (a torn write, or the end of what is committed).
    Incomplete,
    /// The frame is all there but wrong.
    Bad(&'static str),
}

/// Reads the frame at the start of `bytes`.
pub fn read_frame(bytes: &[u8]) -> Frame<'_> {
    let Some(header) = bytes.get(..FRAME_HEADER) else {
        return Frame::Incomplete;
    };
    let len_bytes = [header[0], header[1], header[2], header[3]];
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let len = u32::from_le_bytes(len_bytes);
    if len == 0 {
        return Frame::Bad("a zero length");
    }
    if len > MAX_PAYLOAD {
        return Frame::Bad("a length beyond any batch");
    }
    let Some(payload) = bytes.get(FRAME_HEADER..FRAME_HEADER + len as usize) else {
        return Frame::Incomplete;
    };
    if checksum(len_bytes, payload) != crc {
        return Frame::Bad("a checksum mismatch");
    }
    Frame::Good {
        payload,
        frame_len: FRAME_HEADER + len as usize,
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
        let n = encode_frame(&r, &mut buf);
        assert_eq!(n, buf.len());
        let Frame::Good { payload, frame_len } = read_frame(&buf) else {
            panic!("good frame")
        };
        assert_eq!(frame_len, n);
        assert_eq!(SpoolRecord::decode(payload).expect("decodes"), r);
        let s = RecordSummary::decode(payload).expect("summary");
        assert_eq!((s.corp_id.as_str(), s.checkpoint, s.count), ("ww1", 5, 5));
    }

    #[test]
    fn every_cut_is_incomplete_and_every_flipped_bit_is_caught() {
        let mut buf = Vec::new();
        encode_frame(&record(3), &mut buf);
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
        assert_eq!(read_frame(&[0; 64]), Frame::Bad("a zero length"));
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
