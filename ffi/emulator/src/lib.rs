//! `libWeWorkFinanceSdk_C.so` played by us: the vendor's 17 C functions over an emulated archive.
//!
//! This crate owns only the C ABI shell: handle and buffer lifetimes, argument checking, the vendor's
//! quirks (error codes, 48002 in JSON, limits, delays, transient failures, expiry, media chunking)
//! and encryption (`cipher`). What the archive contains comes from `wework-finance-archive`.
//! Configuration — per corp, through the corp id's `?key=value` suffix and the JSON file named by
//! `WWEMU_CONFIG` — is documented in `ffi/README.md`.
//!
//! Every export catches panics (none may unwind into C) and checks every pointer for NULL. Each
//! export's type is asserted against `wework-finance-sys`, the declarations the wrapper loads.
#![allow(non_snake_case)]

mod cipher;

use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, c_char, c_int, c_uint, c_ulonglong};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wework_finance_archive::{Archive, ArchiveMessage, ArchiveOptions, MediaFile, every};
use wework_finance_sys::{self as sys, MediaData_t, Slice_t, code};

/// One `NewSdk` handle.
struct EmuSdk {
    corp: Option<Arc<Archive>>,
    /// The corp id `Init` was given (for the call log).
    corp_id: String,
    secret_ok: bool,
    calls: u64,
    /// (file, chunk) pairs that already failed once under `media_fail_chunk`.
    failed_chunks: HashSet<(MediaFile, u64)>,
}

/// Archives by full corp id (with its option suffix), shared by every handle of the process.
fn archive_for(corp_id: &str) -> Result<Arc<Archive>, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Archive>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let config = std::env::var_os("WWEMU_CONFIG").map(std::path::PathBuf::from);
    let key = format!("{corp_id}\u{0}{:?}", config);
    if let Some(a) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(a);
    }
    let options = ArchiveOptions::resolve(corp_id, config.as_deref()).map_err(|e| e.to_string())?;
    let archive = Arc::new(Archive::open(options).map_err(|e| e.to_string())?);
    if let Ok(mut c) = cache.lock() {
        c.insert(key, archive.clone());
    }
    Ok(archive)
}

/// Microseconds since the Unix epoch (comparable between processes).
fn wall_clock_us() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// `WWEMU_CALL_LOG`: appends one line per `GetChatData` call — corp id, process id, start and end
/// (µs since the epoch), seq asked after, return code — so a test can see which process pulled
/// which corp when. One `write` per line on an `O_APPEND` file: lines of several processes never mix.
fn log_call(path: &std::ffi::OsStr, corp_id: &str, started: u128, seq: u64, rc: c_int) {
    use std::io::Write;
    let line = format!(
        "{corp_id}\t{}\t{started}\t{}\t{seq}\t{rc}\n",
        std::process::id(),
        wall_clock_us()
    );
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// Runs an export body, turning a panic into `on_panic` instead of unwinding into C.
fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

/// # Safety
/// `p` must be NULL or point to a NUL-terminated string valid for the call.
unsafe fn text<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

/// Copies bytes into a fresh NUL-terminated heap buffer; returns (pointer, length without NUL).
fn alloc_buffer(bytes: &[u8]) -> (*mut c_char, c_int) {
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.extend_from_slice(bytes);
    v.push(0);
    let len = bytes.len() as c_int;
    (Box::into_raw(v.into_boxed_slice()) as *mut c_char, len)
}

/// # Safety
/// `buf` must be NULL or come from [`alloc_buffer`] with this `len`, and not be freed yet.
unsafe fn free_buffer(buf: *mut c_char, len: c_int) {
    if !buf.is_null() {
        let total = len.max(0) as usize + 1;
        // SAFETY: `alloc_buffer` made a boxed slice of exactly len + 1 bytes at this address.
        drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(buf as *mut u8, total)) });
    }
}

