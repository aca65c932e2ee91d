//! Where a word can start, for the normalised matcher's scan: from a code and the one after it,
//! whether any word can begin there. The scan tests every pair of neighbouring codes in a bit table
//! and hands only the positions that pass to the automaton, so a message costs one table lookup per
//! character and the automaton is walked only where a word may begin (two-code prefixes are hashed
//! into the tables: a false positive only costs a short walk that finds nothing).
//!
//! Pairs are kept in four tables by whether each code is a Latin letter, so the pinyin spellings'
//! many pairs of a character and a letter do not crowd the table of Chinese pairs. In the tables
//! whose first code is a letter, each slot has two bits: any word's start, and the start of a word
//! that may begin inside a run of letters. Pinyin spellings that begin with letters must begin a
//! run (`weixin` is not found in `aweixin`), so inside English words the scan tests only the
//! second, much sparser set.

/// Flag: the code is a word of one code, so the scan hands it over wherever it occurs.
pub const SINGLE: u8 = 1;
/// Flag: the code is a Latin letter.
pub const LETTER: u8 = 2;

/// log2 of each table's slots, indexed by `2 * first is a letter + second is`.
const TABLE_BITS: [u32; 4] = [18, 16, 16, 16];

/// Which code pairs begin a word, and the flags of each code.
pub struct StartFilter {
    /// The four tables one after the other, starting at `offsets` (in bits). In the tables whose
    /// first code is a letter, each slot has two bits: any start, and a start that may lie inside
    /// a run of letters.
    bits: Box<[u64]>,
    offsets: [usize; 4],
    flags: Box<[u8]>,
}

/// One word as the filter takes it: its codes, and whether it may begin inside a run of letters.
pub struct Start<'a> {
    pub codes: &'a [u16],
    pub inside_letters: bool,
}

/// The slot of pair (`first`, `second`) in a table of `2^log2` slots.
#[inline(always)]
fn slot(first: u16, second: u16, log2: u32) -> usize {
    let key = (u32::from(first) << 16) | u32::from(second);
    (key.wrapping_mul(0x9E37_79B1) >> (32 - log2)) as usize
}

impl StartFilter {
    /// Heap bytes the tables take.
    pub fn heap_bytes(&self) -> usize {
        self.bits.len() * std::mem::size_of::<u64>() + self.flags.len()
    }

    /// The filter for `words` over an alphabet of `alphabet_len` codes, of which `letters` are
    /// Latin letters.
    pub fn build<'a>(
        words: impl IntoIterator<Item = Start<'a>>,
        alphabet_len: usize,
        letters: impl IntoIterator<Item = u16>,
    ) -> Self {
        let mut offsets = [0usize; 4];
        let mut total = 0;
        for (kind, log2) in TABLE_BITS.iter().enumerate() {
            offsets[kind] = total;
            // Slots in the letter-first tables hold two bits.
            total += (1usize << log2) * if kind >= 2 { 2 } else { 1 };
        }
        let mut bits = vec![0u64; total.div_ceil(64)].into_boxed_slice();
        let mut flags = vec![0u8; alphabet_len.max(1)].into_boxed_slice();
        for code in letters {
            if let Some(f) = flags.get_mut(usize::from(code)) {
                *f |= LETTER;
            }
        }
        let mut set = |bit: usize| {
            if let Some(w) = bits.get_mut(bit / 64) {
                *w |= 1 << (bit % 64);
            }
        };
        for word in words {
            match *word.codes {
                [] => {}
                [only] => {
                    if let Some(f) = flags.get_mut(usize::from(only)) {
                        *f |= SINGLE;
                    }
                }
                [first, second, ..] => {
                    let letter =
                        |c: u16| flags.get(usize::from(c)).is_some_and(|f| f & LETTER != 0);
                    let kind = 2 * usize::from(letter(first)) + usize::from(letter(second));
                    let i = slot(first, second, TABLE_BITS[kind]);
                    if kind >= 2 {
                        set(offsets[kind] + 2 * i);
                        if word.inside_letters {
                            set(offsets[kind] + 2 * i + 1);
                        }
                    } else {
                        set(offsets[kind] + i);
                    }
                }
            }
        }
        StartFilter {
            bits,
            offsets,
            flags,
        }
    }

    /// The flags of `code` ([`SINGLE`], [`LETTER`]).
    #[inline(always)]
    pub fn flags(&self, code: u16) -> u8 {
        self.flags.get(usize::from(code)).copied().unwrap_or(0)
    }

    /// Whether a word may start at a code `first` followed by `second` (each with its flags);
    /// with `inside_letters` (the first is a letter continuing a run of letters), only words that
    /// may begin inside a run of letters count.
    #[inline(always)]
    pub fn may_start(
        &self,
        (first, first_flags): (u16, u8),
        (second, second_flags): (u16, u8),
        inside_letters: bool,
    ) -> bool {
        let first_letter = usize::from(first_flags & LETTER != 0);
        let kind = 2 * first_letter + usize::from(second_flags & LETTER != 0);
        let i = slot(first, second, TABLE_BITS[kind]);
        // Letter-first tables: two bits per slot, the second for starts inside a run.
        let bit = self.offsets[kind] + (i << first_letter) + usize::from(inside_letters);
        self.bits
            .get(bit / 64)
            .is_some_and(|w| w & (1 << (bit % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_of_words_pass_and_most_others_do_not() {
        let words = [
            Start {
                codes: &[1, 2, 3],
                inside_letters: true,
            },
            Start {
                codes: &[4],
                inside_letters: true,
            },
            Start {
                codes: &[5, 6],
                inside_letters: false,
            },
        ];
        let filter = StartFilter::build(words, 10, [5]);
        let code = |c: u16| (c, filter.flags(c));
        assert!(filter.may_start(code(1), code(2), false));
        assert!(filter.may_start(code(5), code(6), false));
        assert!(
            !filter.may_start(code(5), code(6), true),
            "5 6 must begin a run of letters"
        );
        assert_eq!(filter.flags(4), SINGLE);
        assert_eq!(filter.flags(5), LETTER);
        assert_eq!(filter.flags(600), 0);
        let passing = (0..10u16)
            .flat_map(|a| (0..10u16).map(move |b| (a, b)))
            .filter(|&(a, b)| a != 4 && filter.may_start(code(a), code(b), false))
            .count();
        assert!(passing <= 4, "{passing} pairs pass");
    }
}
