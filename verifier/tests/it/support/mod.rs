//! What the test modules share: the binary, the conformance vectors, the Python peer, files.

use std::path::{Path, PathBuf};

pub mod key_cert_fixtures;
pub mod mini_sigstore;
pub mod oci_layout;
pub mod python;
pub mod sigstore_common;

/// The `model-verifier` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_model-verifier");

/// The upstream conformance vectors: `MV_CONFORMANCE_DIR`, default `testdata/conformance`
/// (vendored). Missing vectors are a failure, never a skip.
pub fn conformance_dir() -> PathBuf {
    let dir = match std::env::var_os("MV_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/conformance"),
    };
    assert!(
        dir.join("upstream").is_dir() && dir.join("README.md").is_file(),
        "the conformance vectors are not at {} (testdata/conformance, or MV_CONFORMANCE_DIR)",
        dir.display()
    );
    dir
}

/// Copies the directory `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
