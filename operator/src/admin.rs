//! The plain-HTTP admin endpoints: `/healthz`, `/readyz` (this replica's [`Readiness`]) and
//! `/metrics` (OpenMetrics text), served on `--health-probe-bind-address` and
//! `--metrics-bind-address` (one server when both name the same address).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::metrics::Metrics;

/// Readiness of this replica, as `/readyz` reports it.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    caches_synced: Arc<AtomicBool>,
    serving: Arc<AtomicBool>,
    webhook_enabled: bool,
}

impl Readiness {
    /// `webhook_enabled`: whether `/readyz` waits for the webhook to serve.
    pub fn new(webhook_enabled: bool) -> Self {
        Self {
            webhook_enabled,
            ..Self::default()
        }
    }
    /// Marks the ModelValidation and namespace caches as filled.
    pub fn set_caches_synced(&self) {
        self.caches_synced.store(true, Ordering::SeqCst);
    }
    /// Whether the caches are filled.
    pub fn caches_synced(&self) -> bool {
        self.caches_synced.load(Ordering::SeqCst)
    }
    /// Marks the webhook as listening with a certificate.
    pub fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::SeqCst);
    }
    /// What is still missing (empty: ready).
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.caches_synced() {
            out.push("ModelValidation cache not synced");
        }
        if self.webhook_enabled && !self.serving.load(Ordering::SeqCst) {
            out.push("webhook not serving");
        }
        out
    }
}

/// State of the admin endpoints.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// Readiness flags.
    pub readiness: Readiness,
    /// Metrics to expose.
    pub metrics: Metrics,
}

/// `/healthz`, `/readyz` and `/metrics`.
pub fn admin_router(state: AdminState) -> Router {
    probe_router(state.clone()).merge(metrics_router(state))
}

/// `/healthz` and `/readyz` only.
pub fn probe_router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// `/metrics` only.
pub fn metrics_router(state: AdminState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let missing = state.readiness.missing();
    if missing.is_empty() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", missing.join(", ")),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<AdminState>) -> Response {
    match state.metrics.encode() {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {e}\n"),
        )
            .into_response(),
    }
}

/// Serves `router` over plain HTTP until `shutdown` resolves.
pub async fn serve_plain(
    addr: SocketAddr,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
