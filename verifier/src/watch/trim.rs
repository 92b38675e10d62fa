//! Keeping the heap of a long-running `watch` small.
//!
//! The first verification of a large model allocates a few MiB (the signed statement, two
//! manifests) that glibc keeps in its arenas after they are freed; a long-running sidecar
//! should not keep its peak as its idle RSS. `malloc_trim(0)` returns the free pages after a
//! check that read files. And `watch` uses one malloc arena ([`single_arena`]): with one per
//! hashing thread, each arena kept about 1.4 MiB of partly used pages after the first check of a
//! 10,000-file model (measured: idle RSS 13.0 MiB with three arenas, 10.4 MiB with one).
//! This and `crate::mmap` are the only `unsafe` code of the verifier.
#![allow(unsafe_code)]

/// Returns free heap pages to the kernel (glibc); a no-op elsewhere.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only walks glibc's own arenas under their
    // locks; it is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Makes every thread allocate from the main arena (glibc); a no-op elsewhere. Called before
/// `watch` starts any thread; `true` when glibc took the setting.
pub fn single_arena() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes two integers and only changes glibc's malloc parameters under its
    // own lock; M_ARENA_MAX limits the arenas created from now on.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1) == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}
