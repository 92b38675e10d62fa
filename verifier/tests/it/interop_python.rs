//! Interoperability with the real Python `model_signing` 1.1.1 (from PyPI, in the virtualenv
//! `.ci/install.sh` makes): models signed by Python verify with `model-verifier`, models signed
//! by `model-verifier` verify with Python, for P-256/P-384/P-521 keys and a root →
//! intermediate → leaf chain made at test time; tampered copies are rejected by both; bundle
//! mutations get the same verdict from both.
//!
//! A missing virtualenv fails the tests (`make setup` installs it).

use crate::support::copy_dir;
use crate::support::key_cert_fixtures as fixtures;

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fixtures::{
    Chain, Output, Python, large_model, nested_unicode_model, ours, tiny_model, write_model,
};
use serde_json::Value;

/// Generates an EC key pair with Python's `cryptography`: `<stem>.key`, `<stem>.pub`.
/// `format`: `pkcs8`, `sec1` or `encrypted` (PKCS#8, `BestAvailableEncryption(password)`).
fn python_key(py: &Python, dir: &Path, stem: &str, curve: &str, format: &str, password: &str) {
    const CODE: &str = r#"
import sys
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization as s
stem, curve, fmt, pw = sys.argv[1:5]
k = ec.generate_private_key({"P256": ec.SECP256R1(), "P384": ec.SECP384R1(), "P521": ec.SECP521R1()}[curve])
if fmt == "pkcs8":
    data = k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
elif fmt == "sec1":
    data = k.private_bytes(s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption())
else:
    data = k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.BestAvailableEncryption(pw.encode()))
open(stem + ".key", "wb").write(data)
open(stem + ".pub", "wb").write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
"#;
    let stem = dir.join(stem);
    let out = py.script(CODE, &[stem.to_str().unwrap(), curve, format, password]);
    assert_eq!(out.code, 0, "key generation: {out:?}");
}

/// A model: (relative name, content) pairs.
type ModelFiles = Vec<(&'static str, Vec<u8>)>;

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn signed(out: &Output, who: &str) {
    assert_eq!(out.code, 0, "{who} signing: {out:?}");
    assert!(out.stdout.contains("Signing succeeded"), "{who}: {out:?}");
}

fn verified(out: &Output, who: &str) {
    assert_eq!(out.code, 0, "{who} verification: {out:?}");
    assert_eq!(out.stdout, "Verification succeeded\n", "{who}: {out:?}");
}

/// Who signs or verifies: the Python peer or `model-verifier`.
#[derive(Debug, Clone, Copy)]
enum Tool {
    Python,
    Ours,
}

impl Tool {
    fn run(self, py: &Python, cwd: &Path, args: &[&str]) -> Output {
        match self {
            Self::Python => py.model_signing(cwd, args),
            Self::Ours => ours(cwd, args),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Ours => "ours",
        }
    }

    /// The signature file's suffix.
    fn tag(self) -> &'static str {
        match self {
            Self::Python => "py",
            Self::Ours => "rs",
        }
    }
}

/// Both directions: (signer, verifier).
const DIRECTIONS: [(Tool, Tool); 2] = [(Tool::Python, Tool::Ours), (Tool::Ours, Tool::Python)];

