//! Which RSA implementation recovers the messages' random keys: OpenSSL (one operation at a
//! time; the default and the fallback) or crypto_mb (eight at a time with AVX-512 IFMA), chosen
//! once at start from `[crypto]` — `auto` takes crypto_mb when its library loads, passes its
//! self-test and the CPU has IFMA — with the reason kept for the log, `status` and `bench`.

use std::path::PathBuf;
use std::sync::Arc;

use super::crypto_mb::{CryptoMb, CryptoMbError};

/// The RSA implementation in use.
#[derive(Debug, Clone, Default)]
pub enum RsaBackend {
    #[default]
    OpenSsl,
    CryptoMb(Arc<CryptoMb>),
}

impl RsaBackend {
    pub fn name(&self) -> &'static str {
        match self {
            RsaBackend::OpenSsl => "openssl",
            RsaBackend::CryptoMb(_) => "crypto_mb",
        }
    }
}

/// What `[crypto] backend` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    /// crypto_mb when it can run here, else OpenSSL.
    #[default]
    Auto,
    Openssl,
    CryptoMb,
}

/// The backend chosen, and why.
#[derive(Debug, Clone)]
pub struct ChosenBackend {
    pub backend: RsaBackend,
    pub reason: String,
}

/// `[crypto] backend = "crypto_mb"` could not be honoured.
#[derive(Debug, thiserror::Error)]
#[error("[crypto] backend = \"crypto_mb\": {0}")]
pub struct BackendError(#[from] pub CryptoMbError);

/// Chooses the backend: `library` is `[crypto] library`, else `$MSGAUDIT_CRYPTO_MB`.
pub fn choose(
    choice: BackendChoice,
    library: Option<PathBuf>,
) -> Result<ChosenBackend, BackendError> {
    let library = library.or_else(|| std::env::var_os("MSGAUDIT_CRYPTO_MB").map(PathBuf::from));
    let openssl = |reason: String| ChosenBackend {
        backend: RsaBackend::OpenSsl,
        reason,
    };
    match choice {
        BackendChoice::Openssl => Ok(openssl("[crypto] backend = \"openssl\"".into())),
        BackendChoice::Auto | BackendChoice::CryptoMb => {
            let loaded = match &library {
                None if !CryptoMb::cpu_supported() => Err(CryptoMbError::NoIfma),
                None => Err(CryptoMbError::NoLibrary),
                Some(path) => CryptoMb::load(path),
            };
            match (loaded, choice) {
                (Ok(mb), _) => Ok(ChosenBackend {
                    reason: format!(
                        "{} loaded, its self-test against OpenSSL passed, and this CPU has AVX-512 IFMA",
                        mb.path().display()
                    ),
                    backend: RsaBackend::CryptoMb(Arc::new(mb)),
                }),
                (Err(e), BackendChoice::CryptoMb) => Err(BackendError(e)),
                (Err(e), _) => Ok(openssl(format!("auto: crypto_mb not used: {e}"))),
            }
        }
    }
}
