//! Sensitive behaviours (`we_sensitive_act`): a fixed catalogue of detectors, each switchable. They run
//! on messages sent by internal members toward external contacts or in rooms, over the message type,
//! the action and the visible text — folded first ([`fold_for_detectors`]: every way of writing a
//! digit or a Latin letter, width, case, traditional characters), so `幺三八 一二三四 五六七八` is a
//! mobile number and `ⓥⓧ：zhang888` a WeChat id.

use crate::message::MessageRow;

use super::lookalike::fold_for_detectors;
use super::scope::is_internal_id;

/// The catalogue, with the ids and names `we_sensitive_act` is seeded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Act {
    Card = 1,
    RedPacket = 2,
    Phone = 3,
    Email = 4,
    IdNumber = 5,
    BankCard = 6,
    Recall = 7,
    /// Found in fetched images, not in text: see [`crate::audit::Auditor::qr_hits`].
    QrCode = 8,
    Url = 9,
    WeChatId = 10,
    QqNumber = 11,
}

impl Act {
    pub const ALL: [Act; 11] = [
        Act::Card,
        Act::RedPacket,
        Act::Phone,
        Act::Email,
        Act::IdNumber,
        Act::BankCard,
        Act::Recall,
        Act::QrCode,
        Act::Url,
        Act::WeChatId,
        Act::QqNumber,
    ];

    pub fn id(self) -> i64 {
        self as i64
    }

    /// The name as in the spec's catalogue.
    pub fn name(self) -> &'static str {
        match self {
            Act::Card => "发送名片",
            Act::RedPacket => "发送红包",
            Act::Phone => "发送手机号",
            Act::Email => "发送邮箱",
            Act::IdNumber => "发送身份证号",
            Act::BankCard => "发送银行卡号",
            Act::Recall => "撤回消息",
            Act::QrCode => "发送二维码",
            Act::Url => "发送网址",
            Act::WeChatId => "发送微信号",
            Act::QqNumber => "发送QQ号",
        }
    }

    pub fn from_id(id: i64) -> Option<Act> {
        Act::ALL.into_iter().find(|a| a.id() == id)
    }
}

/// A behaviour found in a message, with what triggered it (e.g. the number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActFinding {
    pub act: Act,
    pub detail: String,
}

/// A digit of folded text.
fn digit(c: char) -> Option<char> {
    c.is_ascii_digit().then_some(c)
}

/// Maximal digit runs, allowing single spaces or dashes between digits ("139 1234-5678").
fn digit_runs(chars: &[char]) -> Vec<String> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if digit(chars[i]).is_none() {
            i += 1;
            continue;
        }
        let mut run = String::new();
        while i < chars.len() {
            if let Some(d) = digit(chars[i]) {
                run.push(d);
                i += 1;
            } else if matches!(chars[i], ' ' | '-')
                && chars.get(i + 1).and_then(|c| digit(*c)).is_some()
            {
                i += 1;
            } else {
                break;
            }
        }
        // An ID number may end in X (any form of it: the text is folded).
        if run.len() == 17 && matches!(chars.get(i), Some('X' | 'x')) {
            run.push('X');
            i += 1;
        }
        runs.push(run);
    }
    runs
}

fn is_mobile(d: &str) -> bool {
    let d = if d.len() == 13 && d.starts_with("86") {
        &d[2..]
    } else {
        d
    };
    let b = d.as_bytes();
    d.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])
}

/// PRC resident ID (GB 11643): 17 digits and an ISO 7064 MOD 11-2 check character.
pub fn is_id_number(d: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = d.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(c, w)| u32::from(c - b'0') * w)
        .sum();
    CHECK[(sum % 11) as usize] == b[17].to_ascii_uppercase()
}

/// Luhn check over ASCII digits.
pub fn luhn(d: &str) -> bool {
    let mut sum = 0;
    for (i, c) in d.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return false;
        }
        let mut v = u32::from(c - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !d.is_empty() && sum % 10 == 0
}

