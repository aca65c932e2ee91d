//! RAII guards for the SDK's two output buffers: a [`SliceGuard`] frees its `Slice_t` and a
//! [`MediaGuard`] its `MediaData_t` on every path, errors and panics included. Contents are read
//! through the SDK's accessors with their explicit lengths — never `strlen`, since media is binary.

use std::ptr::NonNull;

use wework_finance_sys::{MediaData_t, Slice_t};

use super::error::SdkError;
use super::library::Loaded;

/// Reads `len` bytes at `ptr`, treating NULL or a non-positive length as empty.
///
/// # Safety
/// When non-NULL with `len > 0`, `ptr` must be valid for `len` bytes for the returned lifetime.
unsafe fn bytes_at<'a>(ptr: *const std::ffi::c_char, len: std::ffi::c_int) -> &'a [u8] {
    if ptr.is_null() || len <= 0 {
        return &[];
    }
    // SAFETY: per this function's contract.
    unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize) }
}

/// An owned `Slice_t`.
pub(crate) struct SliceGuard<'l> {
    lib: &'l Loaded,
    ptr: NonNull<Slice_t>,
}

impl<'l> SliceGuard<'l> {
    pub fn new(lib: &'l Loaded, call: &'static str) -> Result<Self, SdkError> {
        // SAFETY: NewSlice takes no arguments and returns an owned slice or NULL.
        let raw = unsafe { (lib.fns.new_slice)() };
        let ptr = NonNull::new(raw).ok_or(SdkError::Alloc { call })?;
        Ok(SliceGuard { lib, ptr })
    }

    pub fn as_ptr(&self) -> *mut Slice_t {
        self.ptr.as_ptr()
    }

    /// The slice's content (`GetSliceLen` bytes from `GetContentFromSlice`).
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is live until Drop; the SDK guarantees the content pointer is valid for
        // `GetSliceLen` bytes until the slice is freed or written again, and `&self` prevents both.
        unsafe {
            let content = (self.lib.fns.get_content_from_slice)(self.ptr.as_ptr());
            let len = (self.lib.fns.get_slice_len)(self.ptr.as_ptr());
            bytes_at(content, len)
        }
    }
}

impl Drop for SliceGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from NewSlice and is freed exactly once, here.
        unsafe { (self.lib.fns.free_slice)(self.ptr.as_ptr()) }
    }
}

/// An owned `MediaData_t`.
pub(crate) struct MediaGuard<'l> {
    lib: &'l Loaded,
    ptr: NonNull<MediaData_t>,
}

impl<'l> MediaGuard<'l> {
    pub fn new(lib: &'l Loaded) -> Result<Self, SdkError> {
        // SAFETY: NewMediaData takes no arguments and returns an owned struct or NULL.
        let raw = unsafe { (lib.fns.new_media_data)() };
        let ptr = NonNull::new(raw).ok_or(SdkError::Alloc {
            call: "NewMediaData",
        })?;
        Ok(MediaGuard { lib, ptr })
    }

    pub fn as_ptr(&self) -> *mut MediaData_t {
        self.ptr.as_ptr()
    }

    /// The chunk's bytes (`GetDataLen` bytes from `GetData`; binary, NULs included).
    pub fn data(&self) -> &[u8] {
        // SAFETY: as for `SliceGuard::bytes`, with GetData/GetDataLen.
        unsafe {
            let data = (self.lib.fns.get_data)(self.ptr.as_ptr());
            let len = (self.lib.fns.get_data_len)(self.ptr.as_ptr());
            bytes_at(data, len)
        }
    }

    /// The index string for the next chunk.
    pub fn next_index(&self) -> &[u8] {
        // SAFETY: as for `SliceGuard::bytes`, with GetOutIndexBuf/GetIndexLen.
        unsafe {
            let index = (self.lib.fns.get_out_index_buf)(self.ptr.as_ptr());
            let len = (self.lib.fns.get_index_len)(self.ptr.as_ptr());
            bytes_at(index, len)
        }
    }

    pub fn is_finished(&self) -> bool {
        // SAFETY: `ptr` is live until Drop.
        unsafe { (self.lib.fns.is_media_data_finish)(self.ptr.as_ptr()) != 0 }
    }
}

impl Drop for MediaGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from NewMediaData and is freed exactly once, here.
        unsafe { (self.lib.fns.free_media_data)(self.ptr.as_ptr()) }
    }
}
