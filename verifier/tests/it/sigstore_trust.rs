//! Trust material: ClientTrustConfig and bare trusted roots, strict parsing, and what each part
//! of the trusted root is needed for (§8), with the upstream vectors.

use crate::support::sigstore_common as common;

use common::*;
use model_verifier::method::SignatureVerifier;
use model_verifier::method::sigstore::trust::{PUBLIC_GOOD_TRUSTED_ROOT, STAGING_TRUSTED_ROOT};
use model_verifier::method::sigstore::{SigstoreVerifier, TrustMaterial, TrustSource};
use serde_json::{Value, json};

/// The embedded public-good root covers the conformance root (today they are identical; a
/// refreshed root may add logs and CAs but must keep the ones the upstream vectors need).
#[test]
fn embedded_public_good_root_covers_the_conformance_root() {
    let dir = conformance_dir();
    let embedded: Value = serde_json::from_slice(PUBLIC_GOOD_TRUSTED_ROOT).unwrap();
    let bare: Value =
        serde_json::from_slice(&std::fs::read(dir.join("trusted_root.json")).unwrap()).unwrap();
    let config: Value =
        serde_json::from_slice(&std::fs::read(dir.join("public_good_trust_config.json")).unwrap())
            .unwrap();
    assert_eq!(bare, config["trustedRoot"]);
    for key in [
        "tlogs",
        "ctlogs",
        "certificateAuthorities",
        "timestampAuthorities",
    ] {
        for entry in bare[key].as_array().unwrap() {
            assert!(
                embedded[key].as_array().unwrap().contains(entry),
                "the embedded root lacks {key} entry {entry}"
            );
        }
    }
}

#[test]
fn embedded_roots_load() {
    TrustMaterial::public_good().unwrap();
    let staging = TrustMaterial::staging().unwrap();
    assert!(
        staging
            .trusted_root()
            .tlogs
            .iter()
            .any(|t| t.base_url.contains("sigstage.dev"))
    );
    let staging_json: Value = serde_json::from_slice(STAGING_TRUSTED_ROOT).unwrap();
    assert!(
        staging_json["certificateAuthorities"][0]["uri"]
            .as_str()
            .unwrap()
            .contains("sigstage")
    );
}

#[test]
fn client_trust_config_and_bare_root_files_both_work() {
    let dir = conformance_dir();
    for file in ["public_good_trust_config.json", "trusted_root.json"] {
        let trust = TrustMaterial::from_file(&dir.join(file)).unwrap();
        let v = SigstoreVerifier::new(policy(IDENTITY, ISSUER), trust).unwrap();
        for vector in VECTORS {
            v.verify_bundle(&bundle_bytes(&dir, vector))
                .unwrap_or_else(|e| panic!("{file} {vector}: {e}"));
        }
    }
}

fn trust_err(v: &Value) -> String {
    TrustMaterial::from_json_bytes(v.to_string().as_bytes(), TrustSource::Bytes)
        .unwrap_err()
        .to_string()
}

#[test]
fn malformed_trust_material_is_refused() {
    let dir = conformance_dir();
    let config: Value =
        serde_json::from_slice(&std::fs::read(dir.join("public_good_trust_config.json")).unwrap())
            .unwrap();
    let root = public_good_root();

    let mut c = config.clone();
    c["mediaType"] = json!("application/vnd.dev.sigstore.clienttrustconfig.v0.2+json");
    assert!(trust_err(&c).contains("unknown mediaType"));
    let mut c = config.clone();
    c["trustedRoot"]["mediaType"] = json!("application/vnd.dev.sigstore.trustedroot.v0.2+json");
    assert!(trust_err(&c).contains("unsupported trusted root format"));
    let mut c = config.clone();
    c["extra"] = json!(true);
    assert!(trust_err(&c).contains("unknown field 'extra'"));
    let mut c = config.clone();
    c.as_object_mut().unwrap().remove("trustedRoot");
    assert!(trust_err(&c).contains("without trustedRoot"));

    let mut r = root.clone();
    r["tlogs"][0]["publicKey"]["validFrom"] = json!("2021-01-01T00:00:00Z");
    assert!(trust_err(&r).contains("unknown field 'validFrom'"));
    let mut r = root.clone();
    r["ctlogs"] = json!([]);
    assert!(trust_err(&r).contains("no CT logs"));
    let mut r = root.clone();
    r["tlogs"] = json!([]);
    assert!(trust_err(&r).contains("no transparency logs"));
    let mut r = root.clone();
    r["certificateAuthorities"] = json!([]);
    assert!(trust_err(&r).contains("no certificate authority"));
    let mut r = root.clone();
    r["tlogs"][0]["publicKey"]["rawBytes"] = json!("AAAA");
    assert!(!trust_err(&r).is_empty());
    let mut r = root.clone();
    r["certificateAuthorities"][1]["certChain"]["certificates"][0]["rawBytes"] = json!("AAAA");
    assert!(!trust_err(&r).is_empty());
    assert!(trust_err(&json!([])).contains("JSON object"));
    assert!(
        TrustMaterial::from_json_bytes(b"not json", TrustSource::Bytes)
            .unwrap_err()
            .to_string()
            .contains("not JSON")
    );
}

/// Index of the log/CA in the public-good root whose `baseUrl`/`uri` contains `needle`.
fn index_of(list: &Value, key: &str, needle: &str) -> usize {
    list.as_array()
        .unwrap()
        .iter()
        .position(|e| e[key].as_str().unwrap().contains(needle))
        .unwrap()
}

