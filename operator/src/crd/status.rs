//! `status` of a `ModelValidation`: one schema for what this operator writes and for whatever
//! an earlier operator stored there.
//!
//! Field names and types follow upstream where they mean the same thing (`conditions`,
//! `authMethod`, `injectedPodCount`, `uninjectedPodCount`, `orphanedPodCount`, `lastUpdated`);
//! this project adds `observedGeneration`, `verifiedPodCount`, `failedPodCount`,
//! `tamperedPodCount`, `driftedPodCount` and `verifiedImages` (at most
//! [`MAX_VERIFIED_IMAGES`] records of content verified by digest). Only counts are written,
//! never lists of pods.
//!
//! Decoding never fails, whatever is stored: a status that does not decode would fail the list
//! and watch of every `ModelValidation` (and with them the webhook's readiness). Ill-typed
//! fields decode as unset, malformed conditions are dropped, upstream's pod lists
//! (`injectedPods: [{name, uid, injectedAt}]`) and this project's older integers under the same
//! names become counts. Such a status is marked [`ModelValidationStatus::normalized`], so the
//! controller rewrites it and [`ModelValidationStatus::merge_patch`] deletes the old fields.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use mv_shared::annotations;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::ModelValidation;

/// Fields earlier operators stored that this one removes: upstream's pod lists and this
/// project's former integer counts under the same names.
pub const LEGACY_STATUS_FIELDS: [&str; 5] = [
    "injectedPods",
    "uninjectedPods",
    "orphanedPods",
    "verifiedPods",
    "failedPods",
];

/// Longest `authMethod` kept from a stored status.
const MAX_AUTH_METHOD: usize = 64;

/// Observed state: the `Ready` condition and counts of pods (never lists of pods).
///
/// The schema keeps unknown fields (`x-kubernetes-preserve-unknown-fields`), so that the status
/// an upstream operator stored stays valid under this CRD until the controller rewrites it.
#[derive(JsonSchema, Serialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ModelValidationStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: whether the spec is usable, with reason and message.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Verification method of the spec, upstream's names: `sigstore`, `pki` or `public-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    /// Pods of the namespace that carry the verifier for this ModelValidation.
    #[serde(default)]
    pub injected_pod_count: i32,
    /// Pods labelled for this ModelValidation that were admitted without the verifier.
    #[serde(default)]
    pub uninjected_pod_count: i32,
    /// Of the injected pods, those whose verifier was set up for an older generation of the
    /// spec, or by another operator (no generation annotation of this one).
    #[serde(default)]
    pub orphaned_pod_count: i32,
    /// Pods whose verifier reported success, and pods admitted by digest after such a success
    /// (`verifiedImages`).
    #[serde(default)]
    pub verified_pod_count: i32,
    /// Injected pods whose verifier reported a failure.
    #[serde(default)]
    pub failed_pod_count: i32,
    /// Pods whose `model-validation` container is not the one the webhook injected (forged or
    /// altered); their results are not counted as verified or failed.
    #[serde(default)]
    pub tampered_pod_count: i32,
    /// Pods with continuous validation whose model no longer matches its signature (their
    /// sidecar reported drift and has not reported the model restored).
    #[serde(default)]
    pub drifted_pod_count: i32,
    /// Model images this ModelValidation's current generation has verified, by digest: a later
    /// pod that mounts the same content the same way is admitted without re-hashing it.
    /// Written by the controller only; any spec change drops them; at most 32, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verified_images: Vec<VerifiedImages>,
    /// When the counts or conditions last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// The stored status was not in this shape (old fields, ill-typed or malformed values):
    /// it differs from any status the controller computes, so it gets rewritten. Never stored.
    #[serde(skip)]
    #[schemars(skip)]
    pub normalized: bool,
}

/// One verification of content addressed by image digests: the image volumes (by digest) that
/// held every path the verifier read, mounted as described by `layout`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedImages {
    /// `sha256:<hex>` of the mount layout (mount path, image digest and subPath of every
    /// volume the verifier mounted): the key a later pod must match.
    pub layout: String,
    /// The image digests (`sha256:<hex>`), sorted.
    pub digests: Vec<String>,
    /// The spec generation the verification ran under.
    pub generation: i64,
    /// The pod whose verifier checked it.
    pub pod: String,
    /// When that verifier finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<Time>,
}

