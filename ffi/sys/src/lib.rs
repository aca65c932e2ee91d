//! Raw C declarations of the WeCom finance SDK, `libWeWorkFinanceSdk_C.so`.
//!
//! This crate owns the *shape* of the C ABI and nothing else: the two `#[repr(C)]` structs, one
//! function-pointer type per exported symbol, the symbol names, and the SDK's error codes. Both sides
//! of the boundary use it — the safe wrapper in `msgaudit::sdk` resolves symbols into these types, and
//! the emulator in `ffi/emulator` asserts at compile time that each of its exports has exactly this
//! type — so a signature mistake is a build error rather than a crash.
//!
//! The header the vendor ships (`WeWorkFinanceSdk_C.h`) declares:
//!
//! ```c
//! typedef struct WeWorkFinanceSdk_t WeWorkFinanceSdk_t;
//! typedef struct Slice_t { char* buf; int len; } Slice_t;
//! typedef struct MediaData { char* outindexbuf; int out_len; char* data; int data_len; int is_finish; } MediaData_t;
//! WeWorkFinanceSdk_t* NewSdk();
//! int Init(WeWorkFinanceSdk_t* sdk, const char* corpid, const char* secret);
//! int GetChatData(WeWorkFinanceSdk_t* sdk, unsigned long long seq, unsigned int limit,
//!                 const char* proxy, const char* passwd, int timeout, Slice_t* chatDatas);
//! int DecryptData(const char* encrypt_key, const char* encrypt_msg, Slice_t* msg);
//! int GetMediaData(WeWorkFinanceSdk_t* sdk, const char* indexbuf, const char* sdkFileid,
//!                  const char* proxy, const char* passwd, int timeout, MediaData_t* media_data);
//! void DestroySdk(WeWorkFinanceSdk_t* sdk);
//! Slice_t* NewSlice(); void FreeSlice(Slice_t* slice);
//! char* GetContentFromSlice(Slice_t* slice); int GetSliceLen(Slice_t* slice);
//! MediaData_t* NewMediaData(); void FreeMediaData(MediaData_t* media_data);
//! char* GetOutIndexBuf(MediaData_t* media_data); char* GetData(MediaData_t* media_data);
//! int GetIndexLen(MediaData_t* media_data); int GetDataLen(MediaData_t* media_data);
//! int IsMediaDataFinish(MediaData_t* media_data);
//! ```
#![no_std]
#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void};

/// The opaque SDK handle (`WeWorkFinanceSdk_t`). Only ever used behind a pointer.
pub type WeWorkFinanceSdk_t = c_void;

/// `Slice_t`: a buffer the SDK allocates and `FreeSlice` releases. Read it through
/// `GetContentFromSlice` + `GetSliceLen` only; never `strlen` it.
#[repr(C)]
#[derive(Debug)]
pub struct Slice_t {
    pub buf: *mut c_char,
    pub len: c_int,
}

/// `MediaData_t`: one media chunk and the index string of the next one.
#[repr(C)]
#[derive(Debug)]
pub struct MediaData_t {
    pub outindexbuf: *mut c_char,
    pub out_len: c_int,
    pub data: *mut c_char,
    pub data_len: c_int,
    pub is_finish: c_int,
}

// The header's layouts on LP64 (x86_64, aarch64 Linux): pointers are 8 bytes, int is 4.
const _: () = assert!(core::mem::size_of::<Slice_t>() == 16);
const _: () = assert!(core::mem::align_of::<Slice_t>() == 8);
const _: () = assert!(core::mem::size_of::<MediaData_t>() == 32);
const _: () = assert!(core::mem::size_of::<c_ulonglong>() == 8);

pub type NewSdkFn = unsafe extern "C" fn() -> *mut WeWorkFinanceSdk_t;
pub type InitFn =
    unsafe extern "C" fn(*mut WeWorkFinanceSdk_t, *const c_char, *const c_char) -> c_int;
