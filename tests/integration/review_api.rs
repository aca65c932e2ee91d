//! The weekly review over real HTTP, on both stores: review states set one at a time and in bulk
//! (CSRF, auditors only on their own hits, all or nothing), their history, listings filtered and
//! totalled by state, exports that follow the given filters with the whole message, and the
//! strategy editor that keeps what a change does not name, refuses an auditor who does not exist
//! or no words, and soft-deletes.

use std::sync::Arc;

use msgaudit::store::prelude::*;
use msgaudit::store::{ActHitRow, SqliteStore};
use serde_json::{Value, json};

use crate::archive_api::{raw_get, xlsx_sheet};
use crate::workspace::{Client, Server, seeded};

fn msg_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| h["msg_id"].as_str().expect("msg_id").to_owned())
        .collect()
}

fn act(msg: &str, t: i64) -> ActHitRow {
    ActHitRow {
        corp_id: "ww1".into(),
        msg_id: msg.into(),
        sensitive_act_id: 3,
        sensitive_act: "发送手机号".into(),
        operator_id: "zhangsan".into(),
        operator: "张三".into(),
        operate_target_id: "lisi".into(),
        operate_target: "李四".into(),
        detail: "13800138000".into(),
        msg_time: crate::workspace::T0 + t,
    }
}

