//! PEM and DER keys and certificates, and X.509 path building: the input is read as PEM public
//! keys, private keys and certificate chains, and is also cut at the marker `ff 00 ff 00` into a
//! leaf, intermediates and trusted certificates (DER) for path building.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_verifier::keys::EcPublicKey;
use model_verifier::method::certificate::CertificateVerifier;
use model_verifier::{pem, x509};
use model_verifier::sign::SigningKey;

fuzz_target!(|data: &[u8]| {
    let _ = EcPublicKey::from_pem(data);
    let _ = EcPublicKey::from_spki_der(data);
    let _ = SigningKey::from_pem(data, None);
    let _ = SigningKey::from_der(data);
    let _ = pem::certificates_from_pem_strict(data);
    if let Ok(v) = CertificateVerifier::from_pem(data) {
        let chain = pem::certificates_from_pem(data);
        let _ = v.verify_certificates(&chain);
    }
    let parts = cut(data);
    if let Some((leaf, rest)) = parts.split_first() {
        let half = rest.len() / 2;
        let (intermediates, trusted) = rest.split_at(half);
        let time = 1_700_000_000;
        let _ = x509::verify_path(leaf, intermediates, trusted, time);
    }
});

/// `data` cut at every `ff 00 ff 00`.
fn cut(data: &[u8]) -> Vec<&[u8]> {
    const MARK: &[u8] = &[0xff, 0x00, 0xff, 0x00];
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(MARK.len()).position(|w| w == MARK) {
        parts.push(&rest[..i]);
        rest = &rest[i + MARK.len()..];
    }
    parts.push(rest);
    parts
}
