//! One reconcile: the pods of the ModelValidation, their states, Events once per run, metrics,
//! and the status write when it changed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};

use super::{
    Announcement, Context, Error, GENERATIONS_KEPT, PodState, RESYNC, announce::truncate,
    announcement, assess, belongs, desired_status,
};
use crate::crd::status::orphaned;
use crate::crd::{ModelValidation, VerifiedImages};
use crate::metrics::ReasonLabel;
use crate::podcache::CachedPod;
use mv_shared::annotations;

/// Reconciles one ModelValidation: Events for new pod results, then status when it changed.
/// A panic fails this reconcile only ([`Error::Panicked`], retried), not the controller.
pub async fn reconcile(mv: Arc<ModelValidation>, ctx: Arc<Context>) -> Result<Action, Error> {
    use futures::FutureExt as _;
    let namespace = mv.namespace().unwrap_or_default();
    let name = mv.name_any();
    let started = std::time::Instant::now();
    let metrics = ctx.metrics.clone();
    let result = std::panic::AssertUnwindSafe(reconcile_inner(mv, ctx))
        .catch_unwind()
        .await;
    metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-text panic payload".to_owned());
        Err(Error::Panicked {
            namespace,
            name,
            message,
        })
    })
}

/// The pods of one ModelValidation and what a reconcile learned about them.
type Entries = Vec<(Arc<CachedPod>, PodState)>;

async fn reconcile_inner(mv: Arc<ModelValidation>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.reconciles.inc();
    let name = mv.name_any();
    let Some(ns) = mv.namespace() else {
        return Err(Error::NoNamespace { name });
    };
    if mv.meta().deletion_timestamp.is_some() {
        // Being deleted (another party's finalizer): nothing to report any more.
        return Ok(Action::await_change());
    }
    // Only this namespace's pods (sorted by name), through the index.
    let ns_pods = ctx.pods.in_namespace(&ns);
    let live: HashSet<String> = ns_pods.iter().filter_map(|p| p.uid()).collect();
    let mvs_in_ns = ctx
        .model_validations
        .state()
        .iter()
        .filter(|m| m.namespace().as_deref() == Some(ns.as_str()))
        .count()
        .max(1);
    let pods: Vec<Arc<CachedPod>> = ns_pods
        .into_iter()
        .filter(|p| belongs(&p.pod, &name, mvs_in_ns))
        .collect();
    crate::finalizer::release(&ctx.client, pods.iter().map(CachedPod::pod_of)).await;
    let known_mvs: HashSet<String> = ctx
        .model_validations
        .state()
        .iter()
        .filter_map(|m| m.uid())
        .chain([mv.uid().unwrap_or_default()])
        .collect();
    let entries = assess_all(&mv, pods, &ctx, &known_mvs);
    ctx.logs.retain(&ns, &live);
    let (entries, requeue) = read_sidecars(&mv, entries, &ctx).await;
    let to_publish = select_announcements(&mv, &entries, &ctx, &known_mvs, &live);
    publish(&mv, to_publish, &ctx).await;
    write_status(&mv, &entries, &ctx).await?;
    Ok(Action::requeue(requeue))
}

/// Each pod's state; an uninjected pod of an ignored namespace is expected, not a problem.
/// Remembers this generation of `mv`, so pods admitted under it can be checked later.
fn assess_all(
    mv: &Arc<ModelValidation>,
    pods: Vec<Arc<CachedPod>>,
    ctx: &Context,
    known_mvs: &HashSet<String>,
) -> Entries {
    let ns = mv.namespace().unwrap_or_default();
    let earlier = {
        let mut history = ctx
            .history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        history.retain(|uid, _| known_mvs.contains(uid));
        let seen = history.entry(mv.uid().unwrap_or_default()).or_default();
        seen.insert(mv.metadata.generation.unwrap_or_default(), mv.clone());
        while seen.len() > GENERATIONS_KEPT {
            seen.pop_first();
        }
        seen.clone()
    };
    let earlier = |g: i64| earlier.get(&g).cloned();
    let ignored = ctx.lookup.namespace_ignored(&ns);
    pods.into_iter()
        .map(|p| {
            let state = assess(&p, mv, &earlier, &ctx.config);
            (p, state)
        })
        .filter(|(_, s)| !(ignored && *s == PodState::Uninjected))
        .collect()
}

