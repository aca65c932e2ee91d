//! The JSON API (documented in `openapi.json`, served at `/api/openapi.json`): sign-in, hits with
//! filters and keyset paging, one hit with its conversation, behaviour hits, daily counts,
//! strategies (read; write for administrators) and a streamed CSV export. Store calls are
//! synchronous, so each runs on tokio's blocking pool.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::auth::{Session, verify_secret};
use super::visibility::View;
use crate::audit::Strategy;
use crate::store::{
    ActHitRow, ContextQuery, HitCursor, HitQuery, OperLog, Role, Store, StoreError, StoredHit,
    StoredMessage,
};
use crate::timefmt::{format_ms, now_ms, parse_ms};

/// The session cookie's name.
pub const COOKIE: &str = "msgaudit_session";
/// Largest page of hits.
const MAX_LIMIT: u32 = 500;

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

/// The user's view under the current rules.
fn view(app: &App, s: &Session) -> ApiResult<View> {
    app.view(s)
}

#[derive(Debug, Deserialize)]
pub struct SignIn {
    pub user: String,
    /// The password or token.
    pub secret: String,
}

fn me_json(s: &Session) -> Value {
    json!({ "user": s.user_name, "role": s.role, "we_user_id": s.we_user_id, "csrf": s.csrf })
}

pub async fn sign_in(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<SignIn>,
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

/// Query parameters shared by the hit listings and the export.
#[derive(Debug, Default, Deserialize)]
pub struct HitParams {
    pub corp: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub strategy: Option<i64>,
    pub word: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub room: Option<String>,
    /// pending | sent | failed | none
    pub status: Option<String>,
    /// Behaviour id (behaviour-hit listing).
    pub behaviour: Option<i64>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
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

fn encode_cursor(c: &HitCursor) -> String {
    B64.encode(format!("{}|{}|{}", c.msg_time, c.id, c.msg_id))
}

/// The cursor after a full page: its last row's; none after a short page.
fn next_cursor(page: &[Listed], limit: usize) -> Option<String> {
    let (last, _) = page.last().filter(|_| page.len() == limit)?;
    Some(encode_cursor(last))
}

fn decode_cursor(s: &str) -> ApiResult<HitCursor> {
    let bad = || ApiError::BadRequest("cursor: not one this API gave".into());
    let text = String::from_utf8(B64.decode(s).map_err(|_| bad())?).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '|');
    let (Some(t), Some(id), Some(msg)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    Ok(HitCursor {
        msg_time: t.parse().map_err(|_| bad())?,
        id: id.parse().map_err(|_| bad())?,
        msg_id: msg.to_owned(),
    })
}

impl HitParams {
    /// The store query these parameters ask for, inside `view`.
    pub fn query(&self, view: &View) -> ApiResult<HitQuery> {
        let send_status = match non_empty(&self.status).as_deref() {
            None => None,
            Some("pending") => Some(0),
            Some("sent") => Some(1),
            Some("failed") => Some(2),
            Some("none") => Some(3),
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "status `{other}`: use pending, sent, failed or none"
                )));
            }
        };
        let mut q = HitQuery {
            corp_id: non_empty(&self.corp),
            since_ms: time_param("since", &self.since)?,
            until_ms: time_param("until", &self.until)?,
            strategy_id: self.strategy,
            word: non_empty(&self.word),
            from_id: non_empty(&self.from),
            to_id: non_empty(&self.to),
            room_id: non_empty(&self.room),
            send_status,
            act_id: self.behaviour,
            after: non_empty(&self.cursor)
                .map(|c| decode_cursor(&c))
                .transpose()?,
            limit: self.limit.unwrap_or(50).clamp(1, MAX_LIMIT),
            ..HitQuery::default()
        };
        view.apply(&mut q);
        Ok(q)
    }
}

fn hit_json(h: &StoredHit) -> Value {
    let h = &h.hit;
    json!({
        "corp_id": h.corp_id, "msg_id": h.msg_id, "strategy_id": h.strategy_id,
        "strategy_name": h.strategy_name, "words": h.words, "spans": h.spans,
        "content": h.content, "from_id": h.from_id,
        "to_list": crate::store::split_list(&h.to_list), "room_id": h.room_id,
        "msg_time": h.msg_time, "time": format_ms(h.msg_time), "direction": h.direction,
        "audit_user_id": h.audit_user_id, "send_status": h.send_status_name(),
    })
}

