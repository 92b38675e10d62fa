//! Reading a large item that is not in the page cache: a reader thread fills a few buffers,
//! with direct I/O where the filesystem allows it, while the calling thread hashes.
//!
//! Why: on a cold page cache, `read(2)` makes a hashing thread wait for the disk, and the kernel
//! spends CPU on the page cache (allocating pages, inserting, copying out, reclaiming) that a
//! small machine needs for hashing; measured on 2 cores, that kernel time also varies from run to
//! run by a factor of ten. Direct reads (`O_DIRECT`) move the bytes from the device into our own
//! buffers, with almost no kernel CPU, and the reader thread keeps the device busy while the
//! caller hashes the previous chunk. Chunks that are already in the page cache are copied from it
//! as usual (a direct read would fetch them from the device again), and a filesystem without
//! direct I/O gets buffered reads, still on the reader thread.
//!
//! Memory is bounded: [`DEPTH`] buffers of [`CHUNK`] bytes (plus alignment slack) per item being
//! read, whatever the file size. Direct reads see what the page cache would show: the kernel
//! writes dirty cached pages back before it reads the device.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::mpsc;

use rustix::fs::OFlags;

use crate::mmap::Residency;

/// Bytes per chunk (and per read).
pub(crate) const CHUNK: usize = 1 << 20;
/// Buffers per item: one being hashed, the others being filled.
pub(crate) const DEPTH: usize = 3;
/// Alignment of direct reads: buffer address, file offset and length. 4096 covers devices with
/// 512- and 4096-byte logical blocks; anything stricter makes the read fail with `EINVAL` and
/// the item falls back to buffered reads.
const ALIGN: usize = 4096;

/// How the reader chooses, per chunk, between the page cache and direct reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// Cached chunks from the page cache, the others read directly.
    Auto(&'a Residency),
    /// Every chunk read directly (where the filesystem allows it); for tests.
    #[cfg(test)]
    Direct,
}

/// Bytes read each way, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadStats {
    /// Read with `O_DIRECT`.
    pub(crate) direct: u64,
    /// Read through the page cache.
    pub(crate) buffered: u64,
}

/// A buffer whose usable window starts at a 4096-byte aligned address.
struct Buffer {
    bytes: Vec<u8>,
    aligned: usize,
}

impl Buffer {
    fn new() -> Self {
        // CHUNK + ALIGN is the largest direct read (an unaligned start adds up to ALIGN - 1 bytes
        // in front); one more ALIGN leaves room to align the start.
        let bytes = vec![0u8; CHUNK + 2 * ALIGN];
        let aligned = bytes.as_ptr().align_offset(ALIGN);
        Self { bytes, aligned }
    }

    /// The aligned window for direct reads, or `None` if the allocation could not be aligned.
    fn direct_window(&mut self) -> Option<&mut [u8]> {
        let start = self.aligned;
        self.bytes.get_mut(start..start.checked_add(CHUNK + ALIGN)?)
    }
}

/// A filled chunk: `buf.bytes[start..start + len]`.
struct Filled {
    buf: Buffer,
    start: usize,
    len: usize,
}

