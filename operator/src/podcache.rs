//! The controller's pod cache: only what it reads, indexed by namespace.
//!
//! The controller watches every pod carrying the label, cluster-wide, in the same process as
//! the webhook. It keeps a slim copy of each ([`slim`]: no `managedFields`, no volumes, probes,
//! images of app containers, no status but the init container statuses; the verifier container
//! as a [`ContainerFingerprint`]) and an index from namespace to pod names ([`PodIndex`]), so
//! that a reconcile reads only the pods of its own namespace instead of scanning and cloning
//! all of them.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{
    Container, EphemeralContainer, Pod, PodSecurityContext, PodSpec, PodStatus, Volume,
};
use kube::api::ObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use mv_shared::{INIT_CONTAINER_NAME, POD_LABEL};

use crate::fingerprint::ContainerFingerprint;
use crate::inject::ANNOTATION_PREFIX;

/// A labelled pod as the controller keeps it: the slim pod and its verifier container's
/// fingerprint.
#[derive(Debug, Clone, Default)]
pub struct CachedPod {
    /// The pod, reduced by [`slim`]; its `model-validation` init container keeps only its name,
    /// `restartPolicy` and readiness probe.
    pub pod: Pod,
    /// The `model-validation` init container, fingerprinted before it was reduced.
    pub verifier: Option<ContainerFingerprint>,
}

impl CachedPod {
    /// The slim pod (a named function: closures returning a borrow do not satisfy the
    /// higher-ranked bounds of the spawned controller future).
    pub fn pod_of(cached: &Arc<Self>) -> &Pod {
        &cached.pod
    }
}

impl Resource for CachedPod {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        Pod::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        Pod::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        Pod::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        Pod::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.pod.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.pod.metadata
    }
}

/// A pod watch event with each pod reduced by [`slim`].
pub fn cached_event(event: watcher::Event<Pod>) -> watcher::Event<CachedPod> {
    use watcher::Event as E;
    match event {
        E::Apply(p) => E::Apply(slim(p)),
        E::Delete(p) => E::Delete(slim(p)),
        E::Init => E::Init,
        E::InitApply(p) => E::InitApply(slim(p)),
        E::InitDone => E::InitDone,
    }
}

/// The fields of a pod the controller reads; everything else is dropped before caching.
///
/// Kept: name, namespace, uid, resourceVersion, deletionTimestamp, finalizers, the project's
/// label and annotations; the app containers' names and volume mounts, and their env where a
/// mount uses `subPathExpr` (the verifier's mounts and env are recomputed from them); the
/// `model-validation` init container's fingerprint, name, `restartPolicy` and readiness probe,
/// the other init containers' names (its position matters); ephemeral containers' names; the
/// pod's `runAsUser` and `os`; the init container statuses.
pub fn slim(pod: Pod) -> CachedPod {
    let verifier = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == INIT_CONTAINER_NAME))
        .map(ContainerFingerprint::of);
    let meta = pod.metadata;
    let keep_labels = meta.labels.map(|l| {
        l.into_iter()
            .filter(|(k, _)| k == POD_LABEL)
            .collect::<std::collections::BTreeMap<_, _>>()
    });
    let keep_annotations = meta.annotations.map(|a| {
        a.into_iter()
            .filter(|(k, _)| k.starts_with(ANNOTATION_PREFIX))
            .collect::<std::collections::BTreeMap<_, _>>()
    });
    let metadata = ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resource_version: meta.resource_version,
        deletion_timestamp: meta.deletion_timestamp,
        // whole list: removing upstream's finalizer tests the list first
        finalizers: meta.finalizers,
        labels: keep_labels,
        annotations: keep_annotations,
        ..Default::default()
    };
    let spec = pod.spec.map(|s| PodSpec {
        containers: s
            .containers
            .into_iter()
            .map(|c| {
                let expands = c
                    .volume_mounts
                    .iter()
                    .flatten()
                    .any(|m| m.sub_path_expr.is_some());
                Container {
                    name: c.name,
                    volume_mounts: c.volume_mounts,
                    env: c.env.filter(|_| expands),
                    ..Default::default()
                }
            })
            .collect(),
        init_containers: s.init_containers.map(|cs| {
            cs.into_iter()
                .map(|c| {
                    if c.name == INIT_CONTAINER_NAME {
                        Container {
                            name: c.name,
                            restart_policy: c.restart_policy,
                            readiness_probe: c.readiness_probe,
                            ..Default::default()
                        }
                    } else {
                        Container {
                            name: c.name,
                            ..Default::default()
                        }
                    }
                })
                .collect()
        }),
        ephemeral_containers: s.ephemeral_containers.map(|cs| {
            cs.into_iter()
                .map(|c| EphemeralContainer {
                    name: c.name,
                    ..Default::default()
                })
                .collect()
        }),
        security_context: s.security_context.and_then(|sc| sc.run_as_user).map(|uid| {
            PodSecurityContext {
                run_as_user: Some(uid),
                ..Default::default()
            }
        }),
        os: s.os,
        // image volumes (name and reference): verify once per digest (crate::digest)
        volumes: s
            .volumes
            .map(|vs| {
                vs.into_iter()
                    .filter(|v| v.image.is_some())
                    .map(|v| Volume {
                        name: v.name,
                        image: v.image,
                        ..Default::default()
                    })
                    .collect::<Vec<_>>()
            })
            .filter(|vs| !vs.is_empty()),
        ..Default::default()
    });
    let status = pod.status.map(|s| PodStatus {
        init_container_statuses: s.init_container_statuses,
        ..Default::default()
    });
    CachedPod {
        pod: Pod {
            metadata,
            spec,
            status,
        },
        verifier,
    }
}

