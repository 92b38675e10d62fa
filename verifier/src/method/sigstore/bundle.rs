//! Step (a) of `design/model-signing-format.md` §6.3: the bundle, read once into the one typed
//! model ([`crate::bundle::Bundle`], under [`crate::bundle::Profile::Sigstore`], by `read`),
//! checked before any cryptography, and normalised for the keyless engine.
//!
//! sigstore-python parses bundles with strict models (unknown fields are errors, `uint64` fields
//! must be JSON strings, `bytes` fields are standard base64). The Rust library is more lenient
//! (it ignores unknown fields, accepts several entry kinds and takes intermediates from the
//! bundle), so everything Python rejects at this stage is rejected here.

use serde_json::Value;

use super::SigstoreError;
use super::json::ShapeError;
use super::read;
use super::rekor::RekorError;
use crate::bundle::{
    Base64Error, Bundle, BundleVersion, InclusionProof, ProtoU64, Signature,
    TimestampVerificationData, TransparencyLogEntry,
};

/// The Rekor entry kinds a DSSE bundle may carry (§6.3 (i)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// `dsse` 0.0.1 (Rekor v1).
    DsseV001,
    /// `hashedrekord` 0.0.2 (Rekor v2).
    HashedRekordV002,
}

/// The one transparency-log entry, decoded.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) kind: EntryKind,
    pub(crate) log_id: Vec<u8>,
    pub(crate) canonicalized_body: Vec<u8>,
    pub(crate) integrated_time: Option<i64>,
    pub(crate) has_promise: bool,
    pub(crate) checkpoint: String,
    pub(crate) tree_size: u64,
    pub(crate) root_hash: Vec<u8>,
}

/// A bundle that passed step (a).
#[derive(Debug, Clone)]
pub(crate) struct CheckedBundle {
    /// The bundle JSON handed to the keyless engine: the input with `keyid: null` dropped and, for
    /// 0.1/0.2 chains, only the leaf kept (Python never uses bundle-supplied intermediates).
    pub(crate) engine_json: String,
    /// The media type's version.
    pub(crate) version: BundleVersion,
    pub(crate) leaf_der: Vec<u8>,
    pub(crate) payload_type: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
    pub(crate) entry: Entry,
    pub(crate) timestamps: usize,
    /// The DER of each RFC 3161 timestamp.
    pub(crate) timestamp_tokens: Vec<Vec<u8>>,
}

