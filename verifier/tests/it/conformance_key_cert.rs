//! Replays the `verify key` / `verify certificate` command blocks of the conformance README
//! against the built binary (exit codes and message templates), then runs further cases on
//! copies of the upstream vectors (tampered bundles, media types, strictness) whose outcome
//! follows from `model-signing-format.md` §5–§6.
//!
//! The vectors are read from `MV_CONFORMANCE_DIR` (default `testdata/conformance`);
//! without them every test here says loudly that it skipped.

use crate::support::{BIN, conformance_dir, copy_dir};
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

const PREFIX: &str = "Verification failed with error: ";
const WARNING: &str = "WARNING: This model's signature uses an older verification material format. Please re-sign with an updated signer to use a public key identifier hash. ";

#[derive(Debug)]
struct Case {
    command: String,
    exit: i32,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

/// The README's `$ <command>` / `exit=<n>` / `stdout: ` / `stderr: ` blocks.
fn parse_readme(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(command) = line.strip_prefix("$ ") else {
            continue;
        };
        let exit_line = lines.next().unwrap_or_default();
        let Some(exit) = exit_line.strip_prefix("exit=") else {
            continue;
        };
        let mut case = Case {
            command: command.to_owned(),
            exit: exit.parse().unwrap(),
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        while let Some(next) = lines.peek() {
            if let Some(s) = next.strip_prefix("stdout: ") {
                case.stdout.push(s.to_owned());
            } else if let Some(s) = next.strip_prefix("stderr: ") {
                case.stderr.push(s.to_owned());
            } else if *next == "stderr:" {
                case.stderr.push(String::new());
            } else {
                break;
            }
            lines.next();
        }
        cases.push(case);
    }
    cases
}

struct Output {
    code: i32,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

/// Runs `args` (after the program name) in `cwd`.
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
        stderr: String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(str::to_owned)
            .collect(),
    }
}

/// Runs a README command (`[cd DIR && ]model_signing ...`) from `upstream`.
fn run_readme(upstream: &Path, command: &str) -> Output {
    let (cwd, command) = match command.strip_prefix("cd ") {
        Some(rest) => {
            let (dir, cmd) = rest.split_once(" && ").unwrap();
            (upstream.join(dir), cmd)
        }
        None => (upstream.to_path_buf(), command),
    };
    let args: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(args[0], "model_signing", "{command}");
    run_in(&cwd, &args[1..])
}

/// Python messages that are Python internals; we print a real explanation instead.
fn expected_message(python: &str) -> MessageCheck {
    match python {
        "'NoneType' object has no attribute 'hint'" => MessageCheck::Contains("no `publicKey`"),
        "'NoneType' object has no attribute 'certificates'" => {
            MessageCheck::Contains("no `x509CertificateChain`")
        }
        "" => MessageCheck::Contains("Invalid signature"),
        // OpenSSL texts and every other message: ours starts with Python's (OpenSSL wording
        // plus a detail naming the certificate).
        other => MessageCheck::StartsWith(other.to_owned()),
    }
}

