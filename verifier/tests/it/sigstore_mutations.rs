//! Random single-byte mutations of the genuine upstream bundles: none may verify, none may
//! panic (deterministic PRNG, so a failure reproduces).

use crate::support::sigstore_common as common;

use common::*;
use model_verifier::method::SignatureVerifier;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn single_byte_mutations_never_verify_or_panic() {
    let dir = conformance_dir();
    let v = public_good();
    let seed = std::env::var("MV_MUTATION_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x5157_2025_1234_abcd_u64);
    let mut rng = XorShift(seed);
    let mut parsed_and_rejected = 0usize;
    for vector in ["v1.0.1-sigstore", "v1.1.0-sigstore"] {
        let genuine = bundle_bytes(&dir, vector);
        v.verify_bundle(&genuine).unwrap();
        let rounds: usize = std::env::var("MV_MUTATIONS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1500);
        for _ in 0..rounds {
            let mut b = genuine.clone();
            let i = (rng.next() % b.len() as u64) as usize;
            let bit = 1u8 << (rng.next() % 8);
            b[i] ^= bit;
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| v.verify_bundle(&b)));
            match outcome {
                Err(_) => panic!("{vector}: panic with byte {i} ^ {bit:#04x}"),
                Ok(Ok(_)) => panic!(
                    "{vector}: a mutated bundle verified (byte {i} ^ {bit:#04x}: {:?} -> {:?})",
                    genuine[i] as char, b[i] as char
                ),
                Ok(Err(e)) => {
                    if !e.to_string().starts_with("not JSON") {
                        parsed_and_rejected += 1;
                    }
                }
            }
        }
    }
    // Most mutations land in base64 or signed data, past the JSON parser.
    assert!(parsed_and_rejected > 1000, "{parsed_and_rejected}");
}

/// Bit flips inside the decoded bytes of every base64 field (certificate, SET, body, proof
/// hashes, root hash, log ID, RFC 3161 token, payload, signature), re-encoded as valid base64.
#[test]
fn decoded_field_bit_flips_never_verify_or_panic() {
    let dir = conformance_dir();
    let v = public_good();
    let rounds: usize = std::env::var("MV_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1500);
    let mut rng = XorShift(0x0dec_0ded_f1e1_d5d5_u64);
    let e = "/verificationMaterial/tlogEntries/0";
    for vector in ["v0.3.1-sigstore", "v1.1.0-sigstore"] {
        let genuine = bundle_json(&dir, vector);
        let mut fields: Vec<String> = vec![
            "/verificationMaterial/certificate/rawBytes".into(),
            format!("{e}/logId/keyId"),
            format!("{e}/inclusionPromise/signedEntryTimestamp"),
            format!("{e}/inclusionProof/rootHash"),
            format!("{e}/canonicalizedBody"),
            "/dsseEnvelope/payload".into(),
            "/dsseEnvelope/signatures/0/sig".into(),
        ];
        let hashes = genuine
            .pointer(&format!("{e}/inclusionProof/hashes"))
            .unwrap();
        for i in 0..hashes.as_array().unwrap().len() {
            fields.push(format!("{e}/inclusionProof/hashes/{i}"));
        }
        let ts =
            "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp";
        if genuine.pointer(ts).is_some() {
            fields.push(ts.into());
        }
        for _ in 0..rounds {
            let field = &fields[(rng.next() % fields.len() as u64) as usize];
            let mut b = genuine.clone();
            let mut raw = b64d(b.pointer(field).unwrap());
            let i = (rng.next() % raw.len() as u64) as usize;
            let bit = 1u8 << (rng.next() % 8);
            raw[i] ^= bit;
            *b.pointer_mut(field).unwrap() = b64e(&raw);
            let bytes = b.to_string();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                v.verify_bundle(bytes.as_bytes())
            }));
            match outcome {
                Err(_) => panic!("{vector}: panic with {field} byte {i} ^ {bit:#04x}"),
                Ok(Ok(_)) => panic!("{vector}: verified with {field} byte {i} ^ {bit:#04x}"),
                Ok(Err(_)) => {}
            }
        }
    }
}

