//! The values that cross the [`Store`](super::Store) boundary.

pub use crate::audit::{ActHitRow, HitRow};
use crate::message::{DeadReason, MessageRow};

/// A comma-separated list column (words, receivers) as its items: trimmed, empties dropped.
pub fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A message that could not be decrypted or parsed, with everything needed to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub corp_id: String,
    pub seq: u64,
    pub msg_id: String,
    pub publickey_ver: u32,
    pub encrypt_random_key: String,
    pub encrypt_chat_msg: String,
    pub reason: DeadReason,
    /// The error in words (never key material or message content).
    pub detail: String,
}

/// A dead letter as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDeadLetter {
    pub letter: DeadLetter,
    pub resolved: bool,
    pub attempts: u32,
    pub create_time: i64,
    pub update_time: i64,
}

/// The outcome of re-driving one dead letter.
#[derive(Debug, Clone)]
pub enum Redrive {
    Resolved {
        /// The letter as it was read (a store without updates writes a new version of it).
        letter: Box<StoredDeadLetter>,
        row: Box<MessageRow>,
    },
    StillDead {
        letter: Box<StoredDeadLetter>,
        reason: DeadReason,
        detail: String,
    },
}

/// One corp's batch for [`IngestStore::store_batch`](super::IngestStore::store_batch).
#[derive(Debug, Clone, Default)]
pub struct StoreBatch {
    pub corp_id: String,
    pub messages: Vec<MessageRow>,
    pub dead_letters: Vec<DeadLetter>,
    /// Strategy hits on this batch's messages.
    pub hits: Vec<HitRow>,
    /// Behaviour hits on this batch's messages.
    pub act_hits: Vec<ActHitRow>,
    /// The corp's checkpoint after this batch: the largest seq it covers.
    pub checkpoint: u64,
}

/// What a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub inserted: u64,
    /// Messages already stored (a replayed batch).
    pub duplicates: u64,
    pub dead_letters: u64,
    /// Strategy hits newly stored.
    pub hits: u64,
    /// Behaviour hits newly stored.
    pub act_hits: u64,
}

/// A stored message (identified by corp and msgid, or corp and seq).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredMessage {
    #[serde(flatten)]
    pub row: MessageRow,
}

/// A message search. Empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    pub corp_id: Option<String>,
    /// Inclusive lower bound of `msg_time`, epoch ms.
    pub since_ms: Option<i64>,
    /// Exclusive upper bound of `msg_time`, epoch ms.
    pub until_ms: Option<i64>,
    pub from_id: Option<String>,
    pub room_id: Option<String>,
    /// Substring of the visible text.
    pub text: Option<String>,
    /// Page in (corp, seq) order instead of by time: only rows after this position
    /// ([`SeqCursor::default`] is the start). Backend-neutral: no row ids.
    pub by_seq: Option<SeqCursor>,
    pub limit: u32,
    /// Read only what the audit needs: the body (`contact`) of link messages alone, the others'
    /// read empty (a re-audit reads every message; their bodies are most of what it would read).
    pub for_audit: bool,
}

/// A position in (corp, seq) order, for paging through messages or dead letters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqCursor {
    pub corp_id: String,
    pub seq: u64,
}

impl SeqCursor {
    /// The position just past a row.
    pub fn after(corp_id: &str, seq: u64) -> SeqCursor {
        SeqCursor {
            corp_id: corp_id.to_owned(),
            seq,
        }
    }
}

/// A dead-letter listing.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterQuery {
    pub corp_id: Option<String>,
    pub pending_only: bool,
    /// Only letters after this (corp, seq) position, in that order (for paging).
    pub after: SeqCursor,
    pub limit: u32,
}

/// A corp from `we_corp_account`: secrets by reference only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpAccount {
    pub corp_id: String,
    pub company_name: String,
    /// `env:VARIABLE` or `file:/path`.
    pub chat_secret_ref: String,
    /// `VERSION=/path.pem`, comma- or newline-separated.
    pub private_keys_ref: String,
}

