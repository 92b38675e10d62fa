//! Load generator of the scale benchmark (`make bench-scale`, see `benches/scale.sh`).
//!
//! Against a real API server with the operator running: creates N namespaces with one
//! ModelValidation each and M labelled pods per namespace (bound to a Node object without a
//! kubelet, so they stay Pending), waits until every status counts them, then churns pods (one
//! create or one delete per tick, open loop) and measures how long the statuses take to be
//! correct again. Meanwhile it samples the operator's RSS. The operator's histograms
//! (`/metrics`) give webhook and reconcile latency over the churn. Prints a JSON report.
//!
//! `--cleanup` removes everything it created (pods force-deleted first: without a kubelet a
//! graceful delete never completes).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::Mutex;

#[derive(Debug, Parser)]
#[command(about = "Scale benchmark load: namespaces, ModelValidations, labelled pods, churn")]
struct Args {
    /// Namespaces, one ModelValidation each.
    #[arg(long, default_value_t = 100)]
    namespaces: usize,
    /// Labelled pods per namespace.
    #[arg(long, default_value_t = 100)]
    pods_per_namespace: usize,
    /// Churn: pod operations per second (alternately a create and a delete).
    #[arg(long, default_value_t = 50)]
    churn_rate: u32,
    /// Churn duration in seconds.
    #[arg(long, default_value_t = 60)]
    churn_seconds: u64,
    /// Concurrent creates while loading.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Prefix of the namespaces (and the label value that selects them).
    #[arg(long, default_value = "mv-scale")]
    prefix: String,
    /// The Node object the pods are bound to (created without a kubelet).
    #[arg(long, default_value = "mv-scale-node")]
    node: String,
    /// The operator's pid, for RSS samples.
    #[arg(long)]
    operator_pid: Option<u32>,
    /// The operator's `/metrics` URL (plain HTTP).
    #[arg(long)]
    metrics_url: Option<String>,
    /// Seconds to wait for the statuses to become correct.
    #[arg(long, default_value_t = 180)]
    settle_timeout: u64,
    /// Remove what an earlier run created, then exit.
    #[arg(long)]
    cleanup: bool,
}

/// The label every bench namespace carries (the webhook's namespaceSelector uses it).
const NS_LABEL: &str = "mv-scale";
const POD_LABEL: &str = "validation.ml.sigstore.dev/ml";
const MV_NAME: &str = "scale";

fn model_validations() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "ml.sigstore.dev",
        "v1alpha1",
        "ModelValidation",
    ))
}

fn mv_api(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &model_validations())
}

fn namespace_name(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:03}")
}

fn pod_manifest(name: &str, node: &str) -> Result<Pod> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {POD_LABEL: MV_NAME}},
        "spec": {
            "nodeName": node,
            "tolerations": [{"operator": "Exists"}],
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000},
            "containers": [{"name": "app", "image": "registry.invalid/app:1",
                "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true},
                                 {"name": "keys", "mountPath": "/keys", "readOnly": true}]}],
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "keys", "emptyDir": {}}],
        },
    }))?)
}

/// Latencies of one phase, in seconds.
#[derive(Default)]
struct Latencies(Vec<f64>);

impl Latencies {
    fn quantile(&self, q: f64) -> Option<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        let i = ((v.len() as f64 * q).ceil() as usize).checked_sub(1)?;
        v.get(i.min(v.len().saturating_sub(1))).copied()
    }
}

/// Histogram buckets (`le` → cumulative count) of one metric from OpenMetrics text.
fn buckets(text: &str, metric: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{metric}_bucket{{le=\"");
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (le, count) = rest.split_once("\"} ")?;
            Some((
                le.to_owned(),
                count.split_whitespace().next()?.parse().ok()?,
            ))
        })
        .collect()
}

/// The upper bound of the bucket holding quantile `q` of the observations between two scrapes.
fn histogram_quantile(before: &str, after: &str, metric: &str, q: f64) -> Option<String> {
    let (b, a) = (buckets(before, metric), buckets(after, metric));
    let mut rows: Vec<(f64, String, f64)> = a
        .iter()
        .map(|(le, n)| {
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::INFINITY)
            };
            (bound, le.clone(), n - b.get(le).copied().unwrap_or(0.0))
        })
        .collect();
    rows.sort_by(|x, y| x.0.total_cmp(&y.0));
    let total = rows.last()?.2;
    if total <= 0.0 {
        return None;
    }
    rows.iter()
        .find(|(_, _, n)| *n >= total * q)
        .map(|(_, le, _)| format!("<= {le} s"))
}

