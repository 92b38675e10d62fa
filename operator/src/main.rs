//! `model-validation-operator`: the pod-mutating webhook (every replica) and the ModelValidation
//! controller (the Lease holder only).
//!
//! Ports: webhook HTTPS `--webhook-bind-address` (`:9443`, `POST /mutate-v1-pod`); probes
//! `--health-probe-bind-address` (`:8081`, `/healthz`, `/readyz`); metrics
//! `--metrics-bind-address` (`:8080`, `/metrics`; `0` turns it off).
//!
//! `--dev` serves `https://localhost:9443` with a freshly generated self-signed certificate and
//! works without a cluster (then every labelled pod is denied: no ModelValidation is known).
//! `--dev --dev-model-validations FILE` takes the ModelValidations from a YAML/JSON file instead
//! and contacts no cluster at all (see [`model_validation_operator::dev`]).
//!
//! API calls (RBAC): `modelvalidations` get/list/watch, `modelvalidations/status` patch,
//! `namespaces` list/watch, `pods` list/watch, `events.k8s.io` `events` create/patch, and with
//! `--leader-elect` `coordination.k8s.io` `leases` get/create/update in the Lease namespace.

// House rule (issue 19): no function over 120 lines of code outside tests.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

mod args;
mod runtime;

use std::process::ExitCode;

use clap::Parser;
use model_validation_operator::{dev, telemetry};

use crate::args::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = telemetry::init(args.log.log_format, &args.log.log_level) {
        eprintln!("error: cannot set up logging: {e}");
        return ExitCode::from(2);
    }
    let dev_model_validations = match args
        .dev
        .dev_model_validations
        .as_deref()
        .map(dev::load_model_validations)
    {
        None => None,
        Some(Ok(mvs)) => Some(mvs),
        Some(Err(e)) => {
            eprintln!("error: {:#}", anyhow::Error::new(e));
            return ExitCode::from(2);
        }
    };
    // One crypto provider for every TLS user (kube client, webhook server): aws-lc-rs.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let tokio_runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match tokio_runtime.block_on(runtime::run(args, dev_model_validations)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "Exiting");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
