//! Reading rows back into values: messages, dead letters, hits, robots and posts.

use rusqlite::Row;

use crate::alert::outbox::{AlertPost, Destination, PostStatus, Robot};
use crate::message::{DeadReason, MessageRow};
use crate::store::{DeadLetter, HitRow, StoredDeadLetter, StoredHit, StoredMessage, split_list};

/// The columns `message_from` reads, in order.
pub(super) const MESSAGE_COLUMNS: &str = "corp_id, msg_id, seq, publickey_ver, from_id, to_list, room_id, action, \
    msg_type, msg_time, contact, is_external, plain_text";

pub(super) fn message_from(row: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        row: MessageRow {
            corp_id: row.get(0)?,
            msg_id: row.get(1)?,
            seq: row.get::<_, i64>(2)?.max(0) as u64,
            publickey_ver: row.get(3)?,
            from_id: row.get(4)?,
            to_list: row.get(5)?,
            room_id: row.get(6)?,
            action: row.get(7)?,
            msg_type: row.get(8)?,
            msg_time: row.get(9)?,
            contact: row.get(10)?,
            is_external: row.get(11)?,
            plain_text: row.get(12)?,
        },
    })
}

pub(super) fn dead_letter_from(row: &Row<'_>) -> rusqlite::Result<StoredDeadLetter> {
    let reason: String = row.get(7)?;
    Ok(StoredDeadLetter {
        letter: DeadLetter {
            corp_id: row.get(0)?,
            seq: row.get::<_, i64>(1)?.max(0) as u64,
            msg_id: row.get(2)?,
            publickey_ver: row.get(3)?,
            encrypt_random_key: row.get(4)?,
            encrypt_chat_msg: row.get(5)?,
            detail: row.get(6)?,
            reason: DeadReason::parse(&reason).unwrap_or(DeadReason::InvalidMessage),
        },
        resolved: row.get::<_, i64>(8)? == 1,
        attempts: row.get(9)?,
        create_time: row.get(10)?,
        update_time: row.get(11)?,
    })
}

pub(super) fn hit_from(r: &Row<'_>) -> rusqlite::Result<StoredHit> {
    let spans: String = r.get(5)?;
    Ok(StoredHit {
        hit: HitRow {
            corp_id: r.get(0)?,
            msg_id: r.get(1)?,
            strategy_id: r.get(2)?,
            strategy_name: r.get(3)?,
            words: split_list(&r.get::<_, String>(4)?),
            spans: serde_json::from_str(&spans).unwrap_or_default(),
            content: r.get(6)?,
            from_id: r.get(7)?,
            to_list: r.get(8)?,
            room_id: r.get(9)?,
            msg_time: r.get(10)?,
            direction: r.get(11)?,
            audit_user_id: r.get(12)?,
            send_status: r.get::<_, i64>(13)? as u8,
            rules_version: r.get::<_, i64>(14)?.max(0) as u64,
        },
    })
}

pub(super) fn robot_from(r: &Row<'_>) -> rusqlite::Result<Robot> {
    Ok(Robot {
        id: r.get(0)?,
        group_name: r.get(1)?,
        web_hook_url: r.get(2)?,
        corp_id: r.get(3)?,
        strategy_ids: split_list(&r.get::<_, String>(4)?)
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect(),
        msg_type: r.get(5)?,
    })
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
