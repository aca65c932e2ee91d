//! The weekly review in headless Chromium, checked on screen: a made-up user's failed sign-ins
//! leave a colleague behind the same address able to sign in; totals; an export taken from the
//! form as it stands (without pressing 查询) holds exactly the rows the shown total counts; a
//! review set from the list and from the hit's dialog; a failed search shows only its error; on a
//! phone the first hit's message text is inside the viewport; an administrator's edit of a
//! strategy warns before it is discarded and, saved, keeps the auditor's name the page never
//! showed as a field. Screenshots: `target/test-artefacts/review-*.png`.

use std::sync::Arc;

use msgaudit::store::{SqliteStore, Store};
use serde_json::{Value, json};

use crate::support::root;
use crate::workspace::{Server, seeded};
use crate::workspace_browser::Driver;

/// Script for `wait_for`: the hit list's totals are in (they come apart from its rows).
const COUNTED: &str = "return document.querySelector('#hit-counts strong') !== null";

fn text(driver: &Driver, css: &str) -> String {
    driver
        .script(&format!(
            "const e = document.querySelector({}); return e ? e.textContent : null",
            json!(css)
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn sign_in(driver: &Driver, user: &str, secret: &str) {
    driver.script(
        "const f = document.querySelector('#signin-form'); f.user.value = ''; f.secret.value = '';",
    );
    driver.type_into("#signin-form input[name=user]", user);
    driver.type_into("#signin-form input[name=secret]", secret);
    driver.click("#signin-form button[type=submit]");
}

/// Sets a form control's value as a user would (and lets the page hear it).
fn choose(driver: &Driver, css: &str, value: &str) {
    driver.script(&format!(
        "const e = document.querySelector({}); e.value = {}; e.dispatchEvent(new Event('change', {{bubbles: true}}));",
        json!(css),
        json!(value)
    ));
}

/// The body of a same-origin GET made by the page (with its session), as text.
fn page_get(driver: &Driver, href_of: &str) -> String {
    driver
        .script(&format!(
            "const x = new XMLHttpRequest(); x.open('GET', document.querySelector({}).href, false); x.send(); return x.status + '\\n' + x.responseText;",
            json!(href_of)
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn the_weekly_review_in_chromium() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("store.db")).expect("store"));
    let rules = seeded(store.as_ref());
    let server = Server::start(store.clone());
    let driver = Driver::start();
    let artefacts = root().join("target/test-artefacts");
    driver.go(&format!("{}/", server.base));
    driver.wait_for(
        "the sign-in form",
        "return !document.querySelector('#signin').hidden",
    );

    // A made-up user's typos, past the per-user limit, from this address...
    for attempt in 1..=6 {
        sign_in(&driver, "nobody", "guess");
        let want = if attempt <= 5 {
            "用户名或密码错误"
        } else {
            "登录尝试过多"
        };
        let js = format!(
            "return document.querySelector('#signin-error').textContent.includes({})",
            json!(want)
        );
        driver.wait_for(&format!("sign-in answer {attempt}"), &js);
        driver.script("document.querySelector('#signin-error').textContent = ''");
    }
    // ...leave a colleague behind the same address able to sign in.
    sign_in(&driver, "wangwu", "wangwu-secret-1");
    driver.wait_for(
        "wangwu's hits",
        "return document.querySelectorAll('#hit-rows tr.row').length === 20",
    );
    // The totals come on their own, after the rows.
    driver.wait_for("the totals", COUNTED);
    assert!(text(&driver, "#hit-counts").contains("共 20 条命中"));
    assert!(text(&driver, "#hit-counts").contains("待处理 20"));

    // Choose a strategy and export without pressing 查询: the file follows the form.
    let s3 = rules
        .strategies
        .iter()
        .find(|s| s.id == 3)
        .expect("strategy 3");
    choose(&driver, "#hit-filters select[name=strategy]", "3");
    let csv = page_get(&driver, "#export");
    assert!(csv.starts_with("200\n"), "{csv}");
    let exported = csv.trim_end().lines().count() - 2; // status line and header
    driver.click("#search");
    driver.wait_for(
        "strategy 3's hits",
        "return document.querySelectorAll('#hit-rows tr.row').length === 10",
    );
    driver.wait_for("strategy 3's totals", COUNTED);
    let counts = text(&driver, "#hit-counts");
    assert!(
        counts.contains(&format!("共 {exported} 条命中")),
        "export holds {exported} rows, the page shows {counts}"
    );
    assert!(
        driver
            .script("return location.search")
            .as_str()
            .is_some_and(|q| q.contains("strategy=3")),
        "the filters are in the address"
    );

    // Review from the list (the row's state), then from the hit's dialog with a note.
    choose(&driver, "#hit-rows tr.row select.review-pick", "confirmed");
    driver.wait_for(
        "the confirmed count",
        "return document.querySelector('#hit-counts').textContent.includes('已核实 1')",
    );
    driver.click("#hit-rows tr.row:nth-child(2) td.text");
    driver.wait_for(
        "the hit's dialog",
        "return document.querySelector('#context').open",
    );
    driver.click("#context-states input[value=escalated]");
    driver.type_into("#context-note", "已转合规部");
    driver.click("#context-save");
    driver.wait_for(
        "the saved review's history",
        "return document.querySelector('#context-history').textContent.includes('已转合规部')",
    );
    assert!(text(&driver, "#context-history").contains("wangwu 标记为「已上报」"));
    driver.screenshot(&artefacts.join("review-dialog.png"));
    // Through the list from the dialog: 下一条 shows the third row's hit, a key chooses its
    // state, Ctrl+Enter saves it and shows the fourth; 上一条 goes back.
    let row_key = |n: usize| {
        driver.script(&format!(
            "const r = document.querySelector('#hit-rows tr.row:nth-child({n})'); return r.dataset.msg + '/' + r.dataset.id"
        ))
    };
    let shown = || {
        driver.script(
            "return contextHit.msg + '/' + contextHit.id + (document.querySelector('#context').open ? '' : ' (closed)')",
        )
    };
    let (third, fourth) = (row_key(3), row_key(4));
    driver.click("#context-next");
    driver.wait_for(
        "the third row's hit",
        &format!("return contextHit.msg + '/' + contextHit.id === {third}"),
    );
    assert_eq!(
        driver.script(
            "return document.querySelector('#context-states input:checked')?.value ?? null"
        ),
        json!("pending")
    );
    let key = |k: &str, ctrl: bool| {
        driver.script(&format!(
            "document.querySelector('#context-chat').dispatchEvent(new KeyboardEvent('keydown', \
             {{ key: {}, ctrlKey: {ctrl}, bubbles: true }}))",
            json!(k)
        ));
    };
    key("2", false);
    assert_eq!(
        driver.script("return document.querySelector('#context-states input:checked').value"),
        json!("confirmed")
    );
    key("Enter", true);
    driver.wait_for(
        "the fourth row's hit, after saving the third",
        &format!("return contextHit.msg + '/' + contextHit.id === {fourth}"),
    );
    assert_eq!(
        driver.script(
            "return document.querySelector('#hit-rows tr.row:nth-child(3) select.review-pick').value"
        ),
        json!("confirmed"),
        "the list shows the saved state"
    );
    assert_eq!(
        driver.script("return document.querySelector('#hit-rows tr.row.current') === document.querySelector('#hit-rows tr.row:nth-child(4)')"),
        json!(true),
        "the row shown is marked in the list"
    );
    driver.wait_for(
        "two confirmed",
        "return document.querySelector('#hit-counts').textContent.includes('已核实 2')",
    );
    driver.click("#context-prev");
    driver.wait_for(
        "back to the third",
        &format!("return contextHit.msg + '/' + contextHit.id === {third}"),
    );
    assert_eq!(shown(), third, "the dialog stayed open");
    // On a phone the dialog's buttons fit.
    driver.resize(390, 844);
    let wider = driver.script(
        "const d = document.querySelector('#context'); return d.scrollWidth - d.clientWidth",
    );
    assert!(
        wider.as_i64().is_some_and(|w| w <= 0),
        "the dialog is wider than a phone by {wider}"
    );
    driver.screenshot(&artefacts.join("review-dialog-phone.png"));
    driver.resize(1280, 900);
    driver.click("#context-close");
    // Bulk: every row of the page as a false positive.
    driver.click("#hit-all");
    driver.wait_for(
        "the bulk bar",
        "return !document.querySelector('#hit-bulk').hidden",
    );
    choose(&driver, "#hit-bulk .bulk-state", "false_positive");
    driver.click("#hit-bulk .bulk-apply");
    driver.wait_for(
        "the bulk result",
        "return document.querySelector('#hit-counts').textContent.includes('误报 10')",
    );
    let reviewed = store
        .reviews_of(
            &(1..=30)
                .map(|i| msgaudit::store::HitKey {
                    kind: msgaudit::store::HitKind::Strategy,
                    corp_id: "ww1".into(),
                    msg_id: format!("m{i:02}"),
                    id: 1 + (i % 3),
                })
                .collect::<Vec<_>>(),
        )
        .expect("reviews");
    assert_eq!(reviewed.len(), 10);
    assert!(
        reviewed.iter().any(|r| r.note == "已转合规部"),
        "a bulk change without a note keeps each hit's note"
    );
    choose(&driver, "#hit-filters select[name=strategy]", "");
    driver.click("#search");
    driver.wait_for(
        "all of wangwu's hits",
        "return document.querySelectorAll('#hit-rows tr.row').length === 20",
    );
    driver.screenshot(&artefacts.join("review-laptop.png"));
    // Nothing reads one character per line at laptop width.
    let narrow = driver.script(
        "return [...document.querySelectorAll('#hit-rows tr.row td')].filter(td => td.textContent.trim().length > 1 && td.getBoundingClientRect().width < 30).length",
    );
    assert_eq!(narrow, json!(0), "cells squeezed to one character a line");

    // A failed search leaves only its error on screen.
    driver.type_into("#hit-filters input[name=word]", &"长".repeat(201));
    driver.click("#search");
    driver.wait_for(
        "the error",
        "return document.querySelector('#hit-error').textContent.includes('太长')",
    );
    assert_eq!(
        driver.script("return document.querySelectorAll('#hit-rows tr').length"),
        json!(0)
    );
    driver.script("document.querySelector('#hit-filters input[name=word]').value = ''");
    driver.click("#search");
    driver.wait_for(
        "the hits again",
        "return document.querySelectorAll('#hit-rows tr.row').length === 20",
    );

    // On a phone the hits are cards, the first one's message text inside the viewport.
    driver.resize(390, 844);
    let place: Value = driver.script(
        "const r = document.querySelector('#hit-rows tr.row td.text').getBoundingClientRect();
         return [r.left, r.right, r.top, r.bottom, window.innerWidth, window.innerHeight,
                 document.documentElement.scrollWidth - document.documentElement.clientWidth]",
    );
    let n = |i: usize| place[i].as_f64().expect("number");
    assert!(
        n(0) >= 0.0 && n(1) <= n(4) && n(2) >= 0.0 && n(3) <= n(5),
        "the first hit's text is off-screen: {place}"
    );
    assert!(n(6) <= 0.0, "the page scrolls sideways on a phone: {place}");
    driver.screenshot(&artefacts.join("review-phone.png"));
    driver.resize(1280, 900);

    // The chart follows the filters and says when there is nothing.
    driver.click("nav button[data-tab=chart]");
    driver.wait_for(
        "the chart",
        "return document.querySelector('#chart').textContent.includes('命中数')",
    );
    driver.click("nav button[data-tab=hits]");
    driver.wait_for(
        "the hits tab",
        "return !document.querySelector('[data-panel=hits]').hidden",
    );
    choose(&driver, "#hit-filters input[name=since]", "2030-01-01");
    driver.click("nav button[data-tab=chart]");
    driver.wait_for(
        "the empty chart",
        "return document.querySelector('#chart').textContent.includes('暂无数据')",
    );

    // An administrator edits a strategy: leaving asks first; saving keeps the auditor's name.
    driver.click("#signout");
    driver.wait_for(
        "the sign-in form",
        "return !document.querySelector('#signin').hidden",
    );
    sign_in(&driver, "admin", "admin-secret-1");
    driver.wait_for(
        "the admin's page",
        "return !document.querySelector('#app').hidden",
    );
    driver.click("nav button[data-tab=strategies]");
    driver.wait_for(
        "the strategy editor",
        "return document.querySelectorAll('#strategy-list .card[data-id=\"1\"]').length === 1",
    );
    let auditor = driver.script(
        "const s = document.querySelector('#strategy-list .card[data-id=\"1\"] select[name=audit_user_id]'); return s.options[s.selectedIndex].text",
    );
    assert_eq!(auditor, json!("王五 (wangwu)"), "auditors picked by name");
    driver.type_into(
        "#strategy-list .card[data-id=\"1\"] input[name=name]",
        "（已复核）",
    );
    driver.script(
        "window.__asked = []; window.confirm = (m) => { window.__asked.push(m); return false; };",
    );
    driver.click("nav button[data-tab=hits]");
    let asked = driver.script("return window.__asked");
    assert!(
        asked[0].as_str().is_some_and(|m| m.contains("未保存")),
        "{asked}"
    );
    assert_eq!(
        driver.script("return document.querySelector('[data-panel=strategies]').hidden"),
        json!(false),
        "still editing"
    );
    driver.screenshot(&artefacts.join("review-strategy.png"));
    driver.click("#strategy-list .card[data-id=\"1\"] .save");
    driver.wait_for(
        "the saved strategy",
        "return document.querySelector('#strategy-list .card[data-id=\"1\"] .saved').textContent.includes('已保存')",
    );
    let saved = store.load_rules().expect("rules");
    let s1 = saved
        .strategies
        .iter()
        .find(|s| s.id == 1)
        .expect("strategy 1");
    assert!(s1.name.ends_with("（已复核）"), "{}", s1.name);
    assert_eq!(
        s1.audit_user_name, "王五",
        "the auditor's name survived the save"
    );
    assert_eq!(
        s1.words,
        rules
            .strategies
            .iter()
            .find(|s| s.id == 1)
            .expect("before")
            .words
    );
    assert_eq!(s3.id, 3);

    // Trying a text out: on the stored strategies, then on a card's unsaved draft.
    driver.type_into("#try-text", "加 我 wei xin，发票明天开");
    driver.click("#try-go");
    driver.wait_for(
        "the try's hits",
        "return document.querySelectorAll('#try-result .tryhit').length > 0",
    );
    let marks = |within: &str| {
        driver.script(&format!(
            "return [...document.querySelectorAll('{within} .tryhit mark')].map((m) => m.textContent)"
        ))
    };
    driver.script("window.scrollTo(0, 0);");
    driver.screenshot(&artefacts.join("review-try-stored.png"));
    let stored = marks("#try-result");
    assert!(
        stored
            .as_array()
            .is_some_and(|m| m.contains(&json!("加 我 wei xin"))),
        "{stored}"
    );
    assert!(
        !stored
            .as_array()
            .is_some_and(|m| m.contains(&json!("明天"))),
        "{stored}"
    );
    driver.type_into(
        "#strategy-list .card[data-id=\"2\"] textarea[name=words]",
        "\n明天",
    );
    driver.click("#strategy-list .card[data-id=\"2\"] .try-draft");
    driver.wait_for(
        "the draft's hits",
        "return document.querySelector('#strategy-list .card[data-id=\"2\"] .try-draft-result .tryhit') !== null",
    );
    let draft = marks("#strategy-list .card[data-id=\"2\"] .try-draft-result");
    assert_eq!(draft, json!(["发票", "明天"]), "the draft's new word too");
    driver.script(
        "document.querySelector('#strategy-list .card[data-id=\"2\"]').scrollIntoView(); window.scrollBy(0, -120);",
    );
    driver.screenshot(&artefacts.join("review-try.png"));
    assert!(
        !store
            .load_rules()
            .expect("rules")
            .strategies
            .iter()
            .any(|s| s.words.contains(&"明天".to_owned())),
        "nothing saved"
    );
    // On a phone: the try card and the strategies fit the width.
    driver.resize(390, 844);
    driver.script("window.scrollTo(0, 0);");
    let sideways = driver.overflow_x();
    assert!(
        sideways.as_f64().is_some_and(|d| d <= 0.0),
        "the strategy tab scrolls sideways on a phone: {sideways}"
    );
    driver.screenshot(&artefacts.join("review-try-phone.png"));
    driver.resize(1280, 900);
    driver.script("window.confirm = () => true;");

    // An auditor with no strategies is told why the list is empty, not that a filter is wrong.
    store
        .save_account(&msgaudit::store::Account {
            user_name: "newbie".into(),
            we_user_id: "newbie".into(),
            role: msgaudit::store::Role::Auditor,
            secret_hash: msgaudit::web::auth::hash_secret("newbie-secret-1").expect("hash"),
            disabled: false,
            create_time_ms: 0,
        })
        .expect("account");
    driver.click("#signout");
    driver.wait_for(
        "the sign-in form",
        "return !document.querySelector('#signin').hidden",
    );
    sign_in(&driver, "newbie", "newbie-secret-1");
    let started = std::time::Instant::now();
    while driver
        .script("return document.querySelector('#hit-rows').textContent")
        .as_str()
        .is_none_or(|t| !t.contains("您还不是任何策略的审计员"))
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no reason for the empty list; the page shows: {}",
            driver.script(
                "return JSON.stringify({ url: location.search, who: document.querySelector('#who').textContent, \
                 rows: document.querySelector('#hit-rows').textContent, error: document.querySelector('#hit-error').textContent, \
                 signin: document.querySelector('#signin-error').textContent, tab: [...document.querySelectorAll('[data-panel]')].filter(p => !p.hidden).map(p => p.dataset.panel) })"
            )
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
