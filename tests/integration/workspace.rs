//! The auditors' workspace over real HTTP: each role's view, 404 across auditors, CSRF-safe writes,
//! rate-limited sign-in, `sys_oper_log` rows, keyset paging under concurrent inserts, a 100,000-hit
//! CSV streamed by the real `msgaudit serve` process in bounded memory, and the OpenAPI document
//! agreeing with the routes and with what the handlers answer.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use msgaudit::audit::RuleSet;
use msgaudit::runtime::Shutdown;
use msgaudit::store::prelude::*;
use msgaudit::store::{Account, HitRow, Role, SqliteStore, StoreBatch};
use serde_json::{Value, json};

use crate::support::{message_row, root};

pub const T0: i64 = 1_700_000_000_000;

/// A client that keeps the session cookie and CSRF token.
pub struct Client {
    agent: ureq::Agent,
    pub base: String,
    cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        // A fresh connection per request: the server closes a connection after answering a
        // request whose body it did not read (a 403 before the body), and a pooled connection
        // reused just then fails the next request with "peer disconnected".
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections(0)
            .build()
            .into();
        Client {
            agent,
            base: base.to_owned(),
            cookie: None,
            csrf: None,
        }
    }

    fn finish(&mut self, mut r: ureq::http::Response<ureq::Body>) -> (u16, Value) {
        if let Some(c) = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = c.split(';').next().map(str::to_owned);
        }
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub fn get(&mut self, path: &str) -> (u16, Value) {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        let r = req.call().expect("GET");
        self.finish(r)
    }

    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        body: &Value,
        csrf: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "POST" => self.agent.post(url),
            "PUT" => self.agent.put(url),
            "DELETE" => {
                let mut req = self.agent.delete(url);
                if let Some(c) = &self.cookie {
                    req = req.header("Cookie", c);
                }
                if let Some(t) = csrf {
                    req = req.header("X-CSRF-Token", t);
                }
                let r = req.call().expect("DELETE");
                return self.finish(r);
            }
            _ => panic!("method {method}"),
        };
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        if let Some(t) = csrf {
            req = req.header("X-CSRF-Token", t);
        }
        let r = req
            .content_type("application/json")
            .send(body.to_string())
            .expect("send");
        self.finish(r)
    }

    /// The session cookie, once signed in.
    pub fn cookie(&self) -> Option<&str> {
        self.cookie.as_deref()
    }

    pub fn sign_in(&mut self, user: &str, secret: &str) -> u16 {
        let (status, me) = self.send(
            "POST",
            "/api/session",
            &json!({"user": user, "secret": secret}),
            None,
        );
        self.csrf = me["csrf"].as_str().map(str::to_owned);
        status
    }
}

