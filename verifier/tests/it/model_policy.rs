//! Issue 18, the model side: an empty model is not signed (OMS v1.0 §6.1), signed names match
//! exactly, extra files fail before anything is hashed, an explicit "no symlinks" policy refuses
//! a signature made with symlinks, and file names and digests in messages are readable and
//! cannot carry control characters to the terminal.

use crate::support::key_cert_fixtures as fixtures;

use std::path::Path;

use fixtures::{BIN, Output, ours, rust_key_pair, tiny_model, write_model};
use model_verifier::hashing::HashingConfig;
use model_verifier::keys::Curve;
use model_verifier::manifest::{Digest, Manifest, ResourceKey};
use model_verifier::sign::{self, SigningKey};
use sha2::Digest as _;

const SIGN: [&str; 7] = [
    "sign",
    "key",
    "m",
    "--private_key",
    "k.key",
    "--signature",
    "model.sig",
];
const VERIFY: [&str; 7] = [
    "verify",
    "key",
    "m",
    "--signature",
    "model.sig",
    "--public_key",
    "k.pub",
];

fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(extra).copied().collect()
}

/// A directory with a key pair `k.key` / `k.pub`.
fn workspace() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    rust_key_pair(tmp.path(), "k", Curve::P256);
    tmp
}

#[test]
fn an_empty_model_is_not_signed() {
    // (what, files of the model)
    type Files = Vec<(&'static str, Vec<u8>)>;
    let cases: [(&str, Files); 3] = [
        ("no file at all", vec![]),
        (
            "only git paths (ignored by default)",
            vec![
                (".gitignore", b"x".to_vec()),
                (".git/HEAD", b"ref".to_vec()),
            ],
        ),
        (
            "only the signature itself",
            vec![("model.sig", b"{}".to_vec())],
        ),
    ];
    for (what, files) in cases {
        let tmp = workspace();
        let root = tmp.path();
        std::fs::create_dir(root.join("m")).unwrap();
        write_model(&root.join("m"), &files);
        let sig = if what.contains("signature") {
            "m/model.sig"
        } else {
            "model.sig"
        };
        let before = std::fs::read(root.join(sig)).ok();
        let out = ours(
            root,
            &[
                "sign",
                "key",
                "m",
                "--private_key",
                "k.key",
                "--signature",
                sig,
            ],
        );
        assert_eq!(out.code, 1, "{what}: {out:?}");
        assert!(
            out.stderr
                .contains("Signing failed with error: the model 'm' has no file to sign"),
            "{what}: {}",
            out.stderr
        );
        assert_eq!(
            std::fs::read(root.join(sig)).ok(),
            before,
            "{what}: no signature written"
        );
    }
    // One empty file is a model (files serialization lists it).
    let tmp = workspace();
    write_model(&tmp.path().join("m"), &[("empty.bin", Vec::new())]);
    ours(tmp.path(), &SIGN).assert_ok("one empty file");
    ours(tmp.path(), &VERIFY).assert_ok("one empty file verifies");
}

/// Signs a statement listing `names`, each with the SHA-256 of `content`, with `k.key`'s key.
fn sign_names(root: &Path, names: &[&str], content: &[u8]) {
    sign_names_as(root, "m", names, content);
}

/// [`sign_names`] with `subject[0].name` set to `model_name`.
fn sign_names_as(root: &Path, model_name: &str, names: &[&str], content: &[u8]) {
    let mut manifest = Manifest::new(model_name);
    for name in names {
        manifest.resources.insert(
            ResourceKey::File((*name).to_owned()),
            Digest {
                algorithm: "sha256".into(),
                value: sha2::Sha256::digest(content).to_vec(),
            },
        );
    }
    let payload =
        model_verifier::statement::write(&manifest, &HashingConfig::default(), false, &[]);
    let key = SigningKey::from_pem(&std::fs::read(root.join("k.key")).unwrap(), None).unwrap();
    let bundle = sign::key_bundle(&key, &payload).unwrap();
    std::fs::write(root.join("model.sig"), bundle.to_json()).unwrap();
}

#[test]
fn signed_names_match_local_names_exactly() {
    for signed in ["/weights.bin", "//weights.bin"] {
        let tmp = workspace();
        let root = tmp.path();
        write_model(&root.join("m"), &[("weights.bin", b"tiny".to_vec())]);
        sign_names(root, &[signed], b"tiny");
        let out = ours(root, &VERIFY);
        assert_eq!(out.code, 1, "{signed}: {out:?}");
        let msg = out.failure();
        assert!(
            msg.contains("Extra files found in model 'm': weights.bin")
                && msg.contains(&format!("Missing files in model 'm': {signed}")),
            "{signed}: {msg}"
        );
    }
    // The plain name verifies (the statement builder above is sound).
    let tmp = workspace();
    write_model(&tmp.path().join("m"), &[("weights.bin", b"tiny".to_vec())]);
    sign_names(tmp.path(), &["weights.bin"], b"tiny");
    ours(tmp.path(), &VERIFY).assert_ok("exact name");
}

/// Runs `model-verifier <args>` in `cwd` with a CPU-time limit (`ulimit -t`), a deterministic
/// budget: hashing a 1 TiB file takes many minutes of CPU, the name check milliseconds.
fn ours_with_cpu_limit(cwd: &Path, seconds: u32, args: &[&str]) -> Output {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -t {seconds} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    Output::from(out)
}

#[test]
fn an_extra_file_fails_before_anything_is_hashed() {
    let tmp = workspace();
    let root = tmp.path();
    write_model(&root.join("m"), &tiny_model());
    ours(root, &SIGN).assert_ok("sign");
    // A 1 TiB sparse file nobody signed: hashing it would take many minutes of CPU.
    let huge = std::fs::File::create(root.join("m/huge-extra.bin")).unwrap();
    huge.set_len(1 << 40).unwrap();
    drop(huge);
    let out = ours_with_cpu_limit(root, 10, &VERIFY);
    assert_eq!(
        out.code, 1,
        "the extra file must be reported without being hashed (a signal, e.g. SIGXCPU from the \
         CPU limit, means it was hashed): {out:?}"
    );
    assert!(
        out.failure()
            .contains("Extra files found in model 'm': huge-extra.bin"),
        "{}",
        out.failure()
    );
    // Likewise with shards of the signed file changing: sizes are compared before hashing.
    std::fs::remove_file(root.join("m/huge-extra.bin")).unwrap();
    ours(root, &VERIFY).assert_ok("without the extra file");
}

#[test]
fn no_allow_symlinks_refuses_a_signature_made_with_symlinks() {
    let tmp = workspace();
    let root = tmp.path();
    write_model(&root.join("m"), &tiny_model());
    std::os::unix::fs::symlink("weights.bin", root.join("m/link.txt")).unwrap();
    ours(root, &with(&SIGN, &["--allow_symlinks"])).assert_ok("sign with symlinks");
    // Unset: the recorded policy applies (OMS v1.0 §6.1.1).
    ours(root, &VERIFY).assert_ok("recorded allow_symlinks: true, no local policy");
    ours(root, &with(&VERIFY, &["--allow_symlinks"])).assert_ok("local allow");
    // Explicit "no": refused, whatever the model holds.
    for flag in ["--no-allow_symlinks", "--no-allow-symlinks"] {
        let out = ours(root, &with(&VERIFY, &[flag]));
        assert_eq!(out.code, 1, "{flag}: {out:?}");
        assert!(
            out.failure().contains("allow_symlinks: true")
                && out.failure().contains("--no-allow_symlinks"),
            "{flag}: {}",
            out.failure()
        );
    }
    // The last flag wins.
    ours(
        root,
        &with(&VERIFY, &["--no-allow_symlinks", "--allow_symlinks"]),
    )
    .assert_ok("no, then allow");
    // A signature recorded without symlinks passes the explicit "no".
    std::fs::remove_file(root.join("m/link.txt")).unwrap();
    ours(root, &SIGN).assert_ok("sign without symlinks");
    ours(root, &with(&VERIFY, &["--no-allow_symlinks"])).assert_ok("recorded false, local no");
}

#[test]
fn messages_escape_control_characters_and_show_hex_digests() {
    let tmp = workspace();
    let root = tmp.path();
    write_model(&root.join("m"), &tiny_model());
    ours(root, &SIGN).assert_ok("sign");
    // A changed file: model_signing's sentence, digests as `sha256:<hex>`.
    std::fs::write(root.join("m/weights.bin"), b"TINY").unwrap();
    let out = ours(root, &VERIFY);
    let want = format!(
        "Hash mismatch for 'weights.bin': Expected 'sha256:{}', Actual 'sha256:{}'",
        hex::encode(sha2::Sha256::digest(b"tiny")),
        hex::encode(sha2::Sha256::digest(b"TINY"))
    );
    assert!(out.failure().contains(&want), "{}", out.failure());
    std::fs::write(root.join("m/weights.bin"), b"tiny").unwrap();
    // A symlink whose name clears the screen and fakes a success line.
    let evil = "evil\u{1b}[2J\nVerification succeeded\r.bin";
    std::os::unix::fs::symlink("weights.bin", root.join("m").join(evil)).unwrap();
    let out = ours(root, &VERIFY);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        !out.stderr.contains('\u{1b}') && !out.stderr.contains('\r'),
        "raw control characters in {:?}",
        out.stderr
    );
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "one line only: {:?}",
        out.stderr
    );
    assert!(
        out.failure()
            .contains("evil\\x1b[2J\\nVerification succeeded\\r.bin"),
        "{}",
        out.failure()
    );
}

