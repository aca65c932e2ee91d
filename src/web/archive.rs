//! The archive browser's API: the conversations one person or group took part in, a
//! conversation's messages paged either way (or around a message or a time), where a message
//! belongs, search over every message, and media files — all inside the viewer's conversations
//! (anything outside answers 404), every read written to `sys_oper_log`, names shown with ids and
//! times in the display zone.

use std::collections::{BTreeMap, HashMap, HashSet};
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
use super::api::{
    ApiError, ApiResult, SignedIn, blocking, log_op, log_query, non_empty, time_param,
};
use super::extract::Params;
use crate::audit::marked::segments;
use crate::audit::normalize::normalize;
use crate::message::{Conversation, is_external_id, type_label};
use crate::store::{
    ConversationMessagesQuery, ConversationQuery, ConversationSummary, HitKey, HitQuery, HitRow,
    MediaJob, MediaJobQuery, MediaStatus, MessageCursor, Names, Page, Review, ReviewState,
    SearchQuery, Store, StoredHit, StoredMessage, TextMatch, VOICE_KINDS, Visible,
};
use crate::timefmt::format_ms;

/// Largest page of conversations or messages.
const MAX_LIMIT: u32 = 200;

/// A conversation as the API names it: corp and key, URL-safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationId {
    pub corp_id: String,
    pub conversation: Conversation,
}

impl ConversationId {
    pub fn encode(&self) -> String {
        B64.encode(format!("{}\n{}", self.corp_id, self.conversation.key()))
    }

    pub fn decode(id: &str) -> Option<ConversationId> {
        let text = String::from_utf8(B64.decode(id).ok()?).ok()?;
        let (corp, key) = text.split_once('\n')?;
        Some(ConversationId {
            corp_id: corp.to_owned(),
            conversation: Conversation::parse(key)?,
        })
    }

    fn of(corp_id: &str, m: &StoredMessage) -> Option<ConversationId> {
        Some(ConversationId {
            corp_id: corp_id.to_owned(),
            conversation: m.row.conversation()?,
        })
    }
}

/// The names of `ids` in `corp_id`, under the current rules' organisation.
pub fn names_of(
    app: &App,
    store: &dyn Store,
    corp_id: &str,
    ids: impl IntoIterator<Item = String>,
) -> ApiResult<Names> {
    Ok(Names::lookup(&app.rules()?.members, store, corp_id, ids)?)
}

/// A person or group as JSON: id, name (empty when unknown), label and kind.
fn person(names: &Names, id: &str) -> Value {
    let kind = if id.starts_with("wr") {
        "group"
    } else if is_external_id(id) {
        "customer"
    } else if id.starts_with("wb") {
        "robot"
    } else {
        "member"
    };
    json!({
        "id": id, "name": names.name(id).unwrap_or_default(), "label": names.label(id), "kind": kind,
    })
}

/// The ids a conversation names (its room, or its two people).
pub(super) fn conversation_ids(c: &Conversation) -> Vec<String> {
    match c {
        Conversation::Room(r) => vec![r.clone()],
        Conversation::Pair(a, b) => vec![a.clone(), b.clone()],
    }
}

/// A conversation's title: 「群名」, or `张三 ↔ 客户王女士` — the person browsed (`focus`)
/// first, else the member before the customer.
fn title(names: &Names, c: &Conversation, focus: Option<&str>) -> String {
    let short = |id: &str| names.name(id).unwrap_or(id).to_owned();
    match c {
        Conversation::Room(r) => format!("「{}」", short(r)),
        Conversation::Pair(a, b) => {
            let (first, second) = if focus == Some(b.as_str())
                || (focus != Some(a.as_str()) && is_external_id(a) && !is_external_id(b))
            {
                (b, a)
            } else {
                (a, b)
            };
            format!("{} ↔ {}", short(first), short(second))
        }
    }
}

/// A conversation's title as [`title`] gives it without a person browsed.
pub fn title_of(names: &Names, c: &Conversation) -> String {
    title(names, c, None)
}

