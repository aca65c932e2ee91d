//! Intel's multi-buffer RSA (ipp-crypto's `libcrypto_mb.so`, Apache-2.0), loaded at run time like
//! the vendor SDK: eight RSA-2048 private-key operations in one call with AVX-512 IFMA
//! (`mbx_rsa_private_crt_mb8`). This module owns the loading (the Intel runtime beside it first,
//! then the library, every symbol resolved up front), the CPU check, a self-test against OpenSSL
//! before the library is trusted, and the raw eight-lane call. Padding is checked elsewhere
//! (`pkcs1.rs`), in constant time; keys arrive already converted ([`CrtKey`]).

use std::ffi::c_void;
use std::path::{Path, PathBuf};

use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
use zeroize::Zeroizing;

/// Bytes of an RSA-2048 modulus, ciphertext or raw plaintext.
pub const RSA2K_BYTES: usize = 256;
/// 64-bit limbs of one RSA-2048 CRT prime (1024 bits).
const HALF_LIMBS: usize = 16;
/// Lanes of one call.
pub const LANES: usize = 8;

/// The Intel runtime `libcrypto_mb.so` links against, loaded from the library's directory first
/// (dependencies before dependents) so its `NEEDED` entries resolve without `LD_LIBRARY_PATH`.
const RUNTIME: [&str; 4] = ["libintlc.so.5", "libimf.so", "libsvml.so", "libirng.so"];

/// The library could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CryptoMbError {
    #[error("this CPU has no AVX-512 IFMA, which crypto_mb's RSA needs")]
    NoIfma,
    #[error(
        "no library given: set [crypto] library (or MSGAUDIT_CRYPTO_MB) to ipp-crypto's \
         libcrypto_mb.so; scripts/fetch-crypto-mb fetches it with the Intel runtime it needs"
    )]
    NoLibrary,
    #[error(
        "cannot load {path}: {reason} (fetch it with scripts/fetch-crypto-mb, which also fetches the \
         Intel runtime — libsvml, libimf, libirng, libintlc — into the same directory)"
    )]
    Load { path: PathBuf, reason: String },
    #[error("{path} lacks the symbol {symbol}: not ipp-crypto's libcrypto_mb.so")]
    Symbol { path: PathBuf, symbol: &'static str },
    #[error("{path} failed its self-test against OpenSSL: {reason}")]
    SelfTest { path: PathBuf, reason: String },
}

type PrivateCrtMb8 = unsafe extern "C" fn(
    from: *const *const u8,
    to: *const *mut u8,
    p: *const *const u64,
    q: *const *const u64,
    dp: *const *const u64,
    dq: *const *const u64,
    iq: *const *const u64,
    bits: i32,
    method: *const c_void,
    buffer: *mut u8,
) -> u32;
type MethodFn = unsafe extern "C" fn() -> *const c_void;
type BufSizeFn = unsafe extern "C" fn(*const c_void) -> i32;

/// An RSA-2048 private key's CRT components as the library wants them (little-endian 64-bit limbs),
/// and its modulus (big-endian bytes) for the range check. Zeroized on drop; `Debug` shows nothing
/// of it.
pub struct CrtKey {
    p: Zeroizing<[u64; HALF_LIMBS]>,
    q: Zeroizing<[u64; HALF_LIMBS]>,
    dp: Zeroizing<[u64; HALF_LIMBS]>,
    dq: Zeroizing<[u64; HALF_LIMBS]>,
    iq: Zeroizing<[u64; HALF_LIMBS]>,
    n: [u8; RSA2K_BYTES],
}

impl std::fmt::Debug for CrtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CrtKey(<redacted>)")
    }
}

fn limbs(bn: &openssl::bn::BigNumRef) -> Option<Zeroizing<[u64; HALF_LIMBS]>> {
    let be = Zeroizing::new(bn.to_vec_padded((HALF_LIMBS * 8) as i32).ok()?);
    let mut out = Zeroizing::new([0u64; HALF_LIMBS]);
    for (i, limb) in out.iter_mut().enumerate() {
        // Limb i holds bytes [8i, 8i+8) counted from the least significant end.
        let end = be.len() - 8 * i;
        let mut word = [0u8; 8];
        word.copy_from_slice(&be[end - 8..end]);
        *limb = u64::from_be_bytes(word);
        zeroize::Zeroize::zeroize(&mut word);
    }
    Some(out)
}

