//! Alerts to auditors (issue 6, in progress): what a post says ([`compose`]) and how often a robot
//! may be posted to ([`limit`]). The outbox, the channels and the sender task build on these.

pub mod compose;
pub mod limit;
