//! The adapter from [`super::KeylessEngine`] to sigstore-rust's `sigstore-verify`.

use sigstore_types::{Bundle, Sha256Hash};
use sigstore_verify::{VerificationPolicy, Verifier};

use super::bundle::BundleShapeError;
use super::trust::TrustConfigError;
use super::trust::TrustMaterial;
use super::{EngineOutcome, KeylessEngine, SigstoreError};

/// Why the keyless engine rejected a bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The library rejected the bundle (times, chain, SCT, log proofs, signature).
    #[error(transparent)]
    Rejected(#[from] sigstore_verify::Error),
    /// The library reported a required check as not done.
    #[error("the keyless engine skipped a required check")]
    SkippedCheck,
    /// The library verified no signing time.
    #[error("not enough sources of verified time")]
    NoVerifiedTime,
    /// The library verified another number of signing times than the bundle carries.
    #[error(
        "the keyless engine verified {verified} signing time(s), the bundle carries {expected}"
    )]
    TimeCount {
        /// How many times the engine verified.
        verified: usize,
        /// How many time sources the bundle carries.
        expected: usize,
    },
}

/// The keyless engine built on `sigstore-verify` (pinned exactly; no `tuf` feature, so it can
/// never reach the network).
///
/// It checks (§6.3): verified times from the SET-authenticated `integratedTime` and from RFC 3161
/// timestamps of trusted TSAs, the Fulcio chain and leaf validity at every verified time with
/// EKU codeSigning, exactly one embedded SCT against the CT logs, the Merkle inclusion proof and
/// the signed checkpoint, the SET over the canonical JSON, the DSSE signature with the leaf key,
/// the entry body against the envelope, and the statement subject against the digest it is
/// given. It runs with an any-identity policy: the identity policy is checked by
/// `leaf` with sigstore-python's semantics.
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
                origin: trust.source().clone(),
                reason: TrustConfigError::Library(e),
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
        let bundle = Bundle::from_json(bundle_json).map_err(BundleShapeError::Engine)?;
        let digest = Sha256Hash::from(*artifact_sha256);
        let result = self
            .verifier
            .verify(digest, &bundle, &VerificationPolicy::any_identity())
            .map_err(EngineError::Rejected)?;
        // Fail closed if a future version of the library stops reporting what it checked.
        if !result.certificate_verified() || !result.sct_verified() || !result.tlog_verified() {
            return Err(EngineError::SkippedCheck.into());
        }
        let verified_times = result
            .verified_timestamps()
            .iter()
            .map(|t| t.as_second())
            .collect::<Vec<_>>();
        if verified_times.is_empty() {
            return Err(EngineError::NoVerifiedTime.into());
        }
        Ok(EngineOutcome { verified_times })
    }
}
