//! The manifests in `examples/` are accepted by the webhook as written: each example pod gets the
//! verifier injected, with arguments the verifier parses and mounts that cover every path.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use model_validation_operator::admission::{Outcome, admit};
use model_validation_operator::cache::StaticLookup;
use model_validation_operator::crd::ModelValidation;
use model_validation_operator::inject::InjectConfig;
use mv_shared::INIT_CONTAINER_NAME;
use mv_shared::verify::VerifyCommand;
use serde::Deserialize;
use serde_json::{Value, json};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// All YAML documents of the files, with `namespace` filled in where a kustomization sets it.
fn documents(files: &[PathBuf], namespace: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let mut v = Value::deserialize(doc).unwrap();
            if v.is_null() {
                continue;
            }
            if let Some(ns) = namespace {
                v["metadata"]["namespace"] = json!(ns);
            }
            out.push(v);
        }
    }
    out
}

fn check_example(name: &str, docs: &[Value]) {
    let mvs: Vec<Arc<ModelValidation>> = docs
        .iter()
        .filter(|d| d["kind"] == "ModelValidation")
        .map(|d| Arc::new(serde_json::from_value(d.clone()).unwrap()))
        .collect();
    assert!(!mvs.is_empty(), "{name}: no ModelValidation");
    for mv in &mvs {
        mv.spec.check().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let lookup = StaticLookup {
        model_validations: mvs.clone(),
        ignored_namespaces: vec![],
        required_namespaces: vec![],
    };
    let config = InjectConfig::new("localhost/model-verifier:testing");
    let pods: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Pod").collect();
    assert!(!pods.is_empty(), "{name}: no Pod");
    for pod in pods {
        let ns = pod["metadata"]["namespace"].as_str().unwrap();
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "e7c0b7c6-0000-4000-8000-000000000001",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": ns,
                "operation": "CREATE",
                "userInfo": {"username": "example"},
                "object": pod,
            }
        });
        let d = admit(&serde_json::to_vec(&review).unwrap(), &lookup, &config);
        assert!(
            matches!(d.outcome, Outcome::Injected { .. }),
            "{name}: {:?}",
            d.outcome
        );
        let mut patched = pod.clone();
        let patch: json_patch::Patch =
            serde_json::from_slice(d.response.patch.as_ref().unwrap()).unwrap();
        json_patch::patch(&mut patched, &patch).unwrap();
        let inits = patched["spec"]["initContainers"].as_array().unwrap();
        let last = inits.last().unwrap();
        assert_eq!(last["name"], INIT_CONTAINER_NAME, "{name}: appended last");
        let args: Vec<String> = serde_json::from_value(last["args"].clone()).unwrap();
        let cmd = VerifyCommand::try_parse_args(args.iter().skip(1)).unwrap();
        let mounts: Vec<PathBuf> = last["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                assert_eq!(m["readOnly"], true, "{name}: {m}");
                PathBuf::from(m["mountPath"].as_str().unwrap())
            })
            .collect();
        let c = cmd.method.common();
        for needed in [&c.walk.model_path, &c.signature] {
            assert!(
                mounts.iter().any(|m| needed.starts_with(m)),
                "{name}: {} not mounted in {mounts:?}",
                needed.display()
            );
        }
    }
}

#[test]
fn online_example() {
    check_example(
        "verify.yaml",
        &documents(&[examples().join("verify.yaml")], None),
    );
}

#[test]
fn unsigned_example() {
    check_example(
        "unsigned.yaml",
        &documents(&[examples().join("unsigned.yaml")], None),
    );
}

#[test]
fn offline_example() {
    let dir = examples().join("offline");
    let files: Vec<PathBuf> = ["modelvalidation.yaml", "pod.yaml"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    check_example("offline", &documents(&files, Some("model-demo-offline")));
    assert!(Path::new(&dir.join("signing-key.pub")).is_file());
}
