//! The web page in headless Chromium (Debian's `chromium` and `chromium-driver`, driven over the
//! W3C WebDriver protocol): an auditor signs in, filters, opens a conversation, and what is on
//! screen is checked. A screenshot is written to `target/test-artefacts/workspace-context.png`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use msgaudit::store::{SqliteStore, Store};
use serde_json::{Value, json};

use crate::support::root;
use crate::workspace::{Server, seeded};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub(crate) struct Driver {
    child: Child,
    pub(crate) agent: ureq::Agent,
    base: String,
    session: String,
    /// The driver's and the browser's `TMPDIR` (profiles, sockets), removed after both have quit.
    _tmp: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self
            .agent
            .delete(format!("{}/session/{}", self.base, self.session))
            .call();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn call(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Value {
    let mut r = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        (_, b) => agent
            .post(url)
            .content_type("application/json")
            .send(b.unwrap_or(json!({})).to_string()),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let text = r.body_mut().read_to_string().expect("webdriver answer");
    let v: Value = serde_json::from_str(&text).expect("webdriver json");
    assert!(
        v["value"]["error"].is_null(),
        "{method} {url}: {}",
        v["value"]
    );
    v["value"].clone()
}

impl Driver {
    pub(crate) fn start() -> Driver {
        let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!(
                    "chromedriver is not installed: apt-get install chromium chromium-driver \
                     (.ci/run does this)"
                )
            });
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let tmp = tempfile::tempdir().expect("temp dir");
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .env("TMPDIR", tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while agent.get(format!("{base}/status")).call().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--lang=zh-CN"]
            }
        }}});
        let session = call(&agent, "POST", &format!("{base}/session"), Some(caps));
        let session = session["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        Driver {
            child,
            agent,
            base,
            session,
            _tmp: tmp,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    pub(crate) fn go(&self, url: &str) {
        call(
            &self.agent,
            "POST",
            &self.url("/url"),
            Some(json!({ "url": url })),
        );
    }

    pub(crate) fn find(&self, css: &str) -> String {
        let v = call(
            &self.agent,
            "POST",
            &self.url("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {v}"))
            .to_owned()
    }

    pub(crate) fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        call(
            &self.agent,
            "POST",
            &self.url(&format!("/element/{e}/value")),
            Some(json!({ "text": text })),
        );
    }

    pub(crate) fn click(&self, css: &str) {
        let e = self.find(css);
        call(
            &self.agent,
            "POST",
            &self.url(&format!("/element/{e}/click")),
            None,
        );
    }

    pub(crate) fn script(&self, js: &str) -> Value {
        call(
            &self.agent,
            "POST",
            &self.url("/execute/sync"),
            Some(json!({"script": js, "args": []})),
        )
    }

    pub(crate) fn wait_for(&self, what: &str, js: &str) -> Value {
        let started = Instant::now();
        loop {
            let v = self.script(js);
            if !v.is_null() && v != json!(false) {
                return v;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sets the window's size (390 × 844 is a phone).
    pub(crate) fn resize(&self, width: u32, height: u32) {
        call(
            &self.agent,
            "POST",
            &self.url("/window/rect"),
            Some(json!({"width": width, "height": height})),
        );
    }

    /// How much wider than the window the page is (0 or less: it does not scroll sideways).
    pub(crate) fn overflow_x(&self) -> Value {
        self.script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        )
    }

    pub(crate) fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let png = call(&self.agent, "GET", &self.url("/screenshot"), None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("png"))
            .expect("base64 png");
        std::fs::create_dir_all(path.parent().expect("dir")).expect("artefact dir");
        std::fs::write(path, bytes).expect("write screenshot");
    }
}

