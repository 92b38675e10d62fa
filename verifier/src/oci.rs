//! OCI images as models: the OCI-manifest signatures of the Go `model-signing` (and of
//! `model_signing`'s `--oci-manifest` proposal).
//!
//! Such a signature is an ordinary v1.0 statement (files, SHA-256) whose resources are the image
//! manifest's blobs instead of a directory's files: one item per layer, named by the layer's
//! `org.opencontainers.image.title` annotation (else `layer_NNN.tar.gz`, `NNN` the layer's
//! zero-based index, at least three digits), with the layer digest as its digest; plus an item
//! `config.json` with the config blob's digest when the signer includes it (the Go signer
//! does). No blob is read: the container runtime checks every blob it pulls against these
//! digests, and the manifest's own digest names the image.
//!
//! Owns: strict parsing of an image manifest (schema version, media types, `sha256:<64 hex>`
//! digests, sizes, layer names), resolving an image in an OCI image layout directory, and
//! turning the manifest into the [`Manifest`] a signature is compared with. Bounded memory: a
//! manifest or index larger than [`MAX_MANIFEST_BYTES`] is refused before it is parsed.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::hashing::{HashAlgorithm, HashingConfig, Serialization};
use crate::manifest::{Digest, Manifest, ResourceKey};
use crate::posix;

mod layout;
mod source;

use layout::from_layout;
#[cfg(test)]
use layout::parse_reference;
pub use source::OciSource;

/// Manifests and indexes larger than this are refused (registries commonly cap manifests at
/// 4 MiB; a manifest of 10,000 layers is about 2 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// The layer annotation that names a layer's item.
pub(crate) const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";
/// The `index.json` annotation that holds a manifest's tag.
pub(crate) const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// The item name of the config blob.
pub const CONFIG_ITEM: &str = "config.json";
/// OCI image manifest.
pub(crate) const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker image manifest, schema 2 (what `skopeo inspect --raw` shows for most Docker images).
pub(crate) const MEDIA_TYPE_DOCKER_MANIFEST: &str =
    "application/vnd.docker.distribution.manifest.v2+json";
