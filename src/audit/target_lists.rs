//! What each pattern of a word automaton stands for, kept compactly. A big word list with its
//! pinyin spellings makes millions of patterns, almost all with one target, and the spellings of
//! one word share a handful of targets: so targets are numbered once each while the patterns are
//! listed ([`Numbered`], a pattern holding [`Ids`]), and the automaton keeps each distinct list of
//! targets once ([`Lists`]), a pattern's value being its list's index. A list comes in two parts,
//! so that a walk reads only the targets it can use.

use std::collections::hash_map::Entry;

use foldhash::HashMap;
use std::hash::Hash;

/// Targets, each numbered once.
pub struct Numbered<T> {
    items: Vec<T>,
    numbers: HashMap<T, u32>,
}

impl<T> Default for Numbered<T> {
    fn default() -> Self {
        Numbered {
            items: Vec::new(),
            numbers: HashMap::default(),
        }
    }
}

impl<T: Clone + Eq + Hash> Numbered<T> {
    /// `item`'s number, giving it the next one if it is new.
    pub fn number(&mut self, item: T) -> u32 {
        if let Some(&n) = self.numbers.get(&item) {
            return n;
        }
        let n = self.items.len() as u32;
        self.items.push(item.clone());
        self.numbers.insert(item, n);
        n
    }

    /// Target `n`.
    pub fn get(&self, n: u32) -> Option<&T> {
        self.items.get(n as usize)
    }
}

/// A pattern's targets by number, in the order they were added, each once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ids {
    One(u32),
    Many(Box<[u32]>),
}

impl Ids {
    /// Adds target `n` to pattern `key` of `patterns`.
    pub fn add_to<K: Eq + Hash>(patterns: &mut HashMap<K, Ids>, key: K, n: u32) {
        match patterns.entry(key) {
            Entry::Occupied(mut e) => e.get_mut().add(n),
            Entry::Vacant(e) => {
                e.insert(Ids::One(n));
            }
        }
    }

    /// Adds target `n` unless the pattern has it already.
    pub fn add(&mut self, n: u32) {
        if self.as_slice().contains(&n) {
            return;
        }
        let mut all = self.as_slice().to_vec();
        all.push(n);
        *self = Ids::Many(all.into_boxed_slice());
    }

    pub fn as_slice(&self) -> &[u32] {
        match self {
            Ids::One(n) => std::slice::from_ref(n),
            Ids::Many(all) => all,
        }
    }
}

/// Distinct lists of targets, one after the other, each in two parts.
pub struct Lists<T> {
    items: Vec<T>,
    /// List `i` is `items[starts[i]..starts[i + 1]]` …
    starts: Vec<u32>,
    /// … of which `items[starts[i]..mids[i]]` is its first part.
    mids: Vec<u32>,
}

impl<T: Clone + Eq + Hash> Lists<T> {
    /// The distinct lists among `patterns`' (targets numbered in `numbered`), and each pattern's
    /// list, in the order given. Each list's targets are put in order of `key`, whose first
    /// field says whether a target belongs to the list's second part.
    pub fn of<'a, K: Ord>(
        patterns: impl IntoIterator<Item = &'a Ids>,
        numbered: &Numbered<T>,
        key: impl Fn(&T) -> (bool, K),
    ) -> (Lists<T>, Vec<u32>) {
        let mut index: HashMap<&'a Ids, u32> = HashMap::default();
        let mut lists = Lists {
            items: Vec::new(),
            starts: vec![0],
            mids: Vec::new(),
        };
        let of_pattern = patterns
            .into_iter()
            .map(|ids| {
                *index.entry(ids).or_insert_with(|| {
                    let mut items: Vec<&T> = ids
                        .as_slice()
                        .iter()
                        .filter_map(|&n| numbered.get(n))
                        .collect();
                    items.sort_by_cached_key(|t| key(t));
                    let first = items.partition_point(|t| !key(t).0);
                    lists.mids.push((lists.items.len() + first) as u32);
                    lists.items.extend(items.into_iter().cloned());
                    lists.starts.push(lists.items.len() as u32);
                    (lists.starts.len() - 2) as u32
                })
            })
            .collect();
        lists.items.shrink_to_fit();
        lists.starts.shrink_to_fit();
        lists.mids.shrink_to_fit();
        (lists, of_pattern)
    }
}

impl<T> Lists<T> {
    /// List `list`'s first part (empty if there is no such list).
    pub fn first(&self, list: usize) -> &[T] {
        self.part(self.starts.get(list), self.mids.get(list))
    }

    /// List `list`'s second part.
    pub fn second(&self, list: usize) -> &[T] {
        self.part(self.mids.get(list), self.starts.get(list + 1))
    }

    fn part(&self, from: Option<&u32>, to: Option<&u32>) -> &[T] {
        match (from, to) {
            (Some(&a), Some(&b)) => self.items.get(a as usize..b as usize).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Heap bytes the lists take.
    pub fn heap_bytes(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<T>()
            + (self.starts.capacity() + self.mids.capacity()) * std::mem::size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_lists_are_kept_once_and_each_pattern_finds_its_own() {
        let mut numbered = Numbered::default();
        let (a, b, c) = (
            numbered.number("a"),
            numbered.number("b"),
            numbered.number("c"),
        );
        assert_eq!(numbered.number("b"), b, "a target is numbered once");
        let mut ab = Ids::One(a);
        ab.add(b);
        ab.add(a);
        assert_eq!(ab.as_slice(), [a, b], "a target is added once");
        let mut abc = ab.clone();
        abc.add(c);
        let patterns = [Ids::One(c), ab.clone(), Ids::One(c), ab, Ids::One(a), abc];
        // "c" and "a" go to the second part; within a part, in reverse order.
        fn key(t: &&'static str) -> (bool, std::cmp::Reverse<&'static str>) {
            (*t != "b", std::cmp::Reverse(*t))
        }
        let (lists, of_pattern) = Lists::of(&patterns, &numbered, key);
        assert_eq!(of_pattern, [0, 1, 0, 1, 2, 3]);
        let part = |f: for<'a> fn(&'a Lists<&'static str>, usize) -> &'a [&'static str]| {
            let got: Vec<&[&str]> = of_pattern.iter().map(|&l| f(&lists, l as usize)).collect();
            got
        };
        assert_eq!(
            part(Lists::first),
            [&[][..], &["b"], &[], &["b"], &[], &["b"]]
        );
        assert_eq!(
            part(Lists::second),
            [&["c"][..], &["a"], &["c"], &["a"], &["a"], &["c", "a"]]
        );
        assert!(lists.first(4).is_empty() && lists.second(4).is_empty());
    }
}