pub type GetChatDataFn = unsafe extern "C" fn(
    *mut WeWorkFinanceSdk_t,
    c_ulonglong,
    c_uint,
    *const c_char,
    *const c_char,
    c_int,
    *mut Slice_t,
) -> c_int;
pub type DecryptDataFn = unsafe extern "C" fn(*const c_char, *const c_char, *mut Slice_t) -> c_int;
pub type GetMediaDataFn = unsafe extern "C" fn(
    *mut WeWorkFinanceSdk_t,
    *const c_char,
    *const c_char,
    *const c_char,
    *const c_char,
    c_int,
    *mut MediaData_t,
) -> c_int;
pub type DestroySdkFn = unsafe extern "C" fn(*mut WeWorkFinanceSdk_t);
pub type NewSliceFn = unsafe extern "C" fn() -> *mut Slice_t;
pub type FreeSliceFn = unsafe extern "C" fn(*mut Slice_t);
pub type GetContentFromSliceFn = unsafe extern "C" fn(*mut Slice_t) -> *mut c_char;
pub type GetSliceLenFn = unsafe extern "C" fn(*mut Slice_t) -> c_int;
pub type NewMediaDataFn = unsafe extern "C" fn() -> *mut MediaData_t;
pub type FreeMediaDataFn = unsafe extern "C" fn(*mut MediaData_t);
pub type GetOutIndexBufFn = unsafe extern "C" fn(*mut MediaData_t) -> *mut c_char;
pub type GetDataFn = unsafe extern "C" fn(*mut MediaData_t) -> *mut c_char;
pub type GetIndexLenFn = unsafe extern "C" fn(*mut MediaData_t) -> c_int;
pub type GetDataLenFn = unsafe extern "C" fn(*mut MediaData_t) -> c_int;
pub type IsMediaDataFinishFn = unsafe extern "C" fn(*mut MediaData_t) -> c_int;

/// The 17 exported symbols, in the header's order. A library missing any of them is not a finance SDK.
pub const SYMBOLS: [&str; 17] = [
    "NewSdk",
    "Init",
    "GetChatData",
    "DecryptData",
    "GetMediaData",
    "DestroySdk",
    "NewSlice",
    "FreeSlice",
    "GetContentFromSlice",
    "GetSliceLen",
    "NewMediaData",
    "FreeMediaData",
    "GetOutIndexBuf",
    "GetData",
    "GetIndexLen",
    "GetDataLen",
    "IsMediaDataFinish",
];

/// The file name the vendor ships and the emulator builds.
pub const LIBRARY_FILE_NAME: &str = "libWeWorkFinanceSdk_C.so";

/// `GetChatData` accepts `limit` in `1..=MAX_LIMIT`; more is [`code::BAD_PARAMETERS`].
pub const MAX_LIMIT: u32 = 1000;

/// `GetMediaData` returns at most this many bytes per chunk.
pub const MEDIA_CHUNK_SIZE: usize = 512 * 1024;

/// The SDK's return codes (0 = success).
pub mod code {
    use core::ffi::c_int;
    pub const OK: c_int = 0;
    pub const BAD_PARAMETERS: c_int = 10000;
    pub const NETWORK_ERROR: c_int = 10001;
    pub const PARSE_FAILURE: c_int = 10002;
    pub const SYSTEM_FAILURE: c_int = 10003;
    pub const ENCRYPT_KEY_ERROR: c_int = 10004;
    pub const BAD_FILE_ID: c_int = 10005;
    pub const DECRYPT_FAILED: c_int = 10006;
    pub const NO_PRIVATE_KEY: c_int = 10007;
    pub const BAD_ENCRYPT_KEY: c_int = 10008;
    pub const IP_NOT_TRUSTED: c_int = 10009;
    pub const DATA_EXPIRED: c_int = 10010;
    pub const CERTIFICATE_ERROR: c_int = 10011;

    /// 10001–10003 are transient: retry with back-off. Everything else is not.
    pub const fn is_transient(code: c_int) -> bool {
        matches!(code, NETWORK_ERROR | PARSE_FAILURE | SYSTEM_FAILURE)
    }

    /// What the code means, as the vendor documents it.
    pub const fn describe(code: c_int) -> &'static str {
        match code {
            OK => "success",
            BAD_PARAMETERS => "bad parameters",
            NETWORK_ERROR => "network error",
            PARSE_FAILURE => "failed to parse the server's answer",
            SYSTEM_FAILURE => "system failure",
            ENCRYPT_KEY_ERROR => "key error while encrypting",
            BAD_FILE_ID => "bad sdkfileid",
            DECRYPT_FAILED => "decryption failed",
            NO_PRIVATE_KEY => "no private key for that key version",
            BAD_ENCRYPT_KEY => "bad encrypt_key",
            IP_NOT_TRUSTED => "caller IP not trusted",
            DATA_EXPIRED => "data expired (older than the retention window)",
            CERTIFICATE_ERROR => "certificate error",
            _ => "unknown SDK error code",
        }
    }
}
