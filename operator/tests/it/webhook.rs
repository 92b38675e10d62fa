//! The webhook router over real TLS (rustls server, reqwest client), certificate rotation,
//! graceful shutdown, and the admin endpoints over HTTP.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum_server::Handle;
use model_validation_operator::admin::{self, AdminState, Readiness};
use model_validation_operator::cache::{LiveLookup, ModelValidationLookup, StaticLookup};
use model_validation_operator::crd::ModelValidation;
use model_validation_operator::inject::InjectConfig;
use model_validation_operator::metrics::Metrics;
use model_validation_operator::webhook::tls::{self, TlsFiles};
use model_validation_operator::webhook::{self, WebhookState};
use serde_json::{Value, json};

use crate::support::FIXTURE;

fn provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn key_mv() -> Arc<ModelValidation> {
    crate::support::model_validation(json!({
        "model": {"path": "/data/model"},
        "config": {"publicKeyConfig": {"keyPath": "/etc/model-keys/key.pub"}}
    }))
}

struct Server {
    addr: SocketAddr,
    handle: Handle<SocketAddr>,
    metrics: Metrics,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(
    files: &TlsFiles,
    lookup: Arc<dyn ModelValidationLookup + Send + Sync>,
    poll: Duration,
) -> Server {
    start_with(files, lookup, None, poll).await
}

async fn start_with(
    files: &TlsFiles,
    lookup: Arc<dyn ModelValidationLookup + Send + Sync>,
    live: Option<Arc<dyn LiveLookup>>,
    poll: Duration,
) -> Server {
    provider();
    let config = files.load().await.unwrap();
    tokio::spawn(tls::reload_on_change(config.clone(), files.clone(), poll));
    let metrics = Metrics::new();
    let state = WebhookState {
        lookup,
        live,
        config: Arc::new(InjectConfig::new("verifier:test")),
        metrics: metrics.clone(),
    };
    let handle = Handle::new();
    let task = tokio::spawn(tls::serve_tls(
        "127.0.0.1:0".parse().unwrap(),
        config,
        webhook::router(state),
        handle.clone(),
    ));
    let addr = handle.listening().await.expect("listening");
    Server {
        addr,
        handle,
        metrics,
        task,
    }
}

fn client_trusting(cert_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem).unwrap()])
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

fn url(addr: SocketAddr) -> String {
    format!("https://localhost:{}/mutate-v1-pod", addr.port())
}

