//! The one bundle model ([`crate::bundle::Bundle`]) read under [`Profile::Sigstore`]: closed
//! camelCase field sets, strict base64, decimal `uint64` strings, `inclusionProof.hashes`
//! optional, and errors that name the JSON path (the messages the conformance tests expect).
//!
//! Reads the structure only, in the order sigstore-python meets it; what the bundle must *mean*
//! (lengths, time sources, entry kinds) is checked on the typed result in [`super::bundle`].
//! A few counts are decided here because they decide what is read at all: exactly one
//! verification material, the one that fits the media type, exactly one log entry and exactly
//! one DSSE signature, and no `messageSignature`.

use serde_json::{Map, Value};

use super::bundle::BundleShapeError;
use super::json::{self, ShapeError, member, object, only_fields};
use crate::bundle::{
    Base64Bytes, Bundle, BundleVersion, Checkpoint, Envelope, InclusionPromise, InclusionProof,
    IntegerError, KindVersion, LogId, Presence, Profile, ProtoU64, Rfc3161SignedTimestamp,
    Signature, TimestampVerificationData, TransparencyLogEntry, VerificationMaterial,
    X509Certificate, X509CertificateChain,
};

/// The profile this reader implements.
const PROFILE: Profile = Profile::Sigstore;

/// The bundle's media-type version and its typed model.
pub(crate) fn read(value: &Value) -> Result<(BundleVersion, Bundle), BundleShapeError> {
    let top = obj(value, "bundle")?;
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
    let verification_material = verification_material(
        obj(
            get(top, "verificationMaterial", "bundle")?,
            "verificationMaterial",
        )?,
        version,
    )?;
    if top.contains_key("messageSignature") {
        return Err(BundleShapeError::MessageSignature);
    }
    let dsse_envelope = envelope(obj(get(top, "dsseEnvelope", "bundle")?, "dsseEnvelope")?)?;
    Ok((
        version,
        Bundle {
            media_type: media_type.to_owned(),
            verification_material,
            message_signature: None,
            dsse_envelope: Some(dsse_envelope),
        },
    ))
}

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

fn array<'a>(v: &'a Value, path: &str) -> Result<&'a [Value], BundleShapeError> {
    Ok(json::array(v, path)?)
}

/// A protobuf `bytes` field, under [`Profile::base64`].
fn bytes(v: &Value, path: &str) -> Result<Base64Bytes, BundleShapeError> {
    PROFILE
        .base64()
        .decode(string(v, path)?)
        .map(Base64Bytes)
        .map_err(|error| BundleShapeError::Base64 {
            path: path.to_owned(),
            error,
        })
}

