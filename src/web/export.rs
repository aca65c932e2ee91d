//! Exports of a conversation or a search result, as CSV (UTF-8 with a BOM, cells a spreadsheet
//! cannot run) or XLSX: names with ids, times in the display zone, message types in Chinese,
//! attachments by file name. Messages are read a page at a time; CSV is streamed as it is
//! written, XLSX is written row by row to a temporary file (the writer's constant-memory mode) and
//! then streamed, so memory stays bounded whatever the size. Every export is in `sys_oper_log`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderValue, Uri, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::App;
use super::api::{ApiError, ApiResult, SignedIn, blocking, log_op, log_query, non_empty};
use super::archive::{
    ConversationId, SearchParams, conversation_ids, names_of, visible_conversation,
};
use super::extract::Params;
use crate::message::type_label;
use crate::store::{
    ConversationMessagesQuery, MediaJob, MediaJobQuery, MessageCursor, Names, Page, StoredMessage,
};
use crate::timefmt::{format_ms, now_ms};

/// Rows an export holds at most (an XLSX sheet's limit, less the header).
const MAX_ROWS: usize = 1_048_575;
/// Messages read per page.
const PAGE: u32 = 1000;

/// The header row.
const HEADER: [&str; 8] = [
    "时间",
    "发送人",
    "接收人",
    "群聊",
    "类型",
    "内容",
    "附件",
    "msgid",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Csv,
    Xlsx,
}

pub(super) fn format_of(f: &Option<String>) -> ApiResult<Format> {
    match non_empty(f).as_deref() {
        None | Some("csv") => Ok(Format::Csv),
        Some("xlsx") => Ok(Format::Xlsx),
        Some(other) => Err(ApiError::BadRequest(format!(
            "format `{other}`: 用 csv 或 xlsx (use csv or xlsx)"
        ))),
    }
}

/// A CSV cell: quoted when needed, and a leading `= + - @` (or tab / CR) defused so spreadsheets
/// do not run it.
pub fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// One message as a row of cells.
fn row_of(names: &Names, m: &StoredMessage, jobs: &[&MediaJob]) -> [String; 8] {
    let r = &m.row;
    let to = names.labels(&r.to_list);
    let room = if r.room_id.is_empty() {
        String::new()
    } else {
        names.label(&r.room_id)
    };
    let files = jobs
        .iter()
        .map(|j| {
            if j.file_name.is_empty() {
                format!("{}#{}", type_label(&r.msg_type), j.key.item)
            } else {
                j.file_name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join("、");
    [
        format_ms(r.msg_time),
        names.label(&r.from_id),
        to,
        room,
        type_label(&r.msg_type).to_owned(),
        r.plain_text.clone(),
        files,
        r.msg_id.clone(),
    ]
}

/// Rows of cells, a page at a time; an empty page ends the export.
pub(super) type Rows = Vec<Vec<String>>;

/// A sheet's columns: their headers and widths (in characters, for XLSX).
#[derive(Debug, Clone, Copy)]
pub struct Columns {
    pub header: &'static [&'static str],
    pub widths: &'static [f64],
}

/// The columns of a message export.
const MESSAGE_COLUMNS: Columns = Columns {
    header: &HEADER,
    widths: &[20.0, 24.0, 28.0, 24.0, 10.0, 60.0, 24.0, 30.0],
};

/// Turns pages of messages into pages of rows: names with ids, attachments by file name.
fn message_rows(
    app: Arc<App>,
    mut next: impl FnMut() -> Result<Vec<StoredMessage>, ApiError> + Send + 'static,
) -> impl FnMut() -> Result<Rows, ApiError> + Send + 'static {
    move || {
        let store = app.store.clone();
        let page = next()?;
        let mut by_corp: HashMap<&str, Vec<&StoredMessage>> = HashMap::new();
        for m in &page {
            by_corp.entry(&m.row.corp_id).or_default().push(m);
        }
        let mut names = HashMap::new();
        let mut jobs = HashMap::new();
        for (corp, rows) in &by_corp {
            let ids = rows.iter().flat_map(|m| {
                let r = &m.row;
                [r.from_id.clone(), r.room_id.clone()]
                    .into_iter()
                    .chain(crate::store::split_list(&r.to_list))
            });
            names.insert(*corp, names_of(&app, store.as_ref(), corp, ids)?);
            let media = store.media_jobs(&MediaJobQuery {
                corp_id: Some((*corp).to_owned()),
                msg_ids: rows.iter().map(|m| m.row.msg_id.clone()).collect(),
                limit: 1_000_000,
                ..MediaJobQuery::default()
            })?;
            jobs.insert(*corp, media);
        }
        Ok(page
            .iter()
            .filter_map(|m| {
                let corp = m.row.corp_id.as_str();
                let n = names.get(corp)?;
                let j: Vec<&MediaJob> = jobs
                    .get(corp)
                    .map(|v| v.iter().filter(|j| j.key.msg_id == m.row.msg_id).collect())
                    .unwrap_or_default();
                Some(row_of(n, m, &j).to_vec())
            })
            .collect())
    }
}

/// Hands each page of `next` to `sink` until an empty page or [`MAX_ROWS`]; returns the count.
fn pages(
    mut next: impl FnMut() -> Result<Rows, ApiError>,
    mut sink: impl FnMut(&[Vec<String>]) -> Result<(), ApiError>,
) -> Result<usize, ApiError> {
    let mut total = 0;
    loop {
        let rows = next()?;
        if rows.is_empty() {
            return Ok(total);
        }
        let take = rows.len().min(MAX_ROWS - total);
        sink(&rows[..take])?;
        total += take;
        if total >= MAX_ROWS {
            return Ok(total);
        }
    }
}

/// A channel writer: what the blocking side writes arrives as the response body.
type Chunks = tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>;

fn streamed(
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
    format: Format,
    name: &str,
) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    let (ctype, ext) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Xlsx => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&super::media::disposition(
        "attachment",
        &format!("{name}.{ext}"),
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// Runs an export on the blocking pool, writing into the response as it goes.
pub(super) fn export(
    format: Format,
    name: String,
    columns: Columns,
    next: impl FnMut() -> Result<Rows, ApiError> + Send + 'static,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let result = match format {
            Format::Csv => write_csv(&columns, next, &tx),
            Format::Xlsx => write_xlsx(&columns, next, &tx),
        };
        if let Err(e) = result {
            tracing::warn!(error = ?e, "an export stopped");
            let _ = tx.blocking_send(Err(std::io::Error::other("export failed")));
        }
    });
    streamed(rx, format, &name)
}

