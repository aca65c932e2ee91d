//! Several daemons over one store: each corp is held by exactly one daemon at a time through a key
//! on etcd attached to that daemon's lease, and the alert sender runs on the one daemon that holds
//! the sender key. A daemon that dies stops renewing its lease; etcd deletes its keys when the lease
//! expires, and the others take its corps. This module owns the etcd client ([`etcd`]) and the
//! pure rule by which daemons share the corps ([`share`]); `daemon::fleet` runs them.
//!
//! Keys, under the fleet's prefix (e.g. `/msgaudit/`):
//! - `members/NAME` — a live daemon;
//! - `corps/CORPID` = NAME — who pulls the corp;
//! - `alert-sender` = NAME — who sends alerts.

pub mod etcd;
pub mod share;

pub use etcd::{Etcd, EtcdError, LeaseId};

/// The keys of one fleet.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (a trailing `/` is added if missing).
    pub fn new(prefix: &str) -> Keys {
        let mut prefix = prefix.to_owned();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        Keys { prefix }
    }

    pub fn members(&self) -> String {
        format!("{}members/", self.prefix)
    }

    pub fn member(&self, name: &str) -> String {
        format!("{}{name}", self.members())
    }

    pub fn corps(&self) -> String {
        format!("{}corps/", self.prefix)
    }

    pub fn corp(&self, corp_id: &str) -> String {
        format!("{}{corp_id}", self.corps())
    }

    pub fn alert_sender(&self) -> String {
        format!("{}alert-sender", self.prefix)
    }
}