/// Most records kept per ModelValidation (the oldest go first).
pub const MAX_VERIFIED_IMAGES: usize = 32;

impl<'de> Deserialize<'de> for ModelValidationStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = Value::deserialize(deserializer)?;
        Ok(Self::from_stored(&stored))
    }
}

/// A count from a stored value: integers clamped to `0..=i32::MAX`, lists counted.
fn count_of(v: &Value) -> Option<i32> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(|i| i32::try_from(i.max(0)).unwrap_or(i32::MAX))
            .or_else(|| n.as_u64().map(|_| i32::MAX)),
        Value::Array(items) => Some(i32::try_from(items.len()).unwrap_or(i32::MAX)),
        _ => None,
    }
}

impl ModelValidationStatus {
    /// Reads any stored status; never fails (see the module documentation).
    pub fn from_stored(stored: &Value) -> Self {
        let mut out = Self::default();
        let obj = match stored {
            Value::Object(obj) => obj,
            Value::Null => return out,
            _ => {
                out.normalized = true;
                return out;
            }
        };
        let mut odd = false;
        let field = |name: &str| -> Option<&Value> {
            match obj.get(name) {
                None | Some(Value::Null) => None,
                Some(v) => Some(v),
            }
        };
        if let Some(v) = field("observedGeneration") {
            out.observed_generation = v.as_i64();
            odd |= out.observed_generation.is_none();
        }
        if let Some(v) = field("authMethod") {
            out.auth_method = v
                .as_str()
                .filter(|s| s.len() <= MAX_AUTH_METHOD)
                .map(str::to_owned);
            odd |= out.auth_method.is_none();
        }
        if let Some(v) = field("lastUpdated") {
            out.last_updated = serde_json::from_value::<Time>(v.clone()).ok();
            odd |= out.last_updated.is_none();
        }
        match field("conditions") {
            None => {}
            Some(Value::Array(items)) => {
                for item in items {
                    match serde_json::from_value::<Condition>(item.clone()) {
                        Ok(c) => out.conditions.push(c),
                        Err(_) => odd = true,
                    }
                }
            }
            Some(_) => odd = true,
        }
        match field("verifiedImages") {
            None => {}
            Some(Value::Array(items)) => {
                for item in items.iter().take(MAX_VERIFIED_IMAGES) {
                    match serde_json::from_value::<VerifiedImages>(item.clone()) {
                        Ok(r) => out.verified_images.push(r),
                        Err(_) => odd = true,
                    }
                }
                odd |= items.len() > MAX_VERIFIED_IMAGES;
            }
            Some(_) => odd = true,
        }
        let counts: [(&str, Option<&str>, &mut i32); 7] = [
            (
                "injectedPodCount",
                Some("injectedPods"),
                &mut out.injected_pod_count,
            ),
            (
                "uninjectedPodCount",
                Some("uninjectedPods"),
                &mut out.uninjected_pod_count,
            ),
            (
                "orphanedPodCount",
                Some("orphanedPods"),
                &mut out.orphaned_pod_count,
            ),
            (
                "verifiedPodCount",
                Some("verifiedPods"),
                &mut out.verified_pod_count,
            ),
            (
                "failedPodCount",
                Some("failedPods"),
                &mut out.failed_pod_count,
            ),
            ("tamperedPodCount", None, &mut out.tampered_pod_count),
            ("driftedPodCount", None, &mut out.drifted_pod_count),
        ];
        for (name, legacy, slot) in counts {
            let current = field(name);
            let old = legacy.and_then(&field);
            odd |= old.is_some();
            let current_count = current.and_then(|v| match v {
                Value::Number(_) => count_of(v),
                _ => None,
            });
            odd |= current.is_some() && current_count.is_none();
            odd |= current.and_then(Value::as_i64).is_some_and(|i| i < 0);
            *slot = current_count
                .or_else(|| old.and_then(count_of))
                .unwrap_or(0);
        }
        out.normalized = odd;
        out
    }