#[test]
fn an_auditor_signs_in_filters_and_reads_a_conversation_in_chromium() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("store.db")).expect("store"));
    let rules = seeded(store.as_ref());
    let server = Server::start(store.clone());
    let driver = Driver::start();
    driver.go(&format!("{}/", server.base));
    driver.wait_for(
        "the sign-in form",
        "return !document.querySelector('#signin').hidden",
    );
    driver.type_into("#signin-form input[name=user]", "wangwu");
    driver.type_into("#signin-form input[name=secret]", "wangwu-secret-1");
    driver.click("#signin-form button[type=submit]");
    driver.wait_for(
        "the hits table",
        "return document.querySelectorAll('#hit-rows tr.row').length === 20",
    );
    let who = driver.script("return document.querySelector('#who').textContent");
    assert_eq!(who, json!("wangwu（审计员）"));

    // Filter by the word of strategy 3: only its hits stay, the word highlighted.
    let word = &rules
        .strategies
        .iter()
        .find(|s| s.id == 3)
        .expect("strategy 3")
        .words[0];
    driver.type_into("#hit-filters input[name=word]", word);
    driver.click("#search");
    driver.wait_for(
        "the filtered rows",
        "return document.querySelectorAll('#hit-rows tr.row').length === 10",
    );
    let names = driver.script(
        "return [...document.querySelectorAll('#hit-rows tr.row td.strat')].map(td => td.textContent)",
    );
    assert!(
        names
            .as_array()
            .expect("names")
            .iter()
            .all(|n| n == "敏感词测试"),
        "{names}"
    );
    let marked = driver.script("return document.querySelector('#hit-rows mark').textContent");
    assert_eq!(marked.as_str(), Some(word.as_str()));
    // The rows come first; the total follows on its own.
    driver.wait_for(
        "the total of the filtered rows",
        "return document.querySelector('#hit-count').textContent === '已显示 10 / 10 条命中'",
    );

    // Open the conversation around the first (newest) of them.
    driver.click("#hit-rows tr.row");
    driver.wait_for(
        "the conversation",
        "return document.querySelector('#context').open",
    );
    let title = driver.script("return document.querySelector('#context-title').textContent");
    assert_eq!(title, json!("会话上下文 · 敏感词测试"));
    let bubbles = driver.script(
        "return [...document.querySelectorAll('#context-chat .bubble')].map(b => [b.className, b.textContent])",
    );
    let bubbles = bubbles.as_array().expect("bubbles");
    assert!(bubbles.len() >= 3, "{bubbles:?}");
    let hit: Vec<&Value> = bubbles
        .iter()
        .filter(|b| b[0].as_str().is_some_and(|c| c.contains("hit")))
        .collect();
    assert_eq!(hit.len(), 1, "exactly the hit is highlighted: {bubbles:?}");
    assert!(
        hit[0][1].as_str().is_some_and(|t| t.contains("消息 29")),
        "{hit:?}"
    );
    assert!(
        hit[0][1]
            .as_str()
            .is_some_and(|t| t.starts_with("张三 (zhangsan) · ")),
        "a bubble names its sender: {hit:?}"
    );

    // What is marked in the hit's bubble is the hit's own span, not every occurrence of a word.
    let marks = driver.script(
        "return [...document.querySelectorAll('#context-chat .bubble.hit mark')].map(m => m.textContent)",
    );
    assert_eq!(marks, json!(["消"]), "{bubbles:?}");

    driver.screenshot(&root().join("target/test-artefacts/workspace-context.png"));

    // On a phone-sized window the page fits its width: the lists become cards.
    driver.script("document.querySelector('#context').close()");
    driver.resize(390, 844);
    let overflow = driver.overflow_x();
    assert!(
        overflow.as_i64().is_some_and(|o| o <= 0),
        "page wider than a phone by {overflow}"
    );
    driver.screenshot(&root().join("target/test-artefacts/workspace-phone.png"));
    // The look was recorded.
    assert!(
        store
            .operations(5)
            .expect("log")
            .iter()
            .any(|o| o.title == "查看会话上下文" && o.oper_name == "wangwu")
    );
}
