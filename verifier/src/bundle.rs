//! The Sigstore bundle (`model.sig`): the one typed model, and its reader for the key and
//! certificate methods, as strict as `sigstore_models` 0.0.6 ([`Profile::ModelSigning`]; the
//! sigstore method reads the same model under [`Profile::Sigstore`]).
//!
//! No signature checks, no file I/O. The rules are those of `model-signing-format.md` §5.1:
//! - unknown JSON fields are errors (camelCase names, plus the snake_case spelling pydantic
//!   also accepts);
//! - `uint64` fields (`logIndex`, `integratedTime`, `treeSize`) are JSON **strings**;
//! - `bytes` fields are base64 strings, decoded like Python's `base64.b64decode` (standard
//!   alphabet, padding required, characters outside the alphabet skipped);
//! - exactly one of `publicKey`, `x509CertificateChain`, `certificate`, and exactly one of
//!   `messageSignature`, `dsseEnvelope`.
//!
//! All four media types parse; each method decides which ones it accepts
//! ([`Bundle::require_media_type`]). The key and certificate methods first apply the
//! pre-processing of `model_signing`'s `Signature.read` ([`Bundle::from_json_key_or_certificate`]).

use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// The media type the key and certificate methods write and require.
pub const MEDIA_TYPE_V0_3: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Every media type `sigstore_models` accepts, with the bundle version it names.
const MEDIA_TYPE_VERSIONS: [(&str, BundleVersion); 4] = [
    (
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
        BundleVersion::V0_1,
    ),
    (
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        BundleVersion::V0_2,
    ),
    (
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        BundleVersion::V0_3,
    ),
    (MEDIA_TYPE_V0_3, BundleVersion::V0_3),
];

/// Every media type `sigstore_models` accepts.
pub const MEDIA_TYPES: [&str; 4] = [
    MEDIA_TYPE_VERSIONS[0].0,
    MEDIA_TYPE_VERSIONS[1].0,
    MEDIA_TYPE_VERSIONS[2].0,
    MEDIA_TYPE_VERSIONS[3].0,
];

/// The bundle format versions the media types name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleVersion {
    /// `application/vnd.dev.sigstore.bundle+json;version=0.1`
    V0_1,
    /// `application/vnd.dev.sigstore.bundle+json;version=0.2`
    V0_2,
    /// `application/vnd.dev.sigstore.bundle+json;version=0.3` or `…bundle.v0.3+json`
    V0_3,
}

impl BundleVersion {
    /// The version a media type names, if it is one of [`MEDIA_TYPES`].
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        MEDIA_TYPE_VERSIONS
            .iter()
            .find(|(m, _)| *m == media_type)
            .map(|(_, v)| *v)
    }
}

/// Why a bundle was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The file is not JSON at all.
    #[error("the signature is not valid JSON: {0}")]
    NotJson(serde_json::Error),
    /// More JSON values than any real bundle has (refused before a tree is built).
    #[error("the signature is not a Sigstore bundle: {0}")]
    TooManyValues(#[from] crate::json_limits::TooManyValues),
    /// The top level is not a JSON object.
    #[error("the signature is not a Sigstore bundle: expected a JSON object at the top level")]
    NotAnObject,
    /// `verificationMaterial` is missing (Python: `KeyError: 'verificationMaterial'`).
    #[error("the signature is not a Sigstore bundle: it has no `verificationMaterial`")]
    MissingVerificationMaterial,
    /// A member the pre-processing touches has the wrong JSON type.
    #[error("invalid Sigstore bundle: `{field}` must be a JSON object")]
    NotAnObjectField {
        /// The JSON path of the member.
        field: &'static str,
    },
    /// The JSON does not fit the bundle model (unknown field, wrong type, bad base64...).
    #[error("invalid Sigstore bundle: {0}")]
    Invalid(serde_json::Error),
    /// The media type is none of the four bundle media types.
    #[error(
        "invalid Sigstore bundle: unknown media type '{0}' (expected one of {media_types})",
        media_types = MEDIA_TYPES.join(", ")
    )]
    UnknownMediaType(String),
    /// `publicKey`, `x509CertificateChain` and `certificate`: not exactly one is set.
    #[error("Exactly one of publicKey, x509CertificateChain, or certificate must be set")]
    VerificationContentOneOf,
    /// `messageSignature` and `dsseEnvelope`: not exactly one is set.
    #[error("Exactly one of messageSignature or dsseEnvelope must be set")]
    ContentOneOf,
    /// An inclusion proof whose `logIndex` is not below its `treeSize`.
    #[error("logIndex {log_index} must be less than treeSize {tree_size}")]
    InclusionProofIndex {
        /// `inclusionProof.logIndex`.
        log_index: u64,
        /// `inclusionProof.treeSize`.
        tree_size: u64,
    },
    /// The method does not accept this media type (message of `model_signing`).
    #[error("Invalid sigstore bundle, got media type {got} but expected {expected}")]
    WrongMediaType {
        /// The bundle's media type.
        got: String,
        /// The one the method accepts.
        expected: &'static str,
    },
}

