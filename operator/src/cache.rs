//! The webhook's in-memory view of the cluster: reflectors over `ModelValidation`s and over
//! namespace metadata. Admission reads only from here; no API call on the hot path.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use mv_shared::NAMESPACE_IGNORE_LABEL;

use crate::admission::{LiveLookup, ModelValidationLookup};
use crate::crd::ModelValidation;
use crate::webhook::Readiness;

/// Reflector-backed [`ModelValidationLookup`]. A namespace the cache does not (yet) know is
/// not ignored.
#[derive(Clone)]
pub struct Caches {
    model_validations: Store<ModelValidation>,
    namespaces: Store<PartialObjectMeta<Namespace>>,
    readiness: Readiness,
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
        self.readiness.caches_synced()
    }

    fn namespace_ignored(&self, namespace: &str) -> bool {
        self.namespaces
            .get(&ObjectRef::new(namespace))
            .is_some_and(|ns| {
                ns.labels().get(NAMESPACE_IGNORE_LABEL).map(String::as_str) == Some("true")
            })
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
    /// Starts both reflectors on the runtime; `readiness` turns synced once both listed.
    /// RBAC: `list`, `watch` on `modelvalidations.ml.sigstore.dev` and on `namespaces`.
    pub fn start(client: Client, readiness: Readiness) -> Self {
        let (mv_store, mv_writer) = reflector::store::<ModelValidation>();
        let mv_api: Api<ModelValidation> = Api::all(client.clone());
        tokio::spawn(
            reflector::reflector(mv_writer, watcher(mv_api, watcher::Config::default()))
                .default_backoff()
                .for_each(|event| async move {
                    if let Err(e) = event {
                        tracing::warn!(error = %e, "ModelValidation watch failed; retrying");
                    }
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
            readiness,
        };
        // Readiness waits for the ModelValidations only: the namespace opt-out is also enforced
        // by the webhook configuration's namespaceSelector, so a namespace cache that is still
        // filling (or forbidden by RBAC) must not stop admissions.
        let waiting = caches.clone();
        tokio::spawn(async move {
            if waiting.model_validations.wait_until_ready().await.is_ok() {
                tracing::info!(
                    model_validations = waiting.model_validations.len(),
                    "ModelValidation cache synced"
                );
                waiting.readiness.set_caches_synced();
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
