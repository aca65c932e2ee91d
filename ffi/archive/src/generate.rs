//! The generated archive: message `seq` of a corp is a pure function of (options, seq).
//!
//! The mix follows what a sales team's archive looks like: mostly Chinese text with some English,
//! emoji, quoted replies, phone numbers and e-mail addresses, and every other msgtype of the spec at a
//! few percent each — recalls, switches, agree/disagree, chatrecord and mixed with nested items, media,
//! and msgtypes no parser knows. Chats are one-to-one or in rooms, between internal members, external
//! contacts and robots. Fault options (corrupt payloads, control characters, broken JSON, a key
//! version nobody holds) land on fixed seqs so a test can say exactly which messages are bad.

use serde_json::{Value, json};

use crate::media::{Class, MediaFile, POOL_FILES, pool_file};
use crate::options::{ArchiveOptions, every};
use crate::rng::{Rng, mix64};

/// What is wrong with a message on purpose, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// Encrypted under key version 3, which tests keep out of the key ring.
    pub missing_key: bool,
    /// `encrypt_random_key` is not valid base64.
    pub corrupt_key: bool,
    /// `encrypt_chat_msg` does not decrypt.
    pub corrupt_msg: bool,
    /// The plaintext is truncated JSON.
    pub bad_json: bool,
    /// The plaintext has raw control characters inside a string (still recoverable).
    pub control_chars: bool,
}

impl Faults {
    /// Whether a correct reader must route this message to the dead letters.
    pub fn unreadable(&self) -> bool {
        self.missing_key || self.corrupt_key || self.corrupt_msg || self.bad_json
    }
}

/// A media reference carried by a message.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRef {
    pub sdkfileid: String,
    pub file: MediaFile,
    /// As the message carries it: may be empty, as the spec warns.
    pub md5sum: String,
}

/// One message of an archive, before encryption.
#[derive(Debug, Clone)]
pub struct ArchiveMessage {
    pub seq: u64,
    pub msgid: String,
    pub publickey_ver: u32,
    /// `msgtime`, UTC epoch ms (0 when a corpus line does not say).
    pub msgtime: u64,
    /// `msgtype`, or `switch` for a switch action.
    pub msgtype: String,
    /// Exactly what `DecryptData` returns.
    pub plaintext: String,
    pub media: Vec<MediaRef>,
    pub faults: Faults,
}

pub(crate) const INTERNAL: &[&str] = &[
    "zhangsan",
    "lisi",
    "wangwu",
    "zhaoliu",
    "HuangWei",
    "chenjing",
    "13800138000",
    "liuyang",
    "sunli",
    "ZhouQiang",
    "sales01",
    "kefu_xiaomei",
];
pub(crate) const EXTERNAL: &[&str] = &[
    "wmEAlECwAAHrbWYDOK5u3Af13xlYDDqQ",
    "wmEAlECwAAd9zXcX0DJgPuUJ0tHUoRgA",
    "wo5kqVCgAAm5wsH2jXYoZWZJV0ng4tkw",
    "wo5kqVCgAAxJ8ZXl3c8Wpbq5aK1dvGbw",
    "wmEAlECwAAqGkq7U3LK9nd2rhb0Y5QzA",
];
const ROBOTS: &[&str] = &["wbG4c0mXCgAAHq7kq6bA8lt5kFo2Q4Mg"];
pub(crate) const ROOMS: &[&str] = &[
    "wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAA",
    "wrOgQhDgAAkD4GpWRIbo5Q2m9Z1wvG8w",
    "wrOgQhDgAA3fK1nBz2mX0Q7jE5c9LhPw",
];
const NAMES: &[&str] = &[
    "张三", "李四", "王五", "赵六", "黄伟", "陈静", "刘洋", "孙丽",
];