fn send(tx: &Chunks, bytes: Vec<u8>) -> Result<(), ApiError> {
    tx.blocking_send(Ok(bytes))
        .map_err(|_| ApiError::Internal("the client went away".into()))
}

fn write_csv(
    columns: &Columns,
    next: impl FnMut() -> Result<Rows, ApiError>,
    tx: &Chunks,
) -> Result<(), ApiError> {
    let mut head = "\u{feff}".to_owned();
    head.push_str(&columns.header.join(","));
    head.push_str("\r\n");
    send(tx, head.into_bytes())?;
    pages(next, |rows| {
        let mut chunk = String::new();
        for r in rows {
            let line: Vec<String> = r.iter().map(|c| csv_cell(c)).collect();
            chunk.push_str(&line.join(","));
            chunk.push_str("\r\n");
        }
        send(tx, chunk.into_bytes())
    })?;
    Ok(())
}

fn write_xlsx(
    columns: &Columns,
    next: impl FnMut() -> Result<Rows, ApiError>,
    tx: &Chunks,
) -> Result<(), ApiError> {
    use rust_xlsxwriter::{Format as CellFormat, Workbook};
    let xlsx = |e: rust_xlsxwriter::XlsxError| ApiError::Internal(format!("writing XLSX: {e}"));
    let dir = tempfile::tempdir().map_err(|e| ApiError::Internal(e.to_string()))?;
    let path = dir.path().join("export.xlsx");
    let mut book = Workbook::new();
    let bold = CellFormat::new().set_bold();
    let sheet = book.add_worksheet_with_constant_memory().map_err(xlsx)?;
    // Widths first: in constant-memory mode rows are written out as they come.
    for (c, width) in columns.widths.iter().enumerate() {
        sheet.set_column_width(c as u16, *width).map_err(xlsx)?;
    }
    for (c, h) in columns.header.iter().enumerate() {
        sheet
            .write_string_with_format(0, c as u16, *h, &bold)
            .map_err(xlsx)?;
    }
    let mut at: u32 = 1;
    pages(next, |rows| {
        for r in rows {
            for (c, v) in r.iter().enumerate() {
                // Text cells only: nothing in a message becomes a formula or a number.
                sheet.write_string(at, c as u16, v).map_err(xlsx)?;
            }
            at += 1;
        }
        Ok(())
    })?;
    book.save(&path).map_err(xlsx)?;
    let mut file = std::fs::File::open(&path).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if n == 0 {
            return Ok(());
        }
        send(tx, buf[..n].to_vec())?;
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ExportParams {
    /// `csv` (default) or `xlsx`.
    pub format: Option<String>,
}

/// A file name part without characters file systems refuse.
pub(super) fn file_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if "/\\:*?\"<>|\n\r\t".contains(c) {
                '_'
            } else {
                c
            }
        })
        .take(60)
        .collect()
}

