//! The emulator's encryption: what WeCom is known to do, plus a documented stand-in for the part that
//! is private.
//!
//! Known part: every message gets a fresh random key; the key is encrypted with RSA-2048 PKCS#1 v1.5
//! under the corp public key of the message's `publickey_ver` and base64-encoded
//! (`encrypt_random_key`). Private part, our stand-in (see `ffi/README.md`): the key is 32 printable
//! ASCII characters used directly as an AES-256-GCM key; `encrypt_chat_msg` is
//! `base64(nonce[12] ‖ key_check[4] ‖ ciphertext ‖ tag[16])` with
//! `key_check = sha256("wwemu-key-check" ‖ key)[..4]`, so a wrong key (10008) can be told from a
//! damaged message (10006). The daemon never implements this: it always calls `DecryptData`.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::pkey::Public;
use openssl::rsa::{Padding, Rsa};
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

const NONCE: usize = 12;
const CHECK: usize = 4;
const TAG: usize = 16;
/// Length of the random key string, in bytes.
pub const KEY_LEN: usize = 32;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Why `DecryptData` refused (mapped to SDK codes by the caller).
#[derive(Debug, PartialEq, Eq)]
pub enum DecryptFailure {
    /// The key is malformed or not the one this message was encrypted with (10008).
    BadKey,
    /// The message is not valid base64 or does not authenticate (10006).
    BadMessage,
}

/// Public keys for versions 1..=3 (test-only fixtures, compiled in).
fn public_key(version: u32) -> Option<&'static Rsa<Public>> {
    static KEYS: OnceLock<Vec<Rsa<Public>>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        [
            include_str!("../../../fixtures/keys/v1_public.pem"),
            include_str!("../../../fixtures/keys/v2_public.pem"),
            include_str!("../../../fixtures/keys/v3_public.pem"),
        ]
        .iter()
        .filter_map(|pem| Rsa::public_key_from_pem(pem.as_bytes()).ok())
        .collect()
    });
    keys.get((version as usize).checked_sub(1)?)
}

/// A fresh random key string (32 alphanumeric characters).
pub fn fresh_key() -> [u8; KEY_LEN] {
    let mut raw = [0u8; KEY_LEN];
    // rand_bytes only fails when the OS RNG is broken; fall back to a time-derived key then,
    // which is acceptable for a test emulator.
    if openssl::rand::rand_bytes(&mut raw).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in raw.iter_mut().enumerate() {
            *b = (t >> (i % 16)) as u8 ^ i as u8;
        }
    }
    raw.map(|b| ALPHABET[b as usize % ALPHABET.len()])
}

/// A key from a pool of `size` keys per key version, each encrypted once (the `key_pool` option):
/// (the key, its `encrypt_random_key`). Which one a message gets follows from `pick`.
pub fn pooled_key(version: u32, size: u64, pick: u64) -> Option<([u8; KEY_LEN], String)> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    type Pool = std::sync::Arc<Vec<([u8; KEY_LEN], String)>>;
    type Pools = Mutex<HashMap<(u32, u64), Pool>>;
    static POOLS: OnceLock<Pools> = OnceLock::new();
    let pools = POOLS.get_or_init(|| Mutex::new(HashMap::new()));
    let pool = {
        let mut pools = pools.lock().ok()?;
        match pools.get(&(version, size)) {
            Some(p) => p.clone(),
            None => {
                let mut fresh = Vec::with_capacity(size as usize);
                for _ in 0..size.max(1) {
                    let key = fresh_key();
                    fresh.push((key, encrypt_key(version, &key)?));
                }
                let fresh = std::sync::Arc::new(fresh);
                pools.insert((version, size), fresh.clone());
                fresh
            }
        }
    };
    pool.get((pick % pool.len() as u64) as usize).cloned()
}

/// `encrypt_random_key`: base64 of RSA PKCS#1 v1.5 over the key string.
pub fn encrypt_key(version: u32, key: &[u8; KEY_LEN]) -> Option<String> {
    let rsa = public_key(version)?;
    let mut out = vec![0u8; rsa.size() as usize];
    let n = rsa.public_encrypt(key, &mut out, Padding::PKCS1).ok()?;
    Some(B64.encode(&out[..n]))
}

fn key_check(key: &[u8]) -> [u8; CHECK] {
    let mut input = b"wwemu-key-check".to_vec();
    input.extend_from_slice(key);
    let digest = openssl::sha::sha256(&input);
    [digest[0], digest[1], digest[2], digest[3]]
}

/// `encrypt_chat_msg` for a plaintext under a key string.
pub fn encrypt_message(key: &[u8; KEY_LEN], plaintext: &[u8]) -> Option<String> {
    let mut nonce = [0u8; NONCE];
    openssl::rand::rand_bytes(&mut nonce).ok()?;
    let mut tag = [0u8; TAG];
    let ct = encrypt_aead(
        Cipher::aes_256_gcm(),
        key,
        Some(&nonce),
        &[],
        plaintext,
        &mut tag,
    )
    .ok()?;
    let mut out = Vec::with_capacity(NONCE + CHECK + ct.len() + TAG);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&key_check(key));
    out.extend_from_slice(&ct);
    out.extend_from_slice(&tag);
    Some(B64.encode(out))
}

/// The inverse of [`encrypt_message`], as `DecryptData` performs it.
pub fn decrypt_message(key: &[u8], message: &[u8]) -> Result<Vec<u8>, DecryptFailure> {
    if key.len() != KEY_LEN || !key.iter().all(|b| b.is_ascii_graphic()) {
        return Err(DecryptFailure::BadKey);
    }
    let raw = B64
        .decode(message)
        .map_err(|_| DecryptFailure::BadMessage)?;
    if raw.len() < NONCE + CHECK + TAG {
        return Err(DecryptFailure::BadMessage);
    }
    let (nonce, rest) = raw.split_at(NONCE);
    let (check, rest) = rest.split_at(CHECK);
    let (ct, tag) = rest.split_at(rest.len() - TAG);
    if check != key_check(key) {
        return Err(DecryptFailure::BadKey);
    }
    decrypt_aead(Cipher::aes_256_gcm(), key, Some(nonce), &[], ct, tag)
        .map_err(|_| DecryptFailure::BadMessage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_failure_kinds() {
        let key = fresh_key();
        let msg = encrypt_message(&key, "你好\u{0}world".as_bytes()).expect("encrypts");
        assert_eq!(
            decrypt_message(&key, msg.as_bytes()).expect("decrypts"),
            "你好\u{0}world".as_bytes()
        );
        let other = fresh_key();
        assert_eq!(
            decrypt_message(&other, msg.as_bytes()),
            Err(DecryptFailure::BadKey)
        );
        assert_eq!(
            decrypt_message(b"short", msg.as_bytes()),
            Err(DecryptFailure::BadKey)
        );
        assert_eq!(
            decrypt_message(&key, b"!!!not base64"),
            Err(DecryptFailure::BadMessage)
        );
        let mut raw = B64.decode(&msg).expect("b64");
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            decrypt_message(&key, B64.encode(raw).as_bytes()),
            Err(DecryptFailure::BadMessage)
        );
    }

    #[test]
    fn every_key_version_encrypts() {
        let key = fresh_key();
        for v in 1..=3 {
            let b64 = encrypt_key(v, &key).expect("known version");
            assert_eq!(B64.decode(b64).expect("b64").len(), 256);
        }
        assert!(encrypt_key(4, &key).is_none());
    }
}