#[tokio::test]
async fn admission_over_real_tls() {
    let dir = tempfile::tempdir().unwrap();
    let files = tls::write_dev_certificate(dir.path()).unwrap();
    let lookup = Arc::new(StaticLookup {
        model_validations: vec![key_mv()],
        ignored_namespaces: vec![],
        required_namespaces: vec![],
    });
    let server = start(&files, lookup, Duration::from_secs(60)).await;
    let client = client_trusting(&std::fs::read(&files.cert).unwrap());

    // a pod CREATE: injected, JSON Patch
    let resp = client
        .post(url(server.addr))
        .header("content-type", "application/json")
        .body(FIXTURE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let review: Value = resp.json().await.unwrap();
    assert_eq!(review["kind"], "AdmissionReview");
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    let response = &review["response"];
    assert_eq!(response["uid"], "7f0e3a1c-2b7d-4c55-9d0e-5f2b8a6c1d01");
    assert_eq!(response["allowed"], true);
    assert_eq!(response["patchType"], "JSONPatch");
    let patch = base64_decode(response["patch"].as_str().unwrap());
    let ops: Value = serde_json::from_slice(&patch).unwrap();
    assert_eq!(ops[0]["op"], "add");
    assert_eq!(ops[0]["path"], "/spec/initContainers");
    assert_eq!(ops[0]["value"][0]["name"], "model-validation");
    assert_eq!(ops[0]["value"][0]["image"], "verifier:test");

    // malformed bodies: a 400 AdmissionResponse, never a 5xx
    for body in ["", "{", "[1,2]", "{\"request\": 7}"] {
        let resp = client
            .post(url(server.addr))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "body {body:?}");
        let review: Value = resp.json().await.unwrap();
        assert_eq!(review["response"]["allowed"], false);
        assert_eq!(review["response"]["status"]["code"], 400, "body {body:?}");
    }
    // wrong method / path: 4xx from the router
    let resp = client.get(url(server.addr)).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    let resp = client
        .post(format!("https://localhost:{}/other", server.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    let text = server.metrics.encode().unwrap();
    assert!(
        text.contains("model_validation_admission_requests_total{result=\"injected\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("model_validation_admission_requests_total{result=\"invalid\"} 4"),
        "{text}"
    );
    assert!(
        text.contains("model_validation_admission_duration_seconds_count 5"),
        "{text}"
    );

    // a client that does not trust the certificate cannot talk to it
    let other = tempfile::tempdir().unwrap();
    let stranger = tls::write_dev_certificate(other.path()).unwrap();
    let untrusting = client_trusting(&std::fs::read(&stranger.cert).unwrap());
    assert!(
        untrusting
            .post(url(server.addr))
            .body(FIXTURE)
            .send()
            .await
            .is_err()
    );
    server.handle.shutdown();
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// Replaces the files the way the kubelet updates a Secret volume: new files, then an atomic
/// rename over the old ones.
fn rotate(files: &TlsFiles, from: &Path) {
    for (name, target) in [("tls.crt", &files.cert), ("tls.key", &files.key)] {
        let staged = target.with_extension("new");
        std::fs::copy(from.join(name), &staged).unwrap();
        std::fs::rename(&staged, target).unwrap();
    }
}

#[tokio::test]
async fn a_rotated_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let files = tls::write_dev_certificate(dir.path()).unwrap();
    let server = start(
        &files,
        Arc::new(StaticLookup::default()),
        Duration::from_millis(100),
    )
    .await;
    let old_client = client_trusting(&std::fs::read(&files.cert).unwrap());
    assert!(
        old_client
            .post(url(server.addr))
            .body(FIXTURE)
            .send()
            .await
            .is_ok()
    );

    // a broken pair is refused and the old certificate kept
    std::fs::write(&files.cert, b"-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        old_client
            .post(url(server.addr))
            .body(FIXTURE)
            .send()
            .await
            .is_ok()
    );

    let next = tempfile::tempdir().unwrap();
    let new_files = tls::write_dev_certificate(next.path()).unwrap();
    let new_client = client_trusting(&std::fs::read(&new_files.cert).unwrap());
    assert!(
        new_client
            .post(url(server.addr))
            .body(FIXTURE)
            .send()
            .await
            .is_err()
    );
    rotate(&files, next.path());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if new_client
            .post(url(server.addr))
            .body(FIXTURE)
            .send()
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "new certificate not served after rotation"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // and the old one is gone
    assert!(
        old_client
            .post(url(server.addr))
            .body(FIXTURE)
            .send()
            .await
            .is_err()
    );
    server.handle.shutdown();
}

#[tokio::test]
async fn bad_certificate_files_fail_before_binding() {
    provider();
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles::in_dir(dir.path(), "tls.crt", "tls.key");
    let err = files.load().await.unwrap_err().to_string();
    assert!(
        err.contains("cannot read") && err.contains("tls.crt"),
        "{err}"
    );
    std::fs::write(&files.cert, "not pem").unwrap();
    std::fs::write(&files.key, "not pem").unwrap();
    let err = files.load().await.unwrap_err().to_string();
    assert!(err.contains("do not hold a usable PEM"), "{err}");
}

/// A lookup that takes its time, to have an admission in flight during shutdown.
struct Slow(StaticLookup, Duration);

impl ModelValidationLookup for Slow {
    fn namespace_ignored(&self, ns: &str) -> bool {
        std::thread::sleep(self.1);
        self.0.namespace_ignored(ns)
    }
    fn in_namespace(&self, ns: &str) -> Vec<Arc<ModelValidation>> {
        self.0.in_namespace(ns)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_admissions() {
    let dir = tempfile::tempdir().unwrap();
    let files = tls::write_dev_certificate(dir.path()).unwrap();
    let lookup = Slow(
        StaticLookup {
            model_validations: vec![key_mv()],
            ignored_namespaces: vec![],
            required_namespaces: vec![],
        },
        Duration::from_millis(800),
    );
    let server = start(&files, Arc::new(lookup), Duration::from_secs(60)).await;
    let client = client_trusting(&std::fs::read(&files.cert).unwrap());
    let in_flight = {
        let client = client.clone();
        let u = url(server.addr);
        tokio::spawn(async move { client.post(u).body(FIXTURE).send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    server
        .handle
        .graceful_shutdown(Some(Duration::from_secs(10)));
    let resp = in_flight
        .await
        .unwrap()
        .expect("the in-flight admission is answered");
    assert_eq!(resp.status(), 200);
    let review: Value = resp.json().await.unwrap();
    assert_eq!(review["response"]["allowed"], true);
    // the server has stopped: no new connections
    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
    assert!(
        client
            .post(url(server.addr))
            .body(FIXTURE)
            .send()
            .await
            .is_err()
    );
}

/// A lookup with a bug.
struct Panicky;

impl ModelValidationLookup for Panicky {
    fn namespace_ignored(&self, _: &str) -> bool {
        false
    }
    fn in_namespace(&self, _: &str) -> Vec<Arc<ModelValidation>> {
        panic!("bug while looking up ModelValidations")
    }
}

#[tokio::test]
async fn a_panic_while_deciding_fails_that_request_only() {
    // Before issue 16 the connection was dropped (and with the release profile's
    // panic = "abort" the whole replica, controller included, went down).
    let dir = tempfile::tempdir().unwrap();
    let files = tls::write_dev_certificate(dir.path()).unwrap();
    let server = start(&files, Arc::new(Panicky), Duration::from_secs(60)).await;
    let client = client_trusting(&std::fs::read(&files.cert).unwrap());
    for _ in 0..2 {
        let resp = client
            .post(url(server.addr))
            .body(FIXTURE)
            .send()
            .await
            .expect("an answer, not a dropped connection");
        assert_eq!(resp.status(), 200);
        let review: Value = resp.json().await.unwrap();
        let r = &review["response"];
        assert_eq!(r["uid"], "7f0e3a1c-2b7d-4c55-9d0e-5f2b8a6c1d01");
        assert_eq!(r["allowed"], false);
        assert_eq!(r["status"]["code"], 500);
        assert!(
            r["status"]["message"]
                .as_str()
                .unwrap()
                .contains("internal error"),
            "{review}"
        );
    }
    // an UPDATE never depends on the buggy part and passes
    let mut update: Value = serde_json::from_str(FIXTURE).unwrap();
    update["request"]["operation"] = json!("UPDATE");
    let review: Value = client
        .post(url(server.addr))
        .json(&update)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(review["response"]["allowed"], true);
    server.handle.shutdown();
}

#[test]
fn a_panic_answer_never_blocks_updates() {
    let mut update: Value = serde_json::from_str(FIXTURE).unwrap();
    update["request"]["operation"] = json!("DELETE");
    let d = model_validation_operator::admission::after_panic(
        &serde_json::to_vec(&update).unwrap(),
        "boom",
    );
    assert!(d.response.allowed);
    assert_eq!(d.response.uid, "7f0e3a1c-2b7d-4c55-9d0e-5f2b8a6c1d01");
    let d = model_validation_operator::admission::after_panic(FIXTURE.as_bytes(), "boom");
    assert!(!d.response.allowed);
    assert!(d.response.result.message.contains("boom"));
}

#[tokio::test]
async fn a_model_validation_missing_from_the_cache_is_looked_up_live() {
    use http::{Request, Response};
    use kube::client::Body;
    // A pod created right after its ModelValidation: this replica's cache is still empty.
    let (svc, mut api) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let live: Arc<dyn LiveLookup> = Arc::new(kube::Client::new(svc, "default"));
    let dir = tempfile::tempdir().unwrap();
    let files = tls::write_dev_certificate(dir.path()).unwrap();
    let server = start_with(
        &files,
        Arc::new(StaticLookup::default()),
        Some(live),
        Duration::from_secs(60),
    )
    .await;
    let client = client_trusting(&std::fs::read(&files.cert).unwrap());
    let list = |items: Vec<Value>| {
        json!({"apiVersion": "ml.sigstore.dev/v1alpha1", "kind": "ModelValidationList",
               "metadata": {"resourceVersion": "5"}, "items": items})
    };
    let answers = tokio::spawn(async move {
        // label "true": the namespace's ModelValidations are listed
        for items in [
            vec![serde_json::to_value(key_mv().as_ref()).unwrap()],
            vec![],
        ] {
            let (req, send) = api.next_request().await.unwrap();
            assert_eq!(req.method(), http::Method::GET);
            assert_eq!(
                req.uri().path(),
                "/apis/ml.sigstore.dev/v1alpha1/namespaces/models/modelvalidations"
            );
            send.send_response(
                Response::builder()
                    .body(Body::from(serde_json::to_vec(&list(items)).unwrap()))
                    .unwrap(),
            );
        }
        // then a stalled API server: the webhook does not wait past its timeout
        let (_req, send) = api.next_request().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(send);
    });
    let ask = || async {
        let review: Value = client
            .post(url(server.addr))
            .body(FIXTURE)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        review["response"].clone()
    };
    let r = ask().await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["patchType"], "JSONPatch");
    let r = ask().await;
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("has no ModelValidation")
    );
    let started = Instant::now();
    let r = ask().await;
    assert_eq!(r["allowed"], false);
    assert!(started.elapsed() < Duration::from_secs(5));
    answers.abort();
    server.handle.shutdown();
}

#[tokio::test]
async fn probes_and_metrics_over_http() {
    let readiness = Readiness::new(true);
    let metrics = Metrics::new();
    let router = admin::admin_router(AdminState {
        readiness: readiness.clone(),
        metrics: metrics.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let stop = tokio_util_stop();
    let server = tokio::spawn(admin::serve_plain(addr, router, stop.1));
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("http://{addr}{path}")).send();
    let mut tries = 0;
    let health = loop {
        match get("/healthz").await {
            Ok(r) => break r,
            Err(_) if tries < 50 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(health.status(), 200);

    let r = get("/readyz").await.unwrap();
    assert_eq!(r.status(), 503);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("ModelValidation cache not synced") && body.contains("webhook not serving"),
        "{body}"
    );
    readiness.set_caches_synced();
    let r = get("/readyz").await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.text().await.unwrap(), "not ready: webhook not serving\n");
    readiness.set_serving(true);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);

    metrics.observe_admission("denied", Duration::from_millis(2));
    metrics.observe_verification("key", "failed");
    metrics.reconciles.inc();
    metrics.leader.set(1);
    let r = get("/metrics").await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    for line in [
        "model_validation_admission_requests_total{result=\"denied\"} 1",
        "model_validation_admission_duration_seconds_count 1",
        "model_validation_verifications_total{method=\"key\",outcome=\"failed\"} 1",
        "model_validation_reconciles_total 1",
        "model_validation_leader 1",
        "# EOF",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let _ = stop.0.send(());
    server.await.unwrap().unwrap();
}

fn tokio_util_stop() -> (
    tokio::sync::oneshot::Sender<()>,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}
