//! `--cold-reads`: files that are not in the page cache are read with direct I/O by default (the
//! page cache does not grow) or through the page cache with `--cold-reads cached` (the model
//! stays cached). Residency is measured with util-linux `fincore`, eviction with
//! `posix_fadvise(DONTNEED)`.

use crate::support::BIN;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Larger than the size from which cold files are read on a helper thread (4 MiB).
const BIG: usize = 24 << 20;

struct Model {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Model {
    fn new() -> Self {
        // Under the target directory, a disk filesystem: on tmpfs pages cannot be evicted.
        let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let dir = tmp.path().to_owned();
        fs::create_dir(dir.join("model")).unwrap();
        fs::write(dir.join("model/config.json"), b"{\"layers\": 2}").unwrap();
        let weights: Vec<u8> = (0..BIG).map(|i| (i * 31 % 253) as u8).collect();
        fs::write(dir.join("model/weights.bin"), weights).unwrap();
        run(
            &dir,
            "openssl",
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "key.pem",
            ],
        );
        run(
            &dir,
            "openssl",
            &["ec", "-in", "key.pem", "-pubout", "-out", "key.pub"],
        );
        run(
            &dir,
            BIN,
            &[
                "sign",
                "key",
                "model",
                "--private_key",
                "key.pem",
                "--signature",
                "model.sig",
            ],
        );
        Self { _tmp: tmp, dir }
    }

    fn weights(&self) -> PathBuf {
        self.dir.join("model/weights.bin")
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

    fn digest(&self, extra: &[&str]) -> String {
        let out = Command::new(BIN)
            .args(["digest", "model"])
            .args(extra)
            .current_dir(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

fn run(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes the file back and drops its pages from the page cache.
fn evict(path: &Path) {
    let f = File::open(path).unwrap();
    f.sync_all().unwrap();
    rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
}

/// Bytes of the file in the page cache, as util-linux `fincore` reports them.
fn resident(path: &Path) -> u64 {
    let out = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(path)
        .output()
        .expect("util-linux fincore is needed by this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Evicts the weights and checks that it worked (a test that cannot evict fails: it would
/// check nothing).
fn evict_weights(m: &Model) {
    evict(&m.weights());
    assert!(
        resident(&m.weights()) <= (BIG / 2) as u64,
        "pages of {} cannot be evicted (tmpfs?); the cold-read tests need a disk filesystem",
        m.weights().display()
    );
}

#[test]
fn a_cold_model_verifies_without_filling_the_page_cache_by_default() {
    let m = Model::new();
    evict_weights(&m);
    let out = m.verify(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Direct reads leave (almost) nothing behind; a buffered read would have cached it all.
    let left = resident(&m.weights());
    assert!(
        left < (BIG / 4) as u64,
        "{left} bytes cached after a direct read"
    );

    evict(&m.weights());
    let out = m.verify(&["--cold-reads", "cached"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_mostly_cached(&m.weights(), "cached reads leave the model cached");

    // A warm model is read from the page cache either way (and stays there).
    let out = m.verify(&["--cold-reads", "direct"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_mostly_cached(&m.weights(), "a warm model stays cached");
}

/// All of the file is in the page cache, but for what the kernel reclaims meanwhile (this VM
/// runs proactive reclaim, kdamond: CI runs saw 8 and 64 of 6,144 pages gone); a direct read
/// of a cold file leaves less than a quarter.
fn assert_mostly_cached(path: &Path, what: &str) {
    let cached = resident(path);
    assert!(
        cached >= (BIG - BIG / 16) as u64,
        "{what}: {cached} of {BIG} bytes cached"
    );
}

#[test]
fn a_tampered_cold_file_fails_with_direct_reads() {
    let m = Model::new();
    evict_weights(&m);
    // One byte in the middle of the file, not on a chunk boundary.
    let f = fs::OpenOptions::new()
        .write(true)
        .open(m.weights())
        .unwrap();
    f.write_all_at(b"\xff", (BIG / 2 + 12_345) as u64).unwrap();
    drop(f);
    evict(&m.weights());
    let out = m.verify(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Hash mismatch for") && stderr.contains("weights.bin"),
        "{stderr}"
    );
}

#[test]
fn digests_agree_whichever_way_the_model_is_read() {
    let m = Model::new();
    let warm = m.digest(&[]);
    evict(&m.weights());
    assert_eq!(m.digest(&["--cold-reads", "direct"]), warm);
    evict(&m.weights());
    assert_eq!(m.digest(&["--cold_reads", "cached"]), warm);
    for hash in ["blake2b", "blake3"] {
        let warm = m.digest(&["--hash", hash]);
        evict(&m.weights());
        assert_eq!(m.digest(&["--hash", hash]), warm, "{hash}");
    }
}

#[test]
fn an_unknown_cold_reads_value_is_a_usage_error() {
    let m = Model::new();
    let out = m.verify(&["--cold-reads", "sometimes"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("direct") && stderr.contains("cached"),
        "{stderr}"
    );
}
