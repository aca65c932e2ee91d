//! Delivering one post to its destination: a group robot's webhook, or an application message to an
//! auditor through WeCom's API with an access token (fetched from corp id + the app's secret,
//! cached until shortly before it expires, and fetched again when WeCom says it is invalid).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::http::{PostError, WeComHttp};
use crate::alert::{AlertPost, Destination, Robot};
use crate::secret::Secret;

/// WeCom's API, for application messages and tokens.
pub const DEFAULT_API_BASE: &str = "https://qyapi.weixin.qq.com";

/// A token is fetched again this long before WeCom says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

/// An application that sends alerts to auditors in one corp.
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub agent_id: i64,
    pub secret: Secret,
}

/// A delivery failed; `PostError` says whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("{0}")]
    Post(#[from] PostError),
    #[error("robot {0} was removed")]
    RobotRemoved(i64),
    #[error("corp {0} has no alert app configured (corps.alert_app)")]
    NoApp(String),
}

impl DeliveryError {
    /// Whether WeCom certainly did not take the post (so it does not count against the rate).
    pub fn never_reached(&self) -> bool {
        match self {
            DeliveryError::Post(PostError::Network { .. } | PostError::Url(_)) => true,
            DeliveryError::Post(PostError::Status(code)) => *code >= 500,
            DeliveryError::Post(_) => false,
            DeliveryError::RobotRemoved(_) | DeliveryError::NoApp(_) => true,
        }
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Post(e) => e.is_retryable(),
            DeliveryError::RobotRemoved(_) | DeliveryError::NoApp(_) => false,
        }
    }
}

struct Token {
    value: Secret,
    refresh_at: Instant,
}

/// Sends posts over HTTP; holds the access tokens.
pub struct Channels {
    http: WeComHttp,
    api_base: String,
    apps: HashMap<String, AppCredentials>,
    tokens: HashMap<String, Token>,
    /// Tokens fetched so far (for the operator and the tests).
    pub tokens_fetched: u64,
}

impl Channels {
    pub fn new(http: WeComHttp, api_base: &str, apps: HashMap<String, AppCredentials>) -> Channels {
        Channels {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            apps,
            tokens: HashMap::new(),
            tokens_fetched: 0,
        }
    }

    /// Whether a corp has an alert app.
    pub fn has_app(&self, corp_id: &str) -> bool {
        self.apps.contains_key(corp_id)
    }

    /// The app's agent id, for composing a message.
    pub fn agent_id(&self, corp_id: &str) -> Option<i64> {
        self.apps.get(corp_id).map(|a| a.agent_id)
    }

    /// Sends a post's body to its destination.
    pub fn deliver(
        &mut self,
        post: &AlertPost,
        robots: &HashMap<i64, Robot>,
    ) -> Result<(), DeliveryError> {
        let body: serde_json::Value = serde_json::from_str(&post.content)
            .map_err(|e| PostError::BadAnswer(format!("stored post body: {e}")))?;
        match &post.destination {
            Destination::Robot(id) => {
                let robot = robots.get(id).ok_or(DeliveryError::RobotRemoved(*id))?;
                self.http.post_json(&robot.web_hook_url, &body)?;
                Ok(())
            }
            Destination::App { corp_id, .. } => {
                let token = self.token(corp_id)?;
                match self.send_app(&token, &body) {
                    Err(e) if e.token_expired() => {
                        tracing::info!(corp = %corp_id, "access token refused; fetching a new one");
                        self.tokens.remove(corp_id);
                        let token = self.token(corp_id)?;
                        Ok(self.send_app(&token, &body)?)
                    }
                    other => Ok(other?),
                }
            }
        }
    }

    fn send_app(&self, token: &Secret, body: &serde_json::Value) -> Result<(), PostError> {
        let url = format!(
            "{}/cgi-bin/message/send?access_token={}",
            self.api_base,
            token.expose()
        );
        let answer = self.http.post_json(&url, body)?;
        // WeCom answers 0 but lists userids it could not reach (left the corp, no app access).
        if let Some(invalid) = answer
            .get("invaliduser")
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
        {
            return Err(PostError::WeCom {
                errcode: 81013,
                errmsg: format!("the auditor {invalid} cannot receive the app's messages"),
            });
        }
        Ok(())
    }

    /// A valid access token for the corp's app.
    fn token(&mut self, corp_id: &str) -> Result<Secret, DeliveryError> {
        let now = Instant::now();
        if let Some(t) = self.tokens.get(corp_id).filter(|t| t.refresh_at > now) {
            return Ok(t.value.clone());
        }
        let app = self
            .apps
            .get(corp_id)
            .ok_or_else(|| DeliveryError::NoApp(corp_id.to_owned()))?;
        let url = format!(
            "{}/cgi-bin/gettoken?corpid={}&corpsecret={}",
            self.api_base,
            corp_id,
            app.secret.expose()
        );
        let answer = self.http.get_json(&url)?;
        self.tokens_fetched += 1;
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
        self.tokens.insert(corp_id.to_owned(), token);
        Ok(value)
    }
}
