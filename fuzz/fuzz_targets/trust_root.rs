//! Trust material: a ClientTrustConfig or a bare `trusted_root.json`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_verifier::method::sigstore::trust::{TrustMaterial, TrustSource};

fuzz_target!(|data: &[u8]| {
    let _ = TrustMaterial::from_json_bytes(data, TrustSource::Bytes);
});