/// A workspace server on a free port, over `store`.
pub struct Server {
    pub base: String,
    stop: Shutdown,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(store: Arc<dyn Store>) -> Server {
        let bound = msgaudit::web::bind(store, "127.0.0.1:0".parse().expect("addr")).expect("bind");
        let base = format!("http://{}", bound.addr);
        let stop = Shutdown::new();
        let s = stop.clone();
        let thread = std::thread::spawn(move || bound.serve(s).expect("serve"));
        Server {
            base,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.request();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn account(store: &dyn Store, name: &str, role: Role, secret: &str) {
    store
        .save_account(&Account {
            user_name: name.into(),
            we_user_id: name.into(),
            role,
            secret_hash: msgaudit::web::auth::hash_secret(secret).expect("hash"),
            disabled: false,
            create_time_ms: 0,
        })
        .expect("account");
}

pub fn hit(msg: &str, strategy: i64, t: i64, rules: &RuleSet) -> HitRow {
    let s = rules
        .strategies
        .iter()
        .find(|s| s.id == strategy)
        .expect("strategy");
    HitRow {
        corp_id: "ww1".into(),
        msg_id: msg.into(),
        strategy_id: strategy,
        strategy_name: s.name.clone(),
        words: vec![s.words[0].clone()],
        spans: vec![(0, 3)],
        content: format!("请【{}】一下", s.words[0]),
        from_id: "zhangsan".into(),
        to_list: "lisi".into(),
        room_id: String::new(),
        msg_time: T0 + t,
        direction: "sent".into(),
        audit_user_id: s.audit_user_id.clone(),
        send_status: 3,
        rules_version: 1,
    }
}

/// Rules where strategy 2 belongs to lisi (the others to wangwu), 30 messages in one chat, and
/// 30 hits: on strategies 1, 2, 3 in turn.
pub fn seeded(store: &dyn Store) -> RuleSet {
    let text = std::fs::read_to_string(root().join("fixtures/rules.json")).expect("rules");
    let mut rules = RuleSet::from_json(&text).expect("rules parse");
    for s in &mut rules.strategies {
        if s.id == 2 {
            s.audit_user_id = "lisi".into();
        }
    }
    store.save_rules(&rules).expect("rules saved");
    let messages: Vec<_> = (1..=30)
        .map(|i| message_row("ww1", &format!("m{i:02}"), i))
        .collect();
    let hits: Vec<HitRow> = (1..=30)
        .map(|i| hit(&format!("m{i:02}"), 1 + (i as i64 % 3), i as i64, &rules))
        .collect();
    store
        .store_batch(&StoreBatch {
            corp_id: "ww1".into(),
            messages,
            hits,
            checkpoint: 30,
            ..StoreBatch::default()
        })
        .expect("batch");
    account(store, "admin", Role::Admin, "admin-secret-1");
    account(store, "wangwu", Role::Auditor, "wangwu-secret-1");
    account(store, "lisi", Role::Auditor, "lisi-secret-1");
    rules
}

fn sqlite(dir: &std::path::Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(dir.join("store.db")).expect("store"))
}

fn strategies_of(page: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| h["strategy_id"].as_i64().expect("id"))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn each_role_sees_its_own_and_other_auditors_hits_answer_404() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite(dir.path());
    seeded(store.as_ref());
    let server = Server::start(store.clone());
    let mut anon = Client::new(&server.base);
    assert_eq!(anon.get("/api/hits").0, 401);

    let mut wangwu = Client::new(&server.base);
    assert_eq!(wangwu.sign_in("wangwu", "wangwu-secret-1"), 200);
    let (status, page) = wangwu.get("/api/hits?limit=100");
    assert_eq!(status, 200);
    assert_eq!(strategies_of(&page), [1, 3]);
    assert_eq!(page["items"].as_array().expect("items").len(), 20);
    let (_, strategies) = wangwu.get("/api/strategies");
    assert_eq!(strategies["can_edit"], false);
    assert_eq!(strategies["items"].as_array().expect("items").len(), 2);

    // The trend's days are the workspace's (Asia/Shanghai here, as every time it shows): the
    // hits at 2023-11-14 22:13 UTC are on the 15th.
    let (status, daily) = wangwu.get("/api/stats/daily");
    assert_eq!(status, 200, "{daily}");
    let days: Vec<&str> = daily["days"]
        .as_array()
        .expect("days")
        .iter()
        .filter_map(|d| d["day"].as_str())
        .collect();
    assert!(
        !days.is_empty() && days.iter().all(|d| *d == "2023-11-15"),
        "{daily}"
    );

    let mut lisi = Client::new(&server.base);
    assert_eq!(lisi.sign_in("lisi", "lisi-secret-1"), 200);
    assert_eq!(strategies_of(&lisi.get("/api/hits?limit=100").1), [2]);

    let mut admin = Client::new(&server.base);
    assert_eq!(admin.sign_in("admin", "admin-secret-1"), 200);
    assert_eq!(
        strategies_of(&admin.get("/api/hits?limit=100").1),
        [1, 2, 3]
    );

    // m02 is a strategy-3 hit (wangwu's), m01 a strategy-2 hit (lisi's).
    let (status, ctx) = wangwu.get("/api/hits/ww1/m02/3?around=2");
    assert_eq!(status, 200, "{ctx}");
    let ids: Vec<&str> = ctx["context"]
        .as_array()
        .expect("context")
        .iter()
        .map(|m| m["msg_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["m01", "m02", "m03", "m04"]);
    assert!(ctx["context"][1]["is_hit"].as_bool().expect("flag"));
    // The hit's message comes in pieces with the hit's own spans marked; the others do not.
    assert_eq!(
        ctx["context"][1]["marked"],
        json!([["消", true], ["息 2", false]]),
        "{ctx}"
    );
    assert!(ctx["context"][0].get("marked").is_none(), "{ctx}");
    assert_eq!(
        ctx["context"][1]["from"]["id"], "zhangsan",
        "each message says who sent it: {ctx}"
    );
    assert!(ctx["context"][1]["from"]["label"].is_string(), "{ctx}");
    let (status, theirs) = wangwu.get("/api/hits/ww1/m01/2");
    let (status_missing, missing) = wangwu.get("/api/hits/ww1/nope/3");
    assert_eq!((status, status_missing), (404, 404));
    assert_eq!(
        theirs, missing,
        "a hit outside the view looks like no hit at all"
    );
    assert_eq!(wangwu.get("/api/hits?strategy=2").1["items"], json!([]));
    assert_eq!(lisi.get("/api/hits/ww1/m01/2").0, 200);
}

#[test]
fn writes_need_the_csrf_token_and_an_administrator_and_reach_the_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite(dir.path());
    let rules = seeded(store.as_ref());
    let server = Server::start(store.clone());
    let mut strategy = serde_json::to_value(&rules.strategies[0]).expect("json");
    strategy["words"] = json!(["私下转账", "加我微信", "新词"]);

    let mut admin = Client::new(&server.base);
    admin.sign_in("admin", "admin-secret-1");
    let csrf = admin.csrf.clone().expect("csrf");
    assert_eq!(
        admin.send("PUT", "/api/strategies/1", &strategy, None).0,
        403
    );
    assert_eq!(
        admin
            .send("PUT", "/api/strategies/1", &strategy, Some("forged"))
            .0,
        403
    );
    let before = store.rules_version().expect("version");
    let (status, saved) = admin.send("PUT", "/api/strategies/1", &strategy, Some(&csrf));
    assert_eq!(status, 200, "{saved}");
    assert!(store.rules_version().expect("version") > before);
    assert!(
        store.load_rules().expect("rules").strategies[0]
            .words
            .contains(&"新词".to_owned())
    );
    assert_eq!(
        admin
            .send("PUT", "/api/strategies/99", &strategy, Some(&csrf))
            .0,
        404
    );

    let mut wangwu = Client::new(&server.base);
    wangwu.sign_in("wangwu", "wangwu-secret-1");
    let csrf = wangwu.csrf.clone().expect("csrf");
    assert_eq!(
        wangwu
            .send("PUT", "/api/strategies/1", &strategy, Some(&csrf))
            .0,
        403
    );
}

#[test]
fn trying_a_text_shows_what_each_visible_strategy_or_a_draft_would_hit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite(dir.path());
    seeded(store.as_ref());
    let server = Server::start(store.clone());
    let text = "加 我 wei xin，发票明天开，敏感词";
    let names = |v: &Value| -> Vec<(i64, String)> {
        v["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| {
                (
                    h["strategy_id"].as_i64().expect("id"),
                    h["matched"][0].as_str().expect("matched").to_owned(),
                )
            })
            .collect()
    };

