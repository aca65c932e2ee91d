//! Handing freed heap back to the operating system after a big, short-lived build (a rules
//! version's matcher peaks at several times the size it keeps): glibc's allocator keeps freed
//! small blocks for reuse, so without this a process's resident size stays at the build's peak.

/// Returns the heap's free pages to the operating system (glibc's `malloc_trim`; nothing
/// elsewhere).
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