const INDEX_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// An OCI manifest or layout that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// A file cannot be read.
    #[error("cannot read '{}': {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than [`MAX_MANIFEST_BYTES`].
    #[error("'{}' is larger than {} MiB; an OCI manifest or index is a few KiB", path.display(), MAX_MANIFEST_BYTES >> 20)]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// Not JSON, or not a JSON object.
    #[error("'{}' is not a valid OCI {what}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// `image manifest`, `image index` or `layout marker`.
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A field is missing or has the wrong type or value.
    #[error("'{}' is not a valid OCI image manifest: {field} {problem}", path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// The JSON path of the field, e.g. `layers[2].size`.
        field: String,
        /// What is wrong, e.g. `must be a non-negative integer`.
        problem: &'static str,
    },
    /// A digest that is not `sha256:<64 lower-case hex digits>`.
    #[error("'{}': {field} is '{digest}', expected sha256:<64 lower-case hex digits> (other digest algorithms are not supported)", path.display())]
    Digest {
        /// The file.
        path: PathBuf,
        /// The JSON path of the field.
        field: String,
        /// The digest as written (truncated to 100 characters).
        digest: String,
    },
    /// A media type that is not `type/subtype`.
    #[error("'{}': {field} is '{media_type}', not a media type (type/subtype)", path.display())]
    MediaType {
        /// The file.
        path: PathBuf,
        /// The JSON path of the field.
        field: String,
        /// The value (truncated to 100 characters).
        media_type: String,
    },
    /// An image index (multi-platform image) where an image manifest is needed.
    #[error("'{}' is an image index ({media_type}), not an image manifest: give one platform's manifest (its sha256 digest with --image, or `skopeo inspect --raw` of that digest)", path.display())]
    IsIndex {
        /// The file, or the index entry.
        path: PathBuf,
        /// The index's media type.
        media_type: String,
    },
    /// A manifest media type this verifier does not read.
    #[error("'{}' has media type '{media_type}'; expected {MEDIA_TYPE_OCI_MANIFEST} or {MEDIA_TYPE_DOCKER_MANIFEST}", path.display())]
    ManifestType {
        /// The file.
        path: PathBuf,
        /// Its media type.
        media_type: String,
    },
    /// A layer title that is not a plain relative path.
    #[error("'{}': layers[{index}] has title '{title}', which is not a normalised relative path (no leading '/', no '.' or '..' components, no empty components)", path.display())]
    Title {
        /// The file.
        path: PathBuf,
        /// The layer's index.
        index: usize,
        /// The title (truncated to 200 characters).
        title: String,
    },
    /// Two items with the same name (two layers with one title, or a layer titled like the
    /// config item): which one the signature covers would be ambiguous.
    #[error("'{}': two items are named '{name}' (layer titles must be unique, and 'config.json' names the config blob)", path.display())]
    DuplicateName {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
    },
    /// No layers.
    #[error("'{}' lists no layers: an image without layers is not a model", path.display())]
    NoLayers {
        /// The file.
        path: PathBuf,
    },
    /// The directory is not an OCI image layout.
    #[error("'{}' is not an OCI image layout: {problem}", dir.display())]
    NotALayout {
        /// The directory.
        dir: PathBuf,
        /// What is missing or wrong.
        problem: &'static str,
    },
    /// `--image` is malformed.
    #[error("--image '{reference}' is not TAG, sha256:<hex> or TAG@sha256:<hex>")]
    Reference {
        /// The reference.
        reference: String,
    },
    /// No manifest in `index.json` matches `--image`, or several do.
    #[error("'{}': {problem} (tags in index.json: {tags})", dir.display())]
    Resolve {
        /// The layout.
        dir: PathBuf,
        /// What went wrong.
        problem: String,
        /// The tags listed, comma-separated.
        tags: String,
    },
    /// A blob's content does not have the digest (or size) it is stored under.
    #[error("blob '{}' does not match its descriptor: expected {expected}, found {found}", path.display())]
    Blob {
        /// The blob file.
        path: PathBuf,
        /// Digest and size expected.
        expected: String,
        /// Digest and size found.
        found: String,
    },
    /// `--image` without `--oci-layout`.
    #[error("--image needs --oci-layout")]
    ImageWithoutLayout,
    /// A command-line option that has no meaning for an OCI image.
    #[error("{option} does not apply to an OCI image (the items are the manifest's layers)")]
    Option {
        /// The option.
        option: &'static str,
    },
    /// The signature was not made the way OCI-manifest signatures are (files, SHA-256).
    #[error(
        "the signature hashes the model as '{found}'; an OCI image can only be checked against a files/sha256 signature (layer digests are SHA-256)"
    )]
    Serialization {
        /// The signature's resource algorithm.
        found: String,
    },
}

/// One blob of an image: its item name and SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// The item name (`config.json`, the layer title, or `layer_NNN.tar.gz`).
    pub name: String,
    /// The SHA-256 digest.
    pub digest: [u8; 32],
    /// The size in bytes the manifest records.
    pub size: u64,
}

/// A parsed, validated image manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciImage {
    /// The model name for messages and the statement's subject: the manifest file's stem, or the
    /// layout's tag.
    pub name: String,
    /// `sha256:<hex>` of the manifest bytes: the image's digest.
    pub manifest_digest: String,
    /// The config blob (named [`CONFIG_ITEM`]).
    pub config: Blob,
    /// The layers, in manifest order, named.
    pub layers: Vec<Blob>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<Value>,
    media_type: Option<Value>,
    config: Option<Value>,
    layers: Option<Value>,
    manifests: Option<serde::de::IgnoredAny>,
}

