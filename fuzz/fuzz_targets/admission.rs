//! AdmissionReview bytes → the webhook's decision ([`admission::admit`], the pure function the
//! HTTPS handler calls, without its `catch_unwind`), against a fixed set of ModelValidations,
//! then the response as the handler encodes it ([`webhook::review_json`]).
//!
//! Beyond "never panics", the rules the webhook promises:
//! * the response carries the request's uid whenever the body has one;
//! * anything but a pod CREATE (UPDATE, DELETE, CONNECT, other kinds, subresources) is allowed
//!   untouched, so the webhook never blocks pod updates or deletions;
//! * the outcome agrees with the response (injected: allowed with a patch; denied: 403;
//!   unreadable: 400), and only the reserved container name is ever written;
//! * a patch applies to the request's pod, and the patched pod ends with exactly one verifier
//!   init container, last, with the webhook's annotations: nothing in the pod survives that
//!   could pass as the webhook's own.
#![no_main]

use std::sync::{Arc, LazyLock};

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview, Operation};
use libfuzzer_sys::fuzz_target;
use model_validation_operator::admission::{self, Outcome};
use model_validation_operator::cache::StaticLookup;
use model_validation_operator::inject::InjectConfig;
use model_validation_operator::crd::{ModelValidation, ModelValidationSpec};
use model_validation_operator::webhook;
use serde_json::{Value, json};

/// Names in the seeds' namespaces: `models` has one ModelValidation (`"true"` resolves),
/// `multi` several of every method plus one whose spec is invalid, `warn` one in Warn mode,
/// `ignored` is labelled ignore.
static LOOKUP: LazyLock<StaticLookup> = LazyLock::new(|| {
    let mv = |ns: &str, name: &str, spec: Value| {
        let spec: ModelValidationSpec =
            serde_json::from_value(spec).expect("the fixed specs deserialize");
        let mut m = ModelValidation::new(name, spec);
        m.metadata.namespace = Some(ns.to_owned());
        m.metadata.generation = Some(3);
        Arc::new(m)
    };
    let key = json!({"model": {"path": "/data/model"},
        "config": {"publicKeyConfig": {"keyPath": "/etc/model-keys/key.pub"}}});
    StaticLookup {
        model_validations: vec![
            mv("models", "only", key.clone()),
            mv("multi", "key", key.clone()),
            mv(
                "multi",
                "sigstore",
                json!({"model": {"path": "/data/model", "signaturePath": "/sig/model.sig",
                    "ignorePaths": ["/data/model/.cache"], "allowSymlinks": true},
                    "config": {"sigstoreConfig": {"certificateIdentity": "user@example.com",
                        "certificateOidcIssuer": "https://accounts.example.com"},
                        "clientTrustConfig": {"trustConfigPath": "/etc/trust/config.json"}},
                    "imagePullPolicy": "IfNotPresent",
                    "resources": {"limits": {"memory": "256Mi"}}}),
            ),
            mv(
                "multi",
                "pki",
                json!({"model": {"path": "/data/model"},
                    "config": {"pkiConfig": {"certificateAuthority": "/etc/ca/ca.pem"}}}),
            ),
            mv(
                "multi",
                "broken",
                json!({"model": {"path": "relative/model"},
                    "config": {"publicKeyConfig": {"keyPath": "key.pub"}}}),
            ),
            mv(
                "warn",
                "warn",
                json!({"model": {"path": "/data/model"}, "mode": "Warn",
                    "config": {"privateKeyConfig": {"keyPath": "/etc/model-keys/key.pub"}}}),
            ),
            mv("ignored", "only", key.clone()),
            mv("required", "labelled", key.clone()),
            mv("required", "selecting", {
                let mut k = key;
                k["podSelector"] = json!({"matchLabels": {"app": "llm"}});
                k
            }),
        ],
        ignored_namespaces: vec!["ignored".to_owned()],
        required_namespaces: vec!["required".to_owned()],
    }
});

static CONFIG: LazyLock<InjectConfig> =
    LazyLock::new(|| InjectConfig::new("registry.example.com/model-verifier:0.1.0"));

const VERIFIER: &str = mv_shared::INIT_CONTAINER_NAME;