enum MessageCheck {
    Contains(&'static str),
    StartsWith(String),
}

fn check_case(upstream: &Path, case: &Case) {
    let out = run_readme(upstream, &case.command);
    let ctx = format!(
        "\n$ {}\nstdout: {:?}\nstderr: {:?}",
        case.command, out.stdout, out.stderr
    );
    assert_eq!(out.code, case.exit, "exit code{ctx}");
    // stdout lines must appear exactly and in order.
    assert_eq!(out.stdout, case.stdout, "stdout{ctx}");
    match case.exit {
        0 => assert!(out.stderr.is_empty(), "stderr on success{ctx}"),
        1 => {
            let python = case
                .stderr
                .iter()
                .find_map(|l| l.strip_prefix(PREFIX))
                .expect("a failure line in the README");
            let ours = out
                .stderr
                .iter()
                .find_map(|l| l.strip_prefix(PREFIX))
                .unwrap_or_else(|| panic!("no failure line{ctx}"));
            match expected_message(python) {
                MessageCheck::Contains(s) => assert!(ours.contains(s), "message{ctx}"),
                MessageCheck::StartsWith(s) => assert!(ours.starts_with(&s), "message{ctx}"),
            }
        }
        2 => {
            // clap words usage errors differently; the offending option must be named.
            let err = case
                .stderr
                .iter()
                .find(|l| l.starts_with("Error: "))
                .unwrap();
            let option = err.split('\'').nth(1).unwrap();
            assert!(
                out.stderr.iter().any(|l| l.contains(option)),
                "usage error should name {option}{ctx}"
            );
        }
        n => panic!("unexpected exit {n} in the README"),
    }
}

#[test]
fn readme_key_and_certificate_blocks_replay() {
    let dir = conformance_dir();
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let cases: Vec<Case> = parse_readme(&readme)
        .into_iter()
        .filter(|c| {
            c.command.contains("model_signing verify key ")
                || c.command.contains("model_signing verify certificate ")
        })
        .collect();
    // 5 + 4 positive, 2 signed-ignore-paths, N2, N3, N7, N8, N9 ×2, N11, N12, 2 further cases.
    assert!(
        cases.len() >= 20,
        "expected the README's key/certificate blocks, found {}",
        cases.len()
    );
    let upstream = dir.join("upstream");
    for case in &cases {
        check_case(&upstream, case);
    }
    eprintln!("replayed {} README blocks", cases.len());
}

/// A copy of one upstream vector in a temporary directory, with the keys next to it.
struct Vector {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    name: String,
}

impl Vector {
    fn new(dir: &Path, name: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        copy_dir(&dir.join("upstream").join(name), &root.join(name));
        copy_dir(&dir.join("upstream/keys"), &root.join("keys"));
        Self {
            _tmp: tmp,
            root,
            name: name.to_owned(),
        }
    }

    fn sig(&self) -> PathBuf {
        self.root.join(&self.name).join("model.sig")
    }

    fn bundle(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.sig()).unwrap()).unwrap()
    }

    fn write_bundle(&self, v: &Value) {
        std::fs::write(self.sig(), v.to_string()).unwrap();
    }

    fn payload(&self) -> Value {
        let b = self.bundle();
        let p = STANDARD
            .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap();
        serde_json::from_slice(&p).unwrap()
    }

    fn verify(&self, method: &str, extra: &[&str]) -> Output {
        let model = format!("./{}", self.name);
        let sig = format!("./{}/model.sig", self.name);
        let mut args = vec!["verify", method, "--signature", &sig];
        let ignore = format!("./{}/ignore-me", self.name);
        if self.root.join(&ignore).exists() {
            args.extend(["--ignore-paths", &ignore]);
        }
        match method {
            "key" => args.extend(["--public_key", "keys/certificate/signing-key-pub.pem"]),
            _ => args.extend(["--certificate_chain", "keys/certificate/ca-cert.pem"]),
        }
        args.extend_from_slice(extra);
        args.push(&model);
        run_in(&self.root, &args)
    }
}

fn failure(out: &Output) -> String {
    assert_eq!(
        out.code, 1,
        "stdout {:?} stderr {:?}",
        out.stdout, out.stderr
    );
    out.stderr
        .iter()
        .find_map(|l| l.strip_prefix(PREFIX))
        .unwrap_or_else(|| panic!("no failure line in {:?}", out.stderr))
        .to_owned()
}

const KEY_VECTORS: [&str; 4] = [
    "v0.3.1-elliptic-key",
    "v1.0.0-elliptic-key",
    "v1.0.1-elliptic-key",
    "v1.1.0-elliptic-key",
];
const CERT_VECTORS: [&str; 5] = [
    "v0.2.0-certificate",
    "v0.3.1-certificate",
    "v1.0.0-certificate",
    "v1.0.1-certificate",
    "v1.1.0-certificate",
];

fn method_of(vector: &str) -> &'static str {
    if vector.contains("elliptic-key") {
        "key"
    } else {
        "certificate"
    }
}

