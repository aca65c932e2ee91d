//! Exports of the hit listings as the form shows them: the same filters (review state included),
//! every matching hit (not one page), names with ids, the excerpt and the whole message text in
//! their own columns, alert and review states in Chinese, and a file name that says what and when
//! (`敏感词命中_2025-11-17_2025-11-23.xlsx`). CSV or XLSX; every export is in `sys_oper_log`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::Uri;
use axum::response::Response;

use super::App;
use super::api::{ApiError, ApiResult, SignedIn, blocking, log_query, non_empty};
use super::export::{Columns, ExportParams, Rows, export, file_part, format_of};
use super::extract::Params;
use super::hits::{
    BehaviourHits, HitParams, Listing, StrategyHits, act_label, cursor_of, names_for,
    reviews_by_key, send_status_label,
};
use crate::store::{ActHitRow, HitKey, Names, Review, StoredHit};
use crate::timefmt::format_ms;

/// Hits read per page.
const PAGE: u32 = 1000;

/// A listing that can be exported: its columns, its file's title and one row's cells.
pub trait Exported: Listing {
    const COLUMNS: Columns;
    /// What the file name starts with.
    const TITLE: &'static str;
    /// What `sys_oper_log` calls the export.
    const LOG_TITLE: &'static str;
    fn cells(row: &Self::Row, names: &Names, review: Option<&Review>, text: &str) -> Vec<String>;
}

/// The review columns: state, note, reviewer, time.
fn review_cells(review: Option<&Review>) -> [String; 4] {
    match review {
        Some(r) => [
            r.state.label().to_owned(),
            r.note.clone(),
            r.reviewer.clone(),
            format_ms(r.time_ms),
        ],
        None => [
            crate::store::ReviewState::Pending.label().to_owned(),
            String::new(),
            String::new(),
            String::new(),
        ],
    }
}

impl Exported for StrategyHits {
    const COLUMNS: Columns = Columns {
        header: &[
            "时间",
            "企业",
            "策略",
            "敏感词",
            "发送人",
            "接收人",
            "群聊",
            "命中片段",
            "完整内容",
            "告警状态",
            "审核状态",
            "审核备注",
            "审核人",
            "审核时间",
            "msgid",
        ],
        widths: &[
            20.0, 12.0, 16.0, 16.0, 22.0, 26.0, 22.0, 40.0, 60.0, 10.0, 10.0, 24.0, 12.0, 20.0,
            30.0,
        ],
    };
    const TITLE: &'static str = "敏感词命中";
    const LOG_TITLE: &'static str = "导出命中";

    fn cells(row: &StoredHit, names: &Names, review: Option<&Review>, text: &str) -> Vec<String> {
        let h = &row.hit;
        let mut cells = vec![
            format_ms(h.msg_time),
            h.corp_id.clone(),
            h.strategy_name.clone(),
            h.words.join("、"),
            names.label(&h.from_id),
            names.labels(&h.to_list),
            if h.room_id.is_empty() {
                String::new()
            } else {
                names.label(&h.room_id)
            },
            h.content.clone(),
            text.to_owned(),
            send_status_label(h.send_status_name()).to_owned(),
        ];
        cells.extend(review_cells(review));
        cells.push(h.msg_id.clone());
        cells
    }
}

impl Exported for BehaviourHits {
    const COLUMNS: Columns = Columns {
        header: &[
            "时间",
            "企业",
            "行为",
            "操作人",
            "对象",
            "详情",
            "完整内容",
            "审核状态",
            "审核备注",
            "审核人",
            "审核时间",
            "msgid",
        ],
        widths: &[
            20.0, 12.0, 14.0, 22.0, 22.0, 30.0, 60.0, 10.0, 24.0, 12.0, 20.0, 30.0,
        ],
    };
    const TITLE: &'static str = "敏感行为";
    const LOG_TITLE: &'static str = "导出敏感行为";

    fn cells(a: &ActHitRow, names: &Names, review: Option<&Review>, text: &str) -> Vec<String> {
        let label = |id: &str, recorded: &str| act_label(names, id, recorded);
        let mut cells = vec![
            format_ms(a.msg_time),
            a.corp_id.clone(),
            a.sensitive_act.clone(),
            label(&a.operator_id, &a.operator),
            label(&a.operate_target_id, &a.operate_target),
            a.detail.clone(),
            text.to_owned(),
        ];
        cells.extend(review_cells(review));
        cells.push(a.msg_id.clone());
        cells
    }
}

