//! A prefilter for the normalised matcher: from a code and the one after it, whether any word can
//! start there. While the automaton sits at its root, positions where no word can start need not
//! be fed to it at all — one lookup in a 32 KiB bit table instead of a walk through the
//! double array. Two-code prefixes are hashed into the table (false positives only cost a normal
//! step); one-code words are flagged per code and always fed.

/// log2 of the number of bits in the pair table.
const PAIR_BITS: u32 = 18;

/// Which code pairs begin a word, and which codes are whole words.
pub struct StartFilter {
    pairs: Box<[u64]>,
    single: Box<[bool]>,
}

#[inline]
fn slot(first: u16, second: u16) -> usize {
    let key = (u32::from(first) << 16) | u32::from(second);
    (key.wrapping_mul(0x9E37_79B1) >> (32 - PAIR_BITS)) as usize
}

impl StartFilter {
    /// The filter for `words` given as codes, over an alphabet of `alphabet_len` codes.
    pub fn build<'a>(words: impl IntoIterator<Item = &'a [u16]>, alphabet_len: usize) -> Self {
        let mut pairs = vec![0u64; (1usize << PAIR_BITS) / 64].into_boxed_slice();
        let mut single = vec![false; alphabet_len].into_boxed_slice();
        for word in words {
            match *word {
                [] => {}
                [only] => {
                    if let Some(flag) = single.get_mut(usize::from(only)) {
                        *flag = true;
                    }
                }
                [first, second, ..] => {
                    let i = slot(first, second);
                    pairs[i / 64] |= 1 << (i % 64);
                }
            }
        }
        StartFilter { pairs, single }
    }

    /// Whether a word may start at a code `first` followed by `second` (`None` at the end).
    #[inline]
    pub fn may_start(&self, first: u16, second: Option<u16>) -> bool {
        if self
            .single
            .get(usize::from(first))
            .copied()
            .unwrap_or(false)
        {
            return true;
        }
        match second {
            Some(second) => {
                let i = slot(first, second);
                self.pairs[i / 64] & (1 << (i % 64)) != 0
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_of_words_pass_and_most_others_do_not() {
        let words: [&[u16]; 3] = [&[1, 2, 3], &[4], &[5, 6]];
        let filter = StartFilter::build(words, 10);
        assert!(filter.may_start(1, Some(2)));
        assert!(filter.may_start(5, Some(6)));
        assert!(filter.may_start(4, None));
        assert!(filter.may_start(4, Some(9)));
        assert!(!filter.may_start(1, None));
        let passing = (0..10u16)
            .flat_map(|a| (0..10u16).map(move |b| (a, b)))
            .filter(|&(a, b)| a != 4 && filter.may_start(a, Some(b)))
            .count();
        assert!(passing <= 4, "{passing} pairs pass");
    }
}
