//! What a pod's verifier says, and whether it may be believed: [`assess`] checks the
//! `model-validation` container against the one the webhook injects for the generation the pod
//! names (recomputed, never taken from the pod), [`classify`] reads the result from the pod
//! status.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod, PodSpec};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use mv_shared::verify::{Outcome as ReportOutcome, TerminationReport};
use mv_shared::{INIT_CONTAINER_NAME, POD_LABEL, POD_LABEL_ANY, annotations};

use crate::crd::ModelValidation;
use crate::digest;
use crate::inject::{InjectConfig, injection};
use crate::podcache::CachedPod;

/// What the verifier of a pod reported, as far as the pod status tells.
#[derive(Debug, Clone, PartialEq)]
pub enum PodState {
    /// Labelled but admitted without the verifier.
    Uninjected,
    /// A `model-validation` container that is not the one the webhook injected for the
    /// ModelValidation generation the pod names: nothing it reports counts.
    Tampered {
        /// What does not match.
        reason: String,
    },
    /// Injected under a generation of the ModelValidation this controller has not seen (it
    /// started after the spec changed): its container cannot be checked, so its result is
    /// not counted as verified or failed.
    Unconfirmed {
        /// The generation the pod names.
        generation: i64,
    },
    /// Injected by the upstream operator before the switch (its annotations, none of this
    /// operator's): its container cannot be checked, so its result is not counted.
    Foreign,
    /// Admitted without the verifier because the same content, mounted the same way, was
    /// verified under the current generation ([`crate::digest`]); what the record says.
    VerifiedByDigest {
        /// The image digests.
        digests: Vec<String>,
        /// The pod whose verifier checked them.
        by_pod: String,
        /// When it finished.
        verified_at: Option<Timestamp>,
    },
    /// Injected, verifier not finished.
    Pending,
    /// Injected, the verifier succeeded.
    Verified {
        /// Its report, when it wrote one.
        report: Option<TerminationReport>,
        /// Identity of this run (for Events once per run).
        run: String,
        /// When it finished.
        finished: Option<Timestamp>,
    },
    /// Continuous validation: the sidecar runs (the kubelet's view); what it reports is read
    /// from its log ([`crate::drift::watched_state`]).
    Watching {
        /// Container id and restart count.
        run: String,
        /// The startup probe passed (the first verification succeeded, in Enforce mode).
        started: bool,
        /// The readiness probe passes.
        ready: bool,
        /// The container has the readiness probe (Enforce mode).
        gated: bool,
    },
    /// Continuous validation: the sidecar reports that the model no longer matches its
    /// signature.
    Drifted {
        /// Why, as the sidecar says.
        reason: String,
        /// The files concerned (`<file>: <what changed>` where the metadata changed).
        files: Vec<String>,
        /// How many files in all.
        file_count: usize,
        /// Warn mode: the pod stays Ready.
        warn_only: bool,
        /// Container id and restart count.
        run: String,
        /// When the sidecar saw it (seconds since the epoch).
        at: i64,
    },
    /// Continuous validation: after a drift, the model verifies again.
    Restored {
        /// Container id and restart count.
        run: String,
        /// When the sidecar saw it (seconds since the epoch).
        at: i64,
    },
    /// Injected, the verifier failed (in Warn mode the pod still started).
    Failed {
        /// Why, from the report or the exit code.
        reason: String,
        /// Whether the verifier ran with `--warn-only`.
        warn_only: bool,
        /// Identity of this run.
        run: String,
        /// When it finished.
        finished: Option<Timestamp>,
    },
}

/// The ModelValidation a pod asks for: the one its label names; for `"true"` the annotation
/// the webhook wrote, else `None` (the only ModelValidation of the namespace, decided by the
/// caller). Annotations are pod-writable: [`assess`] checks them against the container.
fn requested_name(pod: &Pod) -> Option<Option<String>> {
    let label = pod.labels().get(POD_LABEL)?;
    if label != POD_LABEL_ANY {
        return Some(Some(label.clone()));
    }
    Some(
        pod.annotations()
            .get(annotations::MODEL_VALIDATION)
            .cloned(),
    )
}

