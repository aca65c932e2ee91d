//! The archive browser in headless Chromium, on the demo's real archive (pulled, decrypted,
//! stored, its media fetched and its names looked up through the stand-in directory): an auditor
//! opens an employee, then a customer conversation with an image, a voice message and a file; the
//! image is really shown, the voice has a playable source, the file downloads; a search opens its
//! result in its conversation. Screenshots at laptop and phone width go to `target/test-artefacts/`.

use std::sync::Arc;

use msgaudit::store::prelude::*;
use msgaudit::store::{Account, Role, SearchQuery};
use serde_json::{Value, json};

use crate::support::root;
use crate::workspace_browser::Driver;

/// Runs the demo into `dir`; returns its SQLite store's path.
fn demo(dir: &std::path::Path) -> std::path::PathBuf {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_msgaudit"))
        .args(["demo", "--messages", "3000", "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("demo.db")
}

/// A member and a customer whose one-to-one conversation holds an image, a voice message and a
/// file.
fn rich_conversation(store: &dyn Store) -> (String, String) {
    let found = store
        .search(&SearchQuery {
            msg_types: vec!["image".into(), "voice".into(), "file".into()],
            limit: 100_000,
            ..SearchQuery::default()
        })
        .expect("search");
    let mut kinds: std::collections::BTreeMap<
        (String, String),
        std::collections::BTreeSet<String>,
    > = Default::default();
    for m in &found {
        if let Some(msgaudit::message::Conversation::Pair(a, b)) = m.row.conversation() {
            let (member, customer) = if msgaudit::message::is_external_id(&a) {
                (b, a)
            } else {
                (a, b)
            };
            if msgaudit::message::is_external_id(&customer)
                && !msgaudit::message::is_external_id(&member)
            {
                kinds
                    .entry((member, customer))
                    .or_default()
                    .insert(m.row.msg_type.clone());
            }
        }
    }
    kinds
        .into_iter()
        .find(|(_, k)| k.len() == 3)
        .map(|(pair, _)| pair)
        .expect("a customer conversation with an image, a voice and a file")
}

#[test]
fn an_auditor_browses_a_customer_conversation_with_its_media_and_searches_in_chromium() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = demo(dir.path());
    let store: Arc<dyn Store> = Arc::new(msgaudit::store::SqliteStore::open(&db).expect("store"));
    store
        .save_account(&Account {
            user_name: "wangwu".into(),
            we_user_id: "wangwu".into(),
            role: Role::Auditor,
            secret_hash: msgaudit::web::auth::hash_secret("browse-secret-1").expect("hash"),
            disabled: false,
            create_time_ms: 0,
        })
        .expect("account");
    let (member, customer) = rich_conversation(store.as_ref());
    let member = member.as_str();
    let media = msgaudit::media::LocalMediaStore::open(dir.path().join("media")).expect("media");
    let bound = msgaudit::web::bind(store.clone(), "127.0.0.1:0".parse().expect("addr"))
        .expect("bind")
        .with_media(Arc::new(media));
    let base = format!("http://{}", bound.addr);
    let stop = msgaudit::runtime::Shutdown::new();
    let s = stop.clone();
    let server = std::thread::spawn(move || bound.serve(s).expect("serve"));

    let driver = Driver::start();
    driver.go(&format!("{base}/"));
    driver.wait_for(
        "the sign-in form",
        "return !document.querySelector('#signin').hidden",
    );
    driver.type_into("#signin-form input[name=user]", "wangwu");
    driver.type_into("#signin-form input[name=secret]", "browse-secret-1");
    driver.click("#signin-form button[type=submit]");
    driver.wait_for(
        "the workspace",
        "return !document.querySelector('#app').hidden",
    );
    // A time a message carries (a meeting's, a schedule's) shows in the workspace's zone, as
    // every other time, whatever the browser's: 2023-11-14 22:13:20 UTC is the 15th in Shanghai.
    assert_eq!(
        driver.script("return when(1700000000)"),
        json!("2023/11/15 06:13:20")
    );

    // An employee's conversations, with names.
    driver.click("nav button[data-tab=browse]");
    driver.type_into("#browse-form input[name=id]", member);
    driver.click("#browse-form button[type=submit]");
    driver.wait_for(
        "the member's conversations",
        "return document.querySelectorAll('#conv-list .conv').length > 3",
    );
    let titles = driver.script(
        "return [...document.querySelectorAll('#conv-list .conv .title')].map(t => t.textContent)",
    );
    let titles = titles.as_array().expect("titles");
    assert!(
        titles.iter().any(|t| t
            .as_str()
            .is_some_and(|t| t.contains(" ↔ ") && !t.contains(" ↔ wm") && !t.contains(" ↔ wo"))),
        "named people: {titles:?}"
    );
    assert!(
        titles
            .iter()
            .any(|t| t.as_str().is_some_and(|t| t.contains("「华东大客户群」"))),
        "{titles:?}"
    );

    // The customer conversation with an image, a voice message and a file.
    let clicked = driver.script(&format!(
        "const c = [...document.querySelectorAll('#conv-list .conv')].find(c => c.textContent.includes({}));
         if (c) c.click(); return !!c",
        json!(customer)
    ));
    assert_eq!(
        clicked,
        json!(true),
        "the conversation with {customer} is listed"
    );
    driver.wait_for(
        "the chat",
        "return document.querySelectorAll('#chat .bubble').length > 0",
    );
    // Load the whole conversation (scroll up until nothing more comes).
    for _ in 0..20 {
        driver.script("const b = document.querySelector('#chat'); b.scrollTop = 0; b.dispatchEvent(new Event('scroll'));");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let image = driver.wait_for(
        "an image shown",
        "const i = [...document.querySelectorAll('#chat img.thumb')].find(i => i.complete && i.naturalWidth > 0); return i ? [i.naturalWidth, i.naturalHeight] : null",
    );
    assert!(image[0].as_u64().unwrap_or(0) > 0, "{image}");
    // Every player (a voice message's, a meeting's voice) offers the MP3 copy first.
    let sources = driver.script(
        "return [...document.querySelectorAll('#chat audio')].map(a => a.querySelector('source').getAttribute('src'))",
    );
    let sources = sources.as_array().expect("sources");
    assert!(
        !sources.is_empty()
            && sources.iter().all(|s| s
                .as_str()
                .is_some_and(|s| s.starts_with("/api/media/") && s.ends_with("?variant=playable"))),
        "{sources:?}"
    );
    let voice = sources[0].as_str().expect("a voice message with a source");
    let playable = driver.script(&format!(
        "return fetch({}).then(r => [r.status, r.headers.get('content-type')])",
        json!(voice)
    ));
    assert_eq!(playable[0], json!(200), "{playable}");
    if !playable[1]
        .as_str()
        .is_some_and(|t| t.starts_with("audio/"))
    {
        // Say why the voice has no playable copy: the fetcher notes a failed transcoding.
        let conn = rusqlite::Connection::open(&db).expect("db");
        let notes: Vec<String> = conn
            .prepare(
                "SELECT msg_id || ': ' || note FROM we_chat_media_job \
                 WHERE kind = 'voice' AND note != '' LIMIT 5",
            )
            .and_then(|mut q| q.query_map([], |r| r.get(0))?.collect())
            .unwrap_or_default();
        panic!(
            "the browser gets audio it can play: {playable} for {voice}; voice notes: {notes:?}"
        );
    }
    let download = driver.script(
        "const a = [...document.querySelectorAll('#chat .cardmsg a[download]')][0];
         if (!a) return null;
         return fetch(a.getAttribute('href')).then(async r => [r.status, r.headers.get('content-disposition'), (await r.arrayBuffer()).byteLength])",
    );
    assert_eq!(download[0], json!(200), "{download}");
    assert!(
        download[1]
            .as_str()
            .is_some_and(|d| d.starts_with("attachment")),
        "{download}"
    );
    assert!(download[2].as_u64().unwrap_or(0) > 0, "{download}");
    std::fs::create_dir_all(root().join("target/test-artefacts")).expect("artefacts");
    driver.screenshot(&root().join("target/test-artefacts/archive-chat.png"));
    a_long_read_keeps_a_window_of_messages(&driver);

    // Search a word, open a result in its conversation, centred on it.
    driver.click("nav button[data-tab=find]");
    driver.type_into("#find-form input[name=q]", "发票");
    driver.click("#find-form button[type=submit]");
    driver.wait_for(
        "search results",
        "return document.querySelectorAll('#find-results .result').length > 0",
    );
    let first =
        driver.script("return document.querySelector('#find-results .result mark').textContent");
    assert_eq!(first, json!("发票"));
    let msg = driver.script("return document.querySelector('#find-results .result').dataset.msg");
    driver.click("#find-results .result");
    driver.wait_for(
        "the result in its conversation",
        &format!(
            "return !!document.querySelector('#chat .bubble.centre[data-msg=\"' + {} + '\"]')",
            json!(msg)
        ),
    );
    driver.screenshot(&root().join("target/test-artefacts/archive-search-open.png"));

    narrowing_the_hits_from_a_row(&driver);
    // Stepping ends in the chat, which the phone-width check below is about.
    stepping_from_hit_to_hit(&driver, store.as_ref());

    // At phone width the chat fits.
    driver.resize(390, 844);
    let overflow: Value = driver.overflow_x();
    assert!(
        overflow.as_i64().is_some_and(|o| o <= 0),
        "wider than a phone by {overflow}"
    );
    driver.screenshot(&root().join("target/test-artefacts/archive-phone.png"));
    let ops = store.operations(200).expect("ops");
    for title in ["查看会话列表", "查看会话", "搜索消息", "查看媒体"] {
        assert!(
            ops.iter()
                .any(|o| o.title == title && o.oper_name == "wangwu"),
            "{title}"
        );
    }
    stop.request();
    let _ = server.join();
}

/// In the hits list, a row's sender and group narrow the list to them, without opening the hit.
fn narrowing_the_hits_from_a_row(driver: &Driver) {
    driver.click("nav button[data-tab=hits]");
    let rows = "[...document.querySelectorAll('#hit-rows tr.row')]";
    driver.wait_for("the hits list", &format!("return {rows}.length > 1"));
    let sender = driver.script(
        "return document.querySelector('#hit-rows tr.row td.person button.filter-by').dataset.value",
    );
    driver.click("#hit-rows tr.row td.person button.filter-by");
    driver.wait_for(
        "only the sender's hits",
        &format!(
            "const id = {sender}; return document.querySelector('#hit-filters input[name=from]').value === id \
             && {rows}.length > 0 \
             && {rows}.every(r => r.querySelector('td.person button').dataset.value === id)"
        ),
    );
    assert_eq!(
        driver.script("return document.querySelector('#context').open"),
        json!(false),
        "narrowing the list does not open the hit"
    );
    let search = driver.script("return location.search");
    assert!(
        search.as_str().is_some_and(|s| s.contains("from=")),
        "the filter is in the address, for the back button and a link: {search}"
    );

    // Back to every hit, then one group's.
    driver.click("#hit-clear");
    let group = driver.wait_for(
        "every hit again, and one in a group",
        &format!(
            "const b = document.querySelector('#hit-rows td.convcell button.filter-by'); \
             return document.querySelector('#hit-filters input[name=from]').value === '' \
             && {rows}.some(r => r.querySelector('td.person button').dataset.value !== {sender}) \
             && b && b.dataset.value"
        ),
    );
    driver.click("#hit-rows td.convcell button.filter-by");
    driver.wait_for(
        "only the group's hits",
        &format!(
            "const id = {group}; return document.querySelector('#hit-filters input[name=room]').value === id \
             && {rows}.length > 0 \
             && {rows}.every(r => {{ const b = r.querySelector('td.convcell button'); return b && b.dataset.value === id; }})"
        ),
    );
    // The people and groups the list showed are offered by name in the filters' suggestions.
    let offered = driver.script(&format!(
        "const o = [...document.querySelectorAll('#groups option')].find(o => o.value === {group}); \
         const p = [...document.querySelectorAll('#people option')].find(o => o.value === {sender}); \
         return [o && o.textContent, p && p.textContent, \
                 document.querySelector('#hit-filters input[name=room]').getAttribute('list')]"
    ));
    let offered = offered.as_array().expect("offered");
    assert!(
        offered[0].as_str().is_some_and(|l| l.contains('('))
            && offered[1].as_str().is_some_and(|l| l.contains('(')),
        "offered with their names: {offered:?}"
    );
    assert_eq!(offered[2], json!("groups"));
    driver.screenshot(&root().join("target/test-artefacts/hits-one-group.png"));
}

/// The one-to-one conversation of the demo with the most hits (of several messages).
fn conversation_with_hits(store: &dyn Store) -> String {
    let hits = store
        .hits(&msgaudit::store::HitQuery {
            limit: 100_000,
            ..Default::default()
        })
        .expect("hits");
    let mut messages: std::collections::BTreeMap<
        (String, msgaudit::message::Conversation),
        std::collections::BTreeSet<String>,
    > = Default::default();
    for h in &hits {
        let h = &h.hit;
        let to = msgaudit::store::split_list(&h.to_list);
        if let Some(c @ msgaudit::message::Conversation::Pair(..)) =
            msgaudit::message::Conversation::of(
                &h.from_id,
                to.iter().map(String::as_str),
                &h.room_id,
            )
        {
            messages
                .entry((h.corp_id.clone(), c))
                .or_default()
                .insert(h.msg_id.clone());
        }
    }
    let ((corp_id, conversation), found) = messages
        .into_iter()
        .max_by_key(|(_, m)| m.len())
        .expect("a conversation with hits");
    assert!(found.len() >= 3, "{found:?}");
    msgaudit::web::archive::ConversationId {
        corp_id,
        conversation,
    }
    .encode()
}

/// In a conversation with hits, the chat's 上一条命中 / 下一条命中 step from hit to hit, each
/// centred, with where the chat is among them.
fn stepping_from_hit_to_hit(driver: &Driver, store: &dyn Store) {
    let id = conversation_with_hits(store);
    let hits: Vec<String> = serde_json::from_value(driver.script(&format!(
        "return fetch('/api/conversations/' + encodeURIComponent({id}) + '/hits')
           .then(r => r.json()).then(d => d.items.map(i => i.msg_id))",
        id = json!(id)
    )))
    .expect("hit ids");
    let n = hits.len();
    assert!(n >= 3, "{hits:?}");
    driver.script(&format!("return openChat({}).then(() => null)", json!(id)));
    let pos = |want: &str| {
        driver.wait_for(
            want,
            &format!(
                "const p = document.querySelector('#chat-hit-pos');
                 return !document.querySelector('#chat-hits').hidden && p.textContent === {} ? p.textContent : null",
                json!(want)
            ),
        );
    };
    // Opened at the newest message: every hit is behind.
    pos(&format!("本会话 {n} 条命中"));
    let disabled = |which: &str| {
        driver.script(&format!(
            "return document.querySelector('#chat-hit-{which}').disabled"
        ))
    };
    assert_eq!(disabled("next"), json!(true));
    let centred = |msg: &str| {
        driver.wait_for(
            &format!("the hit {msg} centred"),
            &format!(
                "return !!document.querySelector('#chat .bubble.centre.hit[data-msg=' + JSON.stringify({}) + ']')",
                json!(msg)
            ),
        );
    };
    driver.click("#chat-hit-prev");
    centred(&hits[n - 1]);
    pos(&format!("命中 {n} / {n}"));
    driver.click("#chat-hit-prev");
    centred(&hits[n - 2]);
    pos(&format!("命中 {} / {n}", n - 1));
    driver.screenshot(&root().join("target/test-artefacts/archive-hit-steps.png"));
    driver.click("#chat-hit-next");
    centred(&hits[n - 1]);
    assert_eq!(disabled("next"), json!(true));
    assert_eq!(disabled("prev"), json!(false));
}

/// Reading a conversation end to end keeps at most the chat's window of messages on the page:
/// with pages of 3 and a window of 6, paging up to the oldest message and back down to the newest
/// always shows an unbroken run of the conversation, in order, never more than 6 messages.
fn a_long_read_keeps_a_window_of_messages(driver: &Driver) {
    const IDS: &str = "[...document.querySelectorAll('#chat .bubble')].map(b => b.dataset.msg)";
    // Waits out a page still coming in (the chat asks for one page at a time).
    const IDLE: &str = "while (chat.busy) await new Promise(r => setTimeout(r, 10));";
    let all: Vec<String> =
        serde_json::from_value(driver.script(&format!("return {IDS}"))).expect("ids");
    assert!(all.len() > 8, "the whole conversation is loaded: {all:?}");
    let shown = |step: &str| -> Vec<String> {
        let ids: Vec<String> =
            serde_json::from_value(driver.script(&format!("return {IDS}"))).expect("ids");
        assert!(
            !ids.is_empty() && ids.len() <= 6,
            "{step}: {} messages on the page",
            ids.len()
        );
        let at = all
            .iter()
            .position(|m| *m == ids[0])
            .expect("a known message");
        assert_eq!(
            all.get(at..at + ids.len()),
            Some(ids.as_slice()),
            "{step}: an unbroken run"
        );
        ids
    };
    // Pages are asked for here, one after the other: the chat's own scroll handler (tested above)
    // is held off, so that the scrolling a page causes does not ask for pages in between.
    driver.script(
        "window.holdScroll = (e) => e.stopImmediatePropagation();
         document.querySelector('#chat').addEventListener('scroll', holdScroll, true);
         chatPage = 3; chatWindow = 6; return openChat(chat.id, { push: false }).then(() => null)",
    );
    assert_eq!(shown("opened").last(), all.last(), "opens at the newest");
    // Enough pages of 3 to cross the whole conversation, and one more that finds nothing.
    let pages = all.len() / 3 + 2;
    for i in 0..pages {
        driver.script(&format!(
            "return (async () => {{ {IDLE} await moreChat('top'); return null; }})()"
        ));
        shown(&format!("older page {i}"));
    }
    assert_eq!(shown("paged up").first(), all.first(), "reaches the oldest");
    for i in 0..pages {
        driver.script(&format!(
            "return (async () => {{ {IDLE} await moreChat('bottom'); return null; }})()"
        ));
        shown(&format!("newer page {i}"));
    }
    assert_eq!(
        shown("paged down").last(),
        all.last(),
        "the dropped messages come back"
    );
    driver.script(
        "document.querySelector('#chat').removeEventListener('scroll', holdScroll, true);
         chatPage = 40; chatWindow = 240; return openChat(chat.id, { push: false }).then(() => null)",
    );
}