#[test]
fn every_vector_verifies_from_a_copy_and_tampering_fails() {
    let dir = conformance_dir();
    for name in KEY_VECTORS.iter().chain(CERT_VECTORS.iter()) {
        let method = method_of(name);
        // The vectors with a single-file model sign `signme-1` itself.
        let v = Vector::new(&dir, name);
        let single = !v.root.join(name).join("signme-2").exists();
        let run = |v: &Vector| {
            if single {
                let sig = format!("./{name}/model.sig");
                let model = format!("./{name}/signme-1");
                run_in(
                    &v.root,
                    &[
                        "verify",
                        "key",
                        "--signature",
                        &sig,
                        "--public_key",
                        "keys/certificate/signing-key-pub.pem",
                        &model,
                    ],
                )
            } else {
                v.verify(method, &[])
            }
        };
        let out = run(&v);
        assert_eq!(out.code, 0, "{name}: {:?}", out.stderr);
        assert_eq!(
            out.stdout.last().map(String::as_str),
            Some("Verification succeeded")
        );

        // A flipped byte in a signed file.
        let file = v.root.join(name).join("signme-1");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        let msg = failure(&run(&v));
        assert!(
            msg.starts_with("Signature mismatch: ") || msg.contains("Hash mismatch"),
            "{name}: {msg}"
        );

        // A flipped payload byte breaks the signature (fresh copy).
        let v = Vector::new(&dir, name);
        let mut b = v.bundle();
        let mut payload = STANDARD
            .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap();
        let i = payload.len() / 2;
        payload[i] ^= 0x20;
        b["dsseEnvelope"]["payload"] = STANDARD.encode(&payload).into();
        v.write_bundle(&b);
        let msg = failure(&run(&v));
        assert!(msg.contains("Invalid signature"), "{name}: {msg}");
    }
}

#[test]
fn bundle_strictness_and_media_type() {
    let dir = conformance_dir();
    for name in ["v1.1.0-elliptic-key", "v1.1.0-certificate"] {
        let method = method_of(name);
        let v = Vector::new(&dir, name);
        let original = v.bundle();

        // Unknown field.
        let mut b = original.clone();
        b["unknownField"] = 1.into();
        v.write_bundle(&b);
        let msg = failure(&v.verify(method, &[]));
        assert!(msg.contains("unknown field `unknownField`"), "{msg}");

        // Every other known media type is rejected with Python's message.
        for mt in [
            "application/vnd.dev.sigstore.bundle+json;version=0.1",
            "application/vnd.dev.sigstore.bundle+json;version=0.2",
            "application/vnd.dev.sigstore.bundle+json;version=0.3",
        ] {
            let mut b = original.clone();
            b["mediaType"] = mt.into();
            v.write_bundle(&b);
            assert_eq!(
                failure(&v.verify(method, &[])),
                format!(
                    "Invalid sigstore bundle, got media type {mt} but expected application/vnd.dev.sigstore.bundle.v0.3+json"
                )
            );
        }
        // An unknown one is a parse error.
        let mut b = original.clone();
        b["mediaType"] = "application/json".into();
        v.write_bundle(&b);
        assert!(failure(&v.verify(method, &[])).contains("unknown media type"));

        // A missing verificationMaterial.
        let mut b = original.clone();
        b.as_object_mut().unwrap().remove("verificationMaterial");
        v.write_bundle(&b);
        assert!(failure(&v.verify(method, &[])).contains("verificationMaterial"));

        // Not JSON.
        std::fs::write(v.sig(), "not json").unwrap();
        assert_eq!(v.verify(method, &[]).code, 1);

        // Zero signatures (Python: `list index out of range`).
        let mut b = original.clone();
        b["dsseEnvelope"]["signatures"] = Value::Array(vec![]);
        v.write_bundle(&b);
        assert!(failure(&v.verify(method, &[])).contains("no signatures"));

        // A junk second signature is ignored; a junk first one fails (DER only).
        let mut b = original.clone();
        let good = b["dsseEnvelope"]["signatures"][0].clone();
        let junk = serde_json::json!({"sig": STANDARD.encode([1u8, 2, 3]), "keyid": ""});
        b["dsseEnvelope"]["signatures"] = Value::Array(vec![good.clone(), junk.clone()]);
        v.write_bundle(&b);
        assert_eq!(v.verify(method, &[]).code, 0);
        b["dsseEnvelope"]["signatures"] = Value::Array(vec![junk, good]);
        v.write_bundle(&b);
        assert!(failure(&v.verify(method, &[])).contains("Invalid signature"));

        // A payload type other than in-toto still passes the signature (the PAE hard-codes
        // the in-toto type) and then fails with Python's message.
        let mut b = original.clone();
        b["dsseEnvelope"]["payloadType"] = "application/json".into();
        v.write_bundle(&b);
        assert_eq!(
            failure(&v.verify(method, &[])),
            "Expected DSSE payload application/vnd.in-toto+json, but got application/json"
        );

        // uint64 and base64 rules of sigstore_models: a numeric logIndex in a tlog entry is
        // a parse error.
        let mut b = original.clone();
        b["verificationMaterial"]["tlogEntries"] = serde_json::json!([{"logIndex": 1}]);
        v.write_bundle(&b);
        assert_eq!(v.verify(method, &[]).code, 1);
    }
}