/// Namespace → pod names.
type Names = HashMap<String, BTreeSet<String>>;

/// Namespace → names of the cached pods, kept in step with the watch events.
#[derive(Debug, Clone, Default)]
pub struct PodIndex {
    by_namespace: Arc<RwLock<Names>>,
    /// The relist in progress (between `Init` and `InitDone`).
    relist: Arc<RwLock<Option<Names>>>,
}

impl PodIndex {
    /// Follows one watch event (the same the reflector store applies).
    pub fn apply<K: Resource>(&self, event: &watcher::Event<K>) {
        let key = |p: &K| Some((p.namespace()?, p.name_any()));
        match event {
            watcher::Event::Apply(p) => {
                if let Some((ns, name)) = key(p) {
                    self.write().entry(ns).or_default().insert(name);
                }
            }
            watcher::Event::Delete(p) => {
                if let Some((ns, name)) = key(p) {
                    let mut map = self.write();
                    if let Some(names) = map.get_mut(&ns) {
                        names.remove(&name);
                        if names.is_empty() {
                            map.remove(&ns);
                        }
                    }
                }
            }
            watcher::Event::Init => *self.relist_mut() = Some(HashMap::new()),
            watcher::Event::InitApply(p) => {
                if let Some((ns, name)) = key(p) {
                    self.relist_mut()
                        .get_or_insert_with(HashMap::new)
                        .entry(ns)
                        .or_default()
                        .insert(name);
                }
            }
            watcher::Event::InitDone => {
                let fresh = self.relist_mut().take().unwrap_or_default();
                *self.write() = fresh;
            }
        }
    }

