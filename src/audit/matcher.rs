//! The word matcher: one automaton pass per message over the words and allow words of every enabled
//! strategy, with overlapping matches so every distinct word is found whatever the number of
//! strategies. Matches are mapped back to original byte spans, and a word match lying wholly inside
//! an allow-word match of the same strategy is dropped.
//!
//! Normalised words (their own spellings and their pinyin spellings) live in a charwise double-array
//! Aho-Corasick automaton (`daachorse`) over alphabet codes. A message is read in one scan that
//! folds it to codes straight from the normalising pass (no normalised copy of the text is built)
//! and tests each pair of neighbouring codes against the words' start filter; only where a word
//! may begin is the automaton walked, from its root, for as long as some word begins with what was
//! read. The walk keeps each run's original offsets, so matches map back to what was typed. Words
//! of strategies with normalisation off use an `aho-corasick` DFA over the raw text.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use daachorse::{CharwiseDoubleArrayAhoCorasick, CharwiseDoubleArrayAhoCorasickBuilder};

use super::alphabet::{Alphabet, CodeSink, NONE};
use super::normalize::normalize;
use super::pinyin;
use super::rules::Strategy;
use super::start_filter::{LETTER, SINGLE, Start, StartFilter};
use super::target_lists::{Ids, Lists, Numbered};

/// The automaton could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the word automaton: {0}")]
pub struct BuildError(String);

/// What a pattern of an automaton stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Target {
    /// Index into the strategies given to [`Matcher::build`].
    strategy: usize,
    /// Index into that strategy's `words` (or `allow_words` when `allow`).
    word: usize,
    allow: bool,
    /// A pinyin spelling whose Latin letters reach the match's start: the text must not have a
    /// letter just before it.
    letters_first: bool,
    /// … or its end: no letter just after it.
    letters_last: bool,
    /// Round 2's repeats: the word's own runs (`谢谢` is `谢` twice), which the text's run at each
    /// position must reach; None when the word has no repeated character.
    runs: Option<std::sync::Arc<[u8]>>,
    /// For a word too long to list whole, which of its pieces this pattern spells.
    piece: Option<Piece>,
}

/// One piece of a word with too many spellings to list whole ([`pinyin::pieces`]): the pieces
/// are found one after the other, each walk beginning where the piece before ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Piece {
    /// Which cut word (numbered across the automaton).
    chain: u32,
    /// Which of its pieces, from 0.
    index: u32,
    /// Whether it is the word's last piece.
    last: bool,
}

/// A cut word found up to one of its pieces: where the next piece must begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    awaits: Awaits,
    /// Byte offset where the word began.
    origin: u32,
    /// Where the next piece's walk begins …
    from: StartAt,
    /// … and how many codes equal to this one the piece before took there: a run of the text
    /// split between two pieces (`renmin` + `ni` in `renminni`), else `(NONE, 0)`.
    taken: (u16, u8),
}

/// Which cut words a [`Pending`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaits {
    /// One cut word, `next` its piece to find, and whether pinyin letters begin it.
    Piece {
        chain: u32,
        next: u32,
        letters_first: bool,
    },
    /// The many cut words whose first pieces a pattern shares (`出售` begins hundreds in a big
    /// list): every cut word whose first piece in that pattern's list of targets is
    /// [`grouped`] waits for its second piece, in one entry.
    Group(u32),
}

/// How many spellings a word may have to be listed whole, and a piece of a longer one.
#[derive(Debug, Clone, Copy)]
struct Caps {
    whole: usize,
    piece: usize,
}

impl Caps {
    const DEFAULT: Caps = Caps {
        whole: pinyin::WHOLE_SPELLINGS,
        piece: pinyin::PIECE_SPELLINGS,
    };
    /// Every word listed whole, whatever its number of spellings.
    const NEVER: Caps = Caps {
        whole: usize::MAX,
        piece: 1,
    };
}

/// What a message's walks reuse rather than allocate: the anchored walk's path, and the cut words
/// waiting for their next piece.
#[derive(Default)]
struct Scratch {
    path: Vec<Slot>,
    pending: Vec<Pending>,
    expect: Vec<Pending>,
}

/// One word found in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordMatch {
    pub strategy: usize,
    pub word: usize,
    /// Byte span in the original text.
    pub span: (usize, usize),
}

/// Normalised words: one alphabet of codes, and an automaton over it holding every word's own
/// spelling and its pinyin spellings, whose values index its `targets`.
struct Normalised {
    alphabet: Alphabet,
    automaton: Automaton,
    /// The words of strategies with `sound_alike` on, over sound classes; None when there are none.
    sound: Option<Sound>,
}

/// Round 2's sound-alikes: words over an alphabet of sound classes ([`super::sound`]), walked in a
/// second pass over the text.
struct Sound {
    alphabet: Alphabet,
    automaton: Automaton,
}

/// Where a word may begin: the byte offset of the original character, and how many folded codes of
/// it come before (one character may fold to several).
type StartAt = (u32, u8);

/// One automaton over alphabet codes, with the filter of where its words can start.
struct Automaton {
    starts: StartFilter,
    /// Each pattern's value is the index of its list of targets in `targets`.
    pma: CharwiseDoubleArrayAhoCorasick<u32>,
    targets: Lists<Target>,
}

impl Automaton {
    /// Heap bytes of the automaton, its targets and its start filter.
    fn heap_bytes(&self) -> usize {
        self.pma.heap_bytes() + self.targets.heap_bytes() + self.starts.heap_bytes()
    }
}

impl Automaton {
    /// Finds every target in `text` folded through `alphabet`, giving each with its original
    /// span (a target whose word's own repeats the text's runs do not reach is not found).
    ///
    /// One pass folds the text and tests each pair of neighbouring codes against the start
    /// filter; only where a word may begin is the automaton walked, anchored there
    /// ([`Automaton::walk_from`]).
    fn find_in(
        &self,
        alphabet: &Alphabet,
        text: &str,
        scratch: &mut Scratch,
        found: &mut impl FnMut(&Target, (usize, usize)),
    ) {
        let mut scan = Scan {
            automaton: self,
            alphabet,
            text,
            scratch,
            found,
            prev: NONE,
            prev_flags: 0,
            prev_at: 0,
            prev_ord: 0,
            prev_inside: false,
            last_at: u32::MAX,
            ord: 0,
            letter_end: u32::MAX,
            last_start: None,
        };
        alphabet.fold_text(text, &mut scan);
    }