/// The same, over the genuine staging Rekor v2 bundle (checkpoint with witness cosignatures,
/// TSA time only), with the staging root.
#[test]
fn staging_rekor_v2_mutations_never_verify_or_panic() {
    use model_verifier::method::sigstore::{IdentityPolicy, SigstoreVerifier, TrustMaterial};
    let genuine = include_bytes!("support/staging-rekor-v2-dsse.sigstore.json").to_vec();
    let v = SigstoreVerifier::new(
        IdentityPolicy::exact("jku@goto.fi", "https://github.com/login/oauth"),
        TrustMaterial::staging().unwrap(),
    )
    .unwrap();
    v.verify_bundle(&genuine).unwrap();
    let rounds: usize = std::env::var("MV_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1500);
    // Witness cosignature lines are not verified (the trust root names no witnesses; Python
    // ignores them too): changing them is not a forgery.
    let text = std::str::from_utf8(&genuine).unwrap();
    let witness_ranges: Vec<std::ops::Range<usize>> = [
        "\u{2014} staging.witness.transparency.goog/",
        "\u{2014} witness.navigli.sunlight.geomys.org ",
        "\u{2014} witness.stagemole.eu ",
    ]
    .iter()
    .map(|start| {
        let from = text.find(start).unwrap();
        let to = from + text[from..].find("\\n").unwrap();
        from..to
    })
    .collect();
    let mut rng = XorShift(0x57a9_1e5e_ed00_0001_u64);
    for _ in 0..rounds {
        let mut b = genuine.clone();
        let i = (rng.next() % b.len() as u64) as usize;
        if witness_ranges.iter().any(|r| r.contains(&i)) {
            continue;
        }
        let bit = 1u8 << (rng.next() % 8);
        b[i] ^= bit;
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| v.verify_bundle(&b)));
        match outcome {
            Err(_) => panic!("panic with byte {i} ^ {bit:#04x}"),
            Ok(Ok(_)) => panic!(
                "a mutated bundle verified (byte {i} ^ {bit:#04x}: {:?} -> {:?})",
                genuine[i] as char, b[i] as char
            ),
            Ok(Err(_)) => {}
        }
    }
}

#[test]
fn staging_decoded_field_bit_flips_never_verify_or_panic() {
    use model_verifier::method::sigstore::{IdentityPolicy, SigstoreVerifier, TrustMaterial};
    let genuine: serde_json::Value = serde_json::from_slice(include_bytes!(
        "support/staging-rekor-v2-dsse.sigstore.json"
    ))
    .unwrap();
    let v = SigstoreVerifier::new(
        IdentityPolicy::exact("jku@goto.fi", "https://github.com/login/oauth"),
        TrustMaterial::staging().unwrap(),
    )
    .unwrap();
    let rounds: usize = std::env::var("MV_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1500);
    let e = "/verificationMaterial/tlogEntries/0";
    let mut fields: Vec<String> = vec![
        "/verificationMaterial/certificate/rawBytes".into(),
        format!("{e}/logId/keyId"),
        format!("{e}/inclusionProof/rootHash"),
        format!("{e}/canonicalizedBody"),
        "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp"
            .into(),
        "/dsseEnvelope/payload".into(),
        "/dsseEnvelope/signatures/0/sig".into(),
    ];
    for i in 0..6 {
        fields.push(format!("{e}/inclusionProof/hashes/{i}"));
    }
    let mut rng = XorShift(0x57a9_dec0_ded0_0002_u64);
    for _ in 0..rounds {
        let field = &fields[(rng.next() % fields.len() as u64) as usize];
        let mut b = genuine.clone();
        let mut raw = b64d(b.pointer(field).unwrap());
        let i = (rng.next() % raw.len() as u64) as usize;
        let bit = 1u8 << (rng.next() % 8);
        raw[i] ^= bit;
        *b.pointer_mut(field).unwrap() = b64e(&raw);
        let bytes = b.to_string();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            v.verify_bundle(bytes.as_bytes())
        }));
        match outcome {
            Err(_) => panic!("panic with {field} byte {i} ^ {bit:#04x}"),
            Ok(Ok(_)) => panic!("verified with {field} byte {i} ^ {bit:#04x}"),
            Ok(Err(_)) => {}
        }
    }
}
