//! Verify once per digest: a model shipped as OCI images and mounted as image volumes pinned by
//! digest is hashed by the first pod's verifier only.
//!
//! The container runtime checks every layer of an image against the manifest its digest names,
//! so the files of an image volume referenced as `…@sha256:<hex>` are fixed by that reference.
//! When every path the verifier reads (the model, the signature, the key, certificate or trust
//! files) lies in such volumes, what a verification proves depends only on the spec and on the
//! [`ImageLayout`]: which digests are mounted where. After a genuine injected verifier succeeds
//! for a layout, the controller records it in the ModelValidation's status
//! (`status.verifiedImages`, for the current generation); the webhook then admits later pods
//! with the same layout under the same generation without injecting the verifier, and the
//! controller reports them verified, naming the digests.
//!
//! Not cached: tag references, `subPathExpr` mounts (their path depends on the pod's env),
//! paths outside image volumes (an emptyDir, a ConfigMap or a PVC can hold anything the pod's
//! author puts there), and continuous validation. The record lives in the status subresource,
//! which only the operator (and whoever is granted `modelvalidations/status`) can write; any
//! change of the spec makes a new generation and drops the records.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::crd::{MAX_VERIFIED_IMAGES, ModelValidation, VerifiedImages};
use crate::inject::{normalise, verifier_mounts};

/// The annotation the webhook writes on a pod it admitted without the verifier because its
/// layout was verified before: the layout key.
pub const VERIFIED_BY_DIGEST_ANNOTATION: &str = "validation.ml.sigstore.dev/verified-by-digest";

/// Where the verifier's inputs come from when all of them are images pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayout {
    /// `sha256:<hex>` of the sorted (mount path, image digest, subPath) of every volume the
    /// verifier would mount.
    pub key: String,
    /// The image digests, sorted, without repeats.
    pub digests: Vec<String>,
}

/// The digest of an image reference pinned by digest (`name[:tag]@sha256:<64 hex>`).
pub fn pinned_digest(reference: &str) -> Option<&str> {
    let (_, digest) = reference.rsplit_once('@')?;
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(digest)
}

/// The layout of the verifier's inputs for `mv` in a pod with `spec`, when every mount it
/// would get is an image volume pinned by digest (see the module documentation); else `None`.
pub fn image_layout(mv: &ModelValidation, spec: &PodSpec) -> Option<ImageLayout> {
    // Most pods have no image volume: decided before any mount is looked at (every reconcile
    // and every admission asks).
    let has_image_volume = spec.volumes.iter().flatten().any(|v| v.image.is_some());
    if !has_image_volume || mv.spec.continuous_interval().is_some() {
        return None;
    }
    let selection = verifier_mounts(mv, spec);
    if !selection.uncovered.is_empty() || selection.mounts.is_empty() {
        return None;
    }
    let mut entries = Vec::with_capacity(selection.mounts.len());
    let mut digests = Vec::with_capacity(selection.mounts.len());
    for mount in &selection.mounts {
        if mount.sub_path_expr.is_some() {
            return None;
        }
        let volume = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == mount.name)?;
        let digest = pinned_digest(volume.image.as_ref()?.reference.as_deref()?)?;
        let path = normalise(std::path::Path::new(&mount.mount_path));
        entries.push(json!([
            path.to_string_lossy(),
            digest,
            mount.sub_path.as_deref().unwrap_or("")
        ]));
        digests.push(digest.to_owned());
    }
    entries.sort_by_key(ToString::to_string);
    digests.sort();
    digests.dedup();
    let canonical = serde_json::Value::Array(entries).to_string();
    Some(ImageLayout {
        key: format!(
            "sha256:{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        ),
        digests,
    })
}

/// The record of `layout` for the current generation of `mv`, if its verifier succeeded.
pub fn record<'m>(mv: &'m ModelValidation, layout: &ImageLayout) -> Option<&'m VerifiedImages> {
    let generation = mv.metadata.generation?;
    mv.status
        .as_ref()?
        .verified_images
        .iter()
        .find(|r| r.layout == layout.key && r.generation == generation)
}

/// A record of a successful verification of `layout` by `pod` under `generation`.
pub fn new_record(
    layout: ImageLayout,
    generation: i64,
    pod: String,
    verified_at: Option<Time>,
) -> VerifiedImages {
    VerifiedImages {
        layout: layout.key,
        digests: layout.digests,
        generation,
        pod,
        verified_at,
    }
}

