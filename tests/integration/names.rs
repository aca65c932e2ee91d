//! Names through WeCom's directory APIs, against the local fake WeCom server over real HTTP: the
//! ids messages bring are looked up (a customer, a customer group, an internal group), a stranger
//! is kept with WeCom's refusal, an expired token is replaced, a failed request is asked again
//! next pass, nothing is asked twice; and the daemon names what it archives.

use std::sync::Arc;
use std::time::Duration;

use msgaudit::names::{CorpCredentials, DirectoryClient, NamesSettings, pass};
use msgaudit::secret::Secret;
use msgaudit::store::prelude::*;
use msgaudit::store::{DirectoryId, SqliteStore, StoreBatch};
use msgaudit::wecom::http::WeComHttp;

use crate::fake_wecom::{Answer, FakeWeCom};
use crate::support::message_row;

const CUSTOMER: &str = "wmEAlECwAAHrbWYDOK5u3Af13xlYDDqQ";
const CUSTOMER_GROUP: &str = "wrOgQhDgAAkD4GpWRIbo5Q2m9Z1wvG8w";
const INTERNAL_GROUP: &str = "wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAA";
const STRANGER: &str = "wmStrangerNobodyKnows";
const LATE: &str = "wo5kqVCgAAm5wsH2jXYoZWZJV0ng4tkw";

fn store_messages(store: &dyn Store, rows: &[(&str, &str, &str)], first_seq: u64) {
    let messages = rows
        .iter()
        .enumerate()
        .map(|(i, (from, to, room))| {
            let mut m = message_row(
                "ww1",
                &format!("n{}", first_seq + i as u64),
                first_seq + i as u64,
            );
            m.from_id = (*from).into();
            m.to_list = (*to).into();
            m.room_id = (*room).into();
            m
        })
        .collect();
    store
        .store_batch(&StoreBatch {
            corp_id: "ww1".into(),
            messages,
            checkpoint: first_seq + rows.len() as u64,
            ..StoreBatch::default()
        })
        .expect("store");
}

fn lookups(fake: &FakeWeCom) -> usize {
    fake.received()
        .iter()
        .filter(|r| !r.path.starts_with("/cgi-bin/gettoken"))
        .count()
}

#[test]
fn ids_are_named_through_the_fake_wecom_directory_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("store.db")).expect("store"));
    ids_are_named_through_the_fake_wecom_directory(store);
}

#[test]
fn ids_are_named_through_the_fake_wecom_directory_on_clickhouse() {
    let url = crate::support::clickhouse_url("names");
    let store = Arc::new(msgaudit::store::clickhouse::ClickHouseStore::open(&url).expect("open"));
    ids_are_named_through_the_fake_wecom_directory(store.clone());
    store.drop_database().expect("drop the test database");
}

fn ids_are_named_through_the_fake_wecom_directory(store: Arc<dyn Store>) {
    store_messages(
        store.as_ref(),
        &[
            ("zhangsan", CUSTOMER, ""),
            ("zhangsan", &format!("lisi,{CUSTOMER}"), CUSTOMER_GROUP),
            ("lisi", "zhangsan,wangwu", INTERNAL_GROUP),
            (STRANGER, "zhangsan", ""),
        ],
        1,
    );
    let fake = FakeWeCom::start();
    fake.serve_directory();
    // The first lookup finds its token expired.
    fake.script([Answer::ErrCode(42001)]);
    let http = WeComHttp::new(Duration::from_secs(5)).expect("http");
    let mut client = DirectoryClient::new(http, &fake.base);
    let corps = vec![CorpCredentials {
        corp_id: "ww1".into(),
        contact_secret: Secret::new("contact-secret"),
        archive_secret: Secret::new("archive-secret"),
    }];
    let settings = NamesSettings::default();
    let go = msgaudit::runtime::Shutdown::new();
    // A pass asked to stop looks nothing up: shutdown never waits on WeCom's directory.
    let stopped = msgaudit::runtime::Shutdown::new();
    stopped.request();
    let none = pass(store.as_ref(), &mut client, &corps, &settings, &stopped).expect("pass");
    assert_eq!(none, msgaudit::names::PassReport::default());
    let report = pass(store.as_ref(), &mut client, &corps, &settings, &go).expect("pass");
    assert_eq!((report.named, report.refused, report.transient), (3, 1, 0));
    assert_eq!(
        client.tokens_fetched(),
        3,
        "contacts twice (one expired), archive once"
    );
    let ids: Vec<String> = [
        CUSTOMER,
        CUSTOMER_GROUP,
        INTERNAL_GROUP,
        STRANGER,
        "zhangsan",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let names = store.names("ww1", &ids).expect("names");
    assert_eq!(names.get(CUSTOMER).map(String::as_str), Some("客户王女士"));
    assert_eq!(
        names.get(CUSTOMER_GROUP).map(String::as_str),
        Some("华东大客户群")
    );
    assert_eq!(
        names.get(INTERNAL_GROUP).map(String::as_str),
        Some("销售部内部群")
    );
    assert!(!names.contains_key(STRANGER), "shown as its id");
    let group = store
        .group("ww1", CUSTOMER_GROUP)
        .expect("group")
        .expect("known");
    assert!(
        group
            .members
            .iter()
            .any(|m| m.user_id == CUSTOMER && m.name == "客户王女士")
    );
    let secrets_leaked = fake
        .received()
        .iter()
        .filter(|r| !r.path.starts_with("/cgi-bin/gettoken"))
        .any(|r| r.path.contains("secret") || r.body.contains("secret"));
    assert!(!secrets_leaked, "secrets go to gettoken only");

    // Nothing new: nothing is asked.
    let before = lookups(&fake);
    let report = pass(store.as_ref(), &mut client, &corps, &settings, &go).expect("pass");
    assert_eq!(report, Default::default());
    assert_eq!(lookups(&fake), before);

    // A new id arrives while WeCom is failing: asked again at the next pass.
    store_messages(store.as_ref(), &[(LATE, "zhangsan", "")], 10);
    assert_eq!(
        store.unnamed_ids("ww1", 10).expect("unnamed"),
        vec![DirectoryId::Customer(LATE.into())]
    );
    fake.script([Answer::Status(503)]);
    let report = pass(store.as_ref(), &mut client, &corps, &settings, &go).expect("pass");
    assert_eq!(report.transient, 1);
    let report = pass(store.as_ref(), &mut client, &corps, &settings, &go).expect("pass");
    assert_eq!(report.named, 1);
    let names = store.names("ww1", &[LATE.to_owned()]).expect("names");
    assert_eq!(names.get(LATE).map(String::as_str), Some("赵总"));

    // Known names are refreshed once stale: every row is older than a refresh of zero hours.
    let refresh_all = NamesSettings {
        refresh: Duration::ZERO,
        ..NamesSettings::default()
    };
    std::thread::sleep(Duration::from_millis(5));
    let report = pass(store.as_ref(), &mut client, &corps, &refresh_all, &go).expect("pass");
    assert_eq!(report.named + report.refused, 5, "{report:?}");
}
