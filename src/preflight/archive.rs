//! Each corp against its live archive: its secret opens a session, a few messages around its
//! checkpoint are read (re-reading stored ones moves nothing), and one message of each key version
//! among them is decrypted with the configured keys, as the pipeline would. Then the secrets of
//! its alert app and of the contacts API, when configured, get an access token each.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::{CheckOptions, Finding, Verdict, remote};
use crate::config::{Config, CorpConfig};
use crate::sdk::{EncryptedMessage, FinanceLibrary, KeyError, code};

/// Messages re-read before the checkpoint, so that the archive's current key versions show even
/// when the corp is caught up; as many again are read after it.
const BEFORE_CHECKPOINT: u64 = 50;

/// Checks every corp, `options.parallel` at a time; `progress` hears how many are done.
pub(super) fn corps(
    config: &Config,
    lib: Option<&FinanceLibrary>,
    corps: &[CorpConfig],
    checkpoints: &HashMap<String, u64>,
    options: &CheckOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<Finding> {
    let done = AtomicUsize::new(0);
    let one = |c: &CorpConfig| {
        let f = corp(
            config,
            lib,
            c,
            checkpoints.get(&c.corp_id).copied(),
            options,
        );
        progress(done.fetch_add(1, Ordering::Relaxed) + 1, corps.len());
        f
    };
    let threads = options.parallel.max(1);
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(|| corps.par_iter().map(one).collect()),
        Err(_) => corps.iter().map(one).collect(),
    }
}

/// One corp's finding: the worst of its parts, each said in turn.
fn corp(
    config: &Config,
    lib: Option<&FinanceLibrary>,
    c: &CorpConfig,
    checkpoint: Option<u64>,
    options: &CheckOptions,
) -> Finding {
    let versions: Vec<String> = c.keys.versions().map(|v| v.to_string()).collect();
    let mut parts = vec![(
        Verdict::Ok,
        format!("secret and key version(s) {} read", versions.join(", ")),
    )];
    if options.offline {
        parts.push((Verdict::Skipped, "archive not read (--offline)".to_owned()));
    } else {
        match lib {
            Some(lib) => parts.extend(archive(config, lib, c, checkpoint)),
            None => parts.push((
                Verdict::Skipped,
                "archive not read: the SDK library does not load".to_owned(),
            )),
        }
        parts.extend(tokens(config, c));
    }
    let verdict = parts.iter().map(|p| p.0).max().unwrap_or(Verdict::Ok);
    let detail = parts
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join("; ");
    Finding::new(format!("corp {}", c.corp_id), verdict, detail).for_corp(&c.corp_id)
}