/// The records the status should hold: those of the current generation already stored, then
/// `new` ones for layouts not yet recorded, at most [`MAX_VERIFIED_IMAGES`] (the oldest go).
pub fn merged_records(mv: &ModelValidation, new: Vec<VerifiedImages>) -> Vec<VerifiedImages> {
    let Some(generation) = mv.metadata.generation else {
        return Vec::new();
    };
    let mut out: Vec<VerifiedImages> = mv
        .status
        .as_ref()
        .map(|s| s.verified_images.clone())
        .unwrap_or_default();
    out.retain(|r| r.generation == generation);
    for r in new {
        if r.generation == generation && !out.iter().any(|o| o.layout == r.layout) {
            out.push(r);
        }
    }
    let excess = out.len().saturating_sub(MAX_VERIFIED_IMAGES);
    out.drain(..excess);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ModelValidationSpec;
    use serde_json::Value;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn mv(spec: Value) -> ModelValidation {
        let spec: ModelValidationSpec = serde_json::from_value(spec).unwrap();
        let mut m = ModelValidation::new("llm", spec);
        m.metadata.namespace = Some("ns".into());
        m.metadata.generation = Some(3);
        m
    }

    fn key_spec() -> Value {
        json!({"model": {"path": "/models/llm"}, "config": {"publicKeyConfig": {"keyPath": "/keys/key.pub"}}})
    }

    /// A pod with the model at /models/llm and the key at /keys from the given volumes.
    fn spec(model: Value, keys: Value, model_mount: Value) -> PodSpec {
        serde_json::from_value(json!({
            "containers": [{"name": "app", "volumeMounts": [model_mount,
                {"name": "keys", "mountPath": "/keys", "readOnly": true}]}],
            "volumes": [
                {"name": "model", "image": model},
                {"name": "keys", "image": keys}]
        }))
        .unwrap()
    }

    fn by_digest(d: &str) -> Value {
        json!({"reference": format!("registry.local/models/llm@{d}")})
    }

    fn at_models() -> Value {
        json!({"name": "model", "mountPath": "/models/llm"})
    }

    #[test]
    fn only_references_pinned_by_a_sha256_digest_count() {
        let cases = [
            (
                "r/m@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                true,
            ),
            (
                "r/m:v1@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                true,
            ),
            ("r/m:v1", false),
            (
                "r/m@sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                false,
            ),
            ("r/m@sha256:abc", false),
            (
                "r/m@sha512:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
            ("", false),
        ];
        for (reference, pinned) in cases {
            assert_eq!(pinned_digest(reference).is_some(), pinned, "{reference}");
        }
    }

    #[test]
    fn a_layout_needs_every_input_in_an_image_pinned_by_digest() {
        let m = mv(key_spec());
        let some = image_layout(&m, &spec(by_digest(A), by_digest(B), at_models())).unwrap();
        assert_eq!(some.digests, [A, B]);
        assert!(some.key.starts_with("sha256:") && some.key.len() == 71);
        let tag = json!({"reference": "registry.local/models/llm:latest"});
        let expr = json!({"name": "model", "mountPath": "/models/llm", "subPathExpr": "$(V)"});
        let mut key_in_empty_dir = spec(by_digest(A), by_digest(B), at_models());
        key_in_empty_dir.volumes.as_mut().unwrap()[1] =
            serde_json::from_value(json!({"name": "keys", "emptyDir": {}})).unwrap();
        let continuous = mv(json!({"model": {"path": "/models/llm"},
            "config": {"publicKeyConfig": {"keyPath": "/keys/key.pub"}},
            "continuousValidation": {"enabled": true}}));
        let none: [(&str, &ModelValidation, PodSpec); 4] = [
            ("a tag reference", &m, spec(tag, by_digest(B), at_models())),
            ("subPathExpr", &m, spec(by_digest(A), by_digest(B), expr)),
            ("the key in an emptyDir", &m, key_in_empty_dir),
            (
                "continuous validation",
                &continuous,
                spec(by_digest(A), by_digest(B), at_models()),
            ),
        ];
        for (name, m, s) in none {
            assert_eq!(image_layout(m, &s), None, "{name}");
        }
    }

    #[test]
    fn the_key_follows_content_and_placement_not_names() {
        let m = mv(key_spec());
        let key = |s: PodSpec| image_layout(&m, &s).unwrap().key;
        let base = key(spec(by_digest(A), by_digest(B), at_models()));
        // another registry or tag for the same digests: the same content, the same key
        let renamed = json!({"reference": format!("mirror.local/x:v9@{A}")});
        assert_eq!(key(spec(renamed, by_digest(B), at_models())), base);
        // other content, or the same image mounted from a sub-directory: another key
        assert_ne!(key(spec(by_digest(B), by_digest(B), at_models())), base);
        let sub = json!({"name": "model", "mountPath": "/models/llm", "subPath": "v2"});
        assert_ne!(key(spec(by_digest(A), by_digest(B), sub)), base);
    }

    #[test]
    fn records_are_for_the_current_generation_and_bounded() {
        let mut m = mv(key_spec());
        let layout = image_layout(&m, &spec(by_digest(A), by_digest(B), at_models())).unwrap();
        let rec = |g: i64, layout: &str| VerifiedImages {
            layout: layout.to_owned(),
            digests: vec![A.to_owned()],
            generation: g,
            pod: "p".into(),
            verified_at: None,
        };
        assert!(record(&m, &layout).is_none());
        m.status = Some(crate::crd::ModelValidationStatus {
            verified_images: vec![rec(2, &layout.key)],
            ..Default::default()
        });
        assert!(
            record(&m, &layout).is_none(),
            "an older generation's record"
        );
        let merged = merged_records(&m, vec![rec(3, &layout.key), rec(3, &layout.key)]);
        assert_eq!(
            merged,
            [rec(3, &layout.key)],
            "old generation dropped, new kept once"
        );
        m.status.as_mut().unwrap().verified_images = merged;
        assert!(record(&m, &layout).is_some());
        let many: Vec<VerifiedImages> = (0..40).map(|i| rec(3, &format!("k{i}"))).collect();
        let merged = merged_records(&m, many);
        assert_eq!(merged.len(), MAX_VERIFIED_IMAGES);
        assert_eq!(merged.last().unwrap().layout, "k39", "the oldest go first");
    }
}
