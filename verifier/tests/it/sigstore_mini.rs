//! Negatives a genuine public-good bundle cannot express, minted by a test-only Sigstore of our
//! own keys (`support/mini_sigstore.rs`): each changes one thing against a bundle that verifies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

use crate::support::mini_sigstore as mini;

use mini::{IDENTITY, ISSUER, MiniSigstore, Mint, T0, TsaChoice};
use model_verifier::method::SignatureVerifier;
use model_verifier::method::sigstore::{
    IdentityPolicy, SigstoreVerifier, TrustMaterial, TrustSource,
};
use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose, OtherNameValue, SanType};
use serde_json::{Value, json};

fn verifier(ms: &MiniSigstore, identity: &str, issuer: &str) -> SigstoreVerifier {
    let trust = TrustMaterial::from_json_bytes(
        ms.client_trust_config().to_string().as_bytes(),
        TrustSource::Bytes,
    )
    .unwrap();
    SigstoreVerifier::new(IdentityPolicy::exact(identity, issuer), trust).unwrap()
}

fn run(ms: &MiniSigstore, m: &Mint, identity: &str, issuer: &str) -> Result<Vec<u8>, String> {
    let bundle = ms.mint(m);
    verifier(ms, identity, issuer)
        .verify_bundle(bundle.to_string().as_bytes())
        .map(|e| e.payload)
        .map_err(|e| e.to_string())
}

fn accept(ms: &MiniSigstore, m: &Mint, identity: &str, case: &str) {
    if let Err(e) = run(ms, m, identity, ISSUER) {
        panic!("{case}: expected to verify, got: {e}");
    }
}

fn reject(ms: &MiniSigstore, m: &Mint, needle: &str, case: &str) {
    match run(ms, m, IDENTITY, ISSUER) {
        Ok(_) => panic!("{case}: a forged bundle verified"),
        Err(e) => {
            assert!(
                e.contains(needle),
                "{case}: rejected with '{e}', expected '{needle}'"
            );
            eprintln!("{case}: rejected: {e}");
        }
    }
}

#[test]
fn the_mini_sigstore_is_faithful() {
    let ms = MiniSigstore::new();
    let m = Mint::default();
    let payload = run(&ms, &m, IDENTITY, ISSUER).unwrap();
    assert_eq!(payload, m.payload);
    // The same bundle is refused by the public-good root and by another mini Sigstore.
    let bundle = ms.mint(&m).to_string();
    let pg = SigstoreVerifier::new(
        IdentityPolicy::exact(IDENTITY, ISSUER),
        TrustMaterial::public_good().unwrap(),
    )
    .unwrap();
    assert!(pg.verify_bundle(bundle.as_bytes()).is_err());
    assert!(
        verifier(&MiniSigstore::new(), IDENTITY, ISSUER)
            .verify_bundle(bundle.as_bytes())
            .is_err()
    );
}

#[test]
fn identity_matching() {
    let ms = MiniSigstore::new();
    let uri = "https://github.com/org/repo/.github/workflows/sign.yml@refs/heads/main";
    let mut m = Mint::default();
    m.sans = vec![SanType::URI(uri.try_into().unwrap())];
    accept(&ms, &m, uri, "URI SAN");
    let mut m = Mint::default();
    m.sans = vec![SanType::OtherName((
        vec![1, 3, 6, 1, 4, 1, 57264, 1, 7],
        OtherNameValue::Utf8String("alice!example.com".into()),
    ))];
    accept(
        &ms,
        &m,
        "alice!example.com",
        "Sigstore username otherName SAN",
    );
    let mut m = Mint::default();
    m.sans = vec![
        SanType::Rfc822Name("bob@example.com".try_into().unwrap()),
        SanType::Rfc822Name(IDENTITY.try_into().unwrap()),
    ];
    accept(&ms, &m, IDENTITY, "identity is the second SAN");
    // A DNS name equal to the identity is not an identity SAN.
    let mut m = Mint::default();
    m.sans = vec![SanType::DnsName("alice.example.com".try_into().unwrap())];
    let err = run(&ms, &m, "alice.example.com", ISSUER).unwrap_err();
    assert_eq!(
        err,
        "Certificate's SANs do not match alice.example.com; actual SANs: {}"
    );
    // An otherName of another type does not count either.
    let mut m = Mint::default();
    m.sans = vec![SanType::OtherName((
        vec![1, 3, 6, 1, 4, 1, 99999, 1],
        OtherNameValue::Utf8String(IDENTITY.into()),
    ))];
    reject(
        &ms,
        &m,
        "Certificate's SANs do not match",
        "otherName of another type",
    );
    let mut m = Mint::default();
    m.sans = vec![];
    reject(&ms, &m, "Certificate's SANs do not match", "no SAN");
    let m = Mint::default();
    assert_eq!(
        run(&ms, &m, "alice@example.co", ISSUER).unwrap_err(),
        "Certificate's SANs do not match alice@example.co; actual SANs: {'alice@example.com'}"
    );
}

