//! The archive browser's API over real HTTP, on both stores: conversations per member, customer
//! and room with names from the directory; a conversation paged both ways and centred on a
//! message; search plain and normalised with filters; an auditor's view (404 outside it, 200
//! inside); every read in `sys_oper_log`.

use std::sync::Arc;

use msgaudit::audit::RuleSet;
use msgaudit::store::prelude::*;
use msgaudit::store::{
    Account, Customer, Group, GroupSource, HitKey, HitRow, Review, ReviewState, Role, SqliteStore,
    StoreBatch,
};
use serde_json::{Value, json};

use crate::support::message_row;
use crate::workspace::{Client, Server};

const CUSTOMER: &str = "wmCustomerWang";
const CUSTOMER2: &str = "wmCustomerLi";
const ROOM: &str = "wrHuadong";

fn msg(seq: u64, from: &str, to: &[&str], room: &str, text: &str) -> msgaudit::message::MessageRow {
    let mut m = message_row("ww1", &format!("m{seq:03}"), seq);
    m.from_id = from.into();
    m.to_list = to.join(",");
    m.room_id = room.into();
    m.plain_text = text.into();
    m.contact = json!({ "content": text }).to_string();
    m.msg_time = 1_764_000_000_000 + seq as i64 * 60_000;
    m
}

/// 40 messages: zhangsan ↔ 客户王女士 (1, 5, …), zhangsan → lisi (2, 6, …), the group with
/// zhangsan, lisi and the customer (3, 7, …), zhaoliu ↔ another customer (4, 8, …).
fn seed(store: &dyn Store) {
    let rules = RuleSet::from_json(
        &json!({
            "members": [
                {"userid": "zhangsan", "name": "张三"}, {"userid": "lisi", "name": "李四"},
                {"userid": "zhaoliu", "name": "赵六"}
            ],
            "strategies": [{"id": 1, "name": "飞单", "words": ["私下转账"],
                "scope": [{"type": 2, "id": "zhaoliu"}], "audit_user_id": "auditor1",
                "enabled": true, "alert": false, "normalize": true}]
        })
        .to_string(),
    )
    .expect("rules");
    store.save_rules(&rules).expect("rules saved");
    let messages = (0..40u64)
        .map(|i| {
            let seq = i + 1;
            let text = match i {
                8 => "可以私下转账吗",
                18 => "私 下 轉 賬 可以打折",
                21 => "转账记录发群里",
                _ => "你好",
            };
            match i % 4 {
                0 => msg(seq, "zhangsan", &[CUSTOMER], "", text),
                1 => msg(seq, "zhangsan", &["lisi"], "", text),
                2 => msg(seq, "lisi", &["zhangsan", CUSTOMER], ROOM, text),
                _ => msg(seq, CUSTOMER2, &["zhaoliu"], "", text),
            }
        })
        .collect();
    store
        .store_batch(&StoreBatch {
            corp_id: "ww1".into(),
            messages,
            checkpoint: 40,
            ..StoreBatch::default()
        })
        .expect("batch");
    store
        .save_customers(&[Customer {
            corp_id: "ww1".into(),
            external_userid: CUSTOMER.into(),
            customer_name: "客户王女士".into(),
            update_time: 1,
            ..Customer::default()
        }])
        .expect("customer");
    store
        .save_group(&Group {
            corp_id: "ww1".into(),
            chat_id: ROOM.into(),
            group_name: "华东大客户群".into(),
            source: GroupSource::Customer,
            update_time: 1,
            ..Group::default()
        })
        .expect("group");
    for (name, role) in [("admin", Role::Admin), ("auditor1", Role::Auditor)] {
        store
            .save_account(&Account {
                user_name: name.into(),
                we_user_id: name.into(),
                role,
                secret_hash: msgaudit::web::auth::hash_secret("secret-123").expect("hash"),
                disabled: false,
                create_time_ms: 0,
            })
            .expect("account");
    }
}

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().expect("items")
}

