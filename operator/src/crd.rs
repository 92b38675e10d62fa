//! The `ModelValidation` API (`ml.sigstore.dev/v1alpha1`), generated from these Rust types.
//!
//! This module owns the types, their OpenAPI schema with CEL rules, and the translation of a
//! spec into the verifier's command line ([`ModelValidationSpec::verify_command`]). The same
//! checks the CEL rules make are repeated in Rust ([`ModelValidationSpec::check`]) because
//! API servers older than 1.25 drop `x-kubernetes-validations`: the webhook denies and the
//! controller reports `Ready=False` with the same messages. It does no I/O.

// `KubeSchema` re-declares each struct in a private module to build its schema; the lint fires
// on those copies, not on the public types.
#![allow(unreachable_pub)]

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use mv_shared::verify::{
    CertificateArgs, CommonVerifyArgs, KeyArgs, SigstoreArgs, VerifyCommand, VerifyMethod,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Message of the "exactly one method" rule (CEL and Rust).
pub const MSG_EXACTLY_ONE_METHOD: &str = "exactly one of sigstoreConfig, pkiConfig or publicKeyConfig (privateKeyConfig is its deprecated spelling) must be set";
/// Message of the rule against setting both spellings of the key method.
pub const MSG_BOTH_KEY_SPELLINGS: &str =
    "privateKeyConfig is the deprecated spelling of publicKeyConfig: set only publicKeyConfig";
/// Message of the rule that ties `clientTrustConfig` to `sigstoreConfig`.
pub const MSG_TRUST_CONFIG_SIGSTORE_ONLY: &str = "clientTrustConfig applies to sigstoreConfig only (keys and certificate chains need no Sigstore trust root)";
/// Message of the absolute-path rules.
pub const MSG_ABSOLUTE_PATH: &str = "must be an absolute path (starting with /)";

const CEL_ABSOLUTE: &str = "self.startsWith('/')";
const CEL_EXACTLY_ONE: &str = "(has(self.sigstoreConfig) ? 1 : 0) + (has(self.pkiConfig) ? 1 : 0) + ((has(self.publicKeyConfig) || has(self.privateKeyConfig)) ? 1 : 0) == 1";
const CEL_BOTH_KEYS: &str = "!(has(self.publicKeyConfig) && has(self.privateKeyConfig))";
const CEL_TRUST_SIGSTORE: &str = "!has(self.clientTrustConfig) || has(self.sigstoreConfig)";
const CEL_IGNORE_ABSOLUTE: &str = "self.all(p, p.startsWith('/'))";

/// Desired state of a `ModelValidation`: which model, how it is signed, what to do on failure.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "ml.sigstore.dev",
    version = "v1alpha1",
    kind = "ModelValidation",
    plural = "modelvalidations",
    shortname = "mv",
    namespaced,
    status = "ModelValidationStatus",
    printcolumn = r#"{"name":"Method","type":"string","description":"Verification method","jsonPath":".status.authMethod"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","description":"Enforce or Warn","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Model","type":"string","description":"Model path in the pod","jsonPath":".spec.model.path"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","description":"Whether the spec is usable","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Injected","type":"integer","description":"Pods the verifier was injected into","jsonPath":".status.injectedPods"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","description":"Pods whose model failed verification","jsonPath":".status.failedPods"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ModelValidationSpec {
    /// The model to verify: where it is mounted in the pod and how to walk it.
    pub model: ModelSpec,
    /// How the signature is verified: exactly one method.
    pub config: ValidationConfig,
    /// `Enforce` (default): a failed verification stops the pod. `Warn`: the pod starts and the
    /// failure is reported (Event, status, metrics).
    #[serde(default)]
    pub mode: Mode,
    /// Pull policy of the injected verifier container (Kubernetes' default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,
    /// Resources of the injected verifier container (default requests 100m CPU / 128Mi,
    /// limits 1 CPU / 512Mi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// The model and the options of the walk over its files.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ModelSpec {
    /// Absolute path of the model (a directory or a single file) inside the pod.
    #[x_kube(validation = kube::core::Rule::new(CEL_ABSOLUTE).message(MSG_ABSOLUTE_PATH))]
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
    /// Absolute path of the signature inside the pod. Default: `<path>/model.sig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(CEL_ABSOLUTE).message(MSG_ABSOLUTE_PATH))]
    #[schemars(length(min = 1, max = 4096))]
    pub signature_path: Option<String>,
    /// Absolute paths of files or directories to leave out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(CEL_IGNORE_ABSOLUTE).message("every entry must be an absolute path (starting with /)"))]
    #[schemars(length(max = 256), inner(length(min = 1, max = 4096)))]
    pub ignore_paths: Option<Vec<String>>,
    /// Leave out the top-level git files (`.git`, `.gitattributes`, `.github`, `.gitignore`).
    /// Default: true, as `model_signing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_git_paths: Option<bool>,
    /// Only check the files the signature lists; unsigned extra files are not looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_unsigned_files: Option<bool>,
    /// Follow symbolic links to files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_symlinks: Option<bool>,
}

