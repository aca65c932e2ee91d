//! The stored form of a message: a `we_chat_contact_msg` row (LinkWeChat's columns, extended with
//! what correctness needs: corp, key version, extracted text).

use super::attachment::{Attachment, attachments};
use super::conversation::Conversation;
use super::model::{ChatMessage, is_external_id};
use super::text::visible_text;

/// One row of `we_chat_contact_msg`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MessageRow {
    pub corp_id: String,
    pub msg_id: String,
    pub seq: u64,
    pub publickey_ver: u32,
    pub from_id: String,
    /// Receivers, comma-separated as LinkWeChat stores them.
    pub to_list: String,
    pub room_id: String,
    pub action: String,
    pub msg_type: String,
    /// UTC epoch milliseconds.
    pub msg_time: i64,
    /// The message body JSON (see `ChatMessage::contact`).
    pub contact: String,
    /// 0 = a chat with an external party, 1 = internal (LinkWeChat's convention).
    pub is_external: u8,
    /// Human-visible text, for audit and search.
    pub plain_text: String,
    /// The media this message carries: the store writes one media job per attachment in the same
    /// durable step as the row.
    #[serde(skip)]
    pub attachments: Vec<Attachment>,
}

/// Whether a message is a chat with an external party: its msgid ends `_external`, or an external
/// contact is its sender or among its receivers.
pub fn is_external_chat<'a>(
    msg_id: &str,
    from: &str,
    to: impl IntoIterator<Item = &'a str>,
) -> bool {
    msg_id.ends_with("_external") || is_external_id(from) || to.into_iter().any(is_external_id)
}

impl MessageRow {
    /// The conversation this message belongs to, if any (see [`Conversation::of`]).
    pub fn conversation(&self) -> Option<Conversation> {
        Conversation::of(&self.from_id, self.to_list.split(','), &self.room_id)
    }

    /// A text message `from` sends to `to` (or in `room`), as typed: what `msgaudit scan --text`
    /// and the workspace's 试一试 audit. External as any message is, by its ids.
    pub fn typed_text(msg_id: &str, from: &str, to: &[&str], room: &str, text: &str) -> MessageRow {
        let external = is_external_chat(msg_id, from, to.iter().copied());
        MessageRow {
            msg_id: msg_id.to_owned(),
            from_id: from.to_owned(),
            to_list: to.join(","),
            room_id: room.to_owned(),
            action: "send".to_owned(),
            msg_type: "text".to_owned(),
            is_external: if external { 0 } else { 1 },
            plain_text: text.to_owned(),
            ..MessageRow::default()
        }
    }

    /// Maps a parsed message of `corp_id` pulled at `seq` under key version `publickey_ver`.
    pub fn from_message(
        corp_id: &str,
        seq: u64,
        publickey_ver: u32,
        m: &ChatMessage,
    ) -> MessageRow {
        let external = is_external_chat(&m.msgid, &m.from, m.tolist.iter().map(String::as_str));
        MessageRow {
            corp_id: corp_id.to_owned(),
            msg_id: m.msgid.clone(),
            seq,
            publickey_ver,
            from_id: m.from.clone(),
            to_list: m.tolist.join(","),
            room_id: m.roomid.clone(),
            action: m.action.as_str().to_owned(),
            msg_type: m.msgtype.clone(),
            msg_time: i64::try_from(m.msgtime).unwrap_or(i64::MAX),
            contact: m.contact.to_string(),
            is_external: if external { 0 } else { 1 },
            plain_text: visible_text(m),
            attachments: attachments(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(json: &str) -> MessageRow {
        MessageRow::from_message(
            "ww1",
            7,
            2,
            &ChatMessage::parse(json.as_bytes()).expect("parses"),
        )
    }

    #[test]
    fn a_typed_text_is_the_row_of_the_same_text_message() {
        for (to, room, json) in [
            (
                &["wmC"][..],
                "",
                r#"{"msgid":"t","action":"send","from":"zhangsan","tolist":["wmC"],"roomid":"","msgtype":"text","text":{"content":"加 我 wei xin"}}"#,
            ),
            (
                &["lisi"][..],
                "",
                r#"{"msgid":"t","action":"send","from":"zhangsan","tolist":["lisi"],"roomid":"","msgtype":"text","text":{"content":"加 我 wei xin"}}"#,
            ),
            (
                &[][..],
                "wrR",
                r#"{"msgid":"t","action":"send","from":"zhangsan","tolist":[],"roomid":"wrR","msgtype":"text","text":{"content":"加 我 wei xin"}}"#,
            ),
        ] {
            let typed = MessageRow::typed_text("t", "zhangsan", to, room, "加 我 wei xin");
            let parsed = MessageRow {
                corp_id: String::new(),
                seq: 0,
                publickey_ver: 0,
                contact: String::new(),
                ..row(json)
            };
            assert_eq!(typed, parsed, "{json}");
        }
    }

    #[test]
    fn identity_rules_for_is_external() {
        let cases = [
            (
                r#"{"msgid":"a","from":"zhangsan","tolist":["lisi"],"msgtype":"text"}"#,
                1,
            ),
            (
                r#"{"msgid":"a","from":"zhangsan","tolist":["wmABC"],"msgtype":"text"}"#,
                0,
            ),
            (
                r#"{"msgid":"a","from":"woXYZ","tolist":["lisi"],"msgtype":"text"}"#,
                0,
            ),
            (
                r#"{"msgid":"a_external","from":"zhangsan","tolist":["lisi"],"msgtype":"text"}"#,
                0,
            ),
            (
                r#"{"msgid":"a","from":"wbRobot","tolist":["lisi","12345"],"msgtype":"text"}"#,
                1,
            ),
        ];
        for (json, want) in cases {
            assert_eq!(row(json).is_external, want, "{json}");
        }
    }

    #[test]
    fn columns_are_filled() {
        let r = row(
            r#"{"msgid":"m","action":"send","from":"a","tolist":["b","c"],"roomid":"wr1","msgtime":1700000000123,"msgtype":"text","text":{"content":"hi"}}"#,
        );
        assert_eq!((r.corp_id.as_str(), r.seq, r.publickey_ver), ("ww1", 7, 2));
        assert_eq!(
            (r.to_list.as_str(), r.room_id.as_str(), r.msg_time),
            ("b,c", "wr1", 1_700_000_000_123)
        );
        assert_eq!(
            (r.contact.as_str(), r.plain_text.as_str()),
            (r#"{"content":"hi"}"#, "hi")
        );
    }
}
