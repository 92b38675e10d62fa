//! The replica at run time: cluster client, caches, the admin and webhook servers, the
//! controller under leader election, and the ordered shutdown. Part of the binary.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kube::{Client, ResourceExt as _};
use model_validation_operator::admin::{self, AdminState, Readiness};
use model_validation_operator::cache::{Caches, LiveLookup, ModelValidationLookup, StaticLookup};
use model_validation_operator::controller;
use model_validation_operator::crd::ModelValidation;
use model_validation_operator::inject::InjectConfig;
use model_validation_operator::lease::{Elector, LeaseConfig, run_while_leader};
use model_validation_operator::metrics::Metrics;
use model_validation_operator::webhook::tls::{self, TlsFiles};
use model_validation_operator::webhook::{self, WebhookState};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::args::{AdminArgs, Args, ControllerArgs, WebhookArgs, bind_address};

/// Read timeout of the leader-election client (each Lease call; the renew deadline is 10 s).
const LEASE_READ_TIMEOUT: Duration = Duration::from_secs(4);

/// The server and controller tasks; the first to fail ends the replica.
type Tasks = JoinSet<anyhow::Result<()>>;

/// What every part of the replica shares.
struct Shared {
    metrics: Metrics,
    readiness: Readiness,
    shutdown: CancellationToken,
    inject: Arc<InjectConfig>,
    lookup: Arc<dyn ModelValidationLookup + Send + Sync>,
    client: Option<Client>,
    caches: Option<Caches>,
}

/// Runs the replica until SIGTERM/SIGINT or a fatal task error.
pub(crate) async fn run(
    args: Args,
    dev_model_validations: Option<Vec<Arc<ModelValidation>>>,
) -> anyhow::Result<()> {
    let dev = args.dev.dev;
    let readiness = Readiness::new(!args.webhook.disable_webhook);
    let client = cluster_client(dev, dev_model_validations.as_deref()).await?;
    let caches = client.clone().map(Caches::start);
    let lookup: Arc<dyn ModelValidationLookup + Send + Sync> = match &caches {
        Some(c) => {
            let (caches, ready) = (c.clone(), readiness.clone());
            tokio::spawn(async move {
                caches.wait_synced().await;
                ready.set_caches_synced();
            });
            Arc::new(c.clone())
        }
        None => {
            readiness.set_caches_synced();
            Arc::new(StaticLookup {
                model_validations: dev_model_validations.unwrap_or_default(),
                ..StaticLookup::default()
            })
        }
    };
    let shared = Shared {
        metrics: Metrics::new(),
        readiness,
        shutdown: CancellationToken::new(),
        inject: Arc::new(InjectConfig {
            verifier_command: vec![args.verifier.verifier_command],
            operator_namespace: Some(args.controller.leader_election_namespace.clone()),
            ..InjectConfig::new(args.verifier.verifier_image)
        }),
        lookup,
        client,
        caches,
    };
    let mut tasks = Tasks::new();
    spawn_admin(&args.admin, &shared, &mut tasks)?;
    let handle = axum_server::Handle::<SocketAddr>::new();
    // keeps the temporary certificate directory of --dev alive
    let _dev_dir = spawn_webhook(&args.webhook, dev, &shared, &handle, &mut tasks).await?;
    spawn_controller(args.controller, dev, &shared, &mut tasks).await?;
    let result = tokio::select! {
        _ = shutdown_signal() => { tracing::info!("Shutting down"); Ok(()) }
        Some(r) = tasks.join_next() => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(anyhow::Error::new(e).context("a server task failed")),
        },
    };
    let delay = if result.is_ok() && !dev && !args.webhook.disable_webhook {
        args.shutdown.shutdown_delay_seconds
    } else {
        0
    };
    drain(
        &shared,
        handle,
        tasks,
        delay,
        args.shutdown.shutdown_grace_seconds,
    )
    .await;
    result
}