/// OMS v1.0 §8.5: unlisted files fail by default; with `--ignore_unsigned_files` they are not
/// looked at, but every listed file is still verified.
#[test]
fn unsigned_files_fail_unless_ignored_and_listed_files_are_always_checked() {
    let tmp = workspace();
    let root = tmp.path();
    write_model(&root.join("m"), &tiny_model());
    ours(root, &SIGN).assert_ok("sign");
    write_model(&root.join("m"), &[("unsigned.txt", b"extra".to_vec())]);
    let out = ours(root, &VERIFY);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.failure()
            .contains("Extra files found in model 'm': unsigned.txt")
    );
    ours(root, &with(&VERIFY, &["--ignore_unsigned_files"])).assert_ok("extra ignored");
    std::fs::write(root.join("m/weights.bin"), b"TINY").unwrap();
    let out = ours(root, &with(&VERIFY, &["--ignore_unsigned_files"]));
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.failure().contains("Hash mismatch for 'weights.bin'"));
    std::fs::remove_file(root.join("m/weights.bin")).unwrap();
    let out = ours(root, &with(&VERIFY, &["--ignore_unsigned_files"]));
    assert_eq!(out.code, 1, "{out:?}");
}

/// OMS v1.0 §6.1.2 (7): a file name that is not UTF-8 cannot be carried in the bundle; the
/// signer refuses the model.
#[test]
fn a_non_utf8_file_name_is_refused_by_the_signer() {
    use std::os::unix::ffi::OsStrExt as _;
    let tmp = workspace();
    let root = tmp.path();
    write_model(&root.join("m"), &tiny_model());
    let name = std::ffi::OsStr::from_bytes(b"bad-\xff.bin");
    std::fs::write(root.join("m").join(name), b"x").unwrap();
    let out = ours(root, &SIGN);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("not valid UTF-8"), "{}", out.stderr);
    assert!(!root.join("model.sig").exists());
}