/// Signs with `signer` (`sign` arguments for a signature file), verifies with `verifier`
/// (`verify` arguments for it); returns the signature file.
fn sign_then_verify(
    py: &Python,
    root: &Path,
    (signer, verifier): (Tool, Tool),
    stem: &str,
    sign: impl Fn(&str) -> Vec<String>,
    verify: impl Fn(&str) -> Vec<String>,
) -> String {
    let sig = format!("sigs/{stem}-{}.sig", signer.tag());
    signed(&signer.run(py, root, &refs(&sign(&sig))), signer.name());
    let who = format!("{} on {}'s {stem}", verifier.name(), signer.name());
    verified(&verifier.run(py, root, &refs(&verify(&sig))), &who);
    sig
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// `sign key|certificate MODEL … --signature SIG` with the key `k.key` or the chain in `pki/`.
fn sign_args(method: &str, model: &str, sig: &str) -> Vec<String> {
    let mut args = vec!["sign", method, model, "--private_key"];
    match method {
        "key" => args.push("k.key"),
        _ => args.extend([
            "pki/leaf.key",
            "--signing_certificate",
            "pki/leaf.pem",
            "--certificate_chain",
            "pki/intermediate.pem",
        ]),
    }
    args.extend(["--signature", sig]);
    strings(&args)
}

/// `verify key|certificate MODEL --signature SIG` against `k.pub` or `pki/root.pem`.
fn verify_args(method: &str, model: &str, sig: &str) -> Vec<String> {
    let mut args = vec!["verify", method, model, "--signature", sig];
    match method {
        "key" => args.extend(["--public_key", "k.pub"]),
        _ => args.extend(["--certificate_chain", "pki/root.pem"]),
    }
    strings(&args)
}

/// Both directions with the key method, for one curve, on three models.
fn key_round_trips(curve: &str, format: &str) {
    let py = Python::find(&format!("key interop {curve}"));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    python_key(&py, root, "k", curve, format, "");
    std::fs::create_dir(root.join("sigs")).unwrap();
    for (name, files) in [
        ("tiny", tiny_model()),
        ("nested", nested_unicode_model()),
        ("large", large_model()),
    ] {
        write_model(&root.join(name), &files);
        let sign = |sig: &str| sign_args("key", name, sig);
        let verify = |sig: &str| verify_args("key", name, sig);
        // Same model, same root digest, whoever signed.
        let digests: Vec<Value> = DIRECTIONS
            .into_iter()
            .map(|direction| {
                let sig = sign_then_verify(&py, root, direction, name, sign, verify);
                let mut args = verify(&sig);
                args.extend(strings(&["--output", "json"]));
                let out = ours(root, &refs(&args));
                assert_eq!(out.code, 0, "{out:?}");
                serde_json::from_str::<Value>(out.stdout.trim()).unwrap()["rootDigest"].clone()
            })
            .collect();
        assert_eq!(digests[0], digests[1], "{name}/{curve}");
    }
}

/// One `#[test]` per (curve, key format) row.
macro_rules! key_round_trip_tests {
    ($($test:ident: $curve:literal, $format:literal;)*) => {$(
        #[test]
        fn $test() {
            key_round_trips($curve, $format);
        }
    )*};
}

key_round_trip_tests! {
    key_method_p256_both_directions: "P256", "pkcs8";
    key_method_p384_both_directions: "P384", "sec1";
    key_method_p521_both_directions: "P521", "pkcs8";
}

#[test]
fn certificate_method_both_directions_with_a_generated_chain() {
    let py = Python::find("certificate interop");
    for curve in ["P256", "P384", "P521"] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        Chain::standard(curve).write(&root.join("pki"));
        std::fs::create_dir(root.join("sigs")).unwrap();
        let models: Vec<(&str, ModelFiles)> = if curve == "P384" {
            vec![("nested", nested_unicode_model()), ("large", large_model())]
        } else {
            vec![("tiny", tiny_model()), ("nested", nested_unicode_model())]
        };
        for (name, files) in models {
            write_model(&root.join(name), &files);
            let sigs = DIRECTIONS.map(|direction| {
                let stem = format!("{name}-{curve}");
                let sign = |sig: &str| sign_args("certificate", name, sig);
                let verify = |sig: &str| verify_args("certificate", name, sig);
                sign_then_verify(&py, root, direction, &stem, sign, verify)
            });
            // Both bundles record leaf then intermediate.
            for sig in &sigs {
                let b: Value =
                    serde_json::from_slice(&std::fs::read(root.join(sig)).unwrap()).unwrap();
                let certs = b["verificationMaterial"]["x509CertificateChain"]["certificates"]
                    .as_array()
                    .unwrap();
                assert_eq!(certs.len(), 2, "{sig}");
            }
        }
    }
}

