//! The durable spool on a real batch (1,000 messages pulled through the emulator, as WeCom sends
//! them: still encrypted):
//! - `encode_frame_1000`: prost encoding + CRC-32C framing of the batch, no I/O;
//! - `round_trip_1000`: the spool's whole per-batch cost in the daemon — append and fsync, read
//!   back and check, release (the segment goes once stored) — on this machine's disk.
//!
//! Throughput is in bytes (the framed record), so the figures read as the spool's MiB/s.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use msgaudit::spool::record::{SpoolRecord, encode_frame};
use msgaudit::spool::{ReadOutcome, Spool, SpoolSettings};

#[path = "common/mod.rs"]
mod common;

fn spool(c: &mut Criterion) {
    let common::Fixture { batch, .. } = common::fixture();
    let record = SpoolRecord {
        corp_id: "wwbench".into(),
        from_seq: 0,
        checkpoint: 1000,
        pulled_at_ms: 1_700_000_000_000,
        count: batch.messages.len() as u32,
        messages: batch.messages.iter().cloned().map(Into::into).collect(),
    };
    let mut frame = Vec::new();
    let bytes = encode_frame(&record, 16, &mut frame) as u64;
    println!(
        "spool bench: one framed batch of {} messages is {:.2} MiB",
        record.messages.len(),
        bytes as f64 / 1_048_576.0
    );

    let mut group = c.benchmark_group("spool");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("encode_frame_1000", |b| {
        let mut out = Vec::with_capacity(frame.len());
        b.iter(|| {
            out.clear();
            encode_frame(&record, 16, &mut out)
        })
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let spool =
        Spool::open(SpoolSettings::new(dir.path().join("spool"), 2048 << 20)).expect("open");
    let mut appender = spool.appender();
    let mut reader = spool.reader();
    let acker = spool.acker();
    let records = [record];
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("round_trip_1000", |b| {
        b.iter(|| {
            appender.append(&records).expect("append");
            match reader.next(Duration::from_secs(1)).expect("read") {
                ReadOutcome::Record(at, r) => {
                    acker.stored(at).expect("release");
                    r.count
                }
                other => panic!("the record just appended: {other:?}"),
            }
        })
    });
    group.finish();
}

criterion_group!(benches, spool);
criterion_main!(benches);
