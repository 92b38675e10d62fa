//! The controller's unit tests: pure decisions, and reconciles against a tower-test API.

use super::*;
use crate::cache::StaticLookup;
use crate::crd::ModelValidationSpec;
use crate::inject::injection;
use crate::podcache::{CachedPod, PodIndex, cached_event, slim};
use http::{Method, Request, Response};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::events::Reporter;
use kube::runtime::reflector;
use kube::runtime::watcher;
use mv_shared::verify::{Outcome as ReportOutcome, TerminationReport};
use mv_shared::{INIT_CONTAINER_NAME, POD_LABEL, annotations};
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn mv(generation: i64, spec: Value, status: Option<Value>) -> ModelValidation {
    let spec: ModelValidationSpec = serde_json::from_value(spec).unwrap();
    let mut m = ModelValidation::new("demo", spec);
    m.metadata.namespace = Some("models".into());
    m.metadata.uid = Some("mv-uid".into());
    m.metadata.generation = Some(generation);
    m.status = status.map(|s| serde_json::from_value(s).unwrap());
    m
}

fn key_spec() -> Value {
    json!({"model": {"path": "/data/model"}, "config": {"publicKeyConfig": {"keyPath": "/k/key.pub"}}})
}

fn config() -> InjectConfig {
    InjectConfig::new("registry.example.com/model-verifier:1")
}

/// A labelled pod; `verifier` is the init container status (`None`: not injected). An
/// injected pod carries exactly what the webhook injects for `mv(1, key_spec())`.
fn pod(name: &str, verifier: Option<Value>) -> Pod {
    pod_for(name, verifier, &mv(1, key_spec(), None))
}

/// [`pod`] injected for `m`.
fn pod_for(name: &str, verifier: Option<Value>, m: &ModelValidation) -> Pod {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "models", "uid": format!("uid-{name}"),
                     "labels": {POD_LABEL: "true"}},
        "spec": {"containers": [{"name": "app", "image": "app", "volumeMounts": [
            {"name": "data", "mountPath": "/data"}, {"name": "keys", "mountPath": "/k"}]}]},
    });
    if let Some(state) = verifier {
        let spec: k8s_openapi::api::core::v1::PodSpec =
            serde_json::from_value(p["spec"].clone()).unwrap();
        let genuine = injection(m, &spec, &config()).unwrap();
        p["metadata"]["annotations"] = json!({annotations::MODEL_VALIDATION: "demo",
            annotations::GENERATION: "1", annotations::METHOD: "key"});
        let mut c = serde_json::to_value(genuine.container).unwrap();
        // as the API server returns it: defaulted
        c["imagePullPolicy"] = json!("IfNotPresent");
        p["spec"]["initContainers"] = json!([c]);
        if !state.is_null() {
            p["status"] = json!({"initContainerStatuses": [state]});
        }
    }
    serde_json::from_value(p).unwrap()
}

fn terminated(exit: i32, message: &str) -> Value {
    json!({"name": INIT_CONTAINER_NAME, "image": "verifier", "imageID": "", "ready": exit == 0,
           "restartCount": 0, "containerID": "containerd://abc",
           "state": {"terminated": {"exitCode": exit, "reason": if exit == 0 {"Completed"} else {"Error"},
                     "message": message, "finishedAt": "2030-01-01T00:00:00Z",
                     "containerID": "containerd://abc"}}})
}

struct Setup {
    ctx: Arc<Context>,
    handle: Handle,
}

fn setup(mvs: &[&ModelValidation], pods: Vec<Pod>, since: Timestamp) -> Setup {
    setup_with(mvs, pods, since, Arc::new(StaticLookup::default()))
}

fn setup_with(
    mvs: &[&ModelValidation],
    pods: Vec<Pod>,
    since: Timestamp,
    lookup: Arc<dyn ModelValidationLookup + Send + Sync>,
) -> Setup {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(svc, "default");
    let (mv_store, mut mv_writer) = reflector::store::<ModelValidation>();
    for m in mvs {
        mv_writer.apply_watcher_event(&watcher::Event::Apply((*m).clone()));
    }
    let (pod_store, mut pod_writer) = reflector::store::<CachedPod>();
    let index = PodIndex::default();
    for p in pods {
        let event = watcher::Event::Apply(slim(p));
        pod_writer.apply_watcher_event(&event);
        index.apply(&event);
    }
    let pod_store = PodCache {
        store: pod_store,
        index,
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "model-validation-operator".into(),
            instance: Some("test".into()),
        },
    );
    let ctx = Arc::new(Context::new(
        client,
        mv_store,
        pod_store,
        lookup,
        recorder,
        Metrics::new(),
        Arc::new(config()),
        since,
    ));
    Setup { ctx, handle }
}

fn past() -> Timestamp {
    Timestamp::UNIX_EPOCH
}