/// # Safety
/// `slice` must be a live `NewSlice` pointer.
unsafe fn fill_slice(slice: *mut Slice_t, bytes: &[u8]) {
    // SAFETY: live NewSlice pointer per contract; its buffer, if any, came from alloc_buffer.
    unsafe {
        free_buffer((*slice).buf, (*slice).len);
        let (buf, len) = alloc_buffer(bytes);
        (*slice).buf = buf;
        (*slice).len = len;
    }
}

const _: sys::NewSdkFn = NewSdk;
const _: sys::InitFn = Init;
const _: sys::GetChatDataFn = GetChatData;
const _: sys::DecryptDataFn = DecryptData;
const _: sys::GetMediaDataFn = GetMediaData;
const _: sys::DestroySdkFn = DestroySdk;
const _: sys::NewSliceFn = NewSlice;
const _: sys::FreeSliceFn = FreeSlice;
const _: sys::GetContentFromSliceFn = GetContentFromSlice;
const _: sys::GetSliceLenFn = GetSliceLen;
const _: sys::NewMediaDataFn = NewMediaData;
const _: sys::FreeMediaDataFn = FreeMediaData;
const _: sys::GetOutIndexBufFn = GetOutIndexBuf;
const _: sys::GetDataFn = GetData;
const _: sys::GetIndexLenFn = GetIndexLen;
const _: sys::GetDataLenFn = GetDataLen;
const _: sys::IsMediaDataFinishFn = IsMediaDataFinish;

#[unsafe(no_mangle)]
pub extern "C" fn NewSdk() -> *mut std::ffi::c_void {
    guard(ptr::null_mut(), || {
        Box::into_raw(Box::new(EmuSdk {
            corp: None,
            corp_id: String::new(),
            secret_ok: false,
            calls: 0,
            failed_chunks: HashSet::new(),
        })) as *mut std::ffi::c_void
    })
}

/// # Safety
/// `sdk` must come from `NewSdk` and not be destroyed; strings NUL-terminated or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn Init(
    sdk: *mut std::ffi::c_void,
    corpid: *const c_char,
    secret: *const c_char,
) -> c_int {
    guard(code::SYSTEM_FAILURE, || {
        // SAFETY: per this function's contract.
        let (Some(emu), Some(corpid), Some(secret)) = (
            unsafe { (sdk as *mut EmuSdk).as_mut() },
            unsafe { text(corpid) },
            unsafe { text(secret) },
        ) else {
            return code::BAD_PARAMETERS;
        };
        match archive_for(corpid) {
            Ok(archive) => {
                emu.secret_ok = archive
                    .options()
                    .secret
                    .as_deref()
                    .is_none_or(|s| s == secret);
                emu.corp = Some(archive);
                emu.corp_id = corpid.to_owned();
                code::OK
            }
            Err(reason) => {
                eprintln!("WeWorkFinanceSdk emulator: Init refused corp options: {reason}");
                code::BAD_PARAMETERS
            }
        }
    })
}

