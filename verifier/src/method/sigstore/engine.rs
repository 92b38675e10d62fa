//! The adapter from [`super::KeylessEngine`] to sigstore-rust's `sigstore-verify`.

use sigstore_types::{Bundle, Sha256Hash};
use sigstore_verify::{VerificationPolicy, Verifier};

use super::trust::TrustMaterial;
use super::{EngineOutcome, KeylessEngine, SigstoreError};

/// The keyless engine built on `sigstore-verify` (pinned exactly; no `tuf` feature, so it can
/// never reach the network).
///
/// It checks (§6.3): verified times from the SET-authenticated `integratedTime` and from RFC 3161
/// timestamps of trusted TSAs, the Fulcio chain and leaf validity at every verified time with
/// EKU codeSigning, exactly one embedded SCT against the CT logs, the Merkle inclusion proof and
/// the signed checkpoint, the SET over the canonical JSON, the DSSE signature with the leaf key,
/// the entry body against the envelope, and the statement subject against the digest it is
/// given. It runs with an any-identity policy: the identity policy is checked by
/// [`super::leaf`] with sigstore-python's semantics.
pub struct SigstoreRsEngine {
    verifier: Verifier,
}

impl std::fmt::Debug for SigstoreRsEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigstoreRsEngine").finish_non_exhaustive()
    }
}

impl SigstoreRsEngine {
    /// Prepares the engine for a trusted root (parses and checks every key and certificate).
    pub fn new(trust: &TrustMaterial) -> Result<Self, SigstoreError> {
        let verifier =
            Verifier::new(trust.trusted_root()).map_err(|e| SigstoreError::TrustConfig {
                source_name: trust.source().to_string(),
                reason: e.to_string(),
            })?;
        Ok(Self { verifier })
    }
}

impl KeylessEngine for SigstoreRsEngine {
    fn verify(
        &self,
        bundle_json: &str,
        artifact_sha256: &[u8; 32],
    ) -> Result<EngineOutcome, SigstoreError> {
        let bundle = Bundle::from_json(bundle_json)
            .map_err(|e| SigstoreError::Bundle(format!("invalid Sigstore bundle: {e}")))?;
        let digest = Sha256Hash::from(*artifact_sha256);
        let result = self
            .verifier
            .verify(digest, &bundle, &VerificationPolicy::any_identity())
            .map_err(|e| SigstoreError::Engine(e.to_string()))?;
        // Fail closed if a future version of the library stops reporting what it checked.
        if !result.certificate_verified() || !result.sct_verified() || !result.tlog_verified() {
            return Err(SigstoreError::Engine(
                "the keyless engine skipped a required check".into(),
            ));
        }
        let verified_times = result
            .verified_timestamps()
            .iter()
            .map(|t| t.as_second())
            .collect::<Vec<_>>();
        if verified_times.is_empty() {
            return Err(SigstoreError::Engine(
                "not enough sources of verified time".into(),
            ));
        }
        Ok(EngineOutcome { verified_times })
    }
}
