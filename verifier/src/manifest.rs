//! The manifest: resource name → (algorithm, digest), its order, root digest and comparison
//! (format §2.4 and §4.3).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::posix;

/// A resource of the manifest: a file, or a shard of one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResourceKey {
    /// A whole file, by its normalised POSIX name.
    File(String),
    /// Bytes `[start, end)` of a file.
    Shard {
        /// The file's normalised POSIX name.
        name: String,
        /// First byte.
        start: u64,
        /// End (exclusive).
        end: u64,
    },
}

impl ResourceKey {
    /// The file the resource belongs to.
    pub fn file_name(&self) -> &str {
        match self {
            Self::File(n) | Self::Shard { name: n, .. } => n,
        }
    }

    /// The identifier as written in the signature and in messages: `name` or `name:start:end`.
    pub fn identifier(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(n) => f.write_str(n),
            Self::Shard { name, start, end } => write!(f, "{name}:{start}:{end}"),
        }
    }
}

impl Ord for ResourceKey {
    /// `model_signing`'s order: by path components (not by string), then start, then end.
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::File(a), Self::File(b)) => posix::cmp_names(a, b),
            (
                Self::Shard {
                    name: a,
                    start: sa,
                    end: ea,
                },
                Self::Shard {
                    name: b,
                    start: sb,
                    end: eb,
                },
            ) => posix::cmp_names(a, b).then(sa.cmp(sb)).then(ea.cmp(eb)),
            (Self::File(_), Self::Shard { .. }) => Ordering::Less,
            (Self::Shard { .. }, Self::File(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for ResourceKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A resource digest: the algorithm string as written (compared exactly) and the raw bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    /// `sha256`, `blake2b`, `blake3`, or `<algo>-sharded-<size>` (shared: every resource of a
    /// manifest has the same one).
    pub algorithm: Arc<str>,
    /// Raw digest bytes.
    pub value: Vec<u8>,
}

impl Digest {
    /// `<algorithm>:<lower hex>` (`sha256:9f86…`), as mismatch messages print a digest: a
    /// person can compare it with `sha256sum` output, unlike a Python byte repr.
    pub fn readable(&self) -> String {
        format!(
            "{}:{}",
            posix::escape_controls(&self.algorithm),
            hex::encode(&self.value)
        )
    }
}

/// A model manifest: its name (informational) and its resources in `model_signing` order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// The model's name; only used in messages, never compared.
    pub model_name: String,
    /// Resources, ordered as `model_signing` orders them.
    pub resources: BTreeMap<ResourceKey, Digest>,
}

impl Manifest {
    /// An empty manifest for the named model.
    pub fn new(model_name: impl Into<String>) -> Self {
        Self {
            model_name: model_name.into(),
            resources: BTreeMap::new(),
        }
    }

    /// The root digest: SHA-256 over the raw resource digests in manifest order.
    pub fn root_digest(&self) -> [u8; 32] {
        root_digest(self.resources.values().map(|d| d.value.as_slice()))
    }

    /// Compares with the signed manifest; `Err` carries the `Signature mismatch: [...]` message.
    pub(crate) fn check_against(&self, expected: &Manifest) -> Result<(), Mismatch> {
        let extra = extra_keys(self.resources.keys(), expected);
        let missing = missing_keys(|k| self.resources.contains_key(k), expected);
        let changed: Vec<(String, &Digest, &Digest)> = expected
            .resources
            .iter()
            .filter_map(|(k, want)| {
                let got = self.resources.get(k)?;
                (got != want).then(|| (k.identifier(), want, got))
            })
            .collect();
        mismatch(&self.model_name, extra, missing, changed)
    }

    /// The name check that runs before any byte is hashed: the local resources (`keys`, from
    /// the walk and the file sizes) against the signed ones. Extra or missing resources fail
    /// here, so an unsigned file is never read (a huge extra file costs nothing).
    pub(crate) fn check_names<'k>(
        model_name: &str,
        keys: impl IntoIterator<Item = &'k ResourceKey> + Clone,
        expected: &Manifest,
    ) -> Result<(), Mismatch> {
        let local: std::collections::BTreeSet<&ResourceKey> = keys.clone().into_iter().collect();
        let extra = extra_keys(keys, expected);
        let missing = missing_keys(|k| local.contains(k), expected);
        mismatch(model_name, extra, missing, Vec::new())
    }
}

fn extra_keys<'k>(
    keys: impl IntoIterator<Item = &'k ResourceKey>,
    expected: &Manifest,
) -> Vec<String> {
    keys.into_iter()
        .filter(|k| !expected.resources.contains_key(k))
        .map(ResourceKey::identifier)
        .collect()
}

fn missing_keys(has: impl Fn(&ResourceKey) -> bool, expected: &Manifest) -> Vec<String> {
    expected
        .resources
        .keys()
        .filter(|k| !has(k))
        .map(ResourceKey::identifier)
        .collect()
}

