//! The WeCom HTTP client against a local server playing WeCom, including its error answers.

use std::time::Duration;

use msgaudit::wecom::http::{PostError, RATE_LIMITED, WeComHttp};

use crate::fake_wecom::{Answer, FakeWeCom};

#[test]
fn posts_json_and_reads_wecom_answers_into_typed_errors() {
    let server = FakeWeCom::start();
    server.script([
        Answer::ErrCode(0),
        Answer::ErrCode(RATE_LIMITED),
        Answer::ErrCode(42001),
        Answer::Status(502),
        Answer::Json("not json".into()),
        Answer::Delay(Duration::from_millis(800)),
    ]);
    let http = WeComHttp::new(Duration::from_millis(300)).expect("client");
    let url = format!("{}/cgi-bin/webhook/send?key=SECRET", server.base);
    let body = serde_json::json!({"msgtype": "text", "text": {"content": "敏感词告警", "mentioned_list": ["wangwu"]}});
    assert_eq!(http.post_json(&url, &body).expect("sent")["errcode"], 0);
    let e = http.post_json(&url, &body).expect_err("rate limited");
    assert!(
        matches!(
            e,
            PostError::WeCom {
                errcode: RATE_LIMITED,
                ..
            }
        ) && e.is_retryable()
    );
    let e = http.post_json(&url, &body).expect_err("token");
    assert!(e.token_expired());
    let e = http.post_json(&url, &body).expect_err("5xx");
    assert!(matches!(e, PostError::Status(502)) && e.is_retryable());
    let e = http.post_json(&url, &body).expect_err("garbage");
    assert!(matches!(e, PostError::BadAnswer(_)) && !e.is_retryable());
    let e = http.post_json(&url, &body).expect_err("slow");
    assert!(matches!(e, PostError::Timeout(_)) && e.is_retryable());
    let got = server.received();
    assert_eq!(got.len(), 6);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/cgi-bin/webhook/send?key=SECRET");
    let sent: serde_json::Value = serde_json::from_str(&got[0].body).expect("json body");
    assert_eq!(sent, body);
}

#[test]
fn an_unreachable_endpoint_is_retryable_and_hides_the_key() {
    let http = WeComHttp::new(Duration::from_secs(2)).expect("client");
    let e = http
        .post_json(
            "http://127.0.0.1:1/cgi-bin/webhook/send?key=SECRET",
            &serde_json::json!({}),
        )
        .expect_err("refused");
    assert!(e.is_retryable(), "{e}");
    assert!(!e.to_string().contains("SECRET"), "{e}");
}