fn chat_data_json(batch: &[ArchiveMessage], options: &ArchiveOptions) -> Option<String> {
    use std::fmt::Write;
    let mut out = String::with_capacity(64 + batch.len() * 1600);
    out.push_str(r#"{"errcode":0,"errmsg":"ok","chatdata":["#);
    for m in batch {
        let (key, mut encrypt_random_key) = if options.key_pool > 0 {
            let pick = wework_finance_archive::rng::mix64(m.seq ^ options.seed);
            cipher::pooled_key(m.publickey_ver, options.key_pool, pick)?
        } else {
            let key = cipher::fresh_key();
            let encrypted = cipher::encrypt_key(m.publickey_ver, &key)?;
            (key, encrypted)
        };
        let mut encrypt_chat_msg = cipher::encrypt_message(&key, m.plaintext.as_bytes())?;
        if every(options.corrupt_key_every, m.seq, 1) {
            encrypt_random_key.replace_range(10..14, "*%$#");
        }
        if every(options.corrupt_msg_every, m.seq, 2) {
            if m.seq % 2 == 0 {
                encrypt_chat_msg.replace_range(4..8, "!@#$");
            } else {
                // Valid base64, damaged ciphertext: only the cipher notices.
                let mid = encrypt_chat_msg.len() / 2;
                let c = if encrypt_chat_msg.as_bytes()[mid] == b'A' {
                    "B"
                } else {
                    "A"
                };
                encrypt_chat_msg.replace_range(mid..mid + 1, c);
            }
        }
        // Written directly, not through a JSON tree: the ciphertexts are base64 (or carry the
        // corruptions above, which need no escaping); only the msgid goes through the escaper.
        if !out.ends_with('[') {
            out.push(',');
        }
        let _ = write!(
            out,
            r#"{{"seq":{},"msgid":{},"publickey_ver":{},"encrypt_random_key":"{}","encrypt_chat_msg":"{}"}}"#,
            m.seq,
            serde_json::Value::from(m.msgid.as_str()),
            m.publickey_ver,
            encrypt_random_key,
            encrypt_chat_msg
        );
    }
    out.push_str("]}");
    Some(out)
}

/// Whether this call is one of the configured share of failures (deterministic per handle).
fn unlucky(emu: &mut EmuSdk, seed: u64, rate: f64) -> bool {
    emu.calls += 1;
    if rate <= 0.0 {
        return false;
    }
    let mut z = (seed ^ emu.calls).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z ^= z >> 29;
    z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^= z >> 32;
    (z >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - rate
}

/// # Safety
/// `sdk` from `NewSdk`, `out` from `NewSlice`, strings NUL-terminated or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn GetChatData(
    sdk: *mut std::ffi::c_void,
    seq: c_ulonglong,
    limit: c_uint,
    _proxy: *const c_char,
    _passwd: *const c_char,
    timeout: c_int,
    out: *mut Slice_t,
) -> c_int {
    let started = wall_clock_us();
    let rc = guard(code::SYSTEM_FAILURE, || {
        // SAFETY: per this function's contract.
        let Some(emu) = (unsafe { (sdk as *mut EmuSdk).as_mut() }) else {
            return code::BAD_PARAMETERS;
        };
        let Some(archive) = emu.corp.clone() else {
            return code::BAD_PARAMETERS;
        };
        if out.is_null() || limit == 0 || limit > sys::MAX_LIMIT {
            return code::BAD_PARAMETERS;
        }
        let o = archive.options();
        if !emu.secret_ok {
            let body = r#"{"errcode":48002,"errmsg":"api forbidden, hint: [emulator] the secret is not this corp's chat-archive secret","chatdata":[]}"#;
            // SAFETY: `out` is a live NewSlice pointer per contract, checked non-NULL above.
            unsafe { fill_slice(out, body.as_bytes()) };
            return code::OK;
        }
        if o.delay_ms > 0 {
            let budget_ms = timeout.max(0) as u64 * 1000;
            std::thread::sleep(Duration::from_millis(o.delay_ms.min(budget_ms)));
            if o.delay_ms > budget_ms {
                return code::NETWORK_ERROR;
            }
        }
        if unlucky(emu, o.seed, o.transient_rate) {
            return if emu.calls % 2 == 0 {
                code::NETWORK_ERROR
            } else {
                code::PARSE_FAILURE
            };
        }
        if o.expire_before_seq > 0 && seq.saturating_add(1) < o.expire_before_seq {
            return code::DATA_EXPIRED;
        }
        let batch = archive.after(seq, limit as usize);
        let Some(json) = chat_data_json(&batch, o) else {
            return code::ENCRYPT_KEY_ERROR;
        };
        // SAFETY: `out` is a live NewSlice pointer per contract, checked non-NULL above.
        unsafe { fill_slice(out, json.as_bytes()) };
        code::OK
    });
    if let Some(path) = std::env::var_os("WWEMU_CALL_LOG") {
        // SAFETY: per this function's contract (NULL checked by `as_ref`).
        if let Some(emu) = unsafe { (sdk as *const EmuSdk).as_ref() } {
            log_call(&path, &emu.corp_id, started, seq, rc);
        }
    }
    rc
}

/// # Safety
/// Strings NUL-terminated or NULL; `out` from `NewSlice`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn DecryptData(
    encrypt_key: *const c_char,
    encrypt_msg: *const c_char,
    out: *mut Slice_t,
) -> c_int {
    guard(code::SYSTEM_FAILURE, || {
        if encrypt_key.is_null() || encrypt_msg.is_null() || out.is_null() {
            return code::BAD_PARAMETERS;
        }
        // SAFETY: both non-NULL and NUL-terminated per contract.
        let (key, msg) = unsafe { (CStr::from_ptr(encrypt_key), CStr::from_ptr(encrypt_msg)) };
        match cipher::decrypt_message(key.to_bytes(), msg.to_bytes()) {
            Ok(plain) => {
                // SAFETY: `out` is a live NewSlice pointer per contract, checked non-NULL above.
                unsafe { fill_slice(out, &plain) };
                code::OK
            }
            Err(cipher::DecryptFailure::BadKey) => code::BAD_ENCRYPT_KEY,
            Err(cipher::DecryptFailure::BadMessage) => code::DECRYPT_FAILED,
        }
    })
}

