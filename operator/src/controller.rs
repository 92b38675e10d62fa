//! The ModelValidation controller: status (`Ready` condition, pod counts), Events, metrics.
//!
//! It watches `ModelValidation`s and the pods that carry the label, and runs only on the
//! leader (see [`crate::lease`]). The decisions are pure functions
//! ([`classify`], [`desired_status`]) over cached objects; [`reconcile`] performs the writes:
//! the status subresource (only when it changed) and Events. It never writes pods.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource, ResourceExt};
use mv_shared::verify::{Outcome as ReportOutcome, TerminationReport};
use mv_shared::{INIT_CONTAINER_NAME, POD_LABEL, POD_LABEL_ANY, annotations};
use serde_json::json;

use crate::admission::ModelValidationLookup;
use crate::crd::{Mode, ModelValidation, ModelValidationStatus};
use crate::metrics::{Metrics, ReasonLabel};

/// Event reason: the injected verifier reported success.
pub const REASON_VERIFIED: &str = "ModelVerified";
/// Event reason: the injected verifier reported a failure.
pub const REASON_FAILED: &str = "ModelVerificationFailed";
/// Event reason: a labelled pod runs without the verifier.
pub const REASON_NOT_INJECTED: &str = "ModelValidationNotInjected";
/// The condition type.
pub const CONDITION_READY: &str = "Ready";
/// How often a ModelValidation is reconciled without any change.
pub const RESYNC: Duration = Duration::from_secs(300);

/// A reconcile failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The status subresource write failed.
    #[error("cannot write the status of ModelValidation {namespace}/{name}")]
    WriteStatus {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The object has no namespace (it is a namespaced kind).
    #[error("ModelValidation {name} has no namespace")]
    NoNamespace {
        /// Name.
        name: String,
    },
}

impl Error {
    /// CamelCase reason for metric labels and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::WriteStatus { .. } => "WriteStatusFailed",
            Self::NoNamespace { .. } => "NoNamespace",
        }
    }
}

