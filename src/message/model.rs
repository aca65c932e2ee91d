//! The typed WeCom message: every msgtype of the finance-SDK spec, the `switch` action, and unknown
//! msgtypes kept with their raw JSON.
//!
//! Built from a parsed `serde_json::Value` with lenient accessors: a missing field is empty, a number
//! sent as a string is still a number. The only hard requirements are a JSON object with a `msgid`;
//! anything else the vendor gets wrong is tolerated rather than turned into a lost message.

use serde_json::Value;

use super::lenient;

/// Why a plaintext could not become a [`ChatMessage`].
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("plaintext is not JSON even after escaping raw control characters: {0}")]
    Json(#[from] serde_json::Error),
    #[error("plaintext JSON is not an object")]
    NotAnObject,
    #[error("plaintext has no msgid")]
    NoMsgId,
}

/// `action` of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Send,
    Recall,
    Switch,
    Other,
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Send => "send",
            Action::Recall => "recall",
            Action::Switch => "switch",
            Action::Other => "other",
        }
    }
}

/// A media attachment, fetched separately by `sdkfileid`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Media {
    pub sdkfileid: String,
    pub md5sum: String,
    pub size: u64,
}

/// An item of a `chatrecord` or `mixed` message: its type and its content, itself a JSON string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NestedItem {
    pub kind: String,
    pub content: String,
    pub msgtime: u64,
    pub from_chatroom: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewsItem {
    pub title: String,
    pub description: String,
    pub url: String,
    pub picurl: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectDetail {
    pub id: u64,
    pub ques: String,
    pub kind: String,
}

/// The body of a message, by msgtype.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Text {
        content: String,
    },
    Image {
        media: Media,
    },
    Revoke {
        pre_msgid: String,
    },
    Agree {
        userid: String,
        time: u64,
    },
    Disagree {
        userid: String,
        time: u64,
    },
    Voice {
        media: Media,
        play_length: u64,
    },
    Video {
        media: Media,
        play_length: u64,
    },
    Card {
        corpname: String,
        userid: String,
    },
    Location {
        longitude: f64,
        latitude: f64,
        address: String,
        title: String,
        zoom: u64,
    },
    Emotion {
        media: Media,
        kind: u64,
        width: u64,
        height: u64,
    },
    File {
        media: Media,
        filename: String,
        fileext: String,
    },
    Link {
        title: String,
        description: String,
        link_url: String,
        image_url: String,
    },
    Weapp {
        title: String,
        description: String,
        username: String,
        displayname: String,
    },
    ChatRecord {
        title: String,
        items: Vec<NestedItem>,
    },
    Todo {
        title: String,
        content: String,
    },
    Vote {
        votetitle: String,
        voteitem: Vec<String>,
        votetype: u64,
        voteid: String,
    },
    Collect {
        room_name: String,
        creator: String,
        create_time: String,
        title: String,
        details: Vec<CollectDetail>,
    },
    RedPacket {
        external: bool,
        kind: u64,
        wish: String,
        totalcnt: u64,
        totalamount: u64,
    },
    Meeting {
        topic: String,
        starttime: u64,
        endtime: u64,
        address: String,
        remarks: String,
        meetingtype: u64,
        meetingid: u64,
        status: u64,
    },
    Doc {
        title: String,
        doc_creator: String,
        link_url: String,
    },
    Markdown {
        content: String,
    },
    News {
        items: Vec<NewsItem>,
    },
    Calendar {
        title: String,
        creatorname: String,
        attendeename: Vec<String>,
        starttime: u64,
        endtime: u64,
        place: String,
        remarks: String,
    },
    Mixed {
        items: Vec<NestedItem>,
    },
    MeetingVoiceCall {
        voiceid: String,
        endtime: u64,
        media: Media,
    },
    VoipDocShare {
        voipid: String,
        filename: String,
        media: Media,
    },
    SphFeed {
        feed_type: u64,
        sph_name: String,
        feed_desc: String,
    },
    VoipText {
        callduration: u64,
        invitetype: u64,
    },
    QyDiskFile {
        filename: String,
    },
    /// The `switch` action: a member switched enterprise.
    Switch {
        user: String,
    },
    /// A msgtype this build does not know; the raw JSON is kept in the row.
    Unknown,
}