/// Why a bundle failed step (a). The messages are those the conformance tests expect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleShapeError {
    /// More JSON values than any real bundle has.
    #[error(transparent)]
    TooManyValues(#[from] crate::json_limits::TooManyValues),
    /// The file is not JSON.
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
    /// A member has the wrong JSON type or is missing.
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// A member outside the bundle's field set.
    #[error("{0} (not a valid Sigstore bundle)")]
    UnknownField(ShapeError),
    /// A `bytes` member that is not standard base64.
    #[error("{path} is not valid base64: {error}")]
    Base64 {
        /// The JSON path.
        path: String,
        /// The decoder's complaint.
        error: Base64Error,
    },
    /// A `uint64` member that is not a JSON string.
    #[error("{path} must be a string holding an integer")]
    IntegerNotAString {
        /// The JSON path.
        path: String,
    },
    /// A `uint64` member that is not decimal digits.
    #[error("{path} is not an unsigned integer: '{value}'")]
    NotAnUnsignedInteger {
        /// The JSON path.
        path: String,
        /// The string found.
        value: String,
    },
    /// A `uint64` member above `u64::MAX`.
    #[error("{path} is out of range: '{value}'")]
    OutOfRange {
        /// The JSON path.
        path: String,
        /// The string found.
        value: String,
    },
    /// An `int64` member above `i64::MAX`.
    #[error("{path} is out of range: {value}")]
    OutOfRangeI64 {
        /// The JSON path.
        path: String,
        /// The value found.
        value: u64,
    },
    /// A media type the sigstore method does not accept.
    #[error("unsupported bundle format: {0}")]
    UnsupportedMediaType(String),
    /// Not exactly one kind of verification material.
    #[error(
        "verificationMaterial must hold exactly one of publicKey, x509CertificateChain, certificate"
    )]
    VerificationMaterialOneOf,
    /// A v0.3 bundle without `certificate`.
    #[error("expected certificate in bundle")]
    ExpectedCertificate,
    /// A v0.1/v0.2 bundle without a certificate chain.
    #[error("expected certificate chain in bundle")]
    ExpectedCertificateChain,
    /// The leaf certificate has no bytes.
    #[error("the signing certificate is empty")]
    EmptyCertificate,
    /// A `bytes` member that must not be empty is.
    #[error("{path} is empty")]
    Empty {
        /// The JSON path.
        path: String,
    },
    /// More RFC 3161 timestamps than sigstore-python accepts.
    #[error("too many signed timestamps: {count} > {MAX_TIMESTAMPS}")]
    TooManyTimestamps {
        /// How many the bundle carries.
        count: usize,
    },
    /// The same RFC 3161 timestamp twice.
    #[error("duplicate signed timestamps in bundle")]
    DuplicateTimestamps,
    /// Not exactly one transparency-log entry.
    #[error("expected exactly one log entry in bundle")]
    NotOneLogEntry,
    /// A `messageSignature` instead of a DSSE envelope.
    #[error("the bundle holds a message signature, not a DSSE envelope: model signatures are DSSE")]
    MessageSignature,
    /// Not exactly one non-empty DSSE signature.
    #[error("envelope must contain exactly one signature")]
    NotOneSignature,
    /// A `keyid` that is neither a string nor null.
    #[error("dsseEnvelope.signatures[0].keyid must be a string or null")]
    BadKeyId,
    /// The normalised bundle could not be written back.
    #[error("cannot re-encode the bundle: {0}")]
    Reencode(serde_json::Error),
    /// A log entry version other than 0.0.1 and 0.0.2.
    #[error("unsupported log entry version {0} (expected 0.0.1 or 0.0.2)")]
    UnsupportedEntryVersion(String),
    /// No inclusion proof, or one without a checkpoint.
    #[error("entry must contain inclusion proof, with checkpoint")]
    NoCheckpoint,
    /// An inclusion proof whose index is outside its tree.
    #[error("inclusion proof has log index {log_index} outside a tree of size {tree_size}")]
    ProofIndexOutsideTree {
        /// `inclusionProof.logIndex`.
        log_index: u64,
        /// `inclusionProof.treeSize`.
        tree_size: u64,
    },
    /// A Merkle hash that is not 32 bytes.
    #[error("{path} must be 32 bytes")]
    NotAHash {
        /// The JSON path.
        path: String,
    },
    /// A v0.1 bundle without an inclusion promise.
    #[error("bundle must contain an inclusion promise")]
    NoInclusionPromise,
    /// A v0.2/v0.3 bundle with neither an inclusion promise nor a timestamp.
    #[error("bundle must contain an inclusion promise or signed timestamp(s)")]
    NoTimeSource,
    /// A Rekor v2 proof whose index differs from the entry's.
    #[error("inclusionProof.logIndex {proof_index} differs from the entry's logIndex {log_index}")]
    ProofIndexMismatch {
        /// `inclusionProof.logIndex`.
        proof_index: u64,
        /// The entry's `logIndex`.
        log_index: u64,
    },
    /// The keyless engine's own bundle parser refused the normalised bundle.
    #[error("invalid Sigstore bundle: {0}")]
    Engine(sigstore_types::Error),
}

/// The most RFC 3161 timestamps a bundle may carry (sigstore-python's limit).
const MAX_TIMESTAMPS: usize = 32;

/// Step (a): parse once (the typed [`Bundle`] under [`crate::bundle::Profile::Sigstore`]),
/// check what the bundle must mean, and normalise the JSON for the keyless engine.
pub(crate) fn check(bundle_json: &[u8]) -> Result<CheckedBundle, SigstoreError> {
    crate::json_limits::check(bundle_json, crate::json_limits::MAX_JSON_VALUES)
        .map_err(BundleShapeError::from)?;
    let mut value: Value =
        serde_json::from_slice(bundle_json).map_err(BundleShapeError::NotJson)?;
    let (version, bundle) = read::read(&value)?;
    let checked = view(version, bundle)?;
    normalise(&mut value, version);
    let engine_json = serde_json::to_string(&value).map_err(BundleShapeError::Reencode)?;
    Ok(CheckedBundle {
        engine_json,
        ..checked
    })
}