/// `model_signing`'s `Signature mismatch: [...]` message, or `Ok` when nothing differs.
fn mismatch(
    model_name: &str,
    mut extra: Vec<String>,
    mut missing: Vec<String>,
    mut changed: Vec<(String, &Digest, &Digest)>,
) -> Result<(), Mismatch> {
    if extra.is_empty() && missing.is_empty() && changed.is_empty() {
        return Ok(());
    }
    // Plain string order here (unlike the manifest order), as model_signing prints it.
    extra.sort();
    missing.sort();
    changed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut diffs = Vec::new();
    if !extra.is_empty() {
        diffs.push(format!(
            "Extra files found in model '{model_name}': {}",
            extra.join(", ")
        ));
    }
    if !missing.is_empty() {
        diffs.push(format!(
            "Missing files in model '{model_name}': {}",
            missing.join(", ")
        ));
    }
    // model_signing's sentence, with readable digests instead of its byte reprs.
    for (id, want, got) in &changed {
        diffs.push(format!(
            "Hash mismatch for '{id}': Expected '{}', Actual '{}'",
            want.readable(),
            got.readable()
        ));
    }
    Err(Mismatch {
        extra: extra.len(),
        missing: missing.len(),
        changed: changed.len(),
        message: format!("Signature mismatch: {}", posix::repr_str_list(&diffs)),
    })
}

/// SHA-256 over the concatenated raw digests, in the order given.
pub fn root_digest<'a>(digests: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut h = Sha256::new();
    for d in digests {
        h.update(d);
    }
    h.finalize().into()
}

/// The local model differs from the signed manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Mismatch {
    /// Files present locally but not signed.
    pub extra: usize,
    /// Signed files not present locally.
    pub missing: usize,
    /// Files whose digest (or algorithm) differs.
    pub changed: usize,
    /// The `Signature mismatch: [...]` message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: &str) -> ResourceKey {
        ResourceKey::File(n.into())
    }

    fn sha(v: &[u8]) -> Digest {
        Digest {
            algorithm: "sha256".into(),
            value: v.to_vec(),
        }
    }

    #[test]
    fn shards_sort_by_path_then_integer_offsets() {
        let s = |n: &str, a, b| ResourceKey::Shard {
            name: n.into(),
            start: a,
            end: b,
        };
        let mut v = vec![
            s("w.txt", 0, 5),
            s("w/x", 10, 20),
            s("w/x", 2, 10),
            s("w/x", 0, 2),
        ];
        v.sort();
        assert_eq!(
            v,
            vec![
                s("w/x", 0, 2),
                s("w/x", 2, 10),
                s("w/x", 10, 20),
                s("w.txt", 0, 5)
            ]
        );
        assert_eq!(s("a b", 1, 2).identifier(), "a b:1:2");
    }

    #[test]
    fn root_digest_is_sha256_of_concatenated_raw_digests_in_order() {
        let mut m = Manifest::new("m");
        m.resources.insert(file("weights.txt"), sha(&[2; 32]));
        m.resources.insert(file("weights/a"), sha(&[1; 32]));
        let mut cat = vec![1u8; 32];
        cat.extend([2u8; 32]);
        assert_eq!(m.root_digest(), <[u8; 32]>::from(Sha256::digest(&cat)));
    }

    #[test]
    fn mismatch_message_lists_extra_missing_and_changed_in_string_order() {
        let mut signed = Manifest::new("signed-name");
        signed.resources.insert(file("b"), sha(b"\x00\x01"));
        signed.resources.insert(file("gone"), sha(b"x"));
        signed.resources.insert(file("a"), sha(b"ok"));
        let mut local = Manifest::new("local-name");
        local.resources.insert(file("b"), sha(b"\x00\x02"));
        local.resources.insert(file("new.txt"), sha(b"y"));
        local.resources.insert(file("a"), sha(b"ok"));
        local.resources.insert(file("new/x"), sha(b"y"));
        let err = local.check_against(&signed).unwrap_err();
        assert_eq!((err.extra, err.missing, err.changed), (2, 1, 1));
        assert_eq!(
            err.message,
            "Signature mismatch: [\"Extra files found in model 'local-name': new.txt, new/x\", \
             \"Missing files in model 'local-name': gone\", \
             \"Hash mismatch for 'b': Expected 'sha256:0001', Actual 'sha256:0002'\"]"
        );
        assert!(local.check_against(&local.clone()).is_ok());
    }

    #[test]
    fn names_match_exactly_not_by_components() {
        // A signed `/a.txt` or `//a.txt` is not the local file `a.txt` (issue 18): the
        // ordering once dropped the leading slashes and the map's lookup followed it.
        for (signed_name, shard) in [("/a.txt", false), ("//a.txt", false), ("/a.txt", true)] {
            let key = |n: &str| {
                if shard {
                    ResourceKey::Shard {
                        name: n.into(),
                        start: 0,
                        end: 1,
                    }
                } else {
                    file(n)
                }
            };
            let mut signed = Manifest::new("m");
            signed.resources.insert(key(signed_name), sha(&[1]));
            let mut local = Manifest::new("m");
            local.resources.insert(key("a.txt"), sha(&[1]));
            let err = local.check_against(&signed).unwrap_err();
            assert_eq!(
                (err.extra, err.missing, err.changed),
                (1, 1, 0),
                "{signed_name}"
            );
            // Both spellings can be in one manifest.
            signed.resources.insert(key("a.txt"), sha(&[2]));
            assert_eq!(signed.resources.len(), 2, "{signed_name}");
        }
    }

    #[test]
    fn algorithm_strings_are_compared_exactly() {
        let mut signed = Manifest::new("m");
        signed.resources.insert(
            file("a"),
            Digest {
                algorithm: "SHA256".into(),
                value: vec![1],
            },
        );
        let mut local = Manifest::new("m");
        local.resources.insert(file("a"), sha(&[1]));
        let err = local.check_against(&signed).unwrap_err();
        assert_eq!(err.changed, 1);
    }
}
