//! Round 2's pinyin: a word written in Chinese characters also matches when some or all of its
//! characters are written as their pinyin in Latin letters (`微信` as `weixin`, `微xin`, `wei信`).
//!
//! The matcher takes each such spelling as one more pattern of the word ([`variants`]). Readings
//! come from the `pinyin` crate (every reading of a character with several: `银行` also as
//! `yinhang`), without tones, `ü` also as `v` and `u`. A spelling records on which side its Latin
//! letters reach the word's edge: there the match must not continue a longer run of letters in the
//! text (`weixin` inside `weixinpay` is not `微信`), which the matcher checks ([`continues_letters`]).
//! Words of one character get no pinyin spelling.
//!
//! A word's spellings multiply with its length (each character as itself or as each of its
//! readings): a long word of many-reading characters has thousands. Such a word is not listed
//! whole but cut into [`pieces`] of a few characters, each with its own spellings, which the
//! matcher finds one after the other; every mix still matches, and the patterns grow with the
//! word's length instead of multiplying.

use pinyin::ToPinyinMulti;

/// Spellings (its own included) up to which a word is listed whole; above, it is cut into pieces.
pub const WHOLE_SPELLINGS: usize = 64;

/// Spellings (its own included) up to which a piece grows by another character.
pub const PIECE_SPELLINGS: usize = 16;

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
/// word itself not included); none for a word of one character. Their number multiplies with the
/// word's length: the matcher lists a long word by [`pieces`] instead.
pub fn variants(word: &str) -> Vec<Variant> {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 2 {
        return Vec::new();
    }
    spell(&chars, &options(&chars), false)
}

/// A word whose spellings (its own included) number more than `whole`, cut into pieces of
/// consecutive characters, each of two or three characters or more while its spellings number
/// at most `piece`: every piece's spellings, its own first. None when the word is listed whole (it has few enough spellings, or
/// is one character). A piece's `letters_first` and `letters_last` are said of the piece's edges.
pub fn pieces(word: &str, whole: usize, piece: usize) -> Option<Vec<Vec<Variant>>> {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 2 {
        return None;
    }
    let options = options(&chars);
    if count(&options) <= whole {
        return None;
    }
    // Cut points: each piece two characters at least (a piece of one would be looked for at
    // every occurrence of that character), growing while its spellings stay within `piece`; a
    // last character left alone joins the piece before.
    let mut cuts = vec![0];
    let mut start = 0;
    while start < chars.len() {
        let mut end = (start + 2).min(chars.len());
        while end < chars.len() && count(&options[start..=end]) <= piece {
            end += 1;
        }
        if chars.len() - end == 1 {
            end += 1;
        }
        cuts.push(end);
        start = end;
    }
    Some(
        cuts.windows(2)
            .map(|w| spell(&chars[w[0]..w[1]], &options[w[0]..w[1]], true))
            .collect(),
    )
}

/// Per character: the character itself (None), then its readings.
fn options(chars: &[char]) -> Vec<Vec<Option<String>>> {
    chars
        .iter()
        .map(|&c| {
            std::iter::once(None)
                .chain(readings(c).into_iter().map(Some))
                .collect()
        })
        .collect()
}

/// How many spellings `options` make (saturating).
fn count(options: &[Vec<Option<String>>]) -> usize {
    options
        .iter()
        .fold(1usize, |n, o| n.saturating_mul(o.len()))
}

/// Every spelling of `chars` by `options` (odometer order, the first character changing fastest),
/// the characters' own spelling first when `own`, else left out.
fn spell(chars: &[char], options: &[Vec<Option<String>>], own: bool) -> Vec<Variant> {
    let mut out = Vec::new();
    let mut pick = vec![0usize; chars.len()];
    loop {
        if own || pick.iter().any(|&p| p != 0) {
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
        // Next combination (odometer).
        let mut i = 0;
        while i < pick.len() {
            pick[i] += 1;
            if pick[i] < options[i].len() {
                break;
            }
            pick[i] = 0;
            i += 1;
        }
        if i == pick.len() {
            return out;
        }
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
        assert_eq!(variants("中华").len(), 3);
    }

    #[test]
    fn a_long_word_is_cut_into_pieces_of_few_spellings_that_together_spell_it() {
        let word = "中华人民共和国万岁";
        let cut = pieces(word, WHOLE_SPELLINGS, PIECE_SPELLINGS).expect("too many to list");
        assert!(cut.len() > 1);
        let own: String = cut.iter().map(|p| p[0].key.as_str()).collect();
        assert_eq!(own, word, "each piece's own spelling first, in order");
        for p in &cut {
            let n = p[0].key.chars().count();
            assert!(
                p.len() <= PIECE_SPELLINGS || n <= 3,
                "{n} characters, {}",
                p.len()
            );
            assert!(n >= 2, "no piece of one character");
            assert!(!p[0].letters_first && !p[0].letters_last);
        }
        // The all-pinyin spelling is there, piece by piece (it was past the old cap of 256).
        let all: String = cut
            .iter()
            .map(|p| {
                p.iter()
                    .find(|v| v.key.chars().all(|c| c.is_ascii_lowercase()))
                    .map(|v| v.key.clone())
                    .expect("an all-pinyin spelling of each piece")
            })
            .collect();
        assert!(all.starts_with("zhonghua"), "{all}");
        assert!(pieces("微信", WHOLE_SPELLINGS, PIECE_SPELLINGS).is_none());
        assert!(pieces("谢", 0, 0).is_none(), "one character: never cut");
        // Caps of one cut every word into pieces of two characters (three at the end).
        let keys = |w: &str| -> Vec<String> {
            pieces(w, 1, 1)
                .expect("cut")
                .into_iter()
                .map(|p| p[0].key.clone())
                .collect()
        };
        assert_eq!(keys("微信"), ["微信"]);
        assert_eq!(keys("私下转账"), ["私下", "转账"]);
        assert_eq!(keys("加我微信了"), ["加我", "微信了"]);
        let two = pieces("微信", 1, 1).expect("cut");
        assert_eq!(two[0][1].key, "wei信");
        assert!(two[0][1].letters_first && !two[0][1].letters_last);
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
