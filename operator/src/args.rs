//! The operator's command line (every flag also reads an environment variable), in groups that
//! `--help` shows under their own headings. Part of the binary, not the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args as FlagGroup, Parser};
use model_validation_operator::inject::DEFAULT_VERIFIER_COMMAND;
use model_validation_operator::telemetry::LogFormat;

/// Injects the model verifier into labelled pods and reports what it found.
#[derive(Debug, Parser)]
#[command(version, about)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) verifier: VerifierArgs,
    #[command(flatten)]
    pub(crate) webhook: WebhookArgs,
    #[command(flatten)]
    pub(crate) admin: AdminArgs,
    #[command(flatten)]
    pub(crate) controller: ControllerArgs,
    #[command(flatten)]
    pub(crate) shutdown: ShutdownArgs,
    #[command(flatten)]
    pub(crate) dev: DevArgs,
    #[command(flatten)]
    pub(crate) log: LogArgs,
}

/// What the webhook injects.
#[derive(Debug, FlagGroup)]
#[command(next_help_heading = "Injected verifier")]
pub(crate) struct VerifierArgs {
    /// Image of the verifier container the webhook injects.
    #[arg(long, env = "VERIFIER_IMAGE", default_value = "model-verifier:latest")]
    pub(crate) verifier_image: String,
    /// Command of the injected container (the arguments `verify ...` follow it).
    #[arg(long, env = "VERIFIER_COMMAND", default_value = DEFAULT_VERIFIER_COMMAND)]
    pub(crate) verifier_command: String,
}

/// The admission webhook's server.
#[derive(Debug, FlagGroup)]
#[command(next_help_heading = "Webhook")]
pub(crate) struct WebhookArgs {
    /// Webhook HTTPS address (`:9443` means all interfaces).
    #[arg(long, env = "WEBHOOK_BIND_ADDRESS", default_value = ":9443")]
    pub(crate) webhook_bind_address: String,
    /// Directory with the serving certificate and key (a mounted `kubernetes.io/tls` Secret).
    #[arg(
        long,
        env = "WEBHOOK_CERT_DIR",
        default_value = "/tmp/k8s-webhook-server/serving-certs"
    )]
    pub(crate) webhook_cert_dir: PathBuf,
    /// Certificate file name in the directory.
    #[arg(long, env = "WEBHOOK_CERT_NAME", default_value = "tls.crt")]
    pub(crate) webhook_cert_name: String,
    /// Key file name in the directory.
    #[arg(long, env = "WEBHOOK_KEY_NAME", default_value = "tls.key")]
    pub(crate) webhook_key_name: String,
    /// Seconds between checks of the certificate files for a rotation.
    #[arg(long, env = "WEBHOOK_CERT_POLL_SECONDS", default_value_t = 10)]
    pub(crate) webhook_cert_poll_seconds: u64,
    /// Do not serve the webhook (controller only).
    #[arg(long, env = "DISABLE_WEBHOOK")]
    pub(crate) disable_webhook: bool,
}

/// Probes and metrics.
#[derive(Debug, FlagGroup)]
#[command(next_help_heading = "Probes and metrics")]
pub(crate) struct AdminArgs {
    /// Address of `/healthz` and `/readyz` (plain HTTP).
    #[arg(long, env = "HEALTH_PROBE_BIND_ADDRESS", default_value = ":8081")]
    pub(crate) health_probe_bind_address: String,
    /// Address of `/metrics` (plain HTTP); `0` turns it off.
    #[arg(long, env = "METRICS_BIND_ADDRESS", default_value = ":8080")]
    pub(crate) metrics_bind_address: String,
}

/// The controller and its leader election.
#[derive(Debug, FlagGroup)]
#[command(next_help_heading = "Controller")]
pub(crate) struct ControllerArgs {
    /// Run the controller only on the replica holding the Lease.
    #[arg(long, env = "LEADER_ELECT")]
    pub(crate) leader_elect: bool,
    /// Namespace of the Lease (the operator's own).
    #[arg(
        long,
        env = "POD_NAMESPACE",
        default_value = "model-validation-operator-system"
    )]
    pub(crate) leader_election_namespace: String,
    /// Name of the Lease.
    #[arg(
        long,
        env = "LEADER_ELECTION_ID",
        default_value = "model-validation-operator"
    )]
    pub(crate) leader_election_id: String,
    /// This replica's identity in the Lease (default: the host name, i.e. the pod name).
    #[arg(long, env = "POD_NAME")]
    pub(crate) leader_identity: Option<String>,
    /// Do not run the controller (webhook only).
    #[arg(long, env = "DISABLE_CONTROLLER")]
    pub(crate) disable_controller: bool,
}

/// How the replica stops.
#[derive(Debug, FlagGroup)]
#[command(next_help_heading = "Shutdown")]
pub(crate) struct ShutdownArgs {
    /// Seconds in-flight admissions get to finish after SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE_SECONDS", default_value_t = 8)]
    pub(crate) shutdown_grace_seconds: u64,
    /// Seconds between SIGTERM and closing the webhook listener, while `/readyz` already fails,
    /// so the Service stops routing admissions here before connections are refused.
    #[arg(long, env = "SHUTDOWN_DELAY_SECONDS", default_value_t = 5)]
    pub(crate) shutdown_delay_seconds: u64,
}

/// Local development.
#[derive(Debug, FlagGroup)]
#[command(next_help_heading = "Development")]
pub(crate) struct DevArgs {
    /// Development: self-signed certificate, `https://localhost:9443`, no leader election,
    /// runs without a cluster.
    #[arg(long)]
    pub(crate) dev: bool,
    /// Development (with `--dev`): YAML or JSON file of ModelValidations the webhook uses
    /// instead of a cluster's; no cluster is contacted and the controller does not run.
    #[arg(long, requires = "dev", value_name = "FILE")]
    pub(crate) dev_model_validations: Option<PathBuf>,
}

/// Logging.
#[derive(Debug, FlagGroup)]
#[command(next_help_heading = "Logging")]
pub(crate) struct LogArgs {
    /// Log format (`auto`: JSON unless stderr is a terminal).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub(crate) log_format: LogFormat,
    /// Log filter, e.g. `info` or `model_validation_operator=debug` (`RUST_LOG` wins).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub(crate) log_level: String,
}

/// `:9443` → `0.0.0.0:9443`; `0` → off.
pub(crate) fn bind_address(flag: &str, value: &str) -> anyhow::Result<Option<SocketAddr>> {
    if value == "0" || value.is_empty() {
        return Ok(None);
    }
    let full = if value.starts_with(':') {
        format!("0.0.0.0{value}")
    } else {
        value.to_owned()
    };
    full.parse().map(Some).with_context(|| {
        format!("--{flag} {value:?} is not an address such as :9443 or 127.0.0.1:9443")
    })
}
