//! The bundled example (`testdata/`, made by `testdata/generate.sh` with this project's own
//! signer) verifies with both methods, and its tampered copy does not.

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    Command::new(crate::support::BIN)
        .args(args)
        .current_dir(root)
        .output()
        .unwrap()
}

#[test]
fn the_bundled_model_verifies_with_its_key_and_its_certificate_chain() {
    let out = run(&[
        "verify",
        "key",
        "model",
        "--signature",
        "signatures/key.sig",
        "--public_key",
        "keys/signing-key.pub",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Verification succeeded\n"
    );
    let out = run(&[
        "verify",
        "certificate",
        "model",
        "--signature",
        "signatures/certificate.sig",
        "--certificate_chain",
        "keys/root-ca.pem",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_tampered_copy_fails_naming_the_changed_file() {
    let out = run(&[
        "verify",
        "key",
        "model-tampered",
        "--signature",
        "signatures/key.sig",
        "--public_key",
        "keys/signing-key.pub",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("Verification failed with error: Signature mismatch: ["),
        "{err}"
    );
    assert!(err.contains("Hash mismatch for "), "{err}");
    assert!(err.contains("weights/model.safetensors"), "{err}");
}

#[test]
fn the_wrong_trust_anchor_fails() {
    // The intermediate alone is not a self-signed anchor.
    let out = run(&[
        "verify",
        "certificate",
        "model",
        "--signature",
        "signatures/certificate.sig",
        "--certificate_chain",
        "keys/intermediate-ca.pem",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
