//! `watch` / `validation-agent`: real processes, real files, real HTTP over loopback.
//!
//! Each test signs a small model with the test key of `testdata/keys`, starts the watcher with
//! `--health-port 0` (it prints the port it bound), changes files and reads `/ready` with a plain
//! `std::net` client. Tests that must see inotify use `--interval 1h`, so only inotify can
//! explain a reaction within seconds; the others use `--no-inotify` and a short interval.

use crate::support::BIN;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Generous: the test machine is shared; the interval-free tests still prove inotify (1h).
const WAIT: Duration = Duration::from_secs(15);

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(rel)
}

struct Signed {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Signed {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        fs::create_dir_all(dir.join("model/sub")).unwrap();
        fs::write(dir.join("model/config.json"), b"{\"layers\": 2}").unwrap();
        fs::write(dir.join("model/weights.bin"), vec![42u8; 100_000]).unwrap();
        fs::write(dir.join("model/sub/tokenizer.json"), b"{}").unwrap();
        for k in ["signing-key.pem", "signing-key.pub", "root-ca-key.pem"] {
            fs::copy(testdata(&format!("keys/{k}")), dir.join(k)).unwrap();
        }
        let s = Self { _tmp: tmp, dir };
        s.sign("signing-key.pem", "model.sig");
        s
    }