/// Parses `""` or `Range:bytes=a-b` into the chunk's start offset.
fn chunk_offset(index: &str) -> Option<u64> {
    if index.is_empty() {
        return Some(0);
    }
    let range = index.strip_prefix("Range:bytes=")?;
    let (a, _) = range.split_once('-')?;
    a.parse().ok()
}

/// # Safety
/// `sdk` from `NewSdk`, `out` from `NewMediaData`, strings NUL-terminated or NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn GetMediaData(
    sdk: *mut std::ffi::c_void,
    indexbuf: *const c_char,
    sdkfileid: *const c_char,
    _proxy: *const c_char,
    _passwd: *const c_char,
    _timeout: c_int,
    out: *mut MediaData_t,
) -> c_int {
    guard(code::SYSTEM_FAILURE, || {
        // SAFETY: per this function's contract.
        let (Some(emu), Some(out)) = (unsafe { (sdk as *mut EmuSdk).as_mut() }, unsafe {
            out.as_mut()
        }) else {
            return code::BAD_PARAMETERS;
        };
        let Some(archive) = emu.corp.clone() else {
            return code::BAD_PARAMETERS;
        };
        if !emu.secret_ok {
            return code::BAD_PARAMETERS;
        }
        // SAFETY: NUL-terminated or NULL per contract.
        let (index, fileid) = unsafe { (text(indexbuf).unwrap_or(""), text(sdkfileid)) };
        let Some((file, seq)) = fileid.and_then(MediaFile::parse_with_seq) else {
            return code::BAD_FILE_ID;
        };
        let Some(offset) = chunk_offset(index).filter(|o| *o <= file.size) else {
            return code::BAD_PARAMETERS;
        };
        let o = archive.options();
        if seq < o.media_expire_before_seq {
            return code::DATA_EXPIRED;
        }
        let chunk_no = offset / sys::MEDIA_CHUNK_SIZE as u64;
        if o.media_fail_chunk == Some(chunk_no) && emu.failed_chunks.insert((file, chunk_no)) {
            return code::NETWORK_ERROR;
        }
        if unlucky(emu, o.seed ^ 0x6d65, o.media_fail_rate) {
            return code::NETWORK_ERROR;
        }
        let mut data = file.bytes(offset, sys::MEDIA_CHUNK_SIZE);
        if offset == 0 && every(o.media_corrupt_every, seq, 0) {
            // A broken path flips a byte: the md5 never matches.
            if let Some(b) = data.last_mut() {
                *b ^= 0x5a;
            }
        }
        let next = offset + data.len() as u64;
        let finished = next >= file.size;
        let next_index = if finished {
            String::new()
        } else {
            format!(
                "Range:bytes={}-{}",
                next,
                next + sys::MEDIA_CHUNK_SIZE as u64 - 1
            )
        };
        // SAFETY: the buffers in `out`, if any, came from alloc_buffer with their recorded lengths.
        unsafe {
            free_buffer(out.outindexbuf, out.out_len);
            free_buffer(out.data, out.data_len);
        }
        (out.outindexbuf, out.out_len) = alloc_buffer(next_index.as_bytes());
        (out.data, out.data_len) = alloc_buffer(&data);
        out.is_finish = c_int::from(finished);
        code::OK
    })
}

