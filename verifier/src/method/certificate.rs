//! The `certificate` verification method (`model-signing-format.md` §6.2): the bundle's leaf must
//! chain to a trusted self-signed certificate ([`crate::x509`]), may sign (keyUsage
//! digitalSignature, else EKU codeSigning), and its EC key checks the DSSE signature.
//!
//! No file I/O and no clock: certificates are inputs, the validation time is the leaf's
//! `notBefore` (as `model_signing` does, so an expired leaf still verifies).

use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use x509_parser::certificate::X509Certificate;

use crate::bundle::BundleError;
use crate::keys::{EcPublicKey, KeyError, SigHash};
use crate::method::{
    DsseError, SignatureVerifier, VerifiedEnvelope, material_kind, open_key_or_certificate_bundle,
    verify_first_signature,
};
use crate::pem::{certificates_from_pem, certificates_from_pem_strict};
use crate::x509::{self, PathError, verify_path};

/// `sha256 Fingerprint: AA:BB:...` of a DER certificate (`--log_fingerprints`).
pub(crate) fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    format!("sha256 Fingerprint: {}", hex.join(":"))
}

/// Why the certificate method rejected a signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateVerifyError {
    /// The bundle did not parse, or has the wrong media type.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// No `x509CertificateChain` (Python: `'NoneType' object has no attribute 'certificates'`).
    #[error(
        "the signature was not made with a certificate: its verification material has no `x509CertificateChain` (it holds {0}); use the matching verification method"
    )]
    NoCertificateChain(&'static str),
    /// An empty `x509CertificateChain` (Python: `list index out of range`).
    #[error("the signature's certificate chain is empty: there is no signing certificate")]
    EmptyChain,
    /// Path building or validation failed.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The leaf's extensions are not DER (Python's `cryptography` refuses to parse them).
    #[error(
        "error parsing asn1 value: the basicConstraints of the signing certificate `{0}` encodes the DEFAULT value cA FALSE, which DER forbids"
    )]
    LeafNotDer(String),
    /// The leaf may not sign (model_signing's own rule).
    #[error("Signing certificate cannot be used for signing")]
    CannotSign,
    /// The leaf's key cannot check an ECDSA signature (Python crashes on `.curve`).
    #[error("the signing certificate's public key cannot verify the signature: {0}")]
    LeafKey(KeyError),
    /// No DSSE envelope, or no signature in it.
    #[error(transparent)]
    Dsse(#[from] DsseError),
    /// The ECDSA check failed (Python prints an empty message).
    #[error(
        "Invalid signature: the DSSE signature does not verify with the signing certificate's {0} key (neither over the DSSE PAE nor over the v0.2 compat PAE)"
    )]
    InvalidSignature(&'static str),
}

/// Where `--log_fingerprints` lines go (the CLI prints them to stderr).
pub type FingerprintSink = Arc<dyn Fn(&str) + Send + Sync>;

/// The `certificate` method: the bundle's leaf must chain to a trusted self-signed
/// certificate, then its EC key checks the DSSE signature.
#[derive(Clone)]
pub struct CertificateVerifier {
    trusted: Vec<Vec<u8>>,
    fingerprints: Option<FingerprintSink>,
}

impl std::fmt::Debug for CertificateVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateVerifier")
            .field("trusted", &self.trusted.len())
            .field("log_fingerprints", &self.fingerprints.is_some())
            .finish()
    }
}

/// Why the trusted certificates could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// No `CERTIFICATE` block in the PEM text.
    #[error(
        "Unable to load PEM file: no -----BEGIN CERTIFICATE----- block in the certificate chain file(s)"
    )]
    NoCertificates,
    /// A PEM block is malformed.
    #[error(
        "Unable to load PEM file: a -----BEGIN ...----- block in the certificate chain file(s) is malformed (no matching END line, or invalid base64)"
    )]
    MalformedPem,
    /// A certificate does not parse.
    #[error(transparent)]
    Malformed(#[from] PathError),
}

impl CertificateVerifier {
    /// Trusts every certificate of the concatenated `--certificate_chain` PEM files (all
    /// `CERTIFICATE` blocks, text around them skipped). At least one is required.
    pub fn from_pem(pem: &[u8]) -> Result<Self, TrustError> {
        let ders = certificates_from_pem_strict(pem).map_err(|_| TrustError::MalformedPem)?;
        if ders.is_empty() {
            return Err(TrustError::NoCertificates);
        }
        Self::new(ders)
    }

    /// Trusts the given DER certificates (each must parse).
    pub fn new(trusted: Vec<Vec<u8>>) -> Result<Self, TrustError> {
        for (i, der) in trusted.iter().enumerate() {
            x509::parse(der, &format!("trusted certificate #{}", i + 1))?;
        }
        Ok(Self {
            trusted,
            fingerprints: None,
        })
    }

    /// Trusts the parseable certificates of a system CA bundle; unparseable ones are skipped.
    /// `model_signing` trusts certifi's Mozilla bundle when no `--certificate_chain` is given.
    pub fn from_system_bundle(pem: &[u8]) -> Self {
        let trusted = certificates_from_pem(pem)
            .into_iter()
            .filter(|der| x509::parse(der, "system certificate").is_ok())
            .collect();
        Self {
            trusted,
            fingerprints: None,
        }
    }

