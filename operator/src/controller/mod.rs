//! The ModelValidation controller: status (`Ready` condition, pod counts), Events, metrics.
//!
//! It watches `ModelValidation`s and the pods that carry the label, and runs only on the
//! leader (see [`crate::lease`]). The decisions are pure functions
//! ([`classify`], [`desired_status`]) over cached objects; [`reconcile`] performs the writes:
//! the status subresource (only when it changed) and Events. The only pod write is the removal
//! of the upstream operator's finalizer ([`crate::finalizer`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, ReconcileReason, ReconcileRequest};
use kube::runtime::events::Reporter;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, applier, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use mv_shared::verify::{Outcome as ReportOutcome, TerminationReport};
use mv_shared::{INIT_CONTAINER_NAME, POD_LABEL, POD_LABEL_ANY, annotations};
use tokio_util::sync::CancellationToken;

use crate::cache::{Caches, Change, ModelValidationLookup};
use crate::crd::status::orphaned;
use crate::crd::{Mode, ModelValidation, ModelValidationStatus};
use crate::inject::{InjectConfig, injection};
use crate::metrics::{Metrics, ReasonLabel};
use crate::podcache::{CachedPod, PodCache, PodIndex, cached_event};

/// Event reason: the injected verifier reported success.
pub const REASON_VERIFIED: &str = "ModelVerified";
/// Event reason: the injected verifier reported a failure.
pub const REASON_FAILED: &str = "ModelVerificationFailed";
/// Event reason: a labelled pod runs without the verifier.
pub const REASON_NOT_INJECTED: &str = "ModelValidationNotInjected";
/// Event reason: a pod carries a `model-validation` container that is not the one the webhook
/// injected; whatever it reports is not counted.
pub const REASON_TAMPERED: &str = "ModelValidationTampered";
/// Event reason: a continuous-validation sidecar found that the model no longer matches its
/// signature (the note names the files and the reason).
pub const REASON_DRIFT_DETECTED: &str = "ModelDriftDetected";
/// Event reason: after a drift, the sidecar verified the model again.
pub const REASON_DRIFT_RESOLVED: &str = "ModelDriftResolved";
/// How many generations of each ModelValidation the controller remembers, to check the
/// containers of pods admitted under an earlier generation.
pub const GENERATIONS_KEPT: usize = 16;
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
    /// A bug: the reconcile panicked. Only this reconcile failed; it is retried.
    #[error("reconcile of ModelValidation {namespace}/{name} panicked: {message}")]
    Panicked {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The panic payload, when it is text.
        message: String,
    },
}

impl Error {
    /// CamelCase reason for metric labels and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::WriteStatus { .. } => "WriteStatusFailed",
            Self::NoNamespace { .. } => "NoNamespace",
            Self::Panicked { .. } => "Panicked",
        }
    }
}

