//! The ModelValidation controller: status (`Ready` condition, pod counts), Events, metrics.
//!
//! It watches `ModelValidation`s and the pods that carry the label, and runs only on the
//! leader (see [`crate::lease`]). The decisions are pure functions
//! ([`classify`], [`desired_status`]) over cached objects; [`reconcile`] performs the writes:
//! the status subresource (only when it changed) and Events. The only pod write is the removal
//! of the upstream operator's finalizer ([`crate::finalizer`]).

mod announce;
mod assess;
mod reconcile;
mod run;
mod status;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;

pub use announce::{Announcement, announcement};
pub use assess::{PodState, assess, belongs, classify, model_validations_for_pod};
pub use reconcile::{error_policy, reconcile};
pub use run::{run, triggers_for};
pub use status::desired_status;

use crate::cache::ModelValidationLookup;
use crate::crd::ModelValidation;
use crate::inject::InjectConfig;
use crate::metrics::Metrics;
use crate::podcache::PodCache;

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
