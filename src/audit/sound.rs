//! Round 2's sound-alikes: with a strategy's `sound_alike` on, a Chinese character in the text also
//! matches a word's character that sounds the same, tones aside (`薇信`, `威信`, `维信` for `微信`).
//!
//! A character's sound is its most common reading, the first the `pinyin` crate lists, without
//! tones (`行` sounds `xing`). Taking one reading on both sides keeps rare readings from making
//! everyday characters collide (`信` is also read `shen`, yet `微神` is not `微信`).
//!
//! The matcher walks sound-alike words through an alphabet of sound classes ([`alphabet`]): every
//! Chinese character whose sound some word uses gets that sound's code, so `微` and `威` are one
//! code; the words' other characters keep codes of their own, and everything else is `NONE`.

use std::collections::HashMap;
use std::sync::OnceLock;

use pinyin::ToPinyin;

use super::alphabet::{Alphabet, AlphabetTooLarge};

/// The Chinese characters given a sound: the Basic Multilingual Plane's unified ideographs and
/// their extension A (the characters chat text uses).
const RANGES: [std::ops::RangeInclusive<u32>; 2] = [0x3400..=0x4DBF, 0x4E00..=0x9FFF];

/// Every character's sound (computed once).
fn sounds() -> &'static HashMap<char, &'static str> {
    static SOUNDS: OnceLock<HashMap<char, &'static str>> = OnceLock::new();
    SOUNDS.get_or_init(|| {
        RANGES
            .iter()
            .flat_map(|r| r.clone())
            .filter_map(char::from_u32)
            .filter_map(|c| Some((c, c.to_pinyin()?.plain())))
            .collect()
    })
}

/// The sound of `c`: its most common reading without tones; None for a character without pinyin.
pub fn sound(c: char) -> Option<&'static str> {
    sounds().get(&c).copied()
}

/// The alphabet of sound classes for `words` (normalised): each sound the words use is one code,
/// shared by every character of that sound; the words' characters without a sound have a code each.
pub fn alphabet<'a>(
    words: impl IntoIterator<Item = &'a str>,
) -> Result<Alphabet, AlphabetTooLarge> {
    let mut codes: HashMap<char, u16> = HashMap::new();
    let mut classes: HashMap<&'static str, u16> = HashMap::new();
    let mut next = 1usize;
    let mut fresh = || {
        let code = u16::try_from(next)
            .ok()
            .filter(|&c| usize::from(c) < Alphabet::CAPACITY)
            .ok_or(AlphabetTooLarge)?;
        next += 1;
        Ok::<u16, AlphabetTooLarge>(code)
    };
    for c in words.into_iter().flat_map(str::chars) {
        match sound(c) {
            Some(s) => {
                if let std::collections::hash_map::Entry::Vacant(slot) = classes.entry(s) {
                    slot.insert(fresh()?);
                }
            }
            None => {
                if let std::collections::hash_map::Entry::Vacant(slot) = codes.entry(c) {
                    slot.insert(fresh()?);
                }
            }
        }
    }
    for (&c, s) in sounds() {
        if let Some(&code) = classes.get(s) {
            codes.insert(c, code);
        }
    }
    Ok(Alphabet::from_classes(codes, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_that_sound_alike_share_a_code() {
        let a = alphabet(["微信", "vx"]).expect("alphabet");
        let wei = a.code_of('微');
        assert_ne!(wei, super::super::alphabet::NONE);
        for c in ['威', '薇', '维', '危'] {
            assert_eq!(a.code_of(c), wei, "{c}");
        }
        assert_eq!(a.code_of('新'), a.code_of('信'));
        assert_ne!(
            a.code_of('神'),
            a.code_of('信'),
            "a rare reading is no sound"
        );
        assert_ne!(a.code_of('v'), a.code_of('x'));
        assert_eq!(a.code_of('好'), super::super::alphabet::NONE);
        assert_eq!(sound('行'), Some("xing"));
        assert_eq!(sound('a'), None);
    }
}
