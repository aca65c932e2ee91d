//! RSA-2048 PKCS#1 v1.5 private decryption of a 32-byte random key — the one operation per archived
//! message that bounds the whole pipeline — with three backends, on one core, over the same test
//! key and ciphertexts:
//! - `openssl`: OpenSSL 3 through the `openssl` crate (msgaudit's choice; constant-time, blinded);
//! - `aws_lc_rs`: AWS-LC through `aws-lc-rs` (constant-time, blinded);
//! - `rsa_crate`: the pure-Rust `rsa` crate with blinding (not constant-time: RUSTSEC-2023-0071);
//! - `crypto_mb`: Intel's multi-buffer RSA (AVX-512 IFMA) through msgaudit's backend, eight
//!   messages a call with the padding removed in constant time — measured per message, and only
//!   when the library is there (`scripts/fetch-crypto-mb`) and the CPU has IFMA.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use openssl::pkey::PKey;
use openssl::rsa::{Padding, Rsa};

const KEY_PEM: &str = include_str!("../../../fixtures/keys/v1_private.pem");

fn ciphertexts(rsa: &Rsa<openssl::pkey::Private>) -> Vec<Vec<u8>> {
    (0..64u8)
        .map(|i| {
            let key: Vec<u8> = (0..32).map(|j| b'A' + (i.wrapping_add(j) % 26)).collect();
            let mut out = vec![0; rsa.size() as usize];
            let n = rsa
                .public_encrypt(&key, &mut out, Padding::PKCS1)
                .expect("encrypt");
            out.truncate(n);
            out
        })
        .collect()
}

fn backends(c: &mut Criterion) {
    let rsa = Rsa::private_key_from_pem(KEY_PEM.as_bytes()).expect("test key");
    let cts = ciphertexts(&rsa);
    let pkcs8 = PKey::from_rsa(rsa.clone())
        .expect("pkey")
        .private_key_to_pkcs8()
        .expect("pkcs8");
    let mut group = c.benchmark_group("rsa2048_pkcs1v15_decrypt");
    group.throughput(Throughput::Elements(1));

    let mut i = 0;
    let mut buf = vec![0u8; rsa.size() as usize];
    group.bench_function("openssl", |b| {
        b.iter(|| {
            i = (i + 1) % cts.len();
            let n = rsa
                .private_decrypt(&cts[i], &mut buf, Padding::PKCS1)
                .expect("openssl decrypts");
            assert_eq!(n, 32);
        })
    });

    let aws = aws_lc_rs::rsa::Pkcs1PrivateDecryptingKey::new(
        aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(&pkcs8).expect("aws-lc key"),
    )
    .expect("pkcs1 key");
    let mut out = vec![0u8; aws.min_output_size()];
    group.bench_function("aws_lc_rs", |b| {
        b.iter(|| {
            i = (i + 1) % cts.len();
            let plain = aws.decrypt(&cts[i], &mut out).expect("aws-lc decrypts");
            assert_eq!(plain.len(), 32);
        })
    });

    use rsa::pkcs8::DecodePrivateKey;
    let pure = rsa::RsaPrivateKey::from_pkcs8_der(&pkcs8).expect("rsa key");
    let mut rng = rand::thread_rng();
    group.bench_function("rsa_crate", |b| {
        b.iter(|| {
            i = (i + 1) % cts.len();
            let plain = pure
                .decrypt_blinded(&mut rng, rsa::Pkcs1v15Encrypt, &cts[i])
                .expect("rsa decrypts");
            assert_eq!(plain.len(), 32);
        })
    });
    let library = std::env::var_os("MSGAUDIT_CRYPTO_MB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/crypto-mb/lib/libcrypto_mb.so")
        });
    match msgaudit::sdk::crypto_mb::CryptoMb::load(&library) {
        Err(e) => eprintln!("crypto_mb left out: {e}"),
        Ok(mb) => {
            use base64::Engine;
            let backend = msgaudit::sdk::RsaBackend::CryptoMb(std::sync::Arc::new(mb));
            let mut ring = msgaudit::sdk::KeyRing::new();
            ring.insert(
                1,
                msgaudit::sdk::PrivateKey::from_pem(KEY_PEM.as_bytes(), "test key").expect("key"),
            );
            let b64: Vec<String> = cts
                .iter()
                .map(|c| base64::engine::general_purpose::STANDARD.encode(c))
                .collect();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .expect("pool");
            group.throughput(Throughput::Elements(8));
            let mut at = 0;
            group.bench_function("crypto_mb", |b| {
                b.iter(|| {
                    at = (at + 8) % (b64.len() - 8);
                    let items: Vec<(u32, &str)> =
                        b64[at..at + 8].iter().map(|c| (1, c.as_str())).collect();
                    let keys = pool.install(|| ring.decrypt_random_keys(&backend, &items));
                    assert!(keys.iter().all(|k| k.as_ref().is_ok_and(|k| k.as_bytes().len() == 32)));
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, backends);
criterion_main!(benches);
