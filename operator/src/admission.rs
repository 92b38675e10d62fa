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
//! 4. The container name `model-validation` is reserved: a pod that brings a regular or
//!    ephemeral container of that name is denied; an init container of that name is accepted
//!    only if it is exactly the one rule 6 would inject (re-invocation), else denied, in
//!    Enforce and Warn mode alike.
//! 5. The label names the ModelValidation (`"true"`: the only one of the namespace). Windows
//!    pods cannot run the verifier: denied in Enforce mode, admitted unverified with a warning
//!    in Warn mode.
//! 6. The container is appended after the existing init containers. The project's annotations
//!    (`validation.ml.sigstore.dev/...`) are written by the webhook only: values the pod
//!    brought are overwritten, other keys of that prefix removed.

use json_patch::Patch;
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use kube::ResourceExt;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use mv_shared::{INIT_CONTAINER_NAME, annotations};
use serde_json::Value;

use crate::cache::ModelValidationLookup;
use crate::crd::{Mode, ModelValidation};
use crate::digest;
use crate::fingerprint::container_differences;
use crate::inject::{
    InjectConfig, InjectError, Injection, annotation_ops, container_ops, injection, label_op,
};
use crate::policy::{self, Unselectable};

/// Annotation the kubelet puts on mirror pods of static pods.
pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Why a pod CREATE is denied; the message is what `kubectl` shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// A regular or ephemeral container uses the verifier's name.
    #[error(
        "pod has a container named {INIT_CONTAINER_NAME:?} that is not the one this webhook injects (it injects only an init container of that name): the name is reserved for the model verifier"
    )]
    ReservedName,
    /// The ModelValidation cache has not been filled yet.
    #[error(
        "the model-validation operator is starting (its ModelValidation cache is not synced yet); retry"
    )]
    NotSynced,
    /// No single ModelValidation can be chosen, or a required namespace has none for the pod.
    #[error(transparent)]
    Policy(#[from] Unselectable),
    /// A Windows pod under an Enforce ModelValidation (or bringing a verifier container).
    #[error(
        "pod sets spec.os.name \"windows\" but the model verifier of ModelValidation {namespace}/{name} runs on Linux only: its model cannot be verified"
    )]
    Windows {
        /// The pod's namespace.
        namespace: String,
        /// The ModelValidation.
        name: String,
    },
    /// No verifier container can be built for this pod.
    #[error(transparent)]
    Inject(#[from] InjectError),
    /// The pod brings an init container of the verifier's name that is not the injected one.
    #[error(
        "pod has an init container named {INIT_CONTAINER_NAME:?} that is not the one this webhook injects for ModelValidation {namespace}/{name} (it differs in {}): the name is reserved for the model verifier",
        fields.join(", ")
    )]
    ForgedVerifier {
        /// The pod's namespace.
        namespace: String,
        /// The ModelValidation.
        name: String,
        /// The fields that differ.
        fields: Vec<String>,
    },
    /// Deciding panicked (a bug); only a CREATE is denied for it.
    #[error("internal error in the model-validation webhook while deciding on this pod: {detail}")]
    Panicked {
        /// The panic message.
        detail: Box<str>,
    },
    /// The patch could not be encoded (a bug).
    #[error("internal error: cannot encode the patch: {detail}")]
    EncodePatch {
        /// serde_json's message.
        detail: Box<str>,
    },
}

impl Denial {
    /// The ModelValidation this denial did not find, for a live lookup.
    pub fn cache_miss(&self) -> Option<CacheMiss> {
        match self {
            Self::Policy(
                Unselectable::NoModelValidation { namespace }
                | Unselectable::Required { namespace, .. },
            ) => Some(CacheMiss {
                namespace: namespace.clone(),
                name: None,
            }),
            Self::Policy(Unselectable::NotFound { namespace, name }) => Some(CacheMiss {
                namespace: namespace.clone(),
                name: Some(name.clone()),
            }),
            _ => None,
        }
    }
}

/// The answer when deciding on `body` panicked (a bug): a pod CREATE is denied with code 500
/// and the reason; any other operation is allowed, so a bug never blocks updates or deletions.
pub fn after_panic(body: &[u8], message: &str) -> Decision {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |p: &str| value.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let uid = text("/request/uid").unwrap_or_default();
    let namespace = text("/request/namespace");
    let create = text("/request/operation").as_deref() == Some("CREATE");
    let mut response = AdmissionResponse::invalid("");
    response.uid = uid;
    let outcome = if create {
        let reason = Denial::Panicked {
            detail: message.into(),
        };
        response.result.code = 500;
        response.result.message = reason.to_string();
        response.result.reason = "InternalError".to_owned();
        Outcome::Denied { reason }
    } else {
        response.allowed = true;
        response.result = Default::default();
        Outcome::Skipped {
            reason: "internal error (not a create: allowed)",
        }
    };
    Decision {
        response,
        outcome,
        namespace,
        pod: None,
        cache_miss: None,
    }
}

/// What happened to one admission request (for the log line and the metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The verifier was injected.
    Injected {
        /// The ModelValidation used.
        model_validation: String,
    },
    /// Allowed without the verifier: its model images (by digest, mounted the same way) were
    /// verified under this generation of the ModelValidation before ([`crate::digest`]).
    VerifiedByDigest {
        /// The ModelValidation used.
        model_validation: String,
        /// The image digests.
        digests: Vec<String>,
    },
    /// Allowed without a patch.
    Skipped {
        /// Why no patch was needed.
        reason: &'static str,
    },
    /// Denied (the pod is not created).
    Denied {
        /// Why; its message is sent to the user.
        reason: Denial,
    },
    /// The request could not be read (400).
    Invalid {
        /// What was wrong.
        message: String,
    },
}

