//! Prometheus metrics (prometheus-client), served on `/metrics` in the OpenMetrics text format.
//!
//! Labels are bounded enums or short fixed strings (`result`, `method`, `outcome`, `reason`),
//! never error texts. The exception are the metrics under upstream's names
//! (`model_validation_operator_*`, kept so that dashboards built for the upstream operator keep
//! working): like upstream they carry the `namespace` and `model_validation` of each
//! ModelValidation, whose number the cluster's administrators control; series of deleted
//! ModelValidations are removed.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
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

/// `namespace` label (upstream's metrics).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NamespaceLabel {
    /// Namespace of the ModelValidations.
    pub namespace: String,
}

/// `namespace`, `model_validation`, `pod_state` labels (upstream's pod-count gauge).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PodCountLabels {
    /// Namespace of the ModelValidation.
    pub namespace: String,
    /// Its name.
    pub model_validation: String,
    /// `injected`, `uninjected` or `orphaned`.
    pub pod_state: String,
}

/// `namespace`, `model_validation`, `result` labels (upstream's status-update counter).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusUpdateLabels {
    /// Namespace of the ModelValidation.
    pub namespace: String,
    /// Its name.
    pub model_validation: String,
    /// `success` or `failure`.
    pub result: String,
}

/// ModelValidations (namespace, name) and namespaces that have series.
type Published = (HashSet<(String, String)>, HashSet<String>);

/// The pod states of upstream's `modelvalidation_pod_count`, with the status field of each.
pub const POD_STATES: [&str; 3] = ["injected", "uninjected", "orphaned"];

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
    /// Reconcile durations (the work of one reconcile, including its API writes).
    pub reconcile_duration: Histogram,
    /// Reconciles that failed, by reason.
    pub reconcile_errors: Family<ReasonLabel, Counter>,
    /// 1 while this replica holds the leader Lease.
    pub leader: Gauge,
    /// Upstream's `model_validation_operator_modelvalidation_pod_count`.
    pub pod_count: Family<PodCountLabels, Gauge>,
    /// Upstream's `model_validation_operator_modelvalidation_crs_total` (a gauge).
    pub model_validations: Family<NamespaceLabel, Gauge>,
    /// Upstream's `model_validation_operator_status_updates_total`.
    pub status_updates: Family<StatusUpdateLabels, Counter>,
    /// ModelValidations and namespaces with series, to remove them later.
    published: Arc<Mutex<Published>>,
    /// Pods found with a `model-validation` container the webhook did not inject.
    pub tampered_pods: Counter,
    /// Drift reported by continuous-validation sidecars, by event.
    pub model_drift: Family<DriftLabel, Counter>,
}

