//! The controller's loop: one watch of labelled pods feeding the slim pod cache and the
//! reconcile queue, plus the ModelValidation changes of the process's cache.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::{ReconcileReason, ReconcileRequest};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, applier, reflector, watcher};
use kube::{Api, Client};
use mv_shared::POD_LABEL;
use tokio_util::sync::CancellationToken;

use super::{Context, announce_since, error_policy, model_validations_for_pod, reconcile};
use crate::cache::{Caches, Change, ModelValidationLookup};
use crate::crd::ModelValidation;
use crate::inject::InjectConfig;
use crate::metrics::Metrics;
use crate::podcache::{CachedPod, PodCache, PodIndex, cached_event};

/// Which ModelValidations a pod watch event concerns: the pod's for an applied or deleted pod,
/// every cached one when a relist completes (anything may have changed meanwhile), none while a
/// relist is in progress (the store keeps the old state until it completes).
pub fn triggers_for(
    event: &watcher::Event<CachedPod>,
    model_validations: &Store<ModelValidation>,
) -> Vec<ObjectRef<ModelValidation>> {
    match event {
        watcher::Event::Apply(pod) | watcher::Event::Delete(pod) => {
            model_validations_for_pod(&pod.pod, model_validations)
        }
        watcher::Event::InitDone => every(model_validations).collect(),
        watcher::Event::Init | watcher::Event::InitApply(_) => Vec::new(),
    }
}

/// References to every cached ModelValidation (after a relist, anything may have changed).
fn every(store: &Store<ModelValidation>) -> impl Iterator<Item = ObjectRef<ModelValidation>> {
    store
        .state()
        .into_iter()
        .map(|m| ObjectRef::from_obj(m.as_ref()))
}

/// Pod events waiting for the controller; beyond this the pod watch waits (backpressure).
const POD_TRIGGER_BUFFER: usize = 1024;

/// Runs the controller until `stop` is cancelled.
///
/// One watch of labelled pods feeds both the slim pod cache (with its namespace index) and the
/// reconcile queue: each event updates the cache, then asks for a reconcile of the
/// ModelValidations it concerns ([`triggers_for`]). The ModelValidations and their changes come
/// from the process's one ModelValidation watch ([`Caches`]). Reconciles start once the pod cache holds the first complete list, so that no status
/// is computed from a partial one.
pub async fn run(
    client: Client,
    caches: Caches,
    metrics: Metrics,
    config: Arc<InjectConfig>,
    identity: String,
    stop: CancellationToken,
) {
    // subscribed before anything is read, so no change between the two is lost
    let mv_changes = futures::stream::once(async { Change::All }).chain(caches.changes());
    let mv_store = caches.model_validations();
    let pod_api: Api<Pod> = Api::all(client.clone());
    let pod_watch = watcher::Config::default().labels(POD_LABEL);
    let (store, writer) = reflector::store::<CachedPod>();
    let index = PodIndex::default();
    let pods = PodCache {
        store: store.clone(),
        index: index.clone(),
    };
    let (trigger_tx, trigger_rx) = futures::channel::mpsc::channel(POD_TRIGGER_BUFFER);
    let mapper_store = mv_store.clone();
    let reflector_task = tokio::spawn(
        reflector::reflector(
            writer,
            watcher(pod_api, pod_watch).map(|e| e.map(cached_event)),
        )
        .default_backoff()
        .for_each(move |e| {
            let mut tx = trigger_tx.clone();
            let refs = match e {
                Ok(event) => {
                    index.apply(&event);
                    triggers_for(&event, &mapper_store)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Pod watch failed; retrying");
                    Vec::new()
                }
            };
            async move {
                use futures::SinkExt as _;
                for obj_ref in refs {
                    let request = ReconcileRequest {
                        obj_ref,
                        reason: ReconcileReason::Custom {
                            reason: "pod changed".to_owned(),
                        },
                    };
                    // closed only when the controller has stopped
                    if tx.send(request).await.is_err() {
                        return;
                    }
                }
            }
        }),
    );
    tokio::select! {
        _ = stop.cancelled() => { reflector_task.abort(); return; }
        r = store.wait_until_ready() => if r.is_err() { reflector_task.abort(); return; }
    }
    tokio::select! {
        _ = stop.cancelled() => { reflector_task.abort(); return; }
        () = caches.wait_synced() => {}
    }
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "model-validation-operator".to_owned(),
            instance: Some(identity),
        },
    );
    let all = mv_store.clone();
    let mv_triggers = mv_changes.flat_map(move |change| {
        let requests: Vec<ReconcileRequest<ModelValidation>> = match change {
            Change::Object(obj_ref) => vec![ReconcileRequest {
                obj_ref,
                reason: ReconcileReason::ObjectUpdated,
            }],
            Change::All => every(&all)
                .map(|obj_ref| ReconcileRequest {
                    obj_ref,
                    reason: ReconcileReason::BulkReconcile,
                })
                .collect(),
        };
        futures::stream::iter(requests)
    });
    let lookup: Arc<dyn ModelValidationLookup + Send + Sync> = Arc::new(caches);
    let ctx = Arc::new(Context::new(
        client,
        mv_store.clone(),
        pods,
        lookup,
        recorder,
        metrics,
        config,
        announce_since(Timestamp::now()),
    ));
    tracing::info!("Controller started");
    let queue = futures::stream::select(mv_triggers, trigger_rx)
        .map(Ok::<_, std::convert::Infallible>)
        .take_until(stop.cancelled_owned());
    applier(
        |mv, ctx| Box::pin(reconcile(mv, ctx)),
        error_policy,
        ctx,
        mv_store,
        queue,
        kube::runtime::controller::Config::default().debounce(Duration::from_secs(1)),
    )
    .for_each(|r| async move {
        if let Err(e) = r {
            tracing::debug!(error = %e, "Reconcile request failed");
        }
    })
    .await;
    reflector_task.abort();
    tracing::info!("Controller stopped");
}
