//! `[[corps]]` and `we_corp_account`: each corp's id, secret and private keys (read and parsed at
//! start), and its alert app.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::alerts::RawAlertApp;
use super::{ConfigError, field};
use crate::alert::AppCredentials;
use crate::sdk::{KeyRing, PrivateKey};
use crate::secret::Secret;
use crate::store::CorpAccount;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCorp {
    pub corp_id: String,
    /// Environment variable holding the chat-archive secret.
    pub secret_env: Option<String>,
    /// File holding the chat-archive secret (relative to the config file).
    pub secret_file: Option<PathBuf>,
    /// Private key files by `publickey_ver` (relative to the config file).
    #[serde(default)]
    pub keys: BTreeMap<String, PathBuf>,
    /// An application that sends alerts to this corp's auditors (optional).
    pub alert_app: Option<RawAlertApp>,
    /// Environment variable holding the 客户联系 secret (or an app's with customer-contact
    /// access), for naming external contacts and customer groups (default: the archive secret).
    pub contact_secret_env: Option<String>,
    /// File holding that secret (relative to the config file).
    pub contact_secret_file: Option<PathBuf>,
}

/// One corp, ready to pull.
#[derive(Debug, Clone)]
pub struct CorpConfig {
    pub corp_id: String,
    pub secret: Secret,
    pub keys: Arc<KeyRing>,
    /// The app that messages its auditors, if any.
    pub alert_app: Option<AppCredentials>,
    /// The secret for WeCom's contact APIs (names), if configured.
    pub contact_secret: Option<Secret>,
}

impl CorpConfig {
    /// The corp as the pipeline pulls it.
    pub fn pull_source(&self) -> crate::pipeline::Corp {
        crate::pipeline::Corp {
            corp_id: self.corp_id.clone(),
            secret: self.secret.clone(),
            keys: self.keys.clone(),
        }
    }
}

fn read_secret_file(path: &Path, name: &str) -> Result<Secret, ConfigError> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        field(
            name,
            format!("cannot read secret file {}: {e}", path.display()),
        )
    })?);
    Ok(Secret::new(text.trim()))
}

pub(super) fn keys_from(
    entries: impl IntoIterator<Item = (String, PathBuf)>,
    name: &str,
) -> Result<KeyRing, ConfigError> {
    let mut ring = KeyRing::new();
    for (version, path) in entries {
        let v: u32 = version.trim().parse().map_err(|_| {
            field(
                format!("{name}.{version}"),
                "key versions are numbers: keys = { 1 = \"v1.pem\" }",
            )
        })?;
        let key = PrivateKey::from_file(&path)
            .map_err(|e| field(format!("{name}.{version}"), e.to_string()))?;
        ring.insert(v, key);
    }
    Ok(ring)
}

/// A secret given by exactly one of an environment variable or a file.
pub(super) fn secret_from(
    env: &Option<String>,
    file: &Option<PathBuf>,
    name: &str,
    what: &str,
    base: &Path,
) -> Result<Secret, ConfigError> {
    match (env, file) {
        (Some(var), None) => Ok(Secret::new(std::env::var(var).map_err(|_| {
            field(
                format!("{name}.secret_env"),
                format!("environment variable {var} is not set: export {what} in it"),
            )
        })?)),
        (None, Some(path)) => {
            let p = if path.is_absolute() {
                path.clone()
            } else {
                base.join(path)
            };
            read_secret_file(&p, &format!("{name}.secret_file"))
        }
        _ => Err(field(
            name,
            "give exactly one of secret_env or secret_file (never the secret itself)",
        )),
    }
}