fuzz_target!(|data: &[u8]| {
    // The workload entry only ever warns.
    let workload = model_validation_operator::workload::review(data, &*LOOKUP, &CONFIG);
    assert!(workload.response.allowed, "workload denied: {workload:?}");
    assert!(workload.response.patch.is_none(), "workload patched: {workload:?}");
    let decision = admission::admit(data, &*LOOKUP, &CONFIG);
    let response = &decision.response;
    let body: Option<Value> = serde_json::from_slice(data).ok();
    let request = body.as_ref().and_then(|b| b.get("request"));
    let text = |p: &str| request.and_then(|r| r.pointer(p)).and_then(Value::as_str);

    // The uid always comes back when the body carries one.
    if let Some(uid) = text("/uid") {
        assert_eq!(response.uid, uid, "response without the request's uid");
    }
    // The encoded answer the handler sends keeps it too.
    let review = webhook::review_json(&decision);
    assert_eq!(
        review.pointer("/response/uid").and_then(Value::as_str),
        Some(response.uid.as_str())
    );

    // Outcome and response agree.
    match &decision.outcome {
        Outcome::Injected { model_validation } => {
            assert!(response.allowed && response.patch.is_some(), "{decision:?}");
            assert!(!model_validation.is_empty());
        }
        Outcome::VerifiedByDigest { digests, .. } => {
            assert!(response.allowed && response.patch.is_some(), "{decision:?}");
            assert!(!digests.is_empty());
        }
        Outcome::Skipped { .. } => assert!(response.allowed, "{decision:?}"),
        Outcome::Denied { reason } => {
            assert!(
                !response.allowed && response.patch.is_none(),
                "{decision:?}"
            );
            assert_eq!(response.result.code, 403, "{decision:?}");
            assert_eq!(response.result.message, reason.to_string(), "{decision:?}");
        }
        Outcome::Invalid { .. } => {
            assert!(
                !response.allowed && response.patch.is_none(),
                "{decision:?}"
            );
            assert_eq!(response.result.code, 400, "{decision:?}");
        }
    }

    // A readable request that is not a pod CREATE passes untouched (the same reading as
    // `admit`: JSON value, then the typed review).
    let typed = body
        .clone()
        .and_then(|b| serde_json::from_value::<AdmissionReview<DynamicObject>>(b).ok())
        .and_then(|r| TryInto::<AdmissionRequest<DynamicObject>>::try_into(r).ok());
    if let Some(r) = &typed {
        let pod_create = r.kind.group.is_empty()
            && r.kind.kind == "Pod"
            && r.operation == Operation::Create
            && r.sub_resource.is_none();
        if !pod_create {
            assert!(response.allowed, "not a pod create, denied: {decision:?}");
            assert!(
                response.patch.is_none(),
                "not a pod create, patched: {decision:?}"
            );
            assert!(matches!(decision.outcome, Outcome::Skipped { .. }));
        }
    }

    // A patch applies to the pod and leaves exactly one verifier, last, with our annotations.
    if let Some(patch) = &response.patch {
        let patch: json_patch::Patch =
            serde_json::from_slice(patch).expect("the patch is a JSON patch");
        let mut pod = request
            .and_then(|r| r.get("object"))
            .cloned()
            .expect("a patched request has an object");
        let named = |c: &&Value| c.get("name").and_then(Value::as_str) == Some(VERIFIER);
        // An API server sends pods with `metadata` and `spec` objects and unique container
        // names; the patch is checked against such pods.
        let sent_by_api_server = pod.get("metadata").is_some_and(Value::is_object)
            && pod.get("spec").is_some_and(Value::is_object)
            && pod
                .pointer("/spec/initContainers")
                .and_then(Value::as_array)
                .is_none_or(|inits| inits.iter().filter(named).count() <= 1);
        if !sent_by_api_server {
            return;
        }
        json_patch::patch(&mut pod, &patch).expect("the patch applies to the pod");
        let inits = pod
            .pointer("/spec/initContainers")
            .and_then(Value::as_array)
            .expect("the patched pod has init containers");
        assert_eq!(inits.iter().filter(named).count(), 1, "{pod}");
        assert!(
            inits.last().is_some_and(|c| named(&c)),
            "verifier not last: {pod}"
        );
        let notes = pod
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .expect("the patched pod has annotations");
        for (k, _) in notes
            .iter()
            .filter(|(k, _)| k.starts_with(model_validation_operator::inject::ANNOTATION_PREFIX))
        {
            assert!(
                [
                    mv_shared::annotations::MODEL_VALIDATION,
                    mv_shared::annotations::GENERATION,
                    mv_shared::annotations::METHOD,
                ]
                .contains(&k.as_str()),
                "pod-supplied annotation {k} survived"
            );
        }
        assert!(notes.contains_key(mv_shared::annotations::MODEL_VALIDATION));
        for c in ["containers", "ephemeralContainers"] {
            let others = pod.pointer(&format!("/spec/{c}")).and_then(Value::as_array);
            assert!(!others.into_iter().flatten().any(|c| named(&c)), "{pod}");
        }
    }
});
