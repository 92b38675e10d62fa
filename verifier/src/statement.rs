//! The signed in-toto statement (format §3): parsing it into the expected manifest, and writing
//! it when signing.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::hashing::{HashAlgorithm, HashingConfig, Serialization};
use crate::manifest::{Digest, Manifest, ResourceKey};
use crate::posix;

/// The in-toto statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The current predicate (signers 0.3.0 to 1.1.x).
pub const PREDICATE_V1: &str = "https://model_signing/signature/v1.0";
/// The legacy predicate of signer 0.2.x (one subject per file, no root digest).
pub const PREDICATE_DIGESTS_V01: &str = "https://model_signing/Digests/v0.1";

/// The statement is not a valid model signature payload. Messages follow `model_signing`'s
/// where it has a real one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// Not JSON.
    #[error("the signed payload is not valid JSON: {0}")]
    Json(String),
    /// A required field is absent (Python prints the bare `KeyError`, `'resources'`).
    #[error("'{field}': the signed statement has no field {field} (in {context})")]
    MissingField {
        /// The field.
        field: &'static str,
        /// Where it was expected.
        context: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("the signed statement's {field} must be {expected}, got {got}")]
    WrongType {
        /// The field.
        field: String,
        /// What it must be.
        expected: &'static str,
        /// What it is (JSON).
        got: String,
    },
    /// `_type` is not the in-toto v1 statement.
    #[error("Expected in-toto {STATEMENT_TYPE} payload, but got {0}")]
    StatementType(String),
    /// Neither predicate the format knows.
    #[error("Predicate type mismatch, expected {PREDICATE_V1}, got {0}")]
    PredicateType(String),
    /// `subject` does not have exactly one element.
    #[error("Expected only one subject, got {0}")]
    SubjectCount(String),
    /// Serialization method unknown.
    #[error("Unknown serialization type {0}")]
    SerializationType(String),
    /// Hash type unknown.
    #[error("Unsupported hashing method {0}")]
    HashType(String),
    /// `shard_size` is not a positive integer (an integral float is fine).
    #[error("Invalid shard_size {0}: expected a positive integer")]
    ShardSize(String),
    /// A digest is not hex.
    #[error(
        "non-hexadecimal number found in fromhex() arg at position {position} (digest of '{name}')"
    )]
    Hex {
        /// The resource.
        name: String,
        /// Index of the offending character.
        position: usize,
    },
    /// `predicate.resources` is not a list of `{name, algorithm, digest}` strings.
    #[error("the signed statement's predicate.resources is malformed: {0}")]
    Resources(String),
    /// A shard name is not `path:start:end`.
    #[error("Invalid resource name: expected 3 components separated by `:`, got {0}")]
    ShardName(String),
    /// The subject digest is not the digest of the resources listed.
    #[error(
        "Manifest is inconsistent. Root digest is {signed}, but the included resources hash to {computed}"
    )]
    Inconsistent {
        /// The subject's digest.
        signed: String,
        /// What the resources hash to.
        computed: String,
    },
}

/// The serialization recorded in a v1.0 statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedSerialization {
    /// Files or shards, hash function.
    pub hashing: HashingConfig,
    /// Whether the signer allowed symlinks.
    pub allow_symlinks: bool,
    /// Paths the signer left out, relative to the model (since 1.1.0).
    pub ignore_paths: Vec<String>,
}

/// A parsed statement: the manifest it expects, and how it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedStatement {
    /// The signed resources (model name: the subject's name).
    pub manifest: Manifest,
    /// `None` for the legacy Digests/v0.1 predicate (files, SHA-256).
    pub serialization: Option<SignedSerialization>,
    /// The subject's root digest (lower hex); `None` for the legacy predicate.
    pub root_digest: Option<String>,
    /// How many resource entries the payload lists (duplicates included).
    pub resource_entries: usize,
}

impl SignedStatement {
    /// The hashing config the local model must be hashed with.
    pub fn hashing(&self) -> HashingConfig {
        self.serialization
            .as_ref()
            .map(|s| s.hashing)
            .unwrap_or_default()
    }
}

