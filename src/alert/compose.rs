//! What an alert says, for a phone screen: who said what to whom, in which chat, when, the words,
//! and the snippet with the hit marked — nothing of the conversation beyond the snippet, which stays
//! in the store. One hit makes one post; when hits outrun a robot's rate they are coalesced into a
//! digest (per strategy and sender: counts, words, the first snippets) with a pointer to
//! `msgaudit hits`. Posts fit WeCom's limits (2,048 bytes for text, 4,096 for markdown).

use std::collections::BTreeMap;

use crate::store::HitRow;
use crate::timefmt::format_ms;

/// WeCom's limit on a text message's content, in bytes.
pub const TEXT_LIMIT: usize = 2048;
/// WeCom's limit on a markdown message's content, in bytes.
pub const MARKDOWN_LIMIT: usize = 4096;
/// Snippets a digest shows per (strategy, sender).
pub const DIGEST_SNIPPETS: usize = 2;

/// A composed post: plain text (with the auditor in `mentioned_list`) and markdown (which mentions
/// with `<@userid>`), so a channel can send either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub text: String,
    pub markdown: String,
    /// Userids to mention (the auditors of the hits).
    pub mention: Vec<String>,
}

/// Display names of people, where the organisation knows them.
pub trait Names {
    fn name(&self, userid: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Names for F {
    fn name(&self, userid: &str) -> Option<String> {
        self(userid)
    }
}

fn person(names: &impl Names, userid: &str) -> String {
    match names.name(userid) {
        Some(n) if !n.is_empty() && n != userid => format!("{n}({userid})"),
        _ => userid.to_owned(),
    }
}

/// `s` cut to at most `limit` bytes on a character boundary, with `…` when cut.
pub fn truncate(s: &str, limit: usize) -> String {
    if s.len() <= limit {
        return s.to_owned();
    }
    let mut end = limit.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn chat(names: &impl Names, h: &HitRow) -> String {
    if h.room_id.is_empty() {
        let to: Vec<String> = h
            .to_list
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|t| person(names, t))
            .collect();
        format!("私聊 → {}", to.join("、"))
    } else {
        format!("群聊 {}", h.room_id)
    }
}

/// The post for one hit.
pub fn single(names: &impl Names, h: &HitRow) -> Post {
    let direction = if h.direction == "received" {
        "收到"
    } else {
        "发出"
    };
    let fields = [
        format!("策略：{}", h.strategy_name),
        format!("敏感词：{}", h.words.join("、")),
        format!("{}：{}", direction, person(names, &h.from_id)),
        format!("会话：{}", chat(names, h)),
        format!("时间：{} UTC", format_ms(h.msg_time)),
        format!("内容：{}", h.content),
        format!("msgid：{}", h.msg_id),
    ];
    let text = truncate(
        &format!("【敏感词告警】\n{}", fields.join("\n")),
        TEXT_LIMIT,
    );
    let markdown = truncate(
        &format!(
            "**<font color=\"warning\">敏感词告警</font>** {}\n{}",
            mention_markdown(&h.audit_user_id),
            fields
                .iter()
                .map(|f| format!("> {}", f.replace('\n', " ")))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        MARKDOWN_LIMIT,
    );
    Post {
        text,
        markdown,
        mention: mentions([h]),
    }
}

fn mention_markdown(userid: &str) -> String {
    if userid.is_empty() {
        String::new()
    } else {
        format!("<@{userid}>")
    }
}

fn mentions<'a>(hits: impl IntoIterator<Item = &'a HitRow>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in hits {
        if !h.audit_user_id.is_empty() && !out.contains(&h.audit_user_id) {
            out.push(h.audit_user_id.clone());
        }
    }
    out
}

/// One digest post for many hits: per (strategy, sender) the count, the words and the first
/// snippets, oldest first, and the command that lists them all.
pub fn digest(names: &impl Names, hits: &[HitRow]) -> Post {
    let mut groups: BTreeMap<(i64, &str), Vec<&HitRow>> = BTreeMap::new();
    for h in hits {
        groups
            .entry((h.strategy_id, h.from_id.as_str()))
            .or_default()
            .push(h);
    }
    let (first, last) = (
        hits.iter().map(|h| h.msg_time).min().unwrap_or(0),
        hits.iter().map(|h| h.msg_time).max().unwrap_or(0),
    );
    let mut lines = vec![format!(
        "【敏感词告警汇总】{} 条命中，{} – {} UTC",
        hits.len(),
        format_ms(first),
        format_ms(last)
    )];
    for ((strategy_id, from), group) in &groups {
        let mut words: Vec<&str> = Vec::new();
        for w in group.iter().flat_map(|h| h.words.iter()) {
            if !words.contains(&w.as_str()) {
                words.push(w);
            }
        }
        lines.push(format!(
            "· {} #{strategy_id} · {} · {} 条 · {}",
            group[0].strategy_name,
            person(names, from),
            group.len(),
            words.join("、")
        ));
        for h in group.iter().take(DIGEST_SNIPPETS) {
            lines.push(format!("  {}", h.content.replace('\n', " ")));
        }
    }
    let since = format_ms(first);
    let footer = format!("全部命中：msgaudit hits --since \"{since}\"");
    let budget = |limit: usize| limit.saturating_sub(footer.len() + 1);
    let text = format!(
        "{}\n{footer}",
        truncate(&lines.join("\n"), budget(TEXT_LIMIT))
    );
    let body = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("**{l}**")
            } else {
                format!("> {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mention: Vec<String> = mentions(hits);
    let at = mention
        .iter()
        .map(|u| mention_markdown(u))
        .collect::<Vec<_>>()
        .join(" ");
    let markdown = format!(
        "{}\n{footer}",
        truncate(&format!("{at}\n{body}"), budget(MARKDOWN_LIMIT))
    );
    Post {
        text,
        markdown,
        mention,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(strategy: i64, from: &str, msg: &str, t: i64) -> HitRow {
        HitRow {
            corp_id: "ww1".into(),
            msg_id: msg.into(),
            strategy_id: strategy,
            strategy_name: if strategy == 1 {
                "飞单".into()
            } else {
                "发票".into()
            },
            words: vec!["私下转账".into()],
            spans: vec![(6, 18)],
            content: "可以【私下转账】吗".into(),
            from_id: from.into(),
            to_list: "lisi".into(),
            room_id: String::new(),
            msg_time: 1_763_600_000_000 + t,
            direction: "sent".into(),
            audit_user_id: "wangwu".into(),
            send_status: 0,
            rules_version: 1,
        }
    }

    fn names(userid: &str) -> Option<String> {
        match userid {
            "zhangsan" => Some("张三".into()),
            "lisi" => Some("李四".into()),
            _ => None,
        }
    }

    #[test]
    fn a_single_alert_says_who_what_to_whom_when_and_marks_the_words() {
        let post = single(&names, &hit(1, "zhangsan", "m1", 0));
        for part in [
            "飞单",
            "私下转账",
            "张三(zhangsan)",
            "私聊 → 李四(lisi)",
            "2025-11-20",
            "【私下转账】",
            "m1",
        ] {
            assert!(post.text.contains(part), "{part}: {}", post.text);
            assert!(post.markdown.contains(part), "{part}: {}", post.markdown);
        }
        assert!(post.markdown.contains("<@wangwu>"));
        assert_eq!(post.mention, ["wangwu"]);
    }

    #[test]
    fn a_digest_counts_per_strategy_and_sender_and_points_to_the_rest() {
        let mut hits: Vec<HitRow> = (0..40)
            .map(|i| {
                hit(
                    1 + i % 2,
                    if i % 3 == 0 { "zhangsan" } else { "lisi" },
                    &format!("m{i}"),
                    i,
                )
            })
            .collect();
        hits[5].audit_user_id = "zhaoliu".into();
        let post = digest(&names, &hits);
        assert!(
            post.text.starts_with("【敏感词告警汇总】40 条命中"),
            "{}",
            post.text
        );
        let counted: usize = post
            .text
            .lines()
            .filter(|l| l.starts_with("· "))
            .filter_map(|l| l.split(" · ").nth(2))
            .filter_map(|c| c.trim_end_matches(" 条").parse::<usize>().ok())
            .sum();
        assert_eq!(counted, 40, "{}", post.text);
        assert!(post.text.contains("msgaudit hits --since"));
        assert_eq!(post.mention, ["wangwu", "zhaoliu"]);
    }

    #[test]
    fn posts_fit_wecom_limits_without_splitting_a_character() {
        let mut long = hit(1, "zhangsan", "m1", 0);
        long.content = "很长的内容".repeat(400);
        let post = single(&names, &long);
        assert!(post.text.len() <= TEXT_LIMIT && post.text.ends_with('…'));
        assert!(post.markdown.len() <= MARKDOWN_LIMIT);
        let many: Vec<HitRow> = (0..500)
            .map(|i| hit(i, "zhangsan", &format!("m{i}"), i))
            .collect();
        let post = digest(&names, &many);
        assert!(post.text.len() <= TEXT_LIMIT, "{}", post.text.len());
        assert!(post.markdown.len() <= MARKDOWN_LIMIT);
        assert!(post.text.ends_with(&format!(
            "msgaudit hits --since \"{}\"",
            format_ms(1_763_600_000_000)
        )));
        assert_eq!(truncate("汉字", 4), "…");
        assert_eq!(truncate("ab", 4), "ab");
    }
}
