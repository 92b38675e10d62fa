//! The hashing engine: algorithms, serializations and the parallel hasher.
//!
//! Work items (whole files, or shards of files) are hashed in parallel with rayon, largest
//! first so that one big file does not finish last. SHA-256 and BLAKE2b items are streamed
//! through a per-thread buffer with `read(2)`: memory stays constant whatever the model size,
//! the page cache is not charged to our RSS, and a file truncated while we read it is an error.
//! Several items in flight keep the disk busy while other threads hash. A large item that is
//! not in the page cache is read on a helper thread, with direct I/O, while its hashing thread
//! hashes (`crate::stream`): reading overlaps with hashing and the kernel spends almost no CPU
//! on the page cache. BLAKE3 is faster than the copy out of the page cache, so large BLAKE3 items
//! are hashed through bounded memory maps instead (`crate::mmap`), each window on several
//! threads.

use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::str::FromStr;

use blake2::Blake2b512;
use indicatif::ProgressBar;
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::{mmap, stream};

/// The default shard size of `model_signing` (10^9 bytes, not 2^30).
pub const DEFAULT_SHARD_SIZE: u64 = 1_000_000_000;

/// Bytes read per `read(2)` call.
const CHUNK: usize = 1 << 20;
/// BLAKE3 chunks are larger so each one splits across threads.
const BLAKE3_CHUNK: usize = 4 << 20;
/// BLAKE3 items at least this large are hashed through memory maps.
const MMAP_MIN: u64 = 1 << 20;
/// Items at least this large that are not in the page cache are read on a helper thread.
const PIPELINE_MIN: u64 = 4 << 20;
/// BLAKE3 inputs at least this large are split into subtrees hashed on separate threads.
const BLAKE3_SPLIT_MIN: u64 = 64 << 20;
/// Below this chunk size BLAKE3's multithreading costs more than it gains.
const BLAKE3_RAYON_MIN: usize = 256 << 10;

/// A content hash function of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HashAlgorithm {
    /// SHA-256 (the default and the only one the `model_signing` CLI uses).
    #[default]
    Sha256,
    /// BLAKE2b with 64-byte output (written as `blake2b`).
    Blake2b,
    /// BLAKE3 with 32-byte output.
    Blake3,
}

impl HashAlgorithm {
    /// The name written in the signature (`sha256`, `blake2b`, `blake3`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Blake2b => "blake2b",
            Self::Blake3 => "blake3",
        }
    }

    /// Hashes a byte slice in one go.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = StreamHasher::new(self);
        h.update(data);
        h.finalize()
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An algorithm name that is not one of the format's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported hash algorithm '{0}' (expected sha256, blake2b or blake3)")]
pub struct UnknownAlgorithm(pub String);

impl FromStr for HashAlgorithm {
    type Err = UnknownAlgorithm;

    /// Accepts the signature names and the Python API's config name `blake2`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sha256" => Ok(Self::Sha256),
            "blake2b" | "blake2" => Ok(Self::Blake2b),
            "blake3" => Ok(Self::Blake3),
            other => Err(UnknownAlgorithm(other.to_owned())),
        }
    }
}

/// How a model is cut into resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Serialization {
    /// One resource per file (the default).
    #[default]
    Files,
    /// Files cut into shards of `shard_size` bytes (the last one shorter; empty files vanish).
    Shards {
        /// Shard size in bytes, > 0.
        shard_size: u64,
    },
}

impl Serialization {
    /// The `method` written in the signature.
    pub fn method(self) -> &'static str {
        match self {
            Self::Files => "files",
            Self::Shards { .. } => "shards",
        }
    }
}

/// Algorithm and serialization together: everything that decides the resource digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashingConfig {
    /// The content hash.
    pub algorithm: HashAlgorithm,
    /// Files or shards.
    pub serialization: Serialization,
}

impl HashingConfig {
    /// The config as `model_signing` builds it. BLAKE3 is never sharded (Python turns it into
    /// file serialization silently; so do we, so the signatures agree).
    pub fn new(algorithm: HashAlgorithm, serialization: Serialization) -> Self {
        let serialization = match (algorithm, serialization) {
            (HashAlgorithm::Blake3, Serialization::Shards { .. }) => Serialization::Files,
            (_, s) => s,
        };
        Self {
            algorithm,
            serialization,
        }
    }