fn get<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
    context: &'static str,
) -> Result<&'a Value, StatementError> {
    obj.get(field)
        .ok_or(StatementError::MissingField { field, context })
}

fn as_obj<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, StatementError> {
    v.as_object().ok_or_else(|| wrong(field, "an object", v))
}

fn as_str<'a>(v: &'a Value, field: &str) -> Result<&'a str, StatementError> {
    v.as_str().ok_or_else(|| wrong(field, "a string", v))
}

fn as_array<'a>(v: &'a Value, field: &str) -> Result<&'a Vec<Value>, StatementError> {
    v.as_array().ok_or_else(|| wrong(field, "a list", v))
}

fn wrong(field: &str, expected: &'static str, got: &Value) -> StatementError {
    let mut got = got.to_string();
    if got.len() > 80 {
        // on a character boundary: the value may be any UTF-8 (a fuzzed statement panicked here)
        let mut end = 77;
        while !got.is_char_boundary(end) {
            end -= 1;
        }
        got.truncate(end);
        got.push_str("...");
    }
    StatementError::WrongType {
        field: field.to_owned(),
        expected,
        got,
    }
}

/// Python's `bytes.fromhex`: pairs of hex digits, ASCII whitespace allowed between pairs.
pub fn from_hex(s: &str, name: &str) -> Result<Vec<u8>, StatementError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 2);
    let mut i = 0;
    let err = |position| StatementError::Hex {
        name: name.to_owned(),
        position,
    };
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let hi = (bytes[i] as char).to_digit(16).ok_or(err(i))?;
        let lo = bytes
            .get(i + 1)
            .and_then(|b| (*b as char).to_digit(16))
            .ok_or(err(i + 1))?;
        out.push((hi * 16 + lo) as u8);
        i += 2;
    }
    Ok(out)
}

fn parse_shard_size(v: &Value) -> Result<u64, StatementError> {
    let bad = || StatementError::ShardSize(v.to_string());
    if let Some(n) = v.as_u64() {
        return if n > 0 { Ok(n) } else { Err(bad()) };
    }
    match v.as_f64() {
        // Python writes it as a double (1000000.0); it must be integral and fit.
        Some(f) if f.fract() == 0.0 && (1.0..18_446_744_073_709_551_616.0).contains(&f) => {
            Ok(f as u64)
        }
        _ => Err(bad()),
    }
}

fn parse_offset(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_serialization(v: &Value) -> Result<SignedSerialization, StatementError> {
    let obj = as_obj(v, "predicate.serialization")?;
    let ctx = "predicate.serialization";
    let method = as_str(get(obj, "method", ctx)?, "serialization.method")?;
    let hash_type = as_str(get(obj, "hash_type", ctx)?, "serialization.hash_type")?;
    let allow_symlinks = get(obj, "allow_symlinks", ctx)?.as_bool().ok_or_else(|| {
        wrong(
            "serialization.allow_symlinks",
            "a boolean",
            &obj["allow_symlinks"],
        )
    })?;
    let algorithm: HashAlgorithm = hash_type
        .parse()
        .map_err(|_| StatementError::HashType(hash_type.to_owned()))?;
    let serialization = match method {
        "files" => Serialization::Files,
        "shards" => Serialization::Shards {
            shard_size: parse_shard_size(get(obj, "shard_size", ctx)?)?,
        },
        other => return Err(StatementError::SerializationType(other.to_owned())),
    };
    let ignore_paths = match obj.get("ignore_paths") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => as_array(v, "serialization.ignore_paths")?
            .iter()
            .map(|p| as_str(p, "serialization.ignore_paths[]").map(str::to_owned))
            .collect::<Result<_, _>>()?,
    };
    Ok(SignedSerialization {
        hashing: HashingConfig::new(algorithm, serialization),
        allow_symlinks,
        ignore_paths,
    })
}

