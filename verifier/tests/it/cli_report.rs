//! The operator-facing extensions of `verify`: `--termination-log` (one line of JSON on success
//! and failure), `--warn-only` (report, exit 0) and `--output json`, on a model signed by our own
//! `sign key`.

use crate::support::BIN;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mv_shared::verify::{Outcome, TerminationReport};

struct Signed {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Signed {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        fs::create_dir(dir.join("model")).unwrap();
        fs::write(dir.join("model/config.json"), b"{\"layers\": 2}").unwrap();
        fs::write(dir.join("model/weights.bin"), vec![42u8; 100_000]).unwrap();
        let ok = |o: Output| {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        };
        ok(Command::new("openssl")
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "key.pem",
            ])
            .current_dir(&dir)
            .output()
            .unwrap());
        ok(Command::new("openssl")
            .args(["ec", "-in", "key.pem", "-pubout", "-out", "key.pub"])
            .current_dir(&dir)
            .output()
            .unwrap());
        ok(Command::new(BIN)
            .args([
                "sign",
                "key",
                "model",
                "--private_key",
                "key.pem",
                "--signature",
                "model.sig",
            ])
            .current_dir(&dir)
            .output()
            .unwrap());
        Self { _tmp: tmp, dir }
    }

    fn verify(&self, extra: &[&str]) -> Output {
        Command::new(BIN)
            .args([
                "verify",
                "key",
                "model",
                "--signature",
                "model.sig",
                "--public_key",
                "key.pub",
            ])
            .args(extra)
            .current_dir(&self.dir)
            .output()
            .unwrap()
    }

    fn report(&self, path: &Path) -> TerminationReport {
        let text = fs::read_to_string(path).unwrap();
        assert!(
            text.ends_with('\n') && text.lines().count() == 1,
            "{text:?}"
        );
        serde_json::from_str(&text).unwrap()
    }

    fn digest(&self) -> String {
        let out = Command::new(BIN)
            .args(["digest", "model"])
            .current_dir(&self.dir)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

#[test]
fn success_writes_a_verified_termination_report() {
    let s = Signed::new();
    let log = s.dir.join("termination-log");
    let out = s.verify(&["--termination-log", log.to_str().unwrap()]);
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
    let r = s.report(&log);
    assert_eq!(r.outcome, Outcome::Verified);
    assert_eq!(r.method, "key");
    assert_eq!(r.root_digest.as_deref(), Some(s.digest().as_str()));
    assert_eq!(r.files, Some(2));
    assert_eq!(r.bytes, Some(100_000 + 13));
    assert!(r.reason.is_none() && !r.warn_only);
}

#[test]
fn failure_is_reported_and_warn_only_exits_zero() {
    let s = Signed::new();
    fs::write(s.dir.join("model/weights.bin"), vec![43u8; 100_000]).unwrap();
    let log = s.dir.join("termination-log");
    let out = s.verify(&["--termination-log", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("Verification failed with error: Signature mismatch: "),
        "{stderr}"
    );
    let r = s.report(&log);
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .contains("Hash mismatch for 'weights.bin'"),
        "{r:?}"
    );
    assert!(r.root_digest.is_none());

    let out = s.verify(&["--termination-log", log.to_str().unwrap(), "--warn-only"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Verification failed with error: Signature mismatch"),
        "{stderr}"
    );
    assert!(stderr.contains("--warn-only"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing claims success");
    let r = s.report(&log);
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.warn_only);
}

#[test]
fn a_missing_key_file_is_a_failure_with_a_report_too() {
    let s = Signed::new();
    let log = s.dir.join("termination-log");
    let out = Command::new(BIN)
        .args([
            "verify",
            "key",
            "model",
            "--signature",
            "model.sig",
            "--public_key",
            "nope.pub",
        ])
        .args(["--termination-log", log.to_str().unwrap()])
        .current_dir(&s.dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let r = s.report(&log);
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.reason.unwrap().contains("nope.pub"));
}

#[test]
fn an_unwritable_termination_log_does_not_change_the_outcome() {
    let s = Signed::new();
    let out = s.verify(&["--termination-log", "/nonexistent-dir/termination-log"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write the termination log"));
}

#[test]
fn json_output_is_one_object_with_the_report() {
    let s = Signed::new();
    let out = s.verify(&["--output", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result"], "verified");
    assert_eq!(v["method"], "key");
    assert_eq!(v["rootDigest"], s.digest());
    assert_eq!(v["files"], 2);
    fs::write(s.dir.join("model/extra.txt"), b"x").unwrap();
    let out = s.verify(&["--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result"], "failed");
    assert_eq!(v["kind"], "model-mismatch");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("Extra files found in model 'model': extra.txt")
    );
}