/// The Kubernetes client. In `--dev` a missing cluster is not fatal; with a file of
/// ModelValidations none is contacted.
async fn cluster_client(
    dev: bool,
    dev_model_validations: Option<&[Arc<ModelValidation>]>,
) -> anyhow::Result<Option<Client>> {
    if let Some(mvs) = dev_model_validations {
        let names: Vec<String> = mvs
            .iter()
            .map(|m| format!("{}/{}", m.namespace().unwrap_or_default(), m.name_any()))
            .collect();
        tracing::info!(
            count = mvs.len(),
            model_validations = names.join(", "),
            "No cluster: serving the webhook with the ModelValidations of --dev-model-validations"
        );
        return Ok(None);
    }
    match Client::try_default().await {
        Ok(c) => Ok(Some(c)),
        Err(e) if dev => {
            tracing::warn!(error = %e, "No cluster: serving the webhook with no ModelValidations (--dev)");
            Ok(None)
        }
        Err(e) => {
            Err(e).context("cannot build a Kubernetes client (in-cluster config or kubeconfig)")
        }
    }
}

/// Probes and metrics: `/metrics` only where `--metrics-bind-address` says (`0`: nowhere).
fn spawn_admin(args: &AdminArgs, shared: &Shared, tasks: &mut Tasks) -> anyhow::Result<()> {
    let probe_addr = bind_address("health-probe-bind-address", &args.health_probe_bind_address)?;
    let metrics_addr = bind_address("metrics-bind-address", &args.metrics_bind_address)?;
    let state = AdminState {
        readiness: shared.readiness.clone(),
        metrics: shared.metrics.clone(),
    };
    if let Some(addr) = probe_addr {
        let router = if metrics_addr == Some(addr) {
            admin::admin_router(state.clone())
        } else {
            admin::probe_router(state.clone())
        };
        serve_admin(addr, router, "probes", shared, tasks);
        tracing::info!(%addr, "Serving /healthz and /readyz");
    }
    if let Some(addr) = metrics_addr.filter(|a| Some(*a) != probe_addr) {
        serve_admin(addr, admin::metrics_router(state), "metrics", shared, tasks);
        tracing::info!(%addr, "Serving /metrics");
    }
    Ok(())
}

fn serve_admin(
    addr: SocketAddr,
    router: axum::Router,
    what: &'static str,
    shared: &Shared,
    tasks: &mut Tasks,
) {
    let stop = shared.shutdown.clone();
    tasks.spawn(async move {
        admin::serve_plain(addr, router, stop.cancelled_owned())
            .await
            .with_context(|| format!("cannot serve {what} on {addr}"))
    });
}

/// The webhook over TLS, with certificate reload; returns the `--dev` certificate's directory.
async fn spawn_webhook(
    args: &WebhookArgs,
    dev: bool,
    shared: &Shared,
    handle: &axum_server::Handle<SocketAddr>,
    tasks: &mut Tasks,
) -> anyhow::Result<Option<tempfile::TempDir>> {
    let mut addr = bind_address("webhook-bind-address", &args.webhook_bind_address)?;
    if dev && args.webhook_bind_address == ":9443" {
        addr = Some(SocketAddr::from(([127, 0, 0, 1], 9443)));
    }
    let (false, Some(addr)) = (args.disable_webhook, addr) else {
        return Ok(None);
    };
    let (files, dev_dir) = if dev {
        let dir =
            tempfile::tempdir().context("cannot create a directory for the dev certificate")?;
        let files = tls::write_dev_certificate(dir.path())?;
        tracing::info!(cert = %files.cert.display(), "Generated a self-signed certificate for localhost");
        (files, Some(dir))
    } else {
        let files = TlsFiles::in_dir(
            &args.webhook_cert_dir,
            &args.webhook_cert_name,
            &args.webhook_key_name,
        );
        (files, None)
    };
    let config = files.load().await?;
    tokio::spawn(tls::reload_on_change(
        config.clone(),
        files,
        Duration::from_secs(args.webhook_cert_poll_seconds.max(1)),
    ));
    let state = WebhookState {
        lookup: shared.lookup.clone(),
        live: shared
            .client
            .clone()
            .map(|c| Arc::new(c) as Arc<dyn LiveLookup>),
        config: shared.inject.clone(),
        metrics: shared.metrics.clone(),
    };
    let server_handle = handle.clone();
    tasks.spawn(async move {
        tls::serve_tls(addr, config, webhook::router(state), server_handle)
            .await
            .with_context(|| format!("cannot serve the webhook on {addr}"))
    });
    let (listening, ready) = (handle.clone(), shared.readiness.clone());
    tokio::spawn(async move {
        if let Some(addr) = listening.listening().await {
            ready.set_serving(true);
            tracing::info!("Serving the webhook on https://{addr}/mutate-v1-pod");
        }
    });
    Ok(dev_dir)
}

