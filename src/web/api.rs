//! The JSON API's common ground (documented in `openapi.json`, served at `/api/openapi.json`):
//! errors, sessions and their CSRF check, sign-in and sign-out, the parameter and
//! `sys_oper_log` helpers the handlers share. Store calls are synchronous, so each runs on
//! tokio's blocking pool ([`blocking`]). The hit listings are in `hits`, reviews in `review`,
//! strategies in `strategies`, the archive in `archive`, exports in `export` and `hit_export`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::auth::{Session, verify_secret};
use super::extract::JsonBody;
use crate::store::{OperLog, StoreError};
use crate::timefmt::{now_ms, parse_ms};

/// The session cookie's name.
pub const COOKIE: &str = "msgaudit_session";

/// An API failure, answered as `{"error": "…"}`.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized,
    /// A sign-in whose user name or secret is wrong.
    BadCredentials,
    Forbidden(&'static str),
    NotFound,
    TooManyAttempts,
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "请先登录 (sign in first)".into()),
            ApiError::BadCredentials => (
                StatusCode::UNAUTHORIZED,
                "用户名或密码错误，请重试 (wrong user name or password)".into(),
            ),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m.to_owned()),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "不存在 (not found)".into()),
            ApiError::TooManyAttempts => (
                StatusCode::TOO_MANY_REQUESTS,
                "登录尝试过多，请一分钟后再试 (too many attempts; wait a minute)".into(),
            ),
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "workspace request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "服务器错误 (server error; see the server log)".into(),
                )
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound { .. } => ApiError::NotFound,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

pub(super) type ApiResult<T> = Result<T, ApiError>;

/// Runs a store call on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The session a request carries; writes must also carry its CSRF token.
fn session(app: &App, headers: &HeaderMap, method: &Method) -> ApiResult<Session> {
    let id = cookie_value(headers).ok_or(ApiError::Unauthorized)?;
    let s = app.sessions.get(&id).ok_or(ApiError::Unauthorized)?;
    if !app.is_active(&s.user_name)? {
        app.sessions.end_user(&s.user_name);
        return Err(ApiError::Unauthorized);
    }
    if method != Method::GET && method != Method::HEAD {
        let token = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if token.is_empty() || !same_token(token, &s.csrf) {
            return Err(ApiError::Forbidden(
                "缺少或错误的 X-CSRF-Token (missing or wrong X-CSRF-Token)",
            ));
        }
    }
    Ok(s)
}

/// The signed-in session of a request: a handler that takes it answers 401 without one, and 403
/// to a write without the session's CSRF token (see `session`).
pub struct SignedIn(pub Session);

impl axum::extract::FromRequestParts<Arc<App>> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &Arc<App>,
    ) -> Result<SignedIn, ApiError> {
        session(app, &parts.headers, &parts.method).map(SignedIn)
    }
}

/// Constant-time equality of two tokens (unequal lengths are simply unequal).
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && ::openssl::memcmp::eq(a.as_bytes(), b.as_bytes())
}

#[derive(Debug, Deserialize)]
pub struct SignIn {
    pub user: String,
    /// The password or token.
    pub secret: String,
}

fn me_json(s: &Session) -> Value {
    json!({
        "user": s.user_name,
        "role": s.role,
        "we_user_id": s.we_user_id,
        "csrf": s.csrf,
        "timezone": crate::timefmt::display_zone().name(),
    })
}

pub async fn sign_in(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignIn>,
) -> ApiResult<Response> {
    let now = Instant::now();
    let ip = peer.ip().to_string();
    let user_key = format!("user:{}", body.user);
    // Per user name: five guesses a minute at one account. Per address: many more, so that one
    // person's typos or a made-up name never lock out everyone behind the same proxy.
    if !app
        .attempts
        .allowed_up_to(&ip, now, super::auth::MAX_FAILED_PER_ADDRESS)
        || !app.attempts.allowed(&user_key, now)
    {
        return Err(ApiError::TooManyAttempts);
    }
    let store = app.store.clone();
    let (name, secret, dummy) = (
        body.user.clone(),
        body.secret.clone(),
        app.dummy_hash.clone(),
    );
    // One trip to the blocking pool: find the account and check the secret. Unknown users are
    // checked against a dummy hash too, so timing does not tell them apart.
    let account = blocking(move || {
        let account = store.accounts()?.into_iter().find(|a| a.user_name == name);
        let hash = account.as_ref().map_or(dummy.as_str(), |a| &a.secret_hash);
        let ok = verify_secret(&secret, hash);
        Ok(account.filter(|a| ok && !a.disabled))
    })
    .await?;
    let Some(account) = account else {
        app.attempts.failed(&ip, now);
        app.attempts.failed(&user_key, now);
        tracing::warn!(user = %body.user, from = %ip, "failed sign-in");
        return Err(ApiError::BadCredentials);
    };
    app.attempts.succeeded(&user_key);
    let (id, session) = app
        .sessions
        .start(&account)
        .ok_or_else(|| ApiError::Internal("no randomness for a session id".into()))?;
    // Behind a TLS-terminating proxy the cookie is also marked Secure.
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let cookie = format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=28800{}",
        if secure { "; Secure" } else { "" }
    );
    let mut response = Json(me_json(&session)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(response)
}

pub async fn sign_out(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    session(&app, &headers, &method)?;
    if let Some(id) = cookie_value(&headers) {
        app.sessions.end(&id);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("msgaudit_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok(response)
}

pub async fn me(SignedIn(s): SignedIn) -> ApiResult<Json<Value>> {
    Ok(Json(me_json(&s)))
}

pub(super) fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

pub(super) fn time_param(name: &str, v: &Option<String>) -> ApiResult<Option<i64>> {
    non_empty(v)
        .map(|t| {
            parse_ms(&t).ok_or_else(|| {
                let field = match name {
                    "since" => "开始时间",
                    "until" => "结束时间",
                    "at" => "跳转时间",
                    _ => "时间",
                };
                ApiError::BadRequest(format!(
                    "{field}「{t}」看不懂：请写成 2025-11-20 或 2025-11-20 08:00（{}时间）\
                     ({name}: use 2025-11-20, \"2025-11-20 08:00\" or epoch milliseconds)",
                    crate::timefmt::display_zone().name()
                ))
            })
        })
        .transpose()
}

pub(super) fn log_op(
    s: &Session,
    title: &str,
    method: &str,
    uri: &Uri,
    peer: SocketAddr,
    param: String,
) -> OperLog {
    OperLog {
        title: title.to_owned(),
        method: method.to_owned(),
        request_method: "GET".into(),
        oper_name: s.user_name.clone(),
        oper_url: uri.path().to_owned(),
        oper_ip: peer.ip().to_string(),
        oper_param: param,
        status: 0,
        oper_time_ms: now_ms(),
    }
}

/// A read whose parameters are its query string, for `sys_oper_log`.
pub(super) fn log_query(
    s: &Session,
    title: &str,
    method: &str,
    uri: &Uri,
    peer: SocketAddr,
) -> OperLog {
    log_op(
        s,
        title,
        method,
        uri,
        peer,
        uri.query().unwrap_or_default().to_owned(),
    )
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], super::OPENAPI).into_response()
}
