//! `verify sigstore`: keyless verification of a Sigstore bundle, offline
//! (`design/model-signing-format.md` §6.3 and §8).
//!
//! The work is split in two:
//! - a [`KeylessEngine`] does the cryptography of a Sigstore bundle (verified times, Fulcio
//!   chain, SCT, Rekor inclusion proof, checkpoint and SET, DSSE signature, entry body). The
//!   engine in use is [`SigstoreRsEngine`], an adapter on sigstore-rust's `sigstore-verify`;
//! - this module adds what sigstore-python checks and the library does not, or checks
//!   differently: strict bundle shape and media-type rules ([`bundle`]), the leaf profile and
//!   the identity policy with Python's semantics (`leaf`), and the checkpoint and entry-body
//!   bindings with Python's rules (`rekor`).
//!
//! Trust material ([`TrustMaterial`]) is embedded (public good, staging) or read from
//! `--trust_config` (a ClientTrustConfig or a bare `trusted_root.json`). Nothing here touches the
//! network.
//!
//! # Deliberate differences from sigstore-python 4.5.1 (`model_signing` 1.1.1)
//!
//! Accepts more:
//! - no `--trust_config`: the embedded public-good root (Python fetches it through TUF and fails
//!   offline); a bare `trusted_root.json` as `--trust_config` (Python: pydantic error);
//! - a leaf with only the v2 issuer extension (.1.8) equal to `--identity_provider`;
//! - the Sigstore username otherName SAN compared as a decoded UTF8String (Python compares the
//!   raw DER, tag and length included, which no `--identity` can match).
//!
//! Rejects more (each is a forgery or a broken trust file in practice):
//! - `validFor` of Rekor keys, CT keys, Fulcio CAs and TSAs is checked at the signing time (the
//!   SET's integratedTime, each TSA genTime); Python compares `start` with now and ignores `end`;
//! - any RFC 3161 timestamp that does not verify fails the bundle (Python drops it silently);
//!   a token must be a granted TimeStampResp with exactly one SignerInfo, consistent versions
//!   and algorithms, embedding only certificates of the trusted chain, from a TSA whose EKU is
//!   critical;
//! - the checkpoint must be signed by the entry's own log, for the proof's tree size and root
//!   (Rekor v2 included), with the signer name of its origin line and a strict note layout; v1
//!   and v2 issuer extensions must agree when both are present; the Rekor v2 proof index must
//!   equal the entry index;
//! - SCT and SET keys are looked up by log ID only (Python also tries every key).
//!
//! Not checked like Python: a leaf key other than P-256 signs the DSSE with the library's hash
//! for that curve (Python always uses SHA-256; no `model_signing` signer makes such leaves), and
//! a leaf that is valid BER but not strict DER is accepted if its chain verifies.

pub mod bundle;
mod engine;
mod json;
mod leaf;
mod read;
mod rekor;
mod subject;
pub mod trust;
mod tsa;

use crate::dsse::check_in_toto_payload_type;
use crate::method::{SignatureVerifier, VerifiedEnvelope};

use bundle::{BundleShapeError, CheckedBundle};
pub use engine::{EngineError, SigstoreRsEngine};
pub use json::ShapeError;
pub use leaf::{IdentityPolicy, LeafError, PolicyError};
pub use rekor::RekorError;
pub use subject::{PayloadError, statement_subject_sha256};
pub use trust::{TrustConfigError, TrustMaterial, TrustSource};
pub use tsa::{TimestampError, UnsignedFieldError};

/// Why a Sigstore bundle was rejected. The `Display` text is what the CLI prints after
/// `Verification failed with error: ` (sigstore-python's wording where the conformance README
/// records it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigstoreError {
    /// The bundle's shape, media type or entry layout is not acceptable (§6.3 (a)).
    #[error(transparent)]
    Bundle(#[from] BundleShapeError),
    /// The signing certificate's profile or identity is not acceptable (§6.3 (e)).
    #[error(transparent)]
    Certificate(#[from] LeafError),
    /// The Rekor entry, its checkpoint or its body is not acceptable (§6.3 (f), (i)).
    #[error(transparent)]
    Rekor(#[from] RekorError),
    /// An RFC 3161 timestamp breaks a rule the engine does not check (§6.3 (b)).
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
    /// The DSSE payload cannot be bound to an artifact digest.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The keyless engine rejected the bundle (times, chain, SCT, log proofs, signature).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The trust material cannot be used.
    #[error("cannot use trust material {origin}: {reason}")]
    TrustConfig {
        /// The file, or which embedded root.
        origin: TrustSource,
        /// What is wrong with it.
        reason: TrustConfigError,
    },
}

/// What the engine established besides "valid".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOutcome {
    /// Every verified signing time (unix seconds): SET `integratedTime` and TSA `genTime`s.
    pub verified_times: Vec<i64>,
}

/// What a successful keyless verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigstoreReport {
    /// The bundle's media-type version.
    pub bundle_version: crate::bundle::BundleVersion,
    /// The Rekor entry kind.
    pub entry_kind: bundle::EntryKind,
    /// Every verified signing time (unix seconds).
    pub verified_times: Vec<i64>,
}

