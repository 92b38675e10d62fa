//! The admission webhook's HTTPS server (`POST /mutate-v1-pod`, `/mutate-v1-pod-required`,
//! `/warn-v1-workload`; rustls); the plain-HTTP admin
//! endpoints are in [`crate::admin`].
//!
//! This module owns transport only: decisions come from [`crate::admission`]. The serving
//! certificate is read from files and re-read when their content changes (polling, which also
//! sees kubelet's atomic `..data` symlink swap on Secret volumes, unlike a file watch), so
//! cert-manager rotations need no restart. Bad input never produces a 5xx.

pub mod tls;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::admission::{self, Entry, Outcome};
use crate::cache::{LiveLookup, ModelValidationLookup, Overlay};
use crate::inject::InjectConfig;
use crate::metrics::Metrics;

/// Largest AdmissionReview accepted (a pod is at most ~1.5 MiB in etcd; a review can carry it
/// twice).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// How long the webhook waits for the API server when its cache lacks a ModelValidation.
pub const LIVE_LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// What the webhook handler needs.
#[derive(Clone)]
pub struct WebhookState {
    /// ModelValidations and namespaces (a reflector cache in production).
    pub lookup: Arc<dyn ModelValidationLookup + Send + Sync>,
    /// Asked when the cache has no matching ModelValidation (it may lag a fresh object);
    /// `None`: the cache's answer is final.
    pub live: Option<Arc<dyn LiveLookup>>,
    /// What to inject.
    pub config: Arc<InjectConfig>,
    /// Where to count.
    pub metrics: Metrics,
}

impl std::fmt::Debug for WebhookState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The webhook's routes.
pub fn router(state: WebhookState) -> Router {
    Router::new()
        .route("/mutate-v1-pod", post(mutate_labelled_pod))
        .route("/mutate-v1-pod-required", post(mutate_required_pod))
        .route("/warn-v1-workload", post(warn_workload))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// [`admission::admit`], with a panic turned into an answer for this request only.
fn admit_guarded(
    entry: Route,
    body: &[u8],
    lookup: &dyn ModelValidationLookup,
    config: &InjectConfig,
) -> admission::Decision {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match entry {
        Route::Pod(entry) => admission::admit_from(entry, body, lookup, config),
        Route::Workload => crate::workload::review(body, lookup, config),
    }))
    .unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-text panic payload".to_owned());
        match entry {
            Route::Pod(_) => admission::after_panic(body, &message),
            // the workload entry only ever warns, a bug included
            Route::Workload => crate::workload::after_panic(body, &message),
        }
    })
}

/// What a path decides on.
#[derive(Debug, Clone, Copy)]
enum Route {
    /// Pod CREATEs from this webhook entry.
    Pod(Entry),
    /// Workloads (warnings only).
    Workload,
}

async fn mutate_labelled_pod(state: State<WebhookState>, body: Bytes) -> Response {
    answer(Route::Pod(Entry::Labelled), state, body).await
}

async fn mutate_required_pod(state: State<WebhookState>, body: Bytes) -> Response {
    answer(Route::Pod(Entry::RequiredNamespace), state, body).await
}

async fn warn_workload(state: State<WebhookState>, body: Bytes) -> Response {
    answer(Route::Workload, state, body).await
}

async fn answer(entry: Route, State(state): State<WebhookState>, body: Bytes) -> Response {
    let started = Instant::now();
    let mut decision = admit_guarded(entry, &body, state.lookup.as_ref(), &state.config);
    if let (Some(miss), Some(live)) = (decision.cache_miss.clone(), state.live.as_ref()) {
        // The cache may lag a ModelValidation created a moment before the pod.
        match tokio::time::timeout(
            LIVE_LOOKUP_TIMEOUT,
            live.model_validations(&miss.namespace, miss.name.as_deref()),
        )
        .await
        {
            Ok(Ok(found)) if !found.is_empty() => {
                let overlay = Overlay {
                    base: state.lookup.as_ref(),
                    extra: found,
                };
                decision = admit_guarded(entry, &body, &overlay, &state.config);
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, ns = %miss.namespace, "Live ModelValidation lookup failed; the cache's answer stands")
            }
            Err(_) => {
                tracing::warn!(ns = %miss.namespace, "Live ModelValidation lookup timed out; the cache's answer stands")
            }
        }
    }
    let took = started.elapsed();
    if let Route::Workload = entry {
        let warnings = decision.response.warnings.as_deref().unwrap_or_default();
        tracing::debug!(
            ns = decision.namespace.as_deref().unwrap_or(""),
            workload = decision.pod.as_deref().unwrap_or(""),
            warnings = warnings.len(),
            "Workload review"
        );
        return (StatusCode::OK, axum::Json(review_json(&decision))).into_response();
    }
    state
        .metrics
        .observe_admission(decision.outcome.result_label(), took);
    let ns = decision.namespace.as_deref().unwrap_or("");
    let pod = decision.pod.as_deref().unwrap_or("");
    let uid = decision.response.uid.as_str();
    let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    match &decision.outcome {
        Outcome::Injected { model_validation } => tracing::info!(
            ns,
            pod,
            uid,
            model_validation = %model_validation,
            micros,
            outcome = "injected",
            "Admission"
        ),
        Outcome::VerifiedByDigest {
            model_validation,
            digests,
        } => tracing::info!(
            ns,
            pod,
            uid,
            model_validation = %model_validation,
            digests = %digests.join(","),
            micros,
            outcome = "verified-by-digest",
            "Admission"
        ),
        Outcome::Skipped { reason } => tracing::info!(
            ns,
            pod,
            uid,
            reason,
            micros,
            outcome = "skipped",
            "Admission"
        ),
        Outcome::Denied { reason } => tracing::info!(
            ns,
            pod,
            uid,
            reason = %reason,
            micros,
            outcome = "denied",
            "Admission"
        ),
        Outcome::Invalid { message } => tracing::warn!(
            ns,
            pod,
            uid,
            reason = %message,
            micros,
            outcome = "invalid",
            "Admission"
        ),
    }
    (StatusCode::OK, axum::Json(review_json(&decision))).into_response()
}

/// The AdmissionReview as JSON, with the patch base64-encoded as Go's `[]byte` is (kube-rs
/// renders it as an array of numbers, which the API server also reads, but the string is what
/// every other webhook sends).
pub fn review_json(decision: &admission::Decision) -> serde_json::Value {
    use base64::Engine as _;
    let mut review = serde_json::to_value(decision.review()).unwrap_or_else(|e| {
        serde_json::json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": decision.response.uid, "allowed": false,
                         "status": {"code": 500, "message": format!("cannot encode the response: {e}")}}
        })
    });
    if let Some(patch) = &decision.response.patch
        && let Some(slot) = review.pointer_mut("/response/patch")
    {
        *slot = serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(patch));
    }
    review
}
