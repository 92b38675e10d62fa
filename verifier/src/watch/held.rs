//! Held descriptors: after a path walk, one `O_PATH` descriptor per model file, so that the
//! re-check of an unchanged model is one `statx` per descriptor: no `readdir`, no path lookup,
//! no name built.
//!
//! # Why this sees what the path walk sees
//!
//! The path walk compares, per name, the stamp (device, inode, size, mtime, ctime, mode) of the
//! inode the name leads to. A descriptor opened on that name stays on that inode: `statx` on it
//! gives the same stamp the walk would get *as long as every name still leads to the same
//! inode* and no name was added. Every write to the file's content (through this name, another
//! hard link, or a shared mapping) changes the inode's mtime and ctime, which the descriptor
//! sees exactly as the walk would (with the same timestamp-granularity rule, [`super::snapshot`]).
//! Which inode a name leads to, and which names exist, change only by an operation on a
//! directory entry in a directory on the way from the model path (create, link, unlink, rename,
//! mkdir, rmdir, also of the directories themselves), by a change of the model path's own
//! inode (an ancestor renamed or a link on the way swapped), or by a mount. So descriptors are
//! used only when all of these hold, and the check walks paths otherwise:
//!
//! - every directory on the way to every file (and every directory the walk entered) was
//!   watched by the checker's own inotify instance ([`super::names`]) *before* the walk that
//!   the descriptors were opened after, and no event of that instance was queued since the
//!   start of that walk (any event, an overflow, a watch that went away, or a read error ends
//!   it: the next check walks paths);
//! - the mount table of the process did not change (polled on `/proc/self/mountinfo`);
//! - the model path still leads to the same inode (one `lstat` per check);
//! - each of those directories and files is on a filesystem where every change goes through
//!   this kernel and so raises inotify events ([`delivers_all_events`]: ext4, XFS, Btrfs,
//!   tmpfs); on NFS, FUSE, 9p, overlayfs and anything unknown a change made elsewhere raises
//!   none;
//! - no model file is a symbolic link (a descriptor would see the target, not the link);
//! - each descriptor, opened after the walk, is on the inode the walk stamped (else the name
//!   changed in between);
//! - the process may hold them: at most [`MAX_HELD`], and `RLIMIT_NOFILE` (its soft limit is
//!   raised to the hard one when needed) leaves [`FD_MARGIN`] descriptors for everything else.
//!
//! A name change that happens while descriptors are being looked at is like one that happens
//! just after a path walk: its event stays queued, and the next check walks paths. When in
//! doubt (any error), the check walks paths; the walk, in turn, defers to the full
//! verification as before.
//!
//! A held descriptor keeps a replaced or deleted file's blocks allocated until the next check
//! drops it (with inotify that check runs within about a second of the change).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use super::scan::stamp;
use super::snapshot::{FileStamp, Snapshot};

/// Descriptors left for everything else the process opens (files being hashed, sockets, the
/// termination log, inotify).
pub const FD_MARGIN: u64 = 1024;

/// At most this many descriptors are held; a larger model is walked. Each one costs kernel
/// memory charged to the container (a `struct file`, 192 bytes on x86_64, and it keeps the
/// file's dentry and inode from being reclaimed): about 12 MiB of `struct file` here, well
/// inside the sidecar's memory limit.
pub const MAX_HELD: u64 = 65_536;

/// Filesystems where every change is made by this kernel, so inotify sees every name change:
/// `(f_type, name)`.
const LOCAL_FILESYSTEMS: [(u64, &str); 4] = [
    (0xEF53, "ext2/3/4"),
    (0x5846_5342, "xfs"),
    (0x9123_683E, "btrfs"),
    (0x0102_1994, "tmpfs"),
];

/// Whether a filesystem (`statfs` `f_type`) raises inotify events for every change of its
/// names (a local one). Network and FUSE filesystems do not for changes made by other clients;
/// overlayfs not for changes made in its layers.
pub fn delivers_all_events(f_type: u64) -> bool {
    LOCAL_FILESYSTEMS.iter().any(|(t, _)| *t == f_type)
}

/// What the descriptor limit allows for `n` more descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// The soft limit is high enough.
    Enough,
    /// Raise the soft limit to this (the hard limit; `None`: unlimited).
    Raise(Option<u64>),
    /// Even the hard limit is too low.
    TooFew,
}

/// Whether `n` descriptors fit under the soft and hard limits (`None`: unlimited) with
/// [`FD_MARGIN`] to spare.
pub fn room(n: u64, soft: Option<u64>, hard: Option<u64>) -> Room {
    let need = n.saturating_add(FD_MARGIN);
    if soft.is_none_or(|s| s >= need) {
        Room::Enough
    } else if hard.is_none_or(|h| h >= need) {
        Room::Raise(hard)
    } else {
        Room::TooFew
    }
}

