//! The `key` verification method (`model-signing-format.md` §6.1): the key hint, then the DSSE
//! signature checked with the `--public_key` EC key.
//!
//! Owns the method only; key parsing and ECDSA live in [`crate::keys`]. No file I/O: callers pass
//! bytes.

use crate::bundle::BundleError;
use crate::keys::{Curve, EcPublicKey, KeyError};
use crate::method::{
    DsseError, SignatureVerifier, VerifiedEnvelope, material_kind, open_key_or_certificate_bundle,
    verify_first_signature,
};

/// The WARNING `model_signing` prints on stdout for key bundles without a hint (trailing space
/// included).
pub(crate) const LEGACY_HINT_WARNING: &str = "WARNING: This model's signature uses an older verification material format. Please re-sign with an updated signer to use a public key identifier hash. ";

/// Why the key method rejected a signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyVerifyError {
    /// The bundle did not parse, or has the wrong media type.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The bundle has no `publicKey` (Python: `'NoneType' object has no attribute 'hint'`).
    #[error(
        "the signature was not made with a key: its verification material has no `publicKey` (it holds {0}); use the matching verification method"
    )]
    NoPublicKey(&'static str),
    /// The hint does not match the supplied key (Python's message, trailing space included).
    #[error(
        "Key mismatch: The public key hash in the signature's verification material does not match the provided public key. "
    )]
    KeyMismatch,
    /// No DSSE envelope, or no signature in it.
    #[error(transparent)]
    Dsse(#[from] DsseError),
    /// The ECDSA check failed (Python prints an empty message).
    #[error(
        "Invalid signature: the DSSE signature does not verify with the {curve} public key (neither over the DSSE PAE nor over the v0.2 compat PAE)",
        curve = .0.name()
    )]
    InvalidSignature(Curve),
}

/// Where warnings go as soon as they arise (the CLI prints them on stdout, as Python does,
/// even when verification fails afterwards).
pub type WarningSink = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// The `key` method: an EC public key checks the bundle's DSSE signature.
#[derive(Clone)]
pub struct KeyVerifier {
    key: EcPublicKey,
    hint: String,
    warning_sink: Option<WarningSink>,
}

impl std::fmt::Debug for KeyVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVerifier")
            .field("key", &self.key)
            .field("hint", &self.hint)
            .field("warning_sink", &self.warning_sink.is_some())
            .finish()
    }
}

impl KeyVerifier {
    /// A verifier for the PEM public key `pem` (the `--public_key` file's bytes).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        Self::new(EcPublicKey::from_pem(pem)?)
    }

    /// A verifier for `key`; fails for curves the key method does not support.
    pub fn new(key: EcPublicKey) -> Result<Self, KeyError> {
        if !key.curve().is_model_signing_key_curve() {
            return Err(KeyError::UnsupportedCurve(key.curve().name().to_owned()));
        }
        let hint = key.hint();
        Ok(Self {
            key,
            hint,
            warning_sink: None,
        })
    }

    /// Sends warnings to `sink` the moment they arise instead of returning them in
    /// [`VerifiedEnvelope::warnings`] (which only exists when verification succeeds).
    pub fn warnings_to(mut self, sink: WarningSink) -> Self {
        self.warning_sink = Some(sink);
        self
    }

    /// The key hint (hex SHA-256 of the re-encoded PEM).
    pub fn hint(&self) -> &str {
        &self.hint
    }

    /// The public key.
    pub fn key(&self) -> &EcPublicKey {
        &self.key
    }
}

impl SignatureVerifier for KeyVerifier {
    type Error = KeyVerifyError;

    fn method(&self) -> &'static str {
        "key"
    }

    fn verify_bundle(&self, bundle_json: &[u8]) -> Result<VerifiedEnvelope, KeyVerifyError> {
        // (1) parse with the key/certificate pre-processing, then the media type (§5.1).
        let bundle = open_key_or_certificate_bundle(bundle_json)?;
        // (2) the hint (§6.1 step 2).
        let public_key = bundle
            .verification_material
            .public_key
            .as_ref()
            .ok_or_else(|| KeyVerifyError::NoPublicKey(material_kind(&bundle)))?;
        let mut warnings = Vec::new();
        match public_key.hint.as_deref() {
            Some(hint) if !hint.is_empty() => {
                if hint != self.hint {
                    return Err(KeyVerifyError::KeyMismatch);
                }
            }
            _ => match &self.warning_sink {
                Some(sink) => sink(LEGACY_HINT_WARNING),
                None => warnings.push(LEGACY_HINT_WARNING.to_owned()),
            },
        }
        // (3) signatures[0] over the PAE, curve hash; compat PAE with the same hash.
        let curve = self.key.curve();
        let envelope = verify_first_signature(
            bundle,
            &self.key,
            curve.hash(),
            || KeyVerifyError::InvalidSignature(curve),
            format!("public key sha256:{}", self.hint),
        )?;
        Ok(VerifiedEnvelope {
            warnings,
            ..envelope
        })
    }
}
