//! Step (a) of `design/model-signing-format.md` §6.3: the bundle's shape, checked strictly before
//! any cryptography, and normalised for the keyless engine.
//!
//! sigstore-python parses bundles with strict models (unknown fields are errors, `uint64` fields
//! must be JSON strings, `bytes` fields are standard base64). The Rust library is more lenient
//! (it ignores unknown fields, accepts several entry kinds and takes intermediates from the
//! bundle), so everything Python rejects at this stage is rejected here.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::SigstoreError;
use super::trust::only_fields;

/// The bundle media types the sigstore method accepts.
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
    fn from_media_type(m: &str) -> Option<Self> {
        match m {
            "application/vnd.dev.sigstore.bundle+json;version=0.1" => Some(Self::V0_1),
            "application/vnd.dev.sigstore.bundle+json;version=0.2" => Some(Self::V0_2),
            "application/vnd.dev.sigstore.bundle+json;version=0.3"
            | "application/vnd.dev.sigstore.bundle.v0.3+json" => Some(Self::V0_3),
            _ => None,
        }
    }
}

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

fn bad(msg: impl Into<String>) -> SigstoreError {
    SigstoreError::Bundle(msg.into())
}

fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, SigstoreError> {
    v.as_object()
        .ok_or_else(|| bad(format!("{path} must be a JSON object")))
}

fn fields(o: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), SigstoreError> {
    only_fields(o, path, allowed).map_err(|e| bad(format!("{e} (not a valid Sigstore bundle)")))
}

fn get<'a>(o: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a Value, SigstoreError> {
    o.get(key)
        .ok_or_else(|| bad(format!("{path}.{key} is missing")))
}

fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str, SigstoreError> {
    v.as_str()
        .ok_or_else(|| bad(format!("{path} must be a string")))
}

/// A protobuf `bytes` field: standard base64 with padding.
fn bytes(v: &Value, path: &str) -> Result<Vec<u8>, SigstoreError> {
    STANDARD
        .decode(string(v, path)?)
        .map_err(|e| bad(format!("{path} is not valid base64: {e}")))
}

/// A protobuf `uint64` field: a JSON string of decimal digits.
fn uint64(v: &Value, path: &str) -> Result<u64, SigstoreError> {
    let s = v
        .as_str()
        .ok_or_else(|| bad(format!("{path} must be a string holding an integer")))?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!("{path} is not an unsigned integer: '{s}'")));
    }
    s.parse::<u64>()
        .map_err(|_| bad(format!("{path} is out of range: '{s}'")))
}

fn int64(v: &Value, path: &str) -> Result<i64, SigstoreError> {
    let n = uint64(v, path)?;
    i64::try_from(n).map_err(|_| bad(format!("{path} is out of range: {n}")))
}

