//! A small blocking etcd v3 client over etcd's HTTP/JSON gateway (`/v3/...`, served by every etcd
//! since 3.4 on its client port): leases (grant, keep alive, revoke) and the few key operations
//! ownership needs (create if absent, one key or many at once, delete if ours, read a prefix). The
//! gateway speaks the gRPC API as JSON — keys and values base64, 64-bit numbers as strings — so no
//! gRPC stack is built.
//!
//! Endpoints are tried in turn: a request that cannot reach one goes to the next, and the one that
//! answered is tried first next time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::wecom::http::{PostError, WeComHttp};

/// A lease's id, as etcd granted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseId(pub i64);

/// An etcd request failed.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("cannot start the etcd HTTP client: {0}")]
    Client(#[source] std::io::Error),
    #[error(
        "no etcd endpoint answered ({endpoints}): {last}; check that etcd runs there and that \
         [coordinator] etcd names its client URLs"
    )]
    Unreachable {
        endpoints: String,
        #[source]
        last: PostError,
    },
    #[error("etcd refused {what} (HTTP {status}): {message}")]
    Refused {
        what: &'static str,
        status: u16,
        message: String,
    },
    #[error("etcd's answer to {what} is not what its API says: {detail}")]
    Answer { what: &'static str, detail: String },
    #[error("{what}: {n} keys in one request, at most {max}")]
    TooMany {
        what: &'static str,
        n: usize,
        max: usize,
    },
}

/// The most keys [`Etcd::create_each`] takes at once.
pub const MAX_CREATES: usize = 64;

/// A client of one etcd cluster.
pub struct Etcd {
    http: WeComHttp,
    endpoints: Vec<String>,
    /// The endpoint that answered last.
    current: AtomicUsize,
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

/// The key right after every key starting with `prefix` (etcd's `range_end` for a prefix).
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte 0xff (or empty): to the end of the key space.
    vec![0]
}

/// The transaction that creates `key` = `value` attached to `lease` only if the key does not exist.
fn create_txn(key: &str, value: &str, lease: LeaseId) -> Value {
    json!({
        "compare": [{ "target": "CREATE", "key": b64(key), "create_revision": "0" }],
        "success": [{ "request_put": {
            "key": b64(key), "value": b64(value), "lease": lease.0.to_string()
        } }],
    })
}

