//! [`Auditor`]: one compiled rules version — the matcher, each strategy's resolved scope, the
//! behaviour switches, member names — and the function that audits a stored-form message.
//! Building one is the expensive part (automaton, scopes); auditing a message is one normalising pass,
//! one automaton search, and set look-ups.

use std::collections::{HashMap, HashSet};

use super::behaviour::{self, Act};
use super::marked::segments;
use super::matcher::{BuildError, Matcher};
use super::rules::{RuleSet, Strategy};
use super::scope::{Org, Scope, is_internal_id};
use crate::message::{MessageRow, is_external_id};

/// Whether the audited member sent the message or received it from a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Sent,
    Received,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Sent => "sent",
            Direction::Received => "received",
        }
    }
}

/// A strategy's hit on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub strategy_id: i64,
    pub strategy_name: String,
    /// The strategy's words that matched, as configured, each once, in order of first occurrence.
    pub words: Vec<String>,
    /// Byte spans in the message's visible text, in order.
    pub spans: Vec<(usize, usize)>,
    pub direction: Direction,
    /// The text around the first hit, every hit inside it marked 【】.
    pub snippet: String,
    pub alert: bool,
    pub audit_user_id: String,
}

impl Hit {
    /// What was typed for each span, in `text` (the message's visible text the hit was found in).
    pub fn matched<'a>(&self, text: &'a str) -> Vec<&'a str> {
        self.spans
            .iter()
            .filter_map(|&(a, b)| text.get(a..b))
            .collect()
    }
}

/// A behaviour hit on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActHit {
    pub act: Act,
    pub operator_id: String,
    pub operator: String,
    pub target_id: String,
    pub target: String,
    pub detail: String,
}

struct Compiled {
    strategy: Strategy,
    scope: Scope,
}

/// One compiled rules version.
pub struct Auditor {
    pub version: u64,
    strategies: Vec<Compiled>,
    matcher: Matcher,
    acts: HashSet<Act>,
    names: HashMap<String, String>,
    url_allow: Vec<String>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("version", &self.version)
            .field("strategies", &self.strategies.len())
            .finish()
    }
}

const SNIPPET_CONTEXT: usize = 20;

/// `…before【hit】after…` around the first of `spans`, at most SNIPPET_CONTEXT characters each
/// side of it, with every span inside that window marked 【】 (overlapping and touching spans as
/// one). Only what matched is marked: an occurrence of a word inside an allow word is not, and the
/// text's own 【】 are shown as 〖〗.
pub fn snippet(text: &str, spans: &[(usize, usize)]) -> String {
    let Some(&(first, first_end)) = spans.iter().min() else {
        return String::new();
    };
    // The window: SNIPPET_CONTEXT characters before the first span and after its end.
    let start = text
        .get(..first)
        .and_then(|b| b.char_indices().rev().nth(SNIPPET_CONTEXT - 1))
        .map_or(0, |(i, _)| i);
    let end = text
        .get(first_end..)
        .and_then(|a| a.char_indices().nth(SNIPPET_CONTEXT))
        .map_or(text.len(), |(i, _)| first_end + i);
    let window = text.get(start..end).unwrap_or_default();
    let inside: Vec<(usize, usize)> = spans
        .iter()
        .filter(|&&(a, b)| a < end && b > start)
        .map(|&(a, b)| (a.max(start) - start, b.min(end) - start))
        .collect();
    let mut out = String::from(if start > 0 { "…" } else { "" });
    let mut in_hit = false;
    for (piece, hit) in segments(window, &inside) {
        if hit != in_hit {
            out.push(if hit { '【' } else { '】' });
            in_hit = hit;
        }
        // The text's own 【】 become 〖〗, so that every 【】 in a snippet is a hit.
        out.extend(piece.chars().map(|c| match c {
            '【' => '〖',
            '】' => '〗',
            c if c.is_control() => ' ',
            c => c,
        }));
    }
    if in_hit {
        out.push('】');
    }
    if end < text.len() {
        out.push('…');
    }
    out
}

impl Auditor {
    /// Compiles a rule set (its enabled strategies) as rules version `version`.
    pub fn build(rules: &RuleSet, version: u64) -> Result<Auditor, BuildError> {
        let org = Org::new(rules);
        let strategies: Vec<Compiled> = rules
            .strategies
            .iter()
            .filter(|s| s.enabled)
            .map(|s| Compiled {
                strategy: s.clone(),
                scope: org.resolve(s),
            })
            .collect();
        let refs: Vec<&Strategy> = strategies.iter().map(|c| &c.strategy).collect();
        let matcher = Matcher::build(&refs)?;
        let acts = Act::ALL
            .into_iter()
            .filter(|a| {
                rules
                    .acts
                    .iter()
                    .find(|s| s.id == a.id())
                    .is_none_or(|s| s.enabled)
            })
            .collect();
        let names = rules
            .members
            .iter()
            .filter(|m| !m.name.is_empty())
            .map(|m| (m.userid.clone(), m.name.clone()))
            .collect();
        Ok(Auditor {
            url_allow: rules.url_allow.clone(),
            version,
            strategies,
            matcher,
            acts,
            names,
        })
    }