/// The verification method (a union: exactly one member) and optional trust material.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new(CEL_EXACTLY_ONE).message(MSG_EXACTLY_ONE_METHOD),
    validation = kube::core::Rule::new(CEL_BOTH_KEYS).message(MSG_BOTH_KEY_SPELLINGS),
    validation = kube::core::Rule::new(CEL_TRUST_SIGSTORE).message(MSG_TRUST_CONFIG_SIGSTORE_ONLY)
)]
pub struct ValidationConfig {
    /// Keyless Sigstore signature: the expected signer identity and OIDC issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigstore_config: Option<SigstoreConfig>,
    /// Signature made with a certificate that chains to the given certificate authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pki_config: Option<PkiConfig>,
    /// Signature made with an elliptic-curve key; the public key is a file in the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_config: Option<PublicKeyConfig>,
    /// Deprecated spelling of `publicKeyConfig` (older manifests); same meaning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_config: Option<PublicKeyConfig>,
    /// Sigstore ClientTrustConfig (or trusted_root.json) for a private Sigstore instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_trust_config: Option<ClientTrustConfig>,
}

/// Keyless (Sigstore) verification.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SigstoreConfig {
    /// Expected identity of the signer (a SAN of the Fulcio certificate), compared exactly.
    #[schemars(length(min = 1, max = 1024))]
    pub certificate_identity: String,
    /// Expected OIDC issuer of that identity, e.g. `https://accounts.google.com`.
    #[schemars(length(min = 1, max = 1024))]
    pub certificate_oidc_issuer: String,
}

/// Certificate (PKI) verification.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PkiConfig {
    /// Absolute path in the pod of the PEM file with the trusted certificate authority chain.
    #[x_kube(validation = kube::core::Rule::new(CEL_ABSOLUTE).message(MSG_ABSOLUTE_PATH))]
    #[schemars(length(min = 1, max = 4096))]
    pub certificate_authority: String,
}

/// Public-key verification.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyConfig {
    /// Absolute path in the pod of the PEM public key.
    #[x_kube(validation = kube::core::Rule::new(CEL_ABSOLUTE).message(MSG_ABSOLUTE_PATH))]
    #[schemars(length(min = 1, max = 4096))]
    pub key_path: String,
}

/// Trust material for a private Sigstore instance.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClientTrustConfig {
    /// Absolute path in the pod of the ClientTrustConfig JSON.
    #[x_kube(validation = kube::core::Rule::new(CEL_ABSOLUTE).message(MSG_ABSOLUTE_PATH))]
    #[schemars(length(min = 1, max = 4096))]
    pub trust_config_path: String,
}

/// What a failed verification does to the pod.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// The init container fails: the pod does not start.
    #[default]
    Enforce,
    /// The init container reports the failure and exits 0: the pod starts.
    Warn,
}

/// Pull policy of the injected container.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImagePullPolicy {
    /// Always pull.
    Always,
    /// Pull when the image is not on the node.
    IfNotPresent,
    /// Never pull.
    Never,
}

impl ImagePullPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// Observed state: the `Ready` condition and counts of pods (never lists of pods).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ModelValidationStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: whether the spec is usable, with reason and message.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Verification method of the spec: `sigstore`, `key` or `certificate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    /// Pods of the namespace that carry the verifier for this ModelValidation.
    #[serde(default)]
    pub injected_pods: i32,
    /// Injected pods whose verifier reported success.
    #[serde(default)]
    pub verified_pods: i32,
    /// Injected pods whose verifier reported a failure.
    #[serde(default)]
    pub failed_pods: i32,
    /// Pods labelled for this ModelValidation that were admitted without the verifier.
    #[serde(default)]
    pub uninjected_pods: i32,
    /// Pods whose `model-validation` container is not the one the webhook injected (forged or
    /// altered); their results are not counted.
    #[serde(default)]
    pub tampered_pod_count: i32,
}

