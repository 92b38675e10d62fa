//! The operator's in-memory view of the cluster: reflectors over `ModelValidation`s and over
//! namespace metadata, and the lookups read from them.
//!
//! Admission reads only from here ([`ModelValidationLookup`]; no API call on the hot path but
//! the [`LiveLookup`] on a cache miss). The controller reads the same `ModelValidation` store and
//! follows its changes ([`Caches::changes`]): one watch of ModelValidations per process.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use mv_shared::{NAMESPACE_ENFORCE_LABEL, NAMESPACE_IGNORE_LABEL};

use crate::crd::ModelValidation;

/// Read access to the `ModelValidation`s and namespaces the webhook needs.
pub trait ModelValidationLookup {
    /// Whether the caches are filled (a lookup on an empty cache would wrongly deny pods).
    fn ready(&self) -> bool {
        true
    }
    /// Whether the namespace carries `validation.ml.sigstore.dev/ignore: "true"`.
    fn namespace_ignored(&self, namespace: &str) -> bool;
    /// All `ModelValidation`s of the namespace.
    fn in_namespace(&self, namespace: &str) -> Vec<Arc<ModelValidation>>;
    /// Whether the namespace carries `validation.ml.sigstore.dev/enforce: "true"` (the webhook
    /// entry for required namespaces says so too; this covers pods sent by the other entry).
    fn namespace_required(&self, _namespace: &str) -> bool {
        false
    }
}

/// A live read of `ModelValidation`s from the API server, for when the cache has none that
/// matches (the only I/O of admission, done by the caller, see [`Decision::cache_miss`]).
pub trait LiveLookup: Send + Sync {
    /// The ModelValidation `name` of `namespace` (empty if absent), or with `None` all of them.
    fn model_validations<'a>(
        &'a self,
        namespace: &'a str,
        name: Option<&'a str>,
    ) -> futures::future::BoxFuture<'a, Result<Vec<Arc<ModelValidation>>, kube::Error>>;
}

/// A lookup with extra objects (read live) on top of another one; an extra object replaces the
/// base's of the same namespace and name.
pub struct Overlay<'a> {
    /// The cache.
    pub base: &'a dyn ModelValidationLookup,
    /// Objects read live.
    pub extra: Vec<Arc<ModelValidation>>,
}

impl std::fmt::Debug for Overlay<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("extra", &self.extra.len())
            .finish_non_exhaustive()
    }
}

impl ModelValidationLookup for Overlay<'_> {
    fn ready(&self) -> bool {
        self.base.ready()
    }
    fn namespace_ignored(&self, namespace: &str) -> bool {
        self.base.namespace_ignored(namespace)
    }
    fn namespace_required(&self, namespace: &str) -> bool {
        self.base.namespace_required(namespace)
    }
    fn in_namespace(&self, namespace: &str) -> Vec<Arc<ModelValidation>> {
        let mut out: Vec<Arc<ModelValidation>> = self
            .extra
            .iter()
            .filter(|m| m.namespace().as_deref() == Some(namespace))
            .cloned()
            .collect();
        for m in self.base.in_namespace(namespace) {
            if !out.iter().any(|o| o.name_any() == m.name_any()) {
                out.push(m);
            }
        }
        out
    }
}

/// A fixed set of objects, for tests and tools.
#[derive(Debug, Clone, Default)]
pub struct StaticLookup {
    /// The ModelValidations (their `metadata.namespace` places them).
    pub model_validations: Vec<Arc<ModelValidation>>,
    /// Namespaces labelled ignore.
    pub ignored_namespaces: Vec<String>,
    /// Namespaces labelled enforce.
    pub required_namespaces: Vec<String>,
}

impl ModelValidationLookup for StaticLookup {
    fn namespace_ignored(&self, namespace: &str) -> bool {
        self.ignored_namespaces.iter().any(|n| n == namespace)
    }
    fn namespace_required(&self, namespace: &str) -> bool {
        self.required_namespaces.iter().any(|n| n == namespace)
    }
    fn in_namespace(&self, namespace: &str) -> Vec<Arc<ModelValidation>> {
        self.model_validations
            .iter()
            .filter(|m| m.namespace().as_deref() == Some(namespace))
            .cloned()
            .collect()
    }
}

/// ModelValidation changes waiting for a slow subscriber; beyond this it is told to resync.
const CHANGE_BUFFER: usize = 1024;

/// A change the ModelValidation watch saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// This object was created, changed or deleted.
    Object(ObjectRef<ModelValidation>),
    /// A relist completed, or the subscriber missed changes: anything may have changed.
    All,
}

/// Reflector-backed [`ModelValidationLookup`]. A namespace the cache does not (yet) know is
/// not ignored.
#[derive(Clone)]
pub struct Caches {
    model_validations: Store<ModelValidation>,
    namespaces: Store<PartialObjectMeta<Namespace>>,
    synced: Arc<tokio::sync::watch::Sender<bool>>,
    changes: tokio::sync::broadcast::Sender<Change>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches")
            .field("model_validations", &self.model_validations.len())
            .field("namespaces", &self.namespaces.len())
            .finish()
    }
}

impl ModelValidationLookup for Caches {
    fn ready(&self) -> bool {
        *self.synced.borrow()
    }

