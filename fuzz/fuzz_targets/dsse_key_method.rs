//! DSSE: the PAE encodings, and the whole key method (bundle → hint → signature over the PAE or
//! the compat PAE) on arbitrary bundles, with a fixed P-256 key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_verifier::dsse;
use model_verifier::method::SignatureVerifier as _;
use model_verifier::method::key::KeyVerifier;

const KEY: &[u8] = include_bytes!("../../testdata/keys/signing-key.pub");

fuzz_target!(|data: &[u8]| {
    // PAE: "DSSEv1 <len> <type> <len> <payload>" with byte lengths.
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (ty, payload) = data.split_at(split);
    let pae = dsse::pae(ty, payload);
    let head = format!("DSSEv1 {} ", ty.len());
    assert!(pae.starts_with(head.as_bytes()));
    assert!(pae.ends_with(payload));
    let _ = dsse::pae_compat(payload);
    let verifier = KeyVerifier::from_pem(KEY).expect("the test key loads");
    // Must not panic; the seeds include a validly signed bundle, so success is possible.
    let _ = verifier.verify_bundle(data);
});