/// Makes room for `n` descriptors (raising the soft limit to the hard one if needed).
fn make_room(n: u64) -> bool {
    let limit = getrlimit(Resource::Nofile);
    match room(n, limit.current, limit.maximum) {
        Room::Enough => true,
        Room::Raise(to) => setrlimit(
            Resource::Nofile,
            Rlimit {
                current: to,
                maximum: limit.maximum,
            },
        )
        .is_ok(),
        Room::TooFew => false,
    }
}

/// Why descriptors are not held (the checks walk paths).
#[derive(Debug, thiserror::Error)]
pub enum NotHeld {
    /// A model file is a symbolic link.
    #[error("a model file is a symbolic link")]
    Link,
    /// More than [`MAX_HELD`] files.
    #[error("{files} files are more than the {MAX_HELD} whose descriptors are held")]
    TooManyFiles {
        /// Model files.
        files: u64,
    },
    /// `RLIMIT_NOFILE` is too low.
    #[error("{files} files need {} descriptors, more than RLIMIT_NOFILE allows", files + FD_MARGIN)]
    FdLimit {
        /// Model files.
        files: u64,
    },
    /// A filesystem that may change without inotify events.
    #[error("'{}' is on a filesystem (type {f_type:#x}) that may change without inotify events", path.display())]
    Filesystem {
        /// The directory or file.
        path: PathBuf,
        /// Its `statfs` type.
        f_type: u64,
    },
    /// A name no longer leads to the file the walk stamped.
    #[error("'{}' changed since the walk", path.display())]
    Moved {
        /// The path.
        path: PathBuf,
    },
    /// A path could not be opened or looked at.
    #[error("cannot hold '{}': {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// One `O_PATH` descriptor per snapshot entry, in its order, and the model path's own stamp.
#[derive(Debug)]
pub struct Held {
    files: Vec<File>,
    root: FileStamp,
}

fn open_path(path: &Path) -> Result<File, NotHeld> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|source| NotHeld::Io {
            path: path.to_owned(),
            source,
        })
}

fn check_filesystem(file: &File, path: &Path) -> Result<(), NotHeld> {
    let f_type = rustix::fs::fstatfs(file)
        .map_err(|e| NotHeld::Io {
            path: path.to_owned(),
            source: e.into(),
        })?
        .f_type as u64;
    if delivers_all_events(f_type) {
        Ok(())
    } else {
        Err(NotHeld::Filesystem {
            path: path.to_owned(),
            f_type,
        })
    }
}

/// The path of a resource name.
pub fn path_of(model_path: &Path, name: &str) -> PathBuf {
    if name == "." {
        model_path.to_owned()
    } else {
        model_path.join(name)
    }
}

impl Held {
    /// Opens a descriptor for each entry of `snapshot`, just taken of `model_path` by a path
    /// walk; `dirs` are the directories on the way (their filesystems are checked too).
    pub fn open(model_path: &Path, snapshot: &Snapshot, dirs: &[PathBuf]) -> Result<Self, NotHeld> {
        if snapshot.entries.iter().any(|(_, e)| e.link.is_some()) {
            return Err(NotHeld::Link);
        }
        let files = snapshot.entries.len() as u64;
        if files > MAX_HELD {
            return Err(NotHeld::TooManyFiles { files });
        }
        if !make_room(files) {
            return Err(NotHeld::FdLimit { files });
        }
        let root = fs::symlink_metadata(model_path).map_err(|source| NotHeld::Io {
            path: model_path.to_owned(),
            source,
        })?;
        if root.file_type().is_symlink() {
            return Err(NotHeld::Link);
        }
        for dir in dirs {
            check_filesystem(&open_path(dir)?, dir)?;
        }
        let mut held = Vec::with_capacity(snapshot.entries.len());
        let mut checked_dev = None;
        for (name, entry) in &snapshot.entries {
            let path = path_of(model_path, name);
            let file = open_path(&path)?;
            let now = file.metadata().map_err(|source| NotHeld::Io {
                path: path.clone(),
                source,
            })?;
            if !now.is_file() || now.dev() != entry.file.dev || now.ino() != entry.file.ino {
                return Err(NotHeld::Moved { path });
            }
            if checked_dev != Some(now.dev()) {
                check_filesystem(&file, &path)?;
                checked_dev = Some(now.dev());
            }
            held.push(file);
        }
        Ok(Self {
            files: held,
            root: stamp(&root),
        })
    }

    /// Whether the model path still leads to the inode it led to when the descriptors were
    /// opened.
    pub fn root_unchanged(&self, model_path: &Path) -> bool {
        fs::symlink_metadata(model_path).is_ok_and(|m| {
            let now = stamp(&m);
            now.dev == self.root.dev && now.ino == self.root.ino && now.mode == self.root.mode
        })
    }

