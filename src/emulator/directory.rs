//! A local stand-in of WeCom's directory APIs for the generated archive: `gettoken`,
//! `externalcontact/get`, `externalcontact/groupchat/get` and `msgaudit/groupchat/get`, answering
//! from what the archive knows of its people and groups (`wework_finance_archive::directory`).
//! The demo points the names fetcher at it, so its archive is browsed with names. Plain HTTP/1.1
//! on 127.0.0.1, one short-lived thread per connection; it accepts any secret.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use wework_finance_archive::directory::{customers, groups, members};

/// The running stand-in; stops when dropped.
pub struct DirectoryStandIn {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl DirectoryStandIn {
    /// Starts serving on a free port of 127.0.0.1.
    pub fn start() -> std::io::Result<DirectoryStandIn> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("wecom-stand-in".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::Acquire) {
                        break;
                    }
                    if let Ok(s) = stream {
                        let _ = std::thread::Builder::new()
                            .name("wecom-stand-in-conn".into())
                            .spawn(move || {
                                let _ = serve(s);
                            });
                    }
                }
            })?;
        Ok(DirectoryStandIn { addr, stop })
    }

    /// The base URL to give the names fetcher (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for DirectoryStandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// The value of `key` in a query string.
fn query<'a>(target: &'a str, key: &str) -> Option<&'a str> {
    target
        .split_once('?')?
        .1
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// WeCom's answer to one request.
pub fn answer(path: &str, target: &str, body: &Value) -> Value {
    let not_found = |errcode: i64, what: &str| json!({ "errcode": errcode, "errmsg": format!("{what} not found") });
    match path {
        "/cgi-bin/gettoken" => {
            json!({ "errcode": 0, "errmsg": "ok", "access_token": "stand-in-token", "expires_in": 7200 })
        }
        "/cgi-bin/externalcontact/get" => {
            let id = query(target, "external_userid").unwrap_or_default();
            match customers().into_iter().find(|c| c.external_userid == id) {
                Some(c) => json!({
                    "errcode": 0, "errmsg": "ok",
                    "external_contact": {
                        "external_userid": c.external_userid, "name": c.name, "type": c.kind,
                        "gender": c.gender, "corp_name": c.corp_name, "position": c.position,
                        "avatar": "", "unionid": "",
                    },
                    "follow_user": [{ "userid": c.added_by, "remark": c.name, "createtime": 1_700_000_000 }],
                }),
                None => not_found(84061, "external contact"),
            }
        }
        "/cgi-bin/externalcontact/groupchat/get" => {
            let id = body["chat_id"].as_str().unwrap_or_default();
            match groups()
                .into_iter()
                .find(|g| g.chat_id == id && !g.internal)
            {
                Some(g) => {
                    let names = members();
                    let list: Vec<Value> = g
                        .members
                        .iter()
                        .map(|m| {
                            let external = m.starts_with("wm") || m.starts_with("wo");
                            let name = if external {
                                customers()
                                    .into_iter()
                                    .find(|c| c.external_userid == *m)
                                    .map_or("", |c| c.name)
                            } else {
                                names.iter().find(|x| x.userid == *m).map_or("", |x| x.name)
                            };
                            json!({
                                "userid": m, "type": if external { 2 } else { 1 },
                                "join_time": g.create_time, "join_scene": 1,
                                "invitor": { "userid": g.owner }, "group_nickname": "", "name": name,
                            })
                        })
                        .collect();
                    json!({
                        "errcode": 0, "errmsg": "ok",
                        "group_chat": {
                            "chat_id": g.chat_id, "name": g.name, "owner": g.owner,
                            "create_time": g.create_time, "notice": g.notice, "member_list": list,
                            "admin_list": [],
                        },
                    })
                }
                None => not_found(40050, "chat_id"),
            }
        }
        "/cgi-bin/msgaudit/groupchat/get" => {
            let id = body["roomid"].as_str().unwrap_or_default();
            match groups().into_iter().find(|g| g.chat_id == id) {
                Some(g) => json!({
                    "errcode": 0, "errmsg": "ok", "roomname": g.name, "creator": g.owner,
                    "room_create_time": g.create_time, "notice": g.notice,
                    "members": g.members.iter().map(|m| json!({ "memberid": m, "jointime": g.create_time })).collect::<Vec<_>>(),
                }),
                None => not_found(301052, "roomid"),
            }
        }
        _ => json!({ "errcode": 404, "errmsg": format!("no such API: {path}") }),
    }
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.trim().eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0).min(1 << 20);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = target.split('?').next().unwrap_or("/");
    let text = answer(path, &target, &body).to_string();
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_for_the_archive_and_errors_for_strangers() {
        let c = answer(
            "/cgi-bin/externalcontact/get",
            "/cgi-bin/externalcontact/get?access_token=t&external_userid=wmEAlECwAAHrbWYDOK5u3Af13xlYDDqQ",
            &Value::Null,
        );
        assert_eq!(c["external_contact"]["name"], "客户王女士");
        let g = answer(
            "/cgi-bin/externalcontact/groupchat/get",
            "",
            &json!({"chat_id": "wrOgQhDgAAkD4GpWRIbo5Q2m9Z1wvG8w"}),
        );
        assert_eq!(g["group_chat"]["name"], "华东大客户群");
        let internal = answer(
            "/cgi-bin/externalcontact/groupchat/get",
            "",
            &json!({"chat_id": "wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAA"}),
        );
        assert_ne!(
            internal["errcode"], 0,
            "an internal group is no customer group"
        );
        let i = answer(
            "/cgi-bin/msgaudit/groupchat/get",
            "",
            &json!({"roomid": "wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAA"}),
        );
        assert_eq!(i["roomname"], "销售部内部群");
        assert_eq!(
            answer(
                "/cgi-bin/externalcontact/get",
                "/x?external_userid=wmNobody",
                &Value::Null
            )["errcode"],
            84061
        );
    }
}