/// The cryptographic core of keyless verification, behind a seam so the library can be swapped
/// (or pinned to a new version) without touching the policy code around it.
pub trait KeylessEngine {
    /// Verifies a (structurally checked) bundle whose DSSE statement must name
    /// `artifact_sha256` as a subject digest: verified times, certificate chain at every verified
    /// time, SCT, inclusion proof, checkpoint, SET, DSSE signature, entry body.
    fn verify(
        &self,
        bundle_json: &str,
        artifact_sha256: &[u8; 32],
    ) -> Result<EngineOutcome, SigstoreError>;
}

/// The `sigstore` signature method.
#[derive(Debug)]
pub struct SigstoreVerifier<E = SigstoreRsEngine> {
    policy: IdentityPolicy,
    trust: TrustMaterial,
    engine: E,
}

impl SigstoreVerifier<SigstoreRsEngine> {
    /// A verifier for the trusted signers `policy` against `trust`.
    pub fn new(policy: IdentityPolicy, trust: TrustMaterial) -> Result<Self, SigstoreError> {
        let engine = SigstoreRsEngine::new(&trust)?;
        Ok(Self {
            policy,
            trust,
            engine,
        })
    }
}

impl<E: KeylessEngine> SigstoreVerifier<E> {
    /// A verifier with another engine.
    pub fn with_engine(policy: IdentityPolicy, trust: TrustMaterial, engine: E) -> Self {
        Self {
            policy,
            trust,
            engine,
        }
    }

    /// The trust material in use.
    pub fn trust(&self) -> &TrustMaterial {
        &self.trust
    }

    /// Verifies a bundle and binds its statement to `root_digest` (the manifest root digest,
    /// lower-case hex SHA-256), as the keyless library wants an artifact digest.
    pub fn verify_bundle_for_digest(
        &self,
        bundle_json: &[u8],
        root_digest: &[u8; 32],
    ) -> Result<(VerifiedEnvelope, SigstoreReport), SigstoreError> {
        let checked = bundle::check(bundle_json)?;
        check_in_toto_payload_type(&checked.payload_type).map_err(PayloadError::from)?;
        self.verify_checked(checked, root_digest)
    }

    /// Steps (b)-(i) on a bundle that passed step (a) and carries an in-toto payload.
    fn verify_checked(
        &self,
        checked: CheckedBundle,
        root_digest: &[u8; 32],
    ) -> Result<(VerifiedEnvelope, SigstoreReport), SigstoreError> {
        let signer = leaf::check_leaf(&checked.leaf_der, &self.policy)?;
        tsa::check_timestamps(&checked.timestamp_tokens, self.trust.trusted_root())?;
        let outcome = self.engine.verify(&checked.engine_json, root_digest)?;
        // Every time source the bundle carries must have been verified and used: the SET's
        // integratedTime (Rekor v1) and each RFC 3161 timestamp.
        let set_time = checked
            .entry
            .integrated_time
            .filter(|_| checked.entry.has_promise);
        let expected = checked.timestamps + usize::from(set_time.is_some());
        let set_time_used = set_time.is_none_or(|t| outcome.verified_times.contains(&t));
        if outcome.verified_times.len() != expected || !set_time_used {
            return Err(EngineError::TimeCount {
                verified: outcome.verified_times.len(),
                expected,
            }
            .into());
        }
        rekor::check_checkpoint_binding(&checked, self.trust.trusted_root())?;
        rekor::check_body_binding(&checked)?;
        Ok((
            VerifiedEnvelope {
                payload_type: checked.payload_type,
                payload: checked.payload,
                signer,
                warnings: Vec::new(),
            },
            SigstoreReport {
                bundle_version: checked.version,
                entry_kind: checked.entry.kind,
                verified_times: outcome.verified_times,
            },
        ))
    }
}

impl<E: KeylessEngine> SignatureVerifier for SigstoreVerifier<E> {
    type Error = SigstoreError;

    fn method(&self) -> &'static str {
        "sigstore"
    }

    /// Verifies the bundle; the statement is bound to its own subject digest here, and the model
    /// check that follows recomputes that digest from the model.
    fn verify_bundle(&self, bundle_json: &[u8]) -> Result<VerifiedEnvelope, SigstoreError> {
        // One parse: the checked bundle yields the subject digest and is then verified.
        let checked = bundle::check(bundle_json)?;
        check_in_toto_payload_type(&checked.payload_type).map_err(PayloadError::from)?;
        let digest = statement_subject_sha256(&checked.payload)?;
        self.verify_checked(checked, &digest)
            .map(|(envelope, _)| envelope)
    }
}