const SENTENCES: &[&str] = &[
    "今天下午三点开会，请准时参加。",
    "客户说这个价格还能再便宜一点吗？",
    "合同已经发到你邮箱了，请查收。",
    "好的，收到👌",
    "明天的方案我再改一版。",
    "这个项目的预算大概是多少？",
    "麻烦把发票开一下，抬头是公司全称。",
    "可以私下转账吗？这样便宜点。",
    "加我微信聊吧，这里不方便。",
    "我的手机号是13912345678，有事直接打电话。",
    "资料发我邮箱 zhang.san@example.com 就行",
    "Please check the Q3 report，今天能给吗？",
    "OK，我马上 review 一下。",
    "哈哈😂太好了，辛苦啦！",
    "周五一起吃饭🍜，老地方见。",
    "發票已經寄出了，請注意查收。",
    "这个 deadline 有点赶，能延后两天吗？",
    "产品的售后政策是怎样的？",
    "已经安排物流了，预计周三送达🚚",
    "你好，我是负责您这边的客户经理。",
    "这个优惠活动截止到月底。",
    "收到，我跟领导确认一下再回复你。",
    "微信支付或者对公转账都可以。",
    "价格方面可以给您申请一个 VIP 折扣。",
    "今天系统有点卡，稍后再试。",
    "👍👍👍",
    "Meeting moved to 4pm, 会议室 B-302。",
    "请把身份证复印件发给我，用于开户。",
    // Planted evasions and behaviours, for the audit.
    "加 我 微 信 详细聊",
    "私下轉賬可以打折",
    "ＶＸ：sales_zhang，加一下",
    "身份证号11010519491231002X，麻烦登记",
    "打款到卡号 4111 1111 1111 1111",
    "敏 感*词测试一下",
    "用微信支付就行",
];

/// The faults of message `seq` of a generated archive (cheap: no message is built).
pub fn faults(opts: &ArchiveOptions, seq: u64) -> Faults {
    Faults {
        missing_key: opts.key_version(seq) == 3,
        corrupt_key: every(opts.corrupt_key_every, seq, 1),
        corrupt_msg: every(opts.corrupt_msg_every, seq, 2),
        bad_json: every(opts.bad_json_every, seq, 3),
        control_chars: every(opts.control_chars_every, seq, 4),
    }
}

/// Builds message `seq` of a generated archive.
pub fn generated_message(opts: &ArchiveOptions, seq: u64) -> ArchiveMessage {
    let env = envelope(opts, seq);
    let mut body_rng = Rng::for_message(opts.seed, seq, 2);
    let faults = faults(opts, seq);
    let mut media = Vec::new();
    let kind = if faults.control_chars {
        "text"
    } else {
        pick_type(&mut body_rng)
    };
    let (msgtype, value) = if kind == "switch" {
        let v = json!({
            "msgid": env.msgid, "action": "switch", "time": env.msgtime, "user": env.from,
        });
        ("switch".to_owned(), v)
    } else {
        let mut v = json!({
            "msgid": env.msgid,
            "action": if kind == "revoke" { "recall" } else { "send" },
            "from": env.from,
            "tolist": env.tolist,
            "roomid": env.roomid,
            "msgtime": env.msgtime,
            "msgtype": kind,
        });
        let ctx = BodyContext {
            opts,
            seq,
            msgtime: env.msgtime,
        };
        let (key, body) = body(kind, &ctx, &mut body_rng, &mut media, &mut v);
        v[key] = body;
        (kind.to_owned(), v)
    };
    let mut plaintext = value.to_string();
    if faults.control_chars {
        // Raw control characters inside a JSON string, as the real SDK sometimes returns.
        plaintext = plaintext.replacen("\"content\":\"", "\"content\":\"\u{1}\t\u{8}raw\nline ", 1);
    }
    if faults.bad_json {
        let mut cut = plaintext.len() / 2;
        while !plaintext.is_char_boundary(cut) {
            cut -= 1;
        }
        plaintext.truncate(cut);
    }
    ArchiveMessage {
        seq,
        msgtime: env.msgtime,
        msgid: env.msgid,
        publickey_ver: opts.key_version(seq),
        msgtype,
        plaintext,
        media,
        faults,
    }
}

