//! The word matcher: one Aho-Corasick automaton over the normalised words and allow words of every
//! enabled strategy (plus one over raw words for strategies that switch normalisation off), searched
//! once per message with overlapping matches so every distinct word is found whatever the number of
//! strategies. Matches are mapped back to original byte spans, and a word match lying wholly inside
//! an allow-word match of the same strategy is dropped.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use super::normalize::{Normalized, normalize, normalize_into};
use super::rules::Strategy;

/// The automaton could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the word automaton: {0}")]
pub struct BuildError(String);

/// What a pattern of the automaton stands for.
#[derive(Debug, Clone, Copy)]
struct Target {
    /// Index into the strategies given to [`Matcher::build`].
    strategy: usize,
    /// Index into that strategy's `words` (or `allow_words` when `allow`).
    word: usize,
    allow: bool,
}

/// One word found in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordMatch {
    pub strategy: usize,
    pub word: usize,
    /// Byte span in the original text.
    pub span: (usize, usize),
}

/// Pattern bytes up to which the automaton is a DFA (about 30 MiB of tables at the limit).
const DFA_PATTERN_BYTES: usize = 100_000;

#[derive(Default)]
struct Automaton {
    ac: Option<AhoCorasick>,
    targets: Vec<Vec<Target>>,
}

impl Automaton {
    fn build(patterns: HashMap<String, Vec<Target>>) -> Result<Automaton, BuildError> {
        if patterns.is_empty() {
            return Ok(Automaton::default());
        }
        let (keys, targets): (Vec<String>, Vec<Vec<Target>>) = patterns.into_iter().unzip();
        // A DFA is about twice as fast as the NFA here but costs ~300 bytes per pattern byte
        // (10,000 Chinese words: 28 MiB); beyond the limit the compact NFA keeps memory small.
        let pattern_bytes: usize = keys.iter().map(String::len).sum();
        let kind = if pattern_bytes <= DFA_PATTERN_BYTES {
            AhoCorasickKind::DFA
        } else {
            AhoCorasickKind::ContiguousNFA
        };
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(kind))
            .build(&keys)
            .map_err(|e| BuildError(e.to_string()))?;
        Ok(Automaton {
            ac: Some(ac),
            targets,
        })
    }
}

/// The compiled word matcher of one rules version.
#[derive(Default)]
pub struct Matcher {
    normalized: Automaton,
    raw: Automaton,
}

impl Matcher {
    /// Builds the automatons over `strategies` (all of them: the caller passes the enabled ones).
    pub fn build(strategies: &[&Strategy]) -> Result<Matcher, BuildError> {
        let mut norm: HashMap<String, Vec<Target>> = HashMap::new();
        let mut raw: HashMap<String, Vec<Target>> = HashMap::new();
        for (si, s) in strategies.iter().enumerate() {
            let lists = [(&s.words, false), (&s.allow_words, true)];
            for (list, allow) in lists {
                for (wi, w) in list.iter().enumerate() {
                    let target = Target {
                        strategy: si,
                        word: wi,
                        allow,
                    };
                    let (map, key) = if s.normalize {
                        (&mut norm, normalize(w).text)
                    } else {
                        (&mut raw, w.clone())
                    };
                    if !key.is_empty() {
                        map.entry(key).or_default().push(target);
                    }
                }
            }
        }
        Ok(Matcher {
            normalized: Automaton::build(norm)?,
            raw: Automaton::build(raw)?,
        })
    }

    /// Heap bytes used by the automatons.
    pub fn memory_usage(&self) -> usize {
        [&self.normalized, &self.raw]
            .iter()
            .filter_map(|a| a.ac.as_ref())
            .map(AhoCorasick::memory_usage)
            .sum()
    }

    /// Whether any word could match at all.
    pub fn is_empty(&self) -> bool {
        self.normalized.ac.is_none() && self.raw.ac.is_none()
    }