/// A Sigstore bundle (`dev.sigstore.bundle.v1.Bundle`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// One of [`MEDIA_TYPES`].
    #[serde(rename = "mediaType", alias = "media_type")]
    pub media_type: String,
    /// Key, certificate(s), transparency-log entries and timestamps.
    #[serde(rename = "verificationMaterial", alias = "verification_material")]
    pub verification_material: VerificationMaterial,
    /// A plain signature over a digest (never written by model_signing).
    #[serde(
        rename = "messageSignature",
        alias = "message_signature",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_signature: Option<MessageSignature>,
    /// The DSSE envelope carrying the in-toto statement.
    #[serde(
        rename = "dsseEnvelope",
        alias = "dsse_envelope",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dsse_envelope: Option<Envelope>,
}

/// `verificationMaterial`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationMaterial {
    /// Key method: an identifier of the out-of-band public key.
    #[serde(
        rename = "publicKey",
        alias = "public_key",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_key: Option<PublicKeyIdentifier>,
    /// Certificate method (and Sigstore bundles 0.1/0.2): leaf first, then intermediates.
    #[serde(
        rename = "x509CertificateChain",
        alias = "x509_certificate_chain",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub x509_certificate_chain: Option<X509CertificateChain>,
    /// Sigstore bundles 0.3: the Fulcio leaf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<X509Certificate>,
    /// Transparency-log entries (required by the model; the key and certificate methods add
    /// an empty list when it is missing).
    #[serde(rename = "tlogEntries", alias = "tlog_entries")]
    pub tlog_entries: Vec<TransparencyLogEntry>,
    /// RFC 3161 timestamps.
    #[serde(
        rename = "timestampVerificationData",
        alias = "timestamp_verification_data",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp_verification_data: Option<TimestampVerificationData>,
}

/// `publicKey`: `{"hint": <string or null>}`. The member is required (it may be `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyIdentifier {
    /// Hex SHA-256 of the public key PEM (model_signing ≥ 1.1.0).
    #[serde(deserialize_with = "required_nullable")]
    pub hint: Option<String>,
}

/// `x509CertificateChain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X509CertificateChain {
    /// DER certificates, leaf first.
    pub certificates: Vec<X509Certificate>,
}

/// One DER certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X509Certificate {
    /// The DER bytes.
    #[serde(rename = "rawBytes", alias = "raw_bytes")]
    pub raw_bytes: Base64Bytes,
}

/// `timestampVerificationData`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampVerificationData {
    /// RFC 3161 timestamp responses.
    #[serde(rename = "rfc3161Timestamps", alias = "rfc3161_timestamps", default)]
    pub rfc3161_timestamps: Vec<Rfc3161SignedTimestamp>,
}

/// One RFC 3161 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rfc3161SignedTimestamp {
    /// DER `TimeStampResp`.
    #[serde(rename = "signedTimestamp", alias = "signed_timestamp")]
    pub signed_timestamp: Base64Bytes,
}