fn check(root: &Value, vector: &str, expect_ok: bool, case: &str) {
    let dir = conformance_dir();
    let result = verifier_with_root(root).and_then(|v| verify(&v, &bundle_json(&dir, vector)));
    match (expect_ok, result) {
        (true, Ok(_)) | (false, Err(_)) => {}
        (true, Err(e)) => panic!("{case}: expected to verify, got {e}"),
        (false, Ok(_)) => panic!("{case}: expected a rejection, but it verified"),
    }
}

#[test]
fn each_part_of_the_trusted_root_is_needed() {
    conformance_dir();
    let root = public_good_root();
    // Without the CT log that signed the SCT (only the 2021 test log left).
    let mut r = root.clone();
    let i = index_of(&r["ctlogs"], "baseUrl", "/2022");
    r["ctlogs"].as_array_mut().unwrap().remove(i);
    check(&r, "v1.0.1-sigstore", false, "CT log 2022 removed");
    // Without the Fulcio CA that issued the leaf (only the 2021 root left).
    let mut r = root.clone();
    r["certificateAuthorities"]
        .as_array_mut()
        .unwrap()
        .remove(1);
    check(&r, "v1.0.1-sigstore", false, "Fulcio CA #2 removed");
    // Without the Rekor v1 key (only the Rekor v2 log left).
    let mut r = root.clone();
    let i = index_of(&r["tlogs"], "baseUrl", "https://rekor.sigstore.dev");
    r["tlogs"].as_array_mut().unwrap().remove(i);
    check(&r, "v1.0.1-sigstore", false, "Rekor v1 key removed");
    // Without the TSA, a bundle carrying a timestamp is rejected (as in Python), even with a SET.
    let mut r = root.clone();
    r["timestampAuthorities"] = json!([]);
    check(&r, "v1.1.0-sigstore", false, "TSA removed");
    check(
        &r,
        "v1.0.1-sigstore",
        true,
        "TSA removed, bundle without timestamp",
    );
}

/// `validFor` semantics. sigstore-python compares `start` with *now* and ignores `end`; here
/// (sigstore-verify) a log key, CT key, CA or TSA must be valid at the *signing time*: an `end`
/// after signing still verifies (as in Python), an `end` before signing does not (stricter than
/// Python, deliberately), and a `start` after signing does not.
#[test]
fn valid_for_windows_are_checked_at_the_signing_time() {
    conformance_dir();
    let root = public_good_root();
    let rekor = index_of(&root["tlogs"], "baseUrl", "https://rekor.sigstore.dev");
    let ct = index_of(&root["ctlogs"], "baseUrl", "/2022");
    // v1.0.1: integratedTime 2025-10-07T15:33:48Z.
    let after = "2025-10-08T00:00:00Z";
    let before = "2025-10-07T15:00:00Z";
    type SetEnd = Box<dyn Fn(&mut Value, &str)>;
    let cases: Vec<(&str, SetEnd)> = vec![
        (
            "Rekor key end",
            Box::new(move |r, t| r["tlogs"][rekor]["publicKey"]["validFor"]["end"] = json!(t)),
        ),
        (
            "CT key end",
            Box::new(move |r, t| r["ctlogs"][ct]["publicKey"]["validFor"]["end"] = json!(t)),
        ),
        (
            "Fulcio CA end",
            Box::new(|r, t| r["certificateAuthorities"][1]["validFor"]["end"] = json!(t)),
        ),
    ];
    for (case, set) in &cases {
        let mut r = root.clone();
        set(&mut r, after);
        check(
            &r,
            "v1.0.1-sigstore",
            true,
            &format!("{case} after signing"),
        );
        let mut r = root.clone();
        set(&mut r, before);
        check(
            &r,
            "v1.0.1-sigstore",
            false,
            &format!("{case} before signing"),
        );
    }
    // A Rekor key whose window starts after the entry was integrated.
    let mut r = root.clone();
    r["tlogs"][rekor]["publicKey"]["validFor"]["start"] = json!("2025-10-07T16:00:00Z");
    check(
        &r,
        "v1.0.1-sigstore",
        false,
        "Rekor key start after signing",
    );
    // A trust entry that only becomes valid in the future is not used at all.
    let mut r = root.clone();
    r["certificateAuthorities"][1]["validFor"]["start"] = json!("2999-01-01T00:00:00Z");
    check(
        &r,
        "v1.0.1-sigstore",
        false,
        "Fulcio CA starts in the future",
    );
    // TSA window: v1.1.0 genTime 2025-10-10T02:12:20Z.
    let mut r = root.clone();
    r["timestampAuthorities"][0]["validFor"]["end"] = json!("2025-10-10T02:12:19Z");
    check(&r, "v1.1.0-sigstore", false, "TSA end before genTime");
    let mut r = root.clone();
    r["timestampAuthorities"][0]["validFor"]["end"] = json!("2025-10-11T00:00:00Z");
    check(&r, "v1.1.0-sigstore", true, "TSA end after genTime");
    let mut r = root.clone();
    r["timestampAuthorities"][0]["validFor"]["start"] = json!("2025-10-10T02:12:21Z");
    check(&r, "v1.1.0-sigstore", false, "TSA start after genTime");
}

#[test]
fn staging_root_does_not_trust_public_good_bundles() {
    let dir = conformance_dir();
    let v =
        SigstoreVerifier::new(policy(IDENTITY, ISSUER), TrustMaterial::staging().unwrap()).unwrap();
    for vector in VECTORS {
        assert!(
            v.verify_bundle(&bundle_bytes(&dir, vector)).is_err(),
            "{vector}"
        );
    }
}
