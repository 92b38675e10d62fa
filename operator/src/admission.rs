//! The pod mutation: a pure function from an AdmissionReview body to an admission decision.
//!
//! This module owns the rules of the webhook (which pods are mutated, which `ModelValidation`
//! applies, what the injected container looks like). It does no I/O and never calls the API
//! server: `ModelValidation`s and namespace labels come from a [`ModelValidationLookup`]
//! (a reflector cache in production, a vector in tests). It never panics on any input; a body
//! that is not an AdmissionReview gets a 400 AdmissionResponse.
//!
//! Rules, in order:
//! 1. Only pod CREATE is mutated; UPDATE, DELETE, CONNECT and other kinds are allowed untouched.
//! 2. Namespaces labelled `validation.ml.sigstore.dev/ignore: "true"` are skipped.
//! 3. Pods without the label, and mirror pods of static pods, are allowed untouched.
//! 4. A pod that already has the `model-validation` init container is allowed unchanged
//!    (idempotent, before any lookup, so re-invocation never depends on the ModelValidation).
//! 5. The label names the ModelValidation (`"true"`: the only one of the namespace).
//! 6. The container is appended after the existing init containers.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, Pod, ResourceRequirements, SeccompProfile, SecurityContext,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use mv_shared::{INIT_CONTAINER_NAME, POD_LABEL, POD_LABEL_ANY, TERMINATION_LOG, annotations};
use serde_json::{Value, json};

use crate::crd::{Mode, ModelValidation};

/// Read access to the `ModelValidation`s and namespaces the webhook needs.
pub trait ModelValidationLookup {
    /// Whether the caches are filled (a lookup on an empty cache would wrongly deny pods).
    fn ready(&self) -> bool {
        true
    }
    /// Whether the namespace carries `validation.ml.sigstore.dev/ignore: "true"`.
    fn namespace_ignored(&self, namespace: &str) -> bool;
    /// All `ModelValidation`s of the namespace.
    fn in_namespace(&self, namespace: &str) -> Vec<Arc<ModelValidation>>;
}

/// A fixed set of objects, for tests and tools.
#[derive(Debug, Clone, Default)]
pub struct StaticLookup {
    /// The ModelValidations (their `metadata.namespace` places them).
    pub model_validations: Vec<Arc<ModelValidation>>,
    /// Namespaces labelled ignore.
    pub ignored_namespaces: Vec<String>,
}

impl ModelValidationLookup for StaticLookup {
    fn namespace_ignored(&self, namespace: &str) -> bool {
        self.ignored_namespaces.iter().any(|n| n == namespace)
    }
    fn in_namespace(&self, namespace: &str) -> Vec<Arc<ModelValidation>> {
        self.model_validations
            .iter()
            .filter(|m| m.namespace().as_deref() == Some(namespace))
            .cloned()
            .collect()
    }
}

/// What the webhook injects, from the operator's flags.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectConfig {
    /// The verifier image.
    pub verifier_image: String,
    /// The container command; the arguments `verify ...` follow it.
    pub verifier_command: Vec<String>,
    /// Resources when the ModelValidation sets none.
    pub default_resources: ResourceRequirements,
}

impl InjectConfig {
    /// The defaults: requests 100m CPU / 128Mi, limits 1 CPU / 512Mi.
    pub fn new(verifier_image: impl Into<String>) -> Self {
        let q = |s: &str| Quantity(s.to_owned());
        Self {
            verifier_image: verifier_image.into(),
            verifier_command: vec![DEFAULT_VERIFIER_COMMAND.to_owned()],
            default_resources: ResourceRequirements {
                requests: Some(BTreeMap::from([
                    ("cpu".to_owned(), q("100m")),
                    ("memory".to_owned(), q("128Mi")),
                ])),
                limits: Some(BTreeMap::from([
                    ("cpu".to_owned(), q("1")),
                    ("memory".to_owned(), q("512Mi")),
                ])),
                ..Default::default()
            },
        }
    }
}

/// Annotation the kubelet puts on mirror pods of static pods.
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Path of the verifier binary in its image.
pub const DEFAULT_VERIFIER_COMMAND: &str = "/usr/local/bin/model-verifier";

/// What happened to one admission request (for the log line and the metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The verifier was injected.
    Injected {
        /// The ModelValidation used.
        model_validation: String,
    },
    /// Allowed without a patch.
    Skipped {
        /// Why no patch was needed.
        reason: &'static str,
    },
    /// Denied (the pod is not created).
    Denied {
        /// The message sent to the user.
        message: String,
    },
    /// The request could not be read (400).
    Invalid {
        /// What was wrong.
        message: String,
    },
}