    /// Walks the automaton from the root over the codes of `text` from `start`, reporting every
    /// word that begins exactly there; then, for the cut words whose first pieces it found, walks
    /// on from where each piece ended, until their last pieces are found or missing.
    #[inline(never)]
    fn walk_from(
        &self,
        alphabet: &Alphabet,
        text: &str,
        start: StartAt,
        scratch: &mut Scratch,
        found: &mut impl FnMut(&Target, (usize, usize)),
    ) {
        let Scratch {
            path,
            pending,
            expect,
        } = scratch;
        self.walk::<false>(
            alphabet,
            text,
            (start, (NONE, 0)),
            &[],
            path,
            pending,
            found,
        );
        while let Some(first) = pending.pop() {
            // Every cut word waiting at the same place is served by one walk.
            expect.clear();
            expect.push(first);
            let mut i = 0;
            while i < pending.len() {
                if (pending[i].from, pending[i].taken) == (first.from, first.taken) {
                    expect.push(pending.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            let at = (first.from, first.taken);
            self.walk::<true>(alphabet, text, at, expect, path, pending, found);
        }
    }

    /// One anchored walk from `(at, ord)` (skipping the first `ord` codes of the character at byte
    /// `at`, then `taken` codes equal to its code): with `expect` empty, reports the words that
    /// begin there and queues in `pending` the cut words whose first piece does; else only
    /// continues the cut words of `expect`. Stops as soon as no pattern begins with what was read.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn walk<const CONTINUES: bool>(
        &self,
        alphabet: &Alphabet,
        text: &str,
        ((at, ord), taken): (StartAt, (u16, u8)),
        expect: &[Pending],
        path: &mut Vec<Slot>,
        pending: &mut Vec<Pending>,
        found: &mut impl FnMut(&Target, (usize, usize)),
    ) {
        path.clear();
        let mut walk = Anchored::<_, CONTINUES> {
            automaton: self,
            text,
            stepper: self.pma.find_overlapping_stepper(),
            path,
            skip: ord,
            taken,
            last_at: u32::MAX,
            ord: 0,
            dead: false,
            expect,
            pending,
            found,
        };
        let mut i = at as usize;
        while i < text.len() && !walk.dead {
            i += alphabet.fold_one(text, i, &mut walk);
        }
        if !walk.dead {
            walk.report(None);
        }
    }

    /// The automaton of `patterns` given as codes of an alphabet of `alphabet_len` codes, of
    /// which `letters` are Latin letters.
    fn build(
        alphabet_len: usize,
        letters: impl IntoIterator<Item = u16>,
        patterns: Vec<(Vec<u16>, Ids)>,
        numbered: &Numbered<Target>,
    ) -> Result<Automaton, BuildError> {
        // In order, so that each pattern's path through the trie being built is mostly the one
        // before's, in cache (the value of a pattern is its list: order changes nothing else).
        let mut patterns = patterns;
        patterns.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // Words begin with a pattern that is not a later piece of a cut word.
        let begins = |t: &&Target| t.piece.is_none_or(|p| p.index == 0);
        let starts = StartFilter::build(
            patterns.iter().filter_map(|(codes, ids)| {
                let targets = ids.as_slice().iter().filter_map(|&n| numbered.get(n));
                let mut starting = targets.filter(begins).peekable();
                starting.peek().is_some().then(|| Start {
                    codes,
                    inside_letters: starting.any(|t| !t.letters_first),
                })
            }),
            alphabet_len,
            letters,
        );
        // Walks where words begin read the words and first pieces of a list; the walks that
        // continue cut words read the later pieces, in order of what they continue.
        let later = |t: &Target| t.piece.filter(|p| p.index > 0).map(|p| (p.chain, p.index));
        let (targets, lists) =
            Lists::of(
                patterns.iter().map(|(_, ids)| ids),
                numbered,
                |t| match later(t) {
                    Some((chain, index)) => (true, (chain, index)),
                    None => (false, first_key(t)),
                },
            );
        // Each pattern as the builder takes it, made as it reads it (millions, for big lists).
        // The builder's own prefilter is left out: only the walks' stepper is used.
        let encoded = patterns.iter().zip(lists).map(|((codes, _), list)| {
            let key: String = codes.iter().map(|&c| Alphabet::code_char(c)).collect();
            (key, list)
        });
        let mut pma = CharwiseDoubleArrayAhoCorasickBuilder::new()
            .match_kind(daachorse::MatchKind::Standard)
            .use_prefilter(false)
            .build_with_values(encoded)
            .map_err(|e| BuildError(e.to_string()))?;
        pma.cache_depths().map_err(|e| BuildError(e.to_string()))?;
        Ok(Automaton {
            starts,
            pma,
            targets,
        })
    }
}

/// The scan's sink: takes the folded codes of a message one by one, collapses runs, and hands
/// each position where a word may begin to [`Automaton::walk_from`].
struct Scan<'a, F> {
    automaton: &'a Automaton,
    alphabet: &'a Alphabet,
    text: &'a str,
    scratch: &'a mut Scratch,
    found: &'a mut F,
    /// The last distinct code with its flags, where its run began (byte offset, and how many
    /// codes of the same character came before it), and whether that was inside a run of letters.
    prev: u16,
    prev_flags: u8,
    prev_at: u32,
    prev_ord: u8,
    prev_inside: bool,
    /// The offset of the last code, and how many codes of that character came before it.
    last_at: u32,
    ord: u8,
    /// The offset just past the last ASCII Latin letter.
    letter_end: u32,
    /// The last position handed over (a one-code word's position may also begin a pair).
    last_start: Option<StartAt>,
}

impl<F: FnMut(&Target, (usize, usize))> Scan<'_, F> {
    /// A word may begin at `start`: walk from there, unless that was done already.
    #[cold]
    fn start(&mut self, start: StartAt) {
        if self.last_start != Some(start) {
            self.last_start = Some(start);
            self.automaton
                .walk_from(self.alphabet, self.text, start, self.scratch, self.found);
        }
    }
}

impl<F: FnMut(&Target, (usize, usize))> CodeSink for Scan<'_, F> {
    #[inline(always)]
    fn code(&mut self, code: u16, at: u32) {
        let ord = if at == self.last_at {
            self.ord.saturating_add(1)
        } else {
            0
        };
        self.last_at = at;
        self.ord = ord;
        let flags = self.automaton.starts.flags(code);
        let letter = flags & LETTER != 0;
        // Inside a run of letters when an ASCII letter ends right here (other letters are taken
        // as beginning a run, which only costs a walk).
        let inside = letter && self.letter_end == at;
        if letter {
            self.letter_end = at + 1;
        }
        if code == self.prev {
            return; // the run goes on: it begins where it began
        }
        if self.prev != NONE
            && self.automaton.starts.may_start(
                (self.prev, self.prev_flags),
                (code, flags),
                self.prev_inside,
            )
        {
            self.start((self.prev_at, self.prev_ord));
        }
        if flags & SINGLE != 0 {
            self.start((at, ord));
        }
        self.prev = code;
        self.prev_flags = flags;
        self.prev_at = at;
        self.prev_ord = ord;
        self.prev_inside = inside;
    }
}