/// Continuous validation: what each sidecar reports, from its log when its flags changed.
/// Returns the states and when to reconcile again.
async fn read_sidecars(
    mv: &ModelValidation,
    entries: Entries,
    ctx: &Context,
) -> (Entries, Duration) {
    let ns = mv.namespace().unwrap_or_default();
    let warn_poll = mv.spec.continuous_interval().unwrap_or(RESYNC).min(RESYNC);
    let mut requeue = RESYNC;
    let mut resolved = Vec::with_capacity(entries.len());
    for (pod, state) in entries {
        if !matches!(state, PodState::Watching { .. }) {
            resolved.push((pod, state));
            continue;
        }
        let uid = pod.uid().unwrap_or_default();
        let max_age = crate::drift::refresh_after(&state, warn_poll);
        if let Some(age) = max_age {
            requeue = requeue.min(age);
        }
        let line = match ctx.logs.fresh(&ns, &uid, &state, max_age) {
            Some(line) => line,
            None => {
                let line = crate::drift::read_state_line(&ctx.client, &ns, &pod.name_any()).await;
                if let Err(e) = &line {
                    tracing::warn!(error = %e, ns = %ns, pod = %pod.name_any(), "Cannot read the continuous-validation sidecar's state");
                    requeue = requeue.min(crate::drift::STARTING_POLL);
                }
                ctx.logs.put(&ns, &uid, &state, line.clone());
                line
            }
        };
        let line = line.as_ref().map(Option::as_ref).map_err(String::as_str);
        resolved.push((pod, crate::drift::watched_state(state, line)));
    }
    (resolved, requeue)
}

/// The Events to publish: once per pod run, not for runs that ended before this leader
/// started (the previous one announced and counted them); counts them in the metrics.
fn select_announcements(
    mv: &ModelValidation,
    entries: &Entries,
    ctx: &Context,
    known_mvs: &HashSet<String>,
    live: &HashSet<String>,
) -> Vec<(Arc<CachedPod>, Announcement)> {
    let mut reported = ctx
        .reported
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    reported.retain(|uid, _| known_mvs.contains(uid));
    let reported = reported.entry(mv.uid().unwrap_or_default()).or_default();
    reported.retain(|uid, _| live.contains(uid));
    let mut out = Vec::new();
    for (pod, state) in entries {
        let Some(a) = announcement(mv, &pod.pod, state) else {
            continue;
        };
        let seen = reported.entry(pod.uid().unwrap_or_default()).or_default();
        if !seen.insert(a.key.clone()) {
            continue;
        }
        let finished = match state {
            PodState::Verified { finished, .. } | PodState::Failed { finished, .. } => *finished,
            PodState::Drifted { at, .. } | PodState::Restored { at, .. } => {
                Timestamp::from_second(*at).ok()
            }
            _ => None,
        };
        if finished.is_some_and(|f| f < ctx.since) {
            continue;
        }
        count(mv, pod, state, &a, ctx);
        out.push((pod.clone(), a));
    }
    out
}

/// The metrics (and the warning log line) of one announced result.
fn count(mv: &ModelValidation, pod: &CachedPod, state: &PodState, a: &Announcement, ctx: &Context) {
    if let Some(method) = mv.spec.check().ok().map(|m| m.name())
        && let Some(outcome) = a.outcome
    {
        ctx.metrics.observe_verification(method, outcome);
    }
    match state {
        PodState::Drifted { .. } => ctx.metrics.observe_drift("detected"),
        PodState::Restored { .. } => ctx.metrics.observe_drift("resolved"),
        PodState::Tampered { reason } => {
            ctx.metrics.tampered_pods.inc();
            tracing::warn!(ns = %mv.namespace().unwrap_or_default(), pod = %pod.name_any(), model_validation = %mv.name_any(), reason = %reason, "Tampered verifier container");
        }
        _ => {}
    }
}

