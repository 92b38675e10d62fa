//! Prometheus metrics (prometheus-client), served on `/metrics` in the OpenMetrics text format.
//!
//! Labels are bounded enums or short fixed strings (`result`, `method`, `outcome`, `reason`),
//! never error texts or object names, so the number of series stays small.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// `result` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// e.g. `injected`, `skipped`, `denied`, `invalid`.
    pub result: String,
}

/// `method` and `outcome` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerificationLabels {
    /// `sigstore`, `key`, `certificate` or `unknown`.
    pub method: String,
    /// `verified` or `failed`.
    pub outcome: String,
}

/// `reason` label of reconcile errors.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// A CamelCase reason from `controller::Error::reason`.
    pub reason: String,
}

/// Every metric of the operator, cheap to clone.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Admission requests by result.
    pub admission_requests: Family<ResultLabel, Counter>,
    /// Time to answer an admission request.
    pub admission_duration: Histogram,
    /// Verifier results seen on pods, by method and outcome.
    pub verifications: Family<VerificationLabels, Counter>,
    /// Reconciles run.
    pub reconciles: Counter,
    /// Reconciles that failed, by reason.
    pub reconcile_errors: Family<ReasonLabel, Counter>,
    /// 1 while this replica holds the leader Lease.
    pub leader: Gauge,
    /// Pods found with a `model-validation` container the webhook did not inject.
    pub tampered_pods: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered under the `model_validation` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("model_validation");
        let admission_requests = Family::<ResultLabel, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission requests answered, by result (injected, skipped, denied, invalid)",
            admission_requests.clone(),
        );
        // 0.5 ms .. ~1 s
        let admission_duration = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 12),
        );
        registry.register_with_unit(
            "admission_duration",
            "Time to decide on an admission request",
            prometheus_client::registry::Unit::Seconds,
            admission_duration.clone(),
        );
        let verifications = Family::<VerificationLabels, Counter>::default();
        registry.register(
            "verifications",
            "Verifier results seen by this leader (each run once), by method and outcome",
            verifications.clone(),
        );
        let reconciles = Counter::default();
        registry.register(
            "reconciles",
            "ModelValidation reconciles run",
            reconciles.clone(),
        );
        let reconcile_errors = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "reconcile_errors",
            "ModelValidation reconciles that failed, by reason",
            reconcile_errors.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica runs the controller (holds the Lease)",
            leader.clone(),
        );
        let tampered_pods = Counter::default();
        registry.register(
            "tampered_pods",
            "Pods found with a model-validation container that is not the one the webhook injected (each pod once per leader)",
            tampered_pods.clone(),
        );
        Self {
            registry: Arc::new(registry),
            admission_requests,
            admission_duration,
            verifications,
            reconciles,
            reconcile_errors,
            leader,
            tampered_pods,
        }
    }

    /// Counts one admission decision and its latency.
    pub fn observe_admission(&self, result: &str, took: Duration) {
        self.admission_requests
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
        self.admission_duration.observe(took.as_secs_f64());
    }

    /// Counts one verifier result.
    pub fn observe_verification(&self, method: &str, outcome: &str) {
        self.verifications
            .get_or_create(&VerificationLabels {
                method: method.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
