//! The normalised matcher's alphabet: every character of the normalised words gets a small dense
//! code, and the automaton sees codes rather than characters. One lookup in a 128 KiB table takes
//! any character of the Basic Multilingual Plane straight to the code of its folded form — folding,
//! simplification and alphabet mapping fused — or marks it as noise; only characters outside the
//! BMP and the few whose folding yields several characters take the general path. Characters that
//! occur in no word all share one code that sends the automaton back to its root, and the
//! automaton's own character table shrinks to the size of the alphabet, so both stay in cache.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::normalize::{Sink, fold_char};

/// Code of a character that occurs in no word.
pub const NONE: u16 = 0;
/// Table entry for noise: nothing reaches the automaton.
const SKIP: u16 = u16::MAX;
/// Table entry for a character whose folding yields several characters: the general path.
const GENERAL: u16 = u16::MAX - 1;
/// The largest code.
const MAX_CODE: u16 = u16::MAX - 2;

/// More distinct characters in the words than codes.
#[derive(Debug, thiserror::Error)]
#[error("the words use more than {MAX_CODE} distinct characters after normalisation")]
pub struct AlphabetTooLarge;

/// Receives the code of every folded character, with the original byte offset it came from.
pub trait CodeSink {
    fn code(&mut self, code: u16, at: u32);
}

/// Dense codes for the characters of a set of normalised words.
pub struct Alphabet {
    /// For each BMP character: the code of its folded form, `SKIP` or `GENERAL`.
    bmp: Box<[u16]>,
    /// Folded character → code.
    codes: HashMap<char, u16>,
    /// Number of codes in use, `NONE` included.
    size: usize,
}

/// `bmp_folds` entry of a character that folds to nothing.
const FOLD_SKIP: u32 = u32::MAX;
/// `bmp_folds` entry of a character that folds to several characters.
const FOLD_GENERAL: u32 = u32::MAX - 1;

/// What folding makes of each BMP character: the one character it folds to, `FOLD_SKIP` or
/// `FOLD_GENERAL`. The same for every rules version, so computed once.
fn bmp_folds() -> &'static [u32] {
    static FOLDS: OnceLock<Box<[u32]>> = OnceLock::new();
    FOLDS.get_or_init(|| {
        (0..=0xFFFFu32)
            .map(|n| {
                let Some(c) = char::from_u32(n) else {
                    return FOLD_SKIP; // surrogates never occur in text
                };
                let mut folded = Folded::default();
                fold_char(c, 0, &mut folded);
                match (folded.count, folded.first) {
                    (0, _) => FOLD_SKIP,
                    (1, Some(f)) => u32::from(f),
                    _ => FOLD_GENERAL,
                }
            })
            .collect()
    })
}

/// Collects what folding makes of one character.
#[derive(Default)]
struct Folded {
    first: Option<char>,
    count: usize,
}

impl Sink for Folded {
    fn push(&mut self, c: char, _at: u32) {
        self.first.get_or_insert(c);
        self.count += 1;
    }
}

