//! Issue 18: parsing an untrusted signature must not cost a multiple of its size. Each crafted
//! signature just under the size cap is verified by the binary under GNU `time`, whose maximum
//! resident set size (from `wait4`'s rusage, no cgroup needed) must stay within 64 MiB — the
//! injected container's memory limit is 512 MiB, and the verifier should need a fraction of it.

use crate::support::key_cert_fixtures as fixtures;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fixtures::{BIN, Chain, rust_key_pair, tiny_model, write_model};
use model_verifier::input::MAX_SIGNATURE_BYTES;
use model_verifier::keys::Curve;

/// The goal of issue 18 for any input.
const MAX_RSS_KIB: u64 = 64 * 1024;

/// Runs the binary under `/usr/bin/time -f %M`; returns (exit code, stderr, max RSS in KiB).
fn run_measured(cwd: &Path, args: &[&str]) -> (i32, String, u64) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss-kib=%M", BIN])
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("/usr/bin/time (GNU time, installed by .ci/install.sh)");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let rss = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("maxrss-kib="))
        .unwrap_or_else(|| panic!("no maxrss line in {stderr:?}"))
        .trim()
        .parse()
        .unwrap();
    // GNU time reports "Command exited with non-zero status N" and keeps the child's code.
    (out.status.code().unwrap_or(-1), stderr, rss)
}

/// `n` bytes of JSON: `[[],[],…,[]]`, the shape that costs most as a `serde_json::Value` tree.
fn empty_arrays(n: usize) -> String {
    let count = (n - 2) / 3;
    let mut s = String::with_capacity(n);
    s.push('[');
    for i in 0..count {
        if i > 0 {
            s.push(',');
        }
        s.push_str("[]");
    }
    s.push(']');
    s
}

/// A bundle of about `size` bytes whose bulk is `filler` (JSON) in the given member.
fn bundle_with(size: usize, filler: impl Fn(usize) -> String, where_: &str) -> String {
    let head = r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":null},"tlogEntries":"#;
    let tail = r#"},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AAAA"}]}}"#;
    let bulk = filler(size - head.len() - tail.len() - 64);
    match where_ {
        "tlogEntries" => format!("{head}{bulk}{tail}"),
        _ => format!("{head}[],\"unknown\":{bulk}{tail}"),
    }
}

/// A statement of about `size` bytes (base64: 4/3 of that) whose subject list has millions
/// of entries.
fn huge_statement_base64(size: usize) -> String {
    let raw = size / 4 * 3 - 256;
    let mut statement = String::from(r#"{"_type":"https://in-toto.io/Statement/v1","subject":["#);
    while statement.len() + 8 < raw {
        statement.push_str("{},");
    }
    statement.push_str(r#"{}],"predicateType":"x","predicate":{}}"#);
    STANDARD.encode(statement.as_bytes())
}

/// A bundle whose DSSE payload is [`huge_statement_base64`].
fn huge_statement_bundle(size: usize) -> String {
    let payload = huge_statement_base64(size - 512);
    format!(
        r#"{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{{"certificate":{{"rawBytes":"AAAA"}},"tlogEntries":[]}},"dsseEnvelope":{{"payload":"{payload}","payloadType":"application/vnd.in-toto+json","signatures":[{{"sig":"AAAA"}}]}}}}"#
    )
}

/// A real staging Sigstore bundle (well formed, so the Sigstore method gets as far as reading
/// the statement's subject before any signature check) with a huge statement as its payload.
fn huge_statement_in_a_real_sigstore_bundle(size: usize) -> String {
    let mut b: serde_json::Value =
        serde_json::from_str(include_str!("support/staging-rekor-v2-dsse.sigstore.json")).unwrap();
    let room = size - b.to_string().len() - 64;
    b["dsseEnvelope"]["payload"] = huge_statement_base64(room).into();
    b.to_string()
}

#[test]
fn crafted_signatures_at_the_size_cap_stay_within_64_mib() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_model(&root.join("m"), &tiny_model());
    rust_key_pair(root, "k", Curve::P256);
    Chain::standard("P256").write(&root.join("pki"));
    let size = usize::try_from(MAX_SIGNATURE_BYTES).unwrap() - 1024;
    let methods: [(&str, Vec<&str>); 3] = [
        ("key", vec!["--public_key", "k.pub"]),
        ("certificate", vec!["--certificate_chain", "pki/root.pem"]),
        (
            "sigstore",
            vec![
                "--identity",
                "a@example.com",
                "--identity_provider",
                "https://accounts.example.com",
            ],
        ),
    ];
    // (what, signature text)
    let signatures: [(&str, String); 4] = [
        (
            "tlogEntries of empty arrays",
            bundle_with(size, empty_arrays, "tlogEntries"),
        ),
        (
            "an unknown member of empty arrays",
            bundle_with(size, empty_arrays, "unknown"),
        ),
        (
            "one huge string",
            bundle_with(size, |n| format!("\"{}\"", "A".repeat(n - 2)), "unknown"),
        ),
        (
            "a huge unauthenticated statement",
            huge_statement_bundle(size),
        ),
    ];
    for (what, text) in &signatures {
        assert!(text.len() as u64 <= MAX_SIGNATURE_BYTES, "{what}");
        assert!(text.len() as u64 > MAX_SIGNATURE_BYTES / 2, "{what}");
        std::fs::write(root.join("model.sig"), text).unwrap();
        for (method, extra) in &methods {
            let mut args = vec!["verify", method, "m", "--signature", "model.sig"];
            args.extend(extra);
            let (code, stderr, rss) = run_measured(root, &args);
            eprintln!("{what}, {method}: max RSS {rss} KiB");
            assert_eq!(code, 1, "{what}, {method}: {stderr}");
            assert!(
                stderr.contains("Verification failed with error: "),
                "{what}, {method}: {stderr}"
            );
            assert!(
                rss <= MAX_RSS_KIB,
                "{what}, {method}: max RSS {rss} KiB > {MAX_RSS_KIB} KiB"
            );
        }
    }
    // The Sigstore method reads the unauthenticated statement's subject digest first: typed,
    // so millions of subjects are skipped, not built.
    let text = huge_statement_in_a_real_sigstore_bundle(size);
    assert!(text.len() as u64 <= MAX_SIGNATURE_BYTES);
    std::fs::write(root.join("model.sig"), &text).unwrap();
    let (code, stderr, rss) = run_measured(
        root,
        &[
            "verify",
            "sigstore",
            "m",
            "--signature",
            "model.sig",
            "--identity",
            "a@example.com",
            "--identity_provider",
            "https://accounts.example.com",
            "--use_staging",
        ],
    );
    eprintln!("huge statement in a real staging bundle, sigstore: max RSS {rss} KiB");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        rss <= MAX_RSS_KIB,
        "staging bundle with a huge statement: max RSS {rss} KiB > {MAX_RSS_KIB} KiB"
    );
    // One byte over the cap is refused before parsing.
    std::fs::write(
        root.join("model.sig"),
        vec![b' '; usize::try_from(MAX_SIGNATURE_BYTES).unwrap() + 1],
    )
    .unwrap();
    let (code, stderr, _) = run_measured(
        root,
        &[
            "verify",
            "key",
            "m",
            "--signature",
            "model.sig",
            "--public_key",
            "k.pub",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is larger than"), "{stderr}");
}
