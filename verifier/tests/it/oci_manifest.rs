//! OCI-manifest signatures end to end through the CLI: `sign`/`verify`/`digest` with
//! `--oci-manifest` and `--oci-layout --image`, on OCI image layouts written here blob by blob
//! (files → blobs → sha256 → manifest → index.json), the way ORAS stores a model (one layer per
//! file, titled with its name) and the way image builders do (untitled layers).
//!
//! Interoperability with the real Python `model_signing` 1.1.1: for an ORAS-style image the
//! layer digests are the files' SHA-256 digests, so an OCI-manifest signature is a valid
//! signature of the unpacked model directory and the other way round. Both directions are
//! checked with the Python peer (a missing peer fails the test). The Go implementation is checked in `interop_go.rs`.

use crate::support::key_cert_fixtures as fixtures;
use crate::support::oci_layout;

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fixtures::{Chain, Python, noise, ours, rust_key_pair, write_model};
use model_verifier::keys::Curve;
use oci_layout::{Layer, write_layout};
use serde_json::{Value, json};

fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("weights.bin", noise(100_000, 5)),
        ("tokenizer/vocab.txt", b"a\nb\n".to_vec()),
        ("README.md", b"# model\n".to_vec()),
    ]
}

const CONFIG: &[u8] = br#"{"architecture":"transformer"}"#;

fn oras_layers() -> Vec<Layer> {
    files()
        .into_iter()
        .map(|(n, c)| Layer::titled(n, c))
        .collect()
}

fn sign_key(root: &Path, source: &[&str], sig: &str) {
    let mut args = vec!["sign", "key"];
    args.extend(source);
    args.extend(["--private_key", "k.key", "--signature", sig]);
    let out = ours(root, &args);
    assert_eq!(out.code, 0, "signing {source:?}: {out:?}");
    assert!(out.stdout.contains("Signing succeeded"), "{out:?}");
}

fn verify_key(root: &Path, source: &[&str], sig: &str, extra: &[&str]) -> fixtures::Output {
    let mut args = vec!["verify", "key"];
    args.extend(source);
    args.extend(["--signature", sig, "--public_key", "k.pub"]);
    args.extend(extra);
    ours(root, &args)
}

/// The signed statement of a bundle.
fn statement(path: &Path) -> Value {
    let bundle: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let payload = STANDARD
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

#[test]
fn our_signature_of_a_manifest_verifies_by_file_and_by_layout_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    rust_key_pair(root, "k", Curve::P256);
    let image = write_layout(&root.join("layout"), &oras_layers(), CONFIG, "v1");
    std::fs::write(root.join("model.json"), &image.manifest).unwrap();
    sign_key(root, &["--oci-manifest", "model.json"], "m.sig");

    let digest = image.digest();
    let tagged_digest = format!("v1@{digest}");
    for source in [
        vec!["--oci-manifest", "model.json"],
        vec!["--oci-layout", "layout", "--image", "v1"],
        vec!["--oci-layout", "layout", "--image", &digest],
        vec!["--oci-layout", "layout", "--image", &tagged_digest],
        // One manifest in the layout: no reference needed.
        vec!["--oci-layout", "layout"],
    ] {
        let out = verify_key(root, &source, "m.sig", &[]);
        assert_eq!(out.code, 0, "{source:?}: {out:?}");
        assert_eq!(out.stdout, "Verification succeeded\n", "{source:?}");
    }
    // The JSON report names the image digest and the root digest `digest` prints.
    let out = verify_key(
        root,
        &["--oci-manifest", "model.json"],
        "m.sig",
        &["--output", "json"],
    );
    let report: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(report["imageDigest"], json!(digest));
    assert_eq!(report["files"], json!(4));
    let printed = ours(root, &["digest", "--oci-manifest", "model.json"]);
    assert_eq!(
        printed.stdout.trim(),
        report["rootDigest"].as_str().unwrap()
    );

    // The statement: files/sha256, one resource per layer named by its title, plus config.json,
    // each with the blob's digest (the Go implementation's format).
    let st = statement(&root.join("m.sig"));
    assert_eq!(
        st["predicate"]["serialization"],
        json!({"method": "files", "hash_type": "sha256", "allow_symlinks": false})
    );
    assert_eq!(st["subject"][0]["name"], json!("model"));
    let mut expected: Vec<Value> = image
        .blobs()
        .map(|(name, d)| json!({"name": name, "algorithm": "sha256", "digest": d}))
        .collect();
    let mut got = st["predicate"]["resources"].as_array().unwrap().clone();
    let key = |v: &Value| v["name"].as_str().unwrap().to_owned();
    expected.sort_by_key(key);
    got.sort_by_key(key);
    assert_eq!(got, expected);
}