fn msg_ids(v: &Value) -> Vec<String> {
    items(v)
        .iter()
        .map(|m| m["msg_id"].as_str().expect("msg_id").to_owned())
        .collect()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn the_archive_browser_api(store: Arc<dyn Store>) {
    seed(store.as_ref());
    let server = Server::start(store.clone());
    let mut anon = Client::new(&server.base);
    assert_eq!(anon.get("/api/conversations?member=zhangsan").0, 401);
    assert_eq!(anon.get("/api/search?q=x").0, 401);

    let mut admin = Client::new(&server.base);
    assert_eq!(admin.sign_in("admin", "secret-123"), 200);
    // Conversations per member, newest first, with names.
    let (s, list) = admin.get("/api/conversations?member=zhangsan");
    assert_eq!(s, 200, "{list}");
    let titles: Vec<&str> = items(&list)
        .iter()
        .map(|c| c["title"].as_str().expect("title"))
        .collect();
    assert_eq!(
        titles,
        ["「华东大客户群」", "张三 ↔ 李四", "张三 ↔ 客户王女士"],
        "{list}"
    );
    assert!(items(&list).iter().all(|c| c["msg_count"] == 10));
    assert_eq!(items(&list)[2]["kind"], "customer");
    assert_eq!(items(&list)[1]["kind"], "colleague");
    assert_eq!(
        items(&list)[0]["room"]["label"],
        format!("华东大客户群 ({ROOM})")
    );
    let (_, by_customer) = admin.get(&format!("/api/conversations?customer={CUSTOMER}"));
    assert_eq!(items(&by_customer).len(), 2);
    let (_, by_room) = admin.get(&format!("/api/conversations?room={ROOM}"));
    assert_eq!(items(&by_room).len(), 1);
    let (_, page1) = admin.get("/api/conversations?member=zhangsan&limit=2");
    assert_eq!(items(&page1).len(), 2);
    assert_eq!(
        (&page1["total"], &page1["total_capped"]),
        (&json!(3), &json!(false))
    );
    let cursor = page1["next_cursor"].as_str().expect("cursor");
    let (_, page2) = admin.get(&format!(
        "/api/conversations?member=zhangsan&limit=2&cursor={}",
        enc(cursor)
    ));
    assert_eq!(items(&page2)[0]["title"], "张三 ↔ 客户王女士");
    assert!(
        page2.get("total").is_none(),
        "totals on the first page only"
    );
    assert_eq!(
        admin.get("/api/conversations?member=a&customer=b").0,
        400,
        "one of member or customer"
    );

    // One conversation, paged both ways.
    let pair = items(&list)[2]["id"].as_str().expect("id").to_owned();
    let url = |q: &str| format!("/api/conversations/{pair}/messages?{q}");
    let (s, newest) = admin.get(&url("limit=3"));
    assert_eq!(s, 200, "{newest}");
    assert_eq!(msg_ids(&newest), ["m029", "m033", "m037"]);
    assert_eq!(newest["conversation"]["title"], "张三 ↔ 客户王女士");
    let m = &items(&newest)[0];
    assert_eq!(m["from"]["label"], "张三 (zhangsan)");
    assert_eq!(m["to"][0]["label"], format!("客户王女士 ({CUSTOMER})"));
    assert_eq!(m["type_label"], "文本");
    let before = newest["before_cursor"].as_str().expect("cursor");
    let (_, older) = admin.get(&url(&format!("limit=3&before={}", enc(before))));
    assert_eq!(msg_ids(&older), ["m017", "m021", "m025"]);
    let after = older["after_cursor"].as_str().expect("cursor");
    let (_, newer) = admin.get(&url(&format!("limit=2&after={}", enc(after))));
    assert_eq!(msg_ids(&newer), ["m029", "m033"]);
    let (_, around) = admin.get(&url("limit=4&around=m009"));
    assert_eq!(around["centre"], "m009");
    assert_eq!(msg_ids(&around), ["m001", "m005", "m009", "m013", "m017"]);
    let hit = &items(&around)[2];
    assert_eq!(hit["text"], "可以私下转账吗");
    assert_eq!(admin.get(&url("around=nope")).0, 404);
    assert_eq!(
        admin
            .get("/api/conversations/bm90LWEtY29udmVyc2F0aW9u/messages")
            .0,
        404
    );

    // Where a message lives.
    let (s, located) = admin.get("/api/messages/ww1/m009");
    assert_eq!(s, 200);
    assert_eq!(located["conversation_id"], pair.as_str());

    // Search: plain, normalised, filters, marked in place.
    let (s, found) = admin.get(&format!("/api/search?q={}", enc("转账")));
    assert_eq!(s, 200, "{found}");
    assert_eq!(msg_ids(&found), ["m022", "m009"]);
    assert_eq!(found["total"], 2);
    assert_eq!(
        items(&found)[1]["marked"],
        json!([["可以私下", false], ["转账", true], ["吗", false]])
    );
    let (_, normalised) = admin.get(&format!(
        "/api/search?q={}&mode=normalised",
        enc("私下轉賬")
    ));
    assert_eq!(msg_ids(&normalised), ["m019", "m009"]);
    assert_eq!(
        items(&normalised)[0]["marked"][0],
        json!(["私 下 轉 賬", true])
    );
    let (_, in_room) = admin.get(&format!(
        "/api/search?q={}&mode=normalised&room={ROOM}",
        enc("转账")
    ));
    assert_eq!(msg_ids(&in_room), ["m019"]);
    assert_eq!(in_room["total"], 1);
    let (_, everything) = admin.get("/api/search?limit=5");
    assert_eq!(everything["total"], 40);
    let (_, from) = admin.get(&format!("/api/search?q={}&from={CUSTOMER2}", enc("你好")));
    assert!(items(&from).iter().all(|m| m["from"]["id"] == CUSTOMER2));
    let (_, typed) = admin.get(&format!("/api/search?q={}&type=image", enc("你好")));
    assert!(items(&typed).is_empty());
    let (_, timed) = admin.get(&format!(
        "/api/search?q={}&mode=normalised&since={}",
        enc("转账"),
        enc("2025-11-25 00:10")
    ));
    // 2025-11-25 00:10 in Asia/Shanghai is 1,764,000,600,000: after m009 (seq 9).
    assert_eq!(msg_ids(&timed), ["m022", "m019"]);
    assert_eq!(admin.get("/api/search?q=x&mode=fuzzy").0, 400);

    // Exports: the whole conversation, names and local times, CSV and XLSX.
    let (status, h, csv) = raw_get(
        &server.base,
        admin.cookie(),
        &format!("/api/conversations/{pair}/export?format=csv"),
        &[],
    );
    assert_eq!(status, 200);
    assert!(
        h["content-disposition"]
            .to_str()
            .expect("ascii")
            .contains(".csv")
    );
    let csv = String::from_utf8(csv).expect("utf-8");
    assert!(csv.starts_with("\u{feff}时间,发送人,接收人,群聊,类型,内容,附件,msgid\r\n"));
    assert_eq!(csv.lines().count(), 11, "a header and ten messages:\n{csv}");
    assert!(csv.contains("2025-11-25 00:09:00,张三 (zhangsan),客户王女士 (wmCustomerWang),,文本,可以私下转账吗,,m009"), "{csv}");
    let (status, h, xlsx) = raw_get(
        &server.base,
        admin.cookie(),
        &format!(
            "/api/search/export?q={}&mode=normalised&format=xlsx",
            enc("转账")
        ),
        &[],
    );
    assert_eq!(status, 200);
    assert!(
        h["content-disposition"]
            .to_str()
            .expect("ascii")
            .contains(".xlsx")
    );
    assert!(xlsx.starts_with(b"PK"), "a zip");
    let sheet = xlsx_sheet(&xlsx);
    for want in [
        "m022",
        "m019",
        "m009",
        "私 下 轉 賬 可以打折",
        "华东大客户群 (wrHuadong)",
    ] {
        assert!(sheet.contains(want), "{want} missing from the sheet");
    }
    assert!(!sheet.contains("m001<"), "only what the search finds");
    assert_eq!(
        admin
            .get(&format!("/api/conversations/{pair}/export?format=pdf"))
            .0,
        400
    );

    // An auditor sees zhaoliu's conversations only.
    let mut auditor = Client::new(&server.base);
    assert_eq!(auditor.sign_in("auditor1", "secret-123"), 200);
    let (_, theirs) = auditor.get("/api/conversations?member=zhangsan");
    assert!(items(&theirs).is_empty(), "{theirs}");
    let (_, zhaoliu) = auditor.get("/api/conversations?member=zhaoliu");
    assert_eq!(items(&zhaoliu).len(), 1);
    let own = items(&zhaoliu)[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        auditor.get(&format!("/api/conversations/{own}/messages")).0,
        200
    );
    assert_eq!(
        auditor
            .get(&format!("/api/conversations/{pair}/messages"))
            .0,
        404
    );
    assert_eq!(auditor.get("/api/messages/ww1/m009").0, 404);
    assert_eq!(
        raw_get(
            &server.base,
            auditor.cookie(),
            &format!("/api/conversations/{pair}/export"),
            &[]
        )
        .0,
        404
    );
    let (_, _, theirs_csv) = raw_get(
        &server.base,
        auditor.cookie(),
        &format!("/api/search/export?q={}", enc("你好")),
        &[],
    );
    let theirs_csv = String::from_utf8(theirs_csv).expect("utf-8");
    assert!(
        theirs_csv
            .lines()
            .skip(1)
            .all(|l| l.contains("赵六") || l.contains("zhaoliu")),
        "{theirs_csv}"
    );
    assert_eq!(auditor.get("/api/messages/ww1/m004").0, 200);
    let (_, searched) = auditor.get(&format!("/api/search?q={}", enc("你好")));
    assert!(
        items(&searched)
            .iter()
            .all(|m| m["to"][0]["id"] == "zhaoliu"),
        "{searched}"
    );
    assert!(!items(&searched).is_empty());
    let (_, none) = auditor.get(&format!("/api/search?q={}", enc("转账")));
    assert!(items(&none).is_empty());

    // Where the hits are in a conversation, to step from one to the next: oldest first, one
    // entry a message, only that conversation's, only the viewer's strategies.
    let hit = |seq: i64, strategy: i64, from: &str, to: &str, room: &str| HitRow {
        corp_id: "ww1".into(),
        msg_id: format!("m{seq:03}"),
        strategy_id: strategy,
        strategy_name: format!("策略{strategy}"),
        words: vec!["私下转账".into()],
        spans: vec![(0, 12)],
        content: "【私下转账】".into(),
        from_id: from.into(),
        to_list: to.into(),
        room_id: room.into(),
        msg_time: 1_764_000_000_000 + seq * 60_000,
        direction: "sent".into(),
        audit_user_id: "auditor1".into(),
        send_status: 0,
        rules_version: 1,
    };
    let hits = [
        hit(9, 1, "zhangsan", CUSTOMER, ""),
        hit(1, 1, "zhangsan", CUSTOMER, ""),
        hit(1, 2, "zhangsan", CUSTOMER, ""),
        hit(2, 1, "zhangsan", "lisi", ""),
        hit(3, 1, "lisi", &format!("zhangsan,{CUSTOMER}"), ROOM),
        hit(4, 1, CUSTOMER2, "zhaoliu", ""),
        hit(4, 2, CUSTOMER2, "zhaoliu", ""),
    ];
    store.store_hits(&hits, &[]).expect("hits");
    store
        .record_reviews(&[Review {
            key: HitKey::of_hit(&hits[0]),
            state: ReviewState::Confirmed,
            note: String::new(),
            reviewer: "admin".into(),
            time_ms: 1,
        }])
        .expect("review");
    let (s, in_pair) = admin.get(&format!("/api/conversations/{pair}/hits"));
    assert_eq!(s, 200, "{in_pair}");
    assert_eq!(msg_ids(&in_pair), ["m001", "m009"]);
    assert_eq!(in_pair["capped"], false);
    let first = &items(&in_pair)[0];
    assert_eq!(first["hits"].as_array().map(Vec::len), Some(2), "{first}");
    assert_eq!(first["hits"][0]["words"][0], "私下转账");
    assert_eq!(items(&in_pair)[1]["hits"][0]["review_state"], "confirmed");
    assert_eq!(
        items(&in_pair)[1]["hits"][0]["review_state_label"],
        "已核实"
    );
    let (_, theirs) = admin.get(&format!("/api/conversations/{own}/hits"));
    assert_eq!(theirs["items"][0]["hits"].as_array().map(Vec::len), Some(2));
    let (s, seen) = auditor.get(&format!("/api/conversations/{own}/hits"));
    assert_eq!(s, 200, "{seen}");
    assert_eq!(msg_ids(&seen), ["m004"]);
    let only: Vec<&Value> = seen["items"][0]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .collect();
    assert_eq!(only.len(), 1, "the auditor's own strategy only: {seen}");
    assert_eq!(only[0]["strategy_id"], 1);
    assert_eq!(
        auditor.get(&format!("/api/conversations/{pair}/hits")).0,
        404
    );
    assert_eq!(admin.get("/api/conversations/nope/hits").0, 404);
    assert_eq!(anon.get(&format!("/api/conversations/{pair}/hits")).0, 401);

    // Every read is in the operation log.
    let ops = store.operations(1000).expect("ops");
    for title in [
        "查看会话列表",
        "查看会话",
        "查看消息",
        "搜索消息",
        "导出搜索结果",
    ] {
        assert!(
            ops.iter()
                .any(|o| o.title == title && o.oper_name == "auditor1"),
            "{title} by auditor1"
        );
    }
}

#[test]
fn the_archive_browser_api_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("store.db")).expect("store"));
    the_archive_browser_api(store);
}

