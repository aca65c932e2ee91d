//! The hit listings an auditor reviews: strategy hits (`/api/hits`) and behaviour hits
//! (`/api/behaviour-hits`), with the same filters, totals by review state, keyset paging, names,
//! each hit's review; one hit with its conversation; daily counts for the chart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::Uri;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::api::{ApiError, ApiResult, SignedIn, blocking, log_op, non_empty, time_param};
use super::extract::Params;
use super::visibility::View;
use crate::audit::marked::segments;
use crate::store::{
    ActHitRow, ContextQuery, HitCursor, HitKey, HitKind, HitQuery, Names, Review, ReviewState,
    StateCounts, Store, StoreError, StoredHit, StoredMessage,
};
use crate::timefmt::format_ms;

/// Largest page of hits.
const MAX_LIMIT: u32 = 500;

/// Query parameters shared by the hit listings, their totals, the chart and the exports.
#[derive(Debug, Default, Deserialize)]
pub struct HitParams {
    pub corp: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub strategy: Option<String>,
    pub word: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub room: Option<String>,
    /// pending | sent | failed | none
    pub status: Option<String>,
    /// Behaviour id (behaviour-hit listing).
    pub behaviour: Option<String>,
    /// pending | confirmed | false_positive | escalated
    pub review: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    /// `false`: a first page without its totals (the page asks for them apart, so that its rows
    /// need not wait for a count over every hit).
    pub totals: Option<bool>,
}

fn encode_cursor(c: &HitCursor) -> String {
    B64.encode(format!("{}|{}|{}", c.msg_time, c.id, c.msg_id))
}

fn decode_cursor(s: &str) -> ApiResult<HitCursor> {
    let bad =
        || ApiError::BadRequest("翻页位置无效，请重新查询 (cursor: not one this API gave)".into());
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

/// An id parameter (strategy or behaviour): a number, or nothing.
fn id_param(field: &str, v: &Option<String>) -> ApiResult<Option<i64>> {
    non_empty(v)
        .map(|t| {
            t.parse().map_err(|_| {
                ApiError::BadRequest(format!("{field}「{t}」不是编号 ({field}: a number)"))
            })
        })
        .transpose()
}

/// The review state a parameter names.
pub(super) fn review_param(v: &Option<String>) -> ApiResult<Option<ReviewState>> {
    non_empty(v)
        .map(|t| {
            ReviewState::parse(&t).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "审核状态「{t}」无效：用 pending（待处理）、confirmed（已核实）、\
                     false_positive（误报）或 escalated（已上报）"
                ))
            })
        })
        .transpose()
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
                    "告警状态「{other}」无效：用 pending、sent、failed 或 none"
                )));
            }
        };
        for (field, v) in [
            ("敏感词", &self.word),
            ("发送人", &self.from),
            ("接收人", &self.to),
            ("群聊", &self.room),
            ("企业", &self.corp),
        ] {
            if v.as_ref().is_some_and(|t| t.chars().count() > 200) {
                return Err(ApiError::BadRequest(format!("{field}太长：最多 200 个字")));
            }
        }
        let mut q = HitQuery {
            corp_id: non_empty(&self.corp),
            since_ms: time_param("since", &self.since)?,
            until_ms: time_param("until", &self.until)?,
            strategy_id: id_param("strategy", &self.strategy)?,
            word: non_empty(&self.word),
            from_id: non_empty(&self.from),
            to_id: non_empty(&self.to),
            room_id: non_empty(&self.room),
            send_status,
            act_id: id_param("behaviour", &self.behaviour)?,
            review_state: review_param(&self.review)?,
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

/// A person or group id as `{id, label}` (label `name (id)`, or the id when nobody knows it).
fn who(names: &Names, id: &str) -> Value {
    json!({ "id": id, "name": names.name(id).unwrap_or_default(), "label": names.label(id) })
}

/// A hit's review as JSON (a hit never reviewed is pending, by nobody).
pub(super) fn review_json(review: Option<&Review>) -> Value {
    match review {
        Some(r) => json!({
            "state": r.state.as_str(), "state_label": r.state.label(), "note": r.note,
            "reviewer": r.reviewer, "time": format_ms(r.time_ms),
        }),
        None => json!({
            "state": "pending", "state_label": ReviewState::Pending.label(), "note": "",
            "reviewer": "", "time": "",
        }),
    }
}

/// What the alert column reads.
pub(super) fn send_status_label(name: &str) -> &'static str {
    match name {
        "pending" => "待发送",
        "sent" => "已发送",
        "failed" => "发送失败",
        _ => "无需告警",
    }
}

