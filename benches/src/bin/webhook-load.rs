//! `webhook-load`: an open-loop load generator for the operator's mutating webhook.
//!
//! Sends AdmissionReview requests over TLS to a loopback address at a fixed rate, verifies every
//! answer and reports latency percentiles, errors and the operator's memory and CPU.
//!
//! * **Open loop.** Request `i` is due at `start + i / rate`, whatever happened to earlier ones;
//!   its latency is measured from that due time, so a stalled server shows up as latency
//!   (no coordinated omission). A pacing thread sleeps until each due time and hands the
//!   request to the async runtime; at most `--max-in-flight` requests are outstanding (waiting
//!   for a slot counts as latency, too).
//! * **Realistic bodies.** `admission.k8s.io/v1` reviews as the API server sends them: a pod
//!   CREATE from a ReplicaSet carrying `validation.ml.sigstore.dev/ml: "true"` (must be mutated)
//!   and, `--update-share` of the time, an UPDATE of a pod that already has the verifier (must
//!   be allowed unchanged). Every request has its own `uid`.
//! * **Checked answers.** An answer counts as correct only with HTTP 200, an `AdmissionReview`
//!   with the same `uid`, `allowed: true`, and for a CREATE a base64 `JSONPatch` that adds the
//!   `model-validation` init container (for an UPDATE: no patch). Anything else, a transport
//!   error or a timeout is an error, counted by kind. Percentiles are over the correct answers
//!   of the measured phase; errors are counted, not timed (any error misses `--max-errors 0`).
//! * **Bounded.** `--rate × --duration` requests after a `--warmup` (verified, errors counted,
//!   latencies not recorded), each with a `--timeout`; loopback addresses only.
//!
//! Output: one JSON object on stdout (for scripts), a summary on stderr. Exit codes: 0 done (and
//! targets met), 1 a `--max-p99-ms`/`--max-errors` target missed, 2 usage or set-up error.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// Name of the init container the webhook injects.
const INIT_CONTAINER: &str = "model-validation";
/// Label that opts a pod in.
const POD_LABEL: &str = "validation.ml.sigstore.dev/ml";
/// Stands for the request's uid in the body templates.
const UID_MARK: &str = "@@UID@@";

/// Open-loop AdmissionReview load over TLS on loopback.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Webhook URL (a loopback host only).
    #[arg(long, default_value = "https://localhost:9443/mutate-v1-pod")]
    url: String,
    /// PEM certificate(s) to trust for the webhook (e.g. the one `--dev` generates).
    #[arg(long, value_name = "PEM")]
    ca: PathBuf,
    /// Requests per second.
    #[arg(long)]
    rate: f64,
    /// Seconds of measured load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before the measurement (answers verified, latencies not recorded).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Namespace of the pods (needs exactly one ModelValidation, as the label is "true").
    #[arg(long, default_value = "models")]
    namespace: String,
    /// Share of requests that are pod UPDATEs (allowed unchanged) instead of CREATEs.
    #[arg(long, default_value_t = 0.2)]
    update_share: f64,
    /// Per-request timeout in milliseconds (the API server's default webhook timeout is 10 s).
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Most requests outstanding at once.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Worker threads of the client's async runtime (the pacer has its own thread).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Process id of the operator: its RSS (VmRSS, VmHWM) and CPU time are reported.
    #[arg(long)]
    pid: Option<u32>,
    /// Exit 1 when the p99 latency is this many milliseconds or more.
    #[arg(long)]
    max_p99_ms: Option<f64>,
    /// Exit 1 when there are more errors than this.
    #[arg(long)]
    max_errors: Option<u64>,
}

/// What one request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Update,
}

/// The body of one request: template halves around the uid.
#[derive(Debug)]
struct Template {
    kind: Kind,
    before: String,
    after: String,
}

impl Template {
    fn new(kind: Kind, review: &Value) -> anyhow::Result<Self> {
        let text = serde_json::to_string(review)?;
        let Some((before, after)) = text.split_once(UID_MARK) else {
            bail!("the review template has no uid mark");
        };
        Ok(Self {
            kind,
            before: before.to_owned(),
            after: after.to_owned(),
        })
    }