fn conversation_json(names: &Names, c: &ConversationSummary, focus: Option<&str>) -> Value {
    let id = ConversationId {
        corp_id: c.corp_id.clone(),
        conversation: c.conversation.clone(),
    };
    let (kind, room, people) = match &c.conversation {
        Conversation::Room(r) => ("room", person(names, r), vec![]),
        Conversation::Pair(a, b) => (
            if is_external_id(a) || is_external_id(b) {
                "customer"
            } else {
                "colleague"
            },
            Value::Null,
            vec![person(names, a), person(names, b)],
        ),
    };
    json!({
        "id": id.encode(), "corp_id": c.corp_id, "kind": kind, "room": room, "people": people,
        "title": title(names, &c.conversation, focus), "msg_count": c.msg_count,
        "first_msg_time": c.first_msg_time, "first_time": format_ms(c.first_msg_time),
        "last_msg_time": c.last_msg_time, "last_time": format_ms(c.last_msg_time),
    })
}

/// Where a keyword occurs in `text`: as typed, or through the normaliser (spans in the original).
pub fn keyword_spans(text: &str, keyword: &str, how: TextMatch) -> Vec<(usize, usize)> {
    match how {
        TextMatch::Plain => text
            .match_indices(keyword)
            .map(|(i, k)| (i, i + k.len()))
            .collect(),
        TextMatch::Normalised => {
            // The text is normalised (round 2 included): so is the keyword.
            let folded = crate::audit::normalize::normalize_word(keyword);
            if folded.is_empty() {
                return Vec::new();
            }
            let n = normalize(text);
            n.text
                .match_indices(folded.as_str())
                .map(|(i, k)| n.original_span(text, i, i + k.len()))
                .collect()
        }
    }
}

fn media_json(m: &StoredMessage, jobs: &[&MediaJob]) -> Vec<Value> {
    let r = &m.row;
    jobs.iter()
        .map(|j| {
            let url = format!(
                "/api/media/{}/{}/{}",
                super::media::percent_encode(&r.corp_id),
                super::media::percent_encode(&r.msg_id),
                j.key.item
            );
            // Voice and a meeting's voice are AMR, which browsers do not play: the fetcher
            // stores an MP3 copy beside each.
            let playable = (j.status == MediaStatus::Done && VOICE_KINDS.contains(&j.kind))
                .then(|| format!("{url}?variant=playable"));
            json!({
                "item": j.key.item, "kind": j.kind, "status": j.status.as_str(),
                "file_name": j.file_name, "size": if j.file_size > 0 { j.file_size } else { j.size },
                "dead_reason": j.dead_reason,
                "url": (j.status == MediaStatus::Done).then_some(url),
                "playable_url": playable,
            })
        })
        .collect()
}

/// One message as the chat view renders it.
fn message_json(
    names: &Names,
    m: &StoredMessage,
    hits: &[&StoredHit],
    media: &[&MediaJob],
    highlight: &[(usize, usize)],
) -> Value {
    let r = &m.row;
    let body: Value = serde_json::from_str(&r.contact).unwrap_or(Value::Null);
    let mut spans: Vec<(usize, usize)> = highlight.to_vec();
    spans.extend(hits.iter().flat_map(|h| h.hit.spans.iter().copied()));
    let marked = segments(&r.plain_text, &spans);
    let conversation = ConversationId::of(&r.corp_id, m).map(|c| c.encode());
    json!({
        "corp_id": r.corp_id, "msg_id": r.msg_id, "seq": r.seq, "msg_time": r.msg_time,
        "time": format_ms(r.msg_time), "msg_type": r.msg_type, "type_label": type_label(&r.msg_type),
        "action": r.action, "from": person(names, &r.from_id),
        "to": crate::store::split_list(&r.to_list).iter().map(|t| person(names, t)).collect::<Vec<_>>(),
        "room": if r.room_id.is_empty() { Value::Null } else { person(names, &r.room_id) },
        "text": r.plain_text, "marked": marked, "body": body,
        "hits": hits.iter().map(|h| json!({
            "strategy_id": h.hit.strategy_id, "strategy_name": h.hit.strategy_name,
            "words": h.hit.words,
        })).collect::<Vec<_>>(),
        "media": media_json(m, media), "conversation_id": conversation,
    })
}

/// The review state of one of `reviews` (pending when never reviewed).
fn state_of(reviews: &HashMap<HitKey, Review>, hit: &HitRow) -> ReviewState {
    reviews
        .get(&HitKey::of_hit(hit))
        .map(|r| r.state)
        .unwrap_or_default()
}

/// The current reviews of `hits`, by key.
fn reviews_of(store: &dyn Store, hits: &[StoredHit]) -> ApiResult<HashMap<HitKey, Review>> {
    let keys: Vec<HitKey> = hits.iter().map(|h| HitKey::of_hit(&h.hit)).collect();
    Ok(super::hits::reviews_by_key(store, &keys)?)
}

