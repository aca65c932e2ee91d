//! The SDK boundary, per message, through the real FFI path (emulator `.so` via libloading):
//! - `rsa_random_key`: base64 + RSA-2048 PKCS#1 v1.5 private decryption of `encrypt_random_key`;
//! - `decrypt_data`: `DecryptData` over the C ABI (the emulator's cipher plus buffer handling);
//! - `get_chat_data`: one `GetChatData` call of 1,000 messages (the emulator's own cost: it encrypts
//!   every message it serves, which the pipeline's pull stage pays).

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
#[path = "common/mod.rs"]
mod common;

fn boundary(c: &mut Criterion) {
    let common::Fixture {
        lib,
        mut session,
        batch,
        keys,
    } = common::fixture();
    let decryptor = lib.decryptor();
    let random_keys: Vec<_> = batch
        .messages
        .iter()
        .map(|m| {
            keys.decrypt_random_key(m.publickey_ver, &m.encrypt_random_key)
                .expect("RSA")
        })
        .collect();

    let mut group = c.benchmark_group("sdk_boundary");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("rsa_random_key", |b| {
        b.iter(|| {
            let m = &batch.messages[i % batch.messages.len()];
            i += 1;
            keys.decrypt_random_key(m.publickey_ver, &m.encrypt_random_key)
                .expect("RSA")
        })
    });
    let mut i = 0;
    group.bench_function("decrypt_data", |b| {
        b.iter(|| {
            let n = i % batch.messages.len();
            i += 1;
            decryptor
                .decrypt_data(&random_keys[n], &batch.messages[n].encrypt_chat_msg)
                .expect("DecryptData")
        })
    });
    group.throughput(Throughput::Elements(1000));
    group.sample_size(10);
    let mut seq = 0u64;
    group.bench_function("get_chat_data_1000", |b| {
        b.iter(|| {
            let got = session
                .get_chat_data(seq % 99_000, 1000, Duration::from_secs(10))
                .expect("pull");
            seq += 1000;
            got
        })
    });
    group.finish();
}

criterion_group!(benches, boundary);
criterion_main!(benches);