    /// The stamp of entry `i`'s file now; `None` when it cannot be looked at.
    pub fn look(&self, i: usize) -> Option<FileStamp> {
        self.files.get(i)?.metadata().ok().map(|m| stamp(&m))
    }

    /// How many descriptors are held.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::snapshot::EntryStamp;

    #[test]
    fn the_descriptor_limit_is_raised_to_the_hard_one_or_not_enough() {
        let cases = [
            (10, Some(2048), Some(4096), Room::Enough),
            (10, None, None, Room::Enough),
            (
                10_000,
                Some(1024),
                Some(524_288),
                Room::Raise(Some(524_288)),
            ),
            (10_000, Some(1024), None, Room::Raise(None)),
            (10_000, Some(11_024), Some(11_024), Room::Enough),
            (10_000, Some(1024), Some(11_023), Room::TooFew),
            (3, Some(64), Some(64), Room::TooFew),
            (u64::MAX, Some(1024), Some(u64::MAX - 1), Room::TooFew),
        ];
        for (n, soft, hard, want) in cases {
            assert_eq!(room(n, soft, hard), want, "{n} {soft:?} {hard:?}");
        }
    }

    /// A one-file snapshot of `dir/name` as the walk would take it, with `edit` applied.
    fn one(dir: &Path, name: &str, edit: fn(&mut EntryStamp)) -> Snapshot {
        let m = fs::metadata(dir.join(name)).unwrap();
        let mut entry = EntryStamp {
            file: stamp(&m),
            link: None,
        };
        edit(&mut entry);
        Snapshot::new(vec![(name.to_owned(), entry)], 0)
    }

    #[test]
    fn descriptors_are_held_only_on_the_walked_inodes_of_a_local_filesystem() {
        let tmp = tempfile::tempdir().unwrap();
        let local = tmp.path().to_owned();
        fs::write(local.join("w.bin"), b"w").unwrap();
        // A real filesystem that may change without inotify events: procfs.
        let proc = PathBuf::from(format!("/proc/{}", std::process::id()));
        type Edit = fn(&mut EntryStamp);
        let cases: [(&str, &Path, &str, Edit, bool, &str); 5] = [
            ("local file", &local, "w.bin", |_| {}, false, "held"),
            ("procfs file", &proc, "stat", |_| {}, false, "filesystem"),
            (
                "procfs directory",
                &proc,
                "stat",
                |_| {},
                true,
                "filesystem",
            ),
            (
                "another inode",
                &local,
                "w.bin",
                |e| e.file.ino += 1,
                false,
                "moved",
            ),
            (
                "a link",
                &local,
                "w.bin",
                |e| e.link = Some(Box::new(e.file)),
                false,
                "link",
            ),
        ];
        for (what, dir, name, edit, with_dir, want) in cases {
            let dirs = if with_dir {
                vec![dir.to_owned()]
            } else {
                vec![]
            };
            let got = match Held::open(dir, &one(dir, name, edit), &dirs) {
                Ok(h) => {
                    assert_eq!(h.len(), 1, "{what}");
                    assert!(h.root_unchanged(dir), "{what}");
                    assert!(h.look(0).is_some(), "{what}");
                    "held"
                }
                Err(NotHeld::Filesystem { f_type, .. }) => {
                    assert_eq!(f_type, 0x9FA0, "{what}: procfs");
                    "filesystem"
                }
                Err(NotHeld::Moved { .. }) => "moved",
                Err(NotHeld::Link) => "link",
                Err(e) => panic!("{what}: {e}"),
            };
            assert_eq!(got, want, "{what}");
        }
        // More files than are ever held: refused before any is opened.
        let mut many = one(&local, "w.bin", |_| {});
        let entry = many.entries[0].clone();
        many.entries.resize(MAX_HELD as usize + 1, entry);
        assert!(matches!(
            Held::open(&local, &many, &[]),
            Err(NotHeld::TooManyFiles { files }) if files == MAX_HELD + 1
        ));
    }

    #[test]
    fn only_local_filesystems_are_trusted_to_report_every_name_change() {
        let cases = [
            (0xEF53, true),       // ext4
            (0x5846_5342, true),  // xfs
            (0x9123_683E, true),  // btrfs
            (0x0102_1994, true),  // tmpfs
            (0x6969, false),      // nfs
            (0x6573_5546, false), // fuse
            (0x0102_1997, false), // 9p
            (0x794C_7630, false), // overlayfs
            (0xFF53_4D42, false), // cifs
            (0x0000_9FA0, false), // proc
            (0, false),
        ];
        for (f_type, want) in cases {
            assert_eq!(delivers_all_events(f_type), want, "{f_type:#x}");
        }
    }
}