    fn body(&self, uid: &str) -> String {
        let mut s = String::with_capacity(self.before.len() + uid.len() + self.after.len());
        s.push_str(&self.before);
        s.push_str(uid);
        s.push_str(&self.after);
        s
    }
}

/// A pod as a ReplicaSet creates it: model on a PVC, key on a ConfigMap, a token volume.
fn pod(namespace: &str, injected: bool) -> Value {
    let mut pod = json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "generateName": "inference-7d9f8b6c5-",
            "namespace": namespace,
            "creationTimestamp": null,
            "labels": {"app": "inference", "pod-template-hash": "7d9f8b6c5", POD_LABEL: "true"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "inference-7d9f8b6c5", "uid": "a1b2c3d4-0000-4000-8000-000000000001",
                "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {
            "volumes": [
                {"name": "model", "persistentVolumeClaim": {"claimName": "model-pvc"}},
                {"name": "keys", "configMap": {"name": "model-keys"}},
                {"name": "cache", "emptyDir": {}},
                {"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ]}}
            ],
            "containers": [{
                "name": "server",
                "image": "registry.example.com/inference:1.4",
                "args": ["--model", "/data/model", "--port", "8000"],
                "ports": [{"containerPort": 8000, "protocol": "TCP"}],
                "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}],
                "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "8Gi"}},
                "volumeMounts": [
                    {"name": "model", "mountPath": "/data"},
                    {"name": "keys", "readOnly": true, "mountPath": "/etc/model-keys"},
                    {"name": "cache", "mountPath": "/var/cache/inference"},
                    {"name": "kube-api-access-x7k2p", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
                ],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent"
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ],
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority"
        },
        "status": {}
    });
    if injected {
        pod["metadata"]["name"] = json!("inference-7d9f8b6c5-abcde");
        pod["metadata"]["uid"] = json!("5e6f7a8b-0000-4000-8000-000000000002");
        pod["spec"]["nodeName"] = json!("node-1");
        pod["spec"]["initContainers"] = json!([{
            "name": INIT_CONTAINER,
            "image": "model-verifier:latest",
            "command": ["/usr/local/bin/model-verifier"],
            "args": ["verify", "key", "/data/model", "--signature", "/data/model/model.sig",
                     "--public_key", "/etc/model-keys/key.pub"],
            "volumeMounts": [{"name": "model", "readOnly": true, "mountPath": "/data"},
                             {"name": "keys", "readOnly": true, "mountPath": "/etc/model-keys"}]
        }]);
    }
    pod
}

/// An `admission.k8s.io/v1` review of a pod CREATE or UPDATE, with [`UID_MARK`] as its uid.
fn review(kind: Kind, namespace: &str) -> Value {
    let (operation, name, object, old, options) = match kind {
        Kind::Create => (
            "CREATE",
            "",
            pod(namespace, false),
            Value::Null,
            "CreateOptions",
        ),
        Kind::Update => {
            let mut new = pod(namespace, true);
            new["metadata"]["labels"]["rollout"] = json!("2");
            (
                "UPDATE",
                "inference-7d9f8b6c5-abcde",
                new,
                pod(namespace, true),
                "UpdateOptions",
            )
        }
    };
    let gvk = json!({"group": "", "version": "v1", "kind": "Pod"});
    let gvr = json!({"group": "", "version": "v1", "resource": "pods"});
    json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": UID_MARK,
            "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": name,
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "3c9c1f35-6f0c-4c8e-9d41-0c1a2b3c4d5e",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"]},
            "object": object,
            "oldObject": old,
            "dryRun": false,
            "options": {"kind": options, "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

/// Checks one answer; `Err` is the error kind (a short, bounded label) with a detail.
fn check_answer(kind: Kind, uid: &str, status: u16, body: &[u8]) -> Result<(), (String, String)> {
    use base64::Engine as _;
    let fail = |k: &str, detail: String| Err((k.to_owned(), detail));
    if status != 200 {
        return fail(
            &format!("http {status}"),
            String::from_utf8_lossy(body).chars().take(200).collect(),
        );
    }
    let review: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return fail("not json", e.to_string()),
    };
    if review["kind"] != "AdmissionReview" || review["apiVersion"] != "admission.k8s.io/v1" {
        return fail(
            "not an AdmissionReview",
            format!("{} {}", review["apiVersion"], review["kind"]),
        );
    }
    let response = &review["response"];
    if response["uid"] != uid {
        return fail(
            "uid mismatch",
            format!("sent {uid}, got {}", response["uid"]),
        );
    }
    if response["allowed"] != true {
        return fail("not allowed", response["status"].to_string());
    }
    match kind {
        Kind::Update => {
            if !response["patch"].is_null() {
                return fail("update patched", response["patch"].to_string());
            }
        }
        Kind::Create => {
            if response["patchType"] != "JSONPatch" {
                return fail("no JSONPatch", response["patchType"].to_string());
            }
            let Some(text) = response["patch"].as_str() else {
                return fail("no patch", response["patch"].to_string());
            };
            let ops: Value = match base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(v) => v,
                Err(e) => return fail("bad patch", e),
            };
            let injects = ops.as_array().is_some_and(|ops| {
                ops.iter().any(|op| {
                    op["op"] == "add"
                        && op["path"]
                            .as_str()
                            .is_some_and(|p| p.starts_with("/spec/initContainers"))
                        && [&op["value"], &op["value"][0]]
                            .iter()
                            .any(|c| c["name"] == INIT_CONTAINER)
                })
            });
            if !injects {
                return fail("patch does not inject", ops.to_string());
            }
        }
    }
    Ok(())
}

/// One finished request.
#[derive(Debug, Clone)]
struct Sample {
    measured: bool,
    /// Second of the measured phase the request was due in.
    second: u64,
    /// From the due time to the end of the answer.
    latency: Duration,
    /// From the actual send to the end of the answer.
    service: Duration,
    error: Option<(String, String)>,
}

/// Memory and CPU of a process from `/proc/<pid>/status` and `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, Default)]
struct ProcStats {
    rss_kib: u64,
    hwm_kib: u64,
    cpu_ticks: u64,
}

fn proc_stats(pid: &str) -> anyhow::Result<ProcStats> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(ProcStats {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        cpu_ticks: tick(11) + tick(12),
    })
}