/// A transparency-log (Rekor) entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransparencyLogEntry {
    /// The global log index.
    #[serde(rename = "logIndex", alias = "log_index")]
    pub log_index: ProtoU64,
    /// The log's key id.
    #[serde(rename = "logId", alias = "log_id")]
    pub log_id: LogId,
    /// Entry kind and version (`dsse`/`0.0.1`, `hashedrekord`/`0.0.2`, ...).
    #[serde(rename = "kindVersion", alias = "kind_version")]
    pub kind_version: KindVersion,
    /// Seconds since the epoch, as a string.
    #[serde(
        rename = "integratedTime",
        alias = "integrated_time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub integrated_time: Option<ProtoU64>,
    /// The signed entry timestamp (SET).
    #[serde(
        rename = "inclusionPromise",
        alias = "inclusion_promise",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub inclusion_promise: Option<InclusionPromise>,
    /// The Merkle inclusion proof.
    #[serde(rename = "inclusionProof", alias = "inclusion_proof")]
    pub inclusion_proof: InclusionProof,
    /// The entry body as the log canonicalized it.
    #[serde(rename = "canonicalizedBody", alias = "canonicalized_body")]
    pub canonicalized_body: Base64Bytes,
}

/// `logId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogId {
    /// The key id bytes.
    #[serde(rename = "keyId", alias = "key_id")]
    pub key_id: Base64Bytes,
}

/// `kindVersion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindVersion {
    /// E.g. `dsse`.
    pub kind: String,
    /// E.g. `0.0.1`.
    pub version: String,
}

/// `inclusionPromise`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionPromise {
    /// DER ECDSA signature of the log over the entry.
    #[serde(rename = "signedEntryTimestamp", alias = "signed_entry_timestamp")]
    pub signed_entry_timestamp: Base64Bytes,
}

/// `inclusionProof`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// The entry's index in the tree.
    #[serde(rename = "logIndex", alias = "log_index")]
    pub log_index: ProtoU64,
    /// The Merkle root.
    #[serde(rename = "rootHash", alias = "root_hash")]
    pub root_hash: Base64Bytes,
    /// The tree size.
    #[serde(rename = "treeSize", alias = "tree_size")]
    pub tree_size: ProtoU64,
    /// The audit path.
    pub hashes: Vec<Base64Bytes>,
    /// The signed checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

/// `checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The signed note text.
    pub envelope: String,
}

/// `messageSignature`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSignature {
    /// The digest of the signed artifact.
    #[serde(
        rename = "messageDigest",
        alias = "message_digest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_digest: Option<HashOutput>,
    /// The signature bytes.
    pub signature: Base64Bytes,
}

/// `messageDigest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashOutput {
    /// The hash algorithm.
    pub algorithm: HashAlgorithm,
    /// The digest bytes.
    pub digest: Base64Bytes,
}

/// `dev.sigstore.common.v1.HashAlgorithm` (without the protobuf `UNSPECIFIED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(non_camel_case_types)]
pub enum HashAlgorithm {
    /// SHA-256.
    SHA2_256,
    /// SHA-384.
    SHA2_384,
    /// SHA-512.
    SHA2_512,
    /// SHA3-256.
    SHA3_256,
    /// SHA3-384.
    SHA3_384,
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The signed payload (the in-toto statement JSON).
    pub payload: Base64Bytes,
    /// The declared payload type.
    #[serde(rename = "payloadType", alias = "payload_type")]
    pub payload_type: String,
    /// The signatures; the key and certificate methods use only the first.
    pub signatures: Vec<Signature>,
}

/// One DSSE signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// DER-encoded ECDSA signature (or whatever the method uses).
    pub sig: Base64Bytes,
    /// Ignored everywhere; model_signing writes `""`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
}

impl Bundle {
    /// Parses a bundle without any pre-processing (the Sigstore method).
    pub fn from_json(json: &[u8]) -> Result<Self, BundleError> {
        crate::json_limits::check(json, crate::json_limits::MAX_JSON_VALUES)?;
        let value: serde_json::Value =
            serde_json::from_slice(json).map_err(BundleError::NotJson)?;
        Self::from_value(value)
    }