/// A stored hit (identified by corp, msgid and strategy).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredHit {
    #[serde(flatten)]
    pub hit: HitRow,
}

/// A hit search. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HitQuery {
    pub corp_id: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub strategy_id: Option<i64>,
    /// One of the hit's words.
    pub word: Option<String>,
    pub from_id: Option<String>,
    pub room_id: Option<String>,
    pub send_status: Option<u8>,
    /// One of the hit's receivers (`to_list`).
    pub to_id: Option<String>,
    /// Only the hits on this message.
    pub msg_id: Option<String>,
    /// Only the hits in this conversation (strategy hits; a behaviour hit has none).
    pub conversation: Option<crate::message::Conversation>,
    /// Only the hits on these messages (a page of a conversation); empty does not filter.
    pub msg_ids: Vec<String>,
    /// Only these strategies (an auditor's); `Some(empty)` matches nothing.
    pub strategy_ids: Option<Vec<i64>>,
    /// Behaviour hits: only this behaviour.
    pub act_id: Option<i64>,
    /// Behaviour hits: only these operators (an auditor's scope); `Some(empty)` matches nothing.
    pub operator_ids: Option<Vec<String>>,
    /// Only hits in this review state (a hit never reviewed is pending).
    pub review_state: Option<super::review::ReviewState>,
    /// Only rows after this one in the listing's order (keyset paging, stable under inserts).
    pub after: Option<HitCursor>,
    pub limit: u32,
}

/// The SQL condition, with a `?` for each of its values, of a strategy hit being in `c`: a
/// group's hits by room, a pair's those one of them sent the other outside any group (the same
/// rule as [`Conversation::of`](crate::message::Conversation::of)). Both stores use it. A pair's
/// receivers and senders are also given as `IN` lists, so that an index on (receiver, sender)
/// reads both directions as ranges (SQLite's pair index); the `OR` keeps only this pair's two.
pub(crate) fn conversation_condition(
    c: &crate::message::Conversation,
) -> (&'static str, Vec<String>) {
    use crate::message::Conversation;
    match c {
        Conversation::Room(room) => ("room_id = ?", vec![room.clone()]),
        Conversation::Pair(a, b) => (
            "(room_id = '' AND to_list IN (?, ?) AND from_id IN (?, ?) \
             AND ((from_id = ? AND to_list = ?) OR (from_id = ? AND to_list = ?)))",
            [a, b, a, b, a, b, b, a].map(String::clone).to_vec(),
        ),
    }
}

/// A position in a hit listing (newest first, then msgid descending, then strategy or behaviour
/// id ascending): the last row of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HitCursor {
    pub msg_time: i64,
    pub msg_id: String,
    /// The strategy id (strategy hits) or behaviour id (behaviour hits).
    pub id: i64,
}

/// Hits of one calendar day (in the zone asked for) for one strategy or behaviour.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DailyCount {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// `strategy` or `behaviour`.
    pub kind: &'static str,
    pub id: i64,
    pub name: String,
    pub count: u64,
}

/// Messages stored before or after one message in the same conversation.
#[derive(Debug, Clone)]
pub struct ContextQuery {
    pub corp_id: String,
    pub msg_id: String,
    /// The message's time, epoch ms (a hit carries it): with the corp it finds the message by key.
    pub msg_time: i64,
    /// Messages before and after.
    pub around: u32,
}

/// Hit totals, for summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HitCounts {
    /// (strategy id, strategy name, hits)
    pub strategies: Vec<(i64, String, u64)>,
    /// (behaviour name, hits)
    pub acts: Vec<(String, u64)>,
}

/// How far one corp's archive is stored, for `msgaudit status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorpProgress {
    pub corp_id: String,
    /// The checkpoint: the last seq stored.
    pub checkpoint: u64,
    /// `msgtime` of the newest stored message, epoch ms (0: none).
    pub newest_msg_ms: i64,
    /// Dead letters not yet re-driven, by reason name.
    pub pending_dead: Vec<(String, u64)>,
}