/// What reconcile needs.
pub struct Context {
    /// API client.
    pub client: kube::Client,
    /// The controller's ModelValidation cache.
    pub model_validations: Store<ModelValidation>,
    /// Labelled pods.
    pub pods: Store<Pod>,
    /// Namespace opt-out (the webhook's caches).
    pub lookup: Arc<dyn ModelValidationLookup + Send + Sync>,
    /// Event writer.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Metrics,
    /// Results and warnings already reported, per pod uid.
    reported: Mutex<HashMap<String, HashSet<String>>>,
    /// Terminations finished before this moment were reported by an earlier leader.
    since: Timestamp,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl Context {
    /// `since`: results of verifiers that finished earlier are counted but not re-announced
    /// with Events (a new leader does not repeat its predecessor's Events).
    pub fn new(
        client: kube::Client,
        model_validations: Store<ModelValidation>,
        pods: Store<Pod>,
        lookup: Arc<dyn ModelValidationLookup + Send + Sync>,
        recorder: Recorder,
        metrics: Metrics,
        since: Timestamp,
    ) -> Self {
        Self {
            client,
            model_validations,
            pods,
            lookup,
            recorder,
            metrics,
            reported: Mutex::new(HashMap::new()),
            since,
        }
    }
}

/// What the verifier of a pod reported, as far as the pod status tells.
#[derive(Debug, Clone, PartialEq)]
pub enum PodState {
    /// Labelled but admitted without the verifier.
    Uninjected,
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

/// The ModelValidation a pod asks for: the annotation the webhook wrote, else its label.
/// `None` for `"true"` (the only ModelValidation of the namespace, decided by the caller).
fn requested_name(pod: &Pod) -> Option<Option<String>> {
    if let Some(name) = pod.annotations().get(annotations::MODEL_VALIDATION) {
        return Some(Some(name.clone()));
    }
    let label = pod.labels().get(POD_LABEL)?;
    if label == POD_LABEL_ANY {
        Some(None)
    } else {
        Some(Some(label.clone()))
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
    let injected = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.name == INIT_CONTAINER_NAME));
    if !injected {
        return PodState::Uninjected;
    }
    let status = pod
        .status
        .as_ref()
        .and_then(|s| s.init_container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == INIT_CONTAINER_NAME));
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

fn ready_condition(mv: &ModelValidation) -> (String, String, String) {
    match mv.spec.check() {
        Ok(method) => (
            "True".to_owned(),
            "Valid".to_owned(),
            format!(
                "pods verify {} with method {} ({:?} mode)",
                mv.spec.model.path,
                method.name(),
                mv.spec.mode
            ),
        ),
        Err(e) => ("False".to_owned(), e.reason().to_owned(), e.to_string()),
    }
}

/// The status the ModelValidation should have, given its pods' states. The Ready condition
/// keeps its `lastTransitionTime` unless its status changes.
pub fn desired_status(
    mv: &ModelValidation,
    states: &[PodState],
    now: Timestamp,
) -> ModelValidationStatus {
    let generation = mv.metadata.generation;
    let (status, reason, message) = ready_condition(mv);
    let old = mv.status.as_ref();
    let previous = old.and_then(|s| s.conditions.iter().find(|c| c.type_ == CONDITION_READY));
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Time(now),
    };
    let mut conditions: Vec<Condition> = old
        .map(|s| {
            s.conditions
                .iter()
                .filter(|c| c.type_ != CONDITION_READY)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    conditions.insert(
        0,
        Condition {
            type_: CONDITION_READY.to_owned(),
            status,
            reason,
            message,
            observed_generation: generation,
            last_transition_time,
        },
    );
    let count = |f: fn(&PodState) -> bool| {
        i32::try_from(states.iter().filter(|s| f(s)).count()).unwrap_or(i32::MAX)
    };
    ModelValidationStatus {
        observed_generation: generation,
        conditions,
        auth_method: mv.spec.check().ok().map(|m| m.name().to_owned()),
        injected_pods: count(|s| !matches!(s, PodState::Uninjected)),
        verified_pods: count(|s| matches!(s, PodState::Verified { .. })),
        failed_pods: count(|s| matches!(s, PodState::Failed { .. })),
        uninjected_pods: count(|s| matches!(s, PodState::Uninjected)),
    }
}

/// An Event to publish, on the pod and on the ModelValidation.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    /// Normal or Warning.
    pub warning: bool,
    /// One of the `REASON_*` constants.
    pub reason: &'static str,
    /// The message.
    pub note: String,
    /// For metrics: `verified` / `failed`, or `None` for the not-injected warning.
    pub outcome: Option<&'static str>,
    /// Dedup key within the pod.
    key: String,
}

/// The Events a pod's state calls for (before dedup).
pub fn announcement(mv: &ModelValidation, pod: &Pod, state: &PodState) -> Option<Announcement> {
    let pod_name = pod.name_any();
    let mv_name = mv.name_any();
    let model = &mv.spec.model.path;
    match state {
        PodState::Pending => None,
        PodState::Uninjected => Some(Announcement {
            warning: true,
            reason: REASON_NOT_INJECTED,
            note: format!(
                "pod {pod_name} is labelled for ModelValidation {mv_name} but was admitted without the {INIT_CONTAINER_NAME} init container (webhook unavailable, or label added after creation): its model is not verified"
            ),
            outcome: None,
            key: "uninjected".to_owned(),
        }),
        PodState::Verified { report, run, .. } => {
            let detail = report
                .as_ref()
                .map(|r| {
                    let mut parts = Vec::new();
                    if let Some(f) = r.files {
                        parts.push(format!("{f} files"));
                    }
                    if let Some(b) = r.bytes {
                        parts.push(format!("{b} bytes"));
                    }
                    if let Some(s) = r.seconds {
                        parts.push(format!("{s:.2}s"));
                    }
                    if let Some(d) = &r.root_digest {
                        parts.push(format!("digest {d}"));
                    }
                    if parts.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", parts.join(", "))
                    }
                })
                .unwrap_or_default();
            Some(Announcement {
                warning: false,
                reason: REASON_VERIFIED,
                note: format!(
                    "model {model} of pod {pod_name} verified against ModelValidation {mv_name}{detail}"
                ),
                outcome: Some("verified"),
                key: run.clone(),
            })
        }
        PodState::Failed {
            reason,
            warn_only,
            run,
            ..
        } => {
            let consequence = if *warn_only || mv.spec.mode == Mode::Warn {
                "the pod was allowed to start (Warn mode)"
            } else {
                "the pod does not start (Enforce mode)"
            };
            Some(Announcement {
                warning: true,
                reason: REASON_FAILED,
                note: format!(
                    "model {model} of pod {pod_name} failed verification against ModelValidation {mv_name}: {reason}; {consequence}"
                ),
                outcome: Some("failed"),
                key: run.clone(),
            })
        }
    }
}

