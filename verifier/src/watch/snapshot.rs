//! The metadata of a verified model, and what changed since (pure: no I/O here).
//!
//! A file whose identity and metadata (device, inode, size, mtime, ctime) are unchanged is not
//! read again. ctime cannot be set from user space, so a write that restores the mtime still
//! shows. A file whose ctime is within [`RACY_WINDOW_NS`] of the moment it was looked at is
//! "racy": it may change again within the same timestamp tick without any field changing, so
//! it is read again at the next check whatever its metadata says.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// Files changed this close (nanoseconds) to the moment they were looked at are read again at
/// the next check: timestamps have a granularity (one kernel tick, up to seconds on some
/// filesystems), and a second write within the same tick changes no field.
pub const RACY_WINDOW_NS: i128 = 2_000_000_000;

/// What identifies a file's content without reading it. The times are kept as `statx` gives
/// them (seconds, nanoseconds): 56 bytes, where nanoseconds in an `i128` took 80 (a snapshot of
/// 10,000 files is kept for as long as `watch` runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime_sec: i64,
    /// Modification time, nanoseconds within the second.
    pub mtime_nsec: u32,
    /// Status change time (not settable from user space), seconds since the epoch.
    pub ctime_sec: i64,
    /// Status change time, nanoseconds within the second.
    pub ctime_nsec: u32,
    /// File type and permission bits.
    pub mode: u32,
}

/// Nanoseconds since the epoch of a `(seconds, nanoseconds)` time.
pub fn ns(sec: i64, nsec: u32) -> i128 {
    i128::from(sec) * 1_000_000_000 + i128::from(nsec)
}

impl FileStamp {
    /// Whether a change at ctime could hide within the timestamp granularity, as seen at `now_ns`.
    pub fn is_racy(&self, now_ns: i128) -> bool {
        ns(self.ctime_sec, self.ctime_nsec) > now_ns - RACY_WINDOW_NS
    }

    /// The fields that differ from `other`.
    pub fn differences(&self, other: &Self) -> Fields {
        Fields {
            identity: self.dev != other.dev || self.ino != other.ino,
            size: self.size != other.size,
            mtime: (self.mtime_sec, self.mtime_nsec) != (other.mtime_sec, other.mtime_nsec),
            ctime: (self.ctime_sec, self.ctime_nsec) != (other.ctime_sec, other.ctime_nsec),
            mode: self.mode != other.mode,
            link: false,
        }
    }
}

/// One model file as last seen: the file read (a link's target with `--allow_symlinks`) and,
/// for a symbolic link, the link itself (boxed: links are rare, and an entry stays 64 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryStamp {
    /// The file that is read.
    pub file: FileStamp,
    /// The link, when the name is a symbolic link.
    pub link: Option<Box<FileStamp>>,
}

impl EntryStamp {
    fn is_racy(&self, now_ns: i128) -> bool {
        self.file.is_racy(now_ns) || self.link.as_ref().is_some_and(|l| l.is_racy(now_ns))
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

/// The files of a model and their stamps, in the order the walk found them (the same order
/// again while no directory changes), and when they were taken.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// `(name, stamp)`, names unique.
    pub entries: Vec<(String, EntryStamp)>,
    /// When the walk started, nanoseconds since the epoch.
    pub taken_ns: i128,
}

impl Snapshot {
    /// A snapshot from entries in walk order (names unique).
    pub fn new(entries: Vec<(String, EntryStamp)>, taken_ns: i128) -> Self {
        Self { entries, taken_ns }
    }

    /// The stamps by name.
    pub fn index(&self) -> HashMap<&str, &EntryStamp> {
        self.entries.iter().map(|(n, s)| (n.as_str(), s)).collect()
    }

