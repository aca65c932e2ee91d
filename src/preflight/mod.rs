//! `msgaudit check`: before a daemon starts (or after its configuration changed), every part the
//! configuration names is tried once, the way the daemon will use it, and each gets a verdict with
//! what to do about a problem: the store and its schema, the SDK library, the RSA backend, the
//! spool and media directories and their free space, the S3 bucket, the metrics address, the
//! etcd fleet, the alert robots and apps, the names secrets, and for each corp its secret and keys
//! against its live archive (a few messages read, one of each key version decrypted).
//!
//! Nothing is changed: no store is created or migrated, no checkpoint moves, nothing is posted, no
//! staging file of a running daemon is touched. Secrets and keys are used, never shown.

mod archive;
mod disk;
mod parts;
mod remote;

use std::collections::HashMap;

use crate::config::{Config, CorpConfig};
use crate::store::{SchemaState, Store};

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Works as the daemon needs it.
    Ok,
    /// Not asked for (`--offline`), or not possible until another check passes.
    Skipped,
    /// Works, but something is likely to surprise the operator.
    Warn,
    /// The daemon would fail, or lose or never fetch something, because of it.
    Fail,
}

impl Verdict {
    /// The word the terminal shows.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Skipped => "skip",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One part checked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// What was checked: `store`, `sdk library`, `corp wwabc…`.
    pub subject: String,
    pub verdict: Verdict,
    /// What was found, and for a problem what to do about it.
    pub detail: String,
    /// The corp it concerns, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corp: Option<String>,
}

impl Finding {
    fn new(subject: impl Into<String>, verdict: Verdict, detail: impl Into<String>) -> Finding {
        Finding {
            subject: subject.into(),
            verdict,
            detail: detail.into(),
            corp: None,
        }
    }

    fn ok(subject: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::new(subject, Verdict::Ok, detail)
    }

    fn warn(subject: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::new(subject, Verdict::Warn, detail)
    }

    fn fail(subject: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::new(subject, Verdict::Fail, detail)
    }

    fn skipped(subject: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::new(subject, Verdict::Skipped, detail)
    }

    fn for_corp(mut self, corp_id: &str) -> Finding {
        self.corp = Some(corp_id.to_owned());
        self
    }
}

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Nothing over the network: no archive read, no token, no bucket, no etcd.
    pub offline: bool,
    /// Only these corps (every corp when empty).
    pub corps: Vec<String>,
    /// Corps checked at once against their archives (at least one).
    pub parallel: usize,
}

/// Checks every part `config` names, calling `report` with each finding as it is made (the corps'
/// last, worst first); `progress` hears how many corps have been checked against their archives.
pub fn check(
    config: &Config,
    options: &CheckOptions,
    report: &mut dyn FnMut(Finding),
    progress: &(dyn Fn(usize, usize) + Sync),
) {
    let (schema, store) = parts::store(config, report);
    let (library, lib) = parts::sdk_library(config);
    report(library);
    report(parts::rsa_backend(config));
    report(parts::spool(config));
    for f in parts::media(config, store.as_deref(), options.offline) {
        report(f);
    }
    if let Some(f) = parts::metrics(config) {
        report(f);
    }
    if let Some(f) = remote::coordinator(config, options.offline) {
        report(f);
    }
    let corps = corps(config, store.as_deref(), schema, options, report);
    report(parts::alerts(config, store.as_deref(), &corps));
    let checkpoints: HashMap<String, u64> = store
        .as_deref()
        .map(|s| checkpoints(s, &corps))
        .unwrap_or_default();
    let mut findings = archive::corps(
        config,
        lib.as_ref(),
        &corps,
        &checkpoints,
        options,
        progress,
    );
    findings.sort_by(|a, b| b.verdict.cmp(&a.verdict).then(a.subject.cmp(&b.subject)));
    for f in findings {
        report(f);
    }
}

/// The corps to check: the config's and (with `corps_from_store`) `we_corp_account`'s, limited
/// to `options.corps`; a row that cannot be read, or an asked corp that is not there, is reported.
fn corps(
    config: &Config,
    store: Option<&dyn Store>,
    schema: Option<SchemaState>,
    options: &CheckOptions,
    report: &mut dyn FnMut(Finding),
) -> Vec<CorpConfig> {
    let mut corps = config.corps.clone();
    if config.corps_from_store {
        add_store_corps(&mut corps, store, schema, report);
    }
    // As the daemon: with corps_from_store it starts and waits for rows; without, it refuses.
    if corps.is_empty() && config.corps_from_store {
        report(Finding::warn(
            "corps",
            "no corps yet: the daemon starts and waits for rows in we_corp_account",
        ));
    } else if corps.is_empty() {
        report(Finding::fail(
            "corps",
            "no corps to archive: add [[corps]] to the config, or rows to we_corp_account with corps_from_store = true",
        ));
    }
    if options.corps.is_empty() {
        return corps;
    }
    for asked in &options.corps {
        if !corps.iter().any(|c| &c.corp_id == asked) {
            report(
                Finding::fail(
                    format!("corp {asked}"),
                    "not in the config's [[corps]] (nor in we_corp_account with corps_from_store)",
                )
                .for_corp(asked),
            );
        }
    }
    corps.retain(|c| options.corps.contains(&c.corp_id));
    corps
}

/// Adds `we_corp_account`'s corps that `corps` does not have, as the daemon reads them; a row
/// that cannot be read, or a store that cannot be read yet, is reported.
fn add_store_corps(
    corps: &mut Vec<CorpConfig>,
    store: Option<&dyn Store>,
    schema: Option<SchemaState>,
    report: &mut dyn FnMut(Finding),
) {
    let Some(store) = store else {
        report(if schema.is_some_and(|s| s.applied.is_none()) {
            Finding::warn(
                "we_corp_account",
                "corps_from_store is set but there is no store yet: only the config's corps are checked",
            )
        } else {
            Finding::skipped(
                "we_corp_account",
                "corps_from_store is set: the store's corps are checked once the store is current",
            )
        });
        return;
    };
    let accounts = match store.corp_accounts() {
        Ok(a) => a,
        Err(e) => {
            report(Finding::fail(
                "we_corp_account",
                format!("corps_from_store is set but the corps cannot be read: {e}"),
            ));
            return;
        }
    };
    for a in accounts {
        if corps.iter().any(|c| c.corp_id == a.corp_id) {
            continue;
        }
        match crate::config::corp_from_account(&a) {
            Ok(c) => corps.push(c),
            Err(e) => report(
                Finding::fail(
                    format!("corp {}", a.corp_id),
                    format!(
                        "its we_corp_account row cannot be read, so the daemon leaves it out: {e}"
                    ),
                )
                .for_corp(&a.corp_id),
            ),
        }
    }
}

/// Each corp's checkpoint in the store (corps without one are left out); a store that cannot
/// answer leaves every corp to be read from the archive's start.
fn checkpoints(store: &dyn Store, corps: &[CorpConfig]) -> HashMap<String, u64> {
    let ids: Vec<String> = corps.iter().map(|c| c.corp_id.clone()).collect();
    store.checkpoints(&ids).unwrap_or_default()
}
