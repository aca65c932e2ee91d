//! Reviewing hits: set a strategy or behaviour hit's state and note (one, or a selection in
//! bulk), and read a hit's review history. Writes carry the session's CSRF token; an auditor
//! reviews only hits they can see (anything else answers 404), and each change is also recorded
//! in `sys_oper_log`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::Uri;
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::api::{ApiError, ApiResult, SignedIn, blocking, log_op};
use super::extract::JsonBody;
use super::hits::{Listing, review_json};
use super::visibility::View;
use crate::store::{HitKey, HitKind, HitQuery, Review, ReviewState, Store};
use crate::timefmt::now_ms;

/// Longest note, in characters.
pub const MAX_NOTE: usize = 500;
/// Most hits one bulk change may name.
pub const MAX_BULK: usize = 1000;

/// `{"state": "confirmed", "note": "…"}`.
#[derive(Debug, Deserialize)]
pub struct ReviewBody {
    pub state: String,
    /// Absent: each hit keeps the note it has.
    #[serde(default)]
    pub note: Option<String>,
}

/// One hit a bulk change names.
#[derive(Debug, Deserialize)]
pub struct BulkItem {
    /// `strategy` or `behaviour`.
    pub kind: String,
    pub corp_id: String,
    pub msg_id: String,
    /// The strategy id or behaviour id.
    pub id: i64,
}

/// `{"items": [...], "state": "...", "note": "..."}`.
#[derive(Debug, Deserialize)]
pub struct BulkBody {
    pub items: Vec<BulkItem>,
    pub state: String,
    /// Absent: each hit keeps the note it has.
    #[serde(default)]
    pub note: Option<String>,
}

fn state_of(body_state: &str, note: &Option<String>) -> ApiResult<ReviewState> {
    let note = note.as_deref().unwrap_or_default();
    let state = ReviewState::parse(body_state.trim()).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "审核状态「{body_state}」无效：用 pending（待处理）、confirmed（已核实）、\
             false_positive（误报）或 escalated（已上报）"
        ))
    })?;
    if note.chars().count() > MAX_NOTE {
        return Err(ApiError::BadRequest(format!(
            "备注太长：最多 {MAX_NOTE} 个字 (note: at most {MAX_NOTE} characters)"
        )));
    }
    Ok(state)
}

/// Which of `keys` the view sees (and exist): one query per corp and kind.
fn visible_keys(store: &dyn Store, view: &View, keys: &[HitKey]) -> ApiResult<HashSet<HitKey>> {
    let mut groups: BTreeMap<(String, bool), Vec<String>> = BTreeMap::new();
    for k in keys {
        groups
            .entry((k.corp_id.clone(), k.kind == HitKind::Strategy))
            .or_default()
            .push(k.msg_id.clone());
    }
    let mut found = HashSet::new();
    for ((corp, strategy), msg_ids) in groups {
        let mut q = HitQuery {
            corp_id: Some(corp.clone()),
            limit: u32::MAX,
            msg_ids,
            ..HitQuery::default()
        };
        view.apply(&mut q);
        if strategy {
            found.extend(store.hits(&q)?.iter().map(|h| HitKey::of_hit(&h.hit)));
        } else {
            found.extend(store.act_hits(&q)?.iter().map(HitKey::of_act_hit));
        }
    }
    Ok(found)
}