    /// Parses a bundle as the key and certificate methods of `model_signing` read it
    /// (`sign_sigstore_pb.Signature.read`): a missing `tlogEntries` becomes `[]`, a missing
    /// `publicKey.hint` becomes `null`, and the legacy `publicKey.rawBytes` / `keyDetails` are
    /// dropped unread.
    pub fn from_json_key_or_certificate(json: &[u8]) -> Result<Self, BundleError> {
        crate::json_limits::check(json, crate::json_limits::MAX_JSON_VALUES)?;
        let mut value: serde_json::Value =
            serde_json::from_slice(json).map_err(BundleError::NotJson)?;
        let top = value.as_object_mut().ok_or(BundleError::NotAnObject)?;
        let material = top
            .get_mut("verificationMaterial")
            .ok_or(BundleError::MissingVerificationMaterial)?
            .as_object_mut()
            .ok_or(BundleError::NotAnObjectField {
                field: "verificationMaterial",
            })?;
        if !material.contains_key("tlogEntries") {
            material.insert("tlogEntries".into(), serde_json::Value::Array(Vec::new()));
        }
        if let Some(public_key) = material.get_mut("publicKey") {
            let public_key = public_key
                .as_object_mut()
                .ok_or(BundleError::NotAnObjectField {
                    field: "verificationMaterial.publicKey",
                })?;
            if !public_key.contains_key("hint") {
                public_key.insert("hint".into(), serde_json::Value::Null);
            }
            public_key.remove("rawBytes");
            public_key.remove("keyDetails");
        }
        Self::from_value(value)
    }

    fn from_value(value: serde_json::Value) -> Result<Self, BundleError> {
        let bundle: Bundle = serde_json::from_value(value).map_err(BundleError::Invalid)?;
        bundle.validate()?;
        Ok(bundle)
    }

    /// The model validators of `sigstore_models` (media type literal, one-of rules,
    /// inclusion-proof index).
    fn validate(&self) -> Result<(), BundleError> {
        if !MEDIA_TYPES.contains(&self.media_type.as_str()) {
            return Err(BundleError::UnknownMediaType(self.media_type.clone()));
        }
        let vm = &self.verification_material;
        for entry in &vm.tlog_entries {
            let proof = &entry.inclusion_proof;
            if proof.tree_size.0 <= proof.log_index.0 {
                return Err(BundleError::InclusionProofIndex {
                    log_index: proof.log_index.0,
                    tree_size: proof.tree_size.0,
                });
            }
        }
        let content = [
            vm.public_key.is_some(),
            vm.x509_certificate_chain.is_some(),
            vm.certificate.is_some(),
        ];
        if content.iter().filter(|set| **set).count() != 1 {
            return Err(BundleError::VerificationContentOneOf);
        }
        if usize::from(self.message_signature.is_some()) + usize::from(self.dsse_envelope.is_some())
            != 1
        {
            return Err(BundleError::ContentOneOf);
        }
        Ok(())
    }

    /// Fails unless the media type is `expected` (the key and certificate methods require
    /// [`MEDIA_TYPE_V0_3`]).
    pub fn require_media_type(&self, expected: &'static str) -> Result<(), BundleError> {
        if self.media_type == expected {
            Ok(())
        } else {
            Err(BundleError::WrongMediaType {
                got: self.media_type.clone(),
                expected,
            })
        }
    }

    /// The bundle as compact JSON, as `model_signing` writes it (no trailing newline).
    pub fn to_json(&self) -> String {
        // Serializing plain structs, strings and byte vectors into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Bytes carried as a base64 string.
///
/// Decoding follows Python's `base64.b64decode` (non-strict): characters outside the standard
/// alphabet are skipped, a complete padding ends the data, a truncated quantum is an error.
/// Encoding is standard base64 with padding.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Base64Bytes(pub Vec<u8>);

impl fmt::Debug for Base64Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Base64Bytes({} bytes)", self.0.len())
    }
}

impl std::ops::Deref for Base64Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Base64Bytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl Serialize for Base64Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Profile::ModelSigning
            .base64()
            .decode(&s)
            .map(Self)
            .map_err(de::Error::custom)
    }
}

/// Which reader of the one bundle model. The two differ on purpose, and every difference is one
/// of the rules below (tested side by side in `method::sigstore::read`):
///
/// | rule | [`Profile::ModelSigning`] | [`Profile::Sigstore`] |
/// |---|---|---|
/// | `bytes` fields ([`Profile::base64`]) | Python's lenient `b64decode` | strict standard base64 |
/// | `uint64` fields ([`Profile::integer`]) | Python's `int(s)` | decimal digits only |
/// | field names (serde aliases; closed lists in the reader) | camelCase or snake_case | camelCase only |
/// | `inclusionProof.hashes` ([`Profile::proof_hashes`]) | required | missing means `[]` |
///
/// [`Bundle::from_json`] and [`Bundle::from_json_key_or_certificate`] read with
/// [`Profile::ModelSigning`]; the sigstore method reads with [`Profile::Sigstore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `model_signing`'s key and certificate methods (pydantic `sigstore_models` 0.0.6).
    ModelSigning,
    /// sigstore-python's protobuf JSON reader (the `sigstore` method).
    Sigstore,
}

