//! Which `ModelValidation` covers a pod: the pod label, `spec.podSelector`, and required
//! namespaces. Pure: the caller passes the namespace's ModelValidations and whether the namespace
//! is required; the webhook and the apply-time warnings ask the same question.
//!
//! Precedence (README "Policy"):
//! 1. A pod with the label `validation.ml.sigstore.dev/ml` is verified under the ModelValidation
//!    it names (`"true"`: the only one of the namespace). A ModelValidation whose podSelector
//!    also selects the pod must be that one, else the pod is refused: a pod is verified under
//!    one policy, and its author does not get to pick a different one than the selector's.
//! 2. A pod without the label is verified under the ModelValidation whose `spec.podSelector`
//!    selects it (an empty selector selects every pod); several selecting it is refused.
//! 3. A pod nothing covers is admitted untouched, except in a required namespace
//!    (`validation.ml.sigstore.dev/enforce: "true"`), where it is refused.
//!
//! A podSelector that is not a valid label selector selects every pod, so the spec error
//! (`Ready=False`) stops those pods rather than letting them through unverified.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::ResourceExt;
use kube::core::{Selector, SelectorExt};
use mv_shared::{NAMESPACE_ENFORCE_LABEL, POD_LABEL, POD_LABEL_ANY};

use crate::crd::ModelValidation;

/// Why no single ModelValidation can be chosen for a pod; the message is what `kubectl` shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unselectable {
    /// The label is present but empty.
    #[error(
        "label {POD_LABEL} is empty: set it to \"{POD_LABEL_ANY}\" (the only ModelValidation of namespace {namespace}) or to the name of a ModelValidation"
    )]
    EmptyLabel {
        /// The pod's namespace.
        namespace: String,
    },
    /// Label `"true"` in a namespace without ModelValidation.
    #[error(
        "pod has label {POD_LABEL}=\"{POD_LABEL_ANY}\" but namespace {namespace} has no ModelValidation: create one, or remove the label"
    )]
    NoModelValidation {
        /// The pod's namespace.
        namespace: String,
    },
    /// Label `"true"` in a namespace with several ModelValidations.
    #[error(
        "pod has label {POD_LABEL}=\"{POD_LABEL_ANY}\" but namespace {namespace} has {} ModelValidations ({}): set the label to the name of the one to use",
        names.len(), names.join(", ")
    )]
    SeveralModelValidations {
        /// The pod's namespace.
        namespace: String,
        /// Their names, sorted.
        names: Vec<String>,
    },
    /// The label names a ModelValidation the namespace does not have.
    #[error(
        "ModelValidation {name:?} named by label {POD_LABEL} was not found in namespace {namespace}"
    )]
    NotFound {
        /// The pod's namespace.
        namespace: String,
        /// The name in the label.
        name: String,
    },
    /// The label names one ModelValidation, a podSelector of another selects the pod.
    #[error(
        "pod has label {POD_LABEL}={label:?} but ModelValidation {namespace}/{selector} selects it by spec.podSelector: a pod is verified under one ModelValidation; set the label to {selector:?} or remove it"
    )]
    LabelAgainstSelector {
        /// The pod's namespace.
        namespace: String,
        /// The label's value.
        label: String,
        /// The ModelValidation whose podSelector selects the pod.
        selector: String,
    },
    /// Several podSelectors select an unlabelled pod.
    #[error(
        "{} ModelValidations of namespace {namespace} select this pod by spec.podSelector ({}): a pod is verified under one ModelValidation; narrow the selectors, or label the pod {POD_LABEL}=<name>",
        names.len(), names.join(", ")
    )]
    SeveralSelectors {
        /// The pod's namespace.
        namespace: String,
        /// Their names, sorted.
        names: Vec<String>,
    },
    /// A required namespace and nothing covers the pod.
    #[error(
        "namespace {namespace} requires model verification (label {NAMESPACE_ENFORCE_LABEL}=\"true\") but no ModelValidation covers this pod: label it {POD_LABEL}=<name of a ModelValidation> or create a ModelValidation whose spec.podSelector selects it{}",
        if names.is_empty() { " (the namespace has none)".to_owned() } else { format!(" (the namespace has: {})", names.join(", ")) }
    )]
    Required {
        /// The pod's namespace.
        namespace: String,
        /// The namespace's ModelValidations, sorted (none of them selects the pod).
        names: Vec<String>,
    },
}

