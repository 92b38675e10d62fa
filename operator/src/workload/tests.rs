use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::cache::StaticLookup;
use crate::crd::ModelValidation;

fn key_mv(name: &str) -> Arc<ModelValidation> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "ml.sigstore.dev/v1alpha1",
            "kind": "ModelValidation",
            "metadata": {"name": name, "namespace": "team", "generation": 1},
            "spec": {"model": {"path": "/data/model"},
                     "config": {"publicKeyConfig": {"keyPath": "/etc/keys/key.pub"}}}
        }))
        .unwrap(),
    )
}

/// A pod template whose containers mount the model and the key.
fn template(labels: Value) -> Value {
    json!({
        "metadata": {"labels": labels},
        "spec": {
            "containers": [{"name": "app", "image": "app:1", "volumeMounts": [
                {"name": "model", "mountPath": "/data"},
                {"name": "keys", "mountPath": "/etc/keys"}]}],
            "volumes": [{"name": "model", "emptyDir": {}}, {"name": "keys", "emptyDir": {}}]
        }
    })
}

fn review(group: &str, kind: &str, operation: &str, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-7",
            "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": "things"},
            "name": "web",
            "namespace": "team",
            "operation": operation,
            "userInfo": {"username": "alice"},
            "object": object,
        }
    }))
    .unwrap()
}

fn with_template(kind: &str, t: Value) -> Value {
    if kind == "CronJob" {
        json!({"metadata": {"name": "web"}, "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": t}}}})
    } else {
        json!({"metadata": {"name": "web"}, "spec": {"template": t}})
    }
}

#[test]
fn workloads_whose_pods_would_be_denied_get_a_warning_and_are_always_allowed() {
    let label = |v: &str| json!({"validation.ml.sigstore.dev/ml": v, "app": "web"});
    let kinds = [
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
        ("batch", "Job"),
        ("batch", "CronJob"),
    ];
    // (what, pod labels, required namespace, ModelValidations, expected warning or none)
    type Case = (
        &'static str,
        Value,
        bool,
        Vec<Arc<ModelValidation>>,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        ("covered", label("mv"), false, vec![key_mv("mv")], None),
        (
            "missing ModelValidation",
            label("gone"),
            false,
            vec![key_mv("mv")],
            Some(
                "ModelValidation \"gone\" named by label validation.ml.sigstore.dev/ml was not found in namespace team",
            ),
        ),
        (
            "label true, none",
            label("true"),
            false,
            vec![],
            Some("namespace team has no ModelValidation"),
        ),
        (
            "label true, several",
            label("true"),
            false,
            vec![key_mv("a"), key_mv("b")],
            Some("has 2 ModelValidations (a, b)"),
        ),
        (
            "required, uncovered",
            json!({"app": "web"}),
            true,
            vec![key_mv("mv")],
            Some("namespace team requires model verification"),
        ),
        (
            "not required, unlabelled",
            json!({"app": "web"}),
            false,
            vec![key_mv("mv")],
            None,
        ),
    ];
    for (group, kind) in kinds {
        for (what, labels, required, mvs, want) in &cases {
            let lookup = StaticLookup {
                model_validations: mvs.clone(),
                ignored_namespaces: vec![],
                required_namespaces: if *required {
                    vec!["team".to_owned()]
                } else {
                    vec![]
                },
            };
            let body = review(
                group,
                kind,
                "CREATE",
                with_template(kind, template(labels.clone())),
            );
            let d = review_fn(&body, &lookup);
            assert!(d.response.allowed, "{kind} {what}: {d:?}");
            assert!(d.response.patch.is_none(), "{kind} {what}");
            assert_eq!(d.response.uid, "u-7");
            let warnings = d.response.warnings.clone().unwrap_or_default();
            match want {
                None => assert!(warnings.is_empty(), "{kind} {what}: {warnings:?}"),
                Some(text) => {
                    assert_eq!(warnings.len(), 1, "{kind} {what}: {warnings:?}");
                    let w = &warnings[0];
                    assert!(
                        w.starts_with(&format!("the pods of {kind} team/web would be denied by the model-validation webhook: ")),
                        "{w}"
                    );
                    assert!(w.contains(text), "{kind} {what}: {w}");
                }
            }
        }
    }
}

fn review_fn(body: &[u8], lookup: &StaticLookup) -> Decision {
    super::review(
        body,
        lookup,
        &InjectConfig::new("registry.example.com/model-verifier:0.1.0"),
    )
}

#[test]
fn a_workload_whose_model_is_not_mounted_is_warned() {
    let mut t = template(json!({"validation.ml.sigstore.dev/ml": "mv"}));
    t["spec"]["containers"][0]["volumeMounts"] = json!([]);
    let lookup = StaticLookup {
        model_validations: vec![key_mv("mv")],
        ..StaticLookup::default()
    };
    let d = review_fn(
        &review(
            "apps",
            "Deployment",
            "UPDATE",
            with_template("Deployment", t),
        ),
        &lookup,
    );
    assert!(d.response.allowed);
    let warnings = d.response.warnings.unwrap_or_default();
    assert!(
        warnings.len() == 1
            && warnings[0].contains("no volume mounted in the pod's containers holds"),
        "{warnings:?}"
    );
}

#[test]
fn everything_else_passes_silently() {
    let lookup = StaticLookup::default();
    let gone = with_template(
        "Deployment",
        template(json!({"validation.ml.sigstore.dev/ml": "gone"})),
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "delete",
            review("apps", "Deployment", "DELETE", gone.clone()),
        ),
        (
            "not a workload",
            review(
                "",
                "ConfigMap",
                "CREATE",
                json!({"metadata": {"name": "web"}}),
            ),
        ),
        (
            "another group",
            review("example.com", "Deployment", "CREATE", gone.clone()),
        ),
        (
            "no template",
            review(
                "apps",
                "Deployment",
                "CREATE",
                json!({"metadata": {"name": "web"}, "spec": {}}),
            ),
        ),
        (
            "template of the wrong shape",
            review(
                "apps",
                "Deployment",
                "CREATE",
                json!({"spec": {"template": {"spec": {"containers": "x"}}}}),
            ),
        ),
        ("not JSON", b"{".to_vec()),
        ("not a review", b"[]".to_vec()),
    ];
    for (what, body) in cases {
        let d = review_fn(&body, &lookup);
        assert!(d.response.allowed, "{what}: {d:?}");
        assert!(d.response.warnings.is_none(), "{what}: {d:?}");
        assert!(d.response.patch.is_none(), "{what}");
    }
}

#[test]
fn a_panic_while_reviewing_a_workload_still_allows_it() {
    let body = review(
        "apps",
        "Deployment",
        "CREATE",
        json!({"metadata": {"name": "web"}}),
    );
    let d = super::after_panic(&body, "boom");
    assert!(d.response.allowed, "{d:?}");
    assert_eq!(d.response.uid, "u-7");
    let warnings = d.response.warnings.unwrap_or_default();
    assert!(
        warnings.len() == 1 && warnings[0].ends_with(": boom"),
        "{warnings:?}"
    );
    assert!(super::after_panic(b"\xff", "boom").response.allowed);
}
