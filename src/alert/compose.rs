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
        format!("群聊 {}", person(names, &h.room_id))
    }
}

/// The post for one hit; `reference` (the alert number) ends it.
pub fn single(names: &impl Names, h: &HitRow, reference: &str) -> Post {
    let direction = if h.direction == "received" {
        "收到"
    } else {
        "发出"
    };
    let fields = [
        format!("策略：{}", h.strategy_name),
        format!("敏感词：{}", truncate(&h.words.join("、"), DIGEST_WORDS)),
        format!("{}：{}", direction, person(names, &h.from_id)),
        format!("会话：{}", chat(names, h)),
        format!("时间：{}", format_ms(h.msg_time)),
        format!("内容：{}", h.content),
        format!("msgid：{}", h.msg_id),
        format!("告警编号：{reference}"),
    ];
    // The snippet is the one field that can be long: it gives way so the rest always fits.
    let fit = |limit: usize, overhead: usize| {
        let fixed: usize = fields.iter().map(|f| f.len() + 3).sum::<usize>() + overhead;
        let mut fields = fields.clone();
        fields[5] = truncate(&fields[5], limit.saturating_sub(fixed - fields[5].len()));
        fields
    };
    let text = truncate(
        &format!("【敏感词告警】\n{}", fit(TEXT_LIMIT, 32).join("\n")),
        TEXT_LIMIT,
    );
    let markdown = truncate(
        &format!(
            "**<font color=\"warning\">敏感词告警</font>** {}\n{}",
            mention_markdown(&h.audit_user_id),
            fit(MARKDOWN_LIMIT, 96 + h.audit_user_id.len())
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

/// Longest words list and snippet a digest line shows, in bytes.
const DIGEST_WORDS: usize = 160;
const DIGEST_SNIPPET: usize = 240;

/// Which form of a post will be sent (the other is cut to fit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
}

/// One digest post for many hits: per (strategy, sender) the count, the words and the first
/// snippets, oldest first, the command that lists them all, and `reference` (the alert number).
/// Snippets give way when space runs out; `None` when even the counts do not fit a post in
/// `format` (take fewer senders: [`digest_fitting`]).
pub fn digest(
    names: &impl Names,
    hits: &[&HitRow],
    reference: &str,
    format: Format,
) -> Option<Post> {
    let mut groups: BTreeMap<(i64, &str), Vec<&HitRow>> = BTreeMap::new();
    for &h in hits {
        groups
            .entry((h.strategy_id, h.from_id.as_str()))
            .or_default()
            .push(h);
    }
    let (first, last) = (
        hits.iter().map(|h| h.msg_time).min()?,
        hits.iter().map(|h| h.msg_time).max()?,
    );
    let header = format!(
        "【敏感词告警汇总】{} 条命中，{} – {}",
        hits.len(),
        format_ms(first),
        format_ms(last)
    );
    let blocks: Vec<(String, Vec<String>)> = groups
        .iter()
        .map(|((strategy_id, from), group)| {
            let mut words: Vec<&str> = Vec::new();
            for w in group.iter().flat_map(|h| h.words.iter()) {
                if !words.contains(&w.as_str()) {
                    words.push(w);
                }
            }
            let count = format!(
                "· {} #{strategy_id} · {} · {} 条 · {}",
                group[0].strategy_name,
                person(names, from),
                group.len(),
                truncate(&words.join("、"), DIGEST_WORDS)
            );
            let snippets = group
                .iter()
                .take(DIGEST_SNIPPETS)
                .map(|h| {
                    format!(
                        "  {}",
                        truncate(&h.content.replace('\n', " "), DIGEST_SNIPPET)
                    )
                })
                .collect();
            (count, snippets)
        })
        .collect();
    let footer = format!(
        "全部命中：msgaudit hits --since \"{}\"\n告警编号：{reference}",
        format_ms(first)
    );
    // The form not sent only has to be sound: rendered without a limit, then cut.
    let rendered = |limit: usize, sent: bool, header: &str, line: &dyn Fn(&str) -> String| {
        if sent {
            render(limit, header, &blocks, &footer, line)
        } else {
            render(usize::MAX, header, &blocks, &footer, line).map(|s| truncate(&s, limit))
        }
    };
    let text = rendered(TEXT_LIMIT, format == Format::Text, &header, &|l| {
        l.to_owned()
    })?;
    let mention = mentions(hits.iter().copied());
    let at = mention
        .iter()
        .map(|u| mention_markdown(u))
        .collect::<Vec<_>>()
        .join(" ");
    let markdown = rendered(
        MARKDOWN_LIMIT,
        format == Format::Markdown,
        &format!("{at}\n**{header}**"),
        &|l| format!("> {l}"),
    )?;
    Some(Post {
        text,
        markdown,
        mention,
    })
}

/// Header, each block's first line, and footer always; each block's other lines while they fit.
fn render(
    limit: usize,
    header: &str,
    blocks: &[(String, Vec<String>)],
    footer: &str,
    line: &dyn Fn(&str) -> String,
) -> Option<String> {
    let counts: Vec<String> = blocks.iter().map(|(c, _)| line(c)).collect();
    let mandatory =
        header.len() + footer.len() + counts.iter().map(|c| c.len() + 1).sum::<usize>() + 1;
    let mut spare = limit.checked_sub(mandatory)?;
    let mut out = String::with_capacity(limit.min(mandatory * 2));
    out.push_str(header);
    for (count, (_, extra)) in counts.iter().zip(blocks) {
        out.push('\n');
        out.push_str(count);
        for e in extra {
            let e = line(e);
            if e.len() < spare {
                spare -= e.len() + 1;
                out.push('\n');
                out.push_str(&e);
            }
        }
    }
    out.push('\n');
    out.push_str(footer);
    Some(out)
}

/// The digest of as many of `hits` as one post can account for: whole (strategy, sender) groups,
/// in the order of their first hit, so a burst from few senders goes out in one post. Returns the
/// post and the indices of the hits it accounts for (at least one).
pub fn digest_fitting(
    names: &impl Names,
    hits: &[HitRow],
    reference: &str,
    format: Format,
) -> (Post, Vec<usize>) {
    let mut order: Vec<(i64, &str)> = Vec::new();
    let mut members: std::collections::HashMap<(i64, &str), Vec<usize>> = Default::default();
    for (i, h) in hits.iter().enumerate() {
        let key = (h.strategy_id, h.from_id.as_str());
        members
            .entry(key)
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push(i);
    }
    let pick = |groups: usize| -> Vec<usize> {
        let mut idx: Vec<usize> = order[..groups]
            .iter()
            .flat_map(|k| members[k].iter().copied())
            .collect();
        idx.sort_unstable();
        idx
    };
    let attempt = |idx: &[usize]| {
        let chosen: Vec<&HitRow> = idx.iter().map(|&i| &hits[i]).collect();
        digest(names, &chosen, reference, format)
    };
    // Fewer groups never need more lines: binary search for the most that fit.
    let (mut fits, mut fails) = (0usize, order.len() + 1);
    let mut best = None;
    while fails - fits > 1 {
        let mid = (fits + fails) / 2;
        let idx = pick(mid);
        match attempt(&idx) {
            Some(post) => {
                fits = mid;
                best = Some((post, idx));
            }
            None => fails = mid,
        }
    }
    best.unwrap_or_else(|| (single(names, &hits[0], reference), vec![0]))
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
        let post = single(&names, &hit(1, "zhangsan", "m1", 0), "#42");
        for part in [
            "飞单",
            "私下转账",
            "张三(zhangsan)",
            "私聊 → 李四(lisi)",
            "2025-11-20",
            "【私下转账】",
            "m1",
            "#42",
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
        let all: Vec<&HitRow> = hits.iter().collect();
        let post = digest(&names, &all, "#7", Format::Text).expect("fits");
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
        let post = single(&names, &long, "#1");
        assert!(post.text.len() <= TEXT_LIMIT && post.text.contains('…'));
        assert!(post.markdown.len() <= MARKDOWN_LIMIT);
        assert!(
            post.text.contains("告警编号：#1"),
            "the number survives a long snippet"
        );
        let many: Vec<HitRow> = (0..500)
            .map(|i| hit(i, "zhangsan", &format!("m{i}"), i))
            .collect();
        let all: Vec<&HitRow> = many.iter().collect();
        assert!(
            digest(&names, &all, "#2", Format::Text).is_none(),
            "500 groups do not fit"
        );
        let (post, used) = digest_fitting(&names, &many, "#2", Format::Text);
        let used = used.len();
        assert!(used > 5 && used < 500, "{used}");
        assert!(post.text.len() <= TEXT_LIMIT, "{}", post.text.len());
        assert!(post.markdown.len() <= MARKDOWN_LIMIT);
        assert!(
            post.text
                .starts_with(&format!("【敏感词告警汇总】{used} 条命中"))
        );
        assert!(post.text.contains(&format!(
            "msgaudit hits --since \"{}\"",
            format_ms(1_763_600_000_000)
        )));
        assert!(post.text.ends_with("告警编号：#2"));
        // Markdown holds more senders than text; the text form is then cut, not refused.
        let (post, more) = digest_fitting(&names, &many, "#3", Format::Markdown);
        assert!(more.len() > used, "{} vs {used}", more.len());
        assert!(post.markdown.len() <= MARKDOWN_LIMIT && post.text.len() <= TEXT_LIMIT);
        // Whole groups: a sender with many hits goes in with all of them.
        let mut burst: Vec<HitRow> = (0..300)
            .map(|i| hit(1, "zhangsan", &format!("z{i}"), i))
            .collect();
        burst.extend((0..500).map(|i| hit(i + 2, "lisi", &format!("l{i}"), i)));
        let (_, idx) = digest_fitting(&names, &burst, "#4", Format::Text);
        assert!(idx.len() > 300 && idx[..300] == (0..300).collect::<Vec<_>>()[..]);
        assert_eq!(truncate("汉字", 4), "…");
        assert_eq!(truncate("ab", 4), "ab");
    }
}
