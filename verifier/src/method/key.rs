//! The `key` verification method (`model-signing-format.md` §6.1): the key hint, then the DSSE
//! signature checked with the `--public_key` EC key.
//!
//! Owns the method only; key parsing and ECDSA live in [`crate::keys`]. No file I/O: callers pass
//! bytes.

use crate::bundle::BundleError;
use crate::keys::{Curve, EcPublicKey, KeyError};
use crate::method::{
    DsseError, SignatureVerifier, VerifiedEnvelope, first_signature_verifies, material_kind,
    open_key_or_certificate_bundle, signed_envelope, verified,
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
    /// Several keys are trusted and none verifies the signature: each key and why.
    #[error(
        "none of the {} trusted public keys verifies the signature: {}",
        .0.len(),
        attempt_list(.0)
    )]
    NoKeyVerifies(Vec<KeyAttempt>),
}

/// One trusted key that did not verify a signature, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttempt {
    /// The key's name (the `--public_key` file).
    pub name: String,
    /// The key's hint (hex SHA-256 of the re-encoded PEM).
    pub hint: String,
    /// Why it did not verify.
    pub reason: KeyRejection,
}

/// Why one trusted key did not verify a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRejection {
    /// The signature's key hint names another key.
    HintMismatch {
        /// The hint recorded in the signature.
        signature_hint: String,
    },
    /// The ECDSA check failed with this key.
    InvalidSignature(Curve),
}

impl std::fmt::Display for KeyAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}' (sha256:{}): ", self.name, self.hint)?;
        match &self.reason {
            KeyRejection::HintMismatch { signature_hint } => write!(
                f,
                "the signature was made with another key (its key hint is sha256:{signature_hint})"
            ),
            KeyRejection::InvalidSignature(curve) => write!(
                f,
                "the DSSE signature does not verify with this {} key",
                curve.name()
            ),
        }
    }
}

