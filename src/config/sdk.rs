//! `[sdk]`: the finance SDK library, its proxy and timeouts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, field};
use crate::sdk::NetworkOptions;
use crate::secret::Secret;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSdk {
    /// Path of libWeWorkFinanceSdk_C.so (relative to the config file).
    pub library: PathBuf,
    /// Proxy for the SDK: `socks5://host:port` or `http://host:port`.
    pub proxy: Option<String>,
    /// Environment variable holding the proxy's `user:password`.
    pub proxy_password_env: Option<String>,
    /// Timeout of each SDK network call, seconds (default 10).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Serialise `DecryptData` calls (for a vendor build that is not thread-safe; default false).
    #[serde(default)]
    pub serialize_decrypt: bool,
}

pub(super) fn default_timeout() -> u64 {
    10
}

/// SDK settings.
#[derive(Debug, Clone)]
pub struct SdkConfig {
    pub library: PathBuf,
    pub network: NetworkOptions,
    pub timeout: Duration,
    pub serialize_decrypt: bool,
}

/// Validates `[sdk]`: the library path (resolved against `base`), the timeout, the proxy and its
/// password.
pub(super) fn sdk(raw: &RawSdk, base: &Path) -> Result<SdkConfig, ConfigError> {
    if raw.library.as_os_str().is_empty() {
        return Err(field(
            "sdk.library",
            "set it to the path of libWeWorkFinanceSdk_C.so",
        ));
    }
    if raw.timeout_secs == 0 {
        return Err(field("sdk.timeout_secs", "must be at least 1"));
    }
    let proxy_password = match &raw.proxy_password_env {
        Some(var) => Some(Secret::new(std::env::var(var).map_err(|_| {
            field(
                "sdk.proxy_password_env",
                format!("environment variable {var} is not set"),
            )
        })?)),
        None => None,
    };
    if let Some(p) = &raw.proxy
        && !(p.starts_with("socks5://") || p.starts_with("http://") || p.starts_with("https://"))
    {
        return Err(field(
            "sdk.proxy",
            format!("`{p}` should look like socks5://host:port or http://host:port"),
        ));
    }
    Ok(SdkConfig {
        library: base.join(&raw.library),
        network: NetworkOptions {
            proxy: raw.proxy.clone(),
            proxy_password,
        },
        timeout: Duration::from_secs(raw.timeout_secs),
        serialize_decrypt: raw.serialize_decrypt,
    })
}