#[test]
fn untitled_layers_are_named_layer_nnn_and_the_config_can_be_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    rust_key_pair(root, "k", Curve::P384);
    let layers: Vec<Layer> = (0..3)
        .map(|i| Layer::gzip_tar(noise(5000 + i, i as u64 + 1)))
        .collect();
    let image = write_layout(&root.join("layout"), &layers, CONFIG, "v2");
    std::fs::write(root.join("img.json"), &image.manifest).unwrap();
    sign_key(
        root,
        &["--oci-manifest", "img.json", "--oci-exclude-config"],
        "s.sig",
    );
    let st = statement(&root.join("s.sig"));
    let names: Vec<&str> = st["predicate"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["layer_000.tar.gz", "layer_001.tar.gz", "layer_002.tar.gz"]
    );
    // The config is not covered: verification says so, and still succeeds.
    let out = verify_key(
        root,
        &["--oci-layout", "layout", "--image", "v2"],
        "s.sig",
        &[],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .starts_with("WARNING: the signature does not list config.json"),
        "{out:?}"
    );
    assert!(out.stdout.ends_with("Verification succeeded\n"), "{out:?}");
}

/// How a manifest is changed after signing, and what the failure must say.
struct Tamper {
    what: &'static str,
    change: fn(&mut Value),
    message: &'static str,
}

#[test]
fn changed_removed_added_layers_and_a_changed_config_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    rust_key_pair(root, "k", Curve::P256);
    let image = write_layout(&root.join("layout"), &oras_layers(), CONFIG, "v1");
    std::fs::write(root.join("model.json"), &image.manifest).unwrap();
    sign_key(root, &["--oci-manifest", "model.json"], "m.sig");
    let original: Value = serde_json::from_slice(&image.manifest).unwrap();
    let cases = [
        Tamper {
            what: "changed layer digest",
            change: |m| m["layers"][0]["digest"] = json!(format!("sha256:{}", "0".repeat(64))),
            message: "Hash mismatch for 'weights.bin'",
        },
        Tamper {
            what: "removed layer",
            change: |m| {
                m["layers"].as_array_mut().unwrap().remove(1);
            },
            message: "Missing files in model 'model': tokenizer/vocab.txt",
        },
        Tamper {
            what: "added layer",
            change: |m| {
                let mut extra = m["layers"][0].clone();
                extra["annotations"]["org.opencontainers.image.title"] = json!("extra.bin");
                m["layers"].as_array_mut().unwrap().push(extra);
            },
            message: "Extra files found in model 'model': extra.bin",
        },
        Tamper {
            what: "renamed layer",
            change: |m| {
                m["layers"][2]["annotations"]["org.opencontainers.image.title"] =
                    json!("README.txt");
            },
            message: "Missing files in model 'model': README.md",
        },
        Tamper {
            what: "changed config",
            change: |m| m["config"]["digest"] = json!(format!("sha256:{}", "1".repeat(64))),
            message: "Hash mismatch for 'config.json'",
        },
        Tamper {
            what: "invalid digest",
            change: |m| m["layers"][0]["digest"] = json!("sha256:abc"),
            message: "layers[0].digest is 'sha256:abc'",
        },
    ];
    for case in cases {
        let mut m = original.clone();
        (case.change)(&mut m);
        std::fs::write(root.join("model.json"), serde_json::to_vec(&m).unwrap()).unwrap();
        let out = verify_key(root, &["--oci-manifest", "model.json"], "m.sig", &[]);
        assert_eq!(out.code, 1, "{}: {out:?}", case.what);
        assert!(
            out.failure().contains(case.message),
            "{}: {:?} not in {:?}",
            case.what,
            case.message,
            out.failure()
        );
    }
    // A layout whose manifest blob was rewritten in place no longer matches its digest.
    let blob = root.join("layout/blobs/sha256").join(&image.digest()[7..]);
    let mut m = original.clone();
    m["layers"].as_array_mut().unwrap().pop();
    std::fs::write(&blob, serde_json::to_vec(&m).unwrap()).unwrap();
    let out = verify_key(
        root,
        &["--oci-layout", "layout", "--image", "v1"],
        "m.sig",
        &[],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.failure().contains("does not match its descriptor"),
        "{out:?}"
    );
    // Unknown tag; the JSON report names the layout as the model.
    let out = verify_key(
        root,
        &["--oci-layout", "layout", "--image", "v9"],
        "m.sig",
        &["--output", "json"],
    );
    assert!(out.failure().contains("no manifest tagged 'v9'"), "{out:?}");
    let report: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(report["model"], json!("layout"));
    assert_eq!(report["kind"], json!("model-unreadable"));
}