/// The anchored walk's sink: collapses runs into `path` and steps the automaton per distinct
/// code; once a code's run is complete, reports the words that end there and began at the start.
/// `CONTINUES`: a walk that continues cut words (`expect`), else one where words begin.
struct Anchored<'a, F, const CONTINUES: bool> {
    automaton: &'a Automaton,
    text: &'a str,
    stepper: daachorse::charwise::iter::FindOverlappingStepper<'a, u32>,
    path: &'a mut Vec<Slot>,
    /// Codes of the first character still to skip.
    skip: u8,
    /// Codes equal to this one still to skip after them (a run the piece before took part of).
    taken: (u16, u8),
    /// The offset of the last code, and how many codes of that character came before it.
    last_at: u32,
    ord: u8,
    /// No word begins with what was read.
    dead: bool,
    /// The cut words this walk continues (empty where words begin).
    expect: &'a [Pending],
    /// Cut words found up to a piece, to walk on from where it ended.
    pending: &'a mut Vec<Pending>,
    found: &'a mut F,
}

impl<F: FnMut(&Target, (usize, usize)), const CONTINUES: bool> Anchored<'_, F, CONTINUES> {
    /// Reports the words that end at the last code of `path` (its run now complete), `next`
    /// being where the code after that run is (None at the end of the text).
    fn report(&mut self, next: Option<StartAt>) {
        let Some(&last) = self.path.last() else {
            return;
        };
        let start = self.path[0].origin as usize;
        let l = last.last as usize;
        let end = l + self.text[l..].chars().next().map_or(1, char::len_utf8);
        for m in self.stepper.matches() {
            if m.start() != 0 {
                continue; // a word that began later (the stepper began where this walk did)
            }
            let list = m.value() as usize;
            let targets = if CONTINUES {
                self.automaton.targets.second(list)
            } else {
                self.automaton.targets.first(list)
            };
            for t in targets {
                let repeated = t.runs.as_ref().is_none_or(|need| {
                    need.iter()
                        .zip(self.path.iter())
                        .all(|(need, s)| s.run >= *need)
                });
                if !repeated {
                    continue;
                }
                let Some(piece) = t.piece else {
                    if !CONTINUES {
                        (self.found)(t, (start, end));
                    }
                    continue;
                };
                // A piece of a cut word: a first piece where words begin, else each cut word
                // this walk continues that waits for it.
                let next_of = |origin, letters_first| Advance {
                    target: t,
                    piece,
                    origin,
                    letters_first,
                    end,
                    last,
                    next,
                };
                if !CONTINUES {
                    if grouped(t) {
                        // The rest of the part is grouped first pieces: one entry waits for all.
                        let waiting = Pending {
                            awaits: Awaits::Group(list as u32),
                            origin: start as u32,
                            from: (0, 0),
                            taken: (NONE, 0),
                        };
                        queue(self.pending, waiting, last, next, 1);
                        break;
                    }
                    if piece.index == 0 {
                        next_of(start as u32, t.letters_first).apply(self.pending, self.found);
                    }
                    continue;
                }
                for e in self.expect {
                    match e.awaits {
                        Awaits::Piece {
                            chain,
                            next,
                            letters_first,
                        } if (chain, next) == (piece.chain, piece.index) => {
                            next_of(e.origin, letters_first).apply(self.pending, self.found);
                        }
                        Awaits::Group(list) if piece.index == 1 => {
                            // The grouped first pieces of this cut word, found by halving.
                            let firsts = self.automaton.targets.first(list as usize);
                            let key = (1, piece.chain);
                            let from = firsts.partition_point(|f| first_key(f) < key);
                            let own = firsts[from..].iter().take_while(|f| first_key(f) == key);
                            for first in own {
                                next_of(e.origin, first.letters_first)
                                    .apply(self.pending, self.found);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Whether `t` is the first piece, not the only one, of a cut word that needs no repeats: such
/// pieces of one pattern are found together ([`Awaits::Group`]).
fn grouped(t: &Target) -> bool {
    t.runs.is_none() && t.piece.is_some_and(|p| p.index == 0 && !p.last)
}

/// The order of a list's first part: words and the other first pieces, then the grouped first
/// pieces by cut word.
fn first_key(t: &Target) -> (u32, u32) {
    let grouped = grouped(t);
    let chain = t.piece.filter(|_| grouped).map_or(0, |p| p.chain);
    (u32::from(grouped), chain)
}

/// Queues `waiting` where the next piece may begin: the next run, or inside this one when the
/// text's run (`last`) is longer than the piece needed (`need`: its own last code may begin the
/// next piece).
fn queue(
    pending: &mut Vec<Pending>,
    waiting: Pending,
    last: Slot,
    next: Option<StartAt>,
    need: u8,
) {
    if let Some(from) = next {
        pending.push(Pending { from, ..waiting });
    }
    if last.run > need {
        pending.push(Pending {
            from: (last.origin, last.origin_ord),
            taken: (last.code, need),
            ..waiting
        });
    }
}

/// A piece of a cut word found: where the word began and ended so far, and where the text goes on.
struct Advance<'t> {
    target: &'t Target,
    piece: Piece,
    origin: u32,
    letters_first: bool,
    /// End of the piece's span, its last run, and where the code after that run is.
    end: usize,
    last: Slot,
    next: Option<StartAt>,
}

impl Advance<'_> {
    /// Reports the word when this was its last piece, else queues the walks for the next.
    fn apply(self, pending: &mut Vec<Pending>, found: &mut impl FnMut(&Target, (usize, usize))) {
        let Advance {
            target: t,
            piece,
            origin,
            letters_first,
            end,
            last,
            next,
        } = self;
        if piece.last {
            let word = Target {
                letters_first,
                runs: None,
                piece: None,
                ..t.clone()
            };
            found(&word, (origin as usize, end));
            return;
        }
        let waiting = Pending {
            awaits: Awaits::Piece {
                chain: piece.chain,
                next: piece.index + 1,
                letters_first,
            },
            origin,
            from: (0, 0),
            taken: (NONE, 0),
        };
        let need = t.runs.as_ref().and_then(|r| r.last().copied()).unwrap_or(1);
        queue(pending, waiting, last, next, need);
    }
}

impl<F: FnMut(&Target, (usize, usize)), const CONTINUES: bool> CodeSink
    for Anchored<'_, F, CONTINUES>
{
    #[inline]
    fn code(&mut self, code: u16, at: u32) {
        let ord = if at == self.last_at {
            self.ord.saturating_add(1)
        } else {
            0
        };
        self.last_at = at;
        self.ord = ord;
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        if CONTINUES && self.taken.1 > 0 {
            if code == self.taken.0 {
                self.taken.1 -= 1;
                return;
            }
            self.taken.1 = 0;
        }
        match self.path.last_mut() {
            Some(s) if s.code == code => {
                s.run = s.run.saturating_add(1);
                s.last = at;
                return;
            }
            Some(_) => self.report(Some((at, ord))),
            None => {}
        }
        self.stepper.consume(Alphabet::code_char(code));
        self.path.push(Slot {
            code,
            origin: at,
            origin_ord: ord,
            last: at,
            run: 1,
        });
        if self.stepper.depth() != Some(self.path.len() as u32) {
            self.dead = true;
        }
    }
}

/// Raw words: an aho-corasick DFA (or NFA when large) whose pattern ids index `targets`.
struct Raw {
    ac: AhoCorasick,
    targets: Vec<Vec<Target>>,
}

/// Pattern bytes up to which the raw automaton is a DFA (about 30 MiB of tables at the limit).
const DFA_PATTERN_BYTES: usize = 100_000;

/// The compiled word matcher of one rules version.
#[derive(Default)]
pub struct Matcher {
    normalised: Option<Normalised>,
    raw: Option<Raw>,
}

impl Matcher {
    /// Builds the automatons over `strategies` (all of them: the caller passes the enabled ones).
    pub fn build(strategies: &[&Strategy]) -> Result<Matcher, BuildError> {
        Self::build_capped(strategies, Caps::DEFAULT)
    }

    /// [`Matcher::build`], cutting words of more than `caps.whole` spellings into pieces.
    fn build_capped(strategies: &[&Strategy], caps: Caps) -> Result<Matcher, BuildError> {
        // Normalised spellings: the words' own and their pinyin spellings.
        let mut spellings: foldhash::HashMap<Box<str>, Ids> = Default::default();
        let mut numbered: Numbered<Target> = Numbered::default();
        let mut raw: HashMap<String, Vec<Target>> = HashMap::new();
        // Sound-alike spellings: the words' own, over sound classes (allow words have none).
        let mut sound: Vec<(Spelling, Target)> = Vec::new();
        let mut chains = 0u32;
        for (si, s) in strategies.iter().enumerate() {
            let lists = [(&s.words, false), (&s.allow_words, true)];
            for (list, allow) in lists {
                for (wi, w) in list.iter().enumerate() {
                    let target = Target {
                        strategy: si,
                        word: wi,
                        allow,
                        letters_first: false,
                        letters_last: false,
                        runs: None,
                        piece: None,
                    };
                    if !s.normalize {
                        if !w.is_empty() {
                            raw.entry(w.clone()).or_default().push(target);
                        }
                        continue;
                    }
                    // Round 2: the word's pinyin spellings too (allow words keep their own
                    // spelling only, as with sound-alikes: an allow word allows what it says).
                    let Some(spelled) = spelled(w, s.pinyin && !allow, caps) else {
                        continue;
                    };
                    if s.sound_alike && !allow {
                        sound.push((spelled.own().clone(), target.clone()));
                    }
                    let mut add = |sp: Spelling, piece: Option<Piece>| {
                        let n = numbered.number(Target {
                            letters_first: sp.letters_first,
                            letters_last: sp.letters_last,
                            runs: sp.runs,
                            piece,
                            ..target.clone()
                        });
                        Ids::add_to(&mut spellings, sp.key.into_boxed_str(), n);
                    };
                    match spelled {
                        Spelled::Whole(all) => all.into_iter().for_each(|sp| add(sp, None)),
                        Spelled::Cut { pieces, .. } => {
                            let n = pieces.len();
                            for (k, piece) in pieces.into_iter().enumerate() {
                                let piece_of = Piece {
                                    chain: chains,
                                    index: k as u32,
                                    last: k + 1 == n,
                                };
                                piece.into_iter().for_each(|sp| add(sp, Some(piece_of)));
                            }
                            chains += 1;
                        }
                    }
                }
            }
        }
        let normalised = if spellings.is_empty() {
            None
        } else {
            let alphabet = Alphabet::build(spellings.keys().map(|k| &**k))
                .map_err(|e| BuildError(e.to_string()))?;
            let letters: Vec<u16> = ('a'..='z')
                .map(|c| alphabet.code_of(c))
                .filter(|&code| code != NONE)
                .collect();
            Some(Normalised {
                automaton: Automaton::build(
                    alphabet.len(),
                    letters,
                    coded(&alphabet, spellings),
                    &numbered,
                )?,
                sound: Sound::build(sound)?,
                alphabet,
            })
        };
        let raw = if raw.is_empty() {
            None
        } else {
            let (keys, targets): (Vec<String>, Vec<Vec<Target>>) = raw.into_iter().unzip();
            let pattern_bytes: usize = keys.iter().map(String::len).sum();
            let kind = if pattern_bytes <= DFA_PATTERN_BYTES {
                AhoCorasickKind::DFA
            } else {
                AhoCorasickKind::ContiguousNFA
            };
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(kind))
                .build(&keys)
                .map_err(|e| BuildError(e.to_string()))?;
            Some(Raw { ac, targets })
        };
        Ok(Matcher { normalised, raw })
    }

    /// Heap bytes used by the automatons.
    pub fn memory_usage(&self) -> usize {
        self.normalised.as_ref().map_or(0, |n| {
            n.automaton.heap_bytes() + n.sound.as_ref().map_or(0, |s| s.automaton.heap_bytes())
        }) + self.raw.as_ref().map_or(0, |r| r.ac.memory_usage())
    }

    /// Whether any word could match at all.
    pub fn is_empty(&self) -> bool {
        self.normalised.is_none() && self.raw.is_none()
    }

    /// Every word match in `text`, allow words applied, in order of position.
    pub fn find(&self, text: &str) -> Vec<WordMatch> {
        let mut words = Vec::new();
        let mut allows = Vec::new();
        let mut collect = |t: &Target, span: (usize, usize)| {
            // A pinyin spelling may not begin or end inside a longer run of letters.
            if (t.letters_first && pinyin::continues_letters(text, span.0, true))
                || (t.letters_last && pinyin::continues_letters(text, span.1, false))
            {
                return;
            }
            let m = WordMatch {
                strategy: t.strategy,
                word: t.word,
                span,
            };
            if t.allow {
                allows.push(m)
            } else {
                words.push(m)
            }
        };
        if let Some(n) = &self.normalised {
            thread_local! {
                // The walks' scratch, reused rather than allocated per message.
                static SCRATCH: std::cell::RefCell<Scratch> =
                    std::cell::RefCell::new(Scratch::default());
            }
            SCRATCH.with(|scratch| {
                let scratch = &mut *scratch.borrow_mut();
                n.automaton
                    .find_in(&n.alphabet, text, scratch, &mut collect);
                if let Some(sound) = &n.sound {
                    sound
                        .automaton
                        .find_in(&sound.alphabet, text, scratch, &mut collect);
                }
            });
        }
        if let Some(r) = &self.raw {
            for m in r.ac.find_overlapping_iter(text) {
                for t in &r.targets[m.pattern().as_usize()] {
                    collect(t, (m.start(), m.end()));
                }
            }
        }
        words.retain(|w| {
            !allows
                .iter()
                .any(|a| a.strategy == w.strategy && a.span.0 <= w.span.0 && w.span.1 <= a.span.1)
        });
        words.sort_by_key(|w| (w.span, w.strategy, w.word));
        // A word found both as typed and as a sound-alike is found once.
        words.dedup();
        words
    }
}

impl Sound {
    /// The sound-alike automaton of `spellings` (each a word's own spelling with its target).
    fn build(spellings: Vec<(Spelling, Target)>) -> Result<Option<Sound>, BuildError> {
        if spellings.is_empty() {
            return Ok(None);
        }
        let alphabet = super::sound::alphabet(spellings.iter().map(|(sp, _)| sp.key.as_str()))
            .map_err(|e| BuildError(e.to_string()))?;
        let mut patterns: foldhash::HashMap<Vec<u16>, Ids> = Default::default();
        let mut numbered = Numbered::default();
        for (sp, target) in spellings {
            // Characters that sound alike collapse into one run: `微威` reads `wei` twice.
            let own: Vec<u8> = match &sp.runs {
                Some(runs) => runs.to_vec(),
                None => vec![1; sp.key.chars().count()],
            };
            let (codes, runs) = collapse(alphabet.codes(&sp.key).into_iter().zip(own));
            let n = numbered.number(Target { runs, ..target });
            Ids::add_to(&mut patterns, codes, n);
        }
        let patterns = patterns.into_iter().collect();
        let automaton = Automaton::build(alphabet.len(), [], patterns, &numbered)?;
        Ok(Some(Sound {
            alphabet,
            automaton,
        }))
    }
}

/// Patterns keyed by normalised text, as codes of `alphabet`.
fn coded(alphabet: &Alphabet, patterns: foldhash::HashMap<Box<str>, Ids>) -> Vec<(Vec<u16>, Ids)> {
    patterns
        .into_iter()
        .map(|(k, t)| (alphabet.codes(&k), t))
        .collect()
}

/// One way the matcher spells a word: its key (normalised, runs collapsed), its own runs, and
/// whether pinyin letters reach its start or end.
#[derive(Clone)]
struct Spelling {
    key: String,
    runs: Option<std::sync::Arc<[u8]>>,
    letters_first: bool,
    letters_last: bool,
}

/// How the matcher spells a word.
enum Spelled {
    /// Every spelling: its own (normalised) first, then its pinyin spellings.
    Whole(Vec<Spelling>),
    /// Too many spellings to list: its own, and the word cut into pieces, each with its own
    /// spelling and its pinyin spellings ([`pinyin::pieces`]).
    Cut {
        own: Spelling,
        pieces: Vec<Vec<Spelling>>,
    },
}

impl Spelled {
    /// The word's own spelling, normalised (what sound-alikes read).
    fn own(&self) -> &Spelling {
        match self {
            Spelled::Whole(all) => &all[0],
            Spelled::Cut { own, .. } => own,
        }
    }
}

/// The spellings of `word` (with `pinyin`, its pinyin spellings too, cut into pieces past
/// `caps`); None for a word that normalises to nothing.
fn spelled(word: &str, pinyin: bool, caps: Caps) -> Option<Spelled> {
    let key = normalize(word).text;
    if key.is_empty() {
        return None;
    }
    let spell = |k: &str, letters_first, letters_last| {
        let (key, runs) = collapse_runs(k);
        Spelling {
            key,
            runs,
            letters_first,
            letters_last,
        }
    };
    let own = spell(&key, false, false);
    if !pinyin {
        return Some(Spelled::Whole(vec![own]));
    }
    if let Some(pieces) = pinyin::pieces(&key, caps.whole, caps.piece) {
        let pieces = pieces
            .into_iter()
            .map(|p| {
                p.into_iter()
                    .map(|v| spell(&v.key, v.letters_first, v.letters_last))
                    .collect()
            })
            .collect();
        return Some(Spelled::Cut { own, pieces });
    }
    let mut all = vec![own];
    all.extend(
        pinyin::variants(&key)
            .into_iter()
            .map(|v| spell(&v.key, v.letters_first, v.letters_last)),
    );
    Some(Spelled::Whole(all))
}

/// What a span the matcher reports for `word` holds once normalised and its runs collapsed: one of
/// these (the word's own spelling, then its pinyin spellings when `pinyin`). For properties and
/// fuzzing: a span holds one of them. Lists every spelling, which a long word of many-reading
/// characters has thousands of (the matcher itself finds such a word by pieces).
pub fn spellings(word: &str, pinyin: bool) -> Vec<String> {
    match spelled(word, pinyin, Caps::NEVER) {
        Some(Spelled::Whole(all)) => all.into_iter().map(|s| s.key).collect(),
        Some(Spelled::Cut { .. }) | None => Vec::new(),
    }
}

/// Normalised text with its runs collapsed (`私私下下` → `私下`), as the matcher reads it.
pub fn collapsed(normalised: &str) -> String {
    collapse_runs(normalised).0
}

/// A normalised word with its runs collapsed (`谢谢` → `谢`), and the length of each run when any
/// is longer than one.
fn collapse_runs(word: &str) -> (String, Option<std::sync::Arc<[u8]>>) {
    let (chars, runs) = collapse(word.chars().map(|c| (c, 1)));
    (chars.into_iter().collect(), runs)
}

/// Items with their run lengths, each run of equal items merged into one whose length is the sum;
/// the lengths only when some run is longer than one.
fn collapse<T: PartialEq>(
    items: impl IntoIterator<Item = (T, u8)>,
) -> (Vec<T>, Option<std::sync::Arc<[u8]>>) {
    let mut out: Vec<T> = Vec::new();
    let mut runs: Vec<u8> = Vec::new();
    for (item, run) in items {
        match (out.last(), runs.last_mut()) {
            (Some(last), Some(r)) if *last == item => *r = r.saturating_add(run),
            _ => {
                out.push(item);
                runs.push(run);
            }
        }
    }
    let runs = runs.iter().any(|&r| r > 1).then(|| runs.into());
    (out, runs)
}

/// One run of equal codes on the anchored walk's path: the code, the original byte offsets of the
/// run's first and last characters, and the run's length (round 2's repeats: `微微信` reads as
/// `微信` with a run of two).
#[derive(Clone, Copy)]
struct Slot {
    code: u16,
    origin: u32,
    /// How many codes of the run's first character come before it.
    origin_ord: u8,
    last: u32,
    run: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every spelling of a word (never cut), each as characters with every run's length.
    fn spellings(word: &str) -> Vec<(Vec<char>, Vec<u8>, bool, bool)> {
        let Some(Spelled::Whole(all)) = spelled(word, true, Caps::NEVER) else {
            return Vec::new();
        };
        all.into_iter()
            .map(|sp| {
                let chars: Vec<char> = sp.key.chars().collect();
                let runs = sp.runs.map_or_else(|| vec![1; chars.len()], |r| r.to_vec());
                (chars, runs, sp.letters_first, sp.letters_last)
            })
            .collect()
    }

    /// The reference for round 2, spelled out slowly: normalise the text, collapse its runs
    /// (keeping each run's length and its first and last original offsets), and find every
    /// spelling of every word where each run is long enough and its letters stand alone; with
    /// `sound`, also each word's own spelling read as sounds (every character with a sound stands
    /// for it, and runs are runs of one sound).
    fn reference(text: &str, words: &[&str], sound: bool) -> Vec<(usize, (usize, usize))> {
        let own = |c: char| c.to_string();
        let heard = |c: char| {
            super::super::sound::sound(c).map_or_else(|| c.to_string(), |s| format!("[{s}]"))
        };
        let mut out = search(text, words, false, &own);
        if sound {
            out.extend(search(text, words, true, &heard));
        }
        out.sort();
        out.dedup();
        out
    }

    /// One search of the reference: text and spellings as `class`es of their characters (only
    /// each word's own spelling when `own_only`).
    fn search(
        text: &str,
        words: &[&str],
        own_only: bool,
        class: &dyn Fn(char) -> String,
    ) -> Vec<(usize, (usize, usize))> {
        let n = normalize(text);
        let mut runs: Vec<(String, u8, usize, usize)> = Vec::new();
        for (i, c) in n.text.char_indices() {
            let at = n.origin[i] as usize;
            let k = class(c);
            match runs.last_mut() {
                Some(r) if r.0 == k => {
                    r.1 = r.1.saturating_add(1);
                    r.3 = at;
                }
                _ => runs.push((k, 1, at, at)),
            }
        }
        let mut out = Vec::new();
        for (wi, w) in words.iter().enumerate() {
            let all = spellings(w);
            let take = if own_only { 1 } else { all.len() };
            for (chars, need, first, last) in all.into_iter().take(take) {
                let mut classes: Vec<(String, u8)> = Vec::new();
                for (c, k) in chars.iter().zip(&need) {
                    let key = class(*c);
                    match classes.last_mut() {
                        Some(l) if l.0 == key => l.1 += k,
                        _ => classes.push((key, *k)),
                    }
                }
                if classes.is_empty() || classes.len() > runs.len() {
                    continue;
                }
                for p in 0..=runs.len() - classes.len() {
                    let window = &runs[p..p + classes.len()];
                    let fits = window
                        .iter()
                        .zip(&classes)
                        .all(|(r, (c, k))| r.0 == *c && r.1 >= *k);
                    if !fits {
                        continue;
                    }
                    let start = window[0].2;
                    let l = window[window.len() - 1].3;
                    let end = l + text[l..].chars().next().map_or(1, char::len_utf8);
                    if (first && pinyin::continues_letters(text, start, true))
                        || (last && pinyin::continues_letters(text, end, false))
                    {
                        continue;
                    }
                    out.push((wi, (start, end)));
                }
            }
        }
        out
    }

    /// Whether `span` (original text) is a spelling of `word`.
    fn spells(span: &str, word: &str) -> bool {
        let (collapsed, runs) = collapse_runs(&normalize(span).text);
        let chars: Vec<char> = collapsed.chars().collect();
        let runs = runs.map_or_else(|| vec![1; chars.len()], |r| r.to_vec());
        spellings(word)
            .into_iter()
            .any(|(want, need, _, _)| want == chars && need.iter().zip(&runs).all(|(k, r)| r >= k))
    }

    fn strategy(words: &[&str], allow: &[&str], normalize: bool) -> Strategy {
        Strategy {
            words: words.iter().map(|w| w.to_string()).collect(),
            allow_words: allow.iter().map(|w| w.to_string()).collect(),
            normalize,
            ..Strategy::new(1, "s")
        }
    }

    /// Checks a table of (text, the spans found in it) against `s`.
    fn check_table(s: &Strategy, cases: &[(&str, &[&str])]) {
        for (text, want) in cases {
            assert_eq!(words_found(s, text), *want, "{text}");
        }
    }

    fn words_found(s: &Strategy, text: &str) -> Vec<String> {
        let m = Matcher::build(&[s]).expect("build");
        m.find(text)
            .into_iter()
            .map(|w| text[w.span.0..w.span.1].to_owned())
            .collect()
    }

    #[test]
    fn table_of_evasions_and_innocent_neighbours() {
        let s = strategy(
            &["私下转账", "加我微信", "微信", "发票", "vx", "敏感词"],
            &["微信支付"],
            true,
        );
        let cases: &[(&str, &[&str])] = &[
            ("可以私下转账吗", &["私下转账"]),
            ("可以私下 轉賬吗", &["私下 轉賬"]),
            ("加 我 微 信", &["加 我 微 信", "微 信"]),
            ("加我🙂微.信", &["加我🙂微.信", "微.信"]),
            ("用微信支付就行", &[]),
            ("微信支付或者微信都行", &["微信"]),
            ("麻烦开發票", &["發票"]),
            ("加V\u{200B}X", &["V\u{200B}X"]),
            ("ＶＸ联系", &["ＶＸ"]),
            ("敏 感*词", &["敏 感*词"]),
            ("今天天气很好", &[]),
            ("私下", &[]),
        ];
        check_table(&s, cases);
    }

    #[test]
    fn pinyin_spellings_match_as_whole_runs_of_letters() {
        let s = strategy(&["微信", "发票", "银行", "谢"], &[], true);
        let cases: &[(&str, &[&str])] = &[
            ("加我weixin吧", &["weixin"]),
            ("加我 Wei Xin", &["Wei Xin"]),
            ("wēi xìn 联系", &["wēi xìn"]),
            ("加微xin", &["微xin"]),
            ("加wei信", &["wei信"]),
            ("ＷＥＩＸＩＮ", &["ＷＥＩＸＩＮ"]),
            ("yinhang 卡", &["yinhang"]), // 行 read hang
            ("开fa piao", &["fa piao"]),
            ("weixinpay 付款", &[]), // ends inside a longer run of letters
            ("myweixin", &[]),       // begins inside one
            ("fapiaos", &[]),
            ("xie xie", &[]), // one-character words get no pinyin
            ("weigh xin", &[]),
        ];
        check_table(&s, cases);
        let mut off = s.clone();
        off.pinyin = false;
        assert!(words_found(&off, "加我weixin吧").is_empty(), "pinyin off");
        assert_eq!(words_found(&off, "加我微信"), ["微信"]);
    }

    #[test]
    fn repeats_stand_for_one_occurrence_but_a_words_own_repeats_must_be_there() {
        let s = strategy(&["私下转账", "微信", "谢谢", "88"], &[], true);
        let cases: &[(&str, &[&str])] = &[
            ("私私下下转账", &["私私下下转账"]),
            ("加微微微信", &["微微微信"]),
            ("微 微.信", &["微 微.信"]),
            ("谢", &[]),
            ("谢谢", &["谢谢"]),
            ("谢谢谢", &["谢谢谢"]),
            ("QQ 8", &[]),
            ("QQ 888", &["888"]),
        ];
        check_table(&s, cases);
        let lone = strategy(&["谢"], &[], true);
        assert_eq!(
            words_found(&lone, "谢谢"),
            ["谢谢"],
            "a run stands for the one"
        );
    }

    #[test]
    fn sound_alikes_only_when_switched_on_and_never_for_allow_words() {
        let mut s = strategy(&["微信", "银行卡"], &["微信支付"], true);
        assert!(words_found(&s, "加我威信").is_empty(), "off by default");
        s.sound_alike = true;
        let cases: &[(&str, &[&str])] = &[
            ("加我威信", &["威信"]),
            ("薇信、维信、微新", &["薇信", "维信", "微新"]),
            ("加我微信", &["微信"]), // once, not again as its own sound-alike
            ("微神", &[]),           // 信 is also read shen: a rare reading is no sound
            ("用微信支付", &[]),
            ("用威信支付", &["威信"]), // the allow word allows what it says
            ("威威信", &["威威信"]),
            ("银形卡", &["银形卡"]), // 行 sounds xing, its most common reading
            ("银航卡", &[]),
            ("weixin", &["weixin"]), // pinyin still on beside it
        ];
        check_table(&s, cases);
        let allowed = Strategy {
            sound_alike: true,
            ..strategy(&["微信"], &["威信"], true)
        };
        assert_eq!(words_found(&allowed, "加我微信"), ["微信"]);
        assert!(words_found(&allowed, "他很有威信").is_empty());
        let own_repeat = Strategy {
            sound_alike: true,
            ..strategy(&["谢谢"], &[], true)
        };
        assert_eq!(words_found(&own_repeat, "谢蟹"), ["谢蟹"]);
        assert!(words_found(&own_repeat, "写").is_empty());
    }

    #[test]
    fn round_two_numerals_and_letters_in_words() {
        let s = strategy(&["vx", "幺三八"], &[], true);
        assert_eq!(words_found(&s, "加ⓥⓧ"), ["ⓥⓧ"]);
        assert_eq!(words_found(&s, "加vх"), ["vх"]); // Cyrillic х
        assert_eq!(words_found(&s, "打138"), ["138"]);
        assert_eq!(words_found(&s, "打①③⑧"), ["①③⑧"]);
    }

    #[test]
    fn a_word_may_begin_inside_a_character_that_folds_to_several() {
        // `⑩` folds to `1` `0`: a word may begin at its second code, or be that code alone.
        let s = strategy(&["0元", "0", "10元"], &[], true);
        let m = Matcher::build(&[&s]).expect("build");
        let found: Vec<(usize, &str)> = m
            .find("共⑩元")
            .iter()
            .map(|w| (w.word, &"共⑩元"[w.span.0..w.span.1]))
            .collect();
        assert_eq!(found, [(1, "⑩"), (0, "⑩元"), (2, "⑩元")]);
    }

    #[test]
    fn a_long_word_matches_in_every_mix_of_characters_and_pinyin() {
        // 9 characters, several with more than one reading: thousands of spellings, so the
        // word is found piece by piece (an earlier cap of 256 spellings missed most of these).
        let s = strategy(&["中华人民共和国万岁", "人民"], &[], true);
        let word = &["中华人民共和国万岁"];
        let cases: &[(&str, &[&str])] = &[
            ("zhonghuarenmingongheguowansui", word),
            (
                "喊 zhong hua ren min gong he guo wan sui!",
                &["zhong hua ren min gong he guo wan sui"],
            ),
            ("中华人民共和国wansui", word),
            ("ZhongHua人民共和国万岁", word),
            ("中华renmin共和国万岁", &["中华renmin共和国万岁"]),
            (
                "中 华 人 民 共 和 国 万 岁",
                &["中 华 人 民 共 和 国 万 岁"],
            ),
            ("中华人民人民共和国万岁", &[]),
            ("中华人民共和国万suiya", &[]), // the letters go on past its end
            ("xzhonghuarenmingongheguowansui", &[]), // or begin before its start
            ("中华人民共和国", &[]),
        ];
        let m = Matcher::build(&[&s]).expect("build");
        for (text, want) in cases {
            let want: Vec<&str> = if *want == word {
                vec![*text]
            } else {
                want.to_vec()
            };
            let found: Vec<&str> = m
                .find(text)
                .into_iter()
                .filter(|f| f.word == 0)
                .map(|f| &text[f.span.0..f.span.1])
                .collect();
            assert_eq!(found, want, "{text}");
        }
        // A run of the text split between two pieces: `min` + `ni` in `renminni` needs both n.
        let s = strategy(&["人民你好朋友再见啦"], &[], true);
        let m = Matcher::build_capped(&[&s], Caps { whole: 1, piece: 1 }).expect("build");
        assert_eq!(m.find("renminnihaopengyouzaijianla").len(), 1);
        assert!(m.find("renminihaopengyouzaijianla").is_empty());
        assert_eq!(
            m.find("人民你你好朋友再见啦").len(),
            1,
            "a run stands for one"
        );
        // A word's own repeat split between pieces (`感谢` + `谢绝`).
        let s = strategy(&["感谢谢绝"], &[], true);
        let m = Matcher::build_capped(&[&s], Caps { whole: 1, piece: 1 }).expect("build");
        assert_eq!(m.find("感谢谢绝").len(), 1);
        assert_eq!(
            m.find("感谢谢谢绝").len(),
            1,
            "a longer run stands for the two"
        );
        assert!(m.find("感谢绝").is_empty());
        assert_eq!(m.find("ganxiexiejue").len(), 1);
        assert_eq!(m.find("感谢xie绝").len(), 1);
    }

    #[test]
    fn long_words_with_noise_map_back_to_their_whole_span() {
        let word = "一二三四五六七八九十甲乙丙丁戊己庚辛壬癸子丑寅卯";
        let s = strategy(&[word, "卯"], &[], true);
        let typed: String = word.chars().flat_map(|c| [c, ' ', '*']).collect();
        let text = format!("前缀{typed}后缀");
        let found = words_found(&s, &text);
        assert_eq!(
            found,
            [
                typed.trim_end_matches([' ', '*']).to_owned(),
                "卯".to_owned()
            ]
        );
    }

    #[test]
    fn normalisation_off_matches_only_the_raw_text() {
        let s = strategy(&["微信"], &[], false);
        assert_eq!(words_found(&s, "加微信"), ["微信"]);
        assert!(words_found(&s, "加微 信").is_empty());
    }

    #[test]
    fn many_strategies_share_one_pass() {
        let a = strategy(&["转账"], &[], true);
        let mut b = strategy(&["转账", "银行卡"], &[], true);
        b.id = 2;
        let m = Matcher::build(&[&a, &b]).expect("build");
        let found = m.find("转账到银行卡");
        assert_eq!(found.iter().filter(|w| w.strategy == 0).count(), 1);
        assert_eq!(found.iter().filter(|w| w.strategy == 1).count(), 2);
    }
    /// The prefilter and the code alphabet must not change what is found: compare with a plain
    /// search of every word in the normalised text, over random texts built from word pieces,
    /// noise, traditional and full-width forms.
    #[test]
    fn agrees_with_a_plain_search_of_the_normalised_text() {
        let words = [
            "私下转账",
            "转账",
            "下转",
            "微信",
            "加我微信",
            "vx",
            "发票",
            "票",
            "a1",
            "谢谢",
            "谢",
            "88",
            "幺三八",
            "微谢谢信",
            "微信你好",
        ];
        // Round 2's classes among the pieces: pinyin syllables, numerals, look-alike letters,
        // sound-alikes, and repeats (which random pieces make often).
        let pieces = [
            "私", "下", "转", "账", "轉賬", "微", "信", "加", "我", "V", "Ｘ", "x", "發", "票",
            " ", "*", "😀", "好", "A", "１", "\u{200B}", "wei", "xin", "Xin", "fa", "piao", "谢",
            "xie", "8", "⑧", "八", "一", "幺", "三", "ⓥ", "х", "zhuan", "zhang", "p", "威", "新",
            "蟹", "飘", "斯", "夏", "微谢", "谢信", "ni", "你", "hao", "xinni",
        ];
        // Each with sound-alikes off and on; the second pair cuts every word of more than one
        // character into pieces (two characters each, or more with few spellings), as the
        // default caps cut long words.
        let matchers = [
            (false, Caps::DEFAULT),
            (true, Caps::DEFAULT),
            (false, Caps { whole: 1, piece: 1 }),
            (true, Caps { whole: 1, piece: 4 }),
        ]
        .map(|(sound, caps)| {
            let s = Strategy {
                sound_alike: sound,
                ..strategy(&words, &[], true)
            };
            Matcher::build_capped(&[&s], caps).expect("build")
        });
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..8_000 {
            let sound = i % 2 == 1;
            let matcher = &matchers[i % 4];
            let mut text = String::new();
            for _ in 0..12 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            let want = reference(&text, &words, sound);
            let mut got: Vec<(usize, (usize, usize))> = matcher
                .find(&text)
                .iter()
                .map(|m| (m.word, m.span))
                .collect();
            got.sort();
            got.dedup();
            assert_eq!(
                got,
                want,
                "{text} (sound-alikes {sound}, matcher {})",
                i % 4
            );
        }
    }

    /// Property: every hit's span is a substring of the original text (on character boundaries)
    /// that normalises to exactly its word, whatever noise, width, script or emoji surrounds it.
    #[test]
    fn every_span_maps_back_to_a_substring_that_normalises_to_its_word() {
        let words = ["私下转账", "微信", "vx", "发票", "ab12", "敏感词"];
        let s = strategy(&words, &[], true);
        let matcher = Matcher::build(&[&s]).expect("build");
        let pieces = [
            "私", "下", "轉", "转", "賬", "账", "微", "信", "V", "ｘ", "X", "發", "票", "敏", "感",
            "詞", "词", "A", "ｂ", "１", "2", " ", "*", "·", "😀", "👍🏻", "\u{200B}", "\u{FE0F}",
            "é", "\n", "【", "】",
        ];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut checked = 0;
        for _ in 0..3_000 {
            let mut text = String::new();
            for _ in 0..16 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            for m in matcher.find(&text) {
                let (a, b) = m.span;
                assert!(
                    a < b && text.is_char_boundary(a) && text.is_char_boundary(b),
                    "{text:?} {a}..{b}"
                );
                assert!(
                    spells(&text[a..b], words[m.word]),
                    "{text:?}: span {a}..{b} = {:?} is not {}",
                    &text[a..b],
                    words[m.word]
                );
                checked += 1;
            }
        }
        assert!(checked > 100, "only {checked} hits checked");
    }
}