/// Renders a page of messages of one corp: their names, visible hits and media, as JSON.
fn render(
    app: &App,
    store: &dyn Store,
    view: &super::visibility::View,
    corp_id: &str,
    rows: &[StoredMessage],
    highlight: impl Fn(&StoredMessage) -> Vec<(usize, usize)>,
) -> ApiResult<Vec<Value>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let msg_ids: Vec<String> = rows.iter().map(|m| m.row.msg_id.clone()).collect();
    let mut q = HitQuery {
        corp_id: Some(corp_id.to_owned()),
        msg_ids: msg_ids.clone(),
        limit: 10_000,
        ..HitQuery::default()
    };
    view.apply(&mut q);
    let hits = store.hits(&q)?;
    let reviews = reviews_of(store, &hits)?;
    let jobs = store.media_jobs(&MediaJobQuery {
        corp_id: Some(corp_id.to_owned()),
        msg_ids,
        limit: 100_000,
        ..MediaJobQuery::default()
    })?;
    let ids = rows.iter().flat_map(|m| {
        let r = &m.row;
        [r.from_id.clone(), r.room_id.clone()]
            .into_iter()
            .chain(crate::store::split_list(&r.to_list))
    });
    let names = names_of(app, store, corp_id, ids)?;
    let visible = view.conversations();
    let mut out = Vec::with_capacity(rows.len());
    for m in rows {
        let id = &m.row.msg_id;
        let h: Vec<&StoredHit> = hits.iter().filter(|h| &h.hit.msg_id == id).collect();
        let j: Vec<&MediaJob> = jobs.iter().filter(|j| &j.key.msg_id == id).collect();
        let mut v = message_json(&names, m, &h, &j, &highlight(m));
        if let Some(list) = v["hits"].as_array_mut() {
            for (hit, stored) in list.iter_mut().zip(&h) {
                let state = state_of(&reviews, &stored.hit);
                hit["corp_id"] = json!(corp_id);
                hit["review_state"] = json!(state.as_str());
                hit["review_state_label"] = json!(state.label());
            }
        }
        // A recall says what was recalled, when the archive has it (and the viewer may see it).
        if m.row.msg_type == "revoke"
            && let Some(pre) = serde_json::from_str::<Value>(&m.row.contact)
                .ok()
                .and_then(|b| b["pre_msgid"].as_str().map(str::to_owned))
        {
            v["recalled"] = match store.message(corp_id, &pre, &visible)? {
                Some(r) => json!({
                    "msg_id": r.row.msg_id, "time": format_ms(r.row.msg_time),
                    "type_label": type_label(&r.row.msg_type), "text": r.row.plain_text,
                }),
                None => json!({ "msg_id": pre }),
            };
        }
        out.push(v);
    }
    Ok(out)
}

fn limit(v: Option<u32>, default: u32) -> u32 {
    v.unwrap_or(default).clamp(1, MAX_LIMIT)
}

fn encode_cursor(parts: &[&str]) -> String {
    B64.encode(parts.join("\n"))
}

fn decode_cursor(s: &str, n: usize) -> ApiResult<Vec<String>> {
    let bad =
        || ApiError::BadRequest("cursor: 不是本接口给出的游标 (not one this API gave)".into());
    let text = String::from_utf8(B64.decode(s).map_err(|_| bad())?).map_err(|_| bad())?;
    let parts: Vec<String> = text.splitn(n, '\n').map(str::to_owned).collect();
    if parts.len() == n {
        Ok(parts)
    } else {
        Err(bad())
    }
}

fn message_cursor(m: &StoredMessage) -> String {
    encode_cursor(&[&m.row.msg_time.to_string(), &m.row.msg_id])
}