    // wangwu audits strategies 1 and 3 (2 is lisi's): scopes aside, those two hit.
    let mut wangwu = Client::new(&server.base);
    wangwu.sign_in("wangwu", "wangwu-secret-1");
    let csrf = wangwu.csrf.clone();
    let (status, v) = wangwu.send(
        "POST",
        "/api/strategies/try",
        &json!({ "text": text }),
        csrf.as_deref(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        names(&v),
        [(1, "加 我 wei xin".to_owned()), (3, "敏感词".to_owned())]
    );
    let marked = &v["hits"][0]["marked"];
    assert_eq!(marked[0], json!(["加 我 wei xin", true]), "{marked}");
    // And the behaviours the text shows: a phone number in Chinese numerals, an e-mail address.
    let (_, v) = wangwu.send(
        "POST",
        "/api/strategies/try",
        &json!({ "text": "电话 幺三八 一二三四 五六七八，邮箱 zhang.san@example.com" }),
        csrf.as_deref(),
    );
    let shown: Vec<(&str, &str)> = v["behaviours"]
        .as_array()
        .expect("behaviours")
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap_or_default(),
                b["detail"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("发送手机号", "13812345678"),
            ("发送邮箱", "zhang.san@example.com")
        ],
        "{v}"
    );
    // A draft is an administrator's.
    let draft = json!({ "text": text, "strategy": { "words": ["明天"] } });
    let (status, _) = wangwu.send("POST", "/api/strategies/try", &draft, csrf.as_deref());
    assert_eq!(status, 403);