/// Deserializes any JSON document and fails on a duplicate object key at any depth: parsers
/// disagree on which of two equal keys wins, so such a manifest is refused.
struct NoDuplicateKeys;

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = NoDuplicateKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
                Ok(NoDuplicateKeys)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut keys = std::collections::HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !keys.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate key '{}'",
                            truncated(&key, 100)
                        )));
                    }
                    map.next_value::<NoDuplicateKeys>()?;
                }
                Ok(NoDuplicateKeys)
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses JSON, refusing duplicate keys anywhere.
fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    path: &Path,
    what: &'static str,
) -> Result<T, OciError> {
    let json_err = |source| OciError::Json {
        path: path.to_owned(),
        what,
        source,
    };
    serde_json::from_slice::<NoDuplicateKeys>(bytes).map_err(json_err)?;
    serde_json::from_slice(bytes).map_err(json_err)
}

fn truncated(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// `sha256:<64 lower-case hex>` → the raw digest.
pub(crate) fn parse_sha256_digest(s: &str) -> Option<[u8; 32]> {
    let hex_part = s.strip_prefix("sha256:")?;
    if hex_part.len() != 64
        || !hex_part
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

/// The OCI image spec's media type grammar (RFC 6838 names): `type/subtype`, each 1 to 127
/// characters of `A-Za-z0-9!#$&^_.+-`, starting with a letter or digit.
pub(crate) fn is_media_type(s: &str) -> bool {
    fn part(p: &str) -> bool {
        let b = p.as_bytes();
        !b.is_empty()
            && b.len() <= 127
            && b[0].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(c))
    }
    matches!(s.split_once('/'), Some((t, st)) if part(t) && part(st))
}

/// A layer title usable as an item name: what `model_signing` normalisation leaves unchanged,
/// relative, without `..`, printable.
fn is_plain_title(t: &str) -> bool {
    !t.starts_with('/')
        && posix::normalize(t) == t
        && t != "."
        && !t.split('/').any(|c| c == "..")
        && !t.chars().any(char::is_control)
}

/// The name of layer `index` without a title: `layer_000.tar.gz`, `layer_001.tar.gz`, ...
pub(crate) fn default_layer_name(index: usize) -> String {
    format!("layer_{index:03}.tar.gz")
}

/// A validated descriptor.
struct Descriptor {
    media_type: String,
    digest: [u8; 32],
    size: u64,
    annotations: BTreeMap<String, String>,
}

struct Ctx<'a> {
    path: &'a Path,
}

impl Ctx<'_> {
    fn field(&self, field: impl Into<String>, problem: &'static str) -> OciError {
        OciError::Field {
            path: self.path.to_owned(),
            field: field.into(),
            problem,
        }
    }

    /// A descriptor: (media type, digest, size, annotations).
    fn descriptor(&self, v: &Value, at: &str) -> Result<Descriptor, OciError> {
        let obj = v
            .as_object()
            .ok_or_else(|| self.field(at, "must be an object (a descriptor)"))?;
        let media_type = match obj.get("mediaType") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(self.field(format!("{at}.mediaType"), "must be a string")),
            None => return Err(self.field(format!("{at}.mediaType"), "is missing")),
        };
        if !is_media_type(&media_type) {
            return Err(OciError::MediaType {
                path: self.path.to_owned(),
                field: format!("{at}.mediaType"),
                media_type: truncated(&media_type, 100),
            });
        }
        let digest = match obj.get("digest") {
            Some(Value::String(s)) => parse_sha256_digest(s).ok_or_else(|| OciError::Digest {
                path: self.path.to_owned(),
                field: format!("{at}.digest"),
                digest: truncated(s, 100),
            })?,
            Some(_) => return Err(self.field(format!("{at}.digest"), "must be a string")),
            None => return Err(self.field(format!("{at}.digest"), "is missing")),
        };
        let size = match obj.get("size") {
            // JSON integers only: no floats, no negatives, at most 2^63 - 1 (the spec's int64).
            Some(Value::Number(n)) => n
                .as_u64()
                .filter(|s| i64::try_from(*s).is_ok())
                .ok_or_else(|| {
                    self.field(format!("{at}.size"), "must be a non-negative integer")
                })?,
            Some(_) => {
                return Err(self.field(format!("{at}.size"), "must be a non-negative integer"));
            }
            None => return Err(self.field(format!("{at}.size"), "is missing")),
        };
        let annotations = match obj.get("annotations") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(self.field(
                        format!("{at}.annotations.{k}"),
                        "must be a string (annotation values are strings)",
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(self.field(format!("{at}.annotations"), "must be an object")),
        };
        Ok(Descriptor {
            media_type,
            digest,
            size,
            annotations,
        })
    }
}