fn parse_message_cursor(s: &str) -> ApiResult<MessageCursor> {
    let p = decode_cursor(s, 2)?;
    Ok(MessageCursor {
        msg_time: p[0]
            .parse()
            .map_err(|_| ApiError::BadRequest("cursor: not one this API gave".into()))?,
        msg_id: p[1].clone(),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ConversationParams {
    pub corp: Option<String>,
    pub member: Option<String>,
    pub customer: Option<String>,
    pub room: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// `GET /api/conversations`.
pub async fn conversations(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    Params(p): Params<ConversationParams>,
) -> ApiResult<Json<Value>> {
    let view = app.view(&s)?;
    let person = match (non_empty(&p.member), non_empty(&p.customer)) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "member 和 customer 只能选一个 (give member or customer, not both)".into(),
            ));
        }
        (m, c) => m.or(c),
    };
    let after = non_empty(&p.cursor)
        .map(|c| {
            let parts = decode_cursor(&c, 3)?;
            let t = parts[0]
                .parse()
                .map_err(|_| ApiError::BadRequest("cursor: not one this API gave".into()))?;
            Ok::<_, ApiError>((t, parts[1].clone(), parts[2].clone()))
        })
        .transpose()?;
    let q = ConversationQuery {
        corp_id: non_empty(&p.corp),
        member: person,
        room: non_empty(&p.room),
        visible: view.conversations(),
        after,
        limit: limit(p.limit, 50),
    };
    let op = log_query(&s, "查看会话列表", "conversations", &uri, peer);
    let store = app.store.clone();
    let app2 = app.clone();
    let (items, next, total) = blocking(move || {
        let found = store.conversations(&q)?;
        // One lookup per corp for the whole page.
        let mut ids: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for c in &found {
            ids.entry(&c.corp_id)
                .or_default()
                .extend(conversation_ids(&c.conversation));
        }
        let mut names = HashMap::new();
        for (corp, ids) in ids {
            names.insert(corp, names_of(&app2, store.as_ref(), corp, ids)?);
        }
        let items: Vec<Value> = found
            .iter()
            .filter_map(|c| {
                let n = names.get(c.corp_id.as_str())?;
                Some(conversation_json(n, c, q.member.as_deref()))
            })
            .collect();
        let next = found
            .last()
            .filter(|_| found.len() == q.limit as usize)
            .map(|c| {
                encode_cursor(&[
                    &c.last_msg_time.to_string(),
                    &c.corp_id,
                    &c.conversation.key(),
                ])
            });
        let total = match q.after {
            None => Some(store.count_conversations(&q, COUNT_CAP)?),
            Some(_) => None,
        };
        store.log_operation(&op)?;
        Ok((items, next, total))
    })
    .await?;
    Ok(Json(totalled(
        json!({ "items": items, "next_cursor": next }),
        total,
    )))
}

/// Lists are counted up to this many; beyond, the total says "more than".
pub const COUNT_CAP: u64 = 10_000;

/// A first page's answer with its total: `total`, and `total_capped` when there are more than
/// [`COUNT_CAP`] (the total is then the cap).
pub(super) fn totalled(mut page: Value, total: Option<u64>) -> Value {
    if let Some(n) = total {
        page["total"] = json!(n.min(COUNT_CAP));
        page["total_capped"] = json!(n >= COUNT_CAP);
    }
    page
}

#[derive(Debug, Default, Deserialize)]
pub struct MessagesParams {
    /// Older than this cursor.
    pub before: Option<String>,
    /// Newer than this cursor.
    pub after: Option<String>,
    /// Centred on this msgid.
    pub around: Option<String>,
    /// Centred on this time.
    pub at: Option<String>,
    pub limit: Option<u32>,
}

/// The conversation `id` names, if the viewer sees it; else 404.
pub(super) fn visible_conversation(
    store: &dyn Store,
    id: &ConversationId,
    visible: &Visible,
) -> ApiResult<ConversationSummary> {
    store
        .conversation(&id.corp_id, &id.conversation, visible)?
        .ok_or(ApiError::NotFound)
}