/// `GET /api/conversations/{id}/export`.
pub async fn conversation(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    Path(id): Path<String>,
    Params(p): Params<ExportParams>,
) -> ApiResult<Response> {
    let format = format_of(&p.format)?;
    let view = app.view(&s)?;
    let cid = ConversationId::decode(&id).ok_or(ApiError::NotFound)?;
    let op = log_op(
        &s,
        "导出会话",
        "export_conversation",
        &uri,
        peer,
        json!({ "corp_id": cid.corp_id, "conversation": cid.conversation.key() }).to_string(),
    );
    let store = app.store.clone();
    let app2 = app.clone();
    let c = cid.clone();
    let title = blocking(move || {
        let summary = visible_conversation(store.as_ref(), &c, &view.conversations())?;
        let names = names_of(
            &app2,
            store.as_ref(),
            &c.corp_id,
            conversation_ids(&summary.conversation),
        )?;
        store.log_operation(&op)?;
        Ok(super::archive::title_of(&names, &summary.conversation))
    })
    .await?;
    let store = app.store.clone();
    let mut cursor = MessageCursor {
        msg_time: i64::MIN,
        msg_id: String::new(),
    };
    let next = move || {
        let page = store.conversation_messages(&ConversationMessagesQuery {
            corp_id: cid.corp_id.clone(),
            conversation: cid.conversation.clone(),
            page: Page::After(cursor.clone()),
            limit: PAGE,
        })?;
        if let Some(last) = page.last() {
            cursor = MessageCursor {
                msg_time: last.row.msg_time,
                msg_id: last.row.msg_id.clone(),
            };
        }
        Ok(page)
    };
    let name = format!(
        "会话-{}-{}",
        file_part(&title),
        crate::timefmt::display_zone().day(now_ms())
    );
    Ok(export(
        format,
        name,
        MESSAGE_COLUMNS,
        message_rows(app, next),
    ))
}

/// `GET /api/search/export`: everything the search finds (not one page), newest first.
pub async fn search(
    State(app): State<Arc<App>>,
    SignedIn(s): SignedIn,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    Params(p): Params<SearchParams>,
    Params(e): Params<ExportParams>,
) -> ApiResult<Response> {
    let format = format_of(&e.format)?;
    let view = app.view(&s)?;
    let mut q = p.query(view.conversations())?;
    q.limit = PAGE;
    q.before = None;
    let op = log_query(&s, "导出搜索结果", "export_search", &uri, peer);
    {
        let store = app.store.clone();
        blocking(move || Ok(store.log_operation(&op)?)).await?;
    }
    let keyword = q.text.clone().unwrap_or_default();
    let store = app.store.clone();
    let mut done = false;
    let next = move || {
        if done {
            return Ok(Vec::new());
        }
        let page = store.search(&q)?;
        done = page.len() < q.limit as usize;
        q.before = page.last().map(|m| MessageCursor {
            msg_time: m.row.msg_time,
            msg_id: m.row.msg_id.clone(),
        });
        Ok(page)
    };
    let name = format!(
        "搜索-{}-{}",
        file_part(if keyword.is_empty() {
            "全部"
        } else {
            &keyword
        }),
        crate::timefmt::display_zone().day(now_ms())
    );
    Ok(export(
        format,
        name,
        MESSAGE_COLUMNS,
        message_rows(app, next),
    ))
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn a_csv_cell_is_quoted_when_needed_and_never_a_formula() {
        assert_eq!(csv_cell("私下转账"), "私下转账");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(
            csv_cell("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        for lead in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(
                csv_cell(lead).trim_start_matches('"').starts_with('\''),
                "{lead}"
            );
        }
    }
}
