//! Reading rows back into values: messages, dead letters, hits, robots and posts.
//!
//! [`from_columns!`] builds a value from a row's columns in `SELECT` order, so no mapper keeps
//! column indexes by hand: each field reads the next column, through a conversion where the stored
//! form differs (`seq as unsigned`).

use rusqlite::Row;

/// `from_columns!(row => Type { a, b as conv, c })` reads column 0 into `a`, column 1 through
/// `conv` into `b`, column 2 into `c`; `from_columns!(row, 8 => …)` starts at column 8; a trailing
/// `; ..rest` fills the fields no column holds. Returns early with the row's error, like `?`.
macro_rules! from_columns {
    ($row:expr => $ty:ident { $($field:ident $(as $conv:expr)?),* $(,)? $(; ..$rest:expr)? }) => {
        from_columns!($row, 0 => $ty { $($field $(as $conv)?),* $(; ..$rest)? })
    };
    ($row:expr, $first:expr => $ty:ident { $($field:ident $(as $conv:expr)?),* $(,)? $(; ..$rest:expr)? }) => {{
        let mut next: usize = $first;
        let mut column = || {
            next += 1;
            next - 1
        };
        $ty { $($field: from_columns!(@read $row, column() $(, $conv)?)),* $(, ..$rest)? }
    }};
    (@read $row:expr, $i:expr) => {
        $row.get($i)?
    };
    (@read $row:expr, $i:expr, $conv:expr) => {
        ($conv)($row.get($i)?)
    };
}
pub(super) use from_columns;

/// An unsigned count or seq stored as SQLite's signed integer.
pub(super) fn unsigned(v: i64) -> u64 {
    v.max(0) as u64
}

/// A comma-separated list column as its items.
pub(super) fn list(v: String) -> Vec<String> {
    split_list(&v)
}

use crate::alert::outbox::{AlertPost, Destination, PostStatus, Robot};
use crate::message::{DeadReason, MessageRow};
use crate::store::{DeadLetter, HitRow, StoredDeadLetter, StoredHit, StoredMessage, split_list};

/// The columns `message_from` reads, in order.
pub(super) const MESSAGE_COLUMNS: &str = "corp_id, msg_id, seq, publickey_ver, from_id, to_list, room_id, action, \
    msg_type, msg_time, contact, is_external, plain_text";

/// [`MESSAGE_COLUMNS`] as the audit reads them: a body only for the message type whose body the
/// detectors read (see [`crate::store::MessageQuery::for_audit`]).
pub(super) fn audit_columns() -> &'static str {
    static COLUMNS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COLUMNS.get_or_init(|| {
        let body = format!(
            "CASE WHEN msg_type = '{}' THEN contact ELSE '' END",
            crate::audit::behaviour::BODY_READ_FOR
        );
        MESSAGE_COLUMNS
            .split(", ")
            .map(|c| if c == "contact" { body.as_str() } else { c })
            .collect::<Vec<_>>()
            .join(", ")
    })
}

pub(super) fn message_from(row: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    let row = from_columns!(row => MessageRow {
        corp_id, msg_id, seq as unsigned, publickey_ver, from_id, to_list, room_id, action,
        msg_type, msg_time, contact, is_external, plain_text; ..MessageRow::default()
    });
    Ok(StoredMessage { row })
}

pub(super) fn dead_letter_from(row: &Row<'_>) -> rusqlite::Result<StoredDeadLetter> {
    let reason = |name: String| DeadReason::parse(&name).unwrap_or(DeadReason::InvalidMessage);
    let letter = from_columns!(row => DeadLetter {
        corp_id, seq as unsigned, msg_id, publickey_ver, encrypt_random_key, encrypt_chat_msg,
        detail, reason as reason,
    });
    Ok(StoredDeadLetter {
        letter,
        resolved: row.get::<_, i64>(8)? == 1,
        attempts: row.get(9)?,
        create_time: row.get(10)?,
        update_time: row.get(11)?,
    })
}

pub(super) fn hit_from(r: &Row<'_>) -> rusqlite::Result<StoredHit> {
    let spans = |json: String| serde_json::from_str(&json).unwrap_or_default();
    let hit = from_columns!(r => HitRow {
        corp_id, msg_id, strategy_id, strategy_name, words as list, spans as spans, content,
        from_id, to_list, room_id, msg_time, direction, audit_user_id,
        send_status as |v: i64| v as u8, rules_version as unsigned,
    });
    Ok(StoredHit { hit })
}

pub(super) fn robot_from(r: &Row<'_>) -> rusqlite::Result<Robot> {
    let ids = |list: String| {
        split_list(&list)
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect()
    };
    Ok(from_columns!(r => Robot {
        id, group_name, web_hook_url, corp_id, strategy_ids as ids, msg_type,
    }))
}

pub(super) fn post_from(r: &Row<'_>) -> rusqlite::Result<Option<AlertPost>> {
    let destination: String = r.get(1)?;
    let keys: String = r.get(5)?;
    let (Some(destination), Some(status)) = (
        Destination::parse(&destination),
        PostStatus::from_code(r.get(6)?),
    ) else {
        return Ok(None);
    };
    Ok(Some(AlertPost {
        id: r.get(0)?,
        destination,
        title: r.get(2)?,
        msg_type: r.get(3)?,
        content: r.get(4)?,
        hits: serde_json::from_str(&keys).unwrap_or_default(),
        status,
        attempts: r.get(7)?,
        next_attempt_ms: r.get(8)?,
        last_error: r.get(9)?,
        send_time_ms: r.get(10)?,
        create_time_ms: r.get(11)?,
    }))
}