/// A decrypted, parsed archive message.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub msgid: String,
    pub action: Action,
    pub from: String,
    pub tolist: Vec<String>,
    pub roomid: String,
    /// UTC epoch milliseconds (`msgtime`, or `time` for a switch).
    pub msgtime: u64,
    /// `msgtype` as sent (`switch` for the switch action).
    pub msgtype: String,
    pub body: Body,
    /// The JSON the row keeps as `contact`: the body object for known msgtypes (with
    /// `voiceid`/`voipid` merged in), the whole message for `switch`, unknown msgtypes and
    /// top-level votes.
    pub contact: Value,
}

pub(crate) fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn number(v: &Value, key: &str) -> u64 {
    match v.get(key) {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().map(|f| f.max(0.0) as u64))
            .unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

fn float(v: &Value, key: &str) -> f64 {
    match v.get(key) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn objects<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn media(v: &Value, size_key: &str) -> Media {
    Media {
        sdkfileid: text(v, "sdkfileid"),
        md5sum: text(v, "md5sum"),
        size: number(v, size_key),
    }
}

fn nested(v: &Value) -> Vec<NestedItem> {
    objects(v, "item")
        .map(|i| NestedItem {
            kind: text(i, "type"),
            content: match i.get("content") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            },
            msgtime: number(i, "msgtime"),
            from_chatroom: i
                .get("from_chatroom")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
        .collect()
}

/// The key the body sits under, for msgtypes whose key is not their name.
fn body_key(msgtype: &str) -> &str {
    match msgtype {
        "docmsg" => "doc",
        "markdown" | "news" | "voiptext" | "qydiskfile" => "info",
        "external_redpacket" => "redpacket",
        other => other,
    }
}

impl ChatMessage {
    /// Parses a `DecryptData` plaintext.
    pub fn parse(plaintext: &[u8]) -> Result<ChatMessage, ParseError> {
        ChatMessage::from_value(lenient::parse_value(plaintext)?)
    }

    /// Builds the typed message from parsed JSON.
    pub fn from_value(v: Value) -> Result<ChatMessage, ParseError> {
        if !v.is_object() {
            return Err(ParseError::NotAnObject);
        }
        let msgid = text(&v, "msgid");
        if msgid.is_empty() {
            return Err(ParseError::NoMsgId);
        }
        let action = match v.get("action").and_then(Value::as_str) {
            Some("send") => Action::Send,
            Some("recall") => Action::Recall,
            Some("switch") => Action::Switch,
            _ => Action::Other,
        };
        if action == Action::Switch {
            return Ok(ChatMessage {
                msgid,
                action,
                from: text(&v, "user"),
                tolist: Vec::new(),
                roomid: String::new(),
                msgtime: number(&v, "time"),
                msgtype: "switch".to_owned(),
                body: Body::Switch {
                    user: text(&v, "user"),
                },
                contact: v,
            });
        }
        let msgtype = text(&v, "msgtype");
        let key = body_key(&msgtype);
        let nested_body = v.get(key).filter(|b| b.is_object());
        // A vote may carry its fields at the top level instead of under `vote`.
        let b = nested_body.unwrap_or(&v);
        let body = match msgtype.as_str() {
            "text" => Body::Text {
                content: text(b, "content"),
            },
            "image" => Body::Image {
                media: media(b, "filesize"),
            },
            "revoke" => Body::Revoke {
                pre_msgid: text(b, "pre_msgid"),
            },
            "agree" => Body::Agree {
                userid: text(b, "userid"),
                time: number(b, "agree_time"),
            },
            "disagree" => Body::Disagree {
                userid: text(b, "userid"),
                time: number(b, "disagree_time"),
            },
            "voice" => Body::Voice {
                media: media(b, "voice_size"),
                play_length: number(b, "play_length"),
            },
            "video" => Body::Video {
                media: media(b, "filesize"),
                play_length: number(b, "play_length"),
            },
            "card" => Body::Card {
                corpname: text(b, "corpname"),
                userid: text(b, "userid"),
            },
            "location" => Body::Location {
                longitude: float(b, "longitude"),
                latitude: float(b, "latitude"),
                address: text(b, "address"),
                title: text(b, "title"),
                zoom: number(b, "zoom"),
            },
            "emotion" => Body::Emotion {
                media: media(b, "imagesize"),
                kind: number(b, "type"),
                width: number(b, "width"),
                height: number(b, "height"),
            },
            "file" => Body::File {
                media: media(b, "filesize"),
                filename: text(b, "filename"),
                fileext: text(b, "fileext"),
            },
            "link" => Body::Link {
                title: text(b, "title"),
                description: text(b, "description"),
                link_url: text(b, "link_url"),
                image_url: text(b, "image_url"),
            },
            "weapp" => Body::Weapp {
                title: text(b, "title"),
                description: text(b, "description"),
                username: text(b, "username"),
                displayname: text(b, "displayname"),
            },
            "chatrecord" => Body::ChatRecord {
                title: text(b, "title"),
                items: nested(b),
            },
            "todo" => Body::Todo {
                title: text(b, "title"),
                content: text(b, "content"),
            },
            "vote" => Body::Vote {
                votetitle: text(b, "votetitle"),
                voteitem: strings(b, "voteitem"),
                votetype: number(b, "votetype"),
                voteid: text(b, "voteid"),
            },
            "collect" => Body::Collect {
                room_name: text(b, "room_name"),
                creator: text(b, "creator"),
                create_time: text(b, "create_time"),
                title: text(b, "title"),
                details: objects(b, "details")
                    .map(|d| CollectDetail {
                        id: number(d, "id"),
                        ques: text(d, "ques"),
                        kind: text(d, "type"),
                    })
                    .collect(),
            },
            "redpacket" | "external_redpacket" => Body::RedPacket {
                external: msgtype == "external_redpacket",
                kind: number(b, "type"),
                wish: text(b, "wish"),
                totalcnt: number(b, "totalcnt"),
                totalamount: number(b, "totalamount"),
            },
            "meeting" => Body::Meeting {
                topic: text(b, "topic"),
                starttime: number(b, "starttime"),
                endtime: number(b, "endtime"),
                address: text(b, "address"),
                remarks: text(b, "remarks"),
                meetingtype: number(b, "meetingtype"),
                meetingid: number(b, "meetingid"),
                status: number(b, "status"),
            },
            "docmsg" => Body::Doc {
                title: text(b, "title"),
                doc_creator: text(b, "doc_creator"),
                link_url: text(b, "link_url"),
            },
            "markdown" => Body::Markdown {
                content: text(b, "content"),
            },
            "news" => Body::News {
                items: objects(b, "item")
                    .map(|i| NewsItem {
                        title: text(i, "title"),
                        description: text(i, "description"),
                        url: text(i, "url"),
                        picurl: text(i, "picurl"),
                    })
                    .collect(),
            },
            "calendar" => Body::Calendar {
                title: text(b, "title"),
                creatorname: text(b, "creatorname"),
                attendeename: strings(b, "attendeename"),
                starttime: number(b, "starttime"),
                endtime: number(b, "endtime"),
                place: text(b, "place"),
                remarks: text(b, "remarks"),
            },
            "mixed" => Body::Mixed { items: nested(b) },
            "meeting_voice_call" => Body::MeetingVoiceCall {
                voiceid: text(&v, "voiceid"),
                endtime: number(b, "endtime"),
                media: media(b, "filesize"),
            },
            "voip_doc_share" => Body::VoipDocShare {
                voipid: text(&v, "voipid"),
                filename: text(b, "filename"),
                media: media(b, "filesize"),
            },
            "sphfeed" => Body::SphFeed {
                feed_type: number(b, "feed_type"),
                sph_name: text(b, "sph_name"),
                feed_desc: text(b, "feed_desc"),
            },
            "voiptext" => Body::VoipText {
                callduration: number(b, "callduration"),
                invitetype: number(b, "invitetype"),
            },
            "qydiskfile" => Body::QyDiskFile {
                filename: text(b, "filename"),
            },
            _ => Body::Unknown,
        };
        let has_nested = nested_body.is_some();
        let (from, tolist, roomid, msgtime) = (
            text(&v, "from"),
            strings(&v, "tolist"),
            text(&v, "roomid"),
            number(&v, "msgtime"),
        );
        // The body object moves out of the message instead of being copied.
        let contact = match (&body, has_nested) {
            (Body::Unknown, _) | (_, false) => v,
            (_, true) => {
                let mut v = v;
                let ids: Vec<(&str, Value)> = ["voiceid", "voipid"]
                    .into_iter()
                    .filter_map(|id| Some((id, v.get_mut(id)?.take())))
                    .collect();
                let mut c = v
                    .as_object_mut()
                    .and_then(|o| o.remove(key))
                    .unwrap_or(Value::Null);
                if let Some(map) = c.as_object_mut() {
                    for (id, val) in ids {
                        map.insert(id.to_owned(), val);
                    }
                }
                c
            }
        };
        Ok(ChatMessage {
            msgid,
            action,
            from,
            tolist,
            roomid,
            msgtime,
            msgtype,
            body,
            contact,
        })
    }
}

/// An id of an external contact (`wo…`/`wm…`). Robots (`wb…`) and members are not external.
pub fn is_external_id(id: &str) -> bool {
    id.starts_with("wo") || id.starts_with("wm")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> ChatMessage {
        ChatMessage::parse(json.as_bytes()).expect("parses")
    }

    #[test]
    fn text_with_raw_control_characters_parses() {
        let m = parse(
            "{\"msgid\":\"1\",\"action\":\"send\",\"from\":\"a\",\"tolist\":[\"b\"],\"roomid\":\"\",\"msgtime\":5,\"msgtype\":\"text\",\"text\":{\"content\":\"x\u{1}\ny\"}}",
        );
        assert_eq!(
            m.body,
            Body::Text {
                content: "x\u{1}\ny".into()
            }
        );
        assert_eq!((m.action, m.msgtime, m.tolist.len()), (Action::Send, 5, 1));
    }

    #[test]
    fn body_keys_that_differ_from_the_msgtype() {
        let m = parse(
            r#"{"msgid":"1","action":"send","msgtype":"docmsg","doc":{"title":"T","doc_creator":"c","link_url":"u"}}"#,
        );
        assert!(matches!(m.body, Body::Doc { ref title, .. } if title == "T"));
        let m = parse(
            r#"{"msgid":"1","action":"send","msgtype":"markdown","info":{"content":"**b**"}}"#,
        );
        assert_eq!(
            m.body,
            Body::Markdown {
                content: "**b**".into()
            }
        );
        let m = parse(
            r#"{"msgid":"1","action":"send","msgtype":"external_redpacket","redpacket":{"type":2,"wish":"w","totalcnt":"3","totalamount":100}}"#,
        );
        assert!(matches!(
            m.body,
            Body::RedPacket {
                external: true,
                totalcnt: 3,
                ..
            }
        ));
    }

    #[test]
    fn votes_nested_or_top_level() {
        let nested = parse(
            r#"{"msgid":"1","action":"send","msgtype":"vote","vote":{"votetitle":"T","voteitem":["a","b"],"votetype":101,"voteid":"v"}}"#,
        );
        let top = parse(
            r#"{"msgid":"1","action":"send","msgtype":"vote","votetitle":"T","voteitem":["a","b"],"votetype":101,"voteid":"v"}"#,
        );
        assert_eq!(nested.body, top.body);
    }

    #[test]
    fn switch_and_unknown_keep_raw_json() {
        let s = parse(r#"{"msgid":"s","action":"switch","time":1700000000000,"user":"zhangsan"}"#);
        assert_eq!(
            (s.msgtype.as_str(), s.msgtime, s.from.as_str()),
            ("switch", 1_700_000_000_000, "zhangsan")
        );
        let u = parse(
            r#"{"msgid":"u","action":"send","msgtype":"solitaire","solitaire":{"title":"接龙"}}"#,
        );
        assert_eq!(u.body, Body::Unknown);
        assert_eq!(u.contact["solitaire"]["title"], "接龙");
    }

    #[test]
    fn voip_ids_are_kept_in_the_contact() {
        let m = parse(
            r#"{"msgid":"1","action":"send","msgtype":"meeting_voice_call","voiceid":"grb1","meeting_voice_call":{"endtime":1,"sdkfileid":"f"}}"#,
        );
        assert_eq!(m.contact["voiceid"], "grb1");
        assert_eq!(crate::message::attachments(&m).len(), 1);
    }

    #[test]
    fn hard_failures() {
        assert!(matches!(
            ChatMessage::parse(b"[1]"),
            Err(ParseError::NotAnObject)
        ));
        assert!(matches!(
            ChatMessage::parse(br#"{"action":"send"}"#),
            Err(ParseError::NoMsgId)
        ));
        assert!(matches!(
            ChatMessage::parse(br#"{"msgid":"x","te"#),
            Err(ParseError::Json(_))
        ));
    }
}
