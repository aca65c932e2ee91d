//! Round 2's character classes: every way of writing a digit, and every form of a Latin letter.
//!
//! - [`numeral`]: Chinese numerals `〇 零 一 … 九`, their financial forms `壹 贰 叁 …` (and the
//!   traditional `貳 參 陸`), `幺` (1 in phone numbers) and `两` (2) → the ASCII digit. Full-width,
//!   circled, parenthesised, dingbat, super- and subscript and mathematical digits come through
//!   Unicode's compatibility decomposition (NFKD) where the caller applies it, and the
//!   negative-circled and dingbat ones that have none are listed here.
//! - [`latin_letter`]: a character that looks like a Latin letter → that letter in lower case:
//!   `letters.txt` (generated from Unicode's confusables by `scripts/gen-letter-confusables.py`:
//!   Cyrillic `а е о р с х у в к м н т`, Greek `ο α ν ρ τ χ`, small capitals, …), and the
//!   enclosed forms without a decomposition (negative circled and negative squared capitals,
//!   regional indicators).
//! - [`fold_for_detectors`]: text folded one character at a time as the behaviour detectors read
//!   it — digits, letters, width, case, traditional → simplified — with spaces and punctuation
//!   kept (URLs, `wxid_` and `：` need them).

use std::sync::OnceLock;

use unicode_normalization::char::decompose_compatible;

const LETTERS: &str = include_str!("letters.txt");

/// The look-alike table, sorted by character.
fn letters() -> &'static [(char, char)] {
    static TABLE: OnceLock<Vec<(char, char)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: Vec<(char, char)> = LETTERS
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (from, to) = l.split_once('\t')?;
                let mut f = from.chars();
                let (Some(from), None) = (f.next(), f.next()) else {
                    return None;
                };
                Some((from, to.chars().next()?))
            })
            .collect();
        table.sort_unstable();
        table
    })
}

/// The ASCII digit a Chinese (or other non-decomposing) numeral stands for.
#[inline]
pub fn numeral(c: char) -> Option<char> {
    let d = match c {
        '〇' | '零' => 0,
        '一' | '壹' | '幺' => 1,
        '二' | '贰' | '貳' | '两' | '兩' => 2,
        '三' | '叁' | '參' | '叄' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' | '陸' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        // Negative circled digits without a decomposition: ⓿ ❶…❿ ➀…➉ ➊…➓ (the tens are 10).
        '⓿' => 0,
        '\u{2776}'..='\u{277E}' => c as u32 - 0x2776 + 1,
        '\u{2780}'..='\u{2788}' => c as u32 - 0x2780 + 1,
        '\u{278A}'..='\u{2792}' => c as u32 - 0x278A + 1,
        '\u{24F5}'..='\u{24FD}' => c as u32 - 0x24F5 + 1, // ⓵…⓽ double circled
        _ => return None,
    };
    char::from_digit(d, 10)
}

/// The ASCII digits a numeral stands for: one ([`numeral`]), or two for the negative circled
/// numbers ⓫…⓳ (11–19), which have no decomposition.
#[inline]
pub fn numeral_digits(c: char) -> Option<(char, Option<char>)> {
    match c as u32 {
        0x24EB..=0x24F3 => Some(('1', char::from_digit(c as u32 - 0x24EB + 1, 10))),
        _ => numeral(c).map(|d| (d, None)),
    }
}

/// The Latin letter (lower case) a character that is not ASCII looks like.
#[inline]
pub fn latin_letter(c: char) -> Option<char> {
    let code = c as u32;
    let from = |base: u32| char::from_u32('a' as u32 + (code - base));
    match code {
        0x1F150..=0x1F169 => from(0x1F150), // negative circled capitals
        0x1F170..=0x1F189 => from(0x1F170), // negative squared capitals
        0x1F1E6..=0x1F1FF => from(0x1F1E6), // regional indicators
        _ => {
            let table = letters();
            table
                .binary_search_by_key(&c, |p| p.0)
                .ok()
                .map(|i| table[i].1)
        }
    }
}