impl CrtKey {
    /// The key's CRT form, when it is a 2048-bit key with both primes of 1024 bits (None otherwise:
    /// such a key stays on OpenSSL).
    pub fn from_rsa(rsa: &openssl::rsa::RsaRef<openssl::pkey::Private>) -> Option<CrtKey> {
        let (p, q) = (rsa.p()?, rsa.q()?);
        if rsa.size() as usize != RSA2K_BYTES || p.num_bits() != 1024 || q.num_bits() != 1024 {
            return None;
        }
        let n = rsa.n().to_vec_padded(RSA2K_BYTES as i32).ok()?;
        Some(CrtKey {
            p: limbs(p)?,
            q: limbs(q)?,
            dp: limbs(rsa.dmp1()?)?,
            dq: limbs(rsa.dmq1()?)?,
            iq: limbs(rsa.iqmp()?)?,
            n: n.try_into().ok()?,
        })
    }

    /// Whether `c` (big-endian, 256 bytes) is below the modulus (public values: no secret is read).
    pub fn below_modulus(&self, c: &[u8; RSA2K_BYTES]) -> bool {
        c.as_slice() < self.n.as_slice()
    }
}

/// The loaded library. Its symbols stay valid while `self` lives (the libraries are never closed
/// before it drops).
pub struct CryptoMb {
    private_crt: PrivateCrtMb8,
    method: usize,
    buffer_size: usize,
    path: PathBuf,
    _libraries: Vec<Library>,
}

impl std::fmt::Debug for CryptoMb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CryptoMb({})", self.path.display())
    }
}