/// OMS v1.0 §5.2.1: `resources` has at least one entry; a validly signed empty manifest would
/// verify any model, so the verifier refuses it.
#[test]
fn a_signature_listing_no_file_is_refused() {
    let tmp = workspace();
    let root = tmp.path();
    std::fs::create_dir(root.join("m")).unwrap();
    sign_names(root, &[], b"");
    let out = ours(root, &VERIFY);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.failure().starts_with("The signature covers no files"),
        "{}",
        out.failure()
    );
}

/// OMS v1.0 §6.5.1 and §11.1: `subject[0].name` is informational; any non-empty name verifies.
#[test]
fn the_subject_name_is_informational() {
    for name in ["model", "another name", "m"] {
        let tmp = workspace();
        let root = tmp.path();
        write_model(&root.join("m"), &[("weights.bin", b"tiny".to_vec())]);
        sign_names_as(root, name, &["weights.bin"], b"tiny");
        ours(root, &VERIFY).assert_ok(name);
    }
}

/// OMS v1.0 §11.1: `x509CertificateChain` belongs to the certificate method and `publicKey` to
/// the key method; a bundle of one method is refused by the other.
#[test]
fn the_verification_material_must_match_the_method() {
    let tmp = workspace();
    let root = tmp.path();
    write_model(&root.join("m"), &tiny_model());
    fixtures::Chain::standard("P256").write(&root.join("pki"));
    ours(root, &SIGN).assert_ok("sign key");
    let out = ours(
        root,
        &[
            "verify",
            "certificate",
            "m",
            "--signature",
            "model.sig",
            "--certificate_chain",
            "pki/root.pem",
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.failure().contains("no `x509CertificateChain`"),
        "{}",
        out.failure()
    );
    let sign_cert = [
        "sign",
        "certificate",
        "m",
        "--private_key",
        "pki/leaf.key",
        "--signing_certificate",
        "pki/leaf.pem",
        "--certificate_chain",
        "pki/intermediate.pem",
        "--signature",
        "model.sig",
    ];
    ours(root, &sign_cert).assert_ok("sign certificate");
    let out = ours(root, &VERIFY);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.failure().contains("publicKey"), "{}", out.failure());
}
