//! The verifier container reduced to one SHA-256 digest per field, for the tamper check.
//!
//! The controller must know whether a pod's `model-validation` container is exactly the one the
//! webhook injects, long after admission; keeping every such container whole in the pod cache
//! costs about 6 KiB per pod. A [`ContainerFingerprint`] keeps what the comparison needs (a
//! digest of each field's canonical JSON, two variants of the volume mounts) in a few hundred
//! bytes, and [`ContainerFingerprint::differences`] names the fields that differ exactly as a
//! comparison of the whole containers would. SHA-256, not a fast hash: the pod author writes
//! the container being fingerprinted.

use k8s_openapi::api::core::v1::{Container, VolumeMount};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Where the API server mounts a pod's service account token into every container.
pub const SERVICE_ACCOUNT_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// SHA-256 of a field's canonical JSON.
type FieldDigest = [u8; 32];

/// The fields compared, each as a digest; see [`container_differences`] for what is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerFingerprint {
    /// Every serialized field but `resources` and `volumeMounts`, sorted by name.
    fields: Vec<(Box<str>, FieldDigest)>,
    /// `volumeMounts` as written, if present.
    mounts: Option<FieldDigest>,
    /// `volumeMounts` without the service account token mount the API server adds; `None` when
    /// absent, else the digest and whether nothing is left.
    mounts_without_token: Option<(FieldDigest, bool)>,
}

impl ContainerFingerprint {
    /// The fingerprint of a container read back from a pod.
    pub fn of(container: &Container) -> Self {
        let mut value = serde_json::to_value(container).unwrap_or(Value::Null);
        normalise_defaults(&mut value);
        let mut object = match value {
            Value::Object(o) => o,
            _ => serde_json::Map::new(),
        };
        object.remove("resources");
        let mounts = object.remove("volumeMounts");
        let mut fields: Vec<(Box<str>, FieldDigest)> = object
            .iter()
            .map(|(k, v)| (k.as_str().into(), digest(v)))
            .collect();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        let without_token = container.volume_mounts.as_ref().map(|ms| {
            let kept: Vec<&VolumeMount> = ms.iter().filter(|m| !is_token_mount(m)).collect();
            let mut v = serde_json::to_value(kept).unwrap_or(Value::Null);
            normalise_mounts(&mut v);
            (digest(&v), v.as_array().is_some_and(Vec::is_empty))
        });
        Self {
            fields,
            mounts: mounts.as_ref().map(digest),
            mounts_without_token: without_token,
        }
    }

    /// The fields in which this container differs from `expected` (what the webhook builds),
    /// sorted; empty: it is the injected container. See [`container_differences`].
    pub fn differences(&self, expected: &Container) -> Vec<String> {
        let wanted = Self::of(expected);
        let skip_pull_policy = expected.image_pull_policy.is_none();
        let compared = |fields: &[(Box<str>, FieldDigest)]| -> Vec<(Box<str>, FieldDigest)> {
            fields
                .iter()
                .filter(|(k, _)| !(skip_pull_policy && &**k == "imagePullPolicy"))
                .cloned()
                .collect()
        };
        let (mut a, mut e) = (compared(&self.fields), compared(&wanted.fields));
        // The token mount the API server adds is ignored unless the verifier is meant to have it.
        let expects_token = expected
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.mount_path == SERVICE_ACCOUNT_MOUNT);
        let actual_mounts = if expects_token {
            self.mounts
        } else {
            match self.mounts_without_token {
                Some((_, true)) if expected.volume_mounts.is_none() => None,
                Some((d, _)) => Some(d),
                None => None,
            }
        };
        a.extend(actual_mounts.map(|d| ("volumeMounts".into(), d)));
        e.extend(wanted.mounts.map(|d| ("volumeMounts".into(), d)));
        let mut keys: Vec<&str> = a.iter().chain(e.iter()).map(|(k, _)| &**k).collect();
        keys.sort_unstable();
        keys.dedup();
        let get = |set: &[(Box<str>, FieldDigest)], key: &str| {
            set.iter().find(|(k, _)| &**k == key).map(|(_, d)| *d)
        };
        keys.into_iter()
            .filter(|k| get(&a, k) != get(&e, k))
            .map(str::to_owned)
            .collect()
    }
}

/// The fields in which `actual` (read back from a pod, after API-server defaulting) differs
/// from `expected` (what the webhook builds). Empty: it is the injected container.
///
/// Compared: everything except `resources` (the API server rewrites quantities and copies limits
/// into requests; resources cannot make a verifier report success) and, when the ModelValidation
/// sets none, `imagePullPolicy` (defaulted). Defaults the API server adds (`procMount: Default`,
/// `mountPropagation: None`, `fieldRef.apiVersion: v1`) are ignored, and so is the read-only
/// service account token mount the API server's ServiceAccount plugin adds to every container
/// when it runs again after the webhooks ([`SERVICE_ACCOUNT_MOUNT`]).
pub fn container_differences(actual: &Container, expected: &Container) -> Vec<String> {
    ContainerFingerprint::of(actual).differences(expected)
}