impl CryptoMb {
    /// Whether this CPU can run the library's RSA.
    pub fn cpu_supported() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512ifma")
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Loads the library at `path` (and the Intel runtime from its directory), checks the CPU, and
    /// runs a self-test against OpenSSL before trusting it.
    pub fn load(path: &Path) -> Result<CryptoMb, CryptoMbError> {
        if !CryptoMb::cpu_supported() {
            return Err(CryptoMbError::NoIfma);
        }
        let load_error = |reason: String| CryptoMbError::Load {
            path: path.to_owned(),
            reason,
        };
        if !path.is_file() {
            return Err(load_error("no such file".into()));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut libraries = Vec::new();
        for name in RUNTIME {
            let dep = dir.join(name);
            if dep.is_file() {
                // SAFETY: the Intel runtime's initialisers only set up its own tables.
                let lib = unsafe { Library::open(Some(&dep), RTLD_NOW | RTLD_GLOBAL) }
                    .map_err(|e| load_error(format!("{name}: {e}")))?;
                libraries.push(lib);
            }
        }
        // SAFETY: loading runs the library's initialisers, which only detect the CPU.
        let lib = unsafe { Library::open(Some(path), RTLD_NOW) }
            .map_err(|e| load_error(e.to_string()))?;
        let symbol_error = |symbol| CryptoMbError::Symbol {
            path: path.to_owned(),
            symbol,
        };
        // SAFETY: the signatures are those of crypto_mb/rsa.h (2019–2026 releases).
        let (private_crt, method, buffer_size) = unsafe {
            let private_crt: PrivateCrtMb8 = *lib
                .get::<PrivateCrtMb8>(b"mbx_rsa_private_crt_mb8\0")
                .map_err(|_| symbol_error("mbx_rsa_private_crt_mb8"))?;
            let method_fn: MethodFn = *lib
                .get::<MethodFn>(b"mbx_RSA2K_private_crt_Method\0")
                .map_err(|_| symbol_error("mbx_RSA2K_private_crt_Method"))?;
            let size_fn: BufSizeFn = *lib
                .get::<BufSizeFn>(b"mbx_RSA_Method_BufSize\0")
                .map_err(|_| symbol_error("mbx_RSA_Method_BufSize"))?;
            let method = method_fn();
            (private_crt, method, size_fn(method))
        };
        if method.is_null() || buffer_size <= 0 {
            return Err(CryptoMbError::SelfTest {
                path: path.to_owned(),
                reason: "no RSA-2048 CRT method".into(),
            });
        }
        libraries.push(lib);
        let mb = CryptoMb {
            private_crt,
            method: method as usize,
            buffer_size: buffer_size as usize,
            path: path.to_owned(),
            _libraries: libraries,
        };
        mb.self_test().map_err(|reason| CryptoMbError::SelfTest {
            path: path.to_owned(),
            reason,
        })?;
        Ok(mb)
    }

    /// The library's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Raw RSA (no padding) of up to eight lanes in one call: `c^d mod n` of each lane's
    /// ciphertext under its key, into `out`. Fewer than eight lanes are filled with copies of
    /// the first, so a short group still runs as one call. Returns which lanes succeeded.
    pub fn private_raw(
        &self,
        lanes: &[(&CrtKey, &[u8; RSA2K_BYTES])],
        out: &mut [[u8; RSA2K_BYTES]; LANES],
    ) -> [bool; LANES] {
        let mut ok = [false; LANES];
        let Some(&first) = lanes.first() else {
            return ok;
        };
        let lane = |i: usize| *lanes.get(i).unwrap_or(&first);
        let from: [*const u8; LANES] = std::array::from_fn(|i| lane(i).1.as_ptr());
        let to: [*mut u8; LANES] = {
            let mut it = out.iter_mut();
            std::array::from_fn(|_| it.next().map_or(std::ptr::null_mut(), |o| o.as_mut_ptr()))
        };
        let part = |f: fn(&CrtKey) -> &[u64; HALF_LIMBS]| -> [*const u64; LANES] {
            std::array::from_fn(|i| f(lane(i).0).as_ptr())
        };
        let (p, q) = (part(|k| &k.p), part(|k| &k.q));
        let (dp, dq, iq) = (part(|k| &k.dp), part(|k| &k.dq), part(|k| &k.iq));
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            if scratch.len() < self.buffer_size {
                scratch.resize(self.buffer_size, 0);
            }
            // SAFETY: every pointer is to LANES arrays of the sizes the RSA-2048 method reads
            // (256-byte inputs and outputs, 16-limb CRT parts); the scratch buffer has the size
            // the method asked for; `self` keeps the library loaded.
            let status = unsafe {
                (self.private_crt)(
                    from.as_ptr(),
                    to.as_ptr(),
                    p.as_ptr(),
                    q.as_ptr(),
                    dp.as_ptr(),
                    dq.as_ptr(),
                    iq.as_ptr(),
                    2048,
                    self.method as *const c_void,
                    scratch.as_mut_ptr(),
                )
            };
            for (i, done) in ok.iter_mut().enumerate().take(lanes.len()) {
                // Four status bits per lane; 0 is success.
                *done = (status >> (4 * i)) & 0xF == 0;
            }
        });
        ok
    }

    /// Decrypts raw RSA of two fresh keys' ciphertexts and compares with OpenSSL's raw result.
    fn self_test(&self) -> Result<(), String> {
        use openssl::rsa::{Padding, Rsa};
        let keys: Vec<Rsa<openssl::pkey::Private>> = (0..2)
            .map(|_| Rsa::generate(2048).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let crt: Vec<CrtKey> = keys
            .iter()
            .map(|k| CrtKey::from_rsa(k).ok_or("a generated key has no CRT form"))
            .collect::<Result<_, _>>()?;
        let mut inputs = Vec::new();
        let mut expected = Vec::new();
        for (i, k) in keys.iter().enumerate().cycle().take(LANES) {
            let mut c = [0u8; RSA2K_BYTES];
            let message = format!("msgaudit crypto_mb self-test lane {i} {}", inputs.len());
            k.public_encrypt(message.as_bytes(), &mut c, Padding::PKCS1)
                .map_err(|e| e.to_string())?;
            let mut raw = [0u8; RSA2K_BYTES];
            k.private_decrypt(&c, &mut raw, Padding::NONE)
                .map_err(|e| e.to_string())?;
            inputs.push((i, c));
            expected.push(raw);
        }
        let lanes: Vec<(&CrtKey, &[u8; RSA2K_BYTES])> =
            inputs.iter().map(|(i, c)| (&crt[*i], c)).collect();
        let mut out = [[0u8; RSA2K_BYTES]; LANES];
        let ok = self.private_raw(&lanes, &mut out);
        for i in 0..LANES {
            if !ok[i] {
                return Err(format!("lane {i} reported an error"));
            }
            if out[i] != expected[i] {
                return Err(format!("lane {i} differs from OpenSSL"));
            }
        }
        Ok(())
    }
}

thread_local! {
    /// Each thread's scratch for the library's method (it asks for a few KiB).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

// SAFETY: the function pointers and the method pointer point into a library that stays loaded
// while `CryptoMb` lives; the library's functions are reentrant (all state is in the caller's
// buffers, and each thread uses its own scratch).
unsafe impl Send for CryptoMb {}
unsafe impl Sync for CryptoMb {}
