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
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
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
/// Message of the absolute-path rules.
pub const MSG_ABSOLUTE_PATH: &str = "must be an absolute path (starting with /)";
/// Message of the model-location rules (`path`, `signaturePath`).
pub const MSG_MODEL_LOCATION: &str =
    "must be an absolute path (starting with /) or an s3://, gs://, http:// or https:// URL";
/// Message of the continuous-validation interval rule.
pub const MSG_INTERVAL: &str =
    "must be a duration of minutes and hours (e.g. 5m, 1h30m, 1.5h) of at least 1m";
/// Pattern of a model location, as upstream's CRD has it (also enforced by API servers
/// without CEL).
pub const MODEL_LOCATION_PATTERN: &str = "^(/|s3://|gs://|https?://)";
/// Pattern of `continuousValidation.interval`, as upstream's CRD has it.
pub const INTERVAL_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(m|h))+$";
/// URL schemes a model location may have (accepted by the schema, not supported yet).
pub const REMOTE_SCHEMES: [&str; 4] = ["s3://", "gs://", "http://", "https://"];

pub mod config;
pub mod status;
pub use config::{
    ClientTrustConfig, PkiConfig, PublicKeyConfig, SigstoreConfig, SigstoreIdentity,
    ValidationConfig,
};
pub use status::{
    LEGACY_STATUS_FIELDS, MAX_VERIFIED_IMAGES, ModelValidationStatus, VerifiedImages,
};

const CEL_ABSOLUTE: &str = "self.startsWith('/')";
const CEL_LOCATION: &str = "self.startsWith('/') || self.startsWith('s3://') || self.startsWith('gs://') || self.startsWith('http://') || self.startsWith('https://')";
const CEL_INTERVAL: &str = "self == '' || duration(self) >= duration('1m')";
const CEL_EXACTLY_ONE: &str = "(has(self.sigstoreConfig) ? 1 : 0) + (has(self.pkiConfig) ? 1 : 0) + ((has(self.publicKeyConfig) || has(self.privateKeyConfig)) ? 1 : 0) == 1";
const CEL_BOTH_KEYS: &str = "!(has(self.publicKeyConfig) && has(self.privateKeyConfig))";
const CEL_IGNORE_ABSOLUTE: &str = "self.all(p, p.startsWith('/'))";
const CEL_SELECTOR: &str = "!has(self.matchExpressions) || self.matchExpressions.all(e, (e.operator == 'In' || e.operator == 'NotIn') ? (has(e.values) && size(e.values) > 0) : ((e.operator == 'Exists' || e.operator == 'DoesNotExist') && (!has(e.values) || size(e.values) == 0)))";
/// Message of the label-selector rule (CEL and Rust).
pub const MSG_SELECTOR: &str = "matchExpressions operators are In and NotIn (with values) or Exists and DoesNotExist (without values)";

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
    printcolumn = r#"{"name":"Auth Method","type":"string","description":"Verification method","jsonPath":".status.authMethod"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","description":"Enforce or Warn","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","description":"Whether the spec is usable","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Injected Pods","type":"integer","description":"Pods the verifier was injected into","jsonPath":".status.injectedPodCount"}"#,
    printcolumn = r#"{"name":"Uninjected Pods","type":"integer","description":"Labelled pods admitted without the verifier","jsonPath":".status.uninjectedPodCount"}"#,
    printcolumn = r#"{"name":"Orphaned Pods","type":"integer","description":"Injected pods whose verifier follows an older spec (or another operator)","jsonPath":".status.orphanedPodCount"}"#,
    printcolumn = r#"{"name":"Failed Pods","type":"integer","description":"Pods whose model failed verification","jsonPath":".status.failedPodCount"}"#,
    printcolumn = r#"{"name":"Model Path","type":"string","description":"Model path in the pod","jsonPath":".spec.model.path"}"#,
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
    /// Pull policy of the injected verifier container. Default `Always`, as upstream (filled in
    /// by the API server; unset in a `--dev` file leaves Kubernetes' own default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(default = "ImagePullPolicy::always")]
    pub image_pull_policy: Option<ImagePullPolicy>,
    /// Resources of the injected verifier container (default requests 100m CPU / 128Mi,
    /// limits 1 CPU / 512Mi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Re-verification while the pod runs (upstream's field). `enabled: true`: the verifier
    /// is injected as a native sidecar (`model-verifier watch`) that keeps checking the model
    /// and makes the pod NotReady when it drifts (Enforce mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuous_validation: Option<ContinuousValidation>,
    /// Pods of this namespace the ModelValidation covers without the pod label (a standard
    /// label selector; `{}` selects every pod). It reaches unlabelled pods in namespaces labelled
    /// `validation.ml.sigstore.dev/enforce: "true"` (the webhook sees only labelled pods
    /// elsewhere); a labelled pod it selects must name this ModelValidation. README "Policy".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(CEL_SELECTOR).message(MSG_SELECTOR))]
    pub pod_selector: Option<LabelSelector>,
}