fn act_hit_json(a: &ActHitRow) -> Value {
    json!({
        "corp_id": a.corp_id, "msg_id": a.msg_id, "behaviour_id": a.sensitive_act_id,
        "behaviour": a.sensitive_act, "operator_id": a.operator_id, "operator": a.operator,
        "target_id": a.operate_target_id, "target": a.operate_target, "detail": a.detail,
        "msg_time": a.msg_time, "time": format_ms(a.msg_time),
    })
}

/// A kind of hit the API lists (strategy hits or behaviour hits): one query's rows, each with its
/// cursor key (time, msgid, strategy or behaviour id) and its JSON.
pub trait HitKind {
    fn page(store: &dyn Store, q: &HitQuery) -> Result<Vec<Listed>, StoreError>;
}

/// A listed row: its cursor key and its JSON.
type Listed = (HitCursor, Value);

fn key(msg_time: i64, msg_id: &str, id: i64) -> HitCursor {
    HitCursor {
        msg_time,
        msg_id: msg_id.to_owned(),
        id,
    }
}

/// `GET /api/hits`.
pub struct StrategyHits;

impl HitKind for StrategyHits {
    fn page(store: &dyn Store, q: &HitQuery) -> Result<Vec<Listed>, StoreError> {
        let listed = |h: StoredHit| {
            (
                key(h.hit.msg_time, &h.hit.msg_id, h.hit.strategy_id),
                hit_json(&h),
            )
        };
        Ok(store.hits(q)?.into_iter().map(listed).collect())
    }
}

/// `GET /api/behaviour-hits`: each row of `we_sensitive_act_hit` under its behaviour's id.
pub struct BehaviourHits;

impl HitKind for BehaviourHits {
    fn page(store: &dyn Store, q: &HitQuery) -> Result<Vec<Listed>, StoreError> {
        let listed = |a: ActHitRow| {
            (
                key(a.msg_time, &a.msg_id, a.sensitive_act_id),
                act_hit_json(&a),
            )
        };
        Ok(store.act_hits(q)?.into_iter().map(listed).collect())
    }
}