    /// Names of the cached pods of `namespace`, sorted.
    pub fn names_in(&self, namespace: &str) -> Vec<String> {
        self.by_namespace
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(namespace)
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Names> {
        self.by_namespace
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn relist_mut(&self) -> std::sync::RwLockWriteGuard<'_, Option<Names>> {
        self.relist
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The slim pods and their index.
#[derive(Clone)]
pub struct PodCache {
    /// Slim pods by namespace/name.
    pub store: Store<CachedPod>,
    /// Namespace → names.
    pub index: PodIndex,
}

impl std::fmt::Debug for PodCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodCache")
            .field("pods", &self.store.len())
            .finish_non_exhaustive()
    }
}

impl PodCache {
    /// The cached pods of `namespace`, sorted by name.
    pub fn in_namespace(&self, namespace: &str) -> Vec<Arc<CachedPod>> {
        self.index
            .names_in(namespace)
            .into_iter()
            .filter_map(|name| self.store.get(&ObjectRef::new(&name).within(namespace)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ns: &str, name: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}})).unwrap()
    }

    #[test]
    fn slim_keeps_what_the_controller_reads_and_drops_the_rest() {
        let full: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "n", "uid": "u", "resourceVersion": "9",
                "labels": {POD_LABEL: "true", "app": "x", "pod-template-hash": "abc"},
                "annotations": {"validation.ml.sigstore.dev/generation": "2", "kubectl.kubernetes.io/last-applied-configuration": "{...}"},
                "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]},
            "spec": {
                "volumes": [{"name": "v", "emptyDir": {}}],
                "containers": [{"name": "app", "image": "app:1", "args": ["--big"],
                    "env": [{"name": "E", "value": "1"}],
                    "volumeMounts": [{"name": "v", "mountPath": "/data"}],
                    "readinessProbe": {"exec": {"command": ["true"]}}}],
                "initContainers": [{"name": "fetch", "image": "busybox", "command": ["sh"]},
                    {"name": INIT_CONTAINER_NAME, "image": "verifier", "args": ["verify"]}],
                "securityContext": {"runAsUser": 0, "fsGroup": 2000},
                "os": {"name": "linux"},
                "tolerations": [{"operator": "Exists"}]},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}],
                "initContainerStatuses": [{"name": INIT_CONTAINER_NAME, "image": "verifier", "imageID": "", "ready": false, "restartCount": 0}]}
        }))
        .unwrap();
        let verifier = full
            .spec
            .as_ref()
            .unwrap()
            .init_containers
            .as_ref()
            .unwrap()[1]
            .clone();
        let cached = slim(full.clone());
        assert_eq!(cached.verifier, Some(ContainerFingerprint::of(&verifier)));
        assert_eq!(
            serde_json::to_value(&cached.pod).unwrap(),
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": "n", "uid": "u", "resourceVersion": "9",
                    "labels": {POD_LABEL: "true"},
                    "annotations": {"validation.ml.sigstore.dev/generation": "2"}},
                "spec": {
                    "containers": [{"name": "app",
                        "volumeMounts": [{"name": "v", "mountPath": "/data"}]}],
                    "initContainers": [{"name": "fetch"}, {"name": INIT_CONTAINER_NAME}],
                    "securityContext": {"runAsUser": 0},
                    "os": {"name": "linux"}},
                "status": {"initContainerStatuses": [{"name": INIT_CONTAINER_NAME, "image": "verifier", "imageID": "", "ready": false, "restartCount": 0}]}
            })
        );
        // the env stays where a mount expands it, with the sidecar's restart policy and probe
        let mut full = full;
        let spec = full.spec.as_mut().unwrap();
        spec.containers[0].volume_mounts.as_mut().unwrap()[0].sub_path_expr = Some("$(E)".into());
        let inits = spec.init_containers.as_mut().unwrap();
        inits[1].restart_policy = Some("Always".into());
        inits[1].readiness_probe = spec.containers[0].readiness_probe.clone();
        let kept = slim(full.clone()).pod.spec.unwrap();
        assert_eq!(
            kept.containers[0].env,
            full.spec.as_ref().unwrap().containers[0].env
        );
        let v = &kept.init_containers.unwrap()[1];
        assert_eq!(v.restart_policy.as_deref(), Some("Always"));
        assert!(v.readiness_probe.is_some() && v.args.is_none() && v.image.is_none());
    }

    #[test]
    fn the_index_follows_applies_deletes_and_relists() {
        let index = PodIndex::default();
        for p in [pod("a", "x"), pod("a", "y"), pod("b", "z")] {
            index.apply(&watcher::Event::Apply(p));
        }
        assert_eq!(index.names_in("a"), ["x", "y"]);
        index.apply(&watcher::Event::Delete(pod("a", "x")));
        assert_eq!(index.names_in("a"), ["y"]);
        // a relist replaces everything once done; until then the old view stands
        index.apply(&watcher::Event::<Pod>::Init);
        index.apply(&watcher::Event::InitApply(pod("c", "w")));
        assert_eq!(index.names_in("b"), ["z"]);
        index.apply(&watcher::Event::<Pod>::InitDone);
        assert!(index.names_in("a").is_empty() && index.names_in("b").is_empty());
        assert_eq!(index.names_in("c"), ["w"]);
    }
}