/// Clock ticks per second of `/proc/*/stat` (USER_HZ; 100 on Linux x86 and arm64).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Nearest-rank percentile of sorted values (`p` in 0..=100).
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Only loopback: this tool must never load a real server by accident.
fn check_loopback(url: &reqwest::Url) -> anyhow::Result<()> {
    let host = url.host_str().unwrap_or_default();
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if url.scheme() != "https" || !loopback {
        bail!("--url {url} must be https:// on localhost or a loopback address");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the load; `Ok(false)`: a target was missed.
fn run(args: Args) -> anyhow::Result<bool> {
    let url = reqwest::Url::parse(&args.url).with_context(|| format!("--url {}", args.url))?;
    check_loopback(&url)?;
    if !(args.rate > 0.0 && args.rate <= 100_000.0) {
        bail!("--rate {} must be in (0, 100000]", args.rate);
    }
    let duration_ok = args.duration > 0.0 && args.duration <= 3600.0;
    if !duration_ok || !(0.0..=60.0).contains(&args.warmup) {
        bail!("--duration must be in (0, 3600] s and --warmup in [0, 60] s");
    }
    if !(0.0..=1.0).contains(&args.update_share) {
        bail!("--update-share must be in [0, 1]");
    }
    let pem = std::fs::read(&args.ca).with_context(|| format!("cannot read --ca {:?}", args.ca))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("--ca {:?} is not PEM", args.ca))?;
    let client = reqwest::Client::builder()
        .tls_certs_only(certs)
        .no_proxy()
        .tcp_nodelay(true)
        .http1_only()
        .build()
        .context("cannot build the HTTPS client")?;
    let templates = Arc::new([
        Template::new(Kind::Create, &review(Kind::Create, &args.namespace))?,
        Template::new(Kind::Update, &review(Kind::Update, &args.namespace))?,
    ]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let pid = args.pid.map(|p| p.to_string());
    let ticks = clock_ticks();

    let period = Duration::from_secs_f64(1.0 / args.rate);
    let warmup_n = (args.warmup * args.rate).round() as u64;
    let measured_n = (args.duration * args.rate).round().max(1.0) as u64;
    let total = warmup_n + measured_n;
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let slots = Arc::new(Semaphore::new(args.max_in_flight.max(1)));
    let samples = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak_in_flight = Arc::new(AtomicUsize::new(0));
    // Every k-th request of `1/update_share` is an UPDATE (deterministic, evenly spread).
    let update_every = (args.update_share > 0.0).then(|| (1.0 / args.update_share).max(1.0));

    let load_before = loadavg();
    let self_before = proc_stats("self")?;
    let mut op_before = ProcStats::default();
    let mut measure_start = Instant::now();
    let mut op_samples = Vec::new();
    let start = Instant::now() + Duration::from_millis(20);
    let handle = runtime.handle().clone();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + period.mul_f64(i as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if i == warmup_n {
            measure_start = due;
            if let Some(pid) = &pid {
                op_before = proc_stats(pid)?;
            }
        }
        if i % (args.rate as u64).max(1) == 0
            && let Some(pid) = &pid
        {
            op_samples.push(proc_stats(pid)?);
        }
        let kind = match update_every {
            Some(k) if ((i + 1) as f64 / k).floor() > (i as f64 / k).floor() => Kind::Update,
            _ => Kind::Create,
        };
        let template = templates.clone();
        let client = client.clone();
        let url = url.clone();
        let slots = slots.clone();
        let samples = samples.clone();
        let in_flight = in_flight.clone();
        let peak = peak_in_flight.clone();
        let measured = i >= warmup_n;
        let second = if measured {
            ((i - warmup_n) as f64 / args.rate) as u64
        } else {
            0
        };
        tasks.push(handle.spawn(async move {
            let template = &template[usize::from(kind == Kind::Update)];
            let uid = format!("00000000-0000-4000-8000-{i:012x}");
            let body = template.body(&uid);
            let Ok(_slot) = slots.acquire_owned().await else {
                return;
            };
            let now_in_flight = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            peak.fetch_max(now_in_flight, Ordering::Relaxed);
            let sent = Instant::now();
            let answer = tokio::time::timeout(timeout, async {
                let response = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                let status = response.status().as_u16();
                let bytes = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, bytes))
            })
            .await;
            let done = Instant::now();
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let error = match answer {
                Err(_) => Some(("timeout".to_owned(), format!("no answer in {timeout:?}"))),
                Ok(Err(e)) => Some((
                    if e.is_connect() {
                        "connect"
                    } else {
                        "transport"
                    }
                    .to_owned(),
                    format!("{e:#}"),
                )),
                Ok(Ok((status, bytes))) => check_answer(template.kind, &uid, status, &bytes).err(),
            };
            let sample = Sample {
                measured,
                second,
                latency: done.saturating_duration_since(due),
                service: done.saturating_duration_since(sent),
                error,
            };
            if let Ok(mut s) = samples.lock() {
                s.push(sample);
            }
        }));
    }
    let sent_end = Instant::now();
    // Every request ends by its timeout; this only waits for them.
    runtime.block_on(async {
        for task in tasks {
            let _ = task.await;
        }
    });
    let end = Instant::now();
    let op_after = match &pid {
        Some(pid) => Some(proc_stats(pid)?),
        None => None,
    };
    let self_after = proc_stats("self")?;
    let load_after = loadavg();

    let samples = samples
        .lock()
        .map_err(|_| anyhow::anyhow!("a request task panicked"))?
        .clone();
    let mut latencies = Vec::with_capacity(samples.len());
    let mut services = Vec::with_capacity(samples.len());
    let mut errors: BTreeMap<String, (u64, String)> = BTreeMap::new();
    // Per second of the measured phase: answers, errors, latencies (to tell a stall from a trend).
    let mut seconds: BTreeMap<u64, (u64, Vec<Duration>)> = BTreeMap::new();
    let (mut ok, mut warmup_errors) = (0u64, 0u64);
    for s in &samples {
        if let Some((kind, detail)) = &s.error {
            let e = errors.entry(kind.clone()).or_insert((0, detail.clone()));
            e.0 += 1;
            if s.measured {
                seconds.entry(s.second).or_default().0 += 1;
            } else {
                warmup_errors += 1;
            }
        } else if s.measured {
            ok += 1;
            latencies.push(s.latency);
            services.push(s.service);
            seconds.entry(s.second).or_default().1.push(s.latency);
        }
    }
    let lost = total.saturating_sub(samples.len() as u64);
    if lost > 0 {
        errors.insert(
            "lost".to_owned(),
            (lost, "request task ended early".to_owned()),
        );
    }
    let error_count: u64 = errors.values().map(|e| e.0).sum();
    latencies.sort_unstable();
    services.sort_unstable();
    let window = end.saturating_duration_since(measure_start).as_secs_f64();
    let offered_window = sent_end
        .saturating_duration_since(measure_start)
        .as_secs_f64();
    let lat = |p| ms(percentile(&latencies, p));
    let timeline: Vec<Value> = seconds
        .into_iter()
        .map(|(second, (errors, mut l))| {
            l.sort_unstable();
            json!({"s": second, "ok": l.len(), "errors": errors,
                   "p50_ms": ms(percentile(&l, 50.0)), "p99_ms": ms(percentile(&l, 99.0)),
                   "max_ms": ms(l.last().copied().unwrap_or_default())})
        })
        .collect();
    let over = args.max_p99_ms.unwrap_or(5.0);
    let seconds_over = timeline
        .iter()
        .filter(|t| t["p99_ms"].as_f64().is_some_and(|p| p >= over))
        .count();
    let operator = op_after.map(|after| {
        let rss_max = op_samples
            .iter()
            .chain([&after])
            .map(|s| s.rss_kib)
            .max()
            .unwrap_or(0);
        json!({
            "pid": args.pid,
            "rss_kib_before": op_before.rss_kib,
            "rss_kib_after": after.rss_kib,
            "rss_kib_max_sampled": rss_max,
            "hwm_kib": after.hwm_kib,
            "cpu_s": (after.cpu_ticks.saturating_sub(op_before.cpu_ticks)) as f64 / ticks,
            "cpu_share_of_one_core": ((after.cpu_ticks.saturating_sub(op_before.cpu_ticks)) as f64
                / ticks / window.max(1e-9) * 1000.0).round() / 1000.0,
        })
    });
    let report = json!({
        "rate": args.rate,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "update_share": args.update_share,
        "requests": measured_n,
        "warmup_requests": warmup_n,
        "ok": ok,
        "errors": error_count,
        "warmup_errors": warmup_errors,
        "error_kinds": errors.iter().map(|(k, (n, d))| (k.clone(), json!({"count": n, "example": d}))).collect::<serde_json::Map<_, _>>(),
        "offered_rps": (measured_n as f64 / offered_window.max(1e-9) * 10.0).round() / 10.0,
        "achieved_rps": (ok as f64 / window.max(1e-9) * 10.0).round() / 10.0,
        "latency_ms": {"p50": lat(50.0), "p90": lat(90.0), "p99": lat(99.0), "p99_9": lat(99.9),
                       "max": ms(latencies.last().copied().unwrap_or_default())},
        "service_ms": {"p50": ms(percentile(&services, 50.0)), "p99": ms(percentile(&services, 99.0))},
        "peak_in_flight": peak_in_flight.load(Ordering::Relaxed),
        "seconds_with_p99_over_ms": {"ms": over, "count": seconds_over, "of": timeline.len()},
        "timeline": timeline,
        "operator": operator,
        "client_cpu_s": (self_after.cpu_ticks.saturating_sub(self_before.cpu_ticks)) as f64 / ticks,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    });
    println!("{report}");
    eprintln!(
        "rate {} req/s for {} s: {ok} ok, {error_count} errors, achieved {} req/s; latency p50 {} ms, p90 {} ms, p99 {} ms, max {} ms{}",
        args.rate,
        args.duration,
        report["achieved_rps"],
        lat(50.0),
        lat(90.0),
        lat(99.0),
        report["latency_ms"]["max"],
        op_after.map_or(String::new(), |a| format!(
            "; operator VmRSS {} KiB, VmHWM {} KiB",
            a.rss_kib, a.hwm_kib
        )),
    );
    for (kind, (n, detail)) in &errors {
        eprintln!("  error {kind}: {n} (e.g. {detail})");
    }
    let mut met = true;
    if let Some(max) = args.max_p99_ms
        && (latencies.is_empty() || lat(99.0) >= max)
    {
        eprintln!(
            "target missed: p99 {} ms, must be under {max} ms",
            lat(99.0)
        );
        met = false;
    }
    if let Some(max) = args.max_errors
        && error_count > max
    {
        eprintln!("target missed: {error_count} errors, at most {max} allowed");
        met = false;
    }
    Ok(met)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_carry_the_uid_once() {
        for kind in [Kind::Create, Kind::Update] {
            let t = Template::new(kind, &review(kind, "models")).unwrap();
            let body: Value = serde_json::from_str(&t.body("abc")).unwrap();
            assert_eq!(body["request"]["uid"], "abc");
            assert!(!t.before.contains(UID_MARK) && !t.after.contains(UID_MARK));
        }
    }

    fn answer(uid: &str, allowed: bool, patch: Option<&Value>) -> Vec<u8> {
        use base64::Engine as _;
        let mut response = json!({"uid": uid, "allowed": allowed});
        if let Some(p) = patch {
            response["patchType"] = json!("JSONPatch");
            response["patch"] = json!(
                base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(p).unwrap())
            );
        }
        serde_json::to_vec(
            &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}),
        )
        .unwrap()
    }

    #[test]
    fn only_correct_answers_pass() {
        let inject = json!([{"op": "add", "path": "/spec/initContainers",
                             "value": [{"name": "model-validation"}]}]);
        let append = json!([{"op": "add", "path": "/spec/initContainers/-",
                             "value": {"name": "model-validation"}}]);
        let ok = |k, body: Vec<u8>| check_answer(k, "u1", 200, &body);
        assert!(ok(Kind::Create, answer("u1", true, Some(&inject))).is_ok());
        assert!(ok(Kind::Create, answer("u1", true, Some(&append))).is_ok());
        assert!(ok(Kind::Update, answer("u1", true, None)).is_ok());
        let kind = |r: Result<(), (String, String)>| r.unwrap_err().0;
        assert_eq!(
            kind(check_answer(
                Kind::Create,
                "u1",
                500,
                &answer("u1", true, Some(&inject))
            )),
            "http 500"
        );
        assert_eq!(
            kind(ok(Kind::Create, answer("u2", true, Some(&inject)))),
            "uid mismatch"
        );
        assert_eq!(
            kind(ok(Kind::Create, answer("u1", false, None))),
            "not allowed"
        );
        assert_eq!(
            kind(ok(Kind::Create, answer("u1", true, None))),
            "no JSONPatch"
        );
        assert_eq!(
            kind(ok(
                Kind::Create,
                answer(
                    "u1",
                    true,
                    Some(&json!([{"op": "add", "path": "/metadata/labels/x", "value": "y"}]))
                )
            )),
            "patch does not inject"
        );
        assert_eq!(
            kind(ok(Kind::Update, answer("u1", true, Some(&inject)))),
            "update patched"
        );
        assert_eq!(kind(ok(Kind::Create, b"{".to_vec())), "not json");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&v[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
    }

    #[test]
    fn loopback_only() {
        for ok in [
            "https://localhost:9443/mutate-v1-pod",
            "https://127.0.0.1:1/x",
            "https://[::1]:9443/x",
        ] {
            assert!(
                check_loopback(&reqwest::Url::parse(ok).unwrap()).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "https://example.com/x",
            "https://10.0.0.1/x",
            "http://localhost/x",
        ] {
            assert!(
                check_loopback(&reqwest::Url::parse(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn reads_its_own_proc_stats() {
        let s = proc_stats("self").unwrap();
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib, "{s:?}");
    }
}