/// A kind of hit the API lists: how to read a page of it, name its rows and show them.
pub trait Listing {
    const KIND: HitKind;
    type Row: Send + 'static;

    fn page(store: &dyn Store, q: &HitQuery) -> Result<Vec<Self::Row>, StoreError>;
    fn key(row: &Self::Row) -> HitKey;
    fn msg_time(row: &Self::Row) -> i64;
    /// The ids whose names the row shows.
    fn people(row: &Self::Row) -> Vec<String>;
    fn json(row: &Self::Row, names: &Names, review: Option<&Review>) -> Value;
}

/// `GET /api/hits`.
pub struct StrategyHits;

impl Listing for StrategyHits {
    const KIND: HitKind = HitKind::Strategy;
    type Row = StoredHit;

    fn page(store: &dyn Store, q: &HitQuery) -> Result<Vec<StoredHit>, StoreError> {
        store.hits(q)
    }

    fn key(row: &StoredHit) -> HitKey {
        HitKey::of_hit(&row.hit)
    }

    fn msg_time(row: &StoredHit) -> i64 {
        row.hit.msg_time
    }

    fn people(row: &StoredHit) -> Vec<String> {
        let h = &row.hit;
        let mut ids = crate::store::split_list(&h.to_list);
        ids.push(h.from_id.clone());
        ids.push(h.room_id.clone());
        ids
    }

    fn json(row: &StoredHit, names: &Names, review: Option<&Review>) -> Value {
        let h = &row.hit;
        let to = crate::store::split_list(&h.to_list);
        let r = review_json(review);
        json!({
            "kind": "strategy", "corp_id": h.corp_id, "msg_id": h.msg_id,
            "strategy_id": h.strategy_id, "strategy_name": h.strategy_name, "words": h.words,
            "spans": h.spans, "content": h.content, "from_id": h.from_id,
            "from": who(names, &h.from_id),
            "to_list": to, "to": to.iter().map(|t| who(names, t)).collect::<Vec<_>>(),
            "room_id": h.room_id,
            "room": (!h.room_id.is_empty()).then(|| who(names, &h.room_id)),
            "msg_time": h.msg_time, "time": format_ms(h.msg_time), "direction": h.direction,
            "audit_user_id": h.audit_user_id, "send_status": h.send_status_name(),
            "send_status_label": send_status_label(h.send_status_name()),
            "review_state": r["state"], "review": r,
        })
    }
}

/// `GET /api/behaviour-hits`: each row of `we_sensitive_act_hit` under its behaviour's id.
pub struct BehaviourHits;

impl Listing for BehaviourHits {
    const KIND: HitKind = HitKind::Behaviour;
    type Row = ActHitRow;

    fn page(store: &dyn Store, q: &HitQuery) -> Result<Vec<ActHitRow>, StoreError> {
        store.act_hits(q)
    }

    fn key(a: &ActHitRow) -> HitKey {
        HitKey::of_act_hit(a)
    }

    fn msg_time(a: &ActHitRow) -> i64 {
        a.msg_time
    }

    fn people(a: &ActHitRow) -> Vec<String> {
        vec![a.operator_id.clone(), a.operate_target_id.clone()]
    }