/// Whether a repeated member may be left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Missing is an error.
    Required,
    /// Missing reads as empty.
    DefaultsToEmpty,
}

impl Profile {
    /// How `bytes` fields are decoded.
    pub const fn base64(self) -> Base64Rule {
        match self {
            Self::ModelSigning => Base64Rule::PythonLenient,
            Self::Sigstore => Base64Rule::Strict,
        }
    }

    /// How `uint64` strings are read.
    pub const fn integer(self) -> IntegerRule {
        match self {
            Self::ModelSigning => IntegerRule::PythonInt,
            Self::Sigstore => IntegerRule::DecimalDigits,
        }
    }

    /// Whether `inclusionProof.hashes` may be left out.
    pub const fn proof_hashes(self) -> Presence {
        match self {
            Self::ModelSigning => Presence::Required,
            Self::Sigstore => Presence::DefaultsToEmpty,
        }
    }
}

/// How `bytes` fields are decoded. The two signature-file parsers differ on purpose: the key and
/// certificate methods read bundles as `sigstore_models` does (pydantic: Python's lenient
/// `base64.b64decode`), the sigstore method as sigstore-python's protobuf JSON does (strict
/// standard base64; a URL-safe or unpadded signature is an error there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base64Rule {
    /// Python's `base64.b64decode` (see [`python_b64decode`]).
    PythonLenient,
    /// Standard alphabet, padding required, nothing skipped.
    Strict,
}

impl Base64Rule {
    /// Decodes `s` under this rule.
    pub fn decode(self, s: &str) -> Result<Vec<u8>, Base64Error> {
        match self {
            Self::PythonLenient => python_b64decode(s),
            Self::Strict => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(Base64Error::Strict),
        }
    }
}

/// How protobuf `uint64` strings are read. Like [`Base64Rule`], a deliberate difference between
/// the key/certificate parse (Python's `int(s)`: whitespace, a sign, `_` between digits) and the
/// sigstore method (decimal digits only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegerRule {
    /// Python's `int(s)` in the uint64 domain.
    PythonInt,
    /// ASCII decimal digits only.
    DecimalDigits,
}

/// Why a `uint64` string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegerError {
    /// Not an integer under the rule.
    NotAnInteger,
    /// An integer above `u64::MAX`.
    OutOfRange,
}

impl IntegerRule {
    /// Parses `s` under this rule.
    pub fn parse(self, s: &str) -> Result<u64, IntegerError> {
        match self {
            Self::PythonInt => parse_python_uint(s).ok_or(IntegerError::NotAnInteger),
            Self::DecimalDigits => {
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(IntegerError::NotAnInteger);
                }
                s.parse::<u64>().map_err(|_| IntegerError::OutOfRange)
            }
        }
    }
}

/// Why a base64 string was rejected (Python's `binascii.Error` texts, or the strict decoder's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base64Error {
    /// Not standard base64 with padding ([`Base64Rule::Strict`]).
    #[error("{0}")]
    Strict(base64::DecodeError),
    /// Non-ASCII input.
    #[error("string argument should contain only ASCII characters")]
    NonAscii,
    /// One data character too many.
    #[error(
        "Invalid base64-encoded string: number of data characters ({0}) cannot be 1 more than a multiple of 4"
    )]
    OneTooMany(usize),
    /// Missing padding.
    #[error("Incorrect padding")]
    IncorrectPadding,
}

/// `base64.b64decode(s)` of Python 3.11 (`binascii.a2b_base64` in non-strict mode).
pub fn python_b64decode(s: &str) -> Result<Vec<u8>, Base64Error> {
    if !s.is_ascii() {
        return Err(Base64Error::NonAscii);
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut quad_pos = 0usize;
    let mut pads = 0usize;
    let mut left: u32 = 0;
    let mut data_chars = 0usize;
    for &c in s.as_bytes() {
        if c == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return Ok(out);
                }
            }
            continue;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        pads = 0;
        data_chars += 1;
        left = (left << 6) | u32::from(v);
        quad_pos += 1;
        match quad_pos {
            2 => out.push(((left >> 4) & 0xff) as u8),
            3 => out.push(((left >> 2) & 0xff) as u8),
            4 => {
                out.push((left & 0xff) as u8);
                quad_pos = 0;
                left = 0;
            }
            _ => {}
        }
    }
    match quad_pos {
        0 => Ok(out),
        1 => Err(Base64Error::OneTooMany(data_chars)),
        _ => Err(Base64Error::IncorrectPadding),
    }
}