/// Parses the DSSE payload (the signed statement) into the expected manifest, checking the
/// root digest against the resources in payload order (§3.1) — or the legacy list (§3.2).
pub fn parse(payload: &[u8]) -> Result<SignedStatement, StatementError> {
    // The statement's small parts are read as JSON values; `predicate` stays raw text until
    // `resources` is read entry by entry, so a statement listing 100,000 files never becomes a
    // tree of JSON values in memory.
    let top: Statement<'_> = serde_json::from_slice(payload).map_err(|e| {
        match serde_json::from_slice::<Value>(payload) {
            Ok(v) if !v.is_object() => wrong("statement", "an object", &v),
            _ => StatementError::Json(e.to_string()),
        }
    })?;
    let ty = top.ty.ok_or(StatementError::MissingField {
        field: "_type",
        context: "the statement",
    })?;
    if ty.as_str() != Some(STATEMENT_TYPE) {
        return Err(StatementError::StatementType(display_value(&ty)));
    }
    let predicate_type = top
        .predicate_type
        .as_ref()
        .ok_or(StatementError::MissingField {
            field: "predicateType",
            context: "the statement",
        })?;
    let subject = top.subject.as_ref().ok_or(StatementError::MissingField {
        field: "subject",
        context: "the statement",
    })?;
    match predicate_type.as_str() {
        Some(PREDICATE_V1) => parse_v1(subject, top.predicate),
        Some(PREDICATE_DIGESTS_V01) => parse_legacy(subject),
        _ => Err(StatementError::PredicateType(display_value(predicate_type))),
    }
}

/// The in-toto statement, with the predicate kept as raw JSON text.
#[derive(serde::Deserialize)]
struct Statement<'a> {
    #[serde(rename = "_type")]
    ty: Option<Value>,
    subject: Option<Value>,
    #[serde(rename = "predicateType")]
    predicate_type: Option<Value>,
    #[serde(borrow)]
    predicate: Option<&'a RawValue>,
}

/// The v1.0 predicate, with the resource list kept as raw JSON text.
#[derive(serde::Deserialize)]
struct Predicate<'a> {
    serialization: Option<Value>,
    #[serde(borrow)]
    resources: Option<&'a RawValue>,
}

/// One resource, borrowing its strings from the payload where they have no escapes.
#[derive(serde::Deserialize)]
struct RawResource<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    algorithm: Cow<'a, str>,
    #[serde(borrow)]
    digest: Cow<'a, str>,
}

fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_v1(
    subject: &Value,
    predicate: Option<&RawValue>,
) -> Result<SignedStatement, StatementError> {
    let subjects = as_array(subject, "subject")?;
    if subjects.len() != 1 {
        return Err(StatementError::SubjectCount(
            Value::Array(subjects.clone()).to_string(),
        ));
    }
    let subject = as_obj(&subjects[0], "subject[0]")?;
    let model_name = subject
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let digest = as_obj(get(subject, "digest", "subject[0]")?, "subject[0].digest")?;
    let signed_root = as_str(
        get(digest, "sha256", "subject[0].digest")?,
        "subject[0].digest.sha256",
    )?;

    let predicate = predicate.ok_or(StatementError::MissingField {
        field: "predicate",
        context: "the statement",
    })?;
    let predicate: Predicate<'_> = serde_json::from_str(predicate.get()).map_err(|_| {
        let v: Value = serde_json::from_str(predicate.get()).unwrap_or(Value::Null);
        wrong("predicate", "an object", &v)
    })?;
    let serialization = parse_serialization(predicate.serialization.as_ref().ok_or(
        StatementError::MissingField {
            field: "serialization",
            context: "predicate",
        },
    )?)?;
    let resources = predicate.resources.ok_or(StatementError::MissingField {
        field: "resources",
        context: "predicate",
    })?;
    let resources: Vec<RawResource<'_>> = serde_json::from_str(resources.get())
        .map_err(|e| StatementError::Resources(e.to_string()))?;

    let sharded = matches!(
        serialization.hashing.serialization,
        Serialization::Shards { .. }
    );
    let mut manifest = Manifest::new(model_name);
    let mut root = Sha256::new();
    // Every resource normally has the same algorithm string: share one allocation.
    let mut algorithm: Arc<str> = Arc::from("");
    for r in &resources {
        let name: &str = &r.name;
        let value = from_hex(&r.digest, name)?;
        let key = if sharded {
            let parts: Vec<&str> = name.split(':').collect();
            let [path, start, end] = parts[..] else {
                return Err(StatementError::ShardName(name.to_owned()));
            };
            let (Some(start), Some(end)) = (parse_offset(start), parse_offset(end)) else {
                return Err(StatementError::ShardName(name.to_owned()));
            };
            ResourceKey::Shard {
                name: posix::normalize(path),
                start,
                end,
            }
        } else {
            ResourceKey::File(posix::normalize(name))
        };
        // The root covers every entry in payload order, duplicates included...
        root.update(&value);
        if *algorithm != *r.algorithm {
            algorithm = Arc::from(&*r.algorithm);
        }
        // ...but a duplicate name overwrites the earlier one in the manifest.
        manifest.resources.insert(
            key,
            Digest {
                algorithm: Arc::clone(&algorithm),
                value,
            },
        );
    }
    let computed = hex::encode(root.finalize());
    if computed != signed_root {
        return Err(StatementError::Inconsistent {
            signed: signed_root.to_owned(),
            computed,
        });
    }
    Ok(SignedStatement {
        manifest,
        serialization: Some(serialization),
        root_digest: Some(computed),
        resource_entries: resources.len(),
    })
}