/// `GET /api/conversations/{id}/messages`.
pub async fn conversation_messages(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    Path(id): Path<String>,
    Params(p): Params<MessagesParams>,
) -> ApiResult<Json<Value>> {
    let view = app.view(&s)?;
    let cid = ConversationId::decode(&id).ok_or(ApiError::NotFound)?;
    let n = limit(p.limit, 50);
    let at_time = time_param("at", &p.at)?;
    let op = log_op(
        &s,
        "查看会话",
        "conversation_messages",
        &uri,
        peer,
        json!({
            "corp_id": cid.corp_id, "conversation": cid.conversation.key(),
            "query": uri.query().unwrap_or_default(),
        })
        .to_string(),
    );
    let store = app.store.clone();
    let app2 = app.clone();
    let answer = blocking(move || {
        let visible = view.conversations();
        let summary = visible_conversation(store.as_ref(), &cid, &visible)?;
        let page = |page: Page, limit: u32| {
            store.conversation_messages(&ConversationMessagesQuery {
                corp_id: cid.corp_id.clone(),
                conversation: cid.conversation.clone(),
                page,
                limit,
            })
        };
        // The page, and whether there is more on each side (None: unknown, ask).
        let (rows, centre) = if let Some(c) = non_empty(&p.before) {
            (page(Page::Before(parse_message_cursor(&c)?), n)?, None)
        } else if let Some(c) = non_empty(&p.after) {
            (page(Page::After(parse_message_cursor(&c)?), n)?, None)
        } else if let Some(msg_id) = non_empty(&p.around) {
            let m = store
                .message(&cid.corp_id, &msg_id, &visible)?
                .filter(|m| m.row.conversation().as_ref() == Some(&cid.conversation))
                .ok_or(ApiError::NotFound)?;
            let at = MessageCursor {
                msg_time: m.row.msg_time,
                msg_id: m.row.msg_id.clone(),
            };
            let mut rows = page(Page::AtOrBefore(at.clone()), n / 2 + 1)?;
            rows.extend(page(Page::After(at), n / 2)?);
            (rows, Some(msg_id))
        } else if let Some(t) = at_time {
            let at = MessageCursor {
                msg_time: t,
                msg_id: String::new(),
            };
            let mut rows = page(Page::Before(at.clone()), n / 2)?;
            let after = page(Page::After(at), n - n / 2)?;
            let centre = after.first().map(|m| m.row.msg_id.clone());
            rows.extend(after);
            (rows, centre)
        } else {
            (page(Page::Newest, n)?, None)
        };
        let items = render(&app2, store.as_ref(), &view, &cid.corp_id, &rows, |_| {
            Vec::new()
        })?;
        let names = names_of(
            &app2,
            store.as_ref(),
            &cid.corp_id,
            conversation_ids(&cid.conversation),
        )?;
        store.log_operation(&op)?;
        Ok(json!({
            "conversation": conversation_json(&names, &summary, None),
            "items": items,
            "centre": centre,
            "before_cursor": rows.first().map(message_cursor),
            "after_cursor": rows.last().map(message_cursor),
            "cursors": rows.iter().map(message_cursor).collect::<Vec<_>>(),
        }))
    })
    .await?;
    Ok(Json(answer))
}

/// Most hits a conversation's hit list holds: the newest, when it has more.
const MAX_CONVERSATION_HITS: u32 = 2_000;

/// `GET /api/conversations/{id}/hits`: where the viewer's hits are in a conversation, oldest
/// first, one entry a message with its strategies, words and review states, so the chat view can
/// step from hit to hit. The conversation must be the viewer's (else 404); an auditor sees the
/// hits of their own strategies. Not logged apart: opening the conversation is.
pub async fn conversation_hits(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let view = app.view(&s)?;
    let cid = ConversationId::decode(&id).ok_or(ApiError::NotFound)?;
    let store = app.store.clone();
    let answer = blocking(move || {
        visible_conversation(store.as_ref(), &cid, &view.conversations())?;
        let mut q = HitQuery {
            corp_id: Some(cid.corp_id.clone()),
            conversation: Some(cid.conversation.clone()),
            limit: MAX_CONVERSATION_HITS + 1,
            ..HitQuery::default()
        };
        view.apply(&mut q);
        let mut hits = store.hits(&q)?;
        let capped = keep_whole_messages(&mut hits, MAX_CONVERSATION_HITS as usize);
        let reviews = reviews_of(store.as_ref(), &hits)?;
        // Newest first from the store; grouped by message, oldest first.
        let mut by_message: BTreeMap<(i64, &str), Vec<Value>> = BTreeMap::new();
        for h in &hits {
            let h = &h.hit;
            let state = state_of(&reviews, h);
            by_message
                .entry((h.msg_time, h.msg_id.as_str()))
                .or_default()
                .push(json!({
                    "strategy_id": h.strategy_id, "strategy_name": h.strategy_name,
                    "words": h.words, "review_state": state.as_str(),
                    "review_state_label": state.label(),
                }));
        }
        let items: Vec<Value> = by_message
            .into_iter()
            .map(|((msg_time, msg_id), hits)| {
                json!({
                    "msg_id": msg_id, "msg_time": msg_time, "time": format_ms(msg_time),
                    "hits": hits,
                })
            })
            .collect();
        Ok(json!({ "items": items, "capped": capped }))
    })
    .await?;
    Ok(Json(answer))
}

