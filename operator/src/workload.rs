//! Feedback at apply time: a Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob whose
//! pods the webhook would deny gets an admission warning (`kubectl apply` prints it). Never a
//! denial: this entry of the webhook configuration only warns (and fails open).
//!
//! The pod template runs through the same rules as a pod CREATE ([`admission::decide`]); what
//! would deny the pod becomes a warning naming the workload. Pure, like [`crate::admission`].

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::Value;

use crate::admission::{self, Candidate, Decision, Denial, Entry, Outcome, Verdict};
use crate::cache::ModelValidationLookup;
use crate::inject::InjectConfig;

/// Where a workload kind keeps its pod template (JSON pointer into the object).
fn template_pointer(group: &str, kind: &str) -> Option<&'static str> {
    match (group, kind) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") => {
            Some("/spec/template")
        }
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template"),
        _ => None,
    }
}

fn allowed(
    request: Option<&AdmissionRequest<DynamicObject>>,
    uid: &str,
    reason: &'static str,
) -> Decision {
    let mut response = match request {
        Some(r) => AdmissionResponse::from(r),
        None => AdmissionResponse::invalid(""),
    };
    response.allowed = true;
    response.result = Default::default();
    if response.uid.is_empty() {
        uid.clone_into(&mut response.uid);
    }
    Decision {
        response,
        outcome: Outcome::Skipped { reason },
        namespace: request.and_then(|r| r.namespace.clone()),
        pod: request.map(|r| r.name.clone()),
        cache_miss: None,
    }
}

/// The answer when reviewing `body` panicked (a bug): allowed, with a warning saying so.
pub fn after_panic(body: &[u8], message: &str) -> Decision {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let uid = value
        .pointer("/request/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut decision = allowed(None, uid, "internal error (a workload: allowed)");
    decision.response.warnings = Some(vec![format!(
        "internal error in the model-validation webhook while checking this workload's pod template: {message}"
    )]);
    decision
}

/// Decides on one AdmissionReview of a workload: always allowed, with warnings for what its
/// pods would meet. A body that cannot be read is allowed too (this entry never blocks).
pub fn review(body: &[u8], lookup: &dyn ModelValidationLookup, config: &InjectConfig) -> Decision {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let uid = value
        .pointer("/request/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let request: Option<AdmissionRequest<DynamicObject>> =
        serde_json::from_value::<AdmissionReview<DynamicObject>>(value)
            .ok()
            .and_then(|r| r.try_into().ok());
    let Some(request) = request else {
        return allowed(None, &uid, "not an AdmissionReview (allowed)");
    };
    let request = &request;
    if !matches!(request.operation, Operation::Create | Operation::Update)
        || request.sub_resource.is_some()
    {
        return allowed(Some(request), &uid, "not a create or update");
    }
    let Some(pointer) = template_pointer(&request.kind.group, &request.kind.kind) else {
        return allowed(Some(request), &uid, "not a workload");
    };
    let template = request
        .object
        .as_ref()
        .and_then(|o| serde_json::to_value(o).ok())
        .and_then(|o| o.pointer(pointer).cloned())
        .and_then(|t| serde_json::from_value::<PodTemplateSpec>(t).ok());
    let (Some(template), Some(namespace)) = (template, request.namespace.clone()) else {
        return allowed(Some(request), &uid, "no readable pod template");
    };
    let spec = template.spec.clone().unwrap_or_default();
    let candidate = Candidate {
        entry: Entry::Labelled,
        pod: Pod {
            metadata: template.metadata.unwrap_or_default(),
            spec: template.spec,
            status: None,
        },
        spec,
        namespace,
    };
    let what = format!(
        "{} {}/{}",
        request.kind.kind, candidate.namespace, request.name
    );
    let (warnings, cache_miss) = match admission::decide(&candidate, lookup, config) {
        // starting operator: no opinion yet
        Err(Denial::NotSynced) => (Vec::new(), None),
        Err(denial) => (
            vec![format!(
                "the pods of {what} would be denied by the model-validation webhook: {denial}"
            )],
            denial.cache_miss(),
        ),
        Ok(Verdict::Allow { warnings, .. } | Verdict::Patch { warnings, .. }) => (
            warnings
                .into_iter()
                .map(|w| format!("the pods of {what}: {w}"))
                .collect(),
            None,
        ),
    };
    let mut decision = allowed(Some(request), &uid, "workload");
    if !warnings.is_empty() {
        decision.response.warnings = Some(warnings);
    }
    decision.cache_miss = cache_miss;
    decision
}

#[cfg(test)]
mod tests;
