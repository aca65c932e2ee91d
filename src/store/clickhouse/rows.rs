//! Row types as the ClickHouse tables hold them, and their conversions to the store's values.
//! Validation is off (18.16 cannot answer it), so field order must match the `SELECT ?fields` the
//! crate generates from these structs, and field types the columns: the schema test checks both.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::message::DeadReason;
use crate::message::MessageRow;
use crate::store::types::split_list;
use crate::store::{ActHitRow, DeadLetter, HitRow, StoredDeadLetter};

fn ms(v: i64) -> u64 {
    v.max(0) as u64
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `we_chat_contact_msg`, borrowed both ways: a message goes in straight from its
/// [`MessageRow`], without copying a field, and comes back out of the response buffer, copied once
/// into a `MessageRow`. Times are the table's `UInt64`; `create_time` versions the row.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct MsgRow<'a> {
    pub corp_id: &'a str,
    pub msg_id: &'a str,
    pub seq: u64,
    pub publickey_ver: u32,
    pub from_id: &'a str,
    pub to_list: &'a str,
    pub room_id: &'a str,
    pub action: &'a str,
    pub msg_type: &'a str,
    pub msg_time: u64,
    pub contact: &'a str,
    pub is_external: u8,
    pub plain_text: &'a str,
    pub create_time: u64,
    pub del_flg: u8,
}

impl<'a> MsgRow<'a> {
    pub fn new(r: &'a MessageRow, now: u64) -> MsgRow<'a> {
        MsgRow {
            corp_id: &r.corp_id,
            msg_id: &r.msg_id,
            seq: r.seq,
            publickey_ver: r.publickey_ver,
            from_id: &r.from_id,
            to_list: &r.to_list,
            room_id: &r.room_id,
            action: &r.action,
            msg_type: &r.msg_type,
            msg_time: ms(r.msg_time),
            contact: &r.contact,
            is_external: r.is_external,
            plain_text: &r.plain_text,
            create_time: now,
            del_flg: 0,
        }
    }

    pub fn to_message(&self) -> MessageRow {
        MessageRow {
            corp_id: self.corp_id.to_owned(),
            msg_id: self.msg_id.to_owned(),
            seq: self.seq,
            publickey_ver: self.publickey_ver,
            from_id: self.from_id.to_owned(),
            to_list: self.to_list.to_owned(),
            room_id: self.room_id.to_owned(),
            action: self.action.to_owned(),
            msg_type: self.msg_type.to_owned(),
            msg_time: signed(self.msg_time),
            contact: self.contact.to_owned(),
            is_external: self.is_external,
            plain_text: self.plain_text.to_owned(),
            attachments: Vec::new(),
        }
    }
}

/// `we_chat_msg_checkpoint`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct CheckpointRow {
    pub corp_id: String,
    pub seq: u64,
    pub update_time: u64,
}

/// `we_chat_msg_dead_letter`: every change is a new version of the row (by `update_time`).
/// Borrowed both ways, like [`MsgRow`]: written from a [`DeadLetter`] without copying its
/// ciphertexts, read back out of the response buffer.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct DeadRow<'a> {
    pub corp_id: &'a str,
    pub seq: u64,
    pub msg_id: &'a str,
    pub publickey_ver: u32,
    pub encrypt_random_key: &'a str,
    pub encrypt_chat_msg: &'a str,
    pub reason: &'a str,
    pub detail: &'a str,
    pub status: u8,
    pub attempts: u32,
    pub create_time: u64,
    pub update_time: u64,
}

impl<'a> DeadRow<'a> {
    pub fn new(d: &'a DeadLetter, now: u64) -> DeadRow<'a> {
        DeadRow {
            corp_id: &d.corp_id,
            seq: d.seq,
            msg_id: &d.msg_id,
            publickey_ver: d.publickey_ver,
            encrypt_random_key: &d.encrypt_random_key,
            encrypt_chat_msg: &d.encrypt_chat_msg,
            reason: d.reason.as_str(),
            detail: &d.detail,
            status: 0,
            attempts: 1,
            create_time: now,
            update_time: now,
        }
    }

    pub fn from_stored(d: &'a StoredDeadLetter) -> DeadRow<'a> {
        DeadRow {
            status: u8::from(d.resolved),
            attempts: d.attempts,
            create_time: ms(d.create_time),
            update_time: ms(d.update_time),
            ..DeadRow::new(&d.letter, 0)
        }
    }

    pub fn to_stored(&self) -> StoredDeadLetter {
        StoredDeadLetter {
            letter: DeadLetter {
                reason: DeadReason::parse(self.reason).unwrap_or(DeadReason::InvalidMessage),
                corp_id: self.corp_id.to_owned(),
                seq: self.seq,
                msg_id: self.msg_id.to_owned(),
                publickey_ver: self.publickey_ver,
                encrypt_random_key: self.encrypt_random_key.to_owned(),
                encrypt_chat_msg: self.encrypt_chat_msg.to_owned(),
                detail: self.detail.to_owned(),
            },
            resolved: self.status == 1,
            attempts: self.attempts,
            create_time: signed(self.create_time),
            update_time: signed(self.update_time),
        }
    }
}

/// `we_corp_account`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct CorpRow {
    pub company_name: String,
    pub corp_id: String,
    pub chat_secret: String,
    pub finance_private_key: String,
    pub create_time: u64,
    pub del_flag: u8,
}

/// One string column.
#[derive(Debug, Clone, Row, Deserialize)]
pub struct Text {
    pub value: String,
}

/// One number.
#[derive(Debug, Clone, Row, Deserialize)]
pub struct Count {
    pub value: u64,
}

/// `we_chat_contact_sensitive_msg`: a later `send_status` is a new version (by `update_time`).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct HitChRow {
    pub corp_id: String,
    pub msg_id: String,
    pub strategy_id: i64,
    pub strategy_name: String,
    pub pattern_words: String,
    pub spans: String,
    pub content: String,
    pub from_id: String,
    pub to_list: String,
    pub room_id: String,
    pub msg_time: u64,
    pub direction: String,
    pub audit_user_id: String,
    pub send_status: u8,
    pub rules_version: u64,
    pub create_time: u64,
    pub update_time: u64,
}

