//! Issue 18: a signature, key, certificate chain or trust config that is not a regular file (a
//! FIFO, a device, a directory) is refused with a clear message, and nothing blocks. Opening a
//! FIFO for reading used to wait for a writer forever.

use crate::support::key_cert_fixtures as fixtures;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fixtures::{BIN, Chain, Output, rust_key_pair, tiny_model, write_model};
use model_verifier::keys::Curve;

/// A generous bound so a hang is reported as a failure instead of blocking the suite; the
/// refusal itself takes milliseconds.
const HANG: Duration = Duration::from_secs(30);

/// Runs `model-verifier <args>` in `cwd`, killing it (and failing) if it does not end.
fn run(cwd: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > HANG {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("model-verifier {args:?} hung (killed after {HANG:?})");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Output::from(child.wait_with_output().unwrap())
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

#[test]
fn non_regular_input_files_are_refused_without_blocking() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_model(&root.join("m"), &tiny_model());
    rust_key_pair(root, "k", Curve::P256);
    let chain = Chain::standard("P256");
    chain.write(&root.join("pki"));
    mkfifo(&root.join("fifo"));
    std::fs::create_dir(root.join("dir")).unwrap();
    let ok = run(
        root,
        &[
            "sign",
            "key",
            "m",
            "--private_key",
            "k.key",
            "--signature",
            "model.sig",
        ],
    );
    ok.assert_ok("sign");

    // (role, arguments with `{}` where the special file goes)
    let roles: [(&str, Vec<&str>); 6] = [
        (
            "signature",
            vec![
                "verify",
                "key",
                "m",
                "--signature",
                "{}",
                "--public_key",
                "k.pub",
            ],
        ),
        (
            "public key",
            vec![
                "verify",
                "key",
                "m",
                "--signature",
                "model.sig",
                "--public_key",
                "{}",
            ],
        ),
        (
            "certificate chain",
            vec![
                "verify",
                "certificate",
                "m",
                "--signature",
                "model.sig",
                "--certificate_chain",
                "{}",
            ],
        ),
        (
            "trust config",
            vec![
                "verify",
                "sigstore",
                "m",
                "--signature",
                "model.sig",
                "--identity",
                "a@example.com",
                "--identity_provider",
                "https://accounts.example.com",
                "--trust_config",
                "{}",
            ],
        ),
        (
            "private key",
            vec![
                "sign",
                "key",
                "m",
                "--private_key",
                "{}",
                "--signature",
                "other.sig",
            ],
        ),
        (
            "signing certificate",
            vec![
                "sign",
                "certificate",
                "m",
                "--private_key",
                "pki/leaf.key",
                "--signing_certificate",
                "{}",
                "--certificate_chain",
                "pki/intermediate.pem",
                "--signature",
                "other.sig",
            ],
        ),
    ];
    let specials = [
        ("fifo", "is a FIFO (named pipe)"),
        ("/dev/null", "is a character device"),
        ("dir", "is a directory"),
    ];
    for (role, args) in &roles {
        for (special, what) in specials {
            let args: Vec<&str> = args
                .iter()
                .map(|a| if *a == "{}" { special } else { a })
                .collect();
            let out = run(root, &args);
            assert_eq!(out.code, 1, "{role} = {special}: {out:?}");
            assert!(
                out.stderr.contains(&format!("'{special}' {what}"))
                    && out.stderr.contains("must be regular files"),
                "{role} = {special}: {}",
                out.stderr
            );
        }
    }
    // Nothing was signed from a special file.
    assert!(!root.join("other.sig").exists());
}
