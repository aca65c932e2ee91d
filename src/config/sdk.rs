//! `[sdk]`: the finance SDK library, its proxy and timeouts.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::sdk::NetworkOptions;

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
