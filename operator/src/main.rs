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

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use kube::{Client, ResourceExt as _};
use model_validation_operator::admission::{
    DEFAULT_VERIFIER_COMMAND, InjectConfig, ModelValidationLookup, StaticLookup,
};
use model_validation_operator::cache::Caches;
use model_validation_operator::controller;
use model_validation_operator::crd::ModelValidation;
use model_validation_operator::dev;
use model_validation_operator::lease::{Elector, LeaseConfig, run_while_leader};
use model_validation_operator::metrics::Metrics;
use model_validation_operator::telemetry::{self, LogFormat};
use model_validation_operator::webhook::tls::{self, TlsFiles};
use model_validation_operator::webhook::{self, AdminState, Readiness, WebhookState};
use tokio_util::sync::CancellationToken;

/// Injects the model verifier into labelled pods and reports what it found.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Image of the verifier container the webhook injects.
    #[arg(long, env = "VERIFIER_IMAGE", default_value = "model-verifier:latest")]
    verifier_image: String,
    /// Command of the injected container (the arguments `verify ...` follow it).
    #[arg(long, env = "VERIFIER_COMMAND", default_value = DEFAULT_VERIFIER_COMMAND)]
    verifier_command: String,
    /// Webhook HTTPS address (`:9443` means all interfaces).
    #[arg(long, env = "WEBHOOK_BIND_ADDRESS", default_value = ":9443")]
    webhook_bind_address: String,
    /// Directory with the serving certificate and key (a mounted `kubernetes.io/tls` Secret).
    #[arg(
        long,
        env = "WEBHOOK_CERT_DIR",
        default_value = "/tmp/k8s-webhook-server/serving-certs"
    )]
    webhook_cert_dir: PathBuf,
    /// Certificate file name in the directory.
    #[arg(long, env = "WEBHOOK_CERT_NAME", default_value = "tls.crt")]
    webhook_cert_name: String,
    /// Key file name in the directory.
    #[arg(long, env = "WEBHOOK_KEY_NAME", default_value = "tls.key")]
    webhook_key_name: String,
    /// Seconds between checks of the certificate files for a rotation.
    #[arg(long, env = "WEBHOOK_CERT_POLL_SECONDS", default_value_t = 10)]
    webhook_cert_poll_seconds: u64,
    /// Address of `/healthz` and `/readyz` (plain HTTP).
    #[arg(long, env = "HEALTH_PROBE_BIND_ADDRESS", default_value = ":8081")]
    health_probe_bind_address: String,
    /// Address of `/metrics` (plain HTTP); `0` turns it off.
    #[arg(long, env = "METRICS_BIND_ADDRESS", default_value = ":8080")]
    metrics_bind_address: String,
    /// Run the controller only on the replica holding the Lease.
    #[arg(long, env = "LEADER_ELECT")]
    leader_elect: bool,
    /// Namespace of the Lease (the operator's own).
    #[arg(
        long,
        env = "POD_NAMESPACE",
        default_value = "model-validation-operator-system"
    )]
    leader_election_namespace: String,
    /// Name of the Lease.
    #[arg(
        long,
        env = "LEADER_ELECTION_ID",
        default_value = "model-validation-operator"
    )]
    leader_election_id: String,
    /// This replica's identity in the Lease (default: the host name, i.e. the pod name).
    #[arg(long, env = "POD_NAME")]
    leader_identity: Option<String>,
    /// Do not serve the webhook (controller only).
    #[arg(long, env = "DISABLE_WEBHOOK")]
    disable_webhook: bool,
    /// Do not run the controller (webhook only).
    #[arg(long, env = "DISABLE_CONTROLLER")]
    disable_controller: bool,
    /// Seconds in-flight admissions get to finish after SIGTERM.
    #[arg(long, env = "SHUTDOWN_GRACE_SECONDS", default_value_t = 8)]
    shutdown_grace_seconds: u64,
    /// Seconds between SIGTERM and closing the webhook listener, while `/readyz` already fails,
    /// so the Service stops routing admissions here before connections are refused.
    #[arg(long, env = "SHUTDOWN_DELAY_SECONDS", default_value_t = 5)]
    shutdown_delay_seconds: u64,
    /// Development: self-signed certificate, `https://localhost:9443`, no leader election,
    /// runs without a cluster.
    #[arg(long)]
    dev: bool,
    /// Development (with `--dev`): YAML or JSON file of ModelValidations the webhook uses
    /// instead of a cluster's; no cluster is contacted and the controller does not run.
    #[arg(long, requires = "dev", value_name = "FILE")]
    dev_model_validations: Option<PathBuf>,
    /// Log format (`auto`: JSON unless stderr is a terminal).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `model_validation_operator=debug` (`RUST_LOG` wins).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    log_level: String,
}

