//! The word matcher on a synthetic Chinese corpus with 10,000 words (2–4 common characters each, a few
//! with ASCII), over the visible text of generated archive messages:
//! - `aho_corasick_raw_baseline`: the `aho-corasick` crate alone over the raw text, overlapping;
//! - `matcher_normalized`: our matcher with normalisation on (fold + simplify + skip noise, offset
//!   map, one automaton pass, allow words, span mapping);
//! - `matcher_raw`: our matcher with normalisation off;
//! - `fold_to_codes_only`: the normalising pass alone, producing the automaton's codes;
//! - `daachorse_over_prenormalised_text`: the `daachorse` automaton alone (its own loop and
//!   prefilter) over text normalised beforehand: what matching costs once folding is free.
//!
//! Throughput is bytes of original text; messages per second follow from the corpus size printed.

use aho_corasick::{AhoCorasick, MatchKind};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use msgaudit::audit::Strategy;
use msgaudit::audit::alphabet::{Alphabet, CodeSink};
use msgaudit::audit::matcher::Matcher;
use msgaudit::audit::normalize::normalize;
use msgaudit::message::{ChatMessage, visible_text};

/// Counts the codes the folding pass produces (and sums them, so none is optimised away).
struct CountCodes(u64);

impl CodeSink for CountCodes {
    fn code(&mut self, code: u16, at: u32) {
        self.0 += u64::from(code) + u64::from(at);
    }
}

fn corpus() -> Vec<String> {
    let opts =
        wework_finance_archive::ArchiveOptions::resolve("wwbench?messages=5000&seed=9", None)
            .expect("options");
    wework_finance_archive::Archive::open(opts)
        .expect("archive")
        .iter()
        .filter_map(|m| ChatMessage::parse(m.plaintext.as_bytes()).ok())
        .map(|m| visible_text(&m))
        .filter(|t| !t.is_empty())
        .collect()
}

fn strategy(words: &[String], normalize: bool) -> Strategy {
    Strategy {
        words: words.to_vec(),
        allow_words: vec!["微信支付".into()],
        normalize,
        ..Strategy::new(1, "bench")
    }
}

fn matcher(c: &mut Criterion) {
    let words = msgaudit::bench::synthetic_words(10_000);
    let texts = corpus();
    let bytes: usize = texts.iter().map(String::len).sum();
    println!(
        "corpus: {} messages, {bytes} bytes, {} words",
        texts.len(),
        words.len()
    );
    let raw_ac = AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .build(&words)
        .expect("automaton");
    let norm = Matcher::build(&[&strategy(&words, true)]).expect("matcher");
    let raw = Matcher::build(&[&strategy(&words, false)]).expect("matcher");
    let started = std::time::Instant::now();
    let _ = Matcher::build(&[&strategy(&words, true)]).expect("matcher");
    println!(
        "automaton: built in {:.0} ms, {:.1} MiB (normalised matcher); baseline NFA {:.1} MiB",
        started.elapsed().as_secs_f64() * 1e3,
        norm.memory_usage() as f64 / 1048576.0,
        raw_ac.memory_usage() as f64 / 1048576.0
    );

    let mut group = c.benchmark_group("matcher_10k_words");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(20);
    group.bench_function("aho_corasick_raw_baseline", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| raw_ac.find_overlapping_iter(t.as_str()).count())
                .sum::<usize>()
        })
    });
    let daac: daachorse::CharwiseDoubleArrayAhoCorasick<u32> =
        daachorse::CharwiseDoubleArrayAhoCorasick::new(&words).expect("automaton");
    let normalised: Vec<String> = texts.iter().map(|t| normalize(t).text).collect();
    group.bench_function("daachorse_over_prenormalised_text", |b| {
        b.iter(|| {
            normalised
                .iter()
                .map(|t| daac.find_overlapping_iter(t.as_str()).count())
                .sum::<usize>()
        })
    });
    group.bench_function("matcher_normalized", |b| {
        b.iter(|| texts.iter().map(|t| norm.find(t).len()).sum::<usize>())
    });
    group.bench_function("matcher_raw", |b| {
        b.iter(|| texts.iter().map(|t| raw.find(t).len()).sum::<usize>())
    });
    let normalised_words: Vec<String> = words.iter().map(|w| normalize(w).text).collect();
    let alphabet = Alphabet::build(normalised_words.iter().map(String::as_str)).expect("alphabet");
    group.bench_function("fold_to_codes_only", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| {
                    let mut sink = CountCodes(0);
                    alphabet.fold_text(t, &mut sink);
                    sink.0
                })
                .sum::<u64>()
        })
    });
    group.finish();
}

criterion_group!(benches, matcher);
criterion_main!(benches);
