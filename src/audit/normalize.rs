//! Normalisation against evasion, with a map back to the original text.
//!
//! One pass over the text, per character:
//! 1. compatibility folding (NFKD: full-width `ＡＢＣ１２３` → `ABC123`, `①` → `1`, compatibility
//!    ideographs → unified ones);
//! 2. case folding (lower case);
//! 3. traditional → simplified Chinese, one character at a time (`發票` → `发票`; table in
//!    `t2s.txt`, from OpenCC);
//! 4. noise skipping: whatever is not a letter or digit after folding — whitespace, punctuation,
//!    symbols, emoji, zero-width characters, combining marks — is dropped, so `敏 感*词`, `微.信` and
//!    `v​x` (zero-width space) read as `敏感词`, `微信`, `vx`;
//! 5. round 2 ([`super::lookalike`]): every way of writing a digit to the ASCII digit (Chinese and
//!    financial numerals, `幺`, `两`, negative-circled and dingbat digits), every form of a Latin
//!    letter to its ASCII lower case (Unicode's confusables: Cyrillic `х`, Greek `ο`, small
//!    capitals; negative circled and squared letters, regional indicators).
//!
//! [`normalize`] (word matching) applies all of it. [`fold`] — what the archive's search index
//! holds and a normalised search looks for — stops at round 1, so an index built before round 2
//! still answers the same searches.
//!
//! Words go through the same function, so both sides agree. For each byte of the output,
//! [`Normalized::origin`] holds the byte offset of the original character it came from, which turns a
//! match in the normalised text back into the span the person actually typed.

use std::sync::OnceLock;

use unicode_normalization::char::decompose_compatible;

use super::lookalike;

/// Text after normalisation, with its map back to the original.
#[derive(Debug, Default, Clone)]
pub struct Normalized {
    pub text: String,
    /// For every byte of `text`, the byte offset in the original of the character it came from.
    pub origin: Vec<u32>,
}

impl Normalized {
    /// The original byte span of normalised bytes `[start, end)` (end > start), given the original.
    pub fn original_span(&self, original: &str, start: usize, end: usize) -> (usize, usize) {
        let from = self.origin[start] as usize;
        let last = self.origin[end - 1] as usize;
        let last_len = original[last..].chars().next().map_or(1, char::len_utf8);
        (from, last + last_len)
    }
}

const T2S_DATA: &str = include_str!("t2s.txt");

/// Traditional → simplified: a direct table for the BMP ideograph blocks, a sorted list for the rest.
struct T2s {
    /// Indexed by `c - BMP_START` for c in `BMP_START..BMP_END`; `'\0'` = unchanged.
    bmp: Vec<char>,
    other: Vec<(char, char)>,
}

const BMP_START: u32 = 0x3400;
const BMP_END: u32 = 0xA000;

fn t2s() -> &'static T2s {
    static TABLE: OnceLock<T2s> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut bmp = vec!['\0'; (BMP_END - BMP_START) as usize];
        let mut other = Vec::new();
        for line in T2S_DATA.lines() {
            let mut chars = line.chars();
            if let (Some(t), Some(s)) = (chars.next(), chars.next()) {
                let code = t as u32;
                if (BMP_START..BMP_END).contains(&code) {
                    bmp[(code - BMP_START) as usize] = s;
                } else {
                    other.push((t, s));
                }
            }
        }
        other.sort_unstable();
        T2s { bmp, other }
    })
}

#[inline]
fn simplify(t: &T2s, c: char) -> char {
    let code = c as u32;
    if (BMP_START..BMP_END).contains(&code) {
        let s = t.bmp[(code - BMP_START) as usize];
        if s != '\0' { s } else { c }
    } else if code >= 0x2E80 {
        t.other
            .binary_search_by_key(&c, |p| p.0)
            .map_or(c, |i| t.other[i].1)
    } else {
        c
    }
}

/// A character's simplified form (itself when it has none).
pub fn simplified(c: char) -> char {
    simplify(t2s(), c)
}

/// Where folded characters go, one at a time with the byte offset of the original character they
/// came from: a [`Normalized`] buffer, or straight into an automaton (the matcher).
pub trait Sink {
    fn push(&mut self, c: char, at: u32);
}

impl Sink for Normalized {
    #[inline]
    fn push(&mut self, c: char, at: u32) {
        let mut buf = [0u8; 4];
        let s = c.encode_utf8(&mut buf);
        self.text.push_str(s);
        self.origin.extend(std::iter::repeat_n(at, s.len()));
    }
}

/// Sends the folded form of one non-ASCII character to `out` (`ROUND2`: digits and letters in
/// every form too).
#[inline]
fn fold_into<S: Sink, const ROUND2: bool>(t: &T2s, c: char, at: u32, out: &mut S) {
    if ROUND2 {
        if let Some((d, next)) = lookalike::numeral_digits(c) {
            out.push(d, at);
            if let Some(n) = next {
                out.push(n, at);
            }
            return;
        }
        if let Some(l) = lookalike::latin_letter(c) {
            return out.push(l, at);
        }
    }
    match c as u32 {
        // CJK unified ideographs: stable under NFKD and case folding; only simplify.
        0x4E00..=0x9FFF => out.push(simplify(t, c), at),
        // Enclosed alphanumerics (squared 🄰, digits with a comma 🄁): letters and digits in
        // round 2, noise before.
        0x1F100..=0x1F1FF if ROUND2 => decompose_compatible(c, |x| {
            if x.is_alphanumeric() {
                for l in x.to_lowercase() {
                    out.push(l, at);
                }
            }
        }),
        // General punctuation (incl. zero-width characters), CJK symbols and punctuation, and the
        // emoji and pictograph planes: always noise.
        0x2000..=0x206F | 0x3000..=0x303F | 0x1F000..=0x1FAFF | 0xFE00..=0xFE0F => {}
        // Full-width ASCII forms: the ASCII character, then the ASCII rules.
        0xFF01..=0xFF5E => {
            let a = char::from_u32(c as u32 - 0xFEE0).unwrap_or(' ');
            if a.is_ascii_alphanumeric() {
                out.push(a.to_ascii_lowercase(), at);
            }
        }
        _ => decompose_compatible(c, |x| {
            if x.is_alphanumeric() {
                for l in x.to_lowercase() {
                    let l = if ROUND2 {
                        lookalike::numeral(l)
                            .or_else(|| lookalike::latin_letter(l))
                            .unwrap_or(l)
                    } else {
                        l
                    };
                    out.push(simplify(t, l), at);
                }
            }
        }),
    }
}