/// The archive read around the checkpoint, and one message of each key version decrypted.
fn archive(
    config: &Config,
    lib: &FinanceLibrary,
    c: &CorpConfig,
    checkpoint: Option<u64>,
) -> Vec<(Verdict, String)> {
    let mut session = match lib.session(&c.corp_id, &c.secret, &config.sdk.network) {
        Ok(s) => s,
        Err(e) => return vec![(Verdict::Fail, e.to_string())],
    };
    let limit = (2 * BEFORE_CHECKPOINT) as u32;
    let mut from = checkpoint.map_or(0, |s| s.saturating_sub(BEFORE_CHECKPOINT));
    let mut read = session.get_chat_data(from, limit, config.sdk.timeout);
    // The stored messages re-read may be past retention; what the daemon reads next is not.
    if let (Err(e), Some(seq)) = (&read, checkpoint)
        && e.code() == Some(i64::from(code::DATA_EXPIRED))
        && from < seq
    {
        from = seq;
        read = session.get_chat_data(from, limit, config.sdk.timeout);
    }
    let batch = match read {
        Ok(b) => b,
        Err(e) => return vec![(Verdict::Fail, e.to_string())],
    };
    let (Some(first), Some(last)) = (batch.messages.first(), batch.messages.last()) else {
        let said = match checkpoint {
            // Nothing after `from`: nothing new, and the stored messages re-read are gone.
            Some(seq) if from < seq => format!(
                "archive answers: nothing new after seq {seq}, the last stored (the messages \
                 before it have left the archive: WeCom keeps about five days)"
            ),
            Some(seq) => format!("archive answers: nothing new after seq {seq}, the last stored"),
            None => "archive answers, and holds no message yet".to_owned(),
        };
        return vec![(Verdict::Ok, said)];
    };
    let mut found = vec![(
        Verdict::Ok,
        format!(
            "archive answers: {} message(s) read, seq {}–{}{}",
            batch.messages.len(),
            first.seq,
            last.seq,
            match checkpoint {
                Some(seq) if last.seq > seq => format!(" (stored up to {seq})"),
                Some(seq) => format!(" (stored up to {seq}: caught up)"),
                None => " (nothing stored yet)".to_owned(),
            }
        ),
    )];
    let mut by_version: BTreeMap<u32, Vec<&EncryptedMessage>> = BTreeMap::new();
    for m in &batch.messages {
        by_version.entry(m.publickey_ver).or_default().push(m);
    }
    let decryptor = lib.decryptor();
    for (version, messages) in by_version {
        let n = messages.len();
        found.push(match decrypt_one(c, &decryptor, version, &messages) {
            Ok(()) => (
                Verdict::Ok,
                format!("key version {version} decrypts ({n} message(s))"),
            ),
            Err((verdict, why)) => (
                verdict,
                format!("key version {version} ({n} message(s)): {why}"),
            ),
        });
    }
    found
}

/// Decrypts the first of `messages` that has a random key; the verdict and reason otherwise.
fn decrypt_one(
    c: &CorpConfig,
    decryptor: &crate::sdk::Decryptor,
    version: u32,
    messages: &[&EncryptedMessage],
) -> Result<(), (Verdict, String)> {
    let Some(m) = messages.iter().find(|m| !m.encrypt_random_key.is_empty()) else {
        return Err((
            Verdict::Warn,
            "no message with a random key to try it on".to_owned(),
        ));
    };
    let key = c
        .keys
        .decrypt_random_key(version, &m.encrypt_random_key)
        .map_err(|e| match e {
            KeyError::UnknownVersion { .. } => (
                Verdict::Fail,
                format!(
                    "no private key for it: these messages become dead letters until keys gets \
                     `{version} = \"/path/v{version}.pem\"` (then `msgaudit dead-letters retry`)"
                ),
            ),
            other => (Verdict::Fail, other.to_string()),
        })?;
    let plain = decryptor
        .decrypt_data(&key, &m.encrypt_chat_msg)
        .map_err(|e| (Verdict::Fail, e.to_string()))?;
    serde_json::from_slice::<serde_json::Value>(&plain)
        .map(drop)
        .map_err(|e| {
            (
                Verdict::Warn,
                format!(
                    "seq {} decrypts but is not JSON ({e}); it is kept as a dead letter",
                    m.seq
                ),
            )
        })
}

/// Access tokens with the alert app's secret and the contacts secret, where configured.
fn tokens(config: &Config, c: &CorpConfig) -> Vec<(Verdict, String)> {
    let mut found = Vec::new();
    if let Some(app) = c.alert_app.as_ref().filter(|_| config.alerts.enabled) {
        found.push(
            match remote::token(&config.alerts.settings.api_base, &c.corp_id, &app.secret) {
                Ok(()) => (
                    Verdict::Ok,
                    format!("alert app {}: token granted", app.agent_id),
                ),
                Err(e) => (
                    Verdict::Fail,
                    format!(
                        "alert app {}: {e}: its auditors would get no alert (check alert_app's secret)",
                        app.agent_id
                    ),
                ),
            },
        );
    }
    if let (Some(names), Some(secret)) = (&config.names, &c.contact_secret) {
        found.push(match remote::token(&names.api_base, &c.corp_id, secret) {
            Ok(()) => (Verdict::Ok, "contacts secret: token granted".to_owned()),
            Err(e) => (
                Verdict::Warn,
                format!("contacts secret: {e}: people and groups stay shown as ids"),
            ),
        });
    }
    found
}