    /// The `algorithm` string of each resource: `sha256`, or `sha256-sharded-<size>`.
    pub(crate) fn resource_algorithm(&self) -> String {
        match self.serialization {
            Serialization::Files => self.algorithm.name().to_owned(),
            Serialization::Shards { shard_size } => {
                format!("{}-sharded-{shard_size}", self.algorithm.name())
            }
        }
    }
}

/// An incremental hasher for one of the algorithms.
#[derive(Debug, Clone)]
pub(crate) enum StreamHasher {
    /// SHA-256.
    Sha256(Sha256),
    /// BLAKE2b-512.
    Blake2b(Box<Blake2b512>),
    /// BLAKE3.
    Blake3(Box<blake3::Hasher>),
}

impl StreamHasher {
    /// A fresh hasher.
    pub(crate) fn new(algorithm: HashAlgorithm) -> Self {
        match algorithm {
            HashAlgorithm::Sha256 => Self::Sha256(Sha256::new()),
            HashAlgorithm::Blake2b => Self::Blake2b(Box::default()),
            HashAlgorithm::Blake3 => Self::Blake3(Box::default()),
        }
    }

    /// Feeds bytes.
    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Blake2b(h) => h.update(data),
            Self::Blake3(h)
                if data.len() >= BLAKE3_RAYON_MIN && rayon::current_num_threads() > 1 =>
            {
                h.update_rayon(data);
            }
            Self::Blake3(h) => {
                h.update(data);
            }
        }
    }

    /// The digest bytes.
    pub(crate) fn finalize(self) -> Vec<u8> {
        match self {
            Self::Sha256(h) => h.finalize().to_vec(),
            Self::Blake2b(h) => h.finalize().to_vec(),
            Self::Blake3(h) => h.finalize().as_bytes().to_vec(),
        }
    }
}

/// One unit of hashing work: a whole file or a byte range of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HashItem {
    /// The file to open (symlinks are followed).
    pub path: PathBuf,
    /// First byte.
    pub start: u64,
    /// End of the range (exclusive), or `None` for "until end of file".
    pub end: Option<u64>,
    /// Expected number of bytes, used to schedule large items first and for progress.
    pub size_hint: u64,
}

/// Reading a file failed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The file could not be opened or read.
    #[error("Cannot read '{}': {source}", crate::posix::shown(path))]
    Io {
        /// The file, as built from the model path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file became shorter than a shard that the walk found in it.
    #[error(
        "'{}' changed while it was hashed: expected bytes up to {expected}, found {found}",
        crate::posix::shown(path)
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// End of the shard.
        expected: u64,
        /// Bytes actually there.
        found: u64,
    },
}

/// The digest and byte count of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemDigest {
    /// Raw digest bytes.
    pub digest: Vec<u8>,
    /// Bytes hashed.
    pub bytes: u64,
}