#[test]
fn tampered_copies_are_rejected_by_both() {
    let py = Python::find("tampering");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    python_key(&py, root, "k", "P256", "pkcs8", "");
    Chain::standard("P384").write(&root.join("pki"));
    write_model(&root.join("model"), &nested_unicode_model());
    std::fs::create_dir(root.join("sigs")).unwrap();
    // (method, signature file): made by Python and by us.
    let mut sigs = Vec::new();
    for method in ["key", "certificate"] {
        let py_sig = format!("sigs/{method}-py.sig");
        let rs_sig = format!("sigs/{method}-rs.sig");
        let sign = |sig: &str| sign_args(method, "model", sig);
        signed(&py.model_signing(root, &refs(&sign(&py_sig))), "python");
        signed(&ours(root, &refs(&sign(&rs_sig))), "ours");
        sigs.push((method, py_sig));
        sigs.push((method, rs_sig));
    }
    let verify = |method: &str, sig: &str, model: &str| verify_args(method, model, sig);

    // The untouched model verifies everywhere.
    for (method, sig) in &sigs {
        verified(&ours(root, &refs(&verify(method, sig, "model"))), "ours");
        verified(
            &py.model_signing(root, &refs(&verify(method, sig, "model"))),
            "python",
        );
    }
    type Tamper = fn(&Path);
    let tampers: [(&str, Tamper, &str); 3] = [
        (
            "byte flipped",
            |m| {
                let f = m.join("日本語/モデル.bin");
                let mut b = std::fs::read(&f).unwrap();
                b[100] ^= 0x01;
                std::fs::write(&f, b).unwrap();
            },
            "Hash mismatch for '日本語/モデル.bin'",
        ),
        (
            "file added",
            |m| {
                std::fs::write(m.join("é/extra.bin"), b"extra").unwrap();
            },
            "Extra files found in model 'model-byte'",
        ),
        (
            "file removed",
            |m| {
                std::fs::remove_file(m.join("a b/x.txt")).unwrap();
            },
            "Missing files in model",
        ),
    ];
    for (i, (what, tamper, template)) in tampers.iter().enumerate() {
        let copy = format!("model-{}", ["byte", "added", "removed"][i]);
        copy_dir(&root.join("model"), &root.join(&copy));
        tamper(&root.join(&copy));
        for (method, sig) in &sigs {
            let a = verify(method, sig, &copy);
            let mine = ours(root, &refs(&a));
            let theirs = py.model_signing(root, &refs(&a));
            assert_eq!(
                mine.code, 1,
                "ours accepted {what} ({method}, {sig}): {mine:?}"
            );
            assert_eq!(
                theirs.code, 1,
                "python accepted {what} ({method}, {sig}): {theirs:?}"
            );
            let msg = mine.failure();
            assert!(msg.starts_with("Signature mismatch: "), "{msg}");
            let template = template.replace("model-byte", &copy);
            assert!(msg.contains(&template), "{what}: {msg}");
            // Python's text is the same sentence.
            assert!(theirs.stderr.contains(&template), "{what}: {theirs:?}");
        }
    }
}

