//! `verify sigstore`: keyless verification of a Sigstore bundle, offline
//! (`design/model-signing-format.md` §6.3 and §8).
//!
//! The work is split in two:
//! - a [`KeylessEngine`] does the cryptography of a Sigstore bundle (verified times, Fulcio
//!   chain, SCT, Rekor inclusion proof, checkpoint and SET, DSSE signature, entry body). The
//!   engine in use is [`SigstoreRsEngine`], an adapter on sigstore-rust's `sigstore-verify`;
//! - this module adds what sigstore-python checks and the library does not, or checks
//!   differently: strict bundle shape and media-type rules ([`bundle`]), the leaf profile and
//!   the identity policy with Python's semantics ([`leaf`]), and the checkpoint and entry-body
//!   bindings with Python's rules ([`rekor`]).
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
pub mod engine;
pub mod leaf;
pub mod rekor;
pub mod trust;
pub mod tsa;

use crate::method::{SignatureVerifier, VerifiedEnvelope};

pub use engine::SigstoreRsEngine;
pub use leaf::IdentityPolicy;
pub use trust::{TrustMaterial, TrustSource};

/// The in-toto payload type model signatures carry.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Why a Sigstore bundle was rejected. The `Display` text is what the CLI prints after
/// `Verification failed with error: ` (sigstore-python's wording where the conformance README
/// records it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigstoreError {
    /// The bundle's shape, media type or entry layout is not acceptable (§6.3 (a)).
    #[error("{0}")]
    Bundle(String),
    /// The signing certificate's profile is not acceptable (§6.3 (e)).
    #[error("{0}")]
    Certificate(String),
    /// The OIDC issuer extension differs from `--identity_provider`.
    #[error("Certificate's OIDCIssuer does not match (got '{got}', expected '{expected}')")]
    IssuerMismatch {
        /// The issuer the certificate names.
        got: String,
        /// `--identity_provider`.
        expected: String,
    },
    /// No SAN equals `--identity`.
    #[error(
        "Certificate's SANs do not match {expected}; actual SANs: {{{}}}",
        quoted(actual)
    )]
    IdentityMismatch {
        /// `--identity`.
        expected: String,
        /// The certificate's email, URI and username SANs, sorted.
        actual: Vec<String>,
    },
    /// The Rekor entry, its checkpoint or its body is not acceptable (§6.3 (f), (i)).
    #[error("{0}")]
    Rekor(String),
    /// An RFC 3161 timestamp breaks a rule the engine does not check (§6.3 (b)).
    #[error("{0}")]
    Timestamp(String),
    /// The DSSE payload cannot be bound to an artifact digest.
    #[error("{0}")]
    Payload(String),
    /// The keyless engine rejected the bundle (times, chain, SCT, log proofs, signature).
    #[error("{0}")]
    Engine(String),
    /// The trust material cannot be used.
    #[error("cannot use trust material {source_name}: {reason}")]
    TrustConfig {
        /// The file, or which embedded root.
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
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
    pub bundle_version: bundle::BundleVersion,
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
    /// A verifier for `--identity`/`--identity_provider` against `trust`.
    pub fn new(policy: IdentityPolicy, trust: TrustMaterial) -> Result<Self, SigstoreError> {
        let engine = SigstoreRsEngine::new(&trust)?;
        Ok(Self {
            policy,
            trust,
            engine,
        })
    }

    /// The verifier the CLI builds: `--trust_config` if given, else the embedded staging root with
    /// `--use_staging`, else the embedded public-good root.
    pub fn from_args(args: &mv_shared::verify::SigstoreArgs) -> Result<Self, SigstoreError> {
        let trust = match (&args.trust_config, args.use_staging) {
            (Some(path), _) => TrustMaterial::from_file(path)?,
            (None, true) => TrustMaterial::staging()?,
            (None, false) => TrustMaterial::public_good()?,
        };
        Self::new(
            IdentityPolicy {
                identity: args.identity.clone(),
                issuer: args.identity_provider.clone(),
            },
            trust,
        )
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
        if checked.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(SigstoreError::Payload(format!(
                "Expected DSSE payload {IN_TOTO_PAYLOAD_TYPE}, but got {}",
                checked.payload_type
            )));
        }
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
            return Err(SigstoreError::Engine(format!(
                "the keyless engine verified {} signing time(s), the bundle carries {expected}",
                outcome.verified_times.len()
            )));
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

/// The first subject's SHA-256 digest of an in-toto statement: the manifest root digest for the
/// v1.0 predicate (the model check later recomputes it from the resources and from the model).
pub fn statement_subject_sha256(payload: &[u8]) -> Result<[u8; 32], SigstoreError> {
    // The payload is not authenticated yet: read only `subject[0].digest.sha256` into typed
    // structures and skip everything else unbuilt, so memory stays bounded (issue 18).
    let no_subject = || {
        SigstoreError::Payload("the in-toto statement has no subject with a sha256 digest".into())
    };
    let statement: SubjectsOnly<'_> = match serde_json::from_slice(payload) {
        Ok(s) => s,
        // Valid JSON of another shape (a subject that is not a list of objects...).
        Err(e) if e.is_data() => return Err(no_subject()),
        Err(e) => {
            return Err(SigstoreError::Payload(format!(
                "the DSSE payload is not JSON: {e}"
            )));
        }
    };
    let hex_digest = statement
        .subject
        .0
        .and_then(|s| s.digest)
        .and_then(|d| d.sha256)
        .ok_or_else(no_subject)?;
    let hex_digest: &str = &hex_digest;
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut out).map_err(|_| {
        SigstoreError::Payload(format!(
            "the subject digest is not a hex SHA-256: '{hex_digest}'"
        ))
    })?;
    Ok(out)
}

/// An in-toto statement, only as far as its first subject's SHA-256 digest.
#[derive(serde::Deserialize)]
struct SubjectsOnly<'a> {
    #[serde(default, borrow)]
    subject: FirstSubject<'a>,
}

/// The first element of `subject`; the others are skipped without being built.
#[derive(Default)]
struct FirstSubject<'a>(Option<SubjectDigest<'a>>);

#[derive(serde::Deserialize)]
struct SubjectDigest<'a> {
    #[serde(default, borrow)]
    digest: Option<Sha256Only<'a>>,
}

#[derive(serde::Deserialize)]
struct Sha256Only<'a> {
    #[serde(default, borrow)]
    sha256: Option<std::borrow::Cow<'a, str>>,
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for FirstSubject<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct First<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for First<'a> {
            type Value = FirstSubject<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of subjects")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<SubjectDigest<'a>>()?;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(FirstSubject(first))
            }
        }
        d.deserialize_seq(First(std::marker::PhantomData))
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
        let checked = bundle::check(bundle_json)?;
        let digest = if checked.payload_type == IN_TOTO_PAYLOAD_TYPE {
            statement_subject_sha256(&checked.payload)?
        } else {
            [0u8; 32]
        };
        self.verify_bundle_for_digest(bundle_json, &digest)
            .map(|(envelope, _)| envelope)
    }
}
