//! The root digest recomputed from every upstream signature's statement equals what
//! `model-verifier digest` prints for the vector's folder, with the unsigned files of the
//! folder (the signature itself, `ignore-me`) left out by `--ignore-paths`.
//!
//! Which vectors and why:
//! * every v0.3.1, v1.0.x and v1.1.0 vector (key, certificate, sigstore): their statements carry
//!   a root digest over files/sha256. Folders hold `model.sig` (never signed) and, from v1.0.1
//!   on, an unsigned empty `ignore-me`; both are passed as `--ignore-paths`.
//! * the single-file key vectors v0.3.1/v1.0.0 sign the file `signme-1` alone (resource `"."`):
//!   the digest is computed over that file, not over the folder.
//! * v0.2.0-certificate is left out: its legacy Digests/v0.1 predicate has no root digest.
//!
//! The vectors live in `testdata/conformance` (override: `MV_CONFORMANCE_DIR`).

use crate::support::conformance_dir;
use std::process::Command;

use base64::Engine as _;
use model_verifier::statement;

#[test]
fn root_digests_of_upstream_statements_match_the_digest_command() {
    let dir = conformance_dir();
    let upstream = dir.join("upstream");
    let mut checked = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&upstream).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().into_string().unwrap();
        let sig = entry.path().join("model.sig");
        if !sig.is_file() {
            continue;
        }
        let bundle: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&sig).unwrap()).unwrap();
        let payload = base64::engine::general_purpose::STANDARD
            .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap();
        let parsed = statement::parse(&payload).unwrap();
        let Some(root) = parsed.root_digest else {
            assert_eq!(name, "v0.2.0-certificate", "only v0.2.0 has no root digest");
            continue;
        };
        let single_file = parsed
            .manifest
            .resources
            .keys()
            .any(|k| k.file_name() == ".");
        let mut cmd = Command::new(crate::support::BIN);
        cmd.current_dir(&upstream).arg("digest");
        if single_file {
            cmd.arg(format!("{name}/signme-1"));
        } else {
            cmd.arg(&name);
            for unsigned in ["model.sig", "ignore-me"] {
                cmd.arg("--ignore-paths").arg(format!("{name}/{unsigned}"));
            }
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            format!("sha256:{root}"),
            "{name}"
        );
        checked.push(name);
    }
    assert_eq!(checked.len(), 12, "checked: {checked:?}");
    eprintln!("root digests match for {checked:?}");
}
