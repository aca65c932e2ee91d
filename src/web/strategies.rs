//! The strategy editor's API: strategies an account may see (with, for administrators, the
//! members, departments and workspace accounts the editor picks by name), and — administrators
//! only — create, change and delete. A change names only the fields it edits: every other field
//! keeps its stored value, so a page that does not show a field never wipes it. A strategy must
//! have a name, at least one word and an auditor who exists; a deleted strategy is kept
//! (`del_flag`) and its id never reused, so its hits stay attributable.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use super::App;
use super::api::{ApiError, ApiResult, SignedIn, blocking};
use super::auth::Session;
use super::extract::JsonBody;
use crate::audit::{RuleSet, Strategy};
use crate::store::{Account, Role};

/// `GET /api/strategies`.
pub async fn list(State(app): State<Arc<App>>, SignedIn(s): SignedIn) -> ApiResult<Json<Value>> {
    let rules = app.rules()?;
    let v = app.view(&s)?;
    let visible: Vec<&Strategy> = rules
        .strategies
        .iter()
        .filter(|st| v.sees_strategy(st.id))
        .collect();
    let behaviours: Vec<Value> = rules
        .acts
        .iter()
        .map(|a| json!({ "id": a.id, "name": a.name, "enabled": a.enabled }))
        .collect();
    let mut out = json!({
        "items": visible, "can_edit": s.role == Role::Admin, "behaviours": behaviours,
    });
    if s.role == Role::Admin {
        let store = app.store.clone();
        let accounts = blocking(move || Ok(store.accounts()?)).await?;
        out["members"] = rules
            .members
            .iter()
            .map(|m| json!({ "id": m.userid, "name": m.name, "departments": m.departments }))
            .collect();
        out["departments"] = rules
            .departments
            .iter()
            .map(|d| json!({ "id": d.id, "name": d.name, "parent_id": d.parent_id }))
            .collect();
        out["accounts"] = accounts
            .iter()
            .filter(|a| !a.disabled && !a.we_user_id.is_empty())
            .map(|a| json!({ "user": a.user_name, "we_user_id": a.we_user_id, "role": a.role }))
            .collect();
    }
    Ok(Json(out))
}

fn admin_only(s: &Session) -> ApiResult<()> {
    if s.role != Role::Admin {
        return Err(ApiError::Forbidden(
            "只有管理员可以修改策略 (administrators only)",
        ));
    }
    Ok(())
}

/// The auditor's name: the organisation's, else the account's, else None when nobody by that
/// userid exists.
fn auditor_name(rules: &RuleSet, accounts: &[Account], userid: &str) -> Option<String> {
    if let Some(m) = rules.members.iter().find(|m| m.userid == userid) {
        return Some(if m.name.is_empty() {
            userid.to_owned()
        } else {
            m.name.clone()
        });
    }
    accounts
        .iter()
        .find(|a| a.we_user_id == userid && !a.disabled)
        .map(|a| a.user_name.clone())
}

/// `base` with every field `edits` names replaced (`id` excepted).
fn merged(base: &Strategy, edits: Map<String, Value>) -> ApiResult<Strategy> {
    let mut value = serde_json::to_value(base).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Value::Object(fields) = &mut value {
        for (k, v) in edits {
            if k != "id" {
                fields.insert(k, v);
            }
        }
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::BadRequest(format!(
            "策略的字段格式不对：{e} (a field has the wrong type)"
        ))
    })
}

/// Checks what the page cannot: a name, words, an auditor who exists; fills the auditor's name
/// when the auditor changed or had none.
fn checked(
    rules: &RuleSet,
    accounts: &[Account],
    before: Option<&Strategy>,
    mut s: Strategy,
) -> ApiResult<Strategy> {
    if s.name.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "请填写策略名称 (name is empty)".into(),
        ));
    }
    if s.name.chars().count() > 100 {
        return Err(ApiError::BadRequest(
            "策略名称太长：最多 100 个字 (name: at most 100 characters)".into(),
        ));
    }
    s.words = crate::audit::rules::split_words(s.words.iter().map(String::as_str));
    if s.words.is_empty() {
        return Err(ApiError::BadRequest(
            "请至少填写一个敏感词 (words: give at least one)".into(),
        ));
    }
    let userid = s.audit_user_id.trim().to_owned();
    if userid.is_empty() {
        return Err(ApiError::BadRequest(
            "请选择审计员 (audit_user_id: choose the auditor)".into(),
        ));
    }
    let Some(name) = auditor_name(rules, accounts, &userid) else {
        return Err(ApiError::BadRequest(format!(
            "审计员「{userid}」不存在：请从成员或工作台账号中选择 \
             (audit_user_id: no member or account has this userid)"
        )));
    };
    let changed = before.is_none_or(|b| b.audit_user_id != userid);
    if changed || s.audit_user_name.trim().is_empty() {
        s.audit_user_name = name;
    }
    s.audit_user_id = userid;
    for r in &s.scope {
        let ids = crate::store::split_list(&r.id);
        let unknown: Vec<&String> = match r.kind {
            1 => ids
                .iter()
                .filter(|d| !rules.departments.iter().any(|x| x.id.to_string() == **d))
                .collect(),
            2 => ids
                .iter()
                .filter(|u| !rules.members.iter().any(|m| m.userid == **u))
                .collect(),
            _ => Vec::new(),
        };
        if let Some(first) = unknown.first() {
            let what = if r.kind == 1 { "部门" } else { "成员" };
            return Err(ApiError::BadRequest(format!(
                "审计范围里的{what}「{first}」不存在：请从列表中选择 (scope: unknown id)"
            )));
        }
    }
    Ok(s)
}

