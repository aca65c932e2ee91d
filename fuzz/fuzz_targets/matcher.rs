//! Normaliser + matcher over any text: every hit's span lies on character boundaries of the text
//! and its normalised form, runs collapsed (round 2's repeats), holds its word or one of the word's
//! pinyin spellings. (Holds, not equals: a span covers whole characters, and one character can
//! fold to several, e.g. `㏴` to `21日`, of which a word may use only the first.) Round 2's
//! numerals and look-alike letters are in the folding itself. A second strategy over the same words
//! has sound-alikes on: its spans may instead hold the word read as sounds.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use msgaudit::audit::Strategy;
use msgaudit::audit::matcher::{Matcher, collapsed, spellings};
use msgaudit::audit::normalize::normalize;

const WORDS: [&str; 11] = [
    "私下转账",
    "微信",
    "vx",
    "发票",
    "ab12",
    "敏感词",
    "返现",
    "QQ",
    "谢谢",
    "幺三八",
    // More spellings than the matcher lists whole: found piece by piece.
    "微信转账发票",
];

fn matcher() -> &'static Matcher {
    static M: OnceLock<Matcher> = OnceLock::new();
    M.get_or_init(|| {
        let s = Strategy {
            words: WORDS.iter().map(|w| w.to_string()).collect(),
            allow_words: vec!["微信支付".into()],
            alert: false,
            ..Strategy::new(1, "fuzz")
        };
        let heard = Strategy {
            sound_alike: true,
            ..s.clone()
        };
        Matcher::build(&[&s, &heard]).expect("the fuzz words build")
    })
}

/// Normalised text read as sounds, runs of one sound collapsed.
fn heard(normalised: &str) -> String {
    let mut out = String::new();
    let mut last = String::new();
    for c in normalised.chars() {
        let k = msgaudit::audit::sound::sound(c).map_or_else(|| c.to_string(), |s| format!("[{s}]"));
        if k != last {
            out.push_str(&k);
            last = k;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for m in matcher().find(text) {
        let (a, b) = m.span;
        assert!(a < b && text.is_char_boundary(a) && text.is_char_boundary(b));
        let span = collapsed(&normalize(&text[a..b]).text);
        let words = spellings(WORDS[m.word], true);
        let sounds_so = m.strategy == 1
            && heard(&normalize(&text[a..b]).text).contains(&heard(&words[0]));
        assert!(
            sounds_so || words.iter().any(|w| span.contains(w.as_str())),
            "{span:?} holds none of {words:?}"
        );
    }
});
