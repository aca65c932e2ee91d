//! The human-visible text of a message, which the audit matches and search finds: never JSON keys,
//! ids or URLs. Fields per msgtype follow `shared/spec/audit.md`; `chatrecord` and `mixed` items carry
//! their own JSON and are read recursively (to a bounded depth, so hostile nesting cannot recurse
//! without end).

use serde_json::json;

use super::lenient;
use super::model::{Body, ChatMessage, NestedItem};

const MAX_DEPTH: usize = 8;

/// The message's visible text, one field per line.
pub fn visible_text(message: &ChatMessage) -> String {
    let mut out = String::new();
    push_body(&message.body, &mut out, 0);
    out
}

fn push(out: &mut String, s: &str) {
    let s = s.trim();
    if s.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(s);
}

fn push_body(body: &Body, out: &mut String, depth: usize) {
    match body {
        Body::Text { content } | Body::Markdown { content } => push(out, content),
        Body::Link {
            title, description, ..
        }
        | Body::Weapp {
            title, description, ..
        } => {
            push(out, title);
            push(out, description);
        }
        Body::File { filename, .. }
        | Body::QyDiskFile { filename }
        | Body::VoipDocShare { filename, .. } => push(out, filename),
        Body::News { items } => {
            for i in items {
                push(out, &i.title);
                push(out, &i.description);
            }
        }
        Body::Todo { title, content } => {
            push(out, title);
            push(out, content);
        }
        Body::Vote {
            votetitle,
            voteitem,
            ..
        } => {
            push(out, votetitle);
            for i in voteitem {
                push(out, i);
            }
        }
        Body::Collect { title, details, .. } => {
            push(out, title);
            for d in details {
                push(out, &d.ques);
            }
        }
        Body::Calendar {
            title,
            place,
            remarks,
            ..
        } => {
            push(out, title);
            push(out, place);
            push(out, remarks);
        }
        Body::Meeting {
            topic,
            address,
            remarks,
            ..
        } => {
            push(out, topic);
            push(out, address);
            push(out, remarks);
        }
        Body::Doc { title, .. } => push(out, title),
        Body::Location { title, address, .. } => {
            push(out, title);
            push(out, address);
        }
        Body::RedPacket { wish, .. } => push(out, wish),
        Body::SphFeed { feed_desc, .. } => push(out, feed_desc),
        Body::ChatRecord { title, items } => {
            push(out, title);
            push_items(items, out, depth);
        }
        Body::Mixed { items } => push_items(items, out, depth),
        Body::Image { .. }
        | Body::Revoke { .. }
        | Body::Agree { .. }
        | Body::Disagree { .. }
        | Body::Voice { .. }
        | Body::Video { .. }
        | Body::Card { .. }
        | Body::Emotion { .. }
        | Body::MeetingVoiceCall { .. }
        | Body::VoipText { .. }
        | Body::Switch { .. }
        | Body::Unknown => {}
    }
}

/// `ChatRecordText` → `text`, `ChatRecordMixed` → `mixed`, `text` → `text`.
fn nested_msgtype(kind: &str) -> String {
    kind.strip_prefix("ChatRecord")
        .unwrap_or(kind)
        .to_ascii_lowercase()
}

fn push_items(items: &[NestedItem], out: &mut String, depth: usize) {
    if depth >= MAX_DEPTH {
        return;
    }
    for item in items {
        let Ok(content) = lenient::parse_value(item.content.as_bytes()) else {
            continue;
        };
        let msgtype = nested_msgtype(&item.kind);
        let key = match msgtype.as_str() {
            "docmsg" => "doc",
            "markdown" | "news" | "voiptext" | "qydiskfile" => "info",
            other => other,
        };
        let wrapped =
            json!({ "msgid": "nested", "action": "send", "msgtype": msgtype, key: content });
        if let Ok(inner) = ChatMessage::from_value(wrapped) {
            push_body(&inner.body, out, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(json: &str) -> String {
        visible_text(&ChatMessage::parse(json.as_bytes()).expect("parses"))
    }

    #[test]
    fn table_of_visible_fields() {
        let cases = [
            (
                r#"{"msgid":"1","msgtype":"text","text":{"content":" 你好 "}}"#,
                "你好",
            ),
            (
                r#"{"msgid":"1","msgtype":"link","link":{"title":"T","description":"D","link_url":"https://x/?q=secret"}}"#,
                "T\nD",
            ),
            (
                r#"{"msgid":"1","msgtype":"file","file":{"filename":"报价.xlsx","sdkfileid":"abc"}}"#,
                "报价.xlsx",
            ),
            (
                r#"{"msgid":"1","msgtype":"vote","votetitle":"去哪","voteitem":["山","海"]}"#,
                "去哪\n山\n海",
            ),
            (
                r#"{"msgid":"1","msgtype":"news","info":{"item":[{"title":"a","description":"b","url":"u"}]}}"#,
                "a\nb",
            ),
            (
                r#"{"msgid":"1","msgtype":"image","image":{"sdkfileid":"x","md5sum":"y"}}"#,
                "",
            ),
            (
                r#"{"msgid":"1","msgtype":"redpacket","redpacket":{"wish":"恭喜"}}"#,
                "恭喜",
            ),
            (
                r#"{"msgid":"1","msgtype":"location","location":{"title":"T","address":"A"}}"#,
                "T\nA",
            ),
        ];
        for (json, want) in cases {
            assert_eq!(text_of(json), want, "{json}");
        }
    }

    #[test]
    fn chatrecord_and_mixed_are_read_recursively() {
        let inner_mixed =
            json!({"item": [{"type": "text", "content": json!({"content": "深层"}).to_string()}]});
        let record = json!({
            "msgid": "1", "msgtype": "chatrecord",
            "chatrecord": {"title": "记录", "item": [
                {"type": "ChatRecordText", "content": json!({"content": "第一条"}).to_string()},
                {"type": "ChatRecordMixed", "content": inner_mixed.to_string()},
                {"type": "ChatRecordText", "content": "not json"},
            ]}
        });
        assert_eq!(text_of(&record.to_string()), "记录\n第一条\n深层");
    }

    #[test]
    fn hostile_nesting_is_bounded() {
        let mut content = json!({"content": "bottom"}).to_string();
        let mut kind = "text";
        for _ in 0..12 {
            content = json!({"item": [{"type": kind, "content": content}]}).to_string();
            kind = "mixed";
        }
        let m = json!({"msgid": "1", "msgtype": "mixed", "mixed": serde_json::from_str::<serde_json::Value>(&content).expect("json")});
        assert_eq!(text_of(&m.to_string()), "");
    }
}