    fn sign(&self, key: &str, sig: &str) {
        let out = Command::new(BIN)
            .args([
                "sign",
                "key",
                "model",
                "--private_key",
                key,
                "--signature",
                sig,
            ])
            .current_dir(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn watch(&self, flags: &[&str], verify_extra: &[&str]) -> Agent {
        self.spawn(BIN, &["watch"], flags, verify_extra)
    }

    fn spawn(&self, program: &str, pre: &[&str], flags: &[&str], verify_extra: &[&str]) -> Agent {
        let mut cmd = Command::new(program);
        cmd.args(pre)
            .args(flags)
            .args(["verify", "key", "model", "--signature", "model.sig"])
            .args(["--public_key", "signing-key.pub"])
            .args(verify_extra)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Agent::start(cmd)
    }
}

/// A running watcher and everything it printed so far.
struct Agent {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    port: u16,
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut s = into.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
}

impl Agent {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().unwrap(), stdout.clone());
        collect(child.stderr.take().unwrap(), stderr.clone());
        let mut agent = Self {
            child,
            stdout,
            stderr,
            port: 0,
        };
        let marker = "probes listening on 0.0.0.0:";
        let err = agent.stderr.clone();
        agent.wait_until("the probe port is printed", || {
            agent_port(&err.lock().unwrap(), marker).is_some()
        });
        agent.port = agent_port(&agent.stderr(), marker).unwrap();
        agent
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn get(&self, path: &str) -> u16 {
        http_get(self.port, path)
    }

    fn wait_until(&mut self, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
        let started = Instant::now();
        while started.elapsed() < WAIT {
            if cond() {
                return started.elapsed();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "the watcher exited ({status}) before {what}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "timed out waiting for {what}\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
    }

    fn wait_stdout(&mut self, text: &str) {
        let out = self.stdout.clone();
        self.wait_until(&format!("{text:?} on stdout"), || {
            out.lock().unwrap().contains(text)
        });
    }

    fn wait_stderr(&mut self, text: &str) {
        let err = self.stderr.clone();
        self.wait_until(&format!("{text:?} on stderr"), || {
            err.lock().unwrap().contains(text)
        });
    }

    fn wait_ready(&mut self, want: u16) -> Duration {
        let port = self.port;
        self.wait_until(&format!("/ready {want}"), || {
            http_get(port, "/ready") == want
        })
    }

    fn signal(&mut self, sig: &str) -> ExitStatus {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the output collectors read to the end.
                thread::sleep(Duration::from_millis(300));
                return status;
            }
            assert!(started.elapsed() < WAIT, "no exit after {sig}");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent_port(stderr: &str, marker: &str) -> Option<u16> {
    let at = stderr.find(marker)? + marker.len();
    let digits: String = stderr[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The status code of `GET path` on the loopback port (0 when nothing answers).
fn http_get(port: u16, path: &str) -> u16 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Overwrites bytes in place (same inode, same size).
fn poke(path: &Path, offset: u64, byte: u8) {
    use std::io::{Seek, SeekFrom};
    let mut f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&[byte]).unwrap();
}

#[test]
fn ready_after_verification_drift_in_place_seen_by_inotify_then_restored() {
    let s = Signed::new();
    let mut a = s.watch(&["--health-port", "0", "--interval", "1h"], &[]);
    a.wait_ready(200);
    assert_eq!(a.get("/healthz"), 200);
    assert_eq!(a.get("/metrics"), 404);
    a.wait_stdout("Verification succeeded\n");

    // Same size, same inode: only mtime/ctime (and the content) change.
    poke(&s.path("model/weights.bin"), 500, 7);
    let took = a.wait_ready(503);
    assert!(took < Duration::from_secs(10), "inotify: {took:?}");
    assert_eq!(a.get("/healthz"), 200, "the process still works");
    a.wait_stderr("Model drift detected");
    let err = a.stderr();
    assert!(err.contains("Model drift detected"), "{err}");
    assert!(err.contains("weights.bin: modified ("), "{err}");
    assert!(err.contains("Hash mismatch for 'weights.bin'"), "{err}");

    poke(&s.path("model/weights.bin"), 500, 42);
    a.wait_ready(200);
    a.wait_stdout("Model verified again: 'model' matches its signature");
    assert_eq!(a.signal("TERM").code(), Some(0));
    assert!(a.stderr().contains("received SIGTERM, exiting"));
}

#[test]
fn added_and_removed_files_are_found_at_the_interval_without_inotify() {
    let s = Signed::new();
    let mut a = s.watch(
        &["--health-port", "0", "--interval", "1s", "--no-inotify"],
        &[],
    );
    a.wait_ready(200);
    fs::write(s.path("model/sub/extra\nfile.txt"), b"x").unwrap();
    a.wait_ready(503);
    a.wait_stderr("Extra files");
    let err = a.stderr();
    assert!(err.contains("Extra files found in model"), "{err}");
    assert!(
        err.contains("sub/extra\\nfile.txt: added"),
        "escaped: {err}"
    );
    assert!(
        !err.contains("extra\nfile"),
        "a name cannot forge a log line: {err}"
    );
    fs::remove_file(s.path("model/sub/extra\nfile.txt")).unwrap();
    a.wait_ready(200);

    fs::rename(s.path("model/config.json"), s.path("config.json")).unwrap();
    a.wait_ready(503);
    a.wait_stderr("Missing files in model 'model': config.json");
    fs::rename(s.path("config.json"), s.path("model/config.json")).unwrap();
    a.wait_ready(200);
    assert_eq!(a.signal("INT").code(), Some(0));
}

#[test]
fn a_replaced_signature_or_key_is_verified_again() {
    let s = Signed::new();
    let mut a = s.watch(&["--health-port", "0", "--interval", "1h"], &[]);
    a.wait_ready(200);
    let good = fs::read(s.path("model.sig")).unwrap();
    // A valid signature of the same model by another key.
    s.sign("root-ca-key.pem", "other.sig");
    fs::rename(s.path("other.sig"), s.path("model.sig")).unwrap();
    a.wait_ready(503);
    a.wait_stderr("Verification failed with error:");
    fs::write(s.path("model.sig"), &good).unwrap();
    a.wait_ready(200);

    // The trust material: a different public key.
    fs::write(s.path("signing-key.pub"), b"not a key").unwrap();
    a.wait_ready(503);
    fs::copy(testdata("keys/signing-key.pub"), s.path("signing-key.pub")).unwrap();
    a.wait_ready(200);
}

/// Issue 17: `--public_key` repeated under `watch`: a signature by either key keeps the model
/// ready, one by a third key does not, and every key file is watched.
#[test]
fn several_keys_any_of_them_verifies_and_each_key_file_is_watched() {
    let s = Signed::new();
    let curve = model_verifier::keys::Curve::P384;
    crate::support::key_cert_fixtures::rust_key_pair(&s.dir, "second", curve);
    crate::support::key_cert_fixtures::rust_key_pair(&s.dir, "third", curve);
    let by_first = fs::read(s.path("model.sig")).unwrap();
    let mut a = s.watch(
        &["--health-port", "0", "--interval", "1h"],
        &["--public_key", "second.pub"],
    );
    a.wait_ready(200);
    // (signed with, ready)
    for (key, ready) in [("third.key", 503), ("second.key", 200), ("third.key", 503)] {
        s.sign(key, "next.sig");
        fs::rename(s.path("next.sig"), s.path("model.sig")).unwrap();
        a.wait_ready(ready);
    }
    a.wait_stderr("none of the 2 trusted public keys verifies the signature");
    fs::write(s.path("model.sig"), &by_first).unwrap();
    a.wait_ready(200);
    // The second key file is trust material too: broken, then restored.
    let second = fs::read(s.path("second.pub")).unwrap();
    fs::write(s.path("second.pub"), b"not a key").unwrap();
    a.wait_ready(503);
    a.wait_stderr("public key 'second.pub': Unable to load PEM file");
    fs::write(s.path("second.pub"), &second).unwrap();
    a.wait_ready(200);
}

#[test]
fn skip_initial_trusts_the_model_until_the_first_interval_hashes_it() {
    let s = Signed::new();
    // Tampered before the start, keeping size and times (as if the init container had
    // verified it and it changed just after): only a full re-hash can see it.
    let meta = fs::metadata(s.path("model/weights.bin")).unwrap();
    poke(&s.path("model/weights.bin"), 10, 1);
    let f = fs::File::options()
        .write(true)
        .open(s.path("model/weights.bin"))
        .unwrap();
    f.set_modified(meta.modified().unwrap()).unwrap();
    drop(f);
    let mut a = s.watch(
        &[
            "--health-port",
            "0",
            "--interval",
            "3s",
            "--no-inotify",
            "--skip-initial=true",
        ],
        &[],
    );
    assert!(a.wait_ready(200) < Duration::from_secs(3), "ready at once");
    a.wait_ready(503);
    a.wait_stderr("Hash mismatch for 'weights.bin'");
}

#[test]
fn json_events_and_the_termination_log_follow_each_state_change() {
    let s = Signed::new();
    let log = s.path("termination-log");
    let mut a = s.watch(
        &["--health-port", "0", "--interval", "1h"],
        &[
            "--output",
            "json",
            "--termination-log",
            log.to_str().unwrap(),
        ],
    );
    a.wait_ready(200);
    let report = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
    };
    assert_eq!(report(&log)["outcome"], "verified");
    poke(&s.path("model/sub/tokenizer.json"), 0, b'[');
    a.wait_ready(503);
    a.wait_until("the drift event", || {
        fs::read_to_string(&log).is_ok_and(|t| t.contains("failed"))
    });
    a.wait_stdout("drift-detected");
    let r = report(&log);
    assert_eq!(r["outcome"], "failed");
    assert!(r["reason"].as_str().unwrap().contains("sub/tokenizer.json"));
    let events: Vec<serde_json::Value> = a
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["event"], "verified");
    assert_eq!(events[0]["ready"], true);
    assert!(
        events[0]["rootDigest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(events[1]["event"], "drift-detected");
    assert_eq!(events[1]["ready"], false);
    assert_eq!(events[1]["kind"], "model-mismatch");
    assert_eq!(
        events[1]["files"],
        serde_json::json!(["sub/tokenizer.json"])
    );
    assert_eq!(events[1]["check"], "inotify");
    poke(&s.path("model/sub/tokenizer.json"), 0, b'{');
    a.wait_ready(200);
    let stdout = a.stdout.clone();
    a.wait_until("the restored event", || {
        stdout.lock().unwrap().lines().count() == 3
    });
    assert!(
        a.stdout()
            .lines()
            .nth(2)
            .unwrap()
            .contains("\"event\":\"restored\"")
    );
    assert_eq!(report(&log)["outcome"], "verified");
}

#[test]
fn a_full_disk_for_the_termination_log_is_reported_and_changes_nothing() {
    let s = Signed::new();
    let mut a = s.watch(
        &["--health-port", "0", "--interval", "1h"],
        &["--termination-log", "/dev/full"],
    );
    a.wait_ready(200);
    let err = a.stderr();
    assert!(
        err.contains("cannot write the termination log '/dev/full'"),
        "{err}"
    );
    assert!(err.contains("No space left on device"), "{err}");
}

#[test]
fn the_model_directory_may_vanish_and_come_back() {
    let s = Signed::new();
    let mut a = s.watch(&["--health-port", "0", "--interval", "1h"], &[]);
    a.wait_ready(200);
    fs::rename(s.path("model"), s.path("model.away")).unwrap();
    a.wait_ready(503);
    assert_eq!(a.get("/healthz"), 200);
    a.wait_stderr("Cannot use 'model'");
    fs::rename(s.path("model.away"), s.path("model")).unwrap();
    a.wait_ready(200);
}

#[test]
fn a_file_that_cannot_be_read_fails_readiness_with_its_name() {
    let s = Signed::new();
    let mut a = s.watch(&["--health-port", "0", "--interval", "1h"], &[]);
    a.wait_ready(200);
    let weights = s.path("model/weights.bin");
    fs::rename(&weights, s.path("weights.bin")).unwrap();
    let ok = Command::new("mkfifo").arg(&weights).status().unwrap();
    assert!(ok.success());
    a.wait_ready(503);
    a.wait_stderr("Cannot use 'model/weights.bin' as file or directory");
    fs::remove_file(&weights).unwrap();
    fs::rename(s.path("weights.bin"), &weights).unwrap();
    a.wait_ready(200);
}

#[test]
fn runs_as_validation_agent_with_upstreams_flags() {
    let s = Signed::new();
    let link = s.path("validation-agent");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let mut a = s.spawn(
        link.to_str().unwrap(),
        &[],
        &["--interval=5m", "-health-port=0", "--skip-initial=false"],
        &[],
    );
    a.wait_ready(200);
    a.wait_stdout("Verification succeeded");
    // The subcommand spelling too.
    let mut b = s.spawn(BIN, &["validation-agent"], &["--health-port", "0"], &[]);
    b.wait_ready(200);
}

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn bad_arguments_exit_2_and_a_busy_port_exits_1() {
    let s = Signed::new();
    let verify = [
        "verify",
        "key",
        "model",
        "--signature",
        "model.sig",
        "--public_key",
        "signing-key.pub",
    ];
    let cases: [(&[&str], &str); 7] = [
        (&["--interval", "5x"], "invalid interval '5x'"),
        (&["--interval", "0s"], "at least 1s"),
        (&["--interval", "5d"], "invalid interval"),
        (&["--health-port", "70000"], "70000"),
        (&["--skip-initial=maybe"], "invalid boolean 'maybe'"),
        (&["--full-every", "-1"], "-1"),
        (&["--bogus"], "--bogus"),
    ];
    for (flags, message) in cases {
        let mut args = vec!["watch"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&verify);
        let out = run(&args, &s.dir);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.contains(message), "{flags:?}: {err}");
    }
    let out = run(&["watch", "--health-port", "0"], &s.dir);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["watch", "verify", "key", "model"], &s.dir);
    assert_eq!(out.status.code(), Some(2), "no --signature");

    let busy = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let mut args = vec!["watch", "--health-port", port.as_str()];
    args.extend_from_slice(&verify);
    let out = run(&args, &s.dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("cannot listen for probes on port {port}")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_initial_failure_is_not_ready_but_healthy_and_recovers() {
    let s = Signed::new();
    poke(&s.path("model/weights.bin"), 0, 0);
    let mut a = s.watch(&["--health-port", "0", "--interval", "1h"], &[]);
    a.wait_stderr("Verification failed with error: Signature mismatch");
    assert_eq!(a.get("/ready"), 503);
    assert_eq!(a.get("/healthz"), 200);
    poke(&s.path("model/weights.bin"), 0, 42);
    a.wait_ready(200);
    a.wait_stdout("Model verified again");
}

#[test]
fn too_low_a_descriptor_limit_walks_paths_and_still_finds_drift() {
    // (shell prefix, whether checks may look through held descriptors)
    let cases = [
        ("export NO_COLOR=1; exec \"$0\" \"$@\"", true),
        (
            "export NO_COLOR=1; ulimit -n 64 && exec \"$0\" \"$@\"",
            false,
        ),
    ];
    for (script, held) in cases {
        let s = Signed::new();
        let flags = [
            "--health-port",
            "0",
            "--interval",
            "1s",
            "--log-level",
            "debug",
        ];
        let mut a = s.spawn("sh", &["-c", script, BIN, "watch"], &flags, &[]);
        a.wait_ready(200);
        let out = a.stderr.clone();
        a.wait_until("three checks", || {
            out.lock().unwrap().matches(" held=").count() >= 3
        });
        poke(&s.path("model/weights.bin"), 500, 7);
        a.wait_ready(503);
        a.wait_stderr("weights.bin: modified (");
        let err = a.stderr();
        assert_eq!(err.contains(" held=true"), held, "{script}: {err}");
        assert_eq!(
            err.contains("more than RLIMIT_NOFILE allows"),
            !held,
            "{script}: {err}"
        );
        assert_eq!(a.signal("TERM").code(), Some(0));
    }
}
