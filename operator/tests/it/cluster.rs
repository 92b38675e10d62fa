//! Against a real kube-apiserver: the CRD is accepted, the API server calls the in-process
//! webhook over TLS on pod CREATE and stores the patched pod, the controller writes status and
//! Events. Needs `KUBECONFIG` (e.g. `../shared/k8s-local/start-apiserver.sh start`); run with
//! `cargo test -p model-validation-operator --test it cluster:: -- --ignored`.
//!
//! Everything it creates is scoped to a fresh namespace (the webhook configuration selects only
//! that namespace), so it can share an API server with other tests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt};
use model_validation_operator::cache::Caches;
use model_validation_operator::cache::ModelValidationLookup;
use model_validation_operator::controller;
use model_validation_operator::crd::ModelValidation;
use model_validation_operator::inject::InjectConfig;
use model_validation_operator::metrics::Metrics;
use model_validation_operator::webhook::tls;
use model_validation_operator::webhook::{self, WebhookState};
use serde_json::json;
use tokio_util::sync::CancellationToken;

async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver (KUBECONFIG) and no other operator on it; the e2e suite covers the same on a full cluster"]
async fn webhook_and_controller_against_a_real_api_server() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = Client::try_default().await.expect("KUBECONFIG");
    let suffix = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            % 100_000
    );
    let ns = format!("mvo-test-{suffix}");

    // (1) the generated CRD is accepted and established
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    // create or replace (server-side apply of a schema with x-kubernetes-validations fails on
    // API servers older than 1.25: "field not declared in schema")
    let mut crd = ModelValidation::crd();
    match crds
        .get_opt("modelvalidations.ml.sigstore.dev")
        .await
        .unwrap()
    {
        Some(existing) => {
            crd.metadata.resource_version = existing.metadata.resource_version;
            crds.replace(
                "modelvalidations.ml.sigstore.dev",
                &PostParams::default(),
                &crd,
            )
            .await
            .unwrap();
        }
        None => {
            crds.create(&PostParams::default(), &crd).await.unwrap();
        }
    }
    eventually("the CRD to be established", || {
        let crds = crds.clone();
        async move {
            let crd = crds.get("modelvalidations.ml.sigstore.dev").await.ok()?;
            crd.status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        }
    })
    .await;

    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": ns, "labels": {"mvo-test": suffix}}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let mvs: Api<ModelValidation> = Api::namespaced(client.clone(), &ns);
    // (2) the structural schema works on every server: a spec without a model is refused
    let untyped: Api<kube::core::DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &kube::core::ApiResource::erase::<ModelValidation>(&()),
    );
    let err = untyped
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"apiVersion": "ml.sigstore.dev/v1alpha1", "kind": "ModelValidation",
                "metadata": {"name": "no-model"}, "spec": {"config": {"publicKeyConfig": {"keyPath": "/k"}}}}))
            .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("spec.model"), "{err}");
    mvs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"apiVersion": "ml.sigstore.dev/v1alpha1", "kind": "ModelValidation",
            "metadata": {"name": "demo"},
            "spec": {"model": {"path": "/data/model"}, "config": {"publicKeyConfig": {"keyPath": "/etc/keys/key.pub"}}}}))
        .unwrap(),
    )
    .await
    .unwrap();

    // an upstream-shaped status (pod lists under names this project once used for integers)
    // plus a field of the wrong type: stored through the status subresource before the caches
    // start, it must not keep them (and with them /readyz) from syncing
    let entry = json!({"name": "old", "uid": "00000000-0000-0000-0000-000000000001", "injectedAt": "2026-01-01T00:00:00Z"});
    untyped
        .patch_status(
            "demo",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "injectedPodCount": 1, "uninjectedPodCount": 0, "orphanedPodCount": 0,
                "authMethod": "public-key", "injectedPods": [entry], "uninjectedPods": [],
                "orphanedPods": [], "lastUpdated": "2026-01-01T00:00:00Z", "conditions": [],
                "verifiedPods": "many"}})),
        )
        .await
        .unwrap();
    let stored = untyped.get("demo").await.unwrap();
    assert_eq!(stored.data["status"]["injectedPods"][0]["name"], "old");

    // (3) webhook in process, called by the API server over TLS
    let dir = tempfile::tempdir().unwrap();
    let files = tls::write_dev_certificate(dir.path()).unwrap();
    let mwcs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    // configurations left by an earlier, failed run of this test
    for old in mwcs.list(&Default::default()).await.unwrap().items {
        let name = old.metadata.name.unwrap_or_default();
        if name.starts_with("mvo-test-") {
            let _ = mwcs.delete(&name, &DeleteParams::default()).await;
        }
    }
    let caches = Caches::start(client.clone());
    let lookup: Arc<dyn ModelValidationLookup + Send + Sync> = Arc::new(caches.clone());
    let metrics = Metrics::new();
    let handle = axum_server::Handle::new();
    let server = tokio::spawn(tls::serve_tls(
        "127.0.0.1:0".parse().unwrap(),
        files.load().await.unwrap(),
        webhook::router(WebhookState {
            lookup: lookup.clone(),
            live: None,
            config: Arc::new(InjectConfig::new("model-verifier:cluster-test")),
            metrics: metrics.clone(),
        }),
        handle.clone(),
    ));
    let addr = handle.listening().await.unwrap();
    eventually("caches to sync", || {
        let ok = lookup.ready() && !lookup.in_namespace(&ns).is_empty();
        async move { ok.then_some(()) }
    })
    .await;
    let mwc_name = format!("mvo-test-{suffix}");
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&files.cert).unwrap());
    mwcs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": mwc_name},
            "webhooks": [{
                "name": "pods.validation.ml.sigstore.dev",
                "admissionReviewVersions": ["v1"],
                "clientConfig": {"url": format!("https://127.0.0.1:{}/mutate-v1-pod", addr.port()), "caBundle": ca},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}],
                "failurePolicy": "Fail", "sideEffects": "None", "timeoutSeconds": 5,
                "reinvocationPolicy": "IfNeeded",
                "namespaceSelector": {"matchLabels": {"mvo-test": suffix}},
                "objectSelector": {"matchExpressions": [{"key": "validation.ml.sigstore.dev/ml", "operator": "Exists"}]}
            }]
        }))
        .unwrap(),
    )
    .await
    .unwrap();

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = |name: &str, data_mount: &str| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"validation.ml.sigstore.dev/ml": "true"}},
            "spec": {"containers": [{"name": "app", "image": "app:1", "volumeMounts": [
                        {"name": "model", "mountPath": data_mount}, {"name": "keys", "mountPath": "/etc/keys"}]}],
                     "volumes": [{"name": "model", "emptyDir": {}}, {"name": "keys", "emptyDir": {}}]}
        }))
        .unwrap()
    };
    // the API server may need a moment to pick up the new webhook configuration
    let created = eventually("the webhook to inject", || {
        let pods = pods.clone();
        let p = pod("inference", "/data");
        async move {
            match pods.create(&PostParams::default(), &p).await {
                Ok(created) if created.spec.as_ref()?.init_containers.is_some() => Some(created),
                Ok(_) => {
                    let _ = pods.delete("inference", &DeleteParams::default()).await;
                    None
                }
                Err(e) => {
                    eprintln!("pod create: {e}");
                    None
                }
            }
        }
    })
    .await;
    let spec = created.spec.unwrap();
    let init = &spec.init_containers.unwrap()[0];
    assert_eq!(init.name, "model-validation");
    assert_eq!(init.image.as_deref(), Some("model-verifier:cluster-test"));
    assert_eq!(
        init.args.as_ref().unwrap()[..3],
        [
            "verify".to_owned(),
            "key".to_owned(),
            "/data/model".to_owned()
        ]
    );
    assert!(
        init.volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .all(|m| m.read_only == Some(true))
    );
    assert_eq!(
        created.metadata.annotations.unwrap()["validation.ml.sigstore.dev/model-validation"],
        "demo"
    );
    // denied with the webhook's message
    let err = pods
        .create(&PostParams::default(), &pod("no-volume", "/elsewhere"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no volume mounted"), "{err}");
    // an UPDATE of the injected pod is not blocked
    pods.patch(
        "inference",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"validation.ml.sigstore.dev/ml": "gone"}}})),
    )
    .await
    .unwrap();
    pods.patch(
        "inference",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"validation.ml.sigstore.dev/ml": "true"}}})),
    )
    .await
    .unwrap();

    // (4) the controller: a verifier result in the pod status becomes status, Events, metrics
    let stop = CancellationToken::new();
    let ctl = tokio::spawn(controller::run(
        client.clone(),
        caches.clone(),
        metrics.clone(),
        Arc::new(InjectConfig::new("model-verifier:cluster-test")),
        "cluster-test".into(),
        stop.clone(),
    ));
    // results that ended before the controller started are counted but not announced, so wait
    // for its first status write before the verifier "finishes"
    eventually("the first status", || {
        let mvs = mvs.clone();
        async move { mvs.get("demo").await.ok()?.status.map(|_| ()) }
    })
    .await;
    let report = r#"{"outcome":"verified","method":"key","rootDigest":"sha256:0123","files":2,"bytes":10,"seconds":0.01}"#;
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    pods.patch_status(
        "inference",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"initContainerStatuses": [{
            "name": "model-validation", "image": "model-verifier:cluster-test", "imageID": "", "ready": true,
            "restartCount": 0, "containerID": "containerd://cluster-test",
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "message": report,
                                      "finishedAt": now, "containerID": "containerd://cluster-test"}}}]}})),
    )
    .await
    .unwrap();
    let status = eventually("the status to count the verified pod", || {
        let mvs = mvs.clone();
        async move {
            let s = mvs.get("demo").await.ok()?.status?;
            if s.verified_pod_count != 1 {
                eprintln!("status so far: {}", serde_json::to_string(&s).unwrap());
            }
            (s.verified_pod_count == 1).then_some(s)
        }
    })
    .await;
    assert_eq!(status.tampered_pod_count, 0, "the injected pod is genuine");
    assert_eq!(status.injected_pod_count, 1);
    assert_eq!(status.failed_pod_count, 0);
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.auth_method.as_deref(), Some("public-key"));
    // the upstream-shaped status stored at the start is gone: counts only
    let stored = untyped.get("demo").await.unwrap();
    for old in ["injectedPods", "uninjectedPods", "orphanedPods"] {
        assert!(
            stored.data["status"].get(old).is_none(),
            "{old}: {stored:?}"
        );
    }
    assert_eq!(status.conditions[0].type_, "Ready");
    assert_eq!(status.conditions[0].status, "True");
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let regarding: Vec<String> = eventually("ModelVerified Events", || {
        let events = events.clone();
        async move {
            let list = events.list(&Default::default()).await.ok()?;
            let kinds: Vec<String> = list
                .items
                .iter()
                .filter(|e| e.reason.as_deref() == Some("ModelVerified"))
                .filter_map(|e| e.regarding.as_ref()?.kind.clone())
                .collect();
            (kinds.len() >= 2).then_some(kinds)
        }
    })
    .await;
    assert!(
        regarding.contains(&"Pod".to_owned()) && regarding.contains(&"ModelValidation".to_owned())
    );
    let text = metrics.encode().unwrap();
    // (the API server may hold other namespaces' results too: at least ours)
    let verified: u64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                r#"model_validation_verifications_total{method="key",outcome="verified"} "#,
            )
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(verified >= 1, "{text}");
    assert!(
        text.contains(r#"model_validation_admission_requests_total{result="injected"} 1"#),
        "{text}"
    );

    // cleanup (the namespace may stay Terminating on an API server without controllers)
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), ctl).await;
    mwcs.delete(&mwc_name, &DeleteParams::default())
        .await
        .unwrap();
    handle.graceful_shutdown(Some(Duration::from_secs(2)));
    let _ = server.await;
    let _ = namespaces.delete(&ns, &DeleteParams::default()).await;
}