async fn scrape(url: &Option<String>) -> String {
    let Some(url) = url else {
        return String::new();
    };
    match reqwest::get(url).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

async fn cleanup(client: &Client, args: &Args) -> Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let list = namespaces
        .list(&ListParams::default().labels(&format!("{NS_LABEL}={}", args.prefix)))
        .await?;
    let force = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    for ns in list.items {
        let name = ns.name_any();
        let pods: Api<Pod> = Api::namespaced(client.clone(), &name);
        pods.delete_collection(&force, &ListParams::default())
            .await
            .with_context(|| format!("deleting the pods of {name}"))?;
        namespaces
            .delete(&name, &DeleteParams::default())
            .await
            .ok();
    }
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .delete(&args.node, &DeleteParams::default())
        .await
        .ok();
    eprintln!("scale-load: cleaned up");
    Ok(())
}

/// Every namespace's `status.injectedPodCount` equals what it should be.
async fn statuses_correct(client: &Client, expected: &BTreeMap<String, i64>) -> Result<bool> {
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &model_validations());
    let list = all.list(&ListParams::default()).await?;
    let seen: BTreeMap<String, i64> = list
        .items
        .iter()
        .filter_map(|m| {
            let n = m.data.get("status")?.get("injectedPodCount")?.as_i64()?;
            Some((m.namespace()?, n))
        })
        .collect();
    Ok(expected.iter().all(|(ns, n)| seen.get(ns) == Some(n)))
}

