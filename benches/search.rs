//! Search over a large SQLite archive, and what keeping the archive index costs the writer:
//! - builds (once, cached under `target/bench-search/`) a store of `SEARCH_BENCH_MESSAGES`
//!   (default 1,000,000) generated messages — the emulator's archive, parsed into rows — written
//!   in batches of 1,000 through the store's own writer, and prints how long that took;
//! - `search/*`: one page (50, newest first) of a keyword search as the workspace asks it: a
//!   keyword through the FTS5 index (common and rare), normalised,
//!   with a sender filter, a keyword no message has, and a two-character keyword;
//! - `write/store_batch_1000[_no_archive_index]`: one batch of 1,000 new rows with and without
//!   the conversation tables and search index, in one run, so their ratio is the index's cost.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use msgaudit::message::{ChatMessage, MessageRow};
use msgaudit::store::prelude::*;
use msgaudit::store::{SearchQuery, SqliteStore, StoreBatch, TextMatch};
use wework_finance_archive::{ArchiveOptions, generated_message};

const CORP: &str = "wwbench";

/// Rows `from..to` of the generated archive (seed 11).
fn rows(from: u64, to: u64) -> Vec<MessageRow> {
    let opts = ArchiveOptions {
        messages: to,
        seed: 11,
        ..ArchiveOptions::default()
    };
    (from..to)
        .filter_map(|seq| {
            let m = generated_message(&opts, seq);
            let parsed = ChatMessage::parse(m.plaintext.as_bytes()).ok()?;
            Some(MessageRow::from_message(CORP, seq, 1, &parsed))
        })
        .collect()
}

/// The cached big store (built when missing or of another size).
fn big_store(messages: u64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-search");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let path = dir.join(format!("search-{messages}.db"));
    let done = dir.join(format!("search-{messages}.done"));
    if done.exists() {
        return path;
    }
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    let store = SqliteStore::open(&path).expect("store");
    let started = Instant::now();
    let mut written = Duration::ZERO;
    let mut seq = 1;
    while seq <= messages {
        let end = (seq + 1000).min(messages + 1);
        let batch = StoreBatch {
            corp_id: CORP.into(),
            messages: rows(seq, end),
            checkpoint: end - 1,
            ..StoreBatch::default()
        };
        let t = Instant::now();
        store.store_batch(&batch).expect("store");
        written += t.elapsed();
        seq = end;
        if seq % 100_000 == 1 {
            eprintln!("search bench: {} messages stored", seq - 1);
        }
    }
    println!(
        "search bench: built a store of {messages} messages in {:.0} s ({:.0} s in the writer, {:.1} µs a message; {:.0} MiB)",
        started.elapsed().as_secs_f64(),
        written.as_secs_f64(),
        written.as_secs_f64() * 1e6 / messages as f64,
        std::fs::metadata(&path).map_or(0.0, |m| m.len() as f64 / 1_048_576.0)
    );
    std::fs::write(&done, b"").expect("mark");
    path
}

fn search(c: &mut Criterion) {
    let messages: u64 = std::env::var("SEARCH_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let store = SqliteStore::open(big_store(messages)).expect("store");
    let query = |text: &str, how: TextMatch| SearchQuery {
        text: Some(text.into()),
        text_match: how,
        limit: 50,
        ..SearchQuery::default()
    };
    let cases: Vec<(&str, SearchQuery)> = vec![
        ("common_keyword", query("私下转账", TextMatch::Plain)),
        ("rare_keyword", query("售后政策", TextMatch::Plain)),
        ("normalised", query("私下轉賬", TextMatch::Normalised)),
        (
            "keyword_and_sender",
            SearchQuery {
                from_id: Some("zhangsan".into()),
                ..query("合同已经发到你邮箱", TextMatch::Plain)
            },
        ),
        ("no_match", query("量子纠缠计算机", TextMatch::Plain)),
        ("two_characters", query("发票", TextMatch::Plain)),
    ];
    for (name, q) in &cases {
        let found = store.search(q).expect("search").len();
        println!("search bench: {name} finds {found} on its first page");
    }
    let mut group = c.benchmark_group("search");
    group.sample_size(20);
    for (name, q) in &cases {
        group.bench_function(*name, |b| b.iter(|| store.search(q).expect("search")));
    }
    group.finish();

    // The writer with and without the archive index, alternating in one run.
    let dir = tempfile::tempdir().expect("temp dir");
    let with = SqliteStore::open(dir.path().join("with.db")).expect("store");
    let without = SqliteStore::open(dir.path().join("without.db"))
        .expect("store")
        .without_archive_index();
    let template = rows(1, 1001);
    let mut group = c.benchmark_group("write");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1000));
    for (name, store) in [
        ("store_batch_1000", &with),
        ("store_batch_1000_no_archive_index", &without),
    ] {
        let mut round = 0u64;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    let mut rows = template.clone();
                    for r in &mut rows {
                        r.msg_id = format!("{}-{round}", r.msg_id);
                        r.seq += round * 1000;
                        r.msg_time += round as i64 * 1_500_000;
                    }
                    let batch = StoreBatch {
                        corp_id: CORP.into(),
                        messages: rows,
                        checkpoint: round * 1000,
                        ..StoreBatch::default()
                    };
                    let t = Instant::now();
                    store.store_batch(&batch).expect("store");
                    spent += t.elapsed();
                }
                spent
            })
        });
    }
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
