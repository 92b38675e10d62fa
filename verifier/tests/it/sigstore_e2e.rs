//! End to end, through the binary: a model signed by a private Sigstore (the test-only mini
//! Sigstore), verified offline with that Sigstore's trust material passed as `--trust_config`
//! (a ClientTrustConfig, and a bare trusted_root.json), then tampered with.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

use crate::support::BIN;
use crate::support::mini_sigstore as mini;

use std::path::Path;
use std::process::Command;

use mini::{IDENTITY, ISSUER, MiniSigstore, Mint, TsaChoice};
use model_verifier::model::{ModelSpec, signing_payload};

fn run(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn private_sigstore_model_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    std::fs::create_dir_all(model.join("sub")).unwrap();
    std::fs::write(model.join("config.json"), b"{\"layers\": 2}\n").unwrap();
    std::fs::write(model.join("sub/weights.bin"), vec![7u8; 4096]).unwrap();

    let mut spec = ModelSpec::new(&model);
    spec.signature_path = Some(model.join("model.sig"));
    let signed = signing_payload(&spec).unwrap();

    let ms = MiniSigstore::new();
    let mut m = Mint::default();
    m.payload = signed.payload.clone();
    m.tsa = TsaChoice::Trusted;
    std::fs::write(model.join("model.sig"), ms.mint(&m).to_string()).unwrap();
    std::fs::write(
        tmp.path().join("trust.json"),
        ms.client_trust_config().to_string(),
    )
    .unwrap();
    std::fs::write(tmp.path().join("root.json"), ms.trusted_root().to_string()).unwrap();

    let verify = |trust: Option<&str>, identity: &str| {
        let mut args = vec![
            "verify",
            "sigstore",
            "--identity",
            identity,
            "--identity_provider",
            ISSUER,
            "--signature",
            "model/model.sig",
            "model",
        ];
        if let Some(t) = trust {
            args.extend(["--trust_config", t]);
        }
        run(tmp.path(), &args)
    };
    for trust in ["trust.json", "root.json"] {
        let (code, out, err) = verify(Some(trust), IDENTITY);
        assert_eq!(
            (code, out.as_str()),
            (0, "Verification succeeded\n"),
            "{trust}: {err}"
        );
    }
    // JSON report: the root digest is the one that was signed.
    let (code, out, _) = run(
        tmp.path(),
        &[
            "verify",
            "sigstore",
            "--identity",
            IDENTITY,
            "--identity-provider",
            ISSUER,
            "--trust-config",
            "trust.json",
            "--signature",
            "model/model.sig",
            "model",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        report["rootDigest"],
        format!("sha256:{}", signed.root_digest)
    );
    assert_eq!(report["signer"], IDENTITY);

    // Not trusted by the public-good root, nor by staging.
    let (code, _, err) = verify(None, IDENTITY);
    assert_eq!(code, 1, "{err}");
    // Wrong identity.
    let (code, _, err) = verify(Some("trust.json"), "mallory@example.com");
    assert_eq!(code, 1);
    assert_eq!(
        err.trim_end(),
        "Verification failed with error: Certificate's SANs do not match mallory@example.com; \
         actual SANs: {'alice@example.com'}"
    );
    // A changed model file.
    std::fs::write(model.join("config.json"), b"{\"layers\": 3}\n").unwrap();
    let (code, _, err) = verify(Some("trust.json"), IDENTITY);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("Verification failed with error: Signature mismatch"),
        "{err}"
    );
}