/// The controller: on the Lease holder with `--leader-elect`, else here.
async fn spawn_controller(
    args: ControllerArgs,
    dev: bool,
    shared: &Shared,
    tasks: &mut Tasks,
) -> anyhow::Result<()> {
    let (false, Some(client), Some(caches)) = (
        args.disable_controller,
        shared.client.clone(),
        shared.caches.clone(),
    ) else {
        return Ok(());
    };
    let identity = args
        .leader_identity
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("model-validation-operator-{}", std::process::id()));
    let work = {
        let (metrics, config, identity) = (
            shared.metrics.clone(),
            shared.inject.clone(),
            identity.clone(),
        );
        move |stop: CancellationToken| {
            controller::run(
                client.clone(),
                caches.clone(),
                metrics.clone(),
                config.clone(),
                identity.clone(),
                stop,
            )
        }
    };
    let (stop, metrics) = (shared.shutdown.clone(), shared.metrics.clone());
    if !args.leader_elect || dev {
        metrics.leader.set(1);
        tasks.spawn(async move {
            work(stop).await;
            Ok(())
        });
        return Ok(());
    }
    // The Lease has its own connection with a read timeout, so a stalled API server fails a
    // renewal quickly (the renew deadline bounds it too). The main client has none: its
    // watches idle for minutes and have their own idle timeout.
    let mut config = kube::Config::infer()
        .await
        .context("cannot read the Kubernetes client configuration")?;
    config.read_timeout = Some(LEASE_READ_TIMEOUT);
    config.reset_reader_on_write = true;
    let lease_client = Client::try_from(config)
        .context("cannot build the Kubernetes client for leader election")?;
    let elector = Elector::new(
        lease_client,
        LeaseConfig {
            namespace: args.leader_election_namespace,
            name: args.leader_election_id,
            identity,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        },
    );
    tasks.spawn(async move {
        run_while_leader(elector, metrics, stop, work).await;
        Ok(())
    });
    Ok(())
}

/// Fails readiness, keeps answering for `delay_seconds` while the endpoints update, then stops
/// taking new admissions, lets in-flight ones finish and releases the Lease.
async fn drain(
    shared: &Shared,
    handle: axum_server::Handle<SocketAddr>,
    mut tasks: Tasks,
    delay_seconds: u64,
    grace_seconds: u64,
) {
    shared.readiness.set_serving(false);
    if delay_seconds > 0 {
        tracing::info!(
            seconds = delay_seconds,
            "Not ready; still serving before closing the listener"
        );
        tokio::time::sleep(Duration::from_secs(delay_seconds)).await;
    }
    handle.graceful_shutdown(Some(Duration::from_secs(grace_seconds)));
    shared.shutdown.cancel();
    let all = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(grace_seconds + 1), all)
        .await
        .is_err()
    {
        tracing::warn!("Shutdown grace period over; exiting with tasks still running");
    }
}

async fn shutdown_signal() {
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