/// Whether `c` is a Latin letter in any form: ASCII, full-width, circled, mathematical, or a
/// look-alike.
pub fn is_latin_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    if latin_letter(c).is_some() {
        return true;
    }
    let mut letter = false;
    decompose_compatible(c, |x| letter |= x.is_ascii_alphabetic());
    letter
}

/// Text folded as the behaviour detectors read it (see the module docs): one output character per
/// folded input character, everything that is neither a digit nor a letter kept as it is (full-width
/// punctuation as its ASCII form).
pub fn fold_for_detectors(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        fold_detect_char(c, &mut out);
    }
    out
}

fn fold_detect_char(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    if let Some((d, next)) = numeral_digits(c) {
        out.push(d);
        out.extend(next);
        return;
    }
    // CJK ideographs: traditional → simplified (no look-alike letter is among them, which a
    // test holds the table to, so the most common characters skip its lookup).
    if let 0x3400..=0x9FFF = c as u32 {
        out.push(super::normalize::simplified(c));
        return;
    }
    if let Some(l) = latin_letter(c) {
        out.push(l);
        return;
    }
    // Full-width ASCII forms, punctuation included (`：` → `:`).
    if let 0xFF01..=0xFF5E = c as u32 {
        if let Some(a) = char::from_u32(c as u32 - 0xFEE0) {
            out.push(a.to_ascii_lowercase());
        }
        return;
    }
    // Compatibility forms (circled ①, parenthesised ⑴ ⒱, super/subscripts, mathematical letters
    // and digits): their letters and digits, without the decoration; anything else as it is.
    let mut alnum = String::new();
    decompose_compatible(c, |x| {
        if x.is_alphanumeric() {
            alnum.extend(x.to_lowercase());
        }
    });
    if alnum.is_empty() || alnum.chars().eq(std::iter::once(c)) {
        out.extend(c.to_lowercase());
    } else {
        for x in alnum.chars() {
            out.push(numeral(x).or_else(|| latin_letter(x)).unwrap_or(x));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_look_alike_letter_is_a_cjk_ideograph() {
        // `fold_detect_char` folds ideographs before it looks for letters.
        assert!(
            letters()
                .iter()
                .all(|&(from, _)| !(0x3400..=0x9FFF).contains(&(from as u32)))
        );
    }

    #[test]
    fn every_way_of_writing_a_digit() {
        let cases = [
            ("幺三八 一二三四 五六七八", "138 1234 5678"),
            ("①③⑧", "138"),
            ("⑴⑵⒊", "123"),
            ("❶➁➌⓵⓿", "12310"),
            ("¹²³₄", "1234"),
            ("𝟏𝟐𝟑", "123"),
            ("壹贰叁肆伍陆柒捌玖零", "1234567890"),
            ("貳參陸两", "2362"),
            ("１２３", "123"),
            ("⓫", "11"),
        ];
        for (text, want) in cases {
            assert_eq!(fold_for_detectors(text), want, "{text}");
        }
        // Not digits: no arithmetic.
        assert_eq!(fold_for_detectors("十百千万"), "十百千万");
    }

    #[test]
    fn every_form_of_a_latin_letter() {
        let cases = [
            ("ⓥⓧ", "vx"),
            ("Ⓥⓧ", "vx"),
            ("⒱⒳", "vx"),
            ("🅅🆇", "vx"),
            ("🄰🅱", "ab"),
            ("🇻🇽", "vx"),
            ("ᴠx", "vx"),
            ("𝐯𝐱", "vx"),
            ("vх", "vx"), // Cyrillic х
            ("аеорсхувкмнт", "aeopcxybkmht"),
            ("οανρτχ", "oavptx"),
            ("ＷＸＩＤ＿", "wxid_"),
        ];
        for (text, want) in cases {
            assert_eq!(fold_for_detectors(text), want, "{text}");
        }
    }

    #[test]
    fn spaces_punctuation_and_chinese_stay() {
        assert_eq!(
            fold_for_detectors("微信：Zhang_888, 發票!"),
            "微信:zhang_888, 发票!"
        );
        assert_eq!(
            fold_for_detectors("https://A.cn/x?y=1"),
            "https://a.cn/x?y=1"
        );
        // Digits never fold to letters, nor letters to digits.
        assert_eq!(fold_for_detectors("0O1lI"), "0o1li");
    }
}