/// A protobuf `uint64`, which the JSON mapping writes as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ProtoU64(pub u64);

impl Serialize for ProtoU64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for ProtoU64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ProtoU64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a protobuf uint64 as a JSON string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ProtoU64, E> {
                Profile::ModelSigning.integer().parse(s).map(ProtoU64).map_err(|_| {
                    E::custom(format!("invalid protobuf uint64 '{s}': expected a decimal integer in the uint64 domain"))
                })
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ProtoU64, E> {
                Err(E::custom(format!(
                    "Expected protobuf uint64 as string, got int ({n})"
                )))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ProtoU64, E> {
                Err(E::custom(format!(
                    "Expected protobuf uint64 as string, got int ({n})"
                )))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<ProtoU64, E> {
                Err(E::custom(format!(
                    "Expected protobuf uint64 as string, got float ({n})"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// Python's `int(s)` restricted to the uint64 domain: surrounding whitespace, an optional
/// sign, decimal digits with single underscores between them.
fn parse_python_uint(s: &str) -> Option<u64> {
    let t = s.trim();
    let (negative, digits) = match t.as_bytes().first()? {
        b'+' => (false, &t[1..]),
        b'-' => (true, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let n: u128 = clean.parse().ok()?;
    if negative {
        return (n == 0).then_some(0);
    }
    u64::try_from(n).ok()
}

/// A member that must be present but may be `null`.
fn required_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_BUNDLE: &str = r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"abcd"},"tlogEntries":[]},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AAEC","keyid":""}]}}"#;

    #[test]
    fn a_key_bundle_round_trips_byte_for_byte() {
        let b = Bundle::from_json(KEY_BUNDLE.as_bytes()).unwrap();
        assert_eq!(
            b.verification_material
                .public_key
                .as_ref()
                .unwrap()
                .hint
                .as_deref(),
            Some("abcd")
        );
        let env = b.dsse_envelope.as_ref().unwrap();
        assert_eq!(&env.payload[..], b"{}");
        assert_eq!(&env.signatures[0].sig[..], &[0, 1, 2]);
        assert_eq!(b.to_json(), KEY_BUNDLE);
    }

    #[test]
    fn unknown_fields_are_errors_at_every_level() {
        for (from, to) in [
            (r#""mediaType""#, r#""extra":1,"mediaType""#),
            (r#""tlogEntries""#, r#""extra":1,"tlogEntries""#),
            (r#""hint""#, r#""extra":1,"hint""#),
            (r#""sig""#, r#""extra":1,"sig""#),
            (r#""payloadType""#, r#""extra":1,"payloadType""#),
        ] {
            let json = KEY_BUNDLE.replacen(from, to, 1);
            let err = Bundle::from_json(json.as_bytes()).unwrap_err();
            assert!(
                matches!(err, BundleError::Invalid(_))
                    && err.to_string().contains("unknown field `extra`"),
                "{json}: {err}"
            );
        }
    }

    #[test]
    fn snake_case_names_are_accepted_like_pydantic() {
        let json = KEY_BUNDLE
            .replace("mediaType", "media_type")
            .replace("payloadType", "payload_type");
        assert!(Bundle::from_json(json.as_bytes()).is_ok());
    }

    #[test]
    fn the_key_and_certificate_preprocessing_is_applied() {
        // Legacy publicKey{rawBytes, keyDetails}, no hint, no tlogEntries.
        let legacy = r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"rawBytes":"LS0tLQ==","keyDetails":"PKIX_ECDSA_P384_SHA_384"}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AAEC"}]}}"#;
        let b = Bundle::from_json_key_or_certificate(legacy.as_bytes()).unwrap();
        assert_eq!(b.verification_material.public_key.unwrap().hint, None);
        assert!(b.verification_material.tlog_entries.is_empty());
        // The strict (Sigstore) path rejects the same file.
        assert!(Bundle::from_json(legacy.as_bytes()).is_err());
        // A hint is required-but-nullable without pre-processing.
        let no_hint = KEY_BUNDLE.replace(r#""hint":"abcd""#, "");
        assert!(Bundle::from_json(no_hint.as_bytes()).is_err());
        let null_hint = KEY_BUNDLE.replace(r#""abcd""#, "null");
        assert!(Bundle::from_json(null_hint.as_bytes()).is_ok());
    }

    #[test]
    fn preprocessing_errors_name_what_is_missing() {
        let err = Bundle::from_json_key_or_certificate(br#"{"mediaType":"x"}"#).unwrap_err();
        assert!(matches!(err, BundleError::MissingVerificationMaterial));
        assert!(matches!(
            Bundle::from_json_key_or_certificate(b"[]").unwrap_err(),
            BundleError::NotAnObject
        ));
        assert!(matches!(
            Bundle::from_json_key_or_certificate(b"not json").unwrap_err(),
            BundleError::NotJson(_)
        ));
        let null_key = KEY_BUNDLE.replace(r#"{"hint":"abcd"}"#, "null");
        assert!(matches!(
            Bundle::from_json_key_or_certificate(null_key.as_bytes()).unwrap_err(),
            BundleError::NotAnObjectField { .. }
        ));
    }

    #[test]
    fn one_of_rules_are_enforced() {
        let two = KEY_BUNDLE.replace(
            r#""tlogEntries""#,
            r#""certificate":{"rawBytes":"AA=="},"tlogEntries""#,
        );
        assert!(matches!(
            Bundle::from_json(two.as_bytes()).unwrap_err(),
            BundleError::VerificationContentOneOf
        ));
        let none = KEY_BUNDLE.replace(r#""publicKey":{"hint":"abcd"},"#, "");
        assert!(matches!(
            Bundle::from_json(none.as_bytes()).unwrap_err(),
            BundleError::VerificationContentOneOf
        ));
        let both = KEY_BUNDLE.replace(
            r#""dsseEnvelope""#,
            r#""messageSignature":{"signature":"AA=="},"dsseEnvelope""#,
        );
        assert!(matches!(
            Bundle::from_json(both.as_bytes()).unwrap_err(),
            BundleError::ContentOneOf
        ));
    }

    #[test]
    fn media_types_all_parse_and_the_method_decides() {
        for mt in MEDIA_TYPES {
            let json = KEY_BUNDLE.replace(MEDIA_TYPE_V0_3, mt);
            let b = Bundle::from_json(json.as_bytes()).unwrap();
            assert_eq!(
                b.require_media_type(MEDIA_TYPE_V0_3).is_ok(),
                mt == MEDIA_TYPE_V0_3
            );
        }
        let err = Bundle::from_json(
            KEY_BUNDLE
                .replace(MEDIA_TYPE_V0_3, "application/json")
                .as_bytes(),
        )
        .unwrap_err();
        assert!(matches!(err, BundleError::UnknownMediaType(_)));
        let json = KEY_BUNDLE.replace(MEDIA_TYPE_V0_3, MEDIA_TYPES[2]);
        let err = Bundle::from_json(json.as_bytes())
            .unwrap()
            .require_media_type(MEDIA_TYPE_V0_3)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid sigstore bundle, got media type application/vnd.dev.sigstore.bundle+json;version=0.3 but expected application/vnd.dev.sigstore.bundle.v0.3+json"
        );
    }

    #[test]
    fn base64_decodes_like_python() {
        let ok = [
            ("YQ==", &b"a"[..]),
            ("YQ==YQ==", b"a"),
            ("Y Q = =", b"a"),
            ("YWJj", b"abc"),
            ("YWJjZA==x", b"abcd"),
            ("=YQ==", b"a"),
            ("Y=Q==", b"a"),
            ("YQ===", b"a"),
            ("_-YQ==", b"a"),
            ("YWI=YWI=", b"ab"),
            ("", b""),
        ];
        for (s, want) in ok {
            assert_eq!(python_b64decode(s).unwrap(), want, "{s}");
        }
        for s in ["YQ", "YQ=", "YWJjZA", "YWJjZA="] {
            assert_eq!(
                python_b64decode(s).unwrap_err(),
                Base64Error::IncorrectPadding,
                "{s}"
            );
        }
        assert!(matches!(
            python_b64decode("YWJjZ"),
            Err(Base64Error::OneTooMany(5))
        ));
        assert_eq!(python_b64decode("é"), Err(Base64Error::NonAscii));
    }

    #[test]
    fn the_two_parsers_differ_only_where_the_rules_are_named() {
        // (input, PythonLenient, Strict)
        let a = Some(&b"a"[..]);
        let base64_cases = [
            ("YQ==", a, a),
            ("Y Q = =", a, None),
            ("_-YQ==", a, None),
            ("YQ===", a, None),
            ("YQ", None, None),
        ];
        for (s, lenient, strict) in base64_cases {
            assert_eq!(
                Base64Rule::PythonLenient.decode(s).ok().as_deref(),
                lenient,
                "{s}"
            );
            assert_eq!(Base64Rule::Strict.decode(s).ok().as_deref(), strict, "{s}");
        }
        // (input, PythonInt, DecimalDigits)
        let integer_cases = [
            ("42", Ok(42), Ok(42)),
            (" 42 ", Ok(42), Err(IntegerError::NotAnInteger)),
            ("+42", Ok(42), Err(IntegerError::NotAnInteger)),
            ("1_000", Ok(1000), Err(IntegerError::NotAnInteger)),
            ("-0", Ok(0), Err(IntegerError::NotAnInteger)),
            (
                "18446744073709551616",
                Err(IntegerError::NotAnInteger),
                Err(IntegerError::OutOfRange),
            ),
            (
                "",
                Err(IntegerError::NotAnInteger),
                Err(IntegerError::NotAnInteger),
            ),
        ];
        for (s, python, digits) in integer_cases {
            assert_eq!(IntegerRule::PythonInt.parse(s), python, "{s:?}");
            assert_eq!(IntegerRule::DecimalDigits.parse(s), digits, "{s:?}");
        }
    }

    #[test]
    fn uint64_fields_must_be_strings() {
        let entry = |log_index: &str| {
            format!(
                r#"{{"mediaType":"{MEDIA_TYPE_V0_3}","verificationMaterial":{{"certificate":{{"rawBytes":"AA=="}},"tlogEntries":[{{"logIndex":{log_index},"logId":{{"keyId":"AA=="}},"kindVersion":{{"kind":"dsse","version":"0.0.1"}},"integratedTime":"1760062340","inclusionProof":{{"logIndex":"1","rootHash":"AA==","treeSize":"2","hashes":[]}},"canonicalizedBody":"e30="}}]}},"dsseEnvelope":{{"payload":"e30=","payloadType":"t","signatures":[]}}}}"#
            )
        };
        let b = Bundle::from_json(entry(r#""598151086""#).as_bytes()).unwrap();
        assert_eq!(
            b.verification_material.tlog_entries[0].log_index,
            ProtoU64(598151086)
        );
        assert_eq!(
            b.verification_material.tlog_entries[0].integrated_time,
            Some(ProtoU64(1760062340))
        );
        assert!(Bundle::from_json(entry("598151086").as_bytes()).is_err());
        assert!(Bundle::from_json(entry(r#""-1""#).as_bytes()).is_err());
        assert!(Bundle::from_json(entry(r#""18446744073709551616""#).as_bytes()).is_err());
        assert!(Bundle::from_json(entry(r#""1_000""#).as_bytes()).is_ok());
        // treeSize must exceed the proof's logIndex.
        let bad = entry(r#""5""#).replace(r#""treeSize":"2""#, r#""treeSize":"1""#);
        assert!(matches!(
            Bundle::from_json(bad.as_bytes()).unwrap_err(),
            BundleError::InclusionProofIndex {
                log_index: 1,
                tree_size: 1
            }
        ));
    }

    #[test]
    fn strings_are_not_coerced() {
        let json = KEY_BUNDLE.replace(
            r#""payloadType":"application/vnd.in-toto+json""#,
            r#""payloadType":5"#,
        );
        assert!(Bundle::from_json(json.as_bytes()).is_err());
        let json = KEY_BUNDLE.replace(r#""sig":"AAEC""#, r#""sig":[0,1,2]"#);
        assert!(Bundle::from_json(json.as_bytes()).is_err());
    }
}
