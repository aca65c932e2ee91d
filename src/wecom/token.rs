//! Access tokens: `GET /cgi-bin/gettoken?corpid=…&corpsecret=…`, one per corp and secret, cached
//! until five minutes before WeCom says it expires; a call WeCom answers "token invalid or
//! expired" drops it, fetches a new one and is tried once more.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::http::{PostError, WeComHttp};
use crate::secret::Secret;

/// A token is fetched again this long before WeCom says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

struct Token {
    value: Secret,
    refresh_at: Instant,
}

/// Cached access tokens, by corp and purpose (an app's, the contacts', the archive's).
pub struct AccessTokens {
    api_base: String,
    tokens: HashMap<(String, &'static str), Token>,
    /// Tokens fetched so far (for the operator and the tests).
    pub fetched: u64,
}

impl AccessTokens {
    pub fn new(api_base: &str) -> AccessTokens {
        AccessTokens {
            api_base: api_base.trim_end_matches('/').to_owned(),
            tokens: HashMap::new(),
            fetched: 0,
        }
    }

    /// The API's base URL, without a trailing `/`.
    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    /// A valid token for `corp_id`'s `purpose`, fetched with `secret` when none is cached.
    pub fn get(
        &mut self,
        http: &WeComHttp,
        corp_id: &str,
        purpose: &'static str,
        secret: &Secret,
    ) -> Result<Secret, PostError> {
        let now = Instant::now();
        let key = (corp_id.to_owned(), purpose);
        if let Some(t) = self.tokens.get(&key).filter(|t| t.refresh_at > now) {
            return Ok(t.value.clone());
        }
        let url = format!(
            "{}/cgi-bin/gettoken?corpid={}&corpsecret={}",
            self.api_base,
            corp_id,
            secret.expose()
        );
        let answer = http.get_json(&url)?;
        self.fetched += 1;
        let value = answer
            .get("access_token")
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| PostError::BadAnswer("gettoken answered no access_token".into()))?;
        let lifetime = answer
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(7200);
        let token = Token {
            value: Secret::new(value),
            refresh_at: now + Duration::from_secs(lifetime).saturating_sub(TOKEN_MARGIN),
        };
        let value = token.value.clone();
        self.tokens.insert(key, token);
        Ok(value)
    }

    /// Drops a token WeCom refused.
    pub fn forget(&mut self, corp_id: &str, purpose: &'static str) {
        self.tokens.remove(&(corp_id.to_owned(), purpose));
    }

    /// Runs `call` with a token, and once more with a fresh one when WeCom says the token is
    /// invalid or expired.
    pub fn with_token<T>(
        &mut self,
        http: &WeComHttp,
        corp_id: &str,
        purpose: &'static str,
        secret: &Secret,
        mut call: impl FnMut(&Secret) -> Result<T, PostError>,
    ) -> Result<T, PostError> {
        let token = self.get(http, corp_id, purpose, secret)?;
        match call(&token) {
            Err(e) if e.token_expired() => {
                tracing::info!(corp = %corp_id, purpose, "access token refused; fetching a new one");
                self.forget(corp_id, purpose);
                let token = self.get(http, corp_id, purpose, secret)?;
                call(&token)
            }
            other => other,
        }
    }
}