    /// Sends `[  init  ] ...` lines for the trusted certificates now, and `[ verify ] ...`
    /// lines for the bundle's certificates during verification, to `sink`.
    pub fn log_fingerprints(mut self, sink: FingerprintSink) -> Self {
        for der in &self.trusted {
            sink(&format!("[  init  ] {}", fingerprint(der)));
        }
        self.fingerprints = Some(sink);
        self
    }

    /// The §6.2 steps 2–4 on a bundle's certificates: path at the leaf's notBefore, then the
    /// signing capability. Returns the leaf's EC key and subject.
    pub fn verify_certificates(
        &self,
        chain: &[Vec<u8>],
    ) -> Result<(EcPublicKey, String), CertificateVerifyError> {
        let (leaf_der, rest) = chain
            .split_first()
            .ok_or(CertificateVerifyError::EmptyChain)?;
        let leaf = x509::parse(leaf_der, "the signing certificate")?;
        if let Some(sink) = &self.fingerprints {
            for der in rest.iter().chain(std::iter::once(leaf_der)) {
                sink(&format!("[ verify ] {}", fingerprint(der)));
            }
        }
        let time = leaf.validity().not_before.timestamp();
        let intermediates: Vec<&[u8]> = rest.iter().map(Vec::as_slice).collect();
        let trusted: Vec<&[u8]> = self.trusted.iter().map(Vec::as_slice).collect();
        verify_path(leaf_der, &intermediates, &trusted, time)?;
        check_signing_capability(&leaf)?;
        let key =
            EcPublicKey::from_spki(leaf.public_key()).map_err(CertificateVerifyError::LeafKey)?;
        Ok((key, leaf.subject().to_string()))
    }
}

/// §6.2 step 4: keyUsage digitalSignature, else EKU codeSigning.
fn check_signing_capability(leaf: &X509Certificate<'_>) -> Result<(), CertificateVerifyError> {
    let bad = || CertificateVerifyError::Path(PathError::BadExtension(leaf.subject().to_string()));
    // `cryptography` parses the leaf's extensions as strict DER and rejects a basicConstraints
    // that encodes the DEFAULT `cA FALSE` (`ParseError { kind: EncodedDefault }`).
    if leaf.extensions().iter().any(|e| {
        e.oid.to_id_string() == "2.5.29.19" && e.value.get(2..5) == Some(&[0x01, 0x01, 0x00][..])
    }) {
        return Err(CertificateVerifyError::LeafNotDer(
            leaf.subject().to_string(),
        ));
    }
    match leaf.key_usage().map_err(|_| bad())? {
        Some(ku) if ku.value.digital_signature() => return Ok(()),
        Some(_) => {}
        None => tracing::warn!("Certificate does not specify 'KeyUsage'."),
    }
    match leaf.extended_key_usage().map_err(|_| bad())? {
        Some(eku) if eku.value.code_signing => Ok(()),
        Some(_) => Err(CertificateVerifyError::CannotSign),
        None => {
            tracing::warn!("Certificate does not specify 'ExtendedKeyUsage'.");
            Err(CertificateVerifyError::CannotSign)
        }
    }
}

impl SignatureVerifier for CertificateVerifier {
    type Error = CertificateVerifyError;

    fn method(&self) -> &'static str {
        "certificate"
    }

    fn verify_bundle(
        &self,
        bundle_json: &[u8],
    ) -> Result<VerifiedEnvelope, CertificateVerifyError> {
        // (1) parse with the key/certificate pre-processing, then the media type (§5.1).
        let bundle = open_key_or_certificate_bundle(bundle_json)?;
        // (2)-(4) the chain and the leaf's signing capability.
        let chain = bundle
            .verification_material
            .x509_certificate_chain
            .as_ref()
            .ok_or_else(|| CertificateVerifyError::NoCertificateChain(material_kind(&bundle)))?;
        let ders: Vec<Vec<u8>> = chain
            .certificates
            .iter()
            .map(|c| c.raw_bytes.0.clone())
            .collect();
        let (key, subject) = self.verify_certificates(&ders)?;
        // (5) signatures[0]: curve hash over the PAE, else SHA-256 over the compat PAE.
        let curve = key.curve();
        verify_first_signature(
            bundle,
            &key,
            SigHash::Sha256,
            || CertificateVerifyError::InvalidSignature(curve.name()),
            subject,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_upper_case_and_colon_separated() {
        let fp = fingerprint(b"");
        assert!(fp.starts_with("sha256 Fingerprint: E3:B0:C4:42:"), "{fp}");
        assert_eq!(fp.len(), "sha256 Fingerprint: ".len() + 32 * 3 - 1);
    }

    #[test]
    fn no_certificate_blocks_is_an_error() {
        assert!(matches!(
            CertificateVerifier::from_pem(
                b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
            ),
            Err(TrustError::NoCertificates)
        ));
        let junk = crate::pem::python_pem("CERTIFICATE", &[0x30, 0x03, 0x02, 0x01, 0x00]);
        assert!(matches!(
            CertificateVerifier::from_pem(junk.as_bytes()),
            Err(TrustError::Malformed(PathError::Malformed { .. }))
        ));
    }
}