/// Decision: the v1 issuer extension (.1.1) is what sigstore-python reads. When the v2
/// extension (.1.8) is present too, both must agree; a certificate with only .1.8 is accepted
/// when it equals --identity_provider (newer Fulcio may drop .1.1; Python would refuse it).
#[test]
fn issuer_extensions() {
    let ms = MiniSigstore::new();
    let mut m = Mint::default();
    m.issuer_v2 = None;
    accept(&ms, &m, IDENTITY, "v1 issuer only");
    let mut m = Mint::default();
    m.issuer_v1 = None;
    accept(&ms, &m, IDENTITY, "v2 issuer only");
    let mut m = Mint::default();
    m.issuer_v2 = Some("https://evil.example".into());
    reject(&ms, &m, "disagree", "v1 and v2 issuers disagree");
    let mut m = Mint::default();
    m.issuer_v1 = None;
    m.issuer_v2 = None;
    reject(
        &ms,
        &m,
        "Certificate does not contain OIDCIssuer (1.3.6.1.4.1.57264.1.1) extension",
        "no issuer",
    );
    let m = Mint::default();
    assert_eq!(
        run(&ms, &m, IDENTITY, "https://oidc.mini-sigstore.test/").unwrap_err(),
        "Certificate's OIDCIssuer does not match (got 'https://oidc.mini-sigstore.test', expected 'https://oidc.mini-sigstore.test/')"
    );
    let mut m = Mint::default();
    m.issuer_v1 = None;
    assert!(
        run(&ms, &m, IDENTITY, "https://other.example")
            .unwrap_err()
            .contains("OIDCIssuer does not match")
    );
}

#[test]
fn leaf_profile() {
    let ms = MiniSigstore::new();
    let mut m = Mint::default();
    m.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    reject(
        &ms,
        &m,
        "Key usage is not of type `digital signature`",
        "KU without digitalSignature",
    );
    let mut m = Mint::default();
    m.key_usages = vec![];
    reject(
        &ms,
        &m,
        "Key usage is not of type `digital signature`",
        "no KU",
    );
    let mut m = Mint::default();
    m.ekus = vec![ExtendedKeyUsagePurpose::ServerAuth];
    reject(
        &ms,
        &m,
        "Extended usage does not contain `code signing`",
        "EKU without codeSigning",
    );
    let mut m = Mint::default();
    m.ekus = vec![];
    reject(
        &ms,
        &m,
        "Extended usage does not contain `code signing`",
        "no EKU",
    );
    let mut m = Mint::default();
    m.leaf_is_ca = true;
    reject(&ms, &m, "CA", "CA leaf");
    let mut m = Mint::default();
    m.untrusted_issuer = true;
    reject(&ms, &m, "certificate chain", "leaf from an untrusted CA");
}

#[test]
fn embedded_sct() {
    let ms = MiniSigstore::new();
    let mut m = Mint::default();
    m.scts = 0;
    reject(&ms, &m, "signed certificate timestamp", "no SCT extension");
    let mut m = Mint::default();
    m.scts = 2;
    reject(&ms, &m, "SCT", "two SCTs");
    let mut m = Mint::default();
    m.duplicate_sct_extension = true;
    reject(&ms, &m, "SCT", "two SCT list extensions");
    let mut m = Mint::default();
    m.sct_by_stranger = true;
    reject(&ms, &m, "SCT", "SCT from an untrusted CT log");
    let mut m = Mint::default();
    m.sct_wrong_issuer_hash = true;
    reject(&ms, &m, "SCT", "SCT over the wrong issuer key hash");
}

#[test]
fn signing_time_against_the_leaf_validity() {
    let ms = MiniSigstore::new();
    // Inclusive at both ends, as Python.
    let mut m = Mint::default();
    m.integrated_time = T0;
    accept(&ms, &m, IDENTITY, "integratedTime == notBefore");
    let mut m = Mint::default();
    m.integrated_time = T0 + 600;
    accept(&ms, &m, IDENTITY, "integratedTime == notAfter");
    let mut m = Mint::default();
    m.integrated_time = T0 - 1;
    reject(&ms, &m, "", "integratedTime before notBefore (valid SET)");
    let mut m = Mint::default();
    m.integrated_time = T0 + 601;
    reject(&ms, &m, "", "integratedTime after notAfter (valid SET)");
    // A leaf and SET from the future.
    let mut m = Mint::default();
    let future = 4_102_444_800; // 2100-01-01
    m.not_before = future;
    m.not_after = future + 600;
    m.integrated_time = future + 60;
    reject(&ms, &m, "", "integratedTime in the future");
}