/// Reads `[start, end)` of `file` (to the end of the file if `end` is `None`) on a helper thread
/// and passes the bytes, in order, to `consume`. Returns the number of bytes read (less than
/// asked if the file is shorter) and how they were read.
pub(crate) fn read_pipelined(
    file: &File,
    start: u64,
    end: Option<u64>,
    source: Source<'_>,
    mut consume: impl FnMut(&[u8]),
) -> io::Result<(u64, ReadStats)> {
    let (full_tx, full_rx) = mpsc::sync_channel::<io::Result<Filled>>(DEPTH);
    let (empty_tx, empty_rx) = mpsc::sync_channel::<Buffer>(DEPTH);
    for _ in 0..DEPTH {
        // Cannot fail: the channel has room for DEPTH buffers and its receiver is alive.
        let _ = empty_tx.send(Buffer::new());
    }
    std::thread::scope(|scope| {
        let reader = std::thread::Builder::new()
            .name("mv-read".into())
            .spawn_scoped(scope, move || {
                let mut reader = Reader::new(file, source);
                let result = reader.run(start, end, &empty_rx, &full_tx);
                reader.restore();
                if let Err(e) = result {
                    let _ = full_tx.send(Err(e));
                }
                reader.stats
            })?;
        let mut total = 0u64;
        let mut failed = None;
        // The reader ends the stream by dropping its sender: at the end of the range, at the end
        // of the file, or after sending an error.
        while let Ok(msg) = full_rx.recv() {
            match msg {
                Ok(f) => {
                    if let Some(bytes) = f.buf.bytes.get(f.start..f.start + f.len) {
                        consume(bytes);
                        total += f.len as u64;
                    }
                    // Fails once the reader has finished; the chunks it queued are still read.
                    let _ = empty_tx.send(f.buf);
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        // Unblocks a reader waiting for a buffer, so the join below returns.
        drop(empty_tx);
        drop(full_rx);
        let stats = reader
            .join()
            .map_err(|_| io::Error::other("the reader thread panicked"))?;
        match failed {
            Some(e) => Err(e),
            None => Ok((total, stats)),
        }
    })
}

/// The reader thread's state: the file, and whether `O_DIRECT` is set on it.
struct Reader<'a> {
    file: &'a File,
    source: Source<'a>,
    /// The file's status flags when we started, restored at the end.
    flags: Option<OFlags>,
    direct_set: bool,
    /// False once the filesystem refused direct I/O: every later chunk is buffered.
    direct_usable: bool,
    stats: ReadStats,
}

impl<'a> Reader<'a> {
    fn new(file: &'a File, source: Source<'a>) -> Self {
        let flags = rustix::fs::fcntl_getfl(file).ok();
        Self {
            file,
            source,
            direct_usable: flags.is_some(),
            flags,
            direct_set: false,
            stats: ReadStats::default(),
        }
    }

    fn run(
        &mut self,
        start: u64,
        end: Option<u64>,
        empty: &mpsc::Receiver<Buffer>,
        full: &mpsc::SyncSender<io::Result<Filled>>,
    ) -> io::Result<()> {
        let mut pos = start;
        loop {
            let want = match end {
                Some(e) if e <= pos => return Ok(()),
                Some(e) => usize::try_from(e - pos).map_or(CHUNK, |r| r.min(CHUNK)),
                None => CHUNK,
            };
            // The consumer is gone (it stopped early): nothing more to do.
            let Ok(mut buf) = empty.recv() else {
                return Ok(());
            };
            let cached = match self.source {
                Source::Auto(residency) => residency.all_resident(pos, want as u64).unwrap_or(true),
                #[cfg(test)]
                Source::Direct => false,
            };
            let mut got = None;
            if !cached && self.direct_usable {
                got = self.read_direct(&mut buf, pos, want)?;
            }
            let (at, len) = match got {
                Some(r) => r,
                None => (0, self.read_buffered(&mut buf, pos, want)?),
            };
            if len == 0 {
                return Ok(());
            }
            pos += len as u64;
            if full
                .send(Ok(Filled {
                    buf,
                    start: at,
                    len,
                }))
                .is_err()
            {
                return Ok(());
            }
        }
    }

    /// A direct read of `[pos, pos + want)`, widened to aligned bounds. `None` when direct I/O
    /// is not possible (the caller reads buffered instead) or when it found no bytes (the
    /// buffered read then tells the end of the file from a short read).
    fn read_direct(
        &mut self,
        buf: &mut Buffer,
        pos: u64,
        want: usize,
    ) -> io::Result<Option<(usize, usize)>> {
        if !self.direct_set
            && let Err(e) = self.set_direct(true)
        {
            tracing::debug!(error = %e, "direct I/O not available, reading through the page cache");
            self.direct_usable = false;
            return Ok(None);
        }
        let base = buf.aligned;
        let Some(window) = buf.direct_window() else {
            self.direct_usable = false;
            return Ok(None);
        };
        let head = (pos % ALIGN as u64) as usize;
        let len = (head + want).next_multiple_of(ALIGN);
        let n = loop {
            match self.file.read_at(&mut window[..len], pos - head as u64) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Alignment or filesystem constraints: read this item through the page cache.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    tracing::debug!(error = %e, "direct read refused, reading through the page cache");
                    self.direct_usable = false;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        };
        let got = n.saturating_sub(head).min(want);
        if got == 0 {
            return Ok(None);
        }
        self.stats.direct += got as u64;
        Ok(Some((base + head, got)))
    }

    /// A buffered read of up to `want` bytes at `pos` into the start of the buffer.
    fn read_buffered(&mut self, buf: &mut Buffer, pos: u64, want: usize) -> io::Result<usize> {
        if self.direct_set {
            self.set_direct(false)?;
        }
        loop {
            match self.file.read_at(&mut buf.bytes[..want], pos) {
                Ok(n) => {
                    self.stats.buffered += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn set_direct(&mut self, on: bool) -> io::Result<()> {
        let flags = self
            .flags
            .ok_or_else(|| io::Error::other("file status flags unknown"))?;
        let flags = if on { flags | OFlags::DIRECT } else { flags };
        rustix::fs::fcntl_setfl(self.file, flags)?;
        self.direct_set = on;
        Ok(())
    }

    /// Leaves the file as it was opened.
    fn restore(&mut self) {
        if self.direct_set {
            let _ = self.set_direct(false);
        }
    }
}