/// Sets `state` and `note` on `keys` for the session, when every one is visible to it.
async fn apply(
    app: Arc<App>,
    s: super::auth::Session,
    uri: Uri,
    peer: SocketAddr,
    keys: Vec<HitKey>,
    state: ReviewState,
    note: Option<String>,
) -> ApiResult<Vec<Review>> {
    let view = app.view(&s)?;
    let mut op = log_op(
        &s,
        "审核命中",
        "review_hits",
        &uri,
        peer,
        json!({
            "state": state.as_str(),
            "hits": keys.iter().map(|k| json!([k.kind.as_str(), k.corp_id, k.msg_id, k.id])).collect::<Vec<_>>(),
        })
        .to_string(),
    );
    op.request_method = if uri.path().ends_with("/review") {
        "PUT".into()
    } else {
        "POST".into()
    };
    let store = app.store.clone();
    let reviewer = s.user_name.clone();
    blocking(move || {
        let seen = visible_keys(store.as_ref(), &view, &keys)?;
        let missing = keys.iter().filter(|k| !seen.contains(k)).count();
        if missing > 0 {
            return Err(if keys.len() == 1 {
                ApiError::NotFound
            } else {
                ApiError::BadRequest(format!(
                    "有 {missing} 条命中不存在或不归您审核，未做任何修改 \
                     ({missing} of the hits are not yours to review; nothing was changed)"
                ))
            });
        }
        let time_ms = now_ms();
        // Without a note, each hit keeps the one it has.
        let kept: HashMap<HitKey, String> = match note {
            Some(_) => HashMap::new(),
            None => store
                .reviews_of(&keys)?
                .into_iter()
                .map(|r| (r.key, r.note))
                .collect(),
        };
        let reviews: Vec<Review> = keys
            .into_iter()
            .map(|key| Review {
                note: match &note {
                    Some(n) => n.trim().to_owned(),
                    None => kept.get(&key).cloned().unwrap_or_default(),
                },
                key,
                state,
                reviewer: reviewer.clone(),
                time_ms,
            })
            .collect();
        store.record_reviews(&reviews)?;
        store.log_operation(&op)?;
        Ok(reviews)
    })
    .await
}

/// `PUT /api/hits/{corp}/{msg_id}/{strategy}/review` (`K` = strategy hits) and
/// `PUT /api/behaviour-hits/{corp}/{msg_id}/{behaviour}/review` (`K` = behaviour hits).
pub async fn set<K: Listing>(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    Path((corp_id, msg_id, id)): Path<(String, String, i64)>,
    JsonBody(body): JsonBody<ReviewBody>,
) -> ApiResult<Json<Value>> {
    let state = state_of(&body.state, &body.note)?;
    let key = HitKey {
        kind: K::KIND,
        corp_id,
        msg_id,
        id,
    };
    let saved = apply(app, s, uri, peer, vec![key], state, body.note).await?;
    Ok(Json(json!({ "review": review_json(saved.first()) })))
}

/// `POST /api/reviews`: one state and note for a selection of hits, all or nothing.
pub async fn bulk(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    JsonBody(body): JsonBody<BulkBody>,
) -> ApiResult<Json<Value>> {
    let state = state_of(&body.state, &body.note)?;
    if body.items.is_empty() {
        return Err(ApiError::BadRequest(
            "没有选中任何命中 (items: choose at least one hit)".into(),
        ));
    }
    if body.items.len() > MAX_BULK {
        return Err(ApiError::BadRequest(format!(
            "一次最多处理 {MAX_BULK} 条命中 (items: at most {MAX_BULK})"
        )));
    }
    let mut keys = Vec::with_capacity(body.items.len());
    let mut seen = HashSet::new();
    for item in body.items {
        let kind = HitKind::parse(&item.kind).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "命中类型「{}」无效：用 strategy 或 behaviour",
                item.kind
            ))
        })?;
        let key = HitKey {
            kind,
            corp_id: item.corp_id,
            msg_id: item.msg_id,
            id: item.id,
        };
        if seen.insert(key.clone()) {
            keys.push(key);
        }
    }
    let saved = apply(app, s, uri, peer, keys, state, body.note).await?;
    Ok(Json(json!({
        "updated": saved.len(), "state": state.as_str(), "state_label": state.label(),
    })))
}

/// `GET /api/hits/{corp}/{msg_id}/{strategy}/review` and the behaviour-hit twin: the current
/// review and every change, newest first.
pub async fn history<K: Listing>(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    Path((corp_id, msg_id, id)): Path<(String, String, i64)>,
) -> ApiResult<Json<Value>> {
    let key = HitKey {
        kind: K::KIND,
        corp_id,
        msg_id,
        id,
    };
    let view = app.view(&s)?;
    let store = app.store.clone();
    let history = blocking(move || {
        if !visible_keys(store.as_ref(), &view, std::slice::from_ref(&key))?.contains(&key) {
            return Err(ApiError::NotFound);
        }
        Ok(store.review_history(&key)?)
    })
    .await?;
    Ok(Json(json!({
        "review": review_json(history.first()),
        "history": history.iter().map(|r| review_json(Some(r))).collect::<Vec<_>>(),
    })))
}