    /// Every word match in `text`, allow words applied, in order of position.
    pub fn find(&self, text: &str) -> Vec<WordMatch> {
        let mut words = Vec::new();
        let mut allows = Vec::new();
        let mut collect = |targets: &[Target], span: (usize, usize)| {
            for t in targets {
                let m = WordMatch {
                    strategy: t.strategy,
                    word: t.word,
                    span,
                };
                if t.allow {
                    allows.push(m)
                } else {
                    words.push(m)
                }
            }
        };
        if let Some(ac) = &self.normalized.ac {
            thread_local! {
                // Messages are short: reusing the buffers saves two allocations per message.
                static BUFFER: std::cell::RefCell<Normalized> = std::cell::RefCell::new(Normalized::default());
            }
            BUFFER.with(|buffer| {
                let mut n = buffer.borrow_mut();
                normalize_into(text, &mut n);
                for m in ac.find_overlapping_iter(&n.text) {
                    let span = n.original_span(text, m.start(), m.end());
                    collect(&self.normalized.targets[m.pattern().as_usize()], span);
                }
            });
        }
        if let Some(ac) = &self.raw.ac {
            for m in ac.find_overlapping_iter(text) {
                collect(
                    &self.raw.targets[m.pattern().as_usize()],
                    (m.start(), m.end()),
                );
            }
        }
        words.retain(|w| {
            !allows
                .iter()
                .any(|a| a.strategy == w.strategy && a.span.0 <= w.span.0 && w.span.1 <= a.span.1)
        });
        words.sort_by_key(|w| (w.span, w.strategy, w.word));
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(words: &[&str], allow: &[&str], normalize: bool) -> Strategy {
        let mut s: Strategy =
            serde_json::from_value(serde_json::json!({"id": 1, "name": "s"})).expect("strategy");
        s.words = words.iter().map(|w| w.to_string()).collect();
        s.allow_words = allow.iter().map(|w| w.to_string()).collect();
        s.normalize = normalize;
        s
    }

    fn words_found(s: &Strategy, text: &str) -> Vec<String> {
        let m = Matcher::build(&[s]).expect("build");
        m.find(text)
            .into_iter()
            .map(|w| text[w.span.0..w.span.1].to_owned())
            .collect()
    }

    #[test]
    fn table_of_evasions_and_innocent_neighbours() {
        let s = strategy(
            &["私下转账", "加我微信", "微信", "发票", "vx", "敏感词"],
            &["微信支付"],
            true,
        );
        let cases: &[(&str, &[&str])] = &[
            ("可以私下转账吗", &["私下转账"]),
            ("可以私下 轉賬吗", &["私下 轉賬"]),
            ("加 我 微 信", &["加 我 微 信", "微 信"]),
            ("加我🙂微.信", &["加我🙂微.信", "微.信"]),
            ("用微信支付就行", &[]),
            ("微信支付或者微信都行", &["微信"]),
            ("麻烦开發票", &["發票"]),
            ("加V\u{200B}X", &["V\u{200B}X"]),
            ("ＶＸ联系", &["ＶＸ"]),
            ("敏 感*词", &["敏 感*词"]),
            ("今天天气很好", &[]),
            ("私下", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(words_found(&s, text), *want, "{text}");
        }
    }

    #[test]
    fn normalisation_off_matches_only_the_raw_text() {
        let s = strategy(&["微信"], &[], false);
        assert_eq!(words_found(&s, "加微信"), ["微信"]);
        assert!(words_found(&s, "加微 信").is_empty());
    }

    #[test]
    fn many_strategies_share_one_pass() {
        let a = strategy(&["转账"], &[], true);
        let mut b = strategy(&["转账", "银行卡"], &[], true);
        b.id = 2;
        let m = Matcher::build(&[&a, &b]).expect("build");
        let found = m.find("转账到银行卡");
        assert_eq!(found.iter().filter(|w| w.strategy == 0).count(), 1);
        assert_eq!(found.iter().filter(|w| w.strategy == 1).count(), 2);
    }
}
