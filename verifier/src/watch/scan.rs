//! Taking a [`Snapshot`] of a model: a walk over metadata only, with the model walk's rules
//! ([`crate::walk`]): the same ignore set, the same files. Anything the walk would refuse
//! (a symbolic link without `--allow_symlinks`, a special file, a name that is not UTF-8, a
//! missing signed file) is not decided here: the scan stops with a [`ScanError`] and the caller
//! runs the real verification, which gives the exact error.

use std::collections::HashSet;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::posix;
use crate::verify::SignedModel;
use crate::walk::IgnoreSet;

use super::snapshot::{EntryStamp, FileStamp, Snapshot};

/// The metadata walk cannot decide; the full verification must.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Something a model walk refuses or treats specially.
    #[error("'{}' needs a full check: {what}", path.display())]
    Unusual {
        /// The path.
        path: PathBuf,
        /// What it is.
        what: &'static str,
    },
    /// A path could not be looked at.
    #[error("cannot look at '{}': {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// A snapshot and the directories it walked (for inotify).
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The files.
    pub snapshot: Snapshot,
    /// Directories whose entries make up the model (the model directory and those below it,
    /// or the parents of the listed files).
    pub dirs: Vec<PathBuf>,
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// The stamp of a file's metadata.
pub fn stamp(m: &Metadata) -> FileStamp {
    FileStamp {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime_sec: m.mtime(),
        // In 0..1e9 (statx), so the conversion cannot fail.
        mtime_nsec: u32::try_from(m.mtime_nsec()).unwrap_or_default(),
        ctime_sec: m.ctime(),
        ctime_nsec: u32::try_from(m.ctime_nsec()).unwrap_or_default(),
        mode: m.mode(),
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ScanError + '_ {
    move |source| ScanError::Io {
        path: path.to_owned(),
        source,
    }
}

fn unusual(path: &Path, what: &'static str) -> ScanError {
    ScanError::Unusual {
        path: path.to_owned(),
        what,
    }
}

/// Takes the snapshot of a signed model: its walk, or its listed files.
pub fn scan(model: &SignedModel) -> Result<Scan, ScanError> {
    let taken_ns = now_ns();
    let spec = &model.spec;
    let mut scan = Scan::default();
    let mut entries = Vec::new();
    match &model.listed {
        Some(names) => listed(
            &spec.model_path,
            names,
            &model.ignore,
            spec.allow_symlinks,
            &mut entries,
            &mut scan.dirs,
        )?,
        None => walk(
            &spec.model_path,
            &model.ignore,
            spec.allow_symlinks,
            &mut entries,
            &mut scan.dirs,
        )?,
    }
    scan.snapshot = Snapshot::new(entries, taken_ns);
    Ok(scan)
}

/// What a path is after the symlink rule: `Some(stamp)` for a file, `None` for a directory.
fn classify(
    path: &Path,
    lstat: Metadata,
    allow_symlinks: bool,
) -> Result<Option<EntryStamp>, ScanError> {
    let (meta, link) = if lstat.file_type().is_symlink() {
        if !allow_symlinks {
            return Err(unusual(path, "a symbolic link"));
        }
        (
            fs::metadata(path).map_err(io_err(path))?,
            Some(Box::new(stamp(&lstat))),
        )
    } else {
        (lstat, None)
    };
    if meta.is_file() {
        Ok(Some(EntryStamp {
            file: stamp(&meta),
            link,
        }))
    } else if meta.is_dir() {
        Ok(None)
    } else {
        Err(unusual(path, "not a regular file or directory"))
    }
}

fn walk(
    model_path: &Path,
    ignore: &IgnoreSet,
    allow_symlinks: bool,
    entries: &mut Vec<(String, EntryStamp)>,
    dirs: &mut Vec<PathBuf>,
) -> Result<(), ScanError> {
    let no_comps: [&str; 0] = [];
    if ignore.is_ignored(&no_comps) {
        return Ok(());
    }
    let lstat = fs::symlink_metadata(model_path).map_err(io_err(model_path))?;
    match classify(model_path, lstat, allow_symlinks)? {
        Some(file) => {
            entries.push((".".to_owned(), file));
            Ok(())
        }
        None => walk_dir(model_path, "", ignore, allow_symlinks, entries, dirs),
    }
}

/// Whether a name (`a/b/c`) is ignored, without allocating for the usual depths.
fn ignored(ignore: &IgnoreSet, name: &str) -> bool {
    let mut parts = [""; 32];
    let mut n = 0;
    for part in name.split('/') {
        if n == parts.len() {
            return ignore.is_ignored(&name.split('/').collect::<Vec<_>>());
        }
        parts[n] = part;
        n += 1;
    }
    ignore.is_ignored(&parts[..n])
}

/// Walks one directory; `prefix` is its resource name followed by `/` (empty at the top).
/// Per plain file: one `statx` relative to the open directory, one name kept.
fn walk_dir(
    dir: &Path,
    prefix: &str,
    ignore: &IgnoreSet,
    allow_symlinks: bool,
    entries: &mut Vec<(String, EntryStamp)>,
    dirs: &mut Vec<PathBuf>,
) -> Result<(), ScanError> {
    dirs.push(dir.to_owned());
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let file_name = entry.file_name();
        let Some(base) = file_name.to_str() else {
            return Err(unusual(&entry.path(), "a name that is not UTF-8"));
        };
        let mut name = String::with_capacity(prefix.len() + base.len());
        name.push_str(prefix);
        name.push_str(base);
        if ignored(ignore, &name) {
            continue;
        }
        let lstat = entry.metadata().map_err(|e| io_err(&entry.path())(e))?;
        if lstat.is_file() {
            entries.push((
                name,
                EntryStamp {
                    file: stamp(&lstat),
                    link: None,
                },
            ));
            continue;
        }
        let path = entry.path();
        let real_dir = lstat.is_dir();
        match classify(&path, lstat, allow_symlinks)? {
            Some(file) => entries.push((name, file)),
            // Real directories are entered; linked ones never are.
            None if real_dir => {
                name.push('/');
                walk_dir(&path, &name, ignore, allow_symlinks, entries, dirs)?;
            }
            None => {}
        }
    }
    Ok(())
}

fn listed(
    model_path: &Path,
    names: &[String],
    ignore: &IgnoreSet,
    allow_symlinks: bool,
    entries: &mut Vec<(String, EntryStamp)>,
    dirs: &mut Vec<PathBuf>,
) -> Result<(), ScanError> {
    let mut parents: HashSet<PathBuf> = HashSet::new();
    let mut plain_dirs: HashSet<PathBuf> = HashSet::new();
    for name in names {
        let name = posix::normalize(name);
        if !posix::is_contained(&name) {
            return Err(unusual(model_path, "a signed name outside the model"));
        }
        let comps: Vec<&str> = posix::components(&name).collect();
        if ignore.is_ignored(&comps) {
            continue;
        }
        let mut path = model_path.to_owned();
        for (i, c) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            if last && parents.insert(path.clone()) {
                dirs.push(path.clone());
            }
            path.push(c);
            if !last && !plain_dirs.contains(&path) {
                if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(unusual(&path, "a symbolic link to a directory"));
                }
                plain_dirs.insert(path.clone());
            }
        }
        let lstat = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            // A listed file that is gone makes the verification fail with the walk's error.
            Err(_) => return Err(unusual(&path, "a signed file that is missing")),
        };
        if comps.is_empty() && lstat.is_dir() {
            continue;
        }
        if let Some(file) = classify(&path, lstat, allow_symlinks)? {
            entries.push((name, file));
        }
    }
    Ok(())
}