fn body_payload_hash(b: &mut Value) {
    b["spec"]["payloadHash"]["value"] = json!("00".repeat(32));
}
fn body_payload_hash_alg(b: &mut Value) {
    b["spec"]["payloadHash"]["algorithm"] = json!("sha512");
}
fn body_two_signatures(b: &mut Value) {
    let s = b["spec"]["signatures"][0].clone();
    b["spec"]["signatures"].as_array_mut().unwrap().push(s);
}
fn body_other_verifier(b: &mut Value) {
    let other = mini::pem(&MiniSigstore::new().root.der);
    b["spec"]["signatures"][0]["verifier"] = json!(mini::b64(other.as_bytes()));
}
fn body_other_signature(b: &mut Value) {
    b["spec"]["signatures"][0]["signature"] = json!(mini::b64(b"not the signature"));
}
fn body_envelope_hash(b: &mut Value) {
    b["spec"]["envelopeHash"]["value"] = json!("11".repeat(32));
}
fn body_kind(b: &mut Value) {
    b["kind"] = json!("intoto");
}

#[test]
fn rekor_body_bound_to_the_envelope() {
    let ms = MiniSigstore::new();
    type Tamper = fn(&mut Value);
    let cases: [(&str, Tamper); 6] = [
        ("payload hash of another payload", body_payload_hash),
        ("payload hash algorithm", body_payload_hash_alg),
        ("two signatures in the body", body_two_signatures),
        ("verifier of another certificate", body_other_verifier),
        ("signature of another envelope", body_other_signature),
        ("body kind", body_kind),
    ];
    for (case, f) in cases {
        let mut m = Mint::default();
        m.body = Some(f);
        reject(&ms, &m, "", case);
    }
    // envelopeHash is not checked (as in Python): Rekor recomputes it from a re-serialised
    // envelope that cannot be reproduced.
    let mut m = Mint::default();
    m.body = Some(body_envelope_hash);
    accept(&ms, &m, IDENTITY, "envelopeHash changed");
}

#[test]
fn log_proofs() {
    let ms = MiniSigstore::new();
    let mut m = Mint::default();
    m.checkpoint_by_other_log = true;
    reject(
        &ms,
        &m,
        "Signature not found for log ID",
        "checkpoint signed by another trusted log",
    );
    let mut m = Mint::default();
    m.checkpoint_by_stranger = true;
    reject(
        &ms,
        &m,
        "checkpoint",
        "checkpoint signed by an untrusted key",
    );
    let mut m = Mint::default();
    m.checkpoint_wrong_root = true;
    reject(&ms, &m, "", "checkpoint over another root");
    let mut m = Mint::default();
    m.set_by_other_log = true;
    reject(&ms, &m, "", "SET signed by another trusted log");
    // Without the SET and without a TSA timestamp there is no verified time.
    let mut m = Mint::default();
    m.no_promise = true;
    reject(
        &ms,
        &m,
        "inclusion promise or signed timestamp",
        "no SET, no TSA",
    );
}

#[test]
fn envelope() {
    let ms = MiniSigstore::new();
    let mut m = Mint::default();
    m.dsse_by_other_key = true;
    reject(&ms, &m, "signature", "DSSE signed by another key");
    let mut m = Mint::default();
    m.payload_type = "application/json".into();
    reject(
        &ms,
        &m,
        "Expected DSSE payload application/vnd.in-toto+json, but got application/json",
        "payload type",
    );
    let mut m = Mint::default();
    m.payload = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}"#.to_vec();
    reject(&ms, &m, "subject", "statement without subject");
    let mut m = Mint::default();
    m.payload = b"not json".to_vec();
    reject(&ms, &m, "not JSON", "payload not JSON");
}

fn report(ms: &MiniSigstore, m: &Mint) -> Result<Vec<i64>, String> {
    let bundle = ms.mint(m).to_string();
    let v = verifier(ms, IDENTITY, ISSUER);
    let digest = model_verifier::method::sigstore::statement_subject_sha256(&m.payload).unwrap();
    v.verify_bundle_for_digest(bundle.as_bytes(), &digest)
        .map(|(_, r)| r.verified_times)
        .map_err(|e| e.to_string())
}