#[test]
fn signature_inside_the_model_and_recorded_ignore_paths() {
    let py = Python::find("recorded ignore paths");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    python_key(&py, root, "k", "P384", "pkcs8", "");
    for (signer, dir) in [("python", "m-py"), ("ours", "m-rs")] {
        write_model(&root.join(dir), &tiny_model());
        std::fs::write(root.join(dir).join("ignore-me"), b"not signed").unwrap();
        std::fs::create_dir(root.join(dir).join(".git")).unwrap();
        std::fs::write(root.join(dir).join(".git/HEAD"), b"ref").unwrap();
        let sig = format!("{dir}/model.sig");
        let ignore = format!("{dir}/ignore-me");
        let args = [
            "sign",
            "key",
            dir,
            "--private_key",
            "k.key",
            "--signature",
            &sig,
            "--ignore-paths",
            &ignore,
        ];
        let out = if signer == "python" {
            py.model_signing(root, &args)
        } else {
            ours(root, &args)
        };
        signed(&out, signer);
        // Neither verifier needs --ignore-paths: the signature records them (1.1.x).
        let args = [
            "verify",
            "key",
            dir,
            "--signature",
            &sig,
            "--public_key",
            "k.pub",
        ];
        verified(&ours(root, &args), &format!("ours on {signer}'s"));
        verified(
            &py.model_signing(root, &args),
            &format!("python on {signer}'s"),
        );
        let b: Value = serde_json::from_slice(&std::fs::read(root.join(&sig)).unwrap()).unwrap();
        let payload: Value = serde_json::from_slice(
            &STANDARD
                .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        let mut recorded: Vec<String> = payload["predicate"]["serialization"]["ignore_paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        recorded.sort();
        assert_eq!(
            recorded,
            [
                ".git",
                ".gitattributes",
                ".github",
                ".gitignore",
                "ignore-me",
                "model.sig"
            ],
            "{signer}"
        );
    }
}

#[test]
fn encrypted_private_keys_sign_with_a_password() {
    let py = Python::find("encrypted keys");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    python_key(&py, root, "enc", "P256", "encrypted", "s3cret pässword");
    write_model(&root.join("m"), &tiny_model());
    let sign = |extra: &[&str]| {
        let mut a = vec![
            "sign",
            "key",
            "m",
            "--private_key",
            "enc.key",
            "--signature",
            "m.sig",
        ];
        a.extend_from_slice(extra);
        ours(root, &a)
    };
    let out = sign(&[]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("Password was not given but private key is encrypted"),
        "{out:?}"
    );
    let out = sign(&["--password", "wrong"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("Bad decrypt"), "{out:?}");
    signed(&sign(&["--password", "s3cret pässword"]), "ours");
    let args = [
        "verify",
        "key",
        "m",
        "--signature",
        "m.sig",
        "--public_key",
        "enc.pub",
    ];
    verified(&py.model_signing(root, &args), "python");
    verified(&ours(root, &args), "ours");

    // An unencrypted key with a password is refused, as cryptography does.
    python_key(&py, root, "plain", "P256", "pkcs8", "");
    let out = ours(
        root,
        &[
            "sign",
            "key",
            "m",
            "--private_key",
            "plain.key",
            "--password",
            "x",
            "--signature",
            "x.sig",
        ],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("Password was given but private key is not encrypted.")
    );

    // openssl's own encrypted PKCS#8 (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC); the openssl CLI
    // is installed by .ci/install.sh.
    let openssl = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-aes-256-cbc",
            "-pass",
            "pass:pw",
            "-out",
        ])
        .arg(root.join("ossl.key"))
        .output();
    match openssl {
        Ok(o) => {
            assert!(o.status.success(), "openssl genpkey: {o:?}");
            let out = std::process::Command::new("openssl")
                .args(["pkey", "-passin", "pass:pw", "-pubout", "-in"])
                .arg(root.join("ossl.key"))
                .arg("-out")
                .arg(root.join("ossl.pub"))
                .output()
                .unwrap();
            assert!(out.status.success());
            signed(
                &ours(
                    root,
                    &[
                        "sign",
                        "key",
                        "m",
                        "--private_key",
                        "ossl.key",
                        "--password",
                        "pw",
                        "--signature",
                        "o.sig",
                    ],
                ),
                "ours",
            );
            let args = [
                "verify",
                "key",
                "m",
                "--signature",
                "o.sig",
                "--public_key",
                "ossl.pub",
            ];
            verified(&py.model_signing(root, &args), "python");
        }
        Err(e) => panic!("the openssl CLI is needed (installed by .ci/install.sh): {e}"),
    }
}

#[test]
fn both_signers_refuse_a_certificate_for_another_key() {
    let py = Python::find("certificate key mismatch");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    Chain::standard("P256").write(&root.join("pki"));
    python_key(&py, root, "other", "P256", "pkcs8", "");
    write_model(&root.join("m"), &tiny_model());
    let args = [
        "sign",
        "certificate",
        "m",
        "--private_key",
        "other.key",
        "--signing_certificate",
        "pki/leaf.pem",
        "--certificate_chain",
        "pki/intermediate.pem",
        "--signature",
        "m.sig",
    ];
    let mine = ours(root, &args);
    let theirs = py.model_signing(root, &args);
    let text = "The public key from the certificate does not match the public key paired with the private key";
    for out in [&mine, &theirs] {
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr
                .contains(&format!("Signing failed with error: {text}")),
            "{out:?}"
        );
    }
    assert!(!root.join("m.sig").exists());
}

