//! Request extractors whose refusals read like the rest of the API: a query string or JSON body
//! the handler cannot read answers 400 with `{"error": "…"}`, Chinese first, saying which field
//! is wrong — never axum's plain-text English (or a bare 422).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::api::ApiError;

/// The query string, read as `T`.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Params(v)),
            Err(e) => Err(query_error(&e)),
        }
    }
}

/// The JSON body, read as `T`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(body_error(&e)),
        }
    }
}

fn query_error(e: &QueryRejection) -> ApiError {
    ApiError::BadRequest(format!(
        "查询参数有误：{} (the query string: {})",
        detail(&e.body_text()),
        e.body_text()
    ))
}

fn body_error(e: &JsonRejection) -> ApiError {
    let what = match e {
        JsonRejection::MissingJsonContentType(_) => {
            "请求体须是 JSON（Content-Type: application/json）".to_owned()
        }
        JsonRejection::JsonSyntaxError(_) => "请求体不是有效的 JSON".to_owned(),
        JsonRejection::JsonDataError(_) => format!("请求体的字段有误：{}", detail(&e.body_text())),
        _ => "请求体读不出来".to_owned(),
    };
    ApiError::BadRequest(format!("{what} ({})", e.body_text()))
}

/// The useful tail of serde's message ("limit: invalid digit found in string").
fn detail(text: &str) -> String {
    let parts: Vec<&str> = text.split(": ").collect();
    let tail = parts.last().copied().unwrap_or(text);
    // The field is the last part before the reason that is one word.
    let field = parts[..parts.len().saturating_sub(1)]
        .iter()
        .rev()
        .find(|p| !p.contains(' ') && !p.is_empty())
        .copied()
        .unwrap_or_default();
    let reason = if tail.contains("invalid digit") || tail.contains("invalid type") {
        "应是数字或格式不对"
    } else if tail.contains("missing field") {
        "缺少必填字段"
    } else if tail.contains("unknown variant") {
        "取值不在允许的范围内"
    } else {
        "格式不对"
    };
    if field.is_empty() {
        reason.to_owned()
    } else {
        format!("「{field}」{reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_name_the_field_in_chinese() {
        assert_eq!(
            detail("Failed to deserialize query string: limit: invalid digit found in string"),
            "「limit」应是数字或格式不对"
        );
        assert_eq!(detail("weird"), "格式不对");
    }
}