impl OciImage {
    /// Parses and validates an image manifest's bytes. `path` names it in errors; `name` is the
    /// model name.
    pub fn parse(bytes: &[u8], path: &Path, name: String) -> Result<Self, OciError> {
        let ctx = Ctx { path };
        let raw: RawManifest = parse_json(bytes, path, "image manifest")?;
        let media_type = match &raw.media_type {
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(ctx.field("mediaType", "must be a string")),
        };
        if let Some(mt) = media_type {
            if INDEX_MEDIA_TYPES.contains(&mt) {
                return Err(OciError::IsIndex {
                    path: path.to_owned(),
                    media_type: mt.to_owned(),
                });
            }
            if mt != MEDIA_TYPE_OCI_MANIFEST && mt != MEDIA_TYPE_DOCKER_MANIFEST {
                return Err(OciError::ManifestType {
                    path: path.to_owned(),
                    media_type: truncated(mt, 100),
                });
            }
        } else if raw.manifests.is_some() {
            return Err(OciError::IsIndex {
                path: path.to_owned(),
                media_type: "an index without mediaType".to_owned(),
            });
        }
        match &raw.schema_version {
            Some(Value::Number(n)) if n.as_u64() == Some(2) => {}
            Some(_) => return Err(ctx.field("schemaVersion", "must be 2")),
            None => return Err(ctx.field("schemaVersion", "is missing")),
        }
        let config = raw
            .config
            .as_ref()
            .ok_or_else(|| ctx.field("config", "is missing"))?;
        let config = ctx.descriptor(config, "config")?;
        let layers = match &raw.layers {
            Some(Value::Array(a)) => a,
            Some(_) => return Err(ctx.field("layers", "must be a list")),
            None => return Err(ctx.field("layers", "is missing")),
        };
        if layers.is_empty() {
            return Err(OciError::NoLayers {
                path: path.to_owned(),
            });
        }
        let mut named = Vec::with_capacity(layers.len());
        let mut seen = std::collections::HashSet::with_capacity(layers.len());
        for (i, layer) in layers.iter().enumerate() {
            let Descriptor {
                digest,
                size,
                annotations,
                ..
            } = ctx.descriptor(layer, &format!("layers[{i}]"))?;
            let name = match annotations.get(TITLE_ANNOTATION) {
                // An empty title counts as none (as the Go implementation reads it).
                Some(t) if !t.is_empty() => {
                    if !is_plain_title(t) {
                        return Err(OciError::Title {
                            path: path.to_owned(),
                            index: i,
                            title: truncated(t, 200),
                        });
                    }
                    t.clone()
                }
                _ => default_layer_name(i),
            };
            if !seen.insert(name.clone()) {
                return Err(OciError::DuplicateName {
                    path: path.to_owned(),
                    name,
                });
            }
            named.push(Blob { name, digest, size });
        }
        Ok(Self {
            name,
            manifest_digest: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
            config: Blob {
                name: CONFIG_ITEM.to_owned(),
                digest: config.digest,
                size: config.size,
            },
            layers: named,
        })
    }

