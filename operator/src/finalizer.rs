//! Removes the pod finalizer the upstream operator left behind, and recognises the pods it
//! injected.
//!
//! Upstream's webhook puts `validation.ml.sigstore.dev/finalizer` on every pod it injects and
//! its controller removes it when the pod is deleted. Once that operator is gone nothing removes
//! it, and those pods hang in `Terminating`. This operator puts no finalizer on pods; its
//! controller removes upstream's from the pods of the ModelValidations it reconciles (nothing
//! else), running or terminating.
//!
//! The removal is a JSON patch that first tests the whole finalizer list against what the
//! cache saw: if another party changed the list in between, the API server refuses the patch
//! (422) and nothing is removed; the pod's change triggers a new reconcile with the new list.
//! Only upstream's entries are ever removed.

use json_patch::jsonptr::PointerBuf;
use json_patch::{Patch as JsonPatch, PatchOperation, RemoveOperation, TestOperation};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::Value;

/// The finalizer upstream's webhook puts on the pods it injects.
pub const UPSTREAM_FINALIZER: &str = "validation.ml.sigstore.dev/finalizer";

/// The annotation upstream's webhook writes on every pod it injects.
pub const UPSTREAM_INJECTED_AT: &str = "validation.ml.sigstore.dev/injected-at";

/// Whether the upstream operator injected `pod`: its `injected-at` annotation and none of this
/// operator's. Such a pod's verifier cannot be checked against this operator's injection, so the
/// controller counts it as injected (and orphaned) but never as verified, failed or tampered.
pub fn upstream_injected(pod: &Pod) -> bool {
    let a = pod.annotations();
    a.contains_key(UPSTREAM_INJECTED_AT)
        && !a.contains_key(mv_shared::annotations::MODEL_VALIDATION)
        && !a.contains_key(mv_shared::annotations::GENERATION)
}

/// The JSON patch that removes every [`UPSTREAM_FINALIZER`] entry from `pod`, guarded by a test
/// of the whole list; `None` when the pod does not carry it.
pub fn removal_patch(pod: &Pod) -> Option<JsonPatch> {
    let finalizers = pod.finalizers();
    if !finalizers.iter().any(|f| f == UPSTREAM_FINALIZER) {
        return None;
    }
    let mut ops = vec![PatchOperation::Test(TestOperation {
        path: PointerBuf::from_tokens(["metadata", "finalizers"]),
        value: Value::from(finalizers.to_vec()),
    })];
    // from the end, so that earlier indices stay valid
    for (i, _) in finalizers
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, f)| *f == UPSTREAM_FINALIZER)
    {
        ops.push(PatchOperation::Remove(RemoveOperation {
            path: PointerBuf::from_tokens([
                "metadata".to_owned(),
                "finalizers".to_owned(),
                i.to_string(),
            ]),
        }));
    }
    Some(JsonPatch(ops))
}

/// Removes upstream's finalizer from each of `pods` that carries it. Failures are logged and
/// counted, never fatal: a refused test means the pod changed, and its change reconciles again.
/// Returns how many pods were released.
pub async fn release<'a>(client: &kube::Client, pods: impl IntoIterator<Item = &'a Pod>) -> usize {
    let mut released = 0;
    for pod in pods {
        let Some(patch) = removal_patch(pod) else {
            continue;
        };
        let (Some(ns), name) = (pod.namespace(), pod.name_any()) else {
            continue;
        };
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        match api
            .patch(&name, &PatchParams::default(), &Patch::<()>::Json(patch))
            .await
        {
            Ok(_) => {
                released += 1;
                tracing::info!(ns = %ns, pod = %name, finalizer = UPSTREAM_FINALIZER, "Removed the upstream operator's finalizer");
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                tracing::warn!(error = %e, ns = %ns, pod = %name, "Cannot remove the upstream operator's finalizer; retrying on the next change");
            }
        }
    }
    released
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(finalizers: &[&str]) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "finalizers": finalizers},
        }))
        .unwrap()
    }

    fn apply(pod_json: &mut Value, patch: &JsonPatch) -> Result<(), json_patch::PatchError> {
        json_patch::patch(pod_json, patch)
    }

    #[test]
    fn only_upstreams_finalizer_is_removed() {
        let cases: [(&[&str], &[&str]); 5] = [
            (&[UPSTREAM_FINALIZER], &[]),
            (&["a/keep", UPSTREAM_FINALIZER], &["a/keep"]),
            (
                &[UPSTREAM_FINALIZER, "a/keep", "b/keep"],
                &["a/keep", "b/keep"],
            ),
            (
                &["a/keep", UPSTREAM_FINALIZER, "b/keep", UPSTREAM_FINALIZER],
                &["a/keep", "b/keep"],
            ),
            (
                // look-alikes stay
                &[
                    "validation.ml.sigstore.dev/finalizer2",
                    UPSTREAM_FINALIZER,
                    "validation.ml.sigstore.dev/other",
                ],
                &[
                    "validation.ml.sigstore.dev/finalizer2",
                    "validation.ml.sigstore.dev/other",
                ],
            ),
        ];
        for (before, after) in cases {
            let p = pod(before);
            let patch = removal_patch(&p).expect("carries the finalizer");
            let mut v = serde_json::to_value(&p).unwrap();
            apply(&mut v, &patch).unwrap();
            assert_eq!(v["metadata"]["finalizers"], json!(after), "{before:?}");
        }
    }

    #[test]
    fn pods_without_it_are_not_patched() {
        assert!(removal_patch(&pod(&[])).is_none());
        assert!(removal_patch(&pod(&["a/keep"])).is_none());
        let bare: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap();
        assert!(removal_patch(&bare).is_none());
    }

    #[test]
    fn a_list_changed_since_the_cache_saw_it_is_left_alone() {
        let seen = pod(&[UPSTREAM_FINALIZER, "a/keep"]);
        let patch = removal_patch(&seen).unwrap();
        // meanwhile another controller added its finalizer in front
        let mut now = serde_json::to_value(pod(&["b/new", UPSTREAM_FINALIZER, "a/keep"])).unwrap();
        let before = now.clone();
        assert!(apply(&mut now, &patch).is_err());
        assert_eq!(now, before, "a refused patch changes nothing");
        // the patch as the API server receives it: test first, then removals
        let ops = serde_json::to_value(&patch).unwrap();
        assert_eq!(ops[0]["op"], "test");
        assert_eq!(ops[0]["path"], "/metadata/finalizers");
        assert_eq!(
            ops[1],
            json!({"op": "remove", "path": "/metadata/finalizers/0"})
        );
    }
}