impl Outcome {
    /// Short label for metrics: `injected`, `skipped`, `denied`, `invalid`.
    pub fn result_label(&self) -> &'static str {
        match self {
            Self::Injected { .. } => "injected",
            Self::Skipped { .. } => "skipped",
            Self::Denied { .. } => "denied",
            Self::Invalid { .. } => "invalid",
        }
    }
}

/// The decision for one request.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The response to send back, wrapped by the caller with [`AdmissionResponse::into_review`].
    pub response: AdmissionResponse,
    /// What happened.
    pub outcome: Outcome,
    /// Namespace of the pod, when known.
    pub namespace: Option<String>,
    /// Name (or generateName) of the pod, when known.
    pub pod: Option<String>,
}

impl Decision {
    /// The AdmissionReview to answer with.
    pub fn review(&self) -> AdmissionReview<DynamicObject> {
        self.response.clone().into_review()
    }
}

fn invalid(uid: Option<&str>, message: String) -> Decision {
    let mut response = AdmissionResponse::invalid(&message);
    response.result.code = 400;
    if let Some(uid) = uid {
        response.uid = uid.to_owned();
    }
    Decision {
        response,
        outcome: Outcome::Invalid { message },
        namespace: None,
        pod: None,
    }
}

/// Decides on one AdmissionReview body (the bytes the API server POSTs).
pub fn admit(body: &[u8], lookup: &dyn ModelValidationLookup, config: &InjectConfig) -> Decision {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return invalid(None, format!("request body is not JSON: {e}")),
    };
    let uid = value
        .pointer("/request/uid")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let review: AdmissionReview<DynamicObject> = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => {
            return invalid(
                uid.as_deref(),
                format!("request body is not an admission.k8s.io/v1 AdmissionReview: {e}"),
            );
        }
    };
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(r) => r,
        Err(_) => {
            return invalid(uid.as_deref(), "AdmissionReview has no request".to_owned());
        }
    };
    mutate(&request, lookup, config)
}

