//! Round 2's pinyin: a word written in Chinese characters also matches when some or all of its
//! characters are written as their pinyin in Latin letters (`微信` as `weixin`, `微xin`, `wei信`).
//!
//! The matcher takes each such spelling as one more pattern of the word ([`variants`]). Readings
//! come from the `pinyin` crate (every reading of a character with several: `银行` also as
//! `yinhang`), without tones, `ü` also as `v` and `u`. A spelling records on which side its Latin
//! letters reach the word's edge: there the match must not continue a longer run of letters in the
//! text (`weixin` inside `weixinpay` is not `微信`), which the matcher checks ([`continues_letters`]).
//! Words of one character get no pinyin spelling.

use pinyin::ToPinyinMulti;

/// Spellings of one word at most (a long word of many-reading characters stops here).
const MAX_VARIANTS: usize = 256;

/// One pinyin spelling of a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The spelling, already normalised (lower-case ASCII letters for the replaced characters).
    pub key: String,
    /// Whether Latin letters begin the spelling where the word has a Chinese character.
    pub letters_first: bool,
    /// Whether Latin letters end it where the word has a Chinese character.
    pub letters_last: bool,
}

/// The toneless readings of a character, lower-case ASCII (empty for a character without pinyin).
pub fn readings(c: char) -> Vec<String> {
    let Some(multi) = c.to_pinyin_multi() else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for p in multi {
        let plain = p.plain();
        let spellings = if plain.contains('ü') {
            vec![plain.replace('ü', "v"), plain.replace('ü', "u")]
        } else {
            vec![plain.to_owned()]
        };
        for s in spellings {
            if s.is_ascii() && !s.is_empty() && !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// Every spelling of a normalised word with at least one of its Chinese characters as pinyin (the
/// word itself not included); none for a word of one character.
pub fn variants(word: &str) -> Vec<Variant> {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 2 {
        return Vec::new();
    }
    // Per position: the character itself, then its readings.
    let options: Vec<Vec<Option<String>>> = chars
        .iter()
        .map(|&c| {
            std::iter::once(None)
                .chain(readings(c).into_iter().map(Some))
                .collect()
        })
        .collect();
    if options.iter().all(|o| o.len() == 1) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut pick = vec![0usize; chars.len()];
    loop {
        // Next combination (odometer); the all-zero one (the word itself) is skipped.
        let mut i = 0;
        while i < pick.len() {
            pick[i] += 1;
            if pick[i] < options[i].len() {
                break;
            }
            pick[i] = 0;
            i += 1;
        }
        if i == pick.len() || out.len() >= MAX_VARIANTS {
            return out;
        }
        let mut key = String::new();
        for (k, &p) in pick.iter().enumerate() {
            match &options[k][p] {
                Some(reading) => key.push_str(reading),
                None => key.push(chars[k]),
            }
        }
        out.push(Variant {
            key,
            letters_first: pick[0] != 0,
            letters_last: pick[chars.len() - 1] != 0,
        });
    }
}

/// Whether the character of `text` just before byte `at` (`before`) or at `at` (after) is a Latin
/// letter in any form: a pinyin match there would continue a longer run of letters.
pub fn continues_letters(text: &str, at: usize, before: bool) -> bool {
    let c = if before {
        text[..at].chars().next_back()
    } else {
        text[at..].chars().next()
    };
    c.is_some_and(super::lookalike::is_latin_letter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_toneless_ascii_with_every_heteronym() {
        assert_eq!(readings('微'), ["wei"]);
        assert!(readings('行').contains(&"hang".to_owned()));
        assert!(readings('行').contains(&"xing".to_owned()));
        let lv = readings('绿');
        assert!(
            lv.contains(&"lv".to_owned()) && lv.contains(&"lu".to_owned()),
            "{lv:?}"
        );
        assert!(readings('a').is_empty());
    }

    #[test]
    fn every_mix_of_characters_and_pinyin() {
        let keys: Vec<String> = variants("微信").into_iter().map(|v| v.key).collect();
        assert_eq!(keys[..3], ["wei信", "微xin", "weixin"]);
        // 信's other reading (shen) too: every reading counts.
        assert!(keys.contains(&"weishen".to_owned()));
        let v = variants("微信");
        assert!(v[0].letters_first && !v[0].letters_last);
        assert!(!v[1].letters_first && v[1].letters_last);
        assert!(variants("谢").is_empty(), "one character: no pinyin");
        assert!(variants("vx").is_empty(), "no Chinese: nothing to spell");
        assert!(variants("银行").iter().any(|v| v.key == "yinhang"));
        assert!(variants("一二三四五六七八九十甲乙丙丁").len() <= MAX_VARIANTS);
    }

    #[test]
    fn letters_at_the_edges() {
        let t = "加我weixin吧 weixinpay";
        assert!(!continues_letters(t, "加我".len(), true));
        assert!(!continues_letters(t, "加我weixin".len(), false));
        assert!(continues_letters(t, "加我weixin吧 weixin".len(), false));
        assert!(!continues_letters("weixin", 0, true));
        assert!(continues_letters("ⓧweixin", "ⓧ".len(), true));
    }
}
