//! What the upstream operator leaves on pods confuses nothing in admission: its annotations
//! (the ones it wrote, and its pod-level overrides of the model options) and its finalizer
//! neither change what is injected nor stop the injection. Only the ModelValidation decides.

use std::sync::Arc;

use model_validation_operator::admission::{Outcome, admit};
use model_validation_operator::cache::StaticLookup;
use model_validation_operator::crd::ModelValidation;
use model_validation_operator::inject::InjectConfig;
use serde_json::{Value, json};

use crate::support::FIXTURE;

fn mv(spec: Value) -> Arc<ModelValidation> {
    crate::support::model_validation(spec)
}

fn key_spec() -> Value {
    json!({"model": {"path": "/data/model", "signaturePath": "/data/model/model.sig"},
           "config": {"publicKeyConfig": {"keyPath": "/etc/model-keys/key.pub"}}})
}

/// The injected container and the pod's metadata after admission.
fn admitted(review: &Value, spec: Value) -> (Value, Value) {
    let lookup = StaticLookup {
        model_validations: vec![mv(spec)],
        ignored_namespaces: vec![],
        required_namespaces: vec![],
    };
    let d = admit(
        &serde_json::to_vec(review).unwrap(),
        &lookup,
        &InjectConfig::new("registry.example.com/model-verifier:0.1.0"),
    );
    assert!(
        matches!(d.outcome, Outcome::Injected { .. }),
        "{:?}",
        d.outcome
    );
    let patch: json_patch::Patch =
        serde_json::from_slice(d.response.patch.as_ref().expect("a patch")).unwrap();
    let mut pod = review["request"]["object"].clone();
    json_patch::patch(&mut pod, &patch).unwrap();
    let init = pod["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "model-validation")
        .expect("the verifier")
        .clone();
    (init, pod["metadata"].clone())
}

fn with_upstream_leftovers(mut review: Value) -> Value {
    let meta = &mut review["request"]["object"]["metadata"];
    meta["annotations"] = json!({
        // what upstream's webhook wrote on the pod a Deployment's template may have copied
        "validation.ml.sigstore.dev/injected-at": "2026-01-01T00:00:00Z",
        "validation.ml.sigstore.dev/auth-method": "sigstore",
        "validation.ml.sigstore.dev/config-hash": "0123456789abcdef",
        "validation.ml.sigstore.dev/continuous-validation": "true",
        // upstream's pod-level overrides, which would weaken the policy
        "validation.ml.sigstore.dev/ignore-paths": "/data/model/weights.bin",
        "validation.ml.sigstore.dev/ignore-git-paths": "false",
        "validation.ml.sigstore.dev/ignore-unsigned-files": "true",
        "validation.ml.sigstore.dev/allow-symlinks": "true",
    });
    meta["finalizers"] = json!(["validation.ml.sigstore.dev/finalizer"]);
    review
}

#[test]
fn upstream_annotations_and_finalizer_change_nothing_that_is_injected() {
    let plain: Value = serde_json::from_str(FIXTURE).unwrap();
    let args = admitted(&plain, key_spec()).0["args"].clone();
    let (init_leftovers, meta) = admitted(&with_upstream_leftovers(plain), key_spec());
    let args_leftovers = init_leftovers["args"].clone();
    assert_eq!(args_leftovers, args);
    let args = args.to_string();
    for weakened in [
        "--ignore-paths",
        "--allow_symlinks",
        "--ignore_unsigned_files",
        "--no-ignore-git-paths",
        "sigstore",
    ] {
        assert!(!args.contains(weakened), "{weakened} in {args}");
    }
    // this operator's own annotations are written; upstream's (same prefix) are removed, so a
    // new pod cannot pass for one the upstream operator injected before the switch
    assert_eq!(
        meta["annotations"]["validation.ml.sigstore.dev/model-validation"],
        "only"
    );
    for upstream in [
        "injected-at",
        "auth-method",
        "config-hash",
        "continuous-validation",
    ] {
        let key = format!("validation.ml.sigstore.dev/{upstream}");
        assert_eq!(meta["annotations"][&key], Value::Null, "{key} kept");
    }
    // the webhook neither adds nor removes finalizers (the controller removes upstream's)
    assert_eq!(
        meta["finalizers"],
        json!(["validation.ml.sigstore.dev/finalizer"])
    );
}

#[test]
fn continuous_validation_runs_the_same_verifier_as_a_sidecar() {
    // Upstream's continuous ModelValidations now get the verifier as a native sidecar: the same
    // container as the one-shot check, but kept running with `watch` and probes.
    let review: Value = serde_json::from_str(FIXTURE).unwrap();
    let (once, _) = admitted(&review, key_spec());
    let mut spec = key_spec();
    spec["continuousValidation"] = json!({"enabled": true, "interval": "5m"});
    let (continuous, _) = admitted(&review, spec);
    for same in [
        "name",
        "image",
        "command",
        "volumeMounts",
        "securityContext",
        "terminationMessagePath",
    ] {
        assert_eq!(continuous[same], once[same], "{same}");
    }
    assert_eq!(continuous["restartPolicy"], "Always");
    assert_eq!(once["restartPolicy"], Value::Null);
    let mut args = vec![
        json!("watch"),
        json!("--interval=300s"),
        json!("--health-port=8718"),
    ];
    args.extend(once["args"].as_array().unwrap().iter().cloned());
    args.extend([json!("--output"), json!("json")]);
    assert_eq!(continuous["args"], Value::Array(args));
    assert_eq!(continuous["startupProbe"]["httpGet"]["path"], "/ready");
}