/// Opens a file to hash and returns its size. The walk found a regular file here, but it may
/// have been replaced since (`watch` reads files that are being changed): the open does not
/// block on a FIFO, and anything but a regular file is refused.
fn open_regular(path: &std::path::Path) -> io::Result<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (it was replaced after the walk)",
        ));
    }
    let flags = rustix::fs::fcntl_getfl(&file)?;
    rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK)?;
    Ok((file, meta.len()))
}

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Hashes one item: with a per-thread buffer, through bounded maps (BLAKE3) or, if `direct_io`
/// and the item is large and not in the page cache, read on a helper thread.
pub(crate) fn hash_item(
    item: &HashItem,
    algorithm: HashAlgorithm,
    direct_io: bool,
    progress: &ProgressBar,
) -> Result<ItemDigest, HashError> {
    let io_err = |source| HashError::Io {
        path: item.path.clone(),
        source,
    };
    let (mut file, size) = open_regular(&item.path).map_err(io_err)?;
    let end = item.end.unwrap_or(size);
    let len = end.saturating_sub(item.start);
    if algorithm == HashAlgorithm::Blake3 && end <= size && len >= MMAP_MIN {
        return hash_mapped(item, &file, end, progress);
    }
    // A large item not (wholly) in the page cache is read on a helper thread, directly from the
    // device where possible, while this thread hashes (`crate::stream`).
    if direct_io
        && len >= PIPELINE_MIN
        && end <= size
        && let Ok(residency) = mmap::Residency::new(&file, item.start, len)
        && matches!(residency.all_resident(item.start, len), Ok(false))
    {
        return hash_streamed(
            item,
            &file,
            algorithm,
            stream::Source::Auto(&residency),
            progress,
        )
        .map(|(digest, _)| digest);
    }
    if item.start > 0 {
        file.seek(SeekFrom::Start(item.start)).map_err(io_err)?;
    }
    let max_chunk = match algorithm {
        HashAlgorithm::Blake3 => BLAKE3_CHUNK,
        _ => CHUNK,
    };
    // Small files need no 1 MiB buffer: the per-thread buffer grows only as large as the
    // largest item (rounded to 64 KiB) this thread has read, which keeps memory low for models
    // of many small files.
    let chunk = usize::try_from(item.size_hint).map_or(max_chunk, |n| {
        n.next_multiple_of(64 << 10).clamp(64 << 10, max_chunk)
    });
    let mut remaining = item.end.map(|e| e.saturating_sub(item.start));
    let mut hasher = StreamHasher::new(algorithm);
    let mut total = 0u64;
    BUFFER.with(|cell| -> Result<(), HashError> {
        let mut buf = cell.borrow_mut();
        if buf.len() < chunk {
            buf.resize(chunk, 0);
        }
        loop {
            let want = match remaining {
                Some(0) => break,
                Some(r) => usize::try_from(r).map_or(chunk, |r| r.min(chunk)),
                None => chunk,
            };
            let n = match file.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(e)),
            };
            hasher.update(&buf[..n]);
            total += n as u64;
            progress.inc(n as u64);
            if let Some(r) = remaining.as_mut() {
                *r -= n as u64;
            }
        }
        Ok(())
    })?;
    if let (Some(end), Some(left)) = (item.end, remaining)
        && left > 0
    {
        return Err(HashError::Truncated {
            path: item.path.clone(),
            expected: end,
            found: end - left,
        });
    }
    Ok(ItemDigest {
        digest: hasher.finalize(),
        bytes: total,
    })
}

/// Hashes an item read by [`stream::read_pipelined`].
fn hash_streamed(
    item: &HashItem,
    file: &File,
    algorithm: HashAlgorithm,
    source: stream::Source<'_>,
    progress: &ProgressBar,
) -> Result<(ItemDigest, stream::ReadStats), HashError> {
    let mut hasher = StreamHasher::new(algorithm);
    let (total, stats) = stream::read_pipelined(file, item.start, item.end, source, |bytes| {
        hasher.update(bytes);
        progress.inc(bytes.len() as u64);
    })
    .map_err(|source| HashError::Io {
        path: item.path.clone(),
        source,
    })?;
    tracing::debug!(
        path = %item.path.display(),
        start = item.start,
        direct = stats.direct,
        buffered = stats.buffered,
        "read on a helper thread"
    );
    if let Some(end) = item.end
        && item.start + total < end
    {
        return Err(HashError::Truncated {
            path: item.path.clone(),
            expected: end,
            found: item.start + total,
        });
    }
    Ok((
        ItemDigest {
            digest: hasher.finalize(),
            bytes: total,
        },
        stats,
    ))
}

/// BLAKE3 over `[item.start, end)` through bounded memory maps (no copy out of the page cache).
fn hash_mapped(
    item: &HashItem,
    file: &File,
    end: u64,
    progress: &ProgressBar,
) -> Result<ItemDigest, HashError> {
    let io_err = |source| HashError::Io {
        path: item.path.clone(),
        source,
    };
    let len = end - item.start;
    let digest =
        blake3_mapped(file, item.start, len, BLAKE3_SPLIT_MIN, progress).map_err(io_err)?;
    // A whole-file item covers the file as it is now: one that changed size meanwhile fails.
    let now = file.metadata().map_err(io_err)?.len();
    if item.end.is_none() && now != end {
        return Err(HashError::Truncated {
            path: item.path.clone(),
            expected: end,
            found: now,
        });
    }
    Ok(ItemDigest {
        digest: digest.to_vec(),
        bytes: len,
    })
}