/// The checked Sigstore view of a bundle [`read::read`] produced (`engine_json` left empty).
fn view(version: BundleVersion, bundle: Bundle) -> Result<CheckedBundle, SigstoreError> {
    let Bundle {
        verification_material: vm,
        dsse_envelope,
        ..
    } = bundle;
    let leaf_der = match (vm.certificate, vm.x509_certificate_chain) {
        (Some(cert), _) => cert.raw_bytes.0,
        (None, Some(chain)) => {
            chain
                .certificates
                .into_iter()
                .next()
                .ok_or(BundleShapeError::ExpectedCertificateChain)?
                .raw_bytes
                .0
        }
        (None, None) => return Err(BundleShapeError::ExpectedCertificate.into()),
    };
    if leaf_der.is_empty() {
        return Err(BundleShapeError::EmptyCertificate.into());
    }
    let timestamp_tokens = timestamp_tokens(vm.timestamp_verification_data)?;
    let timestamps = timestamp_tokens.len();
    let [entry] = <[TransparencyLogEntry; 1]>::try_from(vm.tlog_entries)
        .map_err(|_| BundleShapeError::NotOneLogEntry)?;
    let entry = check_entry(entry, version, timestamps)?;
    let envelope = dsse_envelope.ok_or(BundleShapeError::Shape(ShapeError::Missing {
        path: "bundle".into(),
        key: "dsseEnvelope",
    }))?;
    let signature = match <[Signature; 1]>::try_from(envelope.signatures) {
        Ok([s]) if !s.sig.is_empty() => s.sig.0,
        _ => return Err(BundleShapeError::NotOneSignature.into()),
    };
    Ok(CheckedBundle {
        engine_json: String::new(),
        version,
        leaf_der,
        payload_type: envelope.payload_type,
        payload: envelope.payload.0,
        signature,
        entry,
        timestamps,
        timestamp_tokens,
    })
}

/// The meaning of the one log entry: a supported kind, a time source, a checkpoint, a proof
/// inside its tree with 32-byte hashes.
fn check_entry(
    e: TransparencyLogEntry,
    version: BundleVersion,
    timestamps: usize,
) -> Result<Entry, SigstoreError> {
    let (kind, kv_version) = (
        e.kind_version.kind.as_str(),
        e.kind_version.version.as_str(),
    );
    if kv_version != "0.0.1" && kv_version != "0.0.2" {
        return Err(BundleShapeError::UnsupportedEntryVersion(kv_version.to_owned()).into());
    }
    let kind = match (kind, kv_version) {
        ("dsse", "0.0.1") => EntryKind::DsseV001,
        ("hashedrekord", "0.0.2") => EntryKind::HashedRekordV002,
        (k, v) => {
            return Err(RekorError::UnsupportedEntryType {
                kind: k.to_owned(),
                version: v.to_owned(),
            }
            .into());
        }
    };
    let integrated_time = match e.integrated_time {
        Some(ProtoU64(t)) => {
            Some(
                i64::try_from(t).map_err(|_| BundleShapeError::OutOfRangeI64 {
                    path: "tlogEntries[0].integratedTime".into(),
                    value: t,
                })?,
            )
        }
        None => None,
    };
    let has_promise = match e.inclusion_promise {
        Some(promise) if promise.signed_entry_timestamp.is_empty() => {
            return Err(BundleShapeError::Empty {
                path: "inclusionPromise.signedEntryTimestamp".into(),
            }
            .into());
        }
        Some(_) => true,
        None => false,
    };
    let Proof {
        log_index: proof_index,
        tree_size,
        root_hash,
        checkpoint,
    } = inclusion_proof(e.inclusion_proof)?;
    let log_index = e.log_index.0;

    match version {
        BundleVersion::V0_1 if !has_promise => {
            return Err(BundleShapeError::NoInclusionPromise.into());
        }
        BundleVersion::V0_2 | BundleVersion::V0_3 if !has_promise && timestamps == 0 => {
            return Err(BundleShapeError::NoTimeSource.into());
        }
        _ => {}
    }
    // Rekor v2 repeats the shard-local index in the proof; sigstore-python folds the proof with
    // the proof's copy, the library with the entry's: they must agree.
    if kind == EntryKind::HashedRekordV002 && proof_index != log_index {
        return Err(BundleShapeError::ProofIndexMismatch {
            proof_index,
            log_index,
        }
        .into());
    }
    if has_promise && integrated_time.is_some() && kind == EntryKind::HashedRekordV002 {
        return Err(RekorError::IntegratedTimeOnV2.into());
    }

    Ok(Entry {
        kind,
        log_id: e.log_id.key_id.0,
        canonicalized_body: e.canonicalized_body.0,
        integrated_time,
        has_promise,
        checkpoint,
        tree_size,
        root_hash,
    })
}