/// Publishes each Event on the pod and on the ModelValidation.
async fn publish(
    mv: &ModelValidation,
    to_publish: Vec<(Arc<CachedPod>, Announcement)>,
    ctx: &Context,
) {
    for (pod, a) in to_publish {
        let event = Event {
            type_: if a.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: a.reason.to_owned(),
            note: Some(truncate(a.note.clone(), 1024)),
            action: "Verify".to_owned(),
            secondary: None,
        };
        for reference in [pod.object_ref(&()), mv.object_ref(&())] {
            if let Err(e) = ctx.recorder.publish(&event, &reference).await {
                tracing::warn!(error = %e, ns = %mv.namespace().unwrap_or_default(), name = %mv.name_any(), reason = a.reason, "Cannot publish Event");
            }
        }
    }
}

/// Records of the layouts that genuine verifiers of the current generation verified, for pods
/// whose verifier inputs are all images pinned by digest ([`crate::digest`]).
fn verified_layouts(mv: &ModelValidation, entries: &Entries) -> Vec<VerifiedImages> {
    let current = mv.metadata.generation.unwrap_or_default();
    entries
        .iter()
        .filter_map(|(p, s)| {
            let PodState::Verified { finished, .. } = s else {
                return None;
            };
            let generation = p.annotations().get(annotations::GENERATION)?;
            if generation.parse::<i64>().ok()? != current {
                return None;
            }
            let layout = crate::digest::image_layout(mv, p.pod.spec.as_ref()?)?;
            Some(crate::digest::new_record(
                layout,
                current,
                p.name_any(),
                finished.map(Time),
            ))
        })
        .collect()
}

/// The status from the pods' states, the gauges, and the status write when it changed.
async fn write_status(mv: &ModelValidation, entries: &Entries, ctx: &Context) -> Result<(), Error> {
    let (ns, name) = (mv.namespace().unwrap_or_default(), mv.name_any());
    let states: Vec<PodState> = entries.iter().map(|(_, s)| s.clone()).collect();
    let mut status = desired_status(mv, &states, Timestamp::now());
    // Orphaned: injected (by this operator or the upstream one, not forged) for another spec.
    status.orphaned_pod_count = i32::try_from(
        entries
            .iter()
            .filter(|(p, s)| {
                !matches!(s, PodState::Uninjected | PodState::Tampered { .. })
                    && orphaned(mv, &p.pod)
            })
            .count(),
    )
    .unwrap_or(i32::MAX);
    status.verified_images = crate::digest::merged_records(mv, verified_layouts(mv, entries));
    let status = status.stamped(mv.status.as_ref(), Time(Timestamp::now()));
    let live: Vec<(String, String)> = ctx
        .model_validations
        .state()
        .iter()
        .filter_map(|m| Some((m.namespace()?, m.name_any())))
        .collect();
    let counts = [
        status.injected_pod_count,
        status.uninjected_pod_count,
        status.orphaned_pod_count,
    ]
    .map(i64::from);
    ctx.metrics
        .observe_model_validations(&live, Some((&ns, &name, counts)));
    if mv.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let api: Api<ModelValidation> = Api::namespaced(ctx.client.clone(), &ns);
    let written = api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(status.merge_patch()),
        )
        .await;
    ctx.metrics
        .observe_status_update(&ns, &name, written.is_ok());
    written.map_err(|source| Error::WriteStatus {
        namespace: ns.clone(),
        name: name.clone(),
        source,
    })?;
    tracing::info!(
        ns = %ns,
        name = %name,
        injected = status.injected_pod_count,
        verified = status.verified_pod_count,
        failed = status.failed_pod_count,
        uninjected = status.uninjected_pod_count,
        orphaned = status.orphaned_pod_count,
        tampered = status.tampered_pod_count,
        drifted = status.drifted_pod_count,
        "Status updated"
    );
    Ok(())
}

/// Counts the failure and retries later.
pub fn error_policy(mv: Arc<ModelValidation>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ReasonLabel {
            reason: error.reason().to_owned(),
        })
        .inc();
    tracing::warn!(
        error = %error,
        ns = mv.namespace().unwrap_or_default(),
        name = %mv.name_any(),
        "Reconcile failed"
    );
    Action::requeue(Duration::from_secs(15))
}
