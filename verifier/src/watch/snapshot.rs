//! The metadata of a verified model, and what changed since (pure: no I/O here).
//!
//! A file whose identity and metadata (device, inode, size, mtime, ctime) are unchanged is not
//! read again. ctime cannot be set from user space, so a write that restores the mtime still
//! shows. A file whose ctime is within [`RACY_WINDOW_NS`] of the moment it was looked at is
//! "racy": it may change again within the same timestamp tick without any field changing, so
//! it is read again at the next check whatever its metadata says.

use std::fmt;

/// Files changed this close (nanoseconds) to the moment they were looked at are read again at
/// the next check: timestamps have a granularity (one kernel tick, up to seconds on some
/// filesystems), and a second write within the same tick changes no field.
pub const RACY_WINDOW_NS: i128 = 2_000_000_000;

/// What identifies a file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Status change time, nanoseconds since the epoch (not settable from user space).
    pub ctime_ns: i128,
    /// File type and permission bits.
    pub mode: u32,
}

impl FileStamp {
    /// Whether a change at ctime could hide within the timestamp granularity, as seen at `now_ns`.
    pub fn is_racy(&self, now_ns: i128) -> bool {
        self.ctime_ns > now_ns - RACY_WINDOW_NS
    }

    /// The fields that differ from `other`.
    pub fn differences(&self, other: &Self) -> Fields {
        Fields {
            identity: self.dev != other.dev || self.ino != other.ino,
            size: self.size != other.size,
            mtime: self.mtime_ns != other.mtime_ns,
            ctime: self.ctime_ns != other.ctime_ns,
            mode: self.mode != other.mode,
            link: false,
        }
    }
}

/// One model file as last seen: the file read (a link's target with `--allow_symlinks`) and,
/// for a symbolic link, the link itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryStamp {
    /// The file that is read.
    pub file: FileStamp,
    /// The link, when the name is a symbolic link.
    pub link: Option<FileStamp>,
}

impl EntryStamp {
    fn is_racy(&self, now_ns: i128) -> bool {
        self.file.is_racy(now_ns) || self.link.is_some_and(|l| l.is_racy(now_ns))
    }
}

/// Which metadata fields changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fields {
    /// Device or inode: another file now has the name (rename over it, bind mount swap).
    pub identity: bool,
    /// Size.
    pub size: bool,
    /// Modification time.
    pub mtime: bool,
    /// Status change time.
    pub ctime: bool,
    /// Type or permissions.
    pub mode: bool,
    /// The link changed (another link, or a link replaced a file or the reverse).
    pub link: bool,
}

impl Fields {
    /// Whether any field changed.
    pub fn any(&self) -> bool {
        self.identity || self.size || self.mtime || self.ctime || self.mode || self.link
    }
}

impl fmt::Display for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (self.identity, "inode"),
            (self.size, "size"),
            (self.mtime, "mtime"),
            (self.ctime, "ctime"),
            (self.mode, "mode"),
            (self.link, "link"),
        ];
        let shown: Vec<&str> = names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
        f.write_str(&shown.join(", "))
    }
}

/// Why a file has to be read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new file.
    Added,
    /// The file is gone.
    Removed,
    /// Metadata changed.
    Modified(Fields),
    /// Nothing changed, but the last look was within the timestamp granularity of a change.
    Racy,
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Added => f.write_str("added"),
            Self::Removed => f.write_str("removed"),
            Self::Modified(fields) => write!(f, "modified ({fields})"),
            Self::Racy => f.write_str("changed recently"),
        }
    }
}

/// A file to read again (or to drop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The resource name (`.` for a single-file model).
    pub name: String,
    /// What happened.
    pub kind: ChangeKind,
}

/// The files of a model and their stamps, sorted by name (byte order), and when they were taken.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// `(name, stamp)`, sorted by name, names unique.
    pub entries: Vec<(String, EntryStamp)>,
    /// When the walk started, nanoseconds since the epoch.
    pub taken_ns: i128,
}

impl Snapshot {
    /// A snapshot from entries in any order.
    pub fn new(mut entries: Vec<(String, EntryStamp)>, taken_ns: i128) -> Self {
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|a, b| a.0 == b.0);
        Self { entries, taken_ns }
    }

    /// The stamp of a name.
    pub fn get(&self, name: &str) -> Option<&EntryStamp> {
        self.entries
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| &self.entries[i].1)
    }

    /// Drops a name (so that the next diff reports it as added and it is read again).
    pub fn forget(&mut self, name: &str) {
        if let Ok(i) = self.entries.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            self.entries.remove(i);
        }
    }
}

