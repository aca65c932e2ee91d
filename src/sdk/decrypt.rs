//! [`Decryptor`]: `DecryptData`, the vendor's private symmetric cipher, callable from many threads.
//!
//! `DecryptData` takes no handle, and both the vendor's samples and other wrappers call it from worker
//! pools. A vendor build that turns out not to be thread-safe can be tamed with
//! [`Decryptor::serialized`], which funnels every call through one lock without changing any caller.

use std::ffi::CString;
use std::sync::{Arc, Mutex};

use super::buffers::SliceGuard;
use super::error::{SdkError, check};
use super::keys::RandomKey;
use super::library::{FinanceLibrary, Loaded};

/// Decrypts `encrypt_chat_msg` payloads. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Decryptor {
    lib: Arc<Loaded>,
    serial: Option<Arc<Mutex<()>>>,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("serialized", &self.serial.is_some())
            .finish()
    }
}

impl FinanceLibrary {
    /// A decryptor whose calls may run concurrently.
    pub fn decryptor(&self) -> Decryptor {
        Decryptor {
            lib: self.inner.clone(),
            serial: None,
        }
    }
}

impl Decryptor {
    /// The same decryptor, but with every call serialised (for a vendor build that is unsafe to
    /// call concurrently).
    pub fn serialized(self) -> Decryptor {
        Decryptor {
            serial: Some(Arc::new(Mutex::new(()))),
            ..self
        }
    }

    /// Decrypts one message with its RSA-decrypted random key; returns the plaintext JSON bytes.
    pub fn decrypt_data(
        &self,
        key: &RandomKey,
        encrypt_chat_msg: &str,
    ) -> Result<Vec<u8>, SdkError> {
        let msg = CString::new(encrypt_chat_msg).map_err(|_| SdkError::NulInArgument {
            call: "DecryptData",
            argument: "encrypt_msg",
        })?;
        let slice = SliceGuard::new(&self.lib, "DecryptData")?;
        // A poisoned lock only means another decryption panicked; the lock guards no data.
        let _turn = self
            .serial
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()));
        // SAFETY: `key` and `msg` are NUL-terminated and outlive the call; `slice` is a live
        // NewSlice pointer freed by its guard; DecryptData uses no handle.
        let rc =
            unsafe { (self.lib.fns.decrypt_data)(key.as_c_ptr(), msg.as_ptr(), slice.as_ptr()) };
        check("DecryptData", rc, || "one message".to_owned())?;
        Ok(slice.bytes().to_vec())
    }
}