fn attempt_list(attempts: &[KeyAttempt]) -> String {
    attempts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Where warnings go as soon as they arise (the CLI prints them on stdout, as Python does,
/// even when verification fails afterwards).
pub type WarningSink = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// The `key` method: an EC public key checks the bundle's DSSE signature; with several trusted
/// keys, any one of them.
#[derive(Clone)]
pub struct KeyVerifier {
    /// At least one.
    keys: Vec<TrustedKey>,
    warning_sink: Option<WarningSink>,
}

/// A trusted key, its name for messages and its hint.
#[derive(Debug, Clone)]
struct TrustedKey {
    name: String,
    key: EcPublicKey,
    hint: String,
}

/// Fails for a key on a curve the key method does not support.
pub fn check_key_curve(key: &EcPublicKey) -> Result<(), KeyError> {
    if key.curve().is_model_signing_key_curve() {
        Ok(())
    } else {
        Err(KeyError::UnsupportedCurve(key.curve().name().to_owned()))
    }
}

impl TrustedKey {
    fn new(name: String, key: EcPublicKey) -> Result<Self, KeyError> {
        check_key_curve(&key)?;
        let hint = key.hint();
        Ok(Self { name, key, hint })
    }
}

impl std::fmt::Debug for KeyVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVerifier")
            .field("keys", &self.keys)
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
        Self::any_of([(String::from("public key"), key)])
    }

    /// A verifier that accepts a signature any of `keys` verifies (each with its name for
    /// messages, e.g. its file); fails without keys or for a curve the key method does not
    /// support. With one key the checks and messages are `model_signing`'s.
    pub fn any_of(keys: impl IntoIterator<Item = (String, EcPublicKey)>) -> Result<Self, KeyError> {
        let keys = keys
            .into_iter()
            .map(|(name, key)| TrustedKey::new(name, key))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(KeyError::NoKeys);
        }
        Ok(Self {
            keys,
            warning_sink: None,
        })
    }

    /// Sends warnings to `sink` the moment they arise instead of returning them in
    /// [`VerifiedEnvelope::warnings`] (which only exists when verification succeeds).
    pub fn warnings_to(mut self, sink: WarningSink) -> Self {
        self.warning_sink = Some(sink);
        self
    }

    /// The key hint (hex SHA-256 of the re-encoded PEM) of the first key.
    pub fn hint(&self) -> &str {
        &self.first().hint
    }

    /// The first public key.
    pub fn key(&self) -> &EcPublicKey {
        &self.first().key
    }

    /// The hints of every trusted key, in order.
    pub fn hints(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.hint.as_str())
    }

    fn first(&self) -> &TrustedKey {
        // `any_of` refuses an empty list.
        &self.keys[0]
    }

    /// The error when no key verifies (`reasons[n]` for key n): `model_signing`'s with one key,
    /// else every key and why.
    fn rejected(&self, reasons: Vec<Option<KeyRejection>>) -> KeyVerifyError {
        let attempts: Vec<KeyAttempt> = self
            .keys
            .iter()
            .zip(reasons)
            .filter_map(|(k, reason)| {
                reason.map(|reason| KeyAttempt {
                    name: k.name.clone(),
                    hint: k.hint.clone(),
                    reason,
                })
            })
            .collect();
        match attempts.as_slice() {
            [only] if self.keys.len() == 1 => match only.reason {
                KeyRejection::HintMismatch { .. } => KeyVerifyError::KeyMismatch,
                KeyRejection::InvalidSignature(curve) => KeyVerifyError::InvalidSignature(curve),
            },
            _ => KeyVerifyError::NoKeyVerifies(attempts),
        }
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
        // (2) the hint (§6.1 step 2): a key whose hint differs is not the signer.
        let public_key = bundle
            .verification_material
            .public_key
            .as_ref()
            .ok_or_else(|| KeyVerifyError::NoPublicKey(material_kind(&bundle)))?;
        let signature_hint = match public_key.hint.as_deref() {
            Some(hint) if !hint.is_empty() => Some(hint.to_owned()),
            _ => None,
        };
        let mut warnings = Vec::new();
        if signature_hint.is_none() {
            match &self.warning_sink {
                Some(sink) => sink(LEGACY_HINT_WARNING),
                None => warnings.push(LEGACY_HINT_WARNING.to_owned()),
            }
        }
        // Why each key did not verify; `None` while it still may.
        let mut reasons: Vec<Option<KeyRejection>> = self
            .keys
            .iter()
            .map(|k| match &signature_hint {
                Some(hint) if *hint != k.hint => Some(KeyRejection::HintMismatch {
                    signature_hint: hint.clone(),
                }),
                _ => None,
            })
            .collect();
        if reasons.iter().all(Option::is_some) {
            return Err(self.rejected(reasons));
        }
        // (3) signatures[0] over the PAE, curve hash; compat PAE with the same hash.
        let envelope = signed_envelope(bundle)?;
        for (k, reason) in self.keys.iter().zip(&mut reasons) {
            if reason.is_some() {
                continue;
            }
            let curve = k.key.curve();
            if first_signature_verifies(&envelope, &k.key, curve.hash()) {
                return Ok(VerifiedEnvelope {
                    warnings,
                    ..verified(envelope, format!("public key sha256:{}", k.hint))
                });
            }
            *reason = Some(KeyRejection::InvalidSignature(curve));
        }
        Err(self.rejected(reasons))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{SigningKey, key_bundle};

    fn named(name: &str, key: &SigningKey) -> (String, EcPublicKey) {
        (name.to_owned(), key.public_key().clone())
    }

    #[test]
    fn any_trusted_key_verifies_and_a_failure_names_every_key() {
        let a = SigningKey::generate(Curve::P256).unwrap();
        let b = SigningKey::generate(Curve::P384).unwrap();
        let c = SigningKey::generate(Curve::P256).unwrap();
        let signed = key_bundle(&a, b"{\"x\":1}").unwrap();
        let with_hint = signed.to_json();
        let mut legacy = signed.clone();
        if let Some(pk) = legacy.verification_material.public_key.as_mut() {
            pk.hint = None;
        }
        let without_hint = legacy.to_json();
        let hint_a = a.public_key().hint();
        for (keys, bundle, want_ok) in [
            (vec![named("a", &a), named("b", &b)], &with_hint, true),
            (vec![named("b", &b), named("a", &a)], &with_hint, true),
            (vec![named("b", &b), named("a", &a)], &without_hint, true),
            (vec![named("b", &b), named("c", &c)], &with_hint, false),
            (vec![named("b", &b), named("c", &c)], &without_hint, false),
        ] {
            let names: Vec<String> = keys.iter().map(|(n, _)| n.clone()).collect();
            let verifier = KeyVerifier::any_of(keys).unwrap();
            match verifier.verify_bundle(bundle.as_bytes()) {
                Ok(env) => {
                    assert!(want_ok, "{names:?} verified");
                    assert_eq!(env.signer, format!("public key sha256:{hint_a}"));
                    assert_eq!(env.payload, b"{\"x\":1}");
                }
                Err(KeyVerifyError::NoKeyVerifies(attempts)) => {
                    assert!(!want_ok, "{names:?}: {attempts:?}");
                    let tried: Vec<&str> = attempts.iter().map(|t| t.name.as_str()).collect();
                    assert_eq!(tried, names);
                    let hinted = bundle == &with_hint;
                    for t in &attempts {
                        assert_eq!(
                            matches!(t.reason, KeyRejection::HintMismatch { .. }),
                            hinted,
                            "{t}"
                        );
                    }
                }
                Err(e) => panic!("{names:?}: {e}"),
            }
        }
        // The message names each key, its hint and why.
        let err = KeyVerifier::any_of([named("b.pub", &b), named("c.pub", &c)])
            .unwrap()
            .verify_bundle(without_hint.as_bytes())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "none of the 2 trusted public keys verifies the signature: 'b.pub' (sha256:{}): \
                 the DSSE signature does not verify with this secp384r1 key; 'c.pub' \
                 (sha256:{}): the DSSE signature does not verify with this secp256r1 key",
                b.public_key().hint(),
                c.public_key().hint()
            )
        );
        // One key keeps model_signing's errors.
        let one = KeyVerifier::any_of([named("c", &c)]).unwrap();
        assert!(matches!(
            one.verify_bundle(with_hint.as_bytes()),
            Err(KeyVerifyError::KeyMismatch)
        ));
        assert!(matches!(
            one.verify_bundle(without_hint.as_bytes()),
            Err(KeyVerifyError::InvalidSignature(Curve::P256))
        ));
        assert_eq!(
            KeyVerifier::any_of(Vec::new()).unwrap_err(),
            KeyError::NoKeys
        );
    }
}