    /// Heap bytes of the compiled word matcher.
    pub fn memory_usage(&self) -> usize {
        self.matcher.memory_usage()
    }

    fn name_of(&self, id: &str) -> String {
        self.names.get(id).cloned().unwrap_or_else(|| id.to_owned())
    }

    fn direction(&self, c: &Compiled, row: &MessageRow) -> Option<Direction> {
        if c.scope.contains(&row.from_id) && is_internal_id(&row.from_id) {
            return Some(Direction::Sent);
        }
        if c.strategy.audit_received
            && is_external_id(&row.from_id)
            && row.to_list.split(',').any(|to| c.scope.contains(to))
        {
            return Some(Direction::Received);
        }
        None
    }

    /// The strategy hits of one message.
    pub fn word_hits(&self, row: &MessageRow) -> Vec<Hit> {
        if self.matcher.is_empty() || row.plain_text.is_empty() {
            return Vec::new();
        }
        let directions: Vec<Option<Direction>> = self
            .strategies
            .iter()
            .map(|c| self.direction(c, row))
            .collect();
        if directions.iter().all(Option::is_none) {
            return Vec::new();
        }
        let mut by_strategy: HashMap<usize, Hit> = HashMap::new();
        let mut order = Vec::new();
        for m in self.matcher.find(&row.plain_text) {
            let Some(direction) = directions[m.strategy] else {
                continue;
            };
            let s = &self.strategies[m.strategy].strategy;
            let hit = by_strategy.entry(m.strategy).or_insert_with(|| {
                order.push(m.strategy);
                Hit {
                    strategy_id: s.id,
                    strategy_name: s.name.clone(),
                    words: Vec::new(),
                    spans: Vec::new(),
                    direction,
                    snippet: String::new(), // once every span is known, below
                    alert: s.alert,
                    audit_user_id: s.audit_user_id.clone(),
                }
            });
            let word = &s.words[m.word];
            if !hit.words.contains(word) {
                hit.words.push(word.clone());
            }
            if !hit.spans.contains(&m.span) {
                hit.spans.push(m.span);
            }
        }
        order
            .into_iter()
            .filter_map(|i| by_strategy.remove(&i))
            .map(|mut hit| {
                hit.snippet = snippet(&row.plain_text, &hit.spans);
                hit
            })
            .collect()
    }

    /// The behaviour hits of one message (enabled detectors only).
    pub fn act_hits(&self, row: &MessageRow) -> Vec<ActHit> {
        if !behaviour::applies(row) {
            return Vec::new();
        }
        behaviour::detect(row, &self.url_allow)
            .into_iter()
            .filter(|f| self.acts.contains(&f.act))
            .map(|f| self.act_hit(row, f.act, f.detail))
            .collect()
    }

    /// 发送二维码 for an image of `row` holding QR codes that say `codes`: one hit whose detail is
    /// what the codes say, unless behaviour detection does not apply, the behaviour is off, or every
    /// code is a URL on the rules' `url_allow`.
    pub fn qr_hits(&self, row: &MessageRow, codes: &[String]) -> Vec<ActHit> {
        if !behaviour::applies(row) || !self.acts.contains(&Act::QrCode) {
            return Vec::new();
        }
        let reported: Vec<&str> = codes
            .iter()
            .map(String::as_str)
            .filter(|c| !behaviour::url_allowed(c, &self.url_allow))
            .collect();
        if reported.is_empty() {
            return Vec::new();
        }
        vec![self.act_hit(row, Act::QrCode, reported.join("\n"))]
    }

