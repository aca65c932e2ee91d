//! Loading `libWeWorkFinanceSdk_C.so` and resolving its 17 symbols once, up front.
//!
//! The library is opened with `RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND | RTLD_NODELETE`:
//! - `RTLD_LOCAL` keeps its symbols out of the global namespace, so the vendor build's exported
//!   OpenSSL 3.0.14 symbols cannot interpose on the process's own OpenSSL;
//! - `RTLD_DEEPBIND` makes the library resolve its *own* references against itself first, so the
//!   process's OpenSSL cannot interpose on the vendor's either;
//! - `RTLD_NODELETE` means it is never unmapped: vendor libraries with OpenSSL linked in register
//!   `atexit` handlers that would jump into unmapped code at exit if the library were closed.
//!
//! A missing symbol is a [`LoadError`] at start-up, never a crash mid-run. The function pointers live
//! in [`Loaded`], which also owns the `Library`, and everything that uses them holds an `Arc<Loaded>`,
//! so no pointer outlives the mapping.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use libloading::os::unix::Library;
use wework_finance_sys as sys;

use super::error::LoadError;

/// The resolved entry points of one loaded SDK library.
pub(crate) struct Symbols {
    pub new_sdk: sys::NewSdkFn,
    pub init: sys::InitFn,
    pub get_chat_data: sys::GetChatDataFn,
    pub decrypt_data: sys::DecryptDataFn,
    pub get_media_data: sys::GetMediaDataFn,
    pub destroy_sdk: sys::DestroySdkFn,
    pub new_slice: sys::NewSliceFn,
    pub free_slice: sys::FreeSliceFn,
    pub get_content_from_slice: sys::GetContentFromSliceFn,
    pub get_slice_len: sys::GetSliceLenFn,
    pub new_media_data: sys::NewMediaDataFn,
    pub free_media_data: sys::FreeMediaDataFn,
    pub get_out_index_buf: sys::GetOutIndexBufFn,
    pub get_data: sys::GetDataFn,
    pub get_index_len: sys::GetIndexLenFn,
    pub get_data_len: sys::GetDataLenFn,
    pub is_media_data_finish: sys::IsMediaDataFinishFn,
}

/// A loaded library and its symbols. The `Library` field keeps the mapping alive for as long as
/// any `Arc<Loaded>` exists (and `RTLD_NODELETE` beyond).
pub(crate) struct Loaded {
    pub path: PathBuf,
    pub fns: Symbols,
    _library: Library,
}

/// A finance SDK library, loaded and checked. Cheap to clone; share it across corps and threads.
#[derive(Clone)]
pub struct FinanceLibrary {
    pub(crate) inner: Arc<Loaded>,
}

impl std::fmt::Debug for FinanceLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FinanceLibrary")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl FinanceLibrary {
    /// Loads the library at `path` and resolves all 17 SDK functions.
    ///
    /// ```no_run
    /// let sdk = msgaudit::sdk::FinanceLibrary::load("/opt/wework/libWeWorkFinanceSdk_C.so")?;
    /// # Ok::<(), msgaudit::sdk::LoadError>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<FinanceLibrary, LoadError> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(LoadError::NotFound { path });
        }
        let flags = libc::RTLD_NOW | libc::RTLD_LOCAL | libc::RTLD_DEEPBIND | libc::RTLD_NODELETE;
        // SAFETY: loading runs the library's initialisers. We only load files the operator named as
        // the finance SDK (or our emulator); that trust is the premise of using a native SDK at all.
        let library =
            unsafe { Library::open(Some(&path), flags) }.map_err(|e| LoadError::Open {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        let fns = resolve(&library, &path)?;
        Ok(FinanceLibrary {
            inner: Arc::new(Loaded {
                path,
                fns,
                _library: library,
            }),
        })
    }

    /// The path the library was loaded from.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

fn resolve(library: &Library, path: &Path) -> Result<Symbols, LoadError> {
    macro_rules! sym {
        ($name:literal) => {{
            const NUL_TERMINATED: &str = concat!($name, "\0");
            // SAFETY: the type comes from `wework-finance-sys`, which transcribes the vendor header;
            // the emulator asserts its exports against the same types at compile time. The pointer
            // is copied out of the `Symbol` and stored beside the `Library`, which outlives it.
            match unsafe { library.get(NUL_TERMINATED.as_bytes()) } {
                Ok(symbol) => *symbol,
                Err(_) => {
                    return Err(LoadError::MissingSymbol {
                        path: path.to_path_buf(),
                        symbol: $name,
                    })
                }
            }
        }};
    }
    Ok(Symbols {
        new_sdk: sym!("NewSdk"),
        init: sym!("Init"),
        get_chat_data: sym!("GetChatData"),
        decrypt_data: sym!("DecryptData"),
        get_media_data: sym!("GetMediaData"),
        destroy_sdk: sym!("DestroySdk"),
        new_slice: sym!("NewSlice"),
        free_slice: sym!("FreeSlice"),
        get_content_from_slice: sym!("GetContentFromSlice"),
        get_slice_len: sym!("GetSliceLen"),
        new_media_data: sym!("NewMediaData"),
        free_media_data: sym!("FreeMediaData"),
        get_out_index_buf: sym!("GetOutIndexBuf"),
        get_data: sym!("GetData"),
        get_index_len: sym!("GetIndexLen"),
        get_data_len: sym!("GetDataLen"),
        is_media_data_finish: sym!("IsMediaDataFinish"),
    })
}

// The list of symbols resolved above is the one `wework-finance-sys` documents.
const _: () = assert!(sys::SYMBOLS.len() == 17);