/// The DER of each RFC 3161 timestamp (none empty, at most [`MAX_TIMESTAMPS`], no duplicates).
fn timestamp_tokens(
    tvd: Option<TimestampVerificationData>,
) -> Result<Vec<Vec<u8>>, BundleShapeError> {
    let list = tvd.map(|t| t.rfc3161_timestamps).unwrap_or_default();
    if let Some(i) = list.iter().position(|ts| ts.signed_timestamp.is_empty()) {
        return Err(BundleShapeError::Empty {
            path: format!("rfc3161Timestamps[{i}].signedTimestamp"),
        });
    }
    if list.len() > MAX_TIMESTAMPS {
        return Err(BundleShapeError::TooManyTimestamps { count: list.len() });
    }
    // Strict base64 is one-to-one, so equal tokens are equal strings in the JSON.
    let mut seen = std::collections::HashSet::new();
    if !list.iter().all(|ts| seen.insert(&ts.signed_timestamp.0)) {
        return Err(BundleShapeError::DuplicateTimestamps);
    }
    Ok(list.into_iter().map(|ts| ts.signed_timestamp.0).collect())
}

/// The inclusion proof's checked parts.
struct Proof {
    log_index: u64,
    tree_size: u64,
    root_hash: Vec<u8>,
    checkpoint: String,
}

/// The inclusion proof: a non-empty checkpoint, an index inside the tree, 32-byte hashes.
fn inclusion_proof(proof: InclusionProof) -> Result<Proof, BundleShapeError> {
    let checkpoint = proof
        .checkpoint
        .map(|cp| cp.envelope)
        .filter(|s| !s.is_empty())
        .ok_or(BundleShapeError::NoCheckpoint)?;
    let (log_index, tree_size) = (proof.log_index.0, proof.tree_size.0);
    if tree_size <= log_index {
        return Err(BundleShapeError::ProofIndexOutsideTree {
            log_index,
            tree_size,
        });
    }
    if proof.root_hash.len() != 32 {
        return Err(BundleShapeError::NotAHash {
            path: "inclusionProof.rootHash".into(),
        });
    }
    if let Some(i) = proof.hashes.iter().position(|h| h.len() != 32) {
        return Err(BundleShapeError::NotAHash {
            path: format!("inclusionProof.hashes[{i}]"),
        });
    }
    Ok(Proof {
        log_index,
        tree_size,
        root_hash: proof.root_hash.0,
        checkpoint,
    })
}

/// certificate after the leaf: sigstore-python builds the path from the trust root alone.
fn normalise(value: &mut Value, version: BundleVersion) {
    if let Some(sigs) = value
        .pointer_mut("/dsseEnvelope/signatures")
        .and_then(Value::as_array_mut)
    {
        for s in sigs {
            if let Some(o) = s.as_object_mut()
                && o.get("keyid").is_some_and(Value::is_null)
            {
                o.remove("keyid");
            }
        }
    }
    if version != BundleVersion::V0_3
        && let Some(certs) = value
            .pointer_mut("/verificationMaterial/x509CertificateChain/certificates")
            .and_then(Value::as_array_mut)
    {
        certs.truncate(1);
    }
    if value
        .pointer("/verificationMaterial/timestampVerificationData")
        .is_some_and(Value::is_null)
        && let Some(vm) = value
            .pointer_mut("/verificationMaterial")
            .and_then(Value::as_object_mut)
    {
        vm.remove("timestampVerificationData");
    }
}