/// Why a spec cannot be used (the Rust twin of the CEL rules).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// None or several of the methods are set.
    #[error("{}", MSG_EXACTLY_ONE_METHOD)]
    MethodCount,
    /// Both `publicKeyConfig` and `privateKeyConfig` are set.
    #[error("{}", MSG_BOTH_KEY_SPELLINGS)]
    BothKeySpellings,
    /// `clientTrustConfig` with a method other than Sigstore.
    #[error("{}", MSG_TRUST_CONFIG_SIGSTORE_ONLY)]
    TrustConfigWithoutSigstore,
    /// A path field is not absolute.
    #[error("{field} {MSG_ABSOLUTE_PATH}, got {value:?}")]
    RelativePath {
        /// The field, e.g. `spec.model.path`.
        field: &'static str,
        /// The value found.
        value: String,
    },
    /// A required string is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The field, e.g. `spec.config.sigstoreConfig.certificateIdentity`.
        field: &'static str,
    },
}

impl SpecError {
    /// CamelCase reason for conditions, Events and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MethodCount => "InvalidMethod",
            Self::BothKeySpellings => "InvalidMethod",
            Self::TrustConfigWithoutSigstore => "InvalidTrustConfig",
            Self::RelativePath { .. } => "RelativePath",
            Self::Empty { .. } => "EmptyField",
        }
    }
}

fn absolute(field: &'static str, value: &str) -> Result<(), SpecError> {
    if value.starts_with('/') {
        Ok(())
    } else {
        Err(SpecError::RelativePath {
            field,
            value: value.to_owned(),
        })
    }
}

fn non_empty(field: &'static str, value: &str) -> Result<(), SpecError> {
    if value.is_empty() {
        Err(SpecError::Empty { field })
    } else {
        Ok(())
    }
}

/// The method a valid spec selects, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method<'a> {
    /// `sigstoreConfig`.
    Sigstore(&'a SigstoreConfig),
    /// `pkiConfig`.
    Certificate(&'a PkiConfig),
    /// `publicKeyConfig` or `privateKeyConfig`.
    Key(&'a PublicKeyConfig),
}

impl Method<'_> {
    /// The name used on the command line, in the pod annotation and in `status.authMethod`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sigstore(_) => "sigstore",
            Self::Certificate(_) => "certificate",
            Self::Key(_) => "key",
        }
    }
}

impl ModelValidationSpec {
    /// The signature path, explicit or the default `<path>/model.sig`.
    pub fn signature_path(&self) -> PathBuf {
        match &self.model.signature_path {
            Some(p) => PathBuf::from(p),
            None => Path::new(&self.model.path).join("model.sig"),
        }
    }