/// Loads the rules, applies `change` to them, checks and saves them; returns what `change` says
/// and the new rules version.
async fn change<T: Send + 'static>(
    app: &Arc<App>,
    change: impl FnOnce(&mut RuleSet, &[Account], i64) -> ApiResult<T> + Send + 'static,
) -> ApiResult<(T, u64)> {
    let store = app.store.clone();
    let out = blocking(move || {
        let mut rules = store.load_rules()?;
        let accounts = store.accounts()?;
        let next_id = rules
            .strategies
            .iter()
            .map(|x| x.id)
            .max()
            .unwrap_or(0)
            .max(store.last_strategy_id()?)
            + 1;
        let out = change(&mut rules, &accounts, next_id)?;
        rules.validate().map_err(|e| {
            ApiError::BadRequest(format!("规则无效，未保存：{e} (the rules were not saved)"))
        })?;
        let version = store.save_rules(&rules)?;
        Ok((out, version))
    })
    .await?;
    app.forget_rules();
    Ok(out)
}

fn edits_of(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::BadRequest(
            "请求体应是一个 JSON 对象 (the body must be a JSON object)".into(),
        )),
    }
}

/// `POST /api/strategies`.
pub async fn create(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    admin_only(&s)?;
    let edits = edits_of(body)?;
    let (saved, version) = change(&app, move |rules, accounts, id| {
        let fresh = merged(&Strategy::new(id, ""), edits)?;
        let fresh = checked(rules, accounts, None, Strategy { id, ..fresh })?;
        rules.strategies.push(fresh.clone());
        Ok(fresh)
    })
    .await?;
    tracing::info!(user = %s.user_name, strategy = saved.id, rules_version = version, "strategy created");
    Ok(Json(json!({ "strategy": saved, "rules_version": version })))
}

/// `PUT /api/strategies/{id}`: the fields the body names; the rest stay as stored.
pub async fn update(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    admin_only(&s)?;
    let edits = edits_of(body)?;
    let (saved, version) = change(&app, move |rules, accounts, _| {
        let at = rules
            .strategies
            .iter()
            .position(|x| x.id == id)
            .ok_or(ApiError::NotFound)?;
        let before = rules.strategies[at].clone();
        let after = checked(rules, accounts, Some(&before), merged(&before, edits)?)?;
        rules.strategies[at] = after.clone();
        Ok(after)
    })
    .await?;
    tracing::info!(user = %s.user_name, strategy = saved.id, rules_version = version, "strategy saved");
    Ok(Json(json!({ "strategy": saved, "rules_version": version })))
}

/// The longest text `try` takes, in characters.
const TRY_MAX_CHARS: usize = 5_000;

