//! Corp private keys, one per `publickey_ver`, and the RSA step that recovers each message's random
//! key from `encrypt_random_key`.
//!
//! Keys load from PEM in PKCS#1 (`BEGIN RSA PRIVATE KEY`, what `openssl genrsa` writes) or PKCS#8
//! (`BEGIN PRIVATE KEY`). The RSA private operation is OpenSSL's (constant-time, blinded); OpenSSL
//! clears private key material when the key is freed, PEM bytes we read are zeroized, and so is every
//! recovered random key. No key material appears in `Debug` output, errors or logs.

use std::collections::{BTreeMap, HashMap};
use std::ffi::c_char;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use openssl::pkey::Private;
use openssl::rsa::{Padding, Rsa};
use rayon::prelude::*;
use zeroize::Zeroizing;

use super::crypto_mb::{CrtKey, LANES, RSA2K_BYTES};
use super::rsa_backend::RsaBackend;

/// A private key could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read private key file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{origin} is not a usable RSA private key in PEM (PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8 \
         `BEGIN PRIVATE KEY`, unencrypted)"
    )]
    Pem { origin: String },
    #[error(
        "no private key for key version {version}: add the key of publickey_ver {version} to the corp's keys"
    )]
    UnknownVersion { version: u32 },
    #[error("encrypt_random_key is not valid base64 ({reason})")]
    Base64 { reason: String },
    #[error(
        "the private key of version {version} does not decrypt this encrypt_random_key: the key file for \
         that version is probably not the corp's key"
    )]
    Rsa { version: u32 },
    #[error("the decrypted random key is not a printable NUL-free string ({len} bytes)")]
    NotPrintable { len: usize },
}

/// One RSA private key, and its CRT form for the multi-buffer backend (converted once, when the
/// key is loaded; None for a key that backend cannot take). `Debug` shows only its size.
///
/// Keys are shared by content: loading the same PEM again (a vendor's thousands of corps often
/// share key files) returns the key already parsed and checked, while any holder keeps it alive.
#[derive(Clone)]
pub struct PrivateKey {
    inner: Arc<KeyMaterial>,
}

struct KeyMaterial {
    rsa: Rsa<Private>,
    crt: Option<CrtKey>,
}

/// Keys parsed so far, by the SHA-256 of their PEM (held weakly: a key no ring uses is freed).
fn loaded() -> &'static Mutex<HashMap<[u8; 32], Weak<KeyMaterial>>> {
    static LOADED: OnceLock<Mutex<HashMap<[u8; 32], Weak<KeyMaterial>>>> = OnceLock::new();
    LOADED.get_or_init(|| Mutex::new(HashMap::new()))
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey {{ bits: {} }}", self.inner.rsa.size() * 8)
    }
}

impl PrivateKey {
    /// Parses a PEM key (PKCS#1 or PKCS#8). `origin` names it in errors (a path, never the key).
    /// A PEM already loaded (by content) is not parsed or checked again.
    pub fn from_pem(pem: &[u8], origin: &str) -> Result<PrivateKey, KeyError> {
        let digest = openssl::sha::sha256(pem);
        let known = loaded()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
            .and_then(Weak::upgrade);
        if let Some(inner) = known {
            return Ok(PrivateKey { inner });
        }
        let pem_error = || KeyError::Pem {
            origin: origin.to_owned(),
        };
        let pkey = openssl::pkey::PKey::private_key_from_pem(pem).map_err(|_| pem_error())?;
        let rsa = pkey.rsa().map_err(|_| pem_error())?;
        rsa.check_key().map_err(|_| pem_error())?;
        let crt = CrtKey::from_rsa(&rsa);
        let inner = Arc::new(KeyMaterial { rsa, crt });
        let mut cache = loaded().lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, k| k.strong_count() > 0);
        cache.insert(digest, Arc::downgrade(&inner));
        Ok(PrivateKey { inner })
    }

    /// Reads and parses a PEM key file; the file's bytes are zeroized after parsing.
    pub fn from_file(path: impl AsRef<Path>) -> Result<PrivateKey, KeyError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let pem = Zeroizing::new(std::fs::read(path).map_err(|source| KeyError::Read {
            path: shown.clone(),
            source,
        })?);
        PrivateKey::from_pem(&pem, &shown)
    }

    /// Key size in bytes (256 for RSA-2048).
    pub fn size(&self) -> usize {
        self.inner.rsa.size() as usize
    }

    /// Raw RSA PKCS#1 v1.5 private decryption into `out` (at least [`PrivateKey::size`] bytes);
    /// returns the plaintext length. `None` when the ciphertext does not decrypt under this key.
    pub fn decrypt_pkcs1(&self, ciphertext: &[u8], out: &mut [u8]) -> Option<usize> {
        self.inner
            .rsa
            .private_decrypt(ciphertext, out, Padding::PKCS1)
            .ok()
    }
}

/// A message's random key, recovered by RSA: the `encrypt_key` argument of `DecryptData`.
/// Stored NUL-terminated for the C call and zeroized on drop.
pub struct RandomKey(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for RandomKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RandomKey(<redacted>)")
    }
}