/// How a pod came to be covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The pod label.
    Label,
    /// A ModelValidation's `spec.podSelector`.
    PodSelector,
}

/// The ModelValidation that covers a pod.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The ModelValidation.
    pub model_validation: Arc<ModelValidation>,
    /// How it was chosen.
    pub via: Via,
}

/// Whether `mv`'s podSelector selects a pod with these labels (no podSelector: no). An invalid
/// selector selects every pod (see the module doc).
pub fn selects(mv: &ModelValidation, pod_labels: &BTreeMap<String, String>) -> bool {
    let Some(selector) = &mv.spec.pod_selector else {
        return false;
    };
    if mv.spec.check_pod_selector().is_err() {
        return true;
    }
    Selector::try_from(selector.clone()).map_or(true, |s| s.matches(pod_labels))
}

fn sorted_names(mvs: &[Arc<ModelValidation>]) -> Vec<String> {
    let mut names: Vec<String> = mvs.iter().map(|m| m.name_any()).collect();
    names.sort();
    names
}

/// The ModelValidation covering a pod with these labels in `namespace`, whose
/// ModelValidations are `candidates`; `Ok(None)`: nothing covers it and that is allowed.
pub fn select(
    pod_labels: &BTreeMap<String, String>,
    namespace: &str,
    candidates: &[Arc<ModelValidation>],
    required: bool,
) -> Result<Option<Selected>, Unselectable> {
    let selecting: Vec<Arc<ModelValidation>> = candidates
        .iter()
        .filter(|m| selects(m, pod_labels))
        .cloned()
        .collect();
    let ns = || namespace.to_owned();
    if let Some(label) = pod_labels.get(POD_LABEL) {
        let chosen = by_label(label, namespace, candidates)?;
        if let Some(other) = selecting.iter().find(|m| m.name_any() != chosen.name_any()) {
            return Err(Unselectable::LabelAgainstSelector {
                namespace: ns(),
                label: label.clone(),
                selector: other.name_any(),
            });
        }
        return Ok(Some(Selected {
            model_validation: chosen,
            via: Via::Label,
        }));
    }
    match selecting.as_slice() {
        [one] => Ok(Some(Selected {
            model_validation: one.clone(),
            via: Via::PodSelector,
        })),
        [] if required => Err(Unselectable::Required {
            namespace: ns(),
            names: sorted_names(candidates),
        }),
        [] => Ok(None),
        several => Err(Unselectable::SeveralSelectors {
            namespace: ns(),
            names: sorted_names(several),
        }),
    }
}

/// The ModelValidation the label names (`"true"`: the only one of the namespace).
fn by_label(
    label: &str,
    namespace: &str,
    candidates: &[Arc<ModelValidation>],
) -> Result<Arc<ModelValidation>, Unselectable> {
    if label.is_empty() {
        return Err(Unselectable::EmptyLabel {
            namespace: namespace.to_owned(),
        });
    }
    if label != POD_LABEL_ANY {
        return candidates
            .iter()
            .find(|m| m.name_any() == label)
            .cloned()
            .ok_or_else(|| Unselectable::NotFound {
                namespace: namespace.to_owned(),
                name: label.to_owned(),
            });
    }
    match candidates {
        [one] => Ok(one.clone()),
        [] => Err(Unselectable::NoModelValidation {
            namespace: namespace.to_owned(),
        }),
        several => Err(Unselectable::SeveralModelValidations {
            namespace: namespace.to_owned(),
            names: sorted_names(several),
        }),
    }
}

/// Namespaces that are never required, whatever their labels say: the cluster's own and the
/// operator's (a broken policy there must not stop the operator or the control plane).
pub const NEVER_REQUIRED: [&str; 2] = ["kube-system", "kube-node-lease"];

/// Whether a namespace requires every pod to be covered: `enforced` (labelled
/// `validation.ml.sigstore.dev/enforce: "true"`, as the webhook entry or the cache says), and
/// neither a cluster namespace nor `operator_namespace`.
pub fn required(namespace: &str, enforced: bool, operator_namespace: Option<&str>) -> bool {
    enforced && !NEVER_REQUIRED.contains(&namespace) && operator_namespace != Some(namespace)
}

#[cfg(test)]
mod tests;