/// `event` label of the drift counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabel {
    /// `detected` or `resolved`.
    pub event: String,
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
        // 1 ms .. ~16 s
        let reconcile_duration = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 15),
        );
        registry.register_with_unit(
            "reconcile_duration",
            "Time one ModelValidation reconcile took, its status and Event writes included",
            prometheus_client::registry::Unit::Seconds,
            reconcile_duration.clone(),
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
        let model_drift = Family::<DriftLabel, Counter>::default();
        registry.register(
            "model_drift",
            "Model drift reported by continuous-validation sidecars (each change once per leader), by event (detected, resolved)",
            model_drift.clone(),
        );
        // upstream's names: model_validation_operator_*
        let upstream = registry.sub_registry_with_prefix("operator");
        let pod_count = Family::<PodCountLabels, Gauge>::default();
        upstream.register(
            "modelvalidation_pod_count",
            "Pods per ModelValidation and state (injected, uninjected, orphaned), as in its status",
            pod_count.clone(),
        );
        let model_validations = Family::<NamespaceLabel, Gauge>::default();
        upstream.register(
            "modelvalidation_crs_total",
            "ModelValidations per namespace",
            model_validations.clone(),
        );
        let status_updates = Family::<StatusUpdateLabels, Counter>::default();
        upstream.register(
            "status_updates",
            "Writes of a ModelValidation's status, by result (success, failure)",
            status_updates.clone(),
        );
        Self {
            registry: Arc::new(registry),
            admission_requests,
            admission_duration,
            verifications,
            reconciles,
            reconcile_duration,
            reconcile_errors,
            leader,
            pod_count,
            model_validations,
            status_updates,
            published: Arc::default(),
            tampered_pods,
            model_drift,
        }
    }

    /// Counts a drift Event (`detected` or `resolved`).
    pub fn observe_drift(&self, event: &str) {
        self.model_drift
            .get_or_create(&DriftLabel {
                event: event.to_owned(),
            })
            .inc();
    }

    /// Publishes the counts of ModelValidation `namespace/name` (upstream's pod-count gauge)
    /// and the number of ModelValidations per namespace from `live` (every ModelValidation
    /// that exists, as (namespace, name)); removes the series of those that no longer exist.
    pub fn observe_model_validations(
        &self,
        live: &[(String, String)],
        counts: Option<(&str, &str, [i64; 3])>,
    ) {
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (mvs, namespaces) = &mut *published;
        let live_set: HashSet<(String, String)> = live.iter().cloned().collect();
        for (ns, name) in mvs.iter().filter(|k| !live_set.contains(*k)) {
            for state in POD_STATES {
                self.pod_count.remove(&PodCountLabels {
                    namespace: ns.clone(),
                    model_validation: name.clone(),
                    pod_state: state.to_owned(),
                });
            }
        }
        mvs.retain(|k| live_set.contains(k));
        let mut per_ns: BTreeMap<&str, i64> = BTreeMap::new();
        for (ns, _) in live {
            *per_ns.entry(ns).or_default() += 1;
        }
        for ns in namespaces
            .iter()
            .filter(|n| !per_ns.contains_key(n.as_str()))
        {
            self.model_validations.remove(&NamespaceLabel {
                namespace: ns.clone(),
            });
        }
        namespaces.clear();
        for (ns, n) in per_ns {
            self.model_validations
                .get_or_create(&NamespaceLabel {
                    namespace: ns.to_owned(),
                })
                .set(n);
            namespaces.insert(ns.to_owned());
        }
        if let Some((ns, name, values)) = counts
            && live_set.contains(&(ns.to_owned(), name.to_owned()))
        {
            for (state, v) in POD_STATES.into_iter().zip(values) {
                self.pod_count
                    .get_or_create(&PodCountLabels {
                        namespace: ns.to_owned(),
                        model_validation: name.to_owned(),
                        pod_state: state.to_owned(),
                    })
                    .set(v);
            }
            mvs.insert((ns.to_owned(), name.to_owned()));
        }
    }

    /// Counts one write of a ModelValidation's status.
    pub fn observe_status_update(&self, namespace: &str, name: &str, ok: bool) {
        self.status_updates
            .get_or_create(&StatusUpdateLabels {
                namespace: namespace.to_owned(),
                model_validation: name.to_owned(),
                result: if ok { "success" } else { "failure" }.to_owned(),
            })
            .inc();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn live(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn upstreams_metric_names_are_exposed() {
        let m = Metrics::new();
        m.observe_model_validations(
            &live(&[("ns1", "a"), ("ns1", "b"), ("ns2", "c")]),
            Some(("ns1", "a", [3, 1, 2])),
        );
        m.observe_status_update("ns1", "a", true);
        m.observe_status_update("ns1", "a", false);
        let text = m.encode().unwrap();
        for line in [
            r#"model_validation_operator_modelvalidation_pod_count{namespace="ns1",model_validation="a",pod_state="injected"} 3"#,
            r#"model_validation_operator_modelvalidation_pod_count{namespace="ns1",model_validation="a",pod_state="uninjected"} 1"#,
            r#"model_validation_operator_modelvalidation_pod_count{namespace="ns1",model_validation="a",pod_state="orphaned"} 2"#,
            r#"model_validation_operator_modelvalidation_crs_total{namespace="ns1"} 2"#,
            r#"model_validation_operator_modelvalidation_crs_total{namespace="ns2"} 1"#,
            r#"model_validation_operator_status_updates_total{namespace="ns1",model_validation="a",result="success"} 1"#,
            r#"model_validation_operator_status_updates_total{namespace="ns1",model_validation="a",result="failure"} 1"#,
            // this project's own names stay
            "# TYPE model_validation_admission_duration_seconds histogram",
            "# TYPE model_validation_reconciles counter",
            "# TYPE model_validation_leader gauge",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn series_of_deleted_model_validations_are_removed() {
        let m = Metrics::new();
        m.observe_model_validations(
            &live(&[("ns1", "a"), ("ns2", "c")]),
            Some(("ns1", "a", [1, 0, 0])),
        );
        m.observe_model_validations(&live(&[("ns2", "c")]), None);
        let text = m.encode().unwrap();
        assert!(!text.contains(r#"model_validation="a""#), "{text}");
        assert!(!text.contains(r#"namespace="ns1""#), "{text}");
        assert!(
            text.contains(
                r#"model_validation_operator_modelvalidation_crs_total{namespace="ns2"} 1"#
            )
        );
        // a reconcile of an object already gone publishes nothing for it
        m.observe_model_validations(&live(&[("ns2", "c")]), Some(("ns1", "a", [1, 0, 0])));
        assert!(!m.encode().unwrap().contains(r#"model_validation="a""#));
    }
}