/// What reconcile needs.
pub struct Context {
    /// API client.
    pub client: kube::Client,
    /// The controller's ModelValidation cache.
    pub model_validations: Store<ModelValidation>,
    /// Labelled pods (slim), indexed by namespace.
    pub pods: PodCache,
    /// Namespace opt-out (the webhook's caches).
    pub lookup: Arc<dyn ModelValidationLookup + Send + Sync>,
    /// Event writer.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Metrics,
    /// What the webhook injects (the controller recomputes it to check pods' containers).
    pub config: Arc<InjectConfig>,
    /// ModelValidations by uid and generation, as this process saw them.
    history: Mutex<HashMap<String, BTreeMap<i64, Arc<ModelValidation>>>>,
    /// Results and warnings already reported, per ModelValidation uid and pod uid.
    reported: Mutex<HashMap<String, HashMap<String, HashSet<String>>>>,
    /// Terminations finished before this moment were reported by an earlier leader.
    since: Timestamp,
    /// The last state line read from each continuous-validation sidecar's log.
    logs: crate::drift::LogCache,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

/// How far before its start a new leader still announces verifier results. Runs that ended
/// while no replica held the Lease (up to a lease duration, plus the time the new leader needs
/// to sync its caches) would otherwise never get an Event; runs its predecessor announced just
/// before stopping get a second one. A repeated Event after a hand-over is the lesser harm.
pub const HANDOVER_WINDOW: Duration = Duration::from_secs(60);

/// The `since` of a leader that starts at `start`: [`HANDOVER_WINDOW`] earlier.
pub fn announce_since(start: Timestamp) -> Timestamp {
    let window = k8s_openapi::jiff::SignedDuration::try_from(HANDOVER_WINDOW).unwrap_or_default();
    start.checked_sub(window).unwrap_or(start)
}

impl Context {
    /// `since`: results of verifiers that finished earlier are counted but not re-announced
    /// with Events (a new leader does not repeat its predecessor's Events; see
    /// [`announce_since`] for the hand-over window).
    #[allow(clippy::too_many_arguments)] // one per shared handle; a builder would add nothing
    pub fn new(
        client: kube::Client,
        model_validations: Store<ModelValidation>,
        pods: PodCache,
        lookup: Arc<dyn ModelValidationLookup + Send + Sync>,
        recorder: Recorder,
        metrics: Metrics,
        config: Arc<InjectConfig>,
        since: Timestamp,
    ) -> Self {
        Self {
            client,
            model_validations,
            pods,
            lookup,
            recorder,
            metrics,
            config,
            history: Mutex::new(HashMap::new()),
            reported: Mutex::new(HashMap::new()),
            since,
            logs: crate::drift::LogCache::default(),
        }
    }
}

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
        return PodState::Uninjected;
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

fn ready_condition(mv: &ModelValidation) -> (String, String, String) {
    match mv.spec.check() {
        Ok(method) => (
            "True".to_owned(),
            "Valid".to_owned(),
            format!(
                "pods verify {} with method {} ({:?} mode){}",
                mv.spec.model.path,
                method.name(),
                mv.spec.mode,
                match mv.spec.continuous_interval() {
                    Some(d) => format!(
                        ", then keep checking it every {} (continuous validation)",
                        crate::sidecar::agent_interval(d)
                    ),
                    None => String::new(),
                }
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
    let injected = |s: &PodState| !matches!(s, PodState::Uninjected | PodState::Tampered { .. });
    ModelValidationStatus {
        observed_generation: generation,
        conditions,
        auth_method: mv.spec.check().ok().map(|m| m.auth_method().to_owned()),
        injected_pod_count: i32::try_from(states.iter().filter(|s| injected(s)).count())
            .unwrap_or(i32::MAX),
        verified_pod_count: count(|s| {
            matches!(s, PodState::Verified { .. } | PodState::Restored { .. })
        }),
        drifted_pod_count: count(|s| matches!(s, PodState::Drifted { .. })),
        failed_pod_count: count(|s| matches!(s, PodState::Failed { .. })),
        uninjected_pod_count: count(|s| matches!(s, PodState::Uninjected)),
        tampered_pod_count: count(|s| matches!(s, PodState::Tampered { .. })),
        ..Default::default()
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
        PodState::Pending
        | PodState::Unconfirmed { .. }
        | PodState::Foreign
        | PodState::Watching { .. } => None,
        PodState::Drifted {
            reason,
            files,
            file_count,
            warn_only,
            run,
            at,
        } => {
            let mut named = files.join(", ");
            if *file_count > files.len() {
                named.push_str(&format!(" and {} more", file_count - files.len()));
            }
            let what = if named.is_empty() {
                String::new()
            } else {
                format!(" ({named})")
            };
            let consequence = if *warn_only {
                "the pod stays Ready (Warn mode)"
            } else {
                "the pod is NotReady until the model is restored (Enforce mode)"
            };
            Some(Announcement {
                warning: true,
                reason: REASON_DRIFT_DETECTED,
                note: format!(
                    "model {model} of pod {pod_name} changed and no longer matches its signature{what}: {reason}; {consequence} (ModelValidation {mv_name})"
                ),
                outcome: None,
                key: format!("drift:{run}:{at}"),
            })
        }
        PodState::Restored { run, at } => Some(Announcement {
            warning: false,
            reason: REASON_DRIFT_RESOLVED,
            note: format!(
                "model {model} of pod {pod_name} matches its signature again (ModelValidation {mv_name}); the drift is resolved"
            ),
            outcome: None,
            key: format!("resolved:{run}:{at}"),
        }),
        PodState::Tampered { reason } => Some(Announcement {
            warning: true,
            reason: REASON_TAMPERED,
            note: format!(
                "pod {pod_name} carries a {INIT_CONTAINER_NAME} container that is not the one the webhook injected for ModelValidation {mv_name}: {reason}; whatever it reports is not counted"
            ),
            outcome: None,
            key: "tampered".to_owned(),
        }),
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
/// A panic fails this reconcile only ([`Error::Panicked`], retried), not the controller.
pub async fn reconcile(mv: Arc<ModelValidation>, ctx: Arc<Context>) -> Result<Action, Error> {
    use futures::FutureExt as _;
    let namespace = mv.namespace().unwrap_or_default();
    let name = mv.name_any();
    let started = std::time::Instant::now();
    let metrics = ctx.metrics.clone();
    let result = std::panic::AssertUnwindSafe(reconcile_inner(mv, ctx))
        .catch_unwind()
        .await;
    metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-text panic payload".to_owned());
        Err(Error::Panicked {
            namespace,
            name,
            message,
        })
    })
}

async fn reconcile_inner(mv: Arc<ModelValidation>, ctx: Arc<Context>) -> Result<Action, Error> {
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
    // Only this namespace's pods (sorted by name), through the index.
    let ns_pods = ctx.pods.in_namespace(&ns);
    let live: HashSet<String> = ns_pods.iter().filter_map(|p| p.uid()).collect();
    let pods: Vec<Arc<CachedPod>> = ns_pods
        .into_iter()
        .filter(|p| belongs(&p.pod, &name, mvs_in_ns))
        .collect();
    crate::finalizer::release(&ctx.client, pods.iter().map(CachedPod::pod_of)).await;
    let mv_uid = mv.uid().unwrap_or_default();
    let known_mvs: HashSet<String> = ctx
        .model_validations
        .state()
        .iter()
        .filter_map(|m| m.uid())
        .chain([mv_uid.clone()])
        .collect();
    let earlier = {
        let mut history = ctx
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        history.retain(|uid, _| known_mvs.contains(uid));
        let seen = history.entry(mv_uid.clone()).or_default();
        seen.insert(mv.metadata.generation.unwrap_or_default(), mv.clone());
        while seen.len() > GENERATIONS_KEPT {
            seen.pop_first();
        }
        seen.clone()
    };
    let earlier = |g: i64| earlier.get(&g).cloned();
    // (pod, state) pairs: an uninjected pod of an ignored namespace is expected, not a problem.
    let entries: Vec<(Arc<CachedPod>, PodState)> = pods
        .into_iter()
        .map(|p| {
            let state = assess(&p, &mv, &earlier, &ctx.config);
            (p, state)
        })
        .filter(|(_, s)| !(ignored && *s == PodState::Uninjected))
        .collect();
    // Continuous validation: what each sidecar reports, from its log when its flags changed.
    let warn_poll = mv.spec.continuous_interval().unwrap_or(RESYNC).min(RESYNC);
    ctx.logs.retain(&ns, &live);
    let mut requeue = RESYNC;
    let mut resolved = Vec::with_capacity(entries.len());
    for (pod, state) in entries {
        if !matches!(state, PodState::Watching { .. }) {
            resolved.push((pod, state));
            continue;
        }
        let uid = pod.uid().unwrap_or_default();
        let max_age = crate::drift::refresh_after(&state, warn_poll);
        if let Some(age) = max_age {
            requeue = requeue.min(age);
        }
        let line = match ctx.logs.fresh(&ns, &uid, &state, max_age) {
            Some(line) => line,
            None => {
                let line = crate::drift::read_state_line(&ctx.client, &ns, &pod.name_any()).await;
                if let Err(e) = &line {
                    tracing::warn!(error = %e, ns = %ns, pod = %pod.name_any(), "Cannot read the continuous-validation sidecar's state");
                    requeue = requeue.min(crate::drift::STARTING_POLL);
                }
                ctx.logs.put(&ns, &uid, &state, line.clone());
                line
            }
        };
        let line = line.as_ref().map(Option::as_ref).map_err(String::as_str);
        resolved.push((pod, crate::drift::watched_state(state, line)));
    }
    let entries = resolved;
    let states: Vec<PodState> = entries.iter().map(|(_, s)| s.clone()).collect();
    // Events, once per pod run.
    let mut to_publish = Vec::new();
    {
        let mut reported = ctx
            .reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        reported.retain(|uid, _| known_mvs.contains(uid));
        let reported = reported.entry(mv_uid.clone()).or_default();
        reported.retain(|uid, _| live.contains(uid));
        for (pod, state) in &entries {
            let Some(a) = announcement(&mv, &pod.pod, state) else {
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
                PodState::Drifted { at, .. } | PodState::Restored { at, .. } => {
                    Timestamp::from_second(*at).ok()
                }
                _ => None,
            };
            // A run that ended before this leader started was announced (and counted) by the
            // previous one.
            if finished.is_some_and(|f| f < ctx.since) {
                continue;
            }
            if let Some(method) = mv.spec.check().ok().map(|m| m.name())
                && let Some(outcome) = a.outcome
            {
                ctx.metrics.observe_verification(method, outcome);
            }
            match state {
                PodState::Drifted { .. } => ctx.metrics.observe_drift("detected"),
                PodState::Restored { .. } => ctx.metrics.observe_drift("resolved"),
                _ => {}
            }
            if let PodState::Tampered { reason } = state {
                ctx.metrics.tampered_pods.inc();
                tracing::warn!(ns = %ns, pod = %pod.name_any(), model_validation = %name, reason = %reason, "Tampered verifier container");
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
    let mut status = desired_status(&mv, &states, Timestamp::now());
    // Orphaned: injected (by this operator or the upstream one, not forged) for another spec.
    status.orphaned_pod_count = i32::try_from(
        entries
            .iter()
            .filter(|(p, s)| {
                !matches!(s, PodState::Uninjected | PodState::Tampered { .. })
                    && orphaned(&mv, &p.pod)
            })
            .count(),
    )
    .unwrap_or(i32::MAX);
    let status = status.stamped(mv.status.as_ref(), Time(Timestamp::now()));
    let live: Vec<(String, String)> = ctx
        .model_validations
        .state()
        .iter()
        .filter_map(|m| Some((m.namespace()?, m.name_any())))
        .collect();
    let counts = [
        status.injected_pod_count,
        status.uninjected_pod_count,
        status.orphaned_pod_count,
    ]
    .map(i64::from);
    ctx.metrics
        .observe_model_validations(&live, Some((&ns, &name, counts)));
    if mv.status.as_ref() != Some(&status) {
        let api: Api<ModelValidation> = Api::namespaced(ctx.client.clone(), &ns);
        let written = api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(status.merge_patch()),
            )
            .await;
        ctx.metrics
            .observe_status_update(&ns, &name, written.is_ok());
        written.map_err(|source| Error::WriteStatus {
            namespace: ns.clone(),
            name: name.clone(),
            source,
        })?;
        tracing::info!(
            ns = %ns,
            name = %name,
            injected = status.injected_pod_count,
            verified = status.verified_pod_count,
            failed = status.failed_pod_count,
            uninjected = status.uninjected_pod_count,
            orphaned = status.orphaned_pod_count,
            tampered = status.tampered_pod_count,
            drifted = status.drifted_pod_count,
            "Status updated"
        );
    }
    Ok(Action::requeue(requeue))
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

/// Which ModelValidations a pod watch event concerns: the pod's for an applied or deleted pod,
/// every cached one when a relist completes (anything may have changed meanwhile), none while a
/// relist is in progress (the store keeps the old state until it completes).
pub fn triggers_for(
    event: &watcher::Event<CachedPod>,
    model_validations: &Store<ModelValidation>,
) -> Vec<ObjectRef<ModelValidation>> {
    match event {
        watcher::Event::Apply(pod) | watcher::Event::Delete(pod) => {
            model_validations_for_pod(&pod.pod, model_validations)
        }
        watcher::Event::InitDone => model_validations
            .state()
            .iter()
            .map(|m| ObjectRef::from_obj(m.as_ref()))
            .collect(),
        watcher::Event::Init | watcher::Event::InitApply(_) => Vec::new(),
    }
}

/// Pod events waiting for the controller; beyond this the pod watch waits (backpressure).
const POD_TRIGGER_BUFFER: usize = 1024;

/// Runs the controller until `stop` is cancelled.
///
/// One watch of labelled pods feeds both the slim pod cache (with its namespace index) and the
/// reconcile queue: each event updates the cache, then asks for a reconcile of the
/// ModelValidations it concerns ([`triggers_for`]). The ModelValidations and their changes come
/// from the process's one ModelValidation watch ([`Caches`]). Reconciles start once the pod cache holds the first complete list, so that no status
/// is computed from a partial one.
pub async fn run(
    client: Client,
    caches: Caches,
    metrics: Metrics,
    config: Arc<InjectConfig>,
    identity: String,
    stop: CancellationToken,
) {
    // subscribed before anything is read, so no change between the two is lost
    let mv_changes = futures::stream::once(async { Change::All }).chain(caches.changes());
    let mv_store = caches.model_validations();
    let pod_api: Api<Pod> = Api::all(client.clone());
    let pod_watch = watcher::Config::default().labels(POD_LABEL);
    let (store, writer) = reflector::store::<CachedPod>();
    let index = PodIndex::default();
    let pods = PodCache {
        store: store.clone(),
        index: index.clone(),
    };
    let (trigger_tx, trigger_rx) = futures::channel::mpsc::channel(POD_TRIGGER_BUFFER);
    let mapper_store = mv_store.clone();
    let reflector_task = tokio::spawn(
        reflector::reflector(
            writer,
            watcher(pod_api, pod_watch).map(|e| e.map(cached_event)),
        )
        .default_backoff()
        .for_each(move |e| {
            let mut tx = trigger_tx.clone();
            let refs = match e {
                Ok(event) => {
                    index.apply(&event);
                    triggers_for(&event, &mapper_store)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Pod watch failed; retrying");
                    Vec::new()
                }
            };
            async move {
                use futures::SinkExt as _;
                for obj_ref in refs {
                    let request = ReconcileRequest {
                        obj_ref,
                        reason: ReconcileReason::Custom {
                            reason: "pod changed".to_owned(),
                        },
                    };
                    // closed only when the controller has stopped
                    if tx.send(request).await.is_err() {
                        return;
                    }
                }
            }
        }),
    );
    tokio::select! {
        _ = stop.cancelled() => { reflector_task.abort(); return; }
        r = store.wait_until_ready() => if r.is_err() { reflector_task.abort(); return; }
    }
    tokio::select! {
        _ = stop.cancelled() => { reflector_task.abort(); return; }
        () = caches.wait_synced() => {}
    }
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "model-validation-operator".to_owned(),
            instance: Some(identity),
        },
    );
    let all = mv_store.clone();
    let mv_triggers = mv_changes.flat_map(move |change| {
        let requests: Vec<ReconcileRequest<ModelValidation>> = match change {
            Change::Object(obj_ref) => vec![ReconcileRequest {
                obj_ref,
                reason: ReconcileReason::ObjectUpdated,
            }],
            Change::All => all
                .state()
                .iter()
                .map(|m| ReconcileRequest {
                    obj_ref: ObjectRef::from_obj(m.as_ref()),
                    reason: ReconcileReason::BulkReconcile,
                })
                .collect(),
        };
        futures::stream::iter(requests)
    });
    let lookup: Arc<dyn ModelValidationLookup + Send + Sync> = Arc::new(caches);
    let ctx = Arc::new(Context::new(
        client,
        mv_store.clone(),
        pods,
        lookup,
        recorder,
        metrics,
        config,
        announce_since(Timestamp::now()),
    ));
    tracing::info!("Controller started");
    let queue = futures::stream::select(mv_triggers, trigger_rx)
        .map(Ok::<_, std::convert::Infallible>)
        .take_until(stop.cancelled_owned());
    applier(
        |mv, ctx| Box::pin(reconcile(mv, ctx)),
        error_policy,
        ctx,
        mv_store,
        queue,
        kube::runtime::controller::Config::default().debounce(Duration::from_secs(1)),
    )
    .for_each(|r| async move {
        if let Err(e) = r {
            tracing::debug!(error = %e, "Reconcile request failed");
        }
    })
    .await;
    reflector_task.abort();
    tracing::info!("Controller stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::StaticLookup;
    use crate::crd::ModelValidationSpec;
    use crate::podcache::slim;
    use http::{Method, Request, Response};
    use kube::client::Body;
    use kube::runtime::events::Reporter;
    use kube::runtime::reflector;
    use kube::runtime::watcher;
    use serde_json::{Value, json};

    type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

    fn mv(generation: i64, spec: Value, status: Option<Value>) -> ModelValidation {
        let spec: ModelValidationSpec = serde_json::from_value(spec).unwrap();
        let mut m = ModelValidation::new("demo", spec);
        m.metadata.namespace = Some("models".into());
        m.metadata.uid = Some("mv-uid".into());
        m.metadata.generation = Some(generation);
        m.status = status.map(|s| serde_json::from_value(s).unwrap());
        m
    }

    fn key_spec() -> Value {
        json!({"model": {"path": "/data/model"}, "config": {"publicKeyConfig": {"keyPath": "/k/key.pub"}}})
    }

    fn config() -> InjectConfig {
        InjectConfig::new("registry.example.com/model-verifier:1")
    }

    /// A labelled pod; `verifier` is the init container status (`None`: not injected). An
    /// injected pod carries exactly what the webhook injects for `mv(1, key_spec())`.
    fn pod(name: &str, verifier: Option<Value>) -> Pod {
        pod_for(name, verifier, &mv(1, key_spec(), None))
    }

    /// [`pod`] injected for `m`.
    fn pod_for(name: &str, verifier: Option<Value>, m: &ModelValidation) -> Pod {
        let mut p = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "models", "uid": format!("uid-{name}"),
                         "labels": {POD_LABEL: "true"}},
            "spec": {"containers": [{"name": "app", "image": "app", "volumeMounts": [
                {"name": "data", "mountPath": "/data"}, {"name": "keys", "mountPath": "/k"}]}]},
        });
        if let Some(state) = verifier {
            let spec: k8s_openapi::api::core::v1::PodSpec =
                serde_json::from_value(p["spec"].clone()).unwrap();
            let genuine = injection(m, &spec, &config()).unwrap();
            p["metadata"]["annotations"] = json!({annotations::MODEL_VALIDATION: "demo",
                annotations::GENERATION: "1", annotations::METHOD: "key"});
            let mut c = serde_json::to_value(genuine.container).unwrap();
            // as the API server returns it: defaulted
            c["imagePullPolicy"] = json!("IfNotPresent");
            p["spec"]["initContainers"] = json!([c]);
            if !state.is_null() {
                p["status"] = json!({"initContainerStatuses": [state]});
            }
        }
        serde_json::from_value(p).unwrap()
    }

    fn terminated(exit: i32, message: &str) -> Value {
        json!({"name": INIT_CONTAINER_NAME, "image": "verifier", "imageID": "", "ready": exit == 0,
               "restartCount": 0, "containerID": "containerd://abc",
               "state": {"terminated": {"exitCode": exit, "reason": if exit == 0 {"Completed"} else {"Error"},
                         "message": message, "finishedAt": "2030-01-01T00:00:00Z",
                         "containerID": "containerd://abc"}}})
    }

    struct Setup {
        ctx: Arc<Context>,
        handle: Handle,
    }

    fn setup(mvs: &[&ModelValidation], pods: Vec<Pod>, since: Timestamp) -> Setup {
        setup_with(mvs, pods, since, Arc::new(StaticLookup::default()))
    }

    fn setup_with(
        mvs: &[&ModelValidation],
        pods: Vec<Pod>,
        since: Timestamp,
        lookup: Arc<dyn ModelValidationLookup + Send + Sync>,
    ) -> Setup {
        let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(svc, "default");
        let (mv_store, mut mv_writer) = reflector::store::<ModelValidation>();
        for m in mvs {
            mv_writer.apply_watcher_event(&watcher::Event::Apply((*m).clone()));
        }
        let (pod_store, mut pod_writer) = reflector::store::<CachedPod>();
        let index = PodIndex::default();
        for p in pods {
            let event = watcher::Event::Apply(slim(p));
            pod_writer.apply_watcher_event(&event);
            index.apply(&event);
        }
        let pod_store = PodCache {
            store: pod_store,
            index,
        };
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "model-validation-operator".into(),
                instance: Some("test".into()),
            },
        );
        let ctx = Arc::new(Context::new(
            client,
            mv_store,
            pod_store,
            lookup,
            recorder,
            Metrics::new(),
            Arc::new(config()),
            since,
        ));
        Setup { ctx, handle }
    }

    fn past() -> Timestamp {
        Timestamp::UNIX_EPOCH
    }

    async fn body_json(req: Request<Body>) -> Value {
        let bytes = req.into_body().collect_bytes().await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// Answers the next request, which must be an Event create, and returns the Event.
    async fn expect_event(handle: &mut Handle) -> Value {
        let (req, send) = handle.next_request().await.expect("an Event create");
        assert_eq!(req.method(), Method::POST);
        assert_eq!(
            req.uri().path(),
            "/apis/events.k8s.io/v1/namespaces/models/events"
        );
        let event = body_json(req).await;
        send.send_response(
            Response::builder()
                .status(201)
                .body(Body::from(serde_json::to_vec(&event).unwrap()))
                .unwrap(),
        );
        event
    }

    /// Answers the next request, an Event create or a series update (PATCH), and returns it.
    async fn expect_event_or_series(handle: &mut Handle) -> Value {
        let (req, send) = handle.next_request().await.expect("an Event write");
        assert!(
            req.method() == Method::POST || req.method() == Method::PATCH,
            "{}",
            req.method()
        );
        assert!(
            req.uri()
                .path()
                .starts_with("/apis/events.k8s.io/v1/namespaces/models/events"),
            "{}",
            req.uri()
        );
        let event = body_json(req).await;
        send.send_response(
            Response::builder()
                .status(200)
                .body(Body::from(serde_json::to_vec(&event).unwrap()))
                .unwrap(),
        );
        event
    }

    /// Answers the next request, which must be the status merge patch, and returns the status.
    async fn expect_status_patch(handle: &mut Handle, current: &ModelValidation) -> Value {
        let (req, send) = handle.next_request().await.expect("a status patch");
        assert_eq!(req.method(), Method::PATCH);
        assert_eq!(
            req.uri().path(),
            "/apis/ml.sigstore.dev/v1alpha1/namespaces/models/modelvalidations/demo/status"
        );
        assert_eq!(
            req.headers()["content-type"],
            "application/merge-patch+json"
        );
        let patch = body_json(req).await;
        let mut updated = serde_json::to_value(current).unwrap();
        updated["status"] = patch["status"].clone();
        send.send_response(
            Response::builder()
                .body(Body::from(serde_json::to_vec(&updated).unwrap()))
                .unwrap(),
        );
        patch["status"].clone()
    }

    /// Runs reconcile against the scripted API server and checks no other call was made.
    async fn run<F, Fut>(s: Setup, m: ModelValidation, script: F) -> Result<Action, Error>
    where
        F: FnOnce(Handle) -> Fut,
        Fut: std::future::Future<Output = Handle> + Send + 'static,
    {
        let Setup { ctx, handle } = s;
        let server = tokio::spawn(script(handle));
        let result =
            tokio::time::timeout(Duration::from_secs(5), reconcile(Arc::new(m), ctx.clone()))
                .await
                .expect("reconcile finished (an unexpected API call would leave it waiting)");
        let metrics = ctx.metrics.clone();
        drop(ctx);
        let mut handle = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
        let extra = tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await;
        assert!(
            matches!(extra, Ok(None) | Err(_)),
            "unexpected extra API call"
        );
        assert!(
            metrics
                .encode()
                .unwrap()
                .contains("model_validation_reconciles_total 1")
        );
        assert!(
            metrics
                .encode()
                .unwrap()
                .contains("model_validation_reconcile_duration_seconds_count 1")
        );
        result
    }

    #[tokio::test]
    async fn a_new_model_validation_gets_ready_and_zero_counts() {
        let m = mv(1, key_spec(), None);
        let s = setup(&[&m], vec![], past());
        let current = m.clone();
        let action = run(s, m, |mut h| async move {
            let status = expect_status_patch(&mut h, &current).await;
            assert_eq!(status["observedGeneration"], 1);
            assert_eq!(status["authMethod"], "public-key");
            assert_eq!(status["injectedPodCount"], 0);
            assert_eq!(status["failedPodCount"], 0);
            let ready = &status["conditions"][0];
            assert_eq!(ready["type"], "Ready");
            assert_eq!(ready["status"], "True");
            assert_eq!(ready["reason"], "Valid");
            assert_eq!(ready["observedGeneration"], 1);
            assert!(ready["message"].as_str().unwrap().contains("/data/model"));
            assert!(ready["lastTransitionTime"].is_string());
            h
        })
        .await
        .unwrap();
        assert_eq!(action, Action::requeue(RESYNC));
    }

    #[tokio::test]
    async fn an_unchanged_status_is_not_written_again() {
        let first = mv(1, key_spec(), None);
        let status = desired_status(&first, &[], past());
        let m = mv(1, key_spec(), Some(serde_json::to_value(&status).unwrap()));
        let s = setup(&[&m], vec![], past());
        run(s, m, |h| async move { h }).await.unwrap();
    }

    #[tokio::test]
    async fn a_spec_change_moves_observed_generation() {
        let old = mv(1, key_spec(), None);
        let old_status = serde_json::to_value(desired_status(&old, &[], past())).unwrap();
        // same validity: lastTransitionTime stays
        let m = mv(
            2,
            json!({"model": {"path": "/data/other"}, "config": {"publicKeyConfig": {"keyPath": "/k/key.pub"}}}),
            Some(old_status.clone()),
        );
        let s = setup(&[&m], vec![], past());
        let current = m.clone();
        let t0 = old_status["conditions"][0]["lastTransitionTime"].clone();
        run(s, m, move |mut h| async move {
            let status = expect_status_patch(&mut h, &current).await;
            assert_eq!(status["observedGeneration"], 2);
            assert_eq!(status["conditions"][0]["observedGeneration"], 2);
            assert_eq!(status["conditions"][0]["status"], "True");
            assert_eq!(status["conditions"][0]["lastTransitionTime"], t0);
            assert!(
                status["conditions"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("/data/other")
            );
            h
        })
        .await
        .unwrap();
        // an unusable spec (a server without CEL let it in): Ready=False with the reason
        let m = mv(
            3,
            json!({"model": {"path": "relative"}, "config": {"publicKeyConfig": {"keyPath": "/k"}}}),
            Some(old_status),
        );
        let s = setup(&[&m], vec![], past());
        let current = m.clone();
        run(s, m, |mut h| async move {
            let status = expect_status_patch(&mut h, &current).await;
            let ready = &status["conditions"][0];
            assert_eq!(ready["status"], "False");
            assert_eq!(ready["reason"], "RelativePath");
            assert!(
                ready["message"]
                    .as_str()
                    .unwrap()
                    .contains("spec.model.path must be an absolute path")
            );
            assert_eq!(ready["observedGeneration"], 3);
            assert_eq!(status["authMethod"], Value::Null);
            h
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn pods_succeeding_and_failing_verification() {
        let ok = pod(
            "a-ok",
            Some(terminated(
                0,
                r#"{"outcome":"verified","method":"key","rootDigest":"sha256:00ff","files":3,"bytes":2048,"seconds":0.5}"#,
            )),
        );
        let bad = pod(
            "b-bad",
            Some(terminated(
                1,
                r#"{"outcome":"failed","method":"key","reason":"signature does not match"}"#,
            )),
        );
        let waiting = pod("c-running", Some(Value::Null));
        let m = mv(1, key_spec(), None);
        let s = setup(&[&m], vec![ok, bad, waiting], past());
        let metrics = s.ctx.metrics.clone();
        let current = m.clone();
        run(s, m, |mut h| async move {
            // a-ok: on the pod, then on the ModelValidation
            let e = expect_event(&mut h).await;
            assert_eq!(e["reason"], REASON_VERIFIED);
            assert_eq!(e["type"], "Normal");
            assert_eq!(e["regarding"]["kind"], "Pod");
            assert_eq!(e["regarding"]["name"], "a-ok");
            let note = e["note"].as_str().unwrap();
            assert!(
                note.contains("3 files") && note.contains("sha256:00ff"),
                "{note}"
            );
            let e = expect_event(&mut h).await;
            assert_eq!(e["reason"], REASON_VERIFIED);
            assert_eq!(e["regarding"]["kind"], "ModelValidation");
            assert_eq!(e["regarding"]["name"], "demo");
            // b-bad
            let e = expect_event(&mut h).await;
            assert_eq!(e["reason"], REASON_FAILED);
            assert_eq!(e["type"], "Warning");
            assert_eq!(e["regarding"]["name"], "b-bad");
            let note = e["note"].as_str().unwrap();
            assert!(
                note.contains("signature does not match")
                    && note.contains("does not start (Enforce mode)"),
                "{note}"
            );
            let e = expect_event(&mut h).await;
            assert_eq!(e["regarding"]["kind"], "ModelValidation");
            let status = expect_status_patch(&mut h, &current).await;
            assert_eq!(status["injectedPodCount"], 3);
            assert_eq!(status["verifiedPodCount"], 1);
            assert_eq!(status["failedPodCount"], 1);
            assert_eq!(status["uninjectedPodCount"], 0);
            h
        })
        .await
        .unwrap();
        let text = metrics.encode().unwrap();
        assert!(
            text.contains(
                r#"model_validation_verifications_total{method="key",outcome="verified"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"model_validation_verifications_total{method="key",outcome="failed"} 1"#
            ),
            "{text}"
        );
    }

    fn continuous_spec(mode: &str) -> Value {
        json!({"model": {"path": "/data/model"}, "mode": mode,
               "config": {"publicKeyConfig": {"keyPath": "/k/key.pub"}},
               "continuousValidation": {"enabled": true, "interval": "5m"}})
    }

    /// The status of a running sidecar.
    fn sidecar(started: bool, ready: bool) -> Value {
        json!({"name": INIT_CONTAINER_NAME, "image": "verifier", "imageID": "",
               "restartCount": 0, "containerID": "containerd://side", "started": started,
               "ready": ready, "state": {"running": {"startedAt": "2030-01-01T00:00:00Z"}}})
    }

    /// Answers the next request, which must read the tail of the sidecar's log of `pod`.
    async fn expect_log(handle: &mut Handle, pod: &str, log: &str) {
        let (req, send) = handle.next_request().await.expect("a log read");
        assert_eq!(req.method(), Method::GET);
        assert_eq!(
            req.uri().path(),
            format!("/api/v1/namespaces/models/pods/{pod}/log")
        );
        let query = req.uri().query().unwrap_or_default().to_owned();
        assert!(query.contains("container=model-validation"), "{query}");
        assert!(query.contains("tailLines="), "{query}");
        send.send_response(
            Response::builder()
                .body(Body::from(log.as_bytes().to_vec()))
                .unwrap(),
        );
    }

    const DRIFT_LINE: &str = r#"{"event":"drift-detected","ready":false,"method":"key","model":"/data/model","check":"inotify","kind":"mismatch","reason":"file weights.bin: digest does not match the signature","files":["weights.bin"],"fileCount":1,"changes":["weights.bin: modified (mtime, ctime)"],"warnOnly":false,"unixTime":1900000000}"#;
    const VERIFIED_LINE: &str = r#"{"event":"verified","ready":true,"method":"key","model":"/data/model","check":"initial","warnOnly":false,"unixTime":1899999000}"#;
    const RESTORED_LINE: &str = r#"{"event":"restored","ready":true,"method":"key","model":"/data/model","check":"inotify","warnOnly":false,"unixTime":1900000100}"#;

    #[tokio::test]
    async fn drift_reported_by_the_sidecar_is_an_event_naming_the_file_and_a_count() {
        let m = mv(1, continuous_spec("Enforce"), None);
        let drifted = pod_for("a-drifted", Some(sidecar(true, false)), &m);
        let ok = pod_for("b-ok", Some(sidecar(true, true)), &m);
        // the log says verified but the kubelet does not see it ready yet: not counted
        let unconfirmed = pod_for("c-unconfirmed", Some(sidecar(true, false)), &m);
        // a forged sidecar (no readiness probe): its log is never read
        let mut forged = pod_for("d-forged", Some(sidecar(true, true)), &m);
        forged
            .spec
            .as_mut()
            .unwrap()
            .init_containers
            .as_mut()
            .unwrap()[0]
            .readiness_probe = None;
        let s = setup(&[&m], vec![drifted, ok, unconfirmed, forged], past());
        let metrics = s.ctx.metrics.clone();
        let current = m.clone();
        let action = run(s, m, |mut h| async move {
            expect_log(
                &mut h,
                "a-drifted",
                &format!("validation-agent: probes listening\n{VERIFIED_LINE}\n{DRIFT_LINE}\n"),
            )
            .await;
            expect_log(&mut h, "b-ok", &format!("{VERIFIED_LINE}\n")).await;
            expect_log(&mut h, "c-unconfirmed", &format!("{VERIFIED_LINE}\n")).await;
            for regarding in ["Pod", "ModelValidation"] {
                let e = expect_event(&mut h).await;
                assert_eq!(e["reason"], REASON_DRIFT_DETECTED);
                assert_eq!(e["type"], "Warning");
                assert_eq!(e["regarding"]["kind"], regarding);
                let note = e["note"].as_str().unwrap();
                assert!(
                    note.contains("a-drifted")
                        && note.contains("weights.bin: modified (mtime, ctime)")
                        && note.contains("digest does not match")
                        && note.contains("NotReady"),
                    "{note}"
                );
            }
            for _ in 0..2 {
                let e = expect_event(&mut h).await;
                assert_eq!(e["reason"], REASON_VERIFIED);
                assert_ne!(e["regarding"]["name"], "c-unconfirmed");
            }
            for _ in 0..2 {
                let e = expect_event(&mut h).await;
                assert_eq!(e["reason"], REASON_TAMPERED);
                assert!(
                    e["note"].as_str().unwrap().contains("readinessProbe"),
                    "{e}"
                );
            }
            let status = expect_status_patch(&mut h, &current).await;
            assert_eq!(status["driftedPodCount"], 1);
            assert_eq!(status["verifiedPodCount"], 1);
            assert_eq!(status["failedPodCount"], 0);
            assert_eq!(status["tamperedPodCount"], 1);
            assert_eq!(status["injectedPodCount"], 3);
            h
        })
        .await
        .unwrap();
        assert_eq!(action, Action::requeue(RESYNC));
        let text = metrics.encode().unwrap();
        assert!(
            text.contains(r#"model_validation_model_drift_total{event="detected"} 1"#),
            "{text}"
        );

        // restored: the log says so and the kubelet sees the sidecar ready again
        let m = mv(1, continuous_spec("Enforce"), None);
        let restored = pod_for("a-drifted", Some(sidecar(true, true)), &m);
        let still = pod_for("b-still", Some(sidecar(true, false)), &m);
        let s = setup(&[&m], vec![restored, still], past());
        let metrics = s.ctx.metrics.clone();
        let current = m.clone();
        run(s, m, |mut h| async move {
            expect_log(
                &mut h,
                "a-drifted",
                &format!("{DRIFT_LINE}\n{RESTORED_LINE}\n"),
            )
            .await;
            // the kubelet already sees it ready, but the sidecar has not said restored: the
            // log decides nothing good without a restored line
            expect_log(&mut h, "b-still", &format!("{DRIFT_LINE}\n")).await;
            for _ in 0..2 {
                let e = expect_event(&mut h).await;
                assert_eq!(e["reason"], REASON_DRIFT_RESOLVED);
                assert_eq!(e["type"], "Normal");
                assert!(
                    e["note"]
                        .as_str()
                        .unwrap()
                        .contains("matches its signature again")
                );
            }
            for _ in 0..2 {
                let e = expect_event(&mut h).await;
                assert_eq!(e["reason"], REASON_DRIFT_DETECTED);
            }
            let status = expect_status_patch(&mut h, &current).await;
            assert_eq!(status["driftedPodCount"], 1);
            assert_eq!(status["verifiedPodCount"], 1);
            h
        })
        .await
        .unwrap();
        let text = metrics.encode().unwrap();
        assert!(
            text.contains(r#"model_validation_model_drift_total{event="resolved"} 1"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_ready_sidecar_whose_log_says_nothing_good_is_not_verified() {
        // The kubelet's ready flag alone (a probe any container of the pod could answer) never
        // makes a pod verified.
        let m = mv(1, continuous_spec("Enforce"), None);
        let cases = [
            ("a-empty", "validation-agent: probes listening\n".to_owned()),
            ("b-garbage", "{\"event\": 5}\nnot json\n".to_owned()),
            (
                "c-failed",
                r#"{"event":"failed","reason":"weights.bin: missing","unixTime":1}"#.to_owned(),
            ),
        ];
        let pods = cases
            .iter()
            .map(|(name, _)| pod_for(name, Some(sidecar(true, true)), &m))
            .collect();
        let s = setup(&[&m], pods, past());
        let current = m.clone();
        run(s, m, |mut h| async move {
            for (name, log) in &cases {
                expect_log(&mut h, name, log).await;
            }
            for _ in 0..2 {
                let e = expect_event(&mut h).await;
                assert_eq!(e["reason"], REASON_FAILED);
                assert!(e["note"].as_str().unwrap().contains("weights.bin: missing"));
            }
            let status = expect_status_patch(&mut h, &current).await;
            assert_eq!(status["verifiedPodCount"], 0);
            assert_eq!(status["failedPodCount"], 1);
            assert_eq!(status["injectedPodCount"], 3);
            h
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn warn_mode_sidecars_and_first_checks_are_polled() {
        // Warn: no readiness gate, so drift changes no flag: the controller comes back within
        // the interval. A sidecar whose startup probe has not passed: within STARTING_POLL.
        for (mode, started, want) in [
            ("Warn", true, Duration::from_secs(300)),
            ("Enforce", false, crate::drift::STARTING_POLL),
        ] {
            let m = mv(1, continuous_spec(mode), None);
            let p = pod_for("a", Some(sidecar(started, started)), &m);
            let s = setup(&[&m], vec![p], past());
            let current = m.clone();
            let action = run(s, m, |mut h| async move {
                expect_log(&mut h, "a", "").await;
                expect_status_patch(&mut h, &current).await;
                h
            })
            .await
            .unwrap();
            assert_eq!(action, Action::requeue(want), "{mode}");
        }
    }

    #[tokio::test]
    async fn events_are_published_once_per_verifier_run() {
        let ok = pod("a-ok", Some(terminated(0, "")));
        let m = mv(1, key_spec(), None);
        let s = setup(&[&m], vec![ok.clone()], past());
        let ctx = s.ctx.clone();
        let current = m.clone();
        run(s, m.clone(), |mut h| async move {
            let e = expect_event(&mut h).await;
            // no report (e.g. the Python CLI image): exit code 0 still means verified
            assert_eq!(e["reason"], REASON_VERIFIED);
            expect_event(&mut h).await;
            expect_status_patch(&mut h, &current).await;
            h
        })
        .await
        .unwrap();
        // second reconcile with the written status: no Events, no write
        let status = desired_status(&m, &[classify(&ok)], past());
        let m2 = mv(1, key_spec(), Some(serde_json::to_value(status).unwrap()));
        let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let ctx2 = Arc::new(Context {
            client: kube::Client::new(svc, "default"),
            model_validations: ctx.model_validations.clone(),
            pods: ctx.pods.clone(),
            lookup: ctx.lookup.clone(),
            recorder: Recorder::new(
                kube::Client::new(
                    tower_test::mock::pair::<Request<Body>, Response<Body>>().0,
                    "default",
                ),
                Reporter {
                    controller: "x".into(),
                    instance: None,
                },
            ),
            metrics: Metrics::new(),
            config: ctx.config.clone(),
            history: Mutex::new(HashMap::new()),
            reported: Mutex::new(ctx.reported.lock().unwrap().clone()),
            since: past(),
            logs: Default::default(),
        });
        run(Setup { ctx: ctx2, handle }, m2, |h| async move { h })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn warn_mode_failure_lets_the_pod_start_and_is_reported() {
        let mut spec = key_spec();
        spec["mode"] = json!("Warn");
        let warn_mv = mv(1, spec, None);
        let warned = pod_for(
            "w",
            Some(terminated(
                0,
                r#"{"outcome":"failed","method":"key","reason":"file model.bin: digest mismatch","warnOnly":true}"#,
            )),
            &warn_mv,
        );
        let m = warn_mv.clone();
        let s = setup(&[&m], vec![warned], past());
        let current = m.clone();
        run(s, m, |mut h| async move {
            let e = expect_event(&mut h).await;
            assert_eq!(e["reason"], REASON_FAILED);
            assert_eq!(e["type"], "Warning");
            let note = e["note"].as_str().unwrap();
            assert!(
                note.contains("digest mismatch") && note.contains("allowed to start (Warn mode)"),
                "{note}"
            );
            expect_event(&mut h).await;
            let status = expect_status_patch(&mut h, &current).await;
            assert_eq!(status["failedPodCount"], 1);
            assert_eq!(status["verifiedPodCount"], 0);
            h
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_labelled_pod_without_the_verifier_is_warned_about() {
        let plain = pod("sneaked-in", None);
        let m = mv(1, key_spec(), None);
        let s = setup(&[&m], vec![plain], past());
        let current = m.clone();
        run(s, m, |mut h| async move {
            let e = expect_event(&mut h).await;
            assert_eq!(e["reason"], REASON_NOT_INJECTED);
            assert_eq!(e["type"], "Warning");
            assert_eq!(e["regarding"]["name"], "sneaked-in");
            assert!(e["note"].as_str().unwrap().contains("not verified"));
            let e = expect_event(&mut h).await;
            assert_eq!(e["regarding"]["kind"], "ModelValidation");
            let status = expect_status_patch(&mut h, &current).await;
            assert_eq!(status["uninjectedPodCount"], 1);
            assert_eq!(status["injectedPodCount"], 0);
            h
        })
        .await
        .unwrap();
    }

    const VERIFIED: &str = r#"{"outcome":"verified","method":"key"}"#;

    /// Pods whose `model-validation` container reports success but is not what the webhook
    /// injected. Before issue 16 each of them was counted verified (classify looked at the
    /// container name only).
    fn forged_pods() -> Vec<Pod> {
        let edit = |name: &str, f: &dyn Fn(&mut Value)| {
            let mut v = serde_json::to_value(pod(name, Some(terminated(0, VERIFIED)))).unwrap();
            f(&mut v);
            serde_json::from_value::<Pod>(v).unwrap()
        };
        vec![
            edit("own-image", &|p| {
                p["spec"]["initContainers"][0] = json!({"name": INIT_CONTAINER_NAME, "image": "busybox",
                    "command": ["sh", "-c", "echo '{\"outcome\":\"verified\"}' >/dev/termination-log"]});
            }),
            edit("other-args", &|p| {
                p["spec"]["initContainers"][0]["args"][2] = json!("/data/unsigned");
            }),
            edit("extra-env", &|p| {
                p["spec"]["initContainers"][0]["env"] = json!([{"name": "X", "value": "y"}]);
            }),
            edit("no-generation", &|p| {
                p["metadata"]["annotations"]
                    .as_object_mut()
                    .unwrap()
                    .remove(annotations::GENERATION);
            }),
            edit("future-generation", &|p| {
                p["metadata"]["annotations"][annotations::GENERATION] = json!("7");
            }),
            edit("not-last", &|p| {
                p["spec"]["initContainers"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "swap-model", "image": "busybox"}));
            }),
            edit("as-app-container", &|p| {
                let c = p["spec"]["initContainers"][0].clone();
                p["spec"]["containers"].as_array_mut().unwrap().push(c);
                p["spec"]["initContainers"] = json!([]);
            }),
        ]
    }

    #[tokio::test]
    async fn a_forged_verifier_is_reported_as_tampering_and_never_counted_verified() {
        let m = mv(1, key_spec(), None);
        let mut pods = forged_pods();
        let n = pods.len();
        pods.push(pod("zz-genuine", Some(terminated(0, VERIFIED))));
        let s = setup(&[&m], pods, past());
        let metrics = s.ctx.metrics.clone();
        let current = m.clone();
        run(s, m, move |mut h| async move {
            for _ in 0..n {
                let e = expect_event(&mut h).await;
                assert_eq!(e["reason"], REASON_TAMPERED, "{e}");
                assert_eq!(e["type"], "Warning");
                assert!(e["note"].as_str().unwrap().contains("not counted"));
                // the Recorder turns repeats on the ModelValidation into a series (PATCH)
                let e = expect_event_or_series(&mut h).await;
                assert_eq!(e["regarding"]["kind"], "ModelValidation");
            }
            let e = expect_event(&mut h).await;
            assert_eq!(e["reason"], REASON_VERIFIED);
            assert_eq!(e["regarding"]["name"], "zz-genuine");
            expect_event_or_series(&mut h).await;
            let status = expect_status_patch(&mut h, &current).await;
            assert_eq!(status["verifiedPodCount"], 1);
            assert_eq!(status["injectedPodCount"], 1);
            assert_eq!(status["tamperedPodCount"], n);
            h
        })
        .await
        .unwrap();
        let text = metrics.encode().unwrap();
        assert!(
            text.contains(&format!("model_validation_tampered_pods_total {n}")),
            "{text}"
        );
        assert!(
            text.contains(
                r#"model_validation_verifications_total{method="key",outcome="verified"} 1"#
            ),
            "{text}"
        );
    }

    #[test]
    fn each_forged_container_is_named_for_what_differs() {
        let m = mv(1, key_spec(), None);
        let none = |_: i64| None;
        let reasons: Vec<String> = forged_pods()
            .iter()
            .map(|p| match assess(&slim(p.clone()), &m, &none, &config()) {
                PodState::Tampered { reason } => reason,
                other => panic!("{}: {other:?}", p.name_any()),
            })
            .collect();
        for (reason, want) in reasons.iter().zip([
            "command",
            "args",
            "env",
            "generation",
            "newer",
            "not the last init container",
            "regular or ephemeral",
        ]) {
            assert!(reason.contains(want), "{reason:?} should name {want:?}");
        }
        // a label naming one ModelValidation and an annotation naming another
        let mut p = pod("x", Some(terminated(0, VERIFIED)));
        p.metadata
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_LABEL.into(), "demo".into());
        p.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(annotations::MODEL_VALIDATION.into(), "other".into());
        assert!(matches!(
            assess(&slim(p.clone()), &m, &none, &config()),
            PodState::Tampered { .. }
        ));
    }

    #[test]
    fn pods_of_an_earlier_generation_are_checked_against_that_generation() {
        let p = pod("old", Some(terminated(0, VERIFIED)));
        let gen1 = Arc::new(mv(1, key_spec(), None));
        let gen2 = mv(
            2,
            json!({"model": {"path": "/data/other"}, "config": {"publicKeyConfig": {"keyPath": "/k/key.pub"}}}),
            None,
        );
        // seen by this controller: checked and counted
        let known = |g: i64| (g == 1).then(|| gen1.clone());
        assert!(matches!(
            assess(&slim(p.clone()), &gen2, &known, &config()),
            PodState::Verified { .. }
        ));
        // not seen (the controller started after the change): not counted either way
        assert_eq!(
            assess(&slim(p.clone()), &gen2, &|_| None, &config()),
            PodState::Unconfirmed { generation: 1 }
        );
        let status = desired_status(&gen2, &[PodState::Unconfirmed { generation: 1 }], past());
        assert_eq!(
            (
                status.injected_pod_count,
                status.verified_pod_count,
                status.failed_pod_count
            ),
            (1, 0, 0)
        );
        // the verifier image is the operator's, not anything the pod names
        let other = InjectConfig::new("evil.example.com/verifier:1");
        assert!(matches!(
            assess(&slim(p.clone()), &gen1, &|_| None, &other),
            PodState::Tampered { .. }
        ));
    }

    #[tokio::test]
    async fn events_name_the_right_pod_after_skipping_one_in_an_ignored_namespace() {
        // Before issue 16 the skipped pod shifted pods.zip(states): "a-plain" got b-ok's Event.
        let m = mv(1, key_spec(), None);
        let pods = vec![
            pod("a-plain", None),
            pod("b-ok", Some(terminated(0, VERIFIED))),
        ];
        let lookup = Arc::new(StaticLookup {
            model_validations: vec![],
            ignored_namespaces: vec!["models".into()],
        });
        let s = setup_with(&[&m], pods, past(), lookup);
        let current = m.clone();
        run(s, m, |mut h| async move {
            let e = expect_event(&mut h).await;
            assert_eq!(e["reason"], REASON_VERIFIED);
            assert_eq!(e["regarding"]["name"], "b-ok");
            expect_event(&mut h).await;
            let status = expect_status_patch(&mut h, &current).await;
            assert_eq!(status["verifiedPodCount"], 1);
            assert_eq!(status["uninjectedPodCount"], 0);
            h
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_panicking_reconcile_fails_alone() {
        struct Buggy;
        impl ModelValidationLookup for Buggy {
            fn namespace_ignored(&self, _: &str) -> bool {
                panic!("bug in a lookup")
            }
            fn in_namespace(&self, _: &str) -> Vec<Arc<ModelValidation>> {
                vec![]
            }
        }
        let m = mv(1, key_spec(), None);
        let s = setup_with(&[&m], vec![], past(), Arc::new(Buggy));
        let err = run(s, m, |h| async move { h }).await.unwrap_err();
        assert_eq!(err.reason(), "Panicked");
        assert!(err.to_string().contains("bug in a lookup"), "{err}");
    }

    /// A pod the upstream operator injected: its finalizer and annotations, its init container
    /// (a `model_signing` run that exited 0 without a report), no annotation of this operator.
    fn upstream_pod(name: &str, terminating: bool) -> Pod {
        let mut p = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "models", "uid": format!("uid-{name}"),
                         "labels": {POD_LABEL: "demo"},
                         "finalizers": ["other.example.com/keep", crate::finalizer::UPSTREAM_FINALIZER],
                         "annotations": {
                             "validation.ml.sigstore.dev/injected-at": "2026-01-01T00:00:00Z",
                             "validation.ml.sigstore.dev/auth-method": "public-key",
                             "validation.ml.sigstore.dev/config-hash": "0123456789abcdef",
                             "validation.ml.sigstore.dev/continuous-validation": "true"}},
            "spec": {"containers": [{"name": "app", "image": "app"}],
                     "initContainers": [{"name": INIT_CONTAINER_NAME, "image": "agent"}]},
        });
        if terminating {
            p["metadata"]["deletionTimestamp"] = json!("2030-01-01T00:00:00Z");
        }
        serde_json::from_value(p).unwrap()
    }

    #[tokio::test]
    async fn upstreams_finalizer_is_removed_from_running_and_terminating_pods() {
        let m = mv(1, key_spec(), None);
        let pods = vec![
            upstream_pod("a-running", false),
            upstream_pod("b-terminating", true),
        ];
        let s = setup(&[&m], pods, past());
        let current = m.clone();
        run(s, m, |mut h| async move {
            for name in ["a-running", "b-terminating"] {
                let (req, send) = h.next_request().await.expect("a pod patch");
                assert_eq!(req.method(), Method::PATCH);
                assert_eq!(
                    req.uri().path(),
                    format!("/api/v1/namespaces/models/pods/{name}")
                );
                assert_eq!(req.headers()["content-type"], "application/json-patch+json");
                let patch = body_json(req).await;
                assert_eq!(
                    patch,
                    json!([
                        {"op": "test", "path": "/metadata/finalizers",
                         "value": ["other.example.com/keep", crate::finalizer::UPSTREAM_FINALIZER]},
                        {"op": "remove", "path": "/metadata/finalizers/1"}
                    ])
                );
                let pod = serde_json::to_vec(&upstream_pod(name, false)).unwrap();
                send.send_response(Response::builder().body(Body::from(pod)).unwrap());
            }
            // upstream's annotations make them neither this operator's nor unknown: injected
            // (by another operator, so orphaned), no Events about a result they never reported
            let status = expect_status_patch(&mut h, &current).await;
            assert_eq!(status["injectedPodCount"], 2);
            assert_eq!(status["orphanedPodCount"], 2);
            assert_eq!(status["uninjectedPodCount"], 0);
            h
        })
        .await
        .unwrap();
    }

    #[test]
    fn continuous_specs_are_ready_and_unsupported_ones_say_why() {
        let ready = |spec: Value| {
            let status = desired_status(&mv(1, spec, None), &[], past());
            let c = status.conditions[0].clone();
            (c.status, c.reason, c.message, status.auth_method)
        };
        let (status, reason, message, method) = ready(json!({
            "model": {"path": "/data/model"}, "config": {"publicKeyConfig": {"keyPath": "/k"}},
            "continuousValidation": {"enabled": true, "interval": "10m"}}));
        assert_eq!((status.as_str(), reason.as_str()), ("True", "Valid"));
        assert!(message.contains("keep checking it every 600s"), "{message}");
        assert_eq!(method.as_deref(), Some("public-key"));
        // disabled: nothing to report
        let (status, ..) = ready(json!({
            "model": {"path": "/data/model"}, "config": {"publicKeyConfig": {"keyPath": "/k"}},
            "continuousValidation": {"enabled": false, "interval": "5m"}}));
        assert_eq!(status, "True");
        for (field, path) in [
            ("path", "s3://bucket/model"),
            ("signaturePath", "https://h/m.sig"),
        ] {
            let mut spec = json!({"model": {"path": "/data/model"},
                                  "config": {"pkiConfig": {"certificateAuthority": "/ca"}}});
            spec["model"][field] = json!(path);
            let (status, reason, message, _) = ready(spec);
            assert_eq!(
                (status.as_str(), reason.as_str()),
                ("False", "UnsupportedRemoteLocation")
            );
            assert!(
                message.contains(path) && message.contains("not supported"),
                "{message}"
            );
        }
    }

    #[test]
    fn a_new_leader_announces_runs_that_ended_during_the_hand_over() {
        let start: Timestamp = "2030-01-01T00:01:00Z".parse().unwrap();
        let since = announce_since(start);
        // Ended 30 s before this leader started (no leader at the time): announced.
        let during: Timestamp = "2030-01-01T00:00:30Z".parse().unwrap();
        assert!(during >= since);
        // Ended two minutes before: announced by the previous leader, not again.
        let before: Timestamp = "2029-12-31T23:59:00Z".parse().unwrap();
        assert!(before < since);
    }

    #[tokio::test]
    async fn results_from_before_this_leader_are_counted_but_not_announced() {
        let ok = pod("old", Some(terminated(0, "")));
        let m = mv(1, key_spec(), None);
        // finishedAt 2030-01-01 is before "since"
        let since: Timestamp = "2031-01-01T00:00:00Z".parse().unwrap();
        let s = setup(&[&m], vec![ok], since);
        let current = m.clone();
        let metrics = s.ctx.metrics.clone();
        run(s, m, |mut h| async move {
            let status = expect_status_patch(&mut h, &current).await;
            assert_eq!(status["verifiedPodCount"], 1);
            h
        })
        .await
        .unwrap();
        assert!(
            !metrics
                .encode()
                .unwrap()
                .contains("model_validation_verifications_total{")
        );
    }

    #[tokio::test]
    async fn a_deleted_model_validation_is_left_alone() {
        let mut m = mv(1, key_spec(), None);
        m.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
        let s = setup(&[&m], vec![pod("p", Some(terminated(1, "")))], past());
        let action = run(s, m, |h| async move { h }).await.unwrap();
        assert_eq!(action, Action::await_change());
        // pods naming a ModelValidation that no longer exists map to nothing in the store
        let (store, _w) = reflector::store::<ModelValidation>();
        let mut p = pod("q", None);
        p.metadata
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_LABEL.into(), "true".into());
        assert!(model_validations_for_pod(&p, &store).is_empty());
    }

    #[test]
    fn pod_events_trigger_the_model_validations_they_concern() {
        let (store, mut w) = reflector::store::<ModelValidation>();
        let mut other = mv(1, key_spec(), None);
        other.metadata.name = Some("other".into());
        for m in [mv(1, key_spec(), None), other] {
            w.apply_watcher_event(&watcher::Event::Apply(m));
        }
        let mut named = pod("p", None);
        named
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_LABEL.into(), "demo".into());
        let any = pod("q", None); // label "true": every ModelValidation of the namespace
        let names = |event: watcher::Event<Pod>| -> Vec<String> {
            let mut n: Vec<String> = triggers_for(&cached_event(event), &store)
                .into_iter()
                .map(|r| r.name)
                .collect();
            n.sort();
            n
        };
        let cases: [(watcher::Event<Pod>, &[&str]); 6] = [
            (watcher::Event::Apply(named.clone()), &["demo"]),
            (watcher::Event::Delete(named.clone()), &["demo"]),
            (watcher::Event::Apply(any.clone()), &["demo", "other"]),
            // during a relist nothing; when it completes, every ModelValidation
            (watcher::Event::Init, &[]),
            (watcher::Event::InitApply(named), &[]),
            (watcher::Event::InitDone, &["demo", "other"]),
        ];
        for (event, want) in cases {
            let label = format!("{event:?}");
            assert_eq!(names(event), want, "{label}");
        }
    }

    #[tokio::test]
    async fn a_failed_status_write_is_an_error_with_a_reason() {
        let m = mv(1, key_spec(), None);
        let s = setup(&[&m], vec![], past());
        let err = run(s, m, |mut h| async move {
            let (_, send) = h.next_request().await.unwrap();
            send.send_response(Response::builder().status(403).body(Body::from(serde_json::to_vec(&json!({
                "kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "forbidden", "reason": "Forbidden", "code": 403
            })).unwrap())).unwrap());
            h
        })
        .await
        .unwrap_err();
        assert_eq!(err.reason(), "WriteStatusFailed");
        assert!(err.to_string().contains("models/demo"));
    }

    #[test]
    fn pods_belong_by_annotation_then_label() {
        let injected = pod("a", Some(Value::Null));
        assert!(belongs(&injected, "demo", 3));
        assert!(!belongs(&injected, "other", 1));
        let plain = pod("b", None);
        assert!(belongs(&plain, "demo", 1));
        assert!(!belongs(&plain, "demo", 2));
        let mut named = pod("c", None);
        named
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_LABEL.into(), "other".into());
        assert!(belongs(&named, "other", 2));
        assert!(!belongs(&named, "demo", 2));
    }

    #[test]
    fn the_report_the_verifier_writes_is_the_report_the_controller_reads() {
        let report = TerminationReport {
            outcome: ReportOutcome::Verified,
            method: "sigstore".into(),
            root_digest: Some("sha256:abcd".into()),
            files: Some(12),
            bytes: Some(1 << 30),
            seconds: Some(1.25),
            reason: None,
            warn_only: false,
        };
        let line = serde_json::to_string(&report).unwrap();
        assert!(!line.contains('\n'));
        assert!(
            line.contains("\"rootDigest\":\"sha256:abcd\"")
                && line.contains("\"outcome\":\"verified\""),
            "{line}"
        );
        // whatever the verifier logged before it, the last JSON line counts
        let p = pod("x", Some(terminated(0, &format!("starting\n{line}\n"))));
        match classify(&p) {
            PodState::Verified {
                report: Some(r), ..
            } => assert_eq!(r, report),
            other => panic!("{other:?}"),
        }
        let failed = TerminationReport {
            outcome: ReportOutcome::Failed,
            reason: Some("x".into()),
            warn_only: true,
            ..report
        };
        let p = pod(
            "y",
            Some(terminated(0, &serde_json::to_string(&failed).unwrap())),
        );
        assert!(matches!(
            classify(&p),
            PodState::Failed {
                warn_only: true,
                ..
            }
        ));
        // a "verified" report with a non-zero exit code is not trusted
        let ok = serde_json::to_string(&TerminationReport {
            outcome: ReportOutcome::Verified,
            ..failed
        })
        .unwrap();
        let p = pod("z", Some(terminated(1, &ok)));
        assert!(matches!(classify(&p), PodState::Failed { .. }));
    }

    #[test]
    fn a_restarting_verifier_is_read_from_its_last_state() {
        let p = pod(
            "r",
            Some(
                json!({"name": INIT_CONTAINER_NAME, "image": "v", "imageID": "", "ready": false,
            "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "message": "Verification failed with error: boom", "containerID": "c://1"}}}),
            ),
        );
        match classify(&p) {
            PodState::Failed { reason, run, .. } => {
                assert_eq!(reason, "Verification failed with error: boom");
                assert_eq!(run, "c://1#2");
            }
            other => panic!("{other:?}"),
        }
    }
}
