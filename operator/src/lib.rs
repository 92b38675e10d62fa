//! model-validation-operator: keeps unverified AI models away from Kubernetes workloads.
//!
//! * [`crd`]: the `ModelValidation` API and its translation into the verifier's command line;
//! * [`admission`]: the pure pod mutation (which pods, which ModelValidation, what is injected);
//! * [`sidecar`]: the continuous-validation sidecar (`model-verifier watch`);
//! * [`webhook`]: the HTTPS server around it (axum + rustls, certificate reload);
//! * [`telemetry`]: logging setup;
//! * [`dev`]: ModelValidations from a file for `--dev` without a cluster.

// House rule (issue 19): no function over 120 lines of code outside tests.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

pub mod admin;
pub mod admission;
pub mod cache;
pub mod controller;
pub mod crd;
pub mod dev;
pub mod digest;
pub mod drift;
pub mod finalizer;
pub mod fingerprint;
pub mod inject;
pub mod lease;
pub mod metrics;
pub mod podcache;
pub mod policy;
pub mod reserved;
pub mod sidecar;
pub mod telemetry;
pub mod webhook;
pub mod workload;
