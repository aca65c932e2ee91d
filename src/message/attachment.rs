//! The attachments a message carries: every media reference (image, voice, video, emotion, file,
//! voip_doc_share, meeting_voice_call), including those inside `chatrecord` and `mixed` items, as
//! plain values the store turns into media jobs.

use serde_json::Value;

use super::lenient;
use super::model::{Body, ChatMessage, Media, NestedItem};

/// What kind of file an attachment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Voice,
    Video,
    Emotion,
    File,
    VoipDocShare,
    MeetingVoiceCall,
}

impl MediaKind {
    pub const ALL: [MediaKind; 7] = [
        MediaKind::Image,
        MediaKind::Voice,
        MediaKind::Video,
        MediaKind::Emotion,
        MediaKind::File,
        MediaKind::VoipDocShare,
        MediaKind::MeetingVoiceCall,
    ];

    /// The msgtype this kind is named after (as stored in `we_chat_media_job.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Voice => "voice",
            MediaKind::Video => "video",
            MediaKind::Emotion => "emotion",
            MediaKind::File => "file",
            MediaKind::VoipDocShare => "voip_doc_share",
            MediaKind::MeetingVoiceCall => "meeting_voice_call",
        }
    }

    pub fn parse(s: &str) -> Option<MediaKind> {
        MediaKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind of a `mixed` item type (`image`) or a `chatrecord` one (`ChatRecordImage`).
    fn of_item(item_type: &str) -> Option<MediaKind> {
        let t = item_type.strip_prefix("ChatRecord").unwrap_or(item_type);
        MediaKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(t))
    }

    /// The body field that carries the size, per kind.
    fn size_key(self) -> &'static str {
        match self {
            MediaKind::Voice => "voice_size",
            MediaKind::Emotion => "imagesize",
            _ => "filesize",
        }
    }
}

/// One media reference of a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attachment {
    /// 0 for the message's own attachment; for `chatrecord` and `mixed`, the item's position in
    /// `item[]`.
    pub item: u32,
    pub kind: MediaKind,
    pub sdkfileid: String,
    /// As the message carries it (may be empty).
    pub md5sum: String,
    /// As the message carries it (may be 0).
    pub size: u64,
    /// The file name the sender saw, when the message has one (file, voip_doc_share).
    pub file_name: String,
}

impl Attachment {
    fn new(item: u32, kind: MediaKind, media: &Media, file_name: &str) -> Attachment {
        Attachment {
            item,
            kind,
            sdkfileid: media.sdkfileid.clone(),
            md5sum: media.md5sum.to_ascii_lowercase(),
            size: media.size,
            file_name: file_name.to_owned(),
        }
    }
}

/// Every attachment of `m` that has an `sdkfileid` to fetch.
pub fn attachments(m: &ChatMessage) -> Vec<Attachment> {
    let own = |kind, media: &Media, name: &str| vec![Attachment::new(0, kind, media, name)];
    let found = match &m.body {
        Body::Image { media } => own(MediaKind::Image, media, ""),
        Body::Voice { media, .. } => own(MediaKind::Voice, media, ""),
        Body::Video { media, .. } => own(MediaKind::Video, media, ""),
        Body::Emotion { media, .. } => own(MediaKind::Emotion, media, ""),
        Body::File {
            media,
            filename,
            fileext,
        } => own(MediaKind::File, media, &file_name(filename, fileext)),
        Body::VoipDocShare {
            media, filename, ..
        } => own(MediaKind::VoipDocShare, media, filename),
        Body::MeetingVoiceCall { media, .. } => own(MediaKind::MeetingVoiceCall, media, ""),
        Body::ChatRecord { items, .. } | Body::Mixed { items } => nested(items),
        _ => Vec::new(),
    };
    found
        .into_iter()
        .filter(|a| !a.sdkfileid.is_empty())
        .collect()
}

fn file_name(name: &str, ext: &str) -> String {
    if ext.is_empty()
        || name
            .to_ascii_lowercase()
            .ends_with(&format!(".{}", ext.to_ascii_lowercase()))
    {
        name.to_owned()
    } else {
        format!("{name}.{ext}")
    }
}

fn nested(items: &[NestedItem]) -> Vec<Attachment> {
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let kind = MediaKind::of_item(&item.kind)?;
            let body: Value = lenient::parse_value(item.content.as_bytes()).ok()?;
            let media = Media {
                sdkfileid: field(&body, "sdkfileid"),
                md5sum: field(&body, "md5sum"),
                size: body
                    .get(kind.size_key())
                    .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
                    .unwrap_or(0),
            };
            let name = file_name(&field(&body, "filename"), &field(&body, "fileext"));
            Some(Attachment::new(u32::try_from(i).ok()?, kind, &media, &name))
        })
        .collect()
}

fn field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> ChatMessage {
        ChatMessage::parse(json.as_bytes()).expect("parses")
    }

    #[test]
    fn a_file_message_has_one_attachment_with_its_name() {
        let m = parse(
            r#"{"msgid":"1","action":"send","msgtype":"file","file":{"md5sum":"AB","filename":"合同","fileext":"pdf","filesize":"12","sdkfileid":"F"}}"#,
        );
        assert_eq!(
            attachments(&m),
            vec![Attachment {
                item: 0,
                kind: MediaKind::File,
                sdkfileid: "F".into(),
                md5sum: "ab".into(),
                size: 12,
                file_name: "合同.pdf".into(),
            }]
        );
    }

    #[test]
    fn mixed_and_chatrecord_items_are_numbered_by_position() {
        let m = parse(
            r#"{"msgid":"1","action":"send","msgtype":"mixed","mixed":{"item":[
                {"type":"text","content":"{\"content\":\"hi\"}"},
                {"type":"image","content":"{\"md5sum\":\"m\",\"filesize\":5,\"sdkfileid\":\"I\"}"},
                {"type":"emotion","content":"{\"type\":1}"}]}}"#,
        );
        let a = attachments(&m);
        assert_eq!(a.len(), 1, "the emotion without sdkfileid is not fetchable");
        assert_eq!((a[0].item, a[0].kind, a[0].size), (1, MediaKind::Image, 5));

        let m = parse(
            r#"{"msgid":"2","action":"send","msgtype":"chatrecord","chatrecord":{"item":[
                {"type":"ChatRecordText","content":"{\"content\":\"x\"}"},
                {"type":"ChatRecordVoice","content":"{\"voice_size\":9,\"sdkfileid\":\"V\"}"},
                {"type":"ChatRecordFile","content":"{\"filename\":\"a.txt\",\"fileext\":\"txt\",\"sdkfileid\":\"F\"}"}]}}"#,
        );
        let a = attachments(&m);
        assert_eq!(
            a.iter().map(|a| (a.item, a.kind)).collect::<Vec<_>>(),
            vec![(1, MediaKind::Voice), (2, MediaKind::File)]
        );
        assert_eq!(a[0].size, 9);
        assert_eq!(a[1].file_name, "a.txt");
    }

    #[test]
    fn text_and_broken_items_carry_nothing() {
        let m = parse(r#"{"msgid":"1","action":"send","msgtype":"text","text":{"content":"x"}}"#);
        assert!(attachments(&m).is_empty());
        let m = parse(
            r#"{"msgid":"1","action":"send","msgtype":"mixed","mixed":{"item":[{"type":"image","content":"{not json"}]}}"#,
        );
        assert!(attachments(&m).is_empty());
    }
}
