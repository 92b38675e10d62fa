//! Development without a cluster: `ModelValidation`s read from a file (`--dev
//! --dev-model-validations FILE`) fill the webhook's lookup, so `make run` shows an injection.
//!
//! The file is YAML or JSON: one or more YAML documents (`---`), each a `ModelValidation`, a list
//! of them, or a `List`/`ModelValidationList` with `items` (what `kubectl get mv -o yaml`
//! prints). Objects are checked as an API server with the CRD would check them: apiVersion
//! `ml.sigstore.dev/v1alpha1`, kind `ModelValidation`, a name, a valid spec (the CEL rules'
//! Rust twin) and no duplicate namespace/name. A missing namespace means `default`, as with
//! `kubectl apply` in the default context. It does no I/O apart from reading the file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize as _;
use serde_json::Value;

use crate::crd::{ModelValidation, SpecError};

/// The apiVersion every object must have.
pub const API_VERSION: &str = "ml.sigstore.dev/v1alpha1";
/// Namespace of objects that name none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Why the file cannot be used. `item` counts objects from 1 across all documents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevFileError {
    /// The file cannot be read.
    #[error("cannot read ModelValidations from {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A document is neither YAML nor JSON.
    #[error("{path}: document {document} is not valid YAML or JSON")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Which document (from 1).
        document: usize,
        /// The parser's message (with line and column).
        #[source]
        source: serde_norway::Error,
    },
    /// An object is not a `ModelValidation`.
    #[error(
        "{path}: item {item} has apiVersion {api_version:?} and kind {kind:?}, expected {API_VERSION} ModelValidation"
    )]
    WrongKind {
        /// The file.
        path: PathBuf,
        /// Which object.
        item: usize,
        /// The apiVersion found (empty: none).
        api_version: String,
        /// The kind found (empty: none).
        kind: String,
    },
    /// An object does not have the `ModelValidation` schema.
    #[error("{path}: item {item} is not a valid ModelValidation")]
    Schema {
        /// The file.
        path: PathBuf,
        /// Which object.
        item: usize,
        /// What serde found.
        #[source]
        source: serde_json::Error,
    },
    /// An object has no `metadata.name`.
    #[error("{path}: item {item} has no metadata.name")]
    NoName {
        /// The file.
        path: PathBuf,
        /// Which object.
        item: usize,
    },
    /// A spec breaks the CRD's rules (the API server would reject it).
    #[error("{path}: ModelValidation {namespace}/{name} (item {item}) is invalid")]
    InvalidSpec {
        /// The file.
        path: PathBuf,
        /// Which object.
        item: usize,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The rule it breaks.
        #[source]
        source: SpecError,
    },
    /// Two objects share namespace and name.
    #[error("{path}: ModelValidation {namespace}/{name} (item {item}) is defined twice")]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// The second object.
        item: usize,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
}

/// Reads `path` (see the module documentation for the format).
pub fn load_model_validations(path: &Path) -> Result<Vec<Arc<ModelValidation>>, DevFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| DevFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_model_validations(&text, path)
}