/// The files that differ between an old and a new snapshot, in name order: added, removed,
/// metadata changed, or unchanged but racy in the old snapshot (changed within the timestamp
/// granularity of when it was taken).
pub fn diff(old: &Snapshot, new: &Snapshot) -> Vec<Change> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    let (a, b) = (&old.entries, &new.entries);
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.0.cmp(&y.0),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, _) => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                out.push(Change {
                    name: a[i].0.clone(),
                    kind: ChangeKind::Removed,
                });
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(Change {
                    name: b[j].0.clone(),
                    kind: ChangeKind::Added,
                });
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (was, now) = (&a[i].1, &b[j].1);
                let mut fields = was.file.differences(&now.file);
                fields.link = match (was.link, now.link) {
                    (None, None) => false,
                    (Some(x), Some(y)) => x.differences(&y).any(),
                    _ => true,
                };
                let kind = if fields.any() {
                    Some(ChangeKind::Modified(fields))
                } else if was.is_racy(old.taken_ns) {
                    Some(ChangeKind::Racy)
                } else {
                    None
                };
                if let Some(kind) = kind {
                    out.push(Change {
                        name: a[i].0.clone(),
                        kind,
                    });
                }
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i128 = 1_000_000_000_000_000_000;
    const OLD: i128 = NOW - 3_600_000_000_000;

    fn stamp(ino: u64, size: u64) -> EntryStamp {
        EntryStamp {
            file: FileStamp {
                dev: 1,
                ino,
                size,
                mtime_ns: OLD,
                ctime_ns: OLD,
                mode: 0o100644,
            },
            link: None,
        }
    }

    fn snap(entries: &[(&str, EntryStamp)]) -> Snapshot {
        Snapshot::new(
            entries.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect(),
            NOW,
        )
    }

    fn kinds(changes: &[Change]) -> Vec<(String, String)> {
        changes
            .iter()
            .map(|c| (c.name.clone(), c.kind.to_string()))
            .collect()
    }

    #[test]
    fn an_unchanged_snapshot_has_no_changes() {
        let s = snap(&[("a", stamp(1, 10)), ("b/c", stamp(2, 20))]);
        assert!(diff(&s, &s.clone()).is_empty());
    }

    #[test]
    fn each_metadata_field_is_a_change() {
        type Edit = fn(&mut EntryStamp);
        let cases: [(Edit, &str); 7] = [
            (|s| s.file.dev += 1, "modified (inode)"),
            (|s| s.file.ino += 1, "modified (inode)"),
            (|s| s.file.size += 1, "modified (size)"),
            (|s| s.file.mtime_ns += 1, "modified (mtime)"),
            (|s| s.file.ctime_ns += 1, "modified (ctime)"),
            (|s| s.file.mode ^= 0o777, "modified (mode)"),
            (
                |s| {
                    s.file.ctime_ns += 5;
                    s.file.mtime_ns += 5;
                    s.file.size = 0;
                },
                "modified (size, mtime, ctime)",
            ),
        ];
        for (edit, want) in cases {
            let old = snap(&[("w.bin", stamp(7, 100))]);
            let mut changed = stamp(7, 100);
            edit(&mut changed);
            let new = snap(&[("w.bin", changed)]);
            assert_eq!(
                kinds(&diff(&old, &new)),
                vec![("w.bin".to_owned(), want.to_owned())]
            );
        }
    }

    #[test]
    fn added_and_removed_files_are_reported_in_name_order() {
        let old = snap(&[("a", stamp(1, 1)), ("c", stamp(3, 3)), ("e", stamp(5, 5))]);
        let new = snap(&[("b", stamp(2, 2)), ("c", stamp(3, 3)), ("f", stamp(6, 6))]);
        assert_eq!(
            kinds(&diff(&old, &new)),
            [
                ("a", "removed"),
                ("b", "added"),
                ("e", "removed"),
                ("f", "added")
            ]
            .map(|(n, k)| (n.to_owned(), k.to_owned()))
        );
        assert_eq!(diff(&Snapshot::default(), &old).len(), 3);
        assert_eq!(diff(&old, &Snapshot::default()).len(), 3);
    }

    #[test]
    fn a_link_that_changes_is_a_change_even_when_the_target_is_the_same() {
        let mut linked = stamp(1, 1);
        linked.link = Some(stamp(9, 5).file);
        let old = snap(&[("l", linked)]);
        let mut relinked = linked;
        relinked.link = Some(stamp(10, 5).file);
        assert_eq!(
            kinds(&diff(&old, &snap(&[("l", relinked)]))),
            vec![("l".to_owned(), "modified (link)".to_owned())]
        );
        assert_eq!(
            kinds(&diff(&old, &snap(&[("l", stamp(1, 1))]))),
            vec![("l".to_owned(), "modified (link)".to_owned())]
        );
    }

    #[test]
    fn a_file_changed_just_before_the_snapshot_is_read_again_once() {
        let mut recent = stamp(1, 1);
        recent.file.ctime_ns = NOW - 1_000_000;
        let old = snap(&[("hot", recent), ("cold", stamp(2, 2))]);
        assert_eq!(
            kinds(&diff(&old, &old.clone())),
            vec![("hot".to_owned(), "changed recently".to_owned())]
        );
        // Taken later, the same stamp is no longer racy.
        let mut later = old.clone();
        later.taken_ns = NOW + RACY_WINDOW_NS;
        assert!(diff(&later, &later.clone()).is_empty());
    }

    #[test]
    fn snapshots_sort_and_look_up_and_forget_names() {
        let mut s = snap(&[("z", stamp(1, 1)), ("a", stamp(2, 2)), ("m/x", stamp(3, 3))]);
        let names: Vec<&str> = s.entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "m/x", "z"]);
        assert_eq!(s.get("m/x").map(|e| e.file.ino), Some(3));
        assert!(s.get("m").is_none());
        s.forget("m/x");
        assert!(s.get("m/x").is_none());
        assert_eq!(s.entries.len(), 2);
    }
}