/// Upstream's continuous validation settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContinuousValidation {
    /// Re-verify the model periodically while the pod runs (default false).
    #[serde(default)]
    #[schemars(default = "default_false")]
    pub enabled: bool,
    /// Time between verifications, minutes and hours (`5m`, `1h30m`, `1.5h`), at least 1m.
    #[serde(default = "default_interval")]
    #[schemars(default = "default_interval", regex(pattern = INTERVAL_PATTERN), length(max = 64))]
    #[x_kube(validation = kube::core::Rule::new(CEL_INTERVAL).message(MSG_INTERVAL))]
    pub interval: String,
}

impl Default for ContinuousValidation {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: default_interval(),
        }
    }
}

fn default_false() -> bool {
    false
}

fn default_interval() -> String {
    "5m".to_owned()
}

/// Parses a `continuousValidation.interval`: one or more `<number>m` / `<number>h` terms
/// (the CRD's pattern), summed. `None` when it does not match the pattern.
pub fn parse_interval(s: &str) -> Option<std::time::Duration> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let mut total = 0.0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let unit_at = rest.find(['m', 'h'])?;
        let (number, tail) = rest.split_at(unit_at);
        let (int, frac) = match number.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (number, None),
        };
        let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || frac.is_some_and(|f| !digits(f)) {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let unit = if tail.starts_with('h') { 3600.0 } else { 60.0 };
        total += value * unit;
        rest = &tail[1..];
    }
    std::time::Duration::try_from_secs_f64(total).ok()
}

/// The model and the options of the walk over its files.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ModelSpec {
    /// Absolute path of the model (a directory or a single file) inside the pod. The schema
    /// also accepts `s3://`, `gs://`, `http(s)://` (as upstream); those are not supported yet
    /// and make `Ready=False`.
    #[x_kube(validation = kube::core::Rule::new(CEL_LOCATION).message(MSG_MODEL_LOCATION))]
    #[schemars(length(min = 1, max = 4096), regex(pattern = MODEL_LOCATION_PATTERN))]
    pub path: String,
    /// Absolute path of the signature inside the pod. Default: `<path>/model.sig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(CEL_LOCATION).message(MSG_MODEL_LOCATION))]
    #[schemars(length(min = 1, max = 4096), regex(pattern = MODEL_LOCATION_PATTERN))]
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
    /// The default, as upstream: `Always`.
    pub fn always() -> Option<Self> {
        Some(Self::Always)
    }

    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
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
    /// A path field is not absolute.
    #[error("{field} {MSG_ABSOLUTE_PATH}, got {value:?}")]
    RelativePath {
        /// The field, e.g. `spec.model.path`.
        field: &'static str,
        /// The value found.
        value: Box<str>,
    },
    /// `path` or `signaturePath` is neither absolute nor a URL of a known scheme.
    #[error("{field} {MSG_MODEL_LOCATION}, got {value:?}")]
    BadLocation {
        /// The field, e.g. `spec.model.path`.
        field: &'static str,
        /// The value found.
        value: Box<str>,
    },
    /// `path` or `signaturePath` is a remote URL: accepted by the schema, not supported.
    #[error(
        "{field} is the remote location {value:?}: remote models (s3://, gs://, http(s)://) are not supported; mount the model into the pod and give its absolute path"
    )]
    RemoteLocation {
        /// The field, e.g. `spec.model.path`.
        field: &'static str,
        /// The value found.
        value: Box<str>,
    },
    /// `continuousValidation.interval` is not a duration of at least 1m.
    #[error("spec.continuousValidation.interval {MSG_INTERVAL}, got {value:?}")]
    Interval {
        /// The value found.
        value: Box<str>,
    },
    /// A required string is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The field, e.g. `spec.config.sigstoreConfig.certificateIdentity`.
        field: &'static str,
    },
    /// A Sigstore signer lacks its identity or issuer, or has both spellings of one.
    #[error("{field}: {}", config::MSG_SIGNER_PAIR)]
    SignerPair {
        /// Where: `spec.config.sigstoreConfig` or `...identities`.
        field: &'static str,
    },
    /// The method names no signer (no identity, key or authority).
    #[error("{message}")]
    NoSigner {
        /// The rule's message.
        message: &'static str,
    },
    /// More signers than [`config::MAX_SIGNERS`].
    #[error("{field} has more than {} entries", config::MAX_SIGNERS)]
    TooManySigners {
        /// The list.
        field: &'static str,
    },
    /// A regular expression of a signer does not compile.
    #[error(transparent)]
    RegExp(Box<config::RegExpError>),
    /// `podSelector` is not a valid label selector.
    #[error(transparent)]
    PodSelector(Box<SelectorError>),
}

