//! The audit's findings as the store keeps them: one row of `we_chat_contact_sensitive_msg` per
//! strategy hit and one of `we_sensitive_act_hit` per behaviour hit, each with the message's
//! context (corp, msgid, people, time). Plain values: the live audit in the pipeline fills them, the
//! store keeps them, the alert outbox and the workspace read them.

/// One row of `we_chat_contact_sensitive_msg`: a strategy's hit on a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HitRow {
    pub corp_id: String,
    pub msg_id: String,
    pub strategy_id: i64,
    pub strategy_name: String,
    /// The words that hit, as configured, each once.
    pub words: Vec<String>,
    /// Byte spans into the message's visible text.
    pub spans: Vec<(usize, usize)>,
    /// The snippet: the text around the first hit, every hit inside it marked 【】.
    pub content: String,
    pub from_id: String,
    pub to_list: String,
    pub room_id: String,
    pub msg_time: i64,
    pub direction: String,
    pub audit_user_id: String,
    /// 0 pending, 1 sent, 2 failed, 3 no alert wanted.
    pub send_status: u8,
    pub rules_version: u64,
}

impl HitRow {
    /// The alert status in words: `pending`, `sent`, `failed` or `none` (no alert wanted).
    pub fn send_status_name(&self) -> &'static str {
        match self.send_status {
            0 => "pending",
            1 => "sent",
            2 => "failed",
            _ => "none",
        }
    }
}

/// One row of `we_sensitive_act_hit`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ActHitRow {
    pub corp_id: String,
    pub msg_id: String,
    pub sensitive_act_id: i64,
    pub sensitive_act: String,
    pub operator_id: String,
    pub operator: String,
    pub operate_target_id: String,
    pub operate_target: String,
    pub detail: String,
    pub msg_time: i64,
}

impl ActHitRow {
    /// The row of behaviour hit `hit` found in message `row`.
    pub fn of(row: &crate::message::MessageRow, hit: super::ActHit) -> ActHitRow {
        ActHitRow {
            corp_id: row.corp_id.clone(),
            msg_id: row.msg_id.clone(),
            sensitive_act_id: hit.act.id(),
            sensitive_act: hit.act.name().to_owned(),
            operator_id: hit.operator_id,
            operator: hit.operator,
            operate_target_id: hit.target_id,
            operate_target: hit.target,
            detail: hit.detail,
            msg_time: row.msg_time,
        }
    }
}