/// Read timeout of the leader-election client (each Lease call; the renew deadline is 10 s).
const LEASE_READ_TIMEOUT: Duration = Duration::from_secs(4);

/// `:9443` → `0.0.0.0:9443`; `0` → off.
fn bind_address(flag: &str, value: &str) -> anyhow::Result<Option<SocketAddr>> {
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

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = telemetry::init(args.log_format, &args.log_level) {
        eprintln!("error: cannot set up logging: {e}");
        return ExitCode::from(2);
    }
    let dev_model_validations = match args
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, dev_model_validations)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "Exiting");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run(
    args: Args,
    dev_model_validations: Option<Vec<Arc<ModelValidation>>>,
) -> anyhow::Result<()> {
    let Args {
        verifier_image,
        verifier_command,
        webhook_bind_address,
        webhook_cert_dir,
        webhook_cert_name,
        webhook_key_name,
        webhook_cert_poll_seconds,
        health_probe_bind_address,
        metrics_bind_address,
        leader_elect,
        leader_election_namespace,
        leader_election_id,
        leader_identity,
        disable_webhook,
        disable_controller,
        shutdown_grace_seconds,
        shutdown_delay_seconds,
        dev,
        dev_model_validations: _,
        log_format: _,
        log_level: _,
    } = args;
    let metrics = Metrics::new();
    let readiness = Readiness::new(!disable_webhook);
    let shutdown = CancellationToken::new();
    let mut webhook_addr = bind_address("webhook-bind-address", &webhook_bind_address)?;
    if dev && webhook_bind_address == ":9443" {
        webhook_addr = Some(SocketAddr::from(([127, 0, 0, 1], 9443)));
    }
    let probe_addr = bind_address("health-probe-bind-address", &health_probe_bind_address)?;
    let metrics_addr = bind_address("metrics-bind-address", &metrics_bind_address)?;

    // Cluster access. In --dev a missing cluster is not fatal; with a file, none is contacted.
    let client = match &dev_model_validations {
        Some(mvs) => {
            let names: Vec<String> = mvs
                .iter()
                .map(|m| format!("{}/{}", m.namespace().unwrap_or_default(), m.name_any()))
                .collect();
            tracing::info!(
                count = mvs.len(),
                model_validations = names.join(", "),
                "No cluster: serving the webhook with the ModelValidations of --dev-model-validations"
            );
            None
        }
        None => match Client::try_default().await {
            Ok(c) => Some(c),
            Err(e) if dev => {
                tracing::warn!(error = %e, "No cluster: serving the webhook with no ModelValidations (--dev)");
                None
            }
            Err(e) => {
                return Err(e)
                    .context("cannot build a Kubernetes client (in-cluster config or kubeconfig)");
            }
        },
    };
    let lookup: Arc<dyn ModelValidationLookup + Send + Sync> = match &client {
        Some(c) => Arc::new(Caches::start(c.clone(), readiness.clone())),
        None => {
            readiness.set_caches_synced();
            Arc::new(StaticLookup {
                model_validations: dev_model_validations.unwrap_or_default(),
                ignored_namespaces: Vec::new(),
            })
        }
    };

    let inject_config = Arc::new(InjectConfig {
        verifier_command: vec![verifier_command],
        ..InjectConfig::new(verifier_image)
    });
    let mut tasks = tokio::task::JoinSet::new();

    // Admin endpoints: /metrics only where --metrics-bind-address says (`0`: nowhere).
    let admin_state = AdminState {
        readiness: readiness.clone(),
        metrics: metrics.clone(),
    };
    if let Some(addr) = probe_addr {
        let stop = shutdown.clone();
        let router = if metrics_addr == Some(addr) {
            webhook::admin_router(admin_state.clone())
        } else {
            webhook::probe_router(admin_state.clone())
        };
        tasks.spawn(async move {
            webhook::serve_plain(addr, router, stop.cancelled_owned())
                .await
                .with_context(|| format!("cannot serve probes on {addr}"))
        });
        tracing::info!(%addr, "Serving /healthz and /readyz");
    }
    if let Some(addr) = metrics_addr.filter(|a| Some(*a) != probe_addr) {
        let stop = shutdown.clone();
        let router = webhook::metrics_router(admin_state);
        tasks.spawn(async move {
            webhook::serve_plain(addr, router, stop.cancelled_owned())
                .await
                .with_context(|| format!("cannot serve metrics on {addr}"))
        });
        tracing::info!(%addr, "Serving /metrics");
    }

    // Webhook.
    let handle = axum_server::Handle::<SocketAddr>::new();
    let _dev_dir; // keeps the temporary certificate directory alive
    if let (false, Some(addr)) = (disable_webhook, webhook_addr) {
        let files = if dev {
            let dir =
                tempfile::tempdir().context("cannot create a directory for the dev certificate")?;
            let files = tls::write_dev_certificate(dir.path())?;
            tracing::info!(cert = %files.cert.display(), "Generated a self-signed certificate for localhost");
            _dev_dir = Some(dir);
            files
        } else {
            _dev_dir = None;
            TlsFiles::in_dir(&webhook_cert_dir, &webhook_cert_name, &webhook_key_name)
        };
        let config = files.load().await?;
        tokio::spawn(tls::reload_on_change(
            config.clone(),
            files,
            Duration::from_secs(webhook_cert_poll_seconds.max(1)),
        ));
        let state = WebhookState {
            lookup: lookup.clone(),
            live: client
                .clone()
                .map(|c| Arc::new(c) as Arc<dyn model_validation_operator::admission::LiveLookup>),
            config: inject_config.clone(),
            metrics: metrics.clone(),
        };
        let server_handle = handle.clone();
        let ready = readiness.clone();
        tasks.spawn(async move {
            tls::serve_tls(addr, config, webhook::router(state), server_handle)
                .await
                .with_context(|| format!("cannot serve the webhook on {addr}"))
        });
        let listening = handle.clone();
        tokio::spawn(async move {
            if let Some(addr) = listening.listening().await {
                ready.set_serving(true);
                tracing::info!("Serving the webhook on https://{addr}/mutate-v1-pod");
            }
        });
    } else {
        _dev_dir = None;
    }

    // Controller (leader only).
    if let (false, Some(client)) = (disable_controller, client.clone()) {
        let identity = leader_identity
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| format!("model-validation-operator-{}", std::process::id()));
        let work = {
            let client = client.clone();
            let lookup = lookup.clone();
            let metrics = metrics.clone();
            let identity = identity.clone();
            let config = inject_config.clone();
            move |stop: CancellationToken| {
                controller::run(
                    client.clone(),
                    lookup.clone(),
                    metrics.clone(),
                    config.clone(),
                    identity.clone(),
                    stop,
                )
            }
        };
        if leader_elect && !dev {
            // The Lease has its own connection with a read timeout, so a stalled API server
            // fails a renewal quickly (the renew deadline bounds it too). The main client has
            // none: its watches idle for minutes and have their own idle timeout.
            let lease_client = match kube::Config::infer().await {
                Ok(mut config) => {
                    config.read_timeout = Some(LEASE_READ_TIMEOUT);
                    config.reset_reader_on_write = true;
                    Client::try_from(config)
                        .context("cannot build the Kubernetes client for leader election")?
                }
                Err(e) => {
                    return Err(e).context("cannot read the Kubernetes client configuration");
                }
            };
            let elector = Elector::new(
                lease_client,
                LeaseConfig {
                    namespace: leader_election_namespace,
                    name: leader_election_id,
                    identity,
                    lease_duration: Duration::from_secs(15),
                    renew_deadline: Duration::from_secs(10),
                    retry_period: Duration::from_secs(2),
                },
            );
            let stop = shutdown.clone();
            let metrics = metrics.clone();
            tasks.spawn(async move {
                run_while_leader(elector, metrics, stop, work).await;
                Ok(())
            });
        } else {
            metrics.leader.set(1);
            let stop = shutdown.clone();
            tasks.spawn(async move {
                work(stop).await;
                Ok(())
            });
        }
    }

    // Run until a signal or a fatal task error.
    let result = tokio::select! {
        _ = shutdown_signal() => { tracing::info!("Shutting down"); Ok(()) }
        Some(r) = tasks.join_next() => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(anyhow::Error::new(e).context("a server task failed")),
        },
    };
    // Fail readiness, keep answering while the endpoints update, then stop taking new
    // admissions, let in-flight ones finish, and release the Lease.
    readiness.set_serving(false);
    if result.is_ok() && !dev && !disable_webhook && shutdown_delay_seconds > 0 {
        tracing::info!(
            seconds = shutdown_delay_seconds,
            "Not ready; still serving before closing the listener"
        );
        tokio::time::sleep(Duration::from_secs(shutdown_delay_seconds)).await;
    }
    handle.graceful_shutdown(Some(Duration::from_secs(shutdown_grace_seconds)));
    shutdown.cancel();
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(shutdown_grace_seconds + 1), drain)
        .await
        .is_err()
    {
        tracing::warn!("Shutdown grace period over; exiting with tasks still running");
    }
    result
}