struct Envelope {
    msgid: String,
    from: String,
    tolist: Vec<String>,
    roomid: String,
    msgtime: u64,
}

fn envelope(opts: &ArchiveOptions, seq: u64) -> Envelope {
    let mut rng = Rng::for_message(opts.seed, seq, 1);
    // The jitter is drawn the same way whatever the spacing, so archives at the default spacing
    // stay what they always were.
    let jitter = rng.below(1_000) * opts.spacing_ms / 1_500;
    let msgtime = opts.start_ms + seq * opts.spacing_ms + jitter;
    let kind = rng.below(100);
    let (from, tolist, roomid, external_chat) = match kind {
        // One-to-one between two members.
        0..=39 => {
            let a = rng.pick(INTERNAL).to_string();
            let mut b = rng.pick(INTERNAL).to_string();
            if a == b {
                b = INTERNAL
                    [(INTERNAL.iter().position(|x| *x == a).unwrap_or(0) + 1) % INTERNAL.len()]
                .to_owned();
            }
            (a, vec![b], String::new(), false)
        }
        // One-to-one with a customer, either direction.
        40..=69 => {
            let member = rng.pick(INTERNAL).to_string();
            let customer = rng.pick(EXTERNAL).to_string();
            if rng.chance(0.5) {
                (member, vec![customer], String::new(), true)
            } else {
                (customer, vec![member], String::new(), true)
            }
        }
        // A room: members, sometimes customers or a robot.
        _ => {
            let room = rng.pick(ROOMS).to_string();
            let mut people: Vec<String> = INTERNAL.iter().take(5).map(|s| s.to_string()).collect();
            if room != ROOMS[0] {
                people.push(rng.pick(EXTERNAL).to_string());
            }
            if rng.chance(0.05) {
                people.push(ROBOTS[0].to_owned());
            }
            let from_idx = rng.below(people.len() as u64) as usize;
            let from = people.remove(from_idx);
            (from, people, room, false)
        }
    };
    let id = mix64(opts.seed ^ mix64(seq));
    let mut msgid = format!("{}_{}", id, msgtime / 1000);
    if external_chat {
        msgid.push_str("_external");
    }
    Envelope {
        msgid,
        from,
        tolist,
        roomid,
        msgtime,
    }
}

/// msgtypes and their weights (text dominates).
const TYPES: &[(&str, u64)] = &[
    ("text", 600),
    ("image", 60),
    ("revoke", 20),
    ("agree", 8),
    ("disagree", 4),
    ("voice", 30),
    ("video", 15),
    ("card", 8),
    ("location", 8),
    ("emotion", 20),
    ("file", 25),
    ("link", 15),
    ("weapp", 8),
    ("chatrecord", 10),
    ("todo", 6),
    ("vote", 6),
    ("collect", 5),
    ("redpacket", 6),
    ("external_redpacket", 4),
    ("meeting", 6),
    ("docmsg", 6),
    ("markdown", 8),
    ("news", 6),
    ("calendar", 6),
    ("mixed", 15),
    ("meeting_voice_call", 4),
    ("voip_doc_share", 4),
    ("sphfeed", 4),
    ("voiptext", 4),
    ("qydiskfile", 4),
    ("switch", 6),
    ("meeting_notification", 3),
    ("solitaire", 3),
    ("note", 2),
];

/// Every msgtype the generator can emit, `switch` and the unknown ones included.
pub fn all_types() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|(t, _)| *t)
}

fn pick_type(rng: &mut Rng) -> &'static str {
    let total: u64 = TYPES.iter().map(|(_, w)| w).sum();
    let mut r = rng.below(total);
    for (t, w) in TYPES {
        if r < *w {
            return t;
        }
        r -= w;
    }
    "text"
}

struct BodyContext<'a> {
    opts: &'a ArchiveOptions,
    seq: u64,
    msgtime: u64,
}