/// A `podSelector` expression that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "spec.podSelector.matchExpressions[{index}] (key {key:?}, operator {operator:?}) is not valid: {MSG_SELECTOR}"
)]
pub struct SelectorError {
    /// Which expression.
    pub index: usize,
    /// Its key.
    pub key: Box<str>,
    /// Its operator.
    pub operator: Box<str>,
}

impl SpecError {
    /// CamelCase reason for conditions, Events and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MethodCount => "InvalidMethod",
            Self::BothKeySpellings => "InvalidMethod",
            Self::RelativePath { .. } => "RelativePath",
            Self::BadLocation { .. } => "RelativePath",
            Self::RemoteLocation { .. } => "UnsupportedRemoteLocation",
            Self::Interval { .. } => "InvalidInterval",
            Self::Empty { .. } => "EmptyField",
            Self::PodSelector(_) => "InvalidPodSelector",
            Self::SignerPair { .. } | Self::NoSigner { .. } | Self::TooManySigners { .. } => {
                "InvalidSigner"
            }
            Self::RegExp(_) => "InvalidRegExp",
        }
    }
}

fn absolute(field: &'static str, value: &str) -> Result<(), SpecError> {
    if value.starts_with('/') {
        Ok(())
    } else {
        Err(SpecError::RelativePath {
            field,
            value: value.into(),
        })
    }
}