    /// Drops names (so that the next diff reports them as added and they are read again).
    pub fn forget(&mut self, names: &BTreeSet<&str>) {
        self.entries.retain(|(n, _)| !names.contains(n.as_str()));
    }
}

impl Snapshot {
    /// Looks at the same files again without walking: `look(i)` is the stamp of the file of
    /// entry `i` now (through a held descriptor). Compares as [`diff`] does with a snapshot of
    /// the same names in the same order, takes the new stamps, and returns the changes in name
    /// order; `None`, and nothing taken, when a file cannot be looked at or an entry is a
    /// symbolic link (a descriptor sees the file, not the link).
    pub fn restamp(
        &mut self,
        mut look: impl FnMut(usize) -> Option<FileStamp>,
        taken_ns: i128,
    ) -> Option<Vec<Change>> {
        let mut changed = Vec::new();
        for (i, (_, was)) in self.entries.iter().enumerate() {
            if was.link.is_some() {
                return None;
            }
            let now = EntryStamp {
                file: look(i)?,
                link: None,
            };
            if let Some(kind) = compare(was, &now, self.taken_ns) {
                changed.push((i, kind, now));
            }
        }
        let mut out = Vec::with_capacity(changed.len());
        for (i, kind, now) in changed {
            self.entries[i].1 = now;
            out.push(Change {
                name: self.entries[i].0.clone(),
                kind,
            });
        }
        self.taken_ns = taken_ns;
        out.sort_by(|x, y| x.name.cmp(&y.name));
        Some(out)
    }
}

/// What changed between two stamps of one name, if anything.
fn compare(was: &EntryStamp, now: &EntryStamp, old_taken_ns: i128) -> Option<ChangeKind> {
    let mut fields = was.file.differences(&now.file);
    fields.link = match (&was.link, &now.link) {
        (None, None) => false,
        (Some(x), Some(y)) => x.differences(y).any(),
        _ => true,
    };
    if fields.any() {
        Some(ChangeKind::Modified(fields))
    } else if was.is_racy(old_taken_ns) {
        Some(ChangeKind::Racy)
    } else {
        None
    }
}

/// The files that differ between an old and a new snapshot, in name order: added, removed,
/// metadata changed, or unchanged but racy in the old snapshot (changed within the timestamp
/// granularity of when it was taken). When the walk found the same names in the same order
/// (no directory changed), the stamps are compared pairwise without any lookup.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Vec<Change> {
    let (a, b) = (&old.entries, &new.entries);
    let mut out = Vec::new();
    let same_names = a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0);
    if same_names {
        for ((name, was), (_, now)) in a.iter().zip(b) {
            if let Some(kind) = compare(was, now, old.taken_ns) {
                out.push(Change {
                    name: name.clone(),
                    kind,
                });
            }
        }
    } else {
        let before = old.index();
        let after = new.index();
        for (name, now) in b {
            let kind = match before.get(name.as_str()) {
                Some(was) => compare(was, now, old.taken_ns),
                None => Some(ChangeKind::Added),
            };
            if let Some(kind) = kind {
                out.push(Change {
                    name: name.clone(),
                    kind,
                });
            }
        }
        for (name, _) in a {
            if !after.contains_key(name.as_str()) {
                out.push(Change {
                    name: name.clone(),
                    kind: ChangeKind::Removed,
                });
            }
        }
    }
    out.sort_by(|x, y| x.name.cmp(&y.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i128 = 1_000_000_000_000_000_000;
    const OLD_SEC: i64 = 1_000_000_000 - 3600;

    /// Sets the ctime to `at` nanoseconds since the epoch.
    fn set_ctime(s: &mut FileStamp, at: i128) {
        s.ctime_sec = (at / 1_000_000_000) as i64;
        s.ctime_nsec = (at % 1_000_000_000) as u32;
    }

    fn stamp(ino: u64, size: u64) -> EntryStamp {
        EntryStamp {
            file: FileStamp {
                dev: 1,
                ino,
                size,
                mtime_sec: OLD_SEC,
                mtime_nsec: 0,
                ctime_sec: OLD_SEC,
                ctime_nsec: 0,
                mode: 0o100644,
            },
            link: None,
        }
    }

    fn snap(entries: &[(&str, EntryStamp)]) -> Snapshot {
        Snapshot::new(
            entries
                .iter()
                .map(|(n, s)| ((*n).to_owned(), s.clone()))
                .collect(),
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
    #[cfg(target_pointer_width = "64")]
    fn an_entry_kept_between_checks_is_88_bytes() {
        assert_eq!(std::mem::size_of::<FileStamp>(), 56);
        assert_eq!(std::mem::size_of::<(String, EntryStamp)>(), 88);
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
            (|s| s.file.mtime_nsec += 1, "modified (mtime)"),
            (|s| s.file.ctime_nsec += 1, "modified (ctime)"),
            (|s| s.file.mode ^= 0o777, "modified (mode)"),
            (
                |s| {
                    s.file.ctime_sec += 5;
                    s.file.mtime_nsec += 5;
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
        linked.link = Some(Box::new(stamp(9, 5).file));
        let old = snap(&[("l", linked.clone())]);
        let mut relinked = linked;
        relinked.link = Some(Box::new(stamp(10, 5).file));
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
        set_ctime(&mut recent.file, NOW - 1_000_000);
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
    fn restamping_finds_what_diff_finds_and_takes_the_new_stamps() {
        type Edit = fn(&mut EntryStamp);
        let cases: [(&str, Edit); 5] = [
            ("nothing", |_| {}),
            ("size", |s| s.file.size += 1),
            ("ctime", |s| s.file.ctime_nsec += 1),
            ("inode", |s| s.file.ino += 1),
            ("mtime", |s| s.file.mtime_sec -= 1),
        ];
        for (what, edit) in cases {
            let mut recent = stamp(3, 3);
            set_ctime(&mut recent.file, NOW - 1);
            let old = snap(&[("z", stamp(1, 1)), ("a", stamp(2, 2)), ("r", recent)]);
            let mut now = old.clone();
            edit(&mut now.entries[0].1);
            now.taken_ns = NOW + 1;
            let want = diff(&old, &now);
            let mut held = old.clone();
            let got = held.restamp(|i| Some(now.entries[i].1.file), NOW + 1);
            assert_eq!(got, Some(want), "{what}");
            assert_eq!(held, now, "{what}");
        }
        // A file that cannot be looked at, or a link: nothing decided, nothing taken.
        let old = snap(&[("a", stamp(1, 1)), ("b", stamp(2, 2))]);
        let mut held = old.clone();
        assert_eq!(
            held.restamp(|i| (i == 0).then_some(stamp(9, 9).file), NOW),
            None
        );
        assert_eq!(held, old);
        let mut linked = stamp(1, 1);
        linked.link = Some(Box::new(stamp(5, 5).file));
        let mut with_link = snap(&[("l", linked.clone())]);
        assert_eq!(with_link.restamp(|_| Some(linked.file), NOW), None);
    }

    #[test]
    fn the_walk_order_does_not_matter_and_names_can_be_forgotten() {
        let a = snap(&[("z", stamp(1, 1)), ("a", stamp(2, 2)), ("m/x", stamp(3, 3))]);
        let b = snap(&[("a", stamp(2, 2)), ("m/x", stamp(3, 3)), ("z", stamp(1, 1))]);
        assert!(diff(&a, &b).is_empty());
        let mut c = b.clone();
        c.entries[1].1.file.size = 9;
        assert_eq!(
            kinds(&diff(&a, &c)),
            vec![("m/x".to_owned(), "modified (size)".to_owned())]
        );
        assert_eq!(a.index().get("m/x").map(|e| e.file.ino), Some(3));
        let mut d = a.clone();
        d.forget(&["m/x", "a"].into_iter().collect());
        let names: Vec<&str> = d.entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["z"]);
        assert_eq!(
            kinds(&diff(&d, &a)),
            [("a", "added"), ("m/x", "added")].map(|(n, k)| (n.to_owned(), k.to_owned()))
        );
    }
}