fn emails(text: &str) -> Vec<String> {
    let local_ok = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let domain_ok = |c: char| c.is_ascii_alphanumeric() || ".-".contains(c);
    let mut out = Vec::new();
    for (at, _) in text.match_indices('@') {
        let local: String = text[..at]
            .chars()
            .rev()
            .take_while(|c| local_ok(*c))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let domain: String = text[at + 1..]
            .chars()
            .take_while(|c| domain_ok(*c))
            .collect();
        let domain = domain.trim_end_matches(['.', '-']);
        let tld_ok = domain.rsplit_once('.').is_some_and(|(host, tld)| {
            !host.is_empty() && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
        });
        if !local.is_empty() && tld_ok {
            out.push(format!("{local}@{domain}"));
        }
    }
    out
}

/// The host of a URL-like text (`https://a.b/x`, `a.b/x`, `www.a.b`), lower-cased; `None` when
/// the text has no host part (`wxp://…` has one: its host is what follows the scheme).
fn host_of(text: &str) -> Option<String> {
    let t = text.trim();
    let rest = t.split_once("://").map_or(t, |(_, r)| r);
    let host = rest
        .split(['/', '?', '#'])
        .next()?
        .rsplit('@')
        .next()?
        .split(':')
        .next()?;
    (!host.is_empty() && host.contains('.')).then(|| host.to_ascii_lowercase())
}

/// Whether `text` is a URL on one of the `allow` domains or their subdomains.
pub fn url_allowed(text: &str, allow: &[String]) -> bool {
    let Some(host) = host_of(text) else {
        return false;
    };
    allow.iter().any(|d| {
        let d = d.trim().trim_start_matches('.').to_ascii_lowercase();
        !d.is_empty() && (host == d || host.ends_with(&format!(".{d}")))
    })
}

/// Whether behaviour detection applies: an internal sender, toward an external contact or in a room.
pub fn applies(row: &MessageRow) -> bool {
    is_internal_id(&row.from_id) && (row.is_external == 0 || !row.room_id.is_empty())
}

/// Top-level domains a bare domain (`example.cn/x`, no scheme, no `www.`) must end in to count as a
/// URL: the generic ones and the country codes seen in Chinese chat, so `3.5` or `a.b` are not.
const TLDS: &[&str] = &[
    "com", "cn", "net", "org", "top", "xyz", "info", "io", "me", "cc", "tv", "vip", "club", "shop",
    "site", "online", "app", "co", "biz", "wang", "ink", "ltd", "link", "live", "pro", "tech",
    "store", "fun", "icu", "work", "edu", "gov", "hk", "tw", "mo", "jp", "kr", "sg", "us", "uk",
    "de", "fr", "ru", "in", "ai", "so", "la", "to", "ws", "cloud", "group", "asia", "mobi", "name",
];

fn host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.'
}

fn url_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}')
}

/// The URLs in folded text: `http(s)://…`, `www.…`, and bare domains with a known top-level domain
/// and an optional path. E-mail addresses are not URLs.
fn urls(text: &[char]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        // A URL starts where a host character follows something that is not one.
        if !host_char(text[i]) || (i > 0 && (host_char(text[i - 1]) || text[i - 1] == '@')) {
            i += 1;
            continue;
        }
        let end = (i..text.len())
            .find(|&j| !url_char(text[j]))
            .unwrap_or(text.len());
        let candidate: String = text[i..end].iter().collect();
        let candidate = candidate.trim_end_matches(['.', ',', ')', ']', '!', '?', ';', ':', '\'']);
        let schemed = candidate.starts_with("http://") || candidate.starts_with("https://");
        let host_part = candidate.split_once("://").map_or(candidate, |(_, r)| r);
        let host: &str = host_part.split(['/', '?', '#', ':']).next().unwrap_or("");
        let is_url = if schemed {
            host.contains('.') || host == "localhost"
        } else if host_part.len() < candidate.len() || candidate.contains('@') {
            false // another scheme (wxp://…), or an e-mail address
        } else {
            let labels: Vec<&str> = host.split('.').collect();
            labels.len() >= 2
                && labels.iter().all(|l| {
                    !l.is_empty()
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
                && (host.starts_with("www.") || labels.last().is_some_and(|tld| TLDS.contains(tld)))
        };
        if is_url {
            out.push(candidate.to_owned());
        }
        i = end.max(i + 1);
    }
    out
}

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Whether the cue at `[at, at + len)` stands alone: an ASCII cue must not continue a word.
fn cue_stands(text: &[char], at: usize, cue: &[char]) -> bool {
    !(cue[0].is_ascii_alphanumeric() && at > 0 && text[at - 1].is_ascii_alphanumeric())
}

/// The cues of a WeChat id (in folded text).
const WECHAT_CUES: &[&[char]] = &[
    &['微', '信', '号'],
    &['微', '信'],
    &['v', 'x'],
    &['w', 'x'],
    &['v', '信'],
    &['w', 'e', 'i', 'x', 'i', 'n'],
];

/// The cues of a QQ number (in folded text).
const QQ_CUES: &[&[char]] = &[&['q', 'q'], &['扣', '扣'], &['企', '鹅'], &['q', '号']];

/// Where each cue of `cues` occurs in `text` (longest cue first at each position), as the index
/// just past it.
fn cue_ends(text: &[char], cues: &[&[char]]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&first) = text.get(i) {
        // Most positions begin no cue: a comparison with each cue's first character.
        if !cues.iter().any(|c| c.first() == Some(&first)) {
            i += 1;
            continue;
        }
        let found = cues
            .iter()
            .filter(|c| text[i..].starts_with(c) && cue_stands(text, i, c))
            .map(|c| c.len())
            .max();
        match found {
            Some(len) => {
                out.push(i + len);
                i += len;
            }
            None => i += 1,
        }
    }
    out
}

