//! The safe wrapper over the WeCom finance SDK, `libWeWorkFinanceSdk_C.so`.
//!
//! All `unsafe` of the project lives here and in `ffi/`. The pieces:
//! - [`FinanceLibrary`] (`library.rs`): loads the library once (`RTLD_LOCAL | RTLD_DEEPBIND`) and
//!   resolves all 17 symbols up front — a file that is not a finance SDK fails at start-up;
//! - [`Session`] (`session.rs`): one SDK handle per corp, `Send` but not `Sync`, destroyed on drop;
//!   [`Session::get_chat_data`] returns a parsed [`ChatBatch`];
//! - [`Session::download_media`] (`media.rs`): chunked, retried, md5-verified, streamed;
//! - [`Decryptor`] (`decrypt.rs`): `DecryptData` from any thread, optionally serialised;
//! - [`KeyRing`] (`keys.rs`): private keys per `publickey_ver`, zeroized, never printed, their
//!   random-key decryptions one at a time or in batches;
//! - [`RsaBackend`] (`rsa_backend.rs`, `crypto_mb.rs`, `pkcs1.rs`): OpenSSL, or Intel's multi-buffer
//!   RSA loaded at run time, with PKCS#1 v1.5 unpadding in constant time;
//! - [`SdkError`] / [`LoadError`] (`error.rs`): typed errors carrying the SDK code and whether it is
//!   transient.
//!
//! ```no_run
//! use std::time::Duration;
//! use msgaudit::sdk::{FinanceLibrary, KeyRing, NetworkOptions, PrivateKey};
//! use msgaudit::secret::Secret;
//!
//! let lib = FinanceLibrary::load("/opt/wework/libWeWorkFinanceSdk_C.so")?;
//! let mut session = lib.session("ww0123456789", &Secret::new("archive secret"), &NetworkOptions::default())?;
//! let mut keys = KeyRing::new();
//! keys.insert(1, PrivateKey::from_file("/etc/msgaudit/keys/v1.pem")?);
//! let batch = session.get_chat_data(0, 1000, Duration::from_secs(10))?;
//! let decryptor = lib.decryptor();
//! for m in &batch.messages {
//!     let key = keys.decrypt_random_key(m.publickey_ver, &m.encrypt_random_key)?;
//!     let plaintext = decryptor.decrypt_data(&key, &m.encrypt_chat_msg)?;
//!     println!("{} {}", m.seq, String::from_utf8_lossy(&plaintext));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod buffers;
pub mod crypto_mb;
mod decrypt;
mod envelope;
mod error;
mod keys;
mod library;
mod media;
mod pkcs1;
pub mod rsa_backend;
mod session;

pub use decrypt::Decryptor;
pub use envelope::{ChatBatch, EncryptedMessage, Envelope, EnvelopeError};
pub use error::{LoadError, SdkError};
pub use keys::{KeyError, KeyRing, PrivateKey, RandomKey};
pub use library::FinanceLibrary;
pub use media::{MediaDownload, MediaError, RetryPolicy};
pub use rsa_backend::{BackendChoice, ChosenBackend, RsaBackend};
pub use session::{NetworkOptions, Session};
pub use wework_finance_sys::{LIBRARY_FILE_NAME, MAX_LIMIT, code};

/// WeCom keeps archived messages (and their media) for about five days.
pub use crate::runtime::RETENTION_MS;
