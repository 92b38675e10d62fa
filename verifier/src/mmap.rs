//! Memory maps of files: with [`crate::watch::trim`], the only `unsafe` code of the verifier.
//!
//! Two uses:
//! - [`with_window`]: read-only maps of bounded windows, for BLAKE3 only, where it measurably
//!   helps: BLAKE3 hashes faster than `read(2)` can copy from the page cache, so skipping the copy
//!   raises its throughput by about half (README, benchmarks). SHA-256 and BLAKE2b are slower than
//!   the copy and keep using `read(2)`. Windows are bounded ([`WINDOW`]) and unmapped before the
//!   next one is mapped, so the resident set stays small whatever the file size (mapped
//!   page-cache pages count in RSS).
//! - [`Residency`]: which parts of a file are in the page cache (`mincore(2)` over a map that is
//!   never read, so it costs no memory), to choose between the page cache and direct reads.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;

use memmap2::{Advice, Mmap, MmapOptions};

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

/// Page-cache residency of a byte range of a file, from `mincore(2)`.
///
/// The map is never dereferenced: it only names the pages to `mincore`, which for a file map
/// reports whether each page is in the page cache. It is a hint for choosing how to read, never
/// used for what is hashed.
#[derive(Debug)]
pub(crate) struct Residency {
    map: Mmap,
    /// File offset of the first mapped byte (a multiple of the page size).
    base: u64,
    page: usize,
}

impl Residency {
    /// Maps (without reading) the pages holding `[offset, offset + len)` of `file`.
    pub(crate) fn new(file: &File, offset: u64, len: u64) -> io::Result<Self> {
        let page = rustix::param::page_size();
        let base = offset - offset % page as u64;
        let span = usize::try_from(offset - base + len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "range too large to map"))?;
        // SAFETY: the map is private to this struct and nothing reads through it (only its
        // address is passed to `mincore`), so a file changed or truncated meanwhile cannot affect
        // us: no page of it is ever touched.
        let map = unsafe { MmapOptions::new().offset(base).len(span.max(1)).map(file)? };
        Ok(Self { map, base, page })
    }

    /// Whether every page of `[offset, offset + len)` (inside the mapped range) is in the page
    /// cache. Ranges outside the map are reported as not resident.
    pub(crate) fn all_resident(&self, offset: u64, len: u64) -> io::Result<bool> {
        let page = self.page as u64;
        let (Some(rel), Some(end)) = (offset.checked_sub(self.base), offset.checked_add(len))
        else {
            return Ok(false);
        };
        let end_rel = end - self.base;
        if end_rel > self.map.len() as u64 {
            return Ok(false);
        }
        let first = rel / page;
        let last = end_rel.div_ceil(page);
        // At most this many pages per call keeps the result vector small.
        const BATCH: u64 = 4096;
        let mut vec = [0u8; BATCH as usize];
        let mut p = first;
        while p < last {
            let n = (last - p).min(BATCH);
            let (Ok(at), Ok(count)) = (usize::try_from(p * page), usize::try_from(n)) else {
                return Ok(false);
            };
            // The map's length is not always a multiple of the page size; mincore needs whole
            // pages, and the last page is mapped whole by the kernel.
            let bytes = count * self.page;
            // SAFETY: `at` is a page-aligned offset inside the map (the map starts on a page
            // boundary, `p < last <= ceil(map.len() / page)`), `bytes` covers `count` whole pages
            // of it, which the kernel mapped, and `vec` has room for `count <= BATCH` entries.
            let rc = unsafe {
                libc::mincore(
                    self.map.as_ptr().add(at).cast_mut().cast(),
                    bytes,
                    vec.as_mut_ptr(),
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            if vec[..count].iter().any(|v| v & 1 == 0) {
                return Ok(false);
            }
            p += n;
        }
        Ok(true)
    }
}