#[test]
fn the_archive_browser_api_on_clickhouse() {
    let url = crate::support::clickhouse_url("archive_api");
    let store = Arc::new(msgaudit::store::clickhouse::ClickHouseStore::open(&url).expect("open"));
    the_archive_browser_api(store.clone());
    store.drop_database().expect("drop the test database");
}

/// A raw GET with the session cookie and extra headers: status, headers, body bytes.
pub fn raw_get(
    base: &str,
    cookie: Option<&str>,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, ureq::http::HeaderMap, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(format!("{base}{path}"));
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.call().expect("GET");
    let status = r.status().as_u16();
    let h = r.headers().clone();
    let body = r.body_mut().read_to_vec().expect("body");
    (status, h, body)
}

#[test]
fn media_is_served_only_inside_a_view_with_ranges_and_safe_headers() {
    use msgaudit::media::{LocalMediaStore, MediaStore, ObjectKey};
    use msgaudit::message::{Attachment, MediaKind};
    use msgaudit::store::{MediaFile, MediaOutcome};

    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("store.db")).expect("store"));
    seed(store.as_ref());
    // An image in zhangsan's chat with the customer, a file in zhaoliu's.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..5000u32).map(|i| (i % 251) as u8));
    let pdf = b"%PDF-1.4 <script>alert(1)</script> a file".to_vec();
    let media = LocalMediaStore::open(dir.path().join("media")).expect("media store");
    let mut messages = Vec::new();
    let mut done = Vec::new();
    for (seq, from, to, kind, bytes, name, ctype) in [
        (
            101u64,
            "zhangsan",
            CUSTOMER,
            MediaKind::Image,
            &png,
            "",
            "image/png",
        ),
        (
            102,
            CUSTOMER2,
            "zhaoliu",
            MediaKind::File,
            &pdf,
            "合同 v2.pdf",
            "application/pdf",
        ),
    ] {
        let digest = openssl::hash::hash(openssl::hash::MessageDigest::md5(), bytes).expect("md5");
        let md5: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let mut m = msg(seq, from, &[to], "", "");
        m.msg_type = if kind == MediaKind::Image {
            "image"
        } else {
            "file"
        }
        .into();
        m.attachments = vec![Attachment {
            item: 0,
            kind,
            sdkfileid: format!("F{seq}"),
            md5sum: md5.clone(),
            size: bytes.len() as u64,
            file_name: name.into(),
        }];
        messages.push(m);
        let staged = dir.path().join(format!("staged-{seq}"));
        std::fs::write(&staged, bytes).expect("stage");
        media
            .put(&staged, &ObjectKey::original(&md5, bytes.len() as u64))
            .expect("put");
        done.push(MediaFile {
            md5,
            size: bytes.len() as u64,
            content_type: ctype.into(),
            ..MediaFile::default()
        });
    }
    store
        .store_batch(&StoreBatch {
            corp_id: "ww1".into(),
            messages,
            checkpoint: 102,
            ..StoreBatch::default()
        })
        .expect("batch");
    let jobs = store
        .due_media_jobs(&["ww1".to_owned()], i64::MAX, 10)
        .expect("jobs");
    for (job, file) in jobs.iter().zip(done) {
        store
            .record_media_outcome(
                job,
                &MediaOutcome::Done {
                    file,
                    note: String::new(),
                },
            )
            .expect("done");
    }
    let bound = msgaudit::web::bind(store.clone(), "127.0.0.1:0".parse().expect("addr"))
        .expect("bind")
        .with_media(Arc::new(media));
    let base = format!("http://{}", bound.addr);
    let stop = msgaudit::runtime::Shutdown::new();
    let s = stop.clone();
    let server = std::thread::spawn(move || bound.serve(s).expect("serve"));

    let cookie_of = |user: &str| {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let r = agent
            .post(format!("{base}/api/session"))
            .content_type("application/json")
            .send(json!({"user": user, "secret": "secret-123"}).to_string())
            .expect("sign in");
        r.headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.split(';').next())
            .expect("cookie")
            .to_owned()
    };
    let admin = cookie_of("admin");
    let auditor = cookie_of("auditor1");
    let image = "/api/media/ww1/m101/0";
    let file = "/api/media/ww1/m102/0";

    // No session: 401, and never the bytes.
    let (status, _, body) = raw_get(&base, None, image, &[]);
    assert_eq!(status, 401);
    assert!(!body.starts_with(b"\x89PNG"));
    // Inside the view: the image inline, whole and by range.
    let (status, h, body) = raw_get(&base, Some(&admin), image, &[]);
    assert_eq!(status, 200);
    assert_eq!(body, png);
    assert_eq!(h["content-type"], "image/png");
    assert!(
        h["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("inline;")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["accept-ranges"], "bytes");
    let (status, h, body) = raw_get(&base, Some(&admin), image, &[("Range", "bytes=2-9")]);
    assert_eq!(status, 206);
    assert_eq!(body, png[2..10]);
    assert_eq!(
        h["content-range"].to_str().expect("ascii"),
        format!("bytes 2-9/{}", png.len())
    );
    let (status, _, _) = raw_get(
        &base,
        Some(&admin),
        image,
        &[("Range", &format!("bytes={}-", png.len()))],
    );
    assert_eq!(status, 416);
    // A file: always a download of octet-stream, under its own name.
    let (status, h, body) = raw_get(&base, Some(&auditor), file, &[]);
    assert_eq!(status, 200);
    assert_eq!(body, pdf);
    assert_eq!(h["content-type"], "application/octet-stream");
    let disposition = h["content-disposition"].to_str().expect("ascii");
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("%E5%90%88%E5%90%8C%20v2.pdf"),
        "{disposition}"
    );
    // Outside the auditor's view, or no such item, or no playable copy: 404.
    assert_eq!(raw_get(&base, Some(&auditor), image, &[]).0, 404);
    assert_eq!(
        raw_get(&base, Some(&admin), "/api/media/ww1/m101/1", &[]).0,
        404
    );
    assert_eq!(
        raw_get(
            &base,
            Some(&admin),
            &format!("{image}?variant=playable"),
            &[]
        )
        .0,
        404
    );
    assert_eq!(
        raw_get(&base, Some(&admin), &format!("{image}?download=1"), &[]).1["content-disposition"]
            .to_str()
            .expect("ascii")
            .split(';')
            .next(),
        Some("attachment")
    );
    let ops = store.operations(100).expect("ops");
    assert!(
        ops.iter()
            .any(|o| o.title == "查看媒体" && o.oper_name == "admin")
    );
    assert!(
        ops.iter()
            .any(|o| o.title == "下载媒体" && o.oper_name == "admin")
    );
    assert!(
        ops.iter()
            .any(|o| o.title == "查看媒体" && o.oper_name == "auditor1")
    );
    stop.request();
    let _ = server.join();
}

/// The first sheet's XML of an XLSX file (read with Python's zipfile, which every test machine has).
pub fn xlsx_sheet(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("export.xlsx");
    std::fs::write(&path, bytes).expect("write");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read('xl/worksheets/sheet1.xml').decode())",
        ])
        .arg(&path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}
