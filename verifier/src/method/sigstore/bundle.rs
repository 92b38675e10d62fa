//! Step (a) of `design/model-signing-format.md` §6.3: the bundle's shape, checked strictly before
//! any cryptography, and normalised for the keyless engine.
//!
//! sigstore-python parses bundles with strict models (unknown fields are errors, `uint64` fields
//! must be JSON strings, `bytes` fields are standard base64). The Rust library is more lenient
//! (it ignores unknown fields, accepts several entry kinds and takes intermediates from the
//! bundle), so everything Python rejects at this stage is rejected here.

use serde_json::{Map, Value};

use super::SigstoreError;
use super::json::{self, ShapeError, member, object, only_fields};
use super::rekor::RekorError;
use crate::bundle::{Base64Error, Base64Rule, BundleVersion, IntegerError, IntegerRule};

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

fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, BundleShapeError> {
    Ok(object(v, path)?)
}

fn fields(o: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), BundleShapeError> {
    only_fields(o, path, allowed).map_err(BundleShapeError::UnknownField)
}

fn get<'a>(
    o: &'a Map<String, Value>,
    key: &'static str,
    path: &str,
) -> Result<&'a Value, BundleShapeError> {
    Ok(member(o, key, path)?)
}

fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str, BundleShapeError> {
    Ok(json::string(v, path)?)
}

/// A protobuf `bytes` field, under the sigstore method's rule ([`Base64Rule::Strict`]).
fn bytes(v: &Value, path: &str) -> Result<Vec<u8>, BundleShapeError> {
    Base64Rule::Strict
        .decode(string(v, path)?)
        .map_err(|error| BundleShapeError::Base64 {
            path: path.to_owned(),
            error,
        })
}

/// A protobuf `uint64` field: a JSON string, under the sigstore method's rule
/// ([`IntegerRule::DecimalDigits`]).
fn uint64(v: &Value, path: &str) -> Result<u64, BundleShapeError> {
    let s = v
        .as_str()
        .ok_or_else(|| BundleShapeError::IntegerNotAString {
            path: path.to_owned(),
        })?;
    IntegerRule::DecimalDigits.parse(s).map_err(|e| match e {
        IntegerError::NotAnInteger => BundleShapeError::NotAnUnsignedInteger {
            path: path.to_owned(),
            value: s.to_owned(),
        },
        IntegerError::OutOfRange => BundleShapeError::OutOfRange {
            path: path.to_owned(),
            value: s.to_owned(),
        },
    })
}

fn int64(v: &Value, path: &str) -> Result<i64, BundleShapeError> {
    let n = uint64(v, path)?;
    i64::try_from(n).map_err(|_| BundleShapeError::OutOfRangeI64 {
        path: path.to_owned(),
        value: n,
    })
}