    /// Reads and parses a manifest file (`--oci-manifest`); the model name is the file's stem,
    /// as the Go implementation names it.
    pub fn from_file(path: &Path) -> Result<Self, OciError> {
        let bytes = read_bounded(path)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "oci-image".to_owned());
        Self::parse(&bytes, path, name)
    }

    /// Reads the image a source names.
    pub fn open(source: &OciSource) -> Result<Self, OciError> {
        match source {
            OciSource::Manifest(path) => Self::from_file(path),
            OciSource::Layout { dir, image } => from_layout(dir, image.as_deref()),
        }
    }

    /// The items a signature of this image lists: the layers, and `config.json` when
    /// `include_config` (refused if a layer is titled `config.json`).
    pub fn items(&self, include_config: bool) -> Result<Manifest, OciError> {
        let algorithm: Arc<str> = HashAlgorithm::Sha256.name().into();
        let mut manifest = Manifest::new(self.name.clone());
        let config = include_config.then_some(&self.config);
        for blob in self.layers.iter().chain(config) {
            let previous = manifest.resources.insert(
                ResourceKey::File(blob.name.clone()),
                Digest {
                    algorithm: Arc::clone(&algorithm),
                    value: blob.digest.to_vec(),
                },
            );
            if previous.is_some() {
                return Err(OciError::DuplicateName {
                    path: PathBuf::from(&self.name),
                    name: blob.name.clone(),
                });
            }
        }
        Ok(manifest)
    }

    /// The statement a signer signs for this image (files, SHA-256, no symlinks, no ignored
    /// paths, as the Go signer writes it).
    pub fn signing_payload(
        &self,
        include_config: bool,
    ) -> Result<crate::model::SigningPayload, OciError> {
        let manifest = self.items(include_config)?;
        let payload = crate::statement::write(&manifest, &HashingConfig::default(), false, &[]);
        Ok(crate::model::SigningPayload {
            payload,
            root_digest: hex::encode(manifest.root_digest()),
            manifest,
        })
    }

    /// The local manifest to compare with a signed one: the layers, `config.json` if the
    /// signature lists it, without the signer's recorded `ignore_paths`, and only the signed
    /// names when `only_signed` (`--ignore_unsigned_files`). Refuses a signature that is not
    /// files/SHA-256. The second value is a warning when the config blob is not covered.
    pub(crate) fn local_manifest(
        &self,
        signed: &crate::statement::SignedStatement,
        only_signed: bool,
    ) -> Result<(Manifest, Option<String>), OciError> {
        let hashing = signed.hashing();
        if hashing.serialization != Serialization::Files
            || hashing.algorithm != HashAlgorithm::Sha256
        {
            return Err(OciError::Serialization {
                found: hashing.resource_algorithm(),
            });
        }
        let config_key = ResourceKey::File(CONFIG_ITEM.to_owned());
        let config_signed = signed.manifest.resources.contains_key(&config_key);
        let mut local = self.items(config_signed)?;
        let recorded = signed
            .serialization
            .as_ref()
            .map(|s| s.ignore_paths.as_slice())
            .unwrap_or_default();
        local.resources.retain(|k, _| {
            let name = k.file_name();
            let ignored = recorded.iter().any(|p| {
                let p = posix::normalize(p);
                name == p || name.strip_prefix(&p).is_some_and(|r| r.starts_with('/'))
            });
            !ignored && (!only_signed || signed.manifest.resources.contains_key(k))
        });
        let warning = (!config_signed).then(|| {
            format!(
                "WARNING: the signature does not list {CONFIG_ITEM}: the image's config blob ({}) is not covered by it",
                hex::encode(self.config.digest)
            )
        });
        Ok((local, warning))
    }
}