#[test]
fn key_method_rules() {
    let dir = conformance_dir();
    let v = Vector::new(&dir, "v1.1.0-elliptic-key");
    let original = v.bundle();
    assert_eq!(
        original["verificationMaterial"]["publicKey"]["hint"],
        "e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e"
    );

    // A wrong hint: Python's message, trailing space included.
    let mut b = original.clone();
    b["verificationMaterial"]["publicKey"]["hint"] = "00".into();
    v.write_bundle(&b);
    assert_eq!(
        failure(&v.verify("key", &[])),
        "Key mismatch: The public key hash in the signature's verification material does not match the provided public key. "
    );

    // An empty or absent hint: the WARNING on stdout, then success.
    for hint in [Some(""), None] {
        let mut b = original.clone();
        match hint {
            Some(h) => b["verificationMaterial"]["publicKey"]["hint"] = h.into(),
            None => {
                b["verificationMaterial"]["publicKey"]
                    .as_object_mut()
                    .unwrap()
                    .remove("hint");
            }
        }
        v.write_bundle(&b);
        let out = v.verify("key", &[]);
        assert_eq!(out.code, 0, "{:?}", out.stderr);
        assert_eq!(
            out.stdout,
            vec![WARNING.to_owned(), "Verification succeeded".to_owned()]
        );
    }

    // Legacy rawBytes/keyDetails are dropped unread, whatever they hold.
    let mut b = original.clone();
    b["verificationMaterial"]["publicKey"]["rawBytes"] = "AAAA".into();
    b["verificationMaterial"]["publicKey"]["keyDetails"] = "PKIX_ED25519".into();
    v.write_bundle(&b);
    assert_eq!(v.verify("key", &[]).code, 0);

    // The key file's bytes are not hashed: the same key re-encoded by us (no certtool
    // preamble) gives the same hint.
    v.write_bundle(&original);
    let pem = std::fs::read(v.root.join("keys/certificate/signing-key-pub.pem")).unwrap();
    let key = model_verifier::keys::EcPublicKey::from_pem(&pem).unwrap();
    std::fs::write(v.root.join("clean.pub"), key.python_pem()).unwrap();
    let out = run_in(
        &v.root,
        &[
            "verify",
            "key",
            "--signature",
            "./v1.1.0-elliptic-key/model.sig",
            "--public_key",
            "clean.pub",
            "--ignore-paths",
            "./v1.1.0-elliptic-key/ignore-me",
            "./v1.1.0-elliptic-key",
        ],
    );
    assert_eq!(out.code, 0, "{:?}", out.stderr);

    // Missing key file: Python's OSError text.
    let out = run_in(
        &v.root,
        &[
            "verify",
            "key",
            "--signature",
            "./v1.1.0-elliptic-key/model.sig",
            "--public_key",
            "missing.pub",
            "./v1.1.0-elliptic-key",
        ],
    );
    assert_eq!(
        failure(&out),
        "[Errno 2] No such file or directory: 'missing.pub'"
    );

    // A certificate given as the public key.
    let out = run_in(
        &v.root,
        &[
            "verify",
            "key",
            "--signature",
            "./v1.1.0-elliptic-key/model.sig",
            "--public_key",
            "keys/certificate/signing-key-cert.pem",
            "./v1.1.0-elliptic-key",
        ],
    );
    assert!(
        failure(&out).starts_with("Valid PEM but no BEGIN PUBLIC KEY/END PUBLIC KEY delimiters")
    );
}