/// Step (a): parse, check and normalise.
pub(crate) fn check(bundle_json: &[u8]) -> Result<CheckedBundle, SigstoreError> {
    crate::json_limits::check(bundle_json, crate::json_limits::MAX_JSON_VALUES)
        .map_err(BundleShapeError::from)?;
    let mut value: Value =
        serde_json::from_slice(bundle_json).map_err(BundleShapeError::NotJson)?;
    let top = obj(&value, "bundle")?;
    fields(
        top,
        "bundle",
        &[
            "mediaType",
            "verificationMaterial",
            "dsseEnvelope",
            "messageSignature",
        ],
    )?;
    let media_type = string(get(top, "mediaType", "bundle")?, "mediaType")?;
    let version = BundleVersion::from_media_type(media_type)
        .ok_or_else(|| BundleShapeError::UnsupportedMediaType(media_type.to_owned()))?;

    // --- verification material
    let vm = obj(
        get(top, "verificationMaterial", "bundle")?,
        "verificationMaterial",
    )?;
    fields(
        vm,
        "verificationMaterial",
        &[
            "publicKey",
            "x509CertificateChain",
            "certificate",
            "tlogEntries",
            "timestampVerificationData",
        ],
    )?;
    let material_count = ["publicKey", "x509CertificateChain", "certificate"]
        .iter()
        .filter(|k| vm.contains_key(**k))
        .count();
    if material_count != 1 {
        return Err(BundleShapeError::VerificationMaterialOneOf.into());
    }
    let leaf_der = leaf_certificate(vm, version)?;
    if leaf_der.is_empty() {
        return Err(BundleShapeError::EmptyCertificate.into());
    }

    let timestamp_tokens = timestamp_tokens(vm)?;
    let timestamps = timestamp_tokens.len();

    // --- the log entry
    let entries = match vm.get("tlogEntries") {
        Some(v) => v
            .as_array()
            .ok_or_else(|| {
                BundleShapeError::from(ShapeError::NotAnArray {
                    path: "verificationMaterial.tlogEntries".into(),
                })
            })?
            .as_slice(),
        None => &[],
    };
    if entries.len() != 1 {
        return Err(BundleShapeError::NotOneLogEntry.into());
    }
    let entry = check_entry(&entries[0], version, timestamps)?;

    let (payload_type, payload, signature) = dsse_content(top)?;

    // --- normalise for the engine
    normalise(&mut value, version);
    let engine_json = serde_json::to_string(&value).map_err(BundleShapeError::Reencode)?;

    Ok(CheckedBundle {
        engine_json,
        version,
        leaf_der,
        payload_type,
        payload,
        signature,
        entry,
        timestamps,
        timestamp_tokens,
    })
}

fn check_entry(
    v: &Value,
    version: BundleVersion,
    timestamps: usize,
) -> Result<Entry, SigstoreError> {
    let p = "tlogEntries[0]";
    let e = obj(v, p)?;
    fields(
        e,
        p,
        &[
            "logIndex",
            "logId",
            "kindVersion",
            "integratedTime",
            "inclusionPromise",
            "inclusionProof",
            "canonicalizedBody",
        ],
    )?;
    let log_index = uint64(get(e, "logIndex", p)?, "tlogEntries[0].logIndex")?;
    let log_id = obj(get(e, "logId", p)?, "tlogEntries[0].logId")?;
    fields(log_id, "tlogEntries[0].logId", &["keyId"])?;
    let log_id = bytes(
        get(log_id, "keyId", "tlogEntries[0].logId")?,
        "tlogEntries[0].logId.keyId",
    )?;
    let kv = obj(get(e, "kindVersion", p)?, "tlogEntries[0].kindVersion")?;
    fields(kv, "tlogEntries[0].kindVersion", &["kind", "version"])?;
    let kind = string(
        get(kv, "kind", "tlogEntries[0].kindVersion")?,
        "kindVersion.kind",
    )?;
    let kv_version = string(
        get(kv, "version", "tlogEntries[0].kindVersion")?,
        "kindVersion.version",
    )?;
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
    let integrated_time = match e.get("integratedTime") {
        Some(t) => Some(int64(t, "tlogEntries[0].integratedTime")?),
        None => None,
    };
    let has_promise = has_inclusion_promise(e)?;
    let Proof {
        log_index: proof_index,
        tree_size,
        root_hash,
        checkpoint,
    } = inclusion_proof(e)?;
    let canonicalized_body = bytes(
        get(e, "canonicalizedBody", p)?,
        "tlogEntries[0].canonicalizedBody",
    )?;

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
        log_id,
        canonicalized_body,
        integrated_time,
        has_promise,
        checkpoint,
        tree_size,
        root_hash,
    })
}

