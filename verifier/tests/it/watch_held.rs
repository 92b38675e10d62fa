//! The re-check through held descriptors (`watch::held`), in process with the library's
//! `Checker` as `watch` runs it: real files, real inotify. Each case changes a verified model
//! and says whether the check may still look through the descriptors (a change of a file's
//! inode) or must walk paths (a change of a name), and what the check finds.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use model_verifier::method::key::KeyVerifier;
use model_verifier::model::{ModelSpec, signing_payload};
use model_verifier::sign::{SigningKey, key_bundle};
use model_verifier::verify::VerifyOptions;
use model_verifier::watch::check::{CheckMode, CheckReport, Checker, Verdict};

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(rel)
}

/// A signed model (`model/`: two files, one in a subdirectory) and a hard link to one of its
/// files outside it, in a temporary directory.
struct Model {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Model {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_owned();
        let dir = root.join("model");
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("weights.bin"), vec![42u8; 50_000]).unwrap();
        fs::write(dir.join("sub/config.json"), b"{\"layers\": 2}").unwrap();
        fs::hard_link(dir.join("weights.bin"), root.join("other-link")).unwrap();
        let key = SigningKey::from_pem(&fs::read(testdata("keys/signing-key.pem")).unwrap(), None)
            .unwrap();
        let mut spec = ModelSpec::new(&dir);
        spec.signature_path = Some(root.join("model.sig"));
        let payload = signing_payload(&spec).unwrap();
        fs::write(
            root.join("model.sig"),
            key_bundle(&key, &payload.payload).unwrap().to_json(),
        )
        .unwrap();
        Self { _tmp: tmp, root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn checker(&self) -> Checker<impl FnMut() -> Result<KeyVerifier, String>> {
        let public = fs::read(testdata("keys/signing-key.pub")).unwrap();
        let args = VerifyOptions::new(self.path("model"), self.path("model.sig"));
        Checker::new(args, vec![testdata("keys/signing-key.pub")], move || {
            KeyVerifier::from_pem(&public).map_err(|e| e.to_string())
        })
    }
}

/// Overwrites one byte in place (same inode, same size).
fn poke(path: &Path, byte: u8) {
    let mut f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(100)).unwrap();
    f.write_all(&[byte]).unwrap();
}

/// Writes one byte through a shared writable mapping: no `write(2)`, so inotify reports nothing;
/// the kernel updates the mtime and ctime at the write fault.
#[allow(unsafe_code)]
fn write_through_mapping(path: &Path, byte: u8) {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    // SAFETY: the test owns the file; nothing truncates it while it is mapped.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&file) }.unwrap();
    map[100] = byte;
    map.flush().unwrap();
}

fn failed_files(r: &CheckReport) -> Vec<String> {
    match &r.verdict {
        Verdict::Verified => Vec::new(),
        Verdict::Failed(f) => f.files.clone(),
    }
}

/// The full check (its walk was not watched from before it, so it walks once more, watched,
/// and opens the descriptors), then a cheap one through them.
fn verified_and_held<F>(c: &mut Checker<F>) -> CheckReport
where
    F: FnMut() -> Result<KeyVerifier, String>,
{
    let first = c.check(CheckMode::Full);
    assert_eq!(first.verdict, Verdict::Verified);
    let second = c.check(CheckMode::Cheap);
    assert_eq!(second.verdict, Verdict::Verified);
    assert!(second.held, "descriptors held after the full check");
    second
}

#[test]
fn inode_changes_are_seen_through_descriptors_and_name_changes_walk_paths() {
    type Change = fn(&Model);
    // (what, change, checked through descriptors, failed files)
    let cases: [(&str, Change, bool, &[&str]); 9] = [
        ("nothing", |_| {}, true, &[]),
        (
            "in-place write",
            |m| poke(&m.path("model/weights.bin"), 7),
            true,
            &["weights.bin"],
        ),
        (
            "write through a second hard link outside the model",
            |m| poke(&m.path("other-link"), 7),
            true,
            &["weights.bin"],
        ),
        (
            "write through a shared mapping",
            |m| write_through_mapping(&m.path("model/weights.bin"), 7),
            true,
            &["weights.bin"],
        ),
        (
            "rename over",
            |m| {
                fs::write(m.path("model/sub/.tmp"), vec![7u8; 50_000]).unwrap();
                fs::rename(m.path("model/sub/.tmp"), m.path("model/weights.bin")).unwrap();
            },
            false,
            &["weights.bin"],
        ),
        (
            "new file",
            |m| fs::write(m.path("model/sub/new.bin"), b"x").unwrap(),
            false,
            &["sub/new.bin"],
        ),
        (
            "unlink",
            |m| fs::remove_file(m.path("model/sub/config.json")).unwrap(),
            false,
            &["sub/config.json"],
        ),
        (
            "a subdirectory replaced by another with a changed file",
            |m| {
                fs::rename(m.path("model/sub"), m.path("old-sub")).unwrap();
                fs::create_dir(m.path("model/sub")).unwrap();
                fs::write(m.path("model/sub/config.json"), b"{\"layers\": 3}").unwrap();
            },
            false,
            &["sub/config.json"],
        ),
        (
            "the model directory replaced by a copy with a changed file",
            |m| {
                fs::rename(m.path("model"), m.path("old-model")).unwrap();
                fs::create_dir_all(m.path("model/sub")).unwrap();
                fs::write(m.path("model/weights.bin"), vec![42u8; 50_000]).unwrap();
                fs::write(m.path("model/sub/config.json"), b"{\"layers\": 3}").unwrap();
            },
            false,
            &["sub/config.json"],
        ),
    ];
    for (what, change, held, files) in cases {
        let m = Model::new();
        let mut c = m.checker();
        verified_and_held(&mut c);
        change(&m);
        let r = c.check(CheckMode::Cheap);
        assert_eq!(r.held, held, "{what}: {r:?}");
        if held && !files.is_empty() {
            // Seen in the metadata, not only because the file changed recently.
            assert!(
                r.changes
                    .iter()
                    .any(|c| c.name == files[0] && c.kind.to_string().contains("mtime, ctime")),
                "{what}: {r:?}"
            );
        }
        assert_eq!(failed_files(&r), files.to_vec(), "{what}: {r:?}");
        assert!(!r.full, "{what}");
        // After a walk, the next check holds descriptors again.
        let again = c.check(CheckMode::Cheap);
        assert!(again.held, "{what}: held again");
        assert_eq!(
            failed_files(&again),
            files.to_vec(),
            "{what}: still failing"
        );
    }
}

#[test]
fn without_the_name_watch_every_check_walks_paths() {
    let m = Model::new();
    let mut c = m.checker().hold_files(false);
    assert_eq!(c.check(CheckMode::Full).verdict, Verdict::Verified);
    for _ in 0..3 {
        let r = c.check(CheckMode::Cheap);
        assert_eq!(r.verdict, Verdict::Verified);
        assert!(!r.held);
    }
    poke(&m.path("model/weights.bin"), 7);
    let r = c.check(CheckMode::Cheap);
    assert!(!r.held);
    assert_eq!(failed_files(&r), ["weights.bin"]);
}

#[test]
fn a_full_check_walks_paths_and_the_next_one_holds_again() {
    let m = Model::new();
    let mut c = m.checker();
    verified_and_held(&mut c);
    let full = c.check(CheckMode::Full);
    assert!(full.full && !full.held && full.verdict == Verdict::Verified);
    let r = c.check(CheckMode::Cheap);
    assert!(r.held && r.verdict == Verdict::Verified, "{r:?}");
}