fn is_token_mount(m: &VolumeMount) -> bool {
    m.mount_path == SERVICE_ACCOUNT_MOUNT
        && m.read_only == Some(true)
        && m.sub_path.is_none()
        && m.sub_path_expr.is_none()
}

/// SHA-256 of `v` written with object keys sorted (JSON equality ignores key order).
fn digest(v: &Value) -> FieldDigest {
    fn feed(h: &mut Sha256, v: &Value) {
        match v {
            Value::Object(o) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                h.update(b"{");
                for k in keys {
                    h.update(Value::String(k.clone()).to_string().as_bytes());
                    h.update(b":");
                    if let Some(v) = o.get(k) {
                        feed(h, v);
                    }
                    h.update(b",");
                }
                h.update(b"}");
            }
            Value::Array(a) => {
                h.update(b"[");
                for v in a {
                    feed(h, v);
                    h.update(b",");
                }
                h.update(b"]");
            }
            scalar => h.update(scalar.to_string().as_bytes()),
        }
    }
    let mut h = Sha256::new();
    feed(&mut h, v);
    h.finalize().into()
}

fn strip(v: &mut Value, key: &str, default: &str) {
    if let Some(o) = v.as_object_mut()
        && o.get(key).and_then(Value::as_str) == Some(default)
    {
        o.remove(key);
    }
}

fn normalise_mounts(v: &mut Value) {
    if let Value::Array(ms) = v {
        for m in ms {
            strip(m, "mountPropagation", "None");
            strip(m, "recursiveReadOnly", "Disabled");
        }
    }
}

fn normalise_defaults(v: &mut Value) {
    if let Some(sc) = v.get_mut("securityContext") {
        strip(sc, "procMount", "Default");
    }
    if let Some(ms) = v.get_mut("volumeMounts") {
        normalise_mounts(ms);
    }
    if let Some(Value::Array(env)) = v.get_mut("env") {
        for e in env {
            if let Some(f) = e.pointer_mut("/valueFrom/fieldRef") {
                strip(f, "apiVersion", "v1");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(v: Value) -> Container {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn differences_name_the_fields_a_whole_comparison_would() {
        let token = json!({"name": "kube-api-access-x", "mountPath": SERVICE_ACCOUNT_MOUNT, "readOnly": true});
        let data = json!({"name": "data", "mountPath": "/data", "readOnly": true});
        let expected = json!({"name": "model-validation", "image": "v:1", "args": ["verify", "key"],
            "securityContext": {"runAsNonRoot": true}, "volumeMounts": [data.clone()]});
        let with = |patch: Value| {
            let mut v = expected.clone();
            for (k, x) in patch.as_object().unwrap() {
                if x.is_null() {
                    v.as_object_mut().unwrap().remove(k);
                } else {
                    v[k] = x.clone();
                }
            }
            v
        };
        let cases: Vec<(&str, Value, Value, &[&str])> = vec![
            ("identical", expected.clone(), expected.clone(), &[]),
            (
                "API defaults and key order",
                json!({"volumeMounts": [{"readOnly": true, "mountPath": "/data", "name": "data", "mountPropagation": "None"}],
                "securityContext": {"procMount": "Default", "runAsNonRoot": true}, "args": ["verify", "key"], "image": "v:1", "name": "model-validation"}),
                expected.clone(),
                &[],
            ),
            (
                "token mount added by the API server",
                with(json!({"volumeMounts": [data.clone(), token.clone()]})),
                expected.clone(),
                &[],
            ),
            (
                "token mount the verifier needs is missing",
                expected.clone(),
                with(json!({"volumeMounts": [data.clone(), token.clone()]})),
                &["volumeMounts"],
            ),
            (
                "only the token mount, none expected",
                with(json!({"volumeMounts": [token.clone()]})),
                with(json!({"volumeMounts": null})),
                &[],
            ),
            (
                "a writable token mount counts",
                with(
                    json!({"volumeMounts": [data.clone(), {"name": "t", "mountPath": SERVICE_ACCOUNT_MOUNT}]}),
                ),
                expected.clone(),
                &["volumeMounts"],
            ),
            (
                "arguments",
                with(json!({"args": ["verify", "key", "--ignore-paths", "x"]})),
                expected.clone(),
                &["args"],
            ),
            (
                "resources are not compared",
                with(json!({"resources": {"limits": {"cpu": "2"}}})),
                expected.clone(),
                &[],
            ),
            (
                "defaulted pull policy",
                with(json!({"imagePullPolicy": "IfNotPresent"})),
                expected.clone(),
                &[],
            ),
            (
                "pull policy the spec sets",
                with(json!({"imagePullPolicy": "IfNotPresent"})),
                with(json!({"imagePullPolicy": "Always"})),
                &["imagePullPolicy"],
            ),
            (
                "an added field and another image",
                with(json!({"workingDir": "/tmp", "image": "evil:1"})),
                expected.clone(),
                &["image", "workingDir"],
            ),
        ];
        for (name, actual, wanted, want) in cases {
            let got = ContainerFingerprint::of(&container(actual)).differences(&container(wanted));
            assert_eq!(got, want, "{name}");
        }
    }
}