impl Outcome {
    /// Short label for metrics: `injected`, `verified-by-digest`, `skipped`, `denied`,
    /// `invalid`.
    pub fn result_label(&self) -> &'static str {
        match self {
            Self::Injected { .. } => "injected",
            Self::VerifiedByDigest { .. } => "verified-by-digest",
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
    /// Set when the pod was denied because the cache has no matching ModelValidation: the
    /// caller may look it up live and decide again (the cache can lag a fresh object).
    pub cache_miss: Option<CacheMiss>,
}

/// The ModelValidation a denial did not find in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMiss {
    /// The pod's namespace.
    pub namespace: String,
    /// The name the label asked for; `None` for `"true"` (any ModelValidation of the namespace).
    pub name: Option<String>,
}

impl Decision {
    /// The AdmissionReview to answer with.
    pub fn review(&self) -> AdmissionReview<DynamicObject> {
        self.response.clone().into_review()
    }
}

fn invalid(uid: Option<&str>, message: String, namespace: Option<String>) -> Decision {
    let mut response = AdmissionResponse::invalid(&message);
    response.result.code = 400;
    if let Some(uid) = uid {
        response.uid = uid.to_owned();
    }
    Decision {
        response,
        outcome: Outcome::Invalid { message },
        namespace,
        pod: None,
        cache_miss: None,
    }
}

/// Which webhook entry of the configuration sent the request (each has its own path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// `/mutate-v1-pod`: pods with the label, in namespaces that are not required.
    Labelled,
    /// `/mutate-v1-pod-required`: every pod of the namespaces labelled
    /// `validation.ml.sigstore.dev/enforce: "true"` (the API server checked the label).
    RequiredNamespace,
}

/// Decides on one AdmissionReview body from the labelled entry ([`admit_from`]).
pub fn admit(body: &[u8], lookup: &dyn ModelValidationLookup, config: &InjectConfig) -> Decision {
    admit_from(Entry::Labelled, body, lookup, config)
}

/// Decides on one AdmissionReview body (the bytes the API server POSTs to `entry`).
pub fn admit_from(
    entry: Entry,
    body: &[u8],
    lookup: &dyn ModelValidationLookup,
    config: &InjectConfig,
) -> Decision {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return invalid(None, format!("request body is not JSON: {e}"), None),
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
                None,
            );
        }
    };
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(r) => r,
        Err(_) => {
            return invalid(
                uid.as_deref(),
                "AdmissionReview has no request".to_owned(),
                None,
            );
        }
    };
    mutate(entry, &request, lookup, config)
}

/// A pod CREATE to decide on.
struct PodCreate<'r> {
    request: &'r AdmissionRequest<DynamicObject>,
    candidate: Candidate,
    name: Option<String>,
}

/// The pod the rules decide on: from a pod CREATE, or a workload's pod template
/// ([`crate::workload`]).
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// The webhook entry that sent it.
    pub(crate) entry: Entry,
    /// The pod (a template's metadata and spec for a workload).
    pub(crate) pod: Pod,
    /// Its spec (empty if it had none).
    pub(crate) spec: PodSpec,
    /// Its namespace.
    pub(crate) namespace: String,
}

/// What the rules decided for a pod CREATE, short of a denial.
pub(crate) enum Verdict {
    /// Allowed untouched (with admission warnings, if any).
    Allow {
        reason: &'static str,
        warnings: Vec<String>,
    },
    /// Allowed with this patch.
    Patch {
        patch: Patch,
        outcome: Outcome,
        warnings: Vec<String>,
    },
}

impl PodCreate<'_> {
    fn decision(&self, outcome: Outcome, response: AdmissionResponse) -> Decision {
        let cache_miss = match &outcome {
            Outcome::Denied { reason } => reason.cache_miss(),
            _ => None,
        };
        Decision {
            response,
            outcome,
            namespace: Some(self.candidate.namespace.clone()),
            pod: self.name.clone(),
            cache_miss,
        }
    }

    fn deny(&self, reason: Denial) -> Decision {
        let mut response = AdmissionResponse::from(self.request).deny(reason.to_string());
        response.result.code = 403;
        response.result.reason = "Forbidden".to_owned();
        self.decision(Outcome::Denied { reason }, response)
    }

    fn answer(&self, verdict: Verdict) -> Decision {
        let (mut response, outcome, warnings) = match verdict {
            Verdict::Allow { reason, warnings } => (
                AdmissionResponse::from(self.request),
                Outcome::Skipped { reason },
                warnings,
            ),
            Verdict::Patch {
                patch,
                outcome,
                warnings,
            } => match AdmissionResponse::from(self.request).with_patch(patch) {
                Ok(r) => (r, outcome, warnings),
                Err(e) => {
                    return self.deny(Denial::EncodePatch {
                        detail: e.to_string().into(),
                    });
                }
            },
        };
        if !warnings.is_empty() {
            response.warnings = Some(warnings);
        }
        self.decision(outcome, response)
    }
}

