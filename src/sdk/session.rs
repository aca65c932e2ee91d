//! [`Session`]: one SDK handle for one corp, owned by one thread at a time.
//!
//! Thread-safety policy (the vendor documents none): a handle is used by one thread at a time and
//! destroyed only by its owner. [`Session`] enforces that in types — it is `Send` (it may move to the
//! corp's puller thread) but not `Sync`, and every call takes `&mut self` — and destroys its handle in
//! `Drop`, on every path. One session per corp lives for the daemon's lifetime: a handle per call
//! would leak in the vendor library.
//!
//! A session cannot be shared between threads:
//!
//! ```compile_fail
//! fn shared<T: Sync>(_: &T) {}
//! fn check(s: &msgaudit::sdk::Session) { shared(s) }
//! ```
//!
//! but it can be moved to one:
//!
//! ```
//! fn movable<T: Send>() {}
//! movable::<msgaudit::sdk::Session>();
//! movable::<msgaudit::sdk::Decryptor>();
//! fn shared<T: Sync>() {}
//! shared::<msgaudit::sdk::Decryptor>();
//! shared::<msgaudit::sdk::FinanceLibrary>();
//! ```

use std::cell::Cell;
use std::ffi::{CString, c_char, c_int, c_void};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::Duration;

use super::buffers::SliceGuard;
use super::envelope::{ChatBatch, Envelope, EnvelopeError};
use super::error::{SdkError, check};
use super::library::{FinanceLibrary, Loaded};
use crate::secret::Secret;

/// Proxy settings passed to every network call (`socks5://host:port` or `http://host:port`, and
/// `user:password`).
#[derive(Clone, Default)]
pub struct NetworkOptions {
    pub proxy: Option<String>,
    pub proxy_password: Option<Secret>,
}

impl std::fmt::Debug for NetworkOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkOptions")
            .field("proxy", &self.proxy)
            .field(
                "proxy_password",
                &self.proxy_password.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// An initialised SDK handle for one corp.
pub struct Session {
    pub(super) lib: Arc<Loaded>,
    pub(super) handle: NonNull<c_void>,
    corp_id: String,
    proxy: Option<CString>,
    passwd: Option<zeroize::Zeroizing<Vec<u8>>>,
    /// Not `Sync`: a handle is never shared between threads.
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: the handle is only touched through `&mut self` (or in Drop), so moving the owner to
// another thread never lets two threads use it at once, which is the known-safe practice for the
// vendor library. `Loaded` is immutable after load.
unsafe impl Send for Session {}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("corp_id", &self.corp_id)
            .finish_non_exhaustive()
    }
}

fn c_string(call: &'static str, argument: &'static str, s: &str) -> Result<CString, SdkError> {
    CString::new(s).map_err(|_| SdkError::NulInArgument { call, argument })
}

fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

/// Seconds for the SDK's `timeout` argument: rounded up, at least 1.
pub(super) fn timeout_secs(timeout: Duration) -> c_int {
    let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    secs.clamp(1, c_int::MAX as u64) as c_int
}

impl FinanceLibrary {
    /// Creates and initialises a handle for `corp_id` with its chat-archive secret.
    pub fn session(
        &self,
        corp_id: &str,
        secret: &Secret,
        network: &NetworkOptions,
    ) -> Result<Session, SdkError> {
        let corp = c_string("Init", "corpid", corp_id)?;
        let secret_c = zeroize::Zeroizing::new(
            c_string("Init", "secret", secret.expose())?.into_bytes_with_nul(),
        );
        let proxy = network
            .proxy
            .as_deref()
            .map(|p| c_string("GetChatData", "proxy", p))
            .transpose()?;
        let passwd = match &network.proxy_password {
            Some(p) => Some(zeroize::Zeroizing::new(
                c_string("GetChatData", "passwd", p.expose())?.into_bytes_with_nul(),
            )),
            None => None,
        };
        // SAFETY: NewSdk takes no arguments and returns an owned handle or NULL.
        let raw = unsafe { (self.inner.fns.new_sdk)() };
        let handle = NonNull::new(raw).ok_or(SdkError::Alloc { call: "NewSdk" })?;
        // From here on Drop destroys the handle, whatever happens.
        let session = Session {
            lib: self.inner.clone(),
            handle,
            corp_id: corp_id.to_owned(),
            proxy,
            passwd,
            _not_sync: PhantomData,
        };
        // SAFETY: live handle from NewSdk; both strings are NUL-terminated and outlive the call.
        let rc = unsafe {
            (session.lib.fns.init)(
                session.handle.as_ptr(),
                corp.as_ptr(),
                secret_c.as_ptr().cast(),
            )
        };
        check("Init", rc, || format!("corp {corp_id}"))?;
        Ok(session)
    }
}

impl Session {
    pub fn corp_id(&self) -> &str {
        &self.corp_id
    }

    pub(super) fn proxy_ptr(&self) -> *const c_char {
        opt_ptr(&self.proxy)
    }

    pub(super) fn passwd_ptr(&self) -> *const c_char {
        self.passwd
            .as_ref()
            .map_or(ptr::null(), |p| p.as_ptr().cast())
    }

    /// Messages with seq greater than `seq`, at most `limit` (the SDK accepts 1..=1000).
    ///
    /// Checks both the return code and the JSON `errcode` (48002 and friends arrive with code 0).
    pub fn get_chat_data(
        &mut self,
        seq: u64,
        limit: u32,
        timeout: Duration,
    ) -> Result<ChatBatch, SdkError> {
        let context = || format!("corp {}, after seq {seq}", self.corp_id);
        let slice = SliceGuard::new(&self.lib, "GetChatData")?;
        // SAFETY: live handle owned by `&mut self`; proxy/passwd are NUL-terminated or NULL and
        // outlive the call; `slice` is a live NewSlice pointer freed by its guard.
        let rc = unsafe {
            (self.lib.fns.get_chat_data)(
                self.handle.as_ptr(),
                seq,
                limit,
                opt_ptr(&self.proxy),
                self.passwd_ptr(),
                timeout_secs(timeout),
                slice.as_ptr(),
            )
        };
        check("GetChatData", rc, context)?;
        Envelope::parse(slice.bytes()).map_err(|e| match e {
            EnvelopeError::Json(reason) => SdkError::BadResponse {
                call: "GetChatData",
                context: context(),
                reason,
            },
            EnvelopeError::Api { errcode, errmsg } => SdkError::Api {
                errcode,
                errmsg,
                context: context(),
            },
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: the handle came from NewSdk, is owned solely by this session (not Sync, never
        // cloned), and is destroyed exactly once, here.
        unsafe { (self.lib.fns.destroy_sdk)(self.handle.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_seconds() {
        assert_eq!(timeout_secs(Duration::from_millis(1)), 1);
        assert_eq!(timeout_secs(Duration::from_millis(2500)), 3);
        assert_eq!(timeout_secs(Duration::ZERO), 1);
        assert_eq!(timeout_secs(Duration::from_secs(u64::MAX)), c_int::MAX);
    }

    #[test]
    fn network_options_debug_hides_the_password() {
        let n = NetworkOptions {
            proxy: Some("socks5://10.0.0.1:1080".into()),
            proxy_password: Some(Secret::new("user:pa55")),
        };
        assert!(!format!("{n:?}").contains("pa55"));
    }
}