    // The administrator sees all three, and can try a draft: alone, over a stored strategy or new.
    let mut admin = Client::new(&server.base);
    admin.sign_in("admin", "admin-secret-1");
    let csrf = admin.csrf.clone();
    let (_, v) = admin.send(
        "POST",
        "/api/strategies/try",
        &json!({ "text": text }),
        csrf.as_deref(),
    );
    assert_eq!(
        names(&v).iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let (status, v) = admin.send(
        "POST",
        "/api/strategies/try",
        &json!({ "text": text, "id": 2, "strategy": { "words": ["发票", "明天"], "pinyin": false } }),
        csrf.as_deref(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["hits"][0]["strategy_name"], "发票风险");
    assert_eq!(v["hits"][0]["words"], json!(["发票", "明天"]));
    assert_eq!(
        v["hits"].as_array().map(Vec::len),
        Some(1),
        "the draft alone"
    );
    let (_, v) = admin.send("POST", "/api/strategies/try", &draft, csrf.as_deref());
    assert_eq!(names(&v), [(0, "明天".to_owned())]);
    assert_eq!(v["behaviours"], json!([]), "a draft tries its words alone");
    // Nothing was saved.
    assert_eq!(
        store.load_rules().expect("rules").strategies[1].words,
        ["发票", "开票"]
    );
    for (body, want) in [
        (json!({}), 400),
        (json!({ "text": "x".repeat(5_001) }), 400),
        (json!({ "text": "x", "id": 99, "strategy": {} }), 404),
        (json!({ "text": "x", "strategy": { "words": 7 } }), 400),
    ] {
        let (status, v) = admin.send("POST", "/api/strategies/try", &body, csrf.as_deref());
        assert_eq!(status, want, "{body}: {v}");
    }

    // The compiled rules are kept between tries, and built again once the rules change.
    let mut rules = store.load_rules().expect("rules");
    if let Some(st) = rules.strategies.iter_mut().find(|st| st.id == 3) {
        st.words = vec!["明天".into()];
    }
    store.save_rules(&rules).expect("save");
    let (_, v) = admin.send(
        "POST",
        "/api/strategies/try",
        &json!({ "text": text }),
        csrf.as_deref(),
    );
    assert_eq!(
        names(&v),
        [
            (1, "加 我 wei xin".to_owned()),
            (2, "发票".to_owned()),
            (3, "明天".to_owned())
        ],
        "{v}"
    );
}

#[test]
fn sign_in_attempts_are_rate_limited() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite(dir.path());
    seeded(store.as_ref());
    let server = Server::start(store.clone());
    let mut c = Client::new(&server.base);
    for _ in 0..5 {
        let (status, answer) = c.send(
            "POST",
            "/api/session",
            &json!({"user": "wangwu", "secret": "wrong"}),
            None,
        );
        assert_eq!(status, 401);
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("用户名或密码错误")),
            "a wrong password says so: {answer}"
        );
    }
    assert_eq!(
        c.sign_in("wangwu", "wangwu-secret-1"),
        429,
        "even the right secret waits: one account is guarded"
    );
    // A made-up user's failures do not lock out another user behind the same address.
    for _ in 0..10 {
        let status = c.sign_in("nobody-typo", "x");
        assert!(status == 401 || status == 429, "{status}");
    }
    let mut colleague = Client::new(&server.base);
    assert_eq!(
        colleague.sign_in("admin", "admin-secret-1"),
        200,
        "another user from the same address still signs in"
    );
    // Spraying guesses over many names from one address is stopped.
    let mut stopped = false;
    for i in 0..40 {
        if c.sign_in(&format!("user{i}"), "x") == 429 {
            stopped = true;
            break;
        }
    }
    assert!(stopped, "the address's bound holds");
}

