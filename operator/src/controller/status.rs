//! The status a ModelValidation should have, from its pods' states (a pure function).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use super::{CONDITION_READY, PodState};
use crate::crd::{ModelValidation, ModelValidationStatus};

fn ready_condition(mv: &ModelValidation) -> (String, String, String) {
    match mv.spec.check() {
        Ok(method) => (
            "True".to_owned(),
            "Valid".to_owned(),
            format!(
                "pods verify {} with method {} ({:?} mode){}",
                mv.spec.model.path,
                method.name(),
                mv.spec.mode,
                match mv.spec.continuous_interval() {
                    Some(d) => format!(
                        ", then keep checking it every {} (continuous validation)",
                        crate::sidecar::agent_interval(d)
                    ),
                    None => String::new(),
                }
            ),
        ),
        Err(e) => ("False".to_owned(), e.reason().to_owned(), e.to_string()),
    }
}

/// The status the ModelValidation should have, given its pods' states. The Ready condition
/// keeps its `lastTransitionTime` unless its status changes.
pub fn desired_status(
    mv: &ModelValidation,
    states: &[PodState],
    now: Timestamp,
) -> ModelValidationStatus {
    let generation = mv.metadata.generation;
    let (status, reason, message) = ready_condition(mv);
    let old = mv.status.as_ref();
    let previous = old.and_then(|s| s.conditions.iter().find(|c| c.type_ == CONDITION_READY));
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Time(now),
    };
    let mut conditions: Vec<Condition> = old
        .map(|s| {
            s.conditions
                .iter()
                .filter(|c| c.type_ != CONDITION_READY)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    conditions.insert(
        0,
        Condition {
            type_: CONDITION_READY.to_owned(),
            status,
            reason,
            message,
            observed_generation: generation,
            last_transition_time,
        },
    );
    let count = |f: fn(&PodState) -> bool| {
        i32::try_from(states.iter().filter(|s| f(s)).count()).unwrap_or(i32::MAX)
    };
    let injected = |s: &PodState| !matches!(s, PodState::Uninjected | PodState::Tampered { .. });
    ModelValidationStatus {
        observed_generation: generation,
        conditions,
        auth_method: mv.spec.check().ok().map(|m| m.auth_method().to_owned()),
        injected_pod_count: i32::try_from(states.iter().filter(|s| injected(s)).count())
            .unwrap_or(i32::MAX),
        verified_pod_count: count(|s| {
            matches!(
                s,
                PodState::Verified { .. }
                    | PodState::Restored { .. }
                    | PodState::VerifiedByDigest { .. }
            )
        }),
        drifted_pod_count: count(|s| matches!(s, PodState::Drifted { .. })),
        failed_pod_count: count(|s| matches!(s, PodState::Failed { .. })),
        uninjected_pod_count: count(|s| matches!(s, PodState::Uninjected)),
        tampered_pod_count: count(|s| matches!(s, PodState::Tampered { .. })),
        ..Default::default()
    }
}
