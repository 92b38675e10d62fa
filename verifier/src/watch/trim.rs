//! Giving freed heap memory back to the kernel after a check that hashed files.
//!
//! The first verification of a large model allocates a few MiB (the signed statement, two
//! manifests) that glibc keeps in its arenas after they are freed; a long-running sidecar
//! should not keep its peak as its idle RSS. `malloc_trim(0)` returns the free pages.
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
