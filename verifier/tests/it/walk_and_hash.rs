//! The model walk, the ignore rules and the hashing engine on small generated trees (format
//! §1–§2), through the library API and through `model-verifier digest`.

use crate::support::BIN;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use model_verifier::hashing::{HashAlgorithm, HashingConfig, Serialization};
use model_verifier::manifest::{Manifest, ResourceKey};
use model_verifier::model::{self, ModelError, ModelSpec, Selection};
use model_verifier::walk::WalkError;
use sha2::{Digest as _, Sha256};

/// A model directory under a temporary root.
struct Tree {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Tree {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("model");
        fs::create_dir(&root).unwrap();
        Self { _tmp: tmp, root }
    }

    fn file(&self, rel: &str, content: &[u8]) -> &Self {
        let p = self.root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
        self
    }

    fn dir(&self, rel: &str) -> &Self {
        fs::create_dir_all(self.root.join(rel)).unwrap();
        self
    }

    fn outside(&self) -> PathBuf {
        self.root.parent().unwrap().to_owned()
    }
}

fn spec(root: &Path) -> ModelSpec {
    ModelSpec::new(root)
}

fn manifest(spec: &ModelSpec) -> Result<Manifest, ModelError> {
    let ignore = spec.ignore_set(&[])?;
    model::compute(spec, &ignore, Selection::Walk).map(|c| c.manifest)
}

fn names(m: &Manifest) -> Vec<String> {
    m.resources.keys().map(ResourceKey::identifier).collect()
}

