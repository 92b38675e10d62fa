//! The upstream Sigstore vectors verify offline with the embedded public-good root, and every
//! one-change forgery of them is rejected (§6.3 (a)–(j)).

use crate::support::sigstore_common as common;

use common::*;
use model_verifier::method::SignatureVerifier;
use model_verifier::method::sigstore::{SigstoreVerifier, TrustMaterial};
use serde_json::{Value, json};

#[test]
fn upstream_vectors_verify_offline_with_the_embedded_root() {
    let dir = conformance_dir();
    let v = public_good();
    for vector in VECTORS {
        let env = v
            .verify_bundle(&bundle_bytes(&dir, vector))
            .unwrap_or_else(|e| panic!("{vector}: {e}"));
        assert_eq!(env.payload_type, "application/vnd.in-toto+json", "{vector}");
        assert_eq!(env.signer, IDENTITY, "{vector}");
        let stmt: Value = serde_json::from_slice(&env.payload).unwrap();
        assert_eq!(
            stmt["predicateType"], "https://model_signing/signature/v1.0",
            "{vector}"
        );
    }
}

#[test]
fn verification_reports_every_verified_time() {
    let dir = conformance_dir();
    let v = public_good();
    let b = bundle_bytes(&dir, "v1.1.0-sigstore");
    let digest = model_verifier::method::sigstore::statement_subject_sha256(
        &v.verify_bundle(&b).unwrap().payload,
    )
    .unwrap();
    let (_, report) = v.verify_bundle_for_digest(&b, &digest).unwrap();
    // SET integratedTime and the TSA genTime, both 2025-10-10T02:12:20Z.
    assert_eq!(report.verified_times, vec![1760062340, 1760062340]);
    // A different manifest root digest is not what the statement signs.
    let mut other = digest;
    other[0] ^= 1;
    assert!(v.verify_bundle_for_digest(&b, &other).is_err());
}

#[test]
fn wrong_identity_and_issuer_fail_with_python_messages() {
    let dir = conformance_dir();
    let b = bundle_bytes(&dir, "v1.1.0-sigstore");
    let wrong_id = SigstoreVerifier::new(
        policy("someone@example.com", ISSUER),
        TrustMaterial::public_good().unwrap(),
    )
    .unwrap();
    assert_eq!(
        wrong_id.verify_bundle(&b).unwrap_err().to_string(),
        "Certificate's SANs do not match someone@example.com; actual SANs: {'stefanb@us.ibm.com'}"
    );
    let wrong_issuer = SigstoreVerifier::new(
        policy(IDENTITY, "https://accounts.google.com"),
        TrustMaterial::public_good().unwrap(),
    )
    .unwrap();
    assert_eq!(
        wrong_issuer.verify_bundle(&b).unwrap_err().to_string(),
        "Certificate's OIDCIssuer does not match (got 'https://sigstore.verify.ibm.com/oauth2', \
         expected 'https://accounts.google.com')"
    );
    // No prefix or case folding.
    for (id, iss) in [
        ("stefanb@us.ibm.co", ISSUER),
        ("STEFANB@us.ibm.com", ISSUER),
        (IDENTITY, "https://sigstore.verify.ibm.com/oauth2/"),
        (IDENTITY, "https://sigstore.verify.ibm.com"),
    ] {
        let v =
            SigstoreVerifier::new(policy(id, iss), TrustMaterial::public_good().unwrap()).unwrap();
        assert!(v.verify_bundle(&b).is_err(), "{id} / {iss} verified");
    }
}

