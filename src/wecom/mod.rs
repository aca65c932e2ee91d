//! WeCom's HTTP APIs: JSON over HTTP(S) with WeCom's `errcode` answers read into typed errors
//! ([`http`]), and access tokens fetched from a corp id and a secret, cached until shortly before
//! they expire and fetched again when WeCom refuses them ([`token`]). Used by the alert channels
//! and the names directory.

pub mod http;
pub mod token;

/// WeCom's API.
pub const DEFAULT_API_BASE: &str = "https://qyapi.weixin.qq.com";