async fn body_json(req: Request<Body>) -> Value {
    let bytes = req.into_body().collect_bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Answers the next request, which must be an Event create, and returns the Event.
async fn expect_event(handle: &mut Handle) -> Value {
    let (req, send) = handle.next_request().await.expect("an Event create");
    assert_eq!(req.method(), Method::POST);
    assert_eq!(
        req.uri().path(),
        "/apis/events.k8s.io/v1/namespaces/models/events"
    );
    let event = body_json(req).await;
    send.send_response(
        Response::builder()
            .status(201)
            .body(Body::from(serde_json::to_vec(&event).unwrap()))
            .unwrap(),
    );
    event
}

/// Answers the next request, an Event create or a series update (PATCH), and returns it.
async fn expect_event_or_series(handle: &mut Handle) -> Value {
    let (req, send) = handle.next_request().await.expect("an Event write");
    assert!(
        req.method() == Method::POST || req.method() == Method::PATCH,
        "{}",
        req.method()
    );
    assert!(
        req.uri()
            .path()
            .starts_with("/apis/events.k8s.io/v1/namespaces/models/events"),
        "{}",
        req.uri()
    );
    let event = body_json(req).await;
    send.send_response(
        Response::builder()
            .status(200)
            .body(Body::from(serde_json::to_vec(&event).unwrap()))
            .unwrap(),
    );
    event
}

/// Answers the next request, which must be the status merge patch, and returns the status.
async fn expect_status_patch(handle: &mut Handle, current: &ModelValidation) -> Value {
    let (req, send) = handle.next_request().await.expect("a status patch");
    assert_eq!(req.method(), Method::PATCH);
    assert_eq!(
        req.uri().path(),
        "/apis/ml.sigstore.dev/v1alpha1/namespaces/models/modelvalidations/demo/status"
    );
    assert_eq!(
        req.headers()["content-type"],
        "application/merge-patch+json"
    );
    let patch = body_json(req).await;
    let mut updated = serde_json::to_value(current).unwrap();
    updated["status"] = patch["status"].clone();
    send.send_response(
        Response::builder()
            .body(Body::from(serde_json::to_vec(&updated).unwrap()))
            .unwrap(),
    );
    patch["status"].clone()
}

/// Runs reconcile against the scripted API server and checks no other call was made.
async fn run<F, Fut>(s: Setup, m: ModelValidation, script: F) -> Result<Action, Error>
where
    F: FnOnce(Handle) -> Fut,
    Fut: std::future::Future<Output = Handle> + Send + 'static,
{
    let Setup { ctx, handle } = s;
    let server = tokio::spawn(script(handle));
    let result = tokio::time::timeout(Duration::from_secs(5), reconcile(Arc::new(m), ctx.clone()))
        .await
        .expect("reconcile finished (an unexpected API call would leave it waiting)");
    let metrics = ctx.metrics.clone();
    drop(ctx);
    let mut handle = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    let extra = tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await;
    assert!(
        matches!(extra, Ok(None) | Err(_)),
        "unexpected extra API call"
    );
    assert!(
        metrics
            .encode()
            .unwrap()
            .contains("model_validation_reconciles_total 1")
    );
    assert!(
        metrics
            .encode()
            .unwrap()
            .contains("model_validation_reconcile_duration_seconds_count 1")
    );
    result
}

#[tokio::test]
async fn a_new_model_validation_gets_ready_and_zero_counts() {
    let m = mv(1, key_spec(), None);
    let s = setup(&[&m], vec![], past());
    let current = m.clone();
    let action = run(s, m, |mut h| async move {
        let status = expect_status_patch(&mut h, &current).await;
        assert_eq!(status["observedGeneration"], 1);
        assert_eq!(status["authMethod"], "public-key");
        assert_eq!(status["injectedPodCount"], 0);
        assert_eq!(status["failedPodCount"], 0);
        let ready = &status["conditions"][0];
        assert_eq!(ready["type"], "Ready");
        assert_eq!(ready["status"], "True");
        assert_eq!(ready["reason"], "Valid");
        assert_eq!(ready["observedGeneration"], 1);
        assert!(ready["message"].as_str().unwrap().contains("/data/model"));
        assert!(ready["lastTransitionTime"].is_string());
        h
    })
    .await
    .unwrap();
    assert_eq!(action, Action::requeue(RESYNC));
}

#[tokio::test]
async fn an_unchanged_status_is_not_written_again() {
    let first = mv(1, key_spec(), None);
    let status = desired_status(&first, &[], past());
    let m = mv(1, key_spec(), Some(serde_json::to_value(&status).unwrap()));
    let s = setup(&[&m], vec![], past());
    run(s, m, |h| async move { h }).await.unwrap();
}

#[tokio::test]
async fn a_spec_change_moves_observed_generation() {
    let old = mv(1, key_spec(), None);
    let old_status = serde_json::to_value(desired_status(&old, &[], past())).unwrap();
    // same validity: lastTransitionTime stays
    let m = mv(
        2,
        json!({"model": {"path": "/data/other"}, "config": {"publicKeyConfig": {"keyPath": "/k/key.pub"}}}),
        Some(old_status.clone()),
    );
    let s = setup(&[&m], vec![], past());
    let current = m.clone();
    let t0 = old_status["conditions"][0]["lastTransitionTime"].clone();
    run(s, m, move |mut h| async move {
        let status = expect_status_patch(&mut h, &current).await;
        assert_eq!(status["observedGeneration"], 2);
        assert_eq!(status["conditions"][0]["observedGeneration"], 2);
        assert_eq!(status["conditions"][0]["status"], "True");
        assert_eq!(status["conditions"][0]["lastTransitionTime"], t0);
        assert!(
            status["conditions"][0]["message"]
                .as_str()
                .unwrap()
                .contains("/data/other")
        );
        h
    })
    .await
    .unwrap();
    // an unusable spec (a server without CEL let it in): Ready=False with the reason
    let m = mv(
        3,
        json!({"model": {"path": "relative"}, "config": {"publicKeyConfig": {"keyPath": "/k"}}}),
        Some(old_status),
    );
    let s = setup(&[&m], vec![], past());
    let current = m.clone();
    run(s, m, |mut h| async move {
        let status = expect_status_patch(&mut h, &current).await;
        let ready = &status["conditions"][0];
        assert_eq!(ready["status"], "False");
        assert_eq!(ready["reason"], "RelativePath");
        assert!(
            ready["message"]
                .as_str()
                .unwrap()
                .contains("spec.model.path must be an absolute path")
        );
        assert_eq!(ready["observedGeneration"], 3);
        assert_eq!(status["authMethod"], Value::Null);
        h
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn pods_succeeding_and_failing_verification() {
    let ok = pod(
        "a-ok",
        Some(terminated(
            0,
            r#"{"outcome":"verified","method":"key","rootDigest":"sha256:00ff","files":3,"bytes":2048,"seconds":0.5}"#,
        )),
    );
    let bad = pod(
        "b-bad",
        Some(terminated(
            1,
            r#"{"outcome":"failed","method":"key","reason":"signature does not match"}"#,
        )),
    );
    let waiting = pod("c-running", Some(Value::Null));
    let m = mv(1, key_spec(), None);
    let s = setup(&[&m], vec![ok, bad, waiting], past());
    let metrics = s.ctx.metrics.clone();
    let current = m.clone();
    run(s, m, |mut h| async move {
        // a-ok: on the pod, then on the ModelValidation
        let e = expect_event(&mut h).await;
        assert_eq!(e["reason"], REASON_VERIFIED);
        assert_eq!(e["type"], "Normal");
        assert_eq!(e["regarding"]["kind"], "Pod");
        assert_eq!(e["regarding"]["name"], "a-ok");
        let note = e["note"].as_str().unwrap();
        assert!(
            note.contains("3 files") && note.contains("sha256:00ff"),
            "{note}"
        );
        let e = expect_event(&mut h).await;
        assert_eq!(e["reason"], REASON_VERIFIED);
        assert_eq!(e["regarding"]["kind"], "ModelValidation");
        assert_eq!(e["regarding"]["name"], "demo");
        // b-bad
        let e = expect_event(&mut h).await;
        assert_eq!(e["reason"], REASON_FAILED);
        assert_eq!(e["type"], "Warning");
        assert_eq!(e["regarding"]["name"], "b-bad");
        let note = e["note"].as_str().unwrap();
        assert!(
            note.contains("signature does not match")
                && note.contains("does not start (Enforce mode)"),
            "{note}"
        );
        let e = expect_event(&mut h).await;
        assert_eq!(e["regarding"]["kind"], "ModelValidation");
        let status = expect_status_patch(&mut h, &current).await;
        assert_eq!(status["injectedPodCount"], 3);
        assert_eq!(status["verifiedPodCount"], 1);
        assert_eq!(status["failedPodCount"], 1);
        assert_eq!(status["uninjectedPodCount"], 0);
        h
    })
    .await
    .unwrap();
    let text = metrics.encode().unwrap();
    assert!(
        text.contains(r#"model_validation_verifications_total{method="key",outcome="verified"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"model_validation_verifications_total{method="key",outcome="failed"} 1"#),
        "{text}"
    );
}

fn continuous_spec(mode: &str) -> Value {
    json!({"model": {"path": "/data/model"}, "mode": mode,
           "config": {"publicKeyConfig": {"keyPath": "/k/key.pub"}},
           "continuousValidation": {"enabled": true, "interval": "5m"}})
}

/// The status of a running sidecar.
fn sidecar(started: bool, ready: bool) -> Value {
    json!({"name": INIT_CONTAINER_NAME, "image": "verifier", "imageID": "",
           "restartCount": 0, "containerID": "containerd://side", "started": started,
           "ready": ready, "state": {"running": {"startedAt": "2030-01-01T00:00:00Z"}}})
}

/// Answers the next request, which must read the tail of the sidecar's log of `pod`.
async fn expect_log(handle: &mut Handle, pod: &str, log: &str) {
    let (req, send) = handle.next_request().await.expect("a log read");
    assert_eq!(req.method(), Method::GET);
    assert_eq!(
        req.uri().path(),
        format!("/api/v1/namespaces/models/pods/{pod}/log")
    );
    let query = req.uri().query().unwrap_or_default().to_owned();
    assert!(query.contains("container=model-validation"), "{query}");
    assert!(query.contains("tailLines="), "{query}");
    send.send_response(
        Response::builder()
            .body(Body::from(log.as_bytes().to_vec()))
            .unwrap(),
    );
}

const DRIFT_LINE: &str = r#"{"event":"drift-detected","ready":false,"method":"key","model":"/data/model","check":"inotify","kind":"mismatch","reason":"file weights.bin: digest does not match the signature","files":["weights.bin"],"fileCount":1,"changes":["weights.bin: modified (mtime, ctime)"],"warnOnly":false,"unixTime":1900000000}"#;
const VERIFIED_LINE: &str = r#"{"event":"verified","ready":true,"method":"key","model":"/data/model","check":"initial","warnOnly":false,"unixTime":1899999000}"#;
const RESTORED_LINE: &str = r#"{"event":"restored","ready":true,"method":"key","model":"/data/model","check":"inotify","warnOnly":false,"unixTime":1900000100}"#;

#[tokio::test]
async fn drift_reported_by_the_sidecar_is_an_event_naming_the_file_and_a_count() {
    let m = mv(1, continuous_spec("Enforce"), None);
    let drifted = pod_for("a-drifted", Some(sidecar(true, false)), &m);
    let ok = pod_for("b-ok", Some(sidecar(true, true)), &m);
    // the log says verified but the kubelet does not see it ready yet: not counted
    let unconfirmed = pod_for("c-unconfirmed", Some(sidecar(true, false)), &m);
    // a forged sidecar (no readiness probe): its log is never read
    let mut forged = pod_for("d-forged", Some(sidecar(true, true)), &m);
    forged
        .spec
        .as_mut()
        .unwrap()
        .init_containers
        .as_mut()
        .unwrap()[0]
        .readiness_probe = None;
    let s = setup(&[&m], vec![drifted, ok, unconfirmed, forged], past());
    let metrics = s.ctx.metrics.clone();
    let current = m.clone();
    let action = run(s, m, |mut h| async move {
        expect_log(
            &mut h,
            "a-drifted",
            &format!("validation-agent: probes listening\n{VERIFIED_LINE}\n{DRIFT_LINE}\n"),
        )
        .await;
        expect_log(&mut h, "b-ok", &format!("{VERIFIED_LINE}\n")).await;
        expect_log(&mut h, "c-unconfirmed", &format!("{VERIFIED_LINE}\n")).await;
        for regarding in ["Pod", "ModelValidation"] {
            let e = expect_event(&mut h).await;
            assert_eq!(e["reason"], REASON_DRIFT_DETECTED);
            assert_eq!(e["type"], "Warning");
            assert_eq!(e["regarding"]["kind"], regarding);
            let note = e["note"].as_str().unwrap();
            assert!(
                note.contains("a-drifted")
                    && note.contains("weights.bin: modified (mtime, ctime)")
                    && note.contains("digest does not match")
                    && note.contains("NotReady"),
                "{note}"
            );
        }
        for _ in 0..2 {
            let e = expect_event(&mut h).await;
            assert_eq!(e["reason"], REASON_VERIFIED);
            assert_ne!(e["regarding"]["name"], "c-unconfirmed");
        }
        for _ in 0..2 {
            let e = expect_event(&mut h).await;
            assert_eq!(e["reason"], REASON_TAMPERED);
            assert!(
                e["note"].as_str().unwrap().contains("readinessProbe"),
                "{e}"
            );
        }
        let status = expect_status_patch(&mut h, &current).await;
        assert_eq!(status["driftedPodCount"], 1);
        assert_eq!(status["verifiedPodCount"], 1);
        assert_eq!(status["failedPodCount"], 0);
        assert_eq!(status["tamperedPodCount"], 1);
        assert_eq!(status["injectedPodCount"], 3);
        h
    })
    .await
    .unwrap();
    assert_eq!(action, Action::requeue(RESYNC));
    let text = metrics.encode().unwrap();
    assert!(
        text.contains(r#"model_validation_model_drift_total{event="detected"} 1"#),
        "{text}"
    );

    // restored: the log says so and the kubelet sees the sidecar ready again
    let m = mv(1, continuous_spec("Enforce"), None);
    let restored = pod_for("a-drifted", Some(sidecar(true, true)), &m);
    let still = pod_for("b-still", Some(sidecar(true, false)), &m);
    let s = setup(&[&m], vec![restored, still], past());
    let metrics = s.ctx.metrics.clone();
    let current = m.clone();
    run(s, m, |mut h| async move {
        expect_log(
            &mut h,
            "a-drifted",
            &format!("{DRIFT_LINE}\n{RESTORED_LINE}\n"),
        )
        .await;
        // the kubelet already sees it ready, but the sidecar has not said restored: the
        // log decides nothing good without a restored line
        expect_log(&mut h, "b-still", &format!("{DRIFT_LINE}\n")).await;
        for _ in 0..2 {
            let e = expect_event(&mut h).await;
            assert_eq!(e["reason"], REASON_DRIFT_RESOLVED);
            assert_eq!(e["type"], "Normal");
            assert!(
                e["note"]
                    .as_str()
                    .unwrap()
                    .contains("matches its signature again")
            );
        }
        for _ in 0..2 {
            let e = expect_event(&mut h).await;
            assert_eq!(e["reason"], REASON_DRIFT_DETECTED);
        }
        let status = expect_status_patch(&mut h, &current).await;
        assert_eq!(status["driftedPodCount"], 1);
        assert_eq!(status["verifiedPodCount"], 1);
        h
    })
    .await
    .unwrap();
    let text = metrics.encode().unwrap();
    assert!(
        text.contains(r#"model_validation_model_drift_total{event="resolved"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_ready_sidecar_whose_log_says_nothing_good_is_not_verified() {
    // The kubelet's ready flag alone (a probe any container of the pod could answer) never
    // makes a pod verified.
    let m = mv(1, continuous_spec("Enforce"), None);
    let cases = [
        ("a-empty", "validation-agent: probes listening\n".to_owned()),
        ("b-garbage", "{\"event\": 5}\nnot json\n".to_owned()),
        (
            "c-failed",
            r#"{"event":"failed","reason":"weights.bin: missing","unixTime":1}"#.to_owned(),
        ),
    ];
    let pods = cases
        .iter()
        .map(|(name, _)| pod_for(name, Some(sidecar(true, true)), &m))
        .collect();
    let s = setup(&[&m], pods, past());
    let current = m.clone();
    run(s, m, |mut h| async move {
        for (name, log) in &cases {
            expect_log(&mut h, name, log).await;
        }
        for _ in 0..2 {
            let e = expect_event(&mut h).await;
            assert_eq!(e["reason"], REASON_FAILED);
            assert!(e["note"].as_str().unwrap().contains("weights.bin: missing"));
        }
        let status = expect_status_patch(&mut h, &current).await;
        assert_eq!(status["verifiedPodCount"], 0);
        assert_eq!(status["failedPodCount"], 1);
        assert_eq!(status["injectedPodCount"], 3);
        h
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn warn_mode_sidecars_and_first_checks_are_polled() {
    // Warn: no readiness gate, so drift changes no flag: the controller comes back within
    // the interval. A sidecar whose startup probe has not passed: within STARTING_POLL.
    for (mode, started, want) in [
        ("Warn", true, Duration::from_secs(300)),
        ("Enforce", false, crate::drift::STARTING_POLL),
    ] {
        let m = mv(1, continuous_spec(mode), None);
        let p = pod_for("a", Some(sidecar(started, started)), &m);
        let s = setup(&[&m], vec![p], past());
        let current = m.clone();
        let action = run(s, m, |mut h| async move {
            expect_log(&mut h, "a", "").await;
            expect_status_patch(&mut h, &current).await;
            h
        })
        .await
        .unwrap();
        assert_eq!(action, Action::requeue(want), "{mode}");
    }
}

#[tokio::test]
async fn events_are_published_once_per_verifier_run() {
    let ok = pod("a-ok", Some(terminated(0, "")));
    let m = mv(1, key_spec(), None);
    let s = setup(&[&m], vec![ok.clone()], past());
    let ctx = s.ctx.clone();
    let current = m.clone();
    run(s, m.clone(), |mut h| async move {
        let e = expect_event(&mut h).await;
        // no report (e.g. the Python CLI image): exit code 0 still means verified
        assert_eq!(e["reason"], REASON_VERIFIED);
        expect_event(&mut h).await;
        expect_status_patch(&mut h, &current).await;
        h
    })
    .await
    .unwrap();
    // second reconcile with the written status: no Events, no write
    let status = desired_status(&m, &[classify(&ok)], past());
    let m2 = mv(1, key_spec(), Some(serde_json::to_value(status).unwrap()));
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx2 = Arc::new(Context {
        client: kube::Client::new(svc, "default"),
        model_validations: ctx.model_validations.clone(),
        pods: ctx.pods.clone(),
        lookup: ctx.lookup.clone(),
        recorder: Recorder::new(
            kube::Client::new(
                tower_test::mock::pair::<Request<Body>, Response<Body>>().0,
                "default",
            ),
            Reporter {
                controller: "x".into(),
                instance: None,
            },
        ),
        metrics: Metrics::new(),
        config: ctx.config.clone(),
        history: Mutex::new(HashMap::new()),
        reported: Mutex::new(ctx.reported.lock().unwrap().clone()),
        since: past(),
        logs: Default::default(),
    });
    run(Setup { ctx: ctx2, handle }, m2, |h| async move { h })
        .await
        .unwrap();
}

#[tokio::test]
async fn warn_mode_failure_lets_the_pod_start_and_is_reported() {
    let mut spec = key_spec();
    spec["mode"] = json!("Warn");
    let warn_mv = mv(1, spec, None);
    let warned = pod_for(
        "w",
        Some(terminated(
            0,
            r#"{"outcome":"failed","method":"key","reason":"file model.bin: digest mismatch","warnOnly":true}"#,
        )),
        &warn_mv,
    );
    let m = warn_mv.clone();
    let s = setup(&[&m], vec![warned], past());
    let current = m.clone();
    run(s, m, |mut h| async move {
        let e = expect_event(&mut h).await;
        assert_eq!(e["reason"], REASON_FAILED);
        assert_eq!(e["type"], "Warning");
        let note = e["note"].as_str().unwrap();
        assert!(
            note.contains("digest mismatch") && note.contains("allowed to start (Warn mode)"),
            "{note}"
        );
        expect_event(&mut h).await;
        let status = expect_status_patch(&mut h, &current).await;
        assert_eq!(status["failedPodCount"], 1);
        assert_eq!(status["verifiedPodCount"], 0);
        h
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_labelled_pod_without_the_verifier_is_warned_about() {
    let plain = pod("sneaked-in", None);
    let m = mv(1, key_spec(), None);
    let s = setup(&[&m], vec![plain], past());
    let current = m.clone();
    run(s, m, |mut h| async move {
        let e = expect_event(&mut h).await;
        assert_eq!(e["reason"], REASON_NOT_INJECTED);
        assert_eq!(e["type"], "Warning");
        assert_eq!(e["regarding"]["name"], "sneaked-in");
        assert!(e["note"].as_str().unwrap().contains("not verified"));
        let e = expect_event(&mut h).await;
        assert_eq!(e["regarding"]["kind"], "ModelValidation");
        let status = expect_status_patch(&mut h, &current).await;
        assert_eq!(status["uninjectedPodCount"], 1);
        assert_eq!(status["injectedPodCount"], 0);
        h
    })
    .await
    .unwrap();
}

const VERIFIED: &str = r#"{"outcome":"verified","method":"key"}"#;

/// Pods whose `model-validation` container reports success but is not what the webhook
/// injected. Before issue 16 each of them was counted verified (classify looked at the
/// container name only).
fn forged_pods() -> Vec<Pod> {
    let edit = |name: &str, f: &dyn Fn(&mut Value)| {
        let mut v = serde_json::to_value(pod(name, Some(terminated(0, VERIFIED)))).unwrap();
        f(&mut v);
        serde_json::from_value::<Pod>(v).unwrap()
    };
    vec![
        edit("own-image", &|p| {
            p["spec"]["initContainers"][0] = json!({"name": INIT_CONTAINER_NAME, "image": "busybox",
                "command": ["sh", "-c", "echo '{\"outcome\":\"verified\"}' >/dev/termination-log"]});
        }),
        edit("other-args", &|p| {
            p["spec"]["initContainers"][0]["args"][2] = json!("/data/unsigned");
        }),
        edit("extra-env", &|p| {
            p["spec"]["initContainers"][0]["env"] = json!([{"name": "X", "value": "y"}]);
        }),
        edit("no-generation", &|p| {
            p["metadata"]["annotations"]
                .as_object_mut()
                .unwrap()
                .remove(annotations::GENERATION);
        }),
        edit("future-generation", &|p| {
            p["metadata"]["annotations"][annotations::GENERATION] = json!("7");
        }),
        edit("not-last", &|p| {
            p["spec"]["initContainers"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "swap-model", "image": "busybox"}));
        }),
        edit("as-app-container", &|p| {
            let c = p["spec"]["initContainers"][0].clone();
            p["spec"]["containers"].as_array_mut().unwrap().push(c);
            p["spec"]["initContainers"] = json!([]);
        }),
    ]
}

#[tokio::test]
async fn a_forged_verifier_is_reported_as_tampering_and_never_counted_verified() {
    let m = mv(1, key_spec(), None);
    let mut pods = forged_pods();
    let n = pods.len();
    pods.push(pod("zz-genuine", Some(terminated(0, VERIFIED))));
    let s = setup(&[&m], pods, past());
    let metrics = s.ctx.metrics.clone();
    let current = m.clone();
    run(s, m, move |mut h| async move {
        for _ in 0..n {
            let e = expect_event(&mut h).await;
            assert_eq!(e["reason"], REASON_TAMPERED, "{e}");
            assert_eq!(e["type"], "Warning");
            assert!(e["note"].as_str().unwrap().contains("not counted"));
            // the Recorder turns repeats on the ModelValidation into a series (PATCH)
            let e = expect_event_or_series(&mut h).await;
            assert_eq!(e["regarding"]["kind"], "ModelValidation");
        }
        let e = expect_event(&mut h).await;
        assert_eq!(e["reason"], REASON_VERIFIED);
        assert_eq!(e["regarding"]["name"], "zz-genuine");
        expect_event_or_series(&mut h).await;
        let status = expect_status_patch(&mut h, &current).await;
        assert_eq!(status["verifiedPodCount"], 1);
        assert_eq!(status["injectedPodCount"], 1);
        assert_eq!(status["tamperedPodCount"], n);
        h
    })
    .await
    .unwrap();
    let text = metrics.encode().unwrap();
    assert!(
        text.contains(&format!("model_validation_tampered_pods_total {n}")),
        "{text}"
    );
    assert!(
        text.contains(r#"model_validation_verifications_total{method="key",outcome="verified"} 1"#),
        "{text}"
    );
}

#[test]
fn each_forged_container_is_named_for_what_differs() {
    let m = mv(1, key_spec(), None);
    let none = |_: i64| None;
    let reasons: Vec<String> = forged_pods()
        .iter()
        .map(|p| match assess(&slim(p.clone()), &m, &none, &config()) {
            PodState::Tampered { reason } => reason,
            other => panic!("{}: {other:?}", p.name_any()),
        })
        .collect();
    for (reason, want) in reasons.iter().zip([
        "command",
        "args",
        "env",
        "generation",
        "newer",
        "not the last init container",
        "regular or ephemeral",
    ]) {
        assert!(reason.contains(want), "{reason:?} should name {want:?}");
    }
    // a label naming one ModelValidation and an annotation naming another
    let mut p = pod("x", Some(terminated(0, VERIFIED)));
    p.metadata
        .labels
        .as_mut()
        .unwrap()
        .insert(POD_LABEL.into(), "demo".into());
    p.metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert(annotations::MODEL_VALIDATION.into(), "other".into());
    assert!(matches!(
        assess(&slim(p.clone()), &m, &none, &config()),
        PodState::Tampered { .. }
    ));
}

#[test]
fn pods_of_an_earlier_generation_are_checked_against_that_generation() {
    let p = pod("old", Some(terminated(0, VERIFIED)));
    let gen1 = Arc::new(mv(1, key_spec(), None));
    let gen2 = mv(
        2,
        json!({"model": {"path": "/data/other"}, "config": {"publicKeyConfig": {"keyPath": "/k/key.pub"}}}),
        None,
    );
    // seen by this controller: checked and counted
    let known = |g: i64| (g == 1).then(|| gen1.clone());
    assert!(matches!(
        assess(&slim(p.clone()), &gen2, &known, &config()),
        PodState::Verified { .. }
    ));
    // not seen (the controller started after the change): not counted either way
    assert_eq!(
        assess(&slim(p.clone()), &gen2, &|_| None, &config()),
        PodState::Unconfirmed { generation: 1 }
    );
    let status = desired_status(&gen2, &[PodState::Unconfirmed { generation: 1 }], past());
    assert_eq!(
        (
            status.injected_pod_count,
            status.verified_pod_count,
            status.failed_pod_count
        ),
        (1, 0, 0)
    );
    // the verifier image is the operator's, not anything the pod names
    let other = InjectConfig::new("evil.example.com/verifier:1");
    assert!(matches!(
        assess(&slim(p.clone()), &gen1, &|_| None, &other),
        PodState::Tampered { .. }
    ));
}

#[tokio::test]
async fn events_name_the_right_pod_after_skipping_one_in_an_ignored_namespace() {
    // Before issue 16 the skipped pod shifted pods.zip(states): "a-plain" got b-ok's Event.
    let m = mv(1, key_spec(), None);
    let pods = vec![
        pod("a-plain", None),
        pod("b-ok", Some(terminated(0, VERIFIED))),
    ];
    let lookup = Arc::new(StaticLookup {
        model_validations: vec![],
        ignored_namespaces: vec!["models".into()],
        required_namespaces: vec![],
    });
    let s = setup_with(&[&m], pods, past(), lookup);
    let current = m.clone();
    run(s, m, |mut h| async move {
        let e = expect_event(&mut h).await;
        assert_eq!(e["reason"], REASON_VERIFIED);
        assert_eq!(e["regarding"]["name"], "b-ok");
        expect_event(&mut h).await;
        let status = expect_status_patch(&mut h, &current).await;
        assert_eq!(status["verifiedPodCount"], 1);
        assert_eq!(status["uninjectedPodCount"], 0);
        h
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_panicking_reconcile_fails_alone() {
    struct Buggy;
    impl ModelValidationLookup for Buggy {
        fn namespace_ignored(&self, _: &str) -> bool {
            panic!("bug in a lookup")
        }
        fn in_namespace(&self, _: &str) -> Vec<Arc<ModelValidation>> {
            vec![]
        }
    }
    let m = mv(1, key_spec(), None);
    let s = setup_with(&[&m], vec![], past(), Arc::new(Buggy));
    let err = run(s, m, |h| async move { h }).await.unwrap_err();
    assert_eq!(err.reason(), "Panicked");
    assert!(err.to_string().contains("bug in a lookup"), "{err}");
}

/// A pod the upstream operator injected: its finalizer and annotations, its init container
/// (a `model_signing` run that exited 0 without a report), no annotation of this operator.
fn upstream_pod(name: &str, terminating: bool) -> Pod {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "models", "uid": format!("uid-{name}"),
                     "labels": {POD_LABEL: "demo"},
                     "finalizers": ["other.example.com/keep", crate::finalizer::UPSTREAM_FINALIZER],
                     "annotations": {
                         "validation.ml.sigstore.dev/injected-at": "2026-01-01T00:00:00Z",
                         "validation.ml.sigstore.dev/auth-method": "public-key",
                         "validation.ml.sigstore.dev/config-hash": "0123456789abcdef",
                         "validation.ml.sigstore.dev/continuous-validation": "true"}},
        "spec": {"containers": [{"name": "app", "image": "app"}],
                 "initContainers": [{"name": INIT_CONTAINER_NAME, "image": "agent"}]},
    });
    if terminating {
        p["metadata"]["deletionTimestamp"] = json!("2030-01-01T00:00:00Z");
    }
    serde_json::from_value(p).unwrap()
}

#[tokio::test]
async fn upstreams_finalizer_is_removed_from_running_and_terminating_pods() {
    let m = mv(1, key_spec(), None);
    let pods = vec![
        upstream_pod("a-running", false),
        upstream_pod("b-terminating", true),
    ];
    let s = setup(&[&m], pods, past());
    let current = m.clone();
    run(s, m, |mut h| async move {
        for name in ["a-running", "b-terminating"] {
            let (req, send) = h.next_request().await.expect("a pod patch");
            assert_eq!(req.method(), Method::PATCH);
            assert_eq!(
                req.uri().path(),
                format!("/api/v1/namespaces/models/pods/{name}")
            );
            assert_eq!(req.headers()["content-type"], "application/json-patch+json");
            let patch = body_json(req).await;
            assert_eq!(
                patch,
                json!([
                    {"op": "test", "path": "/metadata/finalizers",
                     "value": ["other.example.com/keep", crate::finalizer::UPSTREAM_FINALIZER]},
                    {"op": "remove", "path": "/metadata/finalizers/1"}
                ])
            );
            let pod = serde_json::to_vec(&upstream_pod(name, false)).unwrap();
            send.send_response(Response::builder().body(Body::from(pod)).unwrap());
        }
        // upstream's annotations make them neither this operator's nor unknown: injected
        // (by another operator, so orphaned), no Events about a result they never reported
        let status = expect_status_patch(&mut h, &current).await;
        assert_eq!(status["injectedPodCount"], 2);
        assert_eq!(status["orphanedPodCount"], 2);
        assert_eq!(status["uninjectedPodCount"], 0);
        h
    })
    .await
    .unwrap();
}

#[test]
fn continuous_specs_are_ready_and_unsupported_ones_say_why() {
    let ready = |spec: Value| {
        let status = desired_status(&mv(1, spec, None), &[], past());
        let c = status.conditions[0].clone();
        (c.status, c.reason, c.message, status.auth_method)
    };
    let (status, reason, message, method) = ready(json!({
        "model": {"path": "/data/model"}, "config": {"publicKeyConfig": {"keyPath": "/k"}},
        "continuousValidation": {"enabled": true, "interval": "10m"}}));
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Valid"));
    assert!(message.contains("keep checking it every 600s"), "{message}");
    assert_eq!(method.as_deref(), Some("public-key"));
    // disabled: nothing to report
    let (status, ..) = ready(json!({
        "model": {"path": "/data/model"}, "config": {"publicKeyConfig": {"keyPath": "/k"}},
        "continuousValidation": {"enabled": false, "interval": "5m"}}));
    assert_eq!(status, "True");
    for (field, path) in [
        ("path", "s3://bucket/model"),
        ("signaturePath", "https://h/m.sig"),
    ] {
        let mut spec = json!({"model": {"path": "/data/model"},
                              "config": {"pkiConfig": {"certificateAuthority": "/ca"}}});
        spec["model"][field] = json!(path);
        let (status, reason, message, _) = ready(spec);
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("False", "UnsupportedRemoteLocation")
        );
        assert!(
            message.contains(path) && message.contains("not supported"),
            "{message}"
        );
    }
}

#[test]
fn a_new_leader_announces_runs_that_ended_during_the_hand_over() {
    let start: Timestamp = "2030-01-01T00:01:00Z".parse().unwrap();
    let since = announce_since(start);
    // Ended 30 s before this leader started (no leader at the time): announced.
    let during: Timestamp = "2030-01-01T00:00:30Z".parse().unwrap();
    assert!(during >= since);
    // Ended two minutes before: announced by the previous leader, not again.
    let before: Timestamp = "2029-12-31T23:59:00Z".parse().unwrap();
    assert!(before < since);
}

#[tokio::test]
async fn results_from_before_this_leader_are_counted_but_not_announced() {
    let ok = pod("old", Some(terminated(0, "")));
    let m = mv(1, key_spec(), None);
    // finishedAt 2030-01-01 is before "since"
    let since: Timestamp = "2031-01-01T00:00:00Z".parse().unwrap();
    let s = setup(&[&m], vec![ok], since);
    let current = m.clone();
    let metrics = s.ctx.metrics.clone();
    run(s, m, |mut h| async move {
        let status = expect_status_patch(&mut h, &current).await;
        assert_eq!(status["verifiedPodCount"], 1);
        h
    })
    .await
    .unwrap();
    assert!(
        !metrics
            .encode()
            .unwrap()
            .contains("model_validation_verifications_total{")
    );
}

#[tokio::test]
async fn a_deleted_model_validation_is_left_alone() {
    let mut m = mv(1, key_spec(), None);
    m.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
    let s = setup(&[&m], vec![pod("p", Some(terminated(1, "")))], past());
    let action = run(s, m, |h| async move { h }).await.unwrap();
    assert_eq!(action, Action::await_change());
    // pods naming a ModelValidation that no longer exists map to nothing in the store
    let (store, _w) = reflector::store::<ModelValidation>();
    let mut p = pod("q", None);
    p.metadata
        .labels
        .as_mut()
        .unwrap()
        .insert(POD_LABEL.into(), "true".into());
    assert!(model_validations_for_pod(&p, &store).is_empty());
}

#[test]
fn pod_events_trigger_the_model_validations_they_concern() {
    let (store, mut w) = reflector::store::<ModelValidation>();
    let mut other = mv(1, key_spec(), None);
    other.metadata.name = Some("other".into());
    for m in [mv(1, key_spec(), None), other] {
        w.apply_watcher_event(&watcher::Event::Apply(m));
    }
    let mut named = pod("p", None);
    named
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert(POD_LABEL.into(), "demo".into());
    let any = pod("q", None); // label "true": every ModelValidation of the namespace
    let names = |event: watcher::Event<Pod>| -> Vec<String> {
        let mut n: Vec<String> = triggers_for(&cached_event(event), &store)
            .into_iter()
            .map(|r| r.name)
            .collect();
        n.sort();
        n
    };
    let cases: [(watcher::Event<Pod>, &[&str]); 6] = [
        (watcher::Event::Apply(named.clone()), &["demo"]),
        (watcher::Event::Delete(named.clone()), &["demo"]),
        (watcher::Event::Apply(any.clone()), &["demo", "other"]),
        // during a relist nothing; when it completes, every ModelValidation
        (watcher::Event::Init, &[]),
        (watcher::Event::InitApply(named), &[]),
        (watcher::Event::InitDone, &["demo", "other"]),
    ];
    for (event, want) in cases {
        let label = format!("{event:?}");
        assert_eq!(names(event), want, "{label}");
    }
}

#[tokio::test]
async fn a_failed_status_write_is_an_error_with_a_reason() {
    let m = mv(1, key_spec(), None);
    let s = setup(&[&m], vec![], past());
    let err = run(s, m, |mut h| async move {
        let (_, send) = h.next_request().await.unwrap();
        send.send_response(Response::builder().status(403).body(Body::from(serde_json::to_vec(&json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "forbidden", "reason": "Forbidden", "code": 403
        })).unwrap())).unwrap());
        h
    })
    .await
    .unwrap_err();
    assert_eq!(err.reason(), "WriteStatusFailed");
    assert!(err.to_string().contains("models/demo"));
}

#[test]
fn pods_belong_by_annotation_then_label() {
    let injected = pod("a", Some(Value::Null));
    assert!(belongs(&injected, "demo", 3));
    assert!(!belongs(&injected, "other", 1));
    let plain = pod("b", None);
    assert!(belongs(&plain, "demo", 1));
    assert!(!belongs(&plain, "demo", 2));
    let mut named = pod("c", None);
    named
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert(POD_LABEL.into(), "other".into());
    assert!(belongs(&named, "other", 2));
    assert!(!belongs(&named, "demo", 2));
}

#[test]
fn the_report_the_verifier_writes_is_the_report_the_controller_reads() {
    let report = TerminationReport {
        outcome: ReportOutcome::Verified,
        method: "sigstore".into(),
        root_digest: Some("sha256:abcd".into()),
        files: Some(12),
        bytes: Some(1 << 30),
        seconds: Some(1.25),
        reason: None,
        warn_only: false,
    };
    let line = serde_json::to_string(&report).unwrap();
    assert!(!line.contains('\n'));
    assert!(
        line.contains("\"rootDigest\":\"sha256:abcd\"")
            && line.contains("\"outcome\":\"verified\""),
        "{line}"
    );
    // whatever the verifier logged before it, the last JSON line counts
    let p = pod("x", Some(terminated(0, &format!("starting\n{line}\n"))));
    match classify(&p) {
        PodState::Verified {
            report: Some(r), ..
        } => assert_eq!(r, report),
        other => panic!("{other:?}"),
    }
    let failed = TerminationReport {
        outcome: ReportOutcome::Failed,
        reason: Some("x".into()),
        warn_only: true,
        ..report
    };
    let p = pod(
        "y",
        Some(terminated(0, &serde_json::to_string(&failed).unwrap())),
    );
    assert!(matches!(
        classify(&p),
        PodState::Failed {
            warn_only: true,
            ..
        }
    ));
    // a "verified" report with a non-zero exit code is not trusted
    let ok = serde_json::to_string(&TerminationReport {
        outcome: ReportOutcome::Verified,
        ..failed
    })
    .unwrap();
    let p = pod("z", Some(terminated(1, &ok)));
    assert!(matches!(classify(&p), PodState::Failed { .. }));
}

#[test]
fn a_restarting_verifier_is_read_from_its_last_state() {
    let p = pod(
        "r",
        Some(
            json!({"name": INIT_CONTAINER_NAME, "image": "v", "imageID": "", "ready": false,
        "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "message": "Verification failed with error: boom", "containerID": "c://1"}}}),
        ),
    );
    match classify(&p) {
        PodState::Failed { reason, run, .. } => {
            assert_eq!(reason, "Verification failed with error: boom");
            assert_eq!(run, "c://1#2");
        }
        other => panic!("{other:?}"),
    }
}

/// [`pod`] with its model and key volumes as images pinned by digest.
fn image_pod(name: &str, verifier: Option<Value>) -> Pod {
    let mut p = serde_json::to_value(pod(name, verifier)).unwrap();
    p["spec"]["volumes"] = json!([
        {"name": "data", "image": {"reference": format!("registry.local/llm@sha256:{}", "a".repeat(64))}},
        {"name": "keys", "image": {"reference": format!("registry.local/keys@sha256:{}", "b".repeat(64))}}]);
    serde_json::from_value(p).unwrap()
}

#[tokio::test]
async fn a_verified_image_layout_is_recorded_and_later_pods_count_as_verified_by_digest() {
    let first = image_pod("first", Some(terminated(0, VERIFIED)));
    let m = mv(1, key_spec(), None);
    let layout = crate::digest::image_layout(&m, first.spec.as_ref().unwrap()).unwrap();
    // (1) a genuine verifier succeeded: the layout is recorded in the status
    let s = setup(&[&m], vec![first.clone()], past());
    let current = m.clone();
    run(s, m.clone(), |mut h| async move {
        for _ in 0..2 {
            assert_eq!(expect_event(&mut h).await["reason"], REASON_VERIFIED);
        }
        let status = expect_status_patch(&mut h, &current).await;
        let records = status["verifiedImages"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{status}");
        assert_eq!(records[0]["generation"], 1);
        assert_eq!(records[0]["pod"], "first");
        assert_eq!(records[0]["digests"].as_array().unwrap().len(), 2);
        h
    })
    .await
    .unwrap();
    // (2) a pod the webhook admitted by digest under that record: verified, named so
    let recorded = mv(
        1,
        key_spec(),
        Some(
            json!({"verifiedImages": [{"layout": layout.key, "digests": layout.digests,
            "generation": 1, "pod": "first"}]}),
        ),
    );
    let mut second = serde_json::to_value(image_pod("second", None)).unwrap();
    second["metadata"]["annotations"] = json!({annotations::MODEL_VALIDATION: "demo",
        annotations::GENERATION: "1", annotations::METHOD: "key",
        crate::digest::VERIFIED_BY_DIGEST_ANNOTATION: layout.key});
    let second: Pod = serde_json::from_value(second).unwrap();
    assert!(matches!(
        assess(&slim(second.clone()), &recorded, &|_| None, &config()),
        PodState::VerifiedByDigest { .. }
    ));
    let s = setup(&[&recorded], vec![second.clone()], past());
    let current = recorded.clone();
    run(s, recorded.clone(), |mut h| async move {
        let e = expect_event(&mut h).await;
        assert_eq!(e["reason"], REASON_VERIFIED);
        assert!(
            e["note"].as_str().unwrap().contains("by image digest"),
            "{e}"
        );
        expect_event(&mut h).await;
        let status = expect_status_patch(&mut h, &current).await;
        assert_eq!(status["verifiedPodCount"], 1, "{status}");
        assert_eq!(status["uninjectedPodCount"], 0, "{status}");
        h
    })
    .await
    .unwrap();
    // (3) no claim of the webhook: a pod without the verifier; a spec change: unconfirmed
    let unclaimed = image_pod("unclaimed", None);
    assert_eq!(
        assess(&slim(unclaimed), &recorded, &|_| None, &config()),
        PodState::Uninjected
    );
    let changed = mv(
        2,
        key_spec(),
        recorded
            .status
            .as_ref()
            .map(|s| serde_json::to_value(s).unwrap()),
    );
    assert_eq!(
        assess(&slim(second), &changed, &|_| None, &config()),
        PodState::Unconfirmed { generation: 1 }
    );
}
