//! What is reached over the network besides the archive: the S3 bucket, the fleet's etcd and
//! WeCom's access tokens. Each is read, never written.

use std::time::Duration;

use super::Finding;
use crate::config::Config;
use crate::media::s3::{S3MediaStore, S3Settings};
use crate::secret::Secret;
use crate::wecom::http::WeComHttp;
use crate::wecom::token::AccessTokens;

/// How long a network check waits for an answer.
pub(super) const TIMEOUT: Duration = Duration::from_secs(10);

/// The bucket: listed once under its prefix with the configured credentials.
pub(super) fn bucket(s3: &S3Settings, offline: bool) -> Finding {
    if offline {
        return Finding::skipped(
            "media store",
            format!("{}: not reached (--offline)", s3.url),
        );
    }
    match S3MediaStore::probe(s3) {
        Ok(entries) => Finding::ok(
            "media store",
            format!(
                "{} ({}): readable with these credentials, {entries} entr{} at its top",
                s3.url,
                s3.endpoint.as_deref().unwrap_or("AWS"),
                if entries == 1 { "y" } else { "ies" }
            ),
        ),
        Err(e) => Finding::fail("media store", e.to_string()),
    }
}

/// The fleet's etcd: reachable, and whether a live daemon already has this one's name.
pub(super) fn coordinator(config: &Config, offline: bool) -> Option<Finding> {
    let c = config.coordinator.as_ref()?;
    let endpoints = c.endpoints.join(", ");
    if offline {
        return Some(Finding::skipped(
            "etcd",
            format!("{endpoints}: not reached (--offline)"),
        ));
    }
    let keys = crate::coordinator::Keys::new(&c.prefix);
    let members = crate::coordinator::Etcd::new(&c.endpoints, TIMEOUT)
        .and_then(|etcd| etcd.range(&keys.members()));
    Some(match members {
        Err(e) => Finding::fail("etcd", e.to_string()),
        Ok(members) => {
            let mine = keys.member(&c.name);
            if members.iter().any(|(k, _)| *k == mine) {
                Finding::warn(
                    "etcd",
                    format!(
                        "{endpoints}: a live daemon is already named `{}`: is this one running? Two \
                         daemons need two names ([coordinator] name)",
                        c.name
                    ),
                )
            } else {
                Finding::ok(
                    "etcd",
                    format!(
                        "{endpoints}: answers; {} live daemon(s) under {}",
                        members.len(),
                        c.prefix
                    ),
                )
            }
        }
    })
}

/// Fetches an access token for `corp_id` with `secret` (the token itself is dropped unseen); the
/// error says why WeCom refused.
pub(super) fn token(api_base: &str, corp_id: &str, secret: &Secret) -> Result<(), String> {
    let http = WeComHttp::new(TIMEOUT).map_err(|e| format!("cannot start an HTTP client: {e}"))?;
    AccessTokens::new(api_base)
        .get(&http, corp_id, "check", secret)
        .map(drop)
        .map_err(|e| e.to_string())
}