/// Decides on one admission request.
pub fn mutate(
    entry: Entry,
    request: &AdmissionRequest<DynamicObject>,
    lookup: &dyn ModelValidationLookup,
    config: &InjectConfig,
) -> Decision {
    let create = match read_pod_create(entry, request) {
        Ok(c) => c,
        Err(decision) => return *decision,
    };
    match decide(&create.candidate, lookup, config) {
        Ok(verdict) => create.answer(verdict),
        Err(denial) => create.deny(denial),
    }
}

/// Rule 1 and the reading of the pod: anything but a pod CREATE is allowed untouched here.
fn read_pod_create(
    entry: Entry,
    request: &AdmissionRequest<DynamicObject>,
) -> Result<PodCreate<'_>, Box<Decision>> {
    let namespace = request.namespace.clone();
    let request_name = (!request.name.is_empty()).then(|| request.name.clone());
    let allow = |reason: &'static str| {
        Box::new(Decision {
            response: AdmissionResponse::from(request),
            outcome: Outcome::Skipped { reason },
            namespace: namespace.clone(),
            pod: request_name.clone(),
            cache_miss: None,
        })
    };
    let bad = |message: String| Box::new(invalid(Some(&request.uid), message, namespace.clone()));
    // (1) Only pod CREATE; everything else passes untouched, so nothing can wedge a pod.
    if !request.kind.group.is_empty() || request.kind.kind != "Pod" {
        return Err(allow("not a pod"));
    }
    if request.operation != Operation::Create {
        return Err(allow("not a create"));
    }
    if request.sub_resource.is_some() {
        return Err(allow("subresource"));
    }
    let Some(object) = &request.object else {
        return Err(bad("pod CREATE without an object".to_owned()));
    };
    let pod: Pod = serde_json::to_value(object)
        .and_then(serde_json::from_value)
        .map_err(|e| bad(format!("object is not a valid Pod: {e}")))?;
    let name = pod
        .metadata
        .name
        .clone()
        .or_else(|| pod.metadata.generate_name.clone())
        .or(request_name);
    let Some(namespace) = namespace.or_else(|| pod.metadata.namespace.clone()) else {
        return Err(Box::new(invalid(
            Some(&request.uid),
            "pod CREATE without a namespace".to_owned(),
            None,
        )));
    };
    let spec = pod.spec.clone().unwrap_or_default();
    Ok(PodCreate {
        request,
        candidate: Candidate {
            entry,
            pod,
            spec,
            namespace,
        },
        name,
    })
}

/// Rules 2 to 6 for a pod CREATE.
pub(crate) fn decide(
    create: &Candidate,
    lookup: &dyn ModelValidationLookup,
    config: &InjectConfig,
) -> Result<Verdict, Denial> {
    let allow = |reason| {
        Ok(Verdict::Allow {
            reason,
            warnings: Vec::new(),
        })
    };
    let (pod, spec, namespace) = (&create.pod, &create.spec, &create.namespace);
    // (2) opted-out namespace
    if lookup.namespace_ignored(namespace) {
        return allow("namespace ignored");
    }
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let required = policy::required(
        namespace,
        create.entry == Entry::RequiredNamespace || lookup.namespace_required(namespace),
        config.operator_namespace.as_deref(),
    );
    // (3) neither the label nor a required namespace: only a podSelector can cover the pod
    // (in a cluster such pods reach the webhook only from required namespaces)
    if !labels.contains_key(mv_shared::POD_LABEL)
        && !required
        && (!lookup.ready()
            || !lookup
                .in_namespace(namespace)
                .iter()
                .any(|m| policy::selects(m, &labels)))
    {
        return allow("no label");
    }
    // Mirror pods reflect a static pod on a node; changing them makes the kubelet fight back.
    if pod.annotations().contains_key(MIRROR_POD_ANNOTATION) {
        return allow("mirror pod");
    }
    // (4) the reserved container name: only this webhook puts a container of that name in a pod
    if crate::reserved::named_outside_init_containers(spec) {
        return Err(Denial::ReservedName);
    }
    if labels
        .get(mv_shared::POD_LABEL)
        .is_some_and(String::is_empty)
    {
        return Err(Unselectable::EmptyLabel {
            namespace: namespace.clone(),
        }
        .into());
    }
    if !lookup.ready() {
        return Err(Denial::NotSynced);
    }
    // (5) which ModelValidation (README "Policy")
    let candidates = lookup.in_namespace(namespace);
    let Some(selected) = policy::select(&labels, namespace, &candidates, required)? else {
        return allow("no label");
    };
    let mv = selected.model_validation;
    let pre_injected = spec
        .init_containers
        .iter()
        .flatten()
        .position(|c| c.name == INIT_CONTAINER_NAME);
    // A Windows pod cannot run the (Linux) verifier image.
    if is_windows(spec) {
        let denial = Denial::Windows {
            namespace: namespace.clone(),
            name: mv.name_any(),
        };
        if mv.spec.mode == Mode::Enforce || pre_injected.is_some() {
            return Err(denial);
        }
        return Ok(Verdict::Allow {
            reason: "windows pod (Warn mode)",
            warnings: vec![denial.to_string()],
        });
    }
    // a pod chosen by podSelector gets the label naming its ModelValidation
    let stamp = (selected.via == policy::Via::PodSelector)
        .then(|| label_op(pod.metadata.labels.as_ref(), &mv.name_any()));
    inject(create, &mv, pre_injected, stamp, config)
}