#[test]
fn context_views_and_exports_are_recorded_in_sys_oper_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite(dir.path());
    seeded(store.as_ref());
    let server = Server::start(store.clone());
    let mut wangwu = Client::new(&server.base);
    wangwu.sign_in("wangwu", "wangwu-secret-1");
    assert_eq!(wangwu.get("/api/hits/ww1/m02/3").0, 200);
    let (status, _) = wangwu.get("/api/export.csv?strategy=1");
    assert_eq!(status, 200);
    let ops = store.operations(10).expect("log");
    assert_eq!(ops.len(), 2, "{ops:?}");
    let titles: Vec<&str> = ops.iter().map(|o| o.title.as_str()).collect();
    assert!(titles.contains(&"查看会话上下文") && titles.contains(&"导出命中"));
    for o in &ops {
        assert_eq!(o.oper_name, "wangwu");
        assert_eq!(o.oper_ip, "127.0.0.1");
        assert!(o.oper_time_ms > 0);
    }
    assert!(ops.iter().any(|o| o.oper_param.contains("m02")));
    assert!(ops.iter().any(|o| o.oper_param.contains("strategy=1")));
}

#[test]
fn paging_is_stable_while_hits_are_inserted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite(dir.path());
    let rules = seeded(store.as_ref());
    let server = Server::start(store.clone());
    let mut admin = Client::new(&server.base);
    admin.sign_in("admin", "admin-secret-1");
    let mut seen = Vec::new();
    let (_, mut page) = admin.get("/api/hits?limit=7");
    let mut round = 0;
    loop {
        for h in page["items"].as_array().expect("items") {
            seen.push(h["msg_id"].as_str().expect("id").to_owned());
        }
        // Newer hits arrive while the auditor pages.
        round += 1;
        let newer: Vec<HitRow> = (0..3)
            .map(|i| {
                hit(
                    &format!("new{round}_{i}"),
                    1,
                    1_000 + round * 10 + i,
                    &rules,
                )
            })
            .collect();
        store.store_hits(&newer, &[]).expect("insert");
        let Some(cursor) = page["next_cursor"].as_str().map(str::to_owned) else {
            break;
        };
        page = admin.get(&format!("/api/hits?limit=7&cursor={cursor}")).1;
    }
    let expected: Vec<String> = (1..=30).rev().map(|i| format!("m{i:02}")).collect();
    assert_eq!(
        seen, expected,
        "every hit once, in order, none of the newer ones"
    );
}