/// The normalising pass (round 2 included), sending every folded character to `out`.
#[inline]
pub fn fold_text<S: Sink>(text: &str, out: &mut S) {
    let table = t2s();
    for (i, c) in text.char_indices() {
        fold_one::<S, true>(table, c, i as u32, out);
    }
}

/// Sends the folded form of one character (from original byte offset `at`) to `out`: nothing for
/// noise, one character mostly, several for some compatibility characters.
#[inline]
pub fn fold_char<S: Sink>(c: char, at: u32, out: &mut S) {
    fold_one::<S, true>(t2s(), c, at, out)
}

#[inline]
fn fold_one<S: Sink, const ROUND2: bool>(table: &T2s, c: char, at: u32, out: &mut S) {
    if c.is_ascii() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase(), at);
        }
    } else {
        fold_into::<S, ROUND2>(table, c, at, out);
    }
}

/// Normalises `text` (see the module docs).
pub fn normalize(text: &str) -> Normalized {
    let mut out = Normalized::default();
    normalize_into(text, &mut out);
    out
}

/// Normalises `text` into `out`, reusing its buffers.
pub fn normalize_into(text: &str, out: &mut Normalized) {
    out.text.clear();
    out.origin.clear();
    out.text.reserve(text.len());
    out.origin.reserve(text.len());
    fold_text(text, out);
}

/// Text folded only (no offset map), by round 1: what the search index holds and a normalised
/// search looks for.
pub fn fold(text: &str) -> String {
    struct Folded(String);
    impl Sink for Folded {
        #[inline]
        fn push(&mut self, c: char, _at: u32) {
            self.0.push(c);
        }
    }
    let mut out = Folded(String::with_capacity(text.len()));
    let table = t2s();
    for (i, c) in text.char_indices() {
        fold_one::<Folded, false>(table, c, i as u32, &mut out);
    }
    out.0
}

/// Normalises a configured word (no offset map needed).
pub fn normalize_word(word: &str) -> String {
    normalize(word).text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_is_the_normalised_text_by_round_one() {
        for t in ["私下轉賬 可以", "ＶＸ：sales_zhang", "加 我 微 信", "①②③😂"]
        {
            assert_eq!(fold(t), normalize(t).text, "{t}");
        }
        // The search index stays at round 1: numerals and look-alike letters are its own.
        assert_eq!(fold("幺三八 vх"), "幺三八vх");
        assert_eq!(normalize("幺三八 vх").text, "138vx");
    }

    #[test]
    fn round_two_numerals_and_letters() {
        let cases = [
            ("幺三八一二三四五六七八", "13812345678"),
            ("①③⑧ ⑴⑵ ❶➁⓵ ¹²₃ 𝟏", "138121211231"),
            ("壹贰叁肆伍陆柒捌玖零 貳參陸 两", "12345678902362"),
            ("ⓥⓧ ⒱⒳ 🅅🆇 🇻🇽 🄰 ᴠx 𝐯𝐱", "vxvxvxvxavxvx"),
            ("vх аеорсхувкмнт οανρτχ", "vxaeopcxybkmhtoavptx"),
            ("⓫", "11"),
            ("十百千万", "十百千万"), // not digits: no arithmetic
            ("加我ＶＸ", "加我vx"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input).text, want, "{input}");
        }
    }

    #[test]
    fn each_normalisation_class() {
        let cases = [
            ("ＡＢＣ１２３", "abc123"), // full-width
            ("①②③", "123"),             // circled digits
            ("WeChat", "wechat"),       // case
            ("發票", "发票"),           // traditional → simplified
            ("敏 感*词", "敏感词"),     // whitespace and punctuation
            ("微.信", "微信"),
            ("v\u{200B}x", "vx"),         // zero-width space
            ("加😀我🙂微信", "加我微信"), // emoji
            ("私下，转账！", "私下转账"), // full-width punctuation
            ("\u{F900}", "岂"),           // compatibility ideograph (豈 → 岂 after t2s)
            ("café", "cafe"),             // combining marks dropped
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input).text, want, "{input}");
        }
    }

    #[test]
    fn spans_map_back_to_what_was_typed() {
        let original = "请 私下*轉賬 谢谢";
        let n = normalize(original);
        let start = n.text.find("私下转账").expect("found");
        let (a, b) = n.original_span(original, start, start + "私下转账".len());
        assert_eq!(&original[a..b], "私下*轉賬");
    }

    #[test]
    fn innocent_text_is_unchanged_in_substance() {
        assert_eq!(normalize("今天下午开会").text, "今天下午开会");
        // Round 2 reads Chinese numerals as digits, on both sides of a match.
        assert_eq!(normalize("今天下午三点开会").text, "今天下午3点开会");
        assert_eq!(normalize("").text, "");
    }
}
