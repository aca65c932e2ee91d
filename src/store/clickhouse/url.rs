//! The `clickhouse://user:password@host:port/database` store URL: parsed into what the HTTP client
//! needs, and shown back without its password.

use super::super::StoreError;

/// Where a ClickHouse store lives.
#[derive(Clone, PartialEq, Eq)]
pub struct ClickHouseUrl {
    /// `http://host:port` of the server's HTTP interface.
    pub endpoint: String,
    pub user: String,
    pub password: String,
    pub database: String,
}

impl std::fmt::Debug for ClickHouseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// HTTP port when the URL names none.
const DEFAULT_PORT: u16 = 8123;
/// Database when the URL names none.
const DEFAULT_DATABASE: &str = "msgaudit";

impl ClickHouseUrl {
    /// Parses `clickhouse://[user[:password]@]host[:port][/database]`.
    pub fn parse(url: &str) -> Result<ClickHouseUrl, StoreError> {
        let bad = |reason: &str| StoreError::Url {
            url: redact(url),
            reason: format!(
                "{reason}; expected clickhouse://user:password@host:port/database \
                 (e.g. clickhouse://default@127.0.0.1:8123/msgaudit)"
            ),
        };
        let rest = url
            .strip_prefix("clickhouse://")
            .ok_or_else(|| bad("not a clickhouse:// URL"))?;
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let (user, password) = match credentials {
            Some(c) => {
                let (u, p) = c.split_once(':').unwrap_or((c, ""));
                (percent_decode(u), percent_decode(p))
            }
            None => ("default".to_owned(), String::new()),
        };
        if host_port.is_empty() {
            return Err(bad("no host"));
        }
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad(&format!("port `{p}` is not a number")))?,
            ),
            None => (host_port, DEFAULT_PORT),
        };
        let database = database.trim_end_matches('/');
        let database = if database.is_empty() {
            DEFAULT_DATABASE
        } else {
            database
        };
        if !database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad(&format!(
                "database name `{database}` must be letters, digits and _"
            )));
        }
        Ok(ClickHouseUrl {
            endpoint: format!("http://{host}:{port}"),
            user,
            password,
            database: database.to_owned(),
        })
    }

    /// The URL with the password replaced by `***`.
    pub fn redacted(&self) -> String {
        let auth = if self.password.is_empty() {
            self.user.clone()
        } else {
            format!("{}:***", self.user)
        };
        let host = self.endpoint.trim_start_matches("http://");
        format!("clickhouse://{auth}@{host}/{}", self.database)
    }
}

/// `url` with any password between `://user:` and `@` replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Some((credentials, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let Some((user, _)) = credentials.split_once(':') else {
        return url.to_owned();
    };
    let path = if path.is_empty() && !rest.contains('/') {
        String::new()
    } else {
        format!("/{path}")
    };
    format!("{scheme}://{user}:***@{host}{path}")
}

/// Decodes `%XX` escapes (a password may contain `@`, `:` or `/`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_part_and_defaults() {
        let u =
            ClickHouseUrl::parse("clickhouse://audit:s%40cret@10.0.0.5:9000/archive").expect("url");
        assert_eq!(u.endpoint, "http://10.0.0.5:9000");
        assert_eq!((u.user.as_str(), u.password.as_str()), ("audit", "s@cret"));
        assert_eq!(u.database, "archive");
        let d = ClickHouseUrl::parse("clickhouse://127.0.0.1").expect("url");
        assert_eq!(d.endpoint, "http://127.0.0.1:8123");
        assert_eq!(
            (d.user.as_str(), d.database.as_str()),
            ("default", "msgaudit")
        );
    }

    #[test]
    fn passwords_never_show() {
        let u = ClickHouseUrl::parse("clickhouse://a:topsecret@h:1/db").expect("url");
        assert!(!format!("{u:?} {}", u.redacted()).contains("topsecret"));
        let err = ClickHouseUrl::parse("clickhouse://a:topsecret@h:port/db")
            .expect_err("bad port")
            .to_string();
        assert!(!err.contains("topsecret"), "{err}");
        assert!(err.contains("port"), "{err}");
        assert_eq!(
            redact("clickhouse://a:pw@h:1/db"),
            "clickhouse://a:***@h:1/db"
        );
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn odd_database_names_are_refused() {
        assert!(ClickHouseUrl::parse("clickhouse://h/a;drop").is_err());
    }
}