#[test]
fn the_openapi_document_matches_the_routes_and_the_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite(dir.path());
    seeded(store.as_ref());
    let server = Server::start(store.clone());
    let mut admin = Client::new(&server.base);
    let (status, doc) = admin.get("/api/openapi.json");
    assert_eq!(status, 200);
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut routes: Vec<(String, String)> = msgaudit::web::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    routes.sort();
    assert_eq!(documented, routes);

    let schema = |status: u16, path: &str, method: &str| -> Value {
        let r = &doc["paths"][path][method]["responses"][status.to_string()];
        assert!(!r.is_null(), "{method} {path} does not document {status}");
        r["content"]["application/json"]["schema"].clone()
    };
    let check = |value: &Value, status: u16, path: &str, method: &str| {
        let errors = validate(&doc, &schema(status, path, method), value, "$");
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: {errors:?}\n{value}"
        );
    };
    let (s, v) = admin.get("/api/hits");
    check(&v, s, "/api/hits", "get");
    assert_eq!(admin.sign_in("admin", "wrong"), 401);
    let (s, v) = admin.send(
        "POST",
        "/api/session",
        &json!({"user": "admin", "secret": "admin-secret-1"}),
        None,
    );
    check(&v, s, "/api/session", "post");
    admin.csrf = v["csrf"].as_str().map(str::to_owned);
    for (path, template) in [
        ("/api/me", "/api/me"),
        ("/api/hits?limit=5&status=none", "/api/hits"),
        ("/api/hits?since=nonsense", "/api/hits"),
        (
            "/api/hits/ww1/m02/3?around=3",
            "/api/hits/{corp}/{msg_id}/{strategy}",
        ),
        (
            "/api/hits/ww1/none/3",
            "/api/hits/{corp}/{msg_id}/{strategy}",
        ),
        ("/api/behaviour-hits?limit=5", "/api/behaviour-hits"),
        ("/api/stats/daily", "/api/stats/daily"),
        ("/api/strategies", "/api/strategies"),
        ("/api/conversations?member=zhangsan", "/api/conversations"),
        ("/api/conversations?cursor=junk", "/api/conversations"),
        ("/api/search?q=%E6%B6%88%E6%81%AF&limit=3", "/api/search"),
        ("/api/search?mode=fuzzy", "/api/search"),
        ("/api/messages/ww1/m02", "/api/messages/{corp}/{msg_id}"),
        ("/api/messages/ww1/none", "/api/messages/{corp}/{msg_id}"),
    ] {
        let (s, v) = admin.get(path);
        check(&v, s, template, "get");
    }
    let (_, conversations) = admin.get("/api/conversations");
    let id = conversations["items"][0]["id"]
        .as_str()
        .expect("a conversation");
    let (s, v) = admin.get(&format!("/api/conversations/{id}/messages?limit=5"));
    assert_eq!(s, 200);
    check(&v, s, "/api/conversations/{id}/messages", "get");
    let (s, v) = admin.get("/api/conversations/nope/messages");
    check(&v, s, "/api/conversations/{id}/messages", "get");
    let (s, v) = admin.get(&format!("/api/conversations/{id}/hits"));
    assert_eq!(s, 200);
    check(&v, s, "/api/conversations/{id}/hits", "get");
    let (s, v) = admin.get("/api/conversations/nope/hits");
    check(&v, s, "/api/conversations/{id}/hits", "get");
    let strategy =
        json!({"id": 0, "name": "新策略", "words": ["测试词"], "audit_user_id": "wangwu"});
    let csrf = admin.csrf.clone();
    let (s, v) = admin.send("POST", "/api/strategies", &strategy, csrf.as_deref());
    check(&v, s, "/api/strategies", "post");
    let (s, v) = admin.send("PUT", "/api/strategies/1", &strategy, None);
    check(&v, s, "/api/strategies/{id}", "put");
    let bad = json!({"id": 1, "name": "空", "words": []});
    let (s, v) = admin.send("PUT", "/api/strategies/1", &bad, csrf.as_deref());
    check(&v, s, "/api/strategies/{id}", "put");
    for body in [
        json!({"text": "加我微信的发票，电话 13812345678"}),
        json!({"text": 1}),
    ] {
        let (s, v) = admin.send("POST", "/api/strategies/try", &body, csrf.as_deref());
        check(&v, s, "/api/strategies/try", "post");
    }
}

