//! Alerts to auditors: what a post says ([`compose`]), how often a destination may be posted to
//! ([`limit`]), the HTTP client for WeCom's APIs ([`http`]), delivery to robots and application
//! messages ([`channel`]), the outbox's values ([`outbox`]: robots, destinations, posts), the
//! sender that drains the durable outbox ([`sender`]) and test messages to robots and apps
//! ([`probe`]).

pub mod channel;
pub mod compose;
pub mod limit;
pub mod outbox;
pub mod probe;
pub mod sender;

pub use channel::AppCredentials;
pub use outbox::{
    AlertPost, Destination, HitKey, PendingAlert, PostLink, PostQuery, PostStatus, Robot, Route,
};
pub use sender::{AlertSettings, Sender, SenderError, SenderReport};
