//! Shared helpers of the `sigstore_*` integration tests: the conformance folder and bundle
//! surgery on genuine upstream bundles.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use model_verifier::method::SignatureVerifier;
use model_verifier::method::sigstore::{
    IdentityPolicy, SigstoreError, SigstoreVerifier, TrustMaterial, TrustSource,
};
use serde_json::Value;

pub const IDENTITY: &str = "stefanb@us.ibm.com";
pub const ISSUER: &str = "https://sigstore.verify.ibm.com/oauth2";
pub use super::conformance_dir;

pub const VECTORS: [&str; 4] = [
    "v0.3.1-sigstore",
    "v1.0.0-sigstore",
    "v1.0.1-sigstore",
    "v1.1.0-sigstore",
];

pub fn bundle_bytes(dir: &std::path::Path, vector: &str) -> Vec<u8> {
    std::fs::read(dir.join("upstream").join(vector).join("model.sig")).unwrap()
}

pub fn bundle_json(dir: &std::path::Path, vector: &str) -> Value {
    serde_json::from_slice(&bundle_bytes(dir, vector)).unwrap()
}

pub fn policy(identity: &str, issuer: &str) -> IdentityPolicy {
    IdentityPolicy::exact(identity, issuer)
}

pub fn public_good() -> SigstoreVerifier {
    SigstoreVerifier::new(
        policy(IDENTITY, ISSUER),
        TrustMaterial::public_good().unwrap(),
    )
    .unwrap()
}

pub fn verifier_with_root(root: &Value) -> Result<SigstoreVerifier, SigstoreError> {
    let trust = TrustMaterial::from_json_bytes(root.to_string().as_bytes(), TrustSource::Bytes)?;
    SigstoreVerifier::new(policy(IDENTITY, ISSUER), trust)
}

pub fn public_good_root() -> Value {
    serde_json::from_slice(model_verifier::method::sigstore::trust::PUBLIC_GOOD_TRUSTED_ROOT)
        .unwrap()
}

pub fn verify(v: &SigstoreVerifier, bundle: &Value) -> Result<Vec<u8>, SigstoreError> {
    v.verify_bundle(bundle.to_string().as_bytes())
        .map(|e| e.payload)
}

/// Asserts a rejection whose message contains `needle`.
pub fn assert_rejected(result: Result<Vec<u8>, SigstoreError>, needle: &str, case: &str) {
    match result {
        Ok(_) => panic!("{case}: a forged bundle verified"),
        Err(e) => assert!(
            e.to_string().contains(needle),
            "{case}: rejected, but with '{e}' (expected it to mention '{needle}')"
        ),
    }
}

pub fn b64d(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

pub fn b64e(bytes: &[u8]) -> Value {
    Value::String(STANDARD.encode(bytes))
}

/// Flips one bit of the base64 bytes field at `pointer`.
pub fn flip(bundle: &mut Value, pointer: &str, byte: usize) {
    let field = bundle.pointer_mut(pointer).unwrap();
    let mut raw = b64d(field);
    let i = byte.min(raw.len() - 1);
    raw[i] ^= 0x01;
    *field = b64e(&raw);
}