    /// Checks what the CEL rules check and returns the selected method.
    pub fn check(&self) -> Result<Method<'_>, SpecError> {
        let c = &self.config;
        let key = match (&c.public_key_config, &c.private_key_config) {
            (Some(_), Some(_)) => return Err(SpecError::BothKeySpellings),
            (Some(k), None) | (None, Some(k)) => Some(k),
            (None, None) => None,
        };
        let method = match (&c.sigstore_config, &c.pki_config, key) {
            (Some(s), None, None) => Method::Sigstore(s),
            (None, Some(p), None) => Method::Certificate(p),
            (None, None, Some(k)) => Method::Key(k),
            _ => return Err(SpecError::MethodCount),
        };
        if c.client_trust_config.is_some() && !matches!(method, Method::Sigstore(_)) {
            return Err(SpecError::TrustConfigWithoutSigstore);
        }
        absolute("spec.model.path", &self.model.path)?;
        if let Some(s) = &self.model.signature_path {
            absolute("spec.model.signaturePath", s)?;
        }
        for p in self.model.ignore_paths.iter().flatten() {
            absolute("spec.model.ignorePaths", p)?;
        }
        match method {
            Method::Sigstore(s) => {
                non_empty(
                    "spec.config.sigstoreConfig.certificateIdentity",
                    &s.certificate_identity,
                )?;
                non_empty(
                    "spec.config.sigstoreConfig.certificateOidcIssuer",
                    &s.certificate_oidc_issuer,
                )?;
            }
            Method::Certificate(p) => absolute(
                "spec.config.pkiConfig.certificateAuthority",
                &p.certificate_authority,
            )?,
            Method::Key(k) => absolute("spec.config.publicKeyConfig.keyPath", &k.key_path)?,
        }
        if let Some(t) = &c.client_trust_config {
            absolute(
                "spec.config.clientTrustConfig.trustConfigPath",
                &t.trust_config_path,
            )?;
        }
        Ok(method)
    }

    /// Every path in the pod the verifier reads: model, signature, key/chain, trust config.
    pub fn paths_needed(&self) -> Vec<PathBuf> {
        let mut out = vec![PathBuf::from(&self.model.path), self.signature_path()];
        let c = &self.config;
        if let Some(p) = &c.pki_config {
            out.push(PathBuf::from(&p.certificate_authority));
        }
        for k in [&c.public_key_config, &c.private_key_config]
            .into_iter()
            .flatten()
        {
            out.push(PathBuf::from(&k.key_path));
        }
        if let Some(t) = &c.client_trust_config {
            out.push(PathBuf::from(&t.trust_config_path));
        }
        out
    }

    /// The verifier's command line for this spec (the arguments after `verify`).
    ///
    /// `termination_log` is where the verifier writes its one-line JSON result.
    pub fn verify_command(
        &self,
        termination_log: Option<&Path>,
    ) -> Result<VerifyCommand, SpecError> {
        let method = self.check()?;
        let mut common = CommonVerifyArgs::new(&self.model.path, self.signature_path());
        common.ignore_paths = self
            .model
            .ignore_paths
            .iter()
            .flatten()
            .map(PathBuf::from)
            .collect();
        // model_signing ignores the git paths by default; only "false" needs a flag.
        common.no_ignore_git_paths = self.model.ignore_git_paths == Some(false);
        common.ignore_unsigned_files = self.model.ignore_unsigned_files == Some(true);
        common.allow_symlinks = self.model.allow_symlinks == Some(true);
        common.termination_log = termination_log.map(Path::to_path_buf);
        common.warn_only = self.mode == Mode::Warn;
        let method = match method {
            Method::Sigstore(s) => VerifyMethod::Sigstore(SigstoreArgs {
                common,
                identity: s.certificate_identity.clone(),
                identity_provider: s.certificate_oidc_issuer.clone(),
                trust_config: self
                    .config
                    .client_trust_config
                    .as_ref()
                    .map(|t| PathBuf::from(&t.trust_config_path)),
                use_staging: false,
            }),
            Method::Certificate(p) => VerifyMethod::Certificate(CertificateArgs {
                common,
                certificate_chain: vec![PathBuf::from(&p.certificate_authority)],
                log_fingerprints: false,
            }),
            Method::Key(k) => VerifyMethod::Key(KeyArgs {
                common,
                public_key: PathBuf::from(&k.key_path),
            }),
        };
        Ok(VerifyCommand { method })
    }
}

