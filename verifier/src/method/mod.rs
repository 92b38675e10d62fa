//! The signature methods and the seam between them and the model check.
//!
//! Each method ([`key`], [`certificate`], [`sigstore`]) turns the bytes of a signature file into a
//! [`VerifiedEnvelope`]: the DSSE payload whose signature it has checked. Everything after that
//! (payload type, in-toto statement, manifest comparison) is shared and lives in
//! [`crate::verify`]. The key and certificate methods share their opening
//! (`open_key_or_certificate_bundle`) and closing (`verify_first_signature`) steps.

pub mod certificate;
pub mod key;
pub mod sigstore;

use crate::bundle::{Bundle, BundleError, Envelope, MEDIA_TYPE_V0_3};
use crate::keys::{EcPublicKey, SigHash};

/// A DSSE payload whose signature has been verified by one of the methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEnvelope {
    /// The envelope's `payloadType`, as written in the bundle.
    pub payload_type: String,
    /// The signed payload bytes (the in-toto statement JSON).
    pub payload: Vec<u8>,
    /// Who signed, for reports: the key hint, the certificate subject or the Sigstore identity.
    pub signer: String,
    /// Lines `model_signing` prints on stdout before `Verification succeeded` (the legacy
    /// verification-material WARNING of the key method).
    pub warnings: Vec<String>,
}

/// A signature method: checks the signature file and yields the signed payload.
pub trait SignatureVerifier {
    /// The method's error, with the message `model_signing` prints after
    /// `Verification failed with error: ` (or a real explanation where Python's is empty).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The method name, as on the command line (`key`, `certificate`, `sigstore`).
    fn method(&self) -> &'static str;

    /// Verifies the signature file's bytes and returns the payload it signs.
    fn verify_bundle(&self, bundle_json: &[u8]) -> Result<VerifiedEnvelope, Self::Error>;
}

/// Why the DSSE envelope of a key or certificate bundle cannot be checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DsseError {
    /// No DSSE envelope (Python: `'NoneType' object has no attribute 'signatures'`).
    #[error(
        "the signature has no DSSE envelope (it holds a `messageSignature`), which model signatures never use"
    )]
    NoEnvelope,
    /// An envelope without signatures (Python: `list index out of range`).
    #[error("the signature's DSSE envelope contains no signatures")]
    NoSignatures,
}

/// Step (1) of the key and certificate methods (§5.1): parse with `model_signing`'s
/// pre-processing, then require the v0.3 media type.
pub(crate) fn open_key_or_certificate_bundle(bundle_json: &[u8]) -> Result<Bundle, BundleError> {
    let bundle = Bundle::from_json_key_or_certificate(bundle_json)?;
    bundle.require_media_type(MEDIA_TYPE_V0_3)?;
    Ok(bundle)
}

/// The last step of the key and certificate methods: `signatures[0]` must verify with `key`,
/// over the DSSE PAE with the curve's hash, else over the v0.2 compat PAE with `compat_hash`.
/// `invalid` is the method's error for a signature that does not verify. The payload is moved
/// out of the bundle, not copied (a large model's statement is MiBs).
pub(crate) fn verify_first_signature<E: From<DsseError>>(
    bundle: Bundle,
    key: &EcPublicKey,
    compat_hash: SigHash,
    invalid: impl FnOnce() -> E,
    signer: String,
) -> Result<VerifiedEnvelope, E> {
    let envelope = signed_envelope(bundle)?;
    if !first_signature_verifies(&envelope, key, compat_hash) {
        return Err(invalid());
    }
    Ok(verified(envelope, signer))
}

/// The bundle's DSSE envelope, which must hold at least one signature.
pub(crate) fn signed_envelope(bundle: Bundle) -> Result<Envelope, DsseError> {
    let envelope = bundle.dsse_envelope.ok_or(DsseError::NoEnvelope)?;
    if envelope.signatures.is_empty() {
        return Err(DsseError::NoSignatures);
    }
    Ok(envelope)
}

/// Whether `signatures[0]` of `envelope` verifies with `key` (see [`verify_first_signature`]).
pub(crate) fn first_signature_verifies(
    envelope: &Envelope,
    key: &EcPublicKey,
    compat_hash: SigHash,
) -> bool {
    envelope.signatures.first().is_some_and(|signature| {
        key.verify_dsse(
            &envelope.payload,
            &signature.sig,
            key.curve().hash(),
            compat_hash,
        )
    })
}

/// The verified payload of `envelope`, moved out of it.
pub(crate) fn verified(envelope: Envelope, signer: String) -> VerifiedEnvelope {
    VerifiedEnvelope {
        payload_type: envelope.payload_type,
        payload: envelope.payload.0,
        signer,
        warnings: Vec::new(),
    }
}

/// What the verification material holds instead of the expected member (for messages).
pub(crate) fn material_kind(bundle: &Bundle) -> &'static str {
    let vm = &bundle.verification_material;
    if vm.public_key.is_some() {
        "a public key hint"
    } else if vm.x509_certificate_chain.is_some() {
        "an X.509 certificate chain"
    } else if vm.certificate.is_some() {
        "a Sigstore certificate"
    } else {
        "nothing"
    }
}