fn sha(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

fn digest_cli(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("digest")
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn manifest_order_is_component_wise_with_unicode_and_spaces() {
    let t = Tree::new();
    for n in [
        "日本語/モデル.bin",
        "a.txt",
        "é/ü/naïve file.txt",
        "a-b.txt",
        "z/ends with space .txt",
        "a b/x.txt",
        "emoji 🤖.json",
        "a/x.txt",
        "A.txt",
    ] {
        t.file(n, n.as_bytes());
    }
    let m = manifest(&spec(&t.root)).unwrap();
    assert_eq!(
        names(&m),
        [
            "A.txt",
            "a/x.txt",
            "a b/x.txt",
            "a-b.txt",
            "a.txt",
            "emoji 🤖.json",
            "z/ends with space .txt",
            "é/ü/naïve file.txt",
            "日本語/モデル.bin"
        ]
    );
    // The root digest covers the raw digests in exactly that order.
    let mut h = Sha256::new();
    for k in m.resources.keys() {
        h.update(sha(k.file_name().as_bytes()));
    }
    assert_eq!(m.root_digest().to_vec(), h.finalize().to_vec());
    assert_eq!(m.model_name, "model");
}

#[test]
fn hidden_files_deep_nesting_empty_files_and_empty_dirs() {
    let t = Tree::new();
    let deep = (1..=12)
        .map(|i| format!("d{i}"))
        .collect::<Vec<_>>()
        .join("/");
    t.file(&format!("{deep}/deep.bin"), b"deep")
        .file(".hidden", b"h")
        .file("sub/.config", b"c")
        .file("empty.bin", b"")
        .dir("empty-dir/nested-empty");
    let m = manifest(&spec(&t.root)).unwrap();
    assert_eq!(
        names(&m),
        [
            ".hidden".to_owned(),
            format!("{deep}/deep.bin"),
            "empty.bin".to_owned(),
            "sub/.config".to_owned()
        ]
    );
    let empty = &m.resources[&ResourceKey::File("empty.bin".into())];
    assert_eq!(empty.value, sha(b""));
    assert_eq!(&*empty.algorithm, "sha256");
    // Adding or removing empty directories never changes the manifest.
    fs::remove_dir_all(t.root.join("empty-dir")).unwrap();
    assert_eq!(manifest(&spec(&t.root)).unwrap(), m);
}

#[test]
fn a_single_file_model_has_the_resource_name_dot() {
    let t = Tree::new();
    t.file("weights.bin", b"single");
    let file = t.root.join("weights.bin");
    let m = manifest(&spec(&file)).unwrap();
    assert_eq!(names(&m), ["."]);
    assert_eq!(m.model_name, "weights.bin");
    // Root digest = SHA-256 of the file's SHA-256.
    assert_eq!(m.root_digest().to_vec(), sha(&sha(b"single")));
}

#[test]
fn git_paths_are_ignored_at_the_top_level_only() {
    let t = Tree::new();
    t.file(".git/HEAD", b"ref")
        .file(".gitattributes", b"*")
        .file(".github/workflows/ci.yml", b"on")
        .file(".gitignore", b"x")
        .file(".gitmodules", b"m")
        .file("weights/nested/.gitattributes", b"nested");
    let m = manifest(&spec(&t.root)).unwrap();
    assert_eq!(names(&m), [".gitmodules", "weights/nested/.gitattributes"]);
    let mut s = spec(&t.root);
    s.ignore_git_paths = false;
    assert_eq!(manifest(&s).unwrap().resources.len(), 6);
}

#[test]
fn ignore_paths_are_component_prefixes_and_outside_paths_are_dropped() {
    let t = Tree::new();
    t.file("weights/a", b"1")
        .file("weights/b/c", b"2")
        .file("weights.txt", b"3")
        .file("model.sig", b"sig");
    let mut s = spec(&t.root);
    s.ignore_paths = vec![t.root.join("weights/"), t.outside().join("elsewhere")];
    s.signature_path = Some(t.root.join("model.sig"));
    assert_eq!(names(&manifest(&s).unwrap()), ["weights.txt"]);
    // A signature outside the model changes nothing.
    s.signature_path = Some(t.outside().join("model.sig"));
    assert_eq!(names(&manifest(&s).unwrap()), ["model.sig", "weights.txt"]);
    // Recorded (signed) ignore paths are relative to the model; absolute and `..` never match.
    let ignore = spec(&t.root)
        .ignore_set(&[
            "weights/b".into(),
            "/abs".into(),
            "../model/weights.txt".into(),
        ])
        .unwrap();
    let m = model::compute(&spec(&t.root), &ignore, Selection::Walk)
        .unwrap()
        .manifest;
    assert_eq!(names(&m), ["model.sig", "weights/a", "weights.txt"]);
}

#[test]
fn ignored_paths_are_skipped_before_the_symlink_and_special_file_checks() {
    let t = Tree::new();
    t.file("w", b"w").dir(".git");
    symlink("/etc/hostname", t.root.join(".git/link")).unwrap();
    nix_mkfifo(&t.root.join(".git/fifo"));
    assert_eq!(names(&manifest(&spec(&t.root)).unwrap()), ["w"]);
}

fn nix_mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn symlinks_are_refused_unless_allowed_then_files_are_followed_and_dirs_skipped() {
    let t = Tree::new();
    t.file("data/real.bin", b"real").file("other/x", b"x");
    symlink("data/real.bin", t.root.join("link.bin")).unwrap();
    symlink("other", t.root.join("linkdir")).unwrap();
    let err = manifest(&spec(&t.root)).unwrap_err();
    assert!(
        matches!(err, ModelError::Walk(WalkError::Symlink { .. })),
        "{err}"
    );
    assert!(err.to_string().starts_with("Cannot use '"), "{err}");
    assert!(
        err.to_string().ends_with(
            "because it is a symlink. This behavior can be changed with `allow_symlinks`."
        )
    );
    let mut s = spec(&t.root);
    s.allow_symlinks = true;
    let m = manifest(&s).unwrap();
    assert_eq!(names(&m), ["data/real.bin", "link.bin", "other/x"]);
    assert_eq!(
        m.resources[&ResourceKey::File("link.bin".into())].value,
        sha(b"real")
    );
    // A broken link is a special-file error even when links are allowed.
    symlink("nowhere", t.root.join("broken")).unwrap();
    let err = manifest(&s).unwrap_err();
    assert!(err.to_string().contains("could be a special file"), "{err}");
    assert!(err.to_string().contains("broken"), "{err}");
}

#[test]
fn a_fifo_is_a_clear_error_naming_the_path() {
    let t = Tree::new();
    t.file("ok", b"ok");
    nix_mkfifo(&t.root.join("pipe"));
    let err = manifest(&spec(&t.root)).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "Cannot use '{}' as file or directory. It could be a special file, it could be missing, or there might be a permission issue.",
            t.root.join("pipe").display()
        )
    );
    let missing = manifest(&spec(&t.root.join("nope")))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("nope' as file or directory"), "{missing}");
}