/// Decides on one admission request.
pub fn mutate(
    request: &AdmissionRequest<DynamicObject>,
    lookup: &dyn ModelValidationLookup,
    config: &InjectConfig,
) -> Decision {
    let allow = |reason: &'static str, namespace: Option<String>, pod: Option<String>| Decision {
        response: AdmissionResponse::from(request),
        outcome: Outcome::Skipped { reason },
        namespace,
        pod,
    };
    let namespace = request.namespace.clone();
    let request_name = (!request.name.is_empty()).then(|| request.name.clone());
    // (1) Only pod CREATE; everything else passes untouched, so nothing can wedge a pod.
    if !request.kind.group.is_empty() || request.kind.kind != "Pod" {
        return allow("not a pod", namespace, request_name);
    }
    if request.operation != Operation::Create {
        return allow("not a create", namespace, request_name);
    }
    if request.sub_resource.is_some() {
        return allow("subresource", namespace, request_name);
    }
    let Some(object) = &request.object else {
        let mut d = invalid(
            Some(&request.uid),
            "pod CREATE without an object".to_owned(),
        );
        d.namespace = namespace;
        return d;
    };
    let pod: Pod = match serde_json::to_value(object).and_then(serde_json::from_value) {
        Ok(p) => p,
        Err(e) => {
            let mut d = invalid(
                Some(&request.uid),
                format!("object is not a valid Pod: {e}"),
            );
            d.namespace = namespace;
            return d;
        }
    };
    let pod_name = pod
        .metadata
        .name
        .clone()
        .or_else(|| pod.metadata.generate_name.clone())
        .or(request_name);
    let Some(namespace) = namespace.or_else(|| pod.metadata.namespace.clone()) else {
        return invalid(
            Some(&request.uid),
            "pod CREATE without a namespace".to_owned(),
        );
    };
    let deny = |message: String| Decision {
        response: {
            let mut r = AdmissionResponse::from(request).deny(&message);
            r.result.code = 403;
            r.result.reason = "Forbidden".to_owned();
            r
        },
        outcome: Outcome::Denied { message },
        namespace: Some(namespace.clone()),
        pod: pod_name.clone(),
    };
    // (2) opted-out namespace
    if lookup.namespace_ignored(&namespace) {
        return allow("namespace ignored", Some(namespace), pod_name);
    }
    // (3) label
    let Some(label) = pod.metadata.labels.as_ref().and_then(|l| l.get(POD_LABEL)) else {
        return allow("no label", Some(namespace), pod_name);
    };
    // Mirror pods reflect a static pod on a node; changing them makes the kubelet fight back.
    if pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_POD_ANNOTATION))
    {
        return allow("mirror pod", Some(namespace), pod_name);
    }
    // (4) idempotence, before any lookup
    let spec = pod.spec.clone().unwrap_or_default();
    let init_containers = spec.init_containers.clone().unwrap_or_default();
    if init_containers
        .iter()
        .any(|c| c.name == INIT_CONTAINER_NAME)
    {
        return allow("already injected", Some(namespace), pod_name);
    }
    if label.is_empty() {
        return deny(format!(
            "label {POD_LABEL} is empty: set it to \"{POD_LABEL_ANY}\" (the only ModelValidation of namespace {namespace}) or to the name of a ModelValidation"
        ));
    }
    if !lookup.ready() {
        return deny(
            "the model-validation operator is starting (its ModelValidation cache is not synced yet); retry".to_owned(),
        );
    }
    // (5) which ModelValidation
    let candidates = lookup.in_namespace(&namespace);
    let mv = if label == POD_LABEL_ANY {
        match candidates.as_slice() {
            [one] => one.clone(),
            [] => {
                return deny(format!(
                    "pod has label {POD_LABEL}=\"{POD_LABEL_ANY}\" but namespace {namespace} has no ModelValidation: create one, or remove the label"
                ));
            }
            several => {
                let mut names: Vec<String> = several.iter().map(|m| m.name_any()).collect();
                names.sort();
                return deny(format!(
                    "pod has label {POD_LABEL}=\"{POD_LABEL_ANY}\" but namespace {namespace} has {} ModelValidations ({}): set the label to the name of the one to use",
                    names.len(),
                    names.join(", ")
                ));
            }
        }
    } else {
        match candidates.iter().find(|m| m.name_any() == *label) {
            Some(m) => m.clone(),
            None => {
                return deny(format!(
                    "ModelValidation {label:?} named by label {POD_LABEL} was not found in namespace {namespace}"
                ));
            }
        }
    };
    let mv_name = mv.name_any();
    let method = match mv.spec.check() {
        Ok(m) => m.name(),
        Err(e) => {
            return deny(format!(
                "ModelValidation {namespace}/{mv_name} cannot be used: {e}"
            ));
        }
    };
    let command = match mv.spec.verify_command(Some(Path::new(TERMINATION_LOG))) {
        Ok(c) => c,
        Err(e) => {
            return deny(format!(
                "ModelValidation {namespace}/{mv_name} cannot be used: {e}"
            ));
        }
    };
    // Mounts: only those that make the needed paths visible, read-only.
    let app_mounts: Vec<VolumeMount> = spec
        .containers
        .iter()
        .flat_map(|c| c.volume_mounts.clone().unwrap_or_default())
        .collect();
    let needed = mv.spec.paths_needed();
    let selection = select_mounts(&app_mounts, &needed);
    let mut warnings = Vec::new();
    if !selection.uncovered.is_empty() {
        let list: Vec<String> = selection
            .uncovered
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let message = format!(
            "ModelValidation {namespace}/{mv_name} needs {} but no volume mounted in the pod's containers holds {}: the verifier could not read {}",
            list.join(", "),
            if list.len() == 1 { "it" } else { "them" },
            if list.len() == 1 { "it" } else { "them" },
        );
        if mv.spec.mode == Mode::Enforce {
            return deny(message);
        }
        warnings.push(message);
    }
    let mut args = vec!["verify".to_owned()];
    args.extend(command.to_args());
    let container = Container {
        name: INIT_CONTAINER_NAME.to_owned(),
        image: Some(config.verifier_image.clone()),
        command: Some(config.verifier_command.clone()),
        args: Some(args),
        image_pull_policy: mv.spec.image_pull_policy.map(|p| p.as_str().to_owned()),
        volume_mounts: Some(selection.mounts),
        resources: Some(
            mv.spec
                .resources
                .clone()
                .unwrap_or_else(|| config.default_resources.clone()),
        ),
        security_context: Some(restricted_security_context()),
        termination_message_path: Some(TERMINATION_LOG.to_owned()),
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        ..Default::default()
    };
    let container = match serde_json::to_value(&container) {
        Ok(v) => v,
        Err(e) => return deny(format!("internal error: cannot encode the container: {e}")),
    };
    let mut ops = Vec::new();
    // (6) append after the existing init containers (e.g. KServe's storage-initializer)
    if spec.init_containers.is_none() {
        ops.push(add(&["spec", "initContainers"], json!([container])));
    } else {
        ops.push(add(&["spec", "initContainers", "-"], container));
    }
    let generation = mv.metadata.generation.unwrap_or_default().to_string();
    let notes = [
        (annotations::MODEL_VALIDATION, mv_name.clone()),
        (annotations::GENERATION, generation),
        (annotations::METHOD, method.to_owned()),
    ];
    if pod.metadata.annotations.is_none() {
        let map: serde_json::Map<String, Value> = notes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
            .collect();
        ops.push(add(&["metadata", "annotations"], Value::Object(map)));
    } else {
        for (k, v) in notes {
            ops.push(add(&["metadata", "annotations", k], Value::String(v)));
        }
    }
    let mut response = match AdmissionResponse::from(request).with_patch(Patch(ops)) {
        Ok(r) => r,
        Err(e) => return deny(format!("internal error: cannot encode the patch: {e}")),
    };
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    Decision {
        response,
        outcome: Outcome::Injected {
            model_validation: mv_name,
        },
        namespace: Some(namespace),
        pod: pod_name,
    }
}

