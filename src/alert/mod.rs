//! Alerts to auditors (issue 6, in progress): what a post says ([`compose`]) and how often a robot
//! may be posted to ([`limit`]), and the HTTP client for WeCom's APIs ([`http`]). The outbox, the
//! channels and the sender task build on these.

pub mod compose;
pub mod http;
pub mod limit;