/// `POST /api/strategies/try`: which strategies a text would hit, and where, as the daemon would
/// match it when a member sends it to a customer (scopes aside: the question is what the words
/// catch). Without `strategy`, the signed-in account's enabled strategies as stored, and the
/// behaviours the text shows; with it (administrators), that draft alone: the fields of a
/// strategy being edited, over strategy `id` as stored when given. Nothing is saved.
pub async fn try_text(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let mut body = edits_of(body)?;
    let text = match body.remove("text") {
        Some(Value::String(t)) => t,
        _ => {
            return Err(ApiError::BadRequest(
                "请填写要试的文字 (text: give the text to try)".into(),
            ));
        }
    };
    if text.chars().count() > TRY_MAX_CHARS {
        return Err(ApiError::BadRequest(format!(
            "文字太长：最多 {TRY_MAX_CHARS} 个字 (text: at most {TRY_MAX_CHARS} characters)"
        )));
    }
    let (version, rules) = app.rules_of_version()?;
    let draft = match body.remove("strategy") {
        Some(edits) => {
            admin_only(&s)?;
            let base = match body.get("id").and_then(Value::as_i64) {
                Some(id) => rules
                    .strategies
                    .iter()
                    .find(|x| x.id == id)
                    .cloned()
                    .ok_or(ApiError::NotFound)?,
                None => Strategy::new(0, "草稿"),
            };
            let mut d = merged(&base, edits_of(edits)?)?;
            d.words = crate::audit::rules::split_words(d.words.iter().map(String::as_str));
            Some(d)
        }
        None => None,
    };
    let view = app.view(&s)?;
    // Building the matcher takes a while for many words (0.65 s for 10,000 with their pinyin,
    // seconds for tens of thousands): off the async workers, and once per rules version or draft.
    // A draft tries its words alone; the stored rules also say which behaviours the text shows.
    let (hits, behaviours) = blocking(move || {
        let is_draft = draft.is_some();
        let auditor = match draft {
            Some(d) => app.tried.draft(d)?,
            None => app.tried.stored(version, &rules)?,
        };
        let visible = |id: i64| is_draft || view.sees_strategy(id);
        Ok(try_text_on(&auditor, &text, !is_draft, visible))
    })
    .await?;
    Ok(Json(json!({ "hits": hits, "behaviours": behaviours })))
}

/// The hits of `text` under `auditor` of the strategies `visible` says, as a member's message to
/// a customer, and (`acts`) the behaviours it shows.
fn try_text_on(
    auditor: &crate::audit::Auditor,
    text: &str,
    acts: bool,
    visible: impl Fn(i64) -> bool,
) -> (Vec<Value>, Vec<Value>) {
    let row = crate::message::MessageRow::typed_text("try", "msgaudit-try", &["wmtry"], "", text);
    let behaviours: Vec<Value> = if acts {
        auditor
            .act_hits(&row)
            .into_iter()
            .map(|a| json!({ "id": a.act.id(), "name": a.act.name(), "detail": a.detail }))
            .collect()
    } else {
        Vec::new()
    };
    let hits = auditor
        .word_hits(&row)
        .into_iter()
        .filter(|h| visible(h.strategy_id))
        .map(|h| {
            json!({
                "strategy_id": h.strategy_id, "strategy_name": h.strategy_name, "words": h.words,
                "matched": h.matched(&row.plain_text),
                "marked": crate::audit::marked::segments(&row.plain_text, &h.spans),
            })
        })
        .collect();
    (hits, behaviours)
}

/// `DELETE /api/strategies/{id}`: soft delete; its hits stay.
pub async fn delete(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    admin_only(&s)?;
    let (name, version) = change(&app, move |rules, _, _| {
        let at = rules
            .strategies
            .iter()
            .position(|x| x.id == id)
            .ok_or(ApiError::NotFound)?;
        Ok(rules.strategies.remove(at).name)
    })
    .await?;
    tracing::info!(user = %s.user_name, strategy = id, rules_version = version, "strategy deleted");
    Ok(Json(
        json!({ "deleted": id, "name": name, "rules_version": version }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> RuleSet {
        serde_json::from_value(json!({
            "departments": [{"id": 1, "name": "华东区"}],
            "members": [{"userid": "wangwu", "name": "王五", "departments": [1]}],
            "strategies": [],
        }))
        .unwrap_or_default()
    }

    #[test]
    fn a_change_keeps_the_fields_it_does_not_name() {
        let mut base = Strategy::new(3, "资金");
        base.audit_user_id = "wangwu".into();
        base.audit_user_name = "王五".into();
        base.words = vec!["转账".into()];
        let edits = edits_of(json!({ "name": "资金往来", "id": 99 })).unwrap_or_default();
        let after = merged(&base, edits).ok();
        let after = after.as_ref();
        assert_eq!(after.map(|s| s.name.as_str()), Some("资金往来"));
        assert_eq!(after.map(|s| s.audit_user_name.as_str()), Some("王五"));
        assert_eq!(after.map(|s| s.id), Some(3));
    }

    #[test]
    fn an_auditor_who_does_not_exist_or_no_words_is_refused() {
        let r = rules();
        let mut s = Strategy::new(1, "资金");
        s.words = vec!["转账".into()];
        s.audit_user_id = "nobody".into();
        assert!(checked(&r, &[], None, s.clone()).is_err());
        s.audit_user_id = "wangwu".into();
        let ok = checked(&r, &[], None, s.clone()).ok();
        assert_eq!(ok.map(|s| s.audit_user_name), Some("王五".to_owned()));
        s.words = vec![" ".into()];
        assert!(checked(&r, &[], None, s).is_err());
    }
}
