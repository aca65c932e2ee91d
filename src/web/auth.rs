//! Who is asking: secrets kept only as slow salted hashes (scrypt, through OpenSSL), sessions held
//! in memory behind an HttpOnly SameSite=Strict cookie with a CSRF token for writes, and a limit on
//! sign-in attempts per client address and per user name.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;

use crate::store::{Account, Role};

/// scrypt cost: N = 2^15, r = 8, p = 1 (32 MiB, tens of milliseconds per check).
const SCRYPT_LOG_N: u8 = 15;
const SCRYPT_R: u64 = 8;
const SCRYPT_P: u64 = 1;
const HASH_LEN: usize = 32;

/// Sessions end after this long without a request.
pub const SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);
/// Failed sign-ins allowed per user name in [`ATTEMPT_WINDOW`]: guessing one account's secret is
/// held to this.
pub const MAX_FAILED_ATTEMPTS: usize = 5;
/// Failed sign-ins allowed per client address in [`ATTEMPT_WINDOW`], across all user names: high
/// enough that one person's typos (or a made-up name) never lock out an office behind one proxy,
/// low enough to stop spraying guesses over many accounts.
pub const MAX_FAILED_PER_ADDRESS: usize = 30;
pub const ATTEMPT_WINDOW: Duration = Duration::from_secs(60);

fn scrypt(secret: &[u8], salt: &[u8], log_n: u8) -> Option<[u8; HASH_LEN]> {
    let mut out = [0u8; HASH_LEN];
    openssl::pkcs5::scrypt(
        secret,
        salt,
        1u64 << log_n,
        SCRYPT_R,
        SCRYPT_P,
        64 * 1024 * 1024,
        &mut out,
    )
    .ok()?;
    Some(out)
}

/// `scrypt$LOG_N$SALT$HASH` (base64) of a secret, with a fresh random salt.
pub fn hash_secret(secret: &str) -> Result<String, openssl::error::ErrorStack> {
    let mut salt = [0u8; 16];
    openssl::rand::rand_bytes(&mut salt)?;
    let hash = scrypt(secret.as_bytes(), &salt, SCRYPT_LOG_N)
        .ok_or_else(openssl::error::ErrorStack::get)?;
    Ok(format!(
        "scrypt${SCRYPT_LOG_N}${}${}",
        B64.encode(salt),
        B64.encode(hash)
    ))
}

/// Whether `secret` matches a stored hash (constant-time comparison).
pub fn verify_secret(secret: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("scrypt"), Some(log_n), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Ok(log_n), Ok(salt), Ok(hash)) = (log_n.parse::<u8>(), B64.decode(salt), B64.decode(hash))
    else {
        return false;
    };
    if !(10..=20).contains(&log_n) {
        return false;
    }
    scrypt(secret.as_bytes(), &salt, log_n)
        .is_some_and(|h| h.len() == hash.len() && openssl::memcmp::eq(&h, &hash))
}

/// A random token: 32 bytes, URL-safe base64.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    if openssl::rand::rand_bytes(&mut bytes).is_err() {
        // The OS RNG failed: refuse to mint a guessable token.
        return String::new();
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_name: String,
    pub we_user_id: String,
    pub role: Role,
    /// Sent back in the `X-CSRF-Token` header with every write.
    pub csrf: String,
    last_seen: Instant,
}

/// Sessions by cookie value.
#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a session for an account; returns the cookie value and the session.
    pub fn start(&self, account: &Account) -> Option<(String, Session)> {
        let id = random_token();
        let csrf = random_token();
        if id.is_empty() || csrf.is_empty() {
            return None;
        }
        let session = Session {
            user_name: account.user_name.clone(),
            we_user_id: account.we_user_id.clone(),
            role: account.role,
            csrf,
            last_seen: Instant::now(),
        };
        let mut map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, s| now.duration_since(s.last_seen) < SESSION_IDLE);
        map.insert(id.clone(), session.clone());
        Some((id, session))
    }

    /// The live session a cookie names (refreshing its idle timer).
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match map.get_mut(id) {
            Some(s) if now.duration_since(s.last_seen) < SESSION_IDLE => {
                s.last_seen = now;
                Some(s.clone())
            }
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, id: &str) {
        self.by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Ends every session of a user (when the account is disabled).
    pub fn end_user(&self, user_name: &str) {
        self.by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, s| s.user_name != user_name);
    }
}

/// Failed sign-in attempts by key (a client address, a user name).
#[derive(Default)]
pub struct Attempts {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Attempts {
    /// Whether `key` may try now (fewer than `MAX_FAILED_ATTEMPTS` failures in the window).
    pub fn allowed(&self, key: &str, now: Instant) -> bool {
        self.allowed_up_to(key, now, MAX_FAILED_ATTEMPTS)
    }

    /// Whether `key` may try now, with fewer than `max` failures in the window.
    pub fn allowed_up_to(&self, key: &str, now: Instant, max: usize) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(q) = map.get_mut(key) else {
            return true;
        };
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= ATTEMPT_WINDOW)
        {
            q.pop_front();
        }
        q.len() < max
    }

    pub fn failed(&self, key: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.clear(); // a flood of distinct keys: start over rather than grow without bound
        }
        map.entry(key.to_owned()).or_default().push_back(now);
    }

    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_and_verify_only_the_right_secret() {
        let a = hash_secret("correct horse").expect("hash");
        let b = hash_secret("correct horse").expect("hash");
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("scrypt$15$") && !a.contains("correct"));
        assert!(verify_secret("correct horse", &a));
        assert!(!verify_secret("correct horsf", &a));
        assert!(!verify_secret("correct horse", "plain"));
        assert!(
            !verify_secret("x", "scrypt$40$AAAA$AAAA"),
            "absurd cost refused"
        );
    }

    #[test]
    fn attempts_are_limited_per_key_within_the_window() {
        let attempts = Attempts::default();
        let t = Instant::now();
        for _ in 0..MAX_FAILED_ATTEMPTS {
            assert!(attempts.allowed("1.2.3.4", t));
            attempts.failed("1.2.3.4", t);
        }
        assert!(!attempts.allowed("1.2.3.4", t));
        assert!(attempts.allowed("5.6.7.8", t));
        assert!(attempts.allowed("1.2.3.4", t + ATTEMPT_WINDOW));
        assert!(
            attempts.allowed_up_to("1.2.3.4", t, MAX_FAILED_PER_ADDRESS),
            "an address has a higher bound"
        );
    }
}
