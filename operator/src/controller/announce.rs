//! The Events a pod's state calls for ([`announcement`]), before the once-per-run dedup.

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use mv_shared::INIT_CONTAINER_NAME;
use mv_shared::verify::TerminationReport;

use super::{
    PodState, REASON_DRIFT_DETECTED, REASON_DRIFT_RESOLVED, REASON_FAILED, REASON_NOT_INJECTED,
    REASON_TAMPERED, REASON_VERIFIED,
};
use crate::crd::{Mode, ModelValidation};

/// An Event to publish, on the pod and on the ModelValidation.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    /// Normal or Warning.
    pub warning: bool,
    /// One of the `REASON_*` constants.
    pub reason: &'static str,
    /// The message.
    pub note: String,
    /// For metrics: `verified` / `failed`, or `None` for the not-injected warning.
    pub outcome: Option<&'static str>,
    /// Dedup key within the pod.
    pub(super) key: String,
}

/// The Events a pod's state calls for (before dedup).
pub fn announcement(mv: &ModelValidation, pod: &Pod, state: &PodState) -> Option<Announcement> {
    let pod_name = pod.name_any();
    let mv_name = mv.name_any();
    let model = &mv.spec.model.path;
    match state {
        PodState::Pending
        | PodState::Unconfirmed { .. }
        | PodState::Foreign
        | PodState::Watching { .. } => None,
        PodState::Drifted {
            reason,
            files,
            file_count,
            warn_only,
            run,
            at,
        } => {
            let mut named = files.join(", ");
            if *file_count > files.len() {
                named.push_str(&format!(" and {} more", file_count - files.len()));
            }
            let what = if named.is_empty() {
                String::new()
            } else {
                format!(" ({named})")
            };
            let consequence = if *warn_only {
                "the pod stays Ready (Warn mode)"
            } else {
                "the pod is NotReady until the model is restored (Enforce mode)"
            };
            Some(Announcement {
                warning: true,
                reason: REASON_DRIFT_DETECTED,
                note: format!(
                    "model {model} of pod {pod_name} changed and no longer matches its signature{what}: {reason}; {consequence} (ModelValidation {mv_name})"
                ),
                outcome: None,
                key: format!("drift:{run}:{at}"),
            })
        }
        PodState::VerifiedByDigest {
            digests,
            by_pod,
            verified_at,
        } => Some(Announcement {
            warning: false,
            reason: REASON_VERIFIED,
            note: format!(
                "model {model} of pod {pod_name} verified against ModelValidation {mv_name} by image digest ({}): pod {by_pod} verified the same content{} under this spec; not hashed again",
                digests.join(", "),
                verified_at.map(|t| format!(" at {t}")).unwrap_or_default()
            ),
            outcome: Some("verified-by-digest"),
            key: "digest".to_owned(),
        }),
        PodState::Restored { run, at } => Some(Announcement {
            warning: false,
            reason: REASON_DRIFT_RESOLVED,
            note: format!(
                "model {model} of pod {pod_name} matches its signature again (ModelValidation {mv_name}); the drift is resolved"
            ),
            outcome: None,
            key: format!("resolved:{run}:{at}"),
        }),
        PodState::Tampered { reason } => Some(Announcement {
            warning: true,
            reason: REASON_TAMPERED,
            note: format!(
                "pod {pod_name} carries a {INIT_CONTAINER_NAME} container that is not the one the webhook injected for ModelValidation {mv_name}: {reason}; whatever it reports is not counted"
            ),
            outcome: None,
            key: "tampered".to_owned(),
        }),
        PodState::Uninjected => Some(Announcement {
            warning: true,
            reason: REASON_NOT_INJECTED,
            note: format!(
                "pod {pod_name} is labelled for ModelValidation {mv_name} but was admitted without the {INIT_CONTAINER_NAME} init container (webhook unavailable, or label added after creation): its model is not verified"
            ),
            outcome: None,
            key: "uninjected".to_owned(),
        }),
        PodState::Verified { report, run, .. } => {
            let detail = report.as_ref().map(report_detail).unwrap_or_default();
            Some(Announcement {
                warning: false,
                reason: REASON_VERIFIED,
                note: format!(
                    "model {model} of pod {pod_name} verified against ModelValidation {mv_name}{detail}"
                ),
                outcome: Some("verified"),
                key: run.clone(),
            })
        }
        PodState::Failed {
            reason,
            warn_only,
            run,
            ..
        } => {
            let consequence = if *warn_only || mv.spec.mode == Mode::Warn {
                "the pod was allowed to start (Warn mode)"
            } else {
                "the pod does not start (Enforce mode)"
            };
            Some(Announcement {
                warning: true,
                reason: REASON_FAILED,
                note: format!(
                    "model {model} of pod {pod_name} failed verification against ModelValidation {mv_name}: {reason}; {consequence}"
                ),
                outcome: Some("failed"),
                key: run.clone(),
            })
        }
    }
}

/// `: 3 files, 1024 bytes, 0.10s, digest …` from a verifier's report (empty when it says none).
fn report_detail(r: &TerminationReport) -> String {
    let mut parts = Vec::new();
    if let Some(f) = r.files {
        parts.push(format!("{f} files"));
    }
    if let Some(b) = r.bytes {
        parts.push(format!("{b} bytes"));
    }
    if let Some(s) = r.seconds {
        parts.push(format!("{s:.2}s"));
    }
    if let Some(d) = &r.root_digest {
        parts.push(format!("digest {d}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    }
}

/// Limits an Event note to the API's 1 kB, on a character boundary.
pub(super) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max.saturating_sub(3);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}