fn parse_legacy(subject: &Value) -> Result<SignedStatement, StatementError> {
    let subjects = as_array(subject, "subject")?;
    let mut manifest = Manifest::new("compat-undefined-not-present");
    for s in subjects {
        let s = as_obj(s, "subject")?;
        let name = as_str(get(s, "name", "a subject")?, "subject name")?;
        let digest = as_obj(get(s, "digest", "a subject")?, "subject digest")?;
        let hex_digest = as_str(get(digest, "sha256", "a subject digest")?, "subject digest")?;
        manifest.resources.insert(
            ResourceKey::File(posix::normalize(name)),
            Digest {
                algorithm: HashAlgorithm::Sha256.name().into(),
                value: from_hex(hex_digest, name)?,
            },
        );
    }
    Ok(SignedStatement {
        manifest,
        serialization: None,
        root_digest: None,
        resource_entries: subjects.len(),
    })
}

/// Writes the v1.0 statement for a manifest, as `model_signing` 1.1.x does (integer
/// `shard_size`, which both the Python CLI and API read; `ignore_paths` only when non-empty).
pub fn write(
    manifest: &Manifest,
    hashing: &HashingConfig,
    allow_symlinks: bool,
    ignore_paths: &[String],
) -> Vec<u8> {
    let mut serialization = Map::new();
    serialization.insert("method".into(), json!(hashing.serialization.method()));
    serialization.insert("hash_type".into(), json!(hashing.algorithm.name()));
    serialization.insert("allow_symlinks".into(), json!(allow_symlinks));
    if let Serialization::Shards { shard_size } = hashing.serialization {
        serialization.insert("shard_size".into(), json!(shard_size));
    }
    if !ignore_paths.is_empty() {
        serialization.insert("ignore_paths".into(), json!(ignore_paths));
    }
    let resources: Vec<Value> = manifest
        .resources
        .iter()
        .map(|(k, d)| {
            json!({
                "name": k.identifier(),
                "algorithm": &*d.algorithm,
                "digest": hex::encode(&d.value),
            })
        })
        .collect();
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": manifest.model_name,
            "digest": { "sha256": hex::encode(manifest.root_digest()) },
        }],
        "predicateType": PREDICATE_V1,
        "predicate": {
            "serialization": Value::Object(serialization),
            "resources": resources,
        },
    });
    // Serialising a `Value` cannot fail.
    serde_json::to_vec_pretty(&statement).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::root_digest;

    fn statement(serialization: Value, resources: Value, root: Option<&str>) -> Vec<u8> {
        let digests: Vec<Vec<u8>> = resources
            .as_array()
            .unwrap()
            .iter()
            .map(|r| from_hex(r["digest"].as_str().unwrap(), "").unwrap_or_default())
            .collect();
        let computed = hex::encode(root_digest(digests.iter().map(Vec::as_slice)));
        serde_json::to_vec(&json!({
            "_type": STATEMENT_TYPE,
            "subject": [{"name": "m", "digest": {"sha256": root.unwrap_or(&computed)}}],
            "predicateType": PREDICATE_V1,
            "predicate": {"serialization": serialization, "resources": resources, "extra": 1},
            "unknown": true,
        }))
        .unwrap()
    }

    fn files_sha256() -> Value {
        json!({"method": "files", "hash_type": "sha256", "allow_symlinks": false, "future": "x"})
    }

    #[test]
    fn a_long_wrong_value_is_cut_on_a_character_boundary() {
        // 76 ASCII bytes then a 2-byte character across byte 77: cutting at 77 would panic
        for prefix in [75, 76, 77] {
            let value = Value::String(format!("{}{}", "a".repeat(prefix), "\u{3c6}".repeat(40)));
            let StatementError::WrongType { got, .. } = wrong("subject", "a list", &value) else {
                panic!("not WrongType");
            };
            assert!(got.ends_with("...") && got.len() <= 80, "{got}");
        }
    }

    #[test]
    fn names_are_normalised_and_unknown_fields_ignored() {
        let p = statement(
            files_sha256(),
            json!([
                {"name": "./README.md", "algorithm": "sha256", "digest": "00ff", "x": 1},
                {"name": "weights//nested/./t.json", "algorithm": "sha256", "digest": "AB CD"},
                {"name": "config.json/", "algorithm": "sha256", "digest": "01"},
            ]),
            None,
        );
        let s = parse(&p).unwrap();
        let names: Vec<String> = s
            .manifest
            .resources
            .keys()
            .map(ResourceKey::identifier)
            .collect();
        assert_eq!(names, ["README.md", "config.json", "weights/nested/t.json"]);
        assert_eq!(
            s.manifest.resources[&ResourceKey::File("weights/nested/t.json".into())].value,
            vec![0xab, 0xcd]
        );
    }

    #[test]
    fn root_digest_is_checked_in_payload_order_and_case_sensitively() {
        let res = json!([
            {"name": "b", "algorithm": "sha256", "digest": "02"},
            {"name": "a", "algorithm": "sha256", "digest": "01"},
        ]);
        // Payload order b, a: the root is over 02 01, not the sorted 01 02.
        let ok = statement(files_sha256(), res.clone(), None);
        assert!(parse(&ok).is_ok());
        let sorted_root = hex::encode(root_digest([&[1u8][..], &[2u8][..]]));
        let bad = statement(files_sha256(), res.clone(), Some(&sorted_root));
        assert!(matches!(
            parse(&bad),
            Err(StatementError::Inconsistent { .. })
        ));
        let upper = hex::encode(root_digest([&[2u8][..], &[1u8][..]])).to_uppercase();
        let err = parse(&statement(files_sha256(), res, Some(&upper))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Manifest is inconsistent. Root digest is "),
            "{err}"
        );
    }

    #[test]
    fn shard_size_as_integer_or_integral_float() {
        for size in [json!(1000), json!(1000.0)] {
            let ser = json!({"method": "shards", "hash_type": "sha256", "allow_symlinks": false, "shard_size": size});
            let p = statement(
                ser,
                json!([{"name": "w:0:1000", "algorithm": "sha256-sharded-1000", "digest": "01"}]),
                None,
            );
            let s = parse(&p).unwrap();
            assert_eq!(
                s.hashing().serialization,
                Serialization::Shards { shard_size: 1000 }
            );
            assert!(s.manifest.resources.contains_key(&ResourceKey::Shard {
                name: "w".into(),
                start: 0,
                end: 1000
            }));
        }
        for size in [json!(10.5), json!(0), json!(-1), json!("1000"), json!(1e30)] {
            let ser = json!({"method": "shards", "hash_type": "sha256", "allow_symlinks": false, "shard_size": size});
            assert!(parse(&statement(ser, json!([]), None)).is_err(), "{size}");
        }
    }

    #[test]
    fn bad_shard_names_are_rejected() {
        let ser = json!({"method": "shards", "hash_type": "sha256", "allow_symlinks": false, "shard_size": 10});
        for name in ["with:colon.txt:0:18", "a:0", "a:x:1", "a:-1:2"] {
            let p = statement(
                ser.clone(),
                json!([{"name": name, "algorithm": "a", "digest": "01"}]),
                None,
            );
            let err = parse(&p).unwrap_err();
            assert!(matches!(err, StatementError::ShardName(_)), "{name}: {err}");
        }
    }

    #[test]
    fn errors_use_model_signing_templates() {
        let mut v: Value =
            serde_json::from_slice(&statement(files_sha256(), json!([]), None)).unwrap();
        v["_type"] = json!("x");
        assert_eq!(
            parse(&serde_json::to_vec(&v).unwrap())
                .unwrap_err()
                .to_string(),
            "Expected in-toto https://in-toto.io/Statement/v1 payload, but got x"
        );
        v["_type"] = json!(STATEMENT_TYPE);
        v["predicateType"] = json!("y");
        assert_eq!(
            parse(&serde_json::to_vec(&v).unwrap())
                .unwrap_err()
                .to_string(),
            "Predicate type mismatch, expected https://model_signing/signature/v1.0, got y"
        );
        v["predicateType"] = json!(PREDICATE_V1);
        v["subject"] = json!([]);
        assert!(
            parse(&serde_json::to_vec(&v).unwrap())
                .unwrap_err()
                .to_string()
                .starts_with("Expected only one subject, got")
        );
        let ser = json!({"method": "tree", "hash_type": "sha256", "allow_symlinks": false});
        assert_eq!(
            parse(&statement(ser, json!([]), None))
                .unwrap_err()
                .to_string(),
            "Unknown serialization type tree"
        );
        let ser = json!({"method": "files", "hash_type": "sha256"});
        assert!(
            parse(&statement(ser, json!([]), None))
                .unwrap_err()
                .to_string()
                .starts_with("'allow_symlinks'")
        );
        let p = statement(
            files_sha256(),
            json!([{"name": "a", "algorithm": "sha256", "digest": "0g"}]),
            Some("00"),
        );
        assert!(
            parse(&p)
                .unwrap_err()
                .to_string()
                .starts_with("non-hexadecimal number found in fromhex() arg at position 1")
        );
        assert!(matches!(parse(b"not json"), Err(StatementError::Json(_))));
        assert!(matches!(
            parse(b"[1]"),
            Err(StatementError::WrongType { .. })
        ));
    }

    #[test]
    fn legacy_digests_predicate_becomes_a_files_sha256_manifest() {
        let p = serde_json::to_vec(&json!({
            "_type": STATEMENT_TYPE,
            "subject": [
                {"name": "signme-1", "digest": {"sha256": "aa"}, "annotations": {"actual_hash_algorithm": "file-sha256"}},
                {"name": "d/signme-2", "digest": {"sha256": "bb"}},
            ],
            "predicateType": PREDICATE_DIGESTS_V01,
            "predicate": {"unused": "Unused, just passed due to API requirements"},
        }))
        .unwrap();
        let s = parse(&p).unwrap();
        assert!(s.serialization.is_none());
        assert_eq!(s.hashing(), HashingConfig::default());
        assert_eq!(s.manifest.resources.len(), 2);
    }

    #[test]
    fn written_statements_parse_back() {
        let mut m = Manifest::new("model é");
        m.resources.insert(
            ResourceKey::File("b".into()),
            Digest {
                algorithm: "sha256".into(),
                value: vec![2; 32],
            },
        );
        m.resources.insert(
            ResourceKey::File("a/x".into()),
            Digest {
                algorithm: "sha256".into(),
                value: vec![1; 32],
            },
        );
        let cfg = HashingConfig::default();
        let payload = write(&m, &cfg, false, &["model.sig".into()]);
        let s = parse(&payload).unwrap();
        assert_eq!(s.manifest.resources, m.resources);
        assert_eq!(s.root_digest.unwrap(), hex::encode(m.root_digest()));
        assert_eq!(
            s.serialization.unwrap().ignore_paths,
            vec!["model.sig".to_owned()]
        );
    }
}