    fn json(a: &ActHitRow, names: &Names, review: Option<&Review>) -> Value {
        let r = review_json(review);
        let label = |id: &str, fallback: &str| act_label(names, id, fallback);
        json!({
            "kind": "behaviour", "corp_id": a.corp_id, "msg_id": a.msg_id,
            "behaviour_id": a.sensitive_act_id, "behaviour": a.sensitive_act,
            "operator_id": a.operator_id, "operator": a.operator,
            "operator_label": label(&a.operator_id, &a.operator),
            "target_id": a.operate_target_id, "target": a.operate_target,
            "target_label": label(&a.operate_target_id, &a.operate_target),
            "detail": a.detail, "msg_time": a.msg_time, "time": format_ms(a.msg_time),
            "review_state": r["state"], "review": r,
        })
    }
}

/// A behaviour hit's operator or target: its directory name with the id, else the name the hit
/// recorded with the id, else the id.
pub(super) fn act_label(names: &Names, id: &str, recorded: &str) -> String {
    if names.name(id).is_some() {
        names.label(id)
    } else if !recorded.is_empty() && recorded != id {
        format!("{recorded} ({id})")
    } else {
        id.to_owned()
    }
}

/// The cursor just past a row: its time, msgid and strategy or behaviour id.
pub(super) fn cursor_of<K: Listing>(row: &K::Row) -> HitCursor {
    let k = K::key(row);
    HitCursor {
        msg_time: K::msg_time(row),
        msg_id: k.msg_id,
        id: k.id,
    }
}

/// The current reviews of `keys`, by key.
pub(super) fn reviews_by_key(
    store: &dyn Store,
    keys: &[HitKey],
) -> Result<HashMap<HitKey, Review>, StoreError> {
    Ok(store
        .reviews_of(keys)?
        .into_iter()
        .map(|r| (r.key.clone(), r))
        .collect())
}

/// The names a page of rows shows, per corp.
pub(super) fn names_for<K: Listing>(
    app: &App,
    store: &dyn Store,
    rows: &[K::Row],
) -> ApiResult<HashMap<String, Names>> {
    let mut ids: HashMap<String, Vec<String>> = HashMap::new();
    for r in rows {
        ids.entry(K::key(r).corp_id)
            .or_default()
            .extend(K::people(r));
    }
    let mut out = HashMap::new();
    for (corp, ids) in ids {
        let names = super::archive::names_of(app, store, &corp, ids)?;
        out.insert(corp, names);
    }
    Ok(out)
}

/// A page of rows as JSON, each with its names and review.
pub(super) fn rows_json<K: Listing>(
    app: &App,
    store: &dyn Store,
    rows: &[K::Row],
) -> ApiResult<Vec<Value>> {
    let keys: Vec<HitKey> = rows.iter().map(K::key).collect();
    let reviews = reviews_by_key(store, &keys)?;
    let names = names_for::<K>(app, store, rows)?;
    let none = Names::default();
    Ok(rows
        .iter()
        .zip(&keys)
        .map(|(r, k)| K::json(r, names.get(&k.corp_id).unwrap_or(&none), reviews.get(k)))
        .collect())
}

/// Totals by review state as JSON, and the total the listing's own review filter selects.
fn totals_json(counts: &StateCounts, state: Option<ReviewState>) -> (u64, Value) {
    let total = state.map_or(counts.total(), |s| counts.get(s));
    let by_state: serde_json::Map<String, Value> = ReviewState::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), json!(counts.get(*s))))
        .collect();
    (total, Value::Object(by_state))
}

