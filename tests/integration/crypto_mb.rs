//! The multi-buffer RSA backend (ipp-crypto's `libcrypto_mb.so`, fetched from PyPI into
//! `target/crypto-mb/` by `scripts/fetch-crypto-mb`, never committed) against OpenSSL: for many
//! random keys and ciphertexts — well formed, malformed paddings, short and long, out of range,
//! broken base64 — the batch path gives the same random key or the same error as OpenSSL one at a
//! time. Skipped, loudly, only when the CPU lacks AVX-512 IFMA or the wheels cannot be fetched.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use msgaudit::sdk::crypto_mb::CryptoMb;
use msgaudit::sdk::{KeyRing, PrivateKey, RsaBackend};
use openssl::bn::BigNum;
use openssl::rsa::{Padding, Rsa};

use crate::support::root;

/// The library: `$MSGAUDIT_CRYPTO_MB`, or fetched once into target/crypto-mb/lib.
pub fn crypto_mb_library() -> Result<PathBuf, String> {
    if !CryptoMb::cpu_supported() {
        return Err("this CPU has no AVX-512 IFMA".into());
    }
    if let Some(p) = std::env::var_os("MSGAUDIT_CRYPTO_MB") {
        return Ok(PathBuf::from(p));
    }
    let out = std::process::Command::new(root().join("scripts/fetch-crypto-mb"))
        .output()
        .map_err(|e| format!("cannot run scripts/fetch-crypto-mb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/fetch-crypto-mb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The backend, or a loud skip.
pub fn crypto_mb_backend() -> Option<RsaBackend> {
    match crypto_mb_library().and_then(|p| CryptoMb::load(&p).map_err(|e| e.to_string())) {
        Ok(mb) => Some(RsaBackend::CryptoMb(std::sync::Arc::new(mb))),
        Err(why) => {
            eprintln!("\n\n*** SKIPPED: crypto_mb cannot run here: {why} ***\n\n");
            None
        }
    }
}

/// xorshift, seeded: the cases are the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn printable(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| 0x21 + (self.next() % 94) as u8).collect()
    }
}

/// Raw RSA "encryption" of a chosen block (any padding, or none).
fn raw(rsa: &Rsa<openssl::pkey::Private>, block: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 256];
    let n = rsa
        .public_encrypt(block, &mut out, Padding::NONE)
        .expect("raw RSA");
    out.truncate(n);
    out
}

fn block(rng: &mut Rng, ps: usize, msg: &[u8], header: [u8; 2]) -> Vec<u8> {
    let mut b = header.to_vec();
    b.extend((0..ps).map(|_| 1 + (rng.next() % 255) as u8));
    b.push(0);
    b.extend_from_slice(msg);
    b.resize(256, 0x41);
    b
}

#[test]
fn crypto_mb_agrees_with_openssl_on_every_input() {
    let Some(backend) = crypto_mb_backend() else {
        return;
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut ring = KeyRing::new();
    let mut cases: Vec<(u32, String)> = Vec::new();
    for version in 1..=10u32 {
        let rsa = Rsa::generate(2048).expect("key");
        let pem = rsa.private_key_to_pem().expect("pem");
        ring.insert(
            version,
            PrivateKey::from_pem(&pem, "generated").expect("loads"),
        );
        let mut add = |c: &[u8]| cases.push((version, B64.encode(c)));
        for _ in 0..12 {
            // Well formed: the SDK's 32 printable bytes, and other lengths.
            let msg = rng.printable(32);
            let mut ct = vec![0u8; 256];
            rsa.public_encrypt(&msg, &mut ct, Padding::PKCS1)
                .expect("encrypt");
            add(&ct);
        }
        let msg = rng.printable(5);
        let mut ct = vec![0u8; 256];
        rsa.public_encrypt(&msg, &mut ct, Padding::PKCS1)
            .expect("encrypt");
        add(&ct);
        // Malformed paddings.
        let m = rng.printable(32);
        add(&raw(&rsa, &block(&mut rng, 256 - 3 - 32, &m, [0, 1])));
        add(&raw(&rsa, &block(&mut rng, 256 - 3 - 32, &m, [0, 3])));
        let (m200, m245) = (rng.printable(200), rng.printable(245));
        add(&raw(&rsa, &block(&mut rng, 7, &m200, [0, 2])));
        add(&raw(&rsa, &block(&mut rng, 8, &m245, [0, 2])));
        let mut no_sep = vec![0u8, 2];
        no_sep.extend((0..254).map(|_| 1 + (rng.next() % 255) as u8));
        add(&raw(&rsa, &no_sep));
        add(&raw(&rsa, &block(&mut rng, 253, b"", [0, 2])));
        add(&raw(
            &rsa,
            &block(&mut rng, 200, &[0x01, 0x7f, 0x20], [0, 2]),
        ));
        let mut random = rng.bytes(256);
        random[0] = 0;
        add(&raw(&rsa, &random));
        // Lengths: a short ciphertext (a leading zero byte dropped), one too long, none.
        let mut small = vec![0u8; 256];
        small[1] = 1;
        let short = raw(&rsa, &small);
        let trimmed: Vec<u8> = short.iter().copied().skip_while(|b| *b == 0).collect();
        add(&trimmed);
        add(&short[..255]);
        let mut long = short.clone();
        long.push(0);
        add(&long);
        add(&[]);
        // Out of range: the modulus itself, above it, all ones.
        let n = rsa.n().to_vec_padded(256).expect("n");
        add(&n);
        let mut above = BigNum::from_slice(&n).expect("bn");
        above.add_word(1).expect("add");
        add(&above.to_vec_padded(256).expect("pad"));
        add(&[0xff; 256]);
    }
    cases.push((1, "***not base64***".into()));
    cases.push((99, cases[0].1.clone()));
    let items: Vec<(u32, &str)> = cases.iter().map(|(v, c)| (*v, c.as_str())).collect();
    let batched = ring.decrypt_random_keys(&backend, &items);
    let mut agreed_keys = 0;
    for ((v, c), got) in items.iter().zip(&batched) {
        let want = ring.decrypt_random_key(*v, c);
        match (&want, got) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.as_bytes(), b.as_bytes(), "version {v}, {c}");
                agreed_keys += 1;
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "version {v}, {c}"),
            _ => panic!("version {v}, {c}: OpenSSL {want:?}, crypto_mb {got:?}"),
        }
    }
    assert!(agreed_keys >= 130, "{agreed_keys} keys recovered");
    assert!(batched.len() > 250);
    // The OpenSSL backend through the same batch call agrees too.
    let openssl = ring.decrypt_random_keys(&RsaBackend::OpenSsl, &items);
    for (a, b) in openssl.iter().zip(&batched) {
        assert_eq!(a.is_ok(), b.is_ok());
    }
}