#[test]
fn certificate_signatures_of_a_manifest_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    Chain::standard("P256").write(root);
    let image = write_layout(&root.join("layout"), &oras_layers(), CONFIG, "v1");
    std::fs::write(root.join("model.json"), &image.manifest).unwrap();
    let out = ours(
        root,
        &[
            "sign",
            "certificate",
            "--oci-manifest",
            "model.json",
            "--private_key",
            "leaf.key",
            "--signing_certificate",
            "leaf.pem",
            "--certificate_chain",
            "intermediate.pem",
            "--signature",
            "c.sig",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let out = ours(
        root,
        &[
            "verify",
            "certificate",
            "--oci-layout",
            "layout",
            "--image",
            "v1",
            "--signature",
            "c.sig",
            "--certificate_chain",
            "root.pem",
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    rust_key_pair(root, "k", Curve::P256);
    // A model directory and an image at once, or neither: clap's usage error, exit 2.
    for args in [
        &[
            "verify",
            "key",
            "m",
            "--oci-manifest",
            "x.json",
            "--signature",
            "s",
            "--public_key",
            "k.pub",
        ][..],
        &[
            "sign",
            "key",
            "m",
            "--oci-manifest",
            "x.json",
            "--private_key",
            "k.key",
        ],
        &["verify", "key", "--signature", "s", "--public_key", "k.pub"],
    ] {
        assert_eq!(ours(root, args).code, 2, "{args:?}");
    }
    let out = ours(
        root,
        &[
            "sign",
            "key",
            "m",
            "--image",
            "v1",
            "--private_key",
            "k.key",
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("--image and --oci-exclude-config need"),
        "{out:?}"
    );
    let out = ours(
        root,
        &[
            "digest",
            "--oci-manifest",
            "x.json",
            "--serialization",
            "shards",
        ],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("--serialization files --hash sha256 only"),
        "{out:?}"
    );
    // A signature of the unpacked directory (no config.json) checks the image too.
    write_model(&root.join("m"), &files());
    let image = write_layout(&root.join("layout"), &oras_layers(), CONFIG, "v1");
    std::fs::write(root.join("model.json"), &image.manifest).unwrap();
    sign_key(root, &["m"], "dir.sig");
    let out = verify_key(root, &["--oci-manifest", "model.json"], "dir.sig", &[]);
    // The directory has no config.json: the signature does not list it, the layers match.
    assert_eq!(out.code, 0, "{out:?}");
}

// ---- the Python peer -------------------------------------------------------------------------

#[test]
fn python_signs_the_unpacked_model_and_we_verify_the_image() {
    let py = Python::find("OCI interop: python signs");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    rust_key_pair(root, "k", Curve::P256);
    let image = write_layout(&root.join("layout"), &oras_layers(), CONFIG, "v1");
    std::fs::write(root.join("model.json"), &image.manifest).unwrap();
    // The unpacked model: every layer as its titled file, the config blob as config.json.
    let mut unpacked = files();
    unpacked.push(("config.json", CONFIG.to_vec()));
    write_model(&root.join("model"), &unpacked);
    let out = py.model_signing(
        root,
        &[
            "sign",
            "key",
            "model",
            "--private_key",
            "k.key",
            "--signature",
            "py.sig",
        ],
    );
    assert_eq!(out.code, 0, "python signing: {out:?}");
    let out = verify_key(root, &["--oci-manifest", "model.json"], "py.sig", &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "Verification succeeded\n");
    // The same signature against an image with one layer changed fails.
    let mut layers = oras_layers();
    layers[1] = Layer::titled("tokenizer/vocab.txt", b"a\nB\n".to_vec());
    let other = write_layout(&root.join("other"), &layers, CONFIG, "v1");
    let out = verify_key(root, &["--oci-layout", "other"], "py.sig", &[]);
    assert_eq!(out.code, 1, "{out:?}");
    // (Python's list repr escapes the quotes of this message: match the parts.)
    let failure = out.failure();
    assert!(
        failure.contains("Hash mismatch for ") && failure.contains("tokenizer/vocab.txt"),
        "{out:?}"
    );
    drop(other);
}

#[test]
fn we_sign_the_image_and_python_verifies_the_unpacked_model() {
    let py = Python::find("OCI interop: we sign");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    rust_key_pair(root, "k", Curve::P384);
    let image = write_layout(&root.join("layout"), &oras_layers(), CONFIG, "v1");
    sign_key(root, &["--oci-layout", "layout", "--image", "v1"], "rs.sig");
    drop(image);
    let mut unpacked = files();
    unpacked.push(("config.json", CONFIG.to_vec()));
    write_model(&root.join("model"), &unpacked);
    let verify = |model: &str| {
        py.model_signing(
            root,
            &[
                "verify",
                "key",
                model,
                "--signature",
                "rs.sig",
                "--public_key",
                "k.pub",
            ],
        )
    };
    let out = verify("model");
    assert_eq!(out.code, 0, "python verification: {out:?}");
    assert!(out.stdout.contains("Verification succeeded"), "{out:?}");
    // A changed file, a missing file: Python rejects our signature.
    let mut changed = unpacked.clone();
    changed[0].1[0] ^= 1;
    write_model(&root.join("changed"), &changed);
    let mut missing = unpacked.clone();
    missing.remove(2);
    write_model(&root.join("missing"), &missing);
    for model in ["changed", "missing"] {
        let out = verify(model);
        assert_ne!(out.code, 0, "python accepted {model}: {out:?}");
    }
}

// ---- layouts written by real tools -----------------------------------------------------------

/// Runs a tool that `.ci/install.sh` installs; its absence fails the test (it is an input).
fn tool(cwd: &Path, program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("{program} (installed by .ci/install.sh) cannot run: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
}

#[test]
fn images_built_by_umoci_and_copied_by_skopeo_verify_and_a_new_layer_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    rust_key_pair(root, "k", Curve::P256);
    write_model(&root.join("m"), &files());
    // umoci: an image of two gzip tar layers (untitled, so layer_000/layer_001.tar.gz).
    tool(root, "umoci", &["init", "--layout", "lay"]);
    tool(root, "umoci", &["new", "--image", "lay:v1"]);
    for (file, dest) in [
        ("m/weights.bin", "/model/weights.bin"),
        ("m/README.md", "/model/README.md"),
    ] {
        tool(
            root,
            "umoci",
            &["insert", "--rootless", "--image", "lay:v1", file, dest],
        );
    }
    sign_key(root, &["--oci-layout", "lay", "--image", "v1"], "u.sig");
    let st = statement(&root.join("u.sig"));
    let mut names: Vec<&str> = st["predicate"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["config.json", "layer_000.tar.gz", "layer_001.tar.gz"]
    );
    // skopeo copies the image to another layout under another tag: same manifest digest.
    tool(
        root,
        "skopeo",
        &["--insecure-policy", "copy", "oci:lay:v1", "oci:copy:v2"],
    );
    let out = verify_key(
        root,
        &["--oci-layout", "copy", "--image", "v2"],
        "u.sig",
        &[],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "Verification succeeded\n");
    // A third layer (and so a new config) after signing: refused.
    tool(
        root,
        "umoci",
        &[
            "insert",
            "--rootless",
            "--image",
            "lay:v1",
            "m/tokenizer",
            "/model/tokenizer",
        ],
    );
    let out = verify_key(
        root,
        &["--oci-layout", "lay", "--image", "v1"],
        "u.sig",
        &[],
    );
    assert_eq!(out.code, 1, "{out:?}");
    let failure = out.failure();
    assert!(
        failure.contains("Extra files found in model 'v1': layer_002.tar.gz"),
        "{out:?}"
    );
    // (The config's digest bytes decide how Python's repr quotes this message: match parts.)
    assert!(
        failure.contains("Hash mismatch for ") && failure.contains("config.json"),
        "{out:?}"
    );
}
