//! Audit rules as data: strategies (words, allow words, scope, auditor, switches), the organisation
//! used to resolve scopes, and the behaviour switches. This is the JSON that `msgaudit rules
//! import/export` reads and writes (extra fields are allowed), and what the store keeps in
//! `we_sensitive`, `we_sensitive_audit_scope`, `sys_dept`, `sys_user`, `sys_user_dept` and
//! `we_sensitive_act`.

use serde::{Deserialize, Serialize};

/// Why a rules file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("rules JSON is not valid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("strategy {id} (`{name}`): {problem}")]
    Strategy {
        id: i64,
        name: String,
        problem: String,
    },
    #[error("strategy id {0} appears twice")]
    DuplicateId(i64),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub id: i64,
    #[serde(default)]
    pub parent_id: i64,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub userid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub departments: Vec<i64>,
}

/// A scope row: type 1 = department ids, 2 = member userids; `id` may hold several, comma-separated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeRow {
    #[serde(rename = "type")]
    pub kind: u8,
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strategy {
    pub id: i64,
    pub name: String,
    /// Words as configured; see [`split_words`] for what a word list accepts.
    #[serde(default)]
    pub words: Vec<String>,
    #[serde(default)]
    pub allow_words: Vec<String>,
    #[serde(default)]
    pub scope: Vec<ScopeRow>,
    #[serde(default)]
    pub audit_user_id: String,
    #[serde(default)]
    pub audit_user_name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `alert_flag`: tell the auditor.
    #[serde(default = "yes")]
    pub alert: bool,
    /// Match on normalised text (anti-evasion).
    #[serde(default = "yes")]
    pub normalize: bool,
    /// Also audit messages received by in-scope members from external contacts.
    #[serde(default)]
    pub audit_received: bool,
    /// Round 2: a word in Chinese characters also matches its pinyin in Latin letters (`微信` as
    /// `weixin`, `微xin`). Needs `normalize`.
    #[serde(default = "yes")]
    pub pinyin: bool,
    /// Round 2: a Chinese character also matches one that sounds the same (`薇信`, `威信` for
    /// `微信`). Off by default: common words collide. Needs `normalize`.
    #[serde(default)]
    pub sound_alike: bool,
}

impl Strategy {
    /// A strategy with the defaults a rules file gives one that names only its id and name:
    /// enabled, alerting, matching normalised text, no words yet, every member in scope.
    pub fn new(id: i64, name: impl Into<String>) -> Strategy {
        Strategy {
            id,
            name: name.into(),
            words: Vec::new(),
            allow_words: Vec::new(),
            scope: Vec::new(),
            audit_user_id: String::new(),
            audit_user_name: String::new(),
            enabled: true,
            alert: true,
            normalize: true,
            audit_received: false,
            pinyin: true,
            sound_alike: false,
        }
    }
}

/// A behaviour detector's switch (`we_sensitive_act`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActSwitch {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    pub enabled: bool,
}

/// Everything the audit needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSet {
    #[serde(default)]
    pub departments: Vec<Department>,
    #[serde(default)]
    pub members: Vec<Member>,
    #[serde(default)]
    pub strategies: Vec<Strategy>,
    /// Behaviour switches; behaviours not listed are enabled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acts: Vec<ActSwitch>,
    /// Domains (and their subdomains) whose URLs no behaviour reports: a QR code or link to the
    /// corp's own site is not a hit (`"url_allow": ["corp.example.com"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub url_allow: Vec<String>,
}

/// Splits a word list on `,` `，` `、` `;` `；` and newlines, trims blanks, drops empties and
/// duplicates, keeping the first occurrence's order.
pub fn split_words<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // Seen words, so a list of tens of thousands is not compared pairwise.
    let mut seen: std::collections::HashSet<&'a str> = std::collections::HashSet::new();
    for item in items {
        for w in item.split([',', '，', '、', ';', '；', '\n', '\r']) {
            let w = w.trim();
            if !w.is_empty() && seen.insert(w) {
                out.push(w.to_owned());
            }
        }
    }
    out
}

impl RuleSet {
    /// Parses and validates rules JSON.
    pub fn from_json(text: &str) -> Result<RuleSet, RulesError> {
        let mut rules: RuleSet = serde_json::from_str(text)?;
        rules.validate()?;
        Ok(rules)
    }

    /// Cleans word lists and checks each strategy can match something.
    pub fn validate(&mut self) -> Result<(), RulesError> {
        let mut seen = std::collections::HashSet::new();
        for s in &mut self.strategies {
            if !seen.insert(s.id) {
                return Err(RulesError::DuplicateId(s.id));
            }
            s.words = split_words(s.words.iter().map(String::as_str));
            s.allow_words = split_words(s.allow_words.iter().map(String::as_str));
            let fail = |problem: String| RulesError::Strategy {
                id: s.id,
                name: s.name.clone(),
                problem,
            };
            if s.name.trim().is_empty() {
                return Err(fail("has no name".into()));
            }
            for w in &s.words {
                let normalized = super::normalize::normalize_word(w);
                if (s.normalize && normalized.is_empty()) || (!s.normalize && w.trim().is_empty()) {
                    return Err(fail(format!(
                        "word {w:?} is only punctuation or symbols, which normalisation ignores; remove it"
                    )));
                }
            }
            for r in &s.scope {
                if r.kind != 1 && r.kind != 2 {
                    return Err(fail(format!(
                        "scope type {} is unknown (1 = department, 2 = member)",
                        r.kind
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"departments": [{"id": 1, "parent_id": 0, "name": "总部"}],
     "members": [{"userid": "zhangsan", "name": "张三", "departments": [1, 4]}],
     "strategies": [{"id": 7, "name": "飞单", "words": ["私下转账", "加我微信"], "allow_words": ["微信支付"],
                     "scope": [{"type": 1, "id": "1"}, {"type": 2, "id": "lisi,wangwu"}],
                     "audit_user_id": "wangwu", "audit_user_name": "王五",
                     "enabled": true, "alert": true, "normalize": true, "audit_received": false,
                     "extra": "allowed"}]}"#;

    #[test]
    fn the_documented_shape_round_trips() {
        let r = RuleSet::from_json(EXAMPLE).expect("valid");
        assert_eq!(r.strategies[0].scope[1].id, "lisi,wangwu");
        let again = RuleSet::from_json(&r.to_json()).expect("round trip");
        assert_eq!(r, again);
    }

    #[test]
    fn older_rule_files_get_round_two_defaults() {
        let r = RuleSet::from_json(EXAMPLE).expect("valid");
        assert!(r.strategies.iter().all(|s| s.pinyin && !s.sound_alike));
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["strategies"][0]["pinyin"], true);
        assert_eq!(json["strategies"][0]["sound_alike"], false);
    }

    #[test]
    fn word_lists_accept_every_separator() {
        assert_eq!(
            split_words(["a,b，c、d;e；f\ng", " a ", "", "h"]),
            ["a", "b", "c", "d", "e", "f", "g", "h"]
        );
    }

    #[test]
    fn bad_rules_are_refused_with_the_strategy_named() {
        let e = RuleSet::from_json(&EXAMPLE.replace("\"私下转账\"", "\"!!!\""))
            .expect_err("noise word");
        assert!(e.to_string().contains("飞单"), "{e}");
        let e = RuleSet::from_json(&EXAMPLE.replace("\"type\": 2", "\"type\": 5"))
            .expect_err("scope type");
        assert!(e.to_string().contains("scope type 5"), "{e}");
    }
}