impl RandomKey {
    /// Wraps key bytes, checking they are printable and NUL-free as the SDK requires.
    pub fn new(bytes: &[u8]) -> Result<RandomKey, KeyError> {
        if bytes.is_empty() || !bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
            return Err(KeyError::NotPrintable { len: bytes.len() });
        }
        let mut v = Zeroizing::new(Vec::with_capacity(bytes.len() + 1));
        v.extend_from_slice(bytes);
        v.push(0);
        Ok(RandomKey(v))
    }

    /// The key's bytes (without the terminating NUL).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0[..self.0.len() - 1]
    }

    pub(crate) fn as_c_ptr(&self) -> *const c_char {
        self.0.as_ptr().cast()
    }
}

/// A corp's private keys by `publickey_ver`.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: BTreeMap<u32, PrivateKey>,
}

impl KeyRing {
    pub fn new() -> KeyRing {
        KeyRing::default()
    }

    /// Adds (or replaces) the key of `version`.
    pub fn insert(&mut self, version: u32, key: PrivateKey) {
        self.keys.insert(version, key);
    }

    pub fn get(&self, version: u32) -> Option<&PrivateKey> {
        self.keys.get(&version)
    }

    /// The key versions held, ascending.
    pub fn versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }

    /// Whether both rings hold the same keys under the same versions (keys compare by content:
    /// a PEM loaded twice is one key while either is held).
    pub fn same_keys(&self, other: &KeyRing) -> bool {
        self.keys.len() == other.keys.len()
            && self
                .keys
                .iter()
                .zip(&other.keys)
                .all(|((v, a), (w, b))| v == w && Arc::ptr_eq(&a.inner, &b.inner))
    }

    /// Recovers the random keys of many messages (`(publickey_ver, encrypt_random_key)` each) with
    /// `backend`, on the current rayon pool; results in input order, each exactly what
    /// [`KeyRing::decrypt_random_key`] gives (the same key or the same error). With crypto_mb the
    /// messages are grouped by key version and decrypted eight at a time; a key that backend cannot
    /// take, and a group's leftovers, still run as one eight-lane call or on OpenSSL.
    pub fn decrypt_random_keys(
        &self,
        backend: &RsaBackend,
        items: &[(u32, &str)],
    ) -> Vec<Result<RandomKey, KeyError>> {
        let RsaBackend::CryptoMb(mb) = backend else {
            return items
                .par_iter()
                .with_min_len(8)
                .map(|(v, k)| self.decrypt_random_key(*v, k))
                .collect();
        };
        let mut out: Vec<Option<Result<RandomKey, KeyError>>> = Vec::with_capacity(items.len());
        out.resize_with(items.len(), || None);
        // Lanes per key version: (input index, ciphertext) once the cheap checks pass.
        let mut by_version: BTreeMap<u32, Vec<Lane>> = BTreeMap::new();
        for (i, (version, b64)) in items.iter().enumerate() {
            let key = match self.get(*version) {
                Some(k) => k,
                None => {
                    out[i] = Some(Err(KeyError::UnknownVersion { version: *version }));
                    continue;
                }
            };
            let Some(crt) = &key.inner.crt else {
                out[i] = Some(self.decrypt_random_key(*version, b64));
                continue;
            };
            match mb_ciphertext(crt, *version, b64) {
                Ok(c) => by_version.entry(*version).or_default().push((i, c)),
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        let groups: Vec<(u32, &[Lane])> = by_version
            .iter()
            .flat_map(|(v, lanes)| lanes.chunks(LANES).map(move |c| (*v, c)))
            .collect();
        let done: Vec<Vec<(usize, Result<RandomKey, KeyError>)>> = groups
            .par_iter()
            .map(|(version, group)| {
                let Some(crt) = self.get(*version).and_then(|k| k.inner.crt.as_ref()) else {
                    return Vec::new();
                };
                let lanes: Vec<(&CrtKey, &[u8; RSA2K_BYTES])> =
                    group.iter().map(|(_, c)| (crt, &**c)).collect();
                let mut raw = Zeroizing::new([[0u8; RSA2K_BYTES]; LANES]);
                let ok = mb.private_raw(&lanes, &mut raw);
                group
                    .iter()
                    .enumerate()
                    .map(|(lane, (i, _))| {
                        let result = if ok[lane] {
                            match super::pkcs1::unpad_in_place(&mut raw[lane]) {
                                Some(len) => RandomKey::new(&raw[lane][..len]),
                                None => Err(KeyError::Rsa { version: *version }),
                            }
                        } else {
                            Err(KeyError::Rsa { version: *version })
                        };
                        (*i, result)
                    })
                    .collect()
            })
            .collect();
        for (i, r) in done.into_iter().flatten() {
            out[i] = Some(r);
        }
        out.into_iter()
            .zip(items)
            .map(|(r, (v, k))| r.unwrap_or_else(|| self.decrypt_random_key(*v, k)))
            .collect()
    }

    /// base64-decodes `encrypt_random_key` and RSA-decrypts it with the key of `version`.
    pub fn decrypt_random_key(
        &self,
        version: u32,
        encrypt_random_key: &str,
    ) -> Result<RandomKey, KeyError> {
        let key = self
            .get(version)
            .ok_or(KeyError::UnknownVersion { version })?;
        let mut ciphertext = [0u8; 1024];
        let n = B64
            .decode_slice(encrypt_random_key.trim(), &mut ciphertext)
            .map_err(|e| KeyError::Base64 {
                reason: e.to_string(),
            })?;
        let mut plain = Zeroizing::new(vec![0u8; key.size()]);
        let len = key
            .decrypt_pkcs1(&ciphertext[..n], &mut plain)
            .ok_or(KeyError::Rsa { version })?;
        RandomKey::new(&plain[..len])
    }
}

/// One message's place in a batch and its checked ciphertext.
type Lane = (usize, Box<[u8; RSA2K_BYTES]>);

/// A ciphertext for the multi-buffer backend, checked as OpenSSL checks it: base64, at most the
/// modulus' length (shorter is left-padded with zeros), and below the modulus.
fn mb_ciphertext(
    crt: &CrtKey,
    version: u32,
    b64: &str,
) -> Result<Box<[u8; RSA2K_BYTES]>, KeyError> {
    let mut buf = [0u8; 1024];
    let n = B64
        .decode_slice(b64.trim(), &mut buf)
        .map_err(|e| KeyError::Base64 {
            reason: e.to_string(),
        })?;
    if n > RSA2K_BYTES {
        return Err(KeyError::Rsa { version });
    }
    let mut c = Box::new([0u8; RSA2K_BYTES]);
    c[RSA2K_BYTES - n..].copy_from_slice(&buf[..n]);
    if !crt.below_modulus(&c) {
        return Err(KeyError::Rsa { version });
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/keys")
            .join(name)
    }

    #[test]
    fn loads_pkcs1_and_pkcs8_and_never_prints_material() {
        let v1 = PrivateKey::from_file(fixture("v1_private.pem")).expect("PKCS#1 loads");
        let v2 = PrivateKey::from_file(fixture("v2_private.pem")).expect("PKCS#8 loads");
        assert_eq!((v1.size(), v2.size()), (256, 256));
        assert_eq!(format!("{v1:?}"), "PrivateKey { bits: 2048 }");
        let k = RandomKey::new(b"abcdefghijklmnopqrstuvwxyz012345").expect("printable");
        assert_eq!(format!("{k:?}"), "RandomKey(<redacted>)");
    }

    #[test]
    fn the_same_key_file_is_parsed_once_and_shared() {
        let a = PrivateKey::from_file(fixture("v1_private.pem")).expect("loads");
        let b = PrivateKey::from_file(fixture("v1_private.pem")).expect("loads again");
        let c = PrivateKey::from_file(fixture("v2_private.pem")).expect("another key");
        assert!(Arc::ptr_eq(&a.inner, &b.inner), "one parse, shared");
        assert!(!Arc::ptr_eq(&a.inner, &c.inner));
    }

    #[test]
    fn rejects_public_keys_and_garbage() {
        let public = std::fs::read(fixture("v1_public.pem")).expect("fixture");
        assert!(matches!(
            PrivateKey::from_pem(&public, "v1_public.pem"),
            Err(KeyError::Pem { .. })
        ));
        assert!(matches!(
            PrivateKey::from_pem(b"nonsense", "x"),
            Err(KeyError::Pem { .. })
        ));
        assert!(matches!(
            PrivateKey::from_file("/nonexistent/key.pem"),
            Err(KeyError::Read { .. })
        ));
    }

    #[test]
    fn round_trip_and_each_failure() {
        let mut ring = KeyRing::new();
        ring.insert(
            1,
            PrivateKey::from_file(fixture("v1_private.pem")).expect("loads"),
        );
        ring.insert(
            2,
            PrivateKey::from_file(fixture("v2_private.pem")).expect("loads"),
        );
        let public =
            Rsa::public_key_from_pem(&std::fs::read(fixture("v1_public.pem")).expect("fixture"))
                .expect("public key");
        let mut ct = vec![0u8; 256];
        let n = public
            .public_encrypt(b"0123456789abcdefABCDEFGHIJ+/=xyz", &mut ct, Padding::PKCS1)
            .expect("encrypts");
        let b64 = B64.encode(&ct[..n]);
        assert!(ring.decrypt_random_key(1, &b64).is_ok());
        assert!(matches!(
            ring.decrypt_random_key(2, &b64),
            Err(KeyError::Rsa { version: 2 })
        ));
        assert!(matches!(
            ring.decrypt_random_key(3, &b64),
            Err(KeyError::UnknownVersion { version: 3 })
        ));
        assert!(matches!(
            ring.decrypt_random_key(1, "***"),
            Err(KeyError::Base64 { .. })
        ));
        assert_eq!(ring.versions().collect::<Vec<_>>(), [1, 2]);
    }
}