/// Step (a): parse, check and normalise.
pub(crate) fn check(bundle_json: &[u8]) -> Result<CheckedBundle, SigstoreError> {
    crate::json_limits::check(bundle_json, crate::json_limits::MAX_JSON_VALUES)
        .map_err(|e| bad(e.to_string()))?;
    let mut value: Value =
        serde_json::from_slice(bundle_json).map_err(|e| bad(format!("not JSON: {e}")))?;
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
        .ok_or_else(|| bad(format!("unsupported bundle format: {media_type}")))?;

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
        return Err(bad(
            "verificationMaterial must hold exactly one of publicKey, x509CertificateChain, certificate",
        ));
    }
    let leaf_der = match version {
        BundleVersion::V0_3 => {
            let cert = vm
                .get("certificate")
                .ok_or_else(|| bad("expected certificate in bundle"))?;
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
                .ok_or_else(|| bad("expected certificate chain in bundle"))?;
            let chain = obj(chain, "x509CertificateChain")?;
            fields(chain, "x509CertificateChain", &["certificates"])?;
            let certs = get(chain, "certificates", "x509CertificateChain")?
                .as_array()
                .ok_or_else(|| bad("x509CertificateChain.certificates must be an array"))?;
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
            leaf.ok_or_else(|| bad("expected certificate chain in bundle"))?
        }
    };
    if leaf_der.is_empty() {
        return Err(bad("the signing certificate is empty"));
    }

    // --- timestamps
    let mut timestamps = 0usize;
    let mut timestamp_tokens = Vec::new();
    if let Some(tvd) = vm.get("timestampVerificationData")
        && !tvd.is_null()
    {
        let tvd = obj(tvd, "timestampVerificationData")?;
        fields(tvd, "timestampVerificationData", &["rfc3161Timestamps"])?;
        if let Some(list) = tvd.get("rfc3161Timestamps") {
            let list = list.as_array().ok_or_else(|| {
                bad("timestampVerificationData.rfc3161Timestamps must be an array")
            })?;
            for (i, ts) in list.iter().enumerate() {
                let p = format!("rfc3161Timestamps[{i}]");
                let ts = obj(ts, &p)?;
                fields(ts, &p, &["signedTimestamp"])?;
                let der = bytes(
                    get(ts, "signedTimestamp", &p)?,
                    &format!("{p}.signedTimestamp"),
                )?;
                if der.is_empty() {
                    return Err(bad(format!("{p}.signedTimestamp is empty")));
                }
                timestamp_tokens.push(der);
            }
            timestamps = list.len();
            if timestamps > 32 {
                return Err(bad(format!(
                    "too many signed timestamps: {timestamps} > 32"
                )));
            }
            let mut seen = std::collections::HashSet::new();
            for ts in list {
                if !seen.insert(ts.to_string()) {
                    return Err(bad("duplicate signed timestamps in bundle"));
                }
            }
        }
    }

    // --- the log entry
    let entries = match vm.get("tlogEntries") {
        Some(v) => v
            .as_array()
            .ok_or_else(|| bad("verificationMaterial.tlogEntries must be an array"))?
            .as_slice(),
        None => &[],
    };
    if entries.len() != 1 {
        return Err(bad("expected exactly one log entry in bundle"));
    }
    let entry = check_entry(&entries[0], version, timestamps)?;

    // --- content
    if top.contains_key("messageSignature") {
        return Err(bad(
            "the bundle holds a message signature, not a DSSE envelope: model signatures are DSSE",
        ));
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
        return Err(bad("envelope must contain exactly one signature"));
    }
    let sig0 = obj(&sigs[0], "dsseEnvelope.signatures[0]")?;
    fields(sig0, "dsseEnvelope.signatures[0]", &["sig", "keyid"])?;
    let signature = bytes(
        get(sig0, "sig", "dsseEnvelope.signatures[0]")?,
        "dsseEnvelope.signatures[0].sig",
    )?;
    if signature.is_empty() {
        return Err(bad("envelope must contain exactly one signature"));
    }
    match sig0.get("keyid") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(_) => {
            return Err(bad(
                "dsseEnvelope.signatures[0].keyid must be a string or null",
            ));
        }
    }

    // --- normalise for the engine
    normalise(&mut value, version);
    let engine_json = serde_json::to_string(&value)
        .map_err(|e| bad(format!("cannot re-encode the bundle: {e}")))?;

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
        return Err(bad(format!(
            "unsupported log entry version {kv_version} (expected 0.0.1 or 0.0.2)"
        )));
    }
    let kind = match (kind, kv_version) {
        ("dsse", "0.0.1") => EntryKind::DsseV001,
        ("hashedrekord", "0.0.2") => EntryKind::HashedRekordV002,
        (k, v) => {
            return Err(SigstoreError::Rekor(format!(
                "Unsupported DSSE log entry type: {k}/{v}"
            )));
        }
    };
    let integrated_time = match e.get("integratedTime") {
        Some(t) => Some(int64(t, "tlogEntries[0].integratedTime")?),
        None => None,
    };
    let has_promise = match e.get("inclusionPromise") {
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
                return Err(bad("inclusionPromise.signedEntryTimestamp is empty"));
            }
            true
        }
        None => false,
    };
    let proof = e
        .get("inclusionProof")
        .ok_or_else(|| bad("entry must contain inclusion proof, with checkpoint"))?;
    let proof = obj(proof, "tlogEntries[0].inclusionProof")?;
    fields(
        proof,
        "tlogEntries[0].inclusionProof",
        &["logIndex", "rootHash", "treeSize", "hashes", "checkpoint"],
    )?;
    let cp = proof
        .get("checkpoint")
        .ok_or_else(|| bad("entry must contain inclusion proof, with checkpoint"))?;
    let cp = obj(cp, "inclusionProof.checkpoint")?;
    fields(cp, "inclusionProof.checkpoint", &["envelope"])?;
    let checkpoint = cp
        .get("envelope")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("entry must contain inclusion proof, with checkpoint"))?
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
        return Err(bad(format!(
            "inclusion proof has log index {proof_index} outside a tree of size {tree_size}"
        )));
    }
    let root_hash = bytes(
        get(proof, "rootHash", "inclusionProof")?,
        "inclusionProof.rootHash",
    )?;
    if root_hash.len() != 32 {
        return Err(bad("inclusionProof.rootHash must be 32 bytes"));
    }
    if let Some(hashes) = proof.get("hashes") {
        let hashes = hashes
            .as_array()
            .ok_or_else(|| bad("inclusionProof.hashes must be an array"))?;
        for (i, h) in hashes.iter().enumerate() {
            if bytes(h, &format!("inclusionProof.hashes[{i}]"))?.len() != 32 {
                return Err(bad(format!("inclusionProof.hashes[{i}] must be 32 bytes")));
            }
        }
    }
    let canonicalized_body = bytes(
        get(e, "canonicalizedBody", p)?,
        "tlogEntries[0].canonicalizedBody",
    )?;

    match version {
        BundleVersion::V0_1 if !has_promise => {
            return Err(bad("bundle must contain an inclusion promise"));
        }
        BundleVersion::V0_2 | BundleVersion::V0_3 if !has_promise && timestamps == 0 => {
            return Err(bad(
                "bundle must contain an inclusion promise or signed timestamp(s)",
            ));
        }
        _ => {}
    }
    // Rekor v2 repeats the shard-local index in the proof; sigstore-python folds the proof with
    // the proof's copy, the library with the entry's: they must agree.
    if kind == EntryKind::HashedRekordV002 && proof_index != log_index {
        return Err(bad(format!(
            "inclusionProof.logIndex {proof_index} differs from the entry's logIndex {log_index}"
        )));
    }
    if has_promise && integrated_time.is_some() && kind == EntryKind::HashedRekordV002 {
        return Err(SigstoreError::Rekor(
            "Integrated time only supported for dsse/hashedrekord 0.0.1 types".into(),
        ));
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
