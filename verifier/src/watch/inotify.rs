//! Change notification with inotify: one watch per directory of the model (inotify is not
//! recursive), plus the directories of the signature and of the trust material. Any event
//! calls `notify`; the caller debounces and runs a cheap check. Filesystems that do not deliver
//! events for changes made elsewhere (NFS and other network filesystems, some FUSE mounts) stay
//! covered by the interval.

use std::collections::{HashMap, HashSet};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

/// Everything that can change what a file read returns, or which file a name is.
fn mask() -> WatchFlags {
    WatchFlags::MODIFY
        | WatchFlags::ATTRIB
        | WatchFlags::CLOSE_WRITE
        | WatchFlags::MOVED_FROM
        | WatchFlags::MOVED_TO
        | WatchFlags::CREATE
        | WatchFlags::DELETE
        | WatchFlags::DELETE_SELF
        | WatchFlags::MOVE_SELF
}

/// An inotify instance and its watches.
#[derive(Debug)]
pub struct DirWatch {
    fd: Arc<OwnedFd>,
    watched: HashMap<PathBuf, i32>,
}

impl DirWatch {
    /// Starts the reader thread: `notify` runs after each batch of events; `failed` once if
    /// reading stops (the caller then relies on the interval).
    pub fn start(
        notify: impl Fn() + Send + 'static,
        failed: impl FnOnce(io::Error) + Send + 'static,
    ) -> io::Result<Self> {
        let fd = Arc::new(inotify::init(CreateFlags::CLOEXEC)?);
        let reader_fd = fd.clone();
        thread::Builder::new()
            .name("inotify".into())
            .stack_size(64 << 10)
            .spawn(move || {
                let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
                let mut reader = inotify::Reader::new(&*reader_fd, &mut buf);
                loop {
                    let got = reader.next().map(|_| ());
                    match got {
                        Ok(()) => {
                            if reader.is_buffer_empty() {
                                notify();
                            }
                        }
                        Err(rustix::io::Errno::INTR) => {}
                        Err(e) => {
                            failed(e.into());
                            return;
                        }
                    }
                }
            })?;
        Ok(Self {
            fd,
            watched: HashMap::new(),
        })
    }

    /// Watches exactly `dirs` (adding new ones, dropping the others); returns how many are
    /// watched. Every directory is added again, so one that was deleted and created anew is
    /// watched again. A directory that cannot be watched (gone, or the watch limit reached) is
    /// skipped: the interval still covers it.
    pub fn sync<'a>(&mut self, dirs: impl IntoIterator<Item = &'a Path>) -> usize {
        let mut next = HashMap::new();
        for dir in dirs {
            if let Ok(wd) = inotify::add_watch(&*self.fd, dir, mask()) {
                next.insert(dir.to_path_buf(), wd);
            }
        }
        let live: HashSet<i32> = next.values().copied().collect();
        for (_, wd) in self.watched.drain() {
            if !live.contains(&wd) {
                let _ = inotify::remove_watch(&*self.fd, wd);
            }
        }
        self.watched = next;
        self.watched.len()
    }
}