#[test]
fn shard_boundaries_at_0_1_s_minus_1_s_s_plus_1_and_2s_plus_1() {
    const S: u64 = 64;
    let t = Tree::new();
    let sizes = [0, 1, S - 1, S, S + 1, 2 * S + 1];
    for n in sizes {
        let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        t.file(&format!("f{n:03}"), &data);
    }
    let mut s = spec(&t.root);
    s.hashing = HashingConfig::new(
        HashAlgorithm::Sha256,
        Serialization::Shards { shard_size: S },
    );
    let m = manifest(&s).unwrap();
    assert_eq!(
        names(&m),
        [
            "f001:0:1",
            "f063:0:63",
            "f064:0:64",
            "f065:0:64",
            "f065:64:65",
            "f129:0:64",
            "f129:64:128",
            "f129:128:129",
        ],
        "empty files have no shard"
    );
    let data: Vec<u8> = (0..2 * S + 1).map(|i| (i % 251) as u8).collect();
    let k = ResourceKey::Shard {
        name: "f129".into(),
        start: 64,
        end: 128,
    };
    assert_eq!(m.resources[&k].value, sha(&data[64..128]));
    assert_eq!(&*m.resources[&k].algorithm, "sha256-sharded-64");
}

#[test]
fn shards_and_files_give_the_same_root_for_files_shorter_than_a_shard() {
    let t = Tree::new();
    t.file("a", b"first file").file("b", b"second");
    let files = manifest(&spec(&t.root)).unwrap();
    let mut s = spec(&t.root);
    s.hashing = HashingConfig::new(
        HashAlgorithm::Sha256,
        Serialization::Shards { shard_size: 100 },
    );
    let shards = manifest(&s).unwrap();
    assert_ne!(names(&files), names(&shards));
    assert_eq!(files.root_digest(), shards.root_digest());
}

#[test]
fn blake2b_and_blake3_digests() {
    let t = Tree::new();
    t.file("x", b"abc");
    for (algo, len) in [(HashAlgorithm::Blake2b, 64), (HashAlgorithm::Blake3, 32)] {
        let mut s = spec(&t.root);
        s.hashing = HashingConfig::new(algo, Serialization::Files);
        let m = manifest(&s).unwrap();
        let d = &m.resources[&ResourceKey::File("x".into())];
        assert_eq!(&*d.algorithm, algo.name());
        assert_eq!(d.value.len(), len);
        assert_eq!(d.value, algo.digest(b"abc"));
    }
    assert_eq!(
        hex::encode(HashAlgorithm::Blake3.digest(b"abc")),
        "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
    );
}

#[test]
fn digest_cli_prints_the_root_and_resolves_ignore_paths_against_the_cwd() {
    let t = Tree::new();
    t.file("keep", b"k").file("drop/x", b"d");
    let outside = t.outside();
    let (code, out, err) = digest_cli(&["model", "--ignore-paths", "model/drop"], &outside);
    assert_eq!(code, 0, "{err}");
    let mut s = spec(&t.root);
    s.ignore_paths = vec![t.root.join("drop")];
    let want = format!(
        "sha256:{}\n",
        hex::encode(manifest(&s).unwrap().root_digest())
    );
    assert_eq!(out, want);
    // Relative to the current directory, not to the model: from outside, `drop` is not inside.
    let (_, out_rel, _) = digest_cli(&["model", "--ignore-paths", "drop"], &outside);
    assert_ne!(out_rel, want);
    let (_, out_in, _) = digest_cli(&[".", "--ignore_paths", "drop"], &t.root);
    assert_eq!(out_in, want);
}