impl HitChRow {
    pub fn new(h: &HitRow, now: u64) -> HitChRow {
        HitChRow {
            corp_id: h.corp_id.clone(),
            msg_id: h.msg_id.clone(),
            strategy_id: h.strategy_id,
            strategy_name: h.strategy_name.clone(),
            pattern_words: h.words.join(","),
            spans: serde_json::to_string(&h.spans).unwrap_or_else(|_| "[]".into()),
            content: h.content.clone(),
            from_id: h.from_id.clone(),
            to_list: h.to_list.clone(),
            room_id: h.room_id.clone(),
            msg_time: ms(h.msg_time),
            direction: h.direction.clone(),
            audit_user_id: h.audit_user_id.clone(),
            send_status: h.send_status,
            rules_version: h.rules_version,
            create_time: now,
            update_time: now,
        }
    }

    pub fn into_hit(self) -> HitRow {
        HitRow {
            words: split_list(&self.pattern_words),
            spans: serde_json::from_str(&self.spans).unwrap_or_default(),
            corp_id: self.corp_id,
            msg_id: self.msg_id,
            strategy_id: self.strategy_id,
            strategy_name: self.strategy_name,
            content: self.content,
            from_id: self.from_id,
            to_list: self.to_list,
            room_id: self.room_id,
            msg_time: signed(self.msg_time),
            direction: self.direction,
            audit_user_id: self.audit_user_id,
            send_status: self.send_status,
            rules_version: self.rules_version,
        }
    }
}

/// `we_sensitive_act_hit`.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct ActHitChRow {
    pub corp_id: String,
    pub msg_id: String,
    pub operator_id: String,
    pub operator: String,
    pub operate_target_id: String,
    pub operate_target: String,
    pub sensitive_act_id: u32,
    pub sensitive_act: String,
    pub detail: String,
    pub msg_time: u64,
    pub create_time: u64,
}

impl ActHitChRow {
    pub fn new(a: &ActHitRow, now: u64) -> ActHitChRow {
        ActHitChRow {
            corp_id: a.corp_id.clone(),
            msg_id: a.msg_id.clone(),
            operator_id: a.operator_id.clone(),
            operator: a.operator.clone(),
            operate_target_id: a.operate_target_id.clone(),
            operate_target: a.operate_target.clone(),
            sensitive_act_id: u32::try_from(a.sensitive_act_id).unwrap_or(0),
            sensitive_act: a.sensitive_act.clone(),
            detail: a.detail.clone(),
            msg_time: ms(a.msg_time),
            create_time: now,
        }
    }

    pub fn into_act_hit(self) -> ActHitRow {
        ActHitRow {
            corp_id: self.corp_id,
            msg_id: self.msg_id,
            sensitive_act_id: i64::from(self.sensitive_act_id),
            sensitive_act: self.sensitive_act,
            operator_id: self.operator_id,
            operator: self.operator,
            operate_target_id: self.operate_target_id,
            operate_target: self.operate_target,
            detail: self.detail,
            msg_time: signed(self.msg_time),
        }
    }
}

/// A stored hit's key within a corp.
#[derive(Debug, Clone, Row, Deserialize)]
pub struct HitKey {
    pub msg_id: String,
    pub id: i64,
}

/// A count per day and id, with a name.
#[derive(Debug, Clone, Row, Deserialize)]
pub struct DayCount {
    pub day: String,
    pub id: i64,
    pub name: String,
    pub value: u64,
}

/// A count per corp and reason.
#[derive(Debug, Clone, Row, Deserialize)]
pub struct CorpReasonCount {
    pub corp_id: String,
    pub reason: String,
    pub value: u64,
}

/// A count by id, with a name.
#[derive(Debug, Clone, Row, Deserialize)]
pub struct NamedCount {
    pub id: i64,
    pub name: String,
    pub value: u64,
}