/// Reads at most [`MAX_MANIFEST_BYTES`] of a file.
fn read_bounded(path: &Path) -> Result<Vec<u8>, OciError> {
    let read_err = |source| OciError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    crate::input::read_at_most(file, MAX_MANIFEST_BYTES)
        .map_err(read_err)?
        .ok_or_else(|| OciError::TooLarge {
            path: path.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(byte: char) -> String {
        format!("sha256:{}", byte.to_string().repeat(64))
    }

    fn layer(digest: &str, title: Option<&str>) -> Value {
        let mut l = json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": 7});
        if let Some(t) = title {
            l["annotations"] = json!({ TITLE_ANNOTATION: t });
        }
        l
    }

    fn manifest(layers: Vec<Value>) -> Value {
        json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d('c'), "size": 2},
            "layers": layers,
        })
    }

    fn parse(v: &Value) -> Result<OciImage, OciError> {
        OciImage::parse(
            &serde_json::to_vec(v).unwrap(),
            Path::new("m.json"),
            "m".into(),
        )
    }

    #[test]
    fn items_are_titles_or_zero_padded_layer_names_plus_config() {
        let mut layers: Vec<Value> = (0..12)
            .map(|i| layer(&format!("sha256:{i:064x}"), None))
            .collect();
        layers[1] = layer(&d('a'), Some("weights/model.safetensors"));
        layers[2] = layer(&d('b'), Some(""));
        let image = parse(&manifest(layers)).unwrap();
        let names: Vec<&str> = image.layers.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names[0], "layer_000.tar.gz");
        assert_eq!(names[1], "weights/model.safetensors");
        assert_eq!(names[2], "layer_002.tar.gz");
        assert_eq!(names[11], "layer_011.tar.gz");
        assert_eq!(default_layer_name(1234), "layer_1234.tar.gz");
        let with = image.items(true).unwrap();
        assert_eq!(with.resources.len(), 13);
        let config = &with.resources[&ResourceKey::File(CONFIG_ITEM.into())];
        assert_eq!(config.value, vec![0xcc; 32]);
        assert_eq!(&*config.algorithm, "sha256");
        assert_eq!(image.items(false).unwrap().resources.len(), 12);
        assert!(image.manifest_digest.starts_with("sha256:"));
    }

    #[test]
    fn malformed_manifests_are_refused_with_the_field_named() {
        let ok = manifest(vec![layer(&d('a'), Some("a.bin"))]);
        assert!(parse(&ok).is_ok());
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|m| m["schemaVersion"] = json!(1)),
                "schemaVersion must be 2",
            ),
            (
                Box::new(|m| m["schemaVersion"] = json!("2")),
                "schemaVersion must be 2",
            ),
            (
                Box::new(|m| {
                    m.as_object_mut().unwrap().remove("schemaVersion");
                }),
                "schemaVersion is missing",
            ),
            (
                Box::new(|m| m["mediaType"] = json!("application/vnd.oci.image.index.v1+json")),
                "is an image index",
            ),
            (
                Box::new(|m| m["mediaType"] = json!("text/plain")),
                "has media type 'text/plain'",
            ),
            (
                Box::new(|m| {
                    m.as_object_mut().unwrap().remove("config");
                }),
                "config is missing",
            ),
            (Box::new(|m| m["layers"] = json!([])), "lists no layers"),
            (
                Box::new(|m| m["layers"] = json!({})),
                "layers must be a list",
            ),
            (
                Box::new(|m| {
                    m["layers"][0]["digest"] = json!(format!("sha256:{}", "A".repeat(64)))
                }),
                "layers[0].digest is 'sha256:AAAA",
            ),
            (
                Box::new(|m| {
                    m["layers"][0]["digest"] = json!(format!("sha256:{}", "a".repeat(63)))
                }),
                "expected sha256:<64",
            ),
            (
                Box::new(|m| {
                    m["layers"][0]["digest"] = json!(format!("sha512:{}", "a".repeat(128)))
                }),
                "other digest algorithms",
            ),
            (
                Box::new(|m| m["layers"][0]["digest"] = json!(7)),
                "layers[0].digest must be a string",
            ),
            (
                Box::new(|m| m["config"]["digest"] = json!("sha256:zz")),
                "config.digest is 'sha256:zz'",
            ),
            (
                Box::new(|m| m["layers"][0]["size"] = json!(-1)),
                "layers[0].size must be a non-negative integer",
            ),
            (
                Box::new(|m| m["layers"][0]["size"] = json!(1.5)),
                "layers[0].size must be a non-negative integer",
            ),
            (
                Box::new(|m| m["layers"][0]["size"] = json!(u64::MAX)),
                "layers[0].size must be a non-negative integer",
            ),
            (
                Box::new(|m| {
                    m["layers"][0].as_object_mut().unwrap().remove("size");
                }),
                "layers[0].size is missing",
            ),
            (
                Box::new(|m| m["layers"][0]["mediaType"] = json!("no-slash")),
                "not a media type",
            ),
            (
                Box::new(|m| m["layers"][0]["annotations"] = json!({TITLE_ANNOTATION: 3})),
                "must be a string",
            ),
            (
                Box::new(|m| {
                    m["layers"][0]["annotations"] = json!({TITLE_ANNOTATION: "../etc/passwd"})
                }),
                "not a normalised relative path",
            ),
            (
                Box::new(|m| m["layers"][0]["annotations"] = json!({TITLE_ANNOTATION: "/abs"})),
                "not a normalised relative path",
            ),
            (
                Box::new(|m| m["layers"][0]["annotations"] = json!({TITLE_ANNOTATION: "a//b"})),
                "not a normalised relative path",
            ),
            (
                Box::new(|m| m["layers"][0]["annotations"] = json!({TITLE_ANNOTATION: "./a"})),
                "not a normalised relative path",
            ),
            (
                Box::new(|m| {
                    m["layers"] = json!([layer(&d('a'), Some("x")), layer(&d('b'), Some("x"))])
                }),
                "two items are named 'x'",
            ),
        ];
        for (mutate, expected) in cases {
            let mut m = ok.clone();
            mutate(&mut m);
            let err = parse(&m).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected:?} not in {err:?}");
        }
        let nested_duplicate = br#"{"schemaVersion": 2, "config": {"mediaType": "a/b", "digest": "sha256:00", "digest": "sha256:11", "size": 1}, "layers": []}"#;
        let duplicate_title = serde_json::to_string(&manifest(vec![layer(&d('a'), Some("a"))]))
            .unwrap()
            .replace(
                r#""org.opencontainers.image.title":"a""#,
                r#""org.opencontainers.image.title":"a","org.opencontainers.image.title":"b""#,
            );
        assert!(duplicate_title.contains(r#""b""#));
        for bad in [
            &b"not json"[..],
            b"[1]",
            b"",
            b"{\"layers\": [], \"layers\": []}",
            nested_duplicate,
            duplicate_title.as_bytes(),
        ] {
            assert!(matches!(
                OciImage::parse(bad, Path::new("m.json"), "m".into()),
                Err(OciError::Json { .. })
            ));
        }
        // A layer titled like the config item collides with it only when the config is an item.
        let clash = parse(&manifest(vec![layer(&d('a'), Some(CONFIG_ITEM))])).unwrap();
        assert!(clash.items(false).is_ok());
        assert!(matches!(
            clash.items(true),
            Err(OciError::DuplicateName { .. })
        ));
    }

    #[test]
    fn docker_schema2_manifests_and_unknown_fields_are_accepted() {
        let mut m = manifest(vec![layer(&d('a'), None)]);
        m["mediaType"] = json!(MEDIA_TYPE_DOCKER_MANIFEST);
        m["annotations"] = json!({"x": "y"});
        m["subject"] = json!({"whatever": 1});
        assert!(parse(&m).is_ok());
        m.as_object_mut().unwrap().remove("mediaType");
        assert!(parse(&m).is_ok());
        m["manifests"] = json!([]);
        assert!(matches!(parse(&m), Err(OciError::IsIndex { .. })));
    }

    #[test]
    fn references_are_tag_digest_or_both() {
        let hexd = "ab".repeat(32);
        assert_eq!(parse_reference("v1").unwrap(), (Some("v1"), None));
        let dd = parse_sha256_digest(&format!("sha256:{hexd}"));
        assert_eq!(
            parse_reference(&format!("sha256:{hexd}")).unwrap(),
            (None, dd)
        );
        assert_eq!(
            parse_reference(&format!("@sha256:{hexd}")).unwrap(),
            (None, dd)
        );
        assert_eq!(
            parse_reference(&format!("v1@sha256:{hexd}")).unwrap(),
            (Some("v1"), dd)
        );
        for bad in ["", "@", "v1@sha256:00", "v1@md5:00", "sha256:xyz"] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn layout_references_resolve_to_exactly_one_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        let put = |bytes: &[u8]| {
            let h = hex::encode(Sha256::digest(bytes));
            std::fs::write(dir.join("blobs/sha256").join(&h), bytes).unwrap();
            (format!("sha256:{h}"), bytes.len())
        };
        let (a, a_len) = put(&serde_json::to_vec(&manifest(vec![layer(&d('a'), None)])).unwrap());
        let (b, b_len) = put(&serde_json::to_vec(&manifest(vec![layer(&d('b'), None)])).unwrap());
        let entry = |mt: &str, digest: &str, size: usize, tag: &str| {
            json!({"mediaType": mt, "digest": digest, "size": size,
                   "annotations": {REF_NAME_ANNOTATION: tag}})
        };
        let index = json!({"schemaVersion": 2, "manifests": [
            entry(MEDIA_TYPE_OCI_MANIFEST, &a, a_len, "a"),
            entry(MEDIA_TYPE_OCI_MANIFEST, &b, b_len, "b"),
            entry(INDEX_MEDIA_TYPES[0], &a, a_len, "multi"),
        ]});
        std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        assert!(matches!(
            from_layout(dir, Some("a")),
            Err(OciError::NotALayout { .. })
        ));
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"2.0.0"}"#).unwrap();
        assert!(matches!(
            from_layout(dir, Some("a")),
            Err(OciError::NotALayout { .. })
        ));
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let first = |image: OciImage| image.layers[0].digest;
        assert_eq!(first(from_layout(dir, Some("a")).unwrap()), [0xaa; 32]);
        assert_eq!(first(from_layout(dir, Some(&b)).unwrap()), [0xbb; 32]);
        assert_eq!(
            first(from_layout(dir, Some(&format!("b@{b}"))).unwrap()),
            [0xbb; 32]
        );
        let err = |r: Option<&str>| from_layout(dir, r).unwrap_err().to_string();
        assert!(err(None).contains("3 manifests match"), "{}", err(None));
        assert!(
            err(Some(&a)).contains("2 manifests match"),
            "{}",
            err(Some(&a))
        );
        let wrong = format!("a@{b}");
        assert!(
            err(Some(&wrong)).contains("no manifest tagged 'a' with digest"),
            "{}",
            err(Some(&wrong))
        );
        assert!(
            err(Some("multi")).contains("is an image index"),
            "{}",
            err(Some("multi"))
        );
        assert!(
            err(Some("zzz")).contains("tags in index.json: a, b, multi"),
            "{}",
            err(Some("zzz"))
        );
        // A blob that does not hash to its name is refused.
        std::fs::write(dir.join("blobs/sha256").join(&b[7..]), b"{}").unwrap();
        assert!(matches!(
            from_layout(dir, Some("b")),
            Err(OciError::Blob { .. })
        ));
    }

    #[test]
    fn oversized_manifests_are_refused_before_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        std::fs::write(&path, vec![b' '; (MAX_MANIFEST_BYTES + 1) as usize]).unwrap();
        assert!(matches!(
            OciImage::from_file(&path),
            Err(OciError::TooLarge { .. })
        ));
        assert!(matches!(
            OciImage::from_file(&dir.path().join("absent.json")),
            Err(OciError::Read { .. })
        ));
    }
}