async fn wait_correct(
    client: &Client,
    expected: &BTreeMap<String, i64>,
    timeout: Duration,
) -> Result<Duration> {
    let start = Instant::now();
    loop {
        if statuses_correct(client, expected).await? {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            bail!("statuses still wrong after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let client = Client::try_default()
        .await
        .context("no cluster (KUBECONFIG)")?;
    if args.cleanup {
        return cleanup(&client, &args).await;
    }
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": args.node}}))?;
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => return Err(e).context("creating the Node object"),
    }
    let names: Vec<String> = (0..args.namespaces)
        .map(|i| namespace_name(&args.prefix, i))
        .collect();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in &names {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name,
            "labels": {NS_LABEL: args.prefix}}}))?;
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name} (left over? run --cleanup)"))?;
        let mv: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "ml.sigstore.dev/v1alpha1", "kind": "ModelValidation",
            "metadata": {"name": MV_NAME},
            "spec": {"model": {"path": "/data/model"},
                     "config": {"publicKeyConfig": {"keyPath": "/keys/key.pub"}}},
        }))?;
        mv_api(&client, name)
            .create(&PostParams::default(), &mv)
            .await
            .with_context(|| format!("creating the ModelValidation in {name}"))?;
    }
    // RSS sampler
    let stop = Arc::new(AtomicBool::new(false));
    let max_rss = Arc::new(AtomicU64::new(0));
    if let Some(pid) = args.operator_pid {
        let (stop, max_rss) = (stop.clone(), max_rss.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    max_rss.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }
    // load
    let load_start = Instant::now();
    let jobs: Vec<(String, String)> = names
        .iter()
        .flat_map(|ns| (0..args.pods_per_namespace).map(move |i| (ns.clone(), format!("p-{i:05}"))))
        .collect();
    let failures: Vec<String> = stream::iter(jobs)
        .map(|(ns, name)| {
            let client = client.clone();
            let node = args.node.clone();
            async move {
                let pods: Api<Pod> = Api::namespaced(client, &ns);
                let pod = pod_manifest(&name, &node).map_err(|e| e.to_string())?;
                pods.create(&PostParams::default(), &pod)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{ns}/{name}: {e}"))
            }
        })
        .buffer_unordered(args.concurrency)
        .filter_map(|r| async move { r.err() })
        .collect()
        .await;
    if !failures.is_empty() {
        bail!(
            "{} pod creates failed while loading, e.g. {}",
            failures.len(),
            failures[0]
        );
    }
    let loaded = load_start.elapsed();
    let mut expected: BTreeMap<String, i64> = names
        .iter()
        .map(|n| (n.clone(), args.pods_per_namespace as i64))
        .collect();
    let settle = Duration::from_secs(args.settle_timeout);
    let initial = wait_correct(&client, &expected, settle).await?;
    let rss_loaded = args.operator_pid.and_then(rss_kib);
    // churn: open loop, one operation per tick, alternately create and delete
    let before = scrape(&args.metrics_url).await;
    let live: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::new(Mutex::new(
        names
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    (0..args.pods_per_namespace)
                        .map(|i| format!("p-{i:05}"))
                        .collect(),
                )
            })
            .collect(),
    ));
    let create_latency = Arc::new(Mutex::new(Latencies::default()));
    let errors = Arc::new(AtomicU64::new(0));
    let ops = u64::from(args.churn_rate) * args.churn_seconds;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(
        1.0 / f64::from(args.churn_rate.max(1)),
    ));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    let churn_start = Instant::now();
    for op in 0..ops {
        ticker.tick().await;
        let ns = names[(op as usize / 2) % names.len()].clone();
        let (client, live, lat, errors, node) = (
            client.clone(),
            live.clone(),
            create_latency.clone(),
            errors.clone(),
            args.node.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let pods: Api<Pod> = Api::namespaced(client, &ns);
            if op % 2 == 0 {
                let name = format!("c-{op:06}");
                let Ok(pod) = pod_manifest(&name, &node) else {
                    return;
                };
                let t = Instant::now();
                match pods.create(&PostParams::default(), &pod).await {
                    Ok(_) => {
                        lat.lock().await.0.push(t.elapsed().as_secs_f64());
                        live.lock().await.entry(ns).or_default().push(name);
                    }
                    Err(e) => {
                        eprintln!("scale-load: create {ns}/{name}: {e}");
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            } else {
                let victim = live.lock().await.get_mut(&ns).and_then(|v| v.pop());
                let Some(name) = victim else { return };
                let force = DeleteParams {
                    grace_period_seconds: Some(0),
                    ..DeleteParams::default()
                };
                if let Err(e) = pods.delete(&name, &force).await {
                    eprintln!("scale-load: delete {ns}/{name}: {e}");
                    errors.fetch_add(1, Ordering::Relaxed);
                    live.lock().await.entry(ns).or_default().push(name);
                }
            }
        }));
    }
    for t in tasks {
        t.await.ok();
    }
    let churn_took = churn_start.elapsed();
    let after = scrape(&args.metrics_url).await;
    for (ns, pods) in live.lock().await.iter() {
        expected.insert(ns.clone(), pods.len() as i64);
    }
    let freshness = wait_correct(&client, &expected, settle).await?;
    stop.store(true, Ordering::Relaxed);
    let lat = create_latency.lock().await;
    let report = json!({
        "namespaces": args.namespaces,
        "pods": args.namespaces * args.pods_per_namespace,
        "load_seconds": loaded.as_secs_f64(),
        "initial_status_correct_after_load_seconds": initial.as_secs_f64(),
        "operator_rss_mib_after_load": rss_loaded.map(|k| k as f64 / 1024.0),
        "operator_rss_mib_max": args.operator_pid.map(|_| max_rss.load(Ordering::Relaxed) as f64 / 1024.0),
        "churn_ops": ops,
        "churn_ops_per_second_achieved": ops as f64 / churn_took.as_secs_f64(),
        "churn_errors": errors.load(Ordering::Relaxed),
        "pod_create_p50_ms_client": lat.quantile(0.5).map(|s| s * 1e3),
        "pod_create_p99_ms_client": lat.quantile(0.99).map(|s| s * 1e3),
        "webhook_p50_during_churn": histogram_quantile(&before, &after, "model_validation_admission_duration_seconds", 0.5),
        "webhook_p99_during_churn": histogram_quantile(&before, &after, "model_validation_admission_duration_seconds", 0.99),
        "reconcile_p50_during_churn": histogram_quantile(&before, &after, "model_validation_reconcile_duration_seconds", 0.5),
        "reconcile_p99_during_churn": histogram_quantile(&before, &after, "model_validation_reconcile_duration_seconds", 0.99),
        "status_correct_after_last_change_seconds": freshness.as_secs_f64(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