/// BLAKE3 of the `len` bytes of `file` from `pos`.
///
/// With several threads, an input of at least `split_min` bytes is cut where BLAKE3's tree cuts
/// it (the left subtree is the largest power-of-two number of 1 KiB chunks short of the whole),
/// recursively; the subtrees are hashed on separate threads, each streaming its own windows, and
/// their chaining values are merged. Smaller inputs hash window by window, each window on all
/// threads. Both give `blake3::hash` of the bytes (tested against it).
fn blake3_mapped(
    file: &File,
    pos: u64,
    len: u64,
    split_min: u64,
    progress: &ProgressBar,
) -> io::Result<[u8; 32]> {
    use blake3::hazmat::{Mode, left_subtree_len, merge_subtrees_root};
    if len >= split_min.max(2 * blake3::CHUNK_LEN as u64) && rayon::current_num_threads() > 1 {
        let left = left_subtree_len(len);
        let (l, r) = rayon::join(
            || blake3_subtree(file, pos, 0, left, split_min, progress),
            || blake3_subtree(file, pos + left, left, len - left, split_min, progress),
        );
        return Ok(*merge_subtrees_root(&l?, &r?, Mode::Hash).as_bytes());
    }
    let mut hasher = blake3::Hasher::new();
    for_each_window(file, pos, len, progress, |bytes| {
        if rayon::current_num_threads() > 1 {
            hasher.update_rayon(bytes);
        } else {
            hasher.update(bytes);
        }
    })?;
    Ok(*hasher.finalize().as_bytes())
}

/// The chaining value of the BLAKE3 subtree of `len` bytes at `offset` in the hashed input,
/// read from `file` at `pos`. `offset` is a multiple of the subtree's power-of-two size (0, or a
/// sum of left-subtree lengths, each at least half of `split_min`), so a multiple of the 1 KiB
/// chunk length, and `len >= 1`: what `set_input_offset` and `finalize_non_root` require.
fn blake3_subtree(
    file: &File,
    pos: u64,
    offset: u64,
    len: u64,
    split_min: u64,
    progress: &ProgressBar,
) -> io::Result<blake3::hazmat::ChainingValue> {
    use blake3::hazmat::{HasherExt, Mode, left_subtree_len, merge_subtrees_non_root};
    if len >= split_min.max(2 * blake3::CHUNK_LEN as u64) {
        let left = left_subtree_len(len);
        let (l, r) = rayon::join(
            || blake3_subtree(file, pos, offset, left, split_min, progress),
            || {
                blake3_subtree(
                    file,
                    pos + left,
                    offset + left,
                    len - left,
                    split_min,
                    progress,
                )
            },
        );
        return Ok(merge_subtrees_non_root(&l?, &r?, Mode::Hash));
    }
    let mut hasher = blake3::Hasher::new();
    hasher.set_input_offset(offset);
    for_each_window(file, pos, len, progress, |bytes| {
        hasher.update(bytes);
    })?;
    Ok(hasher.finalize_non_root())
}

/// Calls `f` with `[pos, pos + len)` of `file`, one bounded memory map at a time.
fn for_each_window(
    file: &File,
    mut pos: u64,
    len: u64,
    progress: &ProgressBar,
    mut f: impl FnMut(&[u8]),
) -> io::Result<()> {
    let end = pos + len;
    while pos < end {
        let n = usize::try_from(end - pos).map_or(mmap::WINDOW, |n| n.min(mmap::WINDOW));
        mmap::with_window(file, pos, n, &mut f)?;
        pos += n as u64;
        progress.inc(n as u64);
    }
    Ok(())
}

/// Hashes all items in parallel; results come back in the items' order.
///
/// With `direct_io`, large items that are not in the page cache are read with direct I/O on a
/// helper thread ([`crate::stream`]); without it, everything is read through the page cache.
pub(crate) fn hash_items(
    items: &[HashItem],
    algorithm: HashAlgorithm,
    direct_io: bool,
    progress: &ProgressBar,
) -> Result<Vec<ItemDigest>, HashError> {
    // Largest first: a long item started last would leave the other threads idle at the end.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[b].size_hint.cmp(&items[a].size_hint).then(a.cmp(&b)));
    let mut results: Vec<(usize, ItemDigest)> = order
        .into_par_iter()
        .with_max_len(1)
        .map(|i| hash_item(&items[i], algorithm, direct_io, progress).map(|d| (i, d)))
        .collect::<Result<_, _>>()?;
    results.sort_unstable_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, d)| d).collect())
}