fn add(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}

/// The restricted Pod Security Standard, for the injected container.
pub fn restricted_security_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            localhost_profile: None,
        }),
        ..Default::default()
    }
}

/// The mounts chosen for the verifier and the paths no mount holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MountSelection {
    /// Mounts to give the verifier: read-only, parents before children.
    pub mounts: Vec<VolumeMount>,
    /// Needed paths that no mount holds.
    pub uncovered: Vec<PathBuf>,
}

/// Lexically normalised absolute path (`.`/`..` resolved, trailing `/` dropped).
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Chooses the mounts that make `needed` visible as in the app containers.
///
/// For each needed path, the most specific mount holding it (the one the app container sees
/// there) plus every mount nested below it (a model directory may span several volumes).
/// Mounts at `/` are never copied (they cannot be mounted over the verifier's root). Mounts
/// are deduplicated by path (first container wins), forced read-only, and ordered parents
/// first so nested mounts land on top of their parents.
pub fn select_mounts(mounts: &[VolumeMount], needed: &[PathBuf]) -> MountSelection {
    let mut unique: Vec<(PathBuf, &VolumeMount)> = Vec::new();
    for m in mounts {
        let path = normalise(Path::new(&m.mount_path));
        if path == Path::new("/") || unique.iter().any(|(p, _)| *p == path) {
            continue;
        }
        unique.push((path, m));
    }
    let mut chosen: Vec<usize> = Vec::new();
    let mut uncovered = Vec::new();
    for need in needed {
        let need_n = normalise(need);
        let holder = unique
            .iter()
            .enumerate()
            .filter(|(_, (p, _))| need_n.starts_with(p))
            .max_by_key(|(_, (p, _))| p.components().count())
            .map(|(i, _)| i);
        match holder {
            Some(i) => chosen.push(i),
            None => uncovered.push(need.clone()),
        }
        for (i, (p, _)) in unique.iter().enumerate() {
            if p != &need_n && p.starts_with(&need_n) {
                chosen.push(i);
            }
        }
    }
    chosen.sort_unstable();
    chosen.dedup();
    let mut picked: Vec<(PathBuf, VolumeMount)> = chosen
        .into_iter()
        .filter_map(|i| unique.get(i))
        .map(|(p, m)| {
            let mut m = (*m).clone();
            m.read_only = Some(true);
            // Bidirectional propagation needs a privileged container; the verifier only reads.
            m.mount_propagation = None;
            m.recursive_read_only = None;
            (p.clone(), m)
        })
        .collect();
    picked.sort_by_key(|(p, _)| p.components().count());
    uncovered.dedup();
    MountSelection {
        mounts: picked.into_iter().map(|(_, m)| m).collect(),
        uncovered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ModelValidationSpec;
    use serde_json::json;

    const FIXTURE: &str = include_str!("../tests/fixtures/create-pod.json");

    fn review() -> Value {
        serde_json::from_str(FIXTURE).unwrap()
    }

    fn mv(name: &str, ns: &str, spec: Value) -> Arc<ModelValidation> {
        let mut m = ModelValidation::new(
            name,
            serde_json::from_value::<ModelValidationSpec>(spec).unwrap(),
        );
        m.metadata.namespace = Some(ns.to_owned());
        m.metadata.generation = Some(3);
        Arc::new(m)
    }

    fn key_mv(name: &str) -> Arc<ModelValidation> {
        mv(
            name,
            "models",
            json!({"model": {"path": "/data/model"},
            "config": {"publicKeyConfig": {"keyPath": "/etc/model-keys/key.pub"}}}),
        )
    }

    fn lookup(mvs: Vec<Arc<ModelValidation>>) -> StaticLookup {
        StaticLookup {
            model_validations: mvs,
            ignored_namespaces: vec![],
        }
    }

    fn config() -> InjectConfig {
        InjectConfig::new("registry.example.com/model-verifier:0.1.0")
    }

    fn run(review: &Value, lookup: &StaticLookup) -> Decision {
        admit(&serde_json::to_vec(review).unwrap(), lookup, &config())
    }

    /// Applies the decision's patch to the request's pod.
    fn patched(review: &Value, d: &Decision) -> Value {
        let mut pod = review["request"]["object"].clone();
        let patch: Patch =
            serde_json::from_slice(d.response.patch.as_ref().expect("a patch")).unwrap();
        json_patch::patch(&mut pod, &patch).unwrap();
        pod
    }

    fn injected(pod: &Value) -> &Value {
        let inits = pod["spec"]["initContainers"].as_array().unwrap();
        inits
            .iter()
            .find(|c| c["name"] == INIT_CONTAINER_NAME)
            .unwrap()
    }

    fn assert_untouched(d: &Decision, reason: &str) {
        assert!(d.response.allowed, "{d:?}");
        assert!(d.response.patch.is_none(), "{d:?}");
        match &d.outcome {
            Outcome::Skipped { reason: got } => assert_eq!(*got, reason),
            other => panic!("expected skipped ({reason}), got {other:?}"),
        }
    }

    fn assert_denied(d: &Decision, contains: &[&str]) {
        assert!(!d.response.allowed, "{d:?}");
        assert_eq!(d.response.result.code, 403);
        assert!(d.response.patch.is_none());
        let msg = &d.response.result.message;
        for c in contains {
            assert!(msg.contains(c), "{msg:?} should contain {c:?}");
        }
        assert!(matches!(d.outcome, Outcome::Denied { .. }));
    }

    #[test]
    fn label_true_with_one_model_validation_injects_the_verifier() {
        let r = review();
        let d = run(&r, &lookup(vec![key_mv("only")]));
        assert!(d.response.allowed);
        assert_eq!(d.response.uid, "7f0e3a1c-2b7d-4c55-9d0e-5f2b8a6c1d01");
        assert_eq!(
            d.outcome,
            Outcome::Injected {
                model_validation: "only".into()
            }
        );
        assert_eq!(d.namespace.as_deref(), Some("models"));
        assert_eq!(d.pod.as_deref(), Some("inference-7d9f8b6c5-"));
        let pod = patched(&r, &d);
        let c = injected(&pod);
        assert_eq!(c["image"], "registry.example.com/model-verifier:0.1.0");
        assert_eq!(c["command"], json!([DEFAULT_VERIFIER_COMMAND]));
        assert_eq!(
            c["args"],
            json!([
                "verify",
                "key",
                "/data/model",
                "--signature",
                "/data/model/model.sig",
                "--termination-log",
                "/dev/termination-log",
                "--public_key",
                "/etc/model-keys/key.pub"
            ])
        );
        // the arguments are what the verifier's own parser reads back
        let args: Vec<String> = serde_json::from_value(c["args"].clone()).unwrap();
        let cmd = mv_shared::verify::VerifyCommand::try_parse_args(&args[1..]).unwrap();
        assert_eq!(
            cmd,
            key_mv("x")
                .spec
                .verify_command(Some(Path::new(TERMINATION_LOG)))
                .unwrap()
        );
        assert_eq!(
            c["volumeMounts"],
            json!([{"name": "model", "mountPath": "/data", "readOnly": true},
                   {"name": "keys", "mountPath": "/etc/model-keys", "readOnly": true}])
        );
        assert_eq!(
            c["securityContext"],
            json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
                   "readOnlyRootFilesystem": true, "runAsNonRoot": true,
                   "seccompProfile": {"type": "RuntimeDefault"}})
        );
        assert_eq!(
            c["resources"],
            json!({"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}})
        );
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert!(c.get("imagePullPolicy").is_none());
        assert_eq!(
            pod["metadata"]["annotations"],
            json!({annotations::MODEL_VALIDATION: "only", annotations::GENERATION: "3", annotations::METHOD: "key"})
        );
        // the app container is untouched
        assert_eq!(
            pod["spec"]["containers"],
            r["request"]["object"]["spec"]["containers"]
        );
        // the patched pod is still a valid Pod
        let _: Pod = serde_json::from_value(pod).unwrap();
    }

    #[test]
    fn label_true_with_no_or_several_model_validations_is_denied() {
        let r = review();
        assert_denied(
            &run(&r, &lookup(vec![])),
            &["namespace models has no ModelValidation"],
        );
        // one in another namespace does not count
        let other = mv(
            "elsewhere",
            "other",
            json!({"model": {"path": "/m"}, "config": {"publicKeyConfig": {"keyPath": "/k"}}}),
        );
        assert_denied(&run(&r, &lookup(vec![other])), &["has no ModelValidation"]);
        assert_denied(
            &run(&r, &lookup(vec![key_mv("b"), key_mv("a")])),
            &["has 2 ModelValidations (a, b)", "set the label to the name"],
        );
    }

    #[test]
    fn a_named_model_validation_is_used_and_a_missing_one_is_denied() {
        let mut r = review();
        r["request"]["object"]["metadata"]["labels"][POD_LABEL] = json!("second");
        let d = run(&r, &lookup(vec![key_mv("first"), key_mv("second")]));
        assert_eq!(
            d.outcome,
            Outcome::Injected {
                model_validation: "second".into()
            }
        );
        assert_eq!(
            patched(&r, &d)["metadata"]["annotations"][annotations::MODEL_VALIDATION],
            "second"
        );
        r["request"]["object"]["metadata"]["labels"][POD_LABEL] = json!("third");
        assert_denied(
            &run(&r, &lookup(vec![key_mv("first")])),
            &["\"third\"", "not found in namespace models"],
        );
        r["request"]["object"]["metadata"]["labels"][POD_LABEL] = json!("");
        assert_denied(&run(&r, &lookup(vec![key_mv("first")])), &["is empty"]);
    }

    #[test]
    fn ignored_namespaces_and_unlabelled_pods_are_left_alone() {
        let r = review();
        let l = StaticLookup {
            model_validations: vec![key_mv("only")],
            ignored_namespaces: vec!["models".into()],
        };
        assert_untouched(&run(&r, &l), "namespace ignored");
        let mut r = review();
        r["request"]["object"]["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove(POD_LABEL);
        assert_untouched(&run(&r, &lookup(vec![])), "no label");
    }

    #[test]
    fn mirror_pods_are_left_alone() {
        let mut r = review();
        r["request"]["object"]["metadata"]["annotations"] =
            json!({MIRROR_POD_ANNOTATION: "0123456789abcdef"});
        assert_untouched(&run(&r, &lookup(vec![key_mv("only")])), "mirror pod");
    }

    #[test]
    fn update_and_delete_of_injected_pods_pass_after_the_model_validation_is_gone() {
        let first = review();
        let d = run(&first, &lookup(vec![key_mv("only")]));
        let injected_pod = patched(&first, &d);
        for op in ["UPDATE", "DELETE", "CONNECT"] {
            let mut r = review();
            r["request"]["operation"] = json!(op);
            r["request"]["name"] = json!("inference-7d9f8b6c5-abcde");
            r["request"]["oldObject"] = injected_pod.clone();
            if op == "DELETE" {
                r["request"]["object"] = Value::Null;
            } else {
                // e.g. a controller removing a finalizer, or a relabel to a missing CR
                let mut p = injected_pod.clone();
                p["metadata"]["labels"][POD_LABEL] = json!("gone");
                r["request"]["object"] = p;
            }
            assert_untouched(&run(&r, &lookup(vec![])), "not a create");
        }
        let mut r = review();
        r["request"]["subResource"] = json!("binding");
        assert_untouched(&run(&r, &lookup(vec![])), "subresource");
        let mut r = review();
        r["request"]["kind"] = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
        assert_untouched(&run(&r, &lookup(vec![])), "not a pod");
    }

    #[test]
    fn re_invocation_is_idempotent_even_without_the_model_validation() {
        let r = review();
        let d = run(&r, &lookup(vec![key_mv("only")]));
        let mut again = review();
        again["request"]["object"] = patched(&r, &d);
        // reinvocationPolicy: IfNeeded, and the ModelValidation meanwhile deleted
        assert_untouched(&run(&again, &lookup(vec![])), "already injected");
        assert_untouched(
            &run(&again, &lookup(vec![key_mv("only")])),
            "already injected",
        );
    }

    #[test]
    fn appended_after_existing_init_containers_and_annotations_kept() {
        let mut r = review();
        let pod = &mut r["request"]["object"];
        pod["spec"]["initContainers"] = json!([{"name": "storage-initializer", "image": "kserve/storage-initializer",
            "volumeMounts": [{"name": "model", "mountPath": "/mnt/models"}]}]);
        pod["metadata"]["annotations"] = json!({"keep": "me", annotations::METHOD: "stale"});
        let d = run(&r, &lookup(vec![key_mv("only")]));
        let pod = patched(&r, &d);
        let names: Vec<&str> = pod["spec"]["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["storage-initializer", INIT_CONTAINER_NAME]);
        assert_eq!(pod["metadata"]["annotations"]["keep"], "me");
        assert_eq!(pod["metadata"]["annotations"][annotations::METHOD], "key");
        // init containers' own mounts are not copied
        assert!(
            !injected(&pod)["volumeMounts"]
                .to_string()
                .contains("/mnt/models")
        );
    }

    #[test]
    fn each_auth_method_and_the_deprecated_spelling() {
        let cases = [
            (
                json!({"sigstoreConfig": {"certificateIdentity": "ci@example.com", "certificateOidcIssuer": "https://token.actions.githubusercontent.com"}}),
                "sigstore",
                vec![
                    "--identity",
                    "ci@example.com",
                    "--identity_provider",
                    "https://token.actions.githubusercontent.com",
                ],
            ),
            (
                json!({"pkiConfig": {"certificateAuthority": "/etc/model-keys/ca.pem"}}),
                "certificate",
                vec!["--certificate_chain", "/etc/model-keys/ca.pem"],
            ),
            (
                json!({"publicKeyConfig": {"keyPath": "/etc/model-keys/key.pub"}}),
                "key",
                vec!["--public_key", "/etc/model-keys/key.pub"],
            ),
            (
                json!({"privateKeyConfig": {"keyPath": "/etc/model-keys/key.pub"}}),
                "key",
                vec!["--public_key", "/etc/model-keys/key.pub"],
            ),
        ];
        for (config, method, tail) in cases {
            let r = review();
            let m = mv(
                "only",
                "models",
                json!({"model": {"path": "/data/model"}, "config": config}),
            );
            let d = run(&r, &lookup(vec![m]));
            let pod = patched(&r, &d);
            assert_eq!(pod["metadata"]["annotations"][annotations::METHOD], method);
            let args: Vec<String> = serde_json::from_value(injected(&pod)["args"].clone()).unwrap();
            assert_eq!(args[1], method);
            assert!(
                args.ends_with(&tail.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
                "{args:?}"
            );
        }
    }

    #[test]
    fn mode_pull_policy_and_resources_come_from_the_spec() {
        let r = review();
        let m = mv(
            "only",
            "models",
            json!({"model": {"path": "/data/model"},
            "config": {"publicKeyConfig": {"keyPath": "/etc/model-keys/key.pub"}},
            "mode": "Warn", "imagePullPolicy": "Always",
            "resources": {"limits": {"memory": "2Gi"}}}),
        );
        let pod = patched(&r, &run(&r, &lookup(vec![m])));
        let c = injected(&pod);
        assert!(
            c["args"]
                .as_array()
                .unwrap()
                .contains(&json!("--warn-only"))
        );
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["resources"], json!({"limits": {"memory": "2Gi"}}));
    }

    #[test]
    fn an_unusable_spec_is_denied_with_the_reason() {
        // what CEL would refuse, on an API server that does not run CEL
        let m = mv(
            "bad",
            "models",
            json!({"model": {"path": "data/model"}, "config": {"publicKeyConfig": {"keyPath": "/k"}}}),
        );
        assert_denied(
            &run(&review(), &lookup(vec![m])),
            &[
                "models/bad cannot be used",
                "spec.model.path must be an absolute path",
            ],
        );
        let m = mv(
            "bad",
            "models",
            json!({"model": {"path": "/data/model"}, "config": {}}),
        );
        assert_denied(&run(&review(), &lookup(vec![m])), &["exactly one of"]);
    }

    #[test]
    fn paths_on_no_volume_are_denied_in_enforce_and_warned_in_warn_mode() {
        let spec = |mode: &str| {
            json!({"model": {"path": "/opt/model"}, "mode": mode,
            "config": {"publicKeyConfig": {"keyPath": "/etc/model-keys/key.pub"}}})
        };
        let d = run(
            &review(),
            &lookup(vec![mv("only", "models", spec("Enforce"))]),
        );
        assert_denied(&d, &["/opt/model, /opt/model/model.sig", "no volume"]);
        let d = run(&review(), &lookup(vec![mv("only", "models", spec("Warn"))]));
        assert!(d.response.allowed);
        assert!(d.response.warnings.as_ref().unwrap()[0].contains("/opt/model"));
        assert!(matches!(d.outcome, Outcome::Injected { .. }));
    }

    #[test]
    fn a_not_synced_cache_denies_labelled_pods_only() {
        struct Cold;
        impl ModelValidationLookup for Cold {
            fn ready(&self) -> bool {
                false
            }
            fn namespace_ignored(&self, _: &str) -> bool {
                false
            }
            fn in_namespace(&self, _: &str) -> Vec<Arc<ModelValidation>> {
                vec![]
            }
        }
        let body = serde_json::to_vec(&review()).unwrap();
        let d = admit(&body, &Cold, &config());
        assert_denied(&d, &["not synced yet"]);
    }

    #[test]
    fn malformed_bodies_get_a_400_response_never_a_panic() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "not JSON"),
            (b"\xff\xfe".to_vec(), "not JSON"),
            (b"{\"kind\":".to_vec(), "not JSON"),
            (b"[]".to_vec(), "not an admission.k8s.io/v1 AdmissionReview"),
            (
                b"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}".to_vec(),
                "has no request",
            ),
            (
                serde_json::to_vec(
                    &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {"uid": "u-1", "operation": "EXPLODE"}}),
                )
                .unwrap(),
                "not an admission.k8s.io/v1 AdmissionReview",
            ),
        ];
        for (body, want) in cases {
            let d = admit(&body, &lookup(vec![]), &config());
            assert!(!d.response.allowed);
            assert_eq!(d.response.result.code, 400);
            assert!(
                d.response.result.message.contains(want),
                "{:?} vs {want}",
                d.response.result.message
            );
            assert!(matches!(d.outcome, Outcome::Invalid { .. }));
        }
        // the uid is kept whenever it can be read, so the API server accepts the answer
        let mut r = review();
        r["request"]["object"]["spec"]["containers"] = json!("not a list");
        let d = run(&r, &lookup(vec![]));
        assert_eq!(d.response.result.code, 400);
        assert_eq!(d.response.uid, "7f0e3a1c-2b7d-4c55-9d0e-5f2b8a6c1d01");
        assert!(d.response.result.message.contains("not a valid Pod"));
        let mut r = review();
        r["request"]["object"] = Value::Null;
        let d = run(&r, &lookup(vec![]));
        assert_eq!(d.response.result.code, 400);
        assert!(d.response.result.message.contains("without an object"));
    }

    fn vm(name: &str, path: &str) -> VolumeMount {
        VolumeMount {
            name: name.into(),
            mount_path: path.into(),
            ..Default::default()
        }
    }

    fn paths(sel: &MountSelection) -> Vec<(&str, &str)> {
        sel.mounts
            .iter()
            .map(|m| (m.name.as_str(), m.mount_path.as_str()))
            .collect()
    }

    #[test]
    fn mounts_most_specific_holder_and_nested_mounts() {
        let mounts = [
            vm("root", "/"),
            vm("data", "/data"),
            vm("keys", "/data/keys"),
            vm("shard2", "/data/model/shard2/"),
            vm("unrelated", "/var/cache"),
            vm("datamodelx", "/data/modelx"),
        ];
        let sel = select_mounts(
            &mounts,
            &[
                PathBuf::from("/data/model"),
                PathBuf::from("/data/keys/k.pub"),
            ],
        );
        // parents before children; "/" never copied; /data/modelx is not below /data/model
        assert_eq!(
            paths(&sel),
            [
                ("data", "/data"),
                ("keys", "/data/keys"),
                ("shard2", "/data/model/shard2/")
            ]
        );
        assert!(sel.mounts.iter().all(|m| m.read_only == Some(true)));
        assert!(sel.uncovered.is_empty());
        // only a mount of "/" holds the path: not copied, the path is reported
        let sel = select_mounts(&[vm("root", "/")], &[PathBuf::from("/m")]);
        assert!(sel.mounts.is_empty());
        assert_eq!(sel.uncovered, [PathBuf::from("/m")]);
    }

    #[test]
    fn mounts_subpath_kept_readonly_forced_duplicates_dropped() {
        let mut sub = vm("cfg", "/etc/model-keys/key.pub");
        sub.sub_path = Some("keys/key.pub".into());
        sub.read_only = Some(false);
        sub.mount_propagation = Some("HostToContainer".into());
        let mut dup = vm("other-volume", "/models/");
        dup.read_only = Some(false);
        let mounts = [vm("models", "/models"), sub, dup];
        let sel = select_mounts(
            &mounts,
            &[
                PathBuf::from("/models/llm"),
                PathBuf::from("/etc/model-keys/key.pub"),
            ],
        );
        assert_eq!(
            paths(&sel),
            [("models", "/models"), ("cfg", "/etc/model-keys/key.pub")]
        );
        assert_eq!(sel.mounts[1].sub_path.as_deref(), Some("keys/key.pub"));
        assert_eq!(sel.mounts[1].read_only, Some(true));
        assert_eq!(sel.mounts[1].mount_propagation, None);
        // the file mount holds exactly its path, not siblings
        let sel = select_mounts(&mounts, &[PathBuf::from("/etc/model-keys/other.pub")]);
        assert_eq!(sel.uncovered, [PathBuf::from("/etc/model-keys/other.pub")]);
        // dot segments do not escape a mount
        let sel = select_mounts(&mounts, &[PathBuf::from("/models/../etc/x")]);
        assert_eq!(sel.uncovered.len(), 1);
    }

    #[test]
    fn mounts_from_every_app_container() {
        let mut r = review();
        r["request"]["object"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({
            "name": "sidecar", "image": "busybox",
            "volumeMounts": [{"name": "sig", "mountPath": "/signatures"}]}));
        let m = mv(
            "only",
            "models",
            json!({"model": {"path": "/data/model", "signaturePath": "/signatures/model.sig"},
            "config": {"publicKeyConfig": {"keyPath": "/etc/model-keys/key.pub"}}}),
        );
        let pod = patched(&r, &run(&r, &lookup(vec![m])));
        let mounts: Vec<&str> = injected(&pod)["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["mountPath"].as_str().unwrap())
            .collect();
        assert_eq!(mounts, ["/data", "/signatures", "/etc/model-keys"]);
    }
}