/// # Safety
/// `sdk` must come from `NewSdk` and not be used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn DestroySdk(sdk: *mut std::ffi::c_void) {
    guard((), || {
        if !sdk.is_null() {
            // SAFETY: made by Box::into_raw in NewSdk; the caller gives up the handle.
            drop(unsafe { Box::from_raw(sdk as *mut EmuSdk) });
        }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn NewSlice() -> *mut Slice_t {
    guard(ptr::null_mut(), || {
        Box::into_raw(Box::new(Slice_t {
            buf: ptr::null_mut(),
            len: 0,
        }))
    })
}

/// # Safety
/// `slice` must come from `NewSlice` and not be used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn FreeSlice(slice: *mut Slice_t) {
    guard((), || {
        if !slice.is_null() {
            // SAFETY: made by NewSlice; its buffer by alloc_buffer.
            unsafe {
                free_buffer((*slice).buf, (*slice).len);
                drop(Box::from_raw(slice));
            }
        }
    })
}

/// # Safety
/// `slice` must be NULL or a live `NewSlice` pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn GetContentFromSlice(slice: *mut Slice_t) -> *mut c_char {
    // SAFETY: per contract.
    unsafe { slice.as_ref() }.map_or(ptr::null_mut(), |s| s.buf)
}

/// # Safety
/// `slice` must be NULL or a live `NewSlice` pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn GetSliceLen(slice: *mut Slice_t) -> c_int {
    // SAFETY: per contract.
    unsafe { slice.as_ref() }.map_or(0, |s| s.len)
}

#[unsafe(no_mangle)]
pub extern "C" fn NewMediaData() -> *mut MediaData_t {
    guard(ptr::null_mut(), || {
        Box::into_raw(Box::new(MediaData_t {
            outindexbuf: ptr::null_mut(),
            out_len: 0,
            data: ptr::null_mut(),
            data_len: 0,
            is_finish: 0,
        }))
    })
}

/// # Safety
/// `media` must come from `NewMediaData` and not be used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn FreeMediaData(media: *mut MediaData_t) {
    guard((), || {
        if !media.is_null() {
            // SAFETY: made by NewMediaData; its buffers by alloc_buffer.
            unsafe {
                free_buffer((*media).outindexbuf, (*media).out_len);
                free_buffer((*media).data, (*media).data_len);
                drop(Box::from_raw(media));
            }
        }
    })
}

/// # Safety
/// `media` must be NULL or a live `NewMediaData` pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn GetOutIndexBuf(media: *mut MediaData_t) -> *mut c_char {
    // SAFETY: per contract.
    unsafe { media.as_ref() }.map_or(ptr::null_mut(), |m| m.outindexbuf)
}

/// # Safety
/// `media` must be NULL or a live `NewMediaData` pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn GetData(media: *mut MediaData_t) -> *mut c_char {
    // SAFETY: per contract.
    unsafe { media.as_ref() }.map_or(ptr::null_mut(), |m| m.data)
}

/// # Safety
/// `media` must be NULL or a live `NewMediaData` pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn GetIndexLen(media: *mut MediaData_t) -> c_int {
    // SAFETY: per contract.
    unsafe { media.as_ref() }.map_or(0, |m| m.out_len)
}

/// # Safety
/// `media` must be NULL or a live `NewMediaData` pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn GetDataLen(media: *mut MediaData_t) -> c_int {
    // SAFETY: per contract.
    unsafe { media.as_ref() }.map_or(0, |m| m.data_len)
}

/// # Safety
/// `media` must be NULL or a live `NewMediaData` pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IsMediaDataFinish(media: *mut MediaData_t) -> c_int {
    // SAFETY: per contract.
    unsafe { media.as_ref() }.map_or(0, |m| m.is_finish)
}