/// Limits an Event note to the API's 1 kB, on a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max.saturating_sub(3);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

/// Reconciles one ModelValidation: Events for new pod results, then status when it changed.
pub async fn reconcile(mv: Arc<ModelValidation>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciles.inc();
    let name = mv.name_any();
    let Some(ns) = mv.namespace() else {
        return Err(Error::NoNamespace { name });
    };
    if mv.meta().deletion_timestamp.is_some() {
        // Being deleted (another party's finalizer): nothing to report any more.
        return Ok(Action::await_change());
    }
    let mvs_in_ns = ctx
        .model_validations
        .state()
        .iter()
        .filter(|m| m.namespace().as_deref() == Some(ns.as_str()))
        .count()
        .max(1);
    let ignored = ctx.lookup.namespace_ignored(&ns);
    let all_pods = ctx.pods.state();
    let mut pods: Vec<Arc<Pod>> = all_pods
        .iter()
        .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
        .filter(|p| belongs(p, &name, mvs_in_ns))
        .cloned()
        .collect();
    pods.sort_by_key(|p| p.name_any());
    let mut states = Vec::with_capacity(pods.len());
    for pod in &pods {
        let state = classify(pod);
        // In an ignored namespace an uninjected pod is expected, not a problem.
        if ignored && state == PodState::Uninjected {
            continue;
        }
        states.push(state);
    }
    // Events, once per pod run.
    let mut to_publish = Vec::new();
    {
        let mut reported = ctx
            .reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let live: HashSet<String> = all_pods.iter().filter_map(|p| p.uid()).collect();
        reported.retain(|uid, _| live.contains(uid));
        for (pod, state) in pods.iter().zip(&states) {
            let Some(a) = announcement(&mv, pod, state) else {
                continue;
            };
            let uid = pod.uid().unwrap_or_default();
            let seen = reported.entry(uid).or_default();
            if !seen.insert(a.key.clone()) {
                continue;
            }
            let finished = match state {
                PodState::Verified { finished, .. } | PodState::Failed { finished, .. } => {
                    *finished
                }
                _ => None,
            };
            if let Some(method) = mv.spec.check().ok().map(|m| m.name())
                && let Some(outcome) = a.outcome
            {
                ctx.metrics.observe_verification(method, outcome);
            }
            // A run that ended before this leader started was announced by the previous one.
            if finished.is_some_and(|f| f < ctx.since) {
                continue;
            }
            to_publish.push((pod.clone(), a));
        }
    }
    for (pod, a) in to_publish {
        let event = Event {
            type_: if a.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: a.reason.to_owned(),
            note: Some(truncate(a.note.clone(), 1024)),
            action: "Verify".to_owned(),
            secondary: None,
        };
        for reference in [pod.object_ref(&()), mv.object_ref(&())] {
            if let Err(e) = ctx.recorder.publish(&event, &reference).await {
                tracing::warn!(error = %e, ns = %ns, name = %name, reason = a.reason, "Cannot publish Event");
            }
        }
    }
    let status = desired_status(&mv, &states, Timestamp::now());
    if mv.status.as_ref() != Some(&status) {
        let api: Api<ModelValidation> = Api::namespaced(ctx.client.clone(), &ns);
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .map_err(|source| Error::WriteStatus {
            namespace: ns.clone(),
            name: name.clone(),
            source,
        })?;
        tracing::info!(
            ns = %ns,
            name = %name,
            injected = status.injected_pods,
            verified = status.verified_pods,
            failed = status.failed_pods,
            uninjected = status.uninjected_pods,
            "Status updated"
        );
    }
    Ok(Action::requeue(RESYNC))
}

/// Counts the failure and retries later.
pub fn error_policy(mv: Arc<ModelValidation>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ReasonLabel {
            reason: error.reason().to_owned(),
        })
        .inc();
    tracing::warn!(
        error = %error,
        ns = mv.namespace().unwrap_or_default(),
        name = %mv.name_any(),
        "Reconcile failed"
    );
    Action::requeue(Duration::from_secs(15))
}