/// A model location: absolute, or a remote URL (schema-valid, reported as unsupported).
fn location(field: &'static str, value: &str) -> Result<(), SpecError> {
    if value.starts_with('/') {
        Ok(())
    } else if REMOTE_SCHEMES.iter().any(|s| value.starts_with(s)) {
        Err(SpecError::RemoteLocation {
            field,
            value: value.into(),
        })
    } else {
        Err(SpecError::BadLocation {
            field,
            value: value.into(),
        })
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
    /// The name used on the command line, in the pod annotation and in metric labels.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sigstore(_) => "sigstore",
            Self::Certificate(_) => "certificate",
            Self::Key(_) => "key",
        }
    }

    /// The name upstream writes to `status.authMethod`: `sigstore`, `pki`, `public-key`.
    pub fn auth_method(&self) -> &'static str {
        match self {
            Self::Sigstore(_) => "sigstore",
            Self::Certificate(_) => "pki",
            Self::Key(_) => "public-key",
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
        location("spec.model.path", &self.model.path)?;
        if let Some(s) = &self.model.signature_path {
            location("spec.model.signaturePath", s)?;
        }
        if let Some(c) = &self.continuous_validation
            && !c.interval.is_empty()
            && parse_interval(&c.interval).is_none_or(|d| d < std::time::Duration::from_secs(60))
        {
            return Err(SpecError::Interval {
                value: c.interval.as_str().into(),
            });
        }
        for p in self.model.ignore_paths.iter().flatten() {
            absolute("spec.model.ignorePaths", p)?;
        }
        match method {
            Method::Sigstore(s) => {
                if let Some(field) = config::empty_identity_field(s) {
                    return Err(SpecError::Empty { field });
                }
                s.signers()?;
            }
            Method::Certificate(p) => {
                p.authority_files()?;
            }
            Method::Key(k) => {
                k.key_files()?;
            }
        }
        if let Some(t) = &c.client_trust_config {
            absolute(
                "spec.config.clientTrustConfig.trustConfigPath",
                &t.trust_config_path,
            )?;
        }
        self.check_pod_selector()?;
        Ok(method)
    }

    /// The podSelector's rule (CEL and Rust): In/NotIn with values, Exists/DoesNotExist without.
    pub fn check_pod_selector(&self) -> Result<(), SpecError> {
        for (index, e) in self
            .pod_selector
            .iter()
            .flat_map(|s| s.match_expressions.iter().flatten())
            .enumerate()
        {
            let values = e.values.as_ref().map_or(0, Vec::len);
            let valid = match e.operator.as_str() {
                "In" | "NotIn" => values > 0,
                "Exists" | "DoesNotExist" => values == 0,
                _ => false,
            };
            if !valid {
                return Err(SpecError::PodSelector(Box::new(SelectorError {
                    index,
                    key: e.key.as_str().into(),
                    operator: e.operator.as_str().into(),
                })));
            }
        }
        Ok(())
    }

    /// The re-check interval when `continuousValidation.enabled` is true (an empty interval
    /// means upstream's default, 5m); `None` when continuous validation is off or the
    /// interval does not parse (then [`Self::check`] fails).
    pub fn continuous_interval(&self) -> Option<std::time::Duration> {
        let c = self.continuous_validation.as_ref().filter(|c| c.enabled)?;
        if c.interval.is_empty() {
            return parse_interval(&default_interval());
        }
        parse_interval(&c.interval)
    }

    /// Every path in the pod the verifier reads: model, signature, key/chain, trust config.
    pub fn paths_needed(&self) -> Vec<PathBuf> {
        let mut out = vec![PathBuf::from(&self.model.path), self.signature_path()];
        let c = &self.config;
        if let Some(p) = &c.pki_config {
            out.extend(
                p.authority_files()
                    .unwrap_or_default()
                    .into_iter()
                    .map(PathBuf::from),
            );
        }
        for k in [&c.public_key_config, &c.private_key_config]
            .into_iter()
            .flatten()
        {
            out.extend(
                k.key_files()
                    .unwrap_or_default()
                    .into_iter()
                    .map(PathBuf::from),
            );
        }
        // only the Sigstore method reads it (upstream allows it with any method)
        if let Some(t) = &c.client_trust_config
            && c.sigstore_config.is_some()
        {
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
        common.walk.ignore_paths = self
            .model
            .ignore_paths
            .iter()
            .flatten()
            .map(PathBuf::from)
            .collect();
        // model_signing ignores the git paths by default; only "false" needs a flag.
        common.walk.no_ignore_git_paths = self.model.ignore_git_paths == Some(false);
        common.ignore_unsigned_files = self.model.ignore_unsigned_files == Some(true);
        // unset: the policy recorded in the signature applies (OMS v1.0); false: an explicit
        // "no symlinks" that refuses a signature recorded with allow_symlinks: true
        common.walk.allow_symlinks = self.model.allow_symlinks == Some(true);
        common.walk.no_allow_symlinks = self.model.allow_symlinks == Some(false);
        common.termination_log = termination_log.map(Path::to_path_buf);
        common.warn_only = self.mode == Mode::Warn;
        let method = match method {
            Method::Sigstore(s) => VerifyMethod::Sigstore(SigstoreArgs {
                common,
                signers: s.signers()?,
                trust_config: self
                    .config
                    .client_trust_config
                    .as_ref()
                    .map(|t| PathBuf::from(&t.trust_config_path)),
                use_staging: false,
            }),
            Method::Certificate(p) => VerifyMethod::Certificate(CertificateArgs {
                common,
                certificate_chain: p
                    .authority_files()?
                    .into_iter()
                    .map(PathBuf::from)
                    .collect(),
                log_fingerprints: false,
            }),
            Method::Key(k) => VerifyMethod::Key(KeyArgs {
                common,
                public_keys: k.key_files()?.into_iter().map(PathBuf::from).collect(),
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
            if let Some(p) = schema["pattern"].as_str()
                && !regex::Regex::new(p).unwrap().is_match(s)
            {
                out.push(format!("{path}: {s:?} does not match {p:?}"));
            }
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

    /// All error messages the API server would give: schema first, then CEL (unless a type is
    /// wrong or a required field is missing).
    fn errors(cr: &Value) -> Vec<String> {
        let schema = schema();
        let mut out = Vec::new();
        schema_errors(&schema, cr, "", &mut out);
        // the API server runs the rules too when only formats (pattern, lengths) failed
        let typed = out
            .iter()
            .all(|e| !e.contains(": expected ") && !e.contains("Required value"));
        if typed && let Err(errs) = kube::core::cel::Validator::new().validate(&schema, cr, None) {
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
        assert_eq!(crd.matches("x-kubernetes-validations").count(), 18);
        assert!(!crd.contains("has(self.clientTrustConfig)"));
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
            Method::Key(&PublicKeyConfig::single("/k.pub"))
        );
    }

    /// Upstream's sample ModelValidations (the field list of its 2026 API), unchanged.
    fn upstream_samples() -> Vec<Value> {
        vec![
            json!({"model": {"path": "/data/tensorflow_saved_model", "signaturePath": "/data/tensorflow_saved_model/model.sig"},
                   "config": {"sigstoreConfig": {"certificateIdentity": "https://github.com/sigstore/model-validation-operator/.github/workflows/sign-model.yaml@refs/tags/v0.0.2",
                                                 "certificateOidcIssuer": "https://token.actions.githubusercontent.com"}}}),
            json!({"model": {"path": "/data/model", "signaturePath": "/data/model/model.sig",
                             "ignorePaths": ["/data/model/README.md"], "ignoreGitPaths": true,
                             "ignoreUnsignedFiles": false, "allowSymlinks": false},
                   "config": {"publicKeyConfig": {"keyPath": "/keys/signing-key.pub"}},
                   "imagePullPolicy": "IfNotPresent",
                   "continuousValidation": {"enabled": false, "interval": "5m"}}),
            json!({"model": {"path": "/data/model", "signaturePath": "/data/model/model.sig"},
                   "config": {"pkiConfig": {"certificateAuthority": "/keys/ca.pem"},
                              "clientTrustConfig": {"trustConfigPath": "/trust/client_trust_config.json"}},
                   "continuousValidation": {"enabled": true, "interval": "1h30m"}}),
            json!({"model": {"path": "/data/model", "signaturePath": "/data/model/model.sig"},
                   "config": {"sigstoreConfig": {"certificateIdentity": "me@example.com", "certificateOidcIssuer": "https://accounts.google.com"},
                              "clientTrustConfig": {"trustConfigPath": "/trust/client_trust_config.json"}},
                   "imagePullPolicy": "Always",
                   "continuousValidation": {"enabled": true, "interval": "1.5h"}}),
        ]
    }

    #[test]
    fn upstreams_samples_are_accepted_unchanged() {
        for spec in upstream_samples() {
            let mut v = cr(spec.clone());
            assert_eq!(errors(&v), Vec::<String>::new(), "{v}");
            let mv: ModelValidation = serde_json::from_value(v.take()).unwrap();
            mv.spec.check().unwrap();
            let back = serde_json::to_value(&mv.spec).unwrap();
            assert_eq!(back["continuousValidation"], spec["continuousValidation"]);
        }
    }

    #[test]
    fn upstreams_defaults_are_in_the_schema() {
        let s = schema();
        let spec = &s["properties"]["spec"]["properties"];
        assert_eq!(spec["imagePullPolicy"]["default"], "Always");
        let cv = &spec["continuousValidation"]["properties"];
        assert_eq!(cv["enabled"]["default"], false);
        assert_eq!(cv["interval"]["default"], "5m");
        assert_eq!(cv["interval"]["pattern"], INTERVAL_PATTERN);
        assert_eq!(
            spec["model"]["properties"]["path"]["pattern"],
            MODEL_LOCATION_PATTERN
        );
        // a spec without the block means "off"; an empty block gets upstream's defaults
        let mv: ModelValidation = serde_json::from_value(cr(key_spec())).unwrap();
        assert_eq!(mv.spec.continuous_interval(), None);
        let mut s = key_spec();
        s["continuousValidation"] = json!({});
        let mv: ModelValidation = serde_json::from_value(cr(s)).unwrap();
        assert_eq!(
            mv.spec.continuous_validation,
            Some(ContinuousValidation {
                enabled: false,
                interval: "5m".into()
            })
        );
    }

    #[test]
    fn remote_locations_pass_the_schema_and_are_reported_unsupported() {
        for (field, url) in [
            ("path", "s3://bucket/model"),
            ("path", "gs://bucket/model"),
            ("path", "https://example.com/model"),
            ("signaturePath", "http://example.com/model.sig"),
        ] {
            let mut spec = key_spec();
            spec["model"][field] = json!(url);
            let v = cr(spec);
            assert_eq!(errors(&v), Vec::<String>::new(), "{v}");
            let mv: ModelValidation = serde_json::from_value(v).unwrap();
            let err = mv.spec.check().unwrap_err();
            assert!(matches!(err, SpecError::RemoteLocation { .. }), "{err}");
            assert_eq!(err.reason(), "UnsupportedRemoteLocation");
            assert!(err.to_string().contains("not supported"), "{err}");
        }
        for bad in ["ftp://h/m", "file:///m", "S3://b/m", "data/model"] {
            let mut spec = key_spec();
            spec["model"]["path"] = json!(bad);
            assert_invalid(spec.clone(), MSG_MODEL_LOCATION, true);
            assert!(
                errors(&cr(spec))
                    .iter()
                    .any(|e| e.contains("does not match")),
                "the pattern (for servers without CEL) refuses {bad}"
            );
        }
    }

    #[test]
    fn continuous_interval_is_set_only_when_enabled() {
        let secs = std::time::Duration::from_secs;
        let cases = [
            (json!(null), None),
            (json!({}), None),
            (json!({"enabled": false, "interval": "10m"}), None),
            (json!({"enabled": true}), Some(secs(300))),
            (json!({"enabled": true, "interval": ""}), Some(secs(300))),
            (
                json!({"enabled": true, "interval": "1h30m"}),
                Some(secs(5400)),
            ),
            (
                json!({"enabled": true, "interval": "1.5h"}),
                Some(secs(5400)),
            ),
            (json!({"enabled": true, "interval": "1m"}), Some(secs(60))),
        ];
        for (block, want) in cases {
            let mut s = key_spec();
            if !block.is_null() {
                s["continuousValidation"] = block.clone();
            }
            let mv: ModelValidation = serde_json::from_value(cr(s)).unwrap();
            assert_eq!(mv.spec.continuous_interval(), want, "{block}");
        }
    }

    #[test]
    fn continuous_validation_intervals() {
        for ok in ["1m", "5m", "1h", "1.5h", "1h30m", "90m", "0.5h", "2h0m"] {
            let mut s = key_spec();
            s["continuousValidation"] = json!({"enabled": true, "interval": ok});
            assert_valid(s);
            assert!(parse_interval(ok).unwrap() >= std::time::Duration::from_secs(60));
        }
        assert_eq!(
            parse_interval("1h30m"),
            Some(std::time::Duration::from_secs(5400))
        );
        assert_eq!(
            parse_interval("1.5h"),
            Some(std::time::Duration::from_secs(5400))
        );
        // below the minimum: CEL and the Rust twin
        for short in ["0m", "0.5m", "0h"] {
            let mut s = key_spec();
            s["continuousValidation"] = json!({"interval": short});
            assert_invalid(s, MSG_INTERVAL, true);
        }
        // not a duration of minutes and hours: the pattern and the Rust twin
        for bad in ["5s", "5", "m", "1.m", ".5m", "5 m", "1d", "-5m", "5mm"] {
            assert_eq!(parse_interval(bad), None, "{bad}");
            let mut s = key_spec();
            s["continuousValidation"] = json!({"interval": bad});
            assert!(
                errors(&cr(s.clone()))
                    .iter()
                    .any(|e| e.contains("does not match")),
                "{bad}"
            );
            let mv: ModelValidation = serde_json::from_value(cr(s)).unwrap();
            assert!(
                matches!(mv.spec.check(), Err(SpecError::Interval { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn pod_selectors() {
        let with = |selector: Value| {
            let mut s = key_spec();
            s["podSelector"] = selector;
            s
        };
        for ok in [
            json!({}),
            json!({"matchLabels": {"app": "llm"}}),
            json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]},
                                        {"key": "tier", "operator": "NotIn", "values": ["batch"]},
                                        {"key": "gpu", "operator": "Exists"},
                                        {"key": "legacy", "operator": "DoesNotExist", "values": []}]}),
        ] {
            assert_valid(with(ok));
        }
        for bad in [
            json!({"matchExpressions": [{"key": "app", "operator": "In"}]}),
            json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": []}]}),
            json!({"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]}),
            json!({"matchExpressions": [{"key": "app", "operator": "Near", "values": ["x"]}]}),
        ] {
            assert_invalid(with(bad), MSG_SELECTOR, true);
        }
        let mv: ModelValidation = serde_json::from_value(cr(with(json!({"matchExpressions": [
            {"key": "gpu", "operator": "Exists"}, {"key": "app", "operator": "in", "values": ["x"]}]}))))
        .unwrap();
        assert_eq!(
            mv.spec.check().unwrap_err().to_string(),
            format!(
                "spec.podSelector.matchExpressions[1] (key \"app\", operator \"in\") is not valid: {MSG_SELECTOR}"
            )
        );
    }

    #[test]
    fn several_signers() {
        let spec = |config: Value| json!({"model": {"path": "/m"}, "config": config});
        let args = |config: Value| -> Vec<String> {
            let mv = assert_valid(spec(config));
            mv.spec.verify_command(None).unwrap().to_args()
        };
        let has = |args: &[String], want: &[&str]| args.windows(want.len()).any(|w| w == want);
        // keys: keyPath first, then keyPaths, without repeats
        let a = args(
            json!({"publicKeyConfig": {"keyPath": "/k/a.pub", "keyPaths": ["/k/b.pub", "/k/a.pub"]}}),
        );
        assert!(
            has(
                &a,
                &["--public_key", "/k/a.pub", "--public_key", "/k/b.pub"]
            ),
            "{a:?}"
        );
        assert_eq!(
            a.iter().filter(|x| *x == "--public_key").count(),
            2,
            "{a:?}"
        );
        let a = args(json!({"publicKeyConfig": {"keyPaths": ["/k/b.pub"]}}));
        assert!(has(&a, &["--public_key", "/k/b.pub"]), "{a:?}");
        // authorities
        let a = args(
            json!({"pkiConfig": {"certificateAuthority": "/ca/1.pem", "certificateAuthorities": ["/ca/2.pem"]}}),
        );
        assert!(
            has(&a, &["--certificate_chain", "/ca/1.pem"])
                && has(&a, &["--certificate_chain", "/ca/2.pem"]),
            "{a:?}"
        );
        // signers: exact pairs keep model_signing's flags, anything with a regexp becomes a
        // regexp pair (the exact half escaped)
        let a = args(json!({"sigstoreConfig": {
            "certificateIdentity": "me@example.com", "certificateOidcIssuer": "https://accounts.google.com",
            "identities": [
                {"certificateIdentityRegExp": "https://github.com/org/[a-z]+/.github/workflows/release.yml@refs/tags/v.*",
                 "certificateOidcIssuer": "https://token.actions.githubusercontent.com"},
                {"certificateIdentity": "you@example.com", "certificateOidcIssuerRegExp": "https://(a|b).example.com"}]}}));
        assert!(
            has(
                &a,
                &[
                    "--identity",
                    "me@example.com",
                    "--identity_provider",
                    "https://accounts.google.com"
                ]
            ),
            "{a:?}"
        );
        assert!(
            has(
                &a,
                &[
                    "--identity-regexp",
                    "https://github.com/org/[a-z]+/.github/workflows/release.yml@refs/tags/v.*",
                    "--identity-provider-regexp",
                    "https://token\\.actions\\.githubusercontent\\.com"
                ]
            ),
            "{a:?}"
        );
        assert!(
            has(
                &a,
                &[
                    "--identity-regexp",
                    "you@example\\.com",
                    "--identity-provider-regexp",
                    "https://(a|b).example.com"
                ]
            ),
            "{a:?}"
        );
        // every file is mounted into the verifier
        let mv = assert_valid(spec(
            json!({"publicKeyConfig": {"keyPath": "/k/a.pub", "keyPaths": ["/j/b.pub"]}}),
        ));
        let needed = mv.spec.paths_needed();
        assert!(
            needed.contains(&PathBuf::from("/k/a.pub"))
                && needed.contains(&PathBuf::from("/j/b.pub")),
            "{needed:?}"
        );

        // refused by CEL and by the Rust twin alike
        for (config, message) in [
            (json!({"sigstoreConfig": {}}), config::MSG_NO_SIGNER),
            (
                json!({"sigstoreConfig": {"identities": []}}),
                config::MSG_NO_SIGNER,
            ),
            (
                json!({"sigstoreConfig": {"certificateIdentity": "a", "certificateIdentityRegExp": "a", "certificateOidcIssuer": "b"}}),
                config::MSG_SIGNER_PAIR,
            ),
            (
                json!({"sigstoreConfig": {"certificateOidcIssuerRegExp": "b"}}),
                config::MSG_SIGNER_PAIR,
            ),
            (
                json!({"sigstoreConfig": {"identities": [{"certificateIdentity": "a"}]}}),
                config::MSG_SIGNER_PAIR,
            ),
            (
                json!({"sigstoreConfig": {"identities": [{"certificateIdentity": "a", "certificateOidcIssuer": "b", "certificateOidcIssuerRegExp": "c"}]}}),
                config::MSG_SIGNER_PAIR,
            ),
            (
                json!({"publicKeyConfig": {"keyPaths": []}}),
                config::MSG_NO_KEY,
            ),
            (json!({"pkiConfig": {}}), config::MSG_NO_CA),
            (
                json!({"publicKeyConfig": {"keyPaths": ["k.pub"]}}),
                "absolute path",
            ),
            (
                json!({"pkiConfig": {"certificateAuthorities": ["/ca.pem", "ca.pem"]}}),
                "absolute path",
            ),
        ] {
            assert_invalid(spec(config), message, true);
        }
        // what CEL cannot check: the regular expression compiles (Ready=False, webhook denies)
        let mv: ModelValidation = serde_json::from_value(cr(spec(json!({"sigstoreConfig": {
            "certificateIdentityRegExp": "(unclosed", "certificateOidcIssuer": "https://x"}}))))
        .unwrap();
        let err = mv.spec.check().unwrap_err();
        assert_eq!(err.reason(), "InvalidRegExp");
        assert!(err.to_string().starts_with("spec.config.sigstoreConfig.certificateIdentityRegExp \"(unclosed\" is not a valid regular expression: "), "{err}");
        // a list beyond the limit
        let many: Vec<String> = (0..33).map(|i| format!("/k/{i}.pub")).collect();
        assert_invalid(
            spec(json!({"publicKeyConfig": {"keyPaths": many}})),
            "more than maxItems",
            false,
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
        // clientTrustConfig is allowed with any method (upstream); only Sigstore reads it
        let mv = assert_valid(json!({"model": {"path": "/m"}, "config": {
                "publicKeyConfig": {"keyPath": "/k"}, "clientTrustConfig": {"trustConfigPath": "/t"}}}));
        assert!(!mv.spec.paths_needed().contains(&PathBuf::from("/t")));
        assert!(
            !mv.spec
                .verify_command(None)
                .unwrap()
                .to_args()
                .contains(&"/t".to_owned())
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
            config::MSG_NO_KEY,
            true,
        );
        assert_invalid(
            json!({"model": {"path": "/m"}, "config": {"sigstoreConfig": {"certificateIdentity": "a"}}}),
            config::MSG_SIGNER_PAIR,
            true,
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

    /// Found by the `model_validation` fuzz target: an identity or issuer starting with `-` is
    /// a valid spec, and the verifier used to refuse the command line built from it (the value
    /// was read as an option). It now reaches the verifier intact, as `--flag=value`.
    #[test]
    fn identities_that_look_like_flags_reach_the_verifier_intact() {
        let mv = assert_valid(json!({
            "model": {"path": "/m"},
            "config": {"sigstoreConfig": {"certificateIdentity": "-me@example.com",
                                          "certificateOidcIssuer": "--ignore_git_paths"}}
        }));
        let cmd = mv
            .spec
            .verify_command(Some(Path::new("/dev/termination-log")))
            .unwrap();
        let args = cmd.to_args();
        assert!(
            args.contains(&"--identity=-me@example.com".to_owned()),
            "{args:?}"
        );
        assert!(
            args.contains(&"--identity_provider=--ignore_git_paths".to_owned()),
            "{args:?}"
        );
        let back = VerifyCommand::try_parse_args(&args).unwrap();
        assert_eq!(back, cmd);
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
        // allowSymlinks: unset → no flag (the signature's recorded policy), false → the
        // explicit "no symlinks" extension, true → follow them
        for (allow, flag) in [
            (json!(null), None),
            (json!(false), Some("--no-allow_symlinks")),
            (json!(true), Some("--allow_symlinks")),
        ] {
            let mut spec = json!({"model": {"path": "/m"},
                                  "config": {"publicKeyConfig": {"keyPath": "/k"}}});
            spec["model"]["allowSymlinks"] = allow.clone();
            let spec: ModelValidationSpec = serde_json::from_value(spec).unwrap();
            let args = spec.verify_command(None).unwrap().to_args();
            let found: Vec<&String> = args.iter().filter(|a| a.contains("symlinks")).collect();
            assert_eq!(
                found,
                flag.map(|f| f.to_owned()).iter().collect::<Vec<_>>(),
                "{allow}"
            );
            let back = VerifyCommand::try_parse_args(args).unwrap();
            assert_eq!(
                back.method.common().walk.symlink_policy(),
                allow.as_bool(),
                "{allow}"
            );
        }

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