/// A protobuf `uint64` field: a JSON string, under [`Profile::integer`].
fn uint64(v: &Value, path: &str) -> Result<ProtoU64, BundleShapeError> {
    let s = v
        .as_str()
        .ok_or_else(|| BundleShapeError::IntegerNotAString {
            path: path.to_owned(),
        })?;
    PROFILE
        .integer()
        .parse(s)
        .map(ProtoU64)
        .map_err(|e| match e {
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

/// `verificationMaterial`: exactly one kind of material, the one the version names, the
/// timestamps, exactly one log entry.
fn verification_material(
    vm: &Map<String, Value>,
    version: BundleVersion,
) -> Result<VerificationMaterial, BundleShapeError> {
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
        return Err(BundleShapeError::VerificationMaterialOneOf);
    }
    let (certificate, x509_certificate_chain) = match version {
        BundleVersion::V0_3 => {
            let cert = vm
                .get("certificate")
                .ok_or(BundleShapeError::ExpectedCertificate)?;
            (Some(certificate(cert, "certificate")?), None)
        }
        BundleVersion::V0_1 | BundleVersion::V0_2 => {
            let chain = vm
                .get("x509CertificateChain")
                .ok_or(BundleShapeError::ExpectedCertificateChain)?;
            (None, Some(certificate_chain(chain)?))
        }
    };
    let timestamp_verification_data = match vm.get("timestampVerificationData") {
        Some(tvd) if !tvd.is_null() => Some(timestamps(tvd)?),
        _ => None,
    };
    let entries: &[Value] = match vm.get("tlogEntries") {
        Some(v) => array(v, "verificationMaterial.tlogEntries")?,
        None => &[],
    };
    if entries.len() != 1 {
        return Err(BundleShapeError::NotOneLogEntry);
    }
    Ok(VerificationMaterial {
        public_key: None,
        x509_certificate_chain,
        certificate,
        tlog_entries: vec![entry(&entries[0])?],
        timestamp_verification_data,
    })
}

/// One `{rawBytes}` certificate.
fn certificate(v: &Value, path: &str) -> Result<X509Certificate, BundleShapeError> {
    let cert = obj(v, path)?;
    fields(cert, path, &["rawBytes"])?;
    Ok(X509Certificate {
        raw_bytes: bytes(get(cert, "rawBytes", path)?, &format!("{path}.rawBytes"))?,
    })
}

fn certificate_chain(v: &Value) -> Result<X509CertificateChain, BundleShapeError> {
    let chain = obj(v, "x509CertificateChain")?;
    fields(chain, "x509CertificateChain", &["certificates"])?;
    let certs = array(
        get(chain, "certificates", "x509CertificateChain")?,
        "x509CertificateChain.certificates",
    )?;
    let certificates = certs
        .iter()
        .enumerate()
        .map(|(i, c)| certificate(c, &format!("x509CertificateChain.certificates[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(X509CertificateChain { certificates })
}

/// `timestampVerificationData` (not `null`).
fn timestamps(v: &Value) -> Result<TimestampVerificationData, BundleShapeError> {
    let tvd = obj(v, "timestampVerificationData")?;
    fields(tvd, "timestampVerificationData", &["rfc3161Timestamps"])?;
    let mut rfc3161_timestamps = Vec::new();
    if let Some(list) = tvd.get("rfc3161Timestamps") {
        for (i, ts) in array(list, "timestampVerificationData.rfc3161Timestamps")?
            .iter()
            .enumerate()
        {
            let p = format!("rfc3161Timestamps[{i}]");
            let ts = obj(ts, &p)?;
            fields(ts, &p, &["signedTimestamp"])?;
            rfc3161_timestamps.push(Rfc3161SignedTimestamp {
                signed_timestamp: bytes(
                    get(ts, "signedTimestamp", &p)?,
                    &format!("{p}.signedTimestamp"),
                )?,
            });
        }
    }
    Ok(TimestampVerificationData { rfc3161_timestamps })
}

/// `tlogEntries[0]`.
fn entry(v: &Value) -> Result<TransparencyLogEntry, BundleShapeError> {
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
    let key_id = bytes(
        get(log_id, "keyId", "tlogEntries[0].logId")?,
        "tlogEntries[0].logId.keyId",
    )?;
    let kv = obj(get(e, "kindVersion", p)?, "tlogEntries[0].kindVersion")?;
    fields(kv, "tlogEntries[0].kindVersion", &["kind", "version"])?;
    let kind_version = KindVersion {
        kind: string(
            get(kv, "kind", "tlogEntries[0].kindVersion")?,
            "kindVersion.kind",
        )?
        .to_owned(),
        version: string(
            get(kv, "version", "tlogEntries[0].kindVersion")?,
            "kindVersion.version",
        )?
        .to_owned(),
    };
    let integrated_time = match e.get("integratedTime") {
        Some(t) => Some(uint64(t, "tlogEntries[0].integratedTime")?),
        None => None,
    };
    let inclusion_promise = match e.get("inclusionPromise") {
        Some(pr) => Some(inclusion_promise(pr)?),
        None => None,
    };
    let inclusion_proof = inclusion_proof(e)?;
    let canonicalized_body = bytes(
        get(e, "canonicalizedBody", p)?,
        "tlogEntries[0].canonicalizedBody",
    )?;
    Ok(TransparencyLogEntry {
        log_index,
        log_id: LogId { key_id },
        kind_version,
        integrated_time,
        inclusion_promise,
        inclusion_proof,
        canonicalized_body,
    })
}

fn inclusion_promise(v: &Value) -> Result<InclusionPromise, BundleShapeError> {
    let p = "tlogEntries[0].inclusionPromise";
    let pr = obj(v, p)?;
    fields(pr, p, &["signedEntryTimestamp"])?;
    Ok(InclusionPromise {
        signed_entry_timestamp: bytes(
            get(pr, "signedEntryTimestamp", p)?,
            "inclusionPromise.signedEntryTimestamp",
        )?,
    })
}

/// The inclusion proof. A missing proof, a missing checkpoint and a checkpoint without a string
/// `envelope` are [`BundleShapeError::NoCheckpoint`] (sigstore-python requires a checkpoint);
/// `hashes` follows [`Profile::proof_hashes`].
fn inclusion_proof(e: &Map<String, Value>) -> Result<InclusionProof, BundleShapeError> {
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
    let envelope = cp
        .get("envelope")
        .and_then(Value::as_str)
        .ok_or(BundleShapeError::NoCheckpoint)?;
    let checkpoint = Some(Checkpoint {
        envelope: envelope.to_owned(),
    });
    let log_index = uint64(
        get(proof, "logIndex", "inclusionProof")?,
        "inclusionProof.logIndex",
    )?;
    let tree_size = uint64(
        get(proof, "treeSize", "inclusionProof")?,
        "inclusionProof.treeSize",
    )?;
    let root_hash = bytes(
        get(proof, "rootHash", "inclusionProof")?,
        "inclusionProof.rootHash",
    )?;
    let hashes = match (proof.get("hashes"), PROFILE.proof_hashes()) {
        (Some(hashes), _) => array(hashes, "inclusionProof.hashes")?
            .iter()
            .enumerate()
            .map(|(i, h)| bytes(h, &format!("inclusionProof.hashes[{i}]")))
            .collect::<Result<_, _>>()?,
        (None, Presence::DefaultsToEmpty) => Vec::new(),
        (None, Presence::Required) => {
            return Err(ShapeError::Missing {
                path: "inclusionProof".into(),
                key: "hashes",
            }
            .into());
        }
    };
    Ok(InclusionProof {
        log_index,
        root_hash,
        tree_size,
        hashes,
        checkpoint,
    })
}

/// `dsseEnvelope`, with exactly one signature whose `keyid` is a string, `null` or absent.
fn envelope(env: &Map<String, Value>) -> Result<Envelope, BundleShapeError> {
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
    let [sig0] = sigs else {
        return Err(BundleShapeError::NotOneSignature);
    };
    let sig0 = obj(sig0, "dsseEnvelope.signatures[0]")?;
    fields(sig0, "dsseEnvelope.signatures[0]", &["sig", "keyid"])?;
    let sig = bytes(
        get(sig0, "sig", "dsseEnvelope.signatures[0]")?,
        "dsseEnvelope.signatures[0].sig",
    )?;
    let keyid = match sig0.get("keyid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(BundleShapeError::BadKeyId),
    };
    Ok(Envelope {
        payload,
        payload_type,
        signatures: vec![Signature { sig, keyid }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle both readers accept; each case changes one thing.
    fn bundle() -> Value {
        serde_json::json!({
            "mediaType": crate::bundle::MEDIA_TYPE_V0_3,
            "verificationMaterial": {
                "certificate": {"rawBytes": "AA=="},
                "tlogEntries": [{
                    "logIndex": "5",
                    "logId": {"keyId": "AA=="},
                    "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                    "integratedTime": "1760062340",
                    "inclusionProof": {
                        "logIndex": "1", "rootHash": "AA==", "treeSize": "2", "hashes": [],
                        "checkpoint": {"envelope": "x"}
                    },
                    "canonicalizedBody": "e30="
                }]
            },
            "dsseEnvelope": {
                "payload": "e30=", "payloadType": "t", "signatures": [{"sig": "AAEC", "keyid": ""}]
            }
        })
    }

    const PROOF: &str = "/verificationMaterial/tlogEntries/0/inclusionProof";

    #[test]
    fn the_two_profiles_read_the_same_model_and_differ_only_where_named() {
        type Edit = fn(&mut Value);
        // (case, edit, ModelSigning accepts, Sigstore accepts)
        let cases: [(&str, Edit, bool, bool); 6] = [
            ("unchanged", |_| {}, true, true),
            (
                "inclusionProof.hashes missing (Profile::proof_hashes)",
                |b| {
                    b.pointer_mut(PROOF)
                        .unwrap()
                        .as_object_mut()
                        .unwrap()
                        .remove("hashes");
                },
                false,
                true,
            ),
            (
                "snake_case name (field names)",
                |b| {
                    let o = b.as_object_mut().unwrap();
                    let v = o.remove("mediaType").unwrap();
                    o.insert("media_type".into(), v);
                },
                true,
                false,
            ),
            (
                "unpadded base64 (Profile::base64)",
                |b| b["dsseEnvelope"]["payload"] = "e30 =".into(),
                true,
                false,
            ),
            (
                "underscore in a uint64 (Profile::integer)",
                |b| {
                    *b.pointer_mut(&format!("{PROOF}/treeSize")).unwrap() = "1_000".into();
                },
                true,
                false,
            ),
            (
                "unknown field (both closed)",
                |b| b["verificationMaterial"]["extra"] = 1.into(),
                false,
                false,
            ),
        ];
        for (case, edit, model_signing, sigstore) in cases {
            let mut b = bundle();
            edit(&mut b);
            let typed = Bundle::from_json(b.to_string().as_bytes());
            assert_eq!(typed.is_ok(), model_signing, "{case}: {typed:?}");
            let strict = read(&b);
            assert_eq!(strict.is_ok(), sigstore, "{case}: {strict:?}");
            // Where both accept, they yield the same typed bundle.
            if let (Ok(typed), Ok((_, strict))) = (typed, strict) {
                assert_eq!(typed, strict, "{case}");
            }
        }
        // The missing hashes read as an empty audit path.
        let mut b = bundle();
        b.pointer_mut(PROOF)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove("hashes");
        let (_, strict) = read(&b).unwrap();
        let proof = &strict.verification_material.tlog_entries[0].inclusion_proof;
        assert!(proof.hashes.is_empty());
        assert_eq!(
            Profile::ModelSigning.proof_hashes(),
            Presence::Required,
            "the key and certificate reader requires hashes"
        );
    }

    #[test]
    fn errors_name_the_json_path() {
        let mut b = bundle();
        b["dsseEnvelope"]["signatures"][0]["sig"] = "AA-_".into();
        assert!(
            read(&b)
                .unwrap_err()
                .to_string()
                .starts_with("dsseEnvelope.signatures[0].sig is not valid base64: ")
        );
        let mut b = bundle();
        b["extra"] = 1.into();
        assert_eq!(
            read(&b).unwrap_err().to_string(),
            "unknown field 'extra' in bundle (not a valid Sigstore bundle)"
        );
        let mut b = bundle();
        *b.pointer_mut(&format!("{PROOF}/treeSize")).unwrap() = 2.into();
        assert_eq!(
            read(&b).unwrap_err().to_string(),
            "inclusionProof.treeSize must be a string holding an integer"
        );
    }
}
