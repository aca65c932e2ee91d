//! A real HTTP server on 127.0.0.1 that plays WeCom for the alert tests: it records every request
//! and answers from a script (WeCom JSON with an errcode, an HTTP status, or a delay), then with a
//! default answer that a test can change (to play an outage). `GET /cgi-bin/gettoken` answers a
//! fresh access token (`TOKEN-1`, `TOKEN-2`, …) without using the script, unless the secret is
//! `refused` (errcode 40001, as for a wrong secret).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the server answers one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// HTTP 200 with `{"errcode": N, "errmsg": "…"}`.
    ErrCode(i64),
    /// HTTP 200 with this JSON body.
    Json(String),
    /// This HTTP status, empty body.
    Status(u16),
    /// Wait this long, then answer errcode 0.
    Delay(Duration),
}

/// A request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: String,
    /// Whether it was answered HTTP 200 with errcode 0 (accepted).
    pub accepted: bool,
    /// When it arrived, epoch ms.
    pub at_ms: i64,
}

#[derive(Default)]
struct Plan {
    script: Vec<Answer>,
    default: Option<Answer>,
    tokens: u64,
    /// Answer WeCom's directory APIs for the emulator's generated archive (once the script is
    /// used up).
    directory: bool,
}

/// The running server.
pub struct FakeWeCom {
    pub base: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
    plan: Arc<Mutex<Plan>>,
}

impl FakeWeCom {
    /// Starts the server; it answers errcode 0 once its script is used up.
    pub fn start() -> FakeWeCom {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Mutex<Plan>> = Arc::new(Mutex::new(Plan::default()));
        let (seen, plan) = (requests.clone(), script.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, plan) = (seen.clone(), plan.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &seen, &plan);
                });
            }
        });
        FakeWeCom {
            base,
            requests,
            plan: script,
        }
    }

    /// Answers to give, in order, before the default.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.plan.lock().expect("plan").script.extend(answers);
    }

    /// Answers the directory APIs (`externalcontact/get`, `…/groupchat/get`) as WeCom would for
    /// the emulator's generated archive, once the script is used up.
    pub fn serve_directory(&self) {
        self.plan.lock().expect("plan").directory = true;
    }

    /// The answer once the script is used up (errcode 0 unless set).
    pub fn set_default(&self, answer: Option<Answer>) {
        self.plan.lock().expect("plan").default = answer;
    }

    pub fn received(&self) -> Vec<Request> {
        self.requests.lock().expect("requests").clone()
    }

    /// Requests to `path_prefix` that were accepted.
    pub fn accepted(&self, path_prefix: &str) -> Vec<Request> {
        self.received()
            .into_iter()
            .filter(|r| r.accepted && r.path.starts_with(path_prefix))
            .collect()
    }
}

fn serve(
    stream: std::net::TcpStream,
    seen: &Mutex<Vec<Request>>,
    plan: &Mutex<Plan>,
) -> std::io::Result<()> {
    // Answer at once, as WeCom's servers do (not 40 ms later, Nagle against a delayed ACK).
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let index = {
            let mut seen = seen.lock().expect("requests");
            seen.push(Request {
                method,
                path: path.clone(),
                body: String::from_utf8_lossy(&body).into_owned(),
                accepted: false,
                at_ms,
            });
            seen.len() - 1
        };
        let answer = {
            let mut plan = plan.lock().expect("plan");
            if path.starts_with("/cgi-bin/gettoken") && path.contains("corpsecret=refused") {
                Answer::Json(r#"{"errcode":40001,"errmsg":"invalid credential"}"#.to_owned())
            } else if path.starts_with("/cgi-bin/gettoken") {
                plan.tokens += 1;
                Answer::Json(format!(
                    r#"{{"errcode":0,"errmsg":"ok","access_token":"TOKEN-{}","expires_in":7200}}"#,
                    plan.tokens
                ))
            } else if !plan.script.is_empty() {
                plan.script.remove(0)
            } else if plan.directory
                && (path.starts_with("/cgi-bin/externalcontact/")
                    || path.starts_with("/cgi-bin/msgaudit/"))
            {
                let route = path.split('?').next().unwrap_or_default();
                let body: serde_json::Value =
                    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                Answer::Json(msgaudit::emulator::directory::answer(route, &path, &body).to_string())
            } else {
                plan.default.clone().unwrap_or(Answer::ErrCode(0))
            }
        };
        // A delayed answer plays a timeout: the client gave up, so it never counts as accepted.
        let (status, body_out, acceptable) = match answer {
            Answer::ErrCode(code) => (
                200,
                format!(
                    r#"{{"errcode":{code},"errmsg":"{}"}}"#,
                    if code == 0 { "ok" } else { "fake error" }
                ),
                code == 0,
            ),
            Answer::Json(body) => {
                let ok = body.contains(r#""errcode":0"#);
                (200, body, ok)
            }
            Answer::Status(status) => (status, String::new(), false),
            Answer::Delay(d) => {
                std::thread::sleep(d);
                (200, r#"{"errcode":0,"errmsg":"ok"}"#.to_owned(), false)
            }
        };
        if acceptable {
            seen.lock().expect("requests")[index].accepted = true;
        }
        let mut out = &stream;
        write!(
            out,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body_out}",
            body_out.len()
        )?;
        out.flush()?;
    }
}
