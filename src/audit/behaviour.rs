//! Sensitive behaviours (`we_sensitive_act`): a fixed catalogue of detectors, each switchable. They run
//! on messages sent by internal members toward external contacts or in rooms, over the message type,
//! the action and the visible text.

use crate::message::MessageRow;

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
}

impl Act {
    pub const ALL: [Act; 8] = [
        Act::Card,
        Act::RedPacket,
        Act::Phone,
        Act::Email,
        Act::IdNumber,
        Act::BankCard,
        Act::Recall,
        Act::QrCode,
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

fn digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
        _ => None,
    }
}

/// Maximal digit runs, allowing single spaces or dashes between digits ("139 1234-5678").
fn digit_runs(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
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
        // An ID number may end in X.
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

/// The behaviours in a message (enabled or not; the caller filters).
pub fn detect(row: &MessageRow) -> Vec<ActFinding> {
    let mut out = Vec::new();
    let mut push = |act, detail: String| {
        if !out.iter().any(|f: &ActFinding| f.act == act) {
            out.push(ActFinding { act, detail });
        }
    };
    match row.msg_type.as_str() {
        "card" => push(Act::Card, String::new()),
        "redpacket" | "external_redpacket" => push(Act::RedPacket, String::new()),
        _ => {}
    }
    if row.action == "recall" {
        push(Act::Recall, String::new());
    }
    let text = &row.plain_text;
    if !text.is_empty() {
        for run in digit_runs(text) {
            if is_mobile(&run) {
                push(Act::Phone, run);
            } else if is_id_number(&run) {
                push(Act::IdNumber, run);
            } else if (16..=19).contains(&run.len()) && luhn(&run) {
                push(Act::BankCard, run);
            }
        }
        if let Some(e) = emails(text).into_iter().next() {
            push(Act::Email, e);
        }
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
            corp_id: "ww".into(),
            msg_id: "m".into(),
            seq: 1,
            publickey_ver: 1,
            from_id: "zhangsan".into(),
            to_list: "wmCustomer".into(),
            room_id: String::new(),
            action: "send".into(),
            msg_type: "text".into(),
            msg_time: 0,
            contact: String::new(),
            is_external: 0,
            plain_text: text.into(),
            attachments: Vec::new(),
        }
    }

    fn acts(text: &str) -> Vec<Act> {
        detect(&row(text)).into_iter().map(|f| f.act).collect()
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
        assert_eq!(detect(&r)[0].act, Act::Card);
        r.msg_type = "external_redpacket".into();
        assert_eq!(detect(&r)[0].act, Act::RedPacket);
        r.msg_type = "revoke".into();
        r.action = "recall".into();
        assert_eq!(detect(&r)[0].act, Act::Recall);
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
