//! Posting JSON to WeCom's HTTP APIs (group robot webhooks, application messages, access tokens)
//! over HTTP or HTTPS (`hyper` with OpenSSL, both already in the build), with a timeout, and
//! reading WeCom's `errcode` answer into a typed error that says whether to retry.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_tls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// WeCom's answer for "too many requests" (a robot's 20 a minute, an app's quota).
pub const RATE_LIMITED: i64 = 45009;
/// WeCom's answers for an invalid or expired access token.
pub const TOKEN_INVALID: [i64; 2] = [40014, 42001];

/// A post failed.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach {url}: {reason}")]
    Network { url: String, reason: String },
    #[error("HTTP {0} from the server")]
    Status(u16),
    #[error("WeCom answered errcode {errcode}: {errmsg}")]
    WeCom { errcode: i64, errmsg: String },
    #[error("the answer is not WeCom's JSON: {0}")]
    BadAnswer(String),
    #[error("`{0}` is not an http:// or https:// URL")]
    Url(String),
}

impl PostError {
    /// Whether the same post may succeed later (everything but a refusal of its content).
    pub fn is_retryable(&self) -> bool {
        match self {
            PostError::Timeout(_) | PostError::Network { .. } => true,
            PostError::Status(code) => *code >= 500 || *code == 429,
            PostError::WeCom { errcode, .. } => {
                *errcode == RATE_LIMITED || TOKEN_INVALID.contains(errcode) || *errcode == -1
            }
            PostError::BadAnswer(_) | PostError::Url(_) => false,
        }
    }

    /// Whether WeCom said the access token is invalid or expired.
    pub fn token_expired(&self) -> bool {
        matches!(self, PostError::WeCom { errcode, .. } if TOKEN_INVALID.contains(errcode))
    }
}

/// A blocking HTTP client for WeCom's JSON APIs.
pub struct WeComHttp {
    runtime: tokio::runtime::Runtime,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl WeComHttp {
    /// A client whose every request gives up after `timeout`.
    pub fn new(timeout: Duration) -> std::io::Result<WeComHttp> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Without TCP_NODELAY a request's body waits for the ACK of its headers (Nagle against
        // the server's delayed ACK): ~40 ms a post, which capped the alert sender at ~25 posts a
        // second.
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let tls = hyper_tls::native_tls::TlsConnector::new().map_err(std::io::Error::other)?;
        let client =
            Client::builder(TokioExecutor::new()).build(HttpsConnector::from((http, tls.into())));
        Ok(WeComHttp {
            runtime,
            client,
            timeout,
        })
    }

    /// POSTs `body` as JSON; returns WeCom's answer when its `errcode` is 0.
    pub fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, PostError> {
        let request = hyper::Request::post(url)
            .header("content-type", "application/json; charset=utf-8")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|_| PostError::Url(redact_query(url)))?;
        self.send(url, request)
    }

    /// GETs `url`; returns WeCom's answer when its `errcode` is 0 (the token endpoint).
    pub fn get_json(&self, url: &str) -> Result<serde_json::Value, PostError> {
        let request = hyper::Request::get(url)
            .body(Full::new(Bytes::new()))
            .map_err(|_| PostError::Url(redact_query(url)))?;
        self.send(url, request)
    }

    /// POSTs `body` as JSON to any JSON API (not only WeCom's); returns the status and the body
    /// as they came, for the caller to read (etcd's gateway answers with its own errors).
    pub fn post_raw(&self, url: &str, body: &serde_json::Value) -> Result<(u16, Bytes), PostError> {
        let request = hyper::Request::post(url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|_| PostError::Url(redact_query(url)))?;
        self.exchange(url, request)
    }

    /// Sends `request` within the timeout; the status and the whole body.
    fn exchange(
        &self,
        url: &str,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes), PostError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(PostError::Url(redact_query(url)));
        }
        let shown = redact_query(url);
        let answer = self.runtime.block_on(async {
            tokio::time::timeout(self.timeout, async {
                let response =
                    self.client
                        .request(request)
                        .await
                        .map_err(|e| PostError::Network {
                            url: shown.clone(),
                            reason: e.to_string(),
                        })?;
                let status = response.status().as_u16();
                let bytes = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| PostError::Network {
                        url: shown.clone(),
                        reason: e.to_string(),
                    })?
                    .to_bytes();
                Ok::<_, PostError>((status, bytes))
            })
            .await
        });
        answer.map_err(|_| PostError::Timeout(self.timeout))?
    }

    fn send(
        &self,
        url: &str,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<serde_json::Value, PostError> {
        let (status, bytes) = self.exchange(url, request)?;
        if status != 200 {
            return Err(PostError::Status(status));
        }
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| PostError::BadAnswer(e.to_string()))?;
        match json.get("errcode").and_then(serde_json::Value::as_i64) {
            Some(0) | None => Ok(json),
            Some(errcode) => Err(PostError::WeCom {
                errcode,
                errmsg: json
                    .get("errmsg")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            }),
        }
    }
}

/// `url` without its query string, whose `key=` (a robot's) or `access_token=` is a secret.
pub fn redact_query(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_failures_are_worth_retrying() {
        let wecom = |errcode| PostError::WeCom {
            errcode,
            errmsg: String::new(),
        };
        assert!(wecom(RATE_LIMITED).is_retryable());
        assert!(wecom(42001).is_retryable() && wecom(42001).token_expired());
        assert!(!wecom(93000).is_retryable(), "invalid webhook key");
        assert!(PostError::Status(502).is_retryable());
        assert!(!PostError::Status(404).is_retryable());
        assert!(PostError::Timeout(Duration::from_secs(1)).is_retryable());
    }

    #[test]
    fn robot_keys_and_tokens_never_show() {
        assert_eq!(
            redact_query("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET"),
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?…"
        );
    }
}