/// The signing certificate's DER: `certificate` in v0.3, the chain's first in v0.1/v0.2.
fn leaf_certificate(
    vm: &Map<String, Value>,
    version: BundleVersion,
) -> Result<Vec<u8>, BundleShapeError> {
    Ok(match version {
        BundleVersion::V0_3 => {
            let cert = vm
                .get("certificate")
                .ok_or(BundleShapeError::ExpectedCertificate)?;
            let cert = obj(cert, "certificate")?;
            fields(cert, "certificate", &["rawBytes"])?;
            bytes(
                get(cert, "rawBytes", "certificate")?,
                "certificate.rawBytes",
            )?
        }
        BundleVersion::V0_1 | BundleVersion::V0_2 => {
            let chain = vm
                .get("x509CertificateChain")
                .ok_or(BundleShapeError::ExpectedCertificateChain)?;
            let chain = obj(chain, "x509CertificateChain")?;
            fields(chain, "x509CertificateChain", &["certificates"])?;
            let certs = json::array(
                get(chain, "certificates", "x509CertificateChain")?,
                "x509CertificateChain.certificates",
            )
            .map_err(BundleShapeError::from)?;
            let mut leaf = None;
            for (i, c) in certs.iter().enumerate() {
                let p = format!("x509CertificateChain.certificates[{i}]");
                let c = obj(c, &p)?;
                fields(c, &p, &["rawBytes"])?;
                let der = bytes(get(c, "rawBytes", &p)?, &format!("{p}.rawBytes"))?;
                if leaf.is_none() {
                    leaf = Some(der);
                }
            }
            leaf.ok_or(BundleShapeError::ExpectedCertificateChain)?
        }
    })
}

/// The DER of each RFC 3161 timestamp (at most [`MAX_TIMESTAMPS`], no duplicates).
fn timestamp_tokens(vm: &Map<String, Value>) -> Result<Vec<Vec<u8>>, BundleShapeError> {
    let mut timestamp_tokens = Vec::new();
    if let Some(tvd) = vm.get("timestampVerificationData")
        && !tvd.is_null()
    {
        let tvd = obj(tvd, "timestampVerificationData")?;
        fields(tvd, "timestampVerificationData", &["rfc3161Timestamps"])?;
        if let Some(list) = tvd.get("rfc3161Timestamps") {
            let list = json::array(list, "timestampVerificationData.rfc3161Timestamps")
                .map_err(BundleShapeError::from)?;
            for (i, ts) in list.iter().enumerate() {
                let p = format!("rfc3161Timestamps[{i}]");
                let ts = obj(ts, &p)?;
                fields(ts, &p, &["signedTimestamp"])?;
                let der = bytes(
                    get(ts, "signedTimestamp", &p)?,
                    &format!("{p}.signedTimestamp"),
                )?;
                if der.is_empty() {
                    return Err(BundleShapeError::Empty {
                        path: format!("{p}.signedTimestamp"),
                    });
                }
                timestamp_tokens.push(der);
            }
            if list.len() > MAX_TIMESTAMPS {
                return Err(BundleShapeError::TooManyTimestamps { count: list.len() });
            }
            let mut seen = std::collections::HashSet::new();
            for ts in list {
                if !seen.insert(ts.to_string()) {
                    return Err(BundleShapeError::DuplicateTimestamps);
                }
            }
        }
    }
    Ok(timestamp_tokens)
}

/// The inclusion proof's checked parts.
struct Proof {
    log_index: u64,
    tree_size: u64,
    root_hash: Vec<u8>,
    checkpoint: String,
}