/// The state of a pod that belongs to `mv`: first whether its `model-validation` container is
/// exactly the one the webhook injects for the generation the pod names (recomputed from that
/// generation's spec with [`injection`], never taken from the pod), then what it reported.
/// `earlier` returns other generations of `mv` this controller saw.
pub fn assess(
    cached: &CachedPod,
    mv: &ModelValidation,
    earlier: &dyn Fn(i64) -> Option<Arc<ModelValidation>>,
    config: &InjectConfig,
) -> PodState {
    let pod = &cached.pod;
    let tampered = |reason: String| PodState::Tampered { reason };
    let Some(spec) = pod.spec.as_ref() else {
        return PodState::Uninjected;
    };
    if crate::reserved::named_outside_init_containers(spec) {
        return tampered(format!(
            "a regular or ephemeral container is named {INIT_CONTAINER_NAME:?}"
        ));
    }
    let inits = spec.init_containers.clone().unwrap_or_default();
    let (Some(position), Some(actual)) = (
        inits.iter().position(|c| c.name == INIT_CONTAINER_NAME),
        cached.verifier.as_ref(),
    ) else {
        return without_verifier(pod, spec, mv);
    };
    if position + 1 != inits.len() {
        return tampered(
            "it is not the last init container (later init containers could change the model it checked)".to_owned(),
        );
    }
    let name = mv.name_any();
    match pod.annotations().get(annotations::MODEL_VALIDATION) {
        Some(n) if *n == name => {}
        Some(n) => {
            return tampered(format!(
                "annotation {} names ModelValidation {n:?}, not {name:?}",
                annotations::MODEL_VALIDATION
            ));
        }
        None if crate::finalizer::upstream_injected(pod) => return PodState::Foreign,
        None => {
            return tampered(format!(
                "annotation {} is missing (the webhook writes it)",
                annotations::MODEL_VALIDATION
            ));
        }
    }
    let Some(generation) = pod
        .annotations()
        .get(annotations::GENERATION)
        .and_then(|g| g.parse::<i64>().ok())
    else {
        return tampered(format!(
            "annotation {} is missing or not a number (the webhook writes it)",
            annotations::GENERATION
        ));
    };
    let current = mv.metadata.generation.unwrap_or_default();
    let spec_then = if generation == current {
        Arc::new(mv.clone())
    } else if let Some(m) = earlier(generation) {
        m
    } else if generation > current {
        return tampered(format!(
            "annotation {} names generation {generation}, newer than the ModelValidation's {current}",
            annotations::GENERATION
        ));
    } else {
        return PodState::Unconfirmed { generation };
    };
    let mut without = spec.clone();
    if let Some(inits) = without.init_containers.as_mut() {
        inits.remove(position);
    }
    let expected = match injection(&spec_then, &without, config) {
        Ok(i) => i.container,
        Err(reason) => {
            return tampered(format!(
                "the webhook injects no container into this pod for generation {generation} ({reason})"
            ));
        }
    };
    let differs = actual.differences(&expected);
    if !differs.is_empty() {
        return tampered(format!(
            "it differs from the injected container for generation {generation} in {}",
            differs.join(", ")
        ));
    }
    classify(pod)
}