/// The day a time parameter names, as the file name shows it (`until` is exclusive: a bare date
/// shows the day before, the last day included).
fn day_of(v: &Option<String>, exclusive: bool) -> Option<String> {
    let t = non_empty(v)?;
    let day: String = t.chars().take(10).collect();
    match day.parse::<jiff::civil::Date>() {
        Ok(d) if exclusive && t.len() == 10 => d.yesterday().ok().map(|d| d.to_string()),
        Ok(d) => Some(d.to_string()),
        Err(_) => Some(file_part(&t)),
    }
}

/// `敏感词命中_2025-11-17_2025-11-23`: what, and the days the filters cover.
fn file_name(title: &str, p: &HitParams) -> String {
    let today = crate::timefmt::display_zone().day(crate::timefmt::now_ms());
    format!(
        "{title}_{}_{}",
        day_of(&p.since, false).unwrap_or_else(|| "最早".into()),
        day_of(&p.until, true).unwrap_or(today)
    )
}

/// `GET /api/hits/export` (and the older `/api/export.csv`) and `GET /api/behaviour-hits/export`.
pub async fn hits<K: Exported>(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    Params(p): Params<HitParams>,
    Params(e): Params<ExportParams>,
) -> ApiResult<Response> {
    let format = format_of(&e.format)?;
    let mut q = p.query(&app.view(&s)?)?;
    q.limit = PAGE;
    q.after = None;
    let op = log_query(&s, K::LOG_TITLE, "export_hits", &uri, peer);
    {
        let store = app.store.clone();
        blocking(move || Ok(store.log_operation(&op)?)).await?;
    }
    let name = file_name(K::TITLE, &p);
    let mut done = false;
    let next = move || -> Result<Rows, ApiError> {
        if done {
            return Ok(Rows::new());
        }
        let store = app.store.clone();
        let rows = K::page(store.as_ref(), &q)?;
        done = rows.len() < q.limit as usize;
        q.after = rows.last().map(cursor_of::<K>);
        let keys: Vec<HitKey> = rows.iter().map(K::key).collect();
        let reviews = reviews_by_key(store.as_ref(), &keys)?;
        let names = names_for::<K>(&app, store.as_ref(), &rows)?;
        let mut wanted: HashMap<&str, Vec<(i64, String)>> = HashMap::new();
        for (r, k) in rows.iter().zip(&keys) {
            wanted
                .entry(k.corp_id.as_str())
                .or_default()
                .push((K::msg_time(r), k.msg_id.clone()));
        }
        let mut texts: HashMap<(String, String), String> = HashMap::new();
        for (corp, ids) in wanted {
            for (msg_id, text) in store.message_texts(corp, &ids)? {
                texts.insert((corp.to_owned(), msg_id), text);
            }
        }
        let none = Names::default();
        Ok(rows
            .iter()
            .zip(&keys)
            .map(|(r, k)| {
                let text = texts
                    .get(&(k.corp_id.clone(), k.msg_id.clone()))
                    .map_or("", String::as_str);
                K::cells(
                    r,
                    names.get(&k.corp_id).unwrap_or(&none),
                    reviews.get(k),
                    text,
                )
            })
            .collect())
    };
    Ok(export(format, name, K::COLUMNS, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_say_the_days_covered_with_the_last_day_included() {
        let p = HitParams {
            since: Some("2025-11-17".into()),
            until: Some("2025-11-24".into()),
            ..HitParams::default()
        };
        assert_eq!(
            file_name("敏感词命中", &p),
            "敏感词命中_2025-11-17_2025-11-23"
        );
        let p = HitParams {
            since: Some("2025-11-17 08:00".into()),
            until: Some("2025-11-24 08:00".into()),
            ..HitParams::default()
        };
        assert_eq!(file_name("敏感行为", &p), "敏感行为_2025-11-17_2025-11-24");
        assert!(file_name("敏感词命中", &HitParams::default()).starts_with("敏感词命中_最早_"));
    }
}
