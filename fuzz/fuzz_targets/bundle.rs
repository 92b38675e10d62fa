//! Sigstore bundle parsing: the strict model, the key/certificate pre-processing, and the
//! Sigstore method's typed read of the unauthenticated statement's subject digest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_verifier::bundle::Bundle;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = Bundle::from_json(data) {
        // Whatever parses must serialise and parse back to the same bundle.
        let again = Bundle::from_json(bundle.to_json().as_bytes()).expect("round trip");
        assert_eq!(again, bundle);
    }
    let _ = Bundle::from_json_key_or_certificate(data);
    let _ = model_verifier::method::sigstore::statement_subject_sha256(data);
});