/// The media type and the leaf's location are not signed: a genuine v0.3 bundle rewritten in
/// each accepted layout still verifies, and every mismatched layout is rejected.
#[test]
fn media_types_and_leaf_locations() {
    let dir = conformance_dir();
    let v = public_good();
    let genuine = bundle_json(&dir, "v1.0.0-sigstore");
    let leaf = genuine["verificationMaterial"]["certificate"].clone();
    let as_chain = |mut b: Value, extra: Option<Value>| {
        let vm = b["verificationMaterial"].as_object_mut().unwrap();
        vm.remove("certificate");
        let mut certs = vec![leaf.clone()];
        certs.extend(extra);
        vm.insert(
            "x509CertificateChain".into(),
            json!({ "certificates": certs }),
        );
        b
    };
    let with_media = |mut b: Value, m: &str| {
        b["mediaType"] = json!(m);
        b
    };
    // Accepted layouts.
    for (case, b) in [
        (
            "v0.3 alternative spelling",
            with_media(
                genuine.clone(),
                "application/vnd.dev.sigstore.bundle+json;version=0.3",
            ),
        ),
        (
            "v0.2 chain",
            with_media(
                as_chain(genuine.clone(), None),
                "application/vnd.dev.sigstore.bundle+json;version=0.2",
            ),
        ),
        (
            "v0.1 chain",
            with_media(
                as_chain(genuine.clone(), None),
                "application/vnd.dev.sigstore.bundle+json;version=0.1",
            ),
        ),
    ] {
        verify(&v, &b).unwrap_or_else(|e| panic!("{case}: {e}"));
    }
    // Bundle-supplied intermediates are never used (Python builds the path from the root alone):
    // junk after the leaf does not matter.
    let junk = json!({ "rawBytes": "AAAA" });
    verify(
        &v,
        &with_media(
            as_chain(genuine.clone(), Some(junk)),
            "application/vnd.dev.sigstore.bundle+json;version=0.2",
        ),
    )
    .unwrap();
    // Rejected layouts.
    assert_rejected(
        verify(
            &v,
            &with_media(
                genuine.clone(),
                "application/vnd.dev.sigstore.bundle+json;version=0.2",
            ),
        ),
        "expected certificate chain in bundle",
        "v0.2 with certificate",
    );
    assert_rejected(
        verify(&v, &as_chain(genuine.clone(), None)),
        "expected certificate in bundle",
        "v0.3 with chain",
    );
    assert_rejected(
        verify(
            &v,
            &with_media(
                genuine.clone(),
                "application/vnd.dev.sigstore.bundle.v0.4+json",
            ),
        ),
        "unsupported bundle format",
        "v0.4",
    );
    assert_rejected(
        verify(
            &v,
            &with_media(
                genuine.clone(),
                "application/vnd.dev.sigstore.bundle+json;version=0.3 ",
            ),
        ),
        "unsupported bundle format",
        "trailing space",
    );
    // v0.1 needs the inclusion promise even with a TSA timestamp.
    let mut v11 = bundle_json(&dir, "v1.1.0-sigstore");
    v11["verificationMaterial"]["tlogEntries"][0]
        .as_object_mut()
        .unwrap()
        .remove("inclusionPromise");
    let leaf11 = v11["verificationMaterial"]["certificate"].clone();
    let vm = v11["verificationMaterial"].as_object_mut().unwrap();
    vm.remove("certificate");
    vm.insert(
        "x509CertificateChain".into(),
        json!({ "certificates": [leaf11] }),
    );
    v11["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.1");
    assert_rejected(
        verify(&v, &v11),
        "inclusion promise",
        "v0.1 without promise",
    );
}

/// One change to a genuine bundle, and it must be rejected.
fn forge(dir: &std::path::Path, vector: &str, f: impl FnOnce(&mut Value)) -> Value {
    let mut b = bundle_json(dir, vector);
    f(&mut b);
    b
}

const E: &str = "/verificationMaterial/tlogEntries/0";

