//! `[crypto]`: which RSA implementation recovers the messages' random keys — `backend = "auto"`
//! (default: crypto_mb when its library loads and the CPU has AVX-512 IFMA, else OpenSSL),
//! `"openssl"` or `"crypto_mb"` (an error at start when it cannot run) — and `library`, the path
//! of ipp-crypto's `libcrypto_mb.so` (relative to the config file; default
//! `$MSGAUDIT_CRYPTO_MB`). `scripts/fetch-crypto-mb` fetches it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::sdk::BackendChoice;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCrypto {
    #[serde(default)]
    pub backend: BackendChoice,
    pub library: Option<PathBuf>,
}

/// The RSA settings.
#[derive(Debug, Clone, Default)]
pub struct CryptoConfig {
    pub backend: BackendChoice,
    pub library: Option<PathBuf>,
}

pub(super) fn crypto(raw: &RawCrypto, base: &Path) -> CryptoConfig {
    CryptoConfig {
        backend: raw.backend,
        library: raw.library.as_ref().map(|p| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        }),
    }
}