/// A pod without the verifier: verified by digest when the webhook admitted it so and the
/// layout it mounts (its spec is immutable) has a record for the current generation; admitted
/// by digest under an earlier generation: unconfirmed; else uninjected.
fn without_verifier(pod: &Pod, spec: &PodSpec, mv: &ModelValidation) -> PodState {
    if !pod
        .annotations()
        .contains_key(digest::VERIFIED_BY_DIGEST_ANNOTATION)
    {
        return PodState::Uninjected;
    }
    let layout = digest::image_layout(mv, spec);
    if let Some(r) = layout.as_ref().and_then(|l| digest::record(mv, l)) {
        return PodState::VerifiedByDigest {
            digests: r.digests.clone(),
            by_pod: r.pod.clone(),
            verified_at: r.verified_at.as_ref().map(|t| t.0),
        };
    }
    let current = mv.metadata.generation.unwrap_or_default();
    match pod
        .annotations()
        .get(annotations::GENERATION)
        .and_then(|g| g.parse::<i64>().ok())
    {
        Some(generation) if generation < current => PodState::Unconfirmed { generation },
        _ => PodState::Uninjected,
    }
}

/// Whether `pod` belongs to the ModelValidation `name` of a namespace holding `mvs_in_ns`.
pub fn belongs(pod: &Pod, name: &str, mvs_in_ns: usize) -> bool {
    match requested_name(pod) {
        Some(Some(n)) => n == name,
        Some(None) => mvs_in_ns == 1,
        None => false,
    }
}

/// The ModelValidations a pod event should reconcile (mapper of the pod watch).
pub fn model_validations_for_pod(
    pod: &Pod,
    store: &Store<ModelValidation>,
) -> Vec<ObjectRef<ModelValidation>> {
    let Some(ns) = pod.namespace() else {
        return Vec::new();
    };
    match requested_name(pod) {
        Some(Some(name)) => vec![ObjectRef::new(&name).within(&ns)],
        Some(None) => store
            .state()
            .iter()
            .filter(|m| m.namespace().as_deref() == Some(ns.as_str()))
            .map(|m| ObjectRef::from_obj(m.as_ref()))
            .collect(),
        None => Vec::new(),
    }
}

fn finished_at(t: &ContainerStateTerminated) -> Option<Timestamp> {
    t.finished_at.as_ref().map(|t| t.0)
}

/// Reads the state of the verifier from the pod status.
pub fn classify(pod: &Pod) -> PodState {
    if !crate::reserved::in_init_containers(pod.spec.as_ref()) {
        return PodState::Uninjected;
    }
    let status = pod
        .status
        .as_ref()
        .and_then(|s| s.init_container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == INIT_CONTAINER_NAME));
    let sidecar = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == INIT_CONTAINER_NAME))
        .filter(|c| crate::sidecar::is_sidecar(c));
    if let Some(c) = sidecar {
        return crate::drift::classify_sidecar(status, c.readiness_probe.is_some());
    }
    let Some(status) = status else {
        return PodState::Pending;
    };
    // The current run, or the last one while a failed init container waits to restart.
    let terminated = status
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .or_else(|| {
            status
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
        });
    let Some(t) = terminated else {
        return PodState::Pending;
    };
    let run = format!(
        "{}#{}",
        t.container_id.clone().unwrap_or_default(),
        status.restart_count
    );
    let report = t.message.as_deref().and_then(|m| {
        m.lines()
            .rev()
            .find_map(|l| serde_json::from_str::<TerminationReport>(l.trim()).ok())
    });
    let finished = finished_at(t);
    match report {
        Some(r) if r.outcome == ReportOutcome::Verified && t.exit_code == 0 => PodState::Verified {
            report: Some(r),
            run,
            finished,
        },
        Some(r) => PodState::Failed {
            reason: r
                .reason
                .clone()
                .unwrap_or_else(|| format!("verifier exited with code {}", t.exit_code)),
            warn_only: r.warn_only,
            run,
            finished,
        },
        None if t.exit_code == 0 => PodState::Verified {
            report: None,
            run,
            finished,
        },
        None => PodState::Failed {
            reason: match t.message.as_deref().map(str::trim) {
                Some(m) if !m.is_empty() => m.to_owned(),
                _ => format!(
                    "verifier exited with code {} ({})",
                    t.exit_code,
                    t.reason.as_deref().unwrap_or("no message")
                ),
            },
            warn_only: false,
            run,
            finished,
        },
    }
}