    fn act_hit(&self, row: &MessageRow, act: Act, detail: String) -> ActHit {
        let target_id = if !row.room_id.is_empty() {
            row.room_id.as_str()
        } else {
            row.to_list
                .split(',')
                .find(|t| is_external_id(t))
                .or_else(|| row.to_list.split(',').next())
                .unwrap_or("")
        };
        ActHit {
            act,
            operator_id: row.from_id.clone(),
            operator: self.name_of(&row.from_id),
            target: self.name_of(target_id),
            target_id: target_id.to_owned(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> RuleSet {
        RuleSet::from_json(
            r#"{"departments": [{"id": 1, "parent_id": 0}, {"id": 2, "parent_id": 1}],
                "members": [{"userid": "zhangsan", "name": "张三", "departments": [2]}, {"userid": "lisi", "departments": [1]}],
                "strategies": [
                  {"id": 7, "name": "飞单", "words": ["私下转账", "加我微信", "微信"], "allow_words": ["微信支付"],
                   "scope": [{"type": 1, "id": "2"}], "audit_user_id": "wangwu", "audit_received": true},
                  {"id": 8, "name": "关闭的", "words": ["转账"], "enabled": false},
                  {"id": 9, "name": "全员", "words": ["发票"], "alert": false}]}"#,
        )
        .expect("rules")
    }

    fn row(from: &str, to: &str, text: &str) -> MessageRow {
        MessageRow {
            corp_id: "ww".into(),
            msg_id: "m".into(),
            seq: 1,
            publickey_ver: 1,
            from_id: from.into(),
            to_list: to.into(),
            room_id: String::new(),
            action: "send".into(),
            msg_type: "text".into(),
            msg_time: 0,
            contact: String::new(),
            is_external: if to.starts_with("wm") || from.starts_with("wm") {
                0
            } else {
                1
            },
            plain_text: text.into(),
            attachments: Vec::new(),
        }
    }

    #[test]
    fn a_snippet_marks_every_hit_in_its_window_and_nothing_else() {
        let text = "用微信支付就行，加 我 微 信详细聊";
        let at = |w: &str| {
            let i = text.find(w).expect("in text");
            (i, i + w.len())
        };
        // 微信 inside 微信支付 is allowed, so it is no span; the two overlapping spans are one mark.
        let spans = [at("加 我 微 信"), at("微 信")];
        assert_eq!(
            snippet(text, &spans),
            "用微信支付就行，【加 我 微 信】详细聊"
        );
        // 20 characters each side of the first hit; a later hit beyond them is left out.
        let long = format!(
            "{}私下转账{}微信{}",
            "甲".repeat(25),
            "乙".repeat(10),
            "丙".repeat(30)
        );
        let span = |w: &str| {
            let i = long.find(w).expect("in text");
            (i, i + w.len())
        };
        assert_eq!(
            snippet(&long, &[span("私下转账"), span("微信")]),
            format!(
                "…{}【私下转账】{}【微信】{}…",
                "甲".repeat(20),
                "乙".repeat(10),
                "丙".repeat(8)
            )
        );
        let far = format!("私下转账{}微信", "乙".repeat(30));
        let far_spans = [(0, "私下转账".len()), (far.len() - "微信".len(), far.len())];
        assert_eq!(
            snippet(&far, &far_spans),
            format!("【私下转账】{}…", "乙".repeat(20))
        );
        // A hit cut by the window's end is marked up to it; control characters become spaces.
        let cut = format!("私下转账{}加我\n微信", "乙".repeat(17));
        let whole = (cut.find('加').expect("in text"), cut.len());
        assert_eq!(
            snippet(&cut, &[(0, 12), whole]),
            format!("【私下转账】{}【加我 】…", "乙".repeat(17))
        );
        let notice = "【通知】请开发票";
        let at = notice.find("发票").expect("in text");
        assert_eq!(
            snippet(notice, &[(at, at + "发票".len())]),
            "〖通知〗请开【发票】",
            "only hits are in 【】"
        );
        assert_eq!(snippet("abc", &[]), "");
        assert_eq!(
            snippet("abc", &[(1, 9)]),
            "a【bc】",
            "a span past the end is clamped"
        );
    }

    #[test]
    fn scope_direction_words_and_snippet() {
        let a = Auditor::build(&rules(), 3).expect("build");
        let hits = a.word_hits(&row("zhangsan", "wmC", "你好，可以私下 轉賬吗？加我微信"));
        assert_eq!(hits.len(), 1);
        let h = &hits[0];
        assert_eq!((h.strategy_id, h.direction), (7, Direction::Sent));
        assert_eq!(h.words, ["私下转账", "加我微信", "微信"]);
        assert_eq!(h.spans.len(), 3);
        assert_eq!(h.snippet, "你好，可以【私下 轉賬】吗？【加我微信】");
        assert!(
            a.word_hits(&row("lisi", "wmC", "私下转账")).is_empty(),
            "lisi is outside dept 2"
        );
        let received = a.word_hits(&row("wmC", "zhangsan", "私下转账"));
        assert_eq!(received[0].direction, Direction::Received);
        assert!(
            a.word_hits(&row("zhangsan", "lisi", "用微信支付"))
                .is_empty(),
            "allow word"
        );
        let all = a.word_hits(&row("lisi", "zhaoliu", "发票"));
        assert_eq!(
            (all[0].strategy_id, all[0].alert),
            (9, false),
            "no scope rows: every member"
        );
        assert!(
            a.word_hits(&row("wmC", "lisi", "发票")).is_empty(),
            "strategy 9 does not audit received"
        );
    }

    #[test]
    fn behaviours_name_operator_and_target() {
        let a = Auditor::build(&rules(), 1).expect("build");
        let hits = a.act_hits(&row("zhangsan", "wmC", "电话13912345678"));
        assert_eq!(hits.len(), 1);
        assert_eq!(
            (
                hits[0].operator.as_str(),
                hits[0].target_id.as_str(),
                hits[0].detail.as_str()
            ),
            ("张三", "wmC", "13912345678")
        );
        let mut off = rules();
        off.acts.push(super::super::rules::ActSwitch {
            id: 3,
            name: String::new(),
            enabled: false,
        });
        assert!(
            Auditor::build(&off, 2)
                .expect("build")
                .act_hits(&row("zhangsan", "wmC", "13912345678"))
                .is_empty()
        );
    }
}