fn csv_rows(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8(body.to_vec()).expect("utf-8");
    text.trim_start_matches('\u{feff}')
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn the_weekly_review(store: Arc<dyn Store>) {
    seeded(store.as_ref());
    store
        .store_hits(&[], &[act("m10", 10), act("m11", 11)])
        .expect("behaviour hits");
    let server = Server::start(store.clone());
    let mut wangwu = Client::new(&server.base);
    assert_eq!(wangwu.sign_in("wangwu", "wangwu-secret-1"), 200);
    let csrf = wangwu.csrf.clone();

    // Totals on the first page: wangwu's 20 hits, all pending.
    let (status, page) = wangwu.get("/api/hits?limit=5");
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 20);
    assert_eq!(page["by_review_state"]["pending"], 20);
    assert_eq!(page["items"][0]["review_state"], "pending");
    assert_eq!(page["items"][0]["from"]["label"], "张三 (zhangsan)");
    let (_, second) = wangwu.get(&format!(
        "/api/hits?limit=5&cursor={}",
        page["next_cursor"].as_str().expect("cursor")
    ));
    assert!(
        second.get("total").is_none(),
        "totals on the first page only"
    );
    // A first page without totals (the web page asks for them apart), the same rows.
    let (status, bare) = wangwu.get("/api/hits?limit=5&totals=false");
    assert_eq!(status, 200, "{bare}");
    assert!(bare.get("total").is_none() && bare.get("by_review_state").is_none());
    assert_eq!(bare["items"], page["items"]);
    assert_eq!(bare["next_cursor"], page["next_cursor"]);
    let (status, bad) = wangwu.get("/api/hits?totals=no");
    assert_eq!(status, 400, "{bad}");

    // One hit: CSRF required, state checked, note bounded.
    let body = json!({ "state": "confirmed", "note": "已与客户核实" });
    assert_eq!(
        wangwu
            .send("PUT", "/api/hits/ww1/m02/3/review", &body, None)
            .0,
        403
    );
    let (status, saved) = wangwu.send("PUT", "/api/hits/ww1/m02/3/review", &body, csrf.as_deref());
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["review"]["state"], "confirmed");
    assert_eq!(saved["review"]["state_label"], "已核实");
    assert_eq!(saved["review"]["reviewer"], "wangwu");
    let (status, bad) = wangwu.send(
        "PUT",
        "/api/hits/ww1/m02/3/review",
        &json!({ "state": "done" }),
        csrf.as_deref(),
    );
    assert_eq!(status, 400);
    assert!(
        bad["error"]
            .as_str()
            .expect("error")
            .starts_with("审核状态")
    );
    let long = json!({ "state": "confirmed", "note": "长".repeat(501) });
    assert_eq!(
        wangwu
            .send("PUT", "/api/hits/ww1/m02/3/review", &long, csrf.as_deref())
            .0,
        400
    );

    // Another auditor's hit (m01 is strategy 2, lisi's) answers 404 to wangwu.
    assert_eq!(
        wangwu
            .send("PUT", "/api/hits/ww1/m01/2/review", &body, csrf.as_deref())
            .0,
        404
    );

    // Bulk: all or nothing.
    let item =
        |m: &str, id: i64| json!({ "kind": "strategy", "corp_id": "ww1", "msg_id": m, "id": id });
    let (status, done) = wangwu.send(
        "POST",
        "/api/reviews",
        &json!({ "items": [item("m03", 1), item("m05", 3)], "state": "false_positive", "note": "测试消息" }),
        csrf.as_deref(),
    );
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["updated"], 2);
    let (status, refused) = wangwu.send(
        "POST",
        "/api/reviews",
        &json!({ "items": [item("m03", 1), item("m01", 2)], "state": "escalated" }),
        csrf.as_deref(),
    );
    assert_eq!(status, 400, "{refused}");
    let (_, m03) = wangwu.get("/api/hits/ww1/m03/1/review");
    assert_eq!(m03["review"]["state"], "false_positive", "nothing changed");

    // History, newest first, also in the hit's context.
    wangwu.send(
        "PUT",
        "/api/hits/ww1/m02/3/review",
        &json!({ "state": "escalated", "note": "上报合规部" }),
        csrf.as_deref(),
    );
    let (_, ctx) = wangwu.get("/api/hits/ww1/m02/3");
    let history: Vec<&str> = ctx["review_history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|r| r["state"].as_str().expect("state"))
        .collect();
    assert_eq!(history, ["escalated", "confirmed"]);
    assert_eq!(ctx["hit"]["review"]["note"], "上报合规部");

    // Filter and count by state.
    let (_, fp) = wangwu.get("/api/hits?review=false_positive");
    assert_eq!(msg_ids(&fp), ["m05", "m03"]);
    assert_eq!(fp["total"], 2);
    let counts = &fp["by_review_state"];
    assert_eq!(
        (
            &counts["pending"],
            &counts["confirmed"],
            &counts["false_positive"],
            &counts["escalated"]
        ),
        (&json!(17), &json!(0), &json!(2), &json!(1))
    );
    let (status, bad) = wangwu.get("/api/hits?review=maybe");
    assert_eq!(status, 400, "{bad}");
    // Parameters and bodies the API cannot read answer in its own words, not axum's.
    let (status, bad) = wangwu.get("/api/hits?limit=lots");
    assert_eq!(status, 400);
    assert!(
        bad["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("查询参数有误：「limit」")),
        "{bad}"
    );
    let (status, bad) = wangwu.send(
        "PUT",
        "/api/hits/ww1/m02/3/review",
        &json!({ "note": "no state" }),
        csrf.as_deref(),
    );
    assert_eq!(status, 400);
    assert!(
        bad["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("请求体的字段有误")),
        "{bad}"
    );

    // Exports follow the given filters, with the whole message beside the excerpt.
    let cookie = wangwu.cookie().map(str::to_owned);
    let (status, headers, body) = raw_get(
        &server.base,
        cookie.as_deref(),
        "/api/hits/export?review=false_positive&since=2023-01-01&until=2030-01-01",
        &[],
    );
    assert_eq!(status, 200);
    let rows = csv_rows(&body);
    assert_eq!(rows.len(), 1 + 2, "{rows:?}");
    assert!(rows[0].contains("命中片段") && rows[0].contains("完整内容"));
    assert!(rows[1].contains("消息 5") && rows[1].contains("误报") && rows[1].contains("测试消息"));
    assert!(
        rows[1].contains("无需告警"),
        "alert status in Chinese: {}",
        rows[1]
    );
    let disposition = headers
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        disposition.contains("filename*=UTF-8''")
            && disposition.contains("2023-01-01_2029-12-31.csv"),
        "{disposition}"
    );
    let (status, _, xlsx) = raw_get(
        &server.base,
        cookie.as_deref(),
        "/api/hits/export?strategy=1&format=xlsx",
        &[],
    );
    assert_eq!(status, 200);
    let sheet = xlsx_sheet(&xlsx);
    assert_eq!(
        sheet.matches("<row ").count(),
        1 + 10,
        "strategy 1's ten hits"
    );

    // Behaviour hits: the same totals, review and export.
    let (_, acts) = wangwu.get("/api/behaviour-hits");
    assert_eq!(acts["total"], 2);
    assert_eq!(acts["items"][0]["operator_label"], "张三 (zhangsan)");
    let (status, _) = wangwu.send(
        "PUT",
        "/api/behaviour-hits/ww1/m10/3/review",
        &json!({ "state": "confirmed" }),
        csrf.as_deref(),
    );
    assert_eq!(status, 200);
    let (_, confirmed) = wangwu.get("/api/behaviour-hits?review=confirmed");
    assert_eq!(msg_ids(&confirmed), ["m10"]);
    assert_eq!(confirmed["by_review_state"]["pending"], 1);
    let (_, _, body) = raw_get(
        &server.base,
        cookie.as_deref(),
        "/api/behaviour-hits/export?review=confirmed",
        &[],
    );
    let rows = csv_rows(&body);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[1].contains("已核实") && rows[1].contains("消息 10"));

    let ops = store.operations(100).expect("ops");
    assert!(
        ops.iter().any(|o| o.title == "审核命中"
            && o.oper_name == "wangwu"
            && o.request_method == "POST")
    );
    assert!(ops.iter().any(|o| o.title == "导出敏感行为"));

    // The strategy editor.
    let mut admin = Client::new(&server.base);
    assert_eq!(admin.sign_in("admin", "admin-secret-1"), 200);
    let acsrf = admin.csrf.clone();
    let (_, list) = admin.get("/api/strategies");
    assert!(list["members"].as_array().is_some_and(|m| !m.is_empty()));
    let (status, saved) = admin.send(
        "PUT",
        "/api/strategies/1",
        &json!({ "name": "飞单（新）" }),
        acsrf.as_deref(),
    );
    assert_eq!(status, 200, "{saved}");
    assert_eq!(
        saved["strategy"]["audit_user_name"], "王五",
        "kept: not named"
    );
    assert_eq!(saved["strategy"]["words"], list["items"][0]["words"]);
    let (status, bad) = admin.send(
        "PUT",
        "/api/strategies/1",
        &json!({ "audit_user_id": "nobody" }),
        acsrf.as_deref(),
    );
    assert_eq!(status, 400);
    assert!(
        bad["error"].as_str().expect("error").contains("不存在"),
        "{bad}"
    );
    let (status, _) = admin.send(
        "PUT",
        "/api/strategies/1",
        &json!({ "words": [] }),
        acsrf.as_deref(),
    );
    assert_eq!(status, 400);
    assert_eq!(
        wangwu
            .send("DELETE", "/api/strategies/3", &json!({}), csrf.as_deref())
            .0,
        403
    );
    let (status, deleted) = admin.send("DELETE", "/api/strategies/3", &json!({}), acsrf.as_deref());
    assert_eq!(status, 200, "{deleted}");
    let (_, created) = admin.send(
        "POST",
        "/api/strategies",
        &json!({ "name": "新策略", "words": ["返现"], "audit_user_id": "wangwu" }),
        acsrf.as_deref(),
    );
    assert_eq!(
        created["strategy"]["id"], 4,
        "a deleted strategy's id is not reused"
    );
    let rules = store.load_rules().expect("rules");
    assert!(rules.strategies.iter().all(|s| s.id != 3));
    assert_eq!(store.last_strategy_id().expect("last"), 4);
}

#[test]
fn the_weekly_review_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("store.db")).expect("store"));
    the_weekly_review(store);
}

#[test]
fn the_weekly_review_on_clickhouse() {
    let url = crate::support::clickhouse_url("review_api");
    let store = Arc::new(msgaudit::store::clickhouse::ClickHouseStore::open(&url).expect("open"));
    the_weekly_review(store.clone());
    store.drop_database().expect("drop the test database");
}