#[test]
fn digest_cli_errors_and_usage() {
    let t = Tree::new();
    let (code, out, err) = digest_cli(&["does-not-exist"], &t.outside());
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.starts_with("Computing digest failed: Cannot use 'does-not-exist'"),
        "{err}"
    );
    let (code, _, err) = digest_cli(&["model", "--hash", "md5"], &t.outside());
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = digest_cli(&["model", "--shard-size", "0"], &t.outside());
    assert_eq!(code, 2);
    let (code, _, _) = digest_cli(&[], &t.outside());
    assert_eq!(code, 2);
}

#[test]
fn digest_cli_serializations_and_hashes() {
    let t = Tree::new();
    t.file("big", &vec![7u8; 1000]).file("small", b"s");
    for (args, cfg) in [
        (
            vec!["--hash", "blake3"],
            HashingConfig::new(HashAlgorithm::Blake3, Serialization::Files),
        ),
        (
            vec!["--hash", "blake2"],
            HashingConfig::new(HashAlgorithm::Blake2b, Serialization::Files),
        ),
        (
            vec!["--serialization", "shards", "--shard-size", "300"],
            HashingConfig::new(
                HashAlgorithm::Sha256,
                Serialization::Shards { shard_size: 300 },
            ),
        ),
    ] {
        let mut full = vec!["model"];
        full.extend(&args);
        let (code, out, err) = digest_cli(&full, &t.outside());
        assert_eq!(code, 0, "{err}");
        let mut s = spec(&t.root);
        s.hashing = cfg;
        assert_eq!(
            out.trim(),
            format!(
                "sha256:{}",
                hex::encode(manifest(&s).unwrap().root_digest())
            )
        );
    }
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let t = Tree::new();
    for i in 0..200 {
        let data: Vec<u8> = (0..(i * 97 % 5000)).map(|j| (j * i % 256) as u8).collect();
        t.file(&format!("d{}/f{i}", i % 7), &data);
    }
    t.file("large.bin", &vec![3u8; 3 << 20]);
    for extra in [
        vec![],
        vec!["--serialization", "shards", "--shard-size", "4096"],
        vec!["--hash", "blake3"],
    ] {
        let run = |threads: Option<&str>| {
            let mut cmd = Command::new(BIN);
            cmd.arg("digest")
                .arg("model")
                .args(&extra)
                .current_dir(t.outside());
            if let Some(n) = threads {
                cmd.env("RAYON_NUM_THREADS", n);
            }
            let out = cmd.output().unwrap();
            assert!(out.status.success());
            String::from_utf8(out.stdout).unwrap()
        };
        let one = run(Some("1"));
        assert_eq!(one, run(None), "{extra:?}");
        assert_eq!(one, run(Some("8")), "{extra:?}");
    }
}

#[test]
fn signed_names_never_lead_outside_the_model() {
    use model_verifier::walk::{IgnoreSet, listed};
    let t = Tree::new();
    t.file("inside.txt", b"in");
    fs::write(t.outside().join("secret.txt"), b"secret").unwrap();
    fs::create_dir(t.outside().join("elsewhere")).unwrap();
    fs::write(t.outside().join("elsewhere/file"), b"x").unwrap();
    symlink(t.outside().join("elsewhere"), t.root.join("linked-dir")).unwrap();
    let ignore = IgnoreSet::new();
    for name in ["../secret.txt", "a/../../secret.txt", "/etc/passwd"] {
        let err = listed(&t.root, [name], &ignore, true).unwrap_err();
        assert!(
            matches!(err, WalkError::OutsideModel { .. }),
            "{name}: {err}"
        );
    }
    let err = listed(&t.root, ["linked-dir/file"], &ignore, true).unwrap_err();
    assert!(matches!(err, WalkError::BelowSymlink { .. }), "{err}");
    // Normalised names inside the model are fine, duplicates are listed once.
    let files = listed(&t.root, ["./inside.txt", "inside.txt"], &ignore, false).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].name, "inside.txt");
    // A signed file that is missing is the special-file error, naming the path.
    let err = listed(&t.root, ["gone.bin"], &ignore, false).unwrap_err();
    assert!(
        err.to_string().contains("gone.bin' as file or directory"),
        "{err}"
    );
}