/// Parses the text of a file; `path` is only used in error messages. An empty file gives an
/// empty list.
pub fn parse_model_validations(
    text: &str,
    path: &Path,
) -> Result<Vec<Arc<ModelValidation>>, DevFileError> {
    let mut objects = Vec::new();
    for (i, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|source| DevFileError::Syntax {
            path: path.to_path_buf(),
            document: i + 1,
            source,
        })?;
        match value {
            Value::Null => {}
            Value::Array(items) => objects.extend(items),
            Value::Object(mut map)
                if map
                    .get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List"))
                    && map.get("items").is_some_and(Value::is_array) =>
            {
                if let Some(Value::Array(items)) = map.remove("items") {
                    objects.extend(items);
                }
            }
            other => objects.push(other),
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(objects.len());
    for (i, value) in objects.into_iter().enumerate() {
        let item = i + 1;
        let text_of = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (api_version, kind) = (text_of("apiVersion"), text_of("kind"));
        if api_version != API_VERSION || kind != "ModelValidation" {
            return Err(DevFileError::WrongKind {
                path: path.to_path_buf(),
                item,
                api_version,
                kind,
            });
        }
        let mut mv: ModelValidation =
            serde_json::from_value(value).map_err(|source| DevFileError::Schema {
                path: path.to_path_buf(),
                item,
                source,
            })?;
        let Some(name) = mv.metadata.name.clone().filter(|n| !n.is_empty()) else {
            return Err(DevFileError::NoName {
                path: path.to_path_buf(),
                item,
            });
        };
        let namespace = mv
            .metadata
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        if let Err(source) = mv.spec.check() {
            return Err(DevFileError::InvalidSpec {
                path: path.to_path_buf(),
                item,
                namespace,
                name,
                source,
            });
        }
        if !seen.insert((namespace.clone(), name.clone())) {
            return Err(DevFileError::Duplicate {
                path: path.to_path_buf(),
                item,
                namespace,
                name,
            });
        }
        mv.metadata.namespace = Some(namespace);
        // A freshly created object has generation 1 (the injected annotations carry it).
        mv.metadata.generation.get_or_insert(1);
        out.push(Arc::new(mv));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::{Outcome, admit};
    use crate::cache::StaticLookup;
    use crate::inject::InjectConfig;
    use kube::ResourceExt as _;

    const FIXTURE: &str = include_str!("../tests/fixtures/create-pod.json");
    const SAMPLE: &str = include_str!("../../config/samples/ml_v1alpha1_modelvalidation.yaml");

    fn parse(text: &str) -> Result<Vec<Arc<ModelValidation>>, DevFileError> {
        parse_model_validations(text, Path::new("mvs.yaml"))
    }

    fn names(mvs: &[Arc<ModelValidation>]) -> Vec<String> {
        mvs.iter()
            .map(|m| format!("{}/{}", m.namespace().unwrap_or_default(), m.name_any()))
            .collect()
    }

    const KEY_MV: &str = r#"
apiVersion: ml.sigstore.dev/v1alpha1
kind: ModelValidation
metadata:
  name: llama
  namespace: models
spec:
  model:
    path: /data/model
  config:
    publicKeyConfig:
      keyPath: /etc/model-keys/key.pub
"#;

    #[test]
    fn injects_with_the_loaded_object() {
        let mvs = parse(KEY_MV).unwrap();
        assert_eq!(names(&mvs), ["models/llama"]);
        assert_eq!(mvs[0].metadata.generation, Some(1));
        let lookup = StaticLookup {
            model_validations: mvs,
            ignored_namespaces: vec![],
            required_namespaces: vec![],
        };
        let d = admit(FIXTURE.as_bytes(), &lookup, &InjectConfig::new("v:1"));
        assert_eq!(
            d.outcome,
            Outcome::Injected {
                model_validation: "llama".into()
            }
        );
        assert!(d.response.allowed);
        assert!(d.response.patch.is_some());
        // Without the file the same pod is denied: the file is what makes the difference.
        let d = admit(
            FIXTURE.as_bytes(),
            &StaticLookup::default(),
            &InjectConfig::new("v:1"),
        );
        assert!(matches!(d.outcome, Outcome::Denied { .. }), "{d:?}");
    }

    #[test]
    fn accepts_documents_lists_and_json() {
        let multi = format!(
            "{KEY_MV}---\n{}---\n",
            KEY_MV
                .replace("name: llama", "name: other")
                .replace("namespace: models", "namespace: team-b")
        );
        assert_eq!(
            names(&parse(&multi).unwrap()),
            ["models/llama", "team-b/other"]
        );

        let json = r#"[{"apiVersion": "ml.sigstore.dev/v1alpha1", "kind": "ModelValidation",
            "metadata": {"name": "a", "namespace": "x", "generation": 4},
            "spec": {"model": {"path": "/m"}, "config": {"sigstoreConfig":
              {"certificateIdentity": "me@example.com", "certificateOidcIssuer": "https://accounts.example.com"}}}}]"#;
        let mvs = parse(json).unwrap();
        assert_eq!(names(&mvs), ["x/a"]);
        assert_eq!(mvs[0].metadata.generation, Some(4));

        let list = format!(
            "apiVersion: v1\nkind: List\nitems:\n{}",
            KEY_MV
                .trim_start()
                .lines()
                .enumerate()
                .map(|(i, l)| if i == 0 {
                    format!("- {l}\n")
                } else {
                    format!("  {l}\n")
                })
                .collect::<String>()
        );
        assert_eq!(names(&parse(&list).unwrap()), ["models/llama"]);

        // The repository's sample (no namespace: `default`).
        assert_eq!(names(&parse(SAMPLE).unwrap()), ["default/sample"]);
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# nothing\n---\n").unwrap().is_empty());
    }

    #[test]
    fn rejects_what_an_api_server_would_reject() {
        let err = |text: &str| parse(text).unwrap_err();
        assert!(matches!(
            err("key: [unclosed"),
            DevFileError::Syntax { document: 1, .. }
        ));
        let e = err(&KEY_MV.replace("kind: ModelValidation", "kind: Pod"));
        assert!(
            matches!(&e, DevFileError::WrongKind { item: 1, kind, .. } if kind == "Pod"),
            "{e:?}"
        );
        assert!(e.to_string().contains("expected ml.sigstore.dev/v1alpha1"));
        assert!(matches!(
            err(&KEY_MV.replace("v1alpha1", "v1")),
            DevFileError::WrongKind { .. }
        ));
        assert!(matches!(
            err(&KEY_MV.replace("  name: llama\n", "")),
            DevFileError::NoName { item: 1, .. }
        ));
        assert!(matches!(
            err(&KEY_MV.replace("path: /data/model", "path: [1]")),
            DevFileError::Schema { item: 1, .. }
        ));
        let e = err(&KEY_MV.replace("/etc/model-keys/key.pub", "key.pub"));
        assert!(
            matches!(&e, DevFileError::InvalidSpec { name, source: SpecError::RelativePath { .. }, .. } if name == "llama"),
            "{e:?}"
        );
        let e = err(&format!("{KEY_MV}---\n{KEY_MV}"));
        assert!(
            matches!(&e, DevFileError::Duplicate { item: 2, namespace, .. } if namespace == "models"),
            "{e:?}"
        );
        assert!(e.to_string().contains("models/llama"));
        let e = load_model_validations(Path::new("/nonexistent/mvs.yaml")).unwrap_err();
        assert!(matches!(e, DevFileError::Read { .. }));
        assert!(e.to_string().contains("/nonexistent/mvs.yaml"));
    }
}