#[test]
fn one_change_forgeries_are_rejected() {
    let dir = conformance_dir();
    let v = public_good();
    let other_leaf =
        bundle_json(&dir, "v1.0.0-sigstore")["verificationMaterial"]["certificate"].clone();
    let other_entry =
        bundle_json(&dir, "v1.0.0-sigstore")["verificationMaterial"]["tlogEntries"][0].clone();
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        Box<dyn FnOnce(&mut Value)>,
    );
    let cases: Vec<Case> = vec![
        (
            "flipped SET byte",
            "v1.0.1-sigstore",
            "SET",
            Box::new(|b| flip(b, &format!("{E}/inclusionPromise/signedEntryTimestamp"), 20)),
        ),
        (
            "integratedTime+1",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| {
                let t: i64 = b
                    .pointer(&format!("{E}/integratedTime"))
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                *b.pointer_mut(&format!("{E}/integratedTime")).unwrap() =
                    json!((t + 1).to_string());
            }),
        ),
        (
            "integratedTime-1 (before notBefore)",
            "v0.3.1-sigstore",
            "",
            Box::new(|b| {
                let t: i64 = b
                    .pointer(&format!("{E}/integratedTime"))
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                *b.pointer_mut(&format!("{E}/integratedTime")).unwrap() =
                    json!((t - 1).to_string());
            }),
        ),
        (
            "global logIndex+1",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| {
                let t: u64 = b
                    .pointer(&format!("{E}/logIndex"))
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                *b.pointer_mut(&format!("{E}/logIndex")).unwrap() = json!((t + 1).to_string());
            }),
        ),
        (
            "flipped proof hash",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| flip(b, &format!("{E}/inclusionProof/hashes/3"), 0)),
        ),
        (
            "dropped proof hash",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| {
                b.pointer_mut(&format!("{E}/inclusionProof/hashes"))
                    .unwrap()
                    .as_array_mut()
                    .unwrap()
                    .pop();
            }),
        ),
        (
            "flipped root hash",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| flip(b, &format!("{E}/inclusionProof/rootHash"), 5)),
        ),
        (
            "proof index+1",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| {
                let p = format!("{E}/inclusionProof/logIndex");
                let t: u64 = b.pointer(&p).unwrap().as_str().unwrap().parse().unwrap();
                *b.pointer_mut(&p).unwrap() = json!((t + 1).to_string());
            }),
        ),
        (
            "tree size+1",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| {
                let p = format!("{E}/inclusionProof/treeSize");
                let t: u64 = b.pointer(&p).unwrap().as_str().unwrap().parse().unwrap();
                *b.pointer_mut(&p).unwrap() = json!((t + 1).to_string());
            }),
        ),
        (
            "checkpoint signature byte",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| {
                let p = format!("{E}/inclusionProof/checkpoint/envelope");
                let text = b.pointer(&p).unwrap().as_str().unwrap().to_owned();
                let (head, sigline) = text.split_once("\n\n").unwrap();
                let mut parts: Vec<String> =
                    sigline.trim_end().split(' ').map(str::to_owned).collect();
                let mut raw = b64d(&json!(parts[2]));
                let n = raw.len() - 3;
                raw[n] ^= 1;
                parts[2] = b64e(&raw).as_str().unwrap().to_owned();
                *b.pointer_mut(&p).unwrap() = json!(format!("{head}\n\n{}\n", parts.join(" ")));
            }),
        ),
        (
            "checkpoint text (origin) changed",
            "v1.0.1-sigstore",
            "checkpoint",
            Box::new(|b| {
                let p = format!("{E}/inclusionProof/checkpoint/envelope");
                let text = b.pointer(&p).unwrap().as_str().unwrap().replacen(
                    "rekor.sigstore.dev",
                    "rekor.sigstore.dew",
                    1,
                );
                *b.pointer_mut(&p).unwrap() = json!(text);
            }),
        ),
        (
            "checkpoint with a second blank line",
            "v1.0.1-sigstore",
            "checkpoint",
            Box::new(|b| {
                let p = format!("{E}/inclusionProof/checkpoint/envelope");
                let text = format!("{}\n\n", b.pointer(&p).unwrap().as_str().unwrap());
                *b.pointer_mut(&p).unwrap() = json!(text);
            }),
        ),
        (
            "checkpoint removed",
            "v1.0.1-sigstore",
            "checkpoint",
            Box::new(|b| {
                b.pointer_mut(&format!("{E}/inclusionProof"))
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove("checkpoint");
            }),
        ),
        (
            "inclusion proof removed",
            "v1.0.1-sigstore",
            "inclusion proof",
            Box::new(|b| {
                b.pointer_mut(E)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove("inclusionProof");
            }),
        ),
        (
            "promise removed, no TSA",
            "v1.0.1-sigstore",
            "inclusion promise or signed timestamp",
            Box::new(|b| {
                b.pointer_mut(E)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove("inclusionPromise");
            }),
        ),
        (
            "body byte changed",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| flip(b, &format!("{E}/canonicalizedBody"), 40)),
        ),
        (
            "entry of another signature",
            "v1.0.1-sigstore",
            "",
            Box::new(move |b| {
                *b.pointer_mut(E).unwrap() = other_entry;
            }),
        ),
        (
            "two log entries",
            "v1.0.1-sigstore",
            "exactly one log entry",
            Box::new(|b| {
                let e = b.pointer(E).unwrap().clone();
                b.pointer_mut("/verificationMaterial/tlogEntries")
                    .unwrap()
                    .as_array_mut()
                    .unwrap()
                    .push(e);
            }),
        ),
        (
            "no log entry",
            "v1.1.0-sigstore",
            "exactly one log entry",
            Box::new(|b| {
                *b.pointer_mut("/verificationMaterial/tlogEntries").unwrap() = json!([]);
            }),
        ),
        (
            "log ID of the CT log",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| {
                *b.pointer_mut(&format!("{E}/logId/keyId")).unwrap() =
                    json!("3T0wasbHETJjGR4cmWc3AqJKXrjePK3/h4pygC8p7o4=");
            }),
        ),
        (
            "kind intoto/0.0.2",
            "v1.0.1-sigstore",
            "Unsupported DSSE log entry type: intoto/0.0.2",
            Box::new(|b| {
                *b.pointer_mut(&format!("{E}/kindVersion")).unwrap() =
                    json!({"kind": "intoto", "version": "0.0.2"});
            }),
        ),
        (
            "kind hashedrekord/0.0.1",
            "v1.0.1-sigstore",
            "Unsupported DSSE log entry type",
            Box::new(|b| {
                *b.pointer_mut(&format!("{E}/kindVersion")).unwrap() =
                    json!({"kind": "hashedrekord", "version": "0.0.1"});
            }),
        ),
        (
            "kind hashedrekord/0.0.2 on a v1 entry",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| {
                *b.pointer_mut(&format!("{E}/kindVersion")).unwrap() =
                    json!({"kind": "hashedrekord", "version": "0.0.2"});
            }),
        ),
        (
            "payload changed",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| flip(b, "/dsseEnvelope/payload", 30)),
        ),
        (
            "payloadType changed",
            "v1.0.1-sigstore",
            "Expected DSSE payload",
            Box::new(|b| {
                b["dsseEnvelope"]["payloadType"] = json!("application/json");
            }),
        ),
        (
            "DSSE signature flipped",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| flip(b, "/dsseEnvelope/signatures/0/sig", 10)),
        ),
        (
            "second signature",
            "v1.0.1-sigstore",
            "exactly one signature",
            Box::new(|b| {
                let s = b["dsseEnvelope"]["signatures"][0].clone();
                b["dsseEnvelope"]["signatures"]
                    .as_array_mut()
                    .unwrap()
                    .push(s);
            }),
        ),
        (
            "no signature",
            "v1.0.1-sigstore",
            "exactly one signature",
            Box::new(|b| {
                b["dsseEnvelope"]["signatures"] = json!([]);
            }),
        ),
        (
            "empty signature",
            "v1.0.1-sigstore",
            "exactly one signature",
            Box::new(|b| {
                b["dsseEnvelope"]["signatures"][0]["sig"] = json!("");
            }),
        ),
        (
            "foreign certificate",
            "v1.0.1-sigstore",
            "",
            Box::new(move |b| {
                b["verificationMaterial"]["certificate"] = other_leaf;
            }),
        ),
        (
            "certificate byte flipped",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| flip(b, "/verificationMaterial/certificate/rawBytes", 300)),
        ),
        (
            "certificate missing",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| {
                b["verificationMaterial"]
                    .as_object_mut()
                    .unwrap()
                    .remove("certificate");
            }),
        ),
        (
            "unknown top-level field",
            "v1.0.1-sigstore",
            "unknown field",
            Box::new(|b| {
                b["extra"] = json!(1);
            }),
        ),
        (
            "unknown entry field",
            "v1.0.1-sigstore",
            "unknown field",
            Box::new(|b| {
                b.pointer_mut(E).unwrap()["note"] = json!("x");
            }),
        ),
        (
            "integer logIndex",
            "v1.0.1-sigstore",
            "must be a string",
            Box::new(|b| {
                let t: u64 = b
                    .pointer(&format!("{E}/logIndex"))
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                *b.pointer_mut(&format!("{E}/logIndex")).unwrap() = json!(t);
            }),
        ),
        (
            "URL-safe base64 signature",
            "v1.0.1-sigstore",
            "base64",
            Box::new(|b| {
                let s = b["dsseEnvelope"]["signatures"][0]["sig"]
                    .as_str()
                    .unwrap()
                    .replace('+', "-")
                    .replace('/', "_");
                b["dsseEnvelope"]["signatures"][0]["sig"] = json!(if s.contains(['-', '_']) {
                    s
                } else {
                    format!("{s}-")
                });
            }),
        ),
        (
            "message signature instead of DSSE",
            "v1.0.1-sigstore",
            "",
            Box::new(|b| {
                let sig = b["dsseEnvelope"]["signatures"][0]["sig"].clone();
                b.as_object_mut().unwrap().remove("dsseEnvelope");
                b["messageSignature"] = json!({"signature": sig});
            }),
        ),
        (
            "flipped TSA token",
            "v1.1.0-sigstore",
            "",
            Box::new(|b| {
                flip(
                    b,
                    "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp",
                    200,
                )
            }),
        ),
        (
            "duplicated TSA token",
            "v1.1.0-sigstore",
            "duplicate",
            Box::new(|b| {
                let t = b
                    .pointer("/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0")
                    .unwrap()
                    .clone();
                b.pointer_mut("/verificationMaterial/timestampVerificationData/rfc3161Timestamps")
                    .unwrap()
                    .as_array_mut()
                    .unwrap()
                    .push(t);
            }),
        ),
        (
            "TSA token of another signature",
            "v1.1.0-sigstore",
            "",
            Box::new(|b| {
                // The token is kept, the signature it stamps changes (and the SET is removed so the
                // token would be the only time source).
                b.pointer_mut(E)
                    .unwrap()
                    .as_object_mut()
                    .unwrap()
                    .remove("inclusionPromise");
                flip(b, "/dsseEnvelope/signatures/0/sig", 10);
            }),
        ),
    ];
    let mut failures = Vec::new();
    for (case, vector, needle, f) in cases {
        let b = forge(&dir, vector, f);
        match verify(&v, &b) {
            Ok(_) => failures.push(format!("{case}: VERIFIED")),
            Err(e) if !e.to_string().contains(needle) => {
                failures.push(format!("{case}: rejected with '{e}', expected '{needle}'"))
            }
            Err(e) => eprintln!("{case}: rejected: {e}"),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Accepted variations that sigstore-python accepts too.
#[test]
fn accepted_variations() {
    let dir = conformance_dir();
    let v = public_good();
    // TSA time only, no SET (Python accepts; §6.3 (b)).
    let b = forge(&dir, "v1.1.0-sigstore", |b| {
        b.pointer_mut(E)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove("inclusionPromise");
    });
    verify(&v, &b).unwrap();
    // keyid null / empty / absent.
    for keyid in [json!(null), json!("")] {
        let b = forge(&dir, "v1.0.1-sigstore", |b| {
            b["dsseEnvelope"]["signatures"][0]["keyid"] = keyid
        });
        verify(&v, &b).unwrap();
    }
    // timestampVerificationData absent.
    let b = forge(&dir, "v1.0.0-sigstore", |b| {
        b["verificationMaterial"]
            .as_object_mut()
            .unwrap()
            .remove("timestampVerificationData");
    });
    verify(&v, &b).unwrap();
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// Parts of the genuine v1.1.0 RFC 3161 token that neither the TSA's signature nor the library
/// covers: each one changed alone must be rejected.
#[test]
fn rfc3161_token_surgery() {
    let dir = conformance_dir();
    let v = public_good();
    let tsa_leaf = b64d(
        &public_good_root()["timestampAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"],
    );
    let p = "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp";
    type Edit = Box<dyn Fn(&mut Vec<u8>)>;
    let ecdsa_sha256 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    let sha256_oid = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    let cases: Vec<(&str, &str, Edit)> = vec![
        (
            "status grantedWithMods",
            "granted TimeStampResp",
            Box::new(|t| {
                let i = find(t, &[0x30, 0x03, 0x02, 0x01, 0x00]).unwrap();
                t[i + 4] = 0x01;
            }),
        ),
        (
            "SignedData version",
            "SignedData version",
            Box::new(|t| {
                let i = find(t, &[0x02, 0x01, 0x03, 0x31]).unwrap();
                t[i + 2] = 0x02;
            }),
        ),
        (
            "digestAlgorithms lists SHA-384",
            "not listed",
            Box::new(move |t| {
                let i = find(t, &sha256_oid).unwrap();
                t[i + 8] = 0x02;
            }),
        ),
        (
            "eContent tagged NULL",
            "OCTET STRING",
            Box::new(|t| {
                let i = find(t, &[0xa0, 0x81, 0xb3, 0x04, 0x81, 0xb0]).unwrap();
                t[i + 3] = 0x05;
            }),
        ),
        (
            "SignerInfo version",
            "SignerInfo version",
            Box::new(|t| {
                let i = find(t, &[0x02, 0x01, 0x01, 0x30, 0x51]).unwrap();
                t[i + 2] = 0x05;
            }),
        ),
        (
            "SignerInfo signatureAlgorithm",
            "do not match",
            Box::new(move |t| {
                let i = rfind(t, &ecdsa_sha256).unwrap();
                t[i + 7] = 0x03;
            }),
        ),
        (
            "embedded TSA certificate",
            "not in the TSA's trusted chain",
            Box::new(move |t| {
                let i = find(t, &tsa_leaf).unwrap();
                let j = i + tsa_leaf.len() - 10;
                t[j] ^= 0x01;
            }),
        ),
    ];
    for (case, needle, edit) in cases {
        let mut b = bundle_json(&dir, "v1.1.0-sigstore");
        let mut token = b64d(b.pointer(p).unwrap());
        edit(&mut token);
        *b.pointer_mut(p).unwrap() = b64e(&token);
        assert_rejected(verify(&v, &b), needle, case);
    }
}