/// The shard boundaries of a file of `size` bytes: `[0,s), [s,2s), …, [k·s, size)`.
/// An empty file has none.
pub(crate) fn shard_ranges(size: u64, shard_size: u64) -> impl Iterator<Item = (u64, u64)> {
    let step = shard_size.max(1);
    (0..size.div_ceil(step)).map(move |k| {
        let start = k * step;
        (start, (start + step).min(size))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_fifo_or_directory_in_place_of_a_file_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("weights.bin");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        for path in [fifo, dir.path().to_owned()] {
            let item = HashItem {
                path,
                start: 0,
                end: None,
                size_hint: 1,
            };
            let err = hash_item(&item, HashAlgorithm::Sha256, true, &ProgressBar::hidden())
                .unwrap_err()
                .to_string();
            assert!(err.contains("not a regular file"), "{err}");
        }
    }

    #[test]
    fn known_digests_of_the_empty_string() {
        assert_eq!(
            hex::encode(HashAlgorithm::Sha256.digest(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex::encode(HashAlgorithm::Blake3.digest(b"")),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        let b2 = HashAlgorithm::Blake2b.digest(b"");
        assert_eq!(b2.len(), 64);
        assert!(hex::encode(b2).starts_with("786a02f742015903c6c6fd852552d272"));
    }

    #[test]
    fn algorithm_names_round_trip_and_blake2_is_an_alias() {
        for a in [
            HashAlgorithm::Sha256,
            HashAlgorithm::Blake2b,
            HashAlgorithm::Blake3,
        ] {
            assert_eq!(a.name().parse::<HashAlgorithm>().unwrap(), a);
        }
        assert_eq!(
            "blake2".parse::<HashAlgorithm>().unwrap(),
            HashAlgorithm::Blake2b
        );
        assert!("SHA256".parse::<HashAlgorithm>().is_err());
    }

    #[test]
    fn resource_algorithm_strings() {
        let c = HashingConfig::new(
            HashAlgorithm::Sha256,
            Serialization::Shards {
                shard_size: 1_000_000,
            },
        );
        assert_eq!(c.resource_algorithm(), "sha256-sharded-1000000");
        let c = HashingConfig::new(
            HashAlgorithm::Blake3,
            Serialization::Shards { shard_size: 10 },
        );
        assert_eq!(
            c.serialization,
            Serialization::Files,
            "blake3 is never sharded"
        );
        assert_eq!(c.resource_algorithm(), "blake3");
    }

    #[test]
    fn shard_boundaries() {
        let s = 10;
        let r = |size| shard_ranges(size, s).collect::<Vec<_>>();
        assert_eq!(r(0), vec![]);
        assert_eq!(r(1), vec![(0, 1)]);
        assert_eq!(r(9), vec![(0, 9)]);
        assert_eq!(r(10), vec![(0, 10)]);
        assert_eq!(r(11), vec![(0, 10), (10, 11)]);
        assert_eq!(r(21), vec![(0, 10), (10, 20), (20, 21)]);
    }

    #[test]
    fn chunked_hashing_equals_one_shot_for_every_algorithm_and_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(3 * CHUNK + 12345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        File::create(&path).unwrap().write_all(&data).unwrap();
        let bar = ProgressBar::hidden();
        for algo in [
            HashAlgorithm::Sha256,
            HashAlgorithm::Blake2b,
            HashAlgorithm::Blake3,
        ] {
            let whole = HashItem {
                path: path.clone(),
                start: 0,
                end: None,
                size_hint: 0,
            };
            let got = hash_item(&whole, algo, true, &bar).unwrap();
            assert_eq!(got.digest, algo.digest(&data));
            assert_eq!(got.bytes, data.len() as u64);
            let (a, b) = (CHUNK as u64 - 3, 2 * CHUNK as u64 + 77);
            let part = HashItem {
                path: path.clone(),
                start: a,
                end: Some(b),
                size_hint: 0,
            };
            let got = hash_item(&part, algo, true, &bar).unwrap();
            assert_eq!(got.digest, algo.digest(&data[a as usize..b as usize]));
        }
    }

    #[test]
    fn blake3_through_several_map_windows_equals_one_shot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let data: Vec<u8> = (0..(2 * mmap::WINDOW + 12_345))
            .map(|i| (i * 13 % 241) as u8)
            .collect();
        File::create(&path).unwrap().write_all(&data).unwrap();
        let bar = ProgressBar::hidden();
        let whole = HashItem {
            path: path.clone(),
            start: 0,
            end: None,
            size_hint: 0,
        };
        let got = hash_item(&whole, HashAlgorithm::Blake3, true, &bar).unwrap();
        assert_eq!(got.digest, HashAlgorithm::Blake3.digest(&data));
        assert_eq!(got.bytes, data.len() as u64);
        // An unaligned range across a window boundary.
        let (a, b) = (4097u64, (mmap::WINDOW + 3 * 4096 + 5) as u64 + 1_000_000);
        let part = HashItem {
            path: path.clone(),
            start: a,
            end: Some(b),
            size_hint: 0,
        };
        let got = hash_item(&part, HashAlgorithm::Blake3, true, &bar).unwrap();
        assert_eq!(
            got.digest,
            HashAlgorithm::Blake3.digest(&data[a as usize..b as usize])
        );
        // A range past the end falls back to reading and reports the truncation.
        let past = HashItem {
            path,
            start: 0,
            end: Some(data.len() as u64 + 10),
            size_hint: 0,
        };
        let err = hash_item(&past, HashAlgorithm::Blake3, true, &bar).unwrap_err();
        assert!(matches!(err, HashError::Truncated { .. }), "{err}");
    }

    #[test]
    fn blake3_split_into_subtrees_equals_one_shot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let data = pattern(3 * mmap::WINDOW + 12_345, 17);
        File::create(&path).unwrap().write_all(&data).unwrap();
        let file = File::open(&path).unwrap();
        let bar = ProgressBar::hidden();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let k = blake3::CHUNK_LEN;
        // Lengths on and around powers of two and chunk boundaries, from odd file offsets.
        let cases: [(usize, usize); 9] = [
            (0, data.len()),
            (4097, data.len() - 4097),
            (1, 2 * k),
            (3, 2 * k + 1),
            (0, 64 * k - 1),
            (5, 64 * k),
            (7, 64 * k + 1),
            (0, mmap::WINDOW + 1),
            (12_345, 2 * mmap::WINDOW),
        ];
        for split_min in [1u64, 2 * k as u64, 100_000, 1 << 20, BLAKE3_SPLIT_MIN] {
            for (pos, len) in cases {
                let got = pool
                    .install(|| blake3_mapped(&file, pos as u64, len as u64, split_min, &bar))
                    .unwrap();
                assert_eq!(
                    got,
                    *blake3::hash(&data[pos..pos + len]).as_bytes(),
                    "split at {split_min}, {pos}+{len}"
                );
            }
        }
    }

    #[test]
    fn a_shard_past_the_end_of_the_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short");
        File::create(&path)
            .unwrap()
            .write_all(b"0123456789")
            .unwrap();
        let item = HashItem {
            path,
            start: 5,
            end: Some(20),
            size_hint: 15,
        };
        let err =
            hash_item(&item, HashAlgorithm::Sha256, true, &ProgressBar::hidden()).unwrap_err();
        assert!(
            matches!(
                err,
                HashError::Truncated {
                    expected: 20,
                    found: 10,
                    ..
                }
            ),
            "{err}"
        );
    }

    /// Drops a file's clean pages from the page cache; false if some stay (e.g. on tmpfs).
    fn evict(path: &std::path::Path) -> bool {
        let f = File::open(path).unwrap();
        f.sync_all().unwrap();
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        let len = f.metadata().unwrap().len();
        !mmap::Residency::new(&f, 0, len)
            .unwrap()
            .all_resident(0, len)
            .unwrap()
    }

    /// Share of the file's pages in the page cache (0.0 to 1.0). This VM runs proactive
    /// reclaim (kdamond), so a page read a moment ago may already be gone: the tests compare
    /// shares, never "every page".
    fn cached_share(path: &std::path::Path) -> f64 {
        let f = File::open(path).unwrap();
        let len = f.metadata().unwrap().len();
        let page = rustix::param::page_size() as u64;
        let r = mmap::Residency::new(&f, 0, len).unwrap();
        let pages = len.div_ceil(page);
        let resident = (0..pages)
            .filter(|p| {
                let at = p * page;
                r.all_resident(at, page.min(len - at)).unwrap()
            })
            .count();
        resident as f64 / pages as f64
    }

    fn pattern(len: usize, mul: usize) -> Vec<u8> {
        (0..len).map(|i| (i * mul % 251) as u8).collect()
    }

    #[test]
    fn residency_follows_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data = pattern(3 * stream::CHUNK + 100, 3);
        File::create(&path).unwrap().write_all(&data).unwrap();
        let f = File::open(&path).unwrap();
        let len = data.len() as u64;
        // The map starts at the page holding the first byte: 4096 for a range from 5000.
        let r = mmap::Residency::new(&f, 5000, len - 5000).unwrap();
        assert!(r.all_resident(5000, len - 5000).unwrap(), "just written");
        assert!(r.all_resident(4096, 10).unwrap(), "the first mapped page");
        assert!(!r.all_resident(0, 10).unwrap(), "before the mapped range");
        assert!(
            !r.all_resident(len - 5, 100).unwrap(),
            "past the mapped range"
        );
        if !evict(&path) {
            eprintln!(
                "SKIPPED the cold half of residency_follows_the_page_cache: the temporary \
                 directory's filesystem keeps its pages (tmpfs?)"
            );
            return;
        }
        assert!(!r.all_resident(5000, len - 5000).unwrap(), "evicted");
        // Reading a chunk brings it back.
        let mut buf = vec![0u8; 8192];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, 4096).unwrap();
        assert!(r.all_resident(4096, 8192).unwrap());
    }

    #[test]
    fn streamed_reading_equals_one_shot_for_every_algorithm_and_unaligned_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // Not a multiple of the alignment or of the chunk size.
        let data = pattern(3 * stream::CHUNK + 12_345, 7);
        File::create(&path).unwrap().write_all(&data).unwrap();
        let bar = ProgressBar::hidden();
        let file = File::open(&path).unwrap();
        let n = data.len() as u64;
        let ranges: [(u64, Option<u64>); 6] = [
            (0, None),
            (1, None),
            (4095, Some(n - 1)),
            (4097, Some(2 * stream::CHUNK as u64 + 3)),
            (stream::CHUNK as u64, Some(2 * stream::CHUNK as u64)),
            (n - 1, Some(n)),
        ];
        let mut direct = 0;
        for algo in [
            HashAlgorithm::Sha256,
            HashAlgorithm::Blake2b,
            HashAlgorithm::Blake3,
        ] {
            for (start, end) in ranges {
                let item = HashItem {
                    path: path.clone(),
                    start,
                    end,
                    size_hint: 0,
                };
                let (got, stats) =
                    hash_streamed(&item, &file, algo, stream::Source::Direct, &bar).unwrap();
                let want = &data[start as usize..end.map_or(data.len(), |e| e as usize)];
                assert_eq!(got.digest, algo.digest(want), "{algo} {start}..{end:?}");
                assert_eq!(got.bytes, want.len() as u64);
                assert_eq!(stats.direct + stats.buffered, want.len() as u64);
                direct += stats.direct;
            }
        }
        // ext4, xfs, btrfs and tmpfs (Linux >= 6.6) all take direct reads.
        if direct == 0 {
            eprintln!(
                "NOTE: the temporary directory's filesystem refused direct I/O; only the buffered \
                 fallback of the streamed reader was tested"
            );
        }
        // The file descriptor is left as it was opened (no O_DIRECT).
        let flags = rustix::fs::fcntl_getfl(&file).unwrap();
        assert!(!flags.contains(rustix::fs::OFlags::DIRECT));
    }

    #[test]
    fn a_cold_file_is_streamed_directly_and_a_warm_one_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cold");
        let data = pattern((PIPELINE_MIN as usize) + 3 * stream::CHUNK + 5, 11);
        File::create(&path).unwrap().write_all(&data).unwrap();
        let bar = ProgressBar::hidden();
        let whole = HashItem {
            path: path.clone(),
            start: 0,
            end: None,
            size_hint: data.len() as u64,
        };
        let want = HashAlgorithm::Sha256.digest(&data);
        // Warm: hash_item reads it through the page cache.
        assert_eq!(
            hash_item(&whole, HashAlgorithm::Sha256, true, &bar)
                .unwrap()
                .digest,
            want
        );
        if !evict(&path) {
            eprintln!(
                "SKIPPED a_cold_file_is_streamed_directly_and_a_warm_one_from_the_cache: pages \
                 cannot be evicted on the temporary directory's filesystem"
            );
            return;
        }
        assert_eq!(
            hash_item(&whole, HashAlgorithm::Sha256, true, &bar)
                .unwrap()
                .digest,
            want
        );
        let len = data.len() as u64;
        let share = cached_share(&path);
        assert!(
            share < 0.25,
            "direct reads bypass the cache: {share} cached"
        );
        // Without direct I/O the same cold file is read through the page cache.
        assert!(evict(&path));
        assert_eq!(
            hash_item(&whole, HashAlgorithm::Sha256, false, &bar)
                .unwrap()
                .digest,
            want
        );
        let share = cached_share(&path);
        assert!(
            share >= 15.0 / 16.0,
            "a buffered read caches: {share} cached"
        );
        // Half cold, half warm: the reader takes the cached half from the page cache (what
        // reclaim takes meanwhile is read directly, so only the cold half is exact).
        assert!(evict(&path));
        let file = File::open(&path).unwrap();
        let half = data.len() / 2;
        let mut buf = vec![0u8; data.len() - half];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut buf, half as u64).unwrap();
        let residency = mmap::Residency::new(&file, 0, len).unwrap();
        let (got, stats) = hash_streamed(
            &whole,
            &file,
            HashAlgorithm::Sha256,
            stream::Source::Auto(&residency),
            &bar,
        )
        .unwrap();
        assert_eq!(got.digest, want);
        assert!(stats.buffered >= (half / 2) as u64, "{stats:?}");
        assert!(stats.direct >= (half - stream::CHUNK) as u64, "{stats:?}");
    }

    #[test]
    fn a_streamed_shard_past_the_end_of_the_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short");
        let data = pattern(2 * stream::CHUNK + 3, 5);
        File::create(&path).unwrap().write_all(&data).unwrap();
        let file = File::open(&path).unwrap();
        let item = HashItem {
            path,
            start: 7,
            end: Some(data.len() as u64 + 4096),
            size_hint: 0,
        };
        let err = hash_streamed(
            &item,
            &file,
            HashAlgorithm::Sha256,
            stream::Source::Direct,
            &ProgressBar::hidden(),
        )
        .unwrap_err();
        match err {
            HashError::Truncated {
                expected, found, ..
            } => {
                assert_eq!(expected, data.len() as u64 + 4096);
                assert_eq!(found, data.len() as u64);
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let item = HashItem {
            path: "does/not/exist".into(),
            start: 0,
            end: None,
            size_hint: 0,
        };
        let err =
            hash_item(&item, HashAlgorithm::Sha256, true, &ProgressBar::hidden()).unwrap_err();
        assert!(err.to_string().contains("does/not/exist"), "{err}");
    }

    #[test]
    fn parallel_results_keep_item_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut items = Vec::new();
        let mut want = Vec::new();
        for i in 0..40usize {
            let p = dir.path().join(format!("f{i}"));
            let data = vec![i as u8; i * 1000];
            File::create(&p).unwrap().write_all(&data).unwrap();
            want.push(HashAlgorithm::Sha256.digest(&data));
            items.push(HashItem {
                path: p,
                start: 0,
                end: None,
                size_hint: data.len() as u64,
            });
        }
        let got = hash_items(&items, HashAlgorithm::Sha256, true, &ProgressBar::hidden()).unwrap();
        assert_eq!(got.into_iter().map(|d| d.digest).collect::<Vec<_>>(), want);
    }
}