/// A JSON number etcd may send as a string (int64) or a number.
fn number(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn decode(what: &'static str, v: Option<&Value>) -> Result<String, EtcdError> {
    let text = v.and_then(Value::as_str).unwrap_or_default();
    let bytes = B64.decode(text).map_err(|e| EtcdError::Answer {
        what,
        detail: format!("base64: {e}"),
    })?;
    String::from_utf8(bytes).map_err(|e| EtcdError::Answer {
        what,
        detail: e.to_string(),
    })
}

impl Etcd {
    /// A client of the cluster at `endpoints` (`http://host:2379`, …); each request gives up on an
    /// endpoint after `timeout`.
    pub fn new(endpoints: &[String], timeout: Duration) -> Result<Etcd, EtcdError> {
        Ok(Etcd {
            http: WeComHttp::new(timeout).map_err(EtcdError::Client)?,
            endpoints: endpoints
                .iter()
                .map(|e| e.trim_end_matches('/').to_owned())
                .collect(),
            current: AtomicUsize::new(0),
        })
    }

    /// POSTs `body` to `/v3/{path}` on the first endpoint that answers.
    fn call(&self, what: &'static str, path: &str, body: Value) -> Result<Value, EtcdError> {
        let n = self.endpoints.len().max(1);
        let first = self.current.load(Ordering::Relaxed);
        let mut last = None;
        for i in 0..n {
            let at = (first + i) % n;
            let Some(endpoint) = self.endpoints.get(at) else {
                break;
            };
            match self.http.post_raw(&format!("{endpoint}/v3/{path}"), &body) {
                Ok((status, bytes)) => {
                    self.current.store(at, Ordering::Relaxed);
                    let json: Value =
                        serde_json::from_slice(&bytes).map_err(|e| EtcdError::Answer {
                            what,
                            detail: e.to_string(),
                        })?;
                    if status != 200 {
                        let message = json
                            .get("message")
                            .or_else(|| json.get("error"))
                            .and_then(Value::as_str)
                            .unwrap_or("no message")
                            .to_owned();
                        return Err(EtcdError::Refused {
                            what,
                            status,
                            message,
                        });
                    }
                    return Ok(json);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(EtcdError::Unreachable {
            endpoints: self.endpoints.join(", "),
            last: last.unwrap_or(PostError::Url(String::new())),
        })
    }

    /// Grants a lease that lives `ttl` unless kept alive.
    pub fn grant(&self, ttl: Duration) -> Result<LeaseId, EtcdError> {
        let answer = self.call(
            "granting a lease",
            "lease/grant",
            json!({ "TTL": ttl.as_secs().max(1).to_string() }),
        )?;
        number(answer.get("ID"))
            .map(LeaseId)
            .ok_or_else(|| EtcdError::Answer {
                what: "granting a lease",
                detail: "no lease ID".into(),
            })
    }

    /// Renews the lease; the time it has left, or None when it has expired already (everything
    /// attached to it is gone).
    pub fn keep_alive(&self, lease: LeaseId) -> Result<Option<Duration>, EtcdError> {
        let answer = self.call(
            "keeping a lease alive",
            "lease/keepalive",
            json!({ "ID": lease.0.to_string() }),
        )?;
        let ttl = number(answer.get("result").and_then(|r| r.get("TTL"))).unwrap_or(0);
        Ok((ttl > 0).then(|| Duration::from_secs(ttl as u64)))
    }

    /// Ends the lease now: every key attached to it is deleted.
    pub fn revoke(&self, lease: LeaseId) -> Result<(), EtcdError> {
        self.call(
            "revoking a lease",
            "lease/revoke",
            json!({ "ID": lease.0.to_string() }),
        )
        .map(|_| ())
    }

    /// Creates `key` = `value` attached to `lease` if the key does not exist; whether it was
    /// created.
    pub fn create(&self, key: &str, value: &str, lease: LeaseId) -> Result<bool, EtcdError> {
        let answer = self.call("creating a key", "kv/txn", create_txn(key, value, lease))?;
        Ok(answer.get("succeeded").and_then(Value::as_bool) == Some(true))
    }

    /// Creates each of `keys` = `value` attached to `lease` that does not exist, in one request
    /// (one nested transaction per key, so a key held already does not stop the others); whether
    /// each was created, in order. At most [`MAX_CREATES`] keys a call (etcd's limit on the
    /// operations of one transaction is 128 by default).
    pub fn create_each(
        &self,
        keys: &[String],
        value: &str,
        lease: LeaseId,
    ) -> Result<Vec<bool>, EtcdError> {
        let what = "creating keys";
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if keys.len() > MAX_CREATES {
            return Err(EtcdError::TooMany {
                what,
                n: keys.len(),
                max: MAX_CREATES,
            });
        }
        let ops: Vec<Value> = keys
            .iter()
            .map(|key| json!({ "request_txn": create_txn(key, value, lease) }))
            .collect();
        let answer = self.call(what, "kv/txn", json!({ "success": ops }))?;
        let responses = answer
            .get("responses")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if responses.len() != keys.len() {
            return Err(EtcdError::Answer {
                what,
                detail: format!("{} answers to {} keys", responses.len(), keys.len()),
            });
        }
        // A false `succeeded` is left out of etcd's JSON.
        Ok(responses
            .iter()
            .map(|r| {
                r.get("response_txn")
                    .and_then(|t| t.get("succeeded"))
                    .and_then(Value::as_bool)
                    == Some(true)
            })
            .collect())
    }

    /// Deletes `key` if its value is `value`; whether it was deleted.
    pub fn delete_if(&self, key: &str, value: &str) -> Result<bool, EtcdError> {
        let answer = self.call(
            "deleting a key",
            "kv/txn",
            json!({
                "compare": [{ "target": "VALUE", "key": b64(key), "value": b64(value) }],
                "success": [{ "request_delete_range": { "key": b64(key) } }],
            }),
        )?;
        Ok(answer.get("succeeded").and_then(Value::as_bool) == Some(true))
    }

    /// Every key starting with `prefix`, with its value, in key order.
    pub fn range(&self, prefix: &str) -> Result<Vec<(String, String)>, EtcdError> {
        let what = "reading keys";
        let answer = self.call(
            what,
            "kv/range",
            json!({ "key": b64(prefix), "range_end": B64.encode(prefix_end(prefix)) }),
        )?;
        let Some(kvs) = answer.get("kvs").and_then(Value::as_array) else {
            return Ok(Vec::new());
        };
        kvs.iter()
            .map(|kv| Ok((decode(what, kv.get("key"))?, decode(what, kv.get("value"))?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_its_last_byte_plus_one() {
        assert_eq!(prefix_end("/m/"), b"/m0".to_vec());
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80".to_vec());
        assert_eq!(prefix_end(""), vec![0]);
    }

    #[test]
    fn numbers_come_as_strings_or_numbers() {
        assert_eq!(
            number(Some(&json!("7587899339885388551"))),
            Some(7587899339885388551)
        );
        assert_eq!(number(Some(&json!(10))), Some(10));
        assert_eq!(number(Some(&json!(null))), None);
        assert_eq!(number(None), None);
    }
}
