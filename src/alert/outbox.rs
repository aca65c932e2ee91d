//! The alert outbox's values, which the store keeps (`OutboxStore`) and the sender works on: group robots (`we_group_robot_info`), where an
//! alert goes ([`Destination`]), posts (`we_group_robot_msg`, status 1 pending, 2 sent, 3 failed)
//! and which hits each post carries (`we_group_robot_msg_hit`).
//!
//! A hit with `send_status` 0 is an outbox entry: it was stored in the same durable step as the hit
//! itself. The sender claims hits into a post (the post row and its links are written before the
//! post is sent), sends it, records the result, and settles each hit once every destination it has
//! is done.

use crate::audit::HitRow;

/// A hit's identity: one row of `we_chat_contact_sensitive_msg`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct HitKey {
    pub corp_id: String,
    pub msg_id: String,
    pub strategy_id: i64,
}

impl HitKey {
    pub fn of(h: &HitRow) -> HitKey {
        HitKey {
            corp_id: h.corp_id.clone(),
            msg_id: h.msg_id.clone(),
            strategy_id: h.strategy_id,
        }
    }
}

/// Where an alert is posted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    /// A group robot, by `we_group_robot_info.id`.
    Robot(i64),
    /// An application message to one auditor of one corp.
    App { corp_id: String, user_id: String },
}

impl Destination {
    /// The stored form: `robot:ID` or `app:CORP:USERID`.
    pub fn key(&self) -> String {
        match self {
            Destination::Robot(id) => format!("robot:{id}"),
            Destination::App { corp_id, user_id } => format!("app:{corp_id}:{user_id}"),
        }
    }

    /// Reads the stored form back.
    pub fn parse(key: &str) -> Option<Destination> {
        if let Some(id) = key.strip_prefix("robot:") {
            return id.parse().ok().map(Destination::Robot);
        }
        let (corp_id, user_id) = key.strip_prefix("app:")?.split_once(':')?;
        Some(Destination::App {
            corp_id: corp_id.to_owned(),
            user_id: user_id.to_owned(),
        })
    }

    /// The robot id of `we_group_robot_msg.robot_id` (0 for application messages).
    pub fn robot_id(&self) -> i64 {
        match self {
            Destination::Robot(id) => *id,
            Destination::App { .. } => 0,
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

/// A group robot (`we_group_robot_info`), extended with what routing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Robot {
    pub id: i64,
    pub group_name: String,
    /// The webhook URL; its `key=` is a credential, shown only redacted.
    pub web_hook_url: String,
    /// Only hits of this corp ('' = every corp).
    pub corp_id: String,
    /// Only hits of these strategies (empty = every strategy).
    pub strategy_ids: Vec<i64>,
    /// `markdown` (default) or `text`.
    pub msg_type: String,
}

impl Robot {
    /// Whether this robot is told about a hit.
    pub fn wants(&self, h: &HitRow) -> bool {
        self.wants_from(&h.corp_id, h.strategy_id)
    }

    /// Whether this robot is told about the hits of `corp_id`'s strategy `strategy_id`.
    pub fn wants_from(&self, corp_id: &str, strategy_id: i64) -> bool {
        (self.corp_id.is_empty() || self.corp_id == corp_id)
            && (self.strategy_ids.is_empty() || self.strategy_ids.contains(&strategy_id))
    }
}

/// What a hit's destinations depend on: its corp, its strategy, and whether it has an auditor
/// (for app messages); nothing else. The pending hits of a route with no destination stay
/// pending, so a robot or app added later takes them, and the sender asks the store to leave
/// them out of its page so that they never crowd out alerts that can go.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    pub corp_id: String,
    pub strategy_id: i64,
    pub has_auditor: bool,
}

impl Route {
    /// The route of a hit.
    pub fn of(h: &HitRow) -> Route {
        Route {
            corp_id: h.corp_id.clone(),
            strategy_id: h.strategy_id,
            has_auditor: !h.audit_user_id.is_empty(),
        }
    }

    /// The route as both stores compute it from a hit's columns: corp, strategy and 0 or 1 for
    /// the auditor, joined by `/` (the last two are numbers, so no two routes share a key).
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.corp_id,
            self.strategy_id,
            u8::from(self.has_auditor)
        )
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "corp {} strategy {} ({})",
            self.corp_id,
            self.strategy_id,
            if self.has_auditor {
                "hits with an auditor"
            } else {
                "hits without an auditor"
            }
        )
    }
}

/// A post's state (`we_group_robot_msg.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum PostStatus {
    /// Claimed, not yet confirmed sent (being sent, or waiting for a retry).
    Pending = 1,
    Sent = 2,
    /// Given up: the retry budget ran out or WeCom refused the content.
    Failed = 3,
}

impl PostStatus {
    pub fn from_code(code: u8) -> Option<PostStatus> {
        match code {
            1 => Some(PostStatus::Pending),
            2 => Some(PostStatus::Sent),
            3 => Some(PostStatus::Failed),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            PostStatus::Pending => "pending",
            PostStatus::Sent => "sent",
            PostStatus::Failed => "failed",
        }
    }
}

/// One post to one destination (`we_group_robot_msg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertPost {
    /// Unique, shown in the post as its alert number.
    pub id: i64,
    pub destination: Destination,
    /// `敏感词告警` or `敏感词告警汇总`.
    pub title: String,
    /// `text` or `markdown`.
    pub msg_type: String,
    /// The JSON body sent.
    pub content: String,
    /// The hits it carries.
    pub hits: Vec<HitKey>,
    pub status: PostStatus,
    /// Sends tried so far.
    pub attempts: u32,
    /// When to try again, epoch ms (pending posts).
    pub next_attempt_ms: i64,
    /// The last failure, in words (never a URL's key or a token).
    pub last_error: String,
    /// When it was confirmed sent, epoch ms (0 if not).
    pub send_time_ms: i64,
    pub create_time_ms: i64,
}

/// A pending hit's claim on one destination: the post that carries it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostLink {
    pub destination: Destination,
    pub post_id: i64,
    pub status: PostStatus,
}

/// A hit whose alert is not settled (`send_status` 0), with the posts that already carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAlert {
    pub hit: HitRow,
    pub links: Vec<PostLink>,
}

/// A listing of alert posts, newest first. Empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct PostQuery {
    /// Posts created at or after this, epoch ms.
    pub since_ms: Option<i64>,
    pub status: Option<PostStatus>,
    pub destination: Option<Destination>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_round_trip_through_their_stored_form() {
        for d in [
            Destination::Robot(7),
            Destination::App {
                corp_id: "ww1".into(),
                user_id: "wang:wu".into(),
            },
        ] {
            assert_eq!(Destination::parse(&d.key()), Some(d));
        }
        assert_eq!(Destination::parse("robot:x"), None);
        assert_eq!(Destination::parse("mail:a"), None);
    }
}
