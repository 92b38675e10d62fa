//! Whether any name of the model may have changed: an inotify instance of the checker's own
//! (not the agent's wake-up watch) on every directory of the model, read without blocking at
//! each check, and the mount table of the process, polled.
//!
//! A held descriptor ([`super::held`]) sees everything that happens to its file's inode, but
//! not which inode a name leads to. That changes only through an operation on a directory
//! entry (create, link, unlink, rename, mkdir, rmdir) in a directory on the way to the file,
//! or through a mount. On a local filesystem every such operation in a watched directory queues
//! an event (`IN_CREATE`, `IN_DELETE`, `IN_MOVED_FROM`, `IN_MOVED_TO`; `IN_DELETE_SELF`,
//! `IN_MOVE_SELF` for the directory itself, `IN_IGNORED` when its watch goes away,
//! `IN_Q_OVERFLOW` when events were lost), and every change of the process's mount table
//! makes `poll` on `/proc/self/mountinfo` report `POLLPRI`. [`NameWatch::quiet`] says "nothing
//! happened" only when neither shows anything; any event, any error, means "maybe".

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

/// Operations that change which inode a name leads to, or whether a directory can be walked.
fn mask() -> WatchFlags {
    WatchFlags::CREATE
        | WatchFlags::DELETE
        | WatchFlags::MOVED_FROM
        | WatchFlags::MOVED_TO
        | WatchFlags::DELETE_SELF
        | WatchFlags::MOVE_SELF
        // A directory made unreadable must fail the walk, as before.
        | WatchFlags::ATTRIB
        | WatchFlags::ONLYDIR
        | WatchFlags::DONT_FOLLOW
}

/// The checker's inotify instance and the mount table.
#[derive(Debug)]
pub struct NameWatch {
    inotify: OwnedFd,
    mounts: File,
    watched: HashMap<PathBuf, i32>,
}

impl NameWatch {
    /// A new instance; an error when inotify or `/proc/self/mountinfo` is not available (the
    /// checker then walks paths at every check).
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            inotify: inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?,
            mounts: File::open("/proc/self/mountinfo")?,
            watched: HashMap::new(),
        })
    }

    /// Watches exactly `dirs` (adding each again: a directory replaced since is watched anew);
    /// `true` when every one of them is watched.
    pub fn sync(&mut self, dirs: &[PathBuf]) -> bool {
        let mut next = HashMap::with_capacity(dirs.len());
        let mut all = true;
        for dir in dirs {
            match inotify::add_watch(&self.inotify, dir, mask()) {
                Ok(wd) => {
                    next.insert(dir.clone(), wd);
                }
                Err(_) => all = false,
            }
        }
        let live: HashSet<i32> = next.values().copied().collect();
        for (_, wd) in self.watched.drain() {
            if !live.contains(&wd) {
                let _ = inotify::remove_watch(&self.inotify, wd);
            }
        }
        self.watched = next;
        all
    }

    /// Watches again every directory watched now (by path: one that was replaced since is
    /// watched anew, one that is gone is not watched any more).
    pub fn resync(&mut self) {
        let dirs: Vec<PathBuf> = self.watched.keys().cloned().collect();
        self.sync(&dirs);
    }

    /// Whether every one of `dirs` is watched.
    pub fn covers<'a>(&self, mut dirs: impl Iterator<Item = &'a Path>) -> bool {
        dirs.all(|d| self.watched.contains_key(d))
    }

    /// `true` when no name event was queued and the mount table did not change since the last
    /// call (both are consumed). Any error is "something may have happened".
    pub fn quiet(&mut self) -> bool {
        let mut quiet = true;
        let mut buf = [0u8; 4096];
        loop {
            match rustix::io::read(&self.inotify, &mut buf[..]) {
                Ok(0) => break,
                Ok(_) => quiet = false,
                Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return false,
            }
        }
        let mut fds = [PollFd::new(&self.mounts, PollFlags::PRI)];
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        match poll(&mut fds, Some(&zero)) {
            Ok(_) => {
                let seen = fds[0].revents();
                quiet && !seen.intersects(PollFlags::PRI | PollFlags::ERR | PollFlags::NVAL)
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn each_name_operation_is_seen_and_writes_are_not() {
        type Op = fn(&Path);
        let cases: [(&str, Op, bool); 8] = [
            (
                "write in place",
                |d| fs::write(d.join("a"), b"other").unwrap(),
                true,
            ),
            ("create", |d| fs::write(d.join("new"), b"").unwrap(), false),
            ("unlink", |d| fs::remove_file(d.join("a")).unwrap(), false),
            (
                "rename over",
                |d| fs::rename(d.join("b"), d.join("a")).unwrap(),
                false,
            ),
            (
                "hard link",
                |d| fs::hard_link(d.join("a"), d.join("a2")).unwrap(),
                false,
            ),
            ("mkdir", |d| fs::create_dir(d.join("s/t")).unwrap(), false),
            (
                "directory renamed",
                |d| fs::rename(d.join("s"), d.join("s2")).unwrap(),
                false,
            ),
            (
                "directory made unreadable",
                |d| {
                    use std::os::unix::fs::PermissionsExt;
                    fs::set_permissions(d.join("s"), fs::Permissions::from_mode(0o300)).unwrap()
                },
                false,
            ),
        ];
        for (what, op, want) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let d = tmp.path();
            fs::create_dir(d.join("s")).unwrap();
            fs::write(d.join("a"), b"a").unwrap();
            fs::write(d.join("b"), b"b").unwrap();
            let mut w = NameWatch::new().unwrap();
            let dirs = [d.to_owned(), d.join("s")];
            assert!(w.sync(&dirs), "{what}");
            assert!(w.covers(dirs.iter().map(PathBuf::as_path)), "{what}");
            assert!(!w.covers([d.join("t").as_path()].into_iter()), "{what}");
            assert!(w.quiet(), "{what}: nothing happened yet");
            op(d);
            assert_eq!(w.quiet(), want, "{what}");
            // Consumed: quiet again until the next operation.
            assert!(w.quiet(), "{what}: after draining");
        }
    }
}
