//! The seam between the signature methods and the model check.
//!
//! Each method (`key`, `certificate`, `sigstore`) turns the bytes of a signature file into a
//! [`VerifiedEnvelope`]: the DSSE payload whose signature it has checked. Everything after that
//! (payload type, in-toto statement, manifest comparison) is shared and lives in
//! [`crate::verify`].

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

pub mod sigstore;