/// The run of characters `keep` starting within `within` characters after `from` (skipping only
/// characters that are not `keep`), if any.
fn run_after(text: &[char], from: usize, within: usize, keep: fn(char) -> bool) -> Option<String> {
    let start = (from..text.len().min(from + within + 1)).find(|&j| keep(text[j]))?;
    let end = (start..text.len())
        .find(|&j| !keep(text[j]))
        .unwrap_or(text.len());
    Some(text[start..end].iter().collect())
}

/// WeChat ids in folded text: `wxid_…` anywhere, or a cue followed within 6 characters by 6–20
/// id characters beginning with a letter.
fn wechat_ids(text: &[char]) -> Vec<String> {
    const WXID: [char; 5] = ['w', 'x', 'i', 'd', '_'];
    let mut out = Vec::new();
    for start in (0..text.len()).filter(|&i| text[i..].starts_with(&WXID)) {
        let id: String = text[start..].iter().take_while(|c| id_char(**c)).collect();
        if id.len() > WXID.len() && (start == 0 || !id_char(text[start - 1])) {
            out.push(id);
        }
    }
    for end in cue_ends(text, WECHAT_CUES) {
        if let Some(id) = run_after(text, end, 6, id_char)
            && (6..=20).contains(&id.len())
            && id.starts_with(|c: char| c.is_ascii_alphabetic())
            && !text[end..].starts_with(&['i', 'd', '_'])
        {
            out.push(id);
        }
    }
    out
}

/// QQ numbers in folded text: a cue followed within 6 characters by 5–11 digits not beginning with
/// 0.
fn qq_numbers(text: &[char]) -> Vec<String> {
    cue_ends(text, QQ_CUES)
        .into_iter()
        .filter_map(|end| run_after(text, end, 6, |c| c.is_ascii_digit()))
        .filter(|n| (5..=11).contains(&n.len()) && !n.starts_with('0'))
        .collect()
}

/// The only message type whose body (`contact`) the detectors read: a link's URL. A store reading
/// messages for the audit ([`crate::store::MessageQuery::for_audit`]) may leave the others' out.
pub const BODY_READ_FOR: &str = "link";