/// Mutations of a bundle, applied to a Python-made signature; both verifiers must agree.
#[test]
fn bundle_mutations_get_the_same_verdict_from_both() {
    let py = Python::find("differential bundle mutations");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    python_key(&py, root, "k", "P256", "pkcs8", "");
    Chain::standard("P256").write(&root.join("pki"));
    write_model(&root.join("m"), &tiny_model());
    signed(
        &py.model_signing(root, &refs(&sign_args("key", "m", "key.sig"))),
        "python",
    );
    signed(
        &py.model_signing(
            root,
            &[
                "sign",
                "certificate",
                "m",
                "--private_key",
                "pki/leaf.key",
                "--signing_certificate",
                "pki/leaf.pem",
                "--certificate_chain",
                "pki/intermediate.pem",
                "--certificate_chain",
                "pki/root.pem",
                "--signature",
                "cert.sig",
            ],
        ),
        "python",
    );
    type Mutation = fn(&mut Value);
    let mutations: Vec<(&str, Mutation)> = vec![
        ("unchanged", |_| {}),
        ("unknown top-level field", |b| b["extra"] = 1.into()),
        ("unknown envelope field", |b| {
            b["dsseEnvelope"]["extra"] = "x".into()
        }),
        ("unknown signature field", |b| {
            b["dsseEnvelope"]["signatures"][0]["extra"] = "x".into()
        }),
        ("snake_case names", |b| {
            let o = b.as_object_mut().unwrap();
            let mt = o.remove("mediaType").unwrap();
            o.insert("media_type".into(), mt);
        }),
        ("media type 0.3 other spelling", |b| {
            b["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.3".into()
        }),
        ("unknown media type", |b| {
            b["mediaType"] = "application/json".into()
        }),
        ("no tlogEntries", |b| {
            b["verificationMaterial"]
                .as_object_mut()
                .unwrap()
                .remove("tlogEntries");
        }),
        ("keyid null", |b| {
            b["dsseEnvelope"]["signatures"][0]["keyid"] = Value::Null
        }),
        ("keyid absent", |b| {
            b["dsseEnvelope"]["signatures"][0]
                .as_object_mut()
                .unwrap()
                .remove("keyid");
        }),
        ("keyid number", |b| {
            b["dsseEnvelope"]["signatures"][0]["keyid"] = 5.into()
        }),
        ("payload type changed", |b| {
            b["dsseEnvelope"]["payloadType"] = "text/plain".into()
        }),
        ("no signatures", |b| {
            b["dsseEnvelope"]["signatures"] = Value::Array(vec![])
        }),
        ("junk second signature", |b| {
            let junk = serde_json::json!({"sig": "AAAA", "keyid": ""});
            b["dsseEnvelope"]["signatures"]
                .as_array_mut()
                .unwrap()
                .push(junk);
        }),
        ("junk first signature", |b| {
            let junk = serde_json::json!({"sig": "AAAA", "keyid": ""});
            b["dsseEnvelope"]["signatures"]
                .as_array_mut()
                .unwrap()
                .insert(0, junk);
        }),
        ("base64 with line breaks", |b| {
            let p = b["dsseEnvelope"]["payload"].as_str().unwrap().to_owned();
            let wrapped: String = p
                .as_bytes()
                .chunks(60)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("\n");
            b["dsseEnvelope"]["payload"] = wrapped.into();
        }),
        ("spaces and URL-safe characters inside base64", |b| {
            let p = b["dsseEnvelope"]["payload"].as_str().unwrap().to_owned();
            let (head, tail) = p.split_at(8);
            b["dsseEnvelope"]["payload"] = format!("{head} -_{tail}").into();
        }),
        ("base64 without padding", |b| {
            let s = b["dsseEnvelope"]["signatures"][0]["sig"]
                .as_str()
                .unwrap()
                .to_owned();
            if s.ends_with('=') {
                b["dsseEnvelope"]["signatures"][0]["sig"] = s.trim_end_matches('=').into();
            } else {
                b["dsseEnvelope"]["signatures"][0]["sig"] = format!("{s}A").into();
            }
        }),
        ("raw r||s signature", |b| {
            let der = STANDARD
                .decode(b["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap())
                .unwrap();
            // DER SEQUENCE { INTEGER r, INTEGER s } → fixed 64 bytes.
            let mut fixed = Vec::new();
            let mut i = 2;
            for _ in 0..2 {
                let len = der[i + 1] as usize;
                let int = &der[i + 2..i + 2 + len];
                let int = &int[int.len().saturating_sub(32)..];
                fixed.extend(std::iter::repeat_n(0u8, 32 - int.len()));
                fixed.extend_from_slice(int);
                i += 2 + len;
            }
            b["dsseEnvelope"]["signatures"][0]["sig"] = STANDARD.encode(fixed).into();
        }),
        ("messageSignature instead of envelope", |b| {
            b.as_object_mut().unwrap().remove("dsseEnvelope");
            b["messageSignature"] = serde_json::json!({"signature": "AAAA"});
        }),
        ("both envelope and messageSignature", |b| {
            b["messageSignature"] = serde_json::json!({"signature": "AAAA"});
        }),
        ("integer logIndex in a tlog entry", |b| {
            b["verificationMaterial"]["tlogEntries"] = serde_json::json!([{"logIndex": 1}]);
        }),
        ("timestampVerificationData empty", |b| {
            b["verificationMaterial"]["timestampVerificationData"] = serde_json::json!({});
        }),
        ("top level is an array", |b| *b = serde_json::json!([1])),
        // Key bundles only (no-ops for certificate bundles' hint, which is absent).
        ("hint removed", |b| {
            if let Some(pk) = b["verificationMaterial"].get_mut("publicKey") {
                pk.as_object_mut().unwrap().remove("hint");
            }
        }),
        ("hint wrong", |b| {
            if let Some(pk) = b["verificationMaterial"].get_mut("publicKey") {
                pk["hint"] = "abc".into();
            }
        }),
        ("legacy rawBytes and keyDetails", |b| {
            if let Some(pk) = b["verificationMaterial"].get_mut("publicKey") {
                pk["rawBytes"] = "AAAA".into();
                pk["keyDetails"] = "PKIX_ECDSA_P256_SHA_256".into();
            }
        }),
        // Certificate bundles only.
        ("leaf only", |b| {
            if let Some(c) = b["verificationMaterial"].get_mut("x509CertificateChain") {
                c["certificates"].as_array_mut().unwrap().truncate(1);
            }
        }),
        ("chain order reversed", |b| {
            if let Some(c) = b["verificationMaterial"].get_mut("x509CertificateChain") {
                c["certificates"].as_array_mut().unwrap().reverse();
            }
        }),
        ("intermediates reversed", |b| {
            if let Some(c) = b["verificationMaterial"].get_mut("x509CertificateChain") {
                let certs = c["certificates"].as_array_mut().unwrap();
                certs[1..].reverse();
            }
        }),
        ("empty chain", |b| {
            if let Some(c) = b["verificationMaterial"].get_mut("x509CertificateChain") {
                c["certificates"] = Value::Array(vec![]);
            }
        }),
    ];
    let mut disagreements = Vec::new();
    let mut checked = 0;
    for (sig, method) in [("key.sig", "key"), ("cert.sig", "certificate")] {
        let original: Value =
            serde_json::from_slice(&std::fs::read(root.join(sig)).unwrap()).unwrap();
        for (what, mutate) in &mutations {
            let mut b = original.clone();
            mutate(&mut b);
            std::fs::write(root.join("mutated.sig"), b.to_string()).unwrap();
            let mut args = vec!["verify", method, "m", "--signature", "mutated.sig"];
            match method {
                "key" => args.extend(["--public_key", "k.pub"]),
                _ => args.extend(["--certificate_chain", "pki/root.pem"]),
            }
            let mine = ours(root, &args);
            let theirs = py.model_signing(root, &args);
            checked += 1;
            if mine.code != theirs.code || mine.stdout != theirs.stdout {
                disagreements.push(format!(
                    "{method} / {what}: ours exit {} {:?} {:?}, python exit {} {:?} {:?}",
                    mine.code, mine.stdout, mine.stderr, theirs.code, theirs.stdout, theirs.stderr
                ));
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {checked} disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// The shape of a JSON value: object keys in order (recursively), array lengths, value kinds.
fn shape(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{}", shape(v))).collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(shape).collect::<Vec<_>>().join(",")),
        Value::String(_) => "s".into(),
        Value::Number(_) => "n".into(),
        Value::Bool(_) => "b".into(),
        Value::Null => "null".into(),
    }
}

#[test]
fn our_bundles_have_the_layout_python_writes() {
    let py = Python::find("bundle layout");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    python_key(&py, root, "k", "P256", "pkcs8", "");
    Chain::standard("P256").write(&root.join("pki"));
    write_model(&root.join("m"), &tiny_model());
    for what in ["key", "certificate"] {
        let args = |sig: &str| sign_args(what, "m", sig);
        signed(&py.model_signing(root, &refs(&args("py.sig"))), "python");
        signed(&ours(root, &refs(&args("rs.sig"))), "ours");
        let read = |f: &str| -> (String, Value) {
            let text = std::fs::read_to_string(root.join(f)).unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            (text, v)
        };
        let (py_text, py_json) = read("py.sig");
        let (rs_text, rs_json) = read("rs.sig");
        assert_eq!(shape(&rs_json), shape(&py_json), "{what} bundle layout");
        // Compact JSON, no trailing newline, in both.
        for text in [&py_text, &rs_text] {
            assert!(
                !text.ends_with('\n') && !text.contains(": "),
                "{what}: {text}"
            );
        }
        // The statements agree on everything but the key order Python does not fix.
        let statement = |v: &Value| -> Value {
            let p = STANDARD
                .decode(v["dsseEnvelope"]["payload"].as_str().unwrap())
                .unwrap();
            serde_json::from_slice(&p).unwrap()
        };
        let (mut a, mut b) = (statement(&py_json), statement(&rs_json));
        for s in [&mut a, &mut b] {
            let ip = s["predicate"]["serialization"]["ignore_paths"]
                .as_array_mut()
                .unwrap();
            ip.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
        }
        // serde_json `Value` equality ignores object key order.
        assert_eq!(a, b, "{what} statements");
    }
}

/// Random single-character corruptions of a Python-made key bundle (a seeded walk over
/// positions and printable replacements, spaces included): both verifiers must agree on
/// every one. Exercises Python's lenient base64 (skipped characters) and strict JSON model.
#[test]
fn random_bundle_corruptions_get_the_same_verdict() {
    let py = Python::find("random bundle corruptions");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    python_key(&py, root, "k", "P256", "pkcs8", "");
    write_model(&root.join("m"), &tiny_model());
    signed(
        &py.model_signing(root, &refs(&sign_args("key", "m", "k.sig"))),
        "python",
    );
    let original = std::fs::read(root.join("k.sig")).unwrap();
    let mut x: u64 = std::env::var("MV_CORRUPTION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0123_4567_89ab_cdef)
        | 1;
    eprintln!("random corruptions: seed {x} (set MV_CORRUPTION_SEED to replay)");
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let replacements = b" =+/-_Aa0\"{}[],:\\\n";
    let mut disagreements = Vec::new();
    let mut accepted = 0;
    let rounds = 30;
    for _ in 0..rounds {
        let mut bytes = original.clone();
        let pos = (next() as usize) % bytes.len();
        let c = replacements[(next() as usize) % replacements.len()];
        bytes[pos] = c;
        std::fs::write(root.join("c.sig"), &bytes).unwrap();
        let args = [
            "verify",
            "key",
            "m",
            "--signature",
            "c.sig",
            "--public_key",
            "k.pub",
        ];
        let mine = ours(root, &args);
        let theirs = py.model_signing(root, &args);
        if mine.code == 0 {
            accepted += 1;
        }
        if mine.code != theirs.code {
            disagreements.push(format!(
                "byte {pos} -> {:?}: ours {} {:?}, python {} {:?}",
                char::from(c),
                mine.code,
                mine.stderr,
                theirs.code,
                theirs.stderr
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {rounds} disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    eprintln!("{accepted} of {rounds} corrupted bundles still verified in both tools");
}

#[test]
fn single_file_model_both_directions() {
    let py = Python::find("single-file model");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    python_key(&py, root, "k", "P521", "pkcs8", "");
    std::fs::write(root.join("model.safetensors"), fixtures::noise(70_000, 5)).unwrap();
    for (signer, sig) in [("python", "py.sig"), ("ours", "rs.sig")] {
        let args = [
            "sign",
            "key",
            "model.safetensors",
            "--private_key",
            "k.key",
            "--signature",
            sig,
        ];
        let out = if signer == "python" {
            py.model_signing(root, &args)
        } else {
            ours(root, &args)
        };
        signed(&out, signer);
        let args = [
            "verify",
            "key",
            "model.safetensors",
            "--signature",
            sig,
            "--public_key",
            "k.pub",
        ];
        verified(&ours(root, &args), &format!("ours on {signer}'s"));
        verified(
            &py.model_signing(root, &args),
            &format!("python on {signer}'s"),
        );
        // The single resource is named "." (model-signing-format.md §1.1).
        let b: Value = serde_json::from_slice(&std::fs::read(root.join(sig)).unwrap()).unwrap();
        let payload: Value = serde_json::from_slice(
            &STANDARD
                .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            payload["predicate"]["resources"][0]["name"], ".",
            "{signer}"
        );
        assert_eq!(
            payload["subject"][0]["name"], "model.safetensors",
            "{signer}"
        );
    }
}

/// Signatures made with the Python *API* in shard and BLAKE serializations verify with
/// `model-verifier`, which follows the signed serialization (an extension: the Python CLI
/// always hashes files with SHA-256 and rejects them). A tampered copy still fails.
#[test]
fn python_api_serializations_verify_with_the_signed_serialization() {
    let py = Python::find("python API serializations");
    const CODE: &str = r#"
import sys
import model_signing
key, model, sig, mode, alg = sys.argv[1:6]
h = model_signing.hashing.Config()
if mode == "shards":
    h = h.use_shard_serialization(hashing_algorithm=alg, shard_size=1000)
else:
    h = h.use_file_serialization(hashing_algorithm=alg)
model_signing.signing.Config().use_elliptic_key_signer(private_key=key).set_hashing_config(h).sign(model, sig)
"#;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    python_key(&py, root, "k", "P384", "pkcs8", "");
    let mut files = nested_unicode_model();
    files.push(("big.bin", fixtures::noise(5_500, 17)));
    write_model(&root.join("m"), &files);
    for (mode, alg) in [
        ("files", "sha256"),
        ("files", "blake2"),
        ("files", "blake3"),
        ("shards", "sha256"),
        ("shards", "blake2"),
    ] {
        let sig = format!("{mode}-{alg}.sig");
        let out = py.script(
            CODE,
            &[
                root.join("k.key").to_str().unwrap(),
                root.join("m").to_str().unwrap(),
                root.join(&sig).to_str().unwrap(),
                mode,
                alg,
            ],
        );
        assert_eq!(out.code, 0, "{mode}/{alg}: {out:?}");
        let args = [
            "verify",
            "key",
            "m",
            "--signature",
            &sig,
            "--public_key",
            "k.pub",
        ];
        verified(
            &ours(root, &args),
            &format!("ours on python API {mode}/{alg}"),
        );
        let theirs = py.model_signing(root, &args);
        let default = mode == "files" && alg == "sha256";
        assert_eq!(
            theirs.code,
            if default { 0 } else { 1 },
            "{mode}/{alg}: {theirs:?}"
        );
    }
    // Tampering is still caught under the signed serialization.
    let f = root.join("m/big.bin");
    let mut b = std::fs::read(&f).unwrap();
    b[4_321] ^= 0x80;
    std::fs::write(&f, b).unwrap();
    for sig in ["shards-sha256.sig", "files-blake3.sig", "shards-blake2.sig"] {
        let args = [
            "verify",
            "key",
            "m",
            "--signature",
            sig,
            "--public_key",
            "k.pub",
        ];
        let out = ours(root, &args);
        assert_eq!(out.code, 1, "{sig}: {out:?}");
        assert!(
            out.failure().starts_with("Signature mismatch"),
            "{}",
            out.failure()
        );
    }
}
