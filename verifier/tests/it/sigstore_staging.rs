//! A genuine bundle from the Sigstore **staging** instance (a conda attestation signed in 2026
//! with a Rekor v2 `hashedrekord` 0.0.2 entry whose checkpoint carries witness cosignatures, and
//! an RFC 3161 timestamp from the staging TSA; from sigstore-rust's public test data): it
//! verifies with the embedded staging root (`--use_staging`) and with nothing else.

use model_verifier::method::SignatureVerifier;
use model_verifier::method::sigstore::bundle::EntryKind;
use model_verifier::method::sigstore::{IdentityPolicy, SigstoreVerifier, TrustMaterial};
use serde_json::{Value, json};

const BUNDLE: &str = include_str!("support/staging-rekor-v2-dsse.sigstore.json");
const IDENTITY: &str = "jku@goto.fi";
const ISSUER: &str = "https://github.com/login/oauth";

fn staging() -> SigstoreVerifier {
    SigstoreVerifier::new(
        IdentityPolicy::exact(IDENTITY, ISSUER),
        TrustMaterial::staging().unwrap(),
    )
    .unwrap()
}

#[test]
fn staging_rekor_v2_bundle_verifies_with_the_staging_root_only() {
    let v = staging();
    let env = v.verify_bundle(BUNDLE.as_bytes()).unwrap();
    assert_eq!(env.signer, IDENTITY);
    let digest = model_verifier::method::sigstore::statement_subject_sha256(&env.payload).unwrap();
    let (_, report) = v
        .verify_bundle_for_digest(BUNDLE.as_bytes(), &digest)
        .unwrap();
    assert_eq!(report.entry_kind, EntryKind::HashedRekordV002);
    assert_eq!(
        report.verified_times.len(),
        1,
        "the TSA time only (Rekor v2 has no SET)"
    );

    let public_good = SigstoreVerifier::new(
        IdentityPolicy::exact(IDENTITY, ISSUER),
        TrustMaterial::public_good().unwrap(),
    )
    .unwrap();
    assert!(public_good.verify_bundle(BUNDLE.as_bytes()).is_err());
}

#[test]
fn staging_rekor_v2_forgeries_are_rejected() {
    let v = staging();
    let genuine: Value = serde_json::from_str(BUNDLE).unwrap();
    let e = "/verificationMaterial/tlogEntries/0";
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "no timestamp",
            Box::new(|b| {
                b["verificationMaterial"]["timestampVerificationData"] = json!({});
            }),
        ),
        (
            "entry index+1",
            Box::new(move |b| {
                *b.pointer_mut(&format!("{e}/logIndex")).unwrap() = json!("4197417");
                *b.pointer_mut(&format!("{e}/inclusionProof/logIndex"))
                    .unwrap() = json!("4197417");
            }),
        ),
        (
            "proof rootHash changed (Rekor v2 ignores it, Python does not)",
            Box::new(move |b| {
                *b.pointer_mut(&format!("{e}/inclusionProof/rootHash"))
                    .unwrap() = json!("Gs0Ni2Z1APDZRoZY3jrgHAxBDZFqGNHyShol9a9pxeE=");
            }),
        ),
        (
            "witness line garbled",
            Box::new(move |b| {
                let p = format!("{e}/inclusionProof/checkpoint/envelope");
                let t = b
                    .pointer(&p)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .replace("witness.stagemole.eu Z", "witness.stagemole.eu  Z");
                *b.pointer_mut(&p).unwrap() = json!(t);
            }),
        ),
        (
            "log signature line removed",
            Box::new(move |b| {
                let p = format!("{e}/inclusionProof/checkpoint/envelope");
                let t = b.pointer(&p).unwrap().as_str().unwrap().to_owned();
                let kept: String = t
                    .split_inclusive('\n')
                    .filter(|l| !l.starts_with("\u{2014} log2025"))
                    .collect();
                *b.pointer_mut(&p).unwrap() = json!(kept);
            }),
        ),
        (
            "DSSE payload changed",
            Box::new(|b| {
                use base64::Engine;
                let engine = base64::engine::general_purpose::STANDARD;
                let payload = engine
                    .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
                    .unwrap();
                let changed = String::from_utf8(payload)
                    .unwrap()
                    .replace("my-channel", "my-chann3l");
                b["dsseEnvelope"]["payload"] = json!(engine.encode(changed));
            }),
        ),
        (
            "kind claimed as dsse 0.0.1",
            Box::new(move |b| {
                *b.pointer_mut(&format!("{e}/kindVersion")).unwrap() =
                    json!({"kind": "dsse", "version": "0.0.1"});
            }),
        ),
    ];
    for (case, edit) in cases {
        let mut b = genuine.clone();
        edit(&mut b);
        match v.verify_bundle(b.to_string().as_bytes()) {
            Ok(_) => panic!("{case}: verified"),
            Err(err) => eprintln!("{case}: rejected: {err}"),
        }
    }
    // The wrong identity, with the staging root.
    let other = SigstoreVerifier::new(
        IdentityPolicy::exact("someone@example.com", ISSUER),
        TrustMaterial::staging().unwrap(),
    )
    .unwrap();
    assert_eq!(
        other
            .verify_bundle(BUNDLE.as_bytes())
            .unwrap_err()
            .to_string(),
        "Certificate's SANs do not match someone@example.com; actual SANs: {'jku@goto.fi'}"
    );
}