impl Alphabet {
    /// The alphabet of `words`, which must already be normalised.
    pub fn build<'a>(
        words: impl IntoIterator<Item = &'a str>,
    ) -> Result<Alphabet, AlphabetTooLarge> {
        let mut codes: HashMap<char, u16> = HashMap::new();
        for c in words.into_iter().flat_map(str::chars) {
            let next = codes.len() + 1;
            if let std::collections::hash_map::Entry::Vacant(slot) = codes.entry(c) {
                let code = u16::try_from(next)
                    .ok()
                    .filter(|&n| n <= MAX_CODE)
                    .ok_or(AlphabetTooLarge)?;
                slot.insert(code);
            }
        }
        let size = codes.len() + 1;
        Ok(Alphabet::from_classes(codes, size))
    }

    /// An alphabet in which several folded characters may share a code (round 2's sound-alikes:
    /// every character read `wei` gets the code of `wei`): `classes` maps folded characters to
    /// codes below `size`, which must not be `NONE`.
    pub fn from_classes(codes: HashMap<char, u16>, size: usize) -> Alphabet {
        let bmp = bmp_folds()
            .iter()
            .map(|&f| match f {
                FOLD_SKIP => SKIP,
                FOLD_GENERAL => GENERAL,
                f => char::from_u32(f)
                    .and_then(|f| codes.get(&f).copied())
                    .unwrap_or(NONE),
            })
            .collect();
        Alphabet { bmp, codes, size }
    }

    /// The largest number of codes an alphabet can have.
    pub const CAPACITY: usize = MAX_CODE as usize;

    /// The character the automaton sees for `code` (never a surrogate; `NONE` is `'\0'`, which no
    /// word contains).
    #[inline]
    pub fn code_char(code: u16) -> char {
        let n = u32::from(code);
        let n = if n < 0xD800 { n } else { n + 0x800 };
        char::from_u32(n).unwrap_or('\0')
    }

    /// Number of codes in use, `NONE` included.
    pub fn len(&self) -> usize {
        self.size
    }

    /// Whether no word has any character.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// A normalised word as codes.
    pub fn codes(&self, word: &str) -> Vec<u16> {
        word.chars().map(|c| self.code_of(c)).collect()
    }

    /// The code of a character that is already folded (`NONE` when no word holds it).
    #[inline]
    pub fn code_of(&self, c: char) -> u16 {
        self.codes.get(&c).copied().unwrap_or(NONE)
    }

    /// The normalising pass over `text` (as [`super::normalize::fold_text`]), sending codes.
    #[inline(always)]
    pub fn fold_text<S: CodeSink>(&self, text: &str, out: &mut S) {
        let mut i = 0;
        while i < text.len() {
            i += self.fold_one(text, i, out);
        }
    }

    /// Folds the one character at byte `i` of `text` (a character boundary), sending its codes;
    /// returns its length in bytes.
    #[inline(always)]
    pub fn fold_one<S: CodeSink>(&self, text: &str, i: usize, out: &mut S) -> usize {
        let bytes = text.as_bytes();
        // Decode BMP characters by hand (the text is valid UTF-8); the rest go the general way.
        let (n, len) = match bytes.get(i).copied() {
            Some(lead @ 0x00..=0x7F) => (u32::from(lead), 1),
            Some(lead @ 0xC0..=0xDF) => match bytes.get(i + 1) {
                Some(&b1) => ((u32::from(lead & 0x1F) << 6) | u32::from(b1 & 0x3F), 2),
                None => return 1,
            },
            Some(lead @ 0xE0..=0xEF) => match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&b1), Some(&b2)) => (
                    (u32::from(lead & 0x0F) << 12)
                        | (u32::from(b1 & 0x3F) << 6)
                        | u32::from(b2 & 0x3F),
                    3,
                ),
                _ => return 1,
            },
            _ => return self.fold_general(text, i, out),
        };
        match self.bmp.get(n as usize).copied().unwrap_or(GENERAL) {
            SKIP => {}
            GENERAL => {
                self.fold_general(text, i, out);
            }
            code => out.code(code, i as u32),
        }
        len
    }

    /// Folds the character at byte `i` through the general path; returns its length in bytes.
    #[inline(never)]
    fn fold_general<S: CodeSink>(&self, text: &str, i: usize, out: &mut S) -> usize {
        let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
            return 1;
        };
        fold_char(
            c,
            i as u32,
            &mut Coder {
                alphabet: self,
                out,
            },
        );
        c.len_utf8()
    }
}

/// Turns the folded characters of the general path into codes.
struct Coder<'a, S> {
    alphabet: &'a Alphabet,
    out: &'a mut S,
}

impl<S: CodeSink> Sink for Coder<'_, S> {
    #[inline]
    fn push(&mut self, c: char, at: u32) {
        self.out.code(self.alphabet.code_of(c), at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::normalize::normalize;

    struct Codes(Vec<(u16, u32)>);
    impl CodeSink for Codes {
        fn code(&mut self, code: u16, at: u32) {
            self.0.push((code, at));
        }
    }

    #[test]
    fn agrees_with_the_normaliser_on_every_class() {
        let words = ["发票", "abc123", "微信", "岂", "cafe", "vx", "敏感词"];
        let alphabet = Alphabet::build(words).expect("alphabet");
        let texts = [
            "麻烦开發票",
            "ＡＢＣ１２３",
            "①②③",
            "加😀我🙂微.信",
            "\u{F900}",
            "café",
            "V\u{200B}X",
            "敏 感*词",
            "ＶＸ联系",
        ];
        for text in texts {
            let n = normalize(text);
            let want: Vec<(u16, u32)> = n
                .text
                .char_indices()
                .map(|(i, c)| (alphabet.code_of(c), n.origin[i]))
                .collect();
            let mut got = Codes(Vec::new());
            alphabet.fold_text(text, &mut got);
            assert_eq!(got.0, want, "{text}");
        }
    }

    #[test]
    fn codes_skip_surrogates_and_characters_outside_the_words_share_one() {
        assert_eq!(Alphabet::code_char(NONE), '\0');
        assert_eq!(Alphabet::code_char(0xD7FF), '\u{D7FF}');
        assert_eq!(Alphabet::code_char(0xD800), '\u{E000}');
        assert_eq!(Alphabet::code_char(MAX_CODE), '\u{107FD}');
        let alphabet = Alphabet::build(["微信"]).expect("alphabet");
        let mut got = Codes(Vec::new());
        alphabet.fold_text("好x", &mut got);
        assert_eq!(got.0, [(NONE, 0), (NONE, 3)]);
    }
}