/// The inclusion proof: a checkpoint, an index inside the tree, 32-byte hashes.
fn inclusion_proof(e: &Map<String, Value>) -> Result<Proof, BundleShapeError> {
    let proof = e
        .get("inclusionProof")
        .ok_or(BundleShapeError::NoCheckpoint)?;
    let proof = obj(proof, "tlogEntries[0].inclusionProof")?;
    fields(
        proof,
        "tlogEntries[0].inclusionProof",
        &["logIndex", "rootHash", "treeSize", "hashes", "checkpoint"],
    )?;
    let cp = proof
        .get("checkpoint")
        .ok_or(BundleShapeError::NoCheckpoint)?;
    let cp = obj(cp, "inclusionProof.checkpoint")?;
    fields(cp, "inclusionProof.checkpoint", &["envelope"])?;
    let checkpoint = cp
        .get("envelope")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(BundleShapeError::NoCheckpoint)?
        .to_owned();
    let proof_index = uint64(
        get(proof, "logIndex", "inclusionProof")?,
        "inclusionProof.logIndex",
    )?;
    let tree_size = uint64(
        get(proof, "treeSize", "inclusionProof")?,
        "inclusionProof.treeSize",
    )?;
    if tree_size <= proof_index {
        return Err(BundleShapeError::ProofIndexOutsideTree {
            log_index: proof_index,
            tree_size,
        });
    }
    let root_hash = bytes(
        get(proof, "rootHash", "inclusionProof")?,
        "inclusionProof.rootHash",
    )?;
    if root_hash.len() != 32 {
        return Err(BundleShapeError::NotAHash {
            path: "inclusionProof.rootHash".into(),
        });
    }
    if let Some(hashes) = proof.get("hashes") {
        let hashes =
            json::array(hashes, "inclusionProof.hashes").map_err(BundleShapeError::from)?;
        for (i, h) in hashes.iter().enumerate() {
            if bytes(h, &format!("inclusionProof.hashes[{i}]"))?.len() != 32 {
                return Err(BundleShapeError::NotAHash {
                    path: format!("inclusionProof.hashes[{i}]"),
                });
            }
        }
    }
    Ok(Proof {
        log_index: proof_index,
        tree_size,
        root_hash,
        checkpoint,
    })
}

/// Whether the entry carries an inclusion promise (a non-empty SET).
fn has_inclusion_promise(e: &Map<String, Value>) -> Result<bool, BundleShapeError> {
    Ok(match e.get("inclusionPromise") {
        Some(pr) => {
            let pr = obj(pr, "tlogEntries[0].inclusionPromise")?;
            fields(
                pr,
                "tlogEntries[0].inclusionPromise",
                &["signedEntryTimestamp"],
            )?;
            let set = bytes(
                get(
                    pr,
                    "signedEntryTimestamp",
                    "tlogEntries[0].inclusionPromise",
                )?,
                "inclusionPromise.signedEntryTimestamp",
            )?;
            if set.is_empty() {
                return Err(BundleShapeError::Empty {
                    path: "inclusionPromise.signedEntryTimestamp".into(),
                });
            }
            true
        }
        None => false,
    })
}

/// The DSSE envelope: (payload type, payload, the one signature).
fn dsse_content(top: &Map<String, Value>) -> Result<(String, Vec<u8>, Vec<u8>), BundleShapeError> {
    if top.contains_key("messageSignature") {
        return Err(BundleShapeError::MessageSignature);
    }
    let env = obj(get(top, "dsseEnvelope", "bundle")?, "dsseEnvelope")?;
    fields(
        env,
        "dsseEnvelope",
        &["payload", "payloadType", "signatures"],
    )?;
    let payload = bytes(get(env, "payload", "dsseEnvelope")?, "dsseEnvelope.payload")?;
    let payload_type = string(
        get(env, "payloadType", "dsseEnvelope")?,
        "dsseEnvelope.payloadType",
    )?
    .to_owned();
    let sigs = env
        .get("signatures")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if sigs.len() != 1 {
        return Err(BundleShapeError::NotOneSignature);
    }
    let sig0 = obj(&sigs[0], "dsseEnvelope.signatures[0]")?;
    fields(sig0, "dsseEnvelope.signatures[0]", &["sig", "keyid"])?;
    let signature = bytes(
        get(sig0, "sig", "dsseEnvelope.signatures[0]")?,
        "dsseEnvelope.signatures[0].sig",
    )?;
    if signature.is_empty() {
        return Err(BundleShapeError::NotOneSignature);
    }
    match sig0.get("keyid") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(_) => {
            return Err(BundleShapeError::BadKeyId);
        }
    }
    Ok((payload_type, payload, signature))
}

/// Drops `keyid: null` (the engine wants a string or nothing) and, in 0.1/0.2 chains, every
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