/// Rule 6 (and rule 4 for re-invocation): the patch that injects the verifier for `mv`, or
/// accepts exactly the verifier this webhook injected before.
fn inject(
    create: &Candidate,
    mv: &ModelValidation,
    pre_injected: Option<usize>,
    stamp: Option<json_patch::PatchOperation>,
    config: &InjectConfig,
) -> Result<Verdict, Denial> {
    let (spec, namespace) = (&create.spec, &create.namespace);
    let mv_name = mv.name_any();
    let method = mv
        .spec
        .check()
        .map_err(|source| InjectError::Unusable {
            namespace: namespace.clone(),
            name: mv_name.clone(),
            source,
        })?
        .name();
    let mut spec_without = spec.clone();
    if let (Some(i), Some(inits)) = (pre_injected, spec_without.init_containers.as_mut()) {
        inits.remove(i);
    }
    let generation = mv.metadata.generation.unwrap_or_default().to_string();
    let mut notes = vec![
        (annotations::MODEL_VALIDATION, mv_name.clone()),
        (annotations::GENERATION, generation),
        (annotations::METHOD, method.to_owned()),
    ];
    // The same content, mounted the same way, verified under this generation: no re-hash.
    if pre_injected.is_none()
        && let Some(layout) = digest::image_layout(mv, &spec_without)
        && digest::record(mv, &layout).is_some()
    {
        notes.push((digest::VERIFIED_BY_DIGEST_ANNOTATION, layout.key));
        let mut ops = annotation_ops(create.pod.metadata.annotations.as_ref(), &notes);
        ops.extend(stamp);
        return Ok(Verdict::Patch {
            patch: Patch(ops),
            outcome: Outcome::VerifiedByDigest {
                model_validation: mv_name,
                digests: layout.digests,
            },
            warnings: Vec::new(),
        });
    }
    let Injection {
        container,
        warnings,
    } = injection(mv, &spec_without, config)?;
    // re-invocation: exactly the container this webhook injects, or the pod is denied
    let existing = pre_injected.and_then(|i| spec.init_containers.as_ref()?.get(i));
    if let Some(existing) = existing {
        let fields = container_differences(existing, &container);
        if !fields.is_empty() {
            return Err(Denial::ForgedVerifier {
                namespace: namespace.clone(),
                name: mv_name,
                fields,
            });
        }
    }
    let mut ops = container_ops(spec, pre_injected, existing.unwrap_or(&container))?;
    ops.extend(annotation_ops(
        create.pod.metadata.annotations.as_ref(),
        &notes,
    ));
    ops.extend(stamp);
    let outcome = match (pre_injected, ops.is_empty()) {
        (None, _) => Outcome::Injected {
            model_validation: mv_name,
        },
        (Some(_), true) => {
            return Ok(Verdict::Allow {
                reason: "already injected",
                warnings,
            });
        }
        (Some(_), false) => Outcome::Skipped {
            reason: "already injected (annotations or position corrected)",
        },
    };
    Ok(Verdict::Patch {
        patch: Patch(ops),
        outcome,
        warnings,
    })
}