/// One page of hits of kind `K`, within what the session may see, and the cursor after it when
/// the page is full.
pub async fn hits<K: HitKind>(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    Query(p): Query<HitParams>,
) -> ApiResult<Json<Value>> {
    let q = p.query(&view(&app, &s)?)?;
    let store = app.store.clone();
    let limit = q.limit as usize;
    let found = blocking(move || Ok(K::page(store.as_ref(), &q)?)).await?;
    let next = next_cursor(&found, limit);
    let items: Vec<&Value> = found.iter().map(|(_, json)| json).collect();
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

#[derive(Debug, Deserialize)]
pub struct ContextParams {
    pub around: Option<u32>,
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

pub async fn hit_context(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    Path((corp, msg_id, strategy)): Path<(String, String, i64)>,
    Query(p): Query<ContextParams>,
) -> ApiResult<Json<Value>> {
    let v = view(&app, &s)?;
    if !v.sees_strategy(strategy) {
        return Err(ApiError::NotFound);
    }
    let around = p.around.unwrap_or(5).min(50);
    let op = log_op(
        &s,
        "查看会话上下文",
        "hit_context",
        &uri,
        peer,
        json!({ "corp_id": corp, "msg_id": msg_id, "strategy_id": strategy, "around": around })
            .to_string(),
    );
    let store = app.store.clone();
    let (hit, context) = blocking(move || {
        let mut q = HitQuery {
            corp_id: Some(corp.clone()),
            msg_id: Some(msg_id.clone()),
            strategy_id: Some(strategy),
            limit: 1,
            ..HitQuery::default()
        };
        v.apply(&mut q);
        let hit = store
            .hits(&q)?
            .into_iter()
            .next()
            .ok_or(ApiError::NotFound)?;
        let context = store.context(&ContextQuery {
            corp_id: corp,
            msg_id,
            msg_time: hit.hit.msg_time,
            around,
        })?;
        // Recorded before the answer leaves: a look that is not logged does not happen.
        store.log_operation(&op)?;
        Ok((hit, context))
    })
    .await?;
    let messages: Vec<Value> = context
        .iter()
        .map(|m: &StoredMessage| {
            let r = &m.row;
            json!({
                "msg_id": r.msg_id, "seq": r.seq, "from_id": r.from_id,
                "to_list": crate::store::split_list(&r.to_list), "room_id": r.room_id,
                "msg_time": r.msg_time, "time": format_ms(r.msg_time), "msg_type": r.msg_type,
                "action": r.action, "text": r.plain_text, "is_hit": r.msg_id == hit.hit.msg_id,
            })
        })
        .collect();
    Ok(Json(json!({ "hit": hit_json(&hit), "context": messages })))
}

pub async fn daily(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    Query(p): Query<HitParams>,
) -> ApiResult<Json<Value>> {
    let mut q = p.query(&view(&app, &s)?)?;
    q.after = None;
    let store = app.store.clone();
    let days = blocking(move || Ok(store.daily_counts(&q)?)).await?;
    Ok(Json(json!({ "days": days })))
}

pub async fn strategies(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
) -> ApiResult<Json<Value>> {
    let rules = app.rules()?;
    let v = app.view(&s)?;
    let visible: Vec<&Strategy> = rules
        .strategies
        .iter()
        .filter(|st| v.sees_strategy(st.id))
        .collect();
    Ok(Json(
        json!({ "items": visible, "can_edit": s.role == Role::Admin }),
    ))
}

/// Creates (`id` None) or replaces a strategy; administrators only.
async fn write_strategy(
    app: Arc<App>,
    s: Session,
    id: Option<i64>,
    mut strategy: Strategy,
) -> ApiResult<Json<Value>> {
    if s.role != Role::Admin {
        return Err(ApiError::Forbidden(
            "只有管理员可以修改策略 (administrators only)",
        ));
    }
    let store = app.store.clone();
    let saved = blocking(move || {
        let mut rules = store.load_rules()?;
        match id {
            Some(id) => {
                strategy.id = id;
                let slot = rules
                    .strategies
                    .iter_mut()
                    .find(|x| x.id == id)
                    .ok_or(ApiError::NotFound)?;
                *slot = strategy.clone();
            }
            None => {
                strategy.id = rules.strategies.iter().map(|x| x.id).max().unwrap_or(0) + 1;
                rules.strategies.push(strategy.clone());
            }
        }
        rules
            .validate()
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let version = store.save_rules(&rules)?;
        let saved = rules
            .strategies
            .into_iter()
            .find(|x| x.id == strategy.id)
            .ok_or(ApiError::NotFound)?;
        Ok((saved, version))
    })
    .await?;
    app.forget_rules();
    tracing::info!(user = %s.user_name, strategy = saved.0.id, rules_version = saved.1, "strategy saved");
    Ok(Json(
        json!({ "strategy": saved.0, "rules_version": saved.1 }),
    ))
}

pub async fn update_strategy(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    Path(id): Path<i64>,
    Json(strategy): Json<Strategy>,
) -> ApiResult<Json<Value>> {
    write_strategy(app, s, Some(id), strategy).await
}

pub async fn create_strategy(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    Json(strategy): Json<Strategy>,
) -> ApiResult<Json<Value>> {
    write_strategy(app, s, None, strategy).await
}

pub async fn export_csv(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    Query(p): Query<HitParams>,
) -> ApiResult<Response> {
    let mut q = p.query(&view(&app, &s)?)?;
    q.limit = 1000;
    q.after = None;
    let op = log_query(&s, "导出命中", "export_csv", &uri, peer);
    let store = app.store.clone();
    {
        let store = store.clone();
        blocking(move || Ok(store.log_operation(&op)?)).await?;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        // UTF-8 BOM so that Excel reads the Chinese right, then the header row.
        let mut chunk = "\u{feff}时间,企业,策略,敏感词,发送人,接收人,群聊,内容,告警状态,msgid\r\n"
            .as_bytes()
            .to_vec();
        loop {
            let page = match store.hits(&q) {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            };
            for h in &page {
                let h = &h.hit;
                let row = [
                    format_ms(h.msg_time),
                    h.corp_id.clone(),
                    h.strategy_name.clone(),
                    h.words.join("、"),
                    h.from_id.clone(),
                    h.to_list.clone(),
                    h.room_id.clone(),
                    h.content.clone(),
                    h.send_status_name().to_owned(),
                    h.msg_id.clone(),
                ];
                let line: Vec<String> = row.iter().map(|c| super::export::csv_cell(c)).collect();
                chunk.extend_from_slice(line.join(",").as_bytes());
                chunk.extend_from_slice(b"\r\n");
            }
            if tx.blocking_send(Ok(std::mem::take(&mut chunk))).is_err() {
                return; // the client went away
            }
            match page.last() {
                Some(last) if page.len() == q.limit as usize => {
                    q.after = Some(HitCursor {
                        msg_time: last.hit.msg_time,
                        msg_id: last.hit.msg_id.clone(),
                        id: last.hit.strategy_id,
                    });
                }
                _ => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"msgaudit-hits.csv\""),
    );
    Ok(response)
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], super::OPENAPI).into_response()
}