/// One page of hits of kind `K` within what the session may see, the cursor after it when the
/// page is full, and — on a first page, unless asked not to — the total and the totals by review
/// state.
pub async fn list<K: Listing>(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    Params(p): Params<HitParams>,
) -> ApiResult<Json<Value>> {
    let q = p.query(&app.view(&s)?)?;
    let count = q.after.is_none() && p.totals != Some(false);
    let store = app.store.clone();
    let app2 = app.clone();
    let (items, next, totals) = blocking(move || {
        let rows = K::page(store.as_ref(), &q)?;
        let next = rows
            .last()
            .filter(|_| rows.len() == q.limit as usize)
            .map(|last| encode_cursor(&cursor_of::<K>(last)));
        let totals = if count {
            Some(store.hit_totals(K::KIND, &q)?)
        } else {
            None
        };
        let items = rows_json::<K>(&app2, store.as_ref(), &rows)?;
        Ok((items, next, totals.map(|t| (t, q.review_state))))
    })
    .await?;
    let mut out = json!({ "items": items, "next_cursor": next });
    if let Some((counts, state)) = totals {
        let (total, by_state) = totals_json(&counts, state);
        out["total"] = json!(total);
        out["by_review_state"] = by_state;
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
pub struct ContextParams {
    pub around: Option<u32>,
}

/// `GET /api/hits/{corp}/{msg_id}/{strategy}`: the hit, its review and its history, and the
/// messages around it.
pub async fn context(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    Path((corp, msg_id, strategy)): Path<(String, String, i64)>,
    Params(p): Params<ContextParams>,
) -> ApiResult<Json<Value>> {
    let v = app.view(&s)?;
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
    let app2 = app.clone();
    let (hit, spans, history, context, names) = blocking(move || {
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
        let key = StrategyHits::key(&hit);
        let history = store.review_history(&key)?;
        let context = store.context(&ContextQuery {
            corp_id: corp.clone(),
            msg_id,
            msg_time: hit.hit.msg_time,
            around,
        })?;
        let senders = context.iter().map(|m| m.row.from_id.clone());
        let names = super::archive::names_of(&app2, store.as_ref(), &corp, senders)?;
        // Recorded before the answer leaves: a look that is not logged does not happen.
        store.log_operation(&op)?;
        let spans = hit.hit.spans.clone();
        let hit = rows_json::<StrategyHits>(&app2, store.as_ref(), std::slice::from_ref(&hit))?
            .pop()
            .unwrap_or_default();
        Ok((hit, spans, history, context, names))
    })
    .await?;
    let hit_msg = hit["msg_id"].as_str().unwrap_or_default().to_owned();
    let messages: Vec<Value> = context
        .iter()
        .map(|m: &StoredMessage| {
            let r = &m.row;
            let is_hit = r.msg_id == hit_msg;
            let mut v = json!({
                "msg_id": r.msg_id, "seq": r.seq, "from_id": r.from_id,
                "from": who(&names, &r.from_id),
                "to_list": crate::store::split_list(&r.to_list), "room_id": r.room_id,
                "msg_time": r.msg_time, "time": format_ms(r.msg_time), "msg_type": r.msg_type,
                "action": r.action, "text": r.plain_text, "is_hit": is_hit,
            });
            // The hit's own spans, not every occurrence of its words (an allow word's is none).
            if is_hit {
                v["marked"] = json!(segments(&r.plain_text, &spans));
            }
            v
        })
        .collect();
    Ok(Json(json!({
        "hit": hit,
        "review_history": history.iter().map(|r| review_json(Some(r))).collect::<Vec<_>>(),
        "context": messages,
    })))
}

/// `GET /api/stats/daily`: hits per day under the listing's filters, strategies and behaviours.
pub async fn daily(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    Params(p): Params<HitParams>,
) -> ApiResult<Json<Value>> {
    let mut q = p.query(&app.view(&s)?)?;
    q.after = None;
    let store = app.store.clone();
    let zone = crate::timefmt::display_zone();
    let days = blocking(move || Ok(store.daily_counts(&q, zone)?)).await?;
    Ok(Json(json!({ "days": days })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let c = HitCursor {
            msg_time: 1_700_000_000_000,
            msg_id: "m|1".into(),
            id: 3,
        };
        assert_eq!(decode_cursor(&encode_cursor(&c)).ok(), Some(c));
        assert!(decode_cursor("not-a-cursor").is_err());
    }

    #[test]
    fn review_states_parse_by_their_api_names_only() {
        assert_eq!(
            review_param(&Some("false_positive".into())).ok(),
            Some(Some(ReviewState::FalsePositive))
        );
        assert!(review_param(&Some("done".into())).is_err());
        assert_eq!(review_param(&Some(" ".into())).ok(), Some(None));
    }
}