/// Checks `value` against the subset of JSON Schema the document uses (`$ref`, `type`,
/// `required`, `properties`, `items`, `enum`, `nullable`); returns what does not match.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return validate(doc, &doc["components"]["schemas"][name], value, at);
    }
    if value.is_null() && schema["nullable"] == json!(true) {
        return Vec::new();
    }
    let mut errors = Vec::new();
    let ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !ok {
        return vec![format!("{at}: expected {}, got {value}", schema["type"])];
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {options:?}"));
    }
    if let Some(required) = schema["required"].as_array() {
        for r in required {
            let key = r.as_str().unwrap_or_default();
            if value.get(key).is_none() {
                errors.push(format!("{at}: missing {key}"));
            }
        }
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object()) {
        for (k, v) in obj {
            match props.get(k) {
                Some(p) => errors.extend(validate(doc, p, v, &format!("{at}.{k}"))),
                None => errors.push(format!("{at}: undocumented field {k}")),
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            errors.extend(validate(doc, items, v, &format!("{at}[{i}]")));
        }
    }
    errors
}

#[test]
fn a_100000_hit_csv_streams_from_the_real_server_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("store.db");
    {
        let store = SqliteStore::open(&db).expect("store");
        let rules = seeded(&store);
        for chunk in 0..20 {
            let hits: Vec<HitRow> = (0..5_000)
                .map(|i| {
                    let n = chunk * 5_000 + i;
                    let mut h = hit(&format!("bulk{n:06}"), 1, 10_000 + n, &rules);
                    h.content = format!(
                        "第 {n} 条：可以【私下转账】吗，这样便宜点，合同稍后发你，\"引号\"与,逗号"
                    );
                    h
                })
                .collect();
            store.store_hits(&hits, &[]).expect("hits");
        }
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(format!("sqlite://{}", db.display()))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("address line");
    let base = first
        .trim()
        .trim_start_matches("msgaudit workspace on ")
        .trim_end_matches('/')
        .to_owned();
    let peak_mb = |pid: u32| msgaudit::bench::peak_rss_mb_of(&pid.to_string());
    let mut admin = Client::new(&base);
    assert_eq!(admin.sign_in("admin", "admin-secret-1"), 200, "{base}");
    // A first small export warms the server up (pools, caches) before the baseline is read.
    assert_eq!(admin.get("/api/export.csv?strategy=3").0, 200);
    let before_mb = peak_mb(child.id());
    let mut req = admin.agent.get(format!("{base}/api/export.csv?strategy=1"));
    if let Some(c) = &admin.cookie {
        req = req.header("Cookie", c);
    }
    let mut r = req.call().expect("export");
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/csv"))
    );
    let mut reader = BufReader::new(r.body_mut().as_reader());
    let mut bom = [0u8; 3];
    reader.read_exact(&mut bom).expect("bom");
    assert_eq!(bom, [0xEF, 0xBB, 0xBF], "UTF-8 BOM for Excel");
    let (mut lines, mut bytes, mut header) = (0u64, 3u64, String::new());
    let mut line = String::new();
    while reader.read_line(&mut line).expect("line") > 0 {
        if lines == 0 {
            header = line.clone();
        }
        lines += 1;
        bytes += line.len() as u64;
        line.clear();
    }
    assert!(header.starts_with("时间,企业,策略,敏感词"), "{header}");
    // 100,000 bulk hits and the 10 seeded ones of strategy 1, under the header.
    assert_eq!(lines, 1 + 100_000 + 10);
    let after_mb = peak_mb(child.id());
    let csv_mb = bytes as f64 / 1_048_576.0;
    let _ = child.kill();
    let _ = child.wait();
    assert!(csv_mb > 15.0, "{csv_mb} MiB of CSV");
    let grew = after_mb - before_mb;
    assert!(
        before_mb > 0.0 && grew < csv_mb / 4.0,
        "the server's peak RSS grew {grew:.1} MiB (from {before_mb:.1}) for {csv_mb:.1} MiB of CSV"
    );
    eprintln!(
        "CSV export: {lines} lines, {csv_mb:.1} MiB; server peak RSS {before_mb:.1} → {after_mb:.1} MiB"
    );
}
