//! Read-only memory maps of bounded windows of a file: the only `unsafe` code of the verifier.
//!
//! Used for BLAKE3 only, where it measurably helps: BLAKE3 hashes faster than `read(2)` can copy
//! from the page cache, so skipping the copy raises its throughput by about half (README,
//! benchmarks). SHA-256 and BLAKE2b are slower than the copy and keep using `read(2)`.
//!
//! Windows are bounded ([`WINDOW`]) and unmapped before the next one is mapped, so the resident
//! set stays small whatever the file size (mapped page-cache pages count in RSS).

#![allow(unsafe_code)]

use std::fs::File;
use std::io;

use memmap2::{Advice, MmapOptions};

/// Bytes mapped at a time.
pub(crate) const WINDOW: usize = 4 << 20;

/// Calls `f` with the bytes `[offset, offset + len)` of `file`, mapped read-only.
pub(crate) fn with_window<R>(
    file: &File,
    offset: u64,
    len: usize,
    f: impl FnOnce(&[u8]) -> R,
) -> io::Result<R> {
    // SAFETY: the map is read-only and private to this call; it is dropped (unmapped) before we
    // return, so no reference to it outlives the call. What a memory map cannot rule out is
    // another process changing the file meanwhile: its bytes may then change under `f` (the
    // digest is of some mix of old and new contents, which cannot match a signature any more
    // than the new contents would) or, if the file is truncated, the access raises SIGBUS and the
    // verifier dies with a non-zero status. Both end in a failed verification, never a false
    // success; callers only pass ranges inside the size the file had when it was opened.
    let map = unsafe {
        MmapOptions::new()
            .offset(offset)
            .len(len)
            .populate()
            .map(file)?
    };
    // Advisory only: a failure changes nothing.
    let _ = map.advise(Advice::Sequential);
    Ok(f(&map))
}