#[test]
fn rfc3161_timestamps() {
    let ms = MiniSigstore::new();
    let t = Mint::default().integrated_time;
    // SET and TSA: both times verified.
    let mut m = Mint::default();
    m.tsa = TsaChoice::Trusted;
    assert_eq!(report(&ms, &m).unwrap(), vec![t, t]);
    // TSA only.
    m.no_promise = true;
    assert_eq!(report(&ms, &m).unwrap(), vec![t]);
    // The chain must hold at every verified time: a TSA time outside the leaf's validity fails
    // even with a good SET.
    let mut m = Mint::default();
    m.tsa = TsaChoice::Trusted;
    m.tsa_time = Some(T0 + 700);
    reject(&ms, &m, "", "TSA time after the leaf expired");
    let mut m = Mint::default();
    m.tsa = TsaChoice::Stranger;
    reject(&ms, &m, "timestamp", "untrusted TSA");
    let mut m = Mint::default();
    m.tsa = TsaChoice::Trusted;
    m.tsa_over_other_signature = true;
    reject(&ms, &m, "timestamp", "stamp over another signature");
    let mut m = Mint::default();
    m.tsa = TsaChoice::Trusted;
    m.tsa_two_signer_infos = true;
    reject(&ms, &m, "exactly one SignerInfo", "two SignerInfos");
    // Stricter than Python (which would skip this stamp and use the SET): a stamp from a TSA
    // whose EKU is not critical is rejected.
    let mut m = Mint::default();
    m.tsa = TsaChoice::Lax;
    reject(&ms, &m, "must be critical", "TSA EKU not critical");
}

fn v2_digest(b: &mut Value) {
    b["spec"]["hashedRekordV002"]["data"]["digest"] = json!(mini::b64(&[0u8; 32]));
}
fn v2_signature(b: &mut Value) {
    b["spec"]["hashedRekordV002"]["signature"]["content"] = json!(mini::b64(b"other"));
}
fn v2_certificate(b: &mut Value) {
    let other = MiniSigstore::new().root.der;
    b["spec"]["hashedRekordV002"]["signature"]["verifier"]["x509Certificate"]["rawBytes"] =
        json!(mini::b64(&other));
}
fn v2_key_details(b: &mut Value) {
    b["spec"]["hashedRekordV002"]["signature"]["verifier"]["keyDetails"] =
        json!("PKIX_ECDSA_P384_SHA_384");
}
fn v2_algorithm(b: &mut Value) {
    b["spec"]["hashedRekordV002"]["data"]["algorithm"] = json!("SHA2_384");
}

/// Rekor v2 (`hashedrekord` 0.0.2): no SET, so the TSA time is the only verified time.
#[test]
fn rekor_v2_hashedrekord_entries() {
    let ms = MiniSigstore::new();
    let mut m = Mint::default();
    m.rekor_v2 = true;
    m.tsa = TsaChoice::Trusted;
    assert_eq!(report(&ms, &m).unwrap(), vec![m.integrated_time]);
    let mut no_tsa = m.clone();
    no_tsa.tsa = TsaChoice::None;
    reject(
        &ms,
        &no_tsa,
        "inclusion promise or signed timestamp",
        "v2 without TSA",
    );
    let mut other_log = m.clone();
    other_log.checkpoint_by_other_log = true;
    reject(
        &ms,
        &other_log,
        "checkpoint",
        "v2 checkpoint by another log",
    );
    type Tamper = fn(&mut Value);
    let cases: [(&str, Tamper); 5] = [
        ("digest of another PAE", v2_digest),
        ("another signature", v2_signature),
        ("another certificate", v2_certificate),
        ("key details", v2_key_details),
        ("digest algorithm", v2_algorithm),
    ];
    for (case, f) in cases {
        let mut bad = m.clone();
        bad.body_v2 = Some(f);
        reject(&ms, &bad, "", case);
    }
}

#[test]
fn rekor_v2_proof_index_must_match_the_entry_index() {
    let ms = MiniSigstore::new();
    let mut m = Mint::default();
    m.rekor_v2 = true;
    m.tsa = TsaChoice::Trusted;
    let mut b = ms.mint(&m);
    *b.pointer_mut("/verificationMaterial/tlogEntries/0/inclusionProof/logIndex")
        .unwrap() = json!("2");
    let e = verifier(&ms, IDENTITY, ISSUER)
        .verify_bundle(b.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("differs from the entry's logIndex"), "{e}");
}