/// Cuts `hits` (newest first, a message's strategies together) to at most `max`, leaving out the
/// whole of a message the cut would split, so no message shows only some of its strategies. Says
/// whether anything was left out.
fn keep_whole_messages(hits: &mut Vec<StoredHit>, max: usize) -> bool {
    if hits.len() <= max {
        return false;
    }
    let first_out = hits.swap_remove(max).hit;
    hits.truncate(max);
    while hits
        .last()
        .is_some_and(|h| h.hit.msg_time == first_out.msg_time && h.hit.msg_id == first_out.msg_id)
    {
        hits.pop();
    }
    true
}

/// `GET /api/messages/{corp}/{msg_id}`: one message and its conversation.
pub async fn message(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    Path((corp, msg_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let view = app.view(&s)?;
    let op = log_op(
        &s,
        "查看消息",
        "message",
        &uri,
        peer,
        json!({ "corp_id": corp, "msg_id": msg_id }).to_string(),
    );
    let store = app.store.clone();
    let app2 = app.clone();
    let answer = blocking(move || {
        let m = store
            .message(&corp, &msg_id, &view.conversations())?
            .ok_or(ApiError::NotFound)?;
        let items = render(
            &app2,
            store.as_ref(),
            &view,
            &corp,
            std::slice::from_ref(&m),
            |_| Vec::new(),
        )?;
        store.log_operation(&op)?;
        Ok(items.into_iter().next().unwrap_or(Value::Null))
    })
    .await?;
    Ok(Json(answer))
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    pub q: Option<String>,
    /// `plain` (default) or `normalised`.
    pub mode: Option<String>,
    pub corp: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub room: Option<String>,
    /// msgtypes, comma-separated.
    #[serde(rename = "type")]
    pub msg_type: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

impl SearchParams {
    /// The store search these parameters ask for, inside `visible`.
    pub fn query(&self, visible: Visible) -> ApiResult<SearchQuery> {
        let text_match = match non_empty(&self.mode).as_deref() {
            None | Some("plain") => TextMatch::Plain,
            Some("normalised" | "normalized") => TextMatch::Normalised,
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "mode `{other}`: 用 plain（原文）或 normalised（归一化） (use plain or normalised)"
                )));
            }
        };
        let text = non_empty(&self.q);
        if text_match == TextMatch::Normalised
            && text
                .as_deref()
                .is_some_and(|t| crate::audit::normalize::fold(t).is_empty())
        {
            return Err(ApiError::BadRequest(
                "q: 归一化后为空，请换个关键词 (nothing left after normalising; search plainly)"
                    .into(),
            ));
        }
        Ok(SearchQuery {
            corp_id: non_empty(&self.corp),
            text,
            text_match,
            from_id: non_empty(&self.from),
            to_id: non_empty(&self.to),
            room_id: non_empty(&self.room),
            msg_types: non_empty(&self.msg_type)
                .map(|t| {
                    t.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            since_ms: time_param("since", &self.since)?,
            until_ms: time_param("until", &self.until)?,
            visible,
            before: non_empty(&self.cursor)
                .map(|c| parse_message_cursor(&c))
                .transpose()?,
            limit: limit(self.limit, 50),
        })
    }
}

/// `GET /api/search`.
pub async fn search(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    Params(p): Params<SearchParams>,
) -> ApiResult<Json<Value>> {
    let view = app.view(&s)?;
    let q = p.query(view.conversations())?;
    let op = log_query(&s, "搜索消息", "search", &uri, peer);
    let store = app.store.clone();
    let app2 = app.clone();
    let answer = blocking(move || {
        let found = store.search(&q)?;
        let keyword = q.text.clone().unwrap_or_default();
        let mut items = Vec::with_capacity(found.len());
        // Rendered per corp (names and hits are per corp), in the found order.
        let corps: Vec<String> = {
            let mut seen = HashSet::new();
            found
                .iter()
                .map(|m| m.row.corp_id.clone())
                .filter(|c| seen.insert(c.clone()))
                .collect()
        };
        let mut by_id: HashMap<(String, String), Value> = HashMap::new();
        for corp in corps {
            let rows: Vec<StoredMessage> = found
                .iter()
                .filter(|m| m.row.corp_id == corp)
                .cloned()
                .collect();
            let rendered = render(&app2, store.as_ref(), &view, &corp, &rows, |m| {
                keyword_spans(&m.row.plain_text, &keyword, q.text_match)
            })?;
            for (m, v) in rows.iter().zip(rendered) {
                by_id.insert((corp.clone(), m.row.msg_id.clone()), v);
            }
        }
        for m in &found {
            if let Some(v) = by_id.remove(&(m.row.corp_id.clone(), m.row.msg_id.clone())) {
                items.push(v);
            }
        }
        let next = found
            .last()
            .filter(|_| found.len() == q.limit as usize)
            .map(message_cursor);
        let total = match q.before {
            None => Some(store.count_search(&q, COUNT_CAP)?),
            Some(_) => None,
        };
        store.log_operation(&op)?;
        Ok(totalled(
            json!({ "items": items, "next_cursor": next }),
            total,
        ))
    })
    .await?;
    Ok(Json(answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rows::HitRow;

    #[test]
    fn conversation_ids_round_trip_and_refuse_junk() {
        let id = ConversationId {
            corp_id: "ww1".into(),
            conversation: Conversation::pair("zhangsan", "wmX"),
        };
        assert_eq!(ConversationId::decode(&id.encode()), Some(id));
        for junk in ["", "!!", "d3cx", &B64.encode("ww1\nx:y")] {
            assert_eq!(ConversationId::decode(junk), None, "{junk}");
        }
    }

    #[test]
    fn segments_mark_spans_in_place() {
        let text = "可以私下转账吗";
        let spans = keyword_spans(text, "私下转账", TextMatch::Plain);
        assert_eq!(
            segments(text, &spans),
            vec![
                ("可以".to_owned(), false),
                ("私下转账".to_owned(), true),
                ("吗".to_owned(), false)
            ]
        );
        let spaced = "私 下 轉 賬可以";
        let spans = keyword_spans(spaced, "私下转账", TextMatch::Normalised);
        assert_eq!(
            segments(spaced, &spans),
            vec![("私 下 轉 賬".to_owned(), true), ("可以".to_owned(), false)]
        );
        // Overlapping and out-of-range spans are merged and clamped, never panic.
        assert_eq!(
            segments("abcdef", &[(1, 3), (2, 5), (9, 12), (4, 2)]),
            vec![
                ("a".to_owned(), false),
                ("bc".to_owned(), true),
                ("de".to_owned(), true),
                ("f".to_owned(), false)
            ]
        );
        assert_eq!(
            segments("中文", &[(1, 2)]),
            vec![("中文".to_owned(), false)]
        );
    }

    fn hit(msg: &str, t: i64, strategy: i64) -> StoredHit {
        StoredHit {
            hit: HitRow {
                corp_id: "c".into(),
                msg_id: msg.into(),
                strategy_id: strategy,
                strategy_name: format!("s{strategy}"),
                words: Vec::new(),
                spans: Vec::new(),
                content: String::new(),
                from_id: "a".into(),
                to_list: "b".into(),
                room_id: String::new(),
                msg_time: t,
                direction: String::new(),
                audit_user_id: String::new(),
                send_status: 3,
                rules_version: 1,
            },
        }
    }

    fn keys(hits: &[StoredHit]) -> Vec<(&str, i64)> {
        hits.iter()
            .map(|h| (h.hit.msg_id.as_str(), h.hit.strategy_id))
            .collect()
    }

    #[test]
    fn a_cap_never_splits_a_message() {
        // Newest first, as the store gives them: m3 has one strategy, m2 three, m1 one.
        let all = || {
            vec![
                hit("m3", 30, 1),
                hit("m2", 20, 1),
                hit("m2", 20, 2),
                hit("m2", 20, 3),
                hit("m1", 10, 1),
            ]
        };
        let mut hits = all();
        assert!(!keep_whole_messages(&mut hits, 5));
        assert_eq!(hits.len(), 5);

        // A cut inside m2 leaves all of m2 out.
        let mut hits = all();
        assert!(keep_whole_messages(&mut hits, 3));
        assert_eq!(keys(&hits), [("m3", 1)]);

        // A cut between messages keeps whole messages.
        let mut hits = all();
        assert!(keep_whole_messages(&mut hits, 4));
        assert_eq!(keys(&hits), [("m3", 1), ("m2", 1), ("m2", 2), ("m2", 3)]);
    }
}
