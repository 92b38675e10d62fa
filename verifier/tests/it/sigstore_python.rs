//! Differential test against the real sigstore-python (`model_signing` 1.1.1 from PyPI, in the
//! virtualenv `.ci/install.sh` makes): models signed by the test-only mini Sigstore, in every
//! variant of `Mint`, verified by both implementations with the same ClientTrustConfig. The
//! verdicts must agree, except for the documented, deliberate differences listed below.
//!
//! A missing virtualenv fails the tests (`make setup` installs it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

use crate::support::BIN;
use crate::support::mini_sigstore as mini;
use crate::support::python::Python;

use std::path::{Path, PathBuf};
use std::process::Command;

use mini::{IDENTITY, ISSUER, MiniSigstore, Mint, T0, TsaChoice};
use model_verifier::model::{ModelSpec, signing_payload};
use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose, OtherNameValue, SanType};
use serde_json::{Value, json};

/// Verifies `model` with both; returns (ours exit, ours stderr, python exit, python stderr).
fn both(venv: &Path, dir: &Path, identity: &str) -> (i32, String, i32, String) {
    both_with(venv, dir, identity, ISSUER)
}

/// Verifies `model` with both; returns (ours exit, ours stderr, python exit, python stderr).
fn both_with(venv: &Path, dir: &Path, identity: &str, issuer: &str) -> (i32, String, i32, String) {
    let args = [
        "verify",
        "sigstore",
        "--trust_config",
        "trust.json",
        "--identity",
        identity,
        "--identity_provider",
        issuer,
        "--signature",
        "model/model.sig",
        "model",
    ];
    let ours = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let theirs = Command::new(venv.join("bin/model_signing"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let last = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .lines()
            .rfind(|l| l.starts_with("Verification"))
            .unwrap_or("")
            .to_owned()
    };
    (
        ours.status.code().unwrap_or(-1),
        last(&ours.stderr),
        theirs.status.code().unwrap_or(-1),
        last(&theirs.stderr),
    )
}

fn body_payload_hash(b: &mut Value) {
    b["spec"]["payloadHash"]["value"] = json!("00".repeat(32));
}
fn body_envelope_hash(b: &mut Value) {
    b["spec"]["envelopeHash"]["value"] = json!("11".repeat(32));
}
fn body_other_signature(b: &mut Value) {
    b["spec"]["signatures"][0]["signature"] = json!(mini::b64(b"not the signature"));
}
fn v2_key_details(b: &mut Value) {
    b["spec"]["hashedRekordV002"]["signature"]["verifier"]["keyDetails"] =
        json!("PKIX_ECDSA_P384_SHA_384");
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// Both accept.
    Both,
    /// Both reject.
    Neither,
    /// Deliberate difference: we reject, Python accepts.
    OnlyPython,
    /// Deliberate difference: we accept, Python rejects.
    OnlyOurs,
}

#[test]
fn verdicts_agree_with_sigstore_python() {
    let venv = Python::find("sigstore interop").venv;
    let ms = MiniSigstore::new();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("weights.bin"), vec![1u8; 1000]).unwrap();
    std::fs::write(model.join("config.json"), b"{}").unwrap();
    let mut spec = ModelSpec::new(&model);
    spec.signature_path = Some(model.join("model.sig"));
    let payload = signing_payload(&spec).unwrap().payload;
    std::fs::write(dir.join("trust.json"), ms.client_trust_config().to_string()).unwrap();

    type Tweak = Box<dyn Fn(&mut Mint)>;
    let uri = "https://github.com/o/r/.github/workflows/w.yml@refs/heads/main";
    let cases: Vec<(&str, &str, Expect, Tweak)> = vec![
        ("genuine", IDENTITY, Expect::Both, Box::new(|_| {})),
        (
            "genuine + TSA",
            IDENTITY,
            Expect::Both,
            Box::new(|m| m.tsa = TsaChoice::Trusted),
        ),
        (
            "TSA only",
            IDENTITY,
            Expect::Both,
            Box::new(|m| {
                m.tsa = TsaChoice::Trusted;
                m.no_promise = true;
            }),
        ),
        (
            "Rekor v2 + TSA",
            IDENTITY,
            Expect::Both,
            Box::new(|m| {
                m.rekor_v2 = true;
                m.tsa = TsaChoice::Trusted;
            }),
        ),
        (
            "URI SAN",
            uri,
            Expect::Both,
            Box::new(move |m| m.sans = vec![SanType::URI(uri.try_into().unwrap())]),
        ),
        (
            // Deliberate: sigstore-python compares the otherName's raw DER (tag and length
            // included, '\x0c\x11alice!example.com'), so no --identity can match it; here the
            // UTF8String is decoded.
            "username otherName SAN",
            "alice!example.com",
            Expect::OnlyOurs,
            Box::new(|m| {
                m.sans = vec![SanType::OtherName((
                    vec![1, 3, 6, 1, 4, 1, 57264, 1, 7],
                    OtherNameValue::Utf8String("alice!example.com".into()),
                ))]
            }),
        ),
        (
            "second SAN",
            IDENTITY,
            Expect::Both,
            Box::new(|m| {
                m.sans.insert(
                    0,
                    SanType::Rfc822Name("bob@example.com".try_into().unwrap()),
                )
            }),
        ),
        (
            "v1 issuer only",
            IDENTITY,
            Expect::Both,
            Box::new(|m| m.issuer_v2 = None),
        ),
        (
            "wrong identity",
            "mallory@example.com",
            Expect::Neither,
            Box::new(|_| {}),
        ),
        (
            "no v1 issuer (v2 only)",
            IDENTITY,
            Expect::OnlyOurs,
            Box::new(|m| m.issuer_v1 = None),
        ),
        (
            "issuers disagree",
            IDENTITY,
            Expect::OnlyPython,
            Box::new(|m| m.issuer_v2 = Some("https://evil.example".into())),
        ),
        (
            "KU",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.key_usages = vec![KeyUsagePurpose::KeyEncipherment]),
        ),
        (
            "EKU",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.ekus = vec![ExtendedKeyUsagePurpose::ServerAuth]),
        ),
        (
            "CA leaf",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.leaf_is_ca = true),
        ),
        (
            "untrusted CA",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.untrusted_issuer = true),
        ),
        (
            "no SCT",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.scts = 0),
        ),
        (
            "two SCTs",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.scts = 2),
        ),
        (
            "SCT from stranger",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.sct_by_stranger = true),
        ),
        (
            "SCT issuer hash",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.sct_wrong_issuer_hash = true),
        ),
        (
            "time == notBefore",
            IDENTITY,
            Expect::Both,
            Box::new(|m| m.integrated_time = T0),
        ),
        (
            "time == notAfter",
            IDENTITY,
            Expect::Both,
            Box::new(|m| m.integrated_time = T0 + 600),
        ),
        (
            "time before notBefore",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.integrated_time = T0 - 1),
        ),
        (
            "time after notAfter",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.integrated_time = T0 + 601),
        ),
        (
            "DSSE by other key",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.dsse_by_other_key = true),
        ),
        (
            "body payload hash",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.body = Some(body_payload_hash)),
        ),
        (
            "body signature",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.body = Some(body_other_signature)),
        ),
        (
            "body envelopeHash",
            IDENTITY,
            Expect::Both,
            Box::new(|m| m.body = Some(body_envelope_hash)),
        ),
        (
            "v2 body key details",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| {
                m.rekor_v2 = true;
                m.tsa = TsaChoice::Trusted;
                m.body_v2 = Some(v2_key_details);
            }),
        ),
        (
            "v2 without TSA",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.rekor_v2 = true),
        ),
        (
            "checkpoint by other log",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.checkpoint_by_other_log = true),
        ),
        (
            "checkpoint by stranger",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.checkpoint_by_stranger = true),
        ),
        (
            "checkpoint root",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.checkpoint_wrong_root = true),
        ),
        (
            "SET by other log",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.set_by_other_log = true),
        ),
        (
            "no SET, no TSA",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| m.no_promise = true),
        ),
        (
            "TSA time after expiry",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| {
                m.tsa = TsaChoice::Trusted;
                m.tsa_time = Some(T0 + 700);
            }),
        ),
        (
            "TSA only, stranger TSA",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| {
                m.tsa = TsaChoice::Stranger;
                m.no_promise = true;
            }),
        ),
        // Deliberate: a timestamp that does not verify fails the bundle here; Python drops it
        // and still has the SET.
        (
            "SET + stranger TSA",
            IDENTITY,
            Expect::OnlyPython,
            Box::new(|m| m.tsa = TsaChoice::Stranger),
        ),
        (
            "SET + stamp of another signature",
            IDENTITY,
            Expect::OnlyPython,
            Box::new(|m| {
                m.tsa = TsaChoice::Trusted;
                m.tsa_over_other_signature = true;
            }),
        ),
        (
            "SET + non-critical TSA EKU",
            IDENTITY,
            Expect::OnlyPython,
            Box::new(|m| m.tsa = TsaChoice::Lax),
        ),
        (
            "TSA only, non-critical TSA EKU",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| {
                m.tsa = TsaChoice::Lax;
                m.no_promise = true;
            }),
        ),
        (
            "TSA only, two SignerInfos",
            IDENTITY,
            Expect::Neither,
            Box::new(|m| {
                m.tsa = TsaChoice::Trusted;
                m.tsa_two_signer_infos = true;
                m.no_promise = true;
            }),
        ),
    ];
    let mut failures = Vec::new();
    for (case, identity, expect, tweak) in cases {
        let mut m = Mint::default();
        m.payload = payload.clone();
        tweak(&mut m);
        std::fs::write(model.join("model.sig"), ms.mint(&m).to_string()).unwrap();
        let (ours, ours_err, py, py_err) = both(&venv, dir, identity);
        let got = match (ours, py) {
            (0, 0) => Expect::Both,
            (1, 1) => Expect::Neither,
            (1, 0) => Expect::OnlyPython,
            (0, 1) => Expect::OnlyOurs,
            _ => {
                failures.push(format!(
                    "{case}: exit codes ours={ours} python={py}: {ours_err} | {py_err}"
                ));
                continue;
            }
        };
        eprintln!("{case}: {got:?}\n    ours:   {ours_err}\n    python: {py_err}");
        if got != expect {
            failures.push(format!("{case}: expected {expect:?}, got {got:?}\n    ours:   {ours_err}\n    python: {py_err}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The one-change forgeries of the genuine upstream bundles, verified by both implementations
/// with the public-good ClientTrustConfig: both reject each one (or, for the listed deliberate
/// differences, only this verifier does).
#[test]
fn upstream_forgeries_rejected_by_both() {
    let venv = Python::find("sigstore interop").venv;
    let conformance = match std::env::var_os("MV_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/conformance"),
    };
    assert!(
        conformance.join("upstream").is_dir(),
        "the conformance vectors are not at {} (testdata/conformance, or MV_CONFORMANCE_DIR)",
        conformance.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    for f in ["signme-1", "signme-2", "ignore-me"] {
        std::fs::copy(
            conformance.join("upstream/v1.1.0-sigstore").join(f),
            model.join(f),
        )
        .unwrap();
    }
    std::fs::copy(
        conformance.join("public_good_trust_config.json"),
        tmp.path().join("trust.json"),
    )
    .unwrap();
    let genuine: Value = serde_json::from_slice(
        &std::fs::read(conformance.join("upstream/v1.1.0-sigstore/model.sig")).unwrap(),
    )
    .unwrap();
    let e = "/verificationMaterial/tlogEntries/0";
    let ts = "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp";
    let flip = |b: &mut Value, p: &str, i: usize| {
        let mut raw = mini::b64_decode(b.pointer(p).unwrap().as_str().unwrap());
        raw[i] ^= 1;
        *b.pointer_mut(p).unwrap() = json!(mini::b64(&raw));
    };
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Expect, Edit)> = vec![
        ("genuine", Expect::Both, Box::new(|_| {})),
        (
            "TSA time only (SET removed)",
            Expect::Both,
            Box::new(move |b| {
                b.pointer_mut(e)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove("inclusionPromise");
            }),
        ),
        (
            "SET byte",
            Expect::Neither,
            Box::new(move |b| flip(b, &format!("{e}/inclusionPromise/signedEntryTimestamp"), 20)),
        ),
        (
            "integratedTime+1",
            Expect::Neither,
            Box::new(move |b| {
                *b.pointer_mut(&format!("{e}/integratedTime")).unwrap() = json!("1760062341");
            }),
        ),
        (
            "proof hash",
            Expect::Neither,
            Box::new(move |b| flip(b, &format!("{e}/inclusionProof/hashes/2"), 3)),
        ),
        (
            "root hash",
            Expect::Neither,
            Box::new(move |b| flip(b, &format!("{e}/inclusionProof/rootHash"), 3)),
        ),
        (
            "body",
            Expect::Neither,
            Box::new(move |b| flip(b, &format!("{e}/canonicalizedBody"), 50)),
        ),
        (
            "DSSE signature",
            Expect::Neither,
            Box::new(move |b| flip(b, "/dsseEnvelope/signatures/0/sig", 12)),
        ),
        (
            "payload",
            Expect::Neither,
            Box::new(move |b| flip(b, "/dsseEnvelope/payload", 40)),
        ),
        (
            "certificate",
            Expect::Neither,
            Box::new(move |b| flip(b, "/verificationMaterial/certificate/rawBytes", 400)),
        ),
        (
            "second signature",
            Expect::Neither,
            Box::new(|b| {
                let s = b["dsseEnvelope"]["signatures"][0].clone();
                b["dsseEnvelope"]["signatures"]
                    .as_array_mut()
                    .unwrap()
                    .push(s);
            }),
        ),
        (
            "two entries",
            Expect::Neither,
            Box::new(move |b| {
                let x = b.pointer(e).unwrap().clone();
                b["verificationMaterial"]["tlogEntries"]
                    .as_array_mut()
                    .unwrap()
                    .push(x);
            }),
        ),
        (
            "v0.2 media type with certificate",
            Expect::Neither,
            Box::new(|b| {
                b["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.2");
            }),
        ),
        (
            "checkpoint removed",
            Expect::Neither,
            Box::new(move |b| {
                b.pointer_mut(&format!("{e}/inclusionProof"))
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove("checkpoint");
            }),
        ),
        (
            "TSA only, token byte",
            Expect::Neither,
            Box::new(move |b| {
                b.pointer_mut(e)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove("inclusionPromise");
                flip(b, ts, 300);
            }),
        ),
        // A token that does not even parse fails in Python too ("Invalid Timestamp Response").
        (
            "SET + token byte",
            Expect::Neither,
            Box::new(move |b| flip(b, ts, 300)),
        ),
    ];
    let mut failures = Vec::new();
    for (case, expect, edit) in cases {
        let mut b = genuine.clone();
        edit(&mut b);
        std::fs::write(model.join("model.sig"), b.to_string()).unwrap();
        let (ours, ours_err, py, py_err) = both_with(
            &venv,
            tmp.path(),
            "stefanb@us.ibm.com",
            "https://sigstore.verify.ibm.com/oauth2",
        );
        let got = match (ours, py) {
            (0, 0) => Expect::Both,
            (1, 1) => Expect::Neither,
            (1, 0) => Expect::OnlyPython,
            (0, 1) => Expect::OnlyOurs,
            _ => {
                failures.push(format!("{case}: exit codes ours={ours} python={py}"));
                continue;
            }
        };
        eprintln!("{case}: {got:?}\n    ours:   {ours_err}\n    python: {py_err}");
        if got != expect {
            failures.push(format!("{case}: expected {expect:?}, got {got:?}\n    ours:   {ours_err}\n    python: {py_err}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
