//! The fleet part of `msgaudit status`: with `[coordinator] etcd` in the config, which daemons are
//! alive and which of them holds each corp, read from etcd, so that the corps another daemon holds
//! read as held there rather than as not archived.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::coordinator::{Etcd, Keys};

/// What etcd says about the fleet.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FleetView {
    /// The key prefix the fleet shares.
    pub prefix: String,
    /// The live daemons, by name.
    pub daemons: Vec<String>,
    /// Corp → the daemon holding it.
    pub holders: BTreeMap<String, String>,
    /// The daemon sending alerts, if one holds the key.
    pub alert_sender: Option<String>,
}

impl FleetView {
    /// How many corps each daemon holds, in a few words: "a 40, b 39, c 0".
    pub fn shares(&self) -> String {
        let mut counts: BTreeMap<&str, usize> =
            self.daemons.iter().map(|d| (d.as_str(), 0)).collect();
        for holder in self.holders.values() {
            *counts.entry(holder.as_str()).or_insert(0) += 1;
        }
        counts
            .iter()
            .map(|(d, n)| format!("{d} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The fleet a config belongs to.
pub enum Fleet {
    /// No `[coordinator] etcd` in the config (or no config): one daemon archives every corp.
    Alone,
    /// etcd did not answer.
    Unreachable(String),
    Found(FleetView),
}

/// The `[coordinator]` etcd endpoints and key prefix of a config file, without validating the rest.
fn coordinator_of(path: &Path) -> Option<(Vec<String>, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: toml::Value = toml::from_str(&text).ok()?;
    let c = v.get("coordinator")?;
    let endpoints: Vec<String> = c
        .get("etcd")?
        .as_array()?
        .iter()
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect();
    if endpoints.is_empty() {
        return None;
    }
    let prefix = c
        .get("prefix")
        .and_then(|p| p.as_str())
        .unwrap_or("/msgaudit/")
        .to_owned();
    Some((endpoints, prefix))
}

/// Reads the fleet of the config at `config` from its etcd.
pub fn read(config: Option<&Path>) -> Fleet {
    let Some((endpoints, prefix)) = config.and_then(coordinator_of) else {
        return Fleet::Alone;
    };
    let keys = Keys::new(&prefix);
    let view = || -> Result<FleetView, crate::coordinator::EtcdError> {
        let etcd = Etcd::new(&endpoints, Duration::from_secs(3))?;
        let under = |p: String| -> Result<Vec<(String, String)>, _> {
            Ok(etcd
                .range(&p)?
                .into_iter()
                .filter_map(|(k, v)| Some((k.strip_prefix(&p)?.to_owned(), v)))
                .collect())
        };
        let daemons = under(keys.members())?.into_iter().map(|(k, _)| k).collect();
        let holders = under(keys.corps())?.into_iter().collect();
        let sender_key = keys.alert_sender();
        let alert_sender = etcd
            .range(&sender_key)?
            .into_iter()
            .find(|(k, _)| *k == sender_key)
            .map(|(_, v)| v);
        Ok(FleetView {
            prefix: prefix.clone(),
            daemons,
            holders,
            alert_sender,
        })
    };
    match view() {
        Ok(v) => Fleet::Found(v),
        Err(e) => Fleet::Unreachable(format!(
            "etcd at {} did not answer ({e}); showing the store and this daemon only. Check that \
             etcd is up and reachable at [coordinator] etcd in the config",
            endpoints.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coordinator_section_is_read_without_the_rest_of_the_config() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[store]\nurl = \"clickhouse://x\"\n[coordinator]\netcd = [\"http://127.0.0.1:1\"]\n",
        )
        .expect("write");
        assert_eq!(
            coordinator_of(&path),
            Some((
                vec!["http://127.0.0.1:1".to_owned()],
                "/msgaudit/".to_owned()
            ))
        );
        std::fs::write(&path, "[coordinator]\netcd = []\n").expect("write");
        assert_eq!(coordinator_of(&path), None);
        assert!(matches!(read(None), Fleet::Alone));
    }

    #[test]
    fn shares_count_every_live_daemon_even_one_holding_nothing() {
        let view = FleetView {
            daemons: vec!["a".into(), "b".into()],
            holders: [("ww1", "a"), ("ww2", "a")]
                .map(|(c, d)| (c.to_owned(), d.to_owned()))
                .into(),
            ..FleetView::default()
        };
        assert_eq!(view.shares(), "a 2, b 0");
    }
}
