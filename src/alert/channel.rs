//! Delivering one post to its destination: a group robot's webhook, or an application message to an
//! auditor through WeCom's API with an access token (fetched from corp id + the app's secret,
//! cached until shortly before it expires, and fetched again when WeCom says it is invalid).

use std::collections::HashMap;

use crate::alert::{AlertPost, Destination, Robot};
use crate::secret::Secret;
use crate::wecom::http::{PostError, WeComHttp};
use crate::wecom::token::AccessTokens;

/// WeCom's API, for application messages and tokens.
pub use crate::wecom::DEFAULT_API_BASE;

/// The purpose an alert app's tokens are cached under.
const APP: &str = "alert_app";

/// WeCom's errcode for recipients outside the corp or the app's visible range; also what a send
/// WeCom took but listed under `invaliduser` is reported as.
pub const UNREACHABLE_USER: i64 = 81013;

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

/// Sends posts over HTTP; holds the access tokens.
pub struct Channels {
    http: WeComHttp,
    apps: crate::runtime::Shared<HashMap<String, AppCredentials>>,
    tokens: AccessTokens,
}

impl Channels {
    pub fn new(
        http: WeComHttp,
        api_base: &str,
        apps: crate::runtime::Shared<HashMap<String, AppCredentials>>,
    ) -> Channels {
        Channels {
            http,
            apps,
            tokens: AccessTokens::new(api_base),
        }
    }

    /// Tokens fetched so far (for the operator and the tests).
    pub fn tokens_fetched(&self) -> u64 {
        self.tokens.fetched
    }

    /// Whether a corp has an alert app.
    pub fn has_app(&self, corp_id: &str) -> bool {
        self.apps.get().contains_key(corp_id)
    }

    /// The app's agent id, for composing a message.
    pub fn agent_id(&self, corp_id: &str) -> Option<i64> {
        self.apps.get().get(corp_id).map(|a| a.agent_id)
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
            Destination::App { corp_id, .. } => self.send_app_message(corp_id, &body),
        }
    }

    /// Whether WeCom grants `corp_id`'s alert app a token (its secret and this machine's IP).
    pub fn app_token(&mut self, corp_id: &str) -> Result<(), DeliveryError> {
        let apps = self.apps.get();
        let app = apps
            .get(corp_id)
            .ok_or_else(|| DeliveryError::NoApp(corp_id.to_owned()))?;
        self.tokens.get(&self.http, corp_id, APP, &app.secret)?;
        Ok(())
    }

    /// Sends an application message (`body`, WeCom's JSON) through `corp_id`'s alert app.
    pub fn send_app_message(
        &mut self,
        corp_id: &str,
        body: &serde_json::Value,
    ) -> Result<(), DeliveryError> {
        let apps = self.apps.get();
        let app = apps
            .get(corp_id)
            .ok_or_else(|| DeliveryError::NoApp(corp_id.to_owned()))?;
        let (http, base) = (&self.http, self.tokens.api_base().to_owned());
        Ok(self
            .tokens
            .with_token(http, corp_id, APP, &app.secret, |token| {
                send_app(http, &base, token, body)
            })?)
    }
}

/// The JSON of a text application message from app `agent_id` to `user_id`.
pub fn app_message(agent_id: i64, user_id: &str, text: &str) -> serde_json::Value {
    serde_json::json!({
        "touser": user_id,
        "msgtype": "text",
        "agentid": agent_id,
        "text": {"content": text},
        "safe": 0,
    })
}

fn send_app(
    http: &WeComHttp,
    api_base: &str,
    token: &Secret,
    body: &serde_json::Value,
) -> Result<(), PostError> {
    let url = format!(
        "{api_base}/cgi-bin/message/send?access_token={}",
        token.expose()
    );
    let answer = http.post_json(&url, body)?;
    // WeCom answers 0 but lists userids it could not reach (left the corp, no app access).
    if let Some(invalid) = answer
        .get("invaliduser")
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
    {
        return Err(PostError::WeCom {
            errcode: UNREACHABLE_USER,
            errmsg: format!("the auditor {invalid} cannot receive the app's messages"),
        });
    }
    Ok(())
}