impl BodyContext<'_> {
    fn media(&self, rng: &mut Rng, idx: u64, class: Class, out: &mut Vec<MediaRef>) -> MediaRef {
        let file = pool_file(
            self.opts.seed,
            class,
            rng.below(POOL_FILES),
            self.opts.max_media,
        );
        let o = self.opts;
        let md5sum = if rng.chance(0.05) {
            String::new()
        } else {
            file.md5_hex()
        };
        let mut sdkfileid = file.sdkfileid(self.seq, idx);
        if every(o.media_bad_id_every, self.seq, 0) {
            sdkfileid.push_str("-unknown");
        }
        let r = MediaRef {
            sdkfileid,
            file,
            md5sum,
        };
        out.push(r.clone());
        r
    }
}

fn text(rng: &mut Rng) -> String {
    let n = 1 + rng.below(3);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(rng.pick(SENTENCES));
    }
    if rng.chance(0.08) {
        let name = rng.pick(NAMES);
        let quoted = rng.pick(SENTENCES);
        s = format!("这是一条引用/回复消息：\n\"{name}：\n{quoted}\"\n------\n@{name} {s}");
    }
    s
}

/// The body of one msgtype: (key it sits under, value). May add top-level fields to `top`.
fn body(
    kind: &str,
    ctx: &BodyContext<'_>,
    rng: &mut Rng,
    media: &mut Vec<MediaRef>,
    top: &mut Value,
) -> (&'static str, Value) {
    let t = ctx.msgtime;
    match kind {
        "text" => ("text", json!({ "content": text(rng) })),
        "image" => {
            let m = ctx.media(rng, 0, Class::Image, media);
            (
                "image",
                json!({"md5sum": m.md5sum, "filesize": m.file.size, "sdkfileid": m.sdkfileid}),
            )
        }
        "revoke" => {
            let earlier = ctx.seq.saturating_sub(1 + rng.below(5)).max(1);
            let pre = envelope(ctx.opts, earlier).msgid;
            ("revoke", json!({ "pre_msgid": pre }))
        }
        "agree" => (
            "agree",
            json!({"userid": rng.pick(EXTERNAL), "agree_time": t}),
        ),
        "disagree" => (
            "disagree",
            json!({"userid": rng.pick(EXTERNAL), "disagree_time": t}),
        ),
        "voice" => {
            let m = ctx.media(rng, 0, Class::Voice, media);
            (
                "voice",
                json!({"md5sum": m.md5sum, "voice_size": m.file.size,
                             "play_length": m.file.voice_seconds(), "sdkfileid": m.sdkfileid}),
            )
        }
        "video" => {
            let m = ctx.media(rng, 0, Class::Video, media);
            (
                "video",
                json!({"md5sum": m.md5sum, "filesize": m.file.size,
                             "play_length": 1 + rng.below(120), "sdkfileid": m.sdkfileid}),
            )
        }
        "card" => (
            "card",
            json!({"corpname": "北京某某科技有限公司", "userid": rng.pick(INTERNAL)}),
        ),
        "location" => (
            "location",
            json!({"longitude": 116.397_128, "latitude": 39.916_527,
            "address": "北京市东城区东长安街", "title": "天安门广场", "zoom": 15}),
        ),
        "emotion" => {
            let m = ctx.media(rng, 0, Class::Emotion, media);
            (
                "emotion",
                json!({"type": 2, "width": 240, "height": 240,
                "imagesize": m.file.size, "md5sum": m.md5sum, "sdkfileid": m.sdkfileid}),
            )
        }
        "file" => {
            let (name, ext, class) = rng.pick(&[
                ("报价单", "csv", Class::Csv),
                ("合同草案", "pdf", Class::Pdf),
                ("产品手册", "pdf", Class::Pdf),
                ("logo", "png", Class::Png),
            ]);
            let m = ctx.media(rng, 0, class, media);
            (
                "file",
                json!({"md5sum": m.md5sum, "filename": format!("{name}.{ext}"),
                "fileext": ext, "filesize": m.file.size, "sdkfileid": m.sdkfileid}),
            )
        }
        "link" => (
            "link",
            json!({"title": "限时优惠｜新品发布会", "description": rng.pick(SENTENCES),
            "link_url": "https://example.com/promo?id=123&utm_source=wecom", "image_url": "https://example.com/a.png"}),
        ),
        "weapp" => (
            "weapp",
            json!({"title": "商城小程序", "description": "点击进入下单",
            "username": "gh_0123456789ab@app", "displayname": "某某商城"}),
        ),
        "chatrecord" => {
            let items: Vec<Value> = (0..1 + rng.below(3))
                .map(|i| {
                    let at = t / 1000 - 60 * i;
                    if i == 1 && rng.chance(0.5) {
                        // A forwarded picture, fetched like any other.
                        let m = ctx.media(rng, i, Class::Image, media);
                        let img = json!({"md5sum": m.md5sum, "filesize": m.file.size, "sdkfileid": m.sdkfileid});
                        return json!({"type": "ChatRecordImage", "msgtime": at,
                            "content": img.to_string(), "from_chatroom": false});
                    }
                    json!({"type": "ChatRecordText", "msgtime": at,
                    "content": json!({"content": text(rng)}).to_string(), "from_chatroom": false})
                })
                .collect();
            (
                "chatrecord",
                json!({"title": "群聊的聊天记录", "item": items}),
            )
        }
        "todo" => (
            "todo",
            json!({"title": "跟进客户", "content": rng.pick(SENTENCES)}),
        ),
        "vote" => {
            let v = json!({"votetitle": "团建去哪里？", "voteitem": ["爬山", "露营", "聚餐"],
                "votetype": 101, "voteid": format!("vote{}", ctx.seq)});
            if rng.chance(0.5) {
                ("vote", v)
            } else {
                // Some archives carry the vote fields at the top level.
                if let (Value::Object(top), Value::Object(fields)) = (top, v) {
                    top.extend(fields);
                }
                ("vote", Value::Null)
            }
        }
        "collect" => (
            "collect",
            json!({"room_name": "销售一组", "creator": "张三",
            "create_time": "2025-11-20 10:00:00", "title": "客户回访登记",
            "details": [{"id": 1, "ques": "客户姓名", "type": "Text"}, {"id": 2, "ques": "联系电话", "type": "Number"}]}),
        ),
        "redpacket" | "external_redpacket" => (
            "redpacket",
            json!({"type": 1 + rng.below(3),
            "wish": "恭喜发财，大吉大利", "totalcnt": 1 + rng.below(10), "totalamount": 100 * (1 + rng.below(200))}),
        ),
        "meeting" => (
            "meeting",
            json!({"topic": "周例会", "starttime": t / 1000 + 3600,
            "endtime": t / 1000 + 7200, "address": "会议室 A", "remarks": "请带上周报",
            "meetingtype": 102, "meetingid": 1_000_000 + ctx.seq, "status": 1}),
        ),
        "docmsg" => (
            "doc",
            json!({"title": "客户跟进表", "doc_creator": rng.pick(INTERNAL),
            "link_url": "https://doc.weixin.qq.com/sheet/e3_abc"}),
        ),
        "markdown" => (
            "info",
            json!({"content": format!("**通知**：{}", rng.pick(SENTENCES))}),
        ),
        "news" => (
            "info",
            json!({"item": [{"title": "行业资讯", "description": rng.pick(SENTENCES),
            "url": "https://example.com/news/1", "picurl": "https://example.com/news/1.jpg"}]}),
        ),
        "calendar" => (
            "calendar",
            json!({"title": "客户拜访", "creatorname": "张三",
            "attendeename": ["李四", "王五"], "starttime": t / 1000 + 86_400,
            "endtime": t / 1000 + 90_000, "place": "客户公司", "remarks": rng.pick(SENTENCES)}),
        ),
        "mixed" => {
            let m = ctx.media(rng, 1, Class::Image, media);
            let img =
                json!({"md5sum": m.md5sum, "filesize": m.file.size, "sdkfileid": m.sdkfileid});
            let items = json!([
                {"type": "text", "content": json!({"content": text(rng)}).to_string()},
                {"type": "image", "content": img.to_string()},
                {"type": "emotion", "content": json!({"type": 1, "width": 100, "height": 100}).to_string()},
            ]);
            ("mixed", json!({ "item": items }))
        }
        "meeting_voice_call" => {
            let m = ctx.media(rng, 0, Class::Voice, media);
            top["voiceid"] = json!(format!("grb8a4c48a3c094a70982c518d55e{:x}", ctx.seq));
            (
                "meeting_voice_call",
                json!({"endtime": t / 1000 + 600, "sdkfileid": m.sdkfileid,
                "demofiledata": [{"filename": "演示.pptx", "demooperator": "zhangsan", "starttime": t / 1000, "endtime": t / 1000 + 300}],
                "sharescreendata": [{"share": "lisi", "starttime": t / 1000, "endtime": t / 1000 + 60}]}),
            )
        }
        "voip_doc_share" => {
            let m = ctx.media(rng, 0, Class::Pdf, media);
            top["voipid"] = json!(format!("gr2751c98b19300571f8afb3b74514bd{:x}", ctx.seq));
            (
                "voip_doc_share",
                json!({"filename": "方案.pdf", "md5sum": m.md5sum,
                "filesize": m.file.size, "sdkfileid": m.sdkfileid}),
            )
        }
        "sphfeed" => (
            "sphfeed",
            json!({"feed_type": 4, "sph_name": "某某官方", "feed_desc": rng.pick(SENTENCES)}),
        ),
        "voiptext" => (
            "info",
            json!({"callduration": rng.below(600), "invitetype": 1 + rng.below(2)}),
        ),
        "qydiskfile" => ("info", json!({"filename": "季度总结.pptx"})),
        "meeting_notification" => (
            "meeting_notification",
            json!({"meeting_id": ctx.seq, "notification_type": 2}),
        ),
        "solitaire" => (
            "solitaire",
            json!({"title": "接龙：周末加班", "entries": ["1. 张三", "2. 李四"]}),
        ),
        _ => (
            "note",
            json!({"title": "笔记", "content": rng.pick(SENTENCES)}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> ArchiveOptions {
        ArchiveOptions::from_pairs(pairs.iter().copied()).expect("valid options")
    }

    #[test]
    fn same_seed_same_archive_other_seed_other_archive() {
        let a = opts(&[("seed", "5")]);
        let b = opts(&[("seed", "6")]);
        for seq in 1..50 {
            assert_eq!(
                generated_message(&a, seq).plaintext,
                generated_message(&a, seq).plaintext
            );
        }
        assert_ne!(
            generated_message(&a, 1).msgid,
            generated_message(&b, 1).msgid
        );
    }

    #[test]
    fn every_type_appears_and_clean_plaintext_is_json() {
        let o = opts(&[("messages", "5000")]);
        let mut seen = std::collections::BTreeSet::new();
        for seq in 1..=5000 {
            let m = generated_message(&o, seq);
            let v: Value = serde_json::from_str(&m.plaintext).expect("clean message is JSON");
            assert_eq!(v["msgid"], m.msgid.as_str());
            seen.insert(m.msgtype);
        }
        for t in all_types() {
            assert!(seen.contains(t), "msgtype {t} never generated");
        }
    }

    #[test]
    fn faults_land_where_asked() {
        let o = opts(&[("control_chars_every", "10"), ("bad_json_every", "7")]);
        let cc = generated_message(&o, 6);
        assert!(cc.faults.control_chars && cc.plaintext.contains('\u{1}'));
        assert!(serde_json::from_str::<Value>(&cc.plaintext).is_err());
        let bad = generated_message(&o, 4);
        assert!(bad.faults.bad_json && bad.faults.unreadable());
    }

    #[test]
    fn msgids_are_unique_and_marked_external() {
        let o = opts(&[]);
        let ids: std::collections::HashSet<String> =
            (1..=2000).map(|s| generated_message(&o, s).msgid).collect();
        assert_eq!(ids.len(), 2000);
        assert!(ids.iter().any(|i| i.ends_with("_external")));
    }
}