pub(super) fn corp(c: &RawCorp, i: usize, base: &Path) -> Result<CorpConfig, ConfigError> {
    let name = format!("corps[{i}]");
    if c.corp_id.trim().is_empty() {
        return Err(field(
            format!("{name}.corp_id"),
            "is empty: set it to the corp id (ww…)",
        ));
    }
    let secret = secret_from(
        &c.secret_env,
        &c.secret_file,
        &name,
        "the corp's chat-archive secret",
        base,
    )?;
    let alert_app = match &c.alert_app {
        Some(app) => Some(AppCredentials {
            agent_id: app.agent_id,
            secret: secret_from(
                &app.secret_env,
                &app.secret_file,
                &format!("{name}.alert_app"),
                "the alert app's secret",
                base,
            )?,
        }),
        None => None,
    };
    if c.keys.is_empty() {
        return Err(field(
            format!("{name}.keys"),
            "no private keys: add keys = { 1 = \"path/to/v1.pem\" }",
        ));
    }
    let entries = c.keys.iter().map(|(v, p)| {
        let p = if p.is_absolute() {
            p.clone()
        } else {
            base.join(p)
        };
        (v.clone(), p)
    });
    let contact_secret = match (&c.contact_secret_env, &c.contact_secret_file) {
        (None, None) => None,
        (env, file) => Some(
            secret_from(env, file, &format!("{name}.contact"), "the 客户联系 secret", base).map_err(
                |_| {
                    field(
                        format!("{name}.contact_secret_env"),
                        "give exactly one of contact_secret_env (a variable that is set) or contact_secret_file (a readable file)",
                    )
                },
            )?,
        ),
    };
    Ok(CorpConfig {
        contact_secret,
        corp_id: c.corp_id.trim().to_owned(),
        secret,
        keys: Arc::new(keys_from(entries, &format!("{name}.keys"))?),
        alert_app,
    })
}

/// A corp from `we_corp_account`, whose secret and keys are references (`env:`/`file:`, `V=path`).
pub fn corp_from_account(a: &CorpAccount) -> Result<CorpConfig, ConfigError> {
    let name = format!("we_corp_account[{}]", a.corp_id);
    let secret = if let Some(var) = a.chat_secret_ref.strip_prefix("env:") {
        Secret::new(std::env::var(var).map_err(|_| {
            field(
                format!("{name}.chat_secret"),
                format!("environment variable {var} is not set"),
            )
        })?)
    } else if let Some(path) = a.chat_secret_ref.strip_prefix("file:") {
        read_secret_file(Path::new(path), &format!("{name}.chat_secret"))?
    } else {
        return Err(field(
            format!("{name}.chat_secret"),
            "must be a reference, env:VARIABLE or file:/path — secrets are never kept in the store",
        ));
    };
    let entries = a
        .private_keys_ref
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once('=') {
            Some((v, p)) => Ok((v.to_owned(), PathBuf::from(p.trim()))),
            None => Err(field(
                format!("{name}.finance_private_key"),
                "expected VERSION=/path/to/key.pem entries",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if entries.is_empty() {
        return Err(field(
            format!("{name}.finance_private_key"),
            "no key references: expected 1=/path/v1.pem",
        ));
    }
    Ok(CorpConfig {
        contact_secret: None,
        corp_id: a.corp_id.clone(),
        secret,
        keys: Arc::new(keys_from(entries, &format!("{name}.finance_private_key"))?),
        alert_app: None,
    })
}

/// Validates every `[[corps]]` table: each readable, none listed twice, and at least one unless
/// the corps come from the store.
pub(super) fn corps(
    raw: &[RawCorp],
    from_store: bool,
    base: &Path,
) -> Result<Vec<CorpConfig>, ConfigError> {
    // In parallel: each distinct key is parsed and checked once (keys are shared by content),
    // on every core, so thousands of corps start in seconds.
    use rayon::prelude::*;
    let corps = raw
        .par_iter()
        .enumerate()
        .map(|(i, c)| corp(c, i, base))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = corps.iter().find(|c| !seen.insert(c.corp_id.clone())) {
        return Err(field(
            "corps",
            format!("corp {} is listed twice", dup.corp_id),
        ));
    }
    if corps.is_empty() && !from_store {
        return Err(field(
            "corps",
            "no corps to archive: add a [[corps]] table, or set corps_from_store = true",
        ));
    }
    Ok(corps)
}
