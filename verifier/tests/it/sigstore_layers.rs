//! The checks this project adds on top of the keyless library (sigstore-python's rules for the
//! leaf profile, the identity policy, the checkpoint's log binding and the entry body), each shown
//! to reject its forgery on its own: the engine seam is filled with an engine that approves
//! every bundle, so nothing but this layer stands between the forgery and success.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

use crate::support::mini_sigstore as mini;

use mini::{IDENTITY, ISSUER, MiniSigstore, Mint};
use model_verifier::method::SignatureVerifier;
use model_verifier::method::sigstore::{
    EngineOutcome, IdentityPolicy, KeylessEngine, SigstoreError, SigstoreVerifier, TrustMaterial,
    TrustSource,
};
use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};
use serde_json::{Value, json};

/// Approves everything and reports the times it is told to.
#[derive(Debug)]
struct ApproveAll {
    times: Vec<i64>,
}

impl KeylessEngine for ApproveAll {
    fn verify(&self, _: &str, _: &[u8; 32]) -> Result<EngineOutcome, SigstoreError> {
        Ok(EngineOutcome {
            verified_times: self.times.clone(),
        })
    }
}

fn layer_only(ms: &MiniSigstore, m: &Mint, times: Vec<i64>) -> Result<(), String> {
    let trust = TrustMaterial::from_json_bytes(
        ms.trusted_root().to_string().as_bytes(),
        TrustSource::Bytes,
    )
    .unwrap();
    let v = SigstoreVerifier::with_engine(
        IdentityPolicy::exact(IDENTITY, ISSUER),
        trust,
        ApproveAll { times },
    );
    v.verify_bundle(ms.mint(m).to_string().as_bytes())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn body_kind(b: &mut Value) {
    b["kind"] = json!("intoto");
}
fn body_payload_hash(b: &mut Value) {
    b["spec"]["payloadHash"]["value"] = json!("00".repeat(32));
}
fn body_signature(b: &mut Value) {
    b["spec"]["signatures"][0]["signature"] = json!("AAAA");
}
fn body_verifier_pem_reflowed(b: &mut Value) {
    // The same certificate, PEM with 76-character lines: Python compares the exact text.
    let pem = String::from_utf8(mini::b64_decode(
        b["spec"]["signatures"][0]["verifier"].as_str().unwrap(),
    ))
    .unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut reflowed = String::from("-----BEGIN CERTIFICATE-----\n");
    for c in body.as_bytes().chunks(76) {
        reflowed.push_str(std::str::from_utf8(c).unwrap());
        reflowed.push('\n');
    }
    reflowed.push_str("-----END CERTIFICATE-----\n");
    b["spec"]["signatures"][0]["verifier"] = json!(mini::b64(reflowed.as_bytes()));
}

#[test]
fn layer_checks_reject_on_their_own() {
    let ms = MiniSigstore::new();
    let t = Mint::default().integrated_time;
    // Sanity: a good bundle passes the layer.
    layer_only(&ms, &Mint::default(), vec![t]).unwrap();

    type Tweak = Box<dyn Fn(&mut Mint)>;
    let cases: Vec<(&str, &str, Tweak)> = vec![
        (
            "wrong identity",
            "SANs do not match",
            Box::new(|m| {
                m.sans = vec![rcgen::SanType::Rfc822Name(
                    "eve@example.com".try_into().unwrap(),
                )]
            }),
        ),
        (
            "wrong issuer",
            "OIDCIssuer does not match",
            Box::new(|m| {
                m.issuer_v1 = Some("https://evil".into());
                m.issuer_v2 = None;
            }),
        ),
        (
            "KU",
            "Key usage",
            Box::new(|m| m.key_usages = vec![KeyUsagePurpose::KeyAgreement]),
        ),
        (
            "EKU",
            "Extended usage",
            Box::new(|m| m.ekus = vec![ExtendedKeyUsagePurpose::EmailProtection]),
        ),
        (
            "no SCT",
            "signed certificate timestamp",
            Box::new(|m| m.scts = 0),
        ),
        (
            "CA leaf",
            "CA certificate",
            Box::new(|m| m.leaf_is_ca = true),
        ),
        (
            "checkpoint by another trusted log",
            "Signature not found for log ID",
            Box::new(|m| m.checkpoint_by_other_log = true),
        ),
        (
            "checkpoint by a stranger",
            "checkpoint: invalid signature",
            Box::new(|m| m.checkpoint_by_stranger = true),
        ),
        (
            "body kind",
            "not a dsse 0.0.1 entry",
            Box::new(|m| m.body = Some(body_kind)),
        ),
        (
            "body payload hash",
            "log entry payload hash does not match bundle",
            Box::new(|m| m.body = Some(body_payload_hash)),
        ),
        (
            "body signature",
            "log entry signatures do not match bundle",
            Box::new(|m| m.body = Some(body_signature)),
        ),
        (
            "body verifier PEM layout",
            "log entry signatures do not match bundle",
            Box::new(|m| m.body = Some(body_verifier_pem_reflowed)),
        ),
    ];
    for (case, needle, tweak) in cases {
        let mut m = Mint::default();
        tweak(&mut m);
        match layer_only(&ms, &m, vec![t]) {
            Ok(()) => panic!("{case}: passed the layer"),
            Err(e) => assert!(
                e.contains(needle),
                "{case}: '{e}' does not mention '{needle}'"
            ),
        }
    }
}

#[test]
fn every_time_source_must_be_verified_by_the_engine() {
    let ms = MiniSigstore::new();
    let t = Mint::default().integrated_time;
    let e = layer_only(&ms, &Mint::default(), vec![]).unwrap_err();
    assert!(
        e.contains("verified 0 signing time(s), the bundle carries 1"),
        "{e}"
    );
    let e = layer_only(&ms, &Mint::default(), vec![t + 1]).unwrap_err();
    assert!(e.contains("signing time"), "{e}");
}

#[test]
fn checkpoint_size_must_match_the_proof() {
    let ms = MiniSigstore::new();
    let t = Mint::default().integrated_time;
    let mut b = ms.mint(&Mint::default());
    let p = "/verificationMaterial/tlogEntries/0/inclusionProof/treeSize";
    *b.pointer_mut(p).unwrap() = json!("6");
    let trust = TrustMaterial::from_json_bytes(
        ms.trusted_root().to_string().as_bytes(),
        TrustSource::Bytes,
    )
    .unwrap();
    let v = SigstoreVerifier::with_engine(
        IdentityPolicy::exact(IDENTITY, ISSUER),
        trust,
        ApproveAll { times: vec![t] },
    );
    let e = v
        .verify_bundle(b.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("checkpoint tree size 5 differs"), "{e}");
}
