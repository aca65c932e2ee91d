//! The pipeline's stages on realistic input (a generated archive pulled through the emulator):
//! - `decode_batch_1000`: the decrypt+parse stage — RSA + `DecryptData` over FFI + lenient parse +
//!   row mapping — for one batch of 1,000 messages on a rayon pool of all cores;
//! - `parse_row`: lenient parse + visible text + row mapping of one plaintext (no crypto);
//! - `store_batch_1000`: one SQLite transaction of 1,000 new rows plus the checkpoint.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use msgaudit::message::{ChatMessage, MessageRow};
use msgaudit::pipeline::{CorpContext, PulledBatch, decode_batch, decode_pool};
use msgaudit::sdk::RsaBackend;
use msgaudit::store::prelude::*;
use msgaudit::store::{SqliteStore, StoreBatch};

#[path = "common/mod.rs"]
mod common;

fn stages(c: &mut Criterion) {
    let common::Fixture {
        lib, batch, keys, ..
    } = common::fixture();
    let corp = Arc::new(CorpContext::new("wwbench", Arc::new(keys), 0));
    let pool = decode_pool(0).expect("pool");
    let decryptor = lib.decryptor();

    let mut group = c.benchmark_group("pipeline_stages");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1000));
    group.bench_function("decode_batch_1000", |b| {
        b.iter_batched(
            || PulledBatch {
                corp: corp.clone(),
                messages: batch.messages.clone(),
                from_seq: 0,
                checkpoint: 1000,
                spool: None,
            },
            |pulled| decode_batch(&pool, &decryptor, &RsaBackend::OpenSsl, pulled),
            BatchSize::LargeInput,
        )
    });

    let decoded = decode_batch(
        &pool,
        &decryptor,
        &RsaBackend::OpenSsl,
        PulledBatch {
            corp: corp.clone(),
            messages: batch.messages.clone(),
            from_seq: 0,
            checkpoint: 1000,
            spool: None,
        },
    );
    let plaintexts: Vec<Vec<u8>> = wework_finance_archive::Archive::open(
        wework_finance_archive::ArchiveOptions::resolve("wwbench?messages=1000&seed=7", None)
            .expect("options"),
    )
    .expect("archive")
    .iter()
    .map(|m| m.plaintext.into_bytes())
    .collect();
    group.sample_size(50);
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("parse_row", |b| {
        b.iter(|| {
            let p = &plaintexts[i % plaintexts.len()];
            i += 1;
            let m = ChatMessage::parse(p).expect("parses");
            MessageRow::from_message("wwbench", 1, 1, &m)
        })
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("bench.db")).expect("store");
    let mut round = 0u64;
    group.sample_size(20);
    group.throughput(Throughput::Elements(1000));
    group.bench_function("store_batch_1000", |b| {
        // Only the store call is timed: building fresh rows (new msgids) happens outside the clock.
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                let mut rows = decoded.store.messages.clone();
                // As in a real archive: new msgids, seq and time moving forward.
                for r in &mut rows {
                    r.msg_id = format!("{}-{round}", r.msg_id);
                    r.seq += round * 1000;
                    r.msg_time += round as i64 * 1_500_000;
                }
                let batch = StoreBatch {
                    corp_id: "wwbench".into(),
                    messages: rows,
                    dead_letters: Vec::new(),
                    checkpoint: round,
                    ..Default::default()
                };
                let started = std::time::Instant::now();
                store.store_batch(&batch).expect("store");
                spent += started.elapsed();
            }
            spent
        })
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