/// The CRD as YAML, as `crdgen` writes it to `config/crd/bases/`.
pub fn crd_yaml() -> Result<String, serde_norway::Error> {
    use kube::CustomResourceExt;
    let body = serde_norway::to_string(&ModelValidation::crd())?;
    Ok(format!(
        "# Generated by `cargo run -p model-validation-operator --bin crdgen`; do not edit.\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;
    use serde_json::{Value, json};

    fn schema() -> Value {
        let crd = serde_json::to_value(ModelValidation::crd()).unwrap();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    }

    /// The subset of OpenAPI v3 structural-schema checks the API server applies to these types:
    /// type, required, enum, string lengths, maxItems, unknown fields (pruned by the server, an
    /// error here so that a typo in a sample is caught).
    fn schema_errors(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
        if value.is_null() && schema["nullable"] == json!(true) {
            return;
        }
        let ty = schema["type"].as_str();
        let int_or_string = schema["x-kubernetes-int-or-string"] == json!(true);
        let ok = match ty {
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("boolean") => value.is_boolean(),
            _ => !int_or_string || value.is_string() || value.is_number(),
        };
        if !ok {
            out.push(format!("{path}: expected {ty:?}, got {value}"));
            return;
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            out.push(format!("{path}: {value} is not one of {allowed:?}"));
        }
        if let Some(s) = value.as_str() {
            let n = s.chars().count() as u64;
            if schema["minLength"].as_u64().is_some_and(|m| n < m) {
                out.push(format!("{path}: shorter than minLength"));
            }
            if schema["maxLength"].as_u64().is_some_and(|m| n > m) {
                out.push(format!("{path}: longer than maxLength"));
            }
        }
        if let Some(items) = value.as_array() {
            if schema["maxItems"]
                .as_u64()
                .is_some_and(|m| items.len() as u64 > m)
            {
                out.push(format!("{path}: more than maxItems"));
            }
            for (i, item) in items.iter().enumerate() {
                schema_errors(&schema["items"], item, &format!("{path}[{i}]"), out);
            }
        }
        if let Some(obj) = value.as_object() {
            for r in schema["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap();
                if !obj.contains_key(r) {
                    out.push(format!("{path}.{r}: Required value"));
                }
            }
            for (k, v) in obj {
                let p = format!("{path}.{k}");
                if let Some(s) = schema["properties"].get(k) {
                    schema_errors(s, v, &p, out);
                } else if let Some(s) = schema.get("additionalProperties") {
                    schema_errors(s, v, &p, out);
                } else if !path.is_empty()
                    || !["apiVersion", "kind", "metadata"].contains(&k.as_str())
                {
                    out.push(format!("{p}: unknown field"));
                }
            }
        }
    }

    /// All error messages the API server would give: schema first, then CEL.
    fn errors(cr: &Value) -> Vec<String> {
        let schema = schema();
        let mut out = Vec::new();
        schema_errors(&schema, cr, "", &mut out);
        if out.is_empty()
            && let Err(errs) = kube::core::cel::Validator::new().validate(&schema, cr, None)
        {
            out.extend(errs.iter().map(|e| e.to_string()));
        }
        out
    }

    fn cr(spec: Value) -> Value {
        json!({
            "apiVersion": "ml.sigstore.dev/v1alpha1",
            "kind": "ModelValidation",
            "metadata": {"name": "demo", "namespace": "ns"},
            "spec": spec,
        })
    }

    fn key_spec() -> Value {
        json!({"model": {"path": "/data/model"}, "config": {"publicKeyConfig": {"keyPath": "/keys/key.pub"}}})
    }

    /// Every valid sample passes schema and CEL, deserialises, and passes the Rust check.
    fn assert_valid(spec: Value) -> ModelValidation {
        let v = cr(spec);
        assert_eq!(errors(&v), Vec::<String>::new(), "{v}");
        let mv: ModelValidation = serde_json::from_value(v).unwrap();
        mv.spec.check().unwrap();
        mv
    }

    /// Every invalid sample is refused by the schema or CEL with `message` and by the Rust
    /// twin (for API servers without CEL), unless `rust` is false (pure schema checks).
    fn assert_invalid(spec: Value, message: &str, rust: bool) {
        let v = cr(spec);
        let errs = errors(&v);
        assert!(
            errs.iter().any(|e| e.contains(message)),
            "expected {message:?} in {errs:?} for {v}"
        );
        if rust {
            let mv: ModelValidation = serde_json::from_value(v).unwrap();
            let err = mv.spec.check().unwrap_err().to_string();
            assert!(
                err.contains(message),
                "rust check said {err:?}, want {message:?}"
            );
        }
    }

    #[test]
    fn the_committed_crd_matches_the_types() {
        let committed =
            include_str!("../../config/crd/bases/ml.sigstore.dev_modelvalidations.yaml");
        assert_eq!(
            committed,
            crd_yaml().unwrap(),
            "run `cargo run -p model-validation-operator --bin crdgen > config/crd/bases/ml.sigstore.dev_modelvalidations.yaml`"
        );
    }

    #[test]
    fn the_generated_rules_compile() {
        let compiled = kube::core::cel::compile_schema(&schema());
        assert!(
            !compiled.has_errors(),
            "{:?}",
            compiled.compilation_errors()
        );
        let crd = serde_json::to_string(&ModelValidation::crd()).unwrap();
        assert_eq!(crd.matches("x-kubernetes-validations").count(), 8);
    }

    #[test]
    fn valid_samples_of_each_method() {
        let mv = assert_valid(key_spec());
        assert_eq!(mv.spec.mode, Mode::Enforce);
        assert_eq!(mv.spec.check().unwrap().name(), "key");
        let mv = assert_valid(json!({
            "model": {"path": "/m", "signaturePath": "/sig/model.sig", "ignorePaths": ["/m/README.md"],
                      "ignoreGitPaths": false, "ignoreUnsignedFiles": true, "allowSymlinks": true},
            "config": {"sigstoreConfig": {"certificateIdentity": "me@example.com",
                                          "certificateOidcIssuer": "https://accounts.google.com"},
                       "clientTrustConfig": {"trustConfigPath": "/trust/config.json"}},
            "mode": "Warn", "imagePullPolicy": "IfNotPresent",
            "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": 1}}
        }));
        assert_eq!(mv.spec.check().unwrap().name(), "sigstore");
        assert_eq!(mv.spec.mode, Mode::Warn);
        let mv = assert_valid(
            json!({"model": {"path": "/m"}, "config": {"pkiConfig": {"certificateAuthority": "/ca/chain.pem"}}}),
        );
        assert_eq!(mv.spec.check().unwrap().name(), "certificate");
        // the deprecated spelling
        let mv = assert_valid(
            json!({"model": {"path": "/m"}, "config": {"privateKeyConfig": {"keyPath": "/k.pub"}}}),
        );
        assert_eq!(
            mv.spec.check().unwrap(),
            Method::Key(&PublicKeyConfig {
                key_path: "/k.pub".into()
            })
        );
    }

    #[test]
    fn method_union_violations() {
        assert_invalid(
            json!({"model": {"path": "/m"}, "config": {}}),
            MSG_EXACTLY_ONE_METHOD,
            true,
        );
        assert_invalid(
            json!({"model": {"path": "/m"}, "config": {
                "publicKeyConfig": {"keyPath": "/k"}, "pkiConfig": {"certificateAuthority": "/ca"}}}),
            MSG_EXACTLY_ONE_METHOD,
            true,
        );
        assert_invalid(
            json!({"model": {"path": "/m"}, "config": {
                "sigstoreConfig": {"certificateIdentity": "a", "certificateOidcIssuer": "b"},
                "privateKeyConfig": {"keyPath": "/k"}}}),
            MSG_EXACTLY_ONE_METHOD,
            true,
        );
        assert_invalid(
            json!({"model": {"path": "/m"}, "config": {
                "publicKeyConfig": {"keyPath": "/k"}, "privateKeyConfig": {"keyPath": "/k"}}}),
            MSG_BOTH_KEY_SPELLINGS,
            true,
        );
        assert_invalid(
            json!({"model": {"path": "/m"}, "config": {
                "publicKeyConfig": {"keyPath": "/k"}, "clientTrustConfig": {"trustConfigPath": "/t"}}}),
            MSG_TRUST_CONFIG_SIGSTORE_ONLY,
            true,
        );
    }

    #[test]
    fn relative_paths_are_refused_everywhere() {
        let cases = [
            json!({"model": {"path": "data/model"}, "config": {"publicKeyConfig": {"keyPath": "/k"}}}),
            json!({"model": {"path": "/m", "signaturePath": "model.sig"}, "config": {"publicKeyConfig": {"keyPath": "/k"}}}),
            json!({"model": {"path": "/m"}, "config": {"publicKeyConfig": {"keyPath": "key.pub"}}}),
            json!({"model": {"path": "/m"}, "config": {"privateKeyConfig": {"keyPath": "key.pub"}}}),
            json!({"model": {"path": "/m"}, "config": {"pkiConfig": {"certificateAuthority": "./ca.pem"}}}),
            json!({"model": {"path": "/m"}, "config": {"sigstoreConfig": {"certificateIdentity": "a", "certificateOidcIssuer": "b"},
                   "clientTrustConfig": {"trustConfigPath": "t.json"}}}),
        ];
        for spec in cases {
            assert_invalid(spec, "must be an absolute path", true);
        }
        assert_invalid(
            json!({"model": {"path": "/m", "ignorePaths": ["/m/ok", "rel"]}, "config": {"publicKeyConfig": {"keyPath": "/k"}}}),
            "every entry must be an absolute path",
            false,
        );
        let mv: ModelValidation =
            serde_json::from_value(cr(json!({"model": {"path": "/m", "ignorePaths": ["rel"]},
            "config": {"publicKeyConfig": {"keyPath": "/k"}}})))
            .unwrap();
        assert!(matches!(
            mv.spec.check(),
            Err(SpecError::RelativePath {
                field: "spec.model.ignorePaths",
                ..
            })
        ));
    }

    #[test]
    fn schema_violations() {
        assert_invalid(
            json!({"config": {"publicKeyConfig": {"keyPath": "/k"}}}),
            ".spec.model: Required value",
            false,
        );
        assert_invalid(
            json!({"model": {"path": "/m"}}),
            ".spec.config: Required value",
            false,
        );
        assert_invalid(
            json!({"model": {}, "config": {"publicKeyConfig": {"keyPath": "/k"}}}),
            ".spec.model.path: Required value",
            false,
        );
        assert_invalid(
            json!({"model": {"path": ""}, "config": {"publicKeyConfig": {"keyPath": "/k"}}}),
            "shorter than minLength",
            false,
        );
        assert_invalid(
            json!({"model": {"path": "/m"}, "config": {"publicKeyConfig": {}}}),
            "keyPath: Required value",
            false,
        );
        assert_invalid(
            json!({"model": {"path": "/m"}, "config": {"sigstoreConfig": {"certificateIdentity": "a"}}}),
            "certificateOidcIssuer: Required value",
            false,
        );
        assert_invalid(
            json!({"model": {"path": "/m"}, "config": {"sigstoreConfig": {"certificateIdentity": "", "certificateOidcIssuer": "b"}}}),
            "shorter than minLength",
            false,
        );
        let mut s = key_spec();
        s["mode"] = json!("Audit");
        assert_invalid(s, "is not one of", false);
        let mut s = key_spec();
        s["imagePullPolicy"] = json!("Sometimes");
        assert_invalid(s, "is not one of", false);
        let mut s = key_spec();
        s["model"]["allowSymlinks"] = json!("yes");
        assert_invalid(s, "expected Some(\"boolean\")", false);
        let mut s = key_spec();
        s["model"]["ignorePaths"] = json!(vec!["/x"; 257]);
        assert_invalid(s, "more than maxItems", false);
    }

    #[test]
    fn verify_command_follows_the_spec() {
        let mv = assert_valid(json!({
            "model": {"path": "/m", "ignorePaths": ["/m/a", "/m/b"], "ignoreGitPaths": false,
                      "ignoreUnsignedFiles": true, "allowSymlinks": true},
            "config": {"sigstoreConfig": {"certificateIdentity": "me@example.com", "certificateOidcIssuer": "https://issuer"},
                       "clientTrustConfig": {"trustConfigPath": "/t.json"}},
            "mode": "Warn"
        }));
        let cmd = mv
            .spec
            .verify_command(Some(Path::new("/dev/termination-log")))
            .unwrap();
        let args = cmd.to_args();
        assert_eq!(
            args,
            [
                "sigstore",
                "/m",
                "--signature",
                "/m/model.sig",
                "--ignore-paths",
                "/m/a",
                "--ignore-paths",
                "/m/b",
                "--no-ignore-git-paths",
                "--allow_symlinks",
                "--ignore_unsigned_files",
                "--termination-log",
                "/dev/termination-log",
                "--warn-only",
                "--identity",
                "me@example.com",
                "--identity_provider",
                "https://issuer",
                "--trust_config",
                "/t.json",
            ]
        );
        // what the verifier parses is what the spec says
        let back = VerifyCommand::try_parse_args(args).unwrap();
        assert_eq!(back, cmd);
        assert!(back.method.common().warn_only);

        let mv = assert_valid(key_spec());
        let args = mv.spec.verify_command(None).unwrap().to_args();
        assert_eq!(
            args,
            [
                "key",
                "/data/model",
                "--signature",
                "/data/model/model.sig",
                "--public_key",
                "/keys/key.pub"
            ]
        );
        let mv = assert_valid(
            json!({"model": {"path": "/m", "signaturePath": "/s.sig"}, "config": {"pkiConfig": {"certificateAuthority": "/ca.pem"}}}),
        );
        let args = mv.spec.verify_command(None).unwrap().to_args();
        assert_eq!(
            args,
            [
                "certificate",
                "/m",
                "--signature",
                "/s.sig",
                "--certificate_chain",
                "/ca.pem"
            ]
        );
        assert_eq!(
            mv.spec.paths_needed(),
            [
                PathBuf::from("/m"),
                PathBuf::from("/s.sig"),
                PathBuf::from("/ca.pem")
            ]
        );
    }
}