#[test]
fn certificate_method_rules() {
    let dir = conformance_dir();
    let v = Vector::new(&dir, "v1.1.0-certificate");

    // The root and the intermediate together in the trust store also verify (the path
    // still ends at the self-signed root).
    let out = v.verify(
        "certificate",
        &["--certificate_chain", "keys/certificate/int-ca-cert.pem"],
    );
    assert_eq!(out.code, 0, "{:?}", out.stderr);

    // The leaf alone as trust anchor: it is not self-signed, so the path must still reach a
    // trusted self-signed certificate (Python 1.1.1 prints the same OpenSSL text).
    let out = run_in(
        &v.root,
        &[
            "verify",
            "certificate",
            "--signature",
            "./v1.1.0-certificate/model.sig",
            "--certificate_chain",
            "keys/certificate/signing-key-cert.pem",
            "./v1.1.0-certificate",
        ],
    );
    assert!(failure(&out).starts_with("unable to get local issuer certificate"));

    // Without the bundle's intermediate, the root alone cannot reach the leaf.
    let mut b = v.bundle();
    b["verificationMaterial"]["x509CertificateChain"]["certificates"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    v.write_bundle(&b);
    let msg = failure(&v.verify("certificate", &[]));
    assert!(
        msg.starts_with("unable to get local issuer certificate"),
        "{msg}"
    );
    // ... unless the intermediate is trusted too.
    let out = v.verify(
        "certificate",
        &["--certificate_chain", "keys/certificate/int-ca-cert.pem"],
    );
    assert_eq!(out.code, 0, "{:?}", out.stderr);

    // An empty chain in the bundle.
    b["verificationMaterial"]["x509CertificateChain"]["certificates"] = Value::Array(vec![]);
    v.write_bundle(&b);
    assert!(failure(&v.verify("certificate", &[])).contains("chain is empty"));

    // A chain file without certificates.
    let v = Vector::new(&dir, "v1.1.0-certificate");
    let out = run_in(
        &v.root,
        &[
            "verify",
            "certificate",
            "--signature",
            "./v1.1.0-certificate/model.sig",
            "--certificate_chain",
            "keys/certificate/signing-key-pub.pem",
            "./v1.1.0-certificate",
        ],
    );
    assert!(failure(&out).starts_with("Unable to load PEM file"));

    // --log_fingerprints: one init line per trusted certificate, one verify line per bundle
    // certificate, on stderr.
    let out = v.verify("certificate", &["--log_fingerprints"]);
    assert_eq!(out.code, 0);
    let init = out
        .stderr
        .iter()
        .filter(|l| l.starts_with("[  init  ] sha256 Fingerprint: "))
        .count();
    let verify = out
        .stderr
        .iter()
        .filter(|l| l.starts_with("[ verify ] sha256 Fingerprint: "))
        .count();
    assert_eq!((init, verify), (1, 2), "{:?}", out.stderr);

    // The v0.2.0 signature needs the compat PAE and SHA-256; its statement has the legacy
    // predicate and verifies (already in the README); the payload really is the legacy one.
    let v = Vector::new(&dir, "v0.2.0-certificate");
    assert_eq!(
        v.payload()["predicateType"],
        "https://model_signing/Digests/v0.1"
    );
}

#[test]
fn json_output_reports_method_signer_and_digest() {
    let dir = conformance_dir();
    let v = Vector::new(&dir, "v1.1.0-elliptic-key");
    let out = v.verify("key", &["--output", "json"]);
    assert_eq!(out.code, 0, "{:?}", out.stderr);
    let report: Value = serde_json::from_str(out.stdout.last().unwrap()).unwrap();
    assert_eq!(report["method"], "key");
    assert_eq!(
        report["rootDigest"],
        "sha256:92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4"
    );
    assert!(report["signer"].as_str().unwrap().contains("e8450dec"));
    let v = Vector::new(&dir, "v1.0.0-certificate");
    let out = v.verify("certificate", &["--output", "json"]);
    assert_eq!(out.code, 0, "{:?}", out.stderr);
    let report: Value = serde_json::from_str(out.stdout.last().unwrap()).unwrap();
    assert_eq!(report["method"], "certificate");
    assert_eq!(report["signer"], "CN=intermediate-ca");
}