    fn namespace_ignored(&self, namespace: &str) -> bool {
        self.namespace_label_true(namespace, NAMESPACE_IGNORE_LABEL)
    }

    fn namespace_required(&self, namespace: &str) -> bool {
        self.namespace_label_true(namespace, NAMESPACE_ENFORCE_LABEL)
    }

    fn in_namespace(&self, namespace: &str) -> Vec<Arc<ModelValidation>> {
        self.model_validations
            .state()
            .into_iter()
            .filter(|m| m.namespace().as_deref() == Some(namespace))
            .collect()
    }
}

impl Caches {
    fn namespace_label_true(&self, namespace: &str, label: &str) -> bool {
        self.namespaces
            .get(&ObjectRef::new(namespace))
            .is_some_and(|ns| ns.labels().get(label).map(String::as_str) == Some("true"))
    }

    /// Starts both reflectors on the runtime. The lookup is [`ready`](ModelValidationLookup::ready)
    /// once the ModelValidations are listed ([`Caches::wait_synced`]).
    /// RBAC: `list`, `watch` on `modelvalidations.ml.sigstore.dev` and on `namespaces`.
    pub fn start(client: Client) -> Self {
        let (mv_store, mv_writer) = reflector::store::<ModelValidation>();
        let (changes, _) = tokio::sync::broadcast::channel(CHANGE_BUFFER);
        let mv_api: Api<ModelValidation> = Api::all(client.clone());
        let sender = changes.clone();
        tokio::spawn(
            reflector::reflector(mv_writer, watcher(mv_api, watcher::Config::default()))
                .default_backoff()
                .for_each(move |event| {
                    let change = match event {
                        Ok(watcher::Event::Apply(m) | watcher::Event::Delete(m)) => {
                            Some(Change::Object(ObjectRef::from_obj(&m)))
                        }
                        Ok(watcher::Event::InitDone) => Some(Change::All),
                        Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
                        Err(e) => {
                            tracing::warn!(error = %e, "ModelValidation watch failed; retrying");
                            None
                        }
                    };
                    // no subscriber (not the leader): nothing to tell
                    if let Some(change) = change {
                        let _ = sender.send(change);
                    }
                    futures::future::ready(())
                }),
        );
        let (ns_store, ns_writer) = reflector::store::<PartialObjectMeta<Namespace>>();
        let ns_api: Api<PartialObjectMeta<Namespace>> = Api::all(client);
        tokio::spawn(
            reflector::reflector(ns_writer, watcher(ns_api, watcher::Config::default()))
                .default_backoff()
                .for_each(|event| async move {
                    if let Err(e) = event {
                        tracing::warn!(error = %e, "Namespace watch failed; retrying");
                    }
                }),
        );
        let caches = Self {
            model_validations: mv_store,
            namespaces: ns_store,
            synced: Arc::new(tokio::sync::watch::Sender::new(false)),
            changes,
        };
        // Ready once the ModelValidations are listed: the namespace opt-out is also enforced by
        // the webhook configuration's namespaceSelector, so a namespace cache that is still
        // filling (or forbidden by RBAC) must not stop admissions.
        let waiting = caches.clone();
        tokio::spawn(async move {
            if waiting.model_validations.wait_until_ready().await.is_ok() {
                tracing::info!(
                    model_validations = waiting.model_validations.len(),
                    "ModelValidation cache synced"
                );
                waiting.synced.send_replace(true);
            }
        });
        let namespaces = caches.namespaces.clone();
        tokio::spawn(async move {
            if namespaces.wait_until_ready().await.is_ok() {
                tracing::info!(namespaces = namespaces.len(), "Namespace cache synced");
            }
        });
        caches
    }

    /// Resolves once the ModelValidations are listed.
    pub async fn wait_synced(&self) {
        let mut synced = self.synced.subscribe();
        let _ = synced.wait_for(|s| *s).await;
    }

    /// The ModelValidation store (shared with the controller).
    pub fn model_validations(&self) -> Store<ModelValidation> {
        self.model_validations.clone()
    }

    /// The changes from now on; a subscriber that falls more than [`CHANGE_BUFFER`] behind
    /// gets [`Change::All`] instead of what it missed.
    pub fn changes(&self) -> impl Stream<Item = Change> + Send + 'static {
        let receiver = self.changes.subscribe();
        futures::stream::unfold(receiver, |mut rx| async move {
            use tokio::sync::broadcast::error::RecvError;
            match rx.recv().await {
                Ok(change) => Some((change, rx)),
                Err(RecvError::Lagged(_)) => Some((Change::All, rx)),
                Err(RecvError::Closed) => None,
            }
        })
    }
}

/// Reads ModelValidations from the API server (RBAC: `get`, `list` on `modelvalidations`).
impl LiveLookup for Client {
    fn model_validations<'a>(
        &'a self,
        namespace: &'a str,
        name: Option<&'a str>,
    ) -> futures::future::BoxFuture<'a, Result<Vec<Arc<ModelValidation>>, kube::Error>> {
        Box::pin(async move {
            let api: Api<ModelValidation> = Api::namespaced(self.clone(), namespace);
            Ok(match name {
                Some(name) => api.get_opt(name).await?.map(Arc::new).into_iter().collect(),
                None => api
                    .list(&Default::default())
                    .await?
                    .items
                    .into_iter()
                    .map(Arc::new)
                    .collect(),
            })
        })
    }
}
