//! A real HTTP server on 127.0.0.1 that plays WeCom for the alert tests: it records every request
//! and answers from a script (WeCom JSON with an errcode, an HTTP status, or a delay).

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
}

/// The running server.
pub struct FakeWeCom {
    pub base: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<Vec<Answer>>>,
}

impl FakeWeCom {
    /// Starts the server; it answers errcode 0 once its script is used up.
    pub fn start() -> FakeWeCom {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Mutex<Vec<Answer>>> = Arc::new(Mutex::new(Vec::new()));
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
            script,
        }
    }

    /// Answers to give, in order, before the default.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script.lock().expect("script").extend(answers);
    }

    pub fn received(&self) -> Vec<Request> {
        self.requests.lock().expect("requests").clone()
    }
}

fn serve(
    stream: std::net::TcpStream,
    seen: &Mutex<Vec<Request>>,
    plan: &Mutex<Vec<Answer>>,
) -> std::io::Result<()> {
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
        seen.lock().expect("requests").push(Request {
            method,
            path,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let answer = {
            let mut plan = plan.lock().expect("script");
            if plan.is_empty() {
                Answer::ErrCode(0)
            } else {
                plan.remove(0)
            }
        };
        let (status, body) = match answer {
            Answer::ErrCode(code) => (
                200,
                format!(
                    r#"{{"errcode":{code},"errmsg":"{}"}}"#,
                    if code == 0 { "ok" } else { "fake error" }
                ),
            ),
            Answer::Json(body) => (200, body),
            Answer::Status(status) => (status, String::new()),
            Answer::Delay(d) => {
                std::thread::sleep(d);
                (200, r#"{"errcode":0,"errmsg":"ok"}"#.to_owned())
            }
        };
        let mut out = &stream;
        write!(
            out,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )?;
        out.flush()?;
    }
}