    /// The merge patch that makes the stored status this one: every field of this schema is
    /// written (unset ones as `null`), the [`LEGACY_STATUS_FIELDS`] are deleted, fields of
    /// other writers are left alone.
    pub fn merge_patch(&self) -> Value {
        let mut status = match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for key in [
            "observedGeneration",
            "authMethod",
            "lastUpdated",
            "verifiedImages",
        ]
        .into_iter()
        .chain(LEGACY_STATUS_FIELDS)
        {
            status.entry(key).or_insert(Value::Null);
        }
        serde_json::json!({ "status": status })
    }

    /// Sets `lastUpdated`: kept from `old` when nothing else changed, else `now`.
    pub fn stamped(mut self, old: Option<&Self>, now: Time) -> Self {
        self.last_updated = match old {
            Some(o)
                if !o.normalized
                    && Self {
                        last_updated: o.last_updated.clone(),
                        ..self.clone()
                    } == *o =>
            {
                o.last_updated.clone()
            }
            _ => Some(now),
        };
        self
    }
}

/// Whether an injected pod's verifier was set up for another spec than `mv`'s current one:
/// its generation annotation (written by this operator's webhook) is missing or differs.
/// Pods without the verifier are never orphaned.
pub fn orphaned(mv: &ModelValidation, pod: &Pod) -> bool {
    if !crate::reserved::in_init_containers(pod.spec.as_ref()) {
        return false;
    }
    let current = mv.metadata.generation.map(|g| g.to_string());
    pod.annotations().get(annotations::GENERATION) != current.as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mv_shared::INIT_CONTAINER_NAME;
    use serde_json::json;

    fn decode(status: Value) -> ModelValidationStatus {
        // through the whole object, as the watch decodes it
        let mv: ModelValidation = serde_json::from_value(json!({
            "apiVersion": "ml.sigstore.dev/v1alpha1", "kind": "ModelValidation",
            "metadata": {"name": "m", "namespace": "ns"},
            "spec": {"model": {"path": "/m"}, "config": {"publicKeyConfig": {"keyPath": "/k"}}},
            "status": status,
        }))
        .expect("a ModelValidation with any status decodes");
        mv.status.unwrap_or_default()
    }

    fn ready() -> Value {
        json!({"type": "Ready", "status": "True", "reason": "Valid", "message": "ok",
               "lastTransitionTime": "2026-01-02T03:04:05Z"})
    }

    #[test]
    fn this_operators_status_round_trips_unchanged() {
        let s = ModelValidationStatus {
            observed_generation: Some(4),
            conditions: vec![serde_json::from_value(ready()).unwrap()],
            auth_method: Some("public-key".into()),
            injected_pod_count: 3,
            uninjected_pod_count: 1,
            orphaned_pod_count: 1,
            verified_pod_count: 2,
            failed_pod_count: 1,
            tampered_pod_count: 1,
            drifted_pod_count: 1,
            verified_images: vec![VerifiedImages {
                layout: format!("sha256:{}", "c".repeat(64)),
                digests: vec![format!("sha256:{}", "a".repeat(64))],
                generation: 4,
                pod: "p0".into(),
                verified_at: Some(Time("2026-01-02T03:04:05Z".parse().unwrap())),
            }],
            last_updated: Some(Time("2026-01-02T03:04:05Z".parse().unwrap())),
            normalized: false,
        };
        let back = decode(serde_json::to_value(&s).unwrap());
        assert_eq!(back, s);
        assert_eq!(decode(json!({})), ModelValidationStatus::default());
        assert_eq!(decode(Value::Null), ModelValidationStatus::default());
    }

    #[test]
    fn malformed_verified_images_are_dropped_and_rewritten() {
        let good = json!({"layout": "k", "digests": ["sha256:a"], "generation": 1, "pod": "p"});
        for (stored, kept) in [
            (json!({"verifiedImages": [good.clone(), {"layout": 7}]}), 1),
            (json!({"verifiedImages": "not a list"}), 0),
            (
                json!({"verifiedImages": [good.clone(), {"generation": "x"}, good]}),
                2,
            ),
        ] {
            let s = decode(stored.clone());
            assert_eq!(s.verified_images.len(), kept, "{stored}");
            assert!(s.normalized, "{stored}");
        }
    }

    #[test]
    fn upstreams_stored_status_decodes_into_counts() {
        let pods = |n: usize| -> Value {
            (0..n)
                .map(|i| json!({"name": format!("p{i}"), "uid": format!("u{i}"), "injectedAt": "2026-01-02T03:04:05Z"}))
                .collect()
        };
        let s = decode(json!({
            "conditions": [],
            "injectedPodCount": 2, "uninjectedPodCount": 1, "orphanedPodCount": 0,
            "authMethod": "public-key",
            "injectedPods": pods(2), "uninjectedPods": pods(1), "orphanedPods": [],
            "lastUpdated": "2026-05-06T07:08:09Z",
        }));
        assert_eq!(
            (
                s.injected_pod_count,
                s.uninjected_pod_count,
                s.orphaned_pod_count
            ),
            (2, 1, 0)
        );
        assert_eq!(s.auth_method.as_deref(), Some("public-key"));
        assert!(s.last_updated.is_some());
        assert!(s.normalized, "the pod lists must be cleaned up");
        // lists without the counts: counted
        let s = decode(json!({"injectedPods": pods(5), "orphanedPods": pods(2)}));
        assert_eq!((s.injected_pod_count, s.orphaned_pod_count), (5, 2));
        // pod entries of any shape are only counted
        let s = decode(json!({"injectedPods": [1, "x", null, {"name": 5}]}));
        assert_eq!(s.injected_pod_count, 4);
    }

    #[test]
    fn this_projects_former_integer_shape_decodes_into_counts() {
        let s = decode(json!({
            "observedGeneration": 2, "conditions": [ready()], "authMethod": "key",
            "injectedPods": 3, "verifiedPods": 2, "failedPods": 1, "uninjectedPods": 4,
        }));
        assert_eq!(
            (
                s.injected_pod_count,
                s.verified_pod_count,
                s.failed_pod_count,
                s.uninjected_pod_count
            ),
            (3, 2, 1, 4)
        );
        assert_eq!(s.conditions.len(), 1);
        assert_eq!(s.observed_generation, Some(2));
        assert!(s.normalized);
    }

    #[test]
    fn malformed_statuses_decode_without_failing() {
        let cases = [
            json!("a string"),
            json!(42),
            json!(true),
            json!([1, 2, 3]),
            json!({"conditions": "Ready"}),
            json!({"conditions": [null, 1, "x", {"type": "Ready"}, {"nested": {"deep": [[]]}}]}),
            json!({"conditions": {"type": "Ready"}}),
            json!({"injectedPodCount": "3"}),
            json!({"injectedPodCount": null, "injectedPods": null}),
            json!({"injectedPodCount": 1e300}),
            json!({"injectedPodCount": 18446744073709551615u64}),
            json!({"injectedPodCount": -5}),
            json!({"injectedPodCount": {"value": 3}}),
            json!({"injectedPods": {"name": "p"}}),
            json!({"injectedPods": "3"}),
            json!({"observedGeneration": "two", "authMethod": {"x": 1}, "lastUpdated": 7}),
            json!({"lastUpdated": "yesterday"}),
            json!({"authMethod": "x".repeat(10_000)}),
            json!({"unknownField": {"a": [1, {"b": null}]}}),
        ];
        for case in cases {
            let s = decode(case.clone());
            assert!(
                (0..=i32::MAX).contains(&s.injected_pod_count),
                "{case}: {s:?}"
            );
            let patch = s.merge_patch();
            assert!(patch["status"].is_object(), "{case}");
        }
        let s = decode(json!({"injectedPodCount": 18446744073709551615u64}));
        assert_eq!(s.injected_pod_count, i32::MAX);
        let s = decode(json!({"injectedPodCount": 99999999999i64}));
        assert_eq!(s.injected_pod_count, i32::MAX);
        let s = decode(json!({"injectedPodCount": -5}));
        assert_eq!(s.injected_pod_count, 0);
        assert!(s.normalized);
        // the newest count is as tolerant as the others
        for (stored, want) in [
            (json!({"driftedPodCount": 2}), 2),
            (json!({"driftedPodCount": "2"}), 0),
            (json!({"driftedPodCount": -1}), 0),
            (json!({"driftedPodCount": 1e300}), 0),
            (json!({"driftedPodCount": 99999999999i64}), i32::MAX),
            (json!({}), 0),
        ] {
            assert_eq!(decode(stored.clone()).drifted_pod_count, want, "{stored}");
        }
        let s = decode(json!({"conditions": [ready(), {"type": "Ready"}, 3]}));
        assert_eq!(s.conditions.len(), 1, "valid conditions are kept");
        assert!(s.normalized);
        for garbage in [
            json!("x"),
            json!({"authMethod": 5}),
            json!({"injectedPodCount": "3"}),
        ] {
            assert!(decode(garbage.clone()).normalized, "{garbage}");
        }
        // fields of other writers are neither errors nor rewritten
        assert!(!decode(json!({"unknownField": 1})).normalized);
    }

    #[test]
    fn the_merge_patch_deletes_old_fields_and_writes_every_own_field() {
        let s = ModelValidationStatus {
            injected_pod_count: 1,
            ..Default::default()
        };
        let p = s.merge_patch();
        let status = p["status"].as_object().unwrap();
        for key in LEGACY_STATUS_FIELDS {
            assert_eq!(status[key], Value::Null, "{key}");
        }
        assert_eq!(status["injectedPodCount"], 1);
        assert_eq!(status["authMethod"], Value::Null);
        assert_eq!(status["conditions"], json!([]));
        assert!(!status.contains_key("normalized"));
    }

    #[test]
    fn last_updated_changes_only_with_the_status() {
        let t0 = Time("2026-01-01T00:00:00Z".parse().unwrap());
        let t1 = Time("2026-01-01T01:00:00Z".parse().unwrap());
        let first = ModelValidationStatus {
            injected_pod_count: 1,
            ..Default::default()
        }
        .stamped(None, t0.clone());
        assert_eq!(first.last_updated, Some(t0.clone()));
        let same = ModelValidationStatus {
            injected_pod_count: 1,
            ..Default::default()
        }
        .stamped(Some(&first), t1.clone());
        assert_eq!(same, first);
        let changed = ModelValidationStatus {
            injected_pod_count: 2,
            ..Default::default()
        }
        .stamped(Some(&first), t1.clone());
        assert_eq!(changed.last_updated, Some(t1.clone()));
        let mut old = first.clone();
        old.normalized = true;
        let rewritten = first.clone().stamped(Some(&old), t1.clone());
        assert_ne!(rewritten, old);
    }

    #[test]
    fn pods_of_an_older_spec_or_another_operator_are_orphaned() {
        let mut mv: ModelValidation = serde_json::from_value(json!({
            "apiVersion": "ml.sigstore.dev/v1alpha1", "kind": "ModelValidation",
            "metadata": {"name": "m", "namespace": "ns", "generation": 3},
            "spec": {"model": {"path": "/m"}, "config": {"publicKeyConfig": {"keyPath": "/k"}}},
        }))
        .unwrap();
        let pod = |annotations: Value, injected: bool| -> Pod {
            let mut p = json!({"metadata": {"name": "p", "annotations": annotations},
                               "spec": {"containers": [{"name": "app"}]}});
            if injected {
                p["spec"]["initContainers"] = json!([{"name": INIT_CONTAINER_NAME}]);
            }
            serde_json::from_value(p).unwrap()
        };
        let current = pod(json!({annotations::GENERATION: "3"}), true);
        let older = pod(json!({annotations::GENERATION: "2"}), true);
        // what upstream's webhook wrote, and no generation of ours
        let upstream = pod(
            json!({"validation.ml.sigstore.dev/injected-at": "2026-01-01T00:00:00Z",
                   "validation.ml.sigstore.dev/auth-method": "public-key",
                   "validation.ml.sigstore.dev/config-hash": "0123456789abcdef",
                   "validation.ml.sigstore.dev/continuous-validation": "true"}),
            true,
        );
        let plain = pod(json!({}), false);
        assert!(!orphaned(&mv, &current));
        assert!(orphaned(&mv, &older));
        assert!(orphaned(&mv, &upstream));
        assert!(!orphaned(&mv, &plain));
        mv.metadata.generation = Some(2);
        assert!(!orphaned(&mv, &older));
    }
}