fn is_windows(spec: &PodSpec) -> bool {
    spec.os
        .as_ref()
        .is_some_and(|os| os.name.eq_ignore_ascii_case("windows"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::StaticLookup;
    use crate::crd::ModelValidationSpec;
    use crate::fingerprint::SERVICE_ACCOUNT_MOUNT;
    use crate::inject::*;
    use k8s_openapi::api::core::v1::VolumeMount;
    use mv_shared::POD_LABEL;
    use mv_shared::TERMINATION_LOG;
    use serde_json::json;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

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
            required_namespaces: vec![],
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
            required_namespaces: vec![],
        };
        assert_untouched(&run(&r, &l), "namespace ignored");
        let mut r = review();
        r["request"]["object"]["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove(POD_LABEL);
        assert_untouched(&run(&r, &lookup(vec![])), "no label");
        // not the webhook's pod at all: its containers are not looked at either
        r["request"]["object"]["spec"]["containers"][0]["name"] = json!(INIT_CONTAINER_NAME);
        assert_untouched(&run(&r, &lookup(vec![key_mv("only")])), "no label");
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
    fn re_invocation_is_idempotent_and_needs_the_model_validation() {
        let r = review();
        let d = run(&r, &lookup(vec![key_mv("only")]));
        let mut again = review();
        again["request"]["object"] = patched(&r, &d);
        assert_untouched(
            &run(&again, &lookup(vec![key_mv("only")])),
            "already injected",
        );
        // The ModelValidation meanwhile deleted: the container cannot be confirmed as the one
        // this webhook injects, so it is denied like any labelled pod naming a missing one.
        let d = run(&again, &lookup(vec![]));
        assert_denied(&d, &["has no ModelValidation"]);
        assert_eq!(
            d.cache_miss,
            Some(CacheMiss {
                namespace: "models".into(),
                name: None
            })
        );
    }

    #[test]
    fn a_verifier_that_is_not_the_last_init_container_is_moved_back_to_the_end() {
        let r = review();
        let d = run(&r, &lookup(vec![key_mv("only")]));
        let mut pod = patched(&r, &d);
        // another webhook appended an init container after it
        pod["spec"]["initContainers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "late", "image": "busybox"}));
        let mut again = review();
        again["request"]["object"] = pod;
        let d = run(&again, &lookup(vec![key_mv("only")]));
        assert!(d.response.allowed);
        let pod = patched(&again, &d);
        let names: Vec<&str> = pod["spec"]["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["late", INIT_CONTAINER_NAME]);
    }

    /// Simulates the API server defaulting the injected container between invocations.
    fn defaulted(mut pod: Value) -> Value {
        for c in pod["spec"]["initContainers"].as_array_mut().unwrap() {
            c["imagePullPolicy"] = json!("IfNotPresent");
            c["resources"]["requests"] = c["resources"]["limits"].clone();
            c["securityContext"]["procMount"] = json!("Default");
            // the ServiceAccount admission plugin, run again after the webhooks
            c["volumeMounts"].as_array_mut().unwrap().push(json!({
                "name": "kube-api-access-x7k2p", "readOnly": true,
                "mountPath": SERVICE_ACCOUNT_MOUNT}));
        }
        pod
    }

    #[test]
    fn re_invocation_with_the_genuine_container_passes_even_after_api_defaulting() {
        let r = review();
        let d = run(&r, &lookup(vec![key_mv("only")]));
        let mut again = review();
        again["request"]["object"] = defaulted(patched(&r, &d));
        assert_untouched(
            &run(&again, &lookup(vec![key_mv("only")])),
            "already injected",
        );
    }

    #[test]
    fn a_forged_model_validation_container_is_denied_in_every_mode() {
        // Fails on the code before issue 16: any init container of that name was "already injected".
        let genuine = {
            let r = review();
            let d = run(&r, &lookup(vec![key_mv("only")]));
            injected(&patched(&r, &d)).clone()
        };
        let forge = |f: &dyn Fn(&mut Value)| {
            let mut c = genuine.clone();
            f(&mut c);
            c
        };
        let forged: Vec<(&str, Value)> = vec![
            (
                "own image",
                json!({"name": INIT_CONTAINER_NAME, "image": "busybox",
                "command": ["sh", "-c", "echo '{\"outcome\":\"verified\"}' > /dev/termination-log"]}),
            ),
            (
                "other args",
                forge(&|c| c["args"][2] = json!("/data/other-model")),
            ),
            (
                "other command",
                forge(&|c| c["command"] = json!(["/bin/true"])),
            ),
            (
                "extra mount",
                forge(&|c| {
                    c["volumeMounts"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"name": "cache", "mountPath": "/var/cache/inference"}))
                }),
            ),
            (
                "writable token mount",
                forge(&|c| {
                    c["volumeMounts"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"name": "model", "mountPath": SERVICE_ACCOUNT_MOUNT}))
                }),
            ),
            (
                "writable mount",
                forge(&|c| c["volumeMounts"][0]["readOnly"] = json!(false)),
            ),
            (
                "env",
                forge(&|c| c["env"] = json!([{"name": "LD_PRELOAD", "value": "/data/x.so"}])),
            ),
            (
                "termination path",
                forge(&|c| c["terminationMessagePath"] = json!("/data/ok")),
            ),
            (
                "security context",
                forge(&|c| c["securityContext"]["runAsNonRoot"] = json!(false)),
            ),
        ];
        for mode in ["Enforce", "Warn"] {
            let m = mv(
                "only",
                "models",
                json!({"model": {"path": "/data/model"}, "mode": mode,
                "config": {"publicKeyConfig": {"keyPath": "/etc/model-keys/key.pub"}}}),
            );
            for (what, container) in &forged {
                let mut r = review();
                r["request"]["object"]["spec"]["initContainers"] = json!([container]);
                let d = run(&r, &lookup(vec![m.clone()]));
                assert!(!d.response.allowed, "{mode} {what}: {d:?}");
                assert!(
                    d.response
                        .result
                        .message
                        .contains("not the one this webhook injects"),
                    "{mode} {what}: {}",
                    d.response.result.message
                );
                // also without the ModelValidation (the check does not depend on a lookup hit)
                let d = run(&r, &lookup(vec![]));
                assert!(!d.response.allowed, "{mode} {what} (no ModelValidation)");
            }
            // as an app container or where no ModelValidation is known: denied too
            let mut r = review();
            r["request"]["object"]["spec"]["containers"]
                .as_array_mut()
                .unwrap()
                .push(genuine.clone());
            let d = run(&r, &lookup(vec![m.clone()]));
            assert!(!d.response.allowed, "{mode} app container: {d:?}");
        }
    }

    fn continuous_mv(mode: &str, interval: &str) -> Arc<ModelValidation> {
        mv(
            "only",
            "models",
            json!({"model": {"path": "/data/model"}, "mode": mode,
            "config": {"publicKeyConfig": {"keyPath": "/etc/model-keys/key.pub"}},
            "continuousValidation": {"enabled": true, "interval": interval}}),
        )
    }

    #[test]
    fn continuous_validation_injects_the_verifier_as_a_native_sidecar() {
        // (mode, interval, agent interval, startup and readiness probes, --warn-only)
        let cases = [
            ("Enforce", "1h30m", "--interval=5400s", true, false),
            ("Enforce", "1.5h", "--interval=5400s", true, false),
            ("Warn", "5m", "--interval=300s", false, true),
        ];
        for (mode, interval, flag, probes, warn_only) in cases {
            let m = continuous_mv(mode, interval);
            let r = review();
            let d = run(&r, &lookup(vec![m.clone()]));
            assert!(matches!(d.outcome, Outcome::Injected { .. }), "{d:?}");
            let pod = patched(&r, &d);
            let c = injected(&pod);
            assert_eq!(c["restartPolicy"], "Always", "{mode}");
            assert_eq!(c["image"], "registry.example.com/model-verifier:0.1.0");
            let args: Vec<&str> = c["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert_eq!(
                args[..5],
                ["watch", flag, "--health-port=8718", "verify", "key"],
                "{mode} {interval}"
            );
            assert!(args.ends_with(&["--output", "json"]), "{args:?}");
            assert_eq!(args.contains(&"--warn-only"), warn_only, "{mode}");
            assert!(args.contains(&"--termination-log"));
            // same restrictions as the one-shot verifier
            assert_eq!(
                c["securityContext"],
                serde_json::to_value(restricted_security_context()).unwrap()
            );
            for mount in c["volumeMounts"].as_array().unwrap() {
                assert_eq!(mount["readOnly"], true, "{mount}");
            }
            assert_eq!(c["resources"]["requests"]["cpu"], "10m");
            assert_eq!(
                c["startupProbe"]["httpGet"]["path"],
                if probes { json!("/ready") } else { Value::Null }
            );
            assert_eq!(
                c["readinessProbe"]["httpGet"]["path"],
                if probes { json!("/ready") } else { Value::Null }
            );
            assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
            assert_eq!(c["livenessProbe"]["httpGet"]["port"], 8718);
            // re-invocation after the API server's defaulting: still the genuine container
            let mut again = review();
            again["request"]["object"] = defaulted(pod.clone());
            assert_untouched(&run(&again, &lookup(vec![m.clone()])), "already injected");
        }
    }

    #[test]
    fn a_container_declaring_the_sidecars_port_is_denied_in_enforce_and_warned_in_warn() {
        let mut r = review();
        r["request"]["object"]["spec"]["containers"][0]["ports"] =
            json!([{"containerPort": 8718, "protocol": "TCP"}]);
        let d = run(&r, &lookup(vec![continuous_mv("Enforce", "5m")]));
        assert_denied(&d, &["port 8718", "\"server\""]);
        let d = run(&r, &lookup(vec![continuous_mv("Warn", "5m")]));
        assert!(matches!(d.outcome, Outcome::Injected { .. }), "{d:?}");
        let warnings = d.response.warnings.unwrap_or_default();
        assert!(
            warnings.iter().any(|w| w.contains("port 8718")),
            "{warnings:?}"
        );
        // without continuous validation the port is the app's business
        let d = run(&r, &lookup(vec![key_mv("only")]));
        assert!(matches!(d.outcome, Outcome::Injected { .. }), "{d:?}");
        // another port: fine
        r["request"]["object"]["spec"]["containers"][0]["ports"] = json!([{"containerPort": 8080}]);
        let d = run(&r, &lookup(vec![continuous_mv("Enforce", "5m")]));
        assert!(matches!(d.outcome, Outcome::Injected { .. }), "{d:?}");
    }

    #[test]
    fn a_forged_or_one_shot_container_is_denied_where_the_sidecar_belongs() {
        let m = continuous_mv("Enforce", "5m");
        let sidecar = {
            let r = review();
            let d = run(&r, &lookup(vec![m.clone()]));
            injected(&patched(&r, &d)).clone()
        };
        let one_shot = {
            let r = review();
            let d = run(&r, &lookup(vec![key_mv("only")]));
            injected(&patched(&r, &d)).clone()
        };
        let forge = |f: &dyn Fn(&mut Value)| {
            let mut c = sidecar.clone();
            f(&mut c);
            c
        };
        let cases: Vec<(&str, Arc<ModelValidation>, Value, &str)> = vec![
            (
                "one-shot for a continuous spec",
                m.clone(),
                one_shot.clone(),
                "restartPolicy",
            ),
            (
                "sidecar for a one-shot spec",
                key_mv("only"),
                sidecar.clone(),
                "restartPolicy",
            ),
            (
                "no startup probe",
                m.clone(),
                forge(&|c| {
                    c.as_object_mut().unwrap().remove("startupProbe");
                }),
                "startupProbe",
            ),
            (
                "readiness on another port",
                m.clone(),
                forge(&|c| c["readinessProbe"]["httpGet"]["port"] = json!(9999)),
                "readinessProbe",
            ),
            (
                "longer interval",
                m.clone(),
                forge(&|c| c["args"][1] = json!("--interval=86400s")),
                "args",
            ),
            (
                "warn-only agent",
                m.clone(),
                forge(&|c| c["args"].as_array_mut().unwrap().push(json!("--warn-only"))),
                "args",
            ),
            (
                "not restarted",
                m.clone(),
                forge(&|c| {
                    c.as_object_mut().unwrap().remove("restartPolicy");
                }),
                "restartPolicy",
            ),
        ];
        for (what, m, container, field) in cases {
            let mut r = review();
            r["request"]["object"]["spec"]["initContainers"] = json!([container]);
            let d = run(&r, &lookup(vec![m]));
            assert_denied(&d, &["not the one this webhook injects", field]);
            assert!(!d.response.allowed, "{what}");
        }
    }

    #[test]
    fn project_annotations_set_by_the_pod_author_are_overwritten_or_removed() {
        let mut r = review();
        r["request"]["object"]["metadata"]["annotations"] = json!({
            annotations::MODEL_VALIDATION: "other",
            annotations::GENERATION: "99",
            annotations::METHOD: "sigstore",
            "validation.ml.sigstore.dev/verified": "true",
            "keep": "me"});
        let d = run(&r, &lookup(vec![key_mv("only")]));
        let pod = patched(&r, &d);
        assert_eq!(
            pod["metadata"]["annotations"],
            json!({annotations::MODEL_VALIDATION: "only", annotations::GENERATION: "3",
                   annotations::METHOD: "key", "keep": "me"})
        );
    }

    #[test]
    fn subpath_expr_mounts_carry_the_env_they_expand() {
        // Fails on the code before issue 16: the mount was copied without POD_NAME/MODEL_DIR.
        let mut r = review();
        let app = &mut r["request"]["object"]["spec"]["containers"][0];
        app["env"] = json!([
            {"name": "UNRELATED", "value": "x"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
            {"name": "MODEL_DIR", "value": "models/$(POD_NAME)"}]);
        app["volumeMounts"][0] =
            json!({"name": "model", "mountPath": "/data", "subPathExpr": "$(MODEL_DIR)"});
        let pod = patched(&r, &run(&r, &lookup(vec![key_mv("only")])));
        let c = injected(&pod);
        assert_eq!(c["volumeMounts"][0]["subPathExpr"], "$(MODEL_DIR)");
        let names: Vec<&str> = c["env"]
            .as_array()
            .expect("env copied")
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["POD_NAME", "MODEL_DIR"]);
        // a variable from envFrom cannot be copied one by one: denied with the reason
        let mut r = review();
        let app = &mut r["request"]["object"]["spec"]["containers"][0];
        app["envFrom"] = json!([{"configMapRef": {"name": "paths"}}]);
        app["volumeMounts"][0] =
            json!({"name": "model", "mountPath": "/data", "subPathExpr": "$(MODEL_DIR)"});
        assert_denied(
            &run(&r, &lookup(vec![key_mv("only")])),
            &["subPathExpr", "MODEL_DIR", "container server"],
        );
        // `$$` is an escaped dollar, not a variable
        assert_eq!(referenced_vars("a$$(X)b$(Y)c$(Z"), ["Y"]);
    }

    #[test]
    fn windows_pods_are_denied_in_enforce_and_admitted_unverified_in_warn() {
        let mut r = review();
        r["request"]["object"]["spec"]["os"] = json!({"name": "windows"});
        assert_denied(
            &run(&r, &lookup(vec![key_mv("only")])),
            &["windows", "Linux only"],
        );
        let m = mv(
            "only",
            "models",
            json!({"model": {"path": "/data/model"}, "mode": "Warn",
            "config": {"publicKeyConfig": {"keyPath": "/etc/model-keys/key.pub"}}}),
        );
        let d = run(&r, &lookup(vec![m]));
        assert_untouched(&d, "windows pod (Warn mode)");
        assert!(d.response.warnings.as_ref().unwrap()[0].contains("Linux only"));
    }

    #[test]
    fn a_pod_running_as_root_gets_a_verifier_running_as_non_root() {
        // Fails on the code before issue 16: runAsNonRoot with the pod's runAsUser 0 never starts.
        let mut r = review();
        r["request"]["object"]["spec"]["securityContext"] = json!({"runAsUser": 0});
        let pod = patched(&r, &run(&r, &lookup(vec![key_mv("only")])));
        let sc = &injected(&pod)["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true);
        assert_eq!(sc["runAsUser"], NON_ROOT_UID);
        // any other pod user is inherited
        let mut r = review();
        r["request"]["object"]["spec"]["securityContext"] = json!({"runAsUser": 1000});
        let pod = patched(&r, &run(&r, &lookup(vec![key_mv("only")])));
        assert!(injected(&pod)["securityContext"].get("runAsUser").is_none());
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
    fn required_namespaces_and_pod_selectors() {
        let selecting = mv(
            "selecting",
            "models",
            json!({"model": {"path": "/data/model"}, "podSelector": {"matchLabels": {"app": "inference"}},
                   "config": {"publicKeyConfig": {"keyPath": "/etc/model-keys/key.pub"}}}),
        );
        #[derive(Debug)]
        enum Want {
            Injected(&'static str),
            Untouched(&'static str),
            Denied(&'static str),
        }
        type Case = (
            &'static str,
            Entry,
            Option<&'static str>,
            &'static str,
            Vec<&'static str>,
            Vec<Arc<ModelValidation>>,
            Want,
        );
        let cases: Vec<Case> = vec![
            (
                "required entry, nothing covers",
                Entry::RequiredNamespace,
                None,
                "models",
                vec![],
                vec![key_mv("other")],
                Want::Denied("namespace models requires model verification"),
            ),
            (
                "required by the cache's label",
                Entry::Labelled,
                None,
                "models",
                vec!["models"],
                vec![key_mv("other")],
                Want::Denied("no ModelValidation covers this pod"),
            ),
            (
                "required entry, label covers",
                Entry::RequiredNamespace,
                Some("other"),
                "models",
                vec![],
                vec![key_mv("other")],
                Want::Injected("other"),
            ),
            (
                "required entry, selector covers",
                Entry::RequiredNamespace,
                None,
                "models",
                vec![],
                vec![key_mv("other"), selecting.clone()],
                Want::Injected("selecting"),
            ),
            (
                "selector covers in any namespace the pod reaches",
                Entry::Labelled,
                None,
                "models",
                vec![],
                vec![selecting.clone()],
                Want::Injected("selecting"),
            ),
            (
                "label against the selector",
                Entry::Labelled,
                Some("other"),
                "models",
                vec![],
                vec![key_mv("other"), selecting.clone()],
                Want::Denied("selects it by spec.podSelector"),
            ),
            (
                "not required, nothing covers",
                Entry::Labelled,
                None,
                "models",
                vec![],
                vec![key_mv("other")],
                Want::Untouched("no label"),
            ),
            (
                "kube-system is never required",
                Entry::RequiredNamespace,
                None,
                "kube-system",
                vec!["kube-system"],
                vec![],
                Want::Untouched("no label"),
            ),
            (
                "the operator's namespace is never required",
                Entry::RequiredNamespace,
                None,
                "mv-system",
                vec!["mv-system"],
                vec![],
                Want::Untouched("no label"),
            ),
        ];
        for (what, entry, label, ns, required, mvs, want) in cases {
            let mut r = review();
            let labels = r["request"]["object"]["metadata"]["labels"]
                .as_object_mut()
                .unwrap();
            labels.remove(POD_LABEL);
            if let Some(l) = label {
                labels.insert(POD_LABEL.to_owned(), json!(l));
            }
            r["request"]["namespace"] = json!(ns);
            r["request"]["object"]["metadata"]["namespace"] = json!(ns);
            let mvs = mvs
                .into_iter()
                .map(|m| {
                    let mut m = (*m).clone();
                    m.metadata.namespace = Some(ns.to_owned());
                    Arc::new(m)
                })
                .collect();
            let l = StaticLookup {
                model_validations: mvs,
                ignored_namespaces: vec![],
                required_namespaces: required.into_iter().map(str::to_owned).collect(),
            };
            let config = InjectConfig {
                operator_namespace: Some("mv-system".to_owned()),
                ..config()
            };
            let d = admit_from(entry, &serde_json::to_vec(&r).unwrap(), &l, &config);
            match want {
                Want::Injected(name) => {
                    assert_eq!(
                        d.outcome,
                        Outcome::Injected {
                            model_validation: name.to_owned()
                        },
                        "{what}"
                    );
                    // the pod names its ModelValidation afterwards, however it was chosen
                    let pod = patched(&r, &d);
                    assert_eq!(pod["metadata"]["labels"][POD_LABEL], json!(name), "{what}");
                    assert_eq!(
                        pod["metadata"]["labels"]["app"],
                        json!("inference"),
                        "{what}"
                    );
                }
                Want::Untouched(reason) => assert_untouched(&d, reason),
                Want::Denied(text) => assert_denied(&d, &[text]),
            }
        }
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
    /// The fixture pod with its model and key volumes as images pinned by digest (or a tag).
    fn image_volume_review(model_ref: &str) -> Value {
        let mut r = review();
        let keys = "registry.local/keys@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        r["request"]["object"]["spec"]["volumes"][0] =
            json!({"name": "model", "image": {"reference": model_ref}});
        r["request"]["object"]["spec"]["volumes"][1] =
            json!({"name": "keys", "image": {"reference": keys}});
        r
    }

    #[test]
    fn content_verified_by_digest_under_this_generation_is_not_hashed_again() {
        let pinned = "registry.local/llm@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let unverified = key_mv("only");
        // before any record: injected as usual, and a pod-supplied claim is removed
        let mut claimed = image_volume_review(pinned);
        claimed["request"]["object"]["metadata"]["annotations"] =
            json!({crate::digest::VERIFIED_BY_DIGEST_ANNOTATION: "sha256:forged"});
        let d = run(&claimed, &lookup(vec![unverified.clone()]));
        assert!(matches!(d.outcome, Outcome::Injected { .. }), "{d:?}");
        let patch = serde_json::to_string(&d.response.patch).unwrap_or_default();
        let applied = patched(&claimed, &d);
        assert!(
            applied["metadata"]["annotations"]
                .get(crate::digest::VERIFIED_BY_DIGEST_ANNOTATION)
                .is_none(),
            "{patch}"
        );
        // a record of this layout for the current generation: admitted without the verifier
        let spec: k8s_openapi::api::core::v1::PodSpec = serde_json::from_value(
            image_volume_review(pinned)["request"]["object"]["spec"].clone(),
        )
        .unwrap();
        let layout = crate::digest::image_layout(&unverified, &spec).unwrap();
        let with_record = |generation: i64| {
            let mut m = (*unverified).clone();
            m.status = Some(crate::crd::ModelValidationStatus {
                verified_images: vec![crate::digest::new_record(
                    layout.clone(),
                    generation,
                    "first".into(),
                    None,
                )],
                ..Default::default()
            });
            Arc::new(m)
        };
        let r = image_volume_review(pinned);
        let d = run(&r, &lookup(vec![with_record(3)]));
        assert_eq!(
            d.outcome,
            Outcome::VerifiedByDigest {
                model_validation: "only".into(),
                digests: layout.digests.clone()
            }
        );
        let applied = patched(&r, &d);
        assert!(applied["spec"]["initContainers"].is_null(), "{applied}");
        assert_eq!(
            applied["metadata"]["annotations"][crate::digest::VERIFIED_BY_DIGEST_ANNOTATION],
            layout.key.as_str()
        );
        // a record of an earlier generation, or a tag reference: verified again
        let d = run(&r, &lookup(vec![with_record(2)]));
        assert!(matches!(d.outcome, Outcome::Injected { .. }), "{d:?}");
        let d = run(
            &image_volume_review("registry.local/llm:latest"),
            &lookup(vec![with_record(3)]),
        );
        assert!(matches!(d.outcome, Outcome::Injected { .. }), "{d:?}");
    }
}