/// The URL of a `link` message, from its body: the row keeps the `link` object itself as
/// `contact` ([`crate::message::ChatMessage::contact`]).
fn link_url(row: &MessageRow) -> String {
    serde_json::from_str::<serde_json::Value>(&row.contact)
        .ok()
        .and_then(|body| body.get("link_url")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The behaviours in a message (enabled or not; the caller filters). URLs on `url_allow` (and
/// their subdomains) are not reported.
pub fn detect(row: &MessageRow, url_allow: &[String]) -> Vec<ActFinding> {
    let mut out = Vec::new();
    let mut push = |act, detail: String| {
        if !out.iter().any(|f: &ActFinding| f.act == act) {
            out.push(ActFinding { act, detail });
        }
    };
    match row.msg_type.as_str() {
        "card" => push(Act::Card, String::new()),
        "redpacket" | "external_redpacket" => push(Act::RedPacket, String::new()),
        BODY_READ_FOR => {
            let url = link_url(row);
            if !url_allowed(&url, url_allow) {
                push(Act::Url, url);
            }
        }
        _ => {}
    }
    if row.action == "recall" {
        push(Act::Recall, String::new());
    }
    if row.plain_text.is_empty() {
        return out;
    }
    let text = fold_for_detectors(&row.plain_text);
    let chars: Vec<char> = text.chars().collect();
    for run in digit_runs(&chars) {
        if is_mobile(&run) {
            push(Act::Phone, run);
        } else if is_id_number(&run) {
            push(Act::IdNumber, run);
        } else if (16..=19).contains(&run.len()) && luhn(&run) {
            push(Act::BankCard, run);
        }
    }
    if let Some(e) = emails(&text).into_iter().next() {
        push(Act::Email, e);
    }
    if let Some(u) = urls(&chars)
        .into_iter()
        .find(|u| !url_allowed(u, url_allow))
    {
        push(Act::Url, u);
    }
    if let Some(id) = wechat_ids(&chars).into_iter().next() {
        push(Act::WeChatId, id);
    }
    if let Some(n) = qq_numbers(&chars).into_iter().next() {
        push(Act::QqNumber, n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_urls_are_the_domains_and_their_subdomains() {
        let allow = vec!["corp.example.com".to_owned()];
        assert!(url_allowed("https://corp.example.com/join?x=1", &allow));
        assert!(url_allowed("http://www.corp.example.com", &allow));
        assert!(url_allowed("corp.example.com/a", &allow));
        assert!(!url_allowed("https://evilcorp.example.com.cn/", &allow));
        assert!(!url_allowed("https://notcorp.example.com/", &allow));
        assert!(!url_allowed("wxp://f2f0abc", &allow));
        assert!(!url_allowed("加我微信 zhang888", &allow));
    }

    fn row(text: &str) -> MessageRow {
        MessageRow {
            from_id: "zhangsan".into(),
            to_list: "wmCustomer".into(),
            msg_type: "text".into(),
            plain_text: text.into(),
            ..MessageRow::default()
        }
    }

    fn acts(text: &str) -> Vec<Act> {
        detect(&row(text), &[]).into_iter().map(|f| f.act).collect()
    }

    fn found(text: &str, allow: &[&str]) -> Vec<(Act, String)> {
        let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        detect(&row(text), &allow)
            .into_iter()
            .map(|f| (f.act, f.detail))
            .collect()
    }

    #[test]
    fn round_two_detectors_read_folded_text() {
        let cases: &[(&str, &[Act])] = &[
            // Numerals of every kind.
            ("幺三八 一二三四 五六七八", &[Act::Phone]),
            ("电话①③⑨①②③④⑤⑥⑦⑧", &[Act::Phone]),
            ("卡号 ④①①①①①①①①①①①①①①①", &[Act::BankCard]),
            ("身份证 11010519491231002Ｘ", &[Act::IdNumber]),
            ("身份证 ①①⓪①⓪⑤①⑨④⑨①②③①⓪⓪②①", &[]), // wrong check digit
            ("卡号 ④①①①①①①①①①①①①①①②", &[]),     // fails Luhn
            // URLs.
            ("看这里 https://evil.example.com/x?y=1", &[Act::Url]),
            ("www.abc.com 有优惠", &[Act::Url]),
            ("打开 abc.cn/x 领取", &[Act::Url]),
            ("版本 3.5 和 v1.2.3，文件 readme.md", &[]),
            ("邮箱 zhang@example.com", &[Act::Email]),
            // WeChat ids.
            ("vx: Zhang888", &[Act::WeChatId]),
            ("加ⓥⓧ：zhang_888", &[Act::WeChatId]),
            ("微信号是 abc-123456", &[Act::WeChatId]),
            ("wxid_k2j3h4g5", &[Act::WeChatId]),
            ("加我微信 8zhang888", &[]), // an id begins with a letter
            ("微信 abc", &[]),           // too short
            ("weixinpay 付款", &[]),     // no id after the cue
            ("xvxy abcdefg", &[]),       // vx inside a word is no cue
            ("加我weixin吧 Zhang888", &[Act::WeChatId]),
            // QQ numbers.
            ("QQ 88665544", &[Act::QqNumber]),
            ("扣扣：八八六六五五四四", &[Act::QqNumber]),
            ("企鹅号 12345", &[Act::QqNumber]),
            ("qq 012345", &[]), // a QQ number never begins with 0
            ("qq 1234", &[]),   // too short
        ];
        for (text, want) in cases {
            assert_eq!(acts(text), *want, "{text}");
        }
    }

    #[test]
    fn details_say_what_was_found_and_allowed_domains_do_not_fire() {
        assert_eq!(
            found("加ⓥⓧ：Zhang_888", &[]),
            [(Act::WeChatId, "zhang_888".to_owned())]
        );
        assert_eq!(
            found("扣扣：八八六六五五四四", &[]),
            [(Act::QqNumber, "88665544".to_owned())]
        );
        let allow = ["corp.example.com"];
        assert!(found("见 corp.example.com/a", &allow).is_empty());
        assert!(found("见 https://a.corp.example.com/x", &allow).is_empty());
        assert_eq!(
            found("见 https://corp.example.com.evil.cn/x", &allow),
            [(Act::Url, "https://corp.example.com.evil.cn/x".to_owned())]
        );
        // An allowed URL next to one that is not: the other is reported.
        assert_eq!(
            found("corp.example.com 和 evil.cn", &allow),
            [(Act::Url, "evil.cn".to_owned())]
        );
    }

    #[test]
    fn every_link_message_is_a_url_unless_allowed() {
        // As the pipeline stores it: parsed, then made a row (whose `contact` is the link object).
        let json = r#"{"msgid":"m1","action":"send","from":"zhangsan","tolist":["wmCustomer"],
            "roomid":"","msgtime":1700000000000,"msgtype":"link","link":{"title":"标题",
            "description":"描述","link_url":"https://x.example.cn/p","image_url":""}}"#;
        let m = crate::message::ChatMessage::parse(json.as_bytes()).expect("parse");
        let r = MessageRow::from_message("corp", 1, 1, &m);
        let found = detect(&r, &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].act, Act::Url);
        assert_eq!(found[0].detail, "https://x.example.cn/p");
        assert!(detect(&r, &["example.cn".to_owned()]).is_empty());
    }

    #[test]
    fn table_of_text_detectors() {
        let cases: &[(&str, &[Act])] = &[
            ("我的手机号是13912345678", &[Act::Phone]),
            ("电话 139 1234 5678 或 139-1234-5678", &[Act::Phone]),
            ("+86 13912345678", &[Act::Phone]),
            ("12912345678", &[]),  // 1 then 2: not a mobile prefix
            ("139123456789", &[]), // 12 digits
            ("身份证 11010519491231002X", &[Act::IdNumber]),
            ("身份证 110105194912310021", &[]), // wrong check digit
            ("卡号 6222 0202 0000 1234 563", &[]), // fails Luhn
            ("卡号 4111 1111 1111 1111", &[Act::BankCard]),
            ("卡号 4111111111111112", &[]), // Luhn fails
            ("邮箱 zhang.san@example.com 谢谢", &[Act::Email]),
            ("at @ 符号 a@b", &[]),
            ("今天下午三点开会", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(acts(text), *want, "{text}");
        }
    }

    #[test]
    fn type_and_action_detectors() {
        let mut r = row("");
        r.msg_type = "card".into();
        assert_eq!(detect(&r, &[])[0].act, Act::Card);
        r.msg_type = "external_redpacket".into();
        assert_eq!(detect(&r, &[])[0].act, Act::RedPacket);
        r.msg_type = "revoke".into();
        r.action = "recall".into();
        assert_eq!(detect(&r, &[])[0].act, Act::Recall);
    }

    #[test]
    fn only_internal_senders_toward_customers_or_rooms() {
        let mut r = row("13912345678");
        assert!(applies(&r));
        r.is_external = 1;
        assert!(!applies(&r), "internal one-to-one chat");
        r.room_id = "wr1".into();
        assert!(applies(&r), "room");
        r.from_id = "wmCustomer".into();
        assert!(!applies(&r), "customer sender");
    }

    #[test]
    fn check_digit_and_luhn() {
        assert!(is_id_number("11010519491231002X"));
        assert!(!is_id_number("11010519491231002Y"));
        assert!(luhn("79927398713") && !luhn("79927398710"));
    }
}
